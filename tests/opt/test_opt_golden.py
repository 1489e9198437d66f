"""Before/after pairs written as Python functions (the printed IR is the test
surface): optimizing `before_X` prints the same IR as optimizing `after_X`
(names compared without their `before_`/`after_` prefixes, so an after
function may call `after_h` where the optimized before function has `h`),
and both agree with the interpreter on the unoptimized `before_X`."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import pytest
from opt_programs import apply_rec, cube, power_pair, sq
from opt_support import assert_same_run

from tapeless.backend.interp import interpret
from tapeless.errors import InternalError
from tapeless.frontend import parse_function
from tapeless.ir.printer import format_graph
from tapeless.opt import DEFAULT, PASSES, optimize


def helper(a):
    return a * 2.0


def before_tuple(x, y):
    t = (x, y)
    return t[1] * t[0]


def after_tuple(x, y):
    return y * x


def before_fold(x):
    return x * (2.0 * 3.0 + 1.0)


def after_fold(x):
    return x * 7.0


def before_constant_branch(x):
    if 2 > 1:
        return x + 1.0
    return x


def after_constant_branch(x):
    return x + 1.0


def before_cse(x):
    return x * x + x * x


def after_cse(x):
    y = x * x
    return y + y


def before_float_identities(x):
    y = float(x)
    return -(-(y * 1.0 - 0.0))


def after_float_identities(x):
    return float(x)


def before_inline(x):
    return helper(x) + 1.0


def after_inline(x):
    return x * 2.0 + 1.0


def before_kept(x):
    # x + 0.0 is not x (x = -0.0), and x * 1 is not x (x = True): nothing to do
    return (x + 0.0) * 1


def after_kept(x):
    return (x + 0.0) * 1


def before_specialize(x, n):
    # one copy of apply_rec per function passed to it, which then calls it directly
    return apply_rec(sq, x, n) + apply_rec(cube, x, n)


def after_apply_rec_sq(x, n):
    if n <= 0:
        return x
    return after_apply_rec_sq(x * x, n - 1)


def after_apply_rec_cube(x, n):
    if n <= 0:
        return x
    return after_apply_rec_cube(x * x * x, n - 1)


def after_specialize(x, n):
    return after_apply_rec_sq(x, n) + after_apply_rec_cube(x, n)


def before_tuple_result(x, n):
    # no caller reads the derivative: power_pair returns (and computes) x ** n only
    return power_pair(x, n)[0]


def after_power_pair(x, n):
    if n == 0:
        return 1.0
    return x * after_power_pair(x, n - 1)


def after_tuple_result(x, n):
    return after_power_pair(x, n)


PAIRS: list[tuple[Callable[..., Any], Callable[..., Any], tuple[Any, ...]]] = [
    (before_tuple, after_tuple, (1.5, -2.0)),
    (before_fold, after_fold, (3.0,)),
    (before_constant_branch, after_constant_branch, (-0.0,)),
    (before_cse, after_cse, (1.25,)),
    (before_float_identities, after_float_identities, (-0.0,)),
    (before_inline, after_inline, (0.5,)),
    (before_kept, after_kept, (True,)),
    (before_specialize, after_specialize, (1.1, 3)),
    (before_tuple_result, after_tuple_result, (1.5, 4)),
]


def _text(fn: Callable[..., Any]) -> str:
    return re.sub(r"\b(?:before|after)_", "", format_graph(optimize(parse_function(fn), verify_each=True)))


@pytest.mark.parametrize("before,after,args", PAIRS, ids=[b.__name__[7:] for b, _, _ in PAIRS])
def test_before_optimizes_to_after(before: Any, after: Any, args: tuple[Any, ...]) -> None:
    assert _text(before) == _text(after)
    graph = parse_function(before)
    assert_same_run(graph, optimize(graph), args)
    assert_same_run(graph, parse_function(after), args)


def test_optimize_leaves_its_input_alone() -> None:
    graph = parse_function(before_inline)
    text = format_graph(graph)
    optimize(graph)
    assert format_graph(graph) == text


def divide_by_zero(x):
    return x + 1 / 0


def drop_raising_element(x, y):
    t = (x / y, x)
    return t[1]


def test_errors_of_needed_values_are_kept() -> None:
    # fold leaves a call that raises for run time
    graph = parse_function(divide_by_zero)
    optimized = optimize(graph, verify_each=True)
    with pytest.raises(ZeroDivisionError):
        interpret(optimized, 1.0)


def test_errors_of_unused_values_are_dropped() -> None:
    # demand semantics (opt/liveness.py): the element nobody reads is not computed
    graph = parse_function(drop_raising_element)
    with pytest.raises(ZeroDivisionError):
        interpret(graph, 1.0, 0.0)
    assert interpret(optimize(graph, verify_each=True), 1.0, 0.0) == 1.0


def test_unknown_pass_is_refused() -> None:
    with pytest.raises(InternalError, match="unknown optimizer passes"):
        optimize(parse_function(after_cse), ("inline", "no_such_pass"))


def test_registry_lists_every_pass() -> None:
    assert set(DEFAULT) <= set(PASSES)
    for name, run in PASSES.items():
        assert run.__name__ == name and run.__doc__
        assert (sys.modules[run.__module__].__doc__ or "").strip()
