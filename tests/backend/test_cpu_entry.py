"""The CPU backend's JIT and Python -> native entries, on hand-written LLVM IR.

Each native function is compiled from IR text with the entry ABI
(`i32 @f(leaves..., ptr %out)`), wrapped by `make_entry`, and compared with
CPython computing the same thing. Binding (defaults, keywords) is compared
with Python's own binding of a `def` with the same parameters. The two
writings of the argument rule (`abi_type` in Python, the entry's checks in
native code) are held to agreement by a round trip through an echoing native
function. The leak test runs 10^6 calls in a subprocess and also runs a
deliberately leaking control, to show it can fail.
"""

from __future__ import annotations

import gc
import json
import math
import os
import resource
import subprocess
import sys
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from backend_support import same
from hypothesis import given
from hypothesis import strategies as st
from native_entry_support import Fallback, check_round_trip, entry, native, shared_entry

from tapeless.backend.cpu import jit
from tapeless.backend.cpu.entry import (
    EntrySpec,
    Identity,
    NotNative,
    Parameters,
    abi_type,
    make_entry,
)
from tapeless.errors import InternalError
from tapeless.ir.types import BOOL, F64, I64, NONE, SliceType, TupleType

I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def outcome(fn: Callable, *args):
    """("value", result) or ("raised", exception type, message)."""
    try:
        return ("value", fn(*args))
    except Exception as err:
        return ("raised", type(err), str(err))


def same_outcome(a, b) -> bool:
    return a[0] == b[0] and (same(a[1], b[1]) if a[0] == "value" else a == b)


# -- native functions ----------------------------------------------------------
ADD = (
    "double %x, double %y, ptr %out",
    "%r = fadd double %x, %y\nstore double %r, ptr %out\nret i32 0",
)
IDENTITY_I64 = ("i64 %a, ptr %out", "store i64 %a, ptr %out\nret i32 0")
LINEAR_I64 = (
    "i64 %a, i64 %b, ptr %out",
    "%t = mul i64 %a, 3\n%r = sub i64 %t, %b\nstore i64 %r, ptr %out\nret i32 0",
)
AND_NOT = (
    "i1 %p, i1 %q, ptr %out",
    "%nq = xor i1 %q, true\n%r = and i1 %p, %nq\n%z = zext i1 %r to i64\nstore i64 %z, ptr %out\nret i32 0",
)
# (x, n) -> (n, 2x)
SWAP = (
    "double %x, i64 %n, ptr %out",
    """store i64 %n, ptr %out
%y = fmul double %x, 2.0
%s1 = getelementptr i8, ptr %out, i64 8
store double %y, ptr %s1
ret i32 0""",
)
# ((a, (b,)), c) -> ((c, None, (a + b,)), True)
NESTED_ARGS = (TupleType((TupleType((F64, TupleType((F64,)))), I64)),)
NESTED_RESULT = TupleType((TupleType((I64, NONE, TupleType((F64,)))), BOOL))
NESTED = (
    "double %a, double %b, i64 %c, ptr %out",
    """store i64 %c, ptr %out
%s = fadd double %a, %b
%s1 = getelementptr i8, ptr %out, i64 8
store double %s, ptr %s1
%s2 = getelementptr i8, ptr %out, i64 16
store i64 1, ptr %s2
ret i32 0""",
)
# x / y, status 1 (ZeroDivisionError) when y == 0
DIVIDE = (
    "double %x, double %y, ptr %out",
    """%zero = fcmp oeq double %y, 0.0
br i1 %zero, label %raise, label %divide
raise:
ret i32 1
divide:
%r = fdiv double %x, %y
store double %r, ptr %out
ret i32 0""",
)
DIVIDE_ERRORS = ((ZeroDivisionError, "float division by zero"),)
# log(x) through libm, status 1 (ValueError) when x <= 0 (NaN goes through, as in math.log)
LOG = (
    "double %x, ptr %out",
    """%ok = fcmp ogt double %x, 0.0
%nan = fcmp uno double %x, 0.0
%go = or i1 %ok, %nan
br i1 %go, label %log, label %raise
raise:
ret i32 1
log:
%r = call double @log(double %x)
store double %r, ptr %out
ret i32 0""",
    "declare double @log(double)",
)
LOG_ERRORS = ((ValueError, "math domain error"),)
RETURN_NONE = ("double %x, ptr %out", "ret i32 0")
IDENTITY_F64 = ("double %x, ptr %out", "store double %x, ptr %out\nret i32 0")
STATUS_5 = ("double %x, ptr %out", "ret i32 5")
ADD_OR_STATUS_5 = (  # x + y, or status 5 when x < 0
    "double %x, double %y, ptr %out",
    """%neg = fcmp olt double %x, 0.0
br i1 %neg, label %five, label %add
five:
ret i32 5
add:
%r = fadd double %x, %y
store double %r, ptr %out
ret i32 0""",
)

