"""The fence: which Python syntax tapeless accepts, checked before lowering.

`check_function(node, filename)` walks a function's AST and raises
`UnsupportedSyntax` at the first construct outside the subset, naming it, with
file:line:col, the source line and a hint. Lowering may then assume that every
node it meets is one it knows. A few finer checks (a call's keywords, an
assignment target's shape) stay where the lowering has the context.
"""

from __future__ import annotations

import ast

from tapeless.errors import UnsupportedSyntax
from tapeless.frontend.source import loc_of

#: Node types the lowering handles (contexts and operators included).
SUPPORTED: tuple[type[ast.AST], ...] = (
    # statements
    ast.FunctionDef, ast.Return, ast.Assign, ast.AugAssign, ast.If, ast.While, ast.For,
    ast.Break, ast.Continue, ast.Pass, ast.Expr, ast.AnnAssign,
    # expressions
    ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Lambda, ast.IfExp, ast.Compare, ast.Call,
    ast.Constant, ast.Attribute, ast.Subscript, ast.Name, ast.Tuple, ast.Slice, ast.keyword,
    # parts
    ast.arguments, ast.arg, ast.Load, ast.Store,
    ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.MatMult, ast.USub, ast.UAdd, ast.Not,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)

#: Unsupported node type -> (what to call it, hint).
HINTS: dict[type[ast.AST], tuple[str, str]] = {
    ast.Try: ("try statement", "exceptions cannot be caught in compiled code; test the condition with `if`"),
    ast.With: ("with statement", "context managers are not supported; move the block out of the compiled function"),
    ast.ClassDef: ("class definition", "define classes outside compiled functions; pass their data as tuples"),
    ast.Yield: ("yield", "generators are not supported; return a tuple or accumulate in a loop"),
    ast.YieldFrom: ("yield from", "generators are not supported; return a tuple or accumulate in a loop"),
    ast.AsyncFunctionDef: ("async def", "coroutines are not supported"),
    ast.Await: ("await", "coroutines are not supported"),
    ast.AsyncFor: ("async for", "coroutines are not supported"),
    ast.AsyncWith: ("async with", "coroutines are not supported"),
    ast.Global: ("global statement", "pass the value as an argument and return the new value"),
    ast.Nonlocal: ("nonlocal statement", "return the new value from the inner function instead"),
    ast.Delete: ("del statement", "drop the statement: compiled code needs no deletion"),
    ast.JoinedStr: ("f-string", "strings are not values in compiled code; format outside it"),
    ast.FormattedValue: ("f-string", "strings are not values in compiled code; format outside it"),
    ast.Starred: ("star-args", "pass the arguments one by one, or pass the tuple itself"),
    ast.Import: ("import inside a function", "import the module at the top of the file"),
    ast.ImportFrom: ("import inside a function", "import the module at the top of the file"),
    ast.Raise: ("raise statement", "exceptions cannot be raised from compiled code yet"),
    ast.Assert: ("assert statement", "check the condition outside the compiled function"),
    ast.List: ("list", "lists are mutable; use a tuple: (a, b, c)"),
    ast.ListComp: ("list comprehension", "use a for loop over range(...) or a tuple"),
    ast.SetComp: ("set comprehension", "sets are not supported"),
    ast.DictComp: ("dict comprehension", "dicts are not supported; use a tuple"),
    ast.GeneratorExp: ("generator expression", "use a for loop that accumulates"),
    ast.Dict: ("dict", "dicts are not supported; use a tuple"),
    ast.Set: ("set", "sets are not supported; use a tuple"),
    ast.NamedExpr: ("assignment expression (:=)", "assign in a statement of its own"),
    ast.Match: ("match statement", "use if/elif/else"),
    ast.Invert: ("~ operator", "bitwise operators are not supported"),
    ast.BitAnd: ("& operator", "bitwise operators are not supported; use `and` for booleans"),
    ast.BitOr: ("| operator", "bitwise operators are not supported; use `or` for booleans"),
    ast.BitXor: ("^ operator", "bitwise operators are not supported; use `!=` for booleans"),
    ast.LShift: ("<< operator", "bitwise operators are not supported; multiply by 2**k"),
    ast.RShift: (">> operator", "bitwise operators are not supported; use // 2**k"),
    ast.Is: ("`is` comparison", "compare values with == (None checks are not supported)"),
    ast.IsNot: ("`is not` comparison", "compare values with != (None checks are not supported)"),
    ast.In: ("`in` test", "membership tests are not supported; compare explicitly"),
    ast.NotIn: ("`not in` test", "membership tests are not supported; compare explicitly"),
}


