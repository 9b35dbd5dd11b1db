"""Reads the name-list and measure services share: mirrored statements, provenance, checkpoints.

A regional gateway answers from two sources: its own domain objects (the projection of its own
log) and the statements its feed mirrored from the upstream (``gateway/feed``; verified before
they were stored). This module turns both into what the contract returns:

* :func:`feed_statement` / :func:`feed_logged`: a mirrored entry as a ``Statement`` and as the
  :class:`~creditlink.gateway.domain.projection.Logged` the origin logged it as (leaf, signer,
  integration time), so the domain's pure functions fold it exactly as the origin's handlers did;
* :class:`ProvenanceBuilder`: ``Provenance`` for a leaf of this node's log (optionally with an
  inclusion proof and the latest signed checkpoint) or for a mirrored entry (the envelope exactly
  as the upstream served it, optionally with the inclusion proof and the upstream's signed
  checkpoint the feed verified and stored with it: this node does not hold the upstream's tree);
* :func:`latest_checkpoint`: the signed checkpoint of the log head, without signing anything;
* :func:`check_request`: the request's contract constraints (``CONSTRAINT_VIOLATION``);
* :func:`readable`: whether a peer may read one object, judged on its statement's scopes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from google.protobuf import timestamp_pb2

from creditlink.gateway.auth import Permissions
from creditlink.gateway.domain.projection import Logged
from creditlink.gateway.ledger import Ledger
from creditlink.gateway.services._common import check_request
from creditlink.gateway.services._log_entries import EntryBuilder
from creditlink.gateway.store.base import FeedEntry, LogHead, Store
from creditlink.sdk.tlog import HASH_SIZE, Frontier, root_from_inclusion_proof
from creditlink.sdk.trust import TrustBundle
from creditlink.v1 import envelope_pb2, log_pb2, statement_pb2

__all__ = [
    "ProvenanceBuilder",
    "check_request",
    "feed_logged",
    "feed_statement",
    "latest_checkpoint",
    "readable",
]


def feed_statement(entry: FeedEntry) -> statement_pb2.Statement:
    """The statement of a mirrored entry (verified by the feed before it was stored)."""
    if entry.batched:
        payload = envelope_pb2.BatchedEnvelope.FromString(entry.envelope).item.payload
    else:
        payload = envelope_pb2.Envelope.FromString(entry.envelope).payload
    return statement_pb2.Statement.FromString(payload)


def feed_logged(entry: FeedEntry, trust: TrustBundle) -> Logged:
    """A mirrored entry as its origin logged it (for the domain's fold functions)."""
    statement = feed_statement(entry)
    try:
        origin = trust.node(entry.origin_node_id).log_origin or entry.origin_node_id
    except KeyError:
        origin = entry.origin_node_id  # no longer a member: its node id still names the log
    return Logged(
        statement=statement,
        kind=entry.kind,
        message_id=entry.message_id,
        sender_node_id=entry.sender_node_id,
        log_origin=origin,
        leaf_index=entry.leaf_index,
        at=entry.integrated_at,
    )


def _frontier(head: LogHead) -> Frontier:
    data = head.frontier
    return Frontier(
        size=head.size,
        hashes=tuple(data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)),
    )


def latest_checkpoint(head: LogHead, origin: str) -> log_pb2.SignedCheckpoint | None:
    """The signed checkpoint of ``head`` (``None`` before the ledger signed the first one)."""
    if not head.checkpoint:
        return None
    return log_pb2.SignedCheckpoint(
        note=head.checkpoint, origin=origin, size=head.size, root_hash=_frontier(head).root()
    )


def readable(
    reads: Permissions,
    kind: str,
    sender_node_id: str,
    statement: Callable[[], statement_pb2.Statement],
) -> bool:
    """Whether the peer may read an object whose statement ``statement()`` builds.

    A READ grant within ``*`` (or being the sender) decides without building or serializing
    anything (the common case, and the hot path of CheckSubject); a scoped grant is judged on
    the statement's own scopes (``gateway/scopes``).
    """
    if kind in reads.fully_readable_kinds or sender_node_id == reads.node.node_id:
        return True
    return reads.may_read(
        kind, sender_node_id=sender_node_id, payload=statement().SerializeToString()
    )


