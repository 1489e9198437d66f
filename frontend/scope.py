"""Python scoping for one function: its local names and where each is bound.

A name is local to a function when the function binds it anywhere (a
parameter, an assignment target, a `for` target, a `def`), exactly as Python
decides. The binding sites, with the loops around them, let the front end
give closures Python's late-binding semantics where the IR can express them:

- a name bound once, outside any loop, has one value: a closure reads that
  value whatever the order of the `def` and the binding;
- otherwise a closure reads the value at its definition, which is what Python
  gives unless the name is bound again after the definition; `capture_check`
  rejects that case.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Binding:
    node: ast.AST  # the Name/arg/FunctionDef that binds
    loops: tuple[ast.AST, ...]  # enclosing While/For nodes, outermost first

    @property
    def position(self) -> tuple[int, int]:
        return (getattr(self.node, "lineno", 0), getattr(self.node, "col_offset", 0))


@dataclass
class Scope:
    bindings: dict[str, list[Binding]] = field(default_factory=dict)

    @property
    def locals(self) -> set[str]:
        return set(self.bindings)

    def is_local(self, name: str) -> bool:
        return name in self.bindings

    def single(self, name: str) -> bool:
        """Bound exactly once, and not inside a loop: one value for the whole call."""
        sites = self.bindings.get(name, [])
        return len(sites) == 1 and not sites[0].loops

    def rebound_after(self, name: str, site: ast.AST, loops: tuple[ast.AST, ...]) -> Binding | None:
        """A binding of `name` that can run after the definition at `site`.

        Bindings textually after the definition's end are found; a binding
        earlier in a loop around the definition is allowed: the closure then
        sees the value of its own iteration (see docs/architecture.md).
        """
        end = (getattr(site, "end_lineno", 0) or 0, getattr(site, "end_col_offset", 0) or 0)
        for b in self.bindings.get(name, []):
            if b.position > end:
                return b
        return None


def analyze_scope(fn: ast.FunctionDef | ast.Lambda) -> Scope:
    scope = Scope()

    def bind(name: str, node: ast.AST, loops: tuple[ast.AST, ...]) -> None:
        scope.bindings.setdefault(name, []).append(Binding(node, loops))

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
                for t in s.targets:
                    targets(t, loops)
            elif isinstance(s, ast.AugAssign | ast.AnnAssign):
                targets(s.target, loops)
            elif isinstance(s, ast.FunctionDef):
                bind(s.name, s, loops)
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