def unsupported(node: ast.AST, filename: str, construct: str, hint: str, message: str | None = None) -> UnsupportedSyntax:
    return UnsupportedSyntax(
        message or f"{construct} is not supported in compiled functions",
        loc_of(node, filename),
        construct=construct,
        hint=hint,
    )


def check_function(fn: ast.FunctionDef | ast.Lambda, filename: str) -> None:
    """Raise `UnsupportedSyntax` for the first construct outside the subset."""
    walked = _walk(fn)
    docstrings = {id(d) for d in (_docstring(n) for n, _ in walked) if d is not None}
    for node, where in walked:
        if isinstance(node, ast.FunctionDef | ast.Lambda):
            _check_signature(node, filename, nested=node is not fn)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str | bytes | complex):
            if id(node) not in docstrings:
                text = isinstance(node.value, str | bytes)
                raise unsupported(
                    node, filename, "string literal" if text else "complex number",
                    "compiled code computes with numbers, bools, tuples and arrays",
                )
        elif isinstance(node, ast.Constant) and node.value is Ellipsis:
            raise unsupported(node, filename, "Ellipsis", "write the slices out: x[:, 0]")
        elif isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.ctx, ast.Store):
            if isinstance(node, ast.Attribute):
                what, hint = "attribute assignment", "values are immutable in compiled code; build a new value"
            else:
                what = "item assignment (x[i] = v)"
                hint = "arrays are immutable in compiled code; build a new array or tuple"
            raise unsupported(node, filename, what, hint)
        elif not isinstance(node, SUPPORTED):
            construct, hint = HINTS.get(
                type(node),
                (type(node).__name__, "rewrite it with the supported subset (see docs/language.md)"),
            )
            raise unsupported(where, filename, construct, hint)


def _walk(root: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """All nodes under `root`, parents before children, in source order, each
    with the nearest node that has a position (operators have none).

    The compiled function's own decorators are skipped: Python runs them.
    """
    out: list[tuple[ast.AST, ast.AST]] = []
    stack: list[tuple[ast.AST, ast.AST]] = [(root, root)]
    while stack:
        node, where = stack.pop()
        if hasattr(node, "lineno"):
            where = node
        out.append((node, where))
        children = list(ast.iter_child_nodes(node))
        if node is root and isinstance(node, ast.FunctionDef):
            skip = {id(d) for d in node.decorator_list}
            children = [c for c in children if id(c) not in skip]
        stack.extend((c, where) for c in reversed(children))
    return out


def _docstring(node: ast.AST) -> ast.Constant | None:
    if isinstance(node, ast.FunctionDef) and node.body:
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            if isinstance(first.value.value, str):
                return first.value
    return None


def _check_signature(fn: ast.FunctionDef | ast.Lambda, filename: str, *, nested: bool) -> None:
    args = fn.args
    if args.vararg is not None:
        raise unsupported(args.vararg, filename, "*args parameter", "list the parameters one by one, or take a tuple")
    if args.kwarg is not None:
        raise unsupported(args.kwarg, filename, "**kwargs parameter", "list the parameters one by one")
    if args.kwonlyargs:
        raise unsupported(args.kwonlyargs[0], filename, "keyword-only parameter", "make it a positional parameter")
    if args.posonlyargs:
        raise unsupported(args.posonlyargs[0], filename, "positional-only parameter", "drop the `/`")
    if nested and isinstance(fn, ast.FunctionDef) and fn.decorator_list:
        raise unsupported(
            fn.decorator_list[0], filename, "decorator on a nested function",
            "call the decorator explicitly: g = deco(g)",
        )
