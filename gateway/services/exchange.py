"""ExchangeService: submissions in, log entries, receipts and proofs out.

A thin servicer over :class:`~creditlink.gateway.intake.Intake` (open, verify, check),
:class:`~creditlink.gateway.ledger.Ledger` (sequence, sign, commit) and the
:class:`~creditlink.gateway.store.base.Store` (read back). Every RPC first identifies the peer
from its client certificate (:func:`~creditlink.gateway.auth.peer_identity`) and checks reads
with :class:`~creditlink.gateway.auth.Permissions`; failures are raised as
``creditlink.sdk.errors`` exceptions and turned into statuses by the one error interceptor
(``gateway/errors.py``), never here. The intake is CPU work: it runs on the node's intake
workers (:mod:`creditlink.gateway.workers`), several submissions in parallel, or in place.

* ``Submit`` answers only after the ledger committed (acknowledged means durable); concurrent
  calls share commits (:meth:`Ledger.append_one`). A retry of an accepted message gets the
  original receipt, a different message reusing its id is refused.
* ``SubmitStream`` grants credits (:class:`FlowLimits`), answers each batch with a receipt or a
  :class:`BatchRejection`, and commits the batches that arrived together in ONE ledger append
  (group commit). Each batch's check starts as it arrives, so the checks of the next batches
  overlap the append and answers of the current ones. A bad batch is a rejection on the
  stream; only a protocol violation (sequence out of order, a batch without credit, an
  undecodable message) ends it.
* ``Subscribe`` streams readable entries in log order from a cursor, with ``progress`` messages
  over filtered stretches and at the end of each catch-up, then follows the log live: woken by
  :meth:`ExchangeServicer.notify_appended` and re-checking every ``poll_interval`` for entries
  other replicas appended.
* ``GetCheckpoint``, ``GetInclusionProof``, ``GetConsistencyProof`` and ``GetReceipt`` read the
  log. A proof comes with a signed checkpoint for its tree size: the latest one, or, for an
  inclusion proof, the one in the receipt of the message that holds the leaf. Other sizes have
  no stored checkpoint (``CHECKPOINT_NOT_FOUND``). Items of a batch are found by leaf index or
  by their batch id, not by their own message id: the log keeps no per-item id index, which is
  what keeps ingest at one row per record.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Final

import grpc
from google.protobuf import duration_pb2, message_factory

from creditlink.gateway.auth import STATEMENT_KINDS, PeerIdentity, Permissions, peer_identity
from creditlink.gateway.intake import Intake, RejectedBatch
from creditlink.gateway.ledger import Ledger, Submission
from creditlink.gateway.services._common import check_request, check_request_id, require_field
from creditlink.gateway.services._log_entries import (
    EntryBuilder,
    entries_response,
    entry_response,
)
from creditlink.gateway.services.pipeline import SubmitPipeline
from creditlink.gateway.store.base import EntryRow, LogHead, Store, StoreUnavailable
from creditlink.gateway.workers import InlineIntake, IntakeRunner
from creditlink.sdk.errors import (
    CreditlinkError,
    FieldViolation,
    InvalidArgument,
    LimitExceeded,
    NotFound,
    Pushback,
    Unavailable,
)
from creditlink.sdk.tlog import HASH_SIZE, Frontier
from creditlink.sdk.trust import NodeInfo, TrustBundle
from creditlink.v1 import (
    envelope_pb2,
    exchange_service_pb2,
    exchange_service_pb2_grpc,
    log_pb2,
)

__all__ = ["ExchangeServicer", "FlowLimits"]

_Context = grpc.aio.ServicerContext[Any, Any]

_MAX_SUBSCRIBE_KINDS: Final = 32
_MAX_TEXT: Final = 1024
_MAX_ITEM_VIOLATIONS: Final = 64


@dataclass(frozen=True, kw_only=True)
class FlowLimits:
    """What ``SubmitStream`` grants: the credit window and the per-batch limits."""

    #: Batches a client may have unanswered; also the most batches one group commit takes.
    window: int = 8
    max_batch_items: int = 10_000
    #: Largest ``SubmitStreamRequest``; the error interceptor's and grpc's limits must be above.
    max_batch_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.window < 1 or self.max_batch_items < 1 or self.max_batch_bytes < 1:
            raise ValueError("flow limits must be positive")


class _End:
    """The client half-closed the stream."""


_END: Final = _End()


@dataclass(frozen=True, slots=True)
class _Checking:
    """A streamed batch and the intake task checking it."""

    request: exchange_service_pb2.SubmitStreamRequest
    task: asyncio.Task[Submission]


@dataclass(slots=True)
class _Credits:
    granted: int
    received: int = 0


#: Most entries in one ``SubscribeResponse.entries`` page (``EntryPage.entries`` max_items).
_MAX_PAGE_ENTRIES: Final = 1000
#: A page is sent once its entries reach this many bytes, whatever their number.
_MAX_PAGE_BYTES: Final = 1 << 20


def _text(message: str) -> str:
    return message if len(message) <= _MAX_TEXT else message[: _MAX_TEXT - 1] + "…"


def _envelope(data: bytes) -> envelope_pb2.Envelope:
    # Bytes the ledger stored (a receipt it signed, an envelope it verified): parsing them back
    # for the response re-serializes nothing a verifier checks (payload stays bytes).
    return envelope_pb2.Envelope.FromString(data)


def _rejection(exc: CreditlinkError) -> exchange_service_pb2.BatchRejection:
    """A per-batch refusal on the stream: the same reason the unary call would carry."""
    rejection = exchange_service_pb2.BatchRejection(
        reason=exc.reason,
        message=_text(exc.message),
        retryable=isinstance(exc, Pushback | Unavailable | StoreUnavailable),
        code=exc.status_code.value[0],
    )
    if isinstance(exc, Pushback) and exc.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromTimedelta(exc.retry_after)
        rejection.retry_after.CopyFrom(delay)
    if isinstance(exc, RejectedBatch):
        for failure in exc.failures:
            item = rejection.items.add(
                index=failure.index,
                message_id=failure.message_id,
                reason=failure.error.reason,
                message=_text(failure.error.message),
            )
            if isinstance(failure.error, InvalidArgument):
                for violation in failure.error.field_violations[:_MAX_ITEM_VIOLATIONS]:
                    item.violations.add(
                        field=violation.field, description=_text(violation.description)
                    )
    return rejection


def _rounds(accepted: Sequence[tuple[int, Submission]]) -> list[list[tuple[int, Submission]]]:
    """Split one group into appends with distinct ids, keeping order.

    A client may resend a batch while the first copy is still in the same group; one append
    cannot hold one id twice, so the copy goes into the next append, where the ledger answers
    it as the retry (or replay) it is.
    """
    rounds: list[list[tuple[int, Submission]]] = []
    seen: list[set[str]] = []
    for position, submission in accepted:
        number = next(
            (n for n, ids in enumerate(seen) if submission.message_id not in ids), len(seen)
        )
        if number == len(seen):
            seen.append(set())
            rounds.append([])
        seen[number].add(submission.message_id)
        rounds[number].append((position, submission))
    # The caller commits the rounds in order, so a copy is judged against its original.
    return rounds


#: grpc's handler constructor for each (client streaming, server streaming).
_HANDLERS: Final[dict[tuple[bool, bool], Callable[..., grpc.RpcMethodHandler[Any, Any]]]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def _sent_as_is(serialize: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def serializer(response: Any) -> bytes:
        return response if type(response) is bytes else serialize(response)

    return serializer


class ExchangeServicer(exchange_service_pb2_grpc.ExchangeServiceServicer):
    """The ``creditlink.v1.ExchangeService`` of one gateway."""

    def __init__(
        self,
        *,
        intake: Intake | IntakeRunner,
        ledger: Ledger,
        store: Store,
        trust: Callable[[], TrustBundle],
        on_append: Callable[[int], None] | None = None,
        flow: FlowLimits | None = None,
        page_size: int = 500,
        poll_interval: float = 1.0,
        heartbeat_interval: float = 30.0,
        identify: PeerIdentity = peer_identity,
        on_forward: Callable[[Collection[str]], None] | None = None,
    ) -> None:
        """Serve over these parts; ``on_append(size)`` hears of every growth of the log.

        With ``on_forward``, accepted messages addressed to other nodes are queued in the
        outbox with their append (the intake names the next hops, CXP-API-008), and
        ``on_forward(destinations)`` is called after each commit that queued some (to wake the
        forwarder). Without it nothing is forwarded.

        ``identify`` names the caller of each RPC (mutual TLS by default; see
        :mod:`creditlink.gateway.auth` for the development shortcut).

        ``page_size`` entries are read at a time by ``Subscribe``; ``poll_interval`` seconds
        bound how late a live subscriber sees entries another replica appended;
        ``heartbeat_interval`` seconds of silence make a live subscription send a progress
        message with a fresh checkpoint.
        """
        if page_size < 1 or poll_interval <= 0 or heartbeat_interval <= 0:
            raise ValueError("page_size and intervals must be positive")
        runner: IntakeRunner = InlineIntake(intake) if isinstance(intake, Intake) else intake
        #: The submit path this node's other services share (they wake subscribers too).
        self.pipeline = SubmitPipeline(
            intake=runner, ledger=ledger, on_append=self.notify_appended, on_forward=on_forward
        )
        self._intake = runner
        self._ledger = ledger
        self._store = store
        self._trust = trust
        self._on_append = on_append
        self._flow = flow or FlowLimits()
        self._page = page_size
        self._poll = poll_interval
        self._heartbeat = heartbeat_interval
        self._identify = identify
        self._on_forward = on_forward
        # Live subscribers wait on the current event; a growth sets it and puts a fresh one in
        # place. Swapping (rather than clearing) means a waiter that took the event before
        # reading the store cannot miss a growth that happens in between.
        self._grown = asyncio.Event()
        self._known_size = 0

    # --- notifications ---------------------------------------------------------------------------

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Serve ``ExchangeService`` on ``server`` with this servicer.

        The generated ``add_ExchangeServiceServicer_to_server``, except that a ``Subscribe``
        response this servicer serialized already (its entries) is sent as it is: the
        generated serializer would need the page parsed into a message only to serialize it
        again, about 3 µs per entry.
        """
        service = exchange_service_pb2.DESCRIPTOR.services_by_name["ExchangeService"]
        handlers = {}
        for method in service.methods:
            request = message_factory.GetMessageClass(method.input_type)
            serialize: Callable[[Any], bytes]
            serialize = message_factory.GetMessageClass(method.output_type).SerializeToString
            if method.name == "Subscribe":
                serialize = _sent_as_is(serialize)
            handler = _HANDLERS[method.client_streaming, method.server_streaming]
            handlers[method.name] = handler(
                getattr(self, method.name),
                request_deserializer=request.FromString,
                response_serializer=serialize,
            )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service.full_name, handlers),)
        )
        # As the generated code does (grpc >= 1.62; the type stubs do not list it yet).
        server.add_registered_method_handlers(service.full_name, handlers)  # type: ignore[attr-defined]

    def notify_appended(self, size: int) -> None:
        """The log now holds ``size`` entries: wake live subscribers, tell ``on_append``.

        Called by this servicer after each commit; other writers in the same process (domain
        services, the outbox) call it too. Sizes only grow: a late, smaller report is ignored.
        """
        if size <= self._known_size:
            return
        self._known_size = size
        grown, self._grown = self._grown, asyncio.Event()
        grown.set()
        if self._on_append is not None:
            self._on_append(size)

    # --- helpers -----------------------------------------------------------------------------

    def _peer(self, context: _Context) -> tuple[TrustBundle, NodeInfo]:
        trust = self._trust()
        return trust, self._identify(context, trust)

    async def _head(self) -> tuple[LogHead, log_pb2.SignedCheckpoint]:
        """The latest head and its signed checkpoint, taken together."""
        head = await self._store.head()
        if not head.checkpoint:
            # A fresh log: sign the empty tree's checkpoint, then re-read the head so that size
            # and note belong together even if an append happened meanwhile.
            await self._ledger.ensure_checkpoint()
            head = await self._store.head()
        frontier = Frontier(
            size=head.size,
            hashes=tuple(
                head.frontier[i : i + HASH_SIZE] for i in range(0, len(head.frontier), HASH_SIZE)
            ),
        )
        checkpoint = log_pb2.SignedCheckpoint(
            note=head.checkpoint,
            origin=self._ledger.origin,
            size=head.size,
            root_hash=frontier.root(),
        )
        return head, checkpoint

    def _request_id(self, request_id: str) -> str | None:
        # The intake plans forwards only when given the request id they are sent with.
        return request_id if self._on_forward is not None else None

    # --- Submit ------------------------------------------------------------------------------

    async def Submit(  # noqa: N802 - the contract's method name
        self, request: exchange_service_pb2.SubmitRequest, context: _Context
    ) -> exchange_service_pb2.SubmitResponse:
        """Open, verify, check and log one sealed statement or batch; answer with its receipt."""
        _, peer = self._peer(context)
        check_request_id(request.request_id)
        require_field(request.HasField("sealed"), "sealed")
        # Concurrent calls share one transaction (group commit): a call waits for at most the
        # commit in progress and then its own group's, instead of one commit per call.
        ack = await self.pipeline.submit(request.sealed, peer=peer, request_id=request.request_id)
        return exchange_service_pb2.SubmitResponse(receipt=_envelope(ack.receipt))

    # --- SubmitStream ------------------------------------------------------------------------

    def _flow_control(self, credits: int) -> exchange_service_pb2.SubmitStreamResponse:
        flow = self._flow
        return exchange_service_pb2.SubmitStreamResponse(
            flow_control=exchange_service_pb2.FlowControl(
                credits=credits,
                max_batch_items=flow.max_batch_items,
                max_batch_bytes=flow.max_batch_bytes,
            )
        )

    async def SubmitStream(  # noqa: N802 - the contract's method name
        self,
        request_iterator: AsyncIterator[exchange_service_pb2.SubmitStreamRequest],
        context: _Context,
    ) -> AsyncIterator[exchange_service_pb2.SubmitStreamResponse]:
        """Batches in within the credits granted, one result each; see the module docstring."""
        _, peer = self._peer(context)
        window = self._flow.window
        credits = _Credits(granted=window)
        inbox: asyncio.Queue[_Checking | _End | Exception] = asyncio.Queue()
        checks: set[asyncio.Task[Submission]] = set()

        def check(request: exchange_service_pb2.SubmitStreamRequest) -> _Checking:
            # The intake of each batch starts as soon as it arrives (on the intake workers, in
            # parallel), so checking the next batches overlaps this one's append and answer.
            task = asyncio.create_task(self._check_batch(request, peer))
            checks.add(task)
            task.add_done_callback(checks.discard)
            return _Checking(request, task)

        yield self._flow_control(window)
        # Reading runs beside processing, so batches that arrive while a group commits are
        # queued (and checked) and form the next group.
        reader = asyncio.create_task(self._read_stream(request_iterator, inbox, credits, check))
        try:
            ended = False
            while not ended:
                group: list[_Checking] = []
                failure: Exception | None = None
                item = await inbox.get()
                while True:
                    if isinstance(item, _End):
                        ended = True
                        break
                    if isinstance(item, Exception):
                        failure, ended = item, True
                        break
                    group.append(item)
                    if len(group) >= window or inbox.empty():
                        break
                    item = inbox.get_nowait()
                if group:
                    results = await self._commit_group(group)
                    # Credits come back as results go out: the client may send one new batch
                    # per result it has received.
                    credits.granted += len(group)
                    for result in results:
                        yield exchange_service_pb2.SubmitStreamResponse(result=result)
                    yield self._flow_control(len(group))
                if failure is not None:
                    raise failure
        finally:
            reader.cancel()
            for task in list(checks):
                task.cancel()
            await asyncio.gather(reader, *checks, return_exceptions=True)

    async def _read_stream(
        self,
        requests: AsyncIterator[exchange_service_pb2.SubmitStreamRequest],
        inbox: asyncio.Queue[_Checking | _End | Exception],
        credits: _Credits,
        check: Callable[[exchange_service_pb2.SubmitStreamRequest], _Checking],
    ) -> None:
        """Queue requests in order, their checks started; stop at the first protocol violation."""
        expected = 1
        try:
            async for request in requests:
                credits.received += 1
                if request.sequence != expected:
                    inbox.put_nowait(
                        InvalidArgument(
                            f"batch sequence {request.sequence} where {expected} was due",
                            reason="SEQUENCE_OUT_OF_ORDER",
                        )
                    )
                    return
                if credits.received > credits.granted:
                    inbox.put_nowait(
                        LimitExceeded(
                            f"batch {request.sequence} was sent without credit "
                            f"({credits.granted} granted)",
                            reason="FLOW_CONTROL_VIOLATION",
                        )
                    )
                    return
                expected += 1
                inbox.put_nowait(check(request))
            inbox.put_nowait(_END)
        except Exception as exc:  # undecodable or oversize message, broken transport
            inbox.put_nowait(exc)
        except BaseException:
            # Cancelled: normally by SubmitStream itself on its way out; if not, it must not
            # wait for a request that will never come.
            inbox.put_nowait(Unavailable("the request stream stopped", reason="STREAM_STOPPED"))
            raise

    def _check_batch_request(self, request: exchange_service_pb2.SubmitStreamRequest) -> None:
        check_request_id(request.request_id)
        require_field(request.HasField("sealed_batch"), "sealed_batch")
        size = request.ByteSize()
        if size > self._flow.max_batch_bytes:
            raise LimitExceeded(
                f"batch of {size} bytes exceeds the granted {self._flow.max_batch_bytes}",
                reason="BATCH_TOO_LARGE",
            )

    async def _check_batch(
        self, request: exchange_service_pb2.SubmitStreamRequest, peer: NodeInfo
    ) -> Submission:
        """The intake of one streamed batch, within the flow-control limits."""
        self._check_batch_request(request)
        # Re-serialized for the intake: sound for the reasons given in SubmitPipeline.prepare.
        submission = await self._intake.batch(
            request.sealed_batch.SerializeToString(),
            peer=peer.node_id,
            request_id=self._request_id(request.request_id),
        )
        if len(submission.entries) > self._flow.max_batch_items:
            raise LimitExceeded(
                f"batch of {len(submission.entries)} items exceeds the granted "
                f"{self._flow.max_batch_items}",
                reason="BATCH_TOO_LARGE",
            )
        return submission

    async def _commit_group(
        self, checking: Sequence[_Checking]
    ) -> list[exchange_service_pb2.BatchResult]:
        """Await every batch's check, log the accepted ones in one append, answer each."""
        group = [c.request for c in checking]
        outcomes: list[bytes | CreditlinkError | None] = [None] * len(group)
        checked = await asyncio.gather(*(c.task for c in checking), return_exceptions=True)
        accepted: list[tuple[int, Submission]] = []
        for position, verdict in enumerate(checked):
            if isinstance(verdict, Submission):
                accepted.append((position, verdict))
            elif isinstance(verdict, CreditlinkError):
                outcomes[position] = verdict
            else:
                raise verdict  # not a verdict on the batch: a bug or cancellation
        for members in _rounds(accepted):
            try:
                acks = await self._ledger.append([s for _, s in members])
            except CreditlinkError as exc:  # the store failed: nothing of this append is stored
                for position, _ in members:
                    outcomes[position] = exc
                continue
            # Wakes subscribers and the forwarder (pipeline.accepted → notify_appended).
            self.pipeline.accepted([s for _, s in members], acks)
            for (position, _), ack in zip(members, acks, strict=True):
                outcomes[position] = ack.error if ack.error is not None else ack.receipt
        results: list[exchange_service_pb2.BatchResult] = []
        for request, outcome in zip(group, outcomes, strict=True):
            result = exchange_service_pb2.BatchResult(
                sequence=request.sequence, request_id=request.request_id
            )
            if isinstance(outcome, bytes):
                result.receipt.CopyFrom(_envelope(outcome))
            else:
                assert outcome is not None
                result.rejection.CopyFrom(_rejection(outcome))
            results.append(result)
        return results

    # --- Subscribe ---------------------------------------------------------------------------

    def _subscribed_kinds(self, requested: Collection[str], reads: Permissions) -> frozenset[str]:
        if len(requested) > _MAX_SUBSCRIBE_KINDS:
            raise InvalidArgument(
                f"at most {_MAX_SUBSCRIBE_KINDS} kinds per subscription", reason="TOO_MANY_KINDS"
            )
        unknown = sorted(set(requested) - STATEMENT_KINDS)
        if unknown:
            raise InvalidArgument(f"unknown kinds {unknown}", reason="UNKNOWN_KIND")
        if not requested:
            reads.require_any_read()
            return reads.readable_kinds
        for kind in requested:
            reads.require_some_read(kind)
        return frozenset(requested)

    # The generated base says messages only; pages are sent serialized (add_to_server).
    async def Subscribe(  # type: ignore[override]  # noqa: N802 - the contract's method name
        self, request: exchange_service_pb2.SubscribeRequest, context: _Context
    ) -> AsyncIterator[exchange_service_pb2.SubscribeResponse | bytes]:
        """Entries in log order from ``request.cursor``; live unless ``stop_at_head``.

        Entries, one per response or in pages, come as the serialized response, written
        without building messages (:mod:`._log_entries`): register with :meth:`add_to_server`,
        which sends them as they are.
        """
        trust, peer = self._peer(context)
        check_request(request)
        reads = Permissions(trust, peer)
        kinds = self._subscribed_kinds(request.kinds, reads)
        # The store filters by kind; every kind at all needs no filter (a plain range scan).
        wanted = None if kinds >= STATEMENT_KINDS else kinds
        builder = EntryBuilder(self._store)
        cursor = request.cursor
        # A page holds at most as many entries as the caller allows (and the contract's 1,000)
        # and about 1 MiB, far below any message size limit.
        per_response = min(request.max_entries_per_response, _MAX_PAGE_ENTRIES)
        sent_any = False
        quiet_since = time.monotonic()
        while True:
            grown = self._grown  # taken before reading: a later growth sets this one
            head, checkpoint = await self._head()
            if cursor > head.size:
                raise InvalidArgument(
                    f"cursor {cursor} is beyond the end of the log ({head.size} entries)",
                    reason="CURSOR_BEYOND_LOG",
                )
            if cursor < head.size:
                if per_response <= 1:
                    async for entry in self._entries(builder, cursor, head.size, wanted, reads):
                        yield entry_response(entry)
                else:
                    page: list[bytes] = []
                    size = 0
                    async for entry in self._entries(builder, cursor, head.size, wanted, reads):
                        page.append(entry)
                        size += len(entry)
                        if len(page) >= per_response or size >= _MAX_PAGE_BYTES:
                            yield entries_response(page)
                            page, size = [], 0
                    if page:
                        yield entries_response(page)
                # Every catch-up ends with a progress message: it moves the cursor past
                # entries filtered out at the end, and its checkpoint covers everything just
                # delivered, so the subscriber can check inclusion right away.
                yield self._progress(head.size, checkpoint)
                cursor, sent_any, quiet_since = head.size, True, time.monotonic()
                continue
            if request.stop_at_head:
                if not sent_any:
                    yield self._progress(cursor, checkpoint)
                return
            if time.monotonic() - quiet_since >= self._heartbeat:
                yield self._progress(cursor, checkpoint)
                quiet_since = time.monotonic()
            # Woken by a growth, or after poll_interval to re-check: another replica sharing
            # the database may have appended without this process knowing.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(grown.wait(), timeout=self._poll)

    @staticmethod
    def _progress(
        cursor: int, checkpoint: log_pb2.SignedCheckpoint
    ) -> exchange_service_pb2.SubscribeResponse:
        return exchange_service_pb2.SubscribeResponse(
            progress=exchange_service_pb2.SubscribeProgress(
                next_cursor=cursor, checkpoint=checkpoint
            )
        )

    async def _entries(
        self,
        builder: EntryBuilder,
        start: int,
        end: int,
        kinds: frozenset[str] | None,
        reads: Permissions,
    ) -> AsyncIterator[bytes]:
        """Entries of ``kinds`` in ``[start, end)`` that ``reads`` opens, a page at a time,
        as serialized ``LogEntry`` messages.

        Entries a scoped grant does not cover are skipped like entries of other kinds: the
        progress message that ends each catch-up moves the cursor past them.
        """
        everywhere = reads.fully_readable_kinds
        position = start
        while position < end:
            rows = await self._store.read_entries(position, limit=self._page, kinds=kinds)
            for row in rows:
                if row.leaf_index >= end:
                    return  # appended after the head was read: the next round takes them
                if row.kind in everywhere or reads.may_read(
                    row.kind, sender_node_id=row.sender_node_id, payload=row.payload
                ):
                    yield await builder.entry_bytes(row)
            if len(rows) < self._page:
                return  # nothing more of these kinds up to the end of the log
            position = rows[-1].leaf_index + 1

    # --- reads -------------------------------------------------------------------------------

    async def GetCheckpoint(  # noqa: N802 - the contract's method name
        self, request: exchange_service_pb2.GetCheckpointRequest, context: _Context
    ) -> exchange_service_pb2.GetCheckpointResponse:
        """The latest signed checkpoint."""
        self._peer(context)
        _, checkpoint = await self._head()
        return exchange_service_pb2.GetCheckpointResponse(checkpoint=checkpoint)

    async def _receipt_checkpoint(self, row: EntryRow) -> log_pb2.SignedCheckpoint | None:
        """The checkpoint in the receipt of the message (or batch) that logged ``row``."""
        message = await self._store.get_message(row.batch_id or row.message_id)
        if message is None:
            return None
        receipt = log_pb2.Receipt.FromString(_envelope(message.receipt).payload)
        return receipt.checkpoint

    async def GetInclusionProof(  # noqa: N802 - the contract's method name
        self, request: exchange_service_pb2.GetInclusionProofRequest, context: _Context
    ) -> exchange_service_pb2.GetInclusionProofResponse:
        """The entry at a leaf, its inclusion proof and the checkpoint for the proof's size."""
        trust, peer = self._peer(context)
        head, latest = await self._head()
        which = request.WhichOneof("leaf")
        if which == "message_id":
            message = await self._store.get_message(request.message_id)
            if message is None:
                raise NotFound(
                    f"no accepted message or batch {request.message_id!r}",
                    reason="MESSAGE_NOT_FOUND",
                )
            leaf = message.first_leaf_index
        elif which == "leaf_index":
            leaf = request.leaf_index
        else:
            raise InvalidArgument(
                "give leaf_index or message_id",
                reason="CONSTRAINT_VIOLATION",
                field_violations=(FieldViolation("leaf", "one of the two is required"),),
            )
        row = await self._store.get_entry(leaf) if leaf < head.size else None
        if row is None:
            raise NotFound(f"no leaf {leaf} in a log of {head.size}", reason="LEAF_NOT_FOUND")
        Permissions(trust, peer).require_read(
            row.kind, sender_node_id=row.sender_node_id, payload=row.payload
        )
        size = request.tree_size or head.size
        if not leaf < size <= head.size:
            raise InvalidArgument(
                f"no leaf {leaf} in a tree of {size} (log size {head.size})",
                reason="INVALID_TREE_SIZE",
            )
        checkpoint: log_pb2.SignedCheckpoint | None = latest
        if size != head.size:
            checkpoint = await self._receipt_checkpoint(row)
            if checkpoint is None or checkpoint.size != size:
                raise NotFound(
                    f"no signed checkpoint for tree size {size} is kept; use 0 (the latest) "
                    "or the size in the receipt",
                    reason="CHECKPOINT_NOT_FOUND",
                )
        hashes = await self._ledger.inclusion_proof(leaf, size)
        return exchange_service_pb2.GetInclusionProofResponse(
            entry=await EntryBuilder(self._store).entry(row),
            proof=log_pb2.InclusionProof(leaf_index=leaf, tree_size=size, hashes=hashes),
            checkpoint=checkpoint,
        )

    async def GetConsistencyProof(  # noqa: N802 - the contract's method name
        self, request: exchange_service_pb2.GetConsistencyProofRequest, context: _Context
    ) -> exchange_service_pb2.GetConsistencyProofResponse:
        """The proof that the latest tree (or ``to_size``) extends the tree of ``from_size``."""
        self._peer(context)
        head, checkpoint = await self._head()
        to_size = request.to_size or head.size
        if not 1 <= request.from_size <= to_size <= head.size:
            raise InvalidArgument(
                f"no consistency proof from {request.from_size} to {to_size} "
                f"(log size {head.size})",
                reason="INVALID_TREE_SIZE",
            )
        if to_size != head.size:
            raise NotFound(
                f"no signed checkpoint for tree size {to_size} is kept; use 0 (the latest)",
                reason="CHECKPOINT_NOT_FOUND",
            )
        hashes = await self._ledger.consistency_proof(request.from_size, to_size)
        return exchange_service_pb2.GetConsistencyProofResponse(
            proof=log_pb2.ConsistencyProof(
                from_size=request.from_size, to_size=to_size, hashes=hashes
            ),
            checkpoint=checkpoint,
        )

    async def GetReceipt(  # noqa: N802 - the contract's method name
        self, request: exchange_service_pb2.GetReceiptRequest, context: _Context
    ) -> exchange_service_pb2.GetReceiptResponse:
        """The signed receipt of an accepted message or batch, by its id."""
        trust, peer = self._peer(context)
        message = await self._store.get_message(request.message_id)
        if message is None:
            raise NotFound(
                f"no accepted message or batch {request.message_id!r}", reason="MESSAGE_NOT_FOUND"
            )
        row = await self._store.get_entry(message.first_leaf_index)
        if row is None:
            raise RuntimeError(f"message {request.message_id!r} has no first leaf in the log")
        Permissions(trust, peer).require_read(
            row.kind, sender_node_id=message.sender_node_id, payload=row.payload
        )
        return exchange_service_pb2.GetReceiptResponse(
            receipt=_envelope(message.receipt), leaf_index=message.first_leaf_index
        )
