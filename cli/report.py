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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

import grpc
from google.protobuf.message import DecodeError, Message

from creditlink.sdk import envelope as dsse
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
from creditlink.sdk.keys import PublicKey, SealingPublicKey
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
    make_bundle,
    verify_report_offline,
)
from creditlink.sdk.seal import ENVELOPE_CONTENT_TYPE, Recipient, seal
from creditlink.sdk.trust import (
    TRUST_BUNDLE_PAYLOAD_TYPE,
    TrustBundle,
    read_trust_bundle_envelope,
)
from creditlink.v1 import (
    common_pb2,
    envelope_pb2,
    report_pb2,
    report_service_pb2,
    report_service_pb2_grpc,
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


@dataclass(frozen=True)
class _Gateway:
    """The caller's credentials and the gateway it talks to."""

    creds: Credentials
    target: str
    node_id: str

    @property
    def trust(self) -> TrustBundle:
        return self.creds.trust_bundle

    def stub(self, channel: grpc.Channel) -> report_service_pb2_grpc.ReportServiceStub:
        return report_service_pb2_grpc.ReportServiceStub(channel)

    def channel(self) -> grpc.Channel:
        return grpc.secure_channel(self.target, self.creds.channel_credentials())

    def sealed(self, body: Message) -> tuple[str, envelope_pb2.SealedEnvelope]:
        """``body`` as a statement to the gateway alone: signed, sealed; with its request id."""
        statement = statement_pb2.Statement()
        getattr(statement, _BODIES[body.DESCRIPTOR.full_name]).CopyFrom(body)
        header = statement.header
        header.message_id = str(uuid.uuid4())
        header.request_id = str(uuid.uuid4())
        header.sender_node_id = self.creds.node_id
        header.recipient_node_ids.append(self.node_id)
        now = datetime.now(UTC)
        header.created_at.FromDatetime(now)
        kind = _BODIES[body.DESCRIPTOR.full_name].replace("_", "-")
        signed = dsse.sign(
            statement.SerializeToString(deterministic=True),
            dsse.payload_type_for(kind),
            [self.creds.signing_key],
        )
        key = self.trust.sealing_key(self.node_id, at=now).public_key
        assert isinstance(key, SealingPublicKey)  # SEAL records hold sealing keys
        sealed = seal(
            signed.to_bytes(),
            content_type=ENVELOPE_CONTENT_TYPE,
            sender_node_id=self.creds.node_id,
            recipients=[Recipient(node_id=self.node_id, key=key)],
            now=now,
        )
        return header.request_id, sealed.to_proto()


_BODIES: Final = {
    report_pb2.CreditReport.DESCRIPTOR.full_name: "report",
    report_pb2.ReportStatusChange.DESCRIPTOR.full_name: "report_status_change",
}


def _gateway(args: argparse.Namespace) -> _Gateway:
    try:
        creds = Credentials.load(args.credentials)
    except InvalidCredentials as exc:
        raise _UsageError(str(exc)) from None
    target = args.target or (creds.endpoints[0] if creds.endpoints else None)
    if target is None:
        raise _UsageError(f"{args.credentials} names no gateway endpoint: pass --target")
    node_id = args.gateway
    if node_id is None:
        listed = [n.node_id for n in creds.trust_bundle.nodes() if target in n.endpoints]
        if len(listed) != 1:
            raise _UsageError(f"the trust bundle lists no gateway at {target}: pass --gateway")
        node_id = listed[0]
    try:
        if not creds.trust_bundle.node(node_id).log_origin:
            raise _UsageError(f"{node_id} keeps no log: it is not a gateway")
    except KeyError:
        raise _UsageError(f"{node_id!r} is not in the trust bundle") from None
    return _Gateway(creds=creds, target=target, node_id=node_id)


def _bundle_of(answer: report_service_pb2.GetReportResponse) -> ReportBundle:
    """The report bundle of a GetReport answer with proofs: its first provenance."""
    if not answer.provenance or not answer.provenance[0].HasField("inclusion_proof"):
        raise VerificationError("the gateway sent no log proof for the report", reason="NO_PROOF")
    first = answer.provenance[0]
    proof = first.inclusion_proof
    return make_bundle(
        first.entry.envelope.SerializeToString(),
        proof.leaf_index,
        list(proof.hashes),
        first.checkpoint.note,
        tree_size=proof.tree_size,
        log_node_id=first.gateway_node_id,
    )


def _status_of(report: report_pb2.CreditReport) -> ReportStatus | None:
    value = int(report.status)
    return ReportStatus(value) if value in {s.value for s in ReportStatus} else None


def _run_issue(args: argparse.Namespace) -> int:
    gw = _gateway(args)
    order = report_pb2.CreditReport(
        issuer_node_id=gw.node_id,
        purpose=common_pb2.UsePurpose.ValueType(args.purpose.value),
        purpose_description=args.purpose_description,
    )
    if args.subject.startswith("pn"):
        order.subject.person_token = args.subject
    else:
        order.subject.uscc = args.subject
    order.issuing_authority.uscc = args.authority_uscc
    order.issuing_authority.name = args.authority_name or gw.trust.node(gw.node_id).display_name
    request_id, sealed = gw.sealed(order)
    with gw.channel() as channel:
        stub = gw.stub(channel)
        issued = stub.IssueReport(
            report_service_pb2.IssueReportRequest(request_id=request_id, sealed_statement=sealed),
            timeout=args.timeout,
        )
        number = issued.report.report_number
        answer = stub.GetReport(
            report_service_pb2.GetReportRequest(report_number=number, include_proof=True),
            timeout=args.timeout,
        )
    bundle = _bundle_of(answer)
    result = verify_report_offline(
        bundle,
        gw.trust,
        purpose=args.purpose,
        subject=args.subject if not args.subject.startswith("pn") else None,
        status=_status_of(answer.report),
    )
    signed = result.report
    if not result.recognized or signed is None or not _same_report(signed, issued.report):
        _print_result(result, bundle, sys.stderr)
        raise VerificationError(
            f"the report {number} the gateway issued does not verify; nothing was written",
            reason="REPORT_NOT_RECOGNIZED",
        )
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


def _same_report(signed: report_pb2.CreditReport, answered: report_pb2.CreditReport) -> bool:
    """The answer is the signed report except for its status (the gateway's current one)."""
    copy = report_pb2.CreditReport()
    copy.CopyFrom(answered)
    copy.status = signed.status
    return copy == signed


def _verified_statement(
    trust: TrustBundle, provenance: statement_pb2.Provenance
) -> statement_pb2.Statement:
    """The statement of a provenance entry, its signature verified under its sender's keys
    valid when it was logged."""
    entry = provenance.entry
    if not entry.HasField("envelope"):
        raise VerificationError("a report statement is a single envelope", reason="NO_ENVELOPE")
    signed = dsse.Envelope.from_proto(entry.envelope)
    kind = _kind(signed.payload_type)
    keys = trust.signing_keys(
        entry.sender_node_id, kind=kind, at=entry.integrated_at.ToDatetime(tzinfo=UTC)
    )
    payload = dsse.verify(signed, keys=keys, expected_type=signed.payload_type)
    return statement_pb2.Statement.FromString(payload)


def _kind(payload_type: str) -> str:
    prefix, suffix = "application/vnd.creditlink.", ".v1+protobuf"
    if not (payload_type.startswith(prefix) and payload_type.endswith(suffix)):
        raise VerificationError(f"{payload_type!r} is not a CXP type", reason="WRONG_KIND")
    return payload_type[len(prefix) : -len(suffix)]


def _run_status(args: argparse.Namespace) -> int:
    gw = _gateway(args)
    with gw.channel() as channel:
        answer = gw.stub(channel).GetReport(
            report_service_pb2.GetReportRequest(report_number=args.number),
            timeout=args.timeout,
        )
    report = answer.report
    if report.report_number != args.number or not answer.provenance:
        raise VerificationError("the gateway answered for another report", reason="WRONG_REPORT")
    issued = _verified_statement(gw.trust, answer.provenance[0])
    if issued.WhichOneof("body") != "report" or not _same_report(issued.report, report):
        raise VerificationError(
            "the report differs from the signed statement", reason="PROVENANCE_MISMATCH"
        )
    status = _status_of(report)
    change: report_pb2.ReportStatusChange | None = None
    for provenance in answer.provenance[1:]:
        statement = _verified_statement(gw.trust, provenance)
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
    gw = _gateway(args)
    change = report_pb2.ReportStatusChange(
        report_number=args.number,
        new_status=report_pb2.REPORT_STATUS_REVOKED,
        reason=args.reason,
    )
    change.effective_at.FromDatetime(datetime.now(UTC))
    request_id, sealed = gw.sealed(change)
    with gw.channel() as channel:
        answer = gw.stub(channel).RevokeReport(
            report_service_pb2.RevokeReportRequest(request_id=request_id, sealed_statement=sealed),
            timeout=args.timeout,
        )
    status = _status_of(answer.report)
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
    try:
        with grpc.secure_channel(target, creds.channel_credentials()) as channel:
            answer = report_service_pb2_grpc.ReportServiceStub(channel).GetReport(
                report_service_pb2.GetReportRequest(report_number=number),
                timeout=args.timeout,
            )
    except grpc.RpcError as exc:
        raise from_grpc_error(exc) from None
    status = _status_of(answer.report)
    if answer.report.report_number != number or status is None:
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
