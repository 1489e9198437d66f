"""The array primitives of an instance, lowered with `arrays.ArrayOps`.

`ArrayPrimitives(f).lower(blk, node, p, out)` emits the application `node`
of array primitive `p` (result type `out`) in block `blk` of
`FunctionLowering` `f` and returns a new reference to its value (a view
shares its base's block and takes a reference to it). Elementwise nodes
become one loop per unfused node (`fusion.Plan`); reductions over all axes
consume their fused operand in the same loop. Matrix products and the
accumulations into them are `productprims.ProductPrimitives`'s. What native
code does not lower raises `primtypes.refused` (a `TypeInferenceError`, so the
dispatcher runs the signature on the interpreter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from tapeless.backend.cpu.arrays import PTR, ArrayOps, Expr, Leaf, Sink, View
from tapeless.backend.cpu.fusion import REDUCTIONS, Plan, is_none, primitive_of
from tapeless.backend.cpu.primtypes import ELEMENTWISE, refused
from tapeless.backend.cpu.productprims import ProductPrimitives
from tapeless.backend.cpu.products import Products
from tapeless.backend.cpu.scalars import I1, I64
from tapeless.backend.cpu.values import ltype
from tapeless.errors import TypeInferenceError
from tapeless.ir.nodes import Apply, Constant, Node
from tapeless.ir.primitives import Primitive
from tapeless.ir.types import AbstractType, ArrayType, Scalar, SliceType, TupleType

if TYPE_CHECKING:
    from tapeless.backend.cpu.lower import FunctionLowering, _Block

BAD_RESHAPE = (ValueError, "cannot reshape an array into a shape of a different size")
BAD_INDEX = (IndexError, "index out of bounds for an array axis")
ZERO_STEP = (ValueError, "slice step cannot be zero")
NEGATIVE_DIMENSION = (ValueError, "negative dimensions are not allowed")


class ArrayPrimitives:
    """Array primitives lowered in `f` (see the module docstring)."""

    def __init__(self, f: FunctionLowering) -> None:
        self.f = f
        self.b = f.b
        self.a = ArrayOps(f)
        self.mm = Products(self.a)
        self.products = ProductPrimitives(self)

    def plan(self, blk: _Block) -> Plan:
        assert blk.plan is not None
        return blk.plan

    def type(self, blk: _Block, node: Node) -> AbstractType:
        return self.f.type(blk, node)

    def leaf(self, blk: _Block, node: Node) -> Leaf:
        t = self.type(blk, node)
        value = self.f.value(blk, node)
        return Leaf(value, t, self.a.view(value, t) if isinstance(t, ArrayType) else None)

    def operand(self, blk: _Block, node: Node) -> Expr | Leaf:
        if isinstance(node, Apply) and node in self.plan(blk).fused:
            return self.expr(blk, node)
        return self.leaf(blk, node)

    def shape(self, blk: _Block, node: Node) -> list[ir.Value]:
        """The shape of array `node` (of a fused or deferred one: from its operands',
        nothing computed)."""
        if isinstance(node, Apply) and node in self.plan(blk).fused:
            return self.a.shape_of(self.expr(blk, node))
        if isinstance(node, Apply) and node in self.plan(blk).deferred:
            x, y = self.products.factors(blk, node)
            return [x.shape[0], y.shape[1]]
        return self.view(blk, node).shape

    def shape_only(self, blk: _Block, node: Node) -> ir.Value:
        """Array `node` as a closure captures it for its shape only: no block, no data."""
        t = self.type(blk, node)
        assert isinstance(t, ArrayType)
        shape = self.shape(blk, node)
        null = ir.Constant(PTR, None)
        return self.a.pack(View(t.dtype, null, null, shape, self.a.c_strides(t.dtype, shape)))

    def shaped(self, blk: _Block, node: Node) -> Leaf:
        """`node` as an operand that gives its shape only."""
        t = self.type(blk, node)
        assert isinstance(t, ArrayType)
        null = ir.Constant(PTR, None)
        return Leaf(null, t, View(t.dtype, null, null, self.shape(blk, node), []))

    def view(self, blk: _Block, node: Node) -> View:
        leaf = self.leaf(blk, node)
        assert leaf.view is not None
        return leaf.view

    # -- elementwise --------------------------------------------------------------------
    def expr(self, blk: _Block, node: Apply) -> Expr:
        """The fused expression computing `node`'s elements."""
        plan = self.plan(blk)
        element = plan.elements[node]
        t = self.type(blk, node)
        assert isinstance(t, ArrayType)
        args = node.inputs
        if element in ("zeros_like", "np_zeros_like", "np_ones_like"):
            value = 1 if element == "np_ones_like" else 0
            return Expr("const", t.dtype, [], node, [self.shaped(blk, args[1])], constant=value)
        operands = [self.operand(blk, args[i]) for i in plan.value_operands(node)]
        if element == "unreduce":
            return Expr("identity", "f64", operands, node, [self.shaped(blk, args[2])])
        e = Expr(element, t.dtype, operands, node)
        if element == "integer_pow" and isinstance(args[2], Constant):
            e.constant = int(args[2].value)
        return e

    def elementwise(self, blk: _Block, node: Apply) -> ir.Value:
        e = self.expr(blk, node)
        if e.prim == "identity" and not e.shaped and isinstance(e.operands[0], Leaf):
            value = e.operands[0].value  # sens_like of an array of the same shape: itself
            self.a.incref(value, e.operands[0].type)
            return value
        return self.a.stored(e)

    def called(self, blk: _Block, node: Apply, p: Primitive, out: ArrayType) -> ir.Value:
        """`f(args)` where `f` is elementwise primitive `p` as a function value: one loop."""
        return self.a.stored(Expr(p.name, out.dtype, [self.leaf(blk, x) for x in node.inputs[1:]], node))

    def element(self, blk: _Block, node: Apply, p: Primitive, out: Scalar) -> ir.Value:
        """An elementwise NumPy function of scalars and rank-0 arrays: one element."""
        values, kinds = [], []
        for x in node.inputs[1:]:
            leaf = self.leaf(blk, x)
            if leaf.view is not None:
                values.append(self.a.load(leaf.view.data, leaf.view.dtype))
                kinds.append(leaf.view.dtype)
            else:
                assert isinstance(leaf.type, Scalar)
                values.append(leaf.value)
                kinds.append(leaf.type.kind)
        return self.a.el.emit(p.name, values, kinds, out.kind)

    # -- the rest -------------------------------------------------------------------------
    def lower(self, blk: _Block, node: Apply, p: Primitive, out: AbstractType) -> ir.Value:
        if node in self.plan(blk).elements:
            return self.elementwise(blk, node)
        name = p.name
        if name in ELEMENTWISE and isinstance(out, ArrayType):
            return self.called(blk, node, p, out)  # a primitive called through a function value
        if name in ELEMENTWISE and isinstance(out, Scalar):
            return self.element(blk, node, p, out)
        method = getattr(self, f"_{name}", None) or getattr(self.products, f"_{name}", None)
        if name in REDUCTIONS:
            return self.reduction(blk, node, REDUCTIONS[name], name == "np_mean")
        if method is None:
            raise refused(node, f"{name} on these arrays")
        value: ir.Value = method(blk, node, out)
        return value

    def reduction(self, blk: _Block, node: Apply, op: str, mean: bool) -> ir.Value:
        x, axis = node.inputs[1], node.inputs[2]
        t = self.type(blk, x)
        if not isinstance(t, ArrayType):
            value = self.f.value(blk, x)
            return self.f.ops.to_f64(value, t.kind) if mean and isinstance(t, Scalar) else value
        axes = None if is_none(axis) else _axes(node, axis, t.ndim)
        value, _ = self.a.reduce(self.operand(blk, x), op, axes, node, mean)
        return value

    def _sens_like(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        d, like = node.inputs[1], node.inputs[2]
        dt, lt = self.type(blk, d), self.type(blk, like)
        if not isinstance(lt, ArrayType):
            value, _ = self.a.reduce(self.leaf(blk, d), "add", None, node, False)
            return self.f.ops.to_f64(value, "f64")
        like_shape = self.shape(blk, like)
        if not isinstance(dt, ArrayType) or dt.ndim != lt.ndim:
            if isinstance(dt, ArrayType):
                return self.summed(self.f.value(blk, d), dt, like_shape)
            return self.a.pack(self.a.sum_to_shape(self.f.value(blk, d), dt, like_shape))
        dv = self.view(blk, d)
        b = self.b
        same: ir.Value = ir.Constant(I1, int(dt.dtype == "f64"))
        for x, y in zip(dv.shape, like_shape, strict=True):
            same = b.and_(same, b.icmp_signed("==", x, y))
        slot = self.f.alloca(ltype(out))
        with b.if_else(same) as (alias, reduce):
            with alias:
                self.a.incref(self.f.value(blk, d), dt)
                b.store(self.f.value(blk, d), slot)
            with reduce:
                b.store(self.summed(self.f.value(blk, d), dt, like_shape), slot)
        return b.load(slot, typ=ltype(out))

    def summed(self, d: ir.Value, dt: ArrayType, like: list[ir.Value]) -> ir.Value:
        """`ArrayOps.sum_to_shape` of array `d` to the shape `like`, by the module's function
        for these types (`ModuleLowering.sum_to_shape`): a new array."""
        fn = self.f.m.sum_to_shape(dt, len(like))
        shape = self.f.alloca(ir.ArrayType(I64, max(len(like), 1)))
        for k, n in enumerate(like):
            self.b.store(n, self.b.gep(shape, [ir.Constant(I64, 0), ir.Constant(I64, k)]))
        out = self.f.alloca(ltype(ArrayType("f64", len(like))))
        self.f.check(self.b.call(fn, [d, shape, out]))
        return self.b.load(out, typ=ltype(ArrayType("f64", len(like))))

    def _unreduce(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        d, like, axis = node.inputs[1:]
        lt = self.type(blk, like)
        if not isinstance(lt, ArrayType):  # the sensitivity of a scalar: d itself, a float
            dt = self.type(blk, d)
            assert isinstance(dt, Scalar)
            return self.f.ops.to_f64(self.f.value(blk, d), dt.kind)
        axes = _axes(node, axis, lt.ndim)
        leaf = self.leaf(blk, d)
        if leaf.view is not None:
            v = leaf.view
            dims = iter(zip(v.shape, v.strides, strict=True))
            shape, strides = [], []
            for k in range(lt.ndim):
                n, s = (ir.Constant(I64, 1), ir.Constant(I64, 0)) if k in axes else next(dims)
                shape.append(n)
                strides.append(s)
            leaf = self.a.leaf_of(View(v.dtype, v.mem, v.data, shape, strides))
        return self.a.stored(Expr("identity", "f64", [leaf], node, [self.shaped(blk, like)]))

    # -- shapes ---------------------------------------------------------------------------
    def _transpose(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        v = self.view(blk, node.inputs[1])
        perm = static_permutation(node, node.inputs[2], v.ndim)
        self.a.incref(self.f.value(blk, node.inputs[1]), v.type)
        return self.a.pack(View(v.dtype, v.mem, v.data, [v.shape[k] for k in perm], [v.strides[k] for k in perm]))

    def _reshape(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        b = self.b
        v = self.view(blk, node.inputs[1])
        dims = self.dims(blk, node.inputs[2])
        assert isinstance(out, ArrayType)
        size = self.a.size(v.shape)
        known: ir.Value = ir.Constant(I64, 1)
        free: ir.Value = ir.Constant(I64, 0)
        minus = ir.Constant(I64, -1)
        for n in dims:
            is_free = b.icmp_signed("==", n, minus)
            free = b.add(free, b.zext(is_free, I64))
            known = b.mul(known, b.select(is_free, ir.Constant(I64, 1), n))
        safe = b.select(b.icmp_signed("==", known, ir.Constant(I64, 0)), ir.Constant(I64, 1), known)
        inferred = b.sdiv(size, safe)
        shape = [b.select(b.icmp_signed("==", n, minus), inferred, n) for n in dims]
        bad = b.icmp_signed("!=", self.a.size(shape), size)
        bad = b.or_(bad, b.icmp_unsigned(">", free, ir.Constant(I64, 1)))
        for n in shape:
            bad = b.or_(bad, b.icmp_signed("<", n, ir.Constant(I64, 0)))
        self.f.ops.raise_if(bad, BAD_RESHAPE)
        contiguous: ir.Value = ir.Constant(I1, 1)
        for s, c, n in zip(v.strides, self.a.c_strides(v.dtype, v.shape), v.shape, strict=True):
            contiguous = b.and_(contiguous, b.or_(b.icmp_signed("==", s, c), b.icmp_signed("==", n, ir.Constant(I64, 1))))
        mem_slot = self.f.alloca(PTR)
        data_slot = self.f.alloca(PTR)
        with b.if_else(contiguous) as (same, copy):
            with same:
                self.a.incref(self.f.value(blk, node.inputs[1]), v.type)
                b.store(v.mem, mem_slot)
                b.store(v.data, data_slot)
            with copy:
                c = self.a.copy(v)
                b.store(c.mem, mem_slot)
                b.store(c.data, data_slot)
        mem = b.load(mem_slot, typ=PTR)
        data = b.load(data_slot, typ=PTR)
        return self.a.pack(View(v.dtype, mem, data, shape, self.a.c_strides(v.dtype, shape)))

    def dims(self, blk: _Block, node: Node) -> list[ir.Value]:
        """The ints of a shape argument: an int or a tuple of ints."""
        t = self.type(blk, node)
        value = self.f.value(blk, node)
        if isinstance(t, TupleType):
            return [self.b.extract_value(value, i) for i in range(len(t.elements))]
        return [value]

    def _shape(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        t = self.type(blk, node.inputs[1])
        shape = self.shape(blk, node.inputs[1]) if isinstance(t, ArrayType) else []
        value: ir.Value = ir.Constant(ltype(out), None)
        for i, n in enumerate(shape):
            value = self.b.insert_value(value, n, i)
        return value

    def _inverse_axes(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        """The axes undoing a transpose: a value only `_transpose` reads (statically)."""
        if isinstance(out, TupleType):
            ndim = len(out.elements)
            perm = static_permutation(node, node.inputs[1], ndim)
            inverse = [perm.index(k) for k in range(ndim)]
            return ir.Constant(ltype(out), [ir.Constant(I64, k) for k in inverse])
        return ir.Constant(ltype(out), None)

    def _ndim(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        t = self.type(blk, node.inputs[1])
        return ir.Constant(I64, t.ndim if isinstance(t, ArrayType) else 0)

    def _size(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        t = self.type(blk, node.inputs[1])
        if not isinstance(t, ArrayType):
            return ir.Constant(I64, 1)
        return self.a.size(self.shape(blk, node.inputs[1]))

    def constructor(self, blk: _Block, node: Apply, out: AbstractType, value: ir.Value | float) -> ir.Value:
        assert isinstance(out, ArrayType)
        shape = self.dims(blk, node.inputs[1])
        b = self.b
        bad: ir.Value = ir.Constant(I1, 0)
        for n in shape:
            bad = b.or_(bad, b.icmp_signed("<", n, ir.Constant(I64, 0)))
        self.f.ops.raise_if(bad, NEGATIVE_DIMENSION)
        result = self.a.new(out.dtype, shape)
        fill = Leaf(value, Scalar(out.dtype)) if isinstance(value, ir.Value) else None
        e: Expr | Leaf = fill if fill is not None else Expr("const", out.dtype, [], constant=value)
        self.a.loop(e, shape, Sink("store", out=result))
        return self.a.pack(result)

    def _np_zeros(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        return self.constructor(blk, node, out, 0.0)

    def _np_ones(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        return self.constructor(blk, node, out, 1.0)

    def _np_full(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        assert isinstance(out, ArrayType)
        vt = self.type(blk, node.inputs[2])
        value = self.f.value(blk, node.inputs[2])
        assert isinstance(vt, Scalar)
        return self.constructor(blk, node, out, self.f.ops.convert(value, vt.kind, out.dtype))

    def getitem_sens(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        """The sensitivity of x in x[index] when that has sensitivity d: zeros of x's
        shape, d at the index."""
        v = self.view(blk, node.inputs[1])
        zeros = self.a.fill("f64", v.shape, 0.0)
        dest = self.index(node, zeros, blk, node.inputs[2])
        d = self.leaf(blk, node.inputs[3])
        if isinstance(dest, View):
            self.a.loop(d, dest.shape, Sink("store", out=dest))
        else:
            self.a.store(self.f.ops.to_f64(d.value, d.type.kind if isinstance(d.type, Scalar) else "f64"), dest, "f64")
        return self.a.pack(zeros)

    def getitem(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        """x[i] and x[i, j, ...] with ints: a view of the rest (a new reference), or an element."""
        v = self.view(blk, node.inputs[1])
        place = self.index(node, v, blk, node.inputs[2])
        if not isinstance(place, View):
            return self.a.load(place, v.dtype)
        self.a.incref(self.f.value(blk, node.inputs[1]), v.type)
        return self.a.pack(place)

    def index(self, node: Apply, v: View, blk: _Block, index_node: Node) -> View | ir.Value:
        """The view `v[index]` (sharing `v`'s block, no reference taken), or the address of
        the element when the ints index every axis; `IndexError` out of bounds."""
        b = self.b
        index_type = self.type(blk, index_node)
        index = self.f.value(blk, index_node)
        parts = (
            [b.extract_value(index, i) for i in range(len(index_type.elements))]
            if isinstance(index_type, TupleType)
            else [index]
        )
        kinds = index_type.elements if isinstance(index_type, TupleType) else (index_type,)
        if len(parts) > v.ndim:  # (the type rule refuses it first)
            raise TypeInferenceError(
                f"too many indices for an array of rank {v.ndim}", node.loc, construct="indexing"
            )
        offset: ir.Value = ir.Constant(I64, 0)
        shape: list[ir.Value] = []
        strides: list[ir.Value] = []
        for k, (i, kind) in enumerate(zip(parts, kinds, strict=True)):
            n = v.shape[k]
            if isinstance(kind, SliceType):
                start, length, step = self.slice_indices(i, n)
                offset = b.add(offset, b.mul(start, v.strides[k]))
                shape.append(length)
                strides.append(b.mul(step, v.strides[k]))
                continue
            i = self.f.ops.to_i64(i, kind.kind if isinstance(kind, Scalar) else "i64")
            i = b.select(b.icmp_signed("<", i, ir.Constant(I64, 0)), b.add(i, n), i)
            self.f.ops.raise_if(b.icmp_unsigned(">=", i, n), BAD_INDEX)
            offset = b.add(offset, b.mul(i, v.strides[k]))
        data = self.a.at(v.data, offset)
        rest = len(parts)
        if rest == v.ndim and not shape:
            return data
        return View(v.dtype, v.mem, data, shape + v.shape[rest:], strides + v.strides[rest:])

    def slice_indices(self, s: ir.Value, n: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
        """(first index, length, step) of slice `s` on an axis of length `n`, as Python's
        `slice.indices` gives them; a zero step is a `ValueError`."""
        b = self.b
        zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
        start, stop, step = (b.extract_value(s, i) for i in range(3))
        has_start, has_stop = b.extract_value(s, 3), b.extract_value(s, 4)
        self.f.ops.raise_if(b.icmp_signed("==", step, zero), ZERO_STEP)
        up = b.icmp_signed(">", step, zero)
        low = b.select(up, zero, ir.Constant(I64, -1))
        high = b.select(up, n, b.sub(n, one))

        def clamp(x: ir.Value, given: ir.Value, default: ir.Value) -> ir.Value:
            x = b.select(b.icmp_signed("<", x, zero), b.add(x, n), x)
            x = b.select(b.icmp_signed("<", x, low), low, x)
            x = b.select(b.icmp_signed(">", x, high), high, x)
            return b.select(given, x, default)

        first = clamp(start, has_start, b.select(up, zero, high))
        last = clamp(stop, has_stop, b.select(up, n, ir.Constant(I64, -1)))
        span = b.select(up, b.sub(last, first), b.sub(first, last))
        size = b.select(up, step, b.sub(zero, step))
        count = b.sdiv(b.add(span, b.sub(size, one)), size)
        return first, b.select(b.icmp_signed(">", span, zero), count, zero), step


def static_permutation(node: Apply, axes: Node, ndim: int) -> list[int]:
    """The permutation `np.transpose(x, axes)` makes of `ndim` axes, known at compile
    time: axes None (reversed), constant, or AD's `inverse_axes` of such."""
    if is_none(axes):
        return list(range(ndim))[::-1]
    p = primitive_of(axes)
    if p is not None and p.name == "inverse_axes" and isinstance(axes, Apply):
        forward = static_permutation(node, axes.inputs[1], ndim)
        return [forward.index(k) for k in range(ndim)]
    return list(_axes(node, axes, ndim))


def _axes(node: Apply, axis: Node, ndim: int) -> tuple[int, ...]:
    if not isinstance(axis, Constant):
        raise refused(node, "an axis computed at run time")
    value = axis.value
    parts = value if isinstance(value, tuple) else (value,)
    return tuple(int(a) % ndim for a in parts)


__all__ = ["ArrayPrimitives"]
