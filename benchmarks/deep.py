"""Loops and recursion 10^7 deep: time, and memory per iteration, each case in a fresh process.

    python benchmarks/deep.py [--n N] [--only CASE,...]   # a line per case (peers.py: a table)
    python benchmarks/deep.py --child CASE N              # one case, as JSON (what the table runs)

A child builds its callable, warms it up at n = 10 (compiling it), resets the process's peak
resident set (`/proc/self/clear_refs`), then times one call at N and reads the peak (`VmHWM`):
the growth over the resident set before the call, divided by N, is the bytes per iteration. It
counts the arena of backpropagator environments and every stack page the call touched, the big
thread's of `backend.cpu.runtime.run_deep` included. A second call at N is timed too: the first
pays for touching fresh memory, the second reuses what the process already has. Python cannot
recurse 10^7 deep, so its recursion row is left out.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

X_LOOP = 0.3
X_POW = 1.0 + 1e-7  # x**(10**7) is about e: no overflow at the depth measured
#: case -> (workload, implementation): the rows of the table, in order.
CASES = {
    "loop_sum python fwd": ("loop_sum", "python fwd"),
    "loop_sum numba fwd": ("loop_sum", "numba fwd"),
    "loop_sum numba hand grad": ("loop_sum", "numba hand grad"),
    "loop_sum python hand grad": ("loop_sum", "python hand grad"),
    "loop_sum tapeless fwd": ("loop_sum", "tapeless fwd"),
    "loop_sum tapeless grad": ("loop_sum", "tapeless grad"),
    "recursive_pow tapeless fwd": ("recursive_pow", "tapeless fwd"),
    "recursive_pow tapeless grad": ("recursive_pow", "tapeless grad"),
}
#: A result agrees with its reference to this relative tolerance (10^7 roundings apart at most).
RTOL = 1e-6
TIMEOUT_S = 600
NOT_INSTALLED = "n/a (not installed)"


# -- the child: one case in this process -------------------------------------------------------


def _status_kb(field: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> bool:
    """Reset VmHWM to the current resident set; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _build(case: str) -> tuple[Callable[..., Any], float]:
    """The callable of `case` and its x (workloads and ports are siblings of this script)."""
    import ports
    import workloads

    import tapeless

    name, impl = CASES[case]
    fn = workloads.WORKLOADS[name]["fn"]
    x = X_LOOP if name == "loop_sum" else X_POW
    if impl == "python fwd":
        return fn, x
    if impl == "python hand grad":
        return ports.nb_loop_sum_grad, x
    if impl.startswith("numba"):
        import numba

        return numba.njit(ports.nb_loop_sum_grad if impl.endswith("grad") else fn), x
    return (tapeless.grad(fn) if impl.endswith("grad") else tapeless.compile(fn)), x


def child(case: str, n: int) -> dict[str, Any]:
    """Run `case` at depth `n` as the module docstring says; the figures as a JSON-able dict."""
    call, x = _build(case)
    call(x, 10)
    rss = _status_kb("VmRSS")
    reset = _reset_peak()
    start = time.perf_counter()
    value = call(x, n)
    first = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    start = time.perf_counter()
    call(x, n)
    second = time.perf_counter() - start
    return {"value": float(value), "first_s": first, "second_s": second,
            "growth_bytes": max(0, peak - rss) * 1024, "peak_reset": reset}


# -- the parent: every case in its own process ---------------------------------------------------


@dataclass
class Row:
    """One case's figures, or why there are none (`failure`); `problem`: a wrong value."""

    case: str
    n: int
    value: float = math.nan
    first_s: float = math.nan
    second_s: float = math.nan
    growth_bytes: int = 0
    peak_reset: bool = True
    failure: str = ""
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure and not self.problem

    def bytes_per_iteration(self) -> float:
        return self.growth_bytes / self.n

    def __str__(self) -> str:
        if not self.ok:
            return f"{self.case}: {self.failure or self.problem}"
        return (f"{self.case}: first call {self.first_s:.3g} s, second {self.second_s:.3g} s,"
                f" {self.bytes_per_iteration():.3g} bytes/iteration")


def run_case(case: str, n: int, timeout: float = TIMEOUT_S) -> Row:
    """`case` at depth `n` in a fresh interpreter (this one's executable)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", case, str(n)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Row(case, n, failure=f"no result within {timeout:.0f} s")
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return Row(case, n, failure=lines[-1])
    return Row(case, n, **json.loads(done.stdout.splitlines()[-1]))


def references(rows: dict[str, Row], n: int) -> dict[str, tuple[str, float]]:
    """What each case's value must agree with: (source, value)."""
    refs = {
        "recursive_pow tapeless fwd": ("x**n", X_POW**n),
        "recursive_pow tapeless grad": ("n * x**(n-1)", n * X_POW ** (n - 1)),
    }
    python = rows.get("loop_sum python fwd")
    if python is not None and python.ok:
        refs["loop_sum tapeless fwd"] = refs["loop_sum numba fwd"] = ("Python", python.value)
    for hand in ("loop_sum numba hand grad", "loop_sum python hand grad"):
        row = rows.get(hand)
        if row is not None and row.ok:
            refs["loop_sum tapeless grad"] = (hand.removeprefix("loop_sum "), row.value)
            break
    return refs


def measure(n: int, cases: Sequence[str], numba: bool, timeout: float = TIMEOUT_S) -> list[Row]:
    """Every case of `cases` at depth `n` (numba's only if `numba` says it is installed), each
    checked against its reference; the Python hand gradient runs only where numba's did not."""
    rows: dict[str, Row] = {}
    for case in cases:
        if "numba" in case and not numba:
            rows[case] = Row(case, n, failure=NOT_INSTALLED)
        elif case == "loop_sum python hand grad":
            numba_hand = rows.get("loop_sum numba hand grad")
            if numba_hand is None or not numba_hand.ok:
                rows[case] = run_case(case, n, timeout)
        else:
            rows[case] = run_case(case, n, timeout)
    for case, (source, want) in references(rows, n).items():
        row = rows.get(case)
        if row is not None and not row.failure and not math.isclose(row.value, want, rel_tol=RTOL):
            row.problem = f"{row.value!r}, but {source} gives {want!r}"
    return list(rows.values())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=10**7, help="depth (default 10^7)")
    parser.add_argument("--only", help="comma-separated cases, of: " + ", ".join(CASES))
    parser.add_argument("--child", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return 0
    cases = list(CASES) if args.only is None else args.only.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    for row in measure(args.n, cases, importlib.util.find_spec("numba") is not None):
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
