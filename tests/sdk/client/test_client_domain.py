"""The domain services through the blocking ``Client``, against a real development gateway.

One development node (``conftest.py``'s ``dev``) serves the whole module from one store, and its
operator, who may publish, determine and issue everything, is the only client. Records, name
lists, measure lists, objections, repair applications and reports are written with the
client's domain methods and read back with them; what the client returns was verified by the
client (receipts, provenance, inclusion proofs, checkpoints), and the tests compare it with what
was sent. Each test works on its own subject, so the shared store does not couple them.

The tamper tests take real answers from the raw gRPC stubs, change one thing, and hand them to
the transport-free :class:`~creditlink.sdk.client._domain.DomainCalls` the clients use: each
must be refused with its own reason. The pager tests need no gateway. Nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import grpc
import pytest
from sdk_client_support import RunningGateway, penalty_record

from creditlink.gateway.bootstrap import DevNode
from creditlink.gateway.domain.measures import load_seed_2021
from creditlink.sdk import Client
from creditlink.sdk.client import ClientCore
from creditlink.sdk.client._domain import DomainCalls
from creditlink.sdk.client._pager import AsyncPager, Page, Pager
from creditlink.sdk.errors import (
    FailedPrecondition,
    InvalidCheckpoint,
    InvalidEnvelope,
    InvalidProof,
    NotFound,
    VerificationError,
)
from creditlink.sdk.ids import report_no, uscc
from creditlink.sdk.reports import ReportBundle, UsePurpose, verify_report_offline
from creditlink.sdk.tlog import verify_inclusion
from creditlink.v1 import (
    common_pb2,
    measure_pb2,
    measure_service_pb2_grpc,
    name_list_pb2,
    name_list_service_pb2,
    name_list_service_pb2_grpc,
    objection_pb2,
    objection_service_pb2,
    record_pb2,
    record_service_pb2,
    record_service_pb2_grpc,
    repair_pb2,
    report_pb2,
    report_service_pb2,
    report_service_pb2_grpc,
)
from tests.gateway.listings import (
    entry_statement,
    next_version,
    person_token,
    transition_statement,
)
from tests.gateway.objection_statements import (
    CST,
    application_statement,
    commitment_statement,
    correction_statement,
    decision_statement,
    objection_statement,
    record,
    resolution_statement,
)

S = name_list_pb2.NameListState
LIST_ID = "national-basic"
#: The organization operating the development node's platform (well-formed, not a real code).
AUTHORITY_USCC = "12330000MB0U88871K"
PROCUREMENT = common_pb2.USE_PURPOSE_GOVERNMENT_PROCUREMENT


def company(n: int) -> str:
    """The ``n``-th USCC of a made-up Hangzhou series, with valid check characters."""
    org = f"MA{n:06d}"
    head = "91330100" + org + uscc.calc_org_check_digit(org)
    return head + uscc.calc_check_digit(head)


def china_today() -> dt.date:
    return datetime.now(CST).date()


def decided(record_pb: record_pb2.CreditRecord, day: dt.date) -> record_pb2.CreditRecord:
    record_pb.decision_date.CopyFrom(common_pb2.Date(year=day.year, month=day.month, day=day.day))
    return record_pb


def honour(subject: str, day: dt.date) -> record_pb2.CreditRecord:
    """A record of another category than the penalties (an honour: no penalty block)."""
    out = decided(penalty_record(uscc=subject), day)
    out.category = record_pb2.RECORD_CATEGORY_HONOUR
    out.ClearField("penalty")
    out.general.title = "诚信示范企业"
    out.severity = record_pb2.SEVERITY_NOT_UNTRUSTWORTHY
    return out


def next_revision(
    current: record_pb2.CreditRecord, previous_message_id: str, fine: str
) -> record_pb2.CreditRecord:
    """``current`` as its next revision, with another fine."""
    out = record_pb2.CreditRecord()
    out.CopyFrom(current)
    out.revision = current.revision + 1
    out.previous_revision_message_id = previous_message_id
    out.status = record_pb2.RECORD_STATUS_ACTIVE
    out.penalty.fine_amount = fine
    return out


def correction(
    record_id: str,
    kind: int,
    *,
    replacement: record_pb2.CreditRecord | None = None,
    objection_id: str = "",
) -> record_pb2.RecordCorrection:
    built = correction_statement(
        record_id, kind, replacement=replacement, objection_id=objection_id
    )
    return built.record_correction


def without_status(message: record_pb2.CreditRecord) -> record_pb2.CreditRecord:
    out = record_pb2.CreditRecord()
    out.CopyFrom(message)
    out.ClearField("status")
    return out


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node(dev: DevNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """The development node, serving the whole module from one store."""
    running = RunningGateway(
        credentials=dev.node,
        data_dir=tmp_path_factory.mktemp("domain") / "node",
        listen=dev.listen,
    )
    running.start()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def operator(dev: DevNode, node: RunningGateway) -> Iterator[Client]:
    with Client.from_credentials(dev.operator_dir) as connected:
        yield connected


@pytest.fixture(scope="module")
def measure_lists(operator: Client) -> tuple[measure_pb2.MeasureList, measure_pb2.MeasureList]:
    """Two versions of the national basic list: 2021.1 (from 2022) and 2025.1 (from July 2025,
    in force today: measure 2 dropped, 1 reworded, 15 added)."""
    seed = load_seed_2021()
    later = next_version(seed, "2025.1", "2025-07-01")
    first = operator.publish_measure_list(seed)
    second = operator.publish_measure_list(later)
    assert first.value == seed
    assert second.value == later
    for written in (first, second):
        assert written.receipt.payload_type == "application/vnd.creditlink.measure-list.v1+protobuf"
    return seed, later


@pytest.fixture(scope="module")
def raw(dev: DevNode, node: RunningGateway) -> Iterator[grpc.Channel]:
    """A plain channel of the operator's, for the raw stubs the tamper tests read with."""
    channel = grpc.secure_channel(dev.listen, dev.operator.channel_credentials())
    try:
        yield channel
    finally:
        channel.close()


