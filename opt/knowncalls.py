"""Known calls: call groups found by following function values through the program.

`callsites.call_groups` sees a call only where the function is written at the
call (``@h(args)``, ``switch(c, @h, @k)(args)``). A J graph returns its bprop
closure, which the caller calls later (``%e = %d(x)`` then ``%e(1.0)``, or
through a free variable ``%J(f).j(%a)`` inside the bprop of a loop body), so
those calls are invisible there. `known_groups` follows function values
(a flow-insensitive 0-CFA): a graph constant flows into the nodes that may
hold it, through switch branches, call arguments into parameters and graph
outputs into the results of the calls to them. A graph *escapes* when a value
that may be it reaches anything else: an input of another primitive, the
output of the root or of an escaping graph, a call whose callee is not known
or does not take its arguments. The graphs of a group never escape, so the
call sites listed are all the places that call them (with all their
parameters): passes may change the members' parameters and results as long
as they change every site the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tapeless.ir.analysis import Analysis
from tapeless.ir.nodes import Apply, Constant, Graph, Node, constant_graph
from tapeless.ir.primitives import Primitive
from tapeless.opt.callsites import CallGroup


@dataclass
class _Flow:
    """The graphs each node may hold (`values`), the nodes that may hold a function
    not listed (`unknown`: a parameter of an escaping graph, a primitive's
    result), and the graphs that escape. Every set only grows."""

    values: dict[Node, set[Graph]] = field(default_factory=dict)
    unknown: set[Node] = field(default_factory=set)
    escaped: set[Graph] = field(default_factory=set)
    changed: bool = False

    def of(self, node: Node) -> set[Graph]:
        g = constant_graph(node)
        return {g} if g is not None else self.values.get(node, set())

    def is_unknown(self, node: Node) -> bool:
        return node in self.unknown or (isinstance(node, Constant) and isinstance(node.value, Primitive))

    def flow(self, into: Node, graphs: set[Graph], unknown: bool) -> None:
        """`into` may hold `graphs` (and an unknown function, if `unknown`)."""
        held = self.values.setdefault(into, set())
        if not graphs <= held:
            held |= graphs
            self.changed = True
        if unknown and into not in self.unknown:
            self.unknown.add(into)
            self.changed = True

    def escape(self, graphs: set[Graph]) -> None:
        if not graphs <= self.escaped:
            self.escaped |= graphs
            self.changed = True


def known_groups(a: Analysis) -> list[CallGroup]:
    """The call groups whose members never escape, with every site that calls them
    (use-lists must be exact: run `dce` first). Each site calls one of its
    group's members, with as many arguments as they have parameters."""
    flow = _flow(a)
    parent: dict[Graph, Graph] = {}

    def find(g: Graph) -> Graph:
        while parent.setdefault(g, g) is not g:
            g = parent[g]
        return g

    order = {g: i for i, g in enumerate(a.graphs)}
    sites: list[tuple[Apply, list[Graph]]] = []
    for node in _applies(a):
        if _primitive(node) is None:
            callees = sorted(flow.of(node.inputs[0]), key=order.__getitem__)
            if callees:
                sites.append((node, callees))
                for other in callees[1:]:
                    parent[find(other)] = find(callees[0])
    groups: dict[Graph, CallGroup] = {}
    for node, callees in sites:
        group = groups.setdefault(find(callees[0]), CallGroup([]))
        group.sites.append(node)
        group.members.extend(h for h in callees if h not in group.members)
    return [group for group in groups.values() if not any(h in flow.escaped for h in group.members)]


def _applies(a: Analysis) -> list[Apply]:
    """Every Apply of the program, each once, in a deterministic order."""
    return [n for g in a.graphs for n in a.body(g) if isinstance(n, Apply) and n.graph is g]


def _primitive(node: Apply) -> Primitive | None:
    fn = node.inputs[0]
    return fn.value if isinstance(fn, Constant) and isinstance(fn.value, Primitive) else None


def _flow(a: Analysis) -> _Flow:
    """The fixpoint of the flow rules (see the module docstring)."""
    flow = _Flow()
    flow.escaped.add(a.root)
    applies = _applies(a)
    flow.changed = True
    while flow.changed:
        flow.changed = False
        for g in a.graphs:
            if g in flow.escaped or g.defaults or not g.has_output:
                flow.escape({g})
                for p in g.parameters:
                    flow.flow(p, set(), True)
                if g.has_output:
                    flow.escape(flow.of(g.output))
        for node in applies:
            _step(flow, node)
    return flow


def _step(flow: _Flow, node: Apply) -> None:
    """Apply the flow rules of one node."""
    prim = _primitive(node)
    if prim is not None:
        inputs = node.inputs[1:]
        if prim.name == "switch" and len(inputs) == 3:
            flow.escape(flow.of(inputs[0]))
            for branch in inputs[1:]:
                flow.flow(node, flow.of(branch), flow.is_unknown(branch))
        else:
            for x in inputs:
                flow.escape(flow.of(x))
            flow.flow(node, set(), True)
        return
    fn, args = node.inputs[0], node.inputs[1:]
    callees = flow.of(fn)
    if flow.is_unknown(fn):
        flow.escape(callees)
        for x in args:
            flow.escape(flow.of(x))
        flow.flow(node, set(), True)
    for h in callees:
        if len(h.parameters) != len(args) or not h.has_output:
            flow.escape({h})
            for x in args:
                flow.escape(flow.of(x))
            continue
        for p, x in zip(h.parameters, args, strict=True):
            flow.flow(p, flow.of(x), flow.is_unknown(x))
        flow.flow(node, flow.of(h.output), flow.is_unknown(h.output))


__all__ = ["known_groups"]
