"""The one error type users see, and its subclasses.

Every `TapelessError` names the construct, carries a `Location` (file, line,
column), shows the source line with a caret under the column, and where it can
says what to write instead. Nothing the user writes should surface as a bare
internal traceback: internal failures are `InternalError`s with the same shape.
"""

from __future__ import annotations

import linecache
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A point in user source: 1-based line, 0-based column (as `ast` has it)."""

    filename: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def source_line(self) -> str:
        return linecache.getline(self.filename, self.line).rstrip("\n")

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.col + 1}"


class TapelessError(Exception):
    """Base class of every error tapeless raises on bad user input."""

    kind = "error"

    def __init__(
        self,
        message: str,
        loc: Location | None = None,
        *,
        construct: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.loc = loc
        self.construct = construct
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        head = self.message
        if self.construct:
            head = f"{self.construct}: {head}"
        if self.loc is None:
            text = head
        else:
            text = f"{self.loc}: {self.kind}: {head}"
            line = self.loc.source_line()
            if line:
                # Keep the user's indentation so the caret lines up.
                caret_end = self.loc.end_col if self.loc.end_line == self.loc.line else None
                width = max(1, (caret_end or self.loc.col + 1) - self.loc.col)
                text += f"\n    {line}\n    {' ' * self.loc.col}{'^' * width}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UnsupportedSyntax(TapelessError):
    """A Python construct outside the subset tapeless compiles."""

    kind = "unsupported syntax"


class TapelessNameError(TapelessError, NameError):
    """A name that cannot be resolved, or a local read before assignment."""

    kind = "name error"


class TapelessUnboundLocalError(TapelessNameError, UnboundLocalError):
    """A local variable read on a path where it was never assigned."""

    kind = "unbound local"


class TapelessTypeError(TapelessError, TypeError):
    """Values of the wrong type reach an operation (found when it runs or is specialized)."""

    kind = "type error"


class TypeInferenceError(TapelessTypeError):
    """The specializer cannot give a program a monomorphic type."""

    kind = "type inference error"


class ArityError(TapelessTypeError):
    """A function is called with the wrong number of arguments."""

    kind = "arity error"


class TapelessShapeError(TapelessError, ValueError):
    """Array shapes that do not fit together: a broadcast or a matrix product."""

    kind = "shape error"


class InternalError(TapelessError):
    """An invariant of the compiler itself broke (a bug in tapeless, not in user code)."""

    kind = "internal error"


class VerificationError(InternalError):
    """The IR verifier found a broken invariant."""

    kind = "IR verification error"
