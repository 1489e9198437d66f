"""Local algebraic simplification: a table of rewrite rules, one worklist.

Expects: a program that `verify` accepts. Guarantees: the same results, bit
for bit (types, signed zeros, NaNs), after rewriting every live `Apply` that
matches a row of `RULES` until none matches.

The IR is untyped here (specialization comes later), so a rule whose
algebra only holds for some types checks what it can see: `is_float` knows
float constants, `float(...)`, `grad_seed(...)` and arithmetic on those.
Rules that are *not* in the table, and why:

- ``x + 0.0 -> x``: wrong for ``x = -0.0`` (``-0.0 + 0.0 == +0.0``).
- ``x * 1 -> x`` for unknown x: ``True * 1 == 1`` is an int, ``3 * 1.0`` a float.
- ``0 * x -> 0``: wrong for inf and NaN.
- ``gadd(zeros_like(a), x) -> x`` for numbers: ``0.0 + -0.0 == +0.0`` and
  ``0.0 + 3 == 3.0``; it holds for environments (an empty `Env` merged with
  `x` is `x`'s map), which is the row below.

A rule that stops reading an input (the other elements of a tuple, the
branch not taken) only fires when that input may be dropped
(`liveness.may_drop`): otherwise an exception it raises would be lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, replace
from tapeless.ir.primitives import Primitive
from tapeless.ir.prims.ad import Env, EnvKey, env_getitem
from tapeless.opt.dce import dce
from tapeless.opt.liveness import detach_dead, live_nodes, may_drop, read_elsewhere

Rule = Callable[["Match"], Node | None]


class Match:
    """The node being rewritten, with the helpers rules need."""

    def __init__(self, node: Apply, live: set[Node]) -> None:
        self.node = node
        self.args = node.args
        self.live = live

    def droppable(self, *xs: Node, through: Node | None = None) -> bool:
        """Whether the rewritten node may stop reading `xs` (read via `through`,
        an input of the node, when given: `xs` are then its inputs)."""
        dying: set[Node] = {self.node}
        if through is not None:
            if read_elsewhere(through, dying, self.live):
                return True  # `through` stays, and so do its inputs
            dying.add(through)
        return all(may_drop(x, dying, self.live) for x in xs)

    def make(self, prim: Primitive, *args: Node) -> Apply:
        return self.node.graph.apply(prim, *args, loc=self.node.loc)


def prim_of(node: Node) -> str | None:
    """The name of the primitive `node` applies, if it is such an Apply."""
    if isinstance(node, Apply):
        fn = node.inputs[0]
        if isinstance(fn, Constant) and isinstance(fn.value, Primitive):
            return fn.value.name
    return None


def const(node: Node) -> Any:
    """The value of a constant node (a sentinel `_NO` otherwise)."""
    return node.value if isinstance(node, Constant) else _NO


_NO = object()


def is_float(node: Node) -> bool:
    """Whether `node`'s value is surely a Python float."""
    if isinstance(node, Constant):
        return type(node.value) is float
    name = prim_of(node)
    if name in ("float", "grad_seed"):
        return True
    if name in ("add", "sub", "mul", "truediv", "neg") and isinstance(node, Apply):
        return all(is_float(x) for x in node.args)
    return False


def is_env(node: Node) -> bool:
    """Whether `node`'s value is surely an `Env`."""
    if isinstance(node, Constant):
        return isinstance(node.value, Env)
    return prim_of(node) == "env_setitem"


def is_one(node: Node) -> bool:
    v = const(node)
    return type(v) is float and v == 1.0


def is_pos_zero(node: Node) -> bool:
    v = const(node)
    return type(v) is float and v == 0.0 and str(v) == "0.0"


# -- the rules -------------------------------------------------------------------
def _mul_one(m: Match) -> Node | None:
    x, y = m.args
    if is_one(y) and is_float(x):  # x * 1.0 -> x       (x a float: exact, -0.0 and NaN too)
        return x
    if is_one(x) and is_float(y):  # 1.0 * x -> x
        return y
    return None


