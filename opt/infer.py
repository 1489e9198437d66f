"""Type inference for the optimizer: what each node's value surely is.

A monovariant abstract interpretation (0-CFA) of the whole program rooted
at `root`, from the types of its arguments (`root.flags["arg_types"]`, set by
`optimize(arg_types=...)`; unknown without them). Every node gets one abstract
value, joined over every way the program reaches it:

- the scalar types of `ir.types` (`F64`, `I64`, `BOOL`, with the constant
  `value` while it is one) mean *Python* scalars here: a primitive of the
  NumPy families whose type rule says "scalar" may give a NumPy scalar,
  which types as `TOP`;
- `TupleType`, `ArrayType`, `NONE`, `SliceType` as in `ir.types`;
- `Fns(graphs)`: a function value, one of a known set of graphs and
  primitives; a call through it joins its arguments into the callees'
  parameters and their outputs into its result;
- `EnvType(empty)`: an environment of sensitivities, known empty or not;
- `FLOAT_SCALAR`: a Python or NumPy float (a NumPy reduction's result);
- `TOP`: unknown.

A graph that *escapes* (reaches the root's result, a call of an unknown
function or a primitive that does not just move values around) may be
called with anything: its parameters are `TOP`. Primitives use their type
rules (`Primitive.infer`); a rule that refuses its argument types gives
`TOP` (the program raises there at run time). Tuples nested deeper than
`DEPTH` widen to `TOP`, so the fixpoint ends.

The result is only used to *enable* rewrites, so every imprecision is safe:
a node that types as `TOP` is simply not rewritten by type-aware rules.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, Unbound
from tapeless.ir.primitives import Primitive
from tapeless.ir.prims.ad import Env
from tapeless.ir.types import (
    F64,
    AbstractType,
    ArrayType,
    NoneType,
    Scalar,
    SliceType,
    TupleType,
    typeof,
)


@dataclass(frozen=True, slots=True)
class Top(AbstractType):
    """Any value."""

    def __str__(self) -> str:
        return "?"


@dataclass(frozen=True, slots=True)
class Fns(AbstractType):
    """A function value: one of `members` (graphs and primitives)."""

    members: frozenset[Graph | Primitive]

    def __str__(self) -> str:
        return "{" + ", ".join(sorted(getattr(m, "name", "?") for m in self.members)) + "}"


@dataclass(frozen=True, slots=True)
class EnvType(AbstractType):
    """An environment of sensitivities; `empty` when it surely holds nothing."""

    empty: bool

    def __str__(self) -> str:
        return "env{}" if self.empty else "env"


@dataclass(frozen=True, slots=True)
class FloatScalar(AbstractType):
    """A float scalar, Python's or NumPy's (`np.float64`): what a NumPy reduction over all
    axes of a float array gives, and arithmetic of that with numbers. Rules that need a
    Python float do not take it; `grad_seed` does (its result is 1.0 either way)."""

    def __str__(self) -> str:
        return "float*"


TOP = Top()
FLOAT_SCALAR = FloatScalar()
EMPTY = EnvType(True)
DEPTH = 6
MAX_SWEEPS = 40

#: Primitive families whose scalar results may be NumPy scalars.
_NUMPY_MODULES = (
    "tapeless.ir.prims.array",
    "tapeless.ir.prims.reductions",
    "tapeless.ir.prims.linalg",
    "tapeless.ir.prims.shapes",
)
#: Primitives that only move values around: a function value passed to them does not escape
#: (`zeros_like` does not call it, `env_getitem` returns its default as it is).
_STRUCTURAL = frozenset({"make_tuple", "getitem", "switch", "zeros_like", "env_getitem"})


def arg_type(value: Any) -> AbstractType:
    """The abstract value of a concrete argument (NumPy scalars: `TOP`)."""
    if isinstance(value, np.generic):
        return TOP
    if isinstance(value, tuple):
        return TupleType(tuple(arg_type(v) for v in value))
    try:
        t = typeof(value)
    except Exception:
        return TOP
    return t if isinstance(t, Scalar | ArrayType | NoneType | SliceType) else TOP


def join(a: AbstractType, b: AbstractType) -> AbstractType:
    """The least abstract value covering both."""
    if a == b:
        return a
    if isinstance(a, Scalar) and isinstance(b, Scalar) and a.kind == b.kind:
        return Scalar(a.kind)
    if isinstance(a, TupleType) and isinstance(b, TupleType) and len(a.elements) == len(b.elements):
        return TupleType(tuple(join(x, y) for x, y in zip(a.elements, b.elements, strict=True)))
    if isinstance(a, Fns) and isinstance(b, Fns):
        return Fns(a.members | b.members)
    if isinstance(a, EnvType) and isinstance(b, EnvType):
        return EnvType(a.empty and b.empty)
    return TOP


def _widen(t: AbstractType, depth: int = 0) -> AbstractType:
    if isinstance(t, TupleType):
        if depth >= DEPTH:
            return TOP
        return TupleType(tuple(_widen(e, depth + 1) for e in t.elements))
    return t


def functions_in(t: AbstractType) -> Iterable[Graph | Primitive]:
    """The function values a value of type `t` may contain."""
    if isinstance(t, Fns):
        yield from t.members
    elif isinstance(t, TupleType):
        for e in t.elements:
            yield from functions_in(e)


def constant_type(value: Any) -> AbstractType:
    """The abstract value of a constant."""
    if isinstance(value, Graph | Primitive):
        return Fns(frozenset({value}))
    if isinstance(value, Env):
        return EnvType(len(value) == 0)
    if isinstance(value, Unbound | np.generic):
        return TOP
    if isinstance(value, tuple):
        return TupleType(tuple(constant_type(v) for v in value))
    if isinstance(value, bool | int | float):
        return typeof(value, keep_value=True)
    return arg_type(value)


class Types:
    """The inferred abstract value of every node of a program (see the module docstring)."""

    def __init__(self, root: Graph, analysis: Analysis | None = None) -> None:
        self.root = root
        self.a = analysis if analysis is not None else analyze(root)
        self.nodes: dict[Node, AbstractType] = {}
        self.params: dict[Graph, list[AbstractType | None]] = {
            g: [None] * len(g.parameters) for g in self.a.graphs
        }
        self.outputs: dict[Graph, AbstractType] = {}
        self.escaped: set[Graph] = set()
        self.current = root
        given = root.flags.get("arg_types")
        self.params[root] = list(given) if given is not None else [TOP] * len(root.parameters)
        self.converged = self._solve()

    def __getitem__(self, node: Node) -> AbstractType:
        """The abstract value of `node` (`TOP` when unknown or not converged)."""
        if not self.converged:
            return TOP
        if isinstance(node, Constant):
            return constant_type(node.value)
        return self.nodes.get(node, TOP)

    def output(self, g: Graph) -> AbstractType:
        return self.outputs.get(g, TOP) if self.converged else TOP

    # -- the fixpoint ---------------------------------------------------------
    def _solve(self) -> bool:
        """A worklist of graphs: one is swept again when its parameters, a callee's
        output or a node it reads from an enclosing graph changed."""
        self.readers: dict[Graph, set[Graph]] = {g: set() for g in self.a.graphs}
        for g in self.a.graphs:
            for x in self.a.free_variables(g):
                owner = x.owner
                if owner is not None and owner in self.readers:
                    self.readers[owner].add(g)
        self.callers: dict[Graph, set[Graph]] = {g: set() for g in self.a.graphs}
        work = deque(self.a.graphs)
        self.queued = set(work)
        self.work = work
        budget = MAX_SWEEPS * len(self.a.graphs)
        while work:
            budget -= 1
            if budget < 0:
                return False
            g = work.popleft()
            self.queued.discard(g)
            self.current = g
            self._sweep(g)
        return True

    def _dirty(self, graphs: Iterable[Graph]) -> None:
        for g in graphs:
            if g not in self.queued:
                self.queued.add(g)
                self.work.append(g)

    def _set(self, table: dict[Any, AbstractType], key: Any, value: AbstractType) -> bool:
        old = table.get(key)
        new = _widen(value if old is None else join(old, value))
        if new == old:
            return False
        table[key] = new
        return True

    def _type(self, node: Node) -> AbstractType | None:
        if isinstance(node, Constant):
            return constant_type(node.value)
        return self.nodes.get(node)

    def _escape(self, t: AbstractType) -> None:
        """Functions in a value that leaves the program's sight: anything may call them."""
        for f in functions_in(t):
            if isinstance(f, Graph) and f not in self.escaped and f in self.params:
                self.escaped.add(f)
                self.params[f] = [TOP] * len(f.parameters)
                self._dirty([f])

    def _sweep(self, g: Graph) -> None:
        changed = False
        for p, t in zip(g.parameters, self.params[g], strict=True):
            if t is not None:
                changed = self._set(self.nodes, p, t) or changed
        for node in self.a.schedule(g):
            t = self._apply(node)
            if t is not None:
                changed = self._set(self.nodes, node, t) or changed
        if changed:
            self._dirty(self.readers[g])
        if g.has_output:
            out = self._type(g.output)
            if out is not None:
                if self._set(self.outputs, g, out):
                    self._dirty(self.callers[g])
                if g is self.root:
                    self._escape(out)

    def _apply(self, node: Apply) -> AbstractType | None:
        """The value of `node` from its inputs' (None while an input is still unknown)."""
        types: list[AbstractType] = []
        for x in node.inputs:
            t = self._type(x)
            if t is None:
                return None
            types.append(t)
        fn, *args = types
        if not isinstance(fn, Fns):
            for t in args:
                self._escape(t)
            return TOP
        result: AbstractType | None = None
        for f in fn.members:
            r = self._call_graph(f, args) if isinstance(f, Graph) else self._call_primitive(f, node, args)
            if r is not None:
                result = r if result is None else join(result, r)
        return result

    def _call_graph(self, g: Graph, args: list[AbstractType]) -> AbstractType | None:
        if g not in self.params or len(args) != len(g.parameters):
            return TOP  # an arity error at run time (or a graph outside the program)
        self.callers[g].add(self.current)
        params = self.params[g]
        for i, t in enumerate(args):
            old = params[i]
            new = _widen(t if old is None else join(old, t))
            if new != old:
                params[i] = new
                self._dirty([g])
        return self.outputs.get(g)

    def _call_primitive(self, p: Primitive, node: Apply, args: list[AbstractType]) -> AbstractType:
        if p.name not in _STRUCTURAL:
            for t in args:
                self._escape(t)
        special = _SPECIAL.get(p.name)
        if special is not None:
            return special(node, args)
        if any(isinstance(t, FloatScalar) for t in args):
            return _float_arithmetic(p, args)
        if any(isinstance(t, Top | Fns | EnvType) for t in args):
            return TOP
        try:
            out = p.infer(*args)
        except Exception:
            return TOP  # the rule refuses these types: the call raises at run time
        if isinstance(out, Scalar) and p.impl.__module__ in _NUMPY_MODULES:
            return FLOAT_SCALAR if out.kind == "f64" else TOP
        return out


