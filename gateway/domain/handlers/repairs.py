"""Credit repair: applications, their eligibility under the ruleset, and decisions.

Two statement kinds have an effect here (``proto/creditlink/v1/repair.proto``).

``repair-application`` — a platform accepted an application (evidence of correction and
performance, a credit commitment). It creates the application (``REPAIR_STATUS_SUBMITTED``)
with its eligibility computed and stored, and its decision deadline as ``due_date``.

**Ineligible applications are logged, and marked.** The subject applied, the platform accepted
the application, and the applicant is owed a decision with reasons (a rejection with
``REPAIR_REJECTION_REASON_MINIMUM_PERIOD_NOT_PASSED`` is an answer; a refused RPC is not). So
the merits never refuse a statement: an application whose minimum period has not passed, whose
information is no longer published, or that lacks a condition is logged with ``eligible``
false, its reasons, and the flag ``ineligible`` (for listing). What is refused is what makes an
application malformed or misdirected: an unknown or foreign target, another subject's
commitment, a deciding authority that did not decide the information (table below).

Eligibility (attrs ``eligible``, ``ineligibility_reasons``, ``eligibility``): per target, with
:func:`~creditlink.gateway.domain.rulesets.repair_eligibility` on the day the platform received
the application (``submitted_at``, China Standard Time):

* a record: its severity and decision date, under the ruleset in force on the **decision
  date** (the period attaches to the record when it is decided; ``rulesets`` module);
* a name-list entry: as serious untrustworthiness from its determination date [design choice:
  the lists of credit repair — the serious untrustworthy list above all — carry serious
  conduct; the rulesets give no listing period of their own];
* conditions: the commitment is checked here (it exists, is the subject's, of type
  ``COMMITMENT_TYPE_CREDIT_REPAIR``, not found breached; ``publicly_disclosed`` for a ruleset that
  wants a public commitment). Correction, performance, training and a credit report rest on
  the evidence, which only the deciding authority can judge: they count as claimed, and attr
  ``to_verify`` lists those the rulesets require, for the authority;
* beyond the ruleset: a revoked record (``TARGET_REVOKED``), information already repaired
  (``ALREADY_REPAIRED``), an entry removed (``TARGET_REMOVED``), information whose publication
  ended (``PUBLICATION_ENDED``: stored EXPIRED, or past its end on the day received), and
  information no ruleset gives a period (``NOT_REPAIRABLE``: not untrustworthy, decided before
  the first ruleset, a severity the ruleset does not grade).

Deadlines: the ruleset in force on the day received sets the platform's feedback limit and the
authority's decision limit (10 and 3 working days under 国办发〔2025〕22号), counted on the
working-day calendar. The decision deadline is ``due_date`` (so
``DomainQuery(kinds=["repair-application"], states=["REPAIR_STATUS_SUBMITTED"],
due_before=today)`` lists the overdue ones). A signed deadline may be earlier than the
gateway's but not later (unless the gateway's is provisional); where the ruleset sets no limit
the signed one is taken as is. ``ruleset_id`` must name a ruleset this gateway knows.

``repair-decision`` — the deciding authority's decision. **Approval ends publication**:

* an approved record becomes ``RECORD_STATUS_REPAIRED`` (stored state; ``due_date`` cleared);
* an approved name-list entry moves to ``NAME_LIST_STATE_REPAIRED`` through the name-list
  lifecycle (reason ``REPAIR_APPROVED``, related id the application): the entry is no longer in
  force, so CheckSubject stops returning it and its measures end. An entry the decision's signer
  already moved to REPAIRED for this application (a ``name-list-transition`` earlier in the
  batch) is accepted as carried out.

The decision is a logged statement: every gateway that holds the application and is named among
its recipients applies it to its own copy (forwarding), and regions that mirror name lists read
the entry's REPAIRED transition (see "Regions" below). **A decision reaches every holder**
(CXP-REPAIR-001): its signed recipients must include every node that holds a copy of the
application (any outcome) and, for an approval, of each approved target: the nodes named as
recipients by the statement in this log that created each (read with
:meth:`~creditlink.gateway.domain.projection.View.created_by`; declared in
``reads_creators``), other than this node. Otherwise a record Zhejiang addressed to itself and
the hub, repaired by a decision addressed to Zhejiang alone, would stay published at the hub
with nothing to show it; the decision is refused instead (``DECISION_RECIPIENTS_INCOMPLETE``,
naming the missing nodes and what each holds). A broadcast entry names no holders (regions
follow it through the feed). A rejection or withdrawal changes the application only, so only
the application's holders must hear it. **So does the application** (CXP-REPAIR-003): it must
be addressed to every holder of each target (``APPLICATION_RECIPIENTS_INCOMPLETE`` otherwise),
since a holder applies a decision only to an application it holds.

The "name-list entries of the subject from that basis" are repaired when the application names
them (the contract's ``RepairTarget``): ``creditlink repair apply`` adds the entries whose basis
cites a target record (``docs/objections.md``); the handler cannot look entries up by basis.

Checks on a decision: only the application's deciding authority decides (or, for a withdrawal,
the platform that accepted it); an application is decided once; approvals name targets of the
application (all of them for APPROVED, some for PARTIALLY_APPROVED); the decision is addressed
to every holder (above); approved records must be ACTIVE; an entry is moved only by the node
that determined it (the lifecycle's rule); and the minimum period of each approved target must
have passed on the effective date. Publication ends when the decision is logged, so an
``effective_date`` after the day it is logged is refused: state changes only with a statement,
and none will come on that day.

Regions
-------
A regional gateway mirrors ``name-list-entry`` and ``name-list-transition`` statements of its
upstream (``gateway/feed``) and folds them with the lifecycle. For a hub-side repair to lift the
measures there too, either (a) the feed also mirrors ``repair-decision`` and the fold applies
:func:`fold_decision` to the entries :func:`repaired_entry_ids` names, or (b) the deciding node
sends, in the same batch before the decision, the ``name-list-transition`` to REPAIRED
(``REPAIR_APPROVED``, related id the application) that the feed already carries.
``DecideRepairApplication`` takes that batch.

Objects
-------
``repair-application`` / ``<application_id>``: ``subject_key`` the applicant's USCC or person
token; ``state`` the ``RepairStatus`` name; ``body`` the ``RepairApplication`` with ``status``
and ``decision`` set from the decision; ``due_date`` the decision deadline while SUBMITTED;
flag ``ineligible``. ``attrs``:

=======================  ===================================================================
key                      value
=======================  ===================================================================
form                     str, ``RepairForm`` name
target_ids               list[str], ``<kind>:<id>`` of each target
commitment_id            str
deciding_authority_uscc  str
received_on              str, ISO date (China time) of ``submitted_at``
ruleset_id               str, ruleset in force on ``received_on`` (deadlines)
signed_ruleset_id        str, the statement's ``ruleset_id``
eligible                 bool
ineligibility_reasons    list[str], union over the targets, sorted
eligibility              list[dict]: ``target``, ``ruleset_id``, ``eligible``, ``reasons``,
                         ``earliest`` (ISO, first day the minimum period has passed, or None)
to_verify                list[str], ``RepairCondition`` values resting on the evidence
decision_deadline        str | None, ISO (= ``due_date`` while SUBMITTED)
feedback_deadline        str | None, ISO
deadline_provisional     bool
deadline_note            str | None
message_id               str, the application statement
outcome                  str | None, ``RepairStatus`` name once decided
decided_on               str | None, ISO
decided_by               str | None, node
decision_message_id      str | None
approved_target_ids      list[str]
rejection_reasons        list[str], ``RepairRejectionReason`` names
effective_date           str | None, ISO
=======================  ===================================================================

On a repaired record: attrs ``repair_application_id``, ``repair_effective_date``,
``repair_decision_message_id``, event ``REPAIR``.

Refusals (nothing is logged)
----------------------------
=================================  ==================  ========================================
reason                             error               when
=================================  ==================  ========================================
APPLICATION_EXISTS                 AlreadyExists       the application id is taken
INVALID_INITIAL_STATUS             InvalidArgument     not SUBMITTED, or a decision filled in
SUBMITTED_IN_FUTURE                InvalidArgument     ``submitted_at`` after the logging day
UNKNOWN_RULESET                    InvalidArgument     a ``ruleset_id`` this gateway does not know
NO_RULESET_IN_FORCE                FailedPrecondition  received before the first ruleset
DUPLICATE_TARGET                   InvalidArgument     a target named twice
TARGET_NOT_FOUND                   NotFound            a target this gateway does not hold
TARGET_SUBJECT_MISMATCH            FailedPrecondition  a target about another subject
DECIDING_AUTHORITY_MISMATCH        FailedPrecondition  a target decided (or determined) by
                                                       another authority than the deciding one
COMMITMENT_NOT_FOUND               NotFound            the commitment is not in this log (send
                                                       it first, or earlier in the batch)
COMMITMENT_SUBJECT_MISMATCH        FailedPrecondition  another subject's commitment
COMMITMENT_WRONG_TYPE              FailedPrecondition  not a credit repair commitment
DECISION_DEADLINE_TOO_LATE         FailedPrecondition  later than the ruleset's decision limit
FEEDBACK_DEADLINE_TOO_LATE         FailedPrecondition  later than the ruleset's feedback limit
INVALID_DATE                       InvalidArgument     a date that does not exist
APPLICATION_NOT_FOUND              NotFound            a decision on an unknown application
APPLICATION_ALREADY_DECIDED        FailedPrecondition  a second decision
NOT_DECIDING_AUTHORITY             PermissionDenied    a decision by another authority
DECIDED_BEFORE_SUBMITTED           InvalidArgument     ``decided_at`` before ``submitted_at``
DECIDED_IN_FUTURE                  InvalidArgument     ``decided_at`` after the logging day
TARGET_NOT_IN_APPLICATION          InvalidArgument     an approved target the application lacks
APPROVAL_INCOMPLETE                InvalidArgument     APPROVED without every target
PARTIAL_APPROVAL_COVERS_ALL        InvalidArgument     PARTIALLY_APPROVED with every target
EFFECTIVE_DATE_IN_FUTURE           FailedPrecondition  see above
DECISION_RECIPIENTS_INCOMPLETE     FailedPrecondition  a holder of the application or of an
                                                       approved target is not a recipient
APPLICATION_RECIPIENTS_INCOMPLETE  FailedPrecondition  a holder of a target is not among an
                                                       application's recipients (CXP-REPAIR-003)
TARGET_NOT_ACTIVE                  FailedPrecondition  an approved record no longer ACTIVE
MINIMUM_PERIOD_NOT_PASSED          FailedPrecondition  approved before the minimum period passed
NOT_REPAIRABLE                     FailedPrecondition  approved information no ruleset repairs
PERMISSION_DENIED_DETERMINER       PermissionDenied    an entry moved by a node that did not
                                                       determine it (lifecycle rule)
=================================  ==================  ========================================
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC
from typing import Final

from creditlink.gateway.domain.calendar import Deadline, WorkingDayCalendar
from creditlink.gateway.domain.handlers import name_lists
from creditlink.gateway.domain.handlers.commitments import BREACHED
from creditlink.gateway.domain.handlers.commitments import KIND as COMMITMENT_KIND
from creditlink.gateway.domain.handlers.records import (
    ACTIVE,
    EXPIRED,
    REPAIRED,
    REVOKED,
    china_date,
    date_of,
    derived_status,
)
from creditlink.gateway.domain.projection import Handler, Logged, View
from creditlink.gateway.domain.rulesets import (
    RULESETS,
    CountsWorkingDays,
    Eligibility,
    Ineligible,
    NoPublicationPeriod,
    NoRulesetInForce,
    RepairCondition,
    Ruleset,
    Severity,
    repair_decision_deadline,
    repair_eligibility,
    repair_feedback_deadline,
    ruleset_for,
)
from creditlink.gateway.store.base import DomainEvent, DomainObject, ObjectKey
from creditlink.sdk.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from creditlink.v1 import (
    commitment_pb2,
    common_pb2,
    name_list_pb2,
    record_pb2,
    repair_pb2,
    statement_pb2,
)

__all__ = [
    "APPLICATION_KIND",
    "DECISION_KIND",
    "INELIGIBLE",
    "SUBMITTED",
    "RepairApplicationHandler",
    "RepairDecisionHandler",
    "fold_decision",
    "repair_handlers",
    "repair_target_key",
    "repaired_entry_ids",
]

#: Object kind of a repair application (the statement kind that creates it).
APPLICATION_KIND: Final = "repair-application"
DECISION_KIND: Final = "repair-decision"
#: Flag: the application was not eligible when received.
INELIGIBLE: Final = "ineligible"
_RS = repair_pb2.RepairStatus
SUBMITTED: Final = _RS.Name(repair_pb2.REPAIR_STATUS_SUBMITTED)
_ENTRY: Final = name_lists.ENTRY_KIND
_RECORD: Final = "record"
_REPAIRED_ENTRY: Final = name_list_pb2.NameListState.Name(name_list_pb2.NAME_LIST_STATE_REPAIRED)
_REMOVED_ENTRY: Final = name_list_pb2.NameListState.Name(name_list_pb2.NAME_LIST_STATE_REMOVED)
_APPROVALS: Final = frozenset(
    {repair_pb2.REPAIR_STATUS_APPROVED, repair_pb2.REPAIR_STATUS_PARTIALLY_APPROVED}
)
#: Conditions resting on the evidence, which the deciding authority judges.
_CLAIMED: Final = frozenset(
    {
        RepairCondition.CORRECTED,
        RepairCondition.OBLIGATIONS_PERFORMED,
        RepairCondition.TRAINING,
        RepairCondition.CREDIT_REPORT,
    }
)
_ALL_CONDITIONS: Final = frozenset(RepairCondition)


def repair_target_key(target: repair_pb2.RepairTarget) -> ObjectKey:
    """The ``(kind, object_id)`` of the object a ``RepairTarget`` names."""
    if target.WhichOneof("target") == "name_list_entry_id":
        return (_ENTRY, target.name_list_entry_id)
    return (_RECORD, target.record_id)


def _label(key: ObjectKey) -> str:
    return f"{key[0]}:{key[1]}"


def _event(logged: Logged, kind: str, object_id: str, action: str, reason: str) -> DomainEvent:
    return logged.event(kind, object_id, action, reason)


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _known(ruleset_id: str, rulesets: Sequence[Ruleset], field: str) -> None:
    if ruleset_id not in {r.id for r in rulesets}:
        known = ", ".join(r.id for r in rulesets)
        raise InvalidArgument(
            f"{field} {ruleset_id!r} is not a ruleset this gateway knows ({known})",
            reason="UNKNOWN_RULESET",
            field_violations=(FieldViolation(field, "unknown ruleset"),),
        )


def _basis(target: DomainObject) -> tuple[Severity, dt.date]:
    """Severity and start date of ``target``'s publication period."""
    if target.kind == _ENTRY:
        entry = name_lists.body_of(target)
        determined = entry.determination_date
        return record_pb2.SEVERITY_SERIOUS, dt.date(
            determined.year, determined.month, determined.day
        )
    record = record_pb2.CreditRecord.FromString(target.body)
    decided = record.decision_date
    return record.severity, dt.date(decided.year, decided.month, decided.day)


