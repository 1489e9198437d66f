"""Lowering of one Python function to graphs: statements and control flow.

The function's own graph is its entry block. `if` ends the current block
with `switch(c, then, else)()` and both branches jump to a join block; `while`
and `for` jump to a header block that tests the condition and either runs the
body (which jumps back to the header: a loop is tail recursion) or leaves.
`break` and `continue` are jumps; `return` sets the block's output, wherever
it is, since every block transfer is a tail call.

Nested `def` and `lambda` become graph constants at once, and their bodies
are lowered when the enclosing body is done, so that they may read variables
bound after them (see `frontend.scope` for the rules).
"""

from __future__ import annotations

import ast
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tapeless.errors import TapelessNameError, UnsupportedSyntax
from tapeless.frontend.expressions import BINOPS, ExpressionLowering
from tapeless.frontend.resolve import (
    ConstantValue,
    SpecialForm,
    StaticModule,
    classify,
    is_missing,
    lookup_global,
)
from tapeless.frontend.scope import Scope, analyze_scope, end_position, position
from tapeless.frontend.ssa import Block, SSABuilder
from tapeless.ir.nodes import Constant, Graph, Node, Unbound, constant_graph
from tapeless.ir.primitives import Primitive
from tapeless.ir.primitives import get as prim

if TYPE_CHECKING:
    from tapeless.frontend.parser import Program


@dataclass
class DefSite:
    """Where a closure of a nested function is made in its enclosing function.

    Normally the `def`/`lambda` itself. For a *template* (a def whose captured
    variables are bound again after it, see `FunctionLowering.read_name`), each
    read of its name is a site of its own: `point` is then that read.
    """

    node: ast.FunctionDef | ast.Lambda
    block: Block
    graph: Graph
    point: ast.AST | None = None  # where captured values are taken (default: node)
    template: Constant | None = None  # for templates: the def's own constant
    needed: bool = False  # a template some graph refers to uninstantiated
    late: tuple[str, ...] = ()  # for templates: the variables bound again after the def
    values: dict[str, Node] | None = None  # for instances: the late variables at `point`
    immediate: bool = False  # for instances: the read is the callee of a call


@dataclass
class Loop:
    header: Block
    exits: list[Block] = field(default_factory=list)  # blocks that `break`
    step: Callable[[], None] | None = None  # for `for`: what `continue` runs before jumping back


