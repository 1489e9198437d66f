"""Gradients from J: `grad_graph`, and the primitives that bring J to values
at run time.

`grad_graph(g, argnums, with_value)` builds

    def grad_g(*args):
        out, bprop = J(g)(*[jvalue(a) for a in args])
        d = bprop(seed(out))           # seed: 1.0, once out is a float scalar
        return d[1 + argnum]           # or a tuple for several argnums; (out, ...) with the value

Used from Python by `tapeless.grad`; used inside compiled code, `grad(f)`
lowers to the primitive `grad` applied to `f`. `expand_grads` replaces
`grad(constant graph)` by the graph `grad_graph` builds before a graph is
transformed, innermost first, which is how derivatives nest.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from tapeless.ad.jtransform import J
from tapeless.ad.prim_j import j_primitive
from tapeless.backend.values import Closure
from tapeless.errors import TapelessTypeError
from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, replace
from tapeless.ir.primitives import Primitive, primitive
from tapeless.ir.prims.structure import getitem, make_tuple
from tapeless.ir.types import F64, AbstractType

_GRADS: dict[tuple[int, tuple[int, ...], bool, bool], Graph] = {}


def _seed(out: Any) -> float:
    """1.0, the sensitivity of the output, once it is a float scalar."""
    if isinstance(out, float | np.floating) or (isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float64):
        return 1.0
    raise TapelessTypeError(
        f"grad needs a function whose result is a float scalar, got {type(out).__name__}",
        construct="grad",
        hint="return a float (sum an array with np.sum); use value_and_grad for the value too",
    )


seed = primitive("grad_seed", _seed, lambda out: F64, ("out",), differentiable=False)


def _check_wrt(x: Any, argnum: int) -> Any:
    """x, once it is a value one can differentiate with respect to."""
    if isinstance(x, bool | np.bool_ | int | np.integer):
        raise TapelessTypeError(
            f"cannot differentiate with respect to argument {argnum} of type {type(x).__name__}",
            construct="grad",
            hint="pass a float (write 2.0, not 2), or choose another argnum",
        )
    if isinstance(x, np.ndarray) and x.dtype != np.float64:
        raise TapelessTypeError(
            f"cannot differentiate with respect to argument {argnum}: an array of dtype {x.dtype}",
            construct="grad",
            hint="pass a float64 array",
        )
    if isinstance(x, tuple):
        for e in x:
            _check_wrt(e, argnum)
    return x


def _identity_rule(x: AbstractType, *_: AbstractType) -> AbstractType:
    return x


check_wrt = primitive("check_wrt", _check_wrt, _identity_rule, ("x", "argnum"))


@check_wrt.rule("bprop")
def _bprop_check_wrt(x, argnum, out, dout):
    return (dout, 0.0)


def _jvalue(x: Any) -> Any:
    """The J-world value of x: x itself for data, J of a function."""
    if isinstance(x, Closure):
        return _closure_of(J(x.graph), x)
    if isinstance(x, Primitive):
        return j_primitive(x, None)
    if isinstance(x, tuple):
        return tuple(_jvalue(e) for e in x)
    return x


jvalue = primitive("jvalue", _jvalue, _identity_rule, ("x",))


@jvalue.rule("bprop")
def _bprop_jvalue(x, out, dout):
    return (dout,)


def _closure_of(graph: Graph, like: Any) -> Any:
    """A closure of `graph` over the frame that closure `like` captured,
    assembled by the same interpreter program (so frame layouts agree)."""
    program = like.code.program if like.code is not None else None
    code = program.code(graph) if program is not None else None
    return Closure(graph, like.frame, code)


def grad_graph(g: Graph, argnums: tuple[int, ...], *, single: bool, with_value: bool) -> Graph:
    """The graph of `grad(g, argnums)` (see the module docstring)."""
    key = (id(g), argnums, single, with_value)
    cached = _GRADS.get(key)
    if cached is not None and cached.flags.get("source") is g:
        return cached
    n = len(g.parameters)
    for a in argnums:
        if not -n <= a < n:
            raise TapelessTypeError(
                f"argnum {a} is out of range for {g.name}, which takes {n} arguments",
                g.loc, construct="grad", hint=f"use an argnum between 0 and {n - 1}",
            )
    argnums = tuple(a % n for a in argnums)
    name = "value_and_grad" if with_value else "grad"
    G = Graph(f"{name}({g.name})", g.loc, flags={"source": g})
    G.defaults = g.defaults
    params = [G.add_parameter(p.name, p.loc) for p in g.parameters]
    args: list[Node] = []
    for i, p in enumerate(params):
        v: Node = G.apply(jvalue, p)
        if i in argnums:
            v = G.apply(check_wrt, v, Constant(i))
        args.append(v)
    r = G.apply(Constant(J(prepare(g))), *args, loc=g.loc)
    out = G.apply(getitem, r, Constant(0))
    bprop = G.apply(getitem, r, Constant(1))
    d = G.apply(bprop, G.apply(seed, out, loc=g.loc))
    grads = [G.apply(getitem, d, Constant(a + 1)) for a in argnums]
    result = grads[0] if single else G.apply(make_tuple, *grads)
    G.output = G.apply(make_tuple, out, result) if with_value else result
    _GRADS[key] = G
    return G


def prepare(g: Graph) -> Graph:
    """The primal program as AD transforms it: optimized first (`opt.DEFAULT`, no
    types), so that the blocks of `if` and loops are lifted out of their
    closures and their sensitivities travel as results, not in environments.
    A closure (a graph with free variables) is transformed as it is: its J
    must close over the very frame the closure captured."""
    from tapeless.opt import optimize

    if analyze(g).free_variables(g):
        return g
    cached = _PREPARED.get(g)
    if cached is None:
        cached = _PREPARED[g] = optimize(g)
    return cached


_PREPARED: weakref.WeakKeyDictionary[Graph, Graph] = weakref.WeakKeyDictionary()


def _normalize_argnums(argnums: Any) -> tuple[tuple[int, ...], bool]:
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        return (argnums,), True
    if isinstance(argnums, tuple) and argnums and all(isinstance(a, int) and not isinstance(a, bool) for a in argnums):
        return argnums, False
    raise TapelessTypeError(
        f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}",
        construct="grad", hint="write argnums=0 or argnums=(0, 1)",
    )


def _grad_value(f: Any, argnums: Any, with_value: bool) -> Any:
    """grad(f) of a function value, inside compiled code."""
    nums, single = _normalize_argnums(argnums)
    if isinstance(f, Closure):
        return _closure_of(grad_graph(f.graph, nums, single=single, with_value=with_value), f)
    raise TapelessTypeError(
        f"grad expects a function, got {type(f).__name__}", construct="grad",
        hint="pass a function defined with def or lambda",
    )


grad_p = primitive(
    "grad", _grad_value, lambda f, a, w: f, ("f", "argnums", "with_value"),
    defaults=(0, False), differentiable=False,
)


def expand_grads(root: Graph) -> None:
    """Replace `grad(h, argnums, with_value)` on a constant graph `h` by the
    graph of its gradient, in every graph reachable from `root`. The gradient
    graphs are expanded in turn when they are transformed: innermost first."""
    info = analyze(root)
    reachable, todo = {root}, [root]  # through references only, never owners
    while todo:
        for h in info.references(todo.pop()):
            if h not in reachable:
                reachable.add(h)
                todo.append(h)
    for g in info.graphs:
        if g not in reachable:
            continue
        for node in info.body(g):
            if isinstance(node, Apply) and node.graph is g and _is_grad_of_constant(node):
                h, nums, wv = (x.value for x in node.inputs[1:] if isinstance(x, Constant))
                argnums, single = _normalize_argnums(nums)
                grad = grad_graph(h, argnums, single=single, with_value=bool(wv))
                replace(node, Constant(grad, node.loc))


def _is_grad_of_constant(node: Apply) -> bool:
    fn = node.inputs[0]
    return (
        isinstance(fn, Constant) and fn.value is grad_p and len(node.inputs) == 4
        and isinstance(node.inputs[1], Constant) and isinstance(node.inputs[1].value, Graph)
        and all(isinstance(x, Constant) for x in node.inputs[2:])
    )
