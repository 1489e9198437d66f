"""Primitives of automatic differentiation: zeros, gradient addition, the
sensitivity environment, broadcasting adjoints, `stop_gradient`.

Sensitivities mirror values: a float's is a float, an array's an array of the
same shape, a tuple's a tuple, and a function's (a closure's) an `Env`
mapping each of its free variables (by `EnvKey`) to that variable's
sensitivity. `zeros_like(x)` is the zero of x's sensitivity: in the IR a
symbolic zero that the optimizer can remove, when run a concrete value
(`0.0`, an array of zeros, a tuple of zeros, an empty `Env`).

Their backpropagators are written in the Python subset below each primitive,
like every other primitive's, so that they can be differentiated again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tapeless.ir.nodes import Graph, Node
from tapeless.ir.primitives import Primitive, primitive
from tapeless.ir.prims.rules import check_numeric, expect_numeric
from tapeless.ir.types import (
    BOOL,
    F64,
    AbstractType,
    ArrayType,
    FunctionType,
    Scalar,
    TupleType,
)


@dataclass(frozen=True, slots=True)
class EnvKey:
    """The key of a free variable's sensitivity in an `Env`: the variable's
    node in the program being differentiated (compared by identity)."""

    node: Node

    def __repr__(self) -> str:
        return f"key({getattr(self.node, 'name', None) or type(self.node).__name__.lower()})"


class Env:
    """An immutable map from `EnvKey` to sensitivity: the sensitivity of a closure."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[EnvKey, Any] | None = None) -> None:
        self._items: dict[EnvKey, Any] = items or {}

    def get(self, key: EnvKey, default: Any) -> Any:
        return self._items.get(key, default)

    def set(self, key: EnvKey, value: Any) -> Env:
        items = dict(self._items)
        items[key] = value
        return Env(items)

    def add(self, other: Env) -> Env:
        items = dict(self._items)
        for k, v in other._items.items():
            items[k] = gadd_impl(items[k], v) if k in items else v
        return Env(items)

    def items(self) -> list[tuple[EnvKey, Any]]:
        return list(self._items.items())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Env({len(self._items)} entries)"


EMPTY_ENV = Env()


def _is_function(x: Any) -> bool:
    return isinstance(x, Env | Graph | Primitive) or callable(x)


# -- zeros_like --------------------------------------------------------------
def zeros_like_impl(x: Any) -> Any:
    """The zero sensitivity for a value like x."""
    if isinstance(x, bool | int | float | np.number | np.bool_ | EnvKey | slice) or x is None:
        return 0.0  # (keys and slices are never differentiated: a placeholder zero)
    if isinstance(x, np.ndarray):
        return np.zeros(x.shape)
    if isinstance(x, tuple):
        return tuple(zeros_like_impl(e) for e in x)
    if _is_function(x):
        return EMPTY_ENV
    raise TypeError(f"no sensitivity for a value of type {type(x).__name__}")


def sens_type(x: AbstractType) -> AbstractType:
    """The type of the sensitivity of a value of type x (see the module docstring)."""
    if isinstance(x, Scalar):
        return F64
    if isinstance(x, ArrayType):
        return ArrayType("f64", x.ndim)
    if isinstance(x, TupleType):
        return TupleType(tuple(sens_type(e) for e in x.elements))
    if isinstance(x, FunctionType):
        return x
    return F64


zeros_like = primitive("zeros_like", zeros_like_impl, sens_type, ("x",), differentiable=False)


# -- gadd --------------------------------------------------------------------
def gadd_impl(a: Any, b: Any) -> Any:
    """a + b for sensitivities: numbers and arrays add, tuples add elementwise,
    environments merge."""
    if isinstance(a, Env):
        if not isinstance(b, Env):
            raise TypeError("cannot add a function's sensitivity to a value's")
        return a.add(b)
    if isinstance(a, tuple):
        return tuple(gadd_impl(x, y) for x, y in zip(a, b, strict=True))
    return a + b


def _gadd_rule(a: AbstractType, b: AbstractType) -> AbstractType:
    return a


gadd = primitive("gadd", gadd_impl, _gadd_rule, ("a", "b"))


@gadd.rule("bprop")
def _bprop_gadd(a, b, out, dout):
    return (dout, dout)


# -- the environment ---------------------------------------------------------
def _env_getitem(env: Env, key: EnvKey, default: Any) -> Any:
    """The sensitivity of the free variable `key` in `env`, else `default`."""
    return env.get(key, default)


def _env_setitem(env: Env, key: EnvKey, value: Any) -> Env:
    """`env` with the sensitivity of `key` set to `value`."""
    return env.set(key, value)


env_getitem = primitive(
    "env_getitem", _env_getitem, lambda e, k, d: d, ("env", "key", "default")
)
env_setitem = primitive(
    "env_setitem", _env_setitem, lambda e, k, v: e, ("env", "key", "value")
)


@env_getitem.rule("bprop")
def _bprop_env_getitem(env, key, default, out, dout):
    return (env_setitem(zeros_like(env), key, dout), zeros_like(key), zeros_like(default))


@env_setitem.rule("bprop")
def _bprop_env_setitem(env, key, value, out, dout):
    return (
        env_setitem(dout, key, zeros_like(value)),
        zeros_like(key),
        env_getitem(dout, key, zeros_like(value)),
    )


