"""The `math` module: functions and constants, alone and composed."""

import math

from corpus_support import floats, ints, nonzero_floats, program


def exp_log(x):
    return math.exp(x), math.log(math.exp(x) + 1.0), math.log1p(abs(x)), math.expm1(x)


def log_bases(x):
    y = abs(x) + 0.5
    return math.log2(y), math.log10(y), math.log(y, 3.0)


def sqrt_hypot(x, y):
    return math.sqrt(x * x + y * y), math.hypot(x, y), math.sqrt(abs(x))


def trig(x):
    return math.sin(x), math.cos(x), math.tan(x), math.sin(x) ** 2 + math.cos(x) ** 2


def inverse_trig(x, y):
    t = math.tanh(x)
    return math.atan(x), math.atan2(y, x), math.asin(t), math.acos(t)


def hyperbolic(x):
    return math.tanh(x), math.sinh(x), math.cosh(x)


def pow_and_fabs(x, y):
    return math.pow(abs(x) + 0.125, y), math.fabs(x), math.pow(x, 2), math.pow(2, 3)


def floor_ceil(x):
    # math.floor and math.ceil return ints
    return math.floor(x), math.ceil(x), math.floor(x) + 0.5, math.trunc(x)


def constants(x):
    return math.pi * x * x, math.e**x, math.tau / 2 - math.pi


def copysign_fmod(x, y):
    return math.copysign(x, y), math.fmod(x, y), math.degrees(x), math.radians(y)


def domain_errors(x):
    # sqrt and log of a negative number raise ValueError
    return math.sqrt(x) + math.log(x + 1.0)


def overflow_errors(x):
    # math.exp and float ** raise OverflowError past the float range
    return math.exp(x) + 10.0 ** (x / 2)


def gaussian(x, mu, sigma):
    z = (x - mu) / sigma
    return math.exp(-0.5 * z * z) / (sigma * math.sqrt(2.0 * math.pi))


def softplus_stable(x):
    if x > 0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


def math_of_ints(n):
    # math functions accept ints and return floats
    return math.sqrt(n * n), math.exp(n // 4), math.sin(n), math.floor(n)


PROGRAMS = [
    program(exp_log, floats(-20, 20)),
    program(log_bases, floats(-100, 100)),
    program(sqrt_hypot, floats(), floats()),
    program(trig, floats(-7, 7)),
    program(inverse_trig, floats(-5, 5), floats(-5, 5), examples=[(0.0, -0.0), (0.0, 0.0)]),
    program(hyperbolic, floats(-20, 20)),
    program(pow_and_fabs, floats(-4, 4), floats(-3, 3)),
    program(floor_ceil, floats(-1e6, 1e6), examples=[(-0.5,), (2.0,)]),
    program(constants, floats(-5, 5)),
    program(copysign_fmod, floats(), nonzero_floats(), examples=[(3.0, -0.25)]),
    program(domain_errors, floats(-2, 5), tags={"raises"}, examples=[(-1.0,), (0.0,)]),
    program(overflow_errors, floats(600, 800), tags={"raises"}, examples=[(700.0,), (710.0,)]),
    program(gaussian, floats(), floats(), nonzero_floats(3.0, 0.5)),
    program(softplus_stable, floats(-50, 50), examples=[(0.0,)]),
    program(math_of_ints, ints(-40, 40)),
]
