"""Nested functions and lambdas, closures (late binding included), globals,
and higher-order functions: functions as arguments and results, composition."""

import math

from corpus_support import Program, bools, float_tuples, floats, ints, nonzero_floats, program
from hypothesis import strategies as st

SCALE = 2.5
OFFSET = 3


def square(v):
    return v * v


def double(v):
    return v + v


def scaled(x):
    # reads module-level constants and calls other module-level functions
    return square(x) * SCALE + double(x) - OFFSET


def nested_def(x, y):
    def inner(z):
        return z * x + y

    return inner(1.0) + inner(x)


def lambda_reads_enclosing(x):
    k = x * 3
    f = lambda v: v + k
    return f(1), f(k)


def assigned_after_def(x):
    def g():
        return a + 1

    a = x * 2
    return g()


def rebound_after_def(x):
    a = x
    g = lambda: a * 10
    a = x + 1
    return g()


def rebound_between_calls(x):
    # late binding: each call sees the value `a` has at that moment
    a = x
    g = lambda: a * 10
    first = g()
    a = a + 1
    second = g()
    return first, second


def late_binding_two_calls(x):
    # all assignments follow the def: each call sees the value at that moment
    def g():
        return a

    a = x
    r1 = g()
    a = x + 1
    return r1, g()


def closure_called_before_assignment_in_loop(n):
    def g():
        return b

    b = 0
    total = 0
    for i in range(n):
        total = total * 10 + g()
        b = i + 1
    return total


def closure_escapes_before_rebinding(x):
    def g():
        return c

    c = x
    h = g
    c = x * 2
    return h()


def late_bound_read_in_for(x, n):
    # `scale` is assigned once, after the def; the closure is called in a loop
    def term(k):
        return k * x / scale

    scale = float(n) + 1.0
    total = 0.0
    for k in range(n):
        total += term(k)
    return total


def late_bound_read_in_while(n):
    def term(k):
        return k - offset

    offset = 3
    total = 0
    i = 0
    while i < n:
        total = total * 2 + term(i)
        i += 1
    return total


def closure_made_in_loop(n):
    total = 0
    for i in range(n):
        f = lambda: i * 2
        total += f()
    return total


def closure_escapes_loop(n):
    # the closure made in the last iteration reads `i` when called after the loop
    f = lambda: -1
    for i in range(n):
        f = lambda: i * 2
    return f()


def closure_chosen_by_branch(x):
    if x > 0:
        g = lambda v: v + x
    else:
        g = lambda v: v - x
    return g(1)


def late_bound_assigned_in_branches(x):
    g = lambda: y * 2
    if x > 0:
        y = x
    else:
        y = -x
    return g()


def late_bound_loop_carried(n):
    # g reads the value of z that the loop has reached
    g = lambda: z
    z = 1
    for _ in range(n):
        z = z + g()
    return z


def late_bound_after_loop(x):
    def g():
        return u

    u = x
    for _ in range(3):
        u = u * 2
    return g()


def late_bound_two_levels(x):
    def outer():
        def inner():
            return q * 2

        return inner()

    q = x + 1
    return outer()


def def_in_loop_reads_later_assignment(n):
    total = 0
    for i in range(n):

        def h():
            return i + later

        later = i * 10
        total += h()
    return total


def loop_rebinds_after_closure_made(n):
    total = 0
    i = 0
    while i < n:
        g = lambda: i * 3
        i += 1
        total += g()
    return total


def nested_recursive_def_with_loop(n):
    def walk(m):
        acc = 0
        for j in range(m):
            acc += walk(j) if j < 3 else j
        return acc

    return walk(n)


def rebound_in_branch(x):
    def g(v):
        return v * b

    b = 1
    if x > 0:
        b = 2
    return g(x)


def closure_in_loop_late_binding(n):
    # every call reads the current `i`, not the one at the lambda's creation
    g = lambda: i * 2
    total = 0
    for i in range(n):
        total += g()
    return total


def free_variable_unbound(x):
    # NameError: `a` is read by g before it is assigned
    def g():
        return a

    r = g()
    a = x
    return r


def three_levels(x):
    def outer(y):
        def middle(z):
            def inner(w):
                return x + y * z - w

            return inner(z + 1)

        return middle(y * 2)

    return outer(x + 1)


def nested_recursive_def(n):
    # a nested function that calls itself through its enclosing scope
    def fact(k):
        if k <= 1:
            return 1
        return k * fact(k - 1)

    return fact(n) + n


def sibling_closures(x):
    def f(v):
        return g(v) + 1

    def g(v):
        return v * x

    return f(3)


def make_adder(k):
    return lambda v: v + k


def use_make_adder(x, k):
    add = make_adder(k)
    add2 = make_adder(k * 2)
    return add(x), add2(add(x))


def compose(f, g):
    return lambda v: f(g(v))


def use_compose(x):
    h = compose(square, double)
    hh = compose(h, lambda v: v - 1)
    return h(x), hh(x), compose(hh, h)(x)


