"""The credentials directory: what one federation member needs to connect, sign and verify.

Every node (gateway) and every client has one; the SDK and every CLI command take it as
``--credentials DIR``. Layout (docs/credentials.md)::

    DIR/manifest.json        node id, role, federation id, endpoints, root threshold
    DIR/tls/ca.pem           CA certificate(s) trusted for peers (PEM)
    DIR/tls/cert.pem         this party's certificate chain, leaf first (PEM)
    DIR/tls/key.pem          its TLS private key (PKCS#8 PEM, 0600)
    DIR/keys/signing.pem     signing key (0600)
    DIR/keys/sealing.pem     sealing key (0600)
    DIR/keys/checkpoint.pem  checkpoint (log) key, Ed25519; nodes only (0600)
    DIR/trust/roots.pem      federation root public keys, pinned out of band
    DIR/trust/bundle.json    the current trust bundle (DSSE JSON)

:meth:`Credentials.load` checks the whole directory against the trust bundle before anything
uses it::

    creds = Credentials.load("~/.creditlink/operator")
    channel_creds = creds.channel_credentials()        # mutual TLS to creds.endpoints[0]
    envelope.sign(payload, payload_type, [creds.signing_key])

Every problem raises :class:`InvalidCredentials`, whose message names the file and the problem
and whose ``reason`` is a ``CREDENTIALS_*`` code, or the finer reason of the check that failed
(``KEY_FILE_PERMISSIONS``, ``TRUST_BUNDLE_EXPIRED``, ...).
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from creditlink.sdk import envelope as _envelope
from creditlink.sdk._internal.strict import parse_strict
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import (
    CreditlinkError,
    InvalidEnvelope,
    InvalidKey,
    InvalidTrustBundle,
)
from creditlink.sdk.ids import validate_node_id
from creditlink.sdk.keys import (
    Algorithm,
    PrivateKey,
    PublicKey,
    SealingPrivateKey,
    key_id_for,
    load_private_key,
    save_private_key,
)
from creditlink.sdk.tlog.checkpoint import NoteSigner
from creditlink.sdk.trust import (
    TRUST_BUNDLE_PAYLOAD_TYPE,
    NodeInfo,
    NodeKind,
    TrustBundle,
    read_trust_bundle_envelope,
    save_trust_bundle,
)
from creditlink.v1 import trust_pb2

__all__ = [
    "BUNDLE_JSON",
    "CA_PEM",
    "CERT_PEM",
    "CHECKPOINT_KEY",
    "KEY_PEM",
    "MANIFEST",
    "MANIFEST_FORMAT",
    "ROOTS_PEM",
    "SEALING_KEY",
    "SIGNING_KEY",
    "Credentials",
    "InvalidCredentials",
    "Manifest",
    "Role",
    "read_secret_file",
    "read_trust_bundle",
    "tls_spki_sha256",
    "update_trust_bundle",
    "write_file_atomic",
]

#: Version of the manifest format this module reads and writes.
MANIFEST_FORMAT: Final = 1

# Paths inside a credentials directory.
MANIFEST: Final = "manifest.json"
CA_PEM: Final = "tls/ca.pem"
CERT_PEM: Final = "tls/cert.pem"
KEY_PEM: Final = "tls/key.pem"
SIGNING_KEY: Final = "keys/signing.pem"
SEALING_KEY: Final = "keys/sealing.pem"
CHECKPOINT_KEY: Final = "keys/checkpoint.pem"
ROOTS_PEM: Final = "trust/roots.pem"
BUNDLE_JSON: Final = "trust/bundle.json"

# Reason codes of InvalidCredentials (besides the finer ones passed through from sdk checks).
_MISSING: Final = "CREDENTIALS_FILE_MISSING"
_MALFORMED: Final = "CREDENTIALS_MALFORMED"
_NOT_IN_BUNDLE: Final = "CREDENTIALS_NOT_IN_BUNDLE"
_TLS_MISMATCH: Final = "CREDENTIALS_TLS_MISMATCH"
_KEY_MISMATCH: Final = "CREDENTIALS_KEY_MISMATCH"

# Files in a credentials directory are small; refuse anything big before reading it.
_MAX_FILE_BYTES: Final = 1024 * 1024
_MAX_FEDERATION_ID: Final = 64
_MAX_ENDPOINTS: Final = 16
# Same grammar as trust-bundle endpoints: a DNS name or IPv4 address, or [IPv6], then :port.
_ENDPOINT_RE: Final = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})"
)
_PEM_BLOCK_RE: Final = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.+?\r?\n-----END \1-----\r?\n?", re.DOTALL
)
_MANIFEST_KEYS: Final = frozenset(
    {"format", "node_id", "role", "federation_id", "endpoints", "trust_roots_threshold"}
)


class InvalidCredentials(CreditlinkError):
    """A credentials directory is incomplete, unreadable or inconsistent with its trust bundle."""

    default_reason = "INVALID_CREDENTIALS"


class Role(enum.Enum):
    """What the holder of a credentials directory is."""

    #: A gateway: listens, keeps a transparency log, holds a checkpoint key.
    NODE = "node"
    #: A client (operator, local platform, sectoral system): connects to gateways.
    CLIENT = "client"


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_file_atomic(
    path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644, overwrite: bool = True
) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix.

    The data goes to a temporary file in the same directory, created exclusively with ``mode``
    (so a secret written with 0600 is never readable by others, whatever the umask), flushed
    to disk, then renamed into place and the directory synced. Without ``overwrite`` an
    existing file is kept and ``FileExistsError`` raised (create-if-absent, atomically).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        # The umask can only remove bits; set the mode explicitly anyway.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            # link() fails if the target exists, where rename() would replace it.
            os.link(tmp, target)
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    # A rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_secret_file(path: str | os.PathLike[str]) -> bytes:
    """Read a private-key file, refusing one that group or others can access.

    The same rule as :func:`creditlink.sdk.keys.load_private_key` (``InvalidKey`` with reason
    ``KEY_FILE_PERMISSIONS``), for key files that module does not parse (TLS keys, CA keys).
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        # fstat on the opened descriptor: no window between the check and the read.
        st = os.fstat(fd)
        if st.st_mode & 0o077:
            raise InvalidKey(
                f"key file {os.fspath(path)!r} is accessible by group or others; chmod 600 it",
                reason="KEY_FILE_PERMISSIONS",
            )
        if st.st_size > _MAX_FILE_BYTES:
            raise InvalidKey(f"key file {os.fspath(path)!r} is larger than {_MAX_FILE_BYTES} bytes")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)


