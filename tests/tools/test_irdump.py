"""Tests of the IR dump tool (`tapeless-ir`, `python -m tapeless.tools.irdump`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tapeless.ir.types import BOOL, F64, I64, NONE, ArrayType, TupleType
from tapeless.opt import DEFAULT, PASSES
from tapeless.opt.infer import TOP
from tapeless.tools.irdump import STAGES, format_type, main, parse_types, register_stage

TESTS = Path(__file__).resolve().parents[1]
PROGRAMS = TESTS / "ir" / "golden_programs.py"
GOLDEN = TESTS / "ir" / "golden"


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.mark.parametrize("name", ["fact", "while_loop", "closure", "if_else"])
def test_text_matches_the_golden_files(capsys, name):
    code, out, err = run_main(capsys, f"{PROGRAMS}:{name}", "--stage", "parse")
    assert code == 0 and err == ""
    assert out == (GOLDEN / f"{name}.txt").read_text()


def test_locations(capsys):
    code, out, _ = run_main(capsys, f"{PROGRAMS}:straight_line", "--locations")
    assert code == 0
    assert out == (GOLDEN / "straight_line.locations.txt").read_text()


def test_json(capsys):
    code, out, err = run_main(capsys, f"{PROGRAMS}:fact", "--format", "json", "--verify")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data == {
        "stage": "parse",
        "graphs": 3,
        "nodes": 6,
        "closures": 1,
        "env_ops": 0,
        "tuples_unpacked": 0,
        "primitives": {"le": 1, "mul": 1, "sub": 1, "switch": 1},
    }


def test_json_counts_every_graph(capsys):
    code, out, _ = run_main(capsys, f"{PROGRAMS}:while_loop", "--format", "json")
    assert code == 0
    data = json.loads(out)
    # see tests/ir/golden/while_loop.txt
    assert data["graphs"] == 9 and data["closures"] == 8 and data["nodes"] == 17
    assert data["primitives"] == {"add": 2, "eq": 1, "gt": 1, "lt": 1, "mod": 1, "switch": 3}


def test_sibling_imports_and_sys_path_restored(tmp_path, capsys):
    write(tmp_path, "helpers_for_irdump.py", "def twice(v):\n    return v * 2\n")
    prog = write(
        tmp_path,
        "prog.py",
        """
        from helpers_for_irdump import twice

        def f(x):
            return twice(x) + 1
        """,
    )
    before = list(sys.path)
    code, out, err = run_main(capsys, f"{prog}:f")
    assert code == 0, err
    assert "@twice(%a)" in out and "graph twice(%a)" in out
    assert sys.path == before


def test_dotted_attribute(tmp_path, capsys):
    prog = write(
        tmp_path,
        "prog.py",
        """
        class Box:
            @staticmethod
            def f(x):
                return x + 1
        """,
    )
    code, out, _ = run_main(capsys, f"{prog}:Box.f")
    assert code == 0 and out.startswith("graph f(%a) {")


@pytest.mark.parametrize(
    "source, target, fragment",
    [
        (None, "{missing}:f", "no such file"),
        ("def f(x):\n    return x\n", "{path}:g", "has no function 'g'"),
        ("def f(x):\n    return x\n", "{path}", "expected path/to/file.py:function"),
        ("import math\n", "{path}:math", "is a module, not a Python function"),
        ("def f(x)\n    return x\n", "{path}:f", "syntax error"),
        ("raise RuntimeError('boom')\n", "{path}:f", "RuntimeError: boom"),
        (
            "def f(x):\n    try:\n        return x\n    except Exception:\n        return 0\n",
            "{path}:f",
            "prog.py:2:",
        ),
    ],
)
def test_errors_are_clean(tmp_path, capsys, source, target, fragment):
    path = tmp_path / "prog.py"
    if source is not None:
        path.write_text(source)
    arg = target.format(path=path, missing=tmp_path / "nope.py")
    code, out, err = run_main(capsys, arg)
    assert code == 2
    assert out == ""
    assert err.startswith("tapeless-ir: error: ")
    assert fragment in err
    assert "Traceback" not in err


def test_unsupported_syntax_message_shows_source(tmp_path, capsys):
    path = write(tmp_path, "prog.py", "def f(x):\n    with x:\n        return 1\n")
    code, _, err = run_main(capsys, f"{path}:f")
    assert code == 2
    assert "unsupported syntax" in err and "with x:" in err


def test_unknown_stage_and_help(capsys):
    code, _, err = run_main(capsys, f"{PROGRAMS}:fact", "--stage", "nonsense")
    assert code == 2 and "invalid choice" in err
    code, out, _ = run_main(capsys, "--help")
    assert code == 0 and "parse" in out and "--format" in out


def test_traceback_flag_reraises(tmp_path):
    path = write(tmp_path, "prog.py", "def f(x):\n    return x\n")
    with pytest.raises(Exception, match="has no function"):
        main([f"{path}:g", "--traceback"])


def test_stage_registry():
    assert list(STAGES) == ["parse", "ad", "opt", "typed", "llvm"]
    assert STAGES["opt"].flags == ("--grad", "--passes", "--types", "--print-between-passes", "--locations")
    with pytest.raises(ValueError, match="registered twice"):
        register_stage("parse", "again")(lambda fn, options: fn)


def test_module_entry_point_from_another_directory(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tapeless.tools.irdump", f"{PROGRAMS}:fact", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["graphs"] == 3


def test_console_script(tmp_path):
    script = Path(sys.executable).parent / "tapeless-ir"
    exe = str(script) if script.exists() else shutil.which("tapeless-ir")
    if exe is None:
        pytest.skip("tapeless-ir is not installed in this environment")
    result = subprocess.run(
        [exe, f"{tmp_path / 'missing.py'}:f"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.startswith("tapeless-ir: error: no such file")
    assert "Traceback" not in result.stderr


# -- the AD stages ------------------------------------------------------------

AD_PROGRAM = '''
def f(x):
    return x * x * 3.0 + x
'''


def _ad_file(tmp_path):
    path = tmp_path / "adprog.py"
    path.write_text(AD_PROGRAM)
    return f"{path}:f"


def test_stage_ad_prints_the_j_transform(tmp_path, capsys):
    assert main([_ad_file(tmp_path), "--stage", "ad", "--verify"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("graph J(f)(%a) {")
    assert "graph bprop(f)(%a) closure over J(f) {" in out
    assert "@J(mul)" in out and "gadd(" in out


def test_grad_n_counts_grow_with_order(tmp_path, capsys):
    sizes = []
    for n in (1, 2, 3):
        assert main([_ad_file(tmp_path), "--grad", str(n), "--format", "json", "--verify"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["grad"] == n and data["closures"] >= 1
        sizes.append(data["nodes"])
    assert sizes[0] < sizes[1] < sizes[2]


def test_grad_rejects_negative_order(tmp_path, capsys):
    assert main([_ad_file(tmp_path), "--grad", "-1"]) == 2
    assert "non-negative" in capsys.readouterr().err


def json_of(capsys, *argv: str) -> dict:
    code, out, err = run_main(capsys, *argv)
    assert code == 0 and err == "", err
    return json.loads(out)


def assert_usage_error(capsys, argv: list[str], fragment: str) -> str:
    """`main(argv)` fails with exit status 2 and one line on stderr containing `fragment`."""
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("tapeless-ir: error: ") and err.count("\n") == 1, err
    assert fragment in err
    return err


# -- stats ----------------------------------------------------------------------

STATS_PROGRAM = """
def unpacked(x):
    t = (x, x + 1)
    return t[0] * t[1]

