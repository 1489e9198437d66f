"""Matrix products among the array primitives, and accumulations into them.

`ProductPrimitives(p)` lowers, for `arrayprims.ArrayPrimitives` `p`, the
applications of `@` (`matmul`), `np.dot`, `np.outer` and AD's
`matmul_dx`/`matmul_dy`/`dot_dx`/`dot_dy`: float matrices, vectors and stacks
of matrices through BLAS (`products.Products`), `np.dot` above rank 2 as
matrix products (`contract.Contraction`), int products by loops, mixed ones
promoted to float64. It also lowers the accumulations `a + p` that
`fusion.Plan` finds (`accumulate`): BLAS adds the product into `a` where `a`
dies there unshared. Each method returns a new reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llvmlite import ir

from tapeless.backend.cpu import numpy_api
from tapeless.backend.cpu.arrays import ITEMSIZE, PTR, Expr, Leaf, Sink, View
from tapeless.backend.cpu.contract import Contraction
from tapeless.backend.cpu.fusion import primitive_of
from tapeless.backend.cpu.primtypes import refused
from tapeless.backend.cpu.scalars import I1, I64
from tapeless.backend.cpu.values import ltype
from tapeless.ir.nodes import Apply, Node
from tapeless.ir.types import AbstractType, ArrayType

if TYPE_CHECKING:
    from tapeless.backend.cpu.arrayprims import ArrayPrimitives
    from tapeless.backend.cpu.lower import _Block


class ProductPrimitives:
    """Matrix products lowered for `p` (see the module docstring)."""

    def __init__(self, p: ArrayPrimitives) -> None:
        self.p = p
        self.f = p.f
        self.a = p.a
        self.b = p.b
        self.mm = p.mm

    # -- accumulations (fusion.Plan.accumulations) ----------------------------------------
    def accumulate(self, blk: _Block, node: Apply, dies: bool) -> ir.Value:
        """`a + p` for the accumulation `node`: where this is `a`'s last read (`dies`), its
        block has one reference and it is a C-contiguous matrix of the product's shape,
        BLAS adds the product into it and the sum is `a` itself; else the product is made
        and added as any sum is."""
        at, product = self.p.plan(blk).accumulations[node]
        a = node.inputs[at]
        if not dies:
            return self.sum_of_product(blk, node, a, product)
        b = self.b
        x, y = self.factors(blk, product)
        av = self.p.view(blk, a)
        eight = ir.Constant(I64, 8)
        unique = self.f.alloca(I1)
        b.store(ir.Constant(I1, 0), unique)
        with b.if_then(b.icmp_unsigned("!=", av.mem, ir.Constant(PTR, None))):
            b.store(b.icmp_signed("==", b.load(av.mem, typ=I64), ir.Constant(I64, 1)), unique)
        m, n = x.shape[0], y.shape[1]
        fits = b.and_(b.icmp_signed("==", av.shape[0], m), b.icmp_signed("==", av.shape[1], n))
        fits = b.and_(fits, b.icmp_signed("==", av.strides[1], eight))
        fits = b.and_(fits, b.icmp_signed("==", av.strides[0], b.mul(n, eight)))
        slot = self.f.alloca(ltype(self.p.type(blk, node)))
        with b.if_else(b.and_(b.load(unique, typ=I1), fits)) as (in_place, otherwise):
            with in_place:
                self.a.shape_check(b.icmp_signed("!=", x.shape[1], y.shape[0]), x.shape, y.shape, product, "matmul")
                self.mm.gemm_into(x, y, av.data, self.blas(product), accumulate=True)
                value = self.f.value(blk, a)
                self.a.incref(value, self.p.type(blk, a))
                b.store(value, slot)
            with otherwise:
                b.store(self.sum_of_product(blk, node, a, product), slot)
        return b.load(slot, typ=ltype(self.p.type(blk, node)))

    def factors(self, blk: _Block, product: Apply) -> tuple[View, View]:
        """The matrices whose product `product` (of `fusion.PRODUCTS`, of matrices) is."""
        p = primitive_of(product)
        assert p is not None
        if p.name == "matmul":
            return self.p.view(blk, product.inputs[1]), self.p.view(blk, product.inputs[2])
        d, x, y = (self.p.view(blk, v) for v in product.inputs[1:4])
        return (d, transposed(y)) if p.name == "matmul_dx" else (transposed(x), d)

    def sum_of_product(self, blk: _Block, node: Apply, a: Node, product: Apply) -> ir.Value:
        """`a + product` as written: the product made, then added in a loop."""
        p = primitive_of(product)
        assert p is not None
        made_type = self.p.type(blk, product)
        assert isinstance(made_type, ArrayType)
        made = self.p.lower(blk, product, p, made_type)
        total = self.a.stored(Expr("add", "f64", [self.p.leaf(blk, a), self.a.leaf_of(self.a.view(made, made_type))], node))
        self.a.decref(made, made_type)
        return total

    # -- matrix products ------------------------------------------------------------------
    def _matmul(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        x, y = (self.p.view(blk, n) for n in node.inputs[1:3])
        return self.product(node, x, y)

    def _np_dot(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        """np.dot: a product by a scalar, @ for ranks up to 2, else the contraction of x's
        last axis (`contracted`)."""
        x, y = (self.p.leaf(blk, n) for n in node.inputs[1:3])
        if x.view is None or y.view is None:
            assert isinstance(out, ArrayType)
            return self.a.stored(Expr("mul", out.dtype, [x, y], node))
        if x.view.ndim > 2 or y.view.ndim > 2:
            return self.contracted(node, x.view, y.view)
        return self.product(node, x.view, y.view)

    def contracted(self, node: Apply, x: View, y: View) -> ir.Value:
        """np.dot(x, y) with an operand of rank above 2 (`contract.py`): int products by
        loops, float ones (a mixed pair promoted, as NumPy does) by BLAS."""
        if x.dtype != "f64" and y.dtype != "f64":
            if x.dtype == "bool" and y.dtype == "bool":
                raise refused(node, "np.dot of two bool arrays")

            def int_kernel(xm: View, ym: View, at: ir.Value, ldc: ir.Value) -> None:
                self.mm.int_matmul_into(xm, ym, at, ldc=ldc)

            return self.a.pack(Contraction(self.mm).dot(x, y, node, "i64", int_kernel))
        dgemm = self.blas(node)

        def kernel(xm: View, ym: View, at: ir.Value, ldc: ir.Value) -> None:
            self.mm.gemm_into(xm, ym, at, dgemm, ldc=ldc)

        return self.in_floats([x, y], lambda xf, yf: self.a.pack(Contraction(self.mm).dot(xf, yf, node, "f64", kernel)))

    def _np_outer(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        x, y = (self.p.view(blk, n) for n in node.inputs[1:3])
        if x.ndim != 1 or y.ndim != 1:
            raise refused(node, "np.outer of arrays that are not vectors")
        return self.a.pack(self.gemm(node, column(x), row(y)))

    def _dot_dx(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        if self.dot_ranks(blk, node):
            return self.dot_sens(blk, node, Contraction(self.mm).dot_dx)
        return self._matmul_dx(blk, node, out)

    def _dot_dy(self, blk: _Block, node: Apply, out: AbstractType) -> ir.Value:
        if self.dot_ranks(blk, node):
            return self.dot_sens(blk, node, Contraction(self.mm).dot_dy)
        return self._matmul_dy(blk, node, out)

    def dot_ranks(self, blk: _Block, node: Apply) -> bool:
        """Whether an operand of np.dot (arrays) has a rank above 2; np.dot's sensitivities
        are @'s elsewhere (arrays of rank 1 or 2)."""
        ranks = []
        for x in node.inputs[2:4]:
            t = self.p.type(blk, x)
            if not isinstance(t, ArrayType):
                raise refused(node, "the sensitivity of np.dot of a scalar")
            ranks.append(t.ndim)
        return max(ranks) > 2

    def dot_sens(self, blk: _Block, node: Apply, sens: Callable[[View, View, View, int], View]) -> ir.Value:
        """`dot_dx/dot_dy(d, x, y)` beyond rank 2 by `sens(d, x, y, dgemm)` (`contract.py`),
        int and bool operands promoted to floats."""
        views = [self.p.view(blk, n) for n in node.inputs[1:4]]
        dgemm = self.blas(node)
        return self.in_floats(views, lambda d, x, y: self.a.pack(sens(d, x, y, dgemm)))

    def in_floats(self, views: list[View], fn: Callable[..., ir.Value]) -> ir.Value:
        """`fn` of `views` with each int or bool one as a float64 copy (freed after)."""
        floats = [self.floats(v) for v in views]
        value = fn(*floats)
        for v, given in zip(floats, views, strict=True):
            if v is not given:
                self.a.decref_mem(v.mem)
        return value

    def sens_operands(self, blk: _Block, node: Apply) -> tuple[Leaf, Leaf, Leaf, View, View]:
        """d, x and y of `matmul_dx/dy(d, x, y)`, and the views of x and y (float arrays)."""
        d, x, y = (self.p.leaf(blk, n) for n in node.inputs[1:4])
        if any(v.view is not None and v.view.dtype != "f64" for v in (d, x, y)):
            raise refused(node, "the sensitivity of @ of int arrays")
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
        return self.a.stored(Expr("mul", "f64", [d, v]))

    def product(self, node: Apply, x: View, y: View) -> ir.Value:
        if x.dtype != "f64" and y.dtype != "f64":
            return self.int_product(node, x, y)
        return self.in_floats([x, y], lambda xf, yf: self.float_product(node, xf, yf))

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
            raise refused(node, "@ of two bool arrays")
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
        total = self.a.view(self.p.summed(self.a.pack(g), g.type, like.shape), ArrayType("f64", like.ndim))
        self.a.decref_mem(g.mem)
        operand = x if which == 0 else y
        return View("f64", total.mem, total.data, operand.shape, self.a.c_strides("f64", operand.shape))

    def blas(self, node: Apply) -> int:
        address = numpy_api.blas_function("dgemm")
        if address is None or numpy_api.blas_int_bits() != 64:
            raise refused(node, "matrix products (no 64-bit-int BLAS found in NumPy)")
        return address

    def gemm(self, node: Apply, x: View, y: View) -> View:
        return self.mm.gemm(x, y, node, self.blas(node))


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


__all__ = ["ProductPrimitives", "column", "drop_vector_axes", "flat", "row", "swapped", "transposed"]
