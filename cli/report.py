"""``creditlink report``: credit reports as their holders and verifiers handle them.

::

    creditlink report verify FILE (--credentials DIR | --trust-bundle FILE --roots PEM
                                   [--threshold N])
                                  [--purpose PURPOSE] [--subject USCC] [--status STATUS]
                                  [--at TIME] [--json]

``verify`` checks a report bundle file (docs/spec/report.md) offline, with no network, against
every mutual recognition rule, and prints the result and one line per rule: ``ok``, ``FAIL``
with the reason code, or ``--`` when the rule was not checked. The trust bundle it checks
against must itself be verified against root keys pinned out of band: either those of a
credentials directory (``--credentials DIR``: its ``trust/bundle.json`` against its
``trust/roots.pem``, as every other command does), or a trust bundle file (DSSE JSON) with a PEM
file of root public keys and the number of them that must have signed (``--threshold``,
default 1; the bundle's own root threshold applies too). An expired trust bundle is still read,
so that the result can say so (``TRUST_BUNDLE_EXPIRED``).

Offline, nobody can tell whether the issuer has since revoked or superseded the report: the
``status`` rule is reported as not checked unless ``--status`` passes what the issuing gateway
said. ``--purpose`` is what the report is presented for (its own purpose otherwise),
``--subject`` the company it must be about, ``--at`` the instant to check it for (default now).

Exit status: 0 only when the report is recognized; 1 when it is not (including a file that is
not a report bundle: reason ``MALFORMED``); 2 for a usage error (bad option, unreadable file,
a trust bundle or credentials directory that does not verify).

``report issue`` (``--credentials DIR --target HOST:PORT --subject USCC --purpose PURPOSE -o
FILE``) arrives with the gateway's ReportService: it adds a parser next to ``verify`` in
:func:`register`, writing the :class:`~creditlink.sdk.reports.ReportBundle` it gets back.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

from creditlink.sdk import envelope as dsse
from creditlink.sdk.credentials import InvalidCredentials, read_trust_bundle
from creditlink.sdk.errors import InvalidEnvelope, InvalidKey, InvalidTrustBundle
from creditlink.sdk.ids import InvalidIdentifier, validate_uscc
from creditlink.sdk.ids import report_no as report_numbers
from creditlink.sdk.keys import PublicKey
from creditlink.sdk.reports import (
    MAX_BUNDLE_JSON_BYTES,
    Finding,
    InvalidReportBundle,
    Outcome,
    RecognitionReason,
    RecognitionResult,
    ReportBundle,
    ReportStatus,
    Rule,
    UsePurpose,
    verify_report_offline,
)
from creditlink.sdk.trust import (
    TRUST_BUNDLE_PAYLOAD_TYPE,
    TrustBundle,
    read_trust_bundle_envelope,
)
from creditlink.v1 import trust_pb2

__all__ = ["EXIT_NOT_RECOGNIZED", "EXIT_RECOGNIZED", "EXIT_USAGE", "register"]

#: The report is recognized.
EXIT_RECOGNIZED: Final = 0
#: The report is not recognized (or the file is not a report bundle).
EXIT_NOT_RECOGNIZED: Final = 1
#: Bad arguments or unusable trust material: nothing was checked.
EXIT_USAGE: Final = 2

_PEM_PUBLIC_KEY: Final = re.compile(
    rb"-----BEGIN PUBLIC KEY-----\r?\n.+?\r?\n-----END PUBLIC KEY-----\r?\n?", re.DOTALL
)
_MAX_ROOTS_FILE: Final = 1024 * 1024
_MARKS: Final = {Outcome.PASSED: "ok", Outcome.FAILED: "FAIL", Outcome.NOT_CHECKED: "--"}


class _UsageError(Exception):
    """A problem with the command line or the trust material: exit status 2."""


def register(sub: Any) -> None:
    """Add ``report`` (``verify``; ``issue`` later) to ``sub``, an argparse subparsers action."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="verify credit reports (report bundles) for cross-regional recognition",
        description="Verify portable credit reports (report bundle files).",
    )
    commands = parser.add_subparsers(dest="report_command", metavar="COMMAND", required=True)
    _register_verify(commands)
    # ``issue`` (ReportService.IssueReport) registers here once the gateway serves it.


