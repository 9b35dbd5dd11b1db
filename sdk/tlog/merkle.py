"""RFC 9162 Merkle tree hashing and proof verification, as pure functions over bytes.

The tree is the one of RFC 9162 §2.1 (identical to RFC 6962): a leaf hashes as
``SHA-256(0x00 || data)``, an interior node as ``SHA-256(0x01 || left || right)``, and the tree
of ``n`` leaves splits at the largest power of two smaller than ``n``. The empty tree's root is
``SHA-256("")``.

Verification follows transparency-dev/merkle ``proof/verify.go``: a proof is split into an
*inner* part (siblings below the point where the paths to the leaf and to the last leaf
diverge) and a *border* part (left siblings along the right border); the proof length is
checked against that decomposition before anything is hashed, and every hash must be exactly
32 bytes. Verifiers raise :class:`~creditlink.sdk.errors.InvalidProof` and never return a
boolean, so a forgotten check cannot pass silently.

Bounds (CXP-LOG-004): tree sizes are below ``2**63`` and proofs hold at most 64 hashes; anything
else is rejected rather than clamped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from creditlink.sdk.errors import InvalidProof

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_LENGTH",
    "MAX_TREE_SIZE",
    "ProvenNodes",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

#: Size in bytes of every hash in the tree (SHA-256).
HASH_SIZE: Final = 32
#: Largest accepted tree size. Sizes travel as uint64 in other implementations; keeping them
#: below 2**63 also keeps them inside a signed 64-bit SQL integer.
MAX_TREE_SIZE: Final = 2**63 - 1
#: Longest accepted proof: a tree below 2**63 leaves needs at most 63 hashes for inclusion and
#: 64 for consistency (63 path hashes plus the seed).
MAX_PROOF_LENGTH: Final = 64
#: Root of the tree with no leaves (RFC 9162 §2.1.1).
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || data)`` of one log entry."""
    return _sha256(_LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``."""
    return _sha256(_NODE_PREFIX + bytes(left) + bytes(right)).digest()


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash (MTH) of a whole tree given all of its leaf hashes.

    Computed level by level: pairing neighbours and promoting an odd last node unchanged gives
    the same tree as RFC 9162's "split at the largest power of two" recursion, in O(n) hashes
    without recursion or list slicing. Meant for small trees, tests and tools; a log keeps a
    :class:`~creditlink.sdk.tlog.Frontier` instead.
    """
    level = [bytes(h) for h in leaf_hashes]
    for h in level:
        _check_hash(h, "leaf hash")
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        it = iter(level)
        # zip(it, it) pairs neighbours; an odd last node is carried up as it is.
        nxt = [
            _sha256(_NODE_PREFIX + left + right).digest()
            for left, right in zip(it, it, strict=False)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def root_from_inclusion_proof(
    *, leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes:
    """Return the root implied by an inclusion proof of ``leaf_hash`` at ``index``.

    Requires ``0 <= index < tree_size < 2**63`` and a proof of exactly the length the pair
    (index, tree_size) implies; raises :class:`InvalidProof` otherwise. The result still has to
    be compared with a trusted root: use :func:`verify_inclusion` for that.
    """
    _check_size(tree_size, "tree_size")
    _check_size(index, "index")
    if index >= tree_size:
        raise InvalidProof(f"leaf index {index} is not below tree size {tree_size}")
    _check_hash(leaf_hash, "leaf hash")
    proof = _check_proof(proof)
    inner, border = _decompose_inclusion_proof(index, tree_size)
    # Length first: a proof of the wrong shape is rejected before any hashing.
    if len(proof) != inner + border:
        raise InvalidProof(
            f"inclusion proof has {len(proof)} hashes, expected {inner + border} "
            f"for index {index} in a tree of size {tree_size}"
        )
    res = _chain_inner(bytes(leaf_hash), proof[:inner], index)
    return _chain_border_right(res, proof[inner:])


def verify_inclusion(
    *, leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that ``leaf_hash`` is the leaf at ``index`` of the tree with ``root``.

    Implements RFC 9162 §2.1.3.2. Returns ``None`` on success and raises
    :class:`~creditlink.sdk.errors.InvalidProof` on any failure: index not below the tree size,
    a size outside ``[0, 2**63)``, a proof of the wrong length or with a hash that is not 32
    bytes, or a computed root that differs from ``root``.
    """
    _check_hash(root, "root")
    calculated = root_from_inclusion_proof(
        leaf_hash=leaf_hash, index=index, tree_size=tree_size, proof=proof
    )
    if calculated != bytes(root):
        raise InvalidProof(
            f"inclusion proof for index {index} in a tree of size {tree_size} leads to root "
            f"{calculated.hex()}, expected {bytes(root).hex()}"
        )


def verify_consistency(
    *, size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Verify that the tree with (``size2``, ``root2``) extends the one with (``size1``, ``root1``).

    Implements RFC 9162 §2.1.4.2 with these edge rules (CXP-LOG-003):

    * ``size1 > size2`` is rejected;
    * ``size1 == 0`` needs an empty proof and ``root1`` equal to the empty-tree root
      ``SHA-256("")`` (transparency-dev/merkle accepts any ``root1`` here; a size-0 tree has
      exactly one root, so we check it), and for ``size2 == 0`` also ``root2`` equal to it;
    * ``size1 == size2`` needs an empty proof and ``root1 == root2``;
    * otherwise the proof must have exactly the length the sizes imply.

    Returns ``None`` on success and raises :class:`~creditlink.sdk.errors.InvalidProof`
    otherwise.
    """
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    proof = _check_proof(proof)
    root1, root2 = bytes(root1), bytes(root2)
    if size1 > size2:
        raise InvalidProof(f"size1 {size1} is larger than size2 {size2}")
    if size1 == 0:
        # Checked before the equal-sizes case: for 0 -> 0 both roots must be SHA-256(""),
        # not merely equal to each other (CXP-LOG-003).
        if proof:
            raise InvalidProof("consistency proof from the empty tree must be empty")
        if root1 != EMPTY_ROOT:
            raise InvalidProof("root1 is not the empty-tree root although size1 is 0")
        if size2 == 0 and root2 != EMPTY_ROOT:
            raise InvalidProof("root2 is not the empty-tree root although size2 is 0")
        return
    if size1 == size2:
        if proof:
            raise InvalidProof("consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise InvalidProof(f"roots differ for the same tree size {size1}")
        return
    if not proof:
        raise InvalidProof(f"empty consistency proof from size {size1} to size {size2}")

    inner, border = _decompose_inclusion_proof(size1 - 1, size2)
    # The largest perfect subtree ending at size1 has 2**shift leaves; the proof starts at its
    # level, so the levels below it are not part of the path.
    shift = _trailing_zeros(size1)
    inner -= shift
    # When size1 is that subtree itself (a power of two), its hash is root1 and the proof does
    # not repeat it; otherwise the proof opens with the subtree's hash (the "seed").
    if size1 == 1 << shift:
        seed, start = root1, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise InvalidProof(
            f"consistency proof has {len(proof)} hashes, expected {start + inner + border} "
            f"from size {size1} to size {size2}"
        )
    path = proof[start:]
    mask = (size1 - 1) >> shift

    # Only the hashes to the left of the path rebuild the old tree: that must give root1.
    hash1 = _chain_inner_right(seed, path[:inner], mask)
    hash1 = _chain_border_right(hash1, path[inner:])
    if hash1 != root1:
        raise InvalidProof(
            f"consistency proof leads to root {hash1.hex()} for size {size1}, "
            f"expected {root1.hex()}"
        )
    # All of them rebuild the new tree: that must give root2.
    hash2 = _chain_inner(seed, path[:inner], mask)
    hash2 = _chain_border_right(hash2, path[inner:])
    if hash2 != root2:
        raise InvalidProof(
            f"consistency proof leads to root {hash2.hex()} for size {size2}, "
            f"expected {root2.hex()}"
        )


# --- private helpers ---------------------------------------------------------------------------


class ProvenNodes:
    """Inclusion proofs in one tree, reusing the work of the last one verified.

    Items read one by one from a feed arrive in leaf order, and neighbouring leaves share most
    of their audit path: above the level where their paths meet, the nodes and the siblings
    are the same. So the path last verified is kept (its node at every level and its proof),
    and the next proof is hashed only up to the meeting level. If the node computed there is
    the one the last path had and the rest of the proof is the rest of the last proof, hashing
    on would repeat the last verification exactly, which reached the root: the leaf is
    included. Otherwise the proof is verified in full. Every answer is therefore the one
    :func:`verify_inclusion` gives; consecutive leaves cost about two hashes each instead of
    ``log2(size)``.

    ``root`` must already be trusted (a verified signature over it, or a verified checkpoint):
    this class proves inclusion under it, nothing about the root itself. Not thread-safe.
    """

    __slots__ = ("_last", "root", "size")

    def __init__(self, *, root: bytes, size: int) -> None:
        _check_hash(root, "root")
        _check_size(size, "tree_size")
        if size == 0:
            raise InvalidProof("an empty tree includes no leaf")
        self.root: Final = bytes(root)
        self.size: Final = size
        # The last verified path: (index, proof, node at each level, proof position at each).
        self._last: tuple[int, tuple[bytes, ...], list[bytes], list[int]] | None = None

    def verify_inclusion(self, *, leaf_hash: bytes, index: int, proof: Sequence[bytes]) -> None:
        """Verify that ``leaf_hash`` is the leaf at ``index`` of this tree.

        Same contract as :func:`verify_inclusion` with this tree's root and size: returns
        ``None`` or raises :class:`~creditlink.sdk.errors.InvalidProof`, and checks the index,
        the proof's length and every hash's size before hashing.
        """
        size = self.size
        _check_size(index, "index")
        if index >= size:
            raise InvalidProof(f"leaf index {index} is not below tree size {size}")
        _check_hash(leaf_hash, "leaf hash")
        if len(proof) > MAX_PROOF_LENGTH:
            raise InvalidProof(f"proof has {len(proof)} hashes, at most {MAX_PROOF_LENGTH} allowed")
        inner, border = _decompose_inclusion_proof(index, size)
        if len(proof) != inner + border:
            raise InvalidProof(
                f"inclusion proof has {len(proof)} hashes, expected {inner + border} "
                f"for index {index} in a tree of size {size}"
            )
        proof = tuple(proof)
        if self._last is not None and self._continues(bytes(leaf_hash), index, inner, proof):
            return
        checked = _check_proof(proof)
        nodes, ks = _path_levels(leaf_hash, index, inner, checked)
        if nodes[-1] != self.root:
            raise InvalidProof(
                f"inclusion proof for index {index} in a tree of size {size} leads to root "
                f"{nodes[-1].hex()}, expected {self.root.hex()}"
            )
        self._last = (index, tuple(checked), nodes, ks)

    def _continues(
        self, leaf_hash: bytes, index: int, inner: int, proof: tuple[bytes, ...]
    ) -> bool:
        """Whether ``proof`` continues the last verified path (then it is the new last one).

        Hashes only below the level where the two paths meet; from there the node must be
        the last path's and the rest of the proof the rest of the last proof.
        """
        assert self._last is not None
        last_index, last_proof, last_nodes, last_ks = self._last
        meet = (index ^ last_index).bit_length()
        node = leaf_hash
        nodes = [node]
        ks = [0]
        k = 0
        position = index
        # At an inner level the sibling is on either side; above, on the right border, a
        # level has a (left) sibling only where the position is odd.
        for level in range(meet):
            if level < inner or position & 1:
                sibling = proof[k]
                if type(sibling) is not bytes or len(sibling) != HASH_SIZE:
                    return False  # the full check names it
                k += 1
                if position & 1:
                    node = _sha256(_NODE_PREFIX + sibling + node).digest()
                else:
                    node = _sha256(_NODE_PREFIX + node + sibling).digest()
            position >>= 1
            nodes.append(node)
            ks.append(k)
        if node != last_nodes[meet] or proof[k:] != last_proof[last_ks[meet] :]:
            return False
        # The levels above are the last path's: update the levels below in place.
        shift = k - last_ks[meet]
        last_nodes[: meet + 1] = nodes
        last_ks[: meet + 1] = ks
        if shift:
            last_ks[meet + 1 :] = [x + shift for x in last_ks[meet + 1 :]]
        self._last = (index, proof, last_nodes, last_ks)
        return True


def _path_levels(
    leaf_hash: bytes, index: int, inner: int, proof: list[bytes]
) -> tuple[list[bytes], list[int]]:
    """The node at every level of a verified path, and where the proof stands at each."""
    node = bytes(leaf_hash)
    nodes: list[bytes] = []
    ks: list[int] = []
    level, position, k = 0, index, 0
    while True:
        nodes.append(node)
        ks.append(k)
        if k == len(proof):
            return nodes, ks
        if level < inner or position & 1:
            sibling = proof[k]
            k += 1
            if position & 1:
                node = _sha256(_NODE_PREFIX + sibling + node).digest()
            else:
                node = _sha256(_NODE_PREFIX + node + sibling).digest()
        level += 1
        position >>= 1


def _check_size(value: int, what: str) -> None:
    # bool is an int subclass; a True tree size is a caller bug, not size 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidProof(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise InvalidProof(f"{what} {value} is outside [0, 2**63)")


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidProof(f"{what} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise InvalidProof(f"{what} has {len(value)} bytes, expected {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes]) -> list[bytes]:
    # The cap comes before looking at the hashes, so an oversized proof costs nothing.
    if len(proof) > MAX_PROOF_LENGTH:
        raise InvalidProof(f"proof has {len(proof)} hashes, at most {MAX_PROOF_LENGTH} allowed")
    out = list(proof)
    # The common case in two C-level passes; the loop only to name the bad hash.
    if set(map(type, out)) <= {bytes} and set(map(len, out)) <= {HASH_SIZE}:
        return out
    for i, h in enumerate(proof):
        _check_hash(h, f"proof[{i}]")
    return [bytes(h) for h in proof]


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _decompose_inclusion_proof(index: int, size: int) -> tuple[int, int]:
    """Split the inclusion proof for ``index`` in a tree of ``size`` into (inner, border) lengths.

    The split is where the paths to ``index`` and to ``size - 1`` diverge: below it the path
    has a sibling on every level (inner), above it only where ``index`` has a 1 bit, i.e. where
    a complete left subtree hangs off the right border (border).
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Hash up from ``seed`` at ``index`` through siblings on both sides (lowest level first)."""
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 0:
            seed = _sha256(_NODE_PREFIX + seed + h).digest()
        else:
            seed = _sha256(_NODE_PREFIX + h + seed).digest()
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Like :func:`_chain_inner` but only through left siblings: the subtree's earlier version."""
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = _sha256(_NODE_PREFIX + h + seed).digest()
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    """Hash up the right border, where every sibling in ``proof`` is a left subtree."""
    for h in proof:
        seed = _sha256(_NODE_PREFIX + h + seed).digest()
    return seed
