"""The asyncio client: grpc.aio channels and stubs over the client core (``_core.ClientCore``).

The same core as :class:`~creditlink.sdk.client.Client`; only the waiting differs (``await``,
``asyncio.wait_for`` where the blocking client needs a watchdog thread).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
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
from creditlink.sdk.client._pager import AsyncPager, Page
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

__all__ = ["AsyncClient", "AsyncSubscription"]

T = TypeVar("T")
_pb = exchange_service_pb2
_SAVE_INTERVAL: Final = 1.0

Records = Iterable[Message] | AsyncIterable[Message]


class AsyncClient:
    """An asyncio CXP client for one gateway, over mutual TLS.

    The same calls, arguments, checks and errors as :class:`~creditlink.sdk.client.Client`,
    awaited; streams are async iterators::

        async with AsyncClient.from_credentials(".creditlink/operator") as client:
            receipt = await client.submit(record)
            async for receipt in client.submit_records(records):
                ...
            async with client.subscribe(["record"]) as entries:
                async for entry in entries:
                    ...

    Create it inside the event loop that uses it (grpc.aio channels belong to one loop).
    Signing and sealing are CPU work done on the loop (a few milliseconds per large batch).
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
        """Connect to ``target`` as ``credentials`` (see :class:`~creditlink.sdk.client.Client`)."""
        self._core = ClientCore(
            credentials=credentials, target=target, gateway=gateway, clock=clock
        )
        self._channel = grpc.aio.secure_channel(
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
        """Load and check a credentials directory and connect to its gateway (``target``
        defaults to the first endpoint its manifest names)."""
        credentials = Credentials.load(directory)
        return cls(
            target or default_target(credentials),
            credentials,
            gateway=gateway,
            options=options,
            clock=clock,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the channel; calls and subscriptions still running are cancelled."""
        await self._channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

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

    async def gateway(self) -> str:
        """The gateway's node id (asks the gateway for a checkpoint if it is not known yet)."""
        await self._ensure_gateway()
        return self._core.gateway

    # -- plumbing -----------------------------------------------------------------------------

    async def _unary(
        self,
        method: str,
        invoke: Callable[[float | None], Awaitable[T]],
        timeout: OptionalTimeout,
        retry: OptionalRetry,
    ) -> T:
        policy = resolve(method, timeout, retry)
        deadline = None if policy.timeout is None else time.monotonic() + policy.timeout

        async def attempt() -> T:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(f"{method}: the deadline of {policy.timeout} s passed")
            try:
                return await invoke(remaining)
            except grpc.aio.AioRpcError as exc:
                raise from_grpc_error(exc) from exc

        if policy.retry is None:
            return await attempt()
        stop, wait, retry_if = policy.retry.controls(policy.timeout)
        retrying = tenacity.AsyncRetrying(stop=stop, wait=wait, retry=retry_if, reraise=True)
        result: T = await retrying(attempt)
        return result

    async def _ensure_gateway(self) -> None:
        if self._core.gateway_known:
            return
        response = await self._unary(
            "GetCheckpoint",
            lambda t: self._exchange.GetCheckpoint(_pb.GetCheckpointRequest(), timeout=t),
            DEFAULT,
            DEFAULT,
        )
        self._core.identify_gateway(response.checkpoint)

    # -- submission ---------------------------------------------------------------------------

    async def submit(
        self,
        statements: Message | Sequence[Message],
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Receipt:
        """Sign, seal and submit one statement, or several as one batch; the verified receipt
        (see :meth:`creditlink.sdk.client.Client.submit`)."""
        await self._ensure_gateway()
        messages = [statements] if isinstance(statements, Message) else list(statements)
        prepared = self._core.build_submit(messages, recipients)
        response = await self._unary(
            "Submit",
            lambda t: self._exchange.Submit(prepared.request, timeout=t),
            timeout,
            retry,
        )
        return self._core.verify_receipt(response.receipt, prepared.expected)

    def submit_records(
        self,
        records: Records,
        *,
        recipients: Sequence[str] | None = None,
        batch_size: int | Literal["auto"] = "auto",
        progress: Callable[[SubmitProgress], None] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> AsyncIterator[Receipt]:
        """Stream statements in signed batches; an async iterator of the batches' receipts,
        in record order (see :meth:`creditlink.sdk.client.Client.submit_records`; ``records``
        may also be an async iterable). Nothing is sent until you iterate it."""
        policy = resolve("SubmitStream", timeout, retry)
        return self._upload(
            records,
            recipients=recipients,
            batch_size=batch_size,
            progress=progress,
            timeout=policy.timeout,
            retry=policy.retry,
        )

    @staticmethod
    async def _next_record(records: Iterator[Message] | AsyncIterator[Message]) -> Message | None:
        if isinstance(records, AsyncIterator):
            try:
                return await anext(records)
            except StopAsyncIteration:
                return None
        return next(records, None)

    async def _pump(
        self,
        upload: Upload,
        records: Iterator[Message] | AsyncIterator[Message],
        exhausted: bool,
        call: Any,
    ) -> bool:
        """Send what the credits allow, reading records as batches need them."""
        while True:
            while not exhausted and upload.wants_records:
                record = await self._next_record(records)
                if record is None:
                    exhausted = True
                    break
                upload.add(record)
            request = upload.next_request(exhausted)
            if request is None:
                return exhausted
            await call.write(request)

    async def _upload(
        self,
        records: Records,
        *,
        recipients: Sequence[str] | None,
        batch_size: int | Literal["auto"],
        progress: Callable[[SubmitProgress], None] | None,
        timeout: float | None,
        retry: Retry | None,
    ) -> AsyncIterator[Receipt]:
        await self._ensure_gateway()
        upload = self._core.upload(recipients=recipients, batch_size=batch_size, progress=progress)
        source: Iterator[Message] | AsyncIterator[Message] = (
            aiter(records) if isinstance(records, AsyncIterable) else iter(records)
        )
        backoff = Backoff(retry) if retry is not None else None
        exhausted = False
        while True:
            call = self._exchange.SubmitStream(None)  # requests are written with call.write
            upload.stream_opened()
            writing = True
            try:
                while True:
                    try:
                        response = await asyncio.wait_for(call.read(), timeout)
                    except TimeoutError:
                        raise DeadlineExceeded(
                            f"SubmitStream: no answer from the gateway within {timeout} s"
                        ) from None
                    if not isinstance(response, _pb.SubmitStreamResponse):
                        break  # grpc.aio.EOF: the gateway closed the stream
                    due = upload.on_response(response)
                    if due and backoff is not None:
                        backoff.reset()
                    for receipt in due:
                        yield receipt
                    exhausted = await self._pump(upload, source, exhausted, call)
                    while (delay := upload.wait_time()) is not None:
                        await asyncio.sleep(delay)  # only pushed-back batches are left to send
                        exhausted = await self._pump(upload, source, exhausted, call)
                    if writing and upload.finished(exhausted):
                        await call.done_writing()
                        writing = False
            except grpc.aio.AioRpcError as exc:
                error = from_grpc_error(exc)
                if not isinstance(error, Unavailable) or backoff is None or backoff.exhausted:
                    raise error from exc
                upload.stream_broken()
                await asyncio.sleep(backoff.next_delay())
                continue
            finally:
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
            await asyncio.sleep(backoff.next_delay())
        if upload.failure is not None:
            raise upload.failure

    async def get_receipt(
        self,
        message_id: str,
        *,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Receipt:
        """The verified receipt of an accepted statement or batch, by its id (see
        :meth:`creditlink.sdk.client.Client.get_receipt`)."""
        await self._ensure_gateway()
        response = await self._unary(
            "GetReceipt",
            lambda t: self._exchange.GetReceipt(
                _pb.GetReceiptRequest(message_id=message_id), timeout=t
            ),
            timeout,
            retry,
        )
        return self._core.verify_receipt(response.receipt, None, message_id=message_id)

    # -- the log ------------------------------------------------------------------------------

    async def get_checkpoint(
        self,
        *,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Checkpoint:
        """The gateway's latest checkpoint, verified under its checkpoint key."""
        await self._ensure_gateway()
        response = await self._unary(
            "GetCheckpoint",
            lambda t: self._exchange.GetCheckpoint(_pb.GetCheckpointRequest(), timeout=t),
            timeout,
            retry,
        )
        return self._core.verify_checkpoint(response.checkpoint)

    async def get_inclusion_proof(
        self,
        *,
        leaf_index: int | None = None,
        message_id: str | None = None,
        tree_size: int = 0,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> InclusionProof:
        """Prove that a leaf is in the log (see
        :meth:`creditlink.sdk.client.Client.get_inclusion_proof`)."""
        await self._ensure_gateway()
        request = self._core.inclusion_request(
            leaf_index=leaf_index, message_id=message_id, tree_size=tree_size
        )
        response = await self._unary(
            "GetInclusionProof",
            lambda t: self._exchange.GetInclusionProof(request, timeout=t),
            timeout,
            retry,
        )
        return self._core.verify_inclusion(response, request)

    async def get_consistency_proof(
        self,
        old: Checkpoint,
        *,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> ConsistencyProof:
        """Prove that the latest log extends ``old`` (see
        :meth:`creditlink.sdk.client.Client.get_consistency_proof`)."""
        await self._ensure_gateway()
        if old.size == 0:
            latest = await self._unary(
                "GetConsistencyProof",
                lambda t: self._exchange.GetCheckpoint(_pb.GetCheckpointRequest(), timeout=t),
                timeout,
                retry,
            )
            return self._core.verify_consistency(old, latest.checkpoint, None)
        request = _pb.GetConsistencyProofRequest(from_size=old.size, to_size=0)
        response = await self._unary(
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
    ) -> AsyncSubscription:
        """Verified log entries of ``kinds`` as an async iterator (see
        :meth:`creditlink.sdk.client.Client.subscribe` and :class:`AsyncSubscription`).
        Nothing is requested until the first ``__anext__``."""
        policy = resolve("Subscribe", timeout, retry)
        return AsyncSubscription(
            client=self,
            kinds=kinds,
            cursor=cursor,
            store=cursor_store,
            name=name,
            follow=follow,
            idle_timeout=policy.timeout,
            retry=policy.retry,
        )

    # -- federation ---------------------------------------------------------------------------

    async def get_trust_bundle(
        self,
        *,
        persist: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> TrustBundle:
        """The gateway's current trust bundle, verified from this client's and adopted (see
        :meth:`creditlink.sdk.client.Client.get_trust_bundle`)."""

        async def fetch(version: int) -> Envelope:
            request = federation_service_pb2.GetTrustBundleRequest(version=version)
            response = await self._unary(
                "GetTrustBundle",
                lambda t: self._federation.GetTrustBundle(request, timeout=t),
                timeout,
                retry,
            )
            return Envelope.from_proto(response.bundle)

        update = self._core.trust_update()
        step = update.start(await fetch(0))
        while isinstance(step, int):
            version = step
            try:
                step = update.feed(await fetch(version))
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

    async def _calls(self) -> DomainCalls:
        await self._ensure_gateway()
        return self._domain

    async def _call(self, call: Call[T], timeout: OptionalTimeout, retry: OptionalRetry) -> T:
        rpc = getattr(self._stubs[call.service], call.method)
        response = await self._unary(
            call.method, lambda t: rpc(call.request, timeout=t), timeout, retry
        )
        return call.finish(response)

    def _pager(
        self,
        paged: PagedCall[T],
        max_items: int | None,
        timeout: OptionalTimeout,
        retry: OptionalRetry,
    ) -> AsyncPager[T]:
        rpc = getattr(self._stubs[paged.service], paged.method)

        async def fetch(token: str) -> Page[T]:
            request = paged.request(token)
            response = await self._unary(
                paged.method, lambda t: rpc(request, timeout=t), timeout, retry
            )
            return paged.page(response)

        return AsyncPager(fetch, max_items=max_items)

    # -- records ------------------------------------------------------------------------------

    async def get_record(
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
        calls = await self._calls()
        call = calls.get_record(record_id, revision=revision, include_proof=include_proof)
        return await self._call(call, timeout, retry)

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
    ) -> AsyncPager[record_pb2.CreditRecord]:
        """A subject's records (USCC or person token), newest decision first, filtered by
        category, status (``RecordCategory`` / ``RecordStatus`` values) and decision date
        (inclusive); an async pager that fetches ``page_size`` at a time as you iterate."""
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
    ) -> AsyncPager[record_service_pb2.OverdueRecord]:
        """Records published after their 7-working-day deadline or still published past their
        period (filters in ``request``: region, authority, kinds, as-of date); an async pager."""
        paged = self._domain.list_overdue_records(
            request or record_service_pb2.ListOverdueRecordsRequest(), page_size
        )
        return self._pager(paged, max_items, timeout, retry)

    async def correct_record(
        self,
        correction: record_pb2.RecordCorrection,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[record_pb2.CreditRecord]:
        """Publish a correction (kind ``CORRECT``, carrying the next revision), signed and
        sealed; the verified receipt and the record as it now stands."""
        calls = await self._calls()
        call = calls.correct_record(correction, recipients)
        return await self._call(call, timeout, retry)

    async def revoke_record(
        self,
        correction: record_pb2.RecordCorrection,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[record_pb2.CreditRecord]:
        """Revoke (or withdraw) a record: a correction without a new revision, with its
        reason; the verified receipt and the record as it now stands."""
        calls = await self._calls()
        call = calls.revoke_record(correction, recipients)
        return await self._call(call, timeout, retry)

    # -- name lists ---------------------------------------------------------------------------

    async def create_name_list_entry(
        self,
        entry: name_list_pb2.NameListEntry,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[name_list_pb2.NameListEntry]:
        """List a subject (the caller must be a determining authority for the list type).
        Broadcast by default (no recipients), so the hub's feed carries it to every region."""
        calls = await self._calls()
        call = calls.create_name_list_entry(entry, recipients)
        return await self._call(call, timeout, retry)

    async def transition_name_list_entry(
        self,
        transition: name_list_pb2.NameListTransition,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[name_list_pb2.NameListEntry]:
        """One lifecycle step of an entry (``LISTED → UNDER_OBJECTION → RECTIFYING →
        REPAIRED | REMOVED | EXPIRED``) with who and why; the entry in its new state."""
        calls = await self._calls()
        call = calls.transition_name_list_entry(transition, recipients)
        return await self._call(call, timeout, retry)

    async def get_name_list_entry(
        self,
        entry_id: str,
        *,
        include_proof: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Fetched[name_list_pb2.NameListEntry]:
        """An entry in its current state with the verified statements that made it."""
        calls = await self._calls()
        call = calls.get_name_list_entry(entry_id, include_proof=include_proof)
        return await self._call(call, timeout, retry)

    def list_name_list_entries(
        self,
        request: name_list_service_pb2.ListNameListEntriesRequest | None = None,
        *,
        page_size: int = 100,
        max_items: int | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> AsyncPager[name_list_pb2.NameListEntry]:
        """Entries filtered as ``request`` says (list types, subject, states, region,
        determining authority, listing dates); an async pager (``async for``)."""
        paged = self._domain.list_name_list_entries(
            request or name_list_service_pb2.ListNameListEntriesRequest(), page_size
        )
        return self._pager(paged, max_items, timeout, retry)

    async def check_subject(
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
        calls = await self._calls()
        call = calls.check_subject(
            subject, purpose, include_responsible_person=include_responsible_person, as_of=as_of
        )
        return await self._call(call, timeout, retry)

    # -- measure lists ------------------------------------------------------------------------

    async def publish_measure_list(
        self,
        measure_list: measure_pb2.MeasureList,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[measure_pb2.MeasureList]:
        """Publish a version of a measure list (broadcast by default)."""
        calls = await self._calls()
        call = calls.publish_measure_list(measure_list, recipients)
        return await self._call(call, timeout, retry)

    async def get_measure_list(
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
        calls = await self._calls()
        call = calls.get_measure_list(
            list_id, version=version, effective_on=effective_on, include_proof=include_proof
        )
        return await self._call(call, timeout, retry)

    def list_measure_lists(
        self,
        list_id: str = "",
        *,
        page_size: int = 100,
        max_items: int | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> AsyncPager[measure_pb2.MeasureList]:
        """The versions of ``list_id`` (of every list when empty); an async pager."""
        paged = self._domain.list_measure_lists(list_id, page_size)
        return self._pager(paged, max_items, timeout, retry)

    async def diff_measure_lists(
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
        return await self._call(call, timeout, retry)

    # -- objections and repair ----------------------------------------------------------------

    async def file_objection(
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
        calls = await self._calls()
        call = calls.file_objection(objection, recipients)
        return await self._call(call, timeout, retry)

    async def resolve_objection(
        self,
        resolution: objection_pb2.ObjectionResolution,
        *,
        recipients: Sequence[str] | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[objection_pb2.Objection]:
        """Resolve an objection as corrected, deleted or upheld; the objection as resolved."""
        calls = await self._calls()
        call = calls.resolve_objection(resolution, recipients)
        return await self._call(call, timeout, retry)

    async def get_objection(
        self,
        objection_id: str,
        *,
        include_proof: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Fetched[objection_pb2.Objection]:
        """An objection with its status, deadline, resolution and verified provenance."""
        calls = await self._calls()
        call = calls.get_objection(objection_id, include_proof=include_proof)
        return await self._call(call, timeout, retry)

    def list_objections(
        self,
        request: objection_service_pb2.ListObjectionsRequest | None = None,
        *,
        page_size: int = 100,
        max_items: int | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> AsyncPager[objection_pb2.Objection]:
        """Objections filtered as ``request`` says; an async pager (``async for``)."""
        paged = self._domain.list_objections(
            request or objection_service_pb2.ListObjectionsRequest(), page_size
        )
        return self._pager(paged, max_items, timeout, retry)

    async def submit_repair_application(
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
        calls = await self._calls()
        call = calls.submit_repair_application(application, commitment, recipients)
        return await self._call(call, timeout, retry)

    async def decide_repair_application(
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
        calls = await self._calls()
        if recipients is None and unaddressed(decision):
            recipients = await self._decision_holders(decision, timeout, retry)
        call = calls.decide_repair_application(decision, recipients)
        return await self._call(call, timeout, retry)

    async def _decision_holders(
        self,
        decision: repair_pb2.RepairDecision | statement_pb2.Statement,
        timeout: OptionalTimeout,
        retry: OptionalRetry,
    ) -> tuple[str, ...]:
        """The nodes holding the application and the approved targets (the gateway first)."""
        body = repair_decision_of(decision)
        application = await self.get_repair_application(
            body.application_id, timeout=timeout, retry=retry
        )
        created_by = [application.provenance[0].entry.statement]
        for kind, object_id in decision_targets(body):
            if kind == "record":
                record = await self.get_record(object_id, revision=1, timeout=timeout, retry=retry)
                created_by.append(record.provenance[0].entry.statement)
            else:
                entry = await self.get_name_list_entry(object_id, timeout=timeout, retry=retry)
                created_by.append(entry.provenance[0].entry.statement)
        return decision_holders(self._core.gateway, created_by)

    async def get_repair_application(
        self,
        application_id: str,
        *,
        include_proof: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Fetched[repair_pb2.RepairApplication]:
        """A repair application with its status, decision and verified provenance."""
        calls = await self._calls()
        call = calls.get_repair_application(application_id, include_proof=include_proof)
        return await self._call(call, timeout, retry)

    def list_repair_applications(
        self,
        request: objection_service_pb2.ListRepairApplicationsRequest | None = None,
        *,
        page_size: int = 100,
        max_items: int | None = None,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> AsyncPager[repair_pb2.RepairApplication]:
        """Repair applications filtered as ``request`` says; an async pager (``async for``)."""
        paged = self._domain.list_repair_applications(
            request or objection_service_pb2.ListRepairApplicationsRequest(), page_size
        )
        return self._pager(paged, max_items, timeout, retry)

    # -- reports ------------------------------------------------------------------------------

    async def issue_report(
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
        calls = await self._calls()
        order = calls.report_order(
            subject,
            purpose,
            authority_uscc=authority_uscc,
            authority_name=authority_name,
            purpose_description=purpose_description,
        )
        written = await self._call(calls.issue_report(order), timeout, retry)
        if written.value is None:
            raise VerificationError("the gateway did not return the report", reason="NO_REPORT")
        fetched = await self._call(
            calls.get_report(written.value.report_number, include_proof=True), timeout, retry
        )
        return calls.issued(written, fetched, purpose, subject)

    async def get_report(
        self,
        report_number: str,
        *,
        include_proof: bool = False,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Fetched[report_pb2.CreditReport]:
        """A report with its current status (revoked, superseded...) and verified provenance."""
        calls = await self._calls()
        call = calls.get_report(report_number, include_proof=include_proof)
        return await self._call(call, timeout, retry)

    async def get_report_bundle(
        self,
        report_number: str,
        *,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> ReportBundle:
        """The portable bundle of a report (its signed envelope, inclusion proof and signed
        checkpoint), read with proofs and verified."""
        calls = await self._calls()
        call = calls.get_report(report_number, include_proof=True)
        return report_bundle(await self._call(call, timeout, retry))

    async def verify_report(
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
        return await self._call(call, timeout, retry)

    async def revoke_report(
        self,
        report_number: str,
        reason: str,
        *,
        timeout: OptionalTimeout = DEFAULT,
        retry: OptionalRetry = DEFAULT,
    ) -> Written[report_pb2.CreditReport]:
        """Revoke a report this gateway issued; the report with its new status."""
        calls = await self._calls()
        call = calls.revoke_report(report_number, reason)
        return await self._call(call, timeout, retry)

    async def supersede_report(
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
        calls = await self._calls()
        order = calls.report_order(
            subject,
            purpose,
            authority_uscc=authority_uscc,
            authority_name=authority_name,
            purpose_description=purpose_description,
            supersedes=report_number,
        )
        return await self._call(calls.supersede_report(order), timeout, retry)


class AsyncSubscription(AsyncIterator[Entry]):
    """An async iterator of verified log entries that survives gateway restarts.

    The same delivery, acknowledgement and cursor-store rules as
    :class:`creditlink.sdk.client.Subscription`; close it with :meth:`aclose` or
    ``async with``.
    """

    def __init__(
        self,
        *,
        client: AsyncClient,
        kinds: Iterable[str] | str,
        cursor: int | None,
        store: CursorStore | None,
        name: str | None,
        follow: bool,
        idle_timeout: float | None,
        retry: Retry | None,
    ) -> None:
        """Private: use :meth:`AsyncClient.subscribe`."""
        self._client = client
        self._kinds = kinds
        self._start = cursor
        self._name = name
        self._follow = follow
        self._store = store
        self._idle_timeout = idle_timeout
        self._backoff = Backoff(retry) if retry is not None else None
        self._state: SubscriptionState | None = None
        self._key = ""
        self._call: Any = None
        self._acked = 0
        self._saved = -1
        self._last_save = time.monotonic()
        self._closed = False

    @property
    def cursor(self) -> int | None:
        """Where the stream resumes (``None`` before the first ``__anext__``)."""
        return None if self._state is None else self._state.cursor

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The latest verified checkpoint the gateway sent along."""
        return None if self._state is None else self._state.checkpoint

    @property
    def key(self) -> str:
        """The subscription's key in the cursor store (known after the first ``__anext__``)."""
        return self._key

    async def _start_state(self) -> SubscriptionState:
        client = self._client
        await client._ensure_gateway()
        core = client._core
        self._key = core.subscription_key(self._kinds, self._name)
        start = self._start
        if start is None and self._store is not None:
            start = self._store.load(self._key)
            self._saved = -1 if start is None else start
        state = core.subscription(self._kinds, cursor=start or 0, follow=self._follow)
        self._acked = state.cursor
        return state

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Entry:
        if self._closed:
            raise StopAsyncIteration
        if self._state is None:
            self._state = await self._start_state()
        state = self._state
        # Asking for the next entry acknowledges the one handed out before.
        self._acked = state.cursor
        self._save(force=False)
        pending = state.next_entry()  # the rest of a page, before reading on
        if pending is not None:
            return pending
        while True:
            if self._call is None:
                if self._closed:  # by another task, during one of the awaits above
                    raise StopAsyncIteration
                self._call = self._client._exchange.Subscribe(state.request())
            try:
                response = await asyncio.wait_for(self._call.read(), self._idle_timeout)
            except TimeoutError as exc:
                self._disconnect()
                error = Unavailable(
                    f"no message from the gateway within {self._idle_timeout} s",
                    reason="STREAM_IDLE",
                )
                error.__cause__ = exc
                await self._reconnect_or_raise(error)
                continue
            except grpc.aio.AioRpcError as exc:
                self._disconnect()
                await self._reconnect_or_raise(from_grpc_error(exc))
                continue
            if not isinstance(response, _pb.SubscribeResponse):  # grpc.aio.EOF
                self._disconnect()
                if not state.follow:
                    await self.aclose()
                    raise StopAsyncIteration
                await self._reconnect_or_raise(Unavailable("the gateway ended the subscription"))
                continue
            if self._backoff is not None:
                self._backoff.reset()
            try:
                entry = state.on_response(response)
            except CreditlinkError:
                await self.aclose()  # never deliver past something that did not verify
                raise
            if entry is not None:
                return entry
            self._acked = state.cursor
            self._save(force=False)

    def _disconnect(self) -> None:
        if self._call is not None:
            self._call.cancel()
        self._call = None

    async def _reconnect_or_raise(self, error: CreditlinkError) -> None:
        if (
            not isinstance(error, Unavailable)
            or self._backoff is None
            or self._backoff.exhausted
            or self._closed
        ):
            await self.aclose()
            raise error
        await asyncio.sleep(self._backoff.next_delay())
        if self._closed:
            raise StopAsyncIteration

    def _save(self, *, force: bool) -> None:
        if self._store is None or self._state is None or self._acked == self._saved:
            return
        now = time.monotonic()
        if force or now - self._last_save >= _SAVE_INTERVAL:
            self._store.save(self._key, self._acked)
            self._saved, self._last_save = self._acked, now

    def ack(self) -> None:
        """Mark every entry handed out so far as processed, and save the cursor now."""
        if self._state is not None:
            self._acked = self._state.cursor
            self._save(force=True)

    async def aclose(self) -> None:
        """Stop the stream and save the cursor of the last processed entry. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._disconnect()
        self._save(force=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncSubscription(key={self._key!r}, cursor={self.cursor})"
