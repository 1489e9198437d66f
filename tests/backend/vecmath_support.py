"""Native loops `out[i] = f(x[i])` over float64 arrays, for the tests and benchmark of `backend.cpu.vecmath`.

`compile_map(name, mode)` compiles one and returns it as a NumPy function. The
modes: "loop" is a plain loop calling `tl_<name>` at O3 (vectorized by LLVM,
with a scalar remainder), "scalar" the same loop at O1 (no vectorizer: every
element goes through `tl_<name>`), "v2"/"v4"/"v8" a loop calling that vector
variant directly, and "libm" a plain loop at O3 calling what `elementwise.py`
calls today (an LLVM intrinsic or libm's scalar function).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache

import numpy as np
from llvmlite import ir

from tapeless.backend.cpu import jit, vecmath
from tapeless.backend.cpu.elementwise import FLOAT_FUNCTIONS
from tapeless.backend.cpu.vecmath import F64, I64, PTR

MODES = ("loop", "scalar", "v2", "v4", "v8", "libm")
_SIGNATURE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def _callee(module: ir.Module, name: str, mode: str) -> ir.Function:
    if mode == "libm":
        symbol, _ = FLOAT_FUNCTIONS[f"np_{name}"]
        fn = ir.Function(module, ir.FunctionType(F64, [F64]), symbol)
        fn.attributes.add("readnone")
        fn.attributes.add("nounwind")
        return fn
    scalar = vecmath.declare_math(module, name)
    if mode in ("loop", "scalar"):
        return scalar
    found = module.globals[f"{scalar.name}_{mode}"]
    assert isinstance(found, ir.Function)
    return found


def loop_module(name: str, mode: str, symbol: str) -> ir.Module:
    """A module defining `void symbol(ptr noalias x, ptr noalias out, i64 n)`: out[i] = f(x[i]).

    For the "v<N>" modes, n must be a multiple of N.
    """
    module = ir.Module()
    callee = _callee(module, name, mode)
    width = int(mode[1:]) if mode.startswith("v") else 1
    element = F64 if width == 1 else ir.VectorType(F64, width)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64]), symbol)
    x, out, n = fn.args
    x.add_attribute("noalias")
    out.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    body, done = fn.append_basic_block("body"), fn.append_basic_block("done")
    b.cbranch(b.icmp_signed(">", n, ir.Constant(I64, 0)), body, done)
    b.position_at_end(body)
    i = b.phi(I64)
    i.add_incoming(ir.Constant(I64, 0), fn.entry_basic_block)
    value = b.load(b.gep(x, [i], source_etype=F64), typ=element, align=8)
    b.store(b.call(callee, [value]), b.gep(out, [i], source_etype=F64), align=8)
    nxt = b.add(i, ir.Constant(I64, width))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    b.position_at_end(done)
    b.ret_void()
    return module


@cache
def compile_map(name: str, mode: str) -> Callable[..., np.ndarray]:
    """`np.<name>` on a 1-d float64 array, natively (see the module docstring for `mode`)."""
    symbol = jit.unique_name(f"map_{name}_{mode}")
    jit.compile_module(str(loop_module(name, mode, symbol)), opt_level=1 if mode == "scalar" else 3)
    native = _SIGNATURE(jit.address(symbol))
    width = int(mode[1:]) if mode.startswith("v") else 1

    def run(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """f(x) (1-d float64), written into `out` (C-contiguous, x's length) when given."""
        padded = np.ascontiguousarray(np.resize(x, -(-len(x) // width) * width) if width > 1 else x, dtype=np.float64)
        result = np.empty_like(padded) if out is None or width > 1 else out
        native(padded.ctypes.data, result.ctypes.data, len(padded))
        return result[: len(x)]

    return run
