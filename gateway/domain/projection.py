"""The domain state as a projection of logged statements, applied with the append.

Every state change of the credit services is a signed statement in the transparency log
(DESIGN.md step 5: "appends to its transparency log, applies the domain effect ... in one
transaction"). This module turns the statements of one ledger append into
:class:`~creditlink.gateway.store.base.DomainChanges` (objects and their history), or refuses
a statement whose effect is not allowed in the current state (an illegal name-list transition,
a decision on an objection that does not exist) before anything is logged::

    projection = Projection([RecordHandler(), NameListHandler(), ...])
    plan = await projection.plan(tx.get_objects, submissions, first_leaf=head.size, at=now, ...)
    # plan.refused: {position: error}; plan.changes: written with the append

Handlers are per statement kind (``gateway/domain/handlers``). Each declares the objects a
statement reads (:meth:`Handler.reads`, fetched for the whole append in one query) and applies
the statement to a :class:`View` of the current state: it may read those objects, put new
states and add events, or raise a :class:`~creditlink.sdk.errors.CreditlinkError` to refuse
the statement. A refused submission logs nothing (a batch is all or nothing) and the leaves of
the ones after it move up, exactly as the ledger will assign them; what a submission changed
is visible to the submissions after it in the same append.

Statements of kinds no handler claims are logged with no domain effect.

Reads that depend on stored state: a statement may name an object whose own state names the
objects to change (an ``objection-resolution`` names the objection; the objection names the
records it disputes). A handler that needs those declares them in an optional
``reads_after(statement, found)`` (:class:`FollowingReads`): ``found`` holds the objects of the
first lookup, and the keys it returns are fetched in one more lookup for the whole append,
before any statement is applied.

Reads of the statement that created an object: a handler may need what an object's creating
statement said beyond what the object keeps, e.g. the nodes it was addressed to (the nodes that
hold a copy of the object; a repair decision must reach them all). It declares those objects in
an optional ``reads_creators(statement)`` (:class:`CreatorReads`; each key also among its
``reads``) and reads the statement with :meth:`View.created_by`. The projection fetches the
creating statements of stored objects from the log (``entries``, one lookup for the whole
append) and knows those created earlier in the same append itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from creditlink.gateway.ledger import Submission
from creditlink.gateway.store.base import (
    DomainChanges,
    DomainEvent,
    DomainObject,
    EntryRow,
    ObjectKey,
)
from creditlink.sdk.errors import CreditlinkError, FailedPrecondition
from creditlink.v1 import statement_pb2

__all__ = [
    "CreatorReads",
    "EntryLookup",
    "FollowingReads",
    "Handler",
    "Logged",
    "Plan",
    "Projection",
    "View",
]

#: Longest reason kept in an event (the statement itself keeps the whole text).
_MAX_REASON = 1024

Lookup = Callable[[Collection[ObjectKey]], Awaitable[Mapping[ObjectKey, DomainObject]]]
#: Reads entries of this node's log by leaf index (committed ones; missing leaves left out).
EntryLookup = Callable[[Collection[int]], Awaitable[Mapping[int, EntryRow]]]


@dataclass(frozen=True, slots=True)
class Logged:
    """A statement as it is being logged: where, when, and who signed it."""

    statement: statement_pb2.Statement
    kind: str
    message_id: str
    sender_node_id: str
    log_origin: str
    leaf_index: int
    at: datetime

    @property
    def body(self) -> object:
        """The statement's body message (``statement.<kind>``)."""
        return getattr(self.statement, self.statement.WhichOneof("body") or "")

    def event(
        self, kind: str, object_id: str, action: str, reason: str = "", *, seq: int = 0
    ) -> DomainEvent:
        """The history event this statement makes on one object: who (the signer) did what
        and why, at this statement's leaf (``seq`` orders several events on one object)."""
        return DomainEvent(
            kind=kind,
            object_id=object_id,
            log_origin=self.log_origin,
            leaf_index=self.leaf_index,
            seq=seq,
            action=action,
            actor_node_id=self.sender_node_id,
            reason=reason[:_MAX_REASON],
            message_id=self.message_id,
            at=self.at,
        )


