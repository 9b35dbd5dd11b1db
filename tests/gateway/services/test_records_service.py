"""RecordService end to end: a real hub over mutual TLS, real seals, signatures and stores.

Clients are ``zj-330000`` (Zhejiang's platform, which publishes) and readers with narrower
grants, through the generated stubs. What comes back is checked as a peer would check it: the
receipt under the hub's receipt key, provenance entries under the publisher's keys, inclusion
proofs against the hub's signed checkpoint. The gateway's clock is set per test (see
``records_gateway.Clock``): records are logged on 20 March 2026 unless a test moves it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime

import grpc
import pytest

from creditlink.gateway.bootstrap import DevFederation
from creditlink.gateway.domain.handlers.records import date_pb
from creditlink.gateway.ledger import RECEIPT_PAYLOAD_TYPE
from creditlink.gateway.pki import spki_sha256
from creditlink.gateway.services import records as records_service
from creditlink.gateway.services.registry import DOMAIN_SERVICES
from creditlink.sdk import envelope
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.batch import BatchedEnvelope, verify_batched
from creditlink.sdk.tlog import leaf_hash, verify_checkpoint, verify_inclusion
from creditlink.sdk.trust import Action, NodeKind, TrustBundle
from creditlink.v1 import (
    common_pb2,
    envelope_pb2,
    log_pb2,
    record_pb2,
    record_service_pb2,
    statement_pb2,
)
from creditlink.v1.record_service_pb2_grpc import RecordServiceStub
from tests.gateway.services.conftest import (
    HUB,
    ZJ,
    bad_request,
    channel_credentials,
    error_info,
    hub_log_verifier,
    issue_client_cert,
    next_bundle,
)
from tests.gateway.services.records_gateway import (
    RecordsGateway,
    make_statement,
    sealed_batch_of,
    sealed_statement,
    serve_records,
)
from tests.gateway.statements import penalty_record, sealed_batch

pb = record_service_pb2
A = "91330100MA27XL0A6Q"  # the Zhejiang company most records are about
B = "91330106MA2B2E3N7X"  # another Zhejiang company
AUTHORITY = "11330100MB183543XG"
GD = "gd-440000"


@pytest.fixture
async def gateway(federation: DevFederation, store_url: str) -> AsyncIterator[RecordsGateway]:
    async for running in serve_records(federation, store_url):
        yield running


@pytest.fixture
async def zj(gateway: RecordsGateway) -> AsyncIterator[RecordServiceStub]:
    async with gateway.channel(gateway.federation.node(ZJ).credentials) as channel:
        yield RecordServiceStub(channel)


async def expect_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def a_record(
    *,
    uscc: str = A,
    decided: tuple[int, int, int] = (2026, 3, 2),
    category: int = record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY,
    publication_end: tuple[int, int, int] | None = None,
) -> record_pb2.CreditRecord:
    out = penalty_record(uscc=uscc)
    out.decision_date.year, out.decision_date.month, out.decision_date.day = decided
    if publication_end is not None:
        end = out.publication_end
        end.year, end.month, end.day = publication_end
    if category != record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY:
        out.category = category  # type: ignore[assignment]
        out.ClearField("penalty")
        out.general.title = "诚信示范企业"
        out.severity = record_pb2.SEVERITY_NOT_UNTRUSTWORTHY
    return out


def submit_request(
    gateway: RecordsGateway, records: list[record_pb2.CreditRecord], sender: str = ZJ
) -> pb.SubmitRecordsRequest:
    creds = gateway.federation.node(sender).credentials
    statements = [make_statement(sender, r) for r in records]
    request_id = str(uuid.uuid4())
    sealed = sealed_batch(creds, HUB, statements, batch_id=request_id)
    return pb.SubmitRecordsRequest(
        request_id=request_id, sealed_batch=envelope_pb2.SealedEnvelope.FromString(sealed)
    )


async def publish(
    gateway: RecordsGateway, stub: RecordServiceStub, *records: record_pb2.CreditRecord
) -> list[str]:
    """Publish ``records`` as one batch; return the message ids of their statements."""
    request = submit_request(gateway, list(records))
    response = await stub.SubmitRecords(request)
    assert list(response.record_ids) == [r.record_id for r in records]
    receipt = log_pb2.Receipt.FromString(response.receipt.payload)
    entries = await gateway.store.read_entries(receipt.first_leaf_index, limit=len(records))
    return [e.message_id for e in entries]


def correction(
    record_id: str,
    kind: int,
    *,
    replacement: record_pb2.CreditRecord | None = None,
    reason: str = "罚款金额录入错误",
) -> record_pb2.RecordCorrection:
    out = record_pb2.RecordCorrection(
        record_id=record_id,
        kind=kind,  # type: ignore[arg-type]
        reason_code=record_pb2.CORRECTION_REASON_AUTHORITY_ERROR,
        reason=reason,
    )
    if replacement is not None:
        out.record.CopyFrom(replacement)
    out.authority.name = "杭州市市场监督管理局"
    out.authority.uscc = AUTHORITY
    out.authority.region_code = "330100"
    out.effective_date.CopyFrom(date_pb(datetime(2026, 3, 20, tzinfo=UTC).date()))
    return out


def correction_request(
    gateway: RecordsGateway,
    body: record_pb2.RecordCorrection | record_pb2.CreditRecord,
    *,
    sender: str = ZJ,
) -> tuple[str, envelope_pb2.SealedEnvelope, statement_pb2.Statement]:
    creds = gateway.federation.node(sender).credentials
    item = make_statement(sender, body)
    sealed = envelope_pb2.SealedEnvelope.FromString(sealed_statement(creds, HUB, item))
    return item.header.request_id, sealed, item


def next_revision(
    record: record_pb2.CreditRecord, previous_message_id: str
) -> record_pb2.CreditRecord:
    out = record_pb2.CreditRecord()
    out.CopyFrom(record)
    out.revision += 1
    out.previous_revision_message_id = previous_message_id
    return out


def verify_receipt(bundle: TrustBundle, signed: envelope_pb2.Envelope) -> log_pb2.Receipt:
    payload = envelope.verify(
        envelope.Envelope.from_proto(signed),
        keys=bundle.signing_keys(HUB, kind="receipt", at=datetime.now(UTC)),
        expected_type=RECEIPT_PAYLOAD_TYPE,
    )
    return log_pb2.Receipt.FromString(payload)


def verified_payload(bundle: TrustBundle, entry: log_pb2.LogEntry) -> tuple[str, bytes]:
    """The payload type and payload of a provenance entry, verified under its sender's keys."""
    now = datetime.now(UTC)
    if entry.HasField("batched"):
        item = verify_batched(
            BatchedEnvelope.from_proto(entry.batched),
            keys=bundle.signing_keys(entry.sender_node_id, kind="batch-head", at=now),
            expected_type=envelope.payload_type_for("record"),
            expected_signer=entry.sender_node_id,
        )
        return item.item.payload_type, item.item.payload
    signed = envelope.Envelope.from_proto(entry.envelope)
    kind = signed.payload_type.removeprefix("application/vnd.creditlink.").split(".")[0]
    payload = envelope.verify(
        signed,
        keys=bundle.signing_keys(entry.sender_node_id, kind=kind, at=now),
        expected_type=signed.payload_type,
    )
    return signed.payload_type, payload


