"""Specialization: a polyvariant abstract interpretation that gives every graph
one monomorphic type per way it is used.

Expects: an (optimized) program whose root takes arguments of known types
(`Scalar` f64/i64/bool, `NoneType`, `TupleType` of those). Guarantees: a
`Specialization` whose `Instance`s each give a graph, the context its free
variables come from, the types of its parameters, and a type for every node
it computes; everything past this point is monomorphic. A program that
cannot be typed so (an `if` giving an int on one path and a float on the
other, a call of a value that is not a function, an unsupported primitive)
raises a `TypeInferenceError` pointing at the source expression.

Function values are `FnSet`s: the set of `Closure`s (a graph with the
instance that made it, whose frame holds its free variables) and primitives
that may flow to a point. A call of a closure is an instance keyed by
(graph, context, argument types); recursion reaches a fixpoint: an
instance's output starts unknown (`None`) and callers are evaluated again
when it grows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tapeless.errors import InternalError, TypeInferenceError
from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node
from tapeless.ir.primitives import Primitive
from tapeless.ir.prims.ad import Env, EnvKey
from tapeless.ir.types import AbstractType, ArrayType, NoneType, Scalar, SliceType, TupleType

#: The NumPy dtypes of native arrays and their kinds.
NATIVE_DTYPES = {np.dtype(np.float64): "f64", np.dtype(np.int64): "i64", np.dtype(np.bool_): "bool"}
F64 = Scalar("f64")
I64 = Scalar("i64")
BOOL = Scalar("bool")
#: Instances of one graph beyond which argument types are taken to grow without bound.
MAX_INSTANCES = 64


@dataclass(frozen=True, eq=False)
class Closure:
    """A graph made in the frame of `context` (None for a graph without free variables)."""

    graph: Graph
    context: Instance | None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Closure) and other.graph is self.graph and other.context is self.context
        )

    def __hash__(self) -> int:
        return hash((id(self.graph), id(self.context)))

    def __str__(self) -> str:
        return self.graph.name if self.context is None else f"{self.graph.name}@{self.context.name}"


@dataclass(frozen=True)
class FnSet(AbstractType):
    """A function value: one of `members`, in a fixed order (the tags of closure conversion)."""

    members: tuple[Closure | Primitive, ...]

    def __str__(self) -> str:
        return "{" + ", ".join(str(m) for m in self.members) + "}"


@dataclass(frozen=True)
class KeyType(AbstractType):
    """The type of one `EnvKey` constant (it has no run-time representation)."""

    key: EnvKey

    def __str__(self) -> str:
        return repr(self.key)


@dataclass(frozen=True)
class EnvRecord(AbstractType):
    """An AD environment (`Env`): the keys it may hold, each with the type of its
    sensitivity. Natively a record with a presence flag and a slot per key; a key
    the type lacks, or whose flag is clear, is absent (`env_getitem` gives the
    default). An environment inside another's slot is `BOXED`."""

    entries: tuple[tuple[EnvKey, AbstractType], ...] = ()

    def get(self, key: EnvKey) -> AbstractType | None:
        for k, t in self.entries:
            if k == key:
                return t
        return None

    def index(self, key: EnvKey) -> int:
        return [k for k, _ in self.entries].index(key)

    def __str__(self) -> str:
        return "Env{" + ", ".join(f"{k!r}: {t}" for k, t in self.entries) + "}"


def env_record(types: dict[EnvKey, AbstractType]) -> EnvRecord:
    """The environment type of `types`, its keys in a canonical order."""
    return EnvRecord(tuple(sorted(types.items(), key=lambda kt: id(kt[0].node))))


@dataclass(frozen=True)
class BoxedEnv(AbstractType):
    """An AD environment stored in a slot of another (the sensitivity of a closure
    that a closure captured): a pointer to the program's one `EnvLayout`. Nominal,
    so that the environments of a chain of closures (a loop's backpropagators,
    differentiated again) have a finite type."""

    def __str__(self) -> str:
        return "Env*"


BOXED = BoxedEnv()
EMPTY_ENV = EnvRecord()


