"""Getting a function's AST with true file positions.

`function_ast(fn)` returns the `ast.FunctionDef` or `ast.Lambda` of a Python
function, with line numbers and columns as they are in the file, so that
every error can point at the user's own source line.
"""

from __future__ import annotations

import ast
import inspect
import types
from dataclasses import dataclass

from tapeless.errors import Location, TapelessError


@dataclass(frozen=True, slots=True)
class FunctionSource:
    node: ast.FunctionDef | ast.Lambda
    filename: str


def loc_of(node: ast.AST, filename: str) -> Location:
    return Location(
        filename,
        getattr(node, "lineno", 0),
        getattr(node, "col_offset", 0),
        getattr(node, "end_lineno", None),
        getattr(node, "end_col_offset", None),
    )


def function_location(fn: types.FunctionType) -> Location:
    code = fn.__code__
    return Location(code.co_filename, code.co_firstlineno, 0)


def function_ast(fn: types.FunctionType) -> FunctionSource:
    """Parse the source of `fn` and find its definition in it."""
    code = fn.__code__
    try:
        lines, start = inspect.getsourcelines(fn)
        filename = inspect.getsourcefile(fn) or code.co_filename
    except (OSError, TypeError) as e:
        raise TapelessError(
            f"cannot read the source of {fn.__qualname__!r} ({e})",
            function_location(fn),
            construct="function",
            hint="tapeless compiles functions defined in files; not ones typed at a prompt or built with exec",
        ) from None
    text = "".join(lines)
    # Indented source (a method or a nested def) is wrapped in `if 1:` so that
    # columns stay those of the file.
    wrapped = bool(lines) and lines[0][:1] in (" ", "\t")
    if wrapped:
        text = "if 1:\n" + text
    tree: ast.Module | None
    try:
        tree = ast.parse(text, filename)
    except SyntaxError:
        tree = _parse_lambda_fragment(lines) if fn.__name__ == "<lambda>" else None
        if tree is None:
            raise TapelessError(
                f"cannot parse the source of {fn.__qualname__!r}",
                function_location(fn),
                construct="function",
            ) from None
        wrapped = False
    ast.increment_lineno(tree, start - 1 - (1 if wrapped else 0))
    node = _find(tree, fn)
    if node is None:
        raise TapelessError(
            f"cannot find the definition of {fn.__qualname__!r} in its source",
            function_location(fn),
            construct="function",
        )
    return FunctionSource(node, filename)


def _parse_lambda_fragment(lines: list[str]) -> ast.Module | None:
    """A lambda inside a larger statement: parse the lines as an expression."""
    text = "".join(lines).strip()
    for candidate in (text, f"({text})", text.rstrip(",")):
        try:
            return ast.parse(candidate)
        except SyntaxError:
            continue
    return None


def _find(tree: ast.AST, fn: types.FunctionType) -> ast.FunctionDef | ast.Lambda | None:
    code = fn.__code__
    line = code.co_firstlineno
    if fn.__name__ != "<lambda>":
        for node in ast.walk(tree):
            # async defs are found too, so that the fence can reject them by name
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == fn.__name__:
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if first == line or node.lineno == line:
                    return node  # type: ignore[return-value]
        return None
    argnames = list(code.co_varnames[: code.co_argcount])
    lambdas = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Lambda)
        and n.lineno == line
        and [a.arg for a in n.args.args] == argnames
    ]
    if len(lambdas) == 1:
        return lambdas[0]
    # Several lambdas with these parameters on one line: match the body's columns.
    cols = {pos[2] for pos in code.co_positions() if pos[2] is not None and pos[0] == line}
    for lam in lambdas:
        if lam.body.col_offset in cols:
            return lam
    return lambdas[0] if lambdas else None
