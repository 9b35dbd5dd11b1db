"""Vectors for HPKE sealing: ``conformance/vectors/hpke_seal.json`` (docs/spec/sealing.md).

cryptography's HPKE draws a random ephemeral key for every encapsulation, so its output cannot be
reproduced. This generator therefore carries its own small RFC 9180 base-mode implementation of
DHKEM(X25519, HKDF-SHA256) + HKDF-SHA256 + AES-128-GCM (§4 LabeledExtract/LabeledExpand, §4.1
DHKEM, §5.1 KeySchedule, §5.2 single-shot Seal, §7.1.3 DeriveKeyPair) with the ephemeral key
derived from a fixed seed. It is checked against the RFC 9180 Appendix A.1.1 test vector and
against cryptography (``tests/sdk/test_vectors_hpke.py``). X25519 scalar multiplication, SHA-256,
HMAC and AES-GCM are the standard primitives; everything HPKE-specific is written out here, and
the sealed-envelope layout (header, info, aad) is built here independently of ``sdk/seal.py``,
so the reference implementation is checked against a second reading of the specification.

Every output is a pure function of fixed seeds. Only the default suite has vectors: the hybrid
ML-KEM-768 + X25519 suite is covered by round-trip tests (its KEM is randomized inside
cryptography and this script does not reimplement ML-KEM).

Not shipped: this module is only imported by ``scripts/gen_vectors.py`` and the tests.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from creditlink.v1 import envelope_pb2

__all__ = [
    "BaseContext",
    "derive_key_pair",
    "hpke_seal",
    "key_schedule_base",
    "open_base",
    "seal_base",
    "setup_base_sender",
]

# --------------------------------------------------------------------------------------------
# RFC 9180, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM, base mode
# --------------------------------------------------------------------------------------------

KEM_ID = 0x0020
KDF_ID = 0x0001
AEAD_ID = 0x0001
MODE_BASE = 0x00
N_SECRET = 32  # KEM shared secret
N_SK = 32  # X25519 private key
N_K = 16  # AES-128-GCM key
N_N = 12  # AES-128-GCM nonce
N_H = 32  # SHA-256 output


def i2osp(n: int, w: int) -> bytes:
    """RFC 8017 I2OSP: ``n`` as a ``w``-byte big-endian string."""
    return n.to_bytes(w, "big")


#: §4.1: suite_id of the KEM = concat("KEM", I2OSP(kem_id, 2)) = "KEM" 0x00 0x20.
KEM_SUITE_ID = b"KEM" + i2osp(KEM_ID, 2)
#: §5.1: suite_id of the context = "HPKE" || kem_id || kdf_id || aead_id.
HPKE_SUITE_ID = b"HPKE" + i2osp(KEM_ID, 2) + i2osp(KDF_ID, 2) + i2osp(AEAD_ID, 2)
_VERSION_LABEL = b"HPKE-v1"


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    """RFC 5869 HKDF-Extract with SHA-256 (an empty salt is HMAC's all-zero key)."""
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-Expand with SHA-256."""
    if length > 255 * N_H:
        raise ValueError("HKDF-Expand output too long")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    """§4: Extract(salt, concat("HPKE-v1", suite_id, label, ikm))."""
    return hkdf_extract(salt, _VERSION_LABEL + suite_id + label + ikm)


def labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    """§4: Expand(prk, concat(I2OSP(L, 2), "HPKE-v1", suite_id, label, info), L)."""
    return hkdf_expand(prk, i2osp(length, 2) + _VERSION_LABEL + suite_id + label + info, length)


def public_key(sk: bytes) -> bytes:
    """SerializePublicKey(pk(sk)) for X25519 (§7.1.1: the raw 32-byte u-coordinate)."""
    return x25519.X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes_raw()


def derive_key_pair(ikm: bytes) -> tuple[bytes, bytes]:
    """§7.1.3 DeriveKeyPair for X25519: ``(skX, pkX)`` as raw 32-byte strings."""
    dkp_prk = labeled_extract(KEM_SUITE_ID, b"", b"dkp_prk", ikm)
    sk = labeled_expand(KEM_SUITE_ID, dkp_prk, b"sk", b"", N_SK)
    return sk, public_key(sk)


def _dh(sk: bytes, pk: bytes) -> bytes:
    # cryptography refuses an all-zero shared secret (§7.1.4 validation) with ValueError.
    private = x25519.X25519PrivateKey.from_private_bytes(sk)
    return private.exchange(x25519.X25519PublicKey.from_public_bytes(pk))


def _extract_and_expand(dh: bytes, kem_context: bytes) -> bytes:
    """§4.1 ExtractAndExpand."""
    eae_prk = labeled_extract(KEM_SUITE_ID, b"", b"eae_prk", dh)
    return labeled_expand(KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, N_SECRET)


def encap(pk_r: bytes, sk_e: bytes) -> tuple[bytes, bytes]:
    """§4.1 Encap with the given ephemeral private key: ``(shared_secret, enc)``."""
    enc = public_key(sk_e)
    shared_secret = _extract_and_expand(_dh(sk_e, pk_r), enc + pk_r)
    return shared_secret, enc


def decap(enc: bytes, sk_r: bytes) -> bytes:
    """§4.1 Decap: the shared secret."""
    return _extract_and_expand(_dh(sk_r, enc), enc + public_key(sk_r))


@dataclass(frozen=True)
class BaseContext:
    """The §5.1 key schedule outputs (and intermediates, for the RFC test vector)."""

    key_schedule_context: bytes
    secret: bytes
    key: bytes
    base_nonce: bytes
    exporter_secret: bytes

    def nonce(self, seq: int) -> bytes:
        """§5.2 ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn)."""
        return bytes(a ^ b for a, b in zip(self.base_nonce, i2osp(seq, N_N), strict=True))


def key_schedule_base(shared_secret: bytes, info: bytes) -> BaseContext:
    """§5.1 KeySchedule for mode_base (default empty psk and psk_id)."""
    psk_id_hash = labeled_extract(HPKE_SUITE_ID, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(HPKE_SUITE_ID, b"", b"info_hash", info)
    context = bytes([MODE_BASE]) + psk_id_hash + info_hash
    secret = labeled_extract(HPKE_SUITE_ID, shared_secret, b"secret", b"")
    return BaseContext(
        key_schedule_context=context,
        secret=secret,
        key=labeled_expand(HPKE_SUITE_ID, secret, b"key", context, N_K),
        base_nonce=labeled_expand(HPKE_SUITE_ID, secret, b"base_nonce", context, N_N),
        exporter_secret=labeled_expand(HPKE_SUITE_ID, secret, b"exp", context, N_H),
    )


def setup_base_sender(pk_r: bytes, info: bytes, sk_e: bytes) -> tuple[bytes, bytes, BaseContext]:
    """§5.1.1 SetupBaseS with a fixed ephemeral key: ``(enc, shared_secret, context)``."""
    shared_secret, enc = encap(pk_r, sk_e)
    return enc, shared_secret, key_schedule_base(shared_secret, info)


def seal_base(
    pk_r: bytes, info: bytes, aad: bytes, pt: bytes, sk_e: bytes, seq: int = 0
) -> tuple[bytes, bytes]:
    """§6.1 single-shot Seal (sequence number ``seq``, 0 for single-shot): ``(enc, ct)``."""
    enc, _, ctx = setup_base_sender(pk_r, info, sk_e)
    return enc, AESGCM(ctx.key).encrypt(ctx.nonce(seq), pt, aad)


def open_base(enc: bytes, sk_r: bytes, info: bytes, aad: bytes, ct: bytes) -> bytes:
    """§6.1 single-shot Open; raises ``cryptography.exceptions.InvalidTag`` on failure."""
    ctx = key_schedule_base(decap(enc, sk_r), info)
    return AESGCM(ctx.key).decrypt(ctx.nonce(0), ct, aad)


# --------------------------------------------------------------------------------------------
# The sealed-envelope layout (docs/spec/sealing.md), written out independently of sdk/seal.py
# --------------------------------------------------------------------------------------------

_INFO_LABEL = b"cxp/v1 seal"
_ENVELOPE_TYPE = "application/vnd.creditlink.envelope.v1+protobuf"
_BATCH_TYPE = "application/vnd.creditlink.signed-batch.v1+protobuf"
_SUITE_DEFAULT = envelope_pb2.SEAL_SUITE_X25519_SHA256_AES128GCM
_SUITE_HYBRID = envelope_pb2.SEAL_SUITE_MLKEM768X25519_SHA256_AES256GCM
# SubjectPublicKeyInfo DER prefixes (RFC 8410): X25519 (1.3.101.110), Ed25519 (1.3.101.112).
_X25519_SPKI_PREFIX = bytes.fromhex("302a300506032b656e032100")
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_SEALED_AT = datetime(2025, 3, 1, 8, 30, 0, tzinfo=UTC)
_SENDER = "zj-330000"


def _seed(*parts: str) -> bytes:
    """A fixed 32-byte value per purpose: every "random" input of the vectors comes from here."""
    return hashlib.sha256("\x00".join(("creditlink hpke_seal vectors", *parts)).encode()).digest()


def _key_id(spki: bytes) -> str:
    """CXP-KEY-001: lowercase hex of the first 16 bytes of SHA-256 over the SPKI DER."""
    return hashlib.sha256(spki).digest()[:16].hex()


@dataclass(frozen=True)
class _Party:
    node_id: str
    sk: bytes
    pk: bytes

    @property
    def key_id(self) -> str:
        return _key_id(_X25519_SPKI_PREFIX + self.pk)


def _party(node_id: str, key_label: str | None = None) -> _Party:
    sk, pk = derive_key_pair(_seed("recipient key", key_label or node_id))
    return _Party(node_id, sk, pk)


_A = _party("gw-a")
_B = _party("gw-b")
_C = _party("gw-c")
# A key nobody is named with: the sender wrapped to it by mistake (or an attacker's key).
_STRAY = _party("gw-a", "stray")


def _pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b" ".join((b"DSSEv1", str(len(t)).encode(), t, str(len(payload)).encode(), payload))


_SIGNER = ed25519.Ed25519PrivateKey.from_private_bytes(_seed("sender signing key"))
_SIGNER_KEY_ID = _key_id(_ED25519_SPKI_PREFIX + _SIGNER.public_key().public_bytes_raw())


def _signed_envelope(payload_type: str, payload: bytes) -> envelope_pb2.Envelope:
    return envelope_pb2.Envelope(
        payload=payload,
        payload_type=payload_type,
        signatures=[
            envelope_pb2.Signature(
                keyid=_SIGNER_KEY_ID, sig=_SIGNER.sign(_pae(payload_type, payload))
            )
        ],
    )


# The sealed plaintexts: real Ed25519 DSSE signatures (deterministic), opaque to the seal layer.
_TEST_TYPE = "application/vnd.creditlink.test.v1+protobuf"
_TEST_PAYLOAD = b"\x0a\x1chpke_seal conformance vector"
_ENVELOPE_PLAINTEXT = _signed_envelope(_TEST_TYPE, _TEST_PAYLOAD).SerializeToString(
    deterministic=True
)


def _signed_batch_plaintext() -> bytes:
    item = envelope_pb2.BatchItem(payload=_TEST_PAYLOAD, payload_type=_TEST_TYPE)
    head = envelope_pb2.BatchHead(
        # One leaf: the RFC 9162 root is the leaf hash SHA-256(0x00 || PAE(item)).
        root=hashlib.sha256(b"\x00" + _pae(_TEST_TYPE, _TEST_PAYLOAD)).digest(),
        count=1,
        batch_id="hpke-seal-vector-batch",
        signer_node_id=_SENDER,
    )
    head.signed_at.FromDatetime(_SEALED_AT)
    batch = envelope_pb2.SignedBatch(
        head=_signed_envelope(
            "application/vnd.creditlink.batch-head.v1+protobuf",
            head.SerializeToString(deterministic=True),
        ),
        items=[item],
    )
    return batch.SerializeToString(deterministic=True)


#: The google.protobuf.Timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
_TS_MIN_SECONDS = -62_135_596_800
_TS_MAX_SECONDS = 253_402_300_799


def _info(sender: str, node_id: str, key_id: str, header: bytes) -> bytes:
    parts = (_INFO_LABEL, sender.encode(), node_id.encode(), key_id.encode())
    return b"\x00".join((*parts, hashlib.sha256(header).digest()))


@dataclass(frozen=True)
class _Wrap:
    """How one recipient's content key is wrapped (defaults: correctly)."""

    party: _Party
    to_pk: bytes | None = None  # encapsulate to this key instead of the party's
    info_node_id: str | None = None  # bind this node id in info instead of the party's


