"""What a program evaluates: the live nodes of every graph, and how a rewrite
lets go of the nodes it no longer reads.

The IR is demand-driven: a graph evaluates the nodes its output needs and the
free variables of the closures it makes (`analyze(root).body`); a value that
no result needs is not computed, and an exception computing it would raise is
not raised (the interpreter already skips dead statements). Rewrites follow
the same rule: a rewrite that stops reading a node, say the other elements of
``getitem(make_tuple(a, b), 0)``, may drop it, and with it the exception it
might raise. An optimized program therefore never returns a different value
nor raises a different exception, but it may return where the unoptimized
one raised in a value nobody used. `docs/architecture.md` records the choice.
"""

from __future__ import annotations

from tapeless.ir.analysis import Analysis
from tapeless.ir.nodes import Apply, Node


def live_nodes(a: Analysis) -> set[Node]:
    """Every node some graph of the program reads (a snapshot)."""
    live: set[Node] = set()
    for g in a.graphs:
        live.update(a.body(g))
    return live


def detach_dead(node: Apply) -> None:
    """Detach `node` and, transitively, the inputs it leaves without a user."""
    stack = [node]
    while stack:
        n = stack.pop()
        inputs = list(n.inputs)
        n.detach()
        stack.extend(x for x in inputs if isinstance(x, Apply) and not x.uses)
