"""One element of NumPy's elementwise functions, with NumPy's semantics.

`ElementOps.emit(name, args, kinds, out)` computes the primitive `name` on
scalar elements (of kinds `kinds`, LLVM values) giving one of kind `out`, at
the builder's position, the way NumPy's loops do: IEEE results where CPython
would raise (`x / 0.0` is inf, `np.log(-1.0)` nan), 64-bit ints that wrap,
bools that add as `or` and multiply as `and`, `np.maximum`/`np.minimum` that
let nan win. The one error is NumPy's: an int to a negative int power. It is
the element code of the fused loops of `arrays.py`; scalar primitives outside
arrays keep CPython's semantics (`scalars.py`).

Transcendental functions are `vecmath.py`'s (exp, log, sin, cos, tanh, expm1,
log1p, sinh, cosh, arctan: within 1 ulp of NumPy, with vector variants LLVM
calls when it vectorizes a loop), LLVM's intrinsics (`sqrt`, `pow`, `fabs`),
or libm's (the rest), so results can differ from NumPy's in the last bit.
"""

from __future__ import annotations

from llvmlite import ir

from tapeless.backend.cpu.scalars import COMPARISONS, F64, I64, ScalarOps
from tapeless.backend.cpu.vecmath import declare_math
from tapeless.errors import InternalError

#: Float functions of one argument: (LLVM intrinsic or libm name, whether intrinsic).
FLOAT_FUNCTIONS = {
    "np_exp": ("llvm.exp.f64", True), "np_log": ("llvm.log.f64", True),
    "np_sqrt": ("llvm.sqrt.f64", True), "np_sin": ("llvm.sin.f64", True),
    "np_cos": ("llvm.cos.f64", True), "np_tan": ("tan", False), "np_expm1": ("expm1", False),
    "np_log1p": ("log1p", False), "np_arcsin": ("asin", False), "np_arccos": ("acos", False),
    "np_arctan": ("atan", False), "np_sinh": ("sinh", False), "np_cosh": ("cosh", False),
    "np_tanh": ("tanh", False),
}  # fmt: skip
#: The functions `vecmath.py` computes (so that LLVM vectorizes loops calling them).
VECTOR_KERNELS = {
    "llvm.exp.f64": "exp", "llvm.log.f64": "log", "llvm.sin.f64": "sin", "llvm.cos.f64": "cos",
    "tanh": "tanh", "expm1": "expm1", "log1p": "log1p", "sinh": "sinh", "cosh": "cosh", "atan": "arctan",
}  # fmt: skip
NEGATIVE_POWER = (ValueError, "Integers to negative integer powers are not allowed.")
_RANK = {"bool": 0, "i64": 1, "f64": 2}


def join(*kinds: str) -> str:
    """The kind NumPy computes a mix of `kinds` in."""
    return max(kinds, key=_RANK.__getitem__)


