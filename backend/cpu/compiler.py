"""The CPU backend's pipeline and dispatcher: IR in, a native entry out.

`compile_graph(graph, arg_types)` runs optimize -> specialize -> lower ->
LLVM for one argument type signature and returns a `Native` (the entry's
address and ABI, the LLVM IR, and the time each stage took). A `Dispatcher`
caches them per signature and keeps one CPython builtin (`entry.make_entry`)
in front of all of them: a call whose argument types were seen before goes
straight to native code; any other call lands in `Dispatcher.fallback`,
which checks the arguments, compiles the new signature and rebuilds the
builtin.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tapeless.backend.cpu import jit, runtime
from tapeless.backend.cpu.entry import EntrySpec, make_entry
from tapeless.backend.cpu.lower import ModuleLowering
from tapeless.backend.cpu.specialize import Specialization, missing_defaults
from tapeless.errors import InternalError, TapelessTypeError
from tapeless.ir.nodes import Graph
from tapeless.ir.types import AbstractType, NoneType, Scalar, TupleType


@dataclass
class Native:
    """One compiled signature."""

    spec: EntrySpec
    llvm_ir: str
    specialization: Specialization
    #: Seconds per stage: optimize, specialize, lower, llvm.
    timings: dict[str, float] = field(default_factory=dict)


def signature_of(fn_name: str, args: Sequence[Any]) -> tuple[AbstractType, ...]:
    """The native types of `args`, or a TapelessTypeError naming the first unsupported one."""
    return tuple(_native_type(fn_name, i, a, a) for i, a in enumerate(args))


def _native_type(fn_name: str, index: int, value: Any, whole: Any) -> AbstractType:
    if type(value) is float:
        return Scalar("f64")
    if type(value) is bool:
        return Scalar("bool")
    if type(value) is int:
        if -(2**63) <= value < 2**63:
            return Scalar("i64")
        detail = "an int that does not fit in 64 bits (native ints are 64-bit)"
    elif value is None:
        return NoneType()
    elif type(value) is tuple:
        return TupleType(tuple(_native_type(fn_name, index, v, whole) for v in value))
    else:
        detail = f"a value of type {type(value).__name__}"
    raise TapelessTypeError(
        f"argument {index + 1} of {fn_name}() is {detail}; the cpu backend takes floats, ints,"
        " bools, None and tuples of those",
        construct=f"call of {fn_name}",
        hint='convert it (float(x)), or compile with backend="interp"',
    )


def compile_graph(graph: Graph, arg_types: tuple[AbstractType, ...], *, optimized: bool = False) -> Native:
    """Native code for `graph` called with arguments of `arg_types`."""
    from tapeless.opt import optimize

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    program = graph if optimized else optimize(graph, arg_types=arg_types)
    t1 = time.perf_counter()
    spec = Specialization(program, arg_types)
    t2 = time.perf_counter()
    lowering = ModuleLowering(spec, graph.name)
    llvm_ir = str(lowering.module)
    t3 = time.perf_counter()
    jit.compile_module(llvm_ir)
    address = jit.address(lowering.entry_name)
    t4 = time.perf_counter()
    timings.update(optimize=t1 - t0, specialize=t2 - t1, lower=t3 - t2, llvm=t4 - t3)
    assert spec.root.output is not None
    entry = EntrySpec(arg_types, spec.root.output, address, tuple(runtime.ERRORS))
    return Native(entry, llvm_ir, spec, timings)


class Dispatcher:
    """Native code for `graph`, compiled per argument type signature on first use.

    `entry` is the builtin installed as the owner's `__call__` (see `install`);
    a call that runs out of the caller's stack comes back through `_deep`,
    which reruns it on a big stack.
    """

    def __init__(
        self,
        name: str,
        graph: Callable[[], Graph],
        install: Callable[[Callable[..., Any]], None],
        slow: Callable[..., Any],
    ) -> None:
        self.name = name
        self._graph = graph
        self._install = install
        self._slow = slow
        self.natives: dict[tuple[AbstractType, ...], Native] = {}
        self.entry: Callable[..., Any] = self.fallback
        self._entered = False

    def fallback(self, *args: Any, **kwargs: Any) -> Any:
        """A call no compiled signature takes: compile it, rebuild the entry, run it.

        Keywords and NumPy arrays go to `slow` (the owner's own `__call__`,
        which binds keywords and runs arrays on the interpreter).
        """
        from tapeless.api import has_array

        if kwargs or has_array(args):
            return self._slow(*args, **kwargs)
        graph = self._graph()
        args = args + missing_defaults(graph, len(args))
        signature = signature_of(self.name, args)
        if signature not in self.natives:
            self.natives[signature] = compile_graph(graph, signature)
            self._rebuild()
        elif self._entered:
            raise InternalError(f"{self.name}: the native entry refuses its own signature {signature}")
        self._entered = True
        try:
            return self.entry(*args)
        finally:
            self._entered = False

    def _rebuild(self) -> None:
        self.entry = make_entry(
            [n.spec for n in self.natives.values()],
            self.fallback,
            self.name,
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



__all__ = ["Dispatcher", "Native", "compile_graph", "signature_of"]
