"""Batch signatures: one signature over the RFC 9162 root, whole-batch and per-item checks."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlink.sdk._internal.pae import pae
from creditlink.sdk.batch import (
    BATCH_HEAD_TYPE,
    MAX_AUDIT_PATH,
    MAX_BATCH_ITEMS,
    BatchedEnvelope,
    BatchItem,
    SignedBatch,
    VerifiedHeads,
    extract,
    extract_all,
    item_leaf_hash,
    sign_batch,
    verify_batch,
    verify_batched,
)
from creditlink.sdk.envelope import Envelope, payload_type_for, sign
from creditlink.sdk.errors import InvalidBatch, InvalidEnvelope, VerificationError
from creditlink.sdk.keys import Algorithm, PrivateKey
from creditlink.v1 import envelope_pb2

RECORD = payload_type_for("record")
ENTRY = payload_type_for("name-list-entry")
KEY = PrivateKey.from_seed(bytes([9]) * 32)
OTHER = PrivateKey.from_seed(bytes([8]) * 32)
AT = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def _items(n: int, payload_type: str = RECORD) -> list[BatchItem]:
    return [BatchItem(f"item-{i}".encode(), payload_type) for i in range(n)]


def _batch(n: int, key: PrivateKey = KEY) -> SignedBatch:
    return sign_batch(_items(n), key, signer_node_id="zj-330000", batch_id="b-1", signed_at=AT)


def _ref_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH, straight from the recursive definition (independent of sdk code)."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _ref_root(leaves[:k]) + _ref_root(leaves[k:])).digest()


def _ref_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 PATH(m, D[n]) from the recursive definition."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return [*_ref_path(index, leaves[:k]), _ref_root(leaves[k:])]
    return [*_ref_path(index - k, leaves[k:]), _ref_root(leaves[:k])]


# --- signing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100])
def test_root_and_paths_match_rfc9162(n: int) -> None:
    """CXP-BATCH-001: leaf i = PAE(type, payload); root and audit paths are RFC 9162's."""
    batch = _batch(n)
    leaves = [pae(t, p) for p, t in batch.items]
    head = envelope_pb2.BatchHead.FromString(batch.head.payload)
    assert head.root == _ref_root(leaves)
    assert head.count == n
    for i, one in enumerate(extract_all(batch)):
        assert list(one.audit_path) == _ref_path(i, leaves)
        assert one == extract(batch, i)


def test_head_fields_and_single_signature() -> None:
    """CXP-BATCH-002: one DSSE signature of type batch-head over the serialized BatchHead."""
    batch = _batch(5)
    assert (
        batch.head.payload_type
        == BATCH_HEAD_TYPE
        == ("application/vnd.creditlink.batch-head.v1+protobuf")
    )
    assert len(batch.head.signatures) == 1
    verified = verify_batch(batch, keys=[KEY.public_key], expected_types={RECORD})
    assert verified.count == 5
    assert verified.batch_id == "b-1"
    assert verified.signer_node_id == "zj-330000"
    assert verified.signed_at == AT
    assert verified.items == tuple(_items(5))
    assert verified.signer_key_ids == (KEY.key_id,)
    assert len(verified.root) == 32


@pytest.mark.parametrize("alg", [Algorithm.ECDSA_P256_SHA256, Algorithm.ML_DSA_65])
def test_other_algorithms(alg: Algorithm) -> None:
    key = PrivateKey.generate(alg)
    batch = _batch(6, key)
    verify_batch(batch, keys=[key.public_key], expected_types={RECORD})
    verify_batched(extract(batch, 4), keys=[key.public_key], expected_type=RECORD)


def test_sign_batch_argument_checks() -> None:
    with pytest.raises(InvalidBatch):
        sign_batch([], KEY, signer_node_id="n", batch_id="b", signed_at=AT)
    with pytest.raises(ValueError, match="timezone"):
        sign_batch(
            _items(1), KEY, signer_node_id="n", batch_id="b", signed_at=AT.replace(tzinfo=None)
        )
    with pytest.raises(ValueError, match="batch_id"):
        sign_batch(_items(1), KEY, signer_node_id="n", batch_id="", signed_at=AT)
    with pytest.raises(ValueError, match="signer_node_id"):
        sign_batch(_items(1), KEY, signer_node_id="n" * 64, batch_id="b", signed_at=AT)


# --- whole-batch verification -----------------------------------------------------------------


