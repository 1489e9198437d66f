"""Test-suite wide set-up: hypothesis profiles and the import path for helpers.

Profiles (pick one with ``HYPOTHESIS_PROFILE=<name>``; the default is ``ci``
when the ``CI`` environment variable is set, ``dev`` otherwise):

- ``ci``: derandomized (the same examples on every run and machine), no
  database, modest example counts so the whole suite stays fast on 2 cores.
- ``dev``: random, a few more examples, the local example database on so that
  a failure found once is replayed first next time.
- ``thorough``: many examples, for a long soak run before a release.

``tests/`` and each folder directly under it (``tests/frontend/`` with
``corpus_support.py`` and ``bad_programs.py``, ``tests/ad/`` with
``programs.py``, ...) are put on ``sys.path`` here, so tests import shared
helper modules by plain module name whatever pytest's import mode; helper
module names must therefore be unique across those folders. There are no ``__init__.py`` files under ``tests/``; never
import a test folder as a package (``frontend``, ``ir`` ... are the library's
own package names).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

TESTS = Path(__file__).resolve().parent

for _path in (
    TESTS,
    *sorted(p for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))),
):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

settings.register_profile("ci", derandomize=True, database=None, max_examples=25, **_COMMON)
settings.register_profile("dev", max_examples=40, **_COMMON)
settings.register_profile("thorough", max_examples=500, **_COMMON)

settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(autouse=True)
def _reference_backend_by_default(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests of the language, AD and the optimizer run `compile`/`grad` on the reference
    interpreter (the oracle CPython checks); modules that test native code say
    ``pytestmark = pytest.mark.native`` and get the default backend, "cpu". Native code
    is checked against the interpreter in tests/backend/test_cpu_backend.py."""
    if request.node.get_closest_marker("native") is not None:
        yield
        return
    import tapeless.api

    saved = tapeless.api.DEFAULT_BACKEND
    tapeless.api.DEFAULT_BACKEND = "interp"
    try:
        yield
    finally:
        tapeless.api.DEFAULT_BACKEND = saved


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "native: run compile/grad on the default backend (cpu)")
