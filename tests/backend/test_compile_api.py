"""`tapeless.api.compile` end to end: Python source -> front end -> interpreter vs CPython."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from backend_support import same

from tapeless.api import BACKENDS, CompiledFunction, compile
from tapeless.backend.values import Closure
from tapeless.errors import (
    ArityError,
    TapelessError,
    TapelessTypeError,
)
from tapeless.ir import Graph


# -- programs --------------------------------------------------------------------
def poly(x, y=2.0):
    """A polynomial."""
    return x * x * y - 3 * x + 1


def loop(n):
    i = 0
    acc = 0.0
    while i < n:
        acc = acc + i * 0.5
        i = i + 1
    return acc


def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)


def sum_to(n):
    if n == 0:
        return 0
    return n + sum_to(n - 1)


def make_scaler(a):
    def scale(b):
        return a * b

    return scale


def apply_twice(f, x):
    return f(f(x))


def divide(x, y):
    return x / y  # DIVIDE


def add_tuple(t, x):
    return t + x  # ADD


def maybe(c):
    if c:
        y = 1.0
    return y


def nested_recursion(n, k):
    def rec(m):
        if m == 0:
            return k
        return rec(m - 1) + 1

    return rec(n)


def closures_in_a_loop(n):
    total = 0
    for i in range(n):
        g = lambda y: y * i
        total = total + g(2)
    return total


def stats(x):
    return np.sum(x * 2.0), x + 1.0


# -- the decorator -------------------------------------------------------------------
def test_decorator_forms() -> None:
    a = compile(poly)
    b = compile(backend="interp")(poly)

    @compile
    def c(x):
        return x + 1

    assert isinstance(a, CompiledFunction) and isinstance(b, CompiledFunction)
    assert same(a(1.5), poly(1.5)) and same(b(3), poly(3)) and c(1) == 2
    assert a.__name__ == "poly" and a.__doc__ == "A polynomial." and a.__wrapped__ is poly
    again = compile(a)
    assert isinstance(again, CompiledFunction) and again.__wrapped__ is poly
    assert same(again(2.5, 1), poly(2.5, 1))


def test_graph_is_parsed_lazily_and_cached() -> None:
    f = compile(poly)
    assert f._graph is None  # nothing parsed before use
    g = f.graph
    assert isinstance(g, Graph) and f.graph is g
    assert compile(f).graph is g


def test_unknown_backend() -> None:
    with pytest.raises(TapelessError) as info:
        compile(poly, backend="gpu")
    text = str(info.value)
    assert "'interp'" in text and "'cpu'" in text and "'ptx'" in text
    assert BACKENDS == ("cpu", "interp")


def test_compile_refuses_non_functions() -> None:
    with pytest.raises(TapelessTypeError):
        compile(42)  # type: ignore[arg-type]


# -- results match CPython -------------------------------------------------------------
@pytest.mark.parametrize("args", [(1.5,), (3,), (2, 0.5), (True, True), (-0.0, 1e300)])
def test_scalar_results(args: tuple) -> None:
    assert same(compile(poly)(*args), poly(*args))


def test_keywords_and_defaults() -> None:
    f = compile(poly)
    assert same(f(1.5, y=4), poly(1.5, y=4))
    assert same(f(x=2), poly(x=2))
    with pytest.raises(TypeError):
        f(1, z=3)
    with pytest.raises(ArityError):
        f(1, 2, 3)


def test_loop_of_a_million_iterations() -> None:
    assert same(compile(loop)(10**6), loop(10**6))


def test_recursion_deeper_than_python_allows() -> None:
    assert compile(fact)(25) == fact(25)
    n = 100_000
    assert compile(sum_to)(n) == n * (n + 1) // 2


def test_closures_in_and_out() -> None:
    scale3 = compile(make_scaler)(3)
    assert isinstance(scale3, Closure) and scale3(2.5) == 7.5
    twice = compile(apply_twice)
    assert twice(scale3, 2) == 18  # a closure compiled code returned
    assert twice(compile(fact), 3) == 720  # a compiled function
    with pytest.raises(TapelessTypeError, match="argument 1"):
        twice(math.sqrt, 16.0)  # a Python function is not a compiled one


def test_nested_recursive_closure_and_closures_made_in_a_loop() -> None:
    assert compile(nested_recursion)(5, 2.5) == nested_recursion(5, 2.5)
    assert compile(nested_recursion)(50_000, 1) == 50_001
    assert compile(closures_in_a_loop)(100) == closures_in_a_loop(100)


def test_arrays() -> None:
    x = np.arange(6.0).reshape(2, 3)
    got = compile(stats)(x)
    want = stats(x)
    assert same(got[0], want[0]) and same(got[1], want[1])


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ("abc", "str"),
        ([1, 2], "list"),
        ({"a": 1}, "dict"),
        (np.zeros(3, dtype=np.float32), "ndarray"),
        (object(), "object"),
        ((1, "x"), "str"),
    ],
)
def test_unsupported_arguments(value: object, type_name: str) -> None:
    with pytest.raises(TapelessTypeError) as info:
        compile(poly)(1.0, value)
    assert "argument 2 of poly()" in str(info.value) and type_name in str(info.value)
    assert info.value.hint


# -- errors keep CPython's types and point at the source ----------------------------------
def line_of(fn, marker: str) -> int:
    lines, start = inspect.getsourcelines(fn)
    return next(start + i for i, line in enumerate(lines) if marker in line)


def test_zero_division() -> None:
    with pytest.raises(ZeroDivisionError) as info:
        compile(divide)(1.0, 0.0)
    notes = "\n".join(info.value.__notes__)
    assert f"{__file__}:{line_of(divide, 'DIVIDE')}:" in notes and "return x / y" in notes
    assert same(compile(divide)(1, 4), 0.25)


def test_type_error_at_source_expression() -> None:
    with pytest.raises(TapelessTypeError) as info:
        compile(add_tuple)((1, 2), 1.0)
    err = info.value
    assert err.loc is not None and err.loc.line == line_of(add_tuple, "ADD")
    assert "return t + x" in str(err)


def test_unbound_local() -> None:
    f = compile(maybe)
    assert f(True) == 1.0
    with pytest.raises(UnboundLocalError) as info:
        f(False)
    assert isinstance(info.value, TapelessError) and "'y'" in str(info.value)
