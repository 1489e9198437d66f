"""`tapeless-ir`: print the IR of a Python function after a stage of the pipeline.

    python -m tapeless.tools.irdump path/to/file.py:func --stage parse
    tapeless-ir path/to/file.py:func --format json
    tapeless-ir path/to/file.py:Outer.method --locations --verify
    tapeless-ir path/to/file.py:func --stage opt --grad 1 --passes inline,dce
    tapeless-ir path/to/file.py:func --stage opt --types 'f64[1],(i64,bool)' --print-between-passes
    tapeless-ir path/to/file.py:func --stage typed --grad 1 --types f64,i64
    tapeless-ir path/to/file.py:func --stage llvm --llvm-optimized

The file is loaded as a module (its directory on ``sys.path`` while it loads),
``func`` is looked up in it (a dotted path reaches attributes), and the stage
runs on it. For the stages that give graphs, ``--format text`` prints
`ir.printer.format_graph`; ``--format json`` prints one JSON object: ``stage``, ``graphs`` (graphs reachable from
the function), ``nodes`` (their live `Apply` nodes), ``closures`` (graphs with
free variables), ``env_ops`` (``env_getitem``/``env_setitem`` nodes, AD's
gradient environments), ``tuples_unpacked`` (``make_tuple`` nodes used only
by ``getitem`` at constant indices: tuples built only to be taken apart),
``primitives`` (primitive name -> number of `Apply` nodes calling it
directly); with ``--grad N``, ``grad``; for an optimized program,
``arg_types`` (the types it is specialized to).

Stages are a registry, `STAGES`: each maps a Python function and the stage
options (`Options`) to its result (the root graph of the IR after that stage;
for the native stages, the specialization or the LLVM module), and names the
options it takes (any other is a usage error). Later layers add theirs with
`register_stage`.

- ``parse``: the front end's graphs; ``ad``: the J transform. ``--grad N``
  shows the N-th derivative (grad applied N times, with respect to argument
  0) instead of either.
- ``opt``: the optimized copy (`tapeless.opt.optimize`) of the parse stage's
  graph, or of the N-th derivative with ``--grad N``. ``--passes a,b`` picks
  the passes (default `tapeless.opt.DEFAULT`, repeated to a fixed point).
  ``--types T1,T2`` gives one argument type per parameter of the function:
  ``f64``, ``i64``, ``bool``, ``none``, ``any`` (unknown), arrays ``f64[2]``
  (dtype and rank), tuples ``(f64,(i64,bool))``; by default every parameter is
  ``f64``, since derivatives are usually taken at floats.
  ``--print-between-passes`` prints, before the result, a line ``;; after
  PASS (round R): N nodes, changed`` (or ``unchanged``) for every pass run,
  followed by the program when the pass changed it; in JSON, a ``passes``
  list of ``{"pass", "round", "changed", "nodes"}`` instead.
- ``typed``: what the native CPU backend (`backend.cpu.compiler.compile_graph`)
  makes of the function (or its N-th derivative) called with ``--types``:
  every instance of its specialization with the type of each parameter and
  node, its output type and the context a closure reads its free variables in
  (`backend.cpu.show`). In JSON: ``arg_types``, ``output`` and ``instances``.
- ``llvm``: the LLVM IR of that compiled module, as tapeless generates it;
  with ``--llvm-optimized``, after LLVM's O3 pipeline (what the JIT compiles).
  In JSON: ``arg_types``, ``output``, ``optimized``, ``functions`` (those the
  module defines) and ``ir``.
  A program native code refuses (an ``if`` giving an int on one path and a
  float on the other, ...) is a `TapelessError` in both native stages.

``--locations`` applies to the stages that print graphs (not ``llvm``).

Bad input (a missing file, a missing function, a bad option, a
`TapelessError`) prints one clean message to stderr and exits with status 2;
``--traceback`` shows the Python traceback instead, for debugging tapeless
itself.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import re
import sys
import types
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from tapeless.backend.cpu.specialize import Specialization
from tapeless.errors import TapelessError
from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node
from tapeless.ir.printer import format_graph
from tapeless.ir.types import BOOL, F64, I64, NONE, SCALAR_KINDS, AbstractType, ArrayType, TupleType
from tapeless.opt import DEFAULT, PASSES, Trace, optimize
from tapeless.opt.algebra import prim_of
from tapeless.opt.infer import TOP

if TYPE_CHECKING:
    from tapeless.backend.cpu.compiler import Native

PROG = "tapeless-ir"


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


@dataclass(frozen=True)
class Options:
    """The stage options of the command line; a stage reads those it takes."""

    grad: int = 0  # --grad: the order of the derivative shown (0: the function itself)
    passes: tuple[str, ...] | None = None  # --passes: None is the optimizer's default
    types: tuple[AbstractType, ...] | None = None  # --types: None is f64 for every parameter
    trace: Trace | None = None  # --print-between-passes: sees every pass `optimize` runs
    llvm_optimized: bool = False  # --llvm-optimized: LLVM IR after LLVM's own pipeline


@dataclass(frozen=True)
class LLVMModule:
    """The llvm stage's result: the LLVM IR compiled for `specialization`, as tapeless
    generated it or as LLVM `optimized` it."""

    specialization: Specialization
    ir: str
    optimized: bool


#: What a stage gives: the root graph after it, or a native stage's result.
Result: TypeAlias = "Graph | Specialization | LLVMModule"
#: What a stage does: the function and the options to its result.
StageFn = Callable[[Callable[..., Any], Options], Result]
_Fn = TypeVar("_Fn", bound=StageFn)


@dataclass(frozen=True)
class Stage:
    """A pipeline stage as the dump tool sees it: a function to the root graph after it.

    `flags` are the stage options (``--grad``, ...) it takes.
    """

    name: str
    run: StageFn
    doc: str
    flags: tuple[str, ...] = ()


#: name -> Stage, in pipeline order.
STAGES: dict[str, Stage] = {}


def register_stage(name: str, doc: str, flags: Sequence[str] = ()) -> Callable[[_Fn], _Fn]:
    """Decorator adding a stage that takes the options `flags` to `STAGES` (once per name)."""

    def register(fn: _Fn) -> _Fn:
        if name in STAGES:
            raise ValueError(f"stage {name!r} registered twice")
        STAGES[name] = Stage(name, fn, doc, tuple(flags))
        return fn

    return register


@register_stage(
    "parse", "the front end's graphs (SSA: blocks are graphs, phis parameters)", ["--grad", "--locations"]
)
def _parse(fn: Callable[..., Any], options: Options) -> Graph:
    from tapeless.frontend import parse_function

    return derivative(parse_function(fn), options.grad)


@register_stage(
    "ad", "J(f): the J transform, returning (value, backpropagator closure)", ["--grad", "--locations"]
)
def _ad(fn: Callable[..., Any], options: Options) -> Graph:
    from tapeless.ad import J

    return _parse(fn, options) if options.grad else J(_parse(fn, options))


@register_stage(
    "opt",
    "the optimized parse graph (or N-th derivative), specialized to --types",
    ["--grad", "--passes", "--types", "--print-between-passes", "--locations"],
)
def _opt(fn: Callable[..., Any], options: Options) -> Graph:
    root = _parse(fn, options)
    passes = options.passes if options.passes is not None else DEFAULT
    return optimize(root, passes, arg_types=_arg_types(root, options), trace=options.trace)


@register_stage(
    "typed",
    "the native backend's specialized graphs for --types, every node with its type",
    ["--grad", "--types", "--locations"],
)
def _typed(fn: Callable[..., Any], options: Options) -> Specialization:
    return _native(fn, options).specialization


@register_stage(
    "llvm",
    "the LLVM IR the native backend generates for --types (LLVM's O3 output with --llvm-optimized)",
    ["--grad", "--types", "--llvm-optimized"],
)
def _llvm(fn: Callable[..., Any], options: Options) -> LLVMModule:
    from tapeless.backend.cpu.jit import optimized_ir

    native = _native(fn, options)
    ir = optimized_ir(native.llvm_ir) if options.llvm_optimized else native.llvm_ir
    return LLVMModule(native.specialization, ir, options.llvm_optimized)


def _native(fn: Callable[..., Any], options: Options) -> Native:
    """The native backend's compiled module of the parse stage's graph, for --types."""
    from tapeless.backend.cpu.compiler import compile_graph

    root = _parse(fn, options)
    return compile_graph(root, _arg_types(root, options))


def _arg_types(root: Graph, options: Options) -> tuple[AbstractType, ...]:
    """The ``--types`` of `root`'s parameters (f64 each by default), one per parameter."""
    found = options.types if options.types is not None else (F64,) * len(root.parameters)
    if len(found) != len(root.parameters):
        raise UsageError(
            f"--types needs one type per parameter of {root.name}: "
            f"{len(root.parameters)} expected, {len(found)} given"
        )
    return found


