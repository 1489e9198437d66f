"""The graph IR: nodes, abstract types, primitives, analyses, printer, verifier."""

from tapeless.ir import prims  # noqa: F401  (registers every primitive)
from tapeless.ir.nodes import OUTPUT, Apply, Constant, Graph, Node, Parameter, replace
from tapeless.ir.primitives import PRIMITIVES, Primitive

__all__ = ["OUTPUT", "PRIMITIVES", "Apply", "Constant", "Graph", "Node", "Parameter", "Primitive", "replace"]
