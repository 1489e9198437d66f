"""tapeless beside plain Python/NumPy, Numba, JAX and PyTorch on the workloads of issues 5 and 6,
in one process.

    make bench BENCH_ARGS=--quick      # in its own venv .venv-bench, with numba, jax and torch
    python benchmarks/peers.py [--backend cpu] [--quick|--smoke] [--only a,b] [--deep N]
                               [--write PATH]

For each workload of `SUITE` (scalar, issue 5; workloads.py), the best µs per call of each of
`COLUMNS` over batched samples, taken in rounds across the columns (warm-up not counted); where
a peer fails on the workload as written, its port (ports.py) is timed, marked 'port'. Each
result is checked first: values against plain Python; gradients against finite differences, the
hand-written gradient and the gradients accepted before it in the row. A failure or mismatch is
a numbered note, never a figure. Then `RATIOS`, the call overhead of `x + 1.0`, the first call
of `grad(f)` and `grad(grad(f))` on fresh function objects stage by stage (stages.py), loops and
recursion 10^7 deep with their memory per iteration (deep.py, one process per case). The array
workloads of `ARRAY_SUITE` (issue 6) get a table of their own, checked and timed the same way,
with `ARRAY_COLUMNS` (JAX's lax.scan port and PyTorch eager from array_ports.py) and
`ARRAY_RATIOS`. Last, each target of the issues with its verdict. Numba, JAX and PyTorch are
optional; a `--backend` that `tapeless.api.BACKENDS` lacks falls back to "interp", as the report
says. Markdown on stdout; `--write` also writes it, under `DOC_HEAD`, to a file
(docs/performance.md).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import itertools
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import tapeless
from tapeless.api import BACKENDS


def _sibling(name: str) -> ModuleType:
    """benchmarks/<name>.py, imported under a private module name (sys.path untouched)."""
    path = Path(__file__).resolve().parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_tapeless_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


workloads, ports, array_ports = _sibling("workloads"), _sibling("ports"), _sibling("array_ports")
stages, deep, targets = _sibling("stages"), _sibling("deep"), _sibling("targets")
figure, ratio = targets.figure, targets.ratio
RATIOS, ARRAY_RATIOS = targets.RATIOS, targets.ARRAY_RATIOS

#: The workloads measured, in table order: scalar (issue 5), then array (issue 6).
SUITE = ("poly", "loop_sum", "newton_sqrt", "recursive_pow", "closure_compose")
ARRAY_SUITE = ("logistic", "mlp", "elementwise", "rnn")
#: Numba forward ports, timed (marked 'port') where the workload as written fails in Numba.
NUMBA_PORTS: dict[str, Callable[..., Any]] = {"closure_compose": ports.nb_closure_compose_port}
#: Relative tolerances: one computation done two ways; central finite differences (1st, 2nd).
EXACT_RTOL, FD_RTOL, FD2_RTOL, ATOL = 1e-8, 1e-5, 1e-4, 1e-12
NOT_INSTALLED = deep.NOT_INSTALLED
#: The peers that may be missing, by module; a peer named otherwise needs the module it maps to.
OPTIONAL = ("numba", "jax", "torch")
NEEDS = {"jax_scan": "jax"}


@dataclass(frozen=True)
class Timing:
    """A sample batches calls to last `sample_ns`; a call's sampling stops after `max_samples`,
    or once its samples took `budget_ns` and there are three (one, if one call takes a third of
    the budget: slow calls, such as the interpreter's on arrays, get few); a figure is the best
    sample (the machine is shared, and noise only ever adds time). A first-call figure is the
    best of `first_calls`; `deep_n` is the depth of the deep-loop cases."""

    sample_ns: int
    max_samples: int
    budget_ns: int
    first_calls: int
    deep_n: int


MODES = {
    "full": Timing(2_000_000, 21, 1_000_000_000, 3, 10**7),
    "quick": Timing(500_000, 7, 200_000_000, 1, 10**6),
    "smoke": Timing(0, 1, 0, 1, 10**4),  # one call each, for the tests: the figures mean nothing
}


def _sample_ns(call: Callable[..., Any], args: tuple[Any, ...], n: int) -> int:
    start = time.perf_counter_ns()
    for _ in itertools.repeat(None, n):
        call(*args)
    return time.perf_counter_ns() - start


@dataclass
class _Samples:
    """One call's samples, in ns per call, and the ns they took in all."""

    batch: int
    per_call: list[float] = field(default_factory=list)
    spent: int = 0

    def add(self, ns: int) -> None:
        self.per_call.append(ns / self.batch)
        self.spent += ns

    def wanted(self, timing: Timing) -> bool:
        """Whether to take another sample (see `Timing`)."""
        least = 1 if 3 * min(self.per_call, default=0.0) >= timing.budget_ns else 3
        n = len(self.per_call)
        return n < timing.max_samples and (n < least or self.spent < timing.budget_ns)


def _calibrate(call: Callable[..., Any], args: tuple[Any, ...], timing: Timing) -> _Samples:
    """The batch that lasts `timing.sample_ns`, doubling from 1; where one call lasts that long,
    that call is the first sample."""
    batch = 1
    while (ns := _sample_ns(call, args, batch)) < timing.sample_ns:
        batch *= 2
    samples = _Samples(batch)
    if batch == 1:
        samples.add(ns)
    return samples


#: The pause before each sample: the thread pools of the peers (OpenMP's in PyTorch, XLA's,
#: OpenBLAS's) spin a while after a call, and on two cores that spinning slowed whichever
#: call was timed next (tapeless's mlp forward, timed after PyTorch, by 40%). One untimed
#: call after the pause warms the caches and wakes the BLAS threads again.
SETTLE_S = 0.02


def _settled(measure: Callable[..., Any], call: Callable[..., Any], args: tuple[Any, ...], *rest: Any) -> Any:
    time.sleep(SETTLE_S)
    call(*args)
    return measure(call, args, *rest)


def best_us(calls: dict[str, Callable[..., Any]], args: tuple[Any, ...],
            timing: Timing) -> dict[str, float]:
    """The best µs per call of each `calls[label](*args)` over its samples; the caller made the
    warm-up calls. The samples are taken in rounds, one of each call still sampled per round,
    so that a busy spell of the machine slows all of them, not one."""
    samples = {label: _settled(_calibrate, call, args, timing) for label, call in calls.items()}
    while sampled := [label for label, s in samples.items() if s.wanted(timing)]:
        for label in sampled:
            samples[label].add(_settled(_sample_ns, calls[label], args, samples[label].batch))
    return {label: min(s.per_call) / 1e3 for label, s in samples.items()}


# -- checking results (trees: floats, arrays and tuples of them) ------------------------------


def _flatten(tree: Any) -> list[Any]:
    if isinstance(tree, tuple | list):
        return [leaf for t in tree for leaf in _flatten(t)]
    return [tree]


def _leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(leaf, dtype=float) for leaf in _flatten(tree)]


