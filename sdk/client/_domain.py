"""The domain services' calls, transport-free: what to send and how to check what comes back.

For each RPC of ``RecordService``, ``NameListService``, ``MeasureService``,
``ObjectionService`` and ``ReportService`` the :class:`DomainCalls` method of the same name
(snake_case) returns a :class:`Call`: the service, the method, the request (built, signed and
sealed once, so that every retry sends the same bytes) and ``finish``, which turns the answer
into a verified result or raises. List RPCs return a :class:`PagedCall`, which builds the
request of any page. :class:`~creditlink.sdk.client.Client` and
:class:`~creditlink.sdk.client.AsyncClient` send them; nothing here does I/O.

Writes: the body (``NameListEntry``, ``RecordCorrection``...) is completed into a statement,
signed, sealed (:meth:`ClientCore.build_submit`) and put in the request with its request id;
the answer's receipt must acknowledge exactly that statement. Reads: every provenance item is
verified (:func:`verify_provenance`), and the first must be the statement the returned object
stands on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final, Generic, TypeVar

from google.protobuf.message import Message

from creditlink.sdk.client._core import ClientCore
from creditlink.sdk.client._pager import Page, page_of
from creditlink.sdk.client._types import (
    Fetched,
    InclusionProof,
    IssuedReport,
    MeasureListDiff,
    Provenance,
    Recognition,
    RecordView,
    SubjectCheck,
    Written,
)
from creditlink.sdk.envelope import Envelope, payload_type_for
from creditlink.sdk.errors import VerificationError
from creditlink.sdk.ids import report_no
from creditlink.sdk.reports import (
    ReportBundle,
    ReportStatus,
    UsePurpose,
    make_bundle,
    verify_report_offline,
)
from creditlink.v1 import (
    commitment_pb2,
    common_pb2,
    measure_pb2,
    measure_service_pb2,
    name_list_pb2,
    name_list_service_pb2,
    objection_pb2,
    objection_service_pb2,
    record_pb2,
    record_service_pb2,
    repair_pb2,
    report_pb2,
    report_service_pb2,
    statement_pb2,
)

__all__ = [
    "SERVICES",
    "Call",
    "DomainCalls",
    "PagedCall",
    "Subject",
    "decision_holders",
    "decision_targets",
    "repair_decision_of",
    "report_bundle",
    "unaddressed",
    "verify_provenance",
]

T = TypeVar("T")

#: The domain services' short names, as :attr:`Call.service` uses them.
SERVICES: Final = ("records", "name_lists", "measures", "objections", "reports")

#: A subject: a USCC, or a person token (``pn<version>:<token>``).
Subject = str

# Broadcast kinds: a name-list entry, its transitions and a measure list name no recipients,
# so every member may read them and the hub's feed carries them to every region.
_BROADCAST: Final = ()


@dataclass(frozen=True)
class Call(Generic[T]):
    """One unary call: send ``request`` to ``service``'s ``method``; ``finish`` the answer."""

    service: str
    method: str
    request: Message
    finish: Callable[[Any], T]


@dataclass(frozen=True)
class PagedCall(Generic[T]):
    """A list call: ``request(token)`` is the request of the page at ``token``; ``page``
    turns an answer into a :class:`~creditlink.sdk.client.Page`."""

    service: str
    method: str
    request: Callable[[str], Message]
    page: Callable[[Any], Page[T]]


def _subject(subject: Subject) -> dict[str, Any]:
    """The request fields naming ``subject``: ``person_token`` for ``pn…``, else ``uscc``."""
    text = subject.strip()
    if not text:
        raise ValueError("the subject is empty")
    return {"person_token": text} if text.startswith("pn") else {"uscc": text}


def _date(value: date) -> common_pb2.Date:
    return common_pb2.Date(year=value.year, month=value.month, day=value.day)


def _date_range(start: date | None, end: date | None) -> common_pb2.DateRange | None:
    if start is None and end is None:
        return None
    out = common_pb2.DateRange()
    if start is not None:
        out.start.CopyFrom(_date(start))
    if end is not None:
        out.end.CopyFrom(_date(end))
    return out


def _from_date(pb: common_pb2.Date) -> date | None:
    return date(pb.year, pb.month, pb.day) if pb.year else None