@pytest.fixture(scope="module")
def calls(dev: DevNode) -> DomainCalls:
    core = ClientCore(credentials=dev.operator, target=dev.listen, gateway=dev.node_id)
    return DomainCalls(core)


# --- records -------------------------------------------------------------------------------


def test_get_record_verifies_provenance_with_and_without_proof(operator: Client) -> None:
    published = penalty_record(uscc=company(1))
    receipt = operator.submit(published)

    plain = operator.get_record(published.record_id)
    assert plain.value == published
    assert (plain.disputed, plain.open_objection_ids) == (False, ())
    (origin,) = plain.provenance
    assert origin.gateway_node_id == operator.gateway
    assert origin.entry.message_id == receipt.message_id
    assert origin.entry.leaf_index == receipt.first_leaf_index
    assert origin.entry.statement.record == published
    assert origin.inclusion is None

    proved = operator.get_record(published.record_id, include_proof=True)
    assert proved.value == published
    (origin,) = proved.provenance
    proof = origin.inclusion
    assert proof is not None
    assert proof.entry == origin.entry
    assert proof.checkpoint.size > receipt.first_leaf_index
    assert proof.note.startswith(proof.checkpoint.origin + "\n")
    # The client verified the path; check it again from the parts it hands out.
    verify_inclusion(
        leaf_hash=origin.entry.leaf_hash,
        index=receipt.first_leaf_index,
        tree_size=proof.checkpoint.size,
        proof=proof.hashes,
        root=proof.checkpoint.root_hash,
    )
    # The checkpoint is a state of the gateway's log: the latest one extends it.
    consistency = operator.get_consistency_proof(proof.checkpoint)
    assert consistency.old == proof.checkpoint


def test_unknown_record_is_not_found(operator: Client) -> None:
    with pytest.raises(NotFound) as caught:
        operator.get_record(str(uuid.uuid4()))
    assert caught.value.reason == "RECORD_NOT_FOUND"
    assert caught.value.status_code is grpc.StatusCode.NOT_FOUND


def test_correct_record_and_read_each_revision(operator: Client) -> None:
    first = penalty_record(uscc=company(2))
    original = operator.submit(first)
    second = next_revision(first, original.message_id, fine="3")

    written = operator.correct_record(
        correction(first.record_id, record_pb2.CORRECTION_KIND_CORRECT, replacement=second)
    )
    assert written.value == second
    assert written.receipt.payload_type == (
        "application/vnd.creditlink.record-correction.v1+protobuf"
    )

    current = operator.get_record(first.record_id, include_proof=True)
    assert current.value == second
    (origin,) = current.provenance
    assert origin.entry.message_id == written.receipt.message_id
    assert origin.entry.statement.record_correction.record == second
    assert origin.inclusion is not None

    earlier = operator.get_record(first.record_id, revision=1, include_proof=True)
    assert earlier.value.status == record_pb2.RECORD_STATUS_CORRECTED
    assert without_status(earlier.value) == without_status(first)
    assert [p.entry.message_id for p in earlier.provenance] == [original.message_id]
    assert operator.get_record(first.record_id, revision=2).value == second

    with pytest.raises(NotFound) as caught:
        operator.get_record(first.record_id, revision=3)
    assert caught.value.reason == "REVISION_NOT_FOUND"


def test_revoke_record(operator: Client) -> None:
    published = penalty_record(uscc=company(3))
    original = operator.submit(published)

    revoked = operator.revoke_record(
        correction(published.record_id, record_pb2.CORRECTION_KIND_REVOKE)
    )
    assert revoked.value is not None
    assert revoked.value.status == record_pb2.RECORD_STATUS_REVOKED
    assert without_status(revoked.value) == without_status(published)

    view = operator.get_record(published.record_id, include_proof=True)
    assert view.value.status == record_pb2.RECORD_STATUS_REVOKED
    # The revision's statement first, then the revocation that changed its status.
    assert [p.entry.message_id for p in view.provenance] == [
        original.message_id,
        revoked.receipt.message_id,
    ]
    assert view.provenance[1].entry.statement.record_correction.kind == (
        record_pb2.CORRECTION_KIND_REVOKE
    )
    assert all(p.inclusion is not None for p in view.provenance)
    # A revoked record stays revoked.
    with pytest.raises(FailedPrecondition) as caught:
        operator.revoke_record(correction(published.record_id, record_pb2.CORRECTION_KIND_REVOKE))
    assert caught.value.reason == "RECORD_REVOKED"


