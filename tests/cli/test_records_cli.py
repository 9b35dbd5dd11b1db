"""``creditlink records`` as an operator runs it, against a real hub over mutual TLS.

The hub (RecordService and ExchangeService on SQLite, see
``tests/gateway/services/records_gateway.py``) runs on its own event loop in a thread; the
command runs in the test, with the Zhejiang operator's credentials directory, exactly as
``creditlink records ...`` would. Its output is parsed as a user's script would parse it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import json_format

from creditlink.cli import build_parser, main
from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.v1 import record_pb2
from tests.gateway.services.records_gateway import Clock, RecordsGateway, running_in_thread
from tests.gateway.statements import penalty_record

A = "91330100MA27XL0A6Q"
B = "91330106MA2B2E3N7X"
ZJ = "zj-330000"


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    return create_dev_federation(Path(tmp_path_factory.mktemp("records-cli-fed")))


@pytest.fixture
def gateway(federation: DevFederation, tmp_path: Path) -> Iterator[RecordsGateway]:
    # Logged now: provenance is verified with the keys valid when the entry was logged, and
    # the federation's keys are only as old as this test session.
    clock = Clock(datetime.now(UTC))
    with running_in_thread(federation, str(tmp_path / "hub.sqlite3"), clock=clock) as running:
        yield running


@pytest.fixture
def operator(federation: DevFederation) -> Path:
    return federation.node(ZJ).operator_dir


def records_file(path: Path, records: list[record_pb2.CreditRecord]) -> Path:
    path.write_text(
        json.dumps([json_format.MessageToDict(r) for r in records], ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def honour(uscc: str = A) -> record_pb2.CreditRecord:
    record = penalty_record(uscc=uscc)
    record.category = record_pb2.RECORD_CATEGORY_HONOUR
    record.severity = record_pb2.SEVERITY_NOT_UNTRUSTWORTHY
    record.ClearField("penalty")
    record.general.title = "守合同重信用企业"
    return record


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["records", *args])
    out, err = capsys.readouterr()
    return code, out, err


def connection(gateway: RecordsGateway, operator: Path) -> list[str]:
    return ["--credentials", str(operator), "--target", gateway.address]


def test_the_command_is_registered() -> None:
    args = build_parser().parse_args(["records", "get", "X", "--credentials", "d"])
    assert args.records_command == "get"


def test_submit_then_get_and_list_as_an_operator_would(
    gateway: RecordsGateway, operator: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    penalty, prize, other = penalty_record(), honour(), penalty_record(uscc=B)
    path = records_file(tmp_path / "records.json", [penalty, prize, other])
    code, out, err = run(capsys, "submit", str(path), *connection(gateway, operator))
    assert code == 0, err
    assert "3 record(s) published" in out
    for record in (penalty, prize, other):
        assert record.record_id in out

    code, out, err = run(
        capsys, "get", penalty.record_id, "--proof", *connection(gateway, operator)
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["status"] == "RECORD_STATUS_ACTIVE"
    assert json_format.ParseDict(shown["record"], record_pb2.CreditRecord()) == penalty
    (provenance,) = shown["provenance"]
    assert provenance["signature"] == "verified"
    assert provenance["inclusion"] == "verified"
    assert provenance["kind"] == "record"
    assert provenance["sender"] == f"{ZJ}-operator"

    code, out, err = run(capsys, "list", "--subject", A, *connection(gateway, operator))
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert {line.split()[0] for line in lines} == {penalty.record_id, prize.record_id}
    assert "2 record(s)" in err

    code, out, _ = run(
        capsys,
        "list",
        "--subject",
        A,
        "--category",
        "honour",
        "--json",
        *connection(gateway, operator),
    )
    assert code == 0
    (line,) = out.splitlines()
    assert json.loads(line)["recordId"] == prize.record_id
    code, out, _ = run(
        capsys, "list", "--subject", A, "--status", "REVOKED", *connection(gateway, operator)
    )
    assert (code, out) == (0, "")


def test_batches_of_a_given_size_each_get_a_receipt(
    gateway: RecordsGateway, operator: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [penalty_record() for _ in range(5)]
    path = records_file(tmp_path / "five.json", records)
    code, out, err = run(
        capsys, "submit", str(path), "--batch-size", "2", "--json", *connection(gateway, operator)
    )
    assert code == 0, err
    receipts = [json.loads(line) for line in out.splitlines()]
    assert [r["record_ids"] for r in receipts] == [
        [records[0].record_id, records[1].record_id],
        [records[2].record_id, records[3].record_id],
        [records[4].record_id],
    ]
    assert [r["first_leaf_index"] for r in receipts] == [0, 2, 4]
    assert all(r["gateway"] == "cn-hub" for r in receipts)


def test_a_second_run_of_the_same_file_is_refused(
    gateway: RecordsGateway, operator: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = records_file(tmp_path / "records.json", [penalty_record(), penalty_record()])
    assert run(capsys, "submit", str(path), *connection(gateway, operator))[0] == 0
    code, out, err = run(capsys, "submit", str(path), *connection(gateway, operator))
    assert code == 1
    assert "RECORD_ALREADY_EXISTS" in err
    assert "published" not in out


def test_unknown_records_and_unreachable_gateways_fail(
    gateway: RecordsGateway, operator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "get", str(uuid.uuid4()), *connection(gateway, operator))
    assert code == 1
    assert "RECORD_NOT_FOUND" in err
    code, _, err = run(
        capsys,
        "list",
        "--subject",
        A,
        "--credentials",
        str(operator),
        "--target",
        "127.0.0.1:1",
        "--timeout",
        "2",
    )
    assert code == 1
    assert "creditlink records:" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "records.json"),
        ('{"recordId": "x"}', "expected a JSON array"),
        ("[]", "no records"),
        ('[{"recordId": "01J00000000000000000000000", "colour": "red"}]', "records[0]"),
        ('[{"revision": 1}]', "has no recordId"),
    ],
)
def test_a_bad_file_is_a_usage_error_and_sends_nothing(
    gateway: RecordsGateway,
    operator: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    path = tmp_path / "records.json"
    path.write_text(content, encoding="utf-8")
    code, _, err = run(capsys, "submit", str(path), *connection(gateway, operator))
    assert code == 2
    assert message in err


def test_unusable_credentials_and_options_are_usage_errors(
    gateway: RecordsGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "get", "X", "--credentials", str(tmp_path), "--target", gateway.address
    )
    assert code == 2
    assert "creditlink records:" in err
    operator = tmp_path  # any path: the category is checked before connecting
    code, _, err = run(
        capsys, "list", "--subject", A, "--category", "bogus", "--credentials", str(operator)
    )
    assert code == 2
    assert "bogus" in err
