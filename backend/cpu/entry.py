"""Python -> native entries: a CPython builtin, written in LLVM IR, in front of native code.

A native function of the backend has the fixed ABI

    i32 @f(<leaf args by value>..., ptr %out)

where the leaves of an argument type are the lowering's (`lower.leaves`):
`Scalar("f64")` -> double, `Scalar("i64")` -> i64, `Scalar("bool")` -> i1,
`NoneType()` and `Identity` -> nothing, a `TupleType` -> its elements' leaves
in order, an `ArrayType(dtype, n)` -> `ptr mem, ptr data, i64 shape[0..n),
i64 strides[0..n)` (strides in bytes). The result's leaves are written to
`out`, one 8-byte slot each (f64 as double, i64 as i64, bool as i64 0/1, a
pointer as a pointer). The status is 0 for success, k >= 1 for "raise
`errors[k-1]`"; with a nonzero status the out-slots hold no references.

Which Python values cross the boundary, and as what, is one rule:
`SCALAR_KINDS` (exact Python type -> scalar kind), ints within 64 bits, `None`,
exact tuples, exactly `np.ndarray`s of float64, int64 or bool in native byte
order with aligned data (`ArrayType(dtype, ndim)`), and callables by identity
(`Identity`: native code specialized to that very function). `abi_type`
applies it in Python (the dispatcher's signatures); `_EntryBuilder.unbox`
checks the same rule in native code, and tests hold the two to agreement (a
value `abi_type` types as T is taken by an entry for T and comes back equal).

Arrays (`backend.cpu.memory` has the memory layout): an argument array comes
in as its own data, with `mem` null (the caller keeps it alive for the call).
A result array with `mem` non-null is one reference to native memory, which
the entry hands to a new ndarray over the data (shape, strides, writeable;
no copy) whose base is a `PyCapsule` over `mem` with the destructor
`tl_capsule_destructor`: NumPy drops the reference when the last array using
it goes. A result with `mem` null aliases an argument or a constant, so the
entry returns a C-contiguous copy that NumPy owns. If boxing fails, the
entry drops the references of the result's arrays and raises.

`make_entry` generates one C-API function (the `METH_FASTCALL|METH_KEYWORDS`
convention) that first binds the call's arguments to the `Parameters` as
Python does (positionally, by keyword, from defaults), then tries each
`EntrySpec` in order: it checks the bound arguments' types exactly, unboxes
them, calls the native function, and boxes the result or raises. Anything
else (a type no spec takes, a call Python would reject, a keyword name that
is not the interned parameter name) is handed, unchanged, to a Python
`fallback`. It is wrapped with `PyCFunction_NewEx` (one ctypes call, at build
time), so a call costs what calling any builtin costs: no ctypes, no argument
tuple, no Python frame.

A builtin is not a descriptor (it has no `__get__`), so it can serve as a
class's `__call__`: `type(obj).__call__ = entry` makes `obj(x)` run `entry(x)`,
without `obj` as an argument (CPython's `slot_tp_call` calls an unbound
attribute as is).

Lifetime: the builtin's `__self__` is an `EntryState` tuple that owns the
fallback, the `PyMethodDef` (ctypes memory CPython reads while the builtin
exists) and every object the code refers to by address (exception classes
and messages, defaults, parameter names, the functions of `Identity` types),
so all of them live exactly as long as the builtin. The machine code itself
lives as long as the process (`backend.cpu.jit`), as do the native functions
the specs point at.

Object layout facts used here (CPython >= 3.11, 64-bit, not free-threaded):
`PyObject` is `{[2 pointers if Py_TRACE_REFS], ob_refcnt, ob_type}` so
`ob_type` is its last field; `PyVarObject` appends `ob_size`;
`PyFloatObject` appends `double ob_fval`; `PyTupleObject` appends
`PyObject *ob_item[]`. Offsets are read from `__basicsize__`, not hard-coded.
NumPy's (`PyArrayObject_fields`: `data`, `nd`, `dimensions`, `strides`,
`descr`, `flags`; `PyArray_Descr`: `byteorder`, `type_num`; the C-API
functions `PyArray_DescrFromType`, `PyArray_NewFromDescr`, `PyArray_NewCopy`,
`PyArray_SetBaseObject`, called by address) are `backend.cpu.numpy_api`'s,
checked against NumPy when it is imported. An array's type check is
`ob_type == &PyArray_Type` (subclasses go to the fallback).
Every C-API function called is in the stable ABI (`PyObject_Vectorcall` since
3.12; an exported function since 3.9), and reference counts are only changed
through them (`Py_IncRef`, `Py_DecRef`), never inline, since their inline form
differs between CPython versions. Keyword names are matched by identity: a
call site's names are the interned strings of the code object, as are the
parameter names (`sys.intern`), so a name that does not match goes to the
fallback, which binds by equality.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import llvmlite.ir as ir
import numpy as np

from tapeless.backend.cpu import jit, lower, memory, numpy_api
from tapeless.backend.cpu.scalars import LTYPES
from tapeless.errors import InternalError
from tapeless.ir.types import AbstractType, ArrayType, NoneType, Scalar, TupleType

_OB_TYPE = object.__basicsize__ - 8
_OB_SIZE = object.__basicsize__
_FLOAT_VALUE = object.__basicsize__
_TUPLE_ITEMS = tuple.__basicsize__
if float.__basicsize__ != _FLOAT_VALUE + 8 or tuple.__itemsize__ != 8:
    raise ImportError("tapeless.backend.cpu.entry: unexpected CPython object layout")

# Include/methodobject.h. With METH_FASTCALL|METH_KEYWORDS the C function is
#   PyObject *f(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
# with borrowed arguments: the nargs positional ones, then one per name of the
# kwnames tuple (NULL when there are no keywords).
METH_KEYWORDS = 0x0002
METH_FASTCALL = 0x0080

#: The Python types native code takes as scalars, matched exactly (so `bool` is not an
#: `int`, and `np.float64` is not a `float`), and their scalar kinds.
SCALAR_KINDS: dict[type, str] = {float: "f64", int: "i64", bool: "bool"}
_PYTHON_TYPE = {kind: type_ for type_, kind in SCALAR_KINDS.items()}
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


class _MethodDef(ctypes.Structure):
    """struct PyMethodDef { const char *ml_name; PyCFunction ml_meth; int ml_flags; const char *ml_doc; }"""

    _fields_ = (
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    )


_PyCFunction_NewEx = ctypes.pythonapi.PyCFunction_NewEx
_PyCFunction_NewEx.argtypes = (ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.py_object)
_PyCFunction_NewEx.restype = ctypes.py_object

_PTR = ir.PointerType()
_I1, _I8, _C_INT, _I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
_F64 = ir.DoubleType()
_STATUS = _C_INT

# The C-API functions the entry code calls, with their LLVM signatures.
_C_API = {
    "PyLong_AsLongLongAndOverflow": ir.FunctionType(_I64, (_PTR, _PTR)),
    "PyFloat_FromDouble": ir.FunctionType(_PTR, (_F64,)),
    "PyLong_FromLongLong": ir.FunctionType(_PTR, (_I64,)),
    "PyBool_FromLong": ir.FunctionType(_PTR, (_I64,)),  # C long: 64 bits on LP64
    "PyTuple_New": ir.FunctionType(_PTR, (_I64,)),
    "PyTuple_SetItem": ir.FunctionType(_C_INT, (_PTR, _I64, _PTR)),  # steals the item
    "PyErr_SetObject": ir.FunctionType(ir.VoidType(), (_PTR, _PTR)),
    "PyObject_Vectorcall": ir.FunctionType(_PTR, (_PTR, _PTR, _I64, _PTR)),
    "Py_IncRef": ir.FunctionType(ir.VoidType(), (_PTR,)),
    "Py_DecRef": ir.FunctionType(ir.VoidType(), (_PTR,)),
    "PyCapsule_New": ir.FunctionType(_PTR, (_PTR, _PTR, _PTR)),
}

# The NumPy C-API functions the entry code calls (by address: `numpy_api`), with their LLVM
# signatures (`numpy_api` has the C ones).
_NUMPY_API = {
    "PyArray_DescrFromType": (numpy_api.DESCR_FROM_TYPE, ir.FunctionType(_PTR, (_C_INT,))),
    "PyArray_NewFromDescr": (
        numpy_api.NEW_FROM_DESCR,
        ir.FunctionType(_PTR, (_PTR, _PTR, _C_INT, _PTR, _PTR, _PTR, _C_INT, _PTR)),
    ),
    "PyArray_NewCopy": (numpy_api.NEW_COPY, ir.FunctionType(_PTR, (_PTR, _C_INT))),
    "PyArray_SetBaseObject": (numpy_api.SET_BASE_OBJECT, ir.FunctionType(_C_INT, (_PTR, _PTR))),
}

# The LLVM type of each leaf kind of the ABI.
_LEAF_TYPES: dict[str, ir.Type] = {**LTYPES, "ptr": _PTR}

# The C-API function boxing the out-slot of each scalar kind.
_BOX = {"f64": "PyFloat_FromDouble", "i64": "PyLong_FromLongLong", "bool": "PyBool_FromLong"}


@dataclass(frozen=True, eq=False)
class Identity(AbstractType):
    """An argument that must be `value` itself: a function the native code was specialized
    to (compared by identity, like Numba's dispatcher arguments). It has no leaves."""

    value: object

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)

    def __str__(self) -> str:
        return f"is {getattr(self.value, '__qualname__', type(self.value).__name__)}"


