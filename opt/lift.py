"""Lambda lifting of the graphs that are only ever called.

Expects: a program that `verify` accepts. Guarantees: the same results, with
every member of a call group (`callsites`) that has free variables turned
into a graph without any: each free variable becomes a new trailing
parameter of every member of the group, every call site passes the
variable (or None where it cannot see it: then none of the members it may
call reads it, or their closures could not be made there), and inside the member (and the closures nested in it) the
variable's uses read the parameter instead.

It pays where it is used: the blocks of `if` and loops (closures made only
to be called at once) stop being closures, so the backend allocates no
environment for them, and the AD pass, run on a lifted program, passes the
sensitivities of their variables back as plain results instead of in `Env`
values. Returns whether it lifted anything.
"""

from __future__ import annotations

from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Constant, Graph, Node, Parameter
from tapeless.opt.callsites import call_groups
from tapeless.opt.dce import dce


def lift(root: Graph) -> bool:
    """Lift the free variables of every call group's members into parameters."""
    dce(root)  # exact use-lists: every listed reference is a live one
    a = analyze(root)
    renames: list[tuple[Graph, dict[Node, Parameter]]] = []
    order = _Order(a)
    for group in call_groups(a):
        found: set[Node] = set()
        for h in group.members:
            found.update(a.free_variables(h))
        if not found:
            continue
        fvs = dict.fromkeys(sorted(found, key=order.key))
        for h in group.members:
            renames.append((h, {x: h.add_parameter(_name(x), x.loc) for x in fvs}))
        for site in group.sites:
            seen = {site.graph, *a.ancestors(site.graph)}
            site.set_inputs([*site.inputs, *(x if x.owner in seen else Constant(None) for x in fvs)])
    # innermost first: a variable used in a member nested in another reads the inner parameter
    for h, params in sorted(renames, key=lambda r: -len(a.ancestors(r[0]))):
        scope = set(a.scope(h))
        for x, p in params.items():
            for user, index in list(x.uses):
                if isinstance(user, Graph):
                    if user in scope:
                        user.output = p
                elif user.graph in scope:
                    user.set_input(index, p)
    return bool(renames)


class _Order:
    """The order of a member's new parameters: variables of the innermost owner
    first, its parameters before its other nodes, each in its own order. A
    loop body lifted out of its header then takes the header's parameters in
    the header's order (and the header's own lifted ones after them, in the
    same order as the header): its backpropagator returns their
    sensitivities in the order the header's returns them, and passes them on
    unchanged (`algebra`'s tuple eta, then `eta`)."""

    def __init__(self, a: Analysis) -> None:
        self.a = a
        self.index: dict[Node, int] = {}

    def key(self, x: Node) -> tuple[int, int, int]:
        owner = x.owner
        assert owner is not None
        if x not in self.index:
            for i, p in enumerate(owner.parameters):
                self.index[p] = i
            for i, n in enumerate(self.a.schedule(owner)):
                self.index[n] = i
        return (-len(self.a.ancestors(owner)), 0 if isinstance(x, Parameter) else 1, self.index.get(x, 0))


def _name(x: Node) -> str:
    return getattr(x, "name", None) or "fv"


__all__ = ["lift"]
