"""ReportService: issue credit reports, read them, verify them for recognition, revoke them.

The gateway is the issuer: a report is built from what the node holds about the subject
(:func:`creditlink.gateway.domain.reports.build_report`), signed with the **node's own**
signing key, logged in the node's log and served as a portable report bundle::

    IssueReport      a sealed order (a ``report`` statement naming only subject, purpose and
                     issuing authority) -> the node's signed, logged report + receipt
    GetReport        a report by number (compact or display form), current status, provenance
    VerifyReport     the recognition rules of docs/spec/report.md with the status the issuer
                     reports -> RecognitionResult (never an error for a report that fails)
    RevokeReport     a sealed ``report-status-change`` order (REVOKED) -> the node's change
    SupersedeReport  a sealed order naming the report it replaces -> a new report of the node
                     AND the old report's SUPERSEDED change, in one append

**Orders.** The contract has each write carry a sealed, signed statement; a caller cannot sign
a report the node issues (only the node holds its key) and does not hold the data it is built
from. So the statement a caller sends is an **order**: a ``report`` statement addressed to this
node alone whose report has no number and names only ``subject``, ``purpose``
(``purpose_description``), ``issuing_authority`` (the authority operating the platform: the
trust bundle names no operator code), optionally ``issuer_node_id`` (this node) and, for
SupersedeReport, ``supersedes_report_number``; for RevokeReport a ``report-status-change`` with
the number and the reason. The gateway opens and verifies the order itself (the intake's steps
0-5: trust bundle current, seal, sender = caller, signature under the caller's keys for the
kind, strict parse, addressed to this node only, fresh, ``request_id`` = the header's) and never
logs it: it is a request, not a state change. The node's own statement carries the order's
``request_id``, and its message id is derived from the caller and that ``request_id``, so a
retried order is answered with the report (and receipt) it already produced.

A **complete** report signed by its issuer (``report_number`` set: a client node holding
ISSUE_REPORTS that keeps no log, CXP-REPORT-001) is logged as signed after the same checks plus
the contract constraints; its issuer revokes it with its own signed ``report-status-change``.

**Who may.** The issuer must pass the verifier's ``issuer`` rule (CXP-REPORT-016, applied with
:func:`~creditlink.gateway.domain.handlers.reports.issuer_denial` before anything is signed:
``UNKNOWN_ISSUER``, ``ISSUER_NOT_AUTHORIZED``), so the node never signs a report no verifier
recognizes. Who may *order* the node to issue or revoke: a member holding ISSUE_REPORTS within
the report's scopes itself (the node's operator, acting for it;
``PERMISSION_DENIED_SCOPE`` otherwise). Reads (GetReport, and the report in a VerifyReport
answer) need a READ grant for ``report`` covering the report (``PERMISSION_DENIED_READ``).

**Supersession.** The new report is a standalone signed statement, not an item of a signed
batch: a report bundle (v1) carries a DSSE envelope as logged, which a batch item does not have.
The node logs the new report and the old report's status change in ONE ledger append (one
transaction), the change after the report; the handlers refuse both if either is not allowed.
A sealed two-statement batch (the contract's other form) is refused
(``BATCHED_REPORT_UNSUPPORTED``). The change's reason says which report replaced it, on whose
order. The response's receipt is the new report's.

**Status lives at the issuer.** Only the issuing gateway knows whether a report was revoked or
superseded. ``VerifyReport`` at the issuer reads its store; at any other gateway it asks the
issuer (``GetReport`` with proofs, over mutual TLS as this node, at the endpoints the trust
bundle lists for the gateways of the report number's region), which also yields the log proof a
bare envelope lacks. The status the issuer states is taken as its word (an authenticated
channel to the issuer's pinned key; a revocation also comes with the issuer's signed status
change in the provenance). An issuer that cannot be reached makes the call fail with
``UNAVAILABLE`` (``ISSUER_UNREACHABLE``): without the issuer there is neither status nor proof,
and "not recognized" would be a false answer; the holder can still check the report bundle
offline (``creditlink report verify``), where the status is reported as not checked.
``NEWER_INFORMATION`` (informational) is added when the issuer answers for its own report and
records or name-list entries of the subject changed after ``data_as_of``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import grpc
from google.protobuf.message import DecodeError

from creditlink.gateway.auth import Permissions
from creditlink.gateway.domain.handlers.name_lists import ENTRY_KIND
from creditlink.gateway.domain.handlers.reports import (
    CHANGE_KIND,
    KIND,
    current_status,
    instant,
    iso,
    issuer_denial,
    report_of,
    report_scopes,
)
from creditlink.gateway.domain.reports import ReportOrder, ReportSources, build_report
from creditlink.gateway.intake import Intake
from creditlink.gateway.ledger import Acknowledgement, LedgerEntry, Submission
from creditlink.gateway.services._common import check_request_id, require_field
from creditlink.gateway.services._list_reads import ProvenanceBuilder, check_request
from creditlink.gateway.services.name_lists import NameListServicer
from creditlink.gateway.services.pipeline import ServiceContext
from creditlink.gateway.store.base import DomainObject, DomainQuery, MessageRow
from creditlink.sdk import envelope as dsse
from creditlink.sdk.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    ReplayRejected,
    Unavailable,
    from_grpc_error,
)
from creditlink.sdk.ids import InvalidIdentifier, report_no, validate_uscc
from creditlink.sdk.reports import (
    REPORT_PAYLOAD_TYPE,
    InvalidReportBundle,
    RecognitionResult,
    ReportBundle,
    ReportStatus,
    ReportVerifier,
    Rule,
    UsePurpose,
    make_bundle,
    sign_report_statement,
)
from creditlink.sdk.seal import (
    SIGNED_BATCH_CONTENT_TYPE,
)
from creditlink.sdk.trust import Action, NodeInfo, TrustBundle
from creditlink.v1 import (
    common_pb2,
    envelope_pb2,
    name_list_service_pb2,
    report_pb2,
    report_service_pb2,
    report_service_pb2_grpc,
    statement_pb2,
)

__all__ = ["ReportServicer", "own_submission", "register"]

_Context = grpc.aio.ServicerContext[Any, Any]
_pb = report_service_pb2
SERVICE_NAME: Final = _pb.DESCRIPTOR.services_by_name["ReportService"].full_name

#: Orders are interactive: accepted only this fresh (the intake's window), and the clocks of
#: caller and gateway may disagree by the skew.
_ORDER_WINDOW: Final = timedelta(hours=24)
_MAX_SKEW: Final = timedelta(minutes=5)
#: Namespace of the message ids the node gives its own statements (uuid5 of the order).
_NAMESPACE: Final = uuid.UUID("0b6f7c4e-2f41-5a7e-9d0c-6f3c1c2b8a51")
#: Fields an order's report may carry; anything else is the node's to fill in.
_ORDER_FIELDS: Final = frozenset(
    {
        "subject",
        "purpose",
        "purpose_description",
        "issuer_node_id",
        "issuing_authority",
        "supersedes_report_number",
    }
)
#: Records read about one subject at most (64 sections of 10,000: the contract's bound).
_MAX_RECORDS: Final = 640_000
_PAGE: Final = 1000
_REMOTE_TIMEOUT: Final = 10.0
_MAX_FINDINGS: Final = 32
_PERSON_TOKEN: Final = re.compile(r"pn[0-9]{1,3}:[A-Za-z0-9_-]{22,128}")


def register(server: grpc.aio.Server, ctx: ServiceContext) -> str:
    """Add the ``ReportService`` to ``server``; return its full name."""
    report_service_pb2_grpc.add_ReportServiceServicer_to_server(ReportServicer(ctx), server)
    return SERVICE_NAME


# --- statements of the node itself --------------------------------------------------------------


def own_submission(signed: dsse.Envelope, statement: statement_pb2.Statement) -> Submission:
    """The ledger submission for one signed statement, exactly as the intake builds it.

    For statements this node verified itself (its own, or an issuer's complete report it
    opened and checked): one entry, the envelope as signed, the idempotency digest over the
    envelope bytes and the payload digest over the payload.
    """
    data = signed.to_bytes()
    kind = (statement.WhichOneof("body") or "").replace("_", "-")
    body = getattr(statement, statement.WhichOneof("body") or "")
    subject = getattr(body, "subject", None)
    subject_key = (subject.uscc or subject.person_token or None) if subject is not None else None
    header = statement.header
    return Submission(
        message_id=header.message_id,
        request_digest=hashlib.sha256(data).digest(),
        sender_node_id=header.sender_node_id,
        payload_type=signed.payload_type,
        payload_digest=hashlib.sha256(signed.payload).digest(),
        entries=[
            LedgerEntry(
                message_id=header.message_id,
                kind=kind,
                sender_node_id=header.sender_node_id,
                payload_type=signed.payload_type,
                payload=signed.payload,
                envelope=data,
                subject_key=subject_key,
            )
        ],
    )


@dataclass(frozen=True, slots=True)
class _Opened:
    """A verified statement a caller sent: the statement and the envelope as signed."""

    statement: statement_pb2.Statement
    signed: dsse.Envelope
    sender: NodeInfo


@dataclass(frozen=True, slots=True)
class _Located:
    """Where a report is logged, with the proof: enough for a report bundle."""

    envelope: envelope_pb2.Envelope
    log_node_id: str
    leaf_index: int
    tree_size: int
    proof: tuple[bytes, ...]
    checkpoint: str
    status: ReportStatus | None
    provenance: tuple[statement_pb2.Provenance, ...]
    #: The report object when this node issued it (for NEWER_INFORMATION and reads).
    local: DomainObject | None


def _compact_number(text: str, field: str) -> str:
    try:
        return report_no.validate(text)
    except InvalidIdentifier as exc:
        raise InvalidArgument(
            f"{field}: {exc.message}",
            reason="INVALID_REPORT_NO",
            field_violations=(FieldViolation(field, exc.message),),
        ) from None


def _own_message_id(sender: str, request_id: str, kind: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{sender}\n{request_id}\n{kind}"))


def _header(
    statement: statement_pb2.Statement,
    *,
    message_id: str,
    node_id: str,
    request_id: str,
    at: datetime,
) -> None:
    header = statement.header
    header.message_id = message_id
    header.sender_node_id = node_id
    header.recipient_node_ids.append(node_id)  # logged here, forwarded nowhere
    header.created_at.FromDatetime(at)
    header.request_id = request_id


class ReportServicer(report_service_pb2_grpc.ReportServiceServicer):
    """The ``creditlink.v1.ReportService`` of one gateway (see the module docstring)."""

    def __init__(self, ctx: ServiceContext, *, remote_timeout: float = _REMOTE_TIMEOUT) -> None:
        """Serve over the node's shared pipeline, store, trust bundle, clock and keys."""
        self._ctx = ctx
        self._remote_timeout = remote_timeout
        # The name-list status and measures of a report are exactly what CheckSubject answers
        # at an approval window, read with the node's own identity (the issuer's view, not the
        # caller's).
        node_id = ctx.node_id
        self._names = NameListServicer(
            dataclasses.replace(ctx, identify=lambda _context, trust: trust.node(node_id))
        )

    # -- opening orders ------------------------------------------------------------------------

    def _open(
        self,
        sealed: envelope_pb2.SealedEnvelope,
        *,
        trust: TrustBundle,
        peer: NodeInfo,
        kind: str,
        request_id: str,
    ) -> _Opened:
        """The intake's steps 0-4 for one statement of ``kind`` this service acts on itself,
        then this call's rules: sealed and signed by the caller, addressed to this node alone,
        fresh, and carrying the call's request id."""
        ctx = self._ctx
        now = ctx.clock()
        if not ctx.sealing_keys:
            raise FailedPrecondition(
                f"{ctx.node_id} runs ReportService without its keys", reason="NODE_KEYS_MISSING"
            )
        intake = Intake(
            node_id=ctx.node_id,
            trust=lambda: trust,
            sealing_keys=list(ctx.sealing_keys),
            clock=lambda: now,
        )
        opened, signed, statement = intake.verified_statement(
            sealed.SerializeToString(), peer=peer.node_id, kind=kind
        )
        # An order is the caller's own: no relays.
        if opened.sender_node_id != peer.node_id:
            raise PermissionDenied(
                f"peer {peer.node_id!r} sent a statement sealed by {opened.sender_node_id!r}",
                reason="SENDER_MISMATCH",
            )
        header = statement.header
        if list(header.recipient_node_ids) != [ctx.node_id] or list(opened.recipients) != [
            ctx.node_id
        ]:
            raise InvalidArgument(
                f"a report statement for this call is addressed to {ctx.node_id} alone",
                reason="WRONG_RECIPIENT",
            )
        # 5. Fresh; and the call's idempotency key is the statement's.
        created = instant(header.created_at)
        if not now - _ORDER_WINDOW <= created <= now + _MAX_SKEW:
            raise ReplayRejected(
                f"statement created at {iso(created)} is outside the accepted window",
                reason="STALE_MESSAGE",
            )
        if header.request_id != request_id:
            raise InvalidArgument(
                "request_id differs from the statement header's request_id",
                reason="REQUEST_ID_MISMATCH",
                field_violations=(FieldViolation("request_id", "must equal the header's"),),
            )
        return _Opened(statement=statement, signed=signed, sender=peer)

    def _require_signing_key(self) -> None:
        if self._ctx.signing_key is None:
            raise FailedPrecondition(
                f"{self._ctx.node_id} runs ReportService without its signing key",
                reason="NODE_KEYS_MISSING",
            )

    def _may_order(self, trust: TrustBundle, caller: NodeInfo, scopes: Sequence[str]) -> None:
        """The caller must itself hold ISSUE_REPORTS within the report's scopes."""
        for scope in scopes:
            try:
                if trust.permits(caller.node_id, Action.ISSUE_REPORTS, KIND, scope):
                    return
            except ValueError:
                continue
        raise PermissionDenied(
            f"{caller.node_id!r} may not order reports within {', '.join(scopes)}",
            reason="PERMISSION_DENIED_SCOPE",
        )

    # -- logging -------------------------------------------------------------------------------

    async def _append(self, submissions: Sequence[Submission]) -> list[Acknowledgement]:
        """Log ``submissions`` together (one transaction); raise the first refusal."""
        pipeline = self._ctx.pipeline
        if len(submissions) == 1:
            acks = [await pipeline.ledger.append_one(submissions[0])]
        else:
            acks = await pipeline.ledger.append(submissions)
        for ack in acks:
            if ack.error is not None:
                raise ack.error
        pipeline.accepted(submissions, acks)
        return acks

    async def _earlier(self, message_id: str) -> MessageRow | None:
        """The node's statement for a retried order, if it was logged already."""
        return await self._ctx.store.get_message(message_id)

    async def _report_object(self, number: str) -> DomainObject:
        obj = await self._ctx.store.get_object(KIND, number)
        if obj is None:
            raise NotFound(f"no report {number} in this log", reason="REPORT_NOT_FOUND")
        return obj

    def _report_now(self, obj: DomainObject) -> report_pb2.CreditReport:
        report = report_of(obj)
        report.status = report_pb2.ReportStatus.ValueType(
            current_status(obj, self._ctx.clock()).value
        )
        return report

    def _signed_own(self, statement: statement_pb2.Statement) -> Submission:
        key = self._ctx.signing_key
        assert key is not None  # checked by the caller
        if statement.WhichOneof("body") == "report":
            signed = sign_report_statement(
                statement.report,
                signing_key=key,
                sender_node_id=self._ctx.node_id,
                recipient_node_ids=list(statement.header.recipient_node_ids),
                created_at=instant(statement.header.created_at),
                message_id=statement.header.message_id,
                request_id=statement.header.request_id,
            )
        else:
            signed = dsse.sign(
                statement.SerializeToString(deterministic=True),
                dsse.payload_type_for(CHANGE_KIND),
                [key],
            )
        return own_submission(signed, statement)

    # -- IssueReport ---------------------------------------------------------------------------

    async def IssueReport(  # noqa: N802 - the contract's method name
        self, request: _pb.IssueReportRequest, context: _Context
    ) -> _pb.IssueReportResponse:
        """Issue a report on an order (or log an issuer's complete report); see the module."""
        trust, peer = self._ctx.peer(context)
        check_request_id(request.request_id)
        require_field(request.HasField("sealed_statement"), "sealed_statement")
        opened = self._open(
            request.sealed_statement,
            trust=trust,
            peer=peer,
            kind=KIND,
            request_id=request.request_id,
        )
        if opened.statement.report.report_number:
            receipt, obj = await self._log_issuers_report(opened, trust)
        else:
            if opened.statement.report.supersedes_report_number:
                raise InvalidArgument(
                    "an order that replaces a report goes to SupersedeReport",
                    reason="WRONG_CALL",
                    field_violations=(
                        FieldViolation("report.supersedes_report_number", "SupersedeReport"),
                    ),
                )
            receipts, number = await self._issue(opened, trust, request.request_id, context)
            receipt, obj = receipts[0], await self._report_object(number)
        return _pb.IssueReportResponse(
            receipt=envelope_pb2.Envelope.FromString(receipt), report=self._report_now(obj)
        )

    async def _log_issuers_report(
        self, opened: _Opened, trust: TrustBundle
    ) -> tuple[bytes, DomainObject]:
        """A complete report signed by its issuer (a member that keeps no log): log it."""
        report = opened.statement.report
        check_request(opened.statement)
        if report.issuer_node_id != opened.sender.node_id:
            raise PermissionDenied(
                f"the report names issuer {report.issuer_node_id!r}; "
                f"{opened.sender.node_id!r} signed it",
                reason="NOT_REPORT_ISSUER",
            )
        if report.subject.uscc:
            _checked_uscc(report.subject.uscc, "report.subject.uscc")
        denial = issuer_denial(trust, report)
        if denial is not None:
            raise denial
        if report.report_number[2:8] != opened.sender.region_code:
            raise InvalidArgument(
                f"report number region {report.report_number[2:8]} is not the issuer's "
                f"{opened.sender.region_code} (CXP-ID-007)",
                reason="INVALID_REPORT_NO",
            )
        _compact_number(report.report_number, "report.report_number")
        submission = own_submission(opened.signed, opened.statement)
        (ack,) = await self._append([submission])
        return ack.receipt, await self._report_object(report.report_number)

    def _order(
        self, opened: _Opened, trust: TrustBundle, *, supersedes: DomainObject | None = None
    ) -> ReportOrder:
        """Check an order's report and turn it into what the builder takes."""
        ctx = self._ctx
        report = opened.statement.report
        extra = sorted(f.name for f, _ in report.ListFields() if f.name not in _ORDER_FIELDS)
        if extra:
            raise InvalidArgument(
                "an order names the subject, purpose and issuing authority; the node fills "
                f"in the rest (remove: {', '.join(extra)})",
                reason="NOT_A_REPORT_ORDER",
                field_violations=tuple(
                    FieldViolation(f"report.{f}", "not in an order") for f in extra
                ),
            )
        if report.issuer_node_id not in ("", ctx.node_id):
            raise InvalidArgument(
                f"this gateway issues reports as {ctx.node_id}, not {report.issuer_node_id!r}",
                reason="WRONG_ISSUER",
            )
        named = report.subject
        if supersedes is not None and not (named.uscc or named.person_token):
            named = report_of(supersedes).subject  # the replaced report's subject
        # Only the identifier is taken from the order: the name and kind the node signs are
        # its own records' (a caller's text is not a fact the node attests).
        subject = common_pb2.SubjectRef()
        if named.uscc:
            subject.uscc = _checked_uscc(named.uscc, "report.subject.uscc")
        elif _PERSON_TOKEN.fullmatch(named.person_token):
            subject.person_token = named.person_token
        else:
            raise InvalidArgument(
                "the order names no subject (a USCC or a person token)",
                reason="CONSTRAINT_VIOLATION",
                field_violations=(FieldViolation("report.subject", "uscc or person_token"),),
            )
        if supersedes is not None and (subject.uscc or subject.person_token) != (
            supersedes.subject_key
        ):
            raise FailedPrecondition(
                f"report {supersedes.object_id} is about another subject",
                reason="SUPERSESSION_MISMATCH",
            )
        if report.purpose not in {p.value for p in UsePurpose}:
            raise InvalidArgument(
                "the order names no defined purpose",
                reason="CONSTRAINT_VIOLATION",
                field_violations=(FieldViolation("report.purpose", "a defined UsePurpose"),),
            )
        authority = report.issuing_authority
        if not authority.name.strip() or not authority.uscc:
            raise InvalidArgument(
                "the order names the issuing authority (the platform operator's name and USCC)",
                reason="ISSUING_AUTHORITY_REQUIRED",
                field_violations=(FieldViolation("report.issuing_authority", "name and uscc"),),
            )
        checked_authority = common_pb2.AuthorityRef()
        checked_authority.CopyFrom(authority)
        checked_authority.uscc = _checked_uscc(authority.uscc, "report.issuing_authority.uscc")
        node = trust.node(ctx.node_id)
        if not checked_authority.region_code:
            checked_authority.region_code = node.region_code
        order = ReportOrder(
            subject=subject,
            purpose=UsePurpose(report.purpose),
            purpose_description=report.purpose_description,
            issuer_node_id=ctx.node_id,
            issuer_region=node.region_code,
            issuing_authority=checked_authority,
            # Replaced by the node statement's message id before building.
            serial_seed="",
            supersedes_report_number=supersedes.object_id if supersedes is not None else "",
        )
        # The verifier's issuer rule for this node, and the caller's right to order.
        template = report_pb2.CreditReport(issuer_node_id=ctx.node_id, subject=subject)
        denial = issuer_denial(trust, template)
        if denial is not None:
            raise denial
        self._may_order(
            trust,
            opened.sender,
            report_scopes(template, issuer_region=node.region_code, issuer_sector=node.sector),
        )
        return order

    async def _issue(
        self,
        opened: _Opened,
        trust: TrustBundle,
        request_id: str,
        context: _Context,
        *,
        supersedes: DomainObject | None = None,
    ) -> tuple[list[bytes], str]:
        """Build, sign and log the ordered report (and, superseding, the old one's change).

        Returns the receipts (the report's first) and the new report's number.
        """
        self._require_signing_key()
        order = self._order(opened, trust, supersedes=supersedes)
        ctx = self._ctx
        message_id = _own_message_id(opened.sender.node_id, request_id, KIND)
        change_id = _own_message_id(opened.sender.node_id, request_id, CHANGE_KIND)
        earlier = await self._earlier(message_id)
        if earlier is not None:  # a retried order: the report it produced
            return await self._earlier_answer(earlier, change_id, supersedes is not None)
        now = ctx.clock()
        report = build_report(
            dataclasses.replace(order, serial_seed=message_id),
            await self._sources(order, now, context),
            now=now,
        )
        issued = instant(report.issued_at)
        statement = statement_pb2.Statement()
        _header(
            statement, message_id=message_id, node_id=ctx.node_id, request_id=request_id, at=issued
        )
        statement.report.CopyFrom(report)
        submissions = [self._signed_own(statement)]
        if supersedes is not None:
            change = statement_pb2.Statement()
            _header(
                change, message_id=change_id, node_id=ctx.node_id, request_id=request_id, at=issued
            )
            body = change.report_status_change
            body.report_number = supersedes.object_id
            body.new_status = report_pb2.REPORT_STATUS_SUPERSEDED
            body.superseded_by_report_number = report.report_number
            body.reason = (
                f"superseded by report {report.report_number}, issued on the order of "
                f"{opened.sender.node_id}"
            )
            body.effective_at.FromDatetime(issued)
            submissions.append(self._signed_own(change))
        try:
            acks = await self._append(submissions)
        except ReplayRejected:
            # A concurrent retry of the same order logged it first (with another issue time).
            earlier = await self._earlier(message_id)
            if earlier is None:
                raise
            return await self._earlier_answer(earlier, change_id, supersedes is not None)
        return [a.receipt for a in acks], report.report_number

    async def _earlier_answer(
        self, row: MessageRow, change_id: str, superseding: bool
    ) -> tuple[list[bytes], str]:
        """What a retried order gets: the receipts and the number of what it produced."""
        store = self._ctx.store
        entry = await store.get_entry(row.first_leaf_index)
        if entry is None:
            raise RuntimeError("an accepted report statement is not in the log")
        number = statement_pb2.Statement.FromString(entry.payload).report.report_number
        receipts = [row.receipt]
        if superseding:
            change = await store.get_message(change_id)
            if change is not None:
                receipts.append(change.receipt)
        return receipts, number

    async def _sources(self, order: ReportOrder, now: datetime, context: _Context) -> ReportSources:
        """What the node holds about the order's subject (its own view, not the caller's)."""
        store = self._ctx.store
        key = order.subject.uscc or order.subject.person_token
        records: list[DomainObject] = []
        before: tuple[int, str, str] | None = None
        while True:
            page = await store.query_objects(
                DomainQuery(kinds=["record"], subject_key=key, before=before, limit=_PAGE)
            )
            records.extend(page)
            if len(records) > _MAX_RECORDS:
                raise LimitExceeded(
                    f"the subject has more than {_MAX_RECORDS} records", reason="REPORT_TOO_LARGE"
                )
            if len(page) < _PAGE:
                break
            last = page[-1]
            before = (last.leaf_index, last.kind, last.object_id)
        check = name_list_service_pb2.CheckSubjectRequest(
            purpose=common_pb2.UsePurpose.ValueType(order.purpose.value)
        )
        if order.subject.uscc:
            check.uscc = order.subject.uscc
        else:
            check.person_token = order.subject.person_token
            check.include_responsible_person = True
        check.as_of.FromDatetime(now)
        # The servicer identifies the node itself, whatever the context says.
        listed = await self._names.CheckSubject(check, context)
        evaluations = await store.query_objects(
            DomainQuery(kinds=["evaluation"], subject_key=key, states=["CURRENT"], limit=_PAGE)
        )
        commitments = await store.query_objects(
            DomainQuery(kinds=["commitment"], subject_key=key, limit=_PAGE)
        )
        return ReportSources(
            records=records,
            name_list_entries=list(listed.entries),
            measures=list(listed.measures),
            evaluations=evaluations,
            commitments=commitments,
        )

    # -- SupersedeReport -----------------------------------------------------------------------

    async def SupersedeReport(  # noqa: N802 - the contract's method name
        self, request: _pb.SupersedeReportRequest, context: _Context
    ) -> _pb.SupersedeReportResponse:
        """Issue the replacing report and supersede the old one, in one append."""
        trust, peer = self._ctx.peer(context)
        check_request_id(request.request_id)
        require_field(request.HasField("sealed_batch"), "sealed_batch")
        if _content_type(request.sealed_batch) == SIGNED_BATCH_CONTENT_TYPE:
            raise InvalidArgument(
                "a replacing report is issued on its own, not as a batch item: a v1 report "
                "bundle carries the report's own signed envelope. Send a sealed order (a report "
                "statement naming supersedes_report_number)",
                reason="BATCHED_REPORT_UNSUPPORTED",
            )
        opened = self._open(
            request.sealed_batch,
            trust=trust,
            peer=peer,
            kind=KIND,
            request_id=request.request_id,
        )
        order = opened.statement.report
        if order.report_number or not order.supersedes_report_number:
            raise InvalidArgument(
                "SupersedeReport takes an order naming the report it replaces",
                reason="NOT_A_REPORT_ORDER",
                field_violations=(
                    FieldViolation("report.supersedes_report_number", "required in this call"),
                ),
            )
        old_number = _compact_number(
            order.supersedes_report_number, "report.supersedes_report_number"
        )
        old = await self._report_object(old_number)
        if old.attrs.get("issuer") != self._ctx.node_id:
            raise PermissionDenied(
                f"report {old_number} was issued by {old.attrs.get('issuer')!r}; this gateway "
                f"supersedes only its own reports",
                reason="NOT_REPORT_ISSUER",
            )
        status = current_status(old, self._ctx.clock())
        if status is not ReportStatus.VALID and status is not ReportStatus.EXPIRED:
            raise FailedPrecondition(
                f"report {old_number} is {status.name}; only a VALID report is superseded",
                reason="REPORT_NOT_VALID",
            )
        receipts, number = await self._issue(
            opened, trust, request.request_id, context, supersedes=old
        )
        return _pb.SupersedeReportResponse(
            receipt=envelope_pb2.Envelope.FromString(receipts[0]),
            superseded_report=self._report_now(await self._report_object(old_number)),
            new_report=self._report_now(await self._report_object(number)),
        )

    # -- RevokeReport --------------------------------------------------------------------------

    async def RevokeReport(  # noqa: N802 - the contract's method name
        self, request: _pb.RevokeReportRequest, context: _Context
    ) -> _pb.RevokeReportResponse:
        """Revoke a report: the issuer's own signed change, or the node's on an order."""
        trust, peer = self._ctx.peer(context)
        check_request_id(request.request_id)
        require_field(request.HasField("sealed_statement"), "sealed_statement")
        opened = self._open(
            request.sealed_statement,
            trust=trust,
            peer=peer,
            kind=CHANGE_KIND,
            request_id=request.request_id,
        )
        change = opened.statement.report_status_change
        if change.new_status != report_pb2.REPORT_STATUS_REVOKED:
            raise InvalidArgument(
                "RevokeReport takes a change to REVOKED; a replacement goes to SupersedeReport",
                reason="WRONG_CALL",
                field_violations=(FieldViolation("report_status_change.new_status", "REVOKED"),),
            )
        number = _compact_number(change.report_number, "report_status_change.report_number")
        obj = await self._report_object(number)
        issuer = obj.attrs.get("issuer")
        if issuer == peer.node_id:
            # The issuer's own signed revocation (a client that issued the report): as signed.
            check_request(opened.statement)
            submission = own_submission(opened.signed, opened.statement)
        elif issuer == self._ctx.node_id:
            self._require_signing_key()
            node = trust.node(self._ctx.node_id)
            self._may_order(
                trust,
                peer,
                report_scopes(
                    report_of(obj), issuer_region=node.region_code, issuer_sector=node.sector
                ),
            )
            message_id = _own_message_id(peer.node_id, request.request_id, CHANGE_KIND)
            earlier = await self._earlier(message_id)
            if earlier is not None:  # a retried order: the revocation it produced
                return _pb.RevokeReportResponse(
                    receipt=envelope_pb2.Envelope.FromString(earlier.receipt),
                    report=self._report_now(await self._report_object(number)),
                )
            now = self._ctx.clock()
            statement = statement_pb2.Statement()
            _header(
                statement,
                message_id=message_id,
                node_id=self._ctx.node_id,
                request_id=request.request_id,
                at=now,
            )
            body = statement.report_status_change
            body.report_number = number
            body.new_status = report_pb2.REPORT_STATUS_REVOKED
            body.reason = f"{change.reason} (revoked on the order of {peer.node_id})"[:2048]
            effective = instant(change.effective_at) if change.HasField("effective_at") else now
            body.effective_at.FromDatetime(min(effective, now))
            submission = self._signed_own(statement)
        else:
            raise PermissionDenied(
                f"report {number} was issued by {issuer!r}; only its issuer revokes it",
                reason="NOT_REPORT_ISSUER",
            )
        (ack,) = await self._append([submission])
        return _pb.RevokeReportResponse(
            receipt=envelope_pb2.Envelope.FromString(ack.receipt),
            report=self._report_now(await self._report_object(number)),
        )

    # -- GetReport -----------------------------------------------------------------------------

    async def GetReport(  # noqa: N802 - the contract's method name
        self, request: _pb.GetReportRequest, context: _Context
    ) -> _pb.GetReportResponse:
        """A report by number with its current status and provenance (proofs when asked)."""
        trust, peer = self._ctx.peer(context)
        number = _compact_number(request.report_number, "report_number")
        obj = await self._report_object(number)
        reads = Permissions(trust, peer)
        await self._require_read(reads, obj)
        return _pb.GetReportResponse(
            report=self._report_now(obj),
            provenance=await self._provenance(obj, include_proof=request.include_proof),
        )

    async def _require_read(self, reads: Permissions, obj: DomainObject) -> None:
        if KIND in reads.fully_readable_kinds or obj.origin_node_id == reads.node.node_id:
            return
        row = await self._ctx.store.get_entry(obj.created_leaf)
        reads.require_read(
            KIND,
            sender_node_id=obj.origin_node_id,
            payload=row.payload if row is not None else None,
        )

    async def _provenance(
        self, obj: DomainObject, *, include_proof: bool
    ) -> list[statement_pb2.Provenance]:
        """The report's statement, then its status change if any, in log order."""
        leaves = [int(str(obj.attrs["leaf_index"]))]
        message_ids = [str(obj.attrs["message_id"])]
        status_leaf = obj.attrs.get("status_leaf_index")
        if isinstance(status_leaf, int):
            leaves.append(status_leaf)
            message_ids.append(str(obj.attrs.get("status_message_id", "")))
        builder = ProvenanceBuilder(
            store=self._ctx.store,
            ledger=self._ctx.pipeline.ledger,
            node_id=self._ctx.node_id,
            origin=self._ctx.log_origin,
        )
        return await builder.of_leaves(leaves, message_ids=message_ids, include_proof=include_proof)

    # -- VerifyReport --------------------------------------------------------------------------

    async def VerifyReport(  # noqa: N802 - the contract's method name
        self, request: _pb.VerifyReportRequest, context: _Context
    ) -> _pb.VerifyReportResponse:
        """The recognition result for a report number or a presented envelope (module doc)."""
        trust, peer = self._ctx.peer(context)
        now = instant(request.at) if request.HasField("at") else self._ctx.clock()
        if request.purpose and request.purpose not in {p.value for p in UsePurpose}:
            raise InvalidArgument(
                "purpose is not a defined UsePurpose",
                reason="CONSTRAINT_VIOLATION",
                field_violations=(FieldViolation("purpose", "a defined UsePurpose"),),
            )
        purpose = UsePurpose(request.purpose) if request.purpose else None
        subject = request.expected_uscc or request.expected_person_token or None
        if request.expected_uscc:
            subject = _checked_uscc(request.expected_uscc, "expected_uscc")
        which = request.WhichOneof("report")
        presented: envelope_pb2.Envelope | None = None
        if which == "report_number":
            number = _compact_number(request.report_number, "report_number")
        elif which == "envelope":
            presented = request.envelope
            # A locator only, like a key id hint: the number is read from the payload before
            # anything is verified, to find the log that holds it. Every rule is then checked
            # on the presented bytes, so a wrong number can only make the check fail.
            number = _number_hint(presented)
        elif which == "batched":
            raise InvalidArgument(
                "a report issued as an item of a signed batch cannot be carried in a v1 report "
                "bundle; reports are issued and verified as single signed statements",
                reason="BATCHED_REPORT_UNSUPPORTED",
            )
        else:
            raise InvalidArgument(
                "give a report_number or the signed envelope",
                reason="CONSTRAINT_VIOLATION",
                field_violations=(FieldViolation("report", "one of them is required"),),
            )
        located = await self._locate(number, trust) if number else None
        if presented is None:
            if located is None:
                raise NotFound(f"no gateway holds report {number}", reason="REPORT_NOT_FOUND")
            presented = located.envelope
        verifier = ReportVerifier(trust=trust)
        try:
            bundle = _bundle(presented, located, self._ctx.node_id)
        except InvalidReportBundle as exc:
            raise InvalidArgument(exc.message, reason="MALFORMED") from None
        result = verifier.verify(
            bundle,
            purpose=purpose,
            subject=subject,
            status=located.status if located is not None else None,
            now=now,
        )
        if located is None:
            result = _not_logged(result, number)
        out = _pb.VerifyReportResponse(result=result.to_proto())
        if result.report is not None and located is not None:
            await self._newer_information(out.result, result, located)
            reads = Permissions(trust, peer)
            if located.local is None or await self._readable(reads, located.local):
                out.report.CopyFrom(result.report)
                # The status as far as this gateway knows (UNSPECIFIED when it does not).
                out.report.status = report_pb2.ReportStatus.ValueType(
                    result.status.value if result.status is not None else 0
                )
                out.provenance.extend(located.provenance)
        return out

    async def _readable(self, reads: Permissions, obj: DomainObject) -> bool:
        try:
            await self._require_read(reads, obj)
        except PermissionDenied:
            return False
        return True

    async def _locate(self, number: str, trust: TrustBundle) -> _Located | None:
        """The report's logged envelope, proof and status: here, or at its issuer."""
        obj = await self._ctx.store.get_object(KIND, number)
        if obj is not None:
            return await self._locate_here(obj)
        return await self._locate_remote(number, trust)

    async def _locate_here(self, obj: DomainObject) -> _Located:
        provenance = await self._provenance(obj, include_proof=True)
        first = provenance[0]
        return _Located(
            envelope=first.entry.envelope,
            log_node_id=self._ctx.node_id,
            leaf_index=first.inclusion_proof.leaf_index,
            tree_size=first.inclusion_proof.tree_size,
            proof=tuple(first.inclusion_proof.hashes),
            checkpoint=first.checkpoint.note,
            status=current_status(obj, self._ctx.clock()),
            provenance=tuple(provenance),
            local=obj,
        )

    async def _locate_remote(self, number: str, trust: TrustBundle) -> _Located | None:
        """Ask the gateways of the number's region (the issuer's, CXP-ID-007)."""
        ctx = self._ctx
        candidates = [
            n
            for n in trust.nodes()
            if n.region_code == number[2:8]
            and n.log_origin
            and n.endpoints
            and n.node_id != ctx.node_id
        ]
        unreachable: list[str] = []
        for node in candidates:
            if ctx.channel_credentials is None:
                unreachable.append(f"{node.node_id} (this gateway has no client credentials)")
                continue
            try:
                async with grpc.aio.secure_channel(
                    node.endpoints[0], ctx.channel_credentials
                ) as channel:
                    stub = report_service_pb2_grpc.ReportServiceStub(channel)
                    answer: _pb.GetReportResponse = await stub.GetReport(
                        _pb.GetReportRequest(report_number=number, include_proof=True),
                        timeout=self._remote_timeout,
                    )
            except grpc.aio.AioRpcError as exc:
                error = from_grpc_error(exc)
                if isinstance(error, NotFound):
                    continue
                unreachable.append(f"{node.node_id} ({error.reason}: {error.message})")
                continue
            located = _from_answer(answer, node.node_id)
            if located is not None:
                return located
            unreachable.append(f"{node.node_id} (answered without a proof)")
        if unreachable:
            raise Unavailable(
                f"report {number}: its issuer could not answer ({'; '.join(unreachable)}); its "
                "status and log proof live there. Retry, or check the report bundle offline.",
                reason="ISSUER_UNREACHABLE",
            )
        return None

    async def _newer_information(
        self,
        out: report_pb2.RecognitionResult,
        result: RecognitionResult,
        located: _Located,
    ) -> None:
        """CXP-REPORT-028: records or name-list entries of the subject changed since."""
        report = result.report
        if located.local is None or report is None or len(out.findings) >= _MAX_FINDINGS:
            return
        key = report.subject.uscc or report.subject.person_token
        as_of = instant(report.data_as_of)
        # Log order, not clocks: what statements after the report's own changed (the report
        # was built from the state just before it was logged).
        issued_leaf = located.local.created_leaf
        changed = [
            obj
            for obj in await self._ctx.store.query_objects(
                DomainQuery(kinds=["record", ENTRY_KIND], subject_key=key, limit=_PAGE)
            )
            if obj.leaf_index > issued_leaf and obj.log_origin == self._ctx.log_origin
        ]
        if changed:
            out.findings.add(
                reason=report_pb2.RECOGNITION_REASON_NEWER_INFORMATION,
                message=(
                    f"{len(changed)} record(s) or name-list entr(y/ies) of the subject changed "
                    f"after the report's data_as_of {iso(as_of)}"
                ),
            )


