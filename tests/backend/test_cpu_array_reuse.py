"""Native arrays reused rather than made: accumulations, split tuples, shape captures.

- `a + p`, `p` a matrix product, is computed by BLAS adding `p` into `a`'s memory
  where `a` is a block read for the last time and held by nothing else
  (`fusion.Plan.accumulations`); everywhere else it must still be the sum
  NumPy gives, and must never write into an argument, a view's base, or an
  array read later.
- A tuple read only by `getitem`s hands its arrays on (`frame.Frame`).
- A closure that reads an array for its shape only does not keep it alive
  (`fusion.shape_captured`).

The oracles are NumPy and the interpreter; the counts of allocations and of
live bytes come from `memory.stats()`.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapeless as tl
from tapeless.backend.cpu import memory
from tapeless.errors import TapelessShapeError

pytestmark = pytest.mark.native


def into_argument(w, x, y):
    return w + x @ y  # w is the caller's: never written


def read_later(x, y):
    a = x @ y
    b = a + x @ y
    return b, a


def shared_with_a_view(x, y):
    a = x * 2.0
    v = a[1:]
    s = a + x @ y
    return s, v


def transposed_accumulator(x, y):
    a = (x * 2.0).T
    return a + y @ x.T


def broadcast_accumulator(x, y, c):
    row = np.ones((1, y.shape[1])) * c
    return row + x @ y


def transposed_factor(x, d):
    a = (x.T @ d) * 3.0
    return a + x.T @ d


def steps(acc, xs, ys):
    for i in range(xs.shape[0]):
        acc = acc + xs[i].T @ ys[i]
    return acc


def _matrices(*shapes: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(sum(map(sum, shapes)))
    return [rng.standard_normal(s) for s in shapes]


CASES = [
    (into_argument, lambda: _matrices((3, 5), (3, 4), (4, 5))),
    (read_later, lambda: _matrices((3, 4), (4, 4))),
    (shared_with_a_view, lambda: _matrices((3, 4), (4, 4))),
    (transposed_accumulator, lambda: _matrices((4, 3), (3, 3))),
    (broadcast_accumulator, lambda: [*_matrices((3, 4), (4, 5)), 0.5]),
    (transposed_factor, lambda: _matrices((3, 4), (3, 5))),
    (steps, lambda: _matrices((4, 6), (7, 3, 4), (7, 3, 6))),
]


@pytest.mark.parametrize("fn, make", CASES, ids=[fn.__name__ for fn, _ in CASES])
def test_sums_of_products_equal_numpy_and_leave_their_inputs_alone(fn, make) -> None:
    args = make()
    copies = [np.copy(a) for a in args]
    native = tl.compile(fn)
    for _ in range(2):  # (the second call runs on blocks the first one freed)
        got = native(*args)
        want = fn(*copies)
        for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,), strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)
        for a, c in zip(args, copies, strict=True):
            np.testing.assert_array_equal(a, c)
    assert native.natives, "ran on the interpreter"


def test_a_loop_accumulates_in_place() -> None:
    acc, xs, ys = _matrices((4, 6), (50, 3, 4), (50, 3, 6))
    native = tl.compile(steps)
    native(acc, xs, ys)
    before = memory.stats().allocations
    got = native(acc, xs, ys)
    made = memory.stats().allocations - before
    np.testing.assert_allclose(got, steps(acc, xs, ys), rtol=1e-13)
    # The first step copies the argument's sum into a new block; the next 49 add into it.
    assert made <= 2, f"{made} arrays made by 50 accumulations"


def test_a_product_that_does_not_fit_raises_at_its_expression() -> None:
    native = tl.compile(read_later)
    x, y = _matrices((3, 4), (5, 4))
    with pytest.raises(TapelessShapeError, match=r"`x @ y` .* \(3, 4\) and \(5, 4\)"):
        native(x, y)


# -- split tuples -------------------------------------------------------------------------


def pair(x):
    return np.sin(x), x * 2.0


def reads_each_once(x, w):
    s, t = pair(x)
    return s + t @ w


def reads_one_twice(x, w):
    p = pair(x)
    return p[0] + p[1] @ w + p[0]


def reads_one(x, w):
    p = pair(x)
    return p[1] @ w


@pytest.mark.parametrize("fn", [reads_each_once, reads_one_twice, reads_one])
def test_arrays_taken_out_of_a_tuple_are_freed_once(fn) -> None:
    x, w = _matrices((4, 4), (4, 4))
    native, oracle = tl.compile(fn), tl.compile(fn, backend="interp")
    with memory.poisoned():
        live, bad = memory.stats().live, memory.bad_frees()
        for _ in range(2):
            np.testing.assert_allclose(native(x, w), oracle(x, w), rtol=1e-13)
        assert memory.bad_frees() == bad
        assert memory.stats().live == live
    assert native.natives


# -- closures that read shapes -------------------------------------------------------------


def recurrent(w, xs):
    h = np.zeros((xs.shape[1], w.shape[0]))
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ w + h @ w + 0.1)
    return np.sum(h)


def test_a_loop_gradient_keeps_only_what_its_backward_pass_computes_with() -> None:
    rng = np.random.default_rng(5)
    w, xs = 0.05 * rng.standard_normal((64, 64)), rng.standard_normal((100, 16, 64))
    grad = tl.grad(recurrent)
    grad(w, xs)
    memory.reset_peak()
    base = memory.stats().live_bytes
    got = grad(w, xs)
    peak = memory.stats().peak_bytes - base
    np.testing.assert_allclose(got, tl.grad(recurrent, backend="interp")(w, xs), rtol=1e-10, atol=1e-12)
    # Each step's backpropagator needs its tanh (16 x 64 floats, 8 KiB); the sums and
    # products it reads the shapes of are not kept. With them it held 5 arrays a step.
    step = 16 * 64 * 8
    assert peak <= 100 * step + 20 * step, f"peak {peak} bytes"
    assert grad.natives
