"""Structures: tuples (`make_tuple`, `getitem`, `len`) and slices.

`getitem` is Python's `x[i]` for tuples and NumPy arrays: a tuple index must
be an int (a constant one where the elements differ in type), an array index
an int, a slice or a tuple of those (basic indexing, a view as NumPy gives).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapeless.ir.primitives import primitive
from tapeless.ir.prims.ad import getitem_sens, zeros_like
from tapeless.ir.prims.rules import type_error
from tapeless.ir.types import (
    I64,
    AbstractType,
    ArrayType,
    NoneType,
    Scalar,
    SliceType,
    TupleType,
)


def _make_tuple(*xs: Any) -> tuple[Any, ...]:
    """(x0, x1, ...)"""
    return xs


def _make_tuple_rule(*xs: AbstractType) -> AbstractType:
    return TupleType(tuple(x.without_value() for x in xs))


make_tuple = primitive("make_tuple", _make_tuple, _make_tuple_rule, (), variadic=True)


def _getitem(x: Any, i: Any) -> Any:
    """x[i] for a tuple or an array."""
    if isinstance(x, tuple):
        if isinstance(i, bool) or not isinstance(i, int | np.integer | slice):
            raise TypeError(f"tuple indices must be integers or slices, not {type(i).__name__}")
        return x[i]
    if isinstance(x, np.ndarray):
        return x[i]
    raise TypeError(f"'{type(x).__name__}' object is not subscriptable")


def _array_index_rank(x: ArrayType, i: AbstractType) -> int:
    parts = i.elements if isinstance(i, TupleType) else (i,)
    dropped = 0
    for p in parts:
        if isinstance(p, Scalar) and p.kind == "i64":
            dropped += 1
        elif not isinstance(p, SliceType):
            raise type_error(
                f"arrays are indexed by ints and slices, got {p}",
                hint="write x[i], x[a:b] or x[:, j]",
            )
    if len(parts) > x.ndim:
        raise type_error(f"too many indices ({len(parts)}) for an array of rank {x.ndim}")
    return x.ndim - dropped


def _getitem_rule(x: AbstractType, i: AbstractType) -> AbstractType:
    if isinstance(x, TupleType):
        if isinstance(i, Scalar) and i.kind == "i64":
            if i.value is not None:
                try:
                    return x.elements[i.value]
                except IndexError:
                    raise type_error(
                        f"tuple index {i.value} out of range for a tuple of {len(x.elements)}"
                    ) from None
            kinds = set(x.elements)
            if len(kinds) == 1:
                return next(iter(kinds))
            raise type_error(
                "indexing a tuple of mixed element types needs a constant index",
                hint="use a literal index, or make every element the same type",
            )
        if isinstance(i, SliceType):
            raise type_error("slicing a tuple is only supported on constant tuples")
        raise type_error(f"tuple indices must be ints, got {i}")
    if isinstance(x, ArrayType):
        rank = _array_index_rank(x, i)
        return ArrayType(x.dtype, rank) if rank else Scalar(x.dtype)
    raise type_error(f"{x} is not subscriptable")


getitem = primitive("getitem", _getitem, _getitem_rule, ("x", "index"))


@getitem.rule("bprop")
def _bprop_getitem(x, index, out, dout):
    return (getitem_sens(x, index, dout), zeros_like(index))


def _len(x: Any) -> int:
    """len(x) of a tuple, or of an array's first axis."""
    if not isinstance(x, tuple | np.ndarray):
        raise TypeError(f"object of type '{type(x).__name__}' has no len()")
    return len(x)


def _len_rule(x: AbstractType) -> AbstractType:
    if isinstance(x, TupleType):
        return Scalar("i64", len(x.elements))
    if isinstance(x, ArrayType) and x.ndim >= 1:
        return I64
    raise type_error(f"len() needs a tuple or an array of rank >= 1, got {x}")


len_ = primitive("len", _len, _len_rule, ("x",), implements=(len,), differentiable=False)


def _make_slice(start: Any, stop: Any, step: Any) -> slice:
    """slice(start, stop, step), each an int or None."""
    return slice(start, stop, step)


def _make_slice_rule(*parts: AbstractType) -> AbstractType:
    for p in parts:
        if not (isinstance(p, NoneType) or (isinstance(p, Scalar) and p.kind == "i64")):
            raise type_error(f"slice bounds must be ints or None, got {p}")
    return SliceType()


make_slice = primitive(
    "make_slice", _make_slice, _make_slice_rule, ("start", "stop", "step"),
    defaults=(None, None), differentiable=False,
)

def _unpack_check(x: Any, n: int) -> Any:
    """x itself, once it is known to unpack into exactly n values (as `a, b = x`)."""
    if not isinstance(x, tuple | np.ndarray):
        raise TypeError(f"cannot unpack non-iterable {type(x).__name__} object")
    if len(x) > n:
        raise ValueError(f"too many values to unpack (expected {n})")
    if len(x) < n:
        raise ValueError(f"not enough values to unpack (expected {n}, got {len(x)})")
    return x


def _unpack_check_rule(x: AbstractType, n: AbstractType) -> AbstractType:
    if isinstance(x, TupleType):
        if isinstance(n, Scalar) and n.value is not None and len(x.elements) != n.value:
            raise type_error(
                f"cannot unpack a tuple of {len(x.elements)} values into {n.value} names"
            )
        return x
    if isinstance(x, ArrayType) and x.ndim >= 1:
        return x
    raise type_error(f"cannot unpack {x}")


unpack_check = primitive("unpack_check", _unpack_check, _unpack_check_rule, ("x", "n"))


@unpack_check.rule("bprop")
def _bprop_unpack_check(x, n, out, dout):
    return (dout, zeros_like(n))
