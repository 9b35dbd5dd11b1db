"""NameListService and MeasureService on a real gateway over mutual TLS, on both store backends.

The hub ``cn-hub`` of a development federation runs as a :class:`GatewayNode` (its domain
services registered, its handlers projecting the log); its operator signs, seals and submits
statements with the SDK's client core and checks every receipt. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from creditlink.cli import main
from creditlink.gateway.bootstrap import DevFederation
from creditlink.gateway.domain.measures import NATIONAL_BASIC, load_seed_2021
from creditlink.gateway.node import GatewayNode
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.client import ClientCore
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.tlog import leaf_hash, verify_inclusion
from creditlink.v1 import (
    common_pb2,
    measure_service_pb2,
    measure_service_pb2_grpc,
    name_list_pb2,
    name_list_service_pb2,
    name_list_service_pb2_grpc,
    statement_pb2,
)
from tests.gateway.listings import (
    HANGZHOU_AMR_USCC,
    LEGAL_REP,
    LISTED_USCC,
    OTHER_USCC,
    entry_statement,
    measure_list_statement,
    next_version,
    transition_statement,
)
from tests.gateway.services.conftest import HUB, ZJ, error_info
from tests.gateway.services.hub_gateway import serve_node

S = name_list_pb2.NameListState
P = common_pb2


@dataclass
class Hub:
    """The running hub and its federation."""

    node: GatewayNode
    federation: DevFederation

    @property
    def operator(self) -> Credentials:
        return self.federation.node(HUB).operator

    def channel(self, creds: Credentials | None = None) -> grpc.aio.Channel:
        creds = creds or self.operator
        return grpc.aio.secure_channel(self.node.endpoint, creds.channel_credentials())

    def names(self, creds: Credentials | None = None) -> Any:
        return name_list_service_pb2_grpc.NameListServiceStub(self.channel(creds))

    def measures(self, creds: Credentials | None = None) -> Any:
        return measure_service_pb2_grpc.MeasureServiceStub(self.channel(creds))

    def core(self, creds: Credentials | None = None) -> ClientCore:
        return ClientCore(
            credentials=creds or self.operator, target=self.node.endpoint, gateway=HUB
        )


@pytest.fixture
async def hub(federation: DevFederation, store_url: str, tmp_path: Path) -> AsyncIterator[Hub]:
    async for node in serve_node(federation, HUB, store_url, tmp_path / "hub"):
        yield Hub(node, federation)


async def send(
    hub: Hub, body: statement_pb2.Statement, rpc: str, creds: Credentials | None = None
) -> Any:
    """Sign and seal ``body`` as ``creds`` (the hub's operator) and call ``rpc`` with it."""
    core = hub.core(creds)
    prepared = core.build_submit([body], recipients=())
    sealed = prepared.request.sealed
    request_id = prepared.request.request_id
    if rpc == "PublishMeasureList":
        response = await hub.measures(creds).PublishMeasureList(
            measure_service_pb2.PublishMeasureListRequest(
                request_id=request_id, sealed_statement=sealed
            ),
            timeout=10,
        )
    else:
        request_type = getattr(name_list_service_pb2, f"{rpc}Request")
        response = await getattr(hub.names(creds), rpc)(
            request_type(request_id=request_id, sealed_statement=sealed), timeout=10
        )
    receipt = core.verify_receipt(response.receipt, prepared.expected)
    assert receipt.statement_ids == (body.header.message_id,)
    return response


async def refusal(
    hub: Hub, body: statement_pb2.Statement, rpc: str, creds: Credentials | None = None
) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await send(hub, body, rpc, creds)
    return caught.value.code(), error_info(caught.value).reason


async def check(
    hub: Hub,
    purpose: int = P.USE_PURPOSE_GENERAL,
    *,
    uscc: str = LISTED_USCC,
    person: str = "",
    responsible: bool = False,
    as_of: datetime | None = None,
) -> name_list_service_pb2.CheckSubjectResponse:
    request = name_list_service_pb2.CheckSubjectRequest(purpose=purpose)  # type: ignore[arg-type]
    if person:
        request.person_token = person
        request.include_responsible_person = responsible
    else:
        request.uscc = uscc
    if as_of is not None:
        request.as_of.FromDatetime(as_of)
    response: name_list_service_pb2.CheckSubjectResponse = await hub.names().CheckSubject(
        request, timeout=10
    )
    return response


def measure_ids(response: name_list_service_pb2.CheckSubjectResponse) -> list[str]:
    return [m.ref.measure_id for m in response.measures]


def move(hub: Hub, entry_id: str, src: int, dst: int, **kw: Any) -> statement_pb2.Statement:
    return transition_statement(hub.operator.node_id, entry_id, src, dst, **kw)


def verify_provenance(
    provenance: statement_pb2.Provenance, expected: Message, *, with_proof: bool
) -> None:
    """The provenance names the statement and, with a proof, leads to its checkpoint."""
    envelope = provenance.entry.envelope
    assert statement_pb2.Statement.FromString(envelope.payload) == expected
    assert provenance.gateway_node_id == HUB
    if with_proof:
        proof = provenance.inclusion_proof
        verify_inclusion(
            leaf_hash=leaf_hash(pae(envelope.payload_type, envelope.payload)),
            index=proof.leaf_index,
            tree_size=proof.tree_size,
            proof=list(proof.hashes),
            root=provenance.checkpoint.root_hash,
        )
        assert provenance.checkpoint.size == proof.tree_size
    else:
        assert not provenance.HasField("inclusion_proof")


# -- measure lists ---------------------------------------------------------------------------


async def test_measure_lists_are_published_read_by_version_or_date_and_compared(
    hub: Hub,
) -> None:
    seed = load_seed_2021()
    published = await send(hub, measure_list_statement(hub.operator.node_id), "PublishMeasureList")
    assert published.measure_list == seed
    v2022 = next_version(seed, "2022.1", "2023-01-01")
    second = measure_list_statement(hub.operator.node_id, v2022)
    await send(hub, second, "PublishMeasureList")

    stub = hub.measures()
    by_version = await stub.GetMeasureList(
        measure_service_pb2.GetMeasureListRequest(
            list_id=NATIONAL_BASIC, version="2022.1", include_proof=True
        ),
        timeout=10,
    )
    assert by_version.measure_list == v2022
    verify_provenance(by_version.provenance, second, with_proof=True)
    on_day = measure_service_pb2.GetMeasureListRequest(list_id=NATIONAL_BASIC)
    on_day.effective_on.CopyFrom(common_pb2.Date(year=2022, month=6, day=1))
    assert (await stub.GetMeasureList(on_day, timeout=10)).measure_list.version == "2021.1"
    today = measure_service_pb2.GetMeasureListRequest(list_id=NATIONAL_BASIC)
    assert (await stub.GetMeasureList(today, timeout=10)).measure_list.version == "2022.1"
    before = measure_service_pb2.GetMeasureListRequest(list_id=NATIONAL_BASIC)
    before.effective_on.CopyFrom(common_pb2.Date(year=2021, month=12, day=31))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMeasureList(before, timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(caught.value).reason == "MEASURE_LIST_NOT_FOUND"

    # Newest effective date first, one version a page.
    versions: list[str] = []
    token = ""
    while True:
        page = await stub.ListMeasureLists(
            measure_service_pb2.ListMeasureListsRequest(
                list_id=NATIONAL_BASIC, page_size=1, page_token=token
            ),
            timeout=10,
        )
        versions.extend(v.version for v in page.measure_lists)
        token = page.next_page_token
        if not token:
            break
    assert versions == ["2022.1", "2021.1"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListMeasureLists(
            measure_service_pb2.ListMeasureListsRequest(page_token="bm90LWEtdG9rZW4"), timeout=10
        )
    assert error_info(caught.value).reason == "INVALID_PAGE_TOKEN"

    changes = await stub.DiffMeasureLists(
        measure_service_pb2.DiffMeasureListsRequest(
            list_id=NATIONAL_BASIC, from_version="2021.1", to_version="2022.1"
        ),
        timeout=10,
    )
    assert [m.measure_id for m in changes.added] == ["15"]
    assert [m.measure_id for m in changes.removed] == ["2"]
    assert [(c.measure_id, list(c.changed_fields)) for c in changes.changed] == [("1", ["content"])]
    assert changes.to_effective_date == common_pb2.Date(year=2023, month=1, day=1)

    # The chain is kept: the same version again, or a gap, is refused and logs nothing.
    size = (await hub.node.store.head()).size
    again = measure_list_statement(hub.operator.node_id, v2022)
    assert await refusal(hub, again, "PublishMeasureList") == (
        grpc.StatusCode.ALREADY_EXISTS,
        "MEASURE_LIST_VERSION_EXISTS",
    )
    fork = measure_list_statement(hub.operator.node_id, next_version(seed, "2023.1", "2024-01-01"))
    assert await refusal(hub, fork, "PublishMeasureList") == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEASURE_LIST_VERSION_GAP",
    )
    assert (await hub.node.store.head()).size == size


# -- name lists --------------------------------------------------------------------------------


async def test_a_subject_is_listed_checked_by_purpose_and_lifted(hub: Hub) -> None:
    operator = hub.operator.node_id
    await send(hub, measure_list_statement(operator), "PublishMeasureList")
    assert not (await check(hub)).listed

    listing = entry_statement(operator, measures=("1", "4", "11"))
    entry_id = listing.name_list_entry.entry_id
    created = await send(hub, listing, "CreateNameListEntry")
    assert created.entry == listing.name_list_entry

    procurement = await check(hub, P.USE_PURPOSE_GOVERNMENT_PROCUREMENT)
    assert procurement.listed
    assert [e.entry_id for e in procurement.entries] == [entry_id]
    assert measure_ids(procurement) == ["1"]
    (applied,) = procurement.measures
    assert (applied.ref.list_id, applied.ref.version) == (NATIONAL_BASIC, "2021.1")
    assert list(applied.entry_ids) == [entry_id]
    assert applied.measure.title == "限制参加政府采购活动"
    head = await hub.node.store.head()
    assert procurement.checkpoint.size == head.size
    assert procurement.checkpoint.note == head.checkpoint
    assert measure_ids(await check(hub)) == ["1", "4", "11"]  # GENERAL: every measure
    assert measure_ids(await check(hub, P.USE_PURPOSE_FINANCING)) == []
    assert (await check(hub, P.USE_PURPOSE_FINANCING)).listed  # listed, no measure for that
    assert not (await check(hub, uscc=OTHER_USCC)).listed

    # The legal representative: by token, with the measures that target legal representatives.
    assert not (await check(hub, person=LEGAL_REP)).listed
    personal = await check(hub, person=LEGAL_REP, responsible=True)
    assert personal.listed
    assert [e.entry_id for e in personal.entries] == [entry_id]
    assert measure_ids(personal) == ["4"]
    # Before the listing started, the subject was not listed.
    assert not (await check(hub, as_of=datetime(2026, 3, 8, tzinfo=UTC))).listed

    # An objection (the entry is disputed, measures still apply), then repair: lifted.
    objected = await send(
        hub,
        move(
            hub,
            entry_id,
            S.Value("NAME_LIST_STATE_LISTED"),
            S.Value("NAME_LIST_STATE_UNDER_OBJECTION"),
            reason_code=name_list_pb2.TRANSITION_REASON_OBJECTION_FILED,
        ),
        "TransitionNameListEntry",
    )
    assert objected.entry.state == name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION
    during = await check(hub, P.USE_PURPOSE_GOVERNMENT_PROCUREMENT)
    assert during.listed
    assert during.entries[0].state == name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION
    repair = move(
        hub,
        entry_id,
        S.Value("NAME_LIST_STATE_UNDER_OBJECTION"),
        S.Value("NAME_LIST_STATE_REPAIRED"),
        reason_code=name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED,
        reason="信用修复申请已通过。",
    )
    repaired = await send(hub, repair, "TransitionNameListEntry")
    assert repaired.entry.state == name_list_pb2.NAME_LIST_STATE_REPAIRED
    lifted = await check(hub, P.USE_PURPOSE_GOVERNMENT_PROCUREMENT)
    assert (lifted.listed, list(lifted.entries), list(lifted.measures)) == (False, [], [])
    assert not (await check(hub, person=LEGAL_REP, responsible=True)).listed
    # An instant before the repair took effect still reads as listed.
    earlier = repair.name_list_transition.effective_at.ToDatetime(tzinfo=UTC)
    assert (await check(hub, as_of=earlier - timedelta(seconds=1))).listed

    # The entry with its history, each statement's provenance proven in the hub's log.
    got = await hub.names().GetNameListEntry(
        name_list_service_pb2.GetNameListEntryRequest(entry_id=entry_id, include_proof=True),
        timeout=10,
    )
    assert got.entry.state == name_list_pb2.NAME_LIST_STATE_REPAIRED
    assert [t.to_state for t in got.entry.transitions] == [
        name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION,
        name_list_pb2.NAME_LIST_STATE_REPAIRED,
    ]
    assert len(got.provenance) == 3
    for provenance, statement in zip(got.provenance, [listing, None, repair], strict=True):
        if statement is not None:
            verify_provenance(provenance, statement, with_proof=True)
    leaves = [p.entry.leaf_index for p in got.provenance]
    assert leaves == sorted(leaves)


async def test_transitions_are_refused_with_their_reason(hub: Hub) -> None:
    operator = hub.operator.node_id
    listing = entry_statement(operator)
    entry_id = listing.name_list_entry.entry_id
    await send(hub, listing, "CreateNameListEntry")
    listed, repaired = S.Value("NAME_LIST_STATE_LISTED"), S.Value("NAME_LIST_STATE_REPAIRED")
    rectifying = S.Value("NAME_LIST_STATE_RECTIFYING")

    # A stale from_state; a pair the contract itself forbids; an unknown entry.
    assert await refusal(
        hub, move(hub, entry_id, rectifying, repaired), "TransitionNameListEntry"
    ) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "FROM_STATE_MISMATCH",
    )
    assert await refusal(hub, move(hub, entry_id, listed, listed), "TransitionNameListEntry") == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "CONSTRAINT_VIOLATION",
    )
    unknown = move(hub, str(uuid.uuid4()), listed, repaired)
    assert await refusal(hub, unknown, "TransitionNameListEntry") == (
        grpc.StatusCode.NOT_FOUND,
        "NAME_LIST_ENTRY_NOT_FOUND",
    )
    # Zhejiang may publish transitions for its own authorities, not move the hub's entry.
    zj = hub.federation.node(ZJ).operator
    foreign = transition_statement(zj.node_id, entry_id, listed, repaired)
    foreign.name_list_transition.authority.uscc = HANGZHOU_AMR_USCC
    foreign.name_list_transition.authority.region_code = "330100"
    assert await refusal(hub, foreign, "TransitionNameListEntry", zj) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED_DETERMINER",
    )
    # An entry whose listing period is over has expired: only the expiry may be recorded.
    ended = entry_statement(operator, start="2026-01-05", end="2026-02-05")
    await send(hub, ended, "CreateNameListEntry")
    late = move(hub, ended.name_list_entry.entry_id, listed, repaired)
    assert await refusal(hub, late, "TransitionNameListEntry") == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_TRANSITION",
    )
    expired = await send(
        hub,
        move(hub, ended.name_list_entry.entry_id, listed, S.Value("NAME_LIST_STATE_EXPIRED")),
        "TransitionNameListEntry",
    )
    assert expired.entry.state == name_list_pb2.NAME_LIST_STATE_EXPIRED
    # A statement of another kind is not taken by this call.
    wrong = measure_list_statement(operator)
    assert await refusal(hub, wrong, "CreateNameListEntry") == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "WRONG_KIND",
    )
    assert (await hub.node.store.get_object("name-list-entry", entry_id)) is not None


