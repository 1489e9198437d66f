"""SSA construction on graphs, after Braun et al. (CC 2013).

Each basic block is a `Graph`; its phis are the graph's parameters and a jump
to a block is a tail call that passes the phi operands as arguments. A block
with a single predecessor reads variables straight from it (the block becomes
a closure over the predecessor, which is why nesting follows dominance); a
block with several predecessors gets a phi parameter, and trivial phis (all
operands equal) are removed as in the paper, so unchanged variables never
become loop-carried parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tapeless.errors import Location
from tapeless.ir.nodes import Apply, Constant, Graph, Node, Parameter, constant_graph, replace


@dataclass(eq=False)
class Block:
    """A basic block under construction.

    `jumps` are the tail calls of the predecessors into this block; argument
    `i` of each is the operand of phi `i` for that predecessor.
    """

    graph: Graph
    sealed: bool = True
    preds: list[Block] = field(default_factory=list)
    jumps: list[Apply] = field(default_factory=list)
    defs: dict[str, Node] = field(default_factory=dict)
    phis: dict[Parameter, str] = field(default_factory=dict)
    incomplete: list[Parameter] = field(default_factory=list)


class SSABuilder:
    """Variable reads and writes over blocks; `undefined(name)` gives the
    value of a variable read on a path where it was never assigned."""

    def __init__(self, undefined: Callable[[str], Node]) -> None:
        self.undefined = undefined
        self.forward: dict[Parameter, Node] = {}  # removed phi -> its value
        self.block_of_jump: dict[Apply, Block] = {}
        self.block_of_graph: dict[Graph, Block] = {}

    def new_block(self, graph: Graph, *, sealed: bool = True, pred: Block | None = None) -> Block:
        block = Block(graph, sealed=sealed, preds=[pred] if pred is not None else [])
        self.block_of_graph[graph] = block
        return block

    # -- variables ----------------------------------------------------------
    def write(self, block: Block, name: str, value: Node) -> None:
        block.defs[name] = value

    def read(self, block: Block, name: str) -> Node:
        node = block.defs.get(name)
        if node is not None:
            return self.resolve(node)
        if not block.sealed:
            phi = block.graph.add_parameter(name)
            block.phis[phi] = name
            block.incomplete.append(phi)
            value: Node = phi
        elif len(block.preds) == 1:
            value = self.read(block.preds[0], name)
        elif not block.preds:
            value = self.undefined(name)
        else:
            phi = block.graph.add_parameter(name)
            block.phis[phi] = name
            block.defs[name] = phi  # breaks cycles through loops
            for jump in block.jumps:
                self._append_operand(jump, name)
            value = self._try_remove_trivial(block, phi)
        block.defs[name] = value
        return value

    def resolve(self, node: Node) -> Node:
        """`node`, or the value that replaced it if it is a phi since removed."""
        while isinstance(node, Parameter) and node in self.forward:
            node = self.forward[node]
        return node

    def _append_operand(self, jump: Apply, name: str) -> None:
        pred = self.block_of_jump[jump]
        jump.set_inputs([*jump.inputs, self.read(pred, name)])

    # -- edges --------------------------------------------------------------
    def jump(self, frm: Block, to: Block, loc: Location | None = None) -> Apply:
        """End `frm` with a tail call to `to`, passing the current phi operands."""
        args = [self.read(frm, to.phis[p]) for p in to.graph.parameters]
        call = frm.graph.apply(Constant(to.graph), *args, loc=loc)
        frm.graph.output = call
        to.preds.append(frm)
        to.jumps.append(call)
        self.block_of_jump[call] = frm
        return call

    def seal(self, block: Block) -> None:
        """All predecessors of `block` are known: complete its pending phis."""
        pending = list(block.incomplete)
        block.incomplete.clear()
        block.sealed = True
        for phi in pending:
            index = block.graph.parameters.index(phi) + 1
            for jump in block.jumps:
                if len(jump.inputs) <= index:
                    self._append_operand(jump, block.phis[phi])
        for phi in pending:
            self._try_remove_trivial(block, phi)

    # -- trivial phis -------------------------------------------------------
    def _try_remove_trivial(self, block: Block, phi: Parameter) -> Node:
        if phi not in block.phis:
            return self.resolve(phi)
        if not block.sealed:
            return phi
        if not block.jumps:
            # A block nobody jumps to is unreachable: its phis are unbound.
            same: Node | None = self.undefined(block.phis[phi])
        else:
            index = block.graph.parameters.index(phi) + 1
            same = None
            for jump in block.jumps:
                op = self.resolve(jump.inputs[index])
                if op is phi or op is same:
                    continue
                if same is not None:
                    return phi  # two distinct operands: a real phi
                same = op
            if same is None:
                same = self.undefined(block.phis[phi])
        assert same is not None
        users = [u for u, _ in phi.uses if isinstance(u, Apply) and u in self.block_of_jump]
        self._remove_phi(block, phi, same)
        # Phis that used this one may have become trivial.
        for user in users:
            target = self._jump_target(user)
            if target is None or not target.sealed:
                continue
            for other in list(target.phis):
                self._try_remove_trivial(target, other)
        return same

    def _remove_phi(self, block: Block, phi: Parameter, value: Node) -> None:
        index = block.graph.parameters.index(phi)
        for jump in block.jumps:
            inputs = list(jump.inputs)
            del inputs[index + 1]
            jump.set_inputs(inputs)
        replace(phi, value)
        block.graph.remove_parameter(phi)
        del block.phis[phi]
        self.forward[phi] = value
        for k, v in list(block.defs.items()):
            if v is phi:
                block.defs[k] = value

    def _jump_target(self, jump: Apply) -> Block | None:
        target = constant_graph(jump.fn)
        return self.block_of_graph.get(target) if target is not None else None
