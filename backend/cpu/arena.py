"""The arena in LLVM: where closure environments live until the outermost call returns.

`Arena(module)` defines, in a module of `lower.py`, the functions that use
the state `runtime.STATE` holds (its address is a constant of the code):

- `ptr arena_alloc(i64 size)`: bump allocation in the current chunk, a new
  chunk (1 MiB, or the size) from `malloc` when it is full; null when `malloc`
  fails;
- `void arena_keep(ptr mem)`: the arena holds a reference to the array block
  `mem` (a closure captured the array) until the release;
- `void arena_release(i64 chunks, i64 ptr, i64 end, i64 keep)`: back to a
  mark the entry took before the call: drops the arrays kept since, then
  frees the chunks added since.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from tapeless.backend.cpu import memory, runtime
from tapeless.backend.cpu.scalars import I64

PTR = ir.PointerType()
I8 = ir.IntType(8)
CHUNK = 1 << 20


def state_slot(builder: ir.IRBuilder, slot: int) -> ir.Value:
    """The address of `runtime.STATE[slot]`."""
    address = ir.Constant(I64, runtime.STATE_ADDRESS + 8 * slot)
    return builder.inttoptr(address, PTR)


def is_null(b: ir.IRBuilder, p: ir.Value) -> ir.Value:
    return b.icmp_unsigned("==", b.ptrtoint(p, I64), ir.Constant(I64, 0))


class Arena:
    """The arena's functions in `module` (see the module docstring)."""

    def __init__(self, module: ir.Module) -> None:
        self.module = module
        self.malloc = ir.Function(module, ir.FunctionType(PTR, [I64]), "malloc")
        self.free = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), "free")
        self.grow = self._grow()
        self.alloc = self._alloc()
        self.release = self._release()

    def _function(self, name: str, ret: ir.Type, args: list[ir.Type]) -> tuple[ir.Function, ir.IRBuilder]:
        fn = ir.Function(self.module, ir.FunctionType(ret, args), name)
        fn.linkage = "internal"
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    def _grow(self) -> ir.Function:
        """`ptr grow(i64 size)`: a new chunk, or null."""
        fn, b = self._function("arena_grow", PTR, [I64])
        fn.attributes.add("noinline")
        (size,) = fn.args
        total = b.add(size, ir.Constant(I64, 16))
        big = b.icmp_unsigned(">", total, ir.Constant(I64, CHUNK))
        length = b.select(big, total, ir.Constant(I64, CHUNK))
        chunk = b.call(self.malloc, [length])
        with b.if_then(is_null(b, chunk), likely=False):
            b.ret(ir.Constant(PTR, None))
        chunks = state_slot(b, runtime.ARENA_CHUNKS)
        b.store(b.load(chunks, typ=I64), chunk)
        b.store(b.ptrtoint(chunk, I64), chunks)
        base = b.add(b.ptrtoint(chunk, I64), ir.Constant(I64, 16))
        b.store(b.add(base, size), state_slot(b, runtime.ARENA_PTR))
        b.store(b.add(b.ptrtoint(chunk, I64), length), state_slot(b, runtime.ARENA_END))
        b.ret(b.inttoptr(base, PTR))
        return fn

    def _alloc(self) -> ir.Function:
        fn, b = self._function("arena_alloc", PTR, [I64])
        (size,) = fn.args
        ptr_slot = state_slot(b, runtime.ARENA_PTR)
        p = b.load(ptr_slot, typ=I64)
        end = b.load(state_slot(b, runtime.ARENA_END), typ=I64)
        np_ = b.add(p, size)
        fits = b.and_(b.icmp_unsigned("<=", np_, end), b.icmp_unsigned("!=", p, ir.Constant(I64, 0)))
        with b.if_then(fits, likely=True):
            b.store(np_, ptr_slot)
            b.ret(b.inttoptr(p, PTR))
        b.ret(b.call(self.grow, [size]))
        return fn

    def _release(self) -> ir.Function:
        fn, b = self._function("arena_release", ir.VoidType(), [I64, I64, I64, I64])
        saved_chunks, saved_ptr, saved_end, saved_keep = fn.args
        decref = memory.declare(self.module, memory.DECREF)

        def drop(item: ir.Value) -> None:
            mem = b.load(b.gep(item, [ir.Constant(I64, 8)], source_etype=I8), typ=PTR)
            b.call(decref, [mem])

        self._pop(b, fn, state_slot(b, runtime.ARENA_KEEP), saved_keep, "drop", drop)
        self._pop(b, fn, state_slot(b, runtime.ARENA_CHUNKS), saved_chunks, "free",
                  lambda item: b.call(self.free, [item]))
        b.store(saved_ptr, state_slot(b, runtime.ARENA_PTR))
        b.store(saved_end, state_slot(b, runtime.ARENA_END))
        b.ret_void()
        return fn

    @staticmethod
    def _pop(
        b: ir.IRBuilder, fn: ir.Function, head_slot: ir.Value, stop: ir.Value, name: str,
        each: Callable[[ir.Value], object],
    ) -> None:
        """Pop the list at `head_slot` (an item's first word links the next) down to
        `stop`, calling `each` on every item once it is unlinked."""
        head = fn.append_basic_block(f"{name}_head")
        body = fn.append_basic_block(f"{name}_body")
        done = fn.append_basic_block(f"{name}_done")
        b.branch(head)
        b.position_at_end(head)
        current = b.load(head_slot, typ=I64)
        b.cbranch(b.icmp_unsigned("==", current, stop), done, body)
        b.position_at_end(body)
        item = b.inttoptr(current, PTR)
        b.store(b.load(item, typ=I64), head_slot)
        each(item)
        b.branch(head)
        b.position_at_end(done)

    def keep(self) -> ir.Function:
        """`void keep(ptr mem)`: one reference to array block `mem` (null: nothing) held
        until the release. If the arena has no room for the record, the reference is
        never dropped: a leak, never a dangling pointer in the closure."""
        fn = self.module.globals.get("arena_keep")
        if isinstance(fn, ir.Function):
            return fn
        fn, b = self._function("arena_keep", ir.VoidType(), [PTR])
        (mem,) = fn.args
        with b.if_then(is_null(b, mem)):
            b.ret_void()
        item = b.call(self.alloc, [ir.Constant(I64, 16)])
        with b.if_then(is_null(b, item), likely=False):
            b.ret_void()
        kept = state_slot(b, runtime.ARENA_KEEP)
        b.store(b.load(kept, typ=I64), item)
        b.store(mem, b.gep(item, [ir.Constant(I64, 8)], source_etype=I8))
        b.store(b.ptrtoint(item, I64), kept)
        b.ret_void()
        return fn


__all__ = ["CHUNK", "Arena", "state_slot"]
