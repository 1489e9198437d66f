"""Local algebraic simplification: a table of rewrite rules, one worklist.

Expects: a program that `verify` accepts. Guarantees: the same results after
rewriting every live `Apply` that matches a row of `RULES` until none matches;
bit for bit (types, NaNs, signed zeros) except where a rule below says so.

Rules see the types `infer.Types` derives (from `optimize(arg_types=...)`;
unknown without them), so a rule whose algebra holds for some types only
checks them: ``x * 1.0 -> x`` needs x a Python float (``True * 1.0`` is 1.0,
``3 * 1.0`` is 3.0). Rules that are *not* in the table, and why:

- ``x + 0.0 -> x``: wrong for ``x = -0.0`` (``-0.0 + 0.0 == +0.0``).
- ``0 * x -> 0``: wrong for inf and NaN.

The zeros of the AD pass (`zeros_like`) are *symbolic*: ``gadd(zero, s) -> s``
for any sensitivity `s` whose type is known, including ``s = -0.0``, where
the unoptimized program computes ``0.0 + -0.0 == +0.0``. The sign of a zero
gradient is the one documented difference. A rule may stop reading an input
(the other elements of a tuple, the branch not taken): see `liveness`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, replace
from tapeless.ir.primitives import Primitive
from tapeless.ir.prims.ad import EMPTY_ENV, Env, EnvKey, env_getitem, gadd, zeros_like
from tapeless.ir.prims.control import switch
from tapeless.ir.prims.scalar import sub
from tapeless.ir.prims.structure import getitem, make_tuple
from tapeless.ir.types import ArrayType, Scalar, TupleType
from tapeless.opt.dce import dce
from tapeless.opt.infer import FLOAT_SCALAR, EnvType, Types, is_data, is_float, zeros_type
from tapeless.opt.liveness import detach_dead, live_nodes

Rule = Callable[["Match"], Node | None]


class Match:
    """The node being rewritten, with what rules need to know about it."""

    def __init__(self, node: Apply, types: Types) -> None:
        self.node = node
        self.args = node.args
        self.types = types

    def make(self, prim: Primitive, *args: Node) -> Apply:
        return self.node.graph.apply(prim, *args, loc=self.node.loc)

    def is_float(self, x: Node) -> bool:
        """Whether `x`'s value is surely a Python float."""
        return is_float(self.types[x])

    def is_sens(self, x: Node) -> bool:
        """Whether `x`'s value is surely a sensitivity: a float, a float array, an
        environment, or a tuple of those (by its type, or because AD's primitives that
        make sensitivities made it: their results are, whatever the types know)."""
        return is_sens_type(self.types[x]) or prim_of(x) in SENSITIVITIES


#: AD's primitives whose results are sensitivities of the type their rule says.
SENSITIVITIES = frozenset({"sens_like", "unreduce", "matmul_dx", "matmul_dy", "dot_dx", "dot_dy"})


def is_sens_type(t: Any) -> bool:
    if isinstance(t, TupleType):
        return all(is_sens_type(e) for e in t.elements)
    if isinstance(t, Scalar):
        return t.kind == "f64"
    if isinstance(t, ArrayType):
        return t.dtype == "f64"
    return isinstance(t, EnvType)


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


def is_one(node: Node) -> bool:
    v = const(node)
    return type(v) is float and v == 1.0


def is_pos_zero(node: Node) -> bool:
    v = const(node)
    return type(v) is float and v == 0.0 and str(v) == "0.0"


def is_symbolic_zero(node: Node) -> bool:
    """A zero of the AD pass: `zeros_like(...)`, or what folding it gave."""
    if prim_of(node) == "zeros_like":
        return True
    v = const(node)
    return _zero_value(v)


def _zero_value(v: Any) -> bool:
    if type(v) is float:
        return v == 0.0 and str(v) == "0.0"
    if isinstance(v, Env):
        return len(v) == 0
    return isinstance(v, tuple) and all(_zero_value(e) for e in v)


# -- the rules -------------------------------------------------------------------
def _mul_one(m: Match) -> Node | None:
    x, y = m.args
    if is_one(y) and m.is_float(x):  # x * 1.0 -> x       (x a float: exact, -0.0 and NaN too)
        return x
    if is_one(x) and m.is_float(y):  # 1.0 * x -> x
        return y
    return None


