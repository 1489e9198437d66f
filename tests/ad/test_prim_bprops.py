"""The backpropagator of every primitive, against independent oracles.

- Completeness: every differentiable primitive of the registry has a "bprop"
  rule with the convention `bprop(x1..xn, out, dout)`, parsed by our own front
  end (so that it can be differentiated again); every differentiable primitive
  of `math.py` and of NumPy's modules (`array.py`, `reductions.py`,
  `linalg.py`, `shapes.py`), and the helpers their rules use, has a case here.
- Scalars (`math`): `tapeless.grad` of a one-line function against central
  finite differences, at points drawn by hypothesis inside the domain and away
  from kinks; the sensitivity of a Python float is a Python float.
- Arrays: the VJP inner-product identity <J^T v, u> = <v, J u>, with J^T v from
  `tapeless.grad` of `np.sum(f(x) * v)` and J u by central differences along u;
  the sensitivity has the argument's shape (float64), or is a float for a float.
- Higher order: second derivatives of scalar functions against closed forms,
  and Hessian-vector products of the array cases (grad inside compiled code)
  against finite differences of the gradient: the rules differentiated again.
"""
# ruff: noqa: E731

import functools
import inspect
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tapeless as tl
import tapeless.ad  # noqa: F401  (registers the primitives of ad/grad.py)
from tapeless.ad.prim_j import bprop_graph
from tapeless.ir import prims
from tapeless.ir.primitives import PRIMITIVES, Primitive
from tapeless.ir.prims.ad import sens_like
from tapeless.ir.prims.linalg import dot_dx, dot_dy, matmul_dx, matmul_dy
from tapeless.ir.prims.reductions import unreduce

H = 1e-6  # central-difference step

# -- completeness --------------------------------------------------------------

#: Differentiable primitives without a rule, and why: built directly by prim_j.
BUILT_BY_PRIM_J = {"make_tuple"}


def test_every_differentiable_primitive_has_a_backpropagator():
    missing = sorted(
        name for name, p in PRIMITIVES.items()
        if p.differentiable and name not in BUILT_BY_PRIM_J and "bprop" not in p.rules
    )
    assert not missing, f"differentiable primitives without a bprop rule: {missing}"


@pytest.mark.parametrize("name", sorted(n for n, p in PRIMITIVES.items() if "bprop" in p.rules))
def test_backpropagator_follows_the_convention_and_parses(name):
    p = PRIMITIVES[name]
    assert p.differentiable, f"{name} is declared non-differentiable but has a bprop rule"
    params = list(inspect.signature(p.rules["bprop"]).parameters)
    assert params[-2:] == ["out", "dout"] and len(params) == p.arity + 2, params
    bprop_graph(p)  # in the subset: parsed by the front end


def _declared_in(*modules) -> set[str]:
    """The differentiable primitives some modules of ir/prims declare (not those
    they import from ad.py; give together modules that import from each other)."""
    imported = {id(v) for v in vars(prims.ad).values()} if prims.ad not in modules else set()
    return {
        v.name for module in modules for v in vars(module).values()
        if isinstance(v, Primitive) and id(v) not in imported and v.differentiable
    }


# -- scalars: the math module ------------------------------------------------------

def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def away_from_zero(lo, hi):
    """|x| in [lo, hi], either sign."""
    return floats(lo, hi) | floats(-hi, -lo)


# The functions differentiated, one per line (the front end parses their source).
m_exp = lambda x: math.exp(x)
m_expm1 = lambda x: math.expm1(x)
m_log = lambda x: math.log(x)
m_log_base = lambda x, b: math.log(x, b)
m_log1p = lambda x: math.log1p(x)
m_log2 = lambda x: math.log2(x)
m_log10 = lambda x: math.log10(x)
m_sqrt = lambda x: math.sqrt(x)
m_math_pow = lambda x, y: math.pow(x, y)
m_sin = lambda x: math.sin(x)
m_cos = lambda x: math.cos(x)
m_tan = lambda x: math.tan(x)
m_asin = lambda x: math.asin(x)
m_acos = lambda x: math.acos(x)
m_atan = lambda x: math.atan(x)
m_atan2 = lambda y, x: math.atan2(y, x)
m_sinh = lambda x: math.sinh(x)
m_cosh = lambda x: math.cosh(x)
m_tanh = lambda x: math.tanh(x)
m_asinh = lambda x: math.asinh(x)
m_acosh = lambda x: math.acosh(x)
m_atanh = lambda x: math.atanh(x)
m_degrees = lambda x: math.degrees(x)
m_radians = lambda x: math.radians(x)
m_hypot = lambda x, y: math.hypot(x, y)
m_fabs = lambda x: math.fabs(x)
m_copysign = lambda x, y: math.copysign(x, y)
m_fmod = lambda x, y: math.fmod(x, y)
m_erf = lambda x: math.erf(x)
m_erfc = lambda x: math.erfc(x)