def returned(x):
    t = (x, x + 1)
    return t

def dynamic(x, i):
    t = (x, x + 1)
    return t[i]

def closure(x):
    def g(y):
        return x * y
    return g(x)
"""


@pytest.mark.parametrize("name, unpacked", [("unpacked", 1), ("returned", 0), ("dynamic", 0)])
def test_tuples_unpacked_counts_tuples_only_taken_apart(tmp_path, capsys, name, unpacked):
    path = write(tmp_path, "prog.py", STATS_PROGRAM)
    data = json_of(capsys, f"{path}:{name}", "--format", "json")
    assert data["primitives"]["make_tuple"] == 1
    assert data["tuples_unpacked"] == unpacked


def test_env_ops_count_the_gradient_environments(tmp_path, capsys):
    path = write(tmp_path, "prog.py", STATS_PROGRAM)
    data = json_of(capsys, f"{path}:closure", "--stage", "ad", "--format", "json")
    prims = data["primitives"]
    assert data["env_ops"] == prims["env_getitem"] + prims["env_setitem"] == 2
    assert json_of(capsys, f"{path}:closure", "--format", "json")["env_ops"] == 0


# -- the optimizer stage ----------------------------------------------------------


def test_stage_opt_shrinks_the_derivative(tmp_path, capsys):
    target = _ad_file(tmp_path)
    plain = json_of(capsys, target, "--stage", "parse", "--grad", "1", "--format", "json")
    opt = json_of(capsys, target, "--stage", "opt", "--grad", "1", "--format", "json", "--verify")
    assert opt["stage"] == "opt" and opt["grad"] == 1
    assert opt["nodes"] < plain["nodes"] and opt["graphs"] < plain["graphs"]
    assert opt["tuples_unpacked"] <= plain["tuples_unpacked"]
    assert opt["arg_types"] == ["f64"]  # the default: one f64 per parameter
    assert "passes" not in opt


def test_stage_opt_text_of_the_function_itself(tmp_path, capsys):
    path = write(tmp_path, "prog.py", STATS_PROGRAM)
    code, out, err = run_main(capsys, f"{path}:unpacked", "--stage", "opt", "--verify")
    assert code == 0 and err == ""
    assert out.startswith("graph unpacked(%a) {") and "make_tuple" not in out


def test_stage_opt_leaves_no_closures_or_envs_in_a_closure_derivative(tmp_path, capsys):
    path = write(tmp_path, "prog.py", STATS_PROGRAM)
    data = json_of(capsys, f"{path}:closure", "--stage", "opt", "--grad", "1", "--format", "json")
    assert data["env_ops"] == 0 and data["closures"] == 0


def _trace_blocks(out: str) -> list[tuple[str, str]]:
    """The ``;; after`` headers of `out`, each with the text up to the next header."""
    blocks: list[tuple[str, list[str]]] = []
    for line in out.splitlines():
        if line.startswith(";; after "):
            blocks.append((line, []))
        else:
            assert blocks, f"text before the first header: {line!r}"
            blocks[-1][1].append(line)
    return [(header, "\n".join(lines)) for header, lines in blocks]


HEADER = re.compile(r";; after (\w+) \(round (\d+)\): (\d+) nodes, (changed|unchanged)$")


def test_print_between_passes_shows_every_pass_of_every_round(tmp_path, capsys):
    target = _ad_file(tmp_path)
    code, final, _ = run_main(capsys, target, "--stage", "opt", "--grad", "1")
    assert code == 0
    code, out, err = run_main(capsys, target, "--stage", "opt", "--grad", "1", "--print-between-passes")
    assert code == 0 and err == ""
    blocks = _trace_blocks(out)
    headers = [HEADER.match(h) for h, _ in blocks]
    assert all(headers), [h for h, _ in blocks]
    runs = [(m[1], int(m[2])) for m in headers if m]
    rounds = runs[-1][1]
    assert rounds >= 2
    assert runs == [(name, r) for r in range(1, rounds + 1) for name in DEFAULT]
    changed = [m[4] == "changed" for m in headers if m]
    assert any(changed) and not any(changed[-len(DEFAULT):])  # the last round is the fixed point
    for (_, text), did_change in zip(blocks[:-1], changed[:-1], strict=True):
        assert text.startswith("graph ") if did_change else text == ""
    assert blocks[-1][1] + "\n" == final  # after the last header: the result, as without the flag


def test_print_between_passes_in_json(tmp_path, capsys):
    target = _ad_file(tmp_path)
    data = json_of(capsys, target, "--stage", "opt", "--grad", "2", "--format", "json",
                   "--print-between-passes")
    passes = data["passes"]
    assert len(passes) % len(DEFAULT) == 0
    assert [p["pass"] for p in passes] == list(DEFAULT) * (len(passes) // len(DEFAULT))
    assert all(set(p) == {"pass", "round", "changed", "nodes"} for p in passes)
    assert passes[0]["round"] == 1 and passes[-1]["round"] == len(passes) // len(DEFAULT)
    assert not any(p["changed"] for p in passes[-len(DEFAULT):])
    assert passes[-1]["nodes"] == data["nodes"]


def test_passes_picks_the_passes(tmp_path, capsys):
    target = _ad_file(tmp_path)
    code, out, _ = run_main(capsys, target, "--stage", "opt", "--grad", "1", "--passes", "dce",
                            "--print-between-passes")
    assert code == 0
    names = [m[1] for line in out.splitlines() if (m := HEADER.match(line))]
    assert names and set(names) == {"dce"}
    data = json_of(capsys, target, "--stage", "opt", "--grad", "1", "--format", "json",
                   "--passes", "inline, dce", "--print-between-passes")
    assert {p["pass"] for p in data["passes"]} == {"inline", "dce"}


def test_unknown_pass_lists_the_known_ones(tmp_path, capsys):
    err = assert_usage_error(
        capsys, [_ad_file(tmp_path), "--stage", "opt", "--passes", "inline,bogus"], "unknown pass 'bogus'"
    )
    assert all(name in err for name in PASSES)


@pytest.mark.parametrize(
    "stage, option",
    [
        ("parse", ["--passes", "dce"]),
        ("ad", ["--types", "f64"]),
        ("parse", ["--print-between-passes"]),
    ],
)
def test_optimizer_options_need_the_opt_stage(tmp_path, capsys, stage, option):
    assert_usage_error(capsys, [_ad_file(tmp_path), "--stage", stage, *option], "applies to the opt")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("f64[2], (i64, (bool,))", (ArrayType("f64", 2), TupleType((I64, TupleType((BOOL,)))))),
        ("none,()", (NONE, TupleType(()))),
        ("(i64)", (TupleType((I64,)),)),
    ],
)
def test_parse_types(text, expected):
    assert parse_types(text) == expected


@pytest.mark.parametrize("text", ["f64", "i64,bool,none,any", "bool[0]", "(f64,i64[3])", "((f64,),(),none)"])
def test_types_round_trip(text):
    types = parse_types(text)
    assert ",".join(map(format_type, types)) == text
    assert parse_types(",".join(map(format_type, types))) == types


def test_types_any_is_the_unknown_type():
    assert parse_types("any,(any,f64)") == (TOP, TupleType((TOP, F64)))
    assert format_type(TOP) == "any"


def test_types_reach_the_optimizer(tmp_path, capsys):
    path = write(tmp_path, "prog.py", "def f(pair, n):\n    return pair[0] * n\n")
    data = json_of(capsys, f"{path}:f", "--stage", "opt", "--types", "(f64,i64), i64", "--format", "json")
    assert data["arg_types"] == ["(f64,i64)", "i64"]
    data = json_of(capsys, f"{path}:f", "--stage", "opt", "--format", "json")
    assert data["arg_types"] == ["f64", "f64"]


@pytest.mark.parametrize("text", ["", "f65", "f64,", "f64 i64", "f64[", "f64[x]", "f64[2", "(f64", "(,)", "i64]"])
def test_bad_types_are_usage_errors(tmp_path, capsys, text):
    assert_usage_error(capsys, [_ad_file(tmp_path), "--stage", "opt", "--types", text], "bad --types")


@pytest.mark.parametrize("stage", ["opt", "typed", "llvm"])
def test_types_need_one_per_parameter(tmp_path, capsys, stage):
    path = write(tmp_path, "prog.py", "def f(x, n):\n    return x * n\n")
    assert_usage_error(capsys, [f"{path}:f", "--stage", stage, "--types", "f64"], "2 expected, 1 given")
    # the derivative takes the function's parameters
    assert_usage_error(capsys, [f"{path}:f", "--stage", stage, "--grad", "1", "--types", "f64,i64,f64"], "2 expected, 3 given")


# -- the native stages --------------------------------------------------------------

NATIVE_PROGRAM = """
def mixed(x, n):
    y = x * 2.0
    m = n + 1
    return y * m