def _sub_zero(m: Match) -> Node | None:
    x, y = m.args
    if is_pos_zero(y) and m.is_float(x):  # x - 0.0 -> x   (-0.0 - 0.0 == -0.0)
        return x
    return None


def _neg_neg(m: Match) -> Node | None:
    (x,) = m.args
    if prim_of(x) == "neg" and isinstance(x, Apply) and m.is_float(x.args[0]):
        return x.args[0]  # -(-x) -> x                  (x a float; not for bools: -(-True) == 1)
    return None


def _integer_pow(m: Match) -> Node | None:
    x, n = m.args
    if const(n) == 1 and type(const(n)) is int and m.is_float(x):
        return x  # x ** 1 -> x                         (x a float)
    return None


def _getitem_tuple(m: Match) -> Node | None:
    t, i = m.args
    index = const(i)
    if prim_of(t) != "make_tuple" or not isinstance(t, Apply) or type(index) is not int:
        return None
    elems = t.args
    if not -len(elems) <= index < len(elems):
        return None  # getitem((a0..an), i) -> ai     (i a constant int in range)
    return elems[index]


def _tuple_eta(m: Match) -> Node | None:
    # make_tuple(t[0], ..., t[n-1]) -> t             (t a tuple of n elements; an element
    # may also be an empty Env where t's is surely one: a backpropagator's first result)
    sources = {e.args[0] for i, e in enumerate(m.args) if _is_getitem(e, i) and isinstance(e, Apply)}
    if len(sources) != 1:
        return None
    (source,) = sources
    t = m.types[source]
    if not isinstance(t, TupleType) or len(t.elements) != len(m.args):
        return None
    for i, (e, te) in enumerate(zip(m.args, t.elements, strict=True)):
        if not (_is_getitem(e, i) or (isinstance(const(e), Env) and te == EnvType(True))):
            return None
    return source


def _is_getitem(e: Node, i: int) -> bool:
    return prim_of(e) == "getitem" and isinstance(e, Apply) and const(e.args[1]) == i


def _unpack_check(m: Match) -> Node | None:
    t, n = m.args
    tt = m.types[t]
    if isinstance(tt, TupleType) and type(const(n)) is int and const(n) == len(tt.elements):
        return t  # unpack_check(t, n) -> t           (t surely a tuple of n elements)
    return None


def _switch_const(m: Match) -> Node | None:
    c, a, b = m.args
    cond = const(c)
    t = m.types[c]
    if type(cond) is not bool and isinstance(t, Scalar) and t.kind == "bool" and t.value is not None:
        cond = bool(t.value)
    if type(cond) is bool:  # switch(True, a, b) -> a;  switch(False, a, b) -> b
        return a if cond else b
    if a is b and m.types[c] == Scalar("bool"):
        return a  # switch(c, a, a) -> a            (c a bool)
    return None


def _env_getitem(m: Match) -> Node | None:
    e, k, d = m.args
    key = const(k)
    t = m.types[e]
    if isinstance(t, EnvType) and t.empty:
        return d  # env_getitem(EMPTY_ENV, k, d) -> d
    if prim_of(e) == "switch" and isinstance(e, Apply) and any(_env_known(x) for x in e.args[1:]):
        c, e1, e2 = e.args  # env_getitem(switch(c, e1, e2), k, d) -> switch(c, e1[k], e2[k])
        return m.make(switch, c, m.make(env_getitem, e1, k, d), m.make(env_getitem, e2, k, d))
    if prim_of(e) != "env_setitem" or not isinstance(e, Apply) or not isinstance(key, EnvKey):
        return None
    e0, k0, v = e.args
    key0 = const(k0)
    if not isinstance(key0, EnvKey):
        return None
    if key0 == key:
        return v  # env_getitem(env_setitem(e, k, v), k, d) -> v
    return m.make(env_getitem, e0, k, d)  # ... k2 != k -> env_getitem(e, k2, d)


def _env_known(e: Node) -> bool:
    return prim_of(e) == "env_setitem" or isinstance(const(e), Env)


def _gadd(m: Match) -> Node | None:
    a, b = m.args
    if is_symbolic_zero(a) and m.is_sens(b):
        return b  # gadd(zero, s) -> s                (s a sensitivity; symbolic zeros)
    if is_symbolic_zero(b) and m.is_sens(a):
        return a  # gadd(s, zero) -> s
    for x, y in ((a, b), (b, a)):
        if prim_of(y) == "neg" and isinstance(y, Apply) and m.is_float(x) and m.is_float(y.args[0]):
            return m.make(sub, x, y.args[0])  # gadd(x, -y) -> x - y   (floats: exact)
    return None  # (else gadd of floats stays gadd, not add: a zero found later still folds away)


