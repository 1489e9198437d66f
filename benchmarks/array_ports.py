"""Peers' versions of the array workloads that ports.py (a verbatim copy of shared/bench/ports.py)
lacks; plain Python here, peers.py applies jax.jit and times them.

- `make_jax_scan_ports()`: `rnn` with its time loop as `lax.scan` (one traced step, differentiated
  as a loop) instead of the Python loop that `jax.jit` unrolls into 50 steps at trace time.
- `torch_numpy(torch)`: the NumPy names the array workloads use, on PyTorch float64 tensors, so
  that the workloads' own source runs in PyTorch eager mode once re-bound (workloads.rebind).

Importing this module imports neither JAX nor PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import ModuleType, SimpleNamespace
from typing import Any


def make_jax_scan_ports() -> dict[str, tuple[Callable[..., Any], tuple[int, ...]]]:
    """workload -> (its lax.scan port, static argnums), like ports.make_jax_ports."""
    import jax.numpy as jnp
    from jax import lax

    def rnn_scan(params: Any, xs: Any, y: Any) -> Any:
        Wx, Wh, b, Wy = params

        def step(h: Any, x: Any) -> tuple[Any, None]:
            return jnp.tanh(x @ Wx + h @ Wh + b), None

        h, _ = lax.scan(step, jnp.zeros((xs.shape[1], Wh.shape[0])), xs)
        d = h @ Wy - y
        return jnp.sum(d * d) / xs.shape[1]

    return {"rnn": (rnn_scan, ())}


def torch_numpy(torch: ModuleType) -> SimpleNamespace:
    """A stand-in for `np` in the array workloads: the same names on torch tensors; `zeros`
    makes float64, as NumPy does."""
    return SimpleNamespace(
        exp=torch.exp, log=torch.log, sin=torch.sin, tanh=torch.tanh,
        sum=torch.sum, mean=torch.mean, zeros=partial(torch.zeros, dtype=torch.float64),
    )
