"""The domain effect of ``report`` and ``report-status-change`` statements: credit reports.

A credit report is one domain object (kind ``"report"``, id the report number in compact form,
``subject_key`` the subject's USCC or person token) whose ``body`` is the ``CreditReport``
exactly as signed (status ``VALID``); ``state`` is the report's stored status, a
``ReportStatus`` name (``REPORT_STATUS_VALID``, ``_REVOKED`` or ``_SUPERSEDED``). ``EXPIRED``
is never stored: a report past ``valid_until`` is expired for every reader
(:func:`current_status`), with no statement.

Statements and what they do
---------------------------
* ``report`` issues a report (state VALID, event ``ISSUE``). Its ``issuer_node_id`` must be the
  statement's signer, the number is used once in this log, and a report that names a report it
  supersedes (``supersedes_report_number``) must name a VALID report of the same issuer about
  the same subject. The superseded report changes only with the status change below, which
  ``ReportService.SupersedeReport`` logs in the same append.
* ``report-status-change`` revokes (``REVOKED``, event ``REVOKE``) or supersedes
  (``SUPERSEDED``, event ``SUPERSEDE``) a VALID report of this log. Only the issuer may, with a
  reason; a supersession names the replacing report, which must be logged already (earlier in
  the same append will do), be the issuer's, be about the same subject and name this report in
  its ``supersedes_report_number``. Nothing changes a revoked or superseded report again.

Refusals, each with its reason, log nothing:

=========================  ==================  ===============================================
reason                     error               when
=========================  ==================  ===============================================
REPORT_EXISTS              AlreadyExists       the report number is already used in this log
REPORT_NOT_FOUND           NotFound            a change of (or supersession by) an unknown report
NOT_REPORT_ISSUER          PermissionDenied    the signer is not the report's issuer
REPORT_STATUS_NOT_VALID    InvalidArgument     a report signed with a status other than VALID
INVALID_STATUS_CHANGE      InvalidArgument     a new status other than REVOKED / SUPERSEDED, a
                                               supersession without (or a revocation with) a
                                               replacing report, a report replacing itself
INVALID_EFFECTIVE_AT       InvalidArgument     a change that takes effect in the future
REPORT_NOT_VALID           FailedPrecondition  changing (or superseding) a report that is no
                                               longer VALID
SUPERSESSION_MISMATCH      FailedPrecondition  the two reports of a supersession do not name
                                               each other, or have other issuers or subjects
=========================  ==================  ===============================================

Who may issue: the scope rule
-----------------------------
Whether the issuer may issue reports for the report's subject at all is the trust bundle's
answer, checked with :func:`issuer_denial` (CXP-REPORT-016, the very rule the offline verifier
applies as its ``issuer`` rule) **before** anything is signed or logged, by
``ReportService``; the intake checks PUBLISH the same way for every kind. The projection itself
depends only on the log and the state (the trust bundle changes over time; what a statement did
to the state must not), so it checks who signed, not what the signer was allowed.

Attrs (the ``attrs`` JSON of a report object)
---------------------------------------------
==================  =========================================================================
key                 value
==================  =========================================================================
issuer              str, node id of the issuer (``CreditReport.issuer_node_id``)
purpose             str, ``UsePurpose`` name the report was issued for
report_type         str, ``ReportType`` name
standard_version    str, e.g. ``public-credit-report-2022``
issued_at           str, ISO 8601 instant (UTC, ``Z``)
valid_from          str, ISO 8601 instant
valid_until         str, ISO 8601 instant (exclusive: expired from that instant on)
data_as_of          str, ISO 8601 instant, the cut-off of the information shown
message_id          str, message id of the ``report`` statement
leaf_index          int, its leaf in this log (``leaf_index`` of the object moves with status
                    changes; this one never does)
supersedes          str, number of the report this one replaces (``""`` if none)
superseded_by       str, number of the report that replaced this one (``""`` unless SUPERSEDED)
status_reason       str, the reason of the status change (``""`` while VALID)
status_changed_at   str, ISO instant the change took effect (``""`` while VALID)
status_message_id   str, message id of the ``report-status-change`` (``""`` while VALID)
status_leaf_index   int | None, its leaf in this log
==================  =========================================================================

``due_date`` is the day (UTC) of ``valid_until`` while the report is VALID, else ``None``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from creditlink.gateway.domain.projection import Handler, Logged, View
from creditlink.gateway.store.base import DomainEvent, DomainObject, ObjectKey
from creditlink.sdk.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from creditlink.sdk.reports import ReportStatus
from creditlink.sdk.trust import Action, TrustBundle
from creditlink.v1 import common_pb2, report_pb2, statement_pb2

__all__ = [
    "CHANGE_KIND",
    "KIND",
    "REVOKED",
    "SUPERSEDED",
    "VALID",
    "ReportHandler",
    "ReportStatusChangeHandler",
    "current_status",
    "instant",
    "iso",
    "issuer_denial",
    "report_handlers",
    "report_of",
    "report_scopes",
]

KIND: Final = "report"
CHANGE_KIND: Final = "report-status-change"

_R = report_pb2.ReportStatus
VALID: Final = _R.Name(report_pb2.REPORT_STATUS_VALID)
REVOKED: Final = _R.Name(report_pb2.REPORT_STATUS_REVOKED)
SUPERSEDED: Final = _R.Name(report_pb2.REPORT_STATUS_SUPERSEDED)
#: A status change may carry an effective time this far past the instant it is logged (clock
#: skew between the signer and the gateway), not more: a change takes effect when logged.
_MAX_SKEW: Final = timedelta(minutes=5)


# --- helpers shared with the report builder and ReportService ---------------------------------


def iso(when: datetime) -> str:
    """``when`` as an ISO 8601 instant in UTC with a ``Z``."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def instant(stamp: Timestamp) -> datetime:
    """A ``Timestamp`` as an aware UTC datetime."""
    return stamp.ToDatetime(tzinfo=UTC)


