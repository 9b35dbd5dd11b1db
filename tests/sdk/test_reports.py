"""Tests for report bundles and offline recognition (docs/spec/report.md, CXP-REPORT-*).

Nothing under test is mocked: the keys, the trust bundle and the checkpoint keys come from a real
development federation (``create_dev_federation``), reports are real signed statements, and each
bundle's inclusion proof and checkpoint come from a real RFC 9162 log built with the SDK's tlog
library and signed with the log node's own checkpoint key, as ``gateway/ledger`` does.

Each recognition rule is broken on its own and must yield exactly its own reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import protovalidate
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.sdk import envelope as envelope_mod
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.envelope import Envelope, Signature, payload_type_for
from creditlink.sdk.ids import InvalidIdentifier, report_no
from creditlink.sdk.keys import PrivateKey, Purpose, load_private_key
from creditlink.sdk.reports import (
    DEFAULT_PURPOSE_RULES,
    MAX_BUNDLE_JSON_BYTES,
    REPORT_BUNDLE_MEDIA_TYPE,
    REPORT_PAYLOAD_TYPE,
    InvalidReportBundle,
    Outcome,
    PurposeRule,
    RecognitionReason,
    RecognitionResult,
    ReportBundle,
    ReportStatus,
    ReportVerifier,
    Rule,
    UsePurpose,
    make_bundle,
    sign_report_statement,
    verify_report_offline,
)
from creditlink.sdk.tlog import (
    Checkpoint,
    Frontier,
    MemoryNodeStore,
    NoteSigner,
    inclusion_proof,
    leaf_hash,
    sign_note,
)
from creditlink.sdk.trust import RevocationReason, TrustBundle, TrustBundleBuilder
from creditlink.v1 import common_pb2, record_pb2, report_pb2

R = RecognitionReason
ZJ, GD, HUB = "zj-330000", "gd-440000", "cn-hub"
ZJ_OPERATOR = "zj-330000-operator"
ZJ_COMPANY = "91330100MA27XL0A6Q"  # a Hangzhou company (region 330100)
GD_COMPANY = "91440300MA5G9B3K2R"  # a Shenzhen company (region 440300)
STANDARD = "public-credit-report-2022"
ALL_CATEGORIES = [c for c in record_pb2.RecordCategory.values() if c != 0]


# --------------------------------------------------------------------------------------------
# A real federation, real logs
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    return create_dev_federation(Path(tmp_path_factory.mktemp("reports-fed")))


@pytest.fixture(scope="module")
def trust(fed: DevFederation) -> TrustBundle:
    return fed.trust_bundle


@pytest.fixture(scope="module")
def issued(trust: TrustBundle) -> datetime:
    """Issue time of the reports: just after the federation's keys became valid."""
    return trust.issued_at + timedelta(minutes=1)


@pytest.fixture(scope="module")
def now(issued: datetime) -> datetime:
    """When the reports are checked: an hour after issuance."""
    return issued + timedelta(hours=1)


class Log:
    """A node's transparency log: RFC 9162 tree, checkpoints signed with its checkpoint key."""

    def __init__(self, node: Credentials, *, filler: int = 5) -> None:
        signer = node.checkpoint_key
        assert signer is not None
        self.node_id = node.node_id
        self.signer: NoteSigner = signer
        self.origin = node.node.log_origin
        self.store = MemoryNodeStore()
        self.frontier = Frontier()
        for i in range(filler):  # other entries, so that proofs have a real path
            self.append_data(f"other entry {i}".encode())

    def append_data(self, data: bytes) -> int:
        index = self.frontier.size
        self.frontier, runs = self.frontier.extend([leaf_hash(data)])
        self.store.add_runs(runs)
        return index

    def append(self, env: Envelope) -> int:
        # The leaf of a logged payload is PAE(payload_type, payload) (CXP-LOG-001).
        return self.append_data(pae(env.payload_type, env.payload))

    def checkpoint(self, signers: list[NoteSigner] | None = None, origin: str = "") -> str:
        body = Checkpoint(
            origin=origin or self.origin, size=self.frontier.size, root_hash=self.frontier.root()
        ).to_body()
        return sign_note(body, signers or [self.signer])

    def bundle(self, env: Envelope, index: int) -> ReportBundle:
        size = self.frontier.size
        return make_bundle(
            env.to_bytes(),
            index,
            inclusion_proof(index, size, self.store),
            self.checkpoint(),
            tree_size=size,
            log_node_id=self.node_id,
        )


