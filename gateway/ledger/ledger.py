"""The append lifecycle: sequence accepted messages into the log, sign, and acknowledge.

One :meth:`Ledger.append` is one store transaction: it locks the log head, drops retries of
messages already accepted (answering them with their original receipt), assigns leaf indexes,
extends the Merkle frontier, updates the hash tiles, signs a checkpoint over the new tree and a
receipt per submission, and writes all of it together. Acknowledged therefore means durable: a
receipt exists only in a committed transaction (DESIGN.md step 5).

The ledger integrates and signs; the store only persists (STYLE 15). Several submissions can
share one append (group commit), which is what keeps a streamed ingest near the raw insert rate:
one transaction, one tile read, one checkpoint signature per group.

A submission may also name nodes to forward it to (:class:`Forward`): those messages are put in
the outbox in the same transaction, so a message is accepted and queued for forwarding together
or not at all; ``gateway/outbox`` delivers them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import operator
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from google.protobuf import timestamp_pb2

from creditlink.gateway.ledger.tiles import (
    nodes_from_tiles,
    partial_tiles_before,
    tile_updates,
    tiles_for_nodes,
)
from creditlink.gateway.store.base import (
    BatchRow,
    DomainChanges,
    DomainObject,
    EntryRow,
    LogHead,
    MessageRow,
    ObjectKey,
    OutboxItem,
    Store,
    Transaction,
)
from creditlink.sdk import envelope
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.errors import CreditlinkError, InvalidArgument, ReplayRejected
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.tlog import (
    HASH_SIZE,
    Checkpoint,
    Frontier,
    NoteSigner,
    consistency_nodes,
    inclusion_nodes,
    leaf_hash,
    sign_note,
)
from creditlink.v1 import log_pb2

__all__ = [
    "MAX_GROUP",
    "RECEIPT_PAYLOAD_TYPE",
    "Acknowledgement",
    "BatchInfo",
    "Forward",
    "Ledger",
    "LedgerEntry",
    "ProjectionOutcome",
    "Projector",
    "Submission",
]

#: DSSE payload type of a signed :class:`creditlink.v1.Receipt`.
RECEIPT_PAYLOAD_TYPE = envelope.payload_type_for("receipt")


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEntry:
    """One accepted payload, verified and checked by the exchange pipeline, ready to log."""

    message_id: str
    kind: str
    sender_node_id: str
    payload_type: str
    payload: bytes
    #: Serialized DSSE envelope of a single message; ``None`` for a batch item.
    envelope: bytes | None
    #: Indexed lookup key, e.g. the USCC the record is about.
    subject_key: str | None = None
    #: The leaf hash if the caller already computed it (batch verification does); else computed.
    leaf_hash: bytes | None = None

    def __reduce__(self) -> tuple[object, ...]:
        # Thousands cross from an intake worker with every batch: rebuilt from a tuple, not by
        # dataclasses' per-field __setstate__ (which asks fields() for every object).
        return (_ledger_entry, _entry_values(self))


def _ledger_entry(*values: Any) -> LedgerEntry:
    """Unpickle a :class:`LedgerEntry` (see ``LedgerEntry.__reduce__``): the fields set as the
    pickling process held them (it built the entry through ``__init__``)."""
    entry = object.__new__(LedgerEntry)
    for name, value in zip(_ENTRY_FIELDS, values, strict=True):
        _set_field(entry, name, value)
    return entry


_set_field: Final = object.__setattr__


_ENTRY_FIELDS: Final = tuple(f.name for f in dataclasses.fields(LedgerEntry))
_entry_values: Final = operator.attrgetter(*_ENTRY_FIELDS)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchInfo:
    """The signed head of a batch whose items are the submission's entries, in order."""

    batch_id: str
    head_envelope: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Forward:
    """Forward an accepted submission to another node, through the outbox.

    ``sealed`` is the serialized ``SealedEnvelope`` to send (sealed to ``destination``, often the
    very bytes received when the sender sealed to both nodes); ``request_id`` is the
    ``SubmitRequest.request_id`` every attempt carries, so the destination answers a resend
    with its original receipt.
    """

    destination: str
    request_id: str
    sealed: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """What one receipt acknowledges: a single message, or a whole batch."""

    #: Message id (single message) or batch id (batch): the idempotency key.
    message_id: str
    #: SHA-256 of the request as received: tells a retry (same digest) from a replay.
    request_digest: bytes
    sender_node_id: str
    #: Payload type named in the receipt (the items' common type for a batch).
    payload_type: str
    #: SHA-256 of the signed payload (single message) or the batch root (batch).
    payload_digest: bytes
    entries: Sequence[LedgerEntry]
    batch: BatchInfo | None = None
    #: Nodes to forward the submission to once it is accepted (queued only the first time: a
    #: retry was queued when it was first accepted).
    forward: Sequence[Forward] = ()

    def __post_init__(self) -> None:
        if not self.entries:
            raise ValueError("a submission logs at least one entry")
        if self.batch is None and len(self.entries) != 1:
            raise ValueError("a submission without a batch logs exactly one entry")
        if len(self.request_digest) != HASH_SIZE or len(self.payload_digest) != HASH_SIZE:
            raise ValueError("digests are 32 bytes")
        destinations = [f.destination for f in self.forward]
        if len(set(destinations)) != len(destinations):
            raise ValueError("a submission is forwarded at most once to each destination")


