"""Call sites and *call groups*: graphs that are only ever called, never passed around.

A graph constant is in *call position* when it is the function of an `Apply`
(``@h(args)``) or a branch of a `switch` whose one user calls its result
(``switch(c, @h, @k)(args)``, how the front end lowers `if` and loops). A
*call group* is a set of graphs that share such switch calls (union-find),
every reference of which is in call position, all with the same number of
parameters and without default values, none of them the root. Everything
that calls a member of a group is then known, so passes may change the
members' parameters (`lift` adds, `params` removes) as long as they change
every call site (`CallGroup.sites`) the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tapeless.ir.analysis import Analysis
from tapeless.ir.nodes import Apply, Constant, Graph, Node, constant_graph
from tapeless.ir.primitives import Primitive


@dataclass
class CallGroup:
    """Graphs called only at `sites` (each site calls one of them, with all their arguments)."""

    members: list[Graph]
    sites: list[Apply] = field(default_factory=list)


def call_groups(a: Analysis) -> list[CallGroup]:
    """The call groups of the program (use-lists must be exact: run `dce` first)."""
    parent: dict[Graph, Graph] = {}

    def find(g: Graph) -> Graph:
        while parent.setdefault(g, g) is not g:
            g = parent[g]
        return g

    sites: list[tuple[Apply, list[Graph]]] = []
    bad: set[Graph] = set()
    for g in a.graphs:
        escaping = constant_graph(g.output) if g.has_output else None
        if escaping is not None:
            bad.add(escaping)
        for node in a.schedule(g):
            callees = _callees(node)
            if callees:
                sites.append((node, callees))
                for other in callees[1:]:
                    parent[find(other)] = find(callees[0])
            for i, x in enumerate(node.inputs):
                h = constant_graph(x)
                if h is not None and not _in_call_position(node, i):
                    bad.add(h)
    groups: dict[Graph, CallGroup] = {}
    for g in a.graphs:
        groups.setdefault(find(g), CallGroup([])).members.append(g)
    for node, callees in sites:
        groups[find(callees[0])].sites.append(node)
    out = []
    for group in groups.values():
        arity = len(group.members[0].parameters)
        if (
            any(h in bad or h is a.root or h.defaults or not h.has_output for h in group.members)
            or any(len(h.parameters) != arity for h in group.members)
            or any(len(site.args) != arity for site in group.sites)
        ):
            continue
        out.append(group)
    return out


def _callees(node: Apply) -> list[Graph]:
    """The graphs `node` calls when its function is a graph constant or a switch of them."""
    fn = node.inputs[0]
    h = constant_graph(fn)
    if h is not None:
        return [h]
    branches = switch_branches(fn)
    return branches if branches is not None and len(fn.uses) == 1 else []


def switch_branches(node: Node) -> list[Graph] | None:
    """The two graphs of ``switch(c, @h, @k)``, if `node` is that."""
    if not isinstance(node, Apply) or len(node.inputs) != 4:
        return None
    fn = node.inputs[0]
    if not (isinstance(fn, Constant) and isinstance(fn.value, Primitive) and fn.value.name == "switch"):
        return None
    graphs = [constant_graph(x) for x in node.inputs[2:]]
    return [g for g in graphs if g is not None] if all(g is not None for g in graphs) else None


def _in_call_position(node: Apply, index: int) -> bool:
    if index == 0:
        return True
    if index in (2, 3) and switch_branches(node) is not None and len(node.uses) == 1:
        ((user, position),) = node.uses
        return isinstance(user, Apply) and position == 0
    return False


def redirect(site: Apply, copies: dict[Graph, Graph]) -> None:
    """Make `site` call the copies of the graphs it calls (those `copies` maps)."""
    fn = site.inputs[0]
    h = constant_graph(fn)
    if h is not None:
        site.set_input(0, Constant(copies.get(h, h), fn.loc))
        return
    assert isinstance(fn, Apply) and switch_branches(fn) is not None
    for i in (2, 3):
        k = constant_graph(fn.inputs[i])
        assert k is not None
        fn.set_input(i, Constant(copies.get(k, k), fn.inputs[i].loc))