@dataclass
class Kit:
    """Builds reports, signs them as a node and logs them in a node's log."""

    fed: DevFederation
    issued: datetime
    logs: dict[str, Log] = field(default_factory=dict)
    serial: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**9)))

    def creds(self, node_id: str) -> Credentials:
        if node_id.endswith("-operator"):
            return self.fed.node(node_id.removesuffix("-operator")).operator
        return self.fed.node(node_id).credentials

    def log(self, node_id: str) -> Log:
        if node_id not in self.logs:
            self.logs[node_id] = Log(self.creds(node_id))
        return self.logs[node_id]

    def report(
        self, issuer: str = ZJ, *, uscc: str = ZJ_COMPANY, **changes: object
    ) -> report_pb2.CreditReport:
        """A complete legal-person report issued by ``issuer`` at ``issued``."""
        region = self.creds(issuer).node.region_code
        number = report_no.generate(region, self.issued.date(), f"{next(self.serial):010d}")
        pb = report_pb2.CreditReport(
            report_number=number,
            report_type=report_pb2.REPORT_TYPE_LEGAL_PERSON,
            issuer_node_id=issuer,
            purpose=common_pb2.USE_PURPOSE_BIDDING,
            standard_version=STANDARD,
            notes="本报告仅供招标投标使用。",
            status=report_pb2.REPORT_STATUS_VALID,
        )
        pb.subject.uscc = uscc
        pb.subject.kind = common_pb2.SUBJECT_KIND_LEGAL_PERSON
        pb.subject.display_name = "杭州某某科技有限公司"
        pb.issuing_authority.name = "浙江省信用中心"
        pb.issuing_authority.region_code = region
        pb.issued_at.FromDatetime(self.issued)
        pb.valid_from.FromDatetime(self.issued)
        pb.valid_until.FromDatetime(self.issued + timedelta(days=30))
        pb.data_as_of.FromDatetime(self.issued - timedelta(hours=2))
        pb.basic_information.subject.CopyFrom(pb.subject)
        pb.basic_information.organization_type = "有限责任公司"
        for category in ALL_CATEGORIES:
            pb.summary.counts.add(category=category, count=0)
        pb.summary.text = "未发现严重失信信息。"
        for name, value in changes.items():
            if isinstance(value, datetime):
                getattr(pb, name).FromDatetime(value)
            else:
                setattr(pb, name, value)
        return pb

    def sign(
        self,
        pb: report_pb2.CreditReport,
        *,
        signer: str | None = None,
        key: PrivateKey | None = None,
    ) -> Envelope:
        issuer = pb.issuer_node_id
        return sign_report_statement(
            pb,
            signing_key=key or self.creds(signer or issuer).signing_key,
            sender_node_id=issuer,
            recipient_node_ids=[self.log_node_for(issuer)],
        )

    @staticmethod
    def log_node_for(issuer: str) -> str:
        return issuer.removesuffix("-operator")

    def issue(self, pb: report_pb2.CreditReport | None = None, **kwargs: object) -> ReportBundle:
        """Sign ``pb`` as its issuer and log it in the issuing gateway's log."""
        pb = pb if pb is not None else self.report()
        env = self.sign(pb, **kwargs)  # type: ignore[arg-type]
        log = self.log(self.log_node_for(pb.issuer_node_id))
        index = log.append(env)
        log.append_data(b"a later entry")  # the report is not the last leaf
        return log.bundle(env, index)


@pytest.fixture(scope="module")
def kit(fed: DevFederation, issued: datetime) -> Kit:
    return Kit(fed, issued)


def check(
    bundle: ReportBundle, trust: TrustBundle, now: datetime, **kwargs: object
) -> RecognitionResult:
    return verify_report_offline(bundle, trust, now=now, **kwargs)  # type: ignore[arg-type]


def failed_rules(result: RecognitionResult) -> dict[Rule, RecognitionReason]:
    return {f.rule: f.reason for f in result.failures if f.reason is not None}


# --------------------------------------------------------------------------------------------
# Recognized
# --------------------------------------------------------------------------------------------


