"""Objections against published credit information: filing, the disputed marker, resolution.

Two statement kinds have an effect here (``gateway/domain/projection``); both bodies are in
``proto/creditlink/v1/objection.proto``.

``objection`` — a platform accepted an objection (error, omission, duplicate, should not be
published, published past its period) with evidence and a commitment letter. It creates the
objection (state ``OBJECTION_STATUS_OPEN``) and marks every target **disputed** until the
objection is resolved:

* a record, evaluation or report gets the flag ``disputed`` and the objection's id in its attr
  ``open_objection_ids`` (the target's own handler keeps both on its later changes);
* a name-list entry moves to ``UNDER_OBJECTION`` through the name-list lifecycle
  (:func:`~creditlink.gateway.domain.handlers.name_lists.apply_transition`, reason
  ``OBJECTION_FILED``, related id the objection), which sets ``disputed``; the state it left is
  kept in its attr ``state_before_objection``. An entry already ``UNDER_OBJECTION`` (a second
  objection) only records the id.

The response deadline comes from the ruleset in force on the filing day (China Standard Time),
counted on the working-day calendar
(:func:`~creditlink.gateway.domain.rulesets.objection_deadline`; every ruleset so far gives 20
days, moved to the next working day when the 20th is a day off). The signed
``response_deadline`` may be earlier (the platform answers faster) but not later, unless the
gateway's own deadline is provisional (a year without a holiday schedule: the platform may know
the schedule, so its date is taken). The deadline in force is the object's ``due_date``, so
``DomainQuery(kinds=["objection"], states=["OBJECTION_STATUS_OPEN"], due_before=today)`` lists
the overdue ones.

``objection-resolution`` — the handling authority's outcome. Outcomes, in the issue's words:

* **upheld (the information stands)**: ``OBJECTION_STATUS_REJECTED``. Targets are released: the
  id leaves ``open_objection_ids``, ``disputed`` is cleared once none is left open, and an entry
  ``UNDER_OBJECTION`` returns to the state it had (``OBJECTION_REJECTED``; to ``EXPIRED`` with
  ``PERIOD_ENDED`` if its listing ended meanwhile). ``OBJECTION_STATUS_WITHDRAWN`` releases the
  same way.
* **corrected / deleted**: ``OBJECTION_STATUS_UPHELD`` (every target) or
  ``OBJECTION_STATUS_PARTIALLY_UPHELD`` (some). A record's content and status change only by a
  signed ``record-correction`` (the records handlers own records and their revision chain), so
  an upheld record target must have been *carried out* by a correction naming this objection
  (``RecordCorrection.objection_id``), accepted before the resolution or earlier in the same
  batch (``ResolveObjection`` takes the batch): ``CORRECT`` = corrected, ``REVOKE`` = deleted
  (``RECORD_STATUS_REVOKED``), ``EXPIRE`` = publication ended. A report is carried out once a
  ``report-status-change`` revoked or superseded it. A name-list entry is carried out
  by a ``name-list-transition`` with ``related_id`` the objection, or, when none was sent and
  the outcome is UPHELD, by this handler: ``UNDER_OBJECTION → REMOVED`` (``OBJECTION_UPHELD``),
  so "deleted" needs no second statement. An evaluation is carried out once superseded. A
  partial outcome releases the targets it did not carry out, as a rejection does.
  ``correction_message_ids`` must name the statements that carried it out whenever there are
  any (every upheld outcome except one carried out by derived entry removals alone).

Who may resolve: a resolution naming the objection's ``handling_authority`` (by USCC; the
intake checked that the signer may publish within that authority's scopes), or, for a
withdrawal, the platform that accepted the objection. An objection is resolved once.

**Notification.** The filer and the nodes holding the information learn the outcome from the
log: the resolution must name as recipients (``header.recipient_node_ids``, inside the signed
payload) the node that accepted the objection and the node that published each target, unless
it signs the resolution itself (``RECIPIENTS_MISSING`` otherwise). The gateway then forwards it
to them through its outbox (CXP-API-008..011), each logs it in its own log, and any subscriber
(``ExchangeService.Subscribe`` with kind ``objection-resolution``) receives it in log order. A
filer follows its objection by subscribing to its platform's log for ``objection-resolution``
(or polling ``GetObjection`` / ``ListObjections`` with ``statuses``); the applicant hears from
its platform. The contract caps recipients at 64, so an objection of at most 62 nodes'
information can always be answered.

Objects (``gateway/domain`` conventions)
----------------------------------------
``objection`` / ``<objection_id>``: ``subject_key`` the subject's USCC or person token;
``state`` the ``ObjectionStatus`` name; ``body`` the ``Objection`` with ``status`` and
``resolution`` set from the resolution (what ``GetObjection`` returns); ``due_date`` the
response deadline while OPEN, else ``None``; ``origin_node_id`` the accepting platform (the
filer's node). ``attrs``:

========================  ==============================================================
key                       value
========================  ==============================================================
type                      str, ``ObjectionType`` name
target_ids                list[str], ``<kind>:<id>`` of each target, in order
handling_authority_uscc   str
filed_on                  str, ISO date (China time) of ``filed_at``
ruleset_id                str, ruleset in force on ``filed_on`` ('' before the first)
response_deadline         str, ISO, the deadline in force (= ``due_date`` while OPEN)
computed_deadline         str, ISO, the gateway's own deadline from the ruleset
signed_deadline           str, ISO, the statement's ``response_deadline.due``
deadline_provisional      bool, whether the deadline in force may move (unknown holidays)
deadline_note             str | None, why it is provisional
message_id                str, the filing statement
outcome                   str | None, ``ObjectionStatus`` name once resolved
resolved_on               str | None, ISO date (China time) of ``resolved_at``
resolved_by               str | None, node that signed the resolution
resolution_message_id     str | None
notified_node_ids         list[str], the resolution's recipients
correction_message_ids    list[str]
target_effects            list[str], ``<kind>:<id>=<EFFECT>``; EFFECT one of CORRECTED,
                          DELETED, EXPIRED, REMOVED (or another entry state), SUPERSEDED,
                          RELEASED (unchanged)
========================  ==============================================================

On targets: flag ``disputed``; attr ``open_objection_ids`` (list[str]); entries also
``state_before_objection`` (removed on release). Events: ``FILE`` and ``<OUTCOME>`` (e.g.
``REJECTED``) on the objection; ``DISPUTE`` and ``RELEASE`` on records, evaluations and reports;
the lifecycle's own events on entries.

Refusals (nothing is logged)
----------------------------
==========================  ==================  ==============================================
reason                      error               when
==========================  ==================  ==============================================
OBJECTION_EXISTS            AlreadyExists       the objection id is taken
INVALID_INITIAL_STATUS      InvalidArgument     a filed objection that is not OPEN, or has a
                                                resolution
DUPLICATE_TARGET            InvalidArgument     a target named twice
FILED_IN_FUTURE             InvalidArgument     ``filed_at`` on a later day than the logging
INVALID_DATE                InvalidArgument     a date that does not exist
RESPONSE_DEADLINE_INVALID   InvalidArgument     the signed deadline precedes the filing day
RESPONSE_DEADLINE_TOO_LATE  FailedPrecondition  the signed deadline is later than the ruleset's
NO_RULESET_IN_FORCE         FailedPrecondition  filed before the first ruleset
TARGET_NOT_FOUND            NotFound            a target this gateway does not hold
TARGET_SUBJECT_MISMATCH     FailedPrecondition  a target about another subject
TARGET_CLOSED               FailedPrecondition  a revoked record, a revoked or superseded
                                                report or evaluation, an entry repaired,
                                                removed or expired
OBJECTION_NOT_FOUND         NotFound            a resolution of an unknown objection
OBJECTION_ALREADY_RESOLVED  FailedPrecondition  a second resolution
NOT_HANDLING_AUTHORITY      PermissionDenied    see "Who may resolve"
RESOLVED_BEFORE_FILED       InvalidArgument     ``resolved_at`` before ``filed_at``
RECIPIENTS_MISSING          FailedPrecondition  see "Notification"
CORRECTION_MISSING          FailedPrecondition  an upheld target not carried out (UPHELD: each
                                                target; PARTIALLY_UPHELD: none at all)
CORRECTIONS_NOT_NAMED       InvalidArgument     upheld, carried out by statements, and
                                                ``correction_message_ids`` is empty
==========================  ==================  ==============================================

The name-list lifecycle may refuse a move itself (``INVALID_TRANSITION``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC
from typing import Final

from creditlink.gateway.domain.calendar import WorkingDayCalendar
from creditlink.gateway.domain.handlers import name_lists
from creditlink.gateway.domain.handlers.records import REVOKED as RECORD_REVOKED
from creditlink.gateway.domain.handlers.records import china_date, date_of
from creditlink.gateway.domain.projection import Handler, Logged, View
from creditlink.gateway.domain.rulesets import (
    RULESETS,
    CountsWorkingDays,
    NoRulesetInForce,
    Ruleset,
    objection_deadline,
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
from creditlink.v1 import name_list_pb2, objection_pb2, record_pb2, statement_pb2

__all__ = [
    "DISPUTED",
    "KIND",
    "OPEN",
    "OPEN_IDS",
    "PRIOR_STATE",
    "RESOLUTION_KIND",
    "TARGET_KINDS",
    "ObjectionHandler",
    "ObjectionResolutionHandler",
    "objection_handlers",
    "target_key",
    "target_label",
]

#: Object kind of an objection (the statement kind that creates it).
KIND: Final = "objection"
RESOLUTION_KIND: Final = "objection-resolution"
#: Flag on a target while an objection against it is open.
DISPUTED: Final = "disputed"
#: Attr on a target: ids of the open objections against it.
OPEN_IDS: Final = "open_objection_ids"
#: Attr on a name-list entry under objection: the state it had before.
PRIOR_STATE: Final = "state_before_objection"

_ST = objection_pb2.ObjectionStatus
OPEN: Final = _ST.Name(objection_pb2.OBJECTION_STATUS_OPEN)
_UPHELD: Final = objection_pb2.OBJECTION_STATUS_UPHELD
_PARTIAL: Final = objection_pb2.OBJECTION_STATUS_PARTIALLY_UPHELD
_WITHDRAWN: Final = objection_pb2.OBJECTION_STATUS_WITHDRAWN

#: ``ObjectionTarget`` case -> object kind of the target.
TARGET_KINDS: Final[Mapping[str, str]] = {
    "record_id": "record",
    "name_list_entry_id": name_lists.ENTRY_KIND,
    "report_number": "report",
    "evaluation_id": "evaluation",
}
_ENTRY: Final = name_lists.ENTRY_KIND
_LISTED: Final = name_list_pb2.NameListState.Name(name_list_pb2.NAME_LIST_STATE_LISTED)
_UNDER_OBJECTION: Final = name_list_pb2.NameListState.Name(
    name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION
)
_RECTIFYING: Final = name_list_pb2.NameListState.Name(name_list_pb2.NAME_LIST_STATE_RECTIFYING)
_REMOVED: Final = name_list_pb2.NameListState.Name(name_list_pb2.NAME_LIST_STATE_REMOVED)
_EXPIRED: Final = name_list_pb2.NameListState.Name(name_list_pb2.NAME_LIST_STATE_EXPIRED)
_CORRECTION_EFFECTS: Final = {
    record_pb2.CorrectionKind.Name(record_pb2.CORRECTION_KIND_CORRECT): "CORRECTED",
    record_pb2.CorrectionKind.Name(record_pb2.CORRECTION_KIND_REVOKE): "DELETED",
    record_pb2.CorrectionKind.Name(record_pb2.CORRECTION_KIND_EXPIRE): "EXPIRED",
}


def target_key(target: objection_pb2.ObjectionTarget) -> ObjectKey:
    """The ``(kind, object_id)`` of the object an ``ObjectionTarget`` names."""
    case = target.WhichOneof("target")
    if case is None:  # the contract requires one; nothing to read otherwise
        raise InvalidArgument("an objection target names nothing", reason="CONSTRAINT_VIOLATION")
    return (TARGET_KINDS[case], str(getattr(target, case)))


def target_label(key: ObjectKey) -> str:
    """``<kind>:<id>``: how attrs and messages name a target."""
    return f"{key[0]}:{key[1]}"


def _ids(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _event(
    logged: Logged, kind: str, object_id: str, action: str, reason: str, seq: int = 0
) -> DomainEvent:
    return logged.event(kind, object_id, action, reason, seq=seq)


def _type_name(value: int) -> str:
    try:
        return objection_pb2.ObjectionType.Name(value)  # type: ignore[arg-type]
    except ValueError:
        return str(value)


def _short(name: str) -> str:
    return name.removeprefix("OBJECTION_STATUS_")


def _target_keys(objection: objection_pb2.Objection) -> list[ObjectKey]:
    return [target_key(t) for t in objection.targets]


class ObjectionHandler(CountsWorkingDays):
    """``objection``: create the objection (OPEN) and mark its targets disputed."""

    kind = KIND

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The objection (it must not exist) and every target (they must)."""
        objection = statement.objection
        keys = [(KIND, objection.objection_id)]
        for target in objection.targets:
            if target.WhichOneof("target") is not None:
                keys.append(target_key(target))
        return keys

    def apply(self, logged: Logged, view: View) -> None:
        """File the objection; refuse what cannot be filed (module docstring)."""
        objection = logged.statement.objection
        if view.get(KIND, objection.objection_id) is not None:
            raise AlreadyExists(
                f"objection {objection.objection_id} exists already", reason="OBJECTION_EXISTS"
            )
        if objection.status != objection_pb2.OBJECTION_STATUS_OPEN or objection.HasField(
            "resolution"
        ):
            raise InvalidArgument(
                "a filed objection is OPEN and has no resolution; gateways set both on read",
                reason="INVALID_INITIAL_STATUS",
                field_violations=(FieldViolation("objection.status", "must be OPEN"),),
            )
        filed_on = china_date(objection.filed_at.ToDatetime(tzinfo=UTC))
        if filed_on > china_date(logged.at):
            raise InvalidArgument(
                f"objection.filed_at ({filed_on}) is after the day it is logged",
                reason="FILED_IN_FUTURE",
                field_violations=(FieldViolation("objection.filed_at", "in the future"),),
            )
        subject_key = objection.subject.uscc or objection.subject.person_token
        keys = _target_keys(objection)
        targets = [
            self._target(view, key, f"objection.targets[{i}]", subject_key, keys[:i], logged)
            for i, key in enumerate(keys)
        ]
        deadline = self._deadline(objection, filed_on)
        for target in targets:
            _dispute(view, target, objection, logged)
        body = objection_pb2.Objection()
        body.CopyFrom(objection)
        view.put(
            DomainObject(
                kind=KIND,
                object_id=objection.objection_id,
                subject_key=subject_key or None,
                state=OPEN,
                body=body.SerializeToString(deterministic=True),
                attrs={
                    "type": _type_name(objection.type),
                    "target_ids": [target_label(k) for k in keys],
                    "handling_authority_uscc": objection.handling_authority.uscc,
                    "filed_on": filed_on.isoformat(),
                    **deadline,
                    "message_id": logged.message_id,
                    "outcome": None,
                    "resolved_on": None,
                    "resolved_by": None,
                    "resolution_message_id": None,
                    "notified_node_ids": [],
                    "correction_message_ids": [],
                    "target_effects": [],
                },
                flags=frozenset(),
                due_date=str(deadline["response_deadline"]),
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
                objection.objection_id,
                "FILE",
                f"{_type_name(objection.type)}: {objection.claim}"[:1024],
            )
        )

    @staticmethod
    def _target(
        view: View,
        key: ObjectKey,
        field: str,
        subject_key: str,
        earlier: Sequence[ObjectKey],
        logged: Logged,
    ) -> DomainObject:
        """The target at ``key``, checked: it exists, is about the subject, is published."""
        if key in earlier:
            raise InvalidArgument(
                f"{target_label(key)} is named twice",
                reason="DUPLICATE_TARGET",
                field_violations=(FieldViolation(field, "named twice"),),
            )
        obj = view.get(*key)
        if obj is None:
            raise NotFound(
                f"this gateway holds no {key[0]} {key[1]!r} to object to",
                reason="TARGET_NOT_FOUND",
            )
        if obj.subject_key and subject_key and obj.subject_key != subject_key:
            raise FailedPrecondition(
                f"{target_label(key)} is about another subject than the objection",
                reason="TARGET_SUBJECT_MISMATCH",
            )
        if _closed(obj, logged):
            raise FailedPrecondition(
                f"{target_label(key)} is {obj.state}: nothing is published to object to",
                reason="TARGET_CLOSED",
            )
        return obj

    def _deadline(self, objection: objection_pb2.Objection, filed_on: dt.date) -> dict[str, object]:
        try:
            ruleset = ruleset_for(filed_on, self._rulesets)
        except NoRulesetInForce as exc:
            raise FailedPrecondition(str(exc), reason="NO_RULESET_IN_FORCE") from None
        computed = objection_deadline(filed_on, self._calendar, ruleset)
        field = "objection.response_deadline.due"
        signed = date_of(objection.response_deadline.due, field)
        if signed < filed_on:
            raise InvalidArgument(
                f"the response deadline {signed} precedes the filing day {filed_on}",
                reason="RESPONSE_DEADLINE_INVALID",
                field_violations=(FieldViolation(field, "before the filing day"),),
            )
        if not computed.provisional and signed > computed.date:
            raise FailedPrecondition(
                f"the response deadline {signed} is later than {computed.date}, the deadline of "
                f"ruleset {ruleset.id} for an objection filed on {filed_on}",
                reason="RESPONSE_DEADLINE_TOO_LATE",
            )
        # A provisional deadline counted weekends only: the platform's own (later) date may
        # rest on the year's holiday schedule, so it is the one in force.
        in_force = signed if computed.provisional else min(signed, computed.date)
        provisional = computed.provisional and in_force == computed.date
        return {
            "ruleset_id": ruleset.id,
            "response_deadline": in_force.isoformat(),
            "computed_deadline": computed.date.isoformat(),
            "signed_deadline": signed.isoformat(),
            "deadline_provisional": provisional,
            "deadline_note": computed.reason if provisional else None,
        }


