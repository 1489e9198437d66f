"""Native arrays at the Python <-> native boundary, on hand-written LLVM IR.

The oracle is NumPy: an array an entry returns must equal the view NumPy makes of
the same memory with the same shape, strides and offset (`np.ndarray(...,
buffer=, offset=, strides=)`). Ownership is checked through the memory runtime's
counters (`memory.stats`): an array native code allocates must be freed exactly
when its last NumPy owner goes. The two writings of the argument rule
(`abi_type` in Python, the entry's native checks) are held to agreement on
arrays of many dtypes, byte orders, alignments and layouts. The C-API indices
are checked against NumPy's installed header, and BLAS against `a @ b`.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from backend_support import same
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from native_entry_support import check_round_trip, echo, entry, native, shared_entry

from tapeless.backend.cpu import jit, memory, numpy_api
from tapeless.backend.cpu.entry import NotNative, abi_type
from tapeless.ir.types import F64, I64, ArrayType, TupleType

KINDS = ("f64", "i64", "bool")
DTYPE = {"f64": np.dtype(np.float64), "i64": np.dtype(np.int64), "bool": np.dtype(np.bool_)}
_STORE = {  # kind -> (LLVM element type, IR computing %x from the index %i)
    "f64": ("double", "%x = sitofp i64 %i to double"),
    "i64": ("i64", "%x = add i64 %i, 0"),
    "bool": ("i8", "%odd = and i64 %i, 1\n%x = trunc i64 %odd to i8"),
}
OUT_OF_MEMORY = ((MemoryError, "native array allocation failed"),)


def base_values(kind: str, n: int) -> np.ndarray:
    """The n elements `range_array` writes: 0, 1, 2, ... (bool: i odd)."""
    return (np.arange(n) % 2).astype(bool) if kind == "bool" else np.arange(n).astype(DTYPE[kind])


def range_array(kind: str, ndim: int, copies: int = 1) -> tuple[str, str, str]:
    """A native function (n, offset, shape, strides) -> (array, ... `copies` times, mem address).

    It allocates n elements with `tl_array_alloc`, writes `base_values(kind, n)`
    into them, and returns `copies` owned references to the array with that
    shape and those byte strides whose data is at byte `offset` of the elements.
    Status 1 when the allocation fails.
    """
    elem, compute = _STORE[kind]
    itemsize = DTYPE[kind].itemsize
    dims = [f"i64 %d{k}" for k in range(ndim)] + [f"i64 %s{k}" for k in range(ndim)]
    params = ", ".join(["i64 %n", "i64 %offset", *dims, "ptr %out"])
    stores = []
    for c in range(copies):
        values = ["ptr %mem", "ptr %data"] + [f"i64 %d{k}" for k in range(ndim)] + [f"i64 %s{k}" for k in range(ndim)]
        for j, value in enumerate(values):
            slot = c * len(values) + j
            stores.append(f"%slot{slot} = getelementptr i64, ptr %out, i64 {slot}\nstore {value}, ptr %slot{slot}")
    last = copies * (2 + 2 * ndim)
    body = f"""%nbytes = mul i64 %n, {itemsize}
