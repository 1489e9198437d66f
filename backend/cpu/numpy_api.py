"""What native code needs of NumPy: C-API addresses, object layouts, BLAS. Verified at import.

NumPy exports its C-API as a table of pointers in the capsule
`numpy._core._multiarray_umath._ARRAY_API` (what `import_array()` reads). The
indices used here are those of numpy/_core/include/numpy/__multiarray_api.h
(NumPy 2.x), which NumPy keeps stable within an ABI version: the table's
first entry (`PyArray_GetNDArrayCVersion`) must return `ABI_VERSION`, and each
function used is called once, here, on known arguments and its result
checked. The struct layouts (`PyArrayObject_fields`, `PyArray_Descr`, from
ndarraytypes.h) are mirrored by ctypes structures and checked against real
arrays and dtypes. Anything unexpected raises `ImportError`, before native
code could misread memory.

BLAS is the OpenBLAS that NumPy's wheels ship (scipy-openblas: ILP64, symbols
`scipy_cblas_<name>64_`), found by `dlsym` through the handle of NumPy's own
extension module, which depends on it: `blas_function("dgemm")`.
"""

from __future__ import annotations

import ctypes
import importlib
import sys
from functools import cache
from typing import Any

import numpy as np

try:
    _multiarray = importlib.import_module("numpy._core._multiarray_umath")
except ImportError:
    raise ImportError("tapeless.backend.cpu.numpy_api: native arrays need NumPy 2.x") from None

#: NPY_ABI_VERSION of NumPy 2.x: the table layout below is that version's.
ABI_VERSION = 0x02000000

#: Indices into the C-API table of the entries used (as in __multiarray_api.h).
API_INDEX = {
    "PyArray_GetNDArrayCVersion": 0,  # unsigned int (void): NPY_ABI_VERSION
    "PyArray_Type": 2,
    "PyArrayDescr_Type": 3,
    "PyArray_DescrFromType": 45,  # PyArray_Descr *(int type_num): a new reference
    "PyArray_NewCopy": 85,  # PyObject *(PyArrayObject *, NPY_ORDER)
    # PyObject *(PyTypeObject *, PyArray_Descr * (stolen), int nd, npy_intp const *dims,
    #            npy_intp const *strides, void *data, int flags, PyObject *obj)
    "PyArray_NewFromDescr": 94,
    "PyArray_SetBaseObject": 282,  # int (PyArrayObject *, PyObject * (stolen, even on failure))
}

# Array flags (ndarraytypes.h) and NPY_ORDER.
C_CONTIGUOUS, F_CONTIGUOUS, OWNDATA, ALIGNED, WRITEABLE = 0x1, 0x2, 0x4, 0x100, 0x400
NPY_CORDER = 0

#: dtype kind -> the type_num of the arrays native code makes, and every type_num it takes:
#: those of the C types that are this dtype here (int64 is NPY_LONG and, on LP64, also
#: NPY_LONGLONG; NumPy treats the two as equal dtypes).
DTYPES = {"f64": np.dtype(np.float64), "i64": np.dtype(np.int64), "bool": np.dtype(np.bool_)}
_C_TYPES = {
    "f64": (np.double, np.longdouble),
    "i64": (np.long, np.longlong, np.intp),
    "bool": (np.bool_,),
}
TYPE_NUM = {kind: dtype.num for kind, dtype in DTYPES.items()}
TYPE_NUMS: dict[str, frozenset[int]] = {
    kind: frozenset(np.dtype(t).num for t in _C_TYPES[kind] if np.dtype(t) == DTYPES[kind])
    for kind in DTYPES
}
#: The `PyArray_Descr.byteorder` of a dtype not in this machine's byte order.
SWAPPED_BYTEORDER = b">" if sys.byteorder == "little" else b"<"


def dtype_kind(dtype: np.dtype) -> str | None:
    """The native kind of arrays of `dtype` ("f64", "i64", "bool") by its type_num, the field
    native code checks; None for any other (byte order aside: see `SWAPPED_BYTEORDER`)."""
    return next((kind for kind, nums in TYPE_NUMS.items() if dtype.num in nums), None)


_HEAD = ctypes.c_char * object.__basicsize__  # PyObject_HEAD, however CPython was built


