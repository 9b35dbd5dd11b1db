"""Credit commitments and the assessments of whether they were honoured.

Two statement kinds have an effect here (``proto/creditlink/v1/commitment.proto``):

``commitment`` — a subject made a credit commitment (告知承诺, 容缺受理 at a licensing window
with incomplete materials, a repair commitment...). It creates the commitment in state
``FULFILMENT_STATUS_PENDING``; its ``due_date`` (when the materials are due, say) is the
object's ``due_date`` while nothing has been assessed, so
``DomainQuery(kinds=["commitment"], states=["FULFILMENT_STATUS_PENDING"], due_before=today)``
lists the commitments whose time is up and that nobody has assessed yet.

``commitment-fulfilment`` — an authority assessed the commitment: FULFILLED, PARTIALLY_FULFILLED
or BREACHED. The commitment takes the latest assessment's status (the contract: "gateways
report the latest assessment's status on read"); each assessment is an event.

An unfulfilled commitment becomes an untrustworthiness record
--------------------------------------------------------------
Decision: the assessing node **logs the record itself and links it**; the gateway never derives
one. A credit record is a signed statement of the authority that decides it: it is published
with a revision chain the publisher alone may extend, travels to other nodes by forwarding, is
verified offline under the publisher's key, and enters reports and evaluations. A record the
gateway made up from a fulfilment statement would have no signature of its own, no publisher
to correct or revoke it, no place in the other nodes' logs and no way to be verified. So a
``commitment-fulfilment`` with status BREACHED must name in ``resulting_record_ids`` at least one
record documenting untrustworthy conduct (severity minor, general or serious; typically category
``RECORD_CATEGORY_CREDIT_COMMITMENT``) that is already in this log or earlier in the same signed
batch (``record`` statements first, then the fulfilment: one signature, applied atomically).
Each named record must be about the commitment's subject and be the assessor's (published by the
signing node, or decided by the assessing authority). The record is stamped with the commitment
(attr ``source_commitment_id``, event ``LINK_COMMITMENT``), so a reader of the record finds the
commitment and the assessment's provenance.

Who may assess: when the commitment names an ``accepting_authority``, a fulfilment naming that
authority as ``assessing_authority`` (by USCC; the intake checked the signer's scopes), or the
node that logged the commitment; a voluntary commitment without one, any node that may publish
fulfilments within the assessing authority's scopes.

Objects
-------
``commitment`` / ``<commitment_id>``: ``subject_key`` the subject's USCC or person token;
``state`` the ``FulfilmentStatus`` name; ``body`` the ``CreditCommitment`` with
``fulfilment_status`` the latest assessment's; ``due_date`` the commitment's due date while
PENDING, else ``None``; flag ``breached`` while the latest assessment is BREACHED. ``attrs``:
``type`` (``CommitmentType`` name), ``made_on``, ``due_on`` (ISO, ``None`` when open-ended),
``accepting_authority_uscc`` (``""`` if none), ``publicly_disclosed``, ``template_id``,
``matter``, ``message_id`` (the commitment statement), ``assessments`` (count),
``last_assessed_on``, ``assessed_by`` (node), ``assessing_authority_uscc``,
``resulting_record_ids`` (every record any assessment named, in order).

Refusals
--------
==================================  ==================  ====================================
reason                              error               when
==================================  ==================  ====================================
COMMITMENT_EXISTS                   AlreadyExists       the commitment id is taken
INVALID_INITIAL_STATUS              InvalidArgument     a new commitment that is not PENDING
INVALID_DATE                        InvalidArgument     a date that does not exist
MADE_IN_FUTURE                      InvalidArgument     ``made_on`` after the logging day
INVALID_DUE_DATE                    InvalidArgument     ``due_date`` before ``made_on``
COMMITMENT_NOT_FOUND                NotFound            an assessment of an unknown commitment
NOT_ASSESSING_AUTHORITY             PermissionDenied    see "Who may assess"
ASSESSED_BEFORE_MADE                InvalidArgument     ``assessed_on`` before ``made_on``
ASSESSED_IN_FUTURE                  InvalidArgument     ``assessed_on`` after the logging day
ASSESSMENT_OUT_OF_ORDER             FailedPrecondition  dated before the previous assessment
DUPLICATE_RECORD                    InvalidArgument     a resulting record named twice
RESULTING_RECORD_NOT_FOUND          NotFound            a resulting record not in this log
RESULTING_RECORD_SUBJECT_MISMATCH   FailedPrecondition  a record about another subject
RESULTING_RECORD_FOREIGN            PermissionDenied    a record neither signed by the
                                                        assessor's node nor decided by the
                                                        assessing authority
BREACH_RECORD_REQUIRED              FailedPrecondition  BREACHED without an untrustworthiness
                                                        record
==================================  ==================  ====================================
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Final

from creditlink.gateway.domain.handlers.records import china_date, date_of
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
from creditlink.v1 import commitment_pb2, record_pb2, statement_pb2

__all__ = [
    "BREACHED",
    "FULFILMENT_KIND",
    "KIND",
    "PENDING",
    "CommitmentFulfilmentHandler",
    "CommitmentHandler",
    "commitment_handlers",
]

#: Object kind of a commitment (the statement kind that creates it).
KIND: Final = "commitment"
FULFILMENT_KIND: Final = "commitment-fulfilment"
_FS = commitment_pb2.FulfilmentStatus
PENDING: Final = _FS.Name(commitment_pb2.FULFILMENT_STATUS_PENDING)
BREACHED: Final = _FS.Name(commitment_pb2.FULFILMENT_STATUS_BREACHED)
#: Flag: the latest assessment found the commitment breached.
BREACHED_FLAG: Final = "breached"
_RECORD: Final = "record"
_UNTRUSTWORTHY: Final = frozenset(
    {record_pb2.SEVERITY_MINOR, record_pb2.SEVERITY_GENERAL, record_pb2.SEVERITY_SERIOUS}
)


def _event(logged: Logged, kind: str, object_id: str, action: str, reason: str) -> DomainEvent:
    return logged.event(kind, object_id, action, reason)


def _name(enum: object, value: int) -> str:
    try:
        return enum.Name(value)  # type: ignore[attr-defined, no-any-return]
    except ValueError:
        return str(value)


class CommitmentHandler:
    """``commitment``: a new commitment, PENDING until assessed."""

    kind = KIND

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The commitment itself (it must not exist yet)."""
        return [(KIND, statement.commitment.commitment_id)]

    def apply(self, logged: Logged, view: View) -> None:
        """Create the commitment; refuse a taken id, a non-PENDING status and bad dates."""
        commitment = logged.statement.commitment
        if view.get(KIND, commitment.commitment_id) is not None:
            raise AlreadyExists(
                f"commitment {commitment.commitment_id} exists already",
                reason="COMMITMENT_EXISTS",
            )
        if commitment.fulfilment_status != commitment_pb2.FULFILMENT_STATUS_PENDING:
            raise InvalidArgument(
                "a new commitment is PENDING; assessments are commitment-fulfilment statements",
                reason="INVALID_INITIAL_STATUS",
                field_violations=(
                    FieldViolation("commitment.fulfilment_status", "must be PENDING"),
                ),
            )
        made = date_of(commitment.made_on, "commitment.made_on")
        if made > china_date(logged.at):
            raise InvalidArgument(
                f"commitment.made_on ({made}) is after the day it is logged",
                reason="MADE_IN_FUTURE",
                field_violations=(FieldViolation("commitment.made_on", "in the future"),),
            )
        due: dt.date | None = None
        if commitment.HasField("due_date"):
            due = date_of(commitment.due_date, "commitment.due_date")
            if due < made:
                raise InvalidArgument(
                    f"the commitment is due ({due}) before it was made ({made})",
                    reason="INVALID_DUE_DATE",
                    field_violations=(FieldViolation("commitment.due_date", "before made_on"),),
                )
        subject_key = commitment.subject.uscc or commitment.subject.person_token
        view.put(
            DomainObject(
                kind=KIND,
                object_id=commitment.commitment_id,
                subject_key=subject_key or None,
                state=PENDING,
                body=commitment.SerializeToString(deterministic=True),
                attrs={
                    "type": _name(commitment_pb2.CommitmentType, commitment.type),
                    "made_on": made.isoformat(),
                    "due_on": due.isoformat() if due else None,
                    "accepting_authority_uscc": commitment.accepting_authority.uscc,
                    "publicly_disclosed": commitment.publicly_disclosed,
                    "template_id": commitment.template_id,
                    "matter": commitment.matter,
                    "message_id": logged.message_id,
                    "assessments": 0,
                    "last_assessed_on": None,
                    "assessed_by": None,
                    "assessing_authority_uscc": None,
                    "resulting_record_ids": [],
                },
                flags=frozenset(),
                due_date=due.isoformat() if due else None,
                origin_node_id=logged.sender_node_id,
                log_origin=logged.log_origin,
                created_leaf=logged.leaf_index,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        view.event(
            _event(
                logged,
                KIND,
                commitment.commitment_id,
                "COMMIT",
                f"{_name(commitment_pb2.CommitmentType, commitment.type)}: {commitment.matter}",
            )
        )


class CommitmentFulfilmentHandler:
    """``commitment-fulfilment``: the latest assessment, with the records it produced."""

    kind = FULFILMENT_KIND

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The commitment and every resulting record."""
        fulfilment = statement.commitment_fulfilment
        return [
            (KIND, fulfilment.commitment_id),
            *((_RECORD, rid) for rid in fulfilment.resulting_record_ids),
        ]

    def apply(self, logged: Logged, view: View) -> None:
        """Record the assessment; refuse what may not assess it (module docstring)."""
        fulfilment = logged.statement.commitment_fulfilment
        current = view.get(KIND, fulfilment.commitment_id)
        if current is None:
            raise NotFound(
                f"no commitment {fulfilment.commitment_id} in this log",
                reason="COMMITMENT_NOT_FOUND",
            )
        commitment = commitment_pb2.CreditCommitment.FromString(current.body)
        accepting = commitment.accepting_authority.uscc
        assessing = fulfilment.assessing_authority.uscc
        if accepting and assessing != accepting and logged.sender_node_id != current.origin_node_id:
            raise PermissionDenied(
                f"commitment {current.object_id} was made to {accepting}; an assessment by "
                f"{assessing} from {logged.sender_node_id!r} cannot judge it",
                reason="NOT_ASSESSING_AUTHORITY",
            )
        assessed = self._assessed_on(logged, current)
        records = self._records(logged, view, current)
        if fulfilment.status == commitment_pb2.FULFILMENT_STATUS_BREACHED and not any(
            record_pb2.CreditRecord.FromString(r.body).severity in _UNTRUSTWORTHY for r in records
        ):
            raise FailedPrecondition(
                "a breached commitment becomes an untrustworthiness record: log it (severity "
                "minor, general or serious) before the assessment or earlier in its batch, and "
                "name it in resulting_record_ids",
                reason="BREACH_RECORD_REQUIRED",
            )
        status = _FS.Name(fulfilment.status)
        for record in records:
            view.put(
                dataclasses.replace(
                    record,
                    attrs={**record.attrs, "source_commitment_id": current.object_id},
                    leaf_index=logged.leaf_index,
                    updated_at=logged.at,
                )
            )
            view.event(
                _event(
                    logged,
                    _RECORD,
                    record.object_id,
                    "LINK_COMMITMENT",
                    f"commitment {current.object_id} assessed {status}",
                )
            )
        body = commitment_pb2.CreditCommitment()
        body.CopyFrom(commitment)
        body.fulfilment_status = fulfilment.status
        linked = list(
            dict.fromkeys(
                [*_ids(current.attrs.get("resulting_record_ids")), *(r.object_id for r in records)]
            )
        )
        flags = current.flags - {BREACHED_FLAG}
        if fulfilment.status == commitment_pb2.FULFILMENT_STATUS_BREACHED:
            flags = flags | {BREACHED_FLAG}
        view.put(
            dataclasses.replace(
                current,
                state=status,
                body=body.SerializeToString(deterministic=True),
                attrs={
                    **current.attrs,
                    "assessments": int(str(current.attrs.get("assessments", 0))) + 1,
                    "last_assessed_on": assessed.isoformat(),
                    "assessed_by": logged.sender_node_id,
                    "assessing_authority_uscc": assessing,
                    "resulting_record_ids": linked,
                },
                flags=flags,
                due_date=None,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        view.event(
            _event(
                logged,
                KIND,
                current.object_id,
                status.removeprefix("FULFILMENT_STATUS_"),
                fulfilment.description,
            )
        )

    @staticmethod
    def _assessed_on(logged: Logged, current: DomainObject) -> dt.date:
        field = "commitment_fulfilment.assessed_on"
        assessed = date_of(logged.statement.commitment_fulfilment.assessed_on, field)
        made = dt.date.fromisoformat(str(current.attrs["made_on"]))
        if assessed < made:
            raise InvalidArgument(
                f"assessed on {assessed}, before the commitment was made ({made})",
                reason="ASSESSED_BEFORE_MADE",
                field_violations=(FieldViolation(field, "before made_on"),),
            )
        if assessed > china_date(logged.at):
            raise InvalidArgument(
                f"assessed on {assessed}, after the day it is logged",
                reason="ASSESSED_IN_FUTURE",
                field_violations=(FieldViolation(field, "in the future"),),
            )
        last = current.attrs.get("last_assessed_on")
        if isinstance(last, str) and assessed < dt.date.fromisoformat(last):
            raise FailedPrecondition(
                f"assessed on {assessed}, before the previous assessment ({last}): the latest "
                "assessment decides the status",
                reason="ASSESSMENT_OUT_OF_ORDER",
            )
        return assessed

    @staticmethod
    def _records(logged: Logged, view: View, current: DomainObject) -> list[DomainObject]:
        fulfilment = logged.statement.commitment_fulfilment
        out: list[DomainObject] = []
        for i, record_id in enumerate(fulfilment.resulting_record_ids):
            field = f"commitment_fulfilment.resulting_record_ids[{i}]"
            if record_id in fulfilment.resulting_record_ids[:i]:
                raise InvalidArgument(
                    f"record {record_id} is named twice",
                    reason="DUPLICATE_RECORD",
                    field_violations=(FieldViolation(field, "named twice"),),
                )
            record = view.get(_RECORD, record_id)
            if record is None:
                raise NotFound(
                    f"no record {record_id} in this log: log it before the assessment, or "
                    "earlier in the same batch",
                    reason="RESULTING_RECORD_NOT_FOUND",
                )
            if record.subject_key != current.subject_key:
                raise FailedPrecondition(
                    f"record {record_id} is about another subject than the commitment",
                    reason="RESULTING_RECORD_SUBJECT_MISMATCH",
                )
            decided_by = record_pb2.CreditRecord.FromString(record.body).authority.uscc
            assessing = fulfilment.assessing_authority.uscc
            if record.origin_node_id != logged.sender_node_id and decided_by != assessing:
                raise PermissionDenied(
                    f"record {record_id} was neither published by {logged.sender_node_id!r} nor "
                    f"decided by the assessing authority {assessing}",
                    reason="RESULTING_RECORD_FOREIGN",
                )
            out.append(record)
        return out


def _ids(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def commitment_handlers() -> list[Handler]:
    """Both commitment handlers, for ``default_handlers()``."""
    return [CommitmentHandler(), CommitmentFulfilmentHandler()]
