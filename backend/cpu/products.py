"""Matrix products of native arrays: BLAS for floats, loops for ints.

`Products(ops)` emits, with `arrays.ArrayOps` `ops`: `gemm` (x @ y of two float
matrices, by the `dgemm` of the OpenBLAS NumPy ships, found by
`numpy_api.blas_function`), `batched_gemm` and `stacked` (stacks of matrices
whose leading axes broadcast, one product per matrix), and
`int_matmul_into` (int64 loops, wrapping as NumPy's). BLAS takes a matrix as
it is when one of its strides is the item size and the other covers a row
(row- or column-major, transposed views included); any other layout is
copied first by the module's one `tl_copy_matrix` function. Products smaller
than `SMALL_PRODUCT` run on one BLAS thread (`openblas_set_num_threads_local`,
set and restored around the call, for the calling thread only).
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from tapeless.backend.cpu import numpy_api
from tapeless.backend.cpu.arrays import PTR, ArrayOps, Expr, Sink, View
from tapeless.backend.cpu.scalars import F64, I32, I64
from tapeless.ir.nodes import Apply

I8 = ir.IntType(8)
#: CBLAS constants.
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
#: Products of fewer multiply-adds (m * n * k) run on one BLAS thread: threads cost more
#: than they save there, and much more when the cores are busy (a loop of small products,
#: as a recurrent network's, ran 15x slower threaded on a loaded 2-core machine).
SMALL_PRODUCT = 1 << 21


class Products:
    """Matrix products emitted with `a`'s builder (see the module docstring)."""

    def __init__(self, a: ArrayOps) -> None:
        self.a = a
        self.b = a.b

    def copy_matrix(self, v: View) -> View:
        """A C-contiguous copy of the float matrix `v`, by the module's one copy function."""
        out = self.a.new("f64", v.shape)
        fn = _copy_matrix_function(self.a.f.m.module)
        self.b.call(fn, [v.data, v.shape[0], v.shape[1], v.strides[0], v.strides[1], out.data])
        return out

    def gemm(self, x: View, y: View, node: Apply, dgemm: int) -> View:
        """x @ y for two matrices of floats, by BLAS `dgemm` (at address `dgemm`)."""
        m, k = x.shape
        k2, n = y.shape
        self.a.shape_check(self.b.icmp_signed("!=", k, k2), x.shape, y.shape, node, "matmul")
        out = self.a.new("f64", [m, n])
        self.gemm_into(x, y, out.data, dgemm)
        return out

    def batched_gemm(self, x: View, y: View, node: Apply, dgemm: int) -> View:
        """x @ y for stacks of float matrices (rank >= 2 each; the leading axes broadcast)."""
        return self.stacked(x, y, node, "f64", lambda xm, ym, out: self.gemm_into(xm, ym, out, dgemm))

    def stacked(self, x: View, y: View, node: Apply, dtype: str, kernel: Callable[[View, View, ir.Value], None]) -> View:
        """x @ y for stacks of matrices, each product by `kernel(x, y, out)` into a new
        C-contiguous array of `dtype`."""
        b = self.b
        m, k = x.shape[-2:]
        k2, n = y.shape[-2:]
        self.a.shape_check(b.icmp_signed("!=", k, k2), x.shape, y.shape, node, "matmul")
        batch = self.a.broadcast(x.shape[:-2], y.shape[:-2], node)
        out = self.a.new(dtype, [*batch, m, n])
        nb = len(batch)
        pointers = [
            (x.data, self._batch_strides(x, nb)),
            (y.data, self._batch_strides(y, nb)),
            (out.data, out.strides[:nb]),
        ]

        def body(ptrs: list[ir.Value]) -> None:
            xm = View(x.dtype, x.mem, ptrs[0], x.shape[-2:], x.strides[-2:])
            ym = View(y.dtype, y.mem, ptrs[1], y.shape[-2:], y.strides[-2:])
            kernel(xm, ym, ptrs[2])

        self.a.nest(batch, pointers, body)
        return out

    def int_matmul_into(self, x: View, y: View, out: ir.Value, *, ldc: ir.Value | None = None) -> None:
        """Store x @ y (int or bool matrices, inner dimensions agreeing) at `out`, as
        row-major int64 with `ldc` items between rows (default: C-contiguous): NumPy's int
        loop (wrapping), no BLAS."""
        b = self.b
        m, k = x.shape
        n = y.shape[1]
        acc = self.a.f.alloca(I64)
        target = (out, [b.mul(n if ldc is None else ldc, ir.Constant(I64, 8)), ir.Constant(I64, 8)])

        def cell(ptrs: list[ir.Value]) -> None:
            b.store(ir.Constant(I64, 0), acc)

            def term(p: list[ir.Value]) -> None:
                xv = self.a.f.ops.to_i64(self.a.load(p[0], x.dtype), "bool" if x.dtype == "bool" else "i64")
                yv = self.a.f.ops.to_i64(self.a.load(p[1], y.dtype), "bool" if y.dtype == "bool" else "i64")
                b.store(b.add(b.load(acc, typ=I64), b.mul(xv, yv)), acc)

            self.a.nest([k], [(ptrs[0], [x.strides[1]]), (ptrs[1], [y.strides[0]])], term)
            b.store(b.load(acc, typ=I64), ptrs[2])

        zero = ir.Constant(I64, 0)
        self.a.nest([m, n], [(x.data, [x.strides[0], zero]), (y.data, [zero, y.strides[1]]), target], cell)

    def _batch_strides(self, v: View, nb: int) -> list[ir.Value]:
        """`v`'s strides along `nb` broadcast batch axes (0 where it has none or one)."""
        b = self.b
        zero = ir.Constant(I64, 0)
        lead = v.ndim - 2
        out = []
        for d in range(nb):
            a = d - (nb - lead)
            if a < 0:
                out.append(zero)
            else:
                out.append(b.select(b.icmp_signed("==", v.shape[a], ir.Constant(I64, 1)), zero, v.strides[a]))
        return out

    def gemm_into(
        self, x: View, y: View, out: ir.Value, dgemm: int, *, ldc: ir.Value | None = None, accumulate: bool = False
    ) -> None:
        """Store x @ y (matrices of floats whose inner dimensions agree) at `out`, row-major
        with `ldc` floats between rows (default: C-contiguous); with `accumulate`, add it to
        what `out` holds (BLAS's beta = 1)."""
        b = self.b
        m, k = x.shape
        n = y.shape[1]
        zero = ir.Constant(I64, 0)
        empty = b.or_(b.icmp_signed("==", m, zero), b.icmp_signed("==", n, zero))
        lead = n if ldc is None else ldc
        with b.if_else(b.icmp_signed("==", k, zero)) as (no_k, some_k):
            with no_k:
                if not accumulate:
                    rows = View("f64", ir.Constant(PTR, None), out, [m, n], [b.mul(lead, ir.Constant(I64, 8)), ir.Constant(I64, 8)])
                    self.a.loop(Expr("const", "f64", [], constant=0.0), [m, n], Sink("store", out=rows))
            with some_k, b.if_then(b.not_(empty)):
                xa, x_trans, x_ld, x_tmp = self._blas_layout(x)
                ya, y_trans, y_ld, y_tmp = self._blas_layout(y)
                fnty = ir.FunctionType(
                    ir.VoidType(),
                    [I32, I32, I32, I64, I64, I64, F64, PTR, I64, PTR, I64, F64, PTR, I64],
                )
                fn = b.inttoptr(ir.Constant(I64, dgemm), fnty.as_pointer())
                small = b.icmp_signed("<", self.a.size([m, n, k]), ir.Constant(I64, SMALL_PRODUCT))
                previous = self.threads(small, ir.Constant(I32, 1))
                b.call(fn, [
                    ir.Constant(I32, ROW_MAJOR), x_trans, y_trans, m, n, k, ir.Constant(F64, 1.0),
                    xa, x_ld, ya, y_ld, ir.Constant(F64, float(accumulate)), out, _max(b, lead, ir.Constant(I64, 1)),
                ])
                self.threads(small, previous)
                self.a.decref_mem(x_tmp)
                self.a.decref_mem(y_tmp)

    def threads(self, small: ir.Value, count: ir.Value) -> ir.Value:
        """Where `small`, set BLAS's threads for this thread only to `count`; the previous
        count (`count` itself elsewhere, or when the BLAS cannot set it)."""
        address = numpy_api.blas_thread_setter()
        if address is None:
            return count
        b = self.b
        fnty = ir.FunctionType(I32, [I32])
        setter = b.inttoptr(ir.Constant(I64, address), fnty.as_pointer())
        slot = self.a.f.alloca(I32)
        b.store(count, slot)
        with b.if_then(small):
            b.store(b.call(setter, [count]), slot)
        return b.load(slot, typ=I32)

    def blas_matrix(self, v: View) -> tuple[View, ir.Value]:
        """The float matrix `v` as BLAS takes it without copying (`gemm_into` then copies
        nothing): `v` itself (its strides normalized) or a C-contiguous copy; and the copy's
        block, for the caller to free, or null."""
        data, trans, ld, tmp = self._blas_layout(v)
        b = self.b
        eight = ir.Constant(I64, 8)
        rows = b.icmp_signed("==", trans, ir.Constant(I32, NO_TRANS))
        lead = b.mul(ld, eight)
        strides = [b.select(rows, lead, eight), b.select(rows, eight, lead)]
        return View(v.dtype, v.mem, data, list(v.shape), strides), tmp

    def _blas_layout(self, v: View) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value]:
        """(data, transpose flag, leading dimension, temporary block or null) that BLAS takes
        for the matrix `v`: as it is when one stride is the item size and the other a
        multiple of it covering a row, else a C-contiguous copy (freed by the caller)."""
        b = self.b
        rows, cols = v.shape
        s0, s1 = v.strides
        eight = ir.Constant(I64, 8)
        one = ir.Constant(I64, 1)

        def fits(unit: ir.Value, lead: ir.Value, span: ir.Value) -> ir.Value:
            aligned = b.icmp_signed("==", b.srem(lead, eight), ir.Constant(I64, 0))
            covers = b.icmp_signed(">=", lead, b.mul(_max(b, span, one), eight))
            return b.and_(b.icmp_signed("==", unit, eight), b.and_(aligned, covers))

        row_major = b.or_(fits(s1, s0, cols), b.icmp_signed("==", rows, one))
        col_major = b.or_(fits(s0, s1, rows), b.icmp_signed("==", cols, one))
        data_slot = self.a.f.alloca(PTR)
        trans_slot = self.a.f.alloca(I32)
        ld_slot = self.a.f.alloca(I64)
        tmp_slot = self.a.f.alloca(PTR)
        b.store(ir.Constant(PTR, None), tmp_slot)
        with b.if_else(b.and_(row_major, b.icmp_signed("==", s1, eight))) as (as_rows, other):
            with as_rows:
                b.store(v.data, data_slot)
                b.store(ir.Constant(I32, NO_TRANS), trans_slot)
                b.store(_max(b, b.sdiv(s0, eight), _max(b, cols, one)), ld_slot)
            with other, b.if_else(b.and_(col_major, b.icmp_signed("==", s0, eight))) as (as_cols, neither):
                with as_cols:
                    b.store(v.data, data_slot)
                    b.store(ir.Constant(I32, TRANS), trans_slot)
                    b.store(_max(b, b.sdiv(s1, eight), _max(b, rows, one)), ld_slot)
                with neither:
                    c = self.copy_matrix(v)
                    b.store(c.data, data_slot)
                    b.store(c.mem, tmp_slot)
                    b.store(ir.Constant(I32, NO_TRANS), trans_slot)
                    b.store(_max(b, cols, one), ld_slot)
        return (
            b.load(data_slot, typ=PTR),
            b.load(trans_slot, typ=I32),
            b.load(ld_slot, typ=I64),
            b.load(tmp_slot, typ=PTR),
        )



