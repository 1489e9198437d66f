"""Cloning: copy a graph with the closures nested in it, or inline a call.

`clone(g)` copies `g` and every graph in its scope (the closures nested in it,
as `analysis.scope(g)` gives them). Inside the copy, nodes and graph
constants that point into the scope point to their copies (so a recursive
graph calls its clone); free variables from outside the scope, and constants
of graphs outside it, are shared with the original. The original is left
untouched.

`inline(call)` replaces ``call = Apply(Constant(G), *args)`` by a copy of
`G`'s body built in `call.graph`, with `G`'s parameters bound to `args`; the
closures nested in `G` are cloned (their free variables now live in
`call.graph`), while constants of `G` itself (a recursive call) still refer
to `G`, so inlining a recursive call unrolls it once.

Both expect IR that `verify` accepts and keep it so; both take an optional
`Analysis` of a program containing the graphs concerned (else they run one).
"""

from __future__ import annotations

from tapeless.errors import InternalError, Location
from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, Parameter, constant_graph, replace


def clone(g: Graph, *, analysis: Analysis | None = None) -> Graph:
    """A copy of `g` and of the graphs nested in it; return the copy of `g`."""
    a = analysis if analysis is not None else analyze(g)
    scope = a.scope(g)
    copies = {h: _fresh_graph(h) for h in scope}
    node_map: dict[Node, Node] = {}
    for h in scope:
        for p in h.parameters:
            node_map[p] = copies[h].add_parameter(p.name, p.loc)
    outputs = _copy_bodies(scope, copies, copies, node_map)
    for h in scope:
        copies[h].output = outputs[h]
    return copies[g]


def inline(call: Apply, analysis: Analysis | None = None) -> Node:
    """Inline ``call = G(*args)`` into `call.graph`; return the node that replaced it.

    Every use of `call` (including uses by closures and the graph's output)
    now reads the copy of `G`'s output, and `call` is detached from its
    inputs. `G` must take exactly ``len(args)`` parameters.
    """
    g = constant_graph(call.fn)
    if g is None:
        raise InternalError(f"inline: the callee of {call!r} is not a graph constant")
    args = call.args
    if len(args) != len(g.parameters):
        raise InternalError(
            f"inline: {g.name} takes {len(g.parameters)} arguments, the call gives {len(args)}"
        )
    a = analysis if analysis is not None else analyze(call.graph)
    if not a.can_make(g, call.graph):
        parent = a.parent(g)
        assert parent is not None  # (a graph nested in nothing can be made anywhere)
        raise InternalError(
            f"inline: {g.name} is nested in {parent.name}, which does not enclose "
            f"{call.graph.name}, the graph of the call"
        )
    scope = a.scope(g)
    nested = {h: _fresh_graph(h) for h in scope if h is not g}
    node_map: dict[Node, Node] = dict(zip(g.parameters, args, strict=True))
    for h, copy in nested.items():
        for p in h.parameters:
            node_map[p] = copy.add_parameter(p.name, p.loc)
    outputs = _copy_bodies(scope, {**nested, g: call.graph}, nested, node_map, call.loc)
    for h, copy in nested.items():
        copy.output = outputs[h]
    result = outputs[g]
    replace(call, result)
    call.detach()
    return result


def _fresh_graph(g: Graph) -> Graph:
    return Graph(g.name, g.loc, defaults=g.defaults, flags=dict(g.flags))


def _copy_bodies(
    scope: list[Graph],
    home: dict[Graph, Graph],
    graph_constants: dict[Graph, Graph],
    node_map: dict[Node, Node],
    loc: Location | None = None,
) -> dict[Graph, Node]:
    """Copy the nodes owned by the graphs of `scope`; return the copies of their outputs.

    An `Apply` without a location takes `loc` (inlining gives the call's: the
    applications of a primitive's J, or of a backpropagator, then point at the
    source expression they come from).

    An `Apply` owned by `h` is copied into `home[h]`; a constant of a graph in
    `graph_constants` becomes a constant of its image, other constants are
    copied as they are; `node_map` must already map the parameters of the
    scope. Nodes of graphs outside the scope map to themselves. All copies are
    made before any input is set, so the originals are read as they were even
    when `home` includes a graph of the scope (inlining a recursive call).
    """
    pairs: list[tuple[Apply, Apply]] = []
    stack: list[Node] = []
    for h in scope:
        if not h.has_output:
            raise InternalError(f"cannot copy graph {h.name}: it has no output")
        stack.append(h.output)
    while stack:
        node = stack.pop()
        if node in node_map:
            continue
        if isinstance(node, Apply):
            target = home.get(node.graph)
            if target is None:
                continue  # a free variable from outside the scope: shared
            copy = Apply([], target, node.loc if node.loc is not None else loc)
            node_map[node] = copy
            pairs.append((node, copy))
            stack.extend(reversed(node.inputs))
        elif isinstance(node, Constant):
            value = node.value
            if isinstance(value, Graph):
                value = graph_constants.get(value, value)
            node_map[node] = Constant(value, node.loc)
        elif isinstance(node, Parameter) and node.graph in home:
            raise InternalError(
                f"parameter {node.name} is not in the parameter list of {node.graph.name}"
            )

    def image(node: Node) -> Node:
        return node_map.get(node, node)

    for old, new in pairs:
        new.set_inputs(image(i) for i in old.inputs)
    return {h: image(h.output) for h in scope}


__all__ = ["clone", "inline"]
