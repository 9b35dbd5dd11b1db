"""The domain services through ``AsyncClient``, across a development federation.

Three real gateways (``cn-hub``, ``zj-330000``, ``gd-440000``) run in this module's event loop
over mutual TLS, started once for the module as ``creditlink dev up`` starts them, and each
operator connects with ``AsyncClient.from_credentials`` as a user would. Zhejiang's operator
publishes records about a Hangzhou company, reads them back page by page and has Zhejiang issue
credit reports on it; Guangdong checks those reports, offline with nothing but its own trust
bundle and online through its own gateway, which asks Zhejiang for the proof and the status.
Revocation and supersession at the issuer then change what Guangdong answers. The hub's
operator publishes the national measure list and lists a company, and is asked which measures
apply; Zhejiang mirrors both and serves them with the inclusion proofs its feed verified: the
measure list, and the hub's entry by id, in its current state once the hub has moved it.
Nothing is mocked; only the forwarding backoffs are short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from creditlink.gateway.domain.measures import load_seed_2021
from creditlink.sdk import AsyncClient
from creditlink.sdk.client._pager import AsyncPager
from creditlink.sdk.credentials import read_trust_bundle
from creditlink.sdk.errors import NotFound
from creditlink.sdk.ids import report_no
from creditlink.sdk.reports import ReportBundle, UsePurpose, verify_report_offline
from creditlink.v1 import common_pb2, name_list_pb2, name_list_service_pb2, record_pb2, report_pb2
from tests.gateway.listings import LISTED_USCC, OTHER_USCC, entry_statement, transition_statement
from tests.gateway.statements import penalty_record
from tests.gateway.test_cross_region_report import (
    GD,
    HUB,
    ZJ,
    ZJ_AUTHORITY_USCC,
    Federation,
    running_federation,
)
from tests.gateway.test_forwarding import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROCUREMENT = common_pb2.USE_PURPOSE_GOVERNMENT_PROCUREMENT
#: A second Hangzhou company (valid check characters), reported on by the supersession test.
SECOND_USCC = "91330100MA00000072"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Federation]:
    async with running_federation(Path(tmp_path_factory.mktemp("domain-fed")) / "fed") as running:
        yield running


async def _operator(fed: Federation, node_id: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient.from_credentials(fed.operator_dir(node_id)) as client:
        assert await client.gateway() == node_id
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def zj(fed: Federation) -> AsyncIterator[AsyncClient]:
    """Zhejiang's operator, connected to Zhejiang's gateway."""
    async for client in _operator(fed, ZJ):
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gd(fed: Federation) -> AsyncIterator[AsyncClient]:
    """Guangdong's operator, connected to Guangdong's gateway: the relying party."""
    async for client in _operator(fed, GD):
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(fed: Federation) -> AsyncIterator[AsyncClient]:
    async for client in _operator(fed, HUB):
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def penalties(zj: AsyncClient) -> list[record_pb2.CreditRecord]:
    """Three penalties about the Hangzhou company, published at Zhejiang; newest decision
    first."""
    records = [penalty_record(uscc=LISTED_USCC) for _ in range(3)]
    for day, published in zip((4, 3, 2), records, strict=True):
        published.decision_date.day = day
    receipt = await zj.submit(records)
    assert receipt.leaf_count == 3
    return records


async def test_records_get_and_list(
    zj: AsyncClient, penalties: list[record_pb2.CreditRecord]
) -> None:
    newest = penalties[0]
    view = await zj.get_record(newest.record_id, include_proof=True)
    assert view.value == newest
    assert not view.disputed
    (origin,) = view.provenance
    assert origin.gateway_node_id == ZJ
    assert origin.entry.batch_id is not None  # published as one signed batch
    assert origin.entry.statement.record == newest
    assert origin.inclusion is not None
    assert origin.inclusion.checkpoint.origin == zj.trust_bundle.node(ZJ).log_origin

    ids = [r.record_id for r in penalties]
    pager = zj.list_records(LISTED_USCC, page_size=1)
    assert isinstance(pager, AsyncPager)
    assert [r.record_id async for r in pager] == ids
    pages = [page async for page in zj.list_records(LISTED_USCC, page_size=2).pages]
    assert [len(p.items) for p in pages] == [2, 1]
    assert pages[-1].next_page_token == ""
    first_two = await zj.list_records(LISTED_USCC, page_size=1, max_items=2).all()
    assert [r.record_id for r in first_two] == ids[:2]
    revoked_only = zj.list_records(LISTED_USCC, statuses=[record_pb2.RECORD_STATUS_REVOKED])
    assert await revoked_only.all() == []
    with pytest.raises(NotFound) as caught:
        await zj.get_record("00000000-0000-4000-8000-000000000000")
    assert caught.value.reason == "RECORD_NOT_FOUND"


async def test_check_subject_at_the_hub_and_in_a_region(
    fed: Federation, hub: AsyncClient, zj: AsyncClient
) -> None:
    seed = load_seed_2021()
    published = await hub.publish_measure_list(seed)
    assert published.value == seed
    entry = entry_statement(hub.credentials.node_id, uscc=OTHER_USCC).name_list_entry
    created = await hub.create_name_list_entry(entry)
    assert created.value is not None
    assert created.value.state == name_list_pb2.NAME_LIST_STATE_LISTED

    check = await hub.check_subject(OTHER_USCC, PROCUREMENT)
    assert check.listed
    assert [e.entry_id for e in check.entries] == [entry.entry_id]
    assert [(m.ref.version, m.ref.measure_id) for m in check.measures] == [("2021.1", "1")]
    assert check.measures[0].measure == seed.measures[0]
    assert check.checkpoint.size > created.receipt.first_leaf_index
    assert check.checkpoint.origin == hub.trust_bundle.node(HUB).log_origin
    nobody = await hub.check_subject(SECOND_USCC, PROCUREMENT)
    assert (nobody.listed, nobody.entries, nobody.measures) == (False, (), ())

    listed = hub.list_name_list_entries(
        name_list_service_pb2.ListNameListEntriesRequest(uscc=OTHER_USCC), page_size=1
    )
    assert [e.entry_id async for e in listed] == [entry.entry_id]
    fetched = await hub.get_name_list_entry(entry.entry_id, include_proof=True)
    assert fetched.provenance[0].entry.message_id == created.receipt.message_id
    assert fetched.provenance[0].inclusion is not None
    versions = [m.version async for m in hub.list_measure_lists("national-basic")]
    assert versions == ["2021.1"]

    # Zhejiang answers too once its feed has mirrored the hub's entry and measure list.
    async def mirrored() -> bool:
        return bool((await zj.check_subject(OTHER_USCC, PROCUREMENT)).measures)

    await until(mirrored)
    regional = await zj.check_subject(OTHER_USCC, PROCUREMENT)
    assert [e.entry_id for e in regional.entries] == [entry.entry_id]
    assert regional.measures == check.measures
    assert regional.checkpoint.origin == zj.trust_bundle.node(ZJ).log_origin
    # The mirrored version's provenance is the hub's statement, verified under the hub's keys.
    national = await zj.get_measure_list("national-basic")
    assert national.value == seed
    assert national.provenance[0].gateway_node_id == HUB
    assert national.provenance[0].entry.message_id == published.receipt.message_id
    assert national.provenance[0].inclusion is None
    # Zhejiang does not hold the hub's tree; with proofs it serves the inclusion proof its feed
    # verified and stored, in a checkpoint the hub signed, which the SDK verifies under the
    # hub's checkpoint key.
    proven = await zj.get_measure_list("national-basic", include_proof=True)
    assert proven.value == seed
    (origin,) = proven.provenance
    assert origin.gateway_node_id == HUB
    assert origin.inclusion is not None
    assert origin.inclusion.checkpoint.origin == zj.trust_bundle.node(HUB).log_origin
    assert origin.inclusion.entry.leaf_index == published.receipt.first_leaf_index
    assert origin.inclusion.checkpoint.size > published.receipt.first_leaf_index

    # The hub's name-list entry, mirrored: Zhejiang serves it by id too, as the hub determined
    # it, with the hub's statement as provenance and the inclusion proof its feed verified,
    # which the SDK verifies under the hub's checkpoint key.
    regional_entry = await zj.get_name_list_entry(entry.entry_id, include_proof=True)
    assert regional_entry.value.state == name_list_pb2.NAME_LIST_STATE_LISTED
    assert regional_entry.value == fetched.value
    (listing,) = regional_entry.provenance
    assert listing.gateway_node_id == HUB
    assert listing.entry.message_id == created.receipt.message_id
    assert listing.entry.statement.name_list_entry == entry
    assert listing.inclusion is not None
    assert listing.inclusion.checkpoint.origin == zj.trust_bundle.node(HUB).log_origin
    assert listing.inclusion.entry.leaf_index == created.receipt.first_leaf_index

    # The hub moves the entry; once Zhejiang has mirrored the transition it answers with the
    # entry in its new state, and the transition's provenance after the listing's.
    objection = transition_statement(
        hub.credentials.node_id,
        entry.entry_id,
        name_list_pb2.NAME_LIST_STATE_LISTED,
        name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION,
        reason_code=name_list_pb2.TRANSITION_REASON_OBJECTION_FILED,
        reason="当事人对列入决定提出异议，正在核查。",
    ).name_list_transition
    moved = await hub.transition_name_list_entry(objection)
    assert moved.value is not None
    assert moved.value.state == name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION

    async def moved_in_zhejiang() -> bool:
        got = await zj.get_name_list_entry(entry.entry_id)
        return got.value.state == name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION

    await until(moved_in_zhejiang)
    now = await zj.get_name_list_entry(entry.entry_id, include_proof=True)
    assert now.value == (await hub.get_name_list_entry(entry.entry_id)).value
    assert list(now.value.transitions) == [objection]
    assert [p.entry.message_id for p in now.provenance] == [
        created.receipt.message_id,
        moved.receipt.message_id,
    ]
    assert now.provenance[1].entry.statement.name_list_transition == objection
    for item in now.provenance:
        assert item.gateway_node_id == HUB
        assert item.inclusion is not None
        assert item.inclusion.checkpoint.origin == zj.trust_bundle.node(HUB).log_origin
    assert now.provenance[1].inclusion is not None
    assert now.provenance[1].inclusion.entry.leaf_index == moved.receipt.first_leaf_index
    # An id that is neither Zhejiang's nor mirrored is still not found.
    with pytest.raises(NotFound) as missing:
        await zj.get_name_list_entry("00000000-0000-4000-8000-000000000000")
    assert missing.value.reason == "NAME_LIST_ENTRY_NOT_FOUND"


async def test_a_report_issued_in_zhejiang_is_recognized_in_guangdong_until_revoked(
    fed: Federation, zj: AsyncClient, gd: AsyncClient, penalties: list[record_pb2.CreditRecord]
) -> None:
    issued = await zj.issue_report(LISTED_USCC, PROCUREMENT, authority_uscc=ZJ_AUTHORITY_USCC)
    assert issued.result.recognized
    number = issued.report.report_number
    assert report_no.is_valid(number)
    assert issued.report.issuer_node_id == ZJ
    assert issued.report.subject.uscc == LISTED_USCC
    assert issued.bundle.log_node_id == ZJ
    # The portable bundle survives its JSON form byte for byte.
    bundle = ReportBundle.from_json(issued.bundle.to_json())
    assert bundle == issued.bundle

    # Guangdong recognizes it offline, with nothing but its own verified trust bundle.
    gd_trust = read_trust_bundle(fed.directory.node(GD).credentials_dir)
    offline = verify_report_offline(
        bundle, gd_trust, purpose=UsePurpose(PROCUREMENT), subject=LISTED_USCC
    )
    assert offline.recognized, [f.message for f in offline.failures]
    assert offline.report == issued.report

    # ... and online: Guangdong's gateway asks Zhejiang for the proof and the status.
    online = await gd.verify_report(bundle, purpose=PROCUREMENT, subject=LISTED_USCC)
    assert online.recognized, online.messages
    assert (online.report_number, online.issuer_node_id) == (number, ZJ)
    assert online.status == report_pb2.REPORT_STATUS_VALID
    assert online.provenance[0].gateway_node_id == ZJ
    by_number = await gd.verify_report(report_no.format(number))
    assert by_number.recognized
    assert by_number.report is not None
    assert by_number.report.report_number == number
    wrong = await gd.verify_report(bundle, purpose=common_pb2.USE_PURPOSE_BIDDING)
    assert wrong.reasons == (report_pb2.RECOGNITION_REASON_PURPOSE_MISMATCH,)
    other = await gd.verify_report(bundle, subject=SECOND_USCC)
    assert not other.recognized

    # Revoked at the issuer: Guangdong learns it from Zhejiang.
    revoked = await zj.revoke_report(number, "出具时引用的处罚记录已被撤销")
    assert revoked.value is not None
    assert revoked.value.status == report_pb2.REPORT_STATUS_REVOKED
    assert revoked.receipt.payload_type == (
        "application/vnd.creditlink.report-status-change.v1+protobuf"
    )
    status = await zj.get_report(number, include_proof=True)
    assert status.value.status == report_pb2.REPORT_STATUS_REVOKED
    change = status.provenance[1].entry.statement.report_status_change
    assert (change.report_number, change.new_status) == (number, report_pb2.REPORT_STATUS_REVOKED)
    assert all(p.inclusion is not None for p in status.provenance)
    refused = await gd.verify_report(bundle, purpose=PROCUREMENT, subject=LISTED_USCC)
    assert not refused.recognized
    assert refused.reasons == (report_pb2.RECOGNITION_REASON_REVOKED,)
    assert refused.status == report_pb2.REPORT_STATUS_REVOKED
    by_number = await gd.verify_report(number, at=datetime.now(UTC))
    assert by_number.reasons == (report_pb2.RECOGNITION_REASON_REVOKED,)


async def test_supersede_a_report(zj: AsyncClient, gd: AsyncClient) -> None:
    await zj.submit(penalty_record(uscc=SECOND_USCC))
    first = await zj.issue_report(SECOND_USCC, PROCUREMENT, authority_uscc=ZJ_AUTHORITY_USCC)
    old = first.report.report_number

    replaced = await zj.supersede_report(
        old, subject=SECOND_USCC, purpose=PROCUREMENT, authority_uscc=ZJ_AUTHORITY_USCC
    )
    assert replaced.value is not None
    new = replaced.value.report_number
    assert new != old
    assert replaced.value.supersedes_report_number == old
    assert (await zj.get_report(old)).value.status == report_pb2.REPORT_STATUS_SUPERSEDED

    bundle = await zj.get_report_bundle(new)
    assert bundle.log_node_id == ZJ
    offline = verify_report_offline(
        bundle, gd.trust_bundle, purpose=UsePurpose(PROCUREMENT), subject=SECOND_USCC
    )
    assert offline.recognized
    assert offline.report is not None
    assert offline.report.supersedes_report_number == old
    assert (await gd.verify_report(bundle, purpose=PROCUREMENT, subject=SECOND_USCC)).recognized
    stale = await gd.verify_report(first.bundle)
    assert not stale.recognized
    assert report_pb2.RECOGNITION_REASON_SUPERSEDED in stale.reasons
