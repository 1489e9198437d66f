"""The CPU backend's pipeline and dispatcher: IR in, a native entry out.

`compile_graph(graph, arg_types)` runs optimize -> specialize -> lower ->
LLVM for one argument type signature and returns a `Native` (the entry's
address and ABI, the LLVM IR, and the time each stage took). A `Dispatcher`
caches them per signature and keeps one CPython builtin (`entry.make_entry`)
in front of all of them: a call whose argument types were seen before goes
straight to native code, its arguments bound by the builtin itself
(positional, keywords, defaults); any other call lands in
`Dispatcher.fallback`, which checks the arguments, compiles the new
signature and rebuilds the builtin.

Function arguments are specialized on (as Numba does for dispatcher
arguments): the signature holds the function object itself (`Identity`),
and the code is compiled for a root that passes the function's IR (its
graph, or the primitive of a `math` function) as a constant, so the
optimizer inlines it. Each new function object is a new signature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tapeless.backend.cpu import jit, runtime
from tapeless.backend.cpu.arrays import holds_array
from tapeless.backend.cpu.entry import (
    EntrySpec,
    Identity,
    NotNative,
    Parameters,
    abi_type,
    make_entry,
)
from tapeless.backend.cpu.lower import ModuleLowering
from tapeless.backend.cpu.specialize import Specialization, missing_defaults
from tapeless.errors import (
    ArityError,
    InternalError,
    TapelessError,
    TapelessTypeError,
    TypeInferenceError,
)
from tapeless.ir.nodes import Graph, Node
from tapeless.ir.primitives import Primitive, get, primitive_for
from tapeless.ir.types import AbstractType, NoneType, TupleType


@dataclass
class Native:
    """One compiled signature."""

    spec: EntrySpec
    llvm_ir: str
    specialization: Specialization
    #: Seconds per stage: optimize, specialize, lower, llvm.
    timings: dict[str, float] = field(default_factory=dict)


def signature_of(fn_name: str, args: Sequence[Any]) -> tuple[AbstractType, ...]:
    """The native types of `args` (`entry.abi_type`), or a TapelessTypeError naming the first
    unsupported one (a function argument must be one `function_value` knows)."""
    return tuple(_argument_type(fn_name, i, a) for i, a in enumerate(args))


def _argument_type(fn_name: str, index: int, value: Any) -> AbstractType:
    try:
        typ = abi_type(value)
        for identity in _identities(typ):
            function_value(identity.value)
    except NotNative as e:
        raise TapelessTypeError(
            f"argument {index + 1} of {fn_name}() is {e.detail}; the cpu backend takes floats, ints,"
            " bools, None, tuples of those and functions",
            construct=f"call of {fn_name}",
            hint='convert it (float(x)), or compile with backend="interp"',
        ) from None
    return typ


def function_value(obj: Any) -> Graph | Primitive:
    """The IR function that the function argument `obj` stands for: the primitive of a
    function the front end maps to one (`math.sin`, `abs`), the graph of a tapeless
    gradient or compiled function, or of a Python function (parsed by the front end)."""
    from tapeless.frontend import parse_function
    from tapeless.frontend.resolve import underlying_function

    prim = primitive_for(obj)
    if prim is not None:
        return prim
    graph = getattr(obj, "__tapeless_graph__", None)
    if isinstance(graph, Graph):
        return graph
    fn = underlying_function(obj)
    if fn is not None:
        return parse_function(fn)
    name = getattr(obj, "__qualname__", None)
    what = f"{name} (a {type(obj).__name__})" if isinstance(name, str) else f"a {type(obj).__name__}"
    raise NotNative(
        f"{what}, which native code cannot call (it calls Python functions, compiled ones,"
        " and the math functions tapeless knows)"
    )


def _identities(typ: AbstractType) -> list[Identity]:
    if isinstance(typ, Identity):
        return [typ]
    if isinstance(typ, TupleType):
        return [i for e in typ.elements for i in _identities(e)]
    return []


def _data_type(typ: AbstractType) -> AbstractType:
    """`typ` with each function replaced by None: what is left to pass at run time."""
    if isinstance(typ, Identity):
        return NoneType()
    if isinstance(typ, TupleType):
        return TupleType(tuple(_data_type(e) for e in typ.elements))
    return typ


def bind_functions(
    graph: Graph, arg_types: tuple[AbstractType, ...]
) -> tuple[Graph, tuple[AbstractType, ...]]:
    """`graph` specialized to its function arguments, and its new argument types.

    Without `Identity` types: `graph` and `arg_types` unchanged. Otherwise a
    new root with the same parameters that calls `graph` with each function
    argument replaced by the constant `function_value`, and the types with
    each function replaced by None (the parameter is still passed, unread).
    """
    if not any(_identities(t) for t in arg_types):
        return graph, arg_types
    root = Graph(graph.name, graph.loc)
    params = [root.add_parameter(p.name, p.loc) for p in graph.parameters]
    args = [_bound(root, t, p) for p, t in zip(params, arg_types, strict=True)]
    root.output = root.apply(graph, *args, loc=graph.loc)
    return root, tuple(_data_type(t) for t in arg_types)


def _bound(root: Graph, typ: AbstractType, node: Node) -> Node | Graph | Primitive:
    """What `root` passes for `node`, an argument of `typ`: its functions as constants."""
    if isinstance(typ, Identity):
        return function_value(typ.value)
    if not _identities(typ):
        return node
    assert isinstance(typ, TupleType)
    return root.apply(
        get("make_tuple"),
        *(
            function_value(e.value)
            if isinstance(e, Identity)
            else _bound(root, e, root.apply(get("getitem"), node, i))
            for i, e in enumerate(typ.elements)
        ),
    )


def compile_graph(graph: Graph, arg_types: tuple[AbstractType, ...], *, optimized: bool = False) -> Native:
    """Native code for `graph` called with arguments of `arg_types` (`Identity` types included:
    see `bind_functions`); `optimized`: `graph` is already optimized for them."""
    from tapeless.opt import optimize

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    root, data_types = bind_functions(graph, arg_types)
    program = root if optimized else optimize(root, arg_types=data_types)
    t1 = time.perf_counter()
    spec = Specialization(program, data_types)
    t2 = time.perf_counter()
    try:
        lowering = ModuleLowering(spec, graph.name)
    except TypeInferenceError:
        raise  # (a refusal: the dispatcher runs the signature on the interpreter)
    except (AssertionError, TypeError, KeyError, ValueError, AttributeError) as e:
        # a bug of the lowering: said as one, at the function, never a bare traceback
        raise InternalError(
            f"native lowering of {graph.name} failed: {type(e).__name__}: {e}",
            graph.loc,
            construct="native compilation",
            hint='please report it; backend="interp" runs the function meanwhile',
        ) from e
    llvm_ir = str(lowering.module)
    t3 = time.perf_counter()
    jit.compile_module(llvm_ir)
    address = jit.address(lowering.entry_name)
    t4 = time.perf_counter()
    timings.update(optimize=t1 - t0, specialize=t2 - t1, lower=t3 - t2, llvm=t4 - t3)
    assert spec.root.output is not None
    entry = EntrySpec(arg_types, spec.root.output, address, tuple(runtime.ERRORS))
    return Native(entry, llvm_ir, spec, timings)


def complete_arguments(graph: Graph, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """`args` with the defaults of the parameters they leave out, or an ArityError as the
    interpreter gives it."""
    n, want = len(args), len(graph.parameters)
    least = want - len(graph.defaults)
    if least <= n <= want:
        return args + missing_defaults(graph, n)
    expected = f"{want}" if least == want else f"from {least} to {want}"
    plural = "" if want == 1 else "s"
    raise ArityError(
        f"{name}() takes {expected} positional argument{plural}"
        f" but {n} {'was' if n == 1 else 'were'} given",
        graph.loc,
        hint=f"call {name} with {expected} argument{plural}",
    )


class Dispatcher:
    """Native code for `graph`, compiled per argument type signature on first use.

    `entry` is the builtin installed as the owner's `__call__` (see `install`);
    it binds a call's arguments to the graph's parameters (by position, by
    keyword when `keywords`, from the graph's defaults) and runs the matching
    signature. A call that runs out of the caller's stack comes back through
    `_deep`, which reruns it on a big stack.
    """

    def __init__(
        self,
        name: str,
        graph: Callable[[], Graph],
        install: Callable[[Callable[..., Any]], None],
        slow: Callable[..., Any],
        *,
        keywords: bool = False,
    ) -> None:
        self.name = name
        self._graph = graph
        self._install = install
        self._slow = slow
        self._keywords = keywords
        self.natives: dict[tuple[AbstractType, ...], Native] = {}
        self.refused: set[tuple[AbstractType, ...]] = set()
        self.entry: Callable[..., Any] = self.fallback
        self._entered = False

    def fallback(self, *args: Any, **kwargs: Any) -> Any:
        """A call the entry does not take: compile its signature, rebuild the entry, run it.

        Keywords go to `slow` (the owner's own `__call__`, which binds them,
        raising Python's errors); so do the array signatures native code
        refuses (`interprets`), which run on the interpreter.
        """
        if kwargs or self.interprets(args):
            return self._slow(*args, **kwargs)
        graph = self._graph()
        args = complete_arguments(graph, self.name, args)
        signature = signature_of(self.name, args)
        if signature not in self.natives:
            try:
                self.natives[signature] = compile_graph(graph, signature)
            except TypeInferenceError:
                if not any(map(holds_array, signature)):
                    raise
                self.refused.add(signature)
                return self._slow(*args)
            self._rebuild(graph)
        elif self._entered:
            raise InternalError(f"{self.name}: the native entry refuses its own signature {signature}")
        self._entered = True
        try:
            return self.entry(*args)
        finally:
            self._entered = False

    def interprets(self, args: tuple[Any, ...]) -> bool:
        """Whether a call with `args` runs on the interpreter: arrays that cannot cross into
        native code (a float32 array), or a signature with arrays whose program native
        code refuses (`refused`: an operation on arrays it has no lowering for)."""
        from tapeless.api import has_array

        if not has_array(args):
            return False
        try:
            graph = self._graph()
            signature = signature_of(self.name, complete_arguments(graph, self.name, args))
        except TapelessError:
            return True
        return signature in self.refused

    def _rebuild(self, graph: Graph) -> None:
        names = tuple(p.name for p in graph.parameters) if self._keywords else None
        self.entry = make_entry(
            [n.spec for n in self.natives.values()],
            self.fallback,
            self.name,
            parameters=Parameters(len(graph.parameters), names, graph.defaults),
            retry=self._deep,
            retry_status=runtime.DEEP,
        )
        self._install(self.entry)

    def _deep(self, *args: Any) -> Any:
        """A call that ran out of the caller's stack: run it again on a big one."""
        if runtime.on_deep_stack():
            raise RecursionError("maximum recursion depth exceeded in native code")
        entry = self.entry
        return runtime.run_deep(lambda: entry(*args))


__all__ = [
    "Dispatcher",
    "Native",
    "bind_functions",
    "compile_graph",
    "complete_arguments",
    "function_value",
    "signature_of",
]
