"""LLVM code for the scalar primitives, with CPython's results and exceptions.

`ScalarOps.emit(name, args, kinds, result_kind)` builds one primitive
application at the builder's position. Floats are IEEE doubles computed in
the order CPython computes them (no fast-math, no contraction), and the math
functions are libm's, which CPython's `math` module calls too, so results
match the interpreter bit for bit. Where CPython raises, the code calls
`fail(code)` with the status code of the same exception and message
(`runtime.python_error` asks CPython for it once). Native ints are 64-bit: an
int result outside that range raises `OverflowError` (see docs/language.md).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

from llvmlite import ir

from tapeless.backend.cpu.runtime import error_code, python_error
from tapeless.errors import InternalError

F64 = ir.DoubleType()
I64 = ir.IntType(64)
I1 = ir.IntType(1)
I32 = ir.IntType(32)
LTYPES = {"f64": F64, "i64": I64, "bool": I1}

#: Fail with a status code: emits the return of it (the builder then continues elsewhere).
Fail = Callable[[int], None]

INT_OVERFLOW = (OverflowError, "int result does not fit in 64 bits (native ints are 64-bit)")
#: math functions of one argument: (libm name, whether an infinite result of a finite
#: argument is an OverflowError (else a ValueError)), as CPython's math_1 decides.
UNARY_MATH = {
    "exp": ("exp", True), "expm1": ("expm1", True), "sinh": ("sinh", True), "cosh": ("cosh", True),
    "log": ("log", False), "log1p": ("log1p", False), "log2": ("log2", False),
    "log10": ("log10", False), "sqrt": ("sqrt", False), "sin": ("sin", False),
    "cos": ("cos", False), "tan": ("tan", False), "asin": ("asin", False), "acos": ("acos", False),
    "atan": ("atan", False), "tanh": ("tanh", False), "asinh": ("asinh", False),
    "acosh": ("acosh", False), "atanh": ("atanh", False),
}  # fmt: skip
#: Functions whose only error is a domain error at an infinite argument.
PERIODIC = frozenset({"sin", "cos", "tan"})
COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
DOMAIN = (ValueError, "math domain error")
RANGE = (OverflowError, "math range error")


class ScalarOps:
    """Emits scalar primitives into `builder`'s function of `module`."""

    def __init__(self, module: ir.Module, builder: ir.IRBuilder, fail: Fail) -> None:
        self.module = module
        self.b = builder
        self.fail = fail

    # -- helpers --------------------------------------------------------------------
    def libm(self, name: str, arity: int = 1) -> ir.Function:
        """libm's `name`, declared without side effects: errors are found from the
        arguments and results, never from errno, so LLVM may drop or hoist calls."""
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(F64, [F64] * arity), name)
            fn.attributes.add("readnone")
            fn.attributes.add("nounwind")
        assert isinstance(fn, ir.Function)
        return fn

    def intrinsic(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, args), name)
        assert isinstance(fn, ir.Function)
        return fn

    def raise_if(self, cond: ir.Value, error: tuple[type[BaseException], str]) -> None:
        """Fail with `error` where `cond` holds; the builder continues where it does not."""
        with self.b.if_then(cond, likely=False):
            self.fail(error_code(*error))
            # `fail` ended the block with a return; if_then's branch needs a fresh one
            self.b.position_at_end(self.b.append_basic_block("unreachable"))

    def to_f64(self, v: ir.Value, kind: str) -> ir.Value:
        if kind == "f64":
            return v
        if kind == "bool":
            return self.b.uitofp(v, F64)
        return self.b.sitofp(v, F64)

    def to_i64(self, v: ir.Value, kind: str) -> ir.Value:
        return self.b.zext(v, I64) if kind == "bool" else v

    def convert(self, v: ir.Value, kind: str, to: str) -> ir.Value:
        if to == "f64":
            return self.to_f64(v, kind)
        if to == "i64":
            return self.to_i64(v, kind)
        return v

    def is_nan(self, v: ir.Value) -> ir.Value:
        return self.b.fcmp_unordered("uno", v, v)

    def is_finite(self, v: ir.Value) -> ir.Value:
        fabs = self.intrinsic("llvm.fabs.f64", F64, [F64])
        return self.b.fcmp_ordered("<", self.b.call(fabs, [v]), ir.Constant(F64, math.inf))

    def checked_int(self, op: str, x: ir.Value, y: ir.Value) -> ir.Value:
        fn = self.intrinsic(f"llvm.{op}.with.overflow.i64", ir.LiteralStructType([I64, I1]), [I64, I64])
        pair = self.b.call(fn, [x, y])
        self.raise_if(self.b.extract_value(pair, 1), INT_OVERFLOW)
        return self.b.extract_value(pair, 0)

    # -- the primitives --------------------------------------------------------------------
    def emit(self, name: str, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        """`name(*args)` for arguments of scalar `kinds` giving a scalar of kind `out`."""
        if name in ("add", "sub", "mul"):
            return self._arith(name, args, kinds, out)
        if name in COMPARISONS:
            return self._compare(COMPARISONS[name], args, kinds)
        method = getattr(self, f"_{name}", None)
        if method is not None:
            return method(args, kinds, out)
        if name in UNARY_MATH:
            return self._math1(name, self.to_f64(args[0], kinds[0]))
        raise InternalError(f"no native lowering for the primitive {name}")

    def _arith(self, op: str, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        x, y = (self.convert(a, k, out) for a, k in zip(args, kinds, strict=True))
        if out == "f64":
            return getattr(self.b, f"f{op}")(x, y)
        return self.checked_int({"add": "sadd", "sub": "ssub", "mul": "smul"}[op], x, y)

    def _truediv(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        x, y = (self.to_f64(a, k) for a, k in zip(args, kinds, strict=True))
        error = python_error(operator.truediv, _sample(kinds[0], 1), _sample(kinds[1], 0))
        self.raise_if(self.b.fcmp_ordered("==", y, ir.Constant(F64, 0.0)), error)
        return self.b.fdiv(x, y)

    def _divmod_float(self, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
        """CPython's float_divmod: (floor quotient, modulo with the sign of y), y != 0."""
        b = self.b
        zero = ir.Constant(F64, 0.0)
        mod = b.frem(x, y)
        div = b.fdiv(b.fsub(x, mod), y)
        copysign = self.intrinsic("llvm.copysign.f64", F64, [F64, F64])
        nonzero = b.fcmp_unordered("!=", mod, zero)
        wrong_sign = b.icmp_unsigned(
            "!=", b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", mod, zero)
        )
        fix = b.and_(nonzero, wrong_sign)
        mod = b.select(fix, b.fadd(mod, y), mod)
        div = b.select(fix, b.fsub(div, ir.Constant(F64, 1.0)), div)
        mod = b.select(nonzero, mod, b.call(copysign, [zero, y]))
        floor = self.intrinsic("llvm.floor.f64", F64, [F64])
        floordiv = b.call(floor, [div])
        floordiv = b.select(
            b.fcmp_ordered(">", b.fsub(div, floordiv), ir.Constant(F64, 0.5)),
            b.fadd(floordiv, ir.Constant(F64, 1.0)),
            floordiv,
        )
        floordiv = b.select(
            b.fcmp_unordered("!=", div, zero), floordiv, b.call(copysign, [zero, b.fdiv(x, y)])
        )
        return floordiv, mod

    def _divmod_int(self, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
        """Floor division and modulo of int64s, y != 0 (and not INT_MIN // -1)."""
        b = self.b
        q = b.sdiv(x, y)
        r = b.srem(x, y)
        zero = ir.Constant(I64, 0)
        adjust = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("<", b.xor(r, y), zero))
        q = b.select(adjust, b.sub(q, ir.Constant(I64, 1)), q)
        r = b.select(adjust, b.add(r, y), r)
        return q, r

    def _floor_op(self, name: str, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        op = operator.floordiv if name == "floordiv" else operator.mod
        error = python_error(op, _sample(kinds[0], 1), _sample(kinds[1], 0))
        if out == "f64":
            x, y = (self.to_f64(a, k) for a, k in zip(args, kinds, strict=True))
            self.raise_if(self.b.fcmp_ordered("==", y, ir.Constant(F64, 0.0)), error)
            q, r = self._divmod_float(x, y)
        else:
            x, y = (self.to_i64(a, k) for a, k in zip(args, kinds, strict=True))
            self.raise_if(self.b.icmp_signed("==", y, ir.Constant(I64, 0)), error)
            overflow = self.b.and_(
                self.b.icmp_signed("==", x, ir.Constant(I64, -(2**63))),
                self.b.icmp_signed("==", y, ir.Constant(I64, -1)),
            )
            if name == "floordiv":
                self.raise_if(overflow, INT_OVERFLOW)
            y = self.b.select(overflow, ir.Constant(I64, 1), y)  # INT_MIN % -1 == 0
            q, r = self._divmod_int(x, y)
        return q if name == "floordiv" else r

    def _floordiv(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self._floor_op("floordiv", args, kinds, out)

    def _mod(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self._floor_op("mod", args, kinds, out)

    def _pow(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        if out != "f64":
            return self._int_pow(self.to_i64(args[0], kinds[0]), self.to_i64(args[1], kinds[1]))
        x, y = (self.to_f64(a, k) for a, k in zip(args, kinds, strict=True))
        b = self.b
        zero = ir.Constant(F64, 0.0)
        # CPython's float_pow: 0 ** negative, a negative base to a non-integer power
        # (a complex number in CPython: a ValueError here, see docs/language.md), overflow
        zero_error = python_error(operator.pow, 0.0, -1.0)
        self.raise_if(b.and_(b.fcmp_ordered("==", x, zero), b.fcmp_ordered("<", y, zero)), zero_error)
        floor = self.intrinsic("llvm.floor.f64", F64, [F64])
        non_integer = b.fcmp_ordered("!=", b.call(floor, [y]), y)
        negative_base = b.and_(b.fcmp_ordered("<", x, zero), self.is_finite(x))
        self.raise_if(
            b.and_(b.and_(negative_base, non_integer), self.is_finite(y)),
            (ValueError, "negative number raised to a fractional power (complex in CPython)"),
        )
        r = b.call(self.libm("pow", 2), [x, y])
        finite_in = b.and_(self.is_finite(x), self.is_finite(y))
        self.raise_if(b.and_(finite_in, b.not_(self.is_finite(r))), python_error(operator.pow, 10.0, 400.0))
        return r

    def _int_pow(self, x: ir.Value, n: ir.Value) -> ir.Value:
        """x ** n for int64s by squaring, n >= 0 (a negative n gives a float in CPython)."""
        b = self.b
        self.raise_if(
            b.icmp_signed("<", n, ir.Constant(I64, 0)),
            (ValueError, "int ** negative int gives a float in CPython; native ints cannot"),
        )
        return self.power_by_squaring(x, n, lambda a, c: self.checked_int("smul", a, c))

    def power_by_squaring(self, x: ir.Value, n: ir.Value, mul: Callable[[ir.Value, ir.Value], ir.Value]) -> ir.Value:
        """x ** n for int64s, n >= 0, by squaring, multiplying with `mul` (checked: CPython's
        ints; wrapping: NumPy's). The base is squared only while bits of n remain, so a
        checked product fails only where the result does not fit."""
        b = self.b
        fn = b.function
        head = fn.append_basic_block("ipow.head")
        body = fn.append_basic_block("ipow.body")
        square = fn.append_basic_block("ipow.square")
        done = fn.append_basic_block("ipow.done")
        start = b.block
        b.branch(head)
        b.position_at_end(head)
        acc = b.phi(I64)
        base = b.phi(I64)
        exp = b.phi(I64)
        acc.add_incoming(ir.Constant(I64, 1), start)
        base.add_incoming(x, start)
        exp.add_incoming(n, start)
        b.cbranch(b.icmp_signed(">", exp, ir.Constant(I64, 0)), body, done)
        b.position_at_end(body)
        odd = b.trunc(exp, I1)
        new_acc = b.select(odd, mul(acc, base), acc)
        rest = b.ashr(exp, ir.Constant(I64, 1))
        last = b.block
        b.cbranch(b.icmp_signed(">", rest, ir.Constant(I64, 0)), square, done)
        b.position_at_end(square)
        squared = mul(base, base)
        acc.add_incoming(new_acc, b.block)
        base.add_incoming(squared, b.block)
        exp.add_incoming(rest, b.block)
        b.branch(head)
        b.position_at_end(done)
        result = b.phi(I64)
        result.add_incoming(acc, head)
        result.add_incoming(new_acc, last)
        return result

    def _integer_pow(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self._pow(args, kinds, out)

    def _neg(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        if out == "f64":
            return self.b.fneg(args[0])
        return self.checked_int("ssub", ir.Constant(I64, 0), self.to_i64(args[0], kinds[0]))

    def _pos(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self.convert(args[0], kinds[0], out)

    def _abs(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        if out == "f64":
            return self.b.call(self.intrinsic("llvm.fabs.f64", F64, [F64]), [args[0]])
        x = self.to_i64(args[0], kinds[0])
        negated = self.checked_int("ssub", ir.Constant(I64, 0), x)
        return self.b.select(self.b.icmp_signed("<", x, ir.Constant(I64, 0)), negated, x)

    def _fabs(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self._abs([self.to_f64(args[0], kinds[0])], ["f64"], "f64")

    def _compare(self, op: str, args: list[ir.Value], kinds: list[str]) -> ir.Value:
        x, y = args
        if "f64" in kinds:
            x, y = self.to_f64(x, kinds[0]), self.to_f64(y, kinds[1])
            if op == "!=":
                return self.b.fcmp_unordered(op, x, y)
            return self.b.fcmp_ordered(op, x, y)
        return self.b.icmp_signed(op, self.to_i64(x, kinds[0]), self.to_i64(y, kinds[1]))

    def _scalar_max(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        # max(x, y) is y only if y > x (ties and NaN keep x), as CPython's builtin
        return self.b.select(self._compare(">", [args[1], args[0]], kinds[::-1]), args[1], args[0])

    def _scalar_min(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self.b.select(self._compare("<", [args[1], args[0]], kinds[::-1]), args[1], args[0])

    def _float(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self.to_f64(args[0], kinds[0])

    def float_to_int(self, x: ir.Value) -> ir.Value:
        """int(x) of a float: truncation, with CPython's errors for NaN and infinities."""
        b = self.b
        self.raise_if(self.is_nan(x), python_error(int, math.nan))
        self.raise_if(b.not_(self.is_finite(x)), python_error(int, math.inf))
        in_range = b.and_(
            b.fcmp_ordered(">=", x, ir.Constant(F64, -(2.0**63))),
            b.fcmp_ordered("<", x, ir.Constant(F64, 2.0**63)),
        )
        self.raise_if(b.not_(in_range), INT_OVERFLOW)
        return b.fptosi(x, I64)

    def _int(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        if kinds[0] == "f64":
            return self.float_to_int(args[0])
        return self.to_i64(args[0], kinds[0])

    def _rounding(self, intrinsic: str, args: list[ir.Value], kinds: list[str]) -> ir.Value:
        if kinds[0] != "f64":
            return self.to_i64(args[0], kinds[0])
        rounded = self.b.call(self.intrinsic(f"llvm.{intrinsic}.f64", F64, [F64]), [args[0]])
        return self.float_to_int(rounded)

    def _floor(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self._rounding("floor", args, kinds)

    def _ceil(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self._rounding("ceil", args, kinds)

    def _trunc(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self._rounding("trunc", args, kinds)

    def truth(self, x: ir.Value, kind: str) -> ir.Value:
        if kind == "bool":
            return x
        if kind == "f64":
            return self.b.fcmp_unordered("!=", x, ir.Constant(F64, 0.0))
        return self.b.icmp_signed("!=", x, ir.Constant(I64, 0))

    def _truth(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self.truth(args[0], kinds[0])

    def _not(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self.b.not_(self.truth(args[0], kinds[0]))

    def _range_check(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        i, stop, step = (self.to_i64(a, k) for a, k in zip(args, kinds, strict=True))
        zero = ir.Constant(I64, 0)
        self.raise_if(self.b.icmp_signed("==", step, zero), (ValueError, "range() arg 3 must not be zero"))
        up = self.b.icmp_signed("<", i, stop)
        down = self.b.icmp_signed(">", i, stop)
        return self.b.select(self.b.icmp_signed(">", step, zero), up, down)

    # -- math ------------------------------------------------------------------------------
    def _math1(self, name: str, x: ir.Value) -> ir.Value:
        """CPython's math_1: NaN from a non-NaN is a domain error; an infinity from a
        finite argument a range error (exp, sinh, ...) or a domain error (log 0, ...)."""
        cname, can_overflow = UNARY_MATH[name]
        b = self.b
        if name in PERIODIC:
            # NaN exactly from an infinity, and never an infinity: check the argument,
            # so that a result nothing reads is not computed
            self.raise_if(b.and_(b.not_(self.is_finite(x)), b.not_(self.is_nan(x))), DOMAIN)
            return b.call(self.libm(cname), [x])
        r = b.call(self.libm(cname), [x])
        self.raise_if(b.and_(self.is_nan(r), b.not_(self.is_nan(x))), DOMAIN)
        overflow = b.and_(b.not_(self.is_finite(r)), b.not_(self.is_nan(r)))
        self.raise_if(b.and_(overflow, self.is_finite(x)), RANGE if can_overflow else DOMAIN)
        return r

    def _degrees(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self.b.fmul(self.to_f64(args[0], kinds[0]), ir.Constant(F64, 180.0 / math.pi))

    def _radians(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self.b.fmul(self.to_f64(args[0], kinds[0]), ir.Constant(F64, math.pi / 180.0))

    def _two_floats(self, args: list[ir.Value], kinds: list[str]) -> tuple[ir.Value, ir.Value]:
        return self.to_f64(args[0], kinds[0]), self.to_f64(args[1], kinds[1])

    def _atan2(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self.b.call(self.libm("atan2", 2), list(self._two_floats(args, kinds)))

    def _hypot(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        return self.b.call(self.libm("hypot", 2), list(self._two_floats(args, kinds)))

    def _copysign(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        fn = self.intrinsic("llvm.copysign.f64", F64, [F64, F64])
        return self.b.call(fn, list(self._two_floats(args, kinds)))

    def _fmod(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        x, y = self._two_floats(args, kinds)
        b = self.b
        r = b.call(self.libm("fmod", 2), [x, y])
        # CPython: fmod(finite, inf) is x; else NaN from non-NaN arguments is a domain error
        r = b.select(b.and_(self.is_finite(x), b.not_(self.is_finite(y))), x, r)
        both = b.and_(b.not_(self.is_nan(x)), b.not_(self.is_nan(y)))
        self.raise_if(b.and_(self.is_nan(r), both), DOMAIN)
        return r

    def _math_pow(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        x, y = self._two_floats(args, kinds)
        b = self.b
        r = b.call(self.libm("pow", 2), [x, y])
        finite_in = b.and_(self.is_finite(x), self.is_finite(y))
        bad = b.and_(finite_in, b.not_(self.is_finite(r)))
        domain = b.or_(self.is_nan(r), b.fcmp_ordered("==", x, ir.Constant(F64, 0.0)))
        self.raise_if(b.and_(bad, domain), DOMAIN)
        self.raise_if(bad, RANGE)
        return r

    def _log_base(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        x, base = self._two_floats(args, kinds)
        num = self._math1("log", x)
        den = self._math1("log", base)
        error = python_error(operator.truediv, 1.0, 0.0)
        self.raise_if(self.b.fcmp_ordered("==", den, ir.Constant(F64, 0.0)), error)
        return self.b.fdiv(num, den)

    def _sign_of(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        x = self.to_f64(args[0], kinds[0])
        b = self.b
        zero = ir.Constant(F64, 0.0)
        sign = b.select(b.fcmp_ordered(">", x, zero), ir.Constant(F64, 1.0), zero)
        sign = b.select(b.fcmp_ordered("<", x, zero), ir.Constant(F64, -1.0), sign)
        return b.select(self.is_nan(x), x, sign)

    def _positive_part(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        x = self.to_f64(args[0], kinds[0])
        positive = self.b.fcmp_ordered(">", x, ir.Constant(F64, 0.0))
        return self.b.select(positive, ir.Constant(F64, 1.0), ir.Constant(F64, 0.0))

    def _safe_log(self, args: list[ir.Value], kinds: list[str], out: str) -> ir.Value:
        x = self.to_f64(args[0], kinds[0])
        positive = self.b.fcmp_ordered(">", x, ir.Constant(F64, 0.0))
        safe = self.b.select(positive, x, ir.Constant(F64, 1.0))
        logged = self.b.call(self.libm("log"), [safe])
        return self.b.select(positive, logged, ir.Constant(F64, 0.0))


def _sample(kind: str, value: int) -> object:
    """A Python value of `kind` (for asking CPython which error an operation raises)."""
    return {"f64": float(value), "i64": int(value), "bool": bool(value)}[kind]


__all__ = ["F64", "I1", "I32", "I64", "LTYPES", "ScalarOps"]
