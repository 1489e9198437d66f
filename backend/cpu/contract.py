"""`np.dot` of arrays of rank above 2, and its sensitivities, as matrix products.

np.dot(x, y)[i..., j..., n] = sum_k x[i..., k] * y[j..., k, n]. With X the A x K
matrix of x's rows (A the product of x.shape[:-1]), Y_j the K x N matrix of y
at batch index j (J of them) and the result C-contiguous, the result's block
for j is X @ Y_j: an A x N matrix whose rows lie J * N items apart, which
`Products.gemm_into` (`int_matmul_into` for ints) writes in place (`ldc`). A
vector y is a K x 1 matrix (J = 1) whose axis the result then drops. With D_j
the block for j of the product's sensitivity d:

    dot_dx(d, x, y) = sum_j D_j @ Y_j^T    (A x K: x's shape)
    dot_dy(d, x, y)[j] = X^T @ D_j         (K x N: y's matrix j)

X and D are views of x and d where the strides of the axes merged into A allow
it, else C-contiguous copies, made once (as is an X that BLAS cannot take).
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from tapeless.backend.cpu.arrays import ITEMSIZE, PTR, View
from tapeless.backend.cpu.products import Products
from tapeless.backend.cpu.scalars import I1, I64
from tapeless.ir.nodes import Apply

#: kernel(x, y, out, ldc): store the matrix product x @ y at `out`, `ldc` items between rows.
Kernel = Callable[[View, View, ir.Value, ir.Value], None]


class Contraction:
    """np.dot beyond rank 2, emitted with `mm`'s builder (see the module docstring)."""

    def __init__(self, mm: Products) -> None:
        self.mm = mm
        self.a = mm.a
        self.b = mm.b

    def dot(self, x: View, y: View, node: Apply, dtype: str, kernel: Kernel) -> View:
        """np.dot(x, y) (x of rank >= 1; y of rank >= 2, or 1) into a new C-contiguous array
        of `dtype`, each matrix by `kernel`; float x and y when `dtype` is f64. A shape
        error at `node` where x's last axis and y's contracted one differ in length."""
        ys = _stack(y)
        k, n = ys.shape[-2:]
        batch = ys.shape[:-2]
        self.a.shape_check(self.b.icmp_signed("!=", x.shape[-1], k), x.shape, y.shape, node, "matmul")
        xm, temporaries = self.rows(x, x.ndim - 1, blas=dtype == "f64")
        out = self.a.new(dtype, [*x.shape[:-1], *batch, n])
        ldc = self.a.size([*batch, n])

        def product(p: list[ir.Value]) -> None:
            kernel(xm, View(y.dtype, y.mem, p[0], [k, n], ys.strides[-2:]), p[1], ldc)

        blocks = out.strides[x.ndim - 1 : x.ndim - 1 + len(batch)]
        self.a.nest(batch, [(ys.data, ys.strides[:-2]), (out.data, blocks)], product)
        self.free(temporaries)
        return _unstack(out, y.ndim)

    def dot_dx(self, d: View, x: View, y: View, dgemm: int) -> View:
        """The sensitivity of x in np.dot(x, y) (floats) when the product has sensitivity
        `d`: sum_j D_j @ Y_j^T, a new C-contiguous array of x's shape."""
        ys = _stack(y)
        k, n = ys.shape[-2:]
        dm, temporaries = self.rows(_stack_sens(d, y.ndim), x.ndim - 1, blas=False)
        g = self.a.fill("f64", [dm.shape[0], k], 0.0)

        def product(p: list[ir.Value]) -> None:
            yj = View("f64", y.mem, p[1], [n, k], [ys.strides[-1], ys.strides[-2]])
            self.mm.gemm_into(_block(dm, p[0]), yj, g.data, dgemm, accumulate=True)

        self.a.nest(ys.shape[:-2], [(dm.data, dm.strides[1:-1]), (ys.data, ys.strides[:-2])], product)
        self.free(temporaries)
        return View("f64", g.mem, g.data, list(x.shape), self.a.c_strides("f64", x.shape))

    def dot_dy(self, d: View, x: View, y: View, dgemm: int) -> View:
        """The sensitivity of y in np.dot(x, y) (floats) when the product has sensitivity
        `d`: X^T @ D_j for each j, a new C-contiguous array of y's shape."""
        ys = _stack(y)
        k, n = ys.shape[-2:]
        batch = ys.shape[:-2]
        xm, x_temporaries = self.rows(x, x.ndim - 1, blas=True)
        dm, d_temporaries = self.rows(_stack_sens(d, y.ndim), x.ndim - 1, blas=False)
        out = self.a.new("f64", [*batch, k, n])
        xt = View("f64", xm.mem, xm.data, xm.shape[::-1], xm.strides[::-1])

        def product(p: list[ir.Value]) -> None:
            self.mm.gemm_into(xt, _block(dm, p[0]), p[1], dgemm)

        self.a.nest(batch, [(dm.data, dm.strides[1:-1]), (out.data, out.strides[: len(batch)])], product)
        self.free(x_temporaries + d_temporaries)
        return _unstack(out, y.ndim)

    def rows(self, v: View, lead: int, blas: bool) -> tuple[View, list[ir.Value]]:
        """`v` with its first `lead` axes as one, of their lengths' product: a view of `v`
        where their strides allow it (each the next's times its length, length-1 axes
        aside), else of a C-contiguous copy; with `blas` (a float matrix: `lead` is its
        rank less 1), as BLAS takes it without copying. And the blocks of the copies made,
        for the caller to `free`."""
        b = self.b
        one = ir.Constant(I64, 1)
        null = ir.Constant(PTR, None)
        temporaries: list[ir.Value] = []
        if lead == 0:
            merged = View(v.dtype, v.mem, v.data, [one, *v.shape], [ir.Constant(I64, ITEMSIZE[v.dtype]), *v.strides])
        elif lead == 1:
            merged = v
        else:
            fits: ir.Value = ir.Constant(I1, 1)
            span = v.strides[lead - 1]
            for i in reversed(range(lead - 1)):
                span = b.mul(span, v.shape[i + 1])
                fits = b.and_(fits, b.or_(b.icmp_signed("==", v.strides[i], span), b.icmp_signed("==", v.shape[i], one)))
            data, copy, *strides = self.either(
                fits,
                lambda: [v.data, null, *v.strides[lead - 1 :]],
                lambda: self.flat_copy(v, lead),
            )
            merged = View(v.dtype, v.mem, data, [self.a.size(v.shape[:lead]), *v.shape[lead:]], strides)
            temporaries.append(copy)
        if not blas:
            return merged, temporaries
        matrix, copy = self.mm.blas_matrix(merged)
        return matrix, [*temporaries, copy]

    def flat_copy(self, v: View, lead: int) -> list[ir.Value]:
        """[data, block, strides from axis `lead` - 1 on] of a C-contiguous copy of `v`."""
        c = self.a.copy(v)
        return [c.data, c.mem, *c.strides[lead - 1 :]]

    def either(
        self, cond: ir.Value, then: Callable[[], list[ir.Value]], otherwise: Callable[[], list[ir.Value]]
    ) -> list[ir.Value]:
        """The values `then()` emits where `cond`, else those `otherwise()` emits (of the
        same types, one by one)."""
        b = self.b
        slots: list[ir.AllocaInstr] = []
        with b.if_else(cond) as (yes, no):
            with yes:
                for value in then():
                    slots.append(self.a.f.alloca(value.type))
                    b.store(value, slots[-1])
            with no:
                for slot, value in zip(slots, otherwise(), strict=True):
                    b.store(value, slot)
        return [b.load(slot, typ=slot.allocated_type) for slot in slots]

    def free(self, blocks: list[ir.Value]) -> None:
        for mem in blocks:
            self.a.decref_mem(mem)


