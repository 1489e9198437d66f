"""The program corpus: its record type, argument strategies, loader and oracle.

Each module under ``tests/frontend/corpus/`` defines plain module-level
functions in the supported Python subset and a registry
``PROGRAMS = [Program(fn, strategy), ...]``, where ``strategy`` draws the whole
argument tuple. The modules are loaded by file path (``load_corpus``), under
the module names ``tapeless_corpus.<stem>``, so that they never collide with
the library's own packages and need no ``__init__.py``.

``same_outcome`` is the oracle: CPython's result (or exception) and
tapeless's must have the same type and the same value, floats bit for bit.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"

#: Tags a program can carry (later stages filter the corpus on them).
TAGS = frozenset(
    {
        "raises",  # CPython raises for some of the drawn arguments
        "may_refuse",  # a clear TapelessError at parse/compile time is acceptable
        "polymorphic",  # a variable or result changes type (int/float/...) with the input
        "arrays",  # takes or returns numpy arrays
        "recursion",  # (mutually) recursive
        "higher_order",  # function values flow as arguments or results
    }
)


@dataclass(frozen=True)
class Program:
    """A corpus program: a function, a strategy for its argument tuple, tags.

    ``examples`` are argument tuples always checked before the drawn ones
    (edge cases hypothesis would rarely find: zero steps, ties, ...).
    """

    fn: Callable[..., Any]
    args: st.SearchStrategy[tuple[Any, ...]]
    tags: frozenset[str] = field(default_factory=frozenset)
    examples: tuple[tuple[Any, ...], ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.tags) - TAGS
        if unknown:
            raise ValueError(f"{self.name}: unknown tags {sorted(unknown)}")

    @property
    def name(self) -> str:
        return f"{self.fn.__module__.rpartition('.')[2]}.{self.fn.__name__}"


def program(
    fn: Callable[..., Any],
    *strategies: st.SearchStrategy[Any],
    tags: Iterable[str] = (),
    examples: Iterable[tuple[Any, ...]] = (),
) -> Program:
    """``Program(fn, st.tuples(*strategies))``: one strategy per positional argument."""
    return Program(fn, st.tuples(*strategies), frozenset(tags), tuple(examples))


# --------------------------------------------------------------------------
# Argument strategies. Bounds keep loops short, results inside int64 and
# float operations away from overflow and domain errors unless a program is
# about them (tagged "raises").


def ints(lo: int = -20, hi: int = 20) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


def floats(lo: float = -10.0, hi: float = 10.0) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def nonzero_floats(mag: float = 10.0, least: float = 0.25) -> st.SearchStrategy[float]:
    return floats(least, mag) | floats(-mag, -least)


def nonzero_ints(lo: int = -9, hi: int = 9) -> st.SearchStrategy[int]:
    return st.integers(lo, hi).filter(lambda n: n != 0)


def bools() -> st.SearchStrategy[bool]:
    return st.booleans()


def scalars() -> st.SearchStrategy[Any]:
    """An int, a float or a bool: for programs whose result type follows the input."""
    return st.one_of(ints(), floats(), bools())


def float_tuples(min_size: int = 0, max_size: int = 5) -> st.SearchStrategy[tuple[float, ...]]:
    return st.lists(floats(), min_size=min_size, max_size=max_size).map(tuple)


def _elements(dtype: Any, lo: float, hi: float) -> st.SearchStrategy[Any]:
    if np.dtype(dtype).kind == "f":
        return floats(lo, hi)
    if np.dtype(dtype).kind == "i":
        return st.integers(int(lo), int(hi))
    return st.booleans()


def arrays(
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    lo: float = -5.0,
    hi: float = 5.0,
    dtype: Any = np.float64,
) -> st.SearchStrategy[np.ndarray]:
    """numpy arrays of `dtype` with the given shape (or shapes), elements in [lo, hi]."""
    return hnp.arrays(dtype, shape, elements=_elements(dtype, lo, hi))


def shapes(ndim: int, lo: int = 1, hi: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    return st.tuples(*[st.integers(lo, hi)] * ndim)


def vectors(lo: int = 1, hi: int = 6, **kw: Any) -> st.SearchStrategy[np.ndarray]:
    return arrays(shapes(1, lo, hi), **kw)


def matrices(lo: int = 1, hi: int = 4, **kw: Any) -> st.SearchStrategy[np.ndarray]:
    return arrays(shapes(2, lo, hi), **kw)


def same_shape(n: int, shape: st.SearchStrategy[tuple[int, ...]], **kw: Any) -> st.SearchStrategy:
    """`n` arrays of one drawn shape."""
    return shape.flatmap(lambda s: st.tuples(*[arrays(s, **kw)] * n))


# --------------------------------------------------------------------------
# Loading.


def load_corpus() -> list[Program]:
    """Every `Program` of every corpus module, in a stable order."""
    programs: list[Program] = []
    for path in sorted(CORPUS_DIR.glob("*.py")):
        programs.extend(load_module(path).PROGRAMS)
    return programs


def load_module(path: Path) -> ModuleType:
    name = f"tapeless_corpus.{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def corpus_sources() -> dict[str, str]:
    """Source text of every corpus module, by file name."""
    return {p.name: p.read_text() for p in sorted(CORPUS_DIR.glob("*.py"))}


# --------------------------------------------------------------------------
# The oracle.


@dataclass(frozen=True)
class Outcome:
    """What a call did: returned `value`, or raised `error`."""

    value: Any = None
    error: BaseException | None = None


def run(fn: Callable[..., Any], args: tuple[Any, ...]) -> Outcome:
    try:
        return Outcome(value=fn(*args))
    except Exception as exc:
        return Outcome(error=exc)


def same_exception(expected: BaseException, actual: BaseException) -> bool:
    """Whether `actual` counts as "the same exception type" as CPython's `expected`.

    ``UnboundLocalError`` is a ``NameError`` whose subclass only says where the
    name lives; tapeless's ``TapelessNameError`` is a ``NameError`` too.
    """
    wanted = type(expected)
    if wanted is UnboundLocalError:
        wanted = NameError
    return isinstance(actual, wanted)


def assert_same_value(expected: Any, actual: Any, path: str = "result") -> None:
    """Same type, same structure, same value; floats bit-identical (NaN equals NaN)."""
    if type(expected) is not type(actual):
        raise AssertionError(
            f"{path}: type {type(actual).__name__} ({actual!r}), "
            f"CPython gives {type(expected).__name__} ({expected!r})"
        )
    if isinstance(expected, tuple):
        if len(expected) != len(actual):
            raise AssertionError(f"{path}: tuple of {len(actual)}, CPython gives {len(expected)}")
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same_value(e, a, f"{path}[{i}]")
    elif isinstance(expected, np.ndarray):
        if expected.dtype != actual.dtype or expected.shape != actual.shape:
            raise AssertionError(
                f"{path}: array {actual.dtype}{list(actual.shape)}, "
                f"CPython gives {expected.dtype}{list(expected.shape)}"
            )
        same = np.array_equal(expected, actual, equal_nan=expected.dtype.kind in "fc")
        if same and expected.dtype.kind == "f":
            same = np.array_equal(np.signbit(expected), np.signbit(actual))
        if not same:
            raise AssertionError(f"{path}: {actual!r}, CPython gives {expected!r}")
    elif isinstance(expected, float | np.floating):
        if not _same_float(float(expected), float(actual)):
            raise AssertionError(f"{path}: {actual!r}, CPython gives {expected!r}")
    elif expected != actual:
        raise AssertionError(f"{path}: {actual!r}, CPython gives {expected!r}")


def _same_float(x: float, y: float) -> bool:
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)


def assert_same_outcome(expected: Outcome, actual: Outcome) -> None:
    if expected.error is not None:
        if actual.error is None:
            raise AssertionError(
                f"CPython raises {type(expected.error).__name__}: {expected.error}; "
                f"tapeless returns {actual.value!r}"
            )
        if not same_exception(expected.error, actual.error):
            raise AssertionError(
                f"CPython raises {type(expected.error).__name__}: {expected.error}; "
                f"tapeless raises {type(actual.error).__name__}: {actual.error}"
            ) from actual.error
        return
    if actual.error is not None:
        raise AssertionError(
            f"CPython returns {expected.value!r}; "
            f"tapeless raises {type(actual.error).__name__}: {actual.error}"
        ) from actual.error
    assert_same_value(expected.value, actual.value)
