"""Credit records as a projection of the log: the record handlers on a real ledger and stores.

Every test runs on SQLite and PostgreSQL through a real :class:`Ledger` whose clock the test
sets (the day a record is logged decides whether it was published on time). Covers creation,
the revision chain and each refusal (which logs nothing), corrections, revocation and end of
publication with their history, publication deadlines on real 2026 dates (Spring Festival,
National Day, a December decision whose deadline falls in 2027) and publication ends from the
rulesets.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from creditlink.gateway.domain.calendar import WorkingDayCalendar
from creditlink.gateway.domain.handlers import default_handlers
from creditlink.gateway.domain.handlers.records import (
    ACTIVE,
    EXPIRED,
    OVERDUE,
    REVOKED,
    china_date,
    date_pb,
    derived_status,
    record_handlers,
)
from creditlink.gateway.domain.projection import Projection
from creditlink.gateway.ledger import Acknowledgement, BatchInfo, Ledger, LedgerEntry, Submission
from creditlink.gateway.store import DomainChanges, DomainObject, Store
from creditlink.sdk import envelope
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.tlog import NoteSigner
from creditlink.v1 import record_pb2, statement_pb2
from tests.gateway.domain.test_calendar import TABLE_2027
from tests.gateway.statements import penalty_record

ORIGIN = "creditlink.test/cn-hub"
HUB, ZJ, GD = "cn-hub", "zj-330000", "gd-440000"
UNKNOWN_2027 = not WorkingDayCalendar().knows(2027)
D = dt.date
MARCH_2 = D(2026, 3, 2)


class Clock:
    """The ledger's clock: tests move it to the instant a statement is logged."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def china(self, day: dt.date, hour: int = 10) -> None:
        """Log at ``hour`` o'clock China time on ``day`` (UTC+8)."""
        self.now = datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - dt.timedelta(hours=8)


# --- statements and submissions ---------------------------------------------------------------


def record(
    *,
    decided: dt.date = MARCH_2,
    category: int = record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY,
    severity: int = record_pb2.SEVERITY_GENERAL,
    publication_end: dt.date | None = None,
    uscc: str = "91330100MA27XL0A6Q",
) -> record_pb2.CreditRecord:
    """A penalty record (or, with ``category``, a record of another category) decided then."""
    out = penalty_record(uscc=uscc)
    out.decision_date.CopyFrom(date_pb(decided))
    out.severity = severity  # type: ignore[assignment]
    if publication_end is not None:
        out.publication_end.CopyFrom(date_pb(publication_end))
    if category != record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY:
        out.category = category  # type: ignore[assignment]
        out.ClearField("penalty")
        out.general.title = "示例事项"
    return out


def statement(sender: str = ZJ, **body: object) -> statement_pb2.Statement:
    out = statement_pb2.Statement(**body)  # type: ignore[arg-type]
    out.header.message_id = str(uuid.uuid4())
    out.header.sender_node_id = sender
    out.header.recipient_node_ids.append(HUB)
    out.header.created_at.FromDatetime(datetime.now(UTC))
    out.header.request_id = str(uuid.uuid4())
    return out


def next_revision(
    current: record_pb2.CreditRecord, previous_message_id: str
) -> record_pb2.CreditRecord:
    out = record_pb2.CreditRecord()
    out.CopyFrom(current)
    out.revision = current.revision + 1
    out.previous_revision_message_id = previous_message_id
    return out


def correction(
    record_id: str,
    kind: int,
    *,
    replacement: record_pb2.CreditRecord | None = None,
    reason_code: int = record_pb2.CORRECTION_REASON_AUTHORITY_ERROR,
    reason: str = "罚款金额录入错误",
    authority_uscc: str = "11330100MB183543XG",
) -> record_pb2.RecordCorrection:
    out = record_pb2.RecordCorrection(
        record_id=record_id,
        kind=kind,  # type: ignore[arg-type]
        reason_code=reason_code,  # type: ignore[arg-type]
        reason=reason,
    )
    if replacement is not None:
        out.record.CopyFrom(replacement)
    out.authority.name = "杭州市市场监督管理局"
    out.authority.uscc = authority_uscc
    out.effective_date.CopyFrom(date_pb(D(2026, 3, 20)))
    return out


