"""A real hub serving ObjectionService (with RecordService and NameListService) for tests.

Mutual TLS, the real intake, ledger and store (``store_url``), the error interceptor, and the
gateway's default handlers projecting the log; services registered the way the node registers
them (``register(server, ctx)``). The ledger and the services share a :class:`Clock` the test
sets: the day a statement is logged decides deadlines and which dated fields are in the future.
Signatures, seals and their freshness use the real time.

:func:`running_in_thread` runs the same gateway on its own event loop in a thread, for blocking
callers (the CLI).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc

from creditlink.gateway.auth import peer_identity
from creditlink.gateway.bootstrap import DevFederation
from creditlink.gateway.domain.handlers import default_handlers
from creditlink.gateway.domain.projection import Projection
from creditlink.gateway.errors import ErrorInterceptor
from creditlink.gateway.intake import Intake
from creditlink.gateway.ledger import Ledger
from creditlink.gateway.services import name_lists, objections, records
from creditlink.gateway.services.exchange import ExchangeServicer
from creditlink.gateway.services.pipeline import ServiceContext
from creditlink.gateway.store import Store, open_store
from creditlink.sdk import envelope
from creditlink.sdk.batch import sign_batch
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.seal import (
    ENVELOPE_CONTENT_TYPE,
    SIGNED_BATCH_CONTENT_TYPE,
    Recipient,
    seal,
)
from creditlink.v1 import envelope_pb2, exchange_service_pb2_grpc, statement_pb2
from tests.gateway.objection_statements import at_china, kind_of
from tests.gateway.services.conftest import HUB, TrustHolder

__all__ = ["Clock", "ObjectionGateway", "running_in_thread", "sealed", "serve_objections"]


class Clock:
    """The gateway's clock (ledger and services): tests move it to a day in China time."""

    def __init__(self, day: dt.date = dt.date(2026, 3, 10)) -> None:
        self.now = at_china(day)

    def __call__(self) -> datetime:
        return self.now

    def china(self, day: dt.date, hour: int = 10) -> None:
        self.now = at_china(day, hour)


@dataclass
class ObjectionGateway:
    """A running hub with ObjectionService, RecordService, NameListService and Exchange."""

    address: str
    federation: DevFederation
    trust: TrustHolder
    store: Store
    ledger: Ledger
    clock: Clock

    def channel(self, creds: Credentials | grpc.ChannelCredentials) -> grpc.aio.Channel:
        if isinstance(creds, Credentials):
            creds = creds.channel_credentials()
        return grpc.aio.secure_channel(self.address, creds)

    def creds(self, node_id: str) -> Credentials:
        return self.federation.node(node_id).credentials


async def serve_objections(
    federation: DevFederation, store_url: str, *, clock: Clock | None = None
) -> AsyncIterator[ObjectionGateway]:
    """Run the hub until the caller is done with it."""
    hub = federation.node(HUB).credentials
    assert hub.checkpoint_key is not None
    trust = TrustHolder(hub.trust_bundle)
    clock = clock or Clock()
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
        projector=Projection(default_handlers(), log_origin=origin),
    )
    exchange = ExchangeServicer(
        intake=Intake(node_id=HUB, trust=trust, sealing_keys=[hub.sealing_key]),
        ledger=ledger,
        store=store,
        trust=trust,
        identify=peer_identity,
    )
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    exchange_service_pb2_grpc.add_ExchangeServiceServicer_to_server(exchange, server)
    context = ServiceContext(
        node_id=HUB,
        log_origin=origin,
        pipeline=exchange.pipeline,
        store=store,
        trust=trust,
        identify=peer_identity,
        clock=clock,
    )
    names = [m.register(server, context) for m in (records, name_lists, objections)]
    assert names[-1] == "creditlink.v1.ObjectionService"
    port = server.add_secure_port("127.0.0.1:0", hub.server_credentials())
    await server.start()
    try:
        yield ObjectionGateway(
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


@contextlib.contextmanager
def running_in_thread(
    federation: DevFederation, store_url: str, *, clock: Clock | None = None
) -> Iterator[ObjectionGateway]:
    """:func:`serve_objections` on an event loop of its own, for blocking callers."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[ObjectionGateway] = loop.create_future()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async for gateway in serve_objections(federation, store_url, clock=clock):
                ready.set_result(gateway)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(timeout=30)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()


async def _wait(future: asyncio.Future[ObjectionGateway]) -> ObjectionGateway:
    return await future


def sealed(
    creds: Credentials, bodies: Sequence[statement_pb2.Statement]
) -> tuple[str, envelope_pb2.SealedEnvelope]:
    """``bodies`` signed by ``creds`` (one envelope, or one batch) and sealed to every recipient
    the first one names; with the request id to send (the header's, or the batch id)."""
    recipients = list(bodies[0].header.recipient_node_ids)
    now = datetime.now(UTC)
    keys = [
        Recipient(node_id=n, key=creds.trust_bundle.sealing_key(n, at=now).public_key)  # type: ignore[arg-type]
        for n in recipients
    ]
    if len(bodies) == 1:
        (body,) = bodies
        signed = envelope.sign(
            body.SerializeToString(), envelope.payload_type_for(kind_of(body)), [creds.signing_key]
        )
        data = seal(
            signed.to_bytes(),
            content_type=ENVELOPE_CONTENT_TYPE,
            sender_node_id=creds.node_id,
            recipients=keys,
        ).to_bytes()
        return body.header.request_id, envelope_pb2.SealedEnvelope.FromString(data)
    batch_id = str(uuid.uuid4())
    batch = sign_batch(
        [(b.SerializeToString(), envelope.payload_type_for(kind_of(b))) for b in bodies],
        creds.signing_key,
        signer_node_id=creds.node_id,
        batch_id=batch_id,
        signed_at=now - dt.timedelta(seconds=1),
    )
    data = seal(
        batch.to_bytes(),
        content_type=SIGNED_BATCH_CONTENT_TYPE,
        sender_node_id=creds.node_id,
        recipients=keys,
    ).to_bytes()
    return batch_id, envelope_pb2.SealedEnvelope.FromString(data)