def _array_element(t: ArrayType, index: AbstractType) -> AbstractType:
    """`x[index]` of an array: a view (an array), or an element (a NumPy scalar)."""
    from tapeless.ir.prims.structure import getitem

    try:
        out = getitem.infer(t, index)
    except Exception:
        return TOP  # the rule refuses the index: it raises at run time
    if isinstance(out, Scalar):
        return FLOAT_SCALAR if out.kind == "f64" else TOP
    return out


def _float_arithmetic(p: Primitive, args: list[AbstractType]) -> AbstractType:
    """Arithmetic of a `FloatScalar` with numbers is one too; anything else is unknown."""
    numbers = all(isinstance(t, FloatScalar) or (isinstance(t, Scalar) and t.kind != "bool") for t in args)
    return FLOAT_SCALAR if numbers and p.name in ("add", "sub", "mul", "truediv", "neg", "pos") else TOP


# -- primitives with their own transfer functions --------------------------------
def _make_tuple(node: Apply, args: list[AbstractType]) -> AbstractType:
    return TupleType(tuple(args))


def _getitem(node: Apply, args: list[AbstractType]) -> AbstractType:
    t, i = args
    if isinstance(t, ArrayType):
        return _array_element(t, i)
    if not isinstance(t, TupleType):
        return TOP
    n = len(t.elements)
    if isinstance(i, Scalar) and i.kind in ("i64", "bool") and i.value is not None:
        index = int(i.value)
        return t.elements[index] if -n <= index < n else TOP
    if isinstance(i, Scalar) and i.kind == "i64" and n:
        out = t.elements[0]
        for e in t.elements[1:]:
            out = join(out, e)
        return out
    return TOP