def _gadd_tuples(m: Match) -> Node | None:
    a, b = m.args
    if prim_of(a) != "make_tuple" or prim_of(b) != "make_tuple":
        return None
    assert isinstance(a, Apply) and isinstance(b, Apply)
    if len(a.args) != len(b.args):
        return None  # gadd((a0..an), (b0..bn)) -> (gadd(a0, b0), ..)
    return m.make(make_tuple, *(m.make(gadd, x, y) for x, y in zip(a.args, b.args, strict=True)))


def _getitem_sens(m: Match) -> Node | None:
    x, i, d = m.args
    t = m.types[x]
    index = const(i)
    if not isinstance(t, TupleType) or type(index) is not int or not -len(t.elements) <= index < len(t.elements):
        return None  # getitem_sens(x, i, d) -> (zeros_like(x[0]), .., d, ..)   (x a tuple)
    n = len(t.elements)
    parts = [
        d if j == index % n else m.make(zeros_like, m.make(getitem, x, Constant(j, m.node.loc)))
        for j in range(n)
    ]
    return m.make(make_tuple, *parts)


def _sens_like(m: Match) -> Node | None:
    d, like = m.args
    if m.is_float(d) and isinstance(m.types[like], Scalar):
        return d  # sens_like(d, x) -> d             (d a float, x a Python number)
    return None


def _zeros_like(m: Match) -> Node | None:
    (x,) = m.args
    t = m.types[x]
    value = _zeros_constant(zeros_type(t))
    if value is _NO:
        return None
    return Constant(value, m.node.loc)  # zeros_like(x) -> 0.0, Env(), (0.0, ...)


def _zeros_constant(t: Any) -> Any:
    if isinstance(t, Scalar):
        return 0.0
    if isinstance(t, EnvType):
        return EMPTY_ENV
    if isinstance(t, TupleType):
        parts = tuple(_zeros_constant(e) for e in t.elements)
        return _NO if any(p is _NO for p in parts) else parts
    return _NO


def _jvalue(m: Match) -> Node | None:
    (x,) = m.args
    return x if is_data(m.types[x]) else None  # jvalue(x) -> x   (x data, no function inside)


def _check_wrt(m: Match) -> Node | None:
    x, _ = m.args
    return x if m.is_sens(x) and is_data(m.types[x]) else None  # check_wrt(x, i) -> x (x floats)


def _grad_seed(m: Match) -> Node | None:
    (out,) = m.args
    if m.is_float(out) or m.types[out] == FLOAT_SCALAR:
        return Constant(1.0, m.node.loc)  # grad_seed(out) -> 1.0   (out surely a float scalar)
    return None


#: primitive name -> the rules tried on its applications, in order.
RULES: dict[str, list[Rule]] = {
    "mul": [_mul_one],
    "sub": [_sub_zero],
    "neg": [_neg_neg],
    "integer_pow": [_integer_pow],
    "getitem": [_getitem_tuple],
    "make_tuple": [_tuple_eta],
    "unpack_check": [_unpack_check],
    "switch": [_switch_const],
    "env_getitem": [_env_getitem],
    "gadd": [_gadd, _gadd_tuples],
    "getitem_sens": [_getitem_sens],
    "sens_like": [_sens_like],
    "zeros_like": [_zeros_like],
    "jvalue": [_jvalue],
    "check_wrt": [_check_wrt],
    "grad_seed": [_grad_seed],
}


def algebra(root: Graph) -> bool:
    """Rewrite with `RULES` until no rule matches; return whether anything changed."""
    changed = dce(root)  # exact use-lists: a listed user is a live one
    a = analyze(root)
    types = Types(root, a)
    live = live_nodes(a)
    work: list[Apply] = [n for g in a.graphs for n in reversed(a.schedule(g))]
    while work:
        node = work.pop()
        if node not in live or not node.uses:
            continue  # rewritten away
        name = prim_of(node)
        for rule in RULES.get(name, []) if name is not None else []:
            new = rule(Match(node, types))
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


__all__ = ["RULES", "Match", "algebra", "is_symbolic_zero", "prim_of"]
