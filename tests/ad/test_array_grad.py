"""Gradients of array programs: broadcasting, reductions with axis, `@`,
transposes, reshapes, indexing, loops over arrays, tuples of arrays.

Oracle: for a random direction u, <grad f(x), u> must equal the directional
derivative (f(x + h u) - f(x - h u)) / 2h; and the gradient has the shape
(and structure) of the argument.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapeless as tl


def logistic(w, X, y):
    z = X @ w
    return np.mean(np.log(1.0 + np.exp(-y * z)))


def mlp(params, X, Y):
    W1, b1, W2, b2 = params
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    d = out - Y
    return 0.5 * np.sum(d * d) / X.shape[0]


def rnn(params, xs, y):
    Wx, Wh, b, Wy = params
    h = np.zeros((xs.shape[1], Wh.shape[0]))
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ Wx + h @ Wh + b)
    d = h @ Wy - y
    return np.sum(d * d) / xs.shape[1]


def elementwise(x):
    return np.sum(np.exp(np.sin(x)) * x ** 2)


def broadcasting(a, b, c):
    # (3, 1) + (4,) -> (3, 4); scalar c broadcast everywhere
    m = a * b + c
    return np.sum(m * m) + np.sum(np.maximum(m, 0.5))


def reductions(x):
    return np.sum(np.sum(x, axis=0) ** 2) + np.sum(np.mean(x, axis=1)) + np.max(x) * 2.0


def shapes(x):
    y = x.reshape((3, 4)).T
    return np.sum(y @ np.transpose(y) * 0.5) + np.sum(y[:, 1]) * np.sum(y[2] * y[3])


def while_on_arrays(x):
    # data-dependent loop whose state is an array
    s = x
    n = 0
    while np.sum(s * s) < 50.0 and n < 20:
        s = s * 1.5 + 0.1
        n += 1
    return np.sum(s)


def closure_over_array(x, w):
    def score(v):
        return np.sum(np.tanh(v @ w))

    return score(x) + score(x * 2.0)


def rng_arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return tuple(0.5 * rng.standard_normal(s) for s in shapes)


def directional(fn, args, i, u, h=1e-6):
    def shifted(sign):
        a = list(args)
        a[i] = _axpy(a[i], sign * h, u)
        return fn(*a)

    return (shifted(1.0) - shifted(-1.0)) / (2 * h)


def _axpy(x, alpha, u):
    if isinstance(x, tuple):
        return tuple(_axpy(e, alpha, v) for e, v in zip(x, u, strict=True))
    return x + alpha * u


def _dot(g, u):
    if isinstance(g, tuple):
        return sum(_dot(a, b) for a, b in zip(g, u, strict=True))
    return float(np.sum(g * u))


def _like(x, rng):
    if isinstance(x, tuple):
        return tuple(_like(e, rng) for e in x)
    return rng.standard_normal(np.shape(x))


def _same_structure(g, x):
    if isinstance(x, tuple):
        assert isinstance(g, tuple) and len(g) == len(x)
        for a, b in zip(g, x, strict=True):
            _same_structure(a, b)
    elif isinstance(x, np.ndarray):
        assert isinstance(g, np.ndarray) and g.shape == x.shape and g.dtype == np.float64
    else:
        assert isinstance(g, float)


def case_logistic(seed):
    w, X = rng_arrays(seed, (5,), (12, 5))
    y = np.where(np.random.default_rng(seed).standard_normal(12) > 0, 1.0, -1.0)
    return logistic, (w, X, y), (0, 1)


def case_mlp(seed):
    W1, b1, W2, b2, X, Y = rng_arrays(seed, (6, 7), (7,), (7, 3), (3,), (4, 6), (4, 3))
    return mlp, ((W1, b1, W2, b2), X, Y), (0, 1)


def case_rnn(seed):
    Wx, Wh, b, Wy, xs, y = rng_arrays(seed, (3, 5), (5, 5), (5,), (5, 2), (4, 2, 3), (2, 2))
    return rnn, ((Wx, Wh, b, Wy), xs, y), (0, 1)


CASES = {
    "logistic": case_logistic,
    "mlp": case_mlp,
    "rnn": case_rnn,
    "elementwise": lambda s: (elementwise, rng_arrays(s, (17,)), (0,)),
    "broadcasting": lambda s: (broadcasting, (*rng_arrays(s, (3, 1), (4,)), 0.3), (0, 1, 2)),
    "reductions": lambda s: (reductions, rng_arrays(s, (4, 3)), (0,)),
    "shapes": lambda s: (shapes, rng_arrays(s, (12,)), (0,)),
    "while_on_arrays": lambda s: (while_on_arrays, rng_arrays(s, (3,)), (0,)),
    "closure_over_array": lambda s: (closure_over_array, rng_arrays(s, (2, 4), (4, 3)), (0, 1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
@given(seed=st.integers(0, 2**16))
def test_array_gradient_matches_directional_derivatives(name, seed):
    fn, args, wrt = CASES[name](seed)
    grads = tl.grad(fn, argnums=wrt)(*args)
    rng = np.random.default_rng(seed + 1)
    for g, i in zip(grads, wrt, strict=True):
        _same_structure(g, args[i])
        u = _like(args[i], rng)
        want = directional(fn, args, i, u)
        assert _dot(g, u) == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_value_and_grad_of_mlp_matches_numpy_hand_gradient():
    _, (params, X, Y), _ = case_mlp(7)
    W1, b1, W2, b2 = params
    value, g = tl.value_and_grad(mlp)(params, X, Y)
    assert value == pytest.approx(mlp(params, X, Y))
    # the hand-written gradient (shared/bench/ports.py's nb_mlp_grad, here in NumPy)
    h = np.tanh(X @ W1 + b1)
    d = (h @ W2 + b2 - Y) / X.shape[0]
    da1 = (d @ W2.T) * (1.0 - h * h)
    want = (X.T @ da1, da1.sum(axis=0), h.T @ d, d.sum(axis=0))
    for a, b in zip(g, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
