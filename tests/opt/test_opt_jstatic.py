"""`jstatic`: run-time J of known functions (`grad`, `jvalue`) made constants.

Programs pass functions, closures and tuples of functions to helpers that
call `grad` / `value_and_grad` on them (or are differentiated with them as
arguments); after the pipeline no `grad` or `jvalue` is left, the IR
verifies after every pass, and the results are the interpreter's on the
unoptimized program and the closed forms, at first and second order (with
the perturbation-confusion examples of Siskind & Pearlmutter).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from opt_support import assert_same_run, outcome

import tapeless as tl
from tapeless.ad.grad import grad_graph
from tapeless.ad.prim_j import j_primitive
from tapeless.backend.interp import interpret
from tapeless.errors import TapelessError, TapelessTypeError
from tapeless.frontend import parse_function
from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Apply, Constant, Graph
from tapeless.ir.primitives import Primitive, primitive_for
from tapeless.ir.printer import format_graph
from tapeless.ir.types import F64
from tapeless.ir.verify import verify
from tapeless.opt import optimize
from tapeless.opt.jstatic import jstatic


def sq(y):
    return y * y * math.sin(y)


def apply_grad(f, x):
    return tl.grad(f)(x)


def apply_vg(f, x):
    v, d = tl.value_and_grad(f)(x)
    return v * d


def apply_fn(f, x):
    return f(x)


def apply_grad2(f, x):
    return tl.grad(lambda y: tl.grad(f)(y))(x)


def at_one(f, x):
    return x * tl.grad(f)(1.0)


def grad_of_function(x):
    return apply_grad(sq, x) + x


def value_and_grad_of_function(x):
    return apply_vg(sq, x)


def grad_of_closure(x):
    a = 2.0 * x

    def scaled(y):
        return a * y * y

    return apply_grad(scaled, x)  # 2 a x = 4 x^2


def closure_as_argument(x):
    a = 2.0 * x

    def scaled(y):
        return a * y * y

    return tl.grad(apply_fn, argnums=1)(scaled, x)  # jvalue(@scaled): 2 a x = 4 x^2


def tuple_of_functions(x):
    return tl.grad(apply_scaled, argnums=1)((math.sin, sq, x), x)  # x d/dz sin(z) sq(z) at z = x


def apply_scaled(fs, x):
    f, g, c = fs
    return c * f(x) * g(x)


def tuple_of_primitives(x):
    return tl.grad(apply_scaled, argnums=1)((math.sin, math.cos, 3.0), x)  # d/dx 3 sin(x) cos(x)


def second_order_in_helper(x):
    return apply_grad2(sq, x)


def confusion(x):
    return at_one(lambda y: x + y, x)  # x; d/dx = 1, not 2


def confusion_mul(x):
    return at_one(lambda y: x * y, x)  # x^2


# closed forms of sq = y^2 sin y and its derivatives
def _sq(y: float, n: int) -> float:
    s, c = math.sin(y), math.cos(y)
    return (
        y * y * s,
        2 * y * s + y * y * c,
        2 * s + 4 * y * c - y * y * s,
        6 * c - 6 * y * s - y * y * c,
        -12 * s - 8 * y * c + y * y * s,
    )[n]


def _sin_sq(x: float, n: int) -> float:
    """The n-th derivative of sin(x) * sq(x) (Leibniz)."""
    return sum(math.comb(n, k) * math.sin(x + (n - k) * math.pi / 2) * _sq(x, k) for k in range(n + 1))


Closed = Callable[[float], float]

#: (program, its value, its derivative), as closed forms.
PROGRAMS: list[tuple[Any, Closed, Closed]] = [
    (grad_of_function, lambda x: _sq(x, 1) + x, lambda x: _sq(x, 2) + 1),
    (value_and_grad_of_function, lambda x: _sq(x, 0) * _sq(x, 1), lambda x: _sq(x, 1) ** 2 + _sq(x, 0) * _sq(x, 2)),
    (grad_of_closure, lambda x: 4 * x * x, lambda x: 8 * x),
    (closure_as_argument, lambda x: 4 * x * x, lambda x: 8 * x),
    (tuple_of_functions, lambda x: x * _sin_sq(x, 1), lambda x: _sin_sq(x, 1) + x * _sin_sq(x, 2)),
    (tuple_of_primitives, lambda x: 3 * math.cos(2 * x), lambda x: -6 * math.sin(2 * x)),
    (second_order_in_helper, lambda x: _sq(x, 2), lambda x: _sq(x, 3)),
    (confusion, lambda x: x, lambda x: 1.0),
    (confusion_mul, lambda x: x * x, lambda x: 2 * x),
]
IDS = [p[0].__name__ for p in PROGRAMS]
#: Programs that only run once optimized: the interpreter cannot differentiate
#: through a `grad` of a function value (docs/architecture.md, AD: "Not yet").
BEYOND_RUN_TIME = {second_order_in_helper}
XS = [-1.25, 0.3, 2.0]


def calls(root: Graph, *names: str) -> list[Apply]:
    """The live applications of the primitives `names` in the program rooted at `root`."""
    a = analyze(root)
    return [
        n
        for g in a.graphs
        for n in a.schedule(g)
        if isinstance(n.fn, Constant) and isinstance(n.fn.value, Primitive) and n.fn.value.name in names
    ]


def runtime_js(root: Graph) -> int:
    """The number of run-time J's (`grad`, `jvalue`) left in the program rooted at `root`."""
    return len(calls(root, "grad", "jvalue"))


