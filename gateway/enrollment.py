"""Enrolling a real (non-development) node into a federation: request, admission, installation.

Three steps, each a function here and a thin command in ``creditlink.cli`` (docs/enrollment.md)::

    # 1. the node's operator: keys, a CSR, a config and a request to send   (creditlink init)
    prepared = create_node(Path("zj-node"), NodeParameters(node_id="zj-330000", ...))
    # 2. the federation operator: verify, certify, sign the next bundle     (federation enroll)
    enrollment = enroll(Path("federation"), prepared.request_path.read_bytes())
    # 3. the node's operator: check the answer, write the credentials       (init --complete)
    done = complete_node(Path("zj-node"), response_bytes, roots_sha256=published_fingerprint)

and :func:`create_federation` (``creditlink federation create``) makes the federation directory
that step 2 works in. Nothing here opens a socket: requests and responses are files that travel
by whatever channel the federation uses.

**Trust.** The request is not signed and need not be: the CSR proves the node holds its TLS key,
the federation refuses a key or TLS pin another member already has, and what binds the request
to its node is its SHA-256, which the node's operator reads to the federation operator over a
second channel (``enroll(..., expect_sha256=...)``). The response carries the federation's root
public keys, so a response could be forged as a whole; :func:`complete_node` therefore requires
the roots' fingerprint (``sha256sum federation/roots.pem``) obtained out of band, as
docs/credentials.md requires for every member, and checks everything else against those roots.

**Names in certificates.** The federation CA certifies exactly the hosts of the node's advertised
endpoints (the CSR must ask for those and no others). A trust-bundle TLS pin decides who a
*client* is, but a node calling another node (forwarding) currently authenticates the server by
CA and host name, so a certificate naming another node's host would let its holder pose as it.

Layouts:

- a node directory (:func:`create_node`): ``creditlink.toml`` (0600), ``enrollment-request.json``,
  ``pending/`` (0700: ``keys/{signing,sealing,checkpoint}.pem``, ``tls/key.pem``, all 0600, and
  ``tls/request.csr``) until :func:`complete_node` turns it into the credentials directory
  ``node/`` (docs/credentials.md) and keeps the response as ``enrollment-response.json``;
  ``data/`` is the gateway's data directory.
- a federation directory: the layout of a development federation (gateway/bootstrap.py), so
  ``enroll`` also admits a node into a ``creditlink dev up`` federation: ``federation/``
  (0700) with ``federation.json``, ``root-<n>.pem`` (0600), ``ca.pem``, ``ca-key.pem`` (0600),
  ``bundles/<version>.json``, plus ``roots.pem`` (the public root keys to publish) and
  ``enrollments/`` (every request and response); and the members' credentials directories it
  keeps current, here ``operator/`` (the federation operator's client credentials).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import ipaddress
import itertools
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from creditlink.gateway.bootstrap import BUNDLE_VALIDITY, KEY_VALIDITY, Grant, default_grants
from creditlink.gateway.config import (
    DEFAULT_METRICS_LISTEN,
    ConfigError,
    GatewayConfig,
    Upstream,
    load_config,
    write_config,
)
from creditlink.gateway.pki import DevCA, generate_tls_key, private_key_pem
from creditlink.sdk import envelope as _envelope
from creditlink.sdk._internal.strict import parse_strict
from creditlink.sdk.credentials import (
    CHECKPOINT_KEY,
    KEY_PEM,
    SEALING_KEY,
    SIGNING_KEY,
    Credentials,
    InvalidCredentials,
    Manifest,
    Role,
    read_secret_file,
    read_trust_bundle,
    update_trust_bundle,
    write_file_atomic,
)
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import CreditlinkError, InvalidEnvelope, InvalidKey, InvalidTrustBundle
from creditlink.sdk.ids import validate_node_id, validate_region_code
from creditlink.sdk.keys import (
    SIGNING_ALGORITHMS,
    Algorithm,
    PrivateKey,
    PublicKey,
    Purpose,
    SealingPrivateKey,
    SealingPublicKey,
    load_private_key,
    save_private_key,
)
from creditlink.sdk.trust import (
    TRUST_BUNDLE_PAYLOAD_TYPE,
    Action,
    NodeKind,
    TrustBundle,
    TrustBundleBuilder,
    read_trust_bundle_envelope,
    save_trust_bundle,
)
from creditlink.v1 import trust_pb2

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_OPERATOR_ID",
    "DEFAULT_VALIDITY",
    "GATEWAY_KINDS",
    "GRANT_POLICIES",
    "NODE_DIR",
    "PENDING_DIR",
    "REQUEST_FILE",
    "REQUEST_TYPE",
    "RESPONSE_FILE",
    "RESPONSE_TYPE",
    "ROOTS_FILE",
    "CompletedNode",
    "Enrollment",
    "EnrollmentError",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "Federation",
    "NodeParameters",
    "PreparedNode",
    "complete_node",
    "create_federation",
    "create_node",
    "enroll",
    "grants_for",
    "kind_from_name",
    "kind_name",
    "open_federation",
    "renew_bundle",
    "sha256_hex",
]

#: ``type`` of an enrollment request file (JSON, format 1).
REQUEST_TYPE: Final = "creditlink.enrollment-request"
#: ``type`` of an enrollment response file (JSON, format 1).
RESPONSE_TYPE: Final = "creditlink.enrollment-response"
_FORMAT: Final = 1

# A node directory.
CONFIG_FILE: Final = "creditlink.toml"
REQUEST_FILE: Final = "enrollment-request.json"
RESPONSE_FILE: Final = "enrollment-response.json"
PENDING_DIR: Final = "pending"
NODE_DIR: Final = "node"
_DATA_DIR: Final = "data"
_CSR_FILE: Final = "tls/request.csr"

# A federation directory: the names gateway/bootstrap.py uses for a development federation.
_FEDERATION_DIR: Final = "federation"
_FEDERATION_JSON: Final = "federation.json"
_BUNDLES_DIR: Final = "bundles"
#: The public root keys of a federation (publish this file; its SHA-256 is the roots pin).
ROOTS_FILE: Final = "roots.pem"
_ENROLLMENTS_DIR: Final = "enrollments"
_OPERATOR_DIR: Final = "operator"
# The lock file bootstrap.py takes, so that enrolling and a development renewal never mint the
# same bundle version twice.
_LOCK_FILE: Final = ".bootstrap.lock"

#: Default validity of an enrolled node's keys and certificate. Keys and certificate expire
#: together, because renewing either is not automated yet (docs/enrollment.md).
DEFAULT_VALIDITY: Final = timedelta(days=730)
#: Node id of the federation operator's own client credentials.
DEFAULT_OPERATOR_ID: Final = "federation-operator"
#: Kinds ``creditlink init`` prepares: gateways, each keeping a log (clients are not enrolled).
GATEWAY_KINDS: Final = (
    NodeKind.HUB,
    NodeKind.REGIONAL,
    NodeKind.SECTORAL,
    NodeKind.CREDIT_SERVICE,
)
#: Permission policies :func:`grants_for` knows.
GRANT_POLICIES: Final = ("default", "read", "none")

_NATIONAL_REGION: Final = "100000"
# Key windows and certificates start a little in the past, for peers whose clock lags.
_BACKDATE: Final = timedelta(minutes=5)
_MAX_FILE_BYTES: Final = 1024 * 1024
_MAX_ENDPOINTS: Final = 16
_MAX_ROOTS: Final = 16
_MAX_TEXT: Final = 256
_MAX_FEDERATION_ID: Final = 64
_SECTOR_RE: Final = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_HEX64_RE: Final = re.compile(r"[0-9a-f]{64}")
# Endpoint grammar of trust bundles (CXP-TRUST-032), checked here so that a request the
# federation's builder would refuse is refused when it is made, with a clear message.
_PORT_RE: Final = re.compile(r"[1-9][0-9]{0,4}")
_IPV4_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE: Final = re.compile(rf"{_IPV4_OCTET}(?:\.{_IPV4_OCTET}){{3}}")
_IPV6_CHARS_RE: Final = re.compile(r"[0-9A-Fa-f:.]+")
_DNS_LABEL_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PEM_BLOCK_RE: Final = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.+?\r?\n-----END \1-----\r?\n?", re.DOTALL
)

# Reasons.
_INVALID: Final = "ENROLLMENT_INVALID_PARAMETER"
_EXISTS: Final = "ENROLLMENT_DIRECTORY_EXISTS"
_REQUEST_MALFORMED: Final = "ENROLLMENT_REQUEST_MALFORMED"
_REQUEST_MISMATCH: Final = "ENROLLMENT_REQUEST_MISMATCH"
_CONFLICT: Final = "ENROLLMENT_CONFLICT"
_RESPONSE_MALFORMED: Final = "ENROLLMENT_RESPONSE_MALFORMED"
_RESPONSE_MISMATCH: Final = "ENROLLMENT_RESPONSE_MISMATCH"
_ROOTS_MISMATCH: Final = "ENROLLMENT_ROOTS_MISMATCH"
_NOT_PREPARED: Final = "ENROLLMENT_NOT_PREPARED"
_COMPLETE: Final = "ENROLLMENT_ALREADY_COMPLETE"
_FEDERATION_INVALID: Final = "FEDERATION_DIRECTORY_INVALID"


class EnrollmentError(CreditlinkError):
    """A parameter, request, response or federation directory is refused; ``reason`` says why.

    Reasons: ``ENROLLMENT_INVALID_PARAMETER``, ``ENROLLMENT_DIRECTORY_EXISTS``,
    ``ENROLLMENT_REQUEST_MALFORMED``, ``ENROLLMENT_REQUEST_MISMATCH``, ``ENROLLMENT_CONFLICT``,
    ``ENROLLMENT_RESPONSE_MALFORMED``, ``ENROLLMENT_RESPONSE_MISMATCH``,
    ``ENROLLMENT_ROOTS_MISMATCH``, ``ENROLLMENT_NOT_PREPARED``, ``ENROLLMENT_ALREADY_COMPLETE``,
    ``FEDERATION_DIRECTORY_INVALID``, or a ``TRUST_BUNDLE_*``/``CREDENTIALS_*`` reason passed on.
    """

    default_reason = "ENROLLMENT_FAILED"


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data`` (what ``sha256sum`` prints for a file)."""
    return hashlib.sha256(data).hexdigest()