def loop(x, n):
    s = 0.0
    i = 0
    while i < n:
        s = s + x * i
        i = i + 1
    return s

def refused(x, n):
    if n > 0:
        return 1
    return x
"""

PYTHON_TYPES = {float: "f64", int: "i64", bool: "bool"}
TYPED_LINE = re.compile(r"  (%\w+) = (.*?): (.+?)(?:  calls .*)?$")


def _native_file(tmp_path) -> Path:
    return write(tmp_path, "nativeprog.py", NATIVE_PROGRAM)


def _typed_nodes(text: str) -> list[tuple[str, str, str]]:
    """(name, expression, type) of every node line of the typed text, in order."""
    return [m.groups() for line in text.splitlines() if (m := TYPED_LINE.match(line))]


@pytest.mark.parametrize("args", [(1.5, 3), (4, 5), (True, 2)])
def test_typed_stage_types_each_node_as_python_computes_it(tmp_path, capsys, args):
    path = _native_file(tmp_path)
    x, n = args
    expected = {  # the nodes of mixed(), typed by CPython running them
        "mul(%a, 2.0)": PYTHON_TYPES[type(x * 2.0)],
        "add(%b, 1)": PYTHON_TYPES[type(n + 1)],
        "mul(%c, %d)": PYTHON_TYPES[type((x * 2.0) * (n + 1))],
    }
    namespace: dict = {}
    exec(NATIVE_PROGRAM, namespace)
    output = PYTHON_TYPES[type(namespace["mixed"](*args))]
    types = [PYTHON_TYPES[type(a)] for a in args]
    argv = [f"{path}:mixed", "--stage", "typed", "--types", ",".join(types)]
    code, out, err = run_main(capsys, *argv, "--verify")
    assert code == 0 and err == ""
    assert out.startswith(f"instance mixed(%a: {types[0]}, %b: {types[1]}) -> {output} {{")
    assert {expr: t for _, expr, t in _typed_nodes(out)} == expected
    data = json_of(capsys, *argv, "--format", "json")
    assert data["arg_types"] == types and data["output"] == output
    [inst] = data["instances"]
    assert inst["name"] == "mixed" and inst["context"] is None and inst["free"] == {}
    assert inst["types"] == {"%a": types[0], "%b": types[1], **{name: t for name, _, t in _typed_nodes(out)}}


def test_typed_stage_shows_closures_with_their_context(tmp_path, capsys):
    # the derivative of a loop: each iteration's backpropagator reads the
    # iteration's values, in the frame of J(loop_body) that made it
    target = f"{_native_file(tmp_path)}:loop"
    argv = [target, "--stage", "typed", "--grad", "1", "--types", "f64,i64"]
    data = json_of(capsys, *argv, "--format", "json")
    assert data["grad"] == 1 and data["output"] == "f64"
    instances = {inst["name"]: inst for inst in data["instances"]}
    closures = [inst for inst in instances.values() if inst["context"] is not None]
    assert closures
    for inst in closures:
        assert inst["context"] in instances
        assert inst["free"] and None not in inst["free"].values()
    called = {name for inst in instances.values() for names in inst["calls"].values() for name in names}
    assert called <= set(instances) and called == set(instances) - {data["instances"][0]["name"]}
    code, out, _ = run_main(capsys, *argv, "--verify")
    assert code == 0
    blocks = out.rstrip("\n").split("\n\n")  # one per instance, in the JSON's order
    for inst, block in zip(data["instances"], blocks, strict=True):
        header, *lines = block.splitlines()
        assert header.startswith(f"instance {inst['name']}(")
        context = "" if inst["context"] is None else f" in {inst['context']}"
        assert header.endswith(f" -> {inst['output']}{context} {{")
        assert [line for line in lines if line.startswith("  free ")] == [
            f"  free {fv}: {t}" for fv, t in inst["free"].items()
        ]
    # a function value prints the closures it may be: a loop's backpropagator is the exit's or the body's
    assert any(t.startswith("{") and "@" in t for _, _, t in _typed_nodes(out))


def test_typed_stage_locations(tmp_path, capsys):
    code, out, _ = run_main(capsys, f"{_native_file(tmp_path)}:mixed", "--stage", "typed", "--locations")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith("  # nativeprog.py:2:1")
    assert lines[1:4] == [
        "  %c = mul(%a, 2.0): f64  # nativeprog.py:3:9",
        "  %d = add(%b, 1): f64  # nativeprog.py:4:9",
        "  %e = mul(%c, %d): f64  # nativeprog.py:5:12",
    ]


@pytest.mark.parametrize("optimized", [False, True])
def test_llvm_stage_prints_a_module_defining_the_entry(tmp_path, capsys, optimized):
    import llvmlite.binding as llvm

    argv = [f"{_native_file(tmp_path)}:mixed", "--stage", "llvm", "--types", "f64,i64"]
    argv += ["--llvm-optimized"] if optimized else []
    code, out, err = run_main(capsys, *argv)
    assert code == 0 and err == ""
    module = llvm.parse_assembly(out)
    module.verify()
    defined = [f for f in module.functions if not f.is_declaration]
    [entry] = [f for f in defined if re.fullmatch(r"tl_entry_mixed\.\d+", f.name)]
    assert [str(a.type) for a in entry.arguments][:2] == ["double", "i64"]  # the --types
    data = json_of(capsys, *argv, "--format", "json")
    assert data["stage"] == "llvm" and data["optimized"] is optimized
    assert data["arg_types"] == ["f64", "i64"] and data["output"] == "f64"
    functions = [f.name for f in llvm.parse_assembly(data["ir"]).functions if not f.is_declaration]
    assert data["functions"] == functions and len(functions) == len(defined)


def test_llvm_optimized_differs_from_the_generated_ir(tmp_path, capsys):
    argv = [f"{_native_file(tmp_path)}:loop", "--stage", "llvm", "--grad", "1", "--types", "f64,i64"]
    generated = json_of(capsys, *argv, "--format", "json")
    optimized = json_of(capsys, *argv, "--format", "json", "--llvm-optimized")
    assert generated["grad"] == optimized["grad"] == 1
    # LLVM inlines the instances' functions into the entry
    assert len(optimized["functions"]) < len(generated["functions"])


@pytest.mark.parametrize("stage", ["typed", "llvm"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_native_stages_report_a_refused_program_cleanly(tmp_path, capsys, stage, fmt):
    path = _native_file(tmp_path)
    code, out, err = run_main(capsys, f"{path}:refused", "--stage", stage, "--types", "f64,i64", "--format", fmt)
    assert code == 2 and out == ""
    line = NATIVE_PROGRAM.splitlines().index("    if n > 0:") + 1  # the `if` whose paths disagree
    assert err.startswith(f"tapeless-ir: error: {path}:{line}:5: ")
    assert "native specialization" in err and "an int on one path and a float on another" in err
    assert "    if n > 0:" in err and "hint: " in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "stage, option, fragment",
    [
        ("llvm", ["--locations"], "--locations applies to the parse, ad, opt and typed stages"),
        ("typed", ["--llvm-optimized"], "--llvm-optimized applies to the llvm stage"),
        ("opt", ["--llvm-optimized"], "--llvm-optimized applies to the llvm stage"),
        ("typed", ["--passes", "dce"], "--passes applies to the opt stage"),
        ("llvm", ["--print-between-passes"], "applies to the opt stage"),
    ],
)
def test_native_stage_options(tmp_path, capsys, stage, option, fragment):
    assert_usage_error(capsys, [f"{_native_file(tmp_path)}:mixed", "--stage", stage, *option], fragment)
