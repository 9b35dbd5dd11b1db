"""Tests for the credentials directory (``creditlink.sdk.credentials``, docs/credentials.md).

Real keys, real certificates (self-signed, made here with ``cryptography.x509`` so the SDK tests
need nothing from the gateway), real signed trust bundles and real files with real modes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from creditlink.sdk.credentials import (
    BUNDLE_JSON,
    CERT_PEM,
    CHECKPOINT_KEY,
    KEY_PEM,
    MANIFEST,
    ROOTS_PEM,
    SEALING_KEY,
    SIGNING_KEY,
    Credentials,
    InvalidCredentials,
    Manifest,
    Role,
    read_secret_file,
    read_trust_bundle,
    tls_spki_sha256,
    update_trust_bundle,
    write_file_atomic,
)
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import InvalidKey
from creditlink.sdk.keys import (
    Algorithm,
    PrivateKey,
    Purpose,
    SealingPrivateKey,
    save_private_key,
)
from creditlink.sdk.tlog.checkpoint import (
    Checkpoint,
    NoteVerifier,
    sign_note,
    verify_checkpoint,
)
from creditlink.sdk.trust import (
    Action,
    NodeKind,
    TrustBundle,
    TrustBundleBuilder,
    read_trust_bundle_envelope,
    save_trust_bundle,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
FED = "test-fed"


# --------------------------------------------------------------------------------------------
# A small federation: one node, one client, made from scratch
# --------------------------------------------------------------------------------------------


def _tls(cn: str, *, not_after: datetime = NOW + 365 * DAY) -> tuple[bytes, bytes]:
    """A self-signed P-256 certificate and its PKCS#8 key, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass
class Party:
    node_id: str
    role: Role
    cert_pem: bytes
    key_pem: bytes
    signing: PrivateKey
    sealing: SealingPrivateKey
    checkpoint: PrivateKey | None


@dataclass
class Fed:
    roots: list[PrivateKey]
    node: Party
    client: Party
    envelope: Envelope
    threshold: int = 1


def _party(node_id: str, role: Role, *, cert_not_after: datetime = NOW + 365 * DAY) -> Party:
    cert_pem, key_pem = _tls(node_id, not_after=cert_not_after)
    return Party(
        node_id=node_id,
        role=role,
        cert_pem=cert_pem,
        key_pem=key_pem,
        signing=PrivateKey.generate(),
        sealing=SealingPrivateKey.generate(),
        checkpoint=PrivateKey.generate() if role is Role.NODE else None,
    )


def _builder(
    fed_roots: list[PrivateKey],
    parties: list[Party],
    *,
    version: int = 1,
    threshold: int = 1,
    expires: datetime = NOW + 90 * DAY,
) -> TrustBundleBuilder:
    builder = TrustBundleBuilder(
        federation_id=FED,
        version=version,
        issued_at=NOW - DAY,
        expires_at=expires,
        root_threshold=threshold,
    )
    for root in fed_roots:
        builder.add_root_key(root.public_key, not_before=NOW - DAY, not_after=NOW + 999 * DAY)
    for p in parties:
        node = p.role is Role.NODE
        builder.add_node(
            p.node_id,
            region_code="330000",
            kind=NodeKind.REGIONAL if node else NodeKind.CLIENT,
            tls_spki_sha256=[tls_spki_sha256(p.cert_pem)],
            endpoints=["127.0.0.1:7443"] if node else [],
            log_origin=f"example.org/{p.node_id}" if node else "",
        )
        keys: list[tuple[PrivateKey | SealingPrivateKey, Purpose]] = [
            (p.signing, Purpose.SIGN),
            (p.sealing, Purpose.SEAL),
        ]
        if p.checkpoint is not None:
            keys.append((p.checkpoint, Purpose.CHECKPOINT))
        for key, purpose in keys:
            builder.add_key(
                p.node_id,
                key.public_key,
                purpose,
                not_before=NOW - DAY,
                not_after=NOW + 999 * DAY,
                note_name=f"example.org/{p.node_id}" if purpose is Purpose.CHECKPOINT else "",
            )
        builder.add_permission(p.node_id, Action.READ, kinds=["*"], scopes=["*"])
    return builder


def _fed(*, cert_not_after: datetime = NOW + 365 * DAY) -> Fed:
    roots = [PrivateKey.generate()]
    node = _party("zj-330000", Role.NODE)
    client = _party("zj-client", Role.CLIENT, cert_not_after=cert_not_after)
    envelope = _builder(roots, [node, client]).sign(roots)
    return Fed(roots=roots, node=node, client=client, envelope=envelope)


