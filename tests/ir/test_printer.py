"""Tests of the text printer on hand-built graphs (golden files for parsed programs
are in test_golden.py)."""

from __future__ import annotations

import textwrap

import numpy as np
from handbuilt_graphs import fact

from tapeless.errors import Location
from tapeless.ir.nodes import Apply, Constant, Graph, Unbound
from tapeless.ir.primitives import get
from tapeless.ir.printer import Printer, format_graph, format_value, node_label

add, mul, sub, lt, switch, make_tuple = (
    get(n) for n in ("add", "mul", "sub", "lt", "switch", "make_tuple")
)


def text(s: str) -> str:
    return textwrap.dedent(s).lstrip("\n")


def if_else(file: str = "/somewhere/prog.py") -> Graph:
    f = Graph("f", Location(file, 1, 0), defaults=(2.0,))
    x, y = f.add_parameter("x"), f.add_parameter("y")
    c = f.apply(mul, x, y, loc=Location(file, 2, 8))
    t = Graph("f:if_true")
    t.output = t.apply(add, c, 1, loc=Location(file, 4, 15))
    e = Graph("f:if_false")
    e.output = e.apply(sub, c, y)
    cond = f.apply(lt, c, 0.0, loc=Location(file, 3, 7))
    f.output = f.apply(f.apply(switch, cond, t, e))
    return f


