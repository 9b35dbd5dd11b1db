"""Forwarding: deliver the durable outbox to other nodes, in order, until each message settles.

A message this node accepted and must pass on (a regional gateway forwarding to the hub) is put
in the outbox by the same store transaction that appends it to the log
(:class:`~creditlink.gateway.ledger.Forward`), so it is accepted and queued together or not at
all. The :class:`Forwarder` then delivers it with the destination's ``ExchangeService.Submit``:

1. **One queue per destination, first in, first out.** One asyncio task per destination sends
   the rows in id order; the message at the head blocks the ones behind it (for that
   destination only, never others) until it is delivered or has failed for good.
2. **Idempotent resends.** Every attempt carries the row's stored ``request_id``, so the
   destination answers a resend (after a lost reply, a crash, a restart) with its original
   receipt instead of logging the message twice.
3. **Transient failures are retried with backoff that lives in the database.** UNAVAILABLE,
   DEADLINE_EXCEEDED, push-back (RESOURCE_EXHAUSTED, honouring ``RetryInfo``), connection
   failures and receipts that do not verify are recorded with ``mark_retry``; the next attempt
   is due after exponential backoff with full jitter (tenacity's ``wait_random_exponential``,
   computed from the stored attempt count, so a restart keeps the schedule).
4. **Permanent failures are recorded, never dropped silently.** A refusal that resending cannot
   cure (:data:`PERMANENT_CODES`: invalid argument, permission denied, replay, ...), or a
   transient one whose retry would fall later than ``give_up_after`` after the enqueueing
   (the destination's replay window would refuse the message by then: ``EXPIRED``), marks the
   message failed with the reason; it stays visible in
   :meth:`Forwarder.status`, in ``Store.outbox_stats`` (metrics) and in the log output, and the
   messages behind it proceed.
5. **Receipts are verified before they count.** The receipt must be a DSSE envelope signed by a
   key the trust bundle lists for the destination (kind ``receipt``), for this message and
   this destination; otherwise the attempt counts as a transient failure. Only verified
   receipts are stored.

Every attempt has a deadline (``attempt_timeout``) and every message one overall
(``give_up_after``): no retry loop runs without a bound. Pending rows survive restarts: a new
forwarder on the same store picks them up in :meth:`Forwarder.start`. Run one forwarder per
store: replicas sharing a database must forward from one of them (docs/outbox.md, "Limits").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final, cast

import grpc
import tenacity
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from creditlink.gateway.ledger import RECEIPT_PAYLOAD_TYPE
from creditlink.gateway.store.base import OutboxRow, OutboxState, Store, StoreError
from creditlink.sdk import envelope as dsse
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.errors import CreditlinkError, LimitExceeded, VerificationError
from creditlink.sdk.trust import TrustBundle
from creditlink.v1 import envelope_pb2, exchange_service_pb2, exchange_service_pb2_grpc, log_pb2

__all__ = [
    "PERMANENT_CODES",
    "DeliveryStatus",
    "Endpoint",
    "Forwarder",
    "Outcome",
    "Resolver",
    "endpoints_from_credentials",
]

_log = logging.getLogger(__name__)

#: Status codes from the destination that resending the same request cannot cure: the message
#: is marked failed. Every other code (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
#: ABORTED, CANCELLED, INTERNAL, UNKNOWN, ...) is retried until ``give_up_after``.
PERMANENT_CODES: Final = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,  # REPLAYED_MESSAGE: the id was used for another message
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)
# RESOURCE_EXHAUSTED is push-back (retry later) except for fixed limits, which the same request
# breaks again every time (sdk.errors.LimitExceeded and the interceptor's MESSAGE_TOO_LARGE).
_PERMANENT_LIMIT_REASONS: Final = frozenset({LimitExceeded.default_reason, "MESSAGE_TOO_LARGE"})
# Connection-level failures: the channel is closed and rebuilt for the next attempt, so that
# grpc's own reconnect backoff (up to two minutes) does not override the outbox's schedule, and
# an endpoint changed by a trust bundle update is picked up.
_RECONNECT_CODES: Final = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)
_STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"
# A peer's RetryInfo is honoured up to this bound, so a wrong hint cannot park a queue for
# longer (give_up_after still ends the message's life).
_MAX_RETRY_AFTER: Final = 3600.0
# last_error keeps the status code, reason and the peer's message, bounded.
_MAX_ERROR_CHARS: Final = 500
# Rows fetched per query; delivery is still one message at a time, in order.
_BATCH: Final = 32
# Shortest wait before re-reading a queue whose head is due, so a clock disagreement between
# the caller's clock and the database never becomes a busy loop.
_MIN_WAIT: Final = 0.01


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Outcome(StrEnum):
    """The result of one delivery attempt (passed to ``observe``, e.g. for metrics)."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """How to reach a node: its ``host:port`` and the channel credentials (mutual TLS)."""

    target: str
    credentials: grpc.ChannelCredentials
    #: Extra grpc channel options, e.g. ``("grpc.ssl_target_name_override", name)``.
    options: tuple[tuple[str, str | int], ...] = ()


#: Maps a destination node id to its :class:`Endpoint`; may raise (unknown node), which counts
#: as a transient failure of the attempt.
Resolver = Callable[[str], Endpoint]


def endpoints_from_credentials(
    credentials: Credentials,
    *,
    trust: Callable[[], TrustBundle] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Resolver:
    """Reach other nodes as this node: mutual TLS with ``credentials``, addresses from the bundle.

    The target is the node's first endpoint in the current trust bundle (``trust``, default the
    bundle loaded with ``credentials``) unless ``overrides`` names one (the ``[upstream]``
    endpoint of the configuration). An unknown node raises ``KeyError``, a node without
    endpoints ``LookupError``.
    """
    channel_credentials = credentials.channel_credentials()
    current = trust if trust is not None else (lambda: credentials.trust_bundle)
    fixed = dict(overrides or {})

    def resolve(node_id: str) -> Endpoint:
        target = fixed.get(node_id)
        if target is None:
            node = current().node(node_id)
            if not node.endpoints:
                raise LookupError(f"node {node_id!r} lists no endpoint in the trust bundle")
            target = node.endpoints[0]
        return Endpoint(target=target, credentials=channel_credentials)

    return resolve


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryStatus:
    """Where one message stands for one destination (an outbox row without its payload)."""

    destination: str
    message_id: str
    state: OutboxState
    attempts: int
    enqueued_at: datetime
    #: When the next attempt is due; ``None`` once the message is delivered or failed.
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    #: The destination's signed receipt (a serialized DSSE envelope), verified on delivery.
    receipt: bytes | None

    @classmethod
    def from_row(cls, row: OutboxRow) -> DeliveryStatus:
        """The status an outbox row describes."""
        return cls(
            destination=row.destination,
            message_id=row.message_id,
            state=row.state,
            attempts=row.attempts,
            enqueued_at=row.enqueued_at,
            next_attempt_at=row.next_attempt_at if row.state is OutboxState.PENDING else None,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            receipt=row.receipt,
        )


@dataclass(frozen=True, slots=True)
class _Verdict:
    """How a failed attempt counts: permanent or not, what to record, the peer's delay hint."""

    permanent: bool
    error: str
    retry_after: float | None = None


