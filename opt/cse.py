"""Common subexpression elimination.

Expects: a program that `verify` accepts. Guarantees: within each graph, no
two live `Apply` nodes have the same inputs, where inputs are the same when
they are the same node, or constants of the same type and the same value
(floats compared bit for bit, so ``0.0`` and ``-0.0`` stay apart; arrays and
other unhashable constants only by identity). Every primitive is pure and a
call of a graph computes a function of its arguments, so merging two equal
calls changes no result. Nodes of different graphs are never merged (a node
of an inner graph may not be computed when its outer twin is). Returns
whether it merged anything.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, replace


def constant_key(value: Any) -> Hashable | None:
    """A key equal for constants that are interchangeable, or None (never merged)."""
    if isinstance(value, float):
        return ("float", math.copysign(1.0, value), value.hex())
    if value is None or isinstance(value, bool | int | str):
        return (type(value).__name__, value)
    if isinstance(value, tuple):
        parts = [constant_key(v) for v in value]
        if any(p is None for p in parts):
            return None
        return ("tuple", *parts)
    return ("id", id(value))  # primitives, graphs, keys, envs, arrays: by identity


def _input_key(node: Node) -> Hashable | None:
    if isinstance(node, Constant):
        return constant_key(node.value)
    return ("node", id(node))


def cse(root: Graph) -> bool:
    """Merge equal `Apply` nodes within each graph of `root`'s program."""
    a = analyze(root)
    changed = False
    for g in a.graphs:
        table: dict[tuple[Hashable | None, ...], Apply] = {}
        for node in a.schedule(g):  # inputs first, so merged inputs make equal keys
            key = tuple(_input_key(x) for x in node.inputs)
            if any(k is None for k in key):
                continue
            twin = table.get(key)
            if twin is None:
                table[key] = node
                continue
            replace(node, twin)
            node.detach()
            changed = True
    return changed


__all__ = ["constant_key", "cse"]
