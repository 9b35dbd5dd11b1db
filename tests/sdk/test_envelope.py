"""DSSE envelopes: PAE, sign/verify, thresholds, JSON and protobuf forms, strict parsing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditlink.sdk._internal.pae import pae
from creditlink.sdk._internal.strict import parse_strict
from creditlink.sdk.envelope import (
    MAX_PAYLOAD_BYTES,
    MAX_SIGNATURES,
    Envelope,
    Signature,
    payload_type_for,
    sign,
    verify,
    verify_message,
    verify_signers,
)
from creditlink.sdk.errors import InvalidEnvelope
from creditlink.sdk.keys import Algorithm, PrivateKey
from creditlink.v1 import envelope_pb2, trust_pb2

RECORD = payload_type_for("record")
HEAD = payload_type_for("batch-head")

KEY_A = PrivateKey.from_seed(bytes([1]) * 32)
KEY_B = PrivateKey.from_seed(bytes([2]) * 32)
KEY_C = PrivateKey.from_seed(bytes([3]) * 32)
OUTSIDER = PrivateKey.from_seed(bytes([4]) * 32)


def _head_bytes(**fields: Any) -> bytes:
    head = envelope_pb2.BatchHead(
        root=bytes(32), count=1, batch_id="b", signer_node_id="zj-330000", **fields
    )
    head.signed_at.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC))
    return head.SerializeToString()


# --- PAE --------------------------------------------------------------------------------------


def test_pae_dsse_worked_example() -> None:
    """CXP-ENV-001: the DSSE protocol.md example."""
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_utf8_bytes_and_handles_empty() -> None:
    """CXP-ENV-001: LEN is the UTF-8 byte length, decimal, no leading zeros."""
    assert pae("记录", b"") == b"DSSEv1 6 \xe8\xae\xb0\xe5\xbd\x95 0 "
    assert pae("", b"\x00 ") == b"DSSEv1 0  2 \x00 "


@given(st.text(max_size=40), st.binary(max_size=300))
def test_pae_is_injective_by_construction(payload_type: str, payload: bytes) -> None:
    """CXP-ENV-001: PAE can be parsed back into exactly its (type, payload)."""
    out = pae(payload_type, payload)
    prefix, rest = out.split(b" ", 1)
    assert prefix == b"DSSEv1"
    tlen, rest = rest.split(b" ", 1)
    assert tlen == str(int(tlen)).encode()
    assert rest[: int(tlen)].decode() == payload_type
    rest = rest[int(tlen) + 1 :]
    blen, body = rest.split(b" ", 1)
    assert blen == str(int(blen)).encode()
    assert body == payload


# --- payload types ----------------------------------------------------------------------------


def test_payload_type_for() -> None:
    """CXP-ENV-008: payload types are application/vnd.creditlink.<kind>.v1+protobuf."""
    assert payload_type_for("name-list-entry") == (
        "application/vnd.creditlink.name-list-entry.v1+protobuf"
    )
    for bad in ("", "Record", "a.b", "记录", "a b"):
        with pytest.raises(ValueError, match="payload kind"):
            payload_type_for(bad)


# --- sign / verify ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alg", [Algorithm.ED25519, Algorithm.ECDSA_P256_SHA256, Algorithm.ML_DSA_65]
)
def test_round_trip_every_algorithm(alg: Algorithm) -> None:
    """CXP-ENV-002/003: sign then verify for each algorithm, through JSON and protobuf."""
    key = PrivateKey.generate(alg)
    env = sign(b"\x0a\x03abc", RECORD, [key])
    assert env.signatures[0].keyid == key.key_id
    for form in (env, Envelope.from_json(env.to_json()), Envelope.from_bytes(env.to_bytes())):
        assert form == env
        assert verify(form, keys=[key.public_key], expected_type=RECORD) == b"\x0a\x03abc"


def test_signature_covers_pae_not_raw_payload() -> None:
    """CXP-ENV-001/002: each signature is over PAE(type, payload)."""
    env = sign(b"payload", RECORD, [KEY_A])
    KEY_A.public_key.verify(env.signatures[0].sig, pae(RECORD, b"payload"))
    raw = Envelope(
        payload=b"payload", payload_type=RECORD, signatures=[Signature("", KEY_A.sign(b"payload"))]
    )
    with pytest.raises(InvalidEnvelope) as err:
        verify(raw, keys=[KEY_A.public_key], expected_type=RECORD)
    assert err.value.reason == "INVALID_SIGNATURE"


def test_wrong_expected_type_is_rejected() -> None:
    """CXP-ENV-008: the payload type must equal the expected type."""
    env = sign(b"x", RECORD, [KEY_A])
    with pytest.raises(InvalidEnvelope) as err:
        verify(env, keys=[KEY_A.public_key], expected_type=HEAD)
    assert err.value.reason == "PAYLOAD_TYPE_MISMATCH"


def test_payload_type_is_bound_into_signature() -> None:
    """CXP-ENV-001: changing the type (and expecting the new one) breaks the signature."""
    env = sign(b"x", RECORD, [KEY_A])
    moved = Envelope(payload=b"x", payload_type=HEAD, signatures=env.signatures)
    with pytest.raises(InvalidEnvelope) as err:
        verify(moved, keys=[KEY_A.public_key], expected_type=HEAD)
    assert err.value.reason == "INVALID_SIGNATURE"


def test_untrusted_key_is_rejected() -> None:
    env = sign(b"x", RECORD, [OUTSIDER])
    with pytest.raises(InvalidEnvelope) as err:
        verify(env, keys=[KEY_A.public_key, KEY_B.public_key], expected_type=RECORD)
    assert err.value.reason == "INVALID_SIGNATURE"
    with pytest.raises(InvalidEnvelope):
        verify(env, keys=[], expected_type=RECORD)


def test_keyid_is_only_a_hint() -> None:
    """CXP-ENV-003: wrong, empty or foreign key ids do not change the outcome."""
    sig = sign(b"x", RECORD, [KEY_B]).signatures[0].sig
    keys = [KEY_A.public_key, KEY_B.public_key, KEY_C.public_key]
    for hint in ("", KEY_A.key_id, "f" * 32, "not-hex", OUTSIDER.key_id):
        env = Envelope(payload=b"x", payload_type=RECORD, signatures=[Signature(hint, sig)])
        assert verify(env, keys=keys, expected_type=RECORD) == b"x"
        assert verify_signers(env, keys=keys, expected_type=RECORD) == (KEY_B.key_id,)


def test_threshold_counts_distinct_keys() -> None:
    """CXP-ENV-004: 2-of-3 distinct keys; the same key twice counts once."""
    trusted = [KEY_A.public_key, KEY_B.public_key, KEY_C.public_key]
    two = sign(b"x", RECORD, [KEY_A, KEY_C])
    assert verify(two, keys=trusted, expected_type=RECORD, threshold=2) == b"x"
    assert set(verify_signers(two, keys=trusted, expected_type=RECORD, threshold=2)) == {
        KEY_A.key_id,
        KEY_C.key_id,
    }
    with pytest.raises(InvalidEnvelope):
        verify(two, keys=trusted, expected_type=RECORD, threshold=3)

    same_twice = sign(b"x", RECORD, [KEY_A, KEY_A])
    with pytest.raises(InvalidEnvelope) as err:
        verify(same_twice, keys=trusted, expected_type=RECORD, threshold=2)
    assert err.value.reason == "INVALID_SIGNATURE"

    # The same signature copied, with hints naming two different trusted keys.
    sig = same_twice.signatures[0].sig
    copied = Envelope(
        payload=b"x",
        payload_type=RECORD,
        signatures=[Signature(KEY_A.key_id, sig), Signature(KEY_B.key_id, sig)],
    )
    with pytest.raises(InvalidEnvelope):
        verify(copied, keys=trusted, expected_type=RECORD, threshold=2)

    # A key listed twice among the trusted keys is still one key.
    with pytest.raises(InvalidEnvelope):
        verify(
            same_twice, keys=[KEY_A.public_key, KEY_A.public_key], expected_type=RECORD, threshold=2
        )

    # An untrusted signer does not count towards the threshold.
    with_outsider = sign(b"x", RECORD, [KEY_A, OUTSIDER])
    with pytest.raises(InvalidEnvelope):
        verify(with_outsider, keys=trusted, expected_type=RECORD, threshold=2)

    with pytest.raises(ValueError, match="threshold"):
        verify(two, keys=trusted, expected_type=RECORD, threshold=0)


def test_bad_signatures_before_a_good_one_are_skipped() -> None:
    """CXP-ENV-004: unknown or failing entries are ignored, not fatal."""
    good = sign(b"x", RECORD, [KEY_A]).signatures[0]
    env = Envelope(
        payload=b"x",
        payload_type=RECORD,
        signatures=[Signature(KEY_A.key_id, b"\x00" * 64), Signature("zz", b"\x01"), good],
    )
    assert verify(env, keys=[KEY_A.public_key], expected_type=RECORD) == b"x"


def test_mixed_algorithm_threshold() -> None:
    """CXP-ENV-003/004: keys of different algorithms count together."""
    keys = [PrivateKey.generate(a) for a in (Algorithm.ECDSA_P256_SHA256, Algorithm.ML_DSA_65)]
    env = sign(b"x", RECORD, [*keys, KEY_A])
    trusted = [k.public_key for k in keys] + [KEY_A.public_key]
    assert verify(env, keys=trusted, expected_type=RECORD, threshold=3) == b"x"


def test_sign_requires_a_signer() -> None:
    with pytest.raises(ValueError, match="signer"):
        sign(b"x", RECORD, [])


# --- structure and limits ---------------------------------------------------------------------


def test_limits_are_enforced_at_construction() -> None:
    """CXP-ENV-005: no signatures, too many, oversized payload, empty payload or type."""
    sig = Signature("", b"\x01" * 64)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"signatures": []}, "NO_SIGNATURES"),
        ({"signatures": [sig] * (MAX_SIGNATURES + 1)}, "LIMIT_EXCEEDED"),
        ({"payload": b"\x00" * (MAX_PAYLOAD_BYTES + 1)}, "LIMIT_EXCEEDED"),
        ({"payload": b""}, "MALFORMED_ENVELOPE"),
        ({"payload_type": ""}, "MALFORMED_ENVELOPE"),
        ({"payload_type": "x" * 201}, "MALFORMED_ENVELOPE"),
        ({"signatures": [Signature("", b"")]}, "MALFORMED_ENVELOPE"),
        ({"signatures": [Signature("", b"\x00" * 4097)]}, "LIMIT_EXCEEDED"),
        ({"signatures": [Signature("k" * 129, b"\x00")]}, "MALFORMED_ENVELOPE"),
    ]
    for override, reason in cases:
        fields: dict[str, Any] = {"payload": b"x", "payload_type": RECORD, "signatures": [sig]}
        fields.update(override)
        with pytest.raises(InvalidEnvelope) as err:
            Envelope(**fields)
        assert err.value.reason == reason, override.keys()
    Envelope(payload=b"x", payload_type=RECORD, signatures=[sig] * MAX_SIGNATURES)


def test_empty_signature_list_from_the_wire() -> None:
    """CXP-ENV-005: an envelope without signatures is refused with NO_SIGNATURES."""
    doc = {"payload": "eA==", "payloadType": RECORD, "signatures": []}
    with pytest.raises(InvalidEnvelope) as err:
        Envelope.from_json(doc)
    assert err.value.reason == "NO_SIGNATURES"
    pb = envelope_pb2.Envelope(payload=b"x", payload_type=RECORD)
    with pytest.raises(InvalidEnvelope) as err:
        Envelope.from_bytes(pb.SerializeToString())
    assert err.value.reason == "NO_SIGNATURES"


# --- JSON form --------------------------------------------------------------------------------


def _doc(env: Envelope) -> dict[str, Any]:
    return json.loads(env.to_json())  # type: ignore[no-any-return]


def test_json_emits_standard_padded_base64() -> None:
    """CXP-ENV-006: output uses the standard alphabet with padding, DSSE field names."""
    env = sign(b"\xfb\xff\xfe", RECORD, [KEY_A])
    doc = _doc(env)
    assert list(doc) == ["payload", "payloadType", "signatures"]
    assert doc["payload"] == "+//+"
    assert doc["signatures"][0]["sig"] == base64.b64encode(env.signatures[0].sig).decode()
    assert doc["signatures"][0]["keyid"] == KEY_A.key_id
    assert env.to_dict() == doc


def test_json_accepts_urlsafe_and_unpadded_base64() -> None:
    """CXP-ENV-006: standard or URL-safe alphabet, padded or not."""
    env = sign(b"\xfb\xff\xfe\x00", RECORD, [KEY_A])
    doc = _doc(env)
    for encode in (
        base64.b64encode,
        base64.urlsafe_b64encode,
        lambda b: base64.b64encode(b).rstrip(b"="),
        lambda b: base64.urlsafe_b64encode(b).rstrip(b"="),
    ):
        variant = {
            **doc,
            "payload": encode(env.payload).decode(),
            "signatures": [{"keyid": "", "sig": encode(env.signatures[0].sig).decode()}],
        }
        parsed = Envelope.from_json(json.dumps(variant))
        assert verify(parsed, keys=[KEY_A.public_key], expected_type=RECORD) == env.payload


def test_json_keyid_may_be_absent() -> None:
    doc = _doc(sign(b"x", RECORD, [KEY_A]))
    del doc["signatures"][0]["keyid"]
    env = Envelope.from_json(doc)
    assert env.signatures[0].keyid == ""
    assert verify(env, keys=[KEY_A.public_key], expected_type=RECORD) == b"x"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: "not json",
        lambda d: "[]",
        lambda d: {**d, "extra": 1},
        lambda d: {k: v for k, v in d.items() if k != "payloadType"},
        lambda d: {**d, "payload": "!!!!"},
        lambda d: {**d, "payload": "eA=="[:-1]},  # bad padding
        lambda d: {**d, "payload": "eB=="},  # non-zero trailing bits
        lambda d: {**d, "payload": "e"},  # impossible length
        lambda d: {**d, "payload": "eA==="},
        lambda d: {**d, "payload": "+-8="},  # mixed alphabets
        lambda d: {**d, "payload": "eA ="},
        lambda d: {**d, "payload": 5},
        lambda d: {**d, "payload": "ｅA=="},
        lambda d: {**d, "payloadType": 5},
        lambda d: {**d, "signatures": {}},
        lambda d: {**d, "signatures": ["x"]},
        lambda d: {**d, "signatures": [{"keyid": "", "sig": "eA==", "x": 1}]},
        lambda d: {**d, "signatures": [{"keyid": ""}]},
        lambda d: {**d, "signatures": [{"keyid": 7, "sig": "eA=="}]},
        lambda d: '{"payload":"eA==","payload":"eA==","payloadType":"t","signatures":[]}',
    ],
)
def test_malformed_json_is_rejected(mutate: Any) -> None:
    """CXP-ENV-006: malformed JSON or base64 is MALFORMED_ENVELOPE."""
    doc = _doc(sign(b"x", RECORD, [KEY_A]))
    data = mutate(doc)
    with pytest.raises(InvalidEnvelope) as err:
        Envelope.from_json(data if isinstance(data, str) else json.dumps(data))
    assert err.value.reason == "MALFORMED_ENVELOPE"


def test_json_text_must_be_utf8() -> None:
    """CXP-ENV-006: UTF-8 only; no byte-order mark, no UTF-16/32, no invalid or surrogate bytes."""
    text = json.dumps(_doc(sign(b"x", RECORD, [KEY_A])))
    assert Envelope.from_json(text.encode("utf-8")).payload == b"x"
    for data in (
        b"\xef\xbb\xbf" + text.encode("utf-8"),  # UTF-8 byte-order mark
        text.encode("utf-16"),
        text.encode("utf-16-le"),
        text.encode("utf-32"),
        text.encode("utf-8").replace(b'"payloadType": "', b'"payloadType": "\xff', 1),
        text.encode("utf-8").replace(b"eA==", b"e\xc3\x28==", 1),  # invalid sequence
        text.encode("utf-8").replace(b'"keyid": "', b'"keyid": "\xed\xa0\x80', 1),  # surrogate
        text.encode("utf-8").replace(b'"keyid": "', b'"keyid": "\xc0\xaf', 1),  # overlong
    ):
        assert data != text.encode("utf-8")
        with pytest.raises(InvalidEnvelope) as err:
            Envelope.from_json(data)
        assert err.value.reason == "MALFORMED_ENVELOPE", data[:40]
    # A Python str holding an unpaired surrogate is not Unicode text either.
    with pytest.raises(InvalidEnvelope) as err:
        Envelope.from_json(text.replace('"keyid": "', '"keyid": "\ud800', 1))
    assert err.value.reason == "MALFORMED_ENVELOPE"


@pytest.mark.parametrize("member", ["payloadType", "keyid"])
def test_json_unpaired_surrogate_escape_is_rejected(member: str) -> None:
    """CXP-ENV-006: a string whose escapes decode to an unpaired surrogate is refused."""
    doc = _doc(sign(b"x", RECORD, [KEY_A]))
    text = json.dumps(doc)
    if member == "payloadType":
        bad = text.replace(json.dumps(RECORD), '"\\ud800"', 1)
    else:
        bad = text.replace('"keyid": "', '"keyid": "\\udfff', 1)
    assert bad != text
    with pytest.raises(InvalidEnvelope) as err:
        Envelope.from_json(bad)
    assert err.value.reason == "MALFORMED_ENVELOPE"
    # A surrogate pair is fine: it is one code point (U+1F600).
    pair = text.replace('"keyid": "', '"keyid": "\\ud83d\\ude00', 1)
    assert Envelope.from_json(pair).signatures[0].keyid.startswith("\U0001f600")


def test_check_order_of_step_1() -> None:
    """CXP-ENV-010: with several faults, the first check in the specified order decides."""
    good = _doc(sign(b"x", RECORD, [KEY_A]))
    sig = good["signatures"][0]
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "payload": "", "signatures": []}, "NO_SIGNATURES"),
        ({**good, "payload": "!!!!", "signatures": []}, "MALFORMED_ENVELOPE"),
        ({**good, "payload": "", "signatures": [sig] * 17}, "LIMIT_EXCEEDED"),
        ({**good, "signatures": [{"sig": "!!!!"}] + [sig] * 16}, "LIMIT_EXCEEDED"),
        ({**good, "payloadType": 5, "signatures": [sig] * 17}, "MALFORMED_ENVELOPE"),
        ({**good, "signatures": [{"keyid": "", "sig": "*" * 5465}]}, "LIMIT_EXCEEDED"),
        ({**good, "signatures": [{"keyid": 1, "sig": "*" * 5465}]}, "MALFORMED_ENVELOPE"),
        ({**good, "payload": "!!!!", "signatures": [{"sig": "*" * 5465}]}, "LIMIT_EXCEEDED"),
        ({**good, "payload": "", "payloadType": ""}, "MALFORMED_ENVELOPE"),
        ({**good, "payloadType": "t" * 201, "signatures": [sig] * 17}, "LIMIT_EXCEEDED"),
        (
            {**good, "signatures": [{"keyid": "k" * 129, "sig": base64.b64encode(bytes(4097))}]},
            "MALFORMED_ENVELOPE",
        ),
        (
            {**good, "signatures": [{"keyid": "", "sig": base64.b64encode(bytes(4097)).decode()}]},
            "LIMIT_EXCEEDED",
        ),
    ]
    for doc, reason in cases:
        with pytest.raises(InvalidEnvelope) as err:
            Envelope.from_json(json.dumps(doc, default=bytes.decode))
        assert err.value.reason == reason, doc
    # Characters are code points: 200 CJK characters (600 UTF-8 bytes) are within the limit.
    assert Envelope.from_json({**good, "payloadType": "\u4fe1" * 200}).payload == b"x"
    assert Envelope.from_json({**good, "signatures": [{**sig, "keyid": "\u952e" * 128}]})


def test_json_size_limits() -> None:
    """CXP-ENV-005: oversized base64 is refused before decoding."""
    doc = _doc(sign(b"x", RECORD, [KEY_A]))
    doc["signatures"] = [{"keyid": "", "sig": "A" * 8000}]
    with pytest.raises(InvalidEnvelope) as err:
        Envelope.from_json(doc)
    assert err.value.reason == "LIMIT_EXCEEDED"
    doc["signatures"] = [{"keyid": "", "sig": "AAAA"}] * 17
    with pytest.raises(InvalidEnvelope) as err:
        Envelope.from_json(doc)
    assert err.value.reason == "LIMIT_EXCEEDED"


# --- protobuf form ----------------------------------------------------------------------------


def test_proto_round_trip_and_unknown_fields() -> None:
    """CXP-ENV-006: the binary form round-trips; unknown fields and garbage are refused."""
    env = sign(b"x", RECORD, [KEY_A, KEY_B])
    data = env.to_bytes()
    assert Envelope.from_proto(envelope_pb2.Envelope.FromString(data)) == env
    assert env.to_proto().SerializeToString(deterministic=True) == data
    for bad in (data + b"\x38\x01", data[:-1], b"\xff\xff"):
        with pytest.raises(InvalidEnvelope) as err:
            Envelope.from_bytes(bad)
        assert err.value.reason == "MALFORMED_ENVELOPE"


def test_proto_wrong_wire_type_is_malformed() -> None:
    """CXP-ENV-006: a defined field number with a wire type its type cannot have is refused."""
    data = sign(b"x", RECORD, [KEY_A]).to_bytes()
    for bad in (
        b"\x08\x01" + data,  # field 1 (payload, bytes) as a varint
        data + b"\x15\x00\x00\x00\x00",  # field 2 (payload_type, string) as a fixed32
        data + b"\x1a\x02\x10\x01",  # a signature whose field 2 (sig, bytes) is a varint
    ):
        with pytest.raises(InvalidEnvelope) as err:
            Envelope.from_bytes(bad)
        assert err.value.reason == "MALFORMED_ENVELOPE"


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


_SIGNED = Envelope(
    payload=_head_bytes(),
    payload_type=HEAD,
    signatures=[Signature("", KEY_A.sign(pae(HEAD, _head_bytes())))],
)
_SIGNED_BYTES = _SIGNED.to_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bit=st.integers(min_value=0, max_value=len(_SIGNED_BYTES) * 8 - 1))
def test_any_bit_flip_of_serialized_envelope_fails(bit: int) -> None:
    """CXP-ENV-002/005: flipping any bit of the serialized envelope makes it fail.

    (Signed without key id hints: a hint carries no authority, so flipping a bit of a hint
    would rightly still verify; see test_keyid_is_only_a_hint.)
    """
    with pytest.raises(InvalidEnvelope):
        _receive(_flip(_SIGNED_BYTES, bit))


def _receive(data: bytes) -> envelope_pb2.BatchHead:
    return verify_message(
        Envelope.from_bytes(data),
        keys=[KEY_A.public_key],
        expected_type=HEAD,
        message_type=envelope_pb2.BatchHead,
    )


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_bit_flip_of_payload_or_signature_fails(data: st.DataObject) -> None:
    """CXP-ENV-002: any single-bit change of payload or signature is rejected."""
    alg = data.draw(st.sampled_from([Algorithm.ED25519, Algorithm.ECDSA_P256_SHA256]))
    key = KEY_A if alg is Algorithm.ED25519 else _ECDSA
    payload = data.draw(st.binary(min_size=1, max_size=200))
    env = sign(payload, RECORD, [key])
    sig = env.signatures[0].sig
    if data.draw(st.booleans()):
        payload = _flip(payload, data.draw(st.integers(0, len(payload) * 8 - 1)))
    else:
        sig = _flip(sig, data.draw(st.integers(0, len(sig) * 8 - 1)))
    tampered = Envelope(payload=payload, payload_type=RECORD, signatures=[Signature("", sig)])
    with pytest.raises(InvalidEnvelope) as err:
        verify(tampered, keys=[key.public_key], expected_type=RECORD)
    assert err.value.reason == "INVALID_SIGNATURE"


_ECDSA = PrivateKey.from_seed(bytes(31) + b"\x2a", Algorithm.ECDSA_P256_SHA256)


# --- verify_message and strict parsing ---------------------------------------------------------


def test_verify_message_parses_after_verifying() -> None:
    """CXP-ENV-007: verify, then parse strictly into the expected message type."""
    env = sign(_head_bytes(), HEAD, [KEY_A])
    head = verify_message(
        env, keys=[KEY_A.public_key], expected_type=HEAD, message_type=envelope_pb2.BatchHead
    )
    assert head.batch_id == "b"


def test_unknown_fields_in_signed_payload_are_rejected() -> None:
    """CXP-ENV-007: a validly signed payload with an unknown field is refused."""
    payload = _head_bytes() + b"\x30\x01"  # field 6, varint: not in BatchHead
    env = sign(payload, HEAD, [KEY_A])
    assert verify(env, keys=[KEY_A.public_key], expected_type=HEAD) == payload
    with pytest.raises(InvalidEnvelope) as err:
        verify_message(
            env, keys=[KEY_A.public_key], expected_type=HEAD, message_type=envelope_pb2.BatchHead
        )
    assert err.value.reason == "MALFORMED_PAYLOAD"


def test_unknown_fields_deep_in_the_tree_are_rejected() -> None:
    """CXP-ENV-007: unknown fields in nested, repeated and map-free sub-messages are found."""
    node = trust_pb2.Node(node_id="zj-330000")
    node.keys.add(key_id="0" * 32)
    bundle = trust_pb2.TrustBundle(federation_id="f", nodes=[node])
    clean = bundle.SerializeToString()
    assert parse_strict(trust_pb2.TrustBundle, clean) == bundle
    # Append an unknown field (number 99) inside nodes[0].keys[0].
    record = node.keys[0].SerializeToString() + b"\x98\x06\x01"
    node_bytes = trust_pb2.Node(node_id="zj-330000").SerializeToString()
    node_bytes += b"\x42" + bytes([len(record)]) + record
    tampered = trust_pb2.TrustBundle(federation_id="f").SerializeToString()
    tampered += b"\x3a" + bytes([len(node_bytes)]) + node_bytes
    with pytest.raises(InvalidEnvelope) as err:
        parse_strict(trust_pb2.TrustBundle, tampered)
    assert err.value.reason == "MALFORMED_PAYLOAD"
    with pytest.raises(InvalidEnvelope):
        parse_strict(trust_pb2.TrustBundle, b"\x0a\x05ab")  # truncated


def test_strict_parse_accepts_a_non_canonical_encoding_without_unknown_fields() -> None:
    """CXP-ENV-007: field order is the sender's business; only unknown fields are refused.

    The fast path (bytes equal to the deterministic re-serialization) does not apply to these
    encodings, so the tree walk decides.
    """
    bundle = trust_pb2.TrustBundle(federation_id="f", version=3)
    canonical = bundle.SerializeToString(deterministic=True)
    reordered = trust_pb2.TrustBundle(version=3).SerializeToString()
    reordered += trust_pb2.TrustBundle(federation_id="f").SerializeToString()
    assert reordered != canonical
    assert parse_strict(trust_pb2.TrustBundle, reordered) == bundle
    # The same reordering with an unknown field (number 99) hidden in it is still refused.
    with pytest.raises(InvalidEnvelope) as err:
        parse_strict(trust_pb2.TrustBundle, reordered + b"\x98\x06\x01")
    assert err.value.reason == "MALFORMED_PAYLOAD"
    with pytest.raises(InvalidEnvelope):
        parse_strict(trust_pb2.TrustBundle, b"\x98\x06\x01" + canonical)
