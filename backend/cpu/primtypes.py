"""The result type of a primitive applied to monomorphic argument types.

Scalar primitives use their own type rules (`Primitive.infer`, the rules the
interpreter's types follow) with constant values dropped; the primitives that
move structure (tuples, functions, AD's sensitivities) have transfer
functions here. A primitive the CPU backend has no lowering for, or types it
cannot represent, give a `TypeInferenceError` at the call.
"""

from __future__ import annotations

from collections.abc import Callable

from tapeless.backend.cpu.specialize import (
    BOOL,
    BOXED,
    EMPTY_ENV,
    F64,
    I64,
    EnvLayout,
    EnvRecord,
    FnSet,
    KeyType,
    describe,
    env_record,
    union,
)
from tapeless.errors import TapelessError, TapelessTypeError, TypeInferenceError
from tapeless.ir.nodes import Apply, Constant
from tapeless.ir.primitives import PRIMITIVES, Primitive
from tapeless.ir.types import AbstractType, ArrayType, NoneType, Scalar, SliceType, TupleType

Rule = Callable[[Apply, list[AbstractType]], AbstractType]

#: Scalar primitives with a native lowering (`lower.py`), typed by their own rules.
SCALAR_PRIMITIVES = frozenset(
    {
        "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "integer_pow",
        "neg", "pos", "abs", "eq", "ne", "lt", "le", "gt", "ge",
        "scalar_min", "scalar_max", "float", "int", "truth", "not", "range_check",
        "exp", "expm1", "log", "log1p", "log2", "log10", "log_base", "sqrt", "math_pow",
        "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh",
        "asinh", "acosh", "atanh", "degrees", "radians", "hypot", "floor", "ceil", "trunc",
        "fabs", "copysign", "fmod", "sign_of", "safe_log", "positive_part",
    }
)  # fmt: skip


#: Primitives with a native lowering for arrays (`arrays.py`), typed by their own rules:
#: elementwise ones (which take scalars too), reductions, linear algebra and shapes.
ELEMENTWISE = frozenset(
    {
        "add", "sub", "mul", "truediv", "floordiv", "mod", "neg", "pos", "pow", "integer_pow",
        "eq", "ne", "lt", "le", "gt", "ge",
        "np_exp", "np_expm1", "np_log", "np_log1p", "np_sqrt", "np_sin", "np_cos", "np_tan",
        "np_arcsin", "np_arccos", "np_arctan", "np_sinh", "np_cosh", "np_tanh", "np_arctan2",
        "np_abs", "np_negative", "np_square", "np_maximum", "np_minimum", "np_power", "np_where",
        "np_sign", "sign_of", "safe_log", "positive_part",
    }
)  # fmt: skip
ARRAY_PRIMITIVES = ELEMENTWISE | frozenset(
    {
        "np_sum", "np_mean", "np_max", "np_min", "unreduce",
        "matmul", "np_dot", "matmul_dx", "matmul_dy", "dot_dx", "dot_dy", "np_outer",
        "transpose", "inverse_axes", "reshape", "shape", "ndim", "size",
        "np_zeros", "np_ones", "np_full", "np_zeros_like", "np_ones_like",
    }
)  # fmt: skip


def has_array(t: AbstractType) -> bool:
    if isinstance(t, TupleType):
        return any(has_array(e) for e in t.elements)
    return isinstance(t, ArrayType)


