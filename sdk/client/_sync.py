"""The blocking client: grpc channels and stubs over the client core (``_core.ClientCore``).

Everything protocol-related happens in the core; this module only sends what the core built,
applies deadlines and retries (tenacity), and hands back what came in.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar

import grpc
import tenacity
from google.protobuf.message import Message

from creditlink.sdk.client._core import (
    DEFAULT,
    Backoff,
    ClientCore,
    OptionalRetry,
    OptionalTimeout,
    Retry,
    SubscriptionState,
    Upload,
    channel_options,
    default_target,
    resolve,
)
from creditlink.sdk.client._cursor import CursorStore
from creditlink.sdk.client._domain import (
    Call,
    DomainCalls,
    PagedCall,
    decision_holders,
    decision_targets,
    repair_decision_of,
    report_bundle,
    unaddressed,
)
from creditlink.sdk.client._pager import Page, Pager
from creditlink.sdk.client._types import (
    ConsistencyProof,
    Entry,
    Fetched,
    InclusionProof,
    IssuedReport,
    MeasureListDiff,
    Receipt,
    Recognition,
    RecordView,
    SubjectCheck,
    SubmitProgress,
    Written,
)
from creditlink.sdk.credentials import Credentials, update_trust_bundle
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import (
    CreditlinkError,
    DeadlineExceeded,
    NotFound,
    Unavailable,
    VerificationError,
    from_grpc_error,
)
from creditlink.sdk.reports import ReportBundle
from creditlink.sdk.tlog import Checkpoint
from creditlink.sdk.trust import TrustBundle
from creditlink.v1 import (
    commitment_pb2,
    exchange_service_pb2,
    exchange_service_pb2_grpc,
    federation_service_pb2,
    federation_service_pb2_grpc,
    measure_pb2,
    measure_service_pb2_grpc,
    name_list_pb2,
    name_list_service_pb2,
    name_list_service_pb2_grpc,
    objection_pb2,
    objection_service_pb2,
    objection_service_pb2_grpc,
    record_pb2,
    record_service_pb2,
    record_service_pb2_grpc,
    repair_pb2,
    report_pb2,
    report_service_pb2_grpc,
    statement_pb2,
)

__all__ = ["Client", "Subscription"]

T = TypeVar("T")
_pb = exchange_service_pb2

#: How often a subscription writes its cursor to the store while entries stream in (it also
#: writes on progress messages, :meth:`Subscription.ack` and :meth:`Subscription.close`).
_SAVE_INTERVAL: Final = 1.0


class _Watchdog:
    """Cancels a call that waits longer than ``timeout`` seconds for its next message.

    Armed only while the caller is blocked reading, so a consumer that is slow to process
    what it got never counts against the gateway. A thread, because a blocking grpc read
    takes no timeout of its own.
    """

    def __init__(self, timeout: float, cancel: Callable[[], Any]) -> None:
        self._timeout = timeout
        self._cancel = cancel
        self._since: float | None = None
        self._stop = threading.Event()
        self.fired = False
        self._thread = threading.Thread(target=self._run, name="creditlink-watchdog", daemon=True)
        self._thread.start()

    def arm(self) -> None:
        self._since = time.monotonic()

    def disarm(self) -> None:
        self._since = None

    def _run(self) -> None:
        tick = min(1.0, self._timeout / 4)
        while not self._stop.wait(tick):
            since = self._since
            if since is not None and time.monotonic() - since > self._timeout:
                self.fired = True
                self._cancel()
                return

    def stop(self) -> None:
        self._stop.set()


def _requests(outbox: queue.Queue[_pb.SubmitStreamRequest | None]) -> Iterator[Any]:
    # Runs on grpc's sending thread; None closes the request side.
    while True:
        request = outbox.get()
        if request is None:
            return
        yield request


class Client:
    """A blocking CXP client for one gateway, over mutual TLS.

    ::

        with Client.from_credentials(".creditlink/operator") as client:
            receipt = client.submit(record)              # signed, sealed, verified receipt
            for receipt in client.submit_records(records, progress=print):
                ...
            for entry in client.subscribe(["record"], cursor_store=store):
                ...

    Every method verifies what the gateway answers before returning it (see
    :mod:`creditlink.sdk.client._core`) and raises the
    :mod:`creditlink.sdk.errors` hierarchy (:func:`~creditlink.sdk.errors.from_grpc_error`).
    Unary calls take ``timeout=`` (seconds for the whole call, retries included; ``None`` for
    no deadline) and ``retry=`` (a :class:`Retry`, or ``None`` for no retry); the defaults are
    :data:`~creditlink.sdk.client.METHOD_DEFAULTS`. Safe to share between threads.

    ``target`` is ``host:port``; ``credentials`` sign, seal and authenticate (their TLS files
    make the channel unless ``channel_credentials`` is given). ``gateway`` is the gateway's
    node id: by default the trust-bundle node listing ``target`` among its endpoints, else
    learnt from its verified checkpoint on first use. ``options`` override
    :data:`~creditlink.sdk.client.DEFAULT_CHANNEL_OPTIONS` key by key (e.g.
    ``{"grpc.ssl_target_name_override": "gw.example"}``). ``clock`` (timezone-aware) dates
    statements and picks the keys valid "now".
    """

    def __init__(
        self,
        target: str,
        credentials: Credentials,
        *,
        gateway: str | None = None,
        options: Mapping[str, Any] | None = None,
        channel_credentials: grpc.ChannelCredentials | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Connect to ``target`` as ``credentials`` (lazily: the first call opens the channel)."""
        self._core = ClientCore(
            credentials=credentials, target=target, gateway=gateway, clock=clock
        )
        self._channel = grpc.secure_channel(
            target,
            channel_credentials or credentials.channel_credentials(),
            options=channel_options(options),
        )
        self._exchange = exchange_service_pb2_grpc.ExchangeServiceStub(self._channel)
        self._federation = federation_service_pb2_grpc.FederationServiceStub(self._channel)
        self._domain = DomainCalls(self._core)
        self._stubs: dict[str, Any] = {
            "records": record_service_pb2_grpc.RecordServiceStub(self._channel),
            "name_lists": name_list_service_pb2_grpc.NameListServiceStub(self._channel),
            "measures": measure_service_pb2_grpc.MeasureServiceStub(self._channel),
            "objections": objection_service_pb2_grpc.ObjectionServiceStub(self._channel),
            "reports": report_service_pb2_grpc.ReportServiceStub(self._channel),
        }

    @classmethod
    def from_credentials(
        cls,
        directory: str | os.PathLike[str],
        *,
        target: str | None = None,
        gateway: str | None = None,
        options: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Self:
        """Load and check a credentials directory and connect to its gateway.

        ``target`` defaults to the first endpoint the directory's manifest names. Raises
        :class:`~creditlink.sdk.credentials.InvalidCredentials` for a directory that does not
        load (see :meth:`Credentials.load`).
        """
        credentials = Credentials.load(directory)
        return cls(
            target or default_target(credentials),
            credentials,
            gateway=gateway,
            options=options,
            clock=clock,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the channel; calls and subscriptions still running are cancelled."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- identity -----------------------------------------------------------------------------

    @property
    def credentials(self) -> Credentials:
        """The credentials the client signs and connects with."""
        return self._core.credentials

    @property
    def trust_bundle(self) -> TrustBundle:
        """The trust bundle every check uses (updated by :meth:`get_trust_bundle`)."""
        return self._core.trust_bundle

    @property
    def target(self) -> str:
        """The gateway address."""
        return self._core.target

    @property
    def gateway(self) -> str:
        """The gateway's node id (asks the gateway for a checkpoint if it is not known yet)."""
        self._ensure_gateway()
        return self._core.gateway

    # -- plumbing -----------------------------------------------------------------------------

    def _unary(
        self,
        method: str,
        invoke: Callable[[float | None], T],
        timeout: OptionalTimeout,
        retry: OptionalRetry,
    ) -> T:
        policy = resolve(method, timeout, retry)
        deadline = None if policy.timeout is None else time.monotonic() + policy.timeout

        def attempt() -> T:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(f"{method}: the deadline of {policy.timeout} s passed")
            try:
                return invoke(remaining)
            except grpc.RpcError as exc:
                raise from_grpc_error(exc) from exc

        if policy.retry is None:
            return attempt()
        stop, wait, retry_if = policy.retry.controls(policy.timeout)
        retrying = tenacity.Retrying(stop=stop, wait=wait, retry=retry_if, reraise=True)
        return retrying(attempt)

    def _ensure_gateway(self) -> None:
        if self._core.gateway_known:
            return
        response = self._unary(
            "GetCheckpoint",
            lambda t: self._exchange.GetCheckpoint(_pb.GetCheckpointRequest(), timeout=t),
            DEFAULT,
            DEFAULT,
        )
        self._core.identify_gateway(response.checkpoint)

    # -- submission ---------------------------------------------------------------------------

    def submit(
        self,
        statements: Message | Sequence[Message],
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Receipt:
        """Sign, seal and submit one statement, or several as one batch; the verified receipt.

        Each item is a ``creditlink.v1.Statement`` or a bare statement body (a
        ``CreditRecord``, a ``NameListEntry``...), completed as
        :meth:`~creditlink.sdk.client._core.ClientCore.prepare` describes. ``recipients``
        (node ids) must include the gateway, which forwards to the others; by default the
        gateway alone. Several statements make ONE signed batch: one signature, one receipt
        covering them all, accepted or refused as a whole.

        Retried on ``UNAVAILABLE``: the same request goes again, and the gateway answers one it
        already logged with the original receipt. To resubmit yourself, pass a ``Statement``
        whose header fixes ``message_id``, ``request_id`` and ``created_at`` (set fields are
        kept, so the signed bytes, and the receipt, are the same). Raises the gateway's refusal as
        a :class:`~creditlink.sdk.errors.CreditlinkError` subclass (e.g.
        :class:`~creditlink.sdk.errors.InvalidArgument` with ``field_violations``,
        :class:`~creditlink.sdk.errors.ReplayRejected`), or a
        :class:`~creditlink.sdk.errors.VerificationError` if the receipt does not verify.
        """
        self._ensure_gateway()
        messages = [statements] if isinstance(statements, Message) else list(statements)
        prepared = self._core.build_submit(messages, recipients)
        response = self._unary(
            "Submit",
            lambda t: self._exchange.Submit(prepared.request, timeout=t),
            timeout,
            retry,
        )
        return self._core.verify_receipt(response.receipt, prepared.expected)

    def submit_records(
        self,
        records: Iterable[Message],
        *,
        recipients: Sequence[str] | None = None,
        batch_size: int | Literal["auto"] = "auto",
        progress: Callable[[SubmitProgress], None] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Iterator[Receipt]:
        """Stream statements to the gateway in signed batches; yield each batch's receipt.

        Returns an iterator: NOTHING is sent until you iterate it (``list(...)`` or a ``for``
        loop). Receipts come in record order, one per batch (``receipt.statement_ids`` names
        its records, in order). Records are read lazily from ``records`` as the gateway grants
        credits (its flow control), so a generator of a million records never sits in memory.

        ``batch_size``: ``"auto"`` starts at 500 records and doubles with each receipt up to
        what the gateway grants (items and bytes); an int fixes the size (still capped by the
        grant). ``progress`` is called after each receipt with a
        :class:`~creditlink.sdk.client.SubmitProgress`. ``timeout`` bounds each wait for an
        answer from the gateway (default 60 s), not the whole upload. ``retry`` governs
        reconnection: when the stream breaks (``UNAVAILABLE``) the unanswered batches are
        resent unchanged on a new stream, where the gateway answers any it had already logged
        with their original receipt. Batches the gateway pushes back are resent after the
        delay it names.

        If the gateway refuses a batch for good, no further batch is started; the receipts of
        every batch it accepted are yielded, then the refusal is raised, its
        ``field_violations`` naming records by their position in ``records``
        (``records[1234]``, ``records[1234].record.subject.uscc``).
        """
        self._ensure_gateway()
        policy = resolve("SubmitStream", timeout, retry)
        upload = self._core.upload(recipients=recipients, batch_size=batch_size, progress=progress)
        return self._upload(upload, iter(records), policy.timeout, policy.retry)

    @staticmethod
    def _pump(
        upload: Upload,
        records: Iterator[Message],
        exhausted: bool,
        send: Callable[[_pb.SubmitStreamRequest], None],
    ) -> bool:
        """Send what the credits allow, reading records as batches need them."""
        while True:
            while not exhausted and upload.wants_records:
                try:
                    record = next(records)
                except StopIteration:
                    exhausted = True
                    break
                upload.add(record)
            request = upload.next_request(exhausted)
            if request is None:
                return exhausted
            send(request)

    def _upload(
        self,
        upload: Upload,
        records: Iterator[Message],
        timeout: float | None,
        retry: Retry | None,
    ) -> Iterator[Receipt]:
        backoff = Backoff(retry) if retry is not None else None
        exhausted = False
        while True:
            outbox: queue.Queue[_pb.SubmitStreamRequest | None] = queue.Queue()
            # Any: grpc's stubs type the call as an iterator without its Call methods.
            call: Any = self._exchange.SubmitStream(_requests(outbox))
            upload.stream_opened()
            watchdog = _Watchdog(timeout, call.cancel) if timeout is not None else None
            writing = True
            try:
                responses = iter(call)
                while True:
                    if watchdog is not None:
                        watchdog.arm()
                    try:
                        response = next(responses)
                    except StopIteration:
                        break
                    finally:
                        if watchdog is not None:
                            watchdog.disarm()
                    due = upload.on_response(response)
                    if due and backoff is not None:
                        backoff.reset()
                    yield from due
                    exhausted = self._pump(upload, records, exhausted, outbox.put)
                    while (delay := upload.wait_time()) is not None:
                        time.sleep(delay)  # only pushed-back batches are left to send
                        exhausted = self._pump(upload, records, exhausted, outbox.put)
                    if writing and upload.finished(exhausted):
                        outbox.put(None)
                        writing = False
            except grpc.RpcError as exc:
                if watchdog is not None and watchdog.fired:
                    raise DeadlineExceeded(
                        f"SubmitStream: no answer from the gateway within {timeout} s"
                    ) from exc
                error = from_grpc_error(exc)
                if not isinstance(error, Unavailable) or backoff is None or backoff.exhausted:
                    raise error from exc
                upload.stream_broken()
                time.sleep(backoff.next_delay())
                continue
            finally:
                outbox.put(None)  # releases grpc's sending thread if it still waits
                if watchdog is not None:
                    watchdog.stop()
                call.cancel()  # no effect on a call that completed
            if upload.finished(exhausted):
                break
            # The gateway ended the stream with batches unanswered (it is shutting down).
            upload.stream_broken()
            if backoff is None or backoff.exhausted:
                raise Unavailable(
                    "the gateway closed the stream before answering every batch",
                    reason="STREAM_CLOSED",
                )
            time.sleep(backoff.next_delay())
        if upload.failure is not None:
            raise upload.failure

    def get_receipt(
        self, message_id: str, *, timeout: OptionalTimeout = DEFAULT, retry: OptionalRetry = DEFAULT
    ) -> Receipt:
        """The verified receipt of an accepted statement or batch, by its message or batch id
        (signature, gateway and checkpoint are checked; what it acknowledges cannot be, as
        this client may not have sent it: ``statement_ids`` is empty)."""
        self._ensure_gateway()
        response = self._unary(
            "GetReceipt",
            lambda t: self._exchange.GetReceipt(
                _pb.GetReceiptRequest(message_id=message_id), timeout=t
            ),
            timeout,
            retry,
        )
        return self._core.verify_receipt(response.receipt, None, message_id=message_id)

    # -- the log ------------------------------------------------------------------------------

    def get_checkpoint(
        self, *, timeout: OptionalTimeout = DEFAULT, retry: OptionalRetry = DEFAULT
    ) -> Checkpoint:
        """The gateway's latest checkpoint, verified under its checkpoint key."""
        self._ensure_gateway()
        response = self._unary(
            "GetCheckpoint",
            lambda t: self._exchange.GetCheckpoint(_pb.GetCheckpointRequest(), timeout=t),
            timeout,
            retry,
        )
        return self._core.verify_checkpoint(response.checkpoint)

    def get_inclusion_proof(
        self,
        *,
        leaf_index: int | None = None,
        message_id: str | None = None,
        tree_size: int = 0,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> InclusionProof:
        """Prove that a leaf (by index, or by the message or batch id that put it there) is in
        the log: of size ``tree_size`` (a size the gateway signed, e.g. a receipt's
        checkpoint), or the latest (0). The entry, checkpoint and audit path are verified."""
        self._ensure_gateway()
        request = self._core.inclusion_request(
            leaf_index=leaf_index, message_id=message_id, tree_size=tree_size
        )
        response = self._unary(
            "GetInclusionProof",
            lambda t: self._exchange.GetInclusionProof(request, timeout=t),
            timeout,
            retry,
        )
        return self._core.verify_inclusion(response, request)

    def get_consistency_proof(
        self,
        old: Checkpoint,
        *,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> ConsistencyProof:
        """Prove that the gateway's latest log extends ``old`` (a checkpoint verified earlier,
        e.g. from a receipt): the result's ``new`` is the latest checkpoint, verified, and
        nothing in ``old`` was rewritten. Raises
        :class:`~creditlink.sdk.errors.InvalidProof` if the log forked."""
        self._ensure_gateway()
        if old.size == 0:
            # The empty tree is a prefix of every tree: no proof exists, or is needed.
            latest = self._unary(
                "GetConsistencyProof",
                lambda t: self._exchange.GetCheckpoint(_pb.GetCheckpointRequest(), timeout=t),
                timeout,
                retry,
            )
            return self._core.verify_consistency(old, latest.checkpoint, None)
        request = _pb.GetConsistencyProofRequest(from_size=old.size, to_size=0)
        response = self._unary(
            "GetConsistencyProof",
            lambda t: self._exchange.GetConsistencyProof(request, timeout=t),
            timeout,
            retry,
        )
        return self._core.verify_consistency(old, response.checkpoint, response.proof)

    def subscribe(
        self,
        kinds: Iterable[str] | str = (),
        *,
        cursor: int | None = None,
        cursor_store: CursorStore | None = None,
        name: str | None = None,
        follow: bool = True,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Subscription:
        """Verified log entries of ``kinds`` (all the caller may read if empty), in log order.

        Starts at ``cursor``; else where ``cursor_store`` left off for this subscription
        (``name``, default gateway and kinds); else at the beginning of the log. With
        ``follow`` the iterator waits for new entries forever; without, it ends at the log's
        current end. See :class:`Subscription` for resumption, reconnection and what counts as
        delivered. ``timeout`` is how long the stream may stay silent before the connection is
        presumed dead and re-opened (the gateway sends progress every 30 s when idle);
        ``retry`` paces reconnections (default: forever, up to 10 s apart; ``None``: never).
        """
        self._ensure_gateway()
        policy = resolve("Subscribe", timeout, retry)
        key = self._core.subscription_key(kinds, name)
        start = cursor
        if start is None and cursor_store is not None:
            start = cursor_store.load(key)
        state = self._core.subscription(kinds, cursor=start or 0, follow=follow)
        return Subscription(
            open_stream=lambda request: self._exchange.Subscribe(request),
            state=state,
            store=cursor_store,
            key=key,
            idle_timeout=policy.timeout,
            retry=policy.retry,
        )

    # -- federation ---------------------------------------------------------------------------

    def get_trust_bundle(
        self,
        *,
        persist: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> TrustBundle:
        """The gateway's current trust bundle, verified version by version from the one this
        client trusts (each under its predecessor's roots, TUF-style), and adopted: later
        calls check keys against it. With ``persist`` each new version is also installed in
        the credentials directory (:func:`~creditlink.sdk.credentials.update_trust_bundle`).

        Raises :class:`~creditlink.sdk.errors.InvalidTrustBundle` if the gateway's bundle is
        not a successor of this client's (``TRUST_BUNDLE_HISTORY_INCOMPLETE`` when the gateway
        lacks a version in between, ``TRUST_BUNDLE_ROLLBACK`` for an older one...).
        """

        def fetch(version: int) -> Envelope:
            request = federation_service_pb2.GetTrustBundleRequest(version=version)
            response = self._unary(
                "GetTrustBundle",
                lambda t: self._federation.GetTrustBundle(request, timeout=t),
                timeout,
                retry,
            )
            return Envelope.from_proto(response.bundle)

        update = self._core.trust_update()
        step = update.start(fetch(0))
        while isinstance(step, int):
            version = step
            try:
                step = update.feed(fetch(version))
            except NotFound as exc:
                raise update.missing(version) from exc
        for bundle in update.chain:
            if persist:
                update_trust_bundle(
                    self.credentials.directory, bundle.to_envelope(), now=self._core.now()
                )
            self._core.adopt_trust_bundle(bundle)
        return step

    # -- domain services: plumbing ------------------------------------------------------------

    def _calls(self) -> DomainCalls:
        self._ensure_gateway()
        return self._domain

    def _call(self, call: Call[T], timeout: OptionalTimeout, retry: OptionalRetry) -> T:
        rpc = getattr(self._stubs[call.service], call.method)
        response = self._unary(call.method, lambda t: rpc(call.request, timeout=t), timeout, retry)
        return call.finish(response)

    def _pager(
        self,
        paged: PagedCall[T],
        max_items: int | None,
        timeout: OptionalTimeout,
        retry: OptionalRetry,
    ) -> Pager[T]:
        rpc = getattr(self._stubs[paged.service], paged.method)

        def fetch(token: str) -> Page[T]:
            request = paged.request(token)
            response = self._unary(paged.method, lambda t: rpc(request, timeout=t), timeout, retry)
            return paged.page(response)

        return Pager(fetch, max_items=max_items)

    # -- records ------------------------------------------------------------------------------

    def get_record(
        self,
        record_id: str,
        *,
        revision: int = 0,
        include_proof: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> RecordView:
        """A record (its current revision, or ``revision``) with its derived status, dispute
        marker and verified provenance; with ``include_proof`` every provenance statement's
        inclusion in a signed checkpoint is verified too. Raises
        :class:`~creditlink.sdk.errors.NotFound` (``RECORD_NOT_FOUND``) for an unknown id."""
        call = self._calls().get_record(record_id, revision=revision, include_proof=include_proof)
        return self._call(call, timeout, retry)

    def list_records(
        self,
        subject: str,
        *,
        categories: Collection[int] = (),
        statuses: Collection[int] = (),
        decided_from: date | None = None,
        decided_to: date | None = None,
        page_size: int = 100,
        max_items: int | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Pager[record_pb2.CreditRecord]:
        """A subject's records (USCC or person token), newest decision first, filtered by
        category, status (``RecordCategory`` / ``RecordStatus`` values) and decision date
        (inclusive); a pager that fetches ``page_size`` at a time as you iterate."""
        paged = self._domain.list_records(
            subject,
            categories=categories,
            statuses=statuses,
            decided_from=decided_from,
            decided_to=decided_to,
            page_size=page_size,
        )
        return self._pager(paged, max_items, timeout, retry)

    def list_overdue_records(
        self,
        request: record_service_pb2.ListOverdueRecordsRequest | None = None,
        *,
        page_size: int = 100,
        max_items: int | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Pager[record_service_pb2.OverdueRecord]:
        """Records published after their 7-working-day deadline or still published past their
        period (filters in ``request``: region, authority, kinds, as-of date); a pager."""
        paged = self._domain.list_overdue_records(
            request or record_service_pb2.ListOverdueRecordsRequest(), page_size
        )
        return self._pager(paged, max_items, timeout, retry)

    def correct_record(
        self,
        correction: record_pb2.RecordCorrection,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[record_pb2.CreditRecord]:
        """Publish a correction (kind ``CORRECT``, carrying the next revision), signed and
        sealed; the verified receipt and the record as it now stands."""
        call = self._calls().correct_record(correction, recipients)
        return self._call(call, timeout, retry)

    def revoke_record(
        self,
        correction: record_pb2.RecordCorrection,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[record_pb2.CreditRecord]:
        """Revoke (or withdraw) a record: a correction without a new revision, with its
        reason; the verified receipt and the record as it now stands."""
        call = self._calls().revoke_record(correction, recipients)
        return self._call(call, timeout, retry)

    # -- name lists ---------------------------------------------------------------------------

    def create_name_list_entry(
        self,
        entry: name_list_pb2.NameListEntry,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[name_list_pb2.NameListEntry]:
        """List a subject (the caller must be a determining authority for the list type).
        Broadcast by default (no recipients), so the hub's feed carries it to every region."""
        call = self._calls().create_name_list_entry(entry, recipients)
        return self._call(call, timeout, retry)

    def transition_name_list_entry(
        self,
        transition: name_list_pb2.NameListTransition,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[name_list_pb2.NameListEntry]:
        """One lifecycle step of an entry (``LISTED → UNDER_OBJECTION → RECTIFYING →
        REPAIRED | REMOVED | EXPIRED``) with who and why; the entry in its new state."""
        call = self._calls().transition_name_list_entry(transition, recipients)
        return self._call(call, timeout, retry)

    def get_name_list_entry(
        self,
        entry_id: str,
        *,
        include_proof: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Fetched[name_list_pb2.NameListEntry]:
        """An entry in its current state with the verified statements that made it."""
        call = self._calls().get_name_list_entry(entry_id, include_proof=include_proof)
        return self._call(call, timeout, retry)

    def list_name_list_entries(
        self,
        request: name_list_service_pb2.ListNameListEntriesRequest | None = None,
        *,
        page_size: int = 100,
        max_items: int | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Pager[name_list_pb2.NameListEntry]:
        """Entries filtered as ``request`` says (list types, subject, states, region,
        determining authority, listing dates); a pager."""
        paged = self._domain.list_name_list_entries(
            request or name_list_service_pb2.ListNameListEntriesRequest(), page_size
        )
        return self._pager(paged, max_items, timeout, retry)

    def check_subject(
        self,
        subject: str,
        purpose: int,
        *,
        include_responsible_person: bool = False,
        as_of: datetime | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> SubjectCheck:
        """Is ``subject`` (USCC or person token) listed, and which measures apply for
        ``purpose`` (a :class:`~creditlink.sdk.reports.UsePurpose`)? Entries of this gateway
        and those mirrored from the hub; the answer's checkpoint is verified. For many
        lookups, keep a :class:`~creditlink.sdk.mirror.NameListMirror` instead."""
        call = self._calls().check_subject(
            subject, purpose, include_responsible_person=include_responsible_person, as_of=as_of
        )
        return self._call(call, timeout, retry)

    # -- measure lists ------------------------------------------------------------------------

    def publish_measure_list(
        self,
        measure_list: measure_pb2.MeasureList,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[measure_pb2.MeasureList]:
        """Publish a version of a measure list (broadcast by default)."""
        call = self._calls().publish_measure_list(measure_list, recipients)
        return self._call(call, timeout, retry)

    def get_measure_list(
        self,
        list_id: str,
        *,
        version: str | None = None,
        effective_on: date | None = None,
        include_proof: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Fetched[measure_pb2.MeasureList]:
        """A version of a measure list: ``version``, the one in force on ``effective_on``, or
        the one in force today; checked against its signed statement."""
        call = self._calls().get_measure_list(
            list_id, version=version, effective_on=effective_on, include_proof=include_proof
        )
        return self._call(call, timeout, retry)

    def list_measure_lists(
        self,
        list_id: str = "",
        *,
        page_size: int = 100,
        max_items: int | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Pager[measure_pb2.MeasureList]:
        """The versions of ``list_id`` (of every list when empty); a pager."""
        paged = self._domain.list_measure_lists(list_id, page_size)
        return self._pager(paged, max_items, timeout, retry)

    def diff_measure_lists(
        self,
        list_id: str,
        from_version: str,
        to_version: str,
        *,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> MeasureListDiff:
        """What changed between two versions of a measure list, by measure id."""
        call = self._domain.diff_measure_lists(list_id, from_version, to_version)
        return self._call(call, timeout, retry)

    # -- objections and repair ----------------------------------------------------------------

    def file_objection(
        self,
        objection: objection_pb2.Objection,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[objection_pb2.Objection]:
        """File an objection (error, omission, duplicate, should not be published, past its
        period) with evidence; the target is marked disputed. Name the nodes holding the
        target in ``recipients`` (with this gateway) so they are notified."""
        call = self._calls().file_objection(objection, recipients)
        return self._call(call, timeout, retry)

    def resolve_objection(
        self,
        resolution: objection_pb2.ObjectionResolution,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[objection_pb2.Objection]:
        """Resolve an objection as corrected, deleted or upheld; the objection as resolved."""
        call = self._calls().resolve_objection(resolution, recipients)
        return self._call(call, timeout, retry)

    def get_objection(
        self,
        objection_id: str,
        *,
        include_proof: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Fetched[objection_pb2.Objection]:
        """An objection with its status, deadline, resolution and verified provenance."""
        call = self._calls().get_objection(objection_id, include_proof=include_proof)
        return self._call(call, timeout, retry)

    def list_objections(
        self,
        request: objection_service_pb2.ListObjectionsRequest | None = None,
        *,
        page_size: int = 100,
        max_items: int | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Pager[objection_pb2.Objection]:
        """Objections filtered as ``request`` says; a pager."""
        paged = self._domain.list_objections(
            request or objection_service_pb2.ListObjectionsRequest(), page_size
        )
        return self._pager(paged, max_items, timeout, retry)

    def submit_repair_application(
        self,
        application: repair_pb2.RepairApplication,
        *,
        commitment: commitment_pb2.CreditCommitment | None = None,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[repair_pb2.RepairApplication]:
        """Apply for credit repair (targets, evidence); eligibility is checked per target under
        the ruleset in force. ``commitment``, the credit commitment the application names
        (``commitment_id``), if given, is sent with it in one signed batch."""
        call = self._calls().submit_repair_application(application, commitment, recipients)
        return self._call(call, timeout, retry)

    def decide_repair_application(
        self,
        decision: repair_pb2.RepairDecision | statement_pb2.Statement,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[repair_pb2.RepairApplication]:
        """Decide a repair application; an approval ends publication and the measures.

        The decision must reach every node that holds a copy of the application or, for an
        approval, of an approved target, or the gateway refuses it
        (``DECISION_RECIPIENTS_INCOMPLETE``, naming the missing nodes; CXP-REPAIR-001). Unless
        ``recipients`` or the statement's header names its recipients, they are read from the
        gateway: this gateway, then every node the application's statement and each approved
        target's creating statement were addressed to (``GetRepairApplication``,
        ``GetRecord`` revision 1, ``GetNameListEntry``, each answer's provenance verified).
        Those reads need READ grants; without them, name the recipients."""
        if recipients is None and unaddressed(decision):
            recipients = self._decision_holders(decision, timeout, retry)
        call = self._calls().decide_repair_application(decision, recipients)
        return self._call(call, timeout, retry)

    def _decision_holders(
        self,
        decision: repair_pb2.RepairDecision | statement_pb2.Statement,
        timeout: OptionalTimeout,
        retry: OptionalRetry,
    ) -> tuple[str, ...]:
        """The nodes holding the application and the approved targets (the gateway first)."""
        body = repair_decision_of(decision)
        application = self.get_repair_application(body.application_id, timeout=timeout, retry=retry)
        created_by = [application.provenance[0].entry.statement]
        for kind, object_id in decision_targets(body):
            if kind == "record":
                record = self.get_record(object_id, revision=1, timeout=timeout, retry=retry)
                created_by.append(record.provenance[0].entry.statement)
            else:
                entry = self.get_name_list_entry(object_id, timeout=timeout, retry=retry)
                created_by.append(entry.provenance[0].entry.statement)
        return decision_holders(self.gateway, created_by)

    def get_repair_application(
        self,
        application_id: str,
        *,
        include_proof: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Fetched[repair_pb2.RepairApplication]:
        """A repair application with its status, decision and verified provenance."""
        call = self._calls().get_repair_application(application_id, include_proof=include_proof)
        return self._call(call, timeout, retry)

    def list_repair_applications(
        self,
        request: objection_service_pb2.ListRepairApplicationsRequest | None = None,
        *,
        page_size: int = 100,
        max_items: int | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Pager[repair_pb2.RepairApplication]:
        """Repair applications filtered as ``request`` says; a pager."""
        paged = self._domain.list_repair_applications(
            request or objection_service_pb2.ListRepairApplicationsRequest(), page_size
        )
        return self._pager(paged, max_items, timeout, retry)

    # -- reports ------------------------------------------------------------------------------

    def issue_report(
        self,
        subject: str,
        purpose: int,
        *,
        authority_uscc: str,
        authority_name: str | None = None,
        purpose_description: str = "",
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> IssuedReport:
        """Have the gateway issue a credit report on ``subject`` for ``purpose``, signed and
        logged, and check it as a relying party would.

        ``authority_uscc`` (and ``authority_name``, by default the gateway's name in the trust
        bundle) name the authority operating the issuing platform. The report is then read
        back with its log proof, assembled into a portable bundle and verified offline under
        this client's trust bundle; :class:`~creditlink.sdk.errors.VerificationError`
        (``REPORT_NOT_RECOGNIZED``) if it is not recognized.
        """
        calls = self._calls()
        order = calls.report_order(
            subject,
            purpose,
            authority_uscc=authority_uscc,
            authority_name=authority_name,
            purpose_description=purpose_description,
        )
        written = self._call(calls.issue_report(order), timeout, retry)
        if written.value is None:
            raise VerificationError("the gateway did not return the report", reason="NO_REPORT")
        fetched = self._call(
            calls.get_report(written.value.report_number, include_proof=True), timeout, retry
        )
        return calls.issued(written, fetched, purpose, subject)

    def get_report(
        self,
        report_number: str,
        *,
        include_proof: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Fetched[report_pb2.CreditReport]:
        """A report with its current status (revoked, superseded...) and verified provenance."""
        call = self._calls().get_report(report_number, include_proof=include_proof)
        return self._call(call, timeout, retry)

    def get_report_bundle(
        self,
        report_number: str,
        *,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> ReportBundle:
        """The portable bundle of a report (its signed envelope, inclusion proof and signed
        checkpoint), read with proofs and verified."""
        call = self._calls().get_report(report_number, include_proof=True)
        return report_bundle(self._call(call, timeout, retry))

    def verify_report(
        self,
        report: ReportBundle | str,
        *,
        purpose: int = 0,
        subject: str | None = None,
        at: datetime | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Recognition:
        """Ask the gateway whether it recognizes a report (a bundle, or a report number it
        fetches from the issuer's log) for ``purpose`` and ``subject`` at ``at``; its current
        status counts (revoked, superseded). Offline: :func:`verify_report_offline`."""
        call = self._domain.verify_report(report, purpose=purpose, subject=subject, at=at)
        return self._call(call, timeout, retry)

    def revoke_report(
        self,
        report_number: str,
        reason: str,
        *,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[report_pb2.CreditReport]:
        """Revoke a report this gateway issued; the report with its new status."""
        call = self._calls().revoke_report(report_number, reason)
        return self._call(call, timeout, retry)

    def supersede_report(
        self,
        report_number: str,
        *,
        subject: str,
        purpose: int,
        authority_uscc: str,
        authority_name: str | None = None,
        purpose_description: str = "",
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[report_pb2.CreditReport]:
        """Issue a new report replacing ``report_number`` (which becomes SUPERSEDED), in one
        append; the value is the new report (read its bundle with
        :meth:`get_report_bundle`)."""
        calls = self._calls()
        order = calls.report_order(
            subject,
            purpose,
            authority_uscc=authority_uscc,
            authority_name=authority_name,
            purpose_description=purpose_description,
            supersedes=report_number,
        )
        return self._call(calls.supersede_report(order), timeout, retry)


class Subscription(Iterator[Entry]):
    """An iterator of verified log entries that survives gateway restarts (from
    :meth:`Client.subscribe`).

    Delivery: entries come in log order, each at most once per iterator. When the stream
    breaks (the gateway restarts, the network drops, the stream stays silent past its
    timeout), the iterator reconnects with jittered exponential backoff and resumes at its
    cursor: nothing is skipped and nothing repeated.

    Acknowledgement: an entry counts as processed when you ask for the next one, or call
    :meth:`ack`. The cursor store (if any) records the position after the last processed
    entry: on each progress message, at most every second while entries stream, on
    :meth:`ack` and on :meth:`close`. After a crash, or a ``break`` out of the loop without
    :meth:`ack`, the entry being processed is delivered again (at least once across runs,
    exactly once within one). Close it (or use ``with``) to stop the stream.
    """

    def __init__(
        self,
        *,
        open_stream: Callable[[_pb.SubscribeRequest], Any],
        state: SubscriptionState,
        store: CursorStore | None,
        key: str,
        idle_timeout: float | None,
        retry: Retry | None,
    ) -> None:
        """Private: use :meth:`Client.subscribe`."""
        self._open = open_stream
        self._state = state
        self._store = store
        self._key = key
        self._idle_timeout = idle_timeout
        self._backoff = Backoff(retry) if retry is not None else None
        self._call: Any = None
        self._responses: Iterator[_pb.SubscribeResponse] | None = None
        self._watchdog: _Watchdog | None = None
        self._acked = state.cursor
        self._saved = -1
        self._last_save = time.monotonic()
        self._closed = False
        self._stopped = threading.Event()
        self._connecting = threading.Lock()

    # -- state --------------------------------------------------------------------------------

    @property
    def cursor(self) -> int:
        """Where the stream resumes: the leaf after the last entry delivered (or skipped)."""
        return self._state.cursor

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The latest verified checkpoint the gateway sent along (``None`` before the first)."""
        return self._state.checkpoint

    @property
    def key(self) -> str:
        """The subscription's key in the cursor store."""
        return self._key

    # -- iteration ----------------------------------------------------------------------------

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Entry:
        if self._closed:
            raise StopIteration
        # Asking for the next entry acknowledges the one handed out before.
        self._acked = self._state.cursor
        self._save(force=False)
        pending = self._state.next_entry()  # the rest of a page, before reading on
        if pending is not None:
            return pending
        while True:
            if self._responses is None:
                self._connect()
            assert self._responses is not None
            watchdog = self._watchdog
            try:
                if watchdog is not None:
                    watchdog.arm()
                try:
                    response = next(self._responses)
                finally:
                    if watchdog is not None:
                        watchdog.disarm()
            except StopIteration:
                self._disconnect()
                if not self._state.follow:
                    self.close()
                    raise StopIteration from None
                # A live stream ended without error: the gateway is shutting down. Resume.
                self._reconnect_or_raise(Unavailable("the gateway ended the subscription"))
                continue
            except grpc.RpcError as exc:
                self._disconnect()
                error = from_grpc_error(exc)
                if watchdog is not None and watchdog.fired:
                    error = Unavailable(
                        f"no message from the gateway within {self._idle_timeout} s",
                        reason="STREAM_IDLE",
                    )
                    error.__cause__ = exc
                self._reconnect_or_raise(error)
                continue
            if self._backoff is not None:
                self._backoff.reset()
            try:
                entry = self._state.on_response(response)
            except CreditlinkError:
                self.close()  # never deliver past something that did not verify
                raise
            if entry is not None:
                return entry
            # Progress: everything handed out is processed (the consumer asked for more).
            self._acked = self._state.cursor
            self._save(force=False)

    def _connect(self) -> None:
        # Under the lock close() takes: a close() from another thread either comes first (no
        # stream is opened) or finds this stream and cancels it; never one left following.
        with self._connecting:
            if self._closed:
                raise StopIteration
            self._call = self._open(self._state.request())
            self._responses = iter(self._call)
            if self._idle_timeout is not None:
                self._watchdog = _Watchdog(self._idle_timeout, self._call.cancel)

    def _disconnect(self) -> None:
        # Runs in the iterating thread and in close(): each takes what it stops.
        watchdog, self._watchdog = self._watchdog, None
        call, self._call = self._call, None
        self._responses = None
        if watchdog is not None:
            watchdog.stop()
        if call is not None:
            call.cancel()

    def _reconnect_or_raise(self, error: CreditlinkError) -> None:
        if (
            not isinstance(error, Unavailable)
            or self._backoff is None
            or self._backoff.exhausted
            or self._closed
        ):
            self.close()
            raise error
        # Interruptible: close() from another thread ends the wait.
        if self._stopped.wait(self._backoff.next_delay()):
            raise StopIteration

    def _save(self, *, force: bool) -> None:
        if self._store is None or self._acked == self._saved:
            return
        now = time.monotonic()
        if force or now - self._last_save >= _SAVE_INTERVAL:
            self._store.save(self._key, self._acked)
            self._saved, self._last_save = self._acked, now

    # -- control ------------------------------------------------------------------------------

    def ack(self) -> None:
        """Mark every entry handed out so far as processed, and save the cursor now."""
        self._acked = self._state.cursor
        self._save(force=True)

    def close(self) -> None:
        """Stop the stream and save the cursor of the last processed entry. Idempotent, and
        safe from another thread than the one iterating."""
        with self._connecting:
            if self._closed:
                return
            self._closed = True
        self._stopped.set()
        self._disconnect()
        self._save(force=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Subscription(key={self._key!r}, cursor={self._state.cursor})"
