"""ObjectionService end to end: a real hub over mutual TLS, real seals, signatures and stores.

Clients are ``zj-330000`` (Zhejiang's platform: publishes records, accepts objections and repair
applications, acts for the Hangzhou market regulator) and ``cn-hub`` (acting for the national
authority that determines name-list entries, and deciding for others when it names the nodes to
notify), through the generated stubs. The gateway's clock is 10 March 2026 unless a test moves
it; what comes back is checked as a peer would check it (receipts under the hub's receipt key,
provenance under the signers' keys).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime

import grpc
import pytest

from creditlink.gateway.bootstrap import DevFederation
from creditlink.gateway.ledger import RECEIPT_PAYLOAD_TYPE
from creditlink.gateway.pki import spki_sha256
from creditlink.gateway.services import objections as objection_service
from creditlink.gateway.services.registry import DOMAIN_SERVICES
from creditlink.sdk import envelope
from creditlink.sdk.trust import Action, NodeKind, TrustBundle
from creditlink.v1 import (
    common_pb2,
    envelope_pb2,
    log_pb2,
    name_list_pb2,
    name_list_service_pb2,
    objection_pb2,
    objection_service_pb2,
    record_pb2,
    record_service_pb2,
    repair_pb2,
    statement_pb2,
)
from creditlink.v1.name_list_service_pb2_grpc import NameListServiceStub
from creditlink.v1.objection_service_pb2_grpc import ObjectionServiceStub
from creditlink.v1.record_service_pb2_grpc import RecordServiceStub
from tests.gateway.listings import date, entry_statement
from tests.gateway.objection_statements import (
    GD,
    HUB,
    NATIONAL,
    SUBJECT,
    ZJ,
    application_statement,
    at_china,
    commitment_statement,
    correction_statement,
    decision_statement,
    objection_statement,
    record,
    record_statement,
    resolution_statement,
)
from tests.gateway.services.conftest import (
    channel_credentials,
    error_info,
    issue_client_cert,
    next_bundle,
)
from tests.gateway.services.objections_gateway import (
    ObjectionGateway,
    sealed,
    serve_objections,
)

pb = objection_service_pb2
D = dt.date
TODAY = D(2026, 3, 10)


@pytest.fixture
async def gateway(federation: DevFederation, store_url: str) -> AsyncIterator[ObjectionGateway]:
    async for running in serve_objections(federation, store_url):
        yield running


@pytest.fixture
async def zj(gateway: ObjectionGateway) -> AsyncIterator[grpc.aio.Channel]:
    async with gateway.channel(gateway.creds(ZJ)) as channel:
        yield channel


@pytest.fixture
async def hub(gateway: ObjectionGateway) -> AsyncIterator[grpc.aio.Channel]:
    async with gateway.channel(gateway.creds(HUB)) as channel:
        yield channel


async def expect_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def verify_receipt(bundle: TrustBundle, signed: envelope_pb2.Envelope) -> log_pb2.Receipt:
    payload = envelope.verify(
        envelope.Envelope.from_proto(signed),
        keys=bundle.signing_keys(HUB, kind="receipt", at=datetime.now(UTC)),
        expected_type=RECEIPT_PAYLOAD_TYPE,
    )
    return log_pb2.Receipt.FromString(payload)


def verified_statement(bundle: TrustBundle, entry: log_pb2.LogEntry) -> statement_pb2.Statement:
    """The statement of a provenance entry (a single envelope), verified under its signer's key."""
    signed = envelope.Envelope.from_proto(entry.envelope)
    kind = signed.payload_type.removeprefix("application/vnd.creditlink.").split(".")[0]
    payload = envelope.verify(
        signed,
        keys=bundle.signing_keys(entry.sender_node_id, kind=kind, at=datetime.now(UTC)),
        expected_type=signed.payload_type,
    )
    return statement_pb2.Statement.FromString(payload)