class FunctionLowering(ExpressionLowering):
    def __init__(
        self,
        program: Program,
        node: ast.FunctionDef | ast.Lambda,
        graph: Graph,
        filename: str,
        fn_globals: dict[str, Any],
        cells: dict[str, Any],
        enclosing: FunctionLowering | None = None,
        site: DefSite | None = None,
    ) -> None:
        self.program = program
        self.node = node
        self.graph = graph
        self.name = graph.name
        self.filename = filename
        self.fn_globals = fn_globals
        self.cells = cells
        self.enclosing = enclosing
        self.site = site
        self.scope: Scope = analyze_scope(node)
        self.ssa = SSABuilder(self.undefined)
        self.binding: dict[str, Node] = {}
        self.loops: list[Loop] = []
        self.pending: list[DefSite] = []
        self.templates: dict[Graph, DefSite] = {}
        self.callee: ast.AST | None = None  # the Name being called, while its call is lowered
        # Top-level statements run in order on every path that gets past them.
        self.toplevel = {id(st) for st in node.body} if isinstance(node, ast.FunctionDef) else set()
        self.toplevel_defs: dict[str, tuple[Constant, tuple[int, int]]] = {}
        self.counter = 0
        self.current: Block | None = None
        self.read_site: ast.AST | None = None  # the Name being read, for Unbound locations

    # The current block; None after return/break/continue (dead code follows).
    @property
    def block(self) -> Block:
        assert self.current is not None
        return self.current

    @block.setter
    def block(self, b: Block) -> None:
        self.current = b

    # -- driver -------------------------------------------------------------
    def lower(self) -> Graph:
        entry = self.ssa.new_block(self.graph)
        self.current = entry
        for a in self.node.args.args:
            self.write(a.arg, self.graph.add_parameter(a.arg, self.loc(a)))
        if isinstance(self.node, ast.Lambda):
            self.graph.output = self.expr(self.node.body)
        else:
            self.stmts(self.node.body)
            if self.current is not None:
                self.block.graph.output = Constant(None)
        self.lower_pending()
        return self.graph

    def lower_pending(self) -> None:
        """Lower the nested bodies; a template only if something refers to it
        directly rather than through an instance (its lowering may then
        report the late binding)."""
        done: set[int] = set()
        progress = True
        while progress:
            progress = False
            for site in list(self.pending):
                if id(site) in done:
                    continue
                if site.template is not None and not (site.needed or site.template.uses):
                    continue
                done.add(id(site))
                progress = True
                FunctionLowering(
                    self.program, site.node, site.graph, self.filename, self.fn_globals, self.cells, self, site
                ).lower()

    def undefined(self, name: str) -> Node:
        where = self.read_site if self.read_site is not None else self.node
        return Constant(Unbound(name, self.loc(where)))

    def write(self, name: str, value: Node) -> None:
        self.ssa.write(self.block, name, value)
        if self.scope.function(name) is not None:
            self.binding[name] = value

    def new_graph(self, suffix: str) -> Graph:
        self.counter += 1
        return Graph(f"{self.name}:{suffix}", flags={"block": True})

    def branch_block(self, suffix: str) -> Block:
        return self.ssa.new_block(self.new_graph(suffix), pred=self.block)

    # -- names --------------------------------------------------------------
    def knows(self, name: str) -> bool:
        return self.scope.is_local(name) or (self.enclosing is not None and self.enclosing.knows(name))

    def read_name(self, name: str, node: ast.AST) -> Node:
        known = self.toplevel_defs.get(name)
        if known is not None and self.scope.function(name) is not None and position(node) > known[1]:
            # A def at the top level, read after it: bound here on every path.
            const = known[0]
            if const.value in self.templates:
                return self.instantiate(self.templates[const.value], node)
            return Constant(const.value, self.loc(node))
        if self.scope.is_local(name):
            self.read_site = node
            try:
                value = self.ssa.read(self.block, name)
            finally:
                self.read_site = None
            graph = constant_graph(value)
            if graph is not None and graph in self.templates:
                return self.instantiate(self.templates[graph], node)
            return value
        if self.enclosing is not None and self.enclosing.knows(name):
            assert self.site is not None
            return self.enclosing.capture(name, self.site)
        return self.value_of_static(self.static_name(name, node), node, name)

    def capture(self, name: str, site: DefSite) -> Node:
        """The value a closure defined at `site` sees for `name`."""
        if not self.scope.is_local(name):
            assert self.enclosing is not None and self.site is not None
            return self.enclosing.capture(name, self.site)
        if self.scope.function(name) is not None:
            value = self.binding.get(name)
            if value is None:  # its def is in code that never runs
                return self.undefined(name)
            assert isinstance(value, Constant) and isinstance(value.value, Graph)
            if value.value in self.templates:
                self.templates[value.value].needed = True
            return Constant(value.value, value.loc)
        point = site.point or site.node
        if site.values is not None and name in site.values and site.immediate:
            return self.ssa.resolve(site.values[name])  # called at once: nothing can rebind it first
        later = self.scope.rebound_after(name, point)
        if later is not None:
            where = "is used" if site.point is not None else "is defined"
            raise UnsupportedSyntax(
                f"'{name}' is assigned again at line {later.position[0]}, after the function that captures it "
                f"{where} at line {getattr(point, 'lineno', '?')}; Python's closure would see the new value",
                self.loc(later.node),
                construct="late-bound closure variable",
                hint=f"give the new value a new name, or pass '{name}' to the function as an argument",
            )
        if site.values is not None and name in site.values:
            return self.ssa.resolve(site.values[name])  # (a phi since found trivial: its value)
        return self.ssa.read(site.block, name)

    def static_name(self, name: str, node: ast.AST) -> Any:
        if self.knows(name):
            return None
        obj = lookup_global(name, self.fn_globals, self.cells)
        if is_missing(obj):
            raise TapelessNameError(
                f"name '{name}' is not defined", self.loc(node), construct=name,
                hint="define it at module level before the first call, or pass it as an argument",
            )
        return classify(obj, name, self.loc(node))

    def value_of_static(self, obj: Any, node: ast.AST, name: str) -> Node:
        loc = self.loc(node)
        if isinstance(obj, Primitive):
            return Constant(obj, loc)
        if isinstance(obj, ConstantValue):
            return Constant(obj.value, loc)
        if isinstance(obj, types.FunctionType):
            return Constant(self.program.parse(obj), loc)
        if isinstance(obj, Graph):
            return Constant(obj, loc)
        if isinstance(obj, StaticModule):
            raise UnsupportedSyntax(f"module '{name}' used as a value", loc, construct=name,
                                    hint=f"use one of its functions or constants: {name}.something")
        if isinstance(obj, SpecialForm):
            if obj.name in ("min", "max"):  # as a value: the two-argument function
                return Constant(prim(f"scalar_{obj.name}"), loc)
            raise UnsupportedSyntax(f"'{name}' used as a value", loc, construct=name,
                                    hint=f"call {name}(...) directly")
        raise UnsupportedSyntax(f"cannot use '{name}' here", loc, construct=name,
                                hint="see docs/language.md for the values compiled code can use")

    # -- nested functions ---------------------------------------------------
    def nested(self, node: ast.FunctionDef | ast.Lambda, name: str, *, dominates: bool = True) -> Constant:
        graph = Graph(f"{self.name}.{name}", self.loc(node))
        self.default_values(node, graph, dominates)
        self.pending.append(DefSite(node, self.block, graph))
        return Constant(graph, self.loc(node))

    def lambda_value(self, node: ast.Lambda) -> Node:
        return self.nested(node, "lambda")

    def default_values(self, node: ast.FunctionDef | ast.Lambda, graph: Graph, dominates: bool) -> None:
        """Literal defaults go on the graph. Computed ones are evaluated here, at
        the definition, as Python does, and filled in by calls that name the
        function (`Program.computed_defaults`); that needs the definition to
        come before every later statement (`dominates`)."""
        values: list[Node] = []
        for d in node.args.defaults:
            try:
                values.append(Constant(ast.literal_eval(d), self.loc(d)))
            except ValueError:
                if not dominates:
                    raise self.unsupported(
                        d, "computed default value of a function defined inside a block",
                        "define the function at the top level of the enclosing function, or use a literal default",
                    ) from None
                values.append(self.expr(d))
        if all(isinstance(v, Constant) for v in values):
            graph.defaults = tuple(v.value for v in values if isinstance(v, Constant))
        else:
            self.program.computed_defaults[graph] = (len(node.args.args), values)

    # -- statements ---------------------------------------------------------
    def stmts(self, body: list[ast.stmt]) -> None:
        for s in body:
            if self.current is None:
                return  # unreachable code after return/break/continue
            getattr(self, f"stmt_{type(s).__name__}")(s)

    def stmt_Pass(self, s: ast.Pass) -> None:
        pass

    def stmt_Expr(self, s: ast.Expr) -> None:
        if isinstance(s.value, ast.Constant):
            return  # a docstring or a bare literal
        self.expr(s.value)  # computed for its errors; pure otherwise

    def stmt_Return(self, s: ast.Return) -> None:
        self.block.graph.output = self.expr(s.value) if s.value is not None else Constant(None, self.loc(s))
        self.current = None

    def stmt_Assign(self, s: ast.Assign) -> None:
        if len(s.targets) == 1 and isinstance(s.targets[0], ast.Name) and isinstance(s.value, ast.Lambda):
            self.define(s.targets[0].id, s.value, s)
            return
        value = self.expr(s.value)
        for t in s.targets:
            self.assign(t, value)

    def stmt_AnnAssign(self, s: ast.AnnAssign) -> None:
        if s.value is not None:
            self.assign(s.target, self.expr(s.value))

    def stmt_AugAssign(self, s: ast.AugAssign) -> None:
        if not isinstance(s.target, ast.Name):
            raise self.unsupported(s.target, "augmented assignment to an item or attribute", "assign to a name")
        current = self.read_name(s.target.id, s.target)
        self.write(s.target.id, self.call_prim(BINOPS[type(s.op)], current, self.expr(s.value), node=s))

    def assign(self, target: ast.expr, value: Node) -> None:
        if isinstance(target, ast.Name):
            self.write(target.id, value)
        elif isinstance(target, ast.Tuple):
            n = Constant(len(target.elts), self.loc(target))
            value = self.call_prim("unpack_check", value, n, node=target)
            for i, t in enumerate(target.elts):
                self.assign(t, self.call_prim("getitem", value, Constant(i, self.loc(t)), node=t))
        else:
            raise self.unsupported(target, "assignment target", "assign to a name or a tuple of names")

    def stmt_FunctionDef(self, s: ast.FunctionDef) -> None:
        self.define(s.name, s, s)

    def define(self, name: str, fn: ast.FunctionDef | ast.Lambda, stmt: ast.stmt) -> None:
        """`def name` or `name = lambda ...`: bind `name` to a closure of `fn`."""
        const = self.nested(
            fn, name if isinstance(fn, ast.FunctionDef) else "lambda", dominates=id(stmt) in self.toplevel
        )
        late = self.late_captures(fn) if self.scope.function(name) is fn else []
        if late:
            site = self.pending[-1]
            site.template, site.late = const, tuple(late)
            self.templates[const.value] = site
        if id(stmt) in self.toplevel:
            self.toplevel_defs[name] = (const, end_position(stmt))
        self.write(name, const)

    def late_captures(self, fn: ast.FunctionDef | ast.Lambda) -> list[str]:
        """Variables `fn` reads from this function that are bound after it."""
        inner = analyze_scope(fn)
        free = {
            n.id for n in ast.walk(fn)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and not inner.is_local(n.id)
        }
        return sorted(
            v for v in free
            if self.scope.is_local(v) and self.scope.function(v) is None
            and self.scope.rebound_after(v, fn) is not None
        )

    def instantiate(self, template: DefSite, read: ast.AST) -> Constant:
        """A closure of `template` whose captured variables are taken at `read`:
        Python's late binding, exact as long as they are not bound again after
        this read (`capture` checks it)."""
        graph = Graph(template.graph.name, template.graph.loc)
        graph.defaults = template.graph.defaults
        if template.graph in self.program.computed_defaults:
            self.program.computed_defaults[graph] = self.program.computed_defaults[template.graph]
        values = {v: self.ssa.read(self.block, v) for v in template.late}
        immediate = read is self.callee
        self.pending.append(DefSite(template.node, self.block, graph, point=read, values=values, immediate=immediate))
        return Constant(graph, self.loc(read))

    def stmt_If(self, s: ast.If) -> None:
        cond = self.truth(self.expr(s.test), s.test)
        start = self.block
        ends: list[Block] = []
        graphs = []
        for body, suffix in ((s.body, "if_true"), (s.orelse, "if_false")):
            self.current = self.ssa.new_block(self.new_graph(suffix), pred=start)
            graphs.append(self.block.graph)
            self.stmts(body)
            if self.current is not None:
                ends.append(self.current)
        self.current = start
        start.graph.output = self.switch(cond, graphs[0], graphs[1], s)
        self.current = self.join(ends, "if_after", s)

    def join(self, ends: list[Block], suffix: str, s: ast.stmt) -> Block | None:
        """Continue after the blocks `ends`: in the block itself if only one remains."""
        if not ends:
            return None
        if len(ends) == 1:
            return ends[0]
        after = self.ssa.new_block(self.new_graph(suffix), sealed=False)
        for b in ends:
            self.ssa.jump(b, after, self.loc(s))
        self.ssa.seal(after)
        return after

    def stmt_While(self, s: ast.While) -> None:
        header = self.enter_header(s, "while_header")
        cond = self.truth(self.expr(s.test), s.test)
        self.loop_rest(s, header, cond, None)

    def stmt_For(self, s: ast.For) -> None:
        self.counter += 1
        k = f"$for{self.counter}"  # hidden variables: not Python identifiers
        it = s.iter
        static = self.static_expr(it.func) if isinstance(it, ast.Call) else None
        if isinstance(static, SpecialForm) and static.name == "range":
            assert isinstance(it, ast.Call)
            if it.keywords or not 1 <= len(it.args) <= 3:
                raise self.unsupported(it, "range() with these arguments", "range(stop), range(start, stop) or range(start, stop, step)")
            args = [self.expr(a) for a in it.args]
            start, stop, step = (
                (Constant(0), args[0], Constant(1)) if len(args) == 1
                else (args[0], args[1], Constant(1)) if len(args) == 2
                else (args[0], args[1], args[2])
            )
            self.write(f"{k}.i", start)
            self.write(f"{k}.stop", stop)
            self.write(f"{k}.step", step)
            header = self.enter_header(s, "for_header")
            i = self.read_name_hidden(f"{k}.i")
            stop_n = self.read_name_hidden(f"{k}.stop")
            step_n = self.read_name_hidden(f"{k}.step")
            if isinstance(step, Constant) and isinstance(step.value, int) and step.value != 0:
                cond = self.call_prim("lt" if step.value > 0 else "gt", i, stop_n, node=it)
            else:
                cond = self.call_prim("range_check", i, stop_n, step_n, node=it)
            element = lambda: self.read_name_hidden(f"{k}.i")
        else:
            self.write(f"{k}.seq", self.expr(it))
            self.write(f"{k}.n", self.call_prim("len", self.read_name_hidden(f"{k}.seq"), node=it))
            self.write(f"{k}.i", Constant(0))
            self.write(f"{k}.step", Constant(1))
            header = self.enter_header(s, "for_header")
            cond = self.call_prim("lt", self.read_name_hidden(f"{k}.i"), self.read_name_hidden(f"{k}.n"), node=it)
            element = lambda: self.call_prim("getitem", self.read_name_hidden(f"{k}.seq"), self.read_name_hidden(f"{k}.i"), node=it)

        def step_counter() -> None:
            nxt = self.call_prim("add", self.read_name_hidden(f"{k}.i"), self.read_name_hidden(f"{k}.step"), node=it)
            self.ssa.write(self.block, f"{k}.i", nxt)

        self.loop_rest(s, header, cond, (element, step_counter))

    def read_name_hidden(self, name: str) -> Node:
        return self.ssa.read(self.block, name)

    def enter_header(self, s: ast.While | ast.For, suffix: str) -> Block:
        """End the current block with a jump to a new, unsealed loop header, and continue there."""
        header = self.ssa.new_block(self.new_graph(suffix), sealed=False)
        self.ssa.jump(self.block, header, self.loc(s))
        self.current = header
        return header

    def loop_rest(
        self,
        s: ast.While | ast.For,
        header: Block,
        cond: Node,
        for_parts: tuple[Callable[[], Node], Callable[[], None]] | None,
    ) -> None:
        """Body, back edge, else clause and exit of a loop whose header tests `cond`;
        `for_parts` are a `for` loop's element and counter step."""
        hb = self.block
        body = self.ssa.new_block(self.new_graph("loop_body"), pred=hb)
        exit_ = self.ssa.new_block(self.new_graph("loop_exit"), pred=hb)
        hb.graph.output = self.switch(cond, body.graph, exit_.graph, s)
        loop = Loop(header, step=for_parts[1] if for_parts else None)
        self.loops.append(loop)
        self.current = body
        if for_parts is not None:
            assert isinstance(s, ast.For)
            self.assign(s.target, for_parts[0]())
        self.stmts(s.body)
        if self.current is not None:
            self.stmt_Continue(None)
        self.loops.pop()
        self.ssa.seal(header)
        self.current = exit_
        self.stmts(s.orelse)
        ends = ([self.current] if self.current is not None else []) + loop.exits
        self.current = self.join(ends, "loop_after", s)

    def stmt_Break(self, s: ast.Break) -> None:
        self.loops[-1].exits.append(self.block)
        self.current = None

    def stmt_Continue(self, s: ast.Continue | None) -> None:
        loop = self.loops[-1]
        if loop.step is not None:
            loop.step()
        self.ssa.jump(self.block, loop.header, self.loc(s) if s is not None else None)
        self.current = None

