"""A real hub serving RecordService for record tests: mutual TLS, real intake, ledger and store.

Like :func:`tests.gateway.services.conftest.serve`, plus what the record service needs: a
ledger that projects ``record`` and ``record-correction`` statements, and the service
registered the way the node registers domain services (``register(server, ctx)``). The ledger
and the service share a :class:`Clock` the test sets: the day a record is logged decides
whether it was published on time, and "today" whether it is still published. Signatures,
seals and their freshness use the real time.

:func:`running_in_thread` runs the same gateway on its own event loop in a thread, for
blocking clients (the SDK's ``Client`` and the CLI).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from creditlink.gateway.bootstrap import DevFederation
from creditlink.gateway.domain.handlers.records import record_handlers
from creditlink.gateway.services import records
from creditlink.sdk import envelope
from creditlink.sdk.batch import sign_batch
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.seal import (
    ENVELOPE_CONTENT_TYPE,
    SIGNED_BATCH_CONTENT_TYPE,
    Recipient,
    seal,
)
from creditlink.v1 import record_pb2, statement_pb2
from tests.gateway.services.conftest import HUB
from tests.gateway.services.hub_gateway import HubGateway, in_thread, serve_hub

__all__ = [
    "Clock",
    "RecordsGateway",
    "make_statement",
    "running_in_thread",
    "sealed_batch_of",
    "sealed_statement",
    "serve_records",
]


class Clock:
    """The gateway's clock (ledger and service): tests move it to a day in China time."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 3, 20, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def china(self, year: int, month: int, day: int, hour: int = 10) -> None:
        """``hour`` o'clock on that day in China Standard Time (UTC+8)."""
        self.now = datetime(year, month, day, hour, tzinfo=UTC) - timedelta(hours=8)


#: A hub with RecordService (and ExchangeService, for the SDK's bulk path).
RecordsGateway = HubGateway


def serve_records(
    federation: DevFederation, store_url: str, *, clock: Clock | None = None
) -> AsyncIterator[RecordsGateway]:
    """Run the hub until the caller is done with it."""
    return serve_hub(
        federation,
        store_url,
        clock=clock or Clock(),
        handlers=record_handlers(),
        services=(records.register,),
    )


@contextlib.contextmanager
def running_in_thread(
    federation: DevFederation, store_url: str, *, clock: Clock | None = None
) -> Iterator[RecordsGateway]:
    """:func:`serve_records` on an event loop of its own, for blocking callers."""
    with in_thread(lambda: serve_records(federation, store_url, clock=clock)) as gateway:
        yield gateway


def make_statement(
    sender: str,
    body: record_pb2.CreditRecord | record_pb2.RecordCorrection,
    *,
    recipients: Sequence[str] = (HUB,),
    request_id: str | None = None,
) -> statement_pb2.Statement:
    """A statement carrying ``body`` (a record or a correction) from ``sender``."""
    out = statement_pb2.Statement()
    out.header.message_id = str(uuid.uuid4())
    out.header.sender_node_id = sender
    out.header.recipient_node_ids.extend(recipients)
    out.header.created_at.FromDatetime(datetime.now(UTC))
    out.header.request_id = request_id or str(uuid.uuid4())
    if isinstance(body, record_pb2.CreditRecord):
        out.record.CopyFrom(body)
    else:
        out.record_correction.CopyFrom(body)
    return out


def sealed_statement(creds: Credentials, to: str, body: statement_pb2.Statement) -> bytes:
    """Sign ``body`` with the payload type of its kind and seal it to ``to``."""
    signed = envelope.sign(
        body.SerializeToString(), envelope.payload_type_for(_kind(body)), [creds.signing_key]
    )
    key = creds.trust_bundle.sealing_key(to, at=datetime.now(UTC)).public_key
    return seal(
        signed.to_bytes(),
        content_type=ENVELOPE_CONTENT_TYPE,
        sender_node_id=creds.node_id,
        recipients=[Recipient(node_id=to, key=key)],  # type: ignore[arg-type]
    ).to_bytes()


def sealed_batch_of(
    creds: Credentials, to: str, bodies: Sequence[statement_pb2.Statement], *, batch_id: str
) -> bytes:
    """Sign ``bodies`` as one batch, each item with the payload type of its kind, and seal it."""
    items = [(b.SerializeToString(), envelope.payload_type_for(_kind(b))) for b in bodies]
    signed = sign_batch(
        items,
        creds.signing_key,
        signer_node_id=creds.node_id,
        batch_id=batch_id,
        signed_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    key = creds.trust_bundle.sealing_key(to, at=datetime.now(UTC)).public_key
    return seal(
        signed.to_bytes(),
        content_type=SIGNED_BATCH_CONTENT_TYPE,
        sender_node_id=creds.node_id,
        recipients=[Recipient(node_id=to, key=key)],  # type: ignore[arg-type]
    ).to_bytes()


def _kind(body: statement_pb2.Statement) -> str:
    return (body.WhichOneof("body") or "").replace("_", "-")