#: name -> (function, a strategy per argument, a filter on the arguments)
MATH_CASES = {
    "exp": (m_exp, [floats(-5, 5)], None),
    "expm1": (m_expm1, [floats(-5, 5)], None),
    "log": (m_log, [floats(0.05, 20)], None),
    "log_base": (m_log_base, [floats(0.1, 10), floats(1.5, 10) | floats(0.1, 0.7)], None),
    "log1p": (m_log1p, [floats(-0.9, 10)], None),
    "log2": (m_log2, [floats(0.05, 20)], None),
    "log10": (m_log10, [floats(0.05, 20)], None),
    "sqrt": (m_sqrt, [floats(0.05, 20)], None),
    "math_pow": (m_math_pow, [floats(0.2, 4), floats(-3, 3)], None),
    "sin": (m_sin, [floats(-6, 6)], None),
    "cos": (m_cos, [floats(-6, 6)], None),
    "tan": (m_tan, [floats(-1.4, 1.4)], None),
    "asin": (m_asin, [floats(-0.95, 0.95)], None),
    "acos": (m_acos, [floats(-0.95, 0.95)], None),
    "atan": (m_atan, [floats(-5, 5)], None),
    "atan2": (m_atan2, [away_from_zero(0.2, 3), away_from_zero(0.2, 3)],
              # the branch cut: x < 0, y crossing 0
              lambda y, x: not (x < 0 and abs(y) < 1e-3)),
    "sinh": (m_sinh, [floats(-4, 4)], None),
    "cosh": (m_cosh, [floats(-4, 4)], None),
    "tanh": (m_tanh, [floats(-4, 4)], None),
    "asinh": (m_asinh, [floats(-10, 10)], None),
    "acosh": (m_acosh, [floats(1.05, 10)], None),
    "atanh": (m_atanh, [floats(-0.95, 0.95)], None),
    "degrees": (m_degrees, [floats(-7, 7)], None),
    "radians": (m_radians, [floats(-400, 400)], None),
    "hypot": (m_hypot, [away_from_zero(0.1, 5), floats(-5, 5)], None),
    "fabs": (m_fabs, [away_from_zero(0.01, 5)], None),
    "copysign": (m_copysign, [away_from_zero(0.01, 5), away_from_zero(0.01, 5)], None),
    "fmod": (m_fmod, [floats(-10, 10), away_from_zero(0.5, 3)],
             # away from the jumps, where x / y is an integer
             lambda x, y: abs(x / y - round(x / y)) > 1e-3),
    "erf": (m_erf, [floats(-3, 3)], None),
    "erfc": (m_erfc, [floats(-3, 3)], None),
}


def central_difference(fn, args, i, h=H):
    lo, hi = list(args), list(args)
    lo[i] -= h
    hi[i] += h
    return (fn(*hi) - fn(*lo)) / (2 * h)


@functools.cache
def gradient(fn, argnum):
    return tl.grad(fn, argnums=argnum)


def test_every_math_primitive_has_a_case():
    assert _declared_in(prims.math) == set(MATH_CASES)


@pytest.mark.parametrize("name", sorted(MATH_CASES))
@given(data=st.data())
def test_math_rule_matches_finite_differences(name, data):
    fn, strategies, ok = MATH_CASES[name]
    args = tuple(data.draw(s) for s in strategies)
    assume(ok is None or ok(*args))
    for i in range(len(args)):
        got = gradient(fn, i)(*args)
        want = central_difference(fn, args, i)
        assert type(got) is float, f"d/d{i}: {type(got).__name__}, not float"
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), f"d/d{i} at {args}"


def test_math_rules_at_points_finite_differences_do_not_reach():
    # math.pow of a negative base to an integral power: d/dx = y x^(y-1); d/dy is taken as 0
    assert tl.grad(lambda x, y: math.pow(x, y), argnums=(0, 1))(-2.0, 3.0) == (12.0, 0.0)
    # x ** 0 has slope 0 everywhere, 0 ** 0 included (math.pow(0.0, -1.0) would raise)
    assert tl.grad(lambda x: math.pow(x, 0.0))(0.0) == 0.0
    # |x| and copysign: slope 0 at 0, like abs
    assert tl.grad(lambda x: math.fabs(x))(0.0) == 0.0
    assert tl.grad(lambda x, y: math.copysign(x, y), argnums=(0, 1))(-2.0, -1.0) == (1.0, 0.0)
    # int arguments: the sensitivity of the float one is a float
    assert tl.grad(lambda x, n: math.pow(x, n) + math.fmod(x, n))(2.0, 3) == 13.0


# -- second and third derivatives against closed forms ------------------------------

d2_sin = lambda x: math.sin(x)
d2_cos = lambda x: math.cos(x)
d2_exp = lambda x: math.exp(x)
d2_expm1 = lambda x: math.expm1(x)
d2_log = lambda x: math.log(x)
d2_log1p = lambda x: math.log1p(x)
d2_log10 = lambda x: math.log10(x)
d2_sqrt = lambda x: math.sqrt(x)
d2_tan = lambda x: math.tan(x)
d2_tanh = lambda x: math.tanh(x)
d2_sinh = lambda x: math.sinh(x)
d2_cosh = lambda x: math.cosh(x)
d2_asin = lambda x: math.asin(x)
d2_acos = lambda x: math.acos(x)
d2_atan = lambda x: math.atan(x)
d2_asinh = lambda x: math.asinh(x)
d2_acosh = lambda x: math.acosh(x)
d2_atanh = lambda x: math.atanh(x)
d2_erf = lambda x: math.erf(x)
d2_erfc = lambda x: math.erfc(x)
d2_pow = lambda x: math.pow(x, 3.5)
d2_pow_exponent = lambda y: math.pow(2.0, y)
d2_hypot = lambda x: math.hypot(x, 2.0)
d2_atan2 = lambda x: math.atan2(1.5, x)
d2_np_tanh = lambda x: np.tanh(x)
d2_np_log = lambda x: np.log(x)
d2_log_base = lambda b: math.log(5.0, b)

