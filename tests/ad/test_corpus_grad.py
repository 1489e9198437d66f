"""Every differentiable program of the front-end corpus, differentiated.

For each corpus program and each drawn input whose float arguments lead to a
float result (or a tuple with float parts: then a weighted sum of them), the gradient with respect to all float arguments must match
central finite differences, at the drawn point nudged off exact ties. Points
at or near a kink (a branch switch, a floor) are recognised by one-sided
differences disagreeing, and are not asserted on; a program
that never offers a smooth float-to-float point is skipped with its reason.
"""

import itertools
import linecache
import math

import pytest
from corpus_support import load_corpus
from hypothesis import given, settings

import tapeless as tl

#: Programs whose finite differences are no oracle, and why.
NOT_AN_ORACLE = {
    # bisection: a staircase in c with steps of 2**-40, far below any step h; AD's 0
    # is the derivative almost everywhere, differences see the average slope
    "recursion.cube_root",
}
PROGRAMS = [
    p for p in load_corpus()
    if not ({"raises", "may_refuse", "arrays"} & p.tags) and p.name not in NOT_AN_ORACLE
]


_SERIAL = itertools.count()
_SCALARIZED = {}


def scalarized(fn, nargs, picks):
    """A function of the subset: sum of `weight * fn(...)[k]` over the float
    components `picks` of fn's tuple result (its source is registered in
    linecache, so the front end reads it like a file)."""
    key = (fn, nargs, picks)
    if key not in _SCALARIZED:
        params = ", ".join(f"a{i}" for i in range(nargs))
        terms = " + ".join(f"out[{k}] * {0.5 + 0.25 * j}" for j, k in enumerate(picks))
        src = f"def scalarized({params}):\n    out = fn({params})\n    return {terms}\n"
        filename = f"<scalarized-{next(_SERIAL)}>"
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        namespace = {"fn": fn}
        exec(compile(src, filename, "exec"), namespace)
        _SCALARIZED[key] = namespace["scalarized"]
    return _SCALARIZED[key]


def central(fn, args, i, h):
    lo, hi = list(args), list(args)
    lo[i] -= h
    hi[i] += h
    return (fn(*hi) - fn(*lo)) / (2 * h)


def one_sided(fn, args, i, h):
    moved = list(args)
    moved[i] += h
    return (fn(*moved) - fn(*args)) / h


def smooth_derivative(fn, args, i):
    """The derivative by central differences, or None at or near a kink:
    there the one-sided differences disagree (a symmetric difference alone
    is blind to a kink such as abs at 0)."""
    try:
        ahead = one_sided(fn, args, i, 1e-6)
        behind = one_sided(fn, args, i, -1e-6)
        fine = central(fn, args, i, 1e-6)
    except (ArithmeticError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (ahead, behind, fine)):
        return None
    if abs(ahead - behind) > 1e-3 * max(1.0, abs(fine)):
        return None
    return fine


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_corpus_gradient_matches_finite_differences(prog):
    checked = []

    @settings(max_examples=15)
    @given(prog.args)
    def check(args):
        float_args = tuple(i for i, a in enumerate(args) if type(a) is float)
        if not float_args:
            return
        # Off ties and zeros (hypothesis's favourites), where AD follows the
        # branch taken while the function may be flat: distinct small nudges.
        args = tuple(a + 7.3e-4 * (i + 1) if i in float_args else a for i, a in enumerate(args))
        try:
            out = prog.fn(*args)
        except Exception:
            return
        fn = prog.fn
        if isinstance(out, tuple):  # differentiate a weighted sum of its float parts
            picks = tuple(k for k, v in enumerate(out) if type(v) is float and math.isfinite(v))
            if not picks:
                return
            fn = scalarized(prog.fn, len(args), picks)
        elif type(out) is not float or not math.isfinite(out):
            return
        grads = tl.grad(fn, argnums=float_args)(*args)
        for g, i in zip(grads, float_args, strict=True):
            want = smooth_derivative(fn, args, i)
            if want is None:
                continue
            assert isinstance(g, float)
            assert g == pytest.approx(want, rel=1e-4, abs=1e-4), f"d/d(arg {i}) at {args}"
            checked.append(i)

    check()
    if not checked:
        pytest.skip("no smooth point with float arguments and a float result")