def test_verify_batch_round_trip_through_bytes() -> None:
    batch = _batch(9)
    again = SignedBatch.from_bytes(batch.to_bytes())
    assert again.items == batch.items
    assert again.head == batch.head
    verify_batch(again, keys=[KEY.public_key], expected_types=[RECORD])


def test_mixed_item_types() -> None:
    """CXP-BATCH-006: every item's type must be among the expected types."""
    items = [*_items(3), BatchItem(b"entry", ENTRY)]
    batch = sign_batch(items, KEY, signer_node_id="n", batch_id="b", signed_at=AT)
    verify_batch(batch, keys=[KEY.public_key], expected_types={RECORD, ENTRY})
    with pytest.raises(InvalidBatch) as err:
        verify_batch(batch, keys=[KEY.public_key], expected_types={RECORD})
    assert err.value.reason == "PAYLOAD_TYPE_MISMATCH"


def _resigned(batch: SignedBatch, items: list[BatchItem]) -> SignedBatch:
    return SignedBatch(head=batch.head, items=items)


def test_tampered_items_are_rejected() -> None:
    """CXP-BATCH-003: any change to the items breaks the root or the count."""
    batch = _batch(7)
    items = list(batch.items)
    keys = [KEY.public_key]
    cases = {
        "ROOT_MISMATCH": [
            [*items[:3], BatchItem(b"evil", RECORD), *items[4:]],
            [items[1], items[0], *items[2:]],
            [*items[:6], BatchItem(items[6].payload, ENTRY)],
        ],
        "COUNT_MISMATCH": [items[:6], [*items, items[0]]],
    }
    for reason, variants in cases.items():
        for variant in variants:
            with pytest.raises(InvalidBatch) as err:
                verify_batch(_resigned(batch, variant), keys=keys, expected_types={RECORD, ENTRY})
            assert err.value.reason == reason


def test_head_signature_is_checked_once_and_first() -> None:
    """CXP-BATCH-003: a bad head signature or an untrusted signer fails the whole batch."""
    batch = _batch(4)
    with pytest.raises(InvalidEnvelope) as err:
        verify_batch(batch, keys=[OTHER.public_key], expected_types={RECORD})
    assert err.value.reason == "INVALID_SIGNATURE"


def test_head_with_wrong_payload_type_is_rejected() -> None:
    """CXP-BATCH-002: the head must be of type batch-head."""
    batch = _batch(2)
    wrong = sign(batch.head.payload, RECORD, [KEY])
    with pytest.raises(InvalidEnvelope) as err:
        verify_batch(
            SignedBatch(head=wrong, items=batch.items),
            keys=[KEY.public_key],
            expected_types={RECORD},
        )
    assert err.value.reason == "PAYLOAD_TYPE_MISMATCH"


def test_head_is_parsed_strictly_after_verification() -> None:
    """CXP-BATCH-002 / CXP-ENV-007: unknown fields or broken constraints in a signed head."""
    batch = _batch(2)
    payload = batch.head.payload
    unknown = sign(payload + b"\x30\x01", BATCH_HEAD_TYPE, [KEY])
    with pytest.raises(InvalidEnvelope) as err:
        verify_batch(
            SignedBatch(head=unknown, items=batch.items),
            keys=[KEY.public_key],
            expected_types={RECORD},
        )
    assert err.value.reason == "MALFORMED_PAYLOAD"
    head = envelope_pb2.BatchHead.FromString(payload)
    head.ClearField("signed_at")
    no_time = sign(head.SerializeToString(), BATCH_HEAD_TYPE, [KEY])
    with pytest.raises(InvalidBatch) as err2:
        verify_batch(
            SignedBatch(head=no_time, items=batch.items),
            keys=[KEY.public_key],
            expected_types={RECORD},
        )
    assert err2.value.reason == "MALFORMED_BATCH"


def test_batch_limits() -> None:
    """CXP-BATCH-005: item count, item sizes and types are bounded at construction."""
    head = _batch(1).head
    with pytest.raises(InvalidBatch) as err:
        SignedBatch(head=head, items=[])
    assert err.value.reason == "MALFORMED_BATCH"
    with pytest.raises(InvalidBatch) as err:
        SignedBatch(head=head, items=[BatchItem(b"x", RECORD)] * (MAX_BATCH_ITEMS + 1))
    assert err.value.reason == "LIMIT_EXCEEDED"
    for bad in (BatchItem(b"", RECORD), BatchItem(b"x", ""), BatchItem(b"x", "t" * 201)):
        with pytest.raises(InvalidBatch):
            SignedBatch(head=head, items=[bad])
    big = BatchItem(b"\x00" * (16 * 1024 * 1024), RECORD)
    with pytest.raises(InvalidBatch) as err:
        SignedBatch(head=head, items=[big] * 5)
    assert err.value.reason == "LIMIT_EXCEEDED"


