"""FederationService end to end: trust bundle distribution and checkpoint witnessing.

The hub serves over mutual TLS (no store needed); clients are zj-330000 and its operator. The
bundles that come back are verified the way a member verifies them (pinned roots, then each
version under its predecessor); cosignatures with ``verify_checkpoint`` and the hub's key as a
witness. The log being witnessed is zj-330000's, built with the SDK's tree code and signed with
zj's real checkpoint key.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime

import grpc
import pytest

from creditlink.gateway.bootstrap import DevFederation
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.tlog import (
    Checkpoint,
    Frontier,
    MemoryNodeStore,
    NoteSigner,
    consistency_proof,
    leaf_hash,
    sign_note,
    verify_checkpoint,
)
from creditlink.sdk.trust import Action, TrustBundle, TrustBundleBuilder
from creditlink.v1 import federation_service_pb2, log_pb2
from creditlink.v1.federation_service_pb2_grpc import FederationServiceStub
from tests.gateway.services.conftest import (
    HUB,
    ZJ,
    Gateway,
    channel_credentials,
    error_info,
    hub_log_verifier,
    issue_client_cert,
    next_bundle,
    serve,
)

pb = federation_service_pb2


@pytest.fixture
async def gateway(federation: DevFederation) -> AsyncIterator[Gateway]:
    async for running in serve(federation, None):
        yield running


@pytest.fixture
async def zj(gateway: Gateway) -> AsyncIterator[FederationServiceStub]:
    async with gateway.channel(gateway.federation.node(ZJ).credentials) as channel:
        yield FederationServiceStub(channel)


def now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# Trust bundle
# --------------------------------------------------------------------------------------------


async def test_the_current_bundle_verifies_against_the_pinned_roots(
    gateway: Gateway, zj: FederationServiceStub
) -> None:
    operator = gateway.federation.node(ZJ).operator
    response = await zj.GetTrustBundle(pb.GetTrustBundleRequest())
    bundle = TrustBundle.from_envelope(
        Envelope.from_proto(response.bundle),
        trusted_roots=operator.trusted_roots,
        threshold=operator.manifest.trust_roots_threshold,
        now=now(),
    )
    assert bundle.digest == gateway.trust().digest
    same = await zj.GetTrustBundle(pb.GetTrustBundleRequest(version=1))
    assert same.bundle == response.bundle
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await zj.GetTrustBundle(pb.GetTrustBundleRequest(version=7))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    assert error_info(info.value).reason == "TRUST_BUNDLE_VERSION_NOT_FOUND"


async def test_watch_sends_each_new_version_verifiable_under_the_previous(
    gateway: Gateway, zj: FederationServiceStub
) -> None:
    first = gateway.trust()
    stream = zj.WatchTrustBundle(pb.WatchTrustBundleRequest(known_version=0))
    initial = await stream.read()
    assert initial.version == first.version == 1

    # Adopted and announced: the watcher hears at once.
    second = next_bundle(gateway.federation, first)
    gateway.trust.bundle = second
    gateway.witness.notify_trust_changed()
    update = await asyncio.wait_for(stream.read(), timeout=5)
    assert update.version == 2
    verified = first.verify_update(Envelope.from_proto(update.bundle), now=now())
    assert verified.digest == second.digest

    # Adopted silently: the periodic re-check finds it.
    third = next_bundle(gateway.federation, second)
    gateway.trust.bundle = third
    update = await asyncio.wait_for(stream.read(), timeout=5)
    assert update.version == 3
    second.verify_update(Envelope.from_proto(update.bundle), now=now())
    stream.cancel()

    # A member still on version 1 gets 2 and 3, in order; older versions stay fetchable.
    catch_up = zj.WatchTrustBundle(pb.WatchTrustBundleRequest(known_version=1))
    versions = [(await catch_up.read()).version, (await catch_up.read()).version]
    catch_up.cancel()
    assert versions == [2, 3]
    old = await zj.GetTrustBundle(pb.GetTrustBundleRequest(version=2))
    assert Envelope.from_proto(old.bundle) == second.to_envelope()


# --------------------------------------------------------------------------------------------
# Witnessing zj-330000's log
# --------------------------------------------------------------------------------------------


class Log:
    """zj-330000's log: leaves in memory, checkpoints signed with zj's real checkpoint key."""

    def __init__(self, signer: NoteSigner, *, history: str = "main") -> None:
        self.signer = signer
        self.history = history
        self.frontier = Frontier()
        self.nodes = MemoryNodeStore()

    def grow(self, count: int) -> log_pb2.SignedCheckpoint:
        start = self.frontier.size
        leaves = [leaf_hash(f"{self.history} entry {start + i}".encode()) for i in range(count)]
        self.frontier, runs = self.frontier.extend(leaves)
        self.nodes.add_runs(runs)
        body = Checkpoint(
            origin=self.signer.name, size=self.frontier.size, root_hash=self.frontier.root()
        ).to_body()
        return log_pb2.SignedCheckpoint(
            note=sign_note(body, [self.signer]),
            origin=self.signer.name,
            size=self.frontier.size,
            root_hash=self.frontier.root(),
        )

    def proof(self, old: int, new: int) -> log_pb2.ConsistencyProof:
        return log_pb2.ConsistencyProof(
            from_size=old, to_size=new, hashes=consistency_proof(old, new, self.nodes)
        )


@pytest.fixture
def zj_log(federation: DevFederation) -> Log:
    signer = federation.node(ZJ).credentials.checkpoint_key
    assert signer is not None
    return Log(signer)


def cosign_request(
    checkpoint: log_pb2.SignedCheckpoint, old_size: int, proof: log_pb2.ConsistencyProof | None
) -> federation_service_pb2.CosignCheckpointRequest:
    request = pb.CosignCheckpointRequest(
        request_id=str(uuid.uuid4()), old_size=old_size, checkpoint=checkpoint
    )
    if proof is not None:
        request.proof.CopyFrom(proof)
    return request


async def refused(call: Awaitable[object]) -> tuple[str, str, dict[str, str]]:
    """(status code name, ErrorInfo reason, ErrorInfo metadata) of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    details = error_info(info.value)
    return info.value.code().name, details.reason, dict(details.metadata)


