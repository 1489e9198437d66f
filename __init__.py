"""tapeless: a compiler toolchain for differentiable Python.

    import tapeless as tl

    @tl.compile
    def f(x, y): ...

See README.md and docs/architecture.md.
"""

from tapeless.api import CompiledFunction, GradFunction, compile, grad, value_and_grad
from tapeless.errors import (
    TapelessError,
    TapelessNameError,
    TapelessTypeError,
    TapelessUnboundLocalError,
    TypeInferenceError,
    UnsupportedSyntax,
)
from tapeless.ir.prims.ad import stop_gradient

__version__ = "0.1.0"

__all__ = [
    "CompiledFunction",
    "GradFunction",
    "TapelessError",
    "TapelessNameError",
    "TapelessTypeError",
    "TapelessUnboundLocalError",
    "TypeInferenceError",
    "UnsupportedSyntax",
    "__version__",
    "compile",
    "grad",
    "stop_gradient",
    "value_and_grad",
]
