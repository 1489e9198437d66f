"""Automatic differentiation: the J transform (jtransform.py), the wrapping of
primitives (prim_j.py), and gradients (grad.py)."""

from tapeless.ad.grad import grad_graph
from tapeless.ad.jtransform import J

__all__ = ["J", "grad_graph"]
