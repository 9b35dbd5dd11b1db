"""NameListService: determine, read and move name-list entries, and check a subject.

A thin servicer over the shared write path (``ctx.pipeline``), the node's own ``name-list-entry``
objects (``gateway/domain/handlers/name_lists.py``) and, on a regional gateway, the entries its
feed mirrored from the upstream (``gateway/feed``), folded with the same lifecycle function
(:func:`~creditlink.gateway.domain.handlers.name_lists.replay`).

* ``CreateNameListEntry`` / ``TransitionNameListEntry`` take one sealed statement of their kind
  (``WRONG_KIND`` otherwise; the intake checks the determining permission, the handler the
  lifecycle: ``INVALID_TRANSITION``, ``FROM_STATE_MISMATCH``, ``PERMISSION_DENIED_DETERMINER``,
  ``NAME_LIST_ENTRY_NOT_FOUND``...) and answer with the receipt and the entry as it now is.
* ``GetNameListEntry``: an entry of this node's log, in its current state, with the provenance
  of its creating statement and of every statement that moved it, in log order. An entry this
  node did not log but mirrored (a hub's entry on a regional gateway) is found by id among the
  mirrored statements (``FeedEntry.object_id``), folded as CheckSubject folds it, and served
  with the provenance of each mirrored statement (naming the origin; with proofs, the inclusion
  proof and the origin's checkpoint the feed verified).
* ``ListNameListEntries``: this node's entries, filtered (list types, subject, states, region
  and the divisions under it, determining authority, listing start), latest change first (the
  store's order; the contract's "newest listing first" is not what the index serves), then, on
  a regional gateway, the entries it mirrored, by origin and leaf in the origin's log (the
  feed's index; by subject, the subject index), each folded as ``Get`` folds it and filtered
  and judged for reading the same way; an entry the node also logged itself is listed once,
  among its own, and one mirrored from several origins once, at the copy ``Get`` serves. Pages
  sit behind an opaque token naming the part a page starts in and the position in it (an own
  object's key, or an origin and leaf), so a listing neither repeats nor skips across the two.
* ``CheckSubject``, the hot query at approval windows: one subject query on the node's own
  objects (with the responsible persons' entries when asked for a person) and one on the
  mirrored entries (plus one per mirrored entry, for its transitions). Entries in force at the
  instant checked (listing started, state LISTED / UNDER_OBJECTION / RECTIFYING after the
  transitions in effect by then, listing period not over: expiry is derived) are returned with
  their current state; measures come from the version of each referenced list in force on that
  day (:func:`~creditlink.gateway.domain.measures.measures_for`), filtered by purpose and by
  who the subject is (the listed subject, or a responsible person by role). ``checkpoint`` is
  the log head read before the answer was assembled, so the answer reflects at least every
  statement up to its size.

States are as of the call (``as_of`` for CheckSubject): an entry whose listing period has ended
is reported ``EXPIRED`` though no statement says so. Reads need a READ grant for
``name-list-entry`` (``PERMISSION_DENIED_READ``); with scoped grants each entry is judged on its
own scopes, and the entries a caller may not read are left out of lists and checks.

What a regional gateway cannot answer from its mirror (docs/name-lists.md): a person token
finds mirrored entries about that person, not mirrored entries that merely name the person as a
responsible person. (Statements mirrored before the feed kept object ids, store version 5, get
theirs when the node starts: ``gateway.feed.backfill_object_ids``.)
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Final

import grpc

from creditlink.gateway.auth import Permissions
from creditlink.gateway.domain.handlers.name_lists import (
    ACTIVE_STATES,
    CST,
    ENTRY_KIND,
    EXPIRED,
    PERSONAL_KIND,
    TRANSITION_KIND,
    body_of,
    in_force,
    replay,
    state_at,
)
from creditlink.gateway.domain.measures import measures_for, target_for_role
from creditlink.gateway.domain.projection import Logged
from creditlink.gateway.services._common import check_request_id, require_field
from creditlink.gateway.services._list_reads import (
    ProvenanceBuilder,
    check_request,
    feed_logged,
    latest_checkpoint,
    readable,
)
from creditlink.gateway.services.measures import MeasureCatalog, MeasureVersion
from creditlink.gateway.services.pipeline import ServiceContext
from creditlink.gateway.store.base import DomainObject, DomainQuery, FeedEntry
from creditlink.sdk.errors import FieldViolation, InvalidArgument, NotFound
from creditlink.sdk.ids import InvalidIdentifier, validate_uscc
from creditlink.sdk.trust import TrustBundle
from creditlink.v1 import (
    common_pb2,
    envelope_pb2,
    measure_pb2,
    name_list_pb2,
    name_list_service_pb2,
    name_list_service_pb2_grpc,
    statement_pb2,
)

__all__ = ["NameListServicer", "register"]

_log = logging.getLogger(__name__)
_Context = grpc.aio.ServicerContext[Any, Any]
SERVICE_NAME: Final = name_list_service_pb2.DESCRIPTOR.services_by_name["NameListService"].full_name
#: Entries read about one subject at most, per source (a subject has a handful).
_MAX_ENTRIES: Final = 1000
_DEFAULT_PAGE: Final = 100
_MAX_PAGE: Final = 1000
#: Store pages a List call scans for matches before it answers a short page.
_MAX_SCANS: Final = 10
_SUBJECT: Final[frozenset[int]] = frozenset({measure_pb2.MEASURE_TARGET_SUBJECT})


@dataclass(slots=True)
class _Found:
    """An entry about the checked subject, from this node's log or from the mirror."""

    entry: name_list_pb2.NameListEntry
    sender_node_id: str
    #: Who the checked subject is for the entry's measures (``MeasureTarget`` values).
    targets: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Listing:
    """One ListNameListEntries page being filled: the filters, and what passed them."""

    request: name_list_service_pb2.ListNameListEntriesRequest
    subject: str | None
    wanted: set[str]
    now: datetime
    reads: Permissions
    size: int
    out: list[name_list_pb2.NameListEntry] = field(default_factory=list)
    #: Store pages read so far (at most ``_MAX_SCANS`` per call, own and mirrored together).
    scans: int = 0

    @property
    def full(self) -> bool:
        return len(self.out) >= self.size

    def add(self, entry: name_list_pb2.NameListEntry, sender_node_id: str) -> None:
        """Add ``entry`` as of now if it passes the filters the store cannot apply and the
        caller may read it (judged on its creating statement, signed by ``sender_node_id``)."""
        request = self.request
        if request.list_types and entry.list_type not in request.list_types:
            return
        if request.region_code:
            region = entry.region_code or entry.determining_authority.region_code
            if not region.startswith(_region_prefix(request.region_code)):
                return
        if (
            request.determining_authority_uscc
            and entry.determining_authority.uscc != request.determining_authority_uscc
        ):
            return
        if request.HasField("listing_start"):
            start = _day(entry.listing_start)
            bounds = request.listing_start
            if bounds.HasField("start") and start < _day(bounds.start):
                return
            if bounds.HasField("end") and start > _day(bounds.end):
                return
        current = _as_of(entry, self.now)
        if self.wanted and name_list_pb2.NameListState.Name(current.state) not in self.wanted:
            return
        if not readable(self.reads, ENTRY_KIND, sender_node_id, partial(_creation, entry)):
            return
        self.out.append(current)


