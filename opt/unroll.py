"""Full unrolling of loops (and recursions) whose trip count is a compile-time constant.

Expects: a program that `verify` accepts. A loop is a recursive cycle of
graphs (a strongly connected part of the call graph: header, body, the
branches of an `if` in the body) whose every reference is a call
(`callsites`). Guarantees: the same results, with each call from outside a
cycle, ``@h(args)`` with some int or bool constants among `args`, replaced
by a call of a chain of copies that calls no member of the cycle, when that
chain is finite and small:

- a *state* is a member with int/bool constants for some of its parameters
  (those its caller passes as constants or as values computed from
  constants). Evaluating a state's body on those constants (as `fold`
  would: primitives of known arguments, ``switch`` of a known condition)
  must make every call of a member a known member with known arguments, a
  new state; a call whose callee may be a member but is not known (the loop
  condition does not fold) stops the unrolling;
- the states reachable from the call must be at most `MAX_COPIES` per
  member and none may reach itself (a loop that never ends stays a loop);
- each state becomes a copy of its member (with its nested graphs) whose
  constant parameters are replaced by their constants, and whose calls of
  members call the copies of their states: the copies form no cycle, so
  `fold` decides their switches and `inline` makes the loop straight-line
  code. The original cycle stays for other callers (`dce` drops it if none).

All or nothing per call: there is no partial peeling. A node that raises
while being evaluated is an unknown value, so it still raises at run time in
its copy. The copies of one `optimize` run hold at most `MAX_NODES` `Apply`
nodes in all (`root.flags["unrolled"]` counts them). Returns whether it
changed anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

import networkx as nx
import numpy as np

from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, Unbound, constant_graph
from tapeless.ir.primitives import Primitive
from tapeless.opt.callsites import call_groups, switch_branches
from tapeless.opt.fold import NOT_FOLDED, foldable_value
from tapeless.opt.program import copy_graphs
from tapeless.opt.specialize import substitute

#: At most this many copies of one member of a cycle for one call (about the iterations unrolled).
MAX_COPIES = 16
#: At most this many `Apply` nodes in all the copies one `optimize` run makes.
MAX_NODES = 2000

_UNKNOWN = object()
#: The int/bool constants of a state's parameters: (index, type, value), by index.
Bindings = tuple[tuple[int, type, object], ...]
State = tuple[Graph, Bindings]


class _Stop(Exception):
    """The unrolling of one call does not apply (not finite, too large, not known)."""


def unroll(root: Graph) -> bool:
    """Unroll every call of a loop whose constants decide all its conditions (see the module docstring)."""
    a = analyze(root)
    if not any(a.recursive(g) for g in a.graphs):
        return False
    cycles = _cycles(a)
    stale: set[Graph] = set()  # graphs of cycles unrolled in this run (the analysis is stale there)
    changed = False
    for members, entries in cycles:
        for site in entries:
            if site.graph in stale or members & stale:
                continue
            states = _explore(a, members, site)
            if states is not None and _commit(root, a, members, site, states):
                stale.update(g for m in members for g in a.scope(m))
                changed = True
    return changed


def _cycles(a: Analysis) -> list[tuple[set[Graph], list[Apply]]]:
    """Each recursive cycle all of whose members are only ever called, with the direct calls
    from outside it (its entries) that pass an int or bool constant; cycles with a call
    from a graph nested in a member (neither outside nor a member) are left out."""
    group_of = {h: group for group in call_groups(a) for h in group.members}
    out = []
    for scc in nx.strongly_connected_components(a.call_graph):
        members = set(scc)
        ordered = [g for g in a.graphs if g in members]  # (a deterministic order of entries)
        if not a.recursive(ordered[0]) or not all(h in group_of for h in members):
            continue
        inside = {g for m in members for g in a.scope(m)}
        if any(len(set(a.scope(m)) & members) > 1 for m in members):
            continue  # a member nested in another: its copies would need a frame per state
        sites = {id(s): s for h in ordered for s in group_of[h].sites}.values()
        if any(s.graph in inside and s.graph not in members for s in sites):
            continue
        entries = [s for s in sites if s.graph not in inside and _is_entry(s, members)]
        if entries:
            out.append((members, entries))
    return out


def _is_entry(site: Apply, members: set[Graph]) -> bool:
    """Whether `site` calls a member directly with an int or bool constant among its arguments."""
    h = constant_graph(site.inputs[0])
    return h in members and any(isinstance(x, Constant) and _is_counter(x.value) for x in site.args)


def _is_counter(value: object) -> bool:
    return isinstance(value, (bool, int, np.integer, np.bool_))


def _explore(a: Analysis, members: set[Graph], site: Apply) -> dict[State, None] | None:
    """The states `site` leads to, callers first, or None when they are not finite and small."""
    h = constant_graph(site.inputs[0])
    assert h is not None
    start = (h, _bindings(x.value if isinstance(x, Constant) else _UNKNOWN for x in site.args))
    order: dict[State, None] = {}
    counts: dict[Graph, int] = {}
    active: set[State] = set()

    def visit(state: State) -> None:
        if state in active:
            raise _Stop  # the state reaches itself: the loop does not end on these constants
        if state in order:
            return
        counts[state[0]] = counts.get(state[0], 0) + 1
        if counts[state[0]] > MAX_COPIES:
            raise _Stop
        active.add(state)
        for _, callee in _calls(a, members, state):
            visit(callee)
        active.discard(state)
        order[state] = None

    try:
        visit(start)
    except _Stop:
        return None
    return dict.fromkeys(reversed(order))


def _calls(a: Analysis, members: set[Graph], state: State) -> list[tuple[Apply, State]]:
    """The calls of members in the body of state's graph, each with the state it calls;
    raises `_Stop` where a call may be of a member that the constants do not decide."""
    g, bindings = state
    values: dict[Node, object] = {g.parameters[i]: v for i, _, v in bindings}
    calls = []
    for node in a.schedule(g):
        fn = _value(values, node.inputs[0])
        if isinstance(fn, Primitive):
            values[node] = _apply(fn, [_value(values, x) for x in node.args])
        elif isinstance(fn, Graph) and fn in members:
            calls.append((node, (fn, _bindings(_value(values, x) for x in node.args))))
        elif fn is _UNKNOWN and members.intersection(switch_branches(node.inputs[0]) or ()):
            raise _Stop  # the loop's condition does not fold
    return calls


def _value(values: dict[Node, object], node: Node) -> object:
    if isinstance(node, Constant):
        return node.value
    return values.get(node, _UNKNOWN)


def _apply(prim: Primitive, args: list[object]) -> object:
    """What `fold` would make of ``prim(*args)``: its value, or `_UNKNOWN`."""
    if prim.name in NOT_FOLDED or any(v is _UNKNOWN or isinstance(v, Unbound) for v in args):
        return _UNKNOWN
    try:
        result = prim.impl(*args)
    except Exception:  # it raises at run time, in the copy
        return _UNKNOWN
    return result if foldable_value(result) else _UNKNOWN


def _bindings(values: Iterable[object]) -> Bindings:
    """The int/bool values among `values`, by index (with their type: ``1`` is not ``True``)."""
    return tuple((i, type(v), v) for i, v in enumerate(values) if _is_counter(v))


def _commit(root: Graph, a: Analysis, members: set[Graph], site: Apply, states: dict[State, None]) -> bool:
    """Copy each state's graph, bind its constants, and link the copies; make `site` call
    the first. Does nothing (says False) when the copies would pass `MAX_NODES`."""
    size = sum(_size(a, h) for g, _ in states for h in a.scope(g))
    used = int(root.flags.get("unrolled", 0))
    if used + size > MAX_NODES:
        return False
    root.flags["unrolled"] = used + size
    copies: dict[State, tuple[Graph, dict[Apply, Apply]]] = {}
    counts: dict[Graph, int] = {}
    for state in states:
        g = state[0]
        n = counts[g] = counts.get(g, -1) + 1
        pairs = copy_graphs(a.scope(g), partial(_copy_name, n=n))
        copies[state] = (pairs[g], _correspondence(pairs))
    for state, (copy, images) in copies.items():
        for call, callee in _calls(a, members, state):
            image = images[call]
            image.set_input(0, Constant(copies[callee][0], call.inputs[0].loc))
        for i, _, v in state[1]:
            substitute(copy.parameters[i], v)
    site.set_input(0, Constant(copies[next(iter(states))][0], site.inputs[0].loc))
    return True


def _correspondence(pairs: dict[Graph, Graph]) -> dict[Apply, Apply]:
    """The copy of each `Apply` owned by the graphs `pairs` maps to their copies (`copy_graphs`)."""
    out: dict[Apply, Apply] = {}
    stack: list[tuple[Node, Node]] = [(g.output, c.output) for g, c in pairs.items()]
    while stack:
        old, new = stack.pop()
        if old in out or not isinstance(old, Apply) or old.graph not in pairs:
            continue
        assert isinstance(new, Apply)  # (the copy has the original's shape)
        out[old] = new
        stack.extend(zip(old.inputs, new.inputs, strict=True))
    return out


def _copy_name(name: str, n: int) -> str:
    """The `n`-th copy of ``poly:loop_body``: ``poly:loop_body[n]``."""
    return f"{name}[{n}]"


def _size(a: Analysis, g: Graph) -> int:
    return sum(1 for n in a.body(g) if isinstance(n, Apply) and n.graph is g)


__all__ = ["MAX_COPIES", "MAX_NODES", "unroll"]
