"""The peer benchmark harness (benchmarks/peers.py) runs and reports; its figures are never checked.

Numba, JAX and PyTorch are made unimportable here, so these tests see what a machine without them sees.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

import tapeless
from tapeless.errors import TapelessError

PEERS_PY = Path(__file__).resolve().parents[2] / "benchmarks" / "peers.py"
SCALAR = ("poly", "loop_sum", "newton_sqrt", "recursive_pow", "closure_compose")
ARRAY = ("logistic", "mlp", "elementwise", "rnn")
FIGURE = re.compile(r"^[\d,]+(\.\d+)?(e[+-]\d+)?$")
NATIVE_STAGES = ("optimize", "specialize", "lower", "llvm")


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
    for name in ("numba", "jax", "torch"):
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


def test_smoke_run_reports_every_workload_without_numba_jax_or_torch(peers, no_peers, tmp_path, capsys):
    out = tmp_path / "perf.md"
    assert peers.main(["--smoke", "--backend", "interp", "--write", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.read_text() == peers.DOC_HEAD + text
    assert "ERROR" not in text and "fails" not in text and "instead" not in text
    # no deep table: the interpreter is not measured
    main, ratios, overhead, first, arrays, array_ratios = tables(text)
    for rows in (main, ratios, overhead, first, arrays, array_ratios):
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

    assert first[0] == ["workload", "derivative", *peers.stages.STAGES, "total", "meets target"]
    assert [(r[0], r[1]) for r in first[2:]] == [
        (w, d) for w in SCALAR for d in ("grad(f)", "grad(grad(f))")
    ]
    for row in first[2:]:  # the interpreter has no native stages: those are '—'
        cell = dict(zip(first[0], row, strict=True))
        for stage in ("parse", "AD prepare", "AD J", "other", "total"):
            assert FIGURE.match(cell[stage]), (row, stage)
        assert all(cell[s] == "—" for s in ("optimize", "specialize", "lower", "llvm"))

    assert arrays[0] == ["workload", *(c[0] for c in peers.ARRAY_COLUMNS)]
    assert [r[0] for r in arrays[2:]] == list(ARRAY)
    for row in arrays[2:]:
        cell = dict(zip(arrays[0], row, strict=True))
        for label in ("numpy", "tapeless fwd", "tapeless grad"):
            assert FIGURE.match(cell[label]), (row, label)
        for label in ("numba fwd", "numba hand grad", "jax.jit fwd", "jax.jit grad",
                      "jax scan grad", "torch eager grad"):
            assert cell[label] == "n/a (not installed)"
    assert array_ratios[0] == ["workload", *(r.heading() for r in peers.ARRAY_RATIOS)]
    for row in array_ratios[2:]:  # only the ratios to numpy and to tapeless fwd have figures
        cell = dict(zip([r.label for r in peers.ARRAY_RATIOS], row[1:], strict=True))
        for label, shown in cell.items():
            has_figure = label in ("tapeless fwd / numpy", "tapeless grad / tapeless fwd")
            assert bool(FIGURE.match(shown)) == has_figure and (has_figure or shown == "—")

    verdicts = [line for line in text.splitlines() if line.startswith("- **")]
    # the scalar ratios, call overhead, two first calls; the array ratios
    assert len(verdicts) == len(peers.RATIOS) + 3 + len(peers.ARRAY_RATIOS)
    assert verdicts[-1] == "- **not measured**: `tapeless grad / jax scan grad` ≤ 1: rnn not measured"
    assert verdicts[0].startswith("- **not measured**: `tapeless fwd / numba fwd` ≤ 1.2: poly")
    assert verdicts[1].startswith("- **") and "`tapeless grad / tapeless fwd` ≤ 3: poly " in verdicts[1]


def test_stages_of_a_native_first_call_add_up_to_its_total(peers):
    wl = peers.Workload.load("poly")
    run = peers.stages.first_call(wl.rebound({}), wl.wrt, wl.args, 1, "cpu")
    assert not run.refused and wl.mismatch(True, run.value) is None
    assert list(run.seconds) == ["parse", "AD prepare", "AD J", "other", *NATIVE_STAGES]
    assert all(s >= 0 for s in run.seconds.values())
    assert sum(run.seconds.values()) == pytest.approx(run.total)


def test_a_refused_first_call_says_which_error_and_keeps_the_stages_before_it(peers):
    def pair(x):
        return (x, x)

    run = peers.stages.first_call(pair, 0, (1.5,), 1, "cpu")
    with pytest.raises(TapelessError) as refusal:
        tapeless.grad(pair, backend="cpu")(1.5)
    lines = str(refusal.value).splitlines()
    assert run.refused == f"{type(refusal.value).__name__}: {lines[0]}"
    assert list(run.seconds) == ["parse", "AD prepare", "AD J", "other"]


def test_verdicts_mark_each_figure_and_fail_on_any_miss_or_tapeless_failure(peers):
    bound = peers.targets.Bound(1.5)
    assert peers.targets.verdict("t", bound, [("a", 1.0, False), ("b", None, False)]) == (
        "- **met**: t ≤ 1.5: a 1, b not measured")
    assert peers.targets.verdict("t", bound, [("a", 2.0, False), ("b", 1.5, False)]) == (
        "- **NOT met**: t ≤ 1.5: a 2 ✗, b 1.5")
    assert peers.targets.verdict("t", bound, [("a", 1.0, False), ("b", None, True)]) == (
        "- **NOT met**: t ≤ 1.5: a 1, b fails")
    assert peers.targets.verdict("t", peers.targets.Bound(10, at_least=True), [("a", None, False)]) == (
        "- **not measured**: t ≥ 10: a not measured")
    assert peers.targets.verdict("t", peers.targets.Bound(3), [("a", 3.0004, False)]) == (
        "- **NOT met**: t ≤ 3: a 3.0004 ✗")  # not '3 ✗'



def test_a_deep_case_runs_in_its_own_process_and_reports_its_memory(peers):
    deep = peers.deep
    rows = deep.measure(3000, ["loop_sum numba hand grad", "loop_sum python hand grad",
                               "loop_sum tapeless grad"], numba=False)
    numba, python, tapeless = rows
    assert numba.failure == "n/a (not installed)"
    assert python.ok and tapeless.ok, rows  # tapeless checked against the Python hand gradient
    assert tapeless.value == pytest.approx(python.value, rel=1e-9)
    assert tapeless.peak_reset and tapeless.growth_bytes > 0 and python.growth_bytes >= 0
    assert tapeless.first_s > 0 and tapeless.second_s > 0


def test_a_deep_value_that_disagrees_is_a_problem(peers, monkeypatch):
    deep = peers.deep
    values = {"loop_sum python fwd": 1.0, "loop_sum tapeless fwd": 1.5,
              "recursive_pow tapeless fwd": deep.X_POW**10}
    monkeypatch.setattr(deep, "run_case", lambda case, n, timeout: deep.Row(case, n, values[case]))
    python, wrong, right = deep.measure(10, list(values), numba=False)
    assert python.ok and right.ok
    assert wrong.problem == "1.5, but Python gives 1.0" and not wrong.ok


def test_a_backend_tapeless_lacks_falls_back_to_the_interpreter(peers, no_peers, capsys):
    assert peers.main(["--smoke", "--only", "poly", "--backend", "no-such-backend"]) == 0
    text = capsys.readouterr().out
    assert "'no-such-backend' is not in tapeless.api.BACKENDS" in text
    assert "(backend 'interp')" in text
    assert [r[0] for r in tables(text)[0][2:]] == ["poly"]


def test_only_array_workloads_report_only_the_array_tables(peers, no_peers, capsys):
    assert peers.main(["--smoke", "--only", "rnn,logistic", "--backend", "interp"]) == 0
    text = capsys.readouterr().out
    arrays, array_ratios = tables(text)
    assert [r[0] for r in arrays[2:]] == [r[0] for r in array_ratios[2:]] == ["rnn", "logistic"]  # in the order asked
    verdicts = [line for line in text.splitlines() if line.startswith("- **")]
    assert len(verdicts) == len(peers.ARRAY_RATIOS)


def test_a_peer_gradient_of_an_array_workload_is_checked_like_any_other(peers):
    wl = peers.Workload.load("logistic")
    notes = peers.Notes()
    row = peers.measure_row(peers.Peers("interp"), wl, [("numpy", "python", False),
                                                        ("tapeless grad", "tapeless", True)],
                            peers.MODES["smoke"], notes)
    assert not notes and row["tapeless grad"].us is not None
    off = peers.measure("fake grad", True, [(False, lambda: lambda *a: 1.001 * row["tapeless grad"].value)],
                        wl, notes)
    assert off.text == "ERROR [1]" and "but central finite differences gives" in notes[0]


def test_unknown_workload_is_a_usage_error(peers, capsys):
    with pytest.raises(SystemExit) as exit:
        peers.main(["--smoke", "--only", "poly,nope"])
    assert exit.value.code == 2 and "unknown workload(s) nope" in capsys.readouterr().err


def test_a_result_that_disagrees_is_an_error_note_and_is_not_timed(peers):
    wl = peers.Workload.load("poly")
    notes = peers.Notes()
    wrong = peers.measure("fake", False, [(False, lambda: lambda x: wl.value + 1e-3)], wl, notes)
    assert wrong.us is None and wrong.text == "ERROR [1]"
    assert notes[0].startswith("fake, poly: ") and "but Python gives" in notes[0]
    bad_grad = peers.measure("fake grad", True, [(False, lambda: lambda x: 1.0)], wl, notes)
    assert bad_grad.text == "ERROR [2]" and "central finite differences" in notes[1]


def test_a_failing_peer_falls_back_to_its_port_and_says_why(peers):
    wl = peers.Workload.load("poly")
    notes = peers.Notes()

    def refuses():
        raise RuntimeError("cannot compile this\nsecond line")

    cell = peers.measure("fake", False, [(False, refuses), (True, lambda: wl.fn)], wl, notes)
    assert cell.call is wl.fn and cell.port and cell.note == "[1]"
    assert notes == ["fake, poly, as written: RuntimeError: cannot compile this"]
    failed = peers.measure("fake", False, [(False, refuses)], wl, notes)
    assert failed.call is None and failed.text == "fails [2]"
