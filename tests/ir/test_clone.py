"""Tests of `clone` and `inline`: the results verify, run like the originals, and the
originals are untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest
from corpus_support import Outcome, assert_same_outcome, load_corpus
from corpus_support import run as run_python
from handbuilt_graphs import fact, if_else, loop
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeless.backend.interp import interpret
from tapeless.errors import InternalError, TapelessError
from tapeless.frontend import parse_function
from tapeless.ir.analysis import analyze
from tapeless.ir.clone import clone, inline
from tapeless.ir.nodes import Apply, Constant, Graph, constant_graph
from tapeless.ir.primitives import get
from tapeless.ir.printer import format_graph
from tapeless.ir.verify import verify

add, mul, sub, lt, switch = (get(n) for n in ("add", "mul", "sub", "lt", "switch"))


def loop_py(n: int) -> int:
    """What `handbuilt_graphs.loop` computes, in Python."""
    s = 0
    for i in range(n):
        s += i * (n + 1)
    return s


def nodes_of(root: Graph) -> set[int]:
    a = analyze(root)
    out: set[int] = set()
    for g in a.graphs:
        out.update(id(p) for p in g.parameters)
        out.update(id(n) for n in a.schedule(g))
    return out


def graph_calls(g: Graph) -> list[Apply]:
    """The Apply nodes of g (in schedule order) whose callee is a graph constant."""
    return [n for n in analyze(g).schedule(g) if constant_graph(n.fn) is not None]


# -- clone -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "build, args",
    [(if_else, [(2.0, 3.0), (-2.0, 3.0)]), (loop, [(0,), (1,), (7,)]), (fact, [(0,), (5,)])],
)
def test_clone_runs_like_the_original_and_shares_nothing(build, args):
    g = build()[0]
    before = format_graph(g)
    c = clone(g)
    verify(g)
    verify(c)
    assert format_graph(g) == before  # original untouched
    assert format_graph(c) == before  # same text: same names, same structure
    a_orig, a_copy = analyze(g), analyze(c)
    # the scope is copied; graphs outside it (fact:if_true reads nothing of
    # fact, so it is top-level) are shared
    assert not set(a_orig.scope(g)) & set(a_copy.scope(c))
    assert set(a_copy.graphs) - set(a_copy.scope(c)) == set(a_orig.graphs) - set(a_orig.scope(g))
    assert not nodes_of(g) & nodes_of(c)
    for xs in args:
        assert interpret(c, *xs) == interpret(g, *xs)


def test_clone_of_recursive_graph_calls_its_clone():
    g, *_ = fact()
    c = clone(g)
    a = analyze(c)
    assert g not in a.graphs
    assert a.recursive(c)
    assert interpret(c, 6) == 720


def test_clone_keeps_defaults_flags_and_locations():
    g, *_ = if_else()
    g.defaults = (1.0,)
    g.flags["block"] = True
    c = clone(g)
    assert c.defaults == (1.0,) and c.flags == {"block": True}
    assert c.flags is not g.flags


def test_clone_of_a_closure_shares_its_free_variables():
    f, *_ = if_else()
    a = analyze(f)
    t = next(h for h in a.graphs if h.name == "f:if_true")
    c = clone(t, analysis=a)
    assert a.free_variables(t) == analyze(f).free_variables(t)
    fv = a.free_variables(t)[0]
    assert c.output.inputs[1] is fv  # shared, not copied
    # install the copy in place of the original branch: f still runs the same
    sw = f.output.inputs[0]
    sw.set_input(2, Constant(c))
    verify(f)
    assert interpret(f, -2.0, 3.0) == -5.0
    assert analyze(f).parent(c) is f


def test_clone_of_a_loop_header_clones_body_and_exit():
    f, *_ = loop()
    a = analyze(f)
    h = constant_graph(f.output.fn)
    assert h is not None
    c = clone(h, analysis=a)
    ac = analyze(c)
    assert {g.name for g in ac.scope(c)} == {"f:while_header", "f:while_body", "f:while_after"}
    assert not set(ac.scope(c)) & set(a.scope(h))
    f.output.set_input(0, Constant(c))
    verify(f)
    assert interpret(f, 6) == loop_py(6)


# -- inline ----------------------------------------------------------------------
def two_calls() -> tuple[Graph, Graph]:
    """helper(a, b) = a * b + 1;  main(x) = helper(x, 2) - helper(3, x)."""
    helper = Graph("helper")
    a, b = helper.add_parameter("a"), helper.add_parameter("b")
    helper.output = helper.apply(add, helper.apply(mul, a, b), 1)
    main = Graph("main")
    x = main.add_parameter("x")
    main.output = main.apply(sub, main.apply(helper, x, 2), main.apply(helper, 3, x))
    return main, helper


def test_inline_straight_line_call():
    main, helper = two_calls()
    expected = interpret(main, 5)
    first = graph_calls(main)[0]
    out = inline(first)
    verify(main)
    assert out.graph is main  # type: ignore[attr-defined]
    assert not first.uses and all((first, i) not in n.uses for i, n in enumerate(first.inputs))
    assert interpret(main, 5) == expected
    assert len(graph_calls(main)) == 1
    inline(graph_calls(main)[0])
    verify(main)
    assert graph_calls(main) == []
    assert interpret(main, 5) == expected
    assert "helper" not in format_graph(main)
    assert format_graph(helper) == "graph helper(%a, %b) {\n  %c = mul(%a, %b)\n  %d = add(%c, 1)\n  return %d\n}\n"


def test_inline_graph_with_nested_closures():
    inner, *_ = if_else()
    main = Graph("main")
    x = main.add_parameter("x")
    main.output = main.apply(inner, x, 3.0)
    expected = [interpret(main, v) for v in (2.0, -2.0)]
    inline(main.output)
    verify(main)
    verify(inner)
    assert [interpret(main, v) for v in (2.0, -2.0)] == expected
    a = analyze(main)
    names = [g.name for g in a.graphs]
    assert names == ["main", "f:if_true", "f:if_false"]
    assert all(a.parent(g) is main for g in a.graphs[1:])
    assert inner not in a.graphs


def test_inline_when_output_is_a_parameter_or_a_constant():
    ident = Graph("ident")
    p = ident.add_parameter("p")
    ident.output = p
    one = Graph("one")
    one.output = Constant(1.5)
    main = Graph("main")
    x = main.add_parameter("x")
    main.output = main.apply(add, main.apply(ident, x), main.apply(one))
    for call in graph_calls(main):
        inline(call)
    verify(main)
    assert format_graph(main) == "graph main(%a) {\n  %b = add(%a, 1.5)\n  return %b\n}\n"


def test_inline_call_read_by_a_closure():
    main, helper = two_calls()
    x = main.parameters[0]
    call = main.apply(helper, x, x)
    k = Graph("k")
    k.output = k.apply(add, call, 1)
    main.output = main.apply(k)
    inline(call)
    verify(main)
    assert interpret(main, 3) == 11


def test_inline_recursive_call_unrolls_once():
    g, *_ = fact()
    a = analyze(g)
    e = next(h for h in a.graphs if h.name == "fact:if_false")
    (call,) = [n for n in a.schedule(e) if constant_graph(n.fn) is g]
    inline(call, analysis=a)
    verify(g)
    assert [interpret(g, n) for n in range(8)] == [math.factorial(n) for n in range(8)]
    # the copy still calls the original, once per level
    out = format_graph(g)
    assert out.count("@fact(") == 1


def test_inline_loop_header_into_its_body_unrolls_the_loop():
    f, *_ = loop()
    a = analyze(f)
    h = constant_graph(f.output.fn)
    body = next(g for g in a.graphs if g.name == "f:while_body")
    inline(body.output, analysis=a)
    verify(f)
    assert [interpret(f, n) for n in range(9)] == [loop_py(n) for n in range(9)]
    # and inlining the first call of the header into f itself
    inline(f.output)
    verify(f)
    assert [interpret(f, n) for n in range(9)] == [loop_py(n) for n in range(9)]
    assert h is not None


def test_inline_call_inside_the_callee():
    # g(n) = n if n < 1 else g(n - 2) as a direct tail call in g's own body
    g = Graph("g")
    n = g.add_parameter("n")
    t = Graph("t")
    t.output = n
    rec = Graph("rec")
    rec.output = rec.apply(g, rec.apply(sub, n, 2))
    g.output = g.apply(g.apply(switch, g.apply(lt, n, 1), t, rec))
    inline(rec.output)
    verify(g)
    assert [interpret(g, k) for k in range(7)] == [0, -1, 0, -1, 0, -1, 0]


def test_inline_errors():
    main, helper = two_calls()
    x = main.parameters[0]
    with pytest.raises(InternalError, match="not a graph constant"):
        inline(main.apply(x, 1))
    with pytest.raises(InternalError, match="takes 2 arguments, the call gives 1"):
        inline(main.apply(helper, x))


# -- a property: random straight-line programs --------------------------------------
ops = st.sampled_from(["add", "sub", "mul"])


@given(
    st.lists(st.tuples(ops, st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=12),
    st.integers(-5, 5),
    st.integers(-5, 5),
)
def test_random_programs_clone_and_inline(program, x, y):
    callee = Graph("callee")
    vals = [callee.add_parameter("x"), callee.add_parameter("y")]
    for op, i, j in program:
        vals.append(callee.apply(get(op), vals[i % len(vals)], vals[j % len(vals)]))
    callee.output = vals[-1]
    main = Graph("main")
    p, q = main.add_parameter("p"), main.add_parameter("q")
    main.output = main.apply(mul, main.apply(callee, p, q), 2)
    expected = interpret(main, x, y)
    c = clone(main)
    verify(c)
    assert interpret(c, x, y) == expected
    inline(main.output.inputs[1])
    verify(main)
    assert interpret(main, x, y) == expected


# -- the program corpus: clone and inline parsed programs -----------------------------
CORPUS = load_corpus()


def _outcome(graph: Graph, args: tuple) -> Outcome:
    try:
        return Outcome(value=interpret(graph, *args))
    except Exception as exc:
        return Outcome(error=exc)


def _inline_direct_calls(root: Graph, limit: int = 12) -> int:
    """Inline up to `limit` direct graph calls made inside root's scope, one at a time."""
    a = analyze(root)
    scope = set(a.scope(root))
    todo = [n for g in a.scope(root) for n in a.schedule(g) if constant_graph(n.fn) is not None]
    done = 0
    for call in todo[:limit]:
        callee = constant_graph(call.fn)
        assert callee is not None
        if not call.uses or len(call.args) != len(callee.parameters):
            continue
        a = analyze(root)  # a snapshot: redo it after each rewrite
        if call.graph not in scope or call.graph not in a.call_graph:
            continue
        inline(call, analysis=a)
        verify(root)
        scope = set(a.scope(root)) | set(analyze(root).scope(root))
        done += 1
    return done


@pytest.mark.parametrize("program", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_clone_and_inline_agree_with_cpython(program):
    try:
        original = parse_function(program.fn)
    except TapelessError:
        pytest.skip("refused by the front end")
    copy = clone(original)
    verify(copy)
    verify(original)
    inlined = clone(original)
    _inline_direct_calls(inlined)
    verify(original)

    def check(args):
        expected = run_python(program.fn, args)
        base = _outcome(original, args)
        try:
            assert_same_outcome(expected, base)
        except AssertionError:
            return  # the interpreter itself disagrees: test_corpus reports that
        if base.error is None and not _plain(base.value):
            return  # function values: compared by the corpus tests through compile()
        assert_same_outcome(expected, _outcome(copy, args))
        assert_same_outcome(expected, _outcome(inlined, args))

    for args in program.examples:
        check(args)
    test = settings(max_examples=10)(given(program.args)(check))
    # one example-database entry per program, not one for all of them
    test.hypothesis.inner_test._hypothesis_internal_add_digest = program.name.encode()
    test()


def _plain(value) -> bool:
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return isinstance(value, int | float | bool | np.ndarray | np.generic | type(None))
