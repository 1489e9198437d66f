"""Helpers for the native array tests (tests/backend/test_cpu_arrays.py).

- Layouts: `laid_out(x, layout)` for each of `LAYOUTS`.
- Comparing native results with the interpreter's: `as_native` (the documented
  difference: a NumPy scalar result is a Python scalar natively) and
  `assert_close` (same structure, types, dtypes and shapes; values within a
  tolerance).
- Finite differences over values that are floats, arrays or tuples of those:
  `random_like`, `inner`, `directional`.
- `OBJECTIVES`: for the differentiable array programs of the corpus, a scalar
  objective in the supported subset, `sum_k <out_k, v_k>` over the program's
  float outputs, whose gradient is the program's vector-Jacobian product with
  the cotangent `v` (a tuple shaped like those outputs).
- `rows_recurrence`, `closure_over_arrays`, `tuple_of_arrays` and their
  objectives `d_*`: gradients through loops, closures and tuples.
- `workloads()`: the array workloads of the benchmarks (benchmarks/workloads.py,
  a verbatim copy of shared/bench/workloads.py).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from corpus_support import CORPUS_DIR, load_module

REPO = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------
# Layouts.

LAYOUTS = ("C", "F", "strided", "reversed", "batch_transposed")


def laid_out(x: np.ndarray, layout: str) -> np.ndarray:
    """An array equal to `x` with the given memory layout: C order, Fortran order, every
    other item of a bigger array along the last axis, all axes reversed, or the first two
    axes of a C array swapped back (so that its leading axes do not merge). Rank 0 stays."""
    if x.ndim == 0 or layout == "C":
        return x
    if layout == "F":
        return np.asfortranarray(x)
    if layout == "strided":
        return np.repeat(x, 2, axis=-1)[..., ::2]
    if layout == "reversed":
        return np.flip(np.flip(x).copy())
    if x.ndim > 1:
        return np.swapaxes(np.swapaxes(x, 0, 1).copy(), 0, 1)
    return x


# --------------------------------------------------------------------------
# Comparing results.


def as_native(value: Any) -> Any:
    """`value` as native code returns it: NumPy scalars become Python scalars
    (docs/architecture.md, "a 0-d result of NumPy is a Python float natively")."""
    if isinstance(value, tuple):
        return tuple(as_native(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def assert_close(
    expected: Any, actual: Any, rtol: float, atol: float, path: str = "result"
) -> None:
    """Same structure, Python types, dtypes and shapes as `expected`; every float within
    `atol + rtol * |expected|` of it (NaN equal to NaN), everything else equal."""
    assert type(expected) is type(actual), f"{path}: {actual!r}, expected {expected!r}"
    if isinstance(expected, tuple):
        assert len(expected) == len(actual), f"{path}: {actual!r}, expected {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_close(e, a, rtol, atol, f"{path}[{i}]")
    elif isinstance(expected, np.ndarray):
        assert (expected.dtype, expected.shape) == (actual.dtype, actual.shape), (
            f"{path}: {actual.dtype}{actual.shape}, expected {expected.dtype}{expected.shape}"
        )
        close = np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
        assert close, f"{path}: {actual!r}, expected {expected!r}"
    elif isinstance(expected, float):
        close = bool(np.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True))
        assert close, f"{path}: {actual!r}, expected {expected!r}"
    else:
        assert expected == actual, f"{path}: {actual!r}, expected {expected!r}"


# --------------------------------------------------------------------------
# Finite differences over floats, float arrays and tuples of those.


def random_like(x: Any, rng: np.random.Generator) -> Any:
    """A standard normal value shaped like `x`: a tuple for a tuple, an array for a float
    array, a float for a float; None for what has no derivative (ints, bools, int arrays)."""
    if isinstance(x, tuple):
        return tuple(random_like(e, rng) for e in x)
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        return rng.standard_normal(x.shape)
    if isinstance(x, float | np.floating):
        return float(rng.standard_normal())
    return None


def inner(a: Any, b: Any) -> float:
    """The inner product of two values of one structure (None pairs with anything as 0)."""
    if a is None or b is None:
        return 0.0
    if isinstance(a, tuple):
        return sum((inner(x, y) for x, y in zip(a, b, strict=True)), 0.0)
    return float(np.sum(np.asarray(a) * np.asarray(b)))


def shifted(x: Any, alpha: float, u: Any) -> Any:
    """x + alpha * u over a structure (None in `u`: that part unchanged)."""
    if u is None:
        return x
    if isinstance(x, tuple):
        return tuple(shifted(e, alpha, d) for e, d in zip(x, u, strict=True))
    return x + alpha * u


def directional(
    fn: Callable[..., Any], args: tuple[Any, ...], directions: dict[int, Any], h: float = 1e-6
) -> float:
    """(fn(args + h u) - fn(args - h u)) / 2h, where u moves argument i by `directions[i]`."""

    def at(sign: float) -> float:
        moved = tuple(
            shifted(a, sign * h, directions[i]) if i in directions else a
            for i, a in enumerate(args)
        )
        return float(fn(*moved))

    return (at(1.0) - at(-1.0)) / (2.0 * h)


def with_random_floats(x: Any, rng: np.random.Generator) -> Any:
    """`x` with each float array replaced by standard normal values of its shape: values with
    no ties and no zeros, so kinks (`abs`, `maximum`, `max`) are almost surely not hit."""
    if isinstance(x, tuple):
        return tuple(with_random_floats(e, rng) for e in x)
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        return rng.standard_normal(x.shape)
    return x


# --------------------------------------------------------------------------
# Objectives: sum_k <out_k, v_k> of a corpus program's float outputs.

A = load_module(CORPUS_DIR / "arrays.py")
M = load_module(CORPUS_DIR / "mixed.py")


def d_elementwise(x, y, v):
    a, b, c = A.elementwise(x, y)
    return np.sum(a * v[0]) + np.sum(b * v[1]) + np.sum(c * v[2])


def d_scalar_broadcast(x, a, n, v):
    p, q, r = A.scalar_broadcast(x, a, n)
    return np.sum(p * v[0]) + np.sum(q * v[1]) + np.sum(r * v[2])


def d_broadcast_shapes(col, row, v):
    p, q = A.broadcast_shapes(col, row)
    return np.sum(p * v[0]) + np.sum(q * v[1])


def d_ufuncs(x, v):
    a, b, c, d, e, f = A.ufuncs(x)
    s = np.sum(a * v[0]) + np.sum(b * v[1]) + np.sum(c * v[2])
    return s + np.sum(d * v[3]) + np.sum(e * v[4]) + np.sum(f * v[5])


def d_relu_and_friends(x, y, v):
    a, b, c, d = A.relu_and_friends(x, y)
    return np.sum(a * v[0]) + np.sum(b * v[1]) + np.sum(c * v[2]) + np.sum(d * v[3])


def d_sigmoid(x, v):
    return np.sum(A.sigmoid(x) * v[0])


def d_reductions(a, v):
    s, m, x = A.reductions(a)
    return s * v[0] + m * v[1] + x * v[2]


def d_reductions_axis(a, v):
    p, q, r, s, t = A.reductions_axis(a)
    total = np.sum(p * v[0]) + np.sum(q * v[1]) + np.sum(r * v[2])
    return total + np.sum(s * v[3]) + np.sum(t * v[4])


def d_dot_vectors(x, y, v):
    p, q = A.dot_vectors(x, y)
    return p * v[0] + q * v[1]


def d_matmul(a, b, v):
    p, q = A.matmul(a, b)
    return np.sum(p * v[0]) + np.sum(q * v[1])


def d_matvec(a, x, v):
    p, q = A.matvec(a, x)
    return np.sum(p * v[0]) + np.sum(q * v[1])


def d_transposes(a, v):
    p, q, r, s = A.transposes(a)
    return np.sum(p * v[0]) + np.sum(q * v[1]) + np.sum(r * v[2]) + np.sum(s * v[3])


def d_reshapes(a, v):
    p, q, r, s = A.reshapes(a)
    return np.sum(p * v[0]) + np.sum(q * v[1]) + np.sum(r * v[2]) + np.sum(s * v[3])


def d_running_max_rows(a, v):
    p, q = A.running_max_rows(a)
    return np.sum(p * v[0]) + np.sum(q * v[1])


def d_softmax(x, v):
    return np.sum(A.softmax(x) * v[0])


def d_mlp_layer(w, x, b, v):
    return np.sum(A.mlp_layer(w, x, b) * v[0])


def d_gradient_descent(xs, ys, lr, v):
    w, loss = A.gradient_descent(xs, ys, lr)
    return np.sum(w * v[0]) + loss * v[1]


def d_array_aug_assign(x, y, v):
    return np.sum(A.array_aug_assign(x, y) * v[0])


def d_pairwise_sq_dists(a, v):
    return np.sum(A.pairwise_sq_dists(a) * v[0])


def d_euler_ode(y0, k, steps, v):
    y, t = M.euler_ode(y0, k, steps)
    return np.sum(y * v[0]) + t * v[1]


def d_power_iteration(a, iters, v):
    lam, w = M.power_iteration(a, iters)
    return lam * v[0] + np.sum(w * v[1])


def d_array_closure_map(x, c, v):
    return np.sum(M.array_closure_map(x, c) * v[0])


def d_index_loop_sum(x, v):
    return A.index_loop_sum(x) * v[0]


def d_row_norms_loop(a, v):
    return A.row_norms_loop(a) * v[0]


def d_linear_regression_loss(w, xs, ys, v):
    return A.linear_regression_loss(w, xs, ys) * v[0]


#: corpus program name -> its objective (the program's arguments, then the cotangent).
OBJECTIVES: dict[str, Callable[..., Any]] = {
    f"{module}.{fn.__name__.removeprefix('d_')}": fn
    for module, fns in (
        ("arrays", (
            d_elementwise, d_scalar_broadcast, d_broadcast_shapes, d_ufuncs, d_relu_and_friends,
            d_sigmoid, d_reductions, d_reductions_axis, d_dot_vectors, d_matmul, d_matvec,
            d_transposes, d_reshapes, d_running_max_rows, d_softmax, d_mlp_layer,
            d_gradient_descent, d_array_aug_assign, d_pairwise_sq_dists, d_index_loop_sum,
            d_row_norms_loop, d_linear_regression_loss,
        )),
        ("mixed", (d_euler_ode, d_power_iteration, d_array_closure_map)),
    )
    for fn in fns
}  # fmt: skip


def float_outputs(value: Any) -> tuple[Any, ...]:
    """The outputs of a program result that `OBJECTIVES` pair with a cotangent: the result's
    elements (the result itself when it is not a tuple)."""
    return value if isinstance(value, tuple) else (value,)


# --------------------------------------------------------------------------
# Gradients through a loop over rows carrying an array, closures capturing arrays,
# tuples of arrays; with their objectives.


def rows_recurrence(x, w):
    # a for loop over the rows of x carrying an array
    h = np.zeros(x.shape[1])
    for i in range(x.shape[0]):
        h = np.tanh(x[i] * w + h * 0.5)
    return h


def closure_over_arrays(x, w, n):
    # a closure capturing two arrays, called in a loop and on a second value
    step = lambda v: np.tanh(v * w + x)
    h = x
    for _ in range(n):
        h = step(h)
    return h, step(x * 2.0)


def tuple_of_arrays(params, x):
    # tuples of arrays in and out
    a, b = params
    y = x @ a + b
    return (y * y, np.sum(y, axis=0)), x * b[0]


def d_rows_recurrence(x, w, v):
    return np.sum(rows_recurrence(x, w) * v[0])


def d_closure_over_arrays(x, w, n, v):
    p, q = closure_over_arrays(x, w, n)
    return np.sum(p * v[0]) + np.sum(q * v[1])


def d_tuple_of_arrays(params, x, v):
    (p, q), r = tuple_of_arrays(params, x)
    return np.sum(p * v[0][0]) + np.sum(q * v[0][1]) + np.sum(r * v[1])


# --------------------------------------------------------------------------
# The benchmark workloads.


def workloads() -> ModuleType:
    """benchmarks/workloads.py, loaded by path (once) as `tapeless_bench_workloads`."""
    name = "tapeless_bench_workloads"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "workloads.py")
        assert spec is not None and spec.loader is not None
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]
