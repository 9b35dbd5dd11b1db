"""ListNameListEntries on a regional gateway: its own entries, then those it mirrored.

Zhejiang's gateway (``zj-330000``, a :class:`GatewayNode` over mutual TLS, on both store
backends) logs entries of its own and holds entries of the hub's log that its feed mirrored:
``name-list-entry`` and ``name-list-transition`` statements signed by the hub's operator,
stored as the feed stores them (``Store.advance_feed``, with their subject and object ids), one
entry also mirrored from a second origin, one also logged by Zhejiang itself. The listing is
checked against what the contract promises a reader of the region: every entry once, in its
current state, whatever the filters and page sizes, and pages that continue across the node's
own entries and the mirrored ones without repeating or skipping one, while new ones arrive.
Nothing is mocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest

from creditlink.gateway.bootstrap import DevFederation
from creditlink.gateway.feed import object_id_of, subject_key_of
from creditlink.gateway.node import GatewayNode
from creditlink.gateway.store import FeedCursor, FeedEntry
from creditlink.sdk import envelope as dsse
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.client import ClientCore
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.tlog import EMPTY_ROOT, leaf_hash
from creditlink.v1 import (
    common_pb2,
    name_list_pb2,
    name_list_service_pb2,
    name_list_service_pb2_grpc,
    statement_pb2,
)
from tests.gateway.listings import (
    HANGZHOU_AMR_USCC,
    LISTED_USCC,
    OTHER_USCC,
    entry_statement,
    transition_statement,
)
from tests.gateway.services.conftest import HUB, ZJ, error_info
from tests.gateway.services.hub_gateway import serve_node

GD = "gd-440000"
S = name_list_pb2.NameListState


@dataclass
class Region:
    """Zhejiang's running gateway, and the mirror of other logs its store holds."""

    node: GatewayNode
    federation: DevFederation
    #: The next leaf of each mirrored origin's log.
    leaves: dict[str, int] = field(default_factory=dict)

    def operator(self, node_id: str = ZJ) -> Credentials:
        return self.federation.node(node_id).operator

    def names(self) -> Any:
        channel = grpc.aio.secure_channel(self.node.endpoint, self.operator().channel_credentials())
        return name_list_service_pb2_grpc.NameListServiceStub(channel)

    async def create(self, body: statement_pb2.Statement, signer: str = ZJ) -> None:
        """``body``, signed by ``signer``'s operator, logged by Zhejiang (a broadcast)."""
        creds = self.operator(signer)
        core = ClientCore(credentials=creds, target=self.node.endpoint, gateway=ZJ)
        prepared = core.build_submit([body], recipients=())
        channel = grpc.aio.secure_channel(self.node.endpoint, creds.channel_credentials())
        async with channel:
            response = await name_list_service_pb2_grpc.NameListServiceStub(
                channel
            ).CreateNameListEntry(
                name_list_service_pb2.CreateNameListEntryRequest(
                    request_id=prepared.request.request_id,
                    sealed_statement=prepared.request.sealed,
                ),
                timeout=10,
            )
        core.verify_receipt(response.receipt, prepared.expected)

    async def mirror(self, origin: str, *bodies: statement_pb2.Statement) -> None:
        """``bodies``, signed by the hub's operator, mirrored from ``origin``'s log at its next
        leaves, as the feed stores them (with their subject and object ids)."""
        signer = self.operator(HUB)
        first = self.leaves.get(origin, 0)
        rows = []
        for offset, body in enumerate(bodies):
            kind = (body.WhichOneof("body") or "").replace("_", "-")
            payload = body.SerializeToString()
            payload_type = dsse.payload_type_for(kind)
            signed = dsse.sign(payload, payload_type, [signer.signing_key])
            at = datetime.now(UTC)
            rows.append(
                FeedEntry(
                    origin_node_id=origin,
                    leaf_index=first + offset,
                    kind=kind,
                    sender_node_id=body.header.sender_node_id,
                    message_id=body.header.message_id,
                    subject_key=subject_key_of(body),
                    object_id=object_id_of(body),
                    envelope=signed.to_bytes(),
                    batched=False,
                    leaf_hash=leaf_hash(pae(payload_type, payload)),
                    integrated_at=at,
                    received_at=at,
                )
            )
        after = first + len(bodies)
        cursor = FeedCursor(
            origin_node_id=origin,
            next_leaf_index=after,
            checkpoint="",
            checkpoint_size=0,
            root_hash=EMPTY_ROOT,
            updated_at=datetime.now(UTC),
        )
        expected = first if origin in self.leaves else None
        await self.node.store.advance_feed(cursor, rows, expected_next=expected)
        self.leaves[origin] = after