def _register_verify(commands: Any) -> None:
    verify: argparse.ArgumentParser = commands.add_parser(
        "verify",
        help="check a report bundle offline against the mutual recognition rules",
        description=(
            "Check a report bundle file offline against every mutual recognition rule; exit 0 "
            "only when the report is recognized, 1 when it is not, 2 for a usage error."
        ),
    )
    verify.add_argument("file", type=Path, metavar="FILE", help="the report bundle (JSON)")
    trust = verify.add_mutually_exclusive_group(required=True)
    trust.add_argument(
        "--credentials",
        type=Path,
        metavar="DIR",
        help="use the verified trust bundle of this credentials directory",
    )
    trust.add_argument(
        "--trust-bundle",
        type=Path,
        metavar="FILE",
        help="a trust bundle file (DSSE JSON); needs --roots",
    )
    verify.add_argument(
        "--roots",
        type=Path,
        metavar="PEM",
        help="federation root public keys (PEM) pinned out of band, to verify --trust-bundle",
    )
    verify.add_argument(
        "--threshold",
        type=int,
        default=1,
        metavar="N",
        help="how many of the --roots keys must have signed the trust bundle (default 1)",
    )
    verify.add_argument(
        "--purpose",
        type=_purpose,
        metavar="PURPOSE",
        help="what the report is presented for: " + ", ".join(p.label for p in UsePurpose),
    )
    verify.add_argument(
        "--subject", type=_subject, metavar="USCC", help="the subject the report must be about"
    )
    verify.add_argument(
        "--status",
        type=_status,
        metavar="STATUS",
        help="the report's status as its issuer reported it: valid, revoked, superseded, expired",
    )
    verify.add_argument(
        "--at",
        type=_instant,
        metavar="TIME",
        help="check as of this ISO 8601 instant with a time zone (default: now)",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(run=_verify)


# -- argument types (argparse turns their ValueError into a usage error, exit 2) ---------------


def _purpose(text: str) -> UsePurpose:
    try:
        return UsePurpose.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _subject(text: str) -> str:
    try:
        return validate_uscc(text)
    except InvalidIdentifier as exc:
        raise argparse.ArgumentTypeError(f"not a valid USCC: {exc.message}") from None


def _status(text: str) -> ReportStatus:
    try:
        return ReportStatus[text.strip().upper()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            "one of: " + ", ".join(s.name.lower() for s in ReportStatus)
        ) from None


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +08:00)")
    return when.astimezone(UTC)