def test_list_records_pages_and_filters(operator: Client) -> None:
    subject = company(4)
    january, february, march = dt.date(2026, 1, 5), dt.date(2026, 2, 5), dt.date(2026, 3, 5)
    penalties = [decided(penalty_record(uscc=subject), d) for d in (january, february, march)]
    praised = honour(subject, dt.date(2026, 2, 20))
    operator.submit([*penalties, praised])
    operator.revoke_record(correction(penalties[1].record_id, record_pb2.CORRECTION_KIND_REVOKE))
    newest_first = [penalties[2], praised, penalties[1], penalties[0]]
    ids = [r.record_id for r in newest_first]

    # One record a page: four pages, the last without a next token.
    pages = list(operator.list_records(subject, page_size=1).pages)
    assert [[r.record_id for r in p.items] for p in pages] == [[i] for i in ids]
    assert all(p.next_page_token for p in pages[:-1])
    assert pages[-1].next_page_token == ""
    # Iterating crosses the pages; max_items stops early.
    assert [r.record_id for r in operator.list_records(subject, page_size=1)] == ids
    assert [r.record_id for r in operator.list_records(subject, page_size=1, max_items=2)] == (
        ids[:2]
    )
    assert operator.list_records(subject, max_items=0).all() == []
    everything = operator.list_records(subject).all()
    assert [r.record_id for r in everything] == ids
    assert everything[2].status == record_pb2.RECORD_STATUS_REVOKED

    honours = operator.list_records(subject, categories=[record_pb2.RECORD_CATEGORY_HONOUR])
    assert [r.record_id for r in honours] == [praised.record_id]
    revoked = operator.list_records(subject, statuses=[record_pb2.RECORD_STATUS_REVOKED])
    assert [r.record_id for r in revoked] == [penalties[1].record_id]
    active_penalties = operator.list_records(
        subject,
        categories=[record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY],
        statuses=[record_pb2.RECORD_STATUS_ACTIVE],
        page_size=1,
    )
    assert [r.record_id for r in active_penalties] == [ids[0], ids[3]]
    # Decision dates, both ends inclusive.
    window = operator.list_records(subject, decided_from=february, decided_to=march, page_size=1)
    assert [r.record_id for r in window] == ids[:3]
    assert [r.record_id for r in operator.list_records(subject, decided_to=january)] == [ids[3]]
    assert operator.list_records(company(999)).all() == []
    with pytest.raises(ValueError, match="page_size"):
        operator.list_records(subject, page_size=0)


def test_list_overdue_records(operator: Client) -> None:
    # Decided in January 2025 and published only now: long past the 7-working-day deadline.
    late = record(decided=dt.date(2025, 1, 6), uscc=company(5))
    operator.submit(late)
    request = record_service_pb2.ListOverdueRecordsRequest(
        kinds=[record_service_pb2.OVERDUE_KIND_LATE_PUBLICATION]
    )
    rows = {row.record.record_id: row for row in operator.list_overdue_records(request)}
    row = rows[late.record_id]
    assert row.kind == record_service_pb2.OVERDUE_KIND_LATE_PUBLICATION
    assert row.days_overdue > 300
    assert row.deadline.working_days
    first = list(operator.list_overdue_records(request, page_size=1, max_items=1))
    assert len(first) == 1


# --- name lists and measure lists ----------------------------------------------------------


def test_name_list_entry_check_subject_and_repair(
    operator: Client,
    measure_lists: tuple[measure_pb2.MeasureList, measure_pb2.MeasureList],
) -> None:
    subject, other = company(6), company(7)
    seed, later = measure_lists
    representative = person_token(subject)
    entry = entry_statement(
        operator.credentials.node_id,
        uscc=subject,
        start="2025-01-01",
        end="2029-12-31",
        persons=((representative, name_list_pb2.RESPONSIBLE_ROLE_LEGAL_REPRESENTATIVE),),
    ).name_list_entry

    created = operator.create_name_list_entry(entry)
    assert created.value is not None
    assert created.value.entry_id == entry.entry_id
    assert created.value.state == S.NAME_LIST_STATE_LISTED
    assert created.receipt.payload_type == (
        "application/vnd.creditlink.name-list-entry.v1+protobuf"
    )
    assert created.receipt.statement_ids == (created.receipt.message_id,)
    logged = operator.get_inclusion_proof(message_id=created.receipt.message_id)
    assert logged.entry.statement.name_list_entry == entry
    assert list(logged.entry.statement.header.recipient_node_ids) == []  # broadcast

    fetched = operator.get_name_list_entry(entry.entry_id, include_proof=True)
    assert fetched.value == entry
    (origin,) = fetched.provenance
    assert origin.entry.message_id == created.receipt.message_id
    assert origin.inclusion is not None

    by_subject = name_list_service_pb2.ListNameListEntriesRequest(uscc=subject)
    assert [e.entry_id for e in operator.list_name_list_entries(by_subject)] == [entry.entry_id]
    repaired_only = name_list_service_pb2.ListNameListEntriesRequest(
        uscc=subject, states=[S.NAME_LIST_STATE_REPAIRED]
    )
    assert operator.list_name_list_entries(repaired_only).all() == []

    # Listed: the measure the entry applies for procurement, from the version in force today.
    check = operator.check_subject(subject, PROCUREMENT)
    assert check.listed
    assert [e.entry_id for e in check.entries] == [entry.entry_id]
    (measure,) = check.measures
    assert (measure.ref.list_id, measure.ref.version, measure.ref.measure_id) == (
        LIST_ID,
        "2025.1",
        "1",
    )
    assert measure.measure == later.measures[0]
    assert list(measure.entry_ids) == [entry.entry_id]
    assert check.checkpoint.size > created.receipt.first_leaf_index
    every = operator.check_subject(subject, common_pb2.USE_PURPOSE_GENERAL)
    assert sorted(m.ref.measure_id for m in every.measures) == ["1", "11", "4"]
    # In March 2025 the 2021 version was in force.
    before = operator.check_subject(subject, PROCUREMENT, as_of=datetime(2025, 3, 1, 2, tzinfo=UTC))
    assert [(m.ref.version, m.measure.content) for m in before.measures] == [
        ("2021.1", seed.measures[0].content)
    ]
    assert before.checked_at == datetime(2025, 3, 1, 2, tzinfo=UTC)
    nobody = operator.check_subject(other, PROCUREMENT)
    assert (nobody.listed, nobody.entries, nobody.measures) == (False, (), ())
    # The legal representative, by person token: only when responsible persons are asked for.
    as_person = operator.check_subject(representative, PROCUREMENT, include_responsible_person=True)
    assert [e.entry_id for e in as_person.entries] == [entry.entry_id]
    assert not operator.check_subject(representative, PROCUREMENT).listed

    # Repaired: no longer listed, and the entry says how it got there.
    transition = transition_statement(
        operator.credentials.node_id,
        entry.entry_id,
        S.NAME_LIST_STATE_LISTED,
        S.NAME_LIST_STATE_REPAIRED,
        reason_code=name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED,
    ).name_list_transition
    moved = operator.transition_name_list_entry(transition)
    assert moved.value is not None
    assert moved.value.state == S.NAME_LIST_STATE_REPAIRED
    after = operator.check_subject(subject, PROCUREMENT)
    assert (after.listed, after.measures) == (False, ())
    assert after.checkpoint.size > check.checkpoint.size
    fetched = operator.get_name_list_entry(entry.entry_id)
    assert fetched.value.state == S.NAME_LIST_STATE_REPAIRED
    assert [p.entry.message_id for p in fetched.provenance] == [
        created.receipt.message_id,
        moved.receipt.message_id,
    ]
    assert [e.entry_id for e in operator.list_name_list_entries(repaired_only)] == [entry.entry_id]
    with pytest.raises(NotFound):
        operator.get_name_list_entry(str(uuid.uuid4()))