#: States in which a target no longer stands as published information, per kind.
_CLOSED_STATES: Final[Mapping[str, frozenset[str]]] = {
    "record": frozenset({RECORD_REVOKED}),
    "report": frozenset({"REPORT_STATUS_REVOKED", "REPORT_STATUS_SUPERSEDED"}),
    "evaluation": frozenset({"SUPERSEDED"}),
}


def _closed(target: DomainObject, logged: Logged) -> bool:
    """Whether ``target`` is withdrawn, replaced or ended: nothing left to object to."""
    if target.kind == _ENTRY:
        state = name_lists.state_at(name_lists.body_of(target), logged.at)
        return state in name_lists.TERMINAL_STATES
    return target.state in _CLOSED_STATES.get(target.kind, frozenset())


def _dispute(
    view: View, target: DomainObject, objection: objection_pb2.Objection, logged: Logged
) -> None:
    """Mark ``target`` disputed by ``objection`` (entries: through the lifecycle)."""
    open_ids = [*_ids(target.attrs.get(OPEN_IDS)), objection.objection_id]
    reason = f"objection {objection.objection_id} ({_type_name(objection.type)})"
    if target.kind == _ENTRY and target.state != _UNDER_OBJECTION:
        moved = name_lists.apply_transition(
            view,
            target,
            _UNDER_OBJECTION,
            logged,
            reason,
            reason_code=name_list_pb2.TRANSITION_REASON_OBJECTION_FILED,
            related_id=objection.objection_id,
        )
        attrs = {**moved.attrs, OPEN_IDS: open_ids, PRIOR_STATE: target.state}
        view.put(dataclasses.replace(moved, attrs=attrs))
        return
    view.put(
        dataclasses.replace(
            target,
            attrs={**target.attrs, OPEN_IDS: open_ids},
            flags=target.flags | {DISPUTED},
            leaf_index=logged.leaf_index,
            updated_at=logged.at,
        )
    )
    view.event(_event(logged, target.kind, target.object_id, "DISPUTE", reason))


