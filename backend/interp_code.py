"""Assembling graphs into code for the reference interpreter (`backend.interp`).

A graph's `Code` is a flat list of instruction tuples, one per scheduled
`Apply` (`ir.analysis.schedule`), with every operand resolved ahead of time to
a slot of the frame (see `backend.values.Frame`): constants sit in the frame
template, nodes of the graph in their own slots, free variables are copied in
by `LOADFREE` (a fixed number of parent links up, the nesting depth between
the two graphs given by `Analysis.parent`), and graph constants become
closures through `CLOSURE`. Calls name their callee's `Code` directly when it
is a graph constant, and `switch(c, G, H)(...)`, the form every `if` and loop
takes, is fused into one `SWITCHCALL`.

Last, maximal runs of straight-line instructions (primitive applications and
free-variable loads) are fused into one `BLOCK`: a small Python function
generated from them, one source line per instruction, so that the main loop
dispatches once per run and plain-scalar operators run as Python operators.
"""

from __future__ import annotations

import builtins
import functools
import operator
import types
from operator import itemgetter
from types import BuiltinFunctionType
from typing import Any

from tapeless.backend.values import Closure
from tapeless.errors import InternalError
from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node
from tapeless.ir.primitives import Primitive, get

# -- instructions --------------------------------------------------------------
# Primitive applications:   (op, dest, impl, arg slots...)      P0..P3
#                           (op, dest, impl, fetch)             PN, fetch(frame) -> args
#                           (op, dest, impl, arg slots..., pyop)  F1, F2: see `fast_op`
# Calls of graphs/closures: (op, dest, tail, nargs, argref, ...) with argref
#   None (no argument), a slot (one) or an itemgetter (several), and then
#   CALLG:      code, hops                 (a graph constant in function position)
#   SWITCHCALL: cond slot, code_t, hops_t, code_f, hops_f    (switch(c, G, H)(...))
#   CALL:       fn slot                    (any computed function value)
# Others:   (RET, slot) · (LOADFREE, dest, hops, slot) · (CLOSURE, dest, code, hops)
#           (BLOCK, fn, metas): fused straight-line instructions, see `fuse_blocks`
# `hops` counts parent links from the current frame; -1 means "no frame".
BLOCK, F2, F1, P2, P1, CALLG, SWITCHCALL, RET, LOADFREE, CLOSURE, CALL, P3, PN, P0 = range(14)

#: `Code.meta` entry: (apply node, primitive or None, argument slots, function slot or None).
Meta = tuple[Apply | None, Primitive | None, tuple[int, ...], int | None]

_PRIM_OPS = (P0, P1, P2, P3)
_FAST_OPS = {1: F1, 2: F2}
_SWITCH = get("switch")
#: Modules declaring primitives whose `implements` is their scalar meaning.
_SCALAR_FAMILIES = frozenset(
    {"tapeless.ir.prims.scalar", "tapeless.ir.prims.control", "tapeless.ir.prims.math"}
)
#: Operand types on which a primitive's fast path (`fast_op`) may run.
PLAIN_SCALARS = frozenset({int, float, bool})


def fast_op(prim: Primitive, nargs: int) -> Any:
    """The Python builtin `prim` stands for, when calling it directly on plain scalars is safe.

    A scalar primitive (declared in `ir.prims.scalar`, `control` or `math`)
    that `implements` a builtin operator or function (``operator.add``,
    ``abs``, ``bool``, ``math.log``...) computes exactly that builtin on ints,
    floats and bools: its implementation only adds checks that such operands
    pass (`ir.prims.rules.check_numeric`). Calling the builtin directly skips
    two Python-level calls per operation. Array primitives are left out: their
    implementations deliberately differ from NumPy's on scalars.
    `tests/backend/test_interp.py` checks that the two agree on a grid of
    scalars, errors included.
    """
    if (
        prim.variadic
        or nargs != prim.arity
        or nargs not in _FAST_OPS
        or getattr(prim.impl, "__module__", None) not in _SCALAR_FAMILIES
    ):
        return None
    for obj in prim.implements:
        if obj is prim.impl:
            return None  # already a builtin: nothing to skip
        if isinstance(obj, BuiltinFunctionType) or obj in (bool, int, float):
            return obj
    return None


