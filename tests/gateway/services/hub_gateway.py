"""A real hub serving ExchangeService and chosen domain services, for service and CLI tests.

Mutual TLS, the real intake, ledger and store (``store_url``), the error interceptor, the
given handlers projecting the log, and services registered the way the node registers them
(``register(server, ctx)``). Ledger and services share the test's clock (deadlines and dated
fields follow the day a statement is logged); signatures, seals and freshness use real time.
:func:`in_thread` runs a hub on an event loop of its own, for blocking callers (the CLI).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc

from creditlink.gateway.auth import peer_identity
from creditlink.gateway.bootstrap import DevFederation
from creditlink.gateway.config import GatewayConfig
from creditlink.gateway.domain.projection import Handler, Projection
from creditlink.gateway.errors import ErrorInterceptor
from creditlink.gateway.intake import Intake
from creditlink.gateway.ledger import Ledger
from creditlink.gateway.node import GatewayNode
from creditlink.gateway.services.exchange import ExchangeServicer
from creditlink.gateway.services.pipeline import ServiceContext
from creditlink.gateway.services.registry import Register
from creditlink.gateway.store import Store, open_store, sqlite_url
from creditlink.sdk.credentials import Credentials
from tests.gateway.services.conftest import HUB, TrustHolder

__all__ = ["HubGateway", "in_thread", "serve_hub", "serve_node"]

G = TypeVar("G")


@dataclass
class HubGateway:
    """A running hub: where it listens and the parts a test inspects or steers."""

    address: str
    federation: DevFederation
    trust: TrustHolder
    store: Store
    ledger: Ledger
    #: The clock the test set (any callable returning an aware datetime; tests move it).
    clock: Any

    def channel(self, creds: Credentials | grpc.ChannelCredentials) -> grpc.aio.Channel:
        if isinstance(creds, Credentials):
            creds = creds.channel_credentials()
        return grpc.aio.secure_channel(self.address, creds)

    def creds(self, node_id: str) -> Credentials:
        return self.federation.node(node_id).credentials


async def serve_hub(
    federation: DevFederation,
    store_url: str,
    *,
    clock: Callable[[], datetime],
    handlers: Iterable[Handler],
    services: Sequence[Register],
) -> AsyncIterator[HubGateway]:
    """Run the hub until the caller is done with it; ``services`` are ``register`` functions."""
    hub = federation.node(HUB).credentials
    assert hub.checkpoint_key is not None
    trust = TrustHolder(hub.trust_bundle)
    store = open_store(store_url)
    await store.open()
    origin = hub.node.log_origin
    ledger = Ledger(
        store=store,
        node_id=HUB,
        origin=origin,
        signing_key=hub.signing_key,
        checkpoint_signer=hub.checkpoint_key,
        clock=clock,
        projector=Projection(handlers, log_origin=origin, node_id=HUB),
    )
    exchange = ExchangeServicer(
        intake=Intake(node_id=HUB, trust=trust, sealing_keys=[hub.sealing_key]),
        ledger=ledger,
        store=store,
        trust=trust,
        identify=peer_identity,
    )
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    exchange.add_to_server(server)
    context = ServiceContext(
        node_id=HUB,
        log_origin=origin,
        pipeline=exchange.pipeline,
        store=store,
        trust=trust,
        identify=peer_identity,
        clock=clock,
    )
    for register in services:
        register(server, context)
    port = server.add_secure_port("127.0.0.1:0", hub.server_credentials())
    await server.start()
    try:
        yield HubGateway(
            address=f"127.0.0.1:{port}",
            federation=federation,
            trust=trust,
            store=store,
            ledger=ledger,
            clock=clock,
        )
    finally:
        await server.stop(None)
        await store.close()


async def serve_node(
    federation: DevFederation, node_id: str, store_url: str, data_dir: Path
) -> AsyncIterator[GatewayNode]:
    """A whole :class:`GatewayNode` of the federation (every service, intake in place) on a
    free loopback port, until the caller is done with it."""
    member = federation.node(node_id)
    config = GatewayConfig(
        node_id=node_id,
        data_dir=data_dir,
        credentials_dir=member.credentials.directory,
        store_url=store_url if "://" in store_url else sqlite_url(store_url),
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        intake_workers=0,
    )
    node = GatewayNode(config, member.credentials)
    await node.start()
    try:
        yield node
    finally:
        await node.stop(0)


@contextlib.contextmanager
def in_thread(serve: Callable[[], AsyncIterator[G]]) -> Iterator[G]:
    """Run ``serve()`` (e.g. a :func:`serve_hub`) on an event loop of its own, in a thread."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[G] = loop.create_future()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async for gateway in serve():
                ready.set_result(gateway)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def wait() -> G:
        return await ready

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(wait(), loop).result(timeout=30)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