class View:
    """The domain state a handler sees: stored objects, plus what this append changed so far.

    ``node_id`` is the node whose log this is (the node logging the statements; ``""`` when
    the projection was not told), ``log_origin`` that log's origin.
    """

    def __init__(
        self,
        stored: Mapping[ObjectKey, DomainObject],
        *,
        node_id: str = "",
        log_origin: str = "",
        statements: Mapping[int, statement_pb2.Statement] | None = None,
    ) -> None:
        self._stored = stored
        self._written: dict[ObjectKey, DomainObject] = {}
        self._events: list[DomainEvent] = []
        self._allowed: set[ObjectKey] = set(stored)
        self.node_id = node_id
        self.log_origin = log_origin
        # Statements of this log by leaf: the creating statements fetched for the append,
        # and every statement of the append applied so far (a child adds its own to those of
        # its parent, ``_earlier``, without copying them).
        self._statements: dict[int, statement_pb2.Statement] = dict(statements or {})
        self._earlier: Mapping[int, statement_pb2.Statement] = {}

    def allow(self, keys: Iterable[ObjectKey]) -> None:
        """Keys fetched for a statement (found or not): the ones :meth:`get` may be asked for."""
        self._allowed.update(keys)

    def get(self, kind: str, object_id: str) -> DomainObject | None:
        """The object's current state, or ``None`` if it does not exist (yet)."""
        key = (kind, object_id)
        if key in self._written:
            return self._written[key]
        if key not in self._allowed:
            # A handler that reads what it did not declare would see "absent" for an object
            # that exists: a bug, not a state.
            raise RuntimeError(f"{key} was not declared by the handler's reads()")
        return self._stored.get(key)

    def put(self, obj: DomainObject) -> None:
        """Set the object's new state (visible to later statements of this append)."""
        self._written[obj.key] = obj
        self._allowed.add(obj.key)

    def event(self, event: DomainEvent) -> None:
        """Add one history event."""
        self._events.append(event)

    def created_by(self, obj: DomainObject) -> statement_pb2.Statement:
        """The statement that created ``obj`` (at its ``created_leaf`` in this log).

        Only for objects whose key the handler declared in ``reads_creators``
        (:class:`CreatorReads`), or that a statement of this append created.
        """
        statement = None
        if obj.log_origin == self.log_origin:
            statement = self._statements.get(obj.created_leaf)
            if statement is None:
                statement = self._earlier.get(obj.created_leaf)
        if statement is None:
            raise RuntimeError(
                f"the statement that created {obj.key} (leaf {obj.created_leaf} of "
                f"{obj.log_origin!r}) was not read: declare it in reads_creators()"
            )
        return statement

    def _logged(self, leaf_index: int, statement: statement_pb2.Statement) -> None:
        self._statements[leaf_index] = statement

    def _child(self) -> View:
        child = View(self._stored, node_id=self.node_id, log_origin=self.log_origin)
        child._allowed = self._allowed
        child._written = dict(self._written)
        child._earlier = self._statements
        return child

    def _adopt(self, child: View) -> None:
        self._written = child._written
        self._events.extend(child._events)
        self._statements.update(child._statements)

    def changes(self) -> DomainChanges:
        """Everything written, for one :meth:`Transaction.apply_domain`."""
        return DomainChanges(objects=list(self._written.values()), events=list(self._events))