SECOND = {
    "sin": (d2_sin, lambda x: -math.sin(x), floats(-6, 6)),
    "cos": (d2_cos, lambda x: -math.cos(x), floats(-6, 6)),
    "exp": (d2_exp, lambda x: math.exp(x), floats(-5, 5)),
    "expm1": (d2_expm1, lambda x: math.exp(x), floats(-5, 5)),
    "log": (d2_log, lambda x: -1.0 / (x * x), floats(0.1, 10)),
    "log1p": (d2_log1p, lambda x: -1.0 / (1.0 + x) ** 2, floats(-0.9, 10)),
    "log10": (d2_log10, lambda x: -1.0 / (x * x * math.log(10.0)), floats(0.1, 10)),
    "sqrt": (d2_sqrt, lambda x: -0.25 * x ** -1.5, floats(0.1, 10)),
    "tan": (d2_tan, lambda x: 2 * math.tan(x) / math.cos(x) ** 2, floats(-1.2, 1.2)),
    "tanh": (d2_tanh, lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2), floats(-4, 4)),
    "sinh": (d2_sinh, lambda x: math.sinh(x), floats(-4, 4)),
    "cosh": (d2_cosh, lambda x: math.cosh(x), floats(-4, 4)),
    "asin": (d2_asin, lambda x: x / (1 - x * x) ** 1.5, floats(-0.9, 0.9)),
    "acos": (d2_acos, lambda x: -x / (1 - x * x) ** 1.5, floats(-0.9, 0.9)),
    "atan": (d2_atan, lambda x: -2 * x / (1 + x * x) ** 2, floats(-5, 5)),
    "asinh": (d2_asinh, lambda x: -x / (x * x + 1) ** 1.5, floats(-5, 5)),
    "acosh": (d2_acosh, lambda x: -x / (x * x - 1) ** 1.5, floats(1.1, 5)),
    "atanh": (d2_atanh, lambda x: 2 * x / (1 - x * x) ** 2, floats(-0.9, 0.9)),
    "erf": (d2_erf, lambda x: -4 * x / math.sqrt(math.pi) * math.exp(-x * x), floats(-3, 3)),
    "erfc": (d2_erfc, lambda x: 4 * x / math.sqrt(math.pi) * math.exp(-x * x), floats(-3, 3)),
    "pow": (d2_pow, lambda x: 3.5 * 2.5 * x ** 1.5, floats(0.1, 4)),
    "pow_exponent": (d2_pow_exponent, lambda y: 2.0 ** y * math.log(2.0) ** 2, floats(-3, 3)),
    "log_base": (d2_log_base,
                 lambda b: math.log(5.0) * (math.log(b) + 2) / (b * b * math.log(b) ** 3), floats(1.5, 10)),
    "hypot": (d2_hypot, lambda x: 4.0 / (x * x + 4.0) ** 1.5, floats(-5, 5)),
    "atan2": (d2_atan2, lambda x: 3.0 * x / (x * x + 2.25) ** 2, floats(-5, 5)),
    "np_tanh": (d2_np_tanh, lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2), floats(-4, 4)),
    "np_log": (d2_np_log, lambda x: -1.0 / (x * x), floats(0.1, 10)),
}


@pytest.mark.parametrize("name", sorted(SECOND))
@given(data=st.data())
def test_second_derivative_matches_closed_form(name, data):
    fn, want, strategy = SECOND[name]
    x = data.draw(strategy)
    got = tl.grad(tl.grad(fn))(x)
    assert type(got) is float
    assert got == pytest.approx(want(x), rel=1e-9, abs=1e-9)


d3_sin = lambda x: math.sin(x)
d3_exp = lambda x: math.exp(x)
d3_log = lambda x: math.log(x)
d3_tanh = lambda x: math.tanh(x)
d3_np_sqrt = lambda x: np.sqrt(x)

THIRD = {
    "sin": (d3_sin, lambda x: -math.cos(x)),
    "exp": (d3_exp, lambda x: math.exp(x)),
    "log": (d3_log, lambda x: 2.0 / x ** 3),
    "tanh": (d3_tanh, lambda x: -2 * (1 - math.tanh(x) ** 2) * (1 - 3 * math.tanh(x) ** 2)),
    "np_sqrt": (d3_np_sqrt, lambda x: 0.375 * x ** -2.5),
}


@pytest.mark.parametrize("name", sorted(THIRD))
@pytest.mark.parametrize("x", [0.3, 0.9, 2.5])
def test_third_derivative_matches_closed_form(name, x):
    fn, want = THIRD[name]
    assert tl.grad(tl.grad(tl.grad(fn)))(x) == pytest.approx(want(x), rel=1e-9, abs=1e-9)


# -- arrays: the VJP inner-product identity -----------------------------------------

def pairing(fn, n):
    """The function (a1..an, v) -> np.sum(fn(a1..an) * v), whose gradient is J^T v."""
    if n == 1:
        def paired(a, v):
            return np.sum(fn(a) * v)
    elif n == 2:
        def paired(a, b, v):
            return np.sum(fn(a, b) * v)
    else:
        def paired(a, b, c, v):
            return np.sum(fn(a, b, c) * v)
    return paired


@functools.cache
def vjp(fn, n, argnum):
    return tl.grad(pairing(fn, n), argnums=argnum)


def like(x, rng):
    """A random value of x's sensitivity type."""
    if isinstance(x, np.ndarray):
        return rng.standard_normal(x.shape)
    return float(rng.standard_normal())


def perturbed(args, i, t):
    return args[:i] + (args[i] + t,) + args[i + 1:]


def check_vjp(fn, args, wrt, seed=0, rel=1e-5):
    """<grad of sum(fn * v) in args[i], u> against the central difference of <fn, v> along u."""
    rng = np.random.default_rng(seed)
    out = fn(*args)
    v = like(np.asarray(out) if np.ndim(out) else out, rng)
    for i in wrt:
        x = args[i]
        g = vjp(fn, len(args), i)(*args, v)
        if isinstance(x, np.ndarray):
            assert isinstance(g, np.ndarray) and g.shape == x.shape and g.dtype == np.float64, (
                f"d/d{i}: {type(g).__name__} {getattr(g, 'shape', '')}, not float64 {x.shape}"
            )
        elif type(x) is float:
            assert type(g) is float, f"d/d{i} of a float: {type(g).__name__}"
        else:  # a NumPy scalar: a NumPy or a Python float
            assert isinstance(g, float), f"d/d{i} of a {type(x).__name__}: {type(g).__name__}"
        u = like(x, rng)
        with np.errstate(all="ignore"):
            hi = np.sum(fn(*perturbed(args, i, H * u)) * v)
            lo = np.sum(fn(*perturbed(args, i, -H * u)) * v)
        want = (hi - lo) / (2 * H)
        got = np.sum(g * u)
        scale = max(1.0, float(np.sum(np.abs(g * u))))
        assert got == pytest.approx(want, rel=rel, abs=1e-6 * scale), f"d/d{i} at {args}"


def operands(shape, elements):
    """An array of `shape`; for shape () also a Python float or a NumPy float."""
    arrays = hnp.arrays(np.float64, shape, elements=elements)
    if shape != ():
        return arrays
    return arrays | elements | elements.map(np.float64)


# elementwise, one argument: the function, and the domain of its argument
a_exp = lambda x: np.exp(x)
a_expm1 = lambda x: np.expm1(x)
a_log = lambda x: np.log(x)
a_log1p = lambda x: np.log1p(x)
a_sqrt = lambda x: np.sqrt(x)
a_sin = lambda x: np.sin(x)
a_cos = lambda x: np.cos(x)
a_tan = lambda x: np.tan(x)
a_arcsin = lambda x: np.arcsin(x)
a_arccos = lambda x: np.arccos(x)
a_arctan = lambda x: np.arctan(x)
a_sinh = lambda x: np.sinh(x)
a_cosh = lambda x: np.cosh(x)
a_tanh = lambda x: np.tanh(x)
a_abs = lambda x: np.abs(x)
a_negative = lambda x: np.negative(x)
a_square = lambda x: np.square(x)

UNARY = {
    "np_exp": (a_exp, floats(-4, 4)),
    "np_expm1": (a_expm1, floats(-4, 4)),
    "np_log": (a_log, floats(0.1, 10)),
    "np_log1p": (a_log1p, floats(-0.8, 10)),
    "np_sqrt": (a_sqrt, floats(0.1, 10)),
    "np_sin": (a_sin, floats(-6, 6)),
    "np_cos": (a_cos, floats(-6, 6)),
    "np_tan": (a_tan, floats(-1.3, 1.3)),
    "np_arcsin": (a_arcsin, floats(-0.9, 0.9)),
    "np_arccos": (a_arccos, floats(-0.9, 0.9)),
    "np_arctan": (a_arctan, floats(-5, 5)),
    "np_sinh": (a_sinh, floats(-4, 4)),
    "np_cosh": (a_cosh, floats(-4, 4)),
    "np_tanh": (a_tanh, floats(-4, 4)),
    "np_abs": (a_abs, away_from_zero(0.01, 5)),
    "np_negative": (a_negative, floats(-5, 5)),
    "np_square": (a_square, floats(-5, 5)),
}

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary_ufunc_rule_satisfies_the_vjp_identity(name, data):
    fn, elements = UNARY[name]
    x = data.draw(operands(data.draw(SHAPES), elements))
    check_vjp(fn, (x,), wrt=(0,))


# elementwise, two arguments, with broadcasting
b_arctan2 = lambda a, b: np.arctan2(a, b)
b_maximum = lambda a, b: np.maximum(a, b)
b_minimum = lambda a, b: np.minimum(a, b)
b_power = lambda a, b: np.power(a, b)


def _apart(a, b):
    return bool(np.all(np.abs(np.subtract(a, b)) > 1e-3))