def test_measure_list_versions_and_diff(
    operator: Client,
    measure_lists: tuple[measure_pb2.MeasureList, measure_pb2.MeasureList],
) -> None:
    seed, later = measure_lists
    by_version = operator.get_measure_list(LIST_ID, version="2021.1", include_proof=True)
    assert by_version.value == seed
    (origin,) = by_version.provenance
    assert origin.entry.statement.measure_list == seed
    assert origin.inclusion is not None

    assert operator.get_measure_list(LIST_ID, effective_on=dt.date(2024, 12, 31)).value == seed
    assert operator.get_measure_list(LIST_ID, effective_on=dt.date(2025, 7, 1)).value == later
    assert operator.get_measure_list(LIST_ID).value == later  # in force today
    with pytest.raises(NotFound) as caught:
        operator.get_measure_list(LIST_ID, effective_on=dt.date(2021, 12, 31))
    assert caught.value.reason == "MEASURE_LIST_NOT_FOUND"
    with pytest.raises(ValueError, match="not both"):
        operator.get_measure_list(LIST_ID, version="2021.1", effective_on=dt.date(2024, 1, 1))

    # Newest effective date first, one version a page.
    versions = list(operator.list_measure_lists(LIST_ID, page_size=1).pages)
    assert [[m.version for m in p.items] for p in versions] == [["2025.1"], ["2021.1"]]
    assert [m.version for m in operator.list_measure_lists()] == ["2025.1", "2021.1"]

    diff = operator.diff_measure_lists(LIST_ID, "2021.1", "2025.1")
    assert [m.measure_id for m in diff.added] == ["15"]
    assert [m.measure_id for m in diff.removed] == ["2"]
    (changed,) = diff.changed
    assert changed.measure_id == "1"
    assert list(changed.changed_fields) == ["content"]
    assert (changed.before, changed.after) == (seed.measures[0], later.measures[0])
    assert (diff.from_effective_date, diff.to_effective_date) == (
        dt.date(2022, 1, 1),
        dt.date(2025, 7, 1),
    )


# --- objections and repair -----------------------------------------------------------------


def test_objection_disputes_the_record_until_resolved(operator: Client) -> None:
    subject = company(8)
    published = penalty_record(uscc=subject)
    original = operator.submit(published)
    now = datetime.now(UTC)
    objection = objection_statement(
        [("record", published.record_id)],
        filed=now,
        due=china_today() + dt.timedelta(days=14),
        uscc=subject,
    ).objection

    filed = operator.file_objection(objection)
    assert filed.value is not None
    assert filed.value.objection_id == objection.objection_id
    assert filed.value.status == objection_pb2.OBJECTION_STATUS_OPEN
    disputed = operator.get_record(published.record_id)
    assert disputed.disputed
    assert disputed.open_objection_ids == (objection.objection_id,)

    fetched = operator.get_objection(objection.objection_id, include_proof=True)
    assert fetched.value.status == objection_pb2.OBJECTION_STATUS_OPEN
    (origin,) = fetched.provenance
    assert origin.entry.message_id == filed.receipt.message_id
    assert origin.entry.statement.objection == objection
    assert origin.inclusion is not None
    open_ones = objection_service_pb2.ListObjectionsRequest(
        uscc=subject, statuses=[objection_pb2.OBJECTION_STATUS_OPEN]
    )
    assert [o.objection_id for o in operator.list_objections(open_ones)] == [objection.objection_id]
    by_target = objection_service_pb2.ListObjectionsRequest(target_id=published.record_id)
    assert [o.objection_id for o in operator.list_objections(by_target)] == [objection.objection_id]

    # Upheld: the record is corrected on the objection, then the objection is resolved.
    fixed = next_revision(published, original.message_id, fine="1")
    corrected = operator.correct_record(
        correction(
            published.record_id,
            record_pb2.CORRECTION_KIND_CORRECT,
            replacement=fixed,
            objection_id=objection.objection_id,
        )
    )
    resolution = resolution_statement(
        objection.objection_id,
        objection_pb2.OBJECTION_STATUS_UPHELD,
        resolved=datetime.now(UTC),
        corrections=[corrected.receipt.message_id],
    ).objection_resolution
    resolved = operator.resolve_objection(resolution)
    assert resolved.value is not None
    assert resolved.value.status == objection_pb2.OBJECTION_STATUS_UPHELD
    assert list(resolved.value.resolution.correction_message_ids) == [corrected.receipt.message_id]

    released = operator.get_record(published.record_id)
    assert (released.disputed, released.open_objection_ids) == (False, ())
    assert released.value == fixed
    fetched = operator.get_objection(objection.objection_id)
    assert [p.entry.message_id for p in fetched.provenance] == [
        filed.receipt.message_id,
        resolved.receipt.message_id,
    ]
    assert operator.list_objections(open_ones).all() == []
    with pytest.raises(NotFound) as caught:
        operator.get_objection(str(uuid.uuid4()))
    assert caught.value.reason == "OBJECTION_NOT_FOUND"


