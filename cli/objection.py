"""``creditlink objection`` and ``creditlink repair``: file objections and repair applications.

::

    creditlink objection file --target-record ID [--target-record ID]... [--target-entry ID]...
                              --type TYPE --evidence FILE [--evidence FILE]...
                              --claim TEXT --commitment-letter FILE
                              [--handling-authority USCC --handling-authority-name NAME]
                              [--subject USCC] [--json] --credentials DIR [--target HOST:PORT]
    creditlink objection list --subject USCC|PERSON_TOKEN [--status STATUS]... [--overdue]
                              [--limit N] [--json] --credentials DIR [--target HOST:PORT]
    creditlink repair apply   --target-record ID [--target-record ID]... [--target-entry ID]...
                              --evidence FILE [--evidence FILE]... --statement TEXT
                              [--form FORM] [--commitment TEXT] [--commitment-letter FILE]
                              [--no-public-commitment] [--no-related-entries] [--json]
                              --credentials DIR [--target HOST:PORT]

The credentials are the accepting platform's (the node that takes the objection or application
from the subject, e.g. ``zj-330000``): it signs the statement, which names the gateway it is
sent to as recipient, and seals it to that gateway.

``objection file`` reads each target record from the gateway (``RecordService.GetRecord``) to
learn the subject and, unless given, the handling authority (the record's data source unit,
which verifies objections). ``--type`` is ``error``, ``omission``, ``duplicate``,
``should-not-be-published`` or ``published-past-period``; an omission may name no target, and
then needs ``--subject``. Evidence files and the commitment letter stay with the platform: the
statement carries their SHA-256, size and the platform's node id as holder. The response
deadline is the ruleset's for an objection filed today (China Standard Time), as the gateway
computes it. It prints the objection id, the deadline and the verified receipt.

``repair apply`` reads the target records, then (unless ``--no-related-entries``) the subject's
name-list entries in force whose basis cites one of them: the joint punishment measures of
those entries end only if the application names them. The authority of the original decision
decides a repair, so the targets are split into **one application per deciding authority** (a
record's deciding authority, an entry's determining authority). A credit repair commitment
(``--commitment``, the standard text by default; public unless ``--no-public-commitment``, as
the 2026 measures require) is sent in the same signed batch as the first application and
referenced by the others. Each application carries the ruleset in force today and its feedback
and decision deadlines. It prints, per application, the id, deciding authority, deadline and
each record's eligibility as computed locally from the same rulesets (the gateway stores its
own, authoritative, computation: ``GetRepairApplication``).

How a filer learns the outcome: the resolution (or decision) is a statement that names the
platform's node among its recipients, so it arrives in the platform's log and on any
``ExchangeService.Subscribe`` for ``objection-resolution`` / ``repair-decision``; ``objection
list`` shows current statuses.

Exit codes: 0 done; 1 the gateway refused or could not be reached, or an answer did not verify;
2 bad arguments, files or credentials (nothing was sent).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import mimetypes
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import Message

from creditlink.cli._session import Failed as _Failed
from creditlink.cli._session import Session
from creditlink.cli._session import guarded as _guarded
from creditlink.gateway.domain.calendar import WorkingDayCalendar
from creditlink.gateway.domain.handlers.records import CHINA, date_pb
from creditlink.gateway.domain.rulesets import (
    NoPublicationPeriod,
    NoRulesetInForce,
    RepairCondition,
    objection_deadline,
    repair_decision_deadline,
    repair_eligibility,
    repair_feedback_deadline,
    ruleset_for,
)
from creditlink.sdk.client import Written
from creditlink.sdk.ids import InvalidIdentifier, validate_uscc
from creditlink.v1 import (
    commitment_pb2,
    common_pb2,
    name_list_pb2,
    name_list_service_pb2,
    objection_pb2,
    objection_service_pb2,
    record_pb2,
    repair_pb2,
)

__all__ = ["OBJECTION_TYPES", "REPAIR_FORMS", "register"]

_TIMEOUT: Final = 30.0
#: Largest evidence file read (hashing only; the content never leaves the platform).
_MAX_EVIDENCE_BYTES: Final = 1024 * 1024 * 1024
#: ``--type`` values: the ``ObjectionType`` names, lower-case kebab.
OBJECTION_TYPES: Final = {
    name.removeprefix("OBJECTION_TYPE_").lower().replace("_", "-"): value
    for name, value in objection_pb2.ObjectionType.items()
    if value
}
#: ``--form`` values: the ``RepairForm`` names, lower-case kebab.
REPAIR_FORMS: Final = {
    name.removeprefix("REPAIR_FORM_").lower().replace("_", "-"): value
    for name, value in repair_pb2.RepairForm.items()
    if value
}
_STATUSES: Final = {
    name.removeprefix("OBJECTION_STATUS_").lower().replace("_", "-"): value
    for name, value in objection_pb2.ObjectionStatus.items()
    if value
}
_DEFAULT_COMMITMENT: Final = (
    "本主体承诺：已纠正失信行为、履行法定义务，所提交材料真实、完整、有效；"
    "如有虚假，愿承担相应法律责任，并接受失信约束。"
)
#: What the evidence of an application stands for (the authority verifies it).
_CLAIMED: Final = frozenset(
    {
        RepairCondition.CORRECTED,
        RepairCondition.OBLIGATIONS_PERFORMED,
        RepairCondition.TRAINING,
        RepairCondition.CREDIT_REPORT,
    }
)


def register(sub: Any) -> None:
    """Add ``objection`` (file, list) and ``repair`` (apply) to ``sub``."""
    objection: argparse.ArgumentParser = sub.add_parser(
        "objection", help="objections against published credit information: file, list"
    )
    commands = objection.add_subparsers(dest="objection_command", metavar="COMMAND", required=True)
    file = commands.add_parser(
        "file",
        help="file an objection accepted from a subject",
        description="Sign and file an objection; its targets are marked disputed.",
    )
    file.add_argument(
        "--target-record", action="append", default=[], metavar="ID", help="a record objected to"
    )
    file.add_argument(
        "--target-entry",
        action="append",
        default=[],
        metavar="ID",
        help="a name-list entry objected to",
    )
    file.add_argument("--type", required=True, choices=sorted(OBJECTION_TYPES), dest="kind")
    _evidence(file)
    file.add_argument("--claim", required=True, help="the claim and the correction requested")
    file.add_argument(
        "--commitment-letter",
        type=Path,
        required=True,
        metavar="FILE",
        help="the applicant's signed commitment that the objection is truthful",
    )
    file.add_argument("--handling-authority", metavar="USCC", help="default: the data source")
    file.add_argument("--handling-authority-name", metavar="NAME")
    file.add_argument(
        "--subject", metavar="USCC", help="the subject (needed only without a target record)"
    )
    file.add_argument("--json", action="store_true", help="print the objection as JSON")
    _connection(file)
    file.set_defaults(run=_run_file)

    listing = commands.add_parser("list", help="a subject's objections, earliest deadline first")
    listing.add_argument("--subject", required=True, metavar="USCC|TOKEN")
    listing.add_argument(
        "--status", action="append", default=[], choices=sorted(_STATUSES), help="repeatable"
    )
    listing.add_argument(
        "--overdue", action="store_true", help="open objections past their response deadline"
    )
    listing.add_argument("--limit", type=_positive, default=None, metavar="N")
    listing.add_argument("--json", action="store_true", help="one JSON objection per line")
    _connection(listing)
    listing.set_defaults(run=_run_list)

    repair: argparse.ArgumentParser = sub.add_parser(
        "repair", help="credit repair: apply on a subject's behalf"
    )
    actions = repair.add_subparsers(dest="repair_command", metavar="COMMAND", required=True)
    apply = actions.add_parser(
        "apply",
        help="submit repair applications (one per deciding authority) with a commitment",
        description="Sign and submit credit repair applications with a credit commitment.",
    )
    apply.add_argument(
        "--target-record", action="append", default=[], metavar="ID", help="a record to repair"
    )
    apply.add_argument(
        "--target-entry", action="append", default=[], metavar="ID", help="a name-list entry"
    )
    _evidence(apply)
    apply.add_argument(
        "--statement", required=True, help="how the act was corrected, obligations performed"
    )
    apply.add_argument(
        "--form",
        choices=sorted(REPAIR_FORMS),
        default="stop-publishing-penalty",
        help="form of repair (default: stop-publishing-penalty)",
    )
    apply.add_argument("--commitment", default=_DEFAULT_COMMITMENT, metavar="TEXT")
    apply.add_argument("--commitment-letter", type=Path, metavar="FILE")
    apply.add_argument(
        "--no-public-commitment",
        dest="public",
        action="store_false",
        help="do not publish the commitment (the 2026 measures want it public)",
    )
    apply.add_argument(
        "--no-related-entries",
        dest="related",
        action="store_false",
        help="do not add the name-list entries whose basis cites a target record",
    )
    apply.add_argument("--json", action="store_true", help="print the applications as JSON")
    _connection(apply)
    apply.set_defaults(run=_run_apply)


def _evidence(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--evidence",
        type=Path,
        nargs="+",
        action="extend",
        required=True,
        metavar="FILE",
        help="evidence files (hashed; the content stays with this platform)",
    )


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--credentials", type=Path, required=True, metavar="DIR", help="credentials directory"
    )
    parser.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="gateway address (default: the first endpoint in the credentials' manifest)",
    )
    parser.add_argument(
        "--timeout", type=float, default=_TIMEOUT, help=f"seconds per call (default {_TIMEOUT})"
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


# -- plumbing ----------------------------------------------------------------------------------


class _Session(Session):
    """A verified connection to one gateway (``cli/_session.py``)."""

    def today(self) -> dt.date:
        """Today in China Standard Time, on the client's clock."""
        return self.now().astimezone(CHINA).date()

    def record(self, record_id: str) -> record_pb2.CreditRecord:
        """A record, its provenance verified by the SDK."""
        return self.call(lambda t: self.client.get_record(record_id, timeout=t)).value


