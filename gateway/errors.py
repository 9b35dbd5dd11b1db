"""Errors on the wire: one server interceptor turns every raised error into a ``google.rpc.Status``.

Services raise :class:`~creditlink.sdk.errors.CreditlinkError` subclasses and never build
statuses themselves. The interceptor maps each to the status code its class fixes, with exactly
one ``ErrorInfo`` (reason, domain ``creditlink.v1``, the error's metadata) — CXP-API-001 — plus a
``BadRequest`` when fields are named (CXP-API-002) and a ``RetryInfo`` for push-back. Anything
else is a bug: it is logged with its traceback and answered as ``INTERNAL`` without details, so
no internal state or input leaks to the peer.

The interceptor also decodes requests itself. Left to grpc, a request that is not a valid
protobuf, or one above the size limit, is refused inside grpc before any handler runs: as
``INTERNAL`` or ``RESOURCE_EXHAUSTED`` without an ``ErrorInfo``, and uncounted. Decoding here
turns them into ``INVALID_ARGUMENT``/``MALFORMED_REQUEST`` and
``RESOURCE_EXHAUSTED``/``MESSAGE_TOO_LARGE`` like every other refusal. (grpc's own
``max_receive_message_length`` must stay above ``max_request_bytes`` for that to happen.)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from creditlink.sdk.errors import (
    ERROR_DOMAIN,
    CreditlinkError,
    InvalidArgument,
    LimitExceeded,
    Pushback,
)

__all__ = ["ErrorInterceptor", "Observer", "status_for"]

_log = logging.getLogger(__name__)

#: Called once per failed RPC with (full method name, reason); metrics count rejections with it.
Observer = Callable[[str, str], None]

# grpc's handler objects are untyped at this boundary (one handler class serves four call
# shapes, sync and async); these aliases name what the aio server actually passes.
_Context = grpc.aio.ServicerContext[Any, Any]
_Unary = Callable[[Any, _Context], Awaitable[Any]]
_Stream = Callable[[Any, _Context], AsyncIterator[Any]]
_Deserializer = Callable[[bytes], Any]

_INTERNAL_REASON = "INTERNAL"


def status_for(exc: CreditlinkError) -> status_pb2.Status:
    """The ``google.rpc.Status`` that carries ``exc`` to the peer."""
    status = status_pb2.Status(code=exc.grpc_code.value[0], message=exc.message)
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason=exc.reason, domain=ERROR_DOMAIN, metadata=exc.metadata)
    )
    if isinstance(exc, InvalidArgument) and exc.field_violations:
        bad = error_details_pb2.BadRequest()
        for violation in exc.field_violations:
            bad.field_violations.add(field=violation.field, description=violation.description)
        status.details.add().Pack(bad)
    if isinstance(exc, Pushback) and exc.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromTimedelta(exc.retry_after)
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status


def _internal_status() -> status_pb2.Status:
    status = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason=_INTERNAL_REASON, domain=ERROR_DOMAIN)
    )
    return status


class ErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Map raised errors to statuses for every RPC shape (unary and streaming).

    ``observe`` is called once per failed RPC with the method and reason (metrics).
    ``max_request_bytes`` bounds each request message (stream messages one by one); ``None``
    leaves the bound to grpc.
    """

    def __init__(
        self, *, observe: Observer | None = None, max_request_bytes: int | None = None
    ) -> None:
        self._observe = observe
        self._max_request_bytes = max_request_bytes

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        # grpc hands the behaviour raw bytes (deserializer None); the wrappers decode them.
        decode = handler.request_deserializer
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary, decode),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, handler.stream_unary, decode, streaming=True),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream, decode),
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, handler.stream_stream, decode, streaming=True),
            response_serializer=handler.response_serializer,
        )

    def _decode(self, raw: Any, deserializer: _Deserializer | None) -> Any:
        """One request message from the wire, or the error that refuses it."""
        if deserializer is None:
            return raw  # a raw-bytes handler decodes for itself
        limit = self._max_request_bytes
        if limit is not None and len(raw) > limit:
            raise LimitExceeded(
                f"request of {len(raw)} bytes exceeds the limit of {limit} bytes",
                reason="MESSAGE_TOO_LARGE",
            )
        try:
            return deserializer(raw)
        except (DecodeError, ValueError, TypeError):
            # Never echo the bytes or the parser's message: both come from the peer.
            raise InvalidArgument(
                "request is not a valid protobuf message of the method's type",
                reason="MALFORMED_REQUEST",
            ) from None

    def _requests(self, raw: AsyncIterator[Any], decode: _Deserializer | None) -> Any:
        async def decoded() -> AsyncIterator[Any]:
            async for message in raw:
                yield self._decode(message, decode)

        return decoded()

    def _wrap_unary(
        self,
        method: str,
        behaviour: _Unary,
        decode: _Deserializer | None,
        *,
        streaming: bool = False,
    ) -> _Unary:
        async def wrapped(request: Any, context: _Context) -> Any:
            try:
                if streaming:
                    request = self._requests(request, decode)
                else:
                    request = self._decode(request, decode)
                return await behaviour(request, context)
            except Exception as exc:  # every error must become a status
                await self._abort(method, exc, context)

        return wrapped

    def _wrap_stream(
        self,
        method: str,
        behaviour: _Stream,
        decode: _Deserializer | None,
        *,
        streaming: bool = False,
    ) -> _Stream:
        async def wrapped(request: Any, context: _Context) -> AsyncIterator[Any]:
            try:
                if streaming:
                    request = self._requests(request, decode)
                else:
                    request = self._decode(request, decode)
                async for response in behaviour(request, context):
                    yield response
            except Exception as exc:  # every error must become a status
                await self._abort(method, exc, context)

        return wrapped

    async def _abort(self, method: str, exc: Exception, context: _Context) -> None:
        if isinstance(exc, grpc.aio.AbortError):
            raise exc  # a status set by grpc itself (or an earlier abort): pass it on
        if isinstance(exc, CreditlinkError):
            status, reason = status_for(exc), exc.reason
        else:
            _log.exception("unexpected error in %s", method)
            status, reason = _internal_status(), _INTERNAL_REASON
        if self._observe is not None:
            self._observe(method, reason)
        rich = rpc_status.to_status(status)
        await context.abort(rich.code, rich.details, rich.trailing_metadata)
