"""The program corpus: CPython is the oracle for the front end + reference interpreter.

For every program of ``tests/frontend/corpus/``, hypothesis draws argument
tuples; ``fn(*args)`` under CPython and ``tapeless.compile(fn,
backend="interp")(*args)`` must return the same type and value (floats bit for
bit), or raise the same exception type. The parsed graph must pass the IR
verifier. The corpus itself is checked too: its size, that it runs cleanly
under CPython, and that it covers every construct of the supported subset.
"""

from __future__ import annotations

import ast
import copy
import importlib
from collections.abc import Callable
from typing import Any

import pytest
from corpus_support import (
    Outcome,
    Program,
    assert_same_outcome,
    corpus_sources,
    load_corpus,
    run,
)
from hypothesis import given

from tapeless.errors import TapelessError

PROGRAMS = load_corpus()
IDS = [p.name for p in PROGRAMS]


def _compile(fn: Callable[..., Any]) -> Callable[..., Any]:
    import tapeless

    compile_ = getattr(tapeless, "compile", None)
    if compile_ is None:
        compile_ = importlib.import_module("tapeless.api").compile
    return compile_(fn, backend="interp")


def _checked(program: Program, check: Callable[[tuple[Any, ...]], None]) -> None:
    """Run `check` on the program's explicit examples, then on drawn arguments."""
    for args in program.examples:
        check(args)
    test = given(program.args)(check)
    # One example database entry per program, not one for all of them.
    test.hypothesis.inner_test._hypothesis_internal_add_digest = program.name.encode()
    test()


@pytest.mark.parametrize("program", PROGRAMS, ids=IDS)
def test_interpreter_matches_cpython(program: Program) -> None:
    refusals: list[TapelessError] = []
    try:
        compiled: Callable[..., Any] | None = _compile(program.fn)
        compile_error: TapelessError | None = None
    except TapelessError as exc:
        if "may_refuse" in program.tags:
            pytest.skip(f"refused with a clear error (allowed): {exc}")
        # e.g. a free variable read before assignment may be caught statically:
        # then every call must be one that CPython fails the same way.
        compiled, compile_error = None, exc

    def check(args: tuple[Any, ...]) -> None:
        expected = run(program.fn, copy.deepcopy(args))
        if compiled is None:
            actual = Outcome(error=compile_error)
        else:
            actual = run(compiled, copy.deepcopy(args))
        if (
            "may_refuse" in program.tags
            and expected.error is None
            and isinstance(actual.error, TapelessError)
        ):
            refusals.append(actual.error)
            return
        assert_same_outcome(expected, actual)

    _checked(program, check)
    if refusals:
        pytest.skip(f"refused with a clear error (allowed): {refusals[0]}")


@pytest.mark.parametrize("program", PROGRAMS, ids=IDS)
def test_parsed_graph_verifies(program: Program) -> None:
    frontend = importlib.import_module("tapeless.frontend")
    parse_function = getattr(frontend, "parse_function", None)
    if parse_function is None:
        pytest.skip("tapeless.frontend.parse_function does not exist yet")
    try:
        verify = importlib.import_module("tapeless.ir.verify").verify
    except ImportError:
        pytest.skip("tapeless.ir.verify does not exist yet")
    try:
        graph = parse_function(program.fn)
    except TapelessError as exc:
        if program.tags & {"may_refuse", "raises"}:
            pytest.skip(f"refused at parse time (allowed for this program): {exc}")
        raise
    verify(graph)


# --------------------------------------------------------------------------
# The corpus itself.


def test_corpus_size_and_names() -> None:
    assert len(PROGRAMS) >= 80, f"only {len(PROGRAMS)} programs"
    assert len(set(IDS)) == len(IDS), "two programs share a name"


@pytest.mark.parametrize("program", PROGRAMS, ids=IDS)
def test_corpus_runs_under_cpython(program: Program) -> None:
    """Each program is deterministic, and raises only if it is tagged "raises"."""

    def check(args: tuple[Any, ...]) -> None:
        first = run(program.fn, copy.deepcopy(args))
        if first.error is not None and "raises" not in program.tags:
            raise AssertionError(f"untagged program raises on {args!r}") from first.error
        assert_same_outcome(first, run(program.fn, copy.deepcopy(args)))

    _checked(program, check)