def tls_spki_sha256(cert_pem: bytes) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo of the first certificate in ``cert_pem``.

    This is the TLS pin a trust bundle lists for a node (``tls_spki_sha256``, CXP-TRUST-027):
    it identifies the key, not the certificate, so a certificate re-issued for the same key
    keeps its pin. Raises ``ValueError`` if ``cert_pem`` holds no certificate.
    """
    certs = x509.load_pem_x509_certificates(cert_pem)
    return _spki_sha256(certs[0])


def _spki_sha256(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------


def _check_endpoint(endpoint: object) -> str:
    if not isinstance(endpoint, str):
        raise ValueError(f"endpoint {endpoint!r} is not a string")
    match = _ENDPOINT_RE.fullmatch(endpoint)
    if match is None or not 1 <= int(match.group(1)) <= 65535:
        raise ValueError(f"endpoint {endpoint!r} is not host:port")
    return endpoint


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """The contents of ``manifest.json``; invariants are checked on construction (``ValueError``).

    ``endpoints``: for a node, the addresses it listens on; for a client, the gateway(s) it
    talks to, first one preferred (empty for a client that only verifies offline).
    ``trust_roots_threshold``: how many of the pinned roots must sign the trust bundle.
    """

    node_id: str
    role: Role
    federation_id: str
    endpoints: tuple[str, ...]
    trust_roots_threshold: int

    def __post_init__(self) -> None:
        if validate_node_id(self.node_id) != self.node_id:
            raise ValueError(f"node_id {self.node_id!r} has surrounding whitespace")
        if not isinstance(self.role, Role):
            raise ValueError("role must be a Role")
        if not isinstance(self.federation_id, str) or not (
            1 <= len(self.federation_id) <= _MAX_FEDERATION_ID
        ):
            raise ValueError(f"federation_id must have 1 to {_MAX_FEDERATION_ID} characters")
        if not isinstance(self.endpoints, tuple) or len(self.endpoints) > _MAX_ENDPOINTS:
            raise ValueError(f"endpoints must be a tuple of at most {_MAX_ENDPOINTS} host:port")
        for endpoint in self.endpoints:
            _check_endpoint(endpoint)
        if self.role is Role.NODE and not self.endpoints:
            raise ValueError("a node needs at least one endpoint (where it listens)")
        threshold = self.trust_roots_threshold
        if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
            raise ValueError("trust_roots_threshold must be an integer of at least 1")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse ``manifest.json``: exactly the format-1 keys, each of the right type."""

        def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            result: dict[str, Any] = {}
            for key, value in pairs:
                if key in result:
                    raise ValueError(f"key {key!r} appears twice")
                result[key] = value
            return result

        try:
            obj = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates)
        except UnicodeDecodeError as exc:
            raise ValueError("not UTF-8") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        fmt = obj.get("format")
        if fmt != MANIFEST_FORMAT or isinstance(fmt, bool):
            raise ValueError(f"format is {fmt!r}; this version reads format {MANIFEST_FORMAT}")
        # Unknown keys are refused rather than ignored: a misspelt key would otherwise
        # silently fall back to a default. A new key means a new format number.
        unknown = sorted(set(obj) - _MANIFEST_KEYS)
        if unknown:
            raise ValueError(f"unknown keys {unknown}")
        missing = sorted(_MANIFEST_KEYS - set(obj))
        if missing:
            raise ValueError(f"missing keys {missing}")
        if not isinstance(obj["node_id"], str):
            raise ValueError("node_id must be a string")
        try:
            role = Role(obj["role"])
        except ValueError:
            raise ValueError(f"role {obj['role']!r} is not 'node' or 'client'") from None
        endpoints = obj["endpoints"]
        if not isinstance(endpoints, list):
            raise ValueError("endpoints must be a list of host:port strings")
        return cls(
            node_id=obj["node_id"],
            role=role,
            federation_id=obj["federation_id"],
            endpoints=tuple(_check_endpoint(e) for e in endpoints),
            trust_roots_threshold=obj["trust_roots_threshold"],
        )

    def to_json(self) -> bytes:
        """The ``manifest.json`` bytes (UTF-8, two-space indent, trailing newline)."""
        obj = {
            "format": MANIFEST_FORMAT,
            "node_id": self.node_id,
            "role": self.role.value,
            "federation_id": self.federation_id,
            "endpoints": list(self.endpoints),
            "trust_roots_threshold": self.trust_roots_threshold,
        }
        return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _fail(path: Path, problem: str, reason: str = _MALFORMED) -> InvalidCredentials:
    return InvalidCredentials(f"{path}: {problem}", reason=reason)


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise _fail(path, f"larger than {_MAX_FILE_BYTES} bytes")
        return path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "missing", _MISSING) from None
    except OSError as exc:
        raise _fail(path, f"cannot be read: {exc.strerror}") from exc


