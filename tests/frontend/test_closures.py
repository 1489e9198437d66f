"""Closures and Python's late binding, against CPython.

A nested function sees its enclosing variables as they are when it is
*called*. tapeless gives exactly that when the IR can express it (a variable
bound once; a closure called where it is read; a variable not bound again
after the closure is read) and rejects the rest with `UnsupportedSyntax`
(see bad_programs.uses_late_binding).
"""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapeless

floats = st.floats(-3.0, 3.0, allow_nan=False)


def forward_reference(x):
    def g(t):
        return t * a  # `a` is bound after g
    a = x * 2.0
    return g(3.0)


def rebound_then_called(x):
    def g():
        return x + 1.0
    x = x * 2.0
    return g()


def rebound_between_calls(x):
    def g(t):
        return t * x + y
    y = 1.0
    x = x * 2.0
    r = g(1.0)
    x = x + 10.0
    return r + g(2.0)


def rebound_in_loop(n):
    def g():
        return acc * 2
    acc = 0
    for i in range(n):
        acc = acc + i
        acc = acc + g()
    return acc


def loop_lambdas(x):
    acc = 0.0
    for i in range(4):
        acc += (lambda t: t * i)(x)
    return acc


def nested_mutual_recursion(n):
    def even(k):
        return True if k == 0 else odd(k - 1)
    def odd(k):
        return False if k == 0 else even(k - 1)
    return even(n)


def three_levels(x):
    def outer(y):
        def inner(z):
            return x * y + z
        return inner(1.0)
    return outer(2.0) + outer(x)


def returned_closure(x):
    def make(k):
        return lambda t: k * t + x
    f = make(3.0)
    g = make(-1.0)
    return f(x) + g(2.0)


def closure_over_loop_result(x):
    s = 0.0
    for i in range(3):
        s = s + x * i
    scale = lambda t: t * s
    return scale(2.0)


def compose(f, g):
    def h(t):
        return f(g(t))
    return h


def higher_order(x):
    return compose(math.sin, lambda u: u * x)(0.5) + compose(abs, math.cos)(x)


PROGRAMS = [
    (forward_reference, st.tuples(floats)),
    (rebound_then_called, st.tuples(floats)),
    (rebound_between_calls, st.tuples(floats)),
    (rebound_in_loop, st.tuples(st.integers(0, 8))),
    (loop_lambdas, st.tuples(floats)),
    (nested_mutual_recursion, st.tuples(st.integers(0, 12))),
    (three_levels, st.tuples(floats)),
    (returned_closure, st.tuples(floats)),
    (closure_over_loop_result, st.tuples(floats)),
    (higher_order, st.tuples(floats)),
]


@pytest.mark.parametrize("fn,args", PROGRAMS, ids=[p[0].__name__ for p in PROGRAMS])
def test_closure_semantics_match_cpython(fn, args):
    compiled = tapeless.compile(fn, backend="interp")

    @given(args)
    def check(a):
        want = fn(*a)
        got = compiled(*a)
        assert type(got) is type(want)
        assert got == want

    check()
