"""`tapeless-ir`: print the IR of a Python function after a stage of the pipeline.

    python -m tapeless.tools.irdump path/to/file.py:func --stage parse
    tapeless-ir path/to/file.py:func --format json
    tapeless-ir path/to/file.py:Outer.method --locations --verify

The file is loaded as a module (its directory on ``sys.path`` while it loads),
``func`` is looked up in it (a dotted path reaches attributes), and the stage
runs on it. ``--format text`` prints `ir.printer.format_graph`; ``--format
json`` prints one JSON object: ``stage``, ``graphs`` (graphs reachable from
the function), ``nodes`` (their `Apply` nodes), ``closures`` (graphs with free
variables), ``primitives`` (primitive name -> number of `Apply` nodes calling
it directly).

Stages are a registry, `STAGES`: each maps a Python function to the root graph
of the IR after that stage. Later layers add theirs (``ad``, ``opt``,
``typed``, ``llvm``) with `register_stage`.

Bad input (a missing file, a missing function, a `TapelessError`) prints one
clean message to stderr and exits with status 2; ``--traceback`` shows the
Python traceback instead, for debugging tapeless itself.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import types
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tapeless.errors import TapelessError
from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Constant, Graph
from tapeless.ir.primitives import Primitive
from tapeless.ir.printer import format_graph

PROG = "tapeless-ir"


@dataclass(frozen=True)
class Stage:
    """A pipeline stage as the dump tool sees it: a function to the root graph after it."""

    name: str
    run: Callable[[Callable[..., Any]], Graph]
    doc: str


#: name -> Stage, in pipeline order.
STAGES: dict[str, Stage] = {}


def register_stage(name: str, doc: str) -> Callable[[Callable[..., Graph]], Callable[..., Graph]]:
    """Decorator adding a stage to `STAGES` (a stage name is registered once)."""

    def register(fn: Callable[..., Graph]) -> Callable[..., Graph]:
        if name in STAGES:
            raise ValueError(f"stage {name!r} registered twice")
        STAGES[name] = Stage(name, fn, doc)
        return fn

    return register


@register_stage("parse", "the front end's graphs (SSA: blocks are graphs, phis parameters)")
def _parse(fn: Callable[..., Any]) -> Graph:
    from tapeless.frontend import parse_function

    return parse_function(fn)


@register_stage("ad", "J(f): the J transform, returning (value, backpropagator closure)")
def _ad(fn: Callable[..., Any]) -> Graph:
    from tapeless.ad import J

    return J(_parse(fn))


def derivative(root: Graph, order: int) -> Graph:
    """The graph of the `order`-th derivative of `root` (grad applied `order` times)."""
    from tapeless.ad import grad_graph

    for _ in range(order):
        root = grad_graph(root, (0,), single=True, with_value=False)
    return root


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


def stats(root: Graph) -> dict[str, Any]:
    """The counts ``--format json`` reports for the program rooted at `root`."""
    a = analyze(root)
    prims: Counter[str] = Counter()
    nodes = 0
    for g in a.graphs:
        for node in a.schedule(g):
            nodes += 1
            fn = node.inputs[0]
            if isinstance(fn, Constant) and isinstance(fn.value, Primitive):
                prims[fn.value.name] += 1
    return {
        "graphs": len(a.graphs),
        "nodes": nodes,
        "closures": sum(1 for g in a.graphs if a.is_closure(g)),
        "primitives": dict(sorted(prims.items())),
    }


def load_function(target: str) -> Callable[..., Any]:
    """``path/to/file.py:name`` -> the function ``name`` of that file."""
    path_text, sep, attr = target.rpartition(":")
    if not sep or not path_text or not attr:
        raise UsageError(f"expected path/to/file.py:function, got {target!r}")
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"no such file: {path_text}")
    module = _load_module(path.resolve())
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{path_text} has no function {attr!r}") from None
    if not isinstance(obj, types.FunctionType):
        raise UsageError(f"{path_text}:{attr} is a {type(obj).__name__}, not a Python function")
    return obj


def _load_module(path: Path) -> types.ModuleType:
    name = f"_tapeless_ir_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module  # inspect and dataclasses look modules up by name
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise UsageError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        sys.modules.pop(name, None)
        raise UsageError(f"importing {path} failed: {type(exc).__name__}: {exc}") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module


def _parser() -> argparse.ArgumentParser:
    stages = "\n".join(f"  {s.name:8} {s.doc}" for s in STAGES.values())
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Print the tapeless IR of a Python function after a pipeline stage.",
        epilog=f"stages:\n{stages}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", help="path/to/file.py:function")
    parser.add_argument("--stage", default="parse", choices=list(STAGES), help="default: parse")
    parser.add_argument("--format", default="text", choices=["text", "json"], help="default: text")
    parser.add_argument("--locations", action="store_true", help="end each line with file:line:col")
    parser.add_argument("--grad", type=int, default=0, metavar="N",
                        help="show the N-th derivative (grad applied N times, wrt argument 0) "
                             "instead of the stage's graph; allowed with --stage parse or ad")
    parser.add_argument("--verify", action="store_true", help="run the IR verifier on the result")
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks of errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tapeless-ir`` and ``python -m tapeless.tools.irdump``."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        fn = load_function(args.target)
        if args.grad < 0:
            raise UsageError("--grad takes a non-negative order")
        if args.grad:
            if args.stage not in ("parse", "ad"):
                raise UsageError("--grad applies to the parse and ad stages")
            root = derivative(_parse(fn), args.grad)
        else:
            root = STAGES[args.stage].run(fn)
        if args.verify:
            from tapeless.ir.verify import verify

            verify(root)
        if args.format == "json":
            head = {"stage": args.stage, **({"grad": args.grad} if args.grad else {})}
            text = json.dumps({**head, **stats(root)}, indent=2)
        else:
            text = format_graph(root, locations=args.locations).rstrip("\n")
    except (UsageError, TapelessError) as exc:
        if args.traceback:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug in tapeless: still no bare traceback by default
        if args.traceback:
            raise
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {exc}\n"
            f"(this is a bug in tapeless; run with --traceback for details)",
            file=sys.stderr,
        )
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
