"""Credit commitments and their fulfilment on real stores, through a real ledger.

A commitment made at a licensing window with incomplete materials is PENDING until assessed,
due on its due date; an assessment sets its status (the latest one wins); a breach must link
the untrustworthiness record the assessing node logged (before, or earlier in the same batch),
which is stamped with the commitment. Every refusal logs nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest

from creditlink.gateway.domain.handlers.commitments import BREACHED_FLAG
from creditlink.gateway.ledger import Ledger
from creditlink.gateway.store import DomainQuery, Store
from creditlink.sdk.errors import CreditlinkError
from creditlink.v1 import commitment_pb2, record_pb2, statement_pb2
from tests.gateway.domain.objection_harness import (
    ChinaClock,
    accepted,
    append,
    get,
    make_ledger,
)
from tests.gateway.objection_statements import (
    GD,
    HUB,
    NATIONAL,
    OTHER_SUBJECT,
    ZJ,
    commitment_statement,
    fulfilment_statement,
    record,
    record_statement,
)

D = dt.date
FS = commitment_pb2
MISSING_ID = "00000000-0000-4000-8000-000000000000"
MADE = D(2026, 2, 12)  # Thursday before the Spring Festival
DUE = D(2026, 2, 28)  # the adjusted working Saturday after it


@pytest.fixture
def clock() -> ChinaClock:
    return ChinaClock(MADE)


@pytest.fixture
def ledger(store: Store, clock: ChinaClock) -> Ledger:
    return make_ledger(store, clock)


async def refused(ledger: Ledger, store: Store, *items: statement_pb2.Statement) -> str:
    before = (await store.head()).size
    ack = await append(ledger, *items)
    assert ack.error is not None, "expected a refusal"
    assert (await store.head()).size == before, "a refused statement logged something"
    error: CreditlinkError = ack.error
    return error.reason


def at_window(**kw: object) -> statement_pb2.Statement:
    """Acceptance with missing materials, to be supplied by 28 February 2026."""
    kw.setdefault("made", MADE)
    kw.setdefault("kind", FS.COMMITMENT_TYPE_MISSING_MATERIALS)
    kw.setdefault("due", DUE)
    return commitment_statement(**kw)  # type: ignore[arg-type]


def breach_record(**kw: object) -> record_pb2.CreditRecord:
    """The untrustworthiness record a breach becomes (category credit commitment)."""
    out = record(decided=D(2026, 3, 2), **kw)  # type: ignore[arg-type]
    out.category = record_pb2.RECORD_CATEGORY_CREDIT_COMMITMENT
    out.ClearField("penalty")
    out.general.title = "未履行容缺受理承诺"
    out.general.content = "未在承诺期限内补齐食品经营许可申请材料。"
    return out


async def test_a_commitment_is_pending_until_assessed(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    statement = at_window()
    await accepted(ledger, statement)
    commitment_id = statement.commitment.commitment_id
    stored = await get(store, "commitment", commitment_id)
    assert stored.state == "FULFILMENT_STATUS_PENDING"
    assert stored.due_date == "2026-02-28"
    assert stored.subject_key == "91330100MA27XL0A6Q"
    assert stored.attrs["type"] == "COMMITMENT_TYPE_MISSING_MATERIALS"
    assert stored.attrs["accepting_authority_uscc"] == "11330100MB183543XG"
    assert [e.action for e in await store.object_events("commitment", commitment_id)] == ["COMMIT"]
    due = DomainQuery(
        kinds=["commitment"], states=["FULFILMENT_STATUS_PENDING"], due_before="2026-03-01"
    )
    assert [c.object_id for c in await store.query_objects(due)] == [commitment_id]

    clock.china(D(2026, 2, 27))
    await accepted(
        ledger,
        fulfilment_statement(
            commitment_id, FS.FULFILMENT_STATUS_FULFILLED, assessed=D(2026, 2, 27)
        ),
    )
    stored = await get(store, "commitment", commitment_id)
    assert stored.state == "FULFILMENT_STATUS_FULFILLED"
    assert stored.due_date is None
    assert commitment_pb2.CreditCommitment.FromString(stored.body).fulfilment_status == (
        FS.FULFILMENT_STATUS_FULFILLED
    )
    assert (stored.attrs["assessments"], stored.attrs["last_assessed_on"]) == (1, "2026-02-27")
    assert await store.query_objects(due) == []


async def test_a_breach_becomes_the_record_the_assessor_logged(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    statement = at_window()
    await accepted(ledger, statement)
    commitment_id = statement.commitment.commitment_id
    clock.china(D(2026, 3, 2))
    bare = fulfilment_statement(
        commitment_id, FS.FULFILMENT_STATUS_BREACHED, assessed=D(2026, 3, 2)
    )
    assert await refused(ledger, store, bare) == "BREACH_RECORD_REQUIRED"
    # A record that documents no untrustworthiness does not make a breach.
    benign = breach_record()
    benign.severity = record_pb2.SEVERITY_NOT_UNTRUSTWORTHY
    naming_benign = fulfilment_statement(
        commitment_id,
        FS.FULFILMENT_STATUS_BREACHED,
        assessed=D(2026, 3, 2),
        records=[benign.record_id],
    )
    assert await refused(ledger, store, record_statement(benign), naming_benign) == (
        "BREACH_RECORD_REQUIRED"
    )

    body = breach_record()
    breach = fulfilment_statement(
        commitment_id,
        FS.FULFILMENT_STATUS_BREACHED,
        assessed=D(2026, 3, 2),
        records=[body.record_id],
    )
    ack = await accepted(ledger, record_statement(body), breach)
    stored = await get(store, "commitment", commitment_id)
    assert stored.state == "FULFILMENT_STATUS_BREACHED"
    assert BREACHED_FLAG in stored.flags
    assert stored.attrs["resulting_record_ids"] == [body.record_id]
    linked = await get(store, "record", body.record_id)
    assert linked.state == "RECORD_STATUS_ACTIVE"
    assert linked.attrs["source_commitment_id"] == commitment_id
    assert linked.attrs["category"] == "RECORD_CATEGORY_CREDIT_COMMITMENT"
    assert linked.leaf_index == ack.first_leaf_index + 1
    assert [e.action for e in await store.object_events("record", body.record_id)] == [
        "CREATE",
        "LINK_COMMITMENT",
    ]
    breached = await store.query_objects(DomainQuery(kinds=["commitment"], flag=BREACHED_FLAG))
    assert [c.object_id for c in breached] == [commitment_id]

    # Materials supplied late: a later assessment sets the status; the record stays linked.
    clock.china(D(2026, 3, 9))
    await accepted(
        ledger,
        fulfilment_statement(
            commitment_id, FS.FULFILMENT_STATUS_PARTIALLY_FULFILLED, assessed=D(2026, 3, 9)
        ),
    )
    stored = await get(store, "commitment", commitment_id)
    assert stored.state == "FULFILMENT_STATUS_PARTIALLY_FULFILLED"
    assert BREACHED_FLAG not in stored.flags
    assert stored.attrs["assessments"] == 2
    assert stored.attrs["resulting_record_ids"] == [body.record_id]
    earlier = fulfilment_statement(
        commitment_id, FS.FULFILMENT_STATUS_FULFILLED, assessed=D(2026, 3, 3)
    )
    assert await refused(ledger, store, earlier) == "ASSESSMENT_OUT_OF_ORDER"


async def test_a_breach_record_logged_earlier_may_be_linked(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    statement = at_window()
    await accepted(ledger, statement)
    clock.china(D(2026, 3, 2))
    body = breach_record()
    await accepted(ledger, record_statement(body))
    clock.china(D(2026, 3, 3))
    await accepted(
        ledger,
        fulfilment_statement(
            statement.commitment.commitment_id,
            FS.FULFILMENT_STATUS_BREACHED,
            assessed=D(2026, 3, 3),
            records=[body.record_id],
        ),
    )
    assert (await get(store, "record", body.record_id)).attrs["source_commitment_id"] == (
        statement.commitment.commitment_id
    )


async def test_commitment_refusals_log_nothing(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    first = at_window()
    await accepted(ledger, first)
    again = at_window(commitment_id=first.commitment.commitment_id)
    assert await refused(ledger, store, again) == "COMMITMENT_EXISTS"
    assessed = at_window()
    assessed.commitment.fulfilment_status = FS.FULFILMENT_STATUS_FULFILLED
    assert await refused(ledger, store, assessed) == "INVALID_INITIAL_STATUS"
    assert await refused(ledger, store, at_window(made=D(2026, 2, 13))) == "MADE_IN_FUTURE"
    assert await refused(ledger, store, at_window(due=D(2026, 2, 11))) == "INVALID_DUE_DATE"
    impossible = at_window()
    impossible.commitment.due_date.day = 30  # 30 February
    assert await refused(ledger, store, impossible) == "INVALID_DATE"


async def test_fulfilment_refusals_log_nothing(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    statement = at_window()
    await accepted(ledger, statement)
    commitment_id = statement.commitment.commitment_id
    clock.china(D(2026, 3, 2))
    mine = breach_record()
    theirs = breach_record(uscc=OTHER_SUBJECT)
    foreign = breach_record(authority_uscc=NATIONAL)
    await accepted(ledger, record_statement(mine))
    await accepted(ledger, record_statement(theirs))
    await accepted(ledger, record_statement(foreign, sender=GD))

    def assessing(
        status: int = FS.FULFILMENT_STATUS_BREACHED, **kw: object
    ) -> statement_pb2.Statement:
        kw.setdefault("assessed", D(2026, 3, 2))
        return fulfilment_statement(commitment_id, status, **kw)  # type: ignore[arg-type]

    assert (
        await refused(
            ledger,
            store,
            fulfilment_statement(
                MISSING_ID, FS.FULFILMENT_STATUS_FULFILLED, assessed=D(2026, 3, 2)
            ),
        )
        == "COMMITMENT_NOT_FOUND"
    )
    assert (
        await refused(
            ledger, store, assessing(records=[mine.record_id], assessing=NATIONAL, sender=GD)
        )
        == "NOT_ASSESSING_AUTHORITY"
    )
    assert (
        await refused(ledger, store, assessing(records=[mine.record_id], assessed=D(2026, 2, 11)))
        == "ASSESSED_BEFORE_MADE"
    )
    assert (
        await refused(ledger, store, assessing(records=[mine.record_id], assessed=D(2026, 3, 3)))
        == "ASSESSED_IN_FUTURE"
    )
    assert (
        await refused(ledger, store, assessing(records=[mine.record_id, mine.record_id]))
        == "DUPLICATE_RECORD"
    )
    assert await refused(ledger, store, assessing(records=[MISSING_ID])) == (
        "RESULTING_RECORD_NOT_FOUND"
    )
    assert await refused(ledger, store, assessing(records=[theirs.record_id])) == (
        "RESULTING_RECORD_SUBJECT_MISMATCH"
    )
    assert await refused(ledger, store, assessing(records=[foreign.record_id])) == (
        "RESULTING_RECORD_FOREIGN"
    )
    assert (await get(store, "commitment", commitment_id)).state == "FULFILMENT_STATUS_PENDING"


async def test_who_may_assess(ledger: Ledger, store: Store, clock: ChinaClock) -> None:
    # The node that logged the commitment may assess it, naming another authority...
    statement = at_window()
    await accepted(ledger, statement)
    clock.china(D(2026, 3, 2))
    await accepted(
        ledger,
        fulfilment_statement(
            statement.commitment.commitment_id,
            FS.FULFILMENT_STATUS_FULFILLED,
            assessed=D(2026, 3, 2),
            assessing=NATIONAL,
        ),
    )
    # ...and a voluntary commitment to society (no accepting authority) any publishing node.
    voluntary = at_window(accepting=None, kind=FS.COMMITMENT_TYPE_VOLUNTARY, due=None)
    await accepted(ledger, voluntary)
    assert (await get(store, "commitment", voluntary.commitment.commitment_id)).due_date is None
    await accepted(
        ledger,
        fulfilment_statement(
            voluntary.commitment.commitment_id,
            FS.FULFILMENT_STATUS_FULFILLED,
            assessed=D(2026, 3, 2),
            assessing=NATIONAL,
            sender=HUB,
        ),
    )
    stored = await get(store, "commitment", voluntary.commitment.commitment_id)
    assert (stored.state, stored.attrs["assessed_by"]) == ("FULFILMENT_STATUS_FULFILLED", HUB)
    assert stored.origin_node_id == ZJ
