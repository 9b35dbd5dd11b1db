"""ExchangeService end to end: a real hub over mutual TLS, real seals and signatures, real stores.

Clients are ``zj-330000`` (a regional gateway) and operators, using the generated stubs; what
comes back is checked only with the SDK's verifiers, as any peer would (receipt signature, C2SP
checkpoint, RFC 9162 proofs, batch audit paths). Every test runs on SQLite and PostgreSQL.
Covers the issue's "Bad input" list: each refusal has its status, its ErrorInfo reason, is
counted, and stores nothing.
"""

from __future__ import annotations

import asyncio
import doctest
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2

from creditlink.gateway.auth import DEV_PEER_HEADER
from creditlink.gateway.bootstrap import DevFederation
from creditlink.gateway.intake import Intake
from creditlink.gateway.ledger import RECEIPT_PAYLOAD_TYPE, Submission
from creditlink.gateway.pki import spki_sha256
from creditlink.gateway.services import _log_entries as log_entries
from creditlink.gateway.services._log_entries import EntryBuilder
from creditlink.sdk import envelope, seal
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.batch import BatchedEnvelope, BatchTree, verify_batched
from creditlink.sdk.keys import PrivateKey, Purpose
from creditlink.sdk.seal import ENVELOPE_CONTENT_TYPE, Recipient
from creditlink.sdk.tlog import (
    Checkpoint,
    leaf_hash,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from creditlink.sdk.trust import Action, NodeKind, TrustBundle
from creditlink.v1 import envelope_pb2, exchange_service_pb2, log_pb2, statement_pb2
from creditlink.v1.exchange_service_pb2_grpc import ExchangeServiceStub
from tests.gateway.services.conftest import (
    HUB,
    MAX_REQUEST_BYTES,
    ZJ,
    Gateway,
    bad_request,
    channel_credentials,
    error_info,
    hub_log_verifier,
    issue_client_cert,
    next_bundle,
    serve,
)
from tests.gateway.statements import (
    RECORD_TYPE,
    penalty_record,
    sealed_batch,
    sealed_single,
    statement,
)

SUBMIT = "/creditlink.v1.ExchangeService/Submit"
pb = exchange_service_pb2


@pytest.fixture
async def gateway(federation: DevFederation, store_url: str) -> AsyncIterator[Gateway]:
    # Small pages, so Subscribe pages cross batch boundaries.
    async for running in serve(federation, store_url, page_size=16):
        yield running


@pytest.fixture
async def zj(gateway: Gateway) -> AsyncIterator[ExchangeServiceStub]:
    async with gateway.channel(gateway.federation.node(ZJ).credentials) as channel:
        yield ExchangeServiceStub(channel)


def submit_request(sealed: bytes) -> exchange_service_pb2.SubmitRequest:
    return pb.SubmitRequest(
        request_id=str(uuid.uuid4()), sealed=envelope_pb2.SealedEnvelope.FromString(sealed)
    )


async def submit(channel: grpc.aio.Channel, sealed: bytes) -> pb.SubmitResponse:
    return await ExchangeServiceStub(channel).Submit(submit_request(sealed))


def record_statement(**kwargs: object) -> statement_pb2.Statement:
    return statement(ZJ, [HUB], penalty_record(), **kwargs)  # type: ignore[arg-type]


def verify_receipt(
    bundle: TrustBundle, signed: envelope_pb2.Envelope
) -> tuple[log_pb2.Receipt, Checkpoint]:
    """Verify a receipt as a peer would: hub's receipt key, then its checkpoint."""
    now = datetime.now(UTC)
    payload = envelope.verify(
        envelope.Envelope.from_proto(signed),
        keys=bundle.signing_keys(HUB, kind="receipt", at=now),
        expected_type=RECEIPT_PAYLOAD_TYPE,
    )
    receipt = log_pb2.Receipt.FromString(payload)
    checkpoint = verify_checkpoint(
        receipt.checkpoint.note,
        verifier=hub_log_verifier(bundle),
        origin=bundle.node(HUB).log_origin,
    )
    assert checkpoint.size >= receipt.first_leaf_index + receipt.leaf_count
    assert checkpoint.root_hash == receipt.checkpoint.root_hash
    return receipt, checkpoint


def verify_entry(bundle: TrustBundle, entry: log_pb2.LogEntry) -> bytes:
    """Verify a log entry's signature (alone or in its batch); return its leaf hash."""
    now = datetime.now(UTC)
    if entry.HasField("batched"):
        batched = BatchedEnvelope.from_proto(entry.batched)
        item = verify_batched(
            batched,
            keys=bundle.signing_keys(entry.sender_node_id, kind="batch-head", at=now),
            expected_type=RECORD_TYPE,
            expected_signer=entry.sender_node_id,
        )
        return leaf_hash(pae(item.item.payload_type, item.item.payload))
    signed = envelope.Envelope.from_proto(entry.envelope)
    payload = envelope.verify(
        signed,
        keys=bundle.signing_keys(entry.sender_node_id, kind="record", at=now),
        expected_type=RECORD_TYPE,
    )
    return leaf_hash(pae(signed.payload_type, payload))


async def log_size(gateway: Gateway) -> int:
    assert gateway.store is not None
    return (await gateway.store.head()).size


async def expect_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


# --------------------------------------------------------------------------------------------
# Submit
# --------------------------------------------------------------------------------------------


async def test_submit_returns_a_receipt_whose_checkpoint_and_proof_verify(
    gateway: Gateway, zj: ExchangeServiceStub
) -> None:
    creds = gateway.federation.node(ZJ).credentials
    bundle = gateway.trust()
    body = record_statement()
    response = await zj.Submit(submit_request(sealed_single(creds, HUB, body)))
    receipt, checkpoint = verify_receipt(bundle, response.receipt)
    assert receipt.message_id == body.header.message_id
    assert (receipt.first_leaf_index, receipt.leaf_count) == (0, 1)
    assert gateway.sizes == [1]

    proof = await zj.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=0))
    latest = verify_checkpoint(
        proof.checkpoint.note, verifier=hub_log_verifier(bundle), origin=checkpoint.origin
    )
    verify_inclusion(
        leaf_hash=verify_entry(bundle, proof.entry),
        index=proof.proof.leaf_index,
        tree_size=proof.proof.tree_size,
        proof=list(proof.proof.hashes),
        root=latest.root_hash,
    )
    assert verify_entry(bundle, proof.entry) == leaf_hash(
        pae(RECORD_TYPE, body.SerializeToString())
    )
    # By message id, at the receipt's own size: the receipt's checkpoint comes back.
    by_id = await zj.GetInclusionProof(
        pb.GetInclusionProofRequest(message_id=receipt.message_id, tree_size=checkpoint.size)
    )
    assert by_id.checkpoint == receipt.checkpoint


