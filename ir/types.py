"""Abstract values: the types that primitive type rules compute with.

They are small frozen dataclasses. A scalar may carry its constant `value`
when it is known (type rules of `np.sum(x, axis=1)` or `reshape` need the
axis or the shape, not just "some int"). `typeof` gives the abstract value of
a concrete Python value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tapeless.errors import TapelessTypeError

SCALAR_KINDS = ("bool", "i64", "f64")


@dataclass(frozen=True, slots=True)
class AbstractType:
    """Base of abstract values."""

    def without_value(self) -> AbstractType:
        return self


@dataclass(frozen=True, slots=True)
class Scalar(AbstractType):
    """A Python/NumPy scalar: kind is one of `SCALAR_KINDS`."""

    kind: str
    value: Any = None

    def without_value(self) -> Scalar:
        return Scalar(self.kind)

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}={self.value!r}"


@dataclass(frozen=True, slots=True)
class NoneType(AbstractType):
    def __str__(self) -> str:
        return "None"


@dataclass(frozen=True, slots=True)
class TupleType(AbstractType):
    elements: tuple[AbstractType, ...]

    def without_value(self) -> TupleType:
        return TupleType(tuple(e.without_value() for e in self.elements))

    def __str__(self) -> str:
        return "(" + ", ".join(map(str, self.elements)) + ("," if len(self.elements) == 1 else "") + ")"


@dataclass(frozen=True, slots=True)
class ArrayType(AbstractType):
    """A NumPy array of `dtype` (a scalar kind) and rank `ndim`."""

    dtype: str
    ndim: int

    def __str__(self) -> str:
        return f"array[{self.dtype}, {self.ndim}d]"


@dataclass(frozen=True, slots=True)
class SliceType(AbstractType):
    def __str__(self) -> str:
        return "slice"


@dataclass(frozen=True, slots=True)
class FunctionType(AbstractType):
    """Any function value: a primitive, a graph or a closure."""

    def __str__(self) -> str:
        return "function"


F64 = Scalar("f64")
I64 = Scalar("i64")
BOOL = Scalar("bool")
NONE = NoneType()
FUNCTION = FunctionType()

_DTYPES = {np.dtype(np.float64): "f64", np.dtype(np.int64): "i64", np.dtype(np.bool_): "bool"}


def dtype_kind(dtype: np.dtype[Any]) -> str:
    try:
        return _DTYPES[np.dtype(dtype)]
    except KeyError:
        raise TapelessTypeError(
            f"arrays of dtype {dtype} are not supported",
            hint="use float64, int64 or bool arrays",
        ) from None


def typeof(value: Any, *, keep_value: bool = False) -> AbstractType:
    """The abstract value of a concrete value (with the value itself if `keep_value`)."""
    v = value if keep_value else None
    # bool before int: bool is a subclass of int.
    if isinstance(value, bool | np.bool_):
        return Scalar("bool", v)
    if isinstance(value, int | np.integer):
        return Scalar("i64", v)
    if isinstance(value, float | np.floating):
        return Scalar("f64", v)
    if value is None:
        return NONE
    if isinstance(value, tuple):
        return TupleType(tuple(typeof(e, keep_value=keep_value) for e in value))
    if isinstance(value, np.ndarray):
        return ArrayType(dtype_kind(value.dtype), value.ndim)
    if isinstance(value, slice):
        return SliceType()
    from tapeless.ir.nodes import Graph
    from tapeless.ir.primitives import Primitive

    if isinstance(value, Graph | Primitive) or callable(value):
        return FUNCTION
    raise TapelessTypeError(
        f"values of type {type(value).__name__} are not supported",
        hint="tapeless handles int, float, bool, None, tuples of those and NumPy arrays",
    )


def join_kind(a: str, b: str) -> str:
    """The scalar kind of `a op b` under Python/NumPy promotion (bool < i64 < f64)."""
    return SCALAR_KINDS[max(SCALAR_KINDS.index(a), SCALAR_KINDS.index(b))]
