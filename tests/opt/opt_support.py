"""Helpers of the optimizer tests: run a graph before and after, compare.

The oracle is the interpreter on the graph before optimization: the
optimized graph must give the same outcome, bit for bit (same type, same
value, NaN-aware, signed zeros), or raise the same type of exception.
"""

from __future__ import annotations

from typing import Any

from corpus_support import Outcome, assert_same_outcome

from tapeless.backend.interp import interpret
from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Apply, Graph


def outcome(graph: Graph, args: tuple[Any, ...]) -> Outcome:
    try:
        return Outcome(value=interpret(graph, *args))
    except Exception as exc:
        return Outcome(error=exc)


def assert_same_run(before: Graph, after: Graph, args: tuple[Any, ...]) -> None:
    """`after` does on `args` exactly what `before` does."""
    assert_same_outcome(outcome(before, args), outcome(after, args))


def apply_count(root: Graph) -> int:
    """The number of live Apply nodes in the program rooted at `root`."""
    a = analyze(root)
    return sum(1 for g in a.graphs for n in a.body(g) if isinstance(n, Apply) and n.graph is g)
