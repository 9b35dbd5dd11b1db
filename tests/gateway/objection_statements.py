"""Building objection, repair and commitment statements for tests (real messages, no mocks).

Every builder returns a complete ``Statement`` (header filled in) that passes the contract's
constraints, so the same statements serve the handler tests (logged through a real ledger) and
the service tests (signed, sealed and sent to a real gateway).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import protovalidate

from creditlink.gateway.ledger import BatchInfo, LedgerEntry, Submission
from creditlink.sdk import envelope
from creditlink.v1 import (
    commitment_pb2,
    common_pb2,
    objection_pb2,
    record_pb2,
    repair_pb2,
    statement_pb2,
)
from tests.gateway.statements import penalty_record

SUBJECT = "91330100MA27XL0A6Q"
OTHER_SUBJECT = "91440300708461136T"
#: Hangzhou market regulation: decides the penalty records of these tests.
HZ_AMR = "11330100MB183543XG"
#: The national authority that determines the name-list entries (tests/gateway/listings.py).
NATIONAL = "11100000000013055L"
HUB, ZJ, GD = "cn-hub", "zj-330000", "gd-440000"
CST = dt.timezone(dt.timedelta(hours=8))


def at_china(day: dt.date, hour: int = 10) -> datetime:
    """``hour`` o'clock on ``day`` in China Standard Time, as an aware UTC instant."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=CST).astimezone(UTC)


def date_pb(day: dt.date) -> common_pb2.Date:
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


def new_id() -> str:
    return str(uuid.uuid4())


def header(
    out: statement_pb2.Statement, sender: str, recipients: Sequence[str] = (HUB,)
) -> statement_pb2.Statement:
    out.header.message_id = new_id()
    out.header.sender_node_id = sender
    out.header.recipient_node_ids.extend(dict.fromkeys(recipients))
    out.header.created_at.FromDatetime(datetime.now(UTC))
    out.header.request_id = new_id()
    return out


def evidence(title: str = "罚款缴纳凭证", holder: str = ZJ) -> common_pb2.EvidenceRef:
    content = title.encode()
    return common_pb2.EvidenceRef(
        evidence_id=new_id(),
        title=title,
        media_type="application/pdf",
        sha256=hashlib.sha256(content).digest(),
        size_bytes=len(content),
        holder_node_id=holder,
    )


def authority(uscc: str = HZ_AMR, name: str = "杭州市市场监督管理局") -> common_pb2.AuthorityRef:
    return common_pb2.AuthorityRef(name=name, uscc=uscc, region_code="330100")


def subject(uscc: str = SUBJECT) -> common_pb2.SubjectRef:
    return common_pb2.SubjectRef(
        uscc=uscc, kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON, display_name="杭州某某科技有限公司"
    )


# --- records ----------------------------------------------------------------------------------


def record(
    *,
    decided: dt.date = dt.date(2025, 1, 6),
    severity: int = record_pb2.SEVERITY_GENERAL,
    uscc: str = SUBJECT,
    authority_uscc: str = HZ_AMR,
) -> record_pb2.CreditRecord:
    """A penalty record decided on ``decided`` (published a week later)."""
    out = penalty_record(uscc=uscc, authority_uscc=authority_uscc)
    out.decision_date.CopyFrom(date_pb(decided))
    out.publication_start.CopyFrom(date_pb(decided + dt.timedelta(days=7)))
    out.severity = severity  # type: ignore[assignment]
    return out


def record_statement(
    body: record_pb2.CreditRecord, sender: str = ZJ, recipients: Sequence[str] = (HUB,)
) -> statement_pb2.Statement:
    out = statement_pb2.Statement()
    out.record.CopyFrom(body)
    return header(out, sender, recipients)


def correction_statement(
    record_id: str,
    kind: int,
    *,
    objection_id: str = "",
    replacement: record_pb2.CreditRecord | None = None,
    sender: str = ZJ,
    recipients: Sequence[str] = (HUB,),
    effective: dt.date = dt.date(2026, 3, 20),
) -> statement_pb2.Statement:
    out = statement_pb2.Statement()
    correction = out.record_correction
    correction.record_id = record_id
    correction.kind = kind  # type: ignore[assignment]
    correction.reason_code = (
        record_pb2.CORRECTION_REASON_OBJECTION_UPHELD  # type: ignore[assignment]
        if objection_id
        else record_pb2.CORRECTION_REASON_AUTHORITY_ERROR
    )
    correction.reason = "异议核实属实，予以更正。"
    correction.objection_id = objection_id
    if replacement is not None:
        correction.record.CopyFrom(replacement)
    correction.authority.CopyFrom(authority())
    correction.effective_date.CopyFrom(date_pb(effective))
    return header(out, sender, recipients)


