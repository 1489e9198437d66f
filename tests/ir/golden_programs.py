"""Programs whose parsed IR is checked against golden text (tests/ir/golden/*.txt).

Loaded by file path (see test_golden.py), never imported as a package. Editing
a function here changes its golden text: regenerate with
``TAPELESS_UPDATE_GOLDEN=1 make test`` (or pytest tests/ir/test_golden.py) and
review the diff.
"""

import math


def straight_line(x, y=2.0):
    z = x * y + 1.0
    w = math.sin(z) - y / 3
    return (z, w)


def if_else(x):
    if x > 0:
        y = x * 2
    elif x < -10:
        return -x
    else:
        y = x - 1
    return y + 1


def while_loop(n):
    s = 0
    i = 0
    while i < n:
        i += 1
        if i % 3 == 0:
            continue
        if s > 100:
            break
        s += i
    return s


def closure(x):
    k = x + 1

    def scale(y):
        return y * k

    add = lambda a: a + x
    return scale(2.0) + add(k)


def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


#: name -> (function, argument tuples the interpreter is checked on)
GOLDEN = {
    "straight_line": (straight_line, [(1.5,), (0.0, -1.0)]),
    "if_else": (if_else, [(3,), (-20,), (-5,), (0,)]),
    "while_loop": (while_loop, [(0,), (10,), (100,)]),
    "closure": (closure, [(1.0,), (-2.0,)]),
    "fact": (fact, [(0,), (1,), (10,)]),
    "is_even": (is_even, [(0,), (7,), (10,)]),
}
