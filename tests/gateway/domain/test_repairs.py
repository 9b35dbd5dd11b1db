"""Credit repair as a projection of the log: applications and decisions on real stores.

A real :class:`Ledger` with the gateway's default handlers, on SQLite and PostgreSQL. Covers
eligibility computed from the ruleset in force on each record's decision date (an application
that is not eligible is logged and marked), decision deadlines on real dates (Spring Festival,
National Day, into 2027), approvals that end publication of records and move name-list entries
to REPAIRED through the lifecycle, rejections, withdrawals and every refusal, among them a
decision that would not reach every node holding the application or an approved record
(CXP-REPAIR-001).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from creditlink.gateway.domain.calendar import WorkingDayCalendar
from creditlink.gateway.domain.handlers.name_lists import (
    ENTRY_KIND,
    PERSONAL_KIND,
    body_of,
    entry_object,
    in_force,
    personal_object_id,
)
from creditlink.gateway.domain.handlers.repairs import (
    INELIGIBLE,
    fold_decision,
    repaired_entry_ids,
)
from creditlink.gateway.domain.projection import Logged
from creditlink.gateway.ledger import Ledger
from creditlink.gateway.store import DomainQuery, Store
from creditlink.sdk.errors import CreditlinkError, FailedPrecondition
from creditlink.v1 import (
    commitment_pb2,
    name_list_pb2,
    record_pb2,
    repair_pb2,
    statement_pb2,
)
from tests.gateway.domain.objection_harness import (
    ORIGIN,
    ChinaClock,
    accepted,
    append,
    get,
    make_ledger,
)
from tests.gateway.listings import LEGAL_REP, date, entry_statement, transition_statement
from tests.gateway.objection_statements import (
    GD,
    HUB,
    NATIONAL,
    OTHER_SUBJECT,
    ZJ,
    application_statement,
    at_china,
    commitment_statement,
    correction_statement,
    decision_statement,
    fulfilment_statement,
    record,
    record_statement,
    submission,
)

D = dt.date
Statement = statement_pb2.Statement
RS = repair_pb2
UNKNOWN_2027 = not WorkingDayCalendar().knows(2027)
MISSING_ID = "00000000-0000-4000-8000-000000000000"
#: Most records here: general untrustworthiness decided under NDRC Order No. 58.
DECIDED = D(2025, 1, 6)


@pytest.fixture
def clock() -> ChinaClock:
    return ChinaClock(D(2026, 1, 20))


@pytest.fixture
def ledger(store: Store, clock: ChinaClock) -> Ledger:
    return make_ledger(store, clock)


async def refused(ledger: Ledger, store: Store, *items: statement_pb2.Statement) -> CreditlinkError:
    before = (await store.head()).size
    ack = await append(ledger, *items)
    assert ack.error is not None, "expected a refusal"
    assert (await store.head()).size == before, "a refused statement logged something"
    return ack.error


async def published(
    ledger: Ledger, clock: ChinaClock, decided: dt.date = DECIDED, **kw: object
) -> str:
    """A penalty record decided on ``decided``, logged on 20 January 2026 (or that day)."""
    clock.china(max(D(2026, 1, 20), decided + dt.timedelta(days=7)))
    body = record(decided=decided, **kw)  # type: ignore[arg-type]
    await accepted(ledger, record_statement(body))
    return body.record_id


async def committed(ledger: Ledger, made: dt.date, **kw: object) -> str:
    statement = commitment_statement(made=made, **kw)  # type: ignore[arg-type]
    await accepted(ledger, statement)
    return statement.commitment.commitment_id


def applying(
    targets: list[tuple[str, str]], commitment_id: str, received: dt.date, **kw: object
) -> statement_pb2.Statement:
    return application_statement(targets, commitment_id, submitted=at_china(received, 9), **kw)  # type: ignore[arg-type]


async def applied(
    ledger: Ledger,
    clock: ChinaClock,
    targets: list[tuple[str, str]],
    received: dt.date,
    **kw: object,
) -> str:
    """Commitment and application in one batch, received (and logged) on ``received``."""
    clock.china(received)
    commitment = commitment_statement(made=received)
    application = applying(targets, commitment.commitment.commitment_id, received, **kw)
    await accepted(ledger, commitment, application)
    return application.repair_application.application_id


# --- applications -----------------------------------------------------------------------------


async def test_eligible_application_and_its_deadline_over_spring_festival(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    # Received on Friday 13 February 2026: 3 working days are Saturday 14 (adjusted), then
    # after the holiday (15-23) Tuesday 24 and Wednesday 25 February.
    application_id = await applied(ledger, clock, [("record", record_id)], D(2026, 2, 13))
    application = await get(store, "repair-application", application_id)
    assert application.state == "REPAIR_STATUS_SUBMITTED"
    assert application.due_date == "2026-02-25"
    attrs = application.attrs
    assert attrs["decision_deadline"] == "2026-02-25"
    assert attrs["feedback_deadline"] == "2026-03-05"
    assert attrs["ruleset_id"] == "cn-gov-2025-22"
    assert attrs["eligible"] is True
    assert attrs["ineligibility_reasons"] == []
    assert INELIGIBLE not in application.flags
    # Decided on 6 January 2025: NDRC Order No. 58 (3 months minimum) applies to the record.
    assert attrs["eligibility"] == [
        {
            "target": f"record:{record_id}",
            "ruleset_id": "cn-ndrc-order-58",
            "eligible": True,
            "reasons": [],
            "earliest": "2025-04-07",
        }
    ]
    assert attrs["to_verify"] == ["corrected", "obligations performed"]
    overdue = DomainQuery(
        kinds=["repair-application"], states=["REPAIR_STATUS_SUBMITTED"], due_before="2026-02-26"
    )
    assert [a.object_id for a in await store.query_objects(overdue)] == [application_id]


async def test_approval_ends_publication_of_the_record(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    application_id = await applied(ledger, clock, [("record", record_id)], D(2026, 2, 13))
    clock.china(D(2026, 2, 24))
    decision = decision_statement(
        application_id,
        RS.REPAIR_STATUS_APPROVED,
        decided=clock.now,
        approved=[("record", record_id)],
    )
    ack = await accepted(ledger, decision)
    target = await get(store, "record", record_id)
    assert target.state == "RECORD_STATUS_REPAIRED"
    assert target.due_date is None
    assert target.attrs["repair_application_id"] == application_id
    assert target.attrs["repair_effective_date"] == "2026-02-24"
    assert target.leaf_index == ack.first_leaf_index
    assert [e.action for e in await store.object_events("record", record_id)][-1] == "REPAIR"
    application = await get(store, "repair-application", application_id)
    assert application.state == "REPAIR_STATUS_APPROVED"
    assert application.due_date is None
    body = RS.RepairApplication.FromString(application.body)
    assert body.status == RS.REPAIR_STATUS_APPROVED
    assert body.decision.application_id == application_id
    assert application.attrs["approved_target_ids"] == [f"record:{record_id}"]
    assert application.attrs["effective_date"] == "2026-02-24"
    again = decision_statement(
        application_id,
        RS.REPAIR_STATUS_REJECTED,
        decided=clock.now,
        rejections=[RS.REPAIR_REJECTION_REASON_OTHER],
    )
    assert (await refused(ledger, store, again)).reason == "APPLICATION_ALREADY_DECIDED"


async def test_an_ineligible_application_is_logged_marked_and_rejected(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    # General untrustworthiness decided 2 March 2026: 3 months minimum (GO 2025 No. 22).
    record_id = await published(ledger, clock, decided=D(2026, 3, 2))
    application_id = await applied(ledger, clock, [("record", record_id)], D(2026, 3, 10))
    application = await get(store, "repair-application", application_id)
    assert application.attrs["eligible"] is False
    assert application.attrs["ineligibility_reasons"] == ["MINIMUM_PERIOD_NOT_PASSED"]
    assert application.attrs["eligibility"][0]["earliest"] == "2026-06-03"  # type: ignore[index]
    assert INELIGIBLE in application.flags
    assert application.due_date == "2026-03-13"
    marked = await store.query_objects(DomainQuery(kinds=["repair-application"], flag=INELIGIBLE))
    assert [a.object_id for a in marked] == [application_id]

    clock.china(D(2026, 3, 12))
    approval = decision_statement(
        application_id,
        RS.REPAIR_STATUS_APPROVED,
        decided=clock.now,
        approved=[("record", record_id)],
    )
    error = await refused(ledger, store, approval)
    assert error.reason == "MINIMUM_PERIOD_NOT_PASSED"
    assert "2026-06-03" in error.message
    rejection = decision_statement(
        application_id,
        RS.REPAIR_STATUS_REJECTED,
        decided=clock.now,
        rejections=[RS.REPAIR_REJECTION_REASON_MINIMUM_PERIOD_NOT_PASSED],
    )
    await accepted(ledger, rejection)
    application = await get(store, "repair-application", application_id)
    assert application.state == "REPAIR_STATUS_REJECTED"
    assert application.attrs["rejection_reasons"] == [
        "REPAIR_REJECTION_REASON_MINIMUM_PERIOD_NOT_PASSED"
    ]
    assert (await get(store, "record", record_id)).state == "RECORD_STATUS_ACTIVE"


async def test_each_record_takes_the_ruleset_of_its_decision_date(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    before = await published(ledger, clock, decided=D(2026, 3, 31))
    after = await published(ledger, clock, decided=D(2026, 4, 1))
    clock.china(D(2026, 7, 1))
    commitment_id = await committed(ledger, D(2026, 7, 1), public=False)
    application = applying(
        [("record", before), ("record", after)],
        commitment_id,
        D(2026, 7, 1),
        ruleset_id="cn-ndrc-2026",
    )
    await accepted(ledger, application)
    attrs = (
        await get(store, "repair-application", application.repair_application.application_id)
    ).attrs
    checks = {c["target"]: c for c in attrs["eligibility"]}  # type: ignore[attr-defined, index]
    # 31 March: GO 2025 No. 22, 3 months passed on 30 June; a commitment suffices.
    assert checks[f"record:{before}"]["ruleset_id"] == "cn-gov-2025-22"
    assert checks[f"record:{before}"]["eligible"] is True
    # 1 April: the 2026 measures, 3 months not passed until 1 July; a PUBLIC commitment.
    assert checks[f"record:{after}"]["ruleset_id"] == "cn-ndrc-2026"
    assert checks[f"record:{after}"]["reasons"] == [
        "MINIMUM_PERIOD_NOT_PASSED",
        "NO_PUBLIC_COMMITMENT",
    ]
    assert attrs["ineligibility_reasons"] == ["MINIMUM_PERIOD_NOT_PASSED", "NO_PUBLIC_COMMITMENT"]
    assert attrs["ruleset_id"] == "cn-ndrc-2026"  # the deadlines: in force on the day received


async def test_decision_deadline_national_day(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    application_id = await applied(
        ledger, clock, [("record", record_id)], D(2026, 9, 30), ruleset_id="cn-ndrc-2026"
    )
    application = await get(store, "repair-application", application_id)
    # 30 September + 3 working days: the holiday runs 1-7 October; 8, 9 and Saturday 10.
    assert application.due_date == "2026-10-10"
    assert application.attrs["feedback_deadline"] == "2026-10-20"


@pytest.mark.skipif(not UNKNOWN_2027, reason="the installed chinesecalendar knows 2027")
async def test_decision_deadline_into_2027_is_provisional(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    application_id = await applied(
        ledger, clock, [("record", record_id)], D(2026, 12, 30), ruleset_id="cn-ndrc-2026"
    )
    application = await get(store, "repair-application", application_id)
    assert application.due_date == "2027-01-04"
    assert application.attrs["deadline_provisional"] is True
    assert "2027" in str(application.attrs["deadline_note"])


async def test_signed_deadlines_and_rulesets_without_a_limit(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    clock.china(D(2026, 2, 13))
    commitment_id = await committed(ledger, D(2026, 2, 13))
    late = applying(
        [("record", record_id)], commitment_id, D(2026, 2, 13), decision_due=D(2026, 2, 26)
    )
    assert (await refused(ledger, store, late)).reason == "DECISION_DEADLINE_TOO_LATE"
    early = applying(
        [("record", record_id)], commitment_id, D(2026, 2, 13), decision_due=D(2026, 2, 24)
    )
    await accepted(ledger, early)
    assert (
        await get(store, "repair-application", early.repair_application.application_id)
    ).due_date == "2026-02-24"

    # Received under NDRC Order No. 58, which sets no decision limit: the signed one stands.
    old = await published(ledger, clock, decided=D(2023, 6, 1))
    clock.china(D(2024, 3, 4))
    commitment = commitment_statement(made=D(2024, 3, 4))
    application = applying(
        [("record", old)],
        commitment.commitment.commitment_id,
        D(2024, 3, 4),
        ruleset_id="cn-ndrc-order-58",
        decision_due=D(2024, 3, 29),
    )
    await accepted(ledger, commitment, application)
    stored = await get(store, "repair-application", application.repair_application.application_id)
    assert (stored.due_date, stored.attrs["ruleset_id"]) == ("2024-03-29", "cn-ndrc-order-58")
    assert stored.attrs["feedback_deadline"] is None


async def test_application_refusals_log_nothing(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    foreign = await published(ledger, clock, uscc=OTHER_SUBJECT)
    national = await published(ledger, clock, authority_uscc=NATIONAL)
    clock.china(D(2026, 3, 10))
    day = D(2026, 3, 10)
    commitment_id = await committed(ledger, day)
    others = await committed(ledger, day, uscc=OTHER_SUBJECT)
    window = await committed(
        ledger, day, kind=commitment_pb2.COMMITMENT_TYPE_MISSING_MATERIALS, due=D(2026, 3, 31)
    )

    async def reason(statement: statement_pb2.Statement) -> str:
        return (await refused(ledger, store, statement)).reason

    mine = [("record", record_id)]
    assert await reason(applying(mine, commitment_id, D(2026, 3, 11))) == "SUBMITTED_IN_FUTURE"
    assert await reason(applying(mine, commitment_id, day, ruleset_id="gbf-2025-22")) == (
        "UNKNOWN_RULESET"
    )
    assert await reason(applying([*mine, *mine], commitment_id, day)) == "DUPLICATE_TARGET"
    assert await reason(applying([("record", MISSING_ID)], commitment_id, day)) == (
        "TARGET_NOT_FOUND"
    )
    assert await reason(applying([("record", foreign)], commitment_id, day)) == (
        "TARGET_SUBJECT_MISMATCH"
    )
    assert await reason(applying([("record", national)], commitment_id, day)) == (
        "DECIDING_AUTHORITY_MISMATCH"
    )
    assert await reason(applying(mine, MISSING_ID, day)) == "COMMITMENT_NOT_FOUND"
    assert await reason(applying(mine, others, day)) == "COMMITMENT_SUBJECT_MISMATCH"
    assert await reason(applying(mine, window, day)) == "COMMITMENT_WRONG_TYPE"
    decided = applying(mine, commitment_id, day)
    decided.repair_application.status = RS.REPAIR_STATUS_APPROVED
    assert await reason(decided) == "INVALID_INITIAL_STATUS"
    first = applying(mine, commitment_id, day)
    await accepted(ledger, first)
    again = applying(
        mine, commitment_id, day, application_id=first.repair_application.application_id
    )
    assert await reason(again) == "APPLICATION_EXISTS"


async def test_what_makes_a_target_ineligible(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    revoked = await published(ledger, clock)
    clock.china(D(2026, 2, 1))
    await accepted(ledger, correction_statement(revoked, record_pb2.CORRECTION_KIND_REVOKE))
    # Not untrustworthy at all, and minor conduct under the 2019 notice (no minor period).
    benign = await published(ledger, clock, severity=record_pb2.SEVERITY_NOT_UNTRUSTWORTHY)
    minor_2019 = await published(
        ledger, clock, decided=D(2020, 5, 6), severity=record_pb2.SEVERITY_MINOR
    )
    # General conduct of 2023-06-01 under Order No. 58: its 36 months end on 2026-06-01.
    ended = await published(ledger, clock, decided=D(2023, 6, 1))
    clock.china(D(2026, 6, 3))
    breached = commitment_statement(made=D(2026, 6, 1))
    breach_record = record(decided=D(2026, 6, 2))
    breach = fulfilment_statement(
        breached.commitment.commitment_id,
        commitment_pb2.FULFILMENT_STATUS_BREACHED,
        assessed=D(2026, 6, 3),
        records=[breach_record.record_id],
    )
    await accepted(ledger, breached, record_statement(breach_record), breach)
    application = applying(
        [("record", r) for r in (revoked, benign, minor_2019, ended)],
        breached.commitment.commitment_id,
        D(2026, 6, 3),
        ruleset_id="cn-ndrc-2026",
    )
    await accepted(ledger, application)
    stored = await get(store, "repair-application", application.repair_application.application_id)
    reasons = {c["target"]: c["reasons"] for c in stored.attrs["eligibility"]}  # type: ignore[attr-defined, index]
    # The commitment was found breached: no valid commitment for any target with a ruleset.
    assert reasons[f"record:{revoked}"] == ["TARGET_REVOKED", "NO_COMMITMENT"]
    assert reasons[f"record:{benign}"] == ["NOT_REPAIRABLE"]
    assert reasons[f"record:{minor_2019}"] == ["NOT_REPAIRABLE"]
    assert reasons[f"record:{ended}"] == ["PUBLICATION_ENDED", "NO_COMMITMENT"]
    assert stored.attrs["eligible"] is False


# --- decisions --------------------------------------------------------------------------------


async def test_decision_refusals_log_nothing(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    first = await published(ledger, clock)
    second = await published(ledger, clock)
    application_id = await applied(
        ledger, clock, [("record", first), ("record", second)], D(2026, 3, 10)
    )
    clock.china(D(2026, 3, 12))
    now = clock.now

    async def reason(statement: statement_pb2.Statement) -> str:
        return (await refused(ledger, store, statement)).reason

    def deciding(outcome: int, **kw: object) -> statement_pb2.Statement:
        kw.setdefault("decided", now)
        return decision_statement(application_id, outcome, **kw)  # type: ignore[arg-type]

    both = [("record", first), ("record", second)]
    assert (
        await reason(
            decision_statement(MISSING_ID, RS.REPAIR_STATUS_APPROVED, decided=now, approved=both)
        )
        == "APPLICATION_NOT_FOUND"
    )
    assert (
        await reason(
            deciding(RS.REPAIR_STATUS_APPROVED, approved=both, deciding=NATIONAL, sender=HUB)
        )
        == "NOT_DECIDING_AUTHORITY"
    )
    assert (
        await reason(
            deciding(RS.REPAIR_STATUS_APPROVED, approved=both, decided=at_china(D(2026, 3, 9)))
        )
        == "DECIDED_BEFORE_SUBMITTED"
    )
    assert (
        await reason(
            deciding(RS.REPAIR_STATUS_APPROVED, approved=both, decided=at_china(D(2026, 3, 13)))
        )
        == "DECIDED_IN_FUTURE"
    )
    assert (
        await reason(deciding(RS.REPAIR_STATUS_APPROVED, approved=[*both, ("record", MISSING_ID)]))
        == "TARGET_NOT_IN_APPLICATION"
    )
    assert (
        await reason(deciding(RS.REPAIR_STATUS_APPROVED, approved=[both[0]]))
        == "APPROVAL_INCOMPLETE"
    )
    assert (
        await reason(
            deciding(
                RS.REPAIR_STATUS_PARTIALLY_APPROVED,
                approved=both,
                rejections=[RS.REPAIR_REJECTION_REASON_OTHER],
            )
        )
        == "PARTIAL_APPROVAL_COVERS_ALL"
    )
    assert (
        await reason(deciding(RS.REPAIR_STATUS_APPROVED, approved=both, effective=D(2026, 3, 13)))
        == "EFFECTIVE_DATE_IN_FUTURE"
    )
    assert (
        await reason(deciding(RS.REPAIR_STATUS_APPROVED, approved=both, ruleset_id="gbf-2025-22"))
        == "UNKNOWN_RULESET"
    )
    await accepted(ledger, correction_statement(second, record_pb2.CORRECTION_KIND_REVOKE))
    assert await reason(deciding(RS.REPAIR_STATUS_APPROVED, approved=both)) == ("TARGET_NOT_ACTIVE")
    # A partial approval of the record still published goes through.
    await accepted(
        ledger,
        deciding(
            RS.REPAIR_STATUS_PARTIALLY_APPROVED,
            approved=[both[0]],
            rejections=[RS.REPAIR_REJECTION_REASON_NOT_REPAIRABLE],
            effective=D(2026, 3, 11),
        ),
    )
    assert (await get(store, "record", first)).state == "RECORD_STATUS_REPAIRED"
    assert (await get(store, "record", first)).attrs["repair_effective_date"] == "2026-03-11"
    application = await get(store, "repair-application", application_id)
    assert application.state == "REPAIR_STATUS_PARTIALLY_APPROVED"


async def test_withdrawal_by_the_accepting_platform(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    record_id = await published(ledger, clock)
    application_id = await applied(ledger, clock, [("record", record_id)], D(2026, 3, 10))
    withdrawal = decision_statement(
        application_id, RS.REPAIR_STATUS_WITHDRAWN, decided=clock.now, deciding=NATIONAL
    )
    await accepted(ledger, withdrawal)
    assert (await get(store, "repair-application", application_id)).state == (
        "REPAIR_STATUS_WITHDRAWN"
    )
    assert (await get(store, "record", record_id)).state == "RECORD_STATUS_ACTIVE"


# --- every holder hears the decision (CXP-REPAIR-001) -----------------------------------------


async def test_a_decision_must_be_addressed_to_every_holder(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    """CXP-REPAIR-001: the hub logs a record Zhejiang addressed to both, and an application
    addressed to the hub, Guangdong and Zhejiang. A decision that leaves out a holder of the
    application (any outcome) or of an approved record (an approval) is refused, naming the
    missing nodes, and logs nothing; addressed to all of them, it is applied."""
    clock.china(D(2026, 3, 10))
    body = record()
    await accepted(ledger, record_statement(body, recipients=(ZJ, HUB)))
    application_id = await applied(
        ledger, clock, [("record", body.record_id)], D(2026, 3, 10), recipients=(HUB, GD, ZJ)
    )

    def deciding(outcome: int, recipients: tuple[str, ...], **kw: object) -> Statement:
        return decision_statement(
            application_id,
            outcome,
            decided=clock.now,
            recipients=recipients,
            **kw,  # type: ignore[arg-type]
        )

    approve = {"approved": [("record", body.record_id)]}
    error = await refused(ledger, store, deciding(RS.REPAIR_STATUS_APPROVED, (HUB,), **approve))
    assert isinstance(error, FailedPrecondition)
    assert error.reason == "DECISION_RECIPIENTS_INCOMPLETE"
    assert f"{GD}, {ZJ} missing" in error.message
    assert f"{ZJ} holds repair-application:{application_id}, record:{body.record_id}" in (
        error.message
    )
    assert f"{GD} holds repair-application:{application_id}" in error.message
    error = await refused(ledger, store, deciding(RS.REPAIR_STATUS_APPROVED, (HUB, GD), **approve))
    assert error.reason == "DECISION_RECIPIENTS_INCOMPLETE"
    assert f"{ZJ} missing" in error.message
    assert GD not in error.message.split("missing")[0]
    # A rejection changes the application only: its holders must hear it.
    rejection = {"rejections": [RS.REPAIR_REJECTION_REASON_OTHER]}
    error = await refused(
        ledger, store, deciding(RS.REPAIR_STATUS_REJECTED, (HUB, ZJ), **rejection)
    )
    assert error.reason == "DECISION_RECIPIENTS_INCOMPLETE"
    assert f"{GD} missing" in error.message
    # Nothing changed.
    assert (await get(store, "record", body.record_id)).state == "RECORD_STATUS_ACTIVE"
    application = await get(store, "repair-application", application_id)
    assert application.state == "REPAIR_STATUS_SUBMITTED"

    await accepted(ledger, deciding(RS.REPAIR_STATUS_APPROVED, (GD, HUB, ZJ), **approve))
    assert (await get(store, "record", body.record_id)).state == "RECORD_STATUS_REPAIRED"
    application = await get(store, "repair-application", application_id)
    assert application.state == "REPAIR_STATUS_APPROVED"


async def test_holders_of_objects_created_earlier_in_the_same_append_count(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    """CXP-REPAIR-001 and -003 within one group-committed append: the record, the application
    and the decision are separate submissions logged together; the record's and the
    application's holders are known from their statements in the same append."""
    clock.china(D(2026, 3, 10))

    async def append_all(
        application_recipients: tuple[str, ...], decision_recipients: tuple[str, ...]
    ) -> list[CreditlinkError | None]:
        body = record()
        commitment = commitment_statement(made=D(2026, 3, 10), recipients=(ZJ, GD, HUB))
        application = applying(
            [("record", body.record_id)],
            commitment.commitment.commitment_id,
            D(2026, 3, 10),
            recipients=application_recipients,
        )
        decision = decision_statement(
            application.repair_application.application_id,
            RS.REPAIR_STATUS_APPROVED,
            decided=clock.now,
            approved=[("record", body.record_id)],
            recipients=decision_recipients,
        )
        acks = await ledger.append(
            [
                submission(record_statement(body, recipients=(ZJ, GD, HUB))),
                submission(commitment, application),
                submission(decision),
            ]
        )
        return [a.error for a in acks]

    # The application leaves out Guangdong, which holds the record logged just before it.
    first, second, _ = await append_all((ZJ, HUB), (ZJ, GD, HUB))
    assert first is None
    assert second is not None
    assert second.reason == "APPLICATION_RECIPIENTS_INCOMPLETE"
    assert f"{GD} missing" in second.message
    # The application reaches every holder; the decision leaves out Guangdong.
    before = (await store.head()).size
    first, second, third = await append_all((ZJ, GD, HUB), (ZJ, HUB))
    assert (first, second) == (None, None)
    assert third is not None
    assert third.reason == "DECISION_RECIPIENTS_INCOMPLETE"
    assert f"{GD} missing" in third.message
    assert (await store.head()).size == before + 3  # the record, commitment and application
    assert await append_all((ZJ, GD, HUB), (ZJ, GD, HUB)) == [None, None, None]


