"""The `Primitive` record and the registry of all primitives.

A primitive is declared once, in one block of one module under `ir/prims/`,
with everything that knows about it next to it: name, signature, Python
implementation (used by the interpreter and by constant folding), type rule,
the Python callables it stands for in user code (`math.sin`, `np.exp`, ...),
and, as later layers arrive, its backpropagator, JVP rule and lowerings,
attached with `Primitive.rule(kind)`. `tests/ir/test_primitives.py` fails when
a primitive lacks a rule that its kind needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tapeless.ir.types import AbstractType

TypeRule = Callable[..., AbstractType]


@dataclass(frozen=True, eq=False, slots=True)
class Primitive:
    """One primitive operation of the IR.

    `params` names the positional parameters; a trailing run may have
    defaults in `defaults` (Python values), which the front end fills in for
    keyword or omitted arguments. `variadic` primitives (``make_tuple``) take
    any number of arguments. `implements` lists the Python objects that the
    front end lowers to this primitive when user code calls them.
    """

    name: str
    impl: Callable[..., Any]
    infer: TypeRule
    params: tuple[str, ...]
    defaults: tuple[Any, ...] = ()
    variadic: bool = False
    implements: tuple[Any, ...] = ()
    differentiable: bool = True
    doc: str = ""
    rules: dict[str, Any] = field(default_factory=dict)

    @property
    def arity(self) -> int:
        return len(self.params)

    def rule(self, kind: str) -> Callable[[Any], Any]:
        """Decorator attaching a rule of `kind` (``"bprop"``, ``"jvp"``, ``"llvm"``...)."""

        def register(fn: Any) -> Any:
            self.rules[kind] = fn
            return fn

        return register

    def __call__(self, *args: Any) -> Any:
        return self.impl(*args)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    def __str__(self) -> str:
        return self.name


#: name -> Primitive, filled by `primitive()` as the `ir.prims` modules load.
PRIMITIVES: dict[str, Primitive] = {}
#: id(python object) -> (object, Primitive), for the front end's resolver.
_IMPLEMENTS: dict[int, tuple[Any, Primitive]] = {}


def primitive(
    name: str,
    impl: Callable[..., Any],
    infer: TypeRule,
    params: tuple[str, ...],
    *,
    defaults: tuple[Any, ...] = (),
    variadic: bool = False,
    implements: tuple[Any, ...] = (),
    differentiable: bool = True,
    doc: str = "",
) -> Primitive:
    """Declare and register a primitive."""
    if name in PRIMITIVES:
        raise ValueError(f"primitive {name!r} declared twice")
    p = Primitive(
        name,
        impl,
        infer,
        params,
        defaults,
        variadic,
        implements,
        differentiable,
        doc or (impl.__doc__ or "").strip(),
    )
    PRIMITIVES[name] = p
    for obj in implements:
        _IMPLEMENTS[id(obj)] = (obj, p)
    return p


def primitive_for(obj: Any) -> Primitive | None:
    """The primitive that user code calling `obj` lowers to, if any."""
    hit = _IMPLEMENTS.get(id(obj))
    return hit[1] if hit is not None and hit[0] is obj else None


def get(name: str) -> Primitive:
    return PRIMITIVES[name]
