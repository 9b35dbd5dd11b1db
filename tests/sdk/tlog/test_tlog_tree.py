"""Appends from a frontier and proof generation over stored nodes (CXP-LOG-010).

Expected roots and proofs come from a naive RFC 9162 MTH/PATH/PROOF written here with plain
hashlib; the library's tree code is checked against it, then against its own verifier.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlink.sdk.tlog import (
    EMPTY_ROOT,
    Frontier,
    MemoryNodeStore,
    NodeReader,
    NodeRun,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    root_at,
    verify_consistency,
    verify_inclusion,
)


def ref_leaf(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + b"entry %d" % i).digest()


def split_point(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def mth(lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return ref_leaf(lo)
    k = split_point(n)
    return hashlib.sha256(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi)).digest()


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*ref_path(m, lo, lo + k), mth(lo + k, hi)]
    return [*ref_path(m - k, lo + k, hi), mth(lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if b else [mth(lo, hi)]
    k = split_point(n)
    if m <= k:
        return [*ref_subproof(m, lo, lo + k, b), mth(lo + k, hi)]
    return [*ref_subproof(m - k, lo + k, hi, False), mth(lo, lo + k)]


class CountingReader:
    """Wraps the store to count calls and ids: a real store underneath, not a mock."""

    def __init__(self, store: MemoryNodeStore) -> None:
        self.store = store
        self.calls = 0
        self.ids = 0

    def get_nodes(self, ids: Sequence[tuple[int, int]]) -> Sequence[bytes]:
        self.calls += 1
        self.ids += len(ids)
        return self.store.get_nodes(ids)


STORE_SIZE = 140


@pytest.fixture(scope="module")
def store() -> MemoryNodeStore:
    s = MemoryNodeStore()
    frontier = Frontier()
    for i in range(STORE_SIZE):
        frontier, nodes = frontier.append(ref_leaf(i))
        s.add_nodes(nodes)
    return s


# --- frontier ----------------------------------------------------------------------------------


def test_frontier_append_matches_naive_root_for_every_size_up_to_140() -> None:
    frontier = Frontier()
    assert frontier.root() == EMPTY_ROOT
    for i in range(STORE_SIZE):
        frontier, nodes = frontier.append(ref_leaf(i))
        assert frontier.size == i + 1
        assert len(frontier.hashes) == (i + 1).bit_count()
        assert frontier.root() == mth(0, i + 1)
        # The leaf, then each node it completed: (level, index) covering [index<<level, ...).
        assert nodes[0] == (0, i, ref_leaf(i))
        for level, index, h in nodes:
            assert (index + 1) << level == i + 1
            assert h == mth(index << level, (index + 1) << level)
        # Exactly one node per trailing 1 bit of the old size, plus the leaf.
        assert len(nodes) == 1 + ((i ^ (i + 1)).bit_length() - 1)


def test_frontier_validates_its_shape() -> None:
    with pytest.raises(ValueError, match="hashes"):
        Frontier(size=3, hashes=(b"\x00" * 32,))
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier(size=1, hashes=(b"\x00" * 31,))
    with pytest.raises(ValueError, match="outside"):
        Frontier(size=-1)
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier().append(b"short")


def test_frontier_near_the_size_cap() -> None:
    full = Frontier(size=2**63 - 1, hashes=tuple(bytes([i]) * 32 for i in range(63)))
    with pytest.raises(ValueError, match="full"):
        full.append(EMPTY_ROOT)
    almost = Frontier(size=2**63 - 2, hashes=tuple(bytes([i]) * 32 for i in range(62)))
    with pytest.raises(ValueError, match="2\\*\\*63"):
        almost.extend([EMPTY_ROOT, EMPTY_ROOT])
    grown, _ = almost.extend([EMPTY_ROOT])
    assert grown.size == 2**63 - 1


def per_leaf(
    frontier: Frontier, leaves: list[bytes]
) -> tuple[Frontier, set[tuple[int, int, bytes]]]:
    nodes: set[tuple[int, int, bytes]] = set()
    for lh in leaves:
        frontier, new = frontier.append(lh)
        nodes.update(new)
    return frontier, nodes


@settings(max_examples=150, deadline=None)
@given(start=st.integers(0, 600), batches=st.lists(st.integers(0, 300), min_size=1, max_size=4))
def test_batch_extend_equals_per_leaf_append(start: int, batches: list[int]) -> None:
    base, _ = Frontier().extend([ref_leaf(i) for i in range(start)])
    slow, fast = base, base
    expected_nodes: set[tuple[int, int, bytes]] = set()
    got_nodes: set[tuple[int, int, bytes]] = set()
    pos = start
    for n in batches:
        leaves = [ref_leaf(i) for i in range(pos, pos + n)]
        pos += n
        slow, new = per_leaf(slow, leaves)
        expected_nodes |= new
        fast, runs = fast.extend(leaves)
        for run in runs:
            assert isinstance(run, NodeRun)
            got_nodes.update(run.nodes())
        assert fast == slow
    assert got_nodes == expected_nodes
    assert fast.root() == mth(0, pos)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 5000))
def test_frontier_root_equals_naive_root_for_random_sizes(size: int) -> None:
    frontier, _ = Frontier().extend([ref_leaf(i) for i in range(size)])
    assert frontier.root() == mth(0, size)


def test_extend_runs_are_contiguous_per_level() -> None:
    base, _ = Frontier().extend([ref_leaf(i) for i in range(5)])
    grown, runs = base.extend([ref_leaf(i) for i in range(5, 13)])
    assert [(r.level, r.start, r.node_count) for r in runs] == [
        (0, 5, 8),
        (1, 2, 4),
        (2, 1, 2),
        (3, 0, 1),
    ]
    assert base.extend([]) == (base, [])
    assert grown.size == 13


# --- store -------------------------------------------------------------------------------------


def test_memory_store_is_a_node_reader(store: MemoryNodeStore) -> None:
    assert isinstance(store, NodeReader)
    assert store.size == STORE_SIZE
    assert store.node_count(0) == STORE_SIZE
    assert store.node_count(3) == STORE_SIZE >> 3
    assert store.node_count(40) == 0
    assert store.get_nodes([(0, 5), (2, 1)]) == [ref_leaf(5), mth(4, 8)]
    with pytest.raises(KeyError):
        store.get_nodes([(0, STORE_SIZE)])
    with pytest.raises(KeyError):
        store.get_nodes([(9, 0)])


def test_memory_store_rejects_gaps_and_conflicts() -> None:
    s = MemoryNodeStore()
    s.add_nodes([(0, 0, ref_leaf(0))])
    s.add_nodes([(0, 0, ref_leaf(0))])  # rewriting the same node is harmless
    with pytest.raises(ValueError, match="gap"):
        s.add_nodes([(0, 2, ref_leaf(2))])
    with pytest.raises(ValueError, match="conflicting"):
        s.add_nodes([(0, 0, ref_leaf(1))])
    with pytest.raises(ValueError, match="32 bytes"):
        s.add_nodes([(0, 1, b"x")])


def test_frontier_from_reader_and_root_at(store: MemoryNodeStore) -> None:
    for size in range(STORE_SIZE + 1):
        assert root_at(size, store) == mth(0, size)
    restored = Frontier.from_reader(77, store)
    expected, _ = Frontier().extend([ref_leaf(i) for i in range(77)])
    assert restored == expected
    assert restored.node_ids() == [(6, 0), (3, 8), (2, 18), (0, 76)]  # 77 = 64 + 8 + 4 + 1


# --- proofs ------------------------------------------------------------------------------------


def test_inclusion_proofs_match_rfc_for_every_pair(store: MemoryNodeStore) -> None:
    for size in range(1, 90):
        for index in range(size):
            reader = CountingReader(store)
            proof = inclusion_proof(index, size, reader)
            assert proof == ref_path(index, 0, size), (index, size)
            assert reader.calls == (1 if proof else 0)
            verify_inclusion(
                leaf_hash=ref_leaf(index),
                index=index,
                tree_size=size,
                proof=proof,
                root=mth(0, size),
            )


def test_consistency_proofs_match_rfc_for_every_pair(store: MemoryNodeStore) -> None:
    for size2 in range(0, 90):
        for size1 in range(0, size2 + 1):
            reader = CountingReader(store)
            proof = consistency_proof(size1, size2, reader)
            expected = [] if size1 in (0, size2) else ref_subproof(size1, 0, size2, True)
            assert proof == expected, (size1, size2)
            assert reader.calls <= 1
            verify_consistency(
                size1=size1, size2=size2, root1=mth(0, size1), root2=mth(0, size2), proof=proof
            )


def test_proofs_need_logarithmic_reads_at_huge_sizes() -> None:
    """Node plans for sizes up to 2**63 - 1: one read of O(log n) ids, all complete subtrees."""
    for size in [10**3, 10**6, 10**9, 2**40 + 12345, 2**63 - 1]:
        for index in [0, size // 3, size - 2, size - 1]:
            plan = inclusion_nodes(index, size)
            assert len(plan.ids) <= 2 * size.bit_length()
            for level, idx in plan.ids:
                assert (idx + 1) << level <= size  # complete: stored nodes only
        for size1 in [1, size // 2 + 1, size - 1]:
            plan = consistency_nodes(size1, size)
            assert len(plan.ids) <= 2 * size.bit_length() + 1
            for level, idx in plan.ids:
                assert (idx + 1) << level <= size


def test_proof_arguments_are_checked(store: MemoryNodeStore) -> None:
    with pytest.raises(ValueError, match="not below"):
        inclusion_proof(5, 5, store)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(0, 2**63, store)
    with pytest.raises(ValueError, match="larger"):
        consistency_proof(6, 5, store)
    with pytest.raises(KeyError):
        inclusion_proof(0, STORE_SIZE + 1, store)  # the store has no such tree


def test_rehash_checks_what_the_store_returned() -> None:
    plan = inclusion_nodes(2, 7)
    with pytest.raises(ValueError, match="hashes for"):
        plan.rehash([])
    with pytest.raises(ValueError, match="32 bytes"):
        plan.rehash([b"x"] * len(plan.ids))


class BrokenReader:
    def get_nodes(self, ids: Sequence[tuple[int, int]]) -> Sequence[bytes]:
        return []


def test_short_store_answer_is_rejected() -> None:
    with pytest.raises(ValueError, match="returned"):
        inclusion_proof(0, 2, BrokenReader())


@settings(max_examples=150, deadline=None)
@given(size=st.integers(1, 2000), data=st.data())
def test_proofs_from_batch_appended_store_verify(size: int, data: st.DataObject) -> None:
    s = MemoryNodeStore()
    frontier = Frontier()
    pos = 0
    while pos < size:
        n = data.draw(st.integers(1, size - pos))
        frontier, runs = frontier.extend([ref_leaf(i) for i in range(pos, pos + n)])
        s.add_runs(runs)
        pos += n
    index = data.draw(st.integers(0, size - 1))
    size1 = data.draw(st.integers(0, size))
    root = frontier.root()
    verify_inclusion(
        leaf_hash=ref_leaf(index),
        index=index,
        tree_size=size,
        proof=inclusion_proof(index, size, s),
        root=root,
    )
    verify_consistency(
        size1=size1,
        size2=size,
        root1=root_at(size1, s),
        root2=root,
        proof=consistency_proof(size1, size, s),
    )