def _read_secret(path: Path) -> bytes:
    try:
        return read_secret_file(path)
    except FileNotFoundError:
        raise _fail(path, "missing", _MISSING) from None
    except InvalidKey as exc:
        raise _fail(path, exc.args[0], exc.reason) from exc
    except OSError as exc:
        raise _fail(path, f"cannot be read: {exc.strerror}") from exc


def _load_key(path: Path) -> PrivateKey | SealingPrivateKey:
    try:
        return load_private_key(path)
    except FileNotFoundError:
        raise _fail(path, "missing", _MISSING) from None
    except InvalidKey as exc:
        raise _fail(path, exc.args[0], exc.reason) from exc
    except OSError as exc:
        raise _fail(path, f"cannot be read: {exc.strerror}") from exc


def _read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    try:
        return Manifest.from_json(_read(path))
    except ValueError as exc:  # includes InvalidIdentifier
        raise _fail(path, str(exc)) from exc


def _read_roots(directory: Path, threshold: int) -> tuple[PublicKey, ...]:
    path = directory / ROOTS_PEM
    blocks = list(_PEM_BLOCK_RE.finditer(_read(path)))
    if not blocks:
        raise _fail(path, "holds no PUBLIC KEY PEM block")
    roots: dict[PublicKey, None] = {}
    for index, block in enumerate(blocks, start=1):
        if block.group(1) != b"PUBLIC KEY":
            raise _fail(path, f"block {index} is a {block.group(1).decode()}, not a PUBLIC KEY")
        try:
            roots.setdefault(PublicKey.from_pem(block.group(0)), None)
        except InvalidKey as exc:
            raise _fail(path, f"block {index}: {exc.args[0]}") from exc
    if not 1 <= threshold <= len(roots):
        raise _fail(
            directory / MANIFEST,
            f"trust_roots_threshold {threshold} is more than the {len(roots)} roots "
            f"pinned in {ROOTS_PEM}",
        )
    return tuple(roots)