def _entry(item: statement_pb2.Statement, batched: bool) -> LedgerEntry:
    kind = (item.WhichOneof("body") or "").replace("_", "-")
    subject = item.record.subject.uscc if kind == "record" else None
    return LedgerEntry(
        message_id=item.header.message_id,
        kind=kind,
        sender_node_id=item.header.sender_node_id,
        payload_type=envelope.payload_type_for(kind),
        payload=item.SerializeToString(),
        envelope=None if batched else b"env",
        subject_key=subject,
    )


def submission(*items: statement_pb2.Statement) -> Submission:
    """One statement, or several as one batch (as the intake would hand them over)."""
    batched = len(items) > 1
    message_id = str(uuid.uuid4()) if batched else items[0].header.message_id
    return Submission(
        message_id=message_id,
        request_digest=hashlib.sha256(message_id.encode()).digest(),
        sender_node_id=items[0].header.sender_node_id,
        payload_type=_entry(items[0], batched).payload_type,
        payload_digest=bytes(32),
        entries=[_entry(i, batched) for i in items],
        batch=BatchInfo(batch_id=message_id, head_envelope=b"head") if batched else None,
    )


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_ledger(
    store: Store, clock: Callable[[], datetime], calendar: WorkingDayCalendar | None = None
) -> Ledger:
    return Ledger(
        store=store,
        node_id=HUB,
        origin=ORIGIN,
        signing_key=PrivateKey.from_seed(b"s" * 32),
        checkpoint_signer=NoteSigner.from_seed(ORIGIN, b"n" * 32),
        clock=clock,
        projector=Projection(record_handlers(calendar=calendar), log_origin=ORIGIN),
    )


@pytest.fixture
def ledger(store: Store, clock: Clock) -> Ledger:
    return make_ledger(store, clock)


async def append(ledger: Ledger, *items: statement_pb2.Statement) -> Acknowledgement:
    (ack,) = await ledger.append([submission(*items)])
    return ack


async def accepted(ledger: Ledger, *items: statement_pb2.Statement) -> Acknowledgement:
    ack = await append(ledger, *items)
    assert ack.error is None, ack.error
    return ack


async def refused(ledger: Ledger, store: Store, *items: statement_pb2.Statement) -> str:
    """Append, expect a refusal that logged nothing; return its reason."""
    size = (await store.head()).size
    ack = await append(ledger, *items)
    assert ack.error is not None, "accepted"
    assert (await store.head()).size == size
    return ack.error.reason


async def stored(store: Store, record_id: str) -> DomainObject:
    obj = await store.get_object("record", record_id)
    assert obj is not None
    return obj


# --- creation -------------------------------------------------------------------------------


def test_the_gateway_projects_records_by_default() -> None:
    kinds = {h.kind for h in default_handlers()}
    assert {"record", "record-correction"} <= kinds


async def test_revision_1_creates_the_record(ledger: Ledger, store: Store, clock: Clock) -> None:
    body = record()
    item = statement(record=body)
    clock.china(D(2026, 3, 9))
    await accepted(ledger, item)

    obj = await stored(store, body.record_id)
    assert (obj.kind, obj.state, obj.subject_key) == ("record", ACTIVE, "91330100MA27XL0A6Q")
    assert record_pb2.CreditRecord.FromString(obj.body) == body
    assert (obj.origin_node_id, obj.log_origin, obj.created_leaf, obj.leaf_index) == (
        ZJ,
        ORIGIN,
        0,
        0,
    )
    assert obj.attrs == {
        "revision": 1,
        "message_id": item.header.message_id,
        "revision_leaves": [0],
        "category": "RECORD_CATEGORY_ADMINISTRATIVE_PENALTY",
        "severity": "SEVERITY_GENERAL",
        "decision_date": "2026-03-02",
        "region_code": "330100",
        "authority_uscc": "11330100MB183543XG",
        "published_on": "2026-03-09",
        # 7 working days after Monday 2 March 2026.
        "publication_deadline": "2026-03-11",
        "deadline_provisional": False,
        "deadline_note": None,
        # General untrustworthiness under GO 2025 No. 22 (in force on the decision date):
        # 3 months to 1 year.
        "ruleset_id": "cn-gov-2025-22",
        "minimum_publication_end": "2026-06-02",
        "ruleset_publication_end": "2027-03-02",
        "declared_publication_end": None,
        "publication_end": "2027-03-02",
    }
    assert obj.flags == frozenset()
    assert obj.due_date == "2027-03-02"
    (event,) = await store.object_events("record", body.record_id)
    assert (event.action, event.actor_node_id, event.message_id, event.leaf_index) == (
        "CREATE",
        ZJ,
        item.header.message_id,
        0,
    )


