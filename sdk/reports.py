"""Portable credit reports: the report bundle and its offline recognition check.

A credit report is a ``report`` statement (``creditlink.v1.Statement`` whose body is a
``CreditReport``), signed once as a DSSE envelope by the issuing node and appended to a gateway's
transparency log. Its portable form is the **report bundle** (docs/spec/report.md): a JSON file
holding that envelope exactly as logged, the log's inclusion proof for it and a signed checkpoint
of the log. Anyone holding the federation's trust bundle can check it without a network::

    bundle = ReportBundle.from_json(Path("report.json").read_bytes())   # structure, no crypto
    result = verify_report_offline(bundle, trust, purpose=UsePurpose.BIDDING)
    if not result.recognized:
        for finding in result.failures:
            print(finding.reason.name, finding.message)

The gateway builds bundles with :func:`make_bundle` from what its ledger already holds (the
envelope bytes, the leaf index, the inclusion proof and a checkpoint), and signs report
statements with :func:`sign_report_statement`.

**Recognition rules** (CXP-REPORT-010 to -025). Every rule runs and yields one
:class:`Finding`, in this order, so a verifier sees every reason at once (not only the first):

1. ``trust-bundle``: the verifier's trust bundle has not expired (``TRUST_BUNDLE_EXPIRED``);
2. ``payload-type``: the envelope carries a ``report`` statement (``PAYLOAD_TYPE_MISMATCH``);
3. ``signature``: a signature verifies under a SIGN key of the trust bundle, and that key's node
   is the report's issuer and the statement's sender (``SIGNATURE_INVALID``);
4. ``format``: the verified payload is a strict ``Statement`` whose report is well formed
   (``MALFORMED``);
5. ``issuer``: the issuer is a member allowed to issue reports for the report's scope
   (``UNKNOWN_ISSUER``, ``ISSUER_NOT_AUTHORIZED``);
6. ``key-validity``: the signing key was valid and unrevoked at ``issued_at``
   (``KEY_NOT_VALID``);
7. ``log-inclusion``: the envelope is the leaf the inclusion proof names in a checkpoint signed
   by the log node's checkpoint key (``NOT_LOGGED``);
8. ``standard``: the report standard version is supported (``UNSUPPORTED_STANDARD``);
9. ``status``: the status the caller supplies is VALID (``REVOKED``, ``SUPERSEDED``,
   ``EXPIRED``); with no status supplied the finding says it was not checked;
10. ``validity``: ``valid_from <= now < valid_until`` (``NOT_YET_VALID``, ``EXPIRED``);
11. ``purpose``: the report was issued for the purpose it is presented for, or for general use
    (``PURPOSE_MISMATCH``);
12. ``freshness``: ``data_as_of`` is recent enough for the purpose (``EXPIRED``: the proto has
    no finer code);
13. ``sections``: the sections the purpose requires are present (``PURPOSE_MISMATCH``: the
    proto has no finer code);
14. ``subject``: the report is about the expected subject (``SUBJECT_MISMATCH``).

The payload is parsed only once a signature over it verified (STYLE: verify before parsing), so
when no signature verifies, rules 4-6 and 8-14 are reported as not checked: nothing read from an
unverified payload is ever reported as a fact. Rule 7 works on the bytes and always runs.

The result is a typed Python mirror of ``creditlink.v1.RecognitionResult``
(:class:`RecognitionResult`, with :meth:`~RecognitionResult.to_proto`): ``recognized``, one
finding per rule with its outcome (passed, failed, not checked) and, for failures, the
``RecognitionReason``. Only failures travel in the proto form.

Speed: everything that depends only on the trust bundle (the key index, permission answers,
verified checkpoints) is computed once per bundle and cached, so a check costs one signature
verification, one strict parse and a few hashes.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
import threading
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf.timestamp_pb2 import Timestamp

from creditlink.sdk._internal.pae import pae
from creditlink.sdk._internal.strict import parse_strict
from creditlink.sdk.envelope import (
    MAX_JSON_BYTES as _MAX_ENVELOPE_JSON_BYTES,
)
from creditlink.sdk.envelope import (
    Envelope,
    payload_type_for,
    sign,
    verify_signers,
)
from creditlink.sdk.errors import (
    InvalidCheckpoint,
    InvalidEnvelope,
    InvalidKey,
    InvalidProof,
    InvalidTrustBundle,
    VerificationError,
)
from creditlink.sdk.ids import (
    InvalidIdentifier,
    validate_node_id,
    validate_report_no,
    validate_uscc,
)
from creditlink.sdk.keys import KeyRecord, PrivateKey, PublicKey, Purpose
from creditlink.sdk.tlog import (
    MAX_PROOF_LENGTH,
    MAX_TREE_SIZE,
    Checkpoint,
    NoteVerifier,
    leaf_hash,
    verify_checkpoint,
    verify_inclusion,
)
from creditlink.sdk.trust import Action, TrustBundle
from creditlink.v1 import record_pb2, report_pb2, statement_pb2, trust_pb2

__all__ = [
    "DEFAULT_PURPOSE_RULES",
    "DEFAULT_SUPPORTED_STANDARDS",
    "MAX_BUNDLE_JSON_BYTES",
    "MAX_CHECKPOINT_CHARS",
    "REPORT_BUNDLE_MEDIA_TYPE",
    "REPORT_PAYLOAD_TYPE",
    "Finding",
    "InvalidReportBundle",
    "Outcome",
    "PurposeRule",
    "RecognitionReason",
    "RecognitionResult",
    "ReportBundle",
    "ReportStatus",
    "ReportVerifier",
    "Rule",
    "UsePurpose",
    "make_bundle",
    "sign_report_statement",
    "verify_report_offline",
]

#: DSSE payload type of a signed report statement.
REPORT_PAYLOAD_TYPE: Final = payload_type_for("report")
#: ``mediaType`` of a report bundle file; names the format version (CXP-REPORT-003).
REPORT_BUNDLE_MEDIA_TYPE: Final = "application/vnd.creditlink.report-bundle.v1+json"
#: Longest signed checkpoint note accepted in a bundle (``SignedCheckpoint.note`` in log.proto).
MAX_CHECKPOINT_CHARS: Final = 16384
#: Largest bundle file accepted: the largest DSSE JSON envelope plus room for the log part
#: (64 proof hashes in base64 and a 16 KiB checkpoint take under 24 KiB).
MAX_BUNDLE_JSON_BYTES: Final = _MAX_ENVELOPE_JSON_BYTES + 64 * 1024

#: Report standards recognized by default (``CreditReport.standard_version``): the national
#: public credit information report standard, 2021 and 2022 editions (credit-domain.md §7).
DEFAULT_SUPPORTED_STANDARDS: Final = frozenset(
    {"public-credit-report-2021", "public-credit-report-2022"}
)

_BUNDLE_KEYS: Final = frozenset({"mediaType", "envelope", "log"})
_LOG_KEYS: Final = frozenset({"nodeId", "leafIndex", "treeSize", "inclusionProof", "checkpoint"})
# Standard alphabet, padded: one spelling per value (the envelope's own parser then also
# refuses non-zero trailing bits).
_STD_B64: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_HASH_B64_CHARS: Final = 44  # a 32-byte hash in padded base64
# Instants a google.protobuf.Timestamp can hold (0001-01-01 .. 9999-12-31).
_MIN_SECONDS: Final = -62_135_596_800
_MAX_SECONDS: Final = 253_402_300_799
# proto limits of RecognitionFinding.message and of report numbers in results.
_MAX_FINDING_MESSAGE: Final = 1024
# Bounded caches: a process rarely holds more than a couple of trust bundle versions, and a
# gateway hands out one checkpoint to many reports.
_MAX_INDEXES: Final = 8
_MAX_CHECKPOINTS: Final = 1024
_MAX_DECISIONS: Final = 4096


# --------------------------------------------------------------------------------------------
# Enumerations: typed mirrors of the proto enums (values are the proto numbers)
# --------------------------------------------------------------------------------------------


class RecognitionReason(enum.IntEnum):
    """Reason codes of a recognition check: ``creditlink.v1.RecognitionReason`` without prefix.

    Every code but :attr:`NEWER_INFORMATION` means the report is not recognized.
    """

    MALFORMED = 1
    PAYLOAD_TYPE_MISMATCH = 2
    SIGNATURE_INVALID = 3
    UNKNOWN_ISSUER = 4
    KEY_NOT_VALID = 5
    ISSUER_NOT_AUTHORIZED = 6
    NOT_LOGGED = 7
    REVOKED = 8
    SUPERSEDED = 9
    EXPIRED = 10
    NOT_YET_VALID = 11
    UNSUPPORTED_STANDARD = 12
    SUBJECT_MISMATCH = 13
    PURPOSE_MISMATCH = 14
    TRUST_BUNDLE_EXPIRED = 15
    NEWER_INFORMATION = 16
    STALE_FOR_PURPOSE = 17
    MISSING_SECTIONS = 18


class ReportStatus(enum.IntEnum):
    """Status of a report: ``creditlink.v1.ReportStatus`` without prefix."""

    VALID = 1
    REVOKED = 2
    SUPERSEDED = 3
    EXPIRED = 4


class UsePurpose(enum.IntEnum):
    """What a report is used for: ``creditlink.v1.UsePurpose`` without prefix."""

    GENERAL = 1
    ADMINISTRATIVE_APPROVAL = 2
    GOVERNMENT_PROCUREMENT = 3
    BIDDING = 4
    MARKET_ACCESS = 5
    PUBLIC_FUNDING = 6
    HONOURS = 7
    APPOINTMENT = 8
    FINANCING = 9
    NO_VIOLATION_CERTIFICATE = 10
    SUPERVISION = 11
    OTHER = 12

    @property
    def label(self) -> str:
        """The kebab-case name the CLI and the JSON output use, e.g. ``government-procurement``.

        >>> UsePurpose.GOVERNMENT_PROCUREMENT.label
        'government-procurement'
        """
        return _LABELS[self]

    @classmethod
    def parse(cls, text: str) -> UsePurpose:
        """The purpose named ``text``: its label, its name, or the proto name; any case.

        >>> UsePurpose.parse("bidding") is UsePurpose.parse("USE_PURPOSE_BIDDING")
        True

        Raises ``ValueError`` for anything else.
        """
        name = text.strip().upper().replace("-", "_")
        name = name.removeprefix("USE_PURPOSE_")
        try:
            return cls[name]
        except KeyError:
            labels = ", ".join(p.label for p in cls)
            raise ValueError(f"unknown purpose {text!r}; one of: {labels}") from None


_PURPOSE_VALUES: Final = frozenset(p.value for p in UsePurpose)
#: Value -> member (an enum call costs a microsecond on every verification).
_PURPOSES: Final = {p.value: p for p in UsePurpose}
_LABELS: Final = {p: p.name.lower().replace("_", "-") for p in UsePurpose}


class Rule(enum.Enum):
    """The recognition rules, in the order they are reported (docs/spec/report.md §3)."""

    TRUST_BUNDLE = "trust-bundle"
    PAYLOAD_TYPE = "payload-type"
    SIGNATURE = "signature"
    FORMAT = "format"
    ISSUER = "issuer"
    KEY_VALIDITY = "key-validity"
    LOG_INCLUSION = "log-inclusion"
    STANDARD = "standard"
    STATUS = "status"
    VALIDITY = "validity"
    PURPOSE = "purpose"
    FRESHNESS = "freshness"
    SECTIONS = "sections"
    SUBJECT = "subject"


class Outcome(enum.Enum):
    """What one rule concluded."""

    #: The rule holds.
    PASSED = "passed"
    #: The rule fails; the finding carries the reason code. The report is not recognized.
    FAILED = "failed"
    #: The rule could not or need not be checked (no status supplied, no purpose given, or a
    #: payload whose signature did not verify). Does not by itself prevent recognition.
    NOT_CHECKED = "not-checked"


# --------------------------------------------------------------------------------------------
# Purposes: freshness and required sections (CXP-REPORT-029)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PurposeRule:
    """What a report presented for one purpose must satisfy.

    ``max_age`` bounds ``now - data_as_of`` (the cut-off of the information shown).
    ``record_categories`` are ``creditlink.v1.RecordCategory`` numbers the report must cover:
    a category is covered when the summary's ``counts`` lists it, with a zero count when the
    issuer searched and found nothing (``ReportSummary.counts`` lists "every type the report
    covers, including zero counts"). The name-list status, commitment and evaluation sections
    are the categories ``SERIOUS_UNTRUSTWORTHY_LIST``, ``CREDIT_COMMITMENT`` and
    ``CREDIT_EVALUATION``. The basic-information and summary sections are always required
    (rule ``format``).
    """

    max_age: timedelta
    record_categories: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.max_age <= timedelta(0):
            raise ValueError("max_age must be positive")
        for category in self.record_categories:
            if category not in record_pb2.RecordCategory.values() or category == 0:
                raise ValueError(f"{category!r} is not a RecordCategory number")


_C = record_pb2
# Untrustworthiness information every purpose that decides on a subject needs: penalties,
# judgment debtors, the abnormal operation list and the serious untrustworthiness list (the
# name-list status section).
_UNTRUSTWORTHINESS: Final = frozenset(
    {
        _C.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY,
        _C.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT,
        _C.RECORD_CATEGORY_ABNORMAL_OPERATION,
        _C.RECORD_CATEGORY_SERIOUS_UNTRUSTWORTHY_LIST,
    }
)
_MONTH: Final = timedelta(days=30)

#: The default table (docs/spec/report.md, CXP-REPORT-029). CXP policy, not a national
#: standard (none fixes these values): a verifier may pass its own table.
DEFAULT_PURPOSE_RULES: Final[Mapping[UsePurpose, PurposeRule]] = MappingProxyType(
    {
        UsePurpose.GENERAL: PurposeRule(max_age=timedelta(days=90)),
        UsePurpose.ADMINISTRATIVE_APPROVAL: PurposeRule(
            max_age=_MONTH, record_categories=_UNTRUSTWORTHINESS
        ),
        UsePurpose.GOVERNMENT_PROCUREMENT: PurposeRule(
            max_age=_MONTH, record_categories=_UNTRUSTWORTHINESS
        ),
        UsePurpose.BIDDING: PurposeRule(max_age=_MONTH, record_categories=_UNTRUSTWORTHINESS),
        UsePurpose.MARKET_ACCESS: PurposeRule(
            max_age=_MONTH,
            record_categories=_UNTRUSTWORTHINESS | {_C.RECORD_CATEGORY_ADMINISTRATIVE_LICENSING},
        ),
        UsePurpose.PUBLIC_FUNDING: PurposeRule(
            max_age=_MONTH,
            record_categories=_UNTRUSTWORTHINESS | {_C.RECORD_CATEGORY_CREDIT_COMMITMENT},
        ),
        UsePurpose.HONOURS: PurposeRule(
            max_age=_MONTH, record_categories=_UNTRUSTWORTHINESS | {_C.RECORD_CATEGORY_HONOUR}
        ),
        UsePurpose.APPOINTMENT: PurposeRule(max_age=_MONTH, record_categories=_UNTRUSTWORTHINESS),
        UsePurpose.FINANCING: PurposeRule(
            max_age=_MONTH,
            record_categories=_UNTRUSTWORTHINESS
            | {_C.RECORD_CATEGORY_CONTRACT_PERFORMANCE, _C.RECORD_CATEGORY_CREDIT_EVALUATION},
        ),
        UsePurpose.NO_VIOLATION_CERTIFICATE: PurposeRule(
            max_age=_MONTH,
            record_categories=_UNTRUSTWORTHINESS
            | {
                _C.RECORD_CATEGORY_JUDICIAL_RULING,
                _C.RECORD_CATEGORY_ADMINISTRATIVE_COERCION,
                _C.RECORD_CATEGORY_LEGAL_COMPLIANCE,
            },
        ),
        UsePurpose.SUPERVISION: PurposeRule(
            max_age=timedelta(days=7),
            record_categories=_UNTRUSTWORTHINESS
            | {_C.RECORD_CATEGORY_ADMINISTRATIVE_INSPECTION, _C.RECORD_CATEGORY_CREDIT_COMMITMENT},
        ),
        UsePurpose.OTHER: PurposeRule(max_age=_MONTH, record_categories=_UNTRUSTWORTHINESS),
    }
)


def _category_name(category: int) -> str:
    return record_pb2.RecordCategory.Name(
        record_pb2.RecordCategory.ValueType(category)
    ).removeprefix("RECORD_CATEGORY_")


# --------------------------------------------------------------------------------------------
# The bundle file (CXP-REPORT-002 to -007)
# --------------------------------------------------------------------------------------------


class InvalidReportBundle(VerificationError):
    """A report bundle file is malformed or breaks a limit; nothing in it was checked.

    Reason ``MALFORMED_REPORT_BUNDLE``, or ``LIMIT_EXCEEDED`` for a size limit. A verifier
    reporting recognition reasons reports it as ``MALFORMED`` (CXP-REPORT-006).
    """

    default_reason = "MALFORMED_REPORT_BUNDLE"


def _malformed(message: str) -> InvalidReportBundle:
    return InvalidReportBundle(message)


def _too_big(message: str) -> InvalidReportBundle:
    return InvalidReportBundle(message, reason="LIMIT_EXCEEDED")


class ReportBundle:
    """The portable form of a signed, logged credit report (docs/spec/report.md §2).

    Holds the DSSE envelope of the ``report`` statement exactly as the log holds it, and the
    log part: the node whose log holds it, the leaf index, the tree size, the inclusion proof
    and the signed checkpoint (a C2SP signed note) the proof leads to. Structural invariants
    are checked when it is built; nothing is verified (see :func:`verify_report_offline`).
    Build it with :meth:`from_json` or :func:`make_bundle`.
    """

    __slots__ = (
        "_checkpoint",
        "_envelope",
        "_inclusion_proof",
        "_leaf_index",
        "_log_node_id",
        "_tree_size",
    )

    _envelope: Envelope
    _log_node_id: str
    _leaf_index: int
    _tree_size: int
    _inclusion_proof: tuple[bytes, ...]
    _checkpoint: str

    def __init__(
        self,
        *,
        envelope: Envelope,
        log_node_id: str,
        leaf_index: int,
        tree_size: int,
        inclusion_proof: Iterable[bytes],
        checkpoint: str,
    ) -> None:
        """Check the invariants of CXP-REPORT-002; prefer :meth:`from_json`, :func:`make_bundle`."""
        if not isinstance(envelope, Envelope):
            raise TypeError("envelope must be an Envelope")
        proof = tuple(inclusion_proof)
        if not isinstance(log_node_id, str):
            raise _malformed("log.nodeId must be a string")
        try:
            if validate_node_id(log_node_id) != log_node_id:
                raise ValueError("not in canonical form")
        except ValueError as exc:  # includes InvalidIdentifier
            raise _malformed(f"log.nodeId {log_node_id!r} is not a node id: {exc}") from None
        for name, value in (("leafIndex", leaf_index), ("treeSize", tree_size)):
            # bool is an int subclass; a True index is a producer bug, not index 1.
            if not isinstance(value, int) or isinstance(value, bool):
                raise _malformed(f"log.{name} must be an integer")
            if not 0 <= value <= MAX_TREE_SIZE:
                raise _malformed(f"log.{name} {value} is outside [0, 2**63)")
        if leaf_index >= tree_size:
            raise _malformed(f"log.leafIndex {leaf_index} is not below log.treeSize {tree_size}")
        if len(proof) > MAX_PROOF_LENGTH:
            raise _too_big(f"log.inclusionProof has more than {MAX_PROOF_LENGTH} hashes")
        for index, item in enumerate(proof):
            if not isinstance(item, bytes) or len(item) != 32:
                raise _malformed(f"log.inclusionProof[{index}] is not a 32-byte hash")
        if not isinstance(checkpoint, str) or not checkpoint:
            raise _malformed("log.checkpoint must be a non-empty string")
        if len(checkpoint) > MAX_CHECKPOINT_CHARS:
            raise _too_big(f"log.checkpoint is longer than {MAX_CHECKPOINT_CHARS} characters")
        if not _is_unicode(checkpoint):
            raise _malformed("log.checkpoint is not UTF-8 text")
        self._envelope = envelope
        self._log_node_id = log_node_id
        self._leaf_index = leaf_index
        self._tree_size = tree_size
        self._inclusion_proof = proof
        self._checkpoint = checkpoint

    # -- accessors ------------------------------------------------------------------------------

    @property
    def envelope(self) -> Envelope:
        """The DSSE envelope of the report statement, exactly as logged (not verified)."""
        return self._envelope

    @property
    def log_node_id(self) -> str:
        """Node id of the gateway whose log holds the statement."""
        return self._log_node_id

    @property
    def leaf_index(self) -> int:
        """Zero-based index of the statement's leaf in that log."""
        return self._leaf_index

    @property
    def tree_size(self) -> int:
        """Size of the tree the proof is for; must equal the verified checkpoint's size."""
        return self._tree_size

    @property
    def inclusion_proof(self) -> tuple[bytes, ...]:
        """RFC 9162 audit path from the leaf to the checkpoint's root, 32 bytes per hash."""
        return self._inclusion_proof

    @property
    def checkpoint(self) -> str:
        """The log's signed checkpoint (C2SP signed note), as received (not verified)."""
        return self._checkpoint

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReportBundle):
            return NotImplemented
        return (
            self._envelope == other._envelope
            and self._log_node_id == other._log_node_id
            and self._leaf_index == other._leaf_index
            and self._tree_size == other._tree_size
            and self._inclusion_proof == other._inclusion_proof
            and self._checkpoint == other._checkpoint
        )

    def __hash__(self) -> int:
        return hash((self._envelope, self._log_node_id, self._leaf_index, self._checkpoint))

    def __repr__(self) -> str:
        return (
            f"ReportBundle(log_node_id={self._log_node_id!r}, leaf_index={self._leaf_index}, "
            f"tree_size={self._tree_size}, envelope={self._envelope!r})"
        )

    # -- JSON ------------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: str | bytes) -> ReportBundle:
        """Parse a report bundle file strictly (CXP-REPORT-002 to -004).

        Refused with :class:`InvalidReportBundle`: more than :data:`MAX_BUNDLE_JSON_BYTES`,
        text that is not UTF-8, invalid JSON, duplicate keys, any member missing or unknown,
        another ``mediaType``, a number with a fraction or exponent, base64 that is not the
        standard padded alphabet, and every structural limit of :class:`ReportBundle` and of
        the envelope (CXP-ENV-005, -006).
        """
        if not isinstance(data, str | bytes):
            raise TypeError("data must be str or bytes")
        if len(data) > MAX_BUNDLE_JSON_BYTES:
            raise _too_big(f"report bundle exceeds {MAX_BUNDLE_JSON_BYTES} bytes")
        if isinstance(data, bytes):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise _malformed("report bundle is not UTF-8") from None
        else:
            text = data
        if not _is_unicode(text):
            raise _malformed("report bundle is not UTF-8 text (unpaired surrogate)")
        try:
            obj = json.loads(
                text,
                object_pairs_hook=_no_duplicate_keys,
                parse_float=_no_float,
                parse_constant=_no_constant,
            )
        except (ValueError, RecursionError) as exc:
            raise _malformed(f"report bundle is not valid JSON: {exc}") from None
        _expect_keys(obj, _BUNDLE_KEYS, "report bundle")
        if obj["mediaType"] != REPORT_BUNDLE_MEDIA_TYPE:
            raise _malformed(f"mediaType {obj['mediaType']!r} is not {REPORT_BUNDLE_MEDIA_TYPE!r}")
        raw_env = obj["envelope"]
        if not isinstance(raw_env, dict):
            raise _malformed("envelope must be a DSSE JSON object")
        _check_std_base64(raw_env.get("payload"), "envelope.payload")
        signatures = raw_env.get("signatures")
        if isinstance(signatures, list):
            for index, entry in enumerate(signatures):
                if isinstance(entry, dict):
                    _check_std_base64(entry.get("sig"), f"envelope.signatures[{index}].sig")
        try:
            envelope = Envelope.from_json(raw_env)
        except InvalidEnvelope as exc:
            error = InvalidReportBundle(f"envelope: {exc.message}", reason=exc.reason)
            if exc.reason != "LIMIT_EXCEEDED":
                error.reason = "MALFORMED_REPORT_BUNDLE"
            raise error from None
        log = obj["log"]
        _expect_keys(log, _LOG_KEYS, "log")
        raw_proof = log["inclusionProof"]
        if not isinstance(raw_proof, list):
            raise _malformed("log.inclusionProof must be a list")
        if len(raw_proof) > MAX_PROOF_LENGTH:
            raise _too_big(f"log.inclusionProof has more than {MAX_PROOF_LENGTH} hashes")
        proof = [_hash_from_base64(h, f"log.inclusionProof[{i}]") for i, h in enumerate(raw_proof)]
        return cls(
            envelope=envelope,
            log_node_id=log["nodeId"],
            leaf_index=log["leafIndex"],
            tree_size=log["treeSize"],
            inclusion_proof=proof,
            checkpoint=log["checkpoint"],
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the bundle (base64: standard alphabet, padded)."""
        return {
            "mediaType": REPORT_BUNDLE_MEDIA_TYPE,
            "envelope": self._envelope.to_dict(),
            "log": {
                "nodeId": self._log_node_id,
                "leafIndex": self._leaf_index,
                "treeSize": self._tree_size,
                "inclusionProof": [
                    base64.b64encode(h).decode("ascii") for h in self._inclusion_proof
                ],
                "checkpoint": self._checkpoint,
            },
        }

    def to_json(self) -> str:
        """The bundle file's text: UTF-8 JSON, indented, members in the order of the spec."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"


def make_bundle(
    envelope_bytes: bytes | Envelope,
    leaf_index: int,
    inclusion_proof: Sequence[bytes],
    signed_checkpoint: str,
    *,
    tree_size: int,
    log_node_id: str,
) -> ReportBundle:
    """Assemble a report bundle from what a gateway's log holds (no verification).

    ``envelope_bytes`` is the serialized ``creditlink.v1.Envelope`` as logged (or an
    :class:`Envelope`), ``leaf_index`` its leaf, ``inclusion_proof`` the audit path to the tree
    of ``tree_size`` leaves whose signed checkpoint note is ``signed_checkpoint``, and
    ``log_node_id`` the node keeping the log. Raises :class:`InvalidReportBundle` when a part
    breaks the bundle's structure.
    """
    if isinstance(envelope_bytes, Envelope):
        envelope = envelope_bytes
    else:
        try:
            envelope = Envelope.from_bytes(envelope_bytes)
        except InvalidEnvelope as exc:
            raise _malformed(f"envelope: {exc.message}") from None
    return ReportBundle(
        envelope=envelope,
        log_node_id=log_node_id,
        leaf_index=leaf_index,
        tree_size=tree_size,
        inclusion_proof=inclusion_proof,
        checkpoint=signed_checkpoint,
    )


def sign_report_statement(
    report: report_pb2.CreditReport,
    *,
    signing_key: PrivateKey,
    sender_node_id: str,
    recipient_node_ids: Sequence[str] = (),
    created_at: datetime | None = None,
    message_id: str | None = None,
    request_id: str | None = None,
) -> Envelope:
    """Wrap ``report`` in a ``report`` statement, serialize it once and sign it.

    The statement is encoded deterministically (what receivers' strict parsing expects).
    ``created_at`` defaults to the report's ``issued_at``; ``message_id`` and ``request_id``
    default to fresh UUIDs. The sender must be the report's issuer (``issuer_node_id``).
    """
    if report.issuer_node_id != sender_node_id:
        raise ValueError("the sender of a report statement must be the report's issuer")
    statement = statement_pb2.Statement()
    header = statement.header
    header.message_id = message_id or str(uuid.uuid4())
    header.sender_node_id = sender_node_id
    header.recipient_node_ids.extend(recipient_node_ids)
    if created_at is None:
        header.created_at.CopyFrom(report.issued_at)
    else:
        header.created_at.FromDatetime(created_at.astimezone(UTC))
    header.request_id = request_id or str(uuid.uuid4())
    statement.report.CopyFrom(report)
    return sign(statement.SerializeToString(deterministic=True), REPORT_PAYLOAD_TYPE, [signing_key])


# -- JSON helpers -------------------------------------------------------------------------------


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # Two parsers could otherwise read two different bundles from one file.
        raise ValueError("duplicate key in JSON object")
    return obj


def _no_float(text: str) -> Any:
    raise ValueError(f"number {text} has a fraction or exponent; integers only")


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _expect_keys(obj: object, keys: frozenset[str], what: str) -> None:
    if not isinstance(obj, dict):
        raise _malformed(f"{what} must be a JSON object")
    if set(obj) != keys:
        missing = sorted(keys - set(obj))
        unknown = sorted(set(obj) - keys)
        problems = []
        if missing:
            problems.append(f"missing {missing}")
        if unknown:
            problems.append(f"unknown {unknown}")
        raise _malformed(
            f"{what} must have exactly the members {sorted(keys)}: " + ", ".join(problems)
        )


def _check_std_base64(value: object, what: str) -> None:
    # Only the alphabet and padding: the envelope parser decodes (and checks trailing bits).
    if isinstance(value, str) and (len(value) % 4 or not _STD_B64.fullmatch(value)):
        raise _malformed(f"{what} is not standard padded base64")


def _hash_from_base64(value: object, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != _HASH_B64_CHARS:
        raise _malformed(f"{what} is not the base64 of a 32-byte hash")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _malformed(f"{what} is not standard padded base64") from None
    if len(raw) != 32 or base64.b64encode(raw).decode("ascii") != value:
        raise _malformed(f"{what} is not the canonical base64 of a 32-byte hash")
    return raw


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


class Finding(NamedTuple):
    """What one rule concluded; ``reason`` is set exactly when ``outcome`` is FAILED.

    A named tuple rather than a frozen dataclass: a check builds fourteen of them, and a
    frozen dataclass's ``__init__`` costs several times more.
    """

    rule: Rule
    outcome: Outcome
    reason: RecognitionReason | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form: rule and outcome as kebab-case, the reason's short name or null."""
        return {
            "rule": self.rule.value,
            "outcome": self.outcome.value,
            "reason": None if self.reason is None else self.reason.name,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RecognitionResult:
    """The result of a recognition check (mirror of ``creditlink.v1.RecognitionResult``).

    ``recognized`` is true exactly when no finding FAILED. ``findings`` holds one finding per
    :class:`Rule`, in rule order. ``status`` is the report's status as far as the verifier
    knows: the status supplied by the caller, EXPIRED once ``valid_until`` has passed, and
    ``None`` when nobody said (offline). ``report`` is the report, set only when a signature
    over it verified (never a report read from an unverified payload).
    """

    recognized: bool
    findings: tuple[Finding, ...]
    report_number: str
    issuer_node_id: str
    status: ReportStatus | None
    checked_at: datetime
    trust_bundle_version: int
    report: report_pb2.CreditReport | None = field(default=None, compare=False, repr=False)

    @property
    def failures(self) -> tuple[Finding, ...]:
        """The findings that prevent recognition, in rule order."""
        return tuple(f for f in self.findings if f.outcome is Outcome.FAILED)

    @property
    def reasons(self) -> tuple[RecognitionReason, ...]:
        """The reason code of every failure, in rule order (a code may repeat)."""
        return tuple(f.reason for f in self.findings if f.reason is not None)

    def finding(self, rule: Rule) -> Finding:
        """The finding of ``rule``."""
        for item in self.findings:
            if item.rule is rule:
                return item
        raise KeyError(rule)

    def to_proto(self) -> report_pb2.RecognitionResult:
        """The wire form (CXP-REPORT-027): failures become ``RecognitionFinding``\\ s; findings
        that passed or were not checked are not carried; an unknown status is UNSPECIFIED."""
        pb = report_pb2.RecognitionResult(
            recognized=self.recognized,
            report_number=self.report_number,
            issuer_node_id=self.issuer_node_id,
            status=report_pb2.ReportStatus.ValueType(self.status or 0),
            trust_bundle_version=self.trust_bundle_version,
        )
        pb.checked_at.FromDatetime(self.checked_at.astimezone(UTC))
        for item in self.failures:
            assert item.reason is not None
            pb.findings.add(
                reason=report_pb2.RecognitionReason.ValueType(item.reason),
                message=item.message[:_MAX_FINDING_MESSAGE],
            )
        return pb

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the CLI's ``--json`` output)."""
        return {
            "recognized": self.recognized,
            "reportNumber": self.report_number,
            "issuerNodeId": self.issuer_node_id,
            "status": None if self.status is None else self.status.name,
            "checkedAt": _iso(self.checked_at),
            "trustBundleVersion": self.trust_bundle_version,
            "findings": [f.to_dict() for f in self.findings],
        }


def _iso(when: datetime) -> str:
    if when.tzinfo is not UTC:  # instants read from reports and bundles already are
        when = when.astimezone(UTC)
    return when.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# What is derived once per trust bundle
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SignKey:
    node_id: str
    record: KeyRecord
    public_key: PublicKey
    #: Whether the node holds an ISSUE_REPORTS grant for ``report`` in some scope.
    may_issue: bool


@dataclass(frozen=True, slots=True)
class _NoteKey:
    record: KeyRecord
    verifier: NoteVerifier


class _TrustIndex:
    """Lookups a recognition check needs from one verified trust bundle, computed once.

    The bundle's own lookups answer for one instant; a recognition check also needs keys that
    were NOT valid (to say "signed with a key outside its window" rather than "bad
    signature"), so the verified payload is read once for every node's SIGN and CHECKPOINT
    keys.
    """

    __slots__ = (
        "_checkpoints",
        "_decisions",
        "issuer_keys",
        "node_keys",
        "note_keys",
        "sign_keys",
        "trust",
        "trust_message",
    )

    def __init__(self, trust: TrustBundle) -> None:
        self.trust = trust
        pb = parse_strict(trust_pb2.TrustBundle, trust.to_envelope().payload)
        sign_keys: dict[str, _SignKey] = {}
        node_keys: dict[str, list[PublicKey]] = {}
        note_keys: dict[str, tuple[_NoteKey, ...]] = {}
        issuer_keys: list[PublicKey] = []
        for node in pb.nodes:
            notes: list[_NoteKey] = []
            # Candidate signers when a signature's key id hint names no trusted key: nodes
            # that may issue reports (bounded, unlike every key of the federation).
            may_issue = trust.grants_any_scope(node.node_id, Action.ISSUE_REPORTS, "report")
            for key_pb in node.keys:
                if key_pb.purpose == Purpose.SIGN.value:
                    record = KeyRecord.from_proto(key_pb)
                    assert isinstance(record.public_key, PublicKey)
                    sign_keys[record.key_id] = _SignKey(
                        node.node_id, record, record.public_key, may_issue
                    )
                    node_keys.setdefault(node.node_id, []).append(record.public_key)
                    if may_issue:
                        issuer_keys.append(record.public_key)
                elif key_pb.purpose == Purpose.CHECKPOINT.value:
                    record = KeyRecord.from_proto(key_pb)
                    verifier = _note_verifier(record)
                    if verifier is not None:
                        notes.append(_NoteKey(record, verifier))
            note_keys[node.node_id] = tuple(notes)
        self.sign_keys: Mapping[str, _SignKey] = sign_keys
        self.node_keys: Mapping[str, tuple[PublicKey, ...]] = {
            node_id: tuple(keys) for node_id, keys in node_keys.items()
        }
        self.note_keys: Mapping[str, tuple[_NoteKey, ...]] = note_keys
        self.issuer_keys: tuple[PublicKey, ...] = tuple(issuer_keys)
        self.trust_message = (
            f"trust bundle {trust.federation_id} version {trust.version}, valid until "
            f"{_iso(trust.expires_at)}"
        )
        # Keyed by the verifier's identity: verifiers live as long as this index (and its
        # cache), and hashing the object instead would hash its key bytes on every check.
        self._checkpoints: dict[tuple[str, int, str], Checkpoint] = {}
        self._decisions: dict[tuple[str, tuple[str, ...]], bool] = {}

    def usable(self, record: KeyRecord, at: datetime) -> bool:
        """CXP-TRUST-020/-021: inside its window and not revoked at or before ``at``."""
        if not record.not_before <= at < record.not_after:
            return False
        revoked = self.trust.revoked_at(record.key_id)
        return revoked is None or at < revoked

    def checkpoint(self, note: str, verifier: NoteVerifier, origin: str) -> Checkpoint:
        """Verify ``note`` with ``verifier`` for ``origin``; successes are remembered.

        Sound to cache: the answer depends only on these three values (the key's validity
        window is applied by the caller before choosing ``verifier``). A gateway hands the
        same checkpoint out with many reports, so most checks skip this signature.
        """
        key = (note, id(verifier), origin)
        found = self._checkpoints.get(key)
        if found is None:
            found = verify_checkpoint(note, verifier=verifier, origin=origin)
            if len(self._checkpoints) >= _MAX_CHECKPOINTS:
                self._checkpoints.clear()  # bounded; a cleared cache only costs re-verification
            self._checkpoints[key] = found
        return found

    def may_issue(self, node_id: str, scopes: tuple[str, ...]) -> bool:
        """Kind-level PUBLISH of ``report`` (CXP-TRUST-023) and ISSUE_REPORTS for a scope."""
        key = (node_id, scopes)
        answer = self._decisions.get(key)
        if answer is None:
            trust = self.trust
            answer = trust.grants_any_scope(node_id, Action.PUBLISH, "report") and any(
                _permits(trust, node_id, scope) for scope in scopes
            )
            if len(self._decisions) >= _MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = answer
        return answer


def _permits(trust: TrustBundle, node_id: str, scope: str) -> bool:
    try:
        return trust.permits(node_id, Action.ISSUE_REPORTS, "report", scope)
    except ValueError:
        return False  # a scope that is not well formed (odd region digits) is covered by nothing


def _note_verifier(record: KeyRecord) -> NoteVerifier | None:
    # Signed-note keys are Ed25519 (c2sp.org/signed-note type 0x01); other algorithms cannot
    # sign a checkpoint and are skipped.
    key = serialization.load_der_public_key(record.public_key.public_bytes)
    if not isinstance(key, ed25519.Ed25519PublicKey) or not record.note_name:
        return None
    try:
        return NoteVerifier(name=record.note_name, public_key=key)
    except InvalidKey:
        return None


_INDEXES: dict[bytes, _TrustIndex] = {}
_INDEX_LOCK = threading.Lock()


def _index_for(trust: TrustBundle) -> _TrustIndex:
    # Keyed by the digest of the verified payload: equal digests are equal bundles.
    index = _INDEXES.get(trust.digest)
    if index is None:
        with _INDEX_LOCK:
            index = _INDEXES.get(trust.digest)
            if index is None:
                index = _TrustIndex(trust)
                if len(_INDEXES) >= _MAX_INDEXES:
                    _INDEXES.clear()
                _INDEXES[trust.digest] = index
    return index


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def _instant(ts: Timestamp) -> datetime | None:
    seconds, nanos = ts.seconds, ts.nanos
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS or not 0 <= nanos < 1_000_000_000:
        return None
    # Same value as Timestamp.ToDatetime (microseconds, truncated), in a quarter of the time.
    return _EPOCH + timedelta(0, seconds, nanos // 1000)  # positional: faster


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class _Report:
    """The fields of a verified report the rules use, converted once."""

    pb: report_pb2.CreditReport
    sender_node_id: str
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime
    data_as_of: datetime


def _read_report(payload: bytes) -> tuple[_Report | None, str | None, list[str]]:
    """Parse a VERIFIED payload; return (report, body case, problems).

    ``report`` is None when the payload is no strict report statement or lacks what every
    other rule needs (its instants); ``problems`` lists every structural fault found.
    """
    try:
        statement = parse_strict(statement_pb2.Statement, payload)
    except InvalidEnvelope as exc:
        return None, None, [exc.message]
    case = statement.WhichOneof("body")
    if case != "report":
        return None, case, []
    pb = statement.report
    problems: list[str] = []
    instants: dict[str, datetime] = {}
    for name in ("issued_at", "valid_from", "valid_until", "data_as_of"):
        if not pb.HasField(name):
            problems.append(f"{name} is missing")
            continue
        when = _instant(getattr(pb, name))
        if when is None:
            problems.append(f"{name} is outside the Timestamp range")
        else:
            instants[name] = when
    if len(instants) < 4:
        return None, case, problems
    report = _Report(
        pb=pb,
        sender_node_id=statement.header.sender_node_id,
        issued_at=instants["issued_at"],
        valid_from=instants["valid_from"],
        valid_until=instants["valid_until"],
        data_as_of=instants["data_as_of"],
    )
    if report.valid_until <= report.valid_from:
        problems.append("valid_until is not later than valid_from")
    if report.data_as_of > report.issued_at:
        problems.append("data_as_of is later than issued_at")
    try:
        if validate_report_no(pb.report_number) != pb.report_number:
            problems.append("report_number is not in compact form")
    except InvalidIdentifier as exc:
        problems.append(f"report_number: {exc.message}")
    try:
        validate_node_id(pb.issuer_node_id)
    except InvalidIdentifier as exc:
        problems.append(f"issuer_node_id: {exc.message}")
    subject = pb.subject
    if subject.uscc:
        try:
            if validate_uscc(subject.uscc) != subject.uscc:
                problems.append("subject.uscc is not in compact form")
        except InvalidIdentifier as exc:
            problems.append(f"subject.uscc: {exc.message}")
    elif not subject.person_token:
        problems.append("subject has no identifier")
    if pb.report_type not in (
        report_pb2.REPORT_TYPE_LEGAL_PERSON,
        report_pb2.REPORT_TYPE_NATURAL_PERSON,
    ):
        problems.append("report_type is not set")
    if pb.purpose not in _PURPOSE_VALUES:
        problems.append("purpose is not a defined UsePurpose")
    if pb.status != report_pb2.REPORT_STATUS_VALID:
        problems.append("the signed status is not VALID")
    for section in ("basic_information", "summary"):
        if not pb.HasField(section):
            problems.append(f"the {section.replace('_', ' ')} section is missing")
    return report, case, problems


class _Findings:
    """One finding per rule; kept by rule so they come out in rule order."""

    __slots__ = ("_by_rule", "any_failed")

    # Keyed by the rule's value: Enum.__hash__ runs in Python, a str caches its hash, and a
    # check makes some thirty lookups.
    def __init__(self) -> None:
        self._by_rule: dict[str, Finding] = {}
        self.any_failed = False

    def passed(self, rule: Rule, message: str) -> None:
        self._by_rule[rule._value_] = Finding(rule, Outcome.PASSED, None, message)

    def failed(self, rule: Rule, reason: RecognitionReason, message: str) -> None:
        self._by_rule[rule._value_] = Finding(rule, Outcome.FAILED, reason, message)
        self.any_failed = True

    def not_checked(self, rule: Rule, message: str) -> None:
        self._by_rule[rule._value_] = Finding(rule, Outcome.NOT_CHECKED, None, message)

    def ordered(self) -> tuple[Finding, ...]:
        by_rule = self._by_rule
        return tuple([by_rule[value] for value in _RULE_VALUES])


_RULE_VALUES: Final = tuple(rule.value for rule in Rule)


class ReportVerifier:
    """Recognition checks of report bundles under one trust bundle and one policy.

    ::

        verifier = ReportVerifier(trust=bundle)
        result = verifier.verify(report_bundle, purpose=UsePurpose.BIDDING)

    ``supported_standards`` and ``purpose_rules`` default to :data:`DEFAULT_SUPPORTED_STANDARDS`
    and :data:`DEFAULT_PURPOSE_RULES`. What depends only on the trust bundle is shared by every
    verifier of the same bundle, so building one is cheap.
    """

    __slots__ = ("_index", "_purpose_rules", "_standards", "_trust")

    def __init__(
        self,
        *,
        trust: TrustBundle,
        supported_standards: Collection[str] = DEFAULT_SUPPORTED_STANDARDS,
        purpose_rules: Mapping[UsePurpose, PurposeRule] = DEFAULT_PURPOSE_RULES,
    ) -> None:
        """Bind the verifier to a verified ``trust`` bundle and a policy."""
        if not isinstance(trust, TrustBundle):
            raise TypeError("trust must be a verified TrustBundle")
        if isinstance(supported_standards, str):
            raise TypeError("supported_standards must be a collection of strings, not a string")
        self._trust = trust
        self._index = _index_for(trust)
        self._standards = frozenset(supported_standards)
        self._purpose_rules = purpose_rules

    def verify(
        self,
        bundle: ReportBundle,
        *,
        purpose: UsePurpose | None = None,
        subject: str | None = None,
        status: ReportStatus | None = None,
        now: datetime | None = None,
    ) -> RecognitionResult:
        """Check ``bundle`` against every recognition rule (module docstring) at ``now``.

        ``purpose`` is what the report is presented for (None: its own purpose, and the
        ``purpose`` rule is not checked). ``subject`` is the USCC or person token it must be
        about (None: not checked). ``status`` is the report's current status as the issuing
        gateway reported it (None: not checked; offline verification cannot know about
        revocation). ``now`` defaults to the current time. Never raises for a report that does
        not verify: that is a result with findings. Raises ``ValueError`` for caller errors: a
        naive ``now``, or a ``subject`` that is neither a valid USCC nor a person token.
        """
        now = _now(now)
        expected_subject = _expected_subject(subject)
        if purpose is not None and not isinstance(purpose, UsePurpose):
            raise TypeError("purpose must be a UsePurpose")
        if status is not None and not isinstance(status, ReportStatus):
            raise TypeError("status must be a ReportStatus")
        index = self._index
        trust = self._trust
        out = _Findings()
        env = bundle.envelope

        # 1. The verifier's own trust bundle must be current (freeze protection).
        try:
            trust.check_not_expired(now)
            out.passed(Rule.TRUST_BUNDLE, index.trust_message)
        except InvalidTrustBundle as exc:
            out.failed(Rule.TRUST_BUNDLE, RecognitionReason.TRUST_BUNDLE_EXPIRED, exc.message)

        # 2. The type the signature binds (finished in 4, once the body case is known).
        is_report_type = env.payload_type == REPORT_PAYLOAD_TYPE

        # 3. Signature, before anything in the payload is looked at. Candidate keys: every
        # SIGN key of the nodes that may issue reports, plus the key a hint names when it
        # belongs to another node (so that the finding can name the wrong signer); hints only
        # order the attempts (verify_signers). Validity at issuance is rule 6, so keys outside
        # their window are candidates here: the answer is "wrong key", not "bad signature".
        extra = [
            index.sign_keys[h].public_key
            for h, _ in env.signatures
            if h in index.sign_keys and not index.sign_keys[h].may_issue
        ]
        candidates = [*index.issuer_keys, *extra] if extra else index.issuer_keys
        signer: _SignKey | None = None
        try:
            key_ids = verify_signers(env, keys=candidates, expected_type=env.payload_type)
            signer = index.sign_keys[key_ids[0]]
        except InvalidEnvelope:
            pass

        # 4. Parse the verified payload, strictly.
        report: _Report | None = None
        problems: list[str] = []
        body_case: str | None = None
        if signer is not None and is_report_type:
            report, body_case, problems = _read_report(env.payload)
        pb = report.pb if report is not None else None
        issuer = pb.issuer_node_id if pb is not None else ""
        # CXP-ID-007: a report number carries the issuing node's region code.
        region = _region_of(trust, issuer) if pb is not None else None
        number = pb.report_number if pb is not None else ""
        if region is not None and len(number) == 27 and number[2:8] != region:
            problems.append(f"report number region {number[2:8]} is not the issuer's {region}")

        # 2 (finished). Payload type and body case.
        if not is_report_type:
            out.failed(
                Rule.PAYLOAD_TYPE,
                RecognitionReason.PAYLOAD_TYPE_MISMATCH,
                f"payload type {env.payload_type!r} is not {REPORT_PAYLOAD_TYPE!r}",
            )
        elif signer is not None and body_case not in (None, "report"):
            out.failed(
                Rule.PAYLOAD_TYPE,
                RecognitionReason.PAYLOAD_TYPE_MISMATCH,
                f"the statement carries a {body_case!r} body, not a report",
            )
        else:
            out.passed(Rule.PAYLOAD_TYPE, f"payload type {REPORT_PAYLOAD_TYPE}")

        # 3 (finished). The key that verified must be the issuer's, and the issuer the sender.
        if signer is not None and report is not None and signer.node_id != issuer:
            # Another member's signature verified first; an extra signature is harmless
            # (DSSE ignores it) if one of the issuer's own keys also signed.
            try:
                ids = verify_signers(
                    env, keys=index.node_keys.get(issuer, ()), expected_type=env.payload_type
                )
                signer = index.sign_keys[ids[0]]
            except InvalidEnvelope:
                pass
        if signer is None:
            out.failed(
                Rule.SIGNATURE,
                RecognitionReason.SIGNATURE_INVALID,
                "no signature verifies under a signing key of the trust bundle",
            )
        elif report is not None and (signer.node_id != issuer or report.sender_node_id != issuer):
            out.failed(
                Rule.SIGNATURE,
                RecognitionReason.SIGNATURE_INVALID,
                f"signed by {signer.node_id} (key {signer.record.key_id}); the report names "
                f"issuer {issuer!r} and the statement sender {report.sender_node_id!r}",
            )
        else:
            out.passed(
                Rule.SIGNATURE, f"signed by {signer.node_id} with key {signer.record.key_id}"
            )

        # 4 (finished). Structure.
        if signer is None:
            out.not_checked(Rule.FORMAT, "not read: no signature over the payload verified")
        elif not is_report_type or body_case not in (None, "report"):
            out.not_checked(Rule.FORMAT, "not read: the envelope does not carry a report")
        elif problems:
            out.failed(Rule.FORMAT, RecognitionReason.MALFORMED, "; ".join(problems))
        else:
            out.passed(Rule.FORMAT, f"report {pb.report_number if pb else ''} is well formed")

        # 5. Issuer: a member, allowed to issue reports within the report's scope.
        self._check_issuer(out, env, signer, report)

        # 6. The signing key was valid at issuance (CXP-TRUST-020, -021).
        if signer is None or report is None:
            out.not_checked(Rule.KEY_VALIDITY, "no verified signature and issue time")
        elif index.usable(signer.record, report.issued_at):
            out.passed(
                Rule.KEY_VALIDITY,
                f"key {signer.record.key_id} was valid at issuance ({_iso(report.issued_at)})",
            )
        else:
            out.failed(
                Rule.KEY_VALIDITY,
                RecognitionReason.KEY_NOT_VALID,
                _key_problem(trust, signer.record, report.issued_at),
            )

        # 7. Log inclusion, over the bytes (runs whatever the signature said).
        self._check_log(out, bundle, report, now)

        # 8-14. Content rules, on the verified report only.
        if report is None or pb is None:
            why = (
                "not checked: no signature over the payload verified"
                if signer is None
                else "not checked: the report could not be read"
            )
            for rule in (
                Rule.STANDARD,
                Rule.STATUS,
                Rule.VALIDITY,
                Rule.PURPOSE,
                Rule.FRESHNESS,
                Rule.SECTIONS,
                Rule.SUBJECT,
            ):
                out.not_checked(rule, why)
            known_status = status
        else:
            known_status = self._check_content(
                out, report, purpose=purpose, subject=expected_subject, status=status, now=now
            )

        return RecognitionResult(
            recognized=not out.any_failed,
            findings=out.ordered(),
            report_number=pb.report_number[:64] if pb is not None else "",
            issuer_node_id=issuer[:63],
            status=known_status,
            checked_at=now,
            trust_bundle_version=trust.version,
            report=pb,
        )

    # -- rules ---------------------------------------------------------------------------------

    def _check_issuer(
        self, out: _Findings, env: Envelope, signer: _SignKey | None, report: _Report | None
    ) -> None:
        trust = self._trust
        if report is None:
            hints = [h for h, _ in env.signatures]
            if signer is None and all(hints) and not any(h in self._index.sign_keys for h in hints):
                # Hints carry no authority, but they may pick the explanation of a failure:
                # keys no member holds mean an issuer outside this federation.
                out.failed(
                    Rule.ISSUER,
                    RecognitionReason.UNKNOWN_ISSUER,
                    f"signed by key(s) {', '.join(hints)} that no node of the trust bundle holds",
                )
            else:
                out.not_checked(Rule.ISSUER, "no verified report names an issuer")
            return
        pb = report.pb
        issuer = pb.issuer_node_id
        try:
            node = trust.node(issuer)
        except KeyError:
            out.failed(
                Rule.ISSUER,
                RecognitionReason.UNKNOWN_ISSUER,
                f"issuer {issuer!r} is not a node of trust bundle version {trust.version}",
            )
            return
        scopes = _report_scopes(pb, node.region_code, node.sector)
        if self._index.may_issue(issuer, scopes):
            out.passed(Rule.ISSUER, f"{issuer} may issue reports within {', '.join(scopes)}")
        else:
            out.failed(
                Rule.ISSUER,
                RecognitionReason.ISSUER_NOT_AUTHORIZED,
                f"{issuer} holds no ISSUE_REPORTS permission (with PUBLISH of 'report') "
                f"within {', '.join(scopes) or 'any scope'}",
            )

    def _check_log(
        self, out: _Findings, bundle: ReportBundle, report: _Report | None, now: datetime
    ) -> None:
        trust = self._trust
        node_id = bundle.log_node_id
        try:
            origin = trust.node(node_id).log_origin
        except KeyError:
            out.failed(
                Rule.LOG_INCLUSION,
                RecognitionReason.NOT_LOGGED,
                f"log node {node_id!r} is not in the trust bundle",
            )
            return
        if not origin:
            out.failed(
                Rule.LOG_INCLUSION,
                RecognitionReason.NOT_LOGGED,
                f"node {node_id} keeps no log",
            )
            return
        # Checkpoints carry no time: accept a checkpoint key of the log node valid at the
        # report's issue time (a checkpoint signed at issuance) or now (a fresh one).
        instants = (now,) if report is None else (report.issued_at, now)
        usable = self._index.usable
        verifiers = [
            k.verifier
            for k in self._index.note_keys.get(node_id, ())
            if usable(k.record, instants[0]) or usable(k.record, instants[-1])
        ]
        if not verifiers:
            out.failed(
                Rule.LOG_INCLUSION,
                RecognitionReason.NOT_LOGGED,
                f"{node_id} has no checkpoint key valid at "
                + " or ".join(_iso(at) for at in instants),
            )
            return
        checkpoint: Checkpoint | None = None
        problem = ""
        for verifier in verifiers:
            try:
                checkpoint = self._index.checkpoint(bundle.checkpoint, verifier, origin)
                break
            except InvalidCheckpoint as exc:
                problem = exc.message
        if checkpoint is None:
            out.failed(
                Rule.LOG_INCLUSION,
                RecognitionReason.NOT_LOGGED,
                f"checkpoint does not verify under {node_id}'s checkpoint key: {problem}",
            )
            return
        # CXP-LOG-008: sizes come from the verified checkpoint only.
        if checkpoint.size != bundle.tree_size:
            out.failed(
                Rule.LOG_INCLUSION,
                RecognitionReason.NOT_LOGGED,
                f"the proof is for a tree of {bundle.tree_size} leaves, the checkpoint commits "
                f"to {checkpoint.size}",
            )
            return
        env = bundle.envelope
        try:
            verify_inclusion(
                leaf_hash=leaf_hash(pae(env.payload_type, env.payload)),
                index=bundle.leaf_index,
                tree_size=checkpoint.size,
                proof=bundle.inclusion_proof,
                root=checkpoint.root_hash,
            )
        except InvalidProof as exc:
            out.failed(Rule.LOG_INCLUSION, RecognitionReason.NOT_LOGGED, exc.message)
            return
        out.passed(
            Rule.LOG_INCLUSION,
            f"leaf {bundle.leaf_index} of {checkpoint.size} in log {origin}",
        )

    def _check_content(
        self,
        out: _Findings,
        report: _Report,
        *,
        purpose: UsePurpose | None,
        subject: str | None,
        status: ReportStatus | None,
        now: datetime,
    ) -> ReportStatus | None:
        pb = report.pb

        # 8. Standard.
        if pb.standard_version in self._standards:
            out.passed(Rule.STANDARD, f"standard {pb.standard_version}")
        else:
            out.failed(
                Rule.STANDARD,
                RecognitionReason.UNSUPPORTED_STANDARD,
                f"standard {pb.standard_version or '(none)'!r} is not one of "
                f"{', '.join(sorted(self._standards)) or '(none)'}",
            )

        # 9. Status: only the issuer knows; offline it is whatever the caller was told.
        if status is None:
            out.not_checked(
                Rule.STATUS,
                "not checked: offline verification cannot see revocation or supersession; "
                "ask the issuing gateway (ReportService.GetReport) and pass the status",
            )
        elif status is ReportStatus.VALID:
            out.passed(Rule.STATUS, "status VALID, as supplied")
        else:
            reason = {
                ReportStatus.REVOKED: RecognitionReason.REVOKED,
                ReportStatus.SUPERSEDED: RecognitionReason.SUPERSEDED,
                ReportStatus.EXPIRED: RecognitionReason.EXPIRED,
            }[status]
            out.failed(Rule.STATUS, reason, f"status {status.name}, as supplied")

        # 10. Validity window, half-open like key windows.
        if now < report.valid_from:
            out.failed(
                Rule.VALIDITY,
                RecognitionReason.NOT_YET_VALID,
                f"valid from {_iso(report.valid_from)}, checked at {_iso(now)}",
            )
        elif now >= report.valid_until:
            out.failed(
                Rule.VALIDITY,
                RecognitionReason.EXPIRED,
                f"valid until {_iso(report.valid_until)}, checked at {_iso(now)}",
            )
        else:
            out.passed(
                Rule.VALIDITY,
                f"valid from {_iso(report.valid_from)} until {_iso(report.valid_until)}",
            )

        # 11. Purpose: issued for this purpose, or for general use.
        issued_for = _PURPOSES.get(pb.purpose)
        if purpose is None:
            out.not_checked(Rule.PURPOSE, "no purpose given: the report's own purpose applies")
        elif issued_for in (purpose, UsePurpose.GENERAL):
            out.passed(Rule.PURPOSE, f"issued for {issued_for.label if issued_for else '?'}")
        else:
            out.failed(
                Rule.PURPOSE,
                RecognitionReason.PURPOSE_MISMATCH,
                f"issued for {issued_for.label if issued_for else 'an unknown purpose'}, "
                f"presented for {purpose.label}",
            )

        # 12-13. Freshness and sections for the purpose the report serves here.
        effective = purpose or issued_for
        rule = self._purpose_rules.get(effective) if effective is not None else None
        if effective is None or rule is None:
            label = effective.label if effective is not None else "an unknown purpose"
            out.not_checked(Rule.FRESHNESS, f"no rule for {label}")
            out.not_checked(Rule.SECTIONS, f"no rule for {label}")
        else:
            age = now - report.data_as_of
            if age > rule.max_age:
                out.failed(
                    Rule.FRESHNESS,
                    RecognitionReason.STALE_FOR_PURPOSE,
                    f"information as of {_iso(report.data_as_of)} is {_days(age)} old; "
                    f"{effective.label} accepts at most {_days(rule.max_age)}",
                )
            else:
                out.passed(
                    Rule.FRESHNESS,
                    f"information as of {_iso(report.data_as_of)}, within "
                    f"{_days(rule.max_age)} for {effective.label}",
                )
            covered = {c.category for c in pb.summary.counts}
            missing = sorted(rule.record_categories - covered)
            if missing:
                out.failed(
                    Rule.SECTIONS,
                    RecognitionReason.MISSING_SECTIONS,
                    f"{effective.label} requires sections the report does not cover: "
                    + ", ".join(_category_name(c) for c in missing),
                )
            else:
                out.passed(
                    Rule.SECTIONS,
                    f"covers the {len(rule.record_categories)} section(s) {effective.label} "
                    "requires",
                )

        # 14. Subject.
        reported = pb.subject.uscc or pb.subject.person_token
        if subject is None:
            out.not_checked(Rule.SUBJECT, "no expected subject given")
        elif reported == subject:
            out.passed(Rule.SUBJECT, "about the expected subject")
        else:
            out.failed(
                Rule.SUBJECT,
                RecognitionReason.SUBJECT_MISMATCH,
                "the report is about another subject than the one expected",
            )

        if now >= report.valid_until and status in (None, ReportStatus.VALID):
            return ReportStatus.EXPIRED
        return status


def verify_report_offline(
    bundle: ReportBundle,
    trust_bundle: TrustBundle,
    *,
    purpose: UsePurpose | None = None,
    now: datetime | None = None,
    status: ReportStatus | None = None,
    subject: str | None = None,
    supported_standards: Collection[str] = DEFAULT_SUPPORTED_STANDARDS,
    purpose_rules: Mapping[UsePurpose, PurposeRule] = DEFAULT_PURPOSE_RULES,
) -> RecognitionResult:
    """Check a report bundle for recognition under ``trust_bundle``, with no network.

    Shorthand for ``ReportVerifier(trust=trust_bundle, ...).verify(bundle, ...)``; see
    :meth:`ReportVerifier.verify` for the parameters and the module docstring for the rules.
    What depends only on the trust bundle is cached per bundle, across calls.
    """
    verifier = ReportVerifier(
        trust=trust_bundle, supported_standards=supported_standards, purpose_rules=purpose_rules
    )
    return verifier.verify(bundle, purpose=purpose, subject=subject, status=status, now=now)


# -- small helpers --------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


def _expected_subject(subject: str | None) -> str | None:
    if subject is None:
        return None
    if subject.startswith("pn"):
        return subject  # a person token is compared as given
    # A USCC is compared in compact form; one that fails its checks is a caller error.
    return validate_uscc(subject)


def _report_scopes(
    pb: report_pb2.CreditReport, node_region: str, node_sector: str
) -> tuple[str, ...]:
    """The scopes a report falls within for ISSUE_REPORTS (CXP-REPORT-016).

    The subject's region (characters 3-8 of a legal person's USCC), or for a subject without
    one (a natural person) the issuing node's region; plus the issuing node's sector.
    """
    uscc = pb.subject.uscc
    region = uscc[2:8] if len(uscc) == 18 else node_region
    scopes = [f"region:{region}"]
    if node_sector:
        scopes.append(f"sector:{node_sector}")
    return tuple(scopes)


def _region_of(trust: TrustBundle, node_id: str) -> str | None:
    try:
        return trust.node(node_id).region_code
    except KeyError:
        return None


def _key_problem(trust: TrustBundle, record: KeyRecord, at: datetime) -> str:
    revoked = trust.revoked_at(record.key_id)
    if revoked is not None and revoked <= at:
        return f"key {record.key_id} was revoked at {_iso(revoked)}, before issuance at {_iso(at)}"
    return (
        f"key {record.key_id} is valid from {_iso(record.not_before)} until "
        f"{_iso(record.not_after)}, not at issuance ({_iso(at)})"
    )


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:.0f} days" if days >= 1 else f"{delta.total_seconds() / 3600:.1f} hours"
