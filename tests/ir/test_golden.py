"""Golden tests of the printed IR of parsed programs (tests/ir/golden_programs.py).

Set ``TAPELESS_UPDATE_GOLDEN=1`` to (re)write the golden files instead of
comparing; review the diff before committing it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tapeless.backend.interp import interpret
from tapeless.frontend import parse_function
from tapeless.ir.printer import format_graph
from tapeless.ir.verify import verify

HERE = Path(__file__).resolve().parent
GOLDEN_DIR = HERE / "golden"
PROGRAMS_FILE = HERE / "golden_programs.py"
UPDATE = os.environ.get("TAPELESS_UPDATE_GOLDEN") == "1"


def _load():
    spec = importlib.util.spec_from_file_location("tapeless_golden_programs", PROGRAMS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROGRAMS = _load().GOLDEN


def check_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / f"{name}.txt"
    if UPDATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}; run with TAPELESS_UPDATE_GOLDEN=1 to create it")
    assert text == path.read_text(), f"IR of {name} differs from {path}"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_golden_text(name):
    fn, _ = PROGRAMS[name]
    graph = parse_function(fn)
    verify(graph)
    check_golden(name, format_graph(graph))


def test_golden_text_with_locations():
    fn, _ = PROGRAMS["straight_line"]
    check_golden("straight_line.locations", format_graph(parse_function(fn), locations=True))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_golden_programs_run(name):
    fn, cases = PROGRAMS[name]
    graph = parse_function(fn)
    for args in cases:
        assert interpret(graph, *args) == fn(*args)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_printing_is_stable(name):
    fn, _ = PROGRAMS[name]
    graph = parse_function(fn)
    assert format_graph(graph) == format_graph(graph)
