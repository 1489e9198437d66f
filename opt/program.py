"""Copies of graphs: `clone_program`, a private copy of every graph reachable
from a root, and `copy_graphs`, a copy of a set of graphs that call each other.

The front end caches parsed graphs and AD caches J graphs, so the optimizer
never rewrites a graph it did not make: `optimize` first copies the whole
program (every graph of `analyze(root).graphs`, with one consistent mapping,
so that calls, closures and free variables point into the copy) and then
rewrites the copy only. The original program is left untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tapeless.ir.analysis import analyze
from tapeless.ir.clone import _copy_bodies  # the body copier `clone` and `inline` share
from tapeless.ir.nodes import Graph, Node


def clone_program(root: Graph) -> Graph:
    """A copy of `root` and of every graph it reaches; return the copy of `root`."""
    return copy_graphs(analyze(root).graphs)[root]


def copy_graphs(graphs: Iterable[Graph], rename: Callable[[str], str] = str) -> dict[Graph, Graph]:
    """A copy of each of `graphs` (named `rename(name)`), by original.

    `graphs` must hold every graph nested in any of them (a union of
    `Analysis.scope`s). Inside the copies, graph constants of `graphs` and
    nodes of `graphs` point to their copies: a copy calls the copies of the
    others, so a recursive cycle copied whole calls only itself. Free
    variables from other graphs, and constants of other graphs, are shared
    with the originals, which are left untouched.
    """
    graphs = list(dict.fromkeys(graphs))
    copies = {g: Graph(rename(g.name), g.loc, defaults=g.defaults, flags=dict(g.flags)) for g in graphs}
    node_map: dict[Node, Node] = {}
    for g in graphs:
        for p in g.parameters:
            node_map[p] = copies[g].add_parameter(p.name, p.loc)
    outputs = _copy_bodies(graphs, copies, copies, node_map)
    for g in graphs:
        copies[g].output = outputs[g]
    return copies