class Code:
    """One graph assembled for the interpreter (see the module docstring).

    `instrs` run in a frame laid out by `slots` (node -> slot) and `tail` (the
    template of the slots after the parameters); `meta[pc]` describes
    instruction `pc` for error reports (`Meta`).
    """

    __slots__ = (
        "defaults",
        "graph",
        "instrs",
        "meta",
        "name",
        "nparams",
        "program",
        "slots",
        "tail",
        "toplevel",
    )

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.name = graph.name
        self.nparams = len(graph.parameters)
        self.defaults = tuple(graph.defaults)
        self.instrs: list[tuple[Any, ...]] = []
        self.meta: list[Meta] = []
        self.slots: dict[Node, int] = {}
        self.tail: list[Any] = []
        self.toplevel = True
        self.program: Program | None = None  # the Program that assembled it

    def __repr__(self) -> str:
        return f"<Code {self.name}: {len(self.instrs)} instructions>"


class Program:
    """The `Code` of every graph met so far, assembled on first use.

    A snapshot: graphs are assembled as they are when first reached, so use a
    fresh `Program` after rewriting the IR.
    """

    def __init__(self) -> None:
        self._codes: dict[Graph, Code] = {}

    def code(self, graph: Graph) -> Code:
        code = self._codes.get(graph)
        if code is None:
            self._assemble_from(graph)
            code = self._codes[graph]
        return code

    def closure(self, graph: Graph) -> Closure:
        """A top-level graph as a function value."""
        code = self.code(graph)
        if not code.toplevel:
            raise InternalError(
                f"graph {graph.name} has free variables and cannot be called without"
                " the frame of its parent"
            )
        return Closure(graph, None, code)

    def _assemble_from(self, root: Graph) -> None:
        an = analyze(root)
        new = [g for g in an.graphs if g not in self._codes]
        for g in new:
            self._codes[g] = Code(g)
            self._codes[g].program = self
        # Ancestors first: loading a free variable needs its owner's slot.
        new.sort(key=lambda g: len(an.ancestors(g)))
        for g in new:
            _Assembler(self, an, self._codes[g]).run()