def _dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _iso(value: common_pb2.Date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _evidence_ref(path: Path, holder: str) -> common_pb2.EvidenceRef:
    """A file as evidence: its digest and size, held by ``holder`` (the content stays here)."""
    try:
        size = path.stat().st_size
        if size > _MAX_EVIDENCE_BYTES:
            raise _Failed(f"{path}: larger than {_MAX_EVIDENCE_BYTES} bytes", 2)
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise _Failed(f"{path}: {exc.strerror or exc}", 2) from exc
    return common_pb2.EvidenceRef(
        evidence_id=str(uuid.uuid4()),
        title=path.name[:256] or "evidence",
        media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        sha256=digest.digest(),
        size_bytes=size,
        holder_node_id=holder,
    )


def _uscc(value: str, option: str) -> str:
    try:
        return validate_uscc(value)
    except InvalidIdentifier as exc:
        raise _Failed(f"{option}: {value!r} is not a valid USCC: {exc}", 2) from exc


def _check_files(paths: Sequence[Path]) -> None:
    for path in paths:
        if not path.is_file():
            raise _Failed(f"{path}: no such file", 2)


# -- objection file ----------------------------------------------------------------------------


def _run_file(args: argparse.Namespace) -> int:
    return _guarded("objection file", args, _file)


def _file(args: argparse.Namespace) -> int:
    kind = OBJECTION_TYPES[args.kind]
    if not (
        args.target_record or args.target_entry or kind == objection_pb2.OBJECTION_TYPE_OMISSION
    ):
        raise _Failed("name a --target-record or --target-entry (only an omission has none)", 2)
    if bool(args.handling_authority) != bool(args.handling_authority_name):
        raise _Failed("--handling-authority and --handling-authority-name go together", 2)
    _check_files([*args.evidence, args.commitment_letter])
    with _Session(args) as session:
        session.identify()
        holder = session.client.credentials.node_id
        objection = objection_pb2.Objection(
            objection_id=str(uuid.uuid4()),
            type=kind,
            claim=args.claim,
            status=objection_pb2.OBJECTION_STATUS_OPEN,
        )
        subject: common_pb2.SubjectRef | None = None
        handling: common_pb2.AuthorityRef | None = None
        for record_id in args.target_record:
            found = session.record(record_id)
            if subject is not None and found.subject.SerializeToString(
                deterministic=True
            ) != subject.SerializeToString(deterministic=True):
                raise _Failed(f"record {record_id} is about another subject", 2)
            subject = subject or found.subject
            handling = handling or found.source_unit
            objection.targets.add(record_id=record_id)
        for entry_id in args.target_entry:
            objection.targets.add(name_list_entry_id=entry_id)
        if subject is None:
            if not args.subject:
                raise _Failed("without a target record, give the subject with --subject", 2)
            subject = common_pb2.SubjectRef(
                uscc=_uscc(args.subject, "--subject"), kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON
            )
        if args.handling_authority:
            handling = common_pb2.AuthorityRef(
                uscc=_uscc(args.handling_authority, "--handling-authority"),
                name=args.handling_authority_name,
            )
        if handling is None:
            raise _Failed("give the --handling-authority (no target record names one)", 2)
        objection.subject.CopyFrom(subject)
        objection.handling_authority.CopyFrom(handling)
        objection.evidence.extend(_evidence_ref(p, holder) for p in args.evidence)
        objection.commitment_letter.CopyFrom(_evidence_ref(args.commitment_letter, holder))
        objection.filed_at.FromDatetime(session.now())
        today = session.today()
        try:
            ruleset = ruleset_for(today)
        except NoRulesetInForce as exc:
            raise _Failed(str(exc), 2) from exc
        deadline = objection_deadline(today, WorkingDayCalendar(), ruleset)
        objection.response_deadline.due.CopyFrom(date_pb(deadline.date))
        objection.response_deadline.provisional = deadline.provisional
        objection.response_deadline.period = ruleset.objection.days
        objection.response_deadline.working_days = ruleset.objection.unit.name == "WORKING_DAYS"
        objection.response_deadline.ruleset_id = ruleset.id
        written = session.call(lambda t: session.client.file_objection(objection, timeout=t))
        leaf = written.receipt.first_leaf_index
        gateway = session.client.gateway
    if written.value is None:
        raise _Failed("the gateway did not return the objection it logged", 1)
    filed: objection_pb2.Objection = written.value
    if args.json:
        print(json.dumps(_dict(filed), ensure_ascii=False, indent=2))
        return 0
    print(f"objection  : {filed.objection_id}")
    print(f"type       : {args.kind}")
    print(f"targets    : {', '.join(_target_label(t) for t in filed.targets) or '(omission)'}")
    note = " (provisional: the year's holidays are not known)" if deadline.provisional else ""
    print(f"deadline   : {_iso(filed.response_deadline.due)} ({ruleset.id}){note}")
    print(f"filed at   : {gateway}, leaf {leaf} (receipt verified); the targets are disputed")
    return 0


def _target_label(target: objection_pb2.ObjectionTarget) -> str:
    case = target.WhichOneof("target") or ""
    return f"{case.removesuffix('_id').replace('_', '-')}:{getattr(target, case, '')}"


# -- objection list ----------------------------------------------------------------------------


def _run_list(args: argparse.Namespace) -> int:
    return _guarded("objection list", args, _list)


def _list(args: argparse.Namespace) -> int:
    request = objection_service_pb2.ListObjectionsRequest(page_size=200)
    if args.subject.startswith("pn"):
        request.person_token = args.subject
    else:
        request.uscc = _uscc(args.subject, "--subject")
    statuses = [_STATUSES[s] for s in args.status]
    with _Session(args) as session:
        session.identify()
        if args.overdue:
            statuses = [objection_pb2.OBJECTION_STATUS_OPEN]
            request.response_due_by.CopyFrom(date_pb(session.today() - dt.timedelta(days=1)))
        request.statuses.extend(statuses)
        request.page_size = 200

        def show(timeout: float) -> int:
            shown = 0
            for item in session.client.list_objections(
                request, page_size=200, max_items=args.limit, timeout=timeout
            ):
                print(_objection_line(item, as_json=args.json))
                shown += 1
            return shown

        shown = session.call(show)
    if not shown and not args.json:
        print("no objections")
    return 0


def _objection_line(item: objection_pb2.Objection, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(_dict(item), ensure_ascii=False)
    status = objection_pb2.ObjectionStatus.Name(item.status).removeprefix("OBJECTION_STATUS_")
    kind = objection_pb2.ObjectionType.Name(item.type).removeprefix("OBJECTION_TYPE_")
    targets = ", ".join(_target_label(t) for t in item.targets) or "(omission)"
    return (
        f"{item.objection_id} {status:<17} {kind:<24} due {_iso(item.response_deadline.due)} "
        f"{targets}"
    )


# -- repair apply ------------------------------------------------------------------------------


@dataclass
class _Group:
    """The targets one authority decides: one application."""

    authority: common_pb2.AuthorityRef
    records: list[record_pb2.CreditRecord] = field(default_factory=list)
    entries: list[name_list_pb2.NameListEntry] = field(default_factory=list)


def _run_apply(args: argparse.Namespace) -> int:
    return _guarded("repair apply", args, _apply)


def _apply(args: argparse.Namespace) -> int:
    if not (args.target_record or args.target_entry):
        raise _Failed("name at least one --target-record or --target-entry", 2)
    _check_files([*args.evidence, *([args.commitment_letter] if args.commitment_letter else [])])
    with _Session(args) as session:
        session.identify()
        groups, subject = _targets(session, args)
        today = session.today()
        holder = session.client.credentials.node_id
        try:
            ruleset = ruleset_for(today)
        except NoRulesetInForce as exc:
            raise _Failed(str(exc), 2) from exc
        calendar = WorkingDayCalendar()
        commitment = commitment_pb2.CreditCommitment(
            commitment_id=str(uuid.uuid4()),
            type=commitment_pb2.COMMITMENT_TYPE_CREDIT_REPAIR,
            content=args.commitment,
            matter="信用修复申请",
            publicly_disclosed=args.public,
            fulfilment_status=commitment_pb2.FULFILMENT_STATUS_PENDING,
        )
        commitment.subject.CopyFrom(subject)
        commitment.made_on.CopyFrom(date_pb(today))
        if args.commitment_letter:
            commitment.signed_letter.CopyFrom(_evidence_ref(args.commitment_letter, holder))
        evidence = [_evidence_ref(p, holder) for p in args.evidence]
        results: list[dict[str, Any]] = []
        for index, group in enumerate(groups):
            application = repair_pb2.RepairApplication(
                application_id=str(uuid.uuid4()),
                form=REPAIR_FORMS[args.form],
                statement=args.statement,
                commitment_id=commitment.commitment_id,
                ruleset_id=ruleset.id,
                status=repair_pb2.REPAIR_STATUS_SUBMITTED,
            )
            application.subject.CopyFrom(subject)
            application.targets.extend(
                repair_pb2.RepairTarget(record_id=r.record_id) for r in group.records
            )
            application.targets.extend(
                repair_pb2.RepairTarget(name_list_entry_id=e.entry_id) for e in group.entries
            )
            application.evidence.extend(evidence)
            application.submitted_at.FromDatetime(session.now())
            application.deciding_authority.CopyFrom(group.authority)
            for name, limit in (
                ("decision_deadline", repair_decision_deadline(today, calendar, ruleset)),
                ("feedback_deadline", repair_feedback_deadline(today, calendar, ruleset)),
            ):
                if limit is not None:
                    deadline: common_pb2.Deadline = getattr(application, name)
                    deadline.due.CopyFrom(date_pb(limit.date))
                    deadline.provisional = limit.provisional
                    rule = (
                        ruleset.repair_decision
                        if name == "decision_deadline"
                        else (ruleset.repair_feedback)
                    )
                    assert rule is not None
                    deadline.period = rule.days
                    deadline.working_days = rule.unit.name == "WORKING_DAYS"
                    deadline.ruleset_id = ruleset.id
            # The commitment travels with the first application, in one signed batch.
            written = _submit_application(session, application, commitment if index == 0 else None)
            results.append(
                {
                    "application": _dict(written.value or application),
                    "leaf": written.receipt.first_leaf_index,
                    "eligibility": [_eligibility(r, today, args.public) for r in group.records],
                }
            )
        gateway = session.client.gateway
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    print(f"commitment : {commitment.commitment_id} ({'public' if args.public else 'not public'})")
    for result, group in zip(results, groups, strict=True):
        app = result["application"]
        due = app.get("decision_deadline", {}).get("due")
        print(f"application: {app['application_id']} at {gateway}, leaf {result['leaf']}")
        print(f"  decided by: {group.authority.name} ({group.authority.uscc})")
        print(f"  ruleset   : {ruleset.id}; decision due {_due_text(due)}")
        for record in group.records:
            print(f"  record    : {record.record_id}")
        for entry in group.entries:
            kind = name_list_pb2.NameListType.Name(entry.list_type).removeprefix("NAME_LIST_TYPE_")
            print(f"  entry     : {entry.entry_id} ({kind})")
        for check in result["eligibility"]:
            verdict = (
                "eligible" if check["eligible"] else "not eligible: " + ", ".join(check["reasons"])
            )
            print(f"  eligibility (local): {check['target']}: {verdict}")
    return 0


def _due_text(due: object) -> str:
    if isinstance(due, dict):
        return f"{due.get('year', 0):04d}-{due.get('month', 0):02d}-{due.get('day', 0):02d}"
    return "(no limit in this ruleset)"


def _targets(
    session: _Session, args: argparse.Namespace
) -> tuple[list[_Group], common_pb2.SubjectRef]:
    """The target records and entries, grouped by the authority that decides each."""
    groups: dict[str, _Group] = {}
    subject: common_pb2.SubjectRef | None = None
    records: list[record_pb2.CreditRecord] = []
    for record_id in dict.fromkeys(args.target_record):
        found = session.record(record_id)
        if subject is not None and (found.subject.uscc, found.subject.person_token) != (
            subject.uscc,
            subject.person_token,
        ):
            raise _Failed(f"record {record_id} is about another subject", 2)
        subject = subject or found.subject
        records.append(found)
        groups.setdefault(found.authority.uscc, _Group(found.authority)).records.append(found)
    wanted = list(dict.fromkeys(args.target_entry))
    cited = {r.record_id for r in records}
    for entry_id in wanted:
        entry = _entry(session, entry_id)
        if subject is None:
            subject = entry.subject
        _add_entry(groups, entry)
    if args.related and subject is not None and subject.uscc and cited:
        request_list = name_list_service_pb2.ListNameListEntriesRequest(
            uscc=subject.uscc,
            states=[
                name_list_pb2.NAME_LIST_STATE_LISTED,
                name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION,
                name_list_pb2.NAME_LIST_STATE_RECTIFYING,
            ],
            page_size=1000,
        )
        listed = session.call(
            lambda t: session.client.list_name_list_entries(
                request_list, page_size=1000, timeout=t
            ).all()
        )
        for entry in listed:
            if entry.entry_id not in wanted and any(b.record_id in cited for b in entry.basis):
                _add_entry(groups, entry)
    if subject is None:
        raise _Failed("no target found", 2)
    return list(groups.values()), subject


def _submit_application(
    session: _Session,
    application: repair_pb2.RepairApplication,
    commitment: commitment_pb2.CreditCommitment | None,
) -> Written[repair_pb2.RepairApplication]:
    return session.call(
        lambda t: session.client.submit_repair_application(
            application, commitment=commitment, timeout=t
        )
    )


def _entry(session: _Session, entry_id: str) -> name_list_pb2.NameListEntry:
    return session.call(lambda t: session.client.get_name_list_entry(entry_id, timeout=t).value)


def _add_entry(groups: dict[str, _Group], entry: name_list_pb2.NameListEntry) -> None:
    authority = entry.determining_authority
    groups.setdefault(authority.uscc, _Group(authority)).entries.append(entry)


def _eligibility(record: record_pb2.CreditRecord, today: dt.date, public: bool) -> dict[str, Any]:
    """A record's eligibility today, computed locally from the rulesets (as the gateway does)."""
    decided = dt.date(
        record.decision_date.year, record.decision_date.month, record.decision_date.day
    )
    met = set(_CLAIMED) | {RepairCondition.COMMITMENT}
    if public:
        met.add(RepairCondition.PUBLIC_COMMITMENT)
    try:
        checked = repair_eligibility(
            record.severity, decided, today, met=met, ruleset=ruleset_for(decided)
        )
    except (NoRulesetInForce, NoPublicationPeriod, ValueError):
        return {
            "target": f"record:{record.record_id}",
            "eligible": False,
            "reasons": ["NOT_REPAIRABLE"],
        }
    return {
        "target": f"record:{record.record_id}",
        "eligible": checked.eligible,
        "reasons": [r.value for r in checked.reasons],
        "earliest": checked.earliest.isoformat(),
        "ruleset_id": checked.ruleset_id,
    }
