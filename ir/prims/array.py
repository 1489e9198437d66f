"""NumPy's elementwise functions on arrays: ufuncs, `np.where` and `np.clip`.

Arrays are float64, int64 or bool arrays of any rank (`ArrayType(dtype,
ndim)`); scalars are Python or NumPy scalars (`Scalar(kind)`). Each
implementation calls the NumPy function, so the interpreter has NumPy's
semantics: broadcasting, NEP 50 promotion, and a 0-d result of a ufunc comes
back as a NumPy scalar (`np.exp(2.0)` is a `np.float64`), which the type rules
follow. Shape mismatches are found when the program runs (NumPy's
`ValueError`); type rules see dtypes and ranks only. The rest of NumPy is
declared the same way in `reductions`, `linalg` and `shapes`.

Where NumPy would leave the three dtypes, the implementation stays inside them
and the difference is written next to the primitive: float ufuncs of bools
compute in float64 (NumPy: float16), `np.square`/`np.power` of bools in int64
(NumPy: int8). Implementations are strict like the operators: tuples, lists
and None are `TypeError`s rather than arrays. Names are `np_<function>`.

Each differentiable primitive has its backpropagator right after it,
`bprop(x.., out, dout) -> (dx, ..)` in the Python subset (so that it is
differentiated in turn), with helper primitives next to the primitive they
serve (`clip_weights`). Every sensitivity goes through `sens_like`, which sums
it over the axes broadcasting added and gives it the argument's sensitivity
type: a float64 array of the argument's shape, or a Python float for a Python
number. Choices at kinks: `np.maximum`/`np.minimum` split dout equally between
tied operands (as JAX does); `np.clip` sends it to x where lo <= x <= hi (ties
included) and to the bound in force elsewhere; `np.abs` has slope 0 at 0.
`KindRule`, `_to_f64` and `_same` (result kinds) serve `reductions` too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapeless.ir.primitives import Primitive, primitive
from tapeless.ir.prims.ad import is_none, safe_log, sens_like, sign_of, zeros_like
from tapeless.ir.prims.rules import (
    check_numeric,
    expect_numeric,
    int_for_bool,
    kind_and_rank,
    type_error,
    ufunc_result,
)
from tapeless.ir.types import AbstractType, ArrayType, NoneType, TupleType, join_kind

KindRule = Callable[..., str]
DtypeChoice = Callable[..., Any]


def _is_bool(x: Any) -> bool:
    return isinstance(x, bool | np.bool_) or (isinstance(x, np.ndarray) and x.dtype == np.bool_)


def _natural(*_: Any) -> None:
    """Let NumPy choose the result dtype."""
    return None


def _float64(*_: Any) -> Any:
    """Compute in float64 whatever the inputs (NumPy gives float16 for bools)."""
    return np.float64


def _ufunc(
    name: str,
    ufunc: np.ufunc,
    params: tuple[str, ...],
    kinds: KindRule,
    doc: str,
    *,
    dtype: DtypeChoice = _natural,
    differentiable: bool = True,
) -> Primitive:
    """Declare an elementwise primitive: `ufunc` with broadcasting.

    `kinds` maps the operands' scalar kinds to the result's (raising a type
    error for kinds NumPy has no loop for); `dtype` picks the `dtype=` the
    implementation passes to the ufunc (None: NumPy's own choice).
    """
    opname = f"np.{ufunc.__name__}"

    def rule(*args: AbstractType) -> AbstractType:
        expect_numeric(opname, *args)
        return ufunc_result(kinds(*(kind_and_rank(a)[0] for a in args)), *args)

    impl: Callable[..., Any]
    if len(params) == 1:

        def impl(x: Any) -> Any:
            check_numeric(opname, x)
            return ufunc(x, dtype=dtype(x))

    else:

        def impl(x1: Any, x2: Any) -> Any:
            check_numeric(opname, x1, x2)
            return ufunc(x1, x2, dtype=dtype(x1, x2))

    impl.__name__ = impl.__qualname__ = name
    return primitive(
        name,
        impl,
        rule,
        params,
        implements=(ufunc,),
        differentiable=differentiable,
        doc=doc,
    )


def _to_f64(*_: str) -> str:
    return "f64"


def _same(*kinds: str) -> str:
    return kinds[0]


def _numeric_only(opname: str) -> KindRule:
    """Same kind as the operand, which may not be bool (NumPy has no bool loop)."""

    def kinds(k: str) -> str:
        if k == "bool":
            raise type_error(
                f"'{opname}' is not defined on bools", hint="convert first, e.g. x * 1 or x * 1.0"
            )
        return k

    return kinds


# -- float ufuncs: any kind in, float64 out ----------------------------------
def _float_ufunc(name: str, ufunc: np.ufunc, doc: str) -> Primitive:
    return _ufunc(name, ufunc, ("x",), _to_f64, doc, dtype=_float64)


np_exp = _float_ufunc("np_exp", np.exp, "np.exp(x) elementwise")


@np_exp.rule("bprop")
def _bprop_exp(x, out, dout):
    return (sens_like(dout * out, x),)


np_expm1 = _float_ufunc("np_expm1", np.expm1, "np.expm1(x) = exp(x) - 1 elementwise")


@np_expm1.rule("bprop")
def _bprop_expm1(x, out, dout):
    return (sens_like(dout * (out + 1.0), x),)


np_log = _float_ufunc("np_log", np.log, "np.log(x) elementwise (nan below 0, -inf at 0)")


@np_log.rule("bprop")
def _bprop_log(x, out, dout):
    return (sens_like(dout / x, x),)


np_log1p = _float_ufunc("np_log1p", np.log1p, "np.log1p(x) = log(1 + x) elementwise")


@np_log1p.rule("bprop")
def _bprop_log1p(x, out, dout):
    return (sens_like(dout / (1.0 + x), x),)


np_sqrt = _float_ufunc("np_sqrt", np.sqrt, "np.sqrt(x) elementwise (nan below 0)")


@np_sqrt.rule("bprop")
def _bprop_sqrt(x, out, dout):
    return (sens_like(dout / (2.0 * out), x),)


np_sin = _float_ufunc("np_sin", np.sin, "np.sin(x) elementwise")


@np_sin.rule("bprop")
def _bprop_sin(x, out, dout):
    return (sens_like(dout * np.cos(x), x),)


np_cos = _float_ufunc("np_cos", np.cos, "np.cos(x) elementwise")


@np_cos.rule("bprop")
def _bprop_cos(x, out, dout):
    return (sens_like(-dout * np.sin(x), x),)


np_tan = _float_ufunc("np_tan", np.tan, "np.tan(x) elementwise")


@np_tan.rule("bprop")
def _bprop_tan(x, out, dout):
    return (sens_like(dout * (1.0 + out * out), x),)


np_arcsin = _float_ufunc("np_arcsin", np.arcsin, "np.arcsin(x) elementwise")


@np_arcsin.rule("bprop")
def _bprop_arcsin(x, out, dout):
    return (sens_like(dout / np.sqrt(1.0 - x * x), x),)


np_arccos = _float_ufunc("np_arccos", np.arccos, "np.arccos(x) elementwise")


@np_arccos.rule("bprop")
def _bprop_arccos(x, out, dout):
    return (sens_like(-dout / np.sqrt(1.0 - x * x), x),)


np_arctan = _float_ufunc("np_arctan", np.arctan, "np.arctan(x) elementwise")


@np_arctan.rule("bprop")
def _bprop_arctan(x, out, dout):
    return (sens_like(dout / (1.0 + x * x), x),)


np_sinh = _float_ufunc("np_sinh", np.sinh, "np.sinh(x) elementwise")


@np_sinh.rule("bprop")
def _bprop_sinh(x, out, dout):
    return (sens_like(dout * np.cosh(x), x),)


np_cosh = _float_ufunc("np_cosh", np.cosh, "np.cosh(x) elementwise")


@np_cosh.rule("bprop")
def _bprop_cosh(x, out, dout):
    return (sens_like(dout * np.sinh(x), x),)


np_tanh = _float_ufunc("np_tanh", np.tanh, "np.tanh(x) elementwise")


@np_tanh.rule("bprop")
def _bprop_tanh(x, out, dout):
    return (sens_like(dout * (1.0 - out * out), x),)


np_arctan2 = _ufunc(
    "np_arctan2", np.arctan2, ("x1", "x2"), _to_f64,
    "np.arctan2(x1, x2): the angle of the point (x2, x1) elementwise", dtype=_float64,
)


@np_arctan2.rule("bprop")
def _bprop_arctan2(x1, x2, out, dout):
    r2 = x1 * x1 + x2 * x2
    return (sens_like(dout * x2 / r2, x1), sens_like(-dout * x1 / r2, x2))


# -- kind-preserving unary ufuncs --------------------------------------------
# np.abs is np.absolute: one object, one entry.
np_abs = _ufunc("np_abs", np.abs, ("x",), _same, "np.abs(x) elementwise (bools stay bools)")


@np_abs.rule("bprop")
def _bprop_abs(x, out, dout):
    return (sens_like(dout * sign_of(x), x),)


np_negative = _ufunc(
    "np_negative", np.negative, ("x",), _numeric_only("np.negative"), "np.negative(x) = -x"
)


@np_negative.rule("bprop")
def _bprop_negative(x, out, dout):
    return (sens_like(-dout, x),)


np_sign = _ufunc(
    "np_sign", np.sign, ("x",), _numeric_only("np.sign"),
    "np.sign(x): -1, 0 or 1 elementwise (nan for nan)", differentiable=False,
)


def _square_dtype(x: Any) -> Any:
    """int64 for bools (NumPy: int8), else NumPy's choice."""
    return np.int64 if _is_bool(x) else None


np_square = _ufunc(
    "np_square", np.square, ("x",), int_for_bool, "np.square(x) = x * x elementwise",
    dtype=_square_dtype,
)


@np_square.rule("bprop")
def _bprop_square(x, out, dout):
    return (sens_like(2.0 * dout * x, x),)


# Recent NumPy (2.x) floors and ceils ints and bools in their own dtype;
# older versions give float64 (float16 for bools, which we compute in float64).
_ROUNDING_KEEPS_KIND = np.floor(np.ones(1, np.int64)).dtype == np.int64


def _rounding_kinds(k: str) -> str:
    return k if _ROUNDING_KEEPS_KIND else "f64"


_rounding_dtype = _natural if _ROUNDING_KEEPS_KIND else _float64
np_floor = _ufunc(
    "np_floor", np.floor, ("x",), _rounding_kinds, "np.floor(x) elementwise",
    dtype=_rounding_dtype, differentiable=False,
)
np_ceil = _ufunc(
    "np_ceil", np.ceil, ("x",), _rounding_kinds, "np.ceil(x) elementwise",
    dtype=_rounding_dtype, differentiable=False,
)

# -- binary ufuncs -----------------------------------------------------------
np_maximum = _ufunc(
    "np_maximum", np.maximum, ("x1", "x2"), join_kind,
    "np.maximum(x1, x2) elementwise (nan wins), in the promoted kind",
)


@np_maximum.rule("bprop")
def _bprop_maximum(x1, x2, out, dout):
    # ties split dout equally (as JAX does), so that the two sensitivities add up to dout
    w = np_where(x1 > x2, 1.0, np_where(x1 == x2, 0.5, 0.0))
    return (sens_like(dout * w, x1), sens_like(dout * (1.0 - w), x2))


np_minimum = _ufunc(
    "np_minimum", np.minimum, ("x1", "x2"), join_kind,
    "np.minimum(x1, x2) elementwise (nan wins), in the promoted kind",
)


@np_minimum.rule("bprop")
def _bprop_minimum(x1, x2, out, dout):
    w = np_where(x1 < x2, 1.0, np_where(x1 == x2, 0.5, 0.0))
    return (sens_like(dout * w, x1), sens_like(dout * (1.0 - w), x2))


def _power_kinds(a: str, b: str) -> str:
    return int_for_bool(join_kind(a, b))


def _power_dtype(x1: Any, x2: Any) -> Any:
    """int64 for two bools (NumPy: int8), else NumPy's choice."""
    return np.int64 if _is_bool(x1) and _is_bool(x2) else None


np_power = _ufunc(
    "np_power", np.power, ("x1", "x2"), _power_kinds,
    "np.power(x1, x2) elementwise; ints to negative int powers raise ValueError",
    dtype=_power_dtype,
)


@np_power.rule("bprop")
def _bprop_power(x1, x2, out, dout):
    # d/dx1 = x2 * x1 ** (x2 - 1), with x1 ** 0 where x2 == 0 so that it is 0 there, not
    # 0 * inf at x1 == 0; a float exponent, since ints to negative int powers raise.
    # d/dx2 = out * log(x1), 0 where x1 <= 0.
    d1 = x2 * np.power(x1, np_where(x2 == 0, 1.0, x2) - 1.0)
    return (sens_like(dout * d1, x1), sens_like(dout * out * safe_log(x1), x2))


# -- where and clip ----------------------------------------------------------
def _where(cond: Any, x: Any, y: Any) -> Any:
    """np.where(cond, x, y): x where cond is true, else y, broadcast; always an array."""
    check_numeric("np.where", cond, x, y)
    return np.where(cond, x, y)


def _where_rule(cond: AbstractType, x: AbstractType, y: AbstractType) -> AbstractType:
    expect_numeric("np.where", cond, x, y)
    rank = max(kind_and_rank(t)[1] for t in (cond, x, y))
    # Unlike a ufunc, np.where returns a 0-d array for scalar operands.
    return ArrayType(join_kind(kind_and_rank(x)[0], kind_and_rank(y)[0]), rank)


np_where = primitive(
    "np_where", _where, _where_rule, ("cond", "x", "y"), implements=(np.where,),
    doc="np.where(cond, x, y) with three arguments (selecting, not np.nonzero)",
)


@np_where.rule("bprop")
def _bprop_where(cond, x, y, out, dout):
    return (
        zeros_like(cond),
        sens_like(np_where(cond, dout, 0.0), x),
        sens_like(np_where(cond, 0.0, dout), y),
    )


def _clip(x: Any, lo: Any, hi: Any) -> Any:
    """np.clip(x, lo, hi), either bound None for none."""
    check_numeric("np.clip", x, *(b for b in (lo, hi) if b is not None))
    return np.clip(x, lo, hi)


def _clip_rule(x: AbstractType, lo: AbstractType, hi: AbstractType) -> AbstractType:
    bounds = [b for b in (lo, hi) if not isinstance(b, NoneType)]
    if not bounds:
        # NumPy < 2.1 raises; later ones copy x (and raise for bools).
        raise type_error("np.clip needs a lower or an upper bound, got None for both")
    expect_numeric("np.clip", x, *bounds)
    kind = kind_and_rank(x)[0]
    for b in bounds:
        kind = join_kind(kind, kind_and_rank(b)[0])
    return ufunc_result(kind, x, *bounds)


np_clip = primitive(
    "np_clip", _clip, _clip_rule, ("x", "lo", "hi"), implements=(np.clip,),
    doc="np.clip(x, lo, hi) elementwise, in the promoted kind",
)


def _clip_weights(x: Any, lo: Any, hi: Any) -> tuple[Any, Any, Any]:
    """Where np.clip(x, lo, hi) takes each element from: float64 masks (w_x, w_lo, w_hi)
    of the result's shape. From x where lo <= x <= hi (a tie goes to x), from lo where
    x < lo, from hi where x > hi or where lo > hi (np.clip is minimum(maximum(x, lo), hi));
    never from a None bound."""
    check_numeric("np.clip", x, *(b for b in (lo, hi) if b is not None))
    shape = np.broadcast_shapes(*(np.shape(b) for b in (x, lo, hi) if b is not None))
    from_lo = np.zeros(shape, dtype=bool) if lo is None else np.broadcast_to(x < lo, shape)
    m = x if lo is None else np.maximum(x, lo)
    from_hi = np.zeros(shape, dtype=bool) if hi is None else np.broadcast_to(m > hi, shape)
    w_hi = np.asarray(from_hi, dtype=np.float64)
    w_lo = np.asarray(from_lo & ~from_hi, dtype=np.float64)
    return np.asarray(1.0 - w_lo - w_hi), w_lo, w_hi  # 0-d arithmetic gives NumPy scalars


def _clip_weights_rule(x: AbstractType, lo: AbstractType, hi: AbstractType) -> AbstractType:
    given = [x, *(t for t in (lo, hi) if not isinstance(t, NoneType))]
    expect_numeric("np.clip", *given)
    w = ArrayType("f64", max(kind_and_rank(t)[1] for t in given))
    return TupleType((w, w, w))


clip_weights = primitive(
    "clip_weights", _clip_weights, _clip_weights_rule, ("x", "lo", "hi"), differentiable=False
)


@np_clip.rule("bprop")
def _bprop_clip(x, lo, hi, out, dout):
    w = clip_weights(x, lo, hi)
    return (
        sens_like(dout * w[0], x),
        zeros_like(lo) if is_none(lo) else sens_like(dout * w[1], lo),
        zeros_like(hi) if is_none(hi) else sens_like(dout * w[2], hi),
    )
