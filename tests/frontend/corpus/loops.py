"""Loops: while, for over range (1-3 arguments, negative and runtime steps)
and over tuples, break/continue, else clauses, nesting."""

from corpus_support import Program, float_tuples, floats, ints, nonzero_ints, program
from hypothesis import strategies as st


def while_sum(n):
    i = 0
    total = 0
    while i < n:
        total += i * i
        i += 1
    return total


def while_float_until(x, y):
    # data-dependent trip count
    acc = 0.0
    steps = 0
    while acc < y:
        acc = acc + x
        steps += 1
    return acc, steps


def collatz_steps(n):
    steps = 0
    while n != 1:
        if n % 2 == 0:
            n = n // 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps


def range_one_arg(n):
    s = 0
    for i in range(n):
        s += i
    return s


def range_two_args(a, b):
    s = 0
    for i in range(a, b):
        s = s * 2 + i
    return s


def range_three_args(a, b, step):
    # step may be negative; it is known only at run time
    s = 0
    count = 0
    for i in range(a, b, step):
        s += i
        count += 1
    return s, count


def range_negative_literal_step(n):
    out = 0
    for i in range(n, 0, -1):
        out = out * 3 + i
    for j in range(10, n, -3):
        out -= j
    return out


def range_zero_step(a, b, step):
    # range() with a zero step raises ValueError
    s = 0
    for i in range(a, b, step):
        s += i
    return s


def loop_variable_after_loop(n):
    # the loop variable keeps its last value; it is unbound if the loop never ran
    i = -1
    for i in range(n):
        pass
    return i


def for_over_tuple_literal(x):
    acc = 0.0
    for c in (1.0, -2.0, 0.5, 3.0):
        acc = acc * x + c
    return acc


def for_over_tuple_argument(t):
    total = 0.0
    biggest = 0.0
    for v in t:
        total += v
        biggest = max(biggest, v)
    return total, biggest


def for_tuple_targets(k):
    acc = 0
    for a, b in ((1, 2), (3, 4), (5, 6)):
        acc += a * k - b
    return acc


def break_first_multiple(n, k):
    found = -1
    for i in range(1, n):
        if i % k == 0:
            found = i
            break
    return found


def continue_skip_odd(n):
    s = 0
    for i in range(n):
        if i % 2 == 1:
            continue
        s += i
    return s


def while_break_continue(n):
    i = 0
    s = 0
    while True:
        i += 1
        if i > n:
            break
        if i % 3 == 0:
            continue
        s += i
    return s, i


def for_else(n, k):
    # the else clause runs only when the loop did not break
    for i in range(2, n):
        if i * i == k:
            r = i
            break
    else:
        r = -1
    return r


def while_else(n):
    i = 0
    while i < n:
        if i == 7:
            break
        i += 1
    else:
        i = i * 100
    return i


def for_tuple_else(t, x):
    for v in t:
        if v > x:
            return v
    else:
        return -1.0


def nested_loops(n, m):
    total = 0
    for i in range(n):
        for j in range(m):
            if j > i:
                break
            total += i * j
    return total


def nested_while_for(n):
    count = 0
    i = n
    while i > 0:
        for j in range(i):
            if j % 2 == 0:
                continue
            count += j
        i -= 2
    return count


def return_from_loop(n):
    for i in range(n):
        for j in range(i):
            if i * j > 12:
                return i, j
    return -1, -1


def primes_below(n):
    count = 0
    for p in range(2, n):
        for d in range(2, p):
            if d * d > p:
                count += 1
                break
            if p % d == 0:
                break
        else:
            count += 1
    return count


def long_loop(n):
    # many iterations: loops are tail calls, not Python recursion
    s = 0.0
    for i in range(n):
        s += 1.0 / (i + 1)
    return s


def loop_accumulator_changes_type(n):
    acc = 0
    for i in range(n):
        acc = acc + 0.5 * i
    return acc


PROGRAMS = [
    program(while_sum, ints(-3, 30)),
    program(while_float_until, floats(0.5, 3), floats(-1, 30)),
    program(collatz_steps, ints(1, 60)),
    program(range_one_arg, ints(-3, 40)),
    program(range_two_args, ints(-10, 10), ints(-10, 12)),
    program(
        range_three_args,
        ints(-15, 15),
        ints(-15, 15),
        nonzero_ints(-4, 4),
        examples=[(10, -3, -3), (0, 10, 3), (0, 10, -1)],
    ),
    program(range_negative_literal_step, ints(-3, 12)),
    program(
        range_zero_step,
        ints(-5, 5),
        ints(-5, 5),
        ints(-1, 1),
        tags={"raises"},
        examples=[(0, 5, 0)],
    ),
    program(loop_variable_after_loop, ints(-2, 6)),
    program(for_over_tuple_literal, floats(-3, 3)),
    program(for_over_tuple_argument, float_tuples(0, 6)),
    program(for_tuple_targets, ints()),
    program(break_first_multiple, ints(0, 30), ints(1, 12)),
    program(continue_skip_odd, ints(0, 30)),
    program(while_break_continue, ints(-2, 20)),
    program(for_else, ints(0, 12), ints(0, 50), examples=[(10, 49), (10, 50)]),
    program(while_else, ints(-2, 20), examples=[(8,), (7,), (5,)]),
    Program(for_tuple_else, st.tuples(float_tuples(0, 5), floats())),
    program(nested_loops, ints(0, 8), ints(0, 8)),
    program(nested_while_for, ints(-2, 12)),
    program(return_from_loop, ints(0, 10)),
    program(primes_below, ints(0, 40)),
    program(long_loop, st.sampled_from([0, 1, 10, 5000]), examples=[(100_000,)]),
    program(loop_accumulator_changes_type, ints(-1, 10), tags={"polymorphic"}),
]
