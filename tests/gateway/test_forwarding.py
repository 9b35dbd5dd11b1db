"""Forwarding end to end: three real gateways of a development federation, in one process.

``zj-330000``'s operator seals ONE statement to both ``zj-330000`` and ``gd-440000`` and
submits it to the Zhejiang gateway, which logs it and (in the same transaction) queues the very
sealed bytes for Guangdong; its forwarder delivers them over mutual TLS, Guangdong logs the
message as a relayed submission and its signed receipt is stored in Zhejiang's outbox. Nothing
is mocked; only the backoffs are short. The routing rule (CXP-API-009/010) is checked on its
own with :func:`~creditlink.gateway.intake.next_hops`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import grpc
import pytest

from creditlink.cli import main
from creditlink.cli.dev import node_config, start_federation
from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.gateway.intake import next_hops
from creditlink.gateway.node import ForwardingOptions, GatewayNode
from creditlink.gateway.store import OutboxState
from creditlink.sdk import envelope as dsse
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.errors import FailedPrecondition
from creditlink.sdk.trust import TrustBundle
from creditlink.v1 import exchange_service_pb2, exchange_service_pb2_grpc, log_pb2, statement_pb2
from tests.gateway.statements import penalty_record, sealed_single, statement

HUB, ZJ, GD = "cn-hub", "zj-330000", "gd-440000"
FAST = ForwardingOptions(min_backoff=0.05, max_backoff=0.3, attempt_timeout=3.0, poll_interval=0.2)


def _free_base_port() -> int:
    # Three consecutive free ports and their metrics ports (+1000), as `dev up` uses them.
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + 1003 > 65535:
            continue
        try:
            for port in (base, base + 1, base + 2, base + 1000, base + 1001, base + 1002):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


@dataclass
class Federation:
    directory: DevFederation
    nodes: dict[str, GatewayNode]

    def operator(self, node_id: str) -> Credentials:
        return self.directory.node(node_id).operator

    def stub(
        self, node_id: str, creds: Credentials
    ) -> exchange_service_pb2_grpc.ExchangeServiceStub:
        endpoint = self.directory.node(node_id).endpoint
        channel = grpc.aio.secure_channel(endpoint, creds.channel_credentials())
        return exchange_service_pb2_grpc.ExchangeServiceStub(channel)

    async def restart(self, node_id: str) -> GatewayNode:
        member = self.directory.node(node_id)
        node = GatewayNode(
            node_config(self.directory, node_id), member.credentials, forwarding=FAST
        )
        await node.start()
        self.nodes[node_id] = node
        return node


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[Federation]:
    directory = create_dev_federation(tmp_path / "fed", base_port=_free_base_port())
    started = await start_federation(directory, forwarding=FAST)
    fed = Federation(directory, {n.node_id: n for n in started})
    try:
        yield fed
    finally:
        for node in fed.nodes.values():
            await node.stop(0)


async def until(check: Callable[[], Awaitable[bool]], *, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def submit(fed: Federation, to: Sequence[str]) -> str:
    """The zj operator signs a record statement addressed to ``to``, seals it to ``to``."""
    operator = fed.operator(ZJ)
    body = statement(operator.node_id, to, penalty_record())
    sealed = sealed_single(operator, to, body)
    request = exchange_service_pb2.SubmitRequest(request_id=str(uuid.uuid4()))
    request.sealed.ParseFromString(sealed)
    response = await fed.stub(ZJ, operator).Submit(request, timeout=10)
    assert response.HasField("receipt")
    return body.header.message_id


async def delivered(fed: Federation, message_id: str) -> bool:
    rows = await fed.nodes[ZJ].store.outbox_status(message_id)
    return bool(rows) and all(r.state is OutboxState.DELIVERED for r in rows)


def receipt_of(data: bytes, fed: Federation, node_id: str) -> log_pb2.Receipt:
    """``data`` verified as a receipt signed by ``node_id``'s receipt key."""
    keys = fed.directory.trust_bundle.signing_keys(node_id, kind="receipt", at=datetime.now(UTC))
    return dsse.verify_message(
        dsse.Envelope.from_bytes(data),
        keys=keys,
        expected_type=dsse.payload_type_for("receipt"),
        message_type=log_pb2.Receipt,
    )


async def logged_ids(fed: Federation, node_id: str) -> list[str]:
    """Message ids of ``node_id``'s log, in log order, read with its operator's credentials."""
    stub = fed.stub(node_id, fed.operator(node_id))
    ids: list[str] = []
    request = exchange_service_pb2.SubscribeRequest(cursor=0, stop_at_head=True)
    async for response in stub.Subscribe(request, timeout=10):
        if response.HasField("entry"):
            payload = dsse.Envelope.from_proto(response.entry.envelope).payload
            ids.append(_message_id(payload))
    return ids