# -- verify ---------------------------------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    # The trust bundle is verified as of the real time (it is the verifier's present trust);
    # the report is checked as of --at, which defaults to that same instant.
    current = datetime.now(UTC)
    now: datetime = args.at or current
    try:
        trust = _trust_bundle(args, current)
        data = _read_bundle_file(args.file)
    except _UsageError as exc:
        print(f"creditlink report verify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        bundle = ReportBundle.from_json(data) if data is not None else None
        problem = "" if bundle is not None else f"larger than {MAX_BUNDLE_JSON_BYTES} bytes"
    except InvalidReportBundle as exc:
        bundle, problem = None, exc.message
    if bundle is None:
        result = _not_a_bundle(problem, now, trust)
    else:
        result = verify_report_offline(
            bundle,
            trust,
            purpose=args.purpose,
            subject=args.subject,
            status=args.status,
            now=now,
        )
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_result(result, bundle, sys.stdout)
    return EXIT_RECOGNIZED if result.recognized else EXIT_NOT_RECOGNIZED


def _read_bundle_file(path: Path) -> bytes | None:
    """The file's bytes; None when it is too large to be a bundle (checked before reading)."""
    try:
        if path.stat().st_size > MAX_BUNDLE_JSON_BYTES:
            return None
        return path.read_bytes()
    except OSError as exc:
        raise _UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _not_a_bundle(problem: str, now: datetime, trust: TrustBundle) -> RecognitionResult:
    # A file that is not a report bundle is a report that is not recognized, for reason
    # MALFORMED (CXP-REPORT-006), not a usage error: it is what the holder presented.
    findings = tuple(
        Finding(
            rule, Outcome.FAILED, RecognitionReason.MALFORMED, f"not a report bundle: {problem}"
        )
        if rule is Rule.FORMAT
        else Finding(rule, Outcome.NOT_CHECKED, None, "not checked: not a report bundle")
        for rule in Rule
    )
    return RecognitionResult(
        recognized=False,
        findings=findings,
        report_number="",
        issuer_node_id="",
        status=None,
        checked_at=now,
        trust_bundle_version=trust.version,
    )


def _trust_bundle(args: argparse.Namespace, now: datetime) -> TrustBundle:
    """The verified trust bundle to check against (an expired one too; the result says so)."""
    if args.credentials is not None:
        if args.roots is not None:
            raise _UsageError("--roots goes with --trust-bundle, not --credentials")
        try:
            return read_trust_bundle(args.credentials, now=now, allow_expired=True)
        except InvalidCredentials as exc:
            raise _UsageError(str(exc)) from None
    if args.roots is None:
        raise _UsageError("--trust-bundle needs --roots PEM (the pinned federation root keys)")
    roots = _read_roots(args.roots)
    if not 1 <= args.threshold <= len(roots):
        raise _UsageError(
            f"--threshold {args.threshold} is not between 1 and the {len(roots)} root key(s)"
        )
    try:
        env = read_trust_bundle_envelope(args.trust_bundle)
    except OSError as exc:
        raise _UsageError(f"cannot read {args.trust_bundle}: {exc.strerror or exc}") from None
    except InvalidTrustBundle as exc:
        raise _UsageError(f"{exc}") from None
    try:
        return TrustBundle.from_envelope(
            env, trusted_roots=roots, threshold=args.threshold, now=now
        )
    except InvalidTrustBundle as exc:
        if exc.reason != "TRUST_BUNDLE_EXPIRED":
            raise _UsageError(f"{args.trust_bundle}: {exc}") from None
    # Expired: verify the pinned signatures before reading anything, then verify the whole
    # bundle again as of its issue time, so that the check can report TRUST_BUNDLE_EXPIRED.
    try:
        pb = dsse.verify_message(
            env,
            keys=roots,
            expected_type=TRUST_BUNDLE_PAYLOAD_TYPE,
            message_type=trust_pb2.TrustBundle,
            threshold=args.threshold,
        )
        issued_at = pb.issued_at.ToDatetime(tzinfo=UTC)
        return TrustBundle.from_envelope(
            env, trusted_roots=roots, threshold=args.threshold, now=issued_at
        )
    except (InvalidEnvelope, InvalidTrustBundle) as exc:
        raise _UsageError(f"{args.trust_bundle}: {exc}") from None


def _read_roots(path: Path) -> list[PublicKey]:
    try:
        if path.stat().st_size > _MAX_ROOTS_FILE:
            raise _UsageError(f"{path} is larger than {_MAX_ROOTS_FILE} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise _UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    roots: dict[PublicKey, None] = {}
    for index, block in enumerate(_PEM_PUBLIC_KEY.finditer(data), start=1):
        try:
            roots.setdefault(PublicKey.from_pem(block.group(0)), None)
        except InvalidKey as exc:
            raise _UsageError(f"{path}: key {index}: {exc.message}") from None
    if not roots:
        raise _UsageError(f"{path} holds no PUBLIC KEY PEM block")
    return list(roots)


# -- output ---------------------------------------------------------------------------------------


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _print_result(result: RecognitionResult, bundle: ReportBundle | None, out: TextIO) -> None:
    verdict = "RECOGNIZED" if result.recognized else "NOT RECOGNIZED"
    number = result.report_number
    shown = report_numbers.format(number) if report_numbers.is_valid(number) else number
    print(f"{verdict}  {shown or '(no verified report)'}", file=out)
    report = result.report
    rows: list[tuple[str, str]] = []
    if report is not None:
        subject = report.subject
        who = subject.uscc or subject.person_token
        rows.append(("issuer", report.issuer_node_id))
        rows.append(("subject", f"{subject.display_name} {who}".strip()))
        issued_for = (
            UsePurpose(report.purpose).label
            if report.purpose in {p.value for p in UsePurpose}
            else str(report.purpose)
        )
        rows.append(("purpose", issued_for))
        rows.append(
            (
                "valid",
                f"{_iso(report.valid_from.ToDatetime(tzinfo=UTC))} .. "
                f"{_iso(report.valid_until.ToDatetime(tzinfo=UTC))}",
            )
        )
    if bundle is not None:
        rows.append(
            ("log", f"{bundle.log_node_id}, leaf {bundle.leaf_index} of {bundle.tree_size}")
        )
    status = result.status.name if result.status is not None else "not known (offline)"
    rows.append(("status", status))
    rows.append(
        (
            "checked at",
            f"{_iso(result.checked_at)}, trust bundle version {result.trust_bundle_version}",
        )
    )
    for name, value in rows:
        print(f"  {name:<11} {value}", file=out)
    print(file=out)
    width = max(len(rule.value) for rule in Rule)
    for finding in result.findings:
        text = finding.message
        if finding.reason is not None:
            text = f"{finding.reason.name}: {text}"
        print(f"  {_MARKS[finding.outcome]:<4}  {finding.rule.value:<{width}}  {text}", file=out)
