"""Removal of unused parameters.

Expects: a program that `verify` accepts. Guarantees: the same results, with
every parameter that no member of its call group (`callsites`) reads
removed from all the members, and the matching argument removed from every
call site. A loop's header keeps only the variables the loop still needs
once the rest of the optimizer has done its work. Returns whether it removed
anything.
"""

from __future__ import annotations

from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Graph
from tapeless.opt.callsites import call_groups
from tapeless.opt.dce import dce


def params(root: Graph) -> bool:
    """Drop the parameters that no member of their call group uses."""
    dce(root)  # exact use-lists: a parameter without uses is unused
    changed = False
    for group in call_groups(analyze(root)):
        arity = len(group.members[0].parameters)
        unused = [i for i in range(arity) if all(not h.parameters[i].uses for h in group.members)]
        if not unused:
            continue
        for h in group.members:
            for i in reversed(unused):
                h.remove_parameter(h.parameters[i])
        drop = {i + 1 for i in unused}
        for site in group.sites:
            site.set_inputs([x for j, x in enumerate(site.inputs) if j not in drop])
        changed = True
    return changed


__all__ = ["params"]
