"""Nanoseconds per element of `backend.cpu.vecmath`'s functions against libm's and NumPy's.

    .venv/bin/python benchmarks/vecmath.py [--n 1000000] [--repeat 20]

For each function, over n float64 inputs in a range where it does real work:
"libm" is a native loop calling what `elementwise.py` calls today (an LLVM
intrinsic or libm's scalar function: LLVM cannot vectorize it), "vecmath" the
same loop calling `tl_<name>` (vectorized by LLVM into its vector variants),
"numpy" `np.<name>(x, out=)`. Every row writes into the same preallocated array. Each figure is the best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "backend"))
from vecmath_support import compile_map

#: name -> the range the inputs are drawn from.
RANGES = {
    "exp": (-50.0, 50.0), "expm1": (-2.0, 2.0), "log": (1e-3, 1e3), "log1p": (-0.5, 10.0),
    "tanh": (-5.0, 5.0), "sinh": (-5.0, 5.0), "cosh": (-5.0, 5.0), "sin": (-100.0, 100.0),
    "cos": (-100.0, 100.0), "arctan": (-10.0, 10.0),
}  # fmt: skip


def best_ns_per_element(fn: Callable[[], object], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - start)
    return best / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'function':<9} {'libm':>8} {'vecmath':>8} {'numpy':>8}   ns/element, n = {args.n}")
    for name, (low, high) in RANGES.items():
        x = rng.uniform(low, high, args.n)
        out = np.empty_like(x)
        row = []
        for mode in ("libm", "loop"):
            loop = compile_map(name, mode)
            loop(x)  # compiled before timing
            row.append(best_ns_per_element(lambda loop=loop, x=x, out=out: loop(x, out), args.n, args.repeat))
        ufunc = getattr(np, name)
        row.append(best_ns_per_element(lambda ufunc=ufunc, x=x, out=out: ufunc(x, out=out), args.n, args.repeat))
        print(f"{name:<9} " + " ".join(f"{t:8.2f}" for t in row))


if __name__ == "__main__":
    main()
