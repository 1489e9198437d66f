"""What a name that is not a local variable means: globals, cells, builtins.

Names that are not local to the function being lowered are looked up once,
when the function is parsed: in the enclosing function being lowered, then in
the Python closure cells of the function, then in its module's globals, then
in builtins. The object found becomes an IR value here:

- numbers, bools, None, tuples of them and NumPy arrays become constants
  (a global's value is read when the function is first parsed);
- a Python function becomes a graph constant (parsed in turn, and cached, so
  recursion and mutual recursion through globals just work);
- a callable that a primitive `implements` (``math.sin``, ``np.exp``, ``len``)
  becomes that primitive;
- `range`, `min`, `max` are special forms the lowering handles itself;
- a module is only usable as the base of an attribute (``math.pi``);
- anything else is an unknown library object: `UnsupportedSyntax`.
"""

from __future__ import annotations

import builtins
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapeless.errors import Location, UnsupportedSyntax
from tapeless.ir.nodes import Graph
from tapeless.ir.primitives import Primitive, primitive_for

_MISSING = object()

#: Builtins that the lowering expands itself rather than calling.
SPECIAL_FORMS: dict[Any, str] = {builtins.range: "range", builtins.min: "min", builtins.max: "max"}


def register_special_form(obj: Any, name: str) -> None:
    """Let the lowering expand calls of `obj` itself (`tapeless.grad` registers here)."""
    SPECIAL_FORMS[obj] = name


@dataclass(frozen=True, slots=True)
class StaticModule:
    module: types.ModuleType


@dataclass(frozen=True, slots=True)
class SpecialForm:
    name: str


def lookup_global(name: str, fn_globals: dict[str, Any], cells: dict[str, Any]) -> Any:
    """The object `name` denotes for a function, or `_MISSING`."""
    if name in cells:
        return cells[name]
    if name in fn_globals:
        return fn_globals[name]
    return getattr(builtins, name, _MISSING)


def is_missing(obj: Any) -> bool:
    return obj is _MISSING


def closure_cells(fn: types.FunctionType) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
        try:
            cells[name] = cell.cell_contents
        except ValueError:  # an empty cell: the variable is not bound yet
            continue
    return cells


def is_constant_value(obj: Any) -> bool:
    if isinstance(obj, bool | int | float | np.bool_ | np.integer | np.floating) or obj is None:
        return True
    if isinstance(obj, tuple):
        return all(is_constant_value(e) for e in obj)
    return isinstance(obj, np.ndarray) and obj.dtype in (np.float64, np.int64, np.bool_)


def underlying_function(obj: Any) -> types.FunctionType | None:
    """The Python function behind `obj`: itself, or a compiled wrapper's."""
    if isinstance(obj, types.FunctionType):
        return obj
    inner = getattr(obj, "__tapeless_function__", None)
    return inner if isinstance(inner, types.FunctionType) else None


def classify(obj: Any, name: str, loc: Location) -> Any:
    """Map a Python object to what the lowering uses: a primitive, a function
    to parse, a constant value wrapper, a module or a special form."""
    if isinstance(obj, types.ModuleType):
        return StaticModule(obj)
    if _hashable(obj) and obj in SPECIAL_FORMS:
        return SpecialForm(SPECIAL_FORMS[obj])
    if isinstance(obj, Primitive):  # backpropagators call primitives by name
        return obj
    prim = primitive_for(obj)
    if prim is not None:
        return prim
    graph = getattr(obj, "__tapeless_graph__", None)
    if isinstance(graph, Graph):  # grad(f) and friends: graphs already built
        return graph
    fn = underlying_function(obj)
    if fn is not None:
        return fn
    if is_constant_value(obj):
        return ConstantValue(obj)
    what = type(obj).__name__
    raise UnsupportedSyntax(
        f"'{name}' is a {what} that compiled code cannot use",
        loc,
        construct="unknown library call" if callable(obj) else "unsupported global value",
        hint=(
            "tapeless compiles Python functions, math and NumPy functions it knows "
            "(see docs/language.md), and reads numbers, tuples and arrays from globals"
        ),
    )


@dataclass(frozen=True, slots=True)
class ConstantValue:
    value: Any


def _hashable(obj: Any) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True
