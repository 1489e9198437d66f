"""The reference interpreter: runs graph IR with CPython's semantics.

Every other stage is checked against it, so it is plain about meaning and
careful about speed. Graphs are first assembled into `Code`
(`backend.interp_code`): flat instruction lists over frame slots. A frame is
a list (`backend.values.Frame`): slot 0 holds the parent frame, then the
parameters, the graph's constants (copied from a template when the frame is
made), computed nodes, loaded free variables and the closures the graph makes.

Calls run on an explicit stack, never on Python's: a call pushes the caller
(code, frame, resume point, destination slot) and starts the callee; a call
in tail position (the graph's output) replaces the current frame instead, so
loops, which the front end writes as tail-recursive graphs, run in constant
space, and non-tail recursion is bounded by memory, not by Python's recursion
limit.

Primitives run their Python implementation (or, on plain ints, floats and
bools, the Python operator they stand for: the same thing, see
`interp_code.fast_op`), so values are CPython's, bit for bit. Errors: a
`TypeError` from a primitive becomes a `TapelessTypeError` at the source
expression; other exceptions (`ZeroDivisionError`, `ValueError`,
`OverflowError`, `IndexError`, ...) propagate unchanged, with a note giving
the source location and the calls that led there; a local read before
assignment (`ir.nodes.Unbound`) becomes a `TapelessUnboundLocalError` (a
`NameError` and an `UnboundLocalError`, as in CPython) when it is used.

Code is a snapshot of the IR: a `Program` caches one `Code` per graph, so
make a new `Program` (or call `run`, which does) after changing the IR.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tapeless.backend.interp_code import (
    BLOCK,
    CALL,
    CALLG,
    CLOSURE,
    F1,
    F2,
    LOADFREE,
    P0,
    P1,
    P2,
    P3,
    PLAIN_SCALARS,
    PN,
    RET,
    SWITCHCALL,
    Code,
    Meta,
    Program,
    block_meta,
    fast_op,
)
from tapeless.backend.values import Closure, Frame
from tapeless.errors import (
    ArityError,
    InternalError,
    Location,
    TapelessError,
    TapelessTypeError,
    TapelessUnboundLocalError,
)
from tapeless.ir.nodes import Apply, Graph, Unbound
from tapeless.ir.primitives import Primitive


def _fetch_args(ins: tuple[Any, ...], frame: Frame) -> tuple[Any, ...]:
    n, ref = ins[3], ins[4]
    if n == 0:
        return ()
    if n == 1:
        return (frame[ref],)
    result: tuple[Any, ...] = ref(frame)
    return result


# -- running --------------------------------------------------------------------
def _bind(code: Code, parent: Frame | None, args: Sequence[Any], loc: Location | None) -> Frame:
    """A new frame for `code` with `args` (filling defaults), or an ArityError."""
    n, want = len(args), code.nparams
    if n < want:
        missing = want - n
        defaults = code.defaults
        if missing <= len(defaults):
            return [parent, *args, *defaults[len(defaults) - missing:], *code.tail]
    elif n == want:
        return [parent, *args, *code.tail]
    least = want - len(code.defaults)
    expected = f"{want}" if least == want else f"from {least} to {want}"
    plural = "" if want == 1 else "s"
    raise ArityError(
        f"{code.name}() takes {expected} positional argument{plural}"
        f" but {n} {'was' if n == 1 else 'were'} given",
        loc or code.graph.loc,
        hint=f"call {code.name} with {expected} argument{plural}",
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _execute(code: Code, vals: Frame) -> Any:
    """Run `code` in frame `vals` to completion; the explicit-stack main loop."""
    instrs = code.instrs
    pc = 0
    stack: list[tuple[Code, Frame, int, int]] = []
    code2: Code
    p: Frame | None
    plain = PLAIN_SCALARS
    try:
        while True:
            ins = instrs[pc]
            pc += 1
            op = ins[0]
            if op == BLOCK:
                ins[1](vals)
                continue
            if op == F2:
                x = vals[ins[3]]
                y = vals[ins[4]]
                if type(x) in plain and type(y) in plain:
                    vals[ins[1]] = ins[5](x, y)
                else:
                    vals[ins[1]] = ins[2](x, y)
                continue
            if op == LOADFREE:
                p = vals[0]
                h = ins[2]
                while h > 1:
                    p = p[0]
                    h -= 1
                vals[ins[1]] = p[ins[3]]
                continue
            # SWITCHCALL, CALLG and CLOSURE find the new code's parent frame `h`
            # links up (h < 0: none). The walk is written out in each on purpose: a
            # shared helper, or one branch for both calls, made loops 2-5% slower.
            if op == SWITCHCALL:
                if vals[ins[5]]:
                    code2 = ins[6]
                    h = ins[7]
                else:
                    code2 = ins[8]
                    h = ins[9]
                if h == 0:
                    p = vals
                elif h < 0:
                    p = None
                else:
                    p = vals
                    while h:
                        p = p[0]
                        h -= 1
            elif op == CALLG:
                code2 = ins[5]
                h = ins[6]
                if h == 0:
                    p = vals
                elif h < 0:
                    p = None
                else:
                    p = vals
                    while h:
                        p = p[0]
                        h -= 1
            elif op == RET:
                value = vals[ins[1]]
                if not stack:
                    return value
                code, vals, pc, dest = stack.pop()
                instrs = code.instrs
                vals[dest] = value
                continue
            elif op == F1:
                x = vals[ins[3]]
                if type(x) in plain:
                    vals[ins[1]] = ins[4](x)
                else:
                    vals[ins[1]] = ins[2](x)
                continue
            elif op == P2:
                vals[ins[1]] = ins[2](vals[ins[3]], vals[ins[4]])
                continue
            elif op == P1:
                vals[ins[1]] = ins[2](vals[ins[3]])
                continue
            elif op == CLOSURE:
                code2 = ins[2]
                h = ins[3]
                if h == 0:
                    p = vals
                elif h < 0:
                    p = None
                else:
                    p = vals
                    while h:
                        p = p[0]
                        h -= 1
                vals[ins[1]] = Closure(code2.graph, p, code2)
                continue
            elif op == CALL:
                f = vals[ins[5]]
                tf = type(f)
                if tf is Closure:
                    code2 = f.code or _code_of(f)
                    p = f.frame
                elif tf is Primitive:
                    vals[ins[1]] = f.impl(*_fetch_args(ins, vals))
                    continue
                else:
                    code2, p = _callee_of_value(f, code.meta[pc - 1][0])
            elif op == P3:
                vals[ins[1]] = ins[2](vals[ins[3]], vals[ins[4]], vals[ins[5]])
                continue
            elif op == PN:
                vals[ins[1]] = ins[2](*ins[3](vals))
                continue
            elif op == P0:
                vals[ins[1]] = ins[2]()
                continue
            else:
                raise InternalError(f"bad instruction {ins!r}")

            # Enter code2 with parent frame p (the calls above fall through to here).
            n = ins[3]
            if n == code2.nparams:
                if n == 0:
                    nv = [p, *code2.tail]
                elif n == 1:
                    nv = [p, vals[ins[4]], *code2.tail]
                else:
                    nv = [p, *ins[4](vals), *code2.tail]
            else:
                node = code.meta[pc - 1][0]
                nv = _bind(code2, p, _fetch_args(ins, vals), node.loc if node else None)
            if not ins[2]:
                stack.append((code, vals, pc, ins[1]))
            vals = nv
            code = code2
            instrs = code2.instrs
            pc = 0
    except TapelessError as e:
        located = _locate(e, code, pc - 1)
        if located is None:
            raise
        raise located from e
    except Exception as e:
        err = _runtime_error(e, code, pc - 1, vals, stack)
        if err is None:
            raise
        raise err from e


def _code_of(f: Closure) -> Code:
    """The code of a closure built outside the interpreter (compiled on first call)."""
    if f.code is None:
        f.code = Program().code(f.graph)
    return f.code


def _callee_of_value(f: Any, node: Apply | None) -> tuple[Code, Frame | None]:
    """Code and parent frame of a called value that is not a `Closure` (slow path)."""
    loc = node.loc if node is not None else None
    if isinstance(f, Unbound):
        raise _unbound_error(f)
    if isinstance(f, Graph):
        c = Program().closure(f)
        assert c.code is not None
        return c.code, None
    if isinstance(f, Closure):  # a subclass
        return _code_of(f), f.frame
    raise TapelessTypeError(
        f"'{type(f).__name__}' object is not callable",
        loc,
        construct="call",
        hint="only functions, lambdas and closures can be called",
    )


def _unbound_error(u: Unbound) -> TapelessUnboundLocalError:
    return TapelessUnboundLocalError(
        f"local variable '{u.name}' referenced before assignment",
        u.loc,
        hint=f"assign '{u.name}' on every path before this use",
    )


def _meta_at(code: Code, pc: int, e: BaseException) -> Meta | None:
    """The meta of instruction `pc`, which raised `e` (inside a block: of the line that raised)."""
    if not 0 <= pc < len(code.meta):
        return None
    ins = code.instrs[pc]
    if ins[0] == BLOCK:
        return block_meta(ins, e.__traceback__)
    return code.meta[pc]


def _runtime_error(
    e: Exception, code: Code, pc: int, vals: Frame, stack: list[tuple[Code, Frame, int, int]]
) -> Exception | None:
    """Translate an exception raised by instruction `pc`: a new error, or None to re-raise `e`.

    Python's own runtime errors keep their type and gain a note with the
    source location; a TypeError becomes a TapelessTypeError (or a
    TapelessUnboundLocalError when an unassigned local caused it).
    """
    meta = _meta_at(code, pc, e)
    if meta is None:
        return None
    node, prim, argslots, fnslot = meta
    args = [vals[s] for s in argslots]
    if fnslot is not None:
        f = vals[fnslot]
        if isinstance(f, Primitive):
            prim = f
    loc = node.loc if node is not None else None
    if isinstance(e, TypeError):
        for a in args:
            if isinstance(a, Unbound):
                return _unbound_error(a)
        if prim is not None and not prim.variadic:
            least = prim.arity - len(prim.defaults)
            if not least <= len(args) <= prim.arity:
                return ArityError(
                    f"{prim.name}() takes {_count(prim.arity, 'argument')}"
                    f" but {len(args)} {'was' if len(args) == 1 else 'were'} given",
                    loc,
                    construct=prim.name,
                )
        hint = None
        if any(isinstance(a, tuple) or a is None for a in args):
            hint = "tuples and None support no arithmetic in tapeless; work on their elements"
        return TapelessTypeError(str(e), loc, construct=prim.name if prim else None, hint=hint)
    e.add_note(_where(loc, code, stack))
    return None


def _locate(e: TapelessError, code: Code, pc: int) -> TapelessError | None:
    """`e` again with the location of instruction `pc`, if it has none (else None)."""
    if e.loc is not None:
        return None
    meta = _meta_at(code, pc, e)
    node = meta[0] if meta is not None else None
    if node is None or node.loc is None:
        return None
    try:
        return type(e)(e.message, node.loc, construct=e.construct, hint=e.hint)
    except TypeError:  # a subclass with another signature
        return None


def _where(loc: Location | None, code: Code, stack: list[tuple[Code, Frame, int, int]]) -> str:
    """'at file:line:col (in g)' with the source line, and a few callers."""
    lines = [f"tapeless: raised at {loc if loc else '<unknown location>'} (in {code.name})"]
    if loc is not None and loc.source_line():
        lines.append("    " + loc.source_line().strip())
    for caller, _, pc, _ in reversed(stack[-3:]):
        cnode = caller.meta[pc - 1][0]
        if cnode is not None and cnode.loc is not None:
            lines.append(f"  called from {cnode.loc} (in {caller.name})")
    if len(stack) > 3:
        lines.append(f"  ... and {len(stack) - 3} more calls")
    return "\n".join(lines)


def _check_result(value: Any) -> None:
    """Refuse to hand an unassigned local to Python (looking inside tuples)."""
    t = type(value)
    if t is Unbound:
        raise _unbound_error(value)
    if t is tuple:
        for v in value:
            _check_result(v)


# -- entry points -----------------------------------------------------------------
def call_closure(f: Closure, args: Sequence[Any]) -> Any:
    """Call a function value from Python (what `Closure.__call__` does)."""
    code = f.code or _code_of(f)
    if f.frame is None and not code.toplevel:
        raise InternalError(f"closure of {code.name} has no frame for its free variables")
    value = _execute(code, _bind(code, f.frame, args, None))
    _check_result(value)
    return value


def run(graph: Graph, args: Sequence[Any], program: Program | None = None) -> Any:
    """Run the top-level `graph` on `args` and return its value.

    `program` caches assembled code between calls; by default a fresh one is
    made, so the IR as it is now is what runs.
    """
    return call_closure((program or Program()).closure(graph), args)


def interpret(graph: Graph, *args: Any) -> Any:
    """`run(graph, args)`."""
    return run(graph, args)


__all__ = ["Closure", "Code", "Program", "call_closure", "fast_op", "interpret", "run"]