async def test_entries_are_listed_with_filters_and_pages(hub: Hub) -> None:
    operator = hub.operator.node_id
    bodies = [
        entry_statement(operator),
        entry_statement(operator, uscc=OTHER_USCC),
        entry_statement(operator, start="2025-01-06", end="2025-12-31"),  # expired by now
        entry_statement(operator, uscc=OTHER_USCC, end=None),
    ]
    focus = entry_statement(operator)
    focus.name_list_entry.list_type = name_list_pb2.NAME_LIST_TYPE_FOCUS_ATTENTION
    bodies.append(focus)
    for body in bodies:
        await send(hub, body, "CreateNameListEntry")
    ids = [b.name_list_entry.entry_id for b in bodies]

    async def listed(**kw: Any) -> list[str]:
        out: list[str] = []
        token = ""
        while True:
            page = await hub.names().ListNameListEntries(
                name_list_service_pb2.ListNameListEntriesRequest(page_token=token, **kw),
                timeout=10,
            )
            out.extend(e.entry_id for e in page.entries)
            token = page.next_page_token
            if not token:
                return out

    assert await listed() == ids[::-1]  # latest change first
    assert await listed(page_size=2) == ids[::-1]
    assert await listed(uscc=OTHER_USCC, page_size=1) == [ids[3], ids[1]]
    assert await listed(states=[name_list_pb2.NAME_LIST_STATE_EXPIRED]) == [ids[2]]
    assert await listed(states=[name_list_pb2.NAME_LIST_STATE_LISTED], uscc=LISTED_USCC) == [
        ids[4],
        ids[0],
    ]
    focus_type = name_list_pb2.NAME_LIST_TYPE_FOCUS_ATTENTION
    assert await listed(list_types=[focus_type]) == [ids[4]]
    assert await listed(region_code="330000") == []  # all determined nationally
    assert len(await listed(region_code="100000")) == 5
    window = name_list_service_pb2.ListNameListEntriesRequest().listing_start
    window.start.CopyFrom(common_pb2.Date(year=2025, month=1, day=1))
    window.end.CopyFrom(common_pb2.Date(year=2025, month=12, day=31))
    assert await listed(listing_start=window) == [ids[2]]
    got = await hub.names().ListNameListEntries(
        name_list_service_pb2.ListNameListEntriesRequest(uscc=LISTED_USCC), timeout=10
    )
    states = {e.entry_id: e.state for e in got.entries}
    assert states[ids[2]] == name_list_pb2.NAME_LIST_STATE_EXPIRED  # derived, not stored


