"""The one path from a sealed submission to an acknowledged log entry, and what services share.

Every write RPC of every service — ``ExchangeService.Submit``, ``RecordService.SubmitRecords``,
``NameListService.CreateNameListEntry``... — carries a sealed, signed statement (or batch) and
goes the same way (DESIGN.md step 5): the intake opens, verifies and checks it
(:mod:`creditlink.gateway.workers`), the ledger logs it with its domain effect in one
transaction (group-committed with concurrent calls) and answers with a signed receipt::

    ack = await ctx.pipeline.submit(request.sealed, peer=peer, request_id=request.request_id,
                                    kinds={"record"})

A domain service adds only what its contract says: which statement kinds it takes, and how it
reads the state back (``ctx.store``). Each service module has a ``register(server, ctx)`` that
adds its servicer and returns its full name (health checking and reflection list it);
:data:`creditlink.gateway.services.registry.DOMAIN_SERVICES` lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from creditlink.gateway.auth import PeerIdentity
from creditlink.gateway.domain.calendar import WorkingDayCalendar
from creditlink.gateway.intake import RejectedBatch
from creditlink.gateway.ledger import Acknowledgement, Ledger, Submission
from creditlink.gateway.store.base import Store
from creditlink.gateway.workers import IntakeRunner
from creditlink.sdk.errors import FieldViolation, InvalidArgument
from creditlink.sdk.keys import PrivateKey, SealingPrivateKey
from creditlink.sdk.seal import SIGNED_BATCH_CONTENT_TYPE
from creditlink.sdk.trust import NodeInfo, TrustBundle
from creditlink.v1 import envelope_pb2, statement_pb2

__all__ = ["ServiceContext", "SubmitPipeline", "batch_violations"]

_Context = grpc.aio.ServicerContext[Any, Any]
# Per-item details a rejection carries at most (the status must stay small).
_MAX_ITEMS = 100
_MAX_TEXT = 1024


def batch_violations(exc: RejectedBatch) -> tuple[FieldViolation, ...]:
    """One ``BadRequest`` field violation per refused item (``items[i]``), bounded."""
    return tuple(
        FieldViolation(f"items[{f.index}]", f"{f.error.reason}: {f.error.message}"[:_MAX_TEXT])
        for f in exc.failures[:_MAX_ITEMS]
    )


class SubmitPipeline:
    """Intake, then ledger: one sealed submission in, one acknowledgement out."""

    def __init__(
        self,
        *,
        intake: IntakeRunner,
        ledger: Ledger,
        on_append: Callable[[int], None] | None = None,
        on_forward: Callable[[Collection[str]], None] | None = None,
    ) -> None:
        """``on_append(size)`` hears of each growth of the log; with ``on_forward``, accepted
        messages addressed to other nodes are queued with their append and
        ``on_forward(destinations)`` wakes the forwarder (without it nothing is forwarded)."""
        self.intake = intake
        self.ledger = ledger
        self._on_append = on_append
        self._on_forward = on_forward

    async def prepare(
        self, sealed: envelope_pb2.SealedEnvelope, *, peer: NodeInfo, request_id: str
    ) -> Submission:
        """Run the intake on a sealed single statement or batch (raises with its reason)."""
        # grpc has already decoded the request, so the exact wire bytes of ``sealed`` are gone
        # and the intake gets a re-serialization. That is sound here and nowhere else: every
        # byte the seal authenticates travels in a ``bytes`` field, kept verbatim by a
        # decode/encode round trip: ``header`` (the AEAD's additional data, hashed into each
        # HPKE info), each wrapped key's ``enc`` and the ``ciphertext``; the recipients' ids in
        # ``wrapped_keys`` are compared with the authenticated header. Unknown fields survive
        # the round trip, so the intake's strict parse still refuses them. What is signed and
        # what is fingerprinted for idempotency is the decrypted, authenticated plaintext.
        data = sealed.SerializeToString()
        # The header is read unauthenticated ONLY to pick the path; the path opens the seal,
        # authenticates the header and refuses a content type it does not take.
        try:
            content_type = envelope_pb2.SealHeader.FromString(sealed.header).content_type
        except DecodeError:
            content_type = ""
        forward_id = request_id if self._on_forward is not None else None
        if content_type == SIGNED_BATCH_CONTENT_TYPE:
            return await self.intake.batch(data, peer=peer.node_id, request_id=forward_id)
        return await self.intake.single(data, peer=peer.node_id, request_id=forward_id)

    async def submit(
        self,
        sealed: envelope_pb2.SealedEnvelope,
        *,
        peer: NodeInfo,
        request_id: str,
        kinds: Collection[str] | None = None,
    ) -> Acknowledgement:
        """Check, log (group-committed) and acknowledge; raise the refusal otherwise.

        ``kinds`` restricts the statement kinds this call takes (``WRONG_KIND`` otherwise):
        a domain service accepts only its own statements.
        """
        ack, _ = await self.submit_checked(sealed, peer=peer, request_id=request_id, kinds=kinds)
        return ack

    async def submit_checked(
        self,
        sealed: envelope_pb2.SealedEnvelope,
        *,
        peer: NodeInfo,
        request_id: str,
        kinds: Collection[str] | None = None,
        check: Callable[[Sequence[statement_pb2.Statement]], None] | None = None,
    ) -> tuple[Acknowledgement, list[statement_pb2.Statement]]:
        """:meth:`submit`, with the call's own ``check`` of the statements before the append.

        ``check`` sees the statements the intake accepted (in submission order) and raises to
        refuse the call — what a service's contract constrains beyond the statement itself
        (exactly one statement of its kind, a request id that matches the header...). Returns
        the acknowledgement and the statements.
        """
        try:
            submission = await self.prepare(sealed, peer=peer, request_id=request_id)
        except RejectedBatch as exc:
            # Unary: one status for the whole batch, a BadRequest naming each item at fault.
            raise InvalidArgument(
                exc.message, reason=exc.reason, field_violations=batch_violations(exc)
            ) from exc
        if kinds is not None:
            wrong = sorted({e.kind for e in submission.entries} - set(kinds))
            if wrong:
                raise InvalidArgument(
                    f"this call takes {sorted(kinds)} statements, not {wrong}",
                    reason="WRONG_KIND",
                )
        statements: list[statement_pb2.Statement] = []
        if check is not None:
            # The intake verified and strictly parsed each payload; parsed again here (about
            # 2 us each) because the intake may have run in another process.
            statements = [statement_pb2.Statement.FromString(e.payload) for e in submission.entries]
            check(statements)
        ack = await self.ledger.append_one(submission)
        if ack.error is not None:
            raise ack.error
        self.accepted([submission], [ack])
        return ack, statements

    def accepted(
        self, submissions: Collection[Submission], acks: Collection[Acknowledgement]
    ) -> None:
        """Tell listeners what an append accepted: the log grew, forwards were queued."""
        size = max((a.first_leaf_index + a.leaf_count for a in acks if a.error is None), default=0)
        if size and self._on_append is not None:
            self._on_append(size)
        if self._on_forward is None:
            return
        destinations = {
            f.destination
            for submission, ack in zip(submissions, acks, strict=True)
            if ack.error is None and not ack.duplicate
            for f in submission.forward
        }
        if destinations:
            self._on_forward(destinations)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceContext:
    """What a domain service is built from (``register(server, ctx)``)."""

    node_id: str
    log_origin: str
    pipeline: SubmitPipeline
    store: Store
    trust: Callable[[], TrustBundle]
    #: Who is calling (mutual TLS pins, or the development header).
    identify: PeerIdentity
    clock: Callable[[], datetime]
    #: Working days for deadlines (with the operator's holiday table when configured).
    calendar: WorkingDayCalendar = field(default_factory=WorkingDayCalendar)
    #: The node's own keys and mutual TLS, for services that act as the node itself (credit
    #: reports: the node signs the report, opens the order asking for it, and asks a report's
    #: issuer for its status). ``None``/empty where a service runs without them: such calls
    #: are refused.
    signing_key: PrivateKey | None = None
    sealing_keys: Sequence[SealingPrivateKey] = ()
    channel_credentials: grpc.ChannelCredentials | None = None

    def peer(self, context: _Context) -> tuple[TrustBundle, NodeInfo]:
        """The trust bundle of this call and the caller it names (or ``Unauthenticated``)."""
        trust = self.trust()
        return trust, self.identify(context, trust)
