"""Errors: real refusals from real gateways decode into the SDK hierarchy, status kept; deadlines.

The refusals come from gateways on loopback (a development node, and the hub of a development
federation for a scope the caller lacks); the hung gateway is a socket that accepts and never
answers; the unreachable one a closed port.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from sdk_client_support import BlackHole, RunningGateway, free_port, penalty_record

from creditlink.gateway.bootstrap import DevFederation, DevNode, create_dev_federation
from creditlink.sdk import AsyncClient, Client
from creditlink.sdk.client import METHOD_DEFAULTS, Retry
from creditlink.sdk.errors import (
    AlreadyExists,
    CreditlinkError,
    DeadlineExceeded,
    FieldViolation,
    InvalidArgument,
    InvalidEnvelope,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Pushback,
    ReplayRejected,
    SignatureInvalid,
    Unavailable,
    error_class_for,
)
from creditlink.v1 import statement_pb2

HUB, ZJ = "cn-hub", "zj-330000"


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    # Only the hub runs; the other nodes' ports are never bound.
    return create_dev_federation(tmp_path_factory.mktemp("fed"), base_port=free_port())


@pytest.fixture
def hub(federation: DevFederation, tmp_path: Path) -> Iterator[RunningGateway]:
    node = federation.node(HUB)
    running = RunningGateway(
        credentials=node.credentials, data_dir=tmp_path / "hub", listen=node.endpoint
    )
    running.start()
    try:
        yield running
    finally:
        running.close()


def assert_status_kept(error: CreditlinkError, code: grpc.StatusCode, reason: str) -> None:
    """The decoded error keeps the original grpc error and the peer's google.rpc.Status."""
    assert error.status_code is code
    assert isinstance(error.grpc_error, grpc.RpcError)
    assert error.__cause__ is error.grpc_error
    assert error.grpc_error.code() is code
    assert error.status is not None
    assert error.status.code == code.value[0]
    infos = [d for d in error.status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    assert len(infos) == 1
    info = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info)
    assert (info.reason, info.domain) == (reason, "creditlink.v1")
    assert error.reason == reason


