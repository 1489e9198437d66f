"""Programs with nested and higher-order derivatives, and their closed forms,
for tests/ad/test_grad.py (which runs them on the interpreter and natively)."""

import math

import numpy as np

import tapeless as tl


def cube(x):
    return x * x * x


def poly_while(x):
    # 2x^4 - x^3 + 3x^2 - 5x + 1 by Horner in a while loop
    coeffs = (2.0, -1.0, 3.0, -5.0, 1.0)
    acc = 0.0
    i = 0
    while i < 5:
        acc = acc * x + coeffs[i]
        i += 1
    return acc


def rec_pow(x, n):
    if n == 0:
        return 1.0
    return x * rec_pow(x, n - 1)


def branchy(x):
    if x > 0.0:
        return x * x * x * x
    return x * x


def closure_power(x):
    def times_x(t):
        return t * x

    return times_x(times_x(times_x(x)))  # x^4


def confusion(x):
    # Siskind & Pearlmutter: d/dx [x * (d/dy (x + y))(1)] = 1, not 2
    return x * tl.grad(lambda y: x + y)(1.0)


def confusion_mul(x):
    # d/dx [x * d/dy (x * y)] = d/dx [x * x] = 2x
    return x * tl.grad(lambda y: x * y)(1.0)


def nested_argnums(x, y):
    f = lambda a, b: a * a * b
    return tl.grad(f, argnums=1)(x, y) + tl.value_and_grad(f)(y, x)[0]


def sine(x):
    return math.sin(x)


def exp_cube(x):
    return math.exp(x) * x**3


def slope_of(x):
    # grad over value_and_grad, inside compiled code: d/dx [d/dx exp_cube]
    return tl.value_and_grad(exp_cube)(x)[1]


def power_rule(x, n, order):
    return math.perm(n, order) * x ** (n - order) if order <= n else 0.0


def sin_nth(x, n):
    return (math.sin, math.cos, lambda v: -math.sin(v), lambda v: -math.cos(v))[n % 4](x)


def exp_cube_nth(x, n):
    # Leibniz: (e^x x^3)^(n) = e^x * sum_k C(n, k) (x^3)^(k)
    cube_derivs = (x**3, 3 * x**2, 6 * x, 6.0)
    return math.exp(x) * sum(math.comb(n, k) * cube_derivs[k] for k in range(min(n, 3) + 1))


POLY = np.poly1d([2.0, -1.0, 3.0, -5.0, 1.0])


_NTH: dict = {}


def nth(f, n, backend="interp"):
    """grad applied n times on `backend`, built once per (f, n, backend): the
    derivative graphs of high orders are large, and so is their compilation."""
    key = (f, n, backend)
    if key not in _NTH:
        g = f
        for _ in range(n):
            g = tl.grad(g, backend=backend)
        _NTH[key] = g
    return _NTH[key]
