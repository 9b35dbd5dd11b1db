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
from creditlink.sdk.reports import (
    ReportBundle,
    UsePurpose,
    verify_report_offline,
)
from creditlink.sdk.trust import TrustBundle
from tests.report_bundles import ZJ, report_bundle


def _bundle(folder: Path, issued: datetime, records: int) -> tuple[ReportBundle, TrustBundle]:
    fed = create_dev_federation(folder)
    bundle = report_bundle(fed, issued, records=records, before=1000, after=23)
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
