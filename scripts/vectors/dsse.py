"""Vectors for DSSE envelopes (docs/spec/envelope.md): ``dsse_pae.json``, ``dsse_ed25519.json``,
``dsse_ecdsa_p256.json``.

Everything here is a second reading of the specification, independent of ``sdk/envelope.py``:
PAE, the DSSE JSON form and base64 are written out below, and signatures come straight from
cryptography's primitives (Ed25519 is deterministic, ECDSA uses RFC 6979 deterministic nonces),
over keys derived from fixed labels. ``tests/sdk/test_vectors_dsse.py`` runs every case against
the SDK.

Test fields (see each document's ``notes``): ``envelope`` is the DSSE JSON object as a receiver
gets it (``envelopeText``, in the ``DsseVerifyText`` group of ``dsse_ed25519.json``, the raw
JSON text instead); ``payloadType`` is the type the verifier expects; ``threshold`` the number
of distinct trusted keys required; valid cases give the verified ``payloadHex``, invalid ones
the error ``reason``.

Not shipped: this module is only imported by ``scripts/gen_vectors.py`` and the tests.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

__all__ = [
    "dsse_ecdsa_p256",
    "dsse_ed25519",
    "dsse_pae",
    "ed25519_key",
    "envelope_json",
    "flip_bit",
    "key_id",
    "pae_reference",
    "public_pem",
]

RECORD_TYPE = "application/vnd.creditlink.record.v1+protobuf"
OTHER_TYPE = "application/vnd.creditlink.name-list-entry.v1+protobuf"
# A protobuf-shaped payload whose base64 contains '+' and '/', so the URL-safe form differs.
PAYLOAD = (
    bytes.fromhex("0a12") + b"91330100MA2XXXXX1B" + bytes.fromhex("1203fbffbf1a06e4bfa1e794a82001")
)
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_L = 2**252 + 27742317777372353535851937790883648493

SIG_REQUIREMENTS = [
    "CXP-ENV-001",
    "CXP-ENV-002",
    "CXP-ENV-003",
    "CXP-ENV-004",
    "CXP-ENV-005",
    "CXP-ENV-006",
    "CXP-ENV-008",
    "CXP-ENV-009",
    "CXP-ENV-010",
    "CXP-KEY-001",
]


def pae_reference(payload_type: bytes, payload: bytes) -> bytes:
    """DSSE v1 PAE, written from protocol.md: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"creditlink test vector key: {label}".encode()).digest()


