"""Enrolling a real node: federation directory, request, admission, completion.

Everything is real: keys, CSRs, certificates, signed trust bundles, files and their modes. The
tampering tests change the files a node or an operator would receive and check that nothing is
installed or admitted.
"""

from __future__ import annotations

import base64
import json
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from creditlink.gateway.bootstrap import create_dev_federation
from creditlink.gateway.config import Upstream, load_config
from creditlink.gateway.enrollment import (
    NODE_DIR,
    PENDING_DIR,
    REQUEST_FILE,
    RESPONSE_FILE,
    ROOTS_FILE,
    EnrollmentError,
    EnrollmentRequest,
    EnrollmentResponse,
    Federation,
    NodeParameters,
    PreparedNode,
    complete_node,
    create_federation,
    create_node,
    enroll,
    grants_for,
    open_federation,
    renew_bundle,
    sha256_hex,
)
from creditlink.sdk.credentials import Credentials, Role
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import InvalidKey
from creditlink.sdk.keys import (
    Algorithm,
    SealingPrivateKey,
    load_private_key,
    save_private_key,
)
from creditlink.sdk.trust import Action, NodeKind

SECRET_FILES = (
    "keys/signing.pem",
    "keys/sealing.pem",
    "keys/checkpoint.pem",
    "tls/key.pem",
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _params(**changes: Any) -> NodeParameters:
    values: dict[str, Any] = {
        "node_id": "zj-330000",
        "kind": NodeKind.REGIONAL,
        "region_code": "330000",
        "listen": "0.0.0.0:7443",
        "advertise": ("zj.example.cn:7443",),
    }
    values.update(changes)
    return NodeParameters(**values)


@pytest.fixture
def federation(tmp_path: Path) -> Federation:
    return create_federation(tmp_path / "fed", federation_id="cn-credit")


@pytest.fixture
def prepared(tmp_path: Path) -> PreparedNode:
    return create_node(tmp_path / "zj", _params())


def _enroll_and_write(federation: Federation, prepared: PreparedNode, **kwargs: Any) -> bytes:
    """Enroll ``prepared``; the response file's bytes."""
    return enroll(
        federation.directory, prepared.request_path.read_bytes(), **kwargs
    ).response.to_json()


# --------------------------------------------------------------------------------------------
# The federation directory
# --------------------------------------------------------------------------------------------


def test_create_federation_layout_modes_and_operator(tmp_path: Path) -> None:
    fed = create_federation(
        tmp_path / "fed", federation_id="cn-credit", roots=3, threshold=2, operator_id="ops"
    )
    d = fed.federation_dir
    assert fed.federation_id == "cn-credit"
    assert fed.root_files == ("root-1.pem", "root-2.pem", "root-3.pem")
    assert fed.root_threshold == 2
    assert fed.members == ("operator",)
    assert _mode(fed.directory) == 0o700
    assert _mode(d) == 0o700
    for name in (*fed.root_files, "ca-key.pem"):
        assert _mode(d / name) == 0o600, name
    # The published roots file is what members pin: its sha256sum is the fingerprint.
    assert sha256_hex((d / ROOTS_FILE).read_bytes()) == fed.roots_sha256
    operator = Credentials.load(fed.directory / "operator")
    assert operator.role is Role.CLIENT
    assert operator.node_id == "ops"
    assert operator.trusted_roots == tuple(k.public_key for k in fed.root_keys())
    bundle = fed.current_bundle()
    assert (bundle.version, bundle.root_threshold, bundle.node_ids) == (1, 2, ("ops",))
    assert bundle.permits("ops", Action.READ, "record", "*")
    assert not bundle.permits("ops", Action.PUBLISH, "record", "*")
    ca = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
    assert "development" not in ca.subject.rfc4514_string()
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"federation_id": ""}, "federation id"),
        ({"federation_id": "cn credit"}, "federation id"),
        ({"roots": 2, "threshold": 3}, "threshold"),
        ({"roots": 0}, "roots"),
        ({"operator_id": "Ops"}, "operator"),
        ({"operator_region": "990000"}, "operator"),
    ],
)
def test_create_federation_refuses_bad_parameters(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"federation_id": "cn-credit", **kwargs}
    with pytest.raises(EnrollmentError) as info:
        create_federation(tmp_path / "fed", **arguments)
    assert message in str(info.value)
    assert info.value.reason == "ENROLLMENT_INVALID_PARAMETER"
    assert not (tmp_path / "fed").exists()


