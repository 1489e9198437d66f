"""Type-rule and implementation helpers shared by the primitive modules.

Implementations are strict where Python would be lenient in ways no native
backend can follow: arithmetic on tuples (concatenation, repetition) or on
None raises `TypeError`, which the interpreter reports as a
`TapelessTypeError` at the source expression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapeless.errors import TapelessTypeError
from tapeless.ir.types import (
    BOOL,
    AbstractType,
    ArrayType,
    Scalar,
    TupleType,
    join_kind,
)

NUMERIC_TYPES = (int, float, bool, np.ndarray, np.number, np.bool_)


def check_numeric(opname: str, *values: Any) -> None:
    """Raise `TypeError` unless every value is a number, bool or array."""
    for v in values:
        if not isinstance(v, NUMERIC_TYPES):
            raise TypeError(
                f"'{opname}' expects numbers or arrays, got {type(v).__name__}"
            )


def type_error(message: str, hint: str | None = None) -> TapelessTypeError:
    return TapelessTypeError(message, hint=hint)


def expect_numeric(opname: str, *types: AbstractType) -> None:
    for t in types:
        if not isinstance(t, Scalar | ArrayType):
            raise type_error(
                f"'{opname}' expects numbers or arrays, got {t}",
                hint="tuples and None do not support arithmetic in tapeless",
            )


def expect_scalar(opname: str, *types: AbstractType) -> None:
    for t in types:
        if not isinstance(t, Scalar):
            raise type_error(f"'{opname}' expects a scalar, got {t}")


def kind_and_rank(t: AbstractType) -> tuple[str, int]:
    if isinstance(t, Scalar):
        return t.kind, 0
    if isinstance(t, ArrayType):
        return t.dtype, t.ndim
    raise type_error(f"expected a number or an array, got {t}")


def broadcast(kind: str, *types: AbstractType) -> AbstractType:
    """Result of an elementwise operation of result kind `kind` on `types`."""
    rank = max(kind_and_rank(t)[1] for t in types)
    if any(isinstance(t, ArrayType) for t in types):
        return ArrayType(kind, rank)
    return Scalar(kind)


def arith_rule(opname: str, *, true_division: bool = False) -> Callable[..., Any]:
    """Type rule of a binary arithmetic operator under Python/NumPy promotion."""

    def rule(x: AbstractType, y: AbstractType) -> AbstractType:
        expect_numeric(opname, x, y)
        kind = join_kind(kind_and_rank(x)[0], kind_and_rank(y)[0])
        if kind == "bool" and opname not in ("max", "min"):
            kind = "i64"  # True + True == 2
        if true_division:
            kind = "f64"
        return broadcast(kind, x, y)

    return rule


def int_for_bool(kind: str) -> str:
    """`kind`, with bool made i64: arithmetic counts bools as ints (True + True == 2)."""
    return "i64" if kind == "bool" else kind


def unary_arith_rule(opname: str) -> Callable[..., Any]:
    def rule(x: AbstractType) -> AbstractType:
        expect_numeric(opname, x)
        return broadcast(int_for_bool(kind_and_rank(x)[0]), x)

    return rule


def compare_rule(opname: str) -> Callable[..., Any]:
    def rule(x: AbstractType, y: AbstractType) -> AbstractType:
        expect_numeric(opname, x, y)
        return broadcast("bool", x, y)

    return rule


def float_unary_rule(opname: str) -> Callable[..., Any]:
    """A function to f64 of one number (math.sin and friends)."""

    def rule(x: AbstractType) -> AbstractType:
        expect_scalar(opname, x)
        return Scalar("f64")

    return rule


def bool_rule(*_: AbstractType) -> AbstractType:
    return BOOL


# -- helpers of the `math` and NumPy families --------------------------------
def expect_math_scalar(opname: str, *types: AbstractType, array_hint: str | None = None) -> None:
    """`math` functions take scalars only (CPython's convert them with `float()`)."""
    for t in types:
        if isinstance(t, ArrayType):
            raise type_error(
                f"'{opname}' works on scalars, not on arrays (got {t})",
                hint=f"use {array_hint}, which works elementwise" if array_hint
                else "apply it to one element at a time",
            )
        if not isinstance(t, Scalar):
            raise type_error(f"'{opname}' expects a number, got {t}")


def ufunc_result(kind: str, *types: AbstractType) -> AbstractType:
    """Result of a NumPy ufunc of result kind `kind` on `types`, with broadcasting.

    Unlike `broadcast`, a result of rank 0 is a scalar even when the operands
    are 0-d arrays: ufuncs unwrap 0-d results (`np.exp(np.array(1.0))` is a
    `np.float64`).
    """
    rank = max(kind_and_rank(t)[1] for t in types)
    return ArrayType(kind, rank) if rank else Scalar(kind)


def constant_int(opname: str, what: str, t: AbstractType) -> int:
    """The known value of an int argument that decides a result's type (an axis...)."""
    if not (isinstance(t, Scalar) and t.kind == "i64"):
        raise type_error(f"'{opname}': {what} must be an int, got {t}")
    if t.value is None:
        raise type_error(
            f"'{opname}': {what} must be a constant",
            hint=f"write the {what} as a literal, or compute it from constants only",
        )
    return int(t.value)


def normalize_axes(opname: str, axis: AbstractType, ndim: int) -> tuple[int, ...]:
    """The axes named by `axis` (an int or a tuple of ints, all constants) in `range(ndim)`.

    Negative axes count from the end, as in NumPy; out-of-range or repeated
    axes are type errors (NumPy raises `AxisError` / `ValueError`).
    """
    parts = axis.elements if isinstance(axis, TupleType) else (axis,)
    axes: list[int] = []
    for p in parts:
        a = constant_int(opname, "axis", p)
        if not -ndim <= a < ndim:
            raise type_error(f"'{opname}': axis {a} is out of bounds for a value of rank {ndim}")
        a %= ndim
        if a in axes:
            raise type_error(f"'{opname}': axis {a} is named twice")
        axes.append(a)
    return tuple(axes)


def shape_rank(opname: str, shape: AbstractType) -> int:
    """The rank of an array of shape `shape`: an int (rank 1) or a tuple of ints.

    Only the length of the tuple matters for the type, so its elements may be
    unknown; known ones are checked as NumPy would (at most one negative,
    "unknown", dimension).
    """
    if isinstance(shape, Scalar) and shape.kind == "i64":
        return 1
    if isinstance(shape, TupleType):
        unknown = 0
        for e in shape.elements:
            if not (isinstance(e, Scalar) and e.kind == "i64"):
                raise type_error(f"'{opname}': a shape is a tuple of ints, got an element {e}")
            unknown += e.value is not None and e.value < 0
        if unknown > 1:
            raise type_error(f"'{opname}': a shape may have only one -1 dimension")
        return len(shape.elements)
    raise type_error(
        f"'{opname}': a shape is an int or a tuple of ints, got {shape}",
        hint="write the shape as a tuple, e.g. (n, 3)",
    )
