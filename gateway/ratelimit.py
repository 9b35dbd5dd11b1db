"""Per-node rate limiting: one token bucket per authenticated peer, enforced by an interceptor.

The bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second
(``GatewayConfig.rate_limit_per_node`` and ``rate_limit_burst``). What costs a token:

* a call with a single request (unary ``Submit``, ``GetCheckpoint``, ``Subscribe``, ...): one
  token when it starts; with none left the call fails at once with ``RESOURCE_EXHAUSTED``,
  reason ``RATE_LIMITED`` and a ``RetryInfo`` saying when a token will be there;
* a client-streaming call (``SubmitStream``): one token per request message, i.e. per streamed
  batch. Over the limit the stream is *paced* (the next message is read only once a token is
  there) rather than failed: an admitted bulk stream is the efficient path, and tearing it down
  would make the client resend everything in flight. HTTP/2 flow control carries the
  back-pressure to the client.

gRPC's own services (health checking, reflection) are exempt: a monitoring probe must never be
told a node is overloaded because a peer is busy. Calls are keyed by the peer's node id, so one
noisy node cannot use up another's allowance.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, Final

import grpc

from creditlink.sdk.errors import Pushback

__all__ = ["EXEMPT_PREFIX", "RateLimitInterceptor", "RateLimiter", "TokenBucket"]

#: Methods under this prefix (``/grpc.health.v1.Health/Check``, reflection) are never limited.
EXEMPT_PREFIX: Final = "/grpc."
# Buckets of peers seen once are dropped once there are this many (refilled buckets only):
# node ids come from the trust bundle, but in development mode they come from a header.
_MAX_BUCKETS: Final = 10_000

_Context = grpc.aio.ServicerContext[Any, Any]
#: Returns the key to limit a call by (the peer's node id) from its context.
PeerOf = Callable[[_Context], str]


class TokenBucket:
    """A token bucket: ``burst`` tokens at most, refilled at ``rate`` per second."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, *, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)  # a new peer may burst at once
        self._stamp = now

    def _refill(self, now: float) -> None:
        # max(): the monotonic clock never goes back, but a caller-supplied one might.
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._stamp = now

    def take(self, now: float) -> float:
        """Take one token; return 0.0 on success, else the seconds until one is there."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled completely (its peer has been idle)."""
        self._refill(now)
        return self._tokens >= self._burst


class RateLimiter:
    """Token buckets by peer key."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def try_acquire(self, peer: str) -> float:
        """Take a token for ``peer``: 0.0 if granted, else the seconds to wait for one."""
        now = self._clock()
        bucket = self._buckets.get(peer)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._forget_idle(now)
            bucket = self._buckets[peer] = TokenBucket(rate=self._rate, burst=self._burst, now=now)
        return bucket.take(now)

    def check(self, peer: str) -> None:
        """Take a token for ``peer`` or raise :class:`Pushback` (``RATE_LIMITED``)."""
        wait = self.try_acquire(peer)
        if wait > 0:
            # Whole milliseconds, rounded up, so a client that waits exactly this long finds
            # a token.
            retry_after = timedelta(milliseconds=math.ceil(wait * 1000))
            raise Pushback(
                f"rate limit of {self._rate:g} messages/s (burst {self._burst}) reached for "
                f"node {peer!r}; retry after {retry_after.total_seconds():.3f} s",
                reason="RATE_LIMITED",
                retry_after=retry_after,
            )

    async def acquire(self, peer: str) -> None:
        """Wait until ``peer`` has a token, then take it (pacing for streams)."""
        # Sleeping exactly until the next token is due is the point here; there is no event
        # to wait for (tokens accrue with time).
        while (wait := self.try_acquire(peer)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    def _forget_idle(self, now: float) -> None:
        # A full bucket carries no state a new one would not have.
        for peer in [p for p, b in self._buckets.items() if b.full(now)]:
            del self._buckets[peer]


class RateLimitInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Enforce a :class:`RateLimiter` on every CXP call (see the module docstring).

    Install it inside the :class:`~creditlink.gateway.errors.ErrorInterceptor`, which turns
    the :class:`Pushback` it raises into ``RESOURCE_EXHAUSTED`` with ``ErrorInfo`` and
    ``RetryInfo`` and counts the rejection.
    """

    def __init__(self, limiter: RateLimiter, *, peer_of: PeerOf) -> None:
        self._limiter = limiter
        self._peer_of = peer_of

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(EXEMPT_PREFIX):
            return handler
        common = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._per_call_unary(handler.unary_unary), **common
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._per_call_stream(handler.unary_stream), **common
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._per_message_unary(handler.stream_unary), **common
            )
        return grpc.stream_stream_rpc_method_handler(
            self._per_message_stream(handler.stream_stream), **common
        )

    # Single-request calls: one token up front, or fail.

    def _per_call_unary(
        self, behaviour: Callable[[Any, _Context], Awaitable[Any]]
    ) -> Callable[[Any, _Context], Awaitable[Any]]:
        async def wrapped(request: Any, context: _Context) -> Any:
            self._limiter.check(self._peer_of(context))
            return await behaviour(request, context)

        return wrapped

    def _per_call_stream(
        self, behaviour: Callable[[Any, _Context], AsyncIterator[Any]]
    ) -> Callable[[Any, _Context], AsyncIterator[Any]]:
        async def wrapped(request: Any, context: _Context) -> AsyncIterator[Any]:
            self._limiter.check(self._peer_of(context))
            async for response in behaviour(request, context):
                yield response

        return wrapped

    # Client streams: one token per message read, waiting for it (pacing).

    def _paced(self, requests: AsyncIterator[Any], context: _Context) -> AsyncIterator[Any]:
        peer = self._peer_of(context)

        async def paced() -> AsyncIterator[Any]:
            async for message in requests:
                await self._limiter.acquire(peer)
                yield message

        return paced()

    def _per_message_unary(
        self, behaviour: Callable[[Any, _Context], Awaitable[Any]]
    ) -> Callable[[Any, _Context], Awaitable[Any]]:
        async def wrapped(requests: AsyncIterator[Any], context: _Context) -> Any:
            return await behaviour(self._paced(requests, context), context)

        return wrapped

    def _per_message_stream(
        self, behaviour: Callable[[Any, _Context], AsyncIterator[Any]]
    ) -> Callable[[Any, _Context], AsyncIterator[Any]]:
        async def wrapped(requests: AsyncIterator[Any], context: _Context) -> AsyncIterator[Any]:
            async for response in behaviour(self._paced(requests, context), context):
                yield response

        return wrapped