async def test_the_hub_cosigns_a_consistent_log_and_refuses_a_fork(
    gateway: Gateway, zj: FederationServiceStub, zj_log: Log
) -> None:
    bundle = gateway.trust()
    zj_verifier = zj_log.signer.verifier
    hub_witness = hub_log_verifier(bundle)  # the hub's checkpoint key witnesses others' logs

    first = zj_log.grow(5)
    response = await zj.CosignCheckpoint(cosign_request(first, 0, None))
    (line,) = response.cosignatures
    assert line.startswith(f"— {hub_witness.name} ")
    cosigned = verify_checkpoint(
        first.note + line + "\n",
        verifier=zj_verifier,
        origin=zj_log.signer.name,
        witnesses=[hub_witness],
        witness_threshold=1,
    )
    assert cosigned.size == 5
    # Asking again for the same checkpoint is idempotent.
    again = await zj.CosignCheckpoint(cosign_request(first, 5, None))
    assert again.cosignatures == response.cosignatures

    second = zj_log.grow(7)
    response = await zj.CosignCheckpoint(cosign_request(second, 5, zj_log.proof(5, 12)))
    verify_checkpoint(
        second.note + response.cosignatures[0] + "\n",
        verifier=zj_verifier,
        origin=zj_log.signer.name,
        witnesses=[hub_witness],
        witness_threshold=1,
    )

    # The requester's idea of the last cosigned size is wrong: the witness says which it is.
    third = zj_log.grow(3)
    assert await refused(zj.CosignCheckpoint(cosign_request(third, 5, zj_log.proof(5, 15)))) == (
        "FAILED_PRECONDITION",
        "CHECKPOINT_OLD_SIZE_MISMATCH",
        {"old_size": "12"},
    )

    # A fork: another history of 15 leaves, signed with the same key, is not consistent.
    fork = Log(zj_log.signer, history="rewritten")
    fork.grow(4)
    forked = fork.grow(11)
    assert await refused(zj.CosignCheckpoint(cosign_request(forked, 12, zj_log.proof(12, 15)))) == (
        "INVALID_ARGUMENT",
        "INVALID_PROOF",
        {},
    )


async def test_a_checkpoint_not_signed_by_the_log_key_is_refused(
    gateway: Gateway, zj: FederationServiceStub
) -> None:
    # Right origin, wrong key: the note never verifies, so it is never parsed or cosigned.
    forger = Log(NoteSigner.from_seed(gateway.trust().node(ZJ).log_origin, b"f" * 32))
    code, reason, _ = await refused(zj.CosignCheckpoint(cosign_request(forger.grow(3), 0, None)))
    assert (code, reason) == ("INVALID_ARGUMENT", "INVALID_CHECKPOINT")
    unknown = Log(NoteSigner.from_seed("creditlink.dev/nobody", b"f" * 32))
    code, reason, _ = await refused(zj.CosignCheckpoint(cosign_request(unknown.grow(3), 0, None)))
    assert (code, reason) == ("INVALID_ARGUMENT", "UNKNOWN_LOG")


async def test_a_node_that_does_not_witness_says_so(
    gateway: Gateway, zj: FederationServiceStub, zj_log: Log
) -> None:
    # The next bundle version withdraws the hub's WITNESS grant. The builder has no call for
    # that, so the test edits the hub's permissions in the builder directly.
    def without_witness(builder: TrustBundleBuilder) -> None:
        permissions = builder._nodes[HUB].permissions
        keep = [p for p in permissions if p.action != Action.WITNESS.value]
        del permissions[:]
        permissions.extend(keep)

    gateway.trust.bundle = next_bundle(gateway.federation, gateway.trust(), without_witness)
    code, reason, _ = await refused(zj.CosignCheckpoint(cosign_request(zj_log.grow(2), 0, None)))
    assert (code, reason) == ("FAILED_PRECONDITION", "WITNESSING_NOT_ENABLED")


async def test_trust_bundle_calls_need_a_pinned_certificate(gateway: Gateway) -> None:
    cert, key = issue_client_cert(gateway.federation, ZJ)
    async with gateway.channel(channel_credentials(gateway.federation, cert, key)) as channel:
        code, reason, _ = await refused(
            FederationServiceStub(channel).GetTrustBundle(pb.GetTrustBundleRequest())
        )
    assert (code, reason) == ("UNAUTHENTICATED", "UNKNOWN_PEER")
