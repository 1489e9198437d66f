"""Which array operations of an instance run in one loop, and which shapes are equal.

`Plan(spec, inst)` looks at the graph of `inst` with its types:

- An *elementwise* node is an application of an elementwise primitive
  (`primtypes.ELEMENTWISE`, and AD's `gadd`, `zeros_like`, `unreduce` over all
  axes, `sens_like` where no broadcasting can have happened) whose result is
  an array. `element(node)` names its element code.
- An elementwise node is *fused* when every use reads its elements in a loop
  of the same graph (an elementwise node taking it as an operand, or a
  reduction over all axes, `np.sum(x * y)`) or reads its shape only
  (`zeros_like(x)`, `x.shape`, the `like` of AD's `unreduce`/`sens_like`):
  it gets no array of its own; each loop that reads it computes its elements
  (`arrays.Expr`), and its shape comes from its operands'. A node read by two
  loops is fused only when it is cheap (`CHEAP`: arithmetic, comparisons,
  broadcasts of a scalar), since both compute it; an `exp` read twice is
  stored once.
- *Shape classes* prove shapes equal without running: the class of an
  elementwise result is the union of its operands' (broadcasting is
  associative, commutative and idempotent, so equal unions mean equal
  shapes once the broadcasts succeeded); anything else is its own class.
  `sens_like(d, like)` with equal classes is the identity, which is what
  makes a gradient's chain of elementwise backpropagators one loop.
- An *accumulation* is `a + p` (`add` or AD's `gadd`) of float matrices where
  `p` is a matrix product (`matmul`, `matmul_dx`, `matmul_dy` of matrices)
  read by nothing else and `a` is not one of its operands: the product is
  *deferred* to the sum, which, where `a` is a block the frame owns alone and
  reads for the last time, has BLAS add the product into `a`'s memory
  (`productprims.accumulate`). That is how a gradient sums a weight's
  sensitivities over the steps of a loop, and how `x @ w + h @ u` is computed,
  with no array for the product and no pass to add it.
- A closure that reads an array of the graph that makes it for its shape
  only (`SHAPE_USES`: a backpropagator's `sens_like(d, x)` needs `x`'s shape)
  captures a view without data or reference (`shape_captured`). Such a read
  does not keep the array alive, and does not stop it being fused or
  deferred: a loop's J keeps only what its backpropagator computes with.
"""

from __future__ import annotations

from tapeless.backend.cpu.primtypes import ELEMENTWISE
from tapeless.backend.cpu.specialize import Instance, Specialization
from tapeless.ir.nodes import Apply, Constant, Node
from tapeless.ir.primitives import Primitive
from tapeless.ir.types import ArrayType

#: Matrix products an accumulation can take in, and the input positions of their operands.
PRODUCTS = {"matmul": (1, 2), "matmul_dx": (1, 2, 3), "matmul_dy": (1, 2, 3)}
#: Full reductions a fused expression can feed: (primitive, axis input position).
REDUCTIONS = {"np_sum": "add", "np_mean": "add", "np_max": "max", "np_min": "min"}
#: (primitive, input position) of the uses that read an operand's shape only.
SHAPE_USES = frozenset(
    {
        ("zeros_like", 1), ("np_zeros_like", 1), ("np_ones_like", 1), ("unreduce", 2),
        ("sens_like", 2), ("shape", 1), ("size", 1), ("ndim", 1),
    }
)  # fmt: skip
#: Element code cheaper to compute again in each loop that reads it than to store.
CHEAP = frozenset(
    {
        "add", "sub", "mul", "neg", "pos", "np_negative", "identity", "unreduce", "zeros_like",
        "np_zeros_like", "np_ones_like", "np_square", "np_abs", "np_maximum", "np_minimum",
        "eq", "ne", "lt", "le", "gt", "ge", "np_where", "sign_of", "positive_part", "integer_pow",
    }
)  # fmt: skip


def primitive_of(node: Node) -> Primitive | None:
    if isinstance(node, Apply):
        f = node.inputs[0]
        if isinstance(f, Constant) and isinstance(f.value, Primitive):
            return f.value
    return None


def shape_captured(node: Node) -> bool:
    """Whether every read of `node` from another graph (a closure's) reads its shape only."""
    for user, index in node.uses:
        if not isinstance(user, Apply):
            return False  # (the output of a graph)
        if user.graph is node.owner:
            continue
        p = primitive_of(user)
        if p is None or (p.name, index) not in SHAPE_USES:
            return False
    return True


def is_none(node: Node) -> bool:
    return isinstance(node, Constant) and node.value is None


