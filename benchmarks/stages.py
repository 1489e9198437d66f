"""The first call of `grad(f)` (or `grad(grad(f))`), stage by stage.

`first_call(fn, wrt, args, order, backend)` walks the path `tapeless.grad(f)(*args)` takes on a
fresh function object, timing each step from outside (no hook in tapeless):

- parse: `tapeless.compile(f).graph` (the front end);
- AD prepare: `ad.grad.prepare`, the untyped optimization AD runs on the primal first;
- AD J: `GradFunction.__tapeless_graph__` (the J transform and the gradient wrapper);
- optimize, specialize, lower, llvm: what `backend.cpu.compiler.compile_graph` records in
  `Native.timings` during the call (absent on the interpreter);
- other: the rest of the call (argument checks, building the entry, running the code).

Derivatives of order 2 take the AD steps once per order. A step that raises ends the walk: the
result says which step refused and why, with the times of the steps before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tapeless
from tapeless.ad.grad import prepare

#: The steps, in the order a first call takes them.
STAGES = ("parse", "AD prepare", "AD J", "optimize", "specialize", "lower", "llvm", "other")


@dataclass
class FirstCall:
    """Seconds per stage of one first call, its total, its value; `refused`: why it stopped."""

    seconds: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    value: Any = None
    refused: str = ""


def first_line(e: BaseException) -> str:
    """`Type: first line of the message` of an exception."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


class _Clock:
    """Times steps into a `FirstCall`; `step` returns the step's result."""

    def __init__(self, result: FirstCall) -> None:
        self.result = result

    def step(self, stage: str, run: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return run(*args)
        finally:
            elapsed = time.perf_counter() - start
            self.result.seconds[stage] = self.result.seconds.get(stage, 0.0) + elapsed
            self.result.total += elapsed


def first_call(fn: Callable[..., Any], wrt: int, args: tuple[Any, ...], order: int,
               backend: str) -> FirstCall:
    """The first call of the order-`order` gradient of `fn` (a function object tapeless has not
    seen) with respect to argument `wrt`, on `backend`, stage by stage (see the module doc)."""
    result = FirstCall()
    clock = _Clock(result)
    try:
        compiled = tapeless.compile(fn, backend=backend)
        graph = clock.step("parse", getattr, compiled, "graph")
        derivative: Any = compiled
        for _ in range(order):
            clock.step("AD prepare", prepare, graph)
            derivative = tapeless.grad(derivative, wrt)
            graph = clock.step("AD J", getattr, derivative, "__tapeless_graph__")
        result.value = clock.step("other", derivative, *args)
    except Exception as e:  # a stage refuses the program: that is the result
        result.refused = first_line(e)
        return result
    for native in derivative.natives.values():
        for stage, seconds in native.timings.items():
            result.seconds[stage] = result.seconds.get(stage, 0.0) + seconds
            result.seconds["other"] -= seconds
    return result


__all__ = ["STAGES", "FirstCall", "first_call", "first_line"]