def _paged(request: Message, page_size: int) -> Callable[[str], Message]:
    if not 0 < page_size <= 1000:
        raise ValueError("page_size must be between 1 and 1000")

    def build(token: str) -> Message:
        out = type(request)()
        out.CopyFrom(request)
        out.page_size = page_size  # type: ignore[attr-defined]
        out.page_token = token  # type: ignore[attr-defined]
        return out

    return build


# -- provenance ---------------------------------------------------------------------------------


def verify_provenance(
    core: ClientCore, items: Sequence[statement_pb2.Provenance], *, proofs: bool
) -> tuple[Provenance, ...]:
    """Verify every provenance item (see :class:`~creditlink.sdk.client.Provenance`).

    With ``proofs`` (the request asked for them) every item must carry an inclusion proof and a
    checkpoint, and both are verified.
    """
    out = []
    for item in items:
        entry = core.verify_entry(item.entry)
        if entry.message_id != item.message_id:
            raise VerificationError(
                f"a provenance item names message {item.message_id!r} but holds "
                f"{entry.message_id!r}",
                reason="PROVENANCE_MISMATCH",
            )
        inclusion: InclusionProof | None = None
        if proofs:
            if not item.HasField("inclusion_proof") or not item.HasField("checkpoint"):
                raise VerificationError(
                    f"the gateway sent no inclusion proof for {item.message_id!r}",
                    reason="NO_PROOF",
                )
            try:
                core.trust_bundle.node(item.gateway_node_id)
            except KeyError:
                raise VerificationError(
                    f"provenance names {item.gateway_node_id!r}, not a federation member",
                    reason="UNKNOWN_LOG",
                ) from None
            checkpoint = core.verify_checkpoint(item.checkpoint, node_id=item.gateway_node_id)
            inclusion = core.prove_included(
                entry, checkpoint, item.inclusion_proof, note=item.checkpoint.note
            )
        out.append(
            Provenance(gateway_node_id=item.gateway_node_id, entry=entry, inclusion=inclusion)
        )
    return tuple(out)


def _first(provenance: tuple[Provenance, ...], what: str) -> statement_pb2.Statement:
    if not provenance:
        raise VerificationError(
            f"the gateway sent {what} without provenance", reason="NO_PROVENANCE"
        )
    return provenance[0].entry.statement


def _same_but_status(signed: Message, answered: Message) -> bool:
    """``answered`` is ``signed`` except for its ``status``, which the gateway derives."""
    copy = type(answered)()
    copy.CopyFrom(answered)
    copy.status = signed.status  # type: ignore[attr-defined]
    return copy == signed


def _mismatch(what: str) -> VerificationError:
    return VerificationError(
        f"{what} is not what its first provenance statement says", reason="PROVENANCE_MISMATCH"
    )


def _bind_record(record: record_pb2.CreditRecord, provenance: tuple[Provenance, ...]) -> None:
    statement = _first(provenance, "a record")
    body = statement.WhichOneof("body")
    if body == "record_correction":
        signed = statement.record_correction.record
    elif body == "record":
        signed = statement.record
    else:
        raise _mismatch(f"record {record.record_id}")
    if not _same_but_status(signed, record):
        raise _mismatch(f"record {record.record_id} revision {record.revision}")


def _bind_id(
    provenance: tuple[Provenance, ...], what: str, body: str, field: str, value: str
) -> None:
    statement = _first(provenance, what)
    if statement.WhichOneof("body") != body or getattr(getattr(statement, body), field) != value:
        raise _mismatch(f"{what} {value}")


_REPORT_STATUSES: Final = frozenset(s.value for s in ReportStatus)


def report_bundle(fetched: Fetched[report_pb2.CreditReport]) -> ReportBundle:
    """The portable bundle of a report read with proofs: its first provenance item."""
    if not fetched.provenance or fetched.provenance[0].inclusion is None:
        raise VerificationError("the gateway sent no log proof for the report", reason="NO_PROOF")
    first = fetched.provenance[0]
    proof = first.inclusion
    assert proof is not None
    if not isinstance(first.entry.signed, Envelope):
        raise VerificationError("a report statement is a single envelope", reason="NO_ENVELOPE")
    return make_bundle(
        first.entry.signed,
        first.entry.leaf_index,
        list(proof.hashes),
        proof.note,
        tree_size=proof.checkpoint.size,
        log_node_id=first.gateway_node_id,
    )