class _Assembler:
    """Turns one graph's schedule into instructions (one `Code`)."""

    def __init__(self, program: Program, an: Analysis, code: Code) -> None:
        self.program = program
        self.an = an
        self.code = code
        self.g = code.graph
        self.template: list[Any] = [None]
        chain: list[Graph] = []
        p: Graph | None = self.g
        while p is not None:
            chain.append(p)
            p = an.parent(p)
        self.chain = chain
        code.toplevel = len(chain) == 1

    # -- operands -------------------------------------------------------------
    def new_slot(self, init: Any = None) -> int:
        self.template.append(init)
        return len(self.template) - 1

    def hops(self, target: Graph | None, why: str) -> int:
        if target is None:
            return -1
        try:
            return self.chain.index(target)
        except ValueError:
            raise InternalError(
                f"{why}: graph {target.name} does not enclose graph {self.g.name}"
            ) from None

    def emit(self, ins: tuple[Any, ...], node: Apply | None = None,
             prim: Primitive | None = None, argslots: tuple[int, ...] = (),
             fnslot: int | None = None) -> None:
        self.code.instrs.append(ins)
        self.code.meta.append((node, prim, argslots, fnslot))

    def operand(self, node: Node, user: Apply | None) -> int:
        slots = self.code.slots
        s = slots.get(node)
        if s is not None:
            return s
        if isinstance(node, Constant):
            value = node.value
            if isinstance(value, Graph):
                callee = self.program.code(value)
                hops = self.hops(self.an.parent(value), f"closure {value.name}")
                s = self.new_slot()
                self.emit((CLOSURE, s, callee, hops), user)
            else:
                s = self.new_slot(value)
        elif node.owner is self.g:
            raise InternalError(f"node {node!r} of graph {self.g.name} used before it is computed")
        else:
            owner = node.owner
            assert owner is not None
            hops = self.hops(owner, f"free variable {node!r}")
            owner_slot = self.program.code(owner).slots.get(node)
            if owner_slot is None:
                raise InternalError(f"free variable {node!r} is never computed in {owner.name}")
            s = self.new_slot()
            self.emit((LOADFREE, s, hops, owner_slot), user)
        slots[node] = s
        return s

    # -- instructions ---------------------------------------------------------
    def run(self) -> None:
        g, code = self.g, self.code
        if not g.has_output:
            raise InternalError(f"graph {g.name} has no output")
        for i, param in enumerate(g.parameters):
            code.slots[param] = i + 1
            self.template.append(None)
        fused = self.fusable_switches()
        for node in self.an.schedule(g):
            if node not in fused:
                self.apply(node, tail=node is g.output, fused=fused)
        out = g.output
        if not (isinstance(out, Apply) and out.graph is g):
            self.emit((RET, self.operand(out, None)))
        code.tail = self.template[1 + code.nparams:]
        fuse_blocks(code)

    def fusable_switches(self) -> set[Apply]:
        """`switch(c, G, H)` nodes whose only use is being called right away."""
        out: set[Apply] = set()
        for node in self.an.schedule(self.g):
            fn = node.inputs[0]
            if (
                isinstance(fn, Apply)
                and fn.graph is self.g
                and len(fn.inputs) == 4
                and isinstance(fn.inputs[0], Constant)
                and fn.inputs[0].value is _SWITCH
                and all(isinstance(b, Constant) and isinstance(b.value, Graph)
                        for b in fn.inputs[2:])
                and fn.uses == {(node, 0)}
            ):
                out.add(fn)
        return out

    def apply(self, node: Apply, *, tail: bool, fused: set[Apply]) -> None:
        fn, args = node.inputs[0], node.inputs[1:]
        code = self.code
        if isinstance(fn, Constant) and isinstance(fn.value, Primitive):
            argslots = tuple(self.operand(a, node) for a in args)
            dest = code.slots[node] = self.new_slot()
            impl = fn.value.impl
            n = len(argslots)
            fast = fast_op(fn.value, n)
            if fast is not None:
                ins: tuple[Any, ...] = (_FAST_OPS[n], dest, impl, *argslots, fast)
            elif n <= 3:
                ins = (_PRIM_OPS[n], dest, impl, *argslots)
            else:
                ins = (PN, dest, impl, itemgetter(*argslots))
            self.emit(ins, node, fn.value, argslots)
            if tail:
                self.emit((RET, dest), node)
            return
        if isinstance(fn, Constant) and isinstance(fn.value, Graph):
            h = fn.value
            argslots = tuple(self.operand(a, node) for a in args)
            callee = self.program.code(h)
            hops = self.hops(self.an.parent(h), f"call of {h.name}")
            dest = code.slots[node] = self.new_slot()
            self.emit((CALLG, dest, tail, *_argref(argslots), callee, hops), node, None, argslots)
            return
        if fn in fused:
            assert isinstance(fn, Apply)
            cond = self.operand(fn.inputs[1], node)
            branches: list[Any] = []
            for b in fn.inputs[2:]:
                assert isinstance(b, Constant) and isinstance(b.value, Graph)
                branches.append(self.program.code(b.value))
                branches.append(self.hops(self.an.parent(b.value), f"branch {b.value.name}"))
            argslots = tuple(self.operand(a, node) for a in args)
            dest = code.slots[node] = self.new_slot()
            self.emit((SWITCHCALL, dest, tail, *_argref(argslots), cond, *branches),
                      node, None, argslots)
            return
        fnslot = self.operand(fn, node)
        argslots = tuple(self.operand(a, node) for a in args)
        dest = code.slots[node] = self.new_slot()
        self.emit((CALL, dest, tail, *_argref(argslots), fnslot), node, None, argslots, fnslot)
        if tail:
            # Reached only when the callee was a primitive (a closure replaces the frame).
            self.emit((RET, dest), node)


def _argref(argslots: tuple[int, ...]) -> tuple[int, Any]:
    n = len(argslots)
    if n == 0:
        return 0, None
    if n == 1:
        return 1, argslots[0]
    return n, itemgetter(*argslots)


