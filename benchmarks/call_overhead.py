"""What calling a trivial compiled function from Python costs.

    .venv/bin/python benchmarks/call_overhead.py
    /tmp/benchvenv/bin/python benchmarks/call_overhead.py    # a venv with numba: adds @njit

The function is ``f(x) = x + 1.0`` on a float. Rows: the native entry
(`backend.cpu.entry.make_entry`, a builtin), the same entry as a class's
``__call__`` (how a compiled-function object would expose it), a ctypes
``CFUNCTYPE`` call of the same native function (raw, and wrapped in a Python
function that reads the result back, as a ctypes-based entry would), Numba's
``@njit`` dispatcher when ``import numba`` works, and plain Python. Each row
is the median over ``--repeat`` runs of the time per call (timeit's loop
included, as it is for every row), with its ratio to Numba (or, without
Numba, to the native entry).
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import timeit
from collections.abc import Callable
from typing import Any

from tapeless.backend.cpu import jit
from tapeless.backend.cpu.entry import EntrySpec, make_entry
from tapeless.ir.types import F64

X = 2.0


def native_add_one() -> int:
    """The address of ``i32 f(double x, ptr out)`` storing x + 1.0 (the entry ABI)."""
    name = jit.unique_name("add_one")
    jit.compile_module(
        f'define i32 @"{name}"(double %x, ptr %out) {{\n'
        "%y = fadd double %x, 1.0\nstore double %y, ptr %out\nret i32 0\n}"
    )
    return jit.address(name)


def contenders() -> dict[str, Callable[[float], Any]]:
    """Every way of calling f, by row name, each checked to return 3.0 for X."""
    address = native_add_one()
    entry = make_entry([EntrySpec((F64,), F64, address)], _no_fallback, "add_one")
    compiled = type("Compiled", (), {"__slots__": (), "__call__": entry})()
    raw = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_double, ctypes.c_void_p)(address)
    out = ctypes.c_double()
    out_ptr = ctypes.addressof(out)

    def via_ctypes(x: float) -> float:
        raw(x, out_ptr)
        return out.value

    def python(x: float) -> float:
        return x + 1.0

    rows: dict[str, Callable[[float], Any]] = {
        "native entry (builtin)": entry,
        "entry as class __call__": compiled,
        "ctypes CFUNCTYPE call": lambda x: raw(x, out_ptr),
        "ctypes call + read result": via_ctypes,
    }
    numba = _numba_add_one()
    if numba is not None:
        rows[numba[0]] = numba[1]
    rows["plain Python"] = python
    via_ctypes(X)
    for name, fn in rows.items():
        if name != "ctypes CFUNCTYPE call" and fn(X) != X + 1.0:
            raise AssertionError(f"{name} computes the wrong value")
    return rows


def _no_fallback(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"the benchmark must not reach the fallback: {args} {kwargs}")


def _numba_add_one() -> tuple[str, Callable[[float], Any]] | None:
    """(row name, Numba's `@njit` f, compiled), or None when numba is not importable."""
    try:
        import numba  # type: ignore[import-not-found]
    except ImportError:
        return None

    @numba.njit
    def add_one(x: float) -> float:
        return x + 1.0

    add_one(X)
    return f"numba {numba.__version__} @njit", add_one


def ns_per_call(fn: Callable[[float], Any], number: int, repeat: int) -> float:
    """Median over `repeat` runs of the time of one `fn(X)`, in nanoseconds."""
    timer = timeit.Timer("f(x)", globals={"f": fn, "x": X})
    return statistics.median(t / number * 1e9 for t in timer.repeat(repeat, number))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=200_000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=15, help="runs per row (median)")
    args = parser.parse_args()
    rows = contenders()
    times = {name: ns_per_call(fn, args.number, args.repeat) for name, fn in rows.items()}
    base_name = next((n for n in times if n.startswith("numba")), "native entry (builtin)")
    print(f"f(x) = x + 1.0, median ns per call ({args.repeat} runs of {args.number} calls)")
    print(f"ratio = time / time of '{base_name}'\n")
    print(f"{'':28} {'ns/call':>9} {'ratio':>8}")
    for name, ns in times.items():
        print(f"{name:28} {ns:9.1f} {ns / times[base_name]:7.2f}x")


if __name__ == "__main__":
    main()
