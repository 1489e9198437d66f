"""Every construct outside the subset raises a `TapelessError` subclass that
names it, points at file:line:col of the offending line (marked `# ERR` in
bad_programs.py), shows that source line and gives a hint."""

import inspect

import bad_programs as bad
import pytest

import tapeless
from tapeless.errors import (
    ArityError,
    TapelessError,
    TapelessNameError,
    TapelessTypeError,
    TapelessUnboundLocalError,
    UnsupportedSyntax,
)
from tapeless.frontend import parse_function

# function name -> (error class, words the construct name must contain)
PARSE_ERRORS = {
    "uses_try": (UnsupportedSyntax, "try"),
    "uses_with": (UnsupportedSyntax, "with"),
    "uses_class": (UnsupportedSyntax, "class"),
    "uses_yield": (UnsupportedSyntax, "yield"),
    "uses_async": (UnsupportedSyntax, "async"),
    "uses_await_inner": (UnsupportedSyntax, "async"),
    "uses_global": (UnsupportedSyntax, "global"),
    "uses_nonlocal": (UnsupportedSyntax, "nonlocal"),
    "uses_del": (UnsupportedSyntax, "del"),
    "uses_fstring": (UnsupportedSyntax, "f-string"),
    "uses_star_call": (UnsupportedSyntax, "star"),
    "uses_star_param": (UnsupportedSyntax, "*args"),
    "uses_kwargs_param": (UnsupportedSyntax, "**kwargs"),
    "uses_item_assign": (UnsupportedSyntax, "item assignment"),
    "uses_attr_assign": (UnsupportedSyntax, "attribute assignment"),
    "uses_import": (UnsupportedSyntax, "import"),
    "uses_unknown_call": (UnsupportedSyntax, "unknown library call"),
    "uses_list": (UnsupportedSyntax, "list"),
    "uses_dict": (UnsupportedSyntax, "dict"),
    "uses_listcomp": (UnsupportedSyntax, "comprehension"),
    "uses_walrus": (UnsupportedSyntax, ":="),
    "uses_bitand": (UnsupportedSyntax, "&"),
    "uses_is": (UnsupportedSyntax, "is"),
    "uses_in": (UnsupportedSyntax, "in"),
    "uses_string": (UnsupportedSyntax, "string"),
    "uses_raise": (UnsupportedSyntax, "raise"),
    "uses_assert": (UnsupportedSyntax, "assert"),
    "uses_match": (UnsupportedSyntax, "match"),
    "uses_nested_decorator": (UnsupportedSyntax, "decorator"),
    "uses_nonconst_default": (UnsupportedSyntax, "default"),
    "uses_undefined_name": (TapelessNameError, "not_defined_anywhere"),
    "uses_list_global": (UnsupportedSyntax, "global value"),
    "uses_range_value": (UnsupportedSyntax, "range"),
    "uses_late_binding": (UnsupportedSyntax, "late-bound"),
    "uses_unknown_np": (UnsupportedSyntax, "unknown library call"),
    "uses_module_value": (UnsupportedSyntax, "math"),
    "uses_kwargs_to_value": (UnsupportedSyntax, "keyword"),
}

# function name -> (error class, arguments): errors found when the program runs
RUN_ERRORS = {
    "adds_tuple_to_float": (TapelessTypeError, (1.0,)),
    "calls_a_number": (TapelessTypeError, (2.0,)),
    "reads_unbound": (TapelessUnboundLocalError, (False,)),
}


def marked_line(fn):
    lines, start = inspect.getsourcelines(fn)
    marks = [start + i for i, line in enumerate(lines) if line.rstrip().endswith("# ERR")]
    assert len(marks) == 1, f"{fn.__name__} must mark exactly one line"
    return marks[0]


def check_report(err: TapelessError, fn, construct_words: str | None) -> None:
    assert err.loc is not None, "the error must carry a location"
    assert err.loc.filename == inspect.getsourcefile(fn)
    assert err.loc.line == marked_line(fn)
    source_line = err.loc.source_line()
    assert source_line.rstrip().endswith("# ERR")
    text = str(err)
    # file:line:col, the source line and a caret under the column
    assert f"{err.loc.filename}:{err.loc.line}:{err.loc.col + 1}" in text
    assert source_line.strip() in text
    caret_line = text.splitlines()[2]
    assert caret_line.strip().startswith("^")
    assert caret_line.index("^") - 4 == err.loc.col
    assert err.hint, "every error gives a hint"
    assert f"hint: {err.hint}" in text
    if construct_words is not None:
        assert construct_words.lower() in (f"{err.construct} {err.message}").lower()


@pytest.mark.parametrize("name", sorted(PARSE_ERRORS))
def test_unsupported_construct(name):
    cls, words = PARSE_ERRORS[name]
    fn = getattr(bad, name)
    with pytest.raises(cls) as info:
        parse_function(fn)
    check_report(info.value, fn, words)


@pytest.mark.parametrize("name", sorted(RUN_ERRORS))
def test_error_when_run(name):
    cls, args = RUN_ERRORS[name]
    fn = getattr(bad, name)
    compiled = tapeless.compile(fn, backend="interp")
    with pytest.raises(cls) as info:
        compiled(*args)
    check_report(info.value, fn, None)


def test_unbound_local_is_python_unbound_local_error():
    with pytest.raises(UnboundLocalError):
        tapeless.compile(bad.reads_unbound, backend="interp")(False)
    assert tapeless.compile(bad.reads_unbound, backend="interp")(True) == 1.0


def test_failed_parse_is_not_cached():
    with pytest.raises(UnsupportedSyntax):
        parse_function(bad.uses_try)
    with pytest.raises(UnsupportedSyntax):
        parse_function(bad.uses_try)


def test_arity_error_for_primitive_keywords():
    def f(x):
        return abs(x, y=2)

    with pytest.raises(ArityError) as info:
        parse_function(f)
    assert info.value.loc is not None and "abs" in str(info.value)


def test_parse_non_function():
    with pytest.raises(TapelessTypeError):
        parse_function(42)