# -- indexing adjoint ----------------------------------------------------------
def getitem_sens_impl(x: Any, index: Any, d: Any) -> Any:
    """The sensitivity of `x` when `x[index]` has sensitivity `d`: zeros like x
    with `d` at `index` (a tuple, or an array indexed by ints and slices)."""
    if isinstance(x, tuple):
        out = list(zeros_like_impl(x))
        if isinstance(index, slice):
            for pos, v in zip(range(*index.indices(len(x))), d, strict=True):
                out[pos] = v
        else:
            out[index] = d
        return tuple(out)
    if isinstance(x, np.ndarray):
        z = np.zeros(x.shape)
        z[index] = d  # basic indexing: no position twice, so = is +=
        return z
    raise TypeError(f"'{type(x).__name__}' object is not subscriptable")


getitem_sens = primitive(
    "getitem_sens", getitem_sens_impl, lambda x, i, d: sens_type(x), ("x", "index", "d")
)


@getitem_sens.rule("bprop")
def _bprop_getitem_sens(x, index, d, out, dout):
    return (zeros_like(x), zeros_like(index), dout[index])


# -- stop_gradient -------------------------------------------------------------
def stop_gradient_impl(x: Any) -> Any:
    """x, through which no sensitivity flows back."""
    return x


stop_gradient = primitive("stop_gradient", stop_gradient_impl, lambda x: x, ("x",))


@stop_gradient.rule("bprop")
def _bprop_stop_gradient(x, out, dout):
    return (zeros_like(x),)


# -- helpers of backpropagators ----------------------------------------------
def _sign_of(x: Any) -> Any:
    """The sign of x as a float (an array of signs for an array): -1.0, 0.0 or 1.0."""
    if isinstance(x, np.ndarray):
        return np.sign(x.astype(np.float64))
    return float(np.sign(float(x)))  # (np.sign has no loop for bools)


sign_of = primitive("sign_of", _sign_of, sens_type, ("x",), differentiable=False)


def _safe_log(x: Any) -> Any:
    """log(x) where x > 0, else 0.0: the factor of d(x ** y)/dy, which is 0 where
    x <= 0 (y then being an integer for x ** y to be real)."""
    if isinstance(x, np.ndarray):
        positive = x > 0
        return np.where(positive, np.log(np.where(positive, x, 1.0)), 0.0)
    return float(np.log(x)) if x > 0 else 0.0


safe_log = primitive("safe_log", _safe_log, sens_type, ("x",))


@safe_log.rule("bprop")
def _bprop_safe_log(x, out, dout):
    # 1/x where x > 0, else 0 (dividing by 1 there, never by 0)
    p = positive_part(x)
    return (dout * p / (x * p + (1.0 - p)),)


def _positive_part(x: Any) -> Any:
    """1.0 where x > 0, else 0.0."""
    if isinstance(x, np.ndarray):
        return (x > 0).astype(np.float64)
    return 1.0 if x > 0 else 0.0


positive_part = primitive("positive_part", _positive_part, sens_type, ("x",), differentiable=False)


# -- sensitivities of NumPy operands -------------------------------------------
def as_sens(a: Any, like: Any) -> Any:
    """The float64 array `a`, of `like`'s shape, as a sensitivity of `like`: a Python
    float for a Python number, a NumPy float for a NumPy scalar, else an array."""
    if isinstance(like, np.ndarray):
        return a
    if isinstance(like, np.generic):
        return np.float64(a)
    return float(a)


def reduce_to_shape(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`a` summed over the axes that `shape` lacks or has of length 1 (the adjoint
    of broadcasting to `a`'s shape), then broadcast where `shape` is longer."""
    lead = a.ndim - len(shape)
    if lead > 0:
        a = np.sum(a, axis=tuple(range(lead)))
    offset = len(shape) - a.ndim
    stretched = tuple(i for i, n in enumerate(a.shape) if n != 1 and shape[offset + i] == 1)
    if stretched:
        a = np.sum(a, axis=stretched, keepdims=True)
    if a.shape != shape:
        a = np.broadcast_to(a, shape).copy()
    return np.asarray(a)  # np.sum of all axes gives a NumPy scalar, not a 0-d array


def sens_like_impl(d: Any, like: Any) -> Any:
    """`d` as a sensitivity of `like`: `reduce_to_shape` to like's shape, in float64,
    and of like's sensitivity type (`as_sens`): a Python float for a Python number
    even where `d` is a NumPy scalar or a 0-d array.

    The map is linear, and its adjoint is `sens_like(dout, d)`. It is the
    adjoint of NumPy broadcasting in every operator's backpropagator."""
    if type(like) is float and type(d) is float:
        return d  # the scalar programs' path: no NumPy round trip
    check_numeric("sens_like", like, d)
    return as_sens(reduce_to_shape(np.asarray(d, dtype=np.float64), np.shape(like)), like)


def _sens_like_rule(d: AbstractType, like: AbstractType) -> AbstractType:
    expect_numeric("sens_like", d, like)
    return sens_type(like)


sens_like = primitive("sens_like", sens_like_impl, _sens_like_rule, ("d", "like"))


@sens_like.rule("bprop")
def _bprop_sens_like(d, like, out, dout):
    return (sens_like(dout, d), zeros_like(like))


def _is_none(x: Any) -> bool:
    """x is None (the subset has no `is`): for optional arguments such as np.clip's bounds."""
    return x is None


is_none = primitive("is_none", _is_none, lambda x: BOOL, ("x",), differentiable=False)
