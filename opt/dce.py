"""Dead code elimination.

Expects: a program that `verify` accepts. Guarantees: the same program,
with every `Apply` that no graph of the program reads any more (a node left
behind by a rewrite) detached from its inputs, so that use-lists only list
live users: "used once" and "called once" then mean what they say. Graphs are
rooted at their outputs, so dead nodes are never evaluated; this pass only
cleans the use-lists. Returns whether it detached anything.
"""

from __future__ import annotations

from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Apply, Graph, Node
from tapeless.opt.liveness import live_nodes


def dce(root: Graph) -> bool:
    """Detach the dead users of live nodes, transitively; return whether any was found."""
    a = analyze(root)
    live = live_nodes(a)
    live_graphs = set(a.graphs)
    dead: list[Apply] = []
    seen: set[Node] = set()
    for node in live:
        for user, _ in node.uses:
            if isinstance(user, Apply) and user not in live and user not in seen:
                seen.add(user)
                dead.append(user)
    changed = False
    while dead:
        node = dead.pop()
        inputs = list(node.inputs)
        node.detach()
        changed = True
        for x in inputs:
            if isinstance(x, Apply) and x not in live and x not in seen and not x.uses:
                seen.add(x)
                dead.append(x)
    # a dead graph's output still lists it as a user; drop graphs no one reaches
    for node in live:
        for user, index in list(node.uses):
            if isinstance(user, Graph) and user not in live_graphs:
                node.uses.discard((user, index))
                changed = True
    return changed
