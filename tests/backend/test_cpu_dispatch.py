"""Calls of natively compiled functions: binding, function arguments, refusals.

Every result is compared with CPython's. "Runs natively" is observed by
counting the calls that reach `Dispatcher.fallback` (the Python path that
compiles new signatures): once a signature is compiled, its calls never do,
whether they pass every argument, leave defaults out or name arguments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from backend_support import same

import tapeless as tl
from tapeless.backend.cpu.compiler import Dispatcher
from tapeless.errors import ArityError, TapelessError, TapelessTypeError
from tapeless.ir.types import F64, I64, ArrayType

pytestmark = pytest.mark.native


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The arguments of every call that reaches a `Dispatcher.fallback` from now on."""
    calls: list[tuple] = []
    original = Dispatcher.fallback

    def counting(self, *args, **kwargs):
        calls.append((args, kwargs))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Dispatcher, "fallback", counting)
    return calls


def scaled(x, count=3, shift=0.5):
    return x * count + shift


def apply_n(f, x, n):
    for _ in range(n):
        x = f(x)
    return x


def apply_rec(f, x, n):
    if n == 0:
        return x
    return f(apply_rec(f, x, n - 1))


def compose(fs, x):
    f, g = fs
    return f(g(x))


def square(x):
    return x * x


def halve_plus_one(x):
    return x / 2 + 1.0


def with_default(x, k=3.0):
    return x * k


def returns_its_argument(f, x):
    return f


minus_one = lambda y: y - 1.0  # (the front end reads a lambda from its own line)


def make_adder(a):
    def add(b):
        return a + b

    return add


# -- defaults and keywords ---------------------------------------------------------------
CALLS = [
    ((0.5,), {}),
    ((0.5, 4), {}),
    ((0.5, 4.0), {}),
    ((0.5, 4, 1.5), {}),
    ((), {"x": 0.5}),
    ((0.5,), {"shift": 2.0}),
    ((), {"shift": 2.0, "x": 0.5, "count": 7}),
    ((0.5, 2), {"shift": 1.0}),
]


def test_defaults_and_keywords_run_natively_after_the_first_call(fallbacks):
    f = tl.compile(scaled)
    for args, kwargs in CALLS:
        assert same(f(*args, **kwargs), scaled(*args, **kwargs))
    assert len(f.natives) == 2  # count an int or a float
    compiling = len(fallbacks)
    for args, kwargs in CALLS * 3:
        assert same(f(*args, **kwargs), scaled(*args, **kwargs))
    assert len(fallbacks) == compiling


def test_keyword_names_built_at_run_time_are_bound_by_the_fallback(fallbacks):
    f = tl.compile(scaled)
    assert same(f(0.5), scaled(0.5))
    fallbacks.clear()
    name = "".join(["sh", "ift"])  # equal to the parameter's name, not the interned object
    assert same(f(0.5, **{name: 2.0}), scaled(0.5, shift=2.0))
    assert fallbacks != []  # correct, through Python


@pytest.mark.parametrize(
    "args, kwargs",
    [((0.5,), {"x": 1.0}), ((0.5,), {"scale": 1.0}), ((), {"count": 2}), ((1.0, 2, 3.0, 4), {}), ((), {})],
    ids=["twice", "unknown", "missing", "too many", "none"],
)
def test_calls_python_refuses_raise_type_errors(args, kwargs):
    f = tl.compile(scaled)
    assert same(f(0.5), scaled(0.5))  # the entry now has a signature to bind to
    with pytest.raises(TypeError):
        scaled(*args, **kwargs)
    with pytest.raises(TapelessTypeError) as info:  # also a TypeError
        f(*args, **kwargs)
    assert "scaled" in str(info.value)


def test_arity_errors_name_the_range():
    with pytest.raises(ArityError, match=r"scaled\(\) takes from 1 to 3 positional arguments but 4"):
        tl.compile(scaled)(1.0, 2, 3.0, 4)


