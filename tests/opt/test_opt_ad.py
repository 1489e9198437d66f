"""The pipeline on first and second derivatives of the differentiable
programs of the AD tests: same results before and after, `verify` after every
pass, and fewer nodes."""

from __future__ import annotations

from typing import Any

import programs as P
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opt_support import TypedOptimizer, apply_count, assert_same_run, first, outcome, second

from tapeless.ir.printer import format_graph
from tapeless.opt import AGGRESSIVE, optimize

IDS = [p[0].__name__ for p in P.PROGRAMS]


@pytest.mark.parametrize("order", [first, second], ids=["grad", "grad2"])
@pytest.mark.parametrize("fn,strategy,argnums", P.PROGRAMS, ids=IDS)
def test_optimized_gradient_keeps_results(fn: Any, strategy: Any, argnums: Any, order: Any) -> None:
    graph = order(fn, argnums)
    text = format_graph(graph)
    optimized = optimize(graph, verify_each=True)
    assert format_graph(graph) == text, "optimize changed its input"
    assert apply_count(optimized) <= apply_count(graph)
    typed = TypedOptimizer(graph)

    @settings(max_examples=3)
    @given(st.data())
    def check(data: Any) -> None:
        args = data.draw(strategy)
        assert_same_run(graph, optimized, args)
        assert_same_run(graph, typed(args), args, zero_sign=False)

    check()


@pytest.mark.parametrize("fn,strategy,argnums", P.PROGRAMS, ids=IDS)
def test_aggressive_pipeline_agrees_up_to_rounding(fn: Any, strategy: Any, argnums: Any) -> None:
    graph = second(fn, argnums)
    typed = TypedOptimizer(graph, AGGRESSIVE)

    @settings(max_examples=3)
    @given(st.data())
    def check(data: Any) -> None:
        args = data.draw(strategy)
        expected, actual = outcome(graph, args), outcome(typed(args), args)
        if expected.error is None:
            assert actual.error is None, actual.error
            assert actual.value == pytest.approx(expected.value, rel=1e-9, abs=1e-12)

    check()


def straight(x, y):
    z = x * y + x
    return z * z - y / x


@pytest.mark.parametrize("order", [first, second], ids=["grad", "grad2"])
def test_optimized_gradient_of_straight_line_code_is_smaller(order: Any) -> None:
    graph = order(straight, (0, 1))
    optimized = optimize(graph)
    before, after = apply_count(graph), apply_count(optimized)
    assert after < before, (before, after)
    if order is first:
        assert after < before / 2, (before, after)
    assert_same_run(graph, optimized, (1.5, -0.25))