def _close(got: Any, want: Any, rtol: float) -> bool:
    a, b = _leaves(got), _leaves(want)
    return len(a) == len(b) and all(
        x.shape == y.shape and np.allclose(x, y, rtol=rtol, atol=ATOL)
        for x, y in zip(a, b, strict=True)
    )


def _tree_map(f: Callable[..., Any], x: Any, *rest: Any) -> Any:
    if isinstance(x, tuple):
        return tuple(_tree_map(f, *xs) for xs in zip(x, *rest, strict=True))
    return f(x, *rest)


def _direction(x: Any) -> Any:
    """A fixed direction shaped like `x`; 1.0 for a float, so the derivative itself is checked."""
    rng = np.random.default_rng(0)
    return _tree_map(lambda a: rng.standard_normal(a.shape) if np.ndim(a) else 1.0, x)


def _along(g: Any, v: Any) -> float:
    return float(sum(np.vdot(a, b) for a, b in zip(_leaves(g), _leaves(v), strict=True)))


def finite_difference(fn: Callable[..., Any], args: tuple[Any, ...], wrt: int, v: Any) -> float:
    """The central difference of `fn` along `v` in argument `wrt`."""
    h = 1e-6 * max(1.0, *(float(np.max(np.abs(leaf))) for leaf in _leaves(args[wrt])))
    moved = [_tree_map(lambda a, b, s=s: a + s * b, args[wrt], v) for s in (h, -h)]
    at = [float(fn(*args[:wrt], m, *args[wrt + 1 :])) for m in moved]
    return (at[0] - at[1]) / (2 * h)


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return f"<tuple of {len(v)}>"
    return f"{float(v):.12g}" if np.ndim(v) == 0 else f"<array {np.shape(v)}>"


