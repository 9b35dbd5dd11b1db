"""Report bundles as zj-330000 of a development federation would issue them, for tests and
benchmarks that verify bundles offline (the CLI's ``report verify``, ``verify_report_offline``).

The report is signed with the node's key (or another key, to test a wrong signer), logged among
other entries in an RFC 9162 tree, and the tree's checkpoint signed with the node's checkpoint
key, as the gateway's ledger does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from creditlink.gateway.bootstrap import DevFederation
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.ids import report_no
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.reports import ReportBundle, make_bundle, sign_report_statement
from creditlink.sdk.tlog import (
    Checkpoint,
    Frontier,
    MemoryNodeStore,
    inclusion_proof,
    leaf_hash,
    sign_note,
)
from creditlink.v1 import common_pb2, record_pb2, report_pb2
from tests.gateway.statements import penalty_record

ZJ = "zj-330000"
COMPANY = "91330100MA27XL0A6Q"


def credit_report(
    issued: datetime, serial: int = 1, *, records: int = 0
) -> report_pb2.CreditReport:
    """A bidding report on :data:`COMPANY` by zj-330000, valid 30 days from ``issued``, with
    ``records`` penalty records in its administrative-penalty section."""
    pb = report_pb2.CreditReport(
        report_number=report_no.generate("330000", issued.date(), f"{serial:010d}"),
        report_type=report_pb2.REPORT_TYPE_LEGAL_PERSON,
        issuer_node_id=ZJ,
        purpose=common_pb2.USE_PURPOSE_BIDDING,
        standard_version="public-credit-report-2022",
        status=report_pb2.REPORT_STATUS_VALID,
    )
    pb.subject.uscc = COMPANY
    pb.subject.kind = common_pb2.SUBJECT_KIND_LEGAL_PERSON
    pb.subject.display_name = "杭州某某科技有限公司"
    pb.issuing_authority.name = "浙江省信用中心"
    pb.issuing_authority.region_code = "330000"
    pb.issued_at.FromDatetime(issued)
    pb.valid_from.FromDatetime(issued)
    pb.valid_until.FromDatetime(issued + timedelta(days=30))
    pb.data_as_of.FromDatetime(issued - timedelta(hours=1))
    pb.basic_information.subject.CopyFrom(pb.subject)
    penalty = record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY
    for category in record_pb2.RecordCategory.values():
        if category:
            pb.summary.counts.add(category=category, count=records if category == penalty else 0)
    if records:
        section = pb.record_sections.add(category=penalty)
        for n in range(records):
            item = section.items.add(message_id=f"m-{n}")
            item.record.CopyFrom(penalty_record(uscc=COMPANY))
    return pb


def report_bundle(
    fed: DevFederation,
    issued: datetime,
    *,
    records: int = 0,
    key: PrivateKey | None = None,
    before: int = 3,
    after: int = 1,
) -> ReportBundle:
    """:func:`credit_report` signed (by ``key``, else zj-330000's signing key) and logged in
    zj-330000's log after ``before`` other entries and before ``after`` more."""
    node = fed.node(ZJ).credentials
    envelope = sign_report_statement(
        credit_report(issued, 1, records=records),
        signing_key=key or node.signing_key,
        sender_node_id=ZJ,
        recipient_node_ids=[ZJ],
    )
    leaves = [leaf_hash(f"entry {i}".encode()) for i in range(before)]
    leaves.append(leaf_hash(pae(envelope.payload_type, envelope.payload)))
    leaves.extend(leaf_hash(f"later {i}".encode()) for i in range(after))
    frontier, runs = Frontier().extend(leaves)
    store = MemoryNodeStore()
    store.add_runs(runs)
    signer = node.checkpoint_key
    assert signer is not None
    note = sign_note(
        Checkpoint(
            origin=node.node.log_origin, size=frontier.size, root_hash=frontier.root()
        ).to_body(),
        [signer],
    )
    return make_bundle(
        envelope.to_bytes(),
        before,
        inclusion_proof(before, frontier.size, store),
        note,
        tree_size=frontier.size,
        log_node_id=ZJ,
    )
