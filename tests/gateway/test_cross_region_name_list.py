"""A penalty recorded in Zhejiang leads to a name-list entry visible in Guangdong, and its repair
lifts the measures in both regions.

A development federation runs in-process: the hub ``cn-hub`` and the regional gateways
``zj-330000`` and ``gd-440000``, each following the hub's feed (name lists and measure lists).
Everything goes through the public services over mutual TLS, signed and sealed by the SDK's
client core; nothing is mocked, only the backoffs are short:

1. the hub publishes the national basic measure list (the 2021 seed, version 2021.1);
2. Zhejiang's operator records an administrative penalty at the Zhejiang gateway, addressed to
   Zhejiang and the hub: Zhejiang logs it and forwards it to the hub, which logs it too;
3. the hub, a determining authority for national lists (``bootstrap.default_grants``), lists
   the company on the serious untrustworthy list on the basis of that record, with measures of
   the national list and its legal representative as responsible person;
4. Guangdong (and Zhejiang) mirror the entry and the measure list from the hub: CheckSubject
   there reports the company listed, with the measures for the purpose, though neither logged
   the entry itself;
5. the hub records the repair (REPAIRED): once mirrored, both regions report the company not
   listed and no measures apply.

A region also serves the hub's entry by id (GetNameListEntry from its mirror, with the hub's
statement as provenance) and lists it among its entries (ListNameListEntries, own entries then
mirrored ones), to the readers whose grants cover the entry's scopes only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from creditlink.cli.dev import node_config
from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.gateway.domain.handlers.name_lists import ENTRY_KIND
from creditlink.gateway.feed import FeedOptions
from creditlink.gateway.node import ForwardingOptions, GatewayNode
from creditlink.gateway.pki import spki_sha256
from creditlink.sdk import envelope as dsse
from creditlink.sdk.client import ClientCore
from creditlink.sdk.client._domain import verify_provenance
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.keys import PrivateKey, load_private_key
from creditlink.sdk.trust import Action, NodeKind, TrustBundleBuilder
from creditlink.v1 import (
    common_pb2,
    exchange_service_pb2_grpc,
    measure_service_pb2,
    measure_service_pb2_grpc,
    name_list_pb2,
    name_list_service_pb2,
    name_list_service_pb2_grpc,
    statement_pb2,
)
from tests.gateway.listings import (
    LEGAL_REP,
    LISTED_USCC,
    OTHER_USCC,
    entry_statement,
    measure_list_statement,
    transition_statement,
)
from tests.gateway.services.conftest import channel_credentials, error_info, issue_client_cert
from tests.gateway.statements import penalty_record
from tests.gateway.test_forwarding import _free_base_port, until

HUB, ZJ, GD = "cn-hub", "zj-330000", "gd-440000"
FAST_FORWARDING = ForwardingOptions(
    min_backoff=0.05, max_backoff=0.3, attempt_timeout=3.0, poll_interval=0.2
)
FAST_FEED = FeedOptions(
    min_backoff=0.05, max_backoff=0.3, permanent_backoff=30.0, call_timeout=3.0, anchor_interval=0.1
)
PROCUREMENT = common_pb2.USE_PURPOSE_GOVERNMENT_PROCUREMENT


@dataclass
class Federation:
    directory: DevFederation
    nodes: dict[str, GatewayNode]

    def operator(self, node_id: str) -> Credentials:
        return self.directory.node(node_id).operator

    def channel(self, node_id: str) -> grpc.aio.Channel:
        creds = self.operator(node_id)
        return grpc.aio.secure_channel(self.nodes[node_id].endpoint, creds.channel_credentials())

    def core(self, node_id: str) -> ClientCore:
        """The client core of ``node_id``'s operator, talking to ``node_id``."""
        return ClientCore(
            credentials=self.operator(node_id),
            target=self.nodes[node_id].endpoint,
            gateway=node_id,
        )


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[Federation]:
    directory = create_dev_federation(tmp_path / "fed", base_port=_free_base_port())
    nodes: dict[str, GatewayNode] = {}
    try:
        for member in directory.nodes:  # the hub first: the regions follow it
            node = GatewayNode(
                node_config(directory, member.node_id),
                member.credentials,
                forwarding=FAST_FORWARDING,
                feed=FAST_FEED,
            )
            await node.start()
            nodes[member.node_id] = node
        yield Federation(directory, nodes)
    finally:
        for node in reversed(list(nodes.values())):
            await node.stop(0)


