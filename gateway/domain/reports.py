"""Building a public credit information report from the domain state: a pure function.

:func:`build_report` turns what a gateway holds about one subject into the ``CreditReport`` it
signs, with no store, network or wall clock: the caller passes the objects and the instant::

    report = build_report(
        ReportOrder(subject=subject, purpose=UsePurpose.BIDDING, issuer_node_id="zj-330000",
                    issuer_region="330000", issuing_authority=authority, serial_seed=message_id),
        ReportSources(records=records, name_list_entries=entries, measures=measures,
                      evaluations=evaluations, commitments=commitments),
        now=clock(),
    )

The same inputs and the same instant always give the same report, byte for byte once
serialized deterministically (a retry of an order signs the same statement).

**Sections** (the national public credit information report standard, 2021/2022 editions, and
the provincial format standards derived from it: report notes, overview with basic information
and summary, then one section per information type; credit-domain.md §7):

* *report notes* (``notes``): scope, sources, what "published" means, how to verify;
* *basic information*: the subject (display name from its latest record), its other
  identifiers and legal representative as the latest record that carries them states, and the
  registration authority of its latest registration record;
* *summary*: one count per information type (``RecordCategory``), **every** type listed, with
  zero where nothing was found: the issuer searched every type it holds, and a purpose's
  required sections are "covered" exactly when listed (CXP-REPORT-024). The name-list status,
  commitment and evaluation sections count under ``SERIOUS_UNTRUSTWORTHY_LIST``,
  ``CREDIT_COMMITMENT`` and ``CREDIT_EVALUATION``, added to the records of those types. Plus
  the entries in force, whether the subject is on the serious untrustworthy list (or its
  legacy name, the joint punishment target list), and the summary as printed (Chinese);
* *records by type*: only records still **published** on the report day (status ACTIVE and
  not past their publication end, China Standard Time: revoked, repaired and expired records
  are not published, so not reported), one section per type that has some, in catalog order,
  newest decision first; each with the message id of the statement that carried its revision
  and whether an objection against it is open (``disputed``);
* *name-list status*: the entries in force at ``now``, with their state then;
* *applicable measures*: the measures those entries apply **for the report's purpose**;
* *evaluations*: current evaluations whose validity covers the report day;
* *commitments*: the subject's commitments made by the report day, with their fulfilment.

**Number, validity, standard.** The report number is ``CR`` + the issuer's region + the issue
day (China Standard Time) + a 10-character serial derived from ``serial_seed`` (SHA-256, base
36) + its check character (CXP-ID-007): a retry of one order gets the same number, and two
orders collide with probability 36^-10 (the log refuses a number used twice anyway,
``REPORT_EXISTS``). ``issued_at`` = ``valid_from`` = ``data_as_of`` = ``now`` (whole seconds);
``valid_until`` = ``now`` + the purpose's maximum information age in the verifiers' default
purpose table (CXP-REPORT-029: 90 days for general use, 7 days for supervision, 30 days
otherwise), so a report stops being valid exactly when a verifier would find it too old for its
purpose. ``standard_version`` is :data:`STANDARD_VERSION`.

Limits: the contract bounds every section (10,000 records per type, 256 entries, 1,000
measures, 64 evaluations, 1,000 commitments) and a signed payload is at most 16 MiB; a subject
beyond them gets no report (``LimitExceeded``, ``REPORT_TOO_LARGE``) rather than a silently
truncated one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from creditlink.gateway.domain.handlers.name_lists import in_force, state_at
from creditlink.gateway.domain.handlers.records import ACTIVE, china_date, derived_status
from creditlink.gateway.store.base import DomainObject
from creditlink.sdk.envelope import MAX_PAYLOAD_BYTES
from creditlink.sdk.errors import FieldViolation, InvalidArgument, LimitExceeded
from creditlink.sdk.ids import report_no
from creditlink.sdk.reports import DEFAULT_PURPOSE_RULES, UsePurpose
from creditlink.v1 import (
    commitment_pb2,
    common_pb2,
    evaluation_pb2,
    measure_pb2,
    name_list_pb2,
    record_pb2,
    report_pb2,
)

__all__ = [
    "CATEGORY_LABELS",
    "STANDARD_VERSION",
    "ReportOrder",
    "ReportSources",
    "build_report",
    "report_number_for",
    "validity_for",
]

#: The report standard edition reports are issued under (CXP-REPORT-019).
STANDARD_VERSION: Final = "public-credit-report-2022"

_C = record_pb2
#: Chinese names of the information types, as the summary prints them (the national basic
#: catalog's wording where it has one).
CATEGORY_LABELS: Final[dict[int, str]] = {
    _C.RECORD_CATEGORY_REGISTRATION: "登记注册基本信息",
    _C.RECORD_CATEGORY_JUDICIAL_RULING: "司法裁判信息",
    _C.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT: "司法执行信息",
    _C.RECORD_CATEGORY_ADMINISTRATIVE_LICENSING: "行政许可信息",
    _C.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY: "行政处罚信息",
    _C.RECORD_CATEGORY_ADMINISTRATIVE_COERCION: "行政强制信息",
    _C.RECORD_CATEGORY_ADMINISTRATIVE_CONFIRMATION: "行政确认信息",
    _C.RECORD_CATEGORY_ADMINISTRATIVE_COLLECTION: "行政征收信息",
    _C.RECORD_CATEGORY_ADMINISTRATIVE_PAYMENT: "行政给付信息",
    _C.RECORD_CATEGORY_ADMINISTRATIVE_RULING: "行政裁决信息",
    _C.RECORD_CATEGORY_ADMINISTRATIVE_COMPENSATION: "行政补偿信息",
    _C.RECORD_CATEGORY_ADMINISTRATIVE_REWARD: "行政奖励信息",
    _C.RECORD_CATEGORY_ADMINISTRATIVE_INSPECTION: "行政检查信息",
    _C.RECORD_CATEGORY_PROFESSIONAL_QUALIFICATION: "职称和职业资格信息",
    _C.RECORD_CATEGORY_ABNORMAL_OPERATION: "经营异常名录信息",
    _C.RECORD_CATEGORY_SERIOUS_UNTRUSTWORTHY_LIST: "严重失信主体名单信息",
    _C.RECORD_CATEGORY_CONTRACT_PERFORMANCE: "合同履行信息",
    _C.RECORD_CATEGORY_CREDIT_COMMITMENT: "信用承诺及履行情况信息",
    _C.RECORD_CATEGORY_CREDIT_EVALUATION: "信用评价结果信息",
    _C.RECORD_CATEGORY_HONOUR: "表彰奖励信息",
    _C.RECORD_CATEGORY_VOLUNTARY_REGISTRATION: "自愿提供信息",
    _C.RECORD_CATEGORY_LEGAL_COMPLIANCE: "遵守法律法规情况信息",
    _C.RECORD_CATEGORY_INTELLECTUAL_PROPERTY: "知识产权信息",
    _C.RECORD_CATEGORY_TALK_RECORD: "约谈记录信息",
}
_CATEGORIES: Final = tuple(sorted(v for v in record_pb2.RecordCategory.values() if v))
_SERIOUS_LISTS: Final = frozenset(
    {
        name_list_pb2.NAME_LIST_TYPE_SERIOUS_UNTRUSTWORTHY,
        # The 2019 opinions' name for the same list (kept as a legacy enum value).
        name_list_pb2.NAME_LIST_TYPE_JOINT_PUNISHMENT_TARGET,
    }
)
_MAX_SECTION_ITEMS: Final = 10_000
_MAX_ENTRIES: Final = 256
_MAX_MEASURES: Final = 1000
_MAX_EVALUATIONS: Final = 64
_MAX_COMMITMENTS: Final = 1000
# Room left in a signed payload for the statement header around the report.
_MAX_REPORT_BYTES: Final = MAX_PAYLOAD_BYTES - 4096
_SERIAL_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SERIAL_LENGTH: Final = 10

#: Report notes (报告说明) as printed on every report.
NOTES: Final = (
    "一、本报告依据公共信用信息报告标准出具，内容为报告出具机构截至信息截止时间归集的、"
    "仍在公示期内的公共信用信息；已撤销、已修复或公示期届满的信息不予展示。"
    "二、标注“异议处理中”的信息正在核查，以核查结论为准。"
    "三、失信惩戒措施按报告用途列示，以措施清单在报告日有效的版本为准。"
    "四、本报告经出具节点数字签名并记入其透明日志，可凭报告编号或报告文件"
    "（report bundle）离线或在线核验；在有效期外、被撤销或被替代的报告不予互认。\n"
    "This report shows the public credit information the issuing platform held at the cut-off "
    "time that is still published; revoked, repaired and expired information is not shown. "
    "Items marked disputed are under objection review. Measures are listed for the report's "
    "purpose, from the measure list version in force on the report day. The report is signed "
    "by the issuing node and logged in its transparency log; verify it by number or offline "
    "from its report bundle. It is not recognized outside its validity, or once revoked or "
    "superseded."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportOrder:
    """What is asked for, and who issues it.

    ``subject`` names the subject (``uscc`` or ``person_token``; ``kind`` and ``display_name``
    optional: derived from the records when unset). ``serial_seed`` makes the number: the same
    seed (the issuing statement's message id) always gives the same number.
    """

    subject: common_pb2.SubjectRef
    purpose: UsePurpose
    issuer_node_id: str
    issuer_region: str
    issuing_authority: common_pb2.AuthorityRef
    serial_seed: str
    purpose_description: str = ""
    supersedes_report_number: str = ""
    verification_url: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSources:
    """What the issuer holds about the subject, as read from its store.

    ``records``: the subject's ``record`` objects, any status (only those still published are
    reported). ``name_list_entries``: the subject's entries (current body, with transitions),
    any state (those in force at ``now`` are reported). ``measures``: the measures those
    entries apply for the report's purpose, from the versions in force (what
    ``NameListService.CheckSubject`` answers); only measures applied by an entry in force are
    kept. ``evaluations`` and ``commitments``: the subject's ``evaluation`` and ``commitment``
    objects.
    """

    records: Sequence[DomainObject] = ()
    name_list_entries: Sequence[name_list_pb2.NameListEntry] = ()
    measures: Sequence[measure_pb2.ApplicableMeasure] = ()
    evaluations: Sequence[DomainObject] = ()
    commitments: Sequence[DomainObject] = ()


def validity_for(purpose: UsePurpose) -> timedelta:
    """How long a report for ``purpose`` is valid: the purpose's maximum information age in the
    default purpose table (CXP-REPORT-029)."""
    return DEFAULT_PURPOSE_RULES[purpose].max_age


def report_number_for(region_code: str, issued: dt.date, seed: str) -> str:
    """The report number for a seed: ``CR`` + region + day + base-36 serial of SHA-256(seed)."""
    value = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:8], "big")
    digits = []
    for _ in range(_SERIAL_LENGTH):
        value, rest = divmod(value, len(_SERIAL_ALPHABET))
        digits.append(_SERIAL_ALPHABET[rest])
    return report_no.generate(region_code, issued, "".join(reversed(digits)))


def _too_large(what: str, count: int, limit: int) -> LimitExceeded:
    return LimitExceeded(
        f"the report would hold {count} {what}, more than the {limit} the contract allows",
        reason="REPORT_TOO_LARGE",
    )


def _date(value: common_pb2.Date) -> dt.date | None:
    try:
        return dt.date(value.year, value.month, value.day)
    except ValueError:  # unset (year 0) or impossible: treated as not given
        return None


def _published(
    records: Sequence[DomainObject], day: dt.date
) -> list[tuple[DomainObject, record_pb2.CreditRecord]]:
    """Records still published on ``day``, parsed, newest decision first."""
    out: list[tuple[tuple[dt.date, str], DomainObject, record_pb2.CreditRecord]] = []
    for obj in records:
        if obj.kind != "record" or derived_status(obj, day) != ACTIVE:
            continue
        record = record_pb2.CreditRecord.FromString(obj.body)
        decided = _date(record.decision_date) or dt.date.min
        out.append(((decided, record.record_id), obj, record))
    # Newest decision first; the record id breaks ties so the order never depends on the store.
    out.sort(key=lambda item: item[0], reverse=True)
    return [(obj, record) for _, obj, record in out]


def _sections(
    records: Sequence[DomainObject], day: dt.date
) -> tuple[list[report_pb2.ReportRecordSection], dict[int, int], list[record_pb2.CreditRecord]]:
    published = _published(records, day)
    counts: dict[int, int] = dict.fromkeys(_CATEGORIES, 0)
    sections: dict[int, report_pb2.ReportRecordSection] = {}
    for obj, record in published:
        section = sections.get(record.category)
        if section is None:
            section = sections[record.category] = report_pb2.ReportRecordSection(
                category=record.category
            )
        if len(section.items) >= _MAX_SECTION_ITEMS:
            raise _too_large(
                f"{record_pb2.RecordCategory.Name(record.category)} records",
                len(section.items) + 1,
                _MAX_SECTION_ITEMS,
            )
        item = section.items.add(
            message_id=str(obj.attrs.get("message_id", "")), disputed="disputed" in obj.flags
        )
        item.record.CopyFrom(record)
        # Published on the report day means ACTIVE as a reader sees it then.
        item.record.status = record_pb2.RECORD_STATUS_ACTIVE
        counts[record.category] = counts.get(record.category, 0) + 1
    return [sections[c] for c in sorted(sections)], counts, [r for _, r in published]


def _basic(
    order: ReportOrder, published: Sequence[record_pb2.CreditRecord]
) -> tuple[common_pb2.SubjectRef, report_pb2.ReportBasicInformation]:
    subject = common_pb2.SubjectRef()
    subject.CopyFrom(order.subject)
    if not subject.kind:
        if subject.person_token:
            subject.kind = common_pb2.SUBJECT_KIND_NATURAL_PERSON
        elif subject.uscc[:2] == "92":  # market regulation (9), individual business (2)
            subject.kind = common_pb2.SUBJECT_KIND_INDIVIDUAL_BUSINESS
        else:
            subject.kind = common_pb2.SUBJECT_KIND_LEGAL_PERSON
    # ``published`` is newest decision first: the latest record speaks for the subject.
    if not subject.display_name:
        subject.display_name = next(
            (r.subject.display_name for r in published if r.subject.display_name), ""
        )
    basic = report_pb2.ReportBasicInformation(subject=subject)
    if subject.uscc:
        # Natural persons' identifiers never appear in a report: the token names them.
        identifiers = next(
            (r.subject_identifiers for r in published if r.HasField("subject_identifiers")),
            None,
        )
        if identifiers is not None:
            basic.identifiers.CopyFrom(identifiers)
    registration = next(
        (r for r in published if r.category == _C.RECORD_CATEGORY_REGISTRATION), None
    )
    if registration is not None:
        basic.registration_authority.CopyFrom(registration.authority)
    return subject, basic


def _evaluations(objects: Sequence[DomainObject], day: dt.date) -> list[evaluation_pb2.Evaluation]:
    out: list[evaluation_pb2.Evaluation] = []
    for obj in objects:
        if obj.kind != "evaluation" or obj.state != "CURRENT":
            continue
        evaluation = evaluation_pb2.Evaluation.FromString(obj.body)
        start, end = _date(evaluation.valid_from), _date(evaluation.valid_until)
        if (start is None or start <= day) and (end is None or day <= end):
            out.append(evaluation)
    out.sort(key=lambda e: (e.evaluated_at.seconds, e.evaluation_id), reverse=True)
    if len(out) > _MAX_EVALUATIONS:
        raise _too_large("evaluations", len(out), _MAX_EVALUATIONS)
    return out


def _commitments(
    objects: Sequence[DomainObject], day: dt.date
) -> list[commitment_pb2.CreditCommitment]:
    out: list[commitment_pb2.CreditCommitment] = []
    for obj in objects:
        if obj.kind != "commitment":
            continue
        commitment = commitment_pb2.CreditCommitment.FromString(obj.body)
        made = _date(commitment.made_on)
        if made is None or made <= day:
            out.append(commitment)
    out.sort(
        key=lambda c: (_date(c.made_on) or dt.date.min, c.commitment_id),
        reverse=True,
    )
    if len(out) > _MAX_COMMITMENTS:
        raise _too_large("commitments", len(out), _MAX_COMMITMENTS)
    return out


def _entries(
    entries: Sequence[name_list_pb2.NameListEntry], now: datetime
) -> list[name_list_pb2.NameListEntry]:
    out: list[name_list_pb2.NameListEntry] = []
    for entry in entries:
        if not in_force(entry, now):
            continue
        shown = name_list_pb2.NameListEntry()
        shown.CopyFrom(entry)
        shown.state = name_list_pb2.NameListState.Value(state_at(entry, now))
        out.append(shown)
    out.sort(key=lambda e: (_date(e.listing_start) or dt.date.min, e.entry_id), reverse=True)
    if len(out) > _MAX_ENTRIES:
        raise _too_large("name-list entries", len(out), _MAX_ENTRIES)
    return out


def _measures(
    measures: Sequence[measure_pb2.ApplicableMeasure], entry_ids: set[str]
) -> list[measure_pb2.ApplicableMeasure]:
    out: list[measure_pb2.ApplicableMeasure] = []
    for item in measures:
        applying = [e for e in item.entry_ids if e in entry_ids]
        if not applying:
            continue  # no entry in force applies it any more
        kept = measure_pb2.ApplicableMeasure()
        kept.CopyFrom(item)
        del kept.entry_ids[:]
        kept.entry_ids.extend(applying)
        out.append(kept)
    if len(out) > _MAX_MEASURES:
        raise _too_large("measures", len(out), _MAX_MEASURES)
    return out


def _summary_text(
    day: dt.date, counts: dict[int, int], entries: int, serious: bool, measures: int
) -> str:
    shown = [f"{CATEGORY_LABELS[c]}{n}条" for c, n in sorted(counts.items()) if n]
    total = sum(counts.values())
    text = f"截至{day.isoformat()}（北京时间），报告主体共有公共信用信息{total}条"
    text += "：" + "，".join(shown) + "。" if shown else "。"
    text += f"在列名单{entries}个"
    text += "，其中列入严重失信主体名单" if serious else ""
    text += f"；按本报告用途适用失信惩戒措施{measures}项。"
    return text


def build_report(
    order: ReportOrder, sources: ReportSources, *, now: datetime
) -> report_pb2.CreditReport:
    """The report ``order`` asks for, from ``sources``, issued at ``now`` (see the module).

    Raises ``InvalidArgument`` for an order the contract does not allow (no subject, purpose
    OTHER without a description, an issuer region that is not a region code) and
    ``LimitExceeded`` (``REPORT_TOO_LARGE``) for a subject beyond the contract's bounds.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    subject_id = order.subject.uscc or order.subject.person_token
    if not subject_id:
        raise InvalidArgument(
            "the report order names no subject",
            reason="CONSTRAINT_VIOLATION",
            field_violations=(FieldViolation("report.subject", "uscc or person_token"),),
        )
    if order.purpose is UsePurpose.OTHER and not order.purpose_description.strip():
        raise InvalidArgument(
            "a report for purpose OTHER says what for (purpose_description)",
            reason="CONSTRAINT_VIOLATION",
            field_violations=(
                FieldViolation("report.purpose_description", "required for USE_PURPOSE_OTHER"),
            ),
        )
    issued = now.astimezone(UTC).replace(microsecond=0)
    day = china_date(issued)
    sections, counts, published = _sections(sources.records, day)
    subject, basic = _basic(order, published)
    entries = _entries(sources.name_list_entries, issued)
    measures = _measures(sources.measures, {e.entry_id for e in entries})
    evaluations = _evaluations(sources.evaluations, day)
    commitments = _commitments(sources.commitments, day)
    counts[_C.RECORD_CATEGORY_SERIOUS_UNTRUSTWORTHY_LIST] += len(entries)
    counts[_C.RECORD_CATEGORY_CREDIT_COMMITMENT] += len(commitments)
    counts[_C.RECORD_CATEGORY_CREDIT_EVALUATION] += len(evaluations)
    serious = any(e.list_type in _SERIOUS_LISTS for e in entries)

    try:
        number = report_number_for(order.issuer_region, day, order.serial_seed)
    except ValueError as exc:  # InvalidIdentifier: the issuer's region is no region code
        raise InvalidArgument(
            f"cannot number the report: {exc}", reason="INVALID_REPORT_NO"
        ) from None
    report = report_pb2.CreditReport(
        report_number=number,
        report_type=(
            report_pb2.REPORT_TYPE_NATURAL_PERSON
            if subject.person_token
            else report_pb2.REPORT_TYPE_LEGAL_PERSON
        ),
        subject=subject,
        issuer_node_id=order.issuer_node_id,
        issuing_authority=order.issuing_authority,
        purpose=common_pb2.UsePurpose.ValueType(order.purpose.value),
        purpose_description=order.purpose_description,
        standard_version=STANDARD_VERSION,
        notes=NOTES,
        basic_information=basic,
        record_sections=sections,
        name_list_entries=entries,
        applicable_measures=measures,
        evaluations=evaluations,
        commitments=commitments,
        status=report_pb2.REPORT_STATUS_VALID,
        supersedes_report_number=order.supersedes_report_number,
        verification_url=order.verification_url,
    )
    report.issued_at.FromDatetime(issued)
    report.valid_from.FromDatetime(issued)
    report.valid_until.FromDatetime(issued + validity_for(order.purpose))
    report.data_as_of.FromDatetime(issued)
    summary = report.summary
    for category in _CATEGORIES:
        summary.counts.add(category=category, count=counts[category])
    summary.name_list_entries_in_force = len(entries)
    summary.serious_untrustworthy_listed = serious
    summary.text = _summary_text(day, counts, len(entries), serious, len(measures))
    if report.ByteSize() > _MAX_REPORT_BYTES:
        raise LimitExceeded(
            f"the report would take {report.ByteSize()} bytes, more than a signed payload holds",
            reason="REPORT_TOO_LARGE",
        )
    return report
