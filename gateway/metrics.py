"""Prometheus metrics of one gateway, and the small HTTP server that exposes them.

Every gateway owns a :class:`GatewayMetrics` with its own ``CollectorRegistry`` (not the
process-global one), so several gateways in one process (tests, ``creditlink dev up``) never
share or double-register a series. The HTTP server serves two paths on the metrics address:

* ``GET /metrics`` — the registry in the Prometheus text format;
* ``GET /healthz`` — ``200 {"status": "SERVING"}`` while the gateway serves, ``503`` with
  ``NOT_SERVING`` before it starts and while it drains. This is plain HTTP without client
  certificates, for load balancers and orchestrators that cannot present one (the gRPC health
  service itself sits behind mutual TLS like every other RPC; docs/operations.md).

Series (all prefixed ``creditlink_``):

==========================================  =========  =====================================
``grpc_requests_total{method,code}``        counter    finished RPCs by full method and code
``grpc_request_duration_seconds{method}``   histogram  RPC latency, first byte to status
``rejections_total{method,reason}``         counter    failed RPCs by ErrorInfo reason
``log_size``                                gauge      leaves in the transparency log
``feed_subscribers``                        gauge      open ``Subscribe`` streams (counted here)
``outbox_depth``                            gauge      messages waiting to be forwarded
``outbox_oldest_age_seconds``               gauge      age of the oldest waiting message
``node_info{node_id,version}``              gauge      always 1; labels identify the node
``feed_entries_received_total{origin,kind}`` counter   entries mirrored from the upstream
``feed_entries_rejected_total{origin,reason}`` counter entries or checkpoints refused
``feed_failures_total{stream,reason}``      counter    failed upstream streams (reconnects)
``feed_cursor{origin}``                     gauge      next leaf of the upstream's log to read
``feed_lag{origin}``                        gauge      upstream log size minus the cursor
``trust_bundle_version``                    gauge      version of the bundle the node runs on
``trust_bundle_rejected_total{reason}``     counter    trust bundle updates refused
==========================================  =========  =====================================

The ``feed_*`` series other than ``feed_subscribers`` belong to the
:class:`~creditlink.gateway.feed.FeedFollower` of a node with an upstream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import grpc
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from creditlink import __version__

__all__ = ["LATENCY_BUCKETS", "GatewayMetrics", "MetricsInterceptor", "MetricsServer"]

#: The feed: open calls of this method are the ``feed_subscribers`` gauge.
SUBSCRIBE_METHOD: Final = "/creditlink.v1.ExchangeService/Subscribe"

#: Latency buckets in seconds: from a cached read (~1 ms) to a large streamed batch (~10 s).
LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# grpc's handler objects are untyped at this boundary (see gateway/errors.py).
_Context = grpc.aio.ServicerContext[Any, Any]


class GatewayMetrics:
    """The gateway's series in a registry of their own (see the module docstring)."""

    def __init__(self, *, node_id: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "creditlink_grpc_requests",
            "Finished gRPC calls by full method name and status code.",
            ("method", "code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "creditlink_grpc_request_duration_seconds",
            "gRPC call duration in seconds, by full method name.",
            ("method",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejections = Counter(
            "creditlink_rejections",
            "Failed calls by full method name and ErrorInfo reason (INVALID_SIGNATURE, ...).",
            ("method", "reason"),
            registry=self.registry,
        )
        self.log_size = Gauge(
            "creditlink_log_size",
            "Number of leaves in this gateway's transparency log.",
            registry=self.registry,
        )
        self.feed_subscribers = Gauge(
            "creditlink_feed_subscribers",
            "Open Subscribe streams.",
            registry=self.registry,
        )
        # Read from the store's outbox table before each scrape (all destinations together).
        # Forwarding does not enqueue anything yet, so both stay 0 until it exists; they are
        # exported already so dashboards and alerts can be written against them.
        self.outbox_depth = Gauge(
            "creditlink_outbox_depth",
            "Messages waiting in the outbox to be forwarded, all destinations.",
            registry=self.registry,
        )
        self.outbox_oldest_age = Gauge(
            "creditlink_outbox_oldest_age_seconds",
            "Age of the oldest message waiting in the outbox (0 when none waits).",
            registry=self.registry,
        )
        self._init_feed_follower()
        info = Gauge(
            "creditlink_node_info",
            "Always 1; the labels name the node and the creditlink version.",
            ("node_id", "version"),
            registry=self.registry,
        )
        info.labels(node_id=node_id, version=__version__).set(1)

    # -- feeds from the rest of the gateway -------------------------------------------------

    def observe_rejection(self, method: str, reason: str) -> None:
        """Count one failed call (the :class:`~creditlink.gateway.errors.ErrorInterceptor` hook)."""
        self.rejections.labels(method=method, reason=reason).inc()

    def set_log_size(self, size: int) -> None:
        """Record the log's size (after an append, or read from the store before a scrape)."""
        self.log_size.set(size)

    def set_feed_subscribers(self, count: int) -> None:
        """Record how many ``Subscribe`` streams are open.

        A :class:`MetricsInterceptor` already counts open ``Subscribe`` calls into this gauge;
        call this only from code that replaces that count (not alongside it).
        """
        self.feed_subscribers.set(count)

    def set_outbox(self, *, depth: int, oldest_age_seconds: float) -> None:
        """Record the outbox's depth and the age of its oldest message (for the outbox)."""
        self.outbox_depth.set(depth)
        self.outbox_oldest_age.set(oldest_age_seconds)

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)

    # -- the feed follower and the trust bundle (gateway/feed) --------------------------------

    def _init_feed_follower(self) -> None:
        self.feed_received = Counter(
            "creditlink_feed_entries_received",
            "Entries of the upstream's log verified and mirrored, by origin node and kind.",
            ("origin", "kind"),
            registry=self.registry,
        )
        self.feed_rejected = Counter(
            "creditlink_feed_entries_rejected",
            "Entries or checkpoints from the upstream refused, by origin node and reason.",
            ("origin", "reason"),
            registry=self.registry,
        )
        self.feed_failures = Counter(
            "creditlink_feed_failures",
            "Upstream streams that failed (Subscribe, WatchTrustBundle), by reason.",
            ("stream", "reason"),
            registry=self.registry,
        )
        self.feed_cursor = Gauge(
            "creditlink_feed_cursor",
            "Next leaf of the origin's log the feed follower reads (all before it mirrored).",
            ("origin",),
            registry=self.registry,
        )
        self.feed_lag = Gauge(
            "creditlink_feed_lag",
            "Leaves of the origin's log not yet read: its latest signed size minus the cursor.",
            ("origin",),
            registry=self.registry,
        )
        self.trust_bundle_version = Gauge(
            "creditlink_trust_bundle_version",
            "Version of the trust bundle the node currently runs on.",
            registry=self.registry,
        )
        self.trust_bundle_rejected = Counter(
            "creditlink_trust_bundle_rejected",
            "Trust bundle updates refused (not installed), by reason.",
            ("reason",),
            registry=self.registry,
        )

    def observe_feed_entries(self, origin: str, kind: str, count: int = 1) -> None:
        """Count ``count`` entries of ``kind`` mirrored from ``origin``."""
        self.feed_received.labels(origin=origin, kind=kind).inc(count)

    def observe_feed_rejection(self, origin: str, reason: str) -> None:
        """Count one entry or checkpoint from ``origin`` refused for ``reason``."""
        self.feed_rejected.labels(origin=origin, reason=reason).inc()

    def observe_feed_failure(self, stream: str, reason: str) -> None:
        """Count one failed upstream stream (``subscribe`` or ``trust_bundle``)."""
        self.feed_failures.labels(stream=stream, reason=reason).inc()

    def set_feed_position(self, origin: str, *, cursor: int, upstream_size: int) -> None:
        """Record the follower's cursor in ``origin``'s log and the lag behind its size."""
        self.feed_cursor.labels(origin=origin).set(cursor)
        self.feed_lag.labels(origin=origin).set(max(0, upstream_size - cursor))

    def set_trust_bundle_version(self, version: int) -> None:
        """Record the version of the trust bundle the node runs on."""
        self.trust_bundle_version.set(version)

    def observe_trust_bundle_rejection(self, reason: str) -> None:
        """Count one trust bundle update refused for ``reason``."""
        self.trust_bundle_rejected.labels(reason=reason).inc()


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Count every call and time it, by method; installed outermost so rejections count too.

    It also keeps ``feed_subscribers``: the number of ``Subscribe`` calls open right now.
    """

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        common = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary), **common
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, handler.stream_unary), **common
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream), **common
            )
        return grpc.stream_stream_rpc_method_handler(
            self._stream(method, handler.stream_stream), **common
        )

    def _record(
        self, method: str, started: float, context: _Context, outcome: grpc.StatusCode
    ) -> None:
        self._metrics.latency.labels(method=method).observe(time.perf_counter() - started)
        # A status set by the handler (an abort) wins; the stubs say StatusCode, but grpc
        # returns None while no status has been set.
        code: grpc.StatusCode | None = context.code()
        self._metrics.requests.labels(method=method, code=(code or outcome).name).inc()

    def _unary(
        self, method: str, behaviour: Callable[[Any, _Context], Awaitable[Any]]
    ) -> Callable[[Any, _Context], Awaitable[Any]]:
        async def wrapped(request: Any, context: _Context) -> Any:
            started, outcome = time.perf_counter(), grpc.StatusCode.UNKNOWN
            try:
                response = await behaviour(request, context)
                outcome = grpc.StatusCode.OK
                return response
            except asyncio.CancelledError:
                outcome = grpc.StatusCode.CANCELLED  # the client went away
                raise
            finally:
                self._record(method, started, context, outcome)

        return wrapped

    def _stream(
        self, method: str, behaviour: Callable[[Any, _Context], AsyncIterator[Any]]
    ) -> Callable[[Any, _Context], AsyncIterator[Any]]:
        feed = method == SUBSCRIBE_METHOD

        async def wrapped(request: Any, context: _Context) -> AsyncIterator[Any]:
            started, outcome = time.perf_counter(), grpc.StatusCode.UNKNOWN
            if feed:
                self._metrics.feed_subscribers.inc()
            try:
                async for response in behaviour(request, context):
                    yield response
                outcome = grpc.StatusCode.OK
            except (asyncio.CancelledError, GeneratorExit):
                outcome = grpc.StatusCode.CANCELLED  # the client went away
                raise
            finally:
                if feed:
                    self._metrics.feed_subscribers.dec()
                self._record(method, started, context, outcome)

        return wrapped


def split_host_port(address: str) -> tuple[str, int]:
    """``("::1", 9464)`` from ``"[::1]:9464"``; the address was validated by the config."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class MetricsServer:
    """``/metrics`` and ``/healthz`` over plain HTTP on the metrics address (aiohttp)."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        *,
        address: str,
        serving: Callable[[], bool],
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``serving`` answers ``/healthz``; ``refresh`` runs before each scrape."""
        self._metrics = metrics
        self._address = address
        self._serving = serving
        self._refresh = refresh
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def port(self) -> int:
        """The bound port (useful when the address asked for port 0)."""
        return self._port

    @property
    def endpoint(self) -> str:
        """``host:port`` actually bound."""
        host, _ = split_host_port(self._address)
        return f"[{host}]:{self._port}" if ":" in host else f"{host}:{self._port}"

    async def start(self) -> None:
        """Bind and serve; raises ``OSError`` if the address is taken."""
        app = web.Application()
        app.router.add_get("/metrics", self._handle_metrics)
        app.router.add_get("/healthz", self._handle_healthz)
        # No access log: scrapes every few seconds would drown the gateway's own log lines.
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        host, port = split_host_port(self._address)
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0]
        self._port = int(bound[1])

    async def stop(self) -> None:
        """Stop serving; safe to call more than once."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle_metrics(self, request: web.Request) -> web.Response:
        if self._refresh is not None:
            await self._refresh()
        # The header exactly as prometheus_client names its format (version and charset).
        return web.Response(
            body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _handle_healthz(self, request: web.Request) -> web.Response:
        serving = self._serving()
        body = json.dumps({"status": "SERVING" if serving else "NOT_SERVING"})
        return web.Response(
            text=body + "\n", status=200 if serving else 503, content_type="application/json"
        )