async def publish_at_hub(fed: Federation, body: statement_pb2.Statement, rpc: str) -> Any:
    """The hub's operator signs, seals and submits ``body`` (a broadcast) through ``rpc``."""
    core = fed.core(HUB)
    prepared = core.build_submit([body], recipients=())
    sealed, request_id = prepared.request.sealed, prepared.request.request_id
    if rpc == "PublishMeasureList":
        stub: Any = measure_service_pb2_grpc.MeasureServiceStub(fed.channel(HUB))
        request: Any = measure_service_pb2.PublishMeasureListRequest(
            request_id=request_id, sealed_statement=sealed
        )
    else:
        stub = name_list_service_pb2_grpc.NameListServiceStub(fed.channel(HUB))
        request = getattr(name_list_service_pb2, f"{rpc}Request")(
            request_id=request_id, sealed_statement=sealed
        )
    response = await getattr(stub, rpc)(request, timeout=10)
    core.verify_receipt(response.receipt, prepared.expected)
    return response


async def record_penalty_in_zhejiang(fed: Federation, recipients: Sequence[str]) -> str:
    """Zhejiang's operator records a penalty at Zhejiang; the record's id."""
    record = penalty_record(uscc=LISTED_USCC)
    core = fed.core(ZJ)
    prepared = core.build_submit([record], recipients=recipients)
    stub = exchange_service_pb2_grpc.ExchangeServiceStub(fed.channel(ZJ))
    response = await stub.Submit(prepared.request, timeout=10)
    core.verify_receipt(response.receipt, prepared.expected)

    async def at_hub() -> bool:
        return await fed.nodes[HUB].store.get_message(prepared.expected.message_id) is not None

    await until(at_hub)  # forwarded by Zhejiang's outbox, logged by the hub
    return record.record_id


async def check(
    fed: Federation, node_id: str, purpose: int = PROCUREMENT, **subject: Any
) -> name_list_service_pb2.CheckSubjectResponse:
    """CheckSubject at ``node_id``, asked by that node's operator."""
    stub = name_list_service_pb2_grpc.NameListServiceStub(fed.channel(node_id))
    request = name_list_service_pb2.CheckSubjectRequest(purpose=purpose, **subject)  # type: ignore[arg-type]
    if not subject:
        request.uscc = LISTED_USCC
    response: name_list_service_pb2.CheckSubjectResponse = await stub.CheckSubject(
        request, timeout=10
    )
    return response


def listed_at(fed: Federation, node_id: str, listed: bool) -> Any:
    async def condition() -> bool:
        return (await check(fed, node_id)).listed is listed

    return condition