def test_repair_application_with_its_commitment_approved_and_record_repaired(
    operator: Client,
) -> None:
    subject = company(9)
    # Decided in January 2025: the minimum publication period has passed.
    published = record(decided=dt.date(2025, 1, 6), uscc=subject)
    operator.submit(published)
    commitment = commitment_statement(made=china_today(), uscc=subject).commitment
    application = application_statement(
        [("record", published.record_id)],
        commitment.commitment_id,
        submitted=datetime.now(UTC),
        uscc=subject,
    ).repair_application

    # The commitment and the application, in one signed batch: one receipt for both leaves.
    submitted = operator.submit_repair_application(application, commitment=commitment)
    assert submitted.value is not None
    assert submitted.value.status == repair_pb2.REPAIR_STATUS_SUBMITTED
    assert submitted.receipt.leaf_count == 2
    committed, applied = submitted.receipt.statement_ids
    fetched = operator.get_repair_application(application.application_id, include_proof=True)
    (origin,) = fetched.provenance
    assert origin.entry.message_id == applied
    assert origin.entry.batch_id == submitted.receipt.message_id
    assert origin.entry.leaf_index == submitted.receipt.leaf_index(applied)
    assert origin.entry.statement.repair_application == application
    assert origin.inclusion is not None
    logged = operator.get_inclusion_proof(leaf_index=submitted.receipt.leaf_index(committed))
    assert logged.entry.statement.commitment == commitment
    pending = objection_service_pb2.ListRepairApplicationsRequest(
        uscc=subject, statuses=[repair_pb2.REPAIR_STATUS_SUBMITTED]
    )
    assert [a.application_id for a in operator.list_repair_applications(pending)] == [
        application.application_id
    ]

    decision = decision_statement(
        application.application_id,
        repair_pb2.REPAIR_STATUS_APPROVED,
        decided=datetime.now(UTC),
        approved=[("record", published.record_id)],
    ).repair_decision
    approved_now = operator.decide_repair_application(decision)
    assert approved_now.value is not None
    assert approved_now.value.status == repair_pb2.REPAIR_STATUS_APPROVED
    assert approved_now.value.decision.approved_targets[0].record_id == published.record_id

    assert operator.get_record(published.record_id).value.status == (
        record_pb2.RECORD_STATUS_REPAIRED
    )
    fetched = operator.get_repair_application(application.application_id)
    assert fetched.value.status == repair_pb2.REPAIR_STATUS_APPROVED
    assert [p.entry.message_id for p in fetched.provenance] == [
        applied,
        approved_now.receipt.message_id,
    ]
    assert operator.list_repair_applications(pending).all() == []
    approved = objection_service_pb2.ListRepairApplicationsRequest(
        uscc=subject, statuses=[repair_pb2.REPAIR_STATUS_APPROVED]
    )
    assert [a.application_id for a in operator.list_repair_applications(approved)] == [
        application.application_id
    ]


def test_repair_application_on_a_logged_commitment_rejected(operator: Client) -> None:
    subject = company(15)
    published = record(decided=dt.date(2025, 1, 6), uscc=subject)
    operator.submit(published)
    commitment = commitment_statement(made=china_today(), uscc=subject).commitment
    operator.submit(commitment)  # logged earlier: the application names it
    application = application_statement(
        [("record", published.record_id)],
        commitment.commitment_id,
        submitted=datetime.now(UTC),
        uscc=subject,
    ).repair_application
    submitted = operator.submit_repair_application(application)
    assert submitted.receipt.leaf_count == 1
    assert submitted.receipt.statement_ids == (submitted.receipt.message_id,)

    rejection = decision_statement(
        application.application_id,
        repair_pb2.REPAIR_STATUS_REJECTED,
        decided=datetime.now(UTC),
        rejections=[repair_pb2.REPAIR_REJECTION_REASON_INSUFFICIENT_EVIDENCE],
    ).repair_decision
    rejected = operator.decide_repair_application(rejection)
    assert rejected.value is not None
    assert rejected.value.status == repair_pb2.REPAIR_STATUS_REJECTED
    assert list(rejected.value.decision.rejection_reasons) == [
        repair_pb2.REPAIR_REJECTION_REASON_INSUFFICIENT_EVIDENCE
    ]
    assert operator.get_record(published.record_id).value.status == (
        record_pb2.RECORD_STATUS_ACTIVE
    )
    with pytest.raises(FailedPrecondition) as caught:
        operator.decide_repair_application(rejection)
    assert caught.value.reason == "APPLICATION_ALREADY_DECIDED"
    with pytest.raises(NotFound):
        operator.get_repair_application(str(uuid.uuid4()))


# --- reports -------------------------------------------------------------------------------