def _verify_bundle(
    path: Path,
    roots: Sequence[PublicKey],
    threshold: int,
    now: datetime,
    *,
    allow_expired: bool,
) -> TrustBundle:
    """Verify ``path`` against the pinned roots; optionally accept a bundle that has expired."""
    try:
        env = read_trust_bundle_envelope(path)
    except FileNotFoundError:
        raise _fail(path, "missing", _MISSING) from None
    except InvalidTrustBundle as exc:
        raise _fail(path, exc.args[0], exc.reason) from exc
    try:
        return TrustBundle.from_envelope(env, trusted_roots=roots, threshold=threshold, now=now)
    except InvalidTrustBundle as exc:
        if not (allow_expired and exc.reason == "TRUST_BUNDLE_EXPIRED"):
            raise _fail(path, exc.args[0], exc.reason) from exc
    # An expired bundle is still the last one this party trusted, and updating it (or renewing
    # a development federation) must start from it. Check the pinned signatures first, only
    # then parse the payload for its issue time, and verify everything again as of that time.
    try:
        payload = _envelope.verify(
            env, keys=roots, expected_type=TRUST_BUNDLE_PAYLOAD_TYPE, threshold=threshold
        )
        issued_at = parse_strict(trust_pb2.TrustBundle, payload).issued_at.ToDatetime(tzinfo=UTC)
        return TrustBundle.from_envelope(
            env, trusted_roots=roots, threshold=threshold, now=issued_at
        )
    except (InvalidEnvelope, InvalidTrustBundle) as exc:
        raise _fail(path, exc.args[0], exc.reason) from exc


def _load_certs(path: Path) -> list[x509.Certificate]:
    data = _read(path)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise _fail(path, f"not PEM certificates: {exc}") from exc
    return certs


_TlsPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _check_tls(directory: Path, node: NodeInfo, now: datetime) -> tuple[bytes, bytes, bytes, bytes]:
    """Check the TLS files; return (ca_pem, cert_pem, key_pem, SPKI pin)."""
    ca_path, cert_path, key_path = directory / CA_PEM, directory / CERT_PEM, directory / KEY_PEM
    _load_certs(ca_path)
    chain = _load_certs(cert_path)
    leaf = chain[0]
    # A clear error now rather than an opaque handshake failure later.
    if now < leaf.not_valid_before_utc:
        raise _fail(
            cert_path,
            f"certificate is not valid before {leaf.not_valid_before_utc.isoformat()}",
            _TLS_MISMATCH,
        )
    if now > leaf.not_valid_after_utc:
        raise _fail(
            cert_path,
            f"certificate expired at {leaf.not_valid_after_utc.isoformat()}",
            _TLS_MISMATCH,
        )
    key_pem = _read_secret(key_path)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _fail(key_path, "not an unencrypted PKCS#8 PEM private key") from exc
    if not isinstance(key, _TlsPrivateKey):
        raise _fail(key_path, "TLS key must be ECDSA, RSA or Ed25519")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != leaf.public_key().public_bytes(der, spki):
        raise _fail(key_path, f"key does not match the certificate in {CERT_PEM}", _TLS_MISMATCH)
    pin = _spki_sha256(leaf)
    if pin not in node.tls_spki_sha256:
        raise _fail(
            cert_path,
            f"certificate key (SPKI SHA-256 {pin.hex()}) is not a TLS pin of "
            f"{node.node_id} in the trust bundle",
            _TLS_MISMATCH,
        )
    return _read(ca_path), _read(cert_path), key_pem, pin


def _check_signing_key(
    directory: Path, bundle: TrustBundle, node_id: str, now: datetime
) -> PrivateKey:
    path = directory / SIGNING_KEY
    key = _load_key(path)
    if not isinstance(key, PrivateKey):
        raise _fail(path, "holds a sealing key, not a signing key")
    # "batch-head" needs no PUBLISH permission (CXP-TRUST-023), so this lists every SIGN key
    # of the node that is valid and unrevoked now, whatever the node may publish.
    if key.public_key not in bundle.signing_keys(node_id, kind="batch-head", at=now):
        raise _fail(
            path,
            f"key {key.key_id} is not a SIGN key of {node_id} valid at {now.isoformat()} "
            "in the trust bundle",
            _KEY_MISMATCH,
        )
    return key