@dataclass(frozen=True, slots=True)
class _Mirrored:
    """A mirrored entry folded: its state and the rows it stands on (creation first)."""

    entry: name_list_pb2.NameListEntry
    rows: tuple[FeedEntry, ...]


def _fold_mirrored(
    row: FeedEntry, created: Logged, statements: Sequence[FeedEntry], trust: TrustBundle
) -> _Mirrored:
    """The entry that ``row`` (a mirrored ``name-list-entry``; ``created``, as its origin logged
    it) creates, moved by the mirrored transitions among ``statements`` (as the store returns
    them: by origin, then leaf) that follow it in its origin's log, folded with :func:`replay`,
    which skips any the origin could not have accepted.

    The one fold of mirrored entries, CheckSubject's and GetNameListEntry's.
    """
    moves = tuple(
        t
        for t in statements
        if t.kind == TRANSITION_KIND
        and t.origin_node_id == row.origin_node_id
        and t.leaf_index > row.leaf_index
    )
    folded = replay(created, [feed_logged(t, trust) for t in moves])
    return _Mirrored(body_of(folded), (row, *moves))


def _best_mirrored(
    entry_id: str, rows: Sequence[FeedEntry], trust: TrustBundle
) -> _Mirrored | None:
    """The mirrored copy of entry ``entry_id`` that GetNameListEntry and ListNameListEntries
    serve, folded, from ``rows`` (its statements found by object id, by origin then leaf): the
    copy that has seen more transitions when several origins carry it (the first one on a tie).
    """
    best: _Mirrored | None = None
    for row in rows:
        if row.kind != ENTRY_KIND:
            continue
        created = feed_logged(row, trust)
        if created.statement.name_list_entry.entry_id != entry_id:
            continue  # indexed under an id its statement does not carry: not this entry
        mirrored = _fold_mirrored(row, created, rows, trust)
        if best is None or len(mirrored.entry.transitions) > len(best.entry.transitions):
            best = mirrored
    return best


