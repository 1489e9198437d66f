"""The reference interpreter on hand-built IR, compared with plain Python.

Each program is built with the `Graph` API, verified, run by
`backend.interp`, and checked against the same computation written in Python
(same value and type; floats bit for bit).
"""

from __future__ import annotations

import inspect
import itertools
import math
import operator

import numpy as np
import pytest
from backend_support import same

from tapeless.backend import interp
from tapeless.backend.interp import Program, interpret, run
from tapeless.backend.interp_code import fast_op
from tapeless.backend.values import Closure
from tapeless.errors import (
    ArityError,
    Location,
    TapelessNameError,
    TapelessTypeError,
    TapelessUnboundLocalError,
)
from tapeless.ir import PRIMITIVES as P
from tapeless.ir import Graph
from tapeless.ir.nodes import Constant, Unbound
from tapeless.ir.verify import verify


def here(offset: int = 0, col: int = 4) -> Location:
    """A location in this file: the caller's line (plus `offset`)."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return Location(__file__, frame.f_back.f_lineno + offset, col)


def checked(g: Graph) -> Graph:
    verify(g)
    return g


# -- straight-line code ----------------------------------------------------------
def test_arithmetic_matches_python() -> None:
    g = Graph("f")
    x, y = g.add_parameter("x"), g.add_parameter("y")
    s = g.apply(P["add"], x, y)
    d = g.apply(P["sub"], x, y)
    q = g.apply(P["truediv"], g.apply(P["mul"], s, d), 3)
    r = g.apply(P["floordiv"], x, g.apply(P["mod"], y, 7))
    g.output = g.apply(P["make_tuple"], q, r, g.apply(P["pow"], x, 2), g.apply(P["neg"], y))
    checked(g)

    def py(x, y):
        return ((x + y) * (x - y) / 3, x // (y % 7), x**2, -y)

    for x_, y_ in [(1, 2), (1.5, -2.25), (-7, 3), (10**20, 5), (True, 3), (0.1, 0.7)]:
        assert same(interpret(g, x_, y_), py(x_, y_))


def test_math_and_builtins() -> None:
    g = Graph("f")
    x = g.add_parameter("x")
    g.output = g.apply(
        P["make_tuple"],
        g.apply(P["sin"], x),
        g.apply(P["exp"], g.apply(P["neg"], x)),
        g.apply(P["abs"], x),
        g.apply(P["int"], x),
        g.apply(P["float"], x),
        g.apply(P["truth"], x),
        g.apply(P["scalar_max"], x, 1),
        g.apply(P["atan2"], x, 2.0),
    )
    checked(g)
    for v in [0.5, -3.25, 2, 0, True]:
        want = (
            math.sin(v), math.exp(-v), abs(v), int(v), float(v), bool(v), max(v, 1),
            math.atan2(v, 2.0),
        )
        assert same(interpret(g, v), want)


def test_tuple_primitives_of_every_arity() -> None:
    g = Graph("f")
    a = g.add_parameter("a")
    empty = g.apply(P["make_tuple"])  # P0
    five = g.apply(P["make_tuple"], a, 1, 2.0, None, empty)  # PN
    g.output = g.apply(P["make_tuple"], five, g.apply(P["len"], five), g.apply(P["getitem"], five, 2))
    checked(g)
    assert same(interpret(g, 7), ((7, 1, 2.0, None, ()), 5, 2.0))


def test_arrays_pass_through_primitives() -> None:
    g = Graph("f")
    x, y = g.add_parameter("x"), g.add_parameter("y")
    g.output = g.apply(P["mul"], g.apply(P["add"], x, y), 2.0)
    checked(g)
    a = np.arange(6.0).reshape(2, 3)
    out = interpret(g, a, np.float64(1.5))
    np.testing.assert_array_equal(out, (a + 1.5) * 2.0)


def test_output_can_be_a_parameter_or_a_constant() -> None:
    g = Graph("ident")
    g.output = g.add_parameter("x")
    h = Graph("const")
    h.output = Constant(2.5)
    assert interpret(checked(g), (1, 2)) == (1, 2)
    assert same(interpret(checked(h)), 2.5)


# -- closures -------------------------------------------------------------------
def make_adder() -> tuple[Graph, Graph]:
    """f(a) = g where g(b) = a + b: a closure over f's parameter."""
    f = Graph("make_adder")
    a = f.add_parameter("a")
    g = Graph("add_a")
    b = g.add_parameter("b")
    g.output = g.apply(P["add"], a, b)
    f.output = Constant(g)
    return f, g


