"""Tuple simplification across calls: a graph returns only the elements its callers read.

Expects: a program that `verify` accepts. Works on *tuple families*: sets of
call groups (`knowncalls`: also the bprop closures a J graph returns, called
later) whose members all return a tuple of the same
length n, each either built in the member (``make_tuple(...)`` or a tuple
constant) or got from a tail call to a group of the family (the member's
output is that call site); the family is closed under tail calls both ways.
A call site of the family is *read at* S when all its users that matter are
``getitem(site, i)`` with i a constant int (i in S) or, for a tail call, the
output of a member. For a site inside the family's graphs (a recursive call)
the users that matter are those the members need once they return only S.

Guarantees: the same results (demand semantics, `liveness`: elements no
caller reads are no longer computed, nor their errors raised), where

- a family whose call sites outside it are all read at some sets, whose
  union S, with what its own recursive calls then read, leaves elements out,
  returns only the elements of S (the element itself when S has one), and
  every getitem of its sites is renumbered (or is the site itself);
- otherwise (a site outside reads the whole tuple, or the union leaves
  nothing out), the family is copied (whole, its recursive calls calling the
  copy) for each set read outside that alone would leave elements out (at
  most `MAX_COPIES` a round); the sites that read it call the copy, which
  the next round narrows as above. Each copy returns a shorter tuple than
  its original, so the pipeline's fixed point ends.

A recursive function whose callers read one element of the pair it returns
(a value-and-derivative pair) then computes that element only, which `dce`
and `params` finish. Returns whether it changed anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tapeless.ir.analysis import Analysis, analyze
from tapeless.ir.nodes import Apply, Constant, Graph, Node, constant_graph, replace
from tapeless.ir.prims.structure import make_tuple
from tapeless.opt.algebra import prim_of
from tapeless.opt.callsites import CallGroup, redirect, switch_branches
from tapeless.opt.dce import dce
from tapeless.opt.knowncalls import known_groups
from tapeless.opt.program import copy_graphs

#: At most this many copies of one family per round.
MAX_COPIES = 4

Reads = frozenset[int] | None  # the elements a site's users read; None: the whole tuple escapes


@dataclass
class Family:
    """Call groups whose members return tuples of `length` elements (see the module
    docstring), and `graphs`: the members with the graphs nested in them."""

    groups: list[CallGroup]
    length: int
    graphs: list[Graph] = field(default_factory=list)
    inside: set[Graph] = field(default_factory=set)

    @property
    def members(self) -> list[Graph]:
        return [h for group in self.groups for h in group.members]

    @property
    def sites(self) -> list[Apply]:
        return [site for group in self.groups for site in group.sites]


def tuples(root: Graph) -> bool:
    """Narrow the tuples that graphs return to the elements their callers read."""
    dce(root)  # exact use-lists: a listed user is a live one
    a = analyze(root)
    changed = False
    to_copy: list[tuple[Family, list[list[Apply]]]] = []
    for family in _families(a):
        outside: dict[Reads, list[Apply]] = {}
        for site in family.sites:
            if site.graph not in family.inside:
                outside.setdefault(_reads(site, family, None), []).append(site)
        if not outside:
            continue
        every = None if None in outside else frozenset().union(*(r for r in outside if r is not None))
        keep = _narrower(family, every)
        if keep is not None:
            _narrow(family, sorted(keep))
            changed = True
            continue
        narrower = [
            reads
            for reads in outside
            if _narrower(family, reads) is not None and all(map(_redirectable, outside[reads]))
        ]
        if narrower:
            to_copy.append((family, [outside[reads] for reads in narrower][:MAX_COPIES]))
    # copies last: a copy of a family's graphs adds call sites the analysis does not list
    for family, classes in to_copy:
        for sites in classes:
            copies = copy_graphs(family.graphs)
            for site in sites:
                redirect(site, copies)
    return changed or bool(to_copy)


def _redirectable(site: Apply) -> bool:
    """Whether `redirect` can make `site` alone call copies: it names the graph or
    a switch of graphs that no other site shares (a closure call does not)."""
    fn = site.inputs[0]
    return constant_graph(fn) is not None or (switch_branches(fn) is not None and len(fn.uses) == 1)


def _families(a: Analysis) -> list[Family]:
    """The tuple families of the program (union-find over tail calls)."""
    groups = known_groups(a)
    group_of_site = {site: gi for gi, group in enumerate(groups) for site in group.sites}
    parent = list(range(len(groups)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    lengths: dict[int, int | None] = {}  # of the tuples each group's members build
    for gi, group in enumerate(groups):
        for h in group.members:
            output = h.output
            callee = group_of_site.get(output) if isinstance(output, Apply) and output.graph is h else None
            if callee is not None:
                parent[find(callee)] = find(gi)
            else:
                n = _tuple_length(h, output)
                lengths[gi] = n if lengths.get(gi, n) == n else None
    by_root: dict[int, list[int]] = {}
    for gi in range(len(groups)):
        by_root.setdefault(find(gi), []).append(gi)
    families: list[Family] = []
    for members in by_root.values():
        built = {lengths[gi] for gi in members if gi in lengths}  # (the others only tail-call)
        n = built.pop() if len(built) == 1 else None
        if n is not None and n >= 2:
            family = Family([groups[gi] for gi in members], n)
            family.graphs = list(dict.fromkeys(g for h in family.members for g in a.scope(h)))
            family.inside = set(family.graphs)
            families.append(family)
    return families


def _tuple_length(h: Graph, out: Node) -> int | None:
    """The length of the tuple `h` builds as its output `out` (None if it builds none)."""
    if isinstance(out, Constant) and isinstance(out.value, tuple):
        return len(out.value)
    if prim_of(out) == "make_tuple" and isinstance(out, Apply) and out.graph is h:
        return len(out.args)
    return None


def _narrower(family: Family, reads: Reads) -> frozenset[int] | None:
    """The elements to keep for outside sites that read `reads`, if that leaves some out."""
    keep = _needed(family, reads) if reads is not None else None
    return keep if keep is not None and len(keep) < family.length else None


def _reads(site: Apply, family: Family, live: set[Node] | None) -> Reads:
    """The elements the users of `site` read (only users in `live`, if given)."""
    out: set[int] = set()
    members = set(family.members)
    for user, _ in site.uses:
        if isinstance(user, Graph):
            if user not in members:
                return None  # returned by a graph outside the family
            continue  # a tail call: the member returns what the site does
        if live is not None and user not in live:
            continue
        index = _getitem_index(user, site, family.length)
        if index is None:
            return None
        out.add(index)
    return frozenset(out)


def _getitem_index(user: Apply, site: Apply, n: int) -> int | None:
    """i (from 0) when `user` is ``getitem(site, i)`` with a constant int i in range."""
    if prim_of(user) != "getitem" or user.inputs[1] is not site:
        return None
    i = user.inputs[2]
    if not isinstance(i, Constant) or type(i.value) is not int or not -n <= i.value < n:
        return None
    return i.value % n


def _needed(family: Family, reads: frozenset[int]) -> frozenset[int] | None:
    """The elements to keep so that the outside sites get `reads`: `reads` and what
    the family's own calls read once the members return only those (None: all)."""
    keep = reads
    while True:
        live = _live(family, keep)
        more: set[int] = set(keep)
        for site in family.sites:
            if site.graph in family.inside and site in live:
                site_reads = _reads(site, family, live)
                if site_reads is None:
                    return None
                more |= site_reads
        if more == keep:
            return keep
        keep = frozenset(more)


