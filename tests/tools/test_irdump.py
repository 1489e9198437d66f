"""Tests of the IR dump tool (`tapeless-ir`, `python -m tapeless.tools.irdump`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tapeless.tools.irdump import STAGES, main, register_stage

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
    assert list(STAGES)[0] == "parse"
    with pytest.raises(ValueError, match="registered twice"):
        register_stage("parse", "again")(lambda fn: fn)


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