@dataclass(frozen=True)
class Reference:
    """A gradient to agree with; with a `direction`, `want` is the derivative along it."""

    source: str
    want: Any
    rtol: float
    direction: Any = None

    def mismatch(self, got: Any) -> str | None:
        have = got if self.direction is None else _along(got, self.direction)
        if _close(have, self.want, self.rtol):
            return None
        return f"{_show(have)}, but {self.source} gives {_show(self.want)}"


@dataclass
class Workload:
    """A workload's arguments, its value in plain Python, and the gradients to agree with."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    wrt: int
    static: tuple[int, ...]
    value: Any
    refs: list[Reference] = field(default_factory=list)

    @classmethod
    def load(cls, name: str) -> Workload:
        """The workload `name` of workloads.py, with its finite-difference and hand references."""
        spec = workloads.WORKLOADS[name]
        args = spec["args"]()
        wl = cls(name, spec["fn"], args, spec["wrt"], spec["static"], spec["fn"](*args))
        v = _direction(args[wl.wrt])
        fd = finite_difference(wl.fn, args, wl.wrt, v)
        wl.refs.append(Reference("central finite differences", fd, FD_RTOL, v))
        if name in ports.NUMBA_HAND:
            hand = ports.NUMBA_HAND[name][0](*args)
            wl.refs.append(Reference("the hand-written gradient", hand, EXACT_RTOL))
        return wl

    def rebound(self, overrides: dict[str, Any], wrap: Callable[..., Any] | None = None) -> Any:
        """A fresh copy of the function with its module's names (`math`, `np`, its helpers and
        itself) re-bound, each wrapped by `wrap`: the same source on another implementation."""
        fns = workloads.rebind(overrides, wrap)
        if self.name in fns:
            return fns[self.name]
        return self.fn if wrap is None else wrap(self.fn)

    def mismatch(self, grad: bool, got: Any) -> str | None:
        if grad:
            return next((m for r in self.refs if (m := r.mismatch(got)) is not None), None)
        if _close(got, self.value, EXACT_RTOL):
            return None
        return f"{_show(got)}, but Python gives {_show(self.value)}"


# -- cells, notes and measuring one ----------------------------------------------------------


@dataclass
class Cell:
    """A checked callable (`port`: the peer's port), its value and, once timed, its µs per call;
    or a text saying why there is none."""

    us: float | None = None
    text: str = ""
    port: bool = False
    note: str = ""
    value: Any = None
    call: Callable[..., Any] | None = None

    def show(self, scale: float = 1.0) -> str:
        if self.us is None:
            return self.text
        shown = (figure(self.us / scale), "(port)" if self.port else "", self.note)
        return " ".join(s for s in shown if s)


class Notes(list[str]):
    """The numbered notes under the tables (failures, mismatches)."""

    def add(self, text: str) -> str:
        self.append(text)
        return f"[{len(self)}]"


first_line = stages.first_line


Candidate = tuple[bool, Callable[[], Callable[..., Any]]]  # (is a port, build the callable)


def measure(label: str, grad: bool, candidates: Sequence[Candidate], wl: Workload,
            notes: Notes) -> Cell:
    """The first candidate that runs, if it agrees with `wl`, ready to time; a failure becomes
    a note."""
    failures: list[str] = []
    for is_port, build in candidates:
        try:
            call = build()
            got = call(*wl.args)
        except Exception as e:  # the peer cannot run it: say why, and try the port
            failures.append(f"{'port' if is_port else 'as written'}: {first_line(e)}")
            continue
        problem = wl.mismatch(grad, got)
        if problem is not None:
            return Cell(text="ERROR " + notes.add(f"{label}, {wl.name}: {problem}"))
        cell = Cell(port=is_port, value=got, call=call)
        cell.note = notes.add(f"{label}, {wl.name}, {failures[0]}") if failures else ""
        return cell
    return Cell(text="fails " + notes.add(f"{label}, {wl.name}, {'; '.join(failures)}"))


# -- the peers ------------------------------------------------------------------------------------


def optional(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


class Peers:
    """How each peer builds a workload, forward or gradient: candidates, the port last."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.numba, self.jax, self.torch = (optional(m) for m in OPTIONAL)
        if self.jax is not None:
            self.jax.config.update("jax_enable_x64", True)  # float64, as Python and tapeless

    def installed(self, peer: str) -> bool:
        module = NEEDS.get(peer, peer)
        return module not in OPTIONAL or getattr(self, module) is not None

    def version(self, peer: str) -> str:
        module = getattr(self, peer)
        return NOT_INSTALLED if module is None else str(module.__version__)

    def build_python(self, wl: Workload, grad: bool) -> list[Candidate]:
        return [] if grad else [(False, lambda: wl.fn)]

    def build_numba(self, wl: Workload, grad: bool) -> list[Candidate]:
        if grad:
            hand = ports.NUMBA_HAND.get(wl.name)
            return [(False, partial(self.njit, hand[0]))] if hand else []
        port = NUMBA_PORTS.get(wl.name)
        as_written: Candidate = (False, partial(wl.rebound, {}, self.njit))
        return [as_written, (True, partial(self.njit, port))] if port else [as_written]

    def build_jax(self, wl: Workload, grad: bool) -> list[Candidate]:
        wrt = wl.wrt if grad else None
        jnp = importlib.import_module("jax.numpy")
        out: list[Candidate] = [
            (False, lambda: self.jit(wl.rebound({"math": jnp, "np": jnp}), wl.static, wrt))
        ]
        if wl.name in (jax_ports := ports.make_jax_ports()):
            fn, static = jax_ports[wl.name]
            out.append((True, partial(self.jit, fn, static, wrt)))
        return out

    def build_jax_scan(self, wl: Workload, grad: bool) -> list[Candidate]:
        """jax.jit(jax.grad) of the workload's lax.scan port, where array_ports has one."""
        scan_ports = array_ports.make_jax_scan_ports()
        if not grad or wl.name not in scan_ports:
            return []
        fn, static = scan_ports[wl.name]
        return [(True, partial(self.jit, fn, static, wl.wrt))]

    def build_torch(self, wl: Workload, grad: bool) -> list[Candidate]:
        """Forward and backward in PyTorch eager mode (no forward alone: eager is NumPy's)."""
        return [(False, partial(self.torch_grad, wl))] if grad else []

    def build_tapeless(self, wl: Workload, grad: bool) -> list[Candidate]:
        """compile(fn) or compile(grad(fn, wrt)) on the backend measured."""
        target = partial(tapeless.grad, wl.fn, wl.wrt) if grad else lambda: wl.fn
        return [(False, lambda: tapeless.compile(target(), backend=self.backend))]

    def njit(self, fn: Callable[..., Any]) -> Any:
        assert self.numba is not None
        return self.numba.njit(fn)

    def jit(self, fn: Callable[..., Any], static: tuple[int, ...], wrt: int | None) -> Any:
        """jax.jit of fn (or of its gradient wrt `wrt`) that waits for its result."""
        assert self.jax is not None
        jitted = self.jax.jit(fn if wrt is None else self.jax.grad(fn, wrt), static_argnums=static)
        return lambda *a: self.jax.block_until_ready(jitted(*a))

    def torch_grad(self, wl: Workload) -> Callable[..., Any]:
        """The gradient of the workload's own source on torch tensors (array_ports.torch_numpy),
        by torch.autograd.grad; it takes and returns NumPy arrays (shared, not copied)."""
        assert self.torch is not None
        torch = self.torch
        fn = wl.rebound({"np": array_ports.torch_numpy(torch)})

        def call(*args: Any) -> Any:
            tensors = [_tree_map(torch.from_numpy, a) for a in args]
            leaves = [t.requires_grad_() for t in _flatten(tensors[wl.wrt])]
            grads = iter(torch.autograd.grad(fn(*tensors), leaves))
            return _tree_map(lambda _: next(grads).numpy(), tensors[wl.wrt])

        return call


#: The main table's columns: (heading, peer, gradient?).
COLUMNS = (
    ("python", "python", False), ("numba fwd", "numba", False), ("numba hand grad", "numba", True),
    ("jax.jit fwd", "jax", False), ("jax.jit grad", "jax", True),
    ("tapeless fwd", "tapeless", False), ("tapeless grad", "tapeless", True),
)
#: The array table's columns: NumPy is the workload as written; no Numba gradient but a hand one.
ARRAY_COLUMNS = (
    ("numpy", "python", False), ("numba fwd", "numba", False), ("numba hand grad", "numba", True),
    ("jax.jit fwd", "jax", False), ("jax.jit grad", "jax", True),
    ("jax scan grad", "jax_scan", True), ("torch eager grad", "torch", True),
    ("tapeless fwd", "tapeless", False), ("tapeless grad", "tapeless", True),
)
OVERHEAD_COLUMNS = (("python", "python", False), ("numba", "numba", False),
                    ("jax.jit", "jax", False), ("tapeless", "tapeless", False))


def measure_row(p: Peers, wl: Workload, columns: Sequence[tuple[str, str, bool]],
                timing: Timing, notes: Notes) -> dict[str, Cell]:
    """Every column for one workload, checked (each gradient that passes is a reference for the
    next), then timed together."""
    row: dict[str, Cell] = {}
    for label, peer, grad in columns:
        candidates = getattr(p, f"build_{peer}")(wl, grad) if p.installed(peer) else None
        if candidates is None:
            row[label] = Cell(text=NOT_INSTALLED)
        elif not candidates:
            row[label] = Cell(text="—")
        else:
            row[label] = measure(label, grad, candidates, wl, notes)
        if grad and row[label].call is not None:
            wl.refs.append(Reference(label, row[label].value, EXACT_RTOL))
    calls = {label: c.call for label, c in row.items() if c.call is not None}
    for label, us in best_us(calls, wl.args, timing).items():
        row[label].us = us
    return row


def trivial(x: float) -> float:
    return x + 1.0


# -- first-call latency ---------------------------------------------------------------------------


@dataclass
class FirstCall:
    """The best of a workload's first calls of one derivative order, or why there is none."""

    order: int
    best: Any = None  # a stages.FirstCall
    text: str = ""


def first_call(p: Peers, wl: Workload, order: int, check: Reference | None, timing: Timing,
               notes: Notes) -> FirstCall:
    """The first call of the order-`order` gradient on fresh copies of the workload (no cache
    hits), stage by stage, best of `timing.first_calls`; its value is checked against `check`,
    or like every gradient of `wl` if None."""
    label = targets.DERIVATIVES[order]
    best = None
    for _ in range(timing.first_calls):
        run = stages.first_call(wl.rebound({}), wl.wrt, wl.args, order, p.backend)
        if run.refused:
            note = notes.add(f"{label}, {wl.name}, refused: {run.refused}")
            return FirstCall(order, run, f"refused {note}")
        problem = wl.mismatch(True, run.value) if check is None else check.mismatch(run.value)
        if problem is not None:
            return FirstCall(order, None, "ERROR " + notes.add(f"{label}, {wl.name}: {problem}"))
        best = run if best is None or run.total < best.total else best
    return FirstCall(order, best)


def first_calls(p: Peers, wl: Workload, row: dict[str, Cell], timing: Timing,
                notes: Notes) -> list[FirstCall]:
    """The first call of grad(f), and of grad(grad(f)), which is checked by finite differences
    of tapeless's own gradient once that has passed its checks in `row`."""
    first = first_call(p, wl, 1, None, timing, notes)
    if row["tapeless grad"].us is None:
        return [first, FirstCall(2, text="—")]
    w = wl.wrt
    v = _direction(wl.args[w])
    fd = finite_difference(tapeless.compile(tapeless.grad(wl.fn, w), backend=p.backend),
                           wl.args, w, v)
    check = Reference("finite differences of tapeless grad", fd, FD2_RTOL, v)
    return [first, first_call(p, wl, 2, check, timing, notes)]


def first_call_rows(named: Sequence[tuple[str, list[FirstCall]]]) -> list[list[str]]:
    """The breakdown table's rows: ms per stage, the total, and whether it meets its target."""
    rows = []
    for name, calls in named:
        for call in calls:
            seconds = call.best.seconds if call.best is not None else {}
            cells = [f"{figure(seconds[s] * 1e3)}" if s in seconds else "—" for s in stages.STAGES]
            bound = targets.FIRST_CALL_BOUNDS[call.order]
            if call.text:
                total, verdict = call.text, "**no**"
            else:
                ms = call.best.total * 1e3
                total, verdict = figure(ms), "yes" if bound.holds(ms) else "**no**"
            rows.append([name, targets.DERIVATIVES[call.order], *cells, total, f"{verdict} ({bound})"])
    return rows


# -- deep loops -----------------------------------------------------------------------------------


def deep_table(rows: Sequence[Any], notes: Notes) -> list[str]:
    """The deep cases' table (deep.py's rows), failures and wrong values as notes."""
    out = []
    for r in rows:
        if not r.ok:
            text = r.failure if r.failure == NOT_INSTALLED else "fails " + notes.add(
                f"{r.case}, n = {r.n}: {r.failure or r.problem}")
            out.append([r.case, text, "", "", "", ""])
            continue
        per_iteration = figure(r.second_s / r.n * 1e9)
        bound = "" if r.peak_reset else " (at most: the peak could not be reset)"
        out.append([r.case, figure(r.first_s), figure(r.second_s), per_iteration,
                    figure(r.growth_bytes / 2**20), figure(r.bytes_per_iteration()) + bound])
    head = ["case", "first call, s", "second call, s", "ns/iteration (second)",
            "peak RSS growth, MiB", "bytes/iteration"]
    return table(head, out)


# -- the report -----------------------------------------------------------------------------------


DOC_HEAD = """\
# Performance

Generated by `make bench BENCH_ARGS="--write docs/performance.md"` from one run on the machine
named below; to change it, change benchmarks/peers.py and run that again.

**Running it.** `make bench` creates `.venv-bench` (tapeless, numba, jax, torch's CPU build;
never `.venv`) and runs `benchmarks/peers.py`; `BENCH_ARGS` passes its options: `--quick` (fewer
samples, deep cases at 10^6), `--smoke` (one call each, to check the harness: the figures mean
nothing), `--only poly,loop_sum` (`--only logistic,mlp,elementwise,rnn`: the array workloads
alone, without the scalar sections), `--deep N` (depth of the deep cases; 0 skips them),
`--backend interp`, `--write PATH`. `benchmarks/deep.py` runs the deep cases alone; `benchmarks/call_overhead.py` compares
ways of calling native code.

**Method.** Every result is checked before it is timed (values against Python, gradients against
finite differences, the hand-written gradient and each other); a failure is a note, never a
figure. A time is the best of up to 21 samples of batched calls (fewer for a call that takes long:
a second of samples is enough, at least three, or one call that takes a third of a second), taken
in rounds across a row's columns: the machine is shared with other jobs, noise only adds time,
and a busy spell then slows every column of the row, not one (the load average is given); each sample follows a 20 ms
pause and one untimed call, so that threads a peer leaves spinning do not slow the next column. First calls run on fresh function
objects in a process where the harness already ran (LLVM set up, the primitives' backpropagators
parsed). Deep cases run in a fresh process each, and the peak resident set they add (stack pages
of the big-stack thread included) divided by the depth is the bytes per iteration.

"""


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(head), line(["---"] * len(head)), *map(line, rows), ""]