# --- helpers --------------------------------------------------------------------------------------


def _checked_uscc(code: str, field: str) -> str:
    try:
        compact = validate_uscc(code)
    except InvalidIdentifier as exc:
        raise InvalidArgument(
            f"{field}: {exc.message}",
            reason="INVALID_USCC",
            field_violations=(FieldViolation(field, exc.message),),
        ) from None
    if compact != code:
        # Codes that fail are rejected, never corrected (credit-domain.md §2).
        raise InvalidArgument(
            f"{field}: give the USCC in compact form ({compact})",
            reason="INVALID_USCC",
            field_violations=(FieldViolation(field, "not in compact form"),),
        )
    return compact


def _content_type(sealed: envelope_pb2.SealedEnvelope) -> str:
    # Read unauthenticated ONLY to refuse the batch form early; the seal is opened (and the
    # header authenticated) for anything that is acted on.
    try:
        return envelope_pb2.SealHeader.FromString(sealed.header).content_type
    except DecodeError:
        return ""


def _number_hint(presented: envelope_pb2.Envelope) -> str:
    """The report number a presented envelope claims (unverified), or ``""``."""
    if presented.payload_type != REPORT_PAYLOAD_TYPE:
        return ""
    try:
        number = statement_pb2.Statement.FromString(presented.payload).report.report_number
    except DecodeError:
        return ""
    return number if report_no.is_valid(number) else ""


