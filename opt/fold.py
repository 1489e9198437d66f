"""Constant folding.

Expects: a program that `verify` accepts. Guarantees: every `Apply` of a
primitive whose arguments are all constants, whose Python implementation
returns (rather than raises) and whose result is a value a `Constant` may
hold (`foldable_value`), is replaced by that constant. Calls that raise are
left alone, so the error still happens at run time, where it belongs.
Primitives that build or call functions at run time (`grad`, `jvalue`) and
those whose result is not plain data are never folded. Returns whether it
folded anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Constant, Graph, Unbound, replace
from tapeless.ir.primitives import Primitive
from tapeless.ir.prims.ad import Env, EnvKey

#: Primitives never folded: they make J graphs or closures at run time.
NOT_FOLDED = frozenset({"grad", "jvalue"})

_ARRAY_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))
_SCALARS = (bool, int, float, np.bool_, np.int64, np.float64)


def foldable_value(value: Any, *, top: bool = True) -> bool:
    """Whether a folded result can be a constant (what `verify` accepts, less graphs
    inside tuples and less `Unbound`, which must keep raising where it is used)."""
    if value is None or isinstance(value, (*_SCALARS, Primitive, Env, EnvKey)):
        return True
    if isinstance(value, Graph):
        return top
    if isinstance(value, np.ndarray):
        return value.dtype in _ARRAY_DTYPES
    if isinstance(value, tuple):
        return all(foldable_value(v, top=False) for v in value)
    return False


def fold(root: Graph) -> bool:
    """Fold primitive calls on constant arguments in every graph of `root`'s program."""
    a = analyze(root)
    changed = False
    for g in a.graphs:
        for node in a.schedule(g):
            fn = node.inputs[0]
            if not (isinstance(fn, Constant) and isinstance(fn.value, Primitive)):
                continue
            prim = fn.value
            if prim.name in NOT_FOLDED or not all(isinstance(x, Constant) for x in node.args):
                continue
            values = [x.value for x in node.args if isinstance(x, Constant)]
            if any(isinstance(v, Unbound) for v in values):
                continue
            try:
                result = prim.impl(*values)
            except Exception:  # the program raises here at run time: leave it to do so
                continue
            if not foldable_value(result):
                continue
            if isinstance(result, Graph) and not a.can_make(result, g):
                continue
            replace(node, Constant(result, node.loc))
            node.detach()
            changed = True
    return changed


__all__ = ["fold", "foldable_value"]