def test_closure_over_parent_parameter_called_in_parent() -> None:
    f = Graph("f")
    a = f.add_parameter("a")
    g = Graph("g")
    b = g.add_parameter("b")
    g.output = g.apply(P["mul"], a, b)
    # f(a) = g(3) + g(4.5), both direct calls of the graph constant
    f.output = f.apply(P["add"], f.apply(g, 3), f.apply(g, 4.5))
    checked(f)
    assert same(interpret(f, 2), 2 * 3 + 2 * 4.5)


def test_closure_returned_and_called_later() -> None:
    f, _ = make_adder()
    checked(f)
    add3 = interpret(f, 3)
    add10 = interpret(f, 10)
    assert isinstance(add3, Closure) and callable(add3)
    assert same(add3(4.5), 7.5)
    assert same(add10(1), 11)
    assert same(add3(1), 4)  # each closure keeps its own frame


def test_closure_passed_to_another_program() -> None:
    f, _ = make_adder()
    add3 = interpret(checked(f), 3)
    # apply_twice(h, x) = h(h(x)), run as a separate program
    t = Graph("apply_twice")
    h, x = t.add_parameter("h"), t.add_parameter("x")
    t.output = t.apply(h, t.apply(h, x))
    checked(t)
    assert same(interpret(t, add3, 1.0), 7.0)
    # and a primitive as a function value
    assert same(interpret(t, P["neg"], 2), 2)


def test_grandparent_free_variables() -> None:
    # f(a): g(b): h(c) = a * 100 + b * 10 + c; return h(3); return g(2)
    f, g, h = Graph("f"), Graph("g"), Graph("h")
    a = f.add_parameter("a")
    b = g.add_parameter("b")
    c = h.add_parameter("c")
    h.output = h.apply(P["add"], h.apply(P["add"], h.apply(P["mul"], a, 100), h.apply(P["mul"], b, 10)), c)
    g.output = g.apply(h, 3)
    f.output = f.apply(g, 2)
    checked(f)
    assert interpret(f, 1) == 123


def test_closure_as_argument_and_dynamic_call() -> None:
    # f(a) = call(g, 5) where call(k, v) = k(v), g(b) = a - b
    f, g, call = Graph("f"), Graph("g"), Graph("call")
    a = f.add_parameter("a")
    b = g.add_parameter("b")
    g.output = g.apply(P["sub"], a, b)
    k, v = call.add_parameter("k"), call.add_parameter("v")
    call.output = call.apply(k, v)
    f.output = f.apply(call, g, 5)
    checked(f)
    assert interpret(f, 12) == 7


# -- control flow -----------------------------------------------------------------
def build_abs() -> Graph:
    """f(x) = switch(x > 0, then, else)() with both branches closures over x."""
    f, then, else_ = Graph("f"), Graph("then"), Graph("else")
    x = f.add_parameter("x")
    then.output = x
    else_.output = else_.apply(P["neg"], x)
    f.output = f.apply(f.apply(P["switch"], f.apply(P["gt"], x, 0), then, else_))
    return checked(f)


def test_switch_if() -> None:
    f = build_abs()
    for v in [3, -3, 0, 2.5, -0.0]:
        assert same(interpret(f, v), v if v > 0 else -v)


def test_switch_value_not_called_right_away() -> None:
    # f(c, x) = (switch(c, sin, cos))(x) with primitives chosen, a tail call of a primitive,
    # plus a switch whose result is returned as a value.
    f = Graph("f")
    c, x = f.add_parameter("c"), f.add_parameter("x")
    chosen = f.apply(P["switch"], c, P["sin"], P["cos"])
    f.output = f.apply(chosen, x)
    checked(f)
    assert same(interpret(f, True, 0.5), math.sin(0.5))
    assert same(interpret(f, False, 0.5), math.cos(0.5))

    g, h1, h2 = Graph("g"), Graph("h1"), Graph("h2")
    c = g.add_parameter("c")
    h1.output = Constant(1)
    h2.output = Constant(2)
    s = g.apply(P["switch"], c, h1, h2)
    g.output = g.apply(P["make_tuple"], s, g.apply(s))
    checked(g)
    fn, val = interpret(g, False)
    assert val == 2 and fn() == 2


