"""Vectors for batch signatures (docs/spec/batch.md): ``batch_signature.json``.

A second reading of the specification, independent of ``sdk/batch.py`` and ``sdk/tlog``: the
Merkle tree hash and audit paths follow RFC 9162's recursive definitions (§2.1.1, §2.1.3.1),
inclusion is checked with the RFC's own iterative algorithm (§2.1.3.2), and PAE, DSSE JSON and
Ed25519 signatures come from ``scripts/vectors/dsse.py`` and cryptography. The expected outcome
of every mutated case is computed by :func:`_expected` from these pieces, not taken from the SDK.

Each test carries the whole batch as received (``headEnvelope`` + ``items``) and one extracted
item (``item``, ``index``, ``auditPath``). Two checks run, both with the group's one trusted key
(threshold 1) and the expected signer ``signerNodeId``: ``verifyBatch`` over ``items`` with
``expectedTypes`` and ``verifyBatched`` over the extracted item with ``expectedType``.
``failures`` names, per check, the reason it must fail with; a check not named must pass; a
case is ``valid`` when ``failures`` is empty.

Not shipped: this module is only imported by ``scripts/gen_vectors.py`` and the tests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from creditlink.v1 import envelope_pb2
from scripts.vectors.dsse import (
    ed25519_key,
    envelope_json,
    flip_bit,
    key_id,
    pae_reference,
    public_pem,
)

__all__ = ["batch_signature", "ref_inclusion_ok", "ref_path", "ref_root"]

HEAD_TYPE = "application/vnd.creditlink.batch-head.v1+protobuf"
RECORD_TYPE = "application/vnd.creditlink.record.v1+protobuf"
ENTRY_TYPE = "application/vnd.creditlink.name-list-entry.v1+protobuf"
SIGNED_AT = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
NODE_ID = "zj-330000"

# --------------------------------------------------------------------------------------------
# RFC 9162 §2.1, from the definitions
# --------------------------------------------------------------------------------------------


def _leaf(item: tuple[str, bytes]) -> bytes:
    """Leaf input = PAE(payload_type, payload)."""
    return pae_reference(item[0].encode(), item[1])


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def ref_root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) for n >= 1 (§2.1.1)."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _k(len(leaves))
    return hashlib.sha256(b"\x01" + ref_root(leaves[:k]) + ref_root(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (§2.1.3.1), leaf to root."""
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_root(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_root(leaves[:k])]


def ref_inclusion_ok(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """The verification algorithm of §2.1.3.2, step by step."""
    if index >= size or len(path) > 64 or any(len(p) != 32 for p in path):
        return False
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf).digest()
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    root: bytes
    count: int
    batch_id: str = "01JNQ3ZP0000000000000000B1"
    signer_node_id: str = NODE_ID
    unknown_field: bool = False
    with_signed_at: bool = True

    def payload(self) -> bytes:
        pb = envelope_pb2.BatchHead(
            root=self.root,
            count=self.count,
            batch_id=self.batch_id,
            signer_node_id=self.signer_node_id,
        )
        if self.with_signed_at:
            pb.signed_at.FromDatetime(SIGNED_AT)
        data = pb.SerializeToString(deterministic=True)
        # Field 15, varint 1: not part of BatchHead.
        return data + (b"\x78\x01" if self.unknown_field else b"")


@dataclass(frozen=True)
class _Case:
    items: list[tuple[str, bytes]]
    head: _Head
    index: int
    item: tuple[str, bytes]
    path: list[bytes]
    head_type: str = HEAD_TYPE
    signer: ed25519.Ed25519PrivateKey | None = None  # None: the trusted key
    sig_bit_flip: int | None = None
    expected_types: list[str] = field(default_factory=lambda: [RECORD_TYPE])
    expected_type: str = RECORD_TYPE


def _items(n: int, tag: str = "") -> list[tuple[str, bytes]]:
    # Distinct, protobuf-shaped payloads of varying length.
    return [
        (RECORD_TYPE, b"\x0a" + bytes([len(p)]) + p)
        for p in (f"record {tag}{i:03d} ".encode() + b"\xe4\xbf\xa1" * (i % 4) for i in range(n))
    ]


