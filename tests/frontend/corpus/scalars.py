"""Scalar arithmetic with Python's semantics: int, float, bool, and their mixing.

Also assignment, tuple unpacking, augmented assignment, the scalar builtins
(abs, min, max, float, int, len) and constant-index tuple subscripts.
"""

from corpus_support import (
    Program,
    bools,
    float_tuples,
    floats,
    ints,
    nonzero_floats,
    nonzero_ints,
    program,
    scalars,
)
from hypothesis import strategies as st


def int_arith(a, b):
    return a + b * 3 - (a - b) * 2


def float_arith(x, y):
    return (x + y) * (x - y) - x * 0.5 + 1.25


def true_division(a, b):
    # int / int is a float, even when it divides exactly
    return a / b


def floor_div_mod_int(a, b):
    # signs follow the divisor: -7 // 2 == -4, -7 % 2 == 1
    return a // b, a % b


def floor_div_mod_float(x, y):
    return x // y, x % y


def division_by_zero(a, b):
    return a // b + a % b


def float_division_by_zero(x, y):
    return x / y


def int_power(a, b):
    return a**b


def negative_power(a, b):
    # int ** negative int is a float; 0 ** -1 raises ZeroDivisionError
    return a ** (-b)


def float_power(x, n):
    # integer exponent on any float base; fractional exponent on a positive one
    return x**n, abs(x) ** 0.5, (abs(x) + 1.0) ** -1.5


def mixed_int_float(n, x):
    # int op float is a float, int op int stays an int
    return n + x, n * 2, n * x - n, n / 2


def bool_arith(p, q):
    # bools are ints: True + True == 2, -True == -1, True * 2.5 == 2.5
    return p + q, p * 3, -p, q * 2.5, p - q


def bool_division_power(p, q):
    # bools under / // % ** behave as the ints 0 and 1
    return p / 2, p // 1, p % 2, p**q, q**2, p * 1.0


def float_mod_signed_zero(x, y):
    # the result of % takes the divisor's sign, zeros included: 4.0 % -2.0 == -0.0
    return x % y, -x % y, x // y, (x * 0.0) % y


def unary_ops(a, x, p):
    return -a, +a, -x, +x, not p, not a, -(-x)


def comparisons(a, b):
    return a < b, a <= b, a > b, a >= b, a == b, a != b


def mixed_comparisons(n, x, p):
    # ints, floats and bools compare by value
    return n == x, n < x, p == 1, p < n, x >= p


def builtins_abs_min_max(a, b, c):
    return abs(a), abs(a - b), min(a, b), max(a, b), min(a, b, c), max(c, b, a)


def min_max_ties(n, x):
    # min/max return the first of equal arguments: max(2, 2.0) is the int 2
    return max(n, x), min(n, x), max(x, n), min(x, n), max(n, x, n)


def abs_types(n, x, p):
    return abs(n), abs(x), abs(p), abs(-x)


def float_int_conversions(n, x, p):
    # int() truncates towards zero; float() of a bool is 0.0 or 1.0
    return float(n), int(x), int(p), float(p), int(-x), float(x), int(n)


def aug_assign_int(a, b):
    r = a
    r += b
    r -= 3
    r *= b
    r //= 4
    r %= 7
    r **= 2
    return r


def aug_assign_float(x, y):
    r = x
    r += y
    r -= 1.5
    r *= y
    r /= 3.0
    r //= 0.75
    r %= 2.5
    r **= 2
    return r


def aug_assign_type_change(n):
    acc = n
    acc /= 2
    acc += 1
    return acc


def swap_and_unpack(a, b, c):
    a, b = b, a
    x, (y, z) = c, (a, b)
    (p, q), r = (x + 1, y), z * 2
    return a, b, x, y, z, p, q, r


def tuple_subscripts(t):
    return t[0] + t[2], t[-1], t[1] * t[-2]


def tuple_len(t):
    n = len(t)
    return n, len((1, 2.0, t)), len(())


def tuple_build_and_unpack(x, y):
    pair = (x, y)
    nested = (pair, (y, x), 3)
    (a, b), (c, d), k = nested
    return a * k + d, nested[1][0], len(nested[0])


