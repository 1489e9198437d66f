"""Helpers shared by the backend tests."""

from __future__ import annotations

import numpy as np


def same(a: object, b: object) -> bool:
    """Equal with the same type, recursively; floats compared bit for bit.

    ``float.hex`` tells 0.0 from -0.0 and writes every NaN as ``nan``, so NaN
    equals NaN; arrays must agree in dtype, shape and elements.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, float):
        return a.hex() == b.hex()  # type: ignore[attr-defined]
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)  # type: ignore[union-attr]
    return a == b
