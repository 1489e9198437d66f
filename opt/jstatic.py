"""J/Jinv cancellation: J of a known function taken at compile time.

In this design reverse mode's J is a graph transform (`ad.jtransform.J`) and
there is no Jinv: J of a closure closes over the very frame the closure
captured (free variables outside a J job map to themselves), so no value
ever has to be converted back. What a program may still do at run time is
apply J to a function *value*: the primitives `grad(f, argnums, with_value)`
and `jvalue(x)` (`ad/grad.py`). Once inlining and `specialize` have made `f`
a constant, that run-time J is this pass's to cancel:

- ``grad(@g, argnums, with_value)`` (constant arguments) -> ``@grad_g``, the
  graph `ad.grad.grad_graph` builds, as `expand_grads` does before a job;
- ``jvalue(@g)`` -> ``@J(prepare(g))``; ``jvalue(@p)`` (a primitive) -> ``@J(p)``
  (`ad.prim_j.j_primitive`); ``jvalue(make_tuple(a, ...))`` ->
  ``make_tuple(jvalue(a), ...)`` and a tuple constant likewise, when some
  element is a known function; ``jvalue`` of a data constant -> the constant.

Expects: a program that `verify` accepts. Guarantees: the same results (but
for the sign of a zero gradient: `prepare` optimizes the primal first), a
program that still verifies, and:

- `g` may be a closure. Its J is made as at run time, over the frame that
  ``@g`` captures where it stands, so the new constant can be made there
  too, and its environments are keyed by g's free variables, as run-time J
  keys them. (J is taken of a throwaway copy of g's scope, whose free
  variables are g's own: AD caches its results by graph, and a cached J
  must not read the program's nodes, whose dead readers `dce` detaches.)
- AD's graphs are cached and shared (J of a primitive, for every program),
  so the program gets its own copy of each, with the graphs it reaches: one
  per (g, argnums, with_value) and pass run, so two sites of the same `g`
  get the same constant. Later passes rewrite the copy, never AD's caches.
- Nested derivatives stay apart. Each J keys its environments by the nodes
  it transforms; and a site whose function reaches another site waits until
  that one is rewritten (J would expand it in place): innermost first, as
  `expand_grads` does. A function that reaches itself (a derivative whose
  depth only the run time knows) is left to run time.
- Anything else (functions not known, argnums not constant, a J that AD
  refuses) stays, to run or raise at run time.

Returns whether it changed anything.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import networkx as nx

from tapeless.ad.grad import _is_grad_of_constant, _normalize_argnums, grad_graph, jvalue, prepare
from tapeless.ad.jtransform import J
from tapeless.ad.prim_j import j_primitive
from tapeless.errors import InternalError, TapelessError
from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.clone import clone
from tapeless.ir.nodes import Apply, Constant, Graph, Node, Unbound, constant_graph, replace
from tapeless.ir.primitives import Primitive
from tapeless.ir.prims.structure import make_tuple
from tapeless.opt.dce import dce
from tapeless.opt.program import copy_graphs


def jstatic(root: Graph) -> bool:
    """Replace run-time J of known functions by constants of their J graphs."""
    a = analyze(root)
    sites = [n for g in a.graphs for n in a.schedule(g) if _is_site(n)]
    if not sites:
        return False
    statics = _Statics(a, {s.graph for s in sites})
    changed = False
    for site in sites:
        new = statics.grad(site) if _is_grad_of_constant(site) else statics.jvalue(site.args[0], site.graph)
        if new is not None:
            replace(site, new)
            site.detach()
            changed = True
    if changed:
        dce(root)  # AD's throwaway graphs read the program's nodes: exact use-lists again
    return changed


def _is_site(node: Apply) -> bool:
    """A `grad` of a constant graph, or a `jvalue` of a known function (in a tuple)."""
    return _is_grad_of_constant(node) or (_is_jvalue(node) and _has_function(node.args[0]))


def _is_jvalue(node: Apply) -> bool:
    fn = node.inputs[0]
    return isinstance(fn, Constant) and fn.value is jvalue and len(node.inputs) == 2


def _has_function(node: Node) -> bool:
    """Whether `node` is a function constant, or a tuple (made or constant) holding one."""
    if isinstance(node, Constant):
        return _value_has_function(node.value)
    return isinstance(node, Apply) and _is_make_tuple(node) and any(_has_function(x) for x in node.args)


def _value_has_function(value: object) -> bool:
    if isinstance(value, tuple):
        return any(_value_has_function(v) for v in value)
    return isinstance(value, Graph | Primitive)


def _is_make_tuple(node: Apply) -> bool:
    return isinstance(node.fn, Constant) and node.fn.value is make_tuple


class _Statics:
    """The J graphs of one pass run, each copied into the program once."""

    def __init__(self, a: Analysis, site_graphs: set[Graph]) -> None:
        self.a = a
        self.program = set(a.graphs)
        self.site_graphs = site_graphs
        self.copies: dict[Hashable, Graph | None] = {}  # None: AD refused

    def grad(self, site: Apply) -> Node | None:
        """``@grad_g`` for ``site = grad(@g, argnums, with_value)``, or None."""
        g, nums, wv = (x.value for x in site.inputs[1:] if isinstance(x, Constant))
        assert isinstance(g, Graph)  # (`_is_grad_of_constant`)

        def build(h: Graph) -> Graph:
            argnums, single = _normalize_argnums(nums)
            return grad_graph(h, argnums, single=single, with_value=bool(wv))

        made = self.of_graph(("grad", g, nums, bool(wv)), g, build)
        return None if made is None else Constant(made, site.loc)

    def jvalue(self, x: Node, where: Graph) -> Node | None:
        """The J-world value of `x` built statically in `where`, or None where
        nothing in `x` is a known function."""
        if not _has_function(x):
            return None
        if isinstance(x, Constant):
            return self.jvalue_constant(x.value, x, where)
        assert isinstance(x, Apply)  # a make_tuple (`_has_function`)
        parts = [self.jvalue(e, where) for e in x.args]
        if all(p is None for p in parts):
            return None  # (its functions wait)
        kept = [p if p is not None else where.apply(jvalue, e, loc=e.loc) for p, e in zip(parts, x.args, strict=True)]
        return where.apply(make_tuple, *kept, loc=x.loc)

    def jvalue_constant(self, value: object, x: Constant, where: Graph) -> Node | None:
        if isinstance(value, tuple) and _value_has_function(value):
            parts = [self.jvalue_constant(v, x, where) for v in value]
            if any(p is None for p in parts):
                return None
            return where.apply(make_tuple, *parts, loc=x.loc)
        made: Graph | None
        if isinstance(value, Graph):
            made = self.of_graph(("j", value), value, lambda h: J(prepare(h)))
        elif isinstance(value, Primitive):
            made = self.cached(("j", value), lambda: j_primitive(value, None))
        else:
            return None if isinstance(value, Unbound) else Constant(value, x.loc)  # data: itself
        return None if made is None else Constant(made, x.loc)

    def of_graph(self, key: Hashable, g: Graph, build: Callable[[Graph], Graph]) -> Graph | None:
        """This run's copy of `build(g)`; None while `g` must wait (or if AD refuses)."""
        if self.waits(g):
            return None
        # J of a closure: of a throwaway copy of its scope over the same frame (see the module docstring)
        return self.cached(key, lambda: build(clone(g, analysis=self.a) if self.a.is_closure(g) else g))

    def waits(self, g: Graph) -> bool:
        """Whether `g` reaches a site: J of `g` would expand it, or reach `g` again."""
        reach = nx.descendants(self.a.call_graph, g) | {g}
        return not reach.isdisjoint(self.site_graphs)

    def cached(self, key: Hashable, make: Callable[[], Graph]) -> Graph | None:
        """A copy of the graph `make` builds, with every graph of AD it reaches,
        made once per `key`; None if AD refuses (run time raises it where the
        program does)."""
        if key not in self.copies:
            try:
                made = make()
            except InternalError:
                raise
            except TapelessError:
                self.copies[key] = None
            else:
                self.copies[key] = copy_graphs(self.ad_graphs(made))[made]
        return self.copies[key]

    def ad_graphs(self, made: Graph) -> list[Graph]:
        """`made` and every graph it reaches (all AD's: J graphs never refer to
        primal graphs). The walk goes through nodes, as `Analysis` does (a node
        of J(g) may be read only by its backpropagator), and stops at the
        program's nodes: the frame that J of a closure reads."""
        found: dict[Graph, None] = {made: None}
        stack: list[Node] = [made.output]
        seen: set[Node] = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if isinstance(node, Apply) and node.graph not in self.program:
                stack.extend(node.inputs)
            elif (h := constant_graph(node)) is not None and h not in found and h not in self.program:
                found[h] = None
                stack.append(h.output)
        return list(found)


__all__ = ["jstatic"]