def test_signed_batch_wire_errors() -> None:
    batch = _batch(2)
    data = batch.to_bytes()
    for bad in (data + b"\x18\x01", data[:-3], b"\x0a\xff"):
        with pytest.raises(VerificationError):
            SignedBatch.from_bytes(bad)
    with pytest.raises(InvalidBatch):
        SignedBatch.from_proto(envelope_pb2.SignedBatch(items=[envelope_pb2.BatchItem()]))


# --- single items -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 6, 13])
def test_every_extracted_item_verifies_alone(n: int) -> None:
    """CXP-BATCH-004: each item, its path and the head verify without the rest of the batch."""
    batch = _batch(n)
    for i, one in enumerate(extract_all(batch)):
        again = BatchedEnvelope.from_bytes(one.to_bytes())
        assert again == one
        verified = verify_batched(again, keys=[KEY.public_key], expected_type=RECORD)
        assert verified.index == i
        assert verified.item == batch.items[i]
        assert verified.count == n
        assert verified.batch_id == "b-1"
        assert verified.signed_at == AT


def _variant(one: BatchedEnvelope, **changes: object) -> BatchedEnvelope:
    fields: dict[str, object] = {
        "item": one.item,
        "head": one.head,
        "index": one.index,
        "audit_path": one.audit_path,
    }
    fields.update(changes)
    return BatchedEnvelope(**fields)  # type: ignore[arg-type]


def test_batched_mutations_are_rejected() -> None:
    """CXP-BATCH-004: wrong index, modified/truncated/extended path, tampered item."""
    batch = _batch(11)
    one = extract(batch, 6)
    path = list(one.audit_path)
    flipped = bytes([path[1][0] ^ 1]) + path[1][1:]
    cases = {
        "INVALID_INCLUSION_PROOF": [
            _variant(one, index=5),
            _variant(one, index=7),
            _variant(one, audit_path=[path[0], flipped, *path[2:]]),
            _variant(one, audit_path=path[:-1]),
            _variant(one, audit_path=[*path, path[0]]),
            _variant(one, audit_path=[]),
            _variant(one, audit_path=list(reversed(path))),
            _variant(one, item=BatchItem(b"item-7", RECORD)),
        ],
        "INDEX_OUT_OF_RANGE": [_variant(one, index=11), _variant(one, index=2**64 - 1)],
    }
    for reason, variants in cases.items():
        for variant in variants:
            with pytest.raises(InvalidBatch) as err:
                verify_batched(variant, keys=[KEY.public_key], expected_type=RECORD)
            assert err.value.reason == reason, variant


def test_batched_type_and_signature_checks() -> None:
    """CXP-BATCH-004/006: the item's type is checked; the head signature is required."""
    batch = _batch(3)
    one = extract(batch, 1)
    with pytest.raises(InvalidBatch) as err:
        verify_batched(one, keys=[KEY.public_key], expected_type=ENTRY)
    assert err.value.reason == "PAYLOAD_TYPE_MISMATCH"
    with pytest.raises(InvalidEnvelope) as err2:
        verify_batched(one, keys=[OTHER.public_key], expected_type=RECORD)
    assert err2.value.reason == "INVALID_SIGNATURE"
    # The item's type is inside its leaf: relabelling it breaks inclusion.
    relabelled = _variant(one, item=BatchItem(one.item.payload, ENTRY))
    with pytest.raises(InvalidBatch) as err:
        verify_batched(relabelled, keys=[KEY.public_key], expected_type=ENTRY)
    assert err.value.reason == "INVALID_INCLUSION_PROOF"