def report_of(obj: DomainObject) -> report_pb2.CreditReport:
    """The report as signed (status VALID), from a report object."""
    return report_pb2.CreditReport.FromString(obj.body)


def current_status(obj: DomainObject, at: datetime) -> ReportStatus:
    """The status a reader sees at ``at``: the stored one, or EXPIRED once a VALID report's
    ``valid_until`` has passed (validity is half-open, CXP-REPORT-021)."""
    stored = ReportStatus[obj.state.removeprefix("REPORT_STATUS_")]
    until = obj.attrs.get("valid_until")
    if stored is ReportStatus.VALID and isinstance(until, str) and at >= _parse_iso(until):
        return ReportStatus.EXPIRED
    return stored


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def report_scopes(
    report: report_pb2.CreditReport, *, issuer_region: str, issuer_sector: str
) -> tuple[str, ...]:
    """The scopes a report falls within for ISSUE_REPORTS (CXP-REPORT-016).

    ``region:`` of the subject (characters 3-8 of a legal person's USCC; for a subject without
    one, a natural person, the issuer's region), plus ``sector:`` of the issuer when it has one.
    The same derivation as the offline verifier's, so that a gateway never signs a report the
    verifier would refuse for its issuer.
    """
    uscc = report.subject.uscc
    scopes = [f"region:{uscc[2:8] if len(uscc) == 18 else issuer_region}"]
    if issuer_sector:
        scopes.append(f"sector:{issuer_sector}")
    return tuple(scopes)


def _permits(trust: TrustBundle, node_id: str, scope: str) -> bool:
    try:
        return trust.permits(node_id, Action.ISSUE_REPORTS, KIND, scope)
    except ValueError:
        return False  # a scope that is not well formed is covered by nothing


