"""Recursion and mutual recursion through module-level functions."""

from corpus_support import floats, ints, program


def factorial(n):
    if n <= 1:
        return 1
    return n * factorial(n - 1)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def gcd(a, b):
    if b == 0:
        return a
    return gcd(b, a % b)


def power(x, n):
    # exponentiation by squaring
    if n == 0:
        return 1.0
    if n % 2 == 0:
        h = power(x, n // 2)
        return h * h
    return x * power(x, n - 1)


def ackermann(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return ackermann(m - 1, 1)
    return ackermann(m - 1, ackermann(m, n - 1))


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def parity(n):
    return is_even(n), is_odd(n)


def hofstadter_f(n):
    return 1 if n == 0 else n - hofstadter_m(hofstadter_f(n - 1))


def hofstadter_m(n):
    return 0 if n == 0 else n - hofstadter_f(hofstadter_m(n - 1))


def hofstadter(n):
    return hofstadter_f(n), hofstadter_m(n)


def sum_digits(n):
    if n < 10:
        return n
    return n % 10 + sum_digits(n // 10)


def bisect_root(lo, hi, c, depth):
    # solve v**3 = c on [lo, hi] by recursive bisection
    mid = (lo + hi) / 2
    if depth == 0:
        return mid
    if mid * mid * mid < c:
        return bisect_root(mid, hi, c, depth - 1)
    return bisect_root(lo, mid, c, depth - 1)


def cube_root(c):
    return bisect_root(0.0, max(1.0, c), c, 40)


def count_paths(r, c):
    # lattice paths: two recursive calls, one early return
    if r == 0 or c == 0:
        return 1
    return count_paths(r - 1, c) + count_paths(r, c - 1)


def tail_sum(n, acc):
    if n == 0:
        return acc
    return tail_sum(n - 1, acc + n)


def recursion_in_loop(n):
    total = 0
    for i in range(n):
        total += fib(i)
    return total


def recursive_tuple(n):
    # returns a pair, unpacked at every level
    if n == 0:
        return 0, 1
    a, b = recursive_tuple(n - 1)
    return b, a + b


PROGRAMS = [
    program(factorial, ints(-2, 20), tags={"recursion"}),
    program(fib, ints(-1, 15), tags={"recursion"}),
    program(gcd, ints(0, 500), ints(0, 500), tags={"recursion"}),
    program(power, floats(-2, 2), ints(0, 40), tags={"recursion"}),
    program(ackermann, ints(0, 2), ints(0, 4), tags={"recursion"}),
    program(parity, ints(0, 40), tags={"recursion"}),
    program(hofstadter, ints(0, 25), tags={"recursion"}),
    program(sum_digits, ints(0, 10**9), tags={"recursion"}),
    program(cube_root, floats(0, 100), tags={"recursion"}),
    program(count_paths, ints(0, 6), ints(0, 6), tags={"recursion"}),
    program(tail_sum, ints(0, 60), ints(-5, 5), tags={"recursion"}),
    program(recursion_in_loop, ints(0, 12), tags={"recursion"}),
    program(recursive_tuple, ints(0, 40), tags={"recursion"}),
]
