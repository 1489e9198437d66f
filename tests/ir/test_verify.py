"""Tests of the verifier: valid IR passes; each broken invariant is reported at its node."""

from __future__ import annotations

import numpy as np
import pytest
from handbuilt_graphs import if_else

from tapeless.backend.interp import interpret
from tapeless.errors import InternalError, Location, TapelessError, VerificationError
from tapeless.ir.nodes import OUTPUT, Apply, Constant, Graph, Parameter, Unbound
from tapeless.ir.primitives import get
from tapeless.ir.verify import verify

add, mul, sub, lt, switch, make_tuple = (
    get(n) for n in ("add", "mul", "sub", "lt", "switch", "make_tuple")
)


def bad(root: Graph, *fragments: str) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify(root)
    err = info.value
    assert isinstance(err, InternalError) and isinstance(err, TapelessError)
    for fragment in fragments:
        assert fragment in str(err), str(err)
    return err


# -- valid IR ---------------------------------------------------------------------
def test_valid_programs_pass():
    f, *_ = if_else()
    verify(f)
    g = Graph("g")
    g.add_parameter("x")
    g.output = Constant(None)
    verify(g)


def test_all_supported_constants_pass():
    f = Graph("f")
    h = Graph("h")
    h.output = Constant(0)
    values = [
        True, 1, 2.5, None, (1, (2.0, None)), np.zeros(3), np.zeros((2, 2), np.int64),
        np.array([True]), slice(1, None, -1), mul, Unbound("z"), np.float64(1.0),
        np.int64(3), np.bool_(True), (mul, 1),
    ]
    f.output = f.apply(make_tuple, *values, h)
    verify(f)


def test_dead_users_are_not_stale():
    f = Graph("f")
    x = f.add_parameter("x")
    f.apply(add, x, 1)  # dead: nothing uses it, but it does read x
    f.output = x
    verify(f)


# -- structure ---------------------------------------------------------------------
def test_graph_without_output():
    f = Graph("f")
    g = Graph("g")
    f.output = f.apply(g)
    bad(f, "graph g has no output", "graph g() {", "<no output>")


def test_apply_without_inputs():
    f = Graph("f")
    f.output = Apply([], f)
    bad(f, "no inputs", "%a = <no inputs>  # <-- here")


def test_non_node_input():
    f = Graph("f")
    x = f.add_parameter("x")
    node = f.apply(add, x, 1)
    node.inputs.append(2.0)  # type: ignore[arg-type]
    f.output = node
    bad(f, "input 3 is not a node", "%b = add(%a, 1, <not a node: 2.0>)  # <-- here")


def test_parameter_not_in_its_graph():
    f = Graph("f")
    stray = Parameter(f, "stray")
    f.output = f.apply(add, stray, 1)
    bad(f, "parameter stray is not in graph f's parameters")


def test_parameter_listed_twice_or_in_the_wrong_graph():
    f = Graph("f")
    p = f.add_parameter("x")
    f.parameters.append(p)
    f.output = p
    bad(f, "parameter x twice")
    g, h = Graph("g"), Graph("h")
    q = h.add_parameter("q")
    g.parameters.append(q)
    g.output = Constant(h)
    h.output = q
    bad(g, "graph g lists a parameter of h")


# -- use-lists -----------------------------------------------------------------------
def test_missing_use():
    f, t, e, c, _ = if_else()
    c.uses.discard((t.output, 1))
    bad(f, "misses the use", "graph f:if_true() closure over f {", "%a = add(%f.c, 1)  # <-- here")


def test_missing_output_use():
    f, t, e, c, _ = if_else()
    t.output.uses.discard((t, OUTPUT))
    bad(f, "output of graph f:if_true misses")


def test_stale_use_by_apply():
    f, t, e, c, _ = if_else()
    c.uses.add((e.output, 2))  # e's output reads f's parameter y at 2, not c
    err = bad(f, "stale use", "graph f:if_false() closure over f {", "<-- here")
    assert "sub(%f.c, %f.b)  # <-- here" in str(err)


def test_stale_use_out_of_range():
    f, t, e, c, _ = if_else()
    c.uses.add((t.output, 7))
    bad(f, "stale use")


def test_stale_output_use():
    f, t, e, c, _ = if_else()
    c.uses.add((t, OUTPUT))
    bad(f, "stale use", "not that graph's output")


def test_set_input_keeps_uses_exact():
    f, t, e, c, _ = if_else()
    node = t.output
    node.set_input(1, f.parameters[0])
    verify(f)
    node.set_inputs([Constant(sub), c, Constant(2)])
    verify(f)


# -- nesting ----------------------------------------------------------------------------
def test_closure_reading_a_sibling_node():
    # f makes closures A and B; B reads a node of A, yet f builds B.
    f = Graph("f")
    x = f.add_parameter("x")
    a_ = Graph("A")
    k = a_.apply(add, x, 1)
    a_.output = k
    b_ = Graph("B")
    b_.output = b_.apply(mul, k, 2)
    f.output = f.apply(make_tuple, a_, b_)
    # f's free variables (through B) and A's then lead back to each other
    bad(f, "nested inside itself", "does not enclose the graph that makes it", "graph f(%a) {")


