"""The IR verifier: `verify(root)` checks the invariants every pass must keep.

For the program rooted at `root` (every graph and node reachable from it):

- structure: every `Apply` has at least one input, and every input is a
  `Node`; every `Parameter` is in its graph's parameter list (once); every
  graph has an output;
- use-lists are exact: each input edge ``user.inputs[i] = n`` is recorded as
  ``(user, i)`` in ``n.uses``, each graph output ``g.output = n`` as
  ``(g, OUTPUT)``, and no entry of a reachable node's use-list is stale (its
  user no longer reads the node at that index). Users that are unreachable but
  still read the node are not stale;
- nesting: a node that graph `g` reads but does not own is owned by an
  ancestor of `g` (as `analyze(root)` derives ancestors); a graph constant
  ``Constant(h)`` in `g` has `parent(h)` None, `g` or an ancestor of `g`
  (otherwise `g`'s frame could not build the closure); a graph with a parent
  (a closure) is made somewhere (so the verified root is not a closure unless
  its parent makes it);
- no dependency cycle among a graph's nodes (counting the free variables a
  closure needs before it is made);
- constants hold supported values: bool, int, float (and NumPy's bool_,
  int64, float64), None, slices of ints, float64/int64/bool arrays, `Primitive`,
  `Graph`, `Unbound`, AD's `Env` and `EnvKey`, and tuples of those except graphs (a graph inside a
  tuple constant would be invisible to the analyses; build the tuple with
  ``make_tuple``).

A broken invariant raises `VerificationError`, whose message names the
problem and prints the graph concerned with ``<-- ...`` at the bad node.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapeless.errors import TapelessError, VerificationError
from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import OUTPUT, Apply, Constant, Graph, Node, Parameter, Unbound
from tapeless.ir.primitives import Primitive
from tapeless.ir.prims.ad import Env, EnvKey
from tapeless.ir.printer import Printer

_ARRAY_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))
_SCALARS = (bool, int, float, np.bool_, np.int64, np.float64)


def verify(root: Graph) -> None:
    """Check the invariants of the program rooted at `root`; raise `VerificationError`."""
    _Verifier(root).run()


class _Verifier:
    def __init__(self, root: Graph) -> None:
        self.root = root
        self.analysis: Analysis | None = None
        self.graphs: list[Graph] = []
        self.nodes: list[Node] = []

    def fail(self, message: str, where: Graph | None, mark: Node | Graph | None) -> None:
        """Raise with the IR of `where` printed and `mark` pointed at."""
        text = message
        if where is not None:
            try:
                marks: dict[Node | Graph, str] = {} if mark is None else {mark: "here"}
                printer = Printer(self.root, marks=marks, analysis=self.analysis)
                text += "\n\n" + printer.format_one(where)
            except Exception as exc:  # the printer must not hide the real problem
                text += f"\n\n(the IR could not be printed: {type(exc).__name__}: {exc})"
        loc = mark.loc if isinstance(mark, Node | Graph) else None
        raise VerificationError(text, loc)

    def run(self) -> None:
        self.collect()
        self.check_structure()
        self.check_uses()
        self.check_constants()
        try:
            self.analysis = analyze(self.root)
        except TapelessError as exc:
            self.fail(
                f"the analyses cannot run on this IR: {exc.message} (a closure reads nodes "
                "of a graph that does not enclose the graph that makes it, or two graphs "
                "read each other's nodes)",
                self.root,
                None,
            )
        self.check_nesting()
        self.check_cycles()

    # -- collection ---------------------------------------------------------
    def collect(self) -> None:
        """Every graph and node reachable from root, in a deterministic order."""
        graphs: list[Graph] = []
        seen_graphs: set[Graph] = set()
        nodes: list[Node] = []
        seen_nodes: set[Node] = set()

        def add_graph(g: Graph) -> None:
            if g not in seen_graphs:
                seen_graphs.add(g)
                graphs.append(g)

        add_graph(self.root)
        gi = 0
        while gi < len(graphs):
            g = graphs[gi]
            gi += 1
            if not isinstance(g, Graph):
                continue
            stack: list[Any] = [*reversed(g.parameters)]
            if g.has_output:
                stack.append(g.output)
            while stack:
                node = stack.pop()
                if not isinstance(node, Node) or node in seen_nodes:
                    continue
                seen_nodes.add(node)
                nodes.append(node)
                owner = getattr(node, "graph", None)
                if isinstance(owner, Graph):
                    add_graph(owner)
                if isinstance(node, Constant) and isinstance(node.value, Graph):
                    add_graph(node.value)
                if isinstance(node, Apply):
                    stack.extend(reversed(node.inputs))
        self.graphs = graphs
        self.nodes = nodes

    # -- checks -------------------------------------------------------------
    def check_structure(self) -> None:
        for g in self.graphs:
            if not g.has_output:
                self.fail(f"graph {g.name} has no output", g, g)
            seen: set[Parameter] = set()
            for p in g.parameters:
                if not isinstance(p, Parameter):
                    self.fail(f"graph {g.name} lists a non-parameter {p!r}", g, g)
                if p.graph is not g:
                    self.fail(f"graph {g.name} lists a parameter of {p.graph.name}", g, p)
                if p in seen:
                    self.fail(f"graph {g.name} lists parameter {p.name} twice", g, p)
                seen.add(p)
        for node in self.nodes:
            if isinstance(node, Apply):
                if not isinstance(node.graph, Graph):
                    self.fail(f"{node!r} belongs to no graph", None, node)
                if not node.inputs:
                    self.fail("an Apply node has no inputs", node.graph, node)
                for i, inp in enumerate(node.inputs):
                    if not isinstance(inp, Node):
                        self.fail(f"input {i} is not a node but {inp!r}", node.graph, node)
            elif isinstance(node, Parameter):
                if not any(q is node for q in node.graph.parameters):
                    self.fail(
                        f"parameter {node.name} is not in graph {node.graph.name}'s parameters",
                        node.graph,
                        node,
                    )

    def check_uses(self) -> None:
        for g in self.graphs:
            out = g.output
            if (g, OUTPUT) not in out.uses:
                self.fail(f"the output of graph {g.name} misses (graph, OUTPUT) in its uses", g, g)
        for node in self.nodes:
            if isinstance(node, Apply):
                for i, inp in enumerate(node.inputs):
                    if (node, i) not in inp.uses:
                        self.fail(
                            f"input {i} of this node misses the use ({node!r}, {i})",
                            node.graph,
                            node,
                        )
            for user, index in sorted(node.uses, key=_use_order):
                if isinstance(user, Apply):
                    if 0 <= index < len(user.inputs) and user.inputs[index] is node:
                        continue
                    where = user.graph if isinstance(user.graph, Graph) else None
                    self.fail(
                        f"stale use: {node!r} lists ({user!r}, {index}), which does not read it",
                        where,
                        user,
                    )
                elif isinstance(user, Graph):
                    if index == OUTPUT and user.has_output and user.output is node:
                        continue
                    self.fail(
                        f"stale use: {node!r} lists ({user.name}, {index}), "
                        f"but it is not that graph's output",
                        user,
                        user,
                    )
                else:
                    self.fail(f"{node!r} lists a use by a non-node {user!r}", None, None)

    def check_constants(self) -> None:
        for node in self.nodes:
            if isinstance(node, Constant):
                problem = _unsupported(node.value, top=True)
                if problem is not None:
                    user = next(iter(sorted(node.uses, key=_use_order)), None)
                    where = user[0] if user is not None else None
                    graph = where.graph if isinstance(where, Apply) else where
                    self.fail(f"unsupported constant: {problem}", graph, where)

    def check_nesting(self) -> None:
        a = self.analysis
        assert a is not None
        for g in a.graphs:
            ancestors = a.ancestors(g)
            for node in a.body(g):
                owner = node.owner
                if owner is not None and owner is not g and owner not in ancestors:
                    self.fail(
                        f"graph {g.name} reads a node of graph {owner.name}, "
                        f"which does not enclose it",
                        g,
                        _user_in(g, node),
                    )
                if isinstance(node, Constant) and isinstance(node.value, Graph):
                    h = node.value
                    p = a.parent(h)
                    if p is not None and p is not g and p not in ancestors:
                        self.fail(
                            f"graph {g.name} makes closure {h.name}, whose free variables "
                            f"live in graph {p.name}, which does not enclose {g.name}",
                            g,
                            _user_in(g, node),
                        )
        made = {h for g in a.graphs for h in a.references(g)}
        for g in a.graphs:
            p = a.parent(g)
            if p is not None and g not in made:
                self.fail(
                    f"graph {g.name} is a closure over {p.name} (it reads its nodes, "
                    f"directly or through the graphs it makes), but no graph makes it",
                    g,
                    g,
                )

    def check_cycles(self) -> None:
        a = self.analysis
        assert a is not None
        owned: dict[Graph, list[Apply]] = {g: [] for g in a.graphs}
        for node in self.nodes:
            if isinstance(node, Apply) and node.graph in owned:
                owned[node.graph].append(node)
        for g in a.graphs:
            bad = _find_cycle(g, owned[g], a)
            if bad is not None:
                self.fail(f"dependency cycle among the nodes of graph {g.name}", g, bad)


def _use_order(use: tuple[Any, int]) -> tuple[int, int]:
    # Deterministic enough for error reports: graphs' outputs last.
    return (1 if isinstance(use[0], Graph) else 0, use[1])


def _user_in(g: Graph, node: Node) -> Node | Graph:
    """The first user of `node` inside graph `g` (to point at in an error)."""
    for user, _ in sorted(node.uses, key=_use_order):
        if isinstance(user, Apply) and user.graph is g:
            return user
        if user is g:
            return g
    return g


def _unsupported(value: Any, *, top: bool) -> str | None:
    """Why `value` cannot be a constant, or None when it can."""
    if value is None or isinstance(value, _SCALARS):
        return None
    if isinstance(value, Primitive | Unbound | Env | EnvKey):  # Env/EnvKey: AD's environments
        return None
    if isinstance(value, Graph):
        if top:
            return None
        return f"graph {value.name} inside a tuple constant (use make_tuple)"
    if isinstance(value, slice):
        for part in (value.start, value.stop, value.step):
            if part is not None and not isinstance(part, int | np.integer):
                return f"slice {value!r} with a non-integer bound"
        return None
    if isinstance(value, np.ndarray):
        if value.dtype not in _ARRAY_DTYPES:
            return f"array of dtype {value.dtype} (only float64, int64 and bool)"
        return None
    if isinstance(value, tuple):
        for v in value:
            problem = _unsupported(v, top=False)
            if problem is not None:
                return problem
        return None
    return f"{type(value).__name__} value {value!r}"


def _find_cycle(g: Graph, nodes: list[Apply], a: Analysis) -> Apply | None:
    """A node of `g` on a dependency cycle, if there is one."""

    def deps(node: Apply) -> list[Node]:
        out: list[Node] = []
        for inp in node.inputs:
            if isinstance(inp, Constant) and isinstance(inp.value, Graph):
                if inp.value in a.call_graph:
                    out.extend(n for n in a.free_variables(inp.value) if n.owner is g)
            elif isinstance(inp, Apply) and inp.graph is g:
                out.append(inp)
        return out

    state: dict[Node, int] = {}  # 1: on the current path, 2: finished
    for start in nodes:
        if start in state:
            continue
        state[start] = 1
        stack: list[tuple[Apply, list[Node]]] = [(start, deps(start))]
        while stack:
            node, todo = stack[-1]
            if not todo:
                state[node] = 2
                stack.pop()
                continue
            d = todo.pop()
            if not isinstance(d, Apply):
                continue
            mark = state.get(d)
            if mark == 1:
                return d
            if mark is None:
                state[d] = 1
                stack.append((d, deps(d)))
    return None


__all__ = ["verify"]
