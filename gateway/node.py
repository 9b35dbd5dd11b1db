"""One gateway node: configuration and credentials in, a serving grpc.aio server out.

:class:`GatewayNode` assembles everything the node needs and owns its lifecycle::

    node = GatewayNode(config, Credentials.load(config.credentials_dir))
    await node.start()          # store opened, checkpoint signed, gRPC and metrics listening
    ...
    await node.stop(grace=10)   # drain in-flight calls, then close the store

What :meth:`GatewayNode.start` builds, in order:

1. the store (``config.store_url``), opened and migrated;
2. the :class:`~creditlink.gateway.ledger.Ledger` (log origin and checkpoint key from the trust
   bundle, receipts signed with the node's signing key), which signs the empty tree's
   checkpoint on a fresh log;
3. the :class:`~creditlink.gateway.intake.Intake` and the CXP servicers (``ExchangeService``,
   ``FederationService``);
4. a grpc.aio server with, outermost first, the metrics interceptor (every call counted and
   timed), the :class:`~creditlink.gateway.errors.ErrorInterceptor` (every error becomes one
   ``google.rpc.Status``, each rejection counted by reason) and the per-node rate limiter;
   gRPC health checking and server reflection, so ``grpcurl`` can list and call;
5. the metrics HTTP server (``/metrics``, ``/healthz``);
6. the :class:`~creditlink.gateway.outbox.Forwarder`, which delivers what the node accepted for
   other recipients (queued by the append itself, CXP-API-008) to the next hop: the recipient
   when the trust bundle lists its endpoint, else ``config.upstream``. It resumes whatever is
   pending in the store, is woken after each append that queued something and stopped (letting
   attempts in flight finish) by :meth:`GatewayNode.stop`. A node in ``insecure_dev`` mode
   forwards nothing: its peers could not tell who is calling.
7. with an ``upstream`` (and not ``insecure_dev``), the
   :class:`~creditlink.gateway.feed.FeedFollower`, which mirrors the upstream's name lists and
   measure lists into the store and installs each new trust bundle version it verifies
   (:meth:`GatewayNode.install_trust_bundle`; docs/feed.md). ``FeedOptions`` sets what it follows.

Transport. TLS always, and every connection must present a client certificate issued by the
federation's CA (mutual TLS): TLS is negotiated per connection, before gRPC knows which method
will be called, so no single RPC (health included) can be exempted on the same port. Health is
therefore served twice: as ``grpc.health.v1.Health`` behind mutual TLS like everything else, and
as plain-HTTP ``/healthz`` on the metrics address (loopback by default) for probes that hold no
client certificate (docs/operations.md). Which node a certificate belongs to is decided by the
trust bundle's TLS pins, not by the certificate's names.

Development. With ``insecure_dev`` (loopback only, enforced by the configuration) the port is
plaintext and a caller names itself in the ``x-creditlink-dev-peer`` metadata header. Anyone who
can reach the port can then claim to be any node: it exists for local development and tests
only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Self

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# The asyncio servicer; public as `health.aio.HealthServicer`, which the type stubs do not know.
from grpc_health.v1._async import HealthServicer as AsyncHealthServicer
from grpc_reflection.v1alpha import reflection

from creditlink.gateway.auth import DEV_PEER_HEADER, insecure_dev_peer_identity, peer_identity
from creditlink.gateway.config import GatewayConfig
from creditlink.gateway.domain.calendar import InvalidHolidayTable, WorkingDayCalendar
from creditlink.gateway.domain.handlers import default_handlers
from creditlink.gateway.domain.projection import Projection
from creditlink.gateway.errors import ErrorInterceptor
from creditlink.gateway.feed import FeedFollower, FeedOptions, backfill_object_ids
from creditlink.gateway.intake import Intake
from creditlink.gateway.ledger import Ledger
from creditlink.gateway.metrics import GatewayMetrics, MetricsInterceptor, MetricsServer
from creditlink.gateway.outbox import Endpoint, Forwarder, endpoints_from_credentials
from creditlink.gateway.ratelimit import RateLimiter, RateLimitInterceptor
from creditlink.gateway.store import Store, open_store
from creditlink.gateway.workers import (
    InlineIntake,
    IntakeRunner,
    IntakeWorkers,
    WorkerSettings,
    auto_worker_count,
)
from creditlink.sdk.credentials import (
    SEALING_KEY,
    Credentials,
    InvalidCredentials,
    Role,
    update_trust_bundle,
)
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import CreditlinkError, InvalidTrustBundle, Unauthenticated
from creditlink.sdk.trust import TrustBundle
from creditlink.v1 import (
    exchange_service_pb2,
    federation_service_pb2,
    federation_service_pb2_grpc,
)

if TYPE_CHECKING:
    from creditlink.gateway.services.federation import FederationServicer

__all__ = [
    "DEV_PEER_HEADER",
    "KEEPALIVE_OPTIONS",
    "SERVICE_NAMES",
    "ForwardingOptions",
    "GatewayError",
    "GatewayNode",
    "peer_node_id",
]

_log = logging.getLogger("creditlink.gateway")


#: The CXP services every node serves (full names, as health checking and reflection use them).
SERVICE_NAMES: Final = (
    exchange_service_pb2.DESCRIPTOR.services_by_name["ExchangeService"].full_name,
    federation_service_pb2.DESCRIPTOR.services_by_name["FederationService"].full_name,
)

#: Connection keepalive. The server pings a connection idle for a minute and drops it if no
#: answer comes within 20 s, so half-open connections (a peer that vanished behind a NAT or
#: firewall) do not hold streams forever; clients may ping every 10 s, even between calls
#: (long-lived ``Subscribe`` streams behind idle-timeout middleboxes need that).
KEEPALIVE_OPTIONS: Final[tuple[tuple[str, int], ...]] = (
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 2),
)

_Context = grpc.aio.ServicerContext[Any, Any]
# grpc takes message limits as a signed 32-bit int.
_GRPC_MAX_LENGTH: Final = 2**31 - 1


class GatewayError(CreditlinkError):
    """The node cannot start: credentials that do not fit the config, a port already taken…"""

    default_reason = "GATEWAY_START_FAILED"


def peer_node_id(
    context: _Context, trust: Callable[[], TrustBundle], *, insecure_dev: bool
) -> str | None:
    """The node id of the caller, or ``None`` when it cannot be told.

    Over mutual TLS: the node whose TLS pin the trust bundle lists for the presented certificate
    (:func:`creditlink.gateway.auth.peer_identity`). With ``insecure_dev``: the value of the
    ``x-creditlink-dev-peer`` header.
    """
    if insecure_dev:
        for key, value in context.invocation_metadata() or ():
            if key == DEV_PEER_HEADER and isinstance(value, str) and value:
                return value
        return None
    try:
        return peer_identity(context, trust()).node_id
    except Unauthenticated:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardingOptions:
    """How the node's :class:`~creditlink.gateway.outbox.Forwarder` retries (docs/outbox.md)."""

    min_backoff: float = 0.5
    max_backoff: float = 60.0
    attempt_timeout: float = 10.0
    give_up_after: timedelta = timedelta(hours=24)
    poll_interval: float = 5.0


