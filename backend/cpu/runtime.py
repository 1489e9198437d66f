"""What compiled code shares at run time: the error table, the arena and the stack guard.

- **Errors.** Native functions return an `i32` status: 0 is success, `k >= 1`
  means "raise `ERRORS[k - 1]`" (an exception class and its message, the
  ones CPython gives), and `DEEP` means the stack budget ran out. `error_code`
  gives each (class, message) pair one code for the whole process.
- **Arena.** Closure environments that outlive their frame (a loop's
  backpropagators) are bump-allocated in chunks from `malloc`; the outermost
  compiled call frees every chunk it added when it returns, and drops the
  arrays the environments captured (a list of their blocks, `ARENA_KEEP`). The arena's
  state lives in `STATE`, a block of memory whose address compiled code
  embeds as a constant.
- **Stack guard.** Functions that recurse other than by tail calls compare
  their frame address with `STATE[STACK_LIMIT]` and return `DEEP` below it.
  The entry then hands the call to its dispatcher, which runs it again on a
  thread with a large stack (`run_deep`), so a backpropagator chain of 10^7
  links runs; beyond that stack too, a `RecursionError`.
"""

from __future__ import annotations

import ctypes
import queue
import threading
from collections.abc import Callable
from typing import Any

from tapeless.errors import Location, TapelessShapeError
from tapeless.ir.nodes import Apply

#: Slots of `STATE` (int64 each).
STACK_LIMIT, ARENA_PTR, ARENA_END, ARENA_CHUNKS, STACK_BUDGET, ARENA_KEEP = range(6)
STATE = (ctypes.c_int64 * 8)()
STATE_ADDRESS = ctypes.addressof(STATE)

#: The stack a call may use on the caller's thread before it is retried on a big one.
MAIN_BUDGET = 1 << 20
#: The big thread's stack, and what a call may use of it (virtual memory: pages are
#: committed only as the recursion reaches them).
DEEP_STACK = 8 << 30
DEEP_BUDGET = DEEP_STACK - (1 << 20)
STATE[STACK_BUDGET] = MAIN_BUDGET


#: (exception class, message) per status code - 1; status 1 (`DEEP`) is "retry on a big stack",
#: and raises this RecursionError only if an entry has no retry.
ERRORS: list[tuple[type[BaseException], str]] = [
    (RecursionError, "maximum recursion depth exceeded in native code")
]
DEEP = 1
_CODES: dict[tuple[type[BaseException], str], int] = {ERRORS[0]: DEEP}
_LOCK = threading.Lock()


def error_code(exc: type[BaseException], message: str) -> int:
    """The status code that makes the entry raise `exc(message)`."""
    with _LOCK:
        code = _CODES.get((exc, message))
        if code is None:
            ERRORS.append((exc, message))
            code = _CODES[(exc, message)] = len(ERRORS)
        return code


def python_error(fn: Callable[..., Any], *args: Any) -> tuple[type[BaseException], str]:
    """The exception CPython raises for `fn(*args)` (which must raise): its class and message."""
    try:
        fn(*args)
    except Exception as e:  # the very exception to mirror
        return type(e), str(e)
    raise AssertionError(f"{fn!r}{args!r} did not raise")


#: Room for the two shapes of a shape error: [rank, dims...] each, written by native code
#: just before it returns the error's status.
MAX_DIMS = 32
SHAPES = (ctypes.c_int64 * (2 * (MAX_DIMS + 1)))()
SHAPES_ADDRESS = ctypes.addressof(SHAPES)
_SITES: dict[str, tuple[Location | None, str, str]] = {}


def _shape(base: int) -> tuple[int, ...]:
    return tuple(SHAPES[base + 1 + k] for k in range(SHAPES[base]))


class NativeShapeError(TapelessShapeError):
    """The shape error of a native site: made by the entry from the site's key (the
    status's message) and the two shapes native code left in `SHAPES`."""

    def __init__(self, key: str) -> None:
        loc, what, text = _SITES[key]
        a, b = _shape(0), _shape(MAX_DIMS + 1)
        if what == "matmul":
            message = f"operands of {text} have shapes {a} and {b}, whose inner dimensions differ"
            hint = "x @ y needs x.shape[-1] == y.shape[-2] (or y.shape[0] for a vector y)"
        else:
            message = f"operands of {text} have shapes {a} and {b}, which do not broadcast"
            hint = "each axis, aligned from the right, must be equal or 1 in one of them"
        super().__init__(message, loc, construct=what, hint=hint)


def shape_error_code(node: Apply | None, what: str) -> int:
    """The status code of a shape error (`what`: "broadcast" or "matmul") at `node`."""
    loc = node.loc if node is not None else None
    text = _source_text(loc) if loc is not None else ""
    text = f"`{text}`" if text else "an array operation"
    key = f"{what}|{loc}|{text}"
    with _LOCK:
        _SITES[key] = (loc, what, text)
    return error_code(NativeShapeError, key)


def _source_text(loc: Location) -> str:
    line = loc.source_line()
    if not line or loc.end_line != loc.line or loc.end_col is None:
        return ""
    return line[loc.col : loc.end_col]


_DEEP_THREAD = "tapeless-deep-stack"


def on_deep_stack() -> bool:
    """Whether this is the big-stack thread of `run_deep` (whose budget is the last one)."""
    return threading.current_thread().name == _DEEP_THREAD


class _DeepWorker:
    """One thread with a `DEEP_STACK`-byte stack that runs calls handed to it, kept
    for the life of the process: its stack pages, once touched, stay mapped, so a
    second deep call does not fault them in again."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], dict[str, Any], threading.Event]]
        self._calls = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, call: Callable[[], Any]) -> Any:
        box: dict[str, Any] = {}
        done = threading.Event()
        with _LOCK:
            if self._thread is None:
                self._thread = self._start()
            self._calls.put((call, box, done))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _start(self) -> threading.Thread:
        old = threading.stack_size(DEEP_STACK)
        try:
            thread = threading.Thread(target=self._serve, name=_DEEP_THREAD, daemon=True)
            thread.start()
        finally:
            threading.stack_size(old)
        return thread

    def _serve(self) -> None:
        while True:
            call, box, done = self._calls.get()
            STATE[STACK_BUDGET] = DEEP_BUDGET
            try:
                box["value"] = call()
            except BaseException as e:  # handed back to the caller's thread
                box["error"] = e
            finally:
                STATE[STACK_BUDGET] = MAIN_BUDGET
                done.set()


_WORKER = _DeepWorker()


def run_deep(call: Callable[[], Any]) -> Any:
    """`call()` on the big-stack thread (`DEEP_STACK` bytes), with that budget."""
    return _WORKER.run(call)


__all__ = [
    "ARENA_CHUNKS",
    "ARENA_END",
    "ARENA_KEEP",
    "ARENA_PTR",
    "DEEP",
    "ERRORS",
    "SHAPES_ADDRESS",
    "STACK_BUDGET",
    "STACK_LIMIT",
    "STATE",
    "STATE_ADDRESS",
    "NativeShapeError",
    "error_code",
    "on_deep_stack",
    "python_error",
    "run_deep",
    "shape_error_code",
]  # fmt: skip