# -- whom a repair decision reaches (CXP-REPAIR-001) -------------------------------------------

_APPROVALS: Final = frozenset(
    {repair_pb2.REPAIR_STATUS_APPROVED, repair_pb2.REPAIR_STATUS_PARTIALLY_APPROVED}
)


def repair_decision_of(
    decision: repair_pb2.RepairDecision | statement_pb2.Statement,
) -> repair_pb2.RepairDecision:
    """The ``RepairDecision`` of a bare decision or of a statement carrying one."""
    if isinstance(decision, statement_pb2.Statement):
        if decision.WhichOneof("body") != "repair_decision":
            raise ValueError("the statement carries no repair_decision")
        return decision.repair_decision
    return decision


def unaddressed(decision: repair_pb2.RepairDecision | statement_pb2.Statement) -> bool:
    """Whether ``decision`` names no recipients (a bare body, or a statement whose header
    names none): the client then addresses it to the holders (:func:`decision_holders`)."""
    return not (
        isinstance(decision, statement_pb2.Statement) and decision.header.recipient_node_ids
    )


def decision_targets(decision: repair_pb2.RepairDecision) -> list[tuple[str, str]]:
    """The approved targets whose holders an approval must reach, ``("record", id)`` or
    ``("name-list-entry", id)``; none unless the decision approves."""
    if decision.outcome not in _APPROVALS:
        return []
    return [
        ("name-list-entry", t.name_list_entry_id)
        if t.WhichOneof("target") == "name_list_entry_id"
        else ("record", t.record_id)
        for t in decision.approved_targets
    ]


def decision_holders(
    gateway: str, created_by: Sequence[statement_pb2.Statement]
) -> tuple[str, ...]:
    """The recipients of a repair decision: the gateway it is submitted to, then every node
    the statements that created the application and the approved targets (``created_by``)
    were addressed to, each once (CXP-REPAIR-001)."""
    named = [gateway]
    for statement in created_by:
        named.extend(statement.header.recipient_node_ids)
    return tuple(dict.fromkeys(named))


# -- the calls ---------------------------------------------------------------------------------