def _switch(node: Apply, args: list[AbstractType]) -> AbstractType:
    c, a, b = args
    if isinstance(c, Scalar) and c.kind == "bool" and c.value is not None:
        return a if c.value else b
    return join(a, b)


def _python_number(t: AbstractType) -> bool:
    return isinstance(t, Scalar)


def _sens_like(node: Apply, args: list[AbstractType]) -> AbstractType:
    _, like = args
    return F64 if _python_number(like) else TOP


def _zeros_like(node: Apply, args: list[AbstractType]) -> AbstractType:
    return zeros_type(args[0])


def zeros_type(t: AbstractType) -> AbstractType:
    """The type of `zeros_like` of a value of type `t`."""
    if isinstance(t, Scalar | NoneType | SliceType):
        return Scalar("f64", 0.0)
    if isinstance(t, ArrayType):
        return ArrayType("f64", t.ndim)
    if isinstance(t, TupleType):
        return TupleType(tuple(zeros_type(e) for e in t.elements))
    if isinstance(t, Fns | EnvType):
        return EMPTY
    return TOP


def _gadd(node: Apply, args: list[AbstractType]) -> AbstractType:
    a, b = args
    if is_float(a) and is_float(b):
        return F64
    if isinstance(a, EnvType) and isinstance(b, EnvType):
        return EnvType(a.empty and b.empty)
    if isinstance(a, TupleType) and isinstance(b, TupleType) and len(a.elements) == len(b.elements):
        return TupleType(tuple(_gadd(node, [x, y]) for x, y in zip(a.elements, b.elements, strict=True)))
    if isinstance(a, ArrayType) and a == b:
        return a
    return TOP


