"""Work that is dead only across recursion (issue 5: a gradient within a few
times its own forward): the calls `knowncalls` follows through closures, the
loop-carried parameters `params` drops, the bprop results `tuples` narrows.
Values are checked against the interpreter before optimization and closed forms.
"""

from __future__ import annotations

import math

import pytest
from opt_support import assert_same_run

from tapeless.ad.grad import grad_graph
from tapeless.backend.interp import interpret
from tapeless.frontend import parse_function
from tapeless.ir.analysis import analyze
from tapeless.ir.nodes import Graph
from tapeless.ir.types import F64, I64
from tapeless.opt import DEFAULT, optimize
from tapeless.opt.algebra import prim_of
from tapeless.opt.dce import dce
from tapeless.opt.knowncalls import known_groups
from tapeless.tools.irdump import stats


def loop_sum(x, n):
    acc = 0.0
    for i in range(n):
        acc = acc + math.sin(x * i) / (i + 1)
    return acc


def loop_sum_dx(x: float, n: int) -> float:
    return sum(i * math.cos(x * i) / (i + 1) for i in range(n))


def carry_junk(x, n):
    junk = 0.0
    acc = x
    for i in range(n):
        junk = junk + math.sin(acc) * i
        acc = acc * 0.5 + 1.0
    return acc


def make_scaler(x):
    def scale(y):
        return x * y

    return scale


def call_later(x):
    f = make_scaler(x)
    return f(2.0) + f(x)


def loop_sum_gradient() -> tuple[Graph, Graph]:
    graph = grad_graph(parse_function(loop_sum), (0,), single=True, with_value=False)
    return graph, optimize(graph, arg_types=(F64, I64), verify_each=True)


def bprops(root: Graph) -> list[Graph]:
    return [g for g in analyze(root).graphs if g.flags.get("bprop")]


def test_loop_gradient_drops_the_int_sensitivity_and_the_forward_sin() -> None:
    graph, optimized = loop_sum_gradient()
    before = stats(optimize(graph, [p for p in DEFAULT if p != "params"], arg_types=(F64, I64)))["primitives"]
    after = stats(optimized)["primitives"]
    # the primal sum is dead (only the gradient is asked for), so its sin is not computed
    assert before["sin"] >= 1 and "sin" not in after, after
    # d(i) = d(i') - d*sin(x*i)/(i+1)^2 ... per iteration: its neg, and a truediv, are gone
    assert "neg" not in after and after["truediv"] == 1, after
    assert after["cos"] == 1 and after["mul"] == 3, after
    # each backpropagator returns (d_acc, d_x): the sensitivities of i and n are gone
    for g in bprops(optimized):
        assert prim_of(g.output) == "make_tuple" and len(g.output.inputs) == 3
    assert {len(g.parameters) for g in analyze(optimized).graphs if g.name.startswith("J(")} == {3}


@pytest.mark.parametrize("args", [(0.3, 10), (1.7, 1), (-0.4, 0), (0.9, 25)])
def test_loop_gradient_values(args: tuple[float, int]) -> None:
    graph, optimized = loop_sum_gradient()
    assert_same_run(graph, optimized, args, zero_sign=False)
    assert interpret(optimized, *args) == pytest.approx(loop_sum_dx(*args), rel=1e-12, abs=1e-15)


def test_loop_carried_variable_that_feeds_only_itself_is_removed() -> None:
    graph = parse_function(carry_junk)
    optimized = optimize(graph, arg_types=(F64, I64), verify_each=True)
    assert "sin" not in stats(optimized)["primitives"]
    for args in [(0.3, 4), (2.0, 0), (-1.0, 7)]:
        assert_same_run(graph, optimized, args)


def test_closures_called_later_are_known_calls() -> None:
    _, optimized = loop_sum_gradient()
    a = analyze(optimized)
    groups = known_groups(a)
    (bprop_group,) = [g for g in groups if any(h.flags.get("bprop") for h in g.members)]
    # the root calls the loop's backpropagator, and each one calls the next iteration's
    assert set(bprop_group.members) == set(bprops(optimized))
    assert len(bprop_group.sites) == 2
    assert {site.graph for site in bprop_group.sites} == {optimized, *[h for h in bprop_group.members if "body" in h.name]}


def test_escaping_closures_are_not_known() -> None:
    root = parse_function(make_scaler)
    dce(root)
    (scale,) = [g for g in analyze(root).graphs if g is not root]
    assert all(scale not in group.members for group in known_groups(analyze(root)))
    called = parse_function(call_later)
    optimized = optimize(called, ["params", "tuples", "dce"], verify_each=True)
    for x in (0.5, -3.0):
        assert interpret(optimized, x) == interpret(called, x) == x * 2.0 + x * x


def test_closure_parameters_no_result_reads_are_removed() -> None:
    def pick(x, y):
        def first(a, b):
            return a

        def second(a, b):
            return a * 2.0

        f = first if x > 0.0 else second
        return f(x, math.sin(y))

    graph = parse_function(pick)
    optimized = optimize(graph, ["params", "dce"], verify_each=True)
    assert "sin" not in stats(optimized)["primitives"]
    for args in [(1.0, 2.0), (-1.0, 2.0)]:
        assert_same_run(graph, optimized, args)
