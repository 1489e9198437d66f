"""LLVM lowering of a `Specialization`: closure conversion, tail calls as jumps.

Expects: a specialization whose root's arguments and result are data
(scalars, None, arrays, tuples of those). Guarantees: one LLVM module with

- one function per instance, `i32 f(ptr env, <params>..., ptr out)`: it
  returns a status (0, or an error code of `runtime`), writes its result to
  `out`, and reads its free variables from `env`;
- an exported entry `i32 entry(<leaves of the arguments>..., ptr out)` with
  the ABI of `backend.cpu.entry`: it sets the stack guard, marks the arena,
  calls the root, stores the result's leaves in 8-byte slots and releases
  what the call allocated in the arena (and, when it failed, the arrays it
  made that are still alive: `memory.RELEASE_SINCE`).

Representation: f64/i64/bool are double/i64/i1; arrays are views
(`arrays.py`), reference counted as `frame.Frame` says, their operations lowered
by `arrayprims.py` with the loops `fusion.Plan` decides; tuples are structs; None and
AD environment keys are empty structs; an AD environment (`EnvRecord`) is a
struct of {i1 present, value} per key its type may hold, and one stored in
another's slot a pointer to an arena copy (null when absent) of the program's
one boxed layout (`EnvLayout`); a function value of an `FnSet` is a
struct of a tag (its index in the set, when it has several members) and a
pointer to its closure's environment (when a member has free variables),
bump-allocated in the arena. A value flowing into a wider `FnSet` (an `if`
choosing between two functions) is re-tagged (`coerce`).

Tail calls: the function of instance E also holds, as blocks, every instance
of E's recursive component that E reaches by tail calls and that returns the
same type; such a call is a jump, so loops (tail recursion in the IR) run in
constant stack. A graph whose last call's result only goes into the closure
it returns makes that closure first and lets the call write into its
environment, as a tail call (`call_into_closure`): so a loop's J, which
returns the backpropagator capturing the next iteration's, is a loop after
LLVM's tail-call elimination (an out-of-memory error in that environment is
then raised before the call's own errors). Other calls are calls; the
functions of a component that recurses by non-tail calls check the stack
guard on entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import llvmlite.binding as llvm
import networkx as nx
from llvmlite import ir

from tapeless.backend.cpu import arena, jit, memory, runtime
from tapeless.backend.cpu.arrayprims import ArrayPrimitives
from tapeless.backend.cpu.arrays import ArrayOps, Expr, holds_array
from tapeless.backend.cpu.frame import Frame
from tapeless.backend.cpu.fusion import Plan, shape_captured
from tapeless.backend.cpu.primtypes import (
    ARRAY_PRIMITIVES,
    SCALAR_PRIMITIVES,
    constant_index,
    has_array,
    primitive_type,
)
from tapeless.backend.cpu.scalars import F64, I32, I64, LTYPES
from tapeless.backend.cpu.specialize import (
    Closure,
    FnSet,
    Instance,
    Specialization,
    missing_defaults,
)
from tapeless.backend.cpu.values import (
    EMPTY,
    PTR,
    SLICE,
    ValueOps,
    constant_value,
    is_null,
    ltype,
)
from tapeless.errors import InternalError, TypeInferenceError
from tapeless.ir.nodes import Apply, Constant, Graph, Node
from tapeless.ir.primitives import Primitive
from tapeless.ir.types import AbstractType, ArrayType, NoneType, Scalar, TupleType

_LEAF_TYPES: dict[str, ir.Type] = {**LTYPES, "ptr": PTR}


def contains_function(t: AbstractType) -> bool:
    if isinstance(t, TupleType):
        return any(contains_function(e) for e in t.elements)
    return isinstance(t, FnSet)


def leaves(t: AbstractType) -> list[tuple[tuple[int, ...], str]]:
    """The leaves of a data type: (path of struct indices, kind), in order. An array
    (`values.ltype`: `{ptr mem, ptr data, [n x i64] shape, [n x i64] strides}`) has
    the leaves `mem` and `data` (kind "ptr"), then its shape and its strides ("i64")."""
    if isinstance(t, Scalar):
        return [((), t.kind)]
    if isinstance(t, TupleType):
        return [((i, *path), kind) for i, e in enumerate(t.elements) for path, kind in leaves(e)]
    if isinstance(t, ArrayType):
        dims = [((2, k), "i64") for k in range(t.ndim)] + [((3, k), "i64") for k in range(t.ndim)]
        return [((0,), "ptr"), ((1,), "ptr"), *dims]
    return []


def is_array_op(p: Primitive, args: list[AbstractType], out: AbstractType) -> bool:
    """Whether `p` applied to `args` is lowered by `arrayprims` (it takes or makes arrays)."""
    if p.name in ("getitem", "getitem_sens"):
        return bool(args) and isinstance(args[0], ArrayType)
    if p.name in ("shape", "ndim", "size"):
        return True
    if p.name in ("make_tuple", "switch", "unpack_check", "jvalue", "check_wrt", "stop_gradient"):
        return False
    if p.name in ("gadd", "zeros_like", "sens_like"):
        return isinstance(out, ArrayType) or any(isinstance(a, ArrayType) for a in args)
    if p.name in SCALAR_PRIMITIVES:  # operators: scalars keep CPython's semantics
        return isinstance(out, ArrayType) or any(map(has_array, args))
    return p.name in ARRAY_PRIMITIVES  # NumPy's functions, of arrays or of scalars


@dataclass
class _Block:
    """An instance lowered as blocks of a function: its parameters live in allocas."""

    inst: Instance
    start: ir.Block
    params: list[ir.AllocaInstr]
    env: ir.AllocaInstr
    values: dict[Node, ir.Value] = field(default_factory=dict)
    plan: Plan | None = None


class ModuleLowering:
    """The LLVM module for one specialization (see the module docstring)."""

    def __init__(self, spec: Specialization, name: str) -> None:
        self.spec = spec
        self.module = ir.Module(name=name)
        self.module.triple = jit.target_triple()
        self.module.data_layout = jit.data_layout()
        self.target_data = llvm.create_target_data(jit.data_layout())
        self.functions: dict[Instance, ir.Function] = {}
        self.pending: list[Instance] = []
        self._components()
        self.entry_name = jit.unique_name(f"tl_entry_{_clean(spec.root.name)}")
        root = spec.root
        if contains_function(root.output or NoneType()):
            raise TypeInferenceError(
                f"{root.graph.name} returns a function; native code returns data only",
                root.graph.loc,
                construct="native compilation",
                hint='return numbers or tuples, or run it with backend="interp"',
            )
        memory.ensure_runtime()
        self._runtime()
        self._entry()
        while self.pending:
            FunctionLowering(self, self.pending.pop()).lower()

    # -- the call graph -------------------------------------------------------------
    def _components(self) -> None:
        calls = nx.DiGraph()
        tail: set[tuple[Instance, Instance]] = set()
        for inst in self.spec:
            calls.add_node(inst)
            for node, callees in inst.calls.items():
                for callee in callees:
                    calls.add_edge(inst, callee)
                    if inst.graph.has_output and inst.graph.output is node:
                        tail.add((inst, callee))
        self.component: dict[Instance, int] = {}
        self.guarded: set[int] = set()
        for i, comp in enumerate(nx.strongly_connected_components(calls)):
            for inst in comp:
                self.component[inst] = i
        for u, v in calls.edges:
            same = self.component[u] == self.component[v]
            if same and (u, v) not in tail:
                self.guarded.add(self.component[u])
        self.tail_edges = tail

    def jumps(self, caller: Instance, callee: Instance, entry: Instance) -> bool:
        """Whether a tail call from `caller` to `callee` in `entry`'s function is a jump."""
        return (
            (caller, callee) in self.tail_edges
            and self.component[callee] == self.component[entry]
            and callee.output == entry.output
        )

    def function(self, inst: Instance) -> ir.Function:
        fn = self.functions.get(inst)
        if fn is None:
            params = [PTR, *(ltype(t) for t in inst.args), PTR]
            name = jit.unique_name(f"tl_{_clean(inst.name)}")
            fn = ir.Function(self.module, ir.FunctionType(I32, params), name)
            fn.linkage = "internal"
            self.functions[inst] = fn
            self.pending.append(inst)
        return fn

    def env_type(self, c: Closure) -> ir.LiteralStructType:
        assert c.context is not None
        fvs = self.spec.free_variables(c.graph)
        types = [self.spec.type_of(c.context, x) for x in fvs]
        return ir.LiteralStructType([ltype(t) if t is not None else EMPTY for t in types])

    def env_unbox(self) -> ir.Function:
        """`layout unbox(ptr)`: the boxed environment a pointer holds, empty when null."""
        fn = self.module.globals.get("env_unbox")
        if isinstance(fn, ir.Function):
            return fn
        record = ltype(self.spec.layout.record)
        fn = ir.Function(self.module, ir.FunctionType(record, [PTR]), "env_unbox")
        fn.linkage = "internal"
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        (box,) = fn.args
        with b.if_then(is_null(b, box), likely=False):
            b.ret(ir.Constant(record, None))
        b.ret(b.load(box, typ=record))
        return fn

    def env_gadd(self) -> ir.Function:
        """`i32 env_gadd(ptr a, ptr b, ptr out)`: the sum of two boxed environments
        (one of them when the other is null), recursing through nested ones."""
        fn = self.module.globals.get("env_gadd")
        if isinstance(fn, ir.Function):
            return fn
        fn = ir.Function(self.module, ir.FunctionType(I32, [PTR, PTR, PTR]), "env_gadd")
        fn.linkage = "internal"
        _EnvGadd(self, fn).lower()
        return fn

    def sum_to_shape(self, d: ArrayType, rank: int) -> ir.Function:
        """`i32 f(<d> d, ptr like, ptr out)`: `ArrayOps.sum_to_shape` of an array of type `d`
        to the `rank` dimensions at `like`, the new array stored at `out`; one function per
        module and types, so that each `sens_like` that may have to reduce calls it rather
        than holding its own copy of the loops (most never reduce: the shapes are equal)."""
        name = f"tl_sum_to_shape_{d.dtype}{d.ndim}_{rank}"
        fn = self.module.globals.get(name)
        if isinstance(fn, ir.Function):
            return fn
        fn = ir.Function(self.module, ir.FunctionType(I32, [ltype(d), PTR, PTR]), name)
        fn.linkage = "internal"
        _SumToShape(self, fn).lower(d, rank)
        return fn

    def stack_guard(self, b: ir.IRBuilder) -> None:
        """Return `runtime.DEEP` when the stack is below the guard (the entry reruns
        the call on a big stack)."""
        sp = b.ptrtoint(b.call(self.frameaddress, [ir.Constant(I32, 0)]), I64)
        limit = b.load(self.state_slot(b, runtime.STACK_LIMIT), typ=I64)
        with b.if_then(b.icmp_unsigned("<", sp, limit), likely=False):
            b.ret(ir.Constant(I32, runtime.DEEP))

    def size_of(self, t: ir.Type) -> int:
        return int(t.get_abi_size(self.target_data))

    # -- the runtime: state, arena ----------------------------------------------------
    def state_slot(self, builder: ir.IRBuilder, slot: int) -> ir.Value:
        return arena.state_slot(builder, slot)

    def _runtime(self) -> None:
        self.frameaddress = ir.Function(
            self.module, ir.FunctionType(PTR, [I32]), "llvm.frameaddress.p0"
        )
        self.arena = arena.Arena(self.module)
        self.arena_alloc = self.arena.alloc
        self.arena_release = self.arena.release

    def arena_keep(self) -> ir.Function:
        return self.arena.keep()

    # -- the entry --------------------------------------------------------------------
    def _entry(self) -> None:
        root = self.spec.root
        arg_leaves = [leaves(t) for t in root.args]
        params: list[ir.Type] = [_LEAF_TYPES[k] for ls in arg_leaves for _, k in ls]
        fn = ir.Function(self.module, ir.FunctionType(I32, [*params, PTR]), self.entry_name)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        sp = b.ptrtoint(b.call(self.frameaddress, [ir.Constant(I32, 0)]), I64)
        budget = b.load(self.state_slot(b, runtime.STACK_BUDGET), typ=I64)
        b.store(b.sub(sp, budget), self.state_slot(b, runtime.STACK_LIMIT))
        marks = [
            b.load(self.state_slot(b, s), typ=I64)
            for s in (runtime.ARENA_CHUNKS, runtime.ARENA_PTR, runtime.ARENA_END, runtime.ARENA_KEEP)
        ]
        allocations = ir.Constant(I64, memory.STATS_ADDRESS + 8 * memory.ALLOCATIONS).inttoptr(PTR)
        epoch = b.load(allocations, typ=I64)
        it = iter(fn.args[:-1])
        args = []
        for t, ls in zip(root.args, arg_leaves, strict=True):
            value: ir.Value = ir.Constant(ltype(t), None)
            for path, _ in ls:
                value = b.insert_value(value, next(it), list(path)) if path else next(it)
            args.append(value)
        assert root.output is not None
        out_type = ltype(root.output)
        out = b.alloca(out_type)
        status = b.call(self.function(root), [ir.Constant(PTR, None), *args, out])
        ok = fn.append_basic_block("ok")
        done = fn.append_basic_block("done")
        b.cbranch(b.icmp_signed("==", status, ir.Constant(I32, 0)), ok, done)
        b.position_at_end(ok)
        result = b.load(out, typ=out_type)
        slots = fn.args[-1]
        for i, (path, kind) in enumerate(leaves(root.output)):
            leaf = b.extract_value(result, list(path)) if path else result
            if kind == "bool":
                leaf = b.zext(leaf, I64)
            elif kind == "ptr":
                leaf = b.ptrtoint(leaf, I64)
            slot = b.gep(slots, [ir.Constant(I64, i)], source_etype=I64)
            b.store(leaf, slot)
        b.branch(done)
        b.position_at_end(done)
        b.call(self.arena_release, marks)
        with b.if_then(b.icmp_signed("!=", status, ir.Constant(I32, 0)), likely=False):
            b.call(memory.declare(self.module, memory.RELEASE_SINCE), [epoch])  # (what the frames kept)
        b.ret(status)