async def test_a_record_id_is_created_once(ledger: Ledger, store: Store) -> None:
    body = record()
    await accepted(ledger, statement(record=body))
    assert await refused(ledger, store, statement(record=body)) == "RECORD_ALREADY_EXISTS"


async def test_a_batch_with_one_refused_record_is_refused_whole(
    ledger: Ledger, store: Store
) -> None:
    first, twin = record(), record()
    twin.record_id = first.record_id
    items = [statement(record=record()), statement(record=first), statement(record=twin)]
    ack = await append(ledger, *items)
    assert ack.error is not None
    assert ack.error.reason == "RECORD_ALREADY_EXISTS"
    assert ack.error.message.startswith("item 2:")
    assert (await store.head()).size == 0
    assert await store.get_object("record", first.record_id) is None


async def test_a_date_that_does_not_exist_is_refused(ledger: Ledger, store: Store) -> None:
    body = record()
    body.decision_date.month, body.decision_date.day = 2, 30
    assert await refused(ledger, store, statement(record=body)) == "INVALID_DATE"


async def test_a_signed_revision_must_be_active(ledger: Ledger, store: Store) -> None:
    body = record()
    body.status = record_pb2.RECORD_STATUS_REVOKED
    assert await refused(ledger, store, statement(record=body)) == "RECORD_STATUS_NOT_ACTIVE"


# --- the revision chain ---------------------------------------------------------------------


async def test_a_correction_writes_the_next_revision_and_keeps_the_history(
    ledger: Ledger, store: Store, clock: Clock
) -> None:
    first = record()
    created = statement(record=first)
    clock.china(D(2026, 3, 9))
    await accepted(ledger, created)
    second = next_revision(first, created.header.message_id)
    second.penalty.fine_amount = "3"
    corrected = statement(
        record_correction=correction(
            first.record_id, record_pb2.CORRECTION_KIND_CORRECT, replacement=second
        )
    )
    clock.china(D(2026, 3, 20))
    await accepted(ledger, corrected)

    obj = await stored(store, first.record_id)
    assert record_pb2.CreditRecord.FromString(obj.body) == second
    assert obj.state == ACTIVE
    assert obj.attrs["revision"] == 2
    assert obj.attrs["message_id"] == corrected.header.message_id
    assert obj.attrs["revision_leaves"] == [0, 1]
    # Published when revision 1 was logged, whatever the day of the correction.
    assert obj.attrs["published_on"] == "2026-03-09"
    assert obj.attrs["correction_kind"] == "CORRECTION_KIND_CORRECT"
    assert obj.attrs["correction_reason_code"] == "CORRECTION_REASON_AUTHORITY_ERROR"
    assert obj.attrs["correction_effective_date"] == "2026-03-20"
    assert (obj.created_leaf, obj.leaf_index) == (0, 1)

    # Revoked next: the content stays revision 2, the state and history change.
    revoked = statement(
        record_correction=correction(
            first.record_id,
            record_pb2.CORRECTION_KIND_REVOKE,
            reason_code=record_pb2.CORRECTION_REASON_DECISION_CHANGED,
            reason="行政复议决定撤销原处罚决定",
        )
    )
    await accepted(ledger, revoked)
    obj = await stored(store, first.record_id)
    assert obj.state == REVOKED
    assert obj.due_date is None
    assert record_pb2.CreditRecord.FromString(obj.body) == second
    assert obj.attrs["revision"] == 2
    assert obj.attrs["revision_leaves"] == [0, 1]
    events = await store.object_events("record", first.record_id)
    assert [(e.action, e.leaf_index, e.reason) for e in events] == [
        ("CREATE", 0, ""),
        ("CORRECT", 1, "CORRECTION_REASON_AUTHORITY_ERROR: 罚款金额录入错误"),
        ("REVOKE", 2, "CORRECTION_REASON_DECISION_CHANGED: 行政复议决定撤销原处罚决定"),
    ]
    # The earlier revision is still in the log, exactly as signed.
    entry = await store.get_entry(0)
    assert entry is not None
    assert statement_pb2.Statement.FromString(entry.payload).record == first

    # Nothing changes a revoked record.
    third = next_revision(second, corrected.header.message_id)
    for change in (
        correction(first.record_id, record_pb2.CORRECTION_KIND_CORRECT, replacement=third),
        correction(first.record_id, record_pb2.CORRECTION_KIND_REVOKE),
        correction(first.record_id, record_pb2.CORRECTION_KIND_EXPIRE),
    ):
        reason = await refused(ledger, store, statement(record_correction=change))
        assert reason == "RECORD_REVOKED"


