"""The `math` module: one primitive per function, on scalars only.

Each implementation *is* the `math` function (or a one-line call of it where
CPython gives no signature, and for `trunc`, whose `__trunc__` hook NumPy ints
lack), so the interpreter has CPython's semantics to the bit, errors included: `math.log(-1.0)` raises `ValueError("math domain
error")`, `math.exp(1000.0)` raises `OverflowError`. Arguments are ints,
floats or bools; results are floats, except `floor`/`ceil`/`trunc` (ints) and
`isnan`/`isinf`/`isfinite` (bools). Arrays are a type error whose hint names
the NumPy ufunc to use instead.

`math.log` lowers to `log` with one argument and to `log_base` with two
(`log.rules["by_arity"]`, which the front end consults).
`math.pow` is `math_pow` (`pow` is the `**` operator).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tapeless.ir.primitives import Primitive, primitive
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
expm1 = _math("expm1", math.expm1, F64, "math.expm1(x) = e ** x - 1, exact near 0", np_alt="np.expm1")
log = _math("log", math.log, F64, "math.log(x), natural logarithm", np_alt="np.log", impl=_log)


def _log_base_rule(x: AbstractType, base: AbstractType) -> AbstractType:
    expect_math_scalar("math.log", x, base, array_hint="np.log(x) / np.log(base)")
    return F64


# No `implements`: `math.log` maps to `log`; a call with two arguments picks this one.
log_base = primitive(
    "log_base", _log_base, _log_base_rule, ("x", "base"),
    doc="math.log(x, base) = log(x) / log(base)",
)
log.rules["by_arity"] = {2: log_base}

log1p = _math("log1p", math.log1p, F64, "math.log1p(x) = log(1 + x), exact near 0", np_alt="np.log1p")
log2 = _math("log2", math.log2, F64, "math.log2(x), base-2 logarithm")
log10 = _math("log10", math.log10, F64, "math.log10(x), base-10 logarithm")
sqrt = _math("sqrt", math.sqrt, F64, "math.sqrt(x)", np_alt="np.sqrt")
math_pow = _math(
    "math_pow", math.pow, F64, "math.pow(x, y), always a float (unlike x ** y)",
    params=("x", "y"), np_alt="np.power",
)

# -- trigonometric and hyperbolic --------------------------------------------
sin = _math("sin", math.sin, F64, "math.sin(x), x in radians", np_alt="np.sin")
cos = _math("cos", math.cos, F64, "math.cos(x), x in radians", np_alt="np.cos")
tan = _math("tan", math.tan, F64, "math.tan(x), x in radians", np_alt="np.tan")
asin = _math("asin", math.asin, F64, "math.asin(x), in [-pi/2, pi/2]", np_alt="np.arcsin")
acos = _math("acos", math.acos, F64, "math.acos(x), in [0, pi]", np_alt="np.arccos")
atan = _math("atan", math.atan, F64, "math.atan(x), in [-pi/2, pi/2]", np_alt="np.arctan")
atan2 = _math(
    "atan2", math.atan2, F64, "math.atan2(y, x), the angle of the point (x, y)",
    params=("y", "x"), np_alt="np.arctan2",
)
sinh = _math("sinh", math.sinh, F64, "math.sinh(x)", np_alt="np.sinh")
cosh = _math("cosh", math.cosh, F64, "math.cosh(x)", np_alt="np.cosh")
tanh = _math("tanh", math.tanh, F64, "math.tanh(x)", np_alt="np.tanh")
asinh = _math("asinh", math.asinh, F64, "math.asinh(x)")
acosh = _math("acosh", math.acosh, F64, "math.acosh(x), x >= 1")
atanh = _math("atanh", math.atanh, F64, "math.atanh(x), -1 < x < 1")
degrees = _math("degrees", math.degrees, F64, "math.degrees(x): radians to degrees")
radians = _math("radians", math.radians, F64, "math.radians(x): degrees to radians")
hypot = _math(
    "hypot", math.hypot, F64, "math.hypot(x, y) = sqrt(x*x + y*y) without overflow",
    params=("x", "y"), impl=_hypot,
)

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
copysign = _math(
    "copysign", math.copysign, F64, "math.copysign(x, y): |x| with the sign of y",
    params=("x", "y"),
)
fmod = _math(
    "fmod", math.fmod, F64, "math.fmod(x, y): C's fmod, the sign of x (unlike x % y)",
    params=("x", "y"),
)

# -- special functions -------------------------------------------------------
erf = _math("erf", math.erf, F64, "math.erf(x), the error function")
erfc = _math("erfc", math.erfc, F64, "math.erfc(x) = 1 - erf(x), exact for large x")

# -- classification ----------------------------------------------------------
isnan = _math("isnan", math.isnan, BOOL, "math.isnan(x)", differentiable=False)
isinf = _math("isinf", math.isinf, BOOL, "math.isinf(x)", differentiable=False)
isfinite = _math("isfinite", math.isfinite, BOOL, "math.isfinite(x)", differentiable=False)