async def test_a_zhejiang_penalty_listed_at_the_hub_is_seen_and_lifted_in_guangdong(
    federation: Federation,
) -> None:
    fed = federation
    hub_operator = fed.operator(HUB).node_id
    await publish_at_hub(fed, measure_list_statement(hub_operator), "PublishMeasureList")

    # 1-2. The penalty, recorded in Zhejiang, reaches the hub.
    record_id = await record_penalty_in_zhejiang(fed, [ZJ, HUB])
    hub_rows = await fed.nodes[HUB].store.entries_by_subject(LISTED_USCC, limit=10)
    assert [r.kind for r in hub_rows] == ["record"]
    logged = statement_pb2.Statement.FromString(hub_rows[0].payload)
    assert logged.record.record_id == record_id
    for node_id in (GD, ZJ):
        assert not (await check(fed, node_id)).listed

    # 3. The hub lists the company on the basis of that record.
    listing = entry_statement(hub_operator, record_id=record_id, measures=("1", "4", "11"))
    entry_id = listing.name_list_entry.entry_id
    created = await publish_at_hub(fed, listing, "CreateNameListEntry")
    assert created.entry.state == name_list_pb2.NAME_LIST_STATE_LISTED

    # 4. Guangdong and Zhejiang see it, from their mirror of the hub's log.
    for node_id in (GD, ZJ):
        await until(listed_at(fed, node_id, True))
        answer = await check(fed, node_id)
        (entry,) = answer.entries
        assert entry.entry_id == entry_id
        assert entry.state == name_list_pb2.NAME_LIST_STATE_LISTED
        assert entry.basis[0].record_id == record_id
        assert [m.ref.measure_id for m in answer.measures] == ["1"]
        (measure,) = answer.measures
        assert (measure.ref.list_id, measure.ref.version) == ("national-basic", "2021.1")
        assert measure.measure.title == "限制参加政府采购活动"
        assert list(measure.entry_ids) == [entry_id]
        everything = await check(fed, node_id, common_pb2.USE_PURPOSE_GENERAL)
        assert [m.ref.measure_id for m in everything.measures] == ["1", "4", "11"]
        # The region logged no such entry: the answer comes from the verified mirror.
        assert await fed.nodes[node_id].store.get_object(ENTRY_KIND, entry_id) is None
        # ... and the answer is tied to the region's own log.
        assert answer.checkpoint.origin == fed.nodes[node_id].credentials.node.log_origin
    # At the hub, the legal representative's personal entry carries measure 4 to the person.
    personal = await check(
        fed,
        HUB,
        common_pb2.USE_PURPOSE_GENERAL,
        person_token=LEGAL_REP,
        include_responsible_person=True,
    )
    assert [m.ref.measure_id for m in personal.measures] == ["4"]

    # 5. The repair, decided at the hub, lifts the listing in both regions.
    repair = transition_statement(
        hub_operator,
        entry_id,
        name_list_pb2.NAME_LIST_STATE_LISTED,
        name_list_pb2.NAME_LIST_STATE_REPAIRED,
        reason_code=name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED,
        reason="信用修复申请已通过，停止公示并解除惩戒措施。",
    )
    repaired = await publish_at_hub(fed, repair, "TransitionNameListEntry")
    assert repaired.entry.state == name_list_pb2.NAME_LIST_STATE_REPAIRED
    assert not (await check(fed, HUB)).listed
    for node_id in (GD, ZJ):
        await until(listed_at(fed, node_id, False))
        answer = await check(fed, node_id, common_pb2.USE_PURPOSE_GENERAL)
        assert (answer.listed, list(answer.entries), list(answer.measures)) == (False, [], [])
        # The region lists the hub's entry in its current state.
        names = name_list_service_pb2_grpc.NameListServiceStub(fed.channel(node_id))
        repaired_ones = await list_entries(names, states=[name_list_pb2.NAME_LIST_STATE_REPAIRED])
        assert [e.entry_id for e in repaired_ones] == [entry_id]
        # Asked about an instant before the repair took effect, the region still says listed.
        before = repair.name_list_transition.effective_at.ToDatetime(tzinfo=UTC)
        request_time = datetime.fromtimestamp(before.timestamp() - 1, tz=UTC)
        stub = name_list_service_pb2_grpc.NameListServiceStub(fed.channel(node_id))
        past = name_list_service_pb2.CheckSubjectRequest(uscc=LISTED_USCC, purpose=PROCUREMENT)
        past.as_of.FromDatetime(request_time)
        assert (await stub.CheckSubject(past, timeout=10)).listed


async def list_entries(stub: Any, **filters: Any) -> list[name_list_pb2.NameListEntry]:
    """Every page of ``ListNameListEntries`` with ``filters``."""
    out: list[name_list_pb2.NameListEntry] = []
    request = name_list_service_pb2.ListNameListEntriesRequest(**filters)
    while True:
        page = await stub.ListNameListEntries(request, timeout=10)
        out.extend(page.entries)
        if not page.next_page_token:
            return out
        request.page_token = page.next_page_token


def _with_readers(fed: Federation, readers: Sequence[tuple[str, str, bytes]]) -> dsse.Envelope:
    """The hub's next trust bundle with one client per ``(node id, READ scope, cert PEM)``,
    which may read name-list entries within that scope only; signed by the federation's roots.
    """
    current = fed.nodes[HUB].trust()
    now = datetime.now(UTC).replace(microsecond=0)
    builder = TrustBundleBuilder.from_bundle(
        current, issued_at=now, expires_at=now + timedelta(days=30)
    )
    for node_id, scope, cert in readers:
        builder.add_node(
            node_id,
            region_code=scope.removeprefix("region:"),
            kind=NodeKind.CLIENT,
            tls_spki_sha256=[spki_sha256(cert)],
        )
        builder.add_permission(node_id, Action.READ, kinds=[ENTRY_KIND], scopes=[scope])
    roots = [
        load_private_key(fed.directory.directory / "federation" / f"root-{i}.pem") for i in (1, 2)
    ]
    return builder.sign([k for k in roots if isinstance(k, PrivateKey)])


