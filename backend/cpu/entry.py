"""Python -> native entries: a CPython builtin, written in LLVM IR, in front of native code.

A native function of the backend has the fixed ABI

    i32 @f(<leaf args by value>..., ptr %out)

where the leaves of an argument type are: `Scalar("f64")` -> double,
`Scalar("i64")` -> i64, `Scalar("bool")` -> i1, `NoneType()` -> nothing, a
`TupleType` -> its elements' leaves in order. The result's leaves are written
to `out`, one 8-byte slot each (f64 as double, i64 as i64, bool as i64 0/1).
The status is 0 for success, k >= 1 for "raise `errors[k-1]`".

`make_entry` generates one C-API function (the `METH_FASTCALL|METH_KEYWORDS`
convention) that tries each `EntrySpec` in order: it checks the arguments'
Python types exactly (see `make_entry`), unboxes them, calls the native
function, and boxes the result or raises; anything else is handed, unchanged,
to a Python `fallback`. It is wrapped with `PyCFunction_NewEx` (one ctypes
call, at build time), so a call costs what calling any builtin costs: no
ctypes, no argument tuple, no Python frame.

A builtin is not a descriptor (it has no `__get__`), so it can serve as a
class's `__call__`: `type(obj).__call__ = entry` makes `obj(x)` run `entry(x)`,
without `obj` as an argument (CPython's `slot_tp_call` calls an unbound
attribute as is).

Lifetime: the builtin's `__self__` is an `EntryState` tuple that owns the
fallback, the `PyMethodDef` (ctypes memory CPython reads while the builtin
exists) and the exception classes and messages the code refers to by
address, so all of them live exactly as long as the builtin. The machine code
itself lives as long as the process (`backend.cpu.jit`), as do the native
functions the specs point at.

Object layout facts used here (CPython >= 3.11, 64-bit, not free-threaded):
`PyObject` is `{[2 pointers if Py_TRACE_REFS], ob_refcnt, ob_type}` so
`ob_type` is its last field; `PyVarObject` appends `ob_size`;
`PyFloatObject` appends `double ob_fval`; `PyTupleObject` appends
`PyObject *ob_item[]`. Offsets are read from `__basicsize__`, not hard-coded.
Every C-API function called is in the stable ABI (`PyObject_Vectorcall` since
3.12; an exported function since 3.9), and reference counts are only changed
through them (`Py_IncRef`, `Py_DecRef`), never inline, since their inline form
differs between CPython versions.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import llvmlite.ir as ir

from tapeless.backend.cpu import jit
from tapeless.errors import InternalError
from tapeless.ir.types import AbstractType, NoneType, Scalar, TupleType

_OB_TYPE = object.__basicsize__ - 8
_OB_SIZE = object.__basicsize__
_FLOAT_VALUE = object.__basicsize__
_TUPLE_ITEMS = tuple.__basicsize__
if float.__basicsize__ != _FLOAT_VALUE + 8 or tuple.__itemsize__ != 8:
    raise ImportError("tapeless.backend.cpu.entry: unexpected CPython object layout")

# Include/methodobject.h. With METH_FASTCALL|METH_KEYWORDS the C function is
#   PyObject *f(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
# with borrowed arguments and kwnames NULL when there are no keywords.
METH_KEYWORDS = 0x0002
METH_FASTCALL = 0x0080


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
_I1, _C_INT, _I64, _F64 = ir.IntType(1), ir.IntType(32), ir.IntType(64), ir.DoubleType()
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
}

# Native leaf type of each scalar kind, and the C-API function boxing its out-slot.
_LEAF = {"f64": _F64, "i64": _I64, "bool": _I1}
_BOX = {"f64": "PyFloat_FromDouble", "i64": "PyLong_FromLongLong", "bool": "PyBool_FromLong"}


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """One specialization: argument types, result type, native address, error table."""

    arg_types: tuple[AbstractType, ...]
    result_type: AbstractType
    address: int
    errors: tuple[tuple[type[BaseException], str], ...] = ()


class EntryState(NamedTuple):
    """The builtin's `__self__`: what the generated code reads (`fallback`, item 0, and
    `retry`, item 1) and keeps alive."""

    fallback: Callable[..., Any]
    retry: Callable[..., Any] | None
    method_def: _MethodDef
    objects: tuple[object, ...]


def leaves(typ: AbstractType) -> list[str]:
    """The scalar kinds of `typ`'s leaves, in ABI order; `InternalError` for other types."""
    if isinstance(typ, Scalar) and typ.value is None and typ.kind in _LEAF:
        return [typ.kind]
    if isinstance(typ, NoneType):
        return []
    if isinstance(typ, TupleType):
        return [kind for element in typ.elements for kind in leaves(element)]
    raise InternalError(f"native entry: no ABI for values of type {typ}")