def _write(fed: Fed, party: Party, directory: Path, *, now: datetime = NOW) -> Credentials:
    return Credentials.write(
        directory,
        manifest=Manifest(
            node_id=party.node_id,
            role=party.role,
            federation_id=FED,
            endpoints=("127.0.0.1:7443",),
            trust_roots_threshold=fed.threshold,
        ),
        ca_pem=fed.node.cert_pem,
        cert_pem=party.cert_pem,
        tls_key_pem=party.key_pem,
        signing_key=party.signing,
        sealing_key=party.sealing,
        checkpoint_key=party.checkpoint,
        trusted_roots=[r.public_key for r in fed.roots],
        trust_bundle=fed.envelope,
        now=now,
    )


@pytest.fixture
def fed() -> Fed:
    return _fed()


@pytest.fixture
def node_dir(fed: Fed, tmp_path: Path) -> Path:
    _write(fed, fed.node, tmp_path / "node")
    return tmp_path / "node"


@pytest.fixture
def client_dir(fed: Fed, tmp_path: Path) -> Path:
    _write(fed, fed.client, tmp_path / "client")
    return tmp_path / "client"


def _refused(directory: Path, reason: str, *fragments: str, now: datetime = NOW) -> str:
    with pytest.raises(InvalidCredentials) as info:
        Credentials.load(directory, now=now)
    assert info.value.reason == reason, str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    return str(info.value)


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------------------------
# Round trip
# --------------------------------------------------------------------------------------------


def test_node_credentials_round_trip(fed: Fed, node_dir: Path) -> None:
    creds = Credentials.load(node_dir, now=NOW)
    assert creds.node_id == "zj-330000"
    assert creds.role is Role.NODE
    assert creds.federation_id == FED
    assert creds.endpoints == ("127.0.0.1:7443",)
    assert creds.directory == node_dir
    assert creds.cert_pem == fed.node.cert_pem
    assert creds.key_pem == fed.node.key_pem
    assert creds.ca_pem == fed.node.cert_pem
    assert creds.tls_spki_sha256 == tls_spki_sha256(fed.node.cert_pem)
    assert creds.signing_key.key_id == fed.node.signing.key_id
    assert creds.sealing_key.key_id == fed.node.sealing.key_id
    assert creds.trust_bundle.version == 1
    assert creds.trusted_roots == (fed.roots[0].public_key,)
    assert creds.node.kind is NodeKind.REGIONAL
    assert creds.manifest.trust_roots_threshold == 1


def test_checkpoint_key_signs_checkpoints_that_verify_under_the_bundle(node_dir: Path) -> None:
    creds = Credentials.load(node_dir, now=NOW)
    signer = creds.checkpoint_key
    assert signer is not None
    # The note key name comes from the bundle, so a verifier built from the bundle matches.
    (record,) = creds.trust_bundle.checkpoint_keys("zj-330000", at=NOW)
    assert signer.name == record.note_name == "example.org/zj-330000"
    raw = record.public_key.public_bytes[-32:]  # Ed25519 SPKI ends with the raw key
    verifier = NoteVerifier(name=record.note_name, public_key=raw)
    checkpoint = Checkpoint(origin="example.org/zj-330000", size=0, root_hash=bytes(32))
    note = sign_note(checkpoint.to_body(), [signer])
    assert verify_checkpoint(note, verifier=verifier, origin="example.org/zj-330000") == checkpoint


def test_client_credentials_round_trip(fed: Fed, client_dir: Path) -> None:
    creds = Credentials.load(client_dir, now=NOW)
    assert creds.role is Role.CLIENT
    assert creds.checkpoint_key is None
    assert creds.node.kind is NodeKind.CLIENT
    assert creds.signing_key.key_id == fed.client.signing.key_id


def test_files_have_private_modes(node_dir: Path) -> None:
    assert stat.S_IMODE(node_dir.stat().st_mode) == 0o700
    for name in (KEY_PEM, SIGNING_KEY, SEALING_KEY, CHECKPOINT_KEY):
        assert stat.S_IMODE((node_dir / name).stat().st_mode) == 0o600, name
    for name in (MANIFEST, CERT_PEM, ROOTS_PEM, BUNDLE_JSON):
        assert stat.S_IMODE((node_dir / name).stat().st_mode) == 0o644, name