finite = st.floats(allow_nan=False, allow_infinity=False)


# -- scalars -------------------------------------------------------------------
@given(st.floats(), st.floats())
def test_add_doubles(x, y):
    f, fallback = shared_entry((F64, F64), F64, ADD)
    assert same(f(x, y), x + y)
    assert fallback.calls == []


@given(st.integers(-(2**60), 2**60), st.integers(-(2**60), 2**60))
def test_i64_arithmetic(a, b):
    f, fallback = shared_entry((I64, I64), I64, LINEAR_I64)
    assert same(f(a, b), a * 3 - b)
    assert fallback.calls == []


def test_i64_range_is_native_and_beyond_goes_to_fallback():
    f, fallback = entry((I64,), I64, IDENTITY_I64)
    for n in (I64_MIN, -1, 0, I64_MAX):
        assert same(f(n), n)
    assert fallback.calls == []
    for n in (I64_MAX + 1, I64_MIN - 1, 10**30):
        assert f(n) == "fallback"
        assert fallback.calls.pop()[0][0] is n


@pytest.mark.parametrize("p", [False, True])
@pytest.mark.parametrize("q", [False, True])
def test_bool(p, q):
    f, fallback = entry((BOOL, BOOL), BOOL, AND_NOT)
    assert same(f(p, q), p and not q)
    assert fallback.calls == []


# -- tuples and None -----------------------------------------------------------
@given(finite, st.integers(I64_MIN, I64_MAX))
def test_tuple_in_and_out(x, n):
    f, _ = shared_entry((TupleType((F64, I64)),), TupleType((I64, F64)), SWAP)
    assert same(f((x, n)), (n, x * 2.0))


@given(finite, finite, st.integers(I64_MIN, I64_MAX))
def test_nested_tuples(a, b, c):
    f, _ = shared_entry(NESTED_ARGS, NESTED_RESULT, NESTED)
    assert same(f(((a, (b,)), c)), ((c, None, (a + b,)), True))


def test_none_argument_and_result():
    f, fallback = entry((NONE, F64, TupleType(())), NONE, RETURN_NONE)
    assert f(None, 1.5, ()) is None
    assert fallback.calls == []
    assert f(0, 1.5, ()) == f(None, 1.5, (None,)) == "fallback"


# -- errors ----------------------------------------------------------------------
@pytest.mark.parametrize("x, y", [(1.0, 0.0), (-1.0, -0.0), (0.0, 0.0), (3.0, 2.0)])
def test_error_status_raises_like_cpython(x, y):
    f, _ = entry((F64, F64), F64, DIVIDE, DIVIDE_ERRORS)
    assert same_outcome(outcome(f, x, y), outcome(lambda a, b: a / b, x, y))


@pytest.mark.parametrize("x", [2.5, 1.0, 0.0, -0.0, -1.0, math.inf, -math.inf, math.nan])
def test_libm_call_and_domain_error(x):
    f, _ = entry((F64,), F64, LOG, LOG_ERRORS)
    assert same_outcome(outcome(f, x), outcome(math.log, x))


def test_unknown_status_is_an_internal_error():
    f, _ = entry((F64,), F64, STATUS_5, DIVIDE_ERRORS)
    with pytest.raises(InternalError, match="unknown status"):
        f(1.0)


# -- dispatch --------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [(2,), (True,), (None,), ("s",), (np.float64(1.0),), ((1.0,),), (1.0, 2.0), ()],
    ids=["int", "bool", "None", "str", "np.float64", "tuple", "two args", "no args"],
)
def test_type_mismatch_calls_fallback_with_the_original_args(args):
    f, fallback = entry((F64,), F64, IDENTITY_F64)
    assert f(*args) == "fallback"
    [(passed, kwargs)] = fallback.calls
    assert kwargs == {} and len(passed) == len(args)
    assert all(p is a for p, a in zip(passed, args, strict=True))


