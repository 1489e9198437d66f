"""Train a small MLP classifier on scikit-learn's digits (8x8 images, 10 classes)
with the gradient from `tapeless.grad`.

The model and its softmax cross-entropy loss are plain Python and NumPy in the
subset tapeless compiles (docs/language.md); `tapeless.grad(loss)` gives the
gradient with respect to the parameter tuple, and the update (SGD with
momentum) is ordinary NumPy. The data set ships with scikit-learn: nothing is
downloaded. The run prints the final test accuracy and the wall time of one
gradient step, and saves the training loss as a PNG.

    make digits                                   # or:
    .venv/bin/python examples/mlp_digits.py --epochs 30 --out mlp_digits_loss.png
    .venv/bin/python examples/mlp_digits.py --quick  # a few steps: a smoke test
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import tapeless as tl
from tapeless.api import BACKENDS

Params = tuple[np.ndarray, ...]  # (W1, b1, W2, b2)


# --- the model: compiled by tapeless (and plain Python all the same) ---------


def logits(params, X):
    """Class scores (n, 10) of a tanh MLP for the images X (n, 64)."""
    W1, b1, W2, b2 = params
    h = np.tanh(X @ W1 + b1)
    return h @ W2 + b2


def loss(params, X, Y):
    """Mean softmax cross-entropy of `logits(params, X)` against one-hot labels Y (n, 10).

    The row maximum is subtracted before `exp` so that no score overflows; the
    loss does not depend on it, so its gradient through `np.max` cancels out.
    """
    s = logits(params, X)
    n = X.shape[0]
    z = s - np.max(s, axis=1).reshape(n, 1)
    log_sum_exp = np.log(np.sum(np.exp(z), axis=1))
    return np.mean(log_sum_exp) - np.sum(Y * z) / n


# --- data, initialization, evaluation: NumPy -------------------------------


@dataclass(frozen=True)
class Split:
    """Images scaled to [0, 1] (rows of 64 floats); labels as ints and as one-hot rows."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def load_split(seed: int, test_fraction: float = 0.25) -> Split:
    """The 1797 digits, split into a stratified training set and a held-out test set."""
    digits = load_digits()
    X = digits.data / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    return Split(X_train, np.eye(10)[y_train], X_test, y_test)


def init_params(rng: np.random.Generator, hidden: int) -> Params:
    """Glorot-scaled weights, zero biases, for 64 -> `hidden` -> 10."""
    W1 = rng.standard_normal((64, hidden)) / np.sqrt(64.0)
    W2 = rng.standard_normal((hidden, 10)) / np.sqrt(hidden)
    return W1, np.zeros(hidden), W2, np.zeros(10)


def accuracy(params: Params, X: np.ndarray, y: np.ndarray) -> float:
    """The fraction of images whose highest score is their label."""
    return float(np.mean(np.argmax(logits(params, X), axis=1) == y))


# --- training ----------------------------------------------------------------


QUICK_STEPS = 40  # --quick: enough to leave chance (10%) far behind


@dataclass(frozen=True)
class Config:
    """Hyperparameters; the defaults reach about 97% test accuracy."""

    epochs: int = 30
    batch: int = 64
    hidden: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    seed: int = 0
    max_steps: int | None = None  # stop after this many steps (the smoke test)
    backend: str | None = None  # tapeless's default when None


@dataclass(frozen=True)
class Result:
    """What a run produced: `losses[k]` is the minibatch loss at step k (before its update)."""

    params: Params
    losses: list[float]
    test_accuracy: float
    first_step_s: float  # the first gradient call: parsing, AD and compilation included
    step_s: float  # mean wall time of one gradient call after the first


def batches(rng: np.random.Generator, n: int, size: int) -> list[np.ndarray]:
    """One epoch: a permutation of range(n) cut into index arrays of `size` (the last may be short)."""
    order = rng.permutation(n)
    return [order[i : i + size] for i in range(0, n, size)]