def test_loading_changes_nothing(node_dir: Path) -> None:
    before = _snapshot(node_dir)
    Credentials.load(node_dir, now=NOW)
    read_trust_bundle(node_dir, now=NOW)
    assert _snapshot(node_dir) == before


def test_grpc_credentials_build(node_dir: Path) -> None:
    creds = Credentials.load(node_dir, now=NOW)
    assert creds.server_credentials() is not None
    assert creds.channel_credentials() is not None


def test_repr_shows_no_key_material(node_dir: Path) -> None:
    creds = Credentials.load(node_dir, now=NOW)
    text = repr(creds)
    assert "zj-330000" in text
    assert "PRIVATE" not in text
    assert creds.key_pem.decode() not in text


def test_credentials_are_immutable_and_not_constructible(node_dir: Path) -> None:
    creds = Credentials.load(node_dir, now=NOW)
    with pytest.raises(AttributeError):
        creds._signing_key = PrivateKey.generate()
    with pytest.raises(TypeError):
        Credentials(_token=object())  # type: ignore[call-arg]


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def test_write_refuses_an_existing_directory(fed: Fed, node_dir: Path) -> None:
    before = _snapshot(node_dir)
    with pytest.raises(FileExistsError):
        _write(fed, fed.node, node_dir)
    assert _snapshot(node_dir) == before


