"""All primitive declarations; importing this package registers every one.

One module per family: `scalar` (operators, scalar builtins), `control`
(switch, truth), `structure` (tuples, slices, indexing), `math` (the `math`
module), `array` (NumPy ufuncs, reductions, linear algebra, shapes), `ad`
(zeros, gradient addition, environments, broadcasting adjoints).
"""

from tapeless.ir.prims import ad, array, control, math, scalar, structure  # noqa: F401