def test_issue_read_verify_and_supersede_a_report(operator: Client) -> None:
    subject = company(10)
    operator.submit(penalty_record(uscc=subject))

    issued = operator.issue_report(subject, PROCUREMENT, authority_uscc=AUTHORITY_USCC)
    assert issued.result.recognized
    report = issued.report
    assert report.subject.uscc == subject
    assert report.issuer_node_id == operator.gateway
    assert report.issuing_authority.uscc == AUTHORITY_USCC
    assert issued.receipt.payload_type == "application/vnd.creditlink.report.v1+protobuf"
    assert issued.bundle.log_node_id == operator.gateway
    assert ReportBundle.from_json(issued.bundle.to_json()) == issued.bundle
    offline = verify_report_offline(
        issued.bundle, operator.trust_bundle, purpose=UsePurpose(PROCUREMENT), subject=subject
    )
    assert offline.recognized

    fetched = operator.get_report(report.report_number)
    assert fetched.value.status == report_pb2.REPORT_STATUS_VALID
    assert fetched.provenance[0].entry.message_id == issued.receipt.message_id
    assert operator.get_report_bundle(report.report_number).envelope == issued.bundle.envelope
    online = operator.verify_report(report.report_number, purpose=PROCUREMENT, subject=subject)
    assert online.recognized
    assert online.reasons == ()
    assert online.report is not None
    assert online.report.report_number == report.report_number
    assert online.status == report_pb2.REPORT_STATUS_VALID
    wrong = operator.verify_report(issued.bundle, purpose=common_pb2.USE_PURPOSE_BIDDING)
    assert not wrong.recognized
    assert wrong.reasons == (report_pb2.RECOGNITION_REASON_PURPOSE_MISMATCH,)

    replacement = operator.supersede_report(
        report.report_number, subject=subject, purpose=PROCUREMENT, authority_uscc=AUTHORITY_USCC
    )
    assert replacement.value is not None
    assert replacement.value.supersedes_report_number == report.report_number
    assert replacement.value.report_number != report.report_number
    old = operator.get_report(report.report_number)
    assert old.value.status == report_pb2.REPORT_STATUS_SUPERSEDED
    assert len(old.provenance) == 2
    superseded = operator.verify_report(report.report_number)
    assert not superseded.recognized
    assert report_pb2.RECOGNITION_REASON_SUPERSEDED in superseded.reasons
    assert operator.verify_report(replacement.value.report_number).recognized
    with pytest.raises(NotFound) as missing:
        operator.get_report(report_no.generate("330000", dt.date(2026, 1, 5), "0" * 10))
    assert missing.value.reason == "REPORT_NOT_FOUND"


# --- tampered answers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def record_answers(
    operator: Client, raw: grpc.Channel
) -> tuple[str, record_service_pb2.GetRecordResponse, record_service_pb2.GetRecordResponse]:
    """Two records, one statement each, and their GetRecord answers (with proofs) as sent."""
    first, second = penalty_record(uscc=company(11)), penalty_record(uscc=company(11))
    operator.submit(first)
    operator.submit(second)
    stub = record_service_pb2_grpc.RecordServiceStub(raw)
    answers = [
        stub.GetRecord(
            record_service_pb2.GetRecordRequest(record_id=r.record_id, include_proof=True),
            timeout=10,
        )
        for r in (first, second)
    ]
    return first.record_id, answers[0], answers[1]


def _flip(data: bytes, at: int = 0) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def _note_with_size(note: str, size: int) -> str:
    origin, _, rest = note.partition("\n")
    _, _, rest = rest.partition("\n")
    return f"{origin}\n{size}\n{rest}"


Mutation = Callable[[record_service_pb2.GetRecordResponse], None]


def _message_id(r: record_service_pb2.GetRecordResponse) -> None:
    r.provenance[0].message_id = str(uuid.uuid4())


def _content(r: record_service_pb2.GetRecordResponse) -> None:
    r.record.penalty.fine_amount = "500"


def _proof_hash(r: record_service_pb2.GetRecordResponse) -> None:
    r.provenance[0].inclusion_proof.hashes[0] = _flip(r.provenance[0].inclusion_proof.hashes[0])


def _proof_short(r: record_service_pb2.GetRecordResponse) -> None:
    del r.provenance[0].inclusion_proof.hashes[-1]


def _note(r: record_service_pb2.GetRecordResponse) -> None:
    checkpoint = r.provenance[0].checkpoint
    checkpoint.note = _note_with_size(checkpoint.note, checkpoint.size + 1)


def _proof_leaf(r: record_service_pb2.GetRecordResponse) -> None:
    r.provenance[0].inclusion_proof.leaf_index += 1


def _no_proof(r: record_service_pb2.GetRecordResponse) -> None:
    r.provenance[0].ClearField("inclusion_proof")


def _foreign_log(r: record_service_pb2.GetRecordResponse) -> None:
    r.provenance[0].gateway_node_id = "gd-440000"


def _not_a_log(r: record_service_pb2.GetRecordResponse) -> None:
    r.provenance[0].gateway_node_id = "dev-node-operator"  # a member, but it keeps no log


