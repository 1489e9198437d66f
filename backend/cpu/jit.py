"""The process-wide LLVM JIT: one target machine for the host, one MCJIT engine.

Every compiled module is added to the same engine, so a function in one module
can call a function defined in an earlier one by declaring it (MCJIT resolves
symbols across its modules). Machine code is never freed: modules live as long
as the process, which is what lets an entry (`backend.cpu.entry`) hold raw
function addresses. Function names must therefore be unique process-wide; make
them with `unique_name`.

External symbols a module declares are resolved in the running process: libm
(`sin`, `exp`, `fmod`, `pow`, ...; also what LLVM's intrinsics lower to) and the
CPython C-API (`PyFloat_FromDouble`, `PyErr_SetString`, ...). Declared names
LLVM cannot already find are looked up with `dlsym` through ctypes and
registered with `llvm.add_symbol` before the module is added.

LLVM is set up lazily, on the first call that needs it, so importing this
module costs no LLVM initialization.

For profiling, `TAPELESS_PERF_MAP=1` makes every compiled module append its
functions to `/tmp/perf-<pid>.map`, the file `perf report` reads to name
JIT-compiled code (a function's size is taken as the gap to the next one).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import re
import threading
from dataclasses import dataclass
from functools import cache

import llvmlite.binding as llvm

from tapeless.errors import InternalError


@dataclass(frozen=True, slots=True)
class _Jit:
    machine: llvm.TargetMachine
    engine: llvm.ExecutionEngine


# Adding a module and finalizing it mutate the one engine: serialize them.
_LOCK = threading.Lock()
_NAMES = itertools.count()


@cache
def _jit() -> _Jit:
    """Initialize LLVM for the host and create the shared engine (once)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    libm = ctypes.util.find_library("m")
    if libm is not None:
        llvm.load_library_permanently(libm)
    target = llvm.Target.from_triple(llvm.get_process_triple())
    machine = target.create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        opt=3,
        jit=True,
    )
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
    return _Jit(machine, engine)


@cache
def _symbol_libraries() -> tuple[ctypes.CDLL, ...]:
    """Where declared externals are looked up: the process (CPython) and libm."""
    libm = ctypes.util.find_library("m")
    return (ctypes.pythonapi, *([ctypes.CDLL(libm)] if libm else []))


def _resolve_externals(module: llvm.ModuleRef) -> None:
    """Register the address of every declared function or global LLVM cannot find.

    Raises `InternalError` for a name found nowhere, rather than letting MCJIT
    abort the process at finalization.
    """
    declared = [f for f in module.functions if f.is_declaration and not f.name.startswith("llvm.")]
    declared += [g for g in module.global_variables if g.is_declaration]
    engine = _jit().engine
    for value in declared:
        if _engine_address(engine, value.name) or llvm.address_of_symbol(value.name) is not None:
            continue
        for library in _symbol_libraries():
            try:
                # `in_dll` is a dlsym: it finds functions and data alike.
                symbol = ctypes.c_char.in_dll(library, value.name)
            except ValueError:
                continue
            llvm.add_symbol(value.name, ctypes.addressof(symbol))
            break
        else:
            raise InternalError(f"JIT: external symbol {value.name!r} not found in the process")


def target_triple() -> str:
    """The triple that modules for this JIT must carry."""
    return str(_jit().machine.triple)


def data_layout() -> str:
    """The data layout that modules for this JIT must carry."""
    return str(_jit().machine.target_data)


def unique_name(prefix: str) -> str:
    """A symbol name no other call returns in this process: `prefix` (sanitized) + a counter."""
    return f"{re.sub(r'[^A-Za-z0-9_.]', '_', prefix)}.{next(_NAMES)}"


def _parse(ir: str | llvm.ModuleRef) -> llvm.ModuleRef:
    """A verified module with this JIT's triple and data layout."""
    try:
        module = llvm.parse_assembly(ir) if isinstance(ir, str) else ir
        module.triple = target_triple()
        module.data_layout = data_layout()
        module.verify()
    except RuntimeError as err:
        raise InternalError(f"JIT: LLVM module does not parse or verify: {err}") from None
    return module


def _optimize(module: llvm.ModuleRef, opt_level: int) -> None:
    """Run LLVM's default O`opt_level` module pipeline (new pass manager) in place."""
    tuning = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    # As clang does at -O2 and above (LLVM's own defaults leave them off).
    tuning.loop_vectorization = opt_level >= 2
    tuning.slp_vectorization = opt_level >= 2
    builder = llvm.create_pass_builder(_jit().machine, tuning)
    builder.getModulePassManager().run(module, builder)


def compile_module(ir: str | llvm.ModuleRef, *, opt_level: int = 3) -> None:
    """Parse, verify, optimize and add a module to the engine; its functions are then callable.

    Expects textual LLVM IR (or a parsed module not yet given to the engine)
    whose defined names are new to the process (see `unique_name`). Raises
    `InternalError` if it does not verify or declares a symbol found nowhere.
    """
    module = _parse(ir)
    _optimize(module, opt_level)
    _resolve_externals(module)
    jit = _jit()
    with _LOCK:
        jit.engine.add_module(module)
        jit.engine.finalize_object()
        if os.environ.get("TAPELESS_PERF_MAP"):
            _write_perf_map(jit.engine, module)


def _write_perf_map(engine: llvm.ExecutionEngine, module: llvm.ModuleRef) -> None:
    """Append the module's defined functions to perf's map of this process (see the docstring)."""
    found = sorted(
        (engine.get_function_address(f.name), f.name) for f in module.functions if not f.is_declaration
    )
    starts = [start for start, _ in found if start]
    with open(f"/tmp/perf-{os.getpid()}.map", "a") as out:
        for start, name in found:
            if start:
                following = [s for s in starts if s > start]
                size = (following[0] - start) if following else 4096
                out.write(f"{start:x} {size:x} {name}\n")


def _engine_address(engine: llvm.ExecutionEngine, name: str) -> int:
    """The address of `name` defined by a module of `engine`, 0 if none defines it."""
    return engine.get_function_address(name) or engine.get_global_value_address(name)


def address(name: str) -> int:
    """The address of compiled function (or global) `name`; `InternalError` if there is none."""
    found = _engine_address(_jit().engine, name)
    if not found:
        raise InternalError(f"JIT: no compiled symbol named {name!r}")
    return found


def optimized_ir(ir: str | llvm.ModuleRef, *, opt_level: int = 3) -> str:
    """The module's text after verification and the O`opt_level` pipeline (nothing is compiled)."""
    module = _parse(str(ir) if isinstance(ir, llvm.ModuleRef) else ir)
    _optimize(module, opt_level)
    return str(module)