def derivative(root: Graph, order: int) -> Graph:
    """The graph of the `order`-th derivative of `root` (grad applied `order` times)."""
    from tapeless.ad import grad_graph

    for _ in range(order):
        root = grad_graph(root, (0,), single=True, with_value=False)
    return root


def _stages_taking(flag: str) -> str:
    """``the parse and ad stages``: the stages that take the option `flag`."""
    names = [s.name for s in STAGES.values() if flag in s.flags]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"the {listed} stage" + ("s" if len(names) > 1 else "")


# -- option values ------------------------------------------------------------


def parse_passes(text: str) -> tuple[str, ...]:
    """``inline,dce`` -> the pass names, checked against `tapeless.opt.PASSES`."""
    names = tuple(name.strip() for name in text.split(","))
    for name in names:
        if name not in PASSES:
            raise UsageError(f"unknown pass {name!r} in --passes; known passes: {', '.join(PASSES)}")
    return names


#: The types ``--types`` names by a word; ``any`` is unknown.
_NAMED_TYPES: dict[str, AbstractType] = {"f64": F64, "i64": I64, "bool": BOOL, "none": NONE, "any": TOP}


def parse_types(text: str) -> tuple[AbstractType, ...]:
    """The abstract types that ``--types`` text names, in order (`UsageError` if malformed).

    ``types := type (',' type)*``, where a type is ``f64``, ``i64``, ``bool``,
    ``none``, ``any``, an array ``KIND[NDIM]`` or a tuple ``(type, ...)``
    (``()`` is empty, a trailing comma is allowed); spaces are ignored.
    """
    tokens = deque(re.findall(r"\w+|\S", text))
    found = [_parse_type(tokens, text)]
    while _accept(tokens, ","):
        found.append(_parse_type(tokens, text))
    if tokens:
        raise _type_error(text, tokens, "',' between types")
    return tuple(found)