def _env_setitem(node: Apply, args: list[AbstractType]) -> AbstractType:
    return EnvType(False)


def _env_getitem(node: Apply, args: list[AbstractType]) -> AbstractType:
    env, _, default = args
    if isinstance(env, EnvType) and env.empty:
        return default
    return TOP


def _identity_if_data(node: Apply, args: list[AbstractType]) -> AbstractType:
    """`jvalue` and `check_wrt`: the value itself, when it is data."""
    t = args[0]
    return t if is_data(t) else TOP


def is_float(t: AbstractType) -> bool:
    """Whether a value of type `t` is surely a Python float."""
    return isinstance(t, Scalar) and t.kind == "f64"


def is_data(t: AbstractType) -> bool:
    """Whether a value of type `t` surely holds no function (and is known)."""
    if isinstance(t, TupleType):
        return all(is_data(e) for e in t.elements)
    return isinstance(t, Scalar | ArrayType | NoneType | SliceType)


def _grad_seed(node: Apply, args: list[AbstractType]) -> AbstractType:
    t = args[0]
    return Scalar("f64", 1.0) if is_float(t) else TOP


def _fixed(t: AbstractType) -> Any:
    """A primitive whose result has type `t` whatever its argument (or raises)."""
    return lambda node, args: t


_SPECIAL = {
    "float": _fixed(F64),
    "int": _fixed(Scalar("i64")),
    "truth": _fixed(Scalar("bool")),
    "not": _fixed(Scalar("bool")),
    "range_check": _fixed(Scalar("bool")),
    "make_tuple": _make_tuple,
    "getitem": _getitem,
    "switch": _switch,
    "sens_like": _sens_like,
    "zeros_like": _zeros_like,
    "gadd": _gadd,
    "env_setitem": _env_setitem,
    "env_getitem": _env_getitem,
    "jvalue": _identity_if_data,
    "check_wrt": _identity_if_data,
    "grad_seed": _grad_seed,
}

__all__ = ["DEPTH", "EMPTY", "TOP", "EnvType", "Fns", "Top", "Types", "arg_type", "is_data", "is_float", "join", "zeros_type"]
