"""Batch signatures: one DSSE signature over the RFC 9162 Merkle root of many items.

A signer serializes each item once, builds the Merkle tree whose leaf ``i`` is
``PAE(items[i].payload_type, items[i].payload)`` (hashed ``SHA-256(0x00 || leaf)``), and signs a
:class:`BatchHead` (root, count, batch id, signer node id, signing time) as a DSSE envelope of
type ``application/vnd.creditlink.batch-head.v1+protobuf`` (docs/spec/batch.md)::

    batch = sign_batch(items, key, signer_node_id="zj-330000", batch_id=ulid, signed_at=now)
    verified = verify_batch(batch, keys=sender_keys, expected_types={record_type})
    one = extract(batch, 7)                        # item 7 + head + audit path
    item = verify_batched(one, keys=sender_keys, expected_type=record_type)   # later, alone

A receiver of the whole batch recomputes the root over all items (no audit paths travel) and
checks the head signature once; an item extracted with its audit path verifies on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NamedTuple

from google.protobuf.message import DecodeError, Message

from creditlink.sdk._internal.frozen import builder
from creditlink.sdk._internal.pae import pae
from creditlink.sdk._internal.strict import has_unknown_fields, parse_strict, unknown_fields_in
from creditlink.sdk.envelope import (
    MAX_PAYLOAD_BYTES,
    Envelope,
    Signature,
    payload_type_for,
    sign,
    verify_signers,
)
from creditlink.sdk.errors import InvalidBatch, InvalidProof
from creditlink.sdk.keys import KeyId, PrivateKey, PublicKey
from creditlink.sdk.tlog.merkle import (
    ProvenNodes,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_inclusion,
)
from creditlink.v1 import envelope_pb2

__all__ = [
    "BATCH_HEAD_TYPE",
    "MAX_AUDIT_PATH",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ITEMS",
    "BatchItem",
    "BatchTree",
    "BatchedEnvelope",
    "SignedBatch",
    "VerifiedBatch",
    "VerifiedBatchItem",
    "VerifiedHeads",
    "extract",
    "extract_all",
    "item_leaf_hash",
    "sign_batch",
    "verify_batch",
    "verify_batched",
]

#: Payload type of the signed :class:`BatchHead` envelope.
BATCH_HEAD_TYPE: Final = payload_type_for("batch-head")
#: Most items in one batch (CXP-BATCH-005).
MAX_BATCH_ITEMS: Final = 100_000
#: Largest total payload size of one batch, in bytes (CXP-BATCH-005).
MAX_BATCH_BYTES: Final = 64 * 1024 * 1024
#: Longest audit path accepted (CXP-BATCH-004).
MAX_AUDIT_PATH: Final = 64
_HASH_SIZE: Final = 32
_MAX_PAYLOAD_TYPE_CHARS: Final = 200
_MAX_BATCH_ID_CHARS: Final = 64
_MAX_NODE_ID_CHARS: Final = 63
# Framing slack of a serialized SignedBatch beyond its payloads.
_MAX_SERIALIZED_BATCH: Final = MAX_BATCH_BYTES + MAX_BATCH_ITEMS * 256 + 1024 * 1024


class BatchItem(NamedTuple):
    """One payload of a batch, serialized once: the bytes and their payload type."""

    payload: bytes
    payload_type: str


def item_leaf_hash(item: BatchItem) -> bytes:
    """The item's RFC 9162 leaf hash: ``SHA-256(0x00 || PAE(payload_type, payload))``."""
    return leaf_hash(pae(item.payload_type, item.payload))


def _check_items(items: Sequence[BatchItem]) -> None:
    """Structural limits of a batch (CXP-BATCH-005), before any hashing or crypto."""
    if not items:
        raise InvalidBatch("batch has no items", reason="MALFORMED_BATCH")
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidBatch(
            f"batch has {len(items)} items, at most {MAX_BATCH_ITEMS} allowed",
            reason="LIMIT_EXCEEDED",
        )
    total = 0
    for item in items:
        _check_item(item)
        total += len(item.payload)
    if total > MAX_BATCH_BYTES:
        raise InvalidBatch(
            f"batch payloads exceed {MAX_BATCH_BYTES} bytes", reason="LIMIT_EXCEEDED"
        )


def _check_item(item: BatchItem) -> None:
    payload, payload_type = item
    if not isinstance(payload, bytes) or not payload or len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidBatch(
            f"item payload must have 1 to {MAX_PAYLOAD_BYTES} bytes", reason="MALFORMED_BATCH"
        )
    if not isinstance(payload_type, str) or not 0 < len(payload_type) <= _MAX_PAYLOAD_TYPE_CHARS:
        raise InvalidBatch(
            f"item payload type must have 1 to {_MAX_PAYLOAD_TYPE_CHARS} characters",
            reason="MALFORMED_BATCH",
        )


def _parse(message_cls: type[Message], data: bytes, what: str) -> Message:
    message = message_cls()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise InvalidBatch(f"not a valid {what}", reason="MALFORMED_BATCH") from exc
    if unknown_fields_in(message, data):
        raise InvalidBatch(f"{what} has unknown fields", reason="MALFORMED_BATCH")
    return message


# --------------------------------------------------------------------------------------------
# Wire wrappers
# --------------------------------------------------------------------------------------------


class SignedBatch:
    """A signed head and all its items in leaf order (proto ``SignedBatch``).

    Built by :func:`sign_batch` or from the wire (:meth:`from_bytes`, :meth:`from_proto`);
    construction checks the limits, nothing is verified until :func:`verify_batch`.
    """

    __slots__ = ("_batch_tree", "_head", "_items")

    _head: Envelope
    _items: tuple[BatchItem, ...]
    _batch_tree: BatchTree | None

    def __init__(self, *, head: Envelope, items: Iterable[BatchItem]) -> None:
        """Check the batch limits; prefer :func:`sign_batch` or the ``from_*`` constructors."""
        items = tuple(BatchItem(*item) for item in items)
        _check_items(items)
        self._head = head
        self._items = items
        self._batch_tree = None

    @property
    def head(self) -> Envelope:
        """The envelope holding the signed ``BatchHead`` (unverified)."""
        return self._head

    @property
    def items(self) -> tuple[BatchItem, ...]:
        """The items in leaf order (unverified)."""
        return self._items

    @classmethod
    def from_proto(cls, pb: envelope_pb2.SignedBatch) -> SignedBatch:
        """Build from a ``creditlink.v1.SignedBatch`` message (unknown fields are refused)."""
        if has_unknown_fields(pb):
            raise InvalidBatch("signed batch has unknown fields", reason="MALFORMED_BATCH")
        return cls._from_checked(pb)

    @classmethod
    def _from_checked(cls, pb: envelope_pb2.SignedBatch) -> SignedBatch:
        # ``pb`` is known to hold no unknown fields (the tree walk is the costly part).
        if not pb.HasField("head"):
            raise InvalidBatch("signed batch has no head", reason="MALFORMED_BATCH")
        if len(pb.items) > MAX_BATCH_ITEMS:
            raise InvalidBatch(
                f"batch has more than {MAX_BATCH_ITEMS} items", reason="LIMIT_EXCEEDED"
            )
        return cls(
            head=Envelope.from_proto(pb.head),
            items=[BatchItem(i.payload, i.payload_type) for i in pb.items],
        )

    def to_proto(self) -> envelope_pb2.SignedBatch:
        """The ``creditlink.v1.SignedBatch`` message."""
        return envelope_pb2.SignedBatch(
            head=self._head.to_proto(),
            items=[envelope_pb2.BatchItem(payload=p, payload_type=t) for p, t in self._items],
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedBatch:
        """Parse a binary ``creditlink.v1.SignedBatch`` (size-limited, strict)."""
        if len(data) > _MAX_SERIALIZED_BATCH:
            raise InvalidBatch("serialized batch is too large", reason="LIMIT_EXCEEDED")
        pb = _parse(envelope_pb2.SignedBatch, data, "creditlink.v1.SignedBatch")
        assert isinstance(pb, envelope_pb2.SignedBatch)
        return cls._from_checked(pb)

    def to_bytes(self) -> bytes:
        """The binary ``creditlink.v1.SignedBatch``."""
        return self.to_proto().SerializeToString(deterministic=True)

    def _tree(self) -> BatchTree:
        # Built once per batch and kept: extracting every item costs O(n log n) in total.
        if self._batch_tree is None:
            self._batch_tree = BatchTree([item_leaf_hash(item) for item in self._items])
        return self._batch_tree

    def __repr__(self) -> str:
        return f"SignedBatch(items={len(self._items)})"


class BatchedEnvelope:
    """One item of a signed batch with the signed head and its audit path (proto
    ``BatchedEnvelope``); verifiable on its own with :func:`verify_batched`."""

    __slots__ = ("_audit_path", "_head", "_index", "_item")

    _item: BatchItem
    _head: Envelope
    _index: int
    _audit_path: tuple[bytes, ...]

    def __init__(
        self, *, item: BatchItem, head: Envelope, index: int, audit_path: Iterable[bytes]
    ) -> None:
        """Check structure and limits (CXP-BATCH-004); prefer :func:`extract` or ``from_*``."""
        item = BatchItem(*item)
        _check_item(item)
        audit_path = tuple(audit_path)
        if len(audit_path) > MAX_AUDIT_PATH:
            raise InvalidBatch(
                f"audit path has {len(audit_path)} hashes, at most {MAX_AUDIT_PATH} allowed",
                reason="LIMIT_EXCEEDED",
            )
        # Two C-level passes over the path instead of a Python loop: this runs for every item
        # a feed reader receives.
        all_bytes = set(map(type, audit_path)) <= {bytes}
        if not all_bytes or not set(map(len, audit_path)) <= {_HASH_SIZE}:
            raise InvalidBatch("audit path hashes must be 32 bytes", reason="MALFORMED_BATCH")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 2**64:
            raise InvalidBatch("index must be an unsigned 64-bit integer", reason="MALFORMED_BATCH")
        self._item = item
        self._head = head
        self._index = index
        self._audit_path = audit_path

    @property
    def item(self) -> BatchItem:
        """The item (unverified)."""
        return self._item

    @property
    def head(self) -> Envelope:
        """The envelope holding the signed ``BatchHead`` (unverified)."""
        return self._head

    @property
    def index(self) -> int:
        """Zero-based leaf index of the item (unverified)."""
        return self._index

    @property
    def audit_path(self) -> tuple[bytes, ...]:
        """RFC 9162 audit path from the leaf to the root (unverified)."""
        return self._audit_path

    @classmethod
    def from_proto(cls, pb: envelope_pb2.BatchedEnvelope) -> BatchedEnvelope:
        """Build from a ``creditlink.v1.BatchedEnvelope`` (unknown fields are refused)."""
        if has_unknown_fields(pb):
            raise InvalidBatch("batched envelope has unknown fields", reason="MALFORMED_BATCH")
        if not (pb.HasField("item") and pb.HasField("head")):
            raise InvalidBatch("batched envelope lacks its item or head", reason="MALFORMED_BATCH")
        if len(pb.audit_path) > MAX_AUDIT_PATH:
            raise InvalidBatch("audit path is too long", reason="LIMIT_EXCEEDED")
        head = pb.head
        return cls(
            item=BatchItem(pb.item.payload, pb.item.payload_type),
            # The whole tree was checked for unknown fields above: not the head again.
            head=Envelope(
                payload=head.payload,
                payload_type=head.payload_type,
                signatures=[Signature(s.keyid, s.sig) for s in head.signatures],
            ),
            index=pb.index,
            audit_path=pb.audit_path,
        )

    def to_proto(self) -> envelope_pb2.BatchedEnvelope:
        """The ``creditlink.v1.BatchedEnvelope`` message."""
        return envelope_pb2.BatchedEnvelope(
            item=envelope_pb2.BatchItem(
                payload=self._item.payload, payload_type=self._item.payload_type
            ),
            head=self._head.to_proto(),
            index=self._index,
            audit_path=self._audit_path,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> BatchedEnvelope:
        """Parse a binary ``creditlink.v1.BatchedEnvelope`` (size-limited, strict)."""
        if len(data) > 2 * MAX_PAYLOAD_BYTES + 1024 * 1024:
            raise InvalidBatch("serialized batched envelope is too large", reason="LIMIT_EXCEEDED")
        pb = _parse(envelope_pb2.BatchedEnvelope, data, "creditlink.v1.BatchedEnvelope")
        assert isinstance(pb, envelope_pb2.BatchedEnvelope)
        return cls.from_proto(pb)

    def to_bytes(self) -> bytes:
        """The binary ``creditlink.v1.BatchedEnvelope``."""
        return self.to_proto().SerializeToString(deterministic=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchedEnvelope):
            return NotImplemented
        return (
            self._item == other._item
            and self._head == other._head
            and self._index == other._index
            and self._audit_path == other._audit_path
        )

    def __hash__(self) -> int:
        return hash((self._item, self._head, self._index, self._audit_path))

    def __repr__(self) -> str:
        return f"BatchedEnvelope(index={self._index}, path={len(self._audit_path)} hashes)"


# --------------------------------------------------------------------------------------------
# Verified results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedBatch:
    """A batch whose head signature and root verified: the signed head fields and the items.

    ``signer_node_id`` is the node the head names; the caller passes ``expected_signer`` (the
    node the ``keys`` belong to) or compares it itself (CXP-BATCH-007).
    """

    root: bytes
    count: int
    batch_id: str
    signer_node_id: str
    signed_at: datetime
    items: tuple[BatchItem, ...]
    signer_key_ids: tuple[KeyId, ...]
    #: RFC 9162 leaf hash of each item, in order (computed for the root; reusable by a log).
    leaf_hashes: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class VerifiedBatchItem:
    """One item proven to be in a signed batch: the item and the signed head fields."""

    item: BatchItem
    index: int
    root: bytes
    count: int
    batch_id: str
    signer_node_id: str
    signed_at: datetime
    signer_key_ids: tuple[KeyId, ...]


#: ``VerifiedBatchItem(...)`` for every item verified, without the frozen dataclass's ``__init__``.
_new_verified_item: Final = builder(VerifiedBatchItem)


@dataclass(frozen=True, slots=True)
class _Head:
    root: bytes
    count: int
    batch_id: str
    signer_node_id: str
    signed_at: datetime


def _verified_head(
    head: Envelope, keys: Sequence[PublicKey], threshold: int, expected_signer: str | None
) -> tuple[_Head, tuple[KeyId, ...]]:
    """Verify the head envelope, THEN parse the head strictly and check its fields."""
    key_ids = verify_signers(head, keys=keys, expected_type=BATCH_HEAD_TYPE, threshold=threshold)
    pb = parse_strict(envelope_pb2.BatchHead, head.payload)
    if (
        len(pb.root) != _HASH_SIZE
        or not 1 <= pb.count <= MAX_BATCH_ITEMS
        or not 0 < len(pb.batch_id) <= _MAX_BATCH_ID_CHARS
        or not 0 < len(pb.signer_node_id) <= _MAX_NODE_ID_CHARS
        or not pb.HasField("signed_at")
    ):
        raise InvalidBatch("batch head violates its field constraints", reason="MALFORMED_BATCH")
    if expected_signer is not None and pb.signer_node_id != expected_signer:
        raise InvalidBatch(
            f"batch head names signer {pb.signer_node_id!r}, expected {expected_signer!r}",
            reason="SIGNER_MISMATCH",
        )
    parsed = _Head(
        root=pb.root,
        count=pb.count,
        batch_id=pb.batch_id,
        signer_node_id=pb.signer_node_id,
        signed_at=pb.signed_at.ToDatetime(tzinfo=UTC),
    )
    return parsed, key_ids


# --------------------------------------------------------------------------------------------
# Signing, verification, extraction
# --------------------------------------------------------------------------------------------


def sign_batch(
    items: Sequence[BatchItem],
    signer: PrivateKey,
    *,
    signer_node_id: str,
    batch_id: str,
    signed_at: datetime,
) -> SignedBatch:
    """Sign ``items`` (already serialized) with ONE signature over their Merkle root."""
    items = tuple(BatchItem(*item) for item in items)
    _check_items(items)
    if signed_at.tzinfo is None:
        raise ValueError("signed_at must be timezone-aware")
    if not 0 < len(batch_id) <= _MAX_BATCH_ID_CHARS:
        raise ValueError(f"batch_id must have 1 to {_MAX_BATCH_ID_CHARS} characters")
    if not 0 < len(signer_node_id) <= _MAX_NODE_ID_CHARS:
        raise ValueError(f"signer_node_id must have 1 to {_MAX_NODE_ID_CHARS} characters")
    tree = BatchTree([item_leaf_hash(item) for item in items])
    head = envelope_pb2.BatchHead(
        root=tree.root,
        count=len(items),
        batch_id=batch_id,
        signer_node_id=signer_node_id,
    )
    head.signed_at.FromDatetime(signed_at.astimezone(UTC))
    # Serialize once; those bytes are what is signed and what travels.
    envelope = sign(head.SerializeToString(deterministic=True), BATCH_HEAD_TYPE, [signer])
    batch = SignedBatch(head=envelope, items=items)
    batch._batch_tree = tree
    return batch


def verify_batch(
    batch: SignedBatch,
    *,
    keys: Sequence[PublicKey],
    expected_types: Collection[str],
    threshold: int = 1,
    expected_signer: str | None = None,
) -> VerifiedBatch:
    """Verify a whole batch with one signature check (docs/spec/batch.md, "Verifying a batch").

    1. limits were checked when ``batch`` was built (CXP-BATCH-005);
    2. every item's payload type is in ``expected_types`` (``PAYLOAD_TYPE_MISMATCH``);
    3. the head envelope verifies under ``keys`` with type ``BATCH_HEAD_TYPE`` (once);
    4. only then the ``BatchHead`` is parsed strictly, and its ``signer_node_id`` compared with
       ``expected_signer`` when given (``SIGNER_MISMATCH``, CXP-BATCH-007);
    5. ``count`` equals the number of items (``COUNT_MISMATCH``);
    6. the root recomputed over all items equals the signed root (``ROOT_MISMATCH``).

    Raises :class:`InvalidBatch` or :class:`InvalidEnvelope`.
    """
    items = batch._items
    # Step 2: cheap, before any crypto. A set lookup per item keeps it O(n).
    allowed = frozenset(expected_types)
    for item in items:
        if item.payload_type not in allowed:
            raise InvalidBatch(
                f"item payload type {item.payload_type!r} is not expected",
                reason="PAYLOAD_TYPE_MISMATCH",
            )
    # Steps 3-4.
    head, key_ids = _verified_head(batch._head, keys, threshold, expected_signer)
    # Step 5.
    if head.count != len(items):
        raise InvalidBatch(
            f"head counts {head.count} items, batch has {len(items)}", reason="COUNT_MISMATCH"
        )
    # Step 6: the whole tree, no per-item paths.
    leaves = tuple(leaf_hash(pae(t, p)) for p, t in items)
    root = root_from_leaf_hashes(leaves)
    if root != head.root:
        raise InvalidBatch("items do not hash to the signed root", reason="ROOT_MISMATCH")
    return VerifiedBatch(
        root=head.root,
        count=head.count,
        batch_id=head.batch_id,
        signer_node_id=head.signer_node_id,
        signed_at=head.signed_at,
        items=items,
        signer_key_ids=key_ids,
        leaf_hashes=leaves,
    )


def extract(batch: SignedBatch, index: int) -> BatchedEnvelope:
    """Item ``index`` of ``batch`` with the head and its audit path (verify with
    :func:`verify_batched`). Raises ``IndexError`` for an index outside the batch."""
    if not 0 <= index < len(batch._items):
        raise IndexError(f"batch has {len(batch._items)} items, no index {index}")
    return BatchedEnvelope(
        item=batch._items[index],
        head=batch._head,
        index=index,
        audit_path=batch._tree().audit_path(index),
    )


def extract_all(batch: SignedBatch) -> list[BatchedEnvelope]:
    """Every item of ``batch`` as a :class:`BatchedEnvelope`, in O(n log n) hashes in total."""
    tree = batch._tree()
    return [
        BatchedEnvelope(item=item, head=batch._head, index=i, audit_path=tree.audit_path(i))
        for i, item in enumerate(batch._items)
    ]


class VerifiedHeads:
    """A bounded memo of batch heads already verified, for verifying many items of one batch.

    Every item extracted from a batch carries the same head; verifying its signature again for
    each item is the costliest step of :func:`verify_batched` (one Ed25519 check per item). A
    hit needs the same head (payload, type and signatures), the same keys (by key id, a digest
    of the public key), threshold and expected signer: exactly the inputs of the check, so the
    memo returns what verifying again would. Failures are not remembered. For the most recent
    heads it also keeps the audit path verified last under their signed root
    (:class:`~creditlink.sdk.tlog.merkle.ProvenNodes`), so consecutive items of a batch hash
    about two nodes each instead of a whole path. Safe to share between threads.
    """

    __slots__ = ("_entries", "_last_head", "_last_verified", "_lock", "_proven", "_size")

    #: Heads whose last verified path is kept: items of one batch arrive together, so a few
    #: suffice.
    _PROVEN_HEADS: Final = 4

    def __init__(self, size: int = 64) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._size = size
        self._entries: dict[tuple[object, ...], tuple[_Head, tuple[KeyId, ...]]] = {}
        self._proven: dict[tuple[object, ...], ProvenNodes] = {}
        self._last_head: tuple[bytes, Envelope] | None = None
        self._last_verified: (
            tuple[
                Envelope,
                list[PublicKey],
                int,
                str | None,
                tuple[tuple[object, ...], _Head, tuple[KeyId, ...]],
            ]
            | None
        ) = None
        self._lock = threading.Lock()

    def verified(
        self, head: Envelope, keys: Sequence[PublicKey], threshold: int, signer: str | None
    ) -> tuple[_Head, tuple[KeyId, ...]]:
        """The head verified as :func:`verify_batched` verifies it, from the memo if there."""
        _, verified, key_ids = self._verified(head, keys, threshold, signer)
        return verified, key_ids

    def _verified(
        self, head: Envelope, keys: Sequence[PublicKey], threshold: int, signer: str | None
    ) -> tuple[tuple[object, ...], _Head, tuple[KeyId, ...]]:
        # The items of a batch ask about the very same head object (batched_from_proto shares
        # it) with equal keys, one after another: answer those without building the memo key.
        last = self._last_verified
        if (
            last is not None
            and last[0] is head
            and last[2] == threshold
            and last[3] == signer
            and last[1] == keys
        ):
            return last[4]
        key = (
            head.payload,
            head.payload_type,
            head.signatures,
            tuple(k.key_id for k in keys),
            threshold,
            signer,
        )
        found = self._entries.get(key)
        if found is None:
            found = _verified_head(head, keys, threshold, signer)
            with self._lock:
                if len(self._entries) >= self._size:
                    del self._entries[next(iter(self._entries))]  # the oldest
                self._entries[key] = found
        answer = (key, found[0], found[1])
        self._last_verified = (head, list(keys), threshold, signer, answer)
        return answer

    def batched_from_proto(self, pb: envelope_pb2.BatchedEnvelope) -> BatchedEnvelope:
        """:meth:`BatchedEnvelope.from_proto`, sharing one head among the items of a batch.

        The items of a batch arrive one after another with byte-identical heads; the head
        checked and built for the previous item is reused when the serialized head is the
        same (equal bytes include any unknown field, so what was refused once is refused
        again). Everything else is checked as :meth:`BatchedEnvelope.from_proto` checks it.
        """
        head_bytes = pb.head.SerializeToString(deterministic=True)
        last = self._last_head
        if last is None or last[0] != head_bytes:
            batched = BatchedEnvelope.from_proto(pb)
            self._last_head = (head_bytes, batched._head)
            return batched
        if has_unknown_fields(pb, skip="head"):
            raise InvalidBatch("batched envelope has unknown fields", reason="MALFORMED_BATCH")
        if not pb.HasField("item"):
            raise InvalidBatch("batched envelope lacks its item or head", reason="MALFORMED_BATCH")
        # BatchedEnvelope.__init__'s checks, less those the wire types guarantee (bytes, str,
        # uint64): this runs for every item a feed reader receives.
        item = BatchItem(pb.item.payload, pb.item.payload_type)
        _check_item(item)
        path = tuple(pb.audit_path)
        if len(path) > MAX_AUDIT_PATH:
            raise InvalidBatch("audit path is too long", reason="LIMIT_EXCEEDED")
        if not set(map(len, path)) <= {_HASH_SIZE}:
            raise InvalidBatch("audit path hashes must be 32 bytes", reason="MALFORMED_BATCH")
        batched = BatchedEnvelope.__new__(BatchedEnvelope)
        batched._item = item
        batched._head = last[1]
        batched._index = pb.index
        batched._audit_path = path
        return batched

    def included(
        self,
        batched: BatchedEnvelope,
        keys: Sequence[PublicKey],
        threshold: int,
        signer: str | None,
    ) -> tuple[_Head, tuple[KeyId, ...]]:
        """Verify the head (memo) and the item's audit path under its root (proven nodes).

        Raises :class:`~creditlink.sdk.errors.InvalidProof` if the path does not lead to the
        signed root; the index is checked against the head's count first.
        """
        key, head, key_ids = self._verified(batched._head, keys, threshold, signer)
        if batched._index >= head.count:
            raise InvalidBatch(
                f"index {batched._index} is not below the batch size {head.count}",
                reason="INDEX_OUT_OF_RANGE",
            )
        proven = self._proven.get(key)
        if proven is None:
            proven = ProvenNodes(root=head.root, size=head.count)
            with self._lock:
                if len(self._proven) >= self._PROVEN_HEADS:
                    del self._proven[next(iter(self._proven))]
                self._proven[key] = proven
        with self._lock:  # one proof at a time updates the shared nodes
            proven.verify_inclusion(
                leaf_hash=item_leaf_hash(batched._item),
                index=batched._index,
                proof=batched._audit_path,
            )
        return head, key_ids


def verify_batched(
    batched: BatchedEnvelope,
    *,
    keys: Sequence[PublicKey],
    expected_type: str,
    threshold: int = 1,
    expected_signer: str | None = None,
    heads: VerifiedHeads | None = None,
) -> VerifiedBatchItem:
    """Verify one extracted item on its own (docs/spec/batch.md, "Verifying one item").

    1. structure and limits were checked when ``batched`` was built: at most 64 audit-path
       hashes of 32 bytes each (CXP-BATCH-004);
    2. the item's payload type equals ``expected_type`` (``PAYLOAD_TYPE_MISMATCH``);
    3. the head envelope verifies under ``keys``; only then is the head parsed strictly and its
       ``signer_node_id`` compared with ``expected_signer`` when given (``SIGNER_MISMATCH``);
    4. ``index < count`` (``INDEX_OUT_OF_RANGE``);
    5. the audit path leads from the item's leaf hash at ``index`` to the signed root in a tree
       of ``count`` leaves (RFC 9162 §2.1.3.2; ``INVALID_INCLUSION_PROOF``).

    The signature is checked before the head is parsed (verify before parse), so the index and
    path checks use only signed values. ``heads`` (a :class:`VerifiedHeads`) skips step 3 for a
    head it verified already. Raises :class:`InvalidBatch` or :class:`InvalidEnvelope`.
    """
    item = batched._item
    if item.payload_type != expected_type:
        raise InvalidBatch(
            f"item payload type {item.payload_type!r} is not the expected {expected_type!r}",
            reason="PAYLOAD_TYPE_MISMATCH",
        )
    try:
        if heads is not None:
            head, key_ids = heads.included(batched, keys, threshold, expected_signer)
        else:
            head, key_ids = _verified_head(batched._head, keys, threshold, expected_signer)
            if batched._index >= head.count:
                raise InvalidBatch(
                    f"index {batched._index} is not below the batch size {head.count}",
                    reason="INDEX_OUT_OF_RANGE",
                )
            verify_inclusion(
                leaf_hash=item_leaf_hash(item),
                index=batched._index,
                tree_size=head.count,
                proof=batched._audit_path,
                root=head.root,
            )
    except InvalidProof as exc:
        raise InvalidBatch(
            "item is not included in the signed batch", reason="INVALID_INCLUSION_PROOF"
        ) from exc
    return _new_verified_item(
        item=item,
        index=batched._index,
        root=head.root,
        count=head.count,
        batch_id=head.batch_id,
        signer_node_id=head.signer_node_id,
        signed_at=head.signed_at,
        signer_key_ids=key_ids,
    )


# --------------------------------------------------------------------------------------------
# Tree building for audit paths (private; verification uses creditlink.sdk.tlog.merkle)
# --------------------------------------------------------------------------------------------


class BatchTree:
    """A batch's RFC 9162 tree with every level kept, to hand out audit paths.

    For whoever hands out the items of a batch one by one as :class:`BatchedEnvelope` (a
    gateway's feed, :func:`extract`): the tree is built once from the items' leaf hashes
    (:func:`item_leaf_hash`, O(n)), and each audit path is then one list lookup per level,
    with no hashing.
    """

    __slots__ = ("_levels", "_siblings")

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        if not 1 <= len(leaf_hashes) <= MAX_BATCH_ITEMS:
            raise ValueError(f"a batch has 1 to {MAX_BATCH_ITEMS} items")
        self._levels = _tree_levels([bytes(h) for h in leaf_hashes])
        # The levels below the root, an odd one padded with None where its promoted last
        # node has no sibling: a path is then one index per level, with no bounds check.
        self._siblings: list[list[bytes | None]] = [
            [*level, None] if len(level) % 2 else list(level) for level in self._levels[:-1]
        ]

    @property
    def size(self) -> int:
        """Number of items (leaves)."""
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        """The batch root a head signs."""
        return self._levels[-1][0]

    def audit_path(self, index: int) -> list[bytes]:
        """RFC 9162 PATH(index): the audit path of the item at ``index``, leaf to root."""
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} is not below the batch size {self.size}")
        return [
            node
            for k, level in enumerate(self._siblings)
            if (node := level[(index >> k) ^ 1]) is not None
        ]


def _tree_levels(leaf_hashes: list[bytes]) -> list[list[bytes]]:
    """All levels of the RFC 9162 tree, leaves first, root last.

    Neighbours are paired and an odd last node is promoted unchanged, which yields the same
    tree as RFC 9162's split at the largest power of two below ``n``.
    """
    levels = [leaf_hashes]
    level = leaf_hashes
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        levels.append(nxt)
        level = nxt
    return levels