def test_node_labels():
    assert [node_label(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "a", "b", "z", "aa", "ab", "az", "ba", "zz", "aaa",
    ]


def test_straight_line():
    f = Graph("f")
    a, b = f.add_parameter("a"), f.add_parameter("b")
    f.output = f.apply(add, f.apply(mul, a, b), 1.5)
    assert format_graph(f) == text(
        """
        graph f(%a, %b) {
          %c = mul(%a, %b)
          %d = add(%c, 1.5)
          return %d
        }
        """
    )


def test_if_else_closures_defaults_and_free_variables():
    assert format_graph(if_else()) == text(
        """
        graph f(%a, %b = 2.0) {
          %c = mul(%a, %b)
          %d = lt(%c, 0.0)
          %e = switch(%d, @f:if_true, @f:if_false)
          %f = %e()
          return %f
        }

        graph f:if_true() closure over f {
          %a = add(%f.c, 1)
          return %a
        }

        graph f:if_false() closure over f {
          %a = sub(%f.c, %f.b)
          return %a
        }
        """
    )


def test_locations_use_base_name_and_one_based_columns():
    out = format_graph(if_else(), locations=True)
    lines = out.splitlines()
    assert lines[0] == "graph f(%a, %b = 2.0) {  # prog.py:1:1"
    assert lines[1] == "  %c = mul(%a, %b)  # prog.py:2:9"
    assert lines[2] == "  %d = lt(%c, 0.0)  # prog.py:3:8"
    assert "  %a = add(%f.c, 1)  # prog.py:4:16" in lines
    assert "somewhere" not in out
    # without the flag, no comments at all
    assert "#" not in format_graph(if_else())


def test_constants():
    f = Graph("f")
    x = f.add_parameter("x")
    values = [
        True, None, (1, 2), (1,), (), (1.0, (2, None)), np.zeros((2, 3), dtype=np.int64),
        np.ones(3), np.array([True]), slice(None, 3, None), Unbound("z"), mul, -0.0,
        float("inf"), 10**20,
    ]
    f.output = f.apply(make_tuple, x, *values)
    line = format_graph(f).splitlines()[1]
    assert line == (
        "  %b = make_tuple(%a, True, None, (1, 2), (1,), (), (1.0, (2, None)), "
        "array(i64, shape=(2, 3)), array(f64, shape=(3,)), array(bool, shape=(1,)), "
        "slice(None, 3, None), unbound(z), mul, -0.0, inf, 100000000000000000000)"
    )


def test_object_reprs_with_addresses_are_not_printed():
    class Thing:
        pass

    assert format_value(Thing()) == "<Thing>"


def test_output_can_be_a_constant_a_parameter_or_a_graph():
    f = Graph("f")
    f.add_parameter("x")
    f.output = Constant(1.0)
    assert format_graph(f) == "graph f(%a) {\n  return 1.0\n}\n"
    f.output = f.parameters[0]
    assert format_graph(f) == "graph f(%a) {\n  return %a\n}\n"
    g = Graph("g")
    g.output = Constant(None)
    f.output = Constant(g)
    assert format_graph(f) == "graph f(%a) {\n  return @g\n}\n\ngraph g() {\n  return None\n}\n"


def test_each_graph_once_and_recursion():
    g, *_ = fact()
    out = format_graph(g)
    assert out.count("graph fact(") == 1
    assert out.count("graph fact:if_false()") == 1
    assert out == text(
        """
        graph fact(%a) {
          %b = lt(%a, 1)
          %c = switch(%b, @fact:if_true, @fact:if_false)
          %d = %c()
          return %d
        }

        graph fact:if_false() closure over fact {
          %a = sub(%fact.a, 1)
          %b = @fact(%a)
          %c = mul(%fact.a, %b)
          return %c
        }

        graph fact:if_true() {
          return 1
        }
        """
    )


def test_nested_graphs_follow_their_parent():
    # main calls top-level helper h first, then makes closure c; c is printed
    # right after main, h after main's whole scope.
    h = Graph("h")
    hx = h.add_parameter("x")
    h.output = h.apply(add, hx, 1)
    main = Graph("main")
    x = main.add_parameter("x")
    y = main.apply(h, x)
    c = Graph("main:c")
    c.output = c.apply(mul, y, 2)
    main.output = main.apply(add, main.apply(c), y)
    names = [line.split("(")[0] for line in format_graph(main).splitlines() if line.startswith("graph")]
    assert names == ["graph main", "graph main:c", "graph h"]


def test_duplicate_names_get_suffixes_in_print_order():
    f = Graph("f")
    x = f.add_parameter("x")
    lams = []
    for k in range(3):
        g = Graph("lambda")
        g.output = g.apply(add, x, k)
        lams.append(g)
    f.output = f.apply(make_tuple, *lams)
    out = format_graph(f)
    assert "make_tuple(@lambda, @lambda.2, @lambda.3)" in out
    assert "graph lambda.3() closure over f {\n  %a = add(%f.a, 2)" in out
    # a graph really named like a suffix does not collide; `other` is top-level,
    # so it is printed (and named) after f's scope
    other = Graph("lambda.2")
    other.output = Constant(0)
    f.output = f.apply(make_tuple, other, *lams)
    out = format_graph(f)
    assert "make_tuple(@lambda.2.2, @lambda, @lambda.2, @lambda.3)" in out
    assert out.endswith("graph lambda.2.2() {\n  return 0\n}\n")


def test_deterministic_across_rebuilds():
    outs = {format_graph(if_else(), locations=True) for _ in range(5)}
    assert len(outs) == 1


def test_computed_callee():
    f = Graph("f")
    fn = f.add_parameter("fn")
    f.output = f.apply(fn, 1, 2)
    assert "%b = %a(1, 2)" in format_graph(f)


def test_broken_ir_still_prints():
    # no output
    assert format_graph(Graph("g")) == "graph g() {\n  <no output>\n}\n"
    # a dependency cycle
    f = Graph("f")
    x = f.add_parameter("x")
    a1 = f.apply(add, x, 1)
    a2 = f.apply(add, a1, 1)
    a1.set_input(1, a2)
    f.output = a2
    out = format_graph(f)
    assert "add(%a, 1)" in out or "add(%" in out
    # an Apply without inputs
    g = Graph("g")
    g.output = Apply([], g)
    assert "%a = <no inputs>" in format_graph(g)
    # impossible nesting (the analysis fails)
    a_, b_ = Graph("A"), Graph("B")
    pa, pb = a_.add_parameter("p"), b_.add_parameter("q")
    a_.output = a_.apply(add, pb, Constant(b_))
    b_.output = b_.apply(add, pa, Constant(a_))
    out = format_graph(a_)
    assert "graph A(%a)" in out and "graph B(%a)" in out and "%B.a" in out


def test_marks_point_at_nodes():
    f = if_else()
    c = f.output.inputs[0].inputs[1].inputs[1]
    p = Printer(f, marks={c: "here", f.parameters[0]: "param"})
    lines = p.format_one(f).splitlines()
    assert lines[0].endswith("# <-- param")
    assert lines[1] == "  %c = mul(%a, %b)  # <-- here"


def test_printing_a_closure_prints_it_first_then_its_owner():
    f = if_else()
    t = f.output.inputs[0].inputs[2].value
    out = format_graph(t)
    heads = [line for line in out.splitlines() if line.startswith("graph")]
    assert heads == [
        "graph f:if_true() closure over f {",
        "graph f(%a, %b = 2.0) {",
        "graph f:if_false() closure over f {",
    ]
    assert "%a = add(%f.c, 1)" in out  # owner's node names do not depend on the root
