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
from tapeless.ir.types import AbstractType
from tapeless.ir.verify import verify
from tapeless.opt.algebra import algebra
from tapeless.opt.collect import collect
from tapeless.opt.cse import cse
from tapeless.opt.dce import dce
from tapeless.opt.eta import eta
from tapeless.opt.fold import fold
from tapeless.opt.inline import inline
from tapeless.opt.jstatic import jstatic
from tapeless.opt.lift import lift
from tapeless.opt.params import params
from tapeless.opt.program import clone_program
from tapeless.opt.specialize import specialize
from tapeless.opt.tuples import tuples
from tapeless.opt.unroll import unroll

Pass = Callable[[Graph], bool]

#: Every pass, by name.
PASSES: dict[str, Pass] = {
    "inline": inline,
    "fold": fold,
    "algebra": algebra,
    "cse": cse,
    "dce": dce,
    "lift": lift,
    "eta": eta,
    "collect": collect,
    "params": params,
    "specialize": specialize,
    "jstatic": jstatic,
    "tuples": tuples,
    "unroll": unroll,
}

#: The default pipeline, one round; `optimize` repeats it to a fixed point. Exact:
#: results are the same bit for bit (but for the sign of a zero gradient).
DEFAULT: tuple[str, ...] = ("inline", "specialize", "unroll", "jstatic", "fold", "algebra", "tuples", "cse", "lift", "params", "eta", "dce")


#: Called after every pass with (pass name, round number from 1, the program, whether it changed).
Trace = Callable[[str, int, Graph, bool], None]

#: The default pipeline and `collect`, which reassociates float sums (results equal up
#: to rounding): what keeps high-order derivatives small.
AGGRESSIVE: tuple[str, ...] = (*DEFAULT[:-1], "collect", DEFAULT[-1])


def optimize(
    root: Graph,
    passes: Sequence[str] = DEFAULT,
    *,
    arg_types: Sequence[AbstractType] | None = None,
    verify_each: bool = False,
    max_rounds: int = 50,
    trace: Trace | None = None,
) -> Graph:
    """An optimized copy of the program rooted at `root` (which is left untouched).

    Runs `passes` in order, round after round, until a round changes nothing
    or `max_rounds` rounds have run. With `arg_types` (one abstract type per
    parameter of `root`, `infer.TOP` for unknown), the copy is specialized:
    passes may use the types `infer` derives from them, and the result is only
    valid for arguments of those types. With `verify_each`, `verify` runs on
    the copy after every pass (as the tests do); `trace` sees every pass.
    """
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise InternalError(f"unknown optimizer passes {unknown}; known: {sorted(PASSES)}")
    program = clone_program(root)
    if arg_types is not None:
        if len(arg_types) != len(program.parameters):
            raise InternalError(f"{len(arg_types)} argument types for {len(program.parameters)} parameters")
        program.flags["arg_types"] = tuple(arg_types)
    if verify_each:
        verify(program)
    for round_ in range(1, max_rounds + 1):
        changed = False
        for name in passes:
            step = PASSES[name](program)
            changed = changed or step
            if verify_each:
                verify(program)
            if trace is not None:
                trace(name, round_, program, step)
        if not changed:
            break
    return program


__all__ = ["AGGRESSIVE", "DEFAULT", "PASSES", "Pass", "Trace", "clone_program", "optimize"]