def _build(
    label: str,
    wraps: list[_Wrap],
    *,
    content_type: str = _ENVELOPE_TYPE,
    plaintext: bytes = _ENVELOPE_PLAINTEXT,
    protocol: str = "cxp/v1",
    suite: int = _SUITE_DEFAULT,
    nonce_length: int = 12,
    content_key_length: int = 16,
    with_sealed_at: bool = True,
    sealed_at: tuple[int, int] | None = None,
    header_suffix: bytes = b"",
) -> envelope_pb2.SealedEnvelope:
    """Seal ``plaintext`` exactly as docs/spec/sealing.md §4 says, except where told otherwise.

    The overrides produce envelopes that are consistent in every other respect (the info digest
    and the AEAD additional data cover the header as built), so each invalid vector is invalid
    for the one reason its flags name.
    """
    header = envelope_pb2.SealHeader(
        protocol=protocol,
        sender_node_id=_SENDER,
        content_type=content_type,
        recipients=[
            envelope_pb2.SealRecipient(node_id=w.party.node_id, key_id=w.party.key_id)
            for w in wraps
        ],
        suite=suite,  # type: ignore[arg-type]
        nonce=_seed("nonce", label)[:nonce_length],
        seal_id=f"vector-{label}",
    )
    if sealed_at is not None:
        # Raw (seconds, nanos), possibly outside the Timestamp range on purpose.
        header.sealed_at.seconds, header.sealed_at.nanos = sealed_at
    elif with_sealed_at:
        header.sealed_at.FromDatetime(_SEALED_AT)
    header_bytes = header.SerializeToString(deterministic=True) + header_suffix
    content_key = _seed("content key", label)[:content_key_length]
    ciphertext = AESGCM(content_key).encrypt(header.nonce, plaintext, header_bytes)
    wrapped = []
    for w in wraps:
        node_id = w.party.node_id if w.info_node_id is None else w.info_node_id
        info = _info(_SENDER, node_id, w.party.key_id, header_bytes)
        sk_e, _ = derive_key_pair(_seed("ephemeral", label, w.party.node_id))
        enc, ct = seal_base(w.to_pk or w.party.pk, info, b"", content_key, sk_e)
        wrapped.append(
            envelope_pb2.WrappedKey(node_id=w.party.node_id, key_id=w.party.key_id, enc=enc + ct)
        )
    return envelope_pb2.SealedEnvelope(
        header=header_bytes, wrapped_keys=wrapped, ciphertext=ciphertext
    )