@pytest.mark.parametrize(
    "args, kwargs", [((), {"x": 1.0, "y": 2.0}), ((1.0,), {"y": 2.0})], ids=["only", "mixed"]
)
def test_keywords_call_fallback(args, kwargs):
    f, fallback = entry((F64, F64), F64, ADD)
    assert f(*args, **kwargs) == "fallback"
    assert fallback.calls == [(args, kwargs)]


def test_first_matching_spec_wins():
    def spec(types, result, add):
        body = f"%r = fadd double %x, {add}\nstore double %r, ptr %out\nret i32 0"
        return EntrySpec(types, result, native("double %x, ptr %out", body))

    pair = TupleType((F64, I64))
    specs = [
        spec((F64,), F64, "1.0"),
        spec((F64,), F64, "2.0"),
        EntrySpec((I64,), I64, native(*IDENTITY_I64)),
        EntrySpec((pair,), TupleType((I64, F64)), native(*SWAP)),
    ]
    fallback = Fallback()
    f = make_entry(specs, fallback, "multi")
    assert same(f(1.0), 2.0)
    assert same(f(7), 7)
    assert same(f((1.5, 3)), (3, 3.0))
    assert f((1.5, 3.0)) == "fallback"
    assert len(fallback.calls) == 1


def test_no_specs_is_the_fallback():
    fallback = Fallback()
    assert make_entry([], fallback, "empty")(1, k=2) == "fallback"
    assert fallback.calls == [((1,), {"k": 2})]


def test_builtin_as_class_call_does_not_bind_self():
    f, fallback = entry((F64, F64), F64, ADD)
    cls = type("Compiled", (), {"__call__": f})
    obj = cls()
    assert same(obj(1.0, 2.5), 3.5)
    assert obj(1) == "fallback"
    assert fallback.calls == [((1,), {})]


def test_unsupported_type_in_a_spec_is_an_internal_error():
    with pytest.raises(InternalError, match="no ABI"):
        make_entry([EntrySpec((SliceType(),), F64, 0)], Fallback(), "bad")


# -- one argument rule, written twice ------------------------------------------------
data = st.recursive(
    st.floats() | st.integers(-(2**70), 2**70) | st.booleans() | st.none() | st.text(max_size=2),
    lambda inner: st.tuples(inner) | st.tuples(inner, inner),
    max_leaves=4,
)


@given(data, data)
def test_entry_takes_exactly_what_abi_type_types(v, w):
    check_round_trip(v, w)


@pytest.mark.parametrize(
    "value, detail",
    [("s", "str"), ([1.0], "list"), (2**63, "64 bits"), (-(2**63) - 1, "64 bits"), (np.float64(1.0), "float64")],
)
def test_abi_type_refuses_with_a_description(value, detail):
    with pytest.raises(NotNative, match=detail):
        abi_type((1.0, value))


def test_identity_argument_is_matched_by_identity():
    f, fallback = entry((Identity(math.sin), F64), F64, IDENTITY_F64)  # a function has no leaves
    assert same(f(math.sin, 2.5), 2.5) and fallback.calls == []
    assert f(math.cos, 2.5) == "fallback" and f(None, 2.5) == "fallback"
    assert abi_type(math.sin) == Identity(math.sin) != Identity(math.cos)


# -- binding: positional, keywords, defaults ---------------------------------------------
def add_like(left, right=2.5):  # the Python binding the entry must follow
    return left + right


ADD_PARAMETERS = Parameters(2, ("left", "right"), (2.5,))
CALLS = [
    ((1.0,), {}),
    ((1.0, 3.0), {}),
    ((1.0,), {"right": 3.0}),
    ((), {"left": 1.0}),
    ((), {"right": 3.0, "left": 1.0}),
]
BAD_CALLS = [
    ((), {}),  # missing left
    ((1.0, 2.0, 3.0), {}),  # too many
    ((1.0,), {"left": 2.0}),  # left twice
    ((1.0,), {"middle": 2.0}),  # unknown
    ((), {"right": 1.0}),  # missing left
]


@pytest.mark.parametrize("args, kwargs", CALLS)
def test_binds_like_python(args, kwargs):
    f, fallback = entry((F64, F64), F64, ADD, parameters=ADD_PARAMETERS)
    assert same(f(*args, **kwargs), add_like(*args, **kwargs))
    assert fallback.calls == []


