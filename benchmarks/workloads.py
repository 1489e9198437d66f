# Verbatim copy of shared/bench/workloads.py (the issue-5 benchmark definitions), kept here so
# benchmarks/peers.py runs without shared/; change it there first, then copy it again.
# ruff: noqa: B007
"""Anchor workloads for a Myia-style Python compiler with autodiff.

Every workload function in this file is written in the plain-Python subset the
compiler is expected to accept:

  * float / int scalars, tuples
  * if/else, while loops (including data-dependent trip counts),
    for over range(...), recursion
  * nested functions and closures, higher-order functions
  * math.sin / cos / exp / log / sqrt / tanh, abs
  * NumPy arrays for the array workloads (np.exp, np.sin, np.tanh, np.log,
    np.sum, np.mean, the @ operator, arithmetic, .shape)

The functions only reference the module-level names ``math`` and ``np`` (and
each other), so a harness can re-bind those names to another implementation
(jax.numpy, autograd.numpy, ...) without changing the source; see
``rebind()`` at the bottom of the file.

Each entry of ``WORKLOADS`` gives the forward function (scalar output), a
deterministic argument builder, which argument to differentiate with respect
to (``wrt``) and which arguments are Python ints that act as compile-time
constants (``static``: trip counts / recursion depths).
"""

import math
import types

import numpy as np

# --------------------------------------------------------------------------
# poly: degree-8 polynomial via Horner (scalar)
# --------------------------------------------------------------------------

# highest-degree coefficient first: c8, c7, ..., c0
POLY_COEFFS = (0.25, -0.5, 1.5, -2.0, 0.75, 1.25, -0.3, 0.1, 2.0)


def poly(x):
    acc = 0.0
    for i in range(len(POLY_COEFFS)):
        acc = acc * x + POLY_COEFFS[i]
    return acc


# --------------------------------------------------------------------------
# loop_sum: acc += sin(x*i) / (i+1), i < n   (scalar, counted loop)
# --------------------------------------------------------------------------

def loop_sum(x, n):
    acc = 0.0
    for i in range(n):
        acc = acc + math.sin(x * i) / (i + 1)
    return acc


# --------------------------------------------------------------------------
# newton_sqrt: Newton iteration for sqrt(a), stops on tolerance
# (data-dependent trip count); derivative wrt a
# --------------------------------------------------------------------------

def newton_sqrt(a):
    x = a
    while abs(x * x - a) > 1e-12 * a:
        x = 0.5 * (x + a / x)
    return x


# --------------------------------------------------------------------------
# recursive_pow: x**n by (linear) recursion, n integer
# --------------------------------------------------------------------------

def recursive_pow(x, n):
    if n == 0:
        return 1.0
    else:
        return x * recursive_pow(x, n - 1)


# --------------------------------------------------------------------------
# closure_compose: higher-order compose(f, g) plus a closure capturing the
# parameter `a`, applied k times in a loop; derivative wrt the captured `a`
# --------------------------------------------------------------------------

def compose(f, g):
    def h(t):
        return f(g(t))
    return h


def closure_compose(x, a, k):
    def scale(t):
        return a * t

    def bump(t):
        return math.sin(t) + 0.5 * t

    step = compose(bump, scale)
    acc = x
    for i in range(k):
        acc = step(acc)
    return acc


# --------------------------------------------------------------------------
# logistic: mean logistic log-loss, X (1000, 20), w (20,), y in {-1, +1}
# --------------------------------------------------------------------------

def logistic(w, X, y):
    z = X @ w
    return np.mean(np.log(1.0 + np.exp(-y * z)))


# --------------------------------------------------------------------------
# mlp: 2-layer tanh MLP, batch 256, 64 -> 128 -> 10, squared-error loss;
# params = (W1, b1, W2, b2)
# --------------------------------------------------------------------------

def mlp(params, X, Y):
    W1, b1, W2, b2 = params
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    d = out - Y
    return 0.5 * np.sum(d * d) / X.shape[0]


# --------------------------------------------------------------------------
# elementwise: sum(exp(sin(x)) * x**2), x of 1e6 float64
# --------------------------------------------------------------------------

def elementwise(x):
    return np.sum(np.exp(np.sin(x)) * x ** 2)


# --------------------------------------------------------------------------
# rnn: vanilla tanh RNN, backpropagation through time; T=50, batch 32,
# input 32, hidden 128, output 10; params = (Wx, Wh, b, Wy)
# --------------------------------------------------------------------------

