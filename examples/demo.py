"""tapeless demo: a program with a loop, a closure and a recursion is parsed to
the graph IR, printed, run by the reference interpreter, and compared with
CPython.

    make demo                         # or: .venv/bin/python examples/demo.py
    .venv/bin/tapeless-ir examples/demo.py:demo --stage parse --format json
"""

from __future__ import annotations

import inspect
import math

import tapeless
from tapeless.frontend import parse_function
from tapeless.ir.printer import format_graph


def power(x, n):
    """Recursion: exponentiation by squaring."""
    if n == 0:
        return 1.0
    if n % 2 == 0:
        h = power(x, n // 2)
        return h * h
    return x * power(x, n - 1)


def demo(x, n):
    """A loop whose body calls a closure, which reads `scale` assigned after it."""

    def term(k):
        return power(x, k) / scale + math.sin(k * x)

    scale = float(n) + 1.0
    total = 0.0
    for k in range(n):
        if k % 3 == 2:
            continue
        total += term(k)
    return total, n > 3 and total > 0.0


def main() -> None:
    compile_ = getattr(tapeless, "compile", None)
    if compile_ is None:  # until `compile` is exported at the top level
        from tapeless.api import compile as compile_

    print("# source\n")
    print(inspect.getsource(power))
    print(inspect.getsource(demo))

    print("# graph IR (front end output)\n")
    print(format_graph(parse_function(demo)))

    print("\n# run: reference interpreter vs CPython\n")
    compiled = compile_(demo, backend="interp")
    ok = True
    for args in [(0.5, 0), (1.25, 4), (-0.75, 10), (2.0, 25)]:
        got, want = compiled(*args), demo(*args)
        same = got == want and type(got[0]) is type(want[0]) and type(got[1]) is type(want[1])
        ok &= same
        print(
            f"demo{args}\n  tapeless: {got!r}\n  CPython:  {want!r}  {'same' if same else 'DIFFERENT'}"
        )
    if not ok:
        raise SystemExit("the interpreter disagrees with CPython")
    print("\nall results identical to CPython")


if __name__ == "__main__":
    main()