def test_batched_structure_limits() -> None:
    """CXP-BATCH-004: at most 64 path hashes of 32 bytes; index is a uint64."""
    one = extract(_batch(2), 0)
    with pytest.raises(InvalidBatch) as err:
        _variant(one, audit_path=[bytes(32)] * (MAX_AUDIT_PATH + 1))
    assert err.value.reason == "LIMIT_EXCEEDED"
    for bad_path in ([bytes(31)], [bytes(33)]):
        with pytest.raises(InvalidBatch):
            _variant(one, audit_path=bad_path)
    for bad_index in (-1, 2**64, True):
        with pytest.raises(InvalidBatch):
            _variant(one, index=bad_index)
    pb = one.to_proto()
    pb.audit_path.extend([bytes(32)] * 70)
    with pytest.raises(InvalidBatch):
        BatchedEnvelope.from_bytes(pb.SerializeToString())
    with pytest.raises(InvalidBatch):
        BatchedEnvelope.from_bytes(one.to_bytes() + b"\x28\x01")
    with pytest.raises(IndexError):
        extract(_batch(2), 2)


def test_count_lie_in_signed_head() -> None:
    """CXP-BATCH-003: a head whose count disagrees with the items fails the whole batch."""
    batch = _batch(4)
    head = envelope_pb2.BatchHead.FromString(batch.head.payload)
    head.count = 5
    lying = SignedBatch(
        head=sign(head.SerializeToString(), BATCH_HEAD_TYPE, [KEY]), items=batch.items
    )
    with pytest.raises(InvalidBatch) as err:
        verify_batch(lying, keys=[KEY.public_key], expected_types={RECORD})
    assert err.value.reason == "COUNT_MISMATCH"
    with pytest.raises(InvalidBatch):
        verify_batched(extract(lying, 3), keys=[KEY.public_key], expected_type=RECORD)