def build_while(n_const: int | None = None) -> Graph:
    """f(n): i = 0; acc = 0.0; while i < n: acc = acc + i * 0.5; i = i + 1; return acc."""
    f = Graph("f")
    n = f.add_parameter("n")
    header, body, exit_ = Graph("header"), Graph("body"), Graph("exit")
    i, acc = header.add_parameter("i"), header.add_parameter("acc")
    c = header.apply(P["lt"], i, n)
    header.output = header.apply(header.apply(P["switch"], c, body, exit_))
    acc2 = body.apply(P["add"], acc, body.apply(P["mul"], i, 0.5))
    body.output = body.apply(header, body.apply(P["add"], i, 1), acc2)
    exit_.output = acc
    f.output = f.apply(header, 0, 0.0)
    return checked(f)


def py_while(n: int) -> float:
    i = 0
    acc = 0.0
    while i < n:
        acc = acc + i * 0.5
        i = i + 1
    return acc


def test_while_loop_small() -> None:
    f = build_while()
    for n in [0, 1, 2, 17]:
        assert same(interpret(f, n), py_while(n))


def test_while_loop_a_million_iterations() -> None:
    f = build_while()
    n = 10**6
    assert same(interpret(f, n), py_while(n))


def build_sum_to() -> Graph:
    """sum_to(n) = 0 if n == 0 else n + sum_to(n - 1): non-tail recursion."""
    s, base, rec = Graph("sum_to"), Graph("base"), Graph("rec")
    n = s.add_parameter("n")
    base.output = Constant(0)
    rec.output = rec.apply(P["add"], n, rec.apply(s, rec.apply(P["sub"], n, 1)))
    s.output = s.apply(s.apply(P["switch"], s.apply(P["eq"], n, 0), base, rec))
    return checked(s)


def test_deep_non_tail_recursion() -> None:
    s = build_sum_to()
    assert interpret(s, 10) == 55
    n = 200_000
    assert interpret(s, n) == n * (n + 1) // 2


def test_mutual_tail_recursion() -> None:
    # even(n) = True if n == 0 else odd(n - 1); odd(n) = False if n == 0 else even(n - 1)
    even, odd = Graph("even"), Graph("odd")
    for g, other, base in [(even, odd, True), (odd, even, False)]:
        n = g.add_parameter("n")
        yes, no = Graph(f"{g.name}_base"), Graph(f"{g.name}_step")
        yes.output = Constant(base)
        no.output = no.apply(other, no.apply(P["sub"], n, 1))
        g.output = g.apply(g.apply(P["switch"], g.apply(P["eq"], n, 0), yes, no))
    checked(even)
    assert interpret(even, 300_001) is False
    assert interpret(even, 10) is True


def test_program_cache_is_reused() -> None:
    f = build_while()
    program = Program()
    assert run(f, (5,), program) == py_while(5)
    code = program.code(f)
    assert run(f, (6,), program) == py_while(6)
    assert program.code(f) is code


# -- calls: defaults and arity ------------------------------------------------------
def build_defaults() -> Graph:
    """f(x) = g(x) + g(x, 1) where g(a, b=10) = a * b."""
    f, g = Graph("f"), Graph("g", loc=here())
    x = f.add_parameter("x")
    a, b = g.add_parameter("a"), g.add_parameter("b")
    g.defaults = (10,)
    g.output = g.apply(P["mul"], a, b)
    f.output = f.apply(P["add"], f.apply(g, x), f.apply(g, x, 1))
    return checked(f)


def test_defaults_fill_trailing_parameters() -> None:
    assert interpret(build_defaults(), 3) == 33


def test_arity_error_at_call_site() -> None:
    f, g = Graph("f"), Graph("g")
    x = f.add_parameter("x")
    g.add_parameter("a")
    g.output = Constant(1)
    loc = here()
    f.output = f.apply(P["add"], f.apply(g, x, x, loc=loc), 1)
    checked(f)
    with pytest.raises(ArityError) as info:
        interpret(f, 1)
    assert info.value.loc == loc
    assert "g() takes 1 positional argument but 2 were given" in str(info.value)
    assert isinstance(info.value, TypeError)


def test_arity_error_from_python_calls() -> None:
    with pytest.raises(ArityError):
        interpret(build_abs())
    f, _ = make_adder()
    add3 = interpret(checked(f), 3)
    with pytest.raises(ArityError, match="from|takes 1"):
        add3(1, 2)