async def test_a_region_serves_the_hubs_entry_by_id_to_whoever_may_read_it(
    federation: Federation,
) -> None:
    fed = federation
    hub_operator = fed.operator(HUB).node_id
    listing = entry_statement(hub_operator)  # a Hangzhou company: region:330100 among its scopes
    entry_id = listing.name_list_entry.entry_id
    created = await publish_at_hub(fed, listing, "CreateNameListEntry")
    await until(listed_at(fed, ZJ, True))

    # Zhejiang's operator (READ everything) gets it by id from Zhejiang's mirror: the entry as
    # the hub answers it, and the hub's statement as provenance, naming the hub.
    request = name_list_service_pb2.GetNameListEntryRequest(entry_id=entry_id, include_proof=True)
    zj_names = name_list_service_pb2_grpc.NameListServiceStub(fed.channel(ZJ))
    got = await zj_names.GetNameListEntry(request, timeout=10)
    assert got.entry == created.entry
    (provenance,) = got.provenance
    assert provenance.gateway_node_id == HUB
    assert provenance.message_id == listing.header.message_id
    (verified,) = verify_provenance(fed.core(ZJ), got.provenance, proofs=True)
    assert verified.entry.statement == listing
    assert await fed.nodes[ZJ].store.get_object(ENTRY_KIND, entry_id) is None  # only mirrored
    # ... and lists it among its entries, as Get serves it, with the filters applied to it.
    assert await list_entries(zj_names) == [created.entry]
    assert await list_entries(zj_names, uscc=LISTED_USCC, page_size=1) == [created.entry]
    assert await list_entries(zj_names, uscc=OTHER_USCC) == []
    assert await list_entries(zj_names, states=[name_list_pb2.NAME_LIST_STATE_REPAIRED]) == []

    # Two clients with scoped READ grants, adopted by the hub and followed by Zhejiang: one
    # within Zhejiang (the subject's region), one within Guangdong.
    zj_cert, zj_key = issue_client_cert(fed.directory, "zj-330000-reader")
    gd_cert, gd_key = issue_client_cert(fed.directory, "gd-440000-reader")
    v2 = _with_readers(
        fed,
        [
            ("zj-330000-reader", "region:330000", zj_cert),
            ("gd-440000-reader", "region:440000", gd_cert),
        ],
    )
    await fed.nodes[HUB].install_trust_bundle(v2)

    async def adopted() -> bool:
        return fed.nodes[ZJ].trust().version == fed.nodes[HUB].trust().version

    await until(adopted)
    endpoint = fed.nodes[ZJ].endpoint
    within = channel_credentials(fed.directory, zj_cert, zj_key)
    async with grpc.aio.secure_channel(endpoint, within) as channel:
        stub = name_list_service_pb2_grpc.NameListServiceStub(channel)
        assert (await stub.GetNameListEntry(request, timeout=10)).entry == created.entry
        assert await list_entries(stub) == [created.entry]
    # Judged on the entry's scopes as for Zhejiang's own entries: refused by id, and left out
    # of CheckSubject as CheckSubject leaves out what a caller may not read.
    outside = channel_credentials(fed.directory, gd_cert, gd_key)
    async with grpc.aio.secure_channel(endpoint, outside) as channel:
        stub = name_list_service_pb2_grpc.NameListServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetNameListEntry(request, timeout=10)
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert error_info(caught.value).reason == "PERMISSION_DENIED_READ"
        check = name_list_service_pb2.CheckSubjectRequest(uscc=LISTED_USCC, purpose=PROCUREMENT)
        assert not (await stub.CheckSubject(check, timeout=10)).listed
        assert await list_entries(stub) == []  # left out of lists too
        # An id found nowhere is not found, for a scoped reader too.
        unknown = name_list_service_pb2.GetNameListEntryRequest(
            entry_id="00000000-0000-4000-8000-000000000000"
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetNameListEntry(unknown, timeout=10)
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        assert error_info(caught.value).reason == "NAME_LIST_ENTRY_NOT_FOUND"
