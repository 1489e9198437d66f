"""NumPy on arrays: ufuncs, reductions, linear algebra, shapes and constructors.

Arrays are float64, int64 or bool arrays of any rank (`ArrayType(dtype,
ndim)`); scalars are Python or NumPy scalars (`Scalar(kind)`). Each
implementation calls the NumPy function, so the interpreter has NumPy's
semantics: broadcasting, NEP 50 promotion, and a 0-d result of a ufunc or a
full reduction comes back as a NumPy scalar (`np.exp(2.0)` is a
`np.float64`), which the type rules follow. Shape mismatches are found when
the program runs (NumPy's `ValueError`); type rules see dtypes and ranks only.

Where NumPy would leave the three dtypes, the implementation stays inside them
and the difference is written next to the primitive: float ufuncs of bools
compute in float64 (NumPy: float16), `np.square`/`np.power` of bools in int64
(NumPy: int8). Implementations are strict like the operators: tuples, lists
and None are `TypeError`s rather than arrays. Constructors always make float64
arrays (no `dtype=` keyword).

Names are `np_<function>`, except the array-structural `matmul` (also the `@`
operator), `transpose` (also `.T`), `reshape` (also `.reshape`), `shape`
(also `.shape`), `ndim` and `size`.

Each differentiable primitive has its backpropagator right after it,
`bprop(x.., out, dout) -> (dx, ..)` in the Python subset (so that it is
differentiated in turn), with helper primitives next to the primitive they
serve (`unreduce` for reductions, `matmul_dx`/`matmul_dy`, `dot_dx`/`dot_dy`,
`clip_weights`, `inverse_axes`). Every sensitivity goes through `sens_like`,
which sums it over the axes broadcasting added and gives it the argument's
sensitivity type: a float64 array of the argument's shape, or a Python float
for a Python number. Choices at kinks: `np.max`/`np.min` split dout equally
among the tied extrema of a slice, `np.maximum`/`np.minimum` between tied
operands (as JAX does); `np.clip` sends it to x where lo <= x <= hi (ties
included) and to the bound in force elsewhere; `np.abs` has slope 0 at 0.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from tapeless.ir.primitives import Primitive, primitive
from tapeless.ir.prims.ad import (
    as_sens,
    is_none,
    reduce_to_shape,
    safe_log,
    sens_like,
    sens_like_impl,
    sign_of,
    zeros_like,
)
from tapeless.ir.prims.rules import (
    check_numeric,
    constant_int,
    expect_numeric,
    kind_and_rank,
    normalize_axes,
    shape_rank,
    type_error,
    ufunc_result,
)
from tapeless.ir.types import (
    F64,
    I64,
    NONE,
    AbstractType,
    ArrayType,
    NoneType,
    Scalar,
    TupleType,
    join_kind,
)

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


def _square_kinds(k: str) -> str:
    return "i64" if k == "bool" else k


def _square_dtype(x: Any) -> Any:
    """int64 for bools (NumPy: int8), else NumPy's choice."""
    return np.int64 if _is_bool(x) else None


