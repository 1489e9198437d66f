"""The memory runtime of native arrays: allocation, release and statistics.

A native array that owns memory points at a MemInfo made by `tl_array_alloc`:
a `HEADER`-byte block `{i64 refcount, i64 nbytes, 6 x i64 reserved}` followed
by the data (16-byte aligned, as `malloc` aligns). Native code increfs inline
(refcount += 1) and decrefs inline (refcount -= 1, and at 0 it calls
`tl_array_free`); Python holds such memory through a NumPy array whose base is
a capsule over the MemInfo, released by `tl_capsule_destructor`.

The runtime is one LLVM module, compiled once per process into the shared
engine (`backend.cpu.jit`) by `ensure_runtime`. Its functions have fixed,
external names (`RUNTIME`), so a module compiled later calls them by declaring
them (`declare` does that, and compiles the runtime first): MCJIT links
declarations to the definitions of earlier modules of the same engine.

Statistics live in `STATS`, a block of int64 whose address the runtime
embeds (as `runtime.STATE`'s is): arrays alive, their data bytes, the peak of
those bytes, and every allocation made. They are updated with atomic
read-modify-writes, so threads that run native code at the same time count
correctly.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator
from typing import NamedTuple

import llvmlite.ir as ir

from tapeless.backend.cpu import jit

#: Size of the MemInfo header; the data starts at mem + HEADER.
HEADER = 64
#: Byte offsets of the header's fields.
REFCOUNT, NBYTES = 0, 8

#: Slots of `STATS` (int64 each); `POISON` is the switch of `poisoned()`.
LIVE, LIVE_BYTES, PEAK_BYTES, ALLOCATIONS, POISON, BAD_FREES = range(6)
STATS = (ctypes.c_int64 * 6)()
#: The header word `poisoned()` marks a freed block with, and the mark.
FREED_AT, FREED = 16, 0x0DEADF2EE
STATS_ADDRESS = ctypes.addressof(STATS)

_PTR = ir.PointerType()
_I64 = ir.IntType(64)
_VOID = ir.VoidType()

ALLOC, FREE, DECREF, CAPSULE_DESTRUCTOR = (
    "tl_array_alloc", "tl_array_free", "tl_array_decref", "tl_capsule_destructor"
)  # fmt: skip
#: The runtime's exported functions and their LLVM types:
#: - `ptr tl_array_alloc(i64 nbytes)`: a MemInfo with refcount 1 and room for `nbytes`
#:   bytes of data, or null when `malloc` fails (nothing counted then);
#: - `void tl_array_free(ptr mem)`: free a MemInfo whose refcount reached 0;
#: - `void tl_array_decref(ptr mem)`: refcount -= 1, and `tl_array_free` at 0;
#: - `void tl_capsule_destructor(ptr capsule)`: `tl_array_decref` of the capsule's pointer
#:   (the destructor of the capsules that are the base of NumPy arrays over native memory).
RUNTIME: dict[str, ir.FunctionType] = {
    ALLOC: ir.FunctionType(_PTR, (_I64,)),
    FREE: ir.FunctionType(_VOID, (_PTR,)),
    DECREF: ir.FunctionType(_VOID, (_PTR,)),
    CAPSULE_DESTRUCTOR: ir.FunctionType(_VOID, (_PTR,)),
}
_EXTERNALS: dict[str, ir.FunctionType] = {
    "malloc": ir.FunctionType(_PTR, (_I64,)),
    "free": ir.FunctionType(_VOID, (_PTR,)),
    "PyCapsule_GetPointer": ir.FunctionType(_PTR, (_PTR, _PTR)),
}


class MemoryStats(NamedTuple):
    """Native arrays alive, their data bytes, the peak of those bytes (since the last
    `reset_peak`), and the allocations made since the process started."""

    live: int
    live_bytes: int
    peak_bytes: int
    allocations: int


def stats() -> MemoryStats:
    """The runtime's counters now."""
    return MemoryStats(STATS[LIVE], STATS[LIVE_BYTES], STATS[PEAK_BYTES], STATS[ALLOCATIONS])


def bad_frees() -> int:
    """How many times a freed block was freed again under `poisoned()`."""
    return int(STATS[BAD_FREES])


def reset_peak() -> None:
    """Restart the peak from the bytes alive now."""
    STATS[PEAK_BYTES] = STATS[LIVE_BYTES]


