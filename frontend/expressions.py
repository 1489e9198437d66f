"""Lowering of expressions: one `expr_<Node>` method per supported AST node.

Short-circuit operators and conditional expressions evaluate only the operand
Python evaluates: each operand becomes a small block graph (a closure over
the current block) and `switch(c, then, else)()` picks and calls one.
"""

from __future__ import annotations

import ast
import inspect
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tapeless.errors import ArityError, Location, UnsupportedSyntax
from tapeless.frontend.fence import unsupported
from tapeless.frontend.resolve import ConstantValue, SpecialForm, StaticModule, classify
from tapeless.frontend.source import loc_of
from tapeless.ir.nodes import Constant, Graph, Node, constant_graph
from tapeless.ir.primitives import Primitive
from tapeless.ir.primitives import get as prim

if TYPE_CHECKING:
    from tapeless.frontend.parser import Program
    from tapeless.frontend.ssa import Block

BINOPS = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv",
    ast.FloorDiv: "floordiv", ast.Mod: "mod", ast.Pow: "pow", ast.MatMult: "matmul",
}
CMPOPS = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
UNOPS = {ast.USub: "neg", ast.UAdd: "pos", ast.Not: "not"}

#: Attributes of array values: `x.shape` is `shape(x)`.
VALUE_ATTRIBUTES = {"shape": "shape", "T": "transpose", "ndim": "ndim", "size": "size"}
#: Methods of array values: `x.sum(axis=0)` is `np_sum(x, axis=0)`.
VALUE_METHODS = {
    "reshape": "reshape", "sum": "np_sum", "mean": "np_mean", "max": "np_max",
    "min": "np_min", "transpose": "transpose", "dot": "np_dot",
}


