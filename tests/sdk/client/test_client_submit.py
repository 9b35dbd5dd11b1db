"""Submitting through the blocking client against a real gateway over mutual TLS.

Everything the client returns was verified by the client itself; the tests check that what it
says matches the gateway's log (sizes, leaves, proofs) and re-verify the proofs it hands out.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from sdk_client_support import RunningGateway, penalty_record

from creditlink.gateway.bootstrap import DevNode
from creditlink.sdk import Client, envelope
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.client import Receipt, SubmitProgress
from creditlink.sdk.tlog import EMPTY_ROOT, Checkpoint, leaf_hash, verify_inclusion
from creditlink.v1 import statement_pb2

RECORD_TYPE = envelope.payload_type_for("record")


def full_statement(sender: str, gateway: str) -> statement_pb2.Statement:
    """A statement with every header field set by the caller (so its bytes are fixed)."""
    out = statement_pb2.Statement()
    out.header.message_id = str(uuid.uuid4())
    out.header.request_id = str(uuid.uuid4())
    out.header.sender_node_id = sender
    out.header.recipient_node_ids.append(gateway)
    out.header.created_at.FromDatetime(datetime.now(UTC).replace(microsecond=0))
    out.record.CopyFrom(penalty_record())
    return out


def test_submit_a_record_returns_a_verified_receipt_of_the_logged_leaf(
    client: Client, gateway: RunningGateway, dev: DevNode
) -> None:
    record = penalty_record()
    receipt = client.submit(record)

    assert isinstance(receipt, Receipt)
    assert receipt.gateway_node_id == dev.node_id == client.gateway
    assert receipt.log_origin == dev.node.node.log_origin
    assert (receipt.first_leaf_index, receipt.leaf_count) == (0, 1)
    assert receipt.payload_type == RECORD_TYPE
    assert receipt.statement_ids == (receipt.message_id,)
    assert receipt.checkpoint.size == 1 == gateway.log_size()
    # The receipt covers the statement the client signed: the log's leaf is that statement.
    proof = client.get_inclusion_proof(message_id=receipt.message_id)
    assert proof.entry.message_id == receipt.message_id
    assert proof.entry.statement.record == record
    assert proof.entry.statement.header.sender_node_id == dev.operator.node_id
    assert list(proof.entry.statement.header.recipient_node_ids) == [dev.node_id]
    assert proof.entry.leaf_hash == leaf_hash(pae(RECORD_TYPE, proof.entry.payload))
    verify_inclusion(
        leaf_hash=proof.entry.leaf_hash,
        index=0,
        tree_size=proof.checkpoint.size,
        proof=proof.hashes,
        root=proof.checkpoint.root_hash,
    )


def test_several_statements_go_as_one_signed_batch_with_one_receipt(
    client: Client, gateway: RunningGateway
) -> None:
    first = client.submit(penalty_record())
    batch = client.submit([penalty_record() for _ in range(5)])
    assert (batch.first_leaf_index, batch.leaf_count) == (1, 5)
    assert len(batch.statement_ids) == 5
    assert gateway.log_size() == 6
    # Each statement is found at its own leaf, as an item of the signed batch.
    third = batch.statement_ids[2]
    proof = client.get_inclusion_proof(leaf_index=batch.leaf_index(third))
    assert proof.entry.message_id == third
    assert proof.entry.batch_id == batch.message_id
    # The receipt's own checkpoint is a size the gateway signed: prove inclusion in it.
    at_receipt = client.get_inclusion_proof(
        message_id=batch.message_id, tree_size=batch.checkpoint.size
    )
    assert at_receipt.checkpoint == batch.checkpoint
    assert at_receipt.entry.leaf_index == batch.first_leaf_index
    # The log grew from the first receipt's checkpoint without rewriting it.
    consistency = client.get_consistency_proof(first.checkpoint)
    assert (consistency.old.size, consistency.new.size) == (1, 6)
    from_empty = client.get_consistency_proof(
        Checkpoint(origin=first.log_origin, size=0, root_hash=EMPTY_ROOT)
    )
    assert from_empty.new == consistency.new
    with pytest.raises(KeyError):
        batch.leaf_index("not-in-this-batch")


def test_resubmitting_the_same_statement_returns_the_original_receipt(
    client: Client, gateway: RunningGateway, dev: DevNode
) -> None:
    statement = full_statement(dev.operator.node_id, dev.node_id)
    first = client.submit(statement)
    again = client.submit(statement)  # signed and sealed again: same signed bytes, new seal
    assert again.envelope == first.envelope
    assert again.first_leaf_index == first.first_leaf_index == 0
    assert gateway.log_size() == 1
    looked_up = client.get_receipt(first.message_id)
    assert looked_up.envelope == first.envelope
    assert looked_up.statement_ids == ()


def test_submit_is_retried_while_the_gateway_is_down(dev: DevNode, gateway: RunningGateway) -> None:
    gateway.stop()
    with Client.from_credentials(dev.operator_dir) as client:
        restarter = threading.Timer(1.0, gateway.start)
        restarter.start()
        started = time.monotonic()
        # UNAVAILABLE until the gateway is back; the request carries its request id, so the
        # client retries it within the deadline (the first call also learns nothing else).
        receipt = client.submit(penalty_record(), timeout=20)
        restarter.join()
    assert time.monotonic() - started >= 0.9
    assert receipt.first_leaf_index == 0
    assert gateway.log_size() == 1


def test_submit_records_streams_thousands_in_auto_sized_batches_with_progress(
    client: Client, gateway: RunningGateway
) -> None:
    records = [penalty_record() for _ in range(3_000)]
    seen: list[SubmitProgress] = []
    pulled = 0

    def lazily() -> object:
        nonlocal pulled
        for record in records:
            pulled += 1
            yield record

    receipts = client.submit_records(lazily(), progress=seen.append)  # type: ignore[arg-type]
    assert pulled == 0  # nothing happens until the iterator is consumed
    receipts = list(receipts)

    assert sum(r.leaf_count for r in receipts) == 3_000
    assert gateway.log_size() == 3_000
    # In record order: consecutive leaf ranges, and the first batches are the small ones.
    assert [r.first_leaf_index for r in receipts] == [
        sum(r.leaf_count for r in receipts[:i]) for i in range(len(receipts))
    ]
    assert len(receipts) > 1
    assert receipts[0].leaf_count == 500
    assert all(r.leaf_count <= 10_000 for r in receipts)
    # Progress after every receipt, ending with everything acknowledged.
    assert len(seen) == len(receipts)
    assert [p.records_acknowledged for p in seen] == [
        sum(r.leaf_count for r in receipts[: i + 1]) for i in range(len(receipts))
    ]
    assert seen[-1] == SubmitProgress(
        records_sent=3_000,
        records_acknowledged=3_000,
        batches_sent=len(receipts),
        batches_acknowledged=len(receipts),
    )
    # Every record is in the log where its receipt says, with the record's content.
    ids = [i for r in receipts for i in r.statement_ids]
    assert len(set(ids)) == 3_000
    probe = receipts[-1]
    proof = client.get_inclusion_proof(leaf_index=probe.leaf_index(probe.statement_ids[-1]))
    assert proof.entry.message_id == probe.statement_ids[-1]
    assert proof.entry.statement.record == records[-1]


def test_submit_records_with_a_fixed_batch_size(client: Client, gateway: RunningGateway) -> None:
    receipts = list(client.submit_records([penalty_record() for _ in range(2_300)], batch_size=700))
    assert [r.leaf_count for r in receipts] == [700, 700, 700, 200]
    assert gateway.log_size() == 2_300
    assert list(client.submit_records([])) == []


def test_a_refused_batch_ends_submit_records_after_the_accepted_receipts(
    client: Client, gateway: RunningGateway
) -> None:
    from creditlink.sdk.errors import InvalidArgument

    records = [penalty_record() for _ in range(1_000)]
    records[650] = penalty_record(uscc="91330100MA27XL0A6R")  # wrong check character
    receipts: list[Receipt] = []
    with pytest.raises(InvalidArgument) as info:
        receipts.extend(client.submit_records(records, batch_size=300))  # keeps what came first
    error = info.value
    assert error.reason == "BATCH_REJECTED"
    assert [v.field for v in error.field_violations] == [
        "records[650]",
        "records[650].record.subject.uscc",
    ]
    assert error.field_violations[0].description.startswith("INVALID_USCC")
    # Batches 0-1 were accepted (and batch 3, sent while 2 was checked, may have been).
    assert [r.first_leaf_index for r in receipts][:2] == [0, 300]
    assert all(r.leaf_count == 300 or r.leaf_count == 100 for r in receipts)
    assert gateway.log_size() == sum(r.leaf_count for r in receipts)


def test_a_batch_refused_by_its_domain_effect_raises_the_class_a_unary_call_would(
    client: Client, gateway: RunningGateway
) -> None:
    """CXP-API-013: the refusal carries the unary call's status code; the client maps it."""
    from creditlink.sdk.errors import AlreadyExists

    published = penalty_record()
    client.submit(published)
    again = [penalty_record() for _ in range(5)]
    again[3] = published  # revision 1 of an id that exists: ALREADY_EXISTS, as for Submit
    with pytest.raises(AlreadyExists) as info:
        list(client.submit_records(again, batch_size=10))
    assert info.value.reason == "RECORD_ALREADY_EXISTS"
    assert published.record_id in info.value.message
    assert gateway.log_size() == 1