def _check_sealing_key(
    directory: Path, bundle: TrustBundle, node_id: str, now: datetime
) -> SealingPrivateKey:
    path = directory / SEALING_KEY
    key = _load_key(path)
    if not isinstance(key, SealingPrivateKey):
        raise _fail(path, "holds a signing key, not a sealing key")
    try:
        published = bundle.sealing_key(node_id, at=now)
    except InvalidKey as exc:
        raise _fail(path, f"the trust bundle has {exc.args[0]}", _KEY_MISMATCH) from exc
    # Senders seal to the newest SEAL key (CXP-TRUST-025); holding any other key means
    # nothing sent to this party could be opened.
    if published.key_id != key.key_id:
        raise _fail(
            path,
            f"key {key.key_id} is not the key senders seal to for {node_id} "
            f"({published.key_id} in the trust bundle)",
            _KEY_MISMATCH,
        )
    return key


def _check_checkpoint_key(
    directory: Path, bundle: TrustBundle, manifest: Manifest, now: datetime
) -> NoteSigner | None:
    path = directory / CHECKPOINT_KEY
    if manifest.role is Role.CLIENT:
        if path.exists():
            raise _fail(path, "a client keeps no log and must not hold a checkpoint key")
        return None
    data = _read_secret(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _fail(path, "not an unencrypted PKCS#8 PEM private key") from exc
    # Checkpoints are C2SP signed notes, which NoteSigner signs with Ed25519 only.
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise _fail(path, "a checkpoint key must be Ed25519")
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_id = key_id_for(spki)
    for record in bundle.checkpoint_keys(manifest.node_id, at=now):
        if record.key_id == key_id:
            # The note key name comes from the bundle: verifiers take it from there too.
            return NoteSigner(name=record.note_name, private_key=key)
    raise _fail(
        path,
        f"key {key_id} is not a CHECKPOINT key of {manifest.node_id} valid at "
        f"{now.isoformat()} in the trust bundle",
        _KEY_MISMATCH,
    )


_CONSTRUCT: Final = object()


class Credentials:
    """A credentials directory that has been loaded and checked against its trust bundle.

    Built only by :meth:`load` (and :meth:`write`, which writes then loads), so holding one
    means every check below passed at the time given:

    1. ``manifest.json`` is a valid format-1 manifest;
    2. ``trust/bundle.json`` is signed by ``trust_roots_threshold`` of the roots pinned in
       ``trust/roots.pem`` (and by its own roots), is for the manifest's federation and has not
       expired;
    3. the manifest's node id is in the bundle, as a ``CLIENT`` for role ``client`` and as any
       other kind for role ``node``;
    4. ``tls/ca.pem`` and ``tls/cert.pem`` hold certificates, the leaf is within its validity
       window, ``tls/key.pem`` (0600) is its key, and the leaf's SPKI SHA-256 is one of the
       node's TLS pins;
    5. ``keys/signing.pem`` (0600) is one of the node's SIGN keys valid now;
    6. ``keys/sealing.pem`` (0600) is the SEAL key senders use for the node now;
    7. for a node, ``keys/checkpoint.pem`` (0600) is one of its CHECKPOINT keys valid now (its
       note key name is taken from the bundle); a client must not have one.
    """

    __slots__ = (
        "_checkpoint_key",
        "_directory",
        "_manifest",
        "_pem",
        "_roots",
        "_sealing_key",
        "_signing_key",
        "_spki_pin",
        "_trust_bundle",
    )

    _checkpoint_key: NoteSigner | None
    _directory: Path
    _manifest: Manifest
    _pem: tuple[bytes, bytes, bytes]
    _roots: tuple[PublicKey, ...]
    _sealing_key: SealingPrivateKey
    _signing_key: PrivateKey
    _spki_pin: bytes
    _trust_bundle: TrustBundle

    def __init__(
        self,
        *,
        _token: object,
        directory: Path,
        manifest: Manifest,
        pem: tuple[bytes, bytes, bytes],
        roots: tuple[PublicKey, ...],
        signing_key: PrivateKey,
        sealing_key: SealingPrivateKey,
        checkpoint_key: NoteSigner | None,
        spki_pin: bytes,
        trust_bundle: TrustBundle,
    ) -> None:
        """Private: use :meth:`load` or :meth:`write`."""
        if _token is not _CONSTRUCT:
            raise TypeError("Credentials are built by Credentials.load or Credentials.write")
        # object.__setattr__: this class refuses attribute assignment once built.
        for name, value in (
            ("_directory", directory),
            ("_manifest", manifest),
            ("_pem", pem),
            ("_roots", roots),
            ("_signing_key", signing_key),
            ("_sealing_key", sealing_key),
            ("_checkpoint_key", checkpoint_key),
            ("_spki_pin", spki_pin),
            ("_trust_bundle", trust_bundle),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Credentials are immutable")

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, now: datetime | None = None) -> Credentials:
        """Load and check a credentials directory (the numbered checks of the class docstring).

        ``now`` (timezone-aware; default: the current time) is the instant at which the trust
        bundle, the certificate and the keys must be valid. Raises :class:`InvalidCredentials`.
        """
        now = _now(now)
        root = Path(directory).expanduser()
        if not root.is_dir():
            raise _fail(root, "is not a credentials directory (no such directory)", _MISSING)
        # 1. Manifest.
        manifest = _read_manifest(root)
        # 2. Trust: nothing else is looked at before the bundle verifies.
        roots = _read_roots(root, manifest.trust_roots_threshold)
        bundle_path = root / BUNDLE_JSON
        bundle = _verify_bundle(
            bundle_path, roots, manifest.trust_roots_threshold, now, allow_expired=False
        )
        if bundle.federation_id != manifest.federation_id:
            raise _fail(
                bundle_path,
                f"bundle is for federation {bundle.federation_id!r}, the manifest says "
                f"{manifest.federation_id!r}",
                _NOT_IN_BUNDLE,
            )
        # 3. Membership.
        try:
            node = bundle.node(manifest.node_id)
        except KeyError:
            raise _fail(
                bundle_path,
                f"node {manifest.node_id!r} (manifest.json) is not in trust bundle "
                f"version {bundle.version}",
                _NOT_IN_BUNDLE,
            ) from None
        if (node.kind is NodeKind.CLIENT) != (manifest.role is Role.CLIENT):
            raise _fail(
                root / MANIFEST,
                f"role {manifest.role.value!r} does not fit {node.node_id}'s kind "
                f"{node.kind.name} in the trust bundle",
                _NOT_IN_BUNDLE,
            )
        # 4-7. TLS identity and keys, each against the bundle.
        ca_pem, cert_pem, key_pem, pin = _check_tls(root, node, now)
        signing_key = _check_signing_key(root, bundle, node.node_id, now)
        sealing_key = _check_sealing_key(root, bundle, node.node_id, now)
        checkpoint_key = _check_checkpoint_key(root, bundle, manifest, now)
        return cls(
            _token=_CONSTRUCT,
            directory=root,
            manifest=manifest,
            pem=(ca_pem, cert_pem, key_pem),
            roots=roots,
            sealing_key=sealing_key,
            signing_key=signing_key,
            spki_pin=pin,
            checkpoint_key=checkpoint_key,
            trust_bundle=bundle,
        )

    @classmethod
    def write(
        cls,
        directory: str | os.PathLike[str],
        *,
        manifest: Manifest,
        ca_pem: bytes,
        cert_pem: bytes,
        tls_key_pem: bytes,
        signing_key: PrivateKey,
        sealing_key: SealingPrivateKey,
        checkpoint_key: PrivateKey | None,
        trusted_roots: Sequence[PublicKey],
        trust_bundle: TrustBundle | Envelope,
        now: datetime | None = None,
    ) -> Credentials:
        """Create a credentials directory and return it loaded (so it passed every check).

        ``directory`` must not exist (or be an empty directory): credentials are never
        overwritten. The files are written to a temporary sibling directory, checked with
        :meth:`load`, and only then renamed into place, so a crash or a failed check leaves
        nothing behind. The directory is mode 0700, key files 0600.
        """
        target = Path(directory).expanduser()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise FileExistsError(f"{target} exists and is not an empty directory")
        if checkpoint_key is not None and checkpoint_key.algorithm is not Algorithm.ED25519:
            raise InvalidKey("a checkpoint key must be Ed25519 (C2SP signed notes)")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        staging.mkdir(mode=0o700)
        try:
            for sub, mode in (("tls", 0o700), ("keys", 0o700), ("trust", 0o755)):
                (staging / sub).mkdir(mode=mode)
            write_file_atomic(staging / MANIFEST, manifest.to_json())
            write_file_atomic(staging / CA_PEM, ca_pem)
            write_file_atomic(staging / CERT_PEM, cert_pem)
            write_file_atomic(staging / KEY_PEM, tls_key_pem, mode=0o600)
            save_private_key(signing_key, staging / SIGNING_KEY)
            save_private_key(sealing_key, staging / SEALING_KEY)
            if checkpoint_key is not None:
                save_private_key(checkpoint_key, staging / CHECKPOINT_KEY)
            roots = b"".join(key.to_pem() for key in dict.fromkeys(trusted_roots))
            write_file_atomic(staging / ROOTS_PEM, roots)
            save_trust_bundle(trust_bundle, staging / BUNDLE_JSON)
            cls.load(staging, now=now)
            # rename() replaces an empty directory and fails on a non-empty one, so a
            # directory created meanwhile by someone else is never clobbered.
            staging.rename(target)
            _fsync_dir(target.parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return cls.load(target, now=now)

    # -- identity -------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The credentials directory."""
        return self._directory

    @property
    def manifest(self) -> Manifest:
        """The parsed ``manifest.json``."""
        return self._manifest

    @property
    def node_id(self) -> str:
        """The node (or client) id this directory belongs to."""
        return self._manifest.node_id

    @property
    def role(self) -> Role:
        """Whether this is a node's or a client's directory."""
        return self._manifest.role

    @property
    def federation_id(self) -> str:
        """The federation the trust bundle describes."""
        return self._manifest.federation_id

    @property
    def endpoints(self) -> tuple[str, ...]:
        """For a node: where it listens; for a client: the gateway(s) it talks to."""
        return self._manifest.endpoints

    @property
    def node(self) -> NodeInfo:
        """This party's entry in the trust bundle."""
        return self._trust_bundle.node(self._manifest.node_id)

    # -- TLS ------------------------------------------------------------------------------

    @property
    def ca_pem(self) -> bytes:
        """``tls/ca.pem``: CA certificate(s) trusted for peers (``root_certificates``)."""
        return self._pem[0]

    @property
    def cert_pem(self) -> bytes:
        """``tls/cert.pem``: this party's certificate chain (``certificate_chain``)."""
        return self._pem[1]

    @property
    def key_pem(self) -> bytes:
        """``tls/key.pem``: the TLS private key (``private_key``). A secret: never log it."""
        return self._pem[2]

    @property
    def tls_spki_sha256(self) -> bytes:
        """The TLS pin of this party's certificate (one of its pins in the trust bundle)."""
        return self._spki_pin

    def server_credentials(self) -> grpc.ServerCredentials:
        """gRPC server credentials that require a client certificate from this CA."""
        return grpc.ssl_server_credentials(
            [(self.key_pem, self.cert_pem)],
            root_certificates=self.ca_pem,
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials presenting this party's certificate (mutual TLS)."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=self.key_pem,
            certificate_chain=self.cert_pem,
        )

    # -- keys and trust -------------------------------------------------------------------

    @property
    def signing_key(self) -> PrivateKey:
        """The key this party signs statements (and, for a node, receipts) with."""
        return self._signing_key

    @property
    def sealing_key(self) -> SealingPrivateKey:
        """The key that opens what is sealed to this party."""
        return self._sealing_key

    @property
    def checkpoint_key(self) -> NoteSigner | None:
        """For a node, the signer of its log checkpoints (note key name from the bundle)."""
        return self._checkpoint_key

    @property
    def trust_bundle(self) -> TrustBundle:
        """The verified trust bundle."""
        return self._trust_bundle

    @property
    def trusted_roots(self) -> tuple[PublicKey, ...]:
        """The root keys pinned in ``trust/roots.pem``."""
        return self._roots

    def __repr__(self) -> str:
        # Never show key material.
        return (
            f"Credentials(node_id={self.node_id!r}, role={self.role.value!r}, "
            f"directory={os.fspath(self._directory)!r}, "
            f"bundle_version={self._trust_bundle.version})"
        )


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


# --------------------------------------------------------------------------------------------
# Trust bundle of a directory
# --------------------------------------------------------------------------------------------


def read_trust_bundle(
    directory: str | os.PathLike[str], *, now: datetime | None = None, allow_expired: bool = False
) -> TrustBundle:
    """Verify ``trust/bundle.json`` of a credentials directory against its pinned roots.

    With ``allow_expired`` an expired bundle is returned too (verified as of its issue time):
    an update, or the renewal of a development federation, starts from the last bundle
    trusted even when nobody renewed it in time. Raises :class:`InvalidCredentials`.
    """
    now = _now(now)
    root = Path(directory).expanduser()
    manifest = _read_manifest(root)
    roots = _read_roots(root, manifest.trust_roots_threshold)
    return _verify_bundle(
        root / BUNDLE_JSON,
        roots,
        manifest.trust_roots_threshold,
        now,
        allow_expired=allow_expired,
    )


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # Serialize updaters of one directory: two concurrent updates could otherwise both verify
    # against the same old version and leave roots.pem and bundle.json from different runs.
    fd = os.open(directory / "trust" / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_trust_bundle(
    directory: str | os.PathLike[str], envelope: Envelope, *, now: datetime | None = None
) -> TrustBundle:
    """Verify ``envelope`` as the next version of the directory's bundle and install it.

    1. The current ``trust/bundle.json`` is verified against the pinned roots (it may have
       expired: an offline party must be able to catch up).
    2. ``envelope`` must be its next version (:meth:`TrustBundle.verify_update`: signed by the
       current roots' threshold and its own, same federation, version + 1, not expired).
    3. ``trust/bundle.json`` is replaced atomically.
    4. If the update rotated the roots, ``trust/roots.pem`` and the manifest's
       ``trust_roots_threshold`` are re-pinned to the new roots, as TUF clients persist each
       verified root: otherwise the version after next, signed by the new roots only, could
       not be verified from the pins. Files are written in an order that leaves a loadable
       directory after a crash at any point (see the comments).

    Returns the new bundle. The directory's own keys are not checked against it; a later
    :meth:`Credentials.load` reports a key the federation no longer lists.
    """
    now = _now(now)
    root = Path(directory).expanduser()
    with _locked(root):
        current = read_trust_bundle(root, now=now, allow_expired=True)
        bundle_path = root / BUNDLE_JSON
        try:
            updated = current.verify_update(envelope, now=now)
        except InvalidTrustBundle as exc:
            raise _fail(bundle_path, f"update refused: {exc.args[0]}", exc.reason) from exc
        # Written first: the new version carries the old roots' threshold of signatures, so it
        # still verifies against the old pins if we stop right after this.
        save_trust_bundle(updated, bundle_path)
        _fsync_dir(bundle_path.parent)
        _repin_roots(root, updated)
    return updated


def _repin_roots(root: Path, bundle: TrustBundle) -> None:
    manifest = _read_manifest(root)
    new_keys: list[PublicKey] = []
    for record in bundle.root_keys:
        assert isinstance(record.public_key, PublicKey)  # ROOT keys are signing keys
        new_keys.append(record.public_key)
    old_keys = set(_read_roots(root, manifest.trust_roots_threshold))
    threshold = bundle.root_threshold
    if set(new_keys) == old_keys and threshold == manifest.trust_roots_threshold:
        return
    roots_pem = b"".join(key.to_pem() for key in new_keys)
    new_manifest = Manifest(
        node_id=manifest.node_id,
        role=manifest.role,
        federation_id=manifest.federation_id,
        endpoints=manifest.endpoints,
        trust_roots_threshold=threshold,
    )
    # The bundle meets its own threshold over the new roots and the old threshold over the old
    # roots. Lowering the threshold first keeps (old roots, new threshold) loadable; raising it
    # last keeps (new roots, old threshold) loadable. Either way every intermediate state loads.
    if threshold < manifest.trust_roots_threshold:
        write_file_atomic(root / MANIFEST, new_manifest.to_json())
        write_file_atomic(root / ROOTS_PEM, roots_pem)
    else:
        write_file_atomic(root / ROOTS_PEM, roots_pem)
        write_file_atomic(root / MANIFEST, new_manifest.to_json())
