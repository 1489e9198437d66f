"""Differentiable programs for the AD tests: every construct of the subset.

Each entry of PROGRAMS is (function, argument strategy, argnums). Inputs are
drawn away from kinks (branch switches happen on integers or far from the
drawn ranges) so that central finite differences are a fair oracle.
"""
# ruff: noqa: E731

from hypothesis import strategies as st

import tapeless as tl

F = st.floats(0.3, 1.7, allow_nan=False, allow_infinity=False)
S = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False)


def arith(x, y):
    return (x * y - x / (y + 3.0)) ** 2 + 3 * x - y // 2.0 + x % 4.0


def int_mix(x, n):
    return x * n + n // 2 + x ** 3 / (n + 1)


def branches(x):
    if x > 1.0:
        return x * x
    elif x > 0.5:
        return 3.0 * x
    else:
        return -x


def ternary(x, y):
    return x * y if x > y else x + y * y


def short_circuit(x, y):
    # conditions with and/or, far from the switch points
    if (x > 0.0 and y > -10.0) or x < -10.0:
        return x * y
    return x - y


def while_data(x):
    # data-dependent trip count: doubles until past 10
    acc = x
    steps = 0
    while acc < 10.0:
        acc = acc * 2.0 + 0.1
        steps += 1
    return acc + steps


def for_range(x, n):
    acc = 0.0
    for i in range(n):
        acc = acc + x ** i / (i + 1)
    return acc


def for_tuple(x):
    acc = 1.0
    for c in (0.5, -1.0, 2.0):
        acc = acc * x + c
    return acc


def break_continue(x):
    acc = 0.0
    for i in range(10):
        if i % 3 == 0:
            continue
        if i > 7:
            break
        acc = acc + x * i
    return acc


def early_return(x):
    i = 0
    while True:
        i += 1
        if i * x > 3.0:
            return x * i
        x = x * 1.1


def fact(x, n):
    return 1.0 if n == 0 else x * fact(x, n - 1) + 1.0


def sum_to(x, n):
    # non-tail recursion
    if n == 0:
        return x
    return x * n + sum_to(x * 0.9, n - 1)


def is_even(x, n):
    return x if n == 0 else is_odd(x * 2.0, n - 1)


def is_odd(x, n):
    return x * x if n == 0 else is_even(x + 1.0, n - 1)


def mutual(x, n):
    return is_even(x, n)


def closure_capture(x, a):
    def scale(t):
        return a * t + x

    return scale(x) * scale(a)


def compose(f, g):
    return lambda t: f(g(t))


def higher_order(x, a):
    h = compose(lambda u: u * a, lambda v: v * v + x)
    return h(x) + h(a)


def returned_closure(x):
    def make(k):
        return lambda t: k * t * t

    return make(x)(2.0) + make(3.0)(x)


def loop_closure(x):
    acc = 0.0
    for i in range(4):
        acc += (lambda t: t * i * x)(x)
    return acc


def tuples(t):
    a, (b, c) = t
    return a * b + c * c


def tuple_out_in(x):
    def pair(u):
        return (u * 2.0, u * u)

    p, q = pair(x)
    return p * q


def min_max_abs(x, y):
    return max(x, y) * min(x, 2.0) + abs(x - 3.0)


def late_binding(x):
    def g(t):
        return t * a

    a = x * 2.0
    r = g(x)
    a = x + 1.0
    return r + g(1.0)


def stop(x):
    return x * tl.stop_gradient(x * x)


PROGRAMS = [
    (arith, st.tuples(F, F), (0, 1)),
    (int_mix, st.tuples(F, st.integers(0, 4)), (0,)),
    (branches, st.tuples(st.sampled_from([0.2, 0.7, 1.3, 1.6])), (0,)),
    (ternary, st.tuples(F, st.floats(2.0, 3.0)), (0, 1)),
    (short_circuit, st.tuples(F, S), (0, 1)),
    (while_data, st.tuples(F), (0,)),
    (for_range, st.tuples(F, st.integers(0, 5)), (0,)),
    (for_tuple, st.tuples(S), (0,)),
    (break_continue, st.tuples(S), (0,)),
    (early_return, st.tuples(st.sampled_from([0.45, 0.8, 1.2])), (0,)),
    (fact, st.tuples(F, st.integers(0, 6)), (0,)),
    (sum_to, st.tuples(F, st.integers(0, 6)), (0,)),
    (mutual, st.tuples(F, st.integers(0, 5)), (0,)),
    (closure_capture, st.tuples(F, F), (0, 1)),
    (higher_order, st.tuples(F, F), (0, 1)),
    (returned_closure, st.tuples(F), (0,)),
    (loop_closure, st.tuples(F), (0,)),
    (tuple_out_in, st.tuples(F), (0,)),
    (min_max_abs, st.tuples(st.floats(0.3, 0.9), st.floats(1.2, 1.7)), (0, 1)),
    (late_binding, st.tuples(F), (0,)),
]