# --- objections -------------------------------------------------------------------------------


def target(kind: str, object_id: str) -> objection_pb2.ObjectionTarget:
    field = {
        "record": "record_id",
        "name-list-entry": "name_list_entry_id",
        "report": "report_number",
        "evaluation": "evaluation_id",
    }[kind]
    return objection_pb2.ObjectionTarget(**{field: object_id})


def objection_statement(
    targets: Sequence[tuple[str, str]],
    *,
    filed: datetime,
    due: dt.date,
    kind: int = objection_pb2.OBJECTION_TYPE_ERROR,
    uscc: str = SUBJECT,
    handling: str = HZ_AMR,
    sender: str = ZJ,
    recipients: Sequence[str] = (HUB,),
    objection_id: str | None = None,
) -> statement_pb2.Statement:
    """An OPEN objection against ``targets`` (``(kind, id)`` pairs), filed at ``filed``."""
    out = statement_pb2.Statement()
    objection = out.objection
    objection.objection_id = objection_id or new_id()
    objection.type = kind  # type: ignore[assignment]
    objection.subject.CopyFrom(subject(uscc))
    objection.targets.extend(target(k, i) for k, i in targets)
    objection.claim = "处罚决定书记载的罚款金额与实际不符，请求更正。"
    objection.evidence.append(evidence("缴款凭证"))
    objection.commitment_letter.CopyFrom(evidence("信用承诺书"))
    objection.filed_at.FromDatetime(filed)
    objection.handling_authority.CopyFrom(authority(handling))
    objection.response_deadline.due.CopyFrom(date_pb(due))
    objection.response_deadline.period = 20
    objection.status = objection_pb2.OBJECTION_STATUS_OPEN
    return header(out, sender, recipients)


def resolution_statement(
    objection_id: str,
    outcome: int,
    *,
    resolved: datetime,
    corrections: Sequence[str] = (),
    handling: str = HZ_AMR,
    sender: str = ZJ,
    recipients: Sequence[str] = (HUB, ZJ),
) -> statement_pb2.Statement:
    out = statement_pb2.Statement()
    resolution = out.objection_resolution
    resolution.objection_id = objection_id
    resolution.outcome = outcome  # type: ignore[assignment]
    resolution.reason = "经核实，作出如下处理。"
    resolution.authority.CopyFrom(authority(handling))
    resolution.resolved_at.FromDatetime(resolved)
    resolution.correction_message_ids.extend(corrections)
    return header(out, sender, recipients)


# --- commitments and repair -------------------------------------------------------------------


def commitment_statement(
    *,
    made: dt.date,
    kind: int = commitment_pb2.COMMITMENT_TYPE_CREDIT_REPAIR,
    due: dt.date | None = None,
    public: bool = True,
    uscc: str = SUBJECT,
    accepting: str | None = HZ_AMR,
    sender: str = ZJ,
    recipients: Sequence[str] = (HUB,),
    commitment_id: str | None = None,
) -> statement_pb2.Statement:
    out = statement_pb2.Statement()
    commitment = out.commitment
    commitment.commitment_id = commitment_id or new_id()
    commitment.subject.CopyFrom(subject(uscc))
    commitment.type = kind  # type: ignore[assignment]
    commitment.content = "本单位承诺所提交材料真实有效，并在规定期限内补齐材料。"
    if accepting is not None:
        commitment.accepting_authority.CopyFrom(authority(accepting))
    commitment.matter = "食品经营许可（容缺受理）"
    commitment.made_on.CopyFrom(date_pb(made))
    if due is not None:
        commitment.due_date.CopyFrom(date_pb(due))
    commitment.publicly_disclosed = public
    commitment.signed_letter.CopyFrom(evidence("信用承诺书"))
    commitment.fulfilment_status = commitment_pb2.FULFILMENT_STATUS_PENDING
    return header(out, sender, recipients)


def fulfilment_statement(
    commitment_id: str,
    status: int,
    *,
    assessed: dt.date,
    records: Sequence[str] = (),
    assessing: str = HZ_AMR,
    sender: str = ZJ,
    recipients: Sequence[str] = (HUB,),
) -> statement_pb2.Statement:
    out = statement_pb2.Statement()
    fulfilment = out.commitment_fulfilment
    fulfilment.commitment_id = commitment_id
    fulfilment.status = status  # type: ignore[assignment]
    fulfilment.assessed_on.CopyFrom(date_pb(assessed))
    fulfilment.assessing_authority.CopyFrom(authority(assessing))
    fulfilment.description = "经核查，承诺履行情况如下。"
    fulfilment.resulting_record_ids.extend(records)
    return header(out, sender, recipients)