np_square = _ufunc(
    "np_square", np.square, ("x",), _square_kinds, "np.square(x) = x * x elementwise",
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
    k = join_kind(a, b)
    return "i64" if k == "bool" else k


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


# -- reductions --------------------------------------------------------------
def _reduction(
    name: str, fn: Callable[..., Any], kinds: KindRule, doc: str, implements: tuple[Any, ...]
) -> Primitive:
    """Declare `fn(x, axis=None)`: axis None (all), a constant int or tuple of ints."""
    opname = f"np.{fn.__name__}"

    def impl(x: Any, axis: Any = None) -> Any:
        check_numeric(opname, x)
        return fn(x, axis=axis)

    def rule(x: AbstractType, axis: AbstractType = NONE) -> AbstractType:
        expect_numeric(opname, x)
        kind, ndim = kind_and_rank(x)
        if isinstance(axis, NoneType):
            return Scalar(kinds(kind))
        rank = ndim - len(normalize_axes(opname, axis, ndim))
        return ArrayType(kinds(kind), rank) if rank else Scalar(kinds(kind))

    impl.__name__ = impl.__qualname__ = name
    return primitive(
        name, impl, rule, ("x", "axis"), defaults=(None,), implements=implements, doc=doc
    )


def _axis_tuple(opname: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """The axes `axis` names (an int or a tuple of ints) in range(ndim), as NumPy checks them."""
    parts = axis if isinstance(axis, tuple) else (axis,)
    out: list[int] = []
    for a in parts:
        if isinstance(a, bool | np.bool_) or not isinstance(a, int | np.integer):
            raise TypeError(f"{opname}: an axis is an int, got {type(a).__name__}")
        if not -ndim <= a < ndim:
            raise ValueError(f"{opname}: axis {a} is out of bounds for an array of rank {ndim}")
        if a % ndim in out:
            raise ValueError(f"{opname}: axis {a} is named twice")
        out.append(int(a) % ndim)
    return tuple(out)


def _unreduce(d: Any, like: Any, axis: Any) -> Any:
    """The adjoint of summing `like` over `axis`: `d`, of the reduced shape, broadcast
    back to like's shape along the reduced axes, as a sensitivity of `like` (`as_sens`)."""
    check_numeric("unreduce", d, like)
    shape = np.shape(like)
    a = np.asarray(d, dtype=np.float64)
    if axis is not None:
        a = np.expand_dims(a, _axis_tuple("unreduce", axis, len(shape)))
    return as_sens(np.broadcast_to(a, shape).copy(), like)


def _unreduce_rule(d: AbstractType, like: AbstractType, axis: AbstractType) -> AbstractType:
    expect_numeric("unreduce", d, like)
    if not isinstance(axis, NoneType):
        normalize_axes("unreduce", axis, kind_and_rank(like)[1])
    return ArrayType("f64", like.ndim) if isinstance(like, ArrayType) else F64


unreduce = primitive("unreduce", _unreduce, _unreduce_rule, ("d", "like", "axis"))


@unreduce.rule("bprop")
def _bprop_unreduce(d, like, axis, out, dout):
    return (sens_like(np.sum(dout, axis), d), zeros_like(like), zeros_like(axis))


def _sum_kinds(k: str) -> str:
    return "i64" if k == "bool" else k


np_sum = _reduction("np_sum", np.sum, _sum_kinds, "np.sum(x, axis=None)", (np.sum,))


@np_sum.rule("bprop")
def _bprop_sum(x, axis, out, dout):
    return (unreduce(dout, x, axis), zeros_like(axis))


np_prod = _reduction("np_prod", np.prod, _sum_kinds, "np.prod(x, axis=None)", (np.prod,))


@np_prod.rule("bprop")
def _bprop_prod(x, axis, out, dout):
    # d out / d x_i is the product of the other elements of x_i's slice: out / x_i where
    # x_i != 0; at a zero, the product of the slice's other (non-zero) elements if it is
    # the slice's only zero, else 0. (Written with out / x_i so that it differentiates
    # right again wherever a slice has at most one zero.)
    zero = x == 0
    safe = np_where(zero, 1.0, x)
    lone = np.sum(zero, axis) == 1
    at_zero = unreduce(np.prod(safe, axis) * lone, x, axis)
    others = np_where(zero, at_zero, unreduce(out, x, axis) / safe)
    return (sens_like(unreduce(dout, x, axis) * others, x), zeros_like(axis))


np_mean = _reduction(
    "np_mean", np.mean, _to_f64, "np.mean(x, axis=None), a float (nan if empty)", (np.mean,)
)


@np_mean.rule("bprop")
def _bprop_mean(x, axis, out, dout):
    return (unreduce(dout, x, axis) * (np.size(out) / np.size(x)), zeros_like(axis))


np_max = _reduction(
    "np_max", np.max, _same, "np.max(x, axis=None) (ValueError if empty)", (np.max, np.amax)
)


@np_max.rule("bprop")
def _bprop_max(x, axis, out, dout):
    # split equally among the elements equal to the maximum of their slice (as JAX does)
    hit = x == unreduce(out, x, axis)
    share = hit / unreduce(np.sum(hit, axis), x, axis)
    return (sens_like(unreduce(dout, x, axis) * share, x), zeros_like(axis))


np_min = _reduction(
    "np_min", np.min, _same, "np.min(x, axis=None) (ValueError if empty)", (np.min, np.amin)
)


@np_min.rule("bprop")
def _bprop_min(x, axis, out, dout):
    hit = x == unreduce(out, x, axis)
    share = hit / unreduce(np.sum(hit, axis), x, axis)
    return (sens_like(unreduce(dout, x, axis) * share, x), zeros_like(axis))


# -- linear algebra ----------------------------------------------------------
def _matmul(x: Any, y: Any) -> Any:
    """x @ y: matrix product; 1-d operands are vectors, higher ranks stacks of matrices."""
    check_numeric("@", x, y)
    return np.matmul(x, y)


def _matmul_rule(x: AbstractType, y: AbstractType) -> AbstractType:
    expect_numeric("@", x, y)
    (kx, rx), (ky, ry) = kind_and_rank(x), kind_and_rank(y)
    if rx == 0 or ry == 0:
        raise type_error(
            f"'@' needs operands of rank >= 1, got {x} and {y}", hint="use * to scale by a scalar"
        )
    if rx == 1 or ry == 1:
        rank = rx + ry - 2  # a vector operand contributes no axis of its own
    else:
        rank = max(rx, ry)
    kind = join_kind(kx, ky)
    return ArrayType(kind, rank) if rank else Scalar(kind)


matmul = primitive(
    "matmul", _matmul, _matmul_rule, ("x", "y"), implements=(operator.matmul, np.matmul),
    doc="x @ y, np.matmul(x, y)",
)


# The sensitivities of x @ y, for every rank NumPy allows (a 1-d x is a row, a 1-d y a
# column, batch axes broadcast). Both are linear in d and in the other operand: with
# T(d, x, y) = <d, x @ y>, matmul_dx(d, x, y) is the gradient of T in x, which x enters
# by its shape only, so their own backpropagators are made of matmul and each other.
def _matmul_shapes(opname: str, d: Any, x: Any, y: Any) -> tuple[tuple[int, ...], ...]:
    """The shapes of x and y as matmul sees them (1-d operands made matrices), and of
    their product; d must have the shape of x @ y."""
    check_numeric(opname, d, x, y)
    sx, sy = np.shape(x), np.shape(y)
    if not sx or not sy:
        raise TypeError(f"{opname}: the operands of @ have rank >= 1")
    px = (1, *sx) if len(sx) == 1 else sx
    py = (*sy, 1) if len(sy) == 1 else sy
    if px[-1] != py[-2]:
        raise ValueError(f"{opname}: shapes {sx} and {sy} do not match for @")
    batch = np.broadcast_shapes(px[:-2], py[:-2])
    # the product, without the axes that 1-d operands were given
    out = (*batch, *((px[-2],) if len(sx) > 1 else ()), *((py[-1],) if len(sy) > 1 else ()))
    if np.shape(d) != out:
        raise ValueError(f"{opname}: a sensitivity of shape {np.shape(d)} for x @ y of shape {out}")
    return px, py, (*batch, px[-2], py[-1])


def _matmul_dx(d: Any, x: Any, y: Any) -> Any:
    """The sensitivity of x in x @ y when the product has sensitivity d: d @ y^T,
    summed over the batch axes that broadcasting gave x."""
    sx, sy, so = _matmul_shapes("matmul_dx", d, x, y)
    g = np.matmul(np.reshape(d, so), np.swapaxes(np.reshape(y, sy), -1, -2))
    return np.reshape(reduce_to_shape(np.asarray(g, dtype=np.float64), sx), np.shape(x))


def _matmul_dy(d: Any, x: Any, y: Any) -> Any:
    """The sensitivity of y in x @ y when the product has sensitivity d: x^T @ d,
    summed over the batch axes that broadcasting gave y."""
    sx, sy, so = _matmul_shapes("matmul_dy", d, x, y)
    g = np.matmul(np.swapaxes(np.reshape(x, sx), -1, -2), np.reshape(d, so))
    return np.reshape(reduce_to_shape(np.asarray(g, dtype=np.float64), sy), np.shape(y))


def _matmul_sens_rule(which: int) -> Callable[..., AbstractType]:
    def rule(d: AbstractType, x: AbstractType, y: AbstractType) -> AbstractType:
        expect_numeric("matmul", d, x, y)
        ranks = (kind_and_rank(x)[1], kind_and_rank(y)[1])
        if 0 in ranks:
            raise type_error("the operands of @ have rank >= 1")
        return ArrayType("f64", ranks[which])

    return rule


matmul_dx = primitive("matmul_dx", _matmul_dx, _matmul_sens_rule(0), ("d", "x", "y"))
matmul_dy = primitive("matmul_dy", _matmul_dy, _matmul_sens_rule(1), ("d", "x", "y"))


@matmul_dx.rule("bprop")
def _bprop_matmul_dx(d, x, y, out, dout):
    return (sens_like(matmul(dout, y), d), zeros_like(x), matmul_dy(d, dout, y))


@matmul_dy.rule("bprop")
def _bprop_matmul_dy(d, x, y, out, dout):
    return (sens_like(matmul(x, dout), d), matmul_dx(d, x, dout), zeros_like(y))


@matmul.rule("bprop")
def _bprop_matmul(x, y, out, dout):
    return (matmul_dx(dout, x, y), matmul_dy(dout, x, y))


def _dot(x: Any, y: Any) -> Any:
    """np.dot(x, y): scalar product, matrix product, or contraction of x's last axis."""
    check_numeric("np.dot", x, y)
    return np.dot(x, y)


def _dot_rule(x: AbstractType, y: AbstractType) -> AbstractType:
    expect_numeric("np.dot", x, y)
    (kx, rx), (ky, ry) = kind_and_rank(x), kind_and_rank(y)
    if rx == 0 or ry == 0:
        rank = rx + ry  # multiplication by a scalar
    else:
        # contracts x's last axis with y's last (y 1-d) or second-to-last axis
        rank = rx + ry - 2
    kind = join_kind(kx, ky)
    return ArrayType(kind, rank) if rank else Scalar(kind)


np_dot = primitive("np_dot", _dot, _dot_rule, ("x", "y"), implements=(np.dot,))


# As for matmul: np.dot's sensitivities, linear in d and in the other operand.
def _dot_contracted(d: Any, x: Any, y: Any) -> int:
    """The axis of y that np.dot(x, y) contracts with x's last (0 with a scalar operand);
    d must have the shape of np.dot(x, y)."""
    check_numeric("np.dot", d, x, y)
    sx, sy = np.shape(x), np.shape(y)
    if not sx or not sy:
        c, out = 0, np.broadcast_shapes(sx, sy)
    else:
        c = max(len(sy) - 2, 0)
        if sx[-1] != sy[c]:
            raise ValueError(f"np.dot: shapes {sx} and {sy} are not aligned")
        out = (*sx[:-1], *sy[:c], *sy[c + 1 :])
    if np.shape(d) != out:
        raise ValueError(f"np.dot: a sensitivity of shape {np.shape(d)} for a product of shape {out}")
    return c


def _dot_dx(d: Any, x: Any, y: Any) -> Any:
    """The sensitivity of x in np.dot(x, y) when the product has sensitivity d."""
    c = _dot_contracted(d, x, y)
    rx, ry = np.ndim(x), np.ndim(y)
    if rx == 0 or ry == 0:
        return sens_like_impl(np.multiply(d, y), x)
    from_y = list(range(rx - 1, rx + ry - 2))
    g = np.tensordot(d, y, axes=(from_y, [i for i in range(ry) if i != c]))
    return np.asarray(g, dtype=np.float64)


def _dot_dy(d: Any, x: Any, y: Any) -> Any:
    """The sensitivity of y in np.dot(x, y) when the product has sensitivity d."""
    c = _dot_contracted(d, x, y)
    rx, ry = np.ndim(x), np.ndim(y)
    if rx == 0 or ry == 0:
        return sens_like_impl(np.multiply(d, x), y)
    g = np.tensordot(x, d, axes=(list(range(rx - 1)), list(range(rx - 1))))
    return np.asarray(np.moveaxis(g, 0, c), dtype=np.float64)


def _dot_sens_rule(which: int) -> Callable[..., AbstractType]:
    def rule(d: AbstractType, x: AbstractType, y: AbstractType) -> AbstractType:
        expect_numeric("np.dot", d, x, y)
        t = (x, y)[which]
        return ArrayType("f64", t.ndim) if isinstance(t, ArrayType) else F64

    return rule


dot_dx = primitive("dot_dx", _dot_dx, _dot_sens_rule(0), ("d", "x", "y"))
dot_dy = primitive("dot_dy", _dot_dy, _dot_sens_rule(1), ("d", "x", "y"))


@dot_dx.rule("bprop")
def _bprop_dot_dx(d, x, y, out, dout):
    return (sens_like(np.dot(dout, y), d), zeros_like(x), dot_dy(d, dout, y))


@dot_dy.rule("bprop")
def _bprop_dot_dy(d, x, y, out, dout):
    return (sens_like(np.dot(x, dout), d), dot_dx(d, x, dout), zeros_like(y))


@np_dot.rule("bprop")
def _bprop_dot(x, y, out, dout):
    return (dot_dx(dout, x, y), dot_dy(dout, x, y))


def _outer(x: Any, y: Any) -> Any:
    """np.outer(x, y): the matrix x.ravel()[i] * y.ravel()[j]."""
    check_numeric("np.outer", x, y)
    return np.outer(x, y)


def _outer_rule(x: AbstractType, y: AbstractType) -> AbstractType:
    expect_numeric("np.outer", x, y)
    return ArrayType(join_kind(kind_and_rank(x)[0], kind_and_rank(y)[0]), 2)


np_outer = primitive("np_outer", _outer, _outer_rule, ("x", "y"), implements=(np.outer,))


@np_outer.rule("bprop")
def _bprop_outer(x, y, out, dout):
    # out[i, j] = x.ravel()[i] * y.ravel()[j]
    return (
        sens_like(reshape(np.dot(dout, reshape(y, -1)), np.shape(x)), x),
        sens_like(reshape(np.dot(transpose(dout), reshape(x, -1)), np.shape(y)), y),
    )


# -- shapes ------------------------------------------------------------------
def _transpose(x: Any, axes: Any = None) -> Any:
    """np.transpose(x, axes=None): axes reversed, or permuted as `axes` says; an array."""
    check_numeric("np.transpose", x)
    # asarray: NumPy gives a NumPy scalar back for a NumPy scalar but a 0-d
    # array for a Python one, which a type cannot tell apart.
    return np.transpose(np.asarray(x), axes)


def _transpose_rule(x: AbstractType, axes: AbstractType = NONE) -> AbstractType:
    expect_numeric("np.transpose", x)
    kind, ndim = kind_and_rank(x)
    if not isinstance(axes, NoneType):
        perm = normalize_axes("np.transpose", axes, ndim)
        if len(perm) != ndim:
            raise type_error(
                f"np.transpose: axes {axes} do not permute the {ndim} axes of {x}"
            )
    return ArrayType(kind, ndim)


transpose = primitive(
    "transpose", _transpose, _transpose_rule, ("x", "axes"), defaults=(None,),
    implements=(np.transpose,),
)


def _inverse_axes(axes: Any, ndim: int) -> Any:
    """The axes that undo np.transpose(_, axes) on an array of rank ndim (None for None)."""
    if axes is None:
        return None
    if isinstance(ndim, bool | np.bool_) or not isinstance(ndim, int | np.integer):
        raise TypeError(f"a rank is an int, got {type(ndim).__name__}")
    perm = _axis_tuple("np.transpose", axes, int(ndim))
    if len(perm) != ndim:
        raise ValueError(f"np.transpose: axes {axes} do not permute {ndim} axes")
    return tuple(int(i) for i in np.argsort(perm))


def _inverse_axes_rule(axes: AbstractType, ndim: AbstractType) -> AbstractType:
    if isinstance(axes, NoneType):
        return NONE
    n = constant_int("np.transpose", "rank", ndim)
    if len(normalize_axes("np.transpose", axes, n)) != n:
        raise type_error(f"np.transpose: axes {axes} do not permute {n} axes")
    return TupleType((I64,) * n)


inverse_axes = primitive(
    "inverse_axes", _inverse_axes, _inverse_axes_rule, ("axes", "ndim"), differentiable=False
)


@transpose.rule("bprop")
def _bprop_transpose(x, axes, out, dout):
    return (sens_like(transpose(dout, inverse_axes(axes, np.ndim(x))), x), zeros_like(axes))


def _reshape(x: Any, shape: Any) -> Any:
    """np.reshape(x, shape): the same elements in C order; one dimension may be -1."""
    check_numeric("reshape", x)
    if isinstance(shape, bool) or not isinstance(shape, int | np.integer | tuple):
        raise TypeError(f"a shape is an int or a tuple of ints, not {type(shape).__name__}")
    return np.reshape(np.asarray(x), shape)  # asarray: see _transpose


def _reshape_rule(x: AbstractType, shape: AbstractType) -> AbstractType:
    expect_numeric("reshape", x)
    return ArrayType(kind_and_rank(x)[0], shape_rank("reshape", shape))


reshape = primitive(
    "reshape", _reshape, _reshape_rule, ("x", "shape"), implements=(np.reshape,)
)


@reshape.rule("bprop")
def _bprop_reshape(x, shape, out, dout):
    return (sens_like(reshape(dout, np.shape(x)), x), zeros_like(shape))


def _shape(x: Any) -> tuple[int, ...]:
    """x.shape, np.shape(x): a tuple of ints, () for a scalar."""
    check_numeric("shape", x)
    return np.shape(x)


def _shape_rule(x: AbstractType) -> AbstractType:
    expect_numeric("shape", x)
    return TupleType((I64,) * kind_and_rank(x)[1])


shape = primitive(
    "shape", _shape, _shape_rule, ("x",), implements=(np.shape,), differentiable=False
)


def _ndim(x: Any) -> int:
    """x.ndim, np.ndim(x): the rank, 0 for a scalar."""
    check_numeric("ndim", x)
    return np.ndim(x)


def _ndim_rule(x: AbstractType) -> AbstractType:
    expect_numeric("ndim", x)
    return Scalar("i64", kind_and_rank(x)[1])  # the rank is in the type: a constant


ndim = primitive("ndim", _ndim, _ndim_rule, ("x",), implements=(np.ndim,), differentiable=False)


def _size(x: Any) -> int:
    """x.size, np.size(x): the number of elements, 1 for a scalar."""
    check_numeric("size", x)
    return np.size(x)


def _size_rule(x: AbstractType) -> AbstractType:
    expect_numeric("size", x)
    return Scalar("i64", 1) if isinstance(x, Scalar) else I64


size = primitive("size", _size, _size_rule, ("x",), implements=(np.size,), differentiable=False)


# -- constructors ------------------------------------------------------------
def _check_shape(opname: str, shape: Any) -> None:
    parts = shape if isinstance(shape, tuple) else (shape,)
    for p in parts:
        if isinstance(p, bool | np.bool_) or not isinstance(p, int | np.integer):
            raise TypeError(f"{opname}: a shape is an int or a tuple of ints, got {shape!r}")


def _zeros(shape: Any) -> Any:
    """np.zeros(shape): a float64 array of zeros; shape an int or a tuple of ints."""
    _check_shape("np.zeros", shape)
    return np.zeros(shape)


def _ones(shape: Any) -> Any:
    """np.ones(shape): a float64 array of ones; shape an int or a tuple of ints."""
    _check_shape("np.ones", shape)
    return np.ones(shape)


np_zeros = primitive(
    "np_zeros", _zeros, lambda shape: ArrayType("f64", shape_rank("np.zeros", shape)),
    ("shape",), implements=(np.zeros,), differentiable=False,
)
np_ones = primitive(
    "np_ones", _ones, lambda shape: ArrayType("f64", shape_rank("np.ones", shape)),
    ("shape",), implements=(np.ones,), differentiable=False,
)


def _full(shape: Any, value: Any) -> Any:
    """np.full(shape, value): an array filled with the scalar `value`, of its kind."""
    _check_shape("np.full", shape)
    if not isinstance(value, int | float | bool | np.number | np.bool_):
        raise TypeError(f"np.full: the fill value must be a scalar, got {type(value).__name__}")
    return np.full(shape, value)


def _full_rule(shape: AbstractType, value: AbstractType) -> AbstractType:
    if not isinstance(value, Scalar):
        raise type_error(f"np.full: the fill value must be a scalar, got {value}")
    return ArrayType(value.kind, shape_rank("np.full", shape))


np_full = primitive("np_full", _full, _full_rule, ("shape", "value"), implements=(np.full,))


@np_full.rule("bprop")
def _bprop_full(shape, value, out, dout):
    return (zeros_like(shape), sens_like(np.sum(dout), value))


def _zeros_like(x: Any) -> Any:
    """np.zeros_like(x): zeros of x's shape and dtype (a 0-d array for a scalar)."""
    check_numeric("np.zeros_like", x)
    return np.zeros_like(x)


def _ones_like(x: Any) -> Any:
    """np.ones_like(x): ones of x's shape and dtype (a 0-d array for a scalar)."""
    check_numeric("np.ones_like", x)
    return np.ones_like(x)


def _like_rule(opname: str) -> Callable[[AbstractType], AbstractType]:
    def rule(x: AbstractType) -> AbstractType:
        expect_numeric(opname, x)
        kind, ndim = kind_and_rank(x)
        return ArrayType(kind, ndim)

    return rule


np_zeros_like = primitive(
    "np_zeros_like", _zeros_like, _like_rule("np.zeros_like"), ("x",),
    implements=(np.zeros_like,), differentiable=False,
)
np_ones_like = primitive(
    "np_ones_like", _ones_like, _like_rule("np.ones_like"), ("x",),
    implements=(np.ones_like,), differentiable=False,
)