def verified_statement(bundle: TrustBundle, entry: log_pb2.LogEntry) -> statement_pb2.Statement:
    """The statement of a provenance entry, verified under its sender's keys."""
    return statement_pb2.Statement.FromString(verified_payload(bundle, entry)[1])


def ids(records: object) -> list[str]:
    return [r.record_id for r in records]  # type: ignore[attr-defined]


# --- registration and submission ------------------------------------------------------------


def test_the_node_serves_the_record_service() -> None:
    assert records_service.register in DOMAIN_SERVICES


async def test_submit_a_batch_then_get_each_record_with_verifiable_provenance(
    gateway: RecordsGateway, zj: RecordServiceStub
) -> None:
    batch = [a_record(), a_record(uscc=B), a_record(decided=(2026, 3, 16))]
    request = submit_request(gateway, batch)
    response = await zj.SubmitRecords(request)
    bundle = gateway.trust()
    receipt = verify_receipt(bundle, response.receipt)
    assert (receipt.first_leaf_index, receipt.leaf_count) == (0, 3)
    assert receipt.message_id == request.request_id
    assert list(response.record_ids) == ids(batch)
    # A retry gets the original receipt and creates nothing twice.
    again = await zj.SubmitRecords(request)
    assert again.receipt == response.receipt

    got = await zj.GetRecord(pb.GetRecordRequest(record_id=batch[1].record_id, include_proof=True))
    assert got.record == batch[1]
    assert not got.disputed
    (provenance,) = got.provenance
    assert provenance.gateway_node_id == HUB
    assert provenance.entry.leaf_index == 1
    statement = verified_statement(bundle, provenance.entry)
    assert statement.record == batch[1]
    assert provenance.message_id == statement.header.message_id
    checkpoint = verify_checkpoint(
        provenance.checkpoint.note, verifier=hub_log_verifier(bundle), origin=receipt.log_origin
    )
    payload_type, payload = verified_payload(bundle, provenance.entry)
    assert provenance.inclusion_proof.tree_size == checkpoint.size
    verify_inclusion(
        leaf_hash=leaf_hash(pae(payload_type, payload)),
        index=provenance.inclusion_proof.leaf_index,
        tree_size=checkpoint.size,
        proof=list(provenance.inclusion_proof.hashes),
        root=checkpoint.root_hash,
    )


