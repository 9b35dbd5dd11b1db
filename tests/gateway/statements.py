"""Building real signed and sealed statements for gateway tests (no mocks: the SDK does it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from creditlink.sdk import envelope
from creditlink.sdk.batch import sign_batch
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.seal import (
    ENVELOPE_CONTENT_TYPE,
    SIGNED_BATCH_CONTENT_TYPE,
    Recipient,
    seal,
)
from creditlink.v1 import common_pb2, record_pb2, statement_pb2

RECORD_TYPE = envelope.payload_type_for("record")


def penalty_record(
    *,
    uscc: str = "91330100MA27XL0A6Q",
    region: str = "330100",
    authority_uscc: str = "11330100MB183543XG",
) -> record_pb2.CreditRecord:
    """A complete administrative penalty record (every required publication column)."""
    record = record_pb2.CreditRecord(
        record_id=str(uuid.uuid4()),
        revision=1,
        category=record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY,
        catalog_edition="national-2024",
        document_number="杭市监罚〔2026〕12号",
        severity=record_pb2.SEVERITY_GENERAL,
        status=record_pb2.RECORD_STATUS_ACTIVE,
        region_code=region,
    )
    record.subject.uscc = uscc
    record.subject.kind = common_pb2.SUBJECT_KIND_LEGAL_PERSON
    record.subject.display_name = "杭州某某科技有限公司"
    record.authority.name = "杭州市市场监督管理局"
    record.authority.uscc = authority_uscc
    record.source_unit.name = "杭州市市场监督管理局"
    record.source_unit.uscc = authority_uscc
    record.decision_date.year, record.decision_date.month, record.decision_date.day = 2026, 3, 2
    start = record.publication_start
    start.year, start.month, start.day = 2026, 3, 9
    penalty = record.penalty
    penalty.violation_type = "虚假宣传"
    penalty.violation_facts = "在网店页面发布虚假的商品功效宣传。"
    penalty.legal_basis = "《中华人民共和国反不正当竞争法》第二十条"
    penalty.categories.extend([record_pb2.PENALTY_CATEGORY_FINE])
    penalty.content = "罚款人民币五万元"
    penalty.fine_amount = "5"
    until = penalty.valid_until
    until.year, until.month, until.day = 2027, 3, 2
    return record


def statement(
    sender: str,
    recipients: Sequence[str],
    record: record_pb2.CreditRecord,
    *,
    created_at: datetime | None = None,
    message_id: str | None = None,
) -> statement_pb2.Statement:
    """A record statement from ``sender`` to ``recipients``."""
    out = statement_pb2.Statement()
    out.header.message_id = message_id or str(uuid.uuid4())
    out.header.sender_node_id = sender
    out.header.recipient_node_ids.extend(recipients)
    out.header.created_at.FromDatetime(created_at or datetime.now(UTC))
    out.header.request_id = str(uuid.uuid4())
    out.record.CopyFrom(record)
    return out


def _recipient(creds: Credentials, node_id: str) -> Recipient:
    key = creds.trust_bundle.sealing_key(node_id, at=datetime.now(UTC)).public_key
    return Recipient(node_id=node_id, key=key)  # type: ignore[arg-type]


def sealed_single(
    creds: Credentials,
    to: str | Sequence[str],
    body: statement_pb2.Statement,
    *,
    payload: bytes | None = None,
) -> bytes:
    """Sign ``body`` as ``creds`` and seal it to node ``to`` (or to each of several nodes)."""
    data = payload if payload is not None else body.SerializeToString()
    signed = envelope.sign(data, RECORD_TYPE, [creds.signing_key])
    return seal(
        signed.to_bytes(),
        content_type=ENVELOPE_CONTENT_TYPE,
        sender_node_id=creds.node_id,
        recipients=[_recipient(creds, n) for n in ([to] if isinstance(to, str) else to)],
    ).to_bytes()


def sealed_batch(
    creds: Credentials, to: str, bodies: Sequence[statement_pb2.Statement], *, batch_id: str = ""
) -> bytes:
    """Sign ``bodies`` as one batch (one signature) and seal it to ``to``."""
    signed = sign_batch(
        [(b.SerializeToString(), RECORD_TYPE) for b in bodies],
        creds.signing_key,
        signer_node_id=creds.node_id,
        batch_id=batch_id or str(uuid.uuid4()),
        signed_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    return seal(
        signed.to_bytes(),
        content_type=SIGNED_BATCH_CONTENT_TYPE,
        sender_node_id=creds.node_id,
        recipients=[_recipient(creds, to)],
    ).to_bytes()