async def publish(gateway: ObjectionGateway, zj: grpc.aio.Channel, **kw: object) -> str:
    """A penalty record published by Zhejiang through RecordService; its id."""
    body = record(**kw)  # type: ignore[arg-type]
    request_id, sealed_batch = sealed(
        gateway.creds(ZJ),
        [record_statement(body), record_statement(record(**kw))],  # type: ignore[arg-type]
    )
    response = await RecordServiceStub(zj).SubmitRecords(
        record_service_pb2.SubmitRecordsRequest(request_id=request_id, sealed_batch=sealed_batch)
    )
    assert response.record_ids[0] == body.record_id
    return body.record_id


async def get_record(zj: grpc.aio.Channel, record_id: str) -> record_service_pb2.GetRecordResponse:
    return await RecordServiceStub(zj).GetRecord(
        record_service_pb2.GetRecordRequest(record_id=record_id)
    )


def file_request(
    gateway: ObjectionGateway, body: statement_pb2.Statement
) -> pb.FileObjectionRequest:
    request_id, envelope_ = sealed(gateway.creds(body.header.sender_node_id), [body])
    return pb.FileObjectionRequest(request_id=request_id, sealed_statement=envelope_)


def test_the_node_serves_the_objection_service() -> None:
    assert objection_service.register in DOMAIN_SERVICES


