"""Tests of `ir.analysis` on hand-built graphs: free variables, nesting, calls, schedules."""

from __future__ import annotations

import pytest
from handbuilt_graphs import fact, if_else, loop

from tapeless.errors import InternalError
from tapeless.ir.analysis import analyze, body_nodes, graph_constants
from tapeless.ir.nodes import Apply, Constant, Graph
from tapeless.ir.primitives import get
from tapeless.ir.verify import verify

add, mul, sub = (get(n) for n in ("add", "mul", "sub"))


def test_body_nodes_of_graph_without_output_is_empty():
    assert list(body_nodes(Graph("g"))) == []


def test_body_nodes_stop_at_other_graphs():
    f, t, _e, c, _ = if_else()
    body = list(body_nodes(t))
    assert c in body
    # c's own inputs (f's parameters) are not part of t's body
    assert not any(n in body for n in f.parameters)


def test_graph_constants_dedup_in_order():
    f, t, e, _, _ = if_else()
    nodes = [Constant(t), Constant(1), Constant(e), Constant(t)]
    assert graph_constants(nodes) == [t, e]


def test_if_else_nesting():
    f, t, e, c, _ = if_else()
    verify(f)
    a = analyze(f)
    assert a.graphs == [f, t, e]
    assert a.free_variables(f) == []
    assert a.free_variables(t) == [c]
    assert set(a.free_variables(e)) == {c, f.parameters[1]}
    assert a.parent(f) is None and a.parent(t) is f and a.parent(e) is f
    assert a.children(f) == [t, e]
    assert a.ancestors(t) == [f]
    assert a.scope(f) == [f, t, e]
    assert a.is_closure(t) and not a.is_closure(f)
    assert a.references(f) == [t, e]
    assert not any(a.recursive(g) for g in (f, t, e))


def test_loop_nesting_and_transitive_free_variables():
    f, h, b, after, n, k = loop()
    verify(f)
    a = analyze(f)
    assert set(a.graphs) == {f, h, b, after}
    assert set(a.free_variables(h)) == {n, k}
    # body reads i, s of the header and k of f directly; n through the header it calls
    assert set(a.free_variables(b)) == {*h.parameters, k, n}
    assert a.free_variables(after) == [h.parameters[1]]
    assert a.parent(h) is f
    assert a.parent(b) is h and a.parent(after) is h
    assert a.ancestors(b) == [h, f]
    assert a.scope(f) == [f, h, b, after]
    assert a.recursive(h) and a.recursive(b)
    assert not a.recursive(f) and not a.recursive(after)
    assert a.call_graph.has_edge(b, h) and a.call_graph.has_edge(h, b)


def test_recursion_through_closures():
    g, t, e = fact()
    verify(g)
    a = analyze(g)
    assert a.recursive(g) and a.recursive(e) and not a.recursive(t)
    assert a.parent(e) is g and a.parent(t) is None  # t reads nothing of g
    assert a.free_variables(g) == []
    assert a.free_variables(e) == [g.parameters[0]]


def test_mutual_recursion_of_top_level_graphs():
    even, odd = Graph("even"), Graph("odd")
    n = even.add_parameter("n")
    m = odd.add_parameter("n")
    even.output = even.apply(odd, even.apply(sub, n, 1))
    odd.output = odd.apply(even, odd.apply(sub, m, 1))
    a = analyze(even)
    assert a.graphs == [even, odd]
    assert a.recursive(even) and a.recursive(odd)
    assert a.parent(even) is None and a.parent(odd) is None


def test_analysis_of_a_closure_reaches_its_owner():
    f, t, e, _c, _ = if_else()
    a = analyze(t)
    assert a.graphs[0] is t
    assert f in a.graphs
    assert a.parent(t) is f


def test_deep_nesting_parent_is_innermost_owner():
    f = Graph("f")
    x = f.add_parameter("x")
    g = Graph("g")
    y = g.add_parameter("y")
    h = Graph("h")
    h.output = h.apply(add, x, y)  # reads both f and g
    g.output = Constant(h)
    f.output = Constant(g)
    verify(f)
    a = analyze(f)
    assert a.parent(h) is g and a.parent(g) is f
    assert a.free_variables(g) == [x]  # h's x passes through g
    assert a.ancestors(h) == [g, f]


