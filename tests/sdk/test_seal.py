"""Tests for creditlink.sdk.seal (docs/spec/sealing.md), with real HPKE and AES-GCM."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditlink.sdk._internal.pae import pae
from creditlink.sdk.errors import SealError
from creditlink.sdk.keys import Algorithm, KeySet, PrivateKey, Purpose, SealingPrivateKey
from creditlink.sdk.seal import (
    ENVELOPE_CONTENT_TYPE,
    MAX_RECIPIENTS,
    OPEN_FAILED_MESSAGE,
    SIGNED_BATCH_CONTENT_TYPE,
    SUITE_DEFAULT,
    SUITE_HYBRID,
    OpenedEnvelope,
    Recipient,
    SealedEnvelope,
    SealSuiteSpec,
    open_sealed,
    seal,
    seal_info,
    suite_for,
)
from creditlink.v1 import envelope_pb2

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
SENDER = "zj-330000"
SIGNER = PrivateKey.from_seed(bytes(range(32)))
SUITES = [SUITE_DEFAULT, SUITE_HYBRID]

# Generating ML-KEM keys is the slow part of the hybrid tests: make each key once.
_KEYS: dict[tuple[Algorithm, str], SealingPrivateKey] = {}


def key(algorithm: Algorithm, name: str = "a") -> SealingPrivateKey:
    if (algorithm, name) not in _KEYS:
        _KEYS[algorithm, name] = SealingPrivateKey.generate(algorithm)
    return _KEYS[algorithm, name]


def signed_envelope(payload: bytes = b"\x0a\x04test") -> bytes:
    payload_type = "application/vnd.creditlink.test.v1+protobuf"
    return envelope_pb2.Envelope(
        payload=payload,
        payload_type=payload_type,
        signatures=[
            envelope_pb2.Signature(keyid=SIGNER.key_id, sig=SIGNER.sign(pae(payload_type, payload)))
        ],
    ).SerializeToString()


def signed_batch() -> bytes:
    item = envelope_pb2.BatchItem(
        payload=b"\x0a\x01x", payload_type="application/vnd.creditlink.test.v1+protobuf"
    )
    head_type = "application/vnd.creditlink.batch-head.v1+protobuf"
    head_payload = envelope_pb2.BatchHead(
        root=bytes(32), count=1, batch_id="b1", signer_node_id=SENDER
    ).SerializeToString()
    head = envelope_pb2.Envelope(
        payload=head_payload,
        payload_type=head_type,
        signatures=[envelope_pb2.Signature(sig=SIGNER.sign(pae(head_type, head_payload)))],
    )
    return envelope_pb2.SignedBatch(head=head, items=[item]).SerializeToString()


PLAINTEXT = signed_envelope()


def seal_to(*parties: tuple[str, SealingPrivateKey], plaintext: bytes = PLAINTEXT) -> bytes:
    sealed = seal(
        plaintext,
        content_type=ENVELOPE_CONTENT_TYPE,
        sender_node_id=SENDER,
        recipients=[Recipient(node_id, k.public_key) for node_id, k in parties],
        now=NOW,
    )
    return sealed.to_bytes()


def cause_of(data: bytes | SealedEnvelope, **kwargs: object) -> str:
    with pytest.raises(SealError) as info:
        open_sealed(data, **kwargs)  # type: ignore[arg-type]
    return info.value._cause  # type: ignore[attr-defined,no-any-return]


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Suites
# --------------------------------------------------------------------------------------------


def test_suites_are_fixed_by_key_algorithm() -> None:
    """CXP-SEAL-002: the key algorithm selects the suite; the proto numbers are the contract's."""
    assert suite_for(Algorithm.X25519_HPKE) is SUITE_DEFAULT
    assert suite_for(Algorithm.MLKEM768_X25519_HPKE) is SUITE_HYBRID
    assert SUITE_DEFAULT.proto_value == envelope_pb2.SEAL_SUITE_X25519_SHA256_AES128GCM
    assert SUITE_HYBRID.proto_value == envelope_pb2.SEAL_SUITE_MLKEM768X25519_SHA256_AES256GCM
    assert (SUITE_DEFAULT.kem, SUITE_DEFAULT.kdf, SUITE_DEFAULT.aead) == (
        hpke.KEM.X25519,
        hpke.KDF.HKDF_SHA256,
        hpke.AEAD.AES_128_GCM,
    )
    assert SUITE_DEFAULT.content_key_length == 16
    assert (SUITE_HYBRID.kem, SUITE_HYBRID.aead, SUITE_HYBRID.content_key_length) == (
        hpke.KEM.MLKEM768_X25519,
        hpke.AEAD.AES_256_GCM,
        32,
    )
    with pytest.raises(ValueError, match="not a sealing algorithm"):
        suite_for(Algorithm.ED25519)