%mem = call ptr @tl_array_alloc(i64 %nbytes)
%failed = icmp eq ptr %mem, null
br i1 %failed, label %oom, label %fill
oom:
ret i32 1
fill:
store i64 {copies}, ptr %mem
%elements = getelementptr i8, ptr %mem, i64 {memory.HEADER}
br label %check
check:
%i = phi i64 [0, %fill], [%next, %body]
%more = icmp slt i64 %i, %n
br i1 %more, label %body, label %done
body:
{compute}
%p = getelementptr {elem}, ptr %elements, i64 %i
store {elem} %x, ptr %p
%next = add i64 %i, 1
br label %check
done:
%data = getelementptr i8, ptr %elements, i64 %offset
{chr(10).join(stores)}
%address = ptrtoint ptr %mem to i64
%last = getelementptr i64, ptr %out, i64 {last}
store i64 %address, ptr %last
ret i32 0"""
    return params, body, "declare ptr @tl_array_alloc(i64)"


def range_entry(kind: str, ndim: int, copies: int = 1):
    """The builtin for `range_array(kind, ndim, copies)`: f(n, offset, shape, strides)."""
    ints = TupleType((I64,) * ndim)
    result = TupleType((*(ArrayType(kind, ndim),) * copies, I64))
    f, _ = shared_entry((I64, I64, ints, ints), result, range_array(kind, ndim, copies), OUT_OF_MEMORY)
    return f


def oracle(kind: str, n: int, offset: int, shape, strides) -> np.ndarray:
    """NumPy's view of `base_values(kind, n)` with this layout (which NumPy refuses if it is
    empty and its strides go beyond the buffer)."""
    if 0 in shape:
        return np.zeros(shape, DTYPE[kind])
    return np.ndarray(shape, DTYPE[kind], buffer=base_values(kind, n), offset=offset, strides=strides)


def live() -> int:
    return memory.stats().live


@st.composite
def views(draw, kinds=KINDS):
    """(kind, base, view): a view of a fresh array by basic indexing (steps may be negative)."""
    kind = draw(st.sampled_from(kinds))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    base = base_values(kind, int(np.prod(shape)))
    index = draw(hnp.basic_indices(shape, allow_ellipsis=False))
    # A trailing `...` keeps an all-integer index a (0-d) view, not a scalar.
    view = base.reshape(shape)[(*(index if isinstance(index, tuple) else (index,)), ...)]
    return kind, base, view


def layout(base: np.ndarray, view: np.ndarray) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(byte offset of `view`'s data in `base`, its shape, its strides)."""
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return offset, view.shape, view.strides


# -- results native code allocates: NumPy owns them, without a copy ------------------
@given(views())
def test_owned_result_is_numpy_view_of_native_memory(drawn):
    kind, base, view = drawn
    offset, shape, strides = layout(base, view)
    before = live()
    array, mem = range_entry(kind, view.ndim)(base.size, offset, shape, strides)
    assert same(array, oracle(kind, base.size, offset, shape, strides))
    assert array.strides == strides and array.__array_interface__["data"][0] == mem + memory.HEADER + offset
    assert type(array.base).__name__ == "PyCapsule" and array.flags.writeable and not array.flags.owndata
    assert live() == before + 1
    del array
    assert live() == before


def test_owned_result_lives_while_numpy_holds_it():
    before, peak_before = memory.stats(), memory.stats().allocations
    array, _ = range_entry("f64", 1)(1000, 0, (1000,), (8,))
    now = memory.stats()
    assert (now.live, now.live_bytes, now.allocations) == (before.live + 1, before.live_bytes + 8000, peak_before + 1)
    assert now.peak_bytes >= now.live_bytes
    rows = array[::10]  # a NumPy view keeps the native memory alive through its base
    del array
    assert live() == before.live + 1 and same(rows, np.arange(0.0, 1000.0, 10.0))
    rows[0] = -1.0  # writeable
    del rows
    assert memory.stats()[:2] == before[:2]
    memory.reset_peak()
    assert memory.stats().peak_bytes == memory.stats().live_bytes


def test_two_references_to_one_memory_are_two_owners():
    before = live()
    first, second, mem = range_entry("i64", 1, copies=2)(4, 0, (4,), (8,))
    assert first is not second and same(first, np.arange(4)) and same(second, first)
    first[0] = 7  # the same memory
    assert second[0] == 7 and live() == before + 1
    del first
    assert live() == before + 1 and same(second, np.array([7, 1, 2, 3]))
    del second
    assert live() == before


def test_boxing_failure_raises_and_frees_the_memory():
    before = live()
    with pytest.raises(ValueError, match="negative dimensions"):
        range_entry("f64", 1)(4, 0, (-1,), (8,))
    with pytest.raises(ValueError, match="negative dimensions"):  # both copies, in a tuple
        range_entry("f64", 1, copies=2)(4, 0, (-1,), (8,))
    assert live() == before


def test_allocation_failure_is_a_status():
    before = memory.stats()
    with pytest.raises(MemoryError, match="allocation failed"):
        range_entry("f64", 1)(2**58, 0, (1,), (8,))
    assert memory.stats() == before


def test_result_has_one_reference():
    result = range_entry("f64", 2)(6, 0, (2, 3), (24, 8))
    counts = sys.getrefcount(result[0]), sys.getrefcount(result)  # outside `assert` (pytest's rewriting)
    assert counts == (2, 2)