def resolve_backend(requested: str) -> tuple[str, list[str]]:
    """The backend to measure, and the report's lines saying so if it is not the one asked for."""
    if requested in BACKENDS:
        return requested, []
    return "interp", [f"**Backend {requested!r} is not in tapeless.api.BACKENDS {BACKENDS};"
                      " measured 'interp' instead.**", ""]


def machine() -> str:
    """The CPU model, cores, memory, and whether this is a virtual machine (Linux /proc)."""
    info: dict[str, str] = {}
    for path in ("/proc/cpuinfo", "/proc/meminfo"):
        with contextlib.suppress(OSError), open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    memory = f", {int(info['MemTotal'].split()[0]) / 2**20:.0f} GiB" if "MemTotal" in info else ""
    vm = ", a virtual machine" if "hypervisor" in info.get("flags", "").split() else ""
    return (f"{info.get('model name', platform.processor() or platform.machine())}"
            f" ({platform.machine()}, {os.cpu_count()} cores{memory}{vm})")


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


Sections = tuple[list[str], list[str]]  # (the tables with their headings, the verdicts)


def scalar_sections(p: Peers, names: Sequence[str], timing: Timing, deep_n: int,
                    notes: Notes) -> Sections:
    """The scalar workloads `names` (issue 5): their table and ratios, the call overhead, their
    first calls, the deep cases at `deep_n` (0: none; the native backend only)."""
    loaded = [Workload.load(n) for n in names]
    rows = [measure_row(p, wl, COLUMNS, timing, notes) for wl in loaded]
    trivial_wl = Workload("trivial", trivial, (0.5,), 0, (), 1.5)
    overhead = measure_row(p, trivial_wl, OVERHEAD_COLUMNS, timing, notes)
    starts = [first_calls(p, wl, r, timing, notes) for wl, r in zip(loaded, rows, strict=True)]
    measure_deep = deep_n > 0 and p.backend == "cpu"
    deep_rows = deep.measure(deep_n, list(deep.CASES), p.installed("numba")) if measure_deep else []
    named = list(zip(names, rows, strict=True))
    named_starts = list(zip(names, starts, strict=True))
    tables = [
        "µs per call, best of the samples:",
        "",
        *table(["workload", *(c[0] for c in COLUMNS)],
               [[n, *(r[c[0]].show() for c in COLUMNS)] for n, r in named]),
        "Ratios of the times above (targets in the headings):",
        "",
        *table(["workload", *(r.heading() for r in RATIOS)],
               [[n, *targets.ratio_row(RATIOS, n, r)] for n, r in named]),
        "Call overhead of `x + 1.0`, µs per call:",
        "",
        *table([*overhead, f"tapeless / numba ({targets.OVERHEAD_BOUND})"],
               [[*(c.show() for c in overhead.values()), ratio(overhead, "tapeless", "numba")[1]]]),
        "First call on fresh function objects, ms per stage (best of"
        f" {timing.first_calls}; 'other' is mostly building the native entry):",
        "",
        *table(["workload", "derivative", *stages.STAGES, "total", "meets target"],
               first_call_rows(named_starts)),
        *([f"Deep loop and recursion, n = {deep_n:,} (x = {deep.X_LOOP} for loop_sum,"
           f" {deep.X_POW!r} for recursive_pow), one fresh process per case:", "",
           *deep_table(deep_rows, notes)] if measure_deep else []),
    ]
    return tables, targets.target_lines(named, overhead, named_starts, deep_rows)