@dataclass(frozen=True, slots=True)
class _Running:
    server: grpc.aio.Server
    port: int
    metrics: MetricsServer
    health: AsyncHealthServicer
    forwarder: Forwarder | None


def _calendar(config: GatewayConfig) -> WorkingDayCalendar:
    """The working-day calendar: the package's, plus the operator's holiday table if set."""
    if config.holiday_table is None:
        return WorkingDayCalendar()
    try:
        return WorkingDayCalendar.from_file(config.holiday_table)
    except (OSError, InvalidHolidayTable) as exc:
        raise GatewayError(
            f"holiday table {config.holiday_table}: {exc}", reason="HOLIDAY_TABLE_INVALID"
        ) from exc


class GatewayNode:
    """One gateway: store, ledger, intake, servicers, gRPC server and metrics (module docstring).

    ``credentials`` must be the node's own credentials directory (role ``node``, with a
    checkpoint key) for ``config.node_id``.
    """

    def __init__(
        self,
        config: GatewayConfig,
        credentials: Credentials,
        *,
        forwarding: ForwardingOptions | None = None,
        feed: FeedOptions | None = None,
    ) -> None:
        if credentials.role is not Role.NODE or credentials.checkpoint_key is None:
            raise GatewayError(
                f"{credentials.directory} holds a client's credentials; a gateway needs a "
                "node's (with a checkpoint key)",
                reason="GATEWAY_NOT_A_NODE",
            )
        if credentials.node_id != config.node_id:
            raise GatewayError(
                f"the configuration is for node {config.node_id!r} but {credentials.directory} "
                f"holds the credentials of {credentials.node_id!r}",
                reason="GATEWAY_NODE_MISMATCH",
            )
        if not credentials.node.log_origin:
            raise GatewayError(
                f"the trust bundle names no log origin for {config.node_id!r}: it cannot keep a "
                "log",
                reason="GATEWAY_NOT_A_NODE",
            )
        self._config = config
        self._credentials = credentials
        self._forwarding = forwarding or ForwardingOptions()
        self._forwarder: Forwarder | None = None
        self._trust_bundle = credentials.trust_bundle
        self.metrics = GatewayMetrics(node_id=config.node_id)
        self.metrics.set_trust_bundle_version(self._trust_bundle.version)
        self._feed_options = feed or FeedOptions()
        self._feed: FeedFollower | None = None
        self._federation: FederationServicer | None = None
        self._trust_lock: asyncio.Lock | None = None
        self._store: Store | None = None
        self._ledger: Ledger | None = None
        self._running: _Running | None = None
        self._serving = False
        self._intake: IntakeRunner | None = None
        self._calendar = _calendar(config)

    # -- identity and addresses ------------------------------------------------------------

    @property
    def config(self) -> GatewayConfig:
        """The configuration the node runs with."""
        return self._config

    @property
    def node_id(self) -> str:
        """The node id."""
        return self._config.node_id

    @property
    def credentials(self) -> Credentials:
        """The node's credentials."""
        return self._credentials

    def trust(self) -> TrustBundle:
        """The trust bundle the node currently acts on."""
        return self._trust_bundle

    @property
    def port(self) -> int:
        """The bound gRPC port (the real one when ``listen`` asked for port 0)."""
        return self._require_running().port

    @property
    def endpoint(self) -> str:
        """``host:port`` of the gRPC server as bound."""
        host = self._config.listen.rpartition(":")[0]
        return f"{host}:{self.port}"

    @property
    def metrics_endpoint(self) -> str:
        """``host:port`` of the metrics HTTP server as bound."""
        return self._require_running().metrics.endpoint

    @property
    def ledger(self) -> Ledger:
        """The node's ledger (once started)."""
        if self._ledger is None:
            raise RuntimeError("the gateway is not started")
        return self._ledger

    @property
    def calendar(self) -> WorkingDayCalendar:
        """The working-day calendar deadlines are counted on (with the operator's table)."""
        return self._calendar

    def reload_holiday_table(self) -> tuple[int, ...]:
        """Read the configured holiday table again and count with it from now on; the years
        it lists. A table that does not read or breaks a rule raises ``GatewayError``
        (``HOLIDAY_TABLE_INVALID``) and the calendar stays as it was."""
        self._calendar.adopt(_calendar(self._config))
        return tuple(s.year for s in self._calendar.operator_schedules)

    @property
    def store(self) -> Store:
        """The node's store (once started)."""
        if self._store is None:
            raise RuntimeError("the gateway is not started")
        return self._store

    @property
    def forwarder(self) -> Forwarder | None:
        """The node's forwarder (once started; ``None`` in ``insecure_dev`` mode)."""
        return self._forwarder

    @property
    def feed_follower(self) -> FeedFollower | None:
        """The node's feed follower (once started, with an upstream and not ``insecure_dev``)."""
        return self._feed

    @property
    def serving(self) -> bool:
        """Whether the node accepts calls (False before start and while draining)."""
        return self._serving

    def _require_running(self) -> _Running:
        if self._running is None:
            raise RuntimeError("the gateway is not started")
        return self._running

    def peer_of(self, context: _Context) -> str | None:
        """The caller's node id (see :func:`peer_node_id`)."""
        return peer_node_id(context, self.trust, insecure_dev=self._config.insecure_dev)

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop(grace=0)

    async def start(self) -> None:
        """Open the store, build the services and start listening (gRPC, then metrics)."""
        if self._running is not None:
            raise RuntimeError("the gateway is already started")
        config, creds = self._config, self._credentials
        # The data directory holds the default SQLite store; a new node (from `creditlink init`
        # or a hand-written config) may not have it yet. 0700: the store is the node's record.
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        store = open_store(config.store_url)
        await store.open()
        server: grpc.aio.Server | None = None
        metrics_server: MetricsServer | None = None
        forwarder: Forwarder | None = None
        try:
            signer = creds.checkpoint_key
            assert signer is not None  # checked in __init__
            ledger = Ledger(
                store=store,
                node_id=config.node_id,
                origin=creds.node.log_origin,
                signing_key=creds.signing_key,
                checkpoint_signer=signer,
                # The domain state (records, name lists, reports...) changes with the append.
                projector=Projection(
                    default_handlers(self._calendar),
                    log_origin=creds.node.log_origin,
                    node_id=config.node_id,
                ),
            )
            await ledger.ensure_checkpoint()
            self.metrics.set_log_size((await store.head()).size)
            intake = self._new_intake()
            await intake.start()
            self._intake = intake
            self._store, self._ledger = store, ledger
            forwarder = None if config.insecure_dev else self._new_forwarder(store)
            self._forwarder = forwarder
            # Followers of an upstream only: a plaintext node could not prove who it is.
            if config.upstream is not None and not config.insecure_dev:
                filled = await backfill_object_ids(store)
                if filled:
                    _log.info(
                        "mirrored entries stored before the feed kept object ids: %d filled in",
                        filled,
                    )
                self._feed = self._new_feed_follower(store)

            server = grpc.aio.server(
                interceptors=self._interceptors(), options=self._server_options()
            )
            served = SERVICE_NAMES + self._add_cxp_services(
                server, intake=intake, ledger=ledger, store=store, forwarder=forwarder
            )
            health_servicer = AsyncHealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
            reflection.enable_server_reflection(
                (*served, health.SERVICE_NAME, reflection.SERVICE_NAME), server
            )
            port = self._bind(server)
            await server.start()
            metrics_server = MetricsServer(
                self.metrics,
                address=config.metrics_listen,
                serving=lambda: self._serving,
                refresh=self._refresh_metrics,
            )
            try:
                await metrics_server.start()
            except OSError as exc:
                raise GatewayError(
                    f"cannot serve metrics on {config.metrics_listen}: {exc.strerror or exc}",
                    reason="GATEWAY_LISTEN_FAILED",
                ) from exc
            if forwarder is not None:
                await forwarder.start()
            if self._feed is not None:
                await self._feed.start()
            for name in ("", *served):
                await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        except BaseException:
            # Undo whatever got started, so a failed start leaves no port bound, store open.
            if self._feed is not None:
                await self._feed.stop()
                self._feed = None
            if forwarder is not None:
                await forwarder.stop(grace=0)
            self._forwarder = None
            if metrics_server is not None:
                await metrics_server.stop()
            if server is not None:
                await server.stop(None)
            self._store = self._ledger = None
            await store.close()
            if self._intake is not None:
                await self._intake.close()
                self._intake = None
            raise
        self._running = _Running(
            server=server,
            port=port,
            metrics=metrics_server,
            health=health_servicer,
            forwarder=forwarder,
        )
        self._serving = True
        _log.info(
            "gateway serving",
            extra={
                "node_id": config.node_id,
                "listen": self.endpoint,
                "metrics": metrics_server.endpoint,
                "tls": "off (insecure_dev)" if config.insecure_dev else "mutual",
                "log_size": (await store.head()).size,
            },
        )

    async def stop(self, grace: float | None = 10.0) -> None:
        """Stop accepting calls, let in-flight calls finish for up to ``grace`` seconds, close.

        Health turns ``NOT_SERVING`` first (both the gRPC service and ``/healthz``) so load
        balancers stop routing here while the calls in flight drain. Safe to call twice.
        """
        running, self._running = self._running, None
        if running is None:
            return
        self._serving = False
        _log.info("gateway draining", extra={"node_id": self.node_id, "grace_s": grace})
        await running.health.enter_graceful_shutdown()
        try:
            # Refuses new calls at once; cancels what is still running after `grace`.
            await running.server.stop(grace)
        finally:
            # Before the store closes: a commit in flight completes or rolls back whole.
            feed, self._feed = self._feed, None
            if feed is not None:
                await feed.stop()
            # After the server: calls that drained may have queued forwards; attempts in
            # flight finish (bounded by their deadline), the rest stays pending in the store.
            if running.forwarder is not None:
                await running.forwarder.stop(grace=grace)
            self._forwarder = None
            await running.metrics.stop()
            store, self._store, self._ledger = self._store, None, None
            if store is not None:
                await store.close()
            intake, self._intake = self._intake, None
            if intake is not None:
                await intake.close()
        _log.info("gateway stopped", extra={"node_id": self.node_id})

    async def wait_for_termination(self) -> None:
        """Return when the gRPC server has stopped."""
        await self._require_running().server.wait_for_termination()

    # -- assembly --------------------------------------------------------------------------

    def _interceptors(self) -> Sequence[grpc.aio.ServerInterceptor]:  # type: ignore[type-arg]
        # Outermost first: metrics see every call, including those the inner ones reject;
        # the error interceptor turns the rate limiter's Pushback into RESOURCE_EXHAUSTED.
        interceptors: list[grpc.aio.ServerInterceptor] = [  # type: ignore[type-arg]
            MetricsInterceptor(self.metrics),
            ErrorInterceptor(
                observe=self.metrics.observe_rejection,
                max_request_bytes=self._config.max_message_bytes,
            ),
        ]
        if self._config.rate_limit_per_node > 0:
            limiter = RateLimiter(
                rate=self._config.rate_limit_per_node, burst=self._config.rate_limit_burst
            )
            interceptors.append(RateLimitInterceptor(limiter, peer_of=self._rate_key))
        return interceptors

    def _rate_key(self, context: _Context) -> str:
        # Callers that cannot be identified share one bucket (the access check refuses them
        # anyway); they must not get a fresh allowance per call.
        return self.peer_of(context) or "(unidentified)"

    def _server_options(self) -> list[tuple[str, Any]]:
        size = self._config.max_message_bytes
        return [
            # The error interceptor enforces `size` on each request itself, so the refusal is
            # RESOURCE_EXHAUSTED with reason MESSAGE_TOO_LARGE and counted. grpc's own limit
            # sits above it (it must, or grpc would refuse first, without an ErrorInfo) and
            # only bounds what a peer can make the node buffer.
            ("grpc.max_receive_message_length", min(2 * size, _GRPC_MAX_LENGTH)),
            ("grpc.max_send_message_length", size),
            # grpc sets SO_REUSEPORT by default on Linux, so a second gateway on the same port
            # would silently share it; we want "address already in use" instead.
            ("grpc.so_reuseport", 0),
            *KEEPALIVE_OPTIONS,
        ]

    def _bind(self, server: grpc.aio.Server) -> int:
        listen = self._config.listen
        try:
            if self._config.insecure_dev:
                port = server.add_insecure_port(listen)
            else:
                port = server.add_secure_port(listen, self._credentials.server_credentials())
        except RuntimeError as exc:
            port, detail = 0, str(exc)
        else:
            detail = "bind failed"
        if port == 0:
            raise GatewayError(
                f"cannot listen on {listen} ({detail}); is another process using the port?",
                reason="GATEWAY_LISTEN_FAILED",
            )
        return port

    def _new_forwarder(self, store: Store) -> Forwarder:
        options, upstream = self._forwarding, self._config.upstream
        overrides = {upstream.node_id: upstream.endpoint} if upstream is not None else None
        return Forwarder(
            store=store,
            destinations=endpoints_from_credentials(
                self._credentials, trust=self.trust, overrides=overrides
            ),
            trust=self.trust,
            min_backoff=options.min_backoff,
            max_backoff=options.max_backoff,
            attempt_timeout=options.attempt_timeout,
            give_up_after=options.give_up_after,
            poll_interval=options.poll_interval,
        )

    def _wake_forwarder(self, destinations: Collection[str]) -> None:
        forwarder = self._forwarder
        if forwarder is not None:
            for destination in destinations:
                forwarder.wake(destination)

    def _new_intake(self) -> IntakeRunner:
        """The intake, in worker processes unless ``intake_workers`` is 0 (gateway/workers)."""
        config, creds = self._config, self._credentials
        upstream = config.upstream.node_id if config.upstream is not None else None
        workers = config.intake_workers
        if workers is None:
            workers = auto_worker_count()
        in_place = Intake(
            node_id=config.node_id,
            trust=self.trust,
            sealing_keys=[creds.sealing_key],
            upstream=upstream,
        )
        if workers == 0:
            return InlineIntake(in_place)
        return IntakeWorkers(
            WorkerSettings(
                node_id=config.node_id,
                sealing_key_path=creds.directory / SEALING_KEY,
                upstream=upstream,
            ),
            processes=workers,
            trust=self.trust,
            clock=lambda: datetime.now(UTC),
            in_place=in_place,
        )

    def _add_cxp_services(
        self,
        server: grpc.aio.Server,
        *,
        intake: IntakeRunner,
        ledger: Ledger,
        store: Store,
        forwarder: Forwarder | None,
    ) -> tuple[str, ...]:
        """Add every service; return the full names of the domain services added."""
        # Imported here: the servicers depend on this package's other modules, not the reverse.
        from creditlink.gateway.services.exchange import ExchangeServicer, FlowLimits
        from creditlink.gateway.services.federation import FederationServicer
        from creditlink.gateway.services.pipeline import ServiceContext
        from creditlink.gateway.services.registry import DOMAIN_SERVICES

        # Plaintext development mode has no certificate to identify callers by: the (unproven)
        # header names them instead; over mutual TLS the certificate pin does.
        identify = insecure_dev_peer_identity if self._config.insecure_dev else peer_identity
        exchange = ExchangeServicer(
            intake=intake,
            ledger=ledger,
            store=store,
            trust=self.trust,
            on_append=self.metrics.set_log_size,
            # What SubmitStream grants must be what the node enforces: the configured limit.
            flow=FlowLimits(max_batch_bytes=self._config.max_message_bytes),
            identify=identify,
            on_forward=self._wake_forwarder if forwarder is not None else None,
        )
        exchange.add_to_server(server)
        # The node witnesses other logs with its checkpoint key (the key its own checkpoints
        # are signed with, which the bundle lists); whether it may is the bundle's WITNESS
        # grant, checked by the servicer.
        federation = FederationServicer(
            trust=self.trust,
            node_id=self._config.node_id,
            witness_key=self._credentials.checkpoint_key,
            identify=identify,
        )
        federation_service_pb2_grpc.add_FederationServiceServicer_to_server(federation, server)
        self._federation = federation  # told of each trust bundle installed
        context = ServiceContext(
            node_id=self._config.node_id,
            log_origin=self._credentials.node.log_origin,
            pipeline=exchange.pipeline,
            store=store,
            trust=self.trust,
            identify=identify,
            clock=lambda: datetime.now(UTC),
            signing_key=self._credentials.signing_key,
            sealing_keys=(self._credentials.sealing_key,),
            channel_credentials=self._credentials.channel_credentials(),
            calendar=self._calendar,
        )
        return tuple(register(server, context) for register in DOMAIN_SERVICES)

    def _new_feed_follower(self, store: Store) -> FeedFollower:
        upstream = self._config.upstream
        assert upstream is not None  # only called with an upstream
        return FeedFollower(
            store=store,
            upstream=upstream.node_id,
            endpoint=Endpoint(
                target=upstream.endpoint, credentials=self._credentials.channel_credentials()
            ),
            trust=self.trust,
            install=self.install_trust_bundle,
            options=self._feed_options,
            metrics=self.metrics,
        )

    # -- trust bundle updates --------------------------------------------------------------

    async def install_trust_bundle(self, envelope: Envelope) -> TrustBundle:
        """Verify ``envelope`` as the next version of the node's trust bundle and adopt it.

        1. It must be the next version of the bundle the node runs on
           (:meth:`TrustBundle.verify_update`: the current roots' threshold and its own signed
           it, same federation, version + 1, not expired).
        2. It is written atomically to the credentials directory, roots re-pinned if they
           rotated (:func:`~creditlink.sdk.credentials.update_trust_bundle`, which verifies it
           again against the directory's bundle: a directory changed behind the node's back
           refuses it).
        3. Only then does the node use it: calls from now on are authenticated, authorized and
           verified under it, and ``WatchTrustBundle`` callers are sent it.

        Raises :class:`~creditlink.sdk.errors.InvalidTrustBundle` with the reason of the check
        that failed (``TRUST_BUNDLE_SIGNATURE``, ``TRUST_BUNDLE_VERSION_GAP``, ...); nothing is
        written or adopted then. Installs are serialized. The node's own TLS certificate and
        keys are not changed: a bundle that no longer lists them is adopted with a warning.
        """
        if self._trust_lock is None:
            # Made on first use, on the loop that runs the node.
            self._trust_lock = asyncio.Lock()
        async with self._trust_lock:
            now = datetime.now(UTC)
            updated = self._trust_bundle.verify_update(envelope, now=now)
            try:
                # File writes and an flock: off the event loop.
                await asyncio.to_thread(
                    update_trust_bundle, self._credentials.directory, envelope, now=now
                )
            except InvalidCredentials as exc:
                raise InvalidTrustBundle(
                    f"cannot install trust bundle version {updated.version} in "
                    f"{self._credentials.directory}: {exc.message}",
                    reason=exc.reason,
                ) from exc
            self._trust_bundle = updated
            self.metrics.set_trust_bundle_version(updated.version)
            if self._federation is not None:
                self._federation.notify_trust_changed()
        if self.node_id not in updated.node_ids or not updated.checkpoint_keys(
            self.node_id, at=now
        ):
            _log.warning(
                "trust bundle version %d no longer lists this node or its checkpoint key",
                updated.version,
                extra={"node_id": self.node_id},
            )
        _log.info(
            "trust bundle installed",
            extra={"node_id": self.node_id, "version": updated.version},
        )
        return updated

    async def _refresh_metrics(self) -> None:
        # Read the log size and the outbox from the store before each scrape: they are then
        # right even when another replica (sharing a PostgreSQL database) changed them.
        store = self._store
        if store is None:
            return
        self.metrics.set_log_size((await store.head()).size)
        stats = (await store.outbox_stats()).values()
        oldest = min((s.oldest_enqueued_at for s in stats if s.oldest_enqueued_at), default=None)
        age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        self.metrics.set_outbox(depth=sum(s.depth for s in stats), oldest_age_seconds=max(0.0, age))
