"""Sealing signed messages to their recipients with HPKE (RFC 9180), docs/spec/sealing.md.

Sign, then seal: the plaintext is an already-signed DSSE ``Envelope`` or ``SignedBatch``. One
fresh random content key encrypts it with AES-GCM (additional data: the exact serialized
``SealHeader``); the content key is wrapped once per recipient with HPKE base mode, single-shot,
under the recipient's sealing key, with an ``info`` that binds protocol, sender, recipient, key id
and the header digest::

    sealed = seal(envelope_bytes, content_type=ENVELOPE_CONTENT_TYPE,
                  sender_node_id="zj-330000", recipients=[Recipient("cn-hub", hub_key)])
    opened = open_sealed(sealed, node_id="cn-hub", keys=hub_key_set)
    # opened.plaintext is still a *signed* envelope: verify it before acting on it.

The suite is never negotiated: the algorithm of the recipient's sealing key (from its trust-bundle
key record) fixes it, and the suite number in the header is only compared with that.
:func:`open_sealed` raises one :class:`SealError` for every failure, with the same message and
reason whatever the cause, so it cannot serve as a decryption oracle; the finer cause goes only to
the debug log and to the exception's private ``_cause`` attribute (for local metrics).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from creditlink.sdk._internal.strict import parse_strict
from creditlink.sdk.errors import CreditlinkError, SealError
from creditlink.sdk.ids import is_valid_node_id
from creditlink.sdk.keys import Algorithm, KeySet, SealingPrivateKey, SealingPublicKey
from creditlink.v1 import envelope_pb2

__all__ = [
    "ENVELOPE_CONTENT_TYPE",
    "INFO_LABEL",
    "MAX_RECIPIENTS",
    "NONCE_LENGTH",
    "OPEN_FAILED_MESSAGE",
    "PROTOCOL",
    "SIGNED_BATCH_CONTENT_TYPE",
    "SUITE_DEFAULT",
    "SUITE_HYBRID",
    "OpenedEnvelope",
    "Recipient",
    "SealSuiteSpec",
    "SealedEnvelope",
    "open_sealed",
    "seal",
    "seal_info",
    "suite_for",
]

_log = logging.getLogger(__name__)

#: ``SealHeader.protocol`` (CXP-SEAL-009).
PROTOCOL: Final = "cxp/v1"
#: Content type of a sealed serialized DSSE ``Envelope`` (CXP-SEAL-001).
ENVELOPE_CONTENT_TYPE: Final = "application/vnd.creditlink.envelope.v1+protobuf"
#: Content type of a sealed serialized ``SignedBatch`` (CXP-SEAL-001).
SIGNED_BATCH_CONTENT_TYPE: Final = "application/vnd.creditlink.signed-batch.v1+protobuf"
#: Most recipients one sealed envelope may name (CXP-SEAL-008).
MAX_RECIPIENTS: Final = 64
#: The one message every failure of :func:`open_sealed` carries (CXP-SEAL-013).
OPEN_FAILED_MESSAGE: Final = "sealed envelope could not be opened"

#: Label that opens every HPKE ``info`` (CXP-SEAL-007).
INFO_LABEL: Final = b"cxp/v1 seal"
#: AES-GCM nonce length of the content cipher.
NONCE_LENGTH: Final = 12
_TAG_LENGTH = 16
_MAX_HEADER_LENGTH = 65536
_MIN_ENC_LENGTH = 32
_MAX_ENC_LENGTH = 4096
_MAX_CONTENT_TYPE_LENGTH = 200
_MAX_SEAL_ID_LENGTH = 64
_CONTENT_TYPES = frozenset({ENVELOPE_CONTENT_TYPE, SIGNED_BATCH_CONTENT_TYPE})
# CXP-ID-006 (node ids) and CXP-KEY-001 (key ids). Both exclude 0x00, which keeps the
# 0x00-separated HPKE info unambiguous (CXP-SEAL-009).
_KEY_ID_RE = re.compile(r"[0-9a-f]{32}")


# --------------------------------------------------------------------------------------------
# Suites
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealSuiteSpec:
    """One allowed sealing suite: HPKE KEM, KDF and AEAD plus the content cipher.

    Built only from cryptography's HPKE enum members (anything else raises ``TypeError``, as
    ``hpke.Suite`` does). The content cipher is AES-GCM with a ``content_key_length``-byte key,
    the same strength as the suite's HPKE AEAD. ``proto_value`` is the ``SealSuite`` number put
    in the header; ``key_algorithm`` is the sealing-key algorithm that selects this suite.
    """

    name: str
    kem: hpke.KEM
    kdf: hpke.KDF
    aead: hpke.AEAD
    content_key_length: int
    proto_value: int
    key_algorithm: Algorithm
    _hpke: hpke.Suite = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kem, hpke.KEM):
            raise TypeError("kem must be a cryptography hpke.KEM member")
        if not isinstance(self.kdf, hpke.KDF):
            raise TypeError("kdf must be a cryptography hpke.KDF member")
        if not isinstance(self.aead, hpke.AEAD):
            raise TypeError("aead must be a cryptography hpke.AEAD member")
        if not isinstance(self.key_algorithm, Algorithm):
            raise TypeError("key_algorithm must be an Algorithm member")
        if self.content_key_length not in (16, 32):
            raise ValueError("content_key_length must be 16 (AES-128-GCM) or 32 (AES-256-GCM)")
        # Built once: the suite object is immutable and reused for every wrap and unwrap.
        object.__setattr__(self, "_hpke", hpke.Suite(self.kem, self.kdf, self.aead))


#: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM; content AES-128-GCM (the default).
SUITE_DEFAULT: Final = SealSuiteSpec(
    name="DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM",
    kem=hpke.KEM.X25519,
    kdf=hpke.KDF.HKDF_SHA256,
    aead=hpke.AEAD.AES_128_GCM,
    content_key_length=16,
    proto_value=envelope_pb2.SEAL_SUITE_X25519_SHA256_AES128GCM,
    key_algorithm=Algorithm.X25519_HPKE,
)

#: ML-KEM-768 + X25519 hybrid KEM, HKDF-SHA256, AES-256-GCM; content AES-256-GCM (optional,
#: post-quantum confidentiality).
SUITE_HYBRID: Final = SealSuiteSpec(
    name="MLKEM768-X25519, HKDF-SHA256, AES-256-GCM",
    kem=hpke.KEM.MLKEM768_X25519,
    kdf=hpke.KDF.HKDF_SHA256,
    aead=hpke.AEAD.AES_256_GCM,
    content_key_length=32,
    proto_value=envelope_pb2.SEAL_SUITE_MLKEM768X25519_SHA256_AES256GCM,
    key_algorithm=Algorithm.MLKEM768_X25519_HPKE,
)

_SUITES: Final = {s.key_algorithm: s for s in (SUITE_DEFAULT, SUITE_HYBRID)}


def suite_for(algorithm: Algorithm) -> SealSuiteSpec:
    """The suite a sealing key of ``algorithm`` uses (CXP-SEAL-002).

    Raises ``ValueError`` for an algorithm that is not a sealing algorithm.
    """
    try:
        return _SUITES[algorithm]
    except KeyError:
        raise ValueError(f"{algorithm.name} is not a sealing algorithm") from None


# --------------------------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """A node to seal to and its sealing key (from the node's trust-bundle key record)."""

    node_id: str
    key: SealingPublicKey


@dataclass(frozen=True)
class OpenedEnvelope:
    """What :func:`open_sealed` returns: the authenticated header fields and the plaintext.

    ``plaintext`` is the still-signed ``Envelope`` or ``SignedBatch`` (per ``content_type``);
    sealing hides it, it does not authenticate the sender, so verify it before acting on it. It
    is left out of ``repr`` so that logging this object never logs message content.
    """

    sender_node_id: str
    content_type: str
    recipients: tuple[str, ...]
    seal_id: str
    sealed_at: datetime
    plaintext: bytes = field(repr=False)


class SealedEnvelope:
    """A sealed message (proto ``creditlink.v1.SealedEnvelope``).

    Build it with :func:`seal`, :meth:`from_bytes` or :meth:`from_proto`. Construction checks the
    structural limits of the contract and raises the uniform :class:`SealError` on a violation.
    Nothing in it is authenticated until :func:`open_sealed` succeeds, so it exposes no fields.
    """

    __slots__ = ("_inner",)

    _inner: envelope_pb2.SealedEnvelope

    def __init__(self, *, _inner: envelope_pb2.SealedEnvelope) -> None:
        """Private: use :func:`seal`, :meth:`from_bytes` or :meth:`from_proto`."""
        cause = _structure_fault(_inner)
        if cause is not None:
            _fail(cause)
        self._inner = _inner

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedEnvelope:
        """Parse the binary encoding strictly (unknown fields are refused, CXP-SEAL-011)."""
        try:
            inner = parse_strict(envelope_pb2.SealedEnvelope, bytes(data))
        except CreditlinkError:
            _fail("MALFORMED_SEALED_ENVELOPE")
        return cls(_inner=inner)

    @classmethod
    def from_proto(cls, pb: envelope_pb2.SealedEnvelope) -> SealedEnvelope:
        """Wrap a copy of ``pb`` (later changes to ``pb`` do not affect the wrapper)."""
        inner = envelope_pb2.SealedEnvelope()
        inner.CopyFrom(pb)
        return cls(_inner=inner)

    def to_proto(self) -> envelope_pb2.SealedEnvelope:
        """A copy of the underlying message."""
        pb = envelope_pb2.SealedEnvelope()
        pb.CopyFrom(self._inner)
        return pb

    def to_bytes(self) -> bytes:
        """The binary protobuf encoding."""
        return self._inner.SerializeToString(deterministic=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SealedEnvelope):
            return NotImplemented
        return self._inner == other._inner

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        # Nothing here is authenticated, and the header names the parties: show sizes only.
        return (
            f"SealedEnvelope(recipients={len(self._inner.wrapped_keys)}, "
            f"ciphertext={len(self._inner.ciphertext)} bytes)"
        )


# --------------------------------------------------------------------------------------------
# Sealing
# --------------------------------------------------------------------------------------------


def seal(
    plaintext: bytes,
    *,
    content_type: str,
    sender_node_id: str,
    recipients: Sequence[Recipient],
    now: datetime | None = None,
    seal_id: str | None = None,
) -> SealedEnvelope:
    """Seal an already-signed message to ``recipients`` (docs/spec/sealing.md §4).

    ``plaintext`` must be a serialized, signed ``Envelope`` (``content_type`` =
    :data:`ENVELOPE_CONTENT_TYPE`) or ``SignedBatch`` (:data:`SIGNED_BATCH_CONTENT_TYPE`):
    signing comes first, so the signature survives opening. Each recipient's key algorithm
    fixes the suite; all recipients must share it. ``now`` (default: the current time) is
    recorded as ``sealed_at``; ``seal_id`` defaults to a random UUID.

    Raises ``ValueError`` for arguments that break the contract: an unknown content type, a
    plaintext that is not a signed message of that type, no or more than 64 recipients, a
    node named twice, malformed node or key ids, mixed suites.
    """
    plaintext = bytes(plaintext)
    _check_signed_plaintext(plaintext, content_type)
    _check_node_id("sender_node_id", sender_node_id)
    if not recipients:
        raise ValueError("at least one recipient is required")
    if len(recipients) > MAX_RECIPIENTS:
        raise ValueError(f"at most {MAX_RECIPIENTS} recipients are allowed")
    seen: set[str] = set()
    for recipient in recipients:
        _check_node_id("recipient node id", recipient.node_id)
        if recipient.node_id in seen:
            raise ValueError(f"recipient {recipient.node_id!r} is named twice")
        seen.add(recipient.node_id)
    suites = {suite_for(r.key.algorithm) for r in recipients}
    if len(suites) != 1:
        raise ValueError("all recipients of one sealed envelope must use the same suite")
    (suite,) = suites
    when = _aware_now(now)
    seal_id = str(uuid.uuid4()) if seal_id is None else seal_id
    if len(seal_id) > _MAX_SEAL_ID_LENGTH:
        raise ValueError(f"seal_id is longer than {_MAX_SEAL_ID_LENGTH} characters")

    header = envelope_pb2.SealHeader(
        protocol=PROTOCOL,
        sender_node_id=sender_node_id,
        content_type=content_type,
        recipients=[
            envelope_pb2.SealRecipient(node_id=r.node_id, key_id=r.key.key_id) for r in recipients
        ],
        suite=envelope_pb2.SealSuite.ValueType(suite.proto_value),
        nonce=os.urandom(NONCE_LENGTH),
        seal_id=seal_id,
    )
    header.sealed_at.FromDatetime(when.astimezone(UTC))
    # Serialized once; these exact bytes are sent, bound as AEAD additional data and hashed
    # into every info (CXP-SEAL-005).
    header_bytes = header.SerializeToString(deterministic=True)
    header_digest = hashlib.sha256(header_bytes).digest()

    content_key = AESGCM.generate_key(bit_length=suite.content_key_length * 8)
    ciphertext = AESGCM(content_key).encrypt(header.nonce, plaintext, header_bytes)
    wrapped = [
        envelope_pb2.WrappedKey(
            node_id=r.node_id,
            key_id=r.key.key_id,
            enc=suite._hpke.encrypt(
                content_key,
                r.key._hpke_public,
                info=seal_info(sender_node_id, r.node_id, r.key.key_id, header_digest),
            ),
        )
        for r in recipients
    ]
    return SealedEnvelope(
        _inner=envelope_pb2.SealedEnvelope(
            header=header_bytes, wrapped_keys=wrapped, ciphertext=ciphertext
        )
    )


def seal_info(
    sender_node_id: str, recipient_node_id: str, recipient_key_id: str, header_digest: bytes
) -> bytes:
    """HPKE ``info`` for one recipient (CXP-SEAL-007).

    ``"cxp/v1 seal" 0x00 sender 0x00 recipient 0x00 key_id 0x00 SHA-256(header)``, strings as
    UTF-8. Node and key ids never contain 0x00, so the encoding is injective.
    """
    return b"\x00".join(
        (
            INFO_LABEL,
            sender_node_id.encode("utf-8"),
            recipient_node_id.encode("utf-8"),
            recipient_key_id.encode("utf-8"),
            header_digest,
        )
    )


# --------------------------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------------------------


def open_sealed(
    sealed: SealedEnvelope | bytes,
    *,
    node_id: str,
    keys: KeySet | Sequence[SealingPrivateKey],
    expected_sender: str | None = None,
    now: datetime | None = None,
) -> OpenedEnvelope:
    """Open a sealed envelope addressed to ``node_id`` (docs/spec/sealing.md §5).

    ``keys`` are the node's sealing private keys: a :class:`KeySet` (a key opens while it is
    valid at ``now``, default the current time) or a plain sequence (every key is usable).
    With ``expected_sender`` the header's sender must be that node.

    Steps, in this order, each ending in the same :class:`SealError` on failure:

    1. parse the envelope strictly and check its structural limits (bytes input);
    2. parse the header bytes strictly, check ``protocol`` is ``cxp/v1`` and the field rules
       (ids, content type, recipients unique and at most 64, 12-byte nonce, ``sealed_at``);
    3. check the sender if ``expected_sender`` is given;
    4. check ``wrapped_keys`` name the header's recipients, same count, order, node and key ids;
    5. find ``node_id`` among the recipients and a private key with that entry's key id;
    6. check the header's suite equals the suite that key's algorithm fixes;
    7. unwrap the content key with HPKE (info as in :func:`seal_info`) and check its length;
    8. decrypt the ciphertext with AES-GCM, nonce from the header, aad = the header bytes.

    Returns an :class:`OpenedEnvelope` whose plaintext must still be signature-verified.
    """
    # Argument errors are the caller's bug, not a property of the message: they raise here,
    # before any processing, and are not disguised as SealError.
    when = _aware_now(now)

    # 1. Outer structure.
    if not isinstance(sealed, SealedEnvelope):
        sealed = SealedEnvelope.from_bytes(sealed)
    inner = sealed._inner
    header_bytes = inner.header

    # 2. Header: parse strictly; every value below comes from these exact bytes.
    try:
        header = parse_strict(envelope_pb2.SealHeader, header_bytes)
    except CreditlinkError:
        _fail("MALFORMED_HEADER")
    if header.protocol != PROTOCOL:
        _fail("PROTOCOL_MISMATCH")
    cause = _header_fault(header)
    if cause is not None:
        _fail(cause)

    # 3. Sender.
    if expected_sender is not None and header.sender_node_id != expected_sender:
        _fail("UNEXPECTED_SENDER")

    # 4. Wrapped keys align with the (authenticated) recipient list.
    if len(inner.wrapped_keys) != len(header.recipients):
        _fail("RECIPIENTS_MISALIGNED")
    for named, wrapped in zip(header.recipients, inner.wrapped_keys, strict=True):
        if wrapped.node_id != named.node_id or wrapped.key_id != named.key_id:
            _fail("RECIPIENTS_MISALIGNED")

    # 5. Our entry and our key.
    index = next((i for i, r in enumerate(header.recipients) if r.node_id == node_id), None)
    if index is None:
        _fail("NOT_A_RECIPIENT")
    entry = inner.wrapped_keys[index]
    private_key = _find_key(keys, entry.key_id, when)
    if private_key is None:
        _fail("NO_MATCHING_KEY")

    # 6. The key fixes the suite; the header's value is only compared with it.
    suite = _SUITES.get(private_key.algorithm)
    if suite is None or header.suite != suite.proto_value:
        _fail("SUITE_MISMATCH")

    # 7. Unwrap the content key.
    info = seal_info(
        header.sender_node_id, entry.node_id, entry.key_id, hashlib.sha256(header_bytes).digest()
    )
    try:
        content_key = suite._hpke.decrypt(entry.enc, private_key._hpke_private, info=info)
    except (InvalidTag, ValueError):
        _fail("UNWRAP_FAILED")
    if len(content_key) != suite.content_key_length:
        _fail("CONTENT_KEY_LENGTH")

    # 8. Decrypt the content (AES-GCM checks the tag before releasing any plaintext).
    try:
        plaintext = AESGCM(content_key).decrypt(header.nonce, inner.ciphertext, header_bytes)
    except (InvalidTag, ValueError):
        _fail("DECRYPT_FAILED")

    return OpenedEnvelope(
        sender_node_id=header.sender_node_id,
        content_type=header.content_type,
        recipients=tuple(r.node_id for r in header.recipients),
        seal_id=header.seal_id,
        sealed_at=header.sealed_at.ToDatetime(tzinfo=UTC),
        plaintext=plaintext,
    )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _fail(cause: str) -> NoReturn:
    """Raise the one uniform open error; ``cause`` goes to the debug log and ``_cause`` only.

    ``cause`` is one of this module's fixed UPPER_SNAKE strings, never input data, so neither
    the log nor the exception can carry plaintext, key material or attacker-chosen text.
    """
    _log.debug("sealed envelope rejected: %s", cause)
    error = SealError(OPEN_FAILED_MESSAGE)
    # SealError (sdk/errors.py) declares no slot for the cause; private by design, not in str().
    error._cause = cause
    # ``from None``: a chained InvalidTag or DecodeError would show the cause in tracebacks.
    raise error from None


def _structure_fault(inner: envelope_pb2.SealedEnvelope) -> str | None:
    """The first violated structural limit of the contract (CXP-SEAL-011), or None."""
    if not 1 <= len(inner.header) <= _MAX_HEADER_LENGTH:
        return "MALFORMED_SEALED_ENVELOPE"
    if not 1 <= len(inner.wrapped_keys) <= MAX_RECIPIENTS:
        return "MALFORMED_SEALED_ENVELOPE"
    if len(inner.ciphertext) < _TAG_LENGTH:
        return "MALFORMED_SEALED_ENVELOPE"
    for wrapped in inner.wrapped_keys:
        if not _MIN_ENC_LENGTH <= len(wrapped.enc) <= _MAX_ENC_LENGTH:
            return "MALFORMED_SEALED_ENVELOPE"
    return None


def _header_fault(header: envelope_pb2.SealHeader) -> str | None:
    """The first violated header rule (CXP-SEAL-001, -008, -009), or None."""
    if not _is_node_id(header.sender_node_id):
        return "HEADER_CONSTRAINT"
    if header.content_type not in _CONTENT_TYPES:
        return "UNSUPPORTED_CONTENT_TYPE"
    if not 1 <= len(header.recipients) <= MAX_RECIPIENTS:
        return "HEADER_CONSTRAINT"
    node_ids = [r.node_id for r in header.recipients]
    if len(set(node_ids)) != len(node_ids):
        return "HEADER_CONSTRAINT"
    for recipient in header.recipients:
        if not _is_node_id(recipient.node_id) or not _KEY_ID_RE.fullmatch(recipient.key_id):
            return "HEADER_CONSTRAINT"
    if len(header.nonce) != NONCE_LENGTH:
        return "HEADER_CONSTRAINT"
    if not header.HasField("sealed_at") or not _valid_timestamp(header):
        return "HEADER_CONSTRAINT"
    if len(header.seal_id) > _MAX_SEAL_ID_LENGTH:
        return "HEADER_CONSTRAINT"
    # The suite number is checked against the key in step 6; here only "unset" is refused.
    if header.suite == envelope_pb2.SEAL_SUITE_UNSPECIFIED:
        return "HEADER_CONSTRAINT"
    return None


def _valid_timestamp(header: envelope_pb2.SealHeader) -> bool:
    try:
        header.sealed_at.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        return False
    return 0 <= header.sealed_at.nanos <= 999_999_999


def _find_key(
    keys: KeySet | Sequence[SealingPrivateKey], key_id: str, when: datetime
) -> SealingPrivateKey | None:
    """The private key with ``key_id`` usable at ``when``, or None."""
    if isinstance(keys, KeySet):
        try:
            found = keys.find(key_id, when)
        except CreditlinkError:
            return None
        # A key set of another purpose could hold a signing key with that id.
        return found if isinstance(found, SealingPrivateKey) else None
    return next((k for k in keys if k.key_id == key_id), None)


def _check_signed_plaintext(plaintext: bytes, content_type: str) -> None:
    """Refuse to seal anything but a signed message of ``content_type`` (CXP-SEAL-001)."""
    try:
        if content_type == ENVELOPE_CONTENT_TYPE:
            envelope = parse_strict(envelope_pb2.Envelope, plaintext)
            signed = bool(envelope.signatures)
        elif content_type == SIGNED_BATCH_CONTENT_TYPE:
            batch = parse_strict(envelope_pb2.SignedBatch, plaintext)
            signed = batch.HasField("head") and bool(batch.head.signatures) and bool(batch.items)
        else:
            raise ValueError(f"content type {content_type!r} cannot be sealed")
    except CreditlinkError as exc:
        raise ValueError(f"plaintext is not a serialized message of {content_type}") from exc
    if not signed:
        raise ValueError("plaintext carries no signature: sign before sealing")


def _is_node_id(value: str) -> bool:
    return is_valid_node_id(value)


def _check_node_id(name: str, value: str) -> None:
    if not _is_node_id(value):
        raise ValueError(f"{name} {value!r} is not a valid node id (CXP-ID-006)")


def _aware_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now