def primitive_type(
    p: Primitive, node: Apply, args: list[AbstractType], layout: EnvLayout
) -> AbstractType:
    """The type of `p(*args)` at `node`; `layout` is the program's boxed environments'."""
    if p.name in ARRAY_PRIMITIVES and (p.name not in SCALAR_PRIMITIVES or any(map(has_array, args))):
        return _array_primitive(p, node, args)
    if p.name == "env_setitem":
        return _env_setitem(node, args, layout)
    if p.name == "env_getitem":
        return _env_getitem(node, args, layout)
    special = _SPECIAL.get(p.name)
    if special is not None:
        return special(node, args)
    if p.name not in SCALAR_PRIMITIVES:
        raise _unsupported(node, f"the primitive {p.name} has no native lowering yet")
    for t in args:
        if not isinstance(t, Scalar):
            raise _unsupported(node, f"{p.name} of {describe(t)} has no native lowering")
    if p.name in ("scalar_min", "scalar_max") and len({t.kind for t in args if isinstance(t, Scalar)}) > 1:
        raise _unsupported(node, f"{p.name[7:]}() of an int and a float keeps either type")
    if p.name in ("pow", "integer_pow") and all(isinstance(t, Scalar) and t.kind != "f64" for t in args):
        exponent = node.inputs[2]
        negative = isinstance(exponent, Constant) and isinstance(exponent.value, int) and exponent.value < 0
        return F64 if negative else I64
    try:
        out = p.infer(*args)
    except TapelessError as e:
        raise TypeInferenceError(e.message, node.loc, construct=e.construct, hint=e.hint) from None
    if not isinstance(out, Scalar):
        raise _unsupported(node, f"{p.name} gives {describe(out)}")
    return out.without_value()


def _array_primitive(p: Primitive, node: Apply, args: list[AbstractType]) -> AbstractType:
    """An array primitive's own type rule, with constant values dropped (the shape
    operations take their int arguments as values: `reshape(x, (n, 2))`)."""
    given = [_valued(x, t) for x, t in zip(node.inputs[1:], args, strict=False)]
    try:
        out = p.infer(*given, *args[len(given):])
    except TapelessError as e:
        raise TypeInferenceError(e.message, node.loc, construct=e.construct, hint=e.hint) from None
    if p.name in ELEMENTWISE and isinstance(out, ArrayType) and out.ndim == 0:
        return Scalar(out.dtype)  # NumPy unwraps a 0-d result of a ufunc or an operator
    return without_values(out)


def _valued(x: object, t: AbstractType) -> AbstractType:
    """`t` with the value of constant `x` where it is an int, None or a tuple of ints
    (axes and shapes, which array type rules read)."""
    if not isinstance(x, Constant):
        return t
    return _value_type(x.value, t)


def _value_type(v: object, t: AbstractType) -> AbstractType:
    if isinstance(v, int) and not isinstance(v, bool):
        return Scalar("i64", v)
    if isinstance(v, tuple) and isinstance(t, TupleType):
        return TupleType(tuple(_value_type(e, te) for e, te in zip(v, t.elements, strict=True)))
    return t


def without_values(t: AbstractType) -> AbstractType:
    if isinstance(t, Scalar):
        return t.without_value()
    if isinstance(t, TupleType):
        return TupleType(tuple(without_values(e) for e in t.elements))
    if isinstance(t, ArrayType | NoneType):
        return t
    raise TypeInferenceError(f"an array operation giving {describe(t)}")


def refused(node: Apply, what: str) -> TypeInferenceError:
    """The refusal of an array operation native code does not lower (`what`): the
    dispatcher then runs the signature on the interpreter."""
    return TypeInferenceError(
        f"{what} has no native lowering yet",
        node.loc,
        construct="native arrays",
        hint='this signature runs on the interpreter (backend="interp")',
    )


def _unsupported(node: Apply, message: str) -> TypeInferenceError:
    return TypeInferenceError(
        message,
        node.loc,
        construct="native specialization",
        hint='run this function with backend="interp"',
    )


# -- structure -------------------------------------------------------------------
def _make_tuple(node: Apply, args: list[AbstractType]) -> AbstractType:
    return TupleType(tuple(args))


def constant_index(node: Apply, position: int = 2) -> int:
    """The constant int at input `position` of `node` (a tuple index), or an error."""
    i = node.inputs[position]
    if isinstance(i, Constant) and isinstance(i.value, int):
        return int(i.value)
    raise _unsupported(node, "a tuple indexed by a computed int (native tuples take constant indices)")