async def test_bad_requests_name_their_reason(hub: Hub) -> None:
    names = hub.names()
    cases: Sequence[tuple[Any, Any, str]] = [
        (
            names.CheckSubject,
            name_list_service_pb2.CheckSubjectRequest(
                uscc="91330100MA27XL0A6R", purpose=P.USE_PURPOSE_GENERAL
            ),
            "INVALID_USCC",
        ),
        (
            names.CheckSubject,
            name_list_service_pb2.CheckSubjectRequest(uscc=LISTED_USCC),
            "CONSTRAINT_VIOLATION",
        ),
        (
            names.CheckSubject,
            name_list_service_pb2.CheckSubjectRequest(purpose=P.USE_PURPOSE_GENERAL),
            "CONSTRAINT_VIOLATION",
        ),
        (
            names.GetNameListEntry,
            name_list_service_pb2.GetNameListEntryRequest(entry_id=str(uuid.uuid4())),
            "NAME_LIST_ENTRY_NOT_FOUND",
        ),
        (
            names.CreateNameListEntry,
            name_list_service_pb2.CreateNameListEntryRequest(request_id="nope"),
            "CONSTRAINT_VIOLATION",
        ),
    ]
    for method, request, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await method(request, timeout=10)
        assert error_info(caught.value).reason == reason, request


