"""Branches: if/elif/else, conditional expressions, and/or/not, comparisons,
early returns, `pass`, and reading a local that a branch did not assign."""

from corpus_support import bools, floats, ints, nonzero_ints, program, scalars
from hypothesis import strategies as st


def sign(x):
    if x > 0:
        return 1
    elif x < 0:
        return -1
    else:
        return 0


def clamp(x, lo, hi):
    if x < lo:
        x = lo
    if x > hi:
        x = hi
    return x


def grade(score):
    if score >= 90:
        g = 4
    elif score >= 80:
        g = 3
    elif score >= 70:
        g = 2
    elif score >= 60:
        g = 1
    else:
        g = 0
    return g


def nested_if(a, b):
    if a > 0:
        if b > 0:
            r = a + b
        else:
            r = a - b
    else:
        if b > a:
            return b
        r = a * b
    return r * 2


def conditional_expression(x, y):
    m = x if x > y else y
    n = -1 if x < 0 else (0 if x == 0 else 1)
    return m, n, (x * 2 if n > 0 else y * 3)


def early_return_in_branches(n):
    if n < 0:
        return -n
    if n == 0:
        return 100
    n = n * 3
    if n > 30:
        return n - 30
    return n


def pass_statements(x):
    if x > 0:
        pass
    else:
        x = -x
    if x > 5:
        pass
    return x


def implicit_none(x):
    # falling off the end returns None
    if x > 0:
        return x


def or_and_values(a, b):
    # `or` and `and` return one of their operands, not a bool
    return a or b, a and b, a or b or 7, a and b and 7


def or_and_floats(x, y):
    return x or y, x and y, (x and 1.5) or y


def not_and_truth(a, x, p):
    return not a, not x, not p, not (a and x), (not a) or x


def short_circuit_guards(a, b):
    # the right operand is evaluated only when needed: no ZeroDivisionError
    safe = b != 0 and a // b > 1
    divides = b == 0 or a % b == 0
    return safe, divides


def short_circuit_result(a, b):
    return (b and a // b) or -1


def chained_comparisons(a, b, c):
    return a < b < c, a <= b <= c, a < b > c, a == b == c, a != b != c, 0 <= a < b <= c < 10


def chained_short_circuit(a, b, c):
    # 10 // c is never evaluated when a < b is already false
    return a < b < 10 // c


def bool_conditions(x, y):
    if x and y:
        r = 1
    elif x or y:
        r = 2
    else:
        r = 3
    return r if not (x > 3) else -r


def unbound_local(x):
    # UnboundLocalError (a NameError) when the branch did not run
    if x > 0:
        y = x * 2
    return y


def branch_types(n):
    # the result is an int on one path, a float on the other
    if n % 2 == 0:
        return n // 2
    return n * 1.5


PROGRAMS = [
    program(sign, scalars(), tags={"polymorphic"}, examples=[(0,), (0.0,), (-0.0,)]),
    program(clamp, floats(), floats(-5, 0), floats(0, 5)),
    program(grade, ints(0, 100)),
    program(nested_if, ints(), ints()),
    program(conditional_expression, ints(), ints()),
    program(early_return_in_branches, ints(-20, 20)),
    program(pass_statements, floats()),
    program(implicit_none, ints(-3, 3), tags={"polymorphic"}),
    program(or_and_values, ints(-2, 2), ints(-2, 2), tags={"polymorphic"}),
    program(or_and_floats, st.sampled_from([0.0, -0.0, 2.5]), floats(), tags={"polymorphic"}),
    program(not_and_truth, ints(-2, 2), st.sampled_from([0.0, 1.5]), bools(), tags={"polymorphic"}),
    program(short_circuit_guards, ints(), ints(-3, 3), examples=[(5, 0)]),
    program(short_circuit_result, ints(), ints(-3, 3), examples=[(5, 0), (0, 5)]),
    program(chained_comparisons, ints(-3, 5), ints(-3, 5), ints(-3, 5), examples=[(1, 1, 1)]),
    program(
        chained_short_circuit,
        ints(),
        ints(),
        nonzero_ints() | st.just(0),
        tags={"raises"},
        examples=[(3, 1, 0), (1, 3, 0)],
    ),
    program(bool_conditions, ints(-1, 5), ints(-1, 1)),
    program(unbound_local, ints(-3, 3), tags={"raises"}, examples=[(0,)]),
    program(branch_types, ints(), tags={"polymorphic"}),
]
