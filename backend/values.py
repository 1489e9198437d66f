"""Runtime values of the reference interpreter: frames and closures.

A *frame* holds the values of one activation of a graph. For speed it is a
plain Python list laid out by the graph's compiled `Code` (see
`backend.interp`): slot 0 is the parent frame (the frame of the graph's
lexical parent, which the closure captured, or None for a top-level graph),
slots 1..n the parameters, then the graph's constants, computed nodes and
loaded free variables. `Frame` names that type.

A `Closure` is a function value: a graph paired with the frame of its parent
graph. Closures are callable from Python (calling one runs the interpreter),
so functions that compiled code returns behave as functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tapeless.ir.nodes import Graph

if TYPE_CHECKING:
    from tapeless.backend.interp_code import Code

#: One activation record: ``[parent_frame, *parameters, *locals]``.
Frame = list[Any]


class Closure:
    """A graph with the frame of its lexical parent: a first-class function.

    `frame` is None for a graph without free variables. `code` is the compiled
    form of `graph`, filled in by the interpreter that made the closure (or on
    the first call, for closures built by hand).
    """

    __slots__ = ("code", "frame", "graph")

    def __init__(self, graph: Graph, frame: Frame | None = None, code: Code | None = None) -> None:
        self.graph = graph
        self.frame = frame
        self.code = code

    def __call__(self, *args: Any) -> Any:
        from tapeless.backend.interp import call_closure

        return call_closure(self, args)

    @property
    def __name__(self) -> str:
        return self.graph.name

    def __repr__(self) -> str:
        kind = "closure" if self.frame is not None else "function"
        return f"<tapeless {kind} {self.graph.name}>"