def test_leaf_hash_definition() -> None:
    """CXP-BATCH-001: leaf hash = SHA-256(0x00 || PAE(type, payload))."""
    item = BatchItem(b"hello world", "http://example.com/HelloWorld")
    expected = hashlib.sha256(b"\x00DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    assert item_leaf_hash(item) == expected.digest()


_BATCH = _batch(5)
_ONE_BYTES = extract(_BATCH, 2).to_bytes()


@settings(max_examples=200, deadline=None)
@given(bit=st.integers(min_value=0, max_value=len(_ONE_BYTES) * 8 - 1))
def test_any_bit_flip_of_serialized_batched_envelope_fails(bit: int) -> None:
    """CXP-BATCH-004: flipping any bit of a serialized BatchedEnvelope makes it fail.

    Exception: the key id hint inside the head envelope carries no authority, so a flip there
    may still verify; such a case must leave every verified value unchanged.
    """
    data = bytearray(_ONE_BYTES)
    data[bit // 8] ^= 1 << (bit % 8)
    try:
        got = verify_batched(
            BatchedEnvelope.from_bytes(bytes(data)), keys=[KEY.public_key], expected_type=RECORD
        )
    except VerificationError:
        return
    original = extract(_BATCH, 2)
    hint_flipped = BatchedEnvelope.from_bytes(bytes(data)).head.signatures[0].keyid
    assert hint_flipped != original.head.signatures[0].keyid
    assert got.item == original.item
    assert got.index == 2


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=1, max_value=40), data=st.data())
def test_random_batches(n: int, data: st.DataObject) -> None:
    """CXP-BATCH-001/003/004: random sizes and payloads round-trip; a bit flip in one item
    breaks both the batch and that item's proof."""
    payloads = data.draw(st.lists(st.binary(min_size=1, max_size=40), min_size=n, max_size=n))
    items = [BatchItem(p, RECORD) for p in payloads]
    batch = sign_batch(items, KEY, signer_node_id="n", batch_id="b", signed_at=AT)
    verify_batch(batch, keys=[KEY.public_key], expected_types={RECORD})
    i = data.draw(st.integers(0, n - 1))
    one = extract(batch, i)
    verify_batched(one, keys=[KEY.public_key], expected_type=RECORD)
    payload = bytearray(items[i].payload)
    bit = data.draw(st.integers(0, len(payload) * 8 - 1))
    payload[bit // 8] ^= 1 << (bit % 8)
    bad = BatchItem(bytes(payload), RECORD)
    with pytest.raises(InvalidBatch):
        verify_batch(
            _resigned(batch, [*items[:i], bad, *items[i + 1 :]]),
            keys=[KEY.public_key],
            expected_types={RECORD},
        )
    with pytest.raises(InvalidBatch):
        verify_batched(_variant(one, item=bad), keys=[KEY.public_key], expected_type=RECORD)


def test_head_envelope_is_an_ordinary_envelope() -> None:
    """The head travels as a normal DSSE envelope (JSON form included)."""
    batch = _batch(3)
    again = Envelope.from_json(batch.head.to_json())
    verify_batch(
        SignedBatch(head=again, items=batch.items), keys=[KEY.public_key], expected_types={RECORD}
    )


def test_expected_signer_is_checked() -> None:
    """CXP-BATCH-007: the signed head's signer_node_id must be the node whose keys verified."""
    batch = _batch(3)
    keys = [KEY.public_key]
    verify_batch(batch, keys=keys, expected_types={RECORD}, expected_signer="zj-330000")
    verify_batched(extract(batch, 1), keys=keys, expected_type=RECORD, expected_signer="zj-330000")
    with pytest.raises(InvalidBatch) as err:
        verify_batch(batch, keys=keys, expected_types={RECORD}, expected_signer="gd-440000")
    assert err.value.reason == "SIGNER_MISMATCH"
    with pytest.raises(InvalidBatch) as err:
        verify_batched(
            extract(batch, 1), keys=keys, expected_type=RECORD, expected_signer="gd-440000"
        )
    assert err.value.reason == "SIGNER_MISMATCH"


def test_worked_example_of_the_spec() -> None:
    """CXP-BATCH-001: the three-item example of docs/spec/batch.md §2."""
    items = [
        BatchItem(b"hello world", "http://example.com/HelloWorld"),
        BatchItem(b"\x08\x01", RECORD),
        BatchItem(b"\x08\x02", RECORD),
    ]
    leaves = [item_leaf_hash(i).hex() for i in items]
    assert leaves == [
        "28fb2325415c318e6da13302c1e4f54dddd62c897fe977efc4a68be89174aa47",
        "e8beb1da730f52205a5190c6591974ded13d28e5022473b59f32d34d15be15fc",
        "96d2350801ad6d7cf4c266465e762e543fb7b714bb2d8eb82fbc995367f58e6f",
    ]
    batch = sign_batch(items, KEY, signer_node_id="n", batch_id="b", signed_at=AT)
    root = envelope_pb2.BatchHead.FromString(batch.head.payload).root
    assert root.hex() == "a5061e437406a60747809dd861b23b785c2a014d29e84b7f636f53de5224aff1"
    assert [h.hex() for h in extract(batch, 2).audit_path] == [
        "a9378fffb0e26bad2a116717cb5dcb383356e6fb12816cc5b0eb162e8cd329c6"
    ]
    assert [h.hex() for h in extract(batch, 0).audit_path] == [leaves[1], leaves[2]]


def test_verified_heads_verify_a_head_once_and_only_for_the_same_inputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A memo of verified heads returns what verifying again would, and nothing else."""
    import creditlink.sdk.batch as batch_module

    calls: list[int] = []
    real = batch_module._verified_head

    def counted(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(batch_module, "_verified_head", counted)
    heads = VerifiedHeads(size=2)
    batch = _batch(9)
    items = extract_all(batch)
    for i, one in enumerate(items):
        memo = verify_batched(one, keys=[KEY.public_key], expected_type=RECORD, heads=heads)
        assert memo == verify_batched(one, keys=[KEY.public_key], expected_type=RECORD)
        assert memo.index == i
    assert len(calls) == 1 + 9  # once through the memo, then once per call without it

    # Other keys, another expected signer: verified again (and refused), never served.
    calls.clear()
    with pytest.raises(VerificationError):
        verify_batched(items[0], keys=[OTHER.public_key], expected_type=RECORD, heads=heads)
    with pytest.raises(InvalidBatch) as err:
        verify_batched(
            items[0],
            keys=[KEY.public_key],
            expected_type=RECORD,
            expected_signer="gd-440000",
            heads=heads,
        )
    assert err.value.reason == "SIGNER_MISMATCH"
    assert len(calls) == 2
    # A head with the same payload but another signature is other bytes: checked, refused.
    forged = Envelope(
        payload=items[0].head.payload,
        payload_type=BATCH_HEAD_TYPE,
        signatures=sign(items[0].head.payload, BATCH_HEAD_TYPE, [OTHER]).signatures,
    )
    with pytest.raises(VerificationError):
        verify_batched(
            _variant(items[0], head=forged),
            keys=[KEY.public_key],
            expected_type=RECORD,
            heads=heads,
        )
    # The audit path is still checked on a hit.
    with pytest.raises(InvalidBatch) as err:
        verify_batched(
            _variant(items[3], index=4), keys=[KEY.public_key], expected_type=RECORD, heads=heads
        )
    assert err.value.reason == "INVALID_INCLUSION_PROOF"
    # Bounded: two heads kept, the oldest dropped first.
    for n in (2, 3, 4):
        verify_batched(
            extract(_batch(n), 0), keys=[KEY.public_key], expected_type=RECORD, heads=heads
        )
    assert len(heads._entries) == 2
    with pytest.raises(ValueError, match="size"):
        VerifiedHeads(size=0)


def test_batch_tree_hands_out_the_rfc_9162_audit_paths() -> None:
    """CXP-BATCH-004: a server's audit paths (BatchTree) are the RFC 9162 paths to the root."""
    from creditlink.sdk.batch import BatchTree
    from creditlink.sdk.tlog import (
        Frontier,
        MemoryNodeStore,
        inclusion_proof,
        root_from_leaf_hashes,
        verify_inclusion,
    )

    for size in (1, 2, 3, 5, 8, 13, 64, 70, 129):
        leaves = [hashlib.sha256(b"leaf %d" % i).digest() for i in range(size)]
        tree = BatchTree(leaves)
        frontier, runs = Frontier().extend(leaves)
        store = MemoryNodeStore()
        store.add_runs(runs)
        assert tree.size == size
        assert tree.root == root_from_leaf_hashes(leaves) == frontier.root()
        for index in range(size):
            path = tree.audit_path(index)
            assert path == inclusion_proof(index, size, store)
            verify_inclusion(
                leaf_hash=leaves[index], index=index, tree_size=size, proof=path, root=tree.root
            )
        with pytest.raises(IndexError):
            tree.audit_path(size)
    with pytest.raises(ValueError, match="1 to"):
        BatchTree([])


def test_items_read_one_by_one_share_a_head_and_get_the_same_answers() -> None:
    """CXP-BATCH-004: VerifiedHeads.batched_from_proto and the proven audit paths give, item
    after item of one batch, exactly what BatchedEnvelope.from_proto and a fresh check give."""
    heads = VerifiedHeads()
    batch = _batch(37)
    protos = [one.to_proto() for one in extract_all(batch)]

    def check(pb: envelope_pb2.BatchedEnvelope) -> object:
        try:
            return verify_batched(
                heads.batched_from_proto(pb),
                keys=[KEY.public_key],
                expected_type=RECORD,
                heads=heads,
            )
        except VerificationError as exc:
            return exc.reason

    def fresh(pb: envelope_pb2.BatchedEnvelope) -> object:
        try:
            return verify_batched(
                BatchedEnvelope.from_proto(pb), keys=[KEY.public_key], expected_type=RECORD
            )
        except VerificationError as exc:
            return exc.reason

    def tampered(pb: envelope_pb2.BatchedEnvelope) -> list[envelope_pb2.BatchedEnvelope]:
        out = []
        wrapper = envelope_pb2.BatchedEnvelope.FromString(pb.SerializeToString() + b"\xa0\x06\x01")
        item = envelope_pb2.BatchedEnvelope()
        item.CopyFrom(pb)
        item.item.MergeFromString(b"\xa0\x06\x01")  # field 100 inside the item
        out += [wrapper, item]
        short = envelope_pb2.BatchedEnvelope()
        short.CopyFrom(pb)
        if short.audit_path:
            short.audit_path[0] = short.audit_path[0][:31]
            out.append(short)
            flipped = envelope_pb2.BatchedEnvelope()
            flipped.CopyFrom(pb)
            flipped.audit_path[-1] = (
                bytes([flipped.audit_path[-1][0] ^ 1]) + flipped.audit_path[-1][1:]
            )
            out.append(flipped)
        other_leaf = envelope_pb2.BatchedEnvelope()
        other_leaf.CopyFrom(pb)
        other_leaf.item.payload = b"not the signed item"
        moved = envelope_pb2.BatchedEnvelope()
        moved.CopyFrom(pb)
        moved.index = (pb.index + 1) % 37
        out += [other_leaf, moved]
        return out

    for pb in protos:
        for bad in tampered(pb):
            assert check(bad) == fresh(bad) != fresh(pb)
        assert check(pb) == fresh(pb)
    for pb in reversed(protos):  # against the leaf order: full checks, same answers
        assert check(pb) == fresh(pb)
