"""Reverse mode against independent oracles: central finite differences for
first derivatives, closed forms for higher orders, and the classic
perturbation-confusion examples."""

import numpy as np
import programs as P
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nested_programs import (
    POLY,
    branchy,
    closure_power,
    confusion,
    confusion_mul,
    cube,
    exp_cube,
    exp_cube_nth,
    nested_argnums,
    nth,
    poly_while,
    power_rule,
    rec_pow,
    sin_nth,
    sine,
    slope_of,
)

import tapeless as tl
from tapeless.errors import TapelessError, TapelessTypeError


def central_difference(fn, args, i, h=1e-6):
    lo, hi = list(args), list(args)
    lo[i] -= h
    hi[i] += h
    return (fn(*hi) - fn(*lo)) / (2 * h)


@pytest.mark.parametrize("fn,strategy,wrt", P.PROGRAMS, ids=[p[0].__name__ for p in P.PROGRAMS])
def test_gradient_matches_finite_differences(fn, strategy, wrt):
    gradient = tl.grad(fn, argnums=wrt)

    @given(strategy)
    def check(args):
        got = gradient(*args)
        assert isinstance(got, tuple) and len(got) == len(wrt)
        for g, i in zip(got, wrt, strict=True):
            want = central_difference(fn, args, i)
            assert isinstance(g, float), f"d/d{i} should be a float, got {type(g).__name__}"
            assert g == pytest.approx(want, rel=1e-5, abs=1e-5)

    check()


@pytest.mark.parametrize(
    "fn,strategy,wrt", P.PROGRAMS[:6], ids=[p[0].__name__ for p in P.PROGRAMS[:6]]
)
def test_value_and_grad_agrees_with_value_and_grad(fn, strategy, wrt):
    vg = tl.value_and_grad(fn, argnums=wrt)

    @given(strategy)
    def check(args):
        value, grads = vg(*args)
        assert value == fn(*args)
        assert grads == tl.grad(fn, argnums=wrt)(*args)

    check()


def test_gradient_with_respect_to_a_tuple_has_its_structure():
    g = tl.grad(P.tuples)((1.5, (2.0, -3.0)))
    assert g == (2.0, (1.5, -6.0))
    assert isinstance(g[1], tuple) and isinstance(g[1][0], float)


def test_stop_gradient():
    # d/dx [x * stop(x*x)] = x*x
    assert tl.grad(P.stop)(3.0) == 9.0


def test_int_argument_mixing():
    # the sensitivity of a float argument stays a float even through int arithmetic
    assert tl.grad(P.int_mix)(2.0, 3) == pytest.approx(3 + 3 * 4.0 / 4)


# -- higher order --------------------------------------------------------------