class Handler(Protocol):
    """The domain effect of one statement kind (see the module docstring)."""

    #: The statement kind handled, e.g. ``"record"`` (the kebab-case body name).
    kind: str

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The objects applying ``statement`` needs to read (fetched before :meth:`apply`)."""
        ...

    def apply(self, logged: Logged, view: View) -> None:
        """Apply ``logged`` to ``view``, or raise a ``CreditlinkError`` to refuse it."""
        ...


class FollowingReads(Protocol):
    """Optional for a :class:`Handler`: objects to read that the stored state names."""

    def reads_after(
        self, statement: statement_pb2.Statement, found: Mapping[ObjectKey, DomainObject]
    ) -> Iterable[ObjectKey]:
        """More keys to fetch, given ``found``: the objects :meth:`Handler.reads` found."""
        ...


class CreatorReads(Protocol):
    """Optional for a :class:`Handler`: objects whose creating statement it reads."""

    def reads_creators(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """Keys (among :meth:`Handler.reads`) whose creating statement :meth:`Handler.apply`
        reads with :meth:`View.created_by`."""
        ...


@dataclass(slots=True)
class Plan:
    """The outcome of projecting one append: what is refused and what is written."""

    refused: dict[int, CreditlinkError] = field(default_factory=dict)
    changes: DomainChanges = field(default_factory=DomainChanges)


class Projection:
    """Dispatches statements to their handlers (see the module docstring)."""

    def __init__(self, handlers: Iterable[Handler], *, log_origin: str, node_id: str = "") -> None:
        """Project with ``handlers`` (one per kind) into objects of the log ``log_origin``,
        the log of node ``node_id`` (:attr:`View.node_id`)."""
        self._handlers: dict[str, Handler] = {}
        for handler in handlers:
            if handler.kind in self._handlers:
                raise ValueError(f"two handlers for {handler.kind!r}")
            self._handlers[handler.kind] = handler
        self._origin = log_origin
        self._node_id = node_id

    @property
    def kinds(self) -> frozenset[str]:
        """The statement kinds with a domain effect."""
        return frozenset(self._handlers)

    async def plan(
        self,
        lookup: Lookup,
        submissions: Sequence[Submission],
        *,
        first_leaf: int,
        at: datetime,
        entries: EntryLookup | None = None,
    ) -> Plan:
        """Project ``submissions`` (in append order) logged from leaf ``first_leaf`` at ``at``.

        ``lookup`` reads stored objects (the append's transaction), ``entries`` entries of
        this log (for :class:`CreatorReads`; without it, no creating statement of a stored
        object can be read). Returns which submissions (by position in ``submissions``) are
        refused and why, and the changes of the others.
        """
        parsed = [self._parse(s) for s in submissions]
        keys: set[ObjectKey] = set()
        for statements in parsed:
            for _, kind, statement in statements:
                handler = self._handlers.get(kind)
                if handler is not None:
                    keys.update(handler.reads(statement))
        found: dict[ObjectKey, DomainObject] = dict(await lookup(keys)) if keys else {}
        following: set[ObjectKey] = set()
        for statements in parsed:
            for _, kind, statement in statements:
                reads_after = getattr(self._handlers.get(kind), "reads_after", None)
                if reads_after is not None:
                    following.update(reads_after(statement, found))
        following -= keys
        if following:
            found.update(await lookup(following))
            keys |= following
        creators = await self._creators(parsed, found, first_leaf, entries)
        view = View(found, node_id=self._node_id, log_origin=self._origin, statements=creators)
        view.allow(keys)
        plan = Plan()
        leaf = first_leaf
        for position, (submission, statements) in enumerate(zip(submissions, parsed, strict=True)):
            child = view._child()
            try:
                for offset, kind, statement in statements:
                    handler = self._handlers.get(kind)
                    if handler is None:
                        continue
                    logged = Logged(
                        statement=statement,
                        kind=kind,
                        message_id=statement.header.message_id,
                        sender_node_id=submission.sender_node_id,
                        log_origin=self._origin,
                        leaf_index=leaf + offset,
                        at=at,
                    )
                    child._logged(logged.leaf_index, statement)
                    try:
                        handler.apply(logged, child)
                    except CreditlinkError as exc:
                        if len(submission.entries) > 1:
                            raise _item_refused(offset, exc) from exc
                        raise
            except CreditlinkError as exc:
                plan.refused[position] = exc
                continue
            view._adopt(child)
            leaf += len(submission.entries)
        plan.changes = view.changes()
        return plan

    async def _creators(
        self,
        parsed: Sequence[Sequence[tuple[int, str, statement_pb2.Statement]]],
        found: Mapping[ObjectKey, DomainObject],
        first_leaf: int,
        entries: EntryLookup | None,
    ) -> dict[int, statement_pb2.Statement]:
        """The creating statements of the stored objects handlers declared (CreatorReads)."""
        leaves: set[int] = set()
        for statements in parsed:
            for _, kind, statement in statements:
                reads_creators = getattr(self._handlers.get(kind), "reads_creators", None)
                if reads_creators is None:
                    continue
                for key in reads_creators(statement):
                    obj = found.get(key)
                    if obj is not None and obj.log_origin == self._origin:
                        leaves.add(obj.created_leaf)
        leaves = {leaf for leaf in leaves if leaf < first_leaf}
        if not leaves or entries is None:
            return {}
        rows = await entries(leaves)
        return {leaf: statement_pb2.Statement.FromString(row.payload) for leaf, row in rows.items()}

    def _parse(self, submission: Submission) -> list[tuple[int, str, statement_pb2.Statement]]:
        # The intake verified and strictly parsed each payload already; parsing again here
        # (about 2 us) keeps the ledger's submissions plain bytes. Kinds without a handler are
        # not parsed at all.
        out: list[tuple[int, str, statement_pb2.Statement]] = []
        for offset, entry in enumerate(submission.entries):
            if entry.kind in self._handlers:
                statement = statement_pb2.Statement.FromString(entry.payload)
                out.append((offset, entry.kind, statement))
        return out


def _item_refused(index: int, exc: CreditlinkError) -> CreditlinkError:
    # A batch is all or nothing: the refusal names the item, keeps the item's reason.
    refused = FailedPrecondition(f"item {index}: {exc.message}", reason=exc.reason)
    return refused if type(exc) is FailedPrecondition else replace_message(exc, refused.message)


def replace_message(exc: CreditlinkError, message: str) -> CreditlinkError:
    """A copy of ``exc`` (same class, reason and attributes) with another message."""
    copy = type(exc).__new__(type(exc))
    copy.args = (message, *exc.args[1:])
    copy.__dict__.update(exc.__dict__)
    return copy