# -- the CLI -----------------------------------------------------------------------------------


async def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(list(argv))

    code = await asyncio.to_thread(run)
    return code, out.getvalue(), err.getvalue()


async def test_the_cli_publishes_the_seed_checks_a_subject_and_diffs(
    hub: Hub, tmp_path: Path
) -> None:
    connect = ["--credentials", str(hub.operator.directory), "--target", hub.node.endpoint]
    code, out, err = await cli("measures", "publish", "--seed-2021", *connect)
    assert (code, err) == (0, "")
    assert "published national-basic@2021.1 (14 measures" in out
    assert "receipt verified" in out

    newer = next_version(load_seed_2021(), "2022.1", "2023-01-01")
    path = tmp_path / "2022.json"
    path.write_text(json.dumps({"measure_list": json_format.MessageToDict(newer)}))
    assert (await cli("measures", "publish", str(path), *connect))[0] == 0
    code, out, _ = await cli("measures", "diff", "2021.1", "2022.1", *connect)
    assert code == 0
    assert "+ #15 限制取得政府供应土地" in out
    assert "- #2 " in out
    assert "~ #1 限制参加政府采购活动: content" in out
    code, _, err = await cli("measures", "publish", str(path), *connect)
    assert code == 1
    assert "MEASURE_LIST_VERSION_EXISTS" in err

    code, out, _ = await cli("namelist", "check", LISTED_USCC, *connect)
    assert code == 0
    assert "listed     : no (0 entries in force)" in out
    assert "checkpoint verified" in out
    listing = entry_statement(hub.operator.node_id, measures=("1", "4"))
    await send(hub, listing, "CreateNameListEntry")
    code, out, _ = await cli(
        "namelist", "check", LISTED_USCC, "--purpose", "government-procurement", "--json", *connect
    )
    assert code == 0  # listed is an answer, not a failure
    answer = json.loads(out)
    assert answer["listed"] is True
    assert [e["entry_id"] for e in answer["entries"]] == [listing.name_list_entry.entry_id]
    assert [m["ref"]["measure_id"] for m in answer["measures"]] == ["1"]
    assert answer["gateway"] == HUB
    code, out, _ = await cli("namelist", "check", LISTED_USCC, *connect)
    assert "listed     : YES (1 entries in force)" in out
    assert "measure    : national-basic@2022.1 #1" in out  # the version in force today
    assert (await cli("namelist", "check", "91330100MA27XL0A6R", *connect))[0] == 2
    code, _, err = await cli(
        "namelist", "check", LISTED_USCC, "--credentials", str(tmp_path), "--target", "x:1"
    )
    assert code == 2
