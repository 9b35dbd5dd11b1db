"""Objections as a projection of the log: the objection handlers on a real ledger and stores.

Every test runs on SQLite and PostgreSQL through a real :class:`Ledger` projecting with the
gateway's default handlers (records and name lists included: an objection changes their
objects). Covers filing (the disputed marker on records and the lifecycle move of name-list
entries), every refusal (each logs nothing), response deadlines on real dates around the 2026
Spring Festival and National Day and into 2027, and every resolution: rejected, withdrawn,
upheld by a correction or a revocation in the same batch, upheld by a derived entry removal,
partially upheld, and the notification rule.
"""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import UTC, datetime

import pytest

from creditlink.gateway.domain.calendar import WorkingDayCalendar
from creditlink.gateway.domain.handlers.name_lists import (
    ENTRY_KIND,
    PERSONAL_KIND,
    body_of,
    name_list_handlers,
    personal_object_id,
)
from creditlink.gateway.domain.handlers.objections import (
    DISPUTED,
    OPEN_IDS,
    PRIOR_STATE,
    objection_handlers,
)
from creditlink.gateway.domain.handlers.records import record_handlers
from creditlink.gateway.ledger import Ledger
from creditlink.gateway.store import DomainQuery, Store
from creditlink.sdk.errors import CreditlinkError
from creditlink.v1 import name_list_pb2, objection_pb2, record_pb2, statement_pb2
from tests.gateway.domain.objection_harness import (
    ChinaClock,
    accepted,
    append,
    get,
    make_ledger,
)
from tests.gateway.domain.test_calendar import TABLE_2027
from tests.gateway.domain.test_evaluations import _evaluation as evaluation_submission
from tests.gateway.listings import LEGAL_REP, entry_statement, transition_statement
from tests.gateway.objection_statements import (
    GD,
    HUB,
    NATIONAL,
    OTHER_SUBJECT,
    ZJ,
    at_china,
    correction_statement,
    objection_statement,
    record,
    record_statement,
    resolution_statement,
    submission,
)

D = dt.date
OS = objection_pb2
UNKNOWN_2027 = not WorkingDayCalendar().knows(2027)
L, UO, R = "NAME_LIST_STATE_LISTED", "NAME_LIST_STATE_UNDER_OBJECTION", "NAME_LIST_STATE_RECTIFYING"


@pytest.fixture
def clock() -> ChinaClock:
    return ChinaClock(D(2026, 1, 20))


def calendar_ledger(
    store: Store, clock: ChinaClock, calendar: WorkingDayCalendar | None = None
) -> Ledger:
    """The hub's ledger; with ``calendar``, deadlines count on it (an operator's table)."""
    if calendar is None:
        return make_ledger(store, clock)
    return make_ledger(
        store,
        clock,
        [
            *record_handlers(calendar=calendar),
            *name_list_handlers(),
            *objection_handlers(calendar=calendar),
        ],
    )


@pytest.fixture
def ledger(store: Store, clock: ChinaClock) -> Ledger:
    return calendar_ledger(store, clock)


async def refused(ledger: Ledger, store: Store, *items: statement_pb2.Statement) -> CreditlinkError:
    before = (await store.head()).size
    ack = await append(ledger, *items)
    assert ack.error is not None, "expected a refusal"
    assert (await store.head()).size == before, "a refused statement logged something"
    return ack.error


async def published(ledger: Ledger, clock: ChinaClock, **kw: object) -> str:
    """A penalty record published (logged) on 20 January 2026; its id."""
    clock.china(D(2026, 1, 20))
    body = record(**kw)  # type: ignore[arg-type]
    await accepted(ledger, record_statement(body))
    return body.record_id


async def listed(ledger: Ledger, clock: ChinaClock, **kw: object) -> str:
    """A serious-untrustworthy listing by the hub (national authority); its entry id."""
    clock.china(D(2026, 3, 9))
    statement = entry_statement(HUB, recipients=(HUB,), **kw)  # type: ignore[arg-type]
    await accepted(ledger, statement)
    return statement.name_list_entry.entry_id


def filing(
    targets: list[tuple[str, str]], filed: dt.date, due: dt.date, **kw: object
) -> statement_pb2.Statement:
    return objection_statement(targets, filed=at_china(filed, 9), due=due, **kw)  # type: ignore[arg-type]


# --- filing -----------------------------------------------------------------------------------


