"""MeasureService: publish, read and compare versions of the punishment measure lists.

A thin servicer over the shared write path (``ctx.pipeline``) and two sources of versions,
merged by :class:`MeasureCatalog`: the node's own ``measure-list`` objects (versions published
to this node, projected by ``gateway/domain/handlers/measures.py``) and the versions its feed
mirrored from the upstream (a regional gateway gets the national list from the hub this way).
A version present in both is served from the node's own log.

* ``PublishMeasureList`` takes one sealed ``measure-list`` statement (``WRONG_KIND``
  otherwise); the handler refuses gaps, forks and duplicates (``MEASURE_LIST_VERSION_GAP``,
  ``MEASURE_LIST_VERSION_EXISTS``, ``MEASURE_LIST_DATE_ORDER``...). Answers with the receipt and
  the version as published.
* ``GetMeasureList`` by version, by the date it was in force (the latest effective date not
  after it), or the version in force today (China Standard Time). ``MEASURE_LIST_NOT_FOUND``
  when there is none. The provenance of a mirrored version names the upstream's log and leaf
  and carries the envelope as served; its inclusion proof (asked for with ``include_proof``) is
  the one the feed verified and stored with the entry, with the upstream's signed checkpoint
  (this node does not hold the upstream's tree).
* ``ListMeasureLists``: every version (of one list, or of all), newest effective date first;
  the page token is opaque (an offset bound to the filter).
* ``DiffMeasureLists``: measures added, removed and changed (with the changed field names),
  matched by measure id (``gateway/domain/measures.diff``).

Reads need a READ grant for ``measure-list`` (``PERMISSION_DENIED_READ``), checked per version
for scoped grants, as ``ExchangeService`` does.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import grpc

from creditlink.gateway.auth import Permissions
from creditlink.gateway.domain.handlers.name_lists import CST
from creditlink.gateway.domain.measures import (
    LIST_KIND,
    date_of,
    diff,
    list_object_id,
    version_in_force,
)
from creditlink.gateway.services._common import check_request_id, require_field
from creditlink.gateway.services._list_reads import (
    ProvenanceBuilder,
    check_request,
    feed_statement,
    readable,
)
from creditlink.gateway.services.pipeline import ServiceContext
from creditlink.gateway.store.base import DomainObject, DomainQuery, FeedEntry, Store
from creditlink.sdk.errors import InvalidArgument, NotFound
from creditlink.v1 import (
    envelope_pb2,
    measure_pb2,
    measure_service_pb2,
    measure_service_pb2_grpc,
    statement_pb2,
)

__all__ = ["MeasureCatalog", "MeasureServicer", "MeasureVersion", "register"]

_log = logging.getLogger(__name__)
_Context = grpc.aio.ServicerContext[Any, Any]
SERVICE_NAME: Final = measure_service_pb2.DESCRIPTOR.services_by_name["MeasureService"].full_name
#: Versions read per source at most (a list has a handful; this bounds a runaway one).
_MAX_VERSIONS: Final = 10_000
_DEFAULT_PAGE: Final = 100
_MAX_PAGE: Final = 1000


@dataclass(frozen=True, slots=True)
class MeasureVersion:
    """One version of a measure list and where it comes from (own object, or mirrored)."""

    measure_list: measure_pb2.MeasureList
    #: The node's own object (published here), or ``None`` when mirrored.
    own: DomainObject | None
    #: The mirrored entry, or ``None`` when published here.
    mirrored: FeedEntry | None

    @property
    def sender_node_id(self) -> str:
        """Who signed the version."""
        if self.own is not None:
            return self.own.origin_node_id
        assert self.mirrored is not None
        return self.mirrored.sender_node_id

    @property
    def effective(self) -> date:
        """The first day in force."""
        return date_of(self.measure_list.effective_date, "effective_date")

    def statement(self) -> statement_pb2.Statement:
        """A statement carrying the version (for scope checks)."""
        return statement_pb2.Statement(measure_list=self.measure_list)


class MeasureCatalog:
    """The versions a node knows: its own ``measure-list`` objects and the mirrored ones.

    Versions are immutable once published, so parsed versions are kept (bounded) across calls;
    which versions exist is read from the store on every call.
    """

    def __init__(self, store: Store, *, cache_size: int = 256) -> None:
        self._store = store
        self._cache: dict[tuple[str, str, int], measure_pb2.MeasureList] = {}
        self._cache_size = cache_size

    def _parsed(
        self, key: tuple[str, str, int], make: Callable[[], measure_pb2.MeasureList]
    ) -> measure_pb2.MeasureList:
        found = self._cache.get(key)
        if found is None:
            found = make()
            if len(self._cache) >= self._cache_size:
                self._cache.clear()  # bounded; a cleared cache only costs parsing again
            self._cache[key] = found
        return found

    def _own(self, obj: DomainObject) -> MeasureVersion:
        key = ("", obj.object_id, obj.created_leaf)
        parsed = self._parsed(key, lambda: measure_pb2.MeasureList.FromString(obj.body))
        return MeasureVersion(parsed, obj, None)

    def _mirror(self, entry: FeedEntry) -> MeasureVersion:
        key = (entry.origin_node_id, "", entry.leaf_index)
        parsed = self._parsed(key, lambda: feed_statement(entry).measure_list)
        return MeasureVersion(parsed, None, entry)

    @staticmethod
    def _merge(own: list[MeasureVersion], mirrored: list[MeasureVersion]) -> list[MeasureVersion]:
        seen: dict[tuple[str, str], MeasureVersion] = {}
        for version in [*own, *mirrored]:
            lst = version.measure_list
            key = (lst.list_id, lst.version)
            first = seen.get(key)
            if first is None:
                seen[key] = version
            elif first.measure_list != lst:
                # Two signed versions under one name: serve the own one, say so.
                _log.warning("measure lists: %s@%s differs between sources", *key)
        return sorted(
            seen.values(),
            key=lambda v: (v.effective, v.measure_list.list_id, v.measure_list.version),
            reverse=True,
        )

    async def versions(self, list_id: str | None = None) -> list[MeasureVersion]:
        """Every version of ``list_id`` (of every list when ``None``), newest effective first."""
        query = DomainQuery(kinds=[LIST_KIND], subject_key=list_id, limit=_MAX_VERSIONS)
        own = [self._own(o) for o in await self._store.query_objects(query)]
        if list_id is not None:
            rows = await self._store.feed_entries_by_subject(list_id, limit=_MAX_VERSIONS)
        else:
            rows = []
            for cursor in await self._store.feed_cursors():
                rows.extend(
                    await self._store.read_feed(
                        cursor.origin_node_id, start=0, limit=_MAX_VERSIONS, kinds=[LIST_KIND]
                    )
                )
        mirrored = [self._mirror(r) for r in rows if r.kind == LIST_KIND]
        return self._merge(own, mirrored)

    async def get(self, list_id: str, version: str) -> MeasureVersion | None:
        """One version by name."""
        own = await self._store.get_object(LIST_KIND, list_object_id(list_id, version))
        if own is not None:
            return self._own(own)
        return next(
            (v for v in await self.versions(list_id) if v.measure_list.version == version), None
        )

    async def in_force(self, list_id: str, on: date) -> MeasureVersion | None:
        """The version of ``list_id`` in force on ``on`` (``None`` if none was yet)."""
        versions = await self.versions(list_id)
        chosen = version_in_force([v.measure_list for v in versions], on)
        return next((v for v in versions if v.measure_list is chosen), None)


def _encode_token(offset: int, list_id: str) -> str:
    raw = json.dumps({"o": offset, "l": list_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, list_id: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        offset = data["o"]
        valid = isinstance(offset, int) and offset >= 0 and data["l"] == list_id
    except (binascii.Error, ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise InvalidArgument(
            "page_token is not a token of this listing", reason="INVALID_PAGE_TOKEN"
        )
    return int(offset)


class MeasureServicer(measure_service_pb2_grpc.MeasureServiceServicer):
    """The ``creditlink.v1.MeasureService`` of one gateway."""

    def __init__(self, ctx: ServiceContext) -> None:
        """Serve over the node's shared pipeline, store and trust bundle."""
        self._ctx = ctx
        self.catalog = MeasureCatalog(ctx.store)

    def _provenance(self) -> ProvenanceBuilder:
        return ProvenanceBuilder(
            store=self._ctx.store,
            ledger=self._ctx.pipeline.ledger,
            node_id=self._ctx.node_id,
            origin=self._ctx.log_origin,
        )

    async def PublishMeasureList(  # noqa: N802 - the contract's method name
        self, request: measure_service_pb2.PublishMeasureListRequest, context: _Context
    ) -> measure_service_pb2.PublishMeasureListResponse:
        """Log one new version (sealed ``measure-list`` statement); the receipt and the version."""
        _, peer = self._ctx.peer(context)
        check_request_id(request.request_id)
        require_field(request.HasField("sealed_statement"), "sealed_statement")
        ack = await self._ctx.pipeline.submit(
            request.sealed_statement,
            peer=peer,
            request_id=request.request_id,
            kinds={LIST_KIND},
        )
        response = measure_service_pb2.PublishMeasureListResponse(
            receipt=envelope_pb2.Envelope.FromString(ack.receipt)
        )
        row = await self._ctx.store.get_entry(ack.first_leaf_index)
        if row is not None:
            response.measure_list.CopyFrom(
                statement_pb2.Statement.FromString(row.payload).measure_list
            )
        return response

    async def GetMeasureList(  # noqa: N802 - the contract's method name
        self, request: measure_service_pb2.GetMeasureListRequest, context: _Context
    ) -> measure_service_pb2.GetMeasureListResponse:
        """One version: by name, by date in force, or the one in force today (CST)."""
        trust, peer = self._ctx.peer(context)
        reads = Permissions(trust, peer)
        reads.require_some_read(LIST_KIND)
        check_request(request)
        which = request.WhichOneof("selector")
        found: MeasureVersion | None
        if which == "version":
            found = await self.catalog.get(request.list_id, request.version)
            wanted = f"version {request.version}"
        else:
            if which == "effective_on":
                day = date_of(request.effective_on, "effective_on")
            else:
                day = self._ctx.clock().astimezone(CST).date()
            found = await self.catalog.in_force(request.list_id, day)
            wanted = f"a version in force on {day.isoformat()}"
        if found is None or not readable(reads, LIST_KIND, found.sender_node_id, found.statement):
            raise NotFound(
                f"measure list {request.list_id!r} has no {wanted} here",
                reason="MEASURE_LIST_NOT_FOUND",
            )
        return measure_service_pb2.GetMeasureListResponse(
            measure_list=found.measure_list,
            provenance=await self._version_provenance(found, request.include_proof),
        )

    async def _version_provenance(
        self, version: MeasureVersion, include_proof: bool
    ) -> statement_pb2.Provenance:
        if version.mirrored is not None:
            return ProvenanceBuilder.of_feed(version.mirrored, include_proof=include_proof)
        assert version.own is not None
        row = await self._ctx.store.get_entry(version.own.created_leaf)
        message_id = row.message_id if row is not None else ""
        (provenance,) = await self._provenance().of_leaves(
            [version.own.created_leaf], message_ids=[message_id], include_proof=include_proof
        )
        return provenance

    async def ListMeasureLists(  # noqa: N802 - the contract's method name
        self, request: measure_service_pb2.ListMeasureListsRequest, context: _Context
    ) -> measure_service_pb2.ListMeasureListsResponse:
        """The versions, newest effective date first, one page."""
        trust, peer = self._ctx.peer(context)
        reads = Permissions(trust, peer)
        reads.require_some_read(LIST_KIND)
        check_request(request)
        offset = _decode_token(request.page_token, request.list_id) if request.page_token else 0
        size = min(request.page_size or _DEFAULT_PAGE, _MAX_PAGE)
        versions = [
            v
            for v in await self.catalog.versions(request.list_id or None)
            if readable(reads, LIST_KIND, v.sender_node_id, v.statement)
        ]
        page = versions[offset : offset + size]
        response = measure_service_pb2.ListMeasureListsResponse(
            measure_lists=[v.measure_list for v in page]
        )
        if offset + size < len(versions):
            response.next_page_token = _encode_token(offset + size, request.list_id)
        return response

    async def DiffMeasureLists(  # noqa: N802 - the contract's method name
        self, request: measure_service_pb2.DiffMeasureListsRequest, context: _Context
    ) -> measure_service_pb2.DiffMeasureListsResponse:
        """Measures added, removed and changed between two versions of one list."""
        trust, peer = self._ctx.peer(context)
        reads = Permissions(trust, peer)
        reads.require_some_read(LIST_KIND)
        check_request(request)
        versions = []
        for name in (request.from_version, request.to_version):
            found = await self.catalog.get(request.list_id, name)
            if found is None or not readable(
                reads, LIST_KIND, found.sender_node_id, found.statement
            ):
                raise NotFound(
                    f"measure list {request.list_id!r} has no version {name!r} here",
                    reason="MEASURE_LIST_NOT_FOUND",
                )
            versions.append(found.measure_list)
        older, newer = versions
        changes = diff(older, newer)
        return measure_service_pb2.DiffMeasureListsResponse(
            added=changes.added,
            removed=changes.removed,
            changed=[
                measure_service_pb2.MeasureChange(
                    measure_id=c.measure_id,
                    before=c.before,
                    after=c.after,
                    changed_fields=c.changed_fields,
                )
                for c in changes.changed
            ],
            from_effective_date=older.effective_date,
            to_effective_date=newer.effective_date,
        )


def register(server: grpc.aio.Server, ctx: ServiceContext) -> str:
    """Add the ``MeasureService`` to ``server``; its full name."""
    measure_service_pb2_grpc.add_MeasureServiceServicer_to_server(MeasureServicer(ctx), server)
    return SERVICE_NAME