@dataclass(frozen=True, slots=True, kw_only=True)
class Acknowledgement:
    """The outcome of one submission."""

    message_id: str
    #: Serialized signed receipt envelope (the original one for a retry); empty if rejected.
    receipt: bytes = b""
    first_leaf_index: int = 0
    leaf_count: int = 0
    #: True when the submission was a retry of one accepted earlier.
    duplicate: bool = False
    #: Set instead of a receipt when the submission was refused: its id was used before for a
    #: different request (``ReplayRejected``), or its domain effect is not allowed now.
    error: CreditlinkError | None = None


@dataclass(slots=True)
class _Plan:
    acks: list[Acknowledgement | None] = field(default_factory=list)
    fresh: list[tuple[int, Submission]] = field(default_factory=list)


def _split_frontier(head: LogHead) -> Frontier:
    data = head.frontier
    hashes = tuple(data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE))
    return Frontier(size=head.size, hashes=hashes)


def _timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


class ProjectionOutcome(Protocol):
    """What a :class:`Projector` decided for one append."""

    @property
    def refused(self) -> Mapping[int, CreditlinkError]:
        """Refused submissions, by position in the list given to ``plan``, and why."""
        ...

    @property
    def changes(self) -> DomainChanges:
        """The domain state the accepted ones change (written in the append's transaction)."""
        ...


class Projector(Protocol):
    """The domain effect of logged statements (``gateway/domain/projection``)."""

    async def plan(
        self,
        lookup: Callable[[Collection[ObjectKey]], Awaitable[Mapping[ObjectKey, DomainObject]]],
        submissions: Sequence[Submission],
        *,
        first_leaf: int,
        at: datetime,
        entries: Callable[[Collection[int]], Awaitable[Mapping[int, EntryRow]]],
    ) -> ProjectionOutcome:
        """Decide, for submissions logged in this order from ``first_leaf`` at ``at``.

        ``lookup`` reads domain objects in the append's transaction; ``entries`` reads entries
        of the log already committed (by leaf index), e.g. the statement that created an
        object."""
        ...


#: At most this many single submissions share one group-committed append (Ledger.append_one).
MAX_GROUP = 512


