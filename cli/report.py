"""``creditlink report``: credit reports as their issuers, holders and verifiers handle them.

::

    creditlink report issue --subject USCC|TOKEN --purpose PURPOSE -o FILE
                            --authority-uscc USCC [--authority-name NAME]
                            [--purpose-description TEXT]
                            --credentials DIR [--target HOST:PORT] [--gateway NODE_ID] [--json]
    creditlink report status NUMBER --credentials DIR [--target HOST:PORT] [--json]
    creditlink report revoke NUMBER --reason TEXT --credentials DIR [--target HOST:PORT]
    creditlink report verify FILE (--credentials DIR | --trust-bundle FILE --roots PEM
                                   [--threshold N])
                                  [--purpose PURPOSE] [--subject USCC]
                                  [--status STATUS | --online [--target HOST:PORT]]
                                  [--at TIME] [--json]

``issue`` orders a report from a gateway (``ReportService.IssueReport``): the gateway builds
it from what it holds about the subject, signs it with its node key and logs it. The order is
a ``report`` statement signed by the credentials' member (the platform's operator, who must
hold ISSUE_REPORTS for the subject's region) naming the subject, the purpose and the issuing
authority (the organization operating the platform: ``--authority-uscc``, and
``--authority-name``, by default the gateway's name in the trust bundle). The command then
fetches the report with its log proof (``GetReport``), checks it against every recognition rule
with the credentials' trust bundle and the status the gateway states, and only then writes the
report bundle to ``-o FILE``. ``status`` shows a report's current status at its issuing gateway
(with the signed reason of a revocation or supersession); ``revoke`` orders the gateway to
revoke a report it issued, with a reason. ``--target`` defaults to the first endpoint of the
credentials' manifest; ``--gateway`` names the gateway's node id when the trust bundle lists
no node at that address.

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
said, or ``--online`` asks it (``GetReport`` at the bundle's log node, over mutual TLS with
``--credentials``; the only network use of ``verify``). ``--purpose`` is what the report is
presented for (its own purpose otherwise), ``--subject`` the company it must be about, ``--at``
the instant to check it for (default now).

Exit status: 0 only when the report is recognized (``verify``) or the call succeeded; 1 when
it is not recognized (including a file that is not a report bundle: reason ``MALFORMED``), the
gateway refused or could not be reached, or what it returned did not verify; 2 for a usage
error (bad option, unreadable file, a trust bundle or credentials directory that does not
verify).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

import grpc
from google.protobuf.message import DecodeError

from creditlink.sdk import envelope as dsse
from creditlink.sdk.client import Client, default_target
from creditlink.sdk.credentials import Credentials, InvalidCredentials, read_trust_bundle
from creditlink.sdk.errors import (
    CreditlinkError,
    InvalidEnvelope,
    InvalidKey,
    InvalidTrustBundle,
    VerificationError,
    from_grpc_error,
)
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
from creditlink.v1 import (
    report_pb2,
    statement_pb2,
    trust_pb2,
)

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
    """Add ``report`` (``issue``, ``status``, ``revoke``, ``verify``) to ``sub``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="issue credit reports and verify them for cross-regional recognition",
        description="Issue, revoke and verify portable credit reports (report bundle files).",
    )
    commands = parser.add_subparsers(dest="report_command", metavar="COMMAND", required=True)
    _register_issue(commands)
    _register_status(commands)
    _register_revoke(commands)
    _register_verify(commands)


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
        "--online",
        action="store_true",
        help="ask the issuing gateway for the report's status (needs --credentials)",
    )
    verify.add_argument(
        "--target",
        default=None,
        metavar="HOST:PORT",
        help="with --online: the issuing gateway's address (default: from the trust bundle)",
    )
    verify.add_argument(
        "--timeout", type=float, default=30.0, help="with --online: seconds to wait for it"
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
        if args.online and (args.credentials is None or args.status is not None):
            raise _UsageError("--online needs --credentials and replaces --status")
        if args.target is not None and not args.online:
            raise _UsageError("--target goes with --online")
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
        status = args.status
        if args.online:
            try:
                status = _status_online(args, bundle)
            except (_UsageError, CreditlinkError) as exc:
                print(f"creditlink report verify: status not checked: {exc}", file=sys.stderr)
                return EXIT_NOT_RECOGNIZED
        result = verify_report_offline(
            bundle,
            trust,
            purpose=args.purpose,
            subject=args.subject,
            status=status,
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


# -- issue, status, revoke: calls to a gateway's ReportService ----------------------------------

_PROG: Final = "creditlink report"
_PERSON_TOKEN: Final = re.compile(r"pn[0-9]{1,3}:[A-Za-z0-9_-]{22,128}")


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--credentials",
        type=Path,
        required=True,
        metavar="DIR",
        help="credentials directory to sign and connect with",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="HOST:PORT",
        help="gateway address (default: the first endpoint in the credentials' manifest)",
    )
    parser.add_argument(
        "--gateway",
        default=None,
        metavar="NODE_ID",
        help="the gateway's node id (default: the node the trust bundle lists at --target)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for each answer"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _register_issue(commands: Any) -> None:
    issue: argparse.ArgumentParser = commands.add_parser(
        "issue",
        help="order a credit report from a gateway and write its report bundle",
        description=(
            "Order a report on a subject for a purpose from a gateway, which builds, signs and "
            "logs it; check the result against every recognition rule and write the report "
            "bundle (JSON) to -o FILE."
        ),
    )
    issue.add_argument(
        "--subject",
        required=True,
        type=_subject_or_token,
        metavar="USCC|TOKEN",
        help="the subject: a USCC, or a person token (pn1:...)",
    )
    issue.add_argument(
        "--purpose",
        required=True,
        type=_purpose,
        metavar="PURPOSE",
        help="what the report is for: " + ", ".join(p.label for p in UsePurpose),
    )
    issue.add_argument(
        "--purpose-description",
        default="",
        metavar="TEXT",
        help="the purpose in words (required for purpose 'other'), e.g. the project",
    )
    issue.add_argument(
        "--authority-uscc",
        required=True,
        type=_subject,
        metavar="USCC",
        help="USCC of the authority operating the issuing platform (the report's issuer)",
    )
    issue.add_argument(
        "--authority-name",
        default=None,
        metavar="NAME",
        help="its name (default: the gateway's name in the trust bundle)",
    )
    issue.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help="report bundle to write"
    )
    _connection(issue)
    issue.set_defaults(run=_calls(_run_issue))


def _register_status(commands: Any) -> None:
    status: argparse.ArgumentParser = commands.add_parser(
        "status",
        help="show a report's current status at its issuing gateway",
        description="Show a report's current status, validity and any signed status change.",
    )
    status.add_argument("number", type=_report_number, metavar="NUMBER", help="report number")
    _connection(status)
    status.set_defaults(run=_calls(_run_status))


def _register_revoke(commands: Any) -> None:
    revoke: argparse.ArgumentParser = commands.add_parser(
        "revoke",
        help="order the issuing gateway to revoke a report, with a reason",
        description="Revoke a report the gateway issued (a logged, signed status change).",
    )
    revoke.add_argument("number", type=_report_number, metavar="NUMBER", help="report number")
    revoke.add_argument("--reason", required=True, metavar="TEXT", help="why (logged, signed)")
    _connection(revoke)
    revoke.set_defaults(run=_calls(_run_revoke))


def _subject_or_token(text: str) -> str:
    if text.strip().startswith("pn"):
        if not _PERSON_TOKEN.fullmatch(text.strip()):
            raise argparse.ArgumentTypeError("not a person token (pn<version>:<token>)")
        return text.strip()
    return _subject(text)


def _report_number(text: str) -> str:
    try:
        return report_numbers.validate(text)
    except InvalidIdentifier as exc:
        raise argparse.ArgumentTypeError(f"not a report number: {exc.message}") from None


def _calls(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Map the failures of a command that calls a gateway to its exit status and a message."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except _UsageError as exc:
            print(f"{_PROG} {args.report_command}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except grpc.RpcError as exc:
            error = from_grpc_error(exc)
        except CreditlinkError as exc:
            error = exc
        print(f"{_PROG} {args.report_command}: {error.reason}: {error.message}", file=sys.stderr)
        for violation in getattr(error, "field_violations", ()):
            print(f"  {violation.field}: {violation.description}", file=sys.stderr)
        return EXIT_NOT_RECOGNIZED

    return wrapper


def _client(args: argparse.Namespace) -> Client:
    """A client of the gateway at ``--target`` (by default the credentials' first endpoint)."""
    try:
        creds = Credentials.load(args.credentials)
        target = args.target or default_target(creds)
        return Client(target, creds, gateway=args.gateway)
    except (InvalidCredentials, ValueError) as exc:
        raise _UsageError(str(exc)) from None


def _status_of(report: report_pb2.CreditReport) -> ReportStatus | None:
    value = int(report.status)
    return ReportStatus(value) if value in {s.value for s in ReportStatus} else None


def _run_issue(args: argparse.Namespace) -> int:
    with _client(args) as client:
        # Issued, read back with its log proof and recognized offline under the credentials'
        # trust bundle before anything is written (the SDK raises REPORT_NOT_RECOGNIZED).
        issued = client.issue_report(
            args.subject,
            args.purpose,
            authority_uscc=args.authority_uscc,
            authority_name=args.authority_name,
            purpose_description=args.purpose_description,
            timeout=args.timeout,
        )
    bundle, result, number = issued.bundle, issued.result, issued.report.report_number
    try:
        args.output.write_text(bundle.to_json(), encoding="utf-8")
    except OSError as exc:
        raise _UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    report = issued.report
    if args.json:
        print(
            json.dumps(
                {
                    "reportNumber": number,
                    "issuer": report.issuer_node_id,
                    "subject": report.subject.uscc or report.subject.person_token,
                    "purpose": args.purpose.label,
                    "validFrom": _iso(report.valid_from.ToDatetime(tzinfo=UTC)),
                    "validUntil": _iso(report.valid_until.ToDatetime(tzinfo=UTC)),
                    "logNodeId": bundle.log_node_id,
                    "leafIndex": bundle.leaf_index,
                    "treeSize": bundle.tree_size,
                    "file": str(args.output),
                },
                ensure_ascii=False,
            )
        )
        return EXIT_RECOGNIZED
    who = report.subject.uscc or report.subject.person_token
    name = f" ({report.subject.display_name})" if report.subject.display_name else ""
    print(f"issued {report_numbers.format(number)} by {report.issuer_node_id} for {who}{name}")
    rows = [
        ("purpose", args.purpose.label),
        (
            "valid",
            f"{_iso(report.valid_from.ToDatetime(tzinfo=UTC))} .. "
            f"{_iso(report.valid_until.ToDatetime(tzinfo=UTC))}",
        ),
        ("log", f"{bundle.log_node_id}, leaf {bundle.leaf_index} of {bundle.tree_size}"),
        ("recognized", f"yes (trust bundle version {result.trust_bundle_version})"),
        ("bundle", str(args.output)),
    ]
    for label, value in rows:
        print(f"  {label:<11} {value}")
    return EXIT_RECOGNIZED


def _run_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        fetched = client.get_report(args.number, timeout=args.timeout)
    # The SDK verified every provenance statement and that the first is this report as
    # signed (all but its status, which the gateway derives).
    report = fetched.value
    if report.report_number != args.number:
        raise VerificationError("the gateway answered for another report", reason="WRONG_REPORT")
    status = _status_of(report)
    change: report_pb2.ReportStatusChange | None = None
    for provenance in fetched.provenance[1:]:
        statement = provenance.entry.statement
        if statement.WhichOneof("body") == "report_status_change":
            change = statement.report_status_change
    document: dict[str, object] = {
        "reportNumber": args.number,
        "status": status.name if status is not None else "UNKNOWN",
        "issuer": report.issuer_node_id,
        "subject": report.subject.uscc or report.subject.person_token,
        "purpose": UsePurpose(report.purpose).label,
        "validFrom": _iso(report.valid_from.ToDatetime(tzinfo=UTC)),
        "validUntil": _iso(report.valid_until.ToDatetime(tzinfo=UTC)),
    }
    if change is not None:
        document["statusChange"] = {
            "newStatus": report_pb2.ReportStatus.Name(change.new_status).removeprefix(
                "REPORT_STATUS_"
            ),
            "reason": change.reason,
            "effectiveAt": _iso(change.effective_at.ToDatetime(tzinfo=UTC)),
            "supersededBy": change.superseded_by_report_number,
            "signature": "verified",
        }
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return EXIT_RECOGNIZED
    print(f"{report_numbers.format(args.number)}  {document['status']}")
    for label, key in (
        ("issuer", "issuer"),
        ("subject", "subject"),
        ("purpose", "purpose"),
        ("valid from", "validFrom"),
        ("valid until", "validUntil"),
    ):
        print(f"  {label:<12} {document[key]}")
    if change is not None:
        print(f"  {'changed at':<12} {_iso(change.effective_at.ToDatetime(tzinfo=UTC))}")
        print(f"  {'reason':<12} {change.reason} (signed by {report.issuer_node_id}, verified)")
        if change.superseded_by_report_number:
            shown = report_numbers.format(change.superseded_by_report_number)
            print(f"  {'replaced by':<12} {shown}")
    return EXIT_RECOGNIZED


def _run_revoke(args: argparse.Namespace) -> int:
    with _client(args) as client:
        written = client.revoke_report(args.number, args.reason, timeout=args.timeout)
    status = _status_of(written.value) if written.value is not None else None
    shown = status.name if status is not None else "UNKNOWN"
    if args.json:
        print(json.dumps({"reportNumber": args.number, "status": shown}))
    else:
        print(f"{report_numbers.format(args.number)}  {shown}")
    return EXIT_RECOGNIZED


def _status_online(args: argparse.Namespace, bundle: ReportBundle) -> ReportStatus:
    """The status the issuing gateway states for the bundle's report (``verify --online``)."""
    try:
        creds = Credentials.load(args.credentials)
    except InvalidCredentials as exc:
        raise _UsageError(str(exc)) from None
    # The number is read from the payload before it is verified: only to ask about it. The
    # offline rules then verify every byte, so a forged number only yields a failed check.
    number = _number_hint(bundle)
    if not number:
        raise _UsageError("the bundle's payload names no report number to ask about")
    target = args.target
    if target is None:
        try:
            endpoints = creds.trust_bundle.node(bundle.log_node_id).endpoints
        except KeyError:
            endpoints = ()
        if not endpoints:
            raise _UsageError(f"the trust bundle lists no endpoint for {bundle.log_node_id}")
        target = endpoints[0]
    with Client(target, creds) as client:
        report = client.get_report(number, timeout=args.timeout).value
    status = _status_of(report)
    if report.report_number != number or status is None:
        raise VerificationError(
            f"{target} answered without a status for {number}", reason="WRONG_REPORT"
        )
    return status


def _number_hint(bundle: ReportBundle) -> str:
    env = bundle.envelope
    try:
        statement = statement_pb2.Statement.FromString(env.payload)
    except DecodeError:
        return ""
    number = statement.report.report_number
    return number if report_numbers.is_valid(number) else ""
