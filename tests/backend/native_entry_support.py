"""Entries around hand-written LLVM native functions, for the tests of `backend.cpu.entry`.

A native function is given as `native`'s arguments: (parameter list, body[, declarations])
in LLVM IR text, with the entry ABI `i32 @f(leaves..., ptr %out)`.
"""

from __future__ import annotations

from functools import cache

from backend_support import same

from tapeless.backend.cpu import jit, memory
from tapeless.backend.cpu.entry import EntrySpec, NotNative, abi_type, leaves, make_entry

#: The LLVM type of each leaf kind (as an argument of a native function).
LLVM_LEAF = {"f64": "double", "i64": "i64", "bool": "i1", "ptr": "ptr"}


def native(params: str, body: str, declarations: str = "") -> int:
    """Compile `declarations` and `define i32 @<fresh name>(params) { body }`; its address.

    The memory runtime is compiled first, so the IR may declare its functions.
    """
    memory.ensure_runtime()
    name = jit.unique_name("test")
    jit.compile_module(f'{declarations}\ndefine i32 @"{name}"({params}) {{\n{body}\n}}')
    return jit.address(name)


class Fallback:
    """A fallback that records its calls and returns the marker "fallback"."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return "fallback"


def entry(arg_types, result_type, fn, errors=(), fallback=None, parameters=None):
    """(builtin, its fallback: a new `Fallback` by default) for native function `fn` (`native`'s args)."""
    fallback = Fallback() if fallback is None else fallback
    spec = EntrySpec(tuple(arg_types), result_type, native(*fn), tuple(errors))
    return make_entry([spec], fallback, "f", parameters=parameters), fallback


@cache
def shared_entry(arg_types, result_type, fn, errors=()):
    """`entry`, built once per process (for hypothesis tests, which call it per example)."""
    return entry(arg_types, result_type, fn, errors)


def echo(typ) -> tuple[str, str]:
    """A native function (`native`'s args) whose result is its argument of type `typ`."""
    kinds = leaves(typ)
    params = [f"{LLVM_LEAF[k]} %a{i}" for i, k in enumerate(kinds)]
    body = []
    for i, kind in enumerate(kinds):
        body.append(f"%s{i} = getelementptr i64, ptr %out, i64 {i}")
        if kind == "bool":
            body.append(f"%z{i} = zext i1 %a{i} to i64\nstore i64 %z{i}, ptr %s{i}")
        else:
            body.append(f"store {LLVM_LEAF[kind]} %a{i}, ptr %s{i}")
    return ", ".join([*params, "ptr %out"]), "\n".join([*body, "ret i32 0"])


def ruled(value):
    """`abi_type(value)`, or None where it refuses the value."""
    try:
        return abi_type(value)
    except NotNative:
        return None


def check_round_trip(v, w) -> None:
    """An entry for the type `abi_type` gives `v` takes `v` and gives it back, and takes `w`
    exactly when `abi_type` gives `w` that type too (else `w` goes to the fallback)."""
    typ = ruled(v)
    if typ is None:
        return
    f, fallback = shared_entry((typ,), typ, echo(typ))
    assert same(f(v), v) and fallback.calls == []
    if ruled(w) == typ:
        assert same(f(w), w) and fallback.calls == []
    else:
        assert f(w) == "fallback"
        fallback.calls.clear()