class EnvLayout:
    """The record type of every `BOXED` environment of a program: the union of all
    environments stored inside others. It grows during specialization; `on_grow`
    is called then (the specializer evaluates everything again)."""

    def __init__(self, on_grow: Callable[[], None]) -> None:
        self.record = EMPTY_ENV
        self._on_grow = on_grow

    def box(self, t: AbstractType, node: Node) -> AbstractType:
        """The type of `t` stored in an environment's slot: its environments boxed."""
        if isinstance(t, EnvRecord):
            grown = union(self.record, t, node)
            assert isinstance(grown, EnvRecord)
            if grown != self.record:
                self.record = grown
                self._on_grow()
            return BOXED
        if isinstance(t, TupleType):
            return TupleType(tuple(self.box(e, node) for e in t.elements))
        return t

    def unbox(self, t: AbstractType) -> AbstractType:
        """The type of a value read from a slot of type `t`."""
        if isinstance(t, BoxedEnv):
            return self.record
        if isinstance(t, TupleType):
            return TupleType(tuple(self.unbox(e) for e in t.elements))
        return t


@dataclass(eq=False)
class Instance:
    """`graph` specialized to `args`, its free variables read in `context`'s frame."""

    graph: Graph
    context: Instance | None
    args: tuple[AbstractType, ...]
    name: str
    types: dict[Node, AbstractType] = field(default_factory=dict)
    output: AbstractType | None = None
    #: The instances (and the Apply of each call) this one calls: (node, callee).
    calls: dict[Apply, list[Instance]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Instance {self.name}>"


def union(a: AbstractType | None, b: AbstractType | None, node: Node | None) -> AbstractType | None:
    """The one type covering `a` and `b` (None is 'not known yet'), or a TypeInferenceError."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    if isinstance(a, TupleType) and isinstance(b, TupleType) and len(a.elements) == len(b.elements):
        return TupleType(
            tuple(union(x, y, node) or x for x, y in zip(a.elements, b.elements, strict=True))
        )
    if isinstance(a, FnSet) and isinstance(b, FnSet):
        return FnSet(a.members + tuple(m for m in b.members if m not in a.members))
    if isinstance(a, EnvRecord) and isinstance(b, EnvRecord):
        merged = dict(a.entries)
        for k, t in b.entries:
            merged[k] = union(merged.get(k), t, node) or t
        return env_record(merged)
    raise TypeInferenceError(
        f"this value is {describe(a)} on one path and {describe(b)} on another;"
        " native code needs one type per value",
        node.loc if node is not None else None,
        construct="native specialization",
        hint="convert explicitly (float(...), int(...)) so every path gives the same type,"
        ' or run it with backend="interp"',
    )


def describe(t: AbstractType) -> str:
    """`t` in words, for error messages."""
    if isinstance(t, Scalar):
        return {"f64": "a float", "i64": "an int", "bool": "a bool"}[t.kind]
    if isinstance(t, TupleType):
        return f"a tuple of {len(t.elements)}"
    if isinstance(t, FnSet):
        return "a function"
    if isinstance(t, NoneType):
        return "None"
    return str(t)


def constant_type(value: Any, node: Node | None = None) -> AbstractType:
    """The type of a constant that is not a graph."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise TypeInferenceError(
                f"the int constant {value} does not fit in 64 bits",
                node.loc if node is not None else None,
                construct="native specialization",
                hint="native ints are 64-bit",
            )
        return I64
    if isinstance(value, float):
        return F64
    if value is None:
        return NoneType()
    if isinstance(value, Primitive):
        return FnSet((value,))
    if isinstance(value, EnvKey):
        return KeyType(value)
    if isinstance(value, Env):
        types = {k: constant_type(v, node) for k, v in value.items()}
        if not any(isinstance(t, EnvRecord) for t in types.values()):
            return env_record(types)
    if isinstance(value, tuple):
        return TupleType(tuple(constant_type(v, node) for v in value))
    if isinstance(value, slice) and all(v is None or type(v) is int for v in (value.start, value.stop, value.step)):
        return SliceType()
    if isinstance(value, np.ndarray) and value.dtype in NATIVE_DTYPES and value.dtype.isnative:
        return ArrayType(NATIVE_DTYPES[value.dtype], value.ndim)
    raise TypeInferenceError(
        f"a constant of type {type(value).__name__} ({value!r:.40}) has no native representation",
        node.loc if node is not None else None,
        construct="native specialization",
        hint='run it with backend="interp"',
    )


