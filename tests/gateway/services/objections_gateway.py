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

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime

from creditlink.gateway.bootstrap import DevFederation
from creditlink.gateway.domain.handlers import default_handlers
from creditlink.gateway.services import name_lists, objections, records
from creditlink.sdk import envelope
from creditlink.sdk.batch import sign_batch
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.seal import (
    ENVELOPE_CONTENT_TYPE,
    SIGNED_BATCH_CONTENT_TYPE,
    Recipient,
    seal,
)
from creditlink.v1 import envelope_pb2, statement_pb2
from tests.gateway.objection_statements import at_china, kind_of
from tests.gateway.services.hub_gateway import HubGateway, in_thread, serve_hub

__all__ = ["Clock", "ObjectionGateway", "running_in_thread", "sealed", "serve_objections"]


class Clock:
    """The gateway's clock (ledger and services): tests move it to a day in China time."""

    def __init__(self, day: dt.date = dt.date(2026, 3, 10)) -> None:
        self.now = at_china(day)

    def __call__(self) -> datetime:
        return self.now

    def china(self, day: dt.date, hour: int = 10) -> None:
        self.now = at_china(day, hour)


#: A hub with ObjectionService, RecordService, NameListService and Exchange.
ObjectionGateway = HubGateway


def serve_objections(
    federation: DevFederation, store_url: str, *, clock: Clock | None = None
) -> AsyncIterator[ObjectionGateway]:
    """Run the hub until the caller is done with it."""
    return serve_hub(
        federation,
        store_url,
        clock=clock or Clock(),
        handlers=default_handlers(),
        services=(records.register, name_lists.register, objections.register),
    )


@contextlib.contextmanager
def running_in_thread(
    federation: DevFederation, store_url: str, *, clock: Clock | None = None
) -> Iterator[ObjectionGateway]:
    """:func:`serve_objections` on an event loop of its own, for blocking callers."""
    with in_thread(lambda: serve_objections(federation, store_url, clock=clock)) as gateway:
        yield gateway


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