def test_suite_spec_accepts_only_enum_members() -> None:
    with pytest.raises(TypeError):
        SealSuiteSpec(
            name="x",
            kem="X25519",  # type: ignore[arg-type]
            kdf=hpke.KDF.HKDF_SHA256,
            aead=hpke.AEAD.AES_128_GCM,
            content_key_length=16,
            proto_value=1,
            key_algorithm=Algorithm.X25519_HPKE,
        )
    with pytest.raises(ValueError, match="content_key_length"):
        SealSuiteSpec(
            name="x",
            kem=hpke.KEM.X25519,
            kdf=hpke.KDF.HKDF_SHA256,
            aead=hpke.AEAD.AES_128_GCM,
            content_key_length=24,
            proto_value=1,
            key_algorithm=Algorithm.X25519_HPKE,
        )


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.key_algorithm.name)
@pytest.mark.parametrize(
    ("content_type", "plaintext"),
    [(ENVELOPE_CONTENT_TYPE, PLAINTEXT), (SIGNED_BATCH_CONTENT_TYPE, signed_batch())],
    ids=["envelope", "signed-batch"],
)
def test_round_trip(suite: SealSuiteSpec, content_type: str, plaintext: bytes) -> None:
    """Seal then open returns the signed plaintext and header.

    Covers CXP-SEAL-001, CXP-SEAL-004, CXP-SEAL-006, CXP-SEAL-007.
    """
    recipient = key(suite.key_algorithm)
    sealed = seal(
        plaintext,
        content_type=content_type,
        sender_node_id=SENDER,
        recipients=[Recipient("cn-hub", recipient.public_key)],
        now=NOW,
        seal_id="s-1",
    )
    data = sealed.to_bytes()
    opened = open_sealed(data, node_id="cn-hub", keys=[recipient], expected_sender=SENDER)
    assert opened == OpenedEnvelope(
        sender_node_id=SENDER,
        content_type=content_type,
        recipients=("cn-hub",),
        seal_id="s-1",
        sealed_at=NOW,
        plaintext=plaintext,
    )
    # The wrapper round-trips too, and opening the wrapper equals opening its bytes.
    assert SealedEnvelope.from_bytes(data) == sealed
    assert open_sealed(sealed, node_id="cn-hub", keys=[recipient]).plaintext == plaintext

    pb = sealed.to_proto()
    header = envelope_pb2.SealHeader.FromString(pb.header)
    assert header.protocol == "cxp/v1"
    assert header.suite == suite.proto_value
    assert len(header.nonce) == 12
    assert header.recipients[0].key_id == recipient.key_id
    (wrapped,) = pb.wrapped_keys
    # enc || ct, ct being the content key plus the 16-byte HPKE AEAD tag.
    assert len(wrapped.enc) == suite.kem.enc_length() + suite.content_key_length + 16
    assert len(pb.ciphertext) == len(plaintext) + 16


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.key_algorithm.name)
def test_layout_matches_spec(suite: SealSuiteSpec) -> None:
    """The bytes follow the spec, checked with raw primitives.

    Covers CXP-SEAL-005, CXP-SEAL-006, CXP-SEAL-007.

    Unwrap with cryptography's HPKE and the info built by hand from the spec, then decrypt the
    content with AES-GCM under aad = the header bytes exactly as sent.
    """
    recipient = key(suite.key_algorithm)
    pb = SealedEnvelope.from_bytes(seal_to(("cn-hub", recipient))).to_proto()
    info = (
        b"cxp/v1 seal\x00"
        + SENDER.encode()
        + b"\x00cn-hub\x00"
        + recipient.key_id.encode()
        + b"\x00"
        + hashlib.sha256(pb.header).digest()
    )
    assert info == seal_info(SENDER, "cn-hub", recipient.key_id, hashlib.sha256(pb.header).digest())
    content_key = hpke.Suite(suite.kem, suite.kdf, suite.aead).decrypt(
        pb.wrapped_keys[0].enc, recipient._hpke_private, info=info
    )
    header = envelope_pb2.SealHeader.FromString(pb.header)
    assert AESGCM(content_key).decrypt(header.nonce, pb.ciphertext, pb.header) == PLAINTEXT


