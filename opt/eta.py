"""Eta reduction: a graph that only forwards its arguments to a function is that function.

Expects: a program that `verify` accepts. Guarantees: the same results, with
every use of a graph constant ``@b`` replaced by ``f`` where b is
``lambda p1..pn: f(p1..pn)`` (its output calls ``f`` on exactly its own
parameters, in order; it has no default values) and ``f`` is a constant or a node that the graph using
``@b`` can read (its own, or an enclosing graph's). The AD pass leaves such
wrappers behind once the optimizer has simplified them: the backpropagator
of a loop header that only calls the backpropagator of the branch taken. A
wrapper replaced this way is one closure less per call. Returns whether it
reduced anything.
"""

from __future__ import annotations

from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, constant_graph


def eta(root: Graph) -> bool:
    """Replace the uses of forwarding graphs by the function they forward to."""
    a = analyze(root)
    changed = False
    for g in a.graphs:
        for node in a.schedule(g):
            for i, x in enumerate(node.inputs):
                b = constant_graph(x)
                if b is None or b not in a.call_graph:
                    continue
                f = forwarded(b)
                if f is not None and _visible(a, f, g):
                    node.set_input(i, f)
                    changed = True
    return changed


def forwarded(b: Graph) -> Node | None:
    """The function `b` forwards all its arguments to, if it does."""
    out = b.output if b.has_output and not b.defaults else None
    if not isinstance(out, Apply) or out.args != list(b.parameters):
        return None
    f = out.inputs[0]
    if f.owner is b or constant_graph(f) is b:
        return None
    return f


def _visible(a: Analysis, f: Node, g: Graph) -> bool:
    if isinstance(f, Constant):
        h = constant_graph(f)
        return h is None or h not in a.call_graph or a.can_make(h, g)
    owner = f.owner
    return owner is not None and a.encloses(owner, g)


__all__ = ["eta", "forwarded"]
