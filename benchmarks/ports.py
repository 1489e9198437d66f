# Verbatim copy of shared/bench/ports.py (the issue-5 benchmark definitions), kept here so
# benchmarks/peers.py runs without shared/; change it there first, then copy it again.
# ruff: noqa: B007, I001
"""System-specific ports used by anchors.py.

These are NOT part of the compiler's input subset (that is workloads.py).
They exist to give reference numbers where the as-written source cannot be
used by a system, or to provide hand-written references:

  * numba: hand-written analytic gradients ("physical limit"-style reference
    for gradient speed), a fused-loop forward for `elementwise`, and a port
    of `closure_compose` without the escaping closure (numba rejects the
    as-written version).
  * JAX: idiomatic ports of the scalar loop workloads with lax control flow
    (fori_loop / while_loop) instead of Python loops that unroll at trace time.

Functions are plain Python here; anchors.py applies numba.njit / jax.jit.
"""

import math

import numpy as np


# ==========================================================================
# numba: hand-written analytic gradients (apply njit)
# ==========================================================================

def nb_loop_sum_grad(x, n):
    # d/dx sum_i sin(x*i)/(i+1) = sum_i i*cos(x*i)/(i+1)
    g = 0.0
    for i in range(n):
        g += i * math.cos(x * i) / (i + 1)
    return g


def nb_elementwise_fwd_loop(x):
    # fused single-pass forward (no temporaries): reference for the grad ratio
    s = 0.0
    for i in range(x.shape[0]):
        xi = x[i]
        s += math.exp(math.sin(xi)) * xi * xi
    return s


def nb_elementwise_grad(x):
    # d/dx_i exp(sin x_i) x_i^2 = exp(sin x_i) (cos x_i x_i^2 + 2 x_i)
    g = np.empty_like(x)
    for i in range(x.shape[0]):
        xi = x[i]
        e = math.exp(math.sin(xi))
        g[i] = e * (math.cos(xi) * xi * xi + 2.0 * xi)
    return g


def nb_logistic_grad(w, X, y):
    # loss = mean log(1 + exp(-y z)),  z = X w
    # dloss/dz_i = -y_i / (1 + exp(y_i z_i)) / N
    z = X @ w
    r = -y / (1.0 + np.exp(y * z))
    return (X.T @ r) / X.shape[0]


def nb_mlp_grad(params, X, Y):
    W1, b1, W2, b2 = params
    B = X.shape[0]
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    d = (out - Y) / B
    gW2 = h.T @ d
    gb2 = d.sum(axis=0)
    da1 = (d @ W2.T) * (1.0 - h * h)
    gW1 = X.T @ da1
    gb1 = da1.sum(axis=0)
    return (gW1, gb1, gW2, gb2)


def nb_closure_compose_port(x, a, k):
    # numba rejects the as-written closure_compose (closure capturing `a`
    # escapes into compose()); this port keeps a non-escaping closure.
    def step(t):
        u = a * t
        return math.sin(u) + 0.5 * u
    acc = x
    for i in range(k):
        acc = step(acc)
    return acc


# hand-written gradient table: workload -> (grad fn, fwd fn or None)
# fwd None means "use the numba build of the as-written forward".
NUMBA_HAND = {
    "loop_sum": (nb_loop_sum_grad, None),
    "logistic": (nb_logistic_grad, None),
    "mlp": (nb_mlp_grad, None),
    "elementwise": (nb_elementwise_grad, nb_elementwise_fwd_loop),
}


# ==========================================================================
# JAX: lax control-flow ports (built lazily so importing this module does
# not import jax)
# ==========================================================================

def make_jax_ports():
    import jax.numpy as jnp
    from jax import lax

    def loop_sum_fori(x, n):
        def body(i, acc):
            return acc + jnp.sin(x * i) / (i + 1)
        return lax.fori_loop(0, n, body, 0.0)

    def newton_sqrt_while(a):
        def cond(x):
            return jnp.abs(x * x - a) > 1e-12 * a

        def body(x):
            return 0.5 * (x + a / x)
        return lax.while_loop(cond, body, a)

    def compose(f, g):
        def h(t):
            return f(g(t))
        return h

    def closure_compose_fori(x, a, k):
        def scale(t):
            return a * t

        def bump(t):
            return jnp.sin(t) + 0.5 * t
        step = compose(bump, scale)
        return lax.fori_loop(0, k, lambda i, acc: step(acc), x)

    # workload -> (fn, static argnums)
    return {
        "loop_sum": (loop_sum_fori, (1,)),
        "newton_sqrt": (newton_sqrt_while, ()),
        "closure_compose": (closure_compose_fori, (2,)),
    }