@pytest.fixture
async def region(
    federation: DevFederation, store_url: str, tmp_path: Path
) -> AsyncIterator[Region]:
    async for node in serve_node(federation, ZJ, store_url, tmp_path / "zj"):
        yield Region(node, federation)


def zhejiang_entry(operator: str) -> statement_pb2.Statement:
    """An entry Zhejiang determines (a Hangzhou authority, a Hangzhou list)."""
    body = entry_statement(operator, authority_uscc=HANGZHOU_AMR_USCC)
    entry = body.name_list_entry
    entry.determining_authority.name = "杭州市市场监督管理局"
    entry.determining_authority.region_code = "330100"
    entry.region_code = "330100"
    return body


def repaired(hub: str, entry_id: str) -> statement_pb2.Statement:
    return transition_statement(
        hub,
        entry_id,
        S.NAME_LIST_STATE_LISTED,
        S.NAME_LIST_STATE_REPAIRED,
        reason_code=name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED,
    )


async def listed(
    region: Region, page_size: int = 0, **filters: Any
) -> tuple[list[str], list[name_list_pb2.NameListEntry]]:
    """Every page of the listing: the ids in order, and the entries."""
    entries: list[name_list_pb2.NameListEntry] = []
    token = ""
    names = region.names()
    for _ in range(100):
        page = await names.ListNameListEntries(
            name_list_service_pb2.ListNameListEntriesRequest(
                page_size=page_size, page_token=token, **filters
            ),
            timeout=10,
        )
        assert len(page.entries) <= (page_size or 100)
        entries.extend(page.entries)
        token = page.next_page_token
        if not token:
            return [e.entry_id for e in entries], entries
    raise AssertionError("the listing does not end")


def ids(*bodies: statement_pb2.Statement) -> list[str]:
    return [b.name_list_entry.entry_id for b in bodies]


