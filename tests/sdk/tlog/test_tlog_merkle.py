"""RFC 9162 Merkle hashing and proof verification (CXP-LOG-001 .. CXP-LOG-004).

Reference values come from two independent places: the RFC 6962 test data published with
transparency-dev/merkle (``proof/verify_test.go``), and a naive recursive implementation of the
RFC's MTH / PATH / PROOF definitions written below with plain hashlib. The library's own tree
code is not used to produce expected values here.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlink.sdk.errors import InvalidProof, VerificationError
from creditlink.sdk.tlog import (
    EMPTY_ROOT,
    MAX_PROOF_LENGTH,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# --- independent reference implementation (RFC 9162 §2.1, written from the RFC) ---------------


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """Largest power of two strictly smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class RefTree:
    """MTH, PATH and PROOF exactly as RFC 9162 §2.1 defines them, memoised on (lo, hi)."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.mth = cache(self._mth)

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return ref_leaf(self.leaves[lo])
        k = split_point(n)
        return ref_node(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = split_point(n)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        return self._subproof(m, 0, n, True)

    def _subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = split_point(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, b), self.mth(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]


def path_shape(m: int, n: int) -> tuple[str, ...]:
    """Side of the proven node at each level, bottom up ('L': sibling on the right)."""
    if n == 1:
        return ()
    k = split_point(n)
    if m < k:
        return (*path_shape(m, k), "L")
    return (*path_shape(m - k, n - k), "R")


# --- RFC 6962 test data (transparency-dev/merkle proof/verify_test.go) --------------------------

RFC6962_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof) — the Go file lists 1-based leaf numbers; converted here.
RFC6962_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
RFC6962_CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def h(x: str) -> bytes:
    return bytes.fromhex(x)


RFC_TREE = RefTree(RFC6962_LEAVES)
BIG_LEAVES = [b"creditlink leaf %d" % i for i in range(130)]
BIG_TREE = RefTree(BIG_LEAVES)


# --- hashing and roots --------------------------------------------------------------------------


def test_hashes_are_domain_separated_sha256() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_rfc6962_roots_known_answers() -> None:
    hashes = [leaf_hash(d) for d in RFC6962_LEAVES]
    for size, root in enumerate(RFC6962_ROOTS, start=1):
        assert root_from_leaf_hashes(hashes[:size]).hex() == root
        assert RFC_TREE.mth(0, size).hex() == root  # the reference agrees with the published data


def test_roots_match_naive_mth_for_sizes_0_to_130() -> None:
    hashes = [leaf_hash(d) for d in BIG_LEAVES]
    for size in range(131):
        assert root_from_leaf_hashes(hashes[:size]) == BIG_TREE.mth(0, size), size


def test_root_from_leaf_hashes_rejects_bad_hash() -> None:
    with pytest.raises(InvalidProof):
        root_from_leaf_hashes([b"\x00" * 31])


# --- inclusion ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "proof"), RFC6962_INCLUSION)
def test_rfc6962_inclusion_known_answers(index: int, size: int, proof: list[str]) -> None:
    lh = leaf_hash(RFC6962_LEAVES[index])
    hashes = [h(x) for x in proof]
    root = h(RFC6962_ROOTS[size - 1])
    assert RFC_TREE.path(index, 0, size) == hashes
    verify_inclusion(leaf_hash=lh, index=index, tree_size=size, proof=hashes, root=root)
    assert (
        root_from_inclusion_proof(leaf_hash=lh, index=index, tree_size=size, proof=hashes) == root
    )


def inclusion_corruptions(
    index: int, size: int, proof: list[bytes], root: bytes, lh: bytes
) -> list[tuple[str, int, int, list[bytes], bytes, bytes]]:
    """The probes of transparency-dev/merkle ``corruptInclusionProof``; all must fail."""
    out = [
        ("index - 1", index - 1, size, proof, root, lh),
        ("index + 1", index + 1, size, proof, root, lh),
        ("index ^ 2", index ^ 2, size, proof, root, lh),
        ("size * 2", index, size * 2, proof, root, lh),
        ("size / 2", index, size // 2, proof, root, lh),
        ("wrong leaf", index, size, proof, root, ref_leaf(b"WrongLeaf")),
        ("empty root", index, size, proof, EMPTY_ROOT, lh),
        ("random root", index, size, proof, SOME_HASH, lh),
        ("trailing garbage", index, size, [*proof, b""], root, lh),
        ("trailing root", index, size, [*proof, root], root, lh),
        ("preceding garbage", index, size, [b"", *proof], root, lh),
        ("preceding root", index, size, [root, *proof], root, lh),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        out.append((f"modified proof[{i}] bit 3", index, size, bad, root, lh))
    if proof:
        out.append(("removed component", index, size, proof[:-1], root, lh))
    if len(proof) > 1:
        out.append(("inserted component", index, size, [proof[0], SOME_HASH, *proof[1:]], root, lh))
    return out


def test_inclusion_every_pair_up_to_70() -> None:
    """Every (index, size) with size <= 70: the RFC proof verifies, every corruption fails."""
    for size in range(1, 71):
        root = BIG_TREE.mth(0, size)
        for index in range(size):
            proof = BIG_TREE.path(index, 0, size)
            lh = ref_leaf(BIG_LEAVES[index])
            verify_inclusion(leaf_hash=lh, index=index, tree_size=size, proof=proof, root=root)
            for desc, i2, n2, p2, r2, l2 in inclusion_corruptions(index, size, proof, root, lh):
                try:
                    verify_inclusion(leaf_hash=l2, index=i2, tree_size=n2, proof=p2, root=r2)
                except InvalidProof:
                    continue
                pytest.fail(f"{desc} verified for index {index} size {size}")


def test_inclusion_single_entry() -> None:
    lh = leaf_hash(b"data")
    verify_inclusion(leaf_hash=lh, index=0, tree_size=1, proof=[], root=lh)
    for leaf, root in [(lh, b""), (b"", lh), (b"", b"")]:
        with pytest.raises(InvalidProof):
            verify_inclusion(leaf_hash=leaf, index=0, tree_size=1, proof=[], root=root)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (1, 1), (2, 1), (5, 5)])
def test_inclusion_index_not_below_size(index: int, size: int) -> None:
    for leaf, root in [(SOME_HASH, EMPTY_ROOT), (EMPTY_ROOT, EMPTY_ROOT), (SOME_HASH, SOME_HASH)]:
        with pytest.raises(InvalidProof, match="not below"):
            verify_inclusion(leaf_hash=leaf, index=index, tree_size=size, proof=[], root=root)


@pytest.mark.parametrize(
    ("index", "size"), [(-1, 5), (0, -1), (0, 2**63), (2**63, 2**63 + 1), (True, 2), (0, 1.0)]
)
def test_inclusion_rejects_out_of_bounds_or_non_int(index: object, size: object) -> None:
    with pytest.raises(InvalidProof):
        verify_inclusion(
            leaf_hash=SOME_HASH,
            index=index,  # type: ignore[arg-type]
            tree_size=size,  # type: ignore[arg-type]
            proof=[],
            root=SOME_HASH,
        )


def test_inclusion_largest_tree() -> None:
    """Sizes up to 2**63 - 1 work (no 64-bit overflow); the root is derived from the proof."""
    size = 2**63 - 1
    index = size - 1
    proof = [bytes([i]) * 32 for i in range(62)]  # inner 0, border = popcount(index) = 62
    root = root_from_inclusion_proof(leaf_hash=SOME_HASH, index=index, tree_size=size, proof=proof)
    verify_inclusion(leaf_hash=SOME_HASH, index=index, tree_size=size, proof=proof, root=root)
    with pytest.raises(InvalidProof):
        verify_inclusion(
            leaf_hash=SOME_HASH, index=index, tree_size=size, proof=proof[:-1], root=root
        )


def test_proof_length_cap_checked_before_hashes() -> None:
    # 65 hashes are refused by count alone: none of them is even looked at.
    with pytest.raises(InvalidProof, match="at most 64"):
        verify_inclusion(
            leaf_hash=SOME_HASH,
            index=0,
            tree_size=2,
            proof=[object()] * 65,
            root=SOME_HASH,  # type: ignore[list-item]
        )
    assert MAX_PROOF_LENGTH == 64


def test_invalid_proof_is_a_verification_error_with_reason() -> None:
    with pytest.raises(VerificationError) as info:
        verify_inclusion(leaf_hash=SOME_HASH, index=0, tree_size=1, proof=[], root=EMPTY_ROOT)
    assert info.value.reason == "INVALID_PROOF"


# --- consistency --------------------------------------------------------------------------------


@pytest.mark.parametrize(("size1", "size2", "proof"), RFC6962_CONSISTENCY)
def test_rfc6962_consistency_known_answers(size1: int, size2: int, proof: list[str]) -> None:
    hashes = [h(x) for x in proof]
    assert RFC_TREE.proof(size1, size2) == hashes
    verify_consistency(
        size1=size1,
        size2=size2,
        root1=h(RFC6962_ROOTS[size1 - 1]),
        root2=h(RFC6962_ROOTS[size2 - 1]),
        proof=hashes,
    )


def consistency_corruptions(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """The probes of transparency-dev/merkle ``corruptConsistencyProof``; all must fail."""
    out = [
        ("size1 - 1", size1 - 1, size2, root1, root2, proof),
        ("size1 + 1", size1 + 1, size2, root1, root2, proof),
        ("size1 ^ 2", size1 ^ 2, size2, root1, root2, proof),
        ("size2 * 2", size1, size2 * 2, root1, root2, proof),
        ("size2 / 2", size1, size2 // 2, root1, root2, proof),
        ("wrong root1", size1, size2, SOME_HASH, root2, proof),
        ("wrong root2", size1, size2, root1, SOME_HASH, proof),
        ("swapped roots", size1, size2, root2, root1, proof),
        ("empty proof", size1, size2, root1, root2, []),
        ("trailing garbage", size1, size2, root1, root2, [*proof, b""]),
        ("trailing root1", size1, size2, root1, root2, [*proof, root1]),
        ("trailing root2", size1, size2, root1, root2, [*proof, root2]),
        ("preceding garbage", size1, size2, root1, root2, [b"", *proof]),
        ("preceding root1", size1, size2, root1, root2, [root1, *proof]),
        ("preceding root2", size1, size2, root1, root2, [root2, *proof]),
        ("preceding proof[0]", size1, size2, root1, root2, [proof[0], *proof]),
        ("truncated proof", size1, size2, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        out.append((f"modified proof[{i}] bit 4", size1, size2, root1, root2, bad))
    return out


def test_consistency_every_pair_up_to_70() -> None:
    """Every 0 < size1 < size2 <= 70: the RFC proof verifies, every corruption fails."""
    for size2 in range(2, 71):
        root2 = BIG_TREE.mth(0, size2)
        for size1 in range(1, size2):
            root1 = BIG_TREE.mth(0, size1)
            proof = BIG_TREE.proof(size1, size2)
            verify_consistency(size1=size1, size2=size2, root1=root1, root2=root2, proof=proof)
            for desc, a, b, r1, r2, p in consistency_corruptions(size1, size2, root1, root2, proof):
                try:
                    verify_consistency(size1=a, size2=b, root1=r1, root2=r2, proof=p)
                except InvalidProof:
                    continue
                pytest.fail(f"{desc} verified for {size1} -> {size2}")


def test_consistency_edge_cases() -> None:
    r1, r2 = SOME_HASH, bytes(32)
    # Equal sizes: empty proof and equal roots.
    verify_consistency(size1=5, size2=5, root1=r1, root2=r1, proof=[])
    with pytest.raises(InvalidProof):
        verify_consistency(size1=5, size2=5, root1=r1, root2=r2, proof=[])
    with pytest.raises(InvalidProof):
        verify_consistency(size1=5, size2=5, root1=r1, root2=r1, proof=[r1])
    verify_consistency(size1=0, size2=0, root1=EMPTY_ROOT, root2=EMPTY_ROOT, proof=[])
    # From the empty tree: empty proof, root1 must be the empty-tree root.
    verify_consistency(size1=0, size2=9, root1=EMPTY_ROOT, root2=r2, proof=[])
    with pytest.raises(InvalidProof):
        verify_consistency(size1=0, size2=9, root1=EMPTY_ROOT, root2=r2, proof=[EMPTY_ROOT])
    with pytest.raises(InvalidProof):
        verify_consistency(size1=0, size2=9, root1=r1, root2=r2, proof=[])
    # Time travel.
    for s1, s2 in [(1, 0), (2, 1), (9, 8)]:
        with pytest.raises(InvalidProof, match="larger"):
            verify_consistency(size1=s1, size2=s2, root1=r1, root2=r2, proof=[])
    # Different sizes need a proof.
    with pytest.raises(InvalidProof, match="empty"):
        verify_consistency(size1=1, size2=2, root1=r1, root2=r2, proof=[])
    # Sizes out of bounds, hashes of the wrong length.
    with pytest.raises(InvalidProof):
        verify_consistency(size1=1, size2=2**63, root1=r1, root2=r2, proof=[r1])
    with pytest.raises(InvalidProof):
        verify_consistency(size1=1, size2=2, root1=r1[:31], root2=r2, proof=[r1])
    with pytest.raises(InvalidProof):
        verify_consistency(size1=1, size2=2, root1=r1, root2=r2, proof=[r1 + b"\x00"])


def test_consistency_between_empty_trees_needs_the_empty_root() -> None:
    """CXP-LOG-003: for size1 = size2 = 0 both roots must be SHA-256(""), not merely equal."""
    verify_consistency(size1=0, size2=0, root1=EMPTY_ROOT, root2=EMPTY_ROOT, proof=[])
    for root1, root2 in [(SOME_HASH, SOME_HASH), (EMPTY_ROOT, SOME_HASH), (SOME_HASH, EMPTY_ROOT)]:
        with pytest.raises(InvalidProof, match="empty-tree root"):
            verify_consistency(size1=0, size2=0, root1=root1, root2=root2, proof=[])
    with pytest.raises(InvalidProof, match="must be empty"):
        verify_consistency(size1=0, size2=0, root1=EMPTY_ROOT, root2=EMPTY_ROOT, proof=[EMPTY_ROOT])


def test_sizes_are_bound_by_the_checkpoint_not_by_the_proof() -> None:
    """Documents RFC 9162 behaviour: a proof alone does not authenticate tree sizes.

    The consistency proof 1 -> 3 also verifies as 1 -> 4 with the same roots, and the inclusion
    proof of leaf 0 in size 3 also verifies as size 4. That is why verifiers take sizes only
    from signed checkpoints, which bind each size to its root (CXP-LOG-008).
    """
    root1, root3 = BIG_TREE.mth(0, 1), BIG_TREE.mth(0, 3)
    proof = BIG_TREE.proof(1, 3)
    verify_consistency(size1=1, size2=4, root1=root1, root2=root3, proof=proof)
    lh = ref_leaf(BIG_LEAVES[0])
    verify_inclusion(leaf_hash=lh, index=0, tree_size=4, proof=BIG_TREE.path(0, 0, 3), root=root3)


# --- property tests -----------------------------------------------------------------------------

PROP_TREE_SIZE = 300
PROP_TREE = RefTree([b"prop %d" % i for i in range(PROP_TREE_SIZE)])


@st.composite
def inclusion_cases(draw: st.DrawFn) -> tuple[int, int, list[bytes], bytes, bytes]:
    size = draw(st.integers(1, PROP_TREE_SIZE))
    index = draw(st.integers(0, size - 1))
    proof = PROP_TREE.path(index, 0, size)
    return index, size, proof, PROP_TREE.mth(0, size), ref_leaf(PROP_TREE.leaves[index])


def flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[(bit // 8) % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


@settings(max_examples=300, deadline=None)
@given(case=inclusion_cases(), target=st.integers(0, 65), bit=st.integers(0, 255))
def test_inclusion_any_bit_flip_fails(
    case: tuple[int, int, list[bytes], bytes, bytes], target: int, bit: int
) -> None:
    index, size, proof, root, lh = case
    verify_inclusion(leaf_hash=lh, index=index, tree_size=size, proof=proof, root=root)
    # target picks the leaf hash, the root, or one proof hash.
    slots = 2 + len(proof)
    t = target % slots
    if t == 0:
        lh = flip(lh, bit)
    elif t == 1:
        root = flip(root, bit)
    else:
        proof = list(proof)
        proof[t - 2] = flip(proof[t - 2], bit)
    with pytest.raises(InvalidProof):
        verify_inclusion(leaf_hash=lh, index=index, tree_size=size, proof=proof, root=root)


@settings(max_examples=300, deadline=None)
@given(case=inclusion_cases(), other=st.integers(0, 2**63 - 1))
def test_inclusion_other_index_same_size_fails(
    case: tuple[int, int, list[bytes], bytes, bytes], other: int
) -> None:
    """In one tree every leaf has its own path, so a proof never fits another index."""
    index, size, proof, root, lh = case
    if other == index:
        other = (index + 1) % size if size > 1 else 1
    with pytest.raises(InvalidProof):
        verify_inclusion(leaf_hash=lh, index=other, tree_size=size, proof=proof, root=root)


@settings(max_examples=300, deadline=None)
@given(
    case=inclusion_cases(),
    other=st.one_of(st.integers(1, 2 * PROP_TREE_SIZE), st.integers(1, 2**63 - 1)),
)
def test_inclusion_other_size_fails_unless_path_shape_is_equal(
    case: tuple[int, int, list[bytes], bytes, bytes], other: int
) -> None:
    index, size, proof, root, lh = case
    if other == size:
        return
    same_shape = index < other and path_shape(index, other) == path_shape(index, size)
    if same_shape:
        verify_inclusion(leaf_hash=lh, index=index, tree_size=other, proof=proof, root=root)
    else:
        with pytest.raises(InvalidProof):
            verify_inclusion(leaf_hash=lh, index=index, tree_size=other, proof=proof, root=root)


@settings(max_examples=200, deadline=None)
@given(case=inclusion_cases(), cut=st.integers(0, 64), extra=st.integers(1, 3))
def test_inclusion_wrong_length_fails(
    case: tuple[int, int, list[bytes], bytes, bytes], cut: int, extra: int
) -> None:
    index, size, proof, root, lh = case
    if proof:
        shorter = proof[: cut % len(proof)]
        with pytest.raises(InvalidProof, match="expected"):
            verify_inclusion(leaf_hash=lh, index=index, tree_size=size, proof=shorter, root=root)
    longer = [*proof, *[SOME_HASH] * extra]
    with pytest.raises(InvalidProof, match="expected"):
        verify_inclusion(leaf_hash=lh, index=index, tree_size=size, proof=longer, root=root)


@st.composite
def consistency_cases(draw: st.DrawFn) -> tuple[int, int, bytes, bytes, list[bytes]]:
    size2 = draw(st.integers(2, PROP_TREE_SIZE))
    size1 = draw(st.integers(1, size2 - 1))
    return (
        size1,
        size2,
        PROP_TREE.mth(0, size1),
        PROP_TREE.mth(0, size2),
        PROP_TREE.proof(size1, size2),
    )


@settings(max_examples=300, deadline=None)
@given(case=consistency_cases(), target=st.integers(0, 66), bit=st.integers(0, 255))
def test_consistency_any_bit_flip_fails(
    case: tuple[int, int, bytes, bytes, list[bytes]], target: int, bit: int
) -> None:
    size1, size2, root1, root2, proof = case
    verify_consistency(size1=size1, size2=size2, root1=root1, root2=root2, proof=proof)
    t = target % (2 + len(proof))
    if t == 0:
        root1 = flip(root1, bit)
    elif t == 1:
        root2 = flip(root2, bit)
    else:
        proof = list(proof)
        proof[t - 2] = flip(proof[t - 2], bit)
    with pytest.raises(InvalidProof):
        verify_consistency(size1=size1, size2=size2, root1=root1, root2=root2, proof=proof)


@settings(max_examples=200, deadline=None)
@given(case=consistency_cases(), cut=st.integers(0, 64), extra=st.integers(1, 3))
def test_consistency_wrong_length_fails(
    case: tuple[int, int, bytes, bytes, list[bytes]], cut: int, extra: int
) -> None:
    size1, size2, root1, root2, proof = case
    shorter = proof[: cut % len(proof)]
    with pytest.raises(InvalidProof):
        verify_consistency(size1=size1, size2=size2, root1=root1, root2=root2, proof=shorter)
    longer = [*proof, *[SOME_HASH] * extra]
    with pytest.raises(InvalidProof):
        verify_consistency(size1=size1, size2=size2, root1=root1, root2=root2, proof=longer)


@settings(max_examples=200, deadline=None)
@given(case=consistency_cases(), delta=st.sampled_from(["s1-1", "s1+1", "s1^2", "s2*2", "s2/2"]))
def test_consistency_changed_size_fails(
    case: tuple[int, int, bytes, bytes, list[bytes]], delta: str
) -> None:
    """The size changes of transparency-dev's corruption probes change the proof's shape.

    (Not every size change does: see test_sizes_are_bound_by_the_checkpoint_not_by_the_proof.)
    """
    size1, size2, root1, root2, proof = case
    s1, s2 = {
        "s1-1": (size1 - 1, size2),
        "s1+1": (size1 + 1, size2),
        "s1^2": (size1 ^ 2, size2),
        "s2*2": (size1, size2 * 2),
        "s2/2": (size1, size2 // 2),
    }[delta]
    with pytest.raises(InvalidProof):
        verify_consistency(size1=s1, size2=s2, root1=root1, root2=root2, proof=proof)