def test_fresh_key_and_nonce_per_seal() -> None:
    """CXP-SEAL-004: two seals of the same plaintext share neither nonce nor ciphertext."""
    recipient = key(Algorithm.X25519_HPKE)
    first = SealedEnvelope.from_bytes(seal_to(("cn-hub", recipient))).to_proto()
    second = SealedEnvelope.from_bytes(seal_to(("cn-hub", recipient))).to_proto()
    nonce = envelope_pb2.SealHeader.FromString(first.header).nonce
    assert nonce != envelope_pb2.SealHeader.FromString(second.header).nonce
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_keys[0].enc != second.wrapped_keys[0].enc


def test_header_bytes_are_used_as_received() -> None:
    """CXP-SEAL-005: a valid but non-canonical header encoding opens; nothing is re-serialized.

    The header's fields are written in reverse field-number order (legal protobuf, different
    bytes from a canonical serialization), then sealed consistently by hand.
    """
    recipient = key(Algorithm.X25519_HPKE)
    full = envelope_pb2.SealHeader(
        protocol="cxp/v1",
        sender_node_id=SENDER,
        content_type=ENVELOPE_CONTENT_TYPE,
        recipients=[envelope_pb2.SealRecipient(node_id="cn-hub", key_id=recipient.key_id)],
        suite=envelope_pb2.SEAL_SUITE_X25519_SHA256_AES128GCM,
        nonce=bytes(range(12)),
        seal_id="reordered",
    )
    full.sealed_at.FromDatetime(NOW)
    parts = []
    for descriptor, _ in reversed(full.ListFields()):
        single = envelope_pb2.SealHeader()
        single.MergeFrom(full)
        for other, _ in full.ListFields():
            if other.name != descriptor.name:
                single.ClearField(other.name)  # type: ignore[arg-type]
        parts.append(single.SerializeToString())
    header_bytes = b"".join(parts)
    assert header_bytes != full.SerializeToString(deterministic=True)
    assert envelope_pb2.SealHeader.FromString(header_bytes) == full

    content_key = AESGCM.generate_key(bit_length=128)
    info = seal_info(SENDER, "cn-hub", recipient.key_id, hashlib.sha256(header_bytes).digest())
    enc = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM).encrypt(
        content_key, recipient.public_key._hpke_public, info=info
    )
    pb = envelope_pb2.SealedEnvelope(
        header=header_bytes,
        wrapped_keys=[envelope_pb2.WrappedKey(node_id="cn-hub", key_id=recipient.key_id, enc=enc)],
        ciphertext=AESGCM(content_key).encrypt(full.nonce, PLAINTEXT, header_bytes),
    )
    opened = open_sealed(SealedEnvelope.from_proto(pb), node_id="cn-hub", keys=[recipient])
    assert (opened.seal_id, opened.plaintext) == ("reordered", PLAINTEXT)


# --------------------------------------------------------------------------------------------
# Recipients
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.key_algorithm.name)
def test_each_recipient_opens_and_a_non_recipient_cannot(suite: SealSuiteSpec) -> None:
    """CXP-SEAL-008, CXP-SEAL-010: every named recipient opens; anyone else fails uniformly."""
    parties = [(f"gw-{n}", key(suite.key_algorithm, n)) for n in "abc"]
    data = seal_to(*parties)
    for node_id, private in parties:
        opened = open_sealed(data, node_id=node_id, keys=[private])
        assert opened.plaintext == PLAINTEXT
        assert opened.recipients == ("gw-a", "gw-b", "gw-c")
    outsider = key(suite.key_algorithm, "outsider")
    assert cause_of(data, node_id="gw-d", keys=[outsider]) == "NOT_A_RECIPIENT"
    # A recipient's node id with someone else's key, and another recipient's key under one's
    # own node id, both fail: the entry, the key id and the HPKE info must all agree.
    assert cause_of(data, node_id="gw-a", keys=[outsider]) == "NO_MATCHING_KEY"
    assert cause_of(data, node_id="gw-a", keys=[parties[1][1]]) == "NO_MATCHING_KEY"