async def test_resubmitting_returns_the_original_receipt(
    gateway: Gateway, zj: ExchangeServiceStub
) -> None:
    creds = gateway.federation.node(ZJ).credentials
    request = submit_request(sealed_single(creds, HUB, record_statement()))
    first = await zj.Submit(request)
    again = await zj.Submit(request)
    assert again.receipt.SerializeToString() == first.receipt.SerializeToString()
    assert await log_size(gateway) == 1
    receipt, _ = verify_receipt(gateway.trust(), first.receipt)
    stored = await zj.GetReceipt(pb.GetReceiptRequest(message_id=receipt.message_id))
    assert stored.receipt == first.receipt
    assert stored.leaf_index == 0
    missing = await expect_error(zj.GetReceipt(pb.GetReceiptRequest(message_id="nope")))
    assert missing.code() is grpc.StatusCode.NOT_FOUND
    assert error_info(missing).reason == "MESSAGE_NOT_FOUND"


async def test_a_batch_goes_through_submit_too(gateway: Gateway, zj: ExchangeServiceStub) -> None:
    creds = gateway.federation.node(ZJ).credentials
    bodies = [record_statement() for _ in range(3)]
    response = await zj.Submit(submit_request(sealed_batch(creds, HUB, bodies, batch_id="b-1")))
    receipt, _ = verify_receipt(gateway.trust(), response.receipt)
    assert (receipt.message_id, receipt.leaf_count) == ("b-1", 3)

    bodies[1].record.subject.uscc = "91330100MA27XL0A6R"
    error = await expect_error(zj.Submit(submit_request(sealed_batch(creds, HUB, bodies))))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(error).reason == "BATCH_REJECTED"
    bad = bad_request(error)
    assert bad is not None
    assert [(v.field, v.description.split(":")[0]) for v in bad.field_violations] == [
        ("items[1]", "INVALID_USCC")
    ]
    assert await log_size(gateway) == 3


# --- bad input -------------------------------------------------------------------------------

Case = Callable[[Gateway, grpc.aio.Channel], Awaitable[object]]


