"""A whole gateway node in process: transport security, health, reflection, metrics and limits.

Every test starts a real :class:`GatewayNode` on ``127.0.0.1:0`` (gRPC and metrics) over an
SQLite store, with the credentials ``ensure_dev_node`` creates, and talks to it over real
sockets with real TLS: the operator's credentials for the allowed paths, and other clients
(no certificate, another CA's certificate, plaintext) for the refused ones.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from creditlink.gateway.bootstrap import DevNode, ensure_dev_node
from creditlink.gateway.config import GatewayConfig
from creditlink.gateway.node import DEV_PEER_HEADER, SERVICE_NAMES, GatewayError, GatewayNode
from creditlink.sdk import envelope
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.tlog import NoteVerifier, leaf_hash, verify_checkpoint, verify_inclusion
from creditlink.v1 import envelope_pb2, exchange_service_pb2, exchange_service_pb2_grpc, log_pb2
from tests.gateway.statements import penalty_record, sealed_batch, sealed_single, statement


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevNode:
    return ensure_dev_node(tmp_path_factory.mktemp("dev") / ".creditlink")


def _config(dev: DevNode, data_dir: Path, **changes: Any) -> GatewayConfig:
    values: dict[str, Any] = {
        "node_id": dev.node_id,
        "data_dir": data_dir,
        "credentials_dir": dev.node_dir,
        "listen": "127.0.0.1:0",
        "metrics_listen": "127.0.0.1:0",
    }
    values.update(changes)
    return GatewayConfig(**values)


@pytest.fixture
async def node(dev: DevNode, tmp_path: Path) -> AsyncIterator[GatewayNode]:
    gateway = GatewayNode(_config(dev, tmp_path), dev.node)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop(grace=0)


def _operator_channel(dev: DevNode, node: GatewayNode) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(node.endpoint, dev.operator.channel_credentials())


async def _health(channel: grpc.aio.Channel, service: str = "", **kwargs: Any) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), **kwargs)
    return int(response.status)


def _error_info(exc: grpc.aio.AioRpcError) -> tuple[str, error_details_pb2.RetryInfo | None]:
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None, exc
    reason, retry = "", None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
    return reason, retry


def _verifier(dev: DevNode) -> NoteVerifier:
    (record,) = dev.node.trust_bundle.checkpoint_keys(dev.node_id, at=datetime.now(UTC))
    key = serialization.load_der_public_key(record.public_key.public_bytes)
    return NoteVerifier(name=record.note_name, public_key=key)  # type: ignore[arg-type]


def _submit_request(dev: DevNode) -> tuple[exchange_service_pb2.SubmitRequest, str]:
    """A record from the operator to the node, sealed; and its message id."""
    body = statement(dev.operator.node_id, [dev.node_id], penalty_record())
    sealed = sealed_single(dev.operator, dev.node_id, body)
    request = exchange_service_pb2.SubmitRequest(
        request_id=body.header.request_id,
        sealed=envelope_pb2.SealedEnvelope.FromString(sealed),
    )
    return request, body.header.message_id


async def _final_code(call: Any) -> grpc.StatusCode:
    """Read a server stream to its end; its status code."""
    try:
        while await call.read() is not grpc.aio.EOF:
            pass
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    code: grpc.StatusCode = await call.code()
    return code


async def _metrics(node: GatewayNode, path: str = "/metrics") -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{node.metrics_endpoint}{path}") as response,
    ):
        return response.status, await response.text()


# --------------------------------------------------------------------------------------------
# What works, over mutual TLS
# --------------------------------------------------------------------------------------------


async def test_operator_gets_health_and_a_verified_checkpoint(
    dev: DevNode, node: GatewayNode
) -> None:
    async with _operator_channel(dev, node) as channel:
        for service in ("", *SERVICE_NAMES):
            assert await _health(channel, service) == health_pb2.HealthCheckResponse.SERVING
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
        response = await stub.GetCheckpoint(exchange_service_pb2.GetCheckpointRequest())
    origin = dev.node.node.log_origin
    checkpoint = verify_checkpoint(response.checkpoint.note, verifier=_verifier(dev), origin=origin)
    assert checkpoint.size == 0  # a fresh log starts with the empty tree's signed checkpoint


async def test_reflection_lists_and_describes_the_services(dev: DevNode, node: GatewayNode) -> None:
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="creditlink.v1.ExchangeService"
        ),
    ]
    async with _operator_channel(dev, node) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = [r async for r in stub.ServerReflectionInfo(iter(requests))]
    listed = {s.name for s in responses[0].list_services_response.service}
    assert {
        "creditlink.v1.ExchangeService",
        "creditlink.v1.FederationService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= listed
    # grpcurl describes a service from the file descriptors reflection returns.
    assert responses[1].file_descriptor_response.file_descriptor_proto


async def test_submission_is_logged_and_counted_in_metrics(dev: DevNode, node: GatewayNode) -> None:
    async with _operator_channel(dev, node) as channel:
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
        request, _ = _submit_request(dev)
        response = await stub.Submit(request)
        receipt = log_pb2.Receipt.FromString(
            envelope.Envelope.from_bytes(response.receipt.SerializeToString()).payload
        )
        proof = await stub.GetInclusionProof(
            exchange_service_pb2.GetInclusionProofRequest(leaf_index=receipt.first_leaf_index)
        )
    assert receipt.first_leaf_index == 0
    assert receipt.leaf_count == 1
    signed = proof.entry.envelope
    verify_inclusion(
        leaf_hash=leaf_hash(pae(signed.payload_type, signed.payload)),
        index=proof.proof.leaf_index,
        tree_size=proof.proof.tree_size,
        proof=list(proof.proof.hashes),
        root=proof.checkpoint.root_hash,
    )

    status, text = await _metrics(node)
    assert status == 200
    assert "creditlink_log_size 1.0" in text
    assert (
        'creditlink_grpc_requests_total{code="OK",method="/creditlink.v1.ExchangeService/Submit"}'
        " 1.0" in text
    )
    assert 'creditlink_grpc_request_duration_seconds_count{method="/creditlink.v1' in text
    assert 'creditlink_node_info{node_id="dev-node"' in text
    for name in ("feed_subscribers", "outbox_depth", "outbox_oldest_age_seconds"):
        assert f"creditlink_{name} 0.0" in text
    status, text = await _metrics(node, "/healthz")
    assert (status, json.loads(text)) == (200, {"status": "SERVING"})


# --------------------------------------------------------------------------------------------
# What is refused
# --------------------------------------------------------------------------------------------


async def _refused(channel: grpc.aio.Channel) -> list[grpc.StatusCode]:
    codes = []
    calls = (
        _health(channel, timeout=5),
        exchange_service_pb2_grpc.ExchangeServiceStub(channel).GetCheckpoint(
            exchange_service_pb2.GetCheckpointRequest(), timeout=5
        ),
    )
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        codes.append(info.value.code())
    return codes


async def test_a_client_without_certificate_cannot_call_anything(
    dev: DevNode, node: GatewayNode
) -> None:
    # The right CA (so the client trusts the server), but no client certificate: the TLS
    # handshake fails, before any method, health included, is reached.
    creds = grpc.ssl_channel_credentials(root_certificates=dev.operator.ca_pem)
    async with grpc.aio.secure_channel(node.endpoint, creds) as channel:
        assert await _refused(channel) == [grpc.StatusCode.UNAVAILABLE] * 2


async def test_a_certificate_from_another_ca_is_refused(
    dev: DevNode, node: GatewayNode, tmp_path: Path
) -> None:
    stranger = ensure_dev_node(tmp_path / "other")
    creds = grpc.ssl_channel_credentials(
        root_certificates=dev.operator.ca_pem,
        private_key=stranger.operator.key_pem,
        certificate_chain=stranger.operator.cert_pem,
    )
    async with grpc.aio.secure_channel(node.endpoint, creds) as channel:
        assert await _refused(channel) == [grpc.StatusCode.UNAVAILABLE] * 2


async def test_plaintext_to_the_tls_port_is_refused(node: GatewayNode) -> None:
    async with grpc.aio.insecure_channel(node.endpoint) as channel:
        assert await _refused(channel) == [grpc.StatusCode.UNAVAILABLE] * 2


async def test_rate_limit_answers_resource_exhausted(dev: DevNode, tmp_path: Path) -> None:
    config = _config(dev, tmp_path, rate_limit_per_node=0.5, rate_limit_burst=2)
    async with GatewayNode(config, dev.node) as gateway, _operator_channel(dev, gateway) as ch:
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(ch)
        request = exchange_service_pb2.GetCheckpointRequest()
        await stub.GetCheckpoint(request)
        await stub.GetCheckpoint(request)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetCheckpoint(request)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        reason, retry = _error_info(info.value)
        assert reason == "RATE_LIMITED"
        assert retry is not None
        assert 0 < retry.retry_delay.ToTimedelta().total_seconds() <= 2
        # Health checking is exempt: a busy peer does not make the node look overloaded.
        assert await _health(ch) == health_pb2.HealthCheckResponse.SERVING
        _, text = await _metrics(gateway)
    assert (
        'creditlink_rejections_total{method="/creditlink.v1.ExchangeService/GetCheckpoint",'
        'reason="RATE_LIMITED"} 1.0' in text
    )


async def test_rate_limit_paces_a_stream_instead_of_failing_it(
    dev: DevNode, tmp_path: Path
) -> None:
    # 20 batches/s, burst 1: five batches need about 0.2 s, and every one is accepted.
    config = _config(dev, tmp_path, rate_limit_per_node=20.0, rate_limit_burst=1)
    batches = [
        sealed_batch(
            dev.operator,
            dev.node_id,
            [statement(dev.operator.node_id, [dev.node_id], penalty_record())],
            batch_id=str(uuid.uuid4()),
        )
        for _ in range(5)
    ]
    async with GatewayNode(config, dev.node) as gateway, _operator_channel(dev, gateway) as ch:
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(ch)
        requests = [
            exchange_service_pb2.SubmitStreamRequest(
                sequence=i + 1,
                request_id=str(uuid.uuid4()),
                sealed_batch=envelope_pb2.SealedEnvelope.FromString(sealed),
            )
            for i, sealed in enumerate(batches)  # 5 batches fit in the first credit grant
        ]
        started = time.monotonic()
        responses = [r async for r in stub.SubmitStream(iter(requests))]
        elapsed = time.monotonic() - started
    results = [r.result for r in responses if r.WhichOneof("event") == "result"]
    assert [r.WhichOneof("outcome") for r in results] == ["receipt"] * 5
    assert elapsed >= 0.15


async def test_oversize_requests_are_resource_exhausted(dev: DevNode, tmp_path: Path) -> None:
    config = _config(dev, tmp_path, max_message_bytes=1024)
    async with GatewayNode(config, dev.node) as gateway, _operator_channel(dev, gateway) as ch:
        # Just over the limit: refused by the error interceptor, with a reason, and counted.
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _health(ch, "x" * 1500)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _error_info(info.value)[0] == "MESSAGE_TOO_LARGE"
        # Far over it: grpc refuses before reading it all.
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _health(ch, "x" * 10_000)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        _, text = await _metrics(gateway)
    assert 'reason="MESSAGE_TOO_LARGE"} 1.0' in text


# --------------------------------------------------------------------------------------------
# Lifecycle
# --------------------------------------------------------------------------------------------


async def test_stop_drains_then_a_restart_serves_the_same_log(dev: DevNode, tmp_path: Path) -> None:
    config = _config(dev, tmp_path)
    gateway = GatewayNode(config, dev.node)
    await gateway.start()
    async with _operator_channel(dev, gateway) as channel:
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
        request, message_id = _submit_request(dev)
        receipt = (await stub.Submit(request)).receipt
        # A live subscription is in flight when the node is asked to stop.
        subscription = stub.Subscribe(exchange_service_pb2.SubscribeRequest(cursor=0))
        first = await subscription.read()
        assert first.WhichOneof("event") == "entry"
        assert "creditlink_feed_subscribers 1.0" in (await _metrics(gateway))[1]
        stopping = asyncio.create_task(gateway.stop(grace=1.0))
        await asyncio.sleep(0.2)
        # Draining: health says so at once (gRPC and /healthz go together)...
        assert not gateway.serving
        # ...the in-flight stream is ended once the grace period is over, and stop returns.
        await asyncio.wait_for(stopping, timeout=5)
        assert await _final_code(subscription) is not grpc.StatusCode.OK
    with pytest.raises(RuntimeError):
        _ = gateway.store  # closed

    again = GatewayNode(config, dev.node)
    async with again, _operator_channel(dev, again) as channel:
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
        found = await stub.GetReceipt(exchange_service_pb2.GetReceiptRequest(message_id=message_id))
        checkpoint = await stub.GetCheckpoint(exchange_service_pb2.GetCheckpointRequest())
    assert found.receipt == receipt
    assert checkpoint.checkpoint.size == 1


async def test_a_second_node_on_the_same_port_fails_to_start(
    dev: DevNode, node: GatewayNode, tmp_path: Path
) -> None:
    config = _config(dev, tmp_path / "second", listen=node.endpoint)
    (tmp_path / "second").mkdir()
    with pytest.raises(GatewayError) as info:
        await GatewayNode(config, dev.node).start()
    assert info.value.reason == "GATEWAY_LISTEN_FAILED"
    # The first node is unaffected (grpc's SO_REUSEPORT default would have let both bind).
    async with _operator_channel(dev, node) as channel:
        assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING


async def test_a_taken_metrics_port_fails_the_start_and_releases_everything(
    dev: DevNode, node: GatewayNode, tmp_path: Path
) -> None:
    config = _config(dev, tmp_path / "second", metrics_listen=node.metrics_endpoint)
    gateway = GatewayNode(config, dev.node)
    with pytest.raises(GatewayError) as info:
        await gateway.start()
    assert info.value.reason == "GATEWAY_LISTEN_FAILED"
    assert not gateway.serving
    with pytest.raises(RuntimeError):
        _ = gateway.store  # closed again
    # Nothing is left half-started: the same node starts once the port is free.
    fixed = GatewayNode(_config(dev, tmp_path / "second"), dev.node)
    async with fixed, _operator_channel(dev, fixed) as channel:
        assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING


def test_a_client_credential_cannot_run_a_node(dev: DevNode, tmp_path: Path) -> None:
    config = _config(dev, tmp_path, node_id=dev.operator.node_id)
    with pytest.raises(GatewayError) as info:
        GatewayNode(config, dev.operator)
    assert info.value.reason == "GATEWAY_NOT_A_NODE"
    with pytest.raises(GatewayError) as info:
        GatewayNode(_config(dev, tmp_path, node_id="other-node"), dev.node)
    assert info.value.reason == "GATEWAY_NODE_MISMATCH"


async def test_insecure_dev_names_the_caller_by_header(dev: DevNode, tmp_path: Path) -> None:
    config = _config(dev, tmp_path, insecure_dev=True)
    async with GatewayNode(config, dev.node) as gateway:
        metadata = ((DEV_PEER_HEADER, dev.operator.node_id),)
        async with grpc.aio.insecure_channel(gateway.endpoint) as channel:
            stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
            request, _ = _submit_request(dev)
            await stub.Submit(request, metadata=metadata)


async def test_insecure_dev_serves_plaintext_on_loopback(dev: DevNode, tmp_path: Path) -> None:
    config = _config(dev, tmp_path, insecure_dev=True)
    async with GatewayNode(config, dev.node) as gateway:
        metadata = ((DEV_PEER_HEADER, dev.operator.node_id),)
        async with grpc.aio.insecure_channel(gateway.endpoint) as channel:
            assert await _health(channel, metadata=metadata) == 1
        # No TLS is offered at all in this mode.
        async with _operator_channel(dev, gateway) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _health(channel, timeout=5)
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE


def test_the_operator_holiday_table_is_loaded_or_the_node_refuses_to_start(
    dev: DevNode, tmp_path: Path
) -> None:
    """Deadlines in years chinesecalendar does not know use the operator's table."""
    from creditlink.gateway.node import _calendar

    table = tmp_path / "holidays-2027.toml"
    table.write_text("[2027]\nholidays = [2027-01-01]\n", encoding="utf-8")
    calendar = _calendar(_config(dev, tmp_path / "a", holiday_table=table))
    assert calendar.add_working_days(date(2026, 12, 30), 2).provisional is False
    assert (
        _calendar(_config(dev, tmp_path / "b")).add_working_days(date(2099, 12, 30), 2).provisional
    )
    table.write_text("[2027]\nholidays = [2027-02-30]\n", encoding="utf-8")
    with pytest.raises(GatewayError) as caught:
        GatewayNode(_config(dev, tmp_path / "c", holiday_table=table), dev.node)
    assert caught.value.reason == "HOLIDAY_TABLE_INVALID"
