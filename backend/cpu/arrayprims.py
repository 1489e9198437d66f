"""The array primitives of an instance, lowered with `arrays.ArrayOps`.

`ArrayPrimitives(f).lower(blk, node, p, out)` emits the application `node`
of array primitive `p` (result type `out`) in block `blk` of
`FunctionLowering` `f` and returns a new reference to its value (a view
shares its base's block and takes a reference to it). Elementwise nodes
become one loop per unfused node (`fusion.Plan`); reductions over all axes
consume their fused operand in the same loop. Matrix products of float
matrices and vectors call BLAS; other ranks and int products are not native
yet (`TypeInferenceError`, so the dispatcher runs them on the interpreter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from tapeless.backend.cpu import numpy_api
from tapeless.backend.cpu.arrays import ITEMSIZE, PTR, ArrayOps, Expr, Leaf, Sink, View
from tapeless.backend.cpu.fusion import REDUCTIONS, Plan, is_none, primitive_of
from tapeless.backend.cpu.primtypes import ELEMENTWISE
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
            x, y = self.factors(blk, node)
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
        shape = self.a.shape_of(e)
        out = self.a.new(e.kind, shape)
        self.a.loop(e, shape, Sink("store", out=out))
        return self.a.pack(out)

    def called(self, blk: _Block, node: Apply, p: Primitive, out: ArrayType) -> ir.Value:
        """`f(args)` where `f` is elementwise primitive `p` as a function value: one loop."""
        e = Expr(p.name, out.dtype, [self.leaf(blk, x) for x in node.inputs[1:]], node)
        shape = self.a.shape_of(e)
        result = self.a.new(out.dtype, shape)
        self.a.loop(e, shape, Sink("store", out=result))
        return self.a.pack(result)

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

    # -- accumulations (fusion.Plan.accumulations) ----------------------------------------
    def accumulate(self, blk: _Block, node: Apply, dies: bool) -> ir.Value:
        """`a + p` for the accumulation `node`: where this is `a`'s last read (`dies`), its
        block has one reference and it is a C-contiguous matrix of the product's shape,
        BLAS adds the product into it and the sum is `a` itself; else the product is made
        and added as any sum is."""
        at, product = self.plan(blk).accumulations[node]
        a = node.inputs[at]
        if not dies:
            return self.sum_of_product(blk, node, a, product)
        b = self.b
        x, y = self.factors(blk, product)
        av = self.view(blk, a)
        eight = ir.Constant(I64, 8)
        unique = self.f.alloca(I1)
        b.store(ir.Constant(I1, 0), unique)
        with b.if_then(b.icmp_unsigned("!=", av.mem, ir.Constant(PTR, None))):
            b.store(b.icmp_signed("==", b.load(av.mem, typ=I64), ir.Constant(I64, 1)), unique)
        m, n = x.shape[0], y.shape[1]
        fits = b.and_(b.icmp_signed("==", av.shape[0], m), b.icmp_signed("==", av.shape[1], n))
        fits = b.and_(fits, b.icmp_signed("==", av.strides[1], eight))
        fits = b.and_(fits, b.icmp_signed("==", av.strides[0], b.mul(n, eight)))
        slot = self.f.alloca(ltype(self.type(blk, node)))
        with b.if_else(b.and_(b.load(unique, typ=I1), fits)) as (in_place, otherwise):
            with in_place:
                self.a.shape_check(b.icmp_signed("!=", x.shape[1], y.shape[0]), x.shape, y.shape, product, "matmul")
                self.mm.gemm_into(x, y, av.data, self.blas(product), accumulate=True)
                value = self.f.value(blk, a)
                self.a.incref(value, self.type(blk, a))
                b.store(value, slot)
            with otherwise:
                b.store(self.sum_of_product(blk, node, a, product), slot)
        return b.load(slot, typ=ltype(self.type(blk, node)))

    def factors(self, blk: _Block, product: Apply) -> tuple[View, View]:
        """The matrices whose product `product` (of `fusion.PRODUCTS`, of matrices) is."""
        p = primitive_of(product)
        assert p is not None
        if p.name == "matmul":
            return self.view(blk, product.inputs[1]), self.view(blk, product.inputs[2])
        d, x, y = (self.view(blk, v) for v in product.inputs[1:4])
        return (d, transposed(y)) if p.name == "matmul_dx" else (transposed(x), d)

    def sum_of_product(self, blk: _Block, node: Apply, a: Node, product: Apply) -> ir.Value:
        """`a + product` as written: the product made, then added in a loop."""
        p = primitive_of(product)
        assert p is not None
        made_type = self.type(blk, product)
        assert isinstance(made_type, ArrayType)
        made = self.lower(blk, product, p, made_type)
        e = Expr("add", "f64", [self.leaf(blk, a), Leaf(made, made_type, self.a.view(made, made_type))], node)
        shape = self.a.shape_of(e)
        out = self.a.new("f64", shape)
        self.a.loop(e, shape, Sink("store", out=out))
        self.a.decref(made, made_type)
        return self.a.pack(out)

    # -- the rest -------------------------------------------------------------------------
    def lower(self, blk: _Block, node: Apply, p: Primitive, out: AbstractType) -> ir.Value:
        if node in self.plan(blk).elements:
            return self.elementwise(blk, node)
        name = p.name
        if name in ELEMENTWISE and isinstance(out, ArrayType):
            return self.called(blk, node, p, out)  # a primitive called through a function value
        if name in ELEMENTWISE and isinstance(out, Scalar):
            return self.element(blk, node, p, out)
        method = getattr(self, f"_{name}", None)
        if name in REDUCTIONS:
            return self.reduction(blk, node, REDUCTIONS[name], name == "np_mean")
        if method is None:
            raise _refused(node, f"{name} on these arrays")
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
            leaf = self.leaf(blk, d)
            return self.a.pack(self.a.sum_to_shape(leaf.view or leaf.value, dt, like_shape))
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
                b.store(self.a.pack(self.a.sum_to_shape(dv, dt, like_shape)), slot)
        return b.load(slot, typ=ltype(out))

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
        e = Expr("identity", "f64", [leaf], node, [self.shaped(blk, like)])
        shape = self.a.shape_of(e)
        result = self.a.new("f64", shape)
        self.a.loop(e, shape, Sink("store", out=result))
        return self.a.pack(result)

    # -- matrix products ------------------------------------------------------------------
    def _matmul(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        x, y = (self.view(blk, n) for n in node.inputs[1:3])
        return self.product(node, x, y)

    def _np_dot(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        """np.dot: a product by a scalar, or @ for ranks up to 2 (higher ranks contract
        differently from @ and are not native yet)."""
        x, y = (self.leaf(blk, n) for n in node.inputs[1:3])
        if x.view is None or y.view is None:
            assert isinstance(out, ArrayType)
            e = Expr("mul", out.dtype, [x, y], node)
            shape = self.a.shape_of(e)
            result = self.a.new(out.dtype, shape)
            self.a.loop(e, shape, Sink("store", out=result))
            return self.a.pack(result)
        if x.view.ndim > 2 or y.view.ndim > 2:
            raise _refused(node, "np.dot of arrays of rank above 2")
        return self.product(node, x.view, y.view)

    def _np_outer(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        x, y = (self.view(blk, n) for n in node.inputs[1:3])
        if x.ndim != 1 or y.ndim != 1:
            raise _refused(node, "np.outer of arrays that are not vectors")
        return self.a.pack(self.gemm(node, column(x), row(y)))

    def _dot_dx(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        self.dot_ranks(blk, node)
        return self._matmul_dx(blk, node, out)

    def _dot_dy(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        self.dot_ranks(blk, node)
        return self._matmul_dy(blk, node, out)

    def dot_ranks(self, blk: _Block, node: Apply) -> None:
        """np.dot's sensitivities are @'s where it is @ (arrays of rank 1 or 2)."""
        for x in node.inputs[2:4]:
            t = self.type(blk, x)
            if not isinstance(t, ArrayType) or t.ndim > 2:
                raise _refused(node, "the sensitivity of np.dot of a scalar or of rank above 2")

    def sens_operands(self, blk: _Block, node: Apply) -> tuple[Leaf, Leaf, Leaf, View, View]:
        """d, x and y of `matmul_dx/dy(d, x, y)`, and the views of x and y (float arrays)."""
        d, x, y = (self.leaf(blk, n) for n in node.inputs[1:4])
        if any(v.view is not None and v.view.dtype != "f64" for v in (d, x, y)):
            raise _refused(node, "the sensitivity of @ of int arrays")
        assert x.view is not None and y.view is not None
        return d, x, y, x.view, y.view

    def _matmul_dx(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        d, _, y, xv, yv = self.sens_operands(blk, node)
        if xv.ndim > 2 or yv.ndim > 2:
            return self.a.pack(self.batched_sens(node, d, xv, yv, 0))
        if xv.ndim == 2 and yv.ndim == 2:
            return self.a.pack(self.gemm(node, self.matrix(d), transposed(yv)))
        if xv.ndim == 2 and yv.ndim == 1:
            return self.a.pack(self.gemm(node, column(self.vector(d)), row(yv)))
        if xv.ndim == 1 and yv.ndim == 2:
            return self.a.pack(flat(self.gemm(node, yv, column(self.vector(d)))))
        return self.scaled(d, y)

    def _matmul_dy(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        d, x, _, xv, yv = self.sens_operands(blk, node)
        if xv.ndim > 2 or yv.ndim > 2:
            return self.a.pack(self.batched_sens(node, d, xv, yv, 1))
        if xv.ndim == 2 and yv.ndim == 2:
            return self.a.pack(self.gemm(node, transposed(xv), self.matrix(d)))
        if xv.ndim == 2 and yv.ndim == 1:
            return self.a.pack(flat(self.gemm(node, transposed(xv), column(self.vector(d)))))
        if xv.ndim == 1 and yv.ndim == 2:
            return self.a.pack(self.gemm(node, column(xv), row(self.vector(d))))
        return self.scaled(d, x)

    def matrix(self, leaf: Leaf) -> View:
        assert leaf.view is not None and leaf.view.ndim == 2
        return leaf.view

    def vector(self, leaf: Leaf) -> View:
        assert leaf.view is not None and leaf.view.ndim == 1
        return leaf.view

    def scaled(self, d: Leaf, v: Leaf) -> ir.Value:
        """d * v for a scalar d and a vector v (the sensitivities of a dot of vectors)."""
        assert v.view is not None
        e = Expr("mul", "f64", [d, v])
        out = self.a.new("f64", v.view.shape)
        self.a.loop(e, v.view.shape, Sink("store", out=out))
        return self.a.pack(out)

    def product(self, node: Apply, x: View, y: View) -> ir.Value:
        if x.dtype != "f64" and y.dtype != "f64":
            return self.int_product(node, x, y)
        if x.dtype == "f64" and y.dtype == "f64":
            return self.float_product(node, x, y)
        xf, yf = self.floats(x), self.floats(y)
        value = self.float_product(node, xf, yf)
        for v, given in ((xf, x), (yf, y)):
            if v is not given:
                self.a.decref_mem(v.mem)
        return value

    def floats(self, v: View) -> View:
        return v if v.dtype == "f64" else self.as_floats(v)

    def float_product(self, node: Apply, x: View, y: View) -> ir.Value:
        if x.ndim > 2 or y.ndim > 2:
            return self.a.pack(self.batched(node, x, y))
        if x.ndim == 1 and y.ndim == 1:
            b = self.b
            self.a.shape_check(b.icmp_signed("!=", x.shape[0], y.shape[0]), x.shape, y.shape, node, "matmul")
            total = self.a.loop(Expr("mul", "f64", [self.a.leaf_of(x), self.a.leaf_of(y)], node), x.shape, Sink("total"))
            assert total is not None
            return total
        if x.ndim == 1:
            return self.a.pack(flat(self.gemm(node, row(x), y)))
        if y.ndim == 1:
            return self.a.pack(flat(self.gemm(node, x, column(y))))
        return self.a.pack(self.gemm(node, x, y))

    def as_floats(self, v: View) -> View:
        """A float64 copy of an int or bool array (NumPy promotes a mixed @ so)."""
        out = self.a.new("f64", v.shape)
        self.a.loop(Expr("identity", "f64", [self.a.leaf_of(v)]), v.shape, Sink("store", out=out))
        return out

    def int_product(self, node: Apply, x: View, y: View) -> ir.Value:
        """x @ y of int (or int and bool) arrays, in int64, by loops."""
        if x.dtype == "bool" and y.dtype == "bool":
            raise _refused(node, "@ of two bool arrays")
        if x.ndim == 1 and y.ndim == 1:
            b = self.b
            self.a.shape_check(b.icmp_signed("!=", x.shape[0], y.shape[0]), x.shape, y.shape, node, "matmul")
            e = Expr("mul", "i64", [self.a.leaf_of(x), self.a.leaf_of(y)], node)
            total = self.a.loop(e, x.shape, Sink("total"))
            assert total is not None
            return total
        out = self.mm.stacked(row(x) if x.ndim == 1 else x, column(y) if y.ndim == 1 else y, node, "i64", self.mm.int_matmul_into)
        return self.a.pack(drop_vector_axes(out, x.ndim, y.ndim))

    def batched(self, node: Apply, x: View, y: View) -> View:
        """x @ y with a stack of matrices on either side (a vector is a matrix with an
        axis that the result then drops, as NumPy does)."""
        address = self.blas(node)
        xs = row(x) if x.ndim == 1 else x
        ys = column(y) if y.ndim == 1 else y
        return drop_vector_axes(self.mm.batched_gemm(xs, ys, node, address), x.ndim, y.ndim)

    def batched_sens(self, node: Apply, d: Leaf, x: View, y: View, which: int) -> View:
        """The sensitivity of x (`which` 0) or y (1) in x @ y for stacks: d @ y^T or x^T @ d,
        summed over the batch axes broadcasting gave the operand."""
        xs = row(x) if x.ndim == 1 else x
        ys = column(y) if y.ndim == 1 else y
        assert d.view is not None
        dv = d.view
        one, zero = ir.Constant(I64, 1), ir.Constant(I64, 0)
        shape, strides = list(dv.shape), list(dv.strides)
        if x.ndim == 1:
            shape.insert(len(shape) - (0 if y.ndim == 1 else 1), one)
            strides.insert(len(strides) - (0 if y.ndim == 1 else 1), zero)
        if y.ndim == 1:
            shape.append(one)
            strides.append(zero)
        dm = View("f64", dv.mem, dv.data, shape, strides)
        address = self.blas(node)
        if which == 0:
            g, like = self.mm.batched_gemm(dm, swapped(ys), node, address), xs
        else:
            g, like = self.mm.batched_gemm(swapped(xs), dm, node, address), ys
        total = self.a.sum_to_shape(g, g.type, like.shape)
        self.a.decref_mem(g.mem)
        operand = x if which == 0 else y
        return View("f64", total.mem, total.data, operand.shape, self.a.c_strides("f64", operand.shape))

    def blas(self, node: Apply) -> int:
        address = numpy_api.blas_function("dgemm")
        if address is None or numpy_api.blas_int_bits() != 64:
            raise _refused(node, "matrix products (no 64-bit-int BLAS found in NumPy)")
        return address

    def gemm(self, node: Apply, x: View, y: View) -> View:
        return self.mm.gemm(x, y, node, self.blas(node))

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


def drop_vector_axes(out: View, x_rank: int, y_rank: int) -> View:
    """A product of stacks without the axes a vector operand was given (as NumPy drops them)."""
    n = out.ndim
    keep = [k for k in range(n) if not (x_rank == 1 and k == n - 2) and not (y_rank == 1 and k == n - 1)]
    return View(out.dtype, out.mem, out.data, [out.shape[k] for k in keep], [out.strides[k] for k in keep])


def column(v: View) -> View:
    """A vector as an (n, 1) matrix."""
    return View(v.dtype, v.mem, v.data, [v.shape[0], ir.Constant(I64, 1)], [v.strides[0], ir.Constant(I64, ITEMSIZE[v.dtype])])


def row(v: View) -> View:
    """A vector as a (1, n) matrix."""
    first = v.strides[0]
    return View(v.dtype, v.mem, v.data, [ir.Constant(I64, 1), v.shape[0]], [first, first])


def swapped(v: View) -> View:
    """A stack of matrices with each transposed."""
    return View(v.dtype, v.mem, v.data, [*v.shape[:-2], v.shape[-1], v.shape[-2]], [*v.strides[:-2], v.strides[-1], v.strides[-2]])


def transposed(v: View) -> View:
    return View(v.dtype, v.mem, v.data, v.shape[::-1], v.strides[::-1])


def flat(v: View) -> View:
    """An (n, 1) or (1, n) product as a vector (the product is C-contiguous)."""
    n = v.shape[0] if isinstance(v.shape[1], ir.Constant) and v.shape[1].constant == 1 else v.shape[1]
    return View(v.dtype, v.mem, v.data, [n], [ir.Constant(I64, ITEMSIZE[v.dtype])])


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
        raise _refused(node, "an axis computed at run time")
    value = axis.value
    parts = value if isinstance(value, tuple) else (value,)
    return tuple(int(a) % ndim for a in parts)


def _refused(node: Apply, what: str) -> TypeInferenceError:
    return TypeInferenceError(
        f"{what} has no native lowering yet",
        node.loc,
        construct="native arrays",
        hint='this signature runs on the interpreter (backend="interp")',
    )


__all__ = ["ArrayPrimitives"]