class Plan:
    """The fusion plan and shape classes of `inst` (see the module docstring)."""

    def __init__(self, spec: Specialization, inst: Instance) -> None:
        self.spec = spec
        self.inst = inst
        self.schedule = spec.schedule(inst.graph)
        self.classes: dict[Node, frozenset[Node]] = {}
        self.elements: dict[Apply, str] = {}
        for node in self.schedule:
            self._classify(node)
        self.accumulations: dict[Apply, tuple[int, Apply]] = {}
        for node in self.schedule:
            self._accumulation(node)
        self.deferred = {product for _, product in self.accumulations.values()}
        self.fused: set[Apply] = set()
        for node in self.schedule:  # operands first: `_cheap` reads their decisions
            if node in self.elements and self._fusable(node):
                self.fused.add(node)

    def type(self, node: Node) -> object:
        return self.spec.type_of(self.inst, node)

    def shape_class(self, node: Node) -> frozenset[Node]:
        return self.classes.get(node, frozenset((node,)))

    def _classify(self, node: Apply) -> None:
        p = primitive_of(node)
        if p is None or not isinstance(self.type(node), ArrayType):
            return
        name = p.name
        args = node.inputs[1:]
        element: str | None = None
        if name in ELEMENTWISE:
            element = name
        elif name == "gadd":
            element = "add"
        elif name in ("zeros_like", "np_zeros_like", "np_ones_like"):
            element = name
        elif name == "unreduce" and is_none(args[2]):
            element = "unreduce"
        elif name == "sens_like" and isinstance(self.type(args[0]), ArrayType):
            if self.shape_class(args[0]) == self.shape_class(args[1]):
                element = "identity"
        if element is None:
            return
        self.elements[node] = element
        if element in ("zeros_like", "np_zeros_like", "np_ones_like"):
            sources = args[:1]
        elif element in ("unreduce", "identity"):
            sources = args[1:2]
        else:
            sources = args
        cls: frozenset[Node] = frozenset()
        for x in sources:
            if isinstance(self.type(x), ArrayType):
                cls |= self.shape_class(x)
        self.classes[node] = cls or frozenset((node,))

    def _accumulation(self, node: Apply) -> None:
        """Record `node` as an accumulation (the module docstring): {node: (position of the
        accumulator, product)}; it is then no elementwise node."""
        p = primitive_of(node)
        if p is None or p.name not in ("add", "gadd") or not self._matrix(node):
            return
        for at in (2, 1):
            product, other = node.inputs[at], node.inputs[3 - at]
            kind = primitive_of(product)
            if (
                isinstance(product, Apply)
                and kind is not None
                and kind.name in PRODUCTS
                and product.graph is node.graph
                and shape_captured(product)
                and [user for user, _ in product.uses if isinstance(user, Apply) and user.graph is node.graph] == [node]
                and self._matrix(product)
                and all(self._matrix(product.inputs[i]) for i in PRODUCTS[kind.name])
                and self._matrix(other)
                and other not in product.inputs
            ):
                self.accumulations[node] = (3 - at, product)
                self.elements.pop(node, None)
                return

    def _matrix(self, node: Node) -> bool:
        t = self.type(node)
        return isinstance(t, ArrayType) and t.dtype == "f64" and t.ndim == 2

    def value_operands(self, node: Apply) -> list[int]:
        """The input positions of elementwise `node` whose elements it reads."""
        name = self.elements[node]
        if name in ("zeros_like", "np_zeros_like", "np_ones_like"):
            return []
        if name in ("unreduce", "identity"):
            return [1]
        return list(range(1, len(node.inputs)))

    def _fusable(self, node: Apply) -> bool:
        """Whether `node` gets no array: every use reads its elements in a loop of
        this graph (at most one, unless it is cheap to compute again) or its shape."""
        reads = 0
        for user, index in node.uses:
            if not isinstance(user, Apply):
                return False
            p = primitive_of(user)
            if p is not None and (p.name, index) in SHAPE_USES:
                continue  # (here, or captured for its shape by a closure)
            if user.graph is not node.graph:
                return False
            if not self._reads_elements(user, index):
                return False
            reads += 1
        return reads <= 1 or self._cheap(node)

    def _reads_elements(self, user: Apply, index: int) -> bool:
        """Whether `user` reads input `index` element by element in its loop."""
        if user in self.elements:
            return index in self.value_operands(user)
        p = primitive_of(user)
        return p is not None and p.name in REDUCTIONS and index == 1 and is_none(user.inputs[2])

    def _cheap(self, node: Apply) -> bool:
        """Whether computing `node`'s elements again in each loop costs less than storing
        them: cheap element code whose fused operands are cheap too."""
        if self.elements[node] not in CHEAP:
            return False
        operands = (node.inputs[i] for i in self.value_operands(node))
        return all(x not in self.fused or self._cheap(x) for x in operands if isinstance(x, Apply))


__all__ = ["PRODUCTS", "REDUCTIONS", "Plan", "is_none", "primitive_of", "shape_captured"]
