"""The J transform: reverse mode by source transformation, with closure
backpropagators and no tape (Pearlmutter & Siskind; Myia's design).

`J(g)` is a graph that takes the same arguments as `g` and returns
`(value, bprop)`, where `bprop(dout)` returns `(env, d_arg1, ..., d_argn)`:
the sensitivities of g's arguments, and in `env` (an `Env`) those of g's free
variables. Every node `y = f(x1..xn)` of g becomes, in J(g),

    r = J(f)(J(x1), ..., J(xn));  y' = r[0];  bp_y = r[1]

and `bprop` is a closure graph nested in J(g) that walks g's nodes in reverse,
calls each `bp_y` on y's accumulated sensitivity and adds the results into
the sensitivities of y's inputs (`gadd`). A sensitivity that reaches a graph
constant `h` (a closure made in g) is an `Env`: it is split into the
sensitivities of h's free variables. Loops and recursion need nothing
special: the bprop of a recursive call is captured by its caller's bprop, so
the chain of closures plays the role of the tape.

A *job* transforms a root graph together with the closures reachable from it
through graph constants; graphs without free variables reached on the way are
jobs of their own. Each job's result is cached by its root. A free variable
owned outside the job maps to itself: so the J of a closure is a closure over
the very same frame, which is what lets `grad` run inside compiled code, and
why nested derivatives cannot confuse their perturbations (each level keys its
environments by its own nodes).

Primitives are wrapped mechanically (`prim_j.py`) around the backpropagator
written next to each primitive in `ir/prims/`.
"""

from __future__ import annotations

import weakref

from tapeless.ad.prim_j import j_primitive
from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node
from tapeless.ir.primitives import Primitive
from tapeless.ir.prims.ad import EMPTY_ENV, EnvKey, env_getitem, env_setitem, gadd, zeros_like
from tapeless.ir.prims.structure import getitem, make_tuple

#: root -> J(root), for every graph transformed as the root of a job.
_ROOTS: weakref.WeakKeyDictionary[Graph, Graph] = weakref.WeakKeyDictionary()
_KEYS: weakref.WeakKeyDictionary[Node, EnvKey] = weakref.WeakKeyDictionary()


def env_key(node: Node) -> EnvKey:
    """The one key of `node`'s sensitivity in environments."""
    key = _KEYS.get(node)
    if key is None:
        key = _KEYS[node] = EnvKey(node)
    return key


def J(root: Graph) -> Graph:
    """The J-transformed graph of `root` (see the module docstring)."""
    cached = _ROOTS.get(root)
    if cached is not None:
        return cached
    return _Job(root).run()


class _Job:
    def __init__(self, root: Graph) -> None:
        from tapeless.ad.grad import expand_grads

        expand_grads(root)  # nested derivatives: the innermost first
        self.root = root
        self.info: Analysis = analyze(root)
        # The job: root and the closures it reaches; closed graphs are their own jobs.
        self.graphs: list[Graph] = []
        seen = {root}
        todo = [root]
        while todo:
            g = todo.pop()
            self.graphs.append(g)
            for h in self.info.references(g):
                if h not in seen and self.info.free_variables(h):
                    seen.add(h)
                    todo.append(h)
        self.shells: dict[Graph, Graph] = {}
        for g in self.graphs:
            jg = Graph(f"J({g.name})", g.loc, flags={"j": True})
            jg.defaults = g.defaults
            self.shells[g] = jg
        _ROOTS[root] = self.shells[root]  # before the body: recursion finds it
        self.M: dict[Node, Node] = {}
        self.BP: dict[Apply, Node] = {}

    def run(self) -> Graph:
        for g in self.graphs:
            jg = self.shells[g]
            for p in g.parameters:
                self.M[p] = jg.add_parameter(p.name, p.loc)
        for g in sorted(self.graphs, key=lambda g: len(self.info.ancestors(g))):
            self.forward(g)
        return self.shells[self.root]

    # -- mapping ------------------------------------------------------------
    def jmap(self, node: Node, arity: int | None = None) -> Node:
        if isinstance(node, Constant):
            v = node.value
            if isinstance(v, Primitive):
                return Constant(j_primitive(v, arity), node.loc)
            if isinstance(v, Graph):
                return Constant(self.shells[v] if v in self.shells else J(v), node.loc)
            return Constant(v, node.loc)
        owner = node.owner
        if owner in self.shells:
            return self.M[node]
        return node  # a free variable owned outside the job: itself

    # -- forward ------------------------------------------------------------
    def forward(self, g: Graph) -> None:
        jg = self.shells[g]
        for y in self.info.schedule(g):
            fn = self.jmap(y.inputs[0], arity=len(y.inputs) - 1)
            r = jg.apply(fn, *[self.jmap(x) for x in y.inputs[1:]], loc=y.loc)
            self.M[y] = jg.apply(getitem, r, Constant(0), loc=y.loc)
            self.BP[y] = jg.apply(getitem, r, Constant(1), loc=y.loc)
        bprop = self.backward(g)
        jg.output = jg.apply(make_tuple, self.jmap(g.output), Constant(bprop), loc=g.loc)

    # -- backward -----------------------------------------------------------
    def backward(self, g: Graph) -> Graph:
        """The backpropagator of J(g): a closure graph nested in J(g)."""
        b = Graph(f"bprop({g.name})", g.loc, flags={"bprop": True})
        dout = b.add_parameter("dout")
        sens: dict[Node, Node] = {}

        def contribute(node: Node, value: Node) -> None:
            if isinstance(node, Constant):
                if isinstance(node.value, Graph):
                    distribute(node.value, value)
                return
            sens[node] = value if node not in sens else b.apply(gadd, sens[node], value)

        def distribute(h: Graph, env: Node) -> None:
            # The sensitivity of a closure made here: split it among its free variables.
            for fv in self.info.free_variables(h):
                default = b.apply(zeros_like, self.jmap(fv))
                contribute(fv, b.apply(env_getitem, env, Constant(env_key(fv)), default))

        contribute(g.output, dout)
        for y in reversed(self.info.schedule(g)):
            s = sens.get(y)
            if s is None:
                continue
            fn = y.inputs[0]
            if isinstance(fn, Constant) and isinstance(fn.value, Primitive) and not fn.value.differentiable:
                continue
            d = b.apply(self.BP[y], s, loc=y.loc)
            for i, x in enumerate(y.inputs):
                if isinstance(x, Constant) and not isinstance(x.value, Graph):
                    continue
                contribute(x, b.apply(getitem, d, Constant(i), loc=y.loc))
        env: Node = Constant(EMPTY_ENV)
        for fv in self.info.free_variables(g):
            if fv in sens:
                env = b.apply(env_setitem, env, Constant(env_key(fv)), sens[fv])
        grads = [
            sens[p] if p in sens else b.apply(zeros_like, self.M[p]) for p in g.parameters
        ]
        b.output = b.apply(make_tuple, env, *grads)
        return b
