"""The text and JSON forms of a `Specialization` (``tapeless-ir --stage typed``).

Every `Instance`, in the order the specialization made them (the root
first), prints as its graph does in `ir.printer`, with types::

    instance bprop(f)#2(%a: f64) -> (f64, i64) in J(f) {
      free %J(f).c: f64
      %b = mul(%a, %J(f).c): f64
      %c = %J(f).d(%b): f64  calls g#2
      return %c
    }

The header names the instance, its parameters with their types, its output
type and, for a closure, the instance its free variables are read in (``in
J(f)``); a ``free`` line gives each free variable's type there. Every node
the instance computes ends with ``: type``, and a call of closures names the
instances it calls. Node and graph names are those of `format_graph` on the
specialized program. A type prints as `str` of it (a function value, an
`FnSet`, as its members ``{g, h@J(f)}``); a node the fixpoint never typed
(it is never reached) as ``?``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tapeless.backend.cpu.specialize import Instance, Specialization
from tapeless.ir.nodes import Node
from tapeless.ir.printer import Printer
from tapeless.ir.types import AbstractType


def format_specialization(spec: Specialization, *, locations: bool = False) -> str:
    """The text of every instance of `spec` (see the module docstring); with
    `locations`, lines end with ``  # file.py:line:col`` as in `format_graph`."""
    printer = TypedPrinter(spec, locations=locations)
    return "\n\n".join("\n".join(printer.instance_lines(inst)) for inst in spec) + "\n"


def specialization_json(spec: Specialization) -> list[dict[str, Any]]:
    """One JSON object per instance of `spec`: ``name``, ``graph``, ``context``
    (an instance name or null), ``args`` and ``output`` (types), ``free`` and
    ``types`` (node name -> type, or null where untyped) and ``calls`` (node
    name -> the instances that call of closures reaches), named as in the text."""
    printer = TypedPrinter(spec, locations=False)
    return [printer.instance_json(inst) for inst in spec]


def _type_text(t: AbstractType | None) -> str:
    return "?" if t is None else str(t)


def _type_json(t: AbstractType | None) -> str | None:
    return None if t is None else str(t)


class TypedPrinter(Printer):
    """The `ir.printer` of the specialized program, printing an instance's types."""

    def __init__(self, spec: Specialization, *, locations: bool) -> None:
        super().__init__(spec.root.graph, locations=locations, analysis=spec.analysis)
        self.spec = spec

    def instance_lines(self, inst: Instance) -> Iterator[str]:
        """The lines of `inst` in the text form (see the module docstring)."""
        g = inst.graph
        typed = zip(g.parameters, inst.args, strict=True)
        params = ", ".join(f"{self.ref(p, g)}: {_type_text(t)}" for p, t in typed)
        header = f"instance {inst.name}({params}) -> {_type_text(inst.output)}"
        if inst.context is not None:
            header += f" in {inst.context.name}"
        yield self._line(header + " {", g, [])
        for fv, t in self._free(inst).items():
            yield f"  free {fv}: {_type_text(t)}"
        for node in self.schedule(g):
            text = f"  {self._apply(node, g)}: {_type_text(inst.types.get(node))}"
            callees = inst.calls.get(node)
            if callees:
                text += "  calls " + ", ".join(c.name for c in callees)
            yield self._line(text, node, [])
        yield "  return " + self.ref(g.output, g) if g.has_output else "  <no output>"
        yield "}"

    def instance_json(self, inst: Instance) -> dict[str, Any]:
        """`inst` as `specialization_json` gives it."""
        g = inst.graph
        nodes: list[Node] = [*g.parameters, *self.schedule(g)]
        return {
            "name": inst.name,
            "graph": self.graph_name(g),
            "context": None if inst.context is None else inst.context.name,
            "args": [str(t) for t in inst.args],
            "output": _type_json(inst.output),
            "free": {fv: _type_json(t) for fv, t in self._free(inst).items()},
            "types": {self.ref(n, g): _type_json(inst.types.get(n)) for n in nodes},
            "calls": {self.ref(n, g): [c.name for c in cs] for n, cs in inst.calls.items() if cs},
        }

    def _free(self, inst: Instance) -> dict[str, AbstractType | None]:
        """Each free variable of `inst`'s graph, named as inside it, with its type in the context."""
        g = inst.graph
        return {self.ref(x, g): self.spec.type_of(inst, x) for x in self.spec.free_variables(g)}


__all__ = ["TypedPrinter", "format_specialization", "specialization_json"]
