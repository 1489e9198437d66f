"""Values in LLVM: the representation of each type (`ltype`) and the operations
that move structure between types: widening (`coerce`), the addition of
sensitivities (`gadd`) and AD environments.

An AD environment (`EnvRecord`) is a struct of {i1 present, value} per key
its type may hold; `env_getitem` of an absent key gives the default. One
stored in another's slot (`BoxedEnv`: the sensitivity of a closure captured
by a closure) is a pointer to an arena copy of the program's one boxed
layout (`EnvLayout`), null when empty; boxed environments are added by the
module's `env_gadd` function, which recurses through nested ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from llvmlite import ir

from tapeless.backend.cpu.arrays import array_ltype
from tapeless.backend.cpu.scalars import F64, I1, I32, I64, LTYPES, ScalarOps
from tapeless.backend.cpu.specialize import (
    BoxedEnv,
    Closure,
    EnvRecord,
    FnSet,
    KeyType,
    Specialization,
)
from tapeless.errors import InternalError
from tapeless.ir.prims.ad import Env
from tapeless.ir.types import AbstractType, ArrayType, NoneType, Scalar, SliceType, TupleType

if TYPE_CHECKING:
    from tapeless.backend.cpu.lower import ModuleLowering

PTR = ir.PointerType()
EMPTY = ir.LiteralStructType([])
#: A slice: {start, stop, step, has start, has stop} (a step left out is 1).
SLICE = ir.LiteralStructType([I64, I64, I64, I1, I1])
OUT_OF_MEMORY = (MemoryError, "out of memory for closures in native code")


def ltype(t: AbstractType) -> ir.Type:
    """The LLVM type of a value of type `t`."""
    if isinstance(t, Scalar):
        return LTYPES[t.kind]
    if isinstance(t, TupleType):
        return ir.LiteralStructType([ltype(e) for e in t.elements])
    if isinstance(t, NoneType | KeyType):
        return EMPTY
    if isinstance(t, ArrayType):
        return array_ltype(t)
    if isinstance(t, SliceType):
        return SLICE
    if isinstance(t, BoxedEnv):
        return PTR
    if isinstance(t, EnvRecord):
        return ir.LiteralStructType([ir.LiteralStructType([I1, ltype(e)]) for _, e in t.entries])
    if isinstance(t, FnSet):
        fields: list[ir.Type] = []
        if len(t.members) > 1:
            fields.append(I32)
        if has_env(t):
            fields.append(PTR)
        return ir.LiteralStructType(fields)
    raise InternalError(f"no LLVM type for {t}")


def is_null(b: ir.IRBuilder, p: ir.Value) -> ir.Value:
    """Whether pointer `p` is null."""
    return b.icmp_unsigned("==", b.ptrtoint(p, I64), ir.Constant(I64, 0))


def has_env(t: FnSet) -> bool:
    return any(isinstance(m, Closure) and m.context is not None for m in t.members)


class ValueOps:
    """Structure operations emitted at `b`'s position in `fn`, a function of the
    module that returns an i32 status (an error returns its code from `fn`).
    Its first block holds the stack slots; `finish` links it to the body."""

    def __init__(self, lowering: ModuleLowering, fn: ir.Function) -> None:
        self.m = lowering
        self.spec: Specialization = lowering.spec
        self.fn = fn
        self.allocas = ir.IRBuilder(fn.append_basic_block("allocas"))
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.ops = ScalarOps(lowering.module, self.b, self.fail)

    def fail(self, code: int) -> None:
        self.b.ret(ir.Constant(I32, code))

    def alloca(self, t: ir.Type) -> ir.AllocaInstr:
        """A stack slot in the function's first block (where mem2reg promotes it)."""
        return self.allocas.alloca(t)

    def finish(self) -> None:
        """Close the slots' block: it falls through to the body's first block."""
        self.allocas.branch(self.fn.blocks[1])

    def check(self, status: ir.Value) -> None:
        """Return `status` from this function unless it is 0."""
        failed = self.b.icmp_signed("!=", status, ir.Constant(I32, 0))
        with self.b.if_then(failed, likely=False):
            self.b.ret(status)
            self.b.position_at_end(self.b.append_basic_block("unreachable"))

    def gadd(self, x: ir.Value, y: ir.Value, t: AbstractType) -> ir.Value:
        """The sum of sensitivities x and y of type `t` (`gadd`)."""
        if t == Scalar("f64"):
            return self.b.fadd(x, y)
        if isinstance(t, TupleType):
            value: ir.Value = ir.Constant(ltype(t), None)
            for i, e in enumerate(t.elements):
                item = self.gadd(self.b.extract_value(x, i), self.b.extract_value(y, i), e)
                value = self.b.insert_value(value, item, i)
            return value
        if isinstance(t, ArrayType):
            return self.array_add(x, y, t)
        if isinstance(t, EnvRecord):
            return self.env_add(x, y, t)
        if isinstance(t, BoxedEnv):
            out = self.alloca(PTR)
            self.check(self.b.call(self.m.env_gadd(), [x, y, out]))
            return self.b.load(out, typ=PTR)
        raise InternalError(f"no gadd of {t}")

    def array_add(self, x: ir.Value, y: ir.Value, t: ArrayType) -> ir.Value:
        """A new array, x + y (broadcast); a function lowering has arrays."""
        raise InternalError(f"no array code here for gadd of {t}")

    # -- AD environments: {i1 present, value} per key ----------------------------------
    def env_add(self, x: ir.Value, y: ir.Value, t: EnvRecord) -> ir.Value:
        """`Env.add`: present in both, the sum; in one, that one's value."""
        b = self.b
        value: ir.Value = ir.Constant(ltype(t), None)
        for i, (_, e) in enumerate(t.entries):
            px, vx = b.extract_value(x, [i, 0]), b.extract_value(x, [i, 1])
            py, vy = b.extract_value(y, [i, 0]), b.extract_value(y, [i, 1])
            total = self.gadd(vx, vy, e)
            item = b.select(px, b.select(py, total, vx), vy)
            value = b.insert_value(value, b.or_(px, py), [i, 0])
            value = b.insert_value(value, item, [i, 1])
        return value

    def env_setitem(self, args: list[ir.Value], types: list[AbstractType], out: AbstractType) -> ir.Value:
        """`env_setitem(env, key, value)`: the environment widened to `out`, the key present."""
        env_t, key_t = types[0], types[1]
        assert isinstance(out, EnvRecord) and isinstance(key_t, KeyType)
        i = out.index(key_t.key)
        value = self.coerce(args[0], env_t, out)
        item = self.coerce(args[2], types[2], out.entries[i][1])
        value = self.b.insert_value(value, ir.Constant(I1, 1), [i, 0])
        return self.b.insert_value(value, item, [i, 1])

    def env_getitem(self, args: list[ir.Value], types: list[AbstractType], out: AbstractType) -> ir.Value:
        """`env_getitem(env, key, default)`: the key's value where present, else the default."""
        env_t, key_t = types[0], types[1]
        assert isinstance(env_t, EnvRecord) and isinstance(key_t, KeyType)
        default = self.coerce(args[2], types[2], out)
        have = env_t.get(key_t.key)
        if have is None:
            return default
        i = env_t.index(key_t.key)
        present = self.b.extract_value(args[0], [i, 0])
        item = self.coerce(self.b.extract_value(args[0], [i, 1]), have, out)
        return self.b.select(present, item, default)

    def box(self, value: ir.Value, t: EnvRecord) -> ir.Value:
        """An arena copy of environment `value`, widened to the boxed layout."""
        layout = self.spec.layout.record
        box = self.arena_new(ltype(layout))
        self.b.store(self._widen_env(value, t, layout), box)
        return box

    def arena_new(self, t: ir.Type) -> ir.Value:
        """Room for a `t` in the arena (16-byte granules); `MemoryError` when there is none."""
        size = max(16, (self.m.size_of(t) + 15) // 16 * 16)
        p = self.b.call(self.m.arena_alloc, [ir.Constant(I64, size)])
        self.ops.raise_if(is_null(self.b, p), OUT_OF_MEMORY)
        return p

    def unbox(self, box: ir.Value) -> ir.Value:
        """The boxed environment at `box` (empty when null)."""
        return self.b.call(self.m.env_unbox(), [box])

    def coerce(self, value: ir.Value, have: AbstractType, want: AbstractType) -> ir.Value:
        """`value` of type `have` represented as a value of the (wider) type `want`."""
        if have == want:
            return value
        if isinstance(have, TupleType) and isinstance(want, TupleType):
            out: ir.Value = ir.Constant(ltype(want), None)
            for i, (h, w) in enumerate(zip(have.elements, want.elements, strict=True)):
                out = self.b.insert_value(out, self.coerce(self.b.extract_value(value, i), h, w), i)
            return out
        if isinstance(have, FnSet) and isinstance(want, FnSet):
            return self._retag(value, have, want)
        if isinstance(have, EnvRecord) and isinstance(want, EnvRecord):
            return self._widen_env(value, have, want)
        if isinstance(have, EnvRecord) and isinstance(want, BoxedEnv):
            return self.box(value, have)
        if isinstance(have, BoxedEnv) and isinstance(want, EnvRecord):
            return self._widen_env(self.unbox(value), self.spec.layout.record, want)
        raise InternalError(f"cannot coerce {have} to {want}")

    def _widen_env(self, value: ir.Value, have: EnvRecord, want: EnvRecord) -> ir.Value:
        """An environment with `want`'s keys; those `have` lacks are absent."""
        out: ir.Value = ir.Constant(ltype(want), None)
        for i, (key, w) in enumerate(want.entries):
            h = have.get(key)
            if h is None:
                continue
            j = have.index(key)
            item = self.coerce(self.b.extract_value(value, [j, 1]), h, w)
            out = self.b.insert_value(out, self.b.extract_value(value, [j, 0]), [i, 0])
            out = self.b.insert_value(out, item, [i, 1])
        return out

    def _retag(self, value: ir.Value, have: FnSet, want: FnSet) -> ir.Value:
        b = self.b
        tags = [want.members.index(m) for m in have.members]
        if len(have.members) == 1:
            tag: ir.Value = ir.Constant(I32, tags[0])
        else:
            old = b.extract_value(value, 0)
            tag = ir.Constant(I32, tags[-1])
            for k in range(len(tags) - 1):
                tag = b.select(b.icmp_unsigned("==", old, ir.Constant(I32, k)), ir.Constant(I32, tags[k]), tag)
        out: ir.Value = ir.Constant(ltype(want), None)
        if len(want.members) > 1:
            out = b.insert_value(out, tag, 0)
        if has_env(want):
            env: ir.Value = ir.Constant(PTR, None)
            if has_env(have):
                env = b.extract_value(value, 1 if len(have.members) > 1 else 0)
            out = b.insert_value(out, env, 1 if len(want.members) > 1 else 0)
        return out


def constant_value(t: AbstractType, value: object) -> ir.Constant:
    """The LLVM constant of `value`, a constant whose type is `t`."""
    if isinstance(t, Scalar):
        if t.kind == "f64":
            return ir.Constant(F64, float(value))  # type: ignore[arg-type]
        if t.kind == "bool":
            return ir.Constant(I1, int(bool(value)))
        return ir.Constant(I64, int(value))  # type: ignore[call-overload]
    if isinstance(t, TupleType):
        assert isinstance(value, tuple)
        return ir.Constant(
            ltype(t), [constant_value(e, v) for e, v in zip(t.elements, value, strict=True)]
        )
    if isinstance(t, EnvRecord):
        assert isinstance(value, Env)
        items = dict(value.items())
        return ir.Constant(
            ltype(t), [ir.Constant.literal_struct([ir.Constant(I1, 1), constant_value(e, items[k])]) for k, e in t.entries]
        )
    if isinstance(t, ArrayType):
        return _array_constant(t, value)
    if isinstance(t, SliceType):
        assert isinstance(value, slice)
        return slice_constant(value.start, value.stop, value.step)
    return ir.Constant(ltype(t), None)  # None, a key, a primitive: nothing to carry


def slice_constant(start: int | None, stop: int | None, step: int | None) -> ir.Constant:
    return ir.Constant(SLICE, [
        ir.Constant(I64, start or 0), ir.Constant(I64, stop or 0), ir.Constant(I64, 1 if step is None else step),
        ir.Constant(I1, int(start is not None)), ir.Constant(I1, int(stop is not None)),
    ])


def _array_constant(t: ArrayType, value: object) -> ir.Constant:
    """An array constant of the program: its data where NumPy keeps it (the graph's
    constant keeps the array alive), not counted (mem null)."""
    assert isinstance(value, np.ndarray) and value.ndim == t.ndim
    data = ir.Constant(I64, value.ctypes.data).inttoptr(PTR)
    return ir.Constant.literal_struct([
        ir.Constant(PTR, None),
        data,
        ir.Constant(ir.ArrayType(I64, t.ndim), [ir.Constant(I64, n) for n in value.shape]),
        ir.Constant(ir.ArrayType(I64, t.ndim), [ir.Constant(I64, s) for s in value.strides]),
    ])


__all__ = ["EMPTY", "OUT_OF_MEMORY", "PTR", "ValueOps", "constant_value", "has_env", "is_null", "ltype"]