def _creation(entry: name_list_pb2.NameListEntry) -> statement_pb2.Statement:
    # The entry as determined: what its scopes (subject, authority, region) are judged on.
    body = name_list_pb2.NameListEntry()
    body.CopyFrom(entry)
    body.state = name_list_pb2.NAME_LIST_STATE_LISTED
    del body.transitions[:]
    return statement_pb2.Statement(name_list_entry=body)


def _as_of(entry: name_list_pb2.NameListEntry, at: datetime) -> name_list_pb2.NameListEntry:
    """A copy of ``entry`` with ``state`` its state at ``at`` (expiry derived)."""
    out = name_list_pb2.NameListEntry()
    out.CopyFrom(entry)
    out.state = name_list_pb2.NameListState.Value(state_at(entry, at))
    return out


def _checked_uscc(value: str, field_name: str) -> str:
    try:
        return validate_uscc(value)
    except InvalidIdentifier as exc:
        # The identifier's own message names the fault, never the value (it may be a
        # mistyped personal identity number).
        why = str(exc.args[0]) if exc.args else "malformed"
        raise InvalidArgument(
            f"{field_name} is not a valid USCC: {why}",
            reason="INVALID_USCC",
            field_violations=(FieldViolation(field_name, why),),
        ) from None


def _region_prefix(code: str) -> str:
    """GB/T 2260 code -> prefix of the codes under it (``330000`` -> ``33``; national: all)."""
    if code == "100000":
        return ""
    prefix = code
    while len(prefix) > 2 and prefix.endswith("00"):
        prefix = prefix[:-2]
    return prefix


def _day(value: common_pb2.Date) -> date:
    return date(value.year, value.month, value.day)


#: Where a listing of mirrored entries stands: after this ``(origin_node_id, leaf_index)``.
_MirrorKey = tuple[str, int]
#: Before every mirrored entry.
_MIRROR_START: Final[_MirrorKey] = ("", -1)


@dataclass(frozen=True, slots=True)
class _Position:
    """Where a ListNameListEntries page starts: among the node's own entries (``own``: after
    the object with this key, latest change first; ``None``: from the latest), or, once those
    are listed, among the mirrored ones (``mirrored``: after this origin and leaf)."""

    own: tuple[int, str, str] | None = None
    mirrored: _MirrorKey | None = None


def _encode_token(position: _Position) -> str:
    data: dict[str, object] = (
        {"m": list(position.mirrored)}
        if position.mirrored is not None
        else {"b": list(position.own or ())}
    )
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> _Position:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if "m" in data:
            origin, leaf = data["m"]
            if isinstance(origin, str) and isinstance(leaf, int) and leaf >= -1:
                return _Position(mirrored=(origin, leaf))
        else:
            leaf, kind, object_id = data["b"]
            if isinstance(leaf, int) and isinstance(kind, str) and isinstance(object_id, str):
                return _Position(own=(leaf, kind, object_id))
    except (binascii.Error, ValueError, KeyError, TypeError):
        pass
    raise InvalidArgument("page_token is not a token of this listing", reason="INVALID_PAGE_TOKEN")


