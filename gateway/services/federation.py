"""FederationService: the trust bundle for members, and witnessing of other gateways' logs.

* ``GetTrustBundle`` returns the signed bundle this node runs on (version 0), or an older
  version it kept (``history``); callers verify it under the version they already trust.
* ``WatchTrustBundle`` sends every version after the caller's, in order, then each new one as
  the node adopts it: :meth:`FederationServicer.notify_trust_changed` wakes the watchers, and
  they re-check ``trust()`` every ``poll_interval`` anyway.
* ``CosignCheckpoint`` (C2SP tlog-witness "add-checkpoint"): this node, if the bundle lets it
  WITNESS and it holds a checkpoint key, cosigns another gateway's checkpoint once it has
  checked, in order:

  1. the log is a federation member's (the node whose ``log_origin`` the request names; the
     name only selects the keys, it proves nothing);
  2. the note verifies with that node's CHECKPOINT keys valid now, and only then is parsed,
     and its origin is that node's (``INVALID_CHECKPOINT``);
  3. ``old_size`` is the size this witness last cosigned for the log, 0 for none
     (``CHECKPOINT_OLD_SIZE_MISMATCH``, the witness's size in ``ErrorInfo.metadata``);
  4. the consistency proof takes the tree of ``old_size`` to the new checkpoint
     (``INVALID_PROOF``): a log that forked or rewrote history is never cosigned.

  The last cosigned size and root per log are kept in memory: after a restart the witness
  starts again from 0 (trust on first use), which a persistent witness would not.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from creditlink.gateway.auth import PeerIdentity, peer_identity
from creditlink.gateway.services._common import check_request_id, require_field
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import (
    FailedPrecondition,
    InvalidArgument,
    InvalidCheckpoint,
    NotFound,
)
from creditlink.sdk.tlog import (
    EMPTY_ROOT,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    cosign_note,
    verify_checkpoint,
    verify_consistency,
)
from creditlink.sdk.trust import Action, NodeInfo, TrustBundle
from creditlink.v1 import federation_service_pb2, federation_service_pb2_grpc

__all__ = ["CheckpointOldSizeMismatch", "FederationServicer"]

_Context = grpc.aio.ServicerContext[Any, Any]
_SIGNATURE_PREFIX = "— "


class CheckpointOldSizeMismatch(FailedPrecondition):
    """The requester's ``old_size`` is not the size this witness last cosigned for the log."""

    default_reason = "CHECKPOINT_OLD_SIZE_MISMATCH"

    def __init__(self, message: str, *, old_size: int) -> None:
        """``old_size``: the witness's size, sent back so the requester can retry with it."""
        super().__init__(message)
        self.old_size = old_size

    @property
    def metadata(self) -> dict[str, str]:
        """``{"old_size": <the witness's size>}`` (tlog-witness sends it on a conflict)."""
        return {"old_size": str(self.old_size)}


@dataclass(frozen=True, slots=True)
class _Witnessed:
    size: int
    root_hash: bytes


def _signature_line(note: str, signer: NoteSigner) -> str | None:
    """``signer``'s signature line in ``note`` (name and key id must match), if present."""
    prefix = f"{_SIGNATURE_PREFIX}{signer.name} "
    for line in note.rstrip("\n").split("\n"):
        if not line.startswith(prefix):
            continue
        with contextlib.suppress(binascii.Error, ValueError):
            if base64.b64decode(line[len(prefix) :], validate=True)[:4] == signer.key_id:
                return line
    return None