def test_arity_error_only_on_the_path_taken() -> None:
    # if c: g() else: 0, with g needing one argument: fine while c is false.
    f, g, then, else_ = Graph("f"), Graph("g"), Graph("then"), Graph("else")
    c = f.add_parameter("c")
    g.add_parameter("a")
    g.output = Constant(1)
    then.output = then.apply(g)
    else_.output = Constant(0)
    f.output = f.apply(f.apply(P["switch"], c, then, else_))
    checked(f)
    assert interpret(f, False) == 0
    with pytest.raises(ArityError):
        interpret(f, True)


# -- errors ---------------------------------------------------------------------------
def test_zero_division_keeps_its_type_and_gains_a_note() -> None:
    g = Graph("f")
    x, y = g.add_parameter("x"), g.add_parameter("y")
    loc = here()
    g.output = g.apply(P["truediv"], x, y, loc=loc)
    checked(g)
    with pytest.raises(ZeroDivisionError) as info:
        interpret(g, 1.0, 0.0)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert str(loc) in notes
    assert "loc = here()" in notes  # the source line `loc` points at
    with pytest.raises(ZeroDivisionError):
        interpret(g, 1, 0)


def test_runtime_error_deep_in_recursion_names_callers() -> None:
    # f(n) = 1 // 0 if n == 0 else f(n - 1) + 1 (non-tail)
    s, base, rec = Graph("f"), Graph("base"), Graph("rec")
    n = s.add_parameter("n")
    loc = here()
    base.output = base.apply(P["floordiv"], 1, 0, loc=loc)
    call_loc = here()
    rec.output = rec.apply(P["add"], rec.apply(s, rec.apply(P["sub"], n, 1), loc=call_loc), 1)
    s.output = s.apply(s.apply(P["switch"], s.apply(P["eq"], n, 0), base, rec))
    checked(s)
    with pytest.raises(ZeroDivisionError) as info:
        interpret(s, 10)
    notes = "\n".join(info.value.__notes__)
    assert str(loc) in notes and str(call_loc) in notes and "more calls" in notes


@pytest.mark.parametrize(
    ("prim", "args", "exc"),
    [
        ("log", (-1.0,), ValueError),
        ("sqrt", (-2.0,), ValueError),
        ("exp", (1000.0,), OverflowError),
        ("getitem", ((1, 2), 5), IndexError),
        ("mod", (3, 0), ZeroDivisionError),
        ("pow", (0.0, -1), ZeroDivisionError),
    ],
)
def test_python_runtime_errors_propagate(prim: str, args: tuple, exc: type) -> None:
    g = Graph("f")
    params = [g.add_parameter(f"a{i}") for i in range(len(args))]
    g.output = g.apply(P[prim], *params, loc=here())
    checked(g)
    with pytest.raises(exc) as info:
        interpret(g, *args)
    assert __file__ in "\n".join(info.value.__notes__)


def test_type_error_becomes_tapeless_type_error() -> None:
    g = Graph("f")
    x = g.add_parameter("x")
    loc = here(1)
    g.output = g.apply(P["add"], Constant((1, 2)), x, loc=loc)
    checked(g)
    with pytest.raises(TapelessTypeError) as info:
        interpret(g, 1.0)
    err = info.value
    assert err.loc == loc and err.construct == "add"
    assert "tuple" in err.message and err.hint
    assert "Constant((1, 2))" in str(err)  # the source line is shown
    assert isinstance(err, TypeError)


def test_calling_a_non_function() -> None:
    g = Graph("f")
    x = g.add_parameter("x")
    loc = here()
    g.output = g.apply(x, 1, loc=loc)
    checked(g)
    with pytest.raises(TapelessTypeError, match="'float' object is not callable") as info:
        interpret(g, 2.0)
    assert info.value.loc == loc


def test_unbound_local_reaching_a_primitive() -> None:
    g = Graph("f")
    x = g.add_parameter("x")
    uloc = here()
    g.output = g.apply(P["add"], Constant(Unbound("y", uloc)), x)
    checked(g)
    with pytest.raises(TapelessUnboundLocalError, match="local variable 'y' referenced before") as info:
        interpret(g, 1)
    assert info.value.loc == uloc
    assert isinstance(info.value, UnboundLocalError) and isinstance(info.value, TapelessNameError)