def momentum_step(
    params: Params, velocity: Params, grads: Params, config: Config
) -> tuple[Params, Params]:
    """Heavy-ball SGD: v <- momentum v - lr g, then p <- p + v; the new (params, velocity)."""
    velocity = tuple(
        config.momentum * v - config.lr * g for v, g in zip(velocity, grads, strict=True)
    )
    return tuple(p + v for p, v in zip(params, velocity, strict=True)), velocity


def train(config: Config, split: Split, progress: bool = True) -> Result:
    """Momentum SGD on `loss`, gradients from `tapeless.value_and_grad`; deterministic per config."""
    rng = np.random.default_rng(config.seed)
    params = init_params(rng, config.hidden)
    velocity = tuple(np.zeros_like(p) for p in params)
    value_and_grad = tl.value_and_grad(loss, backend=config.backend)
    schedule = [
        b for _ in range(config.epochs) for b in batches(rng, len(split.X_train), config.batch)
    ]
    schedule = schedule[: config.max_steps]
    losses: list[float] = []
    times: list[float] = []
    bar = tqdm(schedule, desc="training", unit="step", disable=not progress)
    for idx in bar:
        start = time.perf_counter()
        value, grads = value_and_grad(params, split.X_train[idx], split.Y_train[idx])
        times.append(time.perf_counter() - start)
        params, velocity = momentum_step(params, velocity, grads, config)
        losses.append(float(value))
        bar.set_postfix(loss=f"{value:.4f}", refresh=False)
    return Result(
        params=params,
        losses=losses,
        test_accuracy=accuracy(params, split.X_test, split.y_test),
        first_step_s=times[0],
        step_s=float(np.mean(times[1:])) if len(times) > 1 else times[0],
    )


def plot_losses(losses: list[float], steps_per_epoch: int, title: str, path: Path) -> None:
    """Save the minibatch loss per step, and its mean per epoch, as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(losses, lw=0.6, alpha=0.5, label="minibatch")
    starts = range(0, len(losses), steps_per_epoch)
    epochs = [losses[i : i + steps_per_epoch] for i in starts]
    ends = [i + len(e) - 1 for i, e in zip(starts, epochs, strict=True)]
    ax.plot(ends, [float(np.mean(e)) for e in epochs], marker="o", ms=3, label="epoch mean")
    ax.set(xlabel="gradient step", ylabel="cross-entropy", yscale="log", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def run(config: Config, out: Path, progress: bool = True) -> Result:
    """Train on the digits, print the test accuracy and step time, save the loss plot to `out`."""
    split = load_split(config.seed)
    result = train(config, split, progress)
    steps_per_epoch = -(-len(split.X_train) // config.batch)
    title = f"MLP 64-{config.hidden}-10 on digits: test accuracy {result.test_accuracy:.1%}"
    plot_losses(result.losses, steps_per_epoch, title, out)
    print(f"test accuracy: {result.test_accuracy:.2%} ({len(split.y_test)} held-out images)")
    print(
        f"gradient step: {result.step_s * 1e3:.3f} ms mean over {len(result.losses) - 1} steps "
        f"(batch {config.batch}); first call {result.first_step_s:.2f} s (compilation included)"
    )
    print(f"loss plot: {out}")
    return result


def parse_args(argv: list[str] | None = None) -> tuple[Config, Path]:
    """The command line (`sys.argv[1:]` when None) as a `Config` and the plot's path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=Config.epochs)
    parser.add_argument("--batch", type=int, default=Config.batch)
    parser.add_argument("--hidden", type=int, default=Config.hidden)
    parser.add_argument("--lr", type=float, default=Config.lr)
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--backend", choices=BACKENDS, default=None)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_STEPS} steps only: a smoke test"
    )
    parser.add_argument("--out", type=Path, default=Path("mlp_digits_loss.png"))
    a = parser.parse_args(argv)
    config = Config(
        epochs=a.epochs,
        batch=a.batch,
        hidden=a.hidden,
        lr=a.lr,
        seed=a.seed,
        max_steps=QUICK_STEPS if a.quick else None,
        backend=a.backend,
    )
    return config, a.out


def main(argv: list[str] | None = None) -> None:
    """Train with the options of the command line (see --help)."""
    config, out = parse_args(argv)
    run(config, out)


if __name__ == "__main__":
    main()
