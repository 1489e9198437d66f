"""All primitive declarations; importing this package registers every one.

One module per family: `scalar` (operators, scalar builtins), `control`
(switch, truth), `structure` (tuples, slices, indexing), `math` (the `math`
module), `array` (NumPy ufuncs, `np.where`, `np.clip`), `reductions` (`np.sum`,
`np.prod`, `np.mean`, `np.max`, `np.min`), `linalg` (`@`, `np.dot`,
`np.outer`), `shapes` (transpose, reshape, shape queries, constructors), `ad`
(zeros, gradient addition, environments, broadcasting adjoints).
"""

from tapeless.ir.prims import (  # noqa: F401
    ad,
    array,
    control,
    linalg,
    math,
    reductions,
    scalar,
    shapes,
    structure,
)
