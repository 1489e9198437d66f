"""Native arrays (issue 6) against their oracles: the interpreter and finite differences.

- Every array program of the corpus runs with `tl.compile` (cpu) on
  hypothesis-drawn arguments with the interpreter's result (a NumPy scalar
  result is a Python scalar natively, as documented) or exception type:
  bit for bit where every operation is exact, within `RTOL`/`ATOL` where
  summation order or the transcendental functions differ (`INEXACT` says
  which and why). Whether each ran natively is pinned: `REFUSED` lists the
  programs native code hands to the interpreter, and why.
- Broadcasting corner cases (size-1 and size-0 axes, rank 0, shapes that do not
  broadcast, non-contiguous layouts) and matrix products with empty axes.
- Gradients natively: equal to the interpreter's, and the VJP identity
  <grad <g(x), v>, u> == <(g(x + h u) - g(x - h u)) / 2h, v> by central
  differences, for the corpus's differentiable array programs
  (`array_support.OBJECTIVES`), loops over rows carrying an array, closures
  capturing arrays, tuples of arrays, and the benchmark workloads.
- Shape errors name the expression, both shapes and the line.
- Memory: no array outlives the calls that made it, a loop of 10^4 iterations
  over a 1 MB array holds a few arrays at a time, and results returned to
  Python stay valid.
"""

from __future__ import annotations

import copy
import functools
import gc
import inspect

import numpy as np
import pytest
from array_support import (
    LAYOUTS,
    OBJECTIVES,
    as_native,
    assert_close,
    closure_over_arrays,
    d_closure_over_arrays,
    d_rows_recurrence,
    d_tuple_of_arrays,
    directional,
    float_outputs,
    inner,
    laid_out,
    random_like,
    rows_recurrence,
    tuple_of_arrays,
    with_random_floats,
    workloads,
)
from corpus_support import (
    Outcome,
    Program,
    arrays,
    assert_same_value,
    load_corpus,
    run,
    same_exception,
)
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tapeless as tl
from tapeless.backend.cpu import memory
from tapeless.errors import TapelessShapeError

pytestmark = pytest.mark.native

ARRAY_PROGRAMS = [p for p in load_corpus() if "arrays" in p.tags]

#: Array programs native code refuses (they run on the interpreter), and why.
REFUSED: dict[str, str] = {}

#: Programs whose results may differ from the interpreter's in the last bits, and why.
#: Everything else must be bit for bit (the same IEEE operations in the same order).
SUMS = "summation order (NumPy sums pairwise; native code adds along the loop)"
LIBM = "transcendental functions (native code's own vector math or libm; NumPy's SIMD loops)"
BLAS = "products (native code calls dgemm; NumPy may take gemv or its own dot loop)"
INEXACT = {
    "arrays.ufuncs": LIBM,
    "arrays.sigmoid": LIBM,
    "arrays.reductions": SUMS,
    "arrays.reductions_axis": SUMS,
    "arrays.dot_vectors": BLAS,
    "arrays.matmul": BLAS,
    "arrays.matvec": BLAS,
    "arrays.transposes": BLAS,
    "arrays.row_norms_loop": SUMS,
    "arrays.softmax": LIBM,
    "arrays.mlp_layer": LIBM,
    "arrays.linear_regression_loss": BLAS,
    "arrays.gradient_descent": BLAS,
    "arrays.scalars_from_arrays": SUMS,
    "arrays.bool_arrays": SUMS,
    "arrays.pairwise_sq_dists": SUMS,
    "mixed.power_iteration": BLAS,
    "mixed.array_closure_map": LIBM,
}
#: Corpus values are O(1) to O(100): relative 1e-12, and an absolute floor of 1e-12 that only
#: forgives a sum that cancels to near zero.
RTOL = ATOL = 1e-12

#: Programs known to fail natively (a strict xfail each: the fix flips it).
XFAIL: dict[str, str] = {}
GRAD_XFAIL: dict[str, str] = {}