def _flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def _with_header_recipients(
    sealed: envelope_pb2.SealedEnvelope, keep: list[str]
) -> envelope_pb2.SealedEnvelope:
    """Rewrite the header's recipient list (and the wrapped keys) without re-encrypting."""
    header = envelope_pb2.SealHeader.FromString(sealed.header)
    kept = [r for r in header.recipients if r.node_id in keep]
    del header.recipients[:]
    header.recipients.extend(kept)
    out = envelope_pb2.SealedEnvelope()
    out.CopyFrom(sealed)
    out.header = header.SerializeToString(deterministic=True)
    del out.wrapped_keys[:]
    out.wrapped_keys.extend(w for w in sealed.wrapped_keys if w.node_id in keep)
    return out


def _copy(sealed: envelope_pb2.SealedEnvelope) -> envelope_pb2.SealedEnvelope:
    out = envelope_pb2.SealedEnvelope()
    out.CopyFrom(sealed)
    return out


# --------------------------------------------------------------------------------------------
# The vector document
# --------------------------------------------------------------------------------------------

_NOTES = {
    "HappyPath": "Correctly sealed; the named recipient opens it and gets the plaintext.",
    "MultipleRecipients": "Sealed to several recipients; each opens its own wrapped key.",
    "SignedBatch": "The plaintext is a serialized SignedBatch (content type signed-batch).",
    "TamperedHeader": "A bit of the serialized header is flipped; the header stays parseable, "
    "so the HPKE info digest and the content AEAD's additional data catch it.",
    "TamperedCiphertext": "A bit of the content ciphertext or its tag is flipped.",
    "TruncatedCiphertext": "The content ciphertext is shortened.",
    "TamperedWrappedKey": "A bit of the recipient's WrappedKey.enc (enc or ct part) is flipped.",
    "WrongRecipientKey": "The content key is wrapped to, or opened with, a key other than the "
    "one the header's key id names.",
    "WrongRecipientNodeId": "The wrap's info binds a node id other than the one the header "
    "names for that entry.",
    "NotARecipient": "The opening node is not among the header's recipients.",
    "SuiteMismatch": "The header's suite differs from the suite the recipient key's algorithm "
    "fixes; everything else is consistent with the header as sent.",
    "SwappedWrappedKeys": "Two recipients' wrapped keys are exchanged (whole entries, or only "
    "their enc values).",
    "ForwardedHeader": "The header's recipient list was rewritten after sealing, without "
    "re-encrypting.",
    "ProtocolMismatch": "The header's protocol is not cxp/v1 (consistently sealed).",
    "UnknownField": "The header or the sealed envelope carries a field the schema does not "
    "define (consistently sealed where it is in the header).",
    "MisalignedWrappedKeys": "wrapped_keys do not match the header's recipients in count, "
    "order, node id or key id.",
    "DuplicateRecipient": "The header names the same node twice.",
    "UnsupportedContentType": "The header's content type is not one of the two sealable types.",
    "InvalidNonce": "The header's nonce is not 12 bytes (AES-GCM would accept it).",
    "MissingSealedAt": "The header has no sealed_at.",
    "InvalidSealedAt": "The header's sealed_at is not a valid Timestamp: seconds outside "
    "0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, or nanos outside 0 .. 999999999.",
    "SealedAtRange": "sealed_at at an end of the Timestamp range, or with a sub-microsecond "
    "part: valid.",
    "ContentKeyLength": "The unwrapped content key is not the suite's Nk bytes long (the "
    "content is consistently encrypted with AES-256-GCM under it).",
}

