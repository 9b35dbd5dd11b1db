"""Name lists: entries, the responsible persons' entries, and the lifecycle of both.

Two statement kinds have an effect here (``gateway/domain/projection``):

* ``name-list-entry`` lists a subject (state ``LISTED``). The determining permission was
  checked by the intake; the handler refuses an entry id already used
  (``NAME_LIST_ENTRY_EXISTS``), a statement that is not a fresh listing
  (``INVALID_INITIAL_STATE``: another state, or transitions filled in) and impossible dates
  (``INVALID_DATE``, ``INVALID_LISTING_PERIOD``). Each responsible person (legal representative
  etc., 2019 opinions item (12)) gets a matching personal entry.
* ``name-list-transition`` moves an entry through its lifecycle. It must come from the node
  that determined the entry (``PERMISSION_DENIED_DETERMINER``), name the entry's current state
  as ``from_state`` (``FROM_STATE_MISMATCH``, optimistic concurrency) and be allowed by
  :data:`ALLOWED_TRANSITIONS` (``INVALID_TRANSITION``). An unknown entry is
  ``NAME_LIST_ENTRY_NOT_FOUND``.

**Objects** (conventions of ``gateway/domain``):

``name-list-entry`` / ``<entry_id>``
    ``subject_key`` the subject's USCC or person token; ``state`` the ``NameListState`` name;
    ``body`` the ``NameListEntry`` with ``state`` the current state and ``transitions`` every
    accepted transition in log order (what ``GetNameListEntry`` returns); ``flags``
    ``disputed`` while ``UNDER_OBJECTION`` (see :func:`transition`); ``due_date`` the
    rectification deadline while ``RECTIFYING``, else the last day of the listing while the
    entry is in force (``None`` when it has none, and once the entry has ended).
    ``attrs``: ``list_type`` (``NameListType`` name), ``list_code``, ``region_code``,
    ``authority_uscc`` (determining authority), ``determination_date``, ``listing_start``,
    ``listing_end`` (ISO dates; ``listing_end`` ``""`` when open-ended), ``persons`` (number of
    responsible persons), ``last_reason`` (``TransitionReason`` name of the latest transition,
    ``""`` before the first).

``personal-name-list-entry`` / ``<entry_id>/<person_token>``
    One per responsible person: ``subject_key`` the person token (personal identifiers never
    appear in clear, only tokens), ``state``, ``body``, ``flags`` and ``due_date`` those of the
    entry (a personal entry follows its entry; it is derived from it and never read back),
    ``attrs``: ``entry_id``, ``roles`` (``ResponsibleRole`` names), ``list_type``,
    ``listing_start``, ``listing_end``.

**The lifecycle** lives in one public function, :func:`transition` (table
:data:`ALLOWED_TRANSITIONS`, the contract's rules in ``name_list.proto``), so that every
statement kind that moves an entry (objections, repair decisions) applies the same rules:
another handler calls :func:`apply_transition` with its own :class:`Logged` statement, which
writes the entry, its personal entries and the history events. The same function folds an
upstream's mirrored entries (:func:`replay`), so a region answers for the hub's entries with
the hub's lifecycle.

**Expiry is derived at read time**: an entry whose ``listing_end`` has passed (China Standard
Time) is ``EXPIRED`` for every reader (:func:`state_at`) without any statement; its stored state
stays what the last statement made it, and the only transition still accepted records the
expiry (to ``EXPIRED``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final

from creditlink.gateway.domain.measures import date_of
from creditlink.gateway.domain.projection import Handler, Logged, View
from creditlink.gateway.store.base import DomainEvent, DomainObject, ObjectKey
from creditlink.sdk.errors import (
    AlreadyExists,
    CreditlinkError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from creditlink.v1 import common_pb2, name_list_pb2, statement_pb2

__all__ = [
    "ACTIVE_STATES",
    "ALLOWED_TRANSITIONS",
    "CST",
    "ENTRY_KIND",
    "PERSONAL_KIND",
    "TERMINAL_STATES",
    "TRANSITION_KIND",
    "NameListEntryHandler",
    "NameListTransitionHandler",
    "apply_transition",
    "body_of",
    "check_determiner",
    "entry_object",
    "in_force",
    "name_list_handlers",
    "personal_object_id",
    "personal_objects",
    "replay",
    "state_at",
    "state_name",
    "transition",
]

_log = logging.getLogger(__name__)

ENTRY_KIND: Final = "name-list-entry"
TRANSITION_KIND: Final = "name-list-transition"
PERSONAL_KIND: Final = "personal-name-list-entry"
#: China Standard Time: listing dates are calendar dates there (common.proto).
CST: Final = timezone(timedelta(hours=8), "CST")

_S = name_list_pb2.NameListState
LISTED: Final = _S.Name(name_list_pb2.NAME_LIST_STATE_LISTED)
UNDER_OBJECTION: Final = _S.Name(name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION)
RECTIFYING: Final = _S.Name(name_list_pb2.NAME_LIST_STATE_RECTIFYING)
REPAIRED: Final = _S.Name(name_list_pb2.NAME_LIST_STATE_REPAIRED)
REMOVED: Final = _S.Name(name_list_pb2.NAME_LIST_STATE_REMOVED)
EXPIRED: Final = _S.Name(name_list_pb2.NAME_LIST_STATE_EXPIRED)

#: States in which the entry is in force and its measures apply.
ACTIVE_STATES: Final = frozenset({LISTED, UNDER_OBJECTION, RECTIFYING})
#: States an entry never leaves.
TERMINAL_STATES: Final = frozenset({REPAIRED, REMOVED, EXPIRED})
#: ``from -> allowed targets`` (name_list.proto, ``NameListState``): terminal states go nowhere,
#: a transition changes the state, and only UNDER_OBJECTION and RECTIFYING return to LISTED.
ALLOWED_TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    LISTED: frozenset({UNDER_OBJECTION, RECTIFYING, REPAIRED, REMOVED, EXPIRED}),
    UNDER_OBJECTION: frozenset({LISTED, RECTIFYING, REPAIRED, REMOVED, EXPIRED}),
    RECTIFYING: frozenset({LISTED, UNDER_OBJECTION, REPAIRED, REMOVED, EXPIRED}),
    REPAIRED: frozenset(),
    REMOVED: frozenset(),
    EXPIRED: frozenset(),
}
_DISPUTED: Final = "disputed"
#: Transitions an entry body keeps (the contract's limit on ``NameListEntry.transitions``).
_MAX_TRANSITIONS: Final = 256


def state_name(state: int | str) -> str:
    """The ``NameListState`` name of ``state`` (a value or a name); ``ValueError`` if unknown."""
    if isinstance(state, str):
        _S.Value(state)  # raises ValueError for a name the enum lacks
        name = state
    else:
        name = _S.Name(state)  # type: ignore[arg-type]  # any int; ValueError if unknown
    if name == "NAME_LIST_STATE_UNSPECIFIED":
        raise ValueError("the unspecified state is not a state")
    return name


def body_of(obj: DomainObject) -> name_list_pb2.NameListEntry:
    """The current ``NameListEntry`` of an entry (or personal entry) object."""
    return name_list_pb2.NameListEntry.FromString(obj.body)


def _cst_day(at: datetime) -> date:
    return at.astimezone(CST).date()


def _iso(value: common_pb2.Date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _ended(entry: name_list_pb2.NameListEntry, day: date) -> bool:
    """Whether the listing period is over on ``day`` (the last day is ``listing_end``)."""
    if not entry.HasField("listing_end"):
        return False
    return day > date(entry.listing_end.year, entry.listing_end.month, entry.listing_end.day)


def state_at(entry: name_list_pb2.NameListEntry, at: datetime) -> str:
    """The entry's state at the instant ``at``: transitions in effect by then, expiry derived.

    The state is the ``to_state`` of the last accepted transition (log order) whose
    ``effective_at`` is not after ``at`` (``LISTED`` before any), and ``EXPIRED`` instead of an
    active state once the listing period has ended (China Standard Time days).
    """
    state = LISTED
    for change in entry.transitions:
        if change.effective_at.ToDatetime(tzinfo=UTC) <= at:
            state = _S.Name(change.to_state)
    if state in ACTIVE_STATES and _ended(entry, _cst_day(at)):
        return EXPIRED
    return state


def in_force(entry: name_list_pb2.NameListEntry, at: datetime) -> bool:
    """Whether the entry applies at ``at``: its listing has started and it is in an active
    state (:func:`state_at`)."""
    start = entry.listing_start
    if _cst_day(at) < date(start.year, start.month, start.day):
        return False
    return state_at(entry, at) in ACTIVE_STATES


def _due(entry: name_list_pb2.NameListEntry, state: str) -> str | None:
    if state == RECTIFYING and entry.transitions:
        last = entry.transitions[-1]
        if last.HasField("rectification_deadline"):
            return _iso(last.rectification_deadline.due)
    if state in ACTIVE_STATES and entry.HasField("listing_end"):
        return _iso(entry.listing_end)
    return None


def _subject_key(entry: name_list_pb2.NameListEntry) -> str:
    return entry.subject.uscc or entry.subject.person_token


def entry_object(entry: name_list_pb2.NameListEntry, logged: Logged) -> DomainObject:
    """The object of a new entry, as ``logged`` lists it (state ``LISTED``)."""
    body = name_list_pb2.NameListEntry()
    body.CopyFrom(entry)
    body.state = name_list_pb2.NAME_LIST_STATE_LISTED
    del body.transitions[:]
    return DomainObject(
        kind=ENTRY_KIND,
        object_id=entry.entry_id,
        subject_key=_subject_key(entry) or None,
        state=LISTED,
        body=body.SerializeToString(deterministic=True),
        attrs={
            "list_type": name_list_pb2.NameListType.Name(entry.list_type),
            "list_code": entry.list_code,
            "region_code": entry.region_code,
            "authority_uscc": entry.determining_authority.uscc,
            "determination_date": _iso(entry.determination_date),
            "listing_start": _iso(entry.listing_start),
            "listing_end": _iso(entry.listing_end) if entry.HasField("listing_end") else "",
            "persons": len(entry.responsible_persons),
            "last_reason": "",
        },
        flags=frozenset(),
        due_date=_due(body, LISTED),
        origin_node_id=logged.sender_node_id,
        log_origin=logged.log_origin,
        created_leaf=logged.leaf_index,
        leaf_index=logged.leaf_index,
        updated_at=logged.at,
    )


def personal_object_id(entry_id: str, person_token: str) -> str:
    """``<entry_id>/<person_token>``: the personal entry of one responsible person."""
    return f"{entry_id}/{person_token}"


def personal_objects(entry_obj: DomainObject) -> list[DomainObject]:
    """The personal entries of an entry's responsible persons, in the entry's current state.

    Derived from the entry object alone (nothing to read): one per person token, with every
    role the entry gives that person.
    """
    entry = body_of(entry_obj)
    roles: dict[str, list[str]] = {}
    for person in entry.responsible_persons:
        token = person.person.person_token
        if token:  # required by the contract; a token is the only key a person has here
            roles.setdefault(token, []).append(name_list_pb2.ResponsibleRole.Name(person.role))
    return [
        DomainObject(
            kind=PERSONAL_KIND,
            object_id=personal_object_id(entry.entry_id, token),
            subject_key=token,
            state=entry_obj.state,
            body=entry_obj.body,
            attrs={
                "entry_id": entry.entry_id,
                "roles": person_roles,
                "list_type": entry_obj.attrs.get("list_type", ""),
                "listing_start": entry_obj.attrs.get("listing_start", ""),
                "listing_end": entry_obj.attrs.get("listing_end", ""),
            },
            flags=entry_obj.flags,
            due_date=entry_obj.due_date,
            origin_node_id=entry_obj.origin_node_id,
            log_origin=entry_obj.log_origin,
            created_leaf=entry_obj.created_leaf,
            leaf_index=entry_obj.leaf_index,
            updated_at=entry_obj.updated_at,
        )
        for token, person_roles in roles.items()
    ]


def _invalid(message: str) -> FailedPrecondition:
    return FailedPrecondition(message, reason="INVALID_TRANSITION")


def transition(
    entry_obj: DomainObject,
    new_state: int | str,
    logged: Logged,
    reason: str,
    *,
    reason_code: int = name_list_pb2.TRANSITION_REASON_OTHER,
    related_id: str = "",
    change: name_list_pb2.NameListTransition | None = None,
    disputed: bool | None = None,
) -> DomainObject:
    """THE lifecycle rule: ``entry_obj`` moved to ``new_state`` by ``logged``, or a refusal.

    Raises ``FailedPrecondition`` with reason ``INVALID_TRANSITION`` when the move is not in
    :data:`ALLOWED_TRANSITIONS` (terminal state, no change, LISTED to LISTED), when the listing
    period has already ended at ``logged.at`` (only recording the expiry is still allowed), or
    when the entry has no room for another transition.

    ``change`` is the signed ``NameListTransition`` when ``logged`` is one; other statements
    (an objection, a repair decision) leave it ``None`` and a transition is recorded for them
    with ``reason_code``, ``reason``, ``related_id`` and ``effective_at`` = ``logged.at``.
    ``disputed`` sets or clears the ``disputed`` flag; by default the entry is disputed exactly
    while ``UNDER_OBJECTION`` (name_list.proto), so entering it sets the flag and leaving it
    clears it. The returned object has the new state, body, flags, due date and attrs;
    :func:`apply_transition` also writes it, the personal entries and the events.
    """
    if entry_obj.kind != ENTRY_KIND:
        raise ValueError(f"transition() moves {ENTRY_KIND!r} objects, not {entry_obj.kind!r}")
    current = entry_obj.state
    target = state_name(new_state)
    if target == current:
        raise _invalid(f"entry {entry_obj.object_id} is already {current}")
    if target not in ALLOWED_TRANSITIONS.get(current, frozenset()):
        raise _invalid(f"entry {entry_obj.object_id} cannot go from {current} to {target}")
    body = body_of(entry_obj)
    if target != EXPIRED and _ended(body, _cst_day(logged.at)):
        raise _invalid(
            f"entry {entry_obj.object_id} expired after {_iso(body.listing_end)}; only its "
            f"expiry ({EXPIRED}) can still be recorded"
        )
    if len(body.transitions) >= _MAX_TRANSITIONS:
        raise _invalid(f"entry {entry_obj.object_id} has {_MAX_TRANSITIONS} transitions already")
    if change is None:
        change = name_list_pb2.NameListTransition(
            entry_id=entry_obj.object_id,
            from_state=_S.Value(current),
            to_state=_S.Value(target),
            reason_code=reason_code,  # type: ignore[arg-type]
            reason=reason,
            related_id=related_id,
        )
        change.effective_at.FromDatetime(logged.at)
    body.transitions.append(change)
    body.state = _S.Value(target)
    flags = set(entry_obj.flags)
    if disputed is None:
        disputed = target == UNDER_OBJECTION
    if disputed:
        flags.add(_DISPUTED)
    else:
        flags.discard(_DISPUTED)
    attrs = dict(entry_obj.attrs)
    attrs["last_reason"] = name_list_pb2.TransitionReason.Name(change.reason_code)
    return DomainObject(
        kind=ENTRY_KIND,
        object_id=entry_obj.object_id,
        subject_key=entry_obj.subject_key,
        state=target,
        body=body.SerializeToString(deterministic=True),
        attrs=attrs,
        flags=frozenset(flags),
        due_date=_due(body, target),
        origin_node_id=entry_obj.origin_node_id,
        log_origin=entry_obj.log_origin,
        created_leaf=entry_obj.created_leaf,
        leaf_index=logged.leaf_index,
        updated_at=logged.at,
    )


def _event(obj: DomainObject, logged: Logged, action: str, reason: str, seq: int) -> DomainEvent:
    return logged.event(obj.kind, obj.object_id, action, reason, seq=seq)


def _short(state: str) -> str:
    return state.removeprefix("NAME_LIST_STATE_")


def apply_transition(
    view: View,
    entry_obj: DomainObject,
    new_state: int | str,
    logged: Logged,
    reason: str,
    *,
    reason_code: int = name_list_pb2.TRANSITION_REASON_OTHER,
    related_id: str = "",
    change: name_list_pb2.NameListTransition | None = None,
    disputed: bool | None = None,
    seq: int = 0,
) -> DomainObject:
    """:func:`transition`, then write the entry, its personal entries and one event each.

    The events record who (``logged.sender_node_id``) and why (``<TransitionReason>: reason``),
    with action ``<FROM>-><TO>`` (short state names). ``seq`` orders several events one
    statement adds to the same object. Returns the moved entry.
    """
    moved = transition(
        entry_obj,
        new_state,
        logged,
        reason,
        reason_code=reason_code,
        related_id=related_id,
        change=change,
        disputed=disputed,
    )
    action = f"{_short(entry_obj.state)}->{_short(moved.state)}"
    why = f"{moved.attrs['last_reason']}: {reason}"
    view.put(moved)
    view.event(_event(moved, logged, action, why, seq))
    for personal in personal_objects(moved):
        view.put(personal)
        view.event(_event(personal, logged, action, why, seq))
    return moved


def check_determiner(entry_obj: DomainObject, sender_node_id: str) -> None:
    """Only the node that determined an entry signs its transitions.

    Raises ``PermissionDenied`` (``PERMISSION_DENIED_DETERMINER``). The intake checked that the
    sender may publish transitions within the statement's scopes; this binds a transition to
    the entry it moves, so another region cannot name an authority of its own and move an entry
    it did not determine.
    """
    if sender_node_id != entry_obj.origin_node_id:
        raise PermissionDenied(
            f"entry {entry_obj.object_id} was determined by {entry_obj.origin_node_id!r}; "
            f"{sender_node_id!r} may not move it",
            reason="PERMISSION_DENIED_DETERMINER",
        )


def _check_dates(entry: name_list_pb2.NameListEntry) -> None:
    field = "name_list_entry"
    date_of(entry.determination_date, f"{field}.determination_date")
    start = date_of(entry.listing_start, f"{field}.listing_start")
    if entry.HasField("listing_end"):
        end = date_of(entry.listing_end, f"{field}.listing_end")
        if end < start:
            raise InvalidArgument(
                f"the listing ends ({end}) before it starts ({start})",
                reason="INVALID_LISTING_PERIOD",
                field_violations=(FieldViolation(f"{field}.listing_end", "before listing_start"),),
            )


class NameListEntryHandler:
    """``name-list-entry``: a new entry (``LISTED``) and its responsible persons' entries."""

    kind = ENTRY_KIND

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The entry itself (it must not exist yet)."""
        return [(ENTRY_KIND, statement.name_list_entry.entry_id)]

    def apply(self, logged: Logged, view: View) -> None:
        """Create the entry and its personal entries, with one ``LISTED`` event each."""
        entry = logged.statement.name_list_entry
        if view.get(ENTRY_KIND, entry.entry_id) is not None:
            raise AlreadyExists(
                f"name-list entry {entry.entry_id} exists already",
                reason="NAME_LIST_ENTRY_EXISTS",
            )
        if entry.state != name_list_pb2.NAME_LIST_STATE_LISTED or entry.transitions:
            raise InvalidArgument(
                "a new name-list entry is LISTED and has no transitions",
                reason="INVALID_INITIAL_STATE",
                field_violations=(
                    FieldViolation("name_list_entry.state", "must be NAME_LIST_STATE_LISTED"),
                ),
            )
        _check_dates(entry)
        created = entry_object(entry, logged)
        view.put(created)
        view.event(_event(created, logged, _short(LISTED), entry.reason, 0))
        for personal in personal_objects(created):
            view.put(personal)
            view.event(_event(personal, logged, _short(LISTED), entry.reason, 0))


class NameListTransitionHandler:
    """``name-list-transition``: the determining node moves its entry (:func:`transition`)."""

    kind = TRANSITION_KIND

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The entry moved."""
        return [(ENTRY_KIND, statement.name_list_transition.entry_id)]

    def apply(self, logged: Logged, view: View) -> None:
        """Check who and from which state, then :func:`apply_transition`."""
        change = logged.statement.name_list_transition
        entry = view.get(ENTRY_KIND, change.entry_id)
        if entry is None:
            raise NotFound(
                f"no name-list entry {change.entry_id} in this log",
                reason="NAME_LIST_ENTRY_NOT_FOUND",
            )
        check_determiner(entry, logged.sender_node_id)
        claimed = _S.Name(change.from_state)
        if claimed != entry.state:
            raise FailedPrecondition(
                f"entry {change.entry_id} is {entry.state}, not {claimed}",
                reason="FROM_STATE_MISMATCH",
            )
        if change.HasField("rectification_deadline"):
            date_of(
                change.rectification_deadline.due,
                "name_list_transition.rectification_deadline.due",
            )
        apply_transition(
            view,
            entry,
            change.to_state,
            logged,
            change.reason,
            reason_code=change.reason_code,
            related_id=change.related_id,
            change=change,
        )