class Ledger:
    """Sequences, integrates and signs one gateway's log over a :class:`Store`."""

    def __init__(
        self,
        *,
        store: Store,
        node_id: str,
        origin: str,
        signing_key: PrivateKey,
        checkpoint_signer: NoteSigner,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        projector: Projector | None = None,
    ) -> None:
        self._store = store
        self._projector = projector
        self._node_id = node_id
        self._origin = origin
        self._signing_key = signing_key
        self._signer = checkpoint_signer
        self._clock = clock
        # One writer per process; lock_head serializes replicas that share a database.
        self._lock = asyncio.Lock()
        # Group commit of single submissions (append_one): waiting callers, and the task that
        # drains them into shared appends while one is running.
        self._waiting: list[tuple[Submission, asyncio.Future[Acknowledgement]]] = []
        self._draining: asyncio.Task[None] | None = None

    @property
    def origin(self) -> str:
        """The log origin named in every checkpoint."""
        return self._origin

    async def ensure_checkpoint(self) -> str:
        """Return the latest signed checkpoint, signing the empty tree's on a fresh log."""
        head = await self._store.head()
        if head.checkpoint:
            return head.checkpoint
        async with self._lock, self._store.transaction() as tx:
            head = await tx.lock_head()
            if head.checkpoint:
                return head.checkpoint
            frontier = _split_frontier(head)
            note = self._sign_checkpoint(frontier)
            await tx.set_head(
                LogHead(
                    size=head.size,
                    frontier=head.frontier,
                    checkpoint=note,
                    updated_at=self._clock(),
                )
            )
            return note

    async def append_one(self, submission: Submission) -> Acknowledgement:
        """Log one submission, sharing the transaction with concurrent callers (group commit).

        A caller alone is appended at once. Callers that arrive while an append is running
        wait for it and then go together in the next one (at most :data:`MAX_GROUP` each), so
        under load the durable commit (an fsync) is paid once per group, not once per call.
        The acknowledgement is exactly what :meth:`append` gives for the submission; a caller
        cancelled while waiting does not stop the others (its submission may still be logged,
        and a retry gets the original receipt). A store failure fails the whole group.
        """
        future: asyncio.Future[Acknowledgement] = asyncio.get_running_loop().create_future()
        self._waiting.append((submission, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            group: list[tuple[Submission, asyncio.Future[Acknowledgement]]] = []
            rest: list[tuple[Submission, asyncio.Future[Acknowledgement]]] = []
            ids: set[str] = set()
            for waiter in self._waiting:
                # One append cannot hold an id twice: a concurrent retry waits for the next
                # round, where the ledger answers it with the first one's receipt.
                if len(group) < MAX_GROUP and waiter[0].message_id not in ids:
                    ids.add(waiter[0].message_id)
                    group.append(waiter)
                else:
                    rest.append(waiter)
            self._waiting = rest
            try:
                acks = await self.append([submission for submission, _ in group])
            except Exception as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled (shutdown): nobody may wait forever
                for _, future in group + self._waiting:
                    future.cancel()
                self._waiting = []
                raise
            for (_, future), ack in zip(group, acks, strict=True):
                if not future.done():  # its caller may have given up
                    future.set_result(ack)

    async def append(self, submissions: Sequence[Submission]) -> list[Acknowledgement]:
        """Log ``submissions`` in one transaction; one acknowledgement each, in order.

        A submission whose id was accepted before with the same request digest is answered
        with its original receipt and logs nothing; with another digest it is rejected as a
        replay (``REPLAYED_MESSAGE``) while the others proceed. Two submissions with one id in
        the same call are a caller bug (``ValueError``).
        """
        ids = [s.message_id for s in submissions]
        if len(set(ids)) != len(ids):
            raise ValueError("message ids repeat within one append")
        if not submissions:
            return []
        async with self._lock, self._store.transaction() as tx:
            head = await tx.lock_head()
            existing = await tx.find_messages(ids)
            plan = _Plan()
            for position, submission in enumerate(submissions):
                row = existing.get(submission.message_id)
                if row is None:
                    plan.acks.append(None)
                    plan.fresh.append((position, submission))
                elif row.request_digest == submission.request_digest:
                    plan.acks.append(
                        Acknowledgement(
                            message_id=row.message_id,
                            receipt=row.receipt,
                            first_leaf_index=row.first_leaf_index,
                            leaf_count=row.leaf_count,
                            duplicate=True,
                        )
                    )
                else:
                    plan.acks.append(
                        Acknowledgement(
                            message_id=submission.message_id,
                            error=ReplayRejected(
                                f"message id {submission.message_id!r} was already used for "
                                "a different message"
                            ),
                        )
                    )
            now = self._clock()
            changes = await self._project(tx, head, plan, now) if plan.fresh else None
            if plan.fresh:
                await self._integrate(tx, head, plan, now)
            if changes:
                await tx.apply_domain(changes)
        return [ack for ack in plan.acks if ack is not None]

    async def _project(
        self, tx: Transaction, head: LogHead, plan: _Plan, now: datetime
    ) -> DomainChanges | None:
        """The domain effect of the fresh submissions; refused ones leave ``plan.fresh``."""
        if self._projector is None:
            return None
        outcome = await self._projector.plan(
            tx.get_objects,
            [s for _, s in plan.fresh],
            first_leaf=head.size,
            at=now,
            entries=self._committed_entries,
        )
        if outcome.refused:
            kept: list[tuple[int, Submission]] = []
            for index, (position, submission) in enumerate(plan.fresh):
                error = outcome.refused.get(index)
                if error is None:
                    kept.append((position, submission))
                else:
                    plan.acks[position] = Acknowledgement(
                        message_id=submission.message_id, error=error
                    )
            plan.fresh = kept
        return outcome.changes

    async def _committed_entries(self, leaves: Collection[int]) -> dict[int, EntryRow]:
        # Committed entries never change, so they are read outside the append's transaction
        # (as the tiles are), all in one read: the statements that created the objects the
        # append's repair applications and decisions name.
        return await self._store.get_entries(leaves)

    async def _integrate(self, txn: Transaction, head: LogHead, plan: _Plan, now: datetime) -> None:
        frontier = _split_frontier(head)
        leaves: list[bytes] = []
        for _, submission in plan.fresh:
            for entry in submission.entries:
                leaves.append(entry.leaf_hash or leaf_hash(pae(entry.payload_type, entry.payload)))
        needed = partial_tiles_before(frontier.size, len(leaves))
        existing_tiles = await self._store.read_tiles(needed) if needed else {}
        new_frontier, runs = frontier.extend(leaves)
        tiles = tile_updates(runs, existing_tiles)
        note = self._sign_checkpoint(new_frontier)
        signed_checkpoint = log_pb2.SignedCheckpoint(
            note=note, origin=self._origin, size=new_frontier.size, root_hash=new_frontier.root()
        )
        accepted_at = _timestamp(now)

        rows: list[EntryRow] = []
        batches: list[BatchRow] = []
        messages: list[MessageRow] = []
        outbox: list[OutboxItem] = []
        index = frontier.size
        leaf_iter = iter(leaves)
        for position, submission in plan.fresh:
            first = index
            for offset, entry in enumerate(submission.entries):
                rows.append(
                    EntryRow(
                        leaf_index=index,
                        message_id=entry.message_id,
                        batch_id=submission.batch.batch_id if submission.batch else None,
                        index_in_batch=offset if submission.batch else None,
                        kind=entry.kind,
                        sender_node_id=entry.sender_node_id,
                        payload_type=entry.payload_type,
                        payload=entry.payload,
                        envelope=entry.envelope,
                        leaf_hash=next(leaf_iter),
                        subject_key=entry.subject_key,
                        integrated_at=now,
                    )
                )
                index += 1
            count = index - first
            if submission.batch is not None:
                batches.append(
                    BatchRow(
                        batch_id=submission.batch.batch_id,
                        sender_node_id=submission.sender_node_id,
                        head_envelope=submission.batch.head_envelope,
                        first_leaf_index=first,
                        count=count,
                    )
                )
            receipt = log_pb2.Receipt(
                message_id=submission.message_id,
                gateway_node_id=self._node_id,
                log_origin=self._origin,
                first_leaf_index=first,
                leaf_count=count,
                payload_digest=submission.payload_digest,
                payload_type=submission.payload_type,
                checkpoint=signed_checkpoint,
                accepted_at=accepted_at,
            )
            signed = envelope.sign(
                receipt.SerializeToString(), RECEIPT_PAYLOAD_TYPE, [self._signing_key]
            ).to_bytes()
            messages.append(
                MessageRow(
                    message_id=submission.message_id,
                    request_digest=submission.request_digest,
                    receipt=signed,
                    first_leaf_index=first,
                    leaf_count=count,
                    sender_node_id=submission.sender_node_id,
                    accepted_at=now,
                )
            )
            outbox.extend(
                OutboxItem(
                    destination=f.destination,
                    message_id=submission.message_id,
                    request_id=f.request_id,
                    sealed=f.sealed,
                    enqueued_at=now,
                )
                for f in submission.forward
            )
            plan.acks[position] = Acknowledgement(
                message_id=submission.message_id,
                receipt=signed,
                first_leaf_index=first,
                leaf_count=count,
            )

        await txn.insert_entries(rows)
        for batch in batches:
            await txn.insert_batch(batch)
        await txn.insert_messages(messages)
        # After lock_head (taken by append): outbox ids then follow commit order.
        await txn.enqueue(outbox)
        await txn.upsert_tiles(tiles)
        await txn.set_head(
            LogHead(
                size=new_frontier.size,
                frontier=b"".join(new_frontier.hashes),
                checkpoint=note,
                updated_at=now,
            )
        )

    def _sign_checkpoint(self, frontier: Frontier) -> str:
        body = Checkpoint(origin=self._origin, size=frontier.size, root_hash=frontier.root())
        return sign_note(body.to_body(), [self._signer])

    async def inclusion_proof(self, leaf_index: int, tree_size: int) -> list[bytes]:
        """The audit path of ``leaf_index`` in the tree of ``tree_size`` leaves (one tile read)."""
        head = await self._store.head()
        if not 0 <= leaf_index < tree_size <= head.size:
            raise InvalidArgument(
                f"no leaf {leaf_index} in a tree of {tree_size} (log size {head.size})",
                reason="INVALID_TREE_SIZE",
            )
        spec = inclusion_nodes(leaf_index, tree_size)
        tiles = await self._store.read_tiles(tiles_for_nodes(spec.ids))
        return spec.rehash(nodes_from_tiles(spec.ids, tiles))

    async def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """The proof that the tree at ``size2`` extends the tree at ``size1`` (one tile read)."""
        head = await self._store.head()
        if not 0 <= size1 <= size2 <= head.size:
            raise InvalidArgument(
                f"no consistency proof from {size1} to {size2} (log size {head.size})",
                reason="INVALID_TREE_SIZE",
            )
        spec = consistency_nodes(size1, size2)
        tiles = await self._store.read_tiles(tiles_for_nodes(spec.ids))
        return spec.rehash(nodes_from_tiles(spec.ids, tiles))

    @staticmethod
    def request_digest(data: bytes) -> bytes:
        """SHA-256 of a request as received (the idempotency fingerprint)."""
        return hashlib.sha256(data).digest()