def _parse_type(tokens: deque[str], text: str) -> AbstractType:
    if _accept(tokens, "("):
        elements: list[AbstractType] = []
        while not _accept(tokens, ")"):
            elements.append(_parse_type(tokens, text))
            if not _accept(tokens, ","):
                _expect(tokens, ")", text)
                break
        return TupleType(tuple(elements))
    name = tokens[0] if tokens else ""
    if name in SCALAR_KINDS and len(tokens) > 1 and tokens[1] == "[":
        tokens.popleft()
        tokens.popleft()
        if not (tokens and tokens[0].isdigit()):
            raise _type_error(text, tokens, "the number of dimensions")
        ndim = int(tokens.popleft())
        _expect(tokens, "]", text)
        return ArrayType(name, ndim)
    if name in _NAMED_TYPES:
        tokens.popleft()
        return _NAMED_TYPES[name]
    raise _type_error(text, tokens, f"a type ({', '.join(_NAMED_TYPES)}, f64[N] or (...))")


def _accept(tokens: deque[str], token: str) -> bool:
    if tokens and tokens[0] == token:
        tokens.popleft()
        return True
    return False


def _expect(tokens: deque[str], token: str, text: str) -> None:
    if not _accept(tokens, token):
        raise _type_error(text, tokens, repr(token))


def _type_error(text: str, tokens: deque[str], expected: str) -> UsageError:
    found = repr(tokens[0]) if tokens else "the end"
    return UsageError(f"bad --types {text!r}: expected {expected}, found {found}")


