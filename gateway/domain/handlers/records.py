"""The domain effect of ``record`` and ``record-correction`` statements: credit records.

A credit record is one domain object (kind ``"record"``, id ``CreditRecord.record_id``,
subject key the subject's USCC or person token) whose ``body`` is the ``CreditRecord`` at its
latest revision, serialized. Every revision stays in the log; the object only points at them.

Statements and what they do
---------------------------
* ``record`` at revision 1 creates the record (``RECORD_ALREADY_EXISTS`` if the id is taken).
  A ``record`` statement at a later revision replaces the content like a correction without a
  reason (event ``REVISE``); ``RecordService.SubmitRecords`` takes revision 1 only, as its
  contract says, but the log may carry later revisions from other producers, and they must
  chain exactly like a correction's.
* ``record-correction`` of kind CORRECT carries the complete next revision (event ``CORRECT``);
  REVOKE withdraws the record (state ``RECORD_STATUS_REVOKED``, event ``REVOKE``); EXPIRE ends
  its publication (state ``RECORD_STATUS_EXPIRED``, event ``EXPIRE``). The event's ``reason``
  is ``"<CorrectionReason name>: <reason text>"``.

A new revision must **chain**: the same ``record_id``, ``revision`` = current + 1,
``previous_revision_message_id`` = the message id of the statement that carries the current
revision, the same subject identifier (the display name may change), and status ACTIVE as
signed (gateways derive every other status). Refusals, each with its reason, log nothing:

=========================  ==================  ===============================================
reason                     error               when
=========================  ==================  ===============================================
RECORD_ALREADY_EXISTS      AlreadyExists       revision 1 for an id that exists
RECORD_NOT_FOUND           NotFound            a revision or correction for an unknown id
REVISION_OUT_OF_ORDER      FailedPrecondition  revision is not current + 1
REVISION_CHAIN_BROKEN      FailedPrecondition  previous_revision_message_id is not the current
SUBJECT_CHANGED            FailedPrecondition  a revision names another subject
RECORD_REVOKED             FailedPrecondition  any change to a revoked record
RECORD_NOT_ACTIVE          FailedPrecondition  EXPIRE of a record that is not ACTIVE
RECORD_ID_MISMATCH         InvalidArgument     a CORRECT whose revision is of another record
RECORD_STATUS_NOT_ACTIVE   InvalidArgument     a signed revision with a status other than ACTIVE
INVALID_DATE               InvalidArgument     a date that does not exist (30 February)
NOT_RECORD_PUBLISHER       PermissionDenied    see "Who may change a record"
=========================  ==================  ===============================================

Who may change a record: the node that published it (``origin_node_id``), or a node acting for
the record's deciding authority, i.e. a correction whose ``authority`` (a revision whose
``authority``) has the USCC of the current revision's deciding authority. The intake has
already checked that the sender may publish within that authority's scopes (trust bundle).
A CORRECT keeps the publication state (a correction changes content, not status), so a
repaired or expired record stays so; nothing changes a revoked record.

Publication deadline, overdue, publication end
----------------------------------------------
* **Publication deadline** (attr ``publication_deadline``): for administrative acts only — the
  categories licensing, penalty, coercion, confirmation, collection, payment, ruling,
  compensation, reward and inspection, which item (15) of the 2019 opinions requires to be
  published within 7 working days of the decision — the 7th working day after
  ``decision_date`` on the :class:`~creditlink.gateway.domain.calendar.WorkingDayCalendar`
  (:func:`~creditlink.gateway.domain.rulesets.publication_deadline`). When the calendar has no
  holiday schedule for a year it counted (a December 2026 decision with chinesecalendar 1.11),
  the deadline is provisional: ``deadline_provisional`` is true and ``deadline_note`` says why.
* **Published on** (``published_on``): the day, in China Standard Time (Asia/Shanghai), on
  which revision 1 was logged here. It is fixed with revision 1 and never moves.
* **Overdue** (flag ``overdue``): published after the deadline (``published_on`` later than
  ``publication_deadline``). Judged again at every revision against the same ``published_on``
  (a correction of the decision date corrects the judgement too); a provisional judgement is
  re-judged on read by the service with its calendar.
* **Publication end** (``publication_end``): the last day the record is published, the earlier
  of the day the record declares (``CreditRecord.publication_end``, attr
  ``declared_publication_end``) and the end of the maximum period of the ruleset in force on
  the decision date (``ruleset_publication_end``; for minor, general and serious
  untrustworthiness only). After it the record is no longer published: it is **not** stored
  as a new state (nothing is logged on that day), readers derive it — :func:`derived_status`
  reports an ACTIVE record past its ``publication_end`` as ``RECORD_STATUS_EXPIRED``.
* **due_date**: ``publication_end`` while the state is ACTIVE (the next thing due is the end of
  publication), else ``None``. So ``DomainQuery(states=[ACTIVE], due_before=today)`` finds the
  records still ACTIVE past their end: publication overruns, until the publisher logs EXPIRE.

Attrs (the ``attrs`` JSON of a record object)
---------------------------------------------
Written by these handlers on every revision; another handler changing a record object (repair,
objections) copies the attrs and changes only its own keys.

==========================  ==========================================================
key                         value
==========================  ==========================================================
revision                    int, the current revision number
message_id                  str, message id of the statement carrying the current revision
                            (what the next revision's ``previous_revision_message_id`` names)
revision_leaves             list[int], leaf (this log) of the statement carrying each revision,
                            index ``revision - 1``: earlier revisions are read from the log
category                    str, ``RecordCategory`` name
severity                    str, ``Severity`` name
decision_date               str, ISO date
region_code                 str, the record's GB/T 2260 region code ('' if none)
authority_uscc              str, USCC of the deciding authority ('' if none)
published_on                str, ISO date (China time) revision 1 was logged here
publication_deadline        str | None, ISO date; None where no deadline applies
deadline_provisional        bool
deadline_note               str | None, why the deadline is provisional
ruleset_id                  str, ruleset in force on the decision date ('' if none)
minimum_publication_end     str | None, ISO, end of the ruleset's minimum period
ruleset_publication_end     str | None, ISO, end of the ruleset's maximum period
declared_publication_end    str | None, ISO, ``CreditRecord.publication_end``
publication_end             str | None, ISO, the effective last day of publication
correction_kind             str | None, ``CorrectionKind`` name of the last correction
correction_reason_code      str | None, its ``CorrectionReason`` name
correction_effective_date   str | None, its ISO effective date
objection_id                str | None, the objection the last correction names, if any
open_objection_ids          list[str], kept if present: owned by the objection handlers,
                            which also own the ``disputed`` flag
==========================  ==========================================================

``state`` is ``RECORD_STATUS_ACTIVE``, ``_REVOKED`` or ``_EXPIRED`` here (``_REPAIRED`` is set
by the repair handlers); ``origin_node_id`` the node that published revision 1; ``leaf_index``
the statement that last changed the object (a revocation, say), not necessarily the revision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from creditlink.gateway.domain.calendar import Deadline, WorkingDayCalendar
from creditlink.gateway.domain.projection import Logged, View
from creditlink.gateway.domain.rulesets import (
    RULESETS,
    NoPublicationPeriod,
    NoRulesetInForce,
    Ruleset,
    publication_deadline,
    publication_window,
    ruleset_for,
)
from creditlink.gateway.store.base import DomainObject, ObjectKey
from creditlink.sdk.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from creditlink.v1 import common_pb2, record_pb2, statement_pb2

__all__ = [
    "ACTIVE",
    "ADMINISTRATIVE_ACTS",
    "CHINA",
    "EXPIRED",
    "KIND",
    "OVERDUE",
    "REPAIRED",
    "REVOKED",
    "RecordCorrectionHandler",
    "RecordHandler",
    "china_date",
    "date_of",
    "date_pb",
    "derived_status",
    "record_handlers",
    "subject_key_of",
]

#: Object kind of a credit record (the statement kind that creates it).
KIND: Final = "record"
#: Decision dates and severities whose periods a handler remembers.
_MAX_REMEMBERED: Final = 4096
#: Flag: published after its publication deadline.
OVERDUE: Final = "overdue"

ACTIVE: Final = record_pb2.RecordStatus.Name(record_pb2.RECORD_STATUS_ACTIVE)
REVOKED: Final = record_pb2.RecordStatus.Name(record_pb2.RECORD_STATUS_REVOKED)
EXPIRED: Final = record_pb2.RecordStatus.Name(record_pb2.RECORD_STATUS_EXPIRED)
REPAIRED: Final = record_pb2.RecordStatus.Name(record_pb2.RECORD_STATUS_REPAIRED)

#: Categories of administrative acts, due for publication within 7 working days of the
#: decision (2019 opinions, item (15): licensing and penalties, and "coercion, confirmation,
#: collection, payment, ruling, compensation, reward and inspection").
ADMINISTRATIVE_ACTS: Final = frozenset(
    {
        record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_LICENSING,
        record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY,
        record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_COERCION,
        record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_CONFIRMATION,
        record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_COLLECTION,
        record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PAYMENT,
        record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_RULING,
        record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_COMPENSATION,
        record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_REWARD,
        record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_INSPECTION,
    }
)

try:
    CHINA: dt.tzinfo = ZoneInfo("Asia/Shanghai")
except ZoneInfoNotFoundError:  # pragma: no cover - a host without a time zone database
    # China has kept UTC+8 without daylight saving since 1991: the same day for every date a
    # record can carry.
    CHINA = dt.timezone(dt.timedelta(hours=8), "CST")


def china_date(at: dt.datetime) -> dt.date:
    """The day ``at`` (timezone-aware) falls on in China Standard Time."""
    if at.utcoffset() is None:
        raise ValueError(f"{at!r} is naive: the day depends on the time zone")
    return at.astimezone(CHINA).date()


def date_of(value: common_pb2.Date, field: str, name: str = "") -> dt.date:
    """A ``creditlink.v1.Date`` as a date; ``INVALID_DATE`` naming ``field`` (and ``.name``, if
    given) if it does not exist.

    The contract checks the ranges of year, month and day; that the day exists in the month is
    checked here.
    """
    try:
        return dt.date(value.year, value.month, value.day)
    except ValueError as exc:
        if name:
            field = f"{field}.{name}"
        text = f"{value.year:04d}-{value.month:02d}-{value.day:02d} is not a date"
        raise InvalidArgument(
            f"{field}: {text}",
            reason="INVALID_DATE",
            field_violations=(FieldViolation(field, f"{text} ({exc})"),),
        ) from None


def date_pb(day: dt.date) -> common_pb2.Date:
    """A date as a ``creditlink.v1.Date``."""
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


def subject_key_of(record: record_pb2.CreditRecord) -> str:
    """The record's subject key: the subject's USCC, or its person token."""
    subject = record.subject
    return subject.uscc or subject.person_token


def derived_status(obj: DomainObject, today: dt.date) -> str:
    """The status a reader sees on ``today`` (China time): the state, or EXPIRED once an
    ACTIVE record is past its publication end (publication stops by itself on that day)."""
    end = obj.attrs.get("publication_end")
    if obj.state == ACTIVE and isinstance(end, str) and end < today.isoformat():
        return EXPIRED
    return obj.state


def _name(enum: object, value: int) -> str:
    try:
        return enum.Name(value)  # type: ignore[attr-defined, no-any-return]
    except ValueError:
        return str(value)


#: Value names of the enums every record's attrs name (looked up once per record, on the
#: ledger's single writer: a dict is cheaper than the enum wrapper's Name()).
_CATEGORY_NAMES: Final = {v.number: v.name for v in record_pb2.RecordCategory.DESCRIPTOR.values}
_SEVERITY_NAMES: Final = {v.number: v.name for v in record_pb2.Severity.DESCRIPTOR.values}


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


@dataclass(frozen=True, slots=True)
class _Periods:
    """What the calendar and the rulesets say about one decision date and severity: the
    deadline and the ruleset's latest end (compared per record), and the attrs that follow from
    them alone, rendered once (shared by every record: merged into its attrs, never changed)."""

    deadline: Deadline | None
    maximum_end: dt.date | None
    rendered: Mapping[str, object]


class _Derivation:
    """Deadline, overdue judgement and publication end of one revision (see the docstring)."""

    def __init__(self, calendar: WorkingDayCalendar, rulesets: Sequence[Ruleset]) -> None:
        self._calendar = calendar
        self._rulesets = rulesets
        # The records of a batch mostly share decision dates and severities, and the answer
        # for one (calendar and rulesets fixed) never changes: remember it. This runs on the
        # ledger's single writer, so it is worth more than its few lines.
        self._periods: dict[tuple[dt.date, record_pb2.Severity.ValueType, bool], _Periods] = {}

    def _lookup(
        self, decided: dt.date, severity: record_pb2.Severity.ValueType, act: bool
    ) -> _Periods:
        key = (decided, severity, act)
        known = self._periods.get(key)
        if known is not None:
            return known
        deadline = publication_deadline(decided, self._calendar) if act else None
        ruleset_id = ""
        minimum_end = maximum_end = None
        try:
            ruleset = ruleset_for(decided, self._rulesets)
            ruleset_id = ruleset.id
            window = publication_window(severity, decided, ruleset)
            minimum_end, maximum_end = window.minimum_end, window.maximum_end
        except (NoRulesetInForce, NoPublicationPeriod, ValueError):
            # Decided before the first ruleset, a severity the ruleset sets no period for, or
            # no untrustworthiness at all (licences, honours): no period from the ruleset.
            pass
        rendered = {
            "decision_date": decided.isoformat(),
            "publication_deadline": _iso(deadline.date) if deadline else None,
            "deadline_provisional": bool(deadline and deadline.provisional),
            "deadline_note": deadline.reason if deadline else None,
            "ruleset_id": ruleset_id,
            "minimum_publication_end": _iso(minimum_end),
            "ruleset_publication_end": _iso(maximum_end),
        }
        periods = _Periods(deadline, maximum_end, rendered)
        if len(self._periods) >= _MAX_REMEMBERED:
            self._periods.clear()  # bounded; forgetting only costs recomputation
        self._periods[key] = periods
        return periods

    def attrs(
        self, record: record_pb2.CreditRecord, published_on: dt.date, field: str
    ) -> tuple[dict[str, object], bool]:
        """The derived attrs of ``record`` (at ``field`` in the statement) and whether it is
        overdue."""
        decided = date_of(record.decision_date, field, "decision_date")
        declared = (
            date_of(record.publication_end, field, "publication_end")
            if record.HasField("publication_end")
            else None
        )
        category, severity = record.category, record.severity
        periods = self._lookup(decided, severity, category in ADMINISTRATIVE_ACTS)
        deadline = periods.deadline
        maximum_end = periods.maximum_end
        if declared is None:
            end = periods.rendered["ruleset_publication_end"]
            declared_text = None
        else:
            declared_text = declared.isoformat()
            end = (
                declared_text
                if maximum_end is None or declared <= maximum_end
                else _iso(maximum_end)
            )
        attrs: dict[str, object] = {
            "category": _CATEGORY_NAMES.get(category) or str(category),
            "severity": _SEVERITY_NAMES.get(severity) or str(severity),
            "region_code": record.region_code,
            "authority_uscc": record.authority.uscc,
            "published_on": published_on.isoformat(),
            **periods.rendered,
            "declared_publication_end": declared_text,
            "publication_end": end,
        }
        overdue = deadline is not None and published_on > deadline.date
        return attrs, overdue


class _Records:
    """What the two handlers share: reading the record, chaining and writing revisions."""

    kind: str

    def __init__(
        self,
        *,
        calendar: WorkingDayCalendar | None = None,
        rulesets: Sequence[Ruleset] = RULESETS,
    ) -> None:
        """Derive deadlines on ``calendar`` (the package's alone by default) and publication
        periods from ``rulesets``."""
        self._derive = _Derivation(calendar or WorkingDayCalendar(), rulesets)
        self._last_day: tuple[dt.datetime, dt.date] | None = None

    def _china_day(self, at: dt.datetime) -> dt.date:
        # Every statement of an append is logged at the same instant: convert it once.
        last = self._last_day
        if last is None or last[0] != at:
            last = self._last_day = (at, china_date(at))
        return last[1]

    # -- writing ---------------------------------------------------------------------------

    def _revision(
        self,
        logged: Logged,
        view: View,
        record: record_pb2.CreditRecord,
        current: DomainObject | None,
        *,
        field: str,
        action: str,
        reason: str,
        correction: record_pb2.RecordCorrection | None = None,
    ) -> None:
        """Write ``record`` as the record's new current revision (the chain is checked)."""
        if record.status != record_pb2.RECORD_STATUS_ACTIVE:
            raise InvalidArgument(
                f"{field}.status: a signed revision is ACTIVE; gateways derive other statuses",
                reason="RECORD_STATUS_NOT_ACTIVE",
                field_violations=(FieldViolation(f"{field}.status", "must be ACTIVE"),),
            )
        if current is None:
            published_on = self._china_day(logged.at)
            leaves: list[int] = []
            state, flags, kept = ACTIVE, frozenset[str](), {}
            origin, created = logged.sender_node_id, logged.leaf_index
        else:
            published_on = dt.date.fromisoformat(str(current.attrs["published_on"]))
            leaves = [int(str(leaf)) for leaf in _list(current.attrs.get("revision_leaves"))]
            state, flags, kept = current.state, current.flags, dict(current.attrs)
            origin, created = current.origin_node_id, current.created_leaf
        derived, overdue = self._derive.attrs(record, published_on, field)
        attrs: dict[str, object] = {
            **kept,
            **derived,
            "revision": record.revision,
            "message_id": logged.message_id,
            "revision_leaves": [*leaves, logged.leaf_index],
        }
        if correction is not None:
            attrs.update(_correction_attrs(correction))
        flags = (flags | {OVERDUE}) if overdue else (flags - {OVERDUE})
        self._put(logged, view, record, current, state, attrs, flags, origin, created)
        self._event(logged, view, record.record_id, action, reason)

    def _put(
        self,
        logged: Logged,
        view: View,
        record: record_pb2.CreditRecord,
        current: DomainObject | None,
        state: str,
        attrs: Mapping[str, object],
        flags: frozenset[str],
        origin: str,
        created: int,
    ) -> None:
        end = attrs.get("publication_end")
        view.put(
            DomainObject(
                kind=KIND,
                object_id=record.record_id,
                subject_key=subject_key_of(record) or None,
                state=state,
                # Deterministic, so the stored body of a revision is the same on every node
                # that projects the same statement.
                body=record.SerializeToString(deterministic=True),
                attrs=dict(attrs),
                flags=flags,
                due_date=end if state == ACTIVE and isinstance(end, str) else None,
                origin_node_id=origin,
                log_origin=logged.log_origin,
                created_leaf=created,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )

    @staticmethod
    def _event(logged: Logged, view: View, record_id: str, action: str, reason: str) -> None:
        view.event(logged.event(KIND, record_id, action, reason))

    # -- checks ----------------------------------------------------------------------------

    @staticmethod
    def _existing(view: View, record_id: str) -> DomainObject:
        current = view.get(KIND, record_id)
        if current is None:
            raise NotFound(f"no record {record_id!r}", reason="RECORD_NOT_FOUND")
        if current.state == REVOKED:
            raise FailedPrecondition(
                f"record {record_id!r} is revoked: it cannot change any more",
                reason="RECORD_REVOKED",
            )
        return current

    @staticmethod
    def _authorized(logged: Logged, current: DomainObject, authority_uscc: str) -> None:
        if logged.sender_node_id == current.origin_node_id:
            return
        published = record_pb2.CreditRecord.FromString(current.body)
        if authority_uscc and authority_uscc == published.authority.uscc:
            return  # a node acting for the deciding authority (the intake checked its scope)
        raise PermissionDenied(
            f"{logged.sender_node_id!r} neither published record {current.object_id!r} nor "
            "acts for its deciding authority",
            reason="NOT_RECORD_PUBLISHER",
        )

    @staticmethod
    def _chained(record: record_pb2.CreditRecord, current: DomainObject, field: str) -> None:
        revision = int(str(current.attrs["revision"]))
        if record.revision != revision + 1:
            raise FailedPrecondition(
                f"{field}.revision is {record.revision}; record {record.record_id!r} is at "
                f"revision {revision}, so the next one is {revision + 1}",
                reason="REVISION_OUT_OF_ORDER",
            )
        if record.previous_revision_message_id != current.attrs["message_id"]:
            raise FailedPrecondition(
                f"{field}.previous_revision_message_id does not name the statement of revision "
                f"{revision} of record {record.record_id!r}",
                reason="REVISION_CHAIN_BROKEN",
            )
        if subject_key_of(record) != current.subject_key:
            raise FailedPrecondition(
                f"{field}.subject: a revision of record {record.record_id!r} names another "
                "subject (revoke it and publish a new record instead)",
                reason="SUBJECT_CHANGED",
            )


class RecordHandler(_Records):
    """``record``: revision 1 creates a record; a later revision replaces it (chained)."""

    kind = "record"

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The record the statement is about."""
        return [(KIND, statement.record.record_id)]

    def apply(self, logged: Logged, view: View) -> None:
        """Create the record, or write its next revision; refuse what does not chain."""
        record = logged.statement.record
        if record.revision <= 1:
            if view.get(KIND, record.record_id) is not None:
                raise AlreadyExists(
                    f"record {record.record_id!r} exists; a change is a record-correction",
                    reason="RECORD_ALREADY_EXISTS",
                )
            self._revision(logged, view, record, None, field="record", action="CREATE", reason="")
            return
        current = self._existing(view, record.record_id)
        self._authorized(logged, current, record.authority.uscc)
        self._chained(record, current, "record")
        self._revision(logged, view, record, current, field="record", action="REVISE", reason="")


class RecordCorrectionHandler(_Records):
    """``record-correction``: CORRECT (next revision), REVOKE or EXPIRE, with the reason."""

    kind = "record-correction"

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The record corrected."""
        return [(KIND, statement.record_correction.record_id)]

    def apply(self, logged: Logged, view: View) -> None:
        """Apply the correction; refuse it for an unknown, revoked or unchained record."""
        correction = logged.statement.record_correction
        current = self._existing(view, correction.record_id)
        self._authorized(logged, current, correction.authority.uscc)
        # The contract's "record_correction.replacement" rule (checked by the intake) ties a
        # replacement to CORRECT; its effective date must still be a real day.
        date_of(correction.effective_date, "record_correction.effective_date")
        action = _name(record_pb2.CorrectionKind, correction.kind).removeprefix("CORRECTION_KIND_")
        reason = (
            f"{_name(record_pb2.CorrectionReason, correction.reason_code)}: {correction.reason}"
        )
        if correction.kind == record_pb2.CORRECTION_KIND_CORRECT:
            record = correction.record
            if record.record_id != correction.record_id:
                raise InvalidArgument(
                    "record_correction.record is a revision of another record",
                    reason="RECORD_ID_MISMATCH",
                    field_violations=(
                        FieldViolation(
                            "record_correction.record.record_id", "must equal record_id"
                        ),
                    ),
                )
            self._chained(record, current, "record_correction.record")
            self._revision(
                logged,
                view,
                record,
                current,
                field="record_correction.record",
                action=action,
                reason=reason,
                correction=correction,
            )
            return
        if correction.kind == record_pb2.CORRECTION_KIND_REVOKE:
            state = REVOKED
        elif correction.kind == record_pb2.CORRECTION_KIND_EXPIRE:
            if current.state != ACTIVE:
                raise FailedPrecondition(
                    f"record {correction.record_id!r} is {current.state}, not ACTIVE: its "
                    "publication has already ended",
                    reason="RECORD_NOT_ACTIVE",
                )
            state = EXPIRED
        else:  # the contract refuses UNSPECIFIED; an unknown future kind changes nothing here
            raise InvalidArgument(
                f"unknown correction kind {correction.kind}", reason="CONSTRAINT_VIOLATION"
            )
        record = record_pb2.CreditRecord.FromString(current.body)
        attrs = {**current.attrs, **_correction_attrs(correction)}
        self._put(
            logged,
            view,
            record,
            current,
            state,
            attrs,
            current.flags,
            current.origin_node_id,
            current.created_leaf,
        )
        self._event(logged, view, correction.record_id, action, reason)


def record_handlers(
    *, calendar: WorkingDayCalendar | None = None, rulesets: Sequence[Ruleset] = RULESETS
) -> list[RecordHandler | RecordCorrectionHandler]:
    """Both record handlers, sharing one calendar and ruleset table."""
    shared = calendar or WorkingDayCalendar()
    return [
        RecordHandler(calendar=shared, rulesets=rulesets),
        RecordCorrectionHandler(calendar=shared, rulesets=rulesets),
    ]


def _correction_attrs(correction: record_pb2.RecordCorrection) -> dict[str, object]:
    effective = correction.effective_date
    return {
        "correction_kind": _name(record_pb2.CorrectionKind, correction.kind),
        "correction_reason_code": _name(record_pb2.CorrectionReason, correction.reason_code),
        "correction_effective_date": (
            f"{effective.year:04d}-{effective.month:02d}-{effective.day:02d}"
        ),
        "objection_id": correction.objection_id or None,
    }


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []
