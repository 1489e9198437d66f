"""The `math` module: one primitive per function, on scalars only.

Each implementation *is* the `math` function (or a one-line call of it where
CPython gives no signature, and for `trunc`, whose `__trunc__` hook NumPy ints
lack), so the interpreter has CPython's semantics to the bit, errors included:
`math.log(-1.0)` raises `ValueError("math domain error")`, `math.exp(1000.0)`
raises `OverflowError`. Arguments are ints, floats or bools; results are
floats, except `floor`/`ceil`/`trunc` (ints) and `isnan`/`isinf`/`isfinite`
(bools). Arrays are a type error whose hint names the NumPy ufunc to use
instead.

`math.log` lowers to `log` with one argument and to `log_base` with two
(`log.rules["by_arity"]`, which the front end consults).
`math.pow` is `math_pow` (`pow` is the `**` operator).

Each differentiable function has its backpropagator right after it,
`bprop(x.., out, dout) -> (dx, ..)` in the Python subset (parsed by the front
end, so that it is differentiated in turn for higher orders). On floats they
compute with `math` and give floats, so the sensitivity of a float is a float.
Where a derivative is infinite (`sqrt` at 0, `asin` at +-1, `hypot` at the
origin, ...) the rule divides by zero as the same formula would in Python:
`ZeroDivisionError` on floats. Kinks take the slope 0 (`fabs` and `copysign`
at 0, like `abs`); `math.pow(x, y)` has d/dy = 0 where x <= 0, like `**`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tapeless.ir.primitives import Primitive, primitive
from tapeless.ir.prims.ad import safe_log, sign_of, zeros_like
from tapeless.ir.prims.rules import expect_math_scalar
from tapeless.ir.types import BOOL, F64, I64, AbstractType, Scalar


def _math(
    name: str,
    fn: Callable[..., Any],
    result: Scalar,
    doc: str,
    *,
    params: tuple[str, ...] = ("x",),
    np_alt: str | None = None,
    impl: Callable[..., Any] | None = None,
    differentiable: bool = True,
) -> Primitive:
    """Declare the primitive for `math.<fn>`: scalars in, a `result` scalar out."""
    opname = f"math.{fn.__name__}"

    def rule(*args: AbstractType) -> AbstractType:
        expect_math_scalar(opname, *args, array_hint=np_alt)
        return result

    return primitive(
        name,
        impl or fn,
        rule,
        params,
        implements=(fn,),
        differentiable=differentiable,
        doc=doc,
    )


def _log(x: Any) -> float:
    """math.log(x), the natural logarithm (`math.log` has no signature to inspect)."""
    return math.log(x)


def _log_base(x: Any, base: Any) -> float:
    """math.log(x, base), computed as CPython does: log(x) / log(base)."""
    return math.log(x, base)


def _hypot(x: Any, y: Any) -> float:
    """math.hypot(x, y) (`math.hypot` is variadic; tapeless takes two arguments)."""
    return math.hypot(x, y)


def _trunc(x: Any) -> int:
    """math.trunc(x); NumPy ints and bools (which lack `__trunc__`) as Python ones."""
    return math.trunc(x.item() if isinstance(x, np.integer | np.bool_) else x)


# -- exponentials and logarithms ---------------------------------------------
exp = _math("exp", math.exp, F64, "math.exp(x) = e ** x", np_alt="np.exp")


@exp.rule("bprop")
def _bprop_exp(x, out, dout):
    return (dout * out,)


expm1 = _math("expm1", math.expm1, F64, "math.expm1(x) = e ** x - 1, exact near 0", np_alt="np.expm1")


@expm1.rule("bprop")
def _bprop_expm1(x, out, dout):
    return (dout * (out + 1.0),)


log = _math("log", math.log, F64, "math.log(x), natural logarithm", np_alt="np.log", impl=_log)


@log.rule("bprop")
def _bprop_log(x, out, dout):
    return (dout / x,)


def _log_base_rule(x: AbstractType, base: AbstractType) -> AbstractType:
    expect_math_scalar("math.log", x, base, array_hint="np.log(x) / np.log(base)")
    return F64


# No `implements`: `math.log` maps to `log`; a call with two arguments picks this one.
log_base = primitive(
    "log_base", _log_base, _log_base_rule, ("x", "base"),
    doc="math.log(x, base) = log(x) / log(base)",
)
log.rules["by_arity"] = {2: log_base}


@log_base.rule("bprop")
def _bprop_log_base(x, base, out, dout):
    # out = log(x) / log(base): d/dbase = -log(x) / (base * log(base) ** 2) = -out / (base * log(base))
    log_b = math.log(base)
    return (dout / (x * log_b), -dout * out / (base * log_b))


log1p = _math("log1p", math.log1p, F64, "math.log1p(x) = log(1 + x), exact near 0", np_alt="np.log1p")


@log1p.rule("bprop")
def _bprop_log1p(x, out, dout):
    return (dout / (1.0 + x),)


log2 = _math("log2", math.log2, F64, "math.log2(x), base-2 logarithm")


@log2.rule("bprop")
def _bprop_log2(x, out, dout):
    return (dout / (x * math.log(2.0)),)


log10 = _math("log10", math.log10, F64, "math.log10(x), base-10 logarithm")


@log10.rule("bprop")
def _bprop_log10(x, out, dout):
    return (dout / (x * math.log(10.0)),)


sqrt = _math("sqrt", math.sqrt, F64, "math.sqrt(x)", np_alt="np.sqrt")


@sqrt.rule("bprop")
def _bprop_sqrt(x, out, dout):
    return (dout / (2.0 * out),)


math_pow = _math(
    "math_pow", math.pow, F64, "math.pow(x, y), always a float (unlike x ** y)",
    params=("x", "y"), np_alt="np.power",
)


@math_pow.rule("bprop")
def _bprop_math_pow(x, y, out, dout):
    # as `**`: d/dx = y * x ** (y - 1) (0 for y == 0, where math.pow(0.0, -1.0) would
    # raise); d/dy = out * log(x), 0 where x <= 0
    return (
        0.0 if y == 0 else dout * y * math.pow(x, y - 1.0),
        dout * out * safe_log(x),
    )


# -- trigonometric and hyperbolic --------------------------------------------
sin = _math("sin", math.sin, F64, "math.sin(x), x in radians", np_alt="np.sin")


@sin.rule("bprop")
def _bprop_sin(x, out, dout):
    return (dout * math.cos(x),)


cos = _math("cos", math.cos, F64, "math.cos(x), x in radians", np_alt="np.cos")


@cos.rule("bprop")
def _bprop_cos(x, out, dout):
    return (-dout * math.sin(x),)


tan = _math("tan", math.tan, F64, "math.tan(x), x in radians", np_alt="np.tan")


@tan.rule("bprop")
def _bprop_tan(x, out, dout):
    return (dout * (1.0 + out * out),)


asin = _math("asin", math.asin, F64, "math.asin(x), in [-pi/2, pi/2]", np_alt="np.arcsin")


@asin.rule("bprop")
def _bprop_asin(x, out, dout):
    return (dout / math.sqrt(1.0 - x * x),)


acos = _math("acos", math.acos, F64, "math.acos(x), in [0, pi]", np_alt="np.arccos")


@acos.rule("bprop")
def _bprop_acos(x, out, dout):
    return (-dout / math.sqrt(1.0 - x * x),)


atan = _math("atan", math.atan, F64, "math.atan(x), in [-pi/2, pi/2]", np_alt="np.arctan")


@atan.rule("bprop")
def _bprop_atan(x, out, dout):
    return (dout / (1.0 + x * x),)


atan2 = _math(
    "atan2", math.atan2, F64, "math.atan2(y, x), the angle of the point (x, y)",
    params=("y", "x"), np_alt="np.arctan2",
)


@atan2.rule("bprop")
def _bprop_atan2(y, x, out, dout):
    r2 = x * x + y * y
    return (dout * x / r2, -dout * y / r2)


sinh = _math("sinh", math.sinh, F64, "math.sinh(x)", np_alt="np.sinh")


@sinh.rule("bprop")
def _bprop_sinh(x, out, dout):
    return (dout * math.cosh(x),)


cosh = _math("cosh", math.cosh, F64, "math.cosh(x)", np_alt="np.cosh")


@cosh.rule("bprop")
def _bprop_cosh(x, out, dout):
    return (dout * math.sinh(x),)


tanh = _math("tanh", math.tanh, F64, "math.tanh(x)", np_alt="np.tanh")


@tanh.rule("bprop")
def _bprop_tanh(x, out, dout):
    return (dout * (1.0 - out * out),)


asinh = _math("asinh", math.asinh, F64, "math.asinh(x)")


@asinh.rule("bprop")
def _bprop_asinh(x, out, dout):
    return (dout / math.sqrt(x * x + 1.0),)


acosh = _math("acosh", math.acosh, F64, "math.acosh(x), x >= 1")


@acosh.rule("bprop")
def _bprop_acosh(x, out, dout):
    # sqrt(x - 1) * sqrt(x + 1) rather than sqrt(x * x - 1): no cancellation near 1
    return (dout / (math.sqrt(x - 1.0) * math.sqrt(x + 1.0)),)


atanh = _math("atanh", math.atanh, F64, "math.atanh(x), -1 < x < 1")


@atanh.rule("bprop")
def _bprop_atanh(x, out, dout):
    return (dout / (1.0 - x * x),)


degrees = _math("degrees", math.degrees, F64, "math.degrees(x): radians to degrees")


@degrees.rule("bprop")
def _bprop_degrees(x, out, dout):
    return (dout * (180.0 / math.pi),)


radians = _math("radians", math.radians, F64, "math.radians(x): degrees to radians")


@radians.rule("bprop")
def _bprop_radians(x, out, dout):
    return (dout * (math.pi / 180.0),)


hypot = _math(
    "hypot", math.hypot, F64, "math.hypot(x, y) = sqrt(x*x + y*y) without overflow",
    params=("x", "y"), impl=_hypot,
)


@hypot.rule("bprop")
def _bprop_hypot(x, y, out, dout):
    return (dout * x / out, dout * y / out)


# -- rounding, sign and remainder --------------------------------------------
# floor/ceil/trunc give Python ints (unbounded in CPython; native backends
# use i64). Piecewise constant, so not differentiable: no gradient flows.
floor = _math(
    "floor", math.floor, I64, "math.floor(x), an int", np_alt="np.floor", differentiable=False
)
ceil = _math("ceil", math.ceil, I64, "math.ceil(x), an int", np_alt="np.ceil", differentiable=False)
trunc = _math(
    "trunc", math.trunc, I64, "math.trunc(x), an int (toward zero)", impl=_trunc,
    differentiable=False,
)
fabs = _math("fabs", math.fabs, F64, "math.fabs(x) = |x| as a float", np_alt="np.abs")


@fabs.rule("bprop")
def _bprop_fabs(x, out, dout):
    return (dout * sign_of(x),)  # 0 at 0, like abs


copysign = _math(
    "copysign", math.copysign, F64, "math.copysign(x, y): |x| with the sign of y",
    params=("x", "y"),
)


@copysign.rule("bprop")
def _bprop_copysign(x, y, out, dout):
    # out = |x| * sign(y): slope sign(x) * sign(y) in x (0 at x == 0, like abs), and
    # piecewise constant in y
    return (dout * sign_of(x) * math.copysign(1.0, y), zeros_like(y))


fmod = _math(
    "fmod", math.fmod, F64, "math.fmod(x, y): C's fmod, the sign of x (unlike x % y)",
    params=("x", "y"),
)


@fmod.rule("bprop")
def _bprop_fmod(x, y, out, dout):
    # fmod(x, y) = x - y * trunc(x / y), and trunc(x / y) = (x - out) / y
    return (dout, -dout * ((x - out) / y))


# -- special functions -------------------------------------------------------
erf = _math("erf", math.erf, F64, "math.erf(x), the error function")


@erf.rule("bprop")
def _bprop_erf(x, out, dout):
    return (dout * (2.0 / math.sqrt(math.pi)) * math.exp(-x * x),)


erfc = _math("erfc", math.erfc, F64, "math.erfc(x) = 1 - erf(x), exact for large x")


@erfc.rule("bprop")
def _bprop_erfc(x, out, dout):
    return (-dout * (2.0 / math.sqrt(math.pi)) * math.exp(-x * x),)


# -- classification ----------------------------------------------------------
isnan = _math("isnan", math.isnan, BOOL, "math.isnan(x)", differentiable=False)
isinf = _math("isinf", math.isinf, BOOL, "math.isinf(x)", differentiable=False)
isfinite = _math("isfinite", math.isfinite, BOOL, "math.isfinite(x)", differentiable=False)