def test_closure_made_in_a_sibling():
    # f makes A and B; A makes C, which reads a node of B.
    f = Graph("f")
    x = f.add_parameter("x")
    b_ = Graph("B")
    k = b_.apply(add, x, 1)
    b_.output = k
    c_ = Graph("C")
    c_.output = c_.apply(mul, k, 2)
    a_ = Graph("A")
    a_.output = a_.apply(add, x, Constant(c_))
    f.output = f.apply(make_tuple, a_, b_)
    bad(f, "nested inside itself")


def test_closure_made_outside_its_parent():
    # top-level f makes g, a closure over h's parameter; h is f's argument... in
    # name only: h is a separate top-level graph that never makes g.
    h = Graph("h")
    q = h.add_parameter("q")
    h.output = Constant(0)
    g = Graph("g")
    g.output = g.apply(add, q, 1)
    f = Graph("f")
    f.add_parameter("x")
    f.output = f.apply(make_tuple, g, h)
    # f makes g, so f becomes a closure over h too, and nothing makes f
    bad(f, "graph f is a closure over h", "no graph makes it")


def test_a_graph_that_makes_a_closure_is_nested_where_the_closure_is():
    # k reads nothing itself, but makes C, a closure over f's x: so k is a closure
    # over f too (nesting is derived, not declared), and f makes k: valid.
    f = Graph("f")
    x = f.add_parameter("x")
    c_ = Graph("C")
    c_.output = c_.apply(add, x, 1)
    k = Graph("k")
    k.output = k.apply(c_)
    f.output = f.apply(k)
    verify(f)
    assert interpret(f, 2.0) == 3.0


def test_free_variable_of_a_graph_that_does_not_enclose():
    # g reads nodes of two unrelated top-level graphs.
    a_, b_ = Graph("A"), Graph("B")
    pa, pb = a_.add_parameter("p"), b_.add_parameter("q")
    g = Graph("g")
    g.output = g.apply(add, pa, pb)
    a_.output = Constant(g)
    b_.output = Constant(0)
    root = Graph("root")
    root.output = root.apply(make_tuple, a_, b_)
    # A makes g, so A counts as nested in B, and then root (which makes A) is a
    # closure over B that nothing makes
    bad(root, "graph root is a closure over B", "no graph makes it")


def test_impossible_nesting():
    a_, b_ = Graph("A"), Graph("B")
    pa, pb = a_.add_parameter("p"), b_.add_parameter("q")
    a_.output = a_.apply(add, pb, Constant(b_))
    b_.output = b_.apply(add, pa, Constant(a_))
    bad(a_, "the analyses cannot run", "nested inside itself", "graph A(%a)")


# -- cycles ---------------------------------------------------------------------------
def test_dependency_cycle():
    f = Graph("f")
    x = f.add_parameter("x")
    a1 = f.apply(add, x, 1)
    a2 = f.apply(mul, a1, 2)
    a1.set_input(1, a2)
    f.output = a2
    bad(f, "dependency cycle among the nodes of graph f", "<-- here")


def test_dependency_cycle_through_a_closure():
    f = Graph("f")
    h = Graph("h")
    r = Apply([Constant(h)], f)
    h.output = h.apply(add, r, 1)
    f.output = r
    bad(f, "dependency cycle", "%a = @h()  # <-- here")


def test_cycle_in_nodes_only_closures_read():
    # the cycle is not reachable from f's output, only from closure g's use of it
    f = Graph("f")
    x = f.add_parameter("x")
    a1 = f.apply(add, x, 1)
    a2 = f.apply(mul, a1, 2)
    a1.set_input(1, a2)
    g = Graph("g")
    g.output = g.apply(add, a2, 1)
    f.output = Constant(g)
    bad(f, "dependency cycle")


# -- constants ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, fragment",
    [
        ("text", "str value 'text'"),
        (1j, "complex"),
        (np.zeros(2, np.float32), "array of dtype float32"),
        ((1, "a"), "str value 'a'"),
        (slice(0.5, None), "non-integer bound"),
        ([1, 2], "list value"),
        (np.int32(1), "int32 value"),
        (np.float32(1.0), "float32 value"),
    ],
)
def test_unsupported_constants(value, fragment):
    f = Graph("f")
    x = f.add_parameter("x")
    f.output = f.apply(add, x, Constant(value))
    bad(f, "unsupported constant", fragment, "<-- here")


def test_graph_inside_a_tuple_constant():
    f = Graph("f")
    g = Graph("g")
    g.output = Constant(1)
    f.output = f.apply(make_tuple, Constant((g, 1)))
    bad(f, "graph g inside a tuple constant")


def test_error_carries_the_location_of_the_bad_node(tmp_path):
    src = tmp_path / "prog.py"
    src.write_text("def f(x):\n    return x + y\n")
    f = Graph("f")
    x = f.add_parameter("x")
    node = f.apply(add, x, 1, loc=Location(str(src), 2, 11))
    f.output = node
    x.uses.discard((node, 1))
    err = bad(f, "prog.py:2:12", "return x + y")
    assert err.loc is not None and err.loc.line == 2