def kind_name(kind: NodeKind) -> str:
    """The spelling of a node kind in files and on the command line: ``credit-service``."""
    return kind.name.lower().replace("_", "-")


def kind_from_name(name: str) -> NodeKind:
    """The node kind spelt ``name`` (``hub``, ``regional``, …); ``ValueError`` otherwise."""
    for kind in NodeKind:
        if kind_name(kind) == name:
            return kind
    raise ValueError(f"{name!r} is not one of {', '.join(kind_name(k) for k in NodeKind)}")


def _round(now: datetime | None) -> datetime:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    # Whole seconds: bundle timestamps then read back exactly as written.
    return now.astimezone(UTC).replace(microsecond=0)


def _message(exc: Exception) -> str:
    # The message alone: identifier errors would otherwise append their own [REASON].
    return str(exc.args[0]) if exc.args else str(exc)


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    """``(host, port)`` of ``host:port`` (CXP-TRUST-032), the host without IPv6 brackets.

    Raises ``ValueError`` naming what is wrong.
    """
    host, colon, port = endpoint.rpartition(":")
    if not colon or not _PORT_RE.fullmatch(port) or int(port) > 65535:
        raise ValueError(f"{endpoint!r} is not host:port with a port from 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        literal = host[1:-1]
        try:
            if not _IPV6_CHARS_RE.fullmatch(literal):
                raise ValueError
            ipaddress.IPv6Address(literal)
        except ValueError:
            raise ValueError(f"{endpoint!r}: {host} is not an IPv6 address") from None
        return literal, int(port)
    if ":" in host:
        raise ValueError(f"{endpoint!r}: write an IPv6 host in brackets, e.g. [2001:db8::1]:7443")
    if _IPV4_RE.fullmatch(host):
        return host, int(port)
    labels = host.split(".")
    if (
        not 1 <= len(host) <= 253
        or not all(_DNS_LABEL_RE.fullmatch(label) for label in labels)
        or (labels[-1].isascii() and labels[-1].isdigit())
    ):
        raise ValueError(f"{endpoint!r}: {host!r} is not a DNS name, IPv4 or [IPv6] address")
    return host, int(port)


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _san_key(host: str) -> tuple[str, str]:
    """How a host is compared with a certificate name: IPs by value, DNS names ignoring case."""
    try:
        return ("ip", str(ipaddress.ip_address(host)))
    except ValueError:
        return ("dns", host.lower())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _endpoint_hosts(endpoints: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(_split_endpoint(e)[0] for e in endpoints))


def _certificate_names(
    extensions: x509.Extensions,
) -> set[tuple[str, str]]:
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {("dns", name.lower()) for name in san.get_values_for_type(x509.DNSName)}
    names |= {("ip", str(ip)) for ip in san.get_values_for_type(x509.IPAddress)}
    return names


def _check_log_origin(origin: str) -> None:
    # The log origin is also the checkpoint key's signed-note name (CXP-TRUST-026), so it
    # follows the key-name rules: non-empty, no '+', no whitespace, no control character.
    if not origin or len(origin) > _MAX_TEXT:
        raise ValueError(f"log origin must have 1 to {_MAX_TEXT} characters")
    if "+" in origin or any(ch.isspace() or ch < "\x20" for ch in origin):
        raise ValueError(f"log origin {origin!r} must not contain '+', whitespace or controls")


def _check_sector(kind: NodeKind, sector: str) -> None:
    if kind is NodeKind.SECTORAL and not sector:
        raise ValueError("a sectoral node needs a sector (e.g. tax, market-regulation)")
    if sector and (len(sector) > 64 or not _SECTOR_RE.fullmatch(sector)):
        raise ValueError(f"sector {sector!r} must be lowercase words joined by '-'")


def _spki(key: ec.EllipticCurvePublicKey | x509.Certificate) -> bytes:
    public = key.public_key() if isinstance(key, x509.Certificate) else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem_public_keys(pem: bytes) -> list[PublicKey]:
    """The ``PUBLIC KEY`` blocks of ``pem``, in order; ``ValueError`` for anything else."""
    blocks = list(_PEM_BLOCK_RE.finditer(pem))
    if not blocks or _PEM_BLOCK_RE.sub(b"", pem).strip():
        raise ValueError("not a sequence of PUBLIC KEY PEM blocks")
    keys: list[PublicKey] = []
    for index, block in enumerate(blocks, start=1):
        if block.group(1) != b"PUBLIC KEY":
            raise ValueError(f"block {index} is a {block.group(1).decode()}, not a PUBLIC KEY")
        try:
            keys.append(PublicKey.from_pem(block.group(0)))
        except InvalidKey as exc:
            raise ValueError(f"block {index}: {_message(exc)}") from exc
    return keys


# --------------------------------------------------------------------------------------------
# Strict JSON
# --------------------------------------------------------------------------------------------


def _json_object(data: bytes, what: str, reason: str) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"key {key!r} appears twice")
            result[key] = value
        return result

    if len(data) > _MAX_FILE_BYTES:
        raise EnrollmentError(f"{what} is larger than {_MAX_FILE_BYTES} bytes", reason=reason)
    try:
        obj = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EnrollmentError(f"{what} is not JSON: {exc}", reason=reason) from exc
    if not isinstance(obj, dict):
        raise EnrollmentError(f"{what} is not a JSON object", reason=reason)
    return obj


class _Fields:
    """Typed access to a parsed JSON object; every fault is one ``EnrollmentError``."""

    def __init__(
        self, obj: Mapping[str, Any], *, what: str, keys: frozenset[str], reason: str
    ) -> None:
        self._obj, self._what, self._reason = obj, what, reason
        # Unknown keys are refused, not ignored: a misspelt key would otherwise pass unseen.
        unknown, missing = sorted(set(obj) - keys), sorted(keys - set(obj))
        if unknown or missing:
            raise self.fail(f"has unknown keys {unknown} or lacks keys {missing}")

    def fail(self, problem: str) -> EnrollmentError:
        return EnrollmentError(f"{self._what} {problem}", reason=self._reason)

    def text(self, key: str) -> str:
        value = self._obj[key]
        if not isinstance(value, str):
            raise self.fail(f"key {key!r} must be a string")
        return value

    def integer(self, key: str) -> int:
        value = self._obj[key]
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"key {key!r} must be an integer")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._obj[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"key {key!r} must be a list of strings")
        return tuple(value)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self._obj[key]
        if not isinstance(value, dict):
            raise self.fail(f"key {key!r} must be an object")
        return value


def _ascii(fields: _Fields, key: str) -> bytes:
    """A PEM text field as bytes (PEM is ASCII; anything else is refused, not replaced)."""
    value = fields.text(key)
    if not value.isascii():
        raise fields.fail(f"key {key!r} is not PEM text")
    return value.encode("ascii")


def _dump(obj: Mapping[str, Any]) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# The request
# --------------------------------------------------------------------------------------------

_REQUEST_KEYS: Final = frozenset(
    {
        "format",
        "type",
        "node_id",
        "kind",
        "region_code",
        "sector",
        "display_name",
        "endpoints",
        "log_origin",
        "keys",
        "tls",
    }
)
_KEY_KEYS: Final = frozenset({"algorithm", "key_id", "public_key"})