def native_function_type(spec: EntrySpec) -> ir.FunctionType:
    """The LLVM type of `spec`'s native function: `i32 (leaves..., ptr out)`."""
    kinds = [kind for t in spec.arg_types for kind in leaves(t)]
    return ir.FunctionType(_STATUS, [*(_LEAF[k] for k in kinds), _PTR])


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

    def pointer_to(self, obj: object) -> ir.Constant:
        """A pointer constant to `obj` (kept alive by the builtin: see `EntryState`)."""
        self.objects[id(obj)] = obj
        return ir.Constant(_I64, id(obj)).inttoptr(_PTR)

    def call(self, name: str, *args: ir.Value) -> ir.Value:
        """Call the C-API function `name` (declared on first use)."""
        try:
            fn = self.module.get_global(name)
        except KeyError:
            fn = ir.Function(self.module, _C_API[name], name)
        return self.builder.call(fn, args)

    def field(self, ptr: ir.Value, offset: int, typ: ir.Type) -> ir.Value:
        """Load the `typ` at byte `offset` of `ptr`."""
        address = self.builder.gep(ptr, [ir.Constant(_I64, offset)], source_etype=ir.IntType(8))
        return self.builder.load(address, typ=typ)

    def require(self, condition: ir.Value, fail: ir.Block) -> None:
        """Go on if `condition` holds, else branch to `fail`."""
        ok = self.block("ok")
        self.builder.cbranch(condition, ok, fail)
        self.builder.position_at_end(ok)

    def is_object(self, value: ir.Value, obj: object) -> ir.Value:
        return self.builder.icmp_unsigned("==", value, self.pointer_to(obj))

    def unbox(self, obj: ir.Value, typ: AbstractType, fail: ir.Block) -> list[ir.Value]:
        """The native leaves of Python object `obj`, or a branch to `fail` if it is not a `typ`."""
        b = self.builder
        if isinstance(typ, NoneType):
            self.require(self.is_object(obj, None), fail)
            return []
        if isinstance(typ, Scalar) and typ.kind == "bool":
            is_true = self.is_object(obj, True)
            self.require(b.or_(is_true, self.is_object(obj, False)), fail)
            return [is_true]
        type_ = self.field(obj, _OB_TYPE, _PTR)
        if isinstance(typ, Scalar) and typ.kind == "f64":
            self.require(self.is_object(type_, float), fail)
            return [self.field(obj, _FLOAT_VALUE, _F64)]
        if isinstance(typ, Scalar) and typ.kind == "i64":
            # Exact type: bool is its own type, not int.
            self.require(self.is_object(type_, int), fail)
            value = self.call("PyLong_AsLongLongAndOverflow", obj, self.overflow)
            in_range = b.icmp_signed("==", b.load(self.overflow, typ=_C_INT), _C_INT(0))
            self.require(in_range, fail)
            return [value]
        assert isinstance(typ, TupleType)
        self.require(self.is_object(type_, tuple), fail)
        size = self.field(obj, _OB_SIZE, _I64)
        self.require(b.icmp_signed("==", size, _I64(len(typ.elements))), fail)
        values = []
        for i, element in enumerate(typ.elements):
            item = self.field(obj, _TUPLE_ITEMS + 8 * i, _PTR)
            values += self.unbox(item, element, fail)
        return values

    def box(self, out: ir.Value, typ: AbstractType, slots: Iterator[int]) -> ir.Value:
        """A new reference to the Python value of `typ` read from the out-slots (NULL on error)."""
        b = self.builder
        if isinstance(typ, NoneType):
            none = self.pointer_to(None)
            self.call("Py_IncRef", none)
            return none
        if isinstance(typ, Scalar):
            slot = b.gep(out, [_I64(next(slots))], source_etype=_I64)
            value = b.load(slot, typ=_F64 if typ.kind == "f64" else _I64)
            return self.call(_BOX[typ.kind], value)
        assert isinstance(typ, TupleType)
        tup = self.call("PyTuple_New", _I64(len(typ.elements)))
        before, fill, done = b.block, self.block("fill"), self.block("filled")
        b.cbranch(b.icmp_unsigned("!=", tup, _PTR(None)), fill, done)
        b.position_at_end(fill)
        failed: ir.Value = _I1(0)
        for i, element in enumerate(typ.elements):
            item = self.box(out, element, slots)
            self.call("PyTuple_SetItem", tup, _I64(i), item)  # a NULL item is dropped below
            failed = b.or_(failed, b.icmp_unsigned("==", item, _PTR(None)))
        with b.if_then(failed, likely=False):
            self.call("Py_DecRef", tup)
        filled = b.select(failed, _PTR(None), tup)
        after = b.block
        b.branch(done)
        b.position_at_end(done)
        result = b.phi(_PTR)
        result.add_incoming(_PTR(None), before)
        result.add_incoming(filled, after)
        return result

    def spec(self, spec: EntrySpec, args: ir.Value, nargs: ir.Value, out: ir.Value) -> None:
        """Emit: if the arguments match `spec`, call it and return; else fall through."""
        b = self.builder
        native_type = native_function_type(spec)  # first: it rejects types with no ABI
        mismatch = self.block("mismatch")
        self.require(b.icmp_signed("==", nargs, _I64(len(spec.arg_types))), mismatch)
        native_args = []
        for i, typ in enumerate(spec.arg_types):
            obj = b.load(b.gep(args, [_I64(i)], source_etype=_PTR), typ=_PTR)
            native_args += self.unbox(obj, typ, mismatch)
        native_fn = b.inttoptr(_I64(spec.address), native_type.as_pointer())
        status = b.call(native_fn, [*native_args, out])
        raised = self.block("raised")
        self.require(b.icmp_signed("==", status, _STATUS(0)), raised)
        b.ret(self.box(out, spec.result_type, iter(range(len(leaves(spec.result_type))))))
        b.position_at_end(raised)
        if self.retry_status is not None:
            retry, other = self.block("retry"), self.block("other_status")
            b.cbranch(b.icmp_signed("==", status, _STATUS(self.retry_status)), retry, other)
            b.position_at_end(retry)
            self_ = self.function.args[0]
            again = self.field(self_, _TUPLE_ITEMS + 8, _PTR)  # EntryState.retry is item 1
            b.ret(self.call("PyObject_Vectorcall", again, args, nargs, _PTR(None)))
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
    specs: Sequence[EntrySpec], symbol: str, retry_status: int | None
) -> tuple[ir.Module, list[object]]:
    """The entry function `symbol` for `specs`, and the objects its code points at."""
    e = _EntryBuilder(symbol, retry_status)
    _self, args, nargs, kwnames = e.function.args
    n_out = max([1, *(len(leaves(s.result_type)) for s in specs)])
    out = e.builder.alloca(ir.ArrayType(_I64, n_out), name="out")
    dispatch, fallback = e.block("dispatch"), e.block("fallback")
    e.builder.cbranch(e.builder.icmp_unsigned("==", kwnames, _PTR(None)), dispatch, fallback)
    e.builder.position_at_end(dispatch)
    for spec in specs:
        e.spec(spec, args, nargs, out)
    e.builder.branch(fallback)
    e.builder.position_at_end(fallback)
    e.fallback(args, nargs, kwnames)
    return e.module, list(e.objects.values())


