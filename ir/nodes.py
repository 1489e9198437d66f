"""The graph IR: `Graph`, `Apply`, `Parameter`, `Constant`.

A `Graph` is a function: parameters and one output node. An `Apply` is a call
whose first input is the function (a primitive constant, a graph constant or a
computed closure) and whose other inputs are the arguments. A `Constant`
holding a `Graph` is a function value; a graph that uses a node owned by
another graph is a closure over it (nesting is derived from such free
variables, see `ir.analysis`).

Every node keeps a use-list, the set of `(user, index)` pairs that read it,
where `user` is an `Apply` (index into its inputs) or a `Graph` (index
`OUTPUT`, the graph's output). All edits go through `Apply.set_input`,
`Apply.set_inputs`, `Apply.detach`, `Graph.output` and `replace`, which keep
the use-lists exact; the verifier checks that they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tapeless.errors import Location

#: Index used in a use-list entry for "the output of this graph".
OUTPUT = -1

Use = tuple["Apply | Graph", int]


class Node:
    """Base of IR nodes. Subclasses are identity-compared slotted dataclasses."""

    __slots__ = ()
    uses: set[Use]
    loc: Location | None

    @property
    def owner(self) -> Graph | None:
        """The graph that computes this node (None for constants)."""
        return None


@dataclass(slots=True, eq=False, repr=False, weakref_slot=True)
class Parameter(Node):
    """A formal parameter of `graph`. Block parameters play the role of phis."""

    graph: Graph
    name: str
    loc: Location | None = None
    uses: set[Use] = field(default_factory=set)

    @property
    def owner(self) -> Graph:
        return self.graph

    def __repr__(self) -> str:
        return f"<Parameter {self.name} of {self.graph.name}>"


@dataclass(slots=True, eq=False, repr=False, weakref_slot=True)
class Constant(Node):
    """A literal: a number, bool, None, tuple, array, `Primitive` or `Graph`.

    Constants are not owned by any graph; each use normally gets its own.
    """

    value: Any
    loc: Location | None = None
    uses: set[Use] = field(default_factory=set)

    def __repr__(self) -> str:
        return f"<Constant {self.value!r}>"


@dataclass(slots=True, eq=False, repr=False, weakref_slot=True)
class Apply(Node):
    """`inputs[0](*inputs[1:])`, computed in `graph`."""

    inputs: list[Node]
    graph: Graph
    loc: Location | None = None
    uses: set[Use] = field(default_factory=set)

    def __post_init__(self) -> None:
        for i, node in enumerate(self.inputs):
            node.uses.add((self, i))

    @property
    def owner(self) -> Graph:
        return self.graph

    @property
    def fn(self) -> Node:
        return self.inputs[0]

    @property
    def args(self) -> list[Node]:
        return self.inputs[1:]

    def set_input(self, index: int, node: Node) -> None:
        old = self.inputs[index]
        if old is node:
            return
        old.uses.discard((self, index))
        self.inputs[index] = node
        node.uses.add((self, index))

    def set_inputs(self, nodes: Iterable[Node]) -> None:
        """Replace all inputs at once (the arity may change)."""
        for i, old in enumerate(self.inputs):
            old.uses.discard((self, i))
        self.inputs = list(nodes)
        for i, node in enumerate(self.inputs):
            node.uses.add((self, i))

    def detach(self) -> None:
        """Drop this node's own uses of its inputs (when it is deleted)."""
        for i, old in enumerate(self.inputs):
            old.uses.discard((self, i))

    def __repr__(self) -> str:
        return f"<Apply in {self.graph.name}>"


@dataclass(slots=True, eq=False, repr=False, weakref_slot=True)
class Graph:
    """A function of the IR.

    `defaults` holds Python values for the trailing parameters that the
    source function gave defaults; `flags` carries facts that passes attach
    (for instance ``flags["block"]`` on graphs that the front end made for a
    basic block rather than a user function).
    """

    name: str
    loc: Location | None = None
    parameters: list[Parameter] = field(default_factory=list)
    defaults: tuple[Any, ...] = ()
    flags: dict[str, Any] = field(default_factory=dict)
    _output: Node | None = None

    # -- construction -----------------------------------------------------
    def add_parameter(self, name: str, loc: Location | None = None) -> Parameter:
        p = Parameter(self, name, loc)
        self.parameters.append(p)
        return p

    def apply(self, fn: Node | Any, *args: Node | Any, loc: Location | None = None) -> Apply:
        """Make `fn(*args)` in this graph; non-node operands become constants."""
        inputs = [a if isinstance(a, Node) else Constant(a) for a in (fn, *args)]
        return Apply(inputs, self, loc)

    @property
    def output(self) -> Node:
        if self._output is None:
            raise AttributeError(f"graph {self.name} has no output yet")
        return self._output

    @output.setter
    def output(self, node: Node) -> None:
        if self._output is not None:
            self._output.uses.discard((self, OUTPUT))
        self._output = node
        node.uses.add((self, OUTPUT))

    @property
    def has_output(self) -> bool:
        return self._output is not None

    def remove_parameter(self, param: Parameter) -> int:
        """Remove `param` (which must be unused); return its former index."""
        index = self.parameters.index(param)
        del self.parameters[index]
        return index

    def __repr__(self) -> str:
        return f"<Graph {self.name}>"


def replace(old: Node, new: Node) -> None:
    """Make every user of `old` use `new` instead."""
    if old is new:
        return
    for user, index in list(old.uses):
        if isinstance(user, Graph):
            user.output = new
        else:
            user.set_input(index, new)


def constant_graph(node: Node) -> Graph | None:
    """The graph `node` holds, if it is a graph constant (a function value)."""
    if isinstance(node, Constant) and isinstance(node.value, Graph):
        return node.value
    return None


@dataclass(frozen=True, slots=True)
class Unbound:
    """The value of a local variable read before any assignment on some path.

    The front end uses `Constant(Unbound(name, loc))` where Python would raise
    `UnboundLocalError` if that path ran; backends raise a `TapelessNameError`
    when such a value reaches an operation or the caller.
    """

    name: str
    loc: Location | None = None

    def __bool__(self) -> bool:
        # `if x:` on an unbound x must not quietly take a branch.
        raise TypeError(f"local variable '{self.name}' is unbound")
