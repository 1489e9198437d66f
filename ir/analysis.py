"""Whole-program analyses of the IR: graphs, free variables, nesting, schedules, calls.

`analyze(root)` answers, for every graph reachable from `root` through graph
constants:

- `free_variables(g)`: the nodes owned by other graphs that `g` needs to build
  its value, its own uses and those of the closures it makes (transitively,
  with a fixpoint for recursion);
- `parent(g)`: the graph whose frame a closure of `g` captures (the innermost
  owner of its free variables; None for a top-level graph), with `children`
  and `scope`;
- `schedule(g)`: `g`'s `Apply` nodes in an evaluation order (inputs first, the
  free variables of a closure before the closure is made);
- `call_graph`: a networkx DiGraph with an edge g -> h when g refers to h;
  `recursive(g)` is true when g can reach itself.

Nesting is derived from free variables, never declared. The analysis is a
snapshot: run it again after the IR changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import networkx as nx

from tapeless.errors import InternalError
from tapeless.ir.nodes import Apply, Graph, Node, constant_graph


def body_nodes(g: Graph) -> Iterator[Node]:
    """Every node `g`'s own body reads, in depth-first order from its output.

    Traversal goes through the `Apply` nodes that `g` owns and stops at
    parameters, constants and nodes of other graphs (which are yielded).
    """
    if not g.has_output:
        return
    seen: set[int] = set()
    stack: list[Node] = [g.output]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, Apply) and node.graph is g:
            stack.extend(reversed(node.inputs))


def graph_constants(nodes: Iterable[Node]) -> list[Graph]:
    """The graphs held by the graph constants among `nodes`, each once, in order."""
    out: dict[Graph, None] = {}
    for n in nodes:
        g = constant_graph(n)
        if g is not None:
            out[g] = None
    return list(out)


class Analysis:
    """The analyses of the program rooted at `root` (see the module docstring)."""

    def __init__(self, root: Graph) -> None:
        self.root = root
        self.graphs: list[Graph] = []
        self._body: dict[Graph, list[Node]] = {}
        self._refs: dict[Graph, list[Graph]] = {}
        self._collect(root)
        self._fvs = self._free_variables()
        self._parent = self._parents()
        self._children: dict[Graph, list[Graph]] = {g: [] for g in self.graphs}
        for g in self.graphs:
            p = self._parent[g]
            if p is not None:
                self._children[p].append(g)
        self.call_graph = nx.DiGraph()
        self.call_graph.add_nodes_from(self.graphs)
        for g in self.graphs:
            for h in self._refs[g]:
                self.call_graph.add_edge(g, h)
        self._recursive: set[Graph] = set()
        for scc in nx.strongly_connected_components(self.call_graph):
            if len(scc) > 1 or any(self.call_graph.has_edge(g, g) for g in scc):
                self._recursive.update(scc)
        self._schedules: dict[Graph, list[Apply]] = {}

    # -- collection ---------------------------------------------------------
    def _collect(self, root: Graph) -> None:
        # A graph's body is what its output reads, *and* what the closures nested
        # in it read of it: a node that only a closure uses (`y = x + 1` read
        # only by an inner `def`) is not reachable from its owner's output, yet
        # its inputs are part of the owner's body (its free variables, the
        # graphs it calls). So each free variable met in a body is also an entry
        # point into its owner's body; the walk runs until no entry is new.
        seen: dict[Graph, set[Node]] = {}
        queue: deque[tuple[Graph, Node]] = deque()

        def visit(h: Graph) -> None:
            if h not in seen:
                seen[h] = set()
                self.graphs.append(h)
                self._body[h] = []
                if h.has_output:
                    queue.append((h, h.output))

        visit(root)
        while queue:
            g, start = queue.popleft()
            body, mine = self._body[g], seen[g]
            refs: list[Graph] = []
            owners: list[tuple[Graph, Node]] = []
            stack = [start]
            while stack:
                node = stack.pop()
                if node in mine:
                    continue
                mine.add(node)
                body.append(node)
                owner = node.owner
                if isinstance(node, Apply) and owner is g:
                    stack.extend(reversed(node.inputs))
                elif owner is not None and owner is not g:
                    owners.append((owner, node))
                elif (h := constant_graph(node)) is not None:
                    refs.append(h)
            for h in refs:
                visit(h)
            for h, node in owners:
                visit(h)
                queue.append((h, node))
        for g in self.graphs:
            self._refs[g] = graph_constants(self._body[g])

    def _free_variables(self) -> dict[Graph, dict[Node, None]]:
        fvs: dict[Graph, dict[Node, None]] = {}
        for g in self.graphs:
            fvs[g] = {n: None for n in self._body[g] if n.owner is not None and n.owner is not g}
        changed = True
        while changed:
            changed = False
            for g in self.graphs:
                mine = fvs[g]
                for h in self._refs[g]:
                    for n in fvs[h]:
                        if n.owner is not g and n not in mine:
                            mine[n] = None
                            changed = True
        return fvs

    def _parents(self) -> dict[Graph, Graph | None]:
        parent: dict[Graph, Graph | None] = {}
        depth: dict[Graph, int] = {}

        def resolve(g: Graph, active: set[Graph]) -> int:
            if g in depth:
                return depth[g]
            if g in active:
                raise InternalError(f"graph {g.name} is nested inside itself")
            active.add(g)
            owners = {id(n.owner): n.owner for n in self._fvs.get(g, {}) if n.owner is not None}
            best: Graph | None = None
            best_depth = 0
            for o in owners.values():
                d = resolve(o, active) + 1
                if d > best_depth:
                    best, best_depth = o, d
            active.discard(g)
            parent[g] = best
            depth[g] = best_depth
            return best_depth

        for g in self.graphs:
            resolve(g, set())
        return parent

    # -- queries ------------------------------------------------------------
    def free_variables(self, g: Graph) -> list[Node]:
        return list(self._fvs[g])

    def parent(self, g: Graph) -> Graph | None:
        return self._parent[g]

    def children(self, g: Graph) -> list[Graph]:
        return list(self._children[g])

    def ancestors(self, g: Graph) -> list[Graph]:
        out = []
        p = self._parent[g]
        while p is not None:
            out.append(p)
            p = self._parent[p]
        return out

    def encloses(self, outer: Graph, g: Graph) -> bool:
        """Whether `outer` is `g` or a graph `g` is nested in (so `g` can read its nodes)."""
        return outer is g or outer in self.ancestors(g)

    def can_make(self, h: Graph, g: Graph) -> bool:
        """Whether a closure of `h` can be made in `g` (`g` sees all of h's free variables)."""
        parent = self._parent.get(h)
        return parent is None or self.encloses(parent, g)

    def scope(self, g: Graph) -> list[Graph]:
        """`g` and every graph nested in it."""
        out = [g]
        for c in self._children[g]:
            out.extend(self.scope(c))
        return out

    def is_closure(self, g: Graph) -> bool:
        return bool(self._fvs[g])

    def references(self, g: Graph) -> list[Graph]:
        """Graphs whose constants appear in `g`'s body."""
        return list(self._refs[g])

    def body(self, g: Graph) -> list[Node]:
        """Every node `g` reads: what its output reads, and what the closures nested
        in it read of its nodes (the inputs of nodes that only closures use)."""
        return list(self._body[g])

    def recursive(self, g: Graph) -> bool:
        return g in self._recursive

    def schedule(self, g: Graph) -> list[Apply]:
        """`g`'s Apply nodes in dependency order, each once, output last."""
        cached = self._schedules.get(g)
        if cached is not None:
            return cached
        order: list[Apply] = []
        state: dict[int, int] = {}  # 1: in progress, 2: done

        def deps(node: Apply) -> list[Node]:
            out: list[Node] = []
            for inp in node.inputs:
                h = constant_graph(inp)
                if h is not None:
                    out.extend(n for n in self._fvs.get(h, ()) if n.owner is g)
                else:
                    out.append(inp)
            return out

        stack: list[tuple[Node, bool]] = [(g.output, False)] if g.has_output else []
        while stack:
            node, expanded = stack.pop()
            if not (isinstance(node, Apply) and node.graph is g):
                h = constant_graph(node)
                if h is not None:
                    # a graph constant as the output: schedule its free variables
                    for n in self._fvs.get(h, ()):
                        if n.owner is g and id(n) not in state:
                            stack.append((n, False))
                continue
            key = id(node)
            if expanded:
                state[key] = 2
                order.append(node)
                continue
            if state.get(key):
                if state[key] == 1:
                    raise InternalError(f"cycle through a node of graph {g.name}")
                continue
            state[key] = 1
            stack.append((node, True))
            for d in reversed(deps(node)):
                if isinstance(d, Apply) and d.graph is g and state.get(id(d)) != 2:
                    if state.get(id(d)) == 1:
                        raise InternalError(f"cycle through a node of graph {g.name}")
                    stack.append((d, False))
        self._schedules[g] = order
        return order


def analyze(root: Graph) -> Analysis:
    return Analysis(root)