def _signed_payload(r: record_service_pb2.GetRecordResponse) -> None:
    envelope = r.provenance[0].entry.envelope
    envelope.payload = _flip(envelope.payload, len(envelope.payload) // 2)


def _no_provenance(r: record_service_pb2.GetRecordResponse) -> None:
    del r.provenance[:]


@pytest.mark.parametrize(
    ("mutate", "error", "reason"),
    [
        pytest.param(_message_id, VerificationError, "PROVENANCE_MISMATCH", id="message-id"),
        pytest.param(_content, VerificationError, "PROVENANCE_MISMATCH", id="record-content"),
        pytest.param(_proof_hash, InvalidProof, "INVALID_PROOF", id="proof-hash"),
        pytest.param(_proof_short, InvalidProof, "INVALID_PROOF", id="proof-too-short"),
        pytest.param(_note, InvalidCheckpoint, "INVALID_CHECKPOINT", id="checkpoint-note"),
        pytest.param(_proof_leaf, VerificationError, "PROOF_SIZE_MISMATCH", id="proof-leaf"),
        pytest.param(_no_proof, VerificationError, "NO_PROOF", id="no-proof"),
        pytest.param(_foreign_log, VerificationError, "UNKNOWN_LOG", id="foreign-log"),
        pytest.param(_not_a_log, InvalidCheckpoint, "NO_VALID_KEY", id="member-without-log"),
        pytest.param(_signed_payload, InvalidEnvelope, "INVALID_SIGNATURE", id="payload"),
        pytest.param(_no_provenance, VerificationError, "NO_PROVENANCE", id="no-provenance"),
    ],
)
def test_a_tampered_record_report_answeris_refused(
    calls: DomainCalls,
    record_answers: tuple[
        str, record_service_pb2.GetRecordResponse, record_service_pb2.GetRecordResponse
    ],
    mutate: Mutation,
    error: type[VerificationError],
    reason: str,
) -> None:
    record_id, answer, _ = record_answers
    call = calls.get_record(record_id, revision=0, include_proof=True)
    assert call.finish(answer).value.record_id == record_id  # untouched, it verifies
    tampered = record_service_pb2.GetRecordResponse()
    tampered.CopyFrom(answer)
    mutate(tampered)
    with pytest.raises(error) as caught:
        call.finish(tampered)
    assert caught.value.reason == reason


def test_another_records_report_answeris_refused(
    calls: DomainCalls,
    record_answers: tuple[
        str, record_service_pb2.GetRecordResponse, record_service_pb2.GetRecordResponse
    ],
) -> None:
    record_id, _, other = record_answers
    # The other answer verifies on its own (it is genuine), but it is not the record asked for.
    with pytest.raises(VerificationError) as caught:
        calls.get_record(record_id, revision=0, include_proof=True).finish(other)
    assert caught.value.reason == "WRONG_OBJECT"
    # Asked for revision 2, answered with revision 1.
    _, answer, _ = record_answers
    with pytest.raises(VerificationError) as caught:
        calls.get_record(record_id, revision=2, include_proof=True).finish(answer)
    assert caught.value.reason == "WRONG_OBJECT"


def test_a_receipt_of_another_write_is_refused(
    calls: DomainCalls, operator: Client, raw: grpc.Channel
) -> None:
    sender = operator.credentials.node_id
    first, second = (
        calls.create_name_list_entry(
            entry_statement(sender, uscc=company(12)).name_list_entry, None
        )
        for _ in range(2)
    )
    stub = name_list_service_pb2_grpc.NameListServiceStub(raw)
    answers = [stub.CreateNameListEntry(c.request, timeout=10) for c in (first, second)]
    assert (
        first.finish(answers[0]).receipt.message_id != second.finish(answers[1]).receipt.message_id
    )
    with pytest.raises(VerificationError) as caught:
        first.finish(answers[1])
    assert caught.value.reason == "RECEIPT_MISMATCH"
    # A report order's answer must acknowledge one report the gateway signed, not this entry.
    order = calls.report_order(
        company(12),
        PROCUREMENT,
        authority_uscc=AUTHORITY_USCC,
        authority_name=None,
        purpose_description="",
    )
    with pytest.raises(VerificationError) as caught:
        calls.issue_report(order).finish(answers[0])
    assert caught.value.reason == "RECEIPT_MISMATCH"
    # A receipt whose signature does not verify.
    forged = name_list_service_pb2.CreateNameListEntryResponse()
    forged.CopyFrom(answers[0])
    forged.receipt.payload = _flip(forged.receipt.payload, 3)
    with pytest.raises(InvalidEnvelope):
        first.finish(forged)


def test_tampered_reads_of_the_other_services_are_refused(
    calls: DomainCalls,
    operator: Client,
    raw: grpc.Channel,
    measure_lists: tuple[measure_pb2.MeasureList, measure_pb2.MeasureList],
) -> None:
    # A measure list whose content differs from the signed version.
    measures = calls.get_measure_list(
        LIST_ID, version="2025.1", effective_on=None, include_proof=True
    )
    stub = measure_service_pb2_grpc.MeasureServiceStub(raw)
    answer = stub.GetMeasureList(measures.request, timeout=10)
    assert measures.finish(answer).value == measure_lists[1]
    answer.measure_list.measures[0].content = "不限制。"
    with pytest.raises(VerificationError) as caught:
        measures.finish(answer)
    assert caught.value.reason == "PROVENANCE_MISMATCH"

    # "Listed" without an entry, or entries without "listed".
    subject = company(13)
    operator.create_name_list_entry(
        entry_statement(operator.credentials.node_id, uscc=subject).name_list_entry
    )
    check = calls.check_subject(subject, PROCUREMENT, include_responsible_person=False, as_of=None)
    names = name_list_service_pb2_grpc.NameListServiceStub(raw)
    listed = names.CheckSubject(check.request, timeout=10)
    assert check.finish(listed).listed
    listed.listed = False
    with pytest.raises(VerificationError) as caught:
        check.finish(listed)
    assert caught.value.reason == "INCONSISTENT_ANSWER"
    listed.listed = True
    listed.checkpoint.note = _note_with_size(listed.checkpoint.note, listed.checkpoint.size + 1)
    with pytest.raises(InvalidCheckpoint):
        check.finish(listed)

    # A report whose content differs from the signed one; its status alone may differ.
    operator.submit(penalty_record(uscc=subject))
    issued = operator.issue_report(subject, PROCUREMENT, authority_uscc=AUTHORITY_USCC)
    number = issued.report.report_number
    read = calls.get_report(number, include_proof=True)
    reports = report_service_pb2_grpc.ReportServiceStub(raw)
    report_answer = reports.GetReport(read.request, timeout=10)
    report_answer.report.status = report_pb2.REPORT_STATUS_REVOKED
    assert read.finish(report_answer).value.status == report_pb2.REPORT_STATUS_REVOKED
    report_answer.report.purpose = common_pb2.USE_PURPOSE_BIDDING
    with pytest.raises(VerificationError) as caught:
        read.finish(report_answer)
    assert caught.value.reason == "PROVENANCE_MISMATCH"
    # Another report, genuine and with its own provenance, is not the report asked for.
    other = operator.issue_report(subject, PROCUREMENT, authority_uscc=AUTHORITY_USCC)
    another = reports.GetReport(
        calls.get_report(other.report.report_number, include_proof=True).request, timeout=10
    )
    with pytest.raises(VerificationError) as caught:
        read.finish(another)
    assert caught.value.reason == "WRONG_OBJECT"
    # The number may be asked for in its display form.
    displayed = calls.get_report(report_no.format(number), include_proof=False)
    assert (
        displayed.finish(reports.GetReport(displayed.request, timeout=10)).value.report_number
        == number
    )


# --- pagers (no gateway) ---------------------------------------------------------------------


class Pages:
    """A list call's answers by page token, counting the calls made."""

    def __init__(self, pages: dict[str, Page[int]]) -> None:
        self.pages = pages
        self.asked: list[str] = []

    def __call__(self, token: str) -> Page[int]:
        self.asked.append(token)
        # A pager going round in circles fails the test instead of fetching forever.
        assert len(self.asked) <= 2 * len(self.pages), f"still fetching after {self.asked}"
        return self.pages[token]

    async def fetch(self, token: str) -> Page[int]:
        return self(token)


THREE_PAGES = {
    "": Page(items=(1, 2), next_page_token="b"),
    "b": Page(items=(3, 4), next_page_token="c"),
    "c": Page(items=(5,), next_page_token=""),
}


def test_pager_stops_at_the_last_page() -> None:
    fetch = Pages(THREE_PAGES)
    pager = Pager(fetch)
    assert fetch.asked == []  # nothing is fetched before iteration needs it
    assert list(pager) == [1, 2, 3, 4, 5]
    assert fetch.asked == ["", "b", "c"]
    fetch.asked.clear()
    assert [p.items for p in pager.pages] == [(1, 2), (3, 4), (5,)]
    assert fetch.asked == ["", "b", "c"]
    fetch.asked.clear()
    assert next(iter(pager)) == 1
    assert fetch.asked == [""]


def test_pager_max_items_fetches_no_more_than_needed() -> None:
    fetch = Pages(THREE_PAGES)
    assert Pager(fetch, max_items=2).all() == [1, 2]
    assert fetch.asked == [""]
    fetch.asked.clear()
    assert Pager(fetch, max_items=3).all() == [1, 2, 3]
    assert fetch.asked == ["", "b"]
    fetch.asked.clear()
    assert Pager(fetch, max_items=0).all() == []
    assert fetch.asked == []
    assert Pager(fetch, max_items=99).all() == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="negative"):
        Pager(fetch, max_items=-1)
    empty = Pages({"": Page(items=(), next_page_token="")})
    assert Pager(empty).all() == []


