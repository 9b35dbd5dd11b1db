"""``docs/examples/`` run: each example program against a real development gateway.

The gateway is the node ``ensure_dev_node`` creates (what ``creditlink serve`` does), served by
:class:`RunningGateway` over a fresh store for each test. Each example is loaded from its file
and its ``main(argv)`` called with the operator's credentials directory, as
``python docs/examples/X.py --credentials .creditlink/operator`` would; the tests then check
what it printed and what it did to the gateway (the log, the records, the files it wrote).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import json_format

from creditlink.cli import main as creditlink
from creditlink.gateway.bootstrap import DevNode, ensure_dev_node
from creditlink.sdk import Client, NameListMirror
from creditlink.sdk.reports import ReportBundle
from creditlink.v1 import common_pb2, record_pb2, statement_pb2
from tests.sdk.client.sdk_client_support import RunningGateway, free_port

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
NAMES = ("push_records", "mirror_name_lists", "issue_and_verify_report", "react_to_feed")
Run = Callable[..., str]
#: Valid rows in docs/examples/data/penalties.csv (one more is quarantined).
ROWS = 6
#: The subject the mirror example lists and the report example reports on.
LISTED = "91330108MA2CDRLU5H"


def example(name: str) -> ModuleType:
    """The example ``docs/examples/<name>.py``, imported from its file (not from a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevNode:
    return ensure_dev_node(
        tmp_path_factory.mktemp("examples") / ".creditlink", listen=f"127.0.0.1:{free_port()}"
    )


@pytest.fixture
def gateway(
    dev: DevNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningGateway]:
    monkeypatch.chdir(tmp_path)  # where the examples' default files would go
    running = RunningGateway(credentials=dev.node, data_dir=tmp_path / "node", listen=dev.listen)
    running.start()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def run(dev: DevNode, capsys: pytest.CaptureFixture[str]) -> Run:
    def run_example(name: str, *args: str) -> str:
        """Run an example as its command line would; its output (exit code 0 required)."""
        capsys.readouterr()
        code = example(name).main(["--credentials", str(dev.operator_dir), *args])
        out = capsys.readouterr().out
        assert code == 0, out
        return out

    return run_example


def test_push_records_maps_the_export_and_pushes_it_once(
    run: Run, gateway: RunningGateway, dev: DevNode
) -> None:
    out = run("push_records", "--batch-size", "4")
    quarantined = [line for line in out.splitlines() if line.startswith("quarantined")]
    assert quarantined == [  # the export's one bad row, never sent
        "quarantined 杭市监罚〔2026〕56号: check character at position 18 is '4', expected '3'"
        " [INVALID_USCC]"
    ]
    assert f"pushing {ROWS} records" in out
    assert f"acknowledged: {ROWS}/{ROWS} records, 2/2 batches" in out
    assert out.count("receipt ") == 2  # batches of 4 and 2, one verified receipt each
    assert gateway.log_size() == ROWS

    # What the gateway holds is the rows as mapped.
    push = example("push_records")
    rows = list(push.read_records(push.DATA))
    with Client.from_credentials(dev.operator_dir) as client:
        stored = [client.get_record(row.record_id).value for row in rows]
    assert [r.document_number for r in stored] == [r.document_number for r in rows]
    assert stored[1].penalty.categories == [
        record_pb2.PENALTY_CATEGORY_FINE,
        record_pb2.PENALTY_CATEGORY_CONFISCATION_OF_ILLEGAL_PROPERTY,
    ]
    assert stored[2].severity == record_pb2.SEVERITY_SERIOUS
    assert stored[3].subject.kind == common_pb2.SUBJECT_KIND_INDIVIDUAL_BUSINESS  # 个体工商户
    assert stored[3].penalty.valid_until_long_term  # YXQ 2099/12/31
    assert stored[3].penalty.fine_amount == ""  # a warning, no fine

    # A second run finds every row on the gateway and sends nothing.
    again = run("push_records")
    assert again.count("already on the gateway") == ROWS
    assert "pushed 0 records" in again
    assert gateway.log_size() == ROWS


def test_mirror_answers_the_window_and_the_gateway_resolves_the_measures(
    run: Run, gateway: RunningGateway, dev: DevNode, tmp_path: Path
) -> None:
    connect = ["--credentials", str(dev.operator_dir)]
    assert creditlink(["measures", "publish", "--seed-2021", *connect]) == 0
    mirror = tmp_path / "name-lists.sqlite3"

    out = run("mirror_name_lists", "--mirror", str(mirror), "--demo-listing")
    assert f"listed {LISTED}" in out
    assert "1 entries (1 new, 0 transitions)" in out
    assert f"{LISTED}: LISTED, measures national-basic@2021.1 #1\n" in out  # procurement only
    assert out.count(": not listed") == 2
    assert f"gateway on {LISTED}: listed=True" in out
    assert "measure #1: 限制参加政府采购活动" in out  # the one measure for procurement
    assert gateway.log_size() == 2  # the measure list and the listing

    # The file is the mirror: a later run pulls nothing new, and it answers with no client.
    again = run("mirror_name_lists", "--mirror", str(mirror), "--demo-listing")
    assert f"{LISTED} is listed already" in again
    assert "1 entries (0 new, 0 transitions)" in again
    with NameListMirror(None, mirror) as offline:
        assert offline.is_listed(LISTED)


def test_a_report_is_issued_saved_and_recognized_offline_and_online(
    run: Run, gateway: RunningGateway, tmp_path: Path
) -> None:
    run("push_records")
    bundle_file = tmp_path / "report.json"

    out = run("issue_and_verify_report", "--out", str(bundle_file))
    assert f"on {LISTED} for bidding" in out
    assert "offline: recognized=True" in out
    assert "  signature     passed" in out
    assert "  log-inclusion passed" in out
    assert "online: recognized=True, by number=True" in out
    assert gateway.log_size() == ROWS + 1  # the records and the report

    bundle = ReportBundle.from_json(bundle_file.read_bytes())
    assert bundle.log_node_id == "dev-node"
    assert bundle.leaf_index == ROWS
    report = statement_pb2.Statement.FromString(bundle.envelope.payload).report
    assert report.subject.uscc == LISTED
    (section,) = report.record_sections  # the subject's one penalty in the export
    assert section.category == record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY
    assert section.items[0].record.document_number == "杭市监罚〔2026〕31号"


def test_the_feed_reactor_resumes_from_its_cursor_store(
    run: Run, gateway: RunningGateway, dev: DevNode, tmp_path: Path
) -> None:
    run("push_records")
    run("mirror_name_lists", "--mirror", str(tmp_path / "m.sqlite3"), "--demo-listing")
    cursors = ["--cursors", str(tmp_path / "cursors.sqlite3")]

    out = run("react_to_feed", *cursors, "--max-entries", "7", "--timeout", "30")
    assert "罚款人民币五万元" in out  # the first penalty row
    assert f"LISTED 杭州某某贸易有限公司 {LISTED} on NAME_LIST_TYPE_SERIOUS_UNTRUSTWORTHY" in out
    assert (
        "reacted to 7 entries (name-list-entry: 1, record: 6); the next run starts at leaf 7" in out
    )

    # Nothing new: the next run waits, and stops at its timeout having seen nothing.
    out = run("react_to_feed", *cursors, "--timeout", "1")
    assert "nothing more within 1.0 s" in out
    assert "reacted to 0 entries (nothing); the next run starts at leaf 7" in out

    # A new record: the next run starts with it (leaf 7), not at the start of the log.
    with Client.from_credentials(dev.operator_dir) as client:
        push = example("push_records")
        record = next(push.read_records(push.DATA))
        record.record_id = "0b7f3a8e-2d61-4c59-9e0f-5a1c2b3d4e5f"
        record.document_number = "杭市监罚〔2026〕60号"
        client.submit(record)
    out = run("react_to_feed", *cursors, "--max-entries", "1", "--timeout", "30")
    assert "[7] 杭州某某科技有限公司 91330100MA27XL0A6Q: 杭市监罚〔2026〕60号" in out
    assert "reacted to 1 entries (record: 1); the next run starts at leaf 8" in out


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_each_example_is_a_script(name: str) -> None:
    """``python docs/examples/<name>.py --help`` works: a guarded main, its docstring as help."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--credentials" in done.stdout
    first_line = (example(name).__doc__ or "").split("\n", 1)[0]
    assert first_line in " ".join(done.stdout.split())


def test_the_records_file_of_the_docs_is_the_export_and_the_command_line_submits_it(
    gateway: RunningGateway, dev: DevNode, capsys: pytest.CaptureFixture[str]
) -> None:
    """``docs/examples/data/records.json`` works with docs/records.md's command line as
    printed: it holds the export's first rows mapped as ``push_records.py`` maps them (so the
    two cannot drift apart), published three days after their decision."""
    sample_path = EXAMPLES / "data" / "records.json"
    sample = [
        json_format.ParseDict(item, record_pb2.CreditRecord())
        for item in json.loads(sample_path.read_text(encoding="utf-8"))
    ]
    push = example("push_records")
    with push.DATA.open(encoding="utf-8", newline="") as export:
        rows = list(csv.DictReader(export))[: len(sample)]
    assert len(sample) == 2
    for record, row in zip(sample, rows, strict=True):
        assert record == push.to_record(row, record.publication_start)
        decided = date(
            record.decision_date.year, record.decision_date.month, record.decision_date.day
        )
        published = record.publication_start
        assert date(published.year, published.month, published.day) == decided + timedelta(days=3)

    connect = ["--credentials", str(dev.operator_dir)]  # as printed: the manifest names the node
    capsys.readouterr()
    assert creditlink(["records", "submit", str(sample_path), *connect]) == 0
    assert "2 record(s) published" in capsys.readouterr().out
    assert gateway.log_size() == 2
    assert creditlink(["records", "list", "--subject", sample[0].subject.uscc, *connect]) == 0
    assert sample[0].record_id in capsys.readouterr().out
    # Running the same file twice is refused, not published twice (docs/records.md).
    assert creditlink(["records", "submit", str(sample_path), *connect]) == 1
    assert "RECORD_ALREADY_EXISTS" in capsys.readouterr().err
    assert gateway.log_size() == 2