@pytest.mark.parametrize("args, kwargs", BAD_CALLS)
def test_calls_python_refuses_go_to_the_fallback_unchanged(args, kwargs):
    with pytest.raises(TypeError):
        add_like(*args, **kwargs)
    f, fallback = entry((F64, F64), F64, ADD, parameters=ADD_PARAMETERS)
    assert f(*args, **kwargs) == "fallback"
    assert fallback.calls == [(args, kwargs)]


def test_keyword_names_that_are_not_interned_go_to_the_fallback():
    f, fallback = entry((F64, F64), F64, ADD, parameters=ADD_PARAMETERS)
    name = "".join(["ri", "ght"])  # equal to "right", but a new string
    assert name == "right" and name is not sys.intern("right")
    assert f(1.0, **{name: 3.0}) == "fallback"
    assert fallback.calls == [((1.0,), {"right": 3.0})]


def test_default_of_another_type_is_a_mismatch():
    first = ("double %x, i64 %n, ptr %out", "store double %x, ptr %out\nret i32 0")
    f, fallback = entry((F64, I64), F64, first, parameters=Parameters(2, ("x", "count"), (2.5,)))
    assert f(1.0) == "fallback" and same(f(1.0, 2), 1.0) and same(f(1.0, count=2), 1.0)
    assert fallback.calls == [((1.0,), {})]


def test_retry_gets_the_bound_arguments():
    retried = []

    def retry(*args):
        retried.append(args)
        return "retried"

    spec = EntrySpec((F64, F64), F64, native(*ADD_OR_STATUS_5))
    f = make_entry([spec], Fallback(), "f", parameters=ADD_PARAMETERS, retry=retry, retry_status=5)
    assert same(f(1.0), 3.5)
    assert f(-1.0) == f(right=4.0, left=-1.0) == "retried"
    assert retried == [(-1.0, 2.5), (-1.0, 4.0)]


# -- reference counts and lifetime --------------------------------------------------
def test_result_has_one_reference_and_arguments_are_untouched():
    f, _ = entry((TupleType((F64, I64)),), TupleType((I64, F64)), SWAP)
    arg = (1.5, 2**40)
    before = [sys.getrefcount(x) for x in (arg, *arg)]
    for _ in range(1000):
        result = f(arg)
    # Outside `assert`: pytest's rewriting would hold extra references.
    counts = sys.getrefcount(result), sys.getrefcount(result[0]), sys.getrefcount(result[1])
    assert counts == (2, 2, 2)  # the owner (`result` / the tuple) and getrefcount's argument
    del result
    assert [sys.getrefcount(x) for x in (arg, *arg)] == before


def test_binding_leaves_reference_counts_unchanged():
    default, left, right = float("2.5"), float("1.5"), float("4.0")  # objects of their own
    params = Parameters(2, ("left", "right"), (default,))
    f, fallback = entry((Identity(math.sin), F64), F64, IDENTITY_F64, parameters=Parameters(2, ("fn", "x")))
    g, _ = entry((F64, F64), F64, ADD, parameters=params)
    watched = (default, left, right, math.sin)
    before = [sys.getrefcount(x) for x in watched]
    for _ in range(1000):
        results = (g(left), g(left, right=right), g(right=right, left=left), f(x=left, fn=math.sin))
    counts = [sys.getrefcount(results[i]) for i in range(len(results))]
    assert counts == [2, 2, 2, 2]  # the tuple and getrefcount's argument
    assert fallback.calls == []
    del results
    assert [sys.getrefcount(x) for x in watched] == before


def test_builtin_owns_its_fallback_and_frees_it():
    f, fallback = entry((F64,), F64, IDENTITY_F64)
    alive = weakref.ref(fallback)
    del fallback
    gc.collect()
    assert f(1) == "fallback" and same(f(1.0), 1.0)
    del f
    gc.collect()
    assert alive() is None