class ElementOps:
    """Element code emitted with `ops`' builder (see the module docstring)."""

    def __init__(self, ops: ScalarOps) -> None:
        self.ops = ops
        self.b = ops.b

    def f64_call(self, name: str, *args: ir.Value) -> ir.Value:
        kernel = VECTOR_KERNELS.get(name)
        if kernel is not None:
            return self.b.call(declare_math(self.ops.module, kernel), list(args))
        if name.startswith("llvm."):
            fn = self.ops.intrinsic(name, F64, [F64] * len(args))
        else:
            fn = self.ops.libm(name, len(args))
        return self.b.call(fn, list(args))

    def emit(self, name: str, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        b, ops = self.b, self.ops
        if name in FLOAT_FUNCTIONS:
            fn, _ = FLOAT_FUNCTIONS[name]
            return self.f64_call(fn, ops.to_f64(args[0], kinds[0]))
        if name in COMPARISONS:
            k = join(*kinds)
            x, y = (ops.convert(a, kind, k) for a, kind in zip(args, kinds, strict=True))
            if k == "f64":
                op = COMPARISONS[name]
                return b.fcmp_unordered(op, x, y) if name == "ne" else b.fcmp_ordered(op, x, y)
            return b.icmp_signed(COMPARISONS[name], x, y)
        if name == "np_where":
            cond = self.truth(args[0], kinds[0])
            x, y = (ops.convert(a, kind, out) for a, kind in zip(args[1:], kinds[1:], strict=True))
            return b.select(cond, x, y)
        if name == "np_arctan2":
            return self.f64_call("atan2", *(ops.to_f64(a, k) for a, k in zip(args, kinds, strict=True)))
        if name == "truediv":
            x, y = (ops.to_f64(a, k) for a, k in zip(args, kinds, strict=True))
            return b.fdiv(x, y)
        if name in ("safe_log", "positive_part", "sign_of"):
            return self.ad_helper(name, ops.to_f64(args[0], kinds[0]))
        values = [ops.convert(a, k, out) for a, k in zip(args, kinds, strict=True)]
        if out == "f64":
            return self.floats(name, values)
        if out == "i64":
            return self.ints(name, values)
        return self.bools(name, values)

    def truth(self, v: ir.Value, kind: str) -> ir.Value:
        if kind == "bool":
            return v
        if kind == "f64":
            return self.b.fcmp_unordered("!=", v, ir.Constant(F64, 0.0))
        return self.b.icmp_signed("!=", v, ir.Constant(I64, 0))

    def ad_helper(self, name: str, x: ir.Value) -> ir.Value:
        """AD's helpers of backpropagators (`ir/prims/ad.py`), elementwise on floats."""
        b = self.b
        zero, one = ir.Constant(F64, 0.0), ir.Constant(F64, 1.0)
        positive = b.fcmp_ordered(">", x, zero)
        if name == "positive_part":
            return b.select(positive, one, zero)
        if name == "safe_log":
            return b.select(positive, self.f64_call("llvm.log.f64", b.select(positive, x, one)), zero)
        return self.sign(x)

    def sign(self, x: ir.Value) -> ir.Value:
        b = self.b
        zero = ir.Constant(F64, 0.0)
        s = b.select(b.fcmp_ordered("<", x, zero), ir.Constant(F64, -1.0), zero)
        s = b.select(b.fcmp_ordered(">", x, zero), ir.Constant(F64, 1.0), s)
        return b.select(self.ops.is_nan(x), x, s)

    def floats(self, name: str, v: list[ir.Value]) -> ir.Value:
        b = self.b
        if name == "add":
            return b.fadd(v[0], v[1])
        if name == "sub":
            return b.fsub(v[0], v[1])
        if name in ("mul",):
            return b.fmul(v[0], v[1])
        if name in ("neg", "np_negative"):
            return b.fneg(v[0])
        if name == "pos":
            return v[0]
        if name == "np_square":
            return b.fmul(v[0], v[0])
        if name == "np_abs":
            return self.f64_call("llvm.fabs.f64", v[0])
        if name in ("np_maximum", "np_minimum"):
            x, y = v  # nan wins; a tie gives y, as NumPy's loops do (np.maximum(-0.0, 0.0) is 0.0)
            op = ">" if name == "np_maximum" else "<"
            keep_x = b.or_(b.fcmp_ordered(op, x, y), self.ops.is_nan(x))
            return b.select(keep_x, x, y)
        if name == "np_sign":
            return self.sign(v[0])
        if name in ("pow", "np_power", "integer_pow"):
            return self.f64_call("llvm.pow.f64", v[0], v[1])
        if name in ("floordiv", "mod"):
            return self.float_divmod(v[0], v[1])[0 if name == "floordiv" else 1]
        raise InternalError(f"no element code for {name} on floats")

    def float_divmod(self, a: ir.Value, b_: ir.Value) -> tuple[ir.Value, ir.Value]:
        """NumPy's float `//` and `%` (npy_divmod): from fmod, the quotient floored and
        rounded back where the division was inexact, signs of zero as NumPy's."""
        b = self.b
        zero, one, half = ir.Constant(F64, 0.0), ir.Constant(F64, 1.0), ir.Constant(F64, 0.5)
        copysign = self.ops.intrinsic("llvm.copysign.f64", F64, [F64, F64])
        mod = b.frem(a, b_)
        div = b.fdiv(b.fsub(a, mod), b_)
        fix = b.and_(b.fcmp_unordered("!=", mod, zero), b.xor(b.fcmp_ordered("<", b_, zero), b.fcmp_ordered("<", mod, zero)))
        mod = b.select(fix, b.fadd(mod, b_), b.select(b.fcmp_ordered("==", mod, zero), b.call(copysign, [zero, b_]), mod))
        div = b.select(fix, b.fsub(div, one), div)
        floor = self.f64_call("llvm.floor.f64", div)
        floor = b.select(b.fcmp_ordered(">", b.fsub(div, floor), half), b.fadd(floor, one), floor)
        floordiv = b.select(b.fcmp_ordered("==", div, zero), b.call(copysign, [zero, b.fdiv(a, b_)]), floor)
        by_zero = b.fcmp_ordered("==", b_, zero)
        return b.select(by_zero, b.fdiv(a, b_), floordiv), b.select(by_zero, b.frem(a, b_), mod)

    def ints(self, name: str, v: list[ir.Value]) -> ir.Value:
        b = self.b
        zero = ir.Constant(I64, 0)
        if name == "add":
            return b.add(v[0], v[1])
        if name == "sub":
            return b.sub(v[0], v[1])
        if name == "mul":
            return b.mul(v[0], v[1])
        if name in ("neg", "np_negative"):
            return b.sub(zero, v[0])
        if name == "pos":
            return v[0]
        if name == "np_square":
            return b.mul(v[0], v[0])
        if name == "np_abs":
            return b.select(b.icmp_signed("<", v[0], zero), b.sub(zero, v[0]), v[0])
        if name in ("np_maximum", "np_minimum"):
            op = ">=" if name == "np_maximum" else "<="
            return b.select(b.icmp_signed(op, v[0], v[1]), v[0], v[1])
        if name == "np_sign":
            s = b.select(b.icmp_signed("<", v[0], zero), ir.Constant(I64, -1), zero)
            return b.select(b.icmp_signed(">", v[0], zero), ir.Constant(I64, 1), s)
        if name in ("pow", "np_power", "integer_pow"):
            return self.int_power(v[0], v[1])
        if name in ("floordiv", "mod"):
            return self.int_divmod(v[0], v[1])[0 if name == "floordiv" else 1]
        raise InternalError(f"no element code for {name} on ints")

    def int_divmod(self, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
        """NumPy's int64 `//` and `%`: floored; 0 for both where y is 0 (NumPy warns), and
        the quotient of INT64_MIN // -1 wraps."""
        b = self.b
        zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
        bad = b.or_(b.icmp_signed("==", y, zero), b.and_(b.icmp_signed("==", y, ir.Constant(I64, -1)), b.icmp_signed("==", x, ir.Constant(I64, -(2**63)))))
        safe = b.select(bad, one, y)
        q = b.sdiv(x, safe)
        r = b.srem(x, safe)
        fix = b.and_(b.icmp_signed("!=", r, zero), b.xor(b.icmp_signed("<", r, zero), b.icmp_signed("<", safe, zero)))
        q = b.select(fix, b.sub(q, one), q)
        r = b.select(fix, b.add(r, safe), r)
        by_zero = b.icmp_signed("==", y, zero)
        wrapped = b.select(by_zero, zero, b.sub(zero, x))  # INT64_MIN // -1 wraps to itself
        return b.select(bad, wrapped, q), b.select(bad, zero, r)

    def bools(self, name: str, v: list[ir.Value]) -> ir.Value:
        if name == "add" or name == "np_maximum":
            return self.b.or_(v[0], v[1])
        if name in ("mul", "np_minimum", "np_square") and len(v) == 2:
            return self.b.and_(v[0], v[1])
        if name in ("np_abs", "pos", "np_square"):
            return v[0]
        raise InternalError(f"no element code for {name} on bools")

    def int_power(self, x: ir.Value, n: ir.Value) -> ir.Value:
        """x ** n by squaring (wrapping, as NumPy's int64 loop); a negative n raises."""
        self.ops.raise_if(self.b.icmp_signed("<", n, ir.Constant(I64, 0)), NEGATIVE_POWER)
        return self.ops.power_by_squaring(x, n, self.b.mul)


def small_power(b: ir.IRBuilder, x: ir.Value, n: int) -> ir.Value | None:
    """x ** n for a float x and the constants NumPy special-cases (exact), else None."""
    if n == 1:
        return x
    if n == 2:
        return b.fmul(x, x)
    if n == 0:
        return ir.Constant(F64, 1.0)
    if n == -1:
        return b.fdiv(ir.Constant(F64, 1.0), x)
    return None


__all__ = ["ElementOps", "join", "small_power"]