def _good(n: int, index: int, tag: str = "") -> _Case:
    items = _items(n, tag)
    leaves = [_leaf(i) for i in items]
    return _Case(
        items=items,
        head=_Head(root=ref_root(leaves), count=n),
        index=index,
        item=items[index],
        path=ref_path(index, leaves),
    )


def _signature(case: _Case, trusted: ed25519.Ed25519PrivateKey) -> tuple[bytes, bytes]:
    payload = case.head.payload()
    sig = (case.signer or trusted).sign(pae_reference(case.head_type.encode(), payload))
    if case.sig_bit_flip is not None:
        sig = flip_bit(sig, case.sig_bit_flip)
    return payload, sig


def _expected(case: _Case, trusted: ed25519.Ed25519PrivateKey) -> dict[str, str]:
    """The outcome of each check, from the spec's step lists (docs/spec/batch.md)."""
    payload, sig = _signature(case, trusted)
    try:
        trusted.public_key().verify(sig, pae_reference(case.head_type.encode(), payload))
        head_error = None
    except InvalidSignature:
        head_error = "INVALID_SIGNATURE"
    head = case.head
    if case.head_type != HEAD_TYPE:
        head_error = "PAYLOAD_TYPE_MISMATCH"
    elif head_error is None and head.unknown_field:
        head_error = "MALFORMED_PAYLOAD"
    elif head_error is None and (
        len(head.root) != 32
        or not 1 <= head.count <= 100_000
        or not 1 <= len(head.batch_id) <= 64
        or not 1 <= len(head.signer_node_id) <= 63
        or not head.with_signed_at
    ):
        head_error = "MALFORMED_BATCH"  # CXP-BATCH-002, on the verified head
    elif head_error is None and head.signer_node_id != NODE_ID:
        head_error = "SIGNER_MISMATCH"  # CXP-BATCH-007: the trusted key is NODE_ID's

    failures: dict[str, str] = {}
    # verifyBatch: types, head, count, root.
    if any(t not in case.expected_types for t, _ in case.items):
        failures["verifyBatch"] = "PAYLOAD_TYPE_MISMATCH"
    elif head_error:
        failures["verifyBatch"] = head_error
    elif case.head.count != len(case.items):
        failures["verifyBatch"] = "COUNT_MISMATCH"
    elif ref_root([_leaf(i) for i in case.items]) != case.head.root:
        failures["verifyBatch"] = "ROOT_MISMATCH"
    # verifyBatched: type, head, index, inclusion.
    if case.item[0] != case.expected_type:
        failures["verifyBatched"] = "PAYLOAD_TYPE_MISMATCH"
    elif head_error:
        failures["verifyBatched"] = head_error
    elif case.index >= case.head.count:
        failures["verifyBatched"] = "INDEX_OUT_OF_RANGE"
    elif not ref_inclusion_ok(
        _leaf(case.item), case.index, case.head.count, case.path, case.head.root
    ):
        failures["verifyBatched"] = "INVALID_INCLUSION_PROOF"
    return failures


def _render(
    tc_id: int, comment: str, flags: list[str], case: _Case, trusted: ed25519.Ed25519PrivateKey
) -> dict[str, Any]:
    payload, sig = _signature(case, trusted)
    signer = case.signer or trusted
    failures = _expected(case, trusted)
    return {
        "tcId": tc_id,
        "comment": comment,
        "flags": flags,
        "headEnvelope": envelope_json(payload, case.head_type, [(key_id(signer), sig)]),
        "items": [{"payloadType": t, "payloadHex": p.hex()} for t, p in case.items],
        "expectedTypes": case.expected_types,
        "index": case.index,
        "item": {"payloadType": case.item[0], "payloadHex": case.item[1].hex()},
        "auditPath": [h.hex() for h in case.path],
        "expectedType": case.expected_type,
        "failures": failures,
        "result": "invalid" if failures else "valid",
    }