def test_every_module_function_is_used() -> None:
    """A public corpus function is registered, or called/referenced by another one."""
    registered = {p.name for p in PROGRAMS}
    for filename, source in corpus_sources().items():
        tree = ast.parse(source)
        stem = filename.removesuffix(".py")
        defs = [
            n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")
        ]
        referenced = {
            n.id
            for d in defs
            for n in ast.walk(d)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        for d in defs:
            assert f"{stem}.{d.name}" in registered or d.name in referenced, (
                f"{filename}: {d.name} is neither a program nor used by one"
            )


# Every construct of the supported subset (issue 2, "The front end"), as the
# feature names `_features` below reports them.
REQUIRED = {
    # functions
    "def.defaults", "def.nested", "lambda", "lambda.defaults", "return.early", "return.none",
    "Pass",
    # assignment
    "assign.name", "assign.unpack", "assign.unpack.nested",
    *(f"augassign.{op}" for op in ("Add", "Sub", "Mult", "Div", "FloorDiv", "Mod", "Pow")),
    # branches and boolean logic
    "if", "if.elif", "if.else", "ifexp", "boolop.And", "boolop.Or", "unary.Not",
    "unary.USub", "unary.UAdd",
    *(f"compare.{op}" for op in ("Eq", "NotEq", "Lt", "LtE", "Gt", "GtE")),
    "compare.chained",
    # loops
    "while", "while.else", "for.range.1", "for.range.2", "for.range.3",
    "for.range.negative_step", "for.range.runtime_step", "for.tuple", "for.unpack", "for.else",
    "break", "continue",
    # functions as values
    "closure.reads_enclosing", "closure.late_binding", "global.constant", "global.call",
    "recursion", "recursion.mutual", "higher_order.argument", "higher_order.returns_lambda",
    "call.computed_function",
    # scalar arithmetic and builtins
    *(f"binop.{op}" for op in ("Add", "Sub", "Mult", "Div", "FloorDiv", "Mod", "Pow", "MatMult")),
    "const.int", "const.float", "const.bool",
    "builtin.abs", "builtin.min", "builtin.max", "builtin.min.3", "builtin.max.3",
    "builtin.float", "builtin.int", "builtin.len", "subscript.const", "subscript.negative",
    # math
    *(
        f"math.{name}"
        for name in (
            "exp", "log", "log1p", "sqrt", "sin", "cos", "tan", "tanh", "atan", "atan2", "pow",
            "floor", "ceil", "fabs", "hypot", "pi", "e",
        )
    ),
    # numpy
    *(
        f"np.{name}"
        for name in (
            "exp", "log", "tanh", "sin", "maximum", "sum", "mean", "max", "dot", "transpose",
            "zeros", "ones", "zeros_like", "ones_like",
        )
    ),
    "attr.T", "attr.shape", "attr.reshape", "keyword.axis", "subscript.runtime",
    "subscript.slice", "subscript.multi",
}  # fmt: skip

_BUILTINS = {"abs", "min", "max", "float", "int", "len", "range"}


def _features(tree: ast.Module) -> set[str]:
    """The constructs that the module-level functions of one corpus module use."""
    found: set[str] = set()
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    names = {d.name for d in defs}
    consts = {
        t.id
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name) and t.id != "PROGRAMS" and not t.id.startswith("_")
    }
    calls: dict[str, set[str]] = {d.name: set() for d in defs}
    for d in defs:
        _function_features(d, found, top=True)
        for node in ast.walk(d):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in names:
                    calls[d.name].add(node.id)
                if node.id in consts:
                    found.add("global.constant")
            if isinstance(node, ast.Call):
                if isinstance(node.func, ast.Name) and node.func.id in names:
                    found.add("global.call")
                for arg in node.args:
                    if isinstance(arg, ast.Name | ast.Lambda) and (
                        isinstance(arg, ast.Lambda) or arg.id in names
                    ):
                        found.add("higher_order.argument")
    for name, callees in calls.items():
        if name in callees:
            found.add("recursion")
        if any(name in calls.get(c, ()) for c in callees if c != name):
            found.add("recursion.mutual")
    return found


def _function_features(fn: ast.FunctionDef | ast.Lambda, found: set[str], top: bool) -> None:
    if isinstance(fn, ast.FunctionDef):
        if fn.args.defaults:
            found.add("def.defaults")
        if not top:
            found.add("def.nested")
        _closure_features(fn, found)
        if _can_fall_off(fn.body):
            found.add("return.none")
        tails = _tail_returns(fn.body)
        if any(isinstance(n, ast.Return) and n not in tails for n in _own_nodes(fn)):
            found.add("return.early")
    else:
        found.add("lambda")
        if fn.args.defaults:
            found.add("lambda.defaults")
    for node in _own_nodes(fn):
        _node_features(node, found)
        if isinstance(node, ast.FunctionDef | ast.Lambda):
            _function_features(node, found, top=False)


