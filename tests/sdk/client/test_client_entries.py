"""ClientCore.verify_entry on log entries a gateway could send: what is refused before any
signature is looked at (the entry's own fields), and that a good batch item verifies.

No gateway is needed: the entries are built here as a gateway builds them (``extract`` of a
signed batch) and then spoiled one field at a time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from creditlink.gateway.bootstrap import DevNode
from creditlink.sdk.batch import BatchItem, extract, sign_batch
from creditlink.sdk.client._core import ClientCore
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.envelope import payload_type_for
from creditlink.sdk.errors import VerificationError
from creditlink.v1 import log_pb2
from tests.gateway.listings import entry_statement


def _entry(dev: DevNode) -> tuple[ClientCore, log_pb2.LogEntry]:
    creds = Credentials.load(dev.operator_dir)
    me, now = creds.node_id, datetime.now(UTC)
    item = BatchItem(
        entry_statement(me).SerializeToString(deterministic=True),
        payload_type_for("name-list-entry"),
    )
    batch = sign_batch(
        [item], creds.signing_key, signer_node_id=me, batch_id=str(uuid.uuid4()), signed_at=now
    )
    pb = log_pb2.LogEntry(leaf_index=7, sender_node_id=me, batched=extract(batch, 0).to_proto())
    pb.integrated_at.FromDatetime(now)
    return ClientCore(credentials=creds, target=dev.listen), pb


def test_a_good_batch_item_verifies(dev: DevNode) -> None:
    core, pb = _entry(dev)
    entry = core.verify_entry(pb)
    assert (entry.leaf_index, entry.kind) == (7, "name-list-entry")
    assert entry.integrated_at == pb.integrated_at.ToDatetime(tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(253_402_300_800, 0), (-62_135_596_801, 0), (1_764_000_000, -1), (1_764_000_000, 10**9)],
)
def test_an_integration_time_outside_the_timestamp_range_is_a_malformed_entry(
    dev: DevNode, seconds: int, nanos: int
) -> None:
    """Refused as the gateway's fault (VerificationError, MALFORMED_ENTRY), not a ValueError
    from the protobuf runtime escaping the subscription."""
    core, pb = _entry(dev)
    pb.integrated_at.seconds, pb.integrated_at.nanos = seconds, nanos
    with pytest.raises(VerificationError) as err:
        core.verify_entry(pb)
    assert err.value.reason == "MALFORMED_ENTRY"


def test_an_entry_without_sender_time_or_signed_message_is_malformed(dev: DevNode) -> None:
    core, good = _entry(dev)
    for spoil in ("sender_node_id", "integrated_at", "batched"):
        pb = log_pb2.LogEntry()
        pb.CopyFrom(good)
        pb.ClearField(spoil)  # type: ignore[arg-type]
        with pytest.raises(VerificationError) as err:
            core.verify_entry(pb)
        assert err.value.reason == "MALFORMED_ENTRY", spoil


def test_each_item_of_a_batch_needs_its_own_kinds_permission(tmp_path: Path) -> None:
    """The items of one batch share sender and logging instant, and their keys are looked up
    once; the kind is part of that lookup: zj-330000 may sign name-list entries but not
    measure lists, so in one batch holding both the second item is refused."""
    from creditlink.gateway.bootstrap import create_dev_federation
    from creditlink.sdk.errors import InvalidEnvelope
    from tests.gateway.listings import measure_list_statement

    fed = create_dev_federation(tmp_path / "fed")
    zj = fed.node("zj-330000").credentials
    now = datetime.now(UTC)
    items = [
        BatchItem(
            entry_statement(zj.node_id).SerializeToString(deterministic=True),
            payload_type_for("name-list-entry"),
        ),
        BatchItem(
            measure_list_statement(zj.node_id).SerializeToString(deterministic=True),
            payload_type_for("measure-list"),
        ),
    ]
    batch = sign_batch(
        items, zj.signing_key, signer_node_id=zj.node_id, batch_id="b-1", signed_at=now
    )
    core = ClientCore(credentials=fed.node("gd-440000").operator, target="127.0.0.1:1")
    entries = []
    for index in range(2):
        pb = log_pb2.LogEntry(
            leaf_index=index, sender_node_id=zj.node_id, batched=extract(batch, index).to_proto()
        )
        pb.integrated_at.FromDatetime(now)
        entries.append(pb)
    assert core.verify_entry(entries[0]).kind == "name-list-entry"
    with pytest.raises(InvalidEnvelope) as refused:
        core.verify_entry(entries[1])
    assert refused.value.reason == "KIND_NOT_PERMITTED"
