"""Vectors for the transparency log (docs/spec/log.md): ``merkle_inclusion.json``,
``merkle_consistency.json``, ``checkpoint.json``.

Everything here is a second reading of the specifications, independent of ``sdk/tlog``: the
Merkle tree hash, audit paths and consistency proofs are the recursive definitions of RFC 9162
§2.1 written out below with hashlib, and signed notes are assembled by hand from
c2sp.org/signed-note and c2sp.org/tlog-checkpoint with raw Ed25519 signatures from
cryptography, over keys derived from fixed labels (Ed25519 is deterministic, so every run gives
the same bytes). ``tests/sdk/tlog/test_vectors_tlog.py`` runs every case against the SDK.

Test fields:

* ``merkle_inclusion.json``: ``leafHex`` (the leaf *data*; its leaf hash is
  ``SHA-256(0x00 || data)``), ``index``, ``treeSize``, ``proof`` (hex hashes, lowest level
  first), ``rootHex``. Valid: ``verify_inclusion`` accepts; invalid: it rejects.
* ``merkle_consistency.json``: ``size1``, ``size2``, ``root1Hex``, ``root2Hex``, ``proof``.
* ``checkpoint.json``: ``note`` (the full signed note text), ``verifierKey`` (the log's vkey),
  ``origin`` (the origin the verifier expects). Valid: ``verify_checkpoint`` returns the
  checkpoint, and the test's ``size``/``rootHex`` give what it must contain.

Not shipped: this module is only imported by ``scripts/gen_vectors.py`` and the tests.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["checkpoint", "merkle_consistency", "merkle_inclusion"]

INCLUSION_REQUIREMENTS = ["CXP-LOG-001", "CXP-LOG-002", "CXP-LOG-004"]
CONSISTENCY_REQUIREMENTS = ["CXP-LOG-001", "CXP-LOG-003", "CXP-LOG-004"]
CHECKPOINT_REQUIREMENTS = [
    "CXP-LOG-005",
    "CXP-LOG-006",
    "CXP-LOG-007",
    "CXP-LOG-008",
    "CXP-LOG-011",
]

MAX_SIZE = 2**63 - 1
EMPTY_ROOT = hashlib.sha256(b"").digest()
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

# RFC 6962 test data, as published with transparency-dev/merkle (proof/verify_test.go).
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

# --------------------------------------------------------------------------------------------
# RFC 9162 §2.1, written from the RFC
# --------------------------------------------------------------------------------------------


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class _RefTree:
    """MTH, PATH and PROOF of RFC 9162 §2.1.1-2.1.4 over leaves given by ``data(i)``.

    With ``uniform=True`` every leaf has the same data, so a subtree's hash depends only on its
    size; that makes trees of up to 2**64 - 1 leaves computable for the large-size vectors.
    """

    def __init__(self, data: Callable[[int], bytes], *, uniform: bool = False) -> None:
        self.data = data
        self.uniform = uniform
        self._memo: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        key = (0, hi - lo) if self.uniform else (lo, hi)
        if key not in self._memo:
            n = hi - lo
            if n == 0:
                value = hashlib.sha256(b"").digest()
            elif n == 1:
                value = _leaf(self.data(lo))
            else:
                k = _split(n)
                value = _node(self.mth(lo, lo + k), self.mth(lo + k, hi))
            self._memo[key] = value
        return self._memo[key]

    def root(self, n: int) -> bytes:
        return self.mth(0, n)

    def path(self, m: int, n: int) -> list[bytes]:
        """PATH(m, D[0:n]): the audit path of leaf m, lowest level first."""
        return self._path(m, 0, n)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[0:n]) for 0 < m < n."""
        return self._subproof(m, 0, n, True)

    def _subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [self.mth(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, complete), self.mth(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]


RFC_TREE = _RefTree(lambda i: RFC6962_LEAVES[i])
GEN_TREE = _RefTree(lambda i: b"cxp vectors leaf %d" % i)
GEN_TREE_SIZE = 70
UNIFORM_DATA = b"cxp vectors uniform leaf"
UNIFORM_TREE = _RefTree(lambda i: UNIFORM_DATA, uniform=True)


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------


class _Tests:
    """Collects test cases, numbering them per file."""

    def __init__(self) -> None:
        self.next_id = 1

    def case(self, comment: str, flags: list[str], result: str, **fields: Any) -> dict[str, Any]:
        test = {
            "tcId": self.next_id,
            "comment": comment,
            "flags": flags,
            **fields,
            "result": result,
        }
        self.next_id += 1
        return test


def _hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def _flip(data: bytes, byte: int, bit: int) -> bytes:
    out = bytearray(data)
    out[byte] ^= 1 << bit
    return bytes(out)


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _document(
    algorithm: str, schema: str, notes: dict[str, str], groups: list[dict[str, Any]]
) -> dict[str, Any]:
    used = {flag for g in groups for t in g["tests"] for flag in t["flags"]}
    missing = used - notes.keys()
    if missing:  # every flag must be explained in the file itself
        raise AssertionError(f"flags without a note: {sorted(missing)}")
    return {
        "algorithm": algorithm,
        "schema": schema,
        "numberOfTests": sum(len(g["tests"]) for g in groups),
        "notes": {k: v for k, v in notes.items() if k in used},
        "testGroups": groups,
    }


# --------------------------------------------------------------------------------------------
# merkle_inclusion.json
# --------------------------------------------------------------------------------------------

INCLUSION_NOTES = {
    "HappyPath": "A correct audit path: verification succeeds.",
    "RfcTestData": "The 8-leaf RFC 6962 test tree published with transparency-dev/merkle.",
    "SingleLeafTree": "Tree of one leaf: the proof is empty and the root is the leaf hash.",
    "PowerOfTwoSize": "The tree is perfect: every proof hash is an inner sibling.",
    "FirstLeaf": "Leftmost leaf.",
    "LastLeaf": "Rightmost leaf: the path runs along the right border.",
    "LargeTreeSize": "Tree sizes near 2**63 (all leaves equal, so hashes stay computable): "
    "no 32-bit or float arithmetic.",
    "WrongLeaf": "The leaf data differs from the one the proof was made for.",
    "ModifiedProofBit": "One bit of one proof hash is flipped.",
    "TruncatedProof": "The last proof hash is missing.",
    "ExtendedProof": "An extra hash is appended to the proof.",
    "PrependedProof": "An extra hash is put in front of the proof.",
    "InsertedProofHash": "An extra hash is inserted inside the proof.",
    "WrongIndex": "The index differs from the one the proof was made for (still below the size).",
    "IndexOutOfRange": "The index is not below the tree size.",
    "EmptyTree": "Tree size 0: no leaf can be included.",
    "WrongTreeSize": "The tree size differs from the one the proof was made for.",
    "WrongRoot": "The expected root is another tree's root or a modified one.",
    "WrongHashLength": "A proof hash or the root is not exactly 32 bytes.",
    "ProofTooLong": "More than 64 proof hashes: rejected before any hashing (CXP-LOG-004).",
    "TreeSizeTooLarge": "Tree size not below 2**63: rejected even though the hashes match "
    "(CXP-LOG-004).",
}


def _inclusion_valid(
    t: _Tests, tree: _RefTree, data: bytes, index: int, size: int, flags: list[str], note: str
) -> dict[str, Any]:
    extra = []
    if size == 1:
        extra.append("SingleLeafTree")
    elif _is_pow2(size):
        extra.append("PowerOfTwoSize")
    if size > 1 and index == 0:
        extra.append("FirstLeaf")
    if size > 1 and index == size - 1:
        extra.append("LastLeaf")
    return t.case(
        f"leaf {index} of {size}{note}",
        ["HappyPath", *flags, *extra],
        "valid",
        leafHex=data.hex(),
        index=index,
        treeSize=size,
        proof=_hexes(tree.path(index, size)),
        rootHex=tree.root(size).hex(),
    )


def _inclusion_mutations(
    t: _Tests, tree: _RefTree, data: bytes, index: int, size: int
) -> list[dict[str, Any]]:
    proof = tree.path(index, size)
    root = tree.root(size)
    where = f"leaf {index} of {size}"

    def bad(
        comment: str,
        flags: list[str],
        *,
        leaf: bytes = data,
        i: int = index,
        n: int = size,
        p: list[bytes] = proof,
        r: bytes = root,
    ) -> dict[str, Any]:
        return t.case(
            f"{where}: {comment}",
            flags,
            "invalid",
            leafHex=leaf.hex(),
            index=i,
            treeSize=n,
            proof=_hexes(p),
            rootHex=r.hex(),
        )

    out = [bad("other leaf data", ["WrongLeaf"], leaf=data + b"\x00")]
    for k in range(len(proof)):
        flipped = list(proof)
        flipped[k] = _flip(proof[k], 0, 3)
        out.append(bad(f"proof[{k}] bit 3 of byte 0 flipped", ["ModifiedProofBit"], p=flipped))
    if proof:
        out.append(bad("last proof hash removed", ["TruncatedProof"], p=proof[:-1]))
        out.append(
            bad("proof[0] cut to 31 bytes", ["WrongHashLength"], p=[proof[0][:31], *proof[1:]])
        )
    out.append(bad("root appended to the proof", ["ExtendedProof"], p=[*proof, root]))
    out.append(bad("empty hash appended", ["ExtendedProof", "WrongHashLength"], p=[*proof, b""]))
    out.append(bad("root put in front of the proof", ["PrependedProof"], p=[root, *proof]))
    if len(proof) > 1:
        inserted = [proof[0], SOME_HASH, *proof[1:]]
        out.append(bad("a hash inserted after proof[0]", ["InsertedProofHash"], p=inserted))
    for other, how in [
        (index - 1, "index - 1"),
        (index + 1, "index + 1"),
        (index ^ 2, "index ^ 2"),
    ]:
        if other < 0 or other == index:
            continue
        flags = ["WrongIndex"] if other < size else ["IndexOutOfRange"]
        out.append(bad(how, flags, i=other))
    out.append(bad("index == tree size", ["IndexOutOfRange"], i=size))
    for other, how in [(size * 2, "size * 2"), (size // 2, "size / 2")]:
        if other == size:
            continue
        flags = ["WrongTreeSize"] if index < other else ["WrongTreeSize", "IndexOutOfRange"]
        out.append(bad(how, flags, n=other))
    if size > 1:
        out.append(bad(f"root of size {size - 1}", ["WrongRoot"], r=tree.root(size - 1)))
    out.append(bad("empty-tree root", ["WrongRoot"], r=EMPTY_ROOT))
    out.append(bad("root bit 0 of byte 31 flipped", ["WrongRoot"], r=_flip(root, 31, 0)))
    out.append(bad("root cut to 31 bytes", ["WrongRoot", "WrongHashLength"], r=root[:31]))
    return out


def merkle_inclusion() -> dict[str, Any]:
    """RFC 9162 inclusion proofs: RFC 6962 test data, a 70-leaf tree, bounds, huge sizes."""
    t = _Tests()

    rfc_tests = [
        _inclusion_valid(t, RFC_TREE, RFC6962_LEAVES[i], i, n, ["RfcTestData"], ", RFC 6962 tree")
        for n in range(1, 9)
        for i in range(n)
    ]
    for index, size in [(0, 1), (0, 8), (5, 8), (2, 3), (1, 5), (6, 7), (7, 8), (4, 5)]:
        rfc_tests += _inclusion_mutations(t, RFC_TREE, RFC6962_LEAVES[index], index, size)

    gen_valid = sorted(
        {
            (i, n)
            for n in [2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 70]
            for i in (0, n // 2, n - 2, n - 1)
        }
    )
    gen_tests = [
        _inclusion_valid(t, GEN_TREE, GEN_TREE.data(i), i, n, [], "")
        for n, i in _by_size(gen_valid)
    ]
    for index, size in [(0, 70), (69, 70), (64, 70), (31, 32), (32, 33), (40, 64)]:
        gen_tests += _inclusion_mutations(t, GEN_TREE, GEN_TREE.data(index), index, size)

    edge_tests = [
        t.case(
            "empty tree",
            ["EmptyTree", "IndexOutOfRange"],
            "invalid",
            leafHex="",
            index=0,
            treeSize=0,
            proof=[],
            rootHex=EMPTY_ROOT.hex(),
        ),
        t.case(
            "single leaf, index 1",
            ["SingleLeafTree", "IndexOutOfRange"],
            "invalid",
            leafHex=GEN_TREE.data(0).hex(),
            index=1,
            treeSize=1,
            proof=[],
            rootHex=GEN_TREE.root(1).hex(),
        ),
    ]
    for index, size in [
        (0, MAX_SIZE),
        (2**62 + 12345, MAX_SIZE),
        (MAX_SIZE - 1, MAX_SIZE),
        (2**32 + 7, 2**33 + 3),
        (2**62 - 1, 2**62),
    ]:
        edge_tests.append(
            t.case(
                f"leaf {index} of {size}, all leaves equal",
                ["HappyPath", "LargeTreeSize"],
                "valid",
                leafHex=UNIFORM_DATA.hex(),
                index=index,
                treeSize=size,
                proof=_hexes(UNIFORM_TREE.path(index, size)),
                rootHex=UNIFORM_TREE.root(size).hex(),
            )
        )
    for index, size in [(0, 2**63), (2**63 - 1, 2**63), (5, 2**64 - 1)]:
        edge_tests.append(
            t.case(
                f"leaf {index} of {size}: a correct RFC 9162 proof beyond the size cap",
                ["LargeTreeSize", "TreeSizeTooLarge"],
                "invalid",
                leafHex=UNIFORM_DATA.hex(),
                index=index,
                treeSize=size,
                proof=_hexes(UNIFORM_TREE.path(index, size)),
                rootHex=UNIFORM_TREE.root(size).hex(),
            )
        )
    edge_tests.append(
        t.case(
            "65 proof hashes",
            ["ProofTooLong"],
            "invalid",
            leafHex=GEN_TREE.data(0).hex(),
            index=0,
            treeSize=2,
            proof=_hexes([GEN_TREE.mth(1, 2)] * 65),
            rootHex=GEN_TREE.root(2).hex(),
        )
    )

    description = (
        "Verify that proof is the RFC 9162 §2.1.3.2 audit path of the leaf whose data is leafHex "
        "(leaf hash SHA-256(0x00 || data), log.md CXP-LOG-001) at index in the tree of treeSize "
        "leaves with root rootHex, with the rules of CXP-LOG-002 and CXP-LOG-004: valid cases "
        "verify, invalid ones are rejected."
    )
    groups = [
        {
            "type": "MerkleInclusionVerify",
            "requirements": INCLUSION_REQUIREMENTS,
            "description": f"RFC 6962 test tree. {description}",
            "tests": rfc_tests,
        },
        {
            "type": "MerkleInclusionVerify",
            "requirements": INCLUSION_REQUIREMENTS,
            "description": "Leaf i of a 70-leaf tree is the ASCII text 'cxp vectors leaf <i>' "
            f"(i in decimal). {description}",
            "tests": gen_tests,
        },
        {
            "type": "MerkleInclusionVerify",
            "requirements": INCLUSION_REQUIREMENTS,
            "description": f"Edge cases and bounds. {description}",
            "tests": edge_tests,
        },
    ]
    return _document(
        "RFC9162-SHA256-INCLUSION", "merkle_inclusion_schema.json", INCLUSION_NOTES, groups
    )


def _by_size(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(index, size) pairs as (size, index), ordered by size then index."""
    return sorted((n, i) for i, n in pairs if 0 <= i < n)


# --------------------------------------------------------------------------------------------
# merkle_consistency.json
# --------------------------------------------------------------------------------------------

CONSISTENCY_NOTES = {
    "HappyPath": "A correct consistency proof: verification succeeds.",
    "RfcTestData": "The 8-leaf RFC 6962 test tree published with transparency-dev/merkle.",
    "PowerOfTwoSize1": "size1 is a power of two: its root is the proof's implicit first node.",
    "EqualSizes": "size1 == size2: valid only with an empty proof and equal roots.",
    "Size1Zero": "size1 == 0: valid only with an empty proof and root1 = SHA-256(''); for "
    "size2 == 0 also root2 = SHA-256('').",
    "LargeTreeSize": "Tree sizes near 2**63 (all leaves equal, so hashes stay computable).",
    "WrongSize1": "size1 differs from the one the proof was made for.",
    "WrongSize2": "size2 differs from the one the proof was made for.",
    "Size1GreaterThanSize2": "size1 > size2.",
    "WrongRoot1": "root1 is not the root of the first tree.",
    "WrongRoot2": "root2 is not the root of the second tree.",
    "SwappedRoots": "root1 and root2 are exchanged.",
    "EmptyProof": "The proof is empty although size1 and size2 differ.",
    "NonEmptyProof": "A proof is given where it must be empty.",
    "ModifiedProofBit": "One bit of one proof hash is flipped.",
    "TruncatedProof": "The last proof hash is missing.",
    "ExtendedProof": "An extra hash is appended to the proof.",
    "PrependedProof": "An extra hash is put in front of the proof.",
    "WrongHashLength": "A proof hash or a root is not exactly 32 bytes.",
    "ProofTooLong": "More than 64 proof hashes: rejected before any hashing (CXP-LOG-004).",
    "TreeSizeTooLarge": "A tree size not below 2**63 (CXP-LOG-004).",
}


def _consistency_case(
    t: _Tests,
    comment: str,
    flags: list[str],
    result: str,
    s1: int,
    s2: int,
    r1: bytes,
    r2: bytes,
    proof: list[bytes],
) -> dict[str, Any]:
    return t.case(
        comment,
        flags,
        result,
        size1=s1,
        size2=s2,
        root1Hex=r1.hex(),
        root2Hex=r2.hex(),
        proof=_hexes(proof),
    )


def _consistency_valid(
    t: _Tests, tree: _RefTree, s1: int, s2: int, flags: list[str]
) -> dict[str, Any]:
    extra: list[str] = []
    if s1 == 0:
        extra.append("Size1Zero")
    elif s1 == s2:
        extra.append("EqualSizes")
    elif _is_pow2(s1):
        extra.append("PowerOfTwoSize1")
    proof = [] if s1 in (0, s2) else tree.proof(s1, s2)
    return _consistency_case(
        t,
        f"{s1} -> {s2}",
        ["HappyPath", *flags, *extra],
        "valid",
        s1,
        s2,
        tree.root(s1),
        tree.root(s2),
        proof,
    )


def _consistency_mutations(t: _Tests, tree: _RefTree, s1: int, s2: int) -> list[dict[str, Any]]:
    r1, r2 = tree.root(s1), tree.root(s2)
    proof = tree.proof(s1, s2)
    where = f"{s1} -> {s2}"

    def bad(
        comment: str,
        flags: list[str],
        *,
        a: int = s1,
        b: int = s2,
        x: bytes = r1,
        y: bytes = r2,
        p: list[bytes] = proof,
    ) -> dict[str, Any]:
        return _consistency_case(t, f"{where}: {comment}", flags, "invalid", a, b, x, y, p)

    out = []
    for other, how in [(s1 - 1, "size1 - 1"), (s1 + 1, "size1 + 1"), (s1 ^ 2, "size1 ^ 2")]:
        flags = ["WrongSize1"]
        if other == 0:
            flags.append("Size1Zero")
        if other == s2:
            flags.append("EqualSizes")
        if other > s2:
            flags.append("Size1GreaterThanSize2")
        out.append(bad(how, flags, a=other))
    for other, how in [(s2 * 2, "size2 * 2"), (s2 // 2, "size2 / 2")]:
        flags = ["WrongSize2"]
        if other == s1:
            flags.append("EqualSizes")
        if other < s1:
            flags.append("Size1GreaterThanSize2")
        out.append(bad(how, flags, b=other))
    out += [
        bad("root1 replaced", ["WrongRoot1"], x=SOME_HASH),
        bad("root2 replaced", ["WrongRoot2"], y=SOME_HASH),
        bad("root2 bit 0 of byte 31 flipped", ["WrongRoot2"], y=_flip(r2, 31, 0)),
        bad("roots swapped", ["SwappedRoots"], x=r2, y=r1),
        bad("root1 cut to 31 bytes", ["WrongRoot1", "WrongHashLength"], x=r1[:31]),
        bad("empty proof", ["EmptyProof"], p=[]),
        bad("last proof hash removed", ["TruncatedProof"], p=proof[:-1]),
        bad("root1 appended", ["ExtendedProof"], p=[*proof, r1]),
        bad("root2 appended", ["ExtendedProof"], p=[*proof, r2]),
        bad("empty hash appended", ["ExtendedProof", "WrongHashLength"], p=[*proof, b""]),
        bad("root1 put in front", ["PrependedProof"], p=[r1, *proof]),
        bad("root2 put in front", ["PrependedProof"], p=[r2, *proof]),
        bad("proof[0] repeated in front", ["PrependedProof"], p=[proof[0], *proof]),
    ]
    for k in range(len(proof)):
        flipped = list(proof)
        flipped[k] = _flip(proof[k], 0, 4)
        out.append(bad(f"proof[{k}] bit 4 of byte 0 flipped", ["ModifiedProofBit"], p=flipped))
    return out


def merkle_consistency() -> dict[str, Any]:
    """RFC 9162 consistency proofs: RFC 6962 test data, a 70-leaf tree, edge cases, huge sizes."""
    t = _Tests()

    rfc_tests = [
        _consistency_valid(t, RFC_TREE, s1, s2, ["RfcTestData"])
        for s2 in range(1, 9)
        for s1 in range(0, s2 + 1)
    ]
    for s1, s2 in [(1, 8), (6, 8), (2, 5), (6, 7), (3, 4), (4, 7)]:
        rfc_tests += _consistency_mutations(t, RFC_TREE, s1, s2)

    gen_pairs = [
        (1, 70),
        (7, 64),
        (31, 33),
        (32, 64),
        (33, 70),
        (63, 64),
        (64, 70),
        (69, 70),
        (17, 17),
        (0, 70),
        (13, 50),
        (48, 49),
    ]
    gen_tests = [_consistency_valid(t, GEN_TREE, s1, s2, []) for s1, s2 in gen_pairs]
    for s1, s2 in [(33, 70), (32, 64), (69, 70), (13, 50)]:
        gen_tests += _consistency_mutations(t, GEN_TREE, s1, s2)

    g = GEN_TREE
    edge_tests = [
        _consistency_case(
            t,
            "0 -> 0",
            ["HappyPath", "Size1Zero", "EqualSizes"],
            "valid",
            0,
            0,
            EMPTY_ROOT,
            EMPTY_ROOT,
            [],
        ),
        _consistency_case(
            t,
            "5 -> 4",
            ["Size1GreaterThanSize2"],
            "invalid",
            5,
            4,
            g.root(5),
            g.root(4),
            [],
        ),
        _consistency_case(
            t,
            "9 -> 9 with a proof",
            ["EqualSizes", "NonEmptyProof"],
            "invalid",
            9,
            9,
            g.root(9),
            g.root(9),
            [g.root(9)],
        ),
        _consistency_case(
            t,
            "9 -> 9 with different roots",
            ["EqualSizes", "WrongRoot2"],
            "invalid",
            9,
            9,
            g.root(9),
            g.root(10),
            [],
        ),
        _consistency_case(
            t,
            "0 -> 9 with a proof",
            ["Size1Zero", "NonEmptyProof"],
            "invalid",
            0,
            9,
            EMPTY_ROOT,
            g.root(9),
            [g.root(9)],
        ),
        _consistency_case(
            t,
            "0 -> 9 with root1 not the empty-tree root",
            ["Size1Zero", "WrongRoot1"],
            "invalid",
            0,
            9,
            g.root(1),
            g.root(9),
            [],
        ),
        _consistency_case(
            t,
            "65 proof hashes",
            ["ProofTooLong"],
            "invalid",
            1,
            2,
            g.root(1),
            g.root(2),
            [g.mth(1, 2)] * 65,
        ),
    ]
    u = UNIFORM_TREE
    for s1, s2 in [(1, MAX_SIZE), (2**62, MAX_SIZE), (MAX_SIZE - 1, MAX_SIZE), (3, 2**40 + 5)]:
        edge_tests.append(
            _consistency_case(
                t,
                f"{s1} -> {s2}, all leaves equal",
                ["HappyPath", "LargeTreeSize"],
                "valid",
                s1,
                s2,
                u.root(s1),
                u.root(s2),
                u.proof(s1, s2),
            )
        )
    for s1, s2 in [(2**62 + 1, 2**63), (7, 2**64 - 1)]:
        edge_tests.append(
            _consistency_case(
                t,
                f"{s1} -> {s2}: a correct RFC 9162 proof beyond the size cap",
                ["LargeTreeSize", "TreeSizeTooLarge"],
                "invalid",
                s1,
                s2,
                u.root(s1),
                u.root(s2),
                u.proof(s1, s2),
            )
        )
    # CXP-LOG-003: for 0 -> 0 both roots must be SHA-256(""), not merely equal.
    edge_tests += [
        _consistency_case(
            t,
            "0 -> 0 with two equal roots that are not the empty-tree root",
            ["Size1Zero", "EqualSizes", "WrongRoot1", "WrongRoot2"],
            "invalid",
            0,
            0,
            g.root(1),
            g.root(1),
            [],
        ),
        _consistency_case(
            t,
            "0 -> 0 with root2 not the empty-tree root",
            ["Size1Zero", "EqualSizes", "WrongRoot2"],
            "invalid",
            0,
            0,
            EMPTY_ROOT,
            g.root(1),
            [],
        ),
    ]

    description = (
        "Verify that proof is an RFC 9162 §2.1.4.2 consistency proof from the tree of size1 "
        "leaves with root root1Hex to the tree of size2 leaves with root root2Hex, with the rules "
        "of log.md CXP-LOG-003 and CXP-LOG-004: valid cases verify, invalid ones are rejected."
    )
    groups = [
        {
            "type": "MerkleConsistencyVerify",
            "requirements": CONSISTENCY_REQUIREMENTS,
            "description": f"RFC 6962 test tree. {description}",
            "tests": rfc_tests,
        },
        {
            "type": "MerkleConsistencyVerify",
            "requirements": CONSISTENCY_REQUIREMENTS,
            "description": "Leaf i is the ASCII text 'cxp vectors leaf <i>' (i in decimal). "
            f"{description}",
            "tests": gen_tests,
        },
        {
            "type": "MerkleConsistencyVerify",
            "requirements": CONSISTENCY_REQUIREMENTS,
            "description": f"Edge cases and bounds. {description}",
            "tests": edge_tests,
        },
    ]
    return _document(
        "RFC9162-SHA256-CONSISTENCY", "merkle_consistency_schema.json", CONSISTENCY_NOTES, groups
    )


# --------------------------------------------------------------------------------------------
# checkpoint.json — c2sp.org/signed-note + c2sp.org/tlog-checkpoint, written from the specs
# --------------------------------------------------------------------------------------------

EM_DASH = "\u2014"
LOG_ORIGIN = "gw-a.cxp-vectors.example/log"
OTHER_ORIGIN = "gw-b.cxp-vectors.example/log"
# The Go checksum database's key and two of its signed tree heads: real-world checkpoints.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTES = [
    (
        "go.sum database tree\n31700353\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n",
        "Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61Qqsp"
        "BYwM=",
    ),
    (
        "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n",
        "Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZK"
        "dsQ8=",
    ),
]
# c2sp.org/signed-note's example: a valid note whose text is not a checkpoint.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    f"This is an example message.\n\n{EM_DASH} example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

CHECKPOINT_NOTES = {
    "HappyPath": "A checkpoint signed by the expected log key with the expected origin.",
    "EmptyTree": "Tree size 0 with the empty-tree root.",
    "LargeTreeSize": "Tree size 2**63 - 1, the largest allowed.",
    "ExtensionLines": "Non-empty extension lines after the root line are allowed and kept.",
    "ExternalVector": "A real signed tree head of the Go checksum database (sum.golang.org).",
    "UnknownCosignature": "Signatures from keys the verifier does not know are ignored.",
    "KeyNameCollision": "A signature by another key with the log's name (other key id) is an "
    "unknown signature, not a failing one.",
    "DuplicateSignature": "The log's signature line appears twice.",
    "ManySignatures": "100 signature lines, the most a note may carry.",
    "TooManySignatures": "101 signature lines: rejected before verifying anything.",
    "WrongOrigin": "The checkpoint is valid but names another log than the expected origin.",
    "TamperedBody": "The checkpoint text was changed after signing.",
    "BadSignature": "The signature by the trusted key does not verify.",
    "WrongKeyName": "The signature line names another key: no trusted signature remains.",
    "UnknownKeyId": "The key id in the signature does not match the trusted key.",
    "NoTrustedSignature": "Only keys the verifier does not trust signed the note.",
    "MalformedNote": "The note is not a well-formed signed note.",
    "MalformedSignatureLine": "A signature line is malformed (even if from an unknown key).",
    "ControlCharacter": "A control character other than newline.",
    "NotACheckpoint": "The signed text is not a checkpoint body.",
    "MalformedSize": "The tree size is not canonical ASCII decimal below 2**63.",
    "MalformedRoot": "The root hash is not canonical base64 of 32 bytes.",
    "EmptyOrigin": "The origin line is empty.",
    "EmptyExtensionLine": "An extension line is empty.",
    "DelAndC1": "DEL (U+007F) and C1 controls (U+0080 to U+009F) are not among the forbidden "
    "control characters.",
    "VerifierKeyIdMismatch": "The verifier key string's key id is not the one its name and key "
    "imply: the verifier key is rejected, so the case fails.",
}


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"creditlink tlog vectors " + label.encode()).digest()


class _NoteKey:
    """An Ed25519 note key with its name; key id and encodings follow c2sp.org/signed-note."""

    def __init__(self, name: str, label: str) -> None:
        self.name = name
        self.private = ed25519.Ed25519PrivateKey.from_private_bytes(_seed(label))
        self.public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        # key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]
        self.key_id = hashlib.sha256(name.encode() + b"\n\x01" + self.public).digest()[:4]

    @property
    def vkey(self) -> str:
        material = base64.b64encode(b"\x01" + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def line(self, text: str, *, key_id: bytes | None = None, name: str | None = None) -> str:
        """``— <name> base64(key id || Ed25519 signature over text)`` and a newline."""
        sig = self.private.sign(text.encode())
        blob = base64.b64encode((key_id or self.key_id) + sig).decode()
        return f"{EM_DASH} {name or self.name} {blob}\n"


LOG_KEY = _NoteKey(LOG_ORIGIN, "log a")
OTHER_KEY = _NoteKey(OTHER_ORIGIN, "log b")
IMPOSTOR_KEY = _NoteKey(LOG_ORIGIN, "impostor with the log's name")
WITNESSES = [_NoteKey(f"w{i}.cxp-vectors.example/witness", f"witness {i}") for i in range(100)]
ROOT = GEN_TREE.root(70)


def _body(origin: str, size: int | str, root: bytes | str, *ext: str) -> str:
    root64 = root if isinstance(root, str) else base64.b64encode(root).decode()
    return "".join(f"{line}\n" for line in (origin, str(size), root64, *ext))


def _set_padding_bits(b64: str) -> str:
    """Same bytes, non-canonical spelling: set the unused low bits of the last base64 digit."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = b64.rstrip("=")
    last = alphabet.index(body[-1]) | 1  # 32 bytes: the last digit carries 4 bits + 2 unused
    return body[:-1] + alphabet[last] + b64[len(body) :]


def _signed(text: str, *lines: str) -> str:
    return text + "\n" + "".join(lines)


def checkpoint() -> dict[str, Any]:
    """Signed checkpoints: happy paths, cosignatures, and systematic mutations."""
    t = _Tests()
    vk = LOG_KEY.vkey

    def case(
        comment: str,
        flags: list[str],
        result: str,
        note: str,
        *,
        verifier: str = vk,
        origin: str = LOG_ORIGIN,
        size: int | None = None,
        root: bytes | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"note": note, "verifierKey": verifier, "origin": origin}
        if result == "valid":
            fields["size"] = size
            fields["rootHex"] = root.hex() if root is not None else None
        return t.case(comment, flags, result, **fields)

    body = _body(LOG_ORIGIN, 70, ROOT)
    good = _signed(body, LOG_KEY.line(body))
    valid: list[dict[str, Any]] = [
        case("signed checkpoint", ["HappyPath"], "valid", good, size=70, root=ROOT),
    ]
    empty = _body(LOG_ORIGIN, 0, EMPTY_ROOT)
    valid.append(
        case(
            "empty tree",
            ["HappyPath", "EmptyTree"],
            "valid",
            _signed(empty, LOG_KEY.line(empty)),
            size=0,
            root=EMPTY_ROOT,
        )
    )
    big = _body(LOG_ORIGIN, MAX_SIZE, ROOT)
    valid.append(
        case(
            "size 2**63 - 1",
            ["HappyPath", "LargeTreeSize"],
            "valid",
            _signed(big, LOG_KEY.line(big)),
            size=MAX_SIZE,
            root=ROOT,
        )
    )
    ext = _body(LOG_ORIGIN, 70, ROOT, "ext line one", "\u6269\u5c55 2")
    valid.append(
        case(
            "two extension lines",
            ["HappyPath", "ExtensionLines"],
            "valid",
            _signed(ext, LOG_KEY.line(ext)),
            size=70,
            root=ROOT,
        )
    )
    for text, sig in SUMDB_NOTES:
        size = int(text.split("\n")[1])
        valid.append(
            case(
                f"sum.golang.org tree head {size}",
                ["HappyPath", "ExternalVector"],
                "valid",
                _signed(text, f"{EM_DASH} sum.golang.org {sig}\n"),
                verifier=SUMDB_VKEY,
                origin="go.sum database tree",
                size=size,
                root=base64.b64decode(text.split("\n")[2]),
            )
        )
    w0, w1 = WITNESSES[0], WITNESSES[1]
    valid += [
        case(
            "witness cosignature after the log's",
            ["HappyPath", "UnknownCosignature"],
            "valid",
            _signed(body, LOG_KEY.line(body), w0.line(body)),
            size=70,
            root=ROOT,
        ),
        case(
            "witness cosignatures before the log's",
            ["HappyPath", "UnknownCosignature"],
            "valid",
            _signed(body, w0.line(body), w1.line(body), LOG_KEY.line(body)),
            size=70,
            root=ROOT,
        ),
        case(
            "unknown cosignature that does not verify",
            ["HappyPath", "UnknownCosignature"],
            "valid",
            _signed(body, LOG_KEY.line(body), w0.line(body + "x")),
            size=70,
            root=ROOT,
        ),
        case(
            "another key with the log's name",
            ["HappyPath", "UnknownCosignature", "KeyNameCollision"],
            "valid",
            _signed(body, IMPOSTOR_KEY.line(body), LOG_KEY.line(body)),
            size=70,
            root=ROOT,
        ),
        case(
            "another key with the log's key id",
            ["HappyPath", "UnknownCosignature"],
            "valid",
            _signed(body, OTHER_KEY.line(body, key_id=LOG_KEY.key_id), LOG_KEY.line(body)),
            size=70,
            root=ROOT,
        ),
        case(
            "log signature twice",
            ["HappyPath", "DuplicateSignature"],
            "valid",
            _signed(body, LOG_KEY.line(body), LOG_KEY.line(body)),
            size=70,
            root=ROOT,
        ),
        case(
            "100 signatures",
            ["HappyPath", "UnknownCosignature", "ManySignatures"],
            "valid",
            _signed(body, LOG_KEY.line(body), *(w.line(body) for w in WITNESSES[:99])),
            size=70,
            root=ROOT,
        ),
    ]

    sig_line = LOG_KEY.line(body)
    name_part, sig64 = sig_line[:-1].rsplit(" ", 1)
    raw = base64.b64decode(sig64)
    flipped = base64.b64encode(raw[:20] + bytes([raw[20] ^ 1]) + raw[21:]).decode()
    invalid: list[dict[str, Any]] = [
        case(
            "expected origin is another log", ["WrongOrigin"], "invalid", good, origin=OTHER_ORIGIN
        ),
        case(
            "log signs a checkpoint naming another origin",
            ["WrongOrigin"],
            "invalid",
            _signed(_body(OTHER_ORIGIN, 70, ROOT), LOG_KEY.line(_body(OTHER_ORIGIN, 70, ROOT))),
        ),
        case(
            "size changed after signing",
            ["TamperedBody"],
            "invalid",
            good.replace("\n70\n", "\n71\n", 1),
        ),
        case(
            "root changed after signing",
            ["TamperedBody"],
            "invalid",
            good.replace(
                base64.b64encode(ROOT).decode(), base64.b64encode(GEN_TREE.root(69)).decode(), 1
            ),
        ),
        case(
            "origin changed after signing (and expected)",
            ["TamperedBody", "WrongOrigin"],
            "invalid",
            good.replace(LOG_ORIGIN + "\n", OTHER_ORIGIN + "\n", 1),
            origin=OTHER_ORIGIN,
        ),
        case(
            "extension line added after signing",
            ["TamperedBody"],
            "invalid",
            _signed(body + "added\n", sig_line),
        ),
        case(
            "signature bit flipped",
            ["BadSignature"],
            "invalid",
            _signed(body, f"{name_part} {flipped}\n"),
        ),
        case(
            "signature truncated by one byte",
            ["BadSignature"],
            "invalid",
            _signed(body, f"{name_part} {base64.b64encode(raw[:-1]).decode()}\n"),
        ),
        case(
            "valid log signature then a failing one by the same key",
            ["BadSignature", "DuplicateSignature"],
            "invalid",
            _signed(body, sig_line, f"{name_part} {flipped}\n"),
        ),
        case(
            "key name in the signature line changed",
            ["WrongKeyName"],
            "invalid",
            _signed(body, LOG_KEY.line(body, name=OTHER_ORIGIN)),
        ),
        case(
            "key id in the signature changed",
            ["UnknownKeyId"],
            "invalid",
            _signed(body, LOG_KEY.line(body, key_id=b"\x00\x00\x00\x00")),
        ),
        case(
            "signed only by another log",
            ["NoTrustedSignature"],
            "invalid",
            _signed(body, OTHER_KEY.line(body)),
        ),
        case(
            "signed only by witnesses",
            ["NoTrustedSignature", "UnknownCosignature"],
            "invalid",
            _signed(body, w0.line(body), w1.line(body)),
        ),
        case(
            "verifier key of another log",
            ["NoTrustedSignature"],
            "invalid",
            good,
            verifier=OTHER_KEY.vkey,
        ),
        case(
            "101 signatures",
            ["TooManySignatures", "MalformedNote"],
            "invalid",
            _signed(body, LOG_KEY.line(body), *(w.line(body) for w in WITNESSES[:100])),
        ),
        case("no blank line before the signatures", ["MalformedNote"], "invalid", body + sig_line),
        case(
            "hyphen instead of em dash",
            ["MalformedNote"],
            "invalid",
            _signed(body, sig_line.replace(EM_DASH, "-", 1)),
        ),
        case(
            "no space after the em dash",
            ["MalformedNote"],
            "invalid",
            _signed(body, sig_line.replace(EM_DASH + " ", EM_DASH, 1)),
        ),
        case("no final newline", ["MalformedNote"], "invalid", good[:-1]),
        case("text after the signatures", ["MalformedNote"], "invalid", good + "trailing\n"),
        case("blank line after the signatures", ["MalformedNote"], "invalid", good + "\n"),
        case(
            "CRLF line endings",
            ["MalformedNote", "ControlCharacter"],
            "invalid",
            _signed(body.replace("\n", "\r\n"), LOG_KEY.line(body.replace("\n", "\r\n"))),
        ),
        case(
            "tab in the origin, signed",
            ["ControlCharacter"],
            "invalid",
            _signed(
                _body(LOG_ORIGIN + "\t", 70, ROOT), LOG_KEY.line(_body(LOG_ORIGIN + "\t", 70, ROOT))
            ),
            origin=LOG_ORIGIN + "\t",
        ),
        case(
            "unknown signature line with bad base64",
            ["MalformedSignatureLine"],
            "invalid",
            good + f"{EM_DASH} w0.cxp-vectors.example/witness not*base64\n",
        ),
        case(
            "unknown signature line without a signature",
            ["MalformedSignatureLine"],
            "invalid",
            good + f"{EM_DASH} w0.cxp-vectors.example/witness\n",
        ),
        case(
            "unknown signature of 4 bytes (key id only)",
            ["MalformedSignatureLine"],
            "invalid",
            good + f"{EM_DASH} w0.cxp-vectors.example/witness AAAAAA==\n",
        ),
        case(
            "signature base64 with non-zero padding bits",
            ["MalformedSignatureLine"],
            "invalid",
            good + f"{EM_DASH} w0.cxp-vectors.example/witness AAAAAAB=\n",
        ),
        case(
            "key name with a plus sign",
            ["MalformedSignatureLine"],
            "invalid",
            good + f"{EM_DASH} w0+x AAAAAAAA\n",
        ),
        case(
            "c2sp.org/signed-note example: valid note, text is not a checkpoint",
            ["NotACheckpoint", "ExternalVector"],
            "invalid",
            SPEC_NOTE,
            verifier=SPEC_VKEY,
            origin="This is an example message.",
        ),
    ]

    root64 = base64.b64encode(ROOT).decode()
    bodies: list[tuple[str, list[str], str]] = [
        ("origin and size only", ["NotACheckpoint"], f"{LOG_ORIGIN}\n70\n"),
        ("empty origin line", ["EmptyOrigin"], f"\n70\n{root64}\n"),
        ("size with a leading zero", ["MalformedSize"], f"{LOG_ORIGIN}\n070\n{root64}\n"),
        ("size with a plus sign", ["MalformedSize"], f"{LOG_ORIGIN}\n+70\n{root64}\n"),
        ("negative size", ["MalformedSize"], f"{LOG_ORIGIN}\n-70\n{root64}\n"),
        ("size with a trailing space", ["MalformedSize"], f"{LOG_ORIGIN}\n70 \n{root64}\n"),
        ("size in hexadecimal", ["MalformedSize"], f"{LOG_ORIGIN}\n0x46\n{root64}\n"),
        (
            "size in Arabic-Indic digits",
            ["MalformedSize"],
            f"{LOG_ORIGIN}\n\u0667\u0660\n{root64}\n",
        ),
        ("size 2**63", ["MalformedSize"], f"{LOG_ORIGIN}\n{2**63}\n{root64}\n"),
        ("size 2**64", ["MalformedSize"], f"{LOG_ORIGIN}\n{2**64}\n{root64}\n"),
        (
            "root of 31 bytes",
            ["MalformedRoot"],
            f"{LOG_ORIGIN}\n70\n{base64.b64encode(ROOT[:31]).decode()}\n",
        ),
        (
            "root of 33 bytes",
            ["MalformedRoot"],
            f"{LOG_ORIGIN}\n70\n{base64.b64encode(ROOT + b'x').decode()}\n",
        ),
        ("root without padding", ["MalformedRoot"], f"{LOG_ORIGIN}\n70\n{root64.rstrip('=')}\n"),
        (
            "root in URL-safe base64",
            ["MalformedRoot"],
            f"{LOG_ORIGIN}\n70\n{base64.urlsafe_b64encode(bytes([0xFB] * 32)).decode()}\n",
        ),
        ("root in hex", ["MalformedRoot"], f"{LOG_ORIGIN}\n70\n{ROOT.hex()}\n"),
        (
            "root base64 with non-zero padding bits",
            ["MalformedRoot"],
            f"{LOG_ORIGIN}\n70\n{_set_padding_bits(root64)}\n",
        ),
        ("empty extension line", ["EmptyExtensionLine"], f"{LOG_ORIGIN}\n70\n{root64}\n\next\n"),
        ("empty extension line last", ["EmptyExtensionLine"], f"{LOG_ORIGIN}\n70\n{root64}\n\n"),
    ]
    for comment, flags, text in bodies:
        invalid.append(
            case(
                f"{comment}, signed by the log", flags, "invalid", _signed(text, LOG_KEY.line(text))
            )
        )

    # Appended later (tcIds of the cases above stay as they were).
    c1 = _body(LOG_ORIGIN, 70, ROOT, "del \x7f nel \x85 csi \x9b")
    wrong_id = f"{LOG_ORIGIN}+{bytes(a ^ 0xFF for a in LOG_KEY.key_id).hex()}+"
    wrong_id += vk.split("+", 2)[2]
    invalid += [
        case(
            "DEL and C1 characters in an extension line",
            ["HappyPath", "ExtensionLines", "DelAndC1"],
            "valid",
            _signed(c1, LOG_KEY.line(c1)),
            size=70,
            root=ROOT,
        ),
        case(
            "unknown signature line, key name with a no-break space",
            ["MalformedSignatureLine"],
            "invalid",
            good + f"{EM_DASH} w0\u00a0x AAAAAAAA\n",
        ),
        case(
            "unknown signature line, base64 without padding",
            ["MalformedSignatureLine"],
            "invalid",
            good + f"{EM_DASH} w0.cxp-vectors.example/witness AAAAAAA\n",
        ),
        case(
            "unknown signature line, URL-safe base64",
            ["MalformedSignatureLine"],
            "invalid",
            good + f"{EM_DASH} w0.cxp-vectors.example/witness ____----\n",
        ),
        case(
            "verifier key string with a wrong key id",
            ["VerifierKeyIdMismatch"],
            "invalid",
            good,
            verifier=wrong_id,
        ),
    ]

    description = (
        "Parse verifierKey as a verifier key string (log.md CXP-LOG-007), verify note as a "
        "signed note with that one trusted key (CXP-LOG-006, CXP-LOG-007), then parse the "
        "verified text as a checkpoint and compare its origin with origin (CXP-LOG-005, "
        "CXP-LOG-008): a valid case yields tree size size and root hash rootHex; an invalid case "
        "is rejected at one of these steps."
    )
    groups = [
        {
            "type": "CheckpointVerify",
            "requirements": CHECKPOINT_REQUIREMENTS,
            "description": description,
            "tests": valid + invalid,
        }
    ]
    return _document("C2SP-CHECKPOINT-ED25519", "checkpoint_schema.json", CHECKPOINT_NOTES, groups)
