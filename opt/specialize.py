"""Closure elimination: specialising a graph on the functions passed to it.

Expects: a program that `verify` accepts. Guarantees: the same results, with

- every use of a parameter of a call group (`callsites`) that surely holds
  one known function replaced by a constant of that function. A parameter
  surely holds `k` when every call site of the group passes either the
  constant ``@k`` (a graph or a primitive) or a parameter of a call group
  that surely holds `k` (a loop or a recursion passing it on), and a closure
  of `k` can be made in every member of the group. A closure made there is
  the very closure the sites pass: a member is only ever called, so it is
  made where its call site is, and both closures capture the frame of k's
  parent that the site's graph sees. The indirect call ``f(x)`` becomes
  ``@k(x)``, which `inline` may then inline, and the parameter, unused now,
  is left to `params` to drop;
- otherwise, where the call sites of a one-graph group `h` pass different
  function constants for a parameter: for each such constant `k` (at most
  `MAX_CLONES` a round), a copy of h's recursive cycle (every graph that can
  reach h and that h can reach, with the graphs nested in them), whose
  members call each other, and every call site outside that passes ``@k``
  calls the copy instead. The copy is then only called with `k`, and its
  parameter is replaced as above. Each (graph, parameter, k) is
  copied once per program (`root.flags["specialized"]` remembers, by the
  graphs the copies come from), so the pipeline's fixed point ends. A cycle
  of more than `MAX_SIZE` `Apply` nodes is never copied, nor a small graph
  outside any cycle (`inline` copies that one into each caller anyway).

A run that replaces parameters copies nothing (its analysis is stale); one
that copies replaces the copies' parameters at once (a closure's frame is
visible to a copy nested where the original was, until `lift` runs).
Returns whether it changed anything.
"""

from __future__ import annotations

from functools import partial

import networkx as nx

from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, Parameter
from tapeless.ir.primitives import Primitive
from tapeless.opt.callsites import CallGroup, call_groups, redirect
from tapeless.opt.dce import dce
from tapeless.opt.inline import SMALL
from tapeless.opt.program import copy_graphs

#: At most this many copies of one graph per round.
MAX_CLONES = 4
#: Recursive cycles with more `Apply` nodes than this (all their graphs together) are not copied.
MAX_SIZE = 300

Function = Graph | Primitive
#: The value of a parameter: one known function, or `_ANY` (anything else).
_ANY = object()
Slot = tuple[int, int]  # (index of the call group, index of the parameter)


def specialize(root: Graph) -> bool:
    """Replace parameters that surely hold one function by it; copy graphs called with several."""
    a, groups, values = _analyze(root)
    if _substitute_known(groups, values):
        return True
    if not _copy_for_constants(root, a, groups, values):
        return False
    # at once, before `lift` makes the copies top-level graphs that cannot see a closure's frame
    _substitute_known(*_analyze(root)[1:])
    return True


def _analyze(root: Graph) -> tuple[Analysis, list[CallGroup], dict[Slot, object]]:
    dce(root)  # exact use-lists: call groups and their sites are the live ones
    a = analyze(root)
    groups = call_groups(a)
    return a, groups, _parameter_values(a, groups)


def _substitute_known(groups: list[CallGroup], values: dict[Slot, object]) -> bool:
    """Replace every parameter whose function is known; say if any was used."""
    changed = False
    for (gi, i), value in values.items():
        if value is not _ANY:
            for h in groups[gi].members:
                changed = substitute(h.parameters[i], value) or changed
    return changed


def _parameter_values(a: Analysis, groups: list[CallGroup]) -> dict[Slot, object]:
    """The function each parameter of each group surely holds (`_ANY` if none);
    parameters only ever passed on from each other (no entry) are left out."""
    slot_of: dict[Parameter, Slot] = {}
    for gi, group in enumerate(groups):
        for h in group.members:
            for i, p in enumerate(h.parameters):
                slot_of[p] = (gi, i)
    values: dict[Slot, object] = {}
    changed = True
    while changed:
        changed = False
        for gi, group in enumerate(groups):
            for site in group.sites:
                for i, arg in enumerate(site.args):
                    value = _argument_value(a, arg, group, slot_of, values)
                    old = values.get((gi, i))
                    if value is None or old is _ANY or old is value:
                        continue
                    values[(gi, i)] = value if old is None else _ANY
                    changed = True
    return values