async def test_an_application_must_be_addressed_to_every_holder_of_its_targets(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    """CXP-REPAIR-003: the hub holds a record Zhejiang addressed to both; an application for it
    addressed to the hub alone would leave Zhejiang's copy without the application its decision
    needs, so it is refused, naming Zhejiang, and stores nothing. Addressed to both, it is
    logged."""
    clock.china(D(2026, 3, 10))
    body = record()
    await accepted(ledger, record_statement(body, recipients=(ZJ, HUB)))
    commitment = commitment_statement(made=D(2026, 3, 10), recipients=(ZJ, HUB))
    await accepted(ledger, commitment)
    alone = applying(
        [("record", body.record_id)],
        commitment.commitment.commitment_id,
        D(2026, 3, 10),
        recipients=(HUB,),
    )
    error = await refused(ledger, store, alone)
    assert isinstance(error, FailedPrecondition)
    assert error.reason == "APPLICATION_RECIPIENTS_INCOMPLETE"
    assert f"{ZJ} missing from its recipients ({ZJ} holds record:{body.record_id})" in (
        error.message
    )
    both = applying(
        [("record", body.record_id)],
        commitment.commitment.commitment_id,
        D(2026, 3, 10),
        recipients=(ZJ, HUB),
    )
    await accepted(ledger, both)
    application = await get(store, "repair-application", both.repair_application.application_id)
    assert application.state == "REPAIR_STATUS_SUBMITTED"


# --- name-list entries ------------------------------------------------------------------------


async def listed_2025(ledger: Ledger, clock: ChinaClock) -> str:
    """A serious-untrustworthy entry the hub determined on 6 January 2025 (Order No. 58)."""
    clock.china(D(2026, 1, 20))
    statement = entry_statement(HUB, start="2025-01-10", end="2028-01-09", recipients=(HUB,))
    statement.name_list_entry.determination_date.CopyFrom(date("2025-01-06"))
    await accepted(ledger, statement)
    return statement.name_list_entry.entry_id


async def test_approval_moves_the_entry_to_repaired_and_its_measures_end(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    entry_id = await listed_2025(ledger, clock)
    application_id = await applied(
        ledger, clock, [("name-list-entry", entry_id)], D(2026, 3, 10), deciding=NATIONAL
    )
    application = await get(store, "repair-application", application_id)
    assert application.attrs["eligibility"][0]["ruleset_id"] == "cn-ndrc-order-58"  # type: ignore[index]
    assert application.attrs["eligible"] is True
    clock.china(D(2026, 3, 11))
    # Only the node that determined the entry moves it.
    stranger = decision_statement(
        application_id,
        RS.REPAIR_STATUS_APPROVED,
        decided=clock.now,
        approved=[("name-list-entry", entry_id)],
        deciding=NATIONAL,
        sender=GD,
    )
    assert (await refused(ledger, store, stranger)).reason == "PERMISSION_DENIED_DETERMINER"
    decision = decision_statement(
        application_id,
        RS.REPAIR_STATUS_APPROVED,
        decided=clock.now,
        approved=[("name-list-entry", entry_id)],
        deciding=NATIONAL,
        sender=HUB,
    )
    await accepted(ledger, decision)
    entry = await get(store, ENTRY_KIND, entry_id)
    assert entry.state == "NAME_LIST_STATE_REPAIRED"
    change = body_of(entry).transitions[-1]
    assert change.reason_code == name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED
    assert change.related_id == application_id
    assert not in_force(body_of(entry), clock.now)
    personal = await get(store, PERSONAL_KIND, personal_object_id(entry_id, LEGAL_REP))
    assert personal.state == "NAME_LIST_STATE_REPAIRED"
    actions = [e.action for e in await store.object_events(ENTRY_KIND, entry_id)]
    assert actions == ["LISTED", "LISTED->REPAIRED"]


async def test_an_explicit_repaired_transition_in_the_batch_is_accepted(
    ledger: Ledger, store: Store, clock: ChinaClock
) -> None:
    entry_id = await listed_2025(ledger, clock)
    application_id = await applied(
        ledger, clock, [("name-list-entry", entry_id)], D(2026, 3, 10), deciding=NATIONAL
    )
    move = transition_statement(
        HUB,
        entry_id,
        name_list_pb2.NAME_LIST_STATE_LISTED,
        name_list_pb2.NAME_LIST_STATE_REPAIRED,
        reason_code=name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED,
        recipients=(HUB,),
    )
    move.name_list_transition.related_id = application_id
    decision = decision_statement(
        application_id,
        RS.REPAIR_STATUS_APPROVED,
        decided=clock.now,
        approved=[("name-list-entry", entry_id)],
        deciding=NATIONAL,
        sender=HUB,
    )
    await accepted(ledger, move, decision)
    entry = await get(store, ENTRY_KIND, entry_id)
    assert entry.state == "NAME_LIST_STATE_REPAIRED"
    assert len(body_of(entry).transitions) == 1  # the explicit one; nothing derived on top


async def test_fold_decision_for_a_mirror(clock: ChinaClock) -> None:
    clock.china(D(2026, 1, 20))
    statement = entry_statement(HUB, start="2025-01-10", end="2028-01-09")
    created = Logged(
        statement=statement,
        kind=ENTRY_KIND,
        message_id=statement.header.message_id,
        sender_node_id=HUB,
        log_origin=ORIGIN,
        leaf_index=3,
        at=clock.now,
    )
    entry = entry_object(statement.name_list_entry, created)
    decision = decision_statement(
        "11111111-1111-4111-8111-111111111111",
        RS.REPAIR_STATUS_APPROVED,
        decided=clock.now,
        approved=[("name-list-entry", entry.object_id), ("record", MISSING_ID)],
        deciding=NATIONAL,
        sender=HUB,
    )
    assert repaired_entry_ids(decision.repair_decision) == [entry.object_id]
    rejected = RS.RepairDecision(outcome=RS.REPAIR_STATUS_REJECTED)
    assert repaired_entry_ids(rejected) == []
    logged = Logged(
        statement=decision,
        kind="repair-decision",
        message_id=decision.header.message_id,
        sender_node_id=HUB,
        log_origin=ORIGIN,
        leaf_index=9,
        at=clock.now,
    )
    folded = fold_decision(entry, logged)
    assert folded.state == "NAME_LIST_STATE_REPAIRED"
    assert body_of(folded).transitions[-1].related_id == decision.repair_decision.application_id
    assert fold_decision(folded, logged) is folded  # folding twice changes nothing
    with pytest.raises(CreditlinkError) as info:
        fold_decision(entry, dataclasses.replace(logged, sender_node_id=ZJ))
    assert info.value.reason == "PERMISSION_DENIED_DETERMINER"
    with pytest.raises(ValueError, match="does not approve"):
        fold_decision(dataclasses.replace(entry, object_id=MISSING_ID), logged)