def _bad_chains(
    first: record_pb2.CreditRecord, message_id: str
) -> dict[str, tuple[record_pb2.CreditRecord, str]]:
    skipped = next_revision(first, message_id)
    skipped.revision = 3
    unlinked = next_revision(first, str(uuid.uuid4()))
    other_subject = next_revision(first, message_id)
    other_subject.subject.uscc = "91110000600037341L"
    inactive = next_revision(first, message_id)
    inactive.status = record_pb2.RECORD_STATUS_EXPIRED
    return {
        "skipped revision": (skipped, "REVISION_OUT_OF_ORDER"),
        "same revision again": (first, "REVISION_OUT_OF_ORDER"),
        "wrong previous message": (unlinked, "REVISION_CHAIN_BROKEN"),
        "other subject": (other_subject, "SUBJECT_CHANGED"),
        "status set by the publisher": (inactive, "RECORD_STATUS_NOT_ACTIVE"),
    }


@pytest.mark.parametrize("via", ["record-correction", "record"])
async def test_a_revision_that_does_not_chain_is_refused(
    ledger: Ledger, store: Store, via: str
) -> None:
    first = record()
    created = statement(record=first)
    await accepted(ledger, created)
    for name, (revision, reason) in _bad_chains(first, created.header.message_id).items():
        if via == "record":
            if revision.revision == 1:
                continue  # revision 1 in a record statement is a creation (tested above)
            item = statement(record=revision)
        else:
            item = statement(
                record_correction=correction(
                    first.record_id, record_pb2.CORRECTION_KIND_CORRECT, replacement=revision
                )
            )
        assert await refused(ledger, store, item) == reason, name
    obj = await stored(store, first.record_id)
    assert obj.attrs["revision"] == 1
    assert len(await store.object_events("record", first.record_id)) == 1


async def test_a_record_statement_at_a_later_revision_revises_when_it_chains(
    ledger: Ledger, store: Store
) -> None:
    first = record()
    created = statement(record=first)
    await accepted(ledger, created)
    second = next_revision(first, created.header.message_id)
    second.subject.display_name = "杭州某某科技股份有限公司"  # a name may change, the code not
    await accepted(ledger, statement(record=second))
    obj = await stored(store, first.record_id)
    assert obj.attrs["revision"] == 2
    events = await store.object_events("record", first.record_id)
    assert [e.action for e in events] == ["CREATE", "REVISE"]


