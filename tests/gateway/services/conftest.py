"""A real gateway for service tests: grpc.aio over mutual TLS, the error interceptor, real stores.

The hub ``cn-hub`` of a development federation serves on ``127.0.0.1:<free port>`` with its own
server credentials; clients connect with the channel credentials of ``zj-330000`` or an
operator, through the generated stubs. Nothing is mocked: the intake opens real seals, the
ledger signs real receipts into SQLite or PostgreSQL (``store_url``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from creditlink.gateway.auth import insecure_dev_peer_identity, peer_identity
from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.gateway.errors import ErrorInterceptor
from creditlink.gateway.intake import Intake
from creditlink.gateway.ledger import Ledger
from creditlink.gateway.pki import DevCA, generate_tls_key, private_key_pem
from creditlink.gateway.services.exchange import ExchangeServicer, FlowLimits
from creditlink.gateway.services.federation import FederationServicer
from creditlink.gateway.store import open_store
from creditlink.gateway.store.base import Store
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.keys import PrivateKey, load_private_key
from creditlink.sdk.tlog import NoteVerifier
from creditlink.sdk.trust import TrustBundle, TrustBundleBuilder
from creditlink.v1 import exchange_service_pb2_grpc, federation_service_pb2_grpc

HUB = "cn-hub"
ZJ = "zj-330000"
#: The gateway's request limit in these tests (the oversize case sends more).
MAX_REQUEST_BYTES = 1024 * 1024


class TrustHolder:
    """The bundle the gateway runs on; tests install other versions (``trust`` callable)."""

    def __init__(self, bundle: TrustBundle) -> None:
        self.bundle = bundle

    def __call__(self) -> TrustBundle:
        return self.bundle


@dataclass
class Gateway:
    """A running hub: where it listens and the parts behind it."""

    address: str
    federation: DevFederation
    trust: TrustHolder
    store: Store | None
    ledger: Ledger | None
    exchange: ExchangeServicer | None
    witness: FederationServicer
    #: (method, reason) of every refused call, as a metrics observer would count them.
    rejections: list[tuple[str, str]] = field(default_factory=list)
    #: Log sizes reported through on_append.
    sizes: list[int] = field(default_factory=list)

    @property
    def hub(self) -> Credentials:
        return self.federation.node(HUB).credentials

    def channel(self, creds: Credentials | grpc.ChannelCredentials) -> grpc.aio.Channel:
        if isinstance(creds, Credentials):
            creds = creds.channel_credentials()
        return grpc.aio.secure_channel(self.address, creds)

    def exchange_stub(self, creds: Credentials) -> exchange_service_pb2_grpc.ExchangeServiceStub:
        return exchange_service_pb2_grpc.ExchangeServiceStub(self.channel(creds))

    def federation_stub(
        self, creds: Credentials
    ) -> federation_service_pb2_grpc.FederationServiceStub:
        return federation_service_pb2_grpc.FederationServiceStub(self.channel(creds))


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    return create_dev_federation(Path(tmp_path_factory.mktemp("services-fed")))


def root_keys(federation: DevFederation) -> list[PrivateKey]:
    keys = [
        load_private_key(federation.directory / "federation" / name)
        for name in ("root-1.pem", "root-2.pem")
    ]
    assert all(isinstance(k, PrivateKey) for k in keys)
    return keys  # type: ignore[return-value]


def next_bundle(
    federation: DevFederation,
    current: TrustBundle,
    change: Callable[[TrustBundleBuilder], object] = lambda _: None,
    *,
    issued_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> TrustBundle:
    """The next version of ``current`` after ``change``, signed by the federation's roots."""
    now = datetime.now(UTC).replace(microsecond=0)
    issued = issued_at or now
    expires = expires_at or now + timedelta(days=30)
    builder = TrustBundleBuilder.from_bundle(current, issued_at=issued, expires_at=expires)
    change(builder)
    envelope = builder.sign(root_keys(federation))
    # Verified at an instant inside its window, so even an already expired one is built.
    return current.verify_update(envelope, now=min(now, expires - timedelta(seconds=1)))


