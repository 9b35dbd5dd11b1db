"""What the clients return: verified results only (STYLE 1), never raw protobuf responses.

Every object here is built by :mod:`creditlink.sdk.client._core` after the checks its docstring
lists have passed; none of them can be in a "partially verified" state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from creditlink.sdk._internal.pae import pae
from creditlink.sdk.batch import BatchedEnvelope
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.tlog import Checkpoint, leaf_hash
from creditlink.v1 import statement_pb2

__all__ = ["ConsistencyProof", "Entry", "InclusionProof", "Receipt", "SubmitProgress"]


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """A gateway's verified acknowledgement that a statement (or a batch) is durably logged.

    Checked before it is returned: the signature is by the gateway's receipt key valid now,
    the receipt names this gateway, its log and the message or batch that was sent (id, leaf
    count, SHA-256 of the signed payload or the batch's Merkle root, payload type), and its
    checkpoint verifies under the gateway's checkpoint key and covers the leaves it names.

    ``statement_ids`` are the message ids of the statements the receipt covers, in leaf order
    (statement ``statement_ids[k]`` is leaf ``first_leaf_index + k``); empty for a receipt
    looked up by id (:meth:`~creditlink.sdk.client.Client.get_receipt`), whose contents the
    client did not send in this session. ``envelope`` is the signed receipt exactly as received,
    to archive and re-verify later.
    """

    message_id: str
    gateway_node_id: str
    log_origin: str
    first_leaf_index: int
    leaf_count: int
    payload_digest: bytes
    payload_type: str
    accepted_at: datetime
    checkpoint: Checkpoint
    statement_ids: tuple[str, ...]
    envelope: Envelope = field(repr=False)

    def leaf_index(self, statement_id: str) -> int:
        """The leaf index of the statement with message id ``statement_id`` (``KeyError`` if the
        receipt does not cover it)."""
        try:
            return self.first_leaf_index + self.statement_ids.index(statement_id)
        except ValueError:
            raise KeyError(statement_id) from None


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One verified log entry: a signed statement as the gateway accepted it.

    Checked before it is returned: the signature (or, for a batch item, the batch head's
    signature and the item's audit path) verifies under keys the trust bundle lists for the
    sender and the kind at ``integrated_at``; only then is the payload parsed, strictly, and its
    body must be the kind its payload type names and its header must name the sender.

    Whether the entry is in the log is a separate, explicit check:
    :meth:`~creditlink.sdk.client.Client.get_inclusion_proof`.
    """

    leaf_index: int
    sender_node_id: str
    kind: str
    payload_type: str
    #: The signed payload bytes exactly as verified (a serialized ``Statement``).
    payload: bytes = field(repr=False)
    #: ``payload`` parsed (after verification).
    statement: statement_pb2.Statement = field(repr=False)
    integrated_at: datetime
    #: For an item of a signed batch, the batch id from its verified head; else ``None``.
    batch_id: str | None
    #: The signed form as received: an envelope, or a batch item with its head and audit path.
    signed: Envelope | BatchedEnvelope = field(repr=False)

    @property
    def message_id(self) -> str:
        """The statement's message id (``statement.header.message_id``)."""
        return self.statement.header.message_id

    @property
    def cursor(self) -> int:
        """Where a subscription resumes after this entry (``leaf_index + 1``)."""
        return self.leaf_index + 1

    @property
    def leaf_hash(self) -> bytes:
        """The RFC 9162 leaf hash of the entry: ``SHA-256(0x00 || PAE(payload_type, payload))``."""
        return leaf_hash(pae(self.payload_type, self.payload))


@dataclass(frozen=True, kw_only=True)
class InclusionProof:
    """A verified proof that ``entry`` is leaf ``entry.leaf_index`` of the log at ``checkpoint``.

    Checked: the checkpoint verifies under the gateway's checkpoint key and names its log, the
    entry verifies (see :class:`Entry`), and the audit path ``hashes`` leads from the entry's
    leaf hash to the checkpoint's root.
    """

    entry: Entry
    checkpoint: Checkpoint
    hashes: tuple[bytes, ...] = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class ConsistencyProof:
    """A verified proof that the log at ``new`` extends the log at ``old``: nothing that was in
    ``old`` was changed or removed (RFC 9162 §2.1.4)."""

    old: Checkpoint
    new: Checkpoint
    hashes: tuple[bytes, ...] = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class SubmitProgress:
    """Where a :meth:`~creditlink.sdk.client.Client.submit_records` call stands.

    Passed to the ``progress`` callback after every acknowledged batch. Counts are records
    (statements) unless named otherwise; ``records_sent`` includes batches awaiting their
    receipt, ``records_acknowledged`` only those whose verified receipt arrived.
    """

    records_sent: int
    records_acknowledged: int
    batches_sent: int
    batches_acknowledged: int