class FunctionLowering(ValueOps):
    """The LLVM function of instance `entry`, with the blocks of the instances it jumps to."""

    def __init__(self, lowering: ModuleLowering, entry: Instance) -> None:
        super().__init__(lowering, lowering.functions[entry])
        self.entry = entry
        self.blocks: dict[Instance, _Block] = {}
        self.todo: list[_Block] = []
        self.array_prims = ArrayPrimitives(self)
        self.arrays: ArrayOps = self.array_prims.a
        self.frame: Frame | None = None

    def lower(self) -> None:
        b = self.b
        if self.m.component[self.entry] in self.m.guarded:
            self.m.stack_guard(b)
        first = self.block(self.entry)
        env, *params = self.fn.args[:-1]
        b.store(env, first.env)
        for slot, value in zip(first.params, params, strict=True):
            b.store(value, slot)
        b.branch(first.start)
        while self.todo:
            self.body(self.todo.pop())
        self.finish()

    def block(self, inst: Instance) -> _Block:
        blk = self.blocks.get(inst)
        if blk is None:
            params = [self.alloca(ltype(t)) for t in inst.args]
            blk = _Block(inst, self.fn.append_basic_block(_clean(inst.name)), params, self.alloca(PTR))
            self.blocks[inst] = blk
            self.todo.append(blk)
        return blk

    # -- one instance's body ----------------------------------------------------------
    def body(self, blk: _Block) -> None:
        b = self.b
        b.position_at_end(blk.start)
        inst = blk.inst
        blk.plan = Plan(self.spec, inst)
        for p, slot, t in zip(inst.graph.parameters, blk.params, inst.args, strict=True):
            blk.values[p] = b.load(slot, typ=ltype(t))
        output = inst.graph.output
        last = self.call_into_closure(blk)
        schedule = blk.plan.schedule
        stop = next((i for i, n in enumerate(schedule) if n is output or n is last), len(schedule))
        body = schedule[:stop]
        ends = [output] if last is None else [last, output]  # (the closure captures at the end)
        frame = self.frame = Frame(self, blk, body, ends)
        for p in inst.graph.parameters:
            frame.own(p, -1)
        for i, node in enumerate(body):
            if node in blk.plan.fused or node in blk.plan.deferred:
                continue
            blk.values[node] = self.apply(blk, node)
            frame.own(node, i)
            frame.after(i)
        if last is not None:
            self.tail_into_closure(blk, last)
        elif isinstance(output, Apply) and output.graph is inst.graph:
            self.tail(blk, output)
        else:
            t = self.type(blk, output)
            value = self.value(blk, output)
            self.arrays.incref(value, t)
            frame.release()
            self.ret(value, t)

    def ret(self, value: ir.Value, t: AbstractType) -> None:
        self.store_result(value, t)
        self.b.ret(ir.Constant(I32, 0))

    def store_result(self, value: ir.Value, t: AbstractType) -> None:
        assert self.entry.output is not None
        self.b.store(self.coerce(value, t, self.entry.output), self.fn.args[-1])

    # -- tail calls modulo a closure ----------------------------------------------------
    def call_into_closure(self, blk: _Block) -> Apply | None:
        """The last call of `blk`, when the graph returns a closure that only keeps the
        call's result (a loop's J: the backpropagator captures the next iteration's),
        every callee returns the type the closure keeps, and the call is the last
        thing computed: that call can write straight into the closure's environment
        and be the function's tail call (LLVM then turns self-recursion into a loop)."""
        g = blk.inst.graph
        output = g.output
        schedule = self.spec.schedule(g)
        if not (isinstance(output, Constant) and isinstance(output.value, Graph) and schedule):
            return None
        t = self.type(blk, output)
        last = schedule[-1]
        if not isinstance(t, FnSet) or not isinstance(t.members[0], Closure):
            return None
        c = t.members[0]
        if c.context is None or last not in self.spec.free_variables(c.graph):
            return None
        if any(last in node.inputs for node in schedule):
            return None
        keep = self.spec.type_of(c.context, last)
        callees = blk.inst.calls.get(last)
        fn_type = self.type(blk, last.inputs[0])
        if not callees or not isinstance(fn_type, FnSet) or len(callees) != len(fn_type.members):
            return None  # a primitive among the callees
        return last if all(callee.output == keep for callee in callees) else None

    def tail_into_closure(self, blk: _Block, call: Apply) -> None:
        """Make the returned closure with `call`'s slot left empty, store it as the
        result, then call each callee with that slot as its `out`, as a tail call."""
        output = blk.inst.graph.output
        t = self.type(blk, output)
        assert isinstance(t, FnSet)
        closure, env, index = self.make_closure(blk, t, leave=call)
        self.store_result(closure, t)
        (c,) = t.members
        assert isinstance(c, Closure) and env is not None and index is not None
        slot = self.b.gep(env, [ir.Constant(I32, 0), ir.Constant(I32, index)], source_etype=self.m.env_type(c))

        def each(k: int) -> None:
            callee = self.callee(blk, call, k)
            assert isinstance(callee, Instance)
            args = self.arguments(blk, call, callee)
            self.release()
            status = self.b.call(self.m.function(callee), [self.env_of(blk, call, k), *args, slot], tail=True)
            self.b.ret(status)

        fn_type = self.type(blk, call.inputs[0])
        assert isinstance(fn_type, FnSet)
        if len(fn_type.members) == 1:
            each(0)
        else:
            self.dispatch(blk, call, each)

    def type(self, blk: _Block, node: Node) -> AbstractType:
        t = self.spec.type_of(blk.inst, node)
        if t is None:
            raise InternalError(f"{node!r} has no type in {blk.inst.name}")
        return t

    def value(self, blk: _Block, node: Node) -> ir.Value:
        """The value of `node` in `blk`: computed, a constant, or loaded from the environment."""
        v = blk.values.get(node)
        if v is not None:
            return v
        if isinstance(node, Constant):
            return self.constant(blk, node)
        g = blk.inst.graph
        if node.owner is not g:
            fvs = self.spec.free_variables(g)
            closure = Closure(g, blk.inst.context)
            env_type = self.m.env_type(closure)
            env = self.b.load(blk.env, typ=PTR)
            index = fvs.index(node)
            slot = self.b.gep(env, [ir.Constant(I32, 0), ir.Constant(I32, index)], source_etype=env_type)
            v = self.b.load(slot, typ=env_type.elements[index])
            blk.values[node] = v
            return v
        raise InternalError(f"{node!r} used before it is computed in {blk.inst.name}")

    def constant(self, blk: _Block, node: Constant) -> ir.Value:
        t = self.type(blk, node)
        value = node.value
        if isinstance(value, Graph):
            assert isinstance(t, FnSet)
            return self.make_closure(blk, t)[0]
        return constant_value(t, value)

    def make_closure(
        self, blk: _Block, t: FnSet, leave: Node | None = None
    ) -> tuple[ir.Value, ir.Value | None, int | None]:
        """The closure value of type `t` made in `blk`, its environment, and the index
        of the free variable `leave`, whose slot is left for the caller to fill."""
        (c,) = t.members
        assert isinstance(c, Closure)
        value: ir.Value = ir.Constant(ltype(t), None)
        if c.context is None:
            return value, None, None
        env_type = self.m.env_type(c)
        env = self.arena_new(env_type)
        left = None
        for i, x in enumerate(self.spec.free_variables(c.graph)):
            if x is leave:
                left = i
                continue
            slot = self.b.gep(env, [ir.Constant(I32, 0), ir.Constant(I32, i)], source_etype=env_type)
            have, want = self.type(blk, x), self.spec.type_of(c.context, x)
            assert want is not None
            if self.shape_only(blk, x):
                captured = self.array_prims.shape_only(blk, x)
            else:
                captured = self.value(blk, x)
                self.keep(captured, have)
            self.b.store(self.coerce(captured, have, want), slot)
        return self.b.insert_value(value, env, 0), env, left

    def shape_only(self, blk: _Block, x: Node) -> bool:
        """Whether closures capture array `x` for its shape only (`fusion.shape_captured`)."""
        return x.owner is blk.inst.graph and isinstance(self.type(blk, x), ArrayType) and shape_captured(x)

    # -- applications -----------------------------------------------------------------
    def apply(self, blk: _Block, node: Apply) -> ir.Value:
        fn_type = self.type(blk, node.inputs[0])
        assert isinstance(fn_type, FnSet)
        result_type = self.type(blk, node)
        if len(fn_type.members) == 1:
            return self.call_member(blk, node, 0, result_type)
        slot = self.alloca(ltype(result_type))
        after = self.fn.append_basic_block("after")
        self.dispatch(blk, node, lambda k: self._store_member(blk, node, k, result_type, slot, after))
        self.b.position_at_end(after)
        return self.b.load(slot, typ=ltype(result_type))

    def _store_member(
        self, blk: _Block, node: Apply, k: int, t: AbstractType, slot: ir.Value, after: ir.Block
    ) -> None:
        self.b.store(self.call_member(blk, node, k, t), slot)
        self.b.branch(after)

    def dispatch(self, blk: _Block, node: Apply, each: object) -> None:
        """Switch on the tag of the called function value; `each(k)` lowers member k."""
        fn_type = self.type(blk, node.inputs[0])
        assert isinstance(fn_type, FnSet) and callable(each)
        tag = self.b.extract_value(self.value(blk, node.inputs[0]), 0)
        cases = [self.fn.append_basic_block(f"member{k}") for k in range(len(fn_type.members))]
        switch = self.b.switch(tag, cases[-1])
        for k, block in enumerate(cases[:-1]):
            switch.add_case(ir.Constant(I32, k), block)
        for k, block in enumerate(cases):
            self.b.position_at_end(block)
            each(k)

    def callee(self, blk: _Block, node: Apply, k: int) -> Instance | Primitive:
        fn_type = self.type(blk, node.inputs[0])
        assert isinstance(fn_type, FnSet)
        member = fn_type.members[k]
        if isinstance(member, Primitive):
            return member
        position = sum(isinstance(m, Closure) for m in fn_type.members[:k])
        return blk.inst.calls[node][position]

    def env_of(self, blk: _Block, node: Apply, k: int) -> ir.Value:
        fn_type = self.type(blk, node.inputs[0])
        assert isinstance(fn_type, FnSet)
        member = fn_type.members[k]
        if isinstance(member, Closure) and member.context is not None:
            index = 1 if len(fn_type.members) > 1 else 0
            return self.b.extract_value(self.value(blk, node.inputs[0]), index)
        return ir.Constant(PTR, None)

    def call_member(
        self, blk: _Block, node: Apply, k: int, t: AbstractType, before: Callable[[], None] | None = None
    ) -> ir.Value:
        """Member k of the called value applied to the arguments, as a value of type `t`
        (`before`: emitted after the arguments are taken, before an instance's call)."""
        callee = self.callee(blk, node, k)
        arg_types = [self.type(blk, x) for x in node.inputs[1:]]
        if isinstance(callee, Primitive):
            out = primitive_type(callee, node, arg_types, self.spec.layout)
            if is_array_op(callee, arg_types, out):  # (reads its operands itself: some are fused)
                value = self.array_primitive(blk, node, callee, out)
            else:
                args = self.arguments(blk, node, callee)
                value = self.primitive(blk, node, callee, args, arg_types, out)
            return self.coerce(value, out, t)
        args = self.arguments(blk, node, callee)
        if before is not None:
            before()
        assert callee.output is not None
        out_type = ltype(callee.output)
        out = self.alloca(out_type)
        status = self.b.call(self.m.function(callee), [self.env_of(blk, node, k), *args, out])
        self.check(status)
        return self.coerce(self.b.load(out, typ=out_type), callee.output, t)

    def arguments(self, blk: _Block, node: Apply, callee: Instance | Primitive) -> list[ir.Value]:
        """The values `node` passes to `callee`, with the defaults of parameters it leaves out."""
        args = [self.value(blk, x) for x in node.inputs[1:]]
        if isinstance(callee, Instance):
            for x, v in zip(node.inputs[1:], args, strict=True):
                self.arrays.incref(v, self.type(blk, x))
            given = len(args)
            for t, v in zip(callee.args[given:], missing_defaults(callee.graph, given), strict=True):
                args.append(constant_value(t, v))
        return args

    def tail(self, blk: _Block, node: Apply) -> None:
        """The output `node` of `blk`: jumps to instances of this function, else call and return."""
        fn_type = self.type(blk, node.inputs[0])
        assert isinstance(fn_type, FnSet)
        t = self.type(blk, node)

        def each(k: int) -> None:
            callee = self.callee(blk, node, k)
            if isinstance(callee, Instance) and self.m.jumps(blk.inst, callee, self.entry):
                target = self.block(callee)
                self.b.store(self.env_of(blk, node, k), target.env)
                for value, slot in zip(self.arguments(blk, node, callee), target.params, strict=True):
                    self.b.store(value, slot)
                self.release()
                self.b.branch(target.start)
            elif isinstance(callee, Instance):
                self.ret(self.call_member(blk, node, k, t, before=self.release), t)
            else:
                value = self.call_member(blk, node, k, t)
                self.release()
                self.ret(value, t)

        if len(fn_type.members) == 1:
            each(0)
        else:
            self.dispatch(blk, node, each)

    def array_add(self, x: ir.Value, y: ir.Value, t: ArrayType) -> ir.Value:
        a = self.arrays
        return a.stored(Expr("add", t.dtype, [a.leaf_of(a.view(x, t)), a.leaf_of(a.view(y, t))]))

    def release(self) -> None:
        assert self.frame is not None
        self.frame.release()

    def keep(self, value: ir.Value, t: AbstractType) -> None:
        """A closure captures `value`: its arrays live until the outermost call returns
        (one more reference each, which the arena's release drops)."""
        if not holds_array(t):
            return
        self.arrays.incref(value, t)
        for mem in self.arrays.mems(value, t):
            self.b.call(self.m.arena_keep(), [mem])

    def array_primitive(self, blk: _Block, node: Apply, p: Primitive, out: AbstractType) -> ir.Value:
        assert blk.plan is not None and self.frame is not None
        if node in blk.plan.accumulations:
            accumulator = node.inputs[blk.plan.accumulations[node][0]]
            return self.array_prims.products.accumulate(blk, node, self.frame.dies_at(accumulator, node))
        if p.name == "getitem":
            return self.array_prims.getitem(blk, node, out)
        if p.name == "getitem_sens":
            return self.array_prims.getitem_sens(blk, node, out)
        return self.array_prims.lower(blk, node, p, out)

    # -- structure and primitives -----------------------------------------------------
    def primitive(
        self,
        blk: _Block,
        node: Apply,
        p: Primitive,
        args: list[ir.Value],
        types: list[AbstractType],
        out: AbstractType,
    ) -> ir.Value:
        b = self.b
        name = p.name
        if name == "make_tuple":
            value: ir.Value = ir.Constant(ltype(out), None)
            for i, a in enumerate(args):
                self.arrays.incref(a, types[i])
                value = b.insert_value(value, a, i)
            return value
        if name == "make_slice":
            return self.make_slice(args, types)
        if name == "getitem":
            value = self.getitem(node, args, types)
            assert self.frame is not None
            if not self.frame.moves(node):
                self.arrays.incref(value, out)
            return value
        if name == "switch":
            c, x, y = args
            value = b.select(c, self.coerce(x, types[1], out), self.coerce(y, types[2], out))
            self.arrays.incref(value, out)
            return value
        if name in ("unpack_check", "jvalue", "check_wrt", "stop_gradient", "sens_like"):
            self.arrays.incref(args[0], out)
            return args[0]
        if name == "len":
            t = types[0]
            assert isinstance(t, TupleType)
            return ir.Constant(I64, len(t.elements))
        if name == "zeros_like":
            return ir.Constant(ltype(out), None)
        if name == "grad_seed":
            return ir.Constant(F64, 1.0)
        if name == "gadd":
            return self.gadd(self.coerce(args[0], types[0], out), self.coerce(args[1], types[1], out), out)
        if name == "env_setitem":
            return self.env_setitem(args, types, out)
        if name == "env_getitem":
            return self.env_getitem(args, types, out)
        if name == "getitem_sens":
            assert isinstance(out, TupleType)
            i = constant_index(node) % len(out.elements)
            value = ir.Constant(ltype(out), None)
            return b.insert_value(value, self.coerce(args[2], types[2], out.elements[i]), i)
        kinds = [t.kind for t in types if isinstance(t, Scalar)]
        assert isinstance(out, Scalar) and len(kinds) == len(types)
        return self.ops.emit(name, args, kinds, out.kind)

    def make_slice(self, args: list[ir.Value], types: list[AbstractType]) -> ir.Value:
        """slice(start, stop, step) (`values.SLICE`): a bound that is None is absent."""
        b = self.b
        value: ir.Value = ir.Constant(SLICE, [ir.Constant(I64, 0), ir.Constant(I64, 0), ir.Constant(I64, 1), ir.Constant(ir.IntType(1), 0), ir.Constant(ir.IntType(1), 0)])
        for i, (a, t) in enumerate(zip(args, types, strict=False)):
            if isinstance(t, Scalar):
                value = b.insert_value(value, self.ops.to_i64(a, t.kind), i)
                if i < 2:
                    value = b.insert_value(value, ir.Constant(ir.IntType(1), 1), 3 + i)
        return value

    def getitem(self, node: Apply, args: list[ir.Value], types: list[AbstractType]) -> ir.Value:
        t = types[0]
        assert isinstance(t, TupleType)
        n = len(t.elements)
        index = node.inputs[2]
        if isinstance(index, Constant):
            return self.b.extract_value(args[0], constant_index(node) % n)
        b = self.b
        element = ltype(t.elements[0])
        i = self.ops.to_i64(args[1], types[1].kind if isinstance(types[1], Scalar) else "i64")
        i = b.select(b.icmp_signed("<", i, ir.Constant(I64, 0)), b.add(i, ir.Constant(I64, n)), i)
        outside = b.icmp_unsigned(">=", i, ir.Constant(I64, n))
        self.ops.raise_if(outside, (IndexError, "tuple index out of range"))
        array = ir.ArrayType(element, n)
        slot = self.alloca(ltype(t))
        b.store(args[0], slot)
        return b.load(b.gep(slot, [ir.Constant(I64, 0), i], source_etype=array), typ=element)

