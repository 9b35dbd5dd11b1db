"""Credit reports in the domain: the report builder and the report handlers, on both stores.

The builder reads real objects: record, name-list and evaluation statements are appended to a
real ledger over SQLite or PostgreSQL (their handlers project them), then the report is built
from what the store holds. The handlers are driven the same way, with ``report`` and
``report-status-change`` statements. The scope rule is checked against the offline verifier
itself on reports signed with a development federation's keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.gateway.domain.evaluation import evaluate
from creditlink.gateway.domain.handlers.commitments import commitment_handlers
from creditlink.gateway.domain.handlers.evaluations import evaluation_handlers
from creditlink.gateway.domain.handlers.name_lists import body_of, name_list_handlers
from creditlink.gateway.domain.handlers.records import record_handlers
from creditlink.gateway.domain.handlers.reports import (
    REVOKED,
    SUPERSEDED,
    VALID,
    current_status,
    issuer_denial,
    report_handlers,
)
from creditlink.gateway.domain.measures import load_seed_2021, measures_for
from creditlink.gateway.domain.projection import Projection
from creditlink.gateway.domain.reports import (
    STANDARD_VERSION,
    ReportOrder,
    ReportSources,
    build_report,
    report_number_for,
)
from creditlink.gateway.ledger import Ledger, LedgerEntry, Submission
from creditlink.gateway.store import Store
from creditlink.gateway.store.base import DomainObject, DomainQuery
from creditlink.sdk import envelope
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.errors import InvalidArgument, LimitExceeded
from creditlink.sdk.ids import report_no
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.reports import (
    RecognitionReason,
    ReportStatus,
    Rule,
    UsePurpose,
    make_bundle,
    sign_report_statement,
    verify_report_offline,
)
from creditlink.sdk.tlog import (
    Checkpoint,
    Frontier,
    MemoryNodeStore,
    NoteSigner,
    inclusion_proof,
    leaf_hash,
    sign_note,
)
from creditlink.v1 import (
    commitment_pb2,
    common_pb2,
    measure_pb2,
    record_pb2,
    report_pb2,
    statement_pb2,
)
from tests.gateway.listings import HANGZHOU_AMR_USCC, LISTED_USCC, OTHER_USCC, entry_statement
from tests.gateway.statements import penalty_record

ORIGIN = "creditlink.test/zj-330000"
ZJ = "zj-330000"
#: 2026-03-20 10:00 in China: every record below was decided and published before.
AT = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
AUTHORITY = common_pb2.AuthorityRef(
    name="浙江省信用中心", uscc="12330000MB0U88871K", region_code="330000"
)
C = record_pb2


def _statement(sender: str = ZJ, **body: object) -> statement_pb2.Statement:
    out = statement_pb2.Statement(**body)  # type: ignore[arg-type]
    out.header.message_id = str(uuid.uuid4())
    out.header.sender_node_id = sender
    out.header.recipient_node_ids.append(ZJ)
    out.header.created_at.FromDatetime(AT)
    out.header.request_id = str(uuid.uuid4())
    return out


def _submission(statement: statement_pb2.Statement) -> Submission:
    kind = (statement.WhichOneof("body") or "").replace("_", "-")
    payload = statement.SerializeToString(deterministic=True)
    payload_type = envelope.payload_type_for(kind)
    body = getattr(statement, statement.WhichOneof("body") or "")
    subject = getattr(body, "subject", None)
    sender = statement.header.sender_node_id
    return Submission(
        message_id=statement.header.message_id,
        request_digest=hashlib.sha256(payload + b"request").digest(),
        sender_node_id=sender,
        payload_type=payload_type,
        payload_digest=hashlib.sha256(payload).digest(),
        entries=[
            LedgerEntry(
                message_id=statement.header.message_id,
                kind=kind,
                sender_node_id=sender,
                payload_type=payload_type,
                payload=payload,
                envelope=b"env",
                subject_key=(subject.uscc or subject.person_token) if subject else None,
            )
        ],
    )


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(
        store=store,
        node_id=ZJ,
        origin=ORIGIN,
        signing_key=PrivateKey.from_seed(b"s" * 32),
        checkpoint_signer=NoteSigner.from_seed(ORIGIN, b"n" * 32),
        clock=lambda: AT,
        projector=Projection(
            [
                *record_handlers(),
                *name_list_handlers(),
                *evaluation_handlers(),
                *commitment_handlers(),
                *report_handlers(),
            ],
            log_origin=ORIGIN,
        ),
    )


async def _append(ledger: Ledger, *statements: statement_pb2.Statement) -> list[str | None]:
    """Append each statement as its own submission in ONE append; the refusal reasons."""
    acks = await ledger.append([_submission(s) for s in statements])
    return [None if a.error is None else a.error.reason for a in acks]


def _record(
    *,
    uscc: str = LISTED_USCC,
    decided: date = date(2026, 3, 2),
    published_until: date | None = None,
) -> C.CreditRecord:
    record = penalty_record(uscc=uscc, region="330100" if uscc[2:4] == "33" else "440300")
    record.decision_date.year, record.decision_date.month = decided.year, decided.month
    record.decision_date.day = decided.day
    if published_until is not None:
        end = record.publication_end
        end.year, end.month, end.day = (
            published_until.year,
            published_until.month,
            published_until.day,
        )
    return record


def _revocation(record_id: str) -> statement_pb2.Statement:
    change = C.RecordCorrection(
        record_id=record_id,
        kind=C.CORRECTION_KIND_REVOKE,
        reason_code=C.CORRECTION_REASON_DECISION_CHANGED,
        reason="行政复议决定撤销原处罚决定",
    )
    change.authority.name = "杭州市市场监督管理局"
    change.authority.uscc = HANGZHOU_AMR_USCC
    change.effective_date.year, change.effective_date.month, change.effective_date.day = (
        2026,
        3,
        18,
    )
    return _statement(record_correction=change)


async def _objects(store: Store, kind: str, subject: str = LISTED_USCC) -> list[DomainObject]:
    return await store.query_objects(DomainQuery(kinds=[kind], subject_key=subject))


def _order(seed: str = "order-1", **changes: object) -> ReportOrder:
    order = ReportOrder(
        subject=common_pb2.SubjectRef(uscc=LISTED_USCC),
        purpose=UsePurpose.GOVERNMENT_PROCUREMENT,
        issuer_node_id=ZJ,
        issuer_region="330000",
        issuing_authority=AUTHORITY,
        serial_seed=seed,
    )
    return dataclasses.replace(order, **changes)  # type: ignore[arg-type]


@dataclasses.dataclass
class Held:
    """What the store holds about the listed company, and the ids the test made."""

    sources: ReportSources
    older: C.CreditRecord
    newer: C.CreditRecord
    entry_id: str


async def _hold(ledger: Ledger, store: Store) -> Held:
    """Two published penalties, one revoked, one past its publication, one of another company,
    a serious-untrustworthy listing, an evaluation and a commitment."""
    older, newer = _record(decided=date(2026, 2, 2)), _record(decided=date(2026, 3, 2))
    revoked, ended = _record(), _record(decided=date(2025, 3, 2), published_until=date(2026, 3, 9))
    stranger = _record(uscc=OTHER_USCC)
    listing = entry_statement(ZJ, recipients=[ZJ])
    subject = common_pb2.SubjectRef(uscc=LISTED_USCC, kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON)
    evaluation = evaluate(
        subject,
        [],
        as_of=date(2026, 3, 9),
        evaluation_id=str(uuid.uuid4()),
        evaluator=common_pb2.AuthorityRef(name="浙江省发展和改革委员会", uscc="11330000002482071R"),
        evaluated_at=AT - timedelta(days=1),
    )
    commitment = commitment_pb2.CreditCommitment(
        commitment_id=str(uuid.uuid4()),
        subject=subject,
        type=commitment_pb2.COMMITMENT_TYPE_MISSING_MATERIALS,
        content="承诺于30日内补齐环评批复材料",
        made_on=common_pb2.Date(year=2026, month=3, day=10),
        fulfilment_status=commitment_pb2.FULFILMENT_STATUS_PENDING,
    )
    refused = await _append(
        ledger,
        *(_statement(record=r) for r in (older, newer, revoked, ended, stranger)),
        listing,
        _statement(evaluation=evaluation),
        _statement(commitment=commitment),
    )
    assert refused == [None] * 8
    assert await _append(ledger, _revocation(revoked.record_id)) == [None]
    entries = [body_of(o) for o in await _objects(store, "name-list-entry")]
    seed = load_seed_2021()
    measures = [
        measure_pb2.ApplicableMeasure(ref=ref, measure=measure, entry_ids=[entry.entry_id])
        for entry in entries
        for ref, measure in measures_for(entry, common_pb2.USE_PURPOSE_GOVERNMENT_PROCUREMENT, seed)
    ]
    sources = ReportSources(
        records=await _objects(store, "record"),
        name_list_entries=entries,
        measures=measures,
        evaluations=await _objects(store, "evaluation"),
        commitments=await _objects(store, "commitment"),
    )
    return Held(sources, older, newer, listing.name_list_entry.entry_id)


# -- the builder --------------------------------------------------------------------------------


async def test_a_report_shows_what_is_still_published_in_the_standard_sections(
    ledger: Ledger, store: Store
) -> None:
    held = await _hold(ledger, store)
    report = build_report(_order(), held.sources, now=AT)

    # Records by type: only the two penalties still published, newest decision first.
    (section,) = report.record_sections
    assert section.category == C.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY
    assert [i.record.record_id for i in section.items] == [
        held.newer.record_id,
        held.older.record_id,
    ]
    assert all(i.message_id and not i.disputed for i in section.items)
    assert all(i.record.status == C.RECORD_STATUS_ACTIVE for i in section.items)
    # Summary: every information type, zeros included; the name-list and evaluation sections
    # count under their types.
    counts = {c.category: c.count for c in report.summary.counts}
    assert set(counts) == {v for v in C.RecordCategory.values() if v}
    assert counts[C.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY] == 2
    assert counts[C.RECORD_CATEGORY_SERIOUS_UNTRUSTWORTHY_LIST] == 1
    assert counts[C.RECORD_CATEGORY_CREDIT_EVALUATION] == 1
    assert counts[C.RECORD_CATEGORY_CREDIT_COMMITMENT] == 1
    assert counts[C.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT] == 0
    assert report.summary.name_list_entries_in_force == 1
    assert report.summary.serious_untrustworthy_listed
    assert "行政处罚信息2条" in report.summary.text
    # Name-list status and the measures for the purpose, from the entry in force.
    assert [e.entry_id for e in report.name_list_entries] == [held.entry_id]
    assert report.applicable_measures
    assert all(m.entry_ids == [held.entry_id] for m in report.applicable_measures)
    assert [e.grade for e in report.evaluations] == ["A"]
    assert [c.content for c in report.commitments] == ["承诺于30日内补齐环评批复材料"]
    # Basic information from the latest record.
    assert report.basic_information.subject.display_name == "杭州某某科技有限公司"
    assert report.subject.kind == common_pb2.SUBJECT_KIND_LEGAL_PERSON
    # Number, validity, standard.
    assert report_no.is_valid(report.report_number)
    assert report.report_number[2:16] == "33000020260320"
    assert report.standard_version == STANDARD_VERSION
    assert report.status == report_pb2.REPORT_STATUS_VALID
    issued = report.issued_at.ToDatetime(tzinfo=UTC)
    assert issued == report.data_as_of.ToDatetime(tzinfo=UTC) == AT
    assert report.valid_until.ToDatetime(tzinfo=UTC) - issued == timedelta(days=30)
    assert report.issuing_authority == AUTHORITY
    assert report.notes


async def test_the_builder_is_deterministic_and_numbers_by_seed(
    ledger: Ledger, store: Store
) -> None:
    held = await _hold(ledger, store)
    first = build_report(_order(), held.sources, now=AT)
    again = build_report(_order(), held.sources, now=AT)
    assert first.SerializeToString(deterministic=True) == again.SerializeToString(
        deterministic=True
    )
    other = build_report(_order("order-2"), held.sources, now=AT)
    assert other.report_number != first.report_number
    assert first.report_number == report_number_for("330000", date(2026, 3, 20), "order-1")
    # The issue day is China's: 2026-03-20 20:00 UTC is already the 21st there.
    late = build_report(_order(), held.sources, now=datetime(2026, 3, 20, 20, tzinfo=UTC))
    assert late.report_number[8:16] == "20260321"


@pytest.mark.parametrize(
    ("purpose", "days"),
    [
        (UsePurpose.GENERAL, 90),
        (UsePurpose.GOVERNMENT_PROCUREMENT, 30),
        (UsePurpose.SUPERVISION, 7),
    ],
)
def test_validity_follows_the_purpose(purpose: UsePurpose, days: int) -> None:
    report = build_report(_order(purpose=purpose), ReportSources(), now=AT)
    valid = report.valid_until.ToDatetime(tzinfo=UTC) - report.valid_from.ToDatetime(tzinfo=UTC)
    assert valid == timedelta(days=days)
    # Nothing held: every type is still covered (searched, none found).
    assert all(c.count == 0 for c in report.summary.counts)
    assert not report.record_sections


async def test_entries_no_longer_in_force_and_their_measures_are_left_out(
    ledger: Ledger, store: Store
) -> None:
    held = await _hold(ledger, store)
    # Checked after the listing ended (2029-03-08): no entry, so no measure applies.
    later = datetime(2029, 6, 1, tzinfo=UTC)
    report = build_report(_order(), held.sources, now=later)
    assert not report.name_list_entries
    assert not report.applicable_measures
    assert not report.summary.serious_untrustworthy_listed


def test_orders_the_contract_does_not_allow_are_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        build_report(_order(purpose=UsePurpose.OTHER), ReportSources(), now=AT)
    assert caught.value.field_violations[0].field == "report.purpose_description"
    with pytest.raises(InvalidArgument):
        build_report(_order(subject=common_pb2.SubjectRef()), ReportSources(), now=AT)


def test_a_subject_beyond_the_contracts_bounds_gets_no_truncated_report() -> None:
    evaluation_objects = []
    for index in range(65):
        body = evaluate(
            common_pb2.SubjectRef(uscc=LISTED_USCC, kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON),
            [],
            as_of=date(2026, 3, 9),
            evaluation_id=str(uuid.uuid4()),
            evaluator=AUTHORITY,
            evaluated_at=AT,
        )
        evaluation_objects.append(
            DomainObject(
                kind="evaluation",
                object_id=body.evaluation_id,
                subject_key=LISTED_USCC,
                state="CURRENT",
                body=body.SerializeToString(),
                attrs={},
                flags=frozenset(),
                due_date=None,
                origin_node_id=ZJ,
                log_origin=ORIGIN,
                created_leaf=index,
                leaf_index=index,
                updated_at=AT,
            )
        )
    with pytest.raises(LimitExceeded) as caught:
        build_report(_order(), ReportSources(evaluations=evaluation_objects), now=AT)
    assert caught.value.reason == "REPORT_TOO_LARGE"


# -- the handlers --------------------------------------------------------------------------------


def _report_statement(report: report_pb2.CreditReport, sender: str = ZJ) -> statement_pb2.Statement:
    return _statement(sender, report=report)


def _change(
    number: str,
    status: int = report_pb2.REPORT_STATUS_REVOKED,
    *,
    replacement: str = "",
    sender: str = ZJ,
    effective: datetime = AT,
    reason: str = "出具时引用了错误的记录",
) -> statement_pb2.Statement:
    change = report_pb2.ReportStatusChange(
        report_number=number,
        new_status=status,  # type: ignore[arg-type]
        superseded_by_report_number=replacement,
        reason=reason,
    )
    change.effective_at.FromDatetime(effective)
    return _statement(sender, report_status_change=change)


async def test_an_issued_report_is_an_object_with_its_attrs(ledger: Ledger, store: Store) -> None:
    report = build_report(_order(), ReportSources(), now=AT)
    assert await _append(ledger, _report_statement(report)) == [None]
    obj = await store.get_object("report", report.report_number)
    assert obj is not None
    assert (obj.state, obj.subject_key, obj.origin_node_id) == (VALID, LISTED_USCC, ZJ)
    assert report_pb2.CreditReport.FromString(obj.body) == report
    assert obj.attrs["issuer"] == ZJ
    assert obj.attrs["purpose"] == "USE_PURPOSE_GOVERNMENT_PROCUREMENT"
    assert obj.attrs["valid_until"] == "2026-04-19T02:00:00Z"
    assert obj.attrs["standard_version"] == STANDARD_VERSION
    assert obj.attrs["leaf_index"] == obj.created_leaf
    assert obj.due_date == "2026-04-19"
    assert [e.action for e in await store.object_events("report", obj.object_id)] == ["ISSUE"]
    assert current_status(obj, AT) is ReportStatus.VALID
    assert current_status(obj, AT + timedelta(days=30)) is ReportStatus.EXPIRED


async def test_report_numbers_issuers_and_signed_status_are_checked(
    ledger: Ledger, store: Store
) -> None:
    report = build_report(_order(), ReportSources(), now=AT)
    assert await _append(ledger, _report_statement(report)) == [None]
    assert await _append(ledger, _report_statement(report)) == ["REPORT_EXISTS"]
    other = build_report(_order("other"), ReportSources(), now=AT)
    assert await _append(ledger, _report_statement(other, sender="gd-440000")) == [
        "NOT_REPORT_ISSUER"
    ]
    revoked = report_pb2.CreditReport()
    revoked.CopyFrom(other)
    revoked.status = report_pb2.REPORT_STATUS_REVOKED
    assert await _append(ledger, _report_statement(revoked)) == ["REPORT_STATUS_NOT_VALID"]


async def test_only_the_issuer_revokes_and_only_once(ledger: Ledger, store: Store) -> None:
    report = build_report(_order(), ReportSources(), now=AT)
    number = report.report_number
    await _append(ledger, _report_statement(report))
    unknown = report_number_for("330000", date(2026, 3, 20), "never issued")
    assert await _append(ledger, _change(unknown)) == ["REPORT_NOT_FOUND"]
    assert await _append(ledger, _change(number, sender="gd-440000")) == ["NOT_REPORT_ISSUER"]
    assert await _append(ledger, _change(number, replacement=unknown)) == ["INVALID_STATUS_CHANGE"]
    assert await _append(ledger, _change(number, reason=" ")) == ["INVALID_STATUS_CHANGE"]
    future = AT + timedelta(hours=1)
    assert await _append(ledger, _change(number, effective=future)) == ["INVALID_EFFECTIVE_AT"]
    assert await _append(ledger, _change(number)) == [None]
    obj = await store.get_object("report", number)
    assert obj is not None
    assert obj.state == REVOKED
    assert obj.attrs["status_reason"] == "出具时引用了错误的记录"
    assert obj.attrs["status_changed_at"] == "2026-03-20T02:00:00Z"
    assert obj.due_date is None
    assert current_status(obj, AT) is ReportStatus.REVOKED
    assert await _append(ledger, _change(number)) == ["REPORT_NOT_VALID"]
    events = await store.object_events("report", number)
    assert [(e.action, e.reason) for e in events][-1] == ("REVOKE", "出具时引用了错误的记录")


async def test_a_supersession_is_the_new_report_and_the_old_ones_change_together(
    ledger: Ledger, store: Store
) -> None:
    old = build_report(_order(), ReportSources(), now=AT)
    await _append(ledger, _report_statement(old))
    new = build_report(
        _order("replacement", supersedes_report_number=old.report_number),
        ReportSources(),
        now=AT,
    )
    change = _change(
        old.report_number, report_pb2.REPORT_STATUS_SUPERSEDED, replacement=new.report_number
    )
    # A replacement that does not name the old report does not supersede it.
    loose = build_report(_order("loose"), ReportSources(), now=AT)
    await _append(ledger, _report_statement(loose))
    mismatch = _change(
        old.report_number, report_pb2.REPORT_STATUS_SUPERSEDED, replacement=loose.report_number
    )
    assert await _append(ledger, mismatch) == ["SUPERSESSION_MISMATCH"]
    # The new report, then the change, in one append.
    assert await _append(ledger, _report_statement(new), change) == [None, None]
    superseded = await store.get_object("report", old.report_number)
    replacing = await store.get_object("report", new.report_number)
    assert superseded is not None
    assert replacing is not None
    assert superseded.state == SUPERSEDED
    assert superseded.attrs["superseded_by"] == new.report_number
    assert replacing.attrs["supersedes"] == old.report_number
    assert replacing.state == VALID
    # Nothing supersedes a superseded report again, nor replaces it with a new one.
    again = build_report(
        _order("again", supersedes_report_number=old.report_number), ReportSources(), now=AT
    )
    assert await _append(ledger, _report_statement(again)) == ["REPORT_NOT_VALID"]


async def test_a_replacement_about_another_subject_is_refused(ledger: Ledger, store: Store) -> None:
    old = build_report(_order(), ReportSources(), now=AT)
    await _append(ledger, _report_statement(old))
    other = build_report(
        _order(
            "x",
            subject=common_pb2.SubjectRef(uscc=OTHER_USCC),
            supersedes_report_number=old.report_number,
        ),
        ReportSources(),
        now=AT,
    )
    assert await _append(ledger, _report_statement(other)) == ["SUPERSESSION_MISMATCH"]


# -- the scope rule is the verifier's --------------------------------------------------------------


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    return create_dev_federation(Path(tmp_path_factory.mktemp("reports-domain-fed")))


def _logged_bundle(fed: DevFederation, report: report_pb2.CreditReport, signer: str) -> object:
    node = fed.node(signer).credentials
    env = sign_report_statement(
        report, signing_key=node.signing_key, sender_node_id=signer, recipient_node_ids=[signer]
    )
    leaves = [leaf_hash(pae(env.payload_type, env.payload))]
    frontier, runs = Frontier().extend(leaves)
    nodes = MemoryNodeStore()
    nodes.add_runs(runs)
    assert node.checkpoint_key is not None
    note = sign_note(
        Checkpoint(
            origin=node.node.log_origin, size=frontier.size, root_hash=frontier.root()
        ).to_body(),
        [node.checkpoint_key],
    )
    return make_bundle(env, 0, inclusion_proof(0, 1, nodes), note, tree_size=1, log_node_id=signer)


@pytest.mark.parametrize(
    ("issuer", "region", "subject", "reason"),
    [
        ("zj-330000", "330000", LISTED_USCC, None),
        ("zj-330000", "330000", OTHER_USCC, "ISSUER_NOT_AUTHORIZED"),
        ("gd-440000", "440000", OTHER_USCC, None),
        ("cn-hub", "100000", LISTED_USCC, "ISSUER_NOT_AUTHORIZED"),
    ],
)
def test_the_gateways_scope_rule_is_the_verifiers(
    fed: DevFederation, issuer: str, region: str, subject: str, reason: str | None
) -> None:
    trust = fed.trust_bundle
    now = trust.issued_at + timedelta(minutes=1)
    report = build_report(
        _order(
            subject=common_pb2.SubjectRef(uscc=subject),
            issuer_node_id=issuer,
            issuer_region=region,
        ),
        ReportSources(),
        now=now,
    )
    denial = issuer_denial(trust, report)
    assert (denial.reason if denial else None) == reason
    bundle = _logged_bundle(fed, report, issuer)
    result = verify_report_offline(bundle, trust, now=now)  # type: ignore[arg-type]
    finding = result.finding(Rule.ISSUER)
    expected = None if reason is None else RecognitionReason[reason]
    assert finding.reason == expected
    if reason is None:
        assert result.recognized, [f.message for f in result.failures]


def test_an_issuer_outside_the_federation_is_unknown(fed: DevFederation) -> None:
    report = build_report(_order(issuer_node_id="xx-990000"), ReportSources(), now=AT)
    denial = issuer_denial(fed.trust_bundle, report)
    assert denial is not None
    assert denial.reason == "UNKNOWN_ISSUER"