def test_the_gateway_is_found_from_its_checkpoint_when_the_bundle_lists_another_address(
    dev: DevNode, gateway: RunningGateway
) -> None:
    port = dev.listen.rsplit(":", 1)[1]
    with Client(f"localhost:{port}", dev.operator) as client:
        assert client.gateway == dev.node_id
        assert client.submit(penalty_record()).gateway_node_id == dev.node_id


def test_recipients_must_include_the_gateway(client: Client, dev: DevNode) -> None:
    with pytest.raises(ValueError, match="must include the gateway"):
        client.submit(penalty_record(), recipients=["gd-440000"])
    statement = full_statement("someone-else", dev.node_id)
    with pytest.raises(ValueError, match="sign as"):
        client.submit(statement)
    with pytest.raises(TypeError):
        client.submit(statement_pb2.StatementHeader())


def test_submit_records_survives_a_gateway_restart_without_logging_twice(
    client: Client, gateway: RunningGateway
) -> None:
    restarts: list[threading.Thread] = []

    def restart_once(progress: SubmitProgress) -> None:
        # After the first receipt more batches are in flight: the gateway dies under them.
        if not restarts:
            restarts.append(threading.Thread(target=lambda: (gateway.stop(), gateway.start())))
            restarts[0].start()

    receipts = list(
        client.submit_records(
            (penalty_record() for _ in range(6_000)), batch_size=400, progress=restart_once
        )
    )
    restarts[0].join()
    assert gateway.starts == 2
    # Every record once: batches resent after the restart got their original receipts.
    assert [r.first_leaf_index for r in receipts] == list(range(0, 6_000, 400))
    assert len({i for r in receipts for i in r.statement_ids}) == 6_000
    assert gateway.log_size() == 6_000