async def test_corrections_of_unknown_or_mismatched_records_are_refused(
    ledger: Ledger, store: Store
) -> None:
    first = record()
    created = statement(record=first)
    await accepted(ledger, created)
    stranger = record()
    unknown = correction(stranger.record_id, record_pb2.CORRECTION_KIND_REVOKE)
    assert await refused(ledger, store, statement(record_correction=unknown)) == "RECORD_NOT_FOUND"
    orphan = next_revision(stranger, created.header.message_id)
    assert await refused(ledger, store, statement(record=orphan)) == "RECORD_NOT_FOUND"
    mismatched = correction(
        first.record_id,
        record_pb2.CORRECTION_KIND_CORRECT,
        replacement=next_revision(stranger, created.header.message_id),
    )
    reason = await refused(ledger, store, statement(record_correction=mismatched))
    assert reason == "RECORD_ID_MISMATCH"


async def test_only_the_publisher_or_a_node_acting_for_the_authority_changes_a_record(
    ledger: Ledger, store: Store
) -> None:
    first = record()
    await accepted(ledger, statement(record=first))
    # Guangdong's platform, naming another authority: neither publisher nor acting for it.
    foreign = correction(
        first.record_id, record_pb2.CORRECTION_KIND_REVOKE, authority_uscc="11440300MB2C920853"
    )
    reason = await refused(ledger, store, statement(GD, record_correction=foreign))
    assert reason == "NOT_RECORD_PUBLISHER"
    # The hub, acting for the deciding authority.
    acting = correction(first.record_id, record_pb2.CORRECTION_KIND_EXPIRE)
    await accepted(ledger, statement(HUB, record_correction=acting))
    obj = await stored(store, first.record_id)
    assert obj.state == EXPIRED
    assert obj.origin_node_id == ZJ  # still Zhejiang's record
    events = await store.object_events("record", first.record_id)
    assert [(e.action, e.actor_node_id) for e in events] == [("CREATE", ZJ), ("EXPIRE", HUB)]


async def test_end_of_publication_once_and_corrections_keep_the_state(
    ledger: Ledger, store: Store
) -> None:
    first = record()
    created = statement(record=first)
    await accepted(ledger, created)
    expire = correction(
        first.record_id,
        record_pb2.CORRECTION_KIND_EXPIRE,
        reason_code=record_pb2.CORRECTION_REASON_PUBLICATION_PERIOD_ENDED,
        reason="公示期满",
    )
    await accepted(ledger, statement(record_correction=expire))
    obj = await stored(store, first.record_id)
    assert (obj.state, obj.due_date) == (EXPIRED, None)
    again = statement(record_correction=expire)
    assert await refused(ledger, store, again) == "RECORD_NOT_ACTIVE"
    # A correction of the content of an expired record keeps it expired.
    second = next_revision(first, created.header.message_id)
    second.remarks = "更正备注"
    fix = correction(first.record_id, record_pb2.CORRECTION_KIND_CORRECT, replacement=second)
    await accepted(ledger, statement(record_correction=fix))
    obj = await stored(store, first.record_id)
    assert (obj.state, obj.attrs["revision"], obj.due_date) == (EXPIRED, 2, None)


async def test_flags_and_attrs_of_other_handlers_survive_a_correction(
    ledger: Ledger, store: Store
) -> None:
    """An objection handler marks a record disputed; the record handlers keep what they do not
    own."""
    first = record()
    created = statement(record=first)
    await accepted(ledger, created)
    obj = await stored(store, first.record_id)
    disputed = dataclasses.replace(
        obj,
        flags=obj.flags | {"disputed"},
        attrs={**obj.attrs, "open_objection_ids": ["01JOBJECTION0000000000000A"]},
    )
    async with store.transaction() as tx:
        await tx.apply_domain(DomainChanges(objects=[disputed]))
    fix = correction(
        first.record_id,
        record_pb2.CORRECTION_KIND_CORRECT,
        replacement=next_revision(first, created.header.message_id),
        reason_code=record_pb2.CORRECTION_REASON_OBJECTION_UPHELD,
    )
    await accepted(ledger, statement(record_correction=fix))
    obj = await stored(store, first.record_id)
    assert "disputed" in obj.flags
    assert obj.attrs["open_objection_ids"] == ["01JOBJECTION0000000000000A"]
    assert obj.attrs["revision"] == 2