async def test_a_region_lists_its_own_entries_then_the_mirrored_ones(region: Region) -> None:
    hub, zj = region.operator(HUB).node_id, region.operator(ZJ).node_id
    # Zhejiang's own: one it determined, and one of the hub's it logged itself too.
    own = zhejiang_entry(zj)
    await region.create(own)
    both = entry_statement(hub)
    await region.create(both, signer=HUB)
    # Mirrored from the hub's log: listed, about another company, repaired, expired by now.
    listed_one = entry_statement(hub)
    other = entry_statement(hub, uscc=OTHER_USCC)
    lifted = entry_statement(hub)
    ended = entry_statement(hub, start="2025-01-06", end="2025-12-31")
    lifted_id = lifted.name_list_entry.entry_id
    await region.mirror(HUB, listed_one, other, both, lifted, repaired(hub, lifted_id), ended)
    # Mirrored from a second log as well, where it has not moved: listed once, as repaired.
    await region.mirror(GD, lifted)

    everything = [*ids(both, own), *ids(listed_one, other, lifted, ended)]
    for size in (0, 1, 2, 3, 5, 1000):
        order, entries = await listed(region, page_size=size)
        assert order == everything, size
    states = {e.entry_id: e.state for e in entries}
    assert states[lifted_id] == S.NAME_LIST_STATE_REPAIRED  # folded with its transition
    assert states[ended.name_list_entry.entry_id] == S.NAME_LIST_STATE_EXPIRED  # derived
    (answer,) = [e for e in entries if e.entry_id == lifted_id]
    got = await region.names().GetNameListEntry(
        name_list_service_pb2.GetNameListEntryRequest(entry_id=lifted_id), timeout=10
    )
    assert answer == got.entry  # what Get serves for the entry

    # The filters apply to the mirrored entries as to the node's own.
    assert (await listed(region, uscc=OTHER_USCC))[0] == ids(other)
    assert (await listed(region, uscc=LISTED_USCC, page_size=1))[0] == [
        *ids(both, own),
        *ids(listed_one, lifted, ended),
    ]
    assert (await listed(region, states=[S.NAME_LIST_STATE_REPAIRED]))[0] == [lifted_id]
    assert (await listed(region, states=[S.NAME_LIST_STATE_EXPIRED]))[0] == ids(ended)
    assert (await listed(region, states=[S.NAME_LIST_STATE_LISTED], page_size=2))[0] == [
        *ids(both, own),
        *ids(listed_one, other),
    ]
    assert (await listed(region, region_code="330000"))[0] == ids(own)
    assert (await listed(region, determining_authority_uscc=HANGZHOU_AMR_USCC))[0] == ids(own)
    window = name_list_service_pb2.ListNameListEntriesRequest().listing_start
    window.start.CopyFrom(common_pb2.Date(year=2025, month=1, day=1))
    window.end.CopyFrom(common_pb2.Date(year=2025, month=12, day=31))
    assert (await listed(region, listing_start=window))[0] == ids(ended)
    focus = name_list_pb2.NAME_LIST_TYPE_FOCUS_ATTENTION
    assert (await listed(region, list_types=[focus]))[0] == []


async def test_pages_continue_across_own_and_mirrored_entries_as_new_ones_arrive(
    region: Region,
) -> None:
    hub, zj = region.operator(HUB).node_id, region.operator(ZJ).node_id
    own = [zhejiang_entry(zj) for _ in range(3)]
    for body in own:
        await region.create(body)
    mirrored = [entry_statement(hub) for _ in range(4)]
    await region.mirror(HUB, *mirrored)
    names = region.names()

    async def page(token: str) -> tuple[list[str], str]:
        answer = await names.ListNameListEntries(
            name_list_service_pb2.ListNameListEntriesRequest(page_size=2, page_token=token),
            timeout=10,
        )
        return [e.entry_id for e in answer.entries], answer.next_page_token

    seen: list[str] = []
    first, token = await page("")
    second, token = await page(token)  # the last own entry, then the first mirrored one
    seen += first + second
    assert seen == [*ids(*own[::-1]), *ids(mirrored[0])]
    # Meanwhile the feed mirrors more of the hub's log, and a transition of an entry listed.
    late = entry_statement(hub)
    await region.mirror(HUB, repaired(hub, mirrored[0].name_list_entry.entry_id), late)
    again, _ = await page(token)
    assert again == ids(*mirrored[1:3])  # the same token, the same page
    while token:
        more, token = await page(token)
        seen += more
    assert seen == [*ids(*own[::-1]), *ids(*mirrored, late)]  # each once, none skipped

    # A page reads at most ten store pages: one that matches nothing comes back short (empty
    # here), with a token that goes on from where it stopped.
    await region.mirror(HUB, *(entry_statement(hub) for _ in range(4)))
    focus = name_list_pb2.NAME_LIST_TYPE_FOCUS_ATTENTION
    request = name_list_service_pb2.ListNameListEntriesRequest(page_size=1, list_types=[focus])
    pages = 0
    while True:
        pages += 1
        answer = await names.ListNameListEntries(request, timeout=10)
        assert list(answer.entries) == []
        if not answer.next_page_token:
            break
        request.page_token = answer.next_page_token
    assert pages == 2  # 3 own and 9 mirrored rows, one per store page

    for token in ("not-a-token", "eyJtIjpbImNuLWh1YiJdfQ"):  # garbage; {"m":["cn-hub"]}
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await page(token)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(caught.value).reason == "INVALID_PAGE_TOKEN"