def params(programs: list[Program], xfail: dict[str, str]) -> list[object]:
    """`programs` as pytest parameters, those in `xfail` marked strict xfail."""
    return [
        pytest.param(
            p,
            id=p.name,
            marks=[pytest.mark.xfail(strict=True, reason=xfail[p.name])] if p.name in xfail else [],
        )
        for p in programs
    ]


#: A known failure needs one example: no more, and no shrinking.
ONCE = settings(max_examples=1, phases=[Phase.generate])


@functools.cache
def compiled(fn, backend: str = "cpu"):
    """`tl.compile(fn, backend=...)`, made once per function: it compiles per signature on its
    first call, so tests that share it share the compilation."""
    return tl.compile(fn, backend=backend)


def checked(name: str, strategy: st.SearchStrategy, check) -> None:
    """Run `check` on arguments drawn from `strategy` (one example database entry per name);
    a program of `XFAIL` only `ONCE`."""
    test = given(strategy)(check)
    if name in XFAIL:
        test = ONCE(test)
    test.hypothesis.inner_test._hypothesis_internal_add_digest = name.encode()
    test()


def assert_like_interpreter(expected: Outcome, actual: Outcome, exact: bool, native: bool) -> None:
    """`actual` (cpu) raised the interpreter's exception type, or returned its value: bit
    for bit when `exact`, else within RTOL/ATOL; NumPy scalars as Python ones when `native`."""
    if expected.error is not None:
        assert actual.error is not None, (
            f"interpreter raises {expected.error!r}, cpu returns {actual.value!r}"
        )
        assert same_exception(expected.error, actual.error), (expected.error, actual.error)
        return
    if actual.error is not None:
        raise AssertionError(f"interpreter returns {expected.value!r}") from actual.error
    want = as_native(expected.value) if native else expected.value
    if exact:
        assert_same_value(want, actual.value)
    else:
        assert_close(want, actual.value, RTOL, ATOL)


# --------------------------------------------------------------------------
# 1. The corpus, natively, against the interpreter.


@pytest.mark.parametrize("program", params(ARRAY_PROGRAMS, XFAIL))
def test_corpus_array_program_matches_the_interpreter(program: Program) -> None:
    native = compiled(program.fn)
    interp = compiled(program.fn, "interp")
    refused = program.name in REFUSED

    def check(args):
        expected = run(interp, copy.deepcopy(args))
        actual = run(native, args)
        assert_like_interpreter(expected, actual, program.name not in INEXACT, not refused)

    for args in program.examples:
        check(args)
    checked(program.name, program.args, check)
    if refused:
        assert native._native.refused and not native.natives, f"{program.name} runs natively now"
    else:
        assert native.natives and not native._native.refused, f"{program.name} was refused"


def test_refused_and_inexact_name_corpus_programs() -> None:
    names = {p.name for p in ARRAY_PROGRAMS}
    assert set(REFUSED) | set(INEXACT) | set(GRAD_XFAIL) <= names


def min_max(x, y):
    return np.maximum(x, y), np.minimum(x, y), np.maximum(x, 0.0)


def test_maximum_and_minimum_ties_take_numpys_operand() -> None:
    # NumPy returns the second operand when they compare equal: np.maximum(-0.0, 0.0) is 0.0
    x, y = -np.zeros(3), np.zeros(3)
    for args in ((x, y), (y, x)):
        assert_same_value(min_max(*args), tl.compile(min_max)(*args))


# --------------------------------------------------------------------------
# Broadcasting corner cases: size-1 and size-0 axes, rank 0, mismatches, layouts.


def broadcast_chain(x, y):
    z = np.maximum(x * y - 1.5, y / (x * x + 1.0)) + x
    return z, -z * 2.0, z > y


def broadcast_sums(x, y):
    return np.sum(x * y + x), np.max(x - y)


def products(a, b):
    return a @ b, np.dot(a, b)


