"""The references to arrays a block of native code owns, and where it drops each.

`Frame(f, blk, body, tail)` is made by `lower.FunctionLowering` for each
instance it lowers as a block; see the class for the convention.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tapeless.backend.cpu.arrays import holds_array
from tapeless.backend.cpu.fusion import primitive_of
from tapeless.backend.cpu.primtypes import constant_index
from tapeless.ir.nodes import Apply, Constant, Graph, Node
from tapeless.ir.types import TupleType

if TYPE_CHECKING:
    from tapeless.backend.cpu.lower import FunctionLowering, _Block


class Frame:
    """The references to arrays a block owns, and where each is dropped.

    Convention: a callee owns its arguments, every application's result is a
    new reference, free variables and constants are borrowed (their
    environment or the program keeps them). A value is dropped right after
    the last node that reads it (a fused or deferred node reads at the node
    that computes it), one no node reads right after it is made; what the
    block's tail reads is released by `release`, after the tail's arguments
    took their own references. So a loop carrying an array frees the previous
    iteration's before it jumps, and intermediates live only as long as they
    are read.

    A tuple whose every read is a `getitem` with a constant index, each index
    once, is *split*: each `getitem` moves its element's references out of
    the tuple instead of taking new ones, and the elements no `getitem` reads
    are dropped when the tuple is made. So an array a call returns in a tuple
    has one reference, which an accumulation can then find unshared.
    """

    END = 1 << 30

    def __init__(self, f: FunctionLowering, blk: _Block, body: list[Apply], tail: list[Node]) -> None:
        self.f = f
        self.blk = blk
        plan = blk.plan
        assert plan is not None
        self.position = {node: i for i, node in enumerate(body)}
        self.last: dict[Node, int] = {}

        def at(node: Apply) -> int:
            """Where `node` is computed: a fused node in each node that reads it (-1: none;
            closures read it for its shape only)."""
            if node not in plan.fused and node not in plan.deferred:
                return self.position.get(node, self.END)  # (the tail's node)
            users = [user for user, _ in node.uses if isinstance(user, Apply) and user.graph is node.graph]
            return max(map(at, users), default=-1)

        for node in body:
            for x in self.reads(node):
                self.last[x] = max(self.last.get(x, -1), at(node))
        for end in tail:
            for x in [end, *self.reads(end)] if isinstance(end, Apply) else [end, *self.captured(end)]:
                self.last[x] = self.END
        self.owned: list[Node] = []
        self.mine: set[Node] = set()
        self.split: set[Node] = set()
        self.drops: dict[int, list[Node]] = {}

    def reads(self, node: Apply) -> list[Node]:
        out: list[Node] = []
        for x in node.inputs:
            out.append(x)
            out.extend(self.captured(x))
        return out

    def captured(self, x: Node) -> list[Node]:
        """What the closure `x` (a graph constant) keeps: its free variables, but for
        arrays it reads the shape of only (`fusion.shape_captured`)."""
        if isinstance(x, Constant) and isinstance(x.value, Graph):
            return [v for v in self.f.spec.free_variables(x.value) if not self.f.shape_only(self.blk, v)]
        return []

    def own(self, node: Node, made_at: int) -> None:
        """`node`'s value is a reference this block owns (dropped now if nothing reads it)."""
        t = self.f.type(self.blk, node)
        if not holds_array(t):
            return
        self.mine.add(node)
        last = self.last.get(node, made_at)
        if last == self.END:
            self.owned.append(node)
        elif (read := self.split_reads(node)) is not None:
            assert isinstance(t, TupleType)
            self.split.add(node)
            value = self.f.value(self.blk, node)
            for i, e in enumerate(t.elements):
                if i not in read:
                    self.f.arrays.decref(self.f.b.extract_value(value, i), e)
        elif last <= made_at:
            self.drop(node)
        else:
            self.drops.setdefault(last, []).append(node)

    def split_reads(self, node: Node) -> set[int] | None:
        """The indices the `getitem`s of `node` read, if it is a tuple they split (see the
        class docstring), else None."""
        t = self.f.type(self.blk, node)
        if not isinstance(t, TupleType):
            return None
        read: set[int] = set()
        for user, index in node.uses:
            if not isinstance(user, Apply):
                return None
            p = primitive_of(user)
            if p is None or p.name != "getitem" or index != 1:
                return None
            if user not in self.position or not isinstance(user.inputs[2], Constant):
                return None
            i = constant_index(user) % len(t.elements)
            if i in read:
                return None
            read.add(i)
        return read

    def moves(self, node: Apply) -> bool:
        """Whether `getitem` `node` moves its element out of a split tuple."""
        return node.inputs[1] in self.split

    def dies_at(self, x: Node, node: Apply) -> bool:
        """Whether the block owns `x` and `node` is the last to read it."""
        return x in self.mine and self.last.get(x) == self.position.get(node, -1) != self.END

    def after(self, i: int) -> None:
        for node in self.drops.pop(i, []):
            self.drop(node)

    def drop(self, node: Node) -> None:
        self.f.arrays.decref(self.f.value(self.blk, node), self.f.type(self.blk, node))

    def release(self) -> None:
        """Drop what the tail read (emitted on each path out of the block)."""
        for node in self.owned:
            self.drop(node)


__all__ = ["Frame"]
