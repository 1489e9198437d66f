"""The primitive table: completeness, the front end's map, and the type-rule oracle.

The oracle runs every primitive's implementation on sample arguments (scalars
of each kind, Python and NumPy, arrays of ranks 0-3 of each dtype with
broadcast-compatible shapes, tuples, None, slices) and checks its type rule
against the result: where the implementation returns, the rule (given the
arguments' abstract values, constants included) must give `typeof(result)`;
where it raises `TypeError`, the rule must reject the arguments too. A rule
may be stricter than the implementation only in the cases listed in
`STRICTER`, and may disagree with it only in the cases listed in
`KNOWN_GAPS` (rules of other modules awaiting a fix; each entry must still
occur, so the list cannot rot).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import operator
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tapeless.errors import TapelessTypeError
from tapeless.ir import prims
from tapeless.ir.primitives import PRIMITIVES, Primitive, primitive_for
from tapeless.ir.types import I64, NONE, ArrayType, Scalar, TupleType, typeof

ALL = sorted(PRIMITIVES)

#: The machinery of reverse mode: they run on sensitivities and environments,
#: never on user values, so the value sweep below does not apply; tests/ad
#: exercises them. (`stop_gradient`, which users call, is swept.)
AD_INTERNAL = {
    "zeros_like", "gadd", "env_getitem", "env_setitem",
    "getitem_sens", "sign_of", "safe_log", "positive_part", "sens_like", "is_none",
    "grad_seed", "check_wrt", "jvalue", "grad",
}
USER_VALUES = [n for n in ALL if n not in AD_INTERNAL]


def test_ad_internal_list_is_the_ad_modules() -> None:
    declared = {
        n for n, p in PRIMITIVES.items()
        if p.impl.__module__ in ("tapeless.ir.prims.ad", "tapeless.ad.grad") and n != "stop_gradient"
    }
    helpers = {n for n in AD_INTERNAL if n not in declared}
    assert declared <= AD_INTERNAL, f"classify these: {sorted(declared - AD_INTERNAL)}"
    assert not helpers or all(PRIMITIVES[n].impl.__module__.startswith("tapeless.") for n in helpers)

# -- completeness ------------------------------------------------------------

#: Primitives through which no gradient flows: their results are booleans,
#: ints, shapes, or piecewise constant, or do not depend on the values of
#: their inputs. Every other primitive needs a derivative rule.
NON_DIFFERENTIABLE = {
    # comparisons and truth
    "eq", "ne", "lt", "le", "gt", "ge", "truth", "not", "range_check",
    # ints and structure
    "int", "len", "make_slice", "floor", "ceil", "trunc",
    # classification
    "isnan", "isinf", "isfinite",
    # piecewise-constant array functions
    "np_sign", "np_floor", "np_ceil",
    # shapes, and arrays whose values do not depend on the inputs' values
    "shape", "ndim", "size", "np_zeros", "np_ones", "np_zeros_like", "np_ones_like",
    # reverse mode's own: zeros, signs and masks inside rules, the output seed,
    # and grad inside compiled code (expanded away before differentiation)
    "zeros_like", "sign_of", "positive_part", "grad_seed", "grad",
    # helpers of array rules: an optional argument's None-ness, np.clip's masks,
    # the inverse permutation of transpose's axes
    "is_none", "clip_weights", "inverse_axes",
}


def test_registry_keys_are_names() -> None:
    for name, p in PRIMITIVES.items():
        assert p.name == name


@pytest.mark.parametrize("name", ALL)
def test_primitive_is_complete(name: str) -> None:
    p = PRIMITIVES[name]
    assert callable(p.impl) and callable(p.infer)
    assert p.doc.strip(), f"{name} has no doc"
    assert isinstance(p.differentiable, bool)
    assert len(set(p.params)) == len(p.params)
    assert len(p.defaults) <= len(p.params)
    impl_sig = inspect.signature(p.impl)
    infer_sig = inspect.signature(p.infer)
    if p.variadic:
        assert p.params == ()
        for sig in (impl_sig, infer_sig):
            kinds = [q.kind for q in sig.parameters.values()]
            assert inspect.Parameter.VAR_POSITIONAL in kinds
    else:
        # The front end passes every parameter positionally (defaults filled in).
        impl_sig.bind(*p.params)
        infer_sig.bind(*p.params)


def test_differentiability_is_deliberate() -> None:
    assert {n for n, p in PRIMITIVES.items() if not p.differentiable} == NON_DIFFERENTIABLE


def test_no_object_implemented_twice() -> None:
    seen: dict[int, str] = {}
    for name, p in PRIMITIVES.items():
        for obj in p.implements:
            assert seen.setdefault(id(obj), name) == name, f"{obj!r}: {seen[id(obj)]} and {name}"
            assert primitive_for(obj) is p


# -- the front end's map -----------------------------------------------------

MATH_FUNCTIONS = {
    "exp": "exp", "log": "log", "log1p": "log1p", "log2": "log2", "log10": "log10",
    "expm1": "expm1", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan", "asin": "asin",
    "acos": "acos", "atan": "atan", "atan2": "atan2", "sinh": "sinh", "cosh": "cosh",
    "tanh": "tanh", "asinh": "asinh", "acosh": "acosh", "atanh": "atanh", "pow": "math_pow",
    "floor": "floor", "ceil": "ceil", "trunc": "trunc", "fabs": "fabs", "hypot": "hypot",
    "copysign": "copysign", "fmod": "fmod", "erf": "erf", "erfc": "erfc",
    "degrees": "degrees", "radians": "radians", "isnan": "isnan", "isinf": "isinf",
    "isfinite": "isfinite",
}

NUMPY_FUNCTIONS = {
    "exp": "np_exp", "log": "np_log", "log1p": "np_log1p", "expm1": "np_expm1",
    "sqrt": "np_sqrt", "sin": "np_sin", "cos": "np_cos", "tan": "np_tan", "tanh": "np_tanh",
    "sinh": "np_sinh", "cosh": "np_cosh", "arctan": "np_arctan", "arcsin": "np_arcsin",
    "arccos": "np_arccos", "abs": "np_abs", "absolute": "np_abs", "negative": "np_negative",
    "square": "np_square", "sign": "np_sign", "floor": "np_floor", "ceil": "np_ceil",
    "maximum": "np_maximum", "minimum": "np_minimum", "power": "np_power",
    "arctan2": "np_arctan2", "where": "np_where", "clip": "np_clip", "sum": "np_sum",
    "mean": "np_mean", "max": "np_max", "amax": "np_max", "min": "np_min", "amin": "np_min",
    "prod": "np_prod", "matmul": "matmul", "dot": "np_dot", "outer": "np_outer",
    "transpose": "transpose", "reshape": "reshape", "shape": "shape", "ndim": "ndim",
    "size": "size", "zeros": "np_zeros", "ones": "np_ones", "full": "np_full",
    "zeros_like": "np_zeros_like", "ones_like": "np_ones_like",
}


@pytest.mark.parametrize(("fn", "name"), sorted(MATH_FUNCTIONS.items()))
def test_math_functions_map_to_primitives(fn: str, name: str) -> None:
    assert primitive_for(getattr(math, fn)) is PRIMITIVES[name]
    assert PRIMITIVES[name] is getattr(prims.math, name)


#: The modules of ir/prims that declare NumPy's functions.
NUMPY_MODULES = (prims.array, prims.reductions, prims.linalg, prims.shapes)


@pytest.mark.parametrize(("fn", "name"), sorted(NUMPY_FUNCTIONS.items()))
def test_numpy_functions_map_to_primitives(fn: str, name: str) -> None:
    p = PRIMITIVES[name]
    assert primitive_for(getattr(np, fn)) is p
    # declared (its implementation defined) in one of the NumPy modules, under its name
    (module,) = [m for m in NUMPY_MODULES if m.__name__ == p.impl.__module__]
    assert getattr(module, name) is p


def test_operators_and_unsupported_functions() -> None:
    assert primitive_for(operator.matmul) is PRIMITIVES["matmul"]
    assert primitive_for(operator.pow) is PRIMITIVES["pow"]  # `**`, not math.pow
    assert primitive_for(abs) is PRIMITIVES["abs"]
    assert PRIMITIVES["log_base"].implements == ()  # chosen by the front end for math.log(x, b)
    for unsupported in (math.gamma, math.fsum, np.cumsum, np.linalg.inv, print):
        assert primitive_for(unsupported) is None


# -- the type-rule oracle ----------------------------------------------------

_rng = np.random.default_rng(0)


def _array(kind: str, shape: tuple[int, ...]) -> np.ndarray:
    if kind == "f64":
        return _rng.uniform(0.1, 0.9, shape)
    if kind == "i64":
        return _rng.integers(1, 4, shape)
    return np.arange(math.prod(shape)).reshape(shape) % 2 == 0


SHAPES = [(), (3,), (1, 3), (3, 3), (2, 3, 3)]  # pairwise broadcastable, @-compatible
SCALARS: list[Any] = [True, False, 0, 3, -2, 0.5, -1.5, 2.0, np.float64(0.25), np.int64(2), np.True_]
ARRAYS = [_array(k, s) for k in ("f64", "i64", "bool") for s in SHAPES]
TUPLES: list[Any] = [(), (1, 2), (3, -1), (1.0, 2.0), (0,), (1, 0), (9,)]
POOL = SCALARS + ARRAYS + TUPLES + [None, slice(None), slice(1, None)]
#: for primitives of three arguments, where the full product would be large
SMALL = [True, 3, -1.5, np.float64(0.25), ARRAYS[0], ARRAYS[1], ARRAYS[3], ARRAYS[6],
         ARRAYS[13], (1, 2), None, slice(None)]
AXES: list[Any] = [None, 0, 1, -1, 2, 3, (), (0,), (0, 1), (1, 0), (0, 0), (-1, 0), (2, 0, 1),
                   True, 0.5, np.int64(1)]
SHAPE_ARGS: list[Any] = [0, 3, 9, -1, (), (9,), (3, 3), (3, -1), (-1, -1), (1, 3, 3), (18, -1),
                         True, (True,), 2.0, (9.0,), np.int64(3), None, ARRAYS[1]]
INDICES: list[Any] = [0, 1, -1, 5, True, 0.5, None, slice(None), slice(1, None), (0, 0),
                      (0, slice(None)), (slice(None), 1), (0, 0, 0, 0), ARRAYS[6]]
BOUNDS: list[Any] = [None, 0, 2, -1, True, 0.5, ARRAYS[6]]
COUNTS: list[Any] = [0, 1, 2, 3, None]
PARAM_POOLS = {"axis": AXES, "axes": AXES, "shape": SHAPE_ARGS, "index": INDICES,
               "start": BOUNDS, "stop": BOUNDS, "step": BOUNDS, "n": COUNTS}


def _cases(p: Primitive) -> Any:
    if p.variadic:
        return (c for n in range(4) for c in itertools.product(SMALL, repeat=n))
    default = POOL if len(p.params) <= 2 else SMALL
    return itertools.product(*(PARAM_POOLS.get(name, default) for name in p.params))


def _rank(a: Any) -> int | None:
    """The rank of a number or array (None for anything else)."""
    if isinstance(a, np.ndarray):
        return a.ndim
    return 0 if isinstance(a, int | float | np.number | np.bool_) else None


def _is_bool(a: Any) -> bool:
    return isinstance(a, bool | np.bool_) or (isinstance(a, np.ndarray) and a.dtype == np.bool_)


def _kind(a: Any) -> str | None:
    t = typeof(a)
    if isinstance(t, Scalar):
        return t.kind
    return t.dtype if isinstance(t, ArrayType) else None


def _has_0d_array(args: tuple[Any, ...]) -> bool:
    return any(isinstance(a, np.ndarray) and a.ndim == 0 for a in args)


MATH_PRIMS = set(MATH_FUNCTIONS.values()) | {"log_base"}
Predicate = Callable[[str, tuple[Any, ...]], bool]

#: Cases where a rule rejects what the implementation accepts, on purpose.
STRICTER: list[tuple[str, Predicate]] = [
    ("math functions take scalars, not arrays; CPython also converts 0-d arrays",
     lambda n, a: n in MATH_PRIMS and _has_0d_array(a)),
    ("min/max of scalars only; CPython also compares 0-d arrays",
     lambda n, a: n in ("scalar_min", "scalar_max") and _has_0d_array(a)),
    ("reducing a rank-0 value along axis 0 or -1 (a NumPy quirk np.mean and tuple axes lack)",
     lambda n, a: n in ("np_sum", "np_prod", "np_max", "np_min") and _rank(a[0]) == 0
     and a[1] in (0, -1)),
    ("np.clip needs a bound (NumPy >= 2.1 copies x when both are None)",
     lambda n, a: n == "np_clip" and a[1] is None and a[2] is None),
    ("arrays are indexed by ints and slices only (no masks, index arrays or np.newaxis)",
     lambda n, a: n == "getitem" and isinstance(a[0], np.ndarray)
     and any(p is None or _is_bool(p) or isinstance(p, np.ndarray)
             for p in (a[1] if isinstance(a[1], tuple) else (a[1],)))),
    ("tuples are sliced only when constant (folded by the front end)",
     lambda n, a: n == "getitem" and isinstance(a[0], tuple) and isinstance(a[1], slice)),
    ("slice bounds are ints or None (Python allows any object)",
     lambda n, a: n == "make_slice" and any(typeof(b) not in (NONE, I64) for b in a)),
    ("range() takes ints (the front end checks before the loop)",
     lambda n, a: n == "range_check"
     and any(isinstance(b, np.ndarray) or _kind(b) == "f64" for b in a)),
    ("a switch condition is a bool (the front end emits switch(truth(c), ...))",
     lambda n, a: n == "switch" and not (isinstance(a[0], bool | np.bool_))),
    ("both branches of a switch must have one type (monomorphic programs)",
     lambda n, a: n == "switch" and typeof(a[1]) != typeof(a[2])
     and not (isinstance(typeof(a[1]), Scalar) and isinstance(typeof(a[2]), Scalar))),
]

_OPERATORS = {"add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "integer_pow", "neg",
              "pos", "abs", "eq", "ne", "lt", "le", "gt", "ge"}

#: Disagreements between a rule and its implementation, each to be fixed in
#: the module named; `test_known_gaps_still_occur` fails once one is fixed,
#: so that its entry here is removed.
KNOWN_GAPS: list[tuple[str, Predicate]] = [
    ("scalar.py/rules.broadcast: an operator on rank-0 operands with a 0-d array gives a NumPy "
     "scalar, the rule says a 0-d array (rules.ufunc_result has the NumPy behaviour)",
     lambda n, a: n in _OPERATORS and _has_0d_array(a) and all(_rank(b) == 0 for b in a)),
    ("scalar.py: arithmetic on NumPy bools (np.bool_ or bool arrays) is not Python's: + and * "
     "give bools, - raises TypeError, //, % and ** give int8, abs gives bools",
     lambda n, a: n in _OPERATORS - {"truediv", "eq", "ne", "lt", "le", "gt", "ge"}
     and all(_is_bool(b) for b in a)
     and any(isinstance(b, np.ndarray | np.bool_) for b in a)),
    ("scalar.py: integer_pow of NumPy bools (x ** 2 with x a bool array) gives int8",
     lambda n, a: n == "integer_pow" and _is_bool(a[0]) and isinstance(a[0], np.ndarray | np.bool_)),
    ("scalar.py: a negative base to a non-integral float power is a complex in Python",
     lambda n, a: n == "pow" and all(_rank(b) == 0 for b in a) and a[0] < 0
     and isinstance(a[1], float) and not float(a[1]).is_integer()),
    ("scalar.py/control.py: min, max and switch of two scalar kinds return the object chosen, "
     "of its own kind; the rule gives the joined kind (a conversion the backends must insert)",
     lambda n, a: n in ("scalar_min", "scalar_max", "switch")
     and len({_kind(b) for b in a[-2:]}) == 2 and all(_rank(b) == 0 for b in a[-2:])),
    ("structure.py: unpack_check's rule does not check that n is an int (the front end always "
     "passes a constant one)",
     lambda n, a: n == "unpack_check" and not isinstance(a[1], int)),
]


def _outcome(p: Primitive, args: tuple[Any, ...]) -> tuple[str, str]:
    """Run rule and implementation on `args`: ("ok" | "stricter" | "mismatch" | "type", detail)."""
    # A rule raising anything but TapelessTypeError propagates: that is a bug.
    try:
        expected = p.infer(*(typeof(a, keep_value=True) for a in args)).without_value()
        rule_error: TapelessTypeError | None = None
    except TapelessTypeError as e:
        rule_error = e
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = p.impl(*args)
    except (TypeError, ValueError, ArithmeticError, IndexError) as e:
        if rule_error is None and isinstance(e, TypeError):
            return "type", f"rule gives {expected}, the implementation raises {e!r}"
        return "ok", ""
    if rule_error is not None:
        return "stricter", f"rule: {rule_error.message}; implementation gives {typeof(result)}"
    try:
        got = typeof(result)
    except TapelessTypeError:
        got = f"an unsupported {type(result).__name__} {getattr(result, 'dtype', '')}"
    if got != expected:
        return "mismatch", f"rule gives {expected}, the implementation {got}"
    return "ok", ""


def _explain(name: str, args: tuple[Any, ...], what: str) -> str | None:
    """The entry of STRICTER or KNOWN_GAPS that accounts for an outcome, if any."""
    allowed = STRICTER + KNOWN_GAPS if what == "stricter" else KNOWN_GAPS
    return next((why for why, pred in allowed if pred(name, args)), None)


def _show(a: Any) -> str:
    if isinstance(a, np.ndarray):
        return f"array({a.dtype}, shape={a.shape})"
    if isinstance(a, np.generic):
        return f"np.{type(a).__name__}({a!r})"
    return repr(a)


def _check(name: str, cases: Any) -> tuple[list[str], set[str]]:
    """Unexplained outcomes of `cases`, and the explanations used."""
    p = PRIMITIVES[name]
    bad: list[str] = []
    used: set[str] = set()
    for args in cases:
        what, detail = _outcome(p, args)
        if what == "ok":
            continue
        why = _explain(name, args, what)
        if why is None:
            bad.append(f"{name}({', '.join(map(_show, args))}): {what}: {detail}")
        else:
            used.add(why)
    return bad, used


@functools.cache
def _sweep(name: str) -> tuple[tuple[str, ...], frozenset[str]]:
    bad, used = _check(name, _cases(PRIMITIVES[name]))
    return tuple(bad), frozenset(used)


@pytest.mark.parametrize("name", USER_VALUES)
def test_type_rule_agrees_with_implementation(name: str) -> None:
    bad, _ = _sweep(name)
    assert not bad, f"{len(bad)} unexplained cases:\n" + "\n".join(bad[:25])


def test_known_gaps_still_occur() -> None:
    used = set().union(*(_sweep(name)[1] for name in USER_VALUES))
    stale = [why for why, _ in STRICTER + KNOWN_GAPS if why not in used]
    assert not stale, "remove these entries, they no longer occur:\n" + "\n".join(stale)


# Random operands for the elementwise primitives: shapes that broadcast
# (including empty and rank-0 ones), every dtype, Python and NumPy scalars.
ELEMENTWISE = sorted(
    _OPERATORS | {"np_where", "np_clip"}
    | {n for n, p in PRIMITIVES.items() if any(isinstance(o, np.ufunc) for o in p.implements)}
)
_DTYPES = {"f64": np.float64, "i64": np.int64, "bool": np.bool_}
_ELEMENTS = {
    "f64": st.floats(-4, 4, allow_subnormal=False),
    "i64": st.integers(-4, 4),
    "bool": st.booleans(),
}


@st.composite
def _operands(draw: st.DrawFn, n: int) -> tuple[Any, ...]:
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=n, max_dims=3, max_side=3))
    out: list[Any] = []
    for shape in shapes.input_shapes:
        kind = draw(st.sampled_from(sorted(_DTYPES)))
        form = draw(st.sampled_from(["array", "array", "python", "numpy"]))
        if form == "array" or shape != ():
            out.append(draw(hnp.arrays(_DTYPES[kind], shape, elements=_ELEMENTS[kind])))
        else:
            value = draw(_ELEMENTS[kind])
            out.append(_DTYPES[kind](value) if form == "numpy" else value)
    return tuple(out)


@pytest.mark.parametrize("name", ELEMENTWISE)
@given(data=st.data())
def test_elementwise_rules_on_random_operands(name: str, data: st.DataObject) -> None:
    args = data.draw(_operands(len(PRIMITIVES[name].params)))
    bad, _ = _check(name, [args])
    assert not bad, bad[0]


@pytest.mark.parametrize("name", ["np_sum", "np_mean", "np_max", "np_min", "np_prod"])
@given(data=st.data())
def test_reduction_rules_on_random_axes(name: str, data: st.DataObject) -> None:
    (x,) = data.draw(_operands(1))
    ndim = np.ndim(x)
    one = st.integers(-ndim - 1, ndim)
    axis = data.draw(st.none() | one | st.lists(one, max_size=ndim + 1).map(tuple))
    bad, _ = _check(name, [(x, axis)])
    assert not bad, bad[0]


# -- behaviour worth stating once --------------------------------------------

P = PRIMITIVES


def _infer(name: str, *args: Any) -> Any:
    return P[name].infer(*(typeof(a, keep_value=True) for a in args))


def test_math_keeps_cpython_errors() -> None:
    with pytest.raises(ValueError, match="math domain error"):
        P["log"](-1.0)
    with pytest.raises(ValueError, match="math domain error"):
        P["sqrt"](-1.0)
    with pytest.raises(OverflowError):
        P["exp"](1000.0)
    with pytest.raises(ValueError):
        P["floor"](math.nan)
    assert P["log_base"](8.0, 2.0) == math.log(8.0, 2.0)
    assert P["hypot"](3, 4) == 5.0
    assert P["trunc"](np.int64(-3)) == -3 and type(P["trunc"](np.True_)) is int
    assert type(P["floor"](2.5)) is int and P["isnan"](math.nan) is True


def test_math_on_arrays_points_to_numpy() -> None:
    with pytest.raises(TapelessTypeError) as err:
        _infer("sin", np.ones(3))
    assert err.value.hint is not None and "np.sin" in err.value.hint
    with pytest.raises(TapelessTypeError):
        _infer("atan2", 1.0, (1.0,))
    assert _infer("floor", 2.5) == Scalar("i64")
    assert _infer("isinf", 2) == Scalar("bool")


def test_ufunc_dtypes_stay_in_float64_int64_bool() -> None:
    assert type(P["np_exp"](True)) is np.float64  # NumPy alone: float16
    assert P["np_sqrt"](np.array([True, False])).dtype == np.float64
    assert P["np_square"](np.array([True])).dtype == np.int64  # NumPy alone: int8
    assert P["np_power"](np.array([True]), np.array([True])).dtype == np.int64
    assert P["np_maximum"](np.array([1, 2]), np.array([2, 1])).dtype == np.int64
    assert _infer("np_exp", 2.0) == Scalar("f64")
    assert _infer("np_exp", np.array(2.0)) == Scalar("f64")  # ufuncs unwrap 0-d results
    assert _infer("np_where", True, 1.0, 2.0) == ArrayType("f64", 0)  # np.where does not
    with pytest.raises(TapelessTypeError):
        _infer("np_negative", np.array([True]))
    with pytest.raises(TypeError):
        P["np_exp"]((1.0, 2.0))  # tuples are not arrays in tapeless


def test_reduction_axes_must_be_constant() -> None:
    x = np.ones((2, 3, 4))
    assert _infer("np_sum", x, None) == Scalar("f64")
    assert _infer("np_sum", x, 1) == ArrayType("f64", 2)
    assert _infer("np_mean", x.astype(np.int64), (0, -1)) == ArrayType("f64", 1)
    assert _infer("np_max", x, (0, 1, 2)) == Scalar("f64")
    with pytest.raises(TapelessTypeError, match="constant"):
        P["np_sum"].infer(typeof(x), Scalar("i64"))
    with pytest.raises(TapelessTypeError, match="out of bounds"):
        _infer("np_sum", x, 3)
    with pytest.raises(TapelessTypeError, match="twice"):
        _infer("np_sum", x, (0, -3))


def test_shape_rules() -> None:
    x = np.ones((2, 3))
    assert _infer("reshape", x, (3, -1)) == ArrayType("f64", 2)
    assert _infer("reshape", x, 6) == ArrayType("f64", 1)
    # Only the length of the shape decides the type; its values may be unknown.
    assert P["reshape"].infer(typeof(x), TupleType((Scalar("i64"),) * 3)) == ArrayType("f64", 3)
    with pytest.raises(TapelessTypeError, match="tuple"):
        P["reshape"].infer(typeof(x), ArrayType("i64", 1))
    with pytest.raises(TapelessTypeError, match="one -1"):
        _infer("reshape", x, (-1, -1))
    assert _infer("shape", x) == TupleType((Scalar("i64"), Scalar("i64")))
    assert P["shape"](x) == (2, 3)
    assert _infer("ndim", x) == Scalar("i64", 2)  # a constant: the rank is in the type
    assert _infer("transpose", x, None) == ArrayType("f64", 2)
    assert _infer("transpose", 2.0, None) == ArrayType("f64", 0)
    assert P["transpose"](np.float64(2.0)).shape == ()  # an array, as for a Python float
    with pytest.raises(TapelessTypeError):
        _infer("transpose", x, (0,))
    assert _infer("np_zeros", (2, 3)) == ArrayType("f64", 2)
    assert _infer("np_full", 3, True) == ArrayType("bool", 1)
    assert _infer("np_zeros_like", np.array([1, 2])) == ArrayType("i64", 1)
    with pytest.raises(TapelessTypeError):
        _infer("np_zeros", 2.0)


def test_linear_algebra_ranks() -> None:
    v, m, t = np.ones(3), np.ones((3, 3)), np.ones((2, 3, 3))
    assert _infer("matmul", v, v) == Scalar("f64")
    assert _infer("matmul", m, v) == ArrayType("f64", 1)
    assert _infer("matmul", v, t) == ArrayType("f64", 2)
    assert _infer("matmul", t, m) == ArrayType("f64", 3)
    with pytest.raises(TapelessTypeError, match="rank"):
        _infer("matmul", 2.0, v)
    assert _infer("np_dot", t, m) == ArrayType("f64", 3)
    assert _infer("np_dot", 2, v.astype(np.int64)) == ArrayType("i64", 1)
    assert _infer("np_outer", v, 2.0) == ArrayType("f64", 2)
