"""Small programs built by hand with the `Graph` API, shared by the IR tests.

Each builder makes a fresh program on every call and returns its root graph
first, then the graphs and nodes that tests look at.
"""

from __future__ import annotations

from tapeless.ir.nodes import Apply, Constant, Graph, Node
from tapeless.ir.primitives import get

add, mul, sub, lt, switch = (get(n) for n in ("add", "mul", "sub", "lt", "switch"))


def if_else() -> tuple[Graph, Graph, Graph, Apply, Apply]:
    """f(x, y): c = x * y; if c < 0: return c + 1 else: return c - y.

    Returns (f, f:if_true, f:if_false, c, the condition c < 0).
    """
    f = Graph("f")
    x, y = f.add_parameter("x"), f.add_parameter("y")
    c = f.apply(mul, x, y)
    t = Graph("f:if_true")
    t.output = t.apply(add, c, 1)
    e = Graph("f:if_false")
    e.output = e.apply(sub, c, y)
    cond = f.apply(lt, c, 0)
    f.output = f.apply(f.apply(switch, cond, t, e))
    return f, t, e, c, cond


def loop() -> tuple[Graph, Graph, Graph, Graph, Node, Apply]:
    """f(n): i = 0; s = 0; while i < n: s += i * k; i += 1; return s  (k = n + 1).

    header(i, s) and body() are closures: header over f (reads n, k), body over
    header (reads i, s) and, through the header it calls, over f.
    Returns (f, header, body, after, n, k).
    """
    f = Graph("f")
    n = f.add_parameter("n")
    k = f.apply(add, n, 1)
    h = Graph("f:while_header")
    i, s = h.add_parameter("i"), h.add_parameter("s")
    b = Graph("f:while_body")
    after = Graph("f:while_after")
    after.output = s
    s2 = b.apply(add, s, b.apply(mul, i, k))
    b.output = b.apply(h, b.apply(add, i, 1), s2)
    h.output = h.apply(h.apply(switch, h.apply(lt, i, n), b, after))
    f.output = f.apply(h, 0, 0)
    return f, h, b, after, n, k


def fact() -> tuple[Graph, Graph, Graph]:
    """fact(n) = 1 if n < 1 else n * fact(n - 1), with the branches as closures.

    Returns (fact, fact:if_true, fact:if_false).
    """
    g = Graph("fact")
    n = g.add_parameter("n")
    t = Graph("fact:if_true")
    t.output = Constant(1)
    e = Graph("fact:if_false")
    e.output = e.apply(mul, n, e.apply(g, e.apply(sub, n, 1)))
    g.output = g.apply(g.apply(switch, g.apply(lt, n, 1), t, e))
    return g, t, e