def test_no_leak_over_many_calls():
    f = range_entry("bool", 2, copies=2)
    before = memory.stats()
    for _ in range(10_000):
        f(12, 0, (3, 4), (4, 1))
    after = memory.stats()
    assert after.live == before.live and after.live_bytes == before.live_bytes
    assert after.allocations == before.allocations + 10_000


# -- arguments: taken in place, and a result that aliases one is a copy -----------------
@given(views())
def test_aliasing_result_is_an_independent_copy(drawn):
    _, _, view = drawn
    typ = abi_type(view)
    f, fallback = shared_entry((typ,), typ, echo(typ))
    before = live()
    result = f(view)
    assert same(result, view) and result is not view and fallback.calls == []
    assert result.flags.c_contiguous and result.flags.owndata and result.flags.writeable
    assert not np.shares_memory(result, view) and live() == before


def test_read_only_argument_gives_a_writeable_copy():
    arg = np.arange(3.0)
    arg.flags.writeable = False
    typ = ArrayType("f64", 1)
    f, _ = entry((typ,), typ, echo(typ))
    result = f(arg)
    result[0] = 5.0
    assert same(arg, np.arange(3.0))


def test_arrays_in_tuples_both_ways():
    a, b = np.arange(6.0).reshape(2, 3)[:, ::-2], np.array(True)
    typ = TupleType((ArrayType("f64", 2), TupleType((F64, ArrayType("bool", 0)))))
    f, fallback = entry((typ,), typ, echo(typ))
    result = f((a, (1.5, b)))
    assert same(result, (a, (1.5, b))) and fallback.calls == []


def test_argument_reference_counts_are_untouched():
    typ = ArrayType("i64", 1)
    f, _ = entry((typ,), typ, echo(typ))
    arg = np.arange(5)
    before = sys.getrefcount(arg), sys.getrefcount(arg.dtype)
    for _ in range(1000):
        f(arg)
    assert (sys.getrefcount(arg), sys.getrefcount(arg.dtype)) == before


# -- one argument rule, written twice ---------------------------------------------------
def unaligned(n: int) -> np.ndarray:
    buffer = np.zeros(8 * n + 1, dtype=np.uint8)
    return buffer[1:].view(np.float64)


class Sub(np.ndarray):
    pass


REFUSED = [
    (np.zeros(3, dtype=np.float32), "float32 array"),
    (np.zeros(3, dtype=">f8"), "non-native byte order"),
    (np.zeros(3, dtype=">i8"), "non-native byte order"),
    (np.zeros(3, dtype=np.uint64), "uint64 array"),
    (unaligned(3), "unaligned"),
    (np.zeros(3).view(Sub), "type Sub"),
    ([0.0, 0.0, 0.0], "list"),
]


@pytest.mark.parametrize("value, detail", REFUSED, ids=[d for _, d in REFUSED])
def test_refused_arrays_go_to_the_fallback(value, detail):
    with pytest.raises(NotNative, match=detail):
        abi_type(value)
    typ = ArrayType("f64", 1)
    f, fallback = entry((typ,), typ, echo(typ))
    assert f(value) == "fallback" and fallback.calls[0][0][0] is value


def test_wrong_rank_or_kind_goes_to_the_fallback():
    typ = ArrayType("f64", 1)
    f, fallback = entry((typ,), typ, echo(typ))
    for value in (np.zeros(()), np.zeros((1, 1)), np.zeros(1, dtype=np.int64), np.float64(1.0), 1.0):
        assert f(value) == "fallback"
    assert len(fallback.calls) == 5


arrays = st.one_of(
    views().map(lambda drawn: drawn[2]),
    hnp.arrays(
        st.sampled_from(["<f8", ">f8", "<i8", ">i8", "f4", "i4", "u1", "?", np.longlong]),
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
    ),
    st.integers(0, 3).map(unaligned),
)
values = st.recursive(arrays | st.floats(), lambda inner: st.tuples(inner, inner), max_leaves=3)


@given(values, values)
def test_entry_takes_exactly_what_abi_type_types(v, w):
    check_round_trip(v, w)


