"""`clone_program`: a private copy of every graph reachable from a root.

The front end caches parsed graphs and AD caches J graphs, so the optimizer
never rewrites a graph it did not make: `optimize` first copies the whole
program (every graph of `analyze(root).graphs`, with one consistent mapping,
so that calls, closures and free variables point into the copy) and then
rewrites the copy only. The original program is left untouched.
"""

from __future__ import annotations

from tapeless.ir.analysis import analyze
from tapeless.ir.clone import _copy_bodies  # the body copier `clone` and `inline` share
from tapeless.ir.nodes import Graph, Node


def clone_program(root: Graph) -> Graph:
    """A copy of `root` and of every graph it reaches; return the copy of `root`."""
    graphs = analyze(root).graphs
    copies = {g: Graph(g.name, g.loc, defaults=g.defaults, flags=dict(g.flags)) for g in graphs}
    node_map: dict[Node, Node] = {}
    for g in graphs:
        for p in g.parameters:
            node_map[p] = copies[g].add_parameter(p.name, p.loc)
    outputs = _copy_bodies(graphs, copies, copies, node_map)
    for g in graphs:
        copies[g].output = outputs[g]
    return copies[root]
