"""RecordService: publish, read, correct and revoke credit records.

A thin servicer over the shared submit pipeline (writes) and the domain objects the record
handlers keep (reads; :mod:`creditlink.gateway.domain.handlers.records` documents the object,
its attrs and every refusal reason)::

    SubmitRecords   a sealed batch of ``record`` statements (revision 1)  -> receipt, record ids
    CorrectRecord   a sealed ``record-correction`` of kind CORRECT or EXPIRE -> receipt, record
    RevokeRecord    a sealed ``record-correction`` of kind REVOKE            -> receipt, record
    GetRecord       current (or an earlier) revision, derived status, provenance (+ proofs)
    ListRecords     a subject's records: categories, decision dates, statuses; newest first
    ListOverdueRecords  late publications and publication overruns, most overdue first

Writes go the one way every write goes (intake, group-committed append with the domain effect,
signed receipt). Before appending, each call checks what its contract says the statement is
(``WRONG_KIND``, ``NOT_A_NEW_RECORD``, ``WRONG_CORRECTION_KIND``, ``REQUEST_ID_MISMATCH``), so
a statement sent through the wrong call is never logged. The handlers then refuse what does
not apply to the record's current state (a broken revision chain, a revoked record...).

Reads need a READ grant for ``record`` (:class:`~creditlink.gateway.auth.Permissions`): a grant
within ``*`` opens every record, a scoped grant the records whose scopes it covers, judged per
record from its current revision as if it were the log entry (the same derivation the
exchange's reads use); the publisher always reads its own. ``GetRecord`` of a record the caller
may not read is ``PERMISSION_DENIED_READ``; lists leave such records out.

Status on read: an ACTIVE record past its publication end is reported EXPIRED (publication
stops by itself; :func:`~creditlink.gateway.domain.handlers.records.derived_status`), on the
day given by the node's clock in China Standard Time; earlier revisions are CORRECTED.

Paging: ``page_token`` is opaque to clients: URL-safe base64 of a small JSON object holding the
keyset of the last item returned and a fingerprint of the request's filters, so a token used
with other filters is refused (``INVALID_PAGE_TOKEN``). Both lists sort in memory what the
store's indexes cannot order: ``ListRecords`` reads one subject's records (bounded by what one
subject has), ``ListOverdueRecords`` the records flagged ``overdue`` and the ACTIVE ones past
their publication end (only candidates, never every record). ``days_overdue`` counts working
days for a late publication (how late it was, up to ``as_of``) and calendar days for an overrun
(periods in months are calendar periods), and both kinds share one "most overdue first" order.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from typing import Any, Final

import grpc
from google.protobuf.message import Message

from creditlink.gateway.auth import Permissions
from creditlink.gateway.domain.calendar import WorkingDayCalendar
from creditlink.gateway.domain.handlers.records import (
    ACTIVE,
    EXPIRED,
    KIND,
    OVERDUE,
    REPAIRED,
    REVOKED,
    china_date,
    date_of,
    date_pb,
    derived_status,
)
from creditlink.gateway.domain.rulesets import PUBLICATION_DEADLINE, publication_deadline
from creditlink.gateway.ledger import Acknowledgement
from creditlink.gateway.services._common import (
    check_request,
    check_request_id,
    require_field,
)

# The exchange's builder of LogEntry messages (single envelopes and batch items with their
# audit path): provenance must be exactly what Subscribe and GetInclusionProof serve.
from creditlink.gateway.services._log_entries import EntryBuilder
from creditlink.gateway.services.pipeline import ServiceContext
from creditlink.gateway.store.base import DomainObject, DomainQuery, LogHead
from creditlink.sdk.errors import FieldViolation, InvalidArgument, NotFound
from creditlink.sdk.tlog import HASH_SIZE, Frontier
from creditlink.v1 import (
    common_pb2,
    envelope_pb2,
    log_pb2,
    record_pb2,
    record_service_pb2,
    record_service_pb2_grpc,
    statement_pb2,
)

__all__ = ["RecordServicer", "register"]

_Context = grpc.aio.ServicerContext[Any, Any]
_pb = record_service_pb2

#: Items per page when the request asks for 0 (the contract's "server default").
DEFAULT_PAGE_SIZE: Final = 50
#: Objects read from the store per query while scanning candidates.
_SCAN: Final = 1000
_CORRECTED: Final = record_pb2.RECORD_STATUS_CORRECTED
_LATE: Final = _pb.OVERDUE_KIND_LATE_PUBLICATION
_OVERRUN: Final = _pb.OVERDUE_KIND_PUBLICATION_OVERRUN
#: Stored states a derived status may come from (EXPIRED: an EXPIRE correction, or an ACTIVE
#: record past its end). CORRECTED is never a current state.
_STORED_STATES: Final = {
    ACTIVE: (ACTIVE,),
    EXPIRED: (ACTIVE, EXPIRED),
    REVOKED: (REVOKED,),
    REPAIRED: (REPAIRED,),
}


def register(server: grpc.aio.Server, ctx: ServiceContext) -> str:
    """Add the RecordService to ``server``; return its full name."""
    servicer = RecordServicer(ctx, calendar=ctx.calendar)
    record_service_pb2_grpc.add_RecordServiceServicer_to_server(servicer, server)
    return _pb.DESCRIPTOR.services_by_name["RecordService"].full_name


# --- request checks -------------------------------------------------------------------------


def _page_size(requested: int) -> int:
    return requested or DEFAULT_PAGE_SIZE


def _fingerprint(request: Message) -> str:
    """A digest of the request's filters: the request without its paging fields."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("page_size")
    copy.ClearField("page_token")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:16]