def churn(calls: int) -> dict[str, dict[str, int]]:
    """Growth of peak RSS (KiB) and of watched refcounts over `calls` calls: entries vs a leaky control.

    Run in a fresh process (see `test_no_leak_over_a_million_calls`).
    """

    def ignore(*args, **kwargs):
        return None

    tuple_f, _ = entry(NESTED_ARGS, NESTED_RESULT, NESTED, fallback=ignore)
    divide, _ = entry((F64, F64), F64, DIVIDE, DIVIDE_ERRORS, fallback=ignore)
    none_f, _ = entry((NONE, F64, TupleType(())), NONE, RETURN_NONE, fallback=ignore)
    bound_f, _ = entry((F64, F64), F64, ADD, fallback=ignore, parameters=ADD_PARAMETERS)
    big = 2**70
    arg = ((1.5, (2.5,)), 2**40)

    def divide_by_zero():
        try:
            divide(1.0, 0.0)
        except ZeroDivisionError:
            pass

    entry_ops = [
        lambda: tuple_f(arg),
        lambda: divide(1.0, 3.0),
        divide_by_zero,
        lambda: divide(1.0, big),  # fallback
        lambda: divide(1.0, y=2.0),  # keywords -> fallback
        lambda: none_f(None, 1.0, ()),
        lambda: bound_f(1.0),  # a default
        lambda: bound_f(right=2.0, left=1.0),  # keywords
        lambda: bound_f(1.0, middle=2.0),  # an unknown keyword -> fallback
    ]
    kept = []
    leaky_ops = [lambda: kept.append((arg, float(len(kept))))]
    watched = [None, True, False, arg, big, ZeroDivisionError, *arg[0], *ADD_PARAMETERS.defaults]
    return {
        "entry": _growth(entry_ops, watched, calls),
        "leaky": _growth(leaky_ops, watched, calls),
    }


def _growth(ops, watched, calls: int) -> dict[str, int]:
    def run(n):
        for i in range(n):
            ops[i % len(ops)]()

    run(calls // 10)  # warm up: freelists, arenas, caches
    gc.collect()
    rss, refs = _max_rss_kib(), [sys.getrefcount(x) for x in watched]
    run(calls)
    gc.collect()
    after = [sys.getrefcount(x) for x in watched]
    return {
        "rss_kib": _max_rss_kib() - rss,
        "refs": max(abs(a - b) for a, b in zip(after, refs, strict=True)),
    }


def _max_rss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform.startswith("linux") else peak // 1024


def test_no_leak_over_a_million_calls():
    code = "import json, test_cpu_entry as t; print(json.dumps(t.churn(10**6)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr
    growth = json.loads(result.stdout)
    # The control keeps a float and a reference to `arg` per call: both measures can fail.
    assert growth["leaky"]["refs"] >= 10**6, growth  # the control leaks (its RSS may hide in freed pages)
    # A reference leaked (or dropped) on any path would move a count by ~10^6 / 9 calls; allow noise.
    assert growth["entry"]["refs"] < 100 and growth["entry"]["rss_kib"] < 2 * 1024, growth


# -- the JIT itself --------------------------------------------------------------
def test_jit_calls_across_modules_and_names_are_unique():
    callee, caller = jit.unique_name("callee"), jit.unique_name("caller")
    assert callee != caller
    jit.compile_module(
        f'define double @"{callee}"(double %x) {{\n%r = fmul double %x, 3.0\nret double %r\n}}'
    )
    jit.compile_module(
        f'declare double @"{callee}"(double)\n'
        f'define i32 @"{caller}"(double %x, ptr %out) {{\n'
        f'%r = call double @"{callee}"(double %x)\nstore double %r, ptr %out\nret i32 0\n}}'
    )
    f = make_entry([EntrySpec((F64,), F64, jit.address(caller))], Fallback(), "caller")
    assert same(f(0.5), 1.5)


def test_jit_errors_are_internal_errors():
    with pytest.raises(InternalError, match="no compiled symbol"):
        jit.address(jit.unique_name("missing"))
    with pytest.raises(InternalError, match="not found"):
        jit.compile_module(
            "declare double @no_such_symbol_anywhere(double)\n"
            f'define double @"{jit.unique_name("g")}"(double %x) {{\n'
            "%r = call double @no_such_symbol_anywhere(double %x)\nret double %r\n}"
        )
    with pytest.raises(InternalError, match="does not parse or verify"):
        jit.compile_module(f'define double @"{jit.unique_name("g")}"(double %x) {{\nret i64 0\n}}')


def test_optimized_ir_runs_the_pipeline_with_the_host_target():
    text = jit.optimized_ir(
        "define double @k() {\n%a = fadd double 1.0, 2.0\n%b = fmul double %a, 4.0\nret double %b\n}"
    )
    assert "ret double 1.200000e+01" in text
    assert f'target triple = "{jit.target_triple()}"' in text
    assert jit.data_layout() in text