def ed25519_key(label: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(_seed(label))


def _p256_key(label: str) -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(_seed(label), "big") % (P256_N - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _spki(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def key_id(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """docs/spec/keys.md: lowercase hex of SHA-256(SPKI DER)[:16]."""
    return hashlib.sha256(_spki(key)).digest()[:16].hex()


def _signer(
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
) -> Callable[[bytes], bytes]:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    return lambda data: key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


def envelope_json(
    payload: bytes, payload_type: str, sigs: list[tuple[str, bytes]]
) -> dict[str, Any]:
    return {
        "payload": _b64(payload),
        "payloadType": payload_type,
        "signatures": [{"keyid": keyid, "sig": _b64(sig)} for keyid, sig in sigs],
    }


def flip_bit(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


class _Tests:
    """Collects test cases, numbering them per file."""

    def __init__(self) -> None:
        self.next_id = 1

    def case(self, comment: str, flags: list[str], result: str, **fields: Any) -> dict[str, Any]:
        test = {
            "tcId": self.next_id,
            "comment": comment,
            "flags": flags,
            **fields,
            "result": result,
        }
        self.next_id += 1
        return test


# --------------------------------------------------------------------------------------------
# dsse_pae.json
# --------------------------------------------------------------------------------------------


def dsse_pae() -> dict[str, Any]:
    """PAE known answers, plus encodings a correct PAE must NOT produce."""
    t = _Tests()
    valid_cases: list[tuple[str, list[str], str, bytes]] = [
        (
            "DSSE protocol.md worked example",
            ["DsseSpecExample"],
            "http://example.com/HelloWorld",
            b"hello world",
        ),
        ("empty payload", ["EmptyPayload"], RECORD_TYPE, b""),
        ("empty payload type", ["EmptyPayloadType"], "", b"x"),
        (
            "UTF-8 multibyte payload type: LEN counts bytes, not characters",
            ["Utf8PayloadType"],
            "application/vnd.creditlink.信用记录.v1+protobuf",
            b"\x08\x01",
        ),
        ("binary payload with every byte value", ["BinaryPayload"], RECORD_TYPE, bytes(range(256))),
        ("payload that itself looks like PAE fields", ["PayloadWithSeparators"], "a", b"1 b 2 cc "),
        ("lengths of several digits", ["MultiDigitLength"], "t" * 123, b"\xff" * 1000),
        ("CXP payload type", ["CxpPayloadType"], RECORD_TYPE, PAYLOAD),
    ]
    tests = [
        t.case(
            comment,
            flags,
            "valid",
            payloadType=ptype,
            payloadHex=payload.hex(),
            paeHex=pae_reference(ptype.encode(), payload).hex(),
        )
        for comment, flags, ptype, payload in valid_cases
    ]
    utf8_type = "application/vnd.creditlink.信用记录.v1+protobuf"
    tests += [
        t.case(
            "LEN with a leading zero",
            ["LeadingZeroLength"],
            "invalid",
            payloadType="http://example.com/HelloWorld",
            payloadHex=b"hello world".hex(),
            paeHex=b"DSSEv1 029 http://example.com/HelloWorld 011 hello world".hex(),
        ),
        t.case(
            "LEN of the type counted in characters instead of UTF-8 bytes",
            ["CharacterCountLength"],
            "invalid",
            payloadType=utf8_type,
            payloadHex="0801",
            paeHex=(b"DSSEv1 %d %s 2 \x08\x01" % (len(utf8_type), utf8_type.encode())).hex(),
        ),
        t.case(
            "payload base64-encoded before PAE (a DSSE pre-v1 mistake)",
            ["Base64Body"],
            "invalid",
            payloadType="http://example.com/HelloWorld",
            payloadHex=b"hello world".hex(),
            paeHex=pae_reference(
                b"http://example.com/HelloWorld", base64.b64encode(b"hello world")
            ).hex(),
        ),
        t.case(
            "LEN written in hexadecimal",
            ["HexLength"],
            "invalid",
            payloadType="t" * 16,
            payloadHex=(b"x" * 16).hex(),
            paeHex=(b"DSSEv1 10 " + b"t" * 16 + b" 10 " + b"x" * 16).hex(),
        ),
    ]
    return {
        "algorithm": "DSSEv1-PAE",
        "schema": "dsse_pae_schema.json",
        "numberOfTests": len(tests),
        "notes": {
            "DsseSpecExample": "The worked example of secure-systems-lab/dsse protocol.md.",
            "EmptyPayload": "LEN(body) is 0 and the encoding ends with the final SP.",
            "EmptyPayloadType": "LEN(type) is 0: two SP follow it.",
            "Utf8PayloadType": "The type is UTF-8; LEN is its byte length.",
            "BinaryPayload": "The body is arbitrary bytes, used as is.",
            "PayloadWithSeparators": "SP and digits inside the body need no escaping.",
            "MultiDigitLength": "Lengths are ASCII decimal without leading zeros.",
            "CxpPayloadType": "A CXP payload type with a protobuf-shaped body.",
            "LeadingZeroLength": "Invalid: pae(payloadType, payload) must not equal paeHex.",
            "CharacterCountLength": "Invalid: LEN must count bytes, not characters.",
            "Base64Body": "Invalid: the body is the raw payload, not its base64.",
            "HexLength": "Invalid: LEN is decimal.",
        },
        "testGroups": [
            {
                "type": "DssePae",
                "requirements": ["CXP-ENV-001"],
                "description": "PAE (envelope.md §3, CXP-ENV-001) of the UTF-8 encoding of "
                "payloadType and the bytes of payloadHex: equal to the bytes of paeHex for a valid "
                "case, different from them for an invalid one.",
                "tests": tests,
            }
        ],
    }


# --------------------------------------------------------------------------------------------
# dsse_ed25519.json / dsse_ecdsa_p256.json
# --------------------------------------------------------------------------------------------

_SIG_NOTES = {
    "Valid": "A correctly signed envelope.",
    "TamperedPayload": "One payload bit changed after signing.",
    "TamperedPayloadType": "payloadType changed after signing (and expected as changed): PAE "
    "binds the type, so the signature fails.",
    "PayloadTypeMismatch": "Correctly signed, but not the type the verifier expects.",
    "SignatureBitFlip": "One bit of the signature flipped.",
    "AppendedBytes": "Bytes appended to the signature or to the payload.",
    "TruncatedSignature": "The signature's last byte removed.",
    "WrongKey": "Signed by a key that is not trusted.",
    "EmptySignatures": "The signatures list is empty.",
    "KeyidPointsElsewhere": "The keyid names another key (or none): keyid is only a hint, "
    "the verifier must try every trusted key.",
    "MissingKeyid": "The optional keyid is absent.",
    "UrlSafeBase64": "payload and sig in URL-safe base64 without padding: accepted.",
    "UnpaddedBase64": "Standard alphabet without padding: accepted.",
    "NonCanonicalBase64": "Base64 with non-zero unused trailing bits: refused.",
    "MixedBase64Alphabets": "'+' and '-' in one value: refused.",
    "InvalidBase64": "Characters outside both alphabets.",
    "DuplicateSignature": "One key's signature present twice with threshold 2: a key counts once.",
    "ExtraInvalidSignature": "A garbage signature before the valid one is ignored.",
    "NoPae": "Signature over the raw payload instead of PAE(type, payload).",
    "ZeroSignature": "All-zero signature bytes.",
    "NonCanonicalS": "Ed25519 S >= L (RFC 8032 requires rejecting it).",
    "HighS": "ECDSA (r, n - s): equally valid mathematically; CXP verifiers MAY accept it "
    "(the reference implementation does), signers never produce it deliberately.",
    "BerSignature": "ECDSA signature in BER (long-form length) instead of DER.",
    "IeeeP1363Signature": "ECDSA r||s (64 bytes) instead of DER.",
    "ZeroRS": "ECDSA r = 0 or s = 0.",
    "ThresholdMet": "Enough distinct trusted keys signed.",
    "ThresholdNotMet": "Too few distinct trusted keys signed.",
    "UnknownEnvelopeField": "An extra top-level JSON key: refused.",
    "CheckOrder": "Several faults at once: the reason is that of the first failing check in "
    "the order of CXP-ENV-010.",
    "TooManySignatures": "More than 16 signatures: LIMIT_EXCEEDED, checked before any "
    "signature is decoded.",
    "ManySignatures": "16 signatures, the most allowed (15 all-zero ones and the valid one).",
    "EmptySignature": "A sig that decodes to no bytes: MALFORMED_ENVELOPE.",
    "OversizedSignature": "A sig of more than 4096 bytes, or a sig text longer than the base64 "
    "of any 4096-byte value (5464 characters): LIMIT_EXCEEDED.",
    "EmptyPayload": "payload decodes to no bytes: MALFORMED_ENVELOPE, even if signed.",
    "EmptyPayloadType": "payloadType is the empty string: MALFORMED_ENVELOPE, even if signed.",
    "LongPayloadType": "payloadType of exactly 200 characters (Unicode code points) but 600 "
    "UTF-8 bytes: within the limit.",
    "PayloadTypeTooLong": "payloadType of 201 characters: MALFORMED_ENVELOPE.",
    "LongKeyid": "keyid of exactly 128 characters (Unicode code points) but 384 UTF-8 bytes: "
    "within the limit.",
    "KeyidTooLong": "keyid of 129 characters: MALFORMED_ENVELOPE.",
    "ThresholdAboveKeys": "The threshold exceeds the number of distinct trusted keys: it "
    "cannot be met, INVALID_SIGNATURE (not an error of the call).",
    "JsonWhitespace": "Insignificant JSON whitespace (SP, TAB, CR, LF) between tokens: accepted.",
    "MemberOrder": "Members in another order than the DSSE one: accepted.",
    "JsonEscapes": "JSON string escapes (\\/, \\u0061, a surrogate pair) in member names and "
    "values: compared after unescaping, accepted.",
    "DuplicateMember": "A member name twice in one object (also when only the escaped spellings "
    "differ): refused.",
    "UnknownSignatureField": "An extra member in a signature object: refused.",
    "Base64Whitespace": "A line break inside a base64 value: refused.",
    "TrailingData": "Non-whitespace text after the top-level object: not JSON, refused.",
    "NotAnObject": "The top-level JSON value is not an object: refused.",
    "NotJson": "The text is not JSON (truncated, or a raw control character inside a "
    "string): refused.",
    "WrongMemberType": "A member of the wrong JSON type (payloadType a number, signatures an "
    "object): refused.",
    "UnpairedSurrogate": "A string escape of an unpaired UTF-16 surrogate: not Unicode text, "
    "refused.",
    "ByteOrderMark": "The text starts with U+FEFF (a UTF-8 byte-order mark): refused.",
}


def _signature_document(algorithm: str) -> dict[str, Any]:
    ed = algorithm == "ED25519"
    make_key: Callable[[str], ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey]
    make_key = ed25519_key if ed else _p256_key
    name = "ed25519" if ed else "ecdsa-p256"
    key = make_key(f"dsse {name} 1")
    sign = _signer(key)
    keyid = key_id(key)
    message = pae_reference(RECORD_TYPE.encode(), PAYLOAD)
    sig = sign(message)
    good = envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, sig)])
    t = _Tests()

    def valid(
        comment: str, flags: list[str], envelope: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        return t.case(
            comment,
            flags,
            "valid",
            envelope=envelope,
            payloadType=kw.get("payloadType", RECORD_TYPE),
            threshold=kw.get("threshold", 1),
            payloadHex=PAYLOAD.hex(),
        )

    def invalid(
        comment: str, flags: list[str], envelope: dict[str, Any], reason: str, **kw: Any
    ) -> dict[str, Any]:
        return t.case(
            comment,
            flags,
            "invalid",
            envelope=envelope,
            payloadType=kw.get("payloadType", RECORD_TYPE),
            threshold=kw.get("threshold", 1),
            reason=reason,
        )

    tests = [
        valid("valid envelope", ["Valid"], good),
        valid(
            "keyid names another key",
            ["KeyidPointsElsewhere"],
            envelope_json(PAYLOAD, RECORD_TYPE, [("0123456789abcdef0123456789abcdef", sig)]),
        ),
        valid(
            "keyid is empty",
            ["KeyidPointsElsewhere"],
            envelope_json(PAYLOAD, RECORD_TYPE, [("", sig)]),
        ),
        valid(
            "keyid is absent",
            ["MissingKeyid"],
            {
                "payload": _b64(PAYLOAD),
                "payloadType": RECORD_TYPE,
                "signatures": [{"sig": _b64(sig)}],
            },
        ),
        valid(
            "URL-safe base64 without padding",
            ["UrlSafeBase64"],
            {
                "payload": _b64url_nopad(PAYLOAD),
                "payloadType": RECORD_TYPE,
                "signatures": [{"keyid": keyid, "sig": _b64url_nopad(sig)}],
            },
        ),
        valid(
            "standard base64 without padding",
            ["UnpaddedBase64"],
            {
                "payload": _b64(PAYLOAD).rstrip("="),
                "payloadType": RECORD_TYPE,
                "signatures": [{"keyid": keyid, "sig": _b64(sig).rstrip("=")}],
            },
        ),
        valid(
            "a garbage signature precedes the valid one",
            ["ExtraInvalidSignature"],
            envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, bytes(len(sig))), (keyid, sig)]),
        ),
    ]
    tampered_payload = flip_bit(PAYLOAD, 8 * 5 + 1)
    tests += [
        invalid(
            "payload bit flipped",
            ["TamperedPayload"],
            envelope_json(tampered_payload, RECORD_TYPE, [(keyid, sig)]),
            "INVALID_SIGNATURE",
        ),
        invalid(
            "payloadType changed after signing",
            ["TamperedPayloadType"],
            envelope_json(PAYLOAD, OTHER_TYPE, [(keyid, sig)]),
            "INVALID_SIGNATURE",
            payloadType=OTHER_TYPE,
        ),
        invalid(
            "payloadType is not the expected type",
            ["PayloadTypeMismatch"],
            good,
            "PAYLOAD_TYPE_MISMATCH",
            payloadType=OTHER_TYPE,
        ),
    ]
    for bit in (0, 7, 8 * 31, 8 * 32 + 3, len(sig) * 8 - 1):
        tests.append(
            invalid(
                f"signature bit {bit} flipped",
                ["SignatureBitFlip"],
                envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, flip_bit(sig, bit))]),
                "INVALID_SIGNATURE",
            )
        )
    other = make_key(f"dsse {name} untrusted")
    tests += [
        invalid(
            "one byte appended to the signature",
            ["AppendedBytes"],
            envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, sig + b"\x00")]),
            "INVALID_SIGNATURE",
        ),
        invalid(
            "one byte appended to the payload",
            ["AppendedBytes"],
            envelope_json(PAYLOAD + b"\x00", RECORD_TYPE, [(keyid, sig)]),
            "INVALID_SIGNATURE",
        ),
        invalid(
            "signature truncated by one byte",
            ["TruncatedSignature"],
            envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, sig[:-1])]),
            "INVALID_SIGNATURE",
        ),
        invalid(
            "signed by an untrusted key",
            ["WrongKey"],
            envelope_json(PAYLOAD, RECORD_TYPE, [(key_id(other), _signer(other)(message))]),
            "INVALID_SIGNATURE",
        ),
        invalid(
            "signed by an untrusted key that claims the trusted keyid",
            ["WrongKey"],
            envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, _signer(other)(message))]),
            "INVALID_SIGNATURE",
        ),
        invalid(
            "no signatures",
            ["EmptySignatures"],
            envelope_json(PAYLOAD, RECORD_TYPE, []),
            "NO_SIGNATURES",
        ),
        invalid(
            "the same signature twice, threshold 2",
            ["DuplicateSignature"],
            envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, sig), (keyid, sig)]),
            "INVALID_SIGNATURE",
            threshold=2,
        ),
        invalid(
            "signature over the raw payload, not PAE",
            ["NoPae"],
            envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, sign(PAYLOAD))]),
            "INVALID_SIGNATURE",
        ),
        invalid(
            "all-zero signature",
            ["ZeroSignature"],
            envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, bytes(len(sig)))]),
            "INVALID_SIGNATURE",
        ),
        invalid(
            "payload base64 with non-zero trailing bits",
            ["NonCanonicalBase64"],
            {**good, "payload": _non_canonical_b64(PAYLOAD)},
            "MALFORMED_ENVELOPE",
        ),
        invalid(
            "payload base64 mixing '+' and '-'",
            ["MixedBase64Alphabets"],
            {**good, "payload": "+-" + _b64(PAYLOAD)[2:]},
            "MALFORMED_ENVELOPE",
        ),
        invalid(
            "signature base64 with an invalid character",
            ["InvalidBase64"],
            {**good, "signatures": [{"keyid": keyid, "sig": "*" + _b64(sig)[1:]}]},
            "MALFORMED_ENVELOPE",
        ),
        invalid(
            "unknown top-level field",
            ["UnknownEnvelopeField"],
            {**good, "extra": "x"},
            "MALFORMED_ENVELOPE",
        ),
    ]
    if ed:
        s = int.from_bytes(sig[32:], "little")
        tests.append(
            invalid(
                "S replaced by S + L",
                ["NonCanonicalS"],
                envelope_json(
                    PAYLOAD,
                    RECORD_TYPE,
                    [(keyid, sig[:32] + (s + ED25519_L).to_bytes(32, "little"))],
                ),
                "INVALID_SIGNATURE",
            )
        )
    else:
        r, s = decode_dss_signature(sig)
        high = encode_dss_signature(r, P256_N - s)
        body = sig[2:]
        tests += [
            t.case(
                "(r, n - s): high-S form of a valid signature",
                ["HighS"],
                "acceptable",
                envelope=envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, high)]),
                payloadType=RECORD_TYPE,
                threshold=1,
                payloadHex=PAYLOAD.hex(),
                reason="INVALID_SIGNATURE",
            ),
            invalid(
                "BER long-form length",
                ["BerSignature"],
                envelope_json(
                    PAYLOAD, RECORD_TYPE, [(keyid, b"\x30\x81" + bytes([len(body)]) + body)]
                ),
                "INVALID_SIGNATURE",
            ),
            invalid(
                "r || s instead of DER",
                ["IeeeP1363Signature"],
                envelope_json(
                    PAYLOAD, RECORD_TYPE, [(keyid, r.to_bytes(32, "big") + s.to_bytes(32, "big"))]
                ),
                "INVALID_SIGNATURE",
            ),
            invalid(
                "r = 0",
                ["ZeroRS"],
                envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, encode_dss_signature(0, s))]),
                "INVALID_SIGNATURE",
            ),
            invalid(
                "s = 0",
                ["ZeroRS"],
                envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, encode_dss_signature(r, 0))]),
                "INVALID_SIGNATURE",
            ),
        ]

    # Limits and the order of the structural checks (CXP-ENV-005, CXP-ENV-010).
    zero = (keyid, bytes(len(sig)))
    long_type = "\u4fe1" * 200  # 200 code points, 600 UTF-8 bytes
    long_type_sig = sign(pae_reference(long_type.encode(), PAYLOAD))
    too_long_type = "\u4fe1" * 201
    tests += [
        invalid(
            "no signatures and an empty payload",
            ["EmptySignatures", "EmptyPayload", "CheckOrder"],
            envelope_json(b"", RECORD_TYPE, []),
            "NO_SIGNATURES",
        ),
        invalid(
            "no signatures and a payload that is not base64",
            ["EmptySignatures", "InvalidBase64", "CheckOrder"],
            {"payload": "*" + _b64(PAYLOAD)[1:], "payloadType": RECORD_TYPE, "signatures": []},
            "MALFORMED_ENVELOPE",
        ),
        valid(
            "16 signatures, the last one valid",
            ["ManySignatures", "ExtraInvalidSignature"],
            envelope_json(PAYLOAD, RECORD_TYPE, [zero] * 15 + [(keyid, sig)]),
        ),
        invalid(
            "17 signatures, one of them valid",
            ["TooManySignatures"],
            envelope_json(PAYLOAD, RECORD_TYPE, [zero] * 16 + [(keyid, sig)]),
            "LIMIT_EXCEEDED",
        ),
        invalid(
            "17 signatures, one of them not base64",
            ["TooManySignatures", "InvalidBase64", "CheckOrder"],
            {
                **envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, sig)] * 17),
                "signatures": [{"keyid": keyid, "sig": "*" + _b64(sig)[1:]}]
                + [{"keyid": keyid, "sig": _b64(sig)}] * 16,
            },
            "LIMIT_EXCEEDED",
        ),
        invalid(
            "17 signatures and an empty payload",
            ["TooManySignatures", "EmptyPayload", "CheckOrder"],
            envelope_json(b"", RECORD_TYPE, [(keyid, sig)] * 17),
            "LIMIT_EXCEEDED",
        ),
        invalid(
            "empty sig",
            ["EmptySignature"],
            envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, b"")]),
            "MALFORMED_ENVELOPE",
        ),
        invalid(
            "sig of 4097 bytes (the valid signature, zero-padded)",
            ["OversizedSignature"],
            envelope_json(PAYLOAD, RECORD_TYPE, [(keyid, sig + bytes(4097 - len(sig)))]),
            "LIMIT_EXCEEDED",
        ),
        invalid(
            "sig text of 5465 characters that is not base64",
            ["OversizedSignature", "InvalidBase64", "CheckOrder"],
            {**good, "signatures": [{"keyid": keyid, "sig": "*" * 5465}]},
            "LIMIT_EXCEEDED",
        ),
        invalid(
            "empty payload, signed",
            ["EmptyPayload"],
            envelope_json(
                b"", RECORD_TYPE, [(keyid, sign(pae_reference(RECORD_TYPE.encode(), b"")))]
            ),
            "MALFORMED_ENVELOPE",
        ),
        invalid(
            "empty payloadType, signed and expected",
            ["EmptyPayloadType"],
            envelope_json(PAYLOAD, "", [(keyid, sign(pae_reference(b"", PAYLOAD)))]),
            "MALFORMED_ENVELOPE",
            payloadType="",
        ),
        valid(
            "payloadType of 200 characters (600 UTF-8 bytes), signed and expected",
            ["LongPayloadType"],
            envelope_json(PAYLOAD, long_type, [(keyid, long_type_sig)]),
            payloadType=long_type,
        ),
        invalid(
            "payloadType of 201 characters, signed and expected",
            ["PayloadTypeTooLong"],
            envelope_json(
                PAYLOAD,
                too_long_type,
                [(keyid, sign(pae_reference(too_long_type.encode(), PAYLOAD)))],
            ),
            "MALFORMED_ENVELOPE",
            payloadType=too_long_type,
        ),
        valid(
            "keyid of 128 characters (384 UTF-8 bytes)",
            ["LongKeyid", "KeyidPointsElsewhere"],
            envelope_json(PAYLOAD, RECORD_TYPE, [("\u952e" * 128, sig)]),
        ),
        invalid(
            "keyid of 129 characters",
            ["KeyidTooLong"],
            envelope_json(PAYLOAD, RECORD_TYPE, [("\u952e" * 129, sig)]),
            "MALFORMED_ENVELOPE",
        ),
    ]

    # Threshold group: three trusted keys.
    keys = [make_key(f"dsse {name} threshold {i}") for i in range(3)]
    sigs = [(key_id(k), _signer(k)(message)) for k in keys]
    outsider = (key_id(other), _signer(other)(message))
    threshold_tests = [
        t.case(
            "2 of 3 distinct trusted keys",
            ["ThresholdMet"],
            "valid",
            envelope=envelope_json(PAYLOAD, RECORD_TYPE, [sigs[0], sigs[2]]),
            payloadType=RECORD_TYPE,
            threshold=2,
            payloadHex=PAYLOAD.hex(),
        ),
        t.case(
            "3 of 3, hints swapped",
            ["ThresholdMet", "KeyidPointsElsewhere"],
            "valid",
            envelope=envelope_json(
                PAYLOAD, RECORD_TYPE, [(sigs[1][0], sigs[0][1]), (sigs[0][0], sigs[1][1]), sigs[2]]
            ),
            payloadType=RECORD_TYPE,
            threshold=3,
            payloadHex=PAYLOAD.hex(),
        ),
        t.case(
            "2 required, one key signed twice",
            ["ThresholdNotMet", "DuplicateSignature"],
            "invalid",
            envelope=envelope_json(PAYLOAD, RECORD_TYPE, [sigs[1], sigs[1]]),
            payloadType=RECORD_TYPE,
            threshold=2,
            reason="INVALID_SIGNATURE",
        ),
        t.case(
            "2 required, same signature under two different hints",
            ["ThresholdNotMet", "DuplicateSignature"],
            "invalid",
            envelope=envelope_json(PAYLOAD, RECORD_TYPE, [sigs[1], (sigs[2][0], sigs[1][1])]),
            payloadType=RECORD_TYPE,
            threshold=2,
            reason="INVALID_SIGNATURE",
        ),
        t.case(
            "2 required, one trusted and one untrusted key",
            ["ThresholdNotMet", "WrongKey"],
            "invalid",
            envelope=envelope_json(PAYLOAD, RECORD_TYPE, [sigs[0], outsider]),
            payloadType=RECORD_TYPE,
            threshold=2,
            reason="INVALID_SIGNATURE",
        ),
        t.case(
            "3 required, 2 valid and 1 tampered",
            ["ThresholdNotMet", "SignatureBitFlip"],
            "invalid",
            envelope=envelope_json(
                PAYLOAD, RECORD_TYPE, [sigs[0], sigs[1], (sigs[2][0], flip_bit(sigs[2][1], 9))]
            ),
            payloadType=RECORD_TYPE,
            threshold=3,
            reason="INVALID_SIGNATURE",
        ),
        t.case(
            "threshold 4 with three trusted keys, all three signed",
            ["ThresholdNotMet", "ThresholdAboveKeys"],
            "invalid",
            envelope=envelope_json(PAYLOAD, RECORD_TYPE, sigs),
            payloadType=RECORD_TYPE,
            threshold=4,
            reason="INVALID_SIGNATURE",
        ),
    ]
    text_tests = _text_tests(t, sign, good) if ed else []
    flags_used = {f for test in tests + threshold_tests + text_tests for f in test["flags"]}
    requirements = SIG_REQUIREMENTS
    return {
        "algorithm": "DSSEv1-ED25519" if ed else "DSSEv1-ECDSA-P256-SHA256",
        "schema": "dsse_ed25519_schema.json" if ed else "dsse_ecdsa_p256_schema.json",
        "numberOfTests": len(tests) + len(threshold_tests) + len(text_tests),
        "notes": {flag: text for flag, text in _SIG_NOTES.items() if flag in flags_used},
        "testGroups": [
            {
                "type": "DsseVerify",
                "requirements": requirements,
                "description": "Decode envelope as DSSE JSON (envelope.md §5, CXP-ENV-005, "
                "CXP-ENV-006, in the order of CXP-ENV-010), then verify it (envelope.md §6 steps "
                "2-4) with the one trusted key publicKeyPem, the expected payload type "
                "payloadType and threshold; valid: the verified payload is payloadHex; invalid: "
                "the envelope.md §7 reason is reason.",
                "publicKeyPem": public_pem(key),
                "keyId": keyid,
                "tests": tests,
            },
            {
                "type": "DsseVerifyThreshold",
                "requirements": ["CXP-ENV-003", "CXP-ENV-004"],
                "description": "As DsseVerify, with the three trusted keys publicKeyPems: "
                "threshold distinct trusted keys must verify (CXP-ENV-004).",
                "publicKeyPems": [public_pem(k) for k in keys],
                "keyIds": [key_id(k) for k in keys],
                "tests": threshold_tests,
            },
            *(
                [
                    {
                        "type": "DsseVerifyText",
                        "requirements": ["CXP-ENV-005", "CXP-ENV-006", "CXP-ENV-010"],
                        "description": "As DsseVerify, but the envelope is given as JSON text "
                        "(envelopeText): decode its UTF-8 encoding, unchanged, as DSSE JSON "
                        "(envelope.md §5: UTF-8, duplicate and unknown members, base64 rules).",
                        "publicKeyPem": public_pem(key),
                        "keyId": keyid,
                        "tests": text_tests,
                    }
                ]
                if ed
                else []
            ),
        ],
    }