class _RuntimeBuilder:
    """Emits the runtime module."""

    def __init__(self) -> None:
        self.module = ir.Module(name="tapeless.memory")
        for name, fnty in (*_EXTERNALS.items(), *RUNTIME.items()):
            ir.Function(self.module, fnty, name)

    def function(self, name: str) -> tuple[ir.Function, ir.IRBuilder]:
        fn = self.module.get_global(name)
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    @staticmethod
    def stat(slot: int) -> ir.Value:
        return ir.Constant(_I64, STATS_ADDRESS + 8 * slot).inttoptr(_PTR)

    @staticmethod
    def header(b: ir.IRBuilder, mem: ir.Value, offset: int) -> ir.Value:
        return b.gep(mem, [ir.Constant(_I64, offset)], source_etype=ir.IntType(8))

    def count(self, b: ir.IRBuilder, slot: int, delta: ir.Value) -> ir.Value:
        """Atomically add `delta` to `STATS[slot]`; the new value."""
        return b.add(b.atomic_rmw("add", self.stat(slot), delta, "monotonic"), delta)

    def alloc(self) -> None:
        fn, b = self.function(ALLOC)
        (nbytes,) = fn.args
        mem = b.call(self.module.get_global("malloc"), [b.add(nbytes, _I64(HEADER))])
        with b.if_then(b.icmp_unsigned("==", mem, _PTR(None)), likely=False):
            b.ret(mem)
        b.store(_I64(1), self.header(b, mem, REFCOUNT))
        b.store(nbytes, self.header(b, mem, NBYTES))
        self.count(b, LIVE, _I64(1))
        self.count(b, ALLOCATIONS, _I64(1))
        b.atomic_rmw("max", self.stat(PEAK_BYTES), self.count(b, LIVE_BYTES, nbytes), "monotonic")
        b.ret(mem)

    def free(self) -> None:
        fn, b = self.function(FREE)
        (mem,) = fn.args
        poison = b.load(self.stat(POISON), typ=_I64)
        with b.if_then(b.icmp_signed("!=", poison, _I64(0)), likely=False):
            self.quarantine(b, mem)
        nbytes = b.load(self.header(b, mem, NBYTES), typ=_I64)
        self.count(b, LIVE, _I64(-1))
        self.count(b, LIVE_BYTES, b.neg(nbytes))
        b.call(self.module.get_global("free"), [mem])
        b.ret_void()

    def quarantine(self, b: ir.IRBuilder, mem: ir.Value) -> None:
        """`poisoned()`'s free: a block freed twice counts in `BAD_FREES`; else it is counted
        freed, marked, filled with 0xFF bytes and kept (never reused)."""
        mark = self.header(b, mem, FREED_AT)
        with b.if_then(b.icmp_signed("==", b.load(mark, typ=_I64), _I64(FREED)), likely=False):
            self.count(b, BAD_FREES, _I64(1))
            b.ret_void()
        nbytes = b.load(self.header(b, mem, NBYTES), typ=_I64)
        self.count(b, LIVE, _I64(-1))
        self.count(b, LIVE_BYTES, b.neg(nbytes))
        b.store(_I64(FREED), mark)
        memset = ir.Function(
            self.module, ir.FunctionType(_VOID, [_PTR, ir.IntType(8), _I64, ir.IntType(1)]), "llvm.memset.p0.i64"
        )
        b.call(memset, [self.header(b, mem, HEADER), ir.Constant(ir.IntType(8), 0xFF), nbytes, ir.Constant(ir.IntType(1), 0)])
        b.ret_void()

    def decref(self) -> None:
        fn, b = self.function(DECREF)
        (mem,) = fn.args
        refcount = self.header(b, mem, REFCOUNT)
        left = b.sub(b.load(refcount, typ=_I64), _I64(1))
        b.store(left, refcount)
        with b.if_then(b.icmp_signed("==", left, _I64(0))):
            b.call(self.module.get_global(FREE), [mem])
        b.ret_void()

    def capsule_destructor(self) -> None:
        fn, b = self.function(CAPSULE_DESTRUCTOR)
        (capsule,) = fn.args
        mem = b.call(self.module.get_global("PyCapsule_GetPointer"), [capsule, _PTR(None)])
        b.call(self.module.get_global(DECREF), [mem])
        b.ret_void()


@contextlib.contextmanager
def poisoned() -> Iterator[None]:
    """While active, freed arrays are not freed but filled with 0xFF bytes (NaN floats) and
    kept: a test run under it turns a use after free into a wrong value its oracle sees,
    and a second free of a block (a reference dropped twice) into a count in
    `STATS[BAD_FREES]` (`bad_frees()`)."""
    STATS[POISON] += 1
    try:
        yield
    finally:
        STATS[POISON] -= 1


def runtime_ir() -> str:
    """The runtime module's LLVM IR text (what `ensure_runtime` compiles)."""
    r = _RuntimeBuilder()
    r.alloc()
    r.free()
    r.decref()
    r.capsule_destructor()
    return str(r.module)


_LOCK = threading.Lock()
_compiled = False


def ensure_runtime() -> None:
    """Compile the runtime into the shared engine if it is not there yet (once per process,
    whatever the threads); afterwards `jit.address(name)` gives each `RUNTIME` function."""
    global _compiled
    with _LOCK:
        if not _compiled:
            jit.compile_module(runtime_ir())
            _compiled = True


def declare(module: ir.Module, name: str) -> ir.Function:
    """Runtime function `name` (a key of `RUNTIME`) declared in `module` (once), the runtime
    compiled first so that `module` links to it when it is compiled."""
    ensure_runtime()
    try:
        found = module.get_global(name)
    except KeyError:
        return ir.Function(module, RUNTIME[name], name)
    assert isinstance(found, ir.Function)
    return found


__all__ = [
    "ALLOC",
    "ALLOCATIONS",
    "BAD_FREES",
    "CAPSULE_DESTRUCTOR",
    "DECREF",
    "FREE",
    "HEADER",
    "LIVE",
    "LIVE_BYTES",
    "NBYTES",
    "PEAK_BYTES",
    "POISON",
    "REFCOUNT",
    "RUNTIME",
    "STATS",
    "STATS_ADDRESS",
    "MemoryStats",
    "bad_frees",
    "declare",
    "ensure_runtime",
    "poisoned",
    "reset_peak",
    "runtime_ir",
    "stats",
]  # fmt: skip