def _from_answer(answer: _pb.GetReportResponse, node_id: str) -> _Located | None:
    """The issuer's GetReport answer as a location (its first provenance is the report)."""
    if not answer.provenance:
        return None
    first = answer.provenance[0]
    if (
        first.gateway_node_id != node_id
        or not first.entry.HasField("envelope")
        or not first.HasField("inclusion_proof")
    ):
        return None
    value = int(answer.report.status)
    status = ReportStatus(value) if value in {s.value for s in ReportStatus} else None
    return _Located(
        envelope=first.entry.envelope,
        log_node_id=node_id,
        leaf_index=first.inclusion_proof.leaf_index,
        tree_size=first.inclusion_proof.tree_size,
        proof=tuple(first.inclusion_proof.hashes),
        checkpoint=first.checkpoint.note,
        status=status,
        provenance=tuple(answer.provenance),
        local=None,
    )


def _bundle(
    presented: envelope_pb2.Envelope, located: _Located | None, node_id: str
) -> ReportBundle:
    """The presented envelope with the located proof; with none, a log part that proves
    nothing (so that every other rule is still reported)."""
    envelope = dsse.Envelope.from_proto(presented)
    if located is None:
        return make_bundle(envelope, 0, (), "-", tree_size=1, log_node_id=node_id)
    return make_bundle(
        envelope,
        located.leaf_index,
        located.proof,
        located.checkpoint or "-",
        tree_size=max(located.tree_size, located.leaf_index + 1),
        log_node_id=located.log_node_id,
    )


def _not_logged(result: RecognitionResult, number: str) -> RecognitionResult:
    """Say why the log rule failed when no log of the federation holds the report."""
    why = (
        f"no gateway of the federation holds report {number}"
        if number
        else "the envelope names no report number to look up"
    )
    findings = tuple(
        f._replace(message=why) if f.rule is Rule.LOG_INCLUSION else f for f in result.findings
    )
    return dataclasses.replace(result, findings=findings)
