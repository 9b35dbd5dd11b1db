"""``creditlink objection`` and ``creditlink repair`` as a platform operator runs them.

A real hub (ObjectionService, RecordService, NameListService and ExchangeService on SQLite, see
``tests/gateway/services/objections_gateway.py``) runs on its own event loop in a thread, its
clock at the real time (the command dates what it signs with the real time); the command runs
in the test with the Zhejiang operator's credentials directory, exactly as a user would run it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from creditlink.cli import build_parser, main
from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.v1 import (
    name_list_service_pb2,
    objection_service_pb2,
    record_service_pb2,
    repair_pb2,
)
from creditlink.v1.name_list_service_pb2_grpc import NameListServiceStub
from creditlink.v1.objection_service_pb2_grpc import ObjectionServiceStub
from creditlink.v1.record_service_pb2_grpc import RecordServiceStub
from tests.gateway.listings import date, entry_statement
from tests.gateway.objection_statements import (
    HUB,
    HZ_AMR,
    NATIONAL,
    SUBJECT,
    ZJ,
    record,
    record_statement,
)
from tests.gateway.services.objections_gateway import (
    Clock,
    ObjectionGateway,
    running_in_thread,
    sealed,
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    return create_dev_federation(Path(tmp_path_factory.mktemp("objection-cli-fed")))


@pytest.fixture
def gateway(federation: DevFederation, tmp_path: Path) -> Iterator[ObjectionGateway]:
    clock = Clock()
    clock.now = datetime.now(UTC)
    with running_in_thread(federation, str(tmp_path / "hub.sqlite3"), clock=clock) as running:
        yield running


@pytest.fixture
def operator(federation: DevFederation) -> Path:
    return federation.node(ZJ).operator_dir


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, content in (
        ("receipt.pdf", b"%PDF-1.4 fine paid"),
        ("notice.pdf", b"%PDF-1.4 corrected"),
        ("letter.pdf", b"%PDF-1.4 commitment letter"),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        out[name] = path
    return out


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def connection(gateway: ObjectionGateway, operator: Path) -> list[str]:
    return ["--credentials", str(operator), "--target", gateway.address]


def publish(gateway: ObjectionGateway) -> str:
    """A general penalty decided on 6 January 2025, published by Zhejiang's platform."""
    body = record()
    request_id, envelope_ = sealed(
        gateway.creds(ZJ), [record_statement(body), record_statement(record())]
    )
    with grpc.secure_channel(gateway.address, gateway.creds(ZJ).channel_credentials()) as channel:
        RecordServiceStub(channel).SubmitRecords(
            record_service_pb2.SubmitRecordsRequest(request_id=request_id, sealed_batch=envelope_)
        )
    return body.record_id


def get_record(gateway: ObjectionGateway, record_id: str) -> record_service_pb2.GetRecordResponse:
    with grpc.secure_channel(gateway.address, gateway.creds(ZJ).channel_credentials()) as channel:
        return RecordServiceStub(channel).GetRecord(
            record_service_pb2.GetRecordRequest(record_id=record_id)
        )


def list_entry(gateway: ObjectionGateway, record_id: str) -> str:
    """The national authority lists the subject on the record (determined 6 January 2025)."""
    listing = entry_statement(
        HUB, start="2025-01-10", end="2028-01-09", record_id=record_id, recipients=(HUB,)
    )
    listing.name_list_entry.determination_date.CopyFrom(date("2025-01-06"))
    request_id, envelope_ = sealed(gateway.creds(HUB), [listing])
    with grpc.secure_channel(gateway.address, gateway.creds(HUB).channel_credentials()) as channel:
        NameListServiceStub(channel).CreateNameListEntry(
            name_list_service_pb2.CreateNameListEntryRequest(
                request_id=request_id, sealed_statement=envelope_
            )
        )
    return listing.name_list_entry.entry_id


def test_the_commands_are_registered() -> None:
    parser = build_parser()
    args = parser.parse_args(["objection", "list", "--subject", SUBJECT, "--credentials", "d"])
    assert args.objection_command == "list"
    args = parser.parse_args(
        [
            "repair",
            "apply",
            "--target-record",
            "X",
            "--evidence",
            "f",
            "--statement",
            "s",
            "--credentials",
            "d",
        ]
    )
    assert (args.repair_command, args.public, args.related) == ("apply", True, True)


