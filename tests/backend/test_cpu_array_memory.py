"""Reference counts of native arrays, checked with the runtime's poisoned mode.

Under `memory.poisoned()` a freed array is filled with NaNs and kept, and a
second free of it is counted: a program that reads an array after its last
reference went gives NaNs where the interpreter (the oracle) does not, and
one that drops a reference twice shows in `bad_frees()`. Each program runs
natively (checked) and on the interpreter, forward and gradient, and the
count of live arrays must come back to where it was.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import tapeless as tl
from tapeless.backend.cpu import memory

pytestmark = pytest.mark.native


def rnn(params, xs):
    wx, wh = params
    h = np.zeros((xs.shape[1], wh.shape[0]))
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ wx + h @ wh)
    return np.sum(h * h) / xs.shape[1]


def scan_closures(x, n):
    # closures that capture arrays, made in a loop and called later
    def scale(y):
        return y * x

    acc = x
    for _ in range(n):
        acc = scale(acc) + 0.1
    return np.sum(np.sin(acc))


def branches(x, c):
    y = x * 2.0 if c > 0.0 else np.exp(x)
    return np.sum(y[1:] - y[:-1]) + np.mean(y, axis=0)[0]


def stacked(a, b):
    return np.sum(np.tanh(a @ b) * np.max(a, axis=-1).reshape(a.shape[0], a.shape[1], 1))


def _data() -> list[tuple[object, tuple[object, ...]]]:
    rng = np.random.default_rng(0)
    return [
        (rnn, ((0.3 * rng.standard_normal((4, 6)), 0.3 * rng.standard_normal((6, 6))), rng.standard_normal((5, 3, 4)))),
        (scan_closures, (rng.standard_normal(7), 4)),
        (branches, (rng.standard_normal((4, 3)), 1.0)),
        (branches, (rng.standard_normal((4, 3)), -1.0)),
        (stacked, (rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)))),
    ]


def _flat(x: object) -> np.ndarray:
    if isinstance(x, tuple):
        return np.concatenate([_flat(e) for e in x])
    return np.ravel(np.asarray(x, dtype=np.float64))


@pytest.mark.parametrize("case", range(len(_data())))
def test_native_arrays_are_freed_once_and_only_after_their_last_read(case: int) -> None:
    fn, args = _data()[case]
    forward, grad = tl.compile(fn), tl.grad(fn)
    oracle_f, oracle_g = tl.compile(fn, backend="interp"), tl.grad(fn, backend="interp")
    gc.collect()
    with memory.poisoned():
        before, bad = memory.stats().live, memory.bad_frees()
        for _ in range(3):
            np.testing.assert_allclose(_flat(forward(*args)), _flat(oracle_f(*args)), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(_flat(grad(*args)), _flat(oracle_g(*args)), rtol=1e-10, atol=1e-12)
        gc.collect()
        assert memory.bad_frees() == bad
        assert memory.stats().live == before
    assert forward.natives and grad.natives, "ran on the interpreter"
