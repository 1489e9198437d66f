"""The targets of issues 5 (scalar workloads) and 6 (array workloads), and each one's verdict
from the figures peers.py measured.

A verdict is 'met' when every figure measured holds, 'NOT met' when one does not or tapeless
could not run the case, 'not measured' when nothing was; every figure is listed with it, a
failing one marked ✗. Figures are shown by `figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol


def figure(x: float) -> str:
    """Three significant digits; whole numbers from 100 on, with thousands separators."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


@dataclass(frozen=True)
class Bound:
    """A target: a figure at most (or, with `at_least`, at least) `limit`."""

    limit: float
    at_least: bool = False

    def holds(self, x: float) -> bool:
        return x >= self.limit if self.at_least else x <= self.limit

    def __str__(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {self.limit:g}"


class Ratio(NamedTuple):
    """A ratio an issue sets a target for: column `top`'s time over column `bottom`'s, on every
    workload of its table, or only on those named in `only`."""

    label: str
    top: str
    bottom: str
    bound: Bound
    only: tuple[str, ...] = ()

    def applies(self, workload: str) -> bool:
        return not self.only or workload in self.only

    def heading(self) -> str:
        on = f", {'/'.join(self.only)}" if self.only else ""
        return f"{self.label} ({self.bound}{on})"


#: The scalar workloads' ratios (issue 5).
RATIOS = (
    Ratio("tapeless fwd / numba fwd", "tapeless fwd", "numba fwd", Bound(1.2)),
    Ratio("tapeless grad / tapeless fwd", "tapeless grad", "tapeless fwd", Bound(3)),
    Ratio("tapeless grad / numba hand grad", "tapeless grad", "numba hand grad", Bound(1.5)),
    Ratio("jax.jit grad / tapeless grad", "jax.jit grad", "tapeless grad", Bound(10, at_least=True)),
)
#: The array workloads' ratios (issue 6); "faster than" reads as ≤ 1.
ARRAY_RATIOS = (
    Ratio("tapeless fwd / numpy", "tapeless fwd", "numpy", Bound(1)),
    Ratio("tapeless fwd / jax.jit fwd", "tapeless fwd", "jax.jit fwd", Bound(1)),
    Ratio("tapeless grad / jax.jit grad", "tapeless grad", "jax.jit grad", Bound(1)),
    Ratio("tapeless grad / tapeless fwd", "tapeless grad", "tapeless fwd", Bound(3)),
    Ratio("tapeless grad / torch eager grad", "tapeless grad", "torch eager grad", Bound(1),
          ("rnn",)),
    Ratio("tapeless grad / jax scan grad", "tapeless grad", "jax scan grad", Bound(1), ("rnn",)),
)
OVERHEAD_BOUND = Bound(2)
#: The first call of grad(f) and of grad(grad(f)), in ms, by derivative order.
FIRST_CALL_BOUNDS = {1: Bound(300), 2: Bound(1000)}
DERIVATIVES = {1: "grad(f)", 2: "grad(grad(f))"}


class Timed(Protocol):
    """A table cell: µs per call, or None where there is no figure; `port`: a peer's port."""

    us: float | None
    port: bool


def ratio(row: Mapping[str, Timed], top: str, bottom: str) -> tuple[float | None, str]:
    """`top`'s time over `bottom`'s, and how to show it ('—' where one has no figure)."""
    a, b = row[top], row[bottom]
    if a.us is None or b.us is None:
        return None, "—"
    return a.us / b.us, figure(a.us / b.us) + (" (port)" if a.port or b.port else "")


Figure = tuple[str, float | None, bool]  # (what, the figure or None, whether tapeless failed it)


def verdict(title: str, bound: Bound, figures: Sequence[Figure]) -> str:
    """One line of the list: the verdict, the target, every figure."""
    shown, failed, measured = [], False, False
    for what, x, tapeless_failed in figures:
        if x is None:
            shown.append(f"{what} {'fails' if tapeless_failed else 'not measured'}")
            failed |= tapeless_failed
            continue
        measured = True
        ok = bound.holds(x)
        failed |= not ok
        shown.append(f"{what} {_beside(x, bound)}" + ("" if ok else " ✗"))
    word = "NOT met" if failed else "met" if measured else "not measured"
    return f"- **{word}**: {title} {bound}: {', '.join(shown)}"


def _beside(x: float, bound: Bound) -> str:
    """`figure(x)`, with more digits where three would make it look equal to the limit."""
    digits = 3
    while digits < 6 and x != bound.limit and float(f"{x:.{digits}g}") == bound.limit:
        digits += 1
    return figure(x) if digits == 3 else f"{x:.{digits}g}"


def _tapeless_failed(row: Mapping[str, Timed], *columns: str) -> bool:
    return any(c.startswith("tapeless") and row[c].us is None for c in columns)


def deep_figure(row: Any) -> str:
    """A deep.py row in a few words: its first call's time and its bytes per iteration."""
    if not row.ok:
        return "fails"
    return f"{figure(row.first_s)} s, {figure(row.bytes_per_iteration())} B/iteration"


def ratio_row(ratios: Sequence[Ratio], workload: str, row: Mapping[str, Timed]) -> list[str]:
    """A ratio table's cells for one workload: each ratio shown, '—' where it has no figure or
    does not apply."""
    return [ratio(row, r.top, r.bottom)[1] if r.applies(workload) else "—" for r in ratios]


def ratio_lines(ratios: Sequence[Ratio], named: Sequence[tuple[str, Mapping[str, Timed]]]
                ) -> list[str]:
    """One verdict per ratio, over the rows (by workload name) it applies to."""
    return [
        verdict(f"`{r.label}`", r.bound, [
            (n, ratio(row, r.top, r.bottom)[0], _tapeless_failed(row, r.top, r.bottom))
            for n, row in named if r.applies(n)
        ])
        for r in ratios
    ]


def target_lines(named: Sequence[tuple[str, Mapping[str, Timed]]], overhead: Mapping[str, Timed],
                 starts: Sequence[tuple[str, Sequence[Any]]], deep_rows: Sequence[Any]) -> list[str]:
    """The scalar workloads' verdicts: the main table's rows and the overhead row by name; per
    workload its first calls by order (peers.FirstCall); the deep.py rows."""
    lines = ratio_lines(RATIOS, named)
    lines.append(verdict("call overhead, tapeless / numba", OVERHEAD_BOUND,
                         [("x + 1.0", ratio(overhead, "tapeless", "numba")[0],
                           _tapeless_failed(overhead, "tapeless"))]))
    for order, bound in FIRST_CALL_BOUNDS.items():
        figures = []
        for name, calls in starts:
            call = calls[order - 1]
            x = call.best.total * 1e3 if call.best is not None and not call.text else None
            figures.append((name, x, x is None and call.text != "—"))
        lines.append(verdict(f"first call of {DERIVATIVES[order]}, ms", bound, figures))
    tapeless_deep = [r for r in deep_rows if "tapeless" in r.case]
    if tapeless_deep:
        ok = all(r.ok for r in tapeless_deep)
        shown = ", ".join(f"{r.case.replace(' tapeless', '')} {deep_figure(r)}"
                          for r in tapeless_deep)
        lines.append(f"- **{'met' if ok else 'NOT met'}**: {tapeless_deep[0].n:,} iterations or"
                     " levels of recursion run natively, forward and gradient (first call; the"
                     f" memory per iteration has no bound set): {shown}")
    return lines


__all__ = ["ARRAY_RATIOS", "DERIVATIVES", "FIRST_CALL_BOUNDS", "OVERHEAD_BOUND", "RATIOS", "Bound",
           "Ratio", "deep_figure", "figure", "ratio", "ratio_lines", "ratio_row", "target_lines",
           "verdict"]
