"""Inlining of calls to known graphs.

Expects: a program that `verify` accepts. Guarantees: the same results, with
calls ``G(*args)`` (the callee a graph constant) replaced by a copy of `G`'s
body when `G` is not recursive (its copy would call it again), the call gives
exactly as many arguments as `G` has parameters, `G`'s closure (if any) can
be made where the call is, and `G` is small (`SMALL` live `Apply` nodes or
fewer) or this is the only reference to `G` in the program. One analysis
serves the whole pass: inlining into a graph changes neither the callees
nor the nesting of the graphs already there, so a callee that has itself
been inlined into (its size is stale) waits for the next round. Returns
whether it inlined.
"""

from __future__ import annotations

from collections import Counter

from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.clone import inline as inline_call
from tapeless.ir.nodes import Apply, Graph, constant_graph

#: Graphs with at most this many Apply nodes (their own and their closures') are inlined everywhere.
SMALL = 12


def inline(root: Graph) -> bool:
    """Inline the qualifying calls in every graph of `root`'s program."""
    a = analyze(root)
    refs: Counter[Graph] = Counter()
    for g in a.graphs:
        for node in a.body(g):
            h = constant_graph(node)
            if h is not None:
                refs[h] += 1
    sizes = {g: sum(1 for n in a.body(g) if isinstance(n, Apply) and n.graph is g) for g in a.graphs}
    modified: set[Graph] = set()  # callers whose size is stale now
    for g in a.graphs:
        for node in a.schedule(g):
            h = constant_graph(node.inputs[0])
            if h is None or h not in sizes or any(s in modified for s in a.scope(h)):
                continue  # (a graph made by this pass's inlining waits for the next round)
            if _qualifies(a, node, h, refs, sizes):
                inline_call(node, analysis=a)
                modified.add(g)
    return bool(modified)


def _qualifies(
    a: Analysis, call: Apply, h: Graph, refs: Counter[Graph], sizes: dict[Graph, int]
) -> bool:
    if a.recursive(h) or len(call.args) != len(h.parameters) or not h.has_output:
        return False
    if not a.can_make(h, call.graph):
        return False
    size = sum(sizes[s] for s in a.scope(h))
    return size <= SMALL or refs[h] == 1


__all__ = ["SMALL", "inline"]