def rnn(params, xs, y):
    Wx, Wh, b, Wy = params
    h = np.zeros((xs.shape[1], Wh.shape[0]))
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ Wx + h @ Wh + b)
    d = h @ Wy - y
    return np.sum(d * d) / xs.shape[1]


# ==========================================================================
# Argument builders (deterministic)
# ==========================================================================

def _args_poly():
    return (0.7,)


def _args_loop_sum():
    return (0.3, 1000)


def _args_newton():
    return (1234.5,)


def _args_pow():
    return (1.01, 30)


def _args_closure():
    return (0.5, 0.7, 100)


def _args_logistic():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 20))
    w = 0.1 * rng.standard_normal(20)
    y = np.where(rng.standard_normal(1000) > 0.0, 1.0, -1.0)
    return (w, X, y)


def _args_mlp():
    rng = np.random.default_rng(1)
    W1 = 0.1 * rng.standard_normal((64, 128))
    b1 = 0.1 * rng.standard_normal(128)
    W2 = 0.1 * rng.standard_normal((128, 10))
    b2 = 0.1 * rng.standard_normal(10)
    X = rng.standard_normal((256, 64))
    Y = rng.standard_normal((256, 10))
    return ((W1, b1, W2, b2), X, Y)


def _args_elementwise():
    rng = np.random.default_rng(2)
    return (rng.uniform(-2.0, 2.0, 1_000_000),)


def _args_rnn():
    rng = np.random.default_rng(3)
    Wx = 0.1 * rng.standard_normal((32, 128))
    Wh = 0.05 * rng.standard_normal((128, 128))
    b = 0.1 * rng.standard_normal(128)
    Wy = 0.1 * rng.standard_normal((128, 10))
    xs = rng.standard_normal((50, 32, 32))
    y = rng.standard_normal((32, 10))
    return ((Wx, Wh, b, Wy), xs, y)


# name -> spec.  wrt: index of the argument the gradient is taken against.
# static: indices of Python-int arguments (trip counts, recursion depth).
WORKLOADS = {
    "poly": dict(fn=poly, args=_args_poly, wrt=0, static=(),
                 kind="scalar", desc="degree-8 Horner polynomial"),
    "loop_sum": dict(fn=loop_sum, args=_args_loop_sum, wrt=0, static=(1,),
                     kind="scalar", desc="for-range loop, n=1000, sin"),
    "newton_sqrt": dict(fn=newton_sqrt, args=_args_newton, wrt=0, static=(),
                        kind="scalar",
                        desc="while loop w/ data-dependent trip count"),
    "recursive_pow": dict(fn=recursive_pow, args=_args_pow, wrt=0,
                          static=(1,), kind="scalar",
                          desc="linear recursion, n=30"),
    "closure_compose": dict(fn=closure_compose, args=_args_closure, wrt=1,
                            static=(2,), kind="scalar",
                            desc="compose(f,g) + closure applied k=100 times"),
    "logistic": dict(fn=logistic, args=_args_logistic, wrt=0, static=(),
                     kind="array", desc="log-loss, X 1000x20, grad wrt w"),
    "mlp": dict(fn=mlp, args=_args_mlp, wrt=0, static=(),
                kind="array", desc="tanh MLP 64-128-10, batch 256"),
    "elementwise": dict(fn=elementwise, args=_args_elementwise, wrt=0,
                        static=(), kind="array",
                        desc="sum(exp(sin x) * x**2), 1e6 f64"),
    "rnn": dict(fn=rnn, args=_args_rnn, wrt=0, static=(), kind="array",
                desc="tanh RNN, T=50, batch 32, 32->128->10, BPTT"),
}

# functions that must be re-bound together (workloads + helpers they call)
_REBINDABLE = ("poly", "loop_sum", "newton_sqrt", "recursive_pow", "compose",
               "closure_compose", "logistic", "mlp", "elementwise", "rnn")


def rebind(overrides, wrap=None):
    """Return a dict name -> function of copies of the workload functions
    whose globals have ``overrides`` applied (e.g. {"math": shim, "np": jnp}).

    Helper functions and recursive self-references resolve to the re-bound
    copies (optionally wrapped, e.g. by numba.njit), so the *same source* runs
    on another backend.
    """
    g = dict(globals())
    g.update(overrides)
    out = {}
    for name in _REBINDABLE:
        f = globals()[name]
        nf = types.FunctionType(f.__code__, g, f.__name__, f.__defaults__,
                                f.__closure__)
        nf.__kwdefaults__ = f.__kwdefaults__
        nf.__qualname__ = f.__qualname__
        nf = wrap(nf) if wrap is not None else nf
        g[name] = nf
        out[name] = nf
    return out