# Orders 1-3 on drawn inputs; order 4 on fixed points: 4th-derivative graphs of
# loops take seconds to build and optimize (a minute natively, LLVM included).
# The interpreter and native code (`backend="cpu"`, the `native` mark) both run
# them; native code keeps AD environments (`Env`) as records.
BACKENDS = [pytest.param("interp"), pytest.param("cpu", marks=pytest.mark.native)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("order", [1, 2, 3])
@given(x=st.floats(-2.0, 2.0))
def test_nth_derivative_of_polynomial_while_loop(backend, order, x):
    assert nth(poly_while, order, backend)(x) == pytest.approx(POLY.deriv(order)(x), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("x", [-1.25, 0.5])
def test_fourth_derivative_of_polynomial_while_loop(x):
    assert nth(poly_while, 4)(x) == pytest.approx(POLY.deriv(4)(x))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("order", [1, 2, 3])
@given(x=st.floats(0.5, 1.5), n=st.integers(0, 6))
def test_nth_derivative_of_recursive_power(backend, order, x, n):
    got = nth(rec_pow, order, backend)(x, n)
    assert got == pytest.approx(power_rule(x, n, order), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("x,n", [(1.1, 5), (0.7, 3)])
def test_fourth_derivative_of_recursive_power(x, n):
    assert nth(rec_pow, 4)(x, n) == pytest.approx(power_rule(x, n, 4), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@given(x=st.sampled_from([-1.5, -0.5, 0.5, 1.5]))
def test_nth_derivative_through_if(backend, order, x):
    want = np.poly1d([1.0, 0, 0, 0, 0]) if x > 0 else np.poly1d([1.0, 0, 0])
    assert nth(branchy, order, backend)(x) == pytest.approx(want.deriv(order)(x))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_nth_derivative_through_closures(backend, order):
    want = np.poly1d([1.0, 0, 0, 0, 0]).deriv(order)(1.3)
    assert nth(closure_power, order, backend)(1.3) == pytest.approx(want)


def test_grad_of_grad_composes_with_compile():
    second = tl.compile(tl.grad(tl.grad(cube)), backend="interp")
    assert second(2.0) == 12.0


# -- nested derivatives inside compiled code --------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_perturbation_confusion(backend):
    # `backend` is the default one here (the `native` mark): grad inside compiled code
    assert tl.compile(confusion)(2.5) == 2.5
    d_confusion, d_confusion_mul = tl.grad(confusion), tl.grad(confusion_mul)
    for x in (-1.0, 0.5, 2.5):
        assert d_confusion(x) == 1.0
        assert d_confusion_mul(x) == pytest.approx(2 * x)
    assert bool(d_confusion.natives) == (backend == "cpu")


@pytest.mark.parametrize("backend", BACKENDS)
def test_grad_inside_compiled_code_with_argnums(backend):
    # x^2 + y^2 x, and its derivative 2x + y^2
    assert tl.compile(nested_argnums)(1.5, 2.0) == 1.5**2 + 4.0 * 1.5
    assert tl.grad(nested_argnums)(1.5, 2.0) == pytest.approx(2 * 1.5 + 4.0)


# -- errors ------------------------------------------------------------------------


def returns_tuple(x):
    return (x, x)


def test_gradient_of_non_scalar_output_is_an_error():
    with pytest.raises(TapelessTypeError, match="float scalar"):
        tl.grad(returns_tuple)(1.0)


def test_gradient_with_respect_to_int_is_an_error():
    with pytest.raises(TapelessTypeError, match="argument 1"):
        tl.grad(P.int_mix, argnums=1)(1.0, 3)
    with pytest.raises(TapelessTypeError, match="bool"):
        tl.grad(cube)(True)


def test_bad_argnums():
    with pytest.raises(TapelessError, match="out of range"):
        tl.grad(cube, argnums=3)(1.0)
    with pytest.raises(TapelessError, match="argnums"):
        tl.grad(cube, argnums="x")


@pytest.mark.parametrize("fn,strategy,wrt", P.PROGRAMS, ids=[p[0].__name__ for p in P.PROGRAMS])
def test_derivative_graphs_verify(fn, strategy, wrt):
    from tapeless.ir.verify import verify

    graph = tl.grad(fn, argnums=wrt).__tapeless_graph__
    verify(graph)
    verify(tl.grad(tl.grad(fn)).__tapeless_graph__)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@given(x=st.floats(-3.0, 3.0))
def test_nth_derivative_of_sin(backend, order, x):
    assert nth(sine, order, backend)(x) == pytest.approx(sin_nth(x, order), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@given(x=st.floats(-2.0, 2.0))
def test_nth_derivative_of_exp_times_cube(backend, order, x):
    assert nth(exp_cube, order, backend)(x) == pytest.approx(exp_cube_nth(x, order), rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_grad_of_value_and_grad(backend):
    assert tl.grad(slope_of)(0.5) == pytest.approx(exp_cube_nth(0.5, 2))
    assert tl.compile(slope_of)(0.5) == pytest.approx(exp_cube_nth(0.5, 1))