class NotNative(Exception):
    """A value that cannot cross into native code; `detail` says what it is, in words."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def abi_type(value: Any) -> AbstractType:
    """The type an entry takes `value` as: the rule `_EntryBuilder.unbox` checks natively.

    Exact `SCALAR_KINDS` types (ints within 64 bits), None, exact tuples of
    such values, and callables by identity; `NotNative` for anything else.
    """
    kind = SCALAR_KINDS.get(type(value))
    if kind == "i64" and not I64_MIN <= value <= I64_MAX:
        raise NotNative("an int that does not fit in 64 bits (native ints are 64-bit)")
    if kind is not None:
        return Scalar(kind)
    if value is None:
        return NoneType()
    if type(value) is tuple:
        return TupleType(tuple(abi_type(v) for v in value))
    if type(value) is np.ndarray:
        return _array_type(value)
    if isinstance(value, np.ndarray):
        raise NotNative(f"an array of type {type(value).__name__} (native arrays are exactly numpy.ndarray)")
    if callable(value):
        return Identity(value)
    raise NotNative(f"a value of type {type(value).__name__}")


def _array_type(value: np.ndarray) -> ArrayType:
    """The `ArrayType` of an exact ndarray (the fields `_EntryBuilder.unbox_array` checks)."""
    dtype = value.dtype
    kind = numpy_api.dtype_kind(dtype)
    if kind is None:
        raise NotNative(f"a {dtype} array (native arrays are float64, int64 or bool)")
    if dtype.byteorder.encode() == numpy_api.SWAPPED_BYTEORDER:
        raise NotNative(f"a {dtype} array in non-native byte order (dtype {dtype.str!r})")
    if not value.flags.aligned:
        raise NotNative(f"an unaligned {dtype} array (native arrays are aligned)")
    return ArrayType(kind, value.ndim)


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """One specialization: argument types, result type, native address, error table."""

    arg_types: tuple[AbstractType, ...]
    result_type: AbstractType
    address: int
    errors: tuple[tuple[type[BaseException], str], ...] = ()


@dataclass(frozen=True, slots=True)
class Parameters:
    """What an entry binds a call's arguments to, as Python binds them to a function's
    positional parameters: `count` of them, their `names` for keyword arguments (None:
    calls with keywords go to the fallback) and the `defaults` of the trailing ones."""

    count: int
    names: tuple[str, ...] | None = None
    defaults: tuple[object, ...] = ()


class EntryState(NamedTuple):
    """The builtin's `__self__`: what the generated code reads (`fallback`, item 0, and
    `retry`, item 1) and keeps alive."""

    fallback: Callable[..., Any]
    retry: Callable[..., Any] | None
    method_def: _MethodDef
    objects: tuple[object, ...]


def leaves(typ: AbstractType) -> list[str]:
    """The scalar kinds of `typ`'s leaves, in ABI order (the lowering's `leaves`, without paths)."""
    return [kind for _, kind in lower.leaves(typ)]


def native_function_type(spec: EntrySpec) -> ir.FunctionType:
    """The LLVM type of `spec`'s native function: `i32 (leaves..., ptr out)`."""
    kinds = [kind for t in spec.arg_types for kind in leaves(t)]
    return ir.FunctionType(_STATUS, [*(_LEAF_TYPES[k] for k in kinds), _PTR])