def _getitem(node: Apply, args: list[AbstractType]) -> AbstractType:
    t = args[0]
    if isinstance(t, ArrayType):
        return _array_index(node, args)
    if not isinstance(t, TupleType):
        raise _unsupported(node, f"indexing {describe(t)}")
    index = node.inputs[2]
    if not (isinstance(index, Constant) and isinstance(index.value, int)):
        if args[1] not in (I64, BOOL):
            raise _unsupported(node, f"a tuple indexed by {describe(args[1])}")
        kinds = set(t.elements)
        if len(kinds) != 1:
            raise _unsupported(
                node, "a computed index into a tuple whose elements differ in type"
            )
        return t.elements[0]
    i = constant_index(node)
    n = len(t.elements)
    if not -n <= i < n:
        raise TypeInferenceError(
            f"tuple index {i} out of range for a tuple of {n}", node.loc, construct="getitem"
        )
    return t.elements[i]


def _array_index(node: Apply, args: list[AbstractType]) -> AbstractType:
    """`x[i]`, `x[i, j]`: ints select along the leading axes (a view, or an element)."""
    index = args[1]
    parts = index.elements if isinstance(index, TupleType) else (index,)
    if not all(part in (I64, BOOL) or isinstance(part, SliceType) for part in parts):
        raise _unsupported(node, "indexing an array by anything but ints and slices")
    return _array_primitive(PRIMITIVES["getitem"], node, args)


def _make_slice(node: Apply, args: list[AbstractType]) -> AbstractType:
    for t in args:
        if t not in (I64, BOOL) and not isinstance(t, NoneType):
            raise _unsupported(node, f"a slice bound that is {describe(t)}")
    return SliceType()


def _len(node: Apply, args: list[AbstractType]) -> AbstractType:
    if not isinstance(args[0], TupleType):
        raise _unsupported(node, f"len of {describe(args[0])}")
    return I64


def _unpack_check(node: Apply, args: list[AbstractType]) -> AbstractType:
    t = args[0]
    n = constant_index(node)
    if not isinstance(t, TupleType) or len(t.elements) != n:
        raise TypeInferenceError(
            f"cannot unpack {describe(t)} into {n} names", node.loc, construct="unpacking"
        )
    return t


def _switch(node: Apply, args: list[AbstractType]) -> AbstractType:
    c, a, b = args
    if c != BOOL:
        raise _unsupported(node, f"a condition that is {describe(c)}")
    out = union(a, b, node)
    assert out is not None
    return out


# -- AD's primitives ---------------------------------------------------------------
def sens_type(t: AbstractType) -> AbstractType:
    """The type of a sensitivity of a value of type `t` (`zeros_like`)."""
    if isinstance(t, Scalar | NoneType | KeyType):
        return F64
    if isinstance(t, ArrayType):
        return ArrayType("f64", t.ndim)
    if isinstance(t, TupleType):
        return TupleType(tuple(sens_type(e) for e in t.elements))
    if isinstance(t, FnSet | EnvRecord):
        return EMPTY_ENV
    raise TypeInferenceError(f"no native sensitivity for {describe(t)}")


def _zeros_like(node: Apply, args: list[AbstractType]) -> AbstractType:
    return sens_type(args[0])


def _gadd(node: Apply, args: list[AbstractType]) -> AbstractType:
    a, b = args
    if a == b and (a in (F64, BOXED) or isinstance(a, ArrayType)):
        return a
    if isinstance(a, TupleType) and isinstance(b, TupleType) and len(a.elements) == len(b.elements):
        return TupleType(tuple(_gadd(node, [x, y]) for x, y in zip(a.elements, b.elements, strict=True)))
    if isinstance(a, EnvRecord) and isinstance(b, EnvRecord):
        out = union(a, b, node)
        assert isinstance(out, EnvRecord)
        for _k, t in out.entries:
            _gadd(node, [t, t])
        return out
    raise _unsupported(node, f"adding sensitivities of {describe(a)} and {describe(b)}")


def _sens_like(node: Apply, args: list[AbstractType]) -> AbstractType:
    d, like = args
    if d == F64 and isinstance(like, Scalar):
        return F64
    if isinstance(d, ArrayType | Scalar) and isinstance(like, ArrayType | Scalar):
        return sens_type(like)
    raise _unsupported(node, f"sens_like of {describe(d)} like {describe(like)}")