def repair_target(kind: str, object_id: str) -> repair_pb2.RepairTarget:
    if kind == "name-list-entry":
        return repair_pb2.RepairTarget(name_list_entry_id=object_id)
    return repair_pb2.RepairTarget(record_id=object_id)


def application_statement(
    targets: Sequence[tuple[str, str]],
    commitment_id: str,
    *,
    submitted: datetime,
    deciding: str = HZ_AMR,
    ruleset_id: str = "cn-gov-2025-22",
    form: int = repair_pb2.REPAIR_FORM_STOP_PUBLISHING_PENALTY,
    decision_due: dt.date | None = None,
    uscc: str = SUBJECT,
    sender: str = ZJ,
    recipients: Sequence[str] = (HUB,),
    application_id: str | None = None,
) -> statement_pb2.Statement:
    out = statement_pb2.Statement()
    application = out.repair_application
    application.application_id = application_id or new_id()
    application.subject.CopyFrom(subject(uscc))
    application.form = form  # type: ignore[assignment]
    application.targets.extend(repair_target(k, i) for k, i in targets)
    application.statement = "已缴清罚款并完成整改，申请停止公示。"
    application.evidence.append(evidence("罚款缴纳凭证"))
    application.commitment_id = commitment_id
    application.ruleset_id = ruleset_id
    application.submitted_at.FromDatetime(submitted)
    application.deciding_authority.CopyFrom(
        authority(deciding) if deciding == HZ_AMR else authority(deciding, "国家市场监督管理总局")
    )
    if decision_due is not None:
        application.decision_deadline.due.CopyFrom(date_pb(decision_due))
        application.decision_deadline.period = 3
        application.decision_deadline.working_days = True
    application.status = repair_pb2.REPAIR_STATUS_SUBMITTED
    return header(out, sender, recipients)


def decision_statement(
    application_id: str,
    outcome: int,
    *,
    decided: datetime,
    approved: Sequence[tuple[str, str]] = (),
    rejections: Sequence[int] = (),
    deciding: str = HZ_AMR,
    ruleset_id: str = "cn-gov-2025-22",
    effective: dt.date | None = None,
    sender: str = ZJ,
    recipients: Sequence[str] = (HUB,),
) -> statement_pb2.Statement:
    out = statement_pb2.Statement()
    decision = out.repair_decision
    decision.application_id = application_id
    decision.outcome = outcome  # type: ignore[assignment]
    decision.approved_targets.extend(repair_target(k, i) for k, i in approved)
    decision.rejection_reasons.extend(rejections)  # type: ignore[arg-type]
    decision.reason = "经审核，作出如下决定。"
    decision.authority.CopyFrom(
        authority(deciding) if deciding == HZ_AMR else authority(deciding, "国家市场监督管理总局")
    )
    decision.decided_at.FromDatetime(decided)
    decision.ruleset_id = ruleset_id
    if effective is not None:
        decision.effective_date.CopyFrom(date_pb(effective))
    return header(out, sender, recipients)


# --- ledger submissions -----------------------------------------------------------------------


def kind_of(body: statement_pb2.Statement) -> str:
    return (body.WhichOneof("body") or "").replace("_", "-")


def check_contract(*bodies: statement_pb2.Statement) -> None:
    """Fail the test if a built statement breaks the contract (the intake would refuse it)."""
    for body in bodies:
        violations = protovalidate.collect_violations(body)
        assert not violations, [v.proto for v in violations]


def submission(*items: statement_pb2.Statement) -> Submission:
    """One statement, or several as one batch (as the intake would hand them over)."""
    check_contract(*items)
    batched = len(items) > 1
    message_id = new_id() if batched else items[0].header.message_id
    entries = [
        LedgerEntry(
            message_id=item.header.message_id,
            kind=kind_of(item),
            sender_node_id=item.header.sender_node_id,
            payload_type=envelope.payload_type_for(kind_of(item)),
            payload=item.SerializeToString(),
            envelope=None if batched else b"env",
            subject_key=None,
        )
        for item in items
    ]
    return Submission(
        message_id=message_id,
        request_digest=hashlib.sha256(message_id.encode()).digest(),
        sender_node_id=items[0].header.sender_node_id,
        payload_type=entries[0].payload_type,
        payload_digest=bytes(32),
        entries=entries,
        batch=BatchInfo(batch_id=message_id, head_envelope=b"head") if batched else None,
    )


def days(n: int) -> timedelta:
    return timedelta(days=n)