_NOTES = {
    "Valid": "A correctly signed batch and a correctly extracted item.",
    "SingleItem": "A batch of one item: the root is the leaf hash, the audit path is empty.",
    "PowerOfTwo": "A full tree.",
    "RightBorder": "The item sits on the right border of an unbalanced tree.",
    "MixedTypes": "Items of several payload types, all expected.",
    "WrongIndex": "The extracted item claims another position.",
    "IndexOutOfRange": "The index is not below the signed count.",
    "ModifiedAuditPath": "One bit of one audit-path hash flipped.",
    "TruncatedAuditPath": "The last audit-path hash removed.",
    "ExtendedAuditPath": "A hash appended to the audit path.",
    "ReorderedAuditPath": "Audit-path hashes in the wrong order.",
    "ItemTampered": "One bit of an item's payload flipped after signing.",
    "ItemTypeTampered": "An item's payload type changed after signing (to a type the verifier "
    "accepts): the type is part of the leaf, so the root or inclusion fails.",
    "UnexpectedItemType": "An item's payload type is not among the expected types.",
    "ItemsReordered": "Two items swapped.",
    "ItemDropped": "An item removed: the signed count no longer matches.",
    "CountMismatch": "The head is validly signed but its count differs from the items.",
    "HeadSignatureBitFlip": "One bit of the head signature flipped.",
    "WrongKey": "The head is signed by an untrusted key.",
    "HeadPayloadType": "The head envelope has a payload type other than batch-head.",
    "HeadUnknownField": "The validly signed head carries a field BatchHead does not define.",
    "HeadFieldConstraint": "The validly signed head breaks a field rule of CXP-BATCH-002 (no "
    "signed_at, count 0): MALFORMED_BATCH, before the count and root checks.",
    "SignerMismatch": "The head verifies under the trusted key of signerNodeId but names "
    "another node as its signer.",
}


