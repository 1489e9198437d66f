"""Higher-order and in-language derivatives in native code, against closed
forms: derivatives of orders 1-3 (4 where the graphs stay small) through
loops, recursion, `if` and closures, whose second and higher orders carry AD
environments (`Env`) natively; `grad` called inside compiled code; and the
classic perturbation-confusion examples."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nested_programs import (
    POLY,
    branchy,
    closure_power,
    confusion,
    confusion_mul,
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

pytestmark = pytest.mark.native


def native_nth(f, n):
    return nth(f, n, backend="cpu")


@pytest.mark.parametrize("order", [1, 2, 3])
@given(x=st.floats(-2.0, 2.0))
def test_nth_derivative_of_a_while_loop(order, x):
    want = POLY.deriv(order)(x)
    assert native_nth(poly_while, order)(x) == pytest.approx(want, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("order", [1, 2, 3])
@given(x=st.floats(0.5, 1.5), n=st.integers(0, 6))
def test_nth_derivative_of_recursion(order, x, n):
    got = native_nth(rec_pow, order)(x, n)
    assert got == pytest.approx(power_rule(x, n, order), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@given(x=st.sampled_from([-1.5, -0.5, 0.5, 1.5]))
def test_nth_derivative_through_if(order, x):
    want = np.poly1d([1.0, 0, 0, 0, 0]) if x > 0 else np.poly1d([1.0, 0, 0])
    assert native_nth(branchy, order)(x) == pytest.approx(want.deriv(order)(x))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_nth_derivative_through_closures(order):
    want = np.poly1d([1.0, 0, 0, 0, 0]).deriv(order)(1.3)
    assert native_nth(closure_power, order)(1.3) == pytest.approx(want)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@given(x=st.floats(-3.0, 3.0))
def test_nth_derivative_of_sin(order, x):
    assert native_nth(sine, order)(x) == pytest.approx(sin_nth(x, order), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@given(x=st.floats(-2.0, 2.0))
def test_nth_derivative_of_exp_times_cube(order, x):
    want = exp_cube_nth(x, order)
    assert native_nth(exp_cube, order)(x) == pytest.approx(want, rel=1e-10, abs=1e-10)


def test_perturbation_confusion():
    assert tl.compile(confusion)(2.5) == 2.5
    d_confusion, d_confusion_mul = tl.grad(confusion), tl.grad(confusion_mul)
    for x in (-1.0, 0.5, 2.5):
        assert d_confusion(x) == 1.0
        assert d_confusion_mul(x) == pytest.approx(2 * x)
    assert d_confusion.natives and d_confusion_mul.natives  # compiled, not interpreted


def test_grad_inside_compiled_code():
    # x^2 + y^2 x, and its derivative 2x + y^2
    assert tl.compile(nested_argnums)(1.5, 2.0) == 1.5**2 + 4.0 * 1.5
    assert tl.grad(nested_argnums)(1.5, 2.0) == pytest.approx(2 * 1.5 + 4.0)
    assert tl.grad(slope_of)(0.5) == pytest.approx(exp_cube_nth(0.5, 2))
    assert tl.compile(slope_of)(0.5) == pytest.approx(exp_cube_nth(0.5, 1))