def check(graph: Graph, closed: Closed, *, runs_unoptimized: bool = True) -> None:
    """`graph`, optimized for a float, has no run-time J left, and gives the
    unoptimized graph's results and the closed form's."""
    assert runtime_js(graph) > 0  # (the program does need the pass)
    optimized = optimize(graph, arg_types=(F64,), verify_each=True)
    assert runtime_js(optimized) == 0
    for x in XS:
        expected, got = outcome(graph, (x,)), outcome(optimized, (x,))
        assert (expected.error is None) == runs_unoptimized, expected.error
        assert got.error is None, got.error
        assert_same_run(graph, optimized, (x,), zero_sign=False)
        assert got.value == pytest.approx(closed(x), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("fn,value,_", PROGRAMS, ids=IDS)
def test_program_runs_without_runtime_j(fn: Any, value: Closed, _: Closed) -> None:
    check(parse_function(fn), value, runs_unoptimized=fn not in BEYOND_RUN_TIME)


@pytest.mark.parametrize("fn,_,derivative", PROGRAMS, ids=IDS)
def test_its_derivative_runs_without_runtime_j(fn: Any, _: Closed, derivative: Closed) -> None:
    check(grad_graph(parse_function(fn), (0,), single=True, with_value=False), derivative)


def test_untyped_pipeline_leaves_no_grad_of_a_known_function() -> None:
    # without types, `jvalue` of the (data) arguments stays; no `grad` and no J of a function does
    optimized = optimize(parse_function(tuple_of_functions), verify_each=True)
    assert not calls(optimized, "grad")
    assert all(not isinstance(n.args[0], Constant) for n in calls(optimized, "jvalue"))
    assert outcome(optimized, (0.3,)).value == pytest.approx(0.3 * _sin_sq(0.3, 1))


def bad_argnum(x):
    return tl.grad(sq, argnums=3)(x)


def test_grad_that_ad_refuses_stays_and_raises_at_run_time() -> None:
    graph = parse_function(bad_argnum)
    optimized = optimize(graph, arg_types=(F64,), verify_each=True)
    assert runtime_js(optimized) == 1
    with pytest.raises(TapelessTypeError, match="out of range"):
        interpret(optimized, 0.5)
    assert_same_run(graph, optimized, (0.5,))


def twice(x):
    return apply_grad(sq, x) * apply_grad(sq, x + 1.0)


def test_same_function_gets_one_derivative_graph() -> None:
    graph = optimize(parse_function(twice), ("inline",))
    assert jstatic(graph)
    a = analyze(graph)
    made = {n.fn.value for n in a.schedule(graph) if isinstance(n.fn, Constant) and isinstance(n.fn.value, Graph)}
    assert len(made) == 1, made
    assert outcome(graph, (0.3,)).value == pytest.approx(_sq(0.3, 1) * _sq(1.3, 1))


def nested_to_depth(y):
    if y < 0.0:
        return y * y * y
    return apply_grad(nested_to_depth, y - 1.0)


def test_a_function_that_reaches_its_own_grad_is_left_to_run_time() -> None:
    # J of nested_to_depth would meet grad(nested_to_depth) again: the site stays, and
    # optimize ends (at y >= 0, run time itself recurses without end: expand_grads does)
    graph = parse_function(nested_to_depth)
    optimized = optimize(graph, arg_types=(F64,), verify_each=True)
    assert runtime_js(optimized) == 1
    assert_same_run(graph, optimized, (-0.5,))
    assert outcome(optimized, (-0.5,)).value == -0.125


def test_optimizer_leaves_ad_caches_alone() -> None:
    # J(sin) is cached once for every program: the pass copies it before rewriting
    j_sin = j_primitive(primitive_for(math.sin), None)
    text = format_graph(j_sin)
    for fn in (tuple_of_functions, grad_of_closure):
        graph = parse_function(fn)
        first, second = (optimize(graph, arg_types=(F64,)) for _ in range(2))
        for x in XS:
            assert outcome(first, (x,)).value == outcome(second, (x,)).value
    assert format_graph(j_sin) == text
    verify(j_sin)


@pytest.mark.native
@pytest.mark.parametrize("fn,value,derivative", PROGRAMS, ids=IDS)
def test_native_code_runs_it(fn: Any, value: Closed, derivative: Closed) -> None:
    # before this pass: "the primitive grad has no native lowering yet"
    compiled, gradient = tl.compile(fn), tl.grad(fn)
    for x in XS:
        try:
            got = (compiled(x), gradient(x))
        except TapelessError as exc:
            if "AD environment" in str(exc):
                pytest.xfail("native code does not take AD environments yet")
            raise
        if fn not in BEYOND_RUN_TIME:
            assert got[0] == tl.compile(fn, backend="interp")(x)
        assert got[0] == pytest.approx(value(x))
        assert got[1] == tl.grad(fn, backend="interp")(x) == pytest.approx(derivative(x))
    assert compiled.natives and gradient.natives
