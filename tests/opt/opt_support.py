"""Helpers of the optimizer tests: run a graph before and after, compare.

The oracle is the interpreter on the graph before optimization: the
optimized graph must give the same outcome, bit for bit (same type, same
value, NaN-aware, signed zeros), or raise the same type of exception. Two
documented exceptions (`opt/liveness.py`, `opt/algebra.py`): where the
graph before raised computing a value nobody used, the optimized one may
return; and with `zero_sign=False` a zero may change sign (the symbolic
zeros of gradients).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from corpus_support import Outcome, assert_same_outcome

from tapeless.ad.grad import grad_graph
from tapeless.backend.interp import interpret
from tapeless.frontend import parse_function
from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Apply, Graph
from tapeless.ir.types import AbstractType
from tapeless.opt import DEFAULT, optimize
from tapeless.opt.infer import arg_type


def outcome(graph: Graph, args: tuple[Any, ...]) -> Outcome:
    try:
        return Outcome(value=interpret(graph, *args))
    except Exception as exc:
        return Outcome(error=exc)


def assert_same_run(before: Graph, after: Graph, args: tuple[Any, ...], *, zero_sign: bool = True) -> None:
    """`after` does on `args` what `before` does (see the module docstring)."""
    expected, actual = outcome(before, args), outcome(after, args)
    if expected.error is not None and actual.error is None:
        return  # the error was in a value nobody used: the optimizer may drop it
    if not zero_sign and expected.error is None and actual.error is None:
        expected, actual = Outcome(value=_unsign(expected.value)), Outcome(value=_unsign(actual.value))
    assert_same_outcome(expected, actual)


def _unsign(value: Any) -> Any:
    """`value` with every float zero made +0.0."""
    if isinstance(value, tuple):
        return tuple(_unsign(v) for v in value)
    if isinstance(value, float) and value == 0.0:
        return 0.0
    if isinstance(value, np.ndarray) and value.dtype == np.float64:
        return np.where(value == 0.0, 0.0, value)
    return value


def first(fn: Any, argnums: tuple[int, ...]) -> Graph:
    """The graph of `value_and_grad(fn, argnums)`."""
    return grad_graph(parse_function(fn), argnums, single=False, with_value=True)


def second(fn: Any, argnums: tuple[int, ...]) -> Graph:
    """The graph of the second derivative of `fn` in its first argnum."""
    inner = grad_graph(parse_function(fn), (argnums[0],), single=True, with_value=False)
    return grad_graph(inner, (argnums[0],), single=True, with_value=False)


class TypedOptimizer:
    """`graph` optimized for the types of each argument tuple it is called with
    (cached per type signature), as `tapeless.grad` runs it."""

    def __init__(self, graph: Graph, passes: tuple[str, ...] = DEFAULT) -> None:
        self.graph = graph
        self.passes = passes
        self.cache: dict[tuple[AbstractType, ...], Graph] = {}

    def __call__(self, args: tuple[Any, ...]) -> Graph:
        signature = tuple(arg_type(a) for a in args)
        if signature not in self.cache:
            types = signature if len(args) == len(self.graph.parameters) else None  # (defaults)
            self.cache[signature] = optimize(self.graph, self.passes, arg_types=types, verify_each=True)
        return self.cache[signature]


def apply_count(root: Graph) -> int:
    """The number of live Apply nodes in the program rooted at `root`."""
    a = analyze(root)
    return sum(1 for g in a.graphs for n in a.body(g) if isinstance(n, Apply) and n.graph is g)
