"""Constructs combined: loops with closures and recursion, higher-order
numerics, arrays inside loops and closures."""

import math

import numpy as np
from corpus_support import Program, arrays, floats, ints, program, shapes
from hypothesis import strategies as st


def fib_iterative(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def isqrt(n):
    # integer Newton iteration with floor division
    if n < 2:
        return n
    x = n
    y = (x + n // x) // 2
    while y < x:
        x = y
        y = (x + n // x) // 2
    return x


def horner(x, coeffs=(1.0, -3.0, 0.5, 2.0)):
    acc = 0.0
    for c in coeffs:
        acc = acc * x + c
    return acc


def use_horner(x):
    return horner(x), horner(x, (2.0, 1.0)), horner(x, ())


def simpson(f, a, b, n):
    h = (b - a) / n
    s = f(a) + f(b)
    for i in range(1, n):
        s += (4 if i % 2 == 1 else 2) * f(a + i * h)
    return s * h / 3


def integrate(a, k):
    return simpson(lambda v: math.exp(-k * v * v), a, a + 2.0, 10), simpson(math.sin, 0.0, a, 4)


def fixed_point(f, x, tol, max_iter=50):
    i = 0
    while i < max_iter:
        nxt = f(x)
        if abs(nxt - x) < tol:
            return nxt, i
        x = nxt
        i += 1
    else:
        return x, -1


def use_fixed_point(c):
    return fixed_point(lambda v: math.cos(v) * c, 1.0, 1e-9), fixed_point(lambda v: v, 2.0, 0.5)


def loop_closure_recursion(n, x):
    # a closure reading a loop-carried variable, called from a recursive helper
    def step(v):
        return v * 0.5 + bias

    bias = 0.0
    total = 0.0
    for i in range(n):
        bias = i * 0.25
        total += iterate(step, i % 4, x)
    return total


def iterate(f, n, x):
    # higher-order recursion
    if n == 0:
        return x
    return iterate(f, n - 1, f(x))


def make_poly(n):
    # recursion that builds closures
    if n == 0:
        return lambda v: 1.0
    p = make_poly(n - 1)
    return lambda v: v * p(v) + 1.0


def use_make_poly(n, x):
    return make_poly(n)(x)


def tuple_of_functions(x):
    acc = 0.0
    for f in (math.sin, math.cos, lambda v: v * 2.0, abs):
        acc = acc + f(x)
    return acc


def nested_mutual_recursion(n, k):
    def even(m):
        return True if m == 0 else odd(m - 1)

    def odd(m):
        return False if m == 0 else even(m - 1)

    return even(n) and k > 0, odd(n) or k


def search_with_early_exit(x, target):
    # binary search over a sorted array: while, integer indexing, early return
    lo = 0
    hi = x.shape[0] - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        v = x[mid]
        if v == target:
            return mid
        elif v < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1


def euler_ode(y0, k, steps):
    # dy/dt = -k * y + sin(t), state as an array, right-hand side as a closure
    rhs = lambda t, y: -k * y + math.sin(t)
    y = y0
    t = 0.0
    dt = 0.05
    for _ in range(steps):
        y = y + dt * rhs(t, y)
        t += dt
    return y, t


def power_iteration(a, iters):
    m = a.T @ a + np.ones_like(a.T @ a)
    v = np.ones(m.shape[0])
    lam = 0.0
    for _ in range(iters):
        w = m @ v
        lam = np.sqrt(np.dot(w, w))
        v = w / lam
    return lam, v


def array_closure_map(x, c):
    scale = lambda a: a * c
    shift = lambda a: a - np.mean(a)
    return compose_all(x, scale, shift, np.tanh)


def compose_all(x, f, g, h):
    return h(g(f(x)))


def classify_loop(t):
    counts_pos, counts_neg, counts_zero = 0, 0, 0
    for v in t:
        if v > 0 and not v > 100:
            counts_pos += 1
        elif v < 0 or v != v:
            counts_neg += 1
        else:
            counts_zero += 1
    return counts_pos, counts_neg, counts_zero


def grid_walk(n, m):
    # nested loops, chained comparisons, continue/break, conditional expression
    best = -1
    for i in range(n):
        for j in range(m - 1, -1, -1):
            if not 0 < i + j < n + m - 2:
                continue
            score = i * j if (i + j) % 2 == 0 else i - j
            if score > 20:
                break
            best = max(best, score)
    return best


def _sorted_vector_and_target():
    return st.integers(1, 8).flatmap(
        lambda n: st.tuples(
            arrays((n,), -20, 20, dtype=np.int64).map(np.sort), st.integers(-20, 20)
        )
    )


PROGRAMS = [
    program(fib_iterative, ints(0, 60)),
    program(isqrt, ints(0, 10**6)),
    Program(use_horner, st.tuples(floats())),
    program(integrate, floats(-2, 2), floats(0.1, 2), tags={"higher_order"}),
    program(use_fixed_point, floats(0.1, 0.9), tags={"higher_order"}),
    program(loop_closure_recursion, ints(0, 8), floats(), tags={"recursion", "higher_order"}),
    program(use_make_poly, ints(0, 8), floats(-2, 2), tags={"recursion", "higher_order"}),
    program(tuple_of_functions, floats(), tags={"higher_order"}),
    program(nested_mutual_recursion, ints(0, 20), ints(-1, 1), tags={"recursion", "polymorphic"}),
    Program(search_with_early_exit, _sorted_vector_and_target(), frozenset({"arrays"})),
    Program(
        euler_ode,
        st.tuples(arrays(shapes(1, 1, 4)) | floats(), floats(0.1, 2), ints(0, 30)),
        frozenset({"arrays", "polymorphic"}),
    ),
    Program(power_iteration, st.tuples(arrays(shapes(2, 1, 4)), ints(1, 8)), frozenset({"arrays"})),
    Program(
        array_closure_map,
        st.tuples(arrays(shapes(2, 1, 4)), floats()),
        frozenset({"arrays", "higher_order"}),
    ),
    Program(classify_loop, st.tuples(st.lists(floats(-200, 200), max_size=6).map(tuple))),
    program(grid_walk, ints(0, 7), ints(0, 7)),
]