def test_write_into_an_empty_directory(fed: Fed, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert _write(fed, fed.node, tmp_path / "empty").node_id == "zj-330000"


def test_write_checks_before_installing_and_leaves_nothing(fed: Fed, tmp_path: Path) -> None:
    # The client's certificate is not the node's pin: the check fails, nothing remains.
    wrong = Party(
        **{**fed.node.__dict__, "cert_pem": fed.client.cert_pem, "key_pem": fed.client.key_pem}
    )
    with pytest.raises(InvalidCredentials) as info:
        _write(fed, wrong, tmp_path / "node")
    assert info.value.reason == "CREDENTIALS_TLS_MISMATCH"
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_a_non_ed25519_checkpoint_key(fed: Fed, tmp_path: Path) -> None:
    bad = Party(
        **{**fed.node.__dict__, "checkpoint": PrivateKey.generate(Algorithm.ECDSA_P256_SHA256)}
    )
    with pytest.raises(InvalidKey):
        _write(fed, bad, tmp_path / "node")


# --------------------------------------------------------------------------------------------
# Refusals: every one names the file and the problem
# --------------------------------------------------------------------------------------------


def test_missing_directory(tmp_path: Path) -> None:
    _refused(tmp_path / "nope", "CREDENTIALS_FILE_MISSING", "nope")


@pytest.mark.parametrize(
    "name",
    [
        MANIFEST,
        CERT_PEM,
        KEY_PEM,
        SIGNING_KEY,
        SEALING_KEY,
        CHECKPOINT_KEY,
        ROOTS_PEM,
        BUNDLE_JSON,
        "tls/ca.pem",
    ],
)
def test_missing_file(node_dir: Path, name: str) -> None:
    (node_dir / name).unlink()
    _refused(node_dir, "CREDENTIALS_FILE_MISSING", str(node_dir / name), "missing")


@pytest.mark.parametrize("name", [KEY_PEM, SIGNING_KEY, SEALING_KEY, CHECKPOINT_KEY])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_readable_by_others(node_dir: Path, name: str, mode: int) -> None:
    os.chmod(node_dir / name, mode)
    message = _refused(node_dir, "KEY_FILE_PERMISSIONS", str(node_dir / name), "chmod 600")
    assert message.count(str(node_dir / name)) >= 1


def test_tampered_bundle(node_dir: Path) -> None:
    path = node_dir / BUNDLE_JSON
    obj = json.loads(path.read_text())
    payload = bytearray(base64.b64decode(obj["payload"]))
    payload[-1] ^= 0x01
    obj["payload"] = base64.b64encode(bytes(payload)).decode()
    path.write_text(json.dumps(obj))
    _refused(node_dir, "TRUST_BUNDLE_SIGNATURE", str(path))


def test_bundle_signed_by_other_roots(fed: Fed, node_dir: Path) -> None:
    other = [PrivateKey.generate()]
    save_trust_bundle(_builder(other, [fed.node, fed.client]).sign(other), node_dir / BUNDLE_JSON)
    _refused(node_dir, "TRUST_BUNDLE_SIGNATURE", str(node_dir / BUNDLE_JSON))


def test_bundle_not_json(node_dir: Path) -> None:
    (node_dir / BUNDLE_JSON).write_text("{")
    _refused(node_dir, "TRUST_BUNDLE_MALFORMED", str(node_dir / BUNDLE_JSON))


def test_expired_bundle(node_dir: Path) -> None:
    _refused(node_dir, "TRUST_BUNDLE_EXPIRED", str(node_dir / BUNDLE_JSON), now=NOW + 91 * DAY)


def test_wrong_tls_pin(fed: Fed, node_dir: Path) -> None:
    # A consistent certificate and key, but not the key the bundle pins for this node.
    cert_pem, key_pem = _tls("zj-330000")
    (node_dir / CERT_PEM).write_bytes(cert_pem)
    write_file_atomic(node_dir / KEY_PEM, key_pem, mode=0o600)
    pin = hashlib.sha256(
        x509.load_pem_x509_certificate(cert_pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()
    _refused(
        node_dir,
        "CREDENTIALS_TLS_MISMATCH",
        str(node_dir / CERT_PEM),
        pin,
        "is not a TLS pin of zj-330000",
    )


def test_tls_key_does_not_match_certificate(node_dir: Path) -> None:
    _, other_key = _tls("x")
    write_file_atomic(node_dir / KEY_PEM, other_key, mode=0o600)
    _refused(node_dir, "CREDENTIALS_TLS_MISMATCH", str(node_dir / KEY_PEM), "does not match")


def test_tls_key_not_pem(node_dir: Path) -> None:
    write_file_atomic(node_dir / KEY_PEM, b"not a key", mode=0o600)
    _refused(node_dir, "CREDENTIALS_MALFORMED", str(node_dir / KEY_PEM))


def test_certificate_not_pem(node_dir: Path) -> None:
    (node_dir / CERT_PEM).write_bytes(b"garbage")
    _refused(node_dir, "CREDENTIALS_MALFORMED", str(node_dir / CERT_PEM))


def test_expired_certificate(tmp_path: Path) -> None:
    fed = _fed(cert_not_after=NOW + 10 * DAY)
    _write(fed, fed.client, tmp_path / "client")
    _refused(tmp_path / "client", "CREDENTIALS_TLS_MISMATCH", "expired", now=NOW + 11 * DAY)


def test_signing_key_not_in_bundle(node_dir: Path) -> None:
    (node_dir / SIGNING_KEY).unlink()
    save_private_key(PrivateKey.generate(), node_dir / SIGNING_KEY)
    _refused(
        node_dir,
        "CREDENTIALS_KEY_MISMATCH",
        str(node_dir / SIGNING_KEY),
        "is not a SIGN key of zj-330000",
    )


def test_signing_file_holding_a_sealing_key(node_dir: Path) -> None:
    (node_dir / SIGNING_KEY).unlink()
    save_private_key(SealingPrivateKey.generate(), node_dir / SIGNING_KEY)
    _refused(node_dir, "CREDENTIALS_MALFORMED", str(node_dir / SIGNING_KEY), "sealing key")


def test_sealing_key_not_the_published_one(node_dir: Path) -> None:
    (node_dir / SEALING_KEY).unlink()
    save_private_key(SealingPrivateKey.generate(), node_dir / SEALING_KEY)
    _refused(node_dir, "CREDENTIALS_KEY_MISMATCH", str(node_dir / SEALING_KEY), "seal to")


def test_checkpoint_key_not_in_bundle(node_dir: Path) -> None:
    (node_dir / CHECKPOINT_KEY).unlink()
    save_private_key(PrivateKey.generate(), node_dir / CHECKPOINT_KEY)
    _refused(node_dir, "CREDENTIALS_KEY_MISMATCH", str(node_dir / CHECKPOINT_KEY), "CHECKPOINT key")


def test_client_must_not_hold_a_checkpoint_key(client_dir: Path) -> None:
    save_private_key(PrivateKey.generate(), client_dir / CHECKPOINT_KEY)
    _refused(client_dir, "CREDENTIALS_MALFORMED", str(client_dir / CHECKPOINT_KEY), "client")


def _edit_manifest(directory: Path, **changes: object) -> None:
    path = directory / MANIFEST
    obj = json.loads(path.read_text())
    obj.update(changes)
    path.write_text(json.dumps(obj))


def test_node_id_not_in_bundle(node_dir: Path) -> None:
    _edit_manifest(node_dir, node_id="gd-440000")
    _refused(node_dir, "CREDENTIALS_NOT_IN_BUNDLE", "'gd-440000'", "not in trust bundle")


def test_role_does_not_fit_kind(node_dir: Path) -> None:
    _edit_manifest(node_dir, role="client")
    _refused(node_dir, "CREDENTIALS_NOT_IN_BUNDLE", str(node_dir / MANIFEST), "REGIONAL")


def test_federation_mismatch(node_dir: Path) -> None:
    _edit_manifest(node_dir, federation_id="other")
    _refused(node_dir, "CREDENTIALS_NOT_IN_BUNDLE", "'other'")


def test_threshold_above_pinned_roots(node_dir: Path) -> None:
    _edit_manifest(node_dir, trust_roots_threshold=2)
    _refused(node_dir, "CREDENTIALS_MALFORMED", str(node_dir / MANIFEST), "trust_roots_threshold")


def test_roots_file_with_a_private_key(node_dir: Path) -> None:
    (node_dir / ROOTS_PEM).write_bytes((node_dir / KEY_PEM).read_bytes())
    _refused(node_dir, "CREDENTIALS_MALFORMED", str(node_dir / ROOTS_PEM), "not a PUBLIC KEY")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"format": 2}', "format is 2"),
        ('{"format": true}', "format is True"),
        ('{"format": 1, "format": 1}', "appears twice"),
    ],
)
def test_malformed_manifest_text(node_dir: Path, text: str, fragment: str) -> None:
    (node_dir / MANIFEST).write_text(text)
    _refused(node_dir, "CREDENTIALS_MALFORMED", str(node_dir / MANIFEST), fragment)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"extra": 1}, "unknown keys ['extra']"),
        ({"role": "admin"}, "'admin'"),
        ({"node_id": "ZJ"}, "node id"),
        ({"node_id": 5}, "node_id must be a string"),
        ({"endpoints": "127.0.0.1:1"}, "endpoints must be a list"),
        ({"endpoints": ["no-port"]}, "not host:port"),
        ({"endpoints": ["h:70000"]}, "not host:port"),
        ({"endpoints": []}, "at least one endpoint"),
        ({"trust_roots_threshold": 0}, "at least 1"),
        ({"trust_roots_threshold": True}, "at least 1"),
        ({"federation_id": ""}, "federation_id"),
    ],
)
def test_invalid_manifest_values(node_dir: Path, changes: dict[str, object], fragment: str) -> None:
    _edit_manifest(node_dir, **changes)
    _refused(node_dir, "CREDENTIALS_MALFORMED", str(node_dir / MANIFEST), fragment)