async def test_file_dispute_and_resolve_with_a_revocation(
    gateway: ObjectionGateway, zj: grpc.aio.Channel, hub: grpc.aio.Channel
) -> None:
    record_id = await publish(gateway, zj)
    stub = ObjectionServiceStub(zj)
    filing = objection_statement(
        [("record", record_id)], filed=at_china(TODAY, 9), due=D(2026, 3, 30)
    )
    objection_id = filing.objection.objection_id
    filed = await stub.FileObjection(file_request(gateway, filing))
    receipt = verify_receipt(gateway.trust(), filed.receipt)
    assert receipt.message_id == filing.header.message_id
    assert filed.objection.status == objection_pb2.OBJECTION_STATUS_OPEN
    assert filed.objection.objection_id == objection_id

    # The record is marked disputed wherever it is read.
    got = await get_record(zj, record_id)
    assert got.disputed
    assert list(got.open_objection_ids) == [objection_id]

    listed = await stub.ListObjections(
        pb.ListObjectionsRequest(uscc=SUBJECT, statuses=[objection_pb2.OBJECTION_STATUS_OPEN])
    )
    assert [o.objection_id for o in listed.objections] == [objection_id]
    overdue = await stub.ListObjections(
        pb.ListObjectionsRequest(
            statuses=[objection_pb2.OBJECTION_STATUS_OPEN],
            response_due_by=common_pb2.Date(year=2026, month=3, day=30),
        )
    )
    assert [o.objection_id for o in overdue.objections] == [objection_id]
    not_yet = await stub.ListObjections(
        pb.ListObjectionsRequest(response_due_by=common_pb2.Date(year=2026, month=3, day=29))
    )
    assert not not_yet.objections
    by_target = await stub.ListObjections(pb.ListObjectionsRequest(target_id=record_id))
    assert [o.objection_id for o in by_target.objections] == [objection_id]

    # The hub decides for the Hangzhou regulator: it must notify Zhejiang, which accepted the
    # objection and published the record.
    gateway.clock.china(D(2026, 3, 20))
    resolver = ObjectionServiceStub(hub)
    unheard = resolution_statement(
        objection_id,
        objection_pb2.OBJECTION_STATUS_REJECTED,
        resolved=gateway.clock.now,
        sender=HUB,
        recipients=(HUB,),
    )
    request_id, envelope_ = sealed(gateway.creds(HUB), [unheard])
    error = await expect_error(
        resolver.ResolveObjection(
            pb.ResolveObjectionRequest(request_id=request_id, sealed_statement=envelope_)
        )
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(error).reason == "RECIPIENTS_MISSING"

    revoke = correction_statement(
        record_id,
        record_pb2.CORRECTION_KIND_REVOKE,
        objection_id=objection_id,
        sender=HUB,
        recipients=(HUB, ZJ),
    )
    resolution = resolution_statement(
        objection_id,
        objection_pb2.OBJECTION_STATUS_UPHELD,
        resolved=gateway.clock.now,
        corrections=[revoke.header.message_id],
        sender=HUB,
        recipients=(HUB, ZJ),
    )
    request_id, envelope_ = sealed(gateway.creds(HUB), [revoke, resolution])
    resolved = await resolver.ResolveObjection(
        pb.ResolveObjectionRequest(request_id=request_id, sealed_statement=envelope_)
    )
    assert verify_receipt(gateway.trust(), resolved.receipt).leaf_count == 2
    assert resolved.objection.status == objection_pb2.OBJECTION_STATUS_UPHELD
    assert resolved.objection.resolution.correction_message_ids == [revoke.header.message_id]

    got = await get_record(zj, record_id)
    assert got.record.status == record_pb2.RECORD_STATUS_REVOKED
    assert not got.disputed
    detail = await stub.GetObjection(pb.GetObjectionRequest(objection_id=objection_id))
    assert detail.objection.status == objection_pb2.OBJECTION_STATUS_UPHELD
    # Provenance: the filing, then the resolution (an item of the hub's batch).
    assert [p.message_id for p in detail.provenance] == [
        filing.header.message_id,
        resolution.header.message_id,
    ]
    first = verified_statement(gateway.trust(), detail.provenance[0].entry)
    assert first.objection.objection_id == objection_id
    assert detail.provenance[1].entry.HasField("batched")
    again = resolution_statement(
        objection_id,
        objection_pb2.OBJECTION_STATUS_REJECTED,
        resolved=gateway.clock.now,
        sender=HUB,
        recipients=(HUB, ZJ),
    )
    request_id, envelope_ = sealed(gateway.creds(HUB), [again])
    error = await expect_error(
        resolver.ResolveObjection(
            pb.ResolveObjectionRequest(request_id=request_id, sealed_statement=envelope_)
        )
    )
    assert error_info(error).reason == "OBJECTION_ALREADY_RESOLVED"


async def test_write_calls_take_only_their_own_statements(
    gateway: ObjectionGateway, zj: grpc.aio.Channel
) -> None:
    record_id = await publish(gateway, zj)
    stub = ObjectionServiceStub(zj)
    filing = objection_statement(
        [("record", record_id)], filed=at_china(TODAY, 9), due=D(2026, 3, 30)
    )
    request_id, envelope_ = sealed(gateway.creds(ZJ), [filing])
    wrong = await expect_error(
        stub.SubmitRepairApplication(
            pb.SubmitRepairApplicationRequest(request_id=request_id, sealed_statement=envelope_)
        )
    )
    assert error_info(wrong).reason == "WRONG_KIND"
    mismatch = await expect_error(
        stub.FileObjection(
            pb.FileObjectionRequest(
                request_id="11111111-1111-4111-8111-111111111111", sealed_statement=envelope_
            )
        )
    )
    assert error_info(mismatch).reason == "REQUEST_ID_MISMATCH"
    other = objection_statement(
        [("record", record_id)], filed=at_china(TODAY, 9), due=D(2026, 3, 30)
    )
    request_id, two = sealed(gateway.creds(ZJ), [filing, other])
    error = await expect_error(
        stub.FileObjection(pb.FileObjectionRequest(request_id=request_id, sealed_statement=two))
    )
    assert error_info(error).reason == "ONE_STATEMENT_REQUIRED"
    missing = objection_statement(
        [("record", "00000000-0000-4000-8000-000000000000")],
        filed=at_china(TODAY, 9),
        due=D(2026, 3, 30),
    )
    error = await expect_error(stub.FileObjection(file_request(gateway, missing)))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert error_info(error).reason == "TARGET_NOT_FOUND"
    absent = await expect_error(
        stub.GetObjection(pb.GetObjectionRequest(objection_id=missing.objection.objection_id))
    )
    assert error_info(absent).reason == "OBJECTION_NOT_FOUND"


async def test_repair_apply_decide_record_repaired_and_entry_repaired(
    gateway: ObjectionGateway, zj: grpc.aio.Channel, hub: grpc.aio.Channel
) -> None:
    record_id = await publish(gateway, zj)
    # The national authority listed the company on 6 January 2025, on that record.
    listing = entry_statement(
        HUB, start="2025-01-10", end="2028-01-09", record_id=record_id, recipients=(HUB,)
    )
    listing.name_list_entry.determination_date.CopyFrom(date("2025-01-06"))
    entry_id = listing.name_list_entry.entry_id
    request_id, envelope_ = sealed(gateway.creds(HUB), [listing])
    names = NameListServiceStub(hub)
    await names.CreateNameListEntry(
        name_list_service_pb2.CreateNameListEntryRequest(
            request_id=request_id, sealed_statement=envelope_
        )
    )
    check = await names.CheckSubject(
        name_list_service_pb2.CheckSubjectRequest(
            uscc=SUBJECT, purpose=common_pb2.USE_PURPOSE_GENERAL
        )
    )
    assert check.listed

    # Zhejiang's platform accepts two applications: one for the record (decided by the Hangzhou
    # regulator), one for the entry (national authority); each with its commitment, in a batch.
    stub = ObjectionServiceStub(zj)
    applications = {}
    for kind, target_id, deciding in (
        ("record", record_id, "11330100MB183543XG"),
        ("name-list-entry", entry_id, NATIONAL),
    ):
        commitment = commitment_statement(made=TODAY)
        application = application_statement(
            [(kind, target_id)],
            commitment.commitment.commitment_id,
            submitted=at_china(TODAY, 9),
            deciding=deciding,
        )
        request_id, envelope_ = sealed(gateway.creds(ZJ), [commitment, application])
        response = await stub.SubmitRepairApplication(
            pb.SubmitRepairApplicationRequest(request_id=request_id, sealed_statement=envelope_)
        )
        assert response.application.status == repair_pb2.REPAIR_STATUS_SUBMITTED
        assert verify_receipt(gateway.trust(), response.receipt).leaf_count == 2
        applications[kind] = application.repair_application.application_id

    listed = await stub.ListRepairApplications(
        pb.ListRepairApplicationsRequest(
            uscc=SUBJECT,
            statuses=[repair_pb2.REPAIR_STATUS_SUBMITTED],
            decision_due_by=common_pb2.Date(year=2026, month=3, day=13),
        )
    )
    assert {a.application_id for a in listed.applications} == set(applications.values())
    national = await stub.ListRepairApplications(
        pb.ListRepairApplicationsRequest(deciding_authority_uscc=NATIONAL)
    )
    assert [a.application_id for a in national.applications] == [applications["name-list-entry"]]

    gateway.clock.china(D(2026, 3, 12))
    record_decision = decision_statement(
        applications["record"],
        repair_pb2.REPAIR_STATUS_APPROVED,
        decided=gateway.clock.now,
        approved=[("record", record_id)],
    )
    request_id, envelope_ = sealed(gateway.creds(ZJ), [record_decision])
    decided = await stub.DecideRepairApplication(
        pb.DecideRepairApplicationRequest(request_id=request_id, sealed_statement=envelope_)
    )
    assert decided.application.status == repair_pb2.REPAIR_STATUS_APPROVED
    assert decided.application.decision.approved_targets[0].record_id == record_id
    assert (await get_record(zj, record_id)).record.status == record_pb2.RECORD_STATUS_REPAIRED

    entry_decision = decision_statement(
        applications["name-list-entry"],
        repair_pb2.REPAIR_STATUS_APPROVED,
        decided=gateway.clock.now,
        approved=[("name-list-entry", entry_id)],
        deciding=NATIONAL,
        sender=HUB,
        recipients=(HUB, ZJ),
    )
    request_id, envelope_ = sealed(gateway.creds(HUB), [entry_decision])
    await ObjectionServiceStub(hub).DecideRepairApplication(
        pb.DecideRepairApplicationRequest(request_id=request_id, sealed_statement=envelope_)
    )
    entry = await names.GetNameListEntry(
        name_list_service_pb2.GetNameListEntryRequest(entry_id=entry_id)
    )
    assert entry.entry.state == name_list_pb2.NAME_LIST_STATE_REPAIRED
    # Publication stopped, measures ended: the subject is no longer listed.
    check = await names.CheckSubject(
        name_list_service_pb2.CheckSubjectRequest(
            uscc=SUBJECT, purpose=common_pb2.USE_PURPOSE_GENERAL
        )
    )
    assert not check.listed

    detail = await stub.GetRepairApplication(
        pb.GetRepairApplicationRequest(
            application_id=applications["name-list-entry"], include_proof=True
        )
    )
    assert detail.application.status == repair_pb2.REPAIR_STATUS_APPROVED
    assert [p.message_id for p in detail.provenance] == [
        detail.provenance[0].message_id,
        entry_decision.header.message_id,
    ]
    assert all(p.HasField("inclusion_proof") for p in detail.provenance)
    decided_list = await stub.ListRepairApplications(
        pb.ListRepairApplicationsRequest(uscc=SUBJECT, statuses=[repair_pb2.REPAIR_STATUS_APPROVED])
    )
    assert len(decided_list.applications) == 2


async def test_reads_need_a_read_grant(gateway: ObjectionGateway, zj: grpc.aio.Channel) -> None:
    record_id = await publish(gateway, zj)
    filing = objection_statement(
        [("record", record_id)], filed=at_china(TODAY, 9), due=D(2026, 3, 30)
    )
    await ObjectionServiceStub(zj).FileObjection(file_request(gateway, filing))
    cert, key = issue_client_cert(gateway.federation, "gd-440000-reader")
    gateway.trust.bundle = next_bundle(
        gateway.federation,
        gateway.trust(),
        lambda b: (
            b.add_node(
                "gd-440000-reader",
                region_code="440000",
                kind=NodeKind.CLIENT,
                tls_spki_sha256=[spki_sha256(cert)],
            ),
            b.add_permission(
                "gd-440000-reader",
                Action.READ,
                kinds=["objection", "repair-application"],
                scopes=["region:440000"],
            ),
        ),
    )
    async with gateway.channel(channel_credentials(gateway.federation, cert, key)) as channel:
        stub = ObjectionServiceStub(channel)
        error = await expect_error(
            stub.GetObjection(pb.GetObjectionRequest(objection_id=filing.objection.objection_id))
        )
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        assert error_info(error).reason == "PERMISSION_DENIED_READ"
        assert not (await stub.ListObjections(pb.ListObjectionsRequest(uscc=SUBJECT))).objections
    # Guangdong's platform reads everything (a grant within *).
    async with gateway.channel(gateway.creds(GD)) as channel:
        listed = await ObjectionServiceStub(channel).ListObjections(
            pb.ListObjectionsRequest(uscc=SUBJECT)
        )
        assert [o.objection_id for o in listed.objections] == [filing.objection.objection_id]


async def test_list_pages_by_deadline(gateway: ObjectionGateway, zj: grpc.aio.Channel) -> None:
    record_id = await publish(gateway, zj)
    stub = ObjectionServiceStub(zj)
    ids = []
    for due in (D(2026, 3, 27), D(2026, 3, 20), D(2026, 3, 30)):
        filing = objection_statement([("record", record_id)], filed=at_china(TODAY, 9), due=due)
        await stub.FileObjection(file_request(gateway, filing))
        ids.append((due, filing.objection.objection_id))
    expected = [i for _, i in sorted(ids)]
    first = await stub.ListObjections(pb.ListObjectionsRequest(uscc=SUBJECT, page_size=2))
    assert [o.objection_id for o in first.objections] == expected[:2]
    assert first.next_page_token
    second = await stub.ListObjections(
        pb.ListObjectionsRequest(uscc=SUBJECT, page_size=2, page_token=first.next_page_token)
    )
    assert [o.objection_id for o in second.objections] == expected[2:]
    assert not second.next_page_token
    error = await expect_error(
        stub.ListObjections(
            pb.ListObjectionsRequest(
                uscc=SUBJECT,
                page_size=2,
                page_token=first.next_page_token,
                types=[objection_pb2.OBJECTION_TYPE_ERROR],
            )
        )
    )
    assert error_info(error).reason == "INVALID_PAGE_TOKEN"
