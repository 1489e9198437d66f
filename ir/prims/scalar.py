"""Arithmetic and comparison operators, and the scalar builtins.

Operators are polymorphic over scalars and NumPy arrays (with broadcasting),
as in Python: `add` is both `1 + 2.5` and `x + y` on arrays. Implementations
are Python's own operators, so the interpreter gives CPython's answers bit for
bit (`//` and `%` floor toward minus infinity, `/` is true division, int
`**` a negative int is a float, ...).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from tapeless.ir.primitives import Primitive, primitive
from tapeless.ir.prims.ad import safe_log, sens_like, sign_of, zeros_like
from tapeless.ir.prims.rules import (
    arith_rule,
    check_numeric,
    compare_rule,
    expect_scalar,
    kind_and_rank,
    unary_arith_rule,
)
from tapeless.ir.types import F64, I64, AbstractType, ArrayType, Scalar, join_kind


def _checked(name: str, op: Any) -> Callable[..., Any]:
    """`op(x, y)`, raising `TypeError` unless x and y are numbers or arrays."""

    def impl(x: Any, y: Any) -> Any:
        check_numeric(name, x, y)
        return op(x, y)

    impl.__name__ = name
    return impl


def _binary(name: str, op: Any, doc: str, *, true_division: bool = False) -> Primitive:
    return primitive(
        name,
        _checked(name, op),
        arith_rule(name, true_division=true_division),
        ("x", "y"),
        implements=(op,),
        doc=doc,
    )


# -- binary arithmetic -------------------------------------------------------
add = _binary("add", operator.add, "x + y")
sub = _binary("sub", operator.sub, "x - y")
mul = _binary("mul", operator.mul, "x * y")
truediv = _binary("truediv", operator.truediv, "x / y (true division)", true_division=True)
floordiv = _binary("floordiv", operator.floordiv, "x // y (floors toward -inf)")
mod = _binary("mod", operator.mod, "x % y (sign of y, as Python)")


# Backpropagators: `bprop(x, y, out, dout)` gives the sensitivities of x and y.
# `sens_like` sums a sensitivity back to its operand's shape and type (the adjoint
# of broadcasting; a Python float for a Python number).
@add.rule("bprop")
def _bprop_add(x, y, out, dout):
    return (sens_like(dout, x), sens_like(dout, y))


@sub.rule("bprop")
def _bprop_sub(x, y, out, dout):
    return (sens_like(dout, x), sens_like(-dout, y))


@mul.rule("bprop")
def _bprop_mul(x, y, out, dout):
    return (sens_like(dout * y, x), sens_like(dout * x, y))


@truediv.rule("bprop")
def _bprop_truediv(x, y, out, dout):
    # d(x / y)/dy = -x / y**2 = -out / y
    return (sens_like(dout / y, x), sens_like(-dout * out / y, y))


@floordiv.rule("bprop")
def _bprop_floordiv(x, y, out, dout):
    # piecewise constant: zero almost everywhere
    return (zeros_like(x), zeros_like(y))


@mod.rule("bprop")
def _bprop_mod(x, y, out, dout):
    # x % y = x - y * floor(x / y), and floor(x / y) = (x - out) / y
    return (sens_like(dout, x), sens_like(-dout * ((x - out) / y), y))


def _pow_impl(x: Any, y: Any) -> Any:
    check_numeric("pow", x, y)
    return x**y


def _pow_rule(x: AbstractType, y: AbstractType) -> AbstractType:
    base = arith_rule("pow")(x, y)
    # int ** int is an int for a non-negative exponent and a float otherwise;
    # the type is only known when the exponent is a known constant.
    if isinstance(base, Scalar) and base.kind == "i64" and isinstance(y, Scalar):
        if y.value is not None and y.value >= 0:
            return I64
        return F64 if y.value is not None else I64
    return base


pow = primitive("pow", _pow_impl, _pow_rule, ("x", "y"), implements=(operator.pow,), doc="x ** y")


def _integer_pow_impl(x: Any, n: int) -> Any:
    """x ** n for a constant int n (what `x ** 3` in the source lowers to)."""
    check_numeric("pow", x, n)
    return x**n


# As in JAX: a literal int exponent is not differentiated, so derivatives of
# any order stay polynomials in x (pow's d/dy term, out * log(x), would be
# carried along and give 0 * inf at tiny x).
integer_pow = primitive(
    "integer_pow", _integer_pow_impl, _pow_rule, ("x", "n"), doc="x ** n, n a literal int"
)


@integer_pow.rule("bprop")
def _bprop_integer_pow(x, n, out, dout):
    return (dout * n * integer_pow(x, n - 1) if n != 0 else zeros_like(x), zeros_like(n))


@pow.rule("bprop")
def _bprop_pow(x, y, out, dout):
    # d/dx = y * x ** (y - 1); d/dy = out * log(x), zero where x <= 0
    return (sens_like(dout * y * x ** (y - 1), x), sens_like(dout * out * safe_log(x), y))


# -- unary arithmetic --------------------------------------------------------
def _neg(x: Any) -> Any:
    check_numeric("neg", x)
    return -x


def _pos(x: Any) -> Any:
    check_numeric("pos", x)
    return +x


neg = primitive("neg", _neg, unary_arith_rule("neg"), ("x",), implements=(operator.neg,), doc="-x")
pos = primitive("pos", _pos, unary_arith_rule("pos"), ("x",), implements=(operator.pos,), doc="+x")


@neg.rule("bprop")
def _bprop_neg(x, out, dout):
    return (-dout,)


@pos.rule("bprop")
def _bprop_pos(x, out, dout):
    return (dout,)


def _abs(x: Any) -> Any:
    check_numeric("abs", x)
    return abs(x)


abs_ = primitive("abs", _abs, unary_arith_rule("abs"), ("x",), implements=(abs,), doc="abs(x)")


@abs_.rule("bprop")
def _bprop_abs(x, out, dout):
    return (dout * sign_of(x),)


# -- comparisons -------------------------------------------------------------
def _compare(name: str, op: Any, doc: str) -> Primitive:
    return primitive(
        name, _checked(name, op), compare_rule(name), ("x", "y"), implements=(op,),
        differentiable=False, doc=doc,
    )


eq = _compare("eq", operator.eq, "x == y")
ne = _compare("ne", operator.ne, "x != y")
lt = _compare("lt", operator.lt, "x < y")
le = _compare("le", operator.le, "x <= y")
gt = _compare("gt", operator.gt, "x > y")
ge = _compare("ge", operator.ge, "x >= y")


# -- scalar builtins ---------------------------------------------------------
def _minmax_rule(name: str) -> Callable[..., Any]:
    def rule(x: AbstractType, y: AbstractType) -> AbstractType:
        expect_scalar(name, x, y)
        kx, _ = kind_and_rank(x)
        ky, _ = kind_and_rank(y)
        return Scalar(join_kind(kx, ky))

    return rule


def _min(x: Any, y: Any) -> Any:
    """min(x, y) for two scalars: y if y < x else x (Python's tie and NaN order)."""
    check_numeric("min", x, y)
    return min(x, y)


def _max(x: Any, y: Any) -> Any:
    """max(x, y) for two scalars: y if y > x else x (Python's tie and NaN order)."""
    check_numeric("max", x, y)
    return max(x, y)


scalar_min = primitive("scalar_min", _min, _minmax_rule("min"), ("x", "y"))
scalar_max = primitive("scalar_max", _max, _minmax_rule("max"), ("x", "y"))


@scalar_min.rule("bprop")
def _bprop_min(x, y, out, dout):
    # the sensitivity goes to the operand min returned (y only if y < x)
    to_y = y < x
    return (zeros_like(x) if to_y else dout, dout if to_y else zeros_like(y))


@scalar_max.rule("bprop")
def _bprop_max(x, y, out, dout):
    to_y = y > x
    return (zeros_like(x) if to_y else dout, dout if to_y else zeros_like(y))


def _to_float(x: Any) -> float:
    check_numeric("float", x)
    return float(x)


def _to_int(x: Any) -> int:
    check_numeric("int", x)
    return int(x)


def _scalar_cast_rule(kind: str) -> Callable[..., Any]:
    def rule(x: AbstractType) -> AbstractType:
        if isinstance(x, ArrayType) and x.ndim == 0:
            return Scalar(kind)
        expect_scalar("float" if kind == "f64" else "int", x)
        return Scalar(kind)

    return rule


to_float = primitive(
    "float", _to_float, _scalar_cast_rule("f64"), ("x",), implements=(float,),
    doc="float(x)",
)


@to_float.rule("bprop")
def _bprop_float(x, out, dout):
    return (dout,)


to_int = primitive(
    "int", _to_int, _scalar_cast_rule("i64"), ("x",), implements=(int,), differentiable=False,
    doc="int(x) (truncates toward zero)",
)

