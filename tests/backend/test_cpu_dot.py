"""`np.dot` of arrays of rank above 2 natively (backend/cpu/contract.py), against NumPy.

- Results equal NumPy's (float64 within 1e-12 relative, int64 exactly; dtype and
  shape equal) for every pair of ranks up to 4 with one above 2, with size-0 and
  size-1 axes and operands in C, F, strided, reversed and batch-transposed
  layouts; hypothesis draws shapes, layouts and dtypes (float, int, mixed).
- Gradients of `np.sum(np.dot(x, y) * w)` by `tl.grad`: equal to the
  interpreter's and, since the objective is linear in each operand, to
  central differences along random directions.
- Shape errors: the `TapelessShapeError` of `@`, naming the expression and both
  shapes; NumPy's `ValueError` where hypothesis draws operands that do not align.
- Every signature ran natively (none refused), but `np.dot` of two bool arrays,
  which native code refuses (it runs on the interpreter).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from array_support import LAYOUTS, directional, inner, laid_out
from hypothesis import given
from hypothesis import strategies as st

import tapeless as tl
from tapeless.errors import TapelessShapeError

pytestmark = pytest.mark.native

RTOL = ATOL = 1e-12
#: Gradients against the interpreter's (summation order differs), and central differences.
GRAD_RTOL, GRAD_ATOL = 1e-10, 1e-12
FD_RTOL, FD_ATOL = 1e-6, 1e-8

def dot(x, y):
    return np.dot(x, y)


def weighted_dot(x, y, w):
    return np.sum(np.dot(x, y) * w)


@functools.cache
def native(fn):
    """`tl.compile(fn)`, made once (it compiles per signature on its first call)."""
    return tl.compile(fn)


@functools.cache
def gradients(wrt: tuple[int, ...]):
    """The native and the interpreter's gradient of `weighted_dot` (made once)."""
    return tl.grad(weighted_dot, wrt), tl.grad(weighted_dot, wrt, backend="interp")


def assert_numpys(x: np.ndarray, y: np.ndarray) -> None:
    """np.dot(x, y) natively: NumPy's dtype, shape and values (exact for ints)."""
    want, got = np.dot(x, y), native(dot)(x, y)
    assert (got.dtype, got.shape) == (want.dtype, want.shape), (got.dtype, got.shape, want.dtype, want.shape)
    if want.dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    else:
        np.testing.assert_array_equal(got, want)


def assert_native(fn) -> None:
    assert fn.natives and not fn._native.refused, "ran on the interpreter"