def issue_client_cert(federation: DevFederation, node_id: str) -> tuple[bytes, bytes]:
    """A client certificate from the federation's CA that no bundle pins: (cert, key) PEM."""
    fed = federation.directory / "federation"
    ca = DevCA.load(fed / "ca.pem", fed / "ca-key.pem")
    key = generate_tls_key()
    return ca.issue_client_cert(key, node_id=node_id), private_key_pem(key)


def channel_credentials(
    federation: DevFederation, cert_pem: bytes, key_pem: bytes
) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=federation.node(HUB).credentials.ca_pem,
        private_key=key_pem,
        certificate_chain=cert_pem,
    )


def hub_log_verifier(bundle: TrustBundle) -> NoteVerifier:
    (record,) = bundle.checkpoint_keys(HUB, at=datetime.now(UTC))
    key = serialization.load_der_public_key(record.public_key.public_bytes)
    assert isinstance(key, Ed25519PublicKey)
    return NoteVerifier(name=record.note_name, public_key=key)


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The one ErrorInfo of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status: {error.code()} {error.details()}"
    infos = []
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            infos.append(info)
    assert len(infos) == 1
    assert infos[0].domain == "creditlink.v1"
    return infos[0]


def bad_request(error: grpc.aio.AioRpcError) -> error_details_pb2.BadRequest | None:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return bad
    return None


async def serve(
    federation: DevFederation,
    store_url: str | None,
    *,
    page_size: int = 500,
    insecure_dev: bool = False,
) -> AsyncIterator[Gateway]:
    """Run the hub's services until the caller is done with them.

    ``insecure_dev``: plaintext, callers named by header (the development shortcut).
    """
    identify = insecure_dev_peer_identity if insecure_dev else peer_identity
    hub = federation.node(HUB).credentials
    assert hub.checkpoint_key is not None
    trust = TrustHolder(hub.trust_bundle)
    store = ledger = exchange = None
    gateway = Gateway(
        address="",
        federation=federation,
        trust=trust,
        store=None,
        ledger=None,
        exchange=None,
        witness=FederationServicer(
            trust=trust,
            node_id=HUB,
            witness_key=hub.checkpoint_key,
            history={1: hub.trust_bundle.to_envelope()},
            poll_interval=0.2,
            identify=identify,
        ),
    )
    server = grpc.aio.server(
        interceptors=[
            ErrorInterceptor(
                observe=lambda m, r: gateway.rejections.append((m, r)),
                max_request_bytes=MAX_REQUEST_BYTES,
            )
        ],
        # grpc's own limit above the interceptor's, so the interceptor refuses first.
        options=[("grpc.max_receive_message_length", 4 * MAX_REQUEST_BYTES)],
    )
    if store_url is not None:
        store = open_store(store_url)
        await store.open()
        ledger = Ledger(
            store=store,
            node_id=HUB,
            origin=hub.node.log_origin,
            signing_key=hub.signing_key,
            checkpoint_signer=hub.checkpoint_key,
        )
        intake = Intake(node_id=HUB, trust=trust, sealing_keys=[hub.sealing_key])
        exchange = ExchangeServicer(
            intake=intake,
            ledger=ledger,
            store=store,
            trust=trust,
            on_append=gateway.sizes.append,
            flow=FlowLimits(max_batch_bytes=MAX_REQUEST_BYTES),
            page_size=page_size,
            poll_interval=0.2,
            identify=identify,
        )
        exchange.add_to_server(server)
    federation_service_pb2_grpc.add_FederationServiceServicer_to_server(gateway.witness, server)
    if insecure_dev:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", hub.server_credentials())
    await server.start()
    gateway.address = f"127.0.0.1:{port}"
    gateway.store, gateway.ledger, gateway.exchange = store, ledger, exchange
    try:
        yield gateway
    finally:
        await server.stop(None)
        if store is not None:
            await store.close()