def _no_abi(typ: AbstractType) -> InternalError:
    return InternalError(f"native entry: no ABI for values of type {typ}")


def _array_slots(typ: AbstractType, first: int) -> Iterator[int]:
    """The out-slot of the `mem` leaf of each array in a `typ` whose leaves start at `first`."""
    if isinstance(typ, ArrayType):
        yield first
    elif isinstance(typ, TupleType):
        for element in typ.elements:
            yield from _array_slots(element, first)
            first += len(leaves(element))


class _EntryBuilder:
    """Emits the entry function; `objects` collects the Python objects its code points at."""

    def __init__(self, symbol: str, retry_status: int | None = None) -> None:
        self.retry_status = retry_status
        self.module = ir.Module(name=symbol)
        self.module.triple = jit.target_triple()
        self.module.data_layout = jit.data_layout()
        fnty = ir.FunctionType(_PTR, (_PTR, _PTR, _I64, _PTR))
        self.function = ir.Function(self.module, fnty, symbol)
        self.builder = ir.IRBuilder(self.function.append_basic_block("entry"))
        self.objects: dict[int, object] = {}
        self.overflow = self.builder.alloca(_C_INT, name="overflow")

    def block(self, name: str) -> ir.Block:
        return self.function.append_basic_block(name)

    def address_of(self, obj: object) -> int:
        """`obj`'s address, which the code may use while the builtin lives (see `EntryState`)."""
        self.objects[id(obj)] = obj
        return id(obj)

    def pointer_to(self, obj: object) -> ir.Constant:
        return ir.Constant(_I64, self.address_of(obj)).inttoptr(_PTR)

    def call(self, name: str, *args: ir.Value) -> ir.Value:
        """Call the C-API function `name` (declared on first use)."""
        try:
            fn = self.module.get_global(name)
        except KeyError:
            fn = ir.Function(self.module, _C_API[name], name)
        return self.builder.call(fn, args)

    def call_numpy(self, name: str, *args: ir.Value) -> ir.Value:
        """Call the NumPy C-API function `name` (by its address)."""
        address, fnty = _NUMPY_API[name]
        return self.builder.call(self.builder.inttoptr(_I64(address), fnty.as_pointer()), args)

    def decref_memory(self, mem: ir.Value) -> None:
        """Emit: drop a reference to native memory `mem` (non-null)."""
        self.builder.call(memory.declare(self.module, memory.DECREF), [mem])

    def unless_null(self, value: ir.Value, make: Callable[[], ir.Value]) -> ir.Value:
        """Emit: the pointer `make()` emits where `value` is not NULL, else NULL."""
        b = self.builder
        before, go, done = b.block, self.block("nonnull"), self.block("joined")
        b.cbranch(b.icmp_unsigned("!=", value, _PTR(None)), go, done)
        b.position_at_end(go)
        made = make()
        after = b.block
        b.branch(done)
        b.position_at_end(done)
        result = b.phi(_PTR)
        result.add_incoming(_PTR(None), before)
        result.add_incoming(made, after)
        return result

    def out_slot(self, out: ir.Value, index: int) -> ir.Value:
        """The address of out-slot `index`."""
        return self.builder.gep(out, [_I64(index)], source_etype=_I64)

    def field(self, ptr: ir.Value, offset: int, typ: ir.Type) -> ir.Value:
        """Load the `typ` at byte `offset` of `ptr`."""
        address = self.builder.gep(ptr, [ir.Constant(_I64, offset)], source_etype=ir.IntType(8))
        return self.builder.load(address, typ=typ)

    def slot(self, array: ir.Value, index: ir.Value | int) -> ir.Value:
        """The address of pointer `index` of `array`."""
        i = _I64(index) if isinstance(index, int) else index
        return self.builder.gep(array, [i], source_etype=_PTR)

    def require(self, condition: ir.Value, fail: ir.Block) -> None:
        """Go on if `condition` holds, else branch to `fail`."""
        ok = self.block("ok")
        self.builder.cbranch(condition, ok, fail)
        self.builder.position_at_end(ok)

    def is_object(self, value: ir.Value, obj: object) -> ir.Value:
        return self.builder.icmp_unsigned("==", value, self.pointer_to(obj))

    # -- binding --------------------------------------------------------------------
    def bind(
        self, params: Parameters, args: ir.Value, nargs: ir.Value, kwnames: ir.Value, fail: ir.Block
    ) -> ir.Value:
        """Emit: an array of the `params.count` objects the call binds, in parameter order
        (borrowed), or a branch to `fail` where Python would raise (too many arguments, an
        unknown or repeated keyword, a missing argument) or the name is not the interned one."""
        b = self.builder
        bound = b.alloca(_PTR, size=params.count, name="bound")
        required = params.count - len(params.defaults)
        for i in range(params.count):
            default = self.pointer_to(params.defaults[i - required]) if i >= required else _PTR(None)
            b.store(default, self.slot(bound, i))
        self.require(b.icmp_signed("<=", nargs, _I64(params.count)), fail)
        self.positional(bound, params.count, args, nargs)
        if params.names is None:
            self.require(b.icmp_unsigned("==", kwnames, _PTR(None)), fail)
        else:
            self.keywords(params.names, bound, args, nargs, kwnames, fail)
        for i in range(required):
            given = b.load(self.slot(bound, i), typ=_PTR)
            self.require(b.icmp_unsigned("!=", given, _PTR(None)), fail)
        return bound

    def positional(self, bound: ir.Value, count: int, args: ir.Value, nargs: ir.Value) -> None:
        """Emit: bound[i] = args[i] for i < nargs <= count (a switch into a chain of copies)."""
        b = self.builder
        done = self.block("positional_done")
        switch = b.switch(nargs, done)
        copies = [self.block(f"copy{i}") for i in range(count)]
        for i in reversed(range(count)):
            switch.add_case(_I64(i + 1), copies[i])
            b.position_at_end(copies[i])
            b.store(b.load(self.slot(args, i), typ=_PTR), self.slot(bound, i))
            b.branch(copies[i - 1] if i > 0 else done)
        b.position_at_end(done)

    def keywords(
        self,
        names: Sequence[str],
        bound: ir.Value,
        args: ir.Value,
        nargs: ir.Value,
        kwnames: ir.Value,
        fail: ir.Block,
    ) -> None:
        """Emit: for each keyword j, bound[i] = args[nargs + j] where its name is (by identity)
        parameter i's interned name; `fail` for any other name, or if i < nargs (bound twice)."""
        b = self.builder
        count_names, loop, following, done = (
            self.block(s) for s in ("keyword_count", "keyword", "keyword_next", "keywords_done")
        )
        b.cbranch(b.icmp_unsigned("==", kwnames, _PTR(None)), done, count_names)
        b.position_at_end(count_names)
        count = self.field(kwnames, _OB_SIZE, _I64)
        b.cbranch(b.icmp_signed(">", count, _I64(0)), loop, done)
        b.position_at_end(loop)
        j = b.phi(_I64, name="j")
        j.add_incoming(_I64(0), count_names)
        items = b.gep(kwnames, [_I64(_TUPLE_ITEMS)], source_etype=ir.IntType(8))
        name = b.load(self.slot(items, j), typ=_PTR)
        value = b.load(self.slot(args, b.add(nargs, j)), typ=_PTR)
        switch = b.switch(b.ptrtoint(name, _I64), fail)
        for i, param in enumerate(names):
            case = self.block(f"keyword{i}")
            switch.add_case(_I64(self.address_of(sys.intern(param))), case)
            b.position_at_end(case)
            self.require(b.icmp_signed("<=", nargs, _I64(i)), fail)
            b.store(value, self.slot(bound, i))
            b.branch(following)
        b.position_at_end(following)
        successor = b.add(j, _I64(1))
        j.add_incoming(successor, following)
        b.cbranch(b.icmp_signed("<", successor, count), loop, done)
        b.position_at_end(done)

    # -- values -----------------------------------------------------------------------
    def unbox(self, obj: ir.Value, typ: AbstractType, fail: ir.Block) -> list[ir.Value]:
        """The native leaves of Python object `obj`, or a branch to `fail` if it is not a `typ`
        (the rule of `abi_type`)."""
        b = self.builder
        if isinstance(typ, NoneType | Identity):
            self.require(self.is_object(obj, typ.value if isinstance(typ, Identity) else None), fail)
            return []
        if isinstance(typ, Scalar) and typ.kind == "bool":
            # True and False are the only bools: identity is the exact type check.
            is_true = self.is_object(obj, True)
            self.require(b.or_(is_true, self.is_object(obj, False)), fail)
            return [is_true]
        if isinstance(typ, ArrayType):
            return self.unbox_array(obj, typ, fail)
        if not isinstance(typ, TupleType | Scalar) or (
            isinstance(typ, Scalar) and typ.kind not in _PYTHON_TYPE
        ):
            raise _no_abi(typ)
        type_ = self.field(obj, _OB_TYPE, _PTR)
        if isinstance(typ, Scalar):
            self.require(self.is_object(type_, _PYTHON_TYPE[typ.kind]), fail)
            if typ.kind == "f64":
                return [self.field(obj, _FLOAT_VALUE, _F64)]
            value = self.call("PyLong_AsLongLongAndOverflow", obj, self.overflow)
            in_range = b.icmp_signed("==", b.load(self.overflow, typ=_C_INT), _C_INT(0))
            self.require(in_range, fail)
            return [value]
        self.require(self.is_object(type_, tuple), fail)
        size = self.field(obj, _OB_SIZE, _I64)
        self.require(b.icmp_signed("==", size, _I64(len(typ.elements))), fail)
        values = []
        for i, element in enumerate(typ.elements):
            item = self.field(obj, _TUPLE_ITEMS + 8 * i, _PTR)
            values += self.unbox(item, element, fail)
        return values

    def unbox_array(self, obj: ir.Value, typ: ArrayType, fail: ir.Block) -> list[ir.Value]:
        """The leaves `[null mem, data, shape..., strides...]` of ndarray `obj`, or a branch to
        `fail` unless it is exactly an ndarray of `typ.ndim` dimensions whose dtype's type_num
        is one of `typ.dtype`, in native byte order, with aligned data (`_array_type`)."""
        b = self.builder
        self.require(self.is_object(self.field(obj, _OB_TYPE, _PTR), np.ndarray), fail)
        nd = self.field(obj, numpy_api.ARRAY_ND, _C_INT)
        self.require(b.icmp_signed("==", nd, _C_INT(typ.ndim)), fail)
        descr = self.field(obj, numpy_api.ARRAY_DESCR, _PTR)
        type_num = self.field(descr, numpy_api.DESCR_TYPE_NUM, _C_INT)
        known: ir.Value = _I1(0)
        for num in sorted(numpy_api.TYPE_NUMS[typ.dtype]):
            known = b.or_(known, b.icmp_signed("==", type_num, _C_INT(num)))
        self.require(known, fail)
        byteorder = self.field(descr, numpy_api.DESCR_BYTEORDER, _I8)
        self.require(b.icmp_unsigned("!=", byteorder, _I8(numpy_api.SWAPPED_BYTEORDER[0])), fail)
        flags = self.field(obj, numpy_api.ARRAY_FLAGS, _C_INT)
        aligned = b.and_(flags, _C_INT(numpy_api.ALIGNED))
        self.require(b.icmp_unsigned("!=", aligned, _C_INT(0)), fail)
        data = self.field(obj, numpy_api.ARRAY_DATA, _PTR)
        dims = self.field(obj, numpy_api.ARRAY_DIMENSIONS, _PTR)
        strides = self.field(obj, numpy_api.ARRAY_STRIDES, _PTR)
        shape = [self.field(dims, 8 * k, _I64) for k in range(typ.ndim)]
        steps = [self.field(strides, 8 * k, _I64) for k in range(typ.ndim)]
        return [_PTR(None), data, *shape, *steps]

    def box(self, out: ir.Value, typ: AbstractType, first: int) -> ir.Value:
        """A new reference to the Python value of `typ` whose leaves are the out-slots from
        `first` on (NULL on error; the arrays' memory is released then too)."""
        b = self.builder
        if isinstance(typ, NoneType):
            none = self.pointer_to(None)
            self.call("Py_IncRef", none)
            return none
        if isinstance(typ, Scalar) and typ.kind in _BOX:
            value = b.load(self.out_slot(out, first), typ=_F64 if typ.kind == "f64" else _I64)
            return self.call(_BOX[typ.kind], value)
        if isinstance(typ, ArrayType):
            return self.box_array(out, typ, first)
        if not isinstance(typ, TupleType):
            raise _no_abi(typ)
        tup = self.call("PyTuple_New", _I64(len(typ.elements)))
        with b.if_then(b.icmp_unsigned("==", tup, _PTR(None)), likely=False):
            self.release(out, typ, first)
        return self.unless_null(tup, lambda: self.fill(tup, out, typ, first))

    def fill(self, tup: ir.Value, out: ir.Value, typ: TupleType, first: int) -> ir.Value:
        """Emit: box the elements of `typ` into the new tuple `tup`; `tup`, or NULL (and `tup`
        dropped) if an element could not be boxed."""
        b = self.builder
        failed: ir.Value = _I1(0)
        for i, element in enumerate(typ.elements):
            item = self.box(out, element, first)
            first += len(leaves(element))
            self.call("PyTuple_SetItem", tup, _I64(i), item)  # a NULL item is dropped below
            failed = b.or_(failed, b.icmp_unsigned("==", item, _PTR(None)))
        with b.if_then(failed, likely=False):
            self.call("Py_DecRef", tup)
        return b.select(failed, _PTR(None), tup)

    def release(self, out: ir.Value, typ: AbstractType, first: int) -> None:
        """Emit: drop the memory references of the arrays of a `typ` at out-slots `first`...
        (a result that will not be boxed)."""
        b = self.builder
        for slot in _array_slots(typ, first):
            mem = b.load(self.out_slot(out, slot), typ=_PTR)
            with b.if_then(b.icmp_unsigned("!=", mem, _PTR(None))):
                self.decref_memory(mem)

    def box_array(self, out: ir.Value, typ: ArrayType, first: int) -> ir.Value:
        """A new ndarray from the array leaves at out-slots `first`...: over the native data,
        which it then owns, when `mem` is not null; else (the data belongs to an argument or a
        constant) a C-contiguous copy that NumPy owns."""
        b = self.builder
        mem = b.load(self.out_slot(out, first), typ=_PTR)
        data = b.load(self.out_slot(out, first + 1), typ=_PTR)
        shape, strides = self.out_slot(out, first + 2), self.out_slot(out, first + 2 + typ.ndim)
        owned = b.icmp_unsigned("!=", mem, _PTR(None))
        # A new reference (to a builtin descr: never NULL), which NewFromDescr steals.
        descr = self.call_numpy("PyArray_DescrFromType", _C_INT(numpy_api.TYPE_NUM[typ.dtype]))
        flags = b.select(owned, _C_INT(numpy_api.WRITEABLE), _C_INT(0))
        array_type = self.pointer_to(np.ndarray)
        view = self.call_numpy(
            "PyArray_NewFromDescr", array_type, descr, _C_INT(typ.ndim), shape, strides, data, flags, _PTR(None)
        )
        with b.if_then(b.and_(owned, b.icmp_unsigned("==", view, _PTR(None))), likely=False):
            self.decref_memory(mem)
        with b.if_else(owned) as (then, otherwise):
            with then:
                adopted = self.unless_null(view, lambda: self.adopt(view, mem))
                adopted_end = b.block
            with otherwise:
                copied = self.unless_null(view, lambda: self.copy(view))
                copied_end = b.block
        result = b.phi(_PTR)
        result.add_incoming(adopted, adopted_end)
        result.add_incoming(copied, copied_end)
        return result

    def adopt(self, view: ir.Value, mem: ir.Value) -> ir.Value:
        """Emit: make the new ndarray `view` the owner of the reference to `mem` (its base: a
        capsule that drops it); `view`, or NULL (`view` and the reference dropped)."""
        b = self.builder
        destructor = memory.declare(self.module, memory.CAPSULE_DESTRUCTOR)
        capsule = self.call("PyCapsule_New", mem, _PTR(None), destructor)
        with b.if_then(b.icmp_unsigned("==", capsule, _PTR(None)), likely=False):
            self.decref_memory(mem)

        def set_base() -> ir.Value:
            # Steals the capsule, even when it fails.
            status = self.call_numpy("PyArray_SetBaseObject", view, capsule)
            return b.select(b.icmp_signed("==", status, _C_INT(0)), view, _PTR(None))

        adopted = self.unless_null(capsule, set_base)
        with b.if_then(b.icmp_unsigned("==", adopted, _PTR(None)), likely=False):
            self.call("Py_DecRef", view)
        return adopted

    def copy(self, view: ir.Value) -> ir.Value:
        """Emit: a C-contiguous copy of the new ndarray `view`, which is dropped (NULL on error)."""
        copied = self.call_numpy("PyArray_NewCopy", view, _C_INT(numpy_api.NPY_CORDER))
        self.call("Py_DecRef", view)
        return copied

    # -- calls ------------------------------------------------------------------------
    def spec(self, spec: EntrySpec, bound: ir.Value, count: int, out: ir.Value) -> None:
        """Emit: if the `count` bound arguments match `spec`, call it and return; else fall through."""
        b = self.builder
        if len(spec.arg_types) != count:
            raise InternalError(f"native entry: a spec of {len(spec.arg_types)} arguments for {count} parameters")
        mismatch = self.block("mismatch")
        native_args = []
        for i, typ in enumerate(spec.arg_types):
            obj = b.load(self.slot(bound, i), typ=_PTR)
            native_args += self.unbox(obj, typ, mismatch)
        native_fn = b.inttoptr(_I64(spec.address), native_function_type(spec).as_pointer())
        status = b.call(native_fn, [*native_args, out])
        raised = self.block("raised")
        self.require(b.icmp_signed("==", status, _STATUS(0)), raised)
        b.ret(self.box(out, spec.result_type, 0))
        b.position_at_end(raised)
        if self.retry_status is not None:
            retry, other = self.block("retry"), self.block("other_status")
            b.cbranch(b.icmp_signed("==", status, _STATUS(self.retry_status)), retry, other)
            b.position_at_end(retry)
            self_ = self.function.args[0]
            again = self.field(self_, _TUPLE_ITEMS + 8, _PTR)  # EntryState.retry is item 1
            b.ret(self.call("PyObject_Vectorcall", again, bound, _I64(count), _PTR(None)))
            b.position_at_end(other)
        self.raise_status(status, spec.errors)
        b.position_at_end(mismatch)

    def raise_status(
        self, status: ir.Value, errors: Sequence[tuple[type[BaseException], str]]
    ) -> None:
        """Emit: set the Python exception that `status` stands for and return NULL."""
        b = self.builder
        unknown = self.block("unknown_status")
        switch = b.switch(status, unknown)
        for k, (exc_class, message) in enumerate(errors, start=1):
            block = self.block(f"status{k}")
            switch.add_case(_STATUS(k), block)
            b.position_at_end(block)
            self.set_error(exc_class, message)
        b.position_at_end(unknown)
        self.set_error(InternalError, "native code returned an unknown status")

    def set_error(self, exc_class: type[BaseException], message: str) -> None:
        self.call("PyErr_SetObject", self.pointer_to(exc_class), self.pointer_to(message))
        self.builder.ret(_PTR(None))

    def fallback(self, args: ir.Value, nargs: ir.Value, kwnames: ir.Value) -> None:
        """Emit: return fallback(*args, **kwargs), with `fallback` read from `self`."""
        self_ = self.function.args[0]
        fallback = self.field(self_, _TUPLE_ITEMS, _PTR)  # EntryState.fallback is item 0
        self.builder.ret(self.call("PyObject_Vectorcall", fallback, args, nargs, kwnames))


