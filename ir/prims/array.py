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
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from tapeless.ir.primitives import Primitive, primitive
from tapeless.ir.prims.rules import (
    check_numeric,
    expect_numeric,
    kind_and_rank,
    normalize_axes,
    shape_rank,
    type_error,
    ufunc_result,
)
from tapeless.ir.types import (
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
np_expm1 = _float_ufunc("np_expm1", np.expm1, "np.expm1(x) = exp(x) - 1 elementwise")
np_log = _float_ufunc("np_log", np.log, "np.log(x) elementwise (nan below 0, -inf at 0)")
np_log1p = _float_ufunc("np_log1p", np.log1p, "np.log1p(x) = log(1 + x) elementwise")
np_sqrt = _float_ufunc("np_sqrt", np.sqrt, "np.sqrt(x) elementwise (nan below 0)")
np_sin = _float_ufunc("np_sin", np.sin, "np.sin(x) elementwise")
np_cos = _float_ufunc("np_cos", np.cos, "np.cos(x) elementwise")
np_tan = _float_ufunc("np_tan", np.tan, "np.tan(x) elementwise")
np_arcsin = _float_ufunc("np_arcsin", np.arcsin, "np.arcsin(x) elementwise")
np_arccos = _float_ufunc("np_arccos", np.arccos, "np.arccos(x) elementwise")
np_arctan = _float_ufunc("np_arctan", np.arctan, "np.arctan(x) elementwise")
np_sinh = _float_ufunc("np_sinh", np.sinh, "np.sinh(x) elementwise")
np_cosh = _float_ufunc("np_cosh", np.cosh, "np.cosh(x) elementwise")
np_tanh = _float_ufunc("np_tanh", np.tanh, "np.tanh(x) elementwise")
np_arctan2 = _ufunc(
    "np_arctan2", np.arctan2, ("x1", "x2"), _to_f64,
    "np.arctan2(x1, x2): the angle of the point (x2, x1) elementwise", dtype=_float64,
)

# -- kind-preserving unary ufuncs --------------------------------------------
# np.abs is np.absolute: one object, one entry.
np_abs = _ufunc("np_abs", np.abs, ("x",), _same, "np.abs(x) elementwise (bools stay bools)")
np_negative = _ufunc(
    "np_negative", np.negative, ("x",), _numeric_only("np.negative"), "np.negative(x) = -x"
)
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
np_minimum = _ufunc(
    "np_minimum", np.minimum, ("x1", "x2"), join_kind,
    "np.minimum(x1, x2) elementwise (nan wins), in the promoted kind",
)


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


def _sum_kinds(k: str) -> str:
    return "i64" if k == "bool" else k


np_sum = _reduction("np_sum", np.sum, _sum_kinds, "np.sum(x, axis=None)", (np.sum,))
np_prod = _reduction("np_prod", np.prod, _sum_kinds, "np.prod(x, axis=None)", (np.prod,))
np_mean = _reduction(
    "np_mean", np.mean, _to_f64, "np.mean(x, axis=None), a float (nan if empty)", (np.mean,)
)
np_max = _reduction(
    "np_max", np.max, _same, "np.max(x, axis=None) (ValueError if empty)", (np.max, np.amax)
)
np_min = _reduction(
    "np_min", np.min, _same, "np.min(x, axis=None) (ValueError if empty)", (np.min, np.amin)
)


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


def _outer(x: Any, y: Any) -> Any:
    """np.outer(x, y): the matrix x.ravel()[i] * y.ravel()[j]."""
    check_numeric("np.outer", x, y)
    return np.outer(x, y)


def _outer_rule(x: AbstractType, y: AbstractType) -> AbstractType:
    expect_numeric("np.outer", x, y)
    return ArrayType(join_kind(kind_and_rank(x)[0], kind_and_rank(y)[0]), 2)


np_outer = primitive("np_outer", _outer, _outer_rule, ("x", "y"), implements=(np.outer,))


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
