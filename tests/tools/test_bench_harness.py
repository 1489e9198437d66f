"""The peer benchmark harness (benchmarks/peers.py) runs and reports; its figures are never checked.

Numba and JAX are made unimportable here, so these tests see what a machine without them sees.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

PEERS_PY = Path(__file__).resolve().parents[2] / "benchmarks" / "peers.py"
SCALAR = ("poly", "loop_sum", "newton_sqrt", "recursive_pow", "closure_compose")
FIGURE = re.compile(r"^[\d,]+(\.\d+)?(e[+-]\d+)?$")


@pytest.fixture(scope="module")
def peers():
    spec = importlib.util.spec_from_file_location("_tapeless_bench_peers", PEERS_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up there)
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture
def no_peers(monkeypatch):
    for name in ("numba", "jax"):
        monkeypatch.setitem(sys.modules, name, None)  # `import numba` raises ImportError


def tables(text: str) -> list[list[list[str]]]:
    """The Markdown tables in `text`, each a list of rows of cells (the header row first)."""
    found: list[list[list[str]]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                found.append([])
            found[-1].append([c.strip() for c in line.strip("|").split(" | ")])
        previous = line
    return found


def test_smoke_run_reports_every_scalar_workload_without_numba_or_jax(peers, no_peers, tmp_path, capsys):
    out = tmp_path / "perf.md"
    assert peers.main(["--smoke", "--backend", "interp", "--write", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.read_text() == text
    assert "ERROR" not in text and "fails" not in text and "instead" not in text
    main, ratios, overhead, first = tables(text)
    for rows in (main, ratios, overhead, first):
        assert {len(r) for r in rows} == {len(rows[0])} and rows[1][0] == "---"

    head = main[0]
    assert head == ["workload", *(c[0] for c in peers.COLUMNS)]
    assert [r[0] for r in main[2:]] == list(SCALAR)
    for row in main[2:]:
        cell = dict(zip(head, row, strict=True))
        for label in ("python", "tapeless fwd", "tapeless grad"):
            assert FIGURE.match(cell[label]), (row, label)
        for label in ("numba fwd", "numba hand grad", "jax.jit fwd", "jax.jit grad"):
            assert cell[label] == "n/a (not installed)"

    assert [r[0] for r in ratios[2:]] == list(SCALAR)
    for row in ratios[2:]:  # only tapeless grad / tapeless fwd has both figures
        assert row[1] == row[3] == row[4] == "—" and FIGURE.match(row[2])
    assert overhead[2][1] == overhead[2][2] == "n/a (not installed)"
    assert FIGURE.match(overhead[2][0]) and FIGURE.match(overhead[2][3])
    assert [r[0] for r in first[2:]] == list(SCALAR)
    assert all(FIGURE.match(c) for r in first[2:] for c in r[1:])


def test_a_backend_tapeless_lacks_falls_back_to_the_interpreter(peers, no_peers, capsys):
    assert peers.main(["--smoke", "--only", "poly", "--backend", "no-such-backend"]) == 0
    text = capsys.readouterr().out
    assert "'no-such-backend' is not in tapeless.api.BACKENDS" in text
    assert "(backend 'interp')" in text
    assert [r[0] for r in tables(text)[0][2:]] == ["poly"]


def test_unknown_workload_is_a_usage_error(peers, capsys):
    with pytest.raises(SystemExit) as exit:
        peers.main(["--smoke", "--only", "poly,nope"])
    assert exit.value.code == 2 and "unknown workload(s) nope" in capsys.readouterr().err


def test_a_result_that_disagrees_is_an_error_note_and_is_not_timed(peers):
    wl = peers.Workload.load("poly")
    notes = peers.Notes()
    wrong = peers.measure("fake", False, [(False, lambda: lambda x: wl.value + 1e-3)], wl,
                          peers.MODES["smoke"], notes)
    assert wrong.us is None and wrong.text == "ERROR [1]"
    assert notes[0].startswith("fake, poly: ") and "but Python gives" in notes[0]
    bad_grad = peers.measure("fake grad", True, [(False, lambda: lambda x: 1.0)], wl,
                             peers.MODES["smoke"], notes)
    assert bad_grad.text == "ERROR [2]" and "central finite differences" in notes[1]


def test_a_failing_peer_falls_back_to_its_port_and_says_why(peers):
    wl = peers.Workload.load("poly")
    notes = peers.Notes()

    def refuses():
        raise RuntimeError("cannot compile this\nsecond line")

    cell = peers.measure("fake", False, [(False, refuses), (True, lambda: wl.fn)], wl,
                         peers.MODES["smoke"], notes)
    assert cell.us is not None and cell.port and cell.note == "[1]"
    assert notes == ["fake, poly, as written: RuntimeError: cannot compile this"]
    failed = peers.measure("fake", False, [(False, refuses)], wl, peers.MODES["smoke"], notes)
    assert failed.us is None and failed.text == "fails [2]"