def _key_json(key: PublicKey | SealingPublicKey) -> dict[str, str]:
    return {
        "algorithm": key.algorithm.name,
        "key_id": key.key_id,
        "public_key": base64.b64encode(key.public_bytes).decode("ascii"),
    }


def _key_from_json(fields: _Fields, name: str, *, sealing: bool) -> PublicKey | SealingPublicKey:
    entry = _Fields(
        fields.mapping(name), what=f"key {name!r}", keys=_KEY_KEYS, reason=_REQUEST_MALFORMED
    )
    try:
        algorithm = Algorithm[entry.text("algorithm")]
        data = base64.b64decode(entry.text("public_key"), validate=True)
        key: PublicKey | SealingPublicKey = (
            SealingPublicKey.from_bytes(data, algorithm)
            if sealing
            else PublicKey.from_bytes(data, algorithm)
        )
    except KeyError:
        raise entry.fail(f"names an unknown algorithm {entry.text('algorithm')!r}") from None
    except (binascii.Error, InvalidKey) as exc:
        raise entry.fail(f"does not hold a valid public key: {_message(exc)}") from exc
    # The key id is derived from the key; a differing one is a corrupt or edited request.
    if key.key_id != entry.text("key_id"):
        raise entry.fail(f"key_id {entry.text('key_id')!r} is not the key's id {key.key_id}")
    return key


