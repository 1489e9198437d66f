"""NumPy arrays in native code: views, reference counts, loops, reductions, BLAS.

An `ArrayType(dtype, ndim)` value is `{ptr mem, ptr data, [n x i64] shape,
[n x i64] strides}` (strides in bytes), unpacked here as a `View`. `mem` is
null for memory native code does not own (an argument, which the caller keeps
alive for the call) and otherwise a block of `memory.py` (`tl_array_alloc`: a
64-byte header whose first word is the reference count, then the data).
Views (`x.T`, `x[i]`, a reshape of a contiguous array) share their base's
block and count as one reference to it. `lower.py` decides who owns what
(see its docstring); this module emits the operations:

- `incref`/`decref` of every array a value of any type holds;
- `new`: a C-contiguous array of a shape (`MemoryError` when there is none);
- `loop`: the loop nest of a fused elementwise expression (`Expr`) over its
  broadcast shape, with a flat, unit-stride loop (which LLVM vectorizes) when
  every operand is C-contiguous with the result's shape, and a strided nest
  otherwise; its result is stored (`Sink.store`), added or maxed into an
  array with stride 0 along the reduced axes (`Sink.reduce_into`: reductions
  over axes, the adjoint of broadcasting), or accumulated into one scalar
  (`Sink.total`: full reductions, in a register);
- broadcasting and matmul shape checks, which raise `TapelessShapeError`
  naming the expression and both shapes (`runtime.shape_error_code`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llvmlite import ir

from tapeless.backend.cpu import memory, runtime
from tapeless.backend.cpu.elementwise import ElementOps, small_power
from tapeless.backend.cpu.scalars import F64, I1, I64
from tapeless.ir.nodes import Apply
from tapeless.ir.types import AbstractType, ArrayType, Scalar, TupleType

if TYPE_CHECKING:
    from tapeless.backend.cpu.values import ValueOps

I8 = ir.IntType(8)
PTR = ir.PointerType()
ELEMENT = {"f64": F64, "i64": I64, "bool": I8}
ITEMSIZE = {"f64": 8, "i64": 8, "bool": 1}
HEADER = 64
OUT_OF_MEMORY = (MemoryError, "out of memory for an array in native code")


def array_ltype(t: ArrayType) -> ir.LiteralStructType:
    dims = ir.ArrayType(I64, t.ndim)
    return ir.LiteralStructType([PTR, PTR, dims, dims])


@dataclass
class View:
    """An array value taken apart: its block (or null), data, shape and byte strides."""

    dtype: str
    mem: ir.Value
    data: ir.Value
    shape: list[ir.Value]
    strides: list[ir.Value]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def type(self) -> ArrayType:
        return ArrayType(self.dtype, self.ndim)


@dataclass
class Leaf:
    """An operand of a fused expression: an array (read element by element) or a scalar."""

    value: ir.Value
    type: AbstractType
    view: View | None = None


@dataclass
class Expr:
    """A fused elementwise expression: primitive `prim` (element code) of `operands`,
    giving elements of `kind`; `shaped` are arrays that give it their shape only
    (`zeros_like(x)`); `node` names it in shape errors."""

    prim: str
    kind: str
    operands: list[Expr | Leaf]
    node: Apply | None = None
    shaped: list[Leaf] = field(default_factory=list)
    constant: float | int | None = None


@dataclass
class Sink:
    """Where a loop's elements go: `store` into `out` (of the loop's shape), `reduce_into`
    `out` (stride 0 along the axes `keep` marks False), or `total` (one scalar)."""

    how: str
    op: str = "add"
    out: View | None = None
    keep: list[ir.Value] | None = None


Body = Callable[[list[ir.Value]], None]


class ArrayOps:
    """Array code emitted at the position of `f`'s builder (`f` a `ValueOps`)."""

    def __init__(self, f: ValueOps) -> None:
        self.f = f
        self.b = f.b
        self.el = ElementOps(f.ops)

    # -- values and views -------------------------------------------------------------
    def view(self, value: ir.Value, t: ArrayType) -> View:
        b = self.b
        return View(
            t.dtype,
            b.extract_value(value, 0),
            b.extract_value(value, 1),
            [b.extract_value(value, [2, k]) for k in range(t.ndim)],
            [b.extract_value(value, [3, k]) for k in range(t.ndim)],
        )

    def pack(self, v: View) -> ir.Value:
        b = self.b
        value: ir.Value = ir.Constant(array_ltype(v.type), None)
        value = b.insert_value(value, v.mem, 0)
        value = b.insert_value(value, v.data, 1)
        for k in range(v.ndim):
            value = b.insert_value(value, v.shape[k], [2, k])
            value = b.insert_value(value, v.strides[k], [3, k])
        return value

    def runtime_function(self, name: str) -> ir.Function:
        """`memory.py`'s function `name`, declared in this module."""
        return memory.declare(self.f.m.module, name)

    # -- reference counts ---------------------------------------------------------------
    def incref(self, value: ir.Value, t: AbstractType) -> None:
        """One more reference to every array `value` holds."""
        self._each_mem(value, t, self._incref_mem)

    def decref(self, value: ir.Value, t: AbstractType) -> None:
        """One reference less to every array `value` holds (freed at zero)."""
        self._each_mem(value, t, self.decref_mem)

    def mems(self, value: ir.Value, t: AbstractType) -> list[ir.Value]:
        """The blocks (or nulls) of the arrays `value` holds."""
        out: list[ir.Value] = []
        self._each_mem(value, t, out.append)
        return out

    def _each_mem(self, value: ir.Value, t: AbstractType, op: Callable[[ir.Value], None]) -> None:
        if isinstance(t, ArrayType):
            op(self.b.extract_value(value, 0))
        elif isinstance(t, TupleType):
            for i, e in enumerate(t.elements):
                if holds_array(e):
                    self._each_mem(self.b.extract_value(value, i), e, op)

    def _incref_mem(self, mem: ir.Value) -> None:
        b = self.b
        with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(mem, I64), ir.Constant(I64, 0))):
            b.store(b.add(b.load(mem, typ=I64), ir.Constant(I64, 1)), mem)

    def decref_mem(self, mem: ir.Value) -> None:
        b = self.b
        with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(mem, I64), ir.Constant(I64, 0))):
            count = b.sub(b.load(mem, typ=I64), ir.Constant(I64, 1))
            b.store(count, mem)
            with b.if_then(b.icmp_signed("==", count, ir.Constant(I64, 0))):
                b.call(self.runtime_function(memory.FREE), [mem])

    # -- making arrays --------------------------------------------------------------------
    def size(self, shape: Sequence[ir.Value]) -> ir.Value:
        total: ir.Value = ir.Constant(I64, 1)
        for n in shape:
            total = self.b.mul(total, n)
        return total

    def c_strides(self, dtype: str, shape: Sequence[ir.Value]) -> list[ir.Value]:
        strides: list[ir.Value] = []
        step: ir.Value = ir.Constant(I64, ITEMSIZE[dtype])
        for n in reversed(shape):
            strides.append(step)
            step = self.b.mul(step, n)
        return strides[::-1]

    def new(self, dtype: str, shape: Sequence[ir.Value]) -> View:
        """A new C-contiguous array (one reference, contents undefined)."""
        b = self.b
        nbytes = b.mul(self.size(shape), ir.Constant(I64, ITEMSIZE[dtype]))
        mem = b.call(self.runtime_function(memory.ALLOC), [nbytes])
        self.f.ops.raise_if(b.icmp_unsigned("==", b.ptrtoint(mem, I64), ir.Constant(I64, 0)), OUT_OF_MEMORY)
        data = b.gep(mem, [ir.Constant(I64, HEADER)], source_etype=I8)
        return View(dtype, mem, data, list(shape), self.c_strides(dtype, shape))

    def fill(self, dtype: str, shape: Sequence[ir.Value], value: float | int) -> View:
        """A new C-contiguous array of `shape` holding `value` everywhere."""
        out = self.new(dtype, shape)
        if value == 0 and str(value) != "-0.0":  # (the bits of -0.0 are not zero)
            self.zero(out.data, self.b.mul(self.size(shape), ir.Constant(I64, ITEMSIZE[dtype])))
        else:
            self.loop(Expr("const", dtype, [], constant=value), shape, Sink("store", out=out))
        return out

    def zero(self, data: ir.Value, nbytes: ir.Value) -> None:
        """Set `nbytes` bytes at `data` to 0 (the bits of 0.0, 0 and False)."""
        memset = self.f.ops.intrinsic("llvm.memset.p0.i64", ir.VoidType(), [PTR, I8, I64, ir.IntType(1)])
        self.b.call(memset, [data, ir.Constant(I8, 0), nbytes, ir.Constant(ir.IntType(1), 0)])

    def stored(self, e: Expr) -> ir.Value:
        """A new array of `e`'s elements over their broadcast shape (one loop), packed."""
        shape = self.shape_of(e)
        out = self.new(e.kind, shape)
        self.loop(e, shape, Sink("store", out=out))
        return self.pack(out)

    def copy(self, v: View) -> View:
        """A C-contiguous copy of `v`."""
        out = self.new(v.dtype, v.shape)
        self.loop(self.leaf_of(v), v.shape, Sink("store", out=out))
        return out

    def leaf_of(self, v: View) -> Leaf:
        return Leaf(self.pack(v), v.type, v)

    # -- elements ---------------------------------------------------------------------------
    def load(self, ptr: ir.Value, dtype: str) -> ir.Value:
        value = self.b.load(ptr, typ=ELEMENT[dtype])
        if dtype == "bool":
            return self.b.icmp_unsigned("!=", value, ir.Constant(I8, 0))
        return value

    def store(self, value: ir.Value, ptr: ir.Value, dtype: str) -> None:
        if dtype == "bool":
            value = self.b.zext(value, I8)
        self.b.store(value, ptr)

    def at(self, data: ir.Value, offset: ir.Value) -> ir.Value:
        return self.b.gep(data, [offset], source_etype=I8)

    # -- shapes -------------------------------------------------------------------------------
    def broadcast(self, a: list[ir.Value], c: list[ir.Value], node: Apply | None) -> list[ir.Value]:
        """NumPy's broadcast of shapes `a` and `c`, or a shape error at `node`."""
        b = self.b
        n = max(len(a), len(c))
        one = ir.Constant(I64, 1)
        pa = [one] * (n - len(a)) + a
        pc = [one] * (n - len(c)) + c
        bad: ir.Value = ir.Constant(I1, 0)
        out = []
        for x, y in zip(pa, pc, strict=True):
            ok = b.or_(b.icmp_signed("==", x, y), b.or_(b.icmp_signed("==", x, one), b.icmp_signed("==", y, one)))
            bad = b.or_(bad, b.not_(ok))
            out.append(b.select(b.icmp_signed("==", x, one), y, x))
        if a and c:
            self.shape_check(bad, a, c, node, "broadcast")
        return out

    def shape_check(
        self, bad: ir.Value, a: Sequence[ir.Value], c: Sequence[ir.Value], node: Apply | None, what: str
    ) -> None:
        """Raise the shape error of `node` (`what`: "broadcast" or "matmul") where `bad`."""
        b = self.b
        with b.if_then(bad, likely=False):
            slots = runtime.SHAPES_ADDRESS
            for base, shape in ((0, a), (runtime.MAX_DIMS + 1, c)):
                self._put(slots, base, ir.Constant(I64, len(shape)))
                for k, n in enumerate(shape):
                    self._put(slots, base + 1 + k, n)
            self.f.fail(runtime.shape_error_code(node, what))
            b.position_at_end(b.append_basic_block("unreachable"))

    def _put(self, address: int, index: int, value: ir.Value) -> None:
        ptr = self.b.inttoptr(ir.Constant(I64, address + 8 * index), PTR)
        self.b.store(value, ptr)

    def shape_of(self, e: Expr | Leaf) -> list[ir.Value]:
        """The shape of `e`, checking each broadcast on the way."""
        if isinstance(e, Leaf):
            return list(e.view.shape) if e.view is not None else []
        shapes = [self.shape_of(o) for o in e.operands] + [self.shape_of(s) for s in e.shaped]
        out: list[ir.Value] = []
        for i, s in enumerate(shapes):
            out = s if i == 0 else self.broadcast(out, s, e.node)
        return out

    # -- loops --------------------------------------------------------------------------------
    def loop(self, e: Expr | Leaf, shape: Sequence[ir.Value], sink: Sink) -> ir.Value | None:
        """Evaluate `e` at every index of `shape` into `sink`; a total's value, else None."""
        leaves = [x for x in _leaves(e) if x.view is not None]
        b = self.b
        acc = None
        if sink.how == "total":
            acc = self.f.alloca(ELEMENT["f64"] if e_kind(e) == "f64" else I64)
            b.store(self.identity(sink.op, e_kind(e)), acc)
        if sink.how in ("store", "total") and shape:
            contiguous = self._contiguous(leaves, shape, sink)
            with b.if_else(contiguous) as (flat, strided):
                with flat:
                    self._flat(e, leaves, shape, sink, acc)
                with strided:
                    self._strided(e, leaves, shape, sink, acc)
        else:
            self._strided(e, leaves, shape, sink, acc)
        return b.load(acc, typ=acc.allocated_type) if acc is not None else None

    def identity(self, op: str, kind: str) -> ir.Constant:
        if kind == "f64":
            return ir.Constant(F64, {"add": 0.0, "max": float("-inf"), "min": float("inf")}[op])
        return ir.Constant(I64, {"add": 0, "max": -(2**63), "min": 2**63 - 1}[op])

    def _contiguous(self, leaves: list[Leaf], shape: Sequence[ir.Value], sink: Sink) -> ir.Value:
        """Whether every operand, and the array stored into, is C-contiguous of `shape`."""
        b = self.b
        ok: ir.Value = ir.Constant(I1, 1)
        views = [leaf.view for leaf in leaves] + ([sink.out] if sink.out is not None else [])
        for v in views:
            assert v is not None
            if v.ndim != len(shape):
                return ir.Constant(I1, 0)
            for have, want, s, c in zip(v.shape, shape, v.strides, self.c_strides(v.dtype, v.shape), strict=True):
                ok = b.and_(ok, b.and_(b.icmp_signed("==", have, want), b.icmp_signed("==", s, c)))
        return ok

    def _flat(self, e: Expr | Leaf, leaves: list[Leaf], shape: Sequence[ir.Value], sink: Sink, acc: ir.Value | None) -> None:
        """One unit-stride loop over the elements (every operand C-contiguous, of `shape`)."""
        b = self.b
        kind = e_kind(e)

        def element(i: ir.Value) -> None:
            values = {}
            for leaf in leaves:
                v = leaf.view
                assert v is not None
                values[id(leaf)] = self.load(b.gep(v.data, [i], source_etype=ELEMENT[v.dtype]), v.dtype)
            x = self.evaluate(e, values)
            if acc is not None:
                x = self.el.ops.convert(x, kind, "f64" if kind == "f64" else "i64")
                b.store(self.combine(sink.op, b.load(acc, typ=acc.allocated_type), x, kind), acc)
            else:
                assert sink.out is not None
                out = sink.out
                self.store(self.el.ops.convert(x, kind, out.dtype), b.gep(out.data, [i], source_etype=ELEMENT[out.dtype]), out.dtype)

        self.count(self.size(shape), element)

    def count(self, n: ir.Value, each: Callable[[ir.Value], None]) -> None:
        """`each(i)` for i in range(n): one counted loop (nothing when n <= 0)."""
        b = self.b
        pre = b.block
        loop = b.append_basic_block("loop")
        done = b.append_basic_block("loop_done")
        b.cbranch(b.icmp_signed(">", n, ir.Constant(I64, 0)), loop, done)
        b.position_at_end(loop)
        i = b.phi(I64)
        i.add_incoming(ir.Constant(I64, 0), pre)
        each(i)
        nxt = b.add(i, ir.Constant(I64, 1))
        i.add_incoming(nxt, b.block)
        b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
        b.position_at_end(done)

    def combine(self, op: str, a: ir.Value, x: ir.Value, kind: str) -> ir.Value:
        b = self.b
        if kind == "f64":
            if op == "add":
                return b.fadd(a, x, flags=("reassoc",))
            return self.el.floats("np_maximum" if op == "max" else "np_minimum", [x, a])
        if op == "add":
            return b.add(a, x)
        if kind == "bool":  # (i1 compares signed: True is -1)
            return b.or_(a, x) if op == "max" else b.and_(a, x)
        return b.select(b.icmp_signed(">" if op == "max" else "<", x, a), x, a)

    def _strided(self, e: Expr | Leaf, leaves: list[Leaf], shape: Sequence[ir.Value], sink: Sink, acc: ir.Value | None) -> None:
        """A loop nest over `shape`, each operand read through its broadcast strides."""
        b = self.b
        n = len(shape)
        zero = ir.Constant(I64, 0)
        pointers: list[tuple[ir.Value, list[ir.Value]]] = []
        for leaf in leaves:
            v = leaf.view
            assert v is not None
            strides = []
            for d in range(n):
                a = d - (n - v.ndim)
                if a < 0:
                    strides.append(zero)
                else:
                    one = b.icmp_signed("==", v.shape[a], ir.Constant(I64, 1))
                    strides.append(b.select(one, zero, v.strides[a]))
            pointers.append((v.data, strides))
        if sink.out is not None:
            out = sink.out
            strides = []
            for d in range(n):
                a = d - (n - out.ndim)
                if a < 0:
                    strides.append(zero)
                    continue
                s = out.strides[a]
                if sink.keep is not None:
                    s = b.select(sink.keep[d], s, zero)
                strides.append(s)
            pointers.append((out.data, strides))
        kind = e_kind(e)

        def body(ptrs: list[ir.Value]) -> None:
            values = {id(leaf): self.load(p, leaf.view.dtype) for leaf, p in zip(leaves, ptrs, strict=False) if leaf.view}
            x = self.evaluate(e, values)
            if sink.how == "total":
                assert acc is not None
                k = "f64" if kind == "f64" else "i64"
                b.store(self.combine(sink.op, b.load(acc, typ=acc.allocated_type), self.el.ops.convert(x, kind, k), kind), acc)
                return
            assert sink.out is not None
            target = ptrs[-1]
            x = self.el.ops.convert(x, kind, sink.out.dtype)
            if sink.how == "reduce_into":
                x = self.combine(sink.op, self.load(target, sink.out.dtype), x, sink.out.dtype)
            self.store(x, target, sink.out.dtype)

        units = [ITEMSIZE[leaf.view.dtype] for leaf in leaves if leaf.view is not None]
        if sink.out is not None:
            units.append(ITEMSIZE[sink.out.dtype])
        self.nest(list(shape), pointers, body, units if len(units) == len(pointers) else None)

    def nest(
        self,
        shape: list[ir.Value],
        pointers: list[tuple[ir.Value, list[ir.Value]]],
        body: Body,
        units: list[int] | None = None,
    ) -> None:
        """Loops over `shape` (outermost first); `body` gets each pointer at the index.

        With `units` (each pointer's item size), the innermost loop has a second
        version, taken when every pointer steps by its item size along it (rows of
        C-ordered arrays, a bias broadcast along them): it indexes the items, a loop
        LLVM vectorizes."""
        b = self.b
        if not shape:
            body([p for p, _ in pointers])
            return
        if len(shape) == 1 and units is not None:
            unit: ir.Value = ir.Constant(I1, 1)
            for (_, strides), size in zip(pointers, units, strict=True):
                unit = b.and_(unit, b.icmp_signed("==", strides[0], ir.Constant(I64, size)))
            with b.if_else(unit) as (items, strided):
                with items:
                    self._row(shape[0], pointers, units, body)
                with strided:
                    self.nest(shape, pointers, body)
            return

        def step(i: ir.Value) -> None:
            inner = [(self.at(p, b.mul(i, strides[0])), strides[1:]) for p, strides in pointers]
            self.nest(shape[1:], inner, body, units)

        self.count(shape[0], step)

    def _row(self, n: ir.Value, pointers: list[tuple[ir.Value, list[ir.Value]]], units: list[int], body: Body) -> None:
        """One loop over `n` items from each pointer (unit steps), by index."""
        b = self.b
        self.count(n, lambda j: body([b.gep(p, [j], source_etype=ir.IntType(8 * size)) for (p, _), size in zip(pointers, units, strict=True)]))

    def evaluate(self, e: Expr | Leaf, values: dict[int, ir.Value]) -> ir.Value:
        """The element of `e` at the loop's index (`values`: the array leaves' elements)."""
        if isinstance(e, Leaf):
            if e.view is not None:
                return values[id(e)]
            return e.value
        if e.prim == "const":
            return _constant(e.kind, e.constant)
        args = [self.evaluate(o, values) for o in e.operands]
        kinds = [e_kind(o) for o in e.operands]
        if e.prim == "identity":
            return self.el.ops.convert(args[0], kinds[0], e.kind)
        if e.prim == "integer_pow" and e.kind == "f64" and isinstance(e.constant, int):
            x = self.el.ops.to_f64(args[0], kinds[0])
            quick = small_power(self.b, x, e.constant)
            if quick is not None:
                return quick
        return self.el.emit(e.prim, args, kinds, e.kind)

    # -- reductions ------------------------------------------------------------------------
    def reduce(self, e: Expr | Leaf, op: str, axes: Sequence[int] | None, node: Apply, mean: bool) -> tuple[ir.Value, AbstractType]:
        """np.sum/np.mean/np.max/np.min of `e` over `axes` (None: all): the value and its type."""
        b = self.b
        shape = self.shape_of(e)
        kind = e_kind(e)
        n = len(shape)
        if axes is not None and len(set(axes)) == n:
            axes = None  # every axis: a scalar, as over all
        out_kind = "f64" if (mean or kind == "f64") else "i64"
        if op in ("max", "min"):
            reduced = shape if axes is None else [shape[a] for a in axes]
            empty = b.icmp_signed("==", self.size(reduced), ir.Constant(I64, 0)) if reduced else ir.Constant(I1, 0)
            self.f.ops.raise_if(empty, _empty_reduction(op))
            out_kind = kind if kind != "bool" else "bool"
        if axes is None:
            total = self.loop(e, shape, Sink("total", op=op))
            assert total is not None
            k = "f64" if kind == "f64" else "i64"
            if mean:
                total = b.fdiv(self.el.ops.to_f64(total, k), self.el.ops.to_f64(self.size(shape), "i64"))
                return total, Scalar("f64")
            if out_kind == "bool":
                total = b.trunc(total, I1)
            return total, Scalar(out_kind)
        keep_dims = [shape[d] for d in range(n) if d not in axes]
        dtype = "f64" if out_kind == "f64" else out_kind
        out = self.fill(dtype, keep_dims, 0 if op == "add" else _identity_value(op, dtype))
        kept = iter(out.strides)
        strides = [ir.Constant(I64, 0) if d in axes else next(kept) for d in range(n)]
        full = View(out.dtype, out.mem, out.data, list(shape), strides)
        keep = [ir.Constant(I1, int(d not in axes)) for d in range(n)]
        self.loop(e, shape, Sink("reduce_into", op=op, out=full, keep=keep))
        if mean:
            count = self.el.ops.to_f64(self.size([shape[a] for a in axes]), "i64")
            e_mean = Expr("truediv", "f64", [self.leaf_of(out), Leaf(count, Scalar("f64"))])
            self.loop(e_mean, out.shape, Sink("store", out=out))
        return self.pack(out), ArrayType(out.dtype, len(keep_dims))

    def sum_to_shape(self, d: View | ir.Value, d_type: AbstractType, like: list[ir.Value]) -> View:
        """`d` summed over the axes broadcasting to `like`'s shape added (`sens_like`), as a
        new float array of `like`'s shape."""
        b = self.b
        leaf = self.leaf_of(d) if isinstance(d, View) else Leaf(d, d_type)
        shape = self.broadcast(leaf.view.shape if leaf.view else [], like, None)
        out = self.fill("f64", like, 0.0)
        n = len(shape)
        m = len(like)
        keep = []
        strides = []
        for k in range(n):
            a = k - (n - m)
            if a < 0:
                keep.append(ir.Constant(I1, 0))
                strides.append(ir.Constant(I64, 0))
            else:
                keep.append(b.icmp_signed("!=", like[a], ir.Constant(I64, 1)))
                strides.append(out.strides[a])
        full = View("f64", out.mem, out.data, shape, strides)
        self.loop(leaf, shape, Sink("reduce_into", op="add", out=full, keep=keep))
        return out

    # -- matrix products ---------------------------------------------------------------------