def _timestamp(entry: FeedEntry) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(entry.integrated_at)
    return stamp


class ProvenanceBuilder:
    """``Provenance`` messages for one call (batch trees are built once per batch)."""

    def __init__(self, *, store: Store, ledger: Ledger, node_id: str, origin: str) -> None:
        self._store = store
        self._ledger = ledger
        self._node_id = node_id
        self._origin = origin
        # The exchange's LogEntry builder: one way of serving a logged statement, batch items
        # with their audit path in the batch included.
        self._entries = EntryBuilder(store)
        self._checkpoint: log_pb2.SignedCheckpoint | None = None

    async def _latest(self) -> log_pb2.SignedCheckpoint | None:
        if self._checkpoint is None:
            self._checkpoint = latest_checkpoint(await self._store.head(), self._origin)
        return self._checkpoint

    async def of_leaves(
        self, leaves: Sequence[int], *, message_ids: Sequence[str], include_proof: bool
    ) -> list[statement_pb2.Provenance]:
        """Provenance of leaves of this node's log (``message_ids`` in the same order)."""
        out = []
        for leaf, message_id in zip(leaves, message_ids, strict=True):
            row = await self._store.get_entry(leaf)
            if row is None:
                raise RuntimeError(f"a domain event names leaf {leaf}, which is not in the log")
            provenance = statement_pb2.Provenance(
                message_id=message_id,
                gateway_node_id=self._node_id,
                entry=await self._entries.entry(row),
            )
            if include_proof:
                checkpoint = await self._latest()
                if checkpoint is not None and leaf < checkpoint.size:
                    hashes = await self._ledger.inclusion_proof(leaf, checkpoint.size)
                    provenance.inclusion_proof.CopyFrom(
                        log_pb2.InclusionProof(
                            leaf_index=leaf, tree_size=checkpoint.size, hashes=hashes
                        )
                    )
                    provenance.checkpoint.CopyFrom(checkpoint)
            out.append(provenance)
        return out

    @staticmethod
    def of_feed(entry: FeedEntry, *, include_proof: bool) -> statement_pb2.Provenance:
        """Provenance of a mirrored entry: the origin's leaf, envelope exactly as served.

        With ``include_proof``, the inclusion proof and the origin's signed checkpoint the feed
        verified before storing the entry; none for an entry mirrored before the feed kept its
        proof (the client then refuses the answer for want of one). ``gateway_node_id`` is the
        origin, so the client verifies the checkpoint under the origin's keys.
        """
        log_entry = log_pb2.LogEntry(
            leaf_index=entry.leaf_index,
            sender_node_id=entry.sender_node_id,
            integrated_at=_timestamp(entry),
        )
        if entry.batched:
            log_entry.batched.ParseFromString(entry.envelope)
        else:
            log_entry.envelope.ParseFromString(entry.envelope)
        provenance = statement_pb2.Provenance(
            message_id=entry.message_id, gateway_node_id=entry.origin_node_id, entry=log_entry
        )
        hashes, size, note = entry.proof_hashes, entry.proof_tree_size, entry.proof_checkpoint
        if include_proof and hashes is not None and size is not None and note is not None:
            provenance.inclusion_proof.CopyFrom(
                log_pb2.InclusionProof(leaf_index=entry.leaf_index, tree_size=size, hashes=hashes)
            )
            # Only the note counts: the feed verified it before storing the entry, and clients
            # verify it again under the origin's keys, ignoring the unsigned copies beside it.
            # Those are derived from what is stored: the origin is the note's first line, the
            # root the one the audit path leads to from the entry's leaf.
            provenance.checkpoint.CopyFrom(
                log_pb2.SignedCheckpoint(
                    note=note,
                    origin=note.split("\n", 1)[0],
                    size=size,
                    root_hash=root_from_inclusion_proof(
                        leaf_hash=entry.leaf_hash,
                        index=entry.leaf_index,
                        tree_size=size,
                        proof=hashes,
                    ),
                )
            )
        return provenance