def test_longlong_arrays_are_int64_arrays():
    value = np.arange(3, dtype=np.longlong)  # on LP64, type_num NPY_LONGLONG, not NPY_LONG
    typ = abi_type(value)
    f, fallback = entry((typ,), typ, echo(typ))
    assert typ == ArrayType("i64", 1) and same(f(value), value) and fallback.calls == []


# -- the runtime and NumPy's C-API ------------------------------------------------------
ALLOC_FREE = (  # tl_array_free(tl_array_alloc(n)), declared by name in a later module
    "i64 %n, ptr %out",
    "%p = call ptr @tl_array_alloc(i64 %n)\ncall void @tl_array_free(ptr %p)\nret i32 0",
    "declare ptr @tl_array_alloc(i64)\ndeclare void @tl_array_free(ptr)",
)


def test_runtime_compiles_once_and_links_to_later_modules():
    memory.ensure_runtime()
    addresses = {name: jit.address(name) for name in memory.RUNTIME}
    memory.ensure_runtime()
    assert {name: jit.address(name) for name in memory.RUNTIME} == addresses
    alloc_free = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p)(native(*ALLOC_FREE))
    before = memory.stats()
    assert alloc_free(100, None) == 0
    after = memory.stats()
    assert after.allocations == before.allocations + 1 and after[:2] == before[:2]
    assert after.peak_bytes >= before.live_bytes + 100


def test_ensure_runtime_is_thread_safe_in_a_fresh_process():
    code = (
        "import threading\nfrom tapeless.backend.cpu import memory, jit\n"
        "ts = [threading.Thread(target=memory.ensure_runtime) for _ in range(8)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "print(all(jit.address(n) for n in memory.RUNTIME))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr


def test_api_indices_match_numpy_header():
    header = Path(np.get_include(), "numpy", "__multiarray_api.h").read_text().replace("\\\n", " ")
    for name, index in numpy_api.API_INDEX.items():
        found = re.search(rf"^#define {name}\s.*PyArray_API\[(\d+)\]", header, re.MULTILINE)
        assert found is not None and int(found.group(1)) == index, name


BLAS_INT = ctypes.c_int64 if numpy_api.blas_int_bits() == 64 else ctypes.c_int32
ROW_MAJOR, NO_TRANS = 101, 111
needs_blas = pytest.mark.skipif(numpy_api.blas_function("dgemm") is None, reason="NumPy has no CBLAS")


def pointer(a: np.ndarray):
    return a.ctypes.data_as(ctypes.c_void_p)


@needs_blas
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5))
def test_dgemm_at_its_address_is_matmul(m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a, b, c = rng.standard_normal((m, k)), rng.standard_normal((k, n)), np.zeros((m, n))
    i, d, p, e = BLAS_INT, ctypes.c_double, ctypes.c_void_p, ctypes.c_int
    dgemm = ctypes.CFUNCTYPE(None, e, e, e, i, i, i, d, p, i, p, i, d, p, i)(numpy_api.blas_function("dgemm"))
    dgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, m, n, k, 1.0, pointer(a), k, pointer(b), n, 0.0, pointer(c), n)
    np.testing.assert_allclose(c, a @ b, rtol=1e-12, atol=1e-12)


@needs_blas
def test_ddot_and_dgemv_at_their_addresses():
    x, y, a = np.arange(5.0), np.arange(5.0) ** 2, np.arange(15.0).reshape(3, 5)
    i, d, p, e = BLAS_INT, ctypes.c_double, ctypes.c_void_p, ctypes.c_int
    ddot = ctypes.CFUNCTYPE(d, i, p, i, p, i)(numpy_api.blas_function("ddot"))
    assert ddot(5, pointer(x), 1, pointer(y), 1) == x @ y
    out = np.zeros(3)
    dgemv = ctypes.CFUNCTYPE(None, e, e, i, i, d, p, i, p, i, d, p, i)(numpy_api.blas_function("dgemv"))
    dgemv(ROW_MAJOR, NO_TRANS, 3, 5, 1.0, pointer(a), 5, pointer(x), 1, 0.0, pointer(out), 1)
    assert same(out, a @ x)
    assert numpy_api.blas_function("no_such_routine") is None
