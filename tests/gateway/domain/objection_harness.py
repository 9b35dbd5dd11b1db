"""The harness the objection, repair and commitment tests share: a real ledger over a real
store, projecting with the gateway's handlers, and a clock the tests move to the instant each
statement is logged (deadlines and dated fields follow that day in China Standard Time)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from datetime import datetime

from creditlink.gateway.domain.handlers import default_handlers
from creditlink.gateway.domain.projection import Handler, Projection
from creditlink.gateway.ledger import Acknowledgement, Ledger
from creditlink.gateway.store import DomainObject, Store
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.tlog import NoteSigner
from creditlink.v1 import statement_pb2
from tests.gateway.objection_statements import HUB, at_china, submission

__all__ = ["ORIGIN", "ChinaClock", "accepted", "append", "get", "make_ledger"]

ORIGIN = "creditlink.test/cn-hub"


class ChinaClock:
    """The ledger's clock: tests move it to the instant a statement is logged."""

    def __init__(self, day: dt.date, hour: int = 10) -> None:
        self.now = at_china(day, hour)

    def __call__(self) -> datetime:
        return self.now

    def china(self, day: dt.date, hour: int = 10) -> None:
        self.now = at_china(day, hour)


def make_ledger(
    store: Store, clock: ChinaClock, handlers: Sequence[Handler] | None = None
) -> Ledger:
    """The hub's ledger on ``store``, projecting with ``handlers`` (the gateway's default)."""
    return Ledger(
        store=store,
        node_id=HUB,
        origin=ORIGIN,
        signing_key=PrivateKey.from_seed(b"s" * 32),
        checkpoint_signer=NoteSigner.from_seed(ORIGIN, b"n" * 32),
        clock=clock,
        projector=Projection(
            default_handlers() if handlers is None else handlers, log_origin=ORIGIN, node_id=HUB
        ),
    )


async def append(ledger: Ledger, *items: statement_pb2.Statement) -> Acknowledgement:
    """Log ``items`` as one submission (a batch when several)."""
    (ack,) = await ledger.append([submission(*items)])
    return ack


async def accepted(ledger: Ledger, *items: statement_pb2.Statement) -> Acknowledgement:
    """Log ``items``, which must be accepted."""
    ack = await append(ledger, *items)
    assert ack.error is None, ack.error
    return ack


async def get(store: Store, kind: str, object_id: str) -> DomainObject:
    """A domain object that must exist."""
    found = await store.get_object(kind, object_id)
    assert found is not None, (kind, object_id)
    return found