BINARY = {
    "np_arctan2": (b_arctan2, away_from_zero(0.2, 3), floats(0.2, 3),  # away from the branch cut
                   None),
    "np_maximum": (b_maximum, floats(-3, 3), floats(-3, 3), _apart),
    "np_minimum": (b_minimum, floats(-3, 3), floats(-3, 3), _apart),
    "np_power": (b_power, floats(0.2, 3), floats(-2, 2), None),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_ufunc_rule_satisfies_the_vjp_identity(name, data):
    fn, e1, e2, ok = BINARY[name]
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    s1, s2 = shapes.input_shapes
    args = (data.draw(operands(s1, e1)), data.draw(operands(s2, e2)))
    assume(ok is None or ok(*args))
    check_vjp(fn, args, wrt=(0, 1))


w_where = lambda c, x, y: np.where(c, x, y)


@given(data=st.data())
def test_where_rule_satisfies_the_vjp_identity(data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
    sc, sx, sy = shapes.input_shapes
    cond = data.draw(hnp.arrays(np.bool_, sc))
    x = data.draw(operands(sx, floats(-3, 3)))
    y = data.draw(operands(sy, floats(-3, 3)))
    check_vjp(w_where, (cond, x, y), wrt=(1, 2))
    assert tl.grad(lambda c, x, y: np.sum(np.where(c, x, y)), argnums=0)(1.5, x, y) == 0.0


c_clip = lambda x, lo, hi: np.clip(x, lo, hi)
c_clip_lo = lambda x, lo: np.clip(x, lo, None)
c_clip_hi = lambda x, hi: np.clip(x, None, hi)


def _off_bounds(x, *bounds):
    return all(_apart(x, b) for b in bounds)


@given(data=st.data())
def test_clip_rule_satisfies_the_vjp_identity(data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
    sx, sl, sh = shapes.input_shapes
    x = data.draw(operands(sx, floats(-3, 3)))
    lo = data.draw(operands(sl, floats(-2, 0)))
    hi = data.draw(operands(sh, floats(-0.5, 2)))  # sometimes below lo: then np.clip gives hi
    assume(_off_bounds(x, lo, hi) and _apart(lo, hi))
    check_vjp(c_clip, (x, lo, hi), wrt=(0, 1, 2))
    check_vjp(c_clip_lo, (x, lo), wrt=(0, 1))
    check_vjp(c_clip_hi, (x, hi), wrt=(0, 1))


def test_clip_sends_ties_to_x_and_nothing_to_a_none_bound():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    g = tl.grad(lambda x, lo, hi, w: np.sum(np.clip(x, lo, hi) * w), argnums=(0, 1, 2))
    dx, dlo, dhi = g(x, -1.0, 1.0, np.arange(1.0, 6.0))
    assert dx.tolist() == [0.0, 2.0, 3.0, 4.0, 0.0] and dlo == 1.0 and dhi == 5.0
    dx, dlo = tl.grad(lambda x, lo: np.sum(np.clip(x, lo, None)), argnums=(0, 1))(x, 0.0)
    assert dx.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0] and dlo == 2.0


# -- arrays: reductions, linear algebra, shapes (fixed cases, random values) -----------

def _distinct(shape, rng):
    """Values with no ties (max/min are differentiable there), away from zero."""
    n = int(np.prod(shape))
    return (rng.permutation(n) + 1.0 + 0.3 * rng.random(n)).reshape(shape) * rng.choice([-1, 1])


def _near_one(shape, rng):
    """Non-zero values of both signs (np.prod)."""
    return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def _normal(shape, rng):
    return rng.standard_normal(shape)


r_sum = lambda x: np.sum(x)
r_sum_0 = lambda x: np.sum(x, axis=0)
r_sum_neg = lambda x: np.sum(x, axis=-1)
r_sum_02 = lambda x: np.sum(x, axis=(0, 2))
r_sum_none = lambda x: np.sum(x, axis=())
r_mean = lambda x: np.mean(x)
r_mean_1 = lambda x: np.mean(x, axis=1)
r_mean_20 = lambda x: np.mean(x, axis=(2, 0))
r_prod = lambda x: np.prod(x)
r_prod_1 = lambda x: np.prod(x, axis=1)
r_prod_01 = lambda x: np.prod(x, axis=(0, 1))
r_max = lambda x: np.max(x)
r_max_0 = lambda x: np.max(x, axis=0)
r_max_12 = lambda x: np.max(x, axis=(1, 2))
r_min = lambda x: np.min(x)
r_min_neg = lambda x: np.min(x, axis=-1)
r_min_02 = lambda x: np.min(x, axis=(0, 2))
r_method = lambda x: x.sum(axis=1) + x.mean(axis=1) + x.max(axis=1) + x.min(axis=1)

l_matmul = lambda x, y: x @ y
l_matmul_call = lambda x, y: np.matmul(x, y)
l_dot = lambda x, y: np.dot(x, y)
l_outer = lambda x, y: np.outer(x, y)

s_transpose = lambda x: np.transpose(x)
s_transpose_102 = lambda x: np.transpose(x, (1, 0, 2))
s_transpose_201 = lambda x: np.transpose(x, (2, 0, 1))
s_transpose_neg = lambda x: np.transpose(x, (-1, 0, 1))
s_reshape = lambda x: np.reshape(x, (3, 2))
s_reshape_method = lambda x: x.reshape((2, -1))
s_reshape_flat = lambda x: np.reshape(x, -1)
s_reshape_deep = lambda x: np.reshape(x, (4, 6))
s_full = lambda v: np.full((2, 3), v)

#: (primitive, function, argument shapes (None: a Python float), values, argnums)
STRUCTURAL = [
    ("np_sum", r_sum, [(2, 3, 4)], _normal, (0,)),
    ("np_sum", r_sum, [None], _normal, (0,)),
    ("np_sum", r_sum_0, [(2, 3, 4)], _normal, (0,)),
    ("np_sum", r_sum_neg, [(2, 3, 4)], _normal, (0,)),
    ("np_sum", r_sum_02, [(2, 3, 4)], _normal, (0,)),
    ("np_sum", r_sum_none, [(2, 3)], _normal, (0,)),
    ("np_mean", r_mean, [(2, 3, 4)], _normal, (0,)),
    ("np_mean", r_mean, [None], _normal, (0,)),
    ("np_mean", r_mean_1, [(2, 3, 4)], _normal, (0,)),
    ("np_mean", r_mean_20, [(2, 3, 4)], _normal, (0,)),
    ("np_prod", r_prod, [(2, 3)], _near_one, (0,)),
    ("np_prod", r_prod, [None], _near_one, (0,)),
    ("np_prod", r_prod_1, [(2, 3, 4)], _near_one, (0,)),
    ("np_prod", r_prod_01, [(2, 3, 2)], _near_one, (0,)),
    ("np_max", r_max, [(2, 3, 4)], _distinct, (0,)),
    ("np_max", r_max, [None], _distinct, (0,)),
    ("np_max", r_max_0, [(2, 3, 4)], _distinct, (0,)),
    ("np_max", r_max_12, [(2, 3, 4)], _distinct, (0,)),
    ("np_min", r_min, [(2, 3, 4)], _distinct, (0,)),
    ("np_min", r_min_neg, [(2, 3, 4)], _distinct, (0,)),
    ("np_min", r_min_02, [(2, 3, 4)], _distinct, (0,)),
    ("np_max", r_method, [(2, 3, 4)], _distinct, (0,)),
    # every rank combination of @: vectors, matrices, stacks with broadcast batch axes
    ("matmul", l_matmul, [(3,), (3,)], _normal, (0, 1)),
    ("matmul", l_matmul, [(2, 3), (3,)], _normal, (0, 1)),
    ("matmul", l_matmul, [(3,), (3, 4)], _normal, (0, 1)),
    ("matmul", l_matmul, [(2, 3), (3, 4)], _normal, (0, 1)),
    ("matmul", l_matmul, [(5, 2, 3), (3, 4)], _normal, (0, 1)),
    ("matmul", l_matmul, [(2, 3), (5, 3, 4)], _normal, (0, 1)),
    ("matmul", l_matmul, [(3,), (5, 3, 4)], _normal, (0, 1)),
    ("matmul", l_matmul, [(5, 2, 3), (3,)], _normal, (0, 1)),
    ("matmul", l_matmul, [(5, 1, 2, 3), (4, 3, 2)], _normal, (0, 1)),
    ("matmul", l_matmul_call, [(1, 2, 3), (4, 3, 2)], _normal, (0, 1)),
    # np.dot: scalars, vectors, matrices, and the contraction of x's last axis
    # with y's second-to-last
    ("np_dot", l_dot, [None, (2, 3)], _normal, (0, 1)),
    ("np_dot", l_dot, [(2, 3), None], _normal, (0, 1)),
    ("np_dot", l_dot, [None, None], _normal, (0, 1)),
    ("np_dot", l_dot, [(3,), (3,)], _normal, (0, 1)),
    ("np_dot", l_dot, [(2, 3), (3,)], _normal, (0, 1)),
    ("np_dot", l_dot, [(3,), (3, 4)], _normal, (0, 1)),
    ("np_dot", l_dot, [(2, 3), (3, 4)], _normal, (0, 1)),
    ("np_dot", l_dot, [(2, 2, 3), (3,)], _normal, (0, 1)),
    ("np_dot", l_dot, [(2, 2, 3), (4, 3, 5)], _normal, (0, 1)),
    ("np_dot", l_dot, [(3,), (4, 3, 5)], _normal, (0, 1)),
    ("np_dot", l_dot, [(2, 3), (2, 4, 3, 2)], _normal, (0, 1)),
    ("np_outer", l_outer, [(3,), (4,)], _normal, (0, 1)),
    ("np_outer", l_outer, [(2, 2), (3,)], _normal, (0, 1)),
    ("np_outer", l_outer, [None, (3,)], _normal, (0, 1)),
    ("transpose", s_transpose, [(2, 3, 4)], _normal, (0,)),
    ("transpose", s_transpose, [(3,)], _normal, (0,)),
    ("transpose", s_transpose_102, [(2, 3, 4)], _normal, (0,)),
    ("transpose", s_transpose_201, [(2, 3, 4)], _normal, (0,)),
    ("transpose", s_transpose_neg, [(2, 3, 4)], _normal, (0,)),
    ("reshape", s_reshape, [(2, 3)], _normal, (0,)),
    ("reshape", s_reshape_method, [(2, 3, 2)], _normal, (0,)),
    ("reshape", s_reshape_flat, [(2, 3)], _normal, (0,)),
    ("reshape", s_reshape_flat, [None], _normal, (0,)),
    ("reshape", s_reshape_deep, [(2, 3, 4)], _normal, (0,)),
    ("np_full", s_full, [None], _normal, (0,)),
]


def _args(shapes, values, rng):
    return tuple(float(values((), rng)) if s is None else values(s, rng) for s in shapes)


def _case_id(case):
    """primitive-shapes, a Python float written f: np_dot-f-23"""
    name, shapes = case[0], case[2]
    return "-".join([name, *("f" if s is None else "".join(map(str, s)) for s in shapes)])


@pytest.mark.parametrize("case", STRUCTURAL, ids=[_case_id(c) for c in STRUCTURAL])
@pytest.mark.parametrize("seed", [0, 1])
def test_structural_rule_satisfies_the_vjp_identity(case, seed):
    _, fn, shapes, values, wrt = case
    rng = np.random.default_rng(seed)
    check_vjp(fn, _args(shapes, values, rng), wrt, seed=seed)


def test_max_and_min_split_dout_among_ties():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    assert tl.grad(r_max)(x).tolist() == [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]
    assert tl.grad(lambda x: np.sum(np.max(x, axis=1)))(x).tolist() == [[0, 0.5, 0.5], [1 / 3] * 3]
    assert tl.grad(lambda x: np.sum(np.min(x, axis=0)))(x).tolist() == [[1, 0, 0], [0, 1, 1]]
    # and np.maximum splits at ties too, so that the two sensitivities add up to dout
    g = tl.grad(lambda a, b: np.sum(np.maximum(a, b)), argnums=(0, 1))(x, 2.0)
    assert g[0].tolist() == [[0, 1, 1], [0.5, 0.5, 0.5]] and g[1] == 2.5


def test_prod_at_zeros():
    # the product of the other elements, also where the slice has a zero
    x = np.array([[2.0, 0.0, 3.0], [0.0, 5.0, 0.0], [1.0, 2.0, 4.0]])
    want = [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]]
    assert tl.grad(lambda x: np.sum(np.prod(x, axis=1)))(x).tolist() == want
    assert tl.grad(r_prod)(np.array([2.0, 0.0, 3.0])).tolist() == [0.0, 6.0, 0.0]
    assert tl.grad(r_prod)(0.0) == 1.0



def test_power_at_zero_exponent_and_negative_base():
    x = np.array([0.0, -2.0, 3.0])
    assert tl.grad(lambda x: np.sum(np.power(x, 0.0)))(x).tolist() == [0.0, 0.0, 0.0]
    assert tl.grad(lambda x: np.sum(np.power(x, 3)))(x).tolist() == [0.0, 12.0, 27.0]
    # an int array as base: its sensitivity is computed (and dropped) without error
    n = np.array([0, 1, 2])
    assert tl.grad(lambda y, n: np.sum(np.power(n, 2) * y))(np.ones(3), n).tolist() == [0, 1, 4]


def test_ufunc_sensitivity_of_a_python_float_is_a_float():
    for fn in (a_exp, a_sin, a_sqrt, a_abs, a_square):
        g = tl.grad(fn)(0.7)
        assert type(g) is float and g == pytest.approx(central_difference(fn, (0.7,), 0))
    g = tl.grad(b_power, argnums=(0, 1))(1.5, 2.5)
    assert all(type(d) is float for d in g)


# -- the helpers the rules use, differentiable in turn ------------------------------------

h_sens_like = lambda d, x: sens_like(d, x)
h_unreduce = lambda d, x: unreduce(d, x, (0, 2))
h_unreduce_all = lambda d, x: unreduce(d, x, None)
h_matmul_dx = lambda d, x, y: matmul_dx(d, x, y)
h_matmul_dy = lambda d, x, y: matmul_dy(d, x, y)
h_dot_dx = lambda d, x, y: dot_dx(d, x, y)
h_dot_dy = lambda d, x, y: dot_dy(d, x, y)

HELPERS = [
    ("sens_like", h_sens_like, [(4, 2, 3), (2, 1)], (0,)),
    ("sens_like", h_sens_like, [(3, 1), (1, 3)], (0,)),
    ("sens_like", h_sens_like, [(2, 3), None], (0,)),
    ("unreduce", h_unreduce, [(3,), (2, 3, 4)], (0,)),
    ("unreduce", h_unreduce_all, [None, (2, 3)], (0,)),
    ("matmul_dx", h_matmul_dx, [(5, 4, 2, 4), (5, 1, 2, 3), (4, 3, 4)], (0, 2)),
    ("matmul_dx", h_matmul_dx, [(4,), (3,), (3, 4)], (0, 2)),
    ("matmul_dy", h_matmul_dy, [(5, 4, 2, 4), (5, 1, 2, 3), (4, 3, 4)], (0, 1)),
    ("matmul_dy", h_matmul_dy, [None, (3,), (3,)], (0, 1)),
    ("dot_dx", h_dot_dx, [(2, 2, 4, 5), (2, 2, 3), (4, 3, 5)], (0, 2)),
    ("dot_dx", h_dot_dx, [(2, 3), None, (2, 3)], (0, 2)),
    ("dot_dy", h_dot_dy, [(2, 2, 4, 5), (2, 2, 3), (4, 3, 5)], (0, 1)),
    ("dot_dy", h_dot_dy, [(2,), (2, 3), (3,)], (0, 1)),
]


@pytest.mark.parametrize("case", HELPERS, ids=[_case_id(c) for c in HELPERS])
def test_helper_rule_satisfies_the_vjp_identity(case):
    _, fn, shapes, wrt = case
    check_vjp(fn, _args(shapes, _normal, np.random.default_rng(0)), wrt)


def test_every_array_primitive_has_a_case():
    covered = set(UNARY) | set(BINARY) | {"np_where", "np_clip"} | {c[0] for c in STRUCTURAL}
    covered |= {c[0] for c in HELPERS}
    numpy_modules = (prims.array, prims.reductions, prims.linalg, prims.shapes)
    assert _declared_in(*numpy_modules) | {"sens_like"} == covered


# -- arrays: second order (the rules differentiated again) ---------------------------------

def hessian_pairing(fn, n):
    """(a1..an, v, w) -> <d/da1 np.sum(fn(a1..an) * v), w>: its gradient is a row of
    Hessian-vector products, computed by differentiating fn's rule."""
    paired = pairing(fn, n)
    if n == 1:
        def h(a, v, w):
            return np.sum(tl.grad(paired)(a, v) * w)
    elif n == 2:
        def h(a, b, v, w):
            return np.sum(tl.grad(paired)(a, b, v) * w)
    else:
        def h(a, b, c, v, w):
            return np.sum(tl.grad(paired)(a, b, c, v) * w)
    return h


@functools.cache
def hvp(fn, n, argnum):
    return tl.grad(hessian_pairing(fn, n), argnums=argnum)


def check_hvp(fn, args, wrt, seed=0, h=1e-5):
    """The gradient of <grad_0 <fn, v>, w> in args[i], along u, against the central
    difference of the (first-order, separately checked) gradient along u."""
    rng = np.random.default_rng(seed)
    out = fn(*args)
    v = like(np.asarray(out) if np.ndim(out) else out, rng)
    w = like(args[0], rng)
    first = vjp(fn, len(args), 0)
    for i in wrt:
        g = hvp(fn, len(args), i)(*args, v, w)
        u = like(args[i], rng)
        hi = np.sum(first(*perturbed(args, i, h * u), v) * w)
        lo = np.sum(first(*perturbed(args, i, -h * u), v) * w)
        want = (hi - lo) / (2 * h)
        got = np.sum(g * u)
        scale = max(1.0, float(np.sum(np.abs(g * u))))
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6 * scale), f"d/d{i} at {args}"


def _uniform(lo, hi):
    return lambda shape, rng: rng.uniform(lo, hi, shape)


#: (function, value maker per argument, argnums): the elementwise cases at fixed shapes
ELEMENTWISE_SECOND = {
    "np_exp": (a_exp, [_uniform(-2, 2)]),
    "np_expm1": (a_expm1, [_uniform(-2, 2)]),
    "np_log": (a_log, [_uniform(0.2, 5)]),
    "np_log1p": (a_log1p, [_uniform(-0.5, 5)]),
    "np_sqrt": (a_sqrt, [_uniform(0.2, 5)]),
    "np_sin": (a_sin, [_uniform(-3, 3)]),
    "np_cos": (a_cos, [_uniform(-3, 3)]),
    "np_tan": (a_tan, [_uniform(-1.2, 1.2)]),
    "np_arcsin": (a_arcsin, [_uniform(-0.8, 0.8)]),
    "np_arccos": (a_arccos, [_uniform(-0.8, 0.8)]),
    "np_arctan": (a_arctan, [_uniform(-3, 3)]),
    "np_sinh": (a_sinh, [_uniform(-2, 2)]),
    "np_cosh": (a_cosh, [_uniform(-2, 2)]),
    "np_tanh": (a_tanh, [_uniform(-2, 2)]),
    "np_abs": (a_abs, [_uniform(0.2, 2)]),
    "np_negative": (a_negative, [_uniform(-2, 2)]),
    "np_square": (a_square, [_uniform(-2, 2)]),
    "np_arctan2": (b_arctan2, [_uniform(0.3, 2), _uniform(0.3, 2)]),
    "np_maximum": (b_maximum, [_uniform(-2, 2), _uniform(-2, 2)]),
    "np_minimum": (b_minimum, [_uniform(-2, 2), _uniform(-2, 2)]),
    "np_power": (b_power, [_uniform(0.3, 2), _uniform(-2, 2)]),
    "np_clip": (c_clip, [_uniform(-2, 2), _uniform(-1.5, -0.5), _uniform(0.5, 1.5)]),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_SECOND))
