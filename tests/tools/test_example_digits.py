"""examples/mlp_digits.py: its gradient is right, a quick run learns, and the loss plot is a PNG.

The oracles are CPython running the example's own `loss` (plain NumPy), finite
differences, and matplotlib's PNG reader.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

import tapeless as tl

DIGITS_PY = Path(__file__).resolve().parents[2] / "examples" / "mlp_digits.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits():
    spec = importlib.util.spec_from_file_location("_tapeless_example_digits", DIGITS_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up there)
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def split(digits):
    return digits.load_split(seed=0)


def test_split_is_held_out_and_one_hot(digits, split):
    assert split.X_train.shape[1] == split.X_test.shape[1] == 64
    assert len(split.X_train) + len(split.X_test) == 1797
    assert 0.0 <= split.X_train.min() and split.X_train.max() <= 1.0
    assert np.array_equal(split.Y_train.sum(axis=1), np.ones(len(split.X_train)))
    assert sorted(set(split.y_test.tolist())) == list(range(10))


def test_gradient_matches_finite_differences(digits, split):
    rng = np.random.default_rng(7)
    params = digits.init_params(rng, hidden=16)
    X, Y = split.X_train[:32], split.Y_train[:32]
    value, grads = tl.value_and_grad(digits.loss)(params, X, Y)
    assert value == pytest.approx(digits.loss(params, X, Y), rel=1e-12)
    direction = tuple(rng.standard_normal(p.shape) for p in params)
    h = 1e-5

    def at(t):
        return digits.loss(tuple(p + t * d for p, d in zip(params, direction)), X, Y)

    finite = (at(h) - at(-h)) / (2 * h)
    analytic = sum(float(np.sum(g * d)) for g, d in zip(grads, direction))
    assert analytic == pytest.approx(finite, rel=1e-6, abs=1e-9)


def test_quick_run_learns_and_writes_a_png(digits, split, tmp_path, capsys):
    config = digits.Config(max_steps=digits.QUICK_STEPS)
    out = tmp_path / "loss.png"
    result = digits.run(config, out, progress=False)

    # the recorded losses are the example's loss on its batches, as CPython computes it
    rng = np.random.default_rng(config.seed)
    initial = digits.init_params(rng, config.hidden)
    first = digits.batches(rng, len(split.X_train), config.batch)[0]
    assert result.losses[0] == pytest.approx(
        digits.loss(initial, split.X_train[first], split.Y_train[first]), rel=1e-12
    )
    assert len(result.losses) == digits.QUICK_STEPS
    # training lowers the loss on the whole training set, and classifies far above chance (10%)
    before = digits.loss(initial, split.X_train, split.Y_train)
    after = digits.loss(result.params, split.X_train, split.Y_train)
    assert after < 0.5 * before
    assert result.test_accuracy == digits.accuracy(result.params, split.X_test, split.y_test)
    assert result.test_accuracy > 0.6
    printed = capsys.readouterr().out
    assert f"test accuracy: {result.test_accuracy:.2%}" in printed
    assert "gradient step:" in printed and str(out) in printed

    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert width >= 100 and height >= 100
    assert matplotlib.image.imread(out).shape[:2] == (height, width)


def test_quick_option_caps_the_steps(digits):
    config, out = digits.parse_args(["--quick", "--epochs", "3", "--out", "x.png"])
    assert config.max_steps == digits.QUICK_STEPS and config.epochs == 3
    assert out == Path("x.png")
    assert digits.parse_args([])[0].max_steps is None
