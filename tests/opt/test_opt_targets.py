"""The optimizer's size targets (issue 4), checked on the graphs that
`tapeless.grad` runs, with their values against the unoptimized graphs and
closed forms.

- straight-line code of N primitive operations: one graph, no closure, no
  environment operation, no tuple built to be taken apart, at most 3N + 10
  nodes;
- `if`: no closure but the branches' backpropagators; a loop or recursion: one backpropagator closure (made
  once per iteration) and nothing else;
- n-th derivatives: polynomial growth in n with `AGGRESSIVE`;
- a function passed to a loop or a recursion is called directly (`specialize`),
  forward and gradient, where only backpropagators stay indirect;
- a recursion whose callers read one element of its result tuple computes
  only that element (`tuples`).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from opt_programs import apply_n, apply_rec, cube, power_pair, sq
from opt_support import apply_count, assert_same_run

from tapeless.ad.grad import grad_graph
from tapeless.backend.interp import interpret
from tapeless.frontend import parse_function
from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Constant, Graph
from tapeless.ir.types import F64, I64
from tapeless.opt import AGGRESSIVE, DEFAULT, optimize
from tapeless.opt.callsites import switch_branches
from tapeless.opt.infer import Fns, Types, functions_in
from tapeless.tools.irdump import derivative, stats


def gradient(fn: Any, types: tuple[Any, ...], passes: tuple[str, ...] | None = None) -> tuple[Graph, Graph]:
    graph = grad_graph(parse_function(fn), (0,), single=True, with_value=False)
    kwargs = {} if passes is None else {"passes": passes}
    return graph, optimize(graph, arg_types=types, verify_each=True, **kwargs)


def straight_3(x, y):
    a = x * y  # 1
    b = math.sin(a)  # 2
    c = b + x  # 3
    d = c * y  # 4
    return d / (x * x + 1.0)  # 5, 6, 7


def straight_12(x, y):
    a = x * x - y  # 2
    b = math.exp(-a) * math.cos(x)  # 4
    c = b / (y * y + 2.0)  # 3
    d = math.tanh(c) + math.log(x * x + 1.0)  # 5
    return d * a  # 1


STRAIGHT = [(straight_3, 7), (straight_12, 15)]


@pytest.mark.parametrize("fn,n_ops", STRAIGHT, ids=[f.__name__ for f, _ in STRAIGHT])
def test_straight_line_gradient_is_lean(fn: Any, n_ops: int) -> None:
    assert stats(parse_function(fn))["nodes"] == n_ops
    graph, optimized = gradient(fn, (F64, F64))
    s = stats(optimized)
    assert s["graphs"] == 1 and s["closures"] == 0, s
    assert s["env_ops"] == 0 and s["tuples_unpacked"] == 0, s
    assert "make_tuple" not in s["primitives"] and "getitem" not in s["primitives"], s
    assert s["nodes"] <= 3 * n_ops + 10, s
    for args in [(0.7, -1.3), (2.0, 0.25), (-0.5, 3.0)]:
        assert_same_run(graph, optimized, args, zero_sign=False)


def branchy(x, y):
    if x > y:
        z = x * y
    else:
        z = math.sin(x)
    if z > 0.0:
        return z * z
    return -z


def while_loop(x):
    acc = x
    while acc < 10.0:
        acc = acc * 2.0 + 0.1
    return acc


def for_loop(x, n):
    acc = 0.0
    for i in range(n):
        acc = acc * x + i
    return acc


def rec_pow(x, n):
    if n == 0:
        return 1.0
    return x * rec_pow(x, n - 1)


def test_gradient_of_if_keeps_only_the_branches_backpropagators() -> None:
    graph, optimized = gradient(branchy, (F64, F64))
    a = analyze(optimized)
    closures = [g for g in a.graphs if a.is_closure(g)]
    # each branch's backpropagator captures what the branch computed; nothing else is a closure
    assert all(g.flags.get("bprop") for g in closures), [g.name for g in closures]
    assert len(closures) <= 4 and stats(optimized)["env_ops"] == 0
    for args in [(2.0, 1.0), (1.0, 2.0), (-1.0, 2.0), (0.5, 0.1)]:
        assert_same_run(graph, optimized, args, zero_sign=False)


LOOPS = [(while_loop, (F64,), [(0.3,), (12.0,)]), (for_loop, (F64, I64), [(0.9, 5), (1.5, 0)]),
         (rec_pow, (F64, I64), [(1.1, 4), (2.0, 0)])]


@pytest.mark.parametrize("fn,types,examples", LOOPS, ids=[f.__name__ for f, _, _ in LOOPS])
def test_gradient_of_loop_keeps_one_backpropagator(fn: Any, types: Any, examples: Any) -> None:
    graph, optimized = gradient(fn, types)
    a = analyze(optimized)
    closures = [g for g in a.graphs if a.is_closure(g)]
    assert len(closures) == 1 and closures[0].flags.get("bprop"), [g.name for g in closures]
    assert stats(optimized)["env_ops"] == 0
    for args in examples:
        assert_same_run(graph, optimized, args, zero_sign=False)


def sin_exp(x):
    return math.sin(x) * math.exp(x)


def poly5(x):
    return 3.0 * x**4 - 2.0 * x**3 + x**2 - 5.0 * x + 7.0


def _sin_exp_closed(n: int, x: float) -> float:
    return 2 ** (n / 2) * math.exp(x) * math.sin(x + n * math.pi / 4)


def _poly5_closed(n: int, x: float) -> float:
    coefficients = [7.0, -5.0, 1.0, -2.0, 3.0]  # of x**0 .. x**4
    total = 0.0
    for k, c in enumerate(coefficients):
        if k >= n:
            total += c * math.perm(k, n) * x ** (k - n)
    return total


HIGHER = [(sin_exp, _sin_exp_closed), (poly5, _poly5_closed)]


@pytest.mark.parametrize("fn,closed", HIGHER, ids=[f.__name__ for f, _ in HIGHER])
def test_high_order_derivatives_grow_polynomially(fn: Any, closed: Any) -> None:
    sizes = []
    for n in range(1, 6):
        graph = derivative(parse_function(fn), n)
        optimized = optimize(graph, AGGRESSIVE, arg_types=(F64,))
        sizes.append(stats(optimized)["nodes"])
        for x in (0.7, -1.2):
            assert interpret(optimized, x) == pytest.approx(closed(n, x), rel=1e-12, abs=1e-12)
    # polynomial: the increments do not grow geometrically (5 orders: at most quadratic-ish)
    assert sizes[-1] <= 4 * max(sizes[0], 5) + 20, sizes


# -- closure elimination: a function passed to a loop or a recursion is called directly
def apply_sq(x, n):
    return apply_n(sq, x, n)


def apply_both(x, n):
    return apply_rec(sq, x, n) + apply_rec(cube, x, n)


def indirect_calls(root: Graph) -> list[Any]:
    """The inferred callee of every call in the program whose function is not a
    constant, nor a `switch` between graph constants."""
    a = analyze(root)
    types = Types(root, a)
    assert types.converged
    out = []
    for g in a.graphs:
        for node in a.schedule(g):
            if not isinstance(node.fn, Constant) and switch_branches(node.fn) is None:
                out.append(types[node.fn])
    return out


def function_parameters(root: Graph) -> list[str]:
    """The parameters that may hold a function (by the inferred types)."""
    a = analyze(root)
    types = Types(root, a)
    return [f"{g.name}.{p.name}" for g in a.graphs for p in g.parameters if list(functions_in(types[p]))]


FIRST_ORDER = [(apply_sq, [(1.1, 3), (0.5, 0)]), (apply_both, [(1.1, 3), (-0.9, 2)])]


@pytest.mark.parametrize("fn,examples", FIRST_ORDER, ids=[f.__name__ for f, _ in FIRST_ORDER])
def test_function_arguments_become_direct_calls(fn: Any, examples: Any) -> None:
    graph = parse_function(fn)
    optimized = optimize(graph, arg_types=(F64, I64), verify_each=True)
    assert indirect_calls(optimized) == [] and function_parameters(optimized) == []
    assert "mul" in stats(optimized)["primitives"]  # sq and cube are inlined into the loops
    for args in examples:
        assert_same_run(graph, optimized, args)


def test_specialization_is_what_makes_recursive_calls_direct() -> None:
    without = tuple(p for p in DEFAULT if p != "specialize")
    optimized = optimize(parse_function(apply_both), without, arg_types=(F64, I64))
    assert indirect_calls(optimized) and function_parameters(optimized)


@pytest.mark.parametrize("fn", [apply_sq, apply_both], ids=["apply_n", "apply_rec"])
def test_gradient_of_function_arguments_calls_only_backpropagators(fn: Any) -> None:
    # a run-time trip count: with a constant one, `unroll` leaves no loop (and no backpropagator) at all
    graph, optimized = gradient(fn, (F64, I64))
    callees = indirect_calls(optimized)
    assert callees and all(
        isinstance(t, Fns) and all(isinstance(g, Graph) and g.flags.get("bprop") for g in t.members)
        for t in callees
    ), callees
    assert function_parameters(optimized) == []
    for x in (0.7, -1.2):
        assert_same_run(graph, optimized, (x, 3), zero_sign=False)


# -- tuple simplification: a recursion returns only the elements its callers read
def power_only(x, n):
    return power_pair(x, n)[0]


def sum_rec(x, n):
    if n == 0:
        return 0.0
    return math.sin(x) + sum_rec(x, n - 1)


def test_unread_tuple_element_is_not_computed() -> None:
    graph = parse_function(power_only)
    without = optimize(graph, tuple(p for p in DEFAULT if p != "tuples"), arg_types=(F64, I64))
    optimized = optimize(graph, arg_types=(F64, I64), verify_each=True)
    # the derivative element (x * d, v + d) is gone, and the tuple with it: x * v stays
    assert stats(without)["primitives"] == {"add": 1, "eq": 1, "getitem": 3, "make_tuple": 1, "mul": 2, "sub": 1, "switch": 1}
    assert stats(optimized)["primitives"] == {"eq": 1, "mul": 1, "sub": 1, "switch": 1}
    assert apply_count(optimized) < apply_count(without)
    for args in [(1.5, 4), (-0.5, 0), (2.0, 1)]:
        assert_same_run(graph, optimized, args)


def test_gradient_of_recursion_drops_the_values_no_backpropagator_reads() -> None:
    # the backward pass of a sum needs no partial sums: J(sum_rec) returns its backpropagator only
    graph, optimized = gradient(sum_rec, (F64, I64))
    without = optimize(graph, tuple(p for p in DEFAULT if p != "tuples"), arg_types=(F64, I64))
    assert "add" in stats(without)["primitives"] and "add" not in stats(optimized)["primitives"]
    assert apply_count(optimized) < apply_count(without)
    for args in [(0.3, 3), (1.2, 0)]:
        assert_same_run(graph, optimized, args, zero_sign=False)