def test_recognized_with_every_rule_checked(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-010: one finding per rule, in order; all pass."""
    bundle = kit.issue()
    result = check(
        bundle,
        trust,
        now,
        purpose=UsePurpose.BIDDING,
        subject=ZJ_COMPANY,
        status=ReportStatus.VALID,
    )
    assert result.recognized, result.failures
    assert [f.rule for f in result.findings] == list(Rule)
    assert all(f.outcome is Outcome.PASSED for f in result.findings), result.findings
    assert result.reasons == ()
    assert result.issuer_node_id == ZJ
    assert result.report is not None
    assert result.report_number == result.report.report_number
    assert result.status is ReportStatus.VALID
    assert result.trust_bundle_version == trust.version
    assert result.checked_at == now
    assert "leaf 5 of 7" in result.finding(Rule.LOG_INCLUSION).message


def test_offline_without_status_is_recognized_and_says_status_was_not_checked(
    kit: Kit, trust: TrustBundle, now: datetime
) -> None:
    """CXP-REPORT-020: offline, the status rule is not checked and says so."""
    result = check(kit.issue(), trust, now)
    assert result.recognized
    status = result.finding(Rule.STATUS)
    assert status.outcome is Outcome.NOT_CHECKED
    assert status.reason is None
    assert "GetReport" in status.message
    assert result.status is None
    # Without a presented purpose, the report's own purpose (bidding) sets freshness and sections.
    assert result.finding(Rule.PURPOSE).outcome is Outcome.NOT_CHECKED
    assert "bidding" in result.finding(Rule.SECTIONS).message


def test_report_by_an_operator_logged_by_its_gateway_is_recognized(
    kit: Kit, trust: TrustBundle, now: datetime
) -> None:
    """CXP-REPORT-001, -018: the log node need not be the issuer."""
    # zj-330000-operator holds ISSUE_REPORTS but keeps no log: zj-330000 logs its reports.
    bundle = kit.issue(kit.report(ZJ_OPERATOR))
    assert bundle.log_node_id == ZJ
    result = check(bundle, trust, now)
    assert result.recognized, result.failures
    assert result.issuer_node_id == ZJ_OPERATOR


def test_general_report_serves_any_purpose(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-022: a general-purpose report serves any purpose."""
    bundle = kit.issue(kit.report(purpose=common_pb2.USE_PURPOSE_GENERAL))
    assert check(bundle, trust, now, purpose=UsePurpose.FINANCING).recognized


# --------------------------------------------------------------------------------------------
# Each rule failing on its own
# --------------------------------------------------------------------------------------------


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def test_tampered_report_byte(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-011, -014, -018: a changed byte fails the signature and the log proof."""
    bundle = kit.issue()
    env = bundle.envelope
    # A byte of the summary text (the payload's tail): still a parseable statement.
    tampered = Envelope(
        payload=_flip(env.payload, len(env.payload) - 3),
        payload_type=env.payload_type,
        signatures=env.signatures,
    )
    forged = ReportBundle(
        envelope=tampered,
        log_node_id=bundle.log_node_id,
        leaf_index=bundle.leaf_index,
        tree_size=bundle.tree_size,
        inclusion_proof=bundle.inclusion_proof,
        checkpoint=bundle.checkpoint,
    )
    result = check(forged, trust, now)
    # The signature fails, and the log proves other bytes: both rules say so.
    assert failed_rules(result) == {
        Rule.SIGNATURE: R.SIGNATURE_INVALID,
        Rule.LOG_INCLUSION: R.NOT_LOGGED,
    }
    # Nothing is read from a payload whose signature did not verify.
    assert result.report is None
    assert result.report_number == ""
    assert result.finding(Rule.VALIDITY).outcome is Outcome.NOT_CHECKED
    assert result.finding(Rule.ISSUER).outcome is Outcome.NOT_CHECKED

    # Even a log that holds the tampered bytes does not make them signed.
    log = kit.log(ZJ)
    logged = log.bundle(tampered, log.append(tampered))
    assert failed_rules(check(logged, trust, now)) == {Rule.SIGNATURE: R.SIGNATURE_INVALID}


def test_signature_by_a_non_issuer(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-014: a valid signature by another member is not the issuer's."""
    # The report names zj-330000 as issuer and sender, but gd-440000 signed it.
    bundle = kit.issue(kit.report(ZJ), signer=GD)
    result = check(bundle, trust, now)
    assert failed_rules(result) == {Rule.SIGNATURE: R.SIGNATURE_INVALID}
    assert GD in result.finding(Rule.SIGNATURE).message


def test_signature_by_a_key_outside_the_federation(
    kit: Kit, trust: TrustBundle, now: datetime
) -> None:
    """CXP-REPORT-014, -016: keys no member holds mean an unknown issuer."""
    bundle = kit.issue(kit.report(ZJ), key=PrivateKey.generate())
    result = check(bundle, trust, now)
    assert failed_rules(result) == {
        Rule.SIGNATURE: R.SIGNATURE_INVALID,
        Rule.ISSUER: R.UNKNOWN_ISSUER,
    }


def _next_bundle(
    fed: DevFederation, trust: TrustBundle, edit: Callable[[TrustBundleBuilder], None]
) -> TrustBundle:
    """The next trust bundle version, edited and signed with the federation's root keys."""
    builder = TrustBundleBuilder.from_bundle(
        trust, issued_at=trust.issued_at, expires_at=trust.expires_at
    )
    edit(builder)
    roots = [load_private_key(fed.directory / "federation" / f"root-{i}.pem") for i in (1, 2)]
    assert all(isinstance(k, PrivateKey) for k in roots)
    envelope = builder.sign(roots)  # type: ignore[arg-type]
    return trust.verify_update(envelope, now=trust.issued_at)


def test_key_outside_its_validity_at_issuance(
    fed: DevFederation, kit: Kit, trust: TrustBundle, issued: datetime, now: datetime
) -> None:
    """CXP-REPORT-017: expired or revoked at issuance is KEY_NOT_VALID."""
    expired, revoked = PrivateKey.generate(), PrivateKey.generate()

    def edit(builder: TrustBundleBuilder) -> None:
        builder.add_key(
            ZJ,
            expired.public_key,
            Purpose.SIGN,
            not_before=issued - timedelta(days=400),
            not_after=issued - timedelta(days=1),
        )
        builder.add_key(
            ZJ,
            revoked.public_key,
            Purpose.SIGN,
            not_before=issued - timedelta(days=1),
            not_after=issued + timedelta(days=365),
        )
        builder.revoke(
            revoked.key_id,
            revoked_at=issued - timedelta(minutes=1),
            reason=RevocationReason.KEY_COMPROMISE,
        )

    v2 = _next_bundle(fed, trust, edit)
    for key, words in ((expired, "valid from"), (revoked, "revoked at")):
        result = check(kit.issue(kit.report(ZJ), key=key), v2, now)
        assert failed_rules(result) == {Rule.KEY_VALIDITY: R.KEY_NOT_VALID}
        assert words in result.finding(Rule.KEY_VALIDITY).message
    # The same signatures verify under the current key: only the window was wrong.
    assert check(kit.issue(kit.report(ZJ)), v2, now).recognized


def test_issuer_not_authorized_for_the_subject(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-016: ISSUE_REPORTS must cover the subject's region."""
    # gd-440000 issues reports for region 440000 only; the subject is a Zhejiang company.
    result = check(kit.issue(kit.report(GD)), trust, now)
    assert failed_rules(result) == {Rule.ISSUER: R.ISSUER_NOT_AUTHORIZED}
    assert "region:330100" in result.finding(Rule.ISSUER).message
    # A Guangdong company is within its scope.
    assert check(kit.issue(kit.report(GD, uscc=GD_COMPANY)), trust, now).recognized


def test_hub_without_issue_reports_permission(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-016: PUBLISH alone does not allow issuing reports."""
    result = check(kit.issue(kit.report(HUB)), trust, now)
    assert failed_rules(result) == {Rule.ISSUER: R.ISSUER_NOT_AUTHORIZED}


def test_unsupported_standard_version(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-019."""
    bundle = kit.issue(kit.report(standard_version="public-credit-report-2019"))
    result = check(bundle, trust, now)
    assert failed_rules(result) == {Rule.STANDARD: R.UNSUPPORTED_STANDARD}
    # A verifier that supports it recognizes the report.
    assert check(bundle, trust, now, supported_standards={"public-credit-report-2019"}).recognized


def test_expired_validity(kit: Kit, trust: TrustBundle, issued: datetime, now: datetime) -> None:
    """CXP-REPORT-021, -027: past valid_until is EXPIRED, and so is the known status."""
    bundle = kit.issue(kit.report(valid_until=issued + timedelta(minutes=30)))
    result = check(bundle, trust, now)
    assert failed_rules(result) == {Rule.VALIDITY: R.EXPIRED}
    assert result.status is ReportStatus.EXPIRED


def test_not_yet_valid(kit: Kit, trust: TrustBundle, issued: datetime, now: datetime) -> None:
    """CXP-REPORT-021."""
    bundle = kit.issue(kit.report(valid_from=now + timedelta(days=1)))
    assert failed_rules(check(bundle, trust, now)) == {Rule.VALIDITY: R.NOT_YET_VALID}


def test_too_old_for_the_purpose(
    kit: Kit, trust: TrustBundle, issued: datetime, now: datetime
) -> None:
    """CXP-REPORT-023, -029: the per-purpose maximum age, overridable."""
    # Information as of 40 days before issuance: too old for bidding (30 days) ...
    bundle = kit.issue(
        kit.report(purpose=common_pb2.USE_PURPOSE_GENERAL, data_as_of=issued - timedelta(days=40))
    )
    result = check(bundle, trust, now, purpose=UsePurpose.BIDDING)
    assert failed_rules(result) == {Rule.FRESHNESS: R.STALE_FOR_PURPOSE}
    assert "bidding accepts at most 30 days" in result.finding(Rule.FRESHNESS).message
    # ... but fresh enough for general use (90 days), and the table can be overridden.
    assert check(bundle, trust, now, purpose=UsePurpose.GENERAL).recognized
    lenient = dict(DEFAULT_PURPOSE_RULES)
    lenient[UsePurpose.BIDDING] = PurposeRule(max_age=timedelta(days=60))
    assert check(bundle, trust, now, purpose=UsePurpose.BIDDING, purpose_rules=lenient).recognized


def test_missing_required_section(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-024: coverage is an entry in summary.counts."""
    pb = kit.report()
    kept = [
        c for c in pb.summary.counts if c.category != record_pb2.RECORD_CATEGORY_ABNORMAL_OPERATION
    ]
    del pb.summary.counts[:]
    pb.summary.counts.extend(kept)
    result = check(kit.issue(pb), trust, now, purpose=UsePurpose.BIDDING)
    assert failed_rules(result) == {Rule.SECTIONS: R.MISSING_SECTIONS}
    assert "ABNORMAL_OPERATION" in result.finding(Rule.SECTIONS).message


def test_presented_for_another_purpose(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-022."""
    result = check(kit.issue(), trust, now, purpose=UsePurpose.FINANCING)
    assert failed_rules(result) == {Rule.PURPOSE: R.PURPOSE_MISMATCH}


def test_wrong_inclusion_proof(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-018: every way the proof can be wrong is NOT_LOGGED."""
    bundle = kit.issue()

    def variant(**changes: object) -> ReportBundle:
        parts: dict[str, object] = {
            "envelope": bundle.envelope,
            "log_node_id": bundle.log_node_id,
            "leaf_index": bundle.leaf_index,
            "tree_size": bundle.tree_size,
            "inclusion_proof": bundle.inclusion_proof,
            "checkpoint": bundle.checkpoint,
        }
        parts.update(changes)
        return ReportBundle(**parts)  # type: ignore[arg-type]

    proof = list(bundle.inclusion_proof)
    proof[0] = _flip(proof[0], 7)
    cases = {
        "modified proof hash": variant(inclusion_proof=proof),
        "proof too short": variant(inclusion_proof=bundle.inclusion_proof[:-1]),
        "another leaf": variant(leaf_index=bundle.leaf_index - 1),
        "another tree size": variant(tree_size=bundle.tree_size + 1),
        "log of another node": variant(log_node_id=GD),
    }
    for name, forged in cases.items():
        result = check(forged, trust, now)
        assert failed_rules(result) == {Rule.LOG_INCLUSION: R.NOT_LOGGED}, name


def test_checkpoint_by_the_wrong_key(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-018: only the log node's checkpoint key, for its origin."""
    bundle = kit.issue()
    log = kit.log(ZJ)
    gd_signer = kit.creds(GD).checkpoint_key
    assert gd_signer is not None
    impostor = NoteSigner(name=log.origin, private_key=Ed25519PrivateKey.generate())
    notes = {
        "another node's checkpoint key": log.checkpoint([gd_signer]),
        "a key with the log's name that the bundle does not list": log.checkpoint([impostor]),
        "the right key, another origin": log.checkpoint(origin="creditlink.example/other"),
    }
    for name, note in notes.items():
        forged = make_bundle(
            bundle.envelope,
            bundle.leaf_index,
            inclusion_proof(bundle.leaf_index, log.frontier.size, log.store),
            note,
            tree_size=log.frontier.size,
            log_node_id=ZJ,
        )
        result = check(forged, trust, now)
        assert failed_rules(result) == {Rule.LOG_INCLUSION: R.NOT_LOGGED}, name


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (ReportStatus.REVOKED, R.REVOKED),
        (ReportStatus.SUPERSEDED, R.SUPERSEDED),
        (ReportStatus.EXPIRED, R.EXPIRED),
    ],
)
def test_status_given(
    kit: Kit, trust: TrustBundle, now: datetime, status: ReportStatus, reason: RecognitionReason
) -> None:
    """CXP-REPORT-020: a status supplied by the issuer decides the status rule."""
    result = check(kit.issue(), trust, now, status=status)
    assert failed_rules(result) == {Rule.STATUS: reason}
    assert result.status is status


def test_subject_mismatch(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-025."""
    result = check(kit.issue(), trust, now, subject=GD_COMPANY)
    assert failed_rules(result) == {Rule.SUBJECT: R.SUBJECT_MISMATCH}
    # The expected subject may be given in any accepted spelling.
    assert check(kit.issue(), trust, now, subject="91330100 MA27XL0A6Q").recognized


def test_payload_type_mismatch(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-013: another kind is not parsed as a report."""
    pb = kit.report()
    good = kit.sign(pb)
    env = envelope_mod.sign(good.payload, payload_type_for("record"), [kit.creds(ZJ).signing_key])
    log = kit.log(ZJ)
    result = check(log.bundle(env, log.append(env)), trust, now)
    assert failed_rules(result) == {Rule.PAYLOAD_TYPE: R.PAYLOAD_TYPE_MISMATCH}
    assert result.finding(Rule.SIGNATURE).outcome is Outcome.PASSED
    assert result.finding(Rule.FORMAT).outcome is Outcome.NOT_CHECKED


def test_malformed_report(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-015: every structural fault is named."""
    pb = kit.report()
    pb.report_number = pb.report_number[:-1] + ("0" if pb.report_number[-1] != "0" else "1")
    pb.ClearField("basic_information")
    result = check(kit.issue(pb), trust, now)
    assert failed_rules(result) == {Rule.FORMAT: R.MALFORMED}
    message = result.finding(Rule.FORMAT).message
    assert "report_number" in message
    assert "basic information" in message


def test_report_number_of_another_region(
    kit: Kit, trust: TrustBundle, issued: datetime, now: datetime
) -> None:
    """CXP-REPORT-015 (CXP-ID-007): the number carries the issuer's region."""
    number = report_no.generate("440000", issued.date(), "0000000001")
    result = check(kit.issue(kit.report(report_number=number)), trust, now)
    assert failed_rules(result) == {Rule.FORMAT: R.MALFORMED}


def test_trust_bundle_expired(kit: Kit, trust: TrustBundle, issued: datetime) -> None:
    """CXP-REPORT-012."""
    later = trust.expires_at + timedelta(days=1)
    pb = kit.report(valid_until=later + timedelta(days=1))
    lenient = {p: PurposeRule(max_age=timedelta(days=10000)) for p in UsePurpose}
    result = check(kit.issue(pb), trust, later, purpose_rules=lenient)
    assert failed_rules(result) == {Rule.TRUST_BUNDLE: R.TRUST_BUNDLE_EXPIRED}


def test_every_failing_rule_is_reported_at_once(
    kit: Kit, trust: TrustBundle, issued: datetime, now: datetime
) -> None:
    """CXP-REPORT-010: no stop at the first failure."""
    pb = kit.report(
        standard_version="some-other-standard",
        valid_until=issued + timedelta(minutes=5),
        data_as_of=issued - timedelta(days=100),
    )
    del pb.summary.counts[:]
    bundle = kit.issue(pb)
    forged = ReportBundle(
        envelope=bundle.envelope,
        log_node_id=bundle.log_node_id,
        leaf_index=bundle.leaf_index,
        tree_size=bundle.tree_size,
        inclusion_proof=bundle.inclusion_proof[1:],
        checkpoint=bundle.checkpoint,
    )
    result = check(
        forged,
        trust,
        now,
        purpose=UsePurpose.FINANCING,
        subject=GD_COMPANY,
        status=ReportStatus.REVOKED,
    )
    assert failed_rules(result) == {
        Rule.LOG_INCLUSION: R.NOT_LOGGED,
        Rule.STANDARD: R.UNSUPPORTED_STANDARD,
        Rule.STATUS: R.REVOKED,
        Rule.VALIDITY: R.EXPIRED,
        Rule.PURPOSE: R.PURPOSE_MISMATCH,
        Rule.FRESHNESS: R.STALE_FOR_PURPOSE,
        Rule.SECTIONS: R.MISSING_SECTIONS,
        Rule.SUBJECT: R.SUBJECT_MISMATCH,
    }
    assert not result.recognized
    # In rule order.
    assert [f.rule for f in result.failures] == [r for r in Rule if r in failed_rules(result)]


# --------------------------------------------------------------------------------------------
# The proto form and the enum mirrors
# --------------------------------------------------------------------------------------------


def test_proto_form_is_valid_and_carries_only_failures(
    kit: Kit, trust: TrustBundle, now: datetime
) -> None:
    """CXP-REPORT-027: the wire form satisfies the contract's constraints."""
    recognized = check(kit.issue(), trust, now)
    pb = recognized.to_proto()
    protovalidate.validate(pb)
    assert pb.recognized
    assert list(pb.findings) == []
    assert pb.status == report_pb2.REPORT_STATUS_UNSPECIFIED  # not known offline
    assert pb.checked_at.ToDatetime(tzinfo=UTC) == now

    failing = check(kit.issue(), trust, now, status=ReportStatus.REVOKED, subject=GD_COMPANY)
    pb = failing.to_proto()
    protovalidate.validate(pb)
    assert not pb.recognized
    assert [f.reason for f in pb.findings] == [
        report_pb2.RECOGNITION_REASON_REVOKED,
        report_pb2.RECOGNITION_REASON_SUBJECT_MISMATCH,
    ]
    assert pb.status == report_pb2.REPORT_STATUS_REVOKED
    assert pb.issuer_node_id == ZJ
    json.dumps(failing.to_dict())  # JSON-ready


@pytest.mark.parametrize(
    ("mirror", "proto", "prefix"),
    [
        (RecognitionReason, report_pb2.RecognitionReason, "RECOGNITION_REASON_"),
        (ReportStatus, report_pb2.ReportStatus, "REPORT_STATUS_"),
        (UsePurpose, common_pb2.UsePurpose, "USE_PURPOSE_"),
    ],
)
def test_enum_mirrors_match_the_contract(mirror: type, proto: object, prefix: str) -> None:
    expected = {
        name.removeprefix(prefix): value
        for name, value in proto.items()  # type: ignore[attr-defined]
        if value != 0
    }
    assert {m.name: m.value for m in mirror} == expected  # type: ignore[attr-defined]


def test_purpose_names() -> None:
    assert UsePurpose.parse("government-procurement") is UsePurpose.GOVERNMENT_PROCUREMENT
    assert UsePurpose.parse("USE_PURPOSE_BIDDING") is UsePurpose.BIDDING
    with pytest.raises(ValueError, match="unknown purpose"):
        UsePurpose.parse("shopping")
    assert set(DEFAULT_PURPOSE_RULES) == set(UsePurpose)


# --------------------------------------------------------------------------------------------
# The bundle file
# --------------------------------------------------------------------------------------------


def test_json_round_trip(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-002 to -005."""
    bundle = kit.issue()
    text = bundle.to_json()
    obj = json.loads(text)
    assert obj["mediaType"] == REPORT_BUNDLE_MEDIA_TYPE
    assert list(obj) == ["mediaType", "envelope", "log"]
    assert obj["envelope"]["payloadType"] == REPORT_PAYLOAD_TYPE
    assert obj["log"]["nodeId"] == ZJ
    again = ReportBundle.from_json(text.encode())
    assert again == bundle
    assert again.to_json() == text
    assert check(again, trust, now).recognized


@pytest.fixture(scope="module")
def bundle_obj(kit: Kit) -> dict[str, object]:
    obj: dict[str, object] = json.loads(kit.issue().to_json())
    return obj


def _mutated(obj: dict[str, object], path: tuple[str | int, ...], value: object) -> str:
    copy = json.loads(json.dumps(obj))
    target = copy
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(copy)


_DELETE = object()
_HASH = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("unknown top-level key", ("extra",), 1),
        ("unknown log key", ("log", "witness"), "x"),
        ("unknown envelope key", ("envelope", "extra"), "x"),
        ("missing log", ("log",), _DELETE),
        ("missing checkpoint", ("log", "checkpoint"), _DELETE),
        ("other media type", ("mediaType",), "application/vnd.creditlink.report-bundle.v2+json"),
        ("url-safe payload", ("envelope", "payload"), "-_-_"),
        ("unpadded payload", ("envelope", "payload"), "AAA"),
        ("bad base64 signature", ("envelope", "signatures", 0, "sig"), "!!!!"),
        (
            "bad base64 proof hash",
            ("log", "inclusionProof", 0),
            "not base64 at all, not at all!!!!!!!!!!!!!",
        ),
        ("short proof hash", ("log", "inclusionProof", 0), base64.b64encode(bytes(31)).decode()),
        ("unpadded proof hash", ("log", "inclusionProof", 0), _HASH.rstrip("=")),
        ("too many proof hashes", ("log", "inclusionProof"), [_HASH] * 65),
        ("float leaf index", ("log", "leafIndex"), 5.0),
        ("boolean tree size", ("log", "treeSize"), True),
        ("negative leaf index", ("log", "leafIndex"), -1),
        ("index not below size", ("log", "leafIndex"), 10**6),
        ("string index", ("log", "leafIndex"), "5"),
        ("bad node id", ("log", "nodeId"), "ZJ 330000"),
        ("empty checkpoint", ("log", "checkpoint"), ""),
        ("oversized checkpoint", ("log", "checkpoint"), "x" * 16385),
        ("no signatures", ("envelope", "signatures"), []),
    ],
)
def test_malformed_bundle_files(
    bundle_obj: dict[str, object], name: str, path: tuple[str | int, ...], value: object
) -> None:
    """CXP-REPORT-002 to -004, -006."""
    with pytest.raises(InvalidReportBundle):
        ReportBundle.from_json(_mutated(bundle_obj, path, value))


@pytest.mark.parametrize(
    "text",
    [
        b"\xff\xfe{}",
        b"not json",
        b"[]",
        b'{"mediaType": "a", "mediaType": "b", "envelope": {}, "log": {}}',
        b'{"mediaType": NaN}',
    ],
)
def test_not_a_bundle(text: bytes) -> None:
    """CXP-REPORT-002, -006."""
    with pytest.raises(InvalidReportBundle) as info:
        ReportBundle.from_json(text)
    assert info.value.reason == "MALFORMED_REPORT_BUNDLE"


def test_oversized_bundle_is_refused_before_parsing() -> None:
    """CXP-REPORT-002."""
    with pytest.raises(InvalidReportBundle) as info:
        ReportBundle.from_json(b" " * (MAX_BUNDLE_JSON_BYTES + 1))
    assert info.value.reason == "LIMIT_EXCEEDED"


def test_make_bundle_refuses_bad_envelope_bytes() -> None:
    with pytest.raises(InvalidReportBundle):
        make_bundle(b"\x0a\xff", 0, [], "x\n", tree_size=1, log_node_id=ZJ)


def test_builder_requires_the_issuer_as_sender(kit: Kit) -> None:
    with pytest.raises(ValueError, match="issuer"):
        sign_report_statement(
            kit.report(), signing_key=kit.creds(GD).signing_key, sender_node_id=GD
        )


# --------------------------------------------------------------------------------------------
# Inputs, caching
# --------------------------------------------------------------------------------------------


def test_verifier_inputs_are_checked(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    bundle = kit.issue()
    with pytest.raises(ValueError, match="timezone"):
        verify_report_offline(bundle, trust, now=now.replace(tzinfo=None))
    with pytest.raises(InvalidIdentifier):
        verify_report_offline(bundle, trust, now=now, subject="91330100MA27XL0A6X")
    with pytest.raises(TypeError):
        verify_report_offline(bundle, trust, now=now, purpose=4)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ReportVerifier(trust=trust, supported_standards=STANDARD)


def test_trust_index_and_checkpoints_are_cached(
    kit: Kit, trust: TrustBundle, now: datetime
) -> None:
    from creditlink.sdk import reports

    bundle = kit.issue()
    first = ReportVerifier(trust=trust)
    second = ReportVerifier(trust=trust)
    assert first._index is second._index  # one index per trust bundle
    first.verify(bundle, now=now)
    cached = dict(first._index._checkpoints)
    assert any(note == bundle.checkpoint for note, _, _ in cached)  # (note, verifier, origin)
    # A failing checkpoint is not remembered as verified.
    assert all(isinstance(cp, reports.Checkpoint) for cp in cached.values())
    assert second.verify(bundle, now=now).recognized


def test_key_id_hint_is_only_a_hint(kit: Kit, trust: TrustBundle, now: datetime) -> None:
    """CXP-REPORT-014: an empty or unknown key id hint does not stop the issuer's key."""
    bundle = kit.issue()
    env = bundle.envelope
    for hint in ("", "0" * 32):
        rehinted = Envelope(
            payload=env.payload,
            payload_type=env.payload_type,
            signatures=[Signature(hint, s.sig) for s in env.signatures],
        )
        log = kit.log(ZJ)
        result = check(log.bundle(rehinted, log.append(rehinted)), trust, now)
        assert result.recognized, (hint, result.failures)


def test_extra_signature_by_another_member_is_harmless(
    kit: Kit, trust: TrustBundle, now: datetime
) -> None:
    """CXP-REPORT-014: another member's signature before the issuer's does not hide it."""
    signed = kit.sign(kit.report())
    both = envelope_mod.sign(
        signed.payload,
        signed.payload_type,
        [kit.creds(GD).signing_key, kit.creds(ZJ).signing_key],
    )
    log = kit.log(ZJ)
    result = check(log.bundle(both, log.append(both)), trust, now)
    assert result.recognized, result.failures
    assert ZJ in result.finding(Rule.SIGNATURE).message