@pytest.mark.parametrize("shapes", [[(2, 3), (3,), (1, 3)], [(), (), ()]], ids=["broadcast", "floats"])
def test_elementwise_rule_differentiates_again(name, shapes):
    fn, makers = ELEMENTWISE_SECOND[name]
    rng = np.random.default_rng(3)
    args = tuple(m(s, rng) if s else float(m(s, rng)) for m, s in zip(makers, shapes))
    check_hvp(fn, args, wrt=range(len(args)))


@pytest.mark.parametrize("case", STRUCTURAL, ids=[_case_id(c) for c in STRUCTURAL])
def test_structural_rule_differentiates_again(case):
    _, fn, shapes, values, wrt = case
    check_hvp(fn, _args(shapes, values, np.random.default_rng(0)), wrt)


@pytest.mark.parametrize("case", HELPERS, ids=[_case_id(c) for c in HELPERS])
def test_helper_rule_differentiates_again(case):
    _, fn, shapes, wrt = case
    check_hvp(fn, _args(shapes, _normal, np.random.default_rng(0)), wrt)


w_where_second = lambda x, y: np.where(x > 0.0, x * x * y, np.sin(x) * y)


def test_where_rule_differentiates_again():
    rng = np.random.default_rng(0)
    check_hvp(w_where_second, (rng.standard_normal((2, 3)), rng.standard_normal(3)), wrt=(0, 1))


