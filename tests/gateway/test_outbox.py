"""The forwarder against real stores and a real mutual-TLS upstream.

Zhejiang (``zj-330000``) forwards statements it sealed to the hub (``cn-hub``) and to Guangdong
(``gd-440000``). Every test runs on SQLite and PostgreSQL (``store_url``). The destinations are
real grpc.aio servers on loopback with the development federation's certificates and the
gateway's error interceptor; their ``Submit`` (:class:`Upstream`) opens what arrives with the
destination's sealing key and answers with a receipt signed by the destination's key, after
failing on cue. It stands in for the other gateway, which is not the unit under test here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.gateway.errors import ErrorInterceptor
from creditlink.gateway.ledger import RECEIPT_PAYLOAD_TYPE
from creditlink.gateway.outbox import (
    DeliveryStatus,
    Forwarder,
    Outcome,
    endpoints_from_credentials,
)
from creditlink.gateway.store import OutboxItem, OutboxState, OutboxStats, Store, open_store
from creditlink.sdk import envelope as dsse
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.errors import (
    CreditlinkError,
    InvalidArgument,
    LimitExceeded,
    PermissionDenied,
    Pushback,
    ReplayRejected,
    Unavailable,
)
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.seal import SealedEnvelope, open_sealed
from creditlink.v1 import (
    envelope_pb2,
    exchange_service_pb2,
    exchange_service_pb2_grpc,
    log_pb2,
    statement_pb2,
)
from tests.gateway.statements import penalty_record, sealed_single, statement

HUB, ZJ, GD = "cn-hub", "zj-330000", "gd-440000"


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    return create_dev_federation(Path(tmp_path_factory.mktemp("fed")))


@pytest.fixture
def zj(federation: DevFederation) -> Credentials:
    return federation.node(ZJ).credentials


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with open_store(store_url) as opened:
        yield opened


# --- the stand-in destination -----------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    message_id: str
    request_id: str
    at: float  # time.monotonic()


class Upstream(exchange_service_pb2_grpc.ExchangeServiceServicer):
    """A destination's ``Submit``: opens the seal, then fails on cue or answers with a receipt.

    ``script`` is consumed one step per call: an error to raise, a number of seconds to stall
    before answering, or ``"bad-receipt"`` (a receipt signed with a key that is not the
    destination's). ``down`` makes every call fail with that error; ``refuse`` fails the named
    message ids every time. A resend with the same ``request_id`` gets the same receipt.
    """

    def __init__(self, node: Credentials) -> None:
        self.node = node
        self.script: list[CreditlinkError | float | str] = []
        self.down: CreditlinkError | None = None
        self.refuse: dict[str, CreditlinkError] = {}
        self.calls: list[Call] = []
        self.accepted: list[str] = []  # message ids, first acceptance only
        self._receipts: dict[str, bytes] = {}

    async def Submit(
        self, request: exchange_service_pb2.SubmitRequest, context: Any
    ) -> exchange_service_pb2.SubmitResponse:
        opened = open_sealed(
            SealedEnvelope.from_proto(request.sealed),
            node_id=self.node.node_id,
            keys=[self.node.sealing_key],
        )
        signed = dsse.Envelope.from_bytes(opened.plaintext)
        message_id = statement_pb2.Statement.FromString(signed.payload).header.message_id
        self.calls.append(Call(message_id, request.request_id, time.monotonic()))
        if self.down is not None:
            raise self.down
        if message_id in self.refuse:
            raise self.refuse[message_id]
        step = self.script.pop(0) if self.script else None
        if isinstance(step, CreditlinkError):
            raise step
        if isinstance(step, float):
            await asyncio.sleep(step)
        if step == "bad-receipt":
            wrong = PrivateKey.from_seed(b"w" * 32)
            forged = self._receipt(message_id, signed.payload, wrong)
            return exchange_service_pb2.SubmitResponse(receipt=forged)
        if request.request_id not in self._receipts:
            self.accepted.append(message_id)
            receipt = self._receipt(message_id, signed.payload, self.node.signing_key)
            self._receipts[request.request_id] = receipt.SerializeToString()
        return exchange_service_pb2.SubmitResponse(
            receipt=envelope_pb2.Envelope.FromString(self._receipts[request.request_id])
        )

    def _receipt(self, message_id: str, payload: bytes, key: PrivateKey) -> envelope_pb2.Envelope:
        receipt = log_pb2.Receipt(
            message_id=message_id,
            gateway_node_id=self.node.node_id,
            log_origin=self.node.node.log_origin,
            first_leaf_index=max(0, len(self.accepted) - 1),
            leaf_count=1,
            payload_digest=hashlib.sha256(payload).digest(),
            payload_type=dsse.payload_type_for("record"),
            checkpoint=log_pb2.SignedCheckpoint(
                note="stand-in", origin=self.node.node.log_origin, size=len(self.accepted)
            ),
        )
        receipt.accepted_at.FromDatetime(datetime.now(UTC))
        return dsse.sign(receipt.SerializeToString(), RECEIPT_PAYLOAD_TYPE, [key]).to_proto()


@asynccontextmanager
async def serving(upstream: Upstream, port: int = 0) -> AsyncIterator[int]:
    """Serve ``upstream`` with mutual TLS on ``127.0.0.1:port``; yield the port."""
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    exchange_service_pb2_grpc.add_ExchangeServiceServicer_to_server(upstream, server)
    bound = server.add_secure_port(f"127.0.0.1:{port}", upstream.node.server_credentials())
    await server.start()
    try:
        yield bound
    finally:
        await server.stop(None)


@pytest.fixture
async def hub(federation: DevFederation) -> AsyncIterator[tuple[Upstream, int]]:
    upstream = Upstream(federation.node(HUB).credentials)
    async with serving(upstream) as port:
        yield upstream, port


@pytest.fixture
async def gd(federation: DevFederation) -> AsyncIterator[tuple[Upstream, int]]:
    upstream = Upstream(federation.node(GD).credentials)
    async with serving(upstream) as port:
        yield upstream, port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the forwarding node ------------------------------------------------------------------


def forwarder(store: Store, zj: Credentials, ports: dict[str, int], **options: Any) -> Forwarder:
    """Zhejiang's forwarder with test timings: retries within tens of milliseconds."""
    settings: dict[str, Any] = {
        "min_backoff": 0.02,
        "max_backoff": 0.2,
        "attempt_timeout": 2.0,
        "poll_interval": 0.5,
        **options,
    }
    return Forwarder(
        store=store,
        destinations=endpoints_from_credentials(
            zj, overrides={node: f"127.0.0.1:{port}" for node, port in ports.items()}
        ),
        trust=lambda: zj.trust_bundle,
        **settings,
    )


@asynccontextmanager
async def running(f: Forwarder) -> AsyncIterator[Forwarder]:
    await f.start()
    try:
        yield f
    finally:
        await f.stop()


def outgoing(zj: Credentials, to: str, *, at: datetime | None = None) -> OutboxItem:
    """A statement Zhejiang signed and sealed to ``to``, as the ledger would enqueue it."""
    body = statement(ZJ, [to], penalty_record())
    return OutboxItem(
        destination=to,
        message_id=body.header.message_id,
        request_id=body.header.request_id,
        sealed=sealed_single(zj, to, body),
        enqueued_at=at or datetime.now(UTC),
    )


async def enqueue(store: Store, *items: OutboxItem) -> list[str]:
    async with store.transaction() as tx:
        await tx.enqueue(items)
    return [i.message_id for i in items]


async def until(check: Callable[[], Awaitable[bool]], *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def settle(f: Forwarder, ids: list[str], *, within: float = 10.0) -> list[DeliveryStatus]:
    """Wait until every message in ``ids`` is delivered or failed; their statuses, in order."""

    async def done() -> bool:
        for message_id in ids:
            rows = await f.status(message_id)
            if not rows or rows[0].state is OutboxState.PENDING:
                return False
        return True

    await until(done, within=within)
    return [(await f.status(message_id))[0] for message_id in ids]


def verified_receipt(status: DeliveryStatus, zj: Credentials) -> log_pb2.Receipt:
    """Check a stored receipt the way any peer would: keys from the trust bundle only."""
    assert status.receipt is not None
    keys = zj.trust_bundle.signing_keys(status.destination, kind="receipt", at=datetime.now(UTC))
    return dsse.verify_message(
        dsse.Envelope.from_bytes(status.receipt),
        keys=keys,
        expected_type=RECEIPT_PAYLOAD_TYPE,
        message_type=log_pb2.Receipt,
    )


# --- tests ------------------------------------------------------------------------------------


async def test_messages_are_delivered_in_order_with_verifiable_receipts(
    store: Store, zj: Credentials, hub: tuple[Upstream, int]
) -> None:
    upstream, port = hub
    first = await enqueue(store, *(outgoing(zj, HUB) for _ in range(4)))
    second = await enqueue(store, *(outgoing(zj, HUB) for _ in range(3)))
    async with running(forwarder(store, zj, {HUB: port})) as f:
        statuses = await settle(f, first + second)
    assert upstream.accepted == first + second
    assert [c.message_id for c in upstream.calls] == first + second  # one attempt each
    for status in statuses:
        assert (status.state, status.attempts, status.last_error) == (
            OutboxState.DELIVERED,
            1,
            None,
        )
        assert status.next_attempt_at is None
        assert status.delivered_at is not None
        receipt = verified_receipt(status, zj)
        assert (receipt.gateway_node_id, receipt.message_id) == (HUB, status.message_id)
    assert await store.outbox_stats() == {}
    assert await store.outbox_destinations() == []


async def test_a_blocked_destination_holds_up_only_its_own_queue(
    store: Store, zj: Credentials, hub: tuple[Upstream, int], gd: tuple[Upstream, int]
) -> None:
    (to_hub, hub_port), (to_gd, gd_port) = hub, gd
    to_hub.down = Unavailable("hub is restarting")
    hub_ids = await enqueue(store, *(outgoing(zj, HUB) for _ in range(3)))
    gd_ids = await enqueue(store, *(outgoing(zj, GD) for _ in range(3)))
    async with running(forwarder(store, zj, {HUB: hub_port, GD: gd_port})) as f:
        await settle(f, gd_ids)
        assert to_gd.accepted == gd_ids
        # The hub's head is retried; the messages behind it were never sent.
        head = (await f.status(hub_ids[0]))[0]
        assert head.state is OutboxState.PENDING
        assert head.attempts >= 1
        assert head.last_error is not None
        assert head.last_error.startswith("UNAVAILABLE/UNAVAILABLE: hub is restarting")
        assert {c.message_id for c in to_hub.calls} == {hub_ids[0]}
        assert (await store.outbox_stats())[HUB].depth == 3
        to_hub.down = None
        statuses = await settle(f, hub_ids)
    assert to_hub.accepted == hub_ids
    assert statuses[0].attempts > head.attempts


async def test_transient_failures_are_retried_until_delivered(
    store: Store, zj: Credentials, hub: tuple[Upstream, int]
) -> None:
    upstream, port = hub
    upstream.script = [Unavailable("down"), Unavailable("down"), Unavailable("still down")]
    outcomes: list[tuple[str, Outcome]] = []
    ids = await enqueue(store, outgoing(zj, HUB), outgoing(zj, HUB))
    f = forwarder(store, zj, {HUB: port}, observe=lambda d, o: outcomes.append((d, o)))
    async with running(f):
        first, second = await settle(f, ids)
    assert [o for _, o in outcomes] == [Outcome.RETRY] * 3 + [Outcome.DELIVERED] * 2
    assert {d for d, _ in outcomes} == {HUB}
    # Four attempts of the head, all with the same request id (the receiver deduplicates).
    head_calls = [c for c in upstream.calls if c.message_id == ids[0]]
    assert len(head_calls) == 4
    assert len({c.request_id for c in head_calls}) == 1
    assert upstream.accepted == ids
    assert (first.state, first.attempts) == (OutboxState.DELIVERED, 4)
    assert first.last_error is not None
    assert first.last_error.startswith("UNAVAILABLE")  # kept as history
    assert (second.attempts, second.last_error) == (1, None)
    verified_receipt(first, zj)


async def test_a_push_back_delay_is_honoured(
    store: Store, zj: Credentials, hub: tuple[Upstream, int]
) -> None:
    upstream, port = hub
    upstream.script = [Pushback("rate limited", retry_after=timedelta(seconds=0.4))]
    ids = await enqueue(store, outgoing(zj, HUB))
    async with running(forwarder(store, zj, {HUB: port})) as f:
        (status,) = await settle(f, ids)
    first, second = upstream.calls
    # RetryInfo asked for 0.4 s; the outbox's own backoff would have been at most 0.02 s.
    assert second.at - first.at >= 0.35
    assert status.state is OutboxState.DELIVERED
    assert status.last_error is not None
    assert status.last_error.startswith("RESOURCE_EXHAUSTED/PUSHBACK")


@pytest.mark.parametrize(
    ("refusal", "recorded"),
    [
        (InvalidArgument("cannot open", reason="SEAL_OPEN_FAILED"), "INVALID_ARGUMENT/SEAL_OPEN"),
        (PermissionDenied("not yours", reason="PERMISSION_DENIED_SCOPE"), "PERMISSION_DENIED/"),
        (ReplayRejected("seen with other content"), "ALREADY_EXISTS/REPLAYED_MESSAGE"),
        (LimitExceeded("too big", reason="MESSAGE_TOO_LARGE"), "RESOURCE_EXHAUSTED/MESSAGE_TOO"),
    ],
)
async def test_a_permanent_refusal_is_recorded_and_the_next_message_proceeds(
    store: Store,
    zj: Credentials,
    hub: tuple[Upstream, int],
    caplog: pytest.LogCaptureFixture,
    refusal: CreditlinkError,
    recorded: str,
) -> None:
    upstream, port = hub
    ids = await enqueue(store, *(outgoing(zj, HUB) for _ in range(3)))
    upstream.refuse[ids[1]] = refusal
    with caplog.at_level(logging.WARNING, logger="creditlink.gateway.outbox"):
        async with running(forwarder(store, zj, {HUB: port})) as f:
            statuses = await settle(f, ids)
    assert [s.state for s in statuses] == [
        OutboxState.DELIVERED,
        OutboxState.FAILED,
        OutboxState.DELIVERED,
    ]
    failed = statuses[1]
    assert failed.attempts == 1  # not retried
    assert failed.receipt is None
    assert failed.last_error is not None
    assert failed.last_error.startswith(recorded)
    assert [c.message_id for c in upstream.calls].count(ids[1]) == 1
    assert upstream.accepted == [ids[0], ids[2]]
    # Never silently dropped: counted for metrics and logged.
    assert await store.outbox_stats() == {
        HUB: OutboxStats(depth=0, oldest_enqueued_at=None, failed=1)
    }
    assert any(ids[1] in r.getMessage() for r in caplog.records)


async def test_pending_messages_resume_after_a_restart(
    store_url: str, zj: Credentials, hub: tuple[Upstream, int]
) -> None:
    upstream, port = hub
    upstream.down = Unavailable("hub is down")
    async with open_store(store_url) as store:
        ids = await enqueue(store, *(outgoing(zj, HUB) for _ in range(3)))
        async with running(forwarder(store, zj, {HUB: port})) as f:
            await until(lambda: _attempted(f, ids[0]))
    # A new process: the store reopened, a new forwarder, nothing in memory carried over.
    upstream.down = None
    async with open_store(store_url) as store, running(forwarder(store, zj, {HUB: port})) as f:
        statuses = await settle(f, ids)
    assert upstream.accepted == ids
    assert all(s.state is OutboxState.DELIVERED for s in statuses)
    assert statuses[0].attempts >= 2
    assert len({c.request_id for c in upstream.calls if c.message_id == ids[0]}) == 1


async def _attempted(f: Forwarder, message_id: str) -> bool:
    return (await f.status(message_id))[0].attempts > 0


async def test_delivery_starts_once_the_destination_comes_up(
    store: Store, federation: DevFederation, zj: Credentials
) -> None:
    # Nothing listens on the port at first: a real refused connection, not a scripted error.
    port = free_port()
    ids = await enqueue(store, outgoing(zj, HUB), outgoing(zj, HUB))
    async with running(forwarder(store, zj, {HUB: port})) as f:
        await until(lambda: _attempted(f, ids[0]))
        head = (await f.status(ids[0]))[0]
        assert head.last_error is not None
        assert head.last_error.startswith("UNAVAILABLE")
        upstream = Upstream(federation.node(HUB).credentials)
        async with serving(upstream, port):
            statuses = await settle(f, ids)
    assert upstream.accepted == ids
    assert all(s.state is OutboxState.DELIVERED for s in statuses)


async def test_an_invalid_receipt_is_not_stored_and_the_message_is_resent(
    store: Store, zj: Credentials, hub: tuple[Upstream, int]
) -> None:
    upstream, port = hub
    upstream.script = ["bad-receipt"]
    ids = await enqueue(store, outgoing(zj, HUB))
    async with running(forwarder(store, zj, {HUB: port})) as f:
        (status,) = await settle(f, ids)
    assert (status.state, status.attempts) == (OutboxState.DELIVERED, 2)
    assert status.last_error is not None
    assert status.last_error.startswith("INVALID_RECEIPT/INVALID_SIGNATURE")
    assert verified_receipt(status, zj).message_id == ids[0]


async def test_a_slow_destination_hits_the_attempt_deadline(
    store: Store, zj: Credentials, hub: tuple[Upstream, int]
) -> None:
    upstream, port = hub
    upstream.script = [1.0]  # stall longer than the deadline, once
    ids = await enqueue(store, outgoing(zj, HUB))
    async with running(forwarder(store, zj, {HUB: port}, attempt_timeout=0.3)) as f:
        (status,) = await settle(f, ids)
    assert status.state is OutboxState.DELIVERED
    assert status.attempts == 2
    assert status.last_error is not None
    assert status.last_error.startswith("DEADLINE_EXCEEDED")


async def test_a_message_that_cannot_be_delivered_in_time_expires(
    store: Store, zj: Credentials, hub: tuple[Upstream, int]
) -> None:
    # The retry loop has a deadline: give_up_after after enqueueing, the message fails and the
    # next one gets its turn.
    upstream, port = hub
    ids = await enqueue(store, outgoing(zj, HUB), outgoing(zj, HUB))
    upstream.refuse[ids[0]] = Unavailable("never there for this one")
    f = forwarder(store, zj, {HUB: port}, give_up_after=timedelta(seconds=0.5))
    async with running(f):
        expired, delivered = await settle(f, ids)
    assert expired.state is OutboxState.FAILED
    assert expired.attempts > 1
    assert expired.last_error is not None
    assert expired.last_error.startswith("EXPIRED: not delivered within 0:00:00.500000; UNAVAIL")
    assert delivered.state is OutboxState.DELIVERED


async def test_wake_delivers_without_waiting_for_the_poll(
    store: Store, zj: Credentials, hub: tuple[Upstream, int]
) -> None:
    upstream, port = hub
    async with running(forwarder(store, zj, {HUB: port}, poll_interval=30.0)) as f:
        ids = await enqueue(store, outgoing(zj, HUB))
        f.wake(HUB)
        await settle(f, ids, within=3.0)
    assert upstream.accepted == ids


async def test_stop_lets_the_attempt_in_flight_finish(
    store: Store, zj: Credentials, hub: tuple[Upstream, int]
) -> None:
    upstream, port = hub
    upstream.script = [0.5]
    ids = await enqueue(store, outgoing(zj, HUB), outgoing(zj, HUB))
    f = forwarder(store, zj, {HUB: port})
    await f.start()
    await until(lambda: _called(upstream))
    await f.stop()
    assert not f.running
    first, second = [(await f.status(i))[0] for i in ids]
    assert first.state is OutboxState.DELIVERED  # its outcome was recorded
    assert (second.state, second.attempts) == (OutboxState.PENDING, 0)  # and nothing after it
    await f.stop()  # twice is fine


async def _called(upstream: Upstream) -> bool:
    return bool(upstream.calls)


async def test_an_unknown_destination_is_retried_not_dropped(store: Store, zj: Credentials) -> None:
    item = outgoing(zj, HUB)
    unknown = OutboxItem(
        destination="xx-000000",
        message_id=item.message_id,
        request_id=item.request_id,
        sealed=item.sealed,
        enqueued_at=item.enqueued_at,
    )
    await enqueue(store, unknown)
    async with running(forwarder(store, zj, {})) as f:
        await until(lambda: _attempted(f, unknown.message_id))
        (status,) = await f.status(unknown.message_id)
    assert status.state is OutboxState.PENDING
    assert status.last_error is not None
    assert status.last_error.startswith("ENDPOINT_UNRESOLVED: KeyError")


def test_backoff_is_exponential_with_full_jitter(tmp_path: Path, zj: Credentials) -> None:
    # The delay policy alone (tenacity's wait_random_exponential): uniform in [0, window], the
    # window doubling from min_backoff up to max_backoff. (The store is never opened.)
    store = open_store(str(tmp_path / "unused.sqlite3"))
    f = forwarder(store, zj, {}, min_backoff=0.5, max_backoff=60.0)
    for attempt, window in [(1, 0.5), (2, 1.0), (3, 2.0), (8, 60.0), (40, 60.0)]:
        samples = [f._backoff(attempt) for _ in range(300)]
        assert all(0 <= s <= window for s in samples)
        assert max(samples) > window * 0.8  # it spreads over the whole window
        assert min(samples) < window * 0.2


def test_options_are_checked(tmp_path: Path, zj: Credentials) -> None:
    store = open_store(str(tmp_path / "unused.sqlite3"))
    with pytest.raises(ValueError, match="backoff"):
        forwarder(store, zj, {}, min_backoff=2.0, max_backoff=1.0)
    with pytest.raises(ValueError, match="positive"):
        forwarder(store, zj, {}, attempt_timeout=0)


def test_endpoints_come_from_the_trust_bundle(zj: Credentials) -> None:
    resolve = endpoints_from_credentials(zj, overrides={GD: "gd.example:8443"})
    assert resolve(HUB).target == zj.trust_bundle.node(HUB).endpoints[0]
    assert resolve(GD).target == "gd.example:8443"
    with pytest.raises(KeyError):
        resolve("xx-000000")


@pytest.fixture(autouse=True)
def _quiet_grpc() -> Iterator[None]:
    # grpc logs every refused connection at ERROR from its C core; the tests provoke them.
    logger = logging.getLogger("grpc._cython.cygrpc")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)
