"""Offline report verification against the raw Ed25519 ceiling.

    python bench/sdk/bench_verify_report.py [--seconds 0.5] [--rounds 5]

``verify_report_offline`` checks a report bundle against every recognition rule with nothing
but a trust bundle (docs/spec/report.md): the DSSE signature, the issuer, key validity, the log
inclusion proof and signed checkpoint, the strict parse, identifiers, validity, purpose,
freshness, sections and subject. Its ceiling is one raw Ed25519 verification
(``cryptography``'s ``Ed25519PublicKey.verify``) over the same DSSE PAE bytes, measured in the
same run: the SDK issue asks for at least 0.5x of it.

Reports of three sizes: a clean report (no records), one with 10 penalty records and one with
60. Each is signed by zj-330000 of a development federation and logged with other entries in
an RFC 9162 tree whose checkpoint zj-330000's checkpoint key signs, as a gateway would. Rounds
are interleaved and the median taken, so a noisy neighbour hits every row alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import machine
from crypto.bench_sign import rate

from creditlink.gateway.bootstrap import create_dev_federation
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.ids import report_no
from creditlink.sdk.reports import (
    ReportBundle,
    UsePurpose,
    make_bundle,
    sign_report_statement,
    verify_report_offline,
)
from creditlink.sdk.tlog import (
    Checkpoint,
    Frontier,
    MemoryNodeStore,
    inclusion_proof,
    leaf_hash,
    sign_note,
)
from creditlink.sdk.trust import TrustBundle
from creditlink.v1 import common_pb2, record_pb2, report_pb2
from tests.gateway.statements import penalty_record

ZJ = "zj-330000"
COMPANY = "91330100MA27XL0A6Q"


def _report(issued: datetime, records: int) -> report_pb2.CreditReport:
    pb = report_pb2.CreditReport(
        report_number=report_no.generate("330000", issued.date(), f"{records + 1:010d}"),
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
    for category in record_pb2.RecordCategory.values():
        if category:
            count = records if category == record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY else 0
            pb.summary.counts.add(category=category, count=count)
    if records:
        section = pb.record_sections.add(category=record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY)
        for n in range(records):
            item = section.items.add(message_id=f"m-{n}")
            item.record.CopyFrom(penalty_record(uscc=COMPANY))
    return pb


def _bundle(folder: Path, issued: datetime, records: int) -> tuple[ReportBundle, TrustBundle]:
    fed = create_dev_federation(folder)
    node = fed.node(ZJ).credentials
    envelope = sign_report_statement(
        _report(issued, records),
        signing_key=node.signing_key,
        sender_node_id=ZJ,
        recipient_node_ids=[ZJ],
    )
    leaves = [leaf_hash(f"entry {i}".encode()) for i in range(1000)]
    leaves.append(leaf_hash(pae(envelope.payload_type, envelope.payload)))
    leaves.extend(leaf_hash(f"later {i}".encode()) for i in range(23))
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
    bundle = make_bundle(
        envelope.to_bytes(),
        1000,
        inclusion_proof(1000, frontier.size, store),
        note,
        tree_size=frontier.size,
        log_node_id=ZJ,
    )
    return bundle, fed.node("gd-440000").operator.trust_bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    rows: list[tuple[str, int, Callable[[], float], Callable[[], float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for records in (0, 10, 60):
            issued = datetime.now(UTC) - timedelta(minutes=5)
            bundle, trust = _bundle(Path(tmp) / f"fed-{records}", issued, records)
            result = verify_report_offline(bundle, trust, purpose=UsePurpose.BIDDING)
            assert result.recognized, result.failures
            envelope = bundle.envelope
            message = pae(envelope.payload_type, envelope.payload)
            key = trust.signing_keys(ZJ, kind="report", at=issued)[0]
            raw = serialization.load_der_public_key(key.public_bytes)
            assert isinstance(raw, Ed25519PublicKey)
            signature = envelope.signatures[0].sig

            def ceiling(
                raw: Ed25519PublicKey = raw, sig: bytes = signature, msg: bytes = message
            ) -> float:
                return rate(lambda: raw.verify(sig, msg), args.seconds)

            def offline(bundle: ReportBundle = bundle, trust: TrustBundle = trust) -> float:
                return rate(
                    lambda: verify_report_offline(bundle, trust, purpose=UsePurpose.BIDDING),
                    args.seconds,
                )

            rows.append((f"{records} records", len(envelope.payload), ceiling, offline))

        results: dict[str, tuple[list[float], list[float]]] = {r[0]: ([], []) for r in rows}
        for _ in range(args.rounds):
            for label, _, ceiling, offline in rows:
                results[label][0].append(ceiling())
                results[label][1].append(offline())

    print(machine())
    print()
    print("| report | payload | raw Ed25519 verify/s | verify_report_offline/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    for label, size, _, _ in rows:
        raw_rate = statistics.median(results[label][0])
        offline_rate = statistics.median(results[label][1])
        print(
            f"| {label} | {size / 1024:.1f} KB | {raw_rate:,.0f} | {offline_rate:,.0f} | "
            f"**{offline_rate / raw_rate:.2f}** |"
        )
    print()
    print("target (issue 6): verify_report_offline >= 0.5x raw Ed25519 verification")


if __name__ == "__main__":
    main()