def test_prod_at_a_zero_differentiates_again():
    # exact where each slice has at most one zero (with two, the Hessian entry between
    # the two zeros is lost: the rule's value there is a constant 0)
    x = np.array([[2.0, 0.0, 3.0, -1.5], [0.5, 5.0, 0.7, 1.1]])
    check_hvp(r_prod_1, (x,), wrt=(0,))
    check_hvp(r_prod, (np.array([2.0, 0.0, 3.0]),), wrt=(0,))


def test_third_order_through_array_rules():
    # f(t) = sum(tanh(A @ (1, 1) t)): f'''(t) = sum(s^3 tanh'''(s t)) with s = A @ (1, 1)
    A = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, 0.0]])

    def f(t):
        return np.sum(np.tanh(A @ (np.ones(2) * t)))

    d3 = tl.grad(tl.grad(tl.grad(f)))(0.4)
    s = A @ np.ones(2)
    th = np.tanh(s * 0.4)
    want = np.sum(s ** 3 * (-2 * (1 - th ** 2) * (1 - 3 * th ** 2)))
    assert d3 == pytest.approx(want, rel=1e-9)


# -- outside these rules: a regression, and known problems (strict xfails: bugs to fix) -----

W32 = np.arange(6.0).reshape(3, 2)
t_attribute = lambda x: np.sum(x.T * W32)


def test_gradient_through_the_T_attribute():
    # `.T` once lowered to transpose(x) without its default axes, which J(transpose) refused
    assert tl.grad(t_attribute)(np.ones((2, 3))).tolist() == [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]


t_scale = lambda x, a: x * np.sum(a)


def test_operator_sensitivity_of_a_float_times_a_numpy_scalar_is_a_float():
    g = tl.grad(t_scale)(2.0, np.array([1.0, 2.0]))
    assert type(g) is float


t_zero_d = lambda a, b: np.sum(a * b)


def test_operator_sensitivity_of_a_0d_array_is_a_0d_array():
    g = tl.grad(t_zero_d)(np.array(1.0), np.array([0.5, 2.0]))
    assert isinstance(g, np.ndarray) and g.shape == ()
