"""Programs outside the subset. Each offending line ends with `# ERR`, and each
function's docstring-free body has exactly one such line."""
# ruff: noqa
import math
import os

import numpy as np

LIST_GLOBAL = [1, 2, 3]


def uses_try(x):
    try:  # ERR
        return 1.0 / x
    except ZeroDivisionError:
        return 0.0


def uses_with(x):
    with open("f") as fh:  # ERR
        return x


def uses_class(x):
    class A:  # ERR
        pass
    return x


def uses_yield(x):
    yield x  # ERR


async def uses_async(x):  # ERR
    return x


def uses_await_inner(x):
    async def inner():  # ERR
        return x
    return x


def uses_global(x):
    global LIST_GLOBAL  # ERR
    return x


def uses_nonlocal(x):
    def inner():
        nonlocal x  # ERR
        x = 1
    return x


def uses_del(x):
    y = x
    del y  # ERR
    return x


def uses_fstring(x):
    s = f"{x}"  # ERR
    return x


def uses_star_call(t):
    return max(*t)  # ERR


def uses_star_param(*args):  # ERR
    return 0


def uses_kwargs_param(**kw):  # ERR
    return 0


def uses_item_assign(a):
    a[0] = 1.0  # ERR
    return a


def uses_attr_assign(a):
    a.x = 1.0  # ERR
    return a


def uses_import(x):
    import math  # ERR
    return x


def uses_unknown_call(x):
    return os.getcwd()  # ERR


def uses_list(x):
    return [x, x]  # ERR


def uses_dict(x):
    return {"a": x}  # ERR


def uses_listcomp(x):
    return [i for i in range(3)]  # ERR


def uses_walrus(x):
    if (y := x) > 0:  # ERR
        return y
    return x


def uses_bitand(a, b):
    return a & b  # ERR


def uses_is(x):
    return x is None  # ERR


def uses_in(x, t):
    return x in t  # ERR


def uses_string(x):
    return "hello"  # ERR


def uses_raise(x):
    raise ValueError()  # ERR


def uses_assert(x):
    assert x > 0  # ERR
    return x


def uses_match(x):
    match x:  # ERR
        case 1:
            return 1
    return 0


def uses_nested_decorator(x):
    @staticmethod  # ERR
    def g(t):
        return t
    return g(x)


def uses_nonconst_default(x):
    if x > 0:
        def g(t, s=x):  # ERR
            return t * s
        return g(1.0)
    return x


def uses_undefined_name(x):
    return x + not_defined_anywhere  # ERR


def uses_list_global(x):
    return LIST_GLOBAL  # ERR


def uses_range_value(x):
    r = range(3)  # ERR
    return x


def uses_late_binding(x):
    def g():
        return x + 1
    h = g  # the closure escapes the point where x is read...
    x = x * 2  # ERR
    return h()


def uses_unknown_np(x):
    return np.linalg.eig(x)  # ERR


def uses_module_value(x):
    m = math  # ERR
    return x


def uses_kwargs_to_value(f, x):
    return f(x, y=1.0)  # ERR


# -- type errors found when the program runs ---------------------------------

def adds_tuple_to_float(x):
    t = (x, x)
    return t + 1.0  # ERR


def calls_a_number(x):
    return x(1.0)  # ERR


def reads_unbound(c):
    if c:
        y = 1.0
    return y  # ERR
