"""How fast the optimizer is on the gradient of a long straight-line function.

    .venv/bin/python benchmarks/opt_speed.py            # 200 operations, 3 inputs
    .venv/bin/python benchmarks/opt_speed.py --ops 1000 --inputs 2

The forward function is generated source: a chain of exactly ``--ops``
primitive applications (``+ - *`` alternating with ``math.sin``,
``math.cos``, ``math.exp``) over the float inputs, every value bounded so
neither the function nor its gradient overflows. The benchmark times the AD transform
(`grad_graph` over every input), then `optimize` of the gradient graph with
``arg_types`` (one ``F64`` per input) and without, best of ``--repeat`` runs
after one warm-up; it prints node counts (as ``tapeless-ir --format json``
counts them), the time per pass of the typed run, and whether the optimized
gradient gives the unoptimized one's result bit for bit.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tapeless.ad.grad import grad_graph
from tapeless.backend.interp import interpret
from tapeless.frontend import parse_function
from tapeless.ir.nodes import Graph
from tapeless.ir.types import F64
from tapeless.opt import clone_program, optimize
from tapeless.tools.irdump import stats

#: Binary operators, each with the bound of its result's magnitude from its operands' bounds.
BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a + b, "*": lambda a, b: a * b}
UNARY = ("math.sin", "math.cos", "math.exp")


def chain_source(ops: int, inputs: int, seed: int = 0) -> str:
    """A module defining ``f(x0, ..., x{inputs-1})`` whose body applies `ops` primitives.

    Binary and unary operations alternate; a binary one combines the latest
    value with an input or an earlier value, so the result (the last value)
    needs every operation. A bound on every value's magnitude (inputs within
    [-1, 1]) is tracked: ``math.exp`` only applies to values within [-2, 2]
    and the earlier operand of a binary one is within [-e, e], so no value
    exceeds e^3 in magnitude.
    """
    rng = random.Random(seed)
    params = [f"x{i}" for i in range(inputs)]
    bound = dict.fromkeys(params, 1.0)
    lines = ["import math", "", "", f"def f({', '.join(params)}):"]
    latest = params[0]
    for k in range(ops):
        name = f"v{k}"
        if k % 2 == 0:
            op = rng.choice(list(BINARY))
            other = rng.choice([n for n, b in bound.items() if b <= math.e])
            lines.append(f"    {name} = {latest} {op} {other}")
            bound[name] = BINARY[op](bound[latest], bound[other])
        else:
            fn = rng.choice(UNARY if bound[latest] <= 2.0 else UNARY[:2])
            lines.append(f"    {name} = {fn}({latest})")
            bound[name] = math.exp(bound[latest]) if fn == "math.exp" else 1.0
        latest = name
    lines += [f"    return {latest}", ""]
    return "\n".join(lines)


def load_function(source: str, folder: Path) -> Callable[..., Any]:
    """``f`` of `source`, imported from a file in `folder` (tapeless reads source files)."""
    path = folder / "opt_speed_chain.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module.f


def best_time(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The shortest of `repeat` timed calls of `run` after one untimed warm-up, and its result."""
    result = run()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def pass_times(graph: Graph, arg_types: tuple[Any, ...]) -> tuple[dict[str, float], int]:
    """Seconds spent in each pass of one typed `optimize` run, and its number of rounds."""
    spent: dict[str, float] = {}
    rounds = 0
    last = time.perf_counter()

    def trace(name: str, round_: int, program: Graph, changed: bool) -> None:
        nonlocal last, rounds
        now = time.perf_counter()
        spent[name] = spent.get(name, 0.0) + now - last
        rounds = max(rounds, round_)
        last = now

    optimize(graph, arg_types=arg_types, trace=trace)
    return spent, rounds


def same_bits(a: Any, b: Any) -> bool:
    return repr(a) == repr(b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200, help="primitive operations (default 200)")
    parser.add_argument("--inputs", type=int, default=3, help="float inputs (default 3)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="operation choice seed (default 0)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="opt_speed_") as folder:
        fn = load_function(chain_source(args.ops, args.inputs, args.seed), Path(folder))
        forward = parse_function(fn)
    forward_nodes = stats(forward)["nodes"]
    if forward_nodes != args.ops:
        print(f"warning: the forward graph has {forward_nodes} nodes, not {args.ops}")
    argnums = tuple(range(args.inputs))
    arg_types = (F64,) * args.inputs

    ad_time, grad = best_time(
        lambda: grad_graph(clone_program(forward), argnums, single=False, with_value=False),
        args.repeat,
    )
    typed_time, typed = best_time(lambda: optimize(grad, arg_types=arg_types), args.repeat)
    untyped_time, untyped = best_time(lambda: optimize(grad), args.repeat)

    point = tuple(0.1 + 0.2 * i for i in range(args.inputs))
    expected = interpret(grad, *point)
    rows = [
        ("AD transform (grad_graph)", ad_time, stats(grad)["nodes"], "-"),
        ("optimize, arg_types=F64", typed_time, stats(typed)["nodes"],
         same_bits(expected, interpret(typed, *point))),
        ("optimize, untyped", untyped_time, stats(untyped)["nodes"],
         same_bits(expected, interpret(untyped, *point))),
    ]
    print(f"forward: {args.ops} operations over {args.inputs} inputs "
          f"({forward_nodes} nodes); gradient: {stats(grad)['nodes']} nodes; "
          f"best of {args.repeat} after a warm-up")
    print()
    print(f"| {'step':26} | {'time (ms)':>9} | {'nodes after':>11} | same result |")
    print(f"|{'-' * 28}|{'-' * 10}:|{'-' * 12}:|{'-' * 13}|")
    for step, seconds, nodes, same in rows:
        print(f"| {step:26} | {seconds * 1e3:9.1f} | {nodes:11} | {same!s:11} |")
    spent, rounds = pass_times(grad, arg_types)
    print()
    print(f"typed optimize: {rounds} rounds; time per pass (ms, the first includes the copy): "
          + ", ".join(f"{name} {seconds * 1e3:.1f}" for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