def batch_signature() -> dict[str, Any]:
    """Batch heads, items and audit paths: happy paths and systematic mutations."""
    trusted = ed25519_key("batch ed25519 1")
    untrusted = ed25519_key("batch ed25519 untrusted")
    cases: list[tuple[str, list[str], _Case]] = [
        ("batch of 1, item 0", ["Valid", "SingleItem"], _good(1, 0)),
        ("batch of 2, item 1", ["Valid"], _good(2, 1)),
        ("batch of 3, item 2", ["Valid", "RightBorder"], _good(3, 2)),
        ("batch of 7, item 0", ["Valid"], _good(7, 0)),
        ("batch of 7, item 5", ["Valid"], _good(7, 5)),
        ("batch of 7, item 6", ["Valid", "RightBorder"], _good(7, 6)),
        ("batch of 8, item 3", ["Valid", "PowerOfTwo"], _good(8, 3)),
        ("batch of 13, item 12", ["Valid", "RightBorder"], _good(13, 12)),
    ]
    mixed_items = [*_items(4, "m"), (ENTRY_TYPE, b"\x0a\x05entry")]
    mixed_leaves = [_leaf(i) for i in mixed_items]
    cases.append(
        (
            "mixed payload types, extracted item of the second type",
            ["Valid", "MixedTypes"],
            _Case(
                items=mixed_items,
                head=_Head(root=ref_root(mixed_leaves), count=5),
                index=4,
                item=mixed_items[4],
                path=ref_path(4, mixed_leaves),
                expected_types=[RECORD_TYPE, ENTRY_TYPE],
                expected_type=ENTRY_TYPE,
            ),
        )
    )

    base = _good(7, 5)
    path = base.path
    tampered_item = (base.item[0], flip_bit(base.item[1], 20))
    retyped_item = (ENTRY_TYPE, base.item[1])
    swapped = [base.items[1], base.items[0], *base.items[2:]]
    cases += [
        ("index 5 claimed as 4", ["WrongIndex"], replace(base, index=4)),
        ("index 5 claimed as 6", ["WrongIndex"], replace(base, index=6)),
        ("index equal to the count", ["IndexOutOfRange"], replace(base, index=7)),
        ("index 2^64 - 1", ["IndexOutOfRange"], replace(base, index=2**64 - 1)),
        (
            "first audit-path hash modified",
            ["ModifiedAuditPath"],
            replace(base, path=[flip_bit(path[0], 0), *path[1:]]),
        ),
        (
            "last audit-path hash modified",
            ["ModifiedAuditPath"],
            replace(base, path=[*path[:-1], flip_bit(path[-1], 255)]),
        ),
        ("audit path truncated", ["TruncatedAuditPath"], replace(base, path=path[:-1])),
        ("audit path emptied", ["TruncatedAuditPath"], replace(base, path=[])),
        ("audit path extended", ["ExtendedAuditPath"], replace(base, path=[*path, path[0]])),
        ("audit path reversed", ["ReorderedAuditPath"], replace(base, path=path[::-1])),
        (
            "extracted item tampered, batch intact",
            ["ItemTampered"],
            replace(base, item=tampered_item),
        ),
        (
            "item tampered in the batch and when extracted",
            ["ItemTampered"],
            replace(
                base, item=tampered_item, items=[*base.items[:5], tampered_item, *base.items[6:]]
            ),
        ),
        (
            "item type changed to another expected type",
            ["ItemTypeTampered"],
            replace(
                base,
                item=retyped_item,
                items=[*base.items[:5], retyped_item, *base.items[6:]],
                expected_types=[RECORD_TYPE, ENTRY_TYPE],
                expected_type=ENTRY_TYPE,
            ),
        ),
        (
            "item type not expected",
            ["UnexpectedItemType"],
            replace(
                base, item=retyped_item, items=[*base.items[:5], retyped_item, *base.items[6:]]
            ),
        ),
        ("two items swapped in the batch", ["ItemsReordered"], replace(base, items=swapped)),
        ("last item dropped from the batch", ["ItemDropped"], replace(base, items=base.items[:-1])),
        (
            "count 8 over 7 items; item 5's path also fits a tree of 8",
            ["CountMismatch"],
            replace(base, head=replace(base.head, count=8)),
        ),
        (
            "head signed with count 6 over 7 items",
            ["CountMismatch"],
            replace(base, head=replace(base.head, count=6)),
        ),
        (
            "count 8 over 7 items, leftmost item (its path also fits a tree of 8)",
            ["CountMismatch"],
            replace(_good(7, 0), head=replace(_good(7, 0).head, count=8)),
        ),
        ("head signature bit 0 flipped", ["HeadSignatureBitFlip"], replace(base, sig_bit_flip=0)),
        (
            "head signature bit 300 flipped",
            ["HeadSignatureBitFlip"],
            replace(base, sig_bit_flip=300),
        ),
        ("head signed by an untrusted key", ["WrongKey"], replace(base, signer=untrusted)),
        (
            "head envelope typed as a record",
            ["HeadPayloadType"],
            replace(base, head_type=RECORD_TYPE),
        ),
        (
            "signed head with an unknown field",
            ["HeadUnknownField"],
            replace(base, head=replace(base.head, unknown_field=True)),
        ),
        (
            "head names the signer sh-310000, signed with zj-330000's key",
            ["SignerMismatch"],
            replace(base, head=replace(base.head, signer_node_id="sh-310000")),
        ),
        (
            "signed head without signed_at",
            ["HeadFieldConstraint"],
            replace(base, head=replace(base.head, with_signed_at=False)),
        ),
        (
            "signed head with count 0",
            ["HeadFieldConstraint", "CountMismatch"],
            replace(base, head=replace(base.head, count=0)),
        ),
    ]
    tests = [
        _render(i, comment, flags, case, trusted)
        for i, (comment, flags, case) in enumerate(cases, start=1)
    ]
    return {
        "algorithm": "CXP-BATCH-RFC9162-ED25519",
        "schema": "batch_signature_schema.json",
        "numberOfTests": len(tests),
        "notes": _NOTES,
        "testGroups": [
            {
                "type": "BatchSignatureVerify",
                "requirements": [
                    "CXP-BATCH-001",
                    "CXP-BATCH-002",
                    "CXP-BATCH-003",
                    "CXP-BATCH-004",
                    "CXP-BATCH-006",
                    "CXP-BATCH-007",
                    "CXP-ENV-007",
                ],
                "description": "Two checks, each with the one trusted key publicKeyPem "
                "(threshold 1) of node signerNodeId and head type batchHeadPayloadType. "
                "verifyBatch: verify the signed batch made of headEnvelope (DSSE JSON) and items "
                "with the accepted types expectedTypes (batch.md §5). verifyBatched: verify the "
                "extracted item made of item, headEnvelope, index and auditPath with the expected "
                "type expectedType (batch.md §6). failures maps each check that must fail to its "
                "batch.md §7 reason; a check not named must succeed.",
                "publicKeyPem": public_pem(trusted),
                "keyId": key_id(trusted),
                "signerNodeId": NODE_ID,
                "batchHeadPayloadType": HEAD_TYPE,
                "tests": tests,
            }
        ],
    }
