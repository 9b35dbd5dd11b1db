"""ReportService on a real gateway over mutual TLS, on both store backends.

``zj-330000`` of a development federation runs as a :class:`GatewayNode` (every domain service
registered, every handler projecting its log); its operator publishes a penalty record, then
orders, reads, verifies, revokes and supersedes reports through the generated stubs, signing
and sealing with the SDK's client core. Each report that comes back is checked offline with the
federation's trust bundle. Nothing is mocked.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from creditlink.gateway.bootstrap import DevFederation
from creditlink.gateway.node import GatewayNode
from creditlink.sdk import envelope as dsse
from creditlink.sdk.client import ClientCore
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.ids import report_no
from creditlink.sdk.reports import (
    ReportBundle,
    ReportStatus,
    UsePurpose,
    make_bundle,
    sign_report_statement,
    verify_report_offline,
)
from creditlink.v1 import (
    common_pb2,
    envelope_pb2,
    exchange_service_pb2_grpc,
    log_pb2,
    record_pb2,
    report_pb2,
    report_service_pb2,
    report_service_pb2_grpc,
)
from tests.gateway.listings import LISTED_USCC, OTHER_USCC
from tests.gateway.services.conftest import ZJ, error_info
from tests.gateway.services.hub_gateway import serve_node
from tests.gateway.statements import penalty_record

R = report_service_pb2
AUTHORITY = common_pb2.AuthorityRef(name="浙江省信用中心", uscc="12330000MB0U88871K")
GD = "gd-440000"


@dataclass
class Zj:
    """The running Zhejiang gateway and its federation."""

    node: GatewayNode
    federation: DevFederation

    @property
    def operator(self) -> Credentials:
        return self.federation.node(ZJ).operator

    def channel(self, creds: Credentials | None = None) -> grpc.aio.Channel:
        creds = creds or self.operator
        return grpc.aio.secure_channel(self.node.endpoint, creds.channel_credentials())

    def reports(self, creds: Credentials | None = None) -> Any:
        return report_service_pb2_grpc.ReportServiceStub(self.channel(creds))

    def core(self, creds: Credentials | None = None) -> ClientCore:
        return ClientCore(credentials=creds or self.operator, target=self.node.endpoint, gateway=ZJ)


@pytest.fixture
async def zj(federation: DevFederation, store_url: str, tmp_path: Path) -> AsyncIterator[Zj]:
    async for node in serve_node(federation, ZJ, store_url, tmp_path / "zj"):
        yield Zj(node, federation)


def sealed(
    zj: Zj, body: Message, creds: Credentials | None = None, *, request_id: str | None = None
) -> tuple[str, envelope_pb2.SealedEnvelope]:
    """``body`` as a statement to zj-330000 alone, signed and sealed by ``creds``."""
    core = zj.core(creds)
    prepared = core.prepare(body, recipients=[ZJ])
    envelope, _ = core.seal_single(prepared)
    return request_id or prepared.request_id, envelope


def order(
    uscc: str = LISTED_USCC,
    purpose: int = common_pb2.USE_PURPOSE_GOVERNMENT_PROCUREMENT,
    **fields: Any,
) -> report_pb2.CreditReport:
    out = report_pb2.CreditReport(purpose=purpose, issuing_authority=AUTHORITY, **fields)  # type: ignore[arg-type]
    out.subject.uscc = uscc
    return out


async def publish_penalty(zj: Zj, uscc: str = LISTED_USCC) -> None:
    """The operator publishes a penalty record about ``uscc`` (ExchangeService.Submit)."""
    core = zj.core()
    prepared = core.build_submit([penalty_record(uscc=uscc)], recipients=[ZJ])
    stub = exchange_service_pb2_grpc.ExchangeServiceStub(zj.channel())
    response = await stub.Submit(prepared.request, timeout=10)
    core.verify_receipt(response.receipt, prepared.expected)


async def issue(zj: Zj, body: report_pb2.CreditReport | None = None) -> R.IssueReportResponse:
    request_id, envelope = sealed(zj, body or order())
    response: R.IssueReportResponse = await zj.reports().IssueReport(
        R.IssueReportRequest(request_id=request_id, sealed_statement=envelope), timeout=10
    )
    return response


async def bundle_of(zj: Zj, number: str) -> tuple[ReportBundle, R.GetReportResponse]:
    answer: R.GetReportResponse = await zj.reports().GetReport(
        R.GetReportRequest(report_number=number, include_proof=True), timeout=10
    )
    first = answer.provenance[0]
    proof = first.inclusion_proof
    bundle = make_bundle(
        first.entry.envelope.SerializeToString(),
        proof.leaf_index,
        list(proof.hashes),
        first.checkpoint.note,
        tree_size=proof.tree_size,
        log_node_id=first.gateway_node_id,
    )
    return bundle, answer


async def verify(zj: Zj, **fields: Any) -> R.VerifyReportResponse:
    response: R.VerifyReportResponse = await zj.reports().VerifyReport(
        R.VerifyReportRequest(**fields), timeout=10
    )
    return response


def reasons(result: report_pb2.RecognitionResult) -> list[str]:
    return [
        report_pb2.RecognitionReason.Name(f.reason).removeprefix("RECOGNITION_REASON_")
        for f in result.findings
    ]


async def refused(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, timeout=10)
    return caught.value.code(), error_info(caught.value).reason


# -- issuing -----------------------------------------------------------------------------------


async def test_an_ordered_report_is_built_signed_logged_and_recognized(zj: Zj) -> None:
    await publish_penalty(zj)
    request_id, envelope = sealed(zj, order())
    request = R.IssueReportRequest(request_id=request_id, sealed_statement=envelope)
    issued: R.IssueReportResponse = await zj.reports().IssueReport(request, timeout=10)
    report = issued.report
    number = report.report_number
    assert report_no.is_valid(number)
    assert number[2:8] == "330000"
    assert report.issuer_node_id == ZJ
    assert report.status == report_pb2.REPORT_STATUS_VALID
    assert report.issuing_authority.uscc == AUTHORITY.uscc
    assert report.issuing_authority.region_code == "330000"
    (section,) = report.record_sections
    assert section.category == record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY

    # The receipt is the node's, for the node's own statement.
    receipt = log_pb2.Receipt.FromString(issued.receipt.payload)
    assert receipt.gateway_node_id == ZJ
    assert receipt.leaf_count == 1

    # The portable bundle verifies offline with the federation's trust bundle.
    bundle, answer = await bundle_of(zj, number)
    assert answer.report == report
    trust = zj.federation.trust_bundle
    result = verify_report_offline(
        bundle,
        trust,
        purpose=UsePurpose.GOVERNMENT_PROCUREMENT,
        subject=LISTED_USCC,
        status=ReportStatus.VALID,
    )
    assert result.recognized, [f.message for f in result.failures]
    assert bundle.log_node_id == ZJ

    # A retry of the same order gets the same report and receipt; nothing new is logged.
    size = (await zj.node.store.head()).size
    again: R.IssueReportResponse = await zj.reports().IssueReport(request, timeout=10)
    assert again.report == report
    assert again.receipt == issued.receipt
    assert (await zj.node.store.head()).size == size
    # The display form is accepted too.
    shown: R.GetReportResponse = await zj.reports().GetReport(
        R.GetReportRequest(report_number=report_no.format(number)), timeout=10
    )
    assert shown.report == report
    assert not shown.provenance[0].HasField("inclusion_proof")


@pytest.mark.parametrize(
    ("case", "code", "reason"),
    [
        ("company of another region", grpc.StatusCode.PERMISSION_DENIED, "ISSUER_NOT_AUTHORIZED"),
        ("ordered by another region", grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED_SCOPE"),
        ("content in the order", grpc.StatusCode.INVALID_ARGUMENT, "NOT_A_REPORT_ORDER"),
        ("no issuing authority", grpc.StatusCode.INVALID_ARGUMENT, "ISSUING_AUTHORITY_REQUIRED"),
        ("another issuer", grpc.StatusCode.INVALID_ARGUMENT, "WRONG_ISSUER"),
        ("request id", grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_MISMATCH"),
        ("a record", grpc.StatusCode.INVALID_ARGUMENT, "WRONG_KIND"),
        ("purpose other", grpc.StatusCode.INVALID_ARGUMENT, "CONSTRAINT_VIOLATION"),
        ("uncompacted code", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USCC"),
    ],
)
async def test_orders_are_refused_with_their_reason(
    zj: Zj, case: str, code: grpc.StatusCode, reason: str
) -> None:
    creds: Credentials | None = None
    body: Message = order()
    request_id: str | None = None
    if case == "company of another region":
        body = order(OTHER_USCC)
    elif case == "ordered by another region":
        creds = zj.federation.node(GD).operator
    elif case == "content in the order":
        body = order(standard_version="public-credit-report-2022")
    elif case == "no issuing authority":
        body = order()
        body.ClearField("issuing_authority")
    elif case == "another issuer":
        body = order(issuer_node_id=GD)
    elif case == "request id":
        request_id = str(uuid.uuid4())
    elif case == "a record":
        body = penalty_record()
    elif case == "purpose other":
        body = order(purpose=common_pb2.USE_PURPOSE_OTHER)
    elif case == "uncompacted code":
        body = order(LISTED_USCC.lower())
    rid, envelope = sealed(zj, body, creds, request_id=request_id)
    size = (await zj.node.store.head()).size
    assert await refused(
        zj.reports(creds).IssueReport,
        R.IssueReportRequest(request_id=rid, sealed_statement=envelope),
    ) == (code, reason)
    assert (await zj.node.store.head()).size == size  # nothing was logged


async def test_a_complete_report_signed_by_its_issuer_is_logged_as_signed(zj: Zj) -> None:
    # The operator (a client holding ISSUE_REPORTS for Zhejiang, keeping no log) issues a
    # report it built and signed itself; the gateway logs it as signed.
    operator = zj.operator
    issued = await issue(zj)
    own = report_pb2.CreditReport()
    own.CopyFrom(issued.report)
    own.issuer_node_id = operator.node_id
    own.report_number = report_no.generate("330000", datetime.now(UTC).date(), "0000000001")
    request_id, envelope = sealed(zj, own)
    response: R.IssueReportResponse = await zj.reports().IssueReport(
        R.IssueReportRequest(request_id=request_id, sealed_statement=envelope), timeout=10
    )
    assert response.report == own
    bundle, _ = await bundle_of(zj, own.report_number)
    signed = bundle.envelope
    assert dsse.verify(
        signed,
        keys=zj.federation.trust_bundle.signing_keys(
            operator.node_id, kind="report", at=datetime.now(UTC)
        ),
        expected_type=signed.payload_type,
    )
    result = verify_report_offline(bundle, zj.federation.trust_bundle, status=ReportStatus.VALID)
    assert result.recognized, [f.message for f in result.failures]
    # Only its issuer revokes it: with its own signed change, logged as signed.
    change = report_pb2.ReportStatusChange(
        report_number=own.report_number,
        new_status=report_pb2.REPORT_STATUS_REVOKED,
        reason="数据来源更正",
    )
    change.effective_at.FromDatetime(datetime.now(UTC))
    request_id, envelope = sealed(zj, change)
    revoked: R.RevokeReportResponse = await zj.reports().RevokeReport(
        R.RevokeReportRequest(request_id=request_id, sealed_statement=envelope), timeout=10
    )
    assert revoked.report.status == report_pb2.REPORT_STATUS_REVOKED


# -- verifying -------------------------------------------------------------------------------------


async def test_verify_report_applies_every_rule_with_the_status_it_holds(zj: Zj) -> None:
    await publish_penalty(zj)
    issued = await issue(zj)
    number = issued.report.report_number
    by_number = await verify(
        zj, report_number=number, purpose=common_pb2.USE_PURPOSE_GOVERNMENT_PROCUREMENT
    )
    assert by_number.result.recognized, reasons(by_number.result)
    assert by_number.result.status == report_pb2.REPORT_STATUS_VALID
    assert by_number.report == issued.report
    assert by_number.result.report_number == number
    assert by_number.provenance[0].HasField("inclusion_proof")

    bundle, _ = await bundle_of(zj, number)
    presented = bundle.envelope.to_proto()
    assert (await verify(zj, envelope=presented)).result.recognized

    # Each failed rule yields its own reason.
    wrong = await verify(zj, envelope=presented, purpose=common_pb2.USE_PURPOSE_BIDDING)
    assert reasons(wrong.result) == ["PURPOSE_MISMATCH"]
    other = await verify(zj, envelope=presented, expected_uscc=OTHER_USCC)
    assert reasons(other.result) == ["SUBJECT_MISMATCH"]
    late = R.VerifyReportRequest(report_number=number)
    late.at.FromDatetime(issued.report.valid_until.ToDatetime(tzinfo=UTC))
    expired: R.VerifyReportResponse = await zj.reports().VerifyReport(late, timeout=10)
    assert "EXPIRED" in reasons(expired.result)
    tampered = envelope_pb2.Envelope()
    tampered.CopyFrom(presented)
    payload = bytearray(tampered.payload)
    payload[-5] ^= 0x01
    tampered.payload = bytes(payload)
    forged = await verify(zj, envelope=tampered)
    assert not forged.result.recognized
    assert reasons(forged.result) == ["SIGNATURE_INVALID", "NOT_LOGGED"]
    assert not forged.HasField("report")  # nothing read from an unverified payload

    # Information about the subject changed after data_as_of: recognized, with a note.
    await publish_penalty(zj)
    newer = await verify(zj, report_number=number)
    assert newer.result.recognized
    assert reasons(newer.result) == ["NEWER_INFORMATION"]

    unknown = report_no.generate("330000", datetime.now(UTC).date(), "ZZZZZZZZZZ")
    assert await refused(
        zj.reports().VerifyReport, R.VerifyReportRequest(report_number=unknown)
    ) == (grpc.StatusCode.NOT_FOUND, "REPORT_NOT_FOUND")


async def test_a_report_signed_by_a_member_but_never_logged_is_not_recognized(zj: Zj) -> None:
    issued = await issue(zj)
    node = zj.federation.node(ZJ).credentials
    unlogged = report_pb2.CreditReport()
    unlogged.CopyFrom(issued.report)
    unlogged.report_number = report_no.generate("330000", datetime.now(UTC).date(), "UNLOGGED00")
    envelope = sign_report_statement(
        unlogged, signing_key=node.signing_key, sender_node_id=ZJ, recipient_node_ids=[ZJ]
    )
    answer = await verify(zj, envelope=envelope.to_proto())
    assert reasons(answer.result) == ["NOT_LOGGED"]


# -- revoking and superseding --------------------------------------------------------------------


async def test_revoking_on_order_logs_the_nodes_change(zj: Zj) -> None:
    issued = await issue(zj)
    number = issued.report.report_number
    change = report_pb2.ReportStatusChange(
        report_number=number, new_status=report_pb2.REPORT_STATUS_REVOKED, reason="引用记录有误"
    )
    change.effective_at.FromDatetime(datetime.now(UTC))
    # Another region's operator may not order it.
    rid, envelope = sealed(zj, change, zj.federation.node(GD).operator)
    assert await refused(
        zj.reports(zj.federation.node(GD).operator).RevokeReport,
        R.RevokeReportRequest(request_id=rid, sealed_statement=envelope),
    ) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED_SCOPE")
    rid, envelope = sealed(zj, change)
    revoked: R.RevokeReportResponse = await zj.reports().RevokeReport(
        R.RevokeReportRequest(request_id=rid, sealed_statement=envelope), timeout=10
    )
    assert revoked.report.status == report_pb2.REPORT_STATUS_REVOKED
    got: R.GetReportResponse = await zj.reports().GetReport(
        R.GetReportRequest(report_number=number), timeout=10
    )
    assert got.report.status == report_pb2.REPORT_STATUS_REVOKED
    assert len(got.provenance) == 2
    assert got.provenance[1].entry.sender_node_id == ZJ  # the issuer's own change
    answer = await verify(zj, report_number=number)
    assert reasons(answer.result) == ["REVOKED"]
    assert answer.result.status == report_pb2.REPORT_STATUS_REVOKED
    # Revoked once only.
    rid, envelope = sealed(zj, change)
    assert await refused(
        zj.reports().RevokeReport, R.RevokeReportRequest(request_id=rid, sealed_statement=envelope)
    ) == (grpc.StatusCode.FAILED_PRECONDITION, "REPORT_NOT_VALID")


async def test_superseding_issues_a_standalone_report_and_supersedes_the_old(zj: Zj) -> None:
    issued = await issue(zj)
    old = issued.report.report_number
    body = order(supersedes_report_number=old)
    body.ClearField("subject")  # the replaced report's subject
    rid, envelope = sealed(zj, body)
    response: R.SupersedeReportResponse = await zj.reports().SupersedeReport(
        R.SupersedeReportRequest(request_id=rid, sealed_batch=envelope), timeout=10
    )
    assert response.superseded_report.status == report_pb2.REPORT_STATUS_SUPERSEDED
    new = response.new_report
    assert new.supersedes_report_number == old
    assert new.subject.uscc == LISTED_USCC
    # The new report is a standalone statement: its bundle verifies on its own.
    bundle, _ = await bundle_of(zj, new.report_number)
    result = verify_report_offline(bundle, zj.federation.trust_bundle, status=ReportStatus.VALID)
    assert result.recognized
    assert reasons((await verify(zj, report_number=old)).result) == ["SUPERSEDED"]
    # An order for IssueReport cannot carry a replacement; nor can a batch supersede.
    rid, envelope = sealed(zj, order(supersedes_report_number=new.report_number))
    assert await refused(
        zj.reports().IssueReport, R.IssueReportRequest(request_id=rid, sealed_statement=envelope)
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "WRONG_CALL")
    core = zj.core()
    batch = core.build_submit(
        [order(supersedes_report_number=new.report_number), order()], recipients=[ZJ]
    )
    assert await refused(
        zj.reports().SupersedeReport,
        R.SupersedeReportRequest(
            request_id=batch.request.request_id, sealed_batch=batch.request.sealed
        ),
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "BATCHED_REPORT_UNSUPPORTED")
    # The superseded report cannot be superseded again.
    rid, envelope = sealed(zj, order(supersedes_report_number=old))
    assert await refused(
        zj.reports().SupersedeReport,
        R.SupersedeReportRequest(request_id=rid, sealed_batch=envelope),
    ) == (grpc.StatusCode.FAILED_PRECONDITION, "REPORT_NOT_VALID")


async def test_unknown_reports_are_not_found(zj: Zj) -> None:
    unknown = report_no.generate("330000", datetime.now(UTC).date(), "NOSUCH0000")
    assert await refused(zj.reports().GetReport, R.GetReportRequest(report_number=unknown)) == (
        grpc.StatusCode.NOT_FOUND,
        "REPORT_NOT_FOUND",
    )
    assert await refused(
        zj.reports().GetReport, R.GetReportRequest(report_number="CR-not-a-number")
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REPORT_NO")
