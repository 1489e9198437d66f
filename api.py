"""The user entry point: `compile`.

    @tl.compile                       # backend="cpu", the default: native code
    def f(x, y): ...

    tl.compile(f, backend="interp")(1.5, 2.0)   # the reference interpreter

`compile` wraps a Python function in a `CompiledFunction`. Nothing is parsed
until the first call (so a function may refer to globals defined after it);
the graph is then cached. On the interpreter, calling checks the arguments
(ints, floats, bools, None, tuples of those, NumPy float64/int64/bool arrays,
and functions that compiled code returned) and runs it. On the CPU backend
(`backend.cpu`), each argument type signature (a function argument: the
function itself) is compiled once to native code, and the object's
`__call__` is then a builtin that goes straight to it, keywords and defaults
included; calls with NumPy arrays run on the interpreter until native arrays
land.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any, overload

import numpy as np

from tapeless import ad  # noqa: F401  (registers the AD primitives: grad, jvalue, ...)
from tapeless.backend import interp
from tapeless.backend.values import Closure
from tapeless.errors import TapelessError, TapelessTypeError
from tapeless.ir.nodes import Graph
from tapeless.ir.types import AbstractType, typeof
from tapeless.opt import optimize
from tapeless.opt.infer import arg_type


def has_array(args: tuple[Any, ...]) -> bool:
    """Whether `args` hold a NumPy array."""
    return any(isinstance(a, np.ndarray) or (isinstance(a, tuple) and has_array(a)) for a in args)

#: Backends available now, and those later issues will add.
BACKENDS = ("cpu", "interp")
DEFAULT_BACKEND = "cpu"
_PLANNED = ("ptx",)


class CompiledFunction:
    """A Python function compiled by tapeless; call it like the function.

    `graph` is its IR (parsed on first use). `__tapeless_function__` lets the
    front end see through the wrapper when another compiled function calls it.
    """

    __name__: str
    __qualname__: str

    def __init__(self, fn: types.FunctionType, backend: str) -> None:
        functools.update_wrapper(self, fn)
        self._fn = fn
        self.backend = backend
        self._graph: Graph | None = None
        self._entry: Closure | None = None
        self._native = (
            _native_dispatch(self, lambda: self.graph, keywords=True) if backend == "cpu" else None
        )

    @property
    def natives(self) -> dict[Any, Any]:
        """The CPU backend's compiled signatures (`backend.cpu.compiler.Native` per signature)."""
        return self._native.natives if self._native is not None else {}

    @property
    def __tapeless_function__(self) -> types.FunctionType:
        """The Python function this compiles (the front end's way to see through wrappers)."""
        return self._fn

    @property
    def graph(self) -> Graph:
        """The function's graph IR, parsed by the front end on first use."""
        if self._graph is None:
            from tapeless.frontend import parse_function

            self._graph = parse_function(self._fn)
        return self._graph

    def _closure(self) -> Closure:
        if self._entry is None:
            self._entry = interp.Program().closure(self.graph)
        return self._entry

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            args = self._bind_keywords(args, kwargs)
        if self._native is not None and not self._native.interprets(args):
            return self._native.fallback(*args)
        entry = self._closure()
        values = tuple(_check_argument(self, i, a) for i, a in enumerate(args))
        return entry(*values)

    def _bind_keywords(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        sig = inspect.signature(self._fn)
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TapelessTypeError(
                str(e), None, construct=f"call of {self.__name__}"
            ) from None
        bound.apply_defaults()
        return tuple(bound.args)

    def __repr__(self) -> str:
        return f"<tapeless.compile({self.__qualname__}, backend={self.backend!r})>"


def _native_dispatch(owner: Any, graph: Callable[[], Graph], *, keywords: bool = False) -> Any:
    """A CPU-backend dispatcher that installs its native entry as `owner`'s `__call__`
    (`keywords`: the entry binds keyword arguments to the graph's parameter names).

    `owner` gets a class of its own, so that setting `__call__` on it affects
    this object only; calls the entry does not take (new types, keywords,
    arrays) reach `owner`'s original `__call__` through the entry's fallback.
    """
    from tapeless.backend.cpu.compiler import Dispatcher

    base = type(owner)
    owner.__class__ = type(base.__name__, (base,), {})
    slow = functools.partial(base.__call__, owner)

    def install(entry: Callable[..., Any]) -> None:
        type(owner).__call__ = entry if isinstance(entry, types.BuiltinFunctionType) else staticmethod(entry)

    return Dispatcher(getattr(owner, "__name__", "f"), graph, install, slow, keywords=keywords)


def _check_argument(fn: CompiledFunction | GradFunction, index: int, value: Any) -> Any:
    """`value` as the interpreter takes it, or a TapelessTypeError naming the argument."""
    if isinstance(value, Closure):
        return value
    if isinstance(value, CompiledFunction):
        return value._closure()
    if isinstance(value, tuple):
        return tuple(_check_argument(fn, index, v) for v in value)
    detail: str | None = f"values of type {type(value).__name__} are not supported"
    if not (callable(value) or isinstance(value, slice)):
        try:
            typeof(value)
            detail = None
        except TapelessError as e:
            detail = e.message
    if detail is not None:
        raise TapelessTypeError(
            f"argument {index + 1} of {fn.__name__}() has type {type(value).__name__}: {detail}",
            construct=f"call of {fn.__name__}",
            hint=(
                "pass ints, floats, bools, None, tuples of those, NumPy arrays of"
                " float64, int64 or bool, or functions that compiled code returned"
            ),
        )
    return value


@overload
def compile(fn: Callable[..., Any], *, backend: str | None = None) -> CompiledFunction: ...


@overload
def compile(
    fn: None = None, *, backend: str | None = None
) -> Callable[[Callable[..., Any]], CompiledFunction]: ...


def compile(
    fn: Callable[..., Any] | None = None, *, backend: str | None = None
) -> CompiledFunction | Callable[[Callable[..., Any]], CompiledFunction]:
    """Compile `fn` with `backend`; usable as `@compile`, `@compile(backend=...)` or `compile(f)`.

    Parsing happens on the first call; errors in the source are raised then,
    as `TapelessError`s that point at the offending line. `backend` defaults
    to `DEFAULT_BACKEND` ("cpu").
    """
    if backend is None:
        backend = DEFAULT_BACKEND
    if backend not in BACKENDS:
        later = f" ({', '.join(map(repr, _PLANNED))} come in later releases)"
        raise TapelessError(
            f"unknown backend {backend!r}; available: {', '.join(map(repr, BACKENDS))}{later}",
            construct="compile",
            hint='use backend="cpu" or backend="interp"',
        )

    def wrap(f: Callable[..., Any]) -> Any:
        if isinstance(f, GradFunction):
            return GradFunction(f._fn, f._argnums_given, f._with_value, backend)
        if isinstance(f, CompiledFunction):
            out = CompiledFunction(f._fn, backend)
            out._graph = f._graph
            return out
        if not isinstance(f, types.FunctionType):
            raise TapelessTypeError(
                f"compile expects a Python function, got {type(f).__name__}",
                construct="compile",
                hint="decorate a function defined with def or lambda",
            )
        return CompiledFunction(f, backend)

    if fn is None:
        return wrap
    return wrap(fn)


class GradFunction:
    """`grad(fn)` / `value_and_grad(fn)`: the derivative as a function.

    On the CPU backend (the default; a `CompiledFunction`'s own backend when
    `fn` is one) each argument type signature compiles to native code, as
    `compile` does. On the interpreter, calling optimizes the derivative's
    graph for the types of the arguments (`opt.optimize(arg_types=...)`,
    cached per type signature) and runs it. `compile`, `grad` and compiled
    code take it like any function (`__tapeless_graph__`, the unoptimized graph).
    """

    def __init__(self, fn: Any, argnums: Any, with_value: bool, backend: str | None = None) -> None:
        from tapeless.ad.grad import _normalize_argnums

        self._fn = fn
        self._argnums_given = argnums
        self._argnums, self._single = _normalize_argnums(argnums)
        self._with_value = with_value
        self._graph: Graph | None = None
        self._entries: dict[tuple[AbstractType, ...], Closure] = {}
        name = getattr(fn, "__name__", "f")
        self.__name__ = f"{'value_and_grad' if with_value else 'grad'}({name})"
        if backend is None:
            backend = getattr(fn, "backend", DEFAULT_BACKEND)
        self.backend = backend
        self._native = (
            _native_dispatch(self, lambda: self.__tapeless_graph__) if backend == "cpu" else None
        )

    @property
    def natives(self) -> dict[Any, Any]:
        """The CPU backend's compiled signatures (`backend.cpu.compiler.Native` per signature)."""
        return self._native.natives if self._native is not None else {}

    @property
    def __tapeless_graph__(self) -> Graph:
        if self._graph is None:
            from tapeless.ad.grad import grad_graph

            self._graph = grad_graph(
                _graph_of(self._fn), self._argnums, single=self._single, with_value=self._with_value
            )
        return self._graph

    def __call__(self, *args: Any) -> Any:
        if self._native is not None and not self._native.interprets(args):
            return self._native.fallback(*args)
        values = tuple(_check_argument(self, i, a) for i, a in enumerate(args))
        return self._entry(values)(*values)

    def optimized_graph(self, *args: Any) -> Graph:
        """The graph that a call with `args` runs (optimized for their types)."""
        values = tuple(_check_argument(self, i, a) for i, a in enumerate(args))
        return self._entry(values).graph

    def _entry(self, values: tuple[Any, ...]) -> Closure:
        signature = tuple(arg_type(v) for v in values)
        entry = self._entries.get(signature)
        if entry is None:
            graph = self.__tapeless_graph__
            if len(values) == len(graph.parameters):  # (else the interpreter reports the arity)
                graph = optimize(graph, arg_types=signature)
            entry = self._entries[signature] = interp.Program().closure(graph)
        return entry

    def __repr__(self) -> str:
        return f"<tapeless {self.__name__}>"


def _graph_of(fn: Any) -> Graph:
    graph = getattr(fn, "__tapeless_graph__", None)
    if isinstance(graph, Graph):
        return graph
    if isinstance(fn, CompiledFunction):
        return fn.graph
    from tapeless.frontend import parse_function

    return parse_function(fn)


def grad(fn: Any, argnums: int | tuple[int, ...] = 0, *, backend: str | None = None) -> GradFunction:
    """The gradient of `fn` with respect to argument(s) `argnums`.

    `fn` must return a float scalar; the gradient has the structure of the
    argument (a float, a tuple, an array of the same shape). Works on any
    function `compile` takes, on its own results, and inside compiled code.
    """
    return GradFunction(fn, argnums, False, _backend(backend))


def value_and_grad(
    fn: Any, argnums: int | tuple[int, ...] = 0, *, backend: str | None = None
) -> GradFunction:
    """`(fn(*args), grad(fn, argnums)(*args))` in one pass."""
    return GradFunction(fn, argnums, True, _backend(backend))


def _backend(backend: str | None) -> str | None:
    if backend is not None and backend not in BACKENDS:
        raise TapelessError(
            f"unknown backend {backend!r}; available: {', '.join(map(repr, BACKENDS))}",
            construct="grad",
            hint='use backend="cpu" or backend="interp"',
        )
    return backend


def _register_special_forms() -> None:
    from tapeless.frontend.resolve import register_special_form

    register_special_form(grad, "grad")
    register_special_form(value_and_grad, "value_and_grad")


_register_special_forms()


__all__ = ["BACKENDS", "CompiledFunction", "GradFunction", "compile", "grad", "value_and_grad"]