def test_create_federation_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "fed").mkdir()
    (tmp_path / "fed" / "notes.txt").write_text("mine")
    with pytest.raises(EnrollmentError) as info:
        create_federation(tmp_path / "fed", federation_id="cn-credit")
    assert info.value.reason == "ENROLLMENT_DIRECTORY_EXISTS"
    assert [p.name for p in (tmp_path / "fed").iterdir()] == ["notes.txt"]


def test_open_federation_explains_a_wrong_directory(tmp_path: Path) -> None:
    with pytest.raises(EnrollmentError) as info:
        open_federation(tmp_path)
    assert info.value.reason == "FEDERATION_DIRECTORY_INVALID"
    assert "creditlink federation create" in str(info.value)


# --------------------------------------------------------------------------------------------
# Preparing a node
# --------------------------------------------------------------------------------------------


def test_create_node_layout_modes_config_and_request(tmp_path: Path) -> None:
    prepared = create_node(
        tmp_path / "zj",
        _params(
            upstream=Upstream(endpoint="hub.example.cn:7443", node_id="cn-hub"),
            advertise=("zj.example.cn:7443", "10.1.2.3:7443", "[2001:db8::7]:7443"),
            store_url="postgresql://creditlink@db/creditlink",
        ),
    )
    d = prepared.directory
    assert _mode(d) == 0o700
    for sub in (PENDING_DIR, f"{PENDING_DIR}/keys", f"{PENDING_DIR}/tls"):
        assert _mode(d / sub) == 0o700, sub
    for name in SECRET_FILES:
        assert _mode(d / PENDING_DIR / name) == 0o600, name
    assert _mode(prepared.config_path) == 0o600
    assert not (d / NODE_DIR).exists()  # written by complete_node only

    config = load_config(prepared.config_path, env={})
    assert config.node_id == "zj-330000"
    assert config.listen == "0.0.0.0:7443"
    assert config.credentials_dir == d / NODE_DIR
    assert config.data_dir == d / "data"
    assert config.store_url == "postgresql://creditlink@db/creditlink"
    assert config.upstream == Upstream(endpoint="hub.example.cn:7443", node_id="cn-hub")

    data = prepared.request_path.read_bytes()
    assert b"PRIVATE KEY" not in data
    assert sha256_hex(data) == prepared.request_sha256
    request = EnrollmentRequest.from_json(data)
    assert request == prepared.request
    assert request.endpoints == ("zj.example.cn:7443", "10.1.2.3:7443", "[2001:db8::7]:7443")
    assert request.log_origin == "creditlink/zj-330000"
    csr = x509.load_pem_x509_csr((d / PENDING_DIR / "tls/request.csr").read_bytes())
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["zj.example.cn"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [
        "10.1.2.3",
        "2001:db8::7",
    ]
    signing = load_private_key(d / PENDING_DIR / "keys/signing.pem")
    assert signing.public_key == request.signing_key


def test_create_node_hybrid_sealing_key(tmp_path: Path) -> None:
    prepared = create_node(
        tmp_path / "zj", _params(sealing_algorithm=Algorithm.MLKEM768_X25519_HPKE)
    )
    request = EnrollmentRequest.from_json(prepared.request_path.read_bytes())
    assert request.sealing_key.algorithm is Algorithm.MLKEM768_X25519_HPKE


def test_create_node_accepts_an_empty_directory_and_refuses_a_used_one(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    create_node(tmp_path / "empty", _params())
    assert (tmp_path / "empty" / REQUEST_FILE).exists()
    before = sorted(p.name for p in (tmp_path / "empty").iterdir())
    with pytest.raises(EnrollmentError) as info:
        create_node(tmp_path / "empty", _params(node_id="gd-440000", region_code="440000"))
    assert info.value.reason == "ENROLLMENT_DIRECTORY_EXISTS"
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == before
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"node_id": "ZJ-330000"}, "node id"),
        ({"node_id": "zj"}, "node id"),
        ({"region_code": "990000"}, "region code"),
        ({"region_code": "33-0000"}, "compact form"),
        ({"kind": NodeKind.CLIENT}, "not a gateway kind"),
        ({"kind": NodeKind.SECTORAL}, "needs a sector"),
        ({"kind": NodeKind.SECTORAL, "sector": "Tax"}, "sector"),
        ({"advertise": ()}, "binds every interface"),
        ({"advertise": ("0.0.0.0:7443",)}, "wildcard"),
        ({"advertise": ("zj.example.cn",)}, "host:port"),
        ({"listen": "127.0.0.1:0", "advertise": ()}, "port from 1 to 65535"),
        ({"listen": "::1:7443"}, "brackets"),
        ({"listen": "zj_node:7443"}, "not a DNS name"),
        ({"upstream": Upstream(endpoint="a.example:1", node_id="zj-330000")}, "itself"),
        ({"log_origin": "creditlink zj"}, "log origin"),
        ({"display_name": "x" * 300}, "display name"),
    ],
)
def test_node_parameters_are_checked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(EnrollmentError) as info:
        _params(**changes)
    assert message in str(info.value)
    assert info.value.reason == "ENROLLMENT_INVALID_PARAMETER"


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"store_url": "mysql://db/x"}, "store_url"), ({"metrics_listen": "nowhere"}, "metrics")],
)
def test_bad_config_values_leave_nothing_behind(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(EnrollmentError) as info:
        create_node(tmp_path / "zj", _params(**changes))
    assert message in str(info.value)
    assert not (tmp_path / "zj").exists()


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


def _edited(data: bytes, edit: Any) -> bytes:
    obj = json.loads(data)
    edit(obj)
    return json.dumps(obj).encode()


def _other_csr(
    node_id: str, hosts: list[str], key: ec.EllipticCurvePrivateKey | None = None
) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda o: o.update(extra=1), "unknown keys"),
        (lambda o: o.update(format=2), "format-1"),
        (lambda o: o.update(kind="client"), "not a gateway kind"),
        (lambda o: o.update(kind="national"), "kind"),
        (lambda o: o["keys"]["signing"].update(key_id="0" * 32), "is not the key's id"),
        (lambda o: o["keys"]["signing"].update(algorithm="RSA"), "unknown algorithm"),
        (lambda o: o["keys"]["checkpoint"].update(o["keys"]["sealing"]), "valid public key"),
        (lambda o: o["tls"].update(spki_sha256="00" * 32), "spki_sha256"),
        (lambda o: o["tls"].update(csr=_other_csr("gd-440000", ["zj.example.cn"])), "common name"),
        (
            lambda o: o["tls"].update(
                csr=_other_csr("zj-330000", ["zj.example.cn", "hub.example"])
            ),
            "exactly the endpoints' hosts",
        ),
        (lambda o: o.update(endpoints=["0.0.0.0:7443"]), "wildcard"),
    ],
)
def test_malformed_requests_are_refused(prepared: PreparedNode, edit: Any, message: str) -> None:
    with pytest.raises(EnrollmentError) as info:
        EnrollmentRequest.from_json(_edited(prepared.request_path.read_bytes(), edit))
    assert message in str(info.value)
    assert info.value.reason == "ENROLLMENT_REQUEST_MALFORMED"


