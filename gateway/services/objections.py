"""ObjectionService: objections against published information, and credit repair applications.

A thin servicer over the shared write path (``ctx.pipeline``: intake, group-committed append
with the domain effect, signed receipt) and the objects the handlers keep
(:mod:`~creditlink.gateway.domain.handlers.objections`,
:mod:`~creditlink.gateway.domain.handlers.repairs`; their docstrings list every object attr and
refusal reason)::

    FileObjection            a sealed ``objection``                          -> receipt, objection
    ResolveObjection         a sealed ``objection-resolution``, or a batch of it with the
                             ``record-correction`` / ``name-list-transition`` /
                             ``report-status-change`` / ``record`` statements that carry it
                             out (applied atomically)                         -> receipt, objection
    SubmitRepairApplication  a sealed ``repair-application``, or a batch of the ``commitment``
                             it references and the application               -> receipt, application
    DecideRepairApplication  a sealed ``repair-decision``, or a batch of the
                             ``name-list-transition`` statements (to REPAIRED) and the decision
                                                                             -> receipt, application
    GetObjection / GetRepairApplication    current status and decision, provenance (+ proofs)
    ListObjections / ListRepairApplications    filtered, earliest deadline first, paged

Each write names the statement kinds it takes (``WRONG_KIND`` otherwise) and takes exactly one
statement of its own kind (``ONE_STATEMENT_REQUIRED``); a single statement's header
``request_id`` must equal the request's (``REQUEST_ID_MISMATCH``; a batch's id is the request
id). ``DecideRepairApplication`` accepting a batch goes beyond the contract's comment (one
``repair-decision`` statement): it lets the deciding node send the REPAIRED transitions that
regions already mirror through the feed, atomically with the decision (see the repairs
handler's "Regions"); a single decision is still what the contract describes.

Reads need a READ grant for the kind (``objection`` or ``repair-application``;
:class:`~creditlink.gateway.auth.Permissions`): a grant within ``*`` opens every object, a
scoped grant the objects whose statement's scopes it covers (the subject's region, the handling
or deciding authority), and the node that filed or submitted one always reads it.
``Get*`` of an object the caller may not read is ``PERMISSION_DENIED_READ``; lists leave such
objects out; provenance lists only the statements the caller may read.

Lists sort by deadline (``ListObjections``: the response deadline, attr
``response_deadline``; ``ListRepairApplications``: the decision deadline, applications without
one last), which no store index serves: the candidates the store's filters select (subject,
statuses) are read and sorted in memory, so a list without a subject reads every objection or
application of the log. ``response_due_by`` / ``decision_due_by`` keep those whose deadline is
on or before the day (open ones: overdue); with statuses exactly OPEN (SUBMITTED) the store's
``due_before`` index does the filtering. ``page_token`` is opaque: URL-safe base64 of the last
item's sort key and a fingerprint of the filters (``INVALID_PAGE_TOKEN`` when they change).

How a filer follows an objection: the resolution names the filer's node among its recipients
(the handler refuses one that does not), so it reaches that node's log through forwarding and
every subscriber of ``ExchangeService.Subscribe`` for ``objection-resolution``; or poll
``GetObjection``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Any, Final

import grpc
from google.protobuf.message import Message

from creditlink.gateway.auth import Permissions
from creditlink.gateway.domain.handlers.objections import KIND as OBJECTION_KIND
from creditlink.gateway.domain.handlers.objections import OPEN, RESOLUTION_KIND
from creditlink.gateway.domain.handlers.repairs import (
    APPLICATION_KIND,
    DECISION_KIND,
    SUBMITTED,
)
from creditlink.gateway.ledger import Acknowledgement
from creditlink.gateway.services._common import check_request_id, require_field
from creditlink.gateway.services._list_reads import ProvenanceBuilder, check_request, readable
from creditlink.gateway.services.pipeline import ServiceContext
from creditlink.gateway.store.base import DomainObject, DomainQuery
from creditlink.sdk.errors import FieldViolation, InvalidArgument, NotFound
from creditlink.sdk.ids import InvalidIdentifier, validate_uscc
from creditlink.v1 import (
    common_pb2,
    envelope_pb2,
    objection_pb2,
    objection_service_pb2,
    objection_service_pb2_grpc,
    repair_pb2,
    statement_pb2,
)

__all__ = ["ObjectionServicer", "register"]

_Context = grpc.aio.ServicerContext[Any, Any]
_pb = objection_service_pb2
SERVICE_NAME: Final = _pb.DESCRIPTOR.services_by_name["ObjectionService"].full_name
#: Items per page when the request asks for 0 (the contract's "server default").
DEFAULT_PAGE_SIZE: Final = 50
#: Objects read from the store per query while collecting candidates.
_SCAN: Final = 1000
#: Sorts after every ISO date: applications without a decision deadline come last.
_NO_DEADLINE: Final = "9999-12-31"

#: Statement kinds each write takes besides its own (the statements that carry it out).
_RESOLUTION_COMPANIONS: Final = frozenset(
    {"record-correction", "name-list-transition", "report-status-change", "record"}
)
_APPLICATION_COMPANIONS: Final = frozenset({"commitment"})
_DECISION_COMPANIONS: Final = frozenset({"name-list-transition"})


def register(server: grpc.aio.Server, ctx: ServiceContext) -> str:
    """Add the ObjectionService to ``server``; return its full name."""
    objection_service_pb2_grpc.add_ObjectionServiceServicer_to_server(
        ObjectionServicer(ctx), server
    )
    return SERVICE_NAME


# --- requests, tokens -----------------------------------------------------------------------


def _fingerprint(request: Message) -> str:
    """A digest of the request's filters: the request without its paging fields."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("page_size")
    copy.ClearField("page_token")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:16]