def _live(family: Family, keep: frozenset[int]) -> set[Node]:
    """The nodes of the family's graphs that members returning only `keep` read."""
    stack: list[Node] = []
    for h in family.members:
        out = h.output
        if _tuple_length(h, out) is not None and isinstance(out, Apply):
            stack.extend(out.args[i] for i in keep)
        elif isinstance(out, Apply):
            stack.append(out)  # a tail call
    live: set[Node] = set()
    walked = set(family.members)  # (their outputs are the roots above)
    while stack:
        node = stack.pop()
        if node in live:
            continue
        live.add(node)
        if isinstance(node, Apply) and node.graph in family.inside:
            stack.extend(node.inputs)
        g = constant_graph(node)
        if g is not None and g in family.inside and g not in walked:
            walked.add(g)
            stack.append(g.output)
    return live


def _narrow(family: Family, keep: list[int]) -> None:
    """Make the members return only the elements `keep` and renumber their sites' getitems."""
    live = _live(family, frozenset(keep))
    for h in family.members:
        out = h.output
        if isinstance(out, Constant) and isinstance(out.value, tuple):
            parts = tuple(out.value[i] for i in keep)
            h.output = Constant(parts[0] if len(keep) == 1 else parts, out.loc)
        elif _tuple_length(h, out) is not None and isinstance(out, Apply):
            parts_n = [out.args[i] for i in keep]
            h.output = parts_n[0] if len(keep) == 1 else h.apply(make_tuple, *parts_n, loc=out.loc)
    for site in family.sites:
        if site.graph in family.inside and site not in live:
            continue  # a recursive call the narrowed members no longer make
        for user, _ in list(site.uses):
            if isinstance(user, Graph) or (site.graph in family.inside and user not in live):
                continue
            index = _getitem_index(user, site, family.length)
            assert index is not None
            if len(keep) == 1:
                replace(user, site)
                user.detach()
            else:
                user.set_input(2, Constant(keep.index(index), user.inputs[2].loc))


__all__ = ["MAX_COPIES", "tuples"]