def _leaves(e: Expr | Leaf) -> list[Leaf]:
    if isinstance(e, Leaf):
        return [e]
    out: list[Leaf] = []
    for o in e.operands:
        out.extend(x for x in _leaves(o) if all(x is not y for y in out))
    return out


def e_kind(e: Expr | Leaf) -> str:
    if isinstance(e, Expr):
        return e.kind
    t = e.type
    if isinstance(t, ArrayType):
        return t.dtype
    assert isinstance(t, Scalar)
    return t.kind


def _constant(kind: str, value: float | int | None) -> ir.Constant:
    assert value is not None
    if kind == "f64":
        return ir.Constant(F64, float(value))
    if kind == "bool":
        return ir.Constant(I1, int(bool(value)))
    return ir.Constant(I64, int(value))


def _identity_value(op: str, dtype: str) -> float | int:
    if dtype == "f64":
        return {"max": float("-inf"), "min": float("inf")}[op]
    if dtype == "bool":
        return {"max": 0, "min": 1}[op]
    return {"max": -(2**63), "min": 2**63 - 1}[op]


def _empty_reduction(op: str) -> tuple[type[BaseException], str]:
    name = {"max": "maximum", "min": "minimum"}[op]
    return ValueError, f"zero-size array to reduction operation {name} which has no identity"


def holds_array(t: AbstractType) -> bool:
    """Whether values of `t` hold arrays (whose references a frame must count)."""
    if isinstance(t, TupleType):
        return any(holds_array(e) for e in t.elements)
    return isinstance(t, ArrayType)


__all__ = ["ArrayOps", "Expr", "Leaf", "Sink", "View", "array_ltype", "e_kind", "holds_array"]