class DomainCalls:
    """Builds the domain services' calls for one client (its :class:`ClientCore`)."""

    def __init__(self, core: ClientCore) -> None:
        self._core = core

    # -- writes, shared ------------------------------------------------------------------

    def _write(
        self,
        service: str,
        method: str,
        request_type: type[Message],
        bodies: Sequence[Message],
        result: str,
        recipients: Sequence[str] | None,
        *,
        sealed_field: str = "sealed_statement",
        issues: str | None = None,
    ) -> Call[Written[Any]]:
        """A write call. ``issues`` names the kind of statement the gateway signs itself on
        this order (the report services), whose receipt it returns instead of the order's."""
        prepared = self._core.build_submit(bodies, recipients)
        request = request_type(
            request_id=prepared.request.request_id, **{sealed_field: prepared.request.sealed}
        )
        expected = prepared.expected
        core = self._core

        def finish(response: Any) -> Written[Any]:
            if issues is not None:
                receipt = core.verify_own_receipt(
                    response.receipt, payload_type=payload_type_for(issues)
                )
            else:
                receipt = core.verify_receipt(response.receipt, expected)
            value = getattr(response, result) if response.HasField(result) else None
            return Written(receipt=receipt, value=value)

        return Call(service, method, request, finish)

    def _fetched(
        self, items: Sequence[statement_pb2.Provenance], proofs: bool
    ) -> tuple[Provenance, ...]:
        return verify_provenance(self._core, items, proofs=proofs)

    # -- RecordService -------------------------------------------------------------------

    def get_record(self, record_id: str, *, revision: int, include_proof: bool) -> Call[RecordView]:
        """``GetRecord``: the record (a revision), checked against its provenance."""
        request = record_service_pb2.GetRecordRequest(
            record_id=record_id, revision=revision, include_proof=include_proof
        )

        def finish(response: record_service_pb2.GetRecordResponse) -> RecordView:
            provenance = self._fetched(response.provenance, include_proof)
            _bind_record(response.record, provenance)
            if response.record.record_id != record_id or (
                revision and response.record.revision != revision
            ):
                raise VerificationError(
                    f"asked for record {record_id} (revision {revision or 'current'}), got "
                    f"{response.record.record_id} revision {response.record.revision}",
                    reason="WRONG_OBJECT",
                )
            return RecordView(
                value=response.record,
                provenance=provenance,
                disputed=response.disputed,
                open_objection_ids=tuple(response.open_objection_ids),
            )

        return Call("records", "GetRecord", request, finish)

    def list_records(
        self,
        subject: Subject,
        *,
        categories: Collection[int],
        statuses: Collection[int],
        decided_from: date | None,
        decided_to: date | None,
        page_size: int,
    ) -> PagedCall[record_pb2.CreditRecord]:
        """``ListRecords``: a subject's records, newest decision first."""
        base = record_service_pb2.ListRecordsRequest(
            categories=[record_pb2.RecordCategory.ValueType(c) for c in categories],
            statuses=[record_pb2.RecordStatus.ValueType(s) for s in statuses],
            decision_date=_date_range(decided_from, decided_to),
            **_subject(subject),
        )
        return PagedCall(
            "records",
            "ListRecords",
            _paged(base, page_size),
            lambda r: page_of(r.records, r.next_page_token),
        )

    def list_overdue_records(
        self, request: record_service_pb2.ListOverdueRecordsRequest, page_size: int
    ) -> PagedCall[record_service_pb2.OverdueRecord]:
        """``ListOverdueRecords``: records published late or past their publication period."""
        return PagedCall(
            "records",
            "ListOverdueRecords",
            _paged(request, page_size),
            lambda r: page_of(r.records, r.next_page_token),
        )

    def correct_record(
        self, correction: record_pb2.RecordCorrection, recipients: Sequence[str] | None
    ) -> Call[Written[record_pb2.CreditRecord]]:
        """``CorrectRecord``: a correction (kind CORRECT, with the next revision)."""
        return self._write(
            "records",
            "CorrectRecord",
            record_service_pb2.CorrectRecordRequest,
            [correction],
            "record",
            recipients,
        )

    def revoke_record(
        self, correction: record_pb2.RecordCorrection, recipients: Sequence[str] | None
    ) -> Call[Written[record_pb2.CreditRecord]]:
        """``RevokeRecord``: a correction of kind REVOKE (or WITHDRAW), with its reason."""
        return self._write(
            "records",
            "RevokeRecord",
            record_service_pb2.RevokeRecordRequest,
            [correction],
            "record",
            recipients,
        )

    # -- NameListService -----------------------------------------------------------------

    def create_name_list_entry(
        self, entry: name_list_pb2.NameListEntry, recipients: Sequence[str] | None
    ) -> Call[Written[name_list_pb2.NameListEntry]]:
        """``CreateNameListEntry``: a determining authority lists a subject (broadcast)."""
        return self._write(
            "name_lists",
            "CreateNameListEntry",
            name_list_service_pb2.CreateNameListEntryRequest,
            [entry],
            "entry",
            _BROADCAST if recipients is None else recipients,
        )

    def transition_name_list_entry(
        self, transition: name_list_pb2.NameListTransition, recipients: Sequence[str] | None
    ) -> Call[Written[name_list_pb2.NameListEntry]]:
        """``TransitionNameListEntry``: one lifecycle step of an entry (broadcast)."""
        return self._write(
            "name_lists",
            "TransitionNameListEntry",
            name_list_service_pb2.TransitionNameListEntryRequest,
            [transition],
            "entry",
            _BROADCAST if recipients is None else recipients,
        )

    def get_name_list_entry(
        self, entry_id: str, *, include_proof: bool
    ) -> Call[Fetched[name_list_pb2.NameListEntry]]:
        """``GetNameListEntry``: an entry in its current state, with its provenance."""
        request = name_list_service_pb2.GetNameListEntryRequest(
            entry_id=entry_id, include_proof=include_proof
        )

        def finish(
            response: name_list_service_pb2.GetNameListEntryResponse,
        ) -> Fetched[name_list_pb2.NameListEntry]:
            provenance = self._fetched(response.provenance, include_proof)
            if response.entry.entry_id != entry_id:
                raise VerificationError(
                    f"asked for entry {entry_id}, got {response.entry.entry_id}",
                    reason="WRONG_OBJECT",
                )
            _bind_id(provenance, "name-list entry", "name_list_entry", "entry_id", entry_id)
            return Fetched(value=response.entry, provenance=provenance)

        return Call("name_lists", "GetNameListEntry", request, finish)

    def list_name_list_entries(
        self, request: name_list_service_pb2.ListNameListEntriesRequest, page_size: int
    ) -> PagedCall[name_list_pb2.NameListEntry]:
        """``ListNameListEntries``: entries by list type, subject, state, region, authority."""
        return PagedCall(
            "name_lists",
            "ListNameListEntries",
            _paged(request, page_size),
            lambda r: page_of(r.entries, r.next_page_token),
        )

    def check_subject(
        self,
        subject: Subject,
        purpose: int,
        *,
        include_responsible_person: bool,
        as_of: datetime | None,
    ) -> Call[SubjectCheck]:
        """``CheckSubject``: is the subject listed, and which measures apply for ``purpose``."""
        request = name_list_service_pb2.CheckSubjectRequest(
            purpose=common_pb2.UsePurpose.ValueType(purpose),
            include_responsible_person=include_responsible_person,
            **_subject(subject),
        )
        if as_of is not None:
            request.as_of.FromDatetime(as_of.astimezone(UTC))
        core = self._core

        def finish(response: name_list_service_pb2.CheckSubjectResponse) -> SubjectCheck:
            checkpoint = core.verify_checkpoint(response.checkpoint)
            if response.listed != bool(response.entries):
                raise VerificationError(
                    "the answer says listed without entries, or entries without listed",
                    reason="INCONSISTENT_ANSWER",
                )
            return SubjectCheck(
                listed=response.listed,
                entries=tuple(response.entries),
                measures=tuple(response.measures),
                checked_at=response.checked_at.ToDatetime(tzinfo=UTC),
                checkpoint=checkpoint,
            )

        return Call("name_lists", "CheckSubject", request, finish)

    # -- MeasureService ------------------------------------------------------------------

    def publish_measure_list(
        self, measure_list: measure_pb2.MeasureList, recipients: Sequence[str] | None
    ) -> Call[Written[measure_pb2.MeasureList]]:
        """``PublishMeasureList``: a new version of a measure list (broadcast)."""
        return self._write(
            "measures",
            "PublishMeasureList",
            measure_service_pb2.PublishMeasureListRequest,
            [measure_list],
            "measure_list",
            _BROADCAST if recipients is None else recipients,
        )

    def get_measure_list(
        self,
        list_id: str,
        *,
        version: str | None,
        effective_on: date | None,
        include_proof: bool,
    ) -> Call[Fetched[measure_pb2.MeasureList]]:
        """``GetMeasureList``: a version, the one in force on a date, or the one in force now."""
        if version is not None and effective_on is not None:
            raise ValueError("give version or effective_on, not both")
        request = measure_service_pb2.GetMeasureListRequest(
            list_id=list_id, include_proof=include_proof
        )
        if version is not None:
            request.version = version
        if effective_on is not None:
            request.effective_on.CopyFrom(_date(effective_on))

        def finish(
            response: measure_service_pb2.GetMeasureListResponse,
        ) -> Fetched[measure_pb2.MeasureList]:
            provenance = self._fetched([response.provenance], include_proof)
            statement = _first(provenance, "a measure list")
            if (
                statement.WhichOneof("body") != "measure_list"
                or statement.measure_list != response.measure_list
            ):
                raise _mismatch(f"measure list {list_id}")
            if response.measure_list.list_id != list_id or (
                version is not None and response.measure_list.version != version
            ):
                raise VerificationError(
                    f"asked for {list_id} {version or ''}, got {response.measure_list.list_id} "
                    f"{response.measure_list.version}",
                    reason="WRONG_OBJECT",
                )
            return Fetched(value=response.measure_list, provenance=provenance)

        return Call("measures", "GetMeasureList", request, finish)

    def list_measure_lists(
        self, list_id: str, page_size: int
    ) -> PagedCall[measure_pb2.MeasureList]:
        """``ListMeasureLists``: the versions of a list (all lists when ``list_id`` is empty)."""
        return PagedCall(
            "measures",
            "ListMeasureLists",
            _paged(measure_service_pb2.ListMeasureListsRequest(list_id=list_id), page_size),
            lambda r: page_of(r.measure_lists, r.next_page_token),
        )

    def diff_measure_lists(
        self, list_id: str, from_version: str, to_version: str
    ) -> Call[MeasureListDiff]:
        """``DiffMeasureLists``: what changed between two versions."""
        request = measure_service_pb2.DiffMeasureListsRequest(
            list_id=list_id, from_version=from_version, to_version=to_version
        )

        def finish(response: measure_service_pb2.DiffMeasureListsResponse) -> MeasureListDiff:
            return MeasureListDiff(
                added=tuple(response.added),
                removed=tuple(response.removed),
                changed=tuple(response.changed),
                from_effective_date=_from_date(response.from_effective_date),
                to_effective_date=_from_date(response.to_effective_date),
            )

        return Call("measures", "DiffMeasureLists", request, finish)

    # -- ObjectionService ----------------------------------------------------------------

    def file_objection(
        self, objection: objection_pb2.Objection, recipients: Sequence[str] | None
    ) -> Call[Written[objection_pb2.Objection]]:
        """``FileObjection``: an objection against a record, entry, report or evaluation."""
        return self._write(
            "objections",
            "FileObjection",
            objection_service_pb2.FileObjectionRequest,
            [objection],
            "objection",
            recipients,
        )

    def resolve_objection(
        self, resolution: objection_pb2.ObjectionResolution, recipients: Sequence[str] | None
    ) -> Call[Written[objection_pb2.Objection]]:
        """``ResolveObjection``: the handling authority's decision."""
        return self._write(
            "objections",
            "ResolveObjection",
            objection_service_pb2.ResolveObjectionRequest,
            [resolution],
            "objection",
            recipients,
        )

    def get_objection(
        self, objection_id: str, *, include_proof: bool
    ) -> Call[Fetched[objection_pb2.Objection]]:
        """``GetObjection``: an objection with its status, resolution and provenance."""
        request = objection_service_pb2.GetObjectionRequest(
            objection_id=objection_id, include_proof=include_proof
        )

        def finish(
            response: objection_service_pb2.GetObjectionResponse,
        ) -> Fetched[objection_pb2.Objection]:
            provenance = self._fetched(response.provenance, include_proof)
            _bind_id(provenance, "objection", "objection", "objection_id", objection_id)
            if response.objection.objection_id != objection_id:
                raise VerificationError(
                    f"asked for objection {objection_id}, got another", reason="WRONG_OBJECT"
                )
            return Fetched(value=response.objection, provenance=provenance)

        return Call("objections", "GetObjection", request, finish)

    def list_objections(
        self, request: objection_service_pb2.ListObjectionsRequest, page_size: int
    ) -> PagedCall[objection_pb2.Objection]:
        """``ListObjections``: by subject, target, status, type, handling authority, due date."""
        return PagedCall(
            "objections",
            "ListObjections",
            _paged(request, page_size),
            lambda r: page_of(r.objections, r.next_page_token),
        )

    def submit_repair_application(
        self,
        application: repair_pb2.RepairApplication,
        commitment: commitment_pb2.CreditCommitment | None,
        recipients: Sequence[str] | None,
    ) -> Call[Written[repair_pb2.RepairApplication]]:
        """``SubmitRepairApplication``: a credit repair application; with the credit
        commitment it names, both in one signed batch (accepted or refused together)."""
        bodies: list[Message] = [application] if commitment is None else [commitment, application]
        return self._write(
            "objections",
            "SubmitRepairApplication",
            objection_service_pb2.SubmitRepairApplicationRequest,
            bodies,
            "application",
            recipients,
        )

    def decide_repair_application(
        self,
        decision: repair_pb2.RepairDecision | statement_pb2.Statement,
        recipients: Sequence[str] | None,
    ) -> Call[Written[repair_pb2.RepairApplication]]:
        """``DecideRepairApplication``: the deciding authority's decision (addressed to
        ``recipients``, else to what its statement names, else to the gateway alone: the
        clients work out the holders first, :func:`decision_holders`)."""
        return self._write(
            "objections",
            "DecideRepairApplication",
            objection_service_pb2.DecideRepairApplicationRequest,
            [decision],
            "application",
            recipients,
        )

    def get_repair_application(
        self, application_id: str, *, include_proof: bool
    ) -> Call[Fetched[repair_pb2.RepairApplication]]:
        """``GetRepairApplication``: an application with its status, decision, provenance."""
        request = objection_service_pb2.GetRepairApplicationRequest(
            application_id=application_id, include_proof=include_proof
        )

        def finish(
            response: objection_service_pb2.GetRepairApplicationResponse,
        ) -> Fetched[repair_pb2.RepairApplication]:
            provenance = self._fetched(response.provenance, include_proof)
            _bind_id(
                provenance,
                "repair application",
                "repair_application",
                "application_id",
                application_id,
            )
            if response.application.application_id != application_id:
                raise VerificationError(
                    f"asked for application {application_id}, got another",
                    reason="WRONG_OBJECT",
                )
            return Fetched(value=response.application, provenance=provenance)

        return Call("objections", "GetRepairApplication", request, finish)

    def list_repair_applications(
        self, request: objection_service_pb2.ListRepairApplicationsRequest, page_size: int
    ) -> PagedCall[repair_pb2.RepairApplication]:
        """``ListRepairApplications``: by subject, status, deciding authority, due date."""
        return PagedCall(
            "objections",
            "ListRepairApplications",
            _paged(request, page_size),
            lambda r: page_of(r.applications, r.next_page_token),
        )

    # -- ReportService -------------------------------------------------------------------

    def report_order(
        self,
        subject: Subject,
        purpose: int,
        *,
        authority_uscc: str,
        authority_name: str | None,
        purpose_description: str,
        supersedes: str = "",
    ) -> report_pb2.CreditReport:
        """An order for a report the gateway issues and signs: the subject, the purpose and
        the issuing authority (by default named as the gateway is in the trust bundle)."""
        gateway = self._core.gateway
        order = report_pb2.CreditReport(
            issuer_node_id=gateway,
            purpose=common_pb2.UsePurpose.ValueType(purpose),
            purpose_description=purpose_description,
            supersedes_report_number=supersedes,
        )
        for name, value in _subject(subject).items():
            setattr(order.subject, name, value)
        order.issuing_authority.uscc = authority_uscc
        order.issuing_authority.name = (
            authority_name or self._core.trust_bundle.node(gateway).display_name
        )
        return order

    def issue_report(
        self, order: report_pb2.CreditReport
    ) -> Call[Written[report_pb2.CreditReport]]:
        """``IssueReport``: the gateway builds, signs and logs the report the order asks for."""
        return self._write(
            "reports",
            "IssueReport",
            report_service_pb2.IssueReportRequest,
            [order],
            "report",
            None,
            issues="report",
        )

    def get_report(
        self, report_number: str, *, include_proof: bool
    ) -> Call[Fetched[report_pb2.CreditReport]]:
        """``GetReport``: a report with its current status and provenance."""
        request = report_service_pb2.GetReportRequest(
            report_number=report_number, include_proof=include_proof
        )

        def finish(
            response: report_service_pb2.GetReportResponse,
        ) -> Fetched[report_pb2.CreditReport]:
            provenance = self._fetched(response.provenance, include_proof)
            statement = _first(provenance, "a report")
            if statement.WhichOneof("body") != "report" or not _same_but_status(
                statement.report, response.report
            ):
                raise _mismatch(f"report {report_number}")
            # The number may have been asked for in its display form (CR-3300-...).
            if response.report.report_number != report_no.compact(report_number):
                raise VerificationError(
                    f"asked for report {report_number}, got {response.report.report_number}",
                    reason="WRONG_OBJECT",
                )
            return Fetched(value=response.report, provenance=provenance)

        return Call("reports", "GetReport", request, finish)

    def issued(
        self,
        written: Written[report_pb2.CreditReport],
        fetched: Fetched[report_pb2.CreditReport],
        purpose: int,
        subject: Subject,
    ) -> IssuedReport:
        """Check a report just issued as a relying party would: its bundle (from ``fetched``,
        read with proofs) must be recognized offline under this client's trust bundle for
        ``purpose`` and ``subject``, and be the report the gateway said it issued."""
        if written.value is None:
            raise VerificationError(
                "the gateway did not say which report it issued", reason="NO_REPORT"
            )
        bundle = report_bundle(fetched)
        status = int(fetched.value.status)
        result = verify_report_offline(
            bundle,
            self._core.trust_bundle,
            purpose=UsePurpose(purpose),
            subject=None if subject.startswith("pn") else subject,
            status=ReportStatus(status) if status in _REPORT_STATUSES else None,
            now=self._core.now(),
        )
        signed = result.report
        if not result.recognized or signed is None or not _same_but_status(signed, written.value):
            reasons = ", ".join(r.name for r in result.reasons) or "it is not the report ordered"
            raise VerificationError(
                f"the report {written.value.report_number} the gateway issued is not "
                f"recognized: {reasons}",
                reason="REPORT_NOT_RECOGNIZED",
            )
        return IssuedReport(receipt=written.receipt, report=signed, bundle=bundle, result=result)

    def verify_report(
        self,
        report: ReportBundle | str,
        *,
        purpose: int,
        subject: Subject | None,
        at: datetime | None,
    ) -> Call[Recognition]:
        """``VerifyReport``: the gateway's recognition of a bundle's report, or of a number."""
        request = report_service_pb2.VerifyReportRequest(
            purpose=common_pb2.UsePurpose.ValueType(purpose)
        )
        if isinstance(report, ReportBundle):
            request.envelope.CopyFrom(report.envelope.to_proto())
        else:
            request.report_number = report
        if subject is not None:
            for name, value in _subject(subject).items():
                setattr(request, f"expected_{name}", value)
        if at is not None:
            request.at.FromDatetime(at.astimezone(UTC))

        def finish(response: report_service_pb2.VerifyReportResponse) -> Recognition:
            result = response.result
            provenance = self._fetched(response.provenance, False)
            if response.HasField("report") and provenance:
                statement = provenance[0].entry.statement
                if statement.WhichOneof("body") != "report" or not _same_but_status(
                    statement.report, response.report
                ):
                    raise _mismatch("the verified report")
            return Recognition(
                recognized=result.recognized,
                reasons=tuple(f.reason for f in result.findings),
                messages=tuple(f.message for f in result.findings),
                report_number=result.report_number,
                issuer_node_id=result.issuer_node_id,
                status=result.status,
                checked_at=result.checked_at.ToDatetime(tzinfo=UTC),
                trust_bundle_version=result.trust_bundle_version,
                report=response.report if response.HasField("report") else None,
                provenance=provenance,
            )

        return Call("reports", "VerifyReport", request, finish)

    def revoke_report(
        self, report_number: str, reason: str
    ) -> Call[Written[report_pb2.CreditReport]]:
        """``RevokeReport``: the issuer revokes one of its reports, with a reason."""
        change = report_pb2.ReportStatusChange(
            report_number=report_number,
            new_status=report_pb2.ReportStatus.REPORT_STATUS_REVOKED,
            reason=reason,
        )
        change.effective_at.FromDatetime(self._core.now().astimezone(UTC))
        return self._write(
            "reports",
            "RevokeReport",
            report_service_pb2.RevokeReportRequest,
            [change],
            "report",
            None,
            issues="report-status-change",
        )

    def supersede_report(
        self, order: report_pb2.CreditReport
    ) -> Call[Written[report_pb2.CreditReport]]:
        """``SupersedeReport``: issue the replacing report (an order naming the report it
        replaces); the value is the new report."""
        return self._write(
            "reports",
            "SupersedeReport",
            report_service_pb2.SupersedeReportRequest,
            [order],
            "new_report",
            None,
            sealed_field="sealed_batch",
            issues="report",
        )
