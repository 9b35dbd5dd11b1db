"""Zero-config development node and development federation, on loopback.

``creditlink serve`` in an empty directory calls :func:`ensure_dev_node`; ``creditlink dev up``
calls :func:`create_dev_federation`. Both create, on first use, everything a federation needs
(a development CA, root keys, one shared trust bundle, a credentials directory per node and per
operator) and on every later call load and verify what is there and change nothing::

    dev = ensure_dev_node(Path(".creditlink"))
    dev.node.server_credentials()          # the gateway's TLS, signing, sealing, checkpoint keys
    dev.operator_dir                       # --credentials for CLI commands

Layout of a development node (``data_dir``)::

    federation/federation.json   members and root key files (written last: marks completion)
    federation/root.pem          the federation root signing key (0600), to re-sign the bundle
    federation/ca.pem, ca-key.pem  the development CA (key 0600)
    federation/bundles/<v>.json  every trust bundle version, as TUF publishers keep them
    node/                        the node's credentials directory (docs/credentials.md)
    operator/                    the operator's credentials directory
    store.sqlite3                reserved for the store (the gateway creates it)

A development federation (``dir``) has the same ``federation/`` (with ``root-1.pem`` and
``root-2.pem``: 2-of-2 roots, so thresholds are exercised) and ``<node_id>/`` plus
``<node_id>-operator/`` per node.

**Development only**: the root keys sit next to the nodes they certify, the CA is a
:class:`~creditlink.gateway.pki.DevCA`, and the operators get broad permissions.

A bundle that has expired, or expires within :data:`RENEW_BEFORE`, is renewed on the next call
(the next version, same content, signed with the kept root keys) and installed in every
credentials directory; that is the only case in which a later call writes anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from creditlink.gateway.pki import DevCA, generate_tls_key, private_key_pem, spki_sha256
from creditlink.gateway.store import sqlite_url
from creditlink.sdk.credentials import (
    Credentials,
    InvalidCredentials,
    Manifest,
    Role,
    read_trust_bundle,
    update_trust_bundle,
    write_file_atomic,
)
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import CreditlinkError
from creditlink.sdk.ids import validate_node_id, validate_region_code
from creditlink.sdk.keys import (
    PrivateKey,
    Purpose,
    SealingPrivateKey,
    load_private_key,
    save_private_key,
)
from creditlink.sdk.trust import (
    Action,
    NodeKind,
    TrustBundle,
    TrustBundleBuilder,
    read_trust_bundle_envelope,
    save_trust_bundle,
)
from creditlink.v1 import statement_pb2

__all__ = [
    "BUNDLE_VALIDITY",
    "DEFAULT_BASE_PORT",
    "DEFAULT_FEDERATION_NODES",
    "DEFAULT_LISTEN",
    "DEFAULT_NODE_ID",
    "DEFAULT_REGION_CODE",
    "DEV_FEDERATION_ID",
    "DEV_NODE_FEDERATION_ID",
    "KEY_VALIDITY",
    "RENEW_BEFORE",
    "STATEMENT_KINDS",
    "BootstrapError",
    "DevFederation",
    "DevFederationNode",
    "DevNode",
    "Grant",
    "NodeSpec",
    "create_dev_federation",
    "default_grants",
    "ensure_dev_node",
    "log_origin_for",
]

DEFAULT_NODE_ID: Final = "dev-node"
DEFAULT_REGION_CODE: Final = "330000"
DEFAULT_LISTEN: Final = "127.0.0.1:7443"
#: First port of a development federation; node *i* listens on ``127.0.0.1:<base + i>``. Away
#: from 7443 so that ``creditlink serve`` and ``creditlink dev up`` can run side by side.
DEFAULT_BASE_PORT: Final = 7450
DEV_NODE_FEDERATION_ID: Final = "dev"
DEV_FEDERATION_ID: Final = "dev-federation"
#: How long each trust bundle version is valid.
BUNDLE_VALIDITY: Final = timedelta(days=365)
#: A bundle closer than this to its expiry is renewed by the next call.
RENEW_BEFORE: Final = timedelta(days=30)
#: Validity window of development keys (roots, signing, sealing, checkpoint).
KEY_VALIDITY: Final = timedelta(days=3650)

# Key windows and certificates start a little in the past, for peers whose clock lags.
_BACKDATE: Final = timedelta(minutes=5)
_FORMAT: Final = 1
_FEDERATION_DIR: Final = "federation"
_FEDERATION_JSON: Final = "federation.json"
_BUNDLES_DIR: Final = "bundles"
_STAGING_PREFIX: Final = ".bootstrap-"

#: Every statement kind of the contract (``Statement.body`` cases, kebab-case), CXP-API-006.
STATEMENT_KINDS: Final = tuple(
    f.name.replace("_", "-")
    for f in statement_pb2.Statement.DESCRIPTOR.oneofs_by_name["body"].fields
)
_NAME_LIST_KINDS: Final = ("name-list-entry", "name-list-transition")
_REPORT_KINDS: Final = ("report", "report-status-change")
# Measure lists are national (the joint punishment measure list is issued centrally), so only
# the hub publishes them; every other kind a regional or sectoral platform may publish.
_LOCAL_KINDS: Final = tuple(k for k in STATEMENT_KINDS if k != "measure-list")


class BootstrapError(CreditlinkError):
    """A development directory is incomplete or was created with other settings."""

    default_reason = "DEV_BOOTSTRAP_FAILED"


def log_origin_for(node_id: str) -> str:
    """The log origin (and checkpoint note key name) of a development node."""
    return f"creditlink.dev/{node_id}"


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Grant:
    """One permission: ``action`` on ``kinds`` within ``scopes`` (trust-bundle syntax)."""

    action: Action
    kinds: tuple[str, ...]
    scopes: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class NodeSpec:
    """A node of a development federation.

    ``grants`` default to :func:`default_grants` for the kind; ``endpoint`` to
    ``127.0.0.1:<base_port + position>``; ``upstream`` names the node this one forwards to
    (recorded for ``creditlink dev up``, not part of the trust bundle).
    """

    node_id: str
    region_code: str
    kind: NodeKind
    display_name: str = ""
    sector: str = ""
    grants: tuple[Grant, ...] | None = None
    endpoint: str | None = None
    upstream: str | None = None

    def __post_init__(self) -> None:
        if validate_node_id(self.node_id) != self.node_id:
            raise ValueError(f"node id {self.node_id!r} has surrounding whitespace")
        if validate_region_code(self.region_code) != self.region_code:
            raise ValueError(f"region code {self.region_code!r} is not in compact form")
        if self.kind is NodeKind.CLIENT:
            raise ValueError("a NodeSpec describes a gateway; operators are added per node")
        if len(_operator_id(self.node_id)) > 63:
            raise ValueError(f"node id {self.node_id!r} leaves no room for '-operator'")


def default_grants(kind: NodeKind, *, region_code: str, sector: str = "") -> tuple[Grant, ...]:
    """Realistic development permissions for a node of ``kind``.

    - HUB: publish and read everything, determine name lists and measure lists, witness.
    - REGIONAL: publish every kind but measure lists, determine name-list entries and issue
      reports, all for ``region:<region_code>``; read everything; witness.
    - SECTORAL: the same for ``sector:<sector>``.

    Other kinds have no defaults (``ValueError``): give their grants explicitly.
    """
    witness = Grant(action=Action.WITNESS, kinds=("checkpoint",), scopes=("*",))
    read_all = Grant(action=Action.READ, kinds=("*",), scopes=("*",))
    if kind is NodeKind.HUB:
        return (
            Grant(action=Action.PUBLISH, kinds=("*",), scopes=("*",)),
            read_all,
            Grant(
                action=Action.DETERMINE, kinds=(*_NAME_LIST_KINDS, "measure-list"), scopes=("*",)
            ),
            witness,
        )
    if kind is NodeKind.REGIONAL:
        scope = f"region:{region_code}"
    elif kind is NodeKind.SECTORAL:
        if not sector:
            raise ValueError("a sectoral node needs a sector")
        scope = f"sector:{sector}"
    else:
        raise ValueError(f"no default permissions for {kind.name} nodes; give grants")
    return (
        Grant(action=Action.PUBLISH, kinds=_LOCAL_KINDS, scopes=(scope,)),
        read_all,
        Grant(action=Action.DETERMINE, kinds=_NAME_LIST_KINDS, scopes=(scope,)),
        Grant(action=Action.ISSUE_REPORTS, kinds=_REPORT_KINDS, scopes=(scope,)),
        witness,
    )


def _operator_grants(grants: Sequence[Grant]) -> tuple[Grant, ...]:
    # An operator acts for its node, so it holds the node's permissions; it keeps no log, so
    # it cannot witness.
    return tuple(g for g in grants if g.action is not Action.WITNESS)


def _operator_id(node_id: str) -> str:
    return f"{node_id}-operator"


#: ``creditlink dev up``: the national hub and two provincial platforms.
DEFAULT_FEDERATION_NODES: Final = (
    NodeSpec(
        node_id="cn-hub",
        region_code="100000",
        kind=NodeKind.HUB,
        display_name="全国信用信息共享平台 (development)",
    ),
    NodeSpec(
        node_id="zj-330000",
        region_code="330000",
        kind=NodeKind.REGIONAL,
        display_name="浙江省公共信用信息平台 (development)",
        upstream="cn-hub",
    ),
    NodeSpec(
        node_id="gd-440000",
        region_code="440000",
        kind=NodeKind.REGIONAL,
        display_name="广东省公共信用信息平台 (development)",
        upstream="cn-hub",
    ),
)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DevNode:
    """A development node: its loaded credentials, its operator's, and where things live."""

    data_dir: Path
    node: Credentials
    operator: Credentials
    #: Whether this call created the node (False: it was there and was reused).
    created: bool
    #: Whether this call renewed the trust bundle (it had expired or was about to).
    renewed: bool = False

    @property
    def node_id(self) -> str:
        """The node id."""
        return self.node.node_id

    @property
    def listen(self) -> str:
        """The address the node listens on."""
        return self.node.endpoints[0]

    @property
    def node_dir(self) -> Path:
        """The node's credentials directory (``data_dir/node``)."""
        return self.node.directory

    @property
    def operator_dir(self) -> Path:
        """The operator's credentials directory (``data_dir/operator``), for ``--credentials``."""
        return self.operator.directory

    @property
    def federation_dir(self) -> Path:
        """Root key, CA and bundle history (``data_dir/federation``)."""
        return self.data_dir / _FEDERATION_DIR

    @property
    def store_path(self) -> Path:
        """Where the gateway keeps its SQLite store."""
        return self.data_dir / "store.sqlite3"

    @property
    def store_url(self) -> str:
        """``sqlite:///<data_dir>/store.sqlite3``, as :func:`~creditlink.gateway.store.open_store`
        reads it."""
        return sqlite_url(self.store_path)


