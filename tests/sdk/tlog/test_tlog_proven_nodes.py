"""ProvenNodes: inclusion proofs in one tree reusing the path verified last.

Its answers must be exactly those of :func:`verify_inclusion` whatever was verified before:
the memo may only save hashing, never accept what the plain check refuses.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlink.sdk.errors import InvalidProof
from creditlink.sdk.tlog import ProvenNodes, verify_inclusion
from tests.sdk.tlog.test_tlog_merkle import BIG_LEAVES, BIG_TREE, ref_leaf

SOME_HASH = bytes(range(32))


def _plain(lh: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    try:
        verify_inclusion(leaf_hash=lh, index=index, tree_size=size, proof=proof, root=root)
    except InvalidProof:
        return False
    return True


def _memo(proven: ProvenNodes, lh: bytes, index: int, proof: list[bytes]) -> bool:
    try:
        proven.verify_inclusion(leaf_hash=lh, index=index, proof=proof)
    except InvalidProof:
        return False
    return True


def _corruptions(
    index: int, size: int, proof: list[bytes], lh: bytes
) -> list[tuple[str, int, list[bytes], bytes]]:
    """Probes within the same tree (a ProvenNodes is bound to one root and size)."""
    out: list[tuple[str, int, list[bytes], bytes]] = [
        ("index - 1", index - 1, proof, lh),
        ("index + 1", index + 1, proof, lh),
        ("index ^ 2", index ^ 2, proof, lh),
        ("wrong leaf", index, proof, ref_leaf(b"WrongLeaf")),
        ("neighbour's leaf", index, proof, ref_leaf(BIG_LEAVES[index ^ 1])),
        ("trailing hash", index, [*proof, SOME_HASH], lh),
        ("preceding hash", index, [SOME_HASH, *proof], lh),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        out.append((f"modified proof[{i}]", index, bad, lh))
    if proof:
        out.append(("removed component", index, proof[:-1], lh))
    return [c for c in out if c[1] >= 0]


def test_every_index_verifies_and_every_corruption_fails_after_any_other() -> None:
    """CXP-BATCH-004: an item's audit path must lead to the signed root, memo or not."""
    rng = random.Random(7)
    for size in range(1, 71):
        root = BIG_TREE.mth(0, size)
        proven = ProvenNodes(root=root, size=size)
        order = list(range(size))
        rng.shuffle(order)
        for index in order:
            proof = BIG_TREE.path(index, 0, size)
            lh = ref_leaf(BIG_LEAVES[index])
            for desc, i2, p2, l2 in _corruptions(index, size, proof, lh):
                expected = _plain(l2, i2, size, p2, root)
                assert _memo(proven, l2, i2, p2) is expected, (desc, index, size)
            proven.verify_inclusion(leaf_hash=lh, index=index, proof=proof)
        # In leaf order (the feed's), each proof continues the last one: still the same answers.
        for index in range(size):
            proof = BIG_TREE.path(index, 0, size)
            lh = ref_leaf(BIG_LEAVES[index])
            assert _memo(proven, lh, index, proof)
            for desc, i2, p2, l2 in _corruptions(index, size, proof, lh):
                assert _memo(proven, l2, i2, p2) is _plain(l2, i2, size, p2, root), desc


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=len(BIG_LEAVES)),
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(BIG_LEAVES) - 1),
            st.integers(0, 3),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=60,
    ),
)
def test_same_answers_as_verify_inclusion_in_any_order(
    size: int, steps: list[tuple[int, int, int]]
) -> None:
    root = BIG_TREE.mth(0, size)
    proven = ProvenNodes(root=root, size=size)
    for raw_index, corruption, bit in steps:
        index = raw_index % size
        proof = BIG_TREE.path(index, 0, size)
        lh = ref_leaf(BIG_LEAVES[index])
        if corruption == 1:
            lh = bytes([lh[0] ^ (1 << (bit % 8))]) + lh[1:]
        elif corruption == 2 and proof:
            i = bit % len(proof)
            proof[i] = bytes([proof[i][0] ^ 1]) + proof[i][1:]
        elif corruption == 3:
            index = (index + 1 + bit) % size
        assert _memo(proven, lh, index, proof) is _plain(lh, index, size, proof, root)


def test_bad_arguments_are_refused_before_hashing() -> None:
    root = BIG_TREE.mth(0, 10)
    proven = ProvenNodes(root=root, size=10)
    lh = ref_leaf(BIG_LEAVES[3])
    proof = BIG_TREE.path(3, 0, 10)
    with pytest.raises(InvalidProof, match="not below"):
        proven.verify_inclusion(leaf_hash=lh, index=10, proof=proof)
    with pytest.raises(InvalidProof, match="expected 32"):
        proven.verify_inclusion(leaf_hash=lh[:31], index=3, proof=proof)
    with pytest.raises(InvalidProof, match="proof\\[1\\]"):
        proven.verify_inclusion(leaf_hash=lh, index=3, proof=[proof[0], b"x", *proof[2:]])
    with pytest.raises(InvalidProof, match="empty tree"):
        ProvenNodes(root=root, size=0)
    with pytest.raises(InvalidProof, match="root"):
        ProvenNodes(root=root[:5], size=3)