# -- function arguments ------------------------------------------------------------------
def test_each_function_argument_is_its_own_signature(fallbacks):
    g = tl.compile(apply_n)
    functions = (square, halve_plus_one)
    for f in functions:
        assert same(g(f, 0.9, 5), apply_n(f, 0.9, 5))
    assert [sig[0].value for sig in g.natives] == list(functions)
    compiling = len(fallbacks)
    for f in functions * 3:
        assert same(g(f, 0.9, 5), apply_n(f, 0.9, 5))
        assert same(g(x=0.9, n=5, f=f), apply_n(f, 0.9, 5))
    assert len(fallbacks) == compiling


FUNCTIONS = {
    "python": square,
    "lambda": minus_one,
    "python closure": make_adder(2.5),
    "default left out": with_default,
    "compiled": tl.compile(halve_plus_one),
    "compiled on the interpreter": tl.compile(square, backend="interp"),
    "gradient": tl.grad(square, backend="interp"),
    "math": math.cos,
    "builtin": abs,
    "type": float,
}


@pytest.mark.parametrize("f", FUNCTIONS.values(), ids=FUNCTIONS.keys())
@pytest.mark.parametrize("program", [apply_n, apply_rec], ids=["loop", "recursion"])
def test_function_arguments_run_like_cpython(program, f):
    assert same(tl.compile(program)(f, -0.7, 4), program(f, -0.7, 4))


def test_functions_inside_tuples():
    h = tl.compile(compose)
    for fs in [(square, math.sin), (math.sin, square), (tl.compile(with_default), abs)]:
        assert same(h(fs, 0.3), compose(fs, 0.3))
    assert len(h.natives) == 3


@pytest.mark.parametrize(
    "f, words",
    [(min, "min"), (print, "print"), (tl.compile(make_adder, backend="interp")(1.0), "Closure")],
    ids=["special form", "unknown builtin", "interpreter closure"],
)
def test_functions_native_code_cannot_call_are_named(f, words):
    with pytest.raises(TapelessTypeError) as info:
        tl.compile(apply_n)(f, 1.0, 2)
    text = str(info.value)
    assert "argument 1 of apply_n()" in text and words in text and info.value.hint


def test_functions_are_not_results():
    with pytest.raises(TapelessError, match="returns a function"):
        tl.compile(returns_its_argument)(square, 1.0)


# -- data the boundary refuses -------------------------------------------------------------
@pytest.mark.parametrize(
    "value, words",
    [
        ("abc", "str"),
        ([1.0, 2.0], "list"),
        ({"a": 1.0}, "dict"),
        (2**64, "does not fit in 64 bits"),
        (-(2**63) - 1, "does not fit in 64 bits"),
        ((1.0, "x"), "str"),
        ((1.0, (2**70,)), "does not fit in 64 bits"),
        (np.float64(1.0), "float64"),
    ],
)
def test_unsupported_arguments_are_named(value, words):
    with pytest.raises(TapelessTypeError) as info:
        tl.compile(scaled)(1.0, value)
    text = str(info.value)
    assert "argument 2 of scaled()" in text and words in text and info.value.hint


@pytest.mark.parametrize("n", [2**63 - 1, -(2**63), 0])
def test_the_int64_range_is_native(n):
    def identity(k):
        return k

    f = tl.compile(identity)
    assert same(f(n), n) and same(f((n, 1.5)), (n, 1.5))


def test_arrays_run_natively_and_refused_array_programs_on_the_interpreter():
    f = tl.compile(scaled)
    x = np.arange(3.0)
    assert same(f(x), scaled(x)) and same(f(x, shift=1.0), scaled(x, shift=1.0))
    assert (ArrayType("f64", 1), I64, F64) in f.natives
    # np.prod has no native lowering yet: that signature runs on the interpreter
    g = tl.compile(product_of)
    assert same(g(x), product_of(x))
    assert g.natives == {} and g._native is not None and len(g._native.refused) == 1


def product_of(x):
    return np.prod(x) * 2.0