async def status_json(fed: Federation, node_id: str) -> Any:
    """``creditlink status --json --data-dir`` for ``node_id`` (the CLI, in a thread)."""
    member = fed.directory.node(node_id)
    data_dir = node_config(fed.directory, node_id).data_dir
    out = io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out):
            return main(
                [
                    "status",
                    "--credentials",
                    str(member.operator_dir),
                    "--data-dir",
                    str(data_dir),
                    "--json",
                ]
            )

    assert await asyncio.to_thread(run) == 0
    return json.loads(out.getvalue())


def _message_id(payload: bytes) -> str:
    return statement_pb2.Statement.FromString(payload).header.message_id


async def test_forwarded_to_the_other_recipient_with_its_receipt(federation: Federation) -> None:
    message_id = await submit(federation, [ZJ, GD])
    await until(lambda: delivered(federation, message_id))

    (row,) = await federation.nodes[ZJ].store.outbox_status(message_id)
    assert row.destination == GD
    assert row.attempts >= 1
    assert row.last_error is None
    assert row.receipt is not None
    receipt = receipt_of(row.receipt, federation, GD)
    assert receipt.gateway_node_id == GD
    assert receipt.message_id == message_id

    # Guangdong logged it (the signer is zj's operator; zj relayed it) and answers for it.
    gd = federation.stub(GD, federation.operator(GD))
    found = await gd.GetReceipt(
        exchange_service_pb2.GetReceiptRequest(message_id=message_id), timeout=10
    )
    assert receipt_of(found.receipt.SerializeToString(), federation, GD).message_id == message_id
    assert message_id in await logged_ids(federation, GD)
    # ... and Zhejiang too; the hub was not addressed, so it neither relayed nor logged it.
    assert message_id in await logged_ids(federation, ZJ)
    assert message_id not in await logged_ids(federation, HUB)
    # The forwarder's view: delivered, with the same receipt.
    forwarder = federation.nodes[ZJ].forwarder
    assert forwarder is not None
    (status,) = await forwarder.status(message_id)
    assert status.state is OutboxState.DELIVERED
    assert status.receipt == row.receipt


async def test_two_hops_through_the_hub_to_a_client_that_reads_it_there(
    federation: Federation,
) -> None:
    """Zhejiang's operator -> Zhejiang -> hub -> the hub's client (no endpoint) via Subscribe.

    The client lists no endpoint, so Zhejiang's next hop toward it is its upstream, the hub
    (a named recipient: no opaque relay); the hub, with no upstream, is the last hop and the
    client reads the message from the hub's log (CXP-API-009/010).
    """
    client = federation.operator(HUB)  # a client of the hub: no endpoint in the bundle
    message_id = await submit(federation, [ZJ, HUB, client.node_id])
    await until(lambda: delivered(federation, message_id))
    (row,) = await federation.nodes[ZJ].store.outbox_status(message_id)
    assert row.destination == HUB  # one hop toward both the hub and its client
    assert row.receipt is not None
    assert receipt_of(row.receipt, federation, HUB).message_id == message_id
    # The hub logged it and queued nothing further: its client reads it there.
    assert await federation.nodes[HUB].store.outbox_status(message_id) == []
    stub = federation.stub(HUB, client)
    statements: list[statement_pb2.Statement] = []
    request = exchange_service_pb2.SubscribeRequest(cursor=0, stop_at_head=True)
    async for response in stub.Subscribe(request, timeout=10):
        if response.HasField("entry"):
            envelope = dsse.Envelope.from_proto(response.entry.envelope)
            statements.append(statement_pb2.Statement.FromString(envelope.payload))
            signer = statements[-1].header.sender_node_id
            keys = federation.directory.trust_bundle.signing_keys(
                signer, kind="record", at=datetime.now(UTC)
            )
            dsse.verify(envelope, keys=keys, expected_type=envelope.payload_type)  # end to end
    (got,) = [s for s in statements if s.header.message_id == message_id]
    assert got.header.sender_node_id == federation.operator(ZJ).node_id
    assert client.node_id in got.header.recipient_node_ids
    assert message_id not in await logged_ids(federation, GD)


async def test_a_message_for_this_node_only_is_not_forwarded(federation: Federation) -> None:
    message_id = await submit(federation, [ZJ])
    assert await federation.nodes[ZJ].store.outbox_status(message_id) == []