class _Unresolved(Exception):
    """The resolver could not name an endpoint for the destination."""


@dataclass(slots=True)
class _Link:
    channel: grpc.aio.Channel
    stub: exchange_service_pb2_grpc.ExchangeServiceAsyncStub


@dataclass(slots=True)
class _Worker:
    destination: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


def _bounded(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


def _status_details(exc: grpc.aio.AioRpcError) -> tuple[str | None, float | None]:
    """The ``ErrorInfo.reason`` and ``RetryInfo`` delay (seconds) the status carries, if any."""
    status = status_pb2.Status()
    # The stubs type this as the sync API's tuple of Metadatum objects; grpc.aio returns an
    # aio.Metadata, which iterates (key, value) pairs.
    pairs = cast("Iterable[tuple[str, str | bytes]]", exc.trailing_metadata() or ())
    for key, value in pairs:
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                status.ParseFromString(value)
            except DecodeError:
                return None, None  # a peer's garbage is no reason to crash; the code decides
            break
    reason: str | None = None
    retry_after: float | None = None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            reason = info.reason or None
        elif detail.Unpack(retry):
            retry_after = max(0.0, retry.retry_delay.ToTimedelta().total_seconds())
    return reason, retry_after


def _rpc_verdict(exc: grpc.aio.AioRpcError) -> _Verdict:
    code = exc.code()
    reason, retry_after = _status_details(exc)
    label = code.name if reason is None else f"{code.name}/{reason}"
    error = _bounded(f"{label}: {exc.details() or ''}")
    permanent = code in PERMANENT_CODES or (
        code is grpc.StatusCode.RESOURCE_EXHAUSTED and reason in _PERMANENT_LIMIT_REASONS
    )
    return _Verdict(permanent=permanent, error=error, retry_after=retry_after)


class Forwarder:
    """Delivers the outbox of ``store``: one in-order task per destination (module docstring).

    ``destinations`` maps a node id to its :class:`Endpoint` (see
    :func:`endpoints_from_credentials`); ``trust`` returns the current trust bundle, whose
    receipt keys verify what destinations answer. ``clock`` is the only clock read for the
    stored schedule. Backoff before attempt *n+1* is uniform in ``[0, min(max_backoff,
    min_backoff * 2**(n-1))]`` (full jitter), or the peer's ``RetryInfo`` delay if longer.
    ``attempt_timeout`` is each RPC's deadline; a retry that would fall more than
    ``give_up_after`` after the enqueueing is not scheduled: the message fails (``EXPIRED``).
    ``poll_interval`` bounds how long an idle destination waits before looking at the store
    again (rows another process enqueued without calling :meth:`wake`).
    ``observe(destination, outcome)`` is called after every attempt (metrics).
    """

    def __init__(
        self,
        *,
        store: Store,
        destinations: Resolver,
        trust: Callable[[], TrustBundle],
        clock: Callable[[], datetime] = _utc_now,
        min_backoff: float = 0.5,
        max_backoff: float = 60.0,
        attempt_timeout: float = 10.0,
        give_up_after: timedelta = timedelta(hours=24),
        poll_interval: float = 5.0,
        observe: Callable[[str, Outcome], None] | None = None,
    ) -> None:
        if not 0 < min_backoff <= max_backoff:
            raise ValueError("need 0 < min_backoff <= max_backoff")
        if attempt_timeout <= 0 or poll_interval <= 0 or give_up_after <= timedelta(0):
            raise ValueError("attempt_timeout, poll_interval and give_up_after must be positive")
        self._store = store
        self._destinations = destinations
        self._trust = trust
        self._clock = clock
        self._attempt_timeout = attempt_timeout
        self._give_up_after = give_up_after
        self._poll_interval = poll_interval
        self._observe = observe
        # tenacity computes the delays; its retry loop is not used, because the attempt count
        # lives in the outbox row and the schedule must survive restarts.
        self._wait = tenacity.wait_random_exponential(multiplier=min_backoff, max=max_backoff)
        self._retrying = tenacity.AsyncRetrying(wait=self._wait)
        self._workers: dict[str, _Worker] = {}
        self._links: dict[str, _Link] = {}
        self._scanner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._running = False

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the forwarder has been started and not stopped."""
        return self._running

    def _active(self) -> bool:
        # A method, not the attribute: the loops re-read it after every await (stop() clears
        # it meanwhile), which attribute narrowing would hide from the type checker.
        return self._running

    async def start(self) -> None:
        """Start a task for every destination with pending rows (resuming after a restart)."""
        if self._running:
            raise RuntimeError("the forwarder is already running")
        destinations = await self._store.outbox_destinations()
        # Made here, not in __init__: an Event belongs to the loop that first waits on it.
        self._stopping = asyncio.Event()
        self._running = True
        for destination in destinations:
            self._ensure(destination)
        self._scanner = asyncio.create_task(self._scan(), name="outbox-scanner")

    async def stop(self, *, grace: float | None = None) -> None:
        """Stop gracefully: attempts in flight may finish and record their outcome.

        Waits up to ``grace`` seconds (default: one attempt's deadline plus a second), then
        cancels what is left. A cancelled attempt leaves its row pending: the next forwarder
        resends it with the same ``request_id`` and the destination answers with its original
        receipt. Safe to call more than once.
        """
        if not self._running:
            return
        self._running = False
        self._stopping.set()
        for worker in self._workers.values():
            worker.wake.set()
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        if self._scanner is not None:
            tasks.append(self._scanner)
        if tasks:
            limit = self._attempt_timeout + 1.0 if grace is None else grace
            _, late = await asyncio.wait(tasks, timeout=limit)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        self._scanner = None
        links, self._links = list(self._links.values()), {}
        await asyncio.gather(*(link.channel.close(None) for link in links), return_exceptions=True)

    def wake(self, destination: str) -> None:
        """Deliver to ``destination`` now: call after a transaction that enqueued for it commits.

        Without it the rows are still found, within ``poll_interval``. Does nothing while the
        forwarder is not running (``start`` finds pending rows). Call it from the event loop's
        thread.
        """
        if self._running:
            self._ensure(destination).wake.set()

    async def status(self, message_id: str) -> list[DeliveryStatus]:
        """Where ``message_id`` stands for each destination it is forwarded to (id order)."""
        return [DeliveryStatus.from_row(row) for row in await self._store.outbox_status(message_id)]

    # -- tasks ----------------------------------------------------------------------------

    def _ensure(self, destination: str) -> _Worker:
        worker = self._workers.get(destination)
        if worker is None or worker.task is None or worker.task.done():
            worker = _Worker(destination)
            worker.task = asyncio.create_task(self._work(worker), name=f"outbox:{destination}")
            self._workers[destination] = worker
        return worker

    async def _scan(self) -> None:
        """Find destinations whose rows were enqueued without :meth:`wake` (another process)."""
        while self._active():
            await self._sleep(self._stopping, self._poll_interval)
            if not self._active():
                break
            try:
                for destination in await self._store.outbox_destinations():
                    self._ensure(destination)
            except StoreError as exc:
                _log.warning("outbox: cannot list destinations: %s", exc)

    async def _work(self, worker: _Worker) -> None:
        """Deliver one destination's queue for as long as the forwarder runs; never dies."""
        trouble = 0  # consecutive failures of the loop itself (store down, bugs)
        while self._active():
            worker.wake.clear()  # before draining: a wake during the drain is not lost
            try:
                delay = await self._drain(worker.destination)
                trouble = 0
            except StoreError as exc:
                trouble += 1
                delay = self._backoff(trouble)
                _log.warning("outbox %s: store unavailable: %s", worker.destination, exc)
            except Exception:
                trouble += 1
                delay = self._backoff(trouble)
                _log.exception("outbox %s: unexpected error", worker.destination)
            if self._active():
                await self._sleep(worker.wake, delay)

    async def _drain(self, destination: str) -> float:
        """Deliver what is due, in order; return how long to wait before looking again."""
        while self._active():
            rows = await self._store.next_outbox(destination, now=self._clock(), limit=_BATCH)
            if not rows:
                due = await self._store.outbox_next_attempt(destination)
                if due is None:
                    return self._poll_interval
                wait = (due - self._clock()).total_seconds()
                return min(self._poll_interval, max(_MIN_WAIT, wait))
            for row in rows:
                if not self._active():
                    break
                if await self._attempt(row) is Outcome.RETRY:
                    break  # the head waits for its retry, and everything behind it with it
        return 0.0

    @staticmethod
    async def _sleep(event: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=seconds)

    # -- one attempt ----------------------------------------------------------------------

    async def _attempt(self, row: OutboxRow) -> Outcome:
        try:
            sealed = envelope_pb2.SealedEnvelope.FromString(row.sealed)
        except DecodeError:
            verdict = _Verdict(
                permanent=True, error="MALFORMED_OUTBOX_ROW: the stored sealed envelope is invalid"
            )
            return await self._fail(row, verdict)
        request = exchange_service_pb2.SubmitRequest(request_id=row.request_id, sealed=sealed)
        try:
            stub = self._stub(row.destination)
            response = await stub.Submit(request, timeout=self._attempt_timeout)
        except grpc.aio.AioRpcError as exc:
            verdict = _rpc_verdict(exc)
            if exc.code() in _RECONNECT_CODES:
                await self._drop_link(row.destination)
        except _Unresolved as exc:
            verdict = _Verdict(permanent=False, error=_bounded(f"ENDPOINT_UNRESOLVED: {exc}"))
        else:
            try:
                receipt = self._verified_receipt(row, response)
            except CreditlinkError as exc:
                # Most likely our trust bundle lags behind a key rotation: wait for it (the
                # destination answers the resend with the same receipt) rather than drop.
                verdict = _Verdict(
                    permanent=False, error=_bounded(f"INVALID_RECEIPT/{exc.reason}: {exc.message}")
                )
            else:
                return await self._delivered(row, receipt)
        if verdict.permanent:
            return await self._fail(row, verdict)
        return await self._retry(row, verdict)

    def _stub(self, destination: str) -> exchange_service_pb2_grpc.ExchangeServiceAsyncStub:
        link = self._links.get(destination)
        if link is None:
            try:
                endpoint = self._destinations(destination)
            except Exception as exc:  # the resolver is the caller's code; any failure counts
                raise _Unresolved(f"{type(exc).__name__}: {exc}") from exc
            channel = grpc.aio.secure_channel(
                endpoint.target, endpoint.credentials, options=list(endpoint.options)
            )
            link = _Link(channel, exchange_service_pb2_grpc.ExchangeServiceStub(channel))
            self._links[destination] = link
        return link.stub

    async def _drop_link(self, destination: str) -> None:
        link = self._links.pop(destination, None)
        if link is not None:
            await link.channel.close(None)

    def _verified_receipt(
        self, row: OutboxRow, response: exchange_service_pb2.SubmitResponse
    ) -> bytes:
        """The receipt's bytes, once it verifies as the destination's receipt for this row.

        1. structure (:class:`~creditlink.sdk.envelope.Envelope`), 2. payload type and a
        signature by a receipt key the trust bundle lists for the destination now, 3. only then
        the payload, parsed strictly as a ``Receipt``, 4. naming this destination and message.
        """
        if not response.HasField("receipt"):
            raise VerificationError("the response carries no receipt", reason="MISSING_RECEIPT")
        signed = dsse.Envelope.from_proto(response.receipt)
        keys = self._trust().signing_keys(row.destination, kind="receipt", at=self._clock())
        receipt = dsse.verify_message(
            signed, keys=keys, expected_type=RECEIPT_PAYLOAD_TYPE, message_type=log_pb2.Receipt
        )
        if receipt.gateway_node_id != row.destination or receipt.message_id != row.message_id:
            raise VerificationError(
                f"the receipt is for {receipt.message_id!r} at {receipt.gateway_node_id!r}",
                reason="RECEIPT_MISMATCH",
            )
        return signed.to_bytes()

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        state = tenacity.RetryCallState(retry_object=self._retrying, fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        return float(self._wait(state))

    # -- recording outcomes ---------------------------------------------------------------

    async def _delivered(self, row: OutboxRow, receipt: bytes) -> Outcome:
        await self._store.mark_delivered(row.id, receipt=receipt, at=self._clock())
        _log.info(
            "outbox %s: delivered %s after %d attempts",
            row.destination,
            row.message_id,
            row.attempts + 1,
        )
        return self._report(row, Outcome.DELIVERED)

    async def _retry(self, row: OutboxRow, verdict: _Verdict) -> Outcome:
        delay = self._backoff(row.attempts + 1)
        if verdict.retry_after is not None:
            delay = max(delay, min(verdict.retry_after, _MAX_RETRY_AFTER))
        due = self._clock() + timedelta(seconds=delay)
        if due - row.enqueued_at > self._give_up_after:
            # The bound on the whole retry loop: by then the destination's replay window
            # would refuse the message anyway.
            expired = f"EXPIRED: not delivered within {self._give_up_after}; {verdict.error}"
            return await self._fail(row, _Verdict(permanent=True, error=_bounded(expired)))
        await self._store.mark_retry(row.id, error=verdict.error, next_attempt_at=due)
        _log.info(
            "outbox %s: attempt %d for %s failed (%s); next in %.2fs",
            row.destination,
            row.attempts + 1,
            row.message_id,
            verdict.error,
            delay,
        )
        return self._report(row, Outcome.RETRY)

    async def _fail(self, row: OutboxRow, verdict: _Verdict) -> Outcome:
        await self._store.mark_failed(row.id, error=verdict.error)
        _log.warning(
            "outbox %s: %s failed for good after %d attempts: %s",
            row.destination,
            row.message_id,
            row.attempts + 1,
            verdict.error,
        )
        return self._report(row, Outcome.FAILED)

    def _report(self, row: OutboxRow, outcome: Outcome) -> Outcome:
        if self._observe is not None:
            self._observe(row.destination, outcome)
        return outcome