def _copy_matrix_function(module: ir.Module) -> ir.Function:
    """`void copy(ptr src, i64 rows, i64 cols, i64 s0, i64 s1, ptr dst)`: the float matrix
    at `src` (byte strides s0, s1) into `dst`, C-contiguous; defined once per module."""
    fn = module.globals.get("tl_copy_matrix")
    if isinstance(fn, ir.Function):
        return fn
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64, I64, I64, PTR]), "tl_copy_matrix")
    fn.linkage = "internal"
    src, rows, cols, s0, s1, dst = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
    entry = b.block
    outer = fn.append_basic_block("row")
    inner = fn.append_basic_block("column")
    next_row = fn.append_basic_block("next_row")
    done = fn.append_basic_block("done")
    b.cbranch(b.and_(b.icmp_signed(">", rows, zero), b.icmp_signed(">", cols, zero)), outer, done)
    b.position_at_end(outer)
    i = b.phi(I64)
    i.add_incoming(zero, entry)
    b.branch(inner)
    b.position_at_end(inner)
    j = b.phi(I64)
    j.add_incoming(zero, outer)
    offset = b.add(b.mul(i, s0), b.mul(j, s1))
    value = b.load(b.gep(src, [offset], source_etype=I8), typ=F64)
    b.store(value, b.gep(dst, [b.add(b.mul(i, cols), j)], source_etype=F64))
    j1 = b.add(j, one)
    j.add_incoming(j1, inner)
    b.cbranch(b.icmp_signed("<", j1, cols), inner, next_row)
    b.position_at_end(next_row)
    i1 = b.add(i, one)
    i.add_incoming(i1, next_row)
    b.cbranch(b.icmp_signed("<", i1, rows), outer, done)
    b.position_at_end(done)
    b.ret_void()
    return fn


def _max(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)



__all__ = ["Products"]
