"""tapeless: a compiler toolchain for differentiable Python.

    import tapeless as tl

    @tl.compile
    def f(x, y): ...

See README.md and docs/architecture.md.
"""

from tapeless.api import CompiledFunction, compile
from tapeless.errors import (
    TapelessError,
    TapelessNameError,
    TapelessTypeError,
    TypeInferenceError,
    UnsupportedSyntax,
)

__version__ = "0.1.0"

__all__ = [
    "CompiledFunction",
    "TapelessError",
    "TapelessNameError",
    "TapelessTypeError",
    "TypeInferenceError",
    "UnsupportedSyntax",
    "__version__",
    "compile",
]