def test_manifest_missing_key(node_dir: Path) -> None:
    obj = json.loads((node_dir / MANIFEST).read_text())
    del obj["endpoints"]
    (node_dir / MANIFEST).write_text(json.dumps(obj))
    _refused(node_dir, "CREDENTIALS_MALFORMED", "missing keys ['endpoints']")


def test_client_manifest_may_have_no_endpoint() -> None:
    manifest = Manifest(
        node_id="zj-client",
        role=Role.CLIENT,
        federation_id=FED,
        endpoints=(),
        trust_roots_threshold=1,
    )
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_naive_now_is_refused(node_dir: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Credentials.load(node_dir, now=datetime(2026, 6, 1))  # noqa: DTZ001


# --------------------------------------------------------------------------------------------
# Updating the trust bundle
# --------------------------------------------------------------------------------------------


def _next(
    fed: Fed,
    version: int,
    signers: list[PrivateKey],
    roots: list[PrivateKey],
    threshold: int = 1,
    expires: datetime = NOW + 180 * DAY,
) -> Envelope:
    return _builder(
        roots, [fed.node, fed.client], version=version, threshold=threshold, expires=expires
    ).sign(signers)


def test_update_installs_the_next_version(fed: Fed, node_dir: Path) -> None:
    bundle = update_trust_bundle(node_dir, _next(fed, 2, fed.roots, fed.roots), now=NOW)
    assert bundle.version == 2
    assert Credentials.load(node_dir, now=NOW).trust_bundle.version == 2
    # Same roots: nothing re-pinned.
    assert json.loads((node_dir / MANIFEST).read_text())["trust_roots_threshold"] == 1


@pytest.mark.parametrize(
    ("version", "reason"),
    [(1, "TRUST_BUNDLE_ROLLBACK"), (3, "TRUST_BUNDLE_VERSION_GAP")],
)
def test_update_refuses_rollback_and_gaps(
    fed: Fed, node_dir: Path, version: int, reason: str
) -> None:
    before = _snapshot(node_dir)
    with pytest.raises(InvalidCredentials) as info:
        update_trust_bundle(node_dir, _next(fed, version, fed.roots, fed.roots), now=NOW)
    assert info.value.reason == reason
    assert str(node_dir / BUNDLE_JSON) in str(info.value)
    assert {k: v for k, v in _snapshot(node_dir).items() if k != "trust/.lock"} == before


def test_update_refuses_a_bundle_signed_by_strangers(fed: Fed, node_dir: Path) -> None:
    strangers = [PrivateKey.generate()]
    with pytest.raises(InvalidCredentials) as info:
        update_trust_bundle(node_dir, _next(fed, 2, strangers, strangers), now=NOW)
    assert info.value.reason == "TRUST_BUNDLE_SIGNATURE"
    assert Credentials.load(node_dir, now=NOW).trust_bundle.version == 1


def test_update_rotates_roots_and_repins(fed: Fed, node_dir: Path) -> None:
    old = fed.roots
    new = [PrivateKey.generate(), PrivateKey.generate()]
    # v2: the new 2-of-2 roots, signed by the old root (authorizing) and both new ones.
    update_trust_bundle(node_dir, _next(fed, 2, [*old, *new], new, threshold=2), now=NOW)
    creds = Credentials.load(node_dir, now=NOW)
    assert set(creds.trusted_roots) == {k.public_key for k in new}
    assert creds.manifest.trust_roots_threshold == 2
    # v3 signed by the new roots only: verifiable only thanks to the re-pinning.
    update_trust_bundle(node_dir, _next(fed, 3, new, new, threshold=2), now=NOW)
    assert Credentials.load(node_dir, now=NOW).trust_bundle.version == 3


def test_update_starts_from_an_expired_bundle(fed: Fed, node_dir: Path) -> None:
    later = NOW + 100 * DAY  # v1 expired at NOW + 90 days
    with pytest.raises(InvalidCredentials):
        Credentials.load(node_dir, now=later)
    assert read_trust_bundle(node_dir, now=later, allow_expired=True).version == 1
    update_trust_bundle(node_dir, _next(fed, 2, fed.roots, fed.roots), now=later)
    assert Credentials.load(node_dir, now=later).trust_bundle.version == 2


def test_update_refuses_an_expired_update(fed: Fed, node_dir: Path) -> None:
    with pytest.raises(InvalidCredentials) as info:
        update_trust_bundle(
            node_dir, _next(fed, 2, fed.roots, fed.roots, expires=NOW), now=NOW + DAY
        )
    assert info.value.reason == "TRUST_BUNDLE_EXPIRED"


def test_update_does_not_check_own_keys(fed: Fed, node_dir: Path) -> None:
    # The federation dropped the node: the update installs, and loading then says why.
    builder = _builder(fed.roots, [fed.client], version=2)
    update_trust_bundle(node_dir, builder.sign(fed.roots), now=NOW)
    _refused(node_dir, "CREDENTIALS_NOT_IN_BUNDLE", "not in trust bundle version 2")


def test_written_bundle_is_the_envelope(fed: Fed, node_dir: Path) -> None:
    env = read_trust_bundle_envelope(node_dir / BUNDLE_JSON)
    assert env == fed.envelope
    bundle = TrustBundle.from_envelope(
        env, trusted_roots=[fed.roots[0].public_key], threshold=1, now=NOW
    )
    assert bundle.digest == Credentials.load(node_dir, now=NOW).trust_bundle.digest


# --------------------------------------------------------------------------------------------
# File helpers
# --------------------------------------------------------------------------------------------


def test_write_file_atomic_modes_and_no_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "secret.pem"
    old = os.umask(0)
    try:
        write_file_atomic(path, b"one", mode=0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_file_atomic(path, b"two", mode=0o600, overwrite=False)
    assert path.read_bytes() == b"one"
    write_file_atomic(path, b"three", mode=0o600)
    assert path.read_bytes() == b"three"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.pem"]


def test_read_secret_file_refuses_loose_modes(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_file_atomic(path, b"key", mode=0o600)
    assert read_secret_file(path) == b"key"
    os.chmod(path, 0o644)
    with pytest.raises(InvalidKey) as info:
        read_secret_file(path)
    assert info.value.reason == "KEY_FILE_PERMISSIONS"


def test_tls_spki_sha256_is_the_key_pin() -> None:
    cert_pem, key_pem = _tls("x")
    key = serialization.load_pem_private_key(key_pem, None)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert tls_spki_sha256(cert_pem) == hashlib.sha256(spki).digest()
    with pytest.raises(ValueError, match="PEM"):
        tls_spki_sha256(b"nothing here")