def shapes_of(
    rx: int, ry: int, lead: tuple[int, ...], k: int, batch: tuple[int, ...], n: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Operand shapes of np.dot for ranks rx and ry: x (lead..., k), y (batch..., k, n) or (k,)."""
    x = (*lead[: rx - 1], k)
    y = (k,) if ry == 1 else (*batch[: ry - 2], k, n)
    return x, y


#: Rank pairs with an operand of rank above 2.
RANKS = [(1, 3), (3, 1), (2, 3), (3, 2), (3, 3), (4, 2), (2, 4), (4, 1), (1, 4), (4, 4)]
#: (lead, k, batch, n): sizes of x's leading axes, the contracted axis, y's batch axes and
#: y's last axis: generic, with size-1 axes, with an empty contraction, with empty results.
SIZES = [
    ((3, 2, 2), 4, (2, 3), 5),
    ((1, 3, 1), 1, (1, 2), 1),
    ((2, 3, 2), 0, (2, 1), 3),
    ((0, 2, 3), 3, (2, 0), 2),
    ((2, 1, 2), 3, (3, 2), 0),
]


@pytest.mark.parametrize("ranks", RANKS, ids=str)
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "x".join(map(str, (*s[0], s[1], *s[2], s[3]))))
def test_dot_matches_numpy_in_every_layout(ranks, sizes) -> None:
    rng = np.random.default_rng(0)
    xs, ys = shapes_of(*ranks, *sizes)
    x, y = rng.standard_normal(xs), rng.standard_normal(ys)
    for x_layout, y_layout in itertools.product(LAYOUTS, LAYOUTS):
        assert_numpys(laid_out(x, x_layout), laid_out(y, y_layout))
    assert_native(native(dot))


@st.composite
def dot_operands(draw) -> tuple[np.ndarray, np.ndarray]:
    """np.dot operands of drawn ranks (one above 2), sides 0 to 3, contracted lengths equal
    but one time in five, float or int each, each in a drawn layout."""
    rx, ry = draw(st.sampled_from(RANKS))
    side = st.integers(0, 3)
    lead, batch = (tuple(draw(side) for _ in range(3)) for _ in range(2))
    k, n = draw(side), draw(side)
    xs, ys = shapes_of(rx, ry, lead, k, batch, n)
    if draw(st.integers(0, 4)) == 0:
        ys = tuple(draw(side) if i == max(len(ys) - 2, 0) else s for i, s in enumerate(ys))
    out = []
    for shape in (xs, ys):
        values = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(shape)
        if draw(st.booleans()):
            values = np.round(values * 4.0).astype(np.int64)
        out.append(laid_out(values, draw(st.sampled_from(LAYOUTS))))
    return out[0], out[1]


@given(dot_operands())
def test_dot_of_drawn_operands_matches_numpy(operands) -> None:
    x, y = operands
    try:
        np.dot(x, y)
    except ValueError:
        with pytest.raises(TapelessShapeError):
            native(dot)(x, y)
        return
    assert_numpys(x, y)
    assert_native(native(dot))


def test_dot_of_bool_arrays_runs_on_the_interpreter() -> None:
    # NumPy's bool np.dot is a logical or of ands: native code refuses it
    x, y = np.ones((2, 3, 2), dtype=bool), np.ones((2, 2), dtype=bool)
    fn = tl.compile(dot)
    np.testing.assert_array_equal(fn(x, y), np.dot(x, y))
    assert fn._native.refused and not fn.natives


@pytest.mark.parametrize("ranks", RANKS, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradient_matches_the_interpreter_and_central_differences(ranks, layout) -> None:
    rng = np.random.default_rng(ranks[0] * 10 + ranks[1])
    xs, ys = shapes_of(*ranks, (3, 2, 2), 4, (2, 3), 5)
    x, y = (laid_out(rng.standard_normal(s), layout) for s in (xs, ys))
    w = rng.standard_normal(np.dot(x, y).shape)
    grad, reference = gradients((0, 1))
    got = grad(x, y, w)
    for g, want, like in zip(got, reference(x, y, w), (x, y), strict=True):
        assert g.shape == like.shape and g.dtype == np.float64
        np.testing.assert_allclose(g, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    u = {0: rng.standard_normal(xs), 1: rng.standard_normal(ys)}
    fd = directional(native(weighted_dot), (x, y, w), u)
    assert inner(got, (u[0], u[1])) == pytest.approx(fd, rel=FD_RTOL, abs=FD_ATOL)
    assert_native(grad)


def test_gradient_through_an_int_operand() -> None:
    # the int operand is promoted to floats for the sensitivity of the float one
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 4)), rng.integers(-3, 4, (2, 4, 5))
    w = rng.standard_normal((3, 2, 5))
    grad, reference = gradients((0,))
    (got,), (want,) = grad(x, y, w), reference(x, y, w)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    np.testing.assert_allclose(got, np.einsum("jkn,ijn->ik", y, w), rtol=GRAD_RTOL)
    assert_native(grad)


def misaligned_dot(x, y):
    z = x * 2.0
    return np.dot(z, y)


def sum_of_misaligned_dot(x, y):
    return np.sum(misaligned_dot(x, y))


@pytest.mark.parametrize(
    "fn,xs,ys",
    [
        (tl.compile(misaligned_dot), (2, 3, 4), (2, 3, 5)),
        (tl.compile(misaligned_dot), (2, 3, 4), (3,)),
        (tl.grad(sum_of_misaligned_dot), (3, 4), (2, 5, 3, 1)),
    ],
    ids=["rank_3", "vector", "grad"],
)
def test_shape_errors_name_the_expression_and_both_shapes(fn, xs, ys) -> None:
    with pytest.raises(TapelessShapeError) as info:
        fn(np.ones(xs), np.ones(ys))
    message = str(info.value)
    assert "`np.dot(z, y)`" in message and str(xs) in message and str(ys) in message, message
    assert info.value.loc is not None and info.value.loc.filename == __file__
    assert_native(fn)