def _build(
    specs: Sequence[EntrySpec], params: Parameters, symbol: str, retry_status: int | None
) -> tuple[ir.Module, list[object]]:
    """The entry function `symbol` for `specs`, and the objects its code points at."""
    e = _EntryBuilder(symbol, retry_status)
    _self, args, nargs, kwnames = e.function.args
    n_out = max([1, *(len(leaves(s.result_type)) for s in specs)])
    out = e.builder.alloca(ir.ArrayType(_I64, n_out), name="out")
    fallback = e.block("fallback")
    if specs:
        bound = e.bind(params, args, nargs, kwnames, fallback)
        for spec in specs:
            e.spec(spec, bound, params.count, out)
    e.builder.branch(fallback)
    e.builder.position_at_end(fallback)
    e.fallback(args, nargs, kwnames)
    return e.module, list(e.objects.values())


def make_entry(
    specs: Sequence[EntrySpec],
    fallback: Callable[..., Any],
    name: str,
    *,
    parameters: Parameters | None = None,
    retry: Callable[..., Any] | None = None,
    retry_status: int | None = None,
) -> Callable[..., Any]:
    """A builtin `name(*args, **kwargs)` that runs the first spec whose argument types match exactly.

    Binding: the arguments are bound to `parameters` as Python would bind
    them (default: as many positional parameters as the specs take, no
    keywords, no defaults). Matching (`abi_type`): a `float` (exactly;
    subclasses such as `np.float64` do not match) is f64; an `int` (exactly,
    so not a `bool`) in the int64 range is i64; `True`/`False` are bool;
    `None` is None; a `tuple` (exactly) of the right length matches a
    `TupleType` whose elements match; an `np.ndarray` (exactly) of the rank
    and dtype, in native byte order and aligned, matches an `ArrayType`;
    `Identity(obj)` matches `obj` only. The result is boxed as `float`, `int`,
    `bool`, `None`, `tuple` and `np.ndarray` (see the module docstring for
    who owns an array's memory); a nonzero
    status raises `exc_class(message)` from the spec's `errors`. When the
    call cannot be bound or no spec matches, it returns
    `fallback(*args, **kwargs)` with the call's own arguments. With `retry`,
    a native status equal to `retry_status` returns `retry(*bound)` instead of
    raising (the CPU backend reruns a call that ran out of stack).
    """
    if parameters is None:
        parameters = Parameters(len(specs[0].arg_types) if specs else 0)
    symbol = jit.unique_name(f"entry.{name}")
    module, objects = _build(specs, parameters, symbol, retry_status if retry is not None else None)
    # The entry is straight-line checks and C-API calls: O1 calls as fast as O3
    # (measured) and compiles faster.
    jit.compile_module(str(module), opt_level=1)
    method_def = _MethodDef(name.encode(), jit.address(symbol), METH_FASTCALL | METH_KEYWORDS, None)
    state = EntryState(fallback, retry, method_def, tuple(objects))
    return _PyCFunction_NewEx(ctypes.byref(method_def), state, __name__)


__all__ = [
    "SCALAR_KINDS",
    "EntrySpec",
    "Identity",
    "NotNative",
    "Parameters",
    "abi_type",
    "leaves",
    "make_entry",
    "native_function_type",
]