def issuer_denial(trust: TrustBundle, report: report_pb2.CreditReport) -> PermissionDenied | None:
    """Why ``report.issuer_node_id`` may not issue ``report`` under ``trust``, or ``None``.

    The verifier's ``issuer`` rule (CXP-REPORT-016): the issuer is a member
    (``UNKNOWN_ISSUER``), holds PUBLISH for ``report`` in some scope (CXP-TRUST-023) and
    ISSUE_REPORTS for ``report`` within one of :func:`report_scopes`
    (``ISSUER_NOT_AUTHORIZED``).
    """
    issuer = report.issuer_node_id
    try:
        node = trust.node(issuer)
    except KeyError:
        return PermissionDenied(
            f"issuer {issuer!r} is not a member of trust bundle version {trust.version}",
            reason="UNKNOWN_ISSUER",
        )
    scopes = report_scopes(report, issuer_region=node.region_code, issuer_sector=node.sector)
    if trust.grants_any_scope(issuer, Action.PUBLISH, KIND) and any(
        _permits(trust, issuer, scope) for scope in scopes
    ):
        return None
    return PermissionDenied(
        f"{issuer} holds no ISSUE_REPORTS permission (with PUBLISH of 'report') within "
        f"{', '.join(scopes)}",
        reason="ISSUER_NOT_AUTHORIZED",
    )


def _subject_key(subject: common_pb2.SubjectRef) -> str | None:
    return subject.uscc or subject.person_token or None


def _event(logged: Logged, object_id: str, action: str, reason: str) -> DomainEvent:
    return logged.event(KIND, object_id, action, reason)


def _require(view: View, number: str, what: str) -> DomainObject:
    found = view.get(KIND, number)
    if found is None:
        raise NotFound(f"{what} {number} is not in this log", reason="REPORT_NOT_FOUND")
    return found


def _check_issuer(obj: DomainObject, signer: str) -> None:
    if obj.attrs.get("issuer") != signer:
        raise PermissionDenied(
            f"report {obj.object_id} was issued by {obj.attrs.get('issuer')!r}, not {signer!r}",
            reason="NOT_REPORT_ISSUER",
        )


def _check_valid(obj: DomainObject) -> None:
    if obj.state != VALID:
        raise FailedPrecondition(
            f"report {obj.object_id} is {obj.state.removeprefix('REPORT_STATUS_')}; only a "
            "VALID report changes status",
            reason="REPORT_NOT_VALID",
        )


# --- handlers -------------------------------------------------------------------------------


