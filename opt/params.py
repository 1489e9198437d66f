"""Removal of dead parameters, also those only dead across recursion.

Expects: a program that `verify` accepts. Guarantees: the same results
(demand semantics, `liveness`), with every parameter that no result needs
removed from all the members of its call group (`knowncalls`), and the
matching argument removed from every call site. Liveness is one fixpoint over
the whole program: a node is live when the root's output reads it, or a live
node reads it other than as an argument of a known call, or it is the i-th
argument of a live call to a group whose i-th parameter is live in some
member. A loop-carried variable that only feeds itself (the primal sum of a
loop whose gradient alone is asked for) is dead although its header passes it
on: the loop keeps only the variables it still needs. Returns whether it
removed anything.
"""

from __future__ import annotations

from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Apply, Graph, Node, Parameter, constant_graph
from tapeless.opt.callsites import CallGroup
from tapeless.opt.dce import dce
from tapeless.opt.knowncalls import known_groups
from tapeless.opt.liveness import detach_dead

Slot = tuple[int, int]  # (group, parameter index)


def params(root: Graph) -> bool:
    """Drop the parameters that no result needs from every member of their call group."""
    dce(root)  # exact use-lists: the sites listed are the live ones
    groups = known_groups(analyze(root))
    live = _live_slots(root, groups)
    dead = [[i for i in range(len(g.members[0].parameters)) if (gi, i) not in live] for gi, g in enumerate(groups)]
    if not any(dead):
        return False
    for group, unused in zip(groups, dead, strict=True):
        drop = {i + 1 for i in unused}
        for site in group.sites:
            site.set_inputs([x for j, x in enumerate(site.inputs) if j not in drop])
    dce(root)
    for group, unused in zip(groups, dead, strict=True):
        for h in group.members:
            for i in reversed(unused):
                p = h.parameters[i]
                for user, _ in list(p.uses):  # dead nodes, or a graph no one reaches any more
                    if isinstance(user, Apply):
                        detach_dead(user)
                h.remove_parameter(p)
    return True


def _live_slots(root: Graph, groups: list[CallGroup]) -> set[Slot]:
    """The (group, index) parameter slots that the root's output needs."""
    slot_of: dict[Parameter, Slot] = {
        p: (gi, i) for gi, group in enumerate(groups) for h in group.members for i, p in enumerate(h.parameters)
    }
    group_of_site = {site: gi for gi, group in enumerate(groups) for site in group.sites}
    live_slots: set[Slot] = set()
    waiting: dict[Slot, list[Node]] = {}  # arguments that are live once their slot is
    seen: set[Node] = set()
    stack: list[Node] = [root.output]

    def need(node: Node) -> None:
        if node not in seen:
            seen.add(node)
            stack.append(node)

    while stack:
        node = stack.pop()
        if isinstance(node, Parameter) and node in slot_of:
            slot = slot_of[node]
            if slot not in live_slots:
                live_slots.add(slot)
                for x in waiting.pop(slot, []):
                    need(x)
        elif isinstance(node, Apply):
            gi = group_of_site.get(node)
            if gi is None:
                for x in node.inputs:
                    need(x)
                continue
            need(node.inputs[0])
            for i, x in enumerate(node.args):
                if (gi, i) in live_slots:
                    need(x)
                else:
                    waiting.setdefault((gi, i), []).append(x)
        g = constant_graph(node)
        if g is not None and g.has_output:
            need(g.output)
    return live_slots


__all__ = ["params"]