@dataclass(frozen=True, kw_only=True)
class DevFederationNode:
    """One node of a development federation with its operator."""

    node_id: str
    credentials: Credentials
    operator: Credentials
    upstream: str | None

    @property
    def endpoint(self) -> str:
        """Where the node listens."""
        return self.credentials.endpoints[0]

    @property
    def credentials_dir(self) -> Path:
        """The node's credentials directory (``dir/<node_id>``)."""
        return self.credentials.directory

    @property
    def operator_dir(self) -> Path:
        """The operator's credentials directory (``dir/<node_id>-operator``)."""
        return self.operator.directory


@dataclass(frozen=True, kw_only=True)
class DevFederation:
    """A development federation: nodes in spec order, one shared trust bundle."""

    directory: Path
    federation_id: str
    nodes: tuple[DevFederationNode, ...]
    created: bool
    renewed: bool = False

    def node(self, node_id: str) -> DevFederationNode:
        """The node with ``node_id`` (``KeyError`` if absent)."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)

    @property
    def trust_bundle(self) -> TrustBundle:
        """The federation's current trust bundle."""
        return self.nodes[0].credentials.trust_bundle


# --------------------------------------------------------------------------------------------
# Creating a federation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Member:
    """One credentials directory to create: a node or an operator."""

    node_id: str
    role: Role
    directory: str
    region_code: str
    kind: NodeKind
    display_name: str
    sector: str
    # Node: where it listens (manifest) and where peers reach it (bundle). Client: the node.
    listen: str
    advertised: str
    grants: tuple[Grant, ...]
    upstream: str | None = None
    operator_of: str | None = None