class ObjectionResolutionHandler:
    """``objection-resolution``: close the objection, carry out or release its targets."""

    kind = RESOLUTION_KIND

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The objection resolved (its targets follow: :meth:`reads_after`)."""
        return [(KIND, statement.objection_resolution.objection_id)]

    def reads_after(
        self, statement: statement_pb2.Statement, found: Mapping[ObjectKey, DomainObject]
    ) -> Iterable[ObjectKey]:
        """The targets the stored objection names."""
        stored = found.get((KIND, statement.objection_resolution.objection_id))
        if stored is None:
            return []  # unknown, or filed in this same append (its reads named the targets)
        return _target_keys(objection_pb2.Objection.FromString(stored.body))

    def apply(self, logged: Logged, view: View) -> None:
        """Resolve the objection; refuse what may not resolve it (module docstring)."""
        resolution = logged.statement.objection_resolution
        current = view.get(KIND, resolution.objection_id)
        if current is None:
            raise NotFound(
                f"no objection {resolution.objection_id} in this log", reason="OBJECTION_NOT_FOUND"
            )
        if current.state != OPEN:
            raise FailedPrecondition(
                f"objection {resolution.objection_id} is already resolved ({current.state})",
                reason="OBJECTION_ALREADY_RESOLVED",
            )
        objection = objection_pb2.Objection.FromString(current.body)
        self._authorized(logged, current, objection)
        resolved_at = resolution.resolved_at.ToDatetime(tzinfo=UTC)
        if resolved_at < objection.filed_at.ToDatetime(tzinfo=UTC):
            raise InvalidArgument(
                "objection_resolution.resolved_at is before the objection was filed",
                reason="RESOLVED_BEFORE_FILED",
                field_violations=(
                    FieldViolation("objection_resolution.resolved_at", "before filed_at"),
                ),
            )
        keys = _target_keys(objection)
        targets = [view.get(*key) for key in keys]
        self._notified(logged, current, [t for t in targets if t is not None])
        effects = _effects(view, logged, objection, keys, targets)
        attrs = {
            **current.attrs,
            "outcome": _ST.Name(resolution.outcome),
            "resolved_on": china_date(resolved_at).isoformat(),
            "resolved_by": logged.sender_node_id,
            "resolution_message_id": logged.message_id,
            "notified_node_ids": list(logged.statement.header.recipient_node_ids),
            "correction_message_ids": list(resolution.correction_message_ids),
            "target_effects": [f"{target_label(k)}={e}" for k, e in effects],
        }
        body = objection_pb2.Objection()
        body.CopyFrom(objection)
        body.status = resolution.outcome
        body.resolution.CopyFrom(resolution)
        view.put(
            dataclasses.replace(
                current,
                state=_ST.Name(resolution.outcome),
                body=body.SerializeToString(deterministic=True),
                attrs=attrs,
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
                _short(_ST.Name(resolution.outcome)),
                resolution.reason[:1024],
            )
        )

    # -- checks ----------------------------------------------------------------------------

    @staticmethod
    def _authorized(
        logged: Logged, current: DomainObject, objection: objection_pb2.Objection
    ) -> None:
        resolution = logged.statement.objection_resolution
        if resolution.authority.uscc == objection.handling_authority.uscc:
            return
        if resolution.outcome == _WITHDRAWN and logged.sender_node_id == current.origin_node_id:
            return  # the accepting platform records the applicant's withdrawal
        raise PermissionDenied(
            f"objection {current.object_id} is handled by {objection.handling_authority.uscc}; "
            f"a resolution by {resolution.authority.uscc or 'no authority'} cannot close it",
            reason="NOT_HANDLING_AUTHORITY",
        )

    @staticmethod
    def _notified(logged: Logged, current: DomainObject, targets: Sequence[DomainObject]) -> None:
        # The filer's node and the nodes holding the information learn the outcome through
        # the log only if the signed header names them (forwarding follows the recipients).
        wanted = {current.origin_node_id, *(t.origin_node_id for t in targets)}
        named = set(logged.statement.header.recipient_node_ids) | {logged.sender_node_id}
        missing = sorted(wanted - named)
        if missing:
            raise FailedPrecondition(
                f"the resolution must name {missing} among its recipients: the node that "
                "accepted the objection and the nodes holding the information are notified "
                "through the log",
                reason="RECIPIENTS_MISSING",
            )


# -- resolution effects ------------------------------------------------------------------------


def _effects(
    view: View,
    logged: Logged,
    objection: objection_pb2.Objection,
    keys: Sequence[ObjectKey],
    targets: Sequence[DomainObject | None],
) -> list[tuple[ObjectKey, str]]:
    """Check the outcome is carried out, then close or release each target; the effects."""
    resolution = logged.statement.objection_resolution
    upheld = resolution.outcome in (_UPHELD, _PARTIAL)
    plan: list[tuple[ObjectKey, DomainObject, str | None]] = []
    for key, target in zip(keys, targets, strict=True):
        if target is None:
            continue  # objects are never deleted; only a foreign log could lack one
        effect = _carried_out(target, objection.objection_id) if upheld else None
        derive = (
            effect is None
            and resolution.outcome == _UPHELD
            and key[0] == _ENTRY
            and target.state == _UNDER_OBJECTION
        )
        if derive:
            effect = _DERIVED_REMOVAL
        if effect is None and resolution.outcome == _UPHELD:
            raise FailedPrecondition(
                f"{target_label(key)}: an upheld objection is carried out by a "
                "record-correction (or name-list-transition) naming objection "
                f"{objection.objection_id}, accepted before the resolution or earlier in its "
                "batch",
                reason="CORRECTION_MISSING",
            )
        plan.append((key, target, effect))
    carried = [p for p in plan if p[2] is not None]
    if resolution.outcome == _PARTIAL and keys and not carried:
        raise FailedPrecondition(
            "a partially upheld objection carries out at least one of its targets",
            reason="CORRECTION_MISSING",
        )
    by_statements = [p for p in carried if p[2] != _DERIVED_REMOVAL]
    if upheld and (by_statements or not keys) and not resolution.correction_message_ids:
        raise InvalidArgument(
            "objection_resolution.correction_message_ids must name the statements that carry "
            "out the upheld outcome",
            reason="CORRECTIONS_NOT_NAMED",
            field_violations=(
                FieldViolation("objection_resolution.correction_message_ids", "is empty"),
            ),
        )
    out: list[tuple[ObjectKey, str]] = []
    for key, target, effect in plan:
        _close(view, target, objection.objection_id, logged, effect)
        word = _REMOVED if effect == _DERIVED_REMOVAL else effect or "RELEASED"
        out.append((key, word.removeprefix("NAME_LIST_STATE_")))
    return out


#: Marker: an upheld entry target this handler removes itself (no transition was sent).
_DERIVED_REMOVAL: Final = "DERIVED_REMOVAL"


def _close(
    view: View, target: DomainObject, objection_id: str, logged: Logged, effect: str | None
) -> None:
    """Take ``objection_id`` off ``target``; move an entry out of UNDER_OBJECTION if due."""
    resolution = logged.statement.objection_resolution
    open_ids = [i for i in _ids(target.attrs.get(OPEN_IDS)) if i != objection_id]
    outcome = _ST.Name(resolution.outcome)
    if target.kind != _ENTRY:
        flags = target.flags if open_ids else target.flags - {DISPUTED}
        view.put(
            dataclasses.replace(
                target,
                attrs={**target.attrs, OPEN_IDS: open_ids},
                flags=flags,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        why = f"objection {objection_id} {_short(outcome)}" + (f": {effect}" if effect else "")
        view.event(_event(logged, target.kind, target.object_id, "RELEASE", why))
        return
    current = target
    if effect == _DERIVED_REMOVAL:
        current = _move(
            view,
            current,
            _REMOVED,
            logged,
            name_list_pb2.TRANSITION_REASON_OBJECTION_UPHELD,
            objection_id,
        )
    elif effect is None and current.state == _UNDER_OBJECTION and not open_ids:
        back = str(current.attrs.get(PRIOR_STATE) or _LISTED)
        if back not in (_LISTED, _RECTIFYING):
            back = _LISTED
        code = (
            name_list_pb2.TRANSITION_REASON_OTHER
            if resolution.outcome == _WITHDRAWN
            else name_list_pb2.TRANSITION_REASON_OBJECTION_REJECTED
        )
        current = _move(view, current, back, logged, code, objection_id)
    attrs = {k: v for k, v in current.attrs.items() if k != PRIOR_STATE or open_ids}
    attrs[OPEN_IDS] = open_ids
    flags = current.flags
    if not open_ids or current.state != _UNDER_OBJECTION:
        flags = flags - {DISPUTED}
    view.put(
        dataclasses.replace(
            current, attrs=attrs, flags=flags, leaf_index=logged.leaf_index, updated_at=logged.at
        )
    )


def _move(
    view: View, entry: DomainObject, state: str, logged: Logged, code: int, objection_id: str
) -> DomainObject:
    """The lifecycle move of an entry leaving UNDER_OBJECTION (to EXPIRED once its listing
    ended: nothing else is allowed then)."""
    resolution = logged.statement.objection_resolution
    reason = f"objection {objection_id}: {resolution.reason}"[:2048]
    body = name_lists.body_of(entry)
    change: name_list_pb2.NameListTransition | None = None
    if name_lists.state_at(body, logged.at) == _EXPIRED:
        state, code = _EXPIRED, name_list_pb2.TRANSITION_REASON_PERIOD_ENDED
    elif state == _RECTIFYING:
        # Back to rectifying: the rectification deadline of the transition that started it
        # still holds (it is the entry's due date while RECTIFYING).
        change = name_list_pb2.NameListTransition(
            entry_id=entry.object_id,
            from_state=name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION,
            to_state=name_list_pb2.NAME_LIST_STATE_RECTIFYING,
            reason_code=code,  # type: ignore[arg-type]
            reason=reason,
            related_id=objection_id,
        )
        change.authority.CopyFrom(resolution.authority)
        change.effective_at.FromDatetime(logged.at)
        started = [t for t in body.transitions if t.to_state == change.to_state]
        if started and started[-1].HasField("rectification_deadline"):
            change.rectification_deadline.CopyFrom(started[-1].rectification_deadline)
    return name_lists.apply_transition(
        view,
        entry,
        state,
        logged,
        reason,
        reason_code=code,
        related_id=objection_id,
        change=change,
        disputed=False,
    )


def _carried_out(target: DomainObject, objection_id: str) -> str | None:
    """How ``target`` was carried out for ``objection_id`` by a statement, or ``None``."""
    if target.kind == "record":
        if target.attrs.get("objection_id") == objection_id:
            kind = str(target.attrs.get("correction_kind", ""))
            return _CORRECTION_EFFECTS.get(kind, "CORRECTED")
        return None
    if target.kind == _ENTRY:
        if target.state == _UNDER_OBJECTION:
            return None
        entry = name_lists.body_of(target)
        if any(t.related_id == objection_id for t in entry.transitions[-1:]):
            return target.state
        return None
    if target.kind == "evaluation":
        return "SUPERSEDED" if target.state == "SUPERSEDED" else None
    if target.kind == "report":
        # Reports change by report-status-change statements, which name no objection: a report
        # no longer VALID (revoked, superseded) is carried out; correction_message_ids say by
        # which statement.
        if target.state in ("REPORT_STATUS_REVOKED", "REPORT_STATUS_SUPERSEDED"):
            return "DELETED" if target.state == "REPORT_STATUS_REVOKED" else "SUPERSEDED"
        return None
    return None


def objection_handlers(
    *, calendar: WorkingDayCalendar | None = None, rulesets: Sequence[Ruleset] = RULESETS
) -> list[Handler]:
    """Both objection handlers, for ``default_handlers()``."""
    return [
        ObjectionHandler(calendar=calendar, rulesets=rulesets),
        ObjectionResolutionHandler(),
    ]