def format_type(t: AbstractType) -> str:
    """`t` as ``--types`` text: `parse_types` of it gives `t` back."""
    if isinstance(t, TupleType):
        inner = ",".join(format_type(e) for e in t.elements)
        return f"({inner}{',' if len(t.elements) == 1 else ''})"
    if isinstance(t, ArrayType):
        return f"{t.dtype}[{t.ndim}]"
    for name, named in _NAMED_TYPES.items():
        if t == named:
            return name
    return str(t)  # outside the language (a scalar with its value, ...)


# -- counts ---------------------------------------------------------------------


def _applies(a: Analysis) -> Iterator[Apply]:
    """The live `Apply` nodes of every graph of `a`, as scheduled."""
    for g in a.graphs:
        yield from a.schedule(g)


def node_count(root: Graph) -> int:
    """The ``nodes`` of `stats`: live `Apply` nodes of the program rooted at `root`."""
    return sum(1 for _ in _applies(analyze(root)))


def stats(root: Graph) -> dict[str, Any]:
    """The counts ``--format json`` reports for the program rooted at `root`."""
    a = analyze(root)
    applies = list(_applies(a))
    prims = Counter(name for node in applies if (name := prim_of(node)) is not None)
    return {
        "graphs": len(a.graphs),
        "nodes": len(applies),
        "closures": sum(1 for g in a.graphs if a.is_closure(g)),
        "env_ops": prims["env_getitem"] + prims["env_setitem"],
        "tuples_unpacked": _tuples_unpacked(a, applies),
        "primitives": dict(sorted(prims.items())),
    }


def _tuples_unpacked(a: Analysis, applies: list[Apply]) -> int:
    """The `make_tuple` nodes among `applies` whose every live use (a live `Apply`
    or the output of a graph of `a`) is a `getitem` of it at a constant int index."""
    live: set[Apply | Graph] = {*applies, *a.graphs}

    def unpacked(t: Node) -> bool:
        uses = [(user, i) for user, i in t.uses if user in live]
        return bool(uses) and all(_constant_getitem(user, i) for user, i in uses)

    return sum(1 for node in applies if prim_of(node) == "make_tuple" and unpacked(node))


def _constant_getitem(user: Apply | Graph, index: int) -> bool:
    """`user` reads its input `index` as ``getitem(that, constant int)``."""
    if not (isinstance(user, Apply) and index == 1 and prim_of(user) == "getitem"):
        return False
    key = user.inputs[2]
    return isinstance(key, Constant) and type(key.value) is int


class PassLog:
    """The `optimize` trace of ``--print-between-passes``: a record per pass run,
    and the text lines that show it (the program after each pass that changed it)."""

    def __init__(self, *, locations: bool) -> None:
        self.records: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self._locations = locations

    def __call__(self, name: str, round_: int, program: Graph, changed: bool) -> None:
        nodes = node_count(program)
        self.records.append({"pass": name, "round": round_, "changed": changed, "nodes": nodes})
        status = "changed" if changed else "unchanged"
        self.lines.append(f";; after {name} (round {round_}): {nodes} nodes, {status}")
        if changed:
            self.lines.append(format_graph(program, locations=self._locations).rstrip("\n"))


# -- command line -----------------------------------------------------------------


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
    parser.add_argument("--locations", action="store_true",
                        help=f"end each line with file:line:col; for {_stages_taking('--locations')}")
    parser.add_argument("--grad", type=int, default=0, metavar="N",
                        help="the N-th derivative (grad applied N times, wrt argument 0) instead "
                             f"of the function; for {_stages_taking('--grad')}")
    parser.add_argument("--passes", metavar="P1,P2,...",
                        help="the optimizer passes, in order (default: the optimizer's default); "
                             f"for {_stages_taking('--passes')}")
    parser.add_argument("--types", metavar="T1,T2,...",
                        help="one argument type per parameter: f64, i64, bool, none, any, f64[NDIM], "
                             f"(T,...) (default: f64 each); for {_stages_taking('--types')}")
    parser.add_argument("--print-between-passes", action="store_true",
                        help="show every pass run, and the program after each that changed it; "
                             f"for {_stages_taking('--print-between-passes')}")
    parser.add_argument("--llvm-optimized", action="store_true",
                        help="the module after LLVM's O3 pipeline (what the JIT compiles) instead of "
                             "the LLVM IR tapeless generates (the default); "
                             f"for {_stages_taking('--llvm-optimized')}")
    parser.add_argument("--verify", action="store_true", help="run the IR verifier on the result")
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks of errors")
    return parser