@dataclass(frozen=True, kw_only=True)
class _Plan:
    federation_id: str
    root_files: tuple[str, ...]
    root_threshold: int
    members: tuple[_Member, ...] = field(default=())


def _round(now: datetime | None) -> datetime:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    # Whole seconds: the bundle's timestamps then read back exactly as written.
    return now.astimezone(UTC).replace(microsecond=0)


def _create(staging: Path, plan: _Plan, now: datetime) -> None:
    """Create every file of ``plan`` under ``staging`` (federation dir and member dirs)."""
    fed = staging / _FEDERATION_DIR
    # 0700: it holds the root keys and the CA key.
    fed.mkdir(mode=0o700)
    (fed / _BUNDLES_DIR).mkdir()
    ca = DevCA.create(f"creditlink development CA ({plan.federation_id})", now=now)
    ca.save(fed / "ca.pem", fed / "ca-key.pem")
    roots = [PrivateKey.generate() for _ in plan.root_files]
    for key, name in zip(roots, plan.root_files, strict=True):
        # Kept so the bundle can be re-signed (renewal, adding nodes); 0600 like every key.
        save_private_key(key, fed / name)

    not_before, not_after = now - _BACKDATE, now + KEY_VALIDITY
    builder = TrustBundleBuilder(
        federation_id=plan.federation_id,
        version=1,
        issued_at=now,
        expires_at=now + BUNDLE_VALIDITY,
        root_threshold=plan.root_threshold,
    )
    for key in roots:
        builder.add_root_key(key.public_key, not_before=not_before, not_after=not_after)

    material: dict[str, tuple[bytes, bytes, PrivateKey, SealingPrivateKey, PrivateKey | None]] = {}
    for member in plan.members:
        tls_key = generate_tls_key()
        if member.role is Role.NODE:
            cert_pem = ca.issue_server_cert(tls_key, node_id=member.node_id, now=now)
        else:
            cert_pem = ca.issue_client_cert(tls_key, node_id=member.node_id, now=now)
        signing, sealing = PrivateKey.generate(), SealingPrivateKey.generate()
        checkpoint = PrivateKey.generate() if member.role is Role.NODE else None
        material[member.node_id] = (
            cert_pem,
            private_key_pem(tls_key),
            signing,
            sealing,
            checkpoint,
        )
        origin = log_origin_for(member.node_id) if member.role is Role.NODE else ""
        builder.add_node(
            member.node_id,
            region_code=member.region_code,
            kind=member.kind,
            tls_spki_sha256=[spki_sha256(cert_pem)],
            display_name=member.display_name,
            sector=member.sector,
            endpoints=[member.advertised] if member.role is Role.NODE else [],
            log_origin=origin,
        )
        keys: list[tuple[PrivateKey | SealingPrivateKey, Purpose]] = [
            (signing, Purpose.SIGN),
            (sealing, Purpose.SEAL),
        ]
        if checkpoint is not None:
            keys.append((checkpoint, Purpose.CHECKPOINT))
        for member_key, purpose in keys:
            builder.add_key(
                member.node_id,
                member_key.public_key,
                purpose,
                not_before=not_before,
                not_after=not_after,
                # The checkpoint key's signed-note name is the log origin (CXP-TRUST-026).
                note_name=origin if purpose is Purpose.CHECKPOINT else "",
            )
        for grant in member.grants:
            builder.add_permission(
                member.node_id, grant.action, kinds=grant.kinds, scopes=grant.scopes
            )
    envelope = builder.sign(roots)
    save_trust_bundle(envelope, fed / _BUNDLES_DIR / "1.json")

    for member in plan.members:
        cert_pem, key_pem, signing, sealing, checkpoint = material[member.node_id]
        Credentials.write(
            staging / member.directory,
            manifest=Manifest(
                node_id=member.node_id,
                role=member.role,
                federation_id=plan.federation_id,
                endpoints=(member.listen,) if member.role is Role.NODE else (member.advertised,),
                trust_roots_threshold=plan.root_threshold,
            ),
            ca_pem=ca.cert_pem,
            cert_pem=cert_pem,
            tls_key_pem=key_pem,
            signing_key=signing,
            sealing_key=sealing,
            checkpoint_key=checkpoint,
            trusted_roots=[key.public_key for key in roots],
            trust_bundle=envelope,
            now=now,
        )
    # Last, so that its presence means the federation directory is complete.
    write_file_atomic(fed / _FEDERATION_JSON, _plan_to_json(plan))


