"""NumPy's shapes and constructors: `transpose`, `reshape`, `shape`, `ndim`,
`size`, `np.zeros`, `np.ones`, `np.full`, `np.zeros_like`, `np.ones_like`.

The array-structural ones are named after the attribute they also stand for:
`transpose` (also `.T`), `reshape` (also `.reshape`), `shape` (also
`.shape`), `ndim` and `size`; the constructors are `np_<function>`. Operands
are numeric arrays and scalars as in `array`: `transpose` and `reshape`
always give an array (0-d for a scalar), `shape`, `ndim` and `size` ints.
Shapes are an int or a tuple of ints; `np.zeros`/`np.ones` always make float64
arrays (no `dtype=` keyword), `np.full` takes the fill value's kind and
`np.zeros_like`/`np.ones_like` x's dtype.

Each backpropagator follows its primitive; `transpose`'s undoes the
permutation with `inverse_axes`. `_axis_tuple` (checking an axis argument as
NumPy does) serves `reductions` too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapeless.ir.primitives import primitive
from tapeless.ir.prims.ad import sens_like, zeros_like
from tapeless.ir.prims.rules import (
    check_numeric,
    constant_int,
    expect_numeric,
    kind_and_rank,
    normalize_axes,
    shape_rank,
    type_error,
)
from tapeless.ir.types import I64, NONE, AbstractType, ArrayType, NoneType, Scalar, TupleType


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
