"""Reference counts of native arrays, checked with the runtime's poisoned mode.

Under `memory.poisoned()` a freed array is filled with NaNs and kept, and a
second free of it is counted: a program that reads an array after its last
reference went gives NaNs where the interpreter (the oracle) does not, and
one that drops a reference twice shows in `bad_frees()`. Each program runs
natively (checked) and on the interpreter, forward and gradient, and the
count of live arrays must come back to where it was.
"""

from __future__ import annotations

import contextlib
import ctypes
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


def contraction(ab, w):
    # np.dot of rank 3 operands: x's rows and y's matrices copied (F order), or not (C order)
    a, b = ab
    return np.sum(np.tanh(np.dot(a, b)) * w)


def _data() -> list[tuple[object, tuple[object, ...]]]:
    rng = np.random.default_rng(0)
    return [
        (rnn, ((0.3 * rng.standard_normal((4, 6)), 0.3 * rng.standard_normal((6, 6))), rng.standard_normal((5, 3, 4)))),
        (scan_closures, (rng.standard_normal(7), 4)),
        (branches, (rng.standard_normal((4, 3)), 1.0)),
        (branches, (rng.standard_normal((4, 3)), -1.0)),
        (stacked, (rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)))),
        (contraction, ((rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4, 5))), rng.standard_normal((2, 3, 3, 5)))),
        (contraction, ((np.asfortranarray(rng.standard_normal((2, 3, 4))), np.asfortranarray(rng.standard_normal((3, 4, 5)))), rng.standard_normal((2, 3, 3, 5)))),
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


# -- the block cache: freed big blocks serve later allocations of their size class ------------


def chain(x, n):
    for _ in range(n):
        x = np.tanh(x) * 0.5 + 0.25
    return x


@pytest.fixture
def cache_limit():
    """Restore the cache's limit after a test that changes it."""
    limit = memory.cache_limit()
    yield
    memory.set_cache_limit(limit)


def test_cached_blocks_serve_later_arrays_without_touching_live_ones() -> None:
    forward = tl.compile(chain)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal(20_000 + 1000 * k) for k in range(4)]  # past CACHE_MIN
    results = [forward(x, 3) for x in inputs for _ in range(2)]
    allocations = memory.stats().allocations
    gc.collect()
    assert memory.cached_bytes() > 0
    for k, x in enumerate(inputs):
        want = chain(x, 3)
        for got in results[2 * k : 2 * k + 2]:
            np.testing.assert_allclose(got, want, rtol=1e-12)
    del results
    gc.collect()
    cached = memory.cached_bytes()
    kept = forward(inputs[0], 3)
    assert memory.stats().allocations > allocations
    assert memory.cached_bytes() < cached  # the result's block came from the cache
    np.testing.assert_allclose(kept, chain(inputs[0], 3), rtol=1e-12)
    assert forward.natives


def test_the_cache_keeps_at_most_its_limit_and_trims(cache_limit: None) -> None:
    forward = tl.compile(chain)
    x = np.ones(50_000)
    memory.set_cache_limit(0)
    assert memory.cached_bytes() == 0
    np.testing.assert_allclose(forward(x, 4), chain(x, 4), rtol=1e-12)
    gc.collect()
    assert memory.cached_bytes() == 0
    memory.set_cache_limit(1 << 20)  # room for two blocks of 400 kB
    forward(x, 4)
    gc.collect()
    assert 0 < memory.cached_bytes() <= 1 << 20
    memory.trim()
    assert memory.cached_bytes() == 0
    with pytest.raises(ValueError):
        memory.set_cache_limit(-1)


# -- a call that fails frees what its frames held -------------------------------------------


def fails_after_making_arrays(x, y):
    a = np.exp(x)
    b = a * 2.0 + a
    return np.sum(b + y)  # y does not broadcast


def fails_in_a_loop(x, n):
    acc = x
    for i in range(n):
        acc = np.tanh(acc) + x[i:]  # shapes part at i = 1
    return np.sum(acc)


def inner(x, y):
    big = np.exp(x) @ x
    return big + y


def fails_in_a_callee(x, y):
    kept = np.sin(x)
    return np.sum(inner(x, y) * kept)


@pytest.mark.parametrize(
    "fn, args",
    [
        (fails_after_making_arrays, (np.ones((3, 4)), np.ones(5))),
        (fails_in_a_loop, (np.ones(300), 3)),
        (fails_in_a_callee, (np.ones((200, 200)), np.ones((3, 3)))),
    ],
    ids=["shape_error", "loop", "callee"],
)
@pytest.mark.parametrize("how", ["forward", "grad"])
def test_a_failed_call_leaves_no_array_alive(fn, args, how) -> None:
    native = tl.compile(fn) if how == "forward" else tl.grad(fn)
    oracle = tl.compile(fn, backend="interp") if how == "forward" else tl.grad(fn, backend="interp")
    with pytest.raises(ValueError) as expected:
        oracle(*args)
    gc.collect()
    for poison in (False, True):
        with memory.poisoned() if poison else contextlib.nullcontext():
            live, bad = memory.stats().live, memory.bad_frees()
            for _ in range(3):
                with pytest.raises(type(expected.value)):
                    native(*args)
            assert memory.stats().live == live
            assert memory.bad_frees() == bad
    assert native.natives, "ran on the interpreter"


def test_a_second_free_is_counted_and_leaves_the_live_list_whole() -> None:
    memory.ensure_runtime()
    from tapeless.backend.cpu import jit

    alloc = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int64)(jit.address(memory.ALLOC))
    free = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(jit.address(memory.FREE))
    release_since = ctypes.CFUNCTYPE(None, ctypes.c_int64)(jit.address(memory.RELEASE_SINCE))
    with memory.poisoned():
        live, bad = memory.stats().live, memory.bad_frees()
        epoch = memory.stats().allocations
        first, second, third = (alloc(64) for _ in range(3))
        free(second)
        free(third)
        free(second)  # a reference dropped twice: its neighbours on the list are gone
        assert memory.bad_frees() == bad + 1
        assert memory.stats().live == live + 1
        release_since(epoch)  # walks the live list: first alone
        assert memory.stats().live == live
        assert memory.bad_frees() == bad + 1
    assert first
