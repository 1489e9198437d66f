"""`Program`: parses Python functions to graphs, each once, with a cache.

`parse_function(fn)` is the front end's entry point. A function reached from
the one being parsed (through a global or a closure cell) is parsed in turn;
its graph enters the cache before its body is lowered, so recursion and
mutual recursion resolve to the graph under construction. If parsing fails,
every graph this attempt added is dropped from the cache again.
"""

from __future__ import annotations

import types
import weakref

from tapeless.errors import TapelessNameError, TapelessTypeError
from tapeless.frontend.fence import check_function
from tapeless.frontend.lower import FunctionLowering
from tapeless.frontend.resolve import closure_cells, underlying_function
from tapeless.frontend.source import function_ast, loc_of
from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Graph, Node, constant_graph


class Program:
    """A cache of parsed functions (weakly keyed: it never keeps one alive)."""

    def __init__(self) -> None:
        self.cache: weakref.WeakKeyDictionary[types.FunctionType, Graph] = weakref.WeakKeyDictionary()
        self._active: list[types.FunctionType] | None = None
        #: nested function graph -> (its parameter count, its default values as
        #: nodes of the enclosing function), for defaults computed at the def
        self.computed_defaults: weakref.WeakKeyDictionary[Graph, tuple[int, list[Node]]] = (
            weakref.WeakKeyDictionary()
        )

    def parse(self, fn: types.FunctionType) -> Graph:
        graph = self.cache.get(fn)
        if graph is not None:
            return graph
        outermost = self._active is None
        if outermost:
            self._active = []
        try:
            graph = self._parse(fn)
            if outermost:
                check_scoping(graph)
            return graph
        except BaseException:
            if outermost:
                for f in self._active or []:
                    self.cache.pop(f, None)
            raise
        finally:
            if outermost:
                self._active = None

    def _parse(self, fn: types.FunctionType) -> Graph:
        src = function_ast(fn)
        check_function(src.node, src.filename)
        name = fn.__name__ if fn.__name__ != "<lambda>" else "lambda"
        graph = Graph(name, loc_of(src.node, src.filename))
        graph.defaults = tuple(fn.__defaults__ or ())
        self.cache[fn] = graph
        assert self._active is not None
        self._active.append(fn)
        FunctionLowering(self, src.node, graph, src.filename, fn.__globals__, closure_cells(fn)).lower()
        return graph


def check_scoping(root: Graph) -> None:
    """Every closure must be made where the variables it captures exist.

    A nested function that captures a variable bound on only some paths, and
    is used on a path where it is not bound, cannot be built: Python would
    raise NameError there. Report it at the use.
    """
    info = analyze(root)
    for g in info.graphs:
        allowed = {g, *info.ancestors(g)}
        for node in info.body(g):
            h = constant_graph(node)
            if h is not None:
                p = info.parent(h)
                if p is not None and p not in allowed:
                    missing = sorted(
                        {getattr(n, "name", None) or "a value" for n in info.free_variables(h) if n.owner is p}
                    )
                    raise TapelessNameError(
                        f"function '{h.name}' uses {', '.join(missing) or 'variables'} "
                        "which may be unassigned where it is used",
                        node.loc or h.loc,
                        construct=h.name,
                        hint="assign the variable before the function can be called on every path",
                    )


_PROGRAM = Program()


def parse_function(fn: object) -> Graph:
    """Parse a Python function (or a compiled wrapper of one) to its graph."""
    f = underlying_function(fn)
    if f is None:
        raise TapelessTypeError(
            f"expected a Python function, got {type(fn).__name__}",
            hint="pass a function defined with def or lambda",
        )
    return _PROGRAM.parse(f)
