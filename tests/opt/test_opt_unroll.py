"""`unroll`: loops whose trip count is a compile-time constant become straight-line code.

Oracles: the interpreter on the unoptimized program, and closed forms (numpy's
`poly1d` for the Horner polynomial and its derivative). A loop whose condition
does not fold (a run-time count), whose count passes the budget, or that never
ends stays a loop.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from opt_support import TypedOptimizer, assert_same_run, first, outcome

from tapeless.ad.grad import grad_graph
from tapeless.frontend import parse_function
from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Graph
from tapeless.ir.types import F64, I64
from tapeless.opt import DEFAULT, optimize
from tapeless.opt.unroll import MAX_COPIES

COEFFS = (0.25, -0.5, 1.5, -2.0, 0.75, 1.25, -0.3, 0.1, 2.0)
SHORT = (1.0, 2.0, 3.0)


def poly(x):
    acc = 0.0
    for i in range(len(COEFFS)):
        acc = acc * x + COEFFS[i]
    return acc


def nested(x):
    acc = 0.0
    for i in range(3):
        for j in range(i + 1):
            acc = acc * x + (i - j)
    return acc


def countdown(x):
    n = 4
    while n > 0:
        x = x * 1.5 + n
        n = n - 1
    return x


def long_loop(x):
    acc = 0.0
    for i in range(1000):
        acc = acc * 0.5 + x
    return acc


def loop_sum(x, n):
    acc = 0.0
    for i in range(n):
        acc = acc + math.sin(x * i) / (i + 1)
    return acc


def forever(x):
    i = 0
    while i < 10:
        x = x * 0.5
    return x


def fails_at_3(x):
    acc = 0.0
    for i in range(6):
        acc = acc * x + SHORT[i]  # IndexError in iteration 3
    return acc


def shape(root: Graph) -> tuple[int, int]:
    """(graphs in a recursion, closures) of the program rooted at `root`."""
    a = analyze(root)
    return sum(1 for g in a.graphs if a.recursive(g)), sum(1 for g in a.graphs if a.is_closure(g))


def gradient(fn: Any) -> Graph:
    return grad_graph(parse_function(fn), (0,), single=True, with_value=False)


XS = (0.7, -1.3, 2.0)


@pytest.mark.parametrize("types", [None, (F64,)], ids=["untyped", "typed"])
def test_poly_becomes_straight_line_code(types: Any) -> None:
    p = np.poly1d(COEFFS)
    for graph, closed_form in [(parse_function(poly), p), (gradient(poly), p.deriv())]:
        optimized = optimize(graph, arg_types=types, verify_each=True)
        assert shape(optimized) == (0, 0)
        for x in XS:
            assert_same_run(graph, optimized, (x,), zero_sign=False)
            assert outcome(optimized, (x,)).value == pytest.approx(closed_form(x), rel=1e-12)


@pytest.mark.parametrize("fn", [nested, countdown])
def test_nested_and_while_loops_are_unrolled(fn: Any) -> None:
    for graph in (parse_function(fn), first(fn, (0,))):
        optimized = TypedOptimizer(graph)((0.5,))
        assert shape(optimized) == (0, 0)
        for x in XS:
            assert_same_run(graph, optimized, (x,), zero_sign=False)


@pytest.mark.parametrize("fn,types,args", [(long_loop, (F64,), (0.3,)), (loop_sum, (F64, I64), (0.3, 5))],
                         ids=["count_over_budget", "run_time_count"])
def test_other_loops_stay_loops(fn: Any, types: Any, args: Any) -> None:
    graph = gradient(fn)
    without = optimize(graph, tuple(p for p in DEFAULT if p != "unroll"), arg_types=types)
    optimized = optimize(graph, arg_types=types, verify_each=True)
    assert shape(optimized) == shape(without) and shape(optimized)[0] > 0
    assert_same_run(graph, optimized, args, zero_sign=False)


def test_budget_is_the_copies_per_loop() -> None:
    # a count at the budget unrolls, one past it does not
    def count(n: int) -> Any:
        def fn(x):
            for i in range(n):
                x = x * 0.5 + i
            return x

        return parse_function(fn)

    below = optimize(count(MAX_COPIES - 1), verify_each=True)
    above = optimize(count(MAX_COPIES + 1), verify_each=True)
    assert shape(below)[0] == 0 and shape(above)[0] > 0


def test_a_loop_that_never_ends_stays_a_loop() -> None:
    optimized = optimize(parse_function(forever), arg_types=(F64,), verify_each=True)
    assert shape(optimized)[0] > 0  # (not run: it would not return)


def test_an_error_in_iteration_3_still_happens() -> None:
    for graph in (parse_function(fails_at_3), gradient(fails_at_3)):
        optimized = optimize(graph, arg_types=(F64,), verify_each=True)
        assert shape(optimized)[0] == 0
        expected, actual = outcome(graph, (0.5,)), outcome(optimized, (0.5,))
        assert isinstance(expected.error, IndexError) and isinstance(actual.error, IndexError)