def _options(args: argparse.Namespace, log: PassLog | None) -> Options:
    """The stage options of `args` (`UsageError` for one that the stage does not take)."""
    given = {
        "--grad": args.grad != 0,
        "--passes": args.passes is not None,
        "--types": args.types is not None,
        "--print-between-passes": log is not None,
        "--locations": args.locations,
        "--llvm-optimized": args.llvm_optimized,
    }
    for flag, used in given.items():
        if used and flag not in STAGES[args.stage].flags:
            raise UsageError(f"{flag} applies to {_stages_taking(flag)}")
    if args.grad < 0:
        raise UsageError("--grad takes a non-negative order")
    return Options(
        grad=args.grad,
        passes=None if args.passes is None else parse_passes(args.passes),
        types=None if args.types is None else parse_types(args.types),
        trace=log,
        llvm_optimized=args.llvm_optimized,
    )


def _program(result: Result) -> Graph:
    """The root graph of a stage's result (for a native stage, the optimized program)."""
    if isinstance(result, Graph):
        return result
    spec = result if isinstance(result, Specialization) else result.specialization
    return spec.root.graph


def _render(args: argparse.Namespace, result: Result, log: PassLog | None) -> str:
    """The text that `main` prints for `result` in the format `args` asks for."""
    if isinstance(result, Graph):
        return _render_graph(args, result, log)
    if isinstance(result, Specialization):
        return _render_typed(args, result)
    return _render_llvm(args, result)


def _render_graph(args: argparse.Namespace, root: Graph, log: PassLog | None) -> str:
    if args.format == "json":
        data = _json_head(args)
        data.update(stats(root))
        if "arg_types" in root.flags:
            data["arg_types"] = [format_type(t) for t in root.flags["arg_types"]]
        if log is not None:
            data["passes"] = log.records
        return json.dumps(data, indent=2)
    program = format_graph(root, locations=args.locations).rstrip("\n")
    return "\n".join([*(log.lines if log is not None else []), program])


def _json_head(args: argparse.Namespace) -> dict[str, Any]:
    return {"stage": args.stage, **({"grad": args.grad} if args.grad else {})}


def _render_typed(args: argparse.Namespace, spec: Specialization) -> str:
    from tapeless.backend.cpu.show import format_specialization, specialization_json

    if args.format == "text":
        return format_specialization(spec, locations=args.locations).rstrip("\n")
    return json.dumps({**_native_head(args, spec), "instances": specialization_json(spec)}, indent=2)


def _render_llvm(args: argparse.Namespace, module: LLVMModule) -> str:
    if args.format == "text":
        return module.ir.rstrip("\n")
    data = _native_head(args, module.specialization)
    data.update(optimized=module.optimized, functions=_defined_functions(module.ir), ir=module.ir)
    return json.dumps(data, indent=2)


def _native_head(args: argparse.Namespace, spec: Specialization) -> dict[str, Any]:
    """The JSON fields of both native stages: the stage and the signature compiled."""
    assert spec.root.output is not None  # a program that never returns is refused
    return {
        **_json_head(args),
        "arg_types": [format_type(t) for t in spec.root.args],
        "output": format_type(spec.root.output),
    }


def _defined_functions(ir: str) -> list[str]:
    """The names of the functions LLVM IR text `ir` defines (not those it only declares)."""
    import llvmlite.binding as llvm

    return [f.name for f in llvm.parse_assembly(ir).functions if not f.is_declaration]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tapeless-ir`` and ``python -m tapeless.tools.irdump``."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        log = PassLog(locations=args.locations) if args.print_between_passes else None
        options = _options(args, log)
        result = STAGES[args.stage].run(load_function(args.target), options)
        if args.verify:
            from tapeless.ir.verify import verify

            verify(_program(result))
        text = _render(args, result, log)
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
