"""NumPy's reductions: `np.sum`, `np.prod`, `np.mean`, `np.max`, `np.min`.

Each takes `axis=None` (all axes), a constant int or a constant tuple of ints,
so that the type rule knows the result's rank. Implementations call the NumPy
function on numeric arrays and scalars as in `array`: a full reduction comes
back as a NumPy scalar, which the type rules follow; `np.sum`/`np.prod` of
bools count in int64, `np.mean` is a float (nan if empty), `np.max`/`np.min`
of an empty array raise `ValueError`. Names are `np_<function>`.

Each backpropagator follows its primitive (`np.max` and `np.min` share one)
and is built on `unreduce`, the adjoint of summing over `axis`: a sensitivity
of the reduced shape broadcast back along the reduced axes, with the
argument's sensitivity type. Choices at kinks: `np.max`/`np.min` split dout
equally among the tied extrema of a slice (as JAX does); at the only zero of a
slice, `np.prod`'s sensitivity is the product of the slice's other elements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapeless.ir.primitives import Primitive, primitive
from tapeless.ir.prims.ad import as_sens, sens_like, sens_type, zeros_like
from tapeless.ir.prims.array import KindRule, _same, _to_f64, np_where
from tapeless.ir.prims.rules import (
    check_numeric,
    expect_numeric,
    int_for_bool,
    kind_and_rank,
    normalize_axes,
)
from tapeless.ir.prims.shapes import _axis_tuple
from tapeless.ir.types import NONE, AbstractType, ArrayType, NoneType, Scalar


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
    return sens_type(like)


unreduce = primitive("unreduce", _unreduce, _unreduce_rule, ("d", "like", "axis"))


@unreduce.rule("bprop")
def _bprop_unreduce(d, like, axis, out, dout):
    return (sens_like(np.sum(dout, axis), d), zeros_like(like), zeros_like(axis))


np_sum = _reduction("np_sum", np.sum, int_for_bool, "np.sum(x, axis=None)", (np.sum,))


@np_sum.rule("bprop")
def _bprop_sum(x, axis, out, dout):
    return (unreduce(dout, x, axis), zeros_like(axis))


np_prod = _reduction("np_prod", np.prod, int_for_bool, "np.prod(x, axis=None)", (np.prod,))


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
np_min = _reduction(
    "np_min", np.min, _same, "np.min(x, axis=None) (ValueError if empty)", (np.min, np.amin)
)


@np_max.rule("bprop")
@np_min.rule("bprop")
def _bprop_max_min(x, axis, out, dout):
    # split equally among the elements equal to the extremum of their slice (as JAX does)
    hit = x == unreduce(out, x, axis)
    share = hit / unreduce(np.sum(hit, axis), x, axis)
    return (sens_like(unreduce(dout, x, axis) * share, x), zeros_like(axis))
