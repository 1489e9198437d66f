"""Collection of like terms in float arithmetic (reassociating: not in `DEFAULT`).

Expects: a program that `verify` accepts, specialized to argument types
(`optimize(arg_types=...)`). Guarantees: the same results *up to rounding*,
for finite values: every tree of float additions (`add`, `sub`, `neg`,
`gadd`) and multiplications by constants, through nodes used once, is
rewritten as a linear combination ``c1*a1 + c2*a2 + ...`` of distinct atoms
(any other node, products of two variables included), in the order they
first occur, when that has fewer leaves. Atoms whose coefficient is zero are
dropped, which is why the pass assumes finite values (``-inf + inf`` is NaN,
the collected form 0).

This is the one pass that changes arithmetic, like ``-ffast-math``'s
reassociation: it is not in the default pipeline; `AGGRESSIVE` adds it. It is
what keeps high-order derivatives small: Leibniz's rule doubles the terms
of a product's derivative with every order, and only collecting them (``x +
x -> 2*x``, ``-x + x -> 0``) keeps their number growing polynomially.
"""

from __future__ import annotations

from collections.abc import Callable

from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, replace
from tapeless.ir.prims.scalar import add, mul, neg
from tapeless.opt.algebra import is_symbolic_zero, prim_of
from tapeless.opt.dce import dce
from tapeless.opt.infer import Types
from tapeless.opt.infer import is_float as is_float_type
from tapeless.opt.liveness import detach_dead

#: atom -> coefficient; insertion order is the order of first occurrence.
Form = dict[Node, float]
IsFloat = Callable[[Node], bool]

_LINEAR = frozenset({"add", "sub", "neg", "gadd", "mul"})


def collect(root: Graph) -> bool:
    """Rewrite float sums as linear combinations of distinct atoms."""
    dce(root)  # exact use-lists: "used once" means what it says
    a = analyze(root)
    types = Types(root, a)

    def is_float(x: Node) -> bool:
        return is_float_type(types[x])

    changed = False
    for g in a.graphs:
        for node in reversed(a.schedule(g)):  # roots first: a tree is rewritten whole
            if not node.uses or prim_of(node) not in _LINEAR or not is_float(node):
                continue
            if _absorbed(node, is_float):
                continue  # not the root of its tree
            form, leaves = _form(node, is_float, top=True)
            if form is None or len(form) + sum(c == 0.0 for c in form.values()) >= leaves:
                continue  # nothing to collect
            new = _build(g, node, {x: c for x, c in form.items() if c != 0.0})
            if new is None:
                continue
            replace(node, new)
            detach_dead(node)
            changed = True
    return changed


def _absorbed(node: Apply, is_float: IsFloat) -> bool:
    """Whether `node` is part of its one user's tree (not the root of its own)."""
    if len(node.uses) != 1:
        return False
    ((user, _),) = node.uses
    return (
        isinstance(user, Apply) and prim_of(user) in _LINEAR and is_float(user)
        and _coefficient(user) is not None
    )


def _coefficient(node: Apply) -> float | None:
    """For ``mul``: the constant factor, when one side is a float constant."""
    if prim_of(node) != "mul":
        return 1.0
    for x in node.args:
        if isinstance(x, Constant) and type(x.value) is float:
            return x.value
    return None


def _form(node: Node, is_float: IsFloat, *, top: bool = False) -> tuple[Form | None, int]:
    """The linear form of `node`, and how many leaves its tree has."""
    name = prim_of(node)
    if (
        not isinstance(node, Apply) or name not in _LINEAR
        or not (top or len(node.uses) == 1) or not is_float(node)
    ):
        if isinstance(node, Constant) and is_symbolic_zero(node):
            return {}, 1
        return {node: 1.0}, 1
    args = node.args
    if name == "mul":
        c = _coefficient(node)
        if c is None:
            return {node: 1.0}, 1
        other = args[1] if isinstance(args[0], Constant) and type(args[0].value) is float else args[0]
        f, n = _form(other, is_float)
        return ({x: k * c for x, k in f.items()} if f is not None else None), n
    if name == "neg":
        f, n = _form(args[0], is_float)
        return ({x: -k for x, k in f.items()} if f is not None else None), n
    f1, n1 = _form(args[0], is_float)
    f2, n2 = _form(args[1], is_float)
    if f1 is None or f2 is None:
        return None, n1 + n2
    sign = -1.0 if name == "sub" else 1.0
    out = dict(f1)
    for x, k in f2.items():
        out[x] = out.get(x, 0.0) + sign * k
    return out, n1 + n2


def _build(g: Graph, at: Apply, form: Form) -> Node | None:
    """``c1*a1 + c2*a2 + ...`` as nodes of `g`."""
    total: Node | None = None
    for x, c in form.items():
        term: Node = x
        if c == -1.0:
            term = g.apply(neg, x, loc=at.loc)
        elif c != 1.0:
            term = g.apply(mul, x, Constant(c), loc=at.loc)
        total = term if total is None else g.apply(add, total, term, loc=at.loc)
    return total if total is not None else Constant(0.0, at.loc)


__all__ = ["collect"]