class ExpressionLowering:
    """Expression half of `FunctionLowering` (see `frontend.lower`)."""

    block: Block
    filename: str
    callee: ast.AST | None
    program: Program

    # provided by FunctionLowering
    def read_name(self, name: str, node: ast.AST) -> Node: raise NotImplementedError
    def static_name(self, name: str, node: ast.AST) -> Any: raise NotImplementedError
    def value_of_static(self, obj: Any, node: ast.AST, name: str) -> Node: raise NotImplementedError
    def branch_block(self, suffix: str) -> Block: raise NotImplementedError
    def lambda_value(self, node: ast.Lambda) -> Node: raise NotImplementedError

    # -- helpers ------------------------------------------------------------
    def loc(self, node: ast.AST) -> Location:
        return loc_of(node, self.filename)

    def unsupported(self, node: ast.AST, construct: str, hint: str, message: str | None = None) -> UnsupportedSyntax:
        return unsupported(node, self.filename, construct, hint, message)

    def apply(self, fn: Node | Primitive | Graph, *args: Node, node: ast.AST | None = None) -> Node:
        loc = self.loc(node) if node is not None else None
        fn_node = fn if isinstance(fn, Node) else Constant(fn, loc)
        return self.block.graph.apply(fn_node, *args, loc=loc)

    def call_prim(self, name: str, *args: Node, node: ast.AST | None = None) -> Node:
        return self.apply(prim(name), *args, node=node)

    def truth(self, value: Node, node: ast.AST) -> Node:
        """The bool Python's `if` tests; comparisons and `not` already are."""
        if isinstance(node, ast.Compare) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            return value
        if isinstance(value, Constant) and isinstance(value.value, bool):
            return value
        return self.call_prim("truth", value, node=node)

    def select(self, cond: Node, then: Callable[[], Node], orelse: Callable[[], Node], node: ast.AST, names: tuple[str, str]) -> Node:
        """`switch(cond, then_block, else_block)()`, each block computing one value."""
        graphs = []
        for make, suffix in ((then, names[0]), (orelse, names[1])):
            saved = self.block
            self.block = self.branch_block(suffix)
            self.block.graph.output = make()
            graphs.append(self.block.graph)
            self.block = saved
        return self.switch(cond, graphs[0], graphs[1], node, self.loc(node))

    def switch(self, cond: Node, then: Graph, orelse: Graph, node: ast.AST, loc: Location | None = None) -> Node:
        """`switch(cond, then, orelse)()`: call the block that `cond` picks
        (`loc` is the location of the two graph constants)."""
        chosen = self.apply(prim("switch"), cond, Constant(then, loc), Constant(orelse, loc), node=node)
        return self.apply(chosen, node=node)

    # -- dispatch -----------------------------------------------------------
    def expr(self, e: ast.expr) -> Node:
        method = getattr(self, f"expr_{type(e).__name__}", None)
        if method is None:  # the fence lets nothing else through
            raise self.unsupported(e, type(e).__name__, "rewrite it with the supported subset")
        return method(e)

    def expr_Constant(self, e: ast.Constant) -> Node:
        return Constant(e.value, self.loc(e))

    def expr_Name(self, e: ast.Name) -> Node:
        return self.read_name(e.id, e)

    def expr_Tuple(self, e: ast.Tuple) -> Node:
        return self.call_prim("make_tuple", *[self.expr(x) for x in e.elts], node=e)

    def expr_BinOp(self, e: ast.BinOp) -> Node:
        left, right = self.expr(e.left), self.expr(e.right)
        if isinstance(e.op, ast.Pow) and isinstance(right, Constant) and type(right.value) is int:
            return self.call_prim("integer_pow", left, right, node=e)  # a literal int exponent
        return self.call_prim(BINOPS[type(e.op)], left, right, node=e)

    def expr_UnaryOp(self, e: ast.UnaryOp) -> Node:
        operand = e.operand
        # Fold the sign of a numeric literal, as CPython's compiler does.
        if isinstance(e.op, ast.USub | ast.UAdd) and isinstance(operand, ast.Constant):
            v = operand.value
            if isinstance(v, int | float) and not isinstance(v, bool):
                return Constant(-v if isinstance(e.op, ast.USub) else +v, self.loc(e))
        return self.call_prim(UNOPS[type(e.op)], self.expr(operand), node=e)

    def expr_BoolOp(self, e: ast.BoolOp) -> Node:
        # a and b and c == a and (b and c); value semantics: the deciding operand.
        def chain(values: list[ast.expr]) -> Node:
            first = self.expr(values[0])
            if len(values) == 1:
                return first
            cond = self.truth(first, values[0])
            rest = lambda: chain(values[1:])
            keep = lambda: first
            if isinstance(e.op, ast.And):
                return self.select(cond, rest, keep, e, ("and_rhs", "and_short"))
            return self.select(cond, keep, rest, e, ("or_short", "or_rhs"))

        return chain(e.values)

    def expr_IfExp(self, e: ast.IfExp) -> Node:
        cond = self.truth(self.expr(e.test), e.test)
        return self.select(cond, lambda: self.expr(e.body), lambda: self.expr(e.orelse), e, ("ifexp_true", "ifexp_false"))

    def expr_Compare(self, e: ast.Compare) -> Node:
        # a < b < c == (a < b) and (b < c) with b evaluated once.
        def chain(left: Node, i: int) -> Node:
            right = self.expr(e.comparators[i])
            result = self.call_prim(CMPOPS[type(e.ops[i])], left, right, node=e)
            if i == len(e.ops) - 1:
                return result
            cond = self.call_prim("truth", result, node=e)
            return self.select(cond, lambda: chain(right, i + 1), lambda: result, e, ("cmp_next", "cmp_short"))

        return chain(self.expr(e.left), 0)

    def expr_Lambda(self, e: ast.Lambda) -> Node:
        return self.lambda_value(e)

    def expr_Attribute(self, e: ast.Attribute) -> Node:
        static = self.static_expr(e)
        if static is not None:
            return self.value_of_static(static, e, _dotted(e))
        if e.attr not in VALUE_ATTRIBUTES:
            raise self.unsupported(
                e, f"attribute .{e.attr}",
                f"array values support {', '.join('.' + a for a in VALUE_ATTRIBUTES)}",
            )
        # through call_bound, so that defaults (transpose's axes) are filled in
        return self.call_bound(prim(VALUE_ATTRIBUTES[e.attr]), e, [self.expr(e.value)], {})

    def expr_Subscript(self, e: ast.Subscript) -> Node:
        return self.call_prim("getitem", self.expr(e.value), self.index(e.slice), node=e)

    def index(self, e: ast.expr) -> Node:
        if isinstance(e, ast.Slice):
            parts = [self.expr(p) if p is not None else Constant(None, self.loc(e)) for p in (e.lower, e.upper, e.step)]
            if all(isinstance(p, Constant) for p in parts):
                return Constant(slice(*(p.value for p in parts if isinstance(p, Constant))), self.loc(e))
            return self.call_prim("make_slice", *parts, node=e)
        if isinstance(e, ast.Tuple):
            parts = [self.index(x) for x in e.elts]
            if all(isinstance(p, Constant) for p in parts):
                return Constant(tuple(p.value for p in parts if isinstance(p, Constant)), self.loc(e))
            return self.call_prim("make_tuple", *parts, node=e)
        return self.expr(e)

    # -- static names (globals, modules, library functions) -----------------
    def static_expr(self, e: ast.expr) -> Any:
        """The Python object a non-local name or a module attribute denotes, or None."""
        if isinstance(e, ast.Name):
            return self.static_name(e.id, e)
        if isinstance(e, ast.Attribute):
            base = self.static_expr(e.value)
            if isinstance(base, StaticModule):
                try:
                    obj = getattr(base.module, e.attr)
                except AttributeError:
                    raise UnsupportedSyntax(
                        f"module '{base.module.__name__}' has no attribute '{e.attr}'",
                        self.loc(e), construct=_dotted(e),
                        hint="check the spelling; see docs/language.md for the supported functions",
                    ) from None
                return classify(obj, _dotted(e), self.loc(e))
            if base is not None and not isinstance(base, ConstantValue):
                raise self.unsupported(e, f"attribute .{e.attr} of {_dotted(e.value)}", "use the function itself")
        return None

    # -- calls --------------------------------------------------------------
    def expr_Call(self, e: ast.Call) -> Node:
        func = e.func
        static = self.static_expr(func)
        if isinstance(static, SpecialForm):
            if static.name in ("grad", "value_and_grad"):
                return self.grad_call(static.name, e)
            if static.name == "range":
                raise self.unsupported(e, "range() outside a for loop", "use range(...) only as `for i in range(...)`")
            return self.min_max(static.name, e)
        if static is None and isinstance(func, ast.Attribute) and func.attr in VALUE_METHODS:
            receiver = self.expr(func.value)
            name = VALUE_METHODS[func.attr]
            args = [self.expr(a) for a in e.args]
            if name in ("reshape", "transpose") and len(args) > 1:  # x.reshape(2, 3)
                args = [self.call_prim("make_tuple", *args, node=e)]
            return self.call_bound(prim(name), e, [receiver, *args], self.keywords(e))
        if isinstance(static, Primitive):
            return self.call_bound(static, e, [self.expr(a) for a in e.args], self.keywords(e))
        if static is not None:
            fn_node = self.value_of_static(static, func, _dotted(func))
        else:
            self.callee = func  # a closure read only to be called at once
            try:
                fn_node = self.expr(func)
            finally:
                self.callee = None
        args = [self.expr(a) for a in e.args]
        if e.keywords:
            args = self.bind_python_keywords(static, e, args)
        args += self.computed_defaults_for(fn_node, len(args))
        return self.apply(fn_node, *args, node=e)

    def computed_defaults_for(self, fn_node: Node, given: int) -> list[Node]:
        """The computed defaults a call of a nested function by name leaves out."""
        graph = constant_graph(fn_node)
        if graph is None:
            return []
        nparams, values = self.program.computed_defaults.get(graph, (0, []))
        missing = nparams - given
        return values[len(values) - missing:] if 0 < missing <= len(values) else []

    def keywords(self, e: ast.Call) -> dict[str, Node]:
        out: dict[str, Node] = {}
        for kw in e.keywords:
            if kw.arg is None:
                raise self.unsupported(kw, "**kwargs argument", "pass the arguments by name one by one")
            out[kw.arg] = self.expr(kw.value)
        return out

    def call_bound(self, p: Primitive, e: ast.expr, args: list[Node], kw: dict[str, Node]) -> Node:
        """Call primitive `p`, binding keywords and defaults to its parameters.

        A primitive may name variants by argument count in
        `rules["by_arity"]` (`math.log(x)` / `math.log(x, base)`).
        """
        p = p.rules.get("by_arity", {}).get(len(args) + len(kw), p)
        if p.variadic:
            if kw:
                raise self.unsupported(e, f"keyword arguments to {p.name}", "pass them positionally")
            return self.apply(p, *args, node=e)
        params = p.params
        if len(args) > len(params):
            raise ArityError(f"{p.name}() takes {len(params)} arguments but {len(args)} were given", self.loc(e), construct=p.name,
                             hint=f"its parameters are {', '.join(params)}")
        slots: list[Node | None] = [*args, *([None] * (len(params) - len(args)))]
        for k, v in kw.items():
            if k not in params:
                raise ArityError(f"{p.name}() got an unexpected keyword argument '{k}'", self.loc(e), construct=p.name,
                                 hint=f"its parameters are {', '.join(params)}")
            i = params.index(k)
            if slots[i] is not None:
                raise ArityError(f"{p.name}() got multiple values for argument '{k}'", self.loc(e), construct=p.name,
                                 hint="pass each argument once")
            slots[i] = v
        first_default = len(params) - len(p.defaults)
        for i, s in enumerate(slots):
            if s is None:
                if i < first_default:
                    raise ArityError(f"{p.name}() missing required argument '{params[i]}'", self.loc(e), construct=p.name,
                                    hint=f"its parameters are {', '.join(params)}")
                slots[i] = Constant(p.defaults[i - first_default], self.loc(e))
        return self.apply(p, *[s for s in slots if s is not None], node=e)

    def bind_python_keywords(self, static: Any, e: ast.Call, args: list[Node]) -> list[Node]:
        if not isinstance(static, types.FunctionType):
            raise self.unsupported(
                e, "keyword arguments to a function value",
                "keywords are supported when calling a global function by name; pass them positionally here",
            )
        sig = inspect.signature(static)
        kw = self.keywords(e)
        try:
            bound = sig.bind(*args, **kw)
        except TypeError as err:
            raise ArityError(str(err), self.loc(e), construct=static.__name__,
                             hint=f"the signature is {static.__name__}{sig}") from None
        out: list[Node] = []
        for name, param in sig.parameters.items():
            if name in bound.arguments:
                out.append(bound.arguments[name])
            elif param.default is not inspect.Parameter.empty:
                out.append(Constant(param.default, self.loc(e)))
        return out

    def grad_call(self, which: str, e: ast.Call) -> Node:
        """`grad(f, argnums=k)` in compiled code: the `grad` primitive on the value f."""
        if not e.args or len(e.args) > 2 or any(k.arg != "argnums" for k in e.keywords):
            raise self.unsupported(e, f"{which}() with these arguments", f"write {which}(f) or {which}(f, argnums=k)")
        spec = e.args[1] if len(e.args) == 2 else next((k.value for k in e.keywords), None)
        try:
            argnums = ast.literal_eval(spec) if spec is not None else 0
        except ValueError:
            raise self.unsupported(e, "computed argnums", "write argnums as a literal: 0 or (0, 1)") from None
        return self.call_prim("grad", self.expr(e.args[0]), Constant(argnums), Constant(which == "value_and_grad"), node=e)

    def min_max(self, which: str, e: ast.Call) -> Node:
        if e.keywords or len(e.args) < 2:
            raise self.unsupported(e, f"{which}() of one iterable or with keywords", f"call {which}(a, b, ...) with two or more numbers")
        acc = self.expr(e.args[0])
        for a in e.args[1:]:
            acc = self.call_prim(f"scalar_{which}", acc, self.expr(a), node=e)
        return acc


def _dotted(e: ast.expr) -> str:
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Attribute):
        return f"{_dotted(e.value)}.{e.attr}"
    return "<expression>"