async def test_messages_wait_while_the_destination_is_down_and_arrive_in_order(
    federation: Federation,
) -> None:
    first = await submit(federation, [ZJ, GD])
    await until(lambda: delivered(federation, first))
    await federation.nodes[GD].stop(0)

    waiting = [await submit(federation, [ZJ, GD]) for _ in range(4)]

    async def tried() -> bool:
        rows = await federation.nodes[ZJ].store.outbox_status(waiting[0])
        return bool(rows) and rows[0].attempts >= 2

    await until(tried)
    for message_id in waiting:
        (row,) = await federation.nodes[ZJ].store.outbox_status(message_id)
        assert row.state is OutboxState.PENDING
    stats = await federation.nodes[ZJ].store.outbox_stats()
    assert stats[GD].depth == len(waiting)
    assert stats[GD].oldest_enqueued_at is not None
    # `creditlink status` reads the same from Zhejiang's store, per destination.
    report = await status_json(federation, ZJ)
    assert report["outbox"][GD]["depth"] == len(waiting)
    assert report["outbox"][GD]["oldest_age_seconds"] >= 0
    assert report["outbox"][GD]["failed"] == 0

    await federation.restart(GD)  # the same data directory: its log is still there

    async def all_delivered() -> bool:
        return all([await delivered(federation, m) for m in waiting])

    await until(all_delivered)
    logged = await logged_ids(federation, GD)
    assert logged == [first, *waiting]  # once each, in the order Zhejiang accepted them
    stats = await federation.nodes[ZJ].store.outbox_stats()
    assert GD not in stats or stats[GD].depth == 0
    assert (await status_json(federation, ZJ))["outbox"] == {}


async def test_the_queue_survives_a_restart_of_the_forwarding_node(federation: Federation) -> None:
    await federation.nodes[GD].stop(0)
    message_id = await submit(federation, [ZJ, GD])
    await federation.nodes[ZJ].stop(0)  # the row stays pending in Zhejiang's store
    await federation.restart(GD)
    await federation.restart(ZJ)  # its forwarder resumes what is pending
    await until(lambda: delivered(federation, message_id))
    assert message_id in await logged_ids(federation, GD)


# -- the routing rule -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    endpoints: tuple[str, ...]


class _Bundle:
    """The one lookup ``next_hops`` makes: which nodes list endpoints."""

    def __init__(self, reachable: set[str], members: set[str]) -> None:
        self._reachable, self._members = reachable, members

    def node(self, node_id: str) -> _Node:
        if node_id not in self._members:
            raise KeyError(node_id)
        return _Node(("127.0.0.1:1",) if node_id in self._reachable else ())


def _hops(
    addressed: Sequence[str],
    *,
    node: str = ZJ,
    peer: str = "zj-330000-operator",
    sender: str = "zj-330000-operator",
    reachable: set[str] | None = None,
    upstream: str | None = HUB,
) -> list[str]:
    members = {HUB, ZJ, GD, "sc-510000", "cn-hub-operator"}
    listed = members - {"cn-hub-operator"}  # a client: no endpoint
    bundle = _Bundle(listed if reachable is None else reachable, members)
    return next_hops(
        node_id=node,
        peer=peer,
        sender=sender,
        addressed=addressed,
        trust=cast(TrustBundle, bundle),
        upstream=upstream,
    )


def test_recipients_with_endpoints_are_reached_directly() -> None:
    assert _hops([ZJ, GD]) == [GD]
    assert _hops([ZJ, GD, HUB]) == [GD, HUB]
    assert _hops([ZJ]) == []


def test_recipients_without_endpoints_go_through_the_upstream_once() -> None:
    reachable = {HUB, ZJ}
    assert _hops([ZJ, GD, "sc-510000", HUB], reachable=reachable) == [HUB]


def test_no_opaque_relay_the_upstream_must_be_a_recipient() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        _hops([ZJ, GD], reachable={HUB, ZJ})
    assert caught.value.reason == "UNROUTABLE_RECIPIENT"
    with pytest.raises(FailedPrecondition):
        _hops([ZJ, "xx-000000"])  # not a member of the federation


def test_without_an_upstream_a_recipient_without_endpoint_reads_it_here() -> None:
    """CXP-API-009: the hub is the last hop toward its clients (they list no endpoint)."""
    assert _hops([ZJ, GD], reachable={HUB, ZJ}, upstream=None) == []
    assert _hops([HUB, "cn-hub-operator"], node=HUB, peer=ZJ, upstream=None) == []


def test_a_relay_forwards_only_what_the_previous_hop_could_not_deliver() -> None:
    # The hub got it from Zhejiang (the signer is zj's operator): Guangdong lists an endpoint,
    # so Zhejiang delivered it there itself; the hub forwards nothing.
    assert _hops([ZJ, GD, HUB], node=HUB, peer=ZJ, upstream=None) == []
    # Guangdong lists no endpoint: it reads the message at the hub, the last hop.
    assert _hops([ZJ, GD, HUB], node=HUB, peer=ZJ, reachable={HUB, ZJ}, upstream=None) == []
    # A recipient of the relayed message never sends it back to the relay or the signer.
    assert _hops([ZJ, GD], node=GD, peer=ZJ) == []