def _stack(y: View) -> View:
    """y as a stack of matrices: a vector as a K x 1 matrix."""
    if y.ndim > 1:
        return y
    return View(y.dtype, y.mem, y.data, [y.shape[0], ir.Constant(I64, 1)], [y.strides[0], ir.Constant(I64, ITEMSIZE[y.dtype])])


def _stack_sens(d: View, y_rank: int) -> View:
    """The sensitivity of np.dot(x, y) with the axis of length 1 a vector y has as a stack."""
    if y_rank > 1:
        return d
    return View(d.dtype, d.mem, d.data, [*d.shape, ir.Constant(I64, 1)], [*d.strides, ir.Constant(I64, ITEMSIZE[d.dtype])])


def _block(m: View, data: ir.Value) -> View:
    """The matrix at `data` whose rows and columns are the first and last axes of `m` (the
    block, for one batch index, of a sensitivity with its leading axes merged)."""
    return View(m.dtype, m.mem, data, [m.shape[0], m.shape[-1]], [m.strides[0], m.strides[-1]])


def _unstack(out: View, y_rank: int) -> View:
    """A C-contiguous result of a stack without the axis of length 1 a vector y was given."""
    if y_rank > 1:
        return out
    return View(out.dtype, out.mem, out.data, out.shape[:-1], out.strides[:-1])


__all__ = ["Contraction", "Kernel"]
