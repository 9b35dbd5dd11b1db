"""The ledger against real stores: receipts, checkpoints and proofs that verify, retries, replays.

Every test runs on SQLite and PostgreSQL (``store_url``). What comes out is checked only with
the SDK's verifiers (``creditlink.sdk.tlog``, ``creditlink.sdk.envelope``), the way any peer
would check it. Covers CXP-LOG-001, CXP-LOG-008, CXP-LOG-010.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from creditlink.gateway.ledger import (
    RECEIPT_PAYLOAD_TYPE,
    BatchInfo,
    Forward,
    Ledger,
    LedgerEntry,
    Submission,
)
from creditlink.gateway.store import open_store
from creditlink.gateway.store.base import OutboxState, Store
from creditlink.sdk import envelope
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.errors import InvalidArgument
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.tlog import (
    NoteSigner,
    leaf_hash,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from creditlink.v1 import log_pb2

ORIGIN = "creditlink.test/zj-330000"
SIGNING = PrivateKey.from_seed(b"s" * 32)
NOTE = NoteSigner.from_seed(ORIGIN, b"n" * 32)
TYPE = "application/vnd.creditlink.record.v1+protobuf"


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def single(i: int, *, variant: bytes = b"") -> Submission:
    payload = f"record {i}".encode() + variant
    return Submission(
        message_id=f"msg-{i:06d}",
        request_digest=_digest(payload),
        sender_node_id="zj-330000",
        payload_type=TYPE,
        payload_digest=_digest(payload),
        entries=[
            LedgerEntry(
                message_id=f"msg-{i:06d}",
                kind="record",
                sender_node_id="zj-330000",
                payload_type=TYPE,
                payload=payload,
                envelope=b"envelope " + payload,
                subject_key="91110000600037341L",
            )
        ],
    )


def batch(name: str, count: int) -> Submission:
    entries = [
        LedgerEntry(
            message_id=f"{name}-{k}",
            kind="record",
            sender_node_id="zj-330000",
            payload_type=TYPE,
            payload=f"{name} item {k}".encode(),
            envelope=None,
        )
        for k in range(count)
    ]
    return Submission(
        message_id=name,
        request_digest=_digest(name.encode()),
        sender_node_id="zj-330000",
        payload_type=TYPE,
        payload_digest=_digest(b"root of " + name.encode()),
        entries=entries,
        batch=BatchInfo(batch_id=name, head_envelope=b"head " + name.encode()),
    )


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with open_store(store_url) as opened:
        yield opened


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(
        store=store,
        node_id="zj-330000",
        origin=ORIGIN,
        signing_key=SIGNING,
        checkpoint_signer=NOTE,
    )


def _receipt(signed: bytes) -> log_pb2.Receipt:
    payload = envelope.verify(
        envelope.Envelope.from_bytes(signed),
        keys=[SIGNING.public_key],
        expected_type=RECEIPT_PAYLOAD_TYPE,
    )
    receipt = log_pb2.Receipt()
    receipt.ParseFromString(payload)
    return receipt


async def test_fresh_log_has_a_signed_empty_checkpoint(ledger: Ledger) -> None:
    note = await ledger.ensure_checkpoint()
    checkpoint = verify_checkpoint(note, verifier=NOTE.verifier, origin=ORIGIN)
    assert checkpoint.size == 0
    assert await ledger.ensure_checkpoint() == note  # signed once, then reused


async def test_receipts_prove_inclusion_under_their_checkpoint(ledger: Ledger) -> None:
    acks = await ledger.append([single(0), batch("b1", 300), single(1)])
    assert [a.leaf_count for a in acks] == [1, 300, 1]
    assert [a.first_leaf_index for a in acks] == [0, 1, 301]
    for ack in acks:
        receipt = _receipt(ack.receipt)
        assert receipt.gateway_node_id == "zj-330000"
        checkpoint = verify_checkpoint(
            receipt.checkpoint.note, verifier=NOTE.verifier, origin=ORIGIN
        )
        assert checkpoint.size == 302
        assert receipt.first_leaf_index == ack.first_leaf_index
    # Every leaf verifies against the signed root, with proofs built from stored tiles.
    checkpoint = verify_checkpoint(
        _receipt(acks[-1].receipt).checkpoint.note, verifier=NOTE.verifier, origin=ORIGIN
    )
    leaves = [pae(TYPE, b"record 0")]
    leaves += [pae(TYPE, f"b1 item {k}".encode()) for k in range(300)]
    leaves += [pae(TYPE, b"record 1")]
    for index in (0, 1, 150, 256, 300, 301):
        proof = await ledger.inclusion_proof(index, checkpoint.size)
        verify_inclusion(
            leaf_hash=leaf_hash(leaves[index]),
            index=index,
            tree_size=checkpoint.size,
            proof=proof,
            root=checkpoint.root_hash,
        )


async def test_consistency_between_appends(ledger: Ledger) -> None:
    first = _receipt((await ledger.append([batch("a", 700)]))[0].receipt).checkpoint
    second = _receipt((await ledger.append([batch("b", 1000)]))[0].receipt).checkpoint
    c1 = verify_checkpoint(first.note, verifier=NOTE.verifier, origin=ORIGIN)
    c2 = verify_checkpoint(second.note, verifier=NOTE.verifier, origin=ORIGIN)
    proof = await ledger.consistency_proof(c1.size, c2.size)
    verify_consistency(
        size1=c1.size, size2=c2.size, root1=c1.root_hash, root2=c2.root_hash, proof=proof
    )


async def test_retry_returns_the_original_receipt_and_logs_nothing(
    ledger: Ledger, store: Store
) -> None:
    original = (await ledger.append([single(7)]))[0]
    again = (await ledger.append([single(7)]))[0]
    assert again.duplicate
    assert again.receipt == original.receipt
    assert (await store.head()).size == 1


async def test_reused_id_with_other_content_is_a_replay_and_others_proceed(
    ledger: Ledger, store: Store
) -> None:
    await ledger.append([single(1)])
    acks = await ledger.append([single(1, variant=b"changed"), single(2)])
    assert acks[0].error is not None
    assert acks[0].error.reason == "REPLAYED_MESSAGE"
    assert acks[0].receipt == b""
    assert acks[1].error is None
    assert acks[1].first_leaf_index == 1
    assert (await store.head()).size == 2


async def test_a_failed_transaction_stores_nothing(ledger: Ledger, store: Store) -> None:
    await ledger.append([single(1)])
    # The batch id collides with a stored batch: the store refuses, the whole append rolls back.
    await ledger.append([batch("dup", 3)])
    clash = batch("dup2", 3)
    clash = Submission(
        message_id="new-id",
        request_digest=clash.request_digest,
        sender_node_id=clash.sender_node_id,
        payload_type=clash.payload_type,
        payload_digest=clash.payload_digest,
        entries=clash.entries,
        batch=BatchInfo(batch_id="dup", head_envelope=b"x"),
    )
    before = await store.head()
    with pytest.raises(Exception, match=r"(?i)exist|conflict|duplicate"):
        await ledger.append([single(2), clash])
    assert await store.head() == before
    assert await store.get_message("msg-000002") is None


async def test_proof_requests_outside_the_log_are_invalid(ledger: Ledger) -> None:
    await ledger.append([single(0)])
    with pytest.raises(InvalidArgument):
        await ledger.inclusion_proof(0, 2)
    with pytest.raises(InvalidArgument):
        await ledger.consistency_proof(1, 5)


async def test_forwarded_submissions_are_queued_with_the_append(
    ledger: Ledger, store: Store
) -> None:
    to_hub = Forward(destination="cn-hub", request_id="req-1", sealed=b"sealed for the hub")
    first = dataclasses.replace(single(1), forward=[to_hub])
    await ledger.append([first, single(2)])
    (row,) = await store.outbox_status("msg-000001")
    assert (row.destination, row.request_id, row.sealed, row.state) == (
        "cn-hub",
        "req-1",
        b"sealed for the hub",
        OutboxState.PENDING,
    )
    assert await store.outbox_status("msg-000002") == []
    # A retry is answered from the log and queues nothing a second time.
    (ack,) = await ledger.append([first])
    assert ack.duplicate
    assert await store.outbox_status("msg-000001") == [row]
    # A failed append queues nothing either (the batch id clashes with a stored one).
    await ledger.append([batch("dup", 2)])
    clash = dataclasses.replace(
        batch("dup", 2),
        message_id="other-id",
        forward=[Forward(destination="cn-hub", request_id="req-3", sealed=b"x")],
    )
    with pytest.raises(Exception, match=r"(?i)exist|conflict|duplicate"):
        await ledger.append([clash])
    assert await store.outbox_status("other-id") == []
    due = await store.next_outbox("cn-hub", now=datetime.now(UTC), limit=10)
    assert [r.message_id for r in due] == ["msg-000001"]


def test_a_submission_is_forwarded_once_per_destination() -> None:
    twice = [Forward(destination="cn-hub", request_id=f"r{i}", sealed=b"s") for i in range(2)]
    with pytest.raises(ValueError, match="once"):
        dataclasses.replace(single(1), forward=twice)


# --- group commit of single submissions (append_one) -----------------------------------------


async def test_concurrent_single_submissions_share_commits(ledger: Ledger, store: Store) -> None:
    """Calls that arrive while an append runs go together in the next one (group commit)."""
    acks = await asyncio.gather(*(ledger.append_one(single(i)) for i in range(60)))
    assert all(a.error is None and not a.duplicate for a in acks)
    assert sorted(a.first_leaf_index for a in acks) == list(range(60))
    assert (await store.head()).size == 60
    # One checkpoint per append: fewer checkpoints than calls means calls shared commits.
    sizes = {_receipt(a.receipt).checkpoint.size for a in acks}
    assert len(sizes) < 60
    # Each receipt still proves its own leaf under its own checkpoint.
    for i, ack in enumerate(acks):
        checkpoint = verify_checkpoint(
            _receipt(ack.receipt).checkpoint.note, verifier=NOTE.verifier, origin=ORIGIN
        )
        proof = await ledger.inclusion_proof(ack.first_leaf_index, checkpoint.size)
        verify_inclusion(
            leaf_hash=leaf_hash(pae(TYPE, f"record {i}".encode())),
            index=ack.first_leaf_index,
            tree_size=checkpoint.size,
            proof=proof,
            root=checkpoint.root_hash,
        )


async def test_a_concurrent_retry_gets_the_original_receipt(ledger: Ledger, store: Store) -> None:
    """Two calls with one message id in flight together: one is logged, both get its receipt."""
    first, second, replay = await asyncio.gather(
        ledger.append_one(single(5)),
        ledger.append_one(single(5)),
        ledger.append_one(single(5, variant=b"other content")),
    )
    assert not first.duplicate
    assert first.error is None
    assert second.duplicate
    assert second.receipt == first.receipt
    assert replay.error is not None
    assert replay.error.reason == "REPLAYED_MESSAGE"
    assert (await store.head()).size == 1


async def test_a_caller_that_gives_up_does_not_stop_the_group(ledger: Ledger, store: Store) -> None:
    """A cancelled waiter leaves the others acknowledged; its submission may still be logged."""
    tasks = [asyncio.create_task(ledger.append_one(single(i))) for i in range(10)]
    await asyncio.sleep(0)
    tasks[3].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[3], asyncio.CancelledError)
    assert all(
        not isinstance(d, BaseException) and d.error is None for i, d in enumerate(done) if i != 3
    )
    assert (await store.head()).size in (9, 10)
    again = await ledger.append_one(single(3))  # a retry of the cancelled call is answered
    assert again.error is None


@pytest.mark.parametrize(
    "entry",
    [
        LedgerEntry(
            message_id="m-1",
            kind="record",
            sender_node_id="zj-330000",
            payload_type=envelope.payload_type_for("record"),
            payload=b"\x0a\x01x",
            envelope=None,
            subject_key="91330100MA27XL0A6Q",
            leaf_hash=b"\x01" * 32,
        ),
        LedgerEntry(
            message_id="m-2",
            kind="record",
            sender_node_id="zj-330000",
            payload_type=envelope.payload_type_for("record"),
            payload=b"\x0a\x01y",
            envelope=b"dsse",
        ),
    ],
)
def test_ledger_entries_cross_to_and_from_intake_workers_whole(entry: LedgerEntry) -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy == entry
    assert dataclasses.astuple(copy) == dataclasses.astuple(entry)