_REQ_OPEN = ["CXP-SEAL-001", "CXP-SEAL-004", "CXP-SEAL-005", "CXP-SEAL-006", "CXP-SEAL-007"]


def hpke_seal() -> dict[str, Any]:
    """The ``hpke_seal.json`` document: happy paths plus systematic mutations."""
    single = _build("single", [_Wrap(_A)])
    pair = _build("pair", [_Wrap(_A), _Wrap(_B)])
    header_len = len(single.header)
    seal_id_at = single.header.index(b"vector-single")
    nonce_at = single.header.index(_seed("nonce", "single")[:12])

    groups: list[dict[str, Any]] = []
    tc = 0

    def case(
        comment: str,
        flags: list[str],
        sealed: envelope_pb2.SealedEnvelope | bytes,
        *,
        opener: _Party = _A,
        opener_node_id: str | None = None,
        plaintext: bytes | None = None,
    ) -> dict[str, Any]:
        nonlocal tc
        tc += 1
        data = sealed if isinstance(sealed, bytes) else sealed.SerializeToString(deterministic=True)
        return {
            "tcId": tc,
            "comment": comment,
            "flags": flags,
            "recipientPrivateKeyHex": opener.sk.hex(),
            "recipientNodeId": opener.node_id if opener_node_id is None else opener_node_id,
            "recipientKeyId": opener.key_id,
            "senderNodeId": _SENDER,
            "sealedHex": data.hex(),
            "plaintextHex": "" if plaintext is None else plaintext.hex(),
            "result": "valid" if plaintext is not None else "invalid",
        }

    def group(kind: str, requirements: list[str], tests: list[dict[str, Any]]) -> None:
        # ``tests`` is built left to right, so tcIds follow the order written below.
        groups.append(
            {
                "type": kind,
                "suite": envelope_pb2.SealSuite.Name(_SUITE_DEFAULT),
                "requirements": requirements,
                "tests": tests,
            }
        )

    pt = _ENVELOPE_PLAINTEXT
    group(
        "SealOpen",
        [*_REQ_OPEN, "CXP-SEAL-008"],
        [
            case("one recipient", ["HappyPath"], single, plaintext=pt),
            case("two recipients, first opens", ["MultipleRecipients"], pair, plaintext=pt),
            case(
                "two recipients, second opens",
                ["MultipleRecipients"],
                pair,
                opener=_B,
                plaintext=pt,
            ),
            case(
                "sealed signed batch",
                ["SignedBatch"],
                _build(
                    "batch",
                    [_Wrap(_A)],
                    content_type=_BATCH_TYPE,
                    plaintext=_signed_batch_plaintext(),
                ),
                plaintext=_signed_batch_plaintext(),
            ),
        ],
    )

    def tampered(field_name: str, index: int, bit: int = 0) -> envelope_pb2.SealedEnvelope:
        out = _copy(single)
        if field_name == "header":
            out.header = _flip(out.header, index, bit)
        elif field_name == "ciphertext":
            out.ciphertext = _flip(out.ciphertext, index, bit)
        else:
            out.wrapped_keys[0].enc = _flip(out.wrapped_keys[0].enc, index, bit)
        return out

    truncated = _copy(single)
    truncated.ciphertext = truncated.ciphertext[:-1]
    group(
        "SealIntegrity",
        [*_REQ_OPEN, "CXP-SEAL-013"],
        [
            case(
                "bit flipped in header seal_id", ["TamperedHeader"], tampered("header", seal_id_at)
            ),
            case(
                "bit flipped in header nonce", ["TamperedHeader"], tampered("header", nonce_at, 7)
            ),
            case(
                "bit flipped in last header byte",
                ["TamperedHeader"],
                tampered("header", header_len - 1),
            ),
            case(
                "bit flipped in ciphertext body", ["TamperedCiphertext"], tampered("ciphertext", 3)
            ),
            case(
                "bit flipped in ciphertext tag",
                ["TamperedCiphertext"],
                tampered("ciphertext", len(single.ciphertext) - 1, 7),
            ),
            case("ciphertext lacks its last byte", ["TruncatedCiphertext"], truncated),
            case(
                "bit flipped in enc (ephemeral public key)",
                ["TamperedWrappedKey"],
                tampered("enc", 0, 1),
            ),
            case(
                "bit flipped in the wrapped key's tag",
                ["TamperedWrappedKey"],
                tampered("enc", 63, 4),
            ),
        ],
    )

    swapped_entries = _copy(pair)
    swapped_entries.wrapped_keys[0].CopyFrom(pair.wrapped_keys[1])
    swapped_entries.wrapped_keys[1].CopyFrom(pair.wrapped_keys[0])
    swapped_enc = _copy(pair)
    swapped_enc.wrapped_keys[0].enc = pair.wrapped_keys[1].enc
    swapped_enc.wrapped_keys[1].enc = pair.wrapped_keys[0].enc
    missing_key = _copy(pair)
    del missing_key.wrapped_keys[1]
    other_key_id = _copy(single)
    other_key_id.wrapped_keys[0].key_id = _STRAY.key_id
    group(
        "SealBinding",
        [*_REQ_OPEN, "CXP-SEAL-008", "CXP-SEAL-010", "CXP-SEAL-013"],
        [
            case(
                "content key wrapped to a key other than the named one",
                ["WrongRecipientKey"],
                _build("stray-wrap", [_Wrap(_A, to_pk=_STRAY.pk)]),
            ),
            case(
                "opened with a private key the header does not name",
                ["WrongRecipientKey"],
                single,
                opener=_STRAY,
            ),
            case(
                "info binds another node id",
                ["WrongRecipientNodeId"],
                _build("other-node", [_Wrap(_A, info_node_id="gw-z")]),
            ),
            case("opening node is not a recipient", ["NotARecipient"], pair, opener=_C),
            case(
                "wrapped key entries of two recipients swapped",
                ["SwappedWrappedKeys", "MisalignedWrappedKeys"],
                swapped_entries,
            ),
            case(
                "enc values of two recipients swapped, ids kept",
                ["SwappedWrappedKeys"],
                swapped_enc,
            ),
            case(
                "second recipient removed from header and wrapped keys after sealing",
                ["ForwardedHeader"],
                _with_header_recipients(pair, ["gw-a"]),
            ),
            case(
                "header recipient list reduced to the second recipient after sealing",
                ["ForwardedHeader"],
                _with_header_recipients(pair, ["gw-b"]),
                opener=_B,
            ),
            case(
                "header names two recipients, one wrapped key present",
                ["MisalignedWrappedKeys"],
                missing_key,
            ),
            case(
                "wrapped key names another key id than the header",
                ["MisalignedWrappedKeys"],
                other_key_id,
            ),
        ],
    )

    unknown_outer = single.SerializeToString(deterministic=True) + b"\x20\x01"
    group(
        "SealHeaderRules",
        [
            "CXP-SEAL-001",
            "CXP-SEAL-002",
            "CXP-SEAL-007",
            "CXP-SEAL-008",
            "CXP-SEAL-009",
            "CXP-SEAL-011",
            "CXP-SEAL-013",
        ],
        [
            case(
                "header suite says hybrid, recipient key is X25519",
                ["SuiteMismatch"],
                _build("suite-mismatch", [_Wrap(_A)], suite=_SUITE_HYBRID),
            ),
            case(
                "header protocol cxp/v2",
                ["ProtocolMismatch"],
                _build("protocol", [_Wrap(_A)], protocol="cxp/v2"),
            ),
            case(
                "header carries unknown field 15",
                ["UnknownField"],
                _build("unknown-header-field", [_Wrap(_A)], header_suffix=b"\x78\x01"),
            ),
            case("sealed envelope carries unknown field 4", ["UnknownField"], unknown_outer),
            case(
                "header names gw-a twice",
                ["DuplicateRecipient"],
                _build("duplicate", [_Wrap(_A), _Wrap(_A)]),
            ),
            case(
                "content type application/json",
                ["UnsupportedContentType"],
                _build("content-type", [_Wrap(_A)], content_type="application/json"),
            ),
            case(
                "16-byte nonce",
                ["InvalidNonce"],
                _build("nonce-16", [_Wrap(_A)], nonce_length=16),
            ),
            case(
                "no sealed_at",
                ["MissingSealedAt"],
                _build("no-sealed-at", [_Wrap(_A)], with_sealed_at=False),
            ),
            case(
                "32-byte content key under the AES-128-GCM suite",
                ["ContentKeyLength"],
                _build("key-32", [_Wrap(_A)], content_key_length=32),
            ),
            # CXP-SEAL-009: the Timestamp range (appended; earlier tcIds unchanged).
            case(
                "sealed_at 0001-01-01T00:00:00Z",
                ["HappyPath", "SealedAtRange"],
                _build("time-min", [_Wrap(_A)], sealed_at=(_TS_MIN_SECONDS, 0)),
                plaintext=pt,
            ),
            case(
                "sealed_at 9999-12-31T23:59:59.999999999Z",
                ["HappyPath", "SealedAtRange"],
                _build("time-max", [_Wrap(_A)], sealed_at=(_TS_MAX_SECONDS, 999_999_999)),
                plaintext=pt,
            ),
            case(
                "sealed_at with 1 ns",
                ["HappyPath", "SealedAtRange"],
                _build("time-ns", [_Wrap(_A)], sealed_at=(1_740_817_800, 1)),
                plaintext=pt,
            ),
            case(
                "sealed_at one second before 0001-01-01T00:00:00Z",
                ["InvalidSealedAt"],
                _build("time-low", [_Wrap(_A)], sealed_at=(_TS_MIN_SECONDS - 1, 0)),
            ),
            case(
                "sealed_at one second after 9999-12-31T23:59:59Z",
                ["InvalidSealedAt"],
                _build("time-high", [_Wrap(_A)], sealed_at=(_TS_MAX_SECONDS + 1, 0)),
            ),
            case(
                "sealed_at nanos 1000000000",
                ["InvalidSealedAt"],
                _build("time-nanos-high", [_Wrap(_A)], sealed_at=(1_740_817_800, 1_000_000_000)),
            ),
            case(
                "sealed_at nanos -1",
                ["InvalidSealedAt"],
                _build("time-nanos-low", [_Wrap(_A)], sealed_at=(1_740_817_800, -1)),
            ),
        ],
    )

    return {
        "algorithm": "CXP-SEAL HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, "
        "AES-128-GCM; content AES-128-GCM",
        "schema": "hpke_seal_schema.json",
        "numberOfTests": tc,
        "header": [
            "Sealed envelopes (docs/spec/sealing.md). For each test, open sealedHex (a serialized "
            "creditlink.v1.SealedEnvelope) as node recipientNodeId with the raw X25519 private "
            "key recipientPrivateKeyHex (its key id is recipientKeyId), expecting sender "
            "senderNodeId. A valid test yields plaintextHex; an invalid one fails with the one "
            "uniform error (reason SEAL_OPEN_FAILED). The hybrid suite has no vectors: its "
            "encapsulation is randomized; it is covered by round-trip tests."
        ],
        "notes": _NOTES,
        "testGroups": groups,
    }