def _encode_token(fingerprint: str, key: Sequence[object], **extra: object) -> str:
    data = json.dumps({"f": fingerprint, "k": list(key), **extra}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> dict[str, Any]:
    """The keyset in ``token``; ``INVALID_PAGE_TOKEN`` if it is not one of ours for these
    filters."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(data, dict) or not isinstance(data.get("k"), list):
            raise ValueError("not a page token")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(
            "page_token is not a token this call returned",
            reason="INVALID_PAGE_TOKEN",
            field_violations=(FieldViolation("page_token", "not a token this call returned"),),
        ) from None
    if data.get("f") != fingerprint:
        raise InvalidArgument(
            "page_token belongs to a request with other filters; repeat them unchanged",
            reason="INVALID_PAGE_TOKEN",
            field_violations=(FieldViolation("page_token", "the filters changed"),),
        )
    return data


def _region_prefix(code: str) -> str:
    """The prefix every region code under division ``code`` starts with (``""``: all)."""
    if code == "100000":  # national level: every region
        return ""
    while code.endswith("00"):
        code = code[:-2]
    return code


# --- reading objects ------------------------------------------------------------------------


def _record(obj: DomainObject, today: dt.date) -> record_pb2.CreditRecord:
    """The current revision as stored, with the status a reader sees today."""
    record = record_pb2.CreditRecord.FromString(obj.body)
    record.status = record_pb2.RecordStatus.Value(derived_status(obj, today))
    return record


def _as_entry(obj: DomainObject) -> bytes:
    # Scoped reads judge a log entry by its statement; a record object is judged as the
    # statement of its current revision would be.
    return statement_pb2.Statement(
        record=record_pb2.CreditRecord.FromString(obj.body)
    ).SerializeToString()


def _readable(reads: Permissions, obj: DomainObject) -> bool:
    if KIND in reads.fully_readable_kinds:
        return True  # no need to parse anything
    return reads.may_read(KIND, sender_node_id=obj.origin_node_id, payload=_as_entry(obj))


def _str_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _revision_body(statement: statement_pb2.Statement) -> record_pb2.CreditRecord:
    """The revision a logged statement carries: a record, or a correction's replacement."""
    if statement.WhichOneof("body") == "record_correction":
        return statement.record_correction.record
    return statement.record


@dataclasses.dataclass(frozen=True, slots=True)
class _Overdue:
    """One row of the overdue list, before permissions and paging."""

    days: int
    kind: _pb.OverdueKind.ValueType
    obj: DomainObject
    deadline: common_pb2.Deadline

    @property
    def key(self) -> tuple[int, int, str]:
        # Most overdue first; ties in a stable order.
        return (-self.days, self.kind, self.obj.object_id)


class RecordServicer(record_service_pb2_grpc.RecordServiceServicer):
    """The ``creditlink.v1.RecordService`` of one gateway."""

    def __init__(self, ctx: ServiceContext, *, calendar: WorkingDayCalendar | None = None) -> None:
        """Serve over ``ctx``; provisional deadlines are judged again on ``calendar``."""
        self._ctx = ctx
        self._calendar = calendar or WorkingDayCalendar()

    # --- helpers ---------------------------------------------------------------------------

    def _reads(self, context: _Context) -> Permissions:
        trust, peer = self._ctx.peer(context)
        return Permissions(trust, peer)

    def _today(self) -> dt.date:
        return china_date(self._ctx.clock())

    async def _submit(
        self,
        context: _Context,
        sealed: envelope_pb2.SealedEnvelope,
        request_id: str,
        *,
        kind: str,
        check: Callable[[Sequence[statement_pb2.Statement]], None],
    ) -> tuple[Acknowledgement, list[statement_pb2.Statement]]:
        """The pipeline's submit, with this call's own check before anything is appended."""
        _, peer = self._ctx.peer(context)
        return await self._ctx.pipeline.submit_checked(
            sealed, peer=peer, request_id=request_id, kinds={kind}, check=check
        )

    async def _current(self, record_id: str) -> DomainObject:
        obj = await self._ctx.store.get_object(KIND, record_id)
        if obj is None:
            raise NotFound(f"no record {record_id!r}", reason="RECORD_NOT_FOUND")
        return obj

    async def _scan(self, query: DomainQuery) -> AsyncIterator[DomainObject]:
        """Every object matching ``query``, reading the store a page at a time."""
        before = None
        while True:
            page = await self._ctx.store.query_objects(
                dataclasses.replace(query, before=before, limit=_SCAN)
            )
            for obj in page:
                yield obj
            if len(page) < _SCAN:
                return
            last = page[-1]
            before = (last.leaf_index, last.kind, last.object_id)

    # --- writes ----------------------------------------------------------------------------

    async def SubmitRecords(  # noqa: N802 - the contract's method name
        self, request: _pb.SubmitRecordsRequest, context: _Context
    ) -> _pb.SubmitRecordsResponse:
        """Log a batch of new records (revision 1), accepted or refused as a whole."""
        check_request_id(request.request_id)
        require_field(request.HasField("sealed_batch"), "sealed_batch")

        def new_records(statements: Sequence[statement_pb2.Statement]) -> None:
            later = [i for i, s in enumerate(statements) if s.record.revision != 1]
            if later:
                raise InvalidArgument(
                    "SubmitRecords publishes new records (revision 1); send later revisions "
                    "with CorrectRecord",
                    reason="NOT_A_NEW_RECORD",
                    field_violations=tuple(
                        FieldViolation(f"items[{i}].record.revision", "must be 1")
                        for i in later[:100]
                    ),
                )

        ack, statements = await self._submit(
            context, request.sealed_batch, request.request_id, kind="record", check=new_records
        )
        return _pb.SubmitRecordsResponse(
            receipt=envelope_pb2.Envelope.FromString(ack.receipt),
            record_ids=[s.record.record_id for s in statements],
        )

    async def _correction(
        self,
        context: _Context,
        request: _pb.CorrectRecordRequest | _pb.RevokeRecordRequest,
        kinds: Collection[record_pb2.CorrectionKind.ValueType],
    ) -> tuple[Acknowledgement, record_pb2.CreditRecord]:
        """Log one ``record-correction`` of ``kinds``; return its receipt and the new state."""
        request_id, sealed = request.request_id, request.sealed_statement
        check_request_id(request_id)
        require_field(request.HasField("sealed_statement"), "sealed_statement")

        def one_correction(statements: Sequence[statement_pb2.Statement]) -> None:
            if len(statements) != 1:
                raise InvalidArgument(
                    "this call takes one sealed statement, not a batch",
                    reason="WRONG_CONTENT_TYPE",
                )
            (statement,) = statements
            if statement.header.request_id != request_id:
                raise InvalidArgument(
                    "request_id must equal the statement header's request_id",
                    reason="REQUEST_ID_MISMATCH",
                    field_violations=(
                        FieldViolation("request_id", "differs from header.request_id"),
                    ),
                )
            kind = statement.record_correction.kind
            if kind not in kinds:
                allowed = [record_pb2.CorrectionKind.Name(k) for k in sorted(kinds)]
                raise InvalidArgument(
                    f"this call takes corrections of kind {allowed}",
                    reason="WRONG_CORRECTION_KIND",
                    field_violations=(
                        FieldViolation("record_correction.kind", f"must be one of {allowed}"),
                    ),
                )

        ack, (statement,) = await self._submit(
            context, sealed, request_id, kind="record-correction", check=one_correction
        )
        obj = await self._current(statement.record_correction.record_id)
        return ack, _record(obj, self._today())

    async def CorrectRecord(  # noqa: N802 - the contract's method name
        self, request: _pb.CorrectRecordRequest, context: _Context
    ) -> _pb.CorrectRecordResponse:
        """Log a correction (the next revision) or an end of publication."""
        ack, record = await self._correction(
            context,
            request,
            (record_pb2.CORRECTION_KIND_CORRECT, record_pb2.CORRECTION_KIND_EXPIRE),
        )
        return _pb.CorrectRecordResponse(
            receipt=envelope_pb2.Envelope.FromString(ack.receipt), record=record
        )

    async def RevokeRecord(  # noqa: N802 - the contract's method name
        self, request: _pb.RevokeRecordRequest, context: _Context
    ) -> _pb.RevokeRecordResponse:
        """Log a revocation."""
        ack, record = await self._correction(context, request, (record_pb2.CORRECTION_KIND_REVOKE,))
        return _pb.RevokeRecordResponse(
            receipt=envelope_pb2.Envelope.FromString(ack.receipt), record=record
        )

    # --- GetRecord -------------------------------------------------------------------------

    async def GetRecord(  # noqa: N802 - the contract's method name
        self, request: _pb.GetRecordRequest, context: _Context
    ) -> _pb.GetRecordResponse:
        """A revision of a record with its provenance (and proofs when asked)."""
        reads = self._reads(context)
        check_request(request)
        obj = await self._current(request.record_id)
        reads.require_read(KIND, sender_node_id=obj.origin_node_id, payload=_as_entry(obj))
        leaves = [int(str(leaf)) for leaf in _str_list(obj.attrs.get("revision_leaves"))]
        current = len(leaves)
        wanted = request.revision or current
        if wanted > current:
            raise NotFound(
                f"record {request.record_id!r} has {current} revision(s), not {wanted}",
                reason="REVISION_NOT_FOUND",
            )
        response = _pb.GetRecordResponse(
            disputed="disputed" in obj.flags,
            open_objection_ids=_str_list(obj.attrs.get("open_objection_ids")),
        )
        if wanted == current:
            response.record.CopyFrom(_record(obj, self._today()))
            # The revision's statement, then every later one that changed the record's state
            # (revocation, end of publication, a repair decision...), in log order.
            events = await self._ctx.store.object_events(KIND, obj.object_id)
            chosen = sorted(
                {
                    e.leaf_index
                    for e in events
                    if e.log_origin == self._ctx.log_origin and e.leaf_index >= leaves[-1]
                }
            )
        else:
            row = await self._ctx.store.get_entry(leaves[wanted - 1])
            if row is None:
                raise RuntimeError(f"revision {wanted} of {obj.object_id!r} is not in the log")
            record = _revision_body(statement_pb2.Statement.FromString(row.payload))
            response.record.CopyFrom(record)
            response.record.status = _CORRECTED
            chosen = [row.leaf_index]
        response.provenance.extend(await self._provenance(chosen, reads, request.include_proof))
        return response

    async def _provenance(
        self, leaves: Iterable[int], reads: Permissions, proofs: bool
    ) -> list[statement_pb2.Provenance]:
        store = self._ctx.store
        builder = EntryBuilder(store)
        head = await store.head() if proofs else None
        checkpoint = _checkpoint(head, self._ctx.pipeline.ledger.origin) if head else None
        out: list[statement_pb2.Provenance] = []
        for leaf in leaves:
            row = await store.get_entry(leaf)
            # Statements of other kinds (a repair decision, an objection) appear only to a
            # caller who may read them.
            if row is None or not reads.may_read(
                row.kind, sender_node_id=row.sender_node_id, payload=row.payload
            ):
                continue
            provenance = statement_pb2.Provenance(
                message_id=row.message_id,
                gateway_node_id=self._ctx.node_id,
                entry=await builder.entry(row),
            )
            if head is not None and checkpoint is not None and leaf < head.size:
                hashes = await self._ctx.pipeline.ledger.inclusion_proof(leaf, head.size)
                provenance.inclusion_proof.CopyFrom(
                    log_pb2.InclusionProof(leaf_index=leaf, tree_size=head.size, hashes=hashes)
                )
                provenance.checkpoint.CopyFrom(checkpoint)
            out.append(provenance)
        return out

    # --- ListRecords -----------------------------------------------------------------------

    async def ListRecords(  # noqa: N802 - the contract's method name
        self, request: _pb.ListRecordsRequest, context: _Context
    ) -> _pb.ListRecordsResponse:
        """A subject's records, filtered, newest decision first."""
        reads = self._reads(context)
        check_request(request)
        reads.require_some_read(KIND)
        start = end = None
        if request.decision_date.HasField("start"):
            start = date_of(request.decision_date.start, "decision_date.start").isoformat()
        if request.decision_date.HasField("end"):
            end = date_of(request.decision_date.end, "decision_date.end").isoformat()
        if start is not None and end is not None and end < start:
            raise InvalidArgument(
                "decision_date.end precedes decision_date.start",
                reason="CONSTRAINT_VIOLATION",
                field_violations=(FieldViolation("decision_date.end", "precedes start"),),
            )
        fingerprint = _fingerprint(request)
        after: tuple[str, str] | None = None
        if request.page_token:
            key = _decode_token(request.page_token, fingerprint)["k"]
            if len(key) != 2 or not all(isinstance(k, str) for k in key):
                raise InvalidArgument("malformed page_token", reason="INVALID_PAGE_TOKEN")
            after = (key[0], key[1])
        statuses = {record_pb2.RecordStatus.Name(s) for s in request.statuses}
        categories = {record_pb2.RecordCategory.Name(c) for c in request.categories}
        states = (
            None
            if not statuses
            else sorted({s for status in statuses for s in _STORED_STATES.get(status, ())})
        )
        today = self._today()
        candidates: list[tuple[tuple[str, str], DomainObject]] = []
        if states != []:  # only CORRECTED asked for: no current revision has it
            query = DomainQuery(
                kinds=[KIND], subject_key=request.uscc or request.person_token, states=states
            )
            async for obj in self._scan(query):
                decided = str(obj.attrs.get("decision_date", ""))
                key = (decided, obj.object_id)
                if after is not None and key >= after:
                    continue
                if categories and obj.attrs.get("category") not in categories:
                    continue
                if (start is not None and decided < start) or (end is not None and decided > end):
                    continue
                if statuses and derived_status(obj, today) not in statuses:
                    continue
                candidates.append((key, obj))
        candidates.sort(key=lambda c: c[0], reverse=True)
        size = _page_size(request.page_size)
        response = _pb.ListRecordsResponse()
        last: tuple[str, str] | None = None
        for key, obj in candidates:
            if not _readable(reads, obj):
                continue
            if len(response.records) == size:
                # One more readable record exists: there is a next page.
                assert last is not None
                response.next_page_token = _encode_token(fingerprint, last)
                break
            response.records.append(_record(obj, today))
            last = key
        return response

    # --- ListOverdueRecords ----------------------------------------------------------------

    async def ListOverdueRecords(  # noqa: N802 - the contract's method name
        self, request: _pb.ListOverdueRecordsRequest, context: _Context
    ) -> _pb.ListOverdueRecordsResponse:
        """Records published late, and records still ACTIVE past their publication end."""
        reads = self._reads(context)
        check_request(request)
        reads.require_some_read(KIND)
        fingerprint = _fingerprint(request)
        after: tuple[int, int, str] | None = None
        as_of = date_of(request.as_of, "as_of") if request.HasField("as_of") else self._today()
        if request.page_token:
            data = _decode_token(request.page_token, fingerprint)
            key = data["k"]
            if (
                len(key) != 3
                or not isinstance(key[0], int)
                or not isinstance(key[1], int)
                or not isinstance(key[2], str)
                or not isinstance(data.get("as_of"), str)
            ):
                raise InvalidArgument("malformed page_token", reason="INVALID_PAGE_TOKEN")
            after = (key[0], key[1], key[2])
            # The first page's day, so that "today" does not move under a client paging
            # across midnight.
            as_of = dt.date.fromisoformat(data["as_of"])
        kinds = set(request.kinds) or {_LATE, _OVERRUN}
        prefix = _region_prefix(request.region_code) if request.region_code else ""
        rows: list[_Overdue] = []
        if _LATE in kinds:
            async for obj in self._scan(DomainQuery(kinds=[KIND], flag=OVERDUE)):
                late = self._late(obj, as_of)
                if late is not None:
                    rows.append(late)
        if _OVERRUN in kinds:
            query = DomainQuery(kinds=[KIND], states=[ACTIVE], due_before=as_of.isoformat())
            async for obj in self._scan(query):
                overrun = _overrun(obj, as_of)
                if overrun is not None:
                    rows.append(overrun)
        rows = [
            row
            for row in rows
            if str(row.obj.attrs.get("region_code", "")).startswith(prefix)
            and (
                not request.authority_uscc
                or row.obj.attrs.get("authority_uscc") == request.authority_uscc
            )
            and (after is None or row.key > after)
        ]
        rows.sort(key=lambda r: r.key)
        size = _page_size(request.page_size)
        today = self._today()
        response = _pb.ListOverdueRecordsResponse()
        last: tuple[int, int, str] | None = None
        for row in rows:
            if not _readable(reads, row.obj):
                continue
            if len(response.records) == size:
                assert last is not None
                response.next_page_token = _encode_token(fingerprint, last, as_of=as_of.isoformat())
                break
            response.records.add(
                record=_record(row.obj, today),
                kind=row.kind,
                deadline=row.deadline,
                days_overdue=row.days,
            )
            last = row.key
        return response

    def _late(self, obj: DomainObject, as_of: dt.date) -> _Overdue | None:
        """The late publication of ``obj`` as judged on ``as_of``, or ``None``."""
        due = obj.attrs.get("publication_deadline")
        published = obj.attrs.get("published_on")
        if not isinstance(due, str) or not isinstance(published, str):
            return None
        deadline = dt.date.fromisoformat(due)
        provisional = bool(obj.attrs.get("deadline_provisional"))
        if provisional:
            # Judged at logging time without the year's holiday schedule: judge again with
            # this node's calendar, which may know the year by now.
            decided = dt.date.fromisoformat(str(obj.attrs["decision_date"]))
            again = publication_deadline(decided, self._calendar)
            deadline, provisional = again.date, again.provisional
        until = min(dt.date.fromisoformat(published), as_of)
        if until <= deadline:
            return None  # published in time, or not yet late on as_of
        days = self._calendar.working_days_between(deadline, until).days
        return _Overdue(
            days=days,
            kind=_LATE,
            obj=obj,
            deadline=common_pb2.Deadline(
                due=date_pb(deadline),
                provisional=provisional,
                period=PUBLICATION_DEADLINE.days,
                working_days=True,
            ),
        )


def _overrun(obj: DomainObject, as_of: dt.date) -> _Overdue | None:
    """``obj`` still ACTIVE after its publication end, as judged on ``as_of``, or ``None``."""
    end_text = obj.attrs.get("publication_end")
    if not isinstance(end_text, str):
        return None
    end = dt.date.fromisoformat(end_text)
    if end >= as_of:
        return None
    decided = dt.date.fromisoformat(str(obj.attrs["decision_date"]))
    from_ruleset = end_text == obj.attrs.get("ruleset_publication_end")
    return _Overdue(
        days=(as_of - end).days,
        kind=_OVERRUN,
        obj=obj,
        deadline=common_pb2.Deadline(
            due=date_pb(end),
            period=max((end - decided).days, 0),
            working_days=False,
            ruleset_id=str(obj.attrs.get("ruleset_id", "")) if from_ruleset else "",
        ),
    )


def _checkpoint(head: LogHead, origin: str) -> log_pb2.SignedCheckpoint | None:
    """The signed checkpoint of ``head`` (a ``LogHead``), or ``None`` before the first one."""
    if not head.checkpoint:
        return None
    data = head.frontier
    frontier = Frontier(
        size=head.size,
        hashes=tuple(data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)),
    )
    return log_pb2.SignedCheckpoint(
        note=head.checkpoint, origin=origin, size=head.size, root_hash=frontier.root()
    )
