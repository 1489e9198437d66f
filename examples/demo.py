"""tapeless demo: a program with a loop, a closure and a recursion is parsed to
the graph IR, printed, run by the reference interpreter, and compared with
CPython; then derivatives by the tapeless reverse mode (first, second order,
and grad inside compiled code) are checked against finite differences and
closed forms.

    make demo                         # or: .venv/bin/python examples/demo.py
    .venv/bin/tapeless-ir examples/demo.py:demo --stage parse --format json
"""

from __future__ import annotations

import inspect
import math

import numpy as np

import tapeless
from tapeless.frontend import parse_function
from tapeless.ir.printer import format_graph


def power(x, n):
    """Recursion: exponentiation by squaring."""
    if n == 0:
        return 1.0
    if n % 2 == 0:
        h = power(x, n // 2)
        return h * h
    return x * power(x, n - 1)


def demo(x, n):
    """A loop whose body calls a closure, which reads `scale` assigned after it."""

    def term(k):
        return power(x, k) / scale + math.sin(k * x)

    scale = float(n) + 1.0
    total = 0.0
    for k in range(n):
        if k % 3 == 2:
            continue
        total += term(k)
    return total, n > 3 and total > 0.0


def newton_sqrt(a):
    """A while loop with a data-dependent trip count (JAX cannot reverse it)."""
    x = a
    while abs(x * x - a) > 1e-12 * a:
        x = 0.5 * (x + a / x)
    return x


def soft_energy(x, a):
    """A closure capturing `a`, a higher-order call, and a nested derivative."""

    def spring(t):
        return a * t * t

    slope = tapeless.grad(spring)(x)  # d/dt (a t^2) = 2 a t, inside compiled code
    return apply_twice(spring, x) + slope * math.cos(x)


def apply_twice(f, x):
    return f(f(x))


def derivatives() -> bool:
    print("\n# reverse mode: tapeless.grad, no tape, closures as backpropagators\n")
    ok = True

    def report(name: str, got: float, want: float) -> None:
        nonlocal ok
        good = abs(got - want) <= 1e-6 * max(1.0, abs(want))
        ok &= good
        print(f"  {name:42} tapeless {got: .12f}   reference {want: .12f}  {'ok' if good else 'WRONG'}")

    def central(f, args, i, h=1e-6):
        hi, lo = list(args), list(args)
        hi[i] += h
        lo[i] -= h
        return (f(*hi) - f(*lo)) / (2 * h)

    a = 1234.5
    report("d/da newton_sqrt(a)", tapeless.grad(newton_sqrt)(a), 0.5 / math.sqrt(a))
    # higher orders: native code too, AD environments of closures included
    second = tapeless.grad(tapeless.grad(newton_sqrt))
    report("d2/da2 newton_sqrt(a)", second(a), -0.25 * a**-1.5)
    report("d/dx power(x, 7)  (recursion)", tapeless.grad(power)(1.1, 7), 7 * 1.1**6)
    third = tapeless.grad(tapeless.grad(tapeless.grad(power)))
    report("d3/dx3 power(x, 7)", third(1.1, 7), 210 * 1.1**4)
    args = (0.7, 1.3)
    gx, ga = tapeless.grad(soft_energy, argnums=(0, 1))(*args)
    report("d/dx soft_energy  (closure, nested grad)", gx, central(soft_energy, args, 0))
    report("d/da soft_energy  (into the captured a)", ga, central(soft_energy, args, 1))
    return ok


def mlp_loss(params, X, Y):
    """A tanh layer and a linear one on NumPy arrays: matrix products, broadcasting, sums."""
    W1, b1, W2 = params
    h = np.tanh(X @ W1 + b1)
    d = h @ W2 - Y
    return 0.5 * np.sum(d * d) / X.shape[0]


def arrays() -> bool:
    print("\n# NumPy arrays natively: fused loops, BLAS products, the gradient\n")
    rng = np.random.default_rng(0)
    params = (0.3 * rng.standard_normal((4, 8)), 0.1 * rng.standard_normal(8), 0.3 * rng.standard_normal((8, 2)))
    X, Y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))
    loss = tapeless.compile(mlp_loss)
    value, numpy_value = loss(params, X, Y), mlp_loss(params, X, Y)
    grads = tapeless.grad(mlp_loss)(params, X, Y)
    direction = tuple(rng.standard_normal(p.shape) for p in params)
    h = 1e-6
    moved = [tuple(p + s * h * u for p, u in zip(params, direction, strict=True)) for s in (1, -1)]
    fd = (mlp_loss(moved[0], X, Y) - mlp_loss(moved[1], X, Y)) / (2 * h)
    along = sum(float(np.sum(g * u)) for g, u in zip(grads, direction, strict=True))
    native = bool(loss.natives)
    ok = native and math.isclose(value, numpy_value, rel_tol=1e-12) and math.isclose(along, fd, rel_tol=1e-6)
    print(f"  mlp_loss  tapeless {value:.12f}  NumPy {numpy_value:.12f}  (native: {native})")
    print(f"  gradient along a random direction  tapeless {along:.9f}  finite differences {fd:.9f}")
    return ok


def main() -> None:
    compile_ = tapeless.compile

    print("# source\n")
    print(inspect.getsource(power))
    print(inspect.getsource(demo))

    print("# graph IR (front end output)\n")
    print(format_graph(parse_function(demo)))

    print("\n# run: reference interpreter vs CPython\n")
    compiled = compile_(demo, backend="interp")
    ok = True
    for args in [(0.5, 0), (1.25, 4), (-0.75, 10), (2.0, 25)]:
        got, want = compiled(*args), demo(*args)
        same = got == want and type(got[0]) is type(want[0]) and type(got[1]) is type(want[1])
        ok &= same
        print(
            f"demo{args}\n  tapeless: {got!r}\n  CPython:  {want!r}  {'same' if same else 'DIFFERENT'}"
        )
    if not ok:
        raise SystemExit("the interpreter disagrees with CPython")
    print("\nall results identical to CPython")
    if not derivatives():
        raise SystemExit("a derivative disagrees with its reference")
    print("\nall derivatives agree with their references")
    if not arrays():
        raise SystemExit("an array result disagrees with NumPy or finite differences")
    print("\narray results agree with NumPy and finite differences")


if __name__ == "__main__":
    main()
