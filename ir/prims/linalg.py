"""NumPy's linear algebra: `x @ y` (`matmul`), `np.dot` and `np.outer`.

Operands are numeric arrays and scalars as in `array`, and implementations
call the NumPy function: the 1-d operands of `@` are vectors and higher ranks
stacks of matrices; `np.dot` contracts x's last axis (or multiplies by a
scalar operand); `np.outer` flattens both. Shape mismatches are NumPy's
`ValueError` when the program runs; type rules see dtypes and ranks only.

Each backpropagator follows its primitive, with helper primitives next to the
primitive they serve: `matmul_dx`/`matmul_dy` and `dot_dx`/`dot_dy`, the
sensitivities of each operand, linear in the product's sensitivity and in the
other operand, so that their own backpropagators are made of the product and
each other. `np.outer`'s is made of `reshape`, `transpose` and `np.dot`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from tapeless.ir.primitives import primitive
from tapeless.ir.prims.ad import reduce_to_shape, sens_like, sens_like_impl, sens_type, zeros_like
from tapeless.ir.prims.rules import check_numeric, expect_numeric, kind_and_rank, type_error
from tapeless.ir.prims.shapes import reshape, transpose
from tapeless.ir.types import AbstractType, ArrayType, Scalar, join_kind


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
        return sens_type((x, y)[which])

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