def array_sections(p: Peers, names: Sequence[str], timing: Timing, notes: Notes) -> Sections:
    """The array workloads `names` (issue 6): their table and ratios."""
    named = [(n, measure_row(p, Workload.load(n), ARRAY_COLUMNS, timing, notes)) for n in names]
    tables = [
        "Array workloads, µs per call, best of the samples (numpy: the workload as written;"
        " jax scan grad: `rnn`'s loop as `lax.scan`; torch eager grad: forward and backward of"
        " the workload's source on float64 tensors):",
        "",
        *table(["workload", *(c[0] for c in ARRAY_COLUMNS)],
               [[n, *(r[c[0]].show() for c in ARRAY_COLUMNS)] for n, r in named]),
        "Ratios of the array times above (targets in the headings):",
        "",
        *table(["workload", *(r.heading() for r in ARRAY_RATIOS)],
               [[n, *targets.ratio_row(ARRAY_RATIOS, n, r)] for n, r in named]),
    ]
    return tables, targets.ratio_lines(ARRAY_RATIOS, named)


def report(names: Sequence[str], requested: str, mode: str, deep_n: int | None = None) -> str:
    """The whole Markdown report for the workloads `names`; deep cases at `deep_n` (the mode's
    depth if None; 0: none), measured only when a scalar workload is."""
    backend, fallback = resolve_backend(requested)
    p, timing, notes = Peers(backend), MODES[mode], Notes()
    load_before = load()
    scalar, array = [n for n in names if n in SUITE], [n for n in names if n in ARRAY_SUITE]
    deep_n = timing.deep_n if deep_n is None else deep_n
    parts = [*([scalar_sections(p, scalar, timing, deep_n, notes)] if scalar else []),
             *([array_sections(p, array, timing, notes)] if array else [])]
    versions = ", ".join(f"{m} {p.version(m)}" for m in OPTIONAL)
    return "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; load average {load_before} before,"
        f" {load()} after. Python {platform.python_version()}, NumPy {np.__version__},"
        f" tapeless {tapeless.__version__} (backend {backend!r}), {versions}; mode {mode}.",
        "",
        *fallback,
        *(line for tables, _ in parts for line in tables),
        "Targets:",
        "",
        *(line for _, verdicts in parts for line in verdicts),
        "",
        *(f"[{i}] {text}" for i, text in enumerate(notes, 1)),
    ]).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", default="cpu", help="tapeless backend (default: cpu)")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="fewer repetitions")
    speed.add_argument("--smoke", action="store_true", help="one call each (for the tests)")
    parser.add_argument("--only", help="comma-separated workloads, of: "
                        + ", ".join(SUITE + ARRAY_SUITE))
    parser.add_argument("--deep", type=int, metavar="N", help="depth of the deep-loop cases"
                        " (default: 10^7, --quick 10^6, --smoke 10^4; 0: none)")
    parser.add_argument("--write", type=Path, metavar="PATH",
                        help="also write the report, under a heading, here (docs/performance.md)")
    args = parser.parse_args(argv)
    known = SUITE + ARRAY_SUITE
    names = known if args.only is None else tuple(args.only.split(","))
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(known)}")
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    text = report(names, args.backend, mode, args.deep)
    sys.stdout.write(text)
    if args.write is not None:
        args.write.write_text(DOC_HEAD + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