class NameListServicer(name_list_service_pb2_grpc.NameListServiceServicer):
    """The ``creditlink.v1.NameListService`` of one gateway."""

    def __init__(self, ctx: ServiceContext, *, catalog: MeasureCatalog | None = None) -> None:
        """Serve over the node's shared pipeline, store, trust bundle and clock."""
        self._ctx = ctx
        self._catalog = catalog or MeasureCatalog(ctx.store)

    # -- writes ---------------------------------------------------------------------------

    async def _submit(
        self,
        request_id: str,
        sealed: envelope_pb2.SealedEnvelope,
        has_sealed: bool,
        kind: str,
        context: _Context,
    ) -> tuple[envelope_pb2.Envelope, name_list_pb2.NameListEntry | None]:
        _, peer = self._ctx.peer(context)
        check_request_id(request_id)
        require_field(has_sealed, "sealed_statement")
        ack = await self._ctx.pipeline.submit(
            sealed, peer=peer, request_id=request_id, kinds={kind}
        )
        receipt = envelope_pb2.Envelope.FromString(ack.receipt)
        # The entry as it now is: the statement names it; a batch answers for its first item.
        row = await self._ctx.store.get_entry(ack.first_leaf_index)
        if row is None:
            return receipt, None
        statement = statement_pb2.Statement.FromString(row.payload)
        entry_id = (
            statement.name_list_entry.entry_id
            if kind == ENTRY_KIND
            else statement.name_list_transition.entry_id
        )
        obj = await self._ctx.store.get_object(ENTRY_KIND, entry_id)
        if obj is None:
            return receipt, None
        return receipt, _as_of(body_of(obj), self._ctx.clock())

    async def CreateNameListEntry(  # noqa: N802 - the contract's method name
        self, request: name_list_service_pb2.CreateNameListEntryRequest, context: _Context
    ) -> name_list_service_pb2.CreateNameListEntryResponse:
        """Log a ``name-list-entry`` statement; the receipt and the entry (``LISTED``)."""
        receipt, entry = await self._submit(
            request.request_id,
            request.sealed_statement,
            request.HasField("sealed_statement"),
            ENTRY_KIND,
            context,
        )
        return name_list_service_pb2.CreateNameListEntryResponse(receipt=receipt, entry=entry)

    async def TransitionNameListEntry(  # noqa: N802 - the contract's method name
        self, request: name_list_service_pb2.TransitionNameListEntryRequest, context: _Context
    ) -> name_list_service_pb2.TransitionNameListEntryResponse:
        """Log a ``name-list-transition`` statement; the receipt and the entry in its new state."""
        receipt, entry = await self._submit(
            request.request_id,
            request.sealed_statement,
            request.HasField("sealed_statement"),
            TRANSITION_KIND,
            context,
        )
        return name_list_service_pb2.TransitionNameListEntryResponse(receipt=receipt, entry=entry)

    # -- Get and List ---------------------------------------------------------------------

    async def GetNameListEntry(  # noqa: N802 - the contract's method name
        self, request: name_list_service_pb2.GetNameListEntryRequest, context: _Context
    ) -> name_list_service_pb2.GetNameListEntryResponse:
        """An entry in its current state, with the provenance of each statement that made it:
        one of this node's log, or else one its feed mirrored."""
        trust, peer = self._ctx.peer(context)
        reads = Permissions(trust, peer)
        reads.require_some_read(ENTRY_KIND)
        check_request(request)
        obj = await self._ctx.store.get_object(ENTRY_KIND, request.entry_id)
        if obj is None:
            return await self._mirrored_entry(request, reads)
        entry = body_of(obj)
        reads.require_read(
            ENTRY_KIND,
            sender_node_id=obj.origin_node_id,
            payload=_creation(entry).SerializeToString(),
        )
        leaves: dict[int, str] = {}
        for event in await self._ctx.store.object_events(ENTRY_KIND, obj.object_id):
            if event.log_origin == self._ctx.log_origin:
                leaves.setdefault(event.leaf_index, event.message_id)
        builder = ProvenanceBuilder(
            store=self._ctx.store,
            ledger=self._ctx.pipeline.ledger,
            node_id=self._ctx.node_id,
            origin=self._ctx.log_origin,
        )
        provenance = await builder.of_leaves(
            list(leaves), message_ids=list(leaves.values()), include_proof=request.include_proof
        )
        return name_list_service_pb2.GetNameListEntryResponse(
            entry=_as_of(entry, self._ctx.clock()), provenance=provenance
        )

    async def _mirrored_entry(
        self, request: name_list_service_pb2.GetNameListEntryRequest, reads: Permissions
    ) -> name_list_service_pb2.GetNameListEntryResponse:
        """GetNameListEntry for an entry this node only mirrored: its mirrored statements
        (found by object id), folded as CheckSubject folds them, readable as the node's own."""
        entry_id = request.entry_id
        rows = await self._ctx.store.feed_entries_by_object(entry_id, limit=_MAX_ENTRIES)
        best = _best_mirrored(entry_id, rows, self._ctx.trust())
        if best is None:
            raise NotFound(
                f"no name-list entry {entry_id!r} in this log or its mirror",
                reason="NAME_LIST_ENTRY_NOT_FOUND",
            )
        reads.require_read(
            ENTRY_KIND,
            sender_node_id=best.rows[0].sender_node_id,
            payload=_creation(best.entry).SerializeToString(),
        )
        provenance = [
            ProvenanceBuilder.of_feed(r, include_proof=request.include_proof) for r in best.rows
        ]
        return name_list_service_pb2.GetNameListEntryResponse(
            entry=_as_of(best.entry, self._ctx.clock()), provenance=provenance
        )

    async def ListNameListEntries(  # noqa: N802 - the contract's method name
        self, request: name_list_service_pb2.ListNameListEntriesRequest, context: _Context
    ) -> name_list_service_pb2.ListNameListEntriesResponse:
        """One page of the entries matching the filters: this node's own, latest change first,
        then those it mirrored from its upstream (by origin, then leaf in the origin's log)."""
        trust, peer = self._ctx.peer(context)
        reads = Permissions(trust, peer)
        reads.require_some_read(ENTRY_KIND)
        check_request(request)
        subject: str | None = None
        if request.WhichOneof("subject") == "uscc":
            subject = _checked_uscc(request.uscc, "uscc")
        elif request.WhichOneof("subject") == "person_token":
            subject = request.person_token
        position = _decode_token(request.page_token) if request.page_token else _Position()
        listing = _Listing(
            request=request,
            subject=subject,
            wanted={name_list_pb2.NameListState.Name(s) for s in request.states},
            now=self._ctx.clock(),
            reads=reads,
            size=min(request.page_size or _DEFAULT_PAGE, _MAX_PAGE),
        )
        following: _Position | None = position
        if position.mirrored is None:
            following = await self._list_own(listing, position.own)
        if following is not None and following.mirrored is not None and not listing.full:
            following = await self._list_mirrored(listing, following.mirrored)
        response = name_list_service_pb2.ListNameListEntriesResponse(entries=listing.out)
        if following is not None:
            response.next_page_token = _encode_token(following)
        return response

    async def _list_own(
        self, listing: _Listing, before: tuple[int, str, str] | None
    ) -> _Position | None:
        """List own entries from ``before`` on into ``listing``; where the next page starts:
        among the own entries, or the mirrored ones once the own are all listed."""
        stored: set[str] | None = None
        if listing.wanted:
            # Expiry is derived: an entry that reads as EXPIRED may be stored as active.
            stored = listing.wanted | (set(ACTIVE_STATES) if EXPIRED in listing.wanted else set())
        while listing.scans < _MAX_SCANS:
            listing.scans += 1
            query = DomainQuery(
                kinds=[ENTRY_KIND],
                subject_key=listing.subject,
                states=stored,
                before=before,
                limit=listing.size,
            )
            rows = await self._ctx.store.query_objects(query)
            for obj in rows:
                before = _key(obj)
                listing.add(body_of(obj), obj.origin_node_id)
                if listing.full:
                    break
            consumed = not rows or before == _key(rows[-1])
            if len(rows) < listing.size and consumed:
                return _Position(mirrored=_MIRROR_START)
            if listing.full:
                break
        return _Position(own=before)

    async def _list_mirrored(self, listing: _Listing, after: _MirrorKey) -> _Position | None:
        """List the mirrored entries after ``after`` into ``listing`` (each once, folded as
        GetNameListEntry folds it, unless this node logged the entry itself: then it was
        listed among the own); where the next page starts, ``None`` after the last."""
        store = self._ctx.store
        if listing.subject is not None:
            # A subject has a handful of entries: one indexed read finds them all.
            about = await store.feed_entries_by_subject(listing.subject, limit=_MAX_ENTRIES)
            rows = [r for r in about if r.kind == ENTRY_KIND and _mirror_key(r) > after]
            after = await self._add_mirrored(listing, rows, after)
            return None if not rows or after == _mirror_key(rows[-1]) else _Position(mirrored=after)
        origins = sorted(c.origin_node_id for c in await store.feed_cursors())
        for origin in (o for o in origins if o >= after[0]):
            start = after[1] + 1 if origin == after[0] else 0
            while True:
                if listing.scans >= _MAX_SCANS:
                    return _Position(mirrored=after)
                listing.scans += 1
                rows = await store.read_feed(
                    origin, start=start, limit=listing.size, kinds=[ENTRY_KIND]
                )
                after = await self._add_mirrored(listing, rows, after)
                if listing.full:
                    return _Position(mirrored=after)
                if len(rows) < listing.size:
                    break  # this origin is listed: the next one from its first leaf
                start = rows[-1].leaf_index + 1
        return None

    async def _add_mirrored(
        self, listing: _Listing, rows: Sequence[FeedEntry], after: _MirrorKey
    ) -> _MirrorKey:
        """Add the entries ``rows`` create (mirrored ``name-list-entry`` statements, in listing
        order) until the page is full; the key of the last row looked at."""
        if not rows:
            return after
        trust = self._ctx.trust()
        created = [feed_logged(r, trust) for r in rows]
        ids = [c.statement.name_list_entry.entry_id for c in created]
        own = await self._ctx.store.get_objects([(ENTRY_KIND, i) for i in ids])
        for row, logged, entry_id in zip(rows, created, ids, strict=True):
            after = _mirror_key(row)
            if (ENTRY_KIND, entry_id) in own:
                continue  # logged here too: listed among the own entries, as Get serves it
            if row.object_id is None:
                # Mirrored before the feed kept object ids: its transitions are found by
                # their subject key (the entry id), and no other origin's copy by id.
                moves = await self._ctx.store.feed_entries_by_subject(entry_id, limit=_MAX_ENTRIES)
                mirrored = _fold_mirrored(row, logged, moves, trust)
            else:
                related = await self._ctx.store.feed_entries_by_object(entry_id, limit=_MAX_ENTRIES)
                best = _best_mirrored(entry_id, related, trust)
                if best is None or _mirror_key(best.rows[0]) != after:
                    continue  # another origin's copy is the one served: listed there
                mirrored = best
            listing.add(mirrored.entry, mirrored.rows[0].sender_node_id)
            if listing.full:
                break
        return after

    # -- CheckSubject ---------------------------------------------------------------------

    async def CheckSubject(  # noqa: N802 - the contract's method name
        self, request: name_list_service_pb2.CheckSubjectRequest, context: _Context
    ) -> name_list_service_pb2.CheckSubjectResponse:
        """Is the subject listed at the instant checked, and which measures apply for the
        purpose (see the module docstring)."""
        trust, peer = self._ctx.peer(context)
        reads = Permissions(trust, peer)
        reads.require_some_read(ENTRY_KIND)
        # Hand-checked: this is the hot path, and the checks are few.
        which = request.WhichOneof("subject")
        if which == "uscc":
            key = _checked_uscc(request.uscc, "uscc")
        elif which == "person_token":
            check_request(request)  # the token's pattern
            key = request.person_token
        else:
            raise InvalidArgument(
                "give the subject's uscc or person_token",
                reason="CONSTRAINT_VIOLATION",
                field_violations=(FieldViolation("subject", "one of the two is required"),),
            )
        if request.purpose not in common_pb2.UsePurpose.values() or not request.purpose:
            raise InvalidArgument(
                "purpose is required",
                reason="CONSTRAINT_VIOLATION",
                field_violations=(FieldViolation("purpose", "a defined purpose is required"),),
            )
        at = (
            request.as_of.ToDatetime(tzinfo=UTC) if request.HasField("as_of") else self._ctx.clock()
        )
        # The head first: whatever is read after it reflects at least its statements.
        head = await self._ctx.store.head()
        personal = which == "person_token" and request.include_responsible_person
        found = await self._about(key, personal=personal, reads=reads)
        active = [f for f in found if in_force(f.entry, at)]
        response = name_list_service_pb2.CheckSubjectResponse(
            listed=bool(active),
            entries=[_as_of(f.entry, at) for f in active],
            measures=await self._measures(active, request.purpose, at),
        )
        response.checked_at.FromDatetime(at)
        checkpoint = latest_checkpoint(head, self._ctx.log_origin)
        if checkpoint is not None:
            response.checkpoint.CopyFrom(checkpoint)
        return response

    async def _about(self, key: str, *, personal: bool, reads: Permissions) -> list[_Found]:
        """The entries about ``key``: own objects, then the mirrored ones not known here."""
        store = self._ctx.store
        kinds = [ENTRY_KIND, PERSONAL_KIND] if personal else [ENTRY_KIND]
        query = DomainQuery(kinds=kinds, subject_key=key, limit=_MAX_ENTRIES)
        found: dict[str, _Found] = {}
        for obj in await store.query_objects(query):
            entry = body_of(obj)
            if not readable(reads, ENTRY_KIND, obj.origin_node_id, partial(_creation, entry)):
                continue
            item = found.setdefault(entry.entry_id, _Found(entry, obj.origin_node_id))
            item.targets |= _targets(obj)
        trust = self._ctx.trust()
        for row in await store.feed_entries_by_subject(key, limit=_MAX_ENTRIES):
            if row.kind != ENTRY_KIND:
                continue
            created = feed_logged(row, trust)
            entry_id = created.statement.name_list_entry.entry_id
            if not readable(
                reads,
                ENTRY_KIND,
                row.sender_node_id,
                partial(_creation, created.statement.name_list_entry),
            ):
                continue
            # Transitions by subject key (their entry id), which rows mirrored before the feed
            # kept object ids have too.
            about = await store.feed_entries_by_subject(entry_id, limit=_MAX_ENTRIES)
            folded = _fold_mirrored(row, created, about, trust).entry
            known = found.get(entry_id)
            # The same entry logged here too: the copy that has seen more transitions wins.
            if known is None or len(folded.transitions) > len(known.entry.transitions):
                targets = known.targets if known is not None else set(_SUBJECT)
                found[entry_id] = _Found(folded, row.sender_node_id, targets)
        return list(found.values())

    async def _measures(
        self, active: Sequence[_Found], purpose: int, at: datetime
    ) -> list[measure_pb2.ApplicableMeasure]:
        """The measures the entries in force apply, from the versions in force on the day."""
        day = at.astimezone(CST).date()
        versions: dict[str, MeasureVersion | None] = {}
        applicable: dict[tuple[str, str, str], measure_pb2.ApplicableMeasure] = {}
        for found in active:
            for list_id in dict.fromkeys(r.list_id for r in found.entry.measures):
                if list_id not in versions:
                    versions[list_id] = await self._catalog.in_force(list_id, day)
                    if versions[list_id] is None:
                        _log.warning(
                            "name lists: no version of measure list %s in force on %s here",
                            list_id,
                            day.isoformat(),
                        )
                version = versions[list_id]
                if version is None:
                    continue
                for target in sorted(found.targets):
                    for ref, measure in measures_for(
                        found.entry, purpose, version.measure_list, target=target
                    ):
                        key = (ref.list_id, ref.version, ref.measure_id)
                        item = applicable.get(key)
                        if item is None:
                            item = applicable[key] = measure_pb2.ApplicableMeasure(
                                ref=ref, measure=measure
                            )
                        if found.entry.entry_id not in item.entry_ids:
                            item.entry_ids.append(found.entry.entry_id)
        return list(applicable.values())


def _key(obj: DomainObject) -> tuple[int, str, str]:
    return (obj.leaf_index, obj.kind, obj.object_id)


def _mirror_key(row: FeedEntry) -> _MirrorKey:
    return (row.origin_node_id, row.leaf_index)


def _targets(obj: DomainObject) -> set[int]:
    """Who the subject of ``obj``'s subject key is for the entry's measures."""
    if obj.kind != PERSONAL_KIND:
        return set(_SUBJECT)
    roles = obj.attrs.get("roles", [])
    targets: Iterable[int | None] = (
        target_for_role(name_list_pb2.ResponsibleRole.Value(str(r)))
        for r in (roles if isinstance(roles, list) else [])
    )
    return {t for t in targets if t is not None}


def register(server: grpc.aio.Server, ctx: ServiceContext) -> str:
    """Add the ``NameListService`` to ``server``; its full name."""
    name_list_service_pb2_grpc.add_NameListServiceServicer_to_server(NameListServicer(ctx), server)
    return SERVICE_NAME