class Specialization:
    """Every instance reachable from the root called with `arg_types`."""

    def __init__(self, root: Graph, arg_types: tuple[AbstractType, ...]) -> None:
        from tapeless.backend.cpu.primtypes import primitive_type

        self._primitive_type = primitive_type
        self.analysis: Analysis = analyze(root)
        self.instances: dict[tuple[int, int, tuple[AbstractType, ...]], Instance] = {}
        self._by_graph: dict[Graph, int] = {}
        self._callers: dict[Instance, set[Instance]] = {}
        self._readers: dict[Instance, set[Instance]] = {}
        self._work: deque[Instance] = deque()
        self._queued: set[Instance] = set()
        self._contexts: dict[tuple[int, tuple[AbstractType | None, ...]], Instance] = {}
        self.layout = EnvLayout(self._evaluate_all)
        self.root = self.instance(root, None, arg_types, None)
        self._solve()
        if self.root.output is None:
            raise TypeInferenceError(
                f"{root.name} never returns (every path recurses forever)",
                root.loc,
                construct="native specialization",
            )
        self._widen_outputs()

    def _widen_outputs(self) -> None:
        """Give an instance whose every call site expects one wider type (the members
        of a `switch` of graphs returning different closures) that type as its
        output: it then returns in the representation its callers read, with no
        re-tagging after the call, which keeps its calls tail calls."""
        expected: dict[Instance, set[AbstractType | None]] = {inst: set() for inst in self}
        for inst in self:
            for node, callees in inst.calls.items():
                for callee in callees:
                    expected[callee].add(inst.types.get(node))
        for inst, types in expected.items():
            if inst is self.root or len(types) != 1:
                continue
            (t,) = types
            if t is not None and inst.output is not None and union(t, inst.output, None) == t:
                inst.output = t

    # -- instances -------------------------------------------------------------
    def instance(
        self,
        g: Graph,
        context: Instance | None,
        args: tuple[AbstractType, ...],
        site: Node | None,
    ) -> Instance:
        """The instance of `g` for `args` in `context`, queued for evaluation when new."""
        key = (id(g), id(context), args)
        inst = self.instances.get(key)
        if inst is None:
            count = self._by_graph.get(g, 0) + 1
            if count > MAX_INSTANCES:
                raise TypeInferenceError(
                    f"{g.name} is called with ever new argument types (growing tuples?)",
                    site.loc if site is not None else g.loc,
                    construct="native specialization",
                    hint='native code needs finitely many types; run it with backend="interp"',
                )
            self._by_graph[g] = count
            suffix = "" if count == 1 else f"#{count}"
            inst = Instance(g, context, args, f"{g.name}{suffix}")
            self.instances[key] = inst
            self._callers[inst] = set()
            self._readers[inst] = set()
            if context is not None:
                self._readers[context].add(inst)
            self._push(inst)
        return inst

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances.values())

    def free_variables(self, g: Graph) -> list[Node]:
        return self.analysis.free_variables(g)

    def schedule(self, g: Graph) -> list[Apply]:
        return self.analysis.schedule(g)

    def type_of(self, inst: Instance, node: Node) -> AbstractType | None:
        """The type of `node` as `inst` sees it (its own, or a free variable's in its context)."""
        if isinstance(node, Constant):
            return self._constant(inst, node)
        owner = node.owner
        scope: Instance | None = inst
        while scope is not None and scope.graph is not owner:
            scope = scope.context
        if scope is None:
            raise InternalError(f"{node!r} is not visible in {inst.name}")
        return scope.types.get(node)

    def _constant(self, inst: Instance, node: Constant) -> AbstractType | None:
        """A constant's type; a graph's closure takes as context the first instance that
        made one with the same free-variable types (so closures made in every iteration
        of a loop have one type), and is unknown while those types are."""
        value = node.value
        if not isinstance(value, Graph):
            return constant_type(value, node)
        fvs = self.analysis.free_variables(value) if value in self.analysis.graphs else []
        if not fvs:
            return FnSet((Closure(value, None),))
        types = tuple(self.type_of(inst, x) for x in fvs)
        if any(t is None for t in types):
            return None
        context = self._contexts.setdefault((id(value), types), inst)
        return FnSet((Closure(value, context),))

    # -- the fixpoint ------------------------------------------------------------
    def _evaluate_all(self) -> None:
        for inst in self.instances.values():
            self._push(inst)

    def _push(self, inst: Instance) -> None:
        if inst not in self._queued:
            self._queued.add(inst)
            self._work.append(inst)

    def _solve(self) -> None:
        while self._work:
            inst = self._work.popleft()
            self._queued.discard(inst)
            self._evaluate(inst)

    def _evaluate(self, inst: Instance) -> None:
        g = inst.graph
        changed = False
        for p, t in zip(g.parameters, inst.args, strict=True):
            changed = self._set(inst, p, t) or changed
        for node in self.schedule(g):
            computed = self._apply(inst, node)
            if computed is not None:
                changed = self._set(inst, node, computed) or changed
        if changed:
            for reader in self._readers[inst]:
                self._push(reader)
        if g.has_output:
            out = self.type_of(inst, g.output)
            new = union(inst.output, out, g.output)
            if new != inst.output:
                inst.output = new
                for caller in self._callers[inst]:
                    self._push(caller)

    def _set(self, inst: Instance, node: Node, t: AbstractType) -> bool:
        old = inst.types.get(node)
        new = union(old, t, node)
        if new == old or new is None:
            return False
        inst.types[node] = new
        return True

    def _apply(self, inst: Instance, node: Apply) -> AbstractType | None:
        fn = self.type_of(inst, node.inputs[0])
        args: list[AbstractType] = []
        for x in node.inputs[1:]:
            t = self.type_of(inst, x)
            if t is None:
                return None
            args.append(t)
        if fn is None:
            return None
        if not isinstance(fn, FnSet):
            raise TypeInferenceError(
                f"calls {describe(fn)}, which is not a function",
                node.loc,
                construct="native specialization",
            )
        result: AbstractType | None = None
        callees: list[Instance] = []
        for member in fn.members:
            r: AbstractType | None
            if isinstance(member, Primitive):
                r = self._primitive_type(member, node, args, self.layout)
            else:
                callee = self._call(inst, node, member, tuple(args))
                callees.append(callee)
                r = callee.output
            result = union(result, r, node)
        inst.calls[node] = callees
        return result

    def _call(self, inst: Instance, node: Apply, c: Closure, args: tuple[AbstractType, ...]) -> Instance:
        args = args + tuple(constant_type(v, node) for v in missing_defaults(c.graph, len(args)))
        if len(args) != len(c.graph.parameters):
            raise TypeInferenceError(
                f"{c.graph.name} takes {len(c.graph.parameters)} arguments, {len(args)} given",
                node.loc,
                construct="native specialization",
            )
        callee = self.instance(c.graph, c.context, args, node)
        self._callers[callee].add(inst)
        return callee


def missing_defaults(g: Graph, given: int) -> tuple[Any, ...]:
    """The default values that fill `g`'s parameters after `given` arguments (or none)."""
    missing = len(g.parameters) - given
    if 0 < missing <= len(g.defaults):
        return tuple(g.defaults[len(g.defaults) - missing :])
    return ()


__all__ = [
    "BOOL",
    "BOXED",
    "EMPTY_ENV",
    "F64",
    "I64",
    "BoxedEnv",
    "Closure",
    "EnvLayout",
    "EnvRecord",
    "FnSet",
    "Instance",
    "KeyType",
    "Specialization",
    "env_record",
    "union",
]