def _own_nodes(fn: ast.AST) -> list[ast.AST]:
    """The nodes of `fn`'s body, nested functions included but not their insides."""
    out: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        out.append(node)
        if not isinstance(node, ast.FunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return out


def _tail_returns(body: list[ast.stmt]) -> set[ast.stmt]:
    """The `return`s in tail position: nothing of the function runs after them."""
    last = body[-1]
    if isinstance(last, ast.Return):
        return {last}
    if isinstance(last, ast.If):
        return _tail_returns(last.body) | (_tail_returns(last.orelse) if last.orelse else set())
    return set()


def _can_fall_off(body: list[ast.stmt]) -> bool:
    """Whether control can reach the end of `body` (and return None implicitly)."""
    last = body[-1]
    if isinstance(last, ast.Return):
        return False
    if isinstance(last, ast.If):
        return _can_fall_off(last.body) or not last.orelse or _can_fall_off(last.orelse)
    if isinstance(last, ast.For | ast.While) and last.orelse:
        breaks = any(isinstance(n, ast.Break) for n in _own_nodes(last))
        return breaks or _can_fall_off(last.orelse)
    return True


def _closure_features(fn: ast.FunctionDef, found: set[str]) -> None:
    """Nested functions reading the enclosing function's locals, and late binding."""
    assigned: dict[str, list[int]] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            assigned.setdefault(node.id, []).append(node.lineno)
    for arg in fn.args.args:
        assigned.setdefault(arg.arg, []).append(fn.lineno)
    for stmt in fn.body:
        for inner in ast.walk(stmt):
            if not isinstance(inner, ast.FunctionDef | ast.Lambda):
                continue
            local = {a.arg for a in inner.args.args}
            for node in ast.walk(inner):
                if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
                    continue
                if node.id in local or node.id not in assigned:
                    continue
                found.add("closure.reads_enclosing")
                end = getattr(inner, "end_lineno", inner.lineno) or inner.lineno
                if any(line > end for line in assigned[node.id]):
                    found.add("closure.late_binding")


def _node_features(node: ast.AST, found: set[str]) -> None:
    kind = type(node).__name__
    match node:
        case ast.Pass() | ast.Break() | ast.Continue():
            found.add(kind if isinstance(node, ast.Pass) else kind.lower())
        case ast.Assign(targets=targets):
            for t in targets:
                if isinstance(t, ast.Name):
                    found.add("assign.name")
                elif isinstance(t, ast.Tuple):
                    found.add("assign.unpack")
                    if any(isinstance(e, ast.Tuple) for e in t.elts):
                        found.add("assign.unpack.nested")
        case ast.AugAssign(op=op):
            found.add(f"augassign.{type(op).__name__}")
        case ast.BinOp(op=op):
            found.add(f"binop.{type(op).__name__}")
        case ast.UnaryOp(op=op):
            found.add(f"unary.{type(op).__name__}")
        case ast.BoolOp(op=op):
            found.add(f"boolop.{type(op).__name__}")
        case ast.Compare(ops=ops):
            found.update(f"compare.{type(op).__name__}" for op in ops)
            if len(ops) > 1:
                found.add("compare.chained")
        case ast.IfExp():
            found.add("ifexp")
        case ast.If(orelse=orelse):
            found.add("if")
            if len(orelse) == 1 and isinstance(orelse[0], ast.If):
                found.add("if.elif")
            elif orelse:
                found.add("if.else")
        case ast.While(orelse=orelse):
            found.add("while")
            if orelse:
                found.add("while.else")
        case ast.For(target=target, iter=it, orelse=orelse):
            _for_features(target, it, orelse, found)
        case ast.Constant(value=value):
            found.add(f"const.{type(value).__name__}")
        case ast.Call(func=func, args=args, keywords=keywords):
            if isinstance(func, ast.Name) and func.id in _BUILTINS:
                found.add(f"builtin.{func.id}")
                if func.id in ("min", "max") and len(args) >= 3:
                    found.add(f"builtin.{func.id}.3")
            if isinstance(func, ast.Call):
                found.add("call.computed_function")
            found.update(f"keyword.{k.arg}" for k in keywords)
        case ast.Attribute(value=ast.Name(id=("math" | "np") as module), attr=attr):
            found.add(f"{module}.{attr}")
        case ast.Attribute(attr=attr):
            found.add(f"attr.{attr}")
        case ast.Subscript(slice=index):
            _subscript_features(index, found)
        case ast.Return(value=ast.Lambda()):
            found.add("higher_order.returns_lambda")


def _for_features(target: ast.expr, it: ast.expr, orelse: list[ast.stmt], found: set[str]) -> None:
    if isinstance(target, ast.Tuple):
        found.add("for.unpack")
    if orelse:
        found.add("for.else")
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
        found.add(f"for.range.{len(it.args)}")
        if len(it.args) == 3:
            step = it.args[2]
            if isinstance(step, ast.UnaryOp) and isinstance(step.op, ast.USub):
                found.add("for.range.negative_step")
            elif isinstance(step, ast.Name):
                found.add("for.range.runtime_step")
    else:
        found.add("for.tuple")


def _subscript_features(index: ast.expr, found: set[str]) -> None:
    if isinstance(index, ast.Constant):
        found.add("subscript.const")
    elif isinstance(index, ast.UnaryOp) and isinstance(index.operand, ast.Constant):
        found.add("subscript.negative")
    elif isinstance(index, ast.Slice):
        found.add("subscript.slice")
    elif isinstance(index, ast.Tuple):
        found.add("subscript.multi")
    else:
        found.add("subscript.runtime")


def test_corpus_covers_every_construct() -> None:
    found: set[str] = set()
    for source in corpus_sources().values():
        found |= _features(ast.parse(source))
    missing = sorted(REQUIRED - found)
    assert not missing, f"no corpus program uses: {missing}"


def test_coverage_checker_sees_constructs() -> None:
    """The checker itself: a construct that is absent is reported absent."""
    found = _features(ast.parse("def f(x):\n    return x + 1\n"))
    assert "binop.Add" in found and "return.early" not in found and "binop.Sub" not in found