async def test_filing_marks_the_record_disputed_deadline_after_spring_festival(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    clock.china(D(2026, 1, 27))
    # 20 days from Tuesday 27 January 2026 end on Monday 16 February, inside the Spring
    # Festival holiday (15-23 February): the deadline moves to Tuesday 24 February.
    statement = filing([("record", record_id)], D(2026, 1, 27), D(2026, 2, 24))
    ack = await accepted(ledger, statement)
    objection_id = statement.objection.objection_id

    objection = await get(store, "objection", objection_id)
    assert objection.state == "OBJECTION_STATUS_OPEN"
    assert objection.due_date == "2026-02-24"
    assert objection.subject_key == "91330100MA27XL0A6Q"
    assert objection.origin_node_id == ZJ
    assert objection.attrs["ruleset_id"] == "cn-gov-2025-22"
    assert objection.attrs["computed_deadline"] == "2026-02-24"
    assert objection.attrs["deadline_provisional"] is False
    assert objection.attrs["target_ids"] == [f"record:{record_id}"]
    assert objection.attrs["type"] == "OBJECTION_TYPE_ERROR"
    assert OS.Objection.FromString(objection.body).status == OS.OBJECTION_STATUS_OPEN

    target = await get(store, "record", record_id)
    assert DISPUTED in target.flags
    assert target.attrs[OPEN_IDS] == [objection_id]
    assert target.state == "RECORD_STATUS_ACTIVE"
    assert target.leaf_index == ack.first_leaf_index
    events = await store.object_events("record", record_id)
    assert [e.action for e in events] == ["CREATE", "DISPUTE"]
    assert [e.action for e in await store.object_events("objection", objection_id)] == ["FILE"]

    # Overdue handling is listable: due before 25 February, not before 24 February.
    def overdue(day: str) -> DomainQuery:
        return DomainQuery(kinds=["objection"], states=["OBJECTION_STATUS_OPEN"], due_before=day)

    assert [o.object_id for o in await store.query_objects(overdue("2026-02-25"))] == [objection_id]
    assert await store.query_objects(overdue("2026-02-24")) == []
    disputed = await store.query_objects(DomainQuery(kinds=["record"], flag=DISPUTED))
    assert [o.object_id for o in disputed] == [record_id]


async def test_deadline_on_national_day_adjusted_saturday(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    clock.china(D(2026, 9, 20))
    # 20 days from Sunday 20 September end on Saturday 10 October 2026, an adjusted working
    # day after the National Day holiday (1-7 October): the deadline stays there.
    statement = filing([("record", record_id)], D(2026, 9, 20), D(2026, 10, 10))
    await accepted(ledger, statement)
    objection = await get(store, "objection", statement.objection.objection_id)
    assert objection.due_date == "2026-10-10"
    assert objection.attrs["ruleset_id"] == "cn-ndrc-2026"
    # Filed on 17 September, day 20 is 7 October (holiday): Thursday 8 October.
    clock.china(D(2026, 9, 17))
    early = filing([("record", record_id)], D(2026, 9, 17), D(2026, 10, 9))
    error = await refused(ledger, store, early)
    assert error.reason == "RESPONSE_DEADLINE_TOO_LATE"
    assert "2026-10-08" in error.message


@pytest.mark.skipif(not UNKNOWN_2027, reason="the installed chinesecalendar knows 2027")
async def test_deadline_into_2027_is_provisional_and_the_platforms_date_stands(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    clock.china(D(2026, 12, 20))
    # Day 20 is Saturday 9 January 2027; without the 2027 schedule only weekends are days off:
    # Monday 11 January, provisional. A platform that knows the schedule may give a later day.
    statement = filing([("record", record_id)], D(2026, 12, 20), D(2027, 1, 12))
    await accepted(ledger, statement)
    objection = await get(store, "objection", statement.objection.objection_id)
    assert objection.attrs["computed_deadline"] == "2027-01-11"
    assert objection.due_date == "2027-01-12"
    assert objection.attrs["signed_deadline"] == "2027-01-12"
    assert objection.attrs["deadline_provisional"] is False  # the platform's date is in force
    # One that takes the gateway's own provisional date says so.
    second = filing([("record", record_id)], D(2026, 12, 20), D(2027, 1, 11))
    await accepted(ledger, second)
    objection = await get(store, "objection", second.objection.objection_id)
    assert objection.due_date == "2027-01-11"
    assert objection.attrs["deadline_provisional"] is True
    assert "2027" in str(objection.attrs["deadline_note"])


async def test_deadline_into_2027_with_the_operators_schedule(
    store: Store, clock: ChinaClock
) -> None:
    ledger = calendar_ledger(store, clock, WorkingDayCalendar.from_mapping(TABLE_2027))
    record_id = await published(ledger, clock)
    clock.china(D(2026, 12, 20))
    late = filing([("record", record_id)], D(2026, 12, 20), D(2027, 1, 12))
    assert (await refused(ledger, store, late)).reason == "RESPONSE_DEADLINE_TOO_LATE"
    exact = filing([("record", record_id)], D(2026, 12, 20), D(2027, 1, 11))
    await accepted(ledger, exact)
    objection = await get(store, "objection", exact.objection.objection_id)
    assert (objection.due_date, objection.attrs["deadline_provisional"]) == ("2027-01-11", False)


async def test_an_earlier_signed_deadline_is_the_one_in_force(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    clock.china(D(2026, 1, 27))
    statement = filing([("record", record_id)], D(2026, 1, 27), D(2026, 2, 10))
    await accepted(ledger, statement)
    objection = await get(store, "objection", statement.objection.objection_id)
    assert (objection.due_date, objection.attrs["computed_deadline"]) == (
        "2026-02-10",
        "2026-02-24",
    )


async def test_filing_refusals_log_nothing(ledger: Ledger, store: Store, clock: ChinaClock) -> None:
    record_id = await published(ledger, clock)
    other_id = await published(ledger, clock, uscc=OTHER_SUBJECT)
    clock.china(D(2026, 3, 10))
    due = D(2026, 3, 30)

    def reason_of(error: CreditlinkError) -> str:
        return error.reason

    missing = filing([("record", "00000000-0000-4000-8000-000000000000")], D(2026, 3, 10), due)
    assert reason_of(await refused(ledger, store, missing)) == "TARGET_NOT_FOUND"
    foreign = filing([("record", other_id)], D(2026, 3, 10), due)
    assert reason_of(await refused(ledger, store, foreign)) == "TARGET_SUBJECT_MISMATCH"
    twice = filing([("record", record_id), ("record", record_id)], D(2026, 3, 10), due)
    assert reason_of(await refused(ledger, store, twice)) == "DUPLICATE_TARGET"
    future = filing([("record", record_id)], D(2026, 3, 11), D(2026, 3, 31))
    assert reason_of(await refused(ledger, store, future)) == "FILED_IN_FUTURE"
    backwards = filing([("record", record_id)], D(2026, 3, 10), D(2026, 3, 9))
    assert reason_of(await refused(ledger, store, backwards)) == "RESPONSE_DEADLINE_INVALID"
    resolved = filing([("record", record_id)], D(2026, 3, 10), due)
    resolved.objection.status = OS.OBJECTION_STATUS_REJECTED
    assert reason_of(await refused(ledger, store, resolved)) == "INVALID_INITIAL_STATUS"

    first = filing([("record", record_id)], D(2026, 3, 10), due)
    await accepted(ledger, first)
    again = filing(
        [("record", record_id)], D(2026, 3, 10), due, objection_id=first.objection.objection_id
    )
    assert reason_of(await refused(ledger, store, again)) == "OBJECTION_EXISTS"

    revoke = correction_statement(other_id, record_pb2.CORRECTION_KIND_REVOKE)
    await accepted(ledger, revoke)
    closed = filing([("record", other_id)], D(2026, 3, 10), due, uscc=OTHER_SUBJECT)
    assert reason_of(await refused(ledger, store, closed)) == "TARGET_CLOSED"
    # None of the refused ones touched the record.
    target = await get(store, "record", record_id)
    assert target.attrs[OPEN_IDS] == [first.objection.objection_id]


async def test_an_omission_needs_no_target(ledger: Ledger, store: Store, clock: ChinaClock) -> None:
    clock.china(D(2026, 3, 10))
    statement = filing([], D(2026, 3, 10), D(2026, 3, 30), kind=OS.OBJECTION_TYPE_OMISSION)
    await accepted(ledger, statement)
    objection = await get(store, "objection", statement.objection.objection_id)
    assert objection.attrs["target_ids"] == []


# --- resolution -------------------------------------------------------------------------------


async def file_against_record(ledger: Ledger, clock: ChinaClock, record_id: str) -> str:
    clock.china(D(2026, 3, 10))
    statement = filing([("record", record_id)], D(2026, 3, 10), D(2026, 3, 30))
    await accepted(ledger, statement)
    return statement.objection.objection_id


async def test_rejected_releases_the_record_and_a_second_resolution_is_refused(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    objection_id = await file_against_record(ledger, clock, record_id)
    clock.china(D(2026, 3, 20))
    resolution = resolution_statement(
        objection_id, OS.OBJECTION_STATUS_REJECTED, resolved=at_china(D(2026, 3, 20))
    )
    await accepted(ledger, resolution)

    objection = await get(store, "objection", objection_id)
    assert objection.state == "OBJECTION_STATUS_REJECTED"
    assert objection.due_date is None
    body = OS.Objection.FromString(objection.body)
    assert body.status == OS.OBJECTION_STATUS_REJECTED
    assert body.resolution.objection_id == objection_id
    assert objection.attrs["target_effects"] == [f"record:{record_id}=RELEASED"]
    assert objection.attrs["notified_node_ids"] == [HUB, ZJ]
    assert objection.attrs["resolved_on"] == "2026-03-20"
    target = await get(store, "record", record_id)
    assert DISPUTED not in target.flags
    assert target.attrs[OPEN_IDS] == []
    assert target.state == "RECORD_STATUS_ACTIVE"
    assert [e.action for e in await store.object_events("record", record_id)] == [
        "CREATE",
        "DISPUTE",
        "RELEASE",
    ]
    assert [e.action for e in await store.object_events("objection", objection_id)] == [
        "FILE",
        "REJECTED",
    ]
    again = resolution_statement(
        objection_id, OS.OBJECTION_STATUS_UPHELD, resolved=at_china(D(2026, 3, 20))
    )
    assert (await refused(ledger, store, again)).reason == "OBJECTION_ALREADY_RESOLVED"


async def test_the_record_stays_disputed_while_any_objection_is_open(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    first = await file_against_record(ledger, clock, record_id)
    second = await file_against_record(ledger, clock, record_id)
    assert (await get(store, "record", record_id)).attrs[OPEN_IDS] == [first, second]
    clock.china(D(2026, 3, 20))
    await accepted(
        ledger,
        resolution_statement(first, OS.OBJECTION_STATUS_REJECTED, resolved=clock.now),
    )
    target = await get(store, "record", record_id)
    assert DISPUTED in target.flags
    assert target.attrs[OPEN_IDS] == [second]
    await accepted(
        ledger,
        resolution_statement(second, OS.OBJECTION_STATUS_WITHDRAWN, resolved=clock.now),
    )
    assert DISPUTED not in (await get(store, "record", record_id)).flags


async def test_upheld_deleted_revokes_the_record_in_one_batch(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    objection_id = await file_against_record(ledger, clock, record_id)
    clock.china(D(2026, 3, 20))
    revoke = correction_statement(
        record_id, record_pb2.CORRECTION_KIND_REVOKE, objection_id=objection_id
    )
    resolution = resolution_statement(
        objection_id,
        OS.OBJECTION_STATUS_UPHELD,
        resolved=clock.now,
        corrections=[revoke.header.message_id],
    )
    await accepted(ledger, revoke, resolution)
    target = await get(store, "record", record_id)
    assert target.state == "RECORD_STATUS_REVOKED"
    assert DISPUTED not in target.flags
    objection = await get(store, "objection", objection_id)
    assert objection.state == "OBJECTION_STATUS_UPHELD"
    assert objection.attrs["target_effects"] == [f"record:{record_id}=DELETED"]
    assert objection.attrs["correction_message_ids"] == [revoke.header.message_id]


async def test_upheld_corrected_carries_the_next_revision(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    clock.china(D(2026, 1, 20))
    original = record()
    created = record_statement(original)
    await accepted(ledger, created)
    objection_id = await file_against_record(ledger, clock, original.record_id)
    clock.china(D(2026, 3, 20))
    revised = record_pb2.CreditRecord()
    revised.CopyFrom(original)
    revised.revision = 2
    revised.previous_revision_message_id = created.header.message_id
    revised.penalty.fine_amount = "3"
    correct = correction_statement(
        original.record_id,
        record_pb2.CORRECTION_KIND_CORRECT,
        objection_id=objection_id,
        replacement=revised,
    )
    resolution = resolution_statement(
        objection_id,
        OS.OBJECTION_STATUS_UPHELD,
        resolved=clock.now,
        corrections=[correct.header.message_id],
    )
    await accepted(ledger, correct, resolution)
    target = await get(store, "record", original.record_id)
    assert target.attrs["revision"] == 2
    assert record_pb2.CreditRecord.FromString(target.body).penalty.fine_amount == "3"
    assert DISPUTED not in target.flags
    objection = await get(store, "objection", objection_id)
    assert objection.attrs["target_effects"] == [f"record:{original.record_id}=CORRECTED"]


async def test_upheld_past_its_period_ends_publication(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    clock.china(D(2026, 3, 10))
    statement = filing(
        [("record", record_id)],
        D(2026, 3, 10),
        D(2026, 3, 30),
        kind=OS.OBJECTION_TYPE_PUBLISHED_PAST_PERIOD,
    )
    await accepted(ledger, statement)
    objection_id = statement.objection.objection_id
    clock.china(D(2026, 3, 20))
    expire = correction_statement(
        record_id, record_pb2.CORRECTION_KIND_EXPIRE, objection_id=objection_id
    )
    resolution = resolution_statement(
        objection_id,
        OS.OBJECTION_STATUS_UPHELD,
        resolved=clock.now,
        corrections=[expire.header.message_id],
    )
    await accepted(ledger, expire, resolution)
    assert (await get(store, "record", record_id)).state == "RECORD_STATUS_EXPIRED"
    objection = await get(store, "objection", objection_id)
    assert objection.attrs["target_effects"] == [f"record:{record_id}=EXPIRED"]


async def test_upheld_needs_the_correction_and_its_message_id(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    objection_id = await file_against_record(ledger, clock, record_id)
    clock.china(D(2026, 3, 20))
    bare = resolution_statement(objection_id, OS.OBJECTION_STATUS_UPHELD, resolved=clock.now)
    assert (await refused(ledger, store, bare)).reason == "CORRECTION_MISSING"
    # A correction that does not name the objection does not carry it out.
    unrelated = correction_statement(record_id, record_pb2.CORRECTION_KIND_REVOKE)
    named = resolution_statement(
        objection_id,
        OS.OBJECTION_STATUS_UPHELD,
        resolved=clock.now,
        corrections=[unrelated.header.message_id],
    )
    error = await refused(ledger, store, unrelated, named)
    assert error.reason == "CORRECTION_MISSING"
    assert error.message.startswith("item 1:")
    revoke = correction_statement(
        record_id, record_pb2.CORRECTION_KIND_REVOKE, objection_id=objection_id
    )
    unnamed = resolution_statement(objection_id, OS.OBJECTION_STATUS_UPHELD, resolved=clock.now)
    assert (await refused(ledger, store, revoke, unnamed)).reason == "CORRECTIONS_NOT_NAMED"
    # The record is untouched by all of it.
    target = await get(store, "record", record_id)
    assert (target.state, DISPUTED in target.flags) == ("RECORD_STATUS_ACTIVE", True)


async def test_who_may_resolve_and_who_must_hear_of_it(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    objection_id = await file_against_record(ledger, clock, record_id)
    clock.china(D(2026, 3, 20))
    now = clock.now
    unknown = resolution_statement(
        "00000000-0000-4000-8000-000000000000", OS.OBJECTION_STATUS_REJECTED, resolved=now
    )
    assert (await refused(ledger, store, unknown)).reason == "OBJECTION_NOT_FOUND"
    stranger = resolution_statement(
        objection_id, OS.OBJECTION_STATUS_REJECTED, resolved=now, handling=NATIONAL, sender=HUB
    )
    assert (await refused(ledger, store, stranger)).reason == "NOT_HANDLING_AUTHORITY"
    early = resolution_statement(
        objection_id, OS.OBJECTION_STATUS_REJECTED, resolved=at_china(D(2026, 3, 9))
    )
    assert (await refused(ledger, store, early)).reason == "RESOLVED_BEFORE_FILED"
    # Signed by the hub for the handling authority, but not addressed to Zhejiang, which
    # accepted the objection and published the record.
    unheard = resolution_statement(
        objection_id, OS.OBJECTION_STATUS_REJECTED, resolved=now, sender=HUB, recipients=(HUB,)
    )
    error = await refused(ledger, store, unheard)
    assert error.reason == "RECIPIENTS_MISSING"
    assert ZJ in error.message
    heard = resolution_statement(
        objection_id,
        OS.OBJECTION_STATUS_REJECTED,
        resolved=now,
        sender=HUB,
        recipients=(HUB, ZJ, GD),
    )
    await accepted(ledger, heard)
    objection = await get(store, "objection", objection_id)
    assert objection.attrs["resolved_by"] == HUB
    assert objection.attrs["notified_node_ids"] == [HUB, ZJ, GD]


async def test_the_accepting_platform_may_record_a_withdrawal(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    objection_id = await file_against_record(ledger, clock, record_id)
    clock.china(D(2026, 3, 12))
    # Zhejiang's platform, not acting for the handling authority, records the withdrawal...
    withdrawal = resolution_statement(
        objection_id, OS.OBJECTION_STATUS_WITHDRAWN, resolved=clock.now, handling=NATIONAL
    )
    await accepted(ledger, withdrawal)
    assert (await get(store, "objection", objection_id)).state == "OBJECTION_STATUS_WITHDRAWN"
    # ...but may not decide one in the authority's place.
    second = await file_against_record(ledger, clock, record_id)
    clock.china(D(2026, 3, 12))
    decided = resolution_statement(
        second, OS.OBJECTION_STATUS_REJECTED, resolved=clock.now, handling=NATIONAL
    )
    assert (await refused(ledger, store, decided)).reason == "NOT_HANDLING_AUTHORITY"


async def test_filed_and_resolved_in_one_batch(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    clock.china(D(2026, 3, 10))
    statement = filing([("record", record_id)], D(2026, 3, 10), D(2026, 3, 30))
    resolution = resolution_statement(
        statement.objection.objection_id, OS.OBJECTION_STATUS_WITHDRAWN, resolved=clock.now
    )
    await accepted(ledger, statement, resolution)
    assert DISPUTED not in (await get(store, "record", record_id)).flags


# --- name-list entries ------------------------------------------------------------------------


async def test_an_entry_goes_under_objection_and_back_to_listed(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    entry_id = await listed(ledger, clock)
    clock.china(D(2026, 3, 10))
    statement = filing(
        [("name-list-entry", entry_id)], D(2026, 3, 10), D(2026, 3, 30), handling=NATIONAL
    )
    await accepted(ledger, statement)
    objection_id = statement.objection.objection_id
    entry = await get(store, ENTRY_KIND, entry_id)
    assert entry.state == UO
    assert DISPUTED in entry.flags
    assert (entry.attrs[OPEN_IDS], entry.attrs[PRIOR_STATE]) == ([objection_id], L)
    change = body_of(entry).transitions[-1]
    assert change.reason_code == name_list_pb2.TRANSITION_REASON_OBJECTION_FILED
    assert change.related_id == objection_id
    personal = await get(store, PERSONAL_KIND, personal_object_id(entry_id, LEGAL_REP))
    assert (personal.state, DISPUTED in personal.flags) == (UO, True)

    clock.china(D(2026, 3, 20))
    await accepted(
        ledger,
        resolution_statement(
            objection_id,
            OS.OBJECTION_STATUS_REJECTED,
            resolved=clock.now,
            handling=NATIONAL,
            sender=HUB,
        ),
    )
    entry = await get(store, ENTRY_KIND, entry_id)
    assert entry.state == L
    assert DISPUTED not in entry.flags
    assert PRIOR_STATE not in entry.attrs
    assert body_of(entry).transitions[-1].reason_code == (
        name_list_pb2.TRANSITION_REASON_OBJECTION_REJECTED
    )
    personal = await get(store, PERSONAL_KIND, personal_object_id(entry_id, LEGAL_REP))
    assert (personal.state, DISPUTED in personal.flags) == (L, False)
    actions = [e.action for e in await store.object_events(ENTRY_KIND, entry_id)]
    assert actions == ["LISTED", "LISTED->UNDER_OBJECTION", "UNDER_OBJECTION->LISTED"]


async def test_upheld_against_an_entry_removes_it(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    entry_id = await listed(ledger, clock)
    clock.china(D(2026, 3, 10))
    statement = filing(
        [("name-list-entry", entry_id)], D(2026, 3, 10), D(2026, 3, 30), handling=NATIONAL
    )
    await accepted(ledger, statement)
    clock.china(D(2026, 3, 20))
    await accepted(
        ledger,
        resolution_statement(
            statement.objection.objection_id,
            OS.OBJECTION_STATUS_UPHELD,
            resolved=clock.now,
            handling=NATIONAL,
            sender=HUB,
        ),
    )
    entry = await get(store, ENTRY_KIND, entry_id)
    assert entry.state == "NAME_LIST_STATE_REMOVED"
    assert DISPUTED not in entry.flags
    assert body_of(entry).transitions[-1].reason_code == (
        name_list_pb2.TRANSITION_REASON_OBJECTION_UPHELD
    )
    objection = await get(store, "objection", statement.objection.objection_id)
    assert objection.attrs["target_effects"] == [f"name-list-entry:{entry_id}=REMOVED"]
    # A removed entry can no longer be objected to.
    again = filing(
        [("name-list-entry", entry_id)], D(2026, 3, 20), D(2026, 4, 9), handling=NATIONAL
    )
    assert (await refused(ledger, store, again)).reason == "TARGET_CLOSED"


async def test_an_explicit_transition_in_the_batch_carries_out_the_outcome(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    entry_id = await listed(ledger, clock)
    clock.china(D(2026, 3, 10))
    statement = filing(
        [("name-list-entry", entry_id)], D(2026, 3, 10), D(2026, 3, 30), handling=NATIONAL
    )
    await accepted(ledger, statement)
    objection_id = statement.objection.objection_id
    clock.china(D(2026, 3, 20))
    # The determining node moves the entry to rectification instead of removing it.
    move = transition_statement(
        HUB,
        entry_id,
        name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION,
        name_list_pb2.NAME_LIST_STATE_RECTIFYING,
        reason_code=name_list_pb2.TRANSITION_REASON_RECTIFICATION_STARTED,
        deadline="2026-04-20",
        recipients=(HUB,),
    )
    move.name_list_transition.related_id = objection_id
    resolution = resolution_statement(
        objection_id,
        OS.OBJECTION_STATUS_PARTIALLY_UPHELD,
        resolved=clock.now,
        handling=NATIONAL,
        sender=HUB,
        corrections=[move.header.message_id],
    )
    await accepted(ledger, move, resolution)
    entry = await get(store, ENTRY_KIND, entry_id)
    assert (entry.state, entry.due_date) == (R, "2026-04-20")
    assert DISPUTED not in entry.flags
    objection = await get(store, "objection", objection_id)
    assert objection.attrs["target_effects"] == [f"name-list-entry:{entry_id}=RECTIFYING"]


async def test_an_entry_under_rectification_returns_to_it_with_its_deadline(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    entry_id = await listed(ledger, clock)
    clock.china(D(2026, 3, 10))
    rectify = transition_statement(
        HUB,
        entry_id,
        name_list_pb2.NAME_LIST_STATE_LISTED,
        name_list_pb2.NAME_LIST_STATE_RECTIFYING,
        reason_code=name_list_pb2.TRANSITION_REASON_RECTIFICATION_STARTED,
        deadline="2026-05-29",
        recipients=(HUB,),
    )
    await accepted(ledger, rectify)
    statement = filing(
        [("name-list-entry", entry_id)], D(2026, 3, 10), D(2026, 3, 30), handling=NATIONAL
    )
    await accepted(ledger, statement)
    second = filing(
        [("name-list-entry", entry_id)], D(2026, 3, 10), D(2026, 3, 30), handling=NATIONAL
    )
    await accepted(ledger, second)  # already UNDER_OBJECTION: only the id is added
    entry = await get(store, ENTRY_KIND, entry_id)
    assert (entry.state, entry.attrs[PRIOR_STATE]) == (UO, R)
    assert len(entry.attrs[OPEN_IDS]) == 2  # type: ignore[arg-type]
    clock.china(D(2026, 3, 20))
    for objection_id in (statement.objection.objection_id, second.objection.objection_id):
        await accepted(
            ledger,
            resolution_statement(
                objection_id,
                OS.OBJECTION_STATUS_REJECTED,
                resolved=clock.now,
                handling=NATIONAL,
                sender=HUB,
            ),
        )
        entry = await get(store, ENTRY_KIND, entry_id)
        if objection_id == statement.objection.objection_id:
            assert (entry.state, DISPUTED in entry.flags) == (UO, True)
    assert (entry.state, entry.due_date) == (R, "2026-05-29")
    assert DISPUTED not in entry.flags


async def test_partially_upheld_revokes_one_and_releases_the_other(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    kept = await published(ledger, clock)
    wrong = await published(ledger, clock)
    clock.china(D(2026, 3, 10))
    statement = filing(
        [("record", kept), ("record", wrong)],
        D(2026, 3, 10),
        D(2026, 3, 30),
        kind=OS.OBJECTION_TYPE_DUPLICATE,
    )
    await accepted(ledger, statement)
    objection_id = statement.objection.objection_id
    clock.china(D(2026, 3, 20))
    bare = resolution_statement(
        objection_id, OS.OBJECTION_STATUS_PARTIALLY_UPHELD, resolved=clock.now
    )
    assert (await refused(ledger, store, bare)).reason == "CORRECTION_MISSING"
    revoke = correction_statement(
        wrong, record_pb2.CORRECTION_KIND_REVOKE, objection_id=objection_id
    )
    resolution = resolution_statement(
        objection_id,
        OS.OBJECTION_STATUS_PARTIALLY_UPHELD,
        resolved=clock.now,
        corrections=[revoke.header.message_id],
    )
    await accepted(ledger, revoke, resolution)
    assert (await get(store, "record", wrong)).state == "RECORD_STATUS_REVOKED"
    released = await get(store, "record", kept)
    assert (released.state, DISPUTED in released.flags) == ("RECORD_STATUS_ACTIVE", False)
    objection = await get(store, "objection", objection_id)
    assert objection.attrs["target_effects"] == [
        f"record:{kept}=RELEASED",
        f"record:{wrong}=DELETED",
    ]


async def test_reads_after_is_fetched_for_the_whole_append(store: Store, clock: ChinaClock) -> None:
    """Two resolutions of different objections in one append both see their targets."""
    ledger = make_ledger(store, clock)
    first_record = await published(ledger, clock)
    second_record = await published(ledger, clock)
    first = await file_against_record(ledger, clock, first_record)
    second = await file_against_record(ledger, clock, second_record)
    clock.china(D(2026, 3, 20))
    acks = await ledger.append(
        [
            submission(
                resolution_statement(first, OS.OBJECTION_STATUS_REJECTED, resolved=clock.now)
            ),
            submission(
                resolution_statement(second, OS.OBJECTION_STATUS_REJECTED, resolved=clock.now)
            ),
        ]
    )
    assert [a.error for a in acks] == [None, None]
    for record_id in (first_record, second_record):
        assert DISPUTED not in (await get(store, "record", record_id)).flags


def test_statement_times_are_in_utc() -> None:
    assert at_china(D(2026, 3, 10), 9) == datetime(2026, 3, 10, 1, tzinfo=UTC)


# --- evaluations ------------------------------------------------------------------------------

EVALUATOR = "11330000002482071R"


async def test_an_evaluation_is_disputed_until_superseded(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    clock.china(D(2026, 3, 9))
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    (ack,) = await ledger.append([evaluation_submission(first)])
    assert ack.error is None
    clock.china(D(2026, 3, 10))
    statement = filing([("evaluation", first)], D(2026, 3, 10), D(2026, 3, 30), handling=EVALUATOR)
    await accepted(ledger, statement)
    objection_id = statement.objection.objection_id
    evaluation = await get(store, "evaluation", first)
    assert (evaluation.state, DISPUTED in evaluation.flags) == ("CURRENT", True)

    clock.china(D(2026, 3, 20))
    bare = resolution_statement(
        objection_id, OS.OBJECTION_STATUS_UPHELD, resolved=clock.now, handling=EVALUATOR
    )
    assert (await refused(ledger, store, bare)).reason == "CORRECTION_MISSING"
    superseding = evaluation_submission(second, supersedes=first)
    (ack,) = await ledger.append([superseding])
    assert ack.error is None
    resolution = resolution_statement(
        objection_id,
        OS.OBJECTION_STATUS_UPHELD,
        resolved=clock.now,
        handling=EVALUATOR,
        corrections=[superseding.message_id],
    )
    await accepted(ledger, resolution)
    evaluation = await get(store, "evaluation", first)
    assert (evaluation.state, DISPUTED in evaluation.flags) == ("SUPERSEDED", False)
    objection = await get(store, "objection", objection_id)
    assert objection.attrs["target_effects"] == [f"evaluation:{first}=SUPERSEDED"]
    # A superseded evaluation is no longer objected to.
    again = filing([("evaluation", first)], D(2026, 3, 20), D(2026, 4, 9), handling=EVALUATOR)
    assert (await refused(ledger, store, again)).reason == "TARGET_CLOSED"
