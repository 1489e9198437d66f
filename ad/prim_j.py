"""J of a primitive: the mechanical wrapping of its backpropagator.

For a primitive `p` of `n` arguments with rule `bprop_p(x1..xn, out, dout)`
(a Python function in the subset, next to `p` in `ir/prims/`, parsed by the
front end so that it can be differentiated in turn):

    def J_p(x1, ..., xn):
        out = p(x1, ..., xn)
        def bprop(dout):
            d = bprop_p(x1, ..., xn, out, dout)
            return (EMPTY_ENV, d[0], ..., d[n-1])
        return (out, bprop)

`make_tuple` (any arity) and primitives without a gradient are built
directly. Results are cached per primitive and arity.
"""

from __future__ import annotations

from tapeless.errors import TapelessError
from tapeless.ir.nodes import Constant, Graph, Node
from tapeless.ir.primitives import Primitive
from tapeless.ir.prims.ad import EMPTY_ENV, zeros_like
from tapeless.ir.prims.structure import getitem, make_tuple

_CACHE: dict[tuple[str, int], Graph] = {}


def bprop_graph(p: Primitive) -> Graph:
    """The parsed backpropagator of `p`."""
    from tapeless.frontend import parse_function

    rule = p.rules.get("bprop")
    if rule is None:
        raise TapelessError(
            f"primitive '{p.name}' has no backpropagator",
            construct=p.name,
            hint="differentiate through a supported operation, or wrap the value in stop_gradient",
        )
    return parse_function(rule)


def j_primitive(p: Primitive, arity: int | None) -> Graph:
    n = arity if p.variadic and arity is not None else p.arity
    if p.variadic and arity is None:
        raise TapelessError(f"'{p.name}' cannot be used as a value in differentiated code", construct=p.name)
    key = (p.name, n)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    jp = Graph(f"J({p.name})", flags={"j": True})
    _CACHE[key] = jp
    xs = [jp.add_parameter(f"x{i}") for i in range(n)]
    out = jp.apply(p, *xs)
    bp = Graph(f"bprop({p.name})", flags={"bprop": True})
    dout = bp.add_parameter("dout")
    grads: list[Node]
    if p.name == "make_tuple":
        grads = [bp.apply(getitem, dout, Constant(i)) for i in range(n)]
    elif not p.differentiable:
        grads = [bp.apply(zeros_like, x) for x in xs]
    else:
        d = bp.apply(Constant(bprop_graph(p)), *xs, out, dout)
        grads = [bp.apply(getitem, d, Constant(i)) for i in range(n)]
    bp.output = bp.apply(make_tuple, Constant(EMPTY_ENV), *grads)
    jp.output = jp.apply(make_tuple, out, Constant(bp))
    return jp