class _EnvGadd(ValueOps):
    """The body of the module's `env_gadd` (see `ModuleLowering.env_gadd`)."""

    def lower(self) -> None:
        b = self.b
        x, y, out = self.fn.args
        self.m.stack_guard(b)
        for have, other in ((x, y), (y, x)):
            with b.if_then(is_null(b, other)):
                b.store(have, out)
                b.ret(ir.Constant(I32, 0))
        layout = self.spec.layout.record
        record = ltype(layout)
        total = self.env_add(b.load(x, typ=record), b.load(y, typ=record), layout)
        b.store(self.box(total, layout), out)
        b.ret(ir.Constant(I32, 0))
        self.finish()


class _SumToShape(ValueOps):
    """The body of one of the module's `sum_to_shape` functions."""

    def lower(self, d: ArrayType, rank: int) -> None:
        b = self.b
        value, like, out = self.fn.args
        a = ArrayOps(self)
        dims = [b.load(b.gep(like, [ir.Constant(I64, k)], source_etype=I64), typ=I64) for k in range(rank)]
        b.store(a.pack(a.sum_to_shape(a.view(value, d), d, dims)), out)
        b.ret(ir.Constant(I32, 0))
        self.finish()


def _clean(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)[:48]


__all__ = ["ModuleLowering", "leaves", "ltype"]