def test_a_csr_whose_signature_fails_is_refused(prepared: PreparedNode) -> None:
    pem = prepared.request.csr_pem
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    forged = b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der))
    forged += b"-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(EnrollmentError) as info:
        replace(prepared.request, csr_pem=forged)
    assert "the CSR's signature does not verify" in str(info.value)
    assert info.value.reason == "ENROLLMENT_REQUEST_MALFORMED"


def test_the_ca_issues_only_for_a_valid_p256_csr(federation: Federation) -> None:
    ca = federation.ca()
    ed_key = Ed25519PrivateKey.generate()
    ed_csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zj-330000")]))
        .sign(ed_key, None)
    )
    with pytest.raises(InvalidKey):
        ca.issue_from_csr(ed_csr, node_id="zj-330000")
    good = x509.load_pem_x509_csr(_other_csr("zj-330000", ["zj.example.cn"]).encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01
    with pytest.raises(ValueError, match="does not verify"):
        ca.issue_from_csr(x509.load_der_x509_csr(bytes(der)), node_id="zj-330000")
    cert = x509.load_pem_x509_certificate(ca.issue_from_csr(good, node_id="zj-330000"))
    assert cert.subject.rfc4514_string() == "CN=zj-330000,O=creditlink federation cn-credit"


# --------------------------------------------------------------------------------------------
# Admission
# --------------------------------------------------------------------------------------------


def test_enroll_adds_the_node_and_updates_the_members(
    federation: Federation, prepared: PreparedNode
) -> None:
    result = enroll(
        federation.directory,
        prepared.request_path.read_bytes(),
        expect_sha256=prepared.request_sha256.upper(),
    )
    now = datetime.now(UTC)
    bundle = result.bundle
    assert bundle.version == 2
    assert result.bundle_path == federation.bundles_dir / "2.json"
    node = bundle.node("zj-330000")
    assert node.kind is NodeKind.REGIONAL
    assert node.endpoints == ("zj.example.cn:7443",)
    assert node.log_origin == "creditlink/zj-330000"
    assert node.tls_spki_sha256 == (prepared.request.tls_spki_sha256,)
    assert prepared.request.signing_key in bundle.signing_keys("zj-330000", kind="record", at=now)
    (checkpoint,) = bundle.checkpoint_keys("zj-330000", at=now)
    assert checkpoint.note_name == "creditlink/zj-330000"
    assert bundle.permits("zj-330000", Action.PUBLISH, "record", "region:330100")
    assert not bundle.permits("zj-330000", Action.PUBLISH, "record", "region:440000")
    assert not bundle.permits("zj-330000", Action.PUBLISH, "measure-list", "region:330000")
    # The operator's credentials follow; the response names the request and the roots.
    assert Credentials.load(federation.directory / "operator").trust_bundle.version == 2
    assert result.response.request_sha256 == prepared.request_sha256
    assert result.roots_sha256 == federation.roots_sha256
    cert = x509.load_pem_x509_certificate(result.response.certificate_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["zj.example.cn"]  # no loopback names
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    records = sorted(p.name for p in (federation.federation_dir / "enrollments").iterdir())
    assert records == ["zj-330000-v2.request.json", "zj-330000-v2.response.json"]


def test_enroll_refuses_a_request_with_another_fingerprint(
    federation: Federation, prepared: PreparedNode
) -> None:
    with pytest.raises(EnrollmentError) as info:
        enroll(federation.directory, prepared.request_path.read_bytes(), expect_sha256="ab" * 32)
    assert info.value.reason == "ENROLLMENT_REQUEST_MISMATCH"
    assert sorted(federation.versions()) == [1]


def test_enroll_refuses_a_member_twice_and_a_reused_key(
    tmp_path: Path, federation: Federation, prepared: PreparedNode
) -> None:
    enroll(federation.directory, prepared.request_path.read_bytes())
    with pytest.raises(EnrollmentError) as info:
        enroll(federation.directory, prepared.request_path.read_bytes())
    assert info.value.reason == "ENROLLMENT_CONFLICT"
    assert "already a member" in str(info.value)

    # Another node presenting zj's TLS key, or zj's signing key, is refused as well.
    tls_key = serialization.load_pem_private_key(
        (prepared.directory / PENDING_DIR / "tls/key.pem").read_bytes(), password=None
    )
    assert isinstance(tls_key, ec.EllipticCurvePrivateKey)
    other = create_node(
        tmp_path / "gd",
        _params(node_id="gd-440000", region_code="440000", advertise=("gd.example.cn:7443",)),
    )
    same_tls = replace(
        other.request,
        csr_pem=_other_csr("gd-440000", ["gd.example.cn"], tls_key).encode(),
    )
    with pytest.raises(EnrollmentError) as info:
        enroll(federation.directory, same_tls.to_json())
    assert info.value.reason == "ENROLLMENT_CONFLICT"
    assert "TLS key" in str(info.value)
    same_signing = replace(other.request, signing_key=prepared.request.signing_key)
    with pytest.raises(EnrollmentError) as info:
        enroll(federation.directory, same_signing.to_json())
    assert info.value.reason == "ENROLLMENT_CONFLICT"
    assert sorted(federation.versions()) == [1, 2]


def test_enroll_warns_about_a_shared_host(
    tmp_path: Path, federation: Federation, prepared: PreparedNode
) -> None:
    enroll(federation.directory, prepared.request_path.read_bytes())
    other = create_node(
        tmp_path / "gd",
        _params(node_id="gd-440000", region_code="440000", advertise=("ZJ.example.cn:8443",)),
    )
    result = enroll(federation.directory, other.request_path.read_bytes())
    assert any("zj.example.cn" in w and "zj-330000" in w for w in result.warnings)


def test_grant_policies(tmp_path: Path, federation: Federation) -> None:
    assert grants_for("none", NodeKind.HUB, region_code="100000") == ()
    (read,) = grants_for("read", NodeKind.HUB, region_code="100000")
    assert (read.action, read.kinds, read.scopes) == (Action.READ, ("*",), ("*",))
    with pytest.raises(EnrollmentError, match="no default permissions"):
        grants_for("default", NodeKind.CREDIT_SERVICE, region_code="330000")
    service = create_node(
        tmp_path / "cs", _params(node_id="cs-credit", kind=NodeKind.CREDIT_SERVICE)
    )
    with pytest.raises(EnrollmentError):
        enroll(federation.directory, service.request_path.read_bytes())
    result = enroll(federation.directory, service.request_path.read_bytes(), grants="read")
    assert result.bundle.permits("cs-credit", Action.READ, "record", "*")
    assert not result.bundle.permits("cs-credit", Action.WITNESS, "checkpoint", "*")


def test_renew_signs_the_next_version_with_the_same_members(
    federation: Federation, prepared: PreparedNode
) -> None:
    enroll(federation.directory, prepared.request_path.read_bytes())
    later = datetime.now(UTC) + timedelta(days=200)
    bundle, path, warnings = renew_bundle(federation.directory, now=later)
    assert (bundle.version, path.name, warnings) == (3, "3.json", ())
    assert bundle.node_ids == ("federation-operator", "zj-330000")
    assert bundle.issued_at == later.replace(microsecond=0)
    assert Credentials.load(federation.directory / "operator", now=later).trust_bundle.version == 3


def test_enroll_into_a_development_federation(tmp_path: Path) -> None:
    # Same directory layout: a node can join what `creditlink dev up` runs.
    dev = create_dev_federation(tmp_path / "dev", base_port=17650)
    prepared = create_node(
        tmp_path / "sx",
        _params(node_id="sx-140000", region_code="140000", listen="127.0.0.1:17660", advertise=()),
    )
    result = enroll(dev.directory, prepared.request_path.read_bytes())
    assert result.bundle.version == dev.trust_bundle.version + 1
    assert Credentials.load(dev.directory / "cn-hub").trust_bundle.version == result.bundle.version
    done = complete_node(
        prepared.directory, result.response.to_json(), roots_sha256=result.roots_sha256
    )
    assert done.credentials.trust_bundle.federation_id == "dev-federation"


# --------------------------------------------------------------------------------------------
# Completion
# --------------------------------------------------------------------------------------------


def test_complete_writes_loadable_credentials(
    federation: Federation, prepared: PreparedNode
) -> None:
    response = _enroll_and_write(federation, prepared)
    done = complete_node(prepared.directory, response, roots_sha256=federation.roots_sha256)
    creds = Credentials.load(prepared.directory / NODE_DIR)
    assert creds.role is Role.NODE
    assert creds.node_id == "zj-330000"
    assert creds.endpoints == ("0.0.0.0:7443",)  # where it listens; peers use the bundle's
    assert creds.checkpoint_key is not None
    assert creds.checkpoint_key.name == "creditlink/zj-330000"
    assert done.credentials.trust_bundle.version == 2
    assert done.warnings == ()
    for name in SECRET_FILES:
        assert _mode(prepared.directory / NODE_DIR / name) == 0o600, name
    assert not (prepared.directory / PENDING_DIR).exists()
    assert (prepared.directory / RESPONSE_FILE).read_bytes() == response
    with pytest.raises(EnrollmentError) as info:
        complete_node(prepared.directory, response, roots_sha256=federation.roots_sha256)
    assert info.value.reason == "ENROLLMENT_ALREADY_COMPLETE"


def test_complete_warns_about_an_upstream_outside_the_bundle(
    tmp_path: Path, federation: Federation
) -> None:
    prepared = create_node(
        tmp_path / "zj",
        _params(upstream=Upstream(endpoint="hub.example.cn:7443", node_id="cn-hub")),
    )
    response = _enroll_and_write(federation, prepared)
    done = complete_node(prepared.directory, response, roots_sha256=federation.roots_sha256)
    assert any("cn-hub" in w for w in done.warnings)


def _assert_untouched(prepared: PreparedNode) -> None:
    assert not (prepared.directory / NODE_DIR).exists()
    assert (prepared.directory / PENDING_DIR / "keys/signing.pem").exists()
    assert not (prepared.directory / RESPONSE_FILE).exists()


def test_complete_refuses_roots_with_another_fingerprint(
    tmp_path: Path, federation: Federation, prepared: PreparedNode
) -> None:
    # A forged federation answers the same request: everything in its response verifies
    # against its own roots, and only the fingerprint pinned out of band tells them apart.
    forged = create_federation(tmp_path / "forged", federation_id="cn-credit")
    response = _enroll_and_write(forged, prepared)
    with pytest.raises(EnrollmentError) as info:
        complete_node(prepared.directory, response, roots_sha256=federation.roots_sha256)
    assert info.value.reason == "ENROLLMENT_ROOTS_MISMATCH"
    _assert_untouched(prepared)
    with pytest.raises(EnrollmentError) as info:
        complete_node(prepared.directory, response, roots_sha256="not-hex")
    assert info.value.reason == "ENROLLMENT_INVALID_PARAMETER"


def _tamper_payload(obj: dict[str, Any]) -> None:
    payload = bytearray(base64.b64decode(obj["trust_bundle"]["payload"]))
    payload[-1] ^= 0x01
    obj["trust_bundle"]["payload"] = base64.b64encode(bytes(payload)).decode()


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_tamper_payload, "TRUST_BUNDLE_SIGNATURE"),
        (lambda o: o.update(trust_roots_threshold=5), "ENROLLMENT_RESPONSE_MALFORMED"),
        (lambda o: o.update(request_sha256="0" * 64), "ENROLLMENT_RESPONSE_MISMATCH"),
        (lambda o: o.update(federation_id="other"), "ENROLLMENT_RESPONSE_MISMATCH"),
        (lambda o: o.pop("ca_certificates"), "ENROLLMENT_RESPONSE_MALFORMED"),
        (lambda o: o.update(trust_bundle={"payload": "x"}), "ENROLLMENT_RESPONSE_MALFORMED"),
    ],
)
def test_complete_refuses_a_tampered_response(
    federation: Federation, prepared: PreparedNode, edit: Any, reason: str
) -> None:
    response = _edited(_enroll_and_write(federation, prepared), edit)
    with pytest.raises(EnrollmentError) as info:
        complete_node(prepared.directory, response, roots_sha256=federation.roots_sha256)
    assert info.value.reason == reason
    _assert_untouched(prepared)