async def test_submit_records_takes_new_records_only(
    gateway: RecordsGateway, zj: RecordServiceStub
) -> None:
    later = a_record()
    later.revision, later.previous_revision_message_id = 2, str(uuid.uuid4())
    error = await expect_error(zj.SubmitRecords(submit_request(gateway, [a_record(), later])))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(error).reason == "NOT_A_NEW_RECORD"
    violations = bad_request(error)
    assert violations is not None
    assert [v.field for v in violations.field_violations] == ["items[1].record.revision"]
    assert (await gateway.store.head()).size == 0


async def test_a_record_id_is_published_once(
    gateway: RecordsGateway, zj: RecordServiceStub
) -> None:
    record = a_record()
    await publish(gateway, zj, record)
    error = await expect_error(zj.SubmitRecords(submit_request(gateway, [a_record(), record])))
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert error_info(error).reason == "RECORD_ALREADY_EXISTS"
    assert "item 1" in (error.details() or "")
    assert (await gateway.store.head()).size == 1


async def test_each_call_takes_only_its_kind(
    gateway: RecordsGateway, zj: RecordServiceStub
) -> None:
    record = a_record()
    await publish(gateway, zj, record)
    # A correction inside SubmitRecords' batch, or alone; a record through CorrectRecord and
    # RevokeRecord: each refused before anything is logged.
    creds = gateway.federation.node(ZJ).credentials
    revoke = make_statement(ZJ, correction(record.record_id, record_pb2.CORRECTION_KIND_REVOKE))
    batch_id = str(uuid.uuid4())
    mixed = pb.SubmitRecordsRequest(
        request_id=batch_id,
        sealed_batch=envelope_pb2.SealedEnvelope.FromString(
            sealed_batch_of(creds, HUB, [make_statement(ZJ, a_record()), revoke], batch_id=batch_id)
        ),
    )
    error = await expect_error(zj.SubmitRecords(mixed))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(error).reason == "WRONG_KIND"
    request_id, sealed, _ = correction_request(gateway, revoke.record_correction)
    single = pb.SubmitRecordsRequest(request_id=request_id, sealed_batch=sealed)
    error = await expect_error(zj.SubmitRecords(single))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(error).reason == "WRONG_KIND"
    request_id, sealed, _ = correction_request(gateway, a_record())
    for call in (
        zj.CorrectRecord(pb.CorrectRecordRequest(request_id=request_id, sealed_statement=sealed)),
        zj.RevokeRecord(pb.RevokeRecordRequest(request_id=request_id, sealed_statement=sealed)),
    ):
        error = await expect_error(call)
        assert error_info(error).reason == "WRONG_KIND"
    assert (await gateway.store.head()).size == 1


# --- corrections ----------------------------------------------------------------------------


