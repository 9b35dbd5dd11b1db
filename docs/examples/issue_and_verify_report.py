"""Issue a credit report, save its portable bundle, and verify it offline and online.

A company bidding for a procurement in another province asks its local credit platform for a
credit report. ``Client.issue_report`` has the gateway build, sign and log the report, reads
it back with its log proof and checks it as any relying party would. The report's portable
form is a **report bundle** (the signed report, its inclusion proof and a signed checkpoint of
the log, docs/spec/report.md), saved here as JSON.

The procurement agency that receives the file recognizes it in two ways:

- offline, with nothing but the federation's trust bundle: ``verify_report_offline`` runs
  every recognition rule (signature, issuer, key validity, log inclusion, validity, purpose,
  subject...) and reports each finding;
- online, by asking its own gateway: ``Client.verify_report`` (with the bundle, or with only
  the report number printed on the paper report), which also knows whether the report was
  revoked or superseded since.

Run it against a development gateway (``creditlink serve`` in another terminal); after
``push_records.py`` the report has a penalty section, after ``mirror_name_lists.py
--demo-listing`` a listing too::

    python docs/examples/issue_and_verify_report.py --credentials .creditlink/operator

It exits with 0 when the report is recognized both ways, else 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from creditlink.sdk import Client
from creditlink.sdk.credentials import read_trust_bundle
from creditlink.sdk.reports import ReportBundle, UsePurpose, verify_report_offline
from creditlink.v1 import report_pb2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--credentials", required=True, help="a credentials directory")
    parser.add_argument("--target", help="host:port of the gateway (default: the manifest's)")
    parser.add_argument("--subject", default="91330108MA2CDRLU5H", help="the subject's USCC")
    parser.add_argument("--purpose", type=UsePurpose.parse, default=UsePurpose.BIDDING)
    parser.add_argument("--out", type=Path, default=Path("report.json"), help="bundle file")
    args = parser.parse_args(argv)
    subject, purpose = args.subject, args.purpose

    with Client.from_credentials(args.credentials, target=args.target) as client:
        # 1. The platform issues the report (the authority operating it signs as issuer).
        issued = client.issue_report(
            subject,
            purpose,
            authority_uscc="12330000MB0U88871K",
            authority_name="浙江省信用中心",
            purpose_description="参加招标投标活动",
        )
        report = issued.report
        print(f"issued {report.report_number} on {subject} for {purpose.label}")
        print(f"  {report.summary.text or 'no summary'}")
        print(f"  valid until {report.valid_until.ToDatetime():%Y-%m-%d}")
        args.out.write_text(issued.bundle.to_json(), encoding="utf-8")
        print(f"  bundle saved to {args.out}")

        # 2. The agency checks the file offline, with the federation's trust bundle (here the
        # one in the credentials directory, verified against its pinned root keys).
        trust = read_trust_bundle(args.credentials)
        bundle = ReportBundle.from_json(args.out.read_bytes())
        offline = verify_report_offline(bundle, trust, purpose=purpose, subject=subject)
        print(f"offline: recognized={offline.recognized}")
        for finding in offline.findings:
            code = finding.reason.name if finding.reason else ""
            print(f"  {finding.rule.value:13} {finding.outcome.value} {code}".rstrip())

        # 3. ... or asks its gateway, which also knows the report's current status.
        online = client.verify_report(bundle, purpose=purpose, subject=subject)
        by_number = client.verify_report(report.report_number, purpose=purpose)
        print(f"online: recognized={online.recognized}, by number={by_number.recognized}")
        for reason, message in zip(online.reasons, online.messages, strict=True):
            print(f"  {report_pb2.RecognitionReason.Name(reason)}: {message}")

    return 0 if offline.recognized and online.recognized and by_number.recognized else 1


if __name__ == "__main__":
    raise SystemExit(main())
