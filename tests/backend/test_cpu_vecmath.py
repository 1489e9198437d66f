"""`backend.cpu.vecmath`: vectorizable exp, log, tanh, sin, ... against NumPy.

Every function runs in native loops (`vecmath_support.compile_map`): the loop
LLVM vectorizes, the scalar function alone, and each vector variant called
directly. The oracle is NumPy's float64 ufunc: results must be within
`MAX_ULPS` of it (measured in `np.spacing` of NumPy's result), and exactly it
where NumPy's is inf or nan, or the input is a special value. Every mode must
also give the very same bits: a lane's result never depends on the width.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from llvmlite import ir
from vecmath_support import MODES, compile_map, loop_module

from tapeless.backend.cpu import jit, vecmath
from tapeless.backend.cpu.vecmath import KERNELS, WIDTHS

MAX_ULPS = 2.0  # measured: at most 1 ulp from NumPy on every test below
NATIVE_MODES = tuple(m for m in MODES if m != "libm")
SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan])
#: name -> intervals where the function's reduction or formula changes (x drawn uniformly in each).
INTERESTING = {
    "exp": [(-746.0, -700.0), (-1.0, 1.0), (700.0, 710.0), (-1e-9, 1e-9)],
    "expm1": [(-60.0, -30.0), (-1.0, 1.0), (-1e-9, 1e-9), (30.0, 50.0), (700.0, 710.0)],
    "log": [(0.0, 1e-300), (0.5, 2.0), (0.999, 1.001), (1e300, 1.7e308)],
    "log1p": [(-1.0, -0.9), (-0.3, 0.5), (-1e-9, 1e-9), (0.9, 3.0), (1e15, 1e17)],
    "tanh": [(-25.0, 25.0), (-1.5, 1.5), (-1e-9, 1e-9)],
    "sinh": [(-711.0, 711.0), (-1.5, 1.5), (-25.0, 25.0), (-1e-9, 1e-9), (709.0, 711.0)],
    "cosh": [(-711.0, 711.0), (-1.0, 1.0), (-25.0, 25.0), (709.0, 711.0)],
    "sin": [(-10.0, 10.0), (-8e5, 8e5), (8e5, 9e5), (1e10, 1e300), (-1e-7, 1e-7)],
    "cos": [(-10.0, 10.0), (-8e5, 8e5), (8e5, 9e5), (1e10, 1e300), (-1e-7, 1e-7)],
    "arctan": [(-3.0, 3.0), (-1e-9, 1e-9), (1e15, 1e300), (0.4, 2.5)],
}
#: Values where NumPy's result is at a boundary (overflow, underflow, -1, the limit of sin's reduction).
BOUNDARIES = [709.782712893384, 709.7827128933841, -745.1332191019411, -745.1332191019412, -708.4, -37.5,
              710.4758600739439, 824000.0, 823549.6, 2.0**-26, 2.0**-28, 22.0, 1.0, 0.5, 5e-324, 2.2250738585072014e-308,
              1.7976931348623157e308, 1e-300]  # fmt: skip


def reference(name: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return getattr(np, name)(x)


def full_mantissa(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """n doubles in [low, high], with every mantissa bit random (`uniform` alone leaves patterns)."""
    x = rng.uniform(low, high, n)
    noise = rng.integers(-(2**20), 2**20, n).astype(np.int64)
    return np.clip((x.view(np.int64) + noise).view(np.float64), low, high)


def ulp_errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in ulps of `want`; 0 where both are nan or equal, inf where only one is nan."""
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(all="ignore"):
        err = np.abs(got - want) / np.spacing(np.abs(want))
    return np.where(same, 0.0, np.where(np.isnan(err), np.inf, err))


def check(name: str, x: np.ndarray, modes: tuple[str, ...] = NATIVE_MODES) -> None:
    """Every mode agrees bit for bit, within MAX_ULPS of NumPy, and exactly where NumPy's is not finite."""
    want = reference(name, x)
    results = {mode: compile_map(name, mode)(x) for mode in modes}
    first = results[modes[0]]
    for mode, got in results.items():
        np.testing.assert_array_equal(got.view(np.int64), first.view(np.int64), err_msg=f"{name}: {mode} vs {modes[0]}")
    err = ulp_errors(first, want)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULPS, f"{name}({x[worst]!r}) = {first[worst]!r}, NumPy {want[worst]!r}: {err[worst]} ulps"
    inf = np.isinf(want)
    np.testing.assert_array_equal(first[inf], want[inf], err_msg=name)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_special_values_are_numpys_exactly(name):
    want = reference(name, SPECIALS)
    for mode in NATIVE_MODES:
        got = compile_map(name, mode)(SPECIALS)
        assert np.array_equal(np.isnan(got), np.isnan(want)), (name, mode, got, want)
        finite = ~np.isnan(want)
        assert np.array_equal(got[finite], want[finite]), (name, mode, got, want)
        assert np.array_equal(np.signbit(got[finite]), np.signbit(want[finite])), (name, mode, got, want)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_interesting_ranges_and_boundaries(name):
    rng = np.random.default_rng(sorted(KERNELS).index(name))
    intervals = [*INTERESTING[name], (-np.inf, np.inf)]
    samples = [full_mantissa(rng, lo, hi, 2000) for lo, hi in intervals[:-1]]
    samples.append(rng.integers(0, 2**64, 4000, dtype=np.uint64).view(np.float64))  # every double alike
    with np.errstate(over="ignore"):
        x = np.concatenate([*samples, BOUNDARIES, np.negative(BOUNDARIES), np.nextafter(BOUNDARIES, np.inf)])
    check(name, x)


@pytest.mark.parametrize("n", [1, 3, 1000])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_lengths_cover_the_vector_loop_and_its_remainder(name, n):
    x = full_mantissa(np.random.default_rng(n), -5.0, 5.0, n) + (1.5 if name in ("log", "log1p") else 0.0)
    check(name, x, ("loop",))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(KERNELS)), hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(width=64)))
def test_any_doubles(name, x):
    check(name, x)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_doubles_in_interesting_ranges(data):
    name = data.draw(st.sampled_from(sorted(KERNELS)))
    low, high = data.draw(st.sampled_from(INTERESTING[name]))
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
    check(name, data.draw(hnp.arrays(np.float64, st.integers(1, 40), elements=elements)))


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_vectorizer_calls_the_vector_variants(name):
    optimized = jit.optimized_ir(str(loop_module(name, "loop", jit.unique_name("ir_check"))))
    assert any(f"@tl_{name}_v{n}(" in line for line in optimized.splitlines() if " call " in line for n in WIDTHS)


def test_declare_math_defines_once_per_module():
    module = ir.Module()
    first = vecmath.declare_math(module, "exp")
    assert vecmath.declare_math(module, "exp") is first
    vecmath.declare_math(module, "sin")
    text = str(module)
    assert text.count('define internal double @"tl_exp"') == 1
    assert vecmath.vector_abi_variants("tl_exp") in text
    used = module.globals["llvm.compiler.used"]
    assert [f.name for f in used.initializer.constant] == [f"tl_{n}_v{w}" for n in ("exp", "sin") for w in WIDTHS]