async def test_correct_then_revoke_keeping_every_revision_readable(
    gateway: RecordsGateway, zj: RecordServiceStub
) -> None:
    first = a_record()
    (message_id,) = await publish(gateway, zj, first)
    second = next_revision(first, message_id)
    second.penalty.fine_amount = "3"
    request_id, sealed, statement = correction_request(
        gateway,
        correction(first.record_id, record_pb2.CORRECTION_KIND_CORRECT, replacement=second),
    )
    corrected = await zj.CorrectRecord(
        pb.CorrectRecordRequest(request_id=request_id, sealed_statement=sealed)
    )
    assert verify_receipt(gateway.trust(), corrected.receipt).first_leaf_index == 1
    assert corrected.record == second

    # Revision 1 as signed, reported CORRECTED, with its own statement as provenance.
    old = await zj.GetRecord(pb.GetRecordRequest(record_id=first.record_id, revision=1))
    expected = record_pb2.CreditRecord()
    expected.CopyFrom(first)
    expected.status = record_pb2.RECORD_STATUS_CORRECTED
    assert old.record == expected
    assert [p.entry.leaf_index for p in old.provenance] == [0]

    # RevokeRecord takes REVOKE only; CorrectRecord refuses it, and logs nothing.
    request_id, sealed, _ = correction_request(
        gateway, correction(first.record_id, record_pb2.CORRECTION_KIND_REVOKE, reason="撤销")
    )
    error = await expect_error(
        zj.CorrectRecord(pb.CorrectRecordRequest(request_id=request_id, sealed_statement=sealed))
    )
    assert error_info(error).reason == "WRONG_CORRECTION_KIND"
    assert (await gateway.store.head()).size == 2
    revoked = await zj.RevokeRecord(
        pb.RevokeRecordRequest(request_id=request_id, sealed_statement=sealed)
    )
    assert revoked.record.status == record_pb2.RECORD_STATUS_REVOKED
    assert revoked.record.revision == 2

    current = await zj.GetRecord(pb.GetRecordRequest(record_id=first.record_id))
    assert current.record.status == record_pb2.RECORD_STATUS_REVOKED
    # The revision's statement, then the revocation, each verifiable.
    assert [p.entry.leaf_index for p in current.provenance] == [1, 2]
    bundle = gateway.trust()
    kinds = [verified_statement(bundle, p.entry).WhichOneof("body") for p in current.provenance]
    assert kinds == ["record_correction", "record_correction"]
    assert verified_statement(bundle, current.provenance[0].entry) == statement

    # A revoked record changes no more: the handler's refusal, through the service.
    third = next_revision(second, statement.header.message_id)
    request_id, sealed, _ = correction_request(
        gateway, correction(first.record_id, record_pb2.CORRECTION_KIND_CORRECT, replacement=third)
    )
    error = await expect_error(
        zj.CorrectRecord(pb.CorrectRecordRequest(request_id=request_id, sealed_statement=sealed))
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(error).reason == "RECORD_REVOKED"


async def test_a_correction_that_does_not_chain_is_refused(
    gateway: RecordsGateway, zj: RecordServiceStub
) -> None:
    first = a_record()
    await publish(gateway, zj, first)
    unchained = next_revision(first, str(uuid.uuid4()))
    request_id, sealed, _ = correction_request(
        gateway,
        correction(first.record_id, record_pb2.CORRECTION_KIND_CORRECT, replacement=unchained),
    )
    error = await expect_error(
        zj.CorrectRecord(pb.CorrectRecordRequest(request_id=request_id, sealed_statement=sealed))
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(error).reason == "REVISION_CHAIN_BROKEN"
    # The request id must be the statement's own.
    error = await expect_error(
        zj.CorrectRecord(
            pb.CorrectRecordRequest(request_id=str(uuid.uuid4()), sealed_statement=sealed)
        )
    )
    assert error_info(error).reason == "REQUEST_ID_MISMATCH"
    assert (await gateway.store.head()).size == 1


async def test_end_of_publication_through_correct_record(
    gateway: RecordsGateway, zj: RecordServiceStub
) -> None:
    record = a_record()
    await publish(gateway, zj, record)
    request_id, sealed, _ = correction_request(
        gateway, correction(record.record_id, record_pb2.CORRECTION_KIND_EXPIRE, reason="公示期满")
    )
    response = await zj.CorrectRecord(
        pb.CorrectRecordRequest(request_id=request_id, sealed_statement=sealed)
    )
    assert response.record.status == record_pb2.RECORD_STATUS_EXPIRED


# --- reads ----------------------------------------------------------------------------------


async def test_get_record_errors(gateway: RecordsGateway, zj: RecordServiceStub) -> None:
    error = await expect_error(zj.GetRecord(pb.GetRecordRequest(record_id=str(uuid.uuid4()))))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert error_info(error).reason == "RECORD_NOT_FOUND"
    record = a_record()
    await publish(gateway, zj, record)
    error = await expect_error(
        zj.GetRecord(pb.GetRecordRequest(record_id=record.record_id, revision=2))
    )
    assert error_info(error).reason == "REVISION_NOT_FOUND"
    error = await expect_error(zj.GetRecord(pb.GetRecordRequest(record_id="")))
    assert error_info(error).reason == "CONSTRAINT_VIOLATION"


async def test_list_a_subjects_records_with_filters_and_pages(
    gateway: RecordsGateway, zj: RecordServiceStub
) -> None:
    # Eight records about A (decided on different days, one an honour, one past its declared
    # publication end on 20 March), and one about B.
    days = [(2026, 3, d) for d in (2, 3, 4, 5, 6, 9, 10)]
    penalties = [a_record(decided=d) for d in days]
    penalties[0].publication_end.CopyFrom(date_pb(datetime(2026, 3, 10, tzinfo=UTC).date()))
    honour = a_record(decided=(2026, 2, 27), category=record_pb2.RECORD_CATEGORY_HONOUR)
    other = a_record(uscc=B)
    message_ids = await publish(gateway, zj, *penalties, honour, other)
    request_id, sealed, _ = correction_request(
        gateway, correction(penalties[1].record_id, record_pb2.CORRECTION_KIND_REVOKE)
    )
    await zj.RevokeRecord(pb.RevokeRecordRequest(request_id=request_id, sealed_statement=sealed))
    assert len(message_ids) == 9

    async def pages(request: pb.ListRecordsRequest) -> list[list[str]]:
        out = []
        while True:
            response = await zj.ListRecords(request)
            out.append(ids(response.records))
            if not response.next_page_token:
                return out
            request.page_token = response.next_page_token

    newest_first = [*ids(reversed(penalties)), honour.record_id]
    assert await pages(pb.ListRecordsRequest(uscc=A, page_size=3)) == [
        newest_first[0:3],
        newest_first[3:6],
        newest_first[6:8],
    ]
    assert await pages(pb.ListRecordsRequest(uscc=A)) == [newest_first]
    # By category.
    only_honours = pb.ListRecordsRequest(uscc=A, categories=[record_pb2.RECORD_CATEGORY_HONOUR])
    assert await pages(only_honours) == [[honour.record_id]]
    # By decision date (both bounds included).
    window = pb.ListRecordsRequest(
        uscc=A,
        decision_date=common_pb2.DateRange(
            start=common_pb2.Date(year=2026, month=3, day=3),
            end=common_pb2.Date(year=2026, month=3, day=5),
        ),
    )
    assert await pages(window) == [ids([penalties[3], penalties[2], penalties[1]])]
    # By status: revoked; expired (its declared end, 10 March, has passed on 20 March);
    # active ones exclude both.
    revoked = pb.ListRecordsRequest(uscc=A, statuses=[record_pb2.RECORD_STATUS_REVOKED])
    assert await pages(revoked) == [[penalties[1].record_id]]
    expired = pb.ListRecordsRequest(uscc=A, statuses=[record_pb2.RECORD_STATUS_EXPIRED])
    response = await zj.ListRecords(expired)
    assert ids(response.records) == [penalties[0].record_id]
    assert response.records[0].status == record_pb2.RECORD_STATUS_EXPIRED
    active = pb.ListRecordsRequest(uscc=A, statuses=[record_pb2.RECORD_STATUS_ACTIVE])
    assert await pages(active) == [
        [r for r in newest_first if r not in {penalties[0].record_id, penalties[1].record_id}]
    ]
    corrected = pb.ListRecordsRequest(uscc=A, statuses=[record_pb2.RECORD_STATUS_CORRECTED])
    assert await pages(corrected) == [[]]
    assert await pages(pb.ListRecordsRequest(uscc=B)) == [[other.record_id]]


async def test_page_tokens_are_checked(gateway: RecordsGateway, zj: RecordServiceStub) -> None:
    await publish(gateway, zj, a_record(), a_record(), a_record())
    first = await zj.ListRecords(pb.ListRecordsRequest(uscc=A, page_size=1))
    assert first.next_page_token
    # The same token with other filters, and a token that is not one.
    for request in (
        pb.ListRecordsRequest(
            uscc=A,
            page_size=1,
            page_token=first.next_page_token,
            statuses=[record_pb2.RECORD_STATUS_ACTIVE],
        ),
        pb.ListRecordsRequest(uscc=A, page_token="not-a-token"),
    ):
        error = await expect_error(zj.ListRecords(request))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(error).reason == "INVALID_PAGE_TOKEN"
    # A different page size is fine.
    rest = await zj.ListRecords(
        pb.ListRecordsRequest(uscc=A, page_size=5, page_token=first.next_page_token)
    )
    assert len(rest.records) == 2
    assert not rest.next_page_token
    error = await expect_error(zj.ListRecords(pb.ListRecordsRequest(uscc="not a uscc")))
    assert error_info(error).reason == "CONSTRAINT_VIOLATION"


async def test_overdue_records_late_and_past_their_end_most_overdue_first(
    gateway: RecordsGateway, zj: RecordServiceStub
) -> None:
    # Logged on Friday 20 March 2026.
    late = a_record(decided=(2026, 3, 2))  # due Wed 11 March: 7 working days late
    later = a_record(uscc=B, decided=(2026, 3, 5))  # due Mon 16 March: 4 working days late
    on_time = a_record(decided=(2026, 3, 16))  # due Wed 25 March
    overrun = a_record(decided=(2026, 3, 16), publication_end=(2026, 3, 18))  # 2 days past
    guangdong = penalty_record(
        uscc="91440300MA5FTBUJ48", region="440300", authority_uscc="11440300MB2C920853"
    )
    guangdong.decision_date.CopyFrom(common_pb2.Date(year=2026, month=3, day=3))  # 6 days late
    await publish(gateway, zj, late, later, on_time, overrun)
    gd = gateway.federation.node(GD).credentials
    gd_batch = [make_statement(GD, guangdong)]
    batch_id = str(uuid.uuid4())
    async with gateway.channel(gd) as channel:
        await RecordServiceStub(channel).SubmitRecords(
            pb.SubmitRecordsRequest(
                request_id=batch_id,
                sealed_batch=envelope_pb2.SealedEnvelope.FromString(
                    sealed_batch(gd, HUB, gd_batch, batch_id=batch_id)
                ),
            )
        )

    response = await zj.ListOverdueRecords(pb.ListOverdueRecordsRequest())
    rows = [(r.record.record_id, r.kind, r.days_overdue) for r in response.records]
    assert rows == [
        (late.record_id, pb.OVERDUE_KIND_LATE_PUBLICATION, 7),
        (guangdong.record_id, pb.OVERDUE_KIND_LATE_PUBLICATION, 6),
        (later.record_id, pb.OVERDUE_KIND_LATE_PUBLICATION, 4),
        (overrun.record_id, pb.OVERDUE_KIND_PUBLICATION_OVERRUN, 2),
    ]
    first = response.records[0]
    assert first.deadline == common_pb2.Deadline(
        due=common_pb2.Date(year=2026, month=3, day=11), period=7, working_days=True
    )
    assert response.records[3].deadline.due == common_pb2.Date(year=2026, month=3, day=18)
    assert not response.records[3].deadline.working_days
    # The overrun record is reported EXPIRED to readers: its publication has ended.
    assert response.records[3].record.status == record_pb2.RECORD_STATUS_EXPIRED

    # Filters: kind, region (Zhejiang and below), authority; pages keep the order.
    only_overruns = await zj.ListOverdueRecords(
        pb.ListOverdueRecordsRequest(kinds=[pb.OVERDUE_KIND_PUBLICATION_OVERRUN])
    )
    assert ids(r.record for r in only_overruns.records) == [overrun.record_id]
    zhejiang = await zj.ListOverdueRecords(pb.ListOverdueRecordsRequest(region_code="330000"))
    assert guangdong.record_id not in ids(r.record for r in zhejiang.records)
    assert len(zhejiang.records) == 3
    by_authority = await zj.ListOverdueRecords(
        pb.ListOverdueRecordsRequest(authority_uscc="11440300MB2C920853")
    )
    assert ids(r.record for r in by_authority.records) == [guangdong.record_id]
    seen: list[str] = []
    request = pb.ListOverdueRecordsRequest(page_size=3)
    while True:
        page = await zj.ListOverdueRecords(request)
        seen.extend(ids(r.record for r in page.records))
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert seen == [row[0] for row in rows]
    # Judged on an earlier day: on 13 March only the first was late (2 working days), and
    # nothing had overrun.
    earlier = await zj.ListOverdueRecords(
        pb.ListOverdueRecordsRequest(as_of=common_pb2.Date(year=2026, month=3, day=13))
    )
    assert [(r.record.record_id, r.days_overdue) for r in earlier.records] == [
        (late.record_id, 2),
        (guangdong.record_id, 1),
    ]


# --- permissions ----------------------------------------------------------------------------


async def test_reads_need_a_read_grant_and_scoped_grants_see_their_scope(
    gateway: RecordsGateway, zj: RecordServiceStub
) -> None:
    zhejiang = a_record(decided=(2026, 3, 2))
    await publish(gateway, zj, zhejiang)
    loader_cert, loader_key = issue_client_cert(gateway.federation, "zj-330000-loader")
    reader_cert, reader_key = issue_client_cert(gateway.federation, "gd-440000-reader")
    gateway.trust.bundle = next_bundle(
        gateway.federation,
        gateway.trust(),
        lambda b: (
            b.add_node(
                "zj-330000-loader",
                region_code="330000",
                kind=NodeKind.CLIENT,
                tls_spki_sha256=[spki_sha256(loader_cert)],
            ),
            b.add_permission(
                "zj-330000-loader", Action.PUBLISH, kinds=["record"], scopes=["region:330000"]
            ),
            b.add_node(
                "gd-440000-reader",
                region_code="440000",
                kind=NodeKind.CLIENT,
                tls_spki_sha256=[spki_sha256(reader_cert)],
            ),
            b.add_permission(
                "gd-440000-reader", Action.READ, kinds=["record"], scopes=["region:440000"]
            ),
        ),
    )
    loader = channel_credentials(gateway.federation, loader_cert, loader_key)
    async with gateway.channel(loader) as channel:
        stub = RecordServiceStub(channel)
        for call in (
            stub.GetRecord(pb.GetRecordRequest(record_id=zhejiang.record_id)),
            stub.ListRecords(pb.ListRecordsRequest(uscc=A)),
            stub.ListOverdueRecords(pb.ListOverdueRecordsRequest()),
        ):
            error = await expect_error(call)
            assert error.code() is grpc.StatusCode.PERMISSION_DENIED
            assert error_info(error).reason == "PERMISSION_DENIED_READ"
    reader = channel_credentials(gateway.federation, reader_cert, reader_key)
    async with gateway.channel(reader) as channel:
        stub = RecordServiceStub(channel)
        error = await expect_error(
            stub.GetRecord(pb.GetRecordRequest(record_id=zhejiang.record_id))
        )
        assert error_info(error).reason == "PERMISSION_DENIED_READ"
        assert not (await stub.ListRecords(pb.ListRecordsRequest(uscc=A))).records
        assert not (await stub.ListOverdueRecords(pb.ListOverdueRecordsRequest())).records
    # The publisher reads its own.
    got = await zj.GetRecord(pb.GetRecordRequest(record_id=zhejiang.record_id))
    assert got.record.record_id == zhejiang.record_id