def test_file_an_objection_and_list_it(
    gateway: ObjectionGateway,
    operator: Path,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_id = publish(gateway)
    code, out, err = run(
        capsys,
        "objection",
        "file",
        "--target-record",
        record_id,
        "--type",
        "error",
        "--evidence",
        str(files["receipt.pdf"]),
        str(files["notice.pdf"]),
        "--claim",
        "罚款金额记载错误",
        "--commitment-letter",
        str(files["letter.pdf"]),
        *connection(gateway, operator),
    )
    assert code == 0, err
    assert "receipt verified" in out
    assert "disputed" in out
    objection_id = out.splitlines()[0].split(":", 1)[1].strip()
    got = get_record(gateway, record_id)
    assert got.disputed
    assert list(got.open_objection_ids) == [objection_id]

    code, out, err = run(
        capsys, "objection", "list", "--subject", SUBJECT, *connection(gateway, operator)
    )
    assert code == 0, err
    assert objection_id in out
    assert "OPEN" in out
    code, out, _ = run(
        capsys, "objection", "list", "--subject", SUBJECT, "--json", *connection(gateway, operator)
    )
    item = json.loads(out.splitlines()[0])
    assert item["objection_id"] == objection_id
    assert item["handling_authority"]["uscc"] == HZ_AMR
    assert len(item["evidence"]) == 2
    assert item["evidence"][0]["holder_node_id"] == f"{ZJ}-operator"
    code, out, _ = run(
        capsys,
        "objection",
        "list",
        "--subject",
        SUBJECT,
        "--overdue",
        *connection(gateway, operator),
    )
    assert (code, out.strip()) == (0, "no objections")


def test_refusals_and_usage_errors(
    gateway: ObjectionGateway,
    operator: Path,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = [
        "objection",
        "file",
        "--type",
        "error",
        "--evidence",
        str(files["receipt.pdf"]),
        "--claim",
        "x",
        "--commitment-letter",
        str(files["letter.pdf"]),
        *connection(gateway, operator),
    ]
    code, _, err = run(capsys, *base, "--target-record", "00000000-0000-4000-8000-000000000000")
    assert code == 1
    assert "RECORD_NOT_FOUND" in err
    code, _, err = run(capsys, *base)
    assert code == 2
    assert "--target-record" in err
    missing = [*base, "--target-record", "x"]
    missing[missing.index(str(files["receipt.pdf"]))] = str(files["receipt.pdf"]) + ".gone"
    code, _, err = run(capsys, *missing)
    assert code == 2
    assert "no such file" in err
    code, _, err = run(
        capsys,
        "objection",
        "list",
        "--subject",
        "91330100MA27XL0A6X",
        *connection(gateway, operator),
    )
    assert code == 2
    assert "not a valid USCC" in err


def test_repair_apply_one_application_per_deciding_authority(
    gateway: ObjectionGateway,
    operator: Path,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_id = publish(gateway)
    entry_id = list_entry(gateway, record_id)
    code, out, err = run(
        capsys,
        "repair",
        "apply",
        "--target-record",
        record_id,
        "--evidence",
        str(files["receipt.pdf"]),
        "--statement",
        "已缴清罚款并完成整改",
        "--commitment-letter",
        str(files["letter.pdf"]),
        "--json",
        *connection(gateway, operator),
    )
    assert code == 0, err
    results = json.loads(out)
    assert len(results) == 2
    by_authority = {r["application"]["deciding_authority"]["uscc"]: r for r in results}
    record_app = by_authority[HZ_AMR]["application"]
    entry_app = by_authority[NATIONAL]["application"]
    assert record_app["targets"] == [{"record_id": record_id}]
    # The entry whose basis cites the record was added: its measures end only if it is named.
    assert entry_app["targets"] == [{"name_list_entry_id": entry_id}]
    assert record_app["commitment_id"] == entry_app["commitment_id"]
    assert record_app["status"] == "REPAIR_STATUS_SUBMITTED"
    assert by_authority[HZ_AMR]["eligibility"][0]["eligible"] is True
    with grpc.secure_channel(gateway.address, gateway.creds(ZJ).channel_credentials()) as channel:
        stored = ObjectionServiceStub(channel).GetRepairApplication(
            objection_service_pb2.GetRepairApplicationRequest(
                application_id=record_app["application_id"]
            )
        )
    assert stored.application.status == repair_pb2.REPAIR_STATUS_SUBMITTED
    assert len(stored.provenance) == 1

    # Without the related entries: one application.
    code, out, err = run(
        capsys,
        "repair",
        "apply",
        "--target-record",
        record_id,
        "--evidence",
        str(files["receipt.pdf"]),
        "--statement",
        "已缴清罚款并完成整改",
        "--no-related-entries",
        *connection(gateway, operator),
    )
    assert code == 0, err
    assert out.count("application:") == 1
    assert "eligibility (local)" in out