def _argument_value(
    a: Analysis, arg: Node, group: CallGroup, slot_of: dict[Parameter, Slot], values: dict[Slot, object]
) -> object | None:
    """What `arg` passes to a member of `group`: a known function, `_ANY`, or None
    (a parameter whose value is not known yet)."""
    if isinstance(arg, Parameter) and arg in slot_of:
        value = values.get(slot_of[arg])
    elif isinstance(arg, Constant) and isinstance(arg.value, Function):
        value = arg.value
    else:
        return _ANY
    if isinstance(value, Graph) and not all(a.can_make(value, h) for h in group.members):
        return _ANY  # a closure whose frame the members cannot see
    return value


def substitute(p: Parameter, value: object) -> bool:
    """Make every user of `p` read a constant of `value` (each its own); say if any did."""
    users = list(p.uses)
    for user, index in users:
        if isinstance(user, Graph):
            user.output = Constant(value, p.loc)
        else:
            user.set_input(index, Constant(value, p.loc))
    return bool(users)


Key = tuple[Function, int, Function]  # (graph copied from, parameter, function passed)


def _copy_for_constants(root: Graph, a: Analysis, groups: list[CallGroup], values: dict[Slot, object]) -> bool:
    """Copy the one-graph groups whose parameters get several functions (see the module docstring)."""
    done: frozenset[Key] = root.flags.get("specialized", frozenset())
    keys: list[Key] = []
    copied: set[Graph] = set()  # graphs of the cycles copied this round: the analysis is stale there
    for gi, group in enumerate(groups):
        if len(group.members) != 1 or group.members[0] in copied:
            continue
        (h,) = group.members
        varying = [i for i in range(len(h.parameters)) if values.get((gi, i)) is _ANY]
        cycle = _cycle(a, h) if varying else []
        size = sum(_size(a, g) for g in cycle)
        if not cycle or root in cycle or size > MAX_SIZE or (not a.recursive(h) and size <= SMALL):
            continue  # (a small graph that calls no cycle is `inline`'s)
        for i in varying:
            for k, sites in list(_sites_by_constant(a, group, i, cycle).items())[:MAX_CLONES]:
                key = (_origin(h), i, _origin(k))
                if key in done or key in keys:
                    continue
                copies = copy_graphs(cycle, partial(_specialized_name, k=k))
                for g, c in copies.items():
                    c.flags["origin"] = _origin(g)
                for site in sites:
                    redirect(site, copies)
                keys.append(key)
                copied.update(cycle)
            if keys and h in copied:
                break  # one parameter a round: the copies' other parameters wait
    if keys:
        root.flags["specialized"] = done | frozenset(keys)  # a new set: flags are shared by copies
    return bool(keys)


def _cycle(a: Analysis, h: Graph) -> list[Graph]:
    """h's recursive cycle (h alone if it is not recursive), with the graphs nested in it."""
    members = [h]
    if a.recursive(h):
        reach = nx.descendants(a.call_graph, h) & nx.ancestors(a.call_graph, h)
        members += [g for g in a.graphs if g in reach]
    out: dict[Graph, None] = {}
    for g in members:
        out.update(dict.fromkeys(a.scope(g)))
    return list(out)


def _size(a: Analysis, g: Graph) -> int:
    """The number of `Apply` nodes `g` computes (as `inline` counts them)."""
    return sum(1 for n in a.body(g) if isinstance(n, Apply) and n.graph is g)


def _sites_by_constant(a: Analysis, group: CallGroup, i: int, cycle: list[Graph]) -> dict[Function, list[Apply]]:
    """The call sites outside `cycle` that pass a function constant as argument `i`, by constant."""
    inside = set(cycle)
    (h,) = group.members
    out: dict[Function, list[Apply]] = {}
    for site in group.sites:
        arg = site.args[i]
        if site.graph in inside or not isinstance(arg, Constant) or not isinstance(arg.value, Function):
            continue
        k = arg.value
        if isinstance(k, Graph) and not a.can_make(k, h):
            continue
        out.setdefault(k, []).append(site)
    return out


def _origin(f: Function) -> Function:
    """The graph `f` was copied from by this pass (itself if none): keys of `done`."""
    if isinstance(f, Graph):
        origin = f.flags.get("origin")
        if isinstance(origin, Graph):
            return origin
    return f


def _specialized_name(name: str, k: Function) -> str:
    """``apply_n:loop_body`` specialized on ``sq``: ``apply_n_sq:loop_body``."""
    head, colon, tail = name.partition(":")
    return f"{head}_{k.name}{colon}{tail}"


__all__ = ["MAX_CLONES", "MAX_SIZE", "specialize", "substitute"]