def test_schedule_orders_inputs_first_and_output_last():
    f, t, e, c, cond = if_else()
    a = analyze(f)
    order = a.schedule(f)
    assert order[-1] is f.output
    assert order.index(c) < order.index(cond)
    assert len(order) == len(set(order)) == 4
    assert a.schedule(f) is order  # cached


def test_schedule_puts_free_variables_before_the_closure():
    # f(x): k = x + 1 is only read by closure g, which f returns.
    f = Graph("f")
    x = f.add_parameter("x")
    k = f.apply(add, x, 1)
    g = Graph("g")
    g.output = g.apply(mul, k, 2)
    f.output = Constant(g)
    verify(f)
    assert analyze(f).schedule(f) == [k]


def test_schedule_reaches_free_variables_through_called_closures():
    # f's closure A only calls sibling B, which reads f's node k.
    f = Graph("f")
    x = f.add_parameter("x")
    k = f.apply(mul, x, 3)
    b_ = Graph("B")
    b_.output = b_.apply(add, k, 1)
    a_ = Graph("A")
    a_.output = a_.apply(b_)
    f.output = f.apply(a_)
    verify(f)
    an = analyze(f)
    assert an.parent(b_) is f and an.parent(a_) is f
    assert an.free_variables(a_) == [k]
    sched = an.schedule(f)
    assert sched.index(k) < sched.index(f.output)


def test_schedule_detects_cycles():
    f = Graph("f")
    x = f.add_parameter("x")
    a1 = f.apply(add, x, 1)
    a2 = f.apply(add, a1, 1)
    a1.set_input(1, a2)
    f.output = a2
    with pytest.raises(InternalError, match="cycle"):
        analyze(f).schedule(f)


def test_schedule_detects_cycles_through_closures():
    # r = h() where h reads r: a value that needs itself.
    f = Graph("f")
    h = Graph("h")
    r = Apply([Constant(h)], f)
    h.output = h.apply(add, r, 1)
    f.output = r
    with pytest.raises(InternalError, match="cycle"):
        analyze(f).schedule(f)


def test_impossible_nesting_is_an_internal_error():
    a_, b_ = Graph("A"), Graph("B")
    pa, pb = a_.add_parameter("p"), b_.add_parameter("q")
    a_.output = a_.apply(add, pb, Constant(b_))
    b_.output = b_.apply(add, pa, Constant(a_))
    with pytest.raises(InternalError, match="nested inside itself"):
        analyze(a_)


def test_diamond_schedules_each_node_once():
    f = Graph("f")
    x = f.add_parameter("x")
    base = f.apply(mul, x, x)
    left = f.apply(add, base, 1)
    right = f.apply(sub, base, 1)
    f.output = f.apply(mul, left, right)
    order = analyze(f).schedule(f)
    assert order.count(base) == 1 and len(order) == 4
    assert order.index(base) < min(order.index(left), order.index(right))


def test_graphs_order_is_deterministic():
    texts = []
    for _ in range(3):
        f, *_rest = loop()
        texts.append([g.name for g in analyze(f).graphs])
    assert texts[0] == texts[1] == texts[2]


def test_nodes_only_closures_read_are_part_of_their_owners_body():
    """Regression: `y = x + 1` read only by an inner closure k.

        def P(x):
            def main():
                y = x + 1
                def k(): return y
                return k()
            return main()

    main's output never reaches y, but y reads P's x, so main is a closure over
    P; and a graph called only from such a node must be found too.
    """
    helper = Graph("helper")
    hp = helper.add_parameter("a")
    helper.output = helper.apply(add, hp, 1)
    P = Graph("P")
    x = P.add_parameter("x")
    main = Graph("P:main")
    y = main.apply(add, x, main.apply(helper, 1))
    k = Graph("P:main:k")
    k.output = y
    main.output = main.apply(k)
    P.output = P.apply(main)
    verify(P)
    a = analyze(P)
    assert a.graphs == [P, main, k, helper]
    assert a.free_variables(main) == [x]
    assert a.parent(main) is P and a.parent(k) is main
    assert helper in a.references(main)
    assert y in a.body(main) and x in a.body(main)
    assert a.schedule(main)[-1] is main.output
    assert set(a.schedule(main)) == {y, y.inputs[2], main.output}
    from tapeless.backend.interp import interpret

    assert interpret(P, 2) == 4