def replay(created: Logged, transitions: Iterable[Logged]) -> DomainObject:
    """Fold mirrored statements of one entry into its state, with :func:`transition`.

    ``created`` is the ``name-list-entry`` statement and ``transitions`` the
    ``name-list-transition`` statements of the same entry, in the origin's log order (as the
    feed mirrored them; ``Logged.at`` is when the origin logged each). A transition the origin
    could not have accepted (another entry, another signer, a stale ``from_state``, a move the
    lifecycle forbids) is skipped and logged: the origin refused it, or it predates these rules.
    """
    entry = entry_object(created.statement.name_list_entry, created)
    for logged in transitions:
        change = logged.statement.name_list_transition
        try:
            if change.entry_id != entry.object_id:
                raise _invalid(f"transition of {change.entry_id}, not {entry.object_id}")
            check_determiner(entry, logged.sender_node_id)
            if _S.Name(change.from_state) != entry.state:
                raise _invalid(f"from {_S.Name(change.from_state)}, entry is {entry.state}")
            entry = transition(
                entry,
                change.to_state,
                logged,
                change.reason,
                reason_code=change.reason_code,
                related_id=change.related_id,
                change=change,
            )
        except CreditlinkError as exc:
            _log.warning(
                "name lists: mirrored transition at leaf %d of %s skipped: %s (%s)",
                logged.leaf_index,
                logged.log_origin,
                exc.message,
                exc.reason,
            )
    return entry


def name_list_handlers() -> list[Handler]:
    """The handlers of this module, for ``default_handlers()``."""
    return [NameListEntryHandler(), NameListTransitionHandler()]