@st.composite
def operand_pairs(draw) -> tuple[np.ndarray, np.ndarray]:
    """Two float arrays whose shapes broadcast (sizes 0 to 3, ranks 0 to 2, not both rank 0)
    or, one time in five, two arbitrary shapes; each in a drawn layout."""
    if draw(st.integers(0, 4)) == 0:
        shapes = (draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)) for _ in range(2))
    else:
        shapes = draw(
            hnp.mutually_broadcastable_shapes(
                num_shapes=2, min_dims=0, max_dims=2, min_side=0, max_side=3
            )
        ).input_shapes
    pair = tuple(laid_out(draw(arrays(s)), draw(st.sampled_from(LAYOUTS))) for s in shapes)
    # all rank 0: `test_operations_on_rank_0_arrays_give_scalars`
    assume(max(a.ndim for a in pair) > 0)
    return pair


@st.composite
def product_pairs(draw) -> tuple[np.ndarray, np.ndarray]:
    """Operands of `@` of ranks 1 and 2 with sides 0 to 3, inner sizes equal but one time in
    five, each in a drawn layout."""
    n, k, m = (draw(st.integers(0, 3)) for _ in range(3))
    k2 = k if draw(st.integers(0, 4)) else draw(st.integers(0, 3))
    left = (k,) if draw(st.booleans()) else (n, k)
    right = (k2,) if draw(st.booleans()) else (k2, m)
    return tuple(laid_out(draw(arrays(s)), draw(st.sampled_from(LAYOUTS))) for s in (left, right))


@pytest.mark.parametrize(
    "fn,strategy,exact",
    [
        (broadcast_chain, operand_pairs(), True),
        (broadcast_sums, operand_pairs(), False),
        (products, product_pairs(), False),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_broadcasting_corner_cases_match_the_interpreter(fn, strategy, exact) -> None:
    native = tl.compile(fn)
    interp = tl.compile(fn, backend="interp")

    def check(pair):
        assert_like_interpreter(run(interp, pair), run(native, pair), exact, native=True)

    checked(fn.__name__, strategy, check)
    assert native.natives and not native._native.refused


def rank_0_operations(x, y):
    return x + y, x * y - 1.5, np.exp(x), x > y


def test_operations_on_rank_0_arrays_give_scalars() -> None:
    # NumPy gives np.float64 / np.bool_ (a Python float / bool natively, as documented)
    args = (np.array(1.0), np.array(2.0))
    want = as_native(tl.compile(rank_0_operations, backend="interp")(*args))
    assert_same_value(want, tl.compile(rank_0_operations)(*args))


def numpy_of_scalars(x, s):
    t = np.sum(x)
    return np.sqrt(t * t), np.exp(s), np.maximum(t, 0.0), np.sum(s)


def test_numpy_functions_of_scalars() -> None:
    args = (np.arange(3.0), 0.5)
    want = as_native(tl.compile(numpy_of_scalars, backend="interp")(*args))
    assert_same_value(want, tl.compile(numpy_of_scalars)(*args))


def sum_of_scalar(s):
    return np.sum(s * 2.0)


def test_gradient_of_np_sum_of_a_float() -> None:
    assert_same_value(2.0, tl.grad(sum_of_scalar)(0.5))


def transposed_sum(a):
    return np.sum(a.T * np.transpose(a).T.T)


def test_gradient_of_a_transpose() -> None:
    a = np.arange(6.0).reshape(2, 3)
    assert_same_value(2.0 * a, tl.grad(transposed_sum)(a))


# --------------------------------------------------------------------------
# 2. Gradients natively: against the interpreter and the VJP identity.

#: Native gradients against the interpreter's (summation order and libm differ).
GRAD_RTOL, GRAD_ATOL = 1e-9, 1e-12
#: Central differences with h = 1e-6 against the gradient's inner product.
FD_RTOL, FD_ATOL = 1e-5, 1e-6

GRAD_PROGRAMS = [p for p in ARRAY_PROGRAMS if p.name in OBJECTIVES]


def differentiable(args: tuple) -> tuple[int, ...]:
    """Indices of the float and float-array arguments."""
    rng = np.random.default_rng(0)
    return tuple(i for i, a in enumerate(args) if random_like(a, rng) is not None)


@functools.cache
def grads(objective, wrt: tuple[int, ...]):
    """The native and the interpreter's gradient of `objective` (made once: each compiles
    per signature on its first call)."""
    return tl.grad(objective, wrt), tl.grad(objective, wrt, backend="interp")


def assert_vjp(objective, program, args: tuple, v: tuple, rng: np.random.Generator):
    """tl.grad of `objective(*args, v)` natively: equal to the interpreter's, and its inner
    product with a random direction u equal to <(g(x + h u) - g(x - h u)) / 2h, v> for the
    program g (run natively). Returns the native gradient function."""
    wrt = differentiable(args)
    grad, reference = grads(objective, wrt)
    got = grad(*args, v)
    assert_close(reference(*args, v), got, GRAD_RTOL, GRAD_ATOL)
    directions = {i: random_like(args[i], rng) for i in wrt}
    lhs = sum(inner(g, directions[i]) for g, i in zip(got, wrt, strict=True))
    rhs = directional(lambda *a: inner(float_outputs(program(*a)), v), args, directions)
    assert lhs == pytest.approx(rhs, rel=FD_RTOL, abs=FD_ATOL)
    return grad


@pytest.mark.parametrize("program", params(GRAD_PROGRAMS, GRAD_XFAIL))
def test_corpus_vjp_natively(program: Program) -> None:
    objective = OBJECTIVES[program.name]
    native = compiled(program.fn)
    grads = []

    @given(program.args, st.integers(0, 2**32 - 1))
    def check(args, seed):
        rng = np.random.default_rng(seed)
        args = with_random_floats(args, rng)
        v = random_like(float_outputs(native(*args)), rng)
        grads.append(assert_vjp(objective, native, args, v, rng))

    (ONCE if program.name in GRAD_XFAIL else settings(max_examples=5))(check)()
    for grad in grads:
        assert grad.natives and not grad._native.refused


sides = st.integers(1, 4)
OWN = {
    "rows_recurrence": (
        rows_recurrence,
        d_rows_recurrence,
        st.tuples(sides, sides).map(lambda s: (np.zeros(s), np.zeros(s[1]))),
    ),
    "closure_over_arrays": (
        closure_over_arrays,
        d_closure_over_arrays,
        st.tuples(sides, st.integers(0, 4)).map(lambda s: (np.zeros(s[0]), np.zeros(s[0]), s[1])),
    ),
    "tuple_of_arrays": (
        tuple_of_arrays,
        d_tuple_of_arrays,
        st.tuples(sides, sides, sides).map(
            lambda s: ((np.zeros((s[1], s[2])), np.zeros(s[2])), np.zeros((s[0], s[1])))
        ),
    ),
}


@pytest.mark.parametrize("name", OWN)
@settings(max_examples=5)
@given(shapes=st.data(), seed=st.integers(0, 2**32 - 1))
def test_vjp_through_loops_closures_and_tuples(name, shapes, seed) -> None:
    program, objective, strategy = OWN[name]
    rng = np.random.default_rng(seed)
    args = with_random_floats(shapes.draw(strategy), rng)
    native = compiled(program)
    v = random_like(float_outputs(native(*args)), rng)
    assert_close(as_native(compiled(program, "interp")(*args)), native(*args), 1e-12, 1e-12)
    grad = assert_vjp(objective, native, args, v, rng)
    assert grad.natives and native.natives


#: The step of the central differences on a workload: the sum of 10^6 terms of `elementwise`
#: rounds by ~1e-10, which a step of 1e-5 would magnify to a relative 1e-5.
FD_STEP = {"elementwise": 1e-3}


@pytest.mark.parametrize("name", ["logistic", "mlp", "elementwise", "rnn"])
def test_workload_gradient_natively(name) -> None:
    spec = workloads().WORKLOADS[name]
    fn, args, wrt = spec["fn"], spec["args"](), spec["wrt"]
    grad, forward = tl.grad(fn, wrt), tl.compile(fn)
    got = grad(*args)
    assert grad.natives and not grad._native.refused
    assert_close(tl.grad(fn, wrt, backend="interp")(*args), got, GRAD_RTOL, GRAD_ATOL)
    assert forward(*args) == pytest.approx(fn(*args), rel=1e-12)
    # central differences along a few coordinates of each array of the argument
    h = FD_STEP.get(name, 1e-5)
    rng = np.random.default_rng(0)
    leaves = got if isinstance(got, tuple) else (got,)
    for leaf in range(len(leaves)):
        for _ in range(2):
            u = tuple(np.zeros_like(g) for g in leaves)
            coordinate = tuple(int(rng.integers(0, n)) for n in leaves[leaf].shape)
            u[leaf][coordinate] = 1.0
            direction = u if isinstance(got, tuple) else u[0]
            want = directional(forward, args, {wrt: direction}, h=h)
            assert leaves[leaf][coordinate] == pytest.approx(want, rel=1e-5, abs=1e-8)


# --------------------------------------------------------------------------
# 3. Shape errors.


def mismatched_broadcast(x, y):
    z = x * 2.0
    return z + y


def bad_matmul(a, b):
    c = a + 1.0
    return c @ b


def sum_of_bad_matmul(a, b):
    return np.sum(bad_matmul(a, b))


def broadcast_in_a_loop(x, y, n):
    for _ in range(n):
        x = mismatched_broadcast(x, y)
    return np.sum(x)


def line_of(fn, text: str) -> int:
    """The line of this file where `fn`'s source has `text`."""
    lines, first = inspect.getsourcelines(fn)
    (offset,) = [i for i, line in enumerate(lines) if text in line]
    return first + offset


@pytest.mark.parametrize(
    "call,where,text,shapes",
    [
        pytest.param(lambda: tl.compile(mismatched_broadcast)(np.ones(3), np.ones(4)), mismatched_broadcast, "z + y", ("(3,)", "(4,)"), id="broadcast"),
        pytest.param(lambda: tl.compile(bad_matmul)(np.ones((2, 3)), np.ones((2, 3))), bad_matmul, "c @ b", ("(2, 3)", "(2, 3)"), id="matmul"),
        pytest.param(lambda: tl.compile(broadcast_in_a_loop)(np.ones(3), np.ones(4), 2), mismatched_broadcast, "z + y", ("(3,)", "(4,)"), id="broadcast_in_loop"),
        pytest.param(lambda: tl.grad(broadcast_in_a_loop)(np.ones(3), np.ones(4), 2), mismatched_broadcast, "z + y", ("(3,)", "(4,)"), id="grad_broadcast"),
        pytest.param(lambda: tl.grad(sum_of_bad_matmul)(np.ones((2, 3)), np.ones((2, 3))), bad_matmul, "c @ b", ("(2, 3)", "(2, 3)"), id="grad_matmul"),
    ],
)  # fmt: skip
def test_shape_errors_name_expression_shapes_and_line(call, where, text, shapes) -> None:
    with pytest.raises(TapelessShapeError) as info:
        call()
    error = info.value
    message = str(error)
    assert f"`{text}`" in message and all(s in message for s in shapes), message
    assert error.loc is not None
    assert (error.loc.filename, error.loc.line) == (__file__, line_of(where, text)), error.loc
    assert isinstance(error, ValueError)


# --------------------------------------------------------------------------
# 4. Memory.


def forward_mix(x, w, n):
    h = x
    for _ in range(n):
        h = np.tanh(h @ w) + x
    return np.sum(h, axis=0), h.T


def forward_mix_loss(x, w):
    return np.sum(forward_mix(x, w, 3)[0])


@functools.cache
def memory_workload() -> tuple[tuple[object, tuple], ...]:
    """Native functions (forward and gradient: loops, closures, tuples, views), compiled once,
    each with its arguments."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((5, 4)), rng.standard_normal((4, 4))
    return (
        (tl.compile(forward_mix), (x, w, 3)),
        (tl.grad(forward_mix_loss, (0, 1)), (x, w)),
        (grads(d_closure_over_arrays, (0, 1))[0], (x[0], w[0], 3, (w[1], w[2]))),
        (grads(d_tuple_of_arrays, (0, 1))[0], ((w, w[0]), x, ((x, w[0]), x))),
        (compiled(rows_recurrence), (x, w[0])),
    )


def run_memory_workload() -> list[object]:
    """The results of one call of each function of `memory_workload`."""
    return [fn(*args) for fn, args in memory_workload()]


def live() -> tuple[int, int]:
    gc.collect()
    s = memory.stats()
    return s.live, s.live_bytes


def test_no_array_outlives_its_calls() -> None:
    run_memory_workload()  # compiles
    before = live()
    kept = run_memory_workload()
    assert live()[0] > before[0], "results held by Python count as live"
    for _ in range(30):
        run_memory_workload()
    del kept
    assert live() == before
    assert all(fn.natives for fn, _ in memory_workload())


def carry(x, n):
    for _ in range(n):
        x = np.maximum(x * 0.5, x - 1.0) + 0.1
    return x


def test_a_long_loop_over_a_megabyte_holds_a_few_arrays() -> None:
    # A cheap body: np.tanh would make this loop 12 s (1.3e9 libm calls), the same memory.
    x = np.random.default_rng(0).standard_normal(2**17)  # 1 MiB
    native = tl.compile(carry)
    native(x, 1)
    start = live()[1]
    memory.reset_peak()
    result = native(x, 10_000)
    peak = memory.stats().peak_bytes - start
    print(f"peak live bytes over 10^4 iterations of a 1 MiB array: {peak / 2**20:.2f} MiB")
    assert peak <= 4 * 2**20
    assert_close(carry(x, 10_000), result, 1e-12, 0.0)


def fresh_and_views(x):
    y = x * 2.0
    return y, y.T, (y + 1.0, x), x.T


def test_returned_arrays_survive_the_call_and_gc() -> None:
    x = np.arange(6.0).reshape(2, 3)
    start = live()
    y, yt, (z, same_x), xt = tl.compile(fresh_and_views)(x)
    expected = [2.0 * x, 2.0 * x.T, x * 2.0 + 1.0, x.copy(), x.T.copy()]
    assert live()[0] > start[0]
    run_memory_workload()  # reuses freed memory, if any result was freed
    gc.collect()
    for got, want in zip((y, yt, z, same_x, xt), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    x[0, 0] = 100.0  # results aliasing the argument were copied
    np.testing.assert_array_equal(same_x, expected[3])
    np.testing.assert_array_equal(xt, expected[4])
    del y, z
    gc.collect()
    np.testing.assert_array_equal(yt, expected[1])  # a view keeps its base's block alive
    del yt, same_x, xt
    assert live() == start


def bool_and_int_reductions(a):
    return (
        np.max(a > 0.5), np.min(a > 0.5), np.max(a > 0.5, axis=1), np.min(a > 0.5, axis=0),
        np.sum(a > 0.5, axis=0), np.max(a, axis=(0, 1)), np.mean(a, axis=1),
    )  # fmt: skip


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=4), elements=st.floats(-2, 2)))
def test_reductions_over_axes_of_bools_and_floats(a) -> None:
    want = tl.compile(bool_and_int_reductions, backend="interp")(a)
    got = tl.compile(bool_and_int_reductions)(a)
    for w, g in zip(want, got, strict=True):
        assert np.array_equal(np.asarray(w), np.asarray(g)) and np.asarray(w).dtype == np.asarray(g).dtype