def _require_holders(
    logged: Logged,
    view: View,
    objects: Sequence[DomainObject],
    *,
    what: str,
    holds: str,
    reason: str,
) -> None:
    """Refuse ``logged`` unless its signed recipients name every holder of ``objects``: the
    nodes the statement in this log that created each was addressed to, this node aside
    (CXP-REPAIR-001, -003). A holder left out would keep its copy as it was, and nothing would
    report it."""
    holders: dict[str, list[str]] = {}
    for obj in objects:
        for node_id in view.created_by(obj).header.recipient_node_ids:
            holders.setdefault(node_id, []).append(_label(obj.key))
    named = set(logged.statement.header.recipient_node_ids)
    if view.node_id:
        named.add(view.node_id)
    missing = sorted(set(holders) - named)
    if missing:
        held = "; ".join(f"{n} holds {', '.join(holders[n])}" for n in missing)
        raise FailedPrecondition(
            f"the {what} must be addressed to every node that holds {holds}, or their copies "
            f"would never hear of it: {', '.join(missing)} missing from its recipients ({held})",
            reason=reason,
        )


class RepairApplicationHandler(CountsWorkingDays):
    """``repair-application``: logged with its eligibility and deadlines (module docstring)."""

    kind = APPLICATION_KIND

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The application, its targets and its commitment."""
        application = statement.repair_application
        return [
            (APPLICATION_KIND, application.application_id),
            (COMMITMENT_KIND, application.commitment_id),
            *(repair_target_key(t) for t in application.targets),
        ]

    def reads_creators(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The targets: the nodes their statements were addressed to hold a copy of each."""
        return [repair_target_key(t) for t in statement.repair_application.targets]

    def apply(self, logged: Logged, view: View) -> None:
        """Log the application with its eligibility; refuse what is malformed or misdirected."""
        application = logged.statement.repair_application
        if view.get(APPLICATION_KIND, application.application_id) is not None:
            raise AlreadyExists(
                f"repair application {application.application_id} exists already",
                reason="APPLICATION_EXISTS",
            )
        if application.status != repair_pb2.REPAIR_STATUS_SUBMITTED or application.HasField(
            "decision"
        ):
            raise InvalidArgument(
                "a new application is SUBMITTED and has no decision; gateways set both on read",
                reason="INVALID_INITIAL_STATUS",
                field_violations=(FieldViolation("repair_application.status", "not SUBMITTED"),),
            )
        received = china_date(application.submitted_at.ToDatetime(tzinfo=UTC))
        if received > china_date(logged.at):
            raise InvalidArgument(
                f"repair_application.submitted_at ({received}) is after the day it is logged",
                reason="SUBMITTED_IN_FUTURE",
                field_violations=(
                    FieldViolation("repair_application.submitted_at", "in the future"),
                ),
            )
        _known(application.ruleset_id, self._rulesets, "repair_application.ruleset_id")
        try:
            procedural = ruleset_for(received, self._rulesets)
        except NoRulesetInForce as exc:
            raise FailedPrecondition(str(exc), reason="NO_RULESET_IN_FORCE") from None
        subject_key = application.subject.uscc or application.subject.person_token
        keys = [repair_target_key(t) for t in application.targets]
        targets = [self._target(view, keys, i, subject_key, logged) for i in range(len(keys))]
        _require_holders(
            logged,
            view,
            targets,
            what="application",
            holds="one of its targets",
            reason="APPLICATION_RECIPIENTS_INCOMPLETE",
        )
        met = self._commitment(view, application, subject_key)
        checks = [self._eligibility(t, received, met, logged) for t in targets]
        required = self._required(targets)
        deadlines = self._deadlines(application, received, procedural)
        reasons = sorted({r for c in checks for r in _str_list(c["reasons"])})
        eligible = not reasons
        view.put(
            DomainObject(
                kind=APPLICATION_KIND,
                object_id=application.application_id,
                subject_key=subject_key or None,
                state=SUBMITTED,
                body=application.SerializeToString(deterministic=True),
                attrs={
                    "form": repair_pb2.RepairForm.Name(application.form),
                    "target_ids": [_label(k) for k in keys],
                    "commitment_id": application.commitment_id,
                    "deciding_authority_uscc": application.deciding_authority.uscc,
                    "received_on": received.isoformat(),
                    "ruleset_id": procedural.id,
                    "signed_ruleset_id": application.ruleset_id,
                    "eligible": eligible,
                    "ineligibility_reasons": reasons,
                    "eligibility": checks,
                    "to_verify": sorted(c.value for c in required & _CLAIMED),
                    **deadlines,
                    "message_id": logged.message_id,
                    "outcome": None,
                    "decided_on": None,
                    "decided_by": None,
                    "decision_message_id": None,
                    "approved_target_ids": [],
                    "rejection_reasons": [],
                    "effective_date": None,
                },
                flags=frozenset() if eligible else frozenset({INELIGIBLE}),
                due_date=_opt_str(deadlines["decision_deadline"]),
                origin_node_id=logged.sender_node_id,
                log_origin=logged.log_origin,
                created_leaf=logged.leaf_index,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        summary = "eligible" if eligible else f"not eligible: {', '.join(reasons)}"
        view.event(_event(logged, APPLICATION_KIND, application.application_id, "APPLY", summary))

    # -- checks ----------------------------------------------------------------------------

    @staticmethod
    def _target(
        view: View, keys: Sequence[ObjectKey], index: int, subject_key: str, logged: Logged
    ) -> DomainObject:
        application = logged.statement.repair_application
        key, field = keys[index], f"repair_application.targets[{index}]"
        if key in keys[:index]:
            raise InvalidArgument(
                f"{_label(key)} is named twice",
                reason="DUPLICATE_TARGET",
                field_violations=(FieldViolation(field, "named twice"),),
            )
        obj = view.get(*key)
        if obj is None:
            raise NotFound(
                f"this gateway holds no {key[0]} {key[1]!r} to repair",
                reason="TARGET_NOT_FOUND",
            )
        if obj.subject_key != subject_key:
            raise FailedPrecondition(
                f"{_label(key)} is about another subject than the applicant",
                reason="TARGET_SUBJECT_MISMATCH",
            )
        if key[0] == _ENTRY:
            decided_by = name_lists.body_of(obj).determining_authority.uscc
        else:
            decided_by = record_pb2.CreditRecord.FromString(obj.body).authority.uscc
        if decided_by != application.deciding_authority.uscc:
            raise FailedPrecondition(
                f"{_label(key)} was decided by {decided_by}; the authority of the original "
                f"decision decides its repair, not {application.deciding_authority.uscc} (one "
                "application per deciding authority)",
                reason="DECIDING_AUTHORITY_MISMATCH",
            )
        return obj

    @staticmethod
    def _commitment(
        view: View, application: repair_pb2.RepairApplication, subject_key: str
    ) -> frozenset[RepairCondition]:
        """The conditions met: the claimed ones, and what the commitment proves."""
        stored = view.get(COMMITMENT_KIND, application.commitment_id)
        if stored is None:
            raise NotFound(
                f"no commitment {application.commitment_id} in this log: submit it first, or "
                "before the application in the same batch",
                reason="COMMITMENT_NOT_FOUND",
            )
        if stored.subject_key != subject_key:
            raise FailedPrecondition(
                f"commitment {application.commitment_id} was made by another subject",
                reason="COMMITMENT_SUBJECT_MISMATCH",
            )
        commitment = commitment_pb2.CreditCommitment.FromString(stored.body)
        if commitment.type != commitment_pb2.COMMITMENT_TYPE_CREDIT_REPAIR:
            raise FailedPrecondition(
                f"commitment {application.commitment_id} is not a credit repair commitment",
                reason="COMMITMENT_WRONG_TYPE",
            )
        met = set(_CLAIMED)
        if stored.state != BREACHED:
            met.add(RepairCondition.COMMITMENT)
            if commitment.publicly_disclosed:
                met.add(RepairCondition.PUBLIC_COMMITMENT)
        return frozenset(met)

    def _eligibility(
        self, target: DomainObject, received: dt.date, met: Collection[RepairCondition], at: Logged
    ) -> dict[str, object]:
        """One target's eligibility on ``received`` (module docstring)."""
        label = _label((target.kind, target.object_id))
        closed = _closed(target, received, at)
        severity, start = _basis(target)
        checked: Eligibility | None = None
        try:
            ruleset = ruleset_for(start, self._rulesets)
            checked = repair_eligibility(severity, start, received, met=met, ruleset=ruleset)
        except (NoRulesetInForce, NoPublicationPeriod, ValueError):
            pass  # no period to wait out and nothing to repair under any ruleset
        reasons = [closed] if closed else []
        if checked is None:
            reasons.append("NOT_REPAIRABLE")
        else:
            reasons.extend(r.value for r in checked.reasons if r.value not in reasons)
        return {
            "target": label,
            "ruleset_id": checked.ruleset_id if checked else "",
            "eligible": not reasons,
            "reasons": reasons,
            "earliest": _iso(checked.earliest) if checked else None,
        }

    def _required(self, targets: Sequence[DomainObject]) -> frozenset[RepairCondition]:
        """Every condition the rulesets of ``targets`` require."""
        required: set[RepairCondition] = set()
        for target in targets:
            severity, start = _basis(target)
            try:
                ruleset = ruleset_for(start, self._rulesets)
            except NoRulesetInForce:
                continue
            required |= ruleset.repair_conditions
            if severity == record_pb2.SEVERITY_SERIOUS:
                required |= ruleset.serious_repair_conditions
        return frozenset(required)

    def _deadlines(
        self, application: repair_pb2.RepairApplication, received: dt.date, ruleset: Ruleset
    ) -> dict[str, object]:
        decision = self._deadline(
            application.decision_deadline if application.HasField("decision_deadline") else None,
            "decision_deadline",
            repair_decision_deadline(received, self._calendar, ruleset),
            received,
            ruleset,
        )
        feedback = self._deadline(
            application.feedback_deadline if application.HasField("feedback_deadline") else None,
            "feedback_deadline",
            repair_feedback_deadline(received, self._calendar, ruleset),
            received,
            ruleset,
        )
        notes = [d for d in (decision, feedback) if d is not None and d.provisional]
        return {
            "decision_deadline": _iso(decision.date) if decision else None,
            "feedback_deadline": _iso(feedback.date) if feedback else None,
            "deadline_provisional": bool(notes),
            "deadline_note": notes[0].reason if notes else None,
        }

    @staticmethod
    def _deadline(
        given: common_pb2.Deadline | None,
        name: str,
        computed: Deadline | None,
        received: dt.date,
        ruleset: Ruleset,
    ) -> Deadline | None:
        """The deadline in force: the ruleset's, or an earlier (or, where the ruleset's is
        provisional or absent, any) signed one."""
        field = f"repair_application.{name}.due"
        signed = None if given is None else date_of(given.due, field)
        if computed is None:
            return None if signed is None else Deadline(signed)
        if signed is None:
            return computed
        if computed.provisional:
            return Deadline(signed)  # the platform may know the year's schedule; we do not
        if signed > computed.date:
            raise FailedPrecondition(
                f"the {name.replace('_', ' ')} {signed} is later than {computed.date}, the limit "
                f"of ruleset {ruleset.id} for an application received on {received}",
                reason=f"{name.upper()}_TOO_LATE",
            )
        return Deadline(signed)


def _closed(target: DomainObject, on: dt.date, logged: Logged) -> str | None:
    """Why ``target`` is no longer published on ``on``, or ``None``."""
    if target.kind == _ENTRY:
        state = name_lists.state_at(name_lists.body_of(target), logged.at)
        return {
            _REPAIRED_ENTRY: "ALREADY_REPAIRED",
            _REMOVED_ENTRY: "TARGET_REMOVED",
            name_lists.EXPIRED: Ineligible.PUBLICATION_ENDED.value,
        }.get(state)
    status = derived_status(target, on)
    return {
        REVOKED: "TARGET_REVOKED",
        REPAIRED: "ALREADY_REPAIRED",
        EXPIRED: Ineligible.PUBLICATION_ENDED.value,
    }.get(status)


def _str_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


class RepairDecisionHandler:
    """``repair-decision``: decide the application; an approval ends publication."""

    kind = DECISION_KIND

    def __init__(self, *, rulesets: Sequence[Ruleset] = RULESETS) -> None:
        """Check minimum periods with ``rulesets``."""
        self._rulesets = rulesets

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The application and each approved target."""
        decision = statement.repair_decision
        return [
            (APPLICATION_KIND, decision.application_id),
            *(repair_target_key(t) for t in decision.approved_targets),
        ]

    def reads_creators(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The same: the nodes their statements were addressed to hold a copy of each."""
        return self.reads(statement)

    def apply(self, logged: Logged, view: View) -> None:
        """Decide; on approval, repair each approved target (module docstring)."""
        decision = logged.statement.repair_decision
        current = view.get(APPLICATION_KIND, decision.application_id)
        if current is None:
            raise NotFound(
                f"no repair application {decision.application_id} in this log",
                reason="APPLICATION_NOT_FOUND",
            )
        if current.state != SUBMITTED:
            raise FailedPrecondition(
                f"application {decision.application_id} is already decided ({current.state})",
                reason="APPLICATION_ALREADY_DECIDED",
            )
        application = repair_pb2.RepairApplication.FromString(current.body)
        self._authorized(logged, current, application)
        _known(decision.ruleset_id, self._rulesets, "repair_decision.ruleset_id")
        decided_on = self._decided_on(logged, application)
        approved = self._approved(decision, application)
        effective: dt.date | None = None
        if decision.outcome in _APPROVALS:
            effective = self._effective(logged, decided_on)
        self._addressed(logged, view, current, approved if effective is not None else [])
        if effective is not None:
            for key in approved:
                self._repair(view, logged, key, effective)
        body = repair_pb2.RepairApplication()
        body.CopyFrom(application)
        body.status = decision.outcome
        body.decision.CopyFrom(decision)
        outcome = _RS.Name(decision.outcome)
        view.put(
            dataclasses.replace(
                current,
                state=outcome,
                body=body.SerializeToString(deterministic=True),
                attrs={
                    **current.attrs,
                    "outcome": outcome,
                    "decided_on": decided_on.isoformat(),
                    "decided_by": logged.sender_node_id,
                    "decision_message_id": logged.message_id,
                    "approved_target_ids": [_label(k) for k in approved],
                    "rejection_reasons": [
                        repair_pb2.RepairRejectionReason.Name(r) for r in decision.rejection_reasons
                    ],
                    "effective_date": _iso(effective),
                },
                due_date=None,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        view.event(
            _event(
                logged,
                APPLICATION_KIND,
                current.object_id,
                outcome.removeprefix("REPAIR_STATUS_"),
                decision.reason,
            )
        )

    # -- checks ----------------------------------------------------------------------------

    @staticmethod
    def _authorized(
        logged: Logged, current: DomainObject, application: repair_pb2.RepairApplication
    ) -> None:
        decision = logged.statement.repair_decision
        if decision.authority.uscc == application.deciding_authority.uscc:
            return
        withdrawn = decision.outcome == repair_pb2.REPAIR_STATUS_WITHDRAWN
        if withdrawn and logged.sender_node_id == current.origin_node_id:
            return  # the platform records the applicant's withdrawal
        raise PermissionDenied(
            f"application {current.object_id} is decided by "
            f"{application.deciding_authority.uscc}, not {decision.authority.uscc or 'nobody'}",
            reason="NOT_DECIDING_AUTHORITY",
        )

    @staticmethod
    def _addressed(
        logged: Logged, view: View, application: DomainObject, approved: Sequence[ObjectKey]
    ) -> None:
        """Refuse a decision some holder of the application or of an approved target would
        never receive (CXP-REPAIR-001); forwarding follows the decision's own recipients."""
        objects = [application, *(view.get(*key) for key in approved)]
        _require_holders(
            logged,
            view,
            [obj for obj in objects if obj is not None],  # a missing target: TARGET_NOT_FOUND
            what="decision",
            holds="the application or an approved target",
            reason="DECISION_RECIPIENTS_INCOMPLETE",
        )

    @staticmethod
    def _decided_on(logged: Logged, application: repair_pb2.RepairApplication) -> dt.date:
        decision = logged.statement.repair_decision
        decided_at = decision.decided_at.ToDatetime(tzinfo=UTC)
        field = "repair_decision.decided_at"
        if decided_at < application.submitted_at.ToDatetime(tzinfo=UTC):
            raise InvalidArgument(
                "the decision is dated before the application was submitted",
                reason="DECIDED_BEFORE_SUBMITTED",
                field_violations=(FieldViolation(field, "before submitted_at"),),
            )
        decided_on = china_date(decided_at)
        if decided_on > china_date(logged.at):
            raise InvalidArgument(
                f"the decision is dated {decided_on}, after the day it is logged",
                reason="DECIDED_IN_FUTURE",
                field_violations=(FieldViolation(field, "in the future"),),
            )
        return decided_on

    @staticmethod
    def _approved(
        decision: repair_pb2.RepairDecision, application: repair_pb2.RepairApplication
    ) -> list[ObjectKey]:
        asked = [repair_target_key(t) for t in application.targets]
        approved: list[ObjectKey] = []
        for i, target in enumerate(decision.approved_targets):
            key = repair_target_key(target)
            field = f"repair_decision.approved_targets[{i}]"
            if key not in asked:
                raise InvalidArgument(
                    f"{_label(key)} is not a target of application {decision.application_id}",
                    reason="TARGET_NOT_IN_APPLICATION",
                    field_violations=(FieldViolation(field, "not in the application"),),
                )
            if key in approved:
                raise InvalidArgument(
                    f"{_label(key)} is approved twice",
                    reason="DUPLICATE_TARGET",
                    field_violations=(FieldViolation(field, "named twice"),),
                )
            approved.append(key)
        whole = set(approved) == set(asked)
        if decision.outcome == repair_pb2.REPAIR_STATUS_APPROVED and not whole:
            raise InvalidArgument(
                "APPROVED names every target of the application; approve some with "
                "PARTIALLY_APPROVED",
                reason="APPROVAL_INCOMPLETE",
                field_violations=(FieldViolation("repair_decision.approved_targets", "partial"),),
            )
        if decision.outcome == repair_pb2.REPAIR_STATUS_PARTIALLY_APPROVED and whole:
            raise InvalidArgument(
                "PARTIALLY_APPROVED leaves at least one target out; approve all with APPROVED",
                reason="PARTIAL_APPROVAL_COVERS_ALL",
                field_violations=(FieldViolation("repair_decision.approved_targets", "all"),),
            )
        return approved

    @staticmethod
    def _effective(logged: Logged, decided_on: dt.date) -> dt.date:
        decision = logged.statement.repair_decision
        field = "repair_decision.effective_date"
        effective = (
            date_of(decision.effective_date, field)
            if decision.HasField("effective_date")
            else decided_on
        )
        if effective > china_date(logged.at):
            raise FailedPrecondition(
                f"publication ends when the decision is logged; an effective date of {effective}"
                " would need another statement on that day: log the decision then",
                reason="EFFECTIVE_DATE_IN_FUTURE",
            )
        return effective

    # -- effects ---------------------------------------------------------------------------

    def _repair(self, view: View, logged: Logged, key: ObjectKey, effective: dt.date) -> None:
        decision = logged.statement.repair_decision
        target = view.get(*key)
        if target is None:  # the application's targets existed; objects are never deleted
            raise NotFound(f"{_label(key)} is not in this log", reason="TARGET_NOT_FOUND")
        if key[0] == _ENTRY:
            name_lists.check_determiner(target, logged.sender_node_id)
            if _carried_out(target, decision.application_id):
                return
        elif target.state != ACTIVE:
            raise FailedPrecondition(
                f"{_label(key)} is {target.state}: only a published (ACTIVE) record is repaired",
                reason="TARGET_NOT_ACTIVE",
            )
        self._minimum_passed(target, key, effective)
        reason = f"repair application {decision.application_id}: {decision.reason}"[:2048]
        if key[0] == _ENTRY:
            name_lists.apply_transition(
                view,
                target,
                _REPAIRED_ENTRY,
                logged,
                reason,
                reason_code=name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED,
                related_id=decision.application_id,
            )
            return
        view.put(
            dataclasses.replace(
                target,
                state=REPAIRED,
                attrs={
                    **target.attrs,
                    "repair_application_id": decision.application_id,
                    "repair_effective_date": effective.isoformat(),
                    "repair_decision_message_id": logged.message_id,
                },
                due_date=None,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        view.event(_event(logged, _RECORD, target.object_id, "REPAIR", reason))

    def _minimum_passed(self, target: DomainObject, key: ObjectKey, on: dt.date) -> None:
        severity, start = _basis(target)
        try:
            ruleset = ruleset_for(start, self._rulesets)
            checked = repair_eligibility(severity, start, on, met=_ALL_CONDITIONS, ruleset=ruleset)
        except (NoRulesetInForce, NoPublicationPeriod, ValueError) as exc:
            raise FailedPrecondition(
                f"{_label(key)}: no ruleset gives it a repairable period ({exc})",
                reason="NOT_REPAIRABLE",
            ) from None
        if Ineligible.MINIMUM_PERIOD_NOT_PASSED in checked.reasons:
            raise FailedPrecondition(
                f"{_label(key)}: the minimum period of ruleset {checked.ruleset_id} passes on "
                f"{checked.earliest}; publication cannot end on {on}",
                reason="MINIMUM_PERIOD_NOT_PASSED",
            )


def _carried_out(entry: DomainObject, application_id: str) -> bool:
    """Whether the entry was already moved to REPAIRED for ``application_id``."""
    if entry.state != _REPAIRED_ENTRY:
        return False
    transitions = name_lists.body_of(entry).transitions
    return bool(transitions) and transitions[-1].related_id == application_id


def repaired_entry_ids(decision: repair_pb2.RepairDecision) -> list[str]:
    """The name-list entries an accepted decision moves to REPAIRED (none unless approved)."""
    if decision.outcome not in _APPROVALS:
        return []
    return [
        t.name_list_entry_id
        for t in decision.approved_targets
        if t.WhichOneof("target") == "name_list_entry_id"
    ]


def fold_decision(entry_obj: DomainObject, logged: Logged) -> DomainObject:
    """A mirrored ``repair-decision`` applied to one of the entries it approves (pure).

    For a region folding its upstream's statements (``name_lists.replay``): the same lifecycle
    move the upstream's handler made, ``REPAIRED`` with reason ``REPAIR_APPROVED`` and related
    id the application, effective when the upstream logged the decision. Raises what the
    lifecycle raises (``INVALID_TRANSITION``) and ``PERMISSION_DENIED_DETERMINER`` when the
    decision's signer did not determine the entry; ``ValueError`` when the decision does not
    approve this entry.
    """
    decision = logged.statement.repair_decision
    if entry_obj.object_id not in repaired_entry_ids(decision):
        raise ValueError(f"the decision does not approve entry {entry_obj.object_id}")
    name_lists.check_determiner(entry_obj, logged.sender_node_id)
    if _carried_out(entry_obj, decision.application_id):
        return entry_obj
    return name_lists.transition(
        entry_obj,
        _REPAIRED_ENTRY,
        logged,
        f"repair application {decision.application_id}: {decision.reason}"[:2048],
        reason_code=name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED,
        related_id=decision.application_id,
    )


def repair_handlers(
    *, calendar: WorkingDayCalendar | None = None, rulesets: Sequence[Ruleset] = RULESETS
) -> list[Handler]:
    """Both repair handlers, for ``default_handlers()``."""
    return [
        RepairApplicationHandler(calendar=calendar, rulesets=rulesets),
        RepairDecisionHandler(rulesets=rulesets),
    ]
