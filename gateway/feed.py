"""The feed follower: a regional gateway mirrors its upstream's lists and trust bundle.

A gateway configured with an ``[upstream]`` (a regional gateway under the hub) runs one
:class:`FeedFollower` (started and stopped by :class:`~creditlink.gateway.node.GatewayNode`). It
keeps two long-lived streams open to the upstream over mutual TLS, as the node itself:

**Trust bundle updates** (``FederationService.WatchTrustBundle`` from the node's version). Each
version received is handed to ``install`` (:meth:`GatewayNode.install_trust_bundle
<creditlink.gateway.node.GatewayNode.install_trust_bundle>`), which verifies it as the next
version of the node's bundle (:meth:`TrustBundle.verify_update
<creditlink.sdk.trust.TrustBundle.verify_update>`: signed by the current roots' threshold and
its own, same federation, version + 1, not expired), writes it atomically to the credentials
directory (:func:`~creditlink.sdk.credentials.update_trust_bundle`, re-pinning rotated roots)
and swaps it in, so every later call uses it. A version that fails is refused, logged and
counted (``creditlink_trust_bundle_rejected_total{reason}``), never installed.

**The feed** (``ExchangeService.Subscribe`` for ``kinds``, by default
:data:`DEFAULT_FEED_KINDS`: name-list entries and transitions and measure lists), from the
cursor persisted in the store. Nothing is stored before it is verified, in this order:

1. *The entry's signature.* Single statements: the DSSE envelope verifies under a key the
   node's trust bundle lists for the sender and the entry's kind at the time the upstream
   logged it (``integrated_at``; a later rotation does not invalidate history). Batch items:
   the batch head verifies under the sender's keys and the item's audit path leads to the
   signed batch root (:func:`~creditlink.sdk.batch.verify_batched`), and the sender may sign
   the item's kind. The payload is then parsed strictly; its body must be the kind its type
   names and its header must name the signer.
2. *The upstream's checkpoint.* Every checkpoint used is a signed note verified with the
   upstream's checkpoint keys from the trust bundle, for the upstream's log origin.
3. *Consistency.* The follower keeps the last checkpoint it proved (persisted with the cursor)
   and takes the next one only with a consistency proof from it (``GetConsistencyProof`` to the
   latest): the upstream cannot rewrite or fork the history the node has mirrored. Two signed
   checkpoints of one size with different roots, a smaller size, or a proof that does not verify
   is a split view (:class:`SplitView`, keeping both notes as evidence).
4. *Inclusion.* Each entry's inclusion proof in that proven checkpoint
   (``GetInclusionProof``), checked against the leaf hash the follower computes itself from the
   signed payload (``SHA-256(0x00 || PAE(payload_type, payload))``).

Verified entries and the new cursor (with the proven checkpoint) are written in ONE store
transaction (:meth:`Store.advance_feed <creditlink.gateway.store.base.Store.advance_feed>`), as a
compare-and-set on the cursor: a restart resumes exactly where the last commit stopped, without
gaps or duplicates, and two replicas sharing a database cannot both write. Each entry is stored
with the inclusion proof that verified it (audit path, tree size and the checkpoint's signed
note), which the gateway serves as the entry's provenance when a client asks for proofs, and
with what it is about: its subject (:func:`subject_key_of`) and the domain object it creates or
changes (:func:`object_id_of`), for lookups by subject and by id.

A refused entry is never skipped: the follower commits what verified before it, counts the
refusal (``creditlink_feed_entries_rejected_total{reason}``), and starts over from the cursor
after a backoff (the cause is often a trust bundle that lags the upstream's, which the other
stream fixes; an installed update wakes the feed at once). The feed stalls visibly
(``creditlink_feed_lag``) rather than leaving a hole.

Reconnecting: every failed stream is retried with exponential backoff and full jitter
(tenacity's ``wait_random_exponential``); refusals the same request cannot cure
(:data:`~creditlink.gateway.outbox.PERMANENT_CODES`: ``PERMISSION_DENIED``, ``UNAUTHENTICATED``,
``INVALID_ARGUMENT``...) and split views wait ``permanent_backoff`` instead, are logged as errors
and counted (``creditlink_feed_failures_total{stream,reason}``). A fresh channel is opened for
each attempt, so grpc's own reconnect backoff does not override this schedule.

What the follower cannot check (docs/feed.md): that the upstream sends every entry of the
followed kinds. ``Subscribe`` skips the kinds not asked for, and a filtered stream cannot prove
that nothing was left out; only the entries it does send are proven to be in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final, NoReturn, cast

import grpc
import tenacity
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from creditlink.gateway.auth import STATEMENT_KINDS
from creditlink.gateway.domain.measures import list_object_id
from creditlink.gateway.metrics import GatewayMetrics
from creditlink.gateway.outbox import PERMANENT_CODES, Endpoint
from creditlink.gateway.store.base import FeedCursor, FeedEntry, Store, StoreError
from creditlink.sdk import envelope as dsse
from creditlink.sdk._internal.pae import pae
from creditlink.sdk._internal.strict import parse_strict
from creditlink.sdk.batch import BatchedEnvelope, verify_batched
from creditlink.sdk.errors import (
    CreditlinkError,
    InvalidCheckpoint,
    InvalidProof,
    VerificationError,
)
from creditlink.sdk.keys import PublicKey
from creditlink.sdk.tlog import (
    EMPTY_ROOT,
    NoteVerifier,
    leaf_hash,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from creditlink.sdk.trust import MAX_CLOCK_SKEW, TrustBundle
from creditlink.v1 import (
    envelope_pb2,
    exchange_service_pb2,
    exchange_service_pb2_grpc,
    federation_service_pb2,
    federation_service_pb2_grpc,
    log_pb2,
    statement_pb2,
)

__all__ = [
    "DEFAULT_FEED_KINDS",
    "FeedFollower",
    "FeedOptions",
    "FeedRejected",
    "SplitView",
    "backfill_object_ids",
    "object_id_of",
    "subject_key_of",
]

_log = logging.getLogger(__name__)

#: What a regional gateway follows by default: the name lists and the measure lists (the
#: ``Statement.body`` kinds of proto/creditlink/v1/statement.proto).
DEFAULT_FEED_KINDS: Final = ("name-list-entry", "name-list-transition", "measure-list")

#: Client keepalive for the long-lived streams: ping after 30 s of silence and give up on a
#: connection that does not answer within 20 s (the server accepts pings every 10 s or more).
_KEEPALIVE: Final[tuple[tuple[str, int], ...]] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
)
_STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"
# The server's reason when the head moved past the size a proof was asked for.
_CHECKPOINT_NOT_FOUND: Final = "CHECKPOINT_NOT_FOUND"
# Inclusion proofs asked for at once: fewer round trips, without flooding the upstream.
_PROOF_CONCURRENCY: Final = 16
#: Entries per Subscribe response the follower asks for while catching up.
_PAGE: Final = 256
_SUBSCRIBE, _TRUST = "subscribe", "trust_bundle"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FeedRejected(VerificationError):
    """An entry, checkpoint or message from the upstream did not verify; nothing was stored."""

    default_reason = "FEED_REJECTED"


class SplitView(FeedRejected):
    """The upstream signed a checkpoint that does not extend the one already proven.

    ``known`` and ``presented`` are the two signed notes exactly as received: the evidence that
    the upstream showed two histories (STYLE 16).
    """

    default_reason = "SPLIT_VIEW"

    def __init__(self, message: str, *, known: str, presented: str, reason: str) -> None:
        """Keep both notes; ``reason`` names the check that failed."""
        super().__init__(message, reason=reason)
        self.known = known
        self.presented = presented


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedOptions:
    """What the :class:`FeedFollower` follows and how it retries (docs/feed.md)."""

    #: The kinds to mirror (``Statement.body`` kinds, kebab-case).
    kinds: tuple[str, ...] = DEFAULT_FEED_KINDS
    #: Exponential backoff with full jitter between reconnects after transient failures.
    min_backoff: float = 0.5
    max_backoff: float = 60.0
    #: Wait after a failure retrying cannot cure (permission denied, split view).
    permanent_backoff: float = 300.0
    #: Deadline of each unary call (proofs, checkpoint).
    call_timeout: float = 10.0
    #: Most entries verified and written per transaction.
    batch_size: int = 256
    #: While no entry arrives, how often at most the cursor and the proven checkpoint advance.
    anchor_interval: float = 10.0
    #: Tries to prove entries against one checkpoint while the upstream's log keeps growing.
    max_anchor_attempts: int = 8

    def __post_init__(self) -> None:
        if not self.kinds:
            raise ValueError("the feed needs at least one kind")
        unknown = sorted(set(self.kinds) - STATEMENT_KINDS)
        if unknown:
            raise ValueError(f"unknown statement kinds {unknown}")
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError("kinds must be unique")
        if not 0 < self.min_backoff <= self.max_backoff:
            raise ValueError("need 0 < min_backoff <= max_backoff")
        if self.permanent_backoff <= 0 or self.call_timeout <= 0 or self.anchor_interval <= 0:
            raise ValueError("permanent_backoff, call_timeout and anchor_interval must be > 0")
        if self.batch_size < 1 or self.max_anchor_attempts < 1:
            raise ValueError("batch_size and max_anchor_attempts must be >= 1")


def subject_key_of(statement: statement_pb2.Statement) -> str | None:
    """What a mirrored statement is about, for lookups (``FeedEntry.subject_key``).

    ``name-list-entry``: the listed subject's USCC or person token; ``name-list-transition``:
    the ``entry_id`` it changes; ``measure-list``: the ``list_id`` it is a version of; any other
    kind: its ``subject`` identifier when it has one.
    """
    case = statement.WhichOneof("body")
    if case == "name_list_transition":
        return statement.name_list_transition.entry_id or None
    if case == "measure_list":
        return statement.measure_list.list_id or None
    if case is None:
        return None
    body = getattr(statement, case)
    if "subject" in body.DESCRIPTOR.fields_by_name and body.HasField("subject"):
        subject = body.subject
        return cast(str, subject.uscc or subject.person_token) or None
    return None


def object_id_of(statement: statement_pb2.Statement) -> str | None:
    """The domain object a mirrored statement is about, for lookups by id
    (``FeedEntry.object_id``).

    ``name-list-entry`` and ``name-list-transition``: the ``entry_id`` (so every statement about
    one entry is found together); ``measure-list``: ``<list_id>@<version>``, the version's
    domain object id (:func:`~creditlink.gateway.domain.measures.list_object_id`); any other
    kind: ``None``.
    """
    case = statement.WhichOneof("body")
    if case == "name_list_entry":
        return statement.name_list_entry.entry_id or None
    if case == "name_list_transition":
        return statement.name_list_transition.entry_id or None
    if case == "measure_list":
        body = statement.measure_list
        if body.list_id and body.version:
            return list_object_id(body.list_id, body.version)
    return None


async def backfill_object_ids(store: Store, *, page: int = 1000) -> int:
    """Give their object id to mirrored entries stored before the feed kept it (store version
    5); returns how many were filled in.

    Without it such an entry is listed and folded but not found by id (``GetNameListEntry`` on a
    region) nor matched with another origin's copy. The id comes from the stored statement, as
    :func:`object_id_of` gives it when the feed stores a new entry; the statement was verified
    when it was mirrored. Rows of kinds without an object id stay as they are; so does a row
    whose stored envelope does not parse (logged: the store was altered).
    """
    filled = 0
    after: tuple[str, int] | None = None
    while rows := await store.feed_entries_without_object_id(after=after, limit=page):
        for row in rows:
            after = (row.origin_node_id, row.leaf_index)
            try:
                if row.batched:
                    payload = envelope_pb2.BatchedEnvelope.FromString(row.envelope).item.payload
                else:
                    payload = envelope_pb2.Envelope.FromString(row.envelope).payload
                object_id = object_id_of(statement_pb2.Statement.FromString(payload))
            except DecodeError:
                _log.error(
                    "mirrored entry %s/%d does not parse; its object id is left unset",
                    row.origin_node_id,
                    row.leaf_index,
                )
                continue
            if object_id is not None and await store.set_feed_object_id(
                row.origin_node_id, row.leaf_index, object_id
            ):
                filled += 1
    return filled


@dataclass(frozen=True, slots=True)
class _Proven:
    """A checkpoint of the upstream's log: verified note, and proven consistent when kept."""

    size: int
    root: bytes
    note: str