def _encode_token(fingerprint: str, key: tuple[str, str]) -> str:
    data = json.dumps({"f": fingerprint, "k": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> tuple[str, str]:
    """The sort key of the last item of the previous page (``INVALID_PAGE_TOKEN`` if the token
    is not one of ours for these filters)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key = data["k"]
        if (
            not isinstance(data, dict)
            or not isinstance(key, list)
            or len(key) != 2
            or not all(isinstance(k, str) for k in key)
        ):
            raise ValueError("not a page token")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
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
    return (key[0], key[1])


def _subject(request: Any) -> str | None:
    """The subject filter (a USCC is validated, ``INVALID_USCC`` otherwise)."""
    case = request.WhichOneof("subject")
    if case == "uscc":
        try:
            return validate_uscc(request.uscc)
        except InvalidIdentifier as exc:
            raise InvalidArgument(
                f"uscc is not a valid USCC: {exc}",
                reason="INVALID_USCC",
                field_violations=(FieldViolation("uscc", str(exc)),),
            ) from None
    if case == "person_token":
        return str(request.person_token)
    return None


def _day(value: common_pb2.Date, field: str) -> dt.date:
    try:
        return dt.date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidArgument(
            f"{field} is not a date",
            reason="INVALID_DATE",
            field_violations=(FieldViolation(field, "not a date"),),
        ) from None


# --- objects as their statements --------------------------------------------------------------


def _objection(obj: DomainObject) -> objection_pb2.Objection:
    return objection_pb2.Objection.FromString(obj.body)


def _application(obj: DomainObject) -> repair_pb2.RepairApplication:
    return repair_pb2.RepairApplication.FromString(obj.body)


def _filed(obj: DomainObject) -> statement_pb2.Statement:
    """The objection as filed (OPEN, no resolution): what its scopes are judged on."""
    body = _objection(obj)
    body.status = objection_pb2.OBJECTION_STATUS_OPEN
    body.ClearField("resolution")
    return statement_pb2.Statement(objection=body)


def _submitted(obj: DomainObject) -> statement_pb2.Statement:
    """The application as submitted (SUBMITTED, no decision)."""
    body = _application(obj)
    body.status = repair_pb2.REPAIR_STATUS_SUBMITTED
    body.ClearField("decision")
    return statement_pb2.Statement(repair_application=body)


class ObjectionServicer(objection_service_pb2_grpc.ObjectionServiceServicer):
    """The ``creditlink.v1.ObjectionService`` of one gateway."""

    def __init__(self, ctx: ServiceContext) -> None:
        """Serve over the node's shared pipeline, store, trust bundle and clock."""
        self._ctx = ctx

    # --- helpers ---------------------------------------------------------------------------

    def _reads(self, context: _Context) -> Permissions:
        trust, peer = self._ctx.peer(context)
        return Permissions(trust, peer)

    async def _submit(
        self,
        context: _Context,
        request_id: str,
        sealed: envelope_pb2.SealedEnvelope,
        has_sealed: bool,
        *,
        kind: str,
        companions: Collection[str] = (),
    ) -> tuple[Acknowledgement, statement_pb2.Statement]:
        """Check, log and acknowledge one statement of ``kind`` (with its companions in a
        batch); return the receipt and that statement."""
        check_request_id(request_id)
        require_field(has_sealed, "sealed_statement")
        _, peer = self._ctx.peer(context)
        own: list[statement_pb2.Statement] = []

        def check(statements: Sequence[statement_pb2.Statement]) -> None:
            own.extend(s for s in statements if _kind(s) == kind)
            if len(own) != 1:
                raise InvalidArgument(
                    f"this call takes exactly one {kind!r} statement, not {len(own)}",
                    reason="ONE_STATEMENT_REQUIRED",
                )
            if len(statements) == 1 and own[0].header.request_id != request_id:
                raise InvalidArgument(
                    "request_id must equal the statement header's request_id",
                    reason="REQUEST_ID_MISMATCH",
                    field_violations=(
                        FieldViolation("request_id", "differs from header.request_id"),
                    ),
                )

        ack, _ = await self._ctx.pipeline.submit_checked(
            sealed, peer=peer, request_id=request_id, kinds={kind, *companions}, check=check
        )
        return ack, own[0]

    async def _object(self, kind: str, object_id: str, reason: str) -> DomainObject:
        obj = await self._ctx.store.get_object(kind, object_id)
        if obj is None:
            raise NotFound(f"no {kind} {object_id!r} in this log", reason=reason)
        return obj

    async def _scan(self, query: DomainQuery) -> AsyncIterator[DomainObject]:
        """Every object matching ``query``, reading the store a page at a time."""
        before = None
        while True:
            page = await self._ctx.store.query_objects(
                DomainQuery(
                    kinds=query.kinds,
                    subject_key=query.subject_key,
                    states=query.states,
                    flag=query.flag,
                    due_before=query.due_before,
                    before=before,
                    limit=_SCAN,
                )
            )
            for obj in page:
                yield obj
            if len(page) < _SCAN:
                return
            last = page[-1]
            before = (last.leaf_index, last.kind, last.object_id)

    async def _provenance(
        self, obj: DomainObject, reads: Permissions, include_proof: bool
    ) -> list[statement_pb2.Provenance]:
        """Provenance of the statements that made ``obj`` (this log), those ``reads`` allows."""
        store = self._ctx.store
        leaves: dict[int, str] = {}
        for event in await store.object_events(obj.kind, obj.object_id):
            if event.log_origin == self._ctx.log_origin:
                leaves.setdefault(event.leaf_index, event.message_id)
        allowed: dict[int, str] = {}
        for leaf in sorted(leaves):
            row = await store.get_entry(leaf)
            if row is not None and reads.may_read(
                row.kind, sender_node_id=row.sender_node_id, payload=row.payload
            ):
                allowed[leaf] = leaves[leaf]
        builder = ProvenanceBuilder(
            store=store,
            ledger=self._ctx.pipeline.ledger,
            node_id=self._ctx.node_id,
            origin=self._ctx.log_origin,
        )
        return await builder.of_leaves(
            list(allowed), message_ids=list(allowed.values()), include_proof=include_proof
        )

    async def _page(
        self,
        request: Any,
        reads: Permissions,
        *,
        kind: str,
        statuses: Sequence[str],
        open_state: str,
        due_by: str | None,
        deadline_attr: str,
        keep: Callable[[DomainObject], bool],
        as_statement: Callable[[DomainObject], statement_pb2.Statement],
    ) -> tuple[list[DomainObject], str]:
        """One page of ``kind`` objects sorted by deadline; the next page's token."""
        fingerprint = _fingerprint(request)
        after = _decode_token(request.page_token, fingerprint) if request.page_token else None
        due_before = None
        if due_by is not None and list(statuses) == [open_state]:
            # Only open ones carry a due date: the store's index filters them.
            due_before = (dt.date.fromisoformat(due_by) + dt.timedelta(days=1)).isoformat()
        query = DomainQuery(
            kinds=[kind],
            subject_key=_subject(request),
            states=list(statuses) or None,
            due_before=due_before,
        )
        rows: list[tuple[tuple[str, str], DomainObject]] = []
        async for obj in self._scan(query):
            deadline = obj.attrs.get(deadline_attr)
            sort = (deadline if isinstance(deadline, str) else _NO_DEADLINE, obj.object_id)
            if after is not None and sort <= after:
                continue
            if due_by is not None and sort[0] > due_by:
                continue
            if keep(obj):
                rows.append((sort, obj))
        rows.sort(key=lambda row: row[0])
        size = request.page_size or DEFAULT_PAGE_SIZE
        out: list[DomainObject] = []
        last: tuple[str, str] | None = None
        for sort, obj in rows:
            if not readable(reads, kind, obj.origin_node_id, functools.partial(as_statement, obj)):
                continue
            if len(out) == size:
                assert last is not None
                return out, _encode_token(fingerprint, last)
            out.append(obj)
            last = sort
        return out, ""

    # --- objections ------------------------------------------------------------------------

    async def FileObjection(  # noqa: N802 - the contract's method name
        self, request: _pb.FileObjectionRequest, context: _Context
    ) -> _pb.FileObjectionResponse:
        """Log an ``objection``; its targets are disputed until it is resolved."""
        ack, statement = await self._submit(
            context,
            request.request_id,
            request.sealed_statement,
            request.HasField("sealed_statement"),
            kind=OBJECTION_KIND,
        )
        obj = await self._object(
            OBJECTION_KIND, statement.objection.objection_id, "OBJECTION_NOT_FOUND"
        )
        return _pb.FileObjectionResponse(
            receipt=envelope_pb2.Envelope.FromString(ack.receipt), objection=_objection(obj)
        )

    async def ResolveObjection(  # noqa: N802 - the contract's method name
        self, request: _pb.ResolveObjectionRequest, context: _Context
    ) -> _pb.ResolveObjectionResponse:
        """Log an ``objection-resolution`` (with what carries it out, in one batch)."""
        ack, statement = await self._submit(
            context,
            request.request_id,
            request.sealed_statement,
            request.HasField("sealed_statement"),
            kind=RESOLUTION_KIND,
            companions=_RESOLUTION_COMPANIONS,
        )
        obj = await self._object(
            OBJECTION_KIND, statement.objection_resolution.objection_id, "OBJECTION_NOT_FOUND"
        )
        return _pb.ResolveObjectionResponse(
            receipt=envelope_pb2.Envelope.FromString(ack.receipt), objection=_objection(obj)
        )

    async def GetObjection(  # noqa: N802 - the contract's method name
        self, request: _pb.GetObjectionRequest, context: _Context
    ) -> _pb.GetObjectionResponse:
        """An objection with its status, resolution and provenance (and proofs when asked)."""
        reads = self._reads(context)
        reads.require_some_read(OBJECTION_KIND)
        check_request(request)
        obj = await self._object(OBJECTION_KIND, request.objection_id, "OBJECTION_NOT_FOUND")
        reads.require_read(
            OBJECTION_KIND,
            sender_node_id=obj.origin_node_id,
            payload=_filed(obj).SerializeToString(),
        )
        return _pb.GetObjectionResponse(
            objection=_objection(obj),
            provenance=await self._provenance(obj, reads, request.include_proof),
        )

    async def ListObjections(  # noqa: N802 - the contract's method name
        self, request: _pb.ListObjectionsRequest, context: _Context
    ) -> _pb.ListObjectionsResponse:
        """Objections matching the filters, earliest response deadline first."""
        reads = self._reads(context)
        reads.require_some_read(OBJECTION_KIND)
        check_request(request)
        statuses = sorted({objection_pb2.ObjectionStatus.Name(s) for s in request.statuses})
        types = {objection_pb2.ObjectionType.Name(t) for t in request.types}
        due_by = (
            _day(request.response_due_by, "response_due_by").isoformat()
            if request.HasField("response_due_by")
            else None
        )

        def keep(obj: DomainObject) -> bool:
            if types and obj.attrs.get("type") not in types:
                return False
            authority = request.handling_authority_uscc
            if authority and obj.attrs.get("handling_authority_uscc") != authority:
                return False
            if request.target_id:
                targets = obj.attrs.get("target_ids")
                ids = (
                    [str(t).split(":", 1)[-1] for t in targets] if isinstance(targets, list) else []
                )
                if request.target_id not in ids:
                    return False
            return True

        page, token = await self._page(
            request,
            reads,
            kind=OBJECTION_KIND,
            statuses=statuses,
            open_state=OPEN,
            due_by=due_by,
            deadline_attr="response_deadline",
            keep=keep,
            as_statement=_filed,
        )
        return _pb.ListObjectionsResponse(
            objections=[_objection(o) for o in page], next_page_token=token
        )

    # --- repair applications ---------------------------------------------------------------

    async def SubmitRepairApplication(  # noqa: N802 - the contract's method name
        self, request: _pb.SubmitRepairApplicationRequest, context: _Context
    ) -> _pb.SubmitRepairApplicationResponse:
        """Log a ``repair-application`` (with its ``commitment``, in one batch)."""
        ack, statement = await self._submit(
            context,
            request.request_id,
            request.sealed_statement,
            request.HasField("sealed_statement"),
            kind=APPLICATION_KIND,
            companions=_APPLICATION_COMPANIONS,
        )
        obj = await self._object(
            APPLICATION_KIND,
            statement.repair_application.application_id,
            "APPLICATION_NOT_FOUND",
        )
        return _pb.SubmitRepairApplicationResponse(
            receipt=envelope_pb2.Envelope.FromString(ack.receipt), application=_application(obj)
        )

    async def DecideRepairApplication(  # noqa: N802 - the contract's method name
        self, request: _pb.DecideRepairApplicationRequest, context: _Context
    ) -> _pb.DecideRepairApplicationResponse:
        """Log a ``repair-decision``; an approval ends publication of the approved targets."""
        ack, statement = await self._submit(
            context,
            request.request_id,
            request.sealed_statement,
            request.HasField("sealed_statement"),
            kind=DECISION_KIND,
            companions=_DECISION_COMPANIONS,
        )
        obj = await self._object(
            APPLICATION_KIND, statement.repair_decision.application_id, "APPLICATION_NOT_FOUND"
        )
        return _pb.DecideRepairApplicationResponse(
            receipt=envelope_pb2.Envelope.FromString(ack.receipt), application=_application(obj)
        )

    async def GetRepairApplication(  # noqa: N802 - the contract's method name
        self, request: _pb.GetRepairApplicationRequest, context: _Context
    ) -> _pb.GetRepairApplicationResponse:
        """An application with its status, decision and provenance (and proofs when asked)."""
        reads = self._reads(context)
        reads.require_some_read(APPLICATION_KIND)
        check_request(request)
        obj = await self._object(APPLICATION_KIND, request.application_id, "APPLICATION_NOT_FOUND")
        reads.require_read(
            APPLICATION_KIND,
            sender_node_id=obj.origin_node_id,
            payload=_submitted(obj).SerializeToString(),
        )
        return _pb.GetRepairApplicationResponse(
            application=_application(obj),
            provenance=await self._provenance(obj, reads, request.include_proof),
        )

    async def ListRepairApplications(  # noqa: N802 - the contract's method name
        self, request: _pb.ListRepairApplicationsRequest, context: _Context
    ) -> _pb.ListRepairApplicationsResponse:
        """Applications matching the filters, earliest decision deadline first."""
        reads = self._reads(context)
        reads.require_some_read(APPLICATION_KIND)
        check_request(request)
        statuses = sorted({repair_pb2.RepairStatus.Name(s) for s in request.statuses})
        due_by = (
            _day(request.decision_due_by, "decision_due_by").isoformat()
            if request.HasField("decision_due_by")
            else None
        )

        def keep(obj: DomainObject) -> bool:
            authority = request.deciding_authority_uscc
            return not authority or obj.attrs.get("deciding_authority_uscc") == authority

        page, token = await self._page(
            request,
            reads,
            kind=APPLICATION_KIND,
            statuses=statuses,
            open_state=SUBMITTED,
            due_by=due_by,
            deadline_attr="decision_deadline",
            keep=keep,
            as_statement=_submitted,
        )
        return _pb.ListRepairApplicationsResponse(
            applications=[_application(a) for a in page], next_page_token=token
        )


def _kind(statement: statement_pb2.Statement) -> str:
    """The statement's kind (its body's name in kebab case)."""
    return (statement.WhichOneof("body") or "").replace("_", "-")
