"""Python scoping for one function: its local names and where each is bound.

A name is local to a function when the function binds it anywhere (a
parameter, an assignment target, a `for` target, a `def`), exactly as Python
decides. The binding sites, with the loops around them, let the front end
give closures Python's late-binding semantics where the IR can express them:

- a name bound once, outside any loop, to a `def` or a lambda has one value,
  a function constant: closures may refer to it in any order;
- any other name is read where the closure is made (its `def`), or, when the
  name is bound again after the `def`, where the closure's name is read (the
  front end then makes one instance of the closure per read); see
  `frontend.lower.FunctionLowering.capture`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


def position(node: ast.AST) -> tuple[int, int]:
    """Where `node` starts in the file, as (line, column), for ordering nodes."""
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def end_position(node: ast.AST) -> tuple[int, int]:
    """Where `node` ends in the file, as (line, column)."""
    return (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)


@dataclass(frozen=True, slots=True)
class Binding:
    node: ast.AST  # the Name/arg/FunctionDef that binds
    loops: tuple[ast.AST, ...]  # enclosing While/For nodes, outermost first
    function: ast.FunctionDef | ast.Lambda | None = None  # `def name` / `name = lambda`

    @property
    def position(self) -> tuple[int, int]:
        return position(self.node)


@dataclass
class Scope:
    bindings: dict[str, list[Binding]] = field(default_factory=dict)

    def is_local(self, name: str) -> bool:
        return name in self.bindings

    def single(self, name: str) -> bool:
        """Bound exactly once, and not inside a loop: one value for the whole call."""
        sites = self.bindings.get(name, [])
        return len(sites) == 1 and not sites[0].loops

    def function(self, name: str) -> ast.FunctionDef | ast.Lambda | None:
        """The def or lambda that is `name`'s single binding, if it is one.

        Such a name has one value, a function constant, wherever it is bound,
        so closures may refer to it before or after its definition (nested
        mutual recursion).
        """
        sites = self.bindings.get(name, [])
        return sites[0].function if self.single(name) else None

    def rebound_after(self, name: str, site: ast.AST) -> Binding | None:
        """A binding of `name` that can run after `site`: a definition, or the
        read of a template's name where an instance of it is made.

        Bindings textually after the definition's end are found; a binding
        earlier in a loop around the definition is allowed: the closure then
        sees the value of its own iteration (see docs/architecture.md).
        """
        end = end_position(site)
        for b in self.bindings.get(name, []):
            if b.position > end:
                return b
        return None


def analyze_scope(fn: ast.FunctionDef | ast.Lambda) -> Scope:
    """The names `fn` binds, each with its binding sites."""
    scope = Scope()

    def bind(name: str, node: ast.AST, loops: tuple[ast.AST, ...], function: ast.FunctionDef | ast.Lambda | None = None) -> None:
        scope.bindings.setdefault(name, []).append(Binding(node, loops, function))

    for a in fn.args.args:
        bind(a.arg, a, ())

    def targets(t: ast.AST, loops: tuple[ast.AST, ...]) -> None:
        if isinstance(t, ast.Name):
            bind(t.id, t, loops)
        elif isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                targets(e, loops)

    def visit(stmts: list[ast.stmt], loops: tuple[ast.AST, ...]) -> None:
        for s in stmts:
            if isinstance(s, ast.Assign):
                if len(s.targets) == 1 and isinstance(s.targets[0], ast.Name) and isinstance(s.value, ast.Lambda):
                    bind(s.targets[0].id, s.targets[0], loops, s.value)
                    continue
                for t in s.targets:
                    targets(t, loops)
            elif isinstance(s, ast.AugAssign | ast.AnnAssign):
                targets(s.target, loops)
            elif isinstance(s, ast.FunctionDef):
                bind(s.name, s, loops, s)
            elif isinstance(s, ast.For):
                targets(s.target, (*loops, s))
                visit(s.body, (*loops, s))
                visit(s.orelse, loops)
            elif isinstance(s, ast.While):
                visit(s.body, (*loops, s))
                visit(s.orelse, loops)
            elif isinstance(s, ast.If):
                visit(s.body, loops)
                visit(s.orelse, loops)

    if isinstance(fn, ast.FunctionDef):
        visit(fn.body, ())
    return scope