# --- publication deadlines on real dates ------------------------------------------------------


@pytest.mark.parametrize(
    ("decided", "deadline", "logged", "overdue"),
    [
        # Spring Festival 2026: holidays Sun 15 - Mon 23 February, Saturdays 14 and 28
        # February adjusted working days.
        (D(2026, 2, 12), "2026-02-28", D(2026, 2, 28), False),
        (D(2026, 2, 12), "2026-02-28", D(2026, 3, 1), True),
        (D(2026, 2, 13), "2026-03-02", D(2026, 3, 2), False),
        # National Day and Mid-Autumn 2026: 1 - 7 October off, Saturday 10 October worked.
        (D(2026, 9, 23), "2026-10-10", D(2026, 10, 10), False),
        (D(2026, 9, 30), "2026-10-15", D(2026, 10, 16), True),
        # An ordinary week.
        (D(2026, 3, 2), "2026-03-11", D(2026, 3, 12), True),
    ],
)
async def test_publication_deadline_on_the_2026_calendar(
    ledger: Ledger,
    store: Store,
    clock: Clock,
    decided: dt.date,
    deadline: str,
    logged: dt.date,
    overdue: bool,
) -> None:
    body = record(decided=decided)
    clock.china(logged)
    await accepted(ledger, statement(record=body))
    obj = await stored(store, body.record_id)
    assert obj.attrs["publication_deadline"] == deadline
    assert obj.attrs["deadline_provisional"] is False
    assert obj.attrs["published_on"] == logged.isoformat()
    assert (OVERDUE in obj.flags) is overdue


async def test_the_day_published_is_the_day_in_china(
    ledger: Ledger, store: Store, clock: Clock
) -> None:
    body = record(decided=D(2026, 2, 12))  # due Saturday 28 February 2026
    # 16:30 UTC on the 28th is half past midnight on 1 March in Beijing: one day late.
    clock.now = datetime(2026, 2, 28, 16, 30, tzinfo=UTC)
    await accepted(ledger, statement(record=body))
    obj = await stored(store, body.record_id)
    assert obj.attrs["published_on"] == "2026-03-01"
    assert OVERDUE in obj.flags
    assert china_date(clock.now) == D(2026, 3, 1)


@pytest.mark.skipif(not UNKNOWN_2027, reason="the installed chinesecalendar knows 2027")
async def test_a_december_2026_decision_has_a_provisional_deadline_in_2027(
    ledger: Ledger, store: Store, clock: Clock
) -> None:
    body = record(decided=D(2026, 12, 24))
    clock.china(D(2027, 1, 5))
    await accepted(ledger, statement(record=body))
    obj = await stored(store, body.record_id)
    # Weekends only in 2027: Fri 25, Mon 28 - Thu 31 December, Fri 1 and Mon 4 January.
    assert obj.attrs["publication_deadline"] == "2027-01-04"
    assert obj.attrs["deadline_provisional"] is True
    note = obj.attrs["deadline_note"]
    assert isinstance(note, str)
    assert "2027" in note
    assert "weekends" in note
    assert OVERDUE in obj.flags  # provisionally: logged the day after the provisional deadline


async def test_with_the_operators_2027_table_the_deadline_is_exact(
    store: Store, clock: Clock
) -> None:
    ledger = make_ledger(store, clock, calendar=WorkingDayCalendar.from_mapping(TABLE_2027))
    body = record(decided=D(2026, 12, 24))
    clock.china(D(2027, 1, 5))
    await accepted(ledger, statement(record=body))
    obj = await stored(store, body.record_id)
    # 1 - 3 January 2027 off (test table): the 7th working day is Tuesday 5 January.
    assert obj.attrs["publication_deadline"] == "2027-01-05"
    assert obj.attrs["deadline_provisional"] is False
    assert obj.attrs["deadline_note"] is None
    assert OVERDUE not in obj.flags


