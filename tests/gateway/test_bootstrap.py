"""Tests for the zero-config development node and the development federation.

Everything is real: keys, certificates, signed trust bundles, files and modes, and mutual-TLS
handshakes between a ``grpc.aio`` server (health service plus a "who am I" method that maps the
client certificate to a trust-bundle member, as the gateway does) and clients on loopback.
"""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from creditlink.gateway.bootstrap import (
    BUNDLE_VALIDITY,
    DEFAULT_FEDERATION_NODES,
    STATEMENT_KINDS,
    BootstrapError,
    DevFederation,
    DevNode,
    Grant,
    NodeSpec,
    create_dev_federation,
    default_grants,
    ensure_dev_node,
    log_origin_for,
)
from creditlink.sdk.credentials import Credentials, Role, tls_spki_sha256
from creditlink.sdk.trust import Action, NodeKind, TrustBundle

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every path under ``directory``: contents (files), mtime and mode."""
    result: dict[str, tuple[bytes, int, int]] = {}
    for path in sorted(directory.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if path.is_file() else b""
        result[str(path.relative_to(directory))] = (data, st.st_mtime_ns, st.st_mode)
    return result


# --------------------------------------------------------------------------------------------
# A tiny mTLS server: health plus "who am I" (the trust-bundle member of the client cert)
# --------------------------------------------------------------------------------------------


def _whoami_handler(bundle: TrustBundle) -> grpc.GenericRpcHandler:
    async def whoami(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        (pem,) = context.auth_context()["x509_pem_cert"]
        node = bundle.node_for_tls_spki(tls_spki_sha256(pem))
        return b"" if node is None else node.node_id.encode()

    return grpc.method_handlers_generic_handler(
        "test.Identity", {"WhoAmI": grpc.unary_unary_rpc_method_handler(whoami)}
    )


@asynccontextmanager
async def _serve(creds: Credentials) -> AsyncIterator[int]:
    server = grpc.aio.server()
    health_servicer = health.aio.HealthServicer()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_generic_rpc_handlers((_whoami_handler(creds.trust_bundle),))
    port = server.add_secure_port("127.0.0.1:0", creds.server_credentials())
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


async def _check(channel: grpc.aio.Channel) -> tuple[int, str]:
    """(health status, who the server says we are)."""
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    whoami = channel.unary_unary("/test.Identity/WhoAmI")
    me = await whoami(b"", timeout=10)
    return reply.status, me.decode()


# --------------------------------------------------------------------------------------------
# Development node
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevNode:
    return ensure_dev_node(tmp_path_factory.mktemp("serve") / ".creditlink")


def test_dev_node_layout(dev: DevNode) -> None:
    d = dev.data_dir
    assert dev.created
    assert dev.node_id == "dev-node"
    assert dev.listen == "127.0.0.1:7443"
    assert dev.node_dir == d / "node"
    assert dev.operator_dir == d / "operator"
    assert dev.federation_dir == d / "federation"
    assert dev.store_url == f"sqlite://{d / 'store.sqlite3'}"  # sqlite:///abs/path
    assert not dev.store_path.exists()  # reserved; the gateway creates the store
    secrets = [
        "federation/root.pem",
        "federation/ca-key.pem",
        "node/tls/key.pem",
        "node/keys/signing.pem",
        "node/keys/sealing.pem",
        "node/keys/checkpoint.pem",
        "operator/tls/key.pem",
        "operator/keys/signing.pem",
        "operator/keys/sealing.pem",
    ]
    for name in secrets:
        assert stat.S_IMODE((d / name).stat().st_mode) == 0o600, name
    for name in ("federation", "node", "operator"):
        assert stat.S_IMODE((d / name).stat().st_mode) == 0o700, name
    assert not (d / "operator/keys/checkpoint.pem").exists()
    assert (d / "federation/bundles/1.json").read_bytes() == (
        d / "node/trust/bundle.json"
    ).read_bytes()
    assert not list(d.glob(".bootstrap-*"))


def test_dev_node_bundle(dev: DevNode) -> None:
    bundle = dev.node.trust_bundle
    assert bundle.federation_id == "dev"
    assert bundle.version == 1
    assert bundle.root_threshold == 1
    assert len(bundle.root_keys) == 1
    assert bundle.expires_at - bundle.issued_at == BUNDLE_VALIDITY
    assert bundle.node_ids == ("dev-node", "dev-node-operator")
    assert bundle.digest == dev.operator.trust_bundle.digest
    node = bundle.node("dev-node")
    assert node.kind is NodeKind.REGIONAL
    assert node.region_code == "330000"
    assert node.endpoints == ("127.0.0.1:7443",)
    assert node.log_origin == "creditlink.dev/dev-node" == log_origin_for("dev-node")
    assert node.tls_spki_sha256 == (dev.node.tls_spki_sha256,)
    operator = bundle.node("dev-node-operator")
    assert operator.kind is NodeKind.CLIENT
    assert operator.endpoints == ()
    assert operator.log_origin == ""


def test_dev_node_keys(dev: DevNode) -> None:
    creds, now = dev.node, datetime.now(UTC)
    assert creds.role is Role.NODE
    assert creds.checkpoint_key is not None
    assert creds.checkpoint_key.name == "creditlink.dev/dev-node"
    assert creds.signing_key.public_key in creds.trust_bundle.signing_keys(
        "dev-node", kind="record", at=now
    )
    assert creds.trust_bundle.sealing_key("dev-node", at=now).key_id == creds.sealing_key.key_id
    assert dev.operator.role is Role.CLIENT
    assert dev.operator.checkpoint_key is None
    assert dev.operator.endpoints == ("127.0.0.1:7443",)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("kind", ["record", "name-list-entry", "measure-list", "checkpoint"])
def test_dev_node_may_do_everything(dev: DevNode, action: Action, kind: str) -> None:
    bundle = dev.node.trust_bundle
    for scope in ("*", "region:440300", "sector:tax"):
        assert bundle.permits("dev-node", action, kind, scope)
    # The operator acts for the node in every way except witnessing (it keeps no log).
    assert bundle.permits("dev-node-operator", action, kind, "*") is (action is not Action.WITNESS)


def test_dev_node_second_call_changes_nothing(tmp_path: Path) -> None:
    first = ensure_dev_node(tmp_path / "d", now=NOW)
    before = _snapshot(tmp_path)
    second = ensure_dev_node(tmp_path / "d", now=NOW + DAY)
    assert not second.created
    assert not second.renewed
    assert _snapshot(tmp_path) == before
    assert second.node.trust_bundle.digest == first.node.trust_bundle.digest
    assert second.node.signing_key.key_id == first.node.signing_key.key_id
    # Explicit arguments equal to what is there are fine.
    third = ensure_dev_node(
        tmp_path / "d", listen="127.0.0.1:7443", node_id="dev-node", region_code="330000", now=NOW
    )
    assert not third.created
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"listen": "127.0.0.1:8443"}, "listen address"),
        ({"node_id": "other-node"}, "node id"),
        ({"region_code": "440000"}, "region code"),
    ],
)
def test_dev_node_mismatch(tmp_path: Path, kwargs: dict[str, str], what: str) -> None:
    ensure_dev_node(tmp_path / "d", now=NOW)
    before = _snapshot(tmp_path)
    with pytest.raises(BootstrapError) as info:
        ensure_dev_node(tmp_path / "d", now=NOW, **kwargs)  # type: ignore[arg-type]
    assert info.value.reason == "DEV_BOOTSTRAP_MISMATCH"
    assert what in str(info.value)
    assert _snapshot(tmp_path) == before


def test_dev_node_custom(tmp_path: Path) -> None:
    dev = ensure_dev_node(
        tmp_path / "d", listen="0.0.0.0:9443", node_id="sz-440300", region_code="440300", now=NOW
    )
    assert dev.node_id == "sz-440300"
    assert dev.listen == "0.0.0.0:9443"  # where it listens
    node = dev.node.trust_bundle.node("sz-440300")
    assert node.endpoints == ("127.0.0.1:9443",)  # where clients reach it
    assert node.region_code == "440300"
    assert dev.operator.node_id == "sz-440300-operator"
    assert dev.operator.endpoints == ("127.0.0.1:9443",)


@pytest.mark.parametrize(
    "kwargs",
    [{"node_id": "Dev"}, {"node_id": "x" * 60}, {"region_code": "990000"}, {"listen": "nope"}],
)
def test_dev_node_bad_arguments_write_nothing(tmp_path: Path, kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - InvalidIdentifier or ValueError, both fine
        ensure_dev_node(tmp_path / "d", now=NOW, **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "d").exists()


def test_dev_node_incomplete_is_reported_not_repaired(tmp_path: Path) -> None:
    ensure_dev_node(tmp_path / "d", now=NOW)
    (tmp_path / "d/federation/federation.json").unlink()
    before = _snapshot(tmp_path)
    with pytest.raises(BootstrapError) as info:
        ensure_dev_node(tmp_path / "d", now=NOW)
    assert info.value.reason == "DEV_BOOTSTRAP_INCOMPLETE"
    assert "federation, node, operator" in str(info.value)
    assert _snapshot(tmp_path) == before


def test_dev_node_in_a_directory_with_other_files(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d/creditlink.toml").write_text("node_id = 'dev-node'\n")
    (tmp_path / "d/.bootstrap-0123456789abcdef").mkdir()  # leftover of a crashed run
    dev = ensure_dev_node(tmp_path / "d", now=NOW)
    assert dev.created
    assert (tmp_path / "d/creditlink.toml").exists()
    assert not list((tmp_path / "d").glob(".bootstrap-*"))


def test_dev_node_broken_credentials_are_reported(tmp_path: Path) -> None:
    ensure_dev_node(tmp_path / "d", now=NOW)
    (tmp_path / "d/node/keys/signing.pem").chmod(0o644)
    with pytest.raises(BootstrapError) as info:
        ensure_dev_node(tmp_path / "d", now=NOW)
    assert info.value.reason == "KEY_FILE_PERMISSIONS"
    assert "node/keys/signing.pem" in str(info.value)


def test_dev_node_bundle_is_renewed_before_it_expires(tmp_path: Path) -> None:
    ensure_dev_node(tmp_path / "d", now=NOW)
    later = NOW + 340 * DAY  # 25 days before expiry
    renewed = ensure_dev_node(tmp_path / "d", now=later)
    assert renewed.renewed
    assert not renewed.created
    for creds in (renewed.node, renewed.operator):
        assert creds.trust_bundle.version == 2
        assert creds.trust_bundle.expires_at == later + BUNDLE_VALIDITY
    assert (tmp_path / "d/federation/bundles/2.json").exists()
    before = _snapshot(tmp_path)
    again = ensure_dev_node(tmp_path / "d", now=later)
    assert not again.renewed
    assert _snapshot(tmp_path) == before


def test_dev_node_expired_bundle_is_renewed(tmp_path: Path) -> None:
    ensure_dev_node(tmp_path / "d", now=NOW)
    much_later = NOW + 400 * DAY
    dev = ensure_dev_node(tmp_path / "d", now=much_later)
    assert dev.renewed
    assert dev.node.trust_bundle.version == 2


def test_interrupted_renewal_is_completed_with_the_same_version(tmp_path: Path) -> None:
    ensure_dev_node(tmp_path / "d", now=NOW)
    later = NOW + 340 * DAY
    ensure_dev_node(tmp_path / "d", now=later)
    # As if the run had stopped after installing v2 in node/ but before operator/.
    v1 = (tmp_path / "d/federation/bundles/1.json").read_bytes()
    (tmp_path / "d/operator/trust/bundle.json").write_bytes(v1)
    dev = ensure_dev_node(tmp_path / "d", now=later)
    assert not dev.renewed
    assert dev.operator.trust_bundle.digest == dev.node.trust_bundle.digest
    assert dev.operator.trust_bundle.version == 2


# --------------------------------------------------------------------------------------------
# The TLS material works
# --------------------------------------------------------------------------------------------


async def test_operator_reaches_the_node_over_mutual_tls(dev: DevNode) -> None:
    async with _serve(dev.node) as port:
        for target in (f"127.0.0.1:{port}", f"localhost:{port}"):
            channel_creds = dev.operator.channel_credentials()
            async with grpc.aio.secure_channel(target, channel_creds) as channel:
                status, me = await _check(channel)
            assert status == health_pb2.HealthCheckResponse.SERVING
            # The client certificate maps to the operator through its pin in the bundle.
            assert me == "dev-node-operator"


async def test_client_without_certificate_is_refused(dev: DevNode) -> None:
    async with _serve(dev.node) as port:
        no_cert = grpc.ssl_channel_credentials(root_certificates=dev.operator.ca_pem)
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", no_cert) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _check(channel)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_certificate_from_another_ca_is_refused(dev: DevNode, tmp_path: Path) -> None:
    stranger = ensure_dev_node(tmp_path / "other", now=datetime.now(UTC))
    async with _serve(dev.node) as port:
        # The stranger's certificate under the right trust roots for the server...
        creds = grpc.ssl_channel_credentials(
            root_certificates=dev.operator.ca_pem,
            private_key=stranger.operator.key_pem,
            certificate_chain=stranger.operator.cert_pem,
        )
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _check(channel)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        # ...and its own credentials, which do not trust the server's CA either.
        async with grpc.aio.secure_channel(
            f"127.0.0.1:{port}", stranger.operator.channel_credentials()
        ) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _check(channel)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_plaintext_is_refused(dev: DevNode) -> None:
    async with (
        _serve(dev.node) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _check(channel)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE


# --------------------------------------------------------------------------------------------
# Development federation
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    return create_dev_federation(tmp_path_factory.mktemp("dev-up"))


def test_federation_layout(fed: DevFederation) -> None:
    d = fed.directory
    assert fed.created
    assert fed.federation_id == "dev-federation"
    assert [n.node_id for n in fed.nodes] == ["cn-hub", "zj-330000", "gd-440000"]
    names = {p.name for p in d.iterdir() if not p.name.startswith(".")}
    assert names == {
        "federation",
        "cn-hub",
        "cn-hub-operator",
        "zj-330000",
        "zj-330000-operator",
        "gd-440000",
        "gd-440000-operator",
    }
    for name in ("root-1.pem", "root-2.pem", "ca-key.pem"):
        assert stat.S_IMODE((d / "federation" / name).stat().st_mode) == 0o600
    stored = json.loads((d / "federation/federation.json").read_text())
    assert stored["root_threshold"] == 2
    assert [m["node_id"] for m in stored["members"] if m["role"] == "node"] == [
        "cn-hub",
        "zj-330000",
        "gd-440000",
    ]


def test_federation_every_directory_loads_with_one_bundle(fed: DevFederation) -> None:
    digests = set()
    for node in fed.nodes:
        for directory, role in (
            (node.credentials_dir, Role.NODE),
            (node.operator_dir, Role.CLIENT),
        ):
            creds = Credentials.load(directory)
            assert creds.role is role
            assert creds.manifest.trust_roots_threshold == 2
            assert len(creds.trusted_roots) == 2
            digests.add(creds.trust_bundle.digest)
    assert len(digests) == 1
    bundle = fed.trust_bundle
    assert len(bundle.node_ids) == 6
    assert bundle.root_threshold == 2
    assert len(bundle.root_keys) == 2


def test_federation_bundle_needs_both_roots(fed: DevFederation) -> None:
    env = fed.trust_bundle.to_envelope()
    roots = fed.nodes[0].credentials.trusted_roots
    TrustBundle.from_envelope(env, trusted_roots=roots, threshold=2, now=datetime.now(UTC))
    assert len(env.signatures) == 2


def test_federation_nodes(fed: DevFederation) -> None:
    bundle = fed.trust_bundle
    expected = {
        "cn-hub": (NodeKind.HUB, "100000", "127.0.0.1:7450", None),
        "zj-330000": (NodeKind.REGIONAL, "330000", "127.0.0.1:7451", "cn-hub"),
        "gd-440000": (NodeKind.REGIONAL, "440000", "127.0.0.1:7452", "cn-hub"),
    }
    for node in fed.nodes:
        kind, region, endpoint, upstream = expected[node.node_id]
        info = bundle.node(node.node_id)
        assert (info.kind, info.region_code, info.endpoints) == (kind, region, (endpoint,))
        assert node.endpoint == endpoint
        assert node.upstream == upstream
        assert info.log_origin == log_origin_for(node.node_id)
        assert node.credentials.checkpoint_key is not None
        assert node.credentials.checkpoint_key.name == info.log_origin
        operator = bundle.node(f"{node.node_id}-operator")
        assert operator.kind is NodeKind.CLIENT
        assert operator.region_code == region
        assert node.operator.endpoints == (endpoint,)
        assert node.operator_dir == fed.directory / f"{node.node_id}-operator"


@pytest.mark.parametrize(
    ("node_id", "action", "kind", "scope", "allowed"),
    [
        # The hub: everything, determines national lists, witnesses.
        ("cn-hub", Action.PUBLISH, "measure-list", "*", True),
        ("cn-hub", Action.PUBLISH, "record", "region:440300", True),
        ("cn-hub", Action.DETERMINE, "name-list-entry", "region:330000", True),
        ("cn-hub", Action.DETERMINE, "measure-list", "*", True),
        ("cn-hub", Action.WITNESS, "checkpoint", "*", True),
        ("cn-hub", Action.ISSUE_REPORTS, "report", "region:330000", False),
        # Zhejiang: its own region only, reads everything.
        ("zj-330000", Action.PUBLISH, "record", "region:330106", True),
        ("zj-330000", Action.PUBLISH, "record", "region:440000", False),
        ("zj-330000", Action.PUBLISH, "record", "*", False),
        ("zj-330000", Action.PUBLISH, "measure-list", "region:330000", False),
        ("zj-330000", Action.PUBLISH, "name-list-entry", "region:330100", True),
        ("zj-330000", Action.DETERMINE, "name-list-entry", "region:330000", True),
        ("zj-330000", Action.DETERMINE, "name-list-entry", "region:440000", False),
        ("zj-330000", Action.ISSUE_REPORTS, "report", "region:330000", True),
        ("zj-330000", Action.READ, "record", "region:440000", True),
        ("zj-330000", Action.WITNESS, "checkpoint", "*", True),
        # Guangdong likewise.
        ("gd-440000", Action.PUBLISH, "record", "region:440300", True),
        ("gd-440000", Action.PUBLISH, "record", "region:330000", False),
        ("gd-440000", Action.ISSUE_REPORTS, "report", "region:330000", False),
        # Operators: their node's permissions, but no witnessing.
        ("zj-330000-operator", Action.PUBLISH, "record", "region:330000", True),
        ("zj-330000-operator", Action.PUBLISH, "record", "region:440000", False),
        ("zj-330000-operator", Action.READ, "name-list-entry", "*", True),
        ("zj-330000-operator", Action.WITNESS, "checkpoint", "*", False),
        ("cn-hub-operator", Action.PUBLISH, "measure-list", "*", True),
        ("cn-hub-operator", Action.WITNESS, "checkpoint", "*", False),
    ],
)
def test_federation_permissions(
    fed: DevFederation, node_id: str, action: Action, kind: str, scope: str, allowed: bool
) -> None:
    assert fed.trust_bundle.permits(node_id, action, kind, scope) is allowed


def test_federation_rerun_changes_nothing(tmp_path: Path) -> None:
    first = create_dev_federation(tmp_path / "f", now=NOW)
    before = _snapshot(tmp_path)
    second = create_dev_federation(tmp_path / "f", now=NOW + DAY)
    assert not second.created
    assert _snapshot(tmp_path) == before
    assert second.trust_bundle.digest == first.trust_bundle.digest
    assert create_dev_federation(tmp_path / "f", base_port=7450, now=NOW).nodes[1].endpoint == (
        "127.0.0.1:7451"
    )
    assert _snapshot(tmp_path) == before


def test_federation_rerun_with_other_settings(tmp_path: Path) -> None:
    create_dev_federation(tmp_path / "f", now=NOW)
    before = _snapshot(tmp_path)
    with pytest.raises(BootstrapError, match="holds a development federation of"):
        create_dev_federation(tmp_path / "f", nodes=DEFAULT_FEDERATION_NODES[:2], now=NOW)
    with pytest.raises(BootstrapError, match=r"listens on 127\.0\.0\.1:7450"):
        create_dev_federation(tmp_path / "f", base_port=9000, now=NOW)
    assert _snapshot(tmp_path) == before


def test_federation_custom_nodes_and_ports(tmp_path: Path) -> None:
    specs = [
        NodeSpec(node_id="cn-hub", region_code="100000", kind=NodeKind.HUB),
        NodeSpec(
            node_id="tax-100000",
            region_code="100000",
            kind=NodeKind.SECTORAL,
            sector="tax",
            upstream="cn-hub",
        ),
        NodeSpec(
            node_id="bank-1",
            region_code="310000",
            kind=NodeKind.CREDIT_SERVICE,
            grants=(Grant(action=Action.READ, kinds=("report",), scopes=("*",)),),
            endpoint="localhost:9999",
        ),
    ]
    fed = create_dev_federation(tmp_path / "f", nodes=specs, base_port=18000, now=NOW)
    bundle = fed.trust_bundle
    assert [n.endpoint for n in fed.nodes] == [
        "127.0.0.1:18000",
        "127.0.0.1:18001",
        "localhost:9999",
    ]
    assert bundle.permits("tax-100000", Action.PUBLISH, "record", "sector:tax")
    assert not bundle.permits("tax-100000", Action.PUBLISH, "record", "region:330000")
    assert bundle.permits("bank-1", Action.READ, "report", "*")
    assert not bundle.permits("bank-1", Action.READ, "record", "*")
    assert bundle.permits("bank-1-operator", Action.READ, "report", "*")


def test_federation_renewal_with_two_roots(tmp_path: Path) -> None:
    create_dev_federation(tmp_path / "f", now=NOW)
    later = NOW + 360 * DAY
    fed = create_dev_federation(tmp_path / "f", now=later)
    assert fed.renewed
    for node in fed.nodes:
        assert node.credentials.trust_bundle.version == 2
        assert node.operator.trust_bundle.version == 2
    assert len(fed.trust_bundle.to_envelope().signatures) == 2


async def test_federation_nodes_reach_each_other(fed: DevFederation) -> None:
    hub, zj, gd = fed.nodes
    async with _serve(hub.credentials) as port:
        # A regional node forwarding to the hub uses its own node certificate as client.
        for client, expected in (
            (zj.credentials, "zj-330000"),
            (gd.operator, "gd-440000-operator"),
        ):
            async with grpc.aio.secure_channel(
                f"127.0.0.1:{port}", client.channel_credentials()
            ) as channel:
                status, me = await _check(channel)
            assert status == health_pb2.HealthCheckResponse.SERVING
            assert me == expected


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------


def test_statement_kinds_come_from_the_contract() -> None:
    assert "record" in STATEMENT_KINDS
    assert "name-list-entry" in STATEMENT_KINDS
    assert "measure-list" in STATEMENT_KINDS
    assert all("_" not in kind for kind in STATEMENT_KINDS)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"node_id": "Hub", "region_code": "100000", "kind": NodeKind.HUB},
        {"node_id": "hub", "region_code": "10000", "kind": NodeKind.HUB},
        {"node_id": "hub", "region_code": "100000", "kind": NodeKind.CLIENT},
        {"node_id": "h" * 60, "region_code": "100000", "kind": NodeKind.HUB},
    ],
)
def test_invalid_node_specs(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - InvalidIdentifier or ValueError
        NodeSpec(**kwargs)  # type: ignore[arg-type]


def test_duplicate_node_ids(tmp_path: Path) -> None:
    spec = NodeSpec(node_id="cn-hub", region_code="100000", kind=NodeKind.HUB)
    with pytest.raises(ValueError, match="distinct"):
        create_dev_federation(tmp_path / "f", nodes=[spec, spec], now=NOW)
    assert not (tmp_path / "f").exists()


def test_default_grants_need_a_sector_or_explicit_grants() -> None:
    with pytest.raises(ValueError, match="sector"):
        default_grants(NodeKind.SECTORAL, region_code="100000")
    with pytest.raises(ValueError, match="give grants"):
        default_grants(NodeKind.CREDIT_SERVICE, region_code="100000")


def test_dev_node_missing_operator_is_reported(tmp_path: Path) -> None:
    ensure_dev_node(tmp_path / "d", now=NOW)
    shutil.rmtree(tmp_path / "d/operator")
    with pytest.raises(BootstrapError) as info:
        ensure_dev_node(tmp_path / "d", now=NOW)
    assert info.value.reason == "CREDENTIALS_FILE_MISSING"
    assert "operator" in str(info.value)