def test_outside_the_callers_scope_is_permission_denied(
    federation: DevFederation, hub: RunningGateway
) -> None:
    # zj-330000's operator may publish for region 330000 only; this record is Shenzhen's.
    record = penalty_record(
        uscc="91440300MA5FTBUJ48", region="440300", authority_uscc="11440300MB2C920853"
    )
    with Client.from_credentials(federation.node(ZJ).operator_dir, target=hub.listen) as client:
        assert client.gateway == HUB
        with pytest.raises(PermissionDenied) as info:
            client.submit(record)
    assert_status_kept(info.value, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED_SCOPE")
    assert hub.log_size() == 0


def test_a_wrong_field_is_invalid_argument_naming_the_field(
    client: Client, gateway: RunningGateway
) -> None:
    with pytest.raises(InvalidArgument) as info:
        client.submit(penalty_record(uscc="91330100MA27XL0A6R"))
    error = info.value
    assert_status_kept(error, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USCC")
    assert [v.field for v in error.field_violations] == ["record.subject.uscc"]
    assert isinstance(error.field_violations[0], FieldViolation)
    # One bad item refuses the whole batch, naming it.
    records = [penalty_record(), penalty_record(uscc="9133010"), penalty_record()]
    with pytest.raises(InvalidArgument) as info:
        client.submit(records)
    assert_status_kept(info.value, grpc.StatusCode.INVALID_ARGUMENT, "BATCH_REJECTED")
    assert [v.field for v in info.value.field_violations] == ["items[1]"]
    assert gateway.log_size() == 0


def test_reusing_a_message_id_for_other_content_is_a_replay(
    client: Client, gateway: RunningGateway
) -> None:
    message_id = str(uuid.uuid4())
    first = statement_pb2.Statement()
    first.header.message_id = message_id
    first.record.CopyFrom(penalty_record())
    client.submit(first)
    other = statement_pb2.Statement()
    other.header.message_id = message_id
    other.record.CopyFrom(penalty_record())  # another record id: other content
    with pytest.raises(ReplayRejected) as info:
        client.submit(other)
    assert isinstance(info.value, AlreadyExists)
    assert_status_kept(info.value, grpc.StatusCode.ALREADY_EXISTS, "REPLAYED_MESSAGE")
    assert gateway.log_size() == 1


def test_not_found_and_the_reasons_of_reads(client: Client, gateway: RunningGateway) -> None:
    with pytest.raises(NotFound) as info:
        client.get_receipt("no-such-message")
    assert_status_kept(info.value, grpc.StatusCode.NOT_FOUND, "MESSAGE_NOT_FOUND")
    with pytest.raises(NotFound) as info:
        client.get_inclusion_proof(leaf_index=5)
    assert info.value.reason == "LEAF_NOT_FOUND"


def test_reasons_choose_finer_classes_only_within_their_status_code() -> None:
    code = grpc.StatusCode
    assert error_class_for(code.ALREADY_EXISTS, "REPLAYED_MESSAGE") is ReplayRejected
    assert error_class_for(code.ALREADY_EXISTS, "STALE_MESSAGE") is ReplayRejected
    assert error_class_for(code.INVALID_ARGUMENT, "INVALID_SIGNATURE") is SignatureInvalid
    assert SignatureInvalid is InvalidEnvelope
    assert error_class_for(code.RESOURCE_EXHAUSTED, "RATE_LIMITED") is Pushback
    assert error_class_for(code.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE") is LimitExceeded
    # A reason cannot move an error to another code's class.
    assert error_class_for(code.PERMISSION_DENIED, "INVALID_SIGNATURE") is PermissionDenied
    assert error_class_for(code.UNAVAILABLE, None) is Unavailable
    assert error_class_for(code.DATA_LOSS, "WHATEVER") is CreditlinkError


# --------------------------------------------------------------------------------------------
# Deadlines and retries
# --------------------------------------------------------------------------------------------


def test_every_unary_call_has_a_default_deadline() -> None:
    for method, defaults in METHOD_DEFAULTS.items():
        assert defaults.timeout is not None, method
        assert defaults.timeout > 0, method


def test_a_hung_gateway_fails_the_call_at_its_deadline(dev: DevNode, black_hole: BlackHole) -> None:
    with Client(black_hole.address, dev.operator, gateway=dev.node_id) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as info:
            client.get_checkpoint(timeout=0.5)
        assert 0.4 < time.monotonic() - started < 3
        assert info.value.status_code is grpc.StatusCode.DEADLINE_EXCEEDED
        assert info.value.status is None  # nobody answered: no status from a peer

        # A stream waits for the gateway's first grant no longer than its timeout.
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            list(client.submit_records([penalty_record()], timeout=0.5))
        assert time.monotonic() - started < 4

        # A subscription that hears nothing reconnects; with retry=None it gives up instead.
        subscription = client.subscribe(timeout=0.5, retry=None)
        with pytest.raises(Unavailable) as unavailable:
            next(subscription)
        assert unavailable.value.reason == "STREAM_IDLE"


def test_unavailable_is_retried_until_the_deadline_and_not_without_retry(dev: DevNode) -> None:
    closed = f"127.0.0.1:{free_port()}"
    with Client(closed, dev.operator, gateway=dev.node_id) as client:
        started = time.monotonic()
        with pytest.raises(Unavailable) as info:
            client.get_checkpoint(timeout=1.0, retry=Retry(initial=0.05, maximum=0.2))
        assert 0.5 < time.monotonic() - started < 3
        assert info.value.status_code is grpc.StatusCode.UNAVAILABLE
        started = time.monotonic()
        with pytest.raises(Unavailable):
            client.get_checkpoint(retry=None)
        assert time.monotonic() - started < 0.5


async def test_async_deadlines_and_refusals(
    dev: DevNode, gateway: RunningGateway, black_hole: BlackHole
) -> None:
    async with AsyncClient(black_hole.address, dev.operator, gateway=dev.node_id) as hung:
        with pytest.raises(DeadlineExceeded):
            await hung.get_checkpoint(timeout=0.5)
        with pytest.raises(DeadlineExceeded):
            async for _ in hung.submit_records([penalty_record()], timeout=0.5):
                pass
        with pytest.raises(Unavailable) as info:
            await anext(hung.subscribe(timeout=0.5, retry=None))
        assert info.value.reason == "STREAM_IDLE"
    async with AsyncClient.from_credentials(dev.operator_dir) as client:
        with pytest.raises(InvalidArgument) as refused:
            await client.submit(penalty_record(uscc="91330100MA27XL0A6R"))
        assert_status_kept(refused.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USCC")
        assert refused.value.status is not None
        assert refused.value.status.code == code_pb2.INVALID_ARGUMENT
        # The blocking loop of the gateway thread is untouched by this loop's cancellations.
        await asyncio.sleep(0)
