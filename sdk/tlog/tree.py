"""Appending to an RFC 9162 log and building its proofs from stored subtree hashes.

A log of ``n`` leaves is kept as its **frontier** (a compact range): the roots of the perfect
subtrees that cover ``[0, n)``, one per set bit of ``n``, largest first. Appending touches only
the frontier, so it costs O(log n) per leaf, and each append reports the nodes that just became
complete so that storage can persist them.

Storage persists exactly the complete perfect subtrees: node ``(level, index)`` covers leaves
``[index * 2**level, (index + 1) * 2**level)`` and exists once the tree has at least
``(index + 1) * 2**level`` leaves; level 0 holds the leaf hashes. Those nodes never change, so a
store can write them once and cache them forever.

Proofs follow transparency-dev/merkle ``proof.Inclusion``/``proof.Consistency``: first compute
*which* stored nodes a proof needs (:func:`inclusion_nodes`, :func:`consistency_nodes`), fetch
them in one read, then :meth:`ProofNodes.rehash` them into the proof, hashing together the few
stored nodes that stand for the one "ephemeral" node on the right border that is not complete
yet. Both steps are O(log n). The split keeps this module free of I/O: an async store awaits its
own read between the two steps, a sync one implements :class:`NodeReader` and uses
:func:`inclusion_proof`/:func:`consistency_proof` directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from creditlink.sdk.tlog.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE

__all__ = [
    "Frontier",
    "MemoryNodeStore",
    "NodeId",
    "NodeReader",
    "NodeRun",
    "ProofNodes",
    "consistency_nodes",
    "consistency_proof",
    "inclusion_nodes",
    "inclusion_proof",
    "root_at",
]

_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

#: ``(level, index)`` of a complete perfect subtree.
NodeId = tuple[int, int]


class NodeRun(NamedTuple):
    """Consecutive new nodes of one level: ``(level, start + k)`` has hash ``hashes[32k:32k+32]``.

    A batch append completes a contiguous index range on every level, so it reports one run per
    level instead of one Python object per node; a store can write a run as one blob or slice it.
    """

    level: int
    start: int
    hashes: bytes

    @property
    def node_count(self) -> int:
        """Number of nodes in the run."""
        return len(self.hashes) // HASH_SIZE

    def nodes(self) -> Iterator[tuple[int, int, bytes]]:
        """Yield ``(level, index, hash)`` for every node of the run."""
        h = self.hashes
        for k in range(len(h) // HASH_SIZE):
            yield self.level, self.start + k, h[k * HASH_SIZE : (k + 1) * HASH_SIZE]


@dataclass(frozen=True, slots=True, kw_only=True)
class Frontier:
    """The compact range ``[0, size)``: one perfect-subtree root per set bit of ``size``.

    ``hashes`` is ordered left to right, i.e. from the largest subtree to the smallest. The
    frontier is all a log needs to keep in order to append and to compute its root; persist it
    with the log size and rebuild it from storage with :meth:`from_reader` if lost.
    """

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= MAX_TREE_SIZE
        ):
            raise ValueError(f"frontier size {self.size!r} is outside [0, 2**63)")
        if len(self.hashes) != self.size.bit_count():
            raise ValueError(
                f"a frontier of size {self.size} has {self.size.bit_count()} hashes, "
                f"got {len(self.hashes)}"
            )
        for h in self.hashes:
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise ValueError("every frontier hash must be 32 bytes")

    @classmethod
    def from_reader(cls, size: int, reader: NodeReader) -> Frontier:
        """Rebuild the frontier of a stored tree of ``size`` leaves with one read."""
        ids = _range_nodes(0, size)
        hashes = _fetch(reader, ids)
        return cls(size=size, hashes=tuple(hashes))

    def node_ids(self) -> list[NodeId]:
        """Return the ``(level, index)`` of each frontier hash, in the order of ``hashes``."""
        return _range_nodes(0, self.size)

    def root(self) -> bytes:
        """Return the RFC 9162 root of the tree ``[0, size)``."""
        if not self.hashes:
            return EMPTY_ROOT
        # The smaller subtrees sit to the right: fold from the right end.
        root = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            root = _sha256(_NODE_PREFIX + h + root).digest()
        return root

    def append(self, leaf_hash: bytes) -> tuple[Frontier, list[tuple[int, int, bytes]]]:
        """Append one leaf hash; return the new frontier and the nodes that became complete.

        The returned ``(level, index, hash)`` list starts with the leaf itself at level 0 and
        then every interior node the leaf completed, lowest first. For many leaves use
        :meth:`extend`, which does the same work without a Python object per node.
        """
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise ValueError("leaf hash must be 32 bytes")
        if self.size >= MAX_TREE_SIZE:
            raise ValueError("tree is full (2**63 - 1 leaves)")
        hashes = list(self.hashes)
        h, index, level = leaf_hash, self.size, 0
        new = [(0, index, h)]
        # Each trailing 1 bit of the old size is a complete left sibling waiting on the frontier.
        while index & 1:
            h = _sha256(_NODE_PREFIX + hashes.pop() + h).digest()
            index >>= 1
            level += 1
            new.append((level, index, h))
        hashes.append(h)
        return Frontier(size=self.size + 1, hashes=tuple(hashes)), new

    def extend(self, leaf_hashes: Sequence[bytes]) -> tuple[Frontier, list[NodeRun]]:
        """Append many leaf hashes at once; return the new frontier and one run per level.

        Equivalent to calling :meth:`append` for each leaf, but works level by level over
        lists, so the cost is close to one ``hashlib.sha256`` call per leaf. ``runs[0]`` holds
        the leaves themselves; ``runs[L]`` the level-``L`` nodes that became complete (runs
        with no nodes are left out).
        """
        n = len(leaf_hashes)
        s = self.size
        if n == 0:
            return self, []
        if s + n > MAX_TREE_SIZE:
            raise ValueError("appending would grow the tree past 2**63 - 1 leaves")
        cur = list(leaf_hashes)
        for h in cur:
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise ValueError("every leaf hash must be 32 bytes")
        # Old frontier by level: bit L of s set <=> a level-L root waits on the frontier.
        old = dict(zip(_levels_desc(s), self.hashes, strict=True))
        new_frontier: dict[int, bytes] = {}
        runs: list[NodeRun] = []
        level = 0
        while cur:
            start = s >> level
            runs.append(NodeRun(level, start, b"".join(cur)))
            # An odd start index means the run's first node has a complete left sibling on the
            # old frontier: pair it in.
            seq = [old[level], *cur] if start & 1 else cur
            if len(seq) & 1:
                # The last node's right sibling is not complete yet: it joins the frontier.
                new_frontier[level] = seq[-1]
            it = iter(seq)
            cur = [
                _sha256(_NODE_PREFIX + left + right).digest()
                for left, right in zip(it, it, strict=False)
            ]
            level += 1
        # Levels above the last run are untouched: their old frontier hashes stay.
        for lv, h in old.items():
            if lv >= level:
                new_frontier[lv] = h
        size = s + n
        hashes = tuple(new_frontier[lv] for lv in _levels_desc(size))
        return Frontier(size=size, hashes=hashes), runs


# --- storage interface -------------------------------------------------------------------------


@runtime_checkable
class NodeReader(Protocol):
    """Read access to the stored complete-subtree hashes of one log.

    The gateway store implements this over SQL; :class:`MemoryNodeStore` implements it in
    memory. Implementations only read: they never hash.
    """

    def get_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        """Return the 32-byte hash of each ``(level, index)`` in ``ids``, in the same order.

        Every id names a complete perfect subtree of the stored tree; raise if one is missing.
        """
        ...


class MemoryNodeStore:
    """An in-memory :class:`NodeReader` that also accepts the nodes appends produce.

    Complete nodes of a level always form a prefix ``0 .. (size >> level) - 1``, so each level
    is one append-only ``bytearray`` of concatenated hashes: 10 million leaves take about
    640 MB (two hashes per leaf) and no per-node Python objects.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = []

    @property
    def size(self) -> int:
        """Number of stored leaves."""
        return len(self._levels[0]) // HASH_SIZE if self._levels else 0

    def node_count(self, level: int) -> int:
        """Number of stored nodes at ``level``."""
        if level >= len(self._levels):
            return 0
        return len(self._levels[level]) // HASH_SIZE

    def add_runs(self, runs: Iterable[NodeRun]) -> None:
        """Store the runs returned by :meth:`Frontier.extend`."""
        for run in runs:
            self._put(run.level, run.start, bytes(run.hashes))

    def add_nodes(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        """Store ``(level, index, hash)`` nodes as returned by :meth:`Frontier.append`."""
        for level, index, h in nodes:
            if len(h) != HASH_SIZE:
                raise ValueError("node hash must be 32 bytes")
            self._put(level, index, bytes(h))

    def _put(self, level: int, start: int, data: bytes) -> None:
        if level < 0 or start < 0 or len(data) % HASH_SIZE:
            raise ValueError("bad node run")
        while len(self._levels) <= level:
            self._levels.append(bytearray())
        arr = self._levels[level]
        have = len(arr) // HASH_SIZE
        if start > have:
            raise ValueError(f"gap at level {level}: have {have} nodes, got index {start}")
        # Nodes never change once complete: rewriting one with a different hash is a bug.
        overlap = min(have - start, len(data) // HASH_SIZE)
        if (
            overlap
            and arr[start * HASH_SIZE : (start + overlap) * HASH_SIZE]
            != data[: overlap * HASH_SIZE]
        ):
            raise ValueError(f"conflicting hash for an existing node at level {level}")
        arr += data[overlap * HASH_SIZE :]

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the hashes of the given nodes; raise ``KeyError`` for a node not stored."""
        out = []
        levels = self._levels
        for level, index in ids:
            if level >= len(levels) or not 0 <= index < len(levels[level]) // HASH_SIZE:
                raise KeyError((level, index))
            out.append(bytes(levels[level][index * HASH_SIZE : (index + 1) * HASH_SIZE]))
        return out


# --- proofs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProofNodes:
    """Which stored nodes make up a proof, and how to turn their hashes into the proof.

    ``ids`` lists the complete subtrees to fetch. ``ids[begin:end]`` (possibly empty) stand for
    one ephemeral node on the right border: they are ordered from the lowest level up, and
    :meth:`rehash` folds them into that node's hash in place.
    """

    ids: tuple[NodeId, ...]
    begin: int = 0
    end: int = 0

    def rehash(self, hashes: Sequence[bytes]) -> list[bytes]:
        """Turn the fetched hashes (in ``ids`` order) into the proof, lowest level first."""
        if len(hashes) != len(self.ids):
            raise ValueError(f"got {len(hashes)} hashes for {len(self.ids)} node ids")
        for h in hashes:
            if len(h) != HASH_SIZE:
                raise ValueError("store returned a hash that is not 32 bytes")
        out = [bytes(h) for h in hashes[: self.begin]]
        if self.begin < self.end:
            # Each next node is further left and higher up, so it is the left child.
            eph = bytes(hashes[self.begin])
            for h in hashes[self.begin + 1 : self.end]:
                eph = _sha256(_NODE_PREFIX + bytes(h) + eph).digest()
            out.append(eph)
        out.extend(bytes(h) for h in hashes[self.end :])
        return out


def inclusion_nodes(index: int, tree_size: int) -> ProofNodes:
    """Return the nodes that make up the inclusion proof of leaf ``index`` in ``tree_size``.

    Requires ``0 <= index < tree_size < 2**63`` (``ValueError`` otherwise).
    """
    _check_size(tree_size, "tree_size")
    _check_size(index, "index")
    if index >= tree_size:
        raise ValueError(f"leaf index {index} is not below tree size {tree_size}")
    ids, begin, end = _nodes(index, 0, tree_size)
    return _skip_first(ids, begin, end)


def consistency_nodes(size1: int, size2: int) -> ProofNodes:
    """Return the nodes that make up the consistency proof from ``size1`` to ``size2``.

    Requires ``0 <= size1 <= size2 < 2**63``. The proof is empty when ``size1`` is 0 or equals
    ``size2`` (matching :func:`~creditlink.sdk.tlog.verify_consistency`).
    """
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    if size1 > size2:
        raise ValueError(f"size1 {size1} is larger than size2 {size2}")
    if size1 == 0 or size1 == size2:
        return ProofNodes(ids=())
    # The proof starts from the largest perfect subtree that ends at size1 ...
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    ids, begin, end = _nodes(index, level, size2)
    # ... whose hash the verifier already has as root1 when size1 is a power of two.
    if size1 & (size1 - 1) == 0:
        return _skip_first(ids, begin, end)
    return ProofNodes(ids=tuple(ids), begin=begin, end=end)


def inclusion_proof(index: int, tree_size: int, reader: NodeReader) -> list[bytes]:
    """Build the inclusion proof of leaf ``index`` in the tree of ``tree_size`` leaves.

    Makes exactly one :meth:`NodeReader.get_nodes` call with O(log n) ids.
    """
    plan = inclusion_nodes(index, tree_size)
    return plan.rehash(_fetch(reader, plan.ids))


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """Build the consistency proof between tree sizes ``size1 <= size2``.

    Makes at most one :meth:`NodeReader.get_nodes` call with O(log n) ids.
    """
    plan = consistency_nodes(size1, size2)
    return plan.rehash(_fetch(reader, plan.ids))


def root_at(tree_size: int, reader: NodeReader) -> bytes:
    """Return the root of the stored tree's first ``tree_size`` leaves with one read."""
    _check_size(tree_size, "tree_size")
    return Frontier.from_reader(tree_size, reader).root()


# --- private helpers ---------------------------------------------------------------------------


def _check_size(value: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TREE_SIZE:
        raise ValueError(f"{what} {value!r} is outside [0, 2**63)")


def _fetch(reader: NodeReader, ids: Sequence[NodeId]) -> list[bytes]:
    if not ids:
        return []
    hashes = list(reader.get_nodes(ids))
    if len(hashes) != len(ids):
        raise ValueError(f"store returned {len(hashes)} hashes for {len(ids)} node ids")
    return hashes


def _levels_desc(size: int) -> list[int]:
    """Levels of the set bits of ``size``, highest first (the frontier order)."""
    return [lv for lv in range(size.bit_length() - 1, -1, -1) if (size >> lv) & 1]


def _range_nodes(begin: int, end: int) -> list[NodeId]:
    """Perfect subtrees covering ``[begin, end)``, left to right (a compact range)."""
    out: list[NodeId] = []
    while begin < end:
        # The largest subtree starting at begin is limited by begin's alignment ...
        level = (begin & -begin).bit_length() - 1 if begin else 64
        # ... and by what still fits before end.
        level = min(level, (end - begin).bit_length() - 1)
        out.append((level, begin >> level))
        begin += 1 << level
    return out


def _nodes(index: int, level: int, size: int) -> tuple[list[NodeId], int, int]:
    """Nodes proving that ``(level, index)`` is in the tree of ``size`` (see module docstring).

    Returns ``(ids, begin, end)``: ``ids[0]`` is the node itself, then its siblings up to the
    *fork* (where its path leaves the path to the last leaf), then the nodes covering the range
    right of the fork, lowest first (together the ephemeral sibling, ``ids[begin:end]``), then
    the nodes covering the range left of the fork, lowest first.
    """
    inner = (index ^ (size >> level)).bit_length() - 1
    fork_level = level + inner
    fork_index = index >> inner
    fork_begin = fork_index << fork_level
    fork_end = (fork_index + 1) << fork_level

    ids: list[NodeId] = [(level, index)]
    for k in range(inner):
        ids.append((level + k, (index >> k) ^ 1))
    begin = len(ids)
    ids.extend(reversed(_range_nodes(fork_end, size)))
    end = len(ids)
    ids.extend(reversed(_range_nodes(0, fork_begin)))
    if begin >= end:
        begin = end = 0
    return ids, begin, end


def _skip_first(ids: list[NodeId], begin: int, end: int) -> ProofNodes:
    # The first id is the node being proven, which the verifier already has.
    if begin < end:
        begin, end = begin - 1, end - 1
    return ProofNodes(ids=tuple(ids[1:]), begin=begin, end=end)
