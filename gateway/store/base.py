"""The store interface: rows, errors, and the ``Store`` / ``Transaction`` protocols.

The store persists rows and runs transactions; it never hashes, signs or sequences (STYLE 15).
``gateway/ledger`` decides leaf indexes, computes leaf hashes, tiles and checkpoints, and hands
finished rows to one :class:`Transaction`; the store writes them atomically or not at all.

Every backend passes the same contract suite (``tests/gateway/store/contract.py``), and every
backend-specific failure surfaces as a :class:`StoreError`:

* :class:`StoreConflict` — a row with the same key already exists (a replayed ``message_id``, a
  leaf index written twice). Nothing of the transaction is stored.
* :class:`StoreUnavailable` — the database cannot be reached, is locked for too long, or the
  disk failed; retrying later may succeed.
* :class:`SchemaTooNew` — the database was migrated by a newer creditlink; this one refuses to
  touch it.

Rows are plain frozen dataclasses (no protobuf types) that check their own shape when they are
built (STYLE 2): a row that exists is a row the database will accept.

The outbox (``gateway/outbox``) keeps messages to forward to other nodes: :class:`OutboxItem`
is what is enqueued (in the same transaction as the log append that accepted the message),
:class:`OutboxRow` what is stored and read back, with its delivery state. The store never reads
the clock for the outbox: callers pass ``now`` and every timestamp.

The feed (``gateway/feed``) mirrors entries of the upstream's log: :class:`FeedEntry` is one
verified entry, :class:`FeedCursor` where the mirror of one origin stands (the next leaf to
read and the last upstream checkpoint proven consistent). :meth:`Store.advance_feed` writes
both in one transaction, so a restart resumes without gaps or duplicates.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self

from creditlink.sdk.errors import CreditlinkError
from creditlink.sdk.tlog import HASH_SIZE, MAX_PROOF_LENGTH

__all__ = [
    "BatchRow",
    "DomainChanges",
    "DomainEvent",
    "DomainObject",
    "DomainQuery",
    "EntryRow",
    "FeedCursor",
    "FeedEntry",
    "LogHead",
    "MessageRow",
    "ObjectKey",
    "OutboxItem",
    "OutboxRow",
    "OutboxState",
    "OutboxStats",
    "SchemaTooNew",
    "Store",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "TileId",
    "Transaction",
]

#: ``(tile level, tile index)``; the same key ``gateway.ledger.tiles`` uses.
TileId = tuple[int, int]


class StoreError(CreditlinkError):
    """A store operation failed; the transaction it belonged to stored nothing."""

    default_reason = "STORE_ERROR"


class StoreConflict(StoreError):
    """A row with the same key (``message_id``, ``leaf_index``, ``batch_id``) already exists."""

    default_reason = "STORE_CONFLICT"


class StoreUnavailable(StoreError):
    """The database cannot be reached or used right now (connection, lock timeout, disk)."""

    default_reason = "STORE_UNAVAILABLE"


class SchemaTooNew(StoreError):
    """The database schema is newer than the migrations this version of creditlink knows."""

    default_reason = "STORE_SCHEMA_TOO_NEW"


def _require_aware(name: str, value: datetime) -> None:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryRow:
    """One leaf of the transparency log, exactly as the ledger integrated it.

    ``envelope`` is the serialized DSSE envelope of a single message and ``None`` for a batch
    item, whose signature is the batch head's (see :class:`BatchRow`); a batch item has both
    ``batch_id`` and ``index_in_batch``, a single message neither. ``subject_key`` (e.g. the
    USCC a record is about) is indexed for :meth:`Store.entries_by_subject`.
    """

    leaf_index: int
    message_id: str
    batch_id: str | None
    index_in_batch: int | None
    kind: str
    sender_node_id: str
    payload_type: str
    payload: bytes
    envelope: bytes | None
    leaf_hash: bytes
    subject_key: str | None
    integrated_at: datetime

    def __post_init__(self) -> None:
        if self.leaf_index < 0:
            raise ValueError(f"leaf_index must be >= 0, got {self.leaf_index}")
        if len(self.leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf_hash must be {HASH_SIZE} bytes, got {len(self.leaf_hash)}")
        if (self.batch_id is None) != (self.index_in_batch is None):
            raise ValueError("batch_id and index_in_batch are both set or both None")
        if self.index_in_batch is not None and self.index_in_batch < 0:
            raise ValueError(f"index_in_batch must be >= 0, got {self.index_in_batch}")
        _require_aware("integrated_at", self.integrated_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRow:
    """A batch: its signed head (one signature over the batch root) and its leaf range."""

    batch_id: str
    sender_node_id: str
    head_envelope: bytes
    first_leaf_index: int
    count: int

    def __post_init__(self) -> None:
        if self.first_leaf_index < 0:
            raise ValueError(f"first_leaf_index must be >= 0, got {self.first_leaf_index}")
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRow:
    """An accepted message, for idempotent retries and replay rejection.

    ``request_digest`` (SHA-256 of the request as received, computed by the ledger) tells a
    retry of the same request (answer with the stored ``receipt``) from a different request
    reusing the id (a replay).
    """

    message_id: str
    request_digest: bytes
    receipt: bytes
    first_leaf_index: int
    leaf_count: int
    sender_node_id: str
    accepted_at: datetime

    def __post_init__(self) -> None:
        if len(self.request_digest) != HASH_SIZE:
            raise ValueError(
                f"request_digest must be {HASH_SIZE} bytes, got {len(self.request_digest)}"
            )
        if self.first_leaf_index < 0 or self.leaf_count < 0:
            raise ValueError("first_leaf_index and leaf_count must be >= 0")
        _require_aware("accepted_at", self.accepted_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogHead:
    """The log's latest committed state: size, Merkle frontier and signed checkpoint.

    ``frontier`` is the concatenation of the 32-byte roots of the perfect subtrees of the tree
    (as ``creditlink.sdk.tlog.Frontier`` keeps them); ``checkpoint`` is the signed note for
    ``size``, or ``""`` before the ledger has signed the first one. A fresh store has size 0
    and an empty frontier.
    """

    size: int
    frontier: bytes
    checkpoint: str
    updated_at: datetime

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"size must be >= 0, got {self.size}")
        if len(self.frontier) % HASH_SIZE:
            raise ValueError(f"frontier must be a multiple of {HASH_SIZE} bytes")
        _require_aware("updated_at", self.updated_at)


class OutboxState(StrEnum):
    """Where a forwarded message stands; the values are what the ``state`` column holds."""

    #: Waiting to be sent, or to be sent again at ``next_attempt_at``.
    PENDING = "pending"
    #: The destination accepted it; its signed receipt is stored.
    DELIVERED = "delivered"
    #: The destination refused it for good (or it expired); ``last_error`` says why.
    FAILED = "failed"


def _require_text(name: str, value: str) -> None:
    if not value:
        raise ValueError(f"{name} must not be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxItem:
    """A message to forward, as enqueued with :meth:`Transaction.enqueue`.

    ``sealed`` is the serialized ``SealedEnvelope`` to send, sealed to ``destination`` (a node
    id); ``request_id`` is the ``SubmitRequest.request_id`` sent with every attempt, so the
    destination answers a resend with its original receipt. ``message_id`` (the id the
    destination's receipt names) is unique per destination. The row starts ``pending`` and due
    at ``enqueued_at``.
    """

    destination: str
    message_id: str
    request_id: str
    sealed: bytes
    enqueued_at: datetime

    def __post_init__(self) -> None:
        _require_text("destination", self.destination)
        _require_text("message_id", self.message_id)
        _require_text("request_id", self.request_id)
        if not self.sealed:
            raise ValueError("sealed must not be empty")
        _require_aware("enqueued_at", self.enqueued_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    """A stored outbox row and its delivery state.

    ``id`` orders the rows of one destination (first in, first out). ``attempts`` counts the
    attempts made so far; ``last_error`` is the outcome of the latest failed one (kept after a
    later success, as history). ``receipt`` and ``delivered_at`` are set exactly when the state
    is :attr:`OutboxState.DELIVERED`.
    """

    id: int
    destination: str
    message_id: str
    request_id: str
    sealed: bytes
    enqueued_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    state: OutboxState
    receipt: bytes | None
    delivered_at: datetime | None

    def __post_init__(self) -> None:
        if self.id < 1:
            raise ValueError(f"id must be >= 1, got {self.id}")
        if self.attempts < 0:
            raise ValueError(f"attempts must be >= 0, got {self.attempts}")
        delivered = self.state is OutboxState.DELIVERED
        if delivered != (self.receipt is not None) or delivered != (self.delivered_at is not None):
            raise ValueError("receipt and delivered_at are set exactly when delivered")
        _require_aware("enqueued_at", self.enqueued_at)
        _require_aware("next_attempt_at", self.next_attempt_at)
        if self.delivered_at is not None:
            _require_aware("delivered_at", self.delivered_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxStats:
    """One destination's queue at a glance (metrics and ``creditlink status``)."""

    #: Pending messages, the one being retried included.
    depth: int
    #: When the oldest pending message was enqueued; ``None`` when nothing is pending.
    oldest_enqueued_at: datetime | None
    #: Messages refused for good, kept for inspection.
    failed: int


#: ``(kind, object_id)`` of a domain object, e.g. ``("record", "01J...")``.
ObjectKey = tuple[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainObject:
    """The current state of one domain object (a record, a name-list entry, a report...).

    Domain objects are a projection of logged statements (``gateway/domain``): the log is the
    truth, this row the state its statements add up to, kept in the transaction that logs
    them. ``body`` is the serialized current protobuf (e.g. the ``CreditRecord`` at its
    latest revision); ``state`` its lifecycle state (an enum value name); ``attrs`` small
    derived values for filtering and display (JSON-serializable: strings, numbers, booleans,
    lists); ``flags`` tags that lists filter on (``disputed``, ``overdue``); ``due_date`` the
    next deadline (ISO date) if any. ``log_origin`` and ``leaf_index`` locate the statement
    that last changed the object (in this node's log, or a mirrored one).
    """

    kind: str
    object_id: str
    subject_key: str | None
    state: str
    body: bytes
    attrs: Mapping[str, object]
    flags: frozenset[str]
    due_date: str | None
    origin_node_id: str
    log_origin: str
    created_leaf: int
    leaf_index: int
    updated_at: datetime

    def __post_init__(self) -> None:
        # One test for the common case (the projection builds one per record it logs).
        if not (
            self.kind and self.object_id and self.state and self.origin_node_id and self.log_origin
        ):
            for name in ("kind", "object_id", "state", "origin_node_id", "log_origin"):
                _require_text(name, getattr(self, name))
        if self.leaf_index < 0 or self.created_leaf < 0:
            raise ValueError("leaf indexes must be >= 0")
        for flag in self.flags:
            if not flag or " " in flag:
                raise ValueError(f"flags must be non-empty words, got {sorted(self.flags)}")
        _require_aware("updated_at", self.updated_at)

    @property
    def key(self) -> ObjectKey:
        """``(kind, object_id)``."""
        return (self.kind, self.object_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """One change of a domain object: which statement did what, by whom and why.

    ``seq`` orders several events one statement caused on the same object.
    """

    kind: str
    object_id: str
    log_origin: str
    leaf_index: int
    seq: int
    action: str
    actor_node_id: str
    reason: str
    message_id: str
    at: datetime

    def __post_init__(self) -> None:
        if not (
            self.kind
            and self.object_id
            and self.log_origin
            and self.action
            and self.actor_node_id
            and self.message_id
        ):
            for name in (
                "kind",
                "object_id",
                "log_origin",
                "action",
                "actor_node_id",
                "message_id",
            ):
                _require_text(name, getattr(self, name))
        if self.leaf_index < 0 or self.seq < 0:
            raise ValueError("leaf_index and seq must be >= 0")
        _require_aware("at", self.at)


@dataclass(frozen=True, slots=True)
class DomainChanges:
    """Objects to write (insert or replace) and events to add, together."""

    objects: Sequence[DomainObject] = ()
    events: Sequence[DomainEvent] = ()

    def __bool__(self) -> bool:
        return bool(self.objects or self.events)


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainQuery:
    """A page of domain objects: ``kinds`` (required) filtered by the other fields.

    Results are ordered by ``(leaf_index, kind, object_id)`` descending (latest change first);
    ``before`` is the ``(leaf_index, kind, object_id)`` of the last row of the previous page.
    ``due_before`` keeps objects with a ``due_date`` before that ISO date.
    """

    kinds: Collection[str]
    subject_key: str | None = None
    states: Collection[str] | None = None
    flag: str | None = None
    due_before: str | None = None
    before: tuple[int, str, str] | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if not self.kinds:
            raise ValueError("a domain query names at least one kind")
        if not 1 <= self.limit <= 10_000:
            raise ValueError(f"limit must be 1..10000, got {self.limit}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEntry:
    """One entry of another node's log, mirrored after verification (``gateway/feed``).

    ``origin_node_id`` is the node whose log holds it and ``leaf_index`` its leaf there.
    ``envelope`` is what that log served, serialized exactly as received: a
    ``creditlink.v1.Envelope`` (``batched`` false) or a ``creditlink.v1.BatchedEnvelope``
    (the item, its signed batch head and audit path; ``batched`` true), so the entry can be
    verified again offline. ``leaf_hash`` is the entry's leaf in the origin's log;
    ``subject_key`` says what it is about (per kind, see ``gateway/feed``), for lookups.
    ``integrated_at`` is when the origin logged it, ``received_at`` when it was mirrored.

    ``object_id`` (migration 0005) is the id of the domain object the statement is about, for
    lookups by id (:meth:`Store.feed_entries_by_object`): the ``entry_id`` of a name-list entry
    and of its transitions, ``<list_id>@<version>`` for a measure-list version, ``None`` for
    other kinds and, until ``gateway.feed.backfill_object_ids`` fills it in, for rows mirrored
    before the feed kept it.

    The inclusion proof the feed verified before storing the entry (migration 0005): the audit
    path ``proof_hashes`` (leaf to root) of ``leaf_index`` in the origin's tree of
    ``proof_tree_size`` leaves, and ``proof_checkpoint``, the origin's signed checkpoint note for
    that tree. All three or none: rows mirrored before the feed kept proofs have none.
    """

    origin_node_id: str
    leaf_index: int
    kind: str
    sender_node_id: str
    message_id: str
    subject_key: str | None
    envelope: bytes
    batched: bool
    leaf_hash: bytes
    integrated_at: datetime
    received_at: datetime
    object_id: str | None = None
    proof_hashes: tuple[bytes, ...] | None = None
    proof_tree_size: int | None = None
    proof_checkpoint: str | None = None

    def __post_init__(self) -> None:
        for name in ("origin_node_id", "kind", "sender_node_id", "message_id"):
            _require_text(name, getattr(self, name))
        if self.leaf_index < 0:
            raise ValueError(f"leaf_index must be >= 0, got {self.leaf_index}")
        if not self.envelope:
            raise ValueError("envelope must not be empty")
        if len(self.leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf_hash must be {HASH_SIZE} bytes, got {len(self.leaf_hash)}")
        if self.object_id is not None:
            _require_text("object_id", self.object_id)
        _require_aware("integrated_at", self.integrated_at)
        _require_aware("received_at", self.received_at)
        self._check_proof()

    def _check_proof(self) -> None:
        parts = (self.proof_hashes, self.proof_tree_size, self.proof_checkpoint)
        if all(p is None for p in parts):
            return
        if self.proof_hashes is None or self.proof_tree_size is None or not self.proof_checkpoint:
            raise ValueError(
                "proof_hashes, proof_tree_size and proof_checkpoint are set together or not at all"
            )
        if not isinstance(self.proof_hashes, tuple):
            raise ValueError("proof_hashes must be a tuple of hashes")
        if len(self.proof_hashes) > MAX_PROOF_LENGTH:
            raise ValueError(
                f"proof_hashes holds {len(self.proof_hashes)} hashes, at most "
                f"{MAX_PROOF_LENGTH} allowed"
            )
        if any(len(h) != HASH_SIZE for h in self.proof_hashes):
            raise ValueError(f"every proof hash must be {HASH_SIZE} bytes")
        if self.proof_tree_size <= self.leaf_index:
            raise ValueError(
                f"proof_tree_size {self.proof_tree_size} must be greater than leaf_index "
                f"{self.leaf_index}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedCursor:
    """Where the mirror of one origin's log stands.

    ``next_leaf_index`` is the leaf to resume reading from: every leaf before it was mirrored
    or skipped (not of a followed kind). ``checkpoint`` is the origin's latest signed note the
    follower verified and proved consistent with the ones before it (``""`` before the first),
    ``checkpoint_size`` and ``root_hash`` its tree size and root (0 and the empty-tree root
    before the first), so the next one can be checked against it after a restart.
    """

    origin_node_id: str
    next_leaf_index: int
    checkpoint: str
    checkpoint_size: int
    root_hash: bytes
    updated_at: datetime

    def __post_init__(self) -> None:
        _require_text("origin_node_id", self.origin_node_id)
        if self.next_leaf_index < 0:
            raise ValueError(f"next_leaf_index must be >= 0, got {self.next_leaf_index}")
        if self.checkpoint_size < 0:
            raise ValueError(f"checkpoint_size must be >= 0, got {self.checkpoint_size}")
        if len(self.root_hash) != HASH_SIZE:
            raise ValueError(f"root_hash must be {HASH_SIZE} bytes, got {len(self.root_hash)}")
        _require_aware("updated_at", self.updated_at)


class Transaction(Protocol):
    """One write transaction, obtained from :meth:`Store.transaction`.

    Writes become visible together when the ``async with`` block exits normally and not at all
    when it raises. After any operation fails (a :class:`StoreConflict` included) the
    transaction is doomed: later operations raise :class:`StoreError`, and leaving the block
    without an exception raises :class:`StoreError` too, because nothing was committed.
    """

    async def lock_head(self) -> LogHead:
        """Lock the log head against other writers until this transaction ends, and read it.

        Several gateway replicas may share one database: the head must be read and written
        under this lock (``SELECT ... FOR UPDATE`` on PostgreSQL, the write lock taken by
        ``BEGIN IMMEDIATE`` on SQLite). :meth:`set_head` refuses to run without it.
        """
        ...

    async def find_messages(self, message_ids: Collection[str]) -> dict[str, MessageRow]:
        """The already accepted messages among ``message_ids`` (one query for the whole set)."""
        ...

    async def insert_entries(self, rows: Sequence[EntryRow]) -> None:
        """Insert log entries in one round trip; a leaf index already present conflicts."""
        ...

    async def insert_batch(self, row: BatchRow) -> None:
        """Insert a batch head; a ``batch_id`` already present conflicts."""
        ...

    async def insert_messages(self, rows: Sequence[MessageRow]) -> None:
        """Insert accepted messages; a ``message_id`` already present conflicts."""
        ...

    async def upsert_tiles(self, tiles: Mapping[TileId, bytes]) -> None:
        """Write hash tiles, replacing the stored content of tiles that already exist."""
        ...

    async def set_head(self, head: LogHead) -> None:
        """Replace the log head (only after :meth:`lock_head` in this transaction)."""
        ...

    async def enqueue(self, rows: Sequence[OutboxItem]) -> None:
        """Add messages to the outbox, ``pending`` and due at once, ids in ``rows`` order.

        Called in the transaction that appends the message to the log, so that it is accepted
        and queued for forwarding together or not at all. A ``(destination, message_id)``
        already queued conflicts. Ids grow in commit order only among transactions that hold
        the head lock (:meth:`lock_head`) before enqueuing, as the ledger's appends do;
        per-destination order is id order.
        """
        ...

    # -- domain objects (the projection of logged statements; gateway/domain)

    async def get_objects(self, keys: Collection[ObjectKey]) -> dict[ObjectKey, DomainObject]:
        """The stored objects among ``keys``, as this transaction sees them."""
        ...

    async def apply_domain(self, changes: DomainChanges) -> None:
        """Write ``changes``: objects replace stored ones with the same key; events are added
        (an event already present, same key and leaf and seq, conflicts)."""
        ...


class Store(Protocol):
    """Persistence for the gateway's log: entries, batches, tiles, messages and the head.

    Build one with :func:`creditlink.gateway.store.open_store`, then ``await store.open()``
    (or ``async with store:``). Reads see the latest committed state; writes go through
    :meth:`transaction`.
    """

    async def open(self) -> None:
        """Connect and bring the schema up to date (applying pending migrations in order).

        Raises :class:`SchemaTooNew` for a database migrated by a newer creditlink and
        :class:`StoreUnavailable` when the database cannot be reached.
        """
        ...

    async def close(self) -> None:
        """Release connections and threads; safe to call more than once."""
        ...

    async def __aenter__(self) -> Self:
        """Open the store."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One write transaction: committed when the block exits, rolled back if it raises."""
        ...

    async def head(self) -> LogHead:
        """The latest committed log head (size 0 and an empty frontier initially)."""
        ...

    async def read_entries(
        self, start: int, *, limit: int, kinds: Collection[str] | None = None
    ) -> list[EntryRow]:
        """Up to ``limit`` entries from leaf ``start`` on, in leaf order, of ``kinds`` if given."""
        ...

    async def get_entry(self, leaf_index: int) -> EntryRow | None:
        """The entry at ``leaf_index``, or ``None``."""
        ...

    async def get_entries(self, leaf_indexes: Collection[int]) -> dict[int, EntryRow]:
        """The entries at ``leaf_indexes`` (in one read), by leaf; leaves not logged are left
        out."""
        ...

    async def get_message(self, message_id: str) -> MessageRow | None:
        """The accepted message with this id, or ``None``."""
        ...

    async def get_batch(self, batch_id: str) -> BatchRow | None:
        """The batch with this id, or ``None``."""
        ...

    async def read_tiles(self, ids: Sequence[TileId]) -> dict[TileId, bytes]:
        """The stored tiles among ``ids``; a tile never written is absent from the result."""
        ...

    async def entries_by_subject(
        self, subject_key: str, *, limit: int, after: int | None = None
    ) -> list[EntryRow]:
        """Up to ``limit`` entries about ``subject_key`` in leaf order, after leaf ``after``."""
        ...

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of the entries ``start <= leaf_index < end``, in leaf order."""
        ...

    # -- the outbox

    async def next_outbox(self, destination: str, *, now: datetime, limit: int) -> list[OutboxRow]:
        """The head of ``destination``'s queue: up to ``limit`` pending rows in id order.

        The list stops before the first row not yet due (``next_attempt_at > now``): a message
        waiting for its retry blocks the ones behind it, so delivery stays in order. Empty when
        nothing is pending or the first pending row is not due.
        """
        ...

    async def outbox_next_attempt(self, destination: str) -> datetime | None:
        """When the first pending row of ``destination`` is due; ``None`` if none is pending."""
        ...

    async def mark_delivered(self, id: int, *, receipt: bytes, at: datetime) -> bool:
        """Record a delivery and its receipt, counting the attempt.

        Returns ``False`` (and changes nothing) unless the row exists and is pending.
        """
        ...

    async def mark_retry(self, id: int, *, error: str, next_attempt_at: datetime) -> bool:
        """Record a failed attempt that may succeed later, and when to try again.

        Returns ``False`` (and changes nothing) unless the row exists and is pending.
        """
        ...

    async def mark_failed(self, id: int, *, error: str) -> bool:
        """Record a permanent failure (the last attempt counted); the row is not sent again.

        Returns ``False`` (and changes nothing) unless the row exists and is pending.
        """
        ...

    async def outbox_destinations(self) -> list[str]:
        """The destinations with pending rows, sorted."""
        ...

    async def outbox_stats(self) -> dict[str, OutboxStats]:
        """Per destination with pending or failed rows: depth, oldest pending, failed count."""
        ...

    async def outbox_status(self, message_id: str) -> list[OutboxRow]:
        """Every outbox row of ``message_id`` (one per destination), in id order."""
        ...

    # -- the feed (entries mirrored from other nodes' logs; gateway/feed)

    async def feed_cursor(self, origin_node_id: str) -> FeedCursor | None:
        """Where the mirror of ``origin_node_id``'s log stands; ``None`` before the first entry."""
        ...

    async def feed_cursors(self) -> list[FeedCursor]:
        """The cursor of every origin mirrored, sorted by origin."""
        ...

    async def advance_feed(
        self, cursor: FeedCursor, entries: Sequence[FeedEntry], *, expected_next: int | None
    ) -> None:
        """Store ``entries`` and move the origin's cursor to ``cursor``, in one transaction.

        ``expected_next`` is the ``next_leaf_index`` the caller last read (``None``: it found no
        cursor). If the stored cursor differs (another follower sharing the database moved it),
        :class:`StoreConflict` is raised and nothing is stored; so is an entry already present.
        ``ValueError`` unless every entry is of ``cursor``'s origin, in strictly increasing leaf
        order, within ``[expected_next or 0, cursor.next_leaf_index)``, and the cursor does not
        move back.
        """
        ...

    async def read_feed(
        self, origin_node_id: str, *, start: int, limit: int, kinds: Collection[str] | None = None
    ) -> list[FeedEntry]:
        """Up to ``limit`` mirrored entries of ``origin_node_id`` from leaf ``start`` on, in
        leaf order, of ``kinds`` if given."""
        ...

    async def feed_entries_by_subject(self, subject_key: str, *, limit: int) -> list[FeedEntry]:
        """Up to ``limit`` mirrored entries about ``subject_key``, by origin then leaf."""
        ...

    async def feed_entries_by_object(self, object_id: str, *, limit: int) -> list[FeedEntry]:
        """Up to ``limit`` mirrored statements about the object ``object_id`` (their
        :attr:`FeedEntry.object_id`), by origin then leaf; rows without one are never found."""
        ...

    async def feed_entries_without_object_id(
        self, *, after: tuple[str, int] | None, limit: int
    ) -> list[FeedEntry]:
        """Up to ``limit`` mirrored entries with no :attr:`FeedEntry.object_id` (rows mirrored
        before the feed kept it, and kinds that have none), by origin then leaf, after the
        (origin, leaf) ``after`` if given: to fill the ids in (:func:`gateway.feed.backfill`)."""
        ...

    async def set_feed_object_id(
        self, origin_node_id: str, leaf_index: int, object_id: str
    ) -> bool:
        """Set a mirrored entry's object id where it has none; ``False`` if no such row lacks
        one (the id of a row is never changed)."""
        ...

    # -- domain objects (the projection of logged statements; gateway/domain)

    async def get_object(self, kind: str, object_id: str) -> DomainObject | None:
        """One domain object by key, or ``None``."""
        ...

    async def get_objects(self, keys: Collection[ObjectKey]) -> dict[ObjectKey, DomainObject]:
        """The stored objects among ``keys`` (committed state)."""
        ...

    async def query_objects(self, query: DomainQuery) -> list[DomainObject]:
        """One page of objects matching ``query`` (see :class:`DomainQuery`)."""
        ...

    async def object_events(self, kind: str, object_id: str) -> list[DomainEvent]:
        """Every event of one object, oldest first."""
        ...