async def _malformed(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    raw = channel.unary_unary(SUBMIT)  # no serializers: the bytes go out as they are
    return await raw(b"\x12\xff\xff\xff\xff\x0f junk")


async def _oversize(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    request = pb.SubmitRequest(request_id=str(uuid.uuid4()))
    request.sealed.header = b"h"
    request.sealed.ciphertext = b"\0" * (MAX_REQUEST_BYTES + 1024)
    return await ExchangeServiceStub(channel).Submit(request)


async def _missing_signature(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    unsigned = envelope_pb2.Envelope(
        payload=record_statement().SerializeToString(), payload_type=RECORD_TYPE
    ).SerializeToString()
    key = gateway.trust().sealing_key(HUB, at=datetime.now(UTC)).public_key
    # A misbehaving client: skip the SDK's refusal to seal an unsigned envelope.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(seal, "_check_signed_plaintext", lambda plaintext, content_type: None)
        sealed = seal.seal(
            unsigned,
            content_type=ENVELOPE_CONTENT_TYPE,
            sender_node_id=ZJ,
            recipients=[Recipient(node_id=HUB, key=key)],  # type: ignore[arg-type]
        ).to_bytes()
    return await submit(channel, (sealed))


def _signed_with(
    gateway: Gateway, key: PrivateKey, *, sender: str = ZJ, body: statement_pb2.Statement | None
) -> bytes:
    body = body or record_statement()
    signed = envelope.sign(body.SerializeToString(), RECORD_TYPE, [key]).to_bytes()
    hub_key = gateway.trust().sealing_key(HUB, at=datetime.now(UTC)).public_key
    return seal.seal(
        signed,
        content_type=ENVELOPE_CONTENT_TYPE,
        sender_node_id=sender,
        recipients=[Recipient(node_id=HUB, key=hub_key)],  # type: ignore[arg-type]
    ).to_bytes()


async def _bad_signature(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    sealed = _signed_with(gateway, PrivateKey.generate(), body=None)
    return await submit(channel, (sealed))


async def _unknown_sender(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    # zj-330000 relays (a regional gateway may), but the signer is no member at all.
    body = statement("sh-310000", [HUB], penalty_record())
    sealed = _signed_with(gateway, PrivateKey.generate(), sender="sh-310000", body=body)
    return await submit(channel, (sealed))


async def _key_outside_validity(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    old = PrivateKey.generate()
    now = datetime.now(UTC).replace(microsecond=0)
    gateway.trust.bundle = next_bundle(
        gateway.federation,
        gateway.trust(),
        lambda b: b.add_key(
            ZJ,
            old.public_key,
            Purpose.SIGN,
            not_before=now - timedelta(days=30),
            not_after=now - timedelta(days=1),
        ),
    )
    return await ExchangeServiceStub(channel).Submit(
        submit_request(_signed_with(gateway, old, body=None))
    )


async def _wrong_recipient(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    creds = gateway.federation.node(ZJ).credentials
    body = statement(ZJ, ["gd-440000"], penalty_record())
    return await ExchangeServiceStub(channel).Submit(
        submit_request(sealed_single(creds, HUB, body))
    )


async def _tampered_ciphertext(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    creds = gateway.federation.node(ZJ).credentials
    request = submit_request(sealed_single(creds, HUB, record_statement()))
    ciphertext = bytearray(request.sealed.ciphertext)
    ciphertext[len(ciphertext) // 2] ^= 0x01
    request.sealed.ciphertext = bytes(ciphertext)
    return await ExchangeServiceStub(channel).Submit(request)


async def _replay(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    creds = gateway.federation.node(ZJ).credentials
    message_id = str(uuid.uuid4())
    await ExchangeServiceStub(channel).Submit(
        submit_request(sealed_single(creds, HUB, record_statement(message_id=message_id)))
    )
    gateway.rejections.clear()
    other = record_statement(message_id=message_id)  # same id, other content
    return await ExchangeServiceStub(channel).Submit(
        submit_request(sealed_single(creds, HUB, other))
    )


async def _stale(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    creds = gateway.federation.node(ZJ).credentials
    body = record_statement(created_at=datetime.now(UTC) - timedelta(days=2))
    return await ExchangeServiceStub(channel).Submit(
        submit_request(sealed_single(creds, HUB, body))
    )


async def _expired_bundle(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    now = datetime.now(UTC).replace(microsecond=0)
    gateway.trust.bundle = next_bundle(
        gateway.federation,
        gateway.trust(),
        issued_at=now - timedelta(days=10),
        expires_at=now - timedelta(days=1),
    )
    creds = gateway.federation.node(ZJ).credentials
    return await ExchangeServiceStub(channel).Submit(
        submit_request(sealed_single(creds, HUB, record_statement()))
    )


async def _invalid_uscc(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    creds = gateway.federation.node(ZJ).credentials
    record = penalty_record()
    record.subject.uscc = "91330100MA27XL0A6R"  # wrong check character
    body = statement(ZJ, [HUB], record)
    return await ExchangeServiceStub(channel).Submit(
        submit_request(sealed_single(creds, HUB, body))
    )


async def _outside_scope(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    creds = gateway.federation.node(ZJ).credentials
    record = penalty_record(
        uscc="91440300MA5FTBUJ48", region="440300", authority_uscc="11440300MB2C920853"
    )
    body = statement(ZJ, [HUB], record)
    return await ExchangeServiceStub(channel).Submit(
        submit_request(sealed_single(creds, HUB, body))
    )


async def _unknown_field_in_the_seal(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    # grpc decodes the request and the servicer re-serializes the seal for the intake: an
    # unknown field must survive that round trip and be refused by the strict parse.
    creds = gateway.federation.node(ZJ).credentials
    sealed = sealed_single(creds, HUB, record_statement()) + b"\x78\x01"  # field 15 = 1
    return await submit(channel, sealed)


async def _missing_request_id(gateway: Gateway, channel: grpc.aio.Channel) -> object:
    creds = gateway.federation.node(ZJ).credentials
    request = submit_request(sealed_single(creds, HUB, record_statement()))
    request.request_id = ""
    return await ExchangeServiceStub(channel).Submit(request)


BAD_INPUT: dict[str, tuple[Case, grpc.StatusCode, str]] = {
    "malformed protobuf": (_malformed, grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST"),
    "oversize message": (_oversize, grpc.StatusCode.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE"),
    "missing signature": (_missing_signature, grpc.StatusCode.INVALID_ARGUMENT, "NO_SIGNATURES"),
    "bad signature": (_bad_signature, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_SIGNATURE"),
    "unknown sender": (_unknown_sender, grpc.StatusCode.PERMISSION_DENIED, "UNKNOWN_SENDER"),
    "key outside its validity": (
        _key_outside_validity,
        grpc.StatusCode.INVALID_ARGUMENT,
        "KEY_OUTSIDE_VALIDITY",
    ),
    "wrong recipient": (_wrong_recipient, grpc.StatusCode.INVALID_ARGUMENT, "WRONG_RECIPIENT"),
    "tampered ciphertext": (
        _tampered_ciphertext,
        grpc.StatusCode.INVALID_ARGUMENT,
        "SEAL_OPEN_FAILED",
    ),
    "replay": (_replay, grpc.StatusCode.ALREADY_EXISTS, "REPLAYED_MESSAGE"),
    "stale message": (_stale, grpc.StatusCode.ALREADY_EXISTS, "STALE_MESSAGE"),
    "expired trust bundle": (
        _expired_bundle,
        grpc.StatusCode.FAILED_PRECONDITION,
        "TRUST_BUNDLE_EXPIRED",
    ),
    "invalid USCC": (_invalid_uscc, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USCC"),
    "outside the sender's scope": (
        _outside_scope,
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED_SCOPE",
    ),
    "unknown field in the seal": (
        _unknown_field_in_the_seal,
        grpc.StatusCode.INVALID_ARGUMENT,
        "SEAL_OPEN_FAILED",
    ),
    "no request id": (
        _missing_request_id,
        grpc.StatusCode.INVALID_ARGUMENT,
        "CONSTRAINT_VIOLATION",
    ),
}


@pytest.mark.parametrize("name", list(BAD_INPUT))
async def test_bad_input_is_refused_with_its_reason_counted_and_stores_nothing(
    gateway: Gateway, name: str
) -> None:
    case, code, reason = BAD_INPUT[name]
    async with gateway.channel(gateway.federation.node(ZJ).credentials) as channel:
        before = await log_size(gateway)
        if name == "replay":
            before += 1  # the original is accepted first
        error = await expect_error(case(gateway, channel))
    assert error.code() is code, error.details()
    assert error_info(error).reason == reason
    assert gateway.rejections == [(SUBMIT, reason)]
    assert await log_size(gateway) == before
    if name == "invalid USCC":
        bad = bad_request(error)
        assert bad is not None
        assert [v.field for v in bad.field_violations] == ["record.subject.uscc"]


# --------------------------------------------------------------------------------------------
# SubmitStream
# --------------------------------------------------------------------------------------------


async def stream_batches(
    stub: ExchangeServiceStub, requests: Sequence[pb.SubmitStreamRequest]
) -> tuple[list[pb.BatchResult], list[pb.FlowControl]]:
    """A well-behaved client: never more batches in flight than the credits granted."""
    call = stub.SubmitStream()
    first = await call.read()
    assert first.HasField("flow_control")
    grants = [first.flow_control]
    credits = first.flow_control.credits
    results: list[pb.BatchResult] = []
    sent = 0
    while len(results) < len(requests):
        while credits and sent < len(requests):
            await call.write(requests[sent])
            sent, credits = sent + 1, credits - 1
            if sent == len(requests):
                await call.done_writing()
        message = await call.read()
        assert message is not grpc.aio.EOF
        if message.HasField("flow_control"):
            grants.append(message.flow_control)
            credits += message.flow_control.credits
        else:
            results.append(message.result)
    # After the last result: its credit grant, then the end of the stream.
    while (message := await call.read()) is not grpc.aio.EOF:
        assert message.HasField("flow_control")
    assert await call.code() is grpc.StatusCode.OK
    return results, grants


def batch_request(sequence: int, sealed: bytes) -> pb.SubmitStreamRequest:
    return pb.SubmitStreamRequest(
        sequence=sequence,
        request_id=str(uuid.uuid4()),
        sealed_batch=envelope_pb2.SealedEnvelope.FromString(sealed),
    )


async def test_stream_of_50_batches_of_200_with_one_bad_batch(
    gateway: Gateway, zj: ExchangeServiceStub
) -> None:
    creds = gateway.federation.node(ZJ).credentials
    sealed: list[bytes] = []
    bad_at = 25
    for number in range(51):
        bodies = [record_statement() for _ in range(200)]
        if number == bad_at:
            bodies[7].record.subject.uscc = "91330100MA27XL0A6R"
            bodies[150].record.subject.uscc = "9133010"
        sealed.append(sealed_batch(creds, HUB, bodies, batch_id=f"batch-{number:02d}"))
    requests = [batch_request(n + 1, s) for n, s in enumerate(sealed)]
    results, grants = await stream_batches(zj, requests)

    assert grants[0].credits == 8
    assert grants[0].max_batch_items == 10_000
    assert grants[0].max_batch_bytes == MAX_REQUEST_BYTES
    assert sorted(r.sequence for r in results) == list(range(1, 52))
    by_sequence = {r.sequence: r for r in results}
    rejected = by_sequence.pop(bad_at + 1)
    assert rejected.request_id == requests[bad_at].request_id
    assert rejected.WhichOneof("outcome") == "rejection"
    assert rejected.rejection.reason == "BATCH_REJECTED"
    assert not rejected.rejection.retryable
    assert [(i.index, i.reason) for i in rejected.rejection.items] == [
        (7, "INVALID_USCC"),  # wrong check character
        (150, "CONSTRAINT_VIOLATION"),  # too short: the contract's pattern refuses it first
    ]
    assert [v.field for v in rejected.rejection.items[0].violations] == ["record.subject.uscc"]
    bundle = gateway.trust()
    covered = []
    for result in by_sequence.values():
        assert result.WhichOneof("outcome") == "receipt"
        receipt, _ = verify_receipt(bundle, result.receipt)
        assert receipt.leaf_count == 200
        covered.append((receipt.first_leaf_index, receipt.message_id))
    assert sorted(first for first, _ in covered) == list(range(0, 10_000, 200))
    assert await log_size(gateway) == 10_000
    assert max(gateway.sizes) == 10_000


async def test_a_batch_resent_on_the_same_stream_gets_the_same_receipt(
    gateway: Gateway, zj: ExchangeServiceStub
) -> None:
    creds = gateway.federation.node(ZJ).credentials
    sealed = sealed_batch(creds, HUB, [record_statement() for _ in range(4)], batch_id="twice")
    results, _ = await stream_batches(zj, [batch_request(1, sealed), batch_request(2, sealed)])
    receipts = [r.receipt.SerializeToString() for r in sorted(results, key=lambda r: r.sequence)]
    assert receipts[0] == receipts[1]
    assert await log_size(gateway) == 4


async def test_a_sequence_out_of_order_ends_the_stream(
    gateway: Gateway, zj: ExchangeServiceStub
) -> None:
    creds = gateway.federation.node(ZJ).credentials
    call = zj.SubmitStream()
    assert (await call.read()).HasField("flow_control")
    await call.write(batch_request(2, sealed_batch(creds, HUB, [record_statement()])))
    error = await expect_error(call.read())
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(error).reason == "SEQUENCE_OUT_OF_ORDER"
    assert await log_size(gateway) == 0


async def test_a_batch_without_credit_ends_the_stream_after_the_others_are_answered(
    gateway: Gateway, zj: ExchangeServiceStub
) -> None:
    creds = gateway.federation.node(ZJ).credentials
    # The first batch is big, so the server is busy with it while all nine arrive.
    sizes = [400] + [2] * 8
    requests = [
        batch_request(n + 1, sealed_batch(creds, HUB, [record_statement() for _ in range(k)]))
        for n, k in enumerate(sizes)
    ]
    call = zj.SubmitStream()
    assert (await call.read()).flow_control.credits == 8
    for request in requests:  # one more than granted, without waiting
        await call.write(request)
    answered: list[int] = []

    async def read_all() -> None:
        while True:
            message = await call.read()
            if message.HasField("result"):
                answered.append(message.result.sequence)

    error = await expect_error(read_all())
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_info(error).reason == "FLOW_CONTROL_VIOLATION"
    # The eight batches sent within credit were answered (and logged) first.
    assert sorted(answered) == list(range(1, 9))
    assert await log_size(gateway) == 400 + 2 * 7


# --------------------------------------------------------------------------------------------
# Subscribe
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(federation: DevFederation) -> list[Submission]:
    """Singles and batches from zj-330000, through the real intake (built once)."""
    hub = federation.node(HUB).credentials
    zj = federation.node(ZJ).credentials
    intake = Intake(node_id=HUB, trust=lambda: hub.trust_bundle, sealing_keys=[hub.sealing_key])

    def single() -> Submission:
        return intake.single(sealed_single(zj, HUB, record_statement()), peer=ZJ)

    def batch(count: int) -> Submission:
        bodies = [record_statement() for _ in range(count)]
        return intake.batch(sealed_batch(zj, HUB, bodies), peer=ZJ)

    return [single(), single(), batch(20), single(), batch(13), single()]


CORPUS_SIZE = 1 + 1 + 20 + 1 + 13 + 1


async def load(gateway: Gateway, submissions: Sequence[Submission]) -> None:
    assert gateway.ledger is not None
    acks = await gateway.ledger.append(submissions)
    assert all(a.error is None for a in acks)


async def collect(
    stub: ExchangeServiceStub, request: pb.SubscribeRequest
) -> tuple[list[log_pb2.LogEntry], list[pb.SubscribeProgress]]:
    entries, progress = [], []
    async for message in stub.Subscribe(request):
        if message.HasField("entry"):
            entries.append(message.entry)
        else:
            progress.append(message.progress)
    return entries, progress


async def test_subscribe_from_zero_gets_every_entry_once_in_order_and_each_verifies(
    gateway: Gateway, zj: ExchangeServiceStub, corpus: list[Submission]
) -> None:
    await load(gateway, corpus)
    entries, progress = await collect(zj, pb.SubscribeRequest(cursor=0, stop_at_head=True))
    assert [e.leaf_index for e in entries] == list(range(CORPUS_SIZE))
    assert [e.WhichOneof("signed") for e in entries[:3]] == ["envelope", "envelope", "batched"]
    assert progress[-1].next_cursor == CORPUS_SIZE
    bundle = gateway.trust()
    head = verify_checkpoint(
        progress[-1].checkpoint.note,
        verifier=hub_log_verifier(bundle),
        origin=bundle.node(HUB).log_origin,
    )
    assert head.size == CORPUS_SIZE
    leaves = [verify_entry(bundle, entry) for entry in entries]
    assert entries[2].batched.index == 0
    assert entries[21].batched.index == 19
    # Two leaves proven in the checkpoint the stream handed out (a single, a batch item).
    for leaf in (1, 30):
        proof = await zj.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=leaf))
        verify_inclusion(
            leaf_hash=leaves[leaf],
            index=leaf,
            tree_size=head.size,
            proof=list(proof.proof.hashes),
            root=head.root_hash,
        )


async def test_log_entries_are_written_as_the_protobuf_runtime_serializes_them(
    gateway: Gateway, corpus: list[Submission]
) -> None:
    """The feed's wire encoding of every stored row (singles, batch items at index 0 and
    beyond, leaf 0) equals the same LogEntry built as a message and serialized."""
    await load(gateway, corpus)
    assert gateway.store is not None
    store = gateway.store
    rows = await store.read_entries(0, limit=100)
    assert len(rows) == CORPUS_SIZE
    builder = EntryBuilder(store)
    for row in rows:
        expected = log_pb2.LogEntry(leaf_index=row.leaf_index, sender_node_id=row.sender_node_id)
        expected.integrated_at.FromDatetime(row.integrated_at)
        if row.batch_id is None:
            assert row.envelope is not None
            expected.envelope.ParseFromString(row.envelope)
        else:
            assert row.index_in_batch is not None
            batch = await store.get_batch(row.batch_id)
            assert batch is not None
            leaves = await store.leaf_hashes(
                batch.first_leaf_index, batch.first_leaf_index + batch.count
            )
            expected.batched.item.payload = row.payload
            expected.batched.item.payload_type = row.payload_type
            expected.batched.head.ParseFromString(batch.head_envelope)
            expected.batched.index = row.index_in_batch
            expected.batched.audit_path.extend(BatchTree(leaves).audit_path(row.index_in_batch))
        assert await builder.entry_bytes(row) == expected.SerializeToString(deterministic=True)
        assert await builder.entry(row) == expected


@pytest.mark.parametrize(
    "when",
    [
        datetime(1970, 1, 1, tzinfo=UTC),  # both fields zero: nothing written
        datetime(2026, 3, 20, 8, 0, tzinfo=UTC),  # whole seconds: no nanos
        datetime(2026, 3, 20, 8, 0, 0, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),  # negative seconds
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_an_entry_instant_is_encoded_as_a_timestamp_message(when: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(when)
    assert log_entries._timestamp(when) == expected.SerializeToString(deterministic=True)


def test_responses_wrap_encoded_entries_as_the_runtime_would() -> None:
    entries = [log_pb2.LogEntry(leaf_index=n, sender_node_id="zj-330000") for n in (0, 1, 300)]
    encoded = [entry.SerializeToString(deterministic=True) for entry in entries]
    assert log_entries.entry_response(encoded[2]) == pb.SubscribeResponse(
        entry=entries[2]
    ).SerializeToString(deterministic=True)
    assert log_entries.entries_response(encoded) == pb.SubscribeResponse(
        entries=pb.EntryPage(entries=entries)
    ).SerializeToString(deterministic=True)


def test_the_varint_examples_hold() -> None:
    result = doctest.testmod(log_entries)
    assert result.attempted
    assert not result.failed


async def test_subscribe_resumes_from_a_middle_cursor(
    gateway: Gateway, zj: ExchangeServiceStub, corpus: list[Submission]
) -> None:
    await load(gateway, corpus)
    entries, progress = await collect(zj, pb.SubscribeRequest(cursor=11, stop_at_head=True))
    assert [e.leaf_index for e in entries] == list(range(11, CORPUS_SIZE))
    assert entries[0].batched.index == 9  # inside the first batch
    verify_entry(gateway.trust(), entries[0])
    assert progress[-1].next_cursor == CORPUS_SIZE


async def test_a_subscriber_may_take_entries_in_pages(
    gateway: Gateway, zj: ExchangeServiceStub, corpus: list[Submission]
) -> None:
    """CXP-API-012: pages only when asked for, at most the size asked, in leaf order."""
    await load(gateway, corpus)
    single, _ = await collect(zj, pb.SubscribeRequest(cursor=3, stop_at_head=True))
    pages: list[list[log_pb2.LogEntry]] = []
    request = pb.SubscribeRequest(cursor=3, stop_at_head=True, max_entries_per_response=10)
    last: pb.SubscribeResponse | None = None
    async for message in zj.Subscribe(request):
        assert message.WhichOneof("event") in ("entries", "progress")
        if message.HasField("entries"):
            pages.append(list(message.entries.entries))
        last = message
    # Pages of at most 10, the same entries in the same order, then the progress message.
    assert [len(page) for page in pages] == [10, 10, 10, 4]
    assert [e for page in pages for e in page] == single
    assert last is not None
    assert last.progress.next_cursor == CORPUS_SIZE
    # A request above the contract's 1,000 is refused.
    error = await expect_error(
        collect(zj, pb.SubscribeRequest(max_entries_per_response=1001, stop_at_head=True))
    )
    assert (error.code().name, error_info(error).reason) == (
        "INVALID_ARGUMENT",
        "CONSTRAINT_VIOLATION",
    )


async def test_filtered_kinds_are_covered_by_progress(
    gateway: Gateway, zj: ExchangeServiceStub, corpus: list[Submission]
) -> None:
    await load(gateway, corpus)
    entries, progress = await collect(
        zj, pb.SubscribeRequest(cursor=0, kinds=["evaluation"], stop_at_head=True)
    )
    assert entries == []
    assert [p.next_cursor for p in progress] == [CORPUS_SIZE]
    entries, _ = await collect(
        zj, pb.SubscribeRequest(cursor=0, kinds=["record"], stop_at_head=True)
    )
    assert len(entries) == CORPUS_SIZE

    for request, code, reason in [
        (pb.SubscribeRequest(kinds=["no-such-kind"]), "INVALID_ARGUMENT", "UNKNOWN_KIND"),
        (pb.SubscribeRequest(cursor=CORPUS_SIZE + 1), "INVALID_ARGUMENT", "CURSOR_BEYOND_LOG"),
    ]:
        error = await expect_error(collect(zj, request))
        assert (error.code().name, error_info(error).reason) == (code, reason)


async def test_a_live_subscriber_receives_entries_appended_after_it_subscribed(
    gateway: Gateway, zj: ExchangeServiceStub, corpus: list[Submission]
) -> None:
    await load(gateway, corpus[:2])
    creds = gateway.federation.node(ZJ).credentials
    received: list[int] = []
    done = asyncio.Event()

    async def follow() -> None:
        async for message in zj.Subscribe(pb.SubscribeRequest(cursor=1)):
            if message.HasField("entry"):
                received.append(message.entry.leaf_index)
                if message.entry.leaf_index == 2 + 20:
                    done.set()
                    return

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.1)
    # Through this gateway's Submit (wakes the subscriber at once) ...
    await zj.Submit(submit_request(sealed_single(creds, HUB, record_statement())))
    # ... and straight into the store, as another replica would (found by the periodic check).
    await load(gateway, [corpus[2]])
    await asyncio.wait_for(done.wait(), timeout=5)
    await follower
    assert received == list(range(1, 23))


async def test_reads_need_a_read_permission(gateway: Gateway, corpus: list[Submission]) -> None:
    await load(gateway, corpus[:1])
    cert, key = issue_client_cert(gateway.federation, "zj-330000-loader")
    gateway.trust.bundle = next_bundle(
        gateway.federation,
        gateway.trust(),
        lambda b: (
            b.add_node(
                "zj-330000-loader",
                region_code="330000",
                kind=NodeKind.CLIENT,
                tls_spki_sha256=[spki_sha256(cert)],
            ),
            b.add_permission(
                "zj-330000-loader", Action.PUBLISH, kinds=["record"], scopes=["region:330000"]
            ),
        ),
    )
    async with gateway.channel(channel_credentials(gateway.federation, cert, key)) as channel:
        stub = ExchangeServiceStub(channel)
        error = await expect_error(collect(stub, pb.SubscribeRequest(stop_at_head=True)))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        assert error_info(error).reason == "PERMISSION_DENIED_READ"
        error = await expect_error(
            stub.GetReceipt(pb.GetReceiptRequest(message_id=corpus[0].message_id))
        )
        assert error_info(error).reason == "PERMISSION_DENIED_READ"
        # Checkpoints are for every member.
        checkpoint = await stub.GetCheckpoint(pb.GetCheckpointRequest())
        assert checkpoint.checkpoint.size == 1


# --------------------------------------------------------------------------------------------
# Proofs and checkpoints
# --------------------------------------------------------------------------------------------


async def test_consistency_between_a_receipt_checkpoint_and_the_latest(
    gateway: Gateway, zj: ExchangeServiceStub, corpus: list[Submission]
) -> None:
    creds = gateway.federation.node(ZJ).credentials
    bundle = gateway.trust()
    empty = await zj.GetCheckpoint(pb.GetCheckpointRequest())
    assert empty.checkpoint.size == 0
    first = await zj.Submit(submit_request(sealed_single(creds, HUB, record_statement())))
    receipt, old = verify_receipt(bundle, first.receipt)
    await load(gateway, corpus)
    latest = await zj.GetCheckpoint(pb.GetCheckpointRequest())
    new = verify_checkpoint(
        latest.checkpoint.note, verifier=hub_log_verifier(bundle), origin=old.origin
    )
    assert new.size == 1 + CORPUS_SIZE
    proof = await zj.GetConsistencyProof(pb.GetConsistencyProofRequest(from_size=old.size))
    assert proof.checkpoint == latest.checkpoint
    verify_consistency(
        size1=old.size,
        size2=new.size,
        root1=old.root_hash,
        root2=new.root_hash,
        proof=list(proof.proof.hashes),
    )
    for request, code, reason in [
        (
            pb.GetConsistencyProofRequest(from_size=2, to_size=3),
            "NOT_FOUND",
            "CHECKPOINT_NOT_FOUND",
        ),
        (pb.GetConsistencyProofRequest(from_size=0), "INVALID_ARGUMENT", "INVALID_TREE_SIZE"),
    ]:
        error = await expect_error(zj.GetConsistencyProof(request))
        assert (error.code().name, error_info(error).reason) == (code, reason)
    for request, code, reason in [
        (
            pb.GetInclusionProofRequest(leaf_index=receipt.first_leaf_index, tree_size=5),
            "NOT_FOUND",
            "CHECKPOINT_NOT_FOUND",
        ),
        (pb.GetInclusionProofRequest(leaf_index=10_000), "NOT_FOUND", "LEAF_NOT_FOUND"),
    ]:
        error = await expect_error(zj.GetInclusionProof(request))
        assert (error.code().name, error_info(error).reason) == (code, reason)


# --------------------------------------------------------------------------------------------
# Transport identity
# --------------------------------------------------------------------------------------------


async def test_a_client_without_a_certificate_cannot_connect(gateway: Gateway) -> None:
    anonymous = grpc.ssl_channel_credentials(root_certificates=gateway.hub.ca_pem)
    async with gateway.channel(anonymous) as channel:
        error = await expect_error(
            ExchangeServiceStub(channel).GetCheckpoint(pb.GetCheckpointRequest(), timeout=5)
        )
    assert error.code() is grpc.StatusCode.UNAVAILABLE


async def test_a_certificate_from_another_ca_cannot_connect(gateway: Gateway) -> None:
    from creditlink.gateway.pki import DevCA, generate_tls_key, private_key_pem

    other = DevCA.create("another federation's CA")
    key = generate_tls_key()
    cert = other.issue_client_cert(key, node_id=ZJ)
    stranger = grpc.ssl_channel_credentials(
        root_certificates=gateway.hub.ca_pem,
        private_key=private_key_pem(key),
        certificate_chain=cert,
    )
    async with gateway.channel(stranger) as channel:
        error = await expect_error(
            ExchangeServiceStub(channel).GetCheckpoint(pb.GetCheckpointRequest(), timeout=5)
        )
    assert error.code() is grpc.StatusCode.UNAVAILABLE


async def test_a_certificate_no_node_pins_is_an_unknown_peer(gateway: Gateway) -> None:
    cert, key = issue_client_cert(gateway.federation, ZJ)  # right CA, right name, other key
    async with gateway.channel(channel_credentials(gateway.federation, cert, key)) as channel:
        error = await expect_error(
            ExchangeServiceStub(channel).GetCheckpoint(pb.GetCheckpointRequest())
        )
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_info(error).reason == "UNKNOWN_PEER"
    assert gateway.rejections == [("/creditlink.v1.ExchangeService/GetCheckpoint", "UNKNOWN_PEER")]


async def test_insecure_dev_mode_names_the_caller_by_header(
    federation: DevFederation, store_url: str
) -> None:
    creds = federation.node(ZJ).credentials
    async for gateway in serve(federation, store_url, insecure_dev=True):
        async with grpc.aio.insecure_channel(gateway.address) as channel:
            stub = ExchangeServiceStub(channel)
            request = submit_request(sealed_single(creds, HUB, record_statement()))
            response = await stub.Submit(request, metadata=((DEV_PEER_HEADER, ZJ),))
            verify_receipt(gateway.trust(), response.receipt)
            for metadata, reason in [
                ((), "DEV_PEER_HEADER_REQUIRED"),
                (((DEV_PEER_HEADER, "sh-310000"),), "UNKNOWN_PEER"),
            ]:
                error = await expect_error(stub.Submit(request, metadata=metadata))
                assert error.code() is grpc.StatusCode.UNAUTHENTICATED
                assert error_info(error).reason == reason


async def test_a_scoped_read_grant_opens_only_the_entries_within_its_scope(
    gateway: Gateway, federation: DevFederation, corpus: list[Submission]
) -> None:
    """CXP-TRUST-031: READ within ``region:330000`` opens Zhejiang's entries, not Guangdong's."""
    hub = federation.node(HUB).credentials
    gd = federation.node("gd-440000").credentials
    intake = Intake(node_id=HUB, trust=lambda: hub.trust_bundle, sealing_keys=[hub.sealing_key])
    guangdong = penalty_record(
        uscc="91440300MA5FTBUJ48", region="440300", authority_uscc="11440300MB2C920853"
    )
    from_gd = intake.single(
        sealed_single(gd, HUB, statement("gd-440000", [HUB], guangdong)), peer="gd-440000"
    )
    await load(gateway, [corpus[0], from_gd, corpus[1]])
    cert, key = issue_client_cert(gateway.federation, "zj-330000-reader")
    gateway.trust.bundle = next_bundle(
        gateway.federation,
        gateway.trust(),
        lambda b: (
            b.add_node(
                "zj-330000-reader",
                region_code="330000",
                kind=NodeKind.CLIENT,
                tls_spki_sha256=[spki_sha256(cert)],
            ),
            b.add_permission(
                "zj-330000-reader", Action.READ, kinds=["record"], scopes=["region:330000"]
            ),
        ),
    )
    async with gateway.channel(channel_credentials(gateway.federation, cert, key)) as channel:
        stub = ExchangeServiceStub(channel)
        entries, progress = await collect(stub, pb.SubscribeRequest(stop_at_head=True))
        assert [e.leaf_index for e in entries] == [0, 2]
        assert progress[-1].next_cursor == 3  # past the entry it may not see
        receipt = await stub.GetReceipt(pb.GetReceiptRequest(message_id=corpus[0].message_id))
        assert receipt.leaf_index == 0
        error = await expect_error(
            stub.GetReceipt(pb.GetReceiptRequest(message_id=from_gd.message_id))
        )
        assert error_info(error).reason == "PERMISSION_DENIED_READ"
        error = await expect_error(
            collect(stub, pb.SubscribeRequest(kinds=["name-list-entry"], stop_at_head=True))
        )
        assert error_info(error).reason == "PERMISSION_DENIED_READ"