class ReportHandler:
    """``report``: a new report (see the module docstring)."""

    kind = KIND

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The report number (it must be free) and the report it supersedes, if any."""
        report = statement.report
        keys = [(KIND, report.report_number)]
        if report.supersedes_report_number:
            keys.append((KIND, report.supersedes_report_number))
        return keys

    def apply(self, logged: Logged, view: View) -> None:
        """Store the report as VALID, with one ``ISSUE`` event."""
        report = logged.statement.report
        number = report.report_number
        if view.get(KIND, number) is not None:
            raise AlreadyExists(
                f"report number {number} is already used in this log", reason="REPORT_EXISTS"
            )
        if report.issuer_node_id != logged.sender_node_id:
            raise PermissionDenied(
                f"the report names issuer {report.issuer_node_id!r} but "
                f"{logged.sender_node_id!r} signed it",
                reason="NOT_REPORT_ISSUER",
            )
        if report.status != report_pb2.REPORT_STATUS_VALID:
            raise InvalidArgument(
                "a report is signed with status VALID; gateways report every other status",
                reason="REPORT_STATUS_NOT_VALID",
                field_violations=(FieldViolation("report.status", "must be REPORT_STATUS_VALID"),),
            )
        subject = _subject_key(report.subject)
        old_number = report.supersedes_report_number
        if old_number:
            if old_number == number:
                raise InvalidArgument(
                    f"report {number} cannot supersede itself", reason="INVALID_STATUS_CHANGE"
                )
            old = _require(view, old_number, "the superseded report")
            _check_issuer(old, logged.sender_node_id)
            _check_valid(old)
            if old.subject_key != subject:
                raise FailedPrecondition(
                    f"report {old_number} is about another subject",
                    reason="SUPERSESSION_MISMATCH",
                )
        until = instant(report.valid_until)
        view.put(
            DomainObject(
                kind=KIND,
                object_id=number,
                subject_key=subject,
                state=VALID,
                body=report.SerializeToString(deterministic=True),
                attrs={
                    "issuer": report.issuer_node_id,
                    "purpose": common_pb2.UsePurpose.Name(report.purpose),
                    "report_type": report_pb2.ReportType.Name(report.report_type),
                    "standard_version": report.standard_version,
                    "issued_at": iso(instant(report.issued_at)),
                    "valid_from": iso(instant(report.valid_from)),
                    "valid_until": iso(until),
                    "data_as_of": iso(instant(report.data_as_of)),
                    "message_id": logged.message_id,
                    "leaf_index": logged.leaf_index,
                    "supersedes": old_number,
                    "superseded_by": "",
                    "status_reason": "",
                    "status_changed_at": "",
                    "status_message_id": "",
                    "status_leaf_index": None,
                },
                flags=frozenset(),
                due_date=until.date().isoformat(),
                origin_node_id=logged.sender_node_id,
                log_origin=logged.log_origin,
                created_leaf=logged.leaf_index,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        purpose = common_pb2.UsePurpose.Name(report.purpose).removeprefix("USE_PURPOSE_")
        view.event(_event(logged, number, "ISSUE", f"issued for {purpose}"))


class ReportStatusChangeHandler:
    """``report-status-change``: the issuer revokes or supersedes its report."""

    kind = CHANGE_KIND

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The report changed and, for a supersession, the report replacing it."""
        change = statement.report_status_change
        keys = [(KIND, change.report_number)]
        if change.superseded_by_report_number:
            keys.append((KIND, change.superseded_by_report_number))
        return keys

    def apply(self, logged: Logged, view: View) -> None:
        """Check who, from which status and to which, then store the new status."""
        change = logged.statement.report_status_change
        number = change.report_number
        obj = _require(view, number, "report")
        _check_issuer(obj, logged.sender_node_id)
        new = change.new_status
        replacement = change.superseded_by_report_number
        if new == report_pb2.REPORT_STATUS_REVOKED:
            if replacement:
                raise InvalidArgument(
                    "a revocation names no replacing report", reason="INVALID_STATUS_CHANGE"
                )
        elif new == report_pb2.REPORT_STATUS_SUPERSEDED:
            if not replacement or replacement == number:
                raise InvalidArgument(
                    "a supersession names the report replacing this one",
                    reason="INVALID_STATUS_CHANGE",
                )
        else:
            raise InvalidArgument(
                f"a status change is to REVOKED or SUPERSEDED, not {_R.Name(new)}",
                reason="INVALID_STATUS_CHANGE",
            )
        if not change.reason.strip():
            raise InvalidArgument(
                "a status change says why",
                reason="INVALID_STATUS_CHANGE",
                field_violations=(FieldViolation("report_status_change.reason", "required"),),
            )
        effective = instant(change.effective_at) if change.HasField("effective_at") else logged.at
        if effective > logged.at + _MAX_SKEW:
            raise InvalidArgument(
                f"the change takes effect at {iso(effective)}, after it is logged: a status "
                "change takes effect when logged",
                reason="INVALID_EFFECTIVE_AT",
            )
        _check_valid(obj)
        if replacement:
            newer = _require(view, replacement, "the replacing report")
            _check_issuer(newer, logged.sender_node_id)
            if newer.subject_key != obj.subject_key or newer.attrs.get("supersedes") != number:
                raise FailedPrecondition(
                    f"report {replacement} does not replace {number} (it must be about the same "
                    "subject and name it in supersedes_report_number)",
                    reason="SUPERSESSION_MISMATCH",
                )
        attrs = dict(obj.attrs)
        attrs.update(
            superseded_by=replacement,
            status_reason=change.reason,
            status_changed_at=iso(effective),
            status_message_id=logged.message_id,
            status_leaf_index=logged.leaf_index,
        )
        view.put(
            dataclasses.replace(
                obj,
                state=_R.Name(new),
                attrs=attrs,
                due_date=None,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        if replacement:
            action, reason = "SUPERSEDE", f"superseded by {replacement}: {change.reason}"
        else:
            action, reason = "REVOKE", change.reason
        view.event(_event(logged, number, action, reason))


def report_handlers() -> list[Handler]:
    """The handlers of this module, for ``default_handlers()``."""
    return [ReportHandler(), ReportStatusChangeHandler()]
