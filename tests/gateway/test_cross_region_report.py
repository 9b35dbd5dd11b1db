"""A report issued in Zhejiang is recognized in Guangdong; each failed rule yields its own reason.

Three real gateways of a development federation (``cn-hub``, ``zj-330000``, ``gd-440000``) in
one process, over mutual TLS. Zhejiang's operator publishes a penalty record about a Hangzhou
company, then orders a report with ``creditlink report issue`` as a new user would. The report
bundle is checked in Guangdong: offline with ``creditlink report verify`` and Guangdong's own
credentials, and online through Guangdong's ``VerifyReport``, which asks the issuer for the
proof and the status (status lives at the issuer). Then the report is tampered with, checked
too late, presented for the wrong purpose and revoked at the issuer: each is refused with its
own reason, by the CLI (exit status 1) and by Guangdong's gateway. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from creditlink.cli import main
from creditlink.cli.dev import start_federation
from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.gateway.node import ForwardingOptions, GatewayNode
from creditlink.sdk.client import ClientCore
from creditlink.sdk.credentials import Credentials, read_trust_bundle
from creditlink.sdk.ids import report_no
from creditlink.sdk.reports import ReportBundle, UsePurpose, verify_report_offline
from creditlink.v1 import (
    common_pb2,
    exchange_service_pb2_grpc,
    report_pb2,
    report_service_pb2,
    report_service_pb2_grpc,
)
from tests.gateway.listings import LISTED_USCC
from tests.gateway.services.conftest import error_info
from tests.gateway.statements import penalty_record

HUB, ZJ, GD = "cn-hub", "zj-330000", "gd-440000"
FAST = ForwardingOptions(min_backoff=0.05, max_backoff=0.3, attempt_timeout=3.0, poll_interval=0.2)
#: The organization operating Zhejiang's platform (a well-formed code, not a real one).
ZJ_AUTHORITY_USCC = "12330000MB0U88871K"
R = report_service_pb2


def _free_base_port() -> int:
    # Three consecutive free ports and their metrics ports (+1000), as `dev up` uses them.
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + 1003 > 65535:
            continue
        try:
            for port in (base, base + 1, base + 2, base + 1000, base + 1001, base + 1002):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


@dataclass
class Federation:
    directory: DevFederation
    nodes: dict[str, GatewayNode]

    def operator(self, node_id: str) -> Credentials:
        return self.directory.node(node_id).operator

    def operator_dir(self, node_id: str) -> str:
        return str(self.directory.node(node_id).operator_dir)

    def endpoint(self, node_id: str) -> str:
        return self.directory.node(node_id).endpoint

    def reports(self, node_id: str, creds: Credentials) -> Any:
        channel = grpc.aio.secure_channel(self.endpoint(node_id), creds.channel_credentials())
        return report_service_pb2_grpc.ReportServiceStub(channel)


@contextlib.asynccontextmanager
async def running_federation(folder: Path) -> AsyncIterator[Federation]:
    """A development federation created in ``folder`` and served on this event loop."""
    directory = create_dev_federation(folder, base_port=_free_base_port())
    started = await start_federation(directory, forwarding=FAST)
    federation = Federation(directory, {n.node_id: n for n in started})
    try:
        yield federation
    finally:
        for node in federation.nodes.values():
            await node.stop(0)


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    async with running_federation(tmp_path / "fed") as federation:
        yield federation


async def cli(*argv: str) -> tuple[int, str, str]:
    """``creditlink ARGV`` in a thread (the gateways run on this test's event loop)."""
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(list(argv))

    code = await asyncio.to_thread(run)
    return code, out.getvalue(), err.getvalue()


async def publish_penalty(fed: Federation) -> None:
    """Zhejiang's operator publishes a penalty about the Hangzhou company, at Zhejiang."""
    core = ClientCore(credentials=fed.operator(ZJ), target=fed.endpoint(ZJ), gateway=ZJ)
    prepared = core.build_submit([penalty_record(uscc=LISTED_USCC)], recipients=[ZJ])
    channel = grpc.aio.secure_channel(fed.endpoint(ZJ), fed.operator(ZJ).channel_credentials())
    async with channel:
        response = await exchange_service_pb2_grpc.ExchangeServiceStub(channel).Submit(
            prepared.request, timeout=10
        )
    core.verify_receipt(response.receipt, prepared.expected)


def reasons(result: report_pb2.RecognitionResult) -> list[str]:
    return [
        report_pb2.RecognitionReason.Name(f.reason).removeprefix("RECOGNITION_REASON_")
        for f in result.findings
    ]


def failed_rules(output: str) -> list[str]:
    """The ``FAIL`` lines of ``creditlink report verify``: ``rule REASON`` each."""
    rows = []
    for line in output.splitlines():
        parts = line.split()
        if parts and parts[0] == "FAIL":
            rows.append(f"{parts[1]} {parts[2].rstrip(':')}")
    return rows


def tampered_copy(source: Path, target: Path) -> None:
    """The bundle with one bit of the signed payload flipped (the JSON stays well formed)."""
    document = json.loads(source.read_text(encoding="utf-8"))
    payload = bytearray(base64.b64decode(document["envelope"]["payload"]))
    payload[len(payload) // 2] ^= 0x01
    document["envelope"]["payload"] = base64.b64encode(bytes(payload)).decode("ascii")
    target.write_text(json.dumps(document), encoding="utf-8")


async def test_a_report_issued_in_zhejiang_is_recognized_in_guangdong(
    fed: Federation, tmp_path: Path
) -> None:
    await publish_penalty(fed)
    bundle_file = tmp_path / "report.json"
    zj_operator = ["--credentials", fed.operator_dir(ZJ), "--target", fed.endpoint(ZJ)]
    gd_operator = ["--credentials", fed.operator_dir(GD)]

    # Zhejiang issues, as a new user would: subject, purpose, the operator's authority, a file.
    code, out, err = await cli(
        "report",
        "issue",
        "--subject",
        LISTED_USCC,
        "--purpose",
        "government-procurement",
        "--authority-uscc",
        ZJ_AUTHORITY_USCC,
        "-o",
        str(bundle_file),
        *zj_operator,
    )
    assert code == 0, err
    assert "recognized  yes" in out
    bundle = ReportBundle.from_json(bundle_file.read_bytes())
    assert bundle.log_node_id == ZJ
    number = next(w for w in out.split() if w.startswith("CR-")).replace("-", "")
    assert report_no.is_valid(number)

    # Guangdong recognizes it offline, with nothing but its own verified trust bundle.
    gd_trust = read_trust_bundle(fed.directory.node(GD).credentials_dir)
    offline = verify_report_offline(
        bundle, gd_trust, purpose=UsePurpose.GOVERNMENT_PROCUREMENT, subject=LISTED_USCC
    )
    assert offline.recognized, [f.message for f in offline.failures]
    assert offline.report is not None
    assert offline.report.record_sections[0].items[0].record.subject.uscc == LISTED_USCC
    code, out, err = await cli(
        "report",
        "verify",
        str(bundle_file),
        *gd_operator,
        "--purpose",
        "government-procurement",
        "--subject",
        LISTED_USCC,
    )
    assert code == 0, out + err
    assert out.startswith("RECOGNIZED")
    assert "not known (offline)" in out  # offline, the status is not checked
    # ... and with the status the issuer states (asked over mutual TLS, as Guangdong's operator).
    code, out, _ = await cli("report", "verify", str(bundle_file), *gd_operator, "--online")
    assert code == 0, out
    assert "status      VALID" in out

    # Guangdong's gateway recognizes it too: it asks Zhejiang for the proof and the status.
    gd = fed.reports(GD, fed.operator(GD))
    presented = R.VerifyReportRequest(
        envelope=bundle.envelope.to_proto(),
        purpose=common_pb2.USE_PURPOSE_GOVERNMENT_PROCUREMENT,
        expected_uscc=LISTED_USCC,
    )
    online: R.VerifyReportResponse = await gd.VerifyReport(presented, timeout=15)
    assert online.result.recognized, reasons(online.result)
    assert online.result.status == report_pb2.REPORT_STATUS_VALID
    assert online.result.issuer_node_id == ZJ
    assert online.provenance[0].gateway_node_id == ZJ
    by_number: R.VerifyReportResponse = await gd.VerifyReport(
        R.VerifyReportRequest(report_number=report_no.format(number)), timeout=15
    )
    assert by_number.result.recognized
    assert by_number.report.report_number == number

    # Each failed rule, its own reason. A flipped bit: the signature and the log disagree.
    tampered = tmp_path / "tampered.json"
    tampered_copy(bundle_file, tampered)
    code, out, _ = await cli("report", "verify", str(tampered), *gd_operator)
    assert code == 1
    assert failed_rules(out) == ["signature SIGNATURE_INVALID", "log-inclusion NOT_LOGGED"]
    # Checked after its validity ended.
    report = offline.report
    late = report.valid_until.ToDatetime(tzinfo=UTC) + timedelta(seconds=1)
    code, out, _ = await cli(
        "report", "verify", str(bundle_file), *gd_operator, "--at", late.isoformat()
    )
    assert code == 1
    assert "validity EXPIRED" in failed_rules(out)
    # Presented for another purpose than it was issued for.
    code, out, _ = await cli(
        "report", "verify", str(bundle_file), *gd_operator, "--purpose", "bidding"
    )
    assert code == 1
    assert failed_rules(out) == ["purpose PURPOSE_MISMATCH"]
    wrong: R.VerifyReportResponse = await gd.VerifyReport(
        R.VerifyReportRequest(
            envelope=bundle.envelope.to_proto(), purpose=common_pb2.USE_PURPOSE_BIDDING
        ),
        timeout=15,
    )
    assert reasons(wrong.result) == ["PURPOSE_MISMATCH"]

    # Revoked at the issuer: Zhejiang's operator revokes it; Guangdong learns it from Zhejiang.
    code, out, err = await cli(
        "report", "revoke", number, "--reason", "出具时引用的处罚记录已被撤销", *zj_operator
    )
    assert code == 0, err
    assert "REVOKED" in out
    code, out, err = await cli("report", "status", number, *zj_operator, "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["status"] == "REVOKED"
    assert status["statusChange"]["reason"].startswith("出具时引用的处罚记录已被撤销")
    assert status["statusChange"]["signature"] == "verified"
    code, out, _ = await cli("report", "verify", str(bundle_file), *gd_operator, "--online")
    assert code == 1
    assert failed_rules(out) == ["status REVOKED"]
    revoked: R.VerifyReportResponse = await gd.VerifyReport(presented, timeout=15)
    assert not revoked.result.recognized
    assert reasons(revoked.result) == ["REVOKED"]
    assert revoked.result.status == report_pb2.REPORT_STATUS_REVOKED

    # Without the issuer there is neither status nor proof: Guangdong says so, it does not
    # answer "not recognized".
    await fed.nodes[ZJ].stop(0)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gd.VerifyReport(presented, timeout=30)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_info(caught.value).reason == "ISSUER_UNREACHABLE"
