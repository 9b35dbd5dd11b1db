"""The error interceptor puts exactly one ErrorInfo on every failure, for every RPC shape.

A real grpc.aio server on loopback with raw-bytes handlers raises SDK errors; the client reads
the rich status back. Covers CXP-API-001, CXP-API-002.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from creditlink.gateway.errors import ErrorInterceptor
from creditlink.sdk.errors import (
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    Pushback,
    ReplayRejected,
)

ERRORS = {
    b"invalid": InvalidArgument(
        "bad uscc",
        reason="INVALID_USCC",
        field_violations=(FieldViolation("record.subject.uscc", "check character"),),
    ),
    b"denied": PermissionDenied("not your region", reason="PERMISSION_DENIED_SCOPE"),
    b"replay": ReplayRejected("seen before"),
    b"pushback": Pushback("slow down", retry_after=timedelta(seconds=2)),
}


async def _unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    if request == b"bug":
        raise RuntimeError("secret internal detail")
    if request in ERRORS:
        raise ERRORS[request]
    return request


async def _stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    yield b"first"
    await _unary(request, context)
    yield b"never"


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    seen: list[tuple[str, str]] = []
    server = grpc.aio.server(
        interceptors=[ErrorInterceptor(observe=lambda m, r: seen.append((m, r)))]
    )
    handler = grpc.method_handlers_generic_handler(
        "t.T",
        {
            "U": grpc.unary_unary_rpc_method_handler(_unary),
            "S": grpc.unary_stream_rpc_method_handler(_stream),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        ch.seen = seen  # type: ignore[attr-defined]
        yield ch
    await server.stop(None)


def _details(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, list[object]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    infos, others = [], []
    for any_ in status.details:
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info):
            infos.append(info)
        else:
            others.append(any_)
    assert len(infos) == 1, "exactly one ErrorInfo"
    assert infos[0].domain == "creditlink.v1"
    return infos[0], others


@pytest.mark.parametrize(
    ("key", "code", "reason"),
    [
        (b"invalid", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USCC"),
        (b"denied", grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED_SCOPE"),
        (b"replay", grpc.StatusCode.ALREADY_EXISTS, "REPLAYED_MESSAGE"),
        (b"pushback", grpc.StatusCode.RESOURCE_EXHAUSTED, "PUSHBACK"),
        (b"bug", grpc.StatusCode.INTERNAL, "INTERNAL"),
    ],
)
async def test_unary_errors(
    channel: grpc.aio.Channel, key: bytes, code: grpc.StatusCode, reason: str
) -> None:
    call = channel.unary_unary("/t.T/U")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(key)
    assert info.value.code() == code
    error_info, _ = _details(info.value)
    assert error_info.reason == reason
    assert "secret" not in (info.value.details() or "")
    assert channel.seen[-1] == ("/t.T/U", reason)  # type: ignore[attr-defined]


async def test_field_violations_and_retry_info(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary("/t.T/U")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(b"invalid")
    _, others = _details(info.value)
    bad = error_details_pb2.BadRequest()
    assert any(o.Unpack(bad) for o in others)  # type: ignore[attr-defined]
    assert bad.field_violations[0].field == "record.subject.uscc"

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(b"pushback")
    _, others = _details(info.value)
    retry = error_details_pb2.RetryInfo()
    assert any(o.Unpack(retry) for o in others)  # type: ignore[attr-defined]
    assert retry.retry_delay.seconds == 2


async def test_stream_error_after_first_message(channel: grpc.aio.Channel) -> None:
    call = channel.unary_stream("/t.T/S")(b"denied")
    assert await call.read() == b"first"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _details(info.value)[0].reason == "PERMISSION_DENIED_SCOPE"


async def test_success_passes_through(channel: grpc.aio.Channel) -> None:
    assert await channel.unary_unary("/t.T/U")(b"ok") == b"ok"
