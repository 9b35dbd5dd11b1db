"""What the clients return: verified results only (STYLE 1), never raw protobuf responses.

Every object here is built by :mod:`creditlink.sdk.client._core` after the checks its docstring
lists have passed; none of them can be in a "partially verified" state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, TypeVar

from creditlink.sdk._internal.pae import pae
from creditlink.sdk.batch import BatchedEnvelope
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.reports import RecognitionResult, ReportBundle
from creditlink.sdk.tlog import Checkpoint, leaf_hash
from creditlink.v1 import (
    measure_pb2,
    measure_service_pb2,
    name_list_pb2,
    record_pb2,
    report_pb2,
    statement_pb2,
)

__all__ = [
    "ConsistencyProof",
    "Entry",
    "Fetched",
    "InclusionProof",
    "IssuedReport",
    "MeasureListDiff",
    "Provenance",
    "Receipt",
    "Recognition",
    "RecordView",
    "SubjectCheck",
    "SubmitProgress",
    "Written",
]

T = TypeVar("T")


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
    #: The checkpoint's signed note exactly as received (C2SP), to archive or to put in a
    #: report bundle.
    note: str = field(default="", repr=False)


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


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """One statement behind a domain object, verified: the log entry that holds it and, when
    proofs were asked for, its inclusion in a checkpoint of that log.

    Checked before it is returned: the entry as :class:`Entry` says (signature under the
    sender's keys at integration time, strict parse, kind and sender) and it is the message the
    gateway named; with a proof, the checkpoint verifies under the checkpoint key of
    ``gateway_node_id`` (the log that holds the entry: this gateway's, or the hub's for an entry
    mirrored from it) and the audit path leads from the entry's leaf to its root.
    """

    gateway_node_id: str
    entry: Entry
    inclusion: InclusionProof | None


@dataclass(frozen=True, kw_only=True)
class Written(Generic[T]):
    """A domain write the gateway accepted: its verified :class:`Receipt` and the object as it
    stands after the write (the gateway's view: derived fields such as a status are the
    gateway's; the signed statement is what the receipt acknowledges). ``value`` is ``None``
    only when the gateway did not send the object back."""

    receipt: Receipt
    value: T | None


@dataclass(frozen=True, kw_only=True)
class Fetched(Generic[T]):
    """A domain object read from a gateway with the verified statements it stands on.

    ``provenance[0]`` is the statement that made the object what it is (for a record, the one
    carrying the returned revision; for a report or a measure list, the signed object itself)
    and the client has checked that it is: same id, and for records, reports and measure lists
    the same content except the status, which the gateway derives. The other items are the
    later statements that changed it (transitions, resolutions, status changes).
    """

    value: T
    provenance: tuple[Provenance, ...]


@dataclass(frozen=True, kw_only=True)
class RecordView(Fetched[record_pb2.CreditRecord]):
    """A record as :meth:`~creditlink.sdk.client.Client.get_record` returns it: a
    :class:`Fetched` record plus whether it is under objection, and by which objections."""

    disputed: bool
    open_objection_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SubjectCheck:
    """The answer to "is this subject listed, and which measures apply for this purpose?".

    ``checkpoint`` is the gateway's verified checkpoint the answer was read at, so the answer
    can be tied to a log state. The entries and measures are the gateway's view (CheckSubject
    answers at every approval window and carries no per-entry proofs; a
    :class:`~creditlink.sdk.mirror.NameListMirror` answers from verified entries locally).
    """

    listed: bool
    entries: tuple[name_list_pb2.NameListEntry, ...]
    measures: tuple[measure_pb2.ApplicableMeasure, ...]
    checked_at: datetime
    checkpoint: Checkpoint


@dataclass(frozen=True, kw_only=True)
class MeasureListDiff:
    """What changed between two versions of a measure list, by measure id."""

    added: tuple[measure_pb2.Measure, ...]
    removed: tuple[measure_pb2.Measure, ...]
    changed: tuple[measure_service_pb2.MeasureChange, ...]
    from_effective_date: date | None
    to_effective_date: date | None


@dataclass(frozen=True, kw_only=True)
class Recognition:
    """A gateway's answer to ``VerifyReport``: whether it recognizes the report, and why not.

    This is the gateway's judgement, received over mutual TLS from the gateway the client
    chose; :func:`~creditlink.sdk.reports.verify_report_offline` makes the same judgement
    locally. ``reasons`` holds one code per finding, with the gateway's message in
    ``messages``: a failed rule's reason, or ``NEWER_INFORMATION``, which is informational and
    does not prevent recognition (``recognized`` decides). ``report`` and ``provenance`` are
    set when the gateway sent the report, and the provenance is verified as for
    :class:`Fetched`.
    """

    recognized: bool
    reasons: tuple[report_pb2.RecognitionReason.ValueType, ...]
    messages: tuple[str, ...]
    report_number: str
    issuer_node_id: str
    status: report_pb2.ReportStatus.ValueType
    checked_at: datetime
    trust_bundle_version: int
    report: report_pb2.CreditReport | None = field(default=None, repr=False)
    provenance: tuple[Provenance, ...] = field(default=(), repr=False)


@dataclass(frozen=True, kw_only=True)
class IssuedReport:
    """A report the gateway issued, checked as any relying party would check it.

    ``bundle`` is the portable report bundle (save it with ``bundle.to_json()``); ``result``
    is :func:`~creditlink.sdk.reports.verify_report_offline` of that bundle under the client's
    trust bundle, for the report's purpose and subject, and it recognized the report (else the
    call raised); ``report`` is the signed report; ``receipt`` acknowledges the order.
    """

    receipt: Receipt
    report: report_pb2.CreditReport
    bundle: ReportBundle = field(repr=False)
    result: RecognitionResult = field(repr=False)