def test_max_recipients() -> None:
    """CXP-SEAL-008: 64 recipients are allowed, 65 and none are refused."""
    recipient = key(Algorithm.X25519_HPKE)
    many = [Recipient(f"gw-{i}", recipient.public_key) for i in range(MAX_RECIPIENTS)]
    sealed = seal(
        PLAINTEXT, content_type=ENVELOPE_CONTENT_TYPE, sender_node_id=SENDER, recipients=many
    )
    assert open_sealed(sealed, node_id="gw-63", keys=[recipient]).plaintext == PLAINTEXT
    too_many = [*many, Recipient("gw-64", recipient.public_key)]
    with pytest.raises(ValueError, match="at most 64"):
        seal(
            PLAINTEXT,
            content_type=ENVELOPE_CONTENT_TYPE,
            sender_node_id=SENDER,
            recipients=too_many,
        )
    with pytest.raises(ValueError, match="at least one"):
        seal(PLAINTEXT, content_type=ENVELOPE_CONTENT_TYPE, sender_node_id=SENDER, recipients=[])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content_type": "application/json"}, "cannot be sealed"),
        ({"plaintext": b"\xff\xff"}, "not a serialized message"),
        ({"plaintext": envelope_pb2.Envelope(payload=b"x").SerializeToString()}, "sign before"),
        ({"content_type": SIGNED_BATCH_CONTENT_TYPE}, "not a serialized message|sign before"),
        ({"sender_node_id": "Bad Node"}, "not a valid node id"),
        ({"recipients": "duplicate"}, "named twice"),
        ({"recipients": "mixed"}, "same suite"),
        ({"recipients": "bad-id"}, "not a valid node id"),
        ({"now": datetime(2025, 1, 1)}, "timezone-aware"),  # noqa: DTZ001
        ({"seal_id": "x" * 65}, "seal_id"),
    ],
)
def test_seal_refuses_contract_violations(kwargs: dict[str, object], message: str) -> None:
    """The sender refuses what a receiver would refuse.

    Covers CXP-SEAL-001, CXP-SEAL-003, CXP-SEAL-008, CXP-SEAL-009.
    """
    x25519_key = key(Algorithm.X25519_HPKE).public_key
    recipients = {
        "duplicate": [Recipient("gw-a", x25519_key), Recipient("gw-a", x25519_key)],
        "mixed": [
            Recipient("gw-a", x25519_key),
            Recipient("gw-b", key(Algorithm.MLKEM768_X25519_HPKE).public_key),
        ],
        "bad-id": [Recipient("gw\x00a", x25519_key)],
    }
    arguments: dict[str, object] = {
        "plaintext": PLAINTEXT,
        "content_type": ENVELOPE_CONTENT_TYPE,
        "sender_node_id": SENDER,
        "recipients": [Recipient("gw-a", x25519_key)],
        **kwargs,
    }
    if isinstance(arguments["recipients"], str):
        arguments["recipients"] = recipients[arguments["recipients"]]
    plaintext = arguments.pop("plaintext")
    with pytest.raises(ValueError, match=message):
        seal(plaintext, **arguments)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Opening: uniform failure, senders, key sets
# --------------------------------------------------------------------------------------------


