"""The memory runtime of native arrays: allocation, release and statistics.

A native array that owns memory points at a MemInfo made by `tl_array_alloc`:
a `HEADER`-byte block `{i64 refcount, i64 nbytes, i64 freed mark, i64 size
class, i64 capacity, ptr next, ptr previous, i64 epoch}` followed by the data
(16-byte aligned, as `malloc` aligns). Native code increfs inline
(refcount += 1) and decrefs inline (refcount -= 1, and at 0 it calls
`tl_array_free`); Python holds such memory through a NumPy array whose base is
a capsule over the MemInfo, released by `tl_capsule_destructor`.

The runtime is one LLVM module, compiled once per process into the shared
engine (`backend.cpu.jit`) by `ensure_runtime`. Its functions have fixed,
external names (`RUNTIME`), so a module compiled later calls them by declaring
them (`declare` does that, and compiles the runtime first): MCJIT links
declarations to the definitions of earlier modules of the same engine.

Blocks of more than `CACHE_MIN` data bytes (up to `CACHE_MAX`) are cached: their
size is rounded up to one of eight classes per power of two (at most 12.5%
more), and a freed one goes on its class's free list (`BINS`), to serve the
next allocation of that class, while the cache holds at most `cache_limit()`
bytes (`set_cache_limit`; `trim` frees them all). A loop of array operations,
and every call of a gradient, allocates and frees the same sizes over and over:
without the cache, glibc returns big blocks to the system (`munmap`, or
trimming the heap's top) and takes them back, and the page faults cost more
than the arithmetic (a recurrent network's gradient spent a fifth of its time
in the kernel). A spin lock (`STATS[LOCK]`) guards the lists: native code may
run in several threads at once.

Every live block is on one doubly-linked list (`next`/`previous`, newest
first, its head in `STATS[LIVE_HEAD]`) with its *epoch*, the count of
allocations when it was made. A native call that fails has dropped nothing
(its frames return at once), so its entry frees every block made since the
call began that is still alive (`tl_array_release_since(epoch)`): nothing
else can hold one, since a failed call hands nothing to Python.

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

#: Slots of `STATS` (int64 each); `POISON` is the switch of `poisoned()`; `LOCK` the
#: cache's spin lock, `CACHED` the bytes it holds, `CACHE_LIMIT` the most it may hold.
#: `LIVE_HEAD` the newest live block (see the module docstring).
LIVE, LIVE_BYTES, PEAK_BYTES, ALLOCATIONS, POISON, BAD_FREES, LOCK, CACHED, CACHE_LIMIT, LIVE_HEAD = range(10)
STATS = (ctypes.c_int64 * 10)()
#: The header word `poisoned()` marks a freed block with, and the mark.
FREED_AT, FREED = 16, 0x0DEADF2EE
#: Header words of the cache: the block's size class (-1: not cached), its capacity in
#: data bytes, and the next block of its class's free list (of the live list while live);
#: the previous block of the live list, and the block's epoch.
CLASS, CAPACITY, NEXT, PREVIOUS, EPOCH = 24, 32, 40, 48, 56
STATS_ADDRESS = ctypes.addressof(STATS)

#: Data sizes the cache serves: more than 2**MIN_OCTAVE bytes, at most 2**MAX_OCTAVE.
MIN_OCTAVE, MAX_OCTAVE = 14, 28
CACHE_MIN, CACHE_MAX = 1 << MIN_OCTAVE, 1 << MAX_OCTAVE
#: Size classes per power of two.
SUBCLASSES = 8
#: The free lists' heads, one per size class.
BINS = (ctypes.c_void_p * ((MAX_OCTAVE - MIN_OCTAVE) * SUBCLASSES))()
BINS_ADDRESS = ctypes.addressof(BINS)
#: The cache's default limit.
DEFAULT_CACHE_LIMIT = 256 << 20
STATS[CACHE_LIMIT] = DEFAULT_CACHE_LIMIT

_PTR = ir.PointerType()
_I64 = ir.IntType(64)
_VOID = ir.VoidType()

ALLOC, FREE, DECREF, CAPSULE_DESTRUCTOR, TRIM, RELEASE_SINCE = (
    "tl_array_alloc", "tl_array_free", "tl_array_decref", "tl_capsule_destructor", "tl_array_trim",
    "tl_array_release_since",
)  # fmt: skip
#: The runtime's exported functions and their LLVM types:
#: - `ptr tl_array_alloc(i64 nbytes)`: a MemInfo with refcount 1 and room for `nbytes`
#:   bytes of data, or null when `malloc` fails (nothing counted then);
#: - `void tl_array_free(ptr mem)`: free a MemInfo whose refcount reached 0;
#: - `void tl_array_decref(ptr mem)`: refcount -= 1, and `tl_array_free` at 0;
#: - `void tl_capsule_destructor(ptr capsule)`: `tl_array_decref` of the capsule's pointer
#:   (the destructor of the capsules that are the base of NumPy arrays over native memory);
#: - `void tl_array_trim()`: free every cached block;
#: - `void tl_array_release_since(i64 epoch)`: free every live block of a later epoch.
RUNTIME: dict[str, ir.FunctionType] = {
    ALLOC: ir.FunctionType(_PTR, (_I64,)),
    FREE: ir.FunctionType(_VOID, (_PTR,)),
    DECREF: ir.FunctionType(_VOID, (_PTR,)),
    CAPSULE_DESTRUCTOR: ir.FunctionType(_VOID, (_PTR,)),
    TRIM: ir.FunctionType(_VOID, ()),
    RELEASE_SINCE: ir.FunctionType(_VOID, (_I64,)),
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


def cached_bytes() -> int:
    """The bytes of freed blocks the cache keeps for reuse (see the module docstring)."""
    return int(STATS[CACHED])


def cache_limit() -> int:
    """The most bytes the cache keeps."""
    return int(STATS[CACHE_LIMIT])


def set_cache_limit(nbytes: int) -> None:
    """Let the cache keep at most `nbytes` bytes (0: no cache); what it holds beyond that
    is freed."""
    if nbytes < 0:
        raise ValueError(f"a cache limit of {nbytes} bytes")
    STATS[CACHE_LIMIT] = nbytes
    if STATS[CACHED] > nbytes:
        trim()


def trim() -> None:
    """Free every block the cache keeps."""
    ensure_runtime()
    ctypes.CFUNCTYPE(None)(jit.address(TRIM))()


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
        slots = b.alloca(_PTR), b.alloca(_I64), b.alloca(_I64)
        b.store(_I64(-1), slots[1])
        b.store(nbytes, slots[2])
        b.store(_PTR(None), slots[0])
        cached = b.and_(b.icmp_signed(">", nbytes, _I64(CACHE_MIN)), b.icmp_signed("<=", nbytes, _I64(CACHE_MAX)))
        with b.if_then(cached):
            size_class, capacity = self.size_class(b, nbytes)
            b.store(size_class, slots[1])
            b.store(capacity, slots[2])
            b.store(self.pop(b, size_class, capacity), slots[0])
        mem = b.load(slots[0], typ=_PTR)
        capacity = b.load(slots[2], typ=_I64)
        with b.if_then(b.icmp_unsigned("==", mem, _PTR(None))):
            b.store(b.call(self.module.get_global("malloc"), [b.add(capacity, _I64(HEADER))]), slots[0])
        mem = b.load(slots[0], typ=_PTR)
        with b.if_then(b.icmp_unsigned("==", mem, _PTR(None)), likely=False):
            b.ret(mem)
        for offset, value in (
            (REFCOUNT, _I64(1)), (NBYTES, nbytes), (FREED_AT, _I64(0)),
            (CLASS, b.load(slots[1], typ=_I64)), (CAPACITY, capacity),
        ):  # fmt: skip
            b.store(value, self.header(b, mem, offset))
        self.count(b, LIVE, _I64(1))
        b.store(self.count(b, ALLOCATIONS, _I64(1)), self.header(b, mem, EPOCH))
        b.atomic_rmw("max", self.stat(PEAK_BYTES), self.count(b, LIVE_BYTES, nbytes), "monotonic")
        self.link(b, mem)
        b.ret(mem)

    def link(self, b: ir.IRBuilder, mem: ir.Value) -> None:
        """Put `mem` at the head of the live list."""
        self.lock(b)
        head = b.inttoptr(b.load(self.stat(LIVE_HEAD), typ=_I64), _PTR)
        b.store(head, self.header(b, mem, NEXT))
        b.store(_PTR(None), self.header(b, mem, PREVIOUS))
        with b.if_then(b.icmp_unsigned("!=", head, _PTR(None))):
            b.store(mem, self.header(b, head, PREVIOUS))
        b.store(b.ptrtoint(mem, _I64), self.stat(LIVE_HEAD))
        self.unlock(b)

    def unlink(self, b: ir.IRBuilder, mem: ir.Value) -> None:
        """Take `mem` off the live list."""
        self.lock(b)
        following = b.load(self.header(b, mem, NEXT), typ=_PTR)
        previous = b.load(self.header(b, mem, PREVIOUS), typ=_PTR)
        with b.if_else(b.icmp_unsigned("!=", previous, _PTR(None))) as (inner, first):
            with inner:
                b.store(following, self.header(b, previous, NEXT))
            with first:
                b.store(b.ptrtoint(following, _I64), self.stat(LIVE_HEAD))
        with b.if_then(b.icmp_unsigned("!=", following, _PTR(None))):
            b.store(previous, self.header(b, following, PREVIOUS))
        self.unlock(b)

    def release_since(self) -> None:
        fn, b = self.function(RELEASE_SINCE)
        (epoch,) = fn.args
        loop = b.append_basic_block("newest")
        done = b.append_basic_block("done")
        b.branch(loop)
        b.position_at_end(loop)
        head = b.inttoptr(b.load(self.stat(LIVE_HEAD), typ=_I64), _PTR)  # (one thread: the GIL's)
        with b.if_then(b.icmp_unsigned("==", head, _PTR(None))):
            b.branch(done)
            b.position_at_end(b.append_basic_block("unreachable"))
        newer = b.icmp_signed(">", b.load(self.header(b, head, EPOCH), typ=_I64), epoch)
        with b.if_then(newer):
            b.call(self.module.get_global(FREE), [head])
            b.branch(loop)
            b.position_at_end(b.append_basic_block("unreachable"))
        b.branch(done)
        b.position_at_end(done)
        b.ret_void()

    @staticmethod
    def size_class(b: ir.IRBuilder, nbytes: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(class, capacity) of a cached size: with m = nbytes - 1 and 2**k its top bit, the
        class's capacity is the next multiple of 2**k / SUBCLASSES, at least nbytes."""
        shift = SUBCLASSES.bit_length() - 1
        m = b.sub(nbytes, _I64(1))
        k = b.sub(_I64(63), b.ctlz(m, ir.Constant(ir.IntType(1), 0)))
        step = b.sub(k, _I64(shift))
        q = b.lshr(m, step)  # SUBCLASSES <= q < 2 * SUBCLASSES
        capacity = b.shl(b.add(q, _I64(1)), step)
        size_class = b.add(b.mul(b.sub(k, _I64(MIN_OCTAVE)), _I64(SUBCLASSES)), b.sub(q, _I64(SUBCLASSES)))
        return size_class, capacity

    def bin(self, b: ir.IRBuilder, size_class: ir.Value) -> ir.Value:
        return b.gep(ir.Constant(_I64, BINS_ADDRESS).inttoptr(_PTR), [size_class], source_etype=_PTR)

    def lock(self, b: ir.IRBuilder) -> None:
        """Take the cache's spin lock."""
        spin = b.append_basic_block("lock")
        taken = b.append_basic_block("locked")
        b.branch(spin)
        b.position_at_end(spin)
        result = b.cmpxchg(self.stat(LOCK), _I64(0), _I64(1), "acquire", "monotonic")
        b.cbranch(b.extract_value(result, 1), taken, spin)
        b.position_at_end(taken)

    def unlock(self, b: ir.IRBuilder) -> None:
        b.atomic_rmw("xchg", self.stat(LOCK), _I64(0), "release")

    def pop(self, b: ir.IRBuilder, size_class: ir.Value, capacity: ir.Value) -> ir.Value:
        """The first block of `size_class`'s free list, taken off it, or null."""
        found = b.alloca(_PTR)
        self.lock(b)
        head = b.load(self.bin(b, size_class), typ=_PTR)
        b.store(head, found)
        with b.if_then(b.icmp_unsigned("!=", head, _PTR(None))):
            b.store(b.load(self.header(b, head, NEXT), typ=_PTR), self.bin(b, size_class))
            b.store(b.sub(b.load(self.stat(CACHED), typ=_I64), capacity), self.stat(CACHED))
        self.unlock(b)
        return b.load(found, typ=_PTR)

    def release(self, b: ir.IRBuilder, mem: ir.Value) -> None:
        """Put a freed block on its class's free list if it has one and the cache has room;
        else give it back to `free`."""
        size_class = b.load(self.header(b, mem, CLASS), typ=_I64)
        with b.if_then(b.icmp_signed(">=", size_class, _I64(0))):
            capacity = b.load(self.header(b, mem, CAPACITY), typ=_I64)
            self.lock(b)
            held = b.add(b.load(self.stat(CACHED), typ=_I64), capacity)
            with b.if_then(b.icmp_signed("<=", held, b.load(self.stat(CACHE_LIMIT), typ=_I64))):
                slot = self.bin(b, size_class)
                b.store(b.load(slot, typ=_PTR), self.header(b, mem, NEXT))
                b.store(mem, slot)
                b.store(held, self.stat(CACHED))
                self.unlock(b)
                b.ret_void()
            self.unlock(b)
        b.call(self.module.get_global("free"), [mem])
        b.ret_void()

    def trim(self) -> None:
        _, b = self.function(TRIM)
        index = b.alloca(_I64)
        b.store(_I64(0), index)
        self.lock(b)
        head = b.append_basic_block("bin")
        body = b.append_basic_block("block")
        following = b.append_basic_block("next_bin")
        done = b.append_basic_block("done")
        b.branch(head)
        b.position_at_end(head)
        i = b.load(index, typ=_I64)
        b.cbranch(b.icmp_signed("<", i, _I64(len(BINS))), body, done)
        b.position_at_end(body)
        slot = self.bin(b, i)
        mem = b.load(slot, typ=_PTR)
        with b.if_then(b.icmp_unsigned("!=", mem, _PTR(None))):
            b.store(b.load(self.header(b, mem, NEXT), typ=_PTR), slot)
            b.call(self.module.get_global("free"), [mem])
            b.branch(body)
            b.position_at_end(b.append_basic_block("unreachable"))
        b.branch(following)
        b.position_at_end(following)
        b.store(b.add(i, _I64(1)), index)
        b.branch(head)
        b.position_at_end(done)
        b.store(_I64(0), self.stat(CACHED))
        self.unlock(b)
        b.ret_void()

    def free(self) -> None:
        fn, b = self.function(FREE)
        (mem,) = fn.args
        poison = b.load(self.stat(POISON), typ=_I64)
        with b.if_then(b.icmp_signed("!=", poison, _I64(0)), likely=False):
            self.quarantine(b, mem)
        self.unlink(b, mem)
        nbytes = b.load(self.header(b, mem, NBYTES), typ=_I64)
        self.count(b, LIVE, _I64(-1))
        self.count(b, LIVE_BYTES, b.neg(nbytes))
        self.release(b, mem)

    def quarantine(self, b: ir.IRBuilder, mem: ir.Value) -> None:
        """`poisoned()`'s free: a block freed twice counts in `BAD_FREES`; else it is counted
        freed, marked, filled with 0xFF bytes and kept (never reused)."""
        mark = self.header(b, mem, FREED_AT)
        with b.if_then(b.icmp_signed("==", b.load(mark, typ=_I64), _I64(FREED)), likely=False):
            self.count(b, BAD_FREES, _I64(1))
            b.ret_void()  # (off the live list already)
        self.unlink(b, mem)
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
    r.trim()
    r.release_since()
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
    "BINS",
    "CACHED",
    "CACHE_LIMIT",
    "CACHE_MAX",
    "CACHE_MIN",
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
    "RELEASE_SINCE",
    "RUNTIME",
    "STATS",
    "STATS_ADDRESS",
    "MemoryStats",
    "bad_frees",
    "cache_limit",
    "cached_bytes",
    "declare",
    "ensure_runtime",
    "poisoned",
    "reset_peak",
    "runtime_ir",
    "set_cache_limit",
    "stats",
    "trim",
]  # fmt: skip