class _Transient(Exception):
    """A failure worth retrying soon (the reason goes to the metric)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _rpc_reason(exc: grpc.aio.AioRpcError) -> str | None:
    """The ``ErrorInfo.reason`` a failed call carries, if any."""
    pairs = cast("Iterable[tuple[str, str | bytes]]", exc.trailing_metadata() or ())
    for key, value in pairs:
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except DecodeError:
                return None  # a peer's garbage: the status code decides
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason or None
    return None


def _rpc_label(exc: grpc.aio.AioRpcError) -> str:
    reason = _rpc_reason(exc)
    return exc.code().name if reason is None else reason


class FeedFollower:
    """Follows the upstream's trust bundle and feed for one node (module docstring).

    ``upstream`` is the upstream's node id and ``endpoint`` how to reach it (mutual TLS as this
    node). ``trust`` returns the node's current trust bundle; ``install`` verifies, persists and
    adopts a new version and raises :class:`~creditlink.sdk.errors.CreditlinkError` (with the
    reason) to refuse it; without it, trust bundle updates are not followed. ``metrics``
    receives the counts and gauges of docs/feed.md. ``clock`` is the only clock read.
    """

    def __init__(
        self,
        *,
        store: Store,
        upstream: str,
        endpoint: Endpoint,
        trust: Callable[[], TrustBundle],
        install: Callable[[dsse.Envelope], Awaitable[TrustBundle]] | None = None,
        options: FeedOptions | None = None,
        metrics: GatewayMetrics | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._upstream = upstream
        self._endpoint = endpoint
        self._trust = trust
        self._install = install
        self._options = options or FeedOptions()
        self._metrics = metrics
        self._clock = clock
        # Payload type -> kind, for exactly the kinds followed.
        self._types = {dsse.payload_type_for(kind): kind for kind in self._options.kinds}
        # tenacity computes the delays; the loops are ours, because they never give up.
        self._wait = tenacity.wait_random_exponential(
            multiplier=self._options.min_backoff, max=self._options.max_backoff
        )
        self._retrying = tenacity.AsyncRetrying(wait=self._wait)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._trust_changed = asyncio.Event()
        self._running = False
        # The persisted position: next leaf and proven checkpoint (None: no cursor row yet).
        self._stored_next: int | None = None
        self._proven = _Proven(0, EMPTY_ROOT, "")
        self._upstream_size = 0

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def upstream(self) -> str:
        """The node id of the upstream followed."""
        return self._upstream

    @property
    def kinds(self) -> tuple[str, ...]:
        """The statement kinds mirrored."""
        return self._options.kinds

    @property
    def running(self) -> bool:
        """Whether the follower has been started and not stopped."""
        return self._running

    def _active(self) -> bool:
        # A method, not the attribute: loops re-read it after every await.
        return self._running

    async def start(self) -> None:
        """Start following (two tasks: the feed and, with ``install``, the trust bundle)."""
        if self._running:
            raise RuntimeError("the feed follower is already running")
        # Made here, not in __init__: an Event belongs to the loop that first waits on it.
        self._stopping = asyncio.Event()
        self._trust_changed = asyncio.Event()
        self._running = True
        self._tasks = [asyncio.create_task(self._follow_feed(), name="feed:subscribe")]
        if self._install is not None:
            self._tasks.append(asyncio.create_task(self._follow_trust(), name="feed:trust"))

    async def stop(self) -> None:
        """Stop both streams; a commit in flight completes or rolls back as a whole."""
        if not self._running:
            return
        self._running = False
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _backoff(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 for the first)."""
        state = tenacity.RetryCallState(retry_object=self._retrying, fn=None, args=(), kwargs={})
        state.attempt_number = max(1, failures)
        return float(self._wait(state))

    def _long_backoff(self) -> float:
        # Jittered too, so that many regions refused together do not come back together.
        return self._options.permanent_backoff * random.uniform(0.5, 1.0)  # noqa: S311 - jitter

    async def _pause(self, seconds: float, *, wake: asyncio.Event | None = None) -> None:
        """Sleep ``seconds``, or less if stopping (or ``wake`` is set)."""
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wake is not None:
            waiters.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    def _channel(self) -> grpc.aio.Channel:
        # A fresh channel per attempt: grpc's own reconnect backoff (up to two minutes) must
        # not override the follower's schedule.
        options: list[tuple[str, str | int]] = [*_KEEPALIVE, *self._endpoint.options]
        return grpc.aio.secure_channel(
            self._endpoint.target, self._endpoint.credentials, options=options
        )

    # -- trust bundle ---------------------------------------------------------------------

    async def _follow_trust(self) -> None:
        """Follow ``WatchTrustBundle`` for as long as the follower runs; never dies."""
        failures = 0
        while self._active():
            try:
                async with self._channel() as channel:
                    stub = federation_service_pb2_grpc.FederationServiceStub(channel)
                    request = federation_service_pb2.WatchTrustBundleRequest(
                        known_version=self._trust().version
                    )
                    async for response in stub.WatchTrustBundle(request):
                        await self._adopt(response)
                        failures = 0
                raise _Transient("the upstream ended the stream", reason="STREAM_ENDED")
            except asyncio.CancelledError:
                raise
            except FeedRejected as exc:
                # Logged where refused; later versions would only fail as gaps until the
                # federation publishes a good one, so ask again only after a long wait.
                delay, failures = self._long_backoff(), failures + 1
                self._failed(_TRUST, exc.reason, exc.message, permanent=True, quiet=True)
            except grpc.aio.AioRpcError as exc:
                failures += 1
                delay = self._rpc_failed(_TRUST, exc, failures)
            except _Transient as exc:
                failures += 1
                delay = self._backoff(failures)
                self._failed(_TRUST, exc.reason, str(exc), permanent=False)
            except Exception:
                failures += 1
                delay = self._backoff(failures)
                _log.exception("feed: trust bundle stream from %s failed", self._upstream)
                self._failed(_TRUST, "INTERNAL", "unexpected error", permanent=False, quiet=True)
            if self._active():
                await self._pause(delay)

    async def _adopt(self, response: federation_service_pb2.WatchTrustBundleResponse) -> None:
        """Install the version received, or refuse it (counted, logged, never installed)."""
        assert self._install is not None
        current = self._trust().version
        if response.version and response.version <= current:
            return  # already installed (an install from elsewhere raced this stream)
        try:
            envelope = dsse.Envelope.from_proto(response.bundle)
            bundle = await self._install(envelope)
        except CreditlinkError as exc:
            if self._metrics is not None:
                self._metrics.observe_trust_bundle_rejection(exc.reason)
            _log.warning(
                "feed: refused trust bundle version %s from %s: %s",
                response.version or "?",
                self._upstream,
                exc,
            )
            raise FeedRejected(
                f"trust bundle version {response.version or '?'} refused: {exc.message}",
                reason=exc.reason,
            ) from exc
        _log.info("feed: installed trust bundle version %d from %s", bundle.version, self._upstream)
        # Entries refused for want of a key or member may verify now: retry at once.
        self._trust_changed.set()

    # -- the feed -------------------------------------------------------------------------

    async def _follow_feed(self) -> None:
        """Follow ``Subscribe`` for as long as the follower runs; never dies."""
        failures = 0
        while self._active():
            self._trust_changed.clear()
            try:
                async with (
                    self._channel() as channel,
                    contextlib.aclosing(
                        self._subscribe(exchange_service_pb2_grpc.ExchangeServiceStub(channel))
                    ) as messages,
                ):
                    async for _ in messages:
                        failures = 0  # a verified message: the connection works
                raise _Transient("the upstream ended the stream", reason="STREAM_ENDED")
            except asyncio.CancelledError:
                raise
            except SplitView as exc:
                failures += 1
                delay = self._long_backoff()
                _log.error(
                    "feed: %s showed two histories (%s): %s; known checkpoint %r, presented %r",
                    self._upstream,
                    exc.reason,
                    exc.message,
                    exc.known,
                    exc.presented,
                )
                self._failed(_SUBSCRIBE, exc.reason, exc.message, permanent=True, quiet=True)
            except FeedRejected as exc:
                # Counted and logged where refused. Retried with backoff (and at once when a
                # new trust bundle arrives): the usual cause is a bundle lagging the upstream's.
                failures += 1
                delay = self._backoff(failures)
                self._failed(_SUBSCRIBE, exc.reason, exc.message, permanent=False, quiet=True)
            except grpc.aio.AioRpcError as exc:
                failures += 1
                delay = self._rpc_failed(_SUBSCRIBE, exc, failures)
            except (_Transient, StoreError) as exc:
                failures += 1
                delay = self._backoff(failures)
                self._failed(_SUBSCRIBE, exc.reason, str(exc), permanent=False)
            except Exception:
                failures += 1
                delay = self._backoff(failures)
                _log.exception("feed: subscription to %s failed", self._upstream)
                self._failed(
                    _SUBSCRIBE, "INTERNAL", "unexpected error", permanent=False, quiet=True
                )
            if self._active():
                await self._pause(delay, wake=self._trust_changed)

    def _failed(
        self, stream: str, reason: str, message: str, *, permanent: bool, quiet: bool = False
    ) -> None:
        if self._metrics is not None:
            self._metrics.observe_feed_failure(stream, reason)
        if not quiet:
            level = logging.ERROR if permanent else logging.INFO
            _log.log(level, "feed: %s stream from %s: %s", stream, self._upstream, message)

    def _rpc_failed(self, stream: str, exc: grpc.aio.AioRpcError, failures: int) -> float:
        """Record a failed call; the delay before the next attempt."""
        permanent = exc.code() in PERMANENT_CODES
        self._failed(
            stream,
            _rpc_label(exc),
            f"{exc.code().name}: {exc.details() or ''}",
            permanent=permanent,
        )
        return self._long_backoff() if permanent else self._backoff(failures)

    async def _load(self) -> None:
        """Read the persisted position (another replica may have moved it)."""
        cursor = await self._store.feed_cursor(self._upstream)
        if cursor is None:
            self._stored_next, self._proven = None, _Proven(0, EMPTY_ROOT, "")
        else:
            self._stored_next = cursor.next_leaf_index
            self._proven = _Proven(cursor.checkpoint_size, cursor.root_hash, cursor.checkpoint)
        self._upstream_size = max(self._upstream_size, self._proven.size)
        self._report_position(self._stored_next or 0)

    async def _subscribe(
        self, stub: exchange_service_pb2_grpc.ExchangeServiceAsyncStub
    ) -> AsyncGenerator[None, None]:
        """One subscription from the persisted cursor; yields after each verified message.

        Entries are checked (signature, statement) as they arrive and buffered; the buffer is
        proven in the log and committed when a progress message closes a catch-up, or when it
        holds ``batch_size`` entries. Without entries, the cursor and the proven checkpoint
        advance at most every ``anchor_interval`` (each advance costs the upstream a proof).
        """
        await self._load()
        position = self._stored_next or 0  # every leaf before it was read
        # Pages while catching up (CXP-API-012): one message per entry costs the upstream more
        # than the entry itself.
        request = exchange_service_pb2.SubscribeRequest(
            cursor=position, kinds=list(self._options.kinds), max_entries_per_response=_PAGE
        )
        buffer: list[FeedEntry] = []
        last_anchor = float("-inf")
        async for response in stub.Subscribe(request):
            which = response.WhichOneof("event")
            if which in ("entry", "entries"):
                received = [response.entry] if which == "entry" else response.entries.entries
                for pb in received:
                    try:
                        row = self._check_entry(pb, position=position)
                    except FeedRejected:
                        if buffer:  # what verified before the bad entry is kept
                            await self._flush(stub, buffer, next_cursor=buffer[-1].leaf_index + 1)
                        raise
                    buffer.append(row)
                    position = row.leaf_index + 1
                    if len(buffer) >= self._options.batch_size:
                        await self._flush(stub, buffer, next_cursor=position)
                        buffer, last_anchor = [], time.monotonic()
                yield None
                continue
            progress = response.progress
            checkpoint = self._verified_checkpoint(progress.checkpoint)
            if not position <= progress.next_cursor <= checkpoint.size:
                self._reject(
                    f"progress cursor {progress.next_cursor} is outside [{position}, "
                    f"{checkpoint.size}]",
                    reason="INVALID_PROGRESS",
                )
            proven = self._proven
            if checkpoint.size == proven.size and checkpoint.root != proven.root:
                self._split_view(proven, checkpoint, reason="CHECKPOINT_ROOT_MISMATCH")
            position = progress.next_cursor
            self._upstream_size = max(self._upstream_size, checkpoint.size)
            behind = position > (self._stored_next or 0) or checkpoint.size > proven.size
            due = time.monotonic() - last_anchor >= self._options.anchor_interval
            if buffer or (behind and due):
                await self._flush(stub, buffer, next_cursor=position)
                buffer, last_anchor = [], time.monotonic()
            self._report_position(position)
            yield None

    # -- checks ---------------------------------------------------------------------------

    def _reject(self, message: str, *, reason: str) -> NoReturn:
        """Count and raise a refusal of something the upstream sent."""
        if self._metrics is not None:
            self._metrics.observe_feed_rejection(self._upstream, reason)
        _log.warning("feed: refused from %s: %s [%s]", self._upstream, message, reason)
        raise FeedRejected(message, reason=reason)

    def _split_view(self, known: _Proven, presented: _Proven, *, reason: str) -> NoReturn:
        if self._metrics is not None:
            self._metrics.observe_feed_rejection(self._upstream, reason)
        raise SplitView(
            f"checkpoint of size {presented.size} does not extend the proven one of size "
            f"{known.size}",
            known=known.note,
            presented=presented.note,
            reason=reason,
        )

    def _current_trust(self) -> TrustBundle:
        trust = self._trust()
        try:
            # Freeze protection, as for submissions: a bundle nobody renewed verifies nothing
            # (the trust stream may bring its successor; the feed then retries at once).
            trust.check_not_expired(self._clock())
        except CreditlinkError as exc:
            self._reject(exc.message, reason=exc.reason)
        return trust

    def _check_entry(self, entry: log_pb2.LogEntry, *, position: int) -> FeedEntry:
        """Verify one entry's signature and statement (steps in the module docstring, 1)."""
        trust = self._current_trust()
        if entry.leaf_index < position:
            self._reject(
                f"entry at leaf {entry.leaf_index} where leaf {position} or later was due",
                reason="ENTRY_OUT_OF_ORDER",
            )
        sender = entry.sender_node_id
        if not entry.HasField("integrated_at"):
            self._reject(f"entry {entry.leaf_index} has no time", reason="MALFORMED_ENTRY")
        at = entry.integrated_at.ToDatetime(tzinfo=UTC)
        if at > self._clock() + MAX_CLOCK_SKEW:
            self._reject(f"entry {entry.leaf_index} is dated in the future", reason="FUTURE_ENTRY")
        try:
            payload_type, payload, stored, batched = self._verify_signature(trust, entry, at)
            statement = parse_strict(statement_pb2.Statement, payload)
        except CreditlinkError as exc:
            self._reject(f"entry {entry.leaf_index}: {exc.message}", reason=exc.reason)
        kind = self._types[payload_type]
        body = (statement.WhichOneof("body") or "").replace("_", "-")
        if body != kind:
            self._reject(
                f"entry {entry.leaf_index}: payload type names {kind!r}, the statement holds "
                f"{body or 'nothing'!r}",
                reason="PAYLOAD_KIND_MISMATCH",
            )
        if statement.header.sender_node_id != sender:
            self._reject(
                f"entry {entry.leaf_index}: signed by {sender!r}, the statement names "
                f"{statement.header.sender_node_id!r}",
                reason="SENDER_MISMATCH",
            )
        if not statement.header.message_id:
            self._reject(f"entry {entry.leaf_index} has no message id", reason="MALFORMED_ENTRY")
        now = self._clock()
        return FeedEntry(
            origin_node_id=self._upstream,
            leaf_index=entry.leaf_index,
            kind=kind,
            sender_node_id=sender,
            message_id=statement.header.message_id,
            subject_key=subject_key_of(statement),
            object_id=object_id_of(statement),
            envelope=stored,
            batched=batched,
            leaf_hash=leaf_hash(pae(payload_type, payload)),
            integrated_at=at,
            received_at=now,
        )

    def _verify_signature(
        self, trust: TrustBundle, entry: log_pb2.LogEntry, at: datetime
    ) -> tuple[str, bytes, bytes, bool]:
        """``(payload type, payload, bytes to store, batched)`` once the signature verifies.

        Keys come from the trust bundle for the sender and kind at ``at``; the sender the
        upstream names only selects them.
        """
        sender = entry.sender_node_id
        signed = entry.WhichOneof("signed")
        if signed == "envelope":
            envelope = dsse.Envelope.from_proto(entry.envelope)
            payload_type = envelope.payload_type
            self._kind(payload_type)
            keys = self._keys(trust, sender, self._types[payload_type], at)
            payload = dsse.verify(envelope, keys=keys, expected_type=payload_type)
            return payload_type, payload, envelope.to_bytes(), False
        if signed == "batched":
            batched = BatchedEnvelope.from_proto(entry.batched)
            payload_type = batched.item.payload_type
            self._kind(payload_type)
            self._keys(trust, sender, self._types[payload_type], at)  # may sign the item's kind
            head_keys = self._keys(trust, sender, "batch-head", at)
            verified = verify_batched(
                batched, keys=head_keys, expected_type=payload_type, expected_signer=sender
            )
            return payload_type, verified.item.payload, batched.to_bytes(), True
        raise VerificationError("the entry holds no signed message", reason="MALFORMED_ENTRY")

    def _kind(self, payload_type: str) -> None:
        if payload_type not in self._types:
            raise VerificationError(
                f"payload type {payload_type!r} is not one of the kinds followed",
                reason="UNEXPECTED_KIND",
            )

    @staticmethod
    def _keys(trust: TrustBundle, sender: str, kind: str, at: datetime) -> list[PublicKey]:
        if sender not in trust.node_ids:
            raise VerificationError(
                f"{sender!r} is not a member of trust bundle version {trust.version}",
                reason="UNKNOWN_SENDER",
            )
        keys = trust.signing_keys(sender, kind=kind, at=at)
        if not keys:
            raise VerificationError(
                f"{sender!r} had no key that may sign {kind!r} at {at.isoformat()}",
                reason="KIND_NOT_PERMITTED",
            )
        return keys

    def _verifiers(self, trust: TrustBundle) -> tuple[str, list[NoteVerifier]]:
        """The upstream's log origin and checkpoint keys valid now, from the trust bundle."""
        try:
            node = trust.node(self._upstream)
        except KeyError:
            self._reject(
                f"the upstream {self._upstream!r} is not in trust bundle version {trust.version}",
                reason="UNKNOWN_UPSTREAM",
            )
        verifiers = []
        for record in trust.checkpoint_keys(self._upstream, at=self._clock()):
            # The bundle fixes CHECKPOINT keys to Ed25519 with a note name; others are skipped.
            key = serialization.load_der_public_key(record.public_key.public_bytes)
            if isinstance(key, Ed25519PublicKey) and record.note_name:
                verifiers.append(NoteVerifier(name=record.note_name, public_key=key))
        return node.log_origin, verifiers

    def _verified_checkpoint(self, signed: log_pb2.SignedCheckpoint) -> _Proven:
        """The checkpoint in ``signed`` once its note verifies (only the note counts)."""
        origin, verifiers = self._verifiers(self._current_trust())
        problem = f"the trust bundle lists no checkpoint key of {self._upstream!r} valid now"
        for verifier in verifiers:
            try:
                checkpoint = verify_checkpoint(signed.note, verifier=verifier, origin=origin)
            except InvalidCheckpoint as exc:
                problem = exc.message
                continue
            return _Proven(checkpoint.size, checkpoint.root_hash, signed.note)
        self._reject(problem, reason="INVALID_CHECKPOINT")

    # -- proving and committing -----------------------------------------------------------

    async def _flush(
        self,
        stub: exchange_service_pb2_grpc.ExchangeServiceAsyncStub,
        entries: Sequence[FeedEntry],
        *,
        next_cursor: int,
    ) -> None:
        """Prove ``entries`` in a checkpoint consistent with the proven one; commit them.

        The upstream serves proofs only for its latest size (and receipt sizes), so the
        entries are proven against the latest checkpoint right after proving it consistent;
        if the log grows in between, the entries proven so far are committed and the rest
        are tried against a newer checkpoint, ``max_anchor_attempts`` times at most.
        """
        pending = list(entries)
        for _ in range(self._options.max_anchor_attempts):
            anchor = await self._anchor(stub)
            proven, complete = await self._prove(stub, pending, anchor)
            if complete:
                await self._commit(proven, next_cursor, anchor)
                return
            if proven:
                await self._commit(proven, proven[-1].leaf_index + 1, anchor)
            pending = pending[len(proven) :]
        raise _Transient(
            f"the upstream's log kept growing during {self._options.max_anchor_attempts} "
            "attempts to prove entries against its latest checkpoint",
            reason="HEAD_KEPT_MOVING",
        )

    async def _anchor(self, stub: exchange_service_pb2_grpc.ExchangeServiceAsyncStub) -> _Proven:
        """The upstream's latest checkpoint, proven consistent with the last one proven."""
        known = self._proven
        timeout = self._options.call_timeout
        if known.size == 0:
            # From the empty tree nothing needs proving (its root is fixed); the proof call
            # would refuse a from_size of 0.
            got = await stub.GetCheckpoint(
                exchange_service_pb2.GetCheckpointRequest(), timeout=timeout
            )
            latest, hashes = self._verified_checkpoint(got.checkpoint), []
        else:
            response = await stub.GetConsistencyProof(
                exchange_service_pb2.GetConsistencyProofRequest(from_size=known.size),
                timeout=timeout,
            )
            latest = self._verified_checkpoint(response.checkpoint)
            if (response.proof.from_size, response.proof.to_size) != (known.size, latest.size):
                self._reject(
                    f"consistency proof from {response.proof.from_size} to "
                    f"{response.proof.to_size}, the sizes are {known.size} and {latest.size}",
                    reason="PROOF_SIZE_MISMATCH",
                )
            hashes = list(response.proof.hashes)
        if latest.size < known.size:
            self._split_view(known, latest, reason="CHECKPOINT_SIZE_DECREASED")
        try:
            verify_consistency(
                size1=known.size,
                size2=latest.size,
                root1=known.root,
                root2=latest.root,
                proof=hashes,
            )
        except InvalidProof:
            self._split_view(known, latest, reason="INCONSISTENT_CHECKPOINT")
        self._proven = latest
        self._upstream_size = max(self._upstream_size, latest.size)
        return latest

    async def _prove(
        self,
        stub: exchange_service_pb2_grpc.ExchangeServiceAsyncStub,
        entries: Sequence[FeedEntry],
        anchor: _Proven,
    ) -> tuple[list[FeedEntry], bool]:
        """The leading ``entries`` proven in ``anchor``, and whether that is all of them.

        The entries returned carry the proof that verified (``_inclusion``), for the store.
        Stops early (``False``) when the upstream no longer serves proofs for the anchor's size
        (its log grew). Any other failure (a proof that does not verify, the upstream gone) is
        raised once the entries proven before the failing one are committed: they are never
        lost, and nothing after them is stored.
        """
        proven: list[FeedEntry] = []
        for start in range(0, len(entries), _PROOF_CONCURRENCY):
            chunk = entries[start : start + _PROOF_CONCURRENCY]
            results = await asyncio.gather(
                *(self._inclusion(stub, e, anchor) for e in chunk), return_exceptions=True
            )
            for result in results:
                if isinstance(result, FeedEntry):
                    proven.append(result)
                    continue
                if isinstance(result, grpc.aio.AioRpcError) and (
                    _rpc_reason(result) == _CHECKPOINT_NOT_FOUND
                ):
                    return proven, False
                assert isinstance(result, BaseException)
                if proven:
                    await self._commit(proven, proven[-1].leaf_index + 1, anchor)
                raise result
        return proven, True

    async def _inclusion(
        self,
        stub: exchange_service_pb2_grpc.ExchangeServiceAsyncStub,
        entry: FeedEntry,
        anchor: _Proven,
    ) -> FeedEntry:
        """Check that ``entry`` is leaf ``entry.leaf_index`` of the tree ``anchor`` signs.

        Returns ``entry`` with the proof that verified: the audit path, the anchor's size and
        its signed note, stored with the entry and served as its provenance.
        """
        if entry.leaf_index >= anchor.size:
            self._reject(
                f"entry {entry.leaf_index} is beyond the latest checkpoint ({anchor.size})",
                reason="ENTRY_NOT_IN_LOG",
            )
        response = await stub.GetInclusionProof(
            exchange_service_pb2.GetInclusionProofRequest(
                leaf_index=entry.leaf_index, tree_size=anchor.size
            ),
            timeout=self._options.call_timeout,
        )
        # The checkpoint served with the proof is signed for the same size: it must be the
        # anchor's tree, or the upstream signed two trees of one size.
        served = self._verified_checkpoint(response.checkpoint)
        if served.size != anchor.size:
            self._reject(
                f"inclusion proof served with a checkpoint of size {served.size}, not "
                f"{anchor.size}",
                reason="PROOF_SIZE_MISMATCH",
            )
        if served.root != anchor.root:
            self._split_view(anchor, served, reason="CHECKPOINT_ROOT_MISMATCH")
        proof = response.proof
        hashes = tuple(proof.hashes)
        if (proof.leaf_index, proof.tree_size) != (entry.leaf_index, anchor.size):
            self._reject(
                f"inclusion proof for leaf {proof.leaf_index} in {proof.tree_size}, asked for "
                f"{entry.leaf_index} in {anchor.size}",
                reason="PROOF_SIZE_MISMATCH",
            )
        try:
            verify_inclusion(
                leaf_hash=entry.leaf_hash,
                index=entry.leaf_index,
                tree_size=anchor.size,
                proof=hashes,
                root=anchor.root,
            )
        except InvalidProof as exc:
            self._reject(
                f"entry {entry.leaf_index} is not the leaf the upstream's log holds there: "
                f"{exc.message}",
                reason="ENTRY_NOT_IN_LOG",
            )
        return replace(
            entry, proof_hashes=hashes, proof_tree_size=anchor.size, proof_checkpoint=anchor.note
        )

    async def _commit(
        self, entries: Sequence[FeedEntry], next_cursor: int, anchor: _Proven
    ) -> None:
        """Write ``entries``, the cursor and the proven checkpoint in one transaction."""
        cursor = FeedCursor(
            origin_node_id=self._upstream,
            next_leaf_index=next_cursor,
            checkpoint=anchor.note,
            checkpoint_size=anchor.size,
            root_hash=anchor.root,
            updated_at=self._clock(),
        )
        await self._store.advance_feed(cursor, entries, expected_next=self._stored_next)
        self._stored_next = next_cursor
        if self._metrics is not None:
            for kind in self._options.kinds:
                count = sum(1 for e in entries if e.kind == kind)
                if count:
                    self._metrics.observe_feed_entries(self._upstream, kind, count)
        if entries:
            _log.info(
                "feed: mirrored %d entries of %s up to leaf %d",
                len(entries),
                self._upstream,
                entries[-1].leaf_index,
            )
        self._report_position(next_cursor)

    def _report_position(self, position: int) -> None:
        if self._metrics is not None:
            self._metrics.set_feed_position(
                self._upstream, cursor=position, upstream_size=self._upstream_size
            )