def _identity(node: Apply, args: list[AbstractType]) -> AbstractType:
    return args[0]


def _data(t: AbstractType) -> bool:
    if isinstance(t, TupleType):
        return all(_data(e) for e in t.elements)
    return isinstance(t, Scalar | NoneType | ArrayType)


def _jvalue(node: Apply, args: list[AbstractType]) -> AbstractType:
    if not _data(args[0]):
        raise _unsupported(node, "differentiating a function value made at run time")
    return args[0]


def _floats(t: AbstractType) -> bool:
    if isinstance(t, TupleType):
        return all(_floats(e) for e in t.elements)
    return t == F64 or (isinstance(t, ArrayType) and t.dtype == "f64")


def _check_wrt(node: Apply, args: list[AbstractType]) -> AbstractType:
    x = args[0]
    if not _floats(x):
        argnum = constant_index(node)
        raise TapelessTypeError(
            f"cannot differentiate with respect to argument {argnum} of type {describe(x)}",
            node.loc,
            construct="grad",
            hint="pass a float (write 2.0, not 2), or choose another argnum",
        )
    return x


def _grad_seed(node: Apply, args: list[AbstractType]) -> AbstractType:
    if args[0] != F64:
        raise TypeInferenceError(
            f"grad needs a function returning a float; this one returns {describe(args[0])}",
            node.loc,
            construct="grad",
        )
    return F64


def _getitem_sens(node: Apply, args: list[AbstractType]) -> AbstractType:
    x = args[0]
    if isinstance(x, ArrayType):
        _array_index(node, args[:2])
        return sens_type(x)
    if not isinstance(x, TupleType):
        raise _unsupported(node, f"the sensitivity of indexing {describe(x)}")
    i = constant_index(node) % len(x.elements)
    zeros = sens_type(x)
    assert isinstance(zeros, TupleType)
    element = union(zeros.elements[i], args[2], node) or args[2]
    return TupleType((*zeros.elements[:i], element, *zeros.elements[i + 1:]))


def _env_key(node: Apply, env: AbstractType, key: AbstractType) -> tuple[EnvRecord, KeyType]:
    if not isinstance(env, EnvRecord) or not isinstance(key, KeyType):
        raise _unsupported(node, f"an AD environment operation on {describe(env)}")
    return env, key


def _env_setitem(node: Apply, args: list[AbstractType], layout: EnvLayout) -> AbstractType:
    env, key = _env_key(node, args[0], args[1])
    if has_array(args[2]):  # (environments are not reference counted)
        raise _unsupported(node, "an AD environment holding arrays (a derivative of order 2 or more)")
    entries = dict(env.entries)
    stored = layout.box(args[2], node)
    entries[key.key] = union(entries.get(key.key), stored, node) or stored
    return env_record(entries)


def _env_getitem(node: Apply, args: list[AbstractType], layout: EnvLayout) -> AbstractType:
    env, key = _env_key(node, args[0], args[1])
    slot = env.get(key.key)
    read = layout.unbox(slot) if slot is not None else None
    return union(read, args[2], node) or args[2]


_SPECIAL: dict[str, Rule] = {
    "make_tuple": _make_tuple,
    "make_slice": _make_slice,
    "getitem": _getitem,
    "len": _len,
    "unpack_check": _unpack_check,
    "switch": _switch,
    "zeros_like": _zeros_like,
    "gadd": _gadd,
    "sens_like": _sens_like,
    "jvalue": _jvalue,
    "check_wrt": _check_wrt,
    "stop_gradient": _identity,
    "grad_seed": _grad_seed,
    "getitem_sens": _getitem_sens,
}

__all__ = [
    "ARRAY_PRIMITIVES", "ELEMENTWISE", "SCALAR_PRIMITIVES", "constant_index", "has_array", "primitive_type",
    "refused", "sens_type",
]  # fmt: skip