# -- straight-line blocks ---------------------------------------------------------
_FUSABLE = frozenset({F2, F1, P2, P1, P3, PN, P0, LOADFREE})
_BINARY_SYMBOLS = {
    operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/",
    operator.floordiv: "//", operator.mod: "%", operator.pow: "**",
    operator.lt: "<", operator.le: "<=", operator.gt: ">", operator.ge: ">=",
    operator.eq: "==", operator.ne: "!=",
}
_UNARY_SYMBOLS = {operator.neg: "-", operator.pos: "+"}
#: Line of the first instruction in a block's source (line 1 is the `def`).
BLOCK_FIRST_LINE = 2


def fuse_blocks(code: Code) -> None:
    """Replace runs of two or more straight-line instructions of `code` by `BLOCK`s.

    A block instruction is ``(BLOCK, fn, metas)``: ``fn(frame)`` does what the
    run did, and `metas` keeps each fused instruction's `Code.meta` entry (the
    source line of an error in `fn` tells which, see `block_meta`).
    """
    instrs: list[tuple[Any, ...]] = []
    meta: list[Meta] = []
    run: list[tuple[tuple[Any, ...], Meta]] = []

    def flush() -> None:
        if len(run) >= 2:
            fn = _block_function([ins for ins, _ in run], code.name)
            instrs.append((BLOCK, fn, tuple(m for _, m in run)))
            meta.append((None, None, (), None))
        else:
            for ins, m in run:
                instrs.append(ins)
                meta.append(m)
        run.clear()

    for ins, m in zip(code.instrs, code.meta, strict=True):
        if ins[0] in _FUSABLE:
            run.append((ins, m))
        else:
            flush()
            instrs.append(ins)
            meta.append(m)
    flush()
    code.instrs, code.meta = instrs, meta


def block_meta(ins: tuple[Any, ...], tb: types.TracebackType | None) -> Meta | None:
    """The meta of the instruction of block `ins` that raised (from traceback `tb`)."""
    fn_code = ins[1].__code__
    while tb is not None:
        if tb.tb_frame.f_code is fn_code:
            index = tb.tb_lineno - BLOCK_FIRST_LINE
            metas: tuple[Meta, ...] = ins[2]
            return metas[index] if 0 <= index < len(metas) else None
        tb = tb.tb_next
    return None


def _block_function(run: list[tuple[Any, ...]], name: str) -> Any:
    """Generate ``def block(v): ...`` for `run`, one line per instruction."""
    ns: dict[str, Any] = {"__builtins__": builtins, "S": PLAIN_SCALARS}
    lines = ["def block(v):"]
    for k, ins in enumerate(run):
        op = ins[0]
        if op == LOADFREE:
            _, dest, hops, slot = ins
            lines.append(f"    v[{dest}] = v[0]{'[0]' * (hops - 1)}[{slot}]")
            continue
        dest, impl = ins[1], ins[2]
        ns[f"i{k}"] = impl
        if op == F2:
            a, b, fast = ins[3], ins[4], ins[5]
            sym = _BINARY_SYMBOLS.get(fast)
            if sym is None:
                ns[f"o{k}"] = fast
            expr = f"(x {sym} y)" if sym else f"o{k}(x, y)"
            lines.append(
                f"    x = v[{a}]; y = v[{b}]; "
                f"v[{dest}] = {expr} if type(x) in S and type(y) in S else i{k}(x, y)"
            )
        elif op == F1:
            a, fast = ins[3], ins[4]
            sym = _UNARY_SYMBOLS.get(fast)
            if sym is None:
                ns[f"o{k}"] = fast
            expr = f"({sym}x)" if sym else f"o{k}(x)"
            lines.append(f"    x = v[{a}]; v[{dest}] = {expr} if type(x) in S else i{k}(x)")
        elif op == PN:
            ns[f"g{k}"] = ins[3]
            lines.append(f"    v[{dest}] = i{k}(*g{k}(v))")
        else:  # P0..P3
            args = ", ".join(f"v[{s}]" for s in ins[3:])
            lines.append(f"    v[{dest}] = i{k}({args})")
    fn = types.FunctionType(_block_code("\n".join(lines)), ns, f"block_in_{name}")
    return fn


@functools.lru_cache(maxsize=4096)
def _block_code(source: str) -> types.CodeType:
    """The code object of a generated block (blocks of equal text share one)."""
    module = builtins.compile(source, "<tapeless interpreter block>", "exec")
    for const in module.co_consts:
        if isinstance(const, types.CodeType):
            return const
    raise InternalError("generated block has no function")
