"""The CPU backend against its oracles: CPython and the reference interpreter.

- Every scalar corpus program runs natively with CPython's result (floats
  bit for bit) or CPython's exception; a program the specializer cannot give
  one type per value is refused with a `TapelessError` at its first call,
  and the set of refused programs is pinned (`REFUSED`), so a change shows.
- First and second derivatives of the AD programs natively equal the
  interpreter's (the same arithmetic in the same order: bit for bit where
  no NumPy function is involved).
- Deep loops and recursion (10^6 iterations, and their gradients), errors,
  64-bit ints, and no memory growth over 10^6 calls (in a subprocess).
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
from backend_support import same
from corpus_support import Outcome, assert_same_outcome, load_corpus, run
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import PROGRAMS as AD_PROGRAMS

import tapeless as tl
from tapeless.errors import TapelessError

pytestmark = pytest.mark.native

#: Scalar corpus programs that native code refuses at their first call, and why.
REFUSED = {
    # a value whose type depends on the path taken (int on one, float on another, ...)
    "control.not_and_truth",
    # a variable read before it is bound (CPython: UnboundLocalError / NameError)
    "closures.free_variable_unbound",
    "control.unbound_local",
    # a tuple indexed by a loop counter whose elements differ in type
    "loops.for_over_tuple_argument",
    "loops.for_tuple_else",
    "mixed.tuple_of_functions",
    "mixed.classify_loop",
    # a closure that captures the previous iteration's closure: a type that grows
    "closures.closure_counter_tuple",
    # errors the specializer finds before the call (CPython raises when it runs)
    "scalars.tuple_index_error",
    "scalars.unpack_mismatch",
}

#: Documented differences (docs/language.md): native `int ** int` with a negative exponent
#: known only at run time raises this ValueError (CPython gives a float).
NEGATIVE_INT_POWER = "int ** negative int gives a float in CPython"

SCALAR = [p for p in load_corpus() if "arrays" not in p.tags]


def native_outcome(fn, args) -> Outcome:
    return run(tl.compile(fn, backend="cpu"), args)


@pytest.mark.parametrize("program", SCALAR, ids=lambda p: p.name)
def test_corpus_runs_natively_like_cpython(program):
    compiled = tl.compile(program.fn, backend="cpu")
    refused: list[BaseException] = []

    @settings(max_examples=15)
    @given(program.args)
    def check(args):
        expected = run(program.fn, args)
        actual = run(compiled, args)
        if isinstance(actual.error, TapelessError) and not isinstance(expected.error, TapelessError):
            refused.append(actual.error)
            return
        if isinstance(actual.error, ValueError) and NEGATIVE_INT_POWER in str(actual.error):
            return
        assert_same_outcome(expected, actual)
        if expected.error is None:
            assert same(expected.value, actual.value), (expected.value, actual.value)

    for args in program.examples:
        check.hypothesis.inner_test(args)
    check()
    if program.name in REFUSED:
        assert refused, f"{program.name} now compiles natively: take it off REFUSED"
    elif refused and "may_refuse" not in program.tags and "polymorphic" not in program.tags:
        raise refused[0]


@pytest.mark.parametrize("fn,strategy,argnums", AD_PROGRAMS, ids=lambda x: getattr(x, "__name__", ""))
@settings(max_examples=10)
@given(data=st.data())
def test_first_and_second_derivatives_match_the_interpreter(fn, strategy, argnums, data):
    args = data.draw(strategy)
    first = tl.grad(fn, argnums, backend="cpu")
    assert same(first(*args), tl.grad(fn, argnums, backend="interp")(*args))
    wrt = argnums[0]
    expected = tl.grad(tl.grad(fn, wrt), wrt, backend="interp")(*args)
    actual = tl.grad(tl.grad(fn, wrt), wrt, backend="cpu")(*args)
    assert math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12), (actual, expected)


def loop_sum(x, n):
    acc = 0.0
    for i in range(n):
        acc = acc + math.sin(x * i) / (i + 1)
    return acc


def rec_sum(x, n):
    if n == 0:
        return 0.0
    return x * n + rec_sum(x, n - 1)


def test_deep_loop_and_its_gradient():
    n = 10**6
    assert same(tl.compile(loop_sum)(0.3, n), loop_sum(0.3, n))
    expected = sum(i * math.cos(0.3 * i) / (i + 1) for i in range(n))
    assert math.isclose(tl.grad(loop_sum)(0.3, n), expected, rel_tol=1e-9)


def test_deep_non_tail_recursion_runs_on_a_big_stack():
    n = 10**6
    assert tl.compile(rec_sum)(1.0, n) == float(n * (n + 1) // 2)
    assert tl.grad(rec_sum)(1.0, n) == float(n * (n + 1) // 2)


def test_python_exceptions_are_raised_natively():
    def div(x, y):
        return x / y

    def log(x):
        return math.log(x)

    def sqrt(x):
        return math.sqrt(x)

    def idiv(a, b):
        return a // b

    for fn, args in [(div, (1.0, 0.0)), (div, (1, 0)), (log, (-1.0,)), (sqrt, (-1.0,)), (idiv, (3, 0))]:
        expected = run(fn, args).error
        actual = native_outcome(fn, args).error
        assert type(actual) is type(expected) and str(actual) == str(expected), (actual, expected)


def test_ints_are_64_bit():
    def mul(a, b):
        return a * b

    assert tl.compile(mul)(2**31, 2**31) == 2**62
    with pytest.raises(OverflowError, match="64 bits"):
        tl.compile(mul)(2**62, 4)
    with pytest.raises(TapelessError, match="does not fit in 64 bits"):
        tl.compile(mul)(2**64, 1)
    with pytest.raises(OverflowError, match="64 bits"):
        tl.compile(int_power)(3, 40)


def int_power(x, n):
    return x**n


@pytest.mark.parametrize("x,n", [(2**32, 1), (2**31, 2), (-(2**21), 3), (3, 39), (7, 0), (-1, 2**40 + 1)])
def test_int_powers_that_fit_in_64_bits_are_computed(x, n):
    # the base is squared only while bits of n remain: (2**32) ** 1 once raised OverflowError
    assert tl.compile(int_power)(x, n) == x**n


def test_dispatch_per_signature_and_clear_errors():
    def f(x, y):
        return x * y + 1

    cf = tl.compile(f)
    assert same(cf(2, 3), 7) and same(cf(2.0, 3), 7.0) and same(cf((2.0), y=3.5), 8.0)
    assert len(cf.natives) == 3  # (i64, i64), (f64, i64) and (f64, f64)
    with pytest.raises(TapelessError, match="argument 2 of f"):
        cf(1.0, "x")


def test_no_memory_growth_over_a_million_calls(tmp_path):
    script = textwrap.dedent(
        """
        import math, resource, tapeless as tl
        def f(x, n):
            acc = 0.0
            for i in range(n):
                acc = acc + math.sin(x * i)
            return acc
        g = tl.grad(f)
        for _ in range(10**4):
            g(0.5, 20)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(10**6):
            g(0.5, 20)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(after - before)
        """
    )
    path = tmp_path / "calls.py"
    path.write_text(script)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True)
    growth_kib = int(out.stdout.split()[-1])
    assert growth_kib < 4096, f"max RSS grew by {growth_kib} KiB over 10^6 calls"
