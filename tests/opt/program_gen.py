"""Random programs of the tapeless subset, as source text, for property tests.

`programs()` is a hypothesis strategy of module sources defining one function
``f(x, y)`` of two floats that returns a float. Its body is straight-line
code over ``+ - * /`` (every division guarded: ``a / (b * b + 1.0)``),
``math.sin``/``math.cos`` and ``math.exp(math.sin(...))``, tuples built and
unpacked, ``if``/``else`` on comparisons, ``while`` loops over a bounded
integer counter, and nested ``def`` closures that capture variables and are
called at once; branches and loops nest two deep.

Every read name is bound on every path that reaches it: a name bound inside a
nested block is only read inside that block, and loop and branch bodies may
rebind the enclosing block's names, except the names a closure defined in a
loop body may capture, which are never rebound after it (the front end
refuses that, although the closure is called at once). Counters are integers and never read
outside their loop header, so every other value is a float.

`load(source)` turns a source into the function: tapeless reads a function's
source from its file, so the text is written to a file in a temporary folder
and imported from there (once per distinct text).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

#: Float literals the programs use.
LITERALS = ("0.5", "1.5", "2.0", "-0.75", "3.0")
#: Binary forms; the division's denominator is at least 1 (or NaN).
BINARY = ("({a} + {b})", "({a} - {b})", "({a} * {b})", "({a} / ({b} * {b} + 1.0))")
#: Unary forms, bounded where an unbounded argument could overflow.
UNARY = ("math.sin({a})", "math.cos({a})", "math.exp(math.sin({a}))", "(-{a})")
COMPARISONS = ("<", ">", "<=", ">=")
#: How deep branches and loops nest.
MAX_DEPTH = 2
INDENT = "    "


class _Writer:
    """Draws the statements of one program; names are numbered to stay fresh."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw
        self.count = 0
        self.in_loop = False
        #: Names a closure defined in a loop body may capture: the front end refuses
        #: to see them rebound anywhere after it (late-bound closure variable).
        self.frozen: set[str] = set()

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def expr(self, names: list[str], depth: int = 2) -> str:
        """An expression over `names` (and literals) at most `depth` operators deep."""
        kind = self.draw(st.sampled_from(("leaf", "binary", "unary"))) if depth else "leaf"
        if kind == "leaf":
            return self.draw(st.sampled_from(names) | st.sampled_from(LITERALS))
        if kind == "unary":
            return self.draw(st.sampled_from(UNARY)).format(a=self.expr(names, depth - 1))
        form = self.draw(st.sampled_from(BINARY))
        return form.format(a=self.expr(names, depth - 1), b=self.expr(names, depth - 1))

    def block(self, names: list[str], indent: str, depth: int) -> list[str]:
        """Statements that may rebind `names` and bind new ones, which `names` gains.

        A nested block (`depth` > 0: a branch or loop body) has at least one
        statement; blocks nest at most `MAX_DEPTH` deep.
        """
        kinds = ("assign", "unpack", "closure") + (("branch", "loop") if depth < MAX_DEPTH else ())
        count = self.draw(st.integers(1, 2) if depth else st.integers(0, 5))
        lines: list[str] = []
        for _ in range(count):
            kind = self.draw(st.sampled_from(kinds))
            lines += getattr(self, kind)(names, indent, depth)
        return lines

    def target(self, names: list[str]) -> str:
        """An existing name to rebind (never a parameter) or a fresh one."""
        rebindable = [n for n in names if n not in ("x", "y") and n not in self.frozen]
        if rebindable and self.draw(st.booleans()):
            return self.draw(st.sampled_from(rebindable))
        return self.fresh("v")

    def bind(self, names: list[str], target: str) -> None:
        if target not in names:
            names.append(target)

    def assign(self, names: list[str], indent: str, depth: int) -> list[str]:
        target = self.target(names)
        line = f"{indent}{target} = {self.expr(names)}"
        self.bind(names, target)
        return [line]

    def unpack(self, names: list[str], indent: str, depth: int) -> list[str]:
        pair = self.fresh("p")
        first, second = self.target(names), self.target(names)
        if first == second:
            second = self.fresh("v")
        lines = [
            f"{indent}{pair} = ({self.expr(names, 1)}, {self.expr(names, 1)})",
            f"{indent}{first}, {second} = {pair}",
        ]
        self.bind(names, first)
        self.bind(names, second)
        return lines

    def closure(self, names: list[str], indent: str, depth: int) -> list[str]:
        """A def capturing `names`, optionally with an inner def, called at once."""
        fn, param, local = self.fresh("f"), self.fresh("s"), self.fresh("w")
        inside = [*names, param]
        inner = indent + INDENT
        lines = [f"{indent}def {fn}({param}):", f"{inner}{local} = {self.expr(inside)}"]
        if self.draw(st.booleans()):
            sub, sub_param = self.fresh("g"), self.fresh("s")
            deeper = [*inside, local, sub_param]
            lines += [
                f"{inner}def {sub}({sub_param}):",
                f"{inner}{INDENT}return {self.expr(deeper)}",
                f"{inner}{local} = {sub}({self.expr([*inside, local], 1)})",
            ]
        lines.append(f"{inner}return {self.expr([*inside, local])}")
        if self.in_loop:
            self.frozen.update(names)
        call = f"{fn}({self.expr(names, 1)})"
        if self.draw(st.booleans()):
            call += f" * {fn}({self.expr(names, 1)})"
        target = self.target(names)
        lines.append(f"{indent}{target} = {call}")
        self.bind(names, target)
        return lines

    def nested_block(self, names: list[str], indent: str, depth: int) -> list[str]:
        """A branch or loop body: names it binds fresh stay inside it."""
        return self.block(list(names), indent + INDENT, depth + 1)

    def branch(self, names: list[str], indent: str, depth: int) -> list[str]:
        op = self.draw(st.sampled_from(COMPARISONS))
        lines = [f"{indent}if {self.expr(names, 1)} {op} {self.expr(names, 1)}:"]
        lines += self.nested_block(names, indent, depth)
        if self.draw(st.booleans()):
            lines += [f"{indent}else:", *self.nested_block(names, indent, depth)]
        return lines

    def loop(self, names: list[str], indent: str, depth: int) -> list[str]:
        counter = self.fresh("i")
        trips = self.draw(st.integers(1, 3))
        outer, self.in_loop = self.in_loop, True
        body = self.nested_block(names, indent, depth)
        self.in_loop = outer
        return [
            f"{indent}{counter} = 0",
            f"{indent}while {counter} < {trips}:",
            *body,
            f"{indent}{INDENT}{counter} += 1",
        ]


@st.composite
def programs(draw: Callable[[st.SearchStrategy[Any]], Any]) -> str:
    """The source of a module defining ``f(x, y)`` (see the module docstring)."""
    writer = _Writer(draw)
    names = ["x", "y"]
    body = writer.block(names, INDENT, 0)
    result = f"{names[-1]} + {writer.expr(names)}"
    lines = ["import math", "", "", "def f(x, y):", *body, f"{INDENT}return {result}", ""]
    return "\n".join(lines)


_FOLDER: Path | None = None
_LOADED: dict[str, Callable[..., Any]] = {}


def _folder() -> Path:
    global _FOLDER
    if _FOLDER is None:
        _FOLDER = Path(tempfile.mkdtemp(prefix="tapeless_gen_"))
        atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
    return _FOLDER


def load(source: str) -> Callable[..., Any]:
    """The function ``f`` of `source`, imported from a file holding the text."""
    if source not in _LOADED:
        name = "tapeless_gen_" + hashlib.sha1(source.encode()).hexdigest()[:16]
        path = _folder() / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _LOADED[source] = module.f
    return _LOADED[source]