@pytest.mark.parametrize(
    "pages",
    [
        pytest.param({"": Page(items=(1,), next_page_token="a"), "a": Page((2,), "a")}, id="again"),
        pytest.param(
            {
                "": Page(items=(1,), next_page_token="a"),
                "a": Page(items=(2,), next_page_token="b"),
                "b": Page(items=(3,), next_page_token="a"),
            },
            id="cycle",
        ),
    ],
)
def test_pager_refuses_a_page_token_seen_before(pages: dict[str, Page[int]]) -> None:
    fetch = Pages(pages)
    seen: list[int] = []
    with pytest.raises(RuntimeError, match="same page token twice"):
        seen.extend(Pager(fetch))
    assert len(fetch.asked) == len(pages)  # stopped instead of going round


async def test_async_pager_pages_max_items_and_repeated_tokens() -> None:
    fetch = Pages(THREE_PAGES)
    assert [i async for i in AsyncPager(fetch.fetch)] == [1, 2, 3, 4, 5]
    assert [p.items async for p in AsyncPager(fetch.fetch).pages] == [(1, 2), (3, 4), (5,)]
    fetch.asked.clear()
    assert await AsyncPager(fetch.fetch, max_items=3).all() == [1, 2, 3]
    assert fetch.asked == ["", "b"]
    fetch.asked.clear()
    assert await AsyncPager(fetch.fetch, max_items=0).all() == []
    assert fetch.asked == []
    with pytest.raises(ValueError, match="negative"):
        AsyncPager(fetch.fetch, max_items=-1)
    looping = Pages({"": Page((1,), "a"), "a": Page((2,), "b"), "b": Page((3,), "a")})
    with pytest.raises(RuntimeError, match="same page token twice"):
        await AsyncPager(looping.fetch).all()


def test_list_requests_carry_subject_filters_and_tokens(calls: DomainCalls) -> None:
    paged = calls.list_records(
        f" {company(1)} ",
        categories=[record_pb2.RECORD_CATEGORY_HONOUR],
        statuses=[],
        decided_from=dt.date(2026, 1, 1),
        decided_to=None,
        page_size=7,
    )
    request = paged.request("token-2")
    assert isinstance(request, record_service_pb2.ListRecordsRequest)
    assert (request.uscc, request.page_size, request.page_token) == (company(1), 7, "token-2")
    assert list(request.categories) == [record_pb2.RECORD_CATEGORY_HONOUR]
    assert request.decision_date.start == common_pb2.Date(year=2026, month=1, day=1)
    assert not request.decision_date.HasField("end")
    assert paged.request("").page_token == ""  # type: ignore[attr-defined]
    token = "pn1:" + "A" * 43
    by_person = calls.list_records(
        token, categories=(), statuses=(), decided_from=None, decided_to=None, page_size=1
    ).request("")
    assert (by_person.person_token, by_person.uscc) == (token, "")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="empty"):
        calls.list_records(
            " ", categories=(), statuses=(), decided_from=None, decided_to=None, page_size=1
        )
    with pytest.raises(ValueError, match="page_size"):
        calls.list_records(
            company(1),
            categories=(),
            statuses=(),
            decided_from=None,
            decided_to=None,
            page_size=1001,
        )


def test_a_reason_the_client_does_not_know_is_kept_as_a_failure(calls: DomainCalls) -> None:
    """CXP-REPORT-030: a newer gateway's reason code is carried, not dropped or misread."""
    response = report_service_pb2.VerifyReportResponse()
    result = response.result
    result.recognized = False
    result.checked_at.GetCurrentTime()
    result.findings.add(reason=99, message="a rule this client does not know")  # type: ignore[arg-type]
    number = "CR33000020261126000000000001"
    call = calls.verify_report(number, purpose=0, subject=None, at=None)
    answer = call.finish(response)
    assert not answer.recognized
    assert answer.reasons == (99,)
    assert answer.messages == ("a rule this client does not know",)