def make_entry(
    specs: Sequence[EntrySpec],
    fallback: Callable[..., Any],
    name: str,
    *,
    retry: Callable[..., Any] | None = None,
    retry_status: int | None = None,
) -> Callable[..., Any]:
    """A builtin `name(*args)` that runs the first spec whose argument types match exactly.

    Matching: a `float` (exactly; subclasses such as `np.float64` do not
    match) is f64; an `int` (exactly, so not a `bool`) in the int64 range is
    i64; `True`/`False` are bool; `None` is None; a `tuple` (exactly) of the
    right length matches a `TupleType` whose elements match. The result is
    boxed as `float`, `int`, `bool`, `None` and `tuple`; a nonzero status
    raises `exc_class(message)` from the spec's `errors`. With keyword
    arguments, or when no spec matches, it returns `fallback(*args, **kwargs)`.
    With `retry`, a native status equal to `retry_status` returns `retry(*args)`
    instead of raising (the CPU backend reruns a call that ran out of stack).
    """
    symbol = jit.unique_name(f"entry.{name}")
    module, objects = _build(specs, symbol, retry_status if retry is not None else None)
    # The entry is straight-line checks and C-API calls: O1 calls as fast as O3
    # (measured) and compiles faster.
    jit.compile_module(str(module), opt_level=1)
    method_def = _MethodDef(name.encode(), jit.address(symbol), METH_FASTCALL | METH_KEYWORDS, None)
    state = EntryState(fallback, retry, method_def, tuple(objects))
    return _PyCFunction_NewEx(ctypes.byref(method_def), state, __name__)
