"""The deterministic text form of the IR, the test surface of every pass.

`format_graph(root)` prints every graph reachable from `root` once: `root`
and the graphs nested in it first (each closure right after the graph it is
nested in), then the other graphs in the order `analyze(root).graphs` finds
them, each followed by its own nested graphs::

    graph f(%a, %b = 1.0) {
      %c = mul(%a, %b)
      %d = switch(%c, @f:if_true, @f:if_false)
      %e = %d()
      return %e
    }

    graph f:if_true() closure over f {
      %a = add(%f.a, 1)
      return %a
    }

Names never depend on `id()`: nodes are named ``a, b, ... z, aa, ab, ...``
per graph, parameters first and then in schedule order; a graph keeps its own
name unless an earlier printed graph has it, in which case it gets the first
free ``name.2``, ``name.3``, ... A node of another graph (a free variable) is
written ``%owner.node``. In an `Apply`, primitives are bare names, graph
constants ``@name``, other constants their value (``1.0``, ``True``, ``None``,
``(1, 2)``, ``array(f64, shape=(3,))``).

The printer also serves the verifier, so it copes with broken IR: a graph
without an output, a dependency cycle or an impossible nesting still prints
(as far as it can) instead of raising.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from tapeless.ir.analysis import Analysis, analyze, body_nodes
from tapeless.ir.nodes import Apply, Constant, Graph, Node, Unbound
from tapeless.ir.primitives import Primitive

_DTYPE_NAMES = {"float64": "f64", "int64": "i64", "bool": "bool"}


def node_label(index: int) -> str:
    """The index-th name of the sequence a, b, ..., z, aa, ab, ..., zz, aaa, ..."""
    letters = ""
    index += 1
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("a") + rem) + letters
    return letters


def format_graph(root: Graph, *, locations: bool = False) -> str:
    """The text of `root` and of every graph reachable from it (see the module docstring).

    With `locations`, each line that has a source location ends with
    ``  # file.py:line:col`` (file base name, 1-based column).
    """
    return Printer(root, locations=locations).format()


def format_value(value: Any, names: dict[Graph, str] | None = None) -> str:
    """How a constant's value reads in the text form."""
    if isinstance(value, Graph):
        return "@" + (names.get(value, value.name) if names else value.name)
    if isinstance(value, Primitive):
        return value.name
    if isinstance(value, np.ndarray):
        dtype = _DTYPE_NAMES.get(str(value.dtype), str(value.dtype))
        return f"array({dtype}, shape={value.shape!r})"
    if isinstance(value, tuple):
        parts = [format_value(v, names) for v in value]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if isinstance(value, Unbound):
        return f"unbound({value.name})"
    text = repr(value)
    if " at 0x" in text:  # an object repr with an address: not deterministic
        return f"<{type(value).__name__}>"
    return text


def format_location(node: Node | Graph) -> str:
    loc = node.loc
    if loc is None:
        return ""
    return f"{os.path.basename(loc.filename)}:{loc.line}:{loc.col + 1}"