def test_failures_are_uniform(caplog: pytest.LogCaptureFixture) -> None:
    """CXP-SEAL-013: different causes, one error: same type, message, reason, no chained cause."""
    a, b = key(Algorithm.X25519_HPKE, "a"), key(Algorithm.X25519_HPKE, "b")
    data = seal_to(("gw-a", a), ("gw-b", b))
    pb = SealedEnvelope.from_bytes(data).to_proto()
    pb.ciphertext = flip(pb.ciphertext, 0)
    tampered = SealedEnvelope.from_proto(pb)
    attempts = [
        (b"\x00garbage", {"node_id": "gw-a", "keys": [a]}),
        (data, {"node_id": "gw-z", "keys": [a]}),
        (data, {"node_id": "gw-a", "keys": [b]}),
        (data, {"node_id": "gw-a", "keys": [a], "expected_sender": "gd-440000"}),
        (tampered, {"node_id": "gw-a", "keys": [a]}),
    ]
    errors = []
    with caplog.at_level(logging.DEBUG, logger="creditlink.sdk.seal"):
        for sealed, kwargs in attempts:
            with pytest.raises(SealError) as info:
                open_sealed(sealed, **kwargs)  # type: ignore[arg-type]
            errors.append(info.value)
    causes = [e._cause for e in errors]  # type: ignore[attr-defined]
    assert causes == [
        "MALFORMED_SEALED_ENVELOPE",
        "NOT_A_RECIPIENT",
        "NO_MATCHING_KEY",
        "UNEXPECTED_SENDER",
        "DECRYPT_FAILED",
    ]
    for error in errors:
        assert type(error) is SealError
        assert error.args == (OPEN_FAILED_MESSAGE,)
        assert str(error) == f"{OPEN_FAILED_MESSAGE} [SEAL_OPEN_FAILED]"
        assert error.reason == "SEAL_OPEN_FAILED"
        assert error._cause not in str(error)  # type: ignore[attr-defined]
        # No InvalidTag / DecodeError shows up in a traceback.
        assert error.__cause__ is None
        assert error.__suppress_context__
    # The finer cause is logged at debug level, and nothing derived from the message is.
    logged = " ".join(r.getMessage() for r in caplog.records)
    for cause in causes:
        assert cause in logged
    assert PLAINTEXT.hex() not in logged
    assert "gw-a" not in logged
    assert SENDER not in logged


def test_expected_sender() -> None:
    """CXP-SEAL-014: with expected_sender the header's sender must match."""
    a = key(Algorithm.X25519_HPKE)
    data = seal_to(("gw-a", a))
    assert open_sealed(data, node_id="gw-a", keys=[a], expected_sender=SENDER).sender_node_id
    assert cause_of(data, node_id="gw-a", keys=[a], expected_sender="gd-440000") == (
        "UNEXPECTED_SENDER"
    )


def test_key_set_opens_with_older_key_inside_its_window() -> None:
    """CXP-SEAL-010: a rotated-out key still opens while valid; an expired one does not."""
    old, new = key(Algorithm.X25519_HPKE, "old"), key(Algorithm.X25519_HPKE, "new")
    keys = (
        KeySet(purpose=Purpose.SEAL)
        .with_key(old, NOW - timedelta(days=60), NOW + timedelta(days=1))
        .with_key(new, NOW - timedelta(days=1), NOW + timedelta(days=365))
    )
    assert keys.newest_valid(NOW) is new
    to_old = seal_to(("cn-hub", old))  # the sender's trust bundle still lists the old key
    to_new = seal_to(("cn-hub", new))
    assert open_sealed(to_old, node_id="cn-hub", keys=keys, now=NOW).plaintext == PLAINTEXT
    assert open_sealed(to_new, node_id="cn-hub", keys=keys, now=NOW).plaintext == PLAINTEXT
    later = NOW + timedelta(days=2)
    assert cause_of(to_old, node_id="cn-hub", keys=keys, now=later) == "NO_MATCHING_KEY"
    assert open_sealed(to_new, node_id="cn-hub", keys=keys, now=later).plaintext == PLAINTEXT
    # Not yet valid is refused as well.
    early = NOW - timedelta(days=2)
    assert cause_of(to_new, node_id="cn-hub", keys=keys, now=early) == "NO_MATCHING_KEY"


def test_naive_now_is_a_programming_error() -> None:
    a = key(Algorithm.X25519_HPKE)
    with pytest.raises(ValueError, match="timezone-aware"):
        open_sealed(seal_to(("gw-a", a)), node_id="gw-a", keys=[a], now=datetime(2025, 1, 1))  # noqa: DTZ001


def test_wrapper_copies_and_hides_contents() -> None:
    """SealedEnvelope copies its proto and shows no (unauthenticated) header data."""
    a = key(Algorithm.X25519_HPKE)
    sealed = SealedEnvelope.from_bytes(seal_to(("gw-a", a)))
    pb = sealed.to_proto()
    pb.ciphertext = b"\x00" * 16
    assert sealed.to_proto().ciphertext != pb.ciphertext
    assert "gw-a" not in repr(sealed)
    assert SENDER not in repr(sealed)
    opened = open_sealed(sealed, node_id="gw-a", keys=[a])
    assert "plaintext" not in repr(opened)
    assert PLAINTEXT.hex() not in repr(opened)
    empty = envelope_pb2.SealedEnvelope()
    with pytest.raises(SealError, match=OPEN_FAILED_MESSAGE):
        SealedEnvelope.from_proto(empty)


