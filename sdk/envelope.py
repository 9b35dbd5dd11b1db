"""DSSE v1 envelopes: sign serialized payloads once, verify the exact bytes received.

The public recipe (docs/spec/envelope.md)::

    env = sign(record.SerializeToString(), payload_type_for("record"), [signing_key])
    data = env.to_json()                          # or env.to_bytes() (binary protobuf)

    env = Envelope.from_json(data)                # structural checks and limits, no crypto
    record = verify_message(
        env, keys=sender_keys, expected_type=payload_type_for("record"),
        message_type=records_pb2.CreditRecord,
    )

Verification steps, in order (each raises on failure, nothing partial is returned):

1. structure and limits, when the :class:`Envelope` is built (before any crypto): 1 to 16
   signatures, payload of 1 byte to 16 MiB, payload type of 1 to 200 characters, signatures of
   1 to 4096 bytes, key id hints of at most 128 characters;
2. the payload type equals ``expected_type`` (reason ``PAYLOAD_TYPE_MISMATCH``);
3. PAE(payload_type, payload) is built over the payload bytes exactly as received;
4. each signature is checked against the trusted keys (its key id hint first, then every other
   key); a key counts once however many signatures it made, and verification succeeds when
   ``threshold`` distinct keys verified (reason ``INVALID_SIGNATURE`` otherwise);
5. only then, in :func:`verify_message`, is the payload parsed, strictly.

The algorithm of each signature is that of the trusted :class:`~creditlink.sdk.keys.PublicKey`;
nothing in the envelope selects it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple, TypeVar

from google.protobuf.message import DecodeError, Message

from creditlink.sdk._internal.pae import pae
from creditlink.sdk._internal.strict import has_unknown_fields, parse_strict, unknown_fields_in
from creditlink.sdk.errors import InvalidEnvelope, VerificationError
from creditlink.sdk.keys import KeyId, PrivateKey, PublicKey
from creditlink.v1 import envelope_pb2

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_BYTES",
    "Envelope",
    "Signature",
    "payload_type_for",
    "sign",
    "verify",
    "verify_message",
    "verify_signers",
]

#: Most signatures one envelope may carry (CXP-ENV-005).
MAX_SIGNATURES: Final = 16
#: Largest payload, in bytes (CXP-ENV-005).
MAX_PAYLOAD_BYTES: Final = 16 * 1024 * 1024
#: Longest signature, in bytes (an ML-DSA-65 signature is 3309).
MAX_SIGNATURE_BYTES: Final = 4096
#: Longest payload type, in characters.
MAX_PAYLOAD_TYPE_CHARS: Final = 200
#: Longest key id hint, in characters.
MAX_KEYID_CHARS: Final = 128
#: Largest serialized envelope accepted by :meth:`Envelope.from_bytes` (payload plus slack for
#: the largest signatures and framing).
MAX_ENVELOPE_BYTES: Final = MAX_PAYLOAD_BYTES + MAX_SIGNATURES * (MAX_SIGNATURE_BYTES + 256) + 512
#: Largest JSON document accepted by :meth:`Envelope.from_json` (base64 grows data by 4/3).
MAX_JSON_BYTES: Final = MAX_ENVELOPE_BYTES * 4 // 3 + 4096

_PAYLOAD_TYPE_PREFIX: Final = "application/vnd.creditlink."
_PAYLOAD_TYPE_SUFFIX: Final = ".v1+protobuf"
_JSON_KEYS: Final = frozenset({"payload", "payloadType", "signatures"})
_JSON_SIGNATURE_KEYS: Final = frozenset({"keyid", "sig"})
_URLSAFE_TO_STD: Final = bytes.maketrans(b"-_", b"+/")

M = TypeVar("M", bound=Message)


def payload_type_for(kind: str) -> str:
    """The payload type of a CXP message kind: ``application/vnd.creditlink.<kind>.v1+protobuf``.

    >>> payload_type_for("record")
    'application/vnd.creditlink.record.v1+protobuf'
    """
    if not kind or not all(c.isascii() and (c.islower() or c.isdigit() or c == "-") for c in kind):
        raise ValueError(f"payload kind must be lowercase ASCII letters, digits and '-': {kind!r}")
    return f"{_PAYLOAD_TYPE_PREFIX}{kind}{_PAYLOAD_TYPE_SUFFIX}"


class Signature(NamedTuple):
    """One DSSE signature: a key id hint (may be empty) and the raw signature bytes."""

    keyid: str
    sig: bytes


def _malformed(message: str) -> InvalidEnvelope:
    return InvalidEnvelope(message, reason="MALFORMED_ENVELOPE")


class Envelope:
    """A DSSE v1 envelope, checked for structure and limits when it is built.

    Build it with :meth:`from_json`, :meth:`from_bytes`, :meth:`from_proto` or
    :func:`sign`. The payload is kept exactly as received; nothing re-serializes it.
    """

    __slots__ = ("_payload", "_payload_type", "_signatures")

    _payload: bytes
    _payload_type: str
    _signatures: tuple[Signature, ...]

    def __init__(
        self, *, payload: bytes, payload_type: str, signatures: Iterable[Signature]
    ) -> None:
        """Check invariants (CXP-ENV-005); prefer the ``from_*`` constructors."""
        signatures = tuple(signatures)
        # Limits first, cheapest first, before anything looks at the contents.
        if not signatures:
            raise InvalidEnvelope("envelope has no signatures", reason="NO_SIGNATURES")
        if len(signatures) > MAX_SIGNATURES:
            raise InvalidEnvelope(
                f"envelope has {len(signatures)} signatures, at most {MAX_SIGNATURES} allowed",
                reason="LIMIT_EXCEEDED",
            )
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InvalidEnvelope(
                f"payload exceeds {MAX_PAYLOAD_BYTES} bytes", reason="LIMIT_EXCEEDED"
            )
        if not isinstance(payload, bytes) or not payload:
            raise _malformed("payload must be non-empty bytes")
        if (
            not isinstance(payload_type, str)
            or not payload_type
            or len(payload_type) > MAX_PAYLOAD_TYPE_CHARS
        ):
            raise _malformed(f"payload type must have 1 to {MAX_PAYLOAD_TYPE_CHARS} characters")
        for keyid, sig in signatures:
            if not isinstance(keyid, str) or len(keyid) > MAX_KEYID_CHARS:
                raise _malformed(f"key id hint must be a string of at most {MAX_KEYID_CHARS}")
            if not isinstance(sig, bytes) or not sig:
                raise _malformed("signature must be non-empty bytes")
            if len(sig) > MAX_SIGNATURE_BYTES:
                raise InvalidEnvelope(
                    f"signature exceeds {MAX_SIGNATURE_BYTES} bytes", reason="LIMIT_EXCEEDED"
                )
        self._payload = payload
        self._payload_type = payload_type
        self._signatures = signatures

    # -- accessors ------------------------------------------------------------------------------

    @property
    def payload(self) -> bytes:
        """The payload bytes exactly as received. NOT verified: use :func:`verify`."""
        return self._payload

    @property
    def payload_type(self) -> str:
        """The payload type as received (unauthenticated until :func:`verify`)."""
        return self._payload_type

    @property
    def signatures(self) -> tuple[Signature, ...]:
        """The signatures, in order."""
        return self._signatures

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Envelope):
            return NotImplemented
        return (
            self._payload == other._payload
            and self._payload_type == other._payload_type
            and self._signatures == other._signatures
        )

    def __hash__(self) -> int:
        return hash((self._payload, self._payload_type, self._signatures))

    def __repr__(self) -> str:
        return (
            f"Envelope(payload_type={self._payload_type!r}, payload=<{len(self._payload)} bytes>, "
            f"signatures={len(self._signatures)})"
        )

    # -- protobuf form --------------------------------------------------------------------------

    @classmethod
    def from_proto(cls, pb: envelope_pb2.Envelope) -> Envelope:
        """Build from a ``creditlink.v1.Envelope`` message (unknown fields are refused)."""
        if has_unknown_fields(pb):
            raise _malformed("envelope has unknown fields")
        return cls(
            payload=pb.payload,
            payload_type=pb.payload_type,
            signatures=[Signature(s.keyid, s.sig) for s in pb.signatures],
        )

    def to_proto(self) -> envelope_pb2.Envelope:
        """The ``creditlink.v1.Envelope`` message."""
        return envelope_pb2.Envelope(
            payload=self._payload,
            payload_type=self._payload_type,
            signatures=[envelope_pb2.Signature(keyid=k, sig=s) for k, s in self._signatures],
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse a binary ``creditlink.v1.Envelope`` (size-limited, strict)."""
        if len(data) > MAX_ENVELOPE_BYTES:
            raise InvalidEnvelope(
                f"envelope exceeds {MAX_ENVELOPE_BYTES} bytes", reason="LIMIT_EXCEEDED"
            )
        pb = envelope_pb2.Envelope()
        try:
            pb.ParseFromString(data)
        except DecodeError as exc:
            raise _malformed("not a valid creditlink.v1.Envelope") from exc
        if unknown_fields_in(pb, data):
            raise _malformed("envelope has unknown fields")
        return cls(
            payload=pb.payload,
            payload_type=pb.payload_type,
            signatures=[Signature(s.keyid, s.sig) for s in pb.signatures],
        )

    def to_bytes(self) -> bytes:
        """The binary ``creditlink.v1.Envelope`` (deterministic field order)."""
        return self.to_proto().SerializeToString(deterministic=True)

    # -- DSSE JSON form -------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Envelope:
        """Parse the DSSE JSON form (CXP-ENV-006).

        ``{"payload": b64, "payloadType": str, "signatures": [{"keyid": str, "sig": b64}]}``;
        ``keyid`` may be absent. Base64 may be standard or URL-safe, padded or not, but must be
        canonical (unused trailing bits zero); other keys, duplicate keys, non-string values,
        text that is not UTF-8 (a byte-order mark included) and strings holding an unpaired
        surrogate are refused with reason ``MALFORMED_ENVELOPE``. ``data`` is a JSON document
        (``bytes`` are decoded as UTF-8, nothing else) or an already decoded JSON object. The
        checks run in the order of CXP-ENV-010.
        """
        if isinstance(data, str | bytes):
            if len(data) > MAX_JSON_BYTES:
                raise InvalidEnvelope(
                    f"envelope JSON exceeds {MAX_JSON_BYTES} bytes", reason="LIMIT_EXCEEDED"
                )
            # UTF-8 only: json.loads would otherwise also take UTF-16/32 and a UTF-8 BOM. A
            # BOM decodes to U+FEFF, which json.loads refuses as the first character.
            if isinstance(data, bytes):
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _malformed("envelope JSON is not UTF-8") from exc
            elif _is_unicode(data):
                text = data
            else:
                raise _malformed("envelope JSON is not UTF-8 text (unpaired surrogate)")
            try:
                obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
            except (ValueError, RecursionError) as exc:
                raise _malformed("envelope is not valid JSON") from exc
        else:
            obj = data
        if not isinstance(obj, Mapping) or set(obj) != _JSON_KEYS:
            raise _malformed(f"envelope JSON must have exactly the keys {sorted(_JSON_KEYS)}")
        payload_type = obj["payloadType"]
        raw_signatures = obj["signatures"]
        if not isinstance(payload_type, str) or not _is_unicode(payload_type):
            raise _malformed("payloadType must be a string of Unicode scalar values")
        if not isinstance(raw_signatures, list):
            raise _malformed("signatures must be a list")
        if len(raw_signatures) > MAX_SIGNATURES:
            raise InvalidEnvelope(
                f"envelope has {len(raw_signatures)} signatures, at most {MAX_SIGNATURES} allowed",
                reason="LIMIT_EXCEEDED",
            )
        signatures = []
        for entry in raw_signatures:
            if (
                not isinstance(entry, Mapping)
                or "sig" not in entry
                or not set(entry).issubset(_JSON_SIGNATURE_KEYS)
            ):
                raise _malformed('each signature must be {"keyid": str, "sig": base64}')
            keyid = entry.get("keyid", "")
            if not isinstance(keyid, str) or not _is_unicode(keyid):
                raise _malformed("keyid must be a string of Unicode scalar values")
            signatures.append(Signature(keyid, _b64decode(entry["sig"], MAX_SIGNATURE_BYTES)))
        return cls(
            payload=_b64decode(obj["payload"], MAX_PAYLOAD_BYTES),
            payload_type=payload_type,
            signatures=signatures,
        )

    def to_dict(self) -> dict[str, Any]:
        """The DSSE JSON object, base64 standard alphabet with padding."""
        return {
            "payload": base64.b64encode(self._payload).decode("ascii"),
            "payloadType": self._payload_type,
            "signatures": [
                {"keyid": keyid, "sig": base64.b64encode(sig).decode("ascii")}
                for keyid, sig in self._signatures
            ],
        }

    def to_json(self) -> str:
        """The DSSE JSON document (compact, keys in DSSE order)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _is_unicode(text: str) -> bool:
    """Whether ``text`` has only Unicode scalar values (a JSON ``\\ud800`` escape does not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # A duplicated key would let two parsers see two different envelopes.
        raise ValueError("duplicate key in JSON object")
    return obj


def _b64decode(value: object, max_bytes: int) -> bytes:
    """Decode standard or URL-safe base64, padded or not; refuse non-canonical input."""
    if not isinstance(value, str):
        raise _malformed("base64 value must be a string")
    if len(value) > (max_bytes + 2) // 3 * 4:
        raise InvalidEnvelope(f"base64 value exceeds {max_bytes} bytes", reason="LIMIT_EXCEEDED")
    try:
        text = value.encode("ascii")
    except UnicodeEncodeError:
        raise _malformed("base64 value is not ASCII") from None
    urlsafe = b"-" in text or b"_" in text
    if urlsafe:
        if b"+" in text or b"/" in text:
            raise _malformed("base64 value mixes the standard and URL-safe alphabets")
        text = text.translate(_URLSAFE_TO_STD)
    unpadded = text.rstrip(b"=")
    if len(text) - len(unpadded) > 2 or (len(text) != len(unpadded) and len(text) % 4):
        raise _malformed("base64 value has invalid padding")
    if len(unpadded) % 4 == 1:
        raise _malformed("base64 value has an impossible length")
    try:
        raw = base64.b64decode(unpadded + b"=" * (-len(unpadded) % 4), validate=True)
    except binascii.Error:
        raise _malformed("base64 value is not valid base64") from None
    # Canonical only: non-zero unused bits would give one byte string several encodings.
    if base64.b64encode(raw).rstrip(b"=") != unpadded:
        raise _malformed("base64 value is not canonical (non-zero trailing bits)")
    return raw


# --------------------------------------------------------------------------------------------
# Signing and verification
# --------------------------------------------------------------------------------------------


def sign(payload: bytes, payload_type: str, signers: Sequence[PrivateKey]) -> Envelope:
    """Sign ``payload`` (already serialized, CXP-ENV-002) with every key in ``signers``.

    Each signature covers PAE(payload_type, payload) and carries its key's id as hint.
    """
    if not signers:
        raise ValueError("at least one signer is required")
    message = pae(payload_type, payload)
    return Envelope(
        payload=payload,
        payload_type=payload_type,
        signatures=[Signature(key.key_id, key.sign(message)) for key in signers],
    )


def _try_verify(key: PublicKey, sig: bytes, message: bytes) -> bool:
    try:
        key.verify(sig, message)
    except VerificationError:
        return False
    return True


def verify_signers(
    envelope: Envelope, *, keys: Sequence[PublicKey], expected_type: str, threshold: int = 1
) -> tuple[KeyId, ...]:
    """Like :func:`verify`, but return the ids of the distinct keys that verified.

    For callers that must know WHICH trusted key signed (e.g. to map it to a node and check a
    validity window); the payload is ``envelope.payload`` once this returns.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    # Step 2: the type the caller expects, before any crypto.
    if envelope._payload_type != expected_type:
        raise InvalidEnvelope(
            f"payload type {envelope._payload_type!r} is not the expected {expected_type!r}",
            reason="PAYLOAD_TYPE_MISMATCH",
        )
    # Step 3: PAE over the bytes exactly as received.
    message = pae(envelope._payload_type, envelope._payload)
    # Step 4: count distinct trusted keys. The hint only orders the attempts; a key that
    # already counted is skipped, so one key signing twice counts once (CXP-ENV-004).
    verified: list[KeyId] = []
    for hint, sig in envelope._signatures:
        found = None
        for key in keys:
            if key.key_id == hint and key.key_id not in verified and _try_verify(key, sig, message):
                found = key
                break
        else:
            for key in keys:
                if (
                    key.key_id != hint
                    and key.key_id not in verified
                    and _try_verify(key, sig, message)
                ):
                    found = key
                    break
        if found is not None:
            verified.append(found.key_id)
            if len(verified) >= threshold:
                return tuple(verified)
    raise InvalidEnvelope(
        f"{len(verified)} of the required {threshold} distinct trusted keys verified",
        reason="INVALID_SIGNATURE",
    )


def verify(
    envelope: Envelope, *, keys: Sequence[PublicKey], expected_type: str, threshold: int = 1
) -> bytes:
    """Verify ``envelope`` and return its payload bytes (steps 2-4 of the module docstring).

    ``keys`` are the trusted keys (their algorithms are theirs, CXP-ENV-003); ``threshold``
    distinct keys among them must have signed. Raises :class:`InvalidEnvelope` with reason
    ``PAYLOAD_TYPE_MISMATCH`` or ``INVALID_SIGNATURE``.
    """
    verify_signers(envelope, keys=keys, expected_type=expected_type, threshold=threshold)
    return envelope._payload


def verify_message(
    envelope: Envelope,
    *,
    keys: Sequence[PublicKey],
    expected_type: str,
    message_type: type[M],
    threshold: int = 1,
) -> M:
    """Verify ``envelope``, then parse its payload strictly as ``message_type`` (CXP-ENV-007).

    Raises :class:`InvalidEnvelope`; reason ``MALFORMED_PAYLOAD`` when the verified payload is
    not a valid ``message_type`` or holds fields that type does not define.
    """
    payload = verify(envelope, keys=keys, expected_type=expected_type, threshold=threshold)
    return parse_strict(message_type, payload)