def tuple_index_error(t):
    # IndexError when the tuple is too short
    return t[2] - t[0]


def unpack_mismatch(t):
    # ValueError when the tuple does not have exactly two items
    a, b = t
    return a * b


def constants(x):
    big = 12345678901
    return x * 1e-3 + 2.5e2, big, 0.1 + 0.2, True, False, -0.0


def defaults(x, y=2, z=0.5):
    return x * y + z


def calls_with_defaults(x):
    return defaults(x), defaults(x, 3), defaults(x, 1, -1.0)


PROGRAMS = [
    program(int_arith, ints(-1000, 1000), ints(-1000, 1000)),
    program(float_arith, floats(), floats()),
    program(
        true_division, ints(-50, 50), nonzero_ints(-20, 20), examples=[(7, 2), (6, 3), (-7, 2)]
    ),
    program(floor_div_mod_int, ints(-50, 50), nonzero_ints(-9, 9), examples=[(-7, 2), (7, -2)]),
    program(floor_div_mod_float, floats(), nonzero_floats(), examples=[(-7.5, 2.0), (7.5, -2.0)]),
    program(division_by_zero, ints(), ints(-2, 2), tags={"raises"}, examples=[(5, 0)]),
    program(
        float_division_by_zero,
        floats(),
        floats(-1, 1) | st.just(0.0),
        tags={"raises"},
        examples=[(1.0, 0.0), (0.0, -0.0)],
    ),
    program(int_power, ints(-9, 9), ints(0, 12), examples=[(0, 0), (-2, 3)]),
    program(negative_power, ints(-5, 5), ints(1, 4), tags={"raises"}, examples=[(0, 1), (2, 1)]),
    program(float_power, floats(-4, 4), ints(-3, 4), tags={"raises"}, examples=[(0.0, -1)]),
    program(mixed_int_float, ints(), floats()),
    program(bool_arith, bools(), bools()),
    program(bool_division_power, bools(), bools()),
    program(
        float_mod_signed_zero,
        st.sampled_from([4.0, -4.0, 0.0, -0.0, 2.5, -7.5]),
        st.sampled_from([2.0, -2.0, 0.5, -1.25]),
    ),
    program(unary_ops, ints(), floats(), bools(), examples=[(0, 0.0, False)]),
    program(comparisons, scalars(), scalars(), tags={"polymorphic"}),
    program(mixed_comparisons, ints(-3, 3), st.sampled_from([-1.0, 0.0, 1.0, 1.5]), bools()),
    program(builtins_abs_min_max, ints(), ints(), ints()),
    program(
        min_max_ties,
        ints(-2, 2),
        st.sampled_from([-2.0, 0.0, 1.0, 2.0, -0.0]),
        tags={"polymorphic"},
        examples=[(2, 2.0), (0, -0.0)],
    ),
    program(abs_types, ints(), floats(), bools(), examples=[(0, -0.0, True)]),
    program(float_int_conversions, ints(), floats(-1e6, 1e6), bools(), examples=[(0, -2.7, True)]),
    program(aug_assign_int, ints(-30, 30), nonzero_ints(-9, 9)),
    program(aug_assign_float, floats(), nonzero_floats(4.0, 0.5)),
    program(aug_assign_type_change, ints()),
    program(swap_and_unpack, ints(), floats(), ints()),
    program(tuple_subscripts, st.tuples(floats(), ints(), floats(), floats())),
    program(tuple_len, float_tuples(0, 6)),
    program(tuple_build_and_unpack, floats(), ints()),
    program(tuple_index_error, float_tuples(1, 4), tags={"raises"}, examples=[((1.0, 2.0),)]),
    program(unpack_mismatch, float_tuples(1, 3), tags={"raises"}, examples=[((1.0, 2.0, 3.0),)]),
    program(constants, floats()),
    Program(
        defaults,
        st.tuples(floats()) | st.tuples(floats(), ints()) | st.tuples(floats(), ints(), floats()),
    ),
    program(calls_with_defaults, floats()),
]
