"""The optimizer: passes over the graph IR, run to a fixed point.

Each pass is a function ``pass(root) -> bool`` in a module of its own that
rewrites the program rooted at `root` in place and says whether it changed
anything; its docstring says what it expects and guarantees. `PASSES` is the
one registry of them (for the pipeline and the CLI). `optimize` copies the
program first (`clone_program`): the graphs the front end and AD cache are
never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tapeless.errors import InternalError
from tapeless.ir.nodes import Graph
from tapeless.ir.verify import verify
from tapeless.opt.algebra import algebra
from tapeless.opt.cse import cse
from tapeless.opt.dce import dce
from tapeless.opt.fold import fold
from tapeless.opt.inline import inline
from tapeless.opt.program import clone_program

Pass = Callable[[Graph], bool]

#: Every pass, by name.
PASSES: dict[str, Pass] = {
    "inline": inline,
    "fold": fold,
    "algebra": algebra,
    "cse": cse,
    "dce": dce,
}

#: The default pipeline, one round; `optimize` repeats it to a fixed point.
DEFAULT: tuple[str, ...] = ("inline", "fold", "algebra", "cse", "dce")


def optimize(
    root: Graph,
    passes: Sequence[str] = DEFAULT,
    *,
    verify_each: bool = False,
    max_rounds: int = 50,
) -> Graph:
    """An optimized copy of the program rooted at `root` (which is left untouched).

    Runs `passes` in order, round after round, until a round changes nothing
    or `max_rounds` rounds have run. With `verify_each`, `verify` runs on the
    copy after every pass (as the tests do).
    """
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise InternalError(f"unknown optimizer passes {unknown}; known: {sorted(PASSES)}")
    program = clone_program(root)
    if verify_each:
        verify(program)
    for _ in range(max_rounds):
        changed = False
        for name in passes:
            if PASSES[name](program):
                changed = True
            if verify_each:
                verify(program)
        if not changed:
            break
    return program


__all__ = ["DEFAULT", "PASSES", "Pass", "clone_program", "optimize"]