def _text_tests(
    t: _Tests,
    sign: Callable[[bytes], bytes],
    good: dict[str, Any],
) -> list[dict[str, Any]]:
    """``DsseVerifyText``: the envelope as raw JSON text, for the rules a JSON object cannot
    carry (duplicate members, escapes, whitespace, trailing data, a byte-order mark).

    Templates name the parts of the valid envelope ``<P>`` (payload base64), ``<T>`` (payload
    type), ``<K>`` (keyid) and ``<S>`` (sig base64).
    """
    parts = {
        "<P>": good["payload"],
        "<T>": good["payloadType"],
        "<K>": good["signatures"][0]["keyid"],
        "<S>": good["signatures"][0]["sig"],
        # A signature over the same payload under the other type, for the duplicate type.
        "<S2>": _b64(sign(pae_reference(OTHER_TYPE.encode(), PAYLOAD))),
        "<T2>": OTHER_TYPE,
        "<NP>": _non_canonical_b64(PAYLOAD),
        # The sig with a JSON-escaped line break after its 40th character.
        "<SN>": good["signatures"][0]["sig"][:40] + "\\n" + good["signatures"][0]["sig"][40:],
        # The type spelled with JSON escapes: "\/" for "/" and "\u0064" for "d".
        "<ET>": good["payloadType"].replace("/", "\\/").replace("creditlink", "cre\\u0064itlink"),
    }

    def fill(template: str) -> str:
        # Longest placeholders first, so "<S>" does not eat the start of "<S2>".
        for name in sorted(parts, key=len, reverse=True):
            template = template.replace(name, parts[name])
        return template

    compact = '{"payload":"<P>","payloadType":"<T>","signatures":[{"keyid":"<K>","sig":"<S>"}]}'

    def text(
        comment: str, flags: list[str], envelope_text: str, reason: str | None = None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "envelopeText": fill(envelope_text),
            "payloadType": RECORD_TYPE,
            "threshold": 1,
        }
        if reason is None:
            fields["payloadHex"] = PAYLOAD.hex()
        else:
            fields["reason"] = reason
        return t.case(comment, flags, "valid" if reason is None else "invalid", **fields)

    bad = "MALFORMED_ENVELOPE"
    return [
        text("compact text in DSSE member order", ["Valid"], compact),
        text(
            "whitespace between tokens, members in another order",
            ["JsonWhitespace", "MemberOrder"],
            '{\n  "signatures" : [ {"sig" :\t"<S>", "keyid": "<K>"} ],\r\n'
            '  "payloadType" : "<T>",\n  "payload" : "<P>"\n}\n',
        ),
        text(
            "escaped member name, escaped payloadType, surrogate-pair keyid",
            ["JsonEscapes", "KeyidPointsElsewhere"],
            '{"p\\u0061yload":"<P>","payloadType":"<ET>",'
            '"signatures":[{"keyid":"\\ud83d\\ude00","sig":"<S>"}]}',
        ),
        text(
            "payload member twice, same value",
            ["DuplicateMember"],
            '{"payload":"<P>","payload":"<P>","payloadType":"<T>",'
            '"signatures":[{"keyid":"<K>","sig":"<S>"}]}',
            bad,
        ),
        text(
            "payloadType member twice, the second another type (signed for it too)",
            ["DuplicateMember"],
            '{"payload":"<P>","payloadType":"<T>","payloadType":"<T2>",'
            '"signatures":[{"keyid":"<K>","sig":"<S>"},{"keyid":"<K>","sig":"<S2>"}]}',
            bad,
        ),
        text(
            "payload member twice, once spelled with an escape",
            ["DuplicateMember", "JsonEscapes"],
            '{"payload":"<P>","p\\u0061yload":"<P>","payloadType":"<T>",'
            '"signatures":[{"keyid":"<K>","sig":"<S>"}]}',
            bad,
        ),
        text(
            "sig member twice in one signature",
            ["DuplicateMember"],
            '{"payload":"<P>","payloadType":"<T>",'
            '"signatures":[{"keyid":"<K>","sig":"<S>","sig":"<S>"}]}',
            bad,
        ),
        text(
            "unknown top-level member",
            ["UnknownEnvelopeField"],
            '{"payload":"<P>","payloadType":"<T>",'
            '"signatures":[{"keyid":"<K>","sig":"<S>"}],"x":1}',
            bad,
        ),
        text(
            "unknown member in a signature",
            ["UnknownSignatureField"],
            '{"payload":"<P>","payloadType":"<T>",'
            '"signatures":[{"keyid":"<K>","sig":"<S>","cert":""}]}',
            bad,
        ),
        text(
            "payload base64 with non-zero trailing bits",
            ["NonCanonicalBase64"],
            compact.replace("<P>", "<NP>"),
            bad,
        ),
        text(
            "escaped line break inside the sig base64",
            ["Base64Whitespace"],
            compact.replace("<S>", "<SN>"),
            bad,
        ),
        text("a second object after the envelope", ["TrailingData"], compact + "{}", bad),
        text("the envelope inside an array", ["NotAnObject"], "[" + compact + "]", bad),
        text("text cut before its closing brace", ["NotJson"], compact[:-1], bad),
        text(
            "raw TAB character inside the keyid string",
            ["NotJson"],
            compact.replace("<K>", "\t<K>"),
            bad,
        ),
        text(
            "payloadType is a number",
            ["WrongMemberType"],
            compact.replace('"<T>"', "7"),
            bad,
        ),
        text(
            "signatures is an object",
            ["WrongMemberType"],
            '{"payload":"<P>","payloadType":"<T>","signatures":{"keyid":"<K>","sig":"<S>"}}',
            bad,
        ),
        text(
            "keyid with an unpaired surrogate escape",
            ["UnpairedSurrogate", "JsonEscapes"],
            compact.replace("<K>", "\\ud800"),
            bad,
        ),
        text("text starting with a byte-order mark", ["ByteOrderMark"], "\ufeff" + compact, bad),
    ]


def _non_canonical_b64(data: bytes) -> str:
    """Standard padded base64 of ``data`` with the last character's unused bits set."""
    text = _b64(data)
    unpadded = text.rstrip("=")
    pad = len(text) - len(unpadded)
    if pad == 0:
        raise ValueError("payload length must not be a multiple of 3")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(unpadded[-1]) | (0b1111 if pad == 2 else 0b11)
    return unpadded[:-1] + alphabet[last] + "=" * pad


def dsse_ed25519() -> dict[str, Any]:
    """Ed25519 DSSE envelopes: happy paths and systematic mutations."""
    return _signature_document("ED25519")


def dsse_ecdsa_p256() -> dict[str, Any]:
    """ECDSA P-256/SHA-256 DSSE envelopes: happy paths and systematic mutations."""
    return _signature_document("ECDSA_P256_SHA256")
