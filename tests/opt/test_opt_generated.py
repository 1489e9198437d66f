"""The optimizer on random programs (`program_gen`): straight-line float code,
tuples, branches, bounded loops and closures, as written by hypothesis.

The forward function, optimized generically (verified after every pass) and
specialized to two floats, gives what CPython gives; its first and second
derivatives give the same outcome before and after both optimizations (up to
what `opt_support.assert_same_run` allows: a dropped error in an unused value,
the sign of a zero gradient).
"""

from __future__ import annotations

from typing import Any

from corpus_support import assert_same_outcome, floats, run
from hypothesis import example, given, note, settings
from hypothesis import strategies as st
from opt_support import assert_same_run, first, outcome, second
from program_gen import load, programs

from tapeless.frontend import parse_function
from tapeless.ir.nodes import Graph
from tapeless.ir.types import F64
from tapeless.opt import optimize

#: Examples per test, scaled from the profile's count (a second derivative costs most).
EXAMPLES = settings().max_examples

ARGS = st.lists(st.tuples(floats(-3.0, 3.0), floats(-3.0, 3.0)), min_size=1, max_size=3)


#: Programs the generator once found failing, kept as explicit examples.
#: Two `if`s on one condition: `lift` passed a variable of one branch to a call in the other.
SHARED_BRANCH = """\
import math


def f(x, y):
    if x < y:
        v1 = x
    v2 = -x
    if x < y:
        v2 = y
    return v2
"""


def optimized(graph: Graph) -> list[Graph]:
    """`graph` optimized generically (verified after every pass) and specialized to floats."""
    return [optimize(graph, verify_each=True), optimize(graph, arg_types=(F64, F64))]


@settings(max_examples=2 * EXAMPLES)
@given(source=programs(), arg_list=ARGS)
@example(source=SHARED_BRANCH, arg_list=[(0.5, 1.0), (1.0, 0.5)])
def test_optimized_program_matches_cpython(source: str, arg_list: list[Any]) -> None:
    note(source)
    fn = load(source)
    graph = parse_function(fn)
    versions = [graph, *optimized(graph)]
    for args in arg_list:
        expected = run(fn, args)
        for version in versions:
            assert_same_outcome(expected, outcome(version, args))


@settings(max_examples=max(1, EXAMPLES * 3 // 4))
@given(source=programs(), arg_list=ARGS)
def test_optimized_first_derivative_keeps_results(source: str, arg_list: list[Any]) -> None:
    note(source)
    graph = first(load(source), (0, 1))
    _check_derivative(graph, arg_list)


@settings(max_examples=max(1, EXAMPLES * 2 // 5))
@given(source=programs(), arg_list=ARGS)
def test_optimized_second_derivative_keeps_results(source: str, arg_list: list[Any]) -> None:
    note(source)
    graph = second(load(source), (0,))
    _check_derivative(graph, arg_list)


def _check_derivative(graph: Graph, arg_list: list[Any]) -> None:
    versions = optimized(graph)
    for args in arg_list:
        for version in versions:
            # a zero gradient may change sign (`opt/algebra.py`: AD's zeros are symbolic)
            assert_same_run(graph, version, args, zero_sign=False)