def test_unbound_local_returned_or_called() -> None:
    uloc = here()
    u = Unbound("z", uloc)
    ret = Graph("ret")
    ret.output = ret.apply(P["make_tuple"], 1, ret.apply(P["make_tuple"], Constant(u)))
    with pytest.raises(TapelessNameError, match="'z'"):
        interpret(checked(ret))
    call = Graph("call")
    call.output = call.apply(Constant(u), 1)
    with pytest.raises(TapelessNameError, match="'z'") as info:
        interpret(checked(call))
    assert info.value.loc == uloc
    # Passing an unbound value along (as a block parameter would) is fine until used.
    f, g = Graph("f"), Graph("g")
    c = f.add_parameter("c")
    v = g.add_parameter("v")
    g.output = g.apply(P["switch"], c, 1, v)
    f.output = f.apply(g, Constant(u))
    checked(f)
    assert interpret(f, True) == 1
    with pytest.raises(TapelessNameError):
        interpret(f, False)


def test_closure_graph_cannot_be_run_alone() -> None:
    _, g = make_adder()
    with pytest.raises(Exception, match="free variables"):
        interpret(g, 1)


# -- the fast path agrees with the primitives' implementations ------------------------
SCALARS = [0, 1, -3, 7, 2**70, True, False, 0.0, -0.0, 1.5, -2.75, 1e308, math.inf, math.nan, 3.0]


def outcome(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn(*args))
    except Exception as e:  # noqa: BLE001
        return ("raise", type(e))


def fast_primitives() -> list[tuple[str, int]]:
    out = []
    for name, prim in sorted(P.items()):
        for n in (1, 2):
            if fast_op(prim, n) is not None:
                out.append((name, n))
    return out


def test_fast_path_covers_the_operators() -> None:
    names = {name for name, _ in fast_primitives()}
    assert {"add", "sub", "mul", "truediv", "lt", "eq", "neg", "abs", "truth", "float"} <= names
    assert fast_op(P["add"], 2) is operator.add


@pytest.mark.parametrize(("name", "n"), fast_primitives())
def test_fast_path_matches_implementation(name: str, n: int) -> None:
    prim = P[name]
    fast = fast_op(prim, n)
    for args in itertools.product(SCALARS, repeat=n):
        if name == "pow" and any(isinstance(a, int) and abs(a) > 100 for a in args):
            continue
        want, got = outcome(prim.impl, *args), outcome(fast, *args)
        assert want[0] == got[0], (name, args)
        if want[0] == "ok":
            assert same(want[1], got[1]), (name, args)
        else:
            assert want[1] is got[1], (name, args)


def test_fast_path_falls_back_for_other_types() -> None:
    g = Graph("f")
    x, y = g.add_parameter("x"), g.add_parameter("y")
    g.output = g.apply(P["add"], x, y)
    checked(g)
    assert same(interpret(g, np.float64(1.0), 2.0), np.float64(3.0))
    with pytest.raises(TapelessTypeError):
        interpret(g, (1,), (2,))  # Python would concatenate; the primitive refuses
    with pytest.raises(TapelessTypeError):
        interpret(g, None, 1)


def test_module_exports() -> None:
    assert set(interp.__all__) >= {"interpret", "run", "Program", "call_closure"}


def test_errors_inside_a_fused_block_point_at_their_instruction() -> None:
    from tapeless.backend.interp_code import BLOCK

    g = Graph("f")
    x = g.add_parameter("x")
    add_loc = here(1)
    a = g.apply(P["add"], x, 1, loc=add_loc)
    div_loc = here(1)
    b = g.apply(P["truediv"], 1.0, a, loc=div_loc)
    g.output = g.apply(P["make_tuple"], g.apply(P["mul"], b, 2), g.apply(P["abs"], b))
    checked(g)
    assert Program().code(g).instrs[0][0] == BLOCK
    assert same(interpret(g, 1), (1.0, 0.5))
    with pytest.raises(ZeroDivisionError) as info:
        interpret(g, -1)
    assert str(div_loc) in info.value.__notes__[0]
    assert "div_loc = here(1)" not in info.value.__notes__[0]
    with pytest.raises(TapelessTypeError) as terr:
        interpret(g, None)
    assert terr.value.loc == add_loc


def test_tapeless_errors_from_primitives_get_the_source_location() -> None:
    from tapeless.errors import TapelessError
    from tapeless.ir.primitives import Primitive

    def impl(x):
        raise TapelessTypeError("bad value", hint="do better")

    bad = Primitive("bad_for_test", impl, lambda x: x, ("x",))
    g = Graph("f")
    x = g.add_parameter("x")
    loc = here(1)
    g.output = g.apply(bad, x, loc=loc)
    with pytest.raises(TapelessError) as info:
        interpret(g, 1)
    assert isinstance(info.value, TapelessTypeError)
    assert info.value.loc == loc and info.value.hint == "do better"