def _sub_zero(m: Match) -> Node | None:
    x, y = m.args
    if is_pos_zero(y) and is_float(x):  # x - 0.0 -> x   (-0.0 - 0.0 == -0.0)
        return x
    return None


def _neg_neg(m: Match) -> Node | None:
    (x,) = m.args
    if prim_of(x) == "neg" and isinstance(x, Apply) and is_float(x.args[0]):
        return x.args[0]  # -(-x) -> x                  (x a float; not for bools: -(-True) == 1)
    return None


def _getitem_tuple(m: Match) -> Node | None:
    t, i = m.args
    index = const(i)
    if prim_of(t) != "make_tuple" or not isinstance(t, Apply) or type(index) is not int:
        return None
    elems = t.args
    if not -len(elems) <= index < len(elems):
        return None  # getitem((a0..an), i) -> ai     (i a constant int in range)
    chosen = elems[index]
    if not m.droppable(*(e for e in elems if e is not chosen), through=t):
        return None
    return chosen


def _switch_const(m: Match) -> Node | None:
    c, a, b = m.args
    cond = const(c)
    if type(cond) is bool:  # switch(True, a, b) -> a;  switch(False, a, b) -> b
        keep, drop = (a, b) if cond else (b, a)
        return keep if m.droppable(drop) else None
    if a is b and prim_of(c) in ("truth", "not", "range_check") and m.droppable(c):
        return a  # switch(c, a, a) -> a            (c a bool, already computed elsewhere)
    return None


def _env_getitem(m: Match) -> Node | None:
    e, k, d = m.args
    env, key = const(e), const(k)
    if isinstance(env, Env) and len(env) == 0 and m.droppable(k):
        return d  # env_getitem(EMPTY_ENV, k, d) -> d
    if prim_of(e) != "env_setitem" or not isinstance(e, Apply) or not isinstance(key, EnvKey):
        return None
    e0, k0, v = e.args
    key0 = const(k0)
    if not isinstance(key0, EnvKey):
        return None
    if key0 == key and m.droppable(d) and m.droppable(e0, through=e):
        return v  # env_getitem(env_setitem(e, k, v), k, d) -> v
    if key0 != key and m.droppable(v, through=e):
        return m.make(env_getitem, e0, k, d)  # ... k2 != k -> env_getitem(e, k2, d)
    return None


def _gadd_zero(m: Match) -> Node | None:
    a, b = m.args
    if prim_of(a) == "zeros_like" and is_env(b) and m.droppable(a):
        return b  # gadd(zeros_like(f), e) -> e     (e an Env: merging into an empty one)
    if prim_of(b) == "zeros_like" and is_env(a) and m.droppable(b):
        return a  # gadd(e, zeros_like(f)) -> e
    return None


#: primitive name -> the rules tried on its applications, in order.
RULES: dict[str, list[Rule]] = {
    "mul": [_mul_one],
    "sub": [_sub_zero],
    "neg": [_neg_neg],
    "getitem": [_getitem_tuple],
    "switch": [_switch_const],
    "env_getitem": [_env_getitem],
    "gadd": [_gadd_zero],
}


def algebra(root: Graph) -> bool:
    """Rewrite with `RULES` until no rule matches; return whether anything changed."""
    changed = dce(root)  # exact use-lists: a listed user is a live one
    a = analyze(root)
    live = live_nodes(a)
    work: list[Apply] = [n for g in a.graphs for n in reversed(a.schedule(g))]
    while work:
        node = work.pop()
        if node not in live or not node.uses:
            continue  # rewritten away
        name = prim_of(node)
        for rule in RULES.get(name, []) if name is not None else []:
            new = rule(Match(node, live))
            if new is None:
                continue
            users = [u for u, _ in node.uses if isinstance(u, Apply)]
            replace(node, new)
            detach_dead(node)
            changed = True
            if isinstance(new, Apply):
                live.add(new)
                work.append(new)
            work.extend(users)  # their inputs changed: they may match now
            break
    return changed


__all__ = ["RULES", "algebra", "is_float"]