class FederationServicer(federation_service_pb2_grpc.FederationServiceServicer):
    """The ``creditlink.v1.FederationService`` of one node."""

    def __init__(
        self,
        *,
        trust: Callable[[], TrustBundle],
        node_id: str | None = None,
        witness_key: NoteSigner | None = None,
        history: Mapping[int, Envelope] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll_interval: float = 1.0,
        identify: PeerIdentity = peer_identity,
    ) -> None:
        """Serve ``trust()``; witness as ``node_id`` with ``witness_key`` when both are given.

        ``identify`` names the caller of each RPC (mutual TLS by default).

        ``history`` maps older versions to their signed envelopes as the node kept them; they
        are served as they are, since callers verify each under its predecessor. Versions the
        node adopts while running are added to it.
        """
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self._trust = trust
        self._node_id = node_id
        self._witness_key = witness_key
        self._history: dict[int, Envelope] = dict(history or {})
        self._clock = clock
        self._poll = poll_interval
        self._identify = identify
        # Watchers wait on the current event; a change sets it and puts a fresh one in place.
        self._changed = asyncio.Event()
        self._witnessed: dict[str, _Witnessed] = {}

    def notify_trust_changed(self) -> None:
        """The node adopted a new trust bundle: wake the watchers now (not at the next poll)."""
        self._current()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _current(self) -> TrustBundle:
        bundle = self._trust()
        self._history.setdefault(bundle.version, bundle.to_envelope())
        return bundle

    def _peer(self, context: _Context) -> tuple[TrustBundle, NodeInfo]:
        trust = self._current()
        return trust, self._identify(context, trust)

    # --- trust bundle ------------------------------------------------------------------------

    async def GetTrustBundle(  # noqa: N802 - the contract's method name
        self, request: federation_service_pb2.GetTrustBundleRequest, context: _Context
    ) -> federation_service_pb2.GetTrustBundleResponse:
        """The current signed bundle (version 0), or a kept older version."""
        trust, _ = self._peer(context)
        version = request.version or trust.version
        envelope = self._history.get(version)
        if envelope is None:
            raise NotFound(
                f"trust bundle version {version} is not kept (current: {trust.version})",
                reason="TRUST_BUNDLE_VERSION_NOT_FOUND",
            )
        return federation_service_pb2.GetTrustBundleResponse(bundle=envelope.to_proto())

    async def WatchTrustBundle(  # noqa: N802 - the contract's method name
        self, request: federation_service_pb2.WatchTrustBundleRequest, context: _Context
    ) -> AsyncIterator[federation_service_pb2.WatchTrustBundleResponse]:
        """Every version after ``known_version`` in order, then each new one; never ends."""
        self._peer(context)
        sent = request.known_version
        while True:
            changed = self._changed  # taken before looking: a later change sets this one
            current = self._current().version
            if current > sent:
                # A caller with nothing (0) bootstraps from pinned roots: the current version
                # is all it can use. Otherwise each version must follow the one before it.
                versions = [current] if sent == 0 else list(range(sent + 1, current + 1))
                missing = [v for v in versions if v not in self._history]
                if missing:
                    raise FailedPrecondition(
                        f"versions {missing} are not kept here; fetch them elsewhere or "
                        "bootstrap again from the pinned roots",
                        reason="TRUST_BUNDLE_HISTORY_INCOMPLETE",
                    )
                for version in versions:
                    yield federation_service_pb2.WatchTrustBundleResponse(
                        bundle=self._history[version].to_proto(), version=version
                    )
                sent = current
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=self._poll)

    # --- witnessing --------------------------------------------------------------------------

    def _log_node(self, trust: TrustBundle, origin: str) -> NodeInfo:
        for node in trust.nodes():
            if node.log_origin and node.log_origin == origin:
                return node
        raise InvalidCheckpoint(
            "no member of the federation keeps a log with this origin", reason="UNKNOWN_LOG"
        )

    def _verified(
        self, note: str, node: NodeInfo, trust: TrustBundle
    ) -> tuple[Checkpoint, list[NoteVerifier]]:
        verifiers = []
        for record in trust.checkpoint_keys(node.node_id, at=self._clock()):
            # The bundle fixes CHECKPOINT keys to Ed25519 with a note name; anything else is
            # skipped rather than trusted.
            key = serialization.load_der_public_key(record.public_key.public_bytes)
            if isinstance(key, Ed25519PublicKey) and record.note_name:
                verifiers.append(NoteVerifier(name=record.note_name, public_key=key))
        failure = InvalidCheckpoint(
            f"{node.node_id!r} has no checkpoint key valid now", reason="INVALID_CHECKPOINT"
        )
        for verifier in verifiers:
            try:
                return verify_checkpoint(note, verifier=verifier, origin=node.log_origin), verifiers
            except InvalidCheckpoint as exc:
                failure = exc
        raise failure

    async def CosignCheckpoint(  # noqa: N802 - the contract's method name
        self, request: federation_service_pb2.CosignCheckpointRequest, context: _Context
    ) -> federation_service_pb2.CosignCheckpointResponse:
        """Cosign another gateway's checkpoint after the checks of the module docstring."""
        trust, _ = self._peer(context)
        witness = self._witness_key
        if (
            witness is None
            or self._node_id is None
            or not trust.permits(self._node_id, Action.WITNESS, "checkpoint", "*")
        ):
            raise FailedPrecondition(
                "this node does not witness checkpoints", reason="WITNESSING_NOT_ENABLED"
            )
        check_request_id(request.request_id)
        require_field(request.HasField("checkpoint"), "checkpoint")
        note = request.checkpoint.note
        # 1-2. Keys chosen by the (unauthenticated) origin; the note must verify with them.
        node = self._log_node(trust, request.checkpoint.origin)
        if node.node_id == self._node_id:
            raise FailedPrecondition(
                "a node does not witness its own log", reason="WITNESSING_OWN_LOG"
            )
        checkpoint, verifiers = self._verified(note, node, trust)
        # 3. The requester must know what this witness last cosigned.
        last = self._witnessed.get(checkpoint.origin, _Witnessed(0, EMPTY_ROOT))
        if request.old_size != last.size:
            raise CheckpointOldSizeMismatch(
                f"this witness last cosigned size {last.size} of {checkpoint.origin}, "
                f"not {request.old_size}",
                old_size=last.size,
            )
        if checkpoint.size < last.size:
            raise InvalidArgument(
                f"checkpoint size {checkpoint.size} is below the cosigned {last.size}",
                reason="CHECKPOINT_SIZE_DECREASED",
            )
        proof = request.proof
        if (proof.from_size or proof.to_size) and (
            proof.from_size != last.size or proof.to_size != checkpoint.size
        ):
            raise InvalidArgument(
                f"the proof is from {proof.from_size} to {proof.to_size}, the sizes are "
                f"{last.size} and {checkpoint.size}",
                reason="PROOF_SIZE_MISMATCH",
            )
        # 4. The new tree extends the cosigned one (raises InvalidProof).
        verify_consistency(
            size1=last.size,
            size2=checkpoint.size,
            root1=last.root_hash,
            root2=checkpoint.root_hash,
            proof=list(proof.hashes),
        )
        cosigned = cosign_note(note, witness, verifiers=verifiers)
        # No await since the check of old_size: the update cannot interleave with another.
        self._witnessed[checkpoint.origin] = _Witnessed(checkpoint.size, checkpoint.root_hash)
        line = _signature_line(cosigned, witness)
        assert line is not None  # cosign_note added it, or it was there already
        return federation_service_pb2.CosignCheckpointResponse(cosignatures=[line])