def test_complete_refuses_a_response_for_another_node(
    tmp_path: Path, federation: Federation, prepared: PreparedNode
) -> None:
    other = create_node(
        tmp_path / "gd",
        _params(node_id="gd-440000", region_code="440000", advertise=("gd.example.cn:7443",)),
    )
    ours = json.loads(_enroll_and_write(federation, prepared))
    theirs = json.loads(_enroll_and_write(federation, other))
    roots = federation.roots_sha256
    cases = {
        # As it came: named for the other node.
        "is for node 'gd-440000'": theirs,
        # Renamed to us: it answers another request.
        "answers another enrollment request": {**theirs, "node_id": "zj-330000"},
        # Our response with their certificate (v3, which lists both of us, as bundle).
        "another key": {
            **ours,
            "certificate_chain": theirs["certificate_chain"],
            "trust_bundle": theirs["trust_bundle"],
        },
    }
    for message, obj in cases.items():
        with pytest.raises(EnrollmentError) as info:
            complete_node(prepared.directory, json.dumps(obj).encode(), roots_sha256=roots)
        assert info.value.reason == "ENROLLMENT_RESPONSE_MISMATCH", message
        assert message in str(info.value)
    # Our response with version 1 of the bundle, which does not list us yet.
    old = json.loads((federation.bundles_dir / "1.json").read_bytes())
    with pytest.raises(EnrollmentError, match="does not list zj-330000"):
        complete_node(
            prepared.directory,
            json.dumps({**ours, "trust_bundle": old}).encode(),
            roots_sha256=roots,
        )
    _assert_untouched(prepared)
    # The genuine response still completes.
    complete_node(prepared.directory, json.dumps(ours).encode(), roots_sha256=roots)


def test_complete_refuses_when_the_pending_keys_changed(
    federation: Federation, prepared: PreparedNode
) -> None:
    response = _enroll_and_write(federation, prepared)
    key_file = prepared.directory / PENDING_DIR / "keys/sealing.pem"
    key_file.unlink()
    save_private_key(SealingPrivateKey.generate(), key_file)
    with pytest.raises(EnrollmentError) as info:
        complete_node(prepared.directory, response, roots_sha256=federation.roots_sha256)
    assert info.value.reason == "ENROLLMENT_NOT_PREPARED"
    assert not (prepared.directory / NODE_DIR).exists()


def test_complete_refuses_a_directory_init_did_not_make(
    tmp_path: Path, federation: Federation
) -> None:
    with pytest.raises(EnrollmentError) as info:
        complete_node(tmp_path, b"{}", roots_sha256=federation.roots_sha256)
    assert info.value.reason == "ENROLLMENT_NOT_PREPARED"


def test_response_round_trips(federation: Federation, prepared: PreparedNode) -> None:
    data = _enroll_and_write(federation, prepared)
    response = EnrollmentResponse.from_json(data)
    assert response.to_json() == data
    assert isinstance(response.trust_bundle, Envelope)
    assert b"PRIVATE KEY" not in data