class Printer:
    """Names and prints the graphs reachable from `root`.

    `marks` maps nodes (or graphs) to a note appended to their line, which is
    how the verifier points at a bad node.
    """

    def __init__(
        self,
        root: Graph,
        *,
        locations: bool = False,
        marks: dict[Node | Graph, str] | None = None,
        analysis: Analysis | None = None,
    ) -> None:
        self.root = root
        self.locations = locations
        self.marks = marks or {}
        self.analysis = analysis if analysis is not None else _try_analyze(root)
        self.graphs = self._order()
        self.graph_names = _unique_names(self.graphs)
        self._node_names: dict[Graph, dict[Node, str]] = {}
        self._schedules: dict[Graph, list[Apply]] = {}

    # -- order and names ----------------------------------------------------
    def _order(self) -> list[Graph]:
        a = self.analysis
        if a is None:
            return _collect(self.root)
        order: list[Graph] = []
        placed: set[Graph] = set()

        def place(g: Graph) -> None:
            stack = [g]
            while stack:
                h = stack.pop()
                if h in placed:
                    continue
                placed.add(h)
                order.append(h)
                stack.extend(reversed(a.children(h)))

        place(self.root)
        for g in a.graphs:
            place(g)
        return order

    def schedule(self, g: Graph) -> list[Apply]:
        """`g`'s Apply nodes in print order (the analysis' schedule when it has one)."""
        cached = self._schedules.get(g)
        if cached is not None:
            return cached
        order: list[Apply] | None = None
        if self.analysis is not None:
            try:
                order = self.analysis.schedule(g)
            except Exception:  # a cycle (broken IR): fall back to a plain post-order
                order = None
        if order is None:
            order = _fallback_schedule(g)
        self._schedules[g] = order
        return order

    def names(self, g: Graph) -> dict[Node, str]:
        table = self._node_names.get(g)
        if table is None:
            table = {}
            for node in [*g.parameters, *self.schedule(g)]:
                if node not in table:
                    table[node] = node_label(len(table))
            self._node_names[g] = table
        return table

    def graph_name(self, g: Graph) -> str:
        name = self.graph_names.get(g)
        if name is None:  # a graph the collection did not reach (broken IR)
            name = self.graph_names[g] = f"{g.name}.?{len(self.graph_names) + 1}"
        return name

    def ref(self, node: Node, here: Graph) -> str:
        """How `node` reads as an operand inside graph `here`."""
        if not isinstance(node, Node):
            return f"<not a node: {format_value(node, self.graph_names)}>"
        if isinstance(node, Constant):
            value = node.value
            if isinstance(value, Graph):
                return "@" + self.graph_name(value)
            return format_value(value, self.graph_names)
        owner = node.owner
        if owner is None:
            return f"<{type(node).__name__}>"
        table = self.names(owner)
        name = table.get(node)
        if name is None:  # not in the owner's schedule: name it on first sight
            name = table[node] = node_label(len(table))
        if owner is here:
            return "%" + name
        return f"%{self.graph_name(owner)}.{name}"

    # -- text ---------------------------------------------------------------
    def format(self) -> str:
        return "\n\n".join(self.format_one(g) for g in self.graphs) + "\n"

    def format_one(self, g: Graph) -> str:
        return "\n".join(self.lines(g))

    def lines(self, g: Graph) -> Iterator[str]:
        yield self._line(self._header(g), g, [g, *g.parameters])
        for node in self.schedule(g):
            yield self._line("  " + self._apply(node, g), node, [node])
        if g.has_output:
            yield self._line("  return " + self.ref(g.output, g), None, [g.output])
        else:
            yield "  <no output>"
        yield "}"

    def _header(self, g: Graph) -> str:
        params = [self.ref(p, g) for p in g.parameters]
        defaults = g.defaults
        if defaults and len(defaults) <= len(params):
            first = len(params) - len(defaults)
            for i, value in enumerate(defaults):
                params[first + i] += " = " + format_value(value, self.graph_names)
        text = f"graph {self.graph_name(g)}({', '.join(params)})"
        if defaults and len(defaults) > len(params):
            text += f" defaults {format_value(tuple(defaults), self.graph_names)}"
        parent = self.analysis.parent(g) if self.analysis is not None else None
        if parent is not None:
            text += f" closure over {self.graph_name(parent)}"
        return text + " {"

    def _apply(self, node: Apply, g: Graph) -> str:
        name = self.ref(node, g)
        if not node.inputs:
            return f"{name} = <no inputs>"
        fn, *args = node.inputs
        return f"{name} = {self.ref(fn, g)}({', '.join(self.ref(a, g) for a in args)})"

    def _line(self, text: str, located: Node | Graph | None, marked: list[Any]) -> str:
        notes = []
        if self.locations and located is not None:
            where = format_location(located)
            if where:
                notes.append(where)
        notes.extend(f"<-- {self.marks[m]}" for m in marked if m in self.marks)
        return text + ("  # " + "  ".join(notes) if notes else "")


def _try_analyze(root: Graph) -> Analysis | None:
    try:
        return analyze(root)
    except Exception:  # broken IR (the verifier prints it): print without the analysis
        return None


def _collect(root: Graph) -> list[Graph]:
    """The graphs reachable from `root`, without the analysis (for broken IR)."""
    order = [root]
    seen = {root}
    i = 0
    while i < len(order):
        g = order[i]
        i += 1
        for node in body_nodes(g):
            if not isinstance(node, Node):
                continue
            targets: list[Graph | None] = [node.owner]
            if isinstance(node, Constant) and isinstance(node.value, Graph):
                targets.append(node.value)
            for h in targets:
                if h is not None and h not in seen:
                    seen.add(h)
                    order.append(h)
    return order


def _fallback_schedule(g: Graph) -> list[Apply]:
    """A post-order of `g`'s own Apply nodes that tolerates cycles."""
    order: list[Apply] = []
    if not g.has_output:
        return order
    done: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(g.output, False)]
    while stack:
        node, expanded = stack.pop()
        if not (isinstance(node, Apply) and node.graph is g):
            continue
        if expanded:
            order.append(node)
            continue
        if node in done:
            continue
        done.add(node)
        stack.append((node, True))
        stack.extend((i, False) for i in reversed(node.inputs) if i not in done)
    return order


def _unique_names(graphs: list[Graph]) -> dict[Graph, str]:
    names: dict[Graph, str] = {}
    taken: set[str] = set()
    for g in graphs:
        name = g.name
        k = 1
        while name in taken:
            k += 1
            name = f"{g.name}.{k}"
        taken.add(name)
        names[g] = name
    return names


__all__ = ["Printer", "format_graph", "format_location", "format_value", "node_label"]