# --------------------------------------------------------------------------------------------
# Every bit is covered
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.key_algorithm.name)
def test_every_single_bit_flip_fails(suite: SealSuiteSpec) -> None:
    """Exhaustively, no single-bit flip survives.

    Covers CXP-SEAL-005, CXP-SEAL-006, CXP-SEAL-007, CXP-SEAL-011, CXP-SEAL-012, CXP-SEAL-013.

    Every byte of a one-recipient sealed envelope is either protobuf framing (a flip breaks
    strict parsing, renames a field into an unknown or misaligned one, or changes a length so a
    later check fails), part of the header (bound into the HPKE info by its digest and into
    the content AEAD as aad), a recipient id (compared with the authenticated header), the
    wrapped key (HPKE AEAD) or the ciphertext (content AEAD). Checking all bits is cheaper than
    sampling them (about 3,500 bits for the default suite, 12,000 for the hybrid).
    """
    recipient = key(suite.key_algorithm)
    data = seal_to(("cn-hub", recipient))
    survivors = []
    for bit in range(len(data) * 8):
        try:
            open_sealed(flip(data, bit), node_id="cn-hub", keys=[recipient])
        except SealError:
            continue
        survivors.append(bit)
    assert survivors == []


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    payload=st.binary(min_size=1, max_size=300),
    recipients=st.integers(min_value=2, max_value=4),
    position=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_bit_flip_in_multi_recipient_envelope(
    payload: bytes, recipients: int, position: float
) -> None:
    """CXP-SEAL-008, CXP-SEAL-013: a flip makes the first recipient fail unless it lies in another
    recipient's ``enc`` value, which the first recipient cannot check (it lacks that private
    key); then that recipient fails, and the first still gets the authentic plaintext.

    This is inherent to one ciphertext with several wrapped keys (the contract binds the header,
    not the other recipients' wrapped keys, into the content AEAD) and harmless: a flip there
    can only deny that other recipient, which dropping its entry could do anyway.
    """
    parties = [(f"gw-{i}", key(Algorithm.X25519_HPKE, str(i))) for i in range(recipients)]
    plaintext = signed_envelope(payload)
    data = seal_to(*parties, plaintext=plaintext)
    bit = int(position * len(data) * 8)
    mutated = flip(data, bit)
    pb = SealedEnvelope.from_bytes(data).to_proto()
    owner = None
    for (node_id, private), wrapped in zip(parties, pb.wrapped_keys, strict=True):
        start = data.index(wrapped.enc)
        if start * 8 <= bit < (start + len(wrapped.enc)) * 8:
            owner = (node_id, private)
    first_id, first_key = parties[0]
    if owner is None or owner[0] == first_id:
        assert cause_of(mutated, node_id=first_id, keys=[first_key])
    else:
        assert open_sealed(mutated, node_id=first_id, keys=[first_key]).plaintext == plaintext
        assert cause_of(mutated, node_id=owner[0], keys=[owner[1]]) == "UNWRAP_FAILED"


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.tuples(st.integers(min_value=0), st.binary(min_size=1, max_size=8)),
        st.integers(min_value=0),
    )
)
def test_arbitrary_input_only_ever_raises_seal_error(
    data: bytes | tuple[int, bytes] | int,
) -> None:
    """Junk, spliced or truncated input raises SealError and nothing else.

    Covers CXP-SEAL-011, CXP-SEAL-013.
    """
    recipient = key(Algorithm.X25519_HPKE)
    if not _VALID_FOR_FUZZ:
        _VALID_FOR_FUZZ.append(seal_to(("gw-a", recipient)))
    valid = _VALID_FOR_FUZZ[0]
    if isinstance(data, tuple):
        at, patch = data
        at %= len(valid)
        candidate = valid[:at] + patch + valid[at + len(patch) :]
    elif isinstance(data, int):
        candidate = valid[: data % len(valid)]
    else:
        candidate = data
    if candidate == valid:
        return
    with pytest.raises(SealError):
        open_sealed(candidate, node_id="gw-a", keys=[recipient])


# One sealed envelope shared by all fuzz examples (sealing per example would dominate the run).
_VALID_FOR_FUZZ: list[bytes] = []