class ArrayFields(ctypes.Structure):
    """PyArrayObject_fields, as far as native code reads it."""

    _fields_ = (
        ("head", _HEAD),
        ("data", ctypes.c_void_p),
        ("nd", ctypes.c_int),
        ("dimensions", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("base", ctypes.c_void_p),
        ("descr", ctypes.c_void_p),
        ("flags", ctypes.c_int),
    )


class DescrFields(ctypes.Structure):
    """PyArray_Descr, up to `type_num` (the fields NumPy 1.x and 2.x share)."""

    _fields_ = (
        ("head", _HEAD),
        ("typeobj", ctypes.c_void_p),
        ("kind", ctypes.c_char),
        ("type", ctypes.c_char),
        ("byteorder", ctypes.c_char),
        ("former_flags", ctypes.c_char),
        ("type_num", ctypes.c_int),
    )


#: Byte offsets of the fields native code reads.
ARRAY_DATA = ArrayFields.data.offset
ARRAY_ND = ArrayFields.nd.offset
ARRAY_DIMENSIONS = ArrayFields.dimensions.offset
ARRAY_STRIDES = ArrayFields.strides.offset
ARRAY_DESCR = ArrayFields.descr.offset
ARRAY_FLAGS = ArrayFields.flags.offset
DESCR_BYTEORDER = DescrFields.byteorder.offset
DESCR_TYPE_NUM = DescrFields.type_num.offset


def _fail(what: str) -> ImportError:
    return ImportError(
        f"tapeless.backend.cpu.numpy_api: NumPy {np.__version__} does not have the expected "
        f"{what}; native arrays need NumPy 2.x with its standard C-API"
    )


def _api(restype: Any, name: str, *argtypes: Any) -> Any:
    """CPython's C-API function `name`, called with the GIL held (prototypes of its own, so
    other users of `ctypes.pythonapi` are not affected)."""
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


def _api_table() -> dict[str, int]:
    """The entries `API_INDEX` names of the C-API table (each checked non-null), after checking
    the table's ABI version and its type objects."""
    get_pointer = _api(ctypes.c_void_p, "PyCapsule_GetPointer", ctypes.py_object, ctypes.c_char_p)
    try:
        address = get_pointer(_multiarray._ARRAY_API, None)
    except (AttributeError, ValueError):
        raise _fail("C-API capsule _ARRAY_API") from None
    table = (ctypes.c_void_p * (max(API_INDEX.values()) + 1)).from_address(address)
    entries = {name: table[index] or 0 for name, index in API_INDEX.items()}
    if not all(entries.values()):
        raise _fail("C-API table (a null entry)")
    abi_version = ctypes.CFUNCTYPE(ctypes.c_uint)(entries["PyArray_GetNDArrayCVersion"])()
    if abi_version != ABI_VERSION:
        raise _fail(f"C ABI version (got {abi_version:#x}, expected {ABI_VERSION:#x})")
    if (entries["PyArray_Type"], entries["PyArrayDescr_Type"]) != (id(np.ndarray), id(np.dtype)):
        raise _fail("C-API table (PyArray_Type, PyArrayDescr_Type)")
    return entries


_API = _api_table()

#: &PyArray_Type, and the addresses of the C-API functions native code calls.
ARRAY_TYPE = _API["PyArray_Type"]
DESCR_FROM_TYPE = _API["PyArray_DescrFromType"]
NEW_FROM_DESCR = _API["PyArray_NewFromDescr"]
NEW_COPY = _API["PyArray_NewCopy"]
SET_BASE_OBJECT = _API["PyArray_SetBaseObject"]

_incref = _api(None, "Py_IncRef", ctypes.py_object)
_P, _PY, _INT, _INTP = ctypes.c_void_p, ctypes.py_object, ctypes.c_int, ctypes.POINTER(ctypes.c_ssize_t)
_descr_from_type = ctypes.PYFUNCTYPE(_PY, _INT)(DESCR_FROM_TYPE)
_new_from_descr = ctypes.PYFUNCTYPE(_PY, _P, _PY, _INT, _INTP, _INTP, _P, _INT, _P)(NEW_FROM_DESCR)
_new_copy = ctypes.PYFUNCTYPE(_PY, _PY, _INT)(NEW_COPY)
_set_base_object = ctypes.PYFUNCTYPE(_INT, _PY, _PY)(SET_BASE_OBJECT)


def _check_layouts() -> None:
    """Read a strided view and some dtypes through the mirrored structs; compare with NumPy."""
    base = np.arange(60.0).reshape(3, 4, 5)
    view = base[::-1, 1:, ::2]
    fields = ArrayFields.from_address(id(view))
    shape = (ctypes.c_ssize_t * view.ndim).from_address(fields.dimensions or 0)
    strides = (ctypes.c_ssize_t * view.ndim).from_address(fields.strides or 0)
    if (
        fields.data != view.__array_interface__["data"][0]
        or fields.nd != view.ndim
        or tuple(shape) != view.shape
        or tuple(strides) != view.strides
        or fields.base != id(view.base)
        or fields.descr != id(view.dtype)
        or fields.flags != view.flags.num
    ):
        raise _fail("PyArrayObject layout")
    for dtype in (*DTYPES.values(), np.dtype(">f8"), np.dtype("<i8"), np.dtype(np.float32)):
        d = DescrFields.from_address(id(dtype))
        found = (d.typeobj, d.kind, d.type, d.byteorder, d.type_num)
        expected = (id(dtype.type), dtype.kind.encode(), dtype.char.encode(), dtype.byteorder.encode(), dtype.num)
        if found != expected:
            raise _fail(f"PyArray_Descr layout (dtype {dtype.str})")


def _check_functions() -> None:
    """Call each C-API function used once, on arguments whose result is known."""
    for kind, dtype in DTYPES.items():
        if _descr_from_type(TYPE_NUM[kind]) is not dtype:
            raise _fail("PyArray_DescrFromType")
    buffer = np.arange(6, dtype=np.int64)
    dims, strides = (ctypes.c_ssize_t * 2)(3, 2), (ctypes.c_ssize_t * 2)(8, 24)
    descr = DTYPES["i64"]
    _incref(descr)  # stolen
    data = buffer.__array_interface__["data"][0]
    view = _new_from_descr(ARRAY_TYPE, descr, 2, dims, strides, data, WRITEABLE, None)
    if type(view) is not np.ndarray or not np.array_equal(view, buffer.reshape(2, 3).T):
        raise _fail("PyArray_NewFromDescr")
    if not view.flags.writeable or view.flags.owndata or not view.flags.f_contiguous:
        raise _fail("PyArray_NewFromDescr (flags)")
    _incref(buffer)  # stolen
    if _set_base_object(view, buffer) != 0 or view.base is not buffer:
        raise _fail("PyArray_SetBaseObject")
    copy = _new_copy(view, NPY_CORDER)
    if not (np.array_equal(copy, view) and copy.flags.c_contiguous and copy.flags.owndata):
        raise _fail("PyArray_NewCopy")


_check_layouts()
_check_functions()


# -- BLAS ----------------------------------------------------------------------------------
# (symbol prefix, suffix, width of the integer arguments) of the CBLAS interfaces looked
# for, best first: NumPy's scipy-openblas64 (ILP64), then 32-bit-int builds.
_BLAS_FLAVORS = (("scipy_cblas_", "64_", 64), ("scipy_cblas_", "", 32), ("cblas_", "", 32))


@cache
def _blas() -> tuple[ctypes.CDLL, str, str, int] | None:
    """NumPy's CBLAS: (library handle, prefix, suffix, int bits); None if none is found."""
    library = ctypes.CDLL(_multiarray.__file__)  # dlsym here also searches its dependencies
    for prefix, suffix, bits in _BLAS_FLAVORS:
        if hasattr(library, f"{prefix}ddot{suffix}"):
            return library, prefix, suffix, bits
    return None


def blas_int_bits() -> int | None:
    """The width of the integer arguments (sizes, strides) of `blas_function`s: 64 for the
    ILP64 OpenBLAS NumPy ships; None without a BLAS."""
    found = _blas()
    return None if found is None else found[3]


def blas_thread_setter() -> int | None:
    """The address of OpenBLAS's `int openblas_set_num_threads_local(int)` (the threads of
    the calling thread only; returns the previous count), or None without it."""
    found = _blas()
    if found is None:
        return None
    try:
        return ctypes.cast(found[0].openblas_set_num_threads_local, ctypes.c_void_p).value
    except AttributeError:
        return None


def blas_function(name: str) -> int | None:
    """The address of CBLAS routine `name` ("dgemm", "dgemv", "ddot", ...) of NumPy's BLAS
    (C interface, enums as C int, integers of `blas_int_bits`), or None if it has none."""
    found = _blas()
    if found is None:
        return None
    library, prefix, suffix, _ = found
    try:
        return ctypes.cast(getattr(library, f"{prefix}{name}{suffix}"), ctypes.c_void_p).value
    except AttributeError:
        return None


__all__ = [
    "ABI_VERSION", "ALIGNED", "API_INDEX", "ARRAY_DATA", "ARRAY_DESCR", "ARRAY_DIMENSIONS", "ARRAY_FLAGS",
    "ARRAY_ND", "ARRAY_STRIDES", "ARRAY_TYPE", "C_CONTIGUOUS", "DESCR_BYTEORDER",
    "DESCR_FROM_TYPE", "DESCR_TYPE_NUM", "DTYPES", "F_CONTIGUOUS", "NEW_COPY", "NEW_FROM_DESCR",
    "NPY_CORDER", "OWNDATA", "SET_BASE_OBJECT", "SWAPPED_BYTEORDER", "TYPE_NUM",
    "TYPE_NUMS", "WRITEABLE", "ArrayFields", "DescrFields", "blas_function", "blas_int_bits",
    "blas_thread_setter",
    "dtype_kind",
]  # fmt: skip
