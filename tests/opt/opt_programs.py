"""Higher-order and recursive programs that several optimizer tests share."""

from __future__ import annotations


def sq(y):
    return y * y


def cube(y):
    return y * y * y


def apply_n(f, x, n):
    while n > 0:
        x = f(x)
        n -= 1
    return x


def apply_rec(f, x, n):
    # recursive, so never inlined: only specialization makes its call of f direct
    if n <= 0:
        return x
    return apply_rec(f, f(x), n - 1)


def power_pair(x, n):
    # (x ** n, n * x ** (n - 1))
    if n == 0:
        return (1.0, 0.0)
    v, d = power_pair(x, n - 1)
    return (x * v, v + x * d)