async def test_correcting_the_decision_date_judges_lateness_again(
    ledger: Ledger, store: Store, clock: Clock
) -> None:
    first = record(decided=D(2026, 3, 2))  # due 11 March
    created = statement(record=first)
    clock.china(D(2026, 3, 16))
    await accepted(ledger, created)
    assert OVERDUE in (await stored(store, first.record_id)).flags
    second = next_revision(first, created.header.message_id)
    second.decision_date.CopyFrom(date_pb(D(2026, 3, 12)))  # the decision was later: due 23 March
    fix = correction(first.record_id, record_pb2.CORRECTION_KIND_CORRECT, replacement=second)
    clock.china(D(2026, 3, 30))
    await accepted(ledger, statement(record_correction=fix))
    obj = await stored(store, first.record_id)
    assert obj.attrs["publication_deadline"] == "2026-03-23"
    assert obj.attrs["published_on"] == "2026-03-16"
    assert OVERDUE not in obj.flags


@pytest.mark.parametrize(
    "category",
    [
        record_pb2.RECORD_CATEGORY_HONOUR,
        record_pb2.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT,
        record_pb2.RECORD_CATEGORY_VOLUNTARY_REGISTRATION,
    ],
)
async def test_only_administrative_acts_have_a_publication_deadline(
    ledger: Ledger, store: Store, clock: Clock, category: int
) -> None:
    body = record(
        category=category, decided=D(2025, 1, 6), severity=record_pb2.SEVERITY_NOT_UNTRUSTWORTHY
    )
    clock.china(D(2026, 3, 9))  # over a year later
    await accepted(ledger, statement(record=body))
    obj = await stored(store, body.record_id)
    assert obj.attrs["publication_deadline"] is None
    assert OVERDUE not in obj.flags
    # Not untrustworthy: no period from a ruleset, and none declared.
    assert obj.attrs["publication_end"] is None
    assert obj.due_date is None


# --- publication end ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "declared", "ruleset_end", "end"),
    [
        # Serious, decided on 31 May 2026 (NDRC 2026 measures): 1 to 3 years.
        (record_pb2.SEVERITY_SERIOUS, None, "2029-05-31", "2029-05-31"),
        # A declared end past the ruleset's maximum: the ruleset's end applies.
        (record_pb2.SEVERITY_SERIOUS, D(2030, 1, 1), "2029-05-31", "2029-05-31"),
        # A declared end inside the maximum: the declared one.
        (record_pb2.SEVERITY_GENERAL, D(2026, 12, 31), "2027-05-31", "2026-12-31"),
        # Minor: at most 3 months.
        (record_pb2.SEVERITY_MINOR, None, "2026-08-31", "2026-08-31"),
        # Not untrustworthy (e.g. a licence): only what the record declares.
        (record_pb2.SEVERITY_NOT_UNTRUSTWORTHY, D(2031, 5, 31), None, "2031-05-31"),
    ],
)
async def test_publication_end_from_the_ruleset_in_force_on_the_decision_date(
    ledger: Ledger,
    store: Store,
    clock: Clock,
    severity: int,
    declared: dt.date | None,
    ruleset_end: str | None,
    end: str,
) -> None:
    body = record(decided=D(2026, 5, 31), severity=severity, publication_end=declared)
    clock.china(D(2026, 6, 2))
    await accepted(ledger, statement(record=body))
    obj = await stored(store, body.record_id)
    assert obj.attrs["ruleset_id"] == "cn-ndrc-2026"
    assert obj.attrs["ruleset_publication_end"] == ruleset_end
    assert obj.attrs["publication_end"] == end
    assert obj.due_date == end
    # Published through its last day, not the day after: reads derive EXPIRED from then on.
    last = D.fromisoformat(end)
    assert derived_status(obj, last) == ACTIVE
    assert derived_status(obj, last + dt.timedelta(days=1)) == EXPIRED


async def test_a_record_decided_before_any_ruleset_has_no_ruleset_period(
    ledger: Ledger, store: Store
) -> None:
    body = record(decided=D(2018, 6, 1), severity=record_pb2.SEVERITY_SERIOUS)
    await accepted(ledger, statement(record=body))
    obj = await stored(store, body.record_id)
    assert obj.attrs["ruleset_id"] == ""
    assert obj.attrs["publication_end"] is None
