"""Control and truth: `switch`, `truth`, `not_`, `range_check`.

`if c: A else: B` lowers to `switch(truth(c), A, B)()`: the switch selects a
closure and the call runs it, so only the branch taken is evaluated.
"""

from __future__ import annotations

from typing import Any

from tapeless.ir.primitives import primitive
from tapeless.ir.prims.ad import zeros_like
from tapeless.ir.prims.rules import bool_rule, expect_scalar, type_error
from tapeless.ir.types import BOOL, AbstractType, Scalar, join_kind


def _switch(cond: bool, if_true: Any, if_false: Any) -> Any:
    """if_true if cond else if_false (cond is already a bool)."""
    return if_true if cond else if_false


def _switch_rule(cond: AbstractType, a: AbstractType, b: AbstractType) -> AbstractType:
    if not (isinstance(cond, Scalar) and cond.kind == "bool"):
        raise type_error(f"switch condition must be a bool, got {cond}")
    a, b = a.without_value(), b.without_value()
    if a == b:
        return a
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return Scalar(join_kind(a.kind, b.kind))
    raise type_error(
        f"the two branches give values of different types: {a} and {b}",
        hint="make both branches return the same type",
    )


switch = primitive("switch", _switch, _switch_rule, ("cond", "if_true", "if_false"))


@switch.rule("bprop")
def _bprop_switch(cond, if_true, if_false, out, dout):
    # the sensitivity goes to the branch taken (an Env, for closures)
    return (
        zeros_like(cond),
        switch(cond, dout, zeros_like(if_true)),
        switch(cond, zeros_like(if_false), dout),
    )


def _truth(x: Any) -> bool:
    """bool(x): Python truthiness (a NumPy array must have exactly one element)."""
    return bool(x)


# Any value has a truth value: an array's is NumPy's (ValueError unless it has one
# element), which only the run can tell.
truth = primitive("truth", _truth, bool_rule, ("x",), implements=(bool,), differentiable=False)


def _not(x: Any) -> bool:
    """not x"""
    return not x


not_ = primitive("not", _not, bool_rule, ("x",), differentiable=False)


def _range_check(i: int, stop: int, step: int) -> bool:
    """Whether a `range(start, stop, step)` loop at counter `i` runs another iteration."""
    if step == 0:
        raise ValueError("range() arg 3 must not be zero")
    return i < stop if step > 0 else i > stop


def _range_check_rule(i: AbstractType, stop: AbstractType, step: AbstractType) -> AbstractType:
    expect_scalar("range", i, stop, step)
    for t in (i, stop, step):
        if isinstance(t, Scalar) and t.kind == "f64":
            raise type_error("range() arguments must be integers, got a float")
    return BOOL


range_check = primitive(
    "range_check", _range_check, _range_check_rule, ("i", "stop", "step"), differentiable=False
)