@dataclass(frozen=True, kw_only=True)
class EnrollmentRequest:
    """What a node asks the federation for: membership with these keys, at these endpoints.

    Built by :func:`create_node` or :meth:`from_json`, which check, in order (reason
    ``ENROLLMENT_REQUEST_MALFORMED``):

    1. the file is a JSON object of format 1 and type ``creditlink.enrollment-request`` with
       exactly the expected keys;
    2. the node id, region code, kind (a gateway kind), sector (required for a sectoral node),
       display name, endpoints (1 to 16 distinct ``host:port``, no wildcard host) and log origin
       are valid;
    3. the signing key is a signing algorithm's, the sealing key a sealing algorithm's, the
       checkpoint key Ed25519 (C2SP signed notes), each with its own key id;
    4. the CSR verifies under its own key (the node holds the TLS key), which is ECDSA P-256,
       names the node id as its common name, and asks for exactly the endpoints' hosts as
       subject alternative names; ``tls_spki_sha256`` is that key's pin.
    """

    node_id: str
    kind: NodeKind
    region_code: str
    sector: str = ""
    display_name: str = ""
    endpoints: tuple[str, ...]
    log_origin: str
    signing_key: PublicKey
    sealing_key: SealingPublicKey
    checkpoint_key: PublicKey
    csr_pem: bytes = field(repr=False)

    def __post_init__(self) -> None:
        try:
            self._check()
        except ValueError as exc:  # includes InvalidIdentifier
            raise EnrollmentError(
                f"enrollment request: {_message(exc)}", reason=_REQUEST_MALFORMED
            ) from exc

    def _check(self) -> None:
        if validate_node_id(self.node_id) != self.node_id:
            raise ValueError(f"node id {self.node_id!r} has surrounding whitespace")
        if validate_region_code(self.region_code) != self.region_code:
            raise ValueError(f"region code {self.region_code!r} is not in compact form")
        if self.kind not in GATEWAY_KINDS:
            raise ValueError(f"kind {kind_name(self.kind)} is not a gateway kind")
        _check_sector(self.kind, self.sector)
        if len(self.display_name) > _MAX_TEXT:
            raise ValueError(f"display name is longer than {_MAX_TEXT} characters")
        if not 1 <= len(self.endpoints) <= _MAX_ENDPOINTS:
            raise ValueError(f"needs 1 to {_MAX_ENDPOINTS} endpoints")
        if len(set(self.endpoints)) != len(self.endpoints):
            raise ValueError("endpoints repeat")
        for endpoint in self.endpoints:
            if _is_unspecified(_split_endpoint(endpoint)[0]):
                raise ValueError(f"endpoint {endpoint!r} is a wildcard address peers cannot use")
        _check_log_origin(self.log_origin)
        if self.signing_key.algorithm not in SIGNING_ALGORITHMS:
            raise ValueError("the signing key is not a signing key")
        if self.checkpoint_key.algorithm is not Algorithm.ED25519:
            raise ValueError("the checkpoint key must be Ed25519 (C2SP signed notes)")
        if self.signing_key == self.checkpoint_key:
            raise ValueError("the signing and checkpoint keys must differ")
        self._check_csr()

    def _check_csr(self) -> None:
        try:
            csr = x509.load_pem_x509_csr(self.csr_pem)
        except ValueError as exc:
            raise ValueError(f"the CSR is not a PEM certificate signing request: {exc}") from exc
        if not csr.is_signature_valid:
            raise ValueError("the CSR's signature does not verify")
        public = csr.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
            public.curve, ec.SECP256R1
        ):
            raise ValueError("the CSR's key must be ECDSA P-256")
        common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if [a.value for a in common_names] != [self.node_id]:
            raise ValueError(f"the CSR's common name must be the node id {self.node_id!r}")
        wanted = {_san_key(host) for host in _endpoint_hosts(self.endpoints)}
        asked = _certificate_names(csr.extensions)
        if asked != wanted:
            raise ValueError(
                f"the CSR must ask for exactly the endpoints' hosts {sorted(h for _, h in wanted)}"
                f" as subject alternative names, not {sorted(h for _, h in asked)}"
            )

    @property
    def tls_spki_sha256(self) -> bytes:
        """The TLS pin the node's certificate will have (SHA-256 of the CSR key's SPKI)."""
        public = x509.load_pem_x509_csr(self.csr_pem).public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)  # checked on construction
        return hashlib.sha256(_spki(public)).digest()

    def to_json(self) -> bytes:
        """The request file (UTF-8 JSON, two-space indent)."""
        return _dump(
            {
                "format": _FORMAT,
                "type": REQUEST_TYPE,
                "node_id": self.node_id,
                "kind": kind_name(self.kind),
                "region_code": self.region_code,
                "sector": self.sector,
                "display_name": self.display_name,
                "endpoints": list(self.endpoints),
                "log_origin": self.log_origin,
                "keys": {
                    "signing": _key_json(self.signing_key),
                    "sealing": _key_json(self.sealing_key),
                    "checkpoint": _key_json(self.checkpoint_key),
                },
                "tls": {
                    "csr": self.csr_pem.decode("ascii"),
                    "spki_sha256": self.tls_spki_sha256.hex(),
                },
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> EnrollmentRequest:
        """Parse and check a request file (steps in the class docstring)."""
        fields = _Fields(
            _json_object(data, "enrollment request", _REQUEST_MALFORMED),
            what="enrollment request",
            keys=_REQUEST_KEYS,
            reason=_REQUEST_MALFORMED,
        )
        if fields.integer("format") != _FORMAT or fields.text("type") != REQUEST_TYPE:
            raise fields.fail(f"is not a format-{_FORMAT} {REQUEST_TYPE}")
        try:
            kind = kind_from_name(fields.text("kind"))
        except ValueError as exc:
            raise fields.fail(f"kind: {exc}") from exc
        keys = _Fields(
            fields.mapping("keys"),
            what="enrollment request keys",
            keys=frozenset({"signing", "sealing", "checkpoint"}),
            reason=_REQUEST_MALFORMED,
        )
        tls = _Fields(
            fields.mapping("tls"),
            what="enrollment request tls",
            keys=frozenset({"csr", "spki_sha256"}),
            reason=_REQUEST_MALFORMED,
        )
        signing = _key_from_json(keys, "signing", sealing=False)
        sealing = _key_from_json(keys, "sealing", sealing=True)
        checkpoint = _key_from_json(keys, "checkpoint", sealing=False)
        assert isinstance(signing, PublicKey)
        assert isinstance(checkpoint, PublicKey)
        assert isinstance(sealing, SealingPublicKey)
        request = cls(
            node_id=fields.text("node_id"),
            kind=kind,
            region_code=fields.text("region_code"),
            sector=fields.text("sector"),
            display_name=fields.text("display_name"),
            endpoints=fields.texts("endpoints"),
            log_origin=fields.text("log_origin"),
            signing_key=signing,
            sealing_key=sealing,
            checkpoint_key=checkpoint,
            csr_pem=_ascii(tls, "csr"),
        )
        if tls.text("spki_sha256") != request.tls_spki_sha256.hex():
            raise tls.fail("spki_sha256 is not the pin of the CSR's key")
        return request


# --------------------------------------------------------------------------------------------
# The response
# --------------------------------------------------------------------------------------------

_RESPONSE_KEYS: Final = frozenset(
    {
        "format",
        "type",
        "federation_id",
        "node_id",
        "request_sha256",
        "certificate_chain",
        "ca_certificates",
        "trust_bundle",
        "trust_roots",
        "trust_roots_threshold",
    }
)


@dataclass(frozen=True, kw_only=True)
class EnrollmentResponse:
    """What the federation answers: the node's certificate and the bundle that lists it.

    ``request_sha256`` names the request it answers; ``trust_bundle`` is the signed DSSE
    envelope (not verified here: :func:`complete_node` verifies it against roots pinned out of
    band); ``trust_roots_pem`` and ``trust_roots_threshold`` are what the node pins.
    :meth:`from_json` checks the structure only (reason ``ENROLLMENT_RESPONSE_MALFORMED``).
    """

    federation_id: str
    node_id: str
    request_sha256: str
    certificate_pem: bytes = field(repr=False)
    ca_pem: bytes = field(repr=False)
    trust_bundle: Envelope
    trust_roots_pem: bytes = field(repr=False)
    trust_roots_threshold: int

    def to_json(self) -> bytes:
        """The response file (UTF-8 JSON; the bundle as a DSSE JSON object)."""
        return _dump(
            {
                "format": _FORMAT,
                "type": RESPONSE_TYPE,
                "federation_id": self.federation_id,
                "node_id": self.node_id,
                "request_sha256": self.request_sha256,
                "certificate_chain": self.certificate_pem.decode("ascii"),
                "ca_certificates": self.ca_pem.decode("ascii"),
                "trust_bundle": self.trust_bundle.to_dict(),
                "trust_roots": self.trust_roots_pem.decode("ascii"),
                "trust_roots_threshold": self.trust_roots_threshold,
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> EnrollmentResponse:
        """Parse a response file; nothing in it is trusted yet."""
        fields = _Fields(
            _json_object(data, "enrollment response", _RESPONSE_MALFORMED),
            what="enrollment response",
            keys=_RESPONSE_KEYS,
            reason=_RESPONSE_MALFORMED,
        )
        if fields.integer("format") != _FORMAT or fields.text("type") != RESPONSE_TYPE:
            raise fields.fail(f"is not a format-{_FORMAT} {RESPONSE_TYPE}")
        if not _HEX64_RE.fullmatch(fields.text("request_sha256")):
            raise fields.fail("request_sha256 is not 64 lowercase hex digits")
        try:
            bundle = Envelope.from_json(fields.mapping("trust_bundle"))
        except InvalidEnvelope as exc:
            raise fields.fail(f"trust_bundle is not a DSSE envelope: {_message(exc)}") from exc
        return cls(
            federation_id=fields.text("federation_id"),
            node_id=fields.text("node_id"),
            request_sha256=fields.text("request_sha256"),
            certificate_pem=_ascii(fields, "certificate_chain"),
            ca_pem=_ascii(fields, "ca_certificates"),
            trust_bundle=bundle,
            trust_roots_pem=_ascii(fields, "trust_roots"),
            trust_roots_threshold=fields.integer("trust_roots_threshold"),
        )


# --------------------------------------------------------------------------------------------
# The node: prepare (creditlink init)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NodeParameters:
    """What ``creditlink init`` is told about the node; checked on construction.

    ``listen`` is where the gateway binds (``0.0.0.0:7443`` for every interface);
    ``advertise`` where peers reach it (the trust bundle's endpoints and the certificate's
    names), by default ``listen``, which must then not be a wildcard. ``log_origin`` defaults
    to ``creditlink/<node_id>``. Raises :class:`EnrollmentError` (``ENROLLMENT_INVALID_PARAMETER``)
    naming the parameter at fault.
    """

    node_id: str
    kind: NodeKind
    region_code: str
    listen: str
    advertise: tuple[str, ...] = ()
    sector: str = ""
    display_name: str = ""
    upstream: Upstream | None = None
    store_url: str = field(default="", repr=False)
    metrics_listen: str = DEFAULT_METRICS_LISTEN
    log_origin: str = ""
    sealing_algorithm: Algorithm = Algorithm.X25519_HPKE

    def __post_init__(self) -> None:
        def invalid(what: str, exc: Exception) -> EnrollmentError:
            return EnrollmentError(f"{what}: {_message(exc)}", reason=_INVALID)

        try:
            if validate_node_id(self.node_id) != self.node_id:
                raise ValueError(f"{self.node_id!r} has surrounding whitespace")
        except ValueError as exc:
            raise invalid("node id", exc) from exc
        try:
            if validate_region_code(self.region_code) != self.region_code:
                raise ValueError(f"{self.region_code!r} is not in compact form (6 digits)")
        except ValueError as exc:
            raise invalid("region code", exc) from exc
        if self.kind not in GATEWAY_KINDS:
            names = ", ".join(kind_name(k) for k in GATEWAY_KINDS)
            raise EnrollmentError(
                f"kind: {kind_name(self.kind)} is not a gateway kind ({names})", reason=_INVALID
            )
        try:
            _check_sector(self.kind, self.sector)
        except ValueError as exc:
            raise invalid("sector", exc) from exc
        if len(self.display_name) > _MAX_TEXT:
            raise EnrollmentError(
                f"display name is longer than {_MAX_TEXT} characters", reason=_INVALID
            )
        try:
            # A real node listens on a port its peers know: no port 0.
            listen_host, _ = _split_endpoint(self.listen)
        except ValueError as exc:
            raise invalid("listen address", exc) from exc
        if not self.advertise:
            if _is_unspecified(listen_host):
                raise EnrollmentError(
                    f"listen address {self.listen!r} binds every interface, so it says nothing "
                    "about where peers reach this node: give the advertised address(es) "
                    "(--advertise HOST:PORT)",
                    reason=_INVALID,
                )
            object.__setattr__(self, "advertise", (self.listen,))
        if len(self.advertise) > _MAX_ENDPOINTS or len(set(self.advertise)) != len(self.advertise):
            raise EnrollmentError(
                f"advertised addresses: at most {_MAX_ENDPOINTS}, each once", reason=_INVALID
            )
        for endpoint in self.advertise:
            try:
                host, _ = _split_endpoint(endpoint)
                if _is_unspecified(host):
                    raise ValueError(f"{endpoint!r} is a wildcard address peers cannot reach")
            except ValueError as exc:
                raise invalid("advertised address", exc) from exc
        if self.upstream is not None and self.upstream.node_id == self.node_id:
            raise EnrollmentError("upstream: a node cannot forward to itself", reason=_INVALID)
        if not self.log_origin:
            object.__setattr__(self, "log_origin", f"creditlink/{self.node_id}")
        try:
            _check_log_origin(self.log_origin)
        except ValueError as exc:
            raise invalid("log origin", exc) from exc
        if self.sealing_algorithm not in (Algorithm.X25519_HPKE, Algorithm.MLKEM768_X25519_HPKE):
            raise EnrollmentError(
                f"sealing algorithm: {self.sealing_algorithm.name} is not a sealing algorithm",
                reason=_INVALID,
            )

    def gateway_config(self, directory: Path) -> GatewayConfig:
        """The configuration of the node in ``directory`` (data in ``data/``, keys in ``node/``).

        Checks the store URL and metrics address (``ENROLLMENT_INVALID_PARAMETER``).
        """
        try:
            return GatewayConfig(
                node_id=self.node_id,
                data_dir=directory / _DATA_DIR,
                credentials_dir=directory / NODE_DIR,
                store_url=self.store_url,
                listen=self.listen,
                metrics_listen=self.metrics_listen,
                upstream=self.upstream,
            )
        except ConfigError as exc:
            raise EnrollmentError(f"configuration: {_message(exc)}", reason=_INVALID) from exc


@dataclass(frozen=True, kw_only=True)
class PreparedNode:
    """What :func:`create_node` made: where, and the request to send."""

    directory: Path
    request: EnrollmentRequest
    request_sha256: str

    @property
    def request_path(self) -> Path:
        """``<directory>/enrollment-request.json``, the file to send to the federation."""
        return self.directory / REQUEST_FILE

    @property
    def config_path(self) -> Path:
        """``<directory>/creditlink.toml``."""
        return self.directory / CONFIG_FILE


def _require_new_directory(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise EnrollmentError(
            f"{target} already exists and is not empty; nothing was changed (choose another "
            "directory, or remove it if it holds nothing you need)",
            reason=_EXISTS,
        )


def _csr_pem(key: ec.EllipticCurvePrivateKey, node_id: str, endpoints: Sequence[str]) -> bytes:
    names = [_general_name(host) for host in _endpoint_hosts(endpoints)]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


@contextlib.contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A fresh 0700 sibling of ``target``, renamed onto it when the block succeeds.

    ``rename`` replaces an empty directory and fails on a non-empty one, so a directory filled
    meanwhile by someone else is never clobbered, and a failure leaves nothing behind.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    staging.mkdir(mode=0o700)
    try:
        yield staging
        try:
            staging.rename(target)
        except OSError as exc:
            raise EnrollmentError(
                f"{target} appeared while it was being created; nothing was changed",
                reason=_EXISTS,
            ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def create_node(directory: str | os.PathLike[str], params: NodeParameters) -> PreparedNode:
    """Prepare a node in ``directory`` (must not exist, or be empty): ``creditlink init``.

    Generates the signing (Ed25519), sealing (X25519 or the ML-KEM-768 hybrid), checkpoint
    (Ed25519) and TLS (ECDSA P-256) keys into ``pending/`` (0600 files in 0700 directories),
    a CSR for the advertised hosts, ``creditlink.toml`` (0600) and the enrollment request.
    Everything is written to a temporary sibling and renamed into place at the end, so a
    failure leaves nothing behind. Raises :class:`EnrollmentError`.
    """
    target = Path(directory).expanduser().absolute()
    _require_new_directory(target)
    config = params.gateway_config(target)
    signing, checkpoint = PrivateKey.generate(), PrivateKey.generate()
    sealing = SealingPrivateKey.generate(params.sealing_algorithm)
    tls_key = generate_tls_key()
    request = EnrollmentRequest(
        node_id=params.node_id,
        kind=params.kind,
        region_code=params.region_code,
        sector=params.sector,
        display_name=params.display_name,
        endpoints=params.advertise,
        log_origin=params.log_origin,
        signing_key=signing.public_key,
        sealing_key=sealing.public_key,
        checkpoint_key=checkpoint.public_key,
        csr_pem=_csr_pem(tls_key, params.node_id, params.advertise),
    )
    request_json = request.to_json()
    with _staged(target) as staging:
        pending = staging / PENDING_DIR
        pending.mkdir(mode=0o700)
        for sub in ("keys", "tls"):
            (pending / sub).mkdir(mode=0o700)
        save_private_key(signing, pending / SIGNING_KEY)
        save_private_key(sealing, pending / SEALING_KEY)
        save_private_key(checkpoint, pending / CHECKPOINT_KEY)
        write_file_atomic(pending / KEY_PEM, private_key_pem(tls_key), mode=0o600)
        write_file_atomic(pending / _CSR_FILE, request.csr_pem)
        write_file_atomic(staging / REQUEST_FILE, request_json)
        # The file names final paths; they are valid once the staging directory is renamed.
        write_config(staging / CONFIG_FILE, config)
    return PreparedNode(directory=target, request=request, request_sha256=sha256_hex(request_json))


# --------------------------------------------------------------------------------------------
# The node: complete (creditlink init --complete)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CompletedNode:
    """The result of :func:`complete_node`: loaded credentials and what to look at."""

    directory: Path
    config_path: Path
    credentials: Credentials
    #: Things that do not stop the node but need attention (e.g. an upstream not in the bundle).
    warnings: tuple[str, ...] = ()


def _mismatch(problem: str) -> EnrollmentError:
    return EnrollmentError(f"enrollment response {problem}", reason=_RESPONSE_MISMATCH)


def _load_pending(
    pending: Path, request: EnrollmentRequest
) -> tuple[PrivateKey, SealingPrivateKey, PrivateKey, ec.EllipticCurvePrivateKey, bytes]:
    try:
        signing = load_private_key(pending / SIGNING_KEY)
        sealing = load_private_key(pending / SEALING_KEY)
        checkpoint = load_private_key(pending / CHECKPOINT_KEY)
        tls_pem = read_secret_file(pending / KEY_PEM)
        tls_key = serialization.load_pem_private_key(tls_pem, password=None)
    except (OSError, InvalidKey, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise EnrollmentError(
            f"{pending}: the keys made by creditlink init cannot be read: {_message(exc)}",
            reason=_NOT_PREPARED,
        ) from exc
    if not (
        isinstance(signing, PrivateKey)
        and isinstance(sealing, SealingPrivateKey)
        and isinstance(checkpoint, PrivateKey)
        and isinstance(tls_key, ec.EllipticCurvePrivateKey)
        and signing.public_key == request.signing_key
        and sealing.public_key == request.sealing_key
        and checkpoint.public_key == request.checkpoint_key
        and hashlib.sha256(_spki(tls_key.public_key())).digest() == request.tls_spki_sha256
    ):
        raise EnrollmentError(
            f"{pending} no longer holds the keys of {REQUEST_FILE}", reason=_NOT_PREPARED
        )
    return signing, sealing, checkpoint, tls_key, tls_pem


def _check_bundle_entry(bundle: TrustBundle, request: EnrollmentRequest, now: datetime) -> None:
    """The bundle lists the node as requested, with exactly the keys it holds."""
    where = f"trust bundle version {bundle.version}"
    try:
        info = bundle.node(request.node_id)
    except KeyError:
        raise _mismatch(f"holds a {where} that does not list {request.node_id}") from None
    requested = (request.kind, request.region_code, request.sector, request.endpoints)
    if (info.kind, info.region_code, info.sector, info.endpoints) != requested:
        raise _mismatch(
            f"lists {request.node_id} in {where} as {kind_name(info.kind)} "
            f"{info.region_code} {info.sector!r} at {list(info.endpoints)}, not as requested"
        )
    if info.log_origin != request.log_origin:
        raise _mismatch(f"gives {request.node_id} log origin {info.log_origin!r} in {where}")
    if request.tls_spki_sha256 not in info.tls_spki_sha256:
        raise _mismatch(f"does not pin this node's TLS key in {where}")
    if request.signing_key not in bundle.signing_keys(request.node_id, kind="batch-head", at=now):
        raise _mismatch(f"does not list this node's signing key in {where}")
    try:
        sealing = bundle.sealing_key(request.node_id, at=now)
    except InvalidKey:
        sealing = None
    if sealing is None or sealing.key_id != request.sealing_key.key_id:
        raise _mismatch(f"does not list this node's sealing key as current in {where}")
    if not any(
        r.key_id == request.checkpoint_key.key_id and r.note_name == request.log_origin
        for r in bundle.checkpoint_keys(request.node_id, at=now)
    ):
        raise _mismatch(f"does not list this node's checkpoint key in {where}")


def _check_certificate(
    response: EnrollmentResponse,
    tls_key: ec.EllipticCurvePrivateKey,
    request: EnrollmentRequest,
    now: datetime,
) -> None:
    """The chain is for our TLS key, issued by the CA we will trust, usable by a node now."""
    try:
        chain = x509.load_pem_x509_certificates(response.certificate_pem)
        cas = x509.load_pem_x509_certificates(response.ca_pem)
    except ValueError as exc:
        raise _mismatch(f"holds certificates that do not parse: {exc}") from exc
    leaf = chain[0]
    if _spki(leaf) != _spki(tls_key.public_key()):
        raise _mismatch("holds a certificate for another key than this node's TLS key")
    # Each certificate is issued by the next one, the last by one of the CA certificates.
    links = [(cert, [issuer]) for cert, issuer in itertools.pairwise(chain)]
    for cert, issuers in [*links, (chain[-1], cas)]:
        if not any(_issued_by(cert, issuer) for issuer in issuers):
            raise _mismatch("holds a certificate chain the CA certificates do not issue")
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise _mismatch("holds a certificate that is not valid now")
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = x509.ExtendedKeyUsage([])
    if not {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages):
        raise _mismatch("holds a certificate without serverAuth and clientAuth")
    wanted = {_san_key(host) for host in _endpoint_hosts(request.endpoints)}
    if not wanted <= _certificate_names(leaf.extensions):
        raise _mismatch("holds a certificate that does not name every advertised host")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def complete_node(
    directory: str | os.PathLike[str],
    response_json: bytes,
    *,
    roots_sha256: str,
    now: datetime | None = None,
) -> CompletedNode:
    """Install the federation's response in a node prepared by :func:`create_node`.

    ``roots_sha256`` is the fingerprint of the federation's root keys (SHA-256 of its
    ``roots.pem``), obtained over another channel than the response. Checks, in order, and
    writes nothing unless all pass:

    1. ``directory`` was prepared by ``creditlink init`` and is not complete yet;
    2. the response parses, names this node and the SHA-256 of this directory's request;
    3. its root keys have the fingerprint ``roots_sha256`` (``ENROLLMENT_ROOTS_MISMATCH``);
    4. its trust bundle verifies against those roots and its threshold now (``TRUST_BUNDLE_*``);
    5. the bundle lists this node as requested, with its TLS pin and its signing, sealing and
       checkpoint keys (``ENROLLMENT_RESPONSE_MISMATCH``);
    6. the certificate is for this node's TLS key, issued by the response's CA certificates,
       valid now, for server and client use and for every advertised host;
    7. the credentials directory (the config's ``credentials_dir``, by default ``node/``)
       is written with :meth:`Credentials.write`, which loads it once more.

    Then the response is kept as ``enrollment-response.json`` and ``pending/`` removed.
    """
    now = _round(now)
    target = Path(directory).expanduser().absolute()
    # 1. Prepared and not complete.
    request_path = target / REQUEST_FILE
    try:
        request_json = request_path.read_bytes()
    except FileNotFoundError:
        raise EnrollmentError(
            f"{target} holds no {REQUEST_FILE}: it was not prepared with creditlink init",
            reason=_NOT_PREPARED,
        ) from None
    request = EnrollmentRequest.from_json(request_json)
    try:
        config = load_config(target / CONFIG_FILE, env={})
    except ConfigError as exc:
        raise EnrollmentError(_message(exc), reason=_NOT_PREPARED) from exc
    node_dir = config.credentials_dir
    if node_dir.exists():
        raise EnrollmentError(
            f"{node_dir} already exists: this node's enrollment is complete", reason=_COMPLETE
        )
    pending = target / PENDING_DIR
    if not pending.is_dir():
        raise EnrollmentError(f"{pending} is missing", reason=_NOT_PREPARED)
    # 2. It answers this request.
    response = EnrollmentResponse.from_json(response_json)
    if response.node_id != request.node_id:
        raise _mismatch(f"is for node {response.node_id!r}; {target} is {request.node_id!r}")
    if response.request_sha256 != sha256_hex(request_json):
        raise _mismatch(f"answers another enrollment request than {request_path}")
    # 3. The roots are the federation's, as published out of band.
    expected = roots_sha256.strip().lower()
    if not _HEX64_RE.fullmatch(expected):
        raise EnrollmentError(
            "the roots fingerprint must be 64 hex digits (sha256sum of the federation's roots.pem)",
            reason=_INVALID,
        )
    if sha256_hex(response.trust_roots_pem) != expected:
        raise EnrollmentError(
            f"the response's root keys have fingerprint {sha256_hex(response.trust_roots_pem)}, "
            f"not {expected}: it does not come from the federation you were told of; nothing "
            "was installed",
            reason=_ROOTS_MISMATCH,
        )
    try:
        roots = _pem_public_keys(response.trust_roots_pem)
    except ValueError as exc:
        raise EnrollmentError(
            f"enrollment response trust_roots: {exc}", reason=_RESPONSE_MALFORMED
        ) from exc
    # 4. The bundle verifies against them.
    threshold = response.trust_roots_threshold
    if not 1 <= threshold <= len(set(roots)):
        raise EnrollmentError(
            f"enrollment response: threshold {threshold} does not fit {len(roots)} roots",
            reason=_RESPONSE_MALFORMED,
        )
    try:
        bundle = TrustBundle.from_envelope(
            response.trust_bundle, trusted_roots=roots, threshold=threshold, now=now
        )
    except InvalidTrustBundle as exc:
        raise EnrollmentError(
            f"the response's trust bundle does not verify: {_message(exc)}", reason=exc.reason
        ) from exc
    if bundle.federation_id != response.federation_id:
        raise _mismatch(f"names federation {response.federation_id!r}, its bundle another")
    # 5. and 6. It lists our keys; the certificate is for our TLS key.
    signing, sealing, checkpoint, tls_key, tls_pem = _load_pending(pending, request)
    _check_bundle_entry(bundle, request, now)
    _check_certificate(response, tls_key, request, now)
    # 7. Write the credentials directory (it is loaded and checked once more before the rename).
    try:
        credentials = Credentials.write(
            node_dir,
            manifest=Manifest(
                node_id=request.node_id,
                role=Role.NODE,
                federation_id=bundle.federation_id,
                endpoints=(config.listen,),
                trust_roots_threshold=threshold,
            ),
            ca_pem=response.ca_pem,
            cert_pem=response.certificate_pem,
            tls_key_pem=tls_pem,
            signing_key=signing,
            sealing_key=sealing,
            checkpoint_key=checkpoint,
            trusted_roots=roots,
            trust_bundle=response.trust_bundle,
            now=now,
        )
    except (InvalidCredentials, ValueError) as exc:
        reason = exc.reason if isinstance(exc, CreditlinkError) else _RESPONSE_MISMATCH
        raise EnrollmentError(
            f"the credentials do not load: {_message(exc)}", reason=reason
        ) from exc
    write_file_atomic(target / RESPONSE_FILE, response_json)
    # The keys now live in the credentials directory; the copies in pending/ go.
    shutil.rmtree(pending)
    warnings: list[str] = []
    if config.upstream is not None:
        try:
            upstream = bundle.node(config.upstream.node_id)
        except KeyError:
            warnings.append(
                f"upstream {config.upstream.node_id} is not in trust bundle version "
                f"{bundle.version}: forwarding to it will fail until it is"
            )
        else:
            if config.upstream.endpoint not in upstream.endpoints:
                warnings.append(
                    f"upstream endpoint {config.upstream.endpoint} is not one the trust "
                    f"bundle lists for {upstream.node_id} ({', '.join(upstream.endpoints)})"
                )
    return CompletedNode(
        directory=target,
        config_path=target / CONFIG_FILE,
        credentials=credentials,
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------------------------
# The federation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Federation:
    """A federation operator's directory, as ``federation/federation.json`` describes it.

    Opened with :func:`open_federation`; made with :func:`create_federation` (or by
    ``creditlink dev up``, whose directories have the same layout).
    """

    directory: Path
    federation_id: str
    root_files: tuple[str, ...]
    root_threshold: int
    #: Credentials directories (names under ``directory``) every new bundle is installed in.
    members: tuple[str, ...]

    @property
    def federation_dir(self) -> Path:
        """``<directory>/federation``: root keys, CA, bundles (0700)."""
        return self.directory / _FEDERATION_DIR

    @property
    def bundles_dir(self) -> Path:
        """Every trust bundle version, ``<version>.json``."""
        return self.federation_dir / _BUNDLES_DIR

    def root_keys(self) -> list[PrivateKey]:
        """The root signing keys (files must be 0600)."""
        keys = []
        for name in self.root_files:
            path = self.federation_dir / name
            try:
                key = load_private_key(path)
            except (OSError, InvalidKey) as exc:
                raise EnrollmentError(
                    f"root key {path} cannot be read: {_message(exc)}", reason=_FEDERATION_INVALID
                ) from exc
            if not isinstance(key, PrivateKey):
                raise EnrollmentError(f"{path} is not a signing key", reason=_FEDERATION_INVALID)
            keys.append(key)
        return keys

    def roots_pem(self) -> bytes:
        """The public root keys as PEM, in ``federation.json`` order (what members pin)."""
        return b"".join(key.public_key.to_pem() for key in self.root_keys())

    @property
    def roots_sha256(self) -> str:
        """The roots fingerprint: SHA-256 of :meth:`roots_pem` (= ``sha256sum roots.pem``)."""
        return sha256_hex(self.roots_pem())

    def ca(self) -> DevCA:
        """The federation CA (key file 0600)."""
        try:
            return DevCA.load(self.federation_dir / "ca.pem", self.federation_dir / "ca-key.pem")
        except (OSError, ValueError, InvalidKey) as exc:
            raise EnrollmentError(
                f"the CA in {self.federation_dir} cannot be loaded: {_message(exc)}",
                reason=_FEDERATION_INVALID,
            ) from exc

    def versions(self) -> dict[int, Path]:
        """Bundle versions kept in ``bundles/``, by version number."""
        return {
            int(path.stem): path
            for path in self.bundles_dir.glob("*.json")
            if path.stem.isdigit() and not path.stem.startswith("0")
        }

    def current_bundle(self, *, now: datetime | None = None) -> TrustBundle:
        """The newest bundle version, verified against the root keys held here.

        An expired bundle is returned too (verified as of its issue time): enrolling or renewing
        is how a federation whose bundle lapsed gets a current one again.
        """
        now = _round(now)
        versions = self.versions()
        if not versions:
            raise EnrollmentError(f"{self.bundles_dir} holds no bundle", reason=_FEDERATION_INVALID)
        path = versions[max(versions)]
        roots = [key.public_key for key in self.root_keys()]
        try:
            env = read_trust_bundle_envelope(path)
            try:
                return TrustBundle.from_envelope(
                    env, trusted_roots=roots, threshold=self.root_threshold, now=now
                )
            except InvalidTrustBundle as exc:
                if exc.reason != "TRUST_BUNDLE_EXPIRED":
                    raise
            # Signatures first, only then the payload for its issue time (as credentials.py
            # does for an expired bundle), then everything again as of that time.
            payload = _envelope.verify(
                env, keys=roots, expected_type=TRUST_BUNDLE_PAYLOAD_TYPE, threshold=1
            )
            issued_at = parse_strict(trust_pb2.TrustBundle, payload).issued_at.ToDatetime(
                tzinfo=UTC
            )
            return TrustBundle.from_envelope(
                env, trusted_roots=roots, threshold=self.root_threshold, now=issued_at
            )
        except (OSError, InvalidTrustBundle, InvalidEnvelope) as exc:
            raise EnrollmentError(
                f"{path} does not verify against the federation's root keys: {_message(exc)}",
                reason=_FEDERATION_INVALID,
            ) from exc


def _plain_name(value: object) -> str:
    if not isinstance(value, str) or not value or "/" in value or value.startswith("."):
        raise ValueError(f"{value!r} is not a plain file name")
    return value


def open_federation(directory: str | os.PathLike[str]) -> Federation:
    """Read ``<directory>/federation/federation.json`` (``FEDERATION_DIRECTORY_INVALID``)."""
    root = Path(directory).expanduser().absolute()
    path = root / _FEDERATION_DIR / _FEDERATION_JSON
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise ValueError(f"not a format-{_FORMAT} federation.json")
        members = obj["members"]
        if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
            raise ValueError("members must be a list of objects")
        threshold = obj["root_threshold"]
        roots = tuple(_plain_name(name) for name in obj["root_keys"])
        if not isinstance(threshold, int) or not 1 <= threshold <= len(roots):
            raise ValueError("root_threshold does not fit root_keys")
        return Federation(
            directory=root,
            federation_id=str(obj["federation_id"]),
            root_files=roots,
            root_threshold=threshold,
            members=tuple(_plain_name(m.get("directory")) for m in members),
        )
    except FileNotFoundError:
        raise EnrollmentError(
            f"{root} is not a federation directory (no {_FEDERATION_DIR}/{_FEDERATION_JSON}); "
            "create one with creditlink federation create",
            reason=_FEDERATION_INVALID,
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EnrollmentError(f"{path} cannot be read: {exc}", reason=_FEDERATION_INVALID) from exc


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # Two enrollments at once would both build version N+1 from version N; the second would
    # overwrite or orphan the first. bootstrap.py takes the same lock for its renewals.
    fd = os.open(directory / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _check_federation_id(federation_id: str) -> None:
    if not 1 <= len(federation_id) <= _MAX_FEDERATION_ID or any(
        ch.isspace() or ch < "\x20" for ch in federation_id
    ):
        raise EnrollmentError(
            f"federation id {federation_id!r} must have 1 to {_MAX_FEDERATION_ID} characters "
            "and no whitespace",
            reason=_INVALID,
        )


def create_federation(
    directory: str | os.PathLike[str],
    *,
    federation_id: str,
    roots: int = 1,
    threshold: int = 1,
    operator_id: str = DEFAULT_OPERATOR_ID,
    operator_region: str = _NATIONAL_REGION,
    now: datetime | None = None,
) -> Federation:
    """Create a federation in ``directory`` (must not exist, or be empty).

    ``roots`` root signing keys (Ed25519, 0600) of which ``threshold`` must sign each bundle
    version, a federation CA (ECDSA P-256, :class:`~creditlink.gateway.pki.DevCA` named for the
    federation), ``federation/roots.pem`` to publish, and version 1 of the trust bundle (valid
    for :data:`~creditlink.gateway.bootstrap.BUNDLE_VALIDITY`) listing one member: the
    federation operator's client credentials ``operator/`` (kind CLIENT, may read everything),
    for ``creditlink status`` and the like. Every enrollment installs its new bundle there too.

    All root keys are kept in one directory, which makes the threshold a formality; a
    federation that wants it to mean something moves root keys to separate holders and signs
    with them there (not automated yet; docs/enrollment.md).
    """
    now = _round(now)
    target = Path(directory).expanduser().absolute()
    _check_federation_id(federation_id)
    if not 1 <= roots <= _MAX_ROOTS or not 1 <= threshold <= roots:
        raise EnrollmentError(
            f"roots must be 1 to {_MAX_ROOTS} and the threshold 1 to roots ({roots})",
            reason=_INVALID,
        )
    try:
        validate_node_id(operator_id)
        if validate_region_code(operator_region) != operator_region:
            raise ValueError(f"region code {operator_region!r} is not in compact form")
    except ValueError as exc:
        raise EnrollmentError(f"operator: {_message(exc)}", reason=_INVALID) from exc
    _require_new_directory(target)
    root_files = tuple(f"root-{i}.pem" for i in range(1, roots + 1))
    with _staged(target) as staging:
        fed = staging / _FEDERATION_DIR
        fed.mkdir(mode=0o700)
        (fed / _BUNDLES_DIR).mkdir()
        (fed / _ENROLLMENTS_DIR).mkdir()
        ca = DevCA.create(
            f"{federation_id} federation CA",
            organization=f"creditlink federation {federation_id}",
            now=now,
        )
        ca.save(fed / "ca.pem", fed / "ca-key.pem")
        root_keys = [PrivateKey.generate() for _ in root_files]
        for key, name in zip(root_keys, root_files, strict=True):
            save_private_key(key, fed / name)
        roots_pem = b"".join(key.public_key.to_pem() for key in root_keys)
        write_file_atomic(fed / ROOTS_FILE, roots_pem)

        builder = TrustBundleBuilder(
            federation_id=federation_id,
            version=1,
            issued_at=now,
            expires_at=now + BUNDLE_VALIDITY,
            root_threshold=threshold,
        )
        for key in root_keys:
            builder.add_root_key(
                key.public_key, not_before=now - _BACKDATE, not_after=now + KEY_VALIDITY
            )
        tls_key = generate_tls_key()
        cert_pem = ca.issue_client_cert(tls_key, node_id=operator_id, now=now)
        signing, sealing = PrivateKey.generate(), SealingPrivateKey.generate()
        builder.add_node(
            operator_id,
            region_code=operator_region,
            kind=NodeKind.CLIENT,
            tls_spki_sha256=[hashlib.sha256(_spki(tls_key.public_key())).digest()],
            display_name=f"operator of federation {federation_id}",
        )
        for key_pub, purpose in (
            (signing.public_key, Purpose.SIGN),
            (sealing.public_key, Purpose.SEAL),
        ):
            builder.add_key(
                operator_id,
                key_pub,
                purpose,
                not_before=now - _BACKDATE,
                not_after=now + KEY_VALIDITY,
            )
        # The operator looks at nodes (status, checkpoints, the log); it publishes nothing.
        builder.add_permission(operator_id, Action.READ, kinds=["*"], scopes=["*"])
        envelope = builder.sign(root_keys)
        save_trust_bundle(envelope, fed / _BUNDLES_DIR / "1.json")
        Credentials.write(
            staging / _OPERATOR_DIR,
            manifest=Manifest(
                node_id=operator_id,
                role=Role.CLIENT,
                federation_id=federation_id,
                endpoints=(),
                trust_roots_threshold=threshold,
            ),
            ca_pem=ca.cert_pem,
            cert_pem=cert_pem,
            tls_key_pem=private_key_pem(tls_key),
            signing_key=signing,
            sealing_key=sealing,
            checkpoint_key=None,
            trusted_roots=[key.public_key for key in root_keys],
            trust_bundle=envelope,
            now=now,
        )
        record = {
            "format": _FORMAT,
            "federation_id": federation_id,
            "root_keys": list(root_files),
            "root_threshold": threshold,
            "members": [
                {"node_id": operator_id, "role": Role.CLIENT.value, "directory": _OPERATOR_DIR}
            ],
        }
        # Last, as in bootstrap.py: its presence marks a complete federation directory.
        write_file_atomic(fed / _FEDERATION_JSON, _dump(record))
    return open_federation(target)


def grants_for(
    policy: str, kind: NodeKind, *, region_code: str, sector: str = ""
) -> tuple[Grant, ...]:
    """The permissions ``enroll`` grants a node under ``policy``.

    - ``default``: :func:`~creditlink.gateway.bootstrap.default_grants` for the kind (hub:
      everything; regional and sectoral: publish, determine name lists and issue reports in
      their own region or sector, read everything, witness). Credit-service nodes have no
      default: choose ``read`` or ``none``.
    - ``read``: read everything, nothing else.
    - ``none``: no permission (a member that can be identified, and nothing more).
    """
    if policy == "none":
        return ()
    if policy == "read":
        return (Grant(action=Action.READ, kinds=("*",), scopes=("*",)),)
    if policy != "default":
        raise EnrollmentError(
            f"grants {policy!r} is not one of {', '.join(GRANT_POLICIES)}", reason=_INVALID
        )
    try:
        return default_grants(kind, region_code=region_code, sector=sector)
    except ValueError as exc:
        raise EnrollmentError(
            f"{kind_name(kind)} nodes have no default permissions; grant 'read' or 'none'",
            reason=_INVALID,
        ) from exc


@dataclass(frozen=True, kw_only=True)
class Enrollment:
    """The result of :func:`enroll`."""

    request: EnrollmentRequest
    response: EnrollmentResponse
    request_sha256: str
    bundle: TrustBundle
    bundle_path: Path
    grants: tuple[Grant, ...]
    roots_sha256: str
    #: Things the operator should know (shared hosts, members the bundle could not reach).
    warnings: tuple[str, ...] = ()


def _install_members(federation: Federation, now: datetime) -> list[str]:
    """Bring every member directory to the newest version, in order; problems as warnings."""
    versions = federation.versions()
    newest = max(versions)
    warnings = []
    for name in federation.members:
        member = federation.directory / name
        try:
            have = read_trust_bundle(member, now=now, allow_expired=True).version
            for version in range(have + 1, newest + 1):
                update_trust_bundle(member, read_trust_bundle_envelope(versions[version]), now=now)
        except (InvalidCredentials, InvalidTrustBundle, OSError, KeyError) as exc:
            warnings.append(f"member directory {member} was not updated to version {newest}: {exc}")
    return warnings


def _save_version(federation: Federation, envelope: Envelope, version: int) -> Path:
    path = federation.bundles_dir / f"{version}.json"
    if path.exists():
        raise EnrollmentError(
            f"{path} exists although version {version - 1} is the newest verified one; "
            "look at the bundles directory before trying again",
            reason=_FEDERATION_INVALID,
        )
    save_trust_bundle(envelope, path)
    return path


def enroll(
    federation_dir: str | os.PathLike[str],
    request_json: bytes,
    *,
    grants: str = "default",
    expect_sha256: str | None = None,
    valid_for: timedelta = DEFAULT_VALIDITY,
    now: datetime | None = None,
) -> Enrollment:
    """Admit the node of ``request_json`` to the federation in ``federation_dir``.

    Steps, stopping at the first failure, with nothing written before step 6:

    1. if ``expect_sha256`` is given (the fingerprint the node's operator read out over
       another channel), the request's SHA-256 equals it (``ENROLLMENT_REQUEST_MISMATCH``);
    2. the request is well formed (:class:`EnrollmentRequest`);
    3. under the federation's lock, the newest bundle verifies against the root keys held
       here;
    4. the node id, its TLS pin and its keys are not already in the bundle
       (``ENROLLMENT_CONFLICT``; re-enrolling or rotating a member is not supported);
    5. the CA issues the certificate from the CSR (the endpoints' hosts, serverAuth and
       clientAuth, ``valid_for``) and the next bundle version is built — the node with its
       endpoints, TLS pin, log origin, keys valid for ``valid_for``, and the permissions of
       :func:`grants_for` — signed by the roots and checked as an update of the current one;
    6. the version is saved as ``bundles/<version>.json``, the request and response are kept
       in ``enrollments/``, and every member directory of the federation gets the new version.
    """
    now = _round(now)
    request_sha256 = sha256_hex(request_json)
    # 1. The request is the one its node made.
    if expect_sha256 is not None and request_sha256 != expect_sha256.strip().lower():
        raise EnrollmentError(
            f"the request's SHA-256 is {request_sha256}, not the expected {expect_sha256}: "
            "it is not the file the node's operator made; nothing was changed",
            reason=_REQUEST_MISMATCH,
        )
    # 2. Well formed.
    request = EnrollmentRequest.from_json(request_json)
    node_grants = grants_for(
        grants, request.kind, region_code=request.region_code, sector=request.sector
    )
    federation = open_federation(federation_dir)
    with _locked(federation.directory):
        # 3. The current version.
        current = federation.current_bundle(now=now)
        # 4. Nothing is taken.
        if request.node_id in current.node_ids:
            raise EnrollmentError(
                f"{request.node_id} is already a member (trust bundle version "
                f"{current.version}); re-enrolling or rotating a member is not supported",
                reason=_CONFLICT,
            )
        pin = request.tls_spki_sha256
        holder = current.node_for_tls_spki(pin)
        if holder is not None:
            raise EnrollmentError(
                f"the request's TLS key is already {holder.node_id}'s", reason=_CONFLICT
            )
        warnings = []
        hosts = {_san_key(host) for host in _endpoint_hosts(request.endpoints)}
        for node in current.nodes():
            shared = hosts & {_san_key(host) for host in _endpoint_hosts(node.endpoints)}
            if shared:
                warnings.append(
                    f"{request.node_id} shares host(s) {', '.join(sorted(h for _, h in shared))} "
                    f"with {node.node_id}: a certificate for either is valid for both names"
                )
        # 5. Certificate and next version.
        ca = federation.ca()
        root_keys = federation.root_keys()
        cert_pem = ca.issue_from_csr(
            x509.load_pem_x509_csr(request.csr_pem),
            node_id=request.node_id,
            valid_for=valid_for,
            now=now,
        )
        builder = TrustBundleBuilder.from_bundle(
            current, issued_at=now, expires_at=now + BUNDLE_VALIDITY
        )
        builder.add_node(
            request.node_id,
            region_code=request.region_code,
            kind=request.kind,
            tls_spki_sha256=[pin],
            display_name=request.display_name,
            sector=request.sector,
            endpoints=request.endpoints,
            log_origin=request.log_origin,
        )
        keys: tuple[tuple[PublicKey | SealingPublicKey, Purpose], ...] = (
            (request.signing_key, Purpose.SIGN),
            (request.sealing_key, Purpose.SEAL),
            (request.checkpoint_key, Purpose.CHECKPOINT),
        )
        for key, purpose in keys:
            builder.add_key(
                request.node_id,
                key,
                purpose,
                not_before=now - _BACKDATE,
                not_after=now + valid_for,
                # The checkpoint key's signed-note name is the log origin (CXP-TRUST-026).
                note_name=request.log_origin if purpose is Purpose.CHECKPOINT else "",
            )
        for grant in node_grants:
            builder.add_permission(
                request.node_id, grant.action, kinds=grant.kinds, scopes=grant.scopes
            )
        try:
            envelope = builder.sign(root_keys)
        except InvalidTrustBundle as exc:
            # The builder refuses a key id some member (or root) already has.
            raise EnrollmentError(
                f"the request cannot be added: {_message(exc)}", reason=_CONFLICT
            ) from exc
        try:
            bundle = current.verify_update(envelope, now=now)
        except InvalidTrustBundle as exc:
            raise EnrollmentError(
                f"the new version does not verify as an update: {_message(exc)}",
                reason=exc.reason,
            ) from exc
        roots_pem = b"".join(key.public_key.to_pem() for key in root_keys)
        response = EnrollmentResponse(
            federation_id=bundle.federation_id,
            node_id=request.node_id,
            request_sha256=request_sha256,
            certificate_pem=cert_pem,
            ca_pem=ca.cert_pem,
            trust_bundle=envelope,
            trust_roots_pem=roots_pem,
            trust_roots_threshold=bundle.root_threshold,
        )
        # 6. Record and distribute.
        path = _save_version(federation, envelope, bundle.version)
        records = federation.federation_dir / _ENROLLMENTS_DIR
        records.mkdir(exist_ok=True)
        stem = f"{request.node_id}-v{bundle.version}"
        write_file_atomic(records / f"{stem}.request.json", request_json)
        write_file_atomic(records / f"{stem}.response.json", response.to_json())
        warnings += _install_members(federation, now)
    return Enrollment(
        request=request,
        response=response,
        request_sha256=request_sha256,
        bundle=bundle,
        bundle_path=path,
        grants=node_grants,
        roots_sha256=sha256_hex(roots_pem),
        warnings=tuple(warnings),
    )


def renew_bundle(
    federation_dir: str | os.PathLike[str], *, now: datetime | None = None
) -> tuple[TrustBundle, Path, tuple[str, ...]]:
    """Sign the next version of the current bundle with the same content, valid for a year.

    A trust bundle expires (freeze protection, CXP-TRUST-009); this is how a federation that
    enrolls nobody for a while keeps one valid. Returns the new bundle, its file and warnings
    about member directories it could not update. Every member outside this directory must
    install the file (``creditlink federation install-bundle``) and restart its gateway.
    """
    now = _round(now)
    federation = open_federation(federation_dir)
    with _locked(federation.directory):
        current = federation.current_bundle(now=now)
        builder = TrustBundleBuilder.from_bundle(
            current, issued_at=now, expires_at=now + BUNDLE_VALIDITY
        )
        envelope = builder.sign(federation.root_keys())
        bundle = current.verify_update(envelope, now=now)
        path = _save_version(federation, envelope, bundle.version)
        warnings = _install_members(federation, now)
    return bundle, path, tuple(warnings)