def _plan_to_json(plan: _Plan) -> bytes:
    members: list[dict[str, Any]] = []
    for m in plan.members:
        entry: dict[str, Any] = {
            "node_id": m.node_id,
            "role": m.role.value,
            "directory": m.directory,
        }
        if m.upstream is not None:
            entry["upstream"] = m.upstream
        if m.operator_of is not None:
            entry["operator_of"] = m.operator_of
        members.append(entry)
    obj = {
        "format": _FORMAT,
        "federation_id": plan.federation_id,
        "root_keys": list(plan.root_files),
        "root_threshold": plan.root_threshold,
        "members": members,
    }
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True, kw_only=True)
class _Stored:
    """What ``federation/federation.json`` records."""

    federation_id: str
    root_files: tuple[str, ...]
    root_threshold: int
    members: tuple[Mapping[str, Any], ...]


def _read_stored(directory: Path) -> _Stored:
    path = directory / _FEDERATION_DIR / _FEDERATION_JSON
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        if obj.get("format") != _FORMAT:
            raise ValueError(f"format {obj.get('format')!r} is not {_FORMAT}")
        members = tuple(obj["members"])
        for m in members:
            if not {"node_id", "role", "directory"} <= set(m):
                raise ValueError("a member lacks node_id, role or directory")
            if "/" in m["directory"] or m["directory"].startswith("."):
                raise ValueError(f"member directory {m['directory']!r} is not a plain name")
        return _Stored(
            federation_id=str(obj["federation_id"]),
            root_files=tuple(str(name) for name in obj["root_keys"]),
            root_threshold=int(obj["root_threshold"]),
            members=members,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BootstrapError(f"{path}: cannot be read: {exc}") from exc


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # Two `creditlink serve` started at once in one directory must not both create a node.
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".bootstrap.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ensure(directory: Path, plan: _Plan, now: datetime) -> tuple[_Stored, bool, bool]:
    """Create ``plan`` in ``directory`` unless a complete federation is there; keep it current.

    Returns (what is stored, created, renewed). Must be called with the directory locked.
    """
    marker = directory / _FEDERATION_DIR / _FEDERATION_JSON
    targets = [_FEDERATION_DIR, *(m.directory for m in plan.members)]
    if not marker.exists():
        present = [name for name in targets if (directory / name).exists()]
        if present:
            raise BootstrapError(
                f"{directory} holds an incomplete development setup ({', '.join(present)} "
                f"without {_FEDERATION_DIR}/{_FEDERATION_JSON}); remove "
                f"{', '.join(present)} to start afresh",
                reason="DEV_BOOTSTRAP_INCOMPLETE",
            )
        # Leftovers of a run that crashed while staging: never used, safe to drop (we hold
        # the lock, so no other run is staging now).
        for leftover in directory.glob(f"{_STAGING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        staging = directory / f"{_STAGING_PREFIX}{secrets.token_hex(8)}"
        staging.mkdir(mode=0o700)
        try:
            _create(staging, plan, now)
            # Members first, the federation directory (holding the marker) last.
            for name in [*targets[1:], targets[0]]:
                (staging / name).rename(directory / name)
            staging.rmdir()
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return _read_stored(directory), True, False
    stored = _read_stored(directory)
    try:
        renewed = _keep_current(directory, stored, now)
    except InvalidCredentials as exc:
        raise BootstrapError(
            f"development credentials do not load: {exc.args[0]}", reason=exc.reason
        ) from exc
    return stored, False, renewed


def _bundle_versions(directory: Path) -> dict[int, Path]:
    versions: dict[int, Path] = {}
    for path in (directory / _FEDERATION_DIR / _BUNDLES_DIR).glob("*.json"):
        if path.stem.isdigit():
            versions[int(path.stem)] = path
    return versions


def _keep_current(directory: Path, stored: _Stored, now: datetime) -> bool:
    """Bring every member to the newest bundle version; renew it if it (nearly) expired.

    Returns whether a new version was signed. Writes nothing when everything is current.
    """
    member_dirs = [directory / m["directory"] for m in stored.members]
    versions = _bundle_versions(directory)
    if not versions:
        raise BootstrapError(f"{directory / _FEDERATION_DIR / _BUNDLES_DIR} holds no bundle")
    # 1. Catch up members left behind by an interrupted renewal.
    _install_up_to(member_dirs, versions, max(versions), now)
    # 2. Renew if the newest version is expired or about to be.
    current = read_trust_bundle(member_dirs[0], now=now, allow_expired=True)
    if current.expires_at - now > RENEW_BEFORE:
        return False
    roots: list[PrivateKey] = []
    for name in stored.root_files:
        key = load_private_key(directory / _FEDERATION_DIR / name)
        if not isinstance(key, PrivateKey):
            raise BootstrapError(f"{directory / _FEDERATION_DIR / name} is not a signing key")
        roots.append(key)
    builder = TrustBundleBuilder.from_bundle(
        current, issued_at=now, expires_at=now + BUNDLE_VALIDITY
    )
    envelope = builder.sign(roots)
    version = current.version + 1
    path = directory / _FEDERATION_DIR / _BUNDLES_DIR / f"{version}.json"
    # Recorded before it is installed anywhere, so an interrupted renewal resumes with the
    # same version everywhere instead of minting a second, different one.
    save_trust_bundle(envelope, path)
    versions[version] = path
    _install_up_to(member_dirs, versions, version, now)
    return True


def _install_up_to(
    member_dirs: Sequence[Path], versions: Mapping[int, Path], target: int, now: datetime
) -> None:
    for member_dir in member_dirs:
        have = read_trust_bundle(member_dir, now=now, allow_expired=True).version
        for version in range(have + 1, target + 1):
            if version not in versions:
                raise BootstrapError(
                    f"bundle version {version} is missing from "
                    f"{member_dir.parent / _FEDERATION_DIR / _BUNDLES_DIR}"
                )
            envelope: Envelope = read_trust_bundle_envelope(versions[version])
            update_trust_bundle(member_dir, envelope, now=now)


def _load(directory: Path, name: str, now: datetime) -> Credentials:
    try:
        return Credentials.load(directory / name, now=now)
    except InvalidCredentials as exc:
        raise BootstrapError(
            f"development credentials do not load: {exc.args[0]}", reason=exc.reason
        ) from exc


# --------------------------------------------------------------------------------------------
# Development node
# --------------------------------------------------------------------------------------------


def _advertised(listen: str) -> str:
    """Where clients reach a node listening on ``listen`` (wildcards become loopback)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535 or not host:
        raise ValueError(f"listen address {listen!r} is not host:port with a port in 1..65535")
    if host in ("0.0.0.0", "[::]", "::"):  # noqa: S104 - compared, not bound
        return f"127.0.0.1:{port}"
    return listen


def ensure_dev_node(
    data_dir: Path,
    *,
    listen: str | None = None,
    region_code: str | None = None,
    node_id: str | None = None,
    now: datetime | None = None,
) -> DevNode:
    """Create a development node in ``data_dir``, or load and verify the one there.

    First call: a development CA, a root key (``federation/root.pem``), node keys (signing
    Ed25519, sealing X25519, checkpoint Ed25519 with note name ``creditlink.dev/<node_id>``),
    a server+client certificate for localhost/127.0.0.1, an operator (kind CLIENT) with its
    own certificate and keys, and a one-node trust bundle (federation ``dev``, version 1, valid
    a year) in which the node may do everything and the operator everything but witness.
    Defaults: node id ``dev-node``, region ``330000`` (kind REGIONAL), listen
    ``127.0.0.1:7443``.

    Later calls load and verify both credentials directories and change nothing (except
    renewing a bundle about to expire). Arguments given explicitly must match what is there;
    otherwise :class:`BootstrapError` says so rather than serving something else.
    """
    now = _round(now)
    data_dir = Path(data_dir).expanduser().absolute()
    want_id = DEFAULT_NODE_ID if node_id is None else node_id
    want_listen = DEFAULT_LISTEN if listen is None else listen
    want_region = DEFAULT_REGION_CODE if region_code is None else region_code
    node = _Member(
        node_id=want_id,
        role=Role.NODE,
        directory="node",
        region_code=want_region,
        kind=NodeKind.REGIONAL,
        display_name="creditlink development node",
        sector="",
        listen=want_listen,
        advertised=_advertised(want_listen),
        grants=tuple(Grant(action=action, kinds=("*",), scopes=("*",)) for action in Action),
    )
    operator = _Member(
        node_id=_operator_id(want_id),
        role=Role.CLIENT,
        directory="operator",
        region_code=want_region,
        kind=NodeKind.CLIENT,
        display_name=f"operator of {want_id}",
        sector="",
        listen=node.advertised,
        advertised=node.advertised,
        grants=_operator_grants(node.grants),
        operator_of=want_id,
    )
    # Validate before anything is written (ValueError on a bad id or region).
    NodeSpec(node_id=want_id, region_code=want_region, kind=NodeKind.REGIONAL)
    plan = _Plan(
        federation_id=DEV_NODE_FEDERATION_ID,
        root_files=("root.pem",),
        root_threshold=1,
        members=(node, operator),
    )
    with _locked(data_dir):
        _, created, renewed = _ensure(data_dir, plan, now)
        node_creds = _load(data_dir, "node", now)
        operator_creds = _load(data_dir, "operator", now)
    if not created:
        info = node_creds.node
        for given, stored, what in (
            (node_id, info.node_id, "node id"),
            (region_code, info.region_code, "region code"),
            (listen, node_creds.endpoints[0], "listen address"),
        ):
            if given is not None and given != stored:
                raise BootstrapError(
                    f"{data_dir} holds a development node with {what} {stored!r}, not "
                    f"{given!r}; use {stored!r} or another data directory",
                    reason="DEV_BOOTSTRAP_MISMATCH",
                )
    return DevNode(
        data_dir=data_dir,
        node=node_creds,
        operator=operator_creds,
        created=created,
        renewed=renewed,
    )


# --------------------------------------------------------------------------------------------
# Development federation
# --------------------------------------------------------------------------------------------


def create_dev_federation(
    directory: Path,
    *,
    nodes: Sequence[NodeSpec] = DEFAULT_FEDERATION_NODES,
    base_port: int | None = None,
    now: datetime | None = None,
) -> DevFederation:
    """Create a development federation in ``directory``, or load and verify the one there.

    One development CA, two root keys (the bundle needs both: 2-of-2, so thresholds are
    exercised), and per node a credentials directory ``<node_id>/`` and an operator's
    ``<node_id>-operator/`` (kind CLIENT, the node's permissions except WITNESS), all listed in
    ONE trust bundle (federation ``dev-federation``). Node *i* listens on
    ``127.0.0.1:<base_port + i>`` unless its spec names an endpoint. The default nodes are
    the hub ``cn-hub`` and the regional nodes ``zj-330000`` and ``gd-440000``.

    A second call reuses what is there and changes nothing (except renewing a bundle about to
    expire); the node ids, and the ports if ``base_port`` is given, must match.
    """
    now = _round(now)
    directory = Path(directory).expanduser().absolute()
    if not nodes:
        raise ValueError("a federation needs at least one node")
    ids = [spec.node_id for spec in nodes]
    if len(set(ids)) != len(ids) or set(ids) & {_operator_id(i) for i in ids}:
        raise ValueError("node ids (and their '-operator' ids) must be distinct")
    port = DEFAULT_BASE_PORT if base_port is None else base_port
    members: list[_Member] = []
    for index, spec in enumerate(nodes):
        endpoint = spec.endpoint or f"127.0.0.1:{port + index}"
        grants = (
            spec.grants
            if spec.grants is not None
            else default_grants(spec.kind, region_code=spec.region_code, sector=spec.sector)
        )
        members.append(
            _Member(
                node_id=spec.node_id,
                role=Role.NODE,
                directory=spec.node_id,
                region_code=spec.region_code,
                kind=spec.kind,
                display_name=spec.display_name,
                sector=spec.sector,
                listen=endpoint,
                advertised=_advertised(endpoint),
                grants=grants,
                upstream=spec.upstream,
            )
        )
    for node in list(members):
        members.append(
            _Member(
                node_id=_operator_id(node.node_id),
                role=Role.CLIENT,
                directory=_operator_id(node.node_id),
                region_code=node.region_code,
                kind=NodeKind.CLIENT,
                display_name=f"operator of {node.node_id}",
                sector=node.sector,
                listen=node.advertised,
                advertised=node.advertised,
                grants=_operator_grants(node.grants),
                operator_of=node.node_id,
            )
        )
    plan = _Plan(
        federation_id=DEV_FEDERATION_ID,
        root_files=("root-1.pem", "root-2.pem"),
        root_threshold=2,
        members=tuple(members),
    )
    with _locked(directory):
        stored, created, renewed = _ensure(directory, plan, now)
        stored_nodes = [m for m in stored.members if m["role"] == Role.NODE.value]
        if [m["node_id"] for m in stored_nodes] != ids:
            raise BootstrapError(
                f"{directory} holds a development federation of "
                f"{[m['node_id'] for m in stored_nodes]}, not {ids}; remove it or use "
                "another directory",
                reason="DEV_BOOTSTRAP_MISMATCH",
            )
        operators = {m.get("operator_of"): m["directory"] for m in stored.members}
        result: list[DevFederationNode] = []
        for entry, member in zip(stored_nodes, members, strict=False):
            creds = _load(directory, entry["directory"], now)
            if base_port is not None and creds.endpoints[0] != member.listen:
                raise BootstrapError(
                    f"{directory}: {creds.node_id} listens on {creds.endpoints[0]}, not "
                    f"{member.listen}; drop base_port or use another directory",
                    reason="DEV_BOOTSTRAP_MISMATCH",
                )
            result.append(
                DevFederationNode(
                    node_id=creds.node_id,
                    credentials=creds,
                    operator=_load(directory, operators[entry["node_id"]], now),
                    upstream=entry.get("upstream"),
                )
            )
    return DevFederation(
        directory=directory,
        federation_id=stored.federation_id,
        nodes=tuple(result),
        created=created,
        renewed=renewed,
    )
