"""The federation trust bundle: who is in the federation, with which keys, allowed to do what.

A trust bundle (docs/spec/trust-bundle.md) is the federation's configuration, like X-Road's global
configuration or a TUF root: a signed, versioned, expiring list of nodes (id, region, kind,
endpoints, TLS identity pins, signing/sealing/checkpoint keys with validity windows, permissions)
plus key revocations, signed by the federation root keys with a threshold. It travels as a DSSE
:class:`~creditlink.sdk.envelope.Envelope` with payload type
``application/vnd.creditlink.trust-bundle.v1+protobuf`` whose payload is a serialized
``creditlink.v1.TrustBundle``.

A :class:`TrustBundle` exists only once verified. Bootstrap from root keys pinned out of band,
then follow updates, each verified under the previous version's roots (TUF root rotation)::

    bundle = TrustBundle.from_envelope(env, trusted_roots=pinned, threshold=2, now=now)
    bundle = bundle.verify_update(next_env, now=now)          # version N -> N+1 only
    keys = bundle.signing_keys("zj-330000", kind="record", at=signed_at)

Building and signing a bundle (dev federation, tests, operators) is :class:`TrustBundleBuilder`.
Every rejection is an :class:`~creditlink.sdk.errors.InvalidTrustBundle` whose ``reason`` is one
of the ``TRUST_BUNDLE_*`` codes listed in the spec.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from creditlink.sdk import envelope as _envelope
from creditlink.sdk._internal.strict import parse_strict
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import InvalidEnvelope, InvalidKey, InvalidTrustBundle
from creditlink.sdk.ids import validate_node_id, validate_region_code, validate_uscc
from creditlink.sdk.keys import (
    KeyId,
    KeyRecord,
    PrivateKey,
    PublicKey,
    Purpose,
    SealingPublicKey,
)
from creditlink.v1 import trust_pb2

__all__ = [
    "INFRASTRUCTURE_KINDS",
    "MAX_CHAIN_LENGTH",
    "MAX_CLOCK_SKEW",
    "TRUST_BUNDLE_PAYLOAD_TYPE",
    "Action",
    "NodeInfo",
    "NodeKind",
    "RevocationReason",
    "TrustBundle",
    "TrustBundleBuilder",
    "load_trust_bundle",
    "read_trust_bundle_envelope",
    "save_trust_bundle",
]

#: DSSE payload type of a signed trust bundle (CXP-TRUST-001).
TRUST_BUNDLE_PAYLOAD_TYPE: Final = "application/vnd.creditlink.trust-bundle.v1+protobuf"

#: How far ``issued_at`` may lie ahead of the verifier's clock (CXP-TRUST-010).
MAX_CLOCK_SKEW: Final = timedelta(minutes=5)

#: Most versions one :meth:`TrustBundle.verify_update_chain` call applies (TUF caps root
#: rotations per update the same way, at 256), so a peer cannot make a node verify without end.
MAX_CHAIN_LENGTH: Final = 256

#: Kinds a node signs with its SIGN keys as part of running the protocol, needing no PUBLISH
#: permission (CXP-TRUST-023): ``receipt`` (only nodes that keep a log) and ``batch-head``
#: (every item of a batch is authorized on its own kind).
INFRASTRUCTURE_KINDS: Final = frozenset({"receipt", "batch-head"})

# Kinds never signed by a node's SIGN key: a trust bundle is signed by root keys, a checkpoint
# is a signed note under a CHECKPOINT key (see checkpoint_keys).
_NEVER_NODE_SIGNED_KINDS: Final = frozenset({"trust-bundle", "checkpoint"})

# Reason codes (docs/spec/trust-bundle.md, "Rejections").
_SIGNATURE: Final = "TRUST_BUNDLE_SIGNATURE"
_ROLLBACK: Final = "TRUST_BUNDLE_ROLLBACK"
_EXPIRED: Final = "TRUST_BUNDLE_EXPIRED"
_NOT_YET_VALID: Final = "TRUST_BUNDLE_NOT_YET_VALID"
_GAP: Final = "TRUST_BUNDLE_VERSION_GAP"
_FEDERATION: Final = "TRUST_BUNDLE_FEDERATION_MISMATCH"
_MALFORMED: Final = "TRUST_BUNDLE_MALFORMED"

# Limits from proto/creditlink/v1/trust.proto (its protovalidate annotations), enforced here
# because no protovalidate runtime runs in the SDK.
_MAX_ROOT_KEYS: Final = 16
_MAX_NODES: Final = 4096
_MAX_REVOCATIONS: Final = 4096
_MAX_NODE_KEYS: Final = 64
_MAX_PERMISSIONS: Final = 64
_MAX_PERMISSION_KINDS: Final = 64
_MAX_PERMISSION_SCOPES: Final = 256
_MAX_ENDPOINTS: Final = 16
_MAX_TLS_PINS: Final = 8
_MAX_FEDERATION_ID: Final = 64
_MAX_DISPLAY_NAME: Final = 256
_MAX_SECTOR: Final = 64
_MAX_LOG_ORIGIN: Final = 256
_MAX_NOTE_NAME: Final = 256
_MAX_COMMENT: Final = 1024
# A bundle file larger than this is refused before it is read (4096 nodes x 64 keys fit).
_MAX_FILE_BYTES: Final = 64 * 1024 * 1024

# Timestamp range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
_MIN_SECONDS: Final = -62_135_596_800
_MAX_SECONDS: Final = 253_402_300_799

# `kind` of a payload type and `<name>` of a sector: lowercase words joined by single hyphens.
_WORD_LIST_RE: Final = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# Endpoint grammar (CXP-TRUST-032): `host:port`, host a DNS name, a dotted-decimal IPv4
# address or a bracketed IPv6 address; port 1-65535 without leading zeros. ASCII only: in a
# `str` pattern `[0-9]` and `[A-Za-z]` are literal ranges, unlike `\d` or `\w`.
_PORT_RE: Final = re.compile(r"[1-9][0-9]{0,4}")
_IPV4_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE: Final = re.compile(rf"{_IPV4_OCTET}(?:\.{_IPV4_OCTET}){{3}}")
_IPV6_CHARS_RE: Final = re.compile(r"[0-9A-Fa-f:.]+")
_DNS_LABEL_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_MAX_DNS_NAME: Final = 253
_NATIONAL_REGION: Final = "100000"
_KEY_ID_RE: Final = re.compile(r"[0-9a-f]{32}")


class NodeKind(enum.Enum):
    """Role of a node; values are the proto ``NodeKind`` numbers."""

    HUB = 1
    REGIONAL = 2
    SECTORAL = 3
    CREDIT_SERVICE = 4
    CLIENT = 5


class Action(enum.Enum):
    """What a permission grants; values are the proto ``PermissionAction`` numbers."""

    PUBLISH = 1
    READ = 2
    DETERMINE = 3
    ISSUE_REPORTS = 4
    WITNESS = 5


class RevocationReason(enum.Enum):
    """Why a key was revoked; values are the proto ``RevocationReason`` numbers."""

    KEY_COMPROMISE = 1
    SUPERSEDED = 2
    CESSATION = 3


@dataclass(frozen=True)
class NodeInfo:
    """A read-only view of one federation member (proto ``Node`` without keys and permissions)."""

    node_id: str
    display_name: str
    region_code: str
    kind: NodeKind
    sector: str
    endpoints: tuple[str, ...]
    tls_spki_sha256: tuple[bytes, ...]
    log_origin: str


# --------------------------------------------------------------------------------------------
# Scopes (CXP-TRUST-031)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """A parsed scope: ``type`` is ``*``, ``region``, ``sector`` or ``authority``."""

    type: str
    value: str
    # For regions: the prefix of the codes this scope covers (see _region_prefix).
    prefix: str = ""

    def covers(self, subject: _Scope) -> bool:
        if self.type == "*":
            return True
        if self.type != subject.type:
            return False
        if self.type == "region":
            return subject.value.startswith(self.prefix)
        return self.value == subject.value


def _region_prefix(code: str) -> str:
    """The prefix a region permission covers: the code without trailing ``00`` pairs.

    ``330000`` -> ``33`` (the province and everything in it), ``330100`` -> ``3301``,
    ``330106`` -> ``330106``. ``100000`` is the national level and covers every code (``""``).
    """
    if code == _NATIONAL_REGION:
        return ""
    prefix = code
    while prefix.endswith("00"):
        prefix = prefix[:-2]
    return prefix


def _parse_scope(text: str) -> _Scope:
    """Parse ``*``, ``region:<code>``, ``sector:<name>`` or ``authority:<USCC>``.

    Raises ValueError for anything else, including values not in their canonical form.
    """
    if text == "*":
        return _Scope("*", "")
    scope_type, sep, value = text.partition(":")
    if not sep:
        raise ValueError(f"scope {text!r} is not '*' or '<type>:<value>'")
    try:
        if scope_type == "region":
            if validate_region_code(value) != value:
                raise ValueError("region code is not in its compact form")
            return _Scope("region", value, _region_prefix(value))
        if scope_type == "sector":
            if not _WORD_LIST_RE.fullmatch(value) or len(value) > _MAX_SECTOR:
                raise ValueError("sector must be lowercase words joined by '-'")
            return _Scope("sector", value)
        if scope_type == "authority":
            if validate_uscc(value) != value:
                raise ValueError("USCC is not in its compact form")
            return _Scope("authority", value)
    except ValueError as exc:  # includes InvalidIdentifier
        raise ValueError(f"scope {text!r}: {exc}") from exc
    raise ValueError(f"scope {text!r} has unknown type {scope_type!r}")


#: Most answers :meth:`TrustBundle.signing_keys` keeps per bundle.
_SIGNING_MEMO_SIZE: Final = 4096


def _check_kind(kind: str, *, wildcard: bool) -> None:
    if wildcard and kind == "*":
        return
    if not _WORD_LIST_RE.fullmatch(kind) or len(kind) > 64:
        raise ValueError(f"kind {kind!r} is not lowercase words joined by '-'")


# --------------------------------------------------------------------------------------------
# Parsing and structural validation of a verified payload (CXP-TRUST-006..008)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Permission:
    action: Action
    kinds: frozenset[str]
    scopes: tuple[_Scope, ...]

    def covers_kind(self, kind: str) -> bool:
        return "*" in self.kinds or kind in self.kinds


@dataclass(frozen=True)
class _Node:
    info: NodeInfo
    keys: tuple[KeyRecord, ...]
    permissions: tuple[_Permission, ...]


@dataclass(frozen=True)
class _Parsed:
    """A structurally valid bundle, indexed for lookups."""

    federation_id: str
    version: int
    issued_at: datetime
    expires_at: datetime
    root_keys: tuple[KeyRecord, ...]
    root_threshold: int
    nodes: dict[str, _Node]
    tls_pins: dict[bytes, str]
    revoked_at: dict[str, datetime]


def _malformed(message: str) -> InvalidTrustBundle:
    return InvalidTrustBundle(message, reason=_MALFORMED)


def _timestamp_to_datetime(ts: Timestamp, what: str) -> datetime:
    # Python datetimes hold microseconds: a finer timestamp would be silently truncated and
    # could move a validity boundary, so it is refused instead (CXP-TRUST-008).
    if not _MIN_SECONDS <= ts.seconds <= _MAX_SECONDS or not 0 <= ts.nanos < 1_000_000_000:
        raise _malformed(f"{what} is outside the Timestamp range")
    if ts.nanos % 1000:
        raise _malformed(f"{what} has sub-microsecond precision")
    return ts.ToDatetime(tzinfo=UTC)


def _key_record(pb: trust_pb2.KeyRecord, what: str) -> KeyRecord:
    for name in ("not_before", "not_after"):
        if not pb.HasField(name):
            raise _malformed(f"{what} lacks {name}")
        _timestamp_to_datetime(getattr(pb, name), f"{what}.{name}")
    if len(pb.note_name) > _MAX_NOTE_NAME:
        raise _malformed(f"{what}.note_name is longer than {_MAX_NOTE_NAME} characters")
    try:
        record = KeyRecord.from_proto(pb)
    except InvalidKey as exc:
        raise _malformed(f"{what}: {exc.args[0]}") from exc
    if record.purpose is Purpose.CHECKPOINT and not _is_note_key_name(record.note_name):
        raise _malformed(f"{what}: a CHECKPOINT key needs a signed-note key name")
    return record


def _is_note_key_name(name: str) -> bool:
    # C2SP signed-note key names (log.md, CXP-LOG-011): non-empty, no whitespace, no '+', and no
    # control character U+0000-U+001F (a note cannot carry one, CXP-LOG-006).
    return bool(name) and "+" not in name and not any(ch.isspace() or ch < "\x20" for ch in name)


def _is_endpoint(endpoint: str) -> bool:
    """Whether ``endpoint`` is ``host:port`` as CXP-TRUST-032 defines it.

    ``zj.example:443``, ``[2001:db8::1]:8443`` and ``192.0.2.7:1`` are; ``zj.example``,
    ``zj.example:0443`` and ``1.2.3.256:443`` are not.
    """
    host, colon, port = endpoint.rpartition(":")
    if not colon or not _PORT_RE.fullmatch(port) or int(port) > 65535:
        return False
    if host.startswith("[") and host.endswith("]"):
        literal = host[1:-1]
        if not _IPV6_CHARS_RE.fullmatch(literal):
            return False  # also excludes a zone identifier ("%eth0")
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return False
        return True
    if _IPV4_RE.fullmatch(host):
        return True
    if not 1 <= len(host) <= _MAX_DNS_NAME:
        return False
    labels = host.split(".")
    # The last label is not all digits (RFC 3696 §2), so "1.2.3.256" is no DNS name either.
    return all(_DNS_LABEL_RE.fullmatch(label) for label in labels) and not (
        labels[-1].isascii() and labels[-1].isdigit()
    )


def _parse_node(pb: trust_pb2.Node, index: int) -> _Node:
    what = f"nodes[{index}]"
    try:
        if validate_node_id(pb.node_id) != pb.node_id:
            raise ValueError("node id is not in its canonical form")
    except ValueError as exc:
        raise _malformed(f"{what}.node_id {pb.node_id!r}: {exc}") from exc
    what = f"node {pb.node_id}"
    try:
        if validate_region_code(pb.region_code) != pb.region_code:
            raise ValueError("region code is not in its canonical form")
    except ValueError as exc:
        raise _malformed(f"{what}: region_code {pb.region_code!r}: {exc}") from exc
    try:
        kind = NodeKind(pb.kind)
    except ValueError:
        raise _malformed(f"{what}: kind {pb.kind} is not a defined NodeKind") from None
    if len(pb.display_name) > _MAX_DISPLAY_NAME:
        raise _malformed(f"{what}: display_name is longer than {_MAX_DISPLAY_NAME} characters")
    if pb.sector and (len(pb.sector) > _MAX_SECTOR or not _WORD_LIST_RE.fullmatch(pb.sector)):
        raise _malformed(f"{what}: sector must be lowercase words joined by '-'")
    if len(pb.log_origin) > _MAX_LOG_ORIGIN:
        raise _malformed(f"{what}: log_origin is longer than {_MAX_LOG_ORIGIN} characters")
    if len(pb.endpoints) > _MAX_ENDPOINTS:
        raise _malformed(f"{what}: more than {_MAX_ENDPOINTS} endpoints")
    for endpoint in pb.endpoints:
        if not _is_endpoint(endpoint):
            raise _malformed(f"{what}: endpoint {endpoint!r} is not host:port")
    if not 1 <= len(pb.tls_spki_sha256) <= _MAX_TLS_PINS:
        raise _malformed(f"{what}: needs 1 to {_MAX_TLS_PINS} TLS SPKI pins")
    if any(len(pin) != 32 for pin in pb.tls_spki_sha256):
        raise _malformed(f"{what}: a TLS SPKI pin is not 32 bytes")
    if len(set(pb.tls_spki_sha256)) != len(pb.tls_spki_sha256):
        raise _malformed(f"{what}: duplicate TLS SPKI pin")
    if len(pb.keys) > _MAX_NODE_KEYS:
        raise _malformed(f"{what}: more than {_MAX_NODE_KEYS} keys")
    keys = tuple(_key_record(k, f"{what}.keys[{i}]") for i, k in enumerate(pb.keys))
    for record in keys:
        if record.purpose is Purpose.ROOT:
            raise _malformed(
                f"{what}: key {record.key_id} has purpose ROOT; roots are federation keys"
            )
    if len(pb.permissions) > _MAX_PERMISSIONS:
        raise _malformed(f"{what}: more than {_MAX_PERMISSIONS} permissions")
    permissions = tuple(
        _parse_permission(p, f"{what}.permissions[{i}]") for i, p in enumerate(pb.permissions)
    )
    info = NodeInfo(
        node_id=pb.node_id,
        display_name=pb.display_name,
        region_code=pb.region_code,
        kind=kind,
        sector=pb.sector,
        endpoints=tuple(pb.endpoints),
        tls_spki_sha256=tuple(bytes(pin) for pin in pb.tls_spki_sha256),
        log_origin=pb.log_origin,
    )
    return _Node(info=info, keys=keys, permissions=permissions)


def _parse_permission(pb: trust_pb2.Permission, what: str) -> _Permission:
    try:
        action = Action(pb.action)
    except ValueError:
        raise _malformed(f"{what}: action {pb.action} is not a defined PermissionAction") from None
    if not 1 <= len(pb.kinds) <= _MAX_PERMISSION_KINDS:
        raise _malformed(f"{what}: needs 1 to {_MAX_PERMISSION_KINDS} kinds")
    if not 1 <= len(pb.scopes) <= _MAX_PERMISSION_SCOPES:
        raise _malformed(f"{what}: needs 1 to {_MAX_PERMISSION_SCOPES} scopes")
    try:
        for kind in pb.kinds:
            _check_kind(kind, wildcard=True)
        scopes = tuple(_parse_scope(s) for s in pb.scopes)
    except ValueError as exc:
        raise _malformed(f"{what}: {exc}") from exc
    return _Permission(action=action, kinds=frozenset(pb.kinds), scopes=scopes)


def _parse_payload(payload: bytes) -> _Parsed:
    """Strictly parse and structurally validate a (verified) payload; MALFORMED on any fault."""
    try:
        pb = parse_strict(trust_pb2.TrustBundle, payload)
    except InvalidEnvelope as exc:
        raise _malformed(f"payload is not a strict TrustBundle: {exc.args[0]}") from exc
    if not 1 <= len(pb.federation_id) <= _MAX_FEDERATION_ID:
        raise _malformed(f"federation_id must have 1 to {_MAX_FEDERATION_ID} characters")
    if pb.version < 1:
        raise _malformed("version must be at least 1")
    if not (pb.HasField("issued_at") and pb.HasField("expires_at")):
        raise _malformed("issued_at and expires_at are required")
    issued_at = _timestamp_to_datetime(pb.issued_at, "issued_at")
    expires_at = _timestamp_to_datetime(pb.expires_at, "expires_at")
    if expires_at <= issued_at:
        raise _malformed("expires_at must be later than issued_at")

    if not 1 <= len(pb.root_keys) <= _MAX_ROOT_KEYS:
        raise _malformed(f"needs 1 to {_MAX_ROOT_KEYS} root keys")
    root_keys = tuple(_key_record(k, f"root_keys[{i}]") for i, k in enumerate(pb.root_keys))
    for record in root_keys:
        if record.purpose is not Purpose.ROOT:
            raise _malformed(f"root key {record.key_id} has purpose {record.purpose.name}")
    if not 1 <= pb.root_threshold <= len(root_keys):
        raise _malformed(
            f"root_threshold {pb.root_threshold} is not between 1 and the {len(root_keys)} roots"
        )

    if len(pb.nodes) > _MAX_NODES:
        raise _malformed(f"more than {_MAX_NODES} nodes")
    nodes: dict[str, _Node] = {}
    tls_pins: dict[bytes, str] = {}
    key_ids: set[str] = {r.key_id for r in root_keys}
    if len(key_ids) != len(root_keys):
        raise _malformed("duplicate root key id")
    for index, node_pb in enumerate(pb.nodes):
        node = _parse_node(node_pb, index)
        node_id = node.info.node_id
        if node_id in nodes:
            raise _malformed(f"duplicate node id {node_id!r}")
        nodes[node_id] = node
        for pin in node.info.tls_spki_sha256:
            # A certificate must map to exactly one node (CXP-TRUST-027).
            if pin in tls_pins:
                raise _malformed(f"TLS SPKI pin of {node_id} also belongs to {tls_pins[pin]}")
            tls_pins[pin] = node_id
        for record in node.keys:
            if record.key_id in key_ids:
                raise _malformed(f"duplicate key id {record.key_id}")
            key_ids.add(record.key_id)

    if len(pb.revocations) > _MAX_REVOCATIONS:
        raise _malformed(f"more than {_MAX_REVOCATIONS} revocations")
    root_ids = {r.key_id for r in root_keys}
    revoked_at: dict[str, datetime] = {}
    for index, rev in enumerate(pb.revocations):
        what = f"revocations[{index}]"
        if not _KEY_ID_RE.fullmatch(rev.key_id):
            raise _malformed(f"{what}: key_id is not 32 lowercase hex characters")
        if rev.key_id in revoked_at:
            raise _malformed(f"{what}: key {rev.key_id} is revoked twice")
        if rev.key_id in root_ids:
            # Root keys leave by rotation (a version without them), never by revocation.
            raise _malformed(f"{what}: key {rev.key_id} is a root key of this version")
        if not rev.HasField("revoked_at"):
            raise _malformed(f"{what}: revoked_at is required")
        try:
            RevocationReason(rev.reason)
        except ValueError:
            raise _malformed(f"{what}: reason {rev.reason} is not defined") from None
        if len(rev.comment) > _MAX_COMMENT:
            raise _malformed(f"{what}: comment is longer than {_MAX_COMMENT} characters")
        revoked_at[rev.key_id] = _timestamp_to_datetime(rev.revoked_at, f"{what}.revoked_at")

    return _Parsed(
        federation_id=pb.federation_id,
        version=pb.version,
        issued_at=issued_at,
        expires_at=expires_at,
        root_keys=root_keys,
        root_threshold=pb.root_threshold,
        nodes=nodes,
        tls_pins=tls_pins,
        revoked_at=revoked_at,
    )


def _require_aware(name: str, when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _root_public_keys(records: Iterable[KeyRecord]) -> list[PublicKey]:
    keys = []
    for record in records:
        # Guaranteed by _parse_payload (purpose ROOT implies a signing algorithm).
        assert isinstance(record.public_key, PublicKey)
        keys.append(record.public_key)
    return keys


def _verify_signatures(
    env: Envelope, keys: Sequence[PublicKey], threshold: int, whose: str
) -> bytes:
    """Verify ``threshold`` distinct ``keys`` signed ``env``; return the payload (SIGNATURE)."""
    if env.payload_type != TRUST_BUNDLE_PAYLOAD_TYPE:
        raise _malformed(f"payload type {env.payload_type!r} is not {TRUST_BUNDLE_PAYLOAD_TYPE}")
    try:
        return _envelope.verify(
            env, keys=keys, expected_type=TRUST_BUNDLE_PAYLOAD_TYPE, threshold=threshold
        )
    except InvalidEnvelope as exc:
        raise InvalidTrustBundle(
            f"trust bundle lacks {threshold} valid signatures by {whose}", reason=_SIGNATURE
        ) from exc


# --------------------------------------------------------------------------------------------
# The verified bundle
# --------------------------------------------------------------------------------------------

_CONSTRUCT: Final = object()


class TrustBundle:
    """A verified trust bundle and the lookups gateways and verifiers need.

    Built only by :meth:`from_envelope` (bootstrap from pinned root keys) and
    :meth:`verify_update` / :meth:`verify_update_chain` (from a bundle already trusted). The
    lookups take the instant to judge validity at (``at``): the signing time a log proves for a
    message, which may lie before a key rotation; they never read the clock.
    """

    __slots__ = ("_digest", "_envelope", "_parsed", "_payload", "_signing_memo")

    _digest: bytes
    _envelope: Envelope
    _parsed: _Parsed
    _payload: bytes

    def __init__(
        self, *, _token: object, _envelope: Envelope, _payload: bytes, _parsed: _Parsed
    ) -> None:
        """Private: use :meth:`from_envelope` or :meth:`verify_update`."""
        if _token is not _CONSTRUCT:
            raise TypeError("TrustBundle is built by TrustBundle.from_envelope or verify_update")
        self._envelope = _envelope
        self._payload = _payload
        self._parsed = _parsed
        self._digest = hashlib.sha256(_payload).digest()
        # signing_keys answers, by (node, kind, instant): a client verifying a feed asks the
        # same question for every item of a batch (one instant per append). The bundle never
        # changes, so an answer never goes stale; the bound only caps memory.
        self._signing_memo: dict[tuple[str, str, datetime], tuple[PublicKey, ...]] = {}

    # -- verification ---------------------------------------------------------------------

    @classmethod
    def from_envelope(
        cls,
        envelope: Envelope,
        *,
        trusted_roots: Sequence[PublicKey],
        threshold: int,
        now: datetime,
    ) -> TrustBundle:
        """Bootstrap: verify a first bundle against root keys pinned out of band.

        Steps (CXP-TRUST-002..010, -019), stopping at the first failure:

        1. the payload type is ``TRUST_BUNDLE_PAYLOAD_TYPE`` (else ``TRUST_BUNDLE_MALFORMED``);
        2. ``threshold`` distinct ``trusted_roots`` signed it, checked before the payload is
           parsed (``TRUST_BUNDLE_SIGNATURE``);
        3. the payload parses strictly and is structurally valid (``TRUST_BUNDLE_MALFORMED``);
        4. its own ``root_threshold`` of its own ``root_keys`` signed it
           (``TRUST_BUNDLE_SIGNATURE``);
        5. ``issued_at`` is not more than :data:`MAX_CLOCK_SKEW` after ``now``
           (``TRUST_BUNDLE_NOT_YET_VALID``) and ``now`` is before ``expires_at``
           (``TRUST_BUNDLE_EXPIRED``).

        ``threshold`` must be between 1 and the number of distinct ``trusted_roots``
        (``ValueError`` otherwise: that is a configuration error, not a bad bundle).
        """
        _require_aware("now", now)
        distinct = list(dict.fromkeys(trusted_roots))
        if not all(isinstance(k, PublicKey) for k in distinct):
            raise TypeError("trusted_roots must be PublicKey objects")
        if not 1 <= threshold <= len(distinct):
            raise ValueError(
                f"threshold {threshold} is not between 1 and the {len(distinct)} trusted roots"
            )
        payload = _verify_signatures(envelope, distinct, threshold, "the pinned root keys")
        parsed = _parse_payload(payload)
        _verify_signatures(
            envelope, _root_public_keys(parsed.root_keys), parsed.root_threshold, "its own roots"
        )
        bundle = cls(_token=_CONSTRUCT, _envelope=envelope, _payload=payload, _parsed=parsed)
        bundle._check_time(now, check_expiry=True)
        return bundle

    def verify_update(self, envelope: Envelope, *, now: datetime) -> TrustBundle:
        """Verify the next version of this bundle and return it (TUF root rotation).

        Steps (CXP-TRUST-011..014, -019), stopping at the first failure:

        1. the payload type is right (``TRUST_BUNDLE_MALFORMED``);
        2. THIS version's ``root_threshold`` of THIS version's ``root_keys`` signed it, checked
           before parsing (``TRUST_BUNDLE_SIGNATURE``);
        3. strict parse and structural validation (``TRUST_BUNDLE_MALFORMED``);
        4. its own threshold of its own roots signed it (``TRUST_BUNDLE_SIGNATURE``);
        5. same ``federation_id`` (``TRUST_BUNDLE_FEDERATION_MISMATCH``);
        6. ``version`` is greater than this one (``TRUST_BUNDLE_ROLLBACK``, also for a replay of
           the same version) and exactly one greater (``TRUST_BUNDLE_VERSION_GAP``);
        7. issued no later than ``now`` + skew (``TRUST_BUNDLE_NOT_YET_VALID``) and not expired
           at ``now`` (``TRUST_BUNDLE_EXPIRED``).

        This bundle may itself be expired: an offline node must be able to catch up.
        """
        _require_aware("now", now)
        return self._next(envelope, now=now, check_expiry=True)

    def verify_update_chain(self, envelopes: Iterable[Envelope], *, now: datetime) -> TrustBundle:
        """Apply consecutive versions in order and return the last (CXP-TRUST-015).

        Each envelope must be the next version of the one before it, verified as in
        :meth:`verify_update`; a gap (v3 then v5) is refused with ``TRUST_BUNDLE_VERSION_GAP``
        even if v5 would verify under v3's roots, because only the sequence proves every
        rotation was authorized by the roots before it. As in TUF, intermediate versions may
        be expired; the final bundle (this one if ``envelopes`` is empty) must not be.
        """
        _require_aware("now", now)
        current = self
        for count, env in enumerate(envelopes, start=1):
            # Bounded like TUF's max_root_rotations: a peer cannot make us verify forever.
            if count > MAX_CHAIN_LENGTH:
                raise InvalidTrustBundle(
                    f"more than {MAX_CHAIN_LENGTH} versions in one update chain",
                    reason="TRUST_BUNDLE_CHAIN_TOO_LONG",
                )
            current = current._next(env, now=now, check_expiry=False)
        current._check_time(now, check_expiry=True)
        return current

    def _next(self, envelope: Envelope, *, now: datetime, check_expiry: bool) -> TrustBundle:
        previous = self._parsed
        payload = _verify_signatures(
            envelope,
            _root_public_keys(previous.root_keys),
            previous.root_threshold,
            f"the roots of version {previous.version}",
        )
        parsed = _parse_payload(payload)
        _verify_signatures(
            envelope, _root_public_keys(parsed.root_keys), parsed.root_threshold, "its own roots"
        )
        if parsed.federation_id != previous.federation_id:
            raise InvalidTrustBundle(
                f"bundle is for federation {parsed.federation_id!r}, "
                f"not {previous.federation_id!r}",
                reason=_FEDERATION,
            )
        if parsed.version <= previous.version:
            raise InvalidTrustBundle(
                f"version {parsed.version} does not follow version {previous.version}",
                reason=_ROLLBACK,
            )
        if parsed.version != previous.version + 1:
            raise InvalidTrustBundle(
                f"version {parsed.version} skips versions after {previous.version}",
                reason=_GAP,
            )
        bundle = TrustBundle(
            _token=_CONSTRUCT, _envelope=envelope, _payload=payload, _parsed=parsed
        )
        bundle._check_time(now, check_expiry=check_expiry)
        return bundle

    def _check_time(self, now: datetime, *, check_expiry: bool) -> None:
        if self._parsed.issued_at > now + MAX_CLOCK_SKEW:
            raise InvalidTrustBundle(
                f"version {self.version} is issued at {self._parsed.issued_at.isoformat()}, "
                f"in the future",
                reason=_NOT_YET_VALID,
            )
        if check_expiry:
            self.check_not_expired(now)

    def check_not_expired(self, now: datetime) -> None:
        """Raise ``InvalidTrustBundle`` (``TRUST_BUNDLE_EXPIRED``) unless ``now < expires_at``.

        Gateways call this before serving with a bundle (freeze protection, CXP-TRUST-009):
        a bundle nobody renewed must stop being used rather than be trusted forever.
        """
        _require_aware("now", now)
        if now >= self._parsed.expires_at:
            raise InvalidTrustBundle(
                f"version {self.version} expired at {self._parsed.expires_at.isoformat()}",
                reason=_EXPIRED,
            )

    # -- identity of the bundle -----------------------------------------------------------

    @property
    def federation_id(self) -> str:
        """Identifier of the federation; equal across all versions."""
        return self._parsed.federation_id

    @property
    def version(self) -> int:
        """Version number (1, 2, ...)."""
        return self._parsed.version

    @property
    def issued_at(self) -> datetime:
        """When this version was issued (UTC)."""
        return self._parsed.issued_at

    @property
    def expires_at(self) -> datetime:
        """After this instant the bundle is refused (UTC)."""
        return self._parsed.expires_at

    @property
    def root_keys(self) -> tuple[KeyRecord, ...]:
        """The root keys that sign this and the next version."""
        return self._parsed.root_keys

    @property
    def root_threshold(self) -> int:
        """Number of distinct root signatures this and the next version need."""
        return self._parsed.root_threshold

    @property
    def digest(self) -> bytes:
        """SHA-256 of the signed payload bytes, exactly as received (32 bytes)."""
        return self._digest

    def to_envelope(self) -> Envelope:
        """The signed envelope this bundle was verified from (for storage and distribution)."""
        return self._envelope

    # -- lookups --------------------------------------------------------------------------

    @property
    def node_ids(self) -> tuple[str, ...]:
        """Ids of every node, in bundle order."""
        return tuple(self._parsed.nodes)

    def nodes(self) -> Iterator[NodeInfo]:
        """Every node, in bundle order."""
        return (node.info for node in self._parsed.nodes.values())

    def node(self, node_id: str) -> NodeInfo:
        """The node with ``node_id``; ``KeyError`` if the federation has no such node."""
        return self._parsed.nodes[node_id].info

    def node_for_tls_spki(self, spki_sha256: bytes) -> NodeInfo | None:
        """The node that pinned this SHA-256 of a certificate's SubjectPublicKeyInfo, or None.

        A peer's TLS certificate identifies a node only through these pins (CXP-TRUST-027).
        """
        node_id = self._parsed.tls_pins.get(bytes(spki_sha256))
        return None if node_id is None else self._parsed.nodes[node_id].info

    def revoked_at(self, key_id: str) -> datetime | None:
        """When ``key_id`` was revoked, or None if this version does not revoke it."""
        return self._parsed.revoked_at.get(key_id)

    def _usable(self, record: KeyRecord, at: datetime) -> bool:
        # Half-open windows: valid from not_before inclusive to not_after exclusive, and a
        # revoked key verifies nothing dated at or after revoked_at (CXP-TRUST-020, -021).
        if not record.not_before <= at < record.not_after:
            return False
        revoked = self._parsed.revoked_at.get(record.key_id)
        return revoked is None or at < revoked

    def _keys(self, node_id: str, purpose: Purpose, at: datetime) -> list[KeyRecord]:
        _require_aware("at", at)
        node = self._parsed.nodes.get(node_id)
        if node is None:
            return []
        valid = [r for r in node.keys if r.purpose is purpose and self._usable(r, at)]
        # Newest first: latest not_before, then key id so the order is deterministic.
        valid.sort(key=lambda r: (r.not_before, r.key_id), reverse=True)
        return valid

    def signing_keys(self, node_id: str, *, kind: str, at: datetime) -> list[PublicKey]:
        """The keys that may sign payloads of ``kind`` for ``node_id`` at instant ``at``.

        A key qualifies if it belongs to the node, has purpose SIGN, ``not_before <= at <
        not_after``, is not revoked at or before ``at``, and the node may sign ``kind``
        (CXP-TRUST-022, -023):

        - ``receipt``: only nodes that keep a log (non-empty ``log_origin``);
        - ``batch-head``: any node (each item is authorized on its own kind);
        - ``trust-bundle`` and ``checkpoint``: never a SIGN key (root keys and
          :meth:`checkpoint_keys` sign those), so the list is empty;
        - every other kind: the node holds a PUBLISH permission listing ``kind`` or ``*``.
          The scope (region, sector, authority) is checked separately with :meth:`permits`.

        An unknown node gets an empty list, as does a kind it may not sign: deny by default.
        Newest key first.
        """
        memo_key = (node_id, kind, at)
        found = self._signing_memo.get(memo_key)
        if found is None:
            found = tuple(self._signing_keys(node_id, kind=kind, at=at))
            if len(self._signing_memo) >= _SIGNING_MEMO_SIZE:
                self._signing_memo.clear()
            self._signing_memo[memo_key] = found
        return list(found)

    def _signing_keys(self, node_id: str, *, kind: str, at: datetime) -> list[PublicKey]:
        _check_kind(kind, wildcard=False)
        node = self._parsed.nodes.get(node_id)
        if node is None or kind in _NEVER_NODE_SIGNED_KINDS:
            return []
        if kind == "receipt":
            allowed = bool(node.info.log_origin)
        elif kind in INFRASTRUCTURE_KINDS:
            allowed = True
        else:
            allowed = any(
                p.action is Action.PUBLISH and p.covers_kind(kind) for p in node.permissions
            )
        if not allowed:
            return []
        return [_as_public_key(r) for r in self._keys(node_id, Purpose.SIGN, at)]

    def checkpoint_keys(self, node_id: str, *, at: datetime) -> list[KeyRecord]:
        """The node's CHECKPOINT keys valid and unrevoked at ``at``, newest first.

        Records, not bare keys: a checkpoint verifier also needs each key's ``note_name``.
        Empty for an unknown node. Whether a node may cosign others' checkpoints is
        ``permits(node_id, Action.WITNESS, "checkpoint", "*")``.
        """
        return self._keys(node_id, Purpose.CHECKPOINT, at)

    def sealing_key(self, node_id: str, *, at: datetime) -> KeyRecord:
        """The key to seal to ``node_id`` at ``at``: its newest valid, unrevoked SEAL key.

        Newest means the latest ``not_before``. Raises :class:`~creditlink.sdk.errors.InvalidKey`
        with reason ``NO_SEALING_KEY`` if the node is unknown or has no such key.
        """
        keys = self._keys(node_id, Purpose.SEAL, at)
        if not keys:
            raise InvalidKey(
                f"node {node_id!r} has no sealing key valid at {at.isoformat()}",
                reason="NO_SEALING_KEY",
            )
        return keys[0]

    def permits(self, node_id: str, action: Action, kind: str, scope: str) -> bool:
        """Whether some permission of ``node_id`` grants ``action`` on ``kind`` within ``scope``.

        Deny by default: an unknown node, or no permission with this action whose kinds list
        ``kind`` (or ``*``) and one of whose scopes covers ``scope``, gives False. Coverage
        (CXP-TRUST-031): ``*`` covers every scope; ``region:<P>`` covers ``region:<S>`` when
        ``P`` with its trailing ``00`` pairs removed is a prefix of ``S`` (``region:100000``,
        national, covers every region); ``sector:`` and ``authority:`` scopes cover only the
        identical scope. ``scope`` itself must be concrete-or-``*`` and well formed
        (``ValueError`` otherwise), and ``kind`` a concrete kind.
        """
        if not isinstance(action, Action):
            raise TypeError("action must be an Action")
        _check_kind(kind, wildcard=False)
        subject = _parse_scope(scope)
        node = self._parsed.nodes.get(node_id)
        if node is None:
            return False
        return any(
            p.action is action and p.covers_kind(kind) and any(s.covers(subject) for s in p.scopes)
            for p in node.permissions
        )

    def grants_any_scope(self, node_id: str, action: Action, kind: str) -> bool:
        """Whether some permission of ``node_id`` grants ``action`` on ``kind`` in any scope.

        True also for grants limited to a region, sector or authority: a gateway then asks
        :meth:`permits` per entry, with the entry's own scopes (scoped reads, CXP-TRUST-031).
        """
        if not isinstance(action, Action):
            raise TypeError("action must be an Action")
        _check_kind(kind, wildcard=False)
        node = self._parsed.nodes.get(node_id)
        if node is None:
            return False
        return any(p.action is action and p.covers_kind(kind) for p in node.permissions)

    def __reduce__(self) -> tuple[object, ...]:
        # A verified bundle crosses to another process of the same party (a gateway's intake
        # workers) as its envelope; the receiving side re-parses it without re-verifying, which
        # is sound only because unpickling trusts the pickler anyway (pickle runs code).
        return (_restore_bundle, (self._envelope.to_bytes(), self._digest))

    def __repr__(self) -> str:
        return (
            f"TrustBundle(federation_id={self.federation_id!r}, version={self.version}, "
            f"nodes={len(self._parsed.nodes)}, digest={self._digest.hex()[:16]}...)"
        )


#: Bundles restored from pickles in this process, by digest: a worker that receives the same
#: bundle with every task parses it once.
_RESTORED: dict[bytes, TrustBundle] = {}
_MAX_RESTORED: Final = 8


def _restore_bundle(envelope_bytes: bytes, digest: bytes) -> TrustBundle:
    """Unpickle a :class:`TrustBundle` (see ``TrustBundle.__reduce__``)."""
    bundle = _RESTORED.get(digest)
    if bundle is not None:
        return bundle
    envelope = Envelope.from_bytes(envelope_bytes)
    if hashlib.sha256(envelope.payload).digest() != digest:
        raise ValueError("pickled trust bundle does not match its digest")
    bundle = TrustBundle(
        _token=_CONSTRUCT,
        _envelope=envelope,
        _payload=envelope.payload,
        _parsed=_parse_payload(envelope.payload),
    )
    if len(_RESTORED) >= _MAX_RESTORED:
        _RESTORED.clear()
    _RESTORED[digest] = bundle
    return bundle


def _as_public_key(record: KeyRecord) -> PublicKey:
    # SIGN-purpose records always hold a PublicKey (KeyRecord refuses other combinations).
    assert isinstance(record.public_key, PublicKey)
    return record.public_key


# --------------------------------------------------------------------------------------------
# Building and signing
# --------------------------------------------------------------------------------------------


def _timestamp(when: datetime, name: str) -> Timestamp:
    _require_aware(name, when)
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(UTC))
    return ts


class TrustBundleBuilder:
    """Assemble a trust bundle and sign it with root keys (dev federations, tests, operators).

    ::

        builder = TrustBundleBuilder(
            federation_id="cn-credit", version=1, issued_at=now, expires_at=now + 90 * DAY,
            root_threshold=2,
        )
        builder.add_root_key(root_a.public_key, not_before=now, not_after=now + 5 * YEAR)
        builder.add_node("zj-330000", region_code="330000", kind=NodeKind.REGIONAL,
                         tls_spki_sha256=[pin], endpoints=["zj.example:443"])
        builder.add_key("zj-330000", sign_key.public_key, Purpose.SIGN,
                        not_before=now, not_after=now + YEAR)
        builder.add_permission("zj-330000", Action.PUBLISH, kinds=["record"],
                               scopes=["region:330000"])
        envelope = builder.sign([root_a, root_b])

    The next version starts from the current one with :meth:`from_bundle`. :meth:`payload`
    and :meth:`sign` run the same structural checks as verification, so a builder never
    produces a bundle verifiers would refuse as malformed.
    """

    def __init__(
        self,
        *,
        federation_id: str,
        version: int,
        issued_at: datetime,
        expires_at: datetime,
        root_threshold: int,
    ) -> None:
        """Start an empty bundle; add root keys and nodes before signing."""
        self.federation_id = federation_id
        self.version = version
        self.issued_at = issued_at
        self.expires_at = expires_at
        self.root_threshold = root_threshold
        self._root_keys: list[trust_pb2.KeyRecord] = []
        self._nodes: dict[str, trust_pb2.Node] = {}
        self._revocations: dict[str, trust_pb2.Revocation] = {}

    @classmethod
    def from_bundle(
        cls, bundle: TrustBundle, *, issued_at: datetime, expires_at: datetime
    ) -> TrustBundleBuilder:
        """A builder for the next version of ``bundle``: same content, ``version + 1``."""
        pb = parse_strict(trust_pb2.TrustBundle, bundle._payload)
        builder = cls(
            federation_id=pb.federation_id,
            version=pb.version + 1,
            issued_at=issued_at,
            expires_at=expires_at,
            root_threshold=pb.root_threshold,
        )
        builder._root_keys = list(pb.root_keys)
        builder._nodes = {n.node_id: n for n in pb.nodes}
        builder._revocations = {r.key_id: r for r in pb.revocations}
        return builder

    def add_root_key(
        self, public_key: PublicKey, *, not_before: datetime, not_after: datetime
    ) -> TrustBundleBuilder:
        """Add a federation root key (purpose ROOT)."""
        record = KeyRecord.create(public_key, Purpose.ROOT, not_before, not_after)
        if any(r.key_id == record.key_id for r in self._root_keys):
            raise ValueError(f"root key {record.key_id} is already present")
        self._root_keys.append(record.to_proto())
        return self

    def remove_root_key(self, key_id: str) -> TrustBundleBuilder:
        """Drop a root key (root rotation); ``KeyError`` if absent."""
        for index, record in enumerate(self._root_keys):
            if record.key_id == key_id:
                del self._root_keys[index]
                return self
        raise KeyError(key_id)

    def add_node(
        self,
        node_id: str,
        *,
        region_code: str,
        kind: NodeKind,
        tls_spki_sha256: Sequence[bytes],
        display_name: str = "",
        sector: str = "",
        endpoints: Sequence[str] = (),
        log_origin: str = "",
    ) -> TrustBundleBuilder:
        """Add a node without keys or permissions (``ValueError`` if the id is taken)."""
        if node_id in self._nodes:
            raise ValueError(f"node {node_id!r} is already present")
        self._nodes[node_id] = trust_pb2.Node(
            node_id=node_id,
            display_name=display_name,
            region_code=region_code,
            kind=kind.value,  # type: ignore[arg-type]
            sector=sector,
            endpoints=list(endpoints),
            tls_spki_sha256=[bytes(pin) for pin in tls_spki_sha256],
            log_origin=log_origin,
        )
        return self

    def remove_node(self, node_id: str) -> TrustBundleBuilder:
        """Drop a node and everything it holds; ``KeyError`` if absent."""
        del self._nodes[node_id]
        return self

    def add_key(
        self,
        node_id: str,
        public_key: PublicKey | SealingPublicKey,
        purpose: Purpose,
        *,
        not_before: datetime,
        not_after: datetime,
        note_name: str = "",
    ) -> TrustBundleBuilder:
        """Give ``node_id`` a SIGN, SEAL or CHECKPOINT key with its validity window."""
        if purpose is Purpose.ROOT:
            raise ValueError("root keys belong to the federation: use add_root_key")
        record = KeyRecord.create(public_key, purpose, not_before, not_after, note_name=note_name)
        self._nodes[node_id].keys.append(record.to_proto())
        return self

    def add_permission(
        self, node_id: str, action: Action, *, kinds: Sequence[str], scopes: Sequence[str]
    ) -> TrustBundleBuilder:
        """Grant ``node_id`` ``action`` on ``kinds`` within ``scopes``."""
        self._nodes[node_id].permissions.append(
            trust_pb2.Permission(
                action=action.value,  # type: ignore[arg-type]
                kinds=list(kinds),
                scopes=list(scopes),
            )
        )
        return self

    def revoke(
        self,
        key_id: KeyId | str,
        *,
        revoked_at: datetime,
        reason: RevocationReason,
        comment: str = "",
    ) -> TrustBundleBuilder:
        """Revoke a node key from ``revoked_at`` on (replaces an earlier revocation of it)."""
        self._revocations[key_id] = trust_pb2.Revocation(
            key_id=key_id,
            revoked_at=_timestamp(revoked_at, "revoked_at"),
            reason=reason.value,  # type: ignore[arg-type]
            comment=comment,
        )
        return self

    def payload(self) -> bytes:
        """The serialized ``TrustBundle`` (deterministic encoding), checked like a verifier would.

        Raises :class:`InvalidTrustBundle` (``TRUST_BUNDLE_MALFORMED``) if it is not valid.
        """
        pb = trust_pb2.TrustBundle(
            federation_id=self.federation_id,
            version=self.version,
            issued_at=_timestamp(self.issued_at, "issued_at"),
            expires_at=_timestamp(self.expires_at, "expires_at"),
            root_keys=self._root_keys,
            root_threshold=self.root_threshold,
            nodes=list(self._nodes.values()),
            revocations=list(self._revocations.values()),
        )
        data = pb.SerializeToString(deterministic=True)
        _parse_payload(data)
        return data

    def sign(self, root_private_keys: Sequence[PrivateKey]) -> Envelope:
        """Sign the bundle with ``root_private_keys`` and return the DSSE envelope.

        The signers must include at least ``root_threshold`` of this version's own root keys
        (``ValueError`` otherwise). For a rotation they must also include the previous
        version's threshold of its roots; only verification can check that.
        """
        data = self.payload()
        own = {r.key_id for r in self._root_keys}
        signers = list({k.key_id: k for k in root_private_keys}.values())
        if sum(1 for k in signers if k.key_id in own) < self.root_threshold:
            raise ValueError(f"needs {self.root_threshold} of the bundle's own root keys to sign")
        return _envelope.sign(data, TRUST_BUNDLE_PAYLOAD_TYPE, signers)


# --------------------------------------------------------------------------------------------
# Files (DSSE JSON)
# --------------------------------------------------------------------------------------------


def read_trust_bundle_envelope(path: str | os.PathLike[str]) -> Envelope:
    """Read a DSSE JSON file; the envelope is NOT verified (pass it to a verify method)."""
    file = Path(path)
    if file.stat().st_size > _MAX_FILE_BYTES:
        raise InvalidTrustBundle(
            f"{file} is larger than {_MAX_FILE_BYTES} bytes", reason=_MALFORMED
        )
    try:
        return Envelope.from_json(file.read_bytes())
    except InvalidEnvelope as exc:
        raise _malformed(f"{file} is not a DSSE JSON envelope: {exc.args[0]}") from exc


def load_trust_bundle(
    path: str | os.PathLike[str],
    *,
    now: datetime,
    previous: TrustBundle | None = None,
    trusted_roots: Sequence[PublicKey] | None = None,
    threshold: int | None = None,
) -> TrustBundle:
    """Read and verify a trust bundle file (DSSE JSON).

    Either as an update of ``previous`` (:meth:`TrustBundle.verify_update`) or, for the first
    bundle, against pinned ``trusted_roots`` and ``threshold`` (:meth:`TrustBundle.from_envelope`).
    """
    if (previous is None) == (trusted_roots is None):
        raise ValueError("give exactly one of previous or trusted_roots")
    env = read_trust_bundle_envelope(path)
    if previous is not None:
        return previous.verify_update(env, now=now)
    assert trusted_roots is not None
    if threshold is None:
        raise ValueError("trusted_roots needs a threshold")
    return TrustBundle.from_envelope(env, trusted_roots=trusted_roots, threshold=threshold, now=now)


def save_trust_bundle(bundle: TrustBundle | Envelope, path: str | os.PathLike[str]) -> None:
    """Write a bundle (or a freshly signed envelope) as DSSE JSON, atomically.

    The file is public configuration (mode 0644); a crash leaves the old file or the new one,
    never a mix.
    """
    env = bundle.to_envelope() if isinstance(bundle, TrustBundle) else bundle
    target = Path(path)
    encoded = env.to_json().encode("utf-8")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(encoded)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
