"""What a program evaluates: the live nodes of every graph, and helpers that
passes share to decide whether a rewrite may drop a computation.

The IR is demand-driven: a graph evaluates the nodes its output needs and the
free variables of the closures it makes (`analyze(root).body`). A rewrite
that stops reading a node `x` changes no result when `x` is *inert* (a
constant, a parameter, a node of an enclosing graph, which is computed
anyway) or when another live user still reads it; otherwise dropping `x`
could drop an exception that `x` raises, so the rewrite is not made. Passes
that use these helpers start from exact use-lists (`dce`) and keep them so
(`detach_dead`), so that a listed user of a live node is a live user
(except in the body of a closure that a rewrite made dead: a known gap).
"""

from __future__ import annotations

from tapeless.ir.analysis import Analysis
from tapeless.ir.nodes import Apply, Constant, Graph, Node
from tapeless.ir.primitives import Primitive
from tapeless.ir.prims.ad import Env


def live_nodes(a: Analysis) -> set[Node]:
    """Every node some graph of the program reads (a snapshot)."""
    live: set[Node] = set()
    for g in a.graphs:
        live.update(a.body(g))
    return live


def read_elsewhere(x: Node, dying: set[Node], live: set[Node]) -> bool:
    """Whether a live user of `x` outside `dying` still reads it."""
    return any(isinstance(u, Graph) or (u in live and u not in dying) for u, _ in x.uses)


def may_drop(x: Node, dying: set[Node], live: set[Node]) -> bool:
    """Whether dropping `x` loses no exception once the `dying` nodes are gone: `x`
    is inert, still read elsewhere, or a `total` call whose inputs may be dropped."""
    if not isinstance(x, Apply) or any(x.graph is not d.graph for d in dying if isinstance(d, Apply)):
        return True  # constants, parameters and free variables: computed anyway (or total)
    if read_elsewhere(x, dying, live):
        return True
    if not total(x):
        return False
    inner = dying | {x}
    return all(may_drop(i, inner, live) for i in x.args)


def total(node: Apply) -> bool:
    """Whether `node` cannot raise (given values for its inputs).

    `make_tuple` never raises; `zeros_like` only on an unbound local (which
    every other use reports too); `env_setitem` on an environment never does.
    """
    fn = node.inputs[0]
    if not (isinstance(fn, Constant) and isinstance(fn.value, Primitive)):
        return False
    name = fn.value.name
    if name in ("make_tuple", "zeros_like"):
        return True
    if name == "env_setitem":
        env = node.args[0]
        if isinstance(env, Constant):
            return isinstance(env.value, Env)
        return isinstance(env, Apply) and env.inputs[0] is not None and (
            isinstance(env.inputs[0], Constant) and env.inputs[0].value is fn.value and total(env)
        )
    return False


def detach_dead(node: Apply) -> None:
    """Detach `node` and, transitively, the inputs it leaves without a user."""
    stack = [node]
    while stack:
        n = stack.pop()
        inputs = list(n.inputs)
        n.detach()
        stack.extend(x for x in inputs if isinstance(x, Apply) and not x.uses)