def apply_n(f, n, x):
    for _ in range(n):
        x = f(x)
    return x


def use_apply_n(x, n):
    return apply_n(lambda v: v * 0.5 + 1.0, n, x), apply_n(double, n, 1)


def apply_library_function(x):
    # math functions are values too
    return apply_n(math.sin, 3, x), apply_n(abs, 1, -x)


def choose_function(flag, x):
    op = (lambda v: v + 1) if flag else (lambda v: v * 2)
    return op(x)


def fold(f, t, init):
    acc = init
    for v in t:
        acc = f(acc, v)
    return acc


def use_fold(t):
    return fold(lambda a, b: a + b, t, 0.0), fold(max, t, -1.0), fold(lambda a, b: a * 2 + b, t, 1)


def derivative(f, x):
    h = 1e-4
    return (f(x + h) - f(x - h)) / (2 * h)


def use_derivative(x, c):
    return derivative(lambda v: c * v * v, x), derivative(math.sin, x)


def newton_sqrt(a):
    f = lambda v: v * v - a
    fprime = lambda v: 2 * v
    v = a
    for _ in range(20):
        v = v - f(v) / fprime(v)
    return v


def curry(f):
    return lambda a: lambda b: f(a, b)


def use_curry(x, y):
    sub = curry(lambda a, b: a - b)
    return sub(x)(y), curry(math.atan2)(y)(x)


def lambda_defaults(x):
    # defaults are evaluated once, when the lambda is created
    k = x
    f = lambda v, k=k: v + k
    g = lambda v, m=2: v * m
    k = 100
    return f(1), f(1, 2), g(x), g(x, 3), k


def def_defaults_capture(x):
    scale = x

    def h(v, s=scale, t=0.5):
        return v * s + t

    scale = -1.0
    return h(2.0), h(2.0, scale), h(1.0, 1.0, 1.0)


def returns_function_of_function(n):
    def twice(f):
        return lambda v: f(f(v))

    inc = lambda v: v + 1
    return twice(twice(inc))(n), twice(lambda v: v * 3)(n)


def closure_counter_tuple(n):
    # a chain of closures built in a loop, each wrapping the one before
    f = lambda v: v
    for i in range(n):
        f = compose(make_adder(i), f)
    return f(0)


PROGRAMS = [
    program(scaled, floats()),
    program(nested_def, floats(), floats()),
    program(lambda_reads_enclosing, ints()),
    program(assigned_after_def, floats()),
    program(rebound_after_def, ints()),
    program(rebound_between_calls, ints(), tags={"may_refuse"}),
    program(late_binding_two_calls, ints()),
    program(closure_called_before_assignment_in_loop, ints(0, 9)),
    program(closure_escapes_before_rebinding, ints(), tags={"may_refuse"}),
    program(late_bound_read_in_for, floats(), ints(0, 8)),
    program(late_bound_read_in_while, ints(-1, 10)),
    program(closure_made_in_loop, ints(0, 8)),
    program(closure_escapes_loop, ints(0, 8)),
    program(closure_chosen_by_branch, ints()),
    program(late_bound_assigned_in_branches, ints()),
    program(late_bound_loop_carried, ints(0, 8)),
    program(late_bound_after_loop, floats()),
    program(late_bound_two_levels, ints()),
    program(def_in_loop_reads_later_assignment, ints(0, 6), tags={"may_refuse"}),
    program(loop_rebinds_after_closure_made, ints(0, 6), tags={"may_refuse"}),
    program(nested_recursive_def_with_loop, ints(0, 7), tags={"recursion"}),
    program(rebound_in_branch, ints()),
    program(closure_in_loop_late_binding, ints(-1, 10), tags={"may_refuse"}),
    program(free_variable_unbound, ints(), tags={"raises"}),
    program(three_levels, floats()),
    program(nested_recursive_def, ints(0, 15), tags={"recursion"}),
    program(sibling_closures, floats()),
    program(use_make_adder, floats(), ints(), tags={"higher_order"}),
    program(use_compose, floats(-5, 5), tags={"higher_order"}),
    program(use_apply_n, floats(), ints(0, 10), tags={"higher_order"}),
    program(apply_library_function, floats(), tags={"higher_order"}),
    program(choose_function, bools(), ints(), tags={"higher_order"}),
    Program(use_fold, st.tuples(float_tuples(0, 6)), frozenset({"higher_order", "polymorphic"})),
    program(use_derivative, floats(-3, 3), floats(-3, 3), tags={"higher_order"}),
    program(newton_sqrt, floats(0.5, 100)),
    program(use_curry, floats(), nonzero_floats(), tags={"higher_order"}),
    program(lambda_defaults, ints()),
    program(def_defaults_capture, floats()),
    program(returns_function_of_function, ints(), tags={"higher_order"}),
    program(closure_counter_tuple, ints(0, 8), tags={"higher_order"}),
]
