"""``creditlink report verify`` as a verifier at an approval window runs it.

Real material only: a development federation (keys, trust bundle, pinned roots in each
credentials directory), a report signed by zj-330000 and logged in a real RFC 9162 log whose
checkpoint zj-330000's checkpoint key signs. Exit status 0 only when recognized, 1 when not
(including a file that is not a report bundle), 2 for usage errors.

``creditlink.cli`` does not list the command yet, so the tests build the same parser shape
(``register(sub)`` then ``args.run``) around :mod:`creditlink.cli.report`.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from creditlink.cli import report as report_cli
from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.reports import ReportBundle
from tests.report_bundles import report_bundle

ZJ = "zj-330000"
COMPANY = "91330100MA27XL0A6Q"


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    return create_dev_federation(Path(tmp_path_factory.mktemp("report-cli-fed")))


@pytest.fixture(scope="module")
def issued(fed: DevFederation) -> datetime:
    return fed.trust_bundle.issued_at + timedelta(minutes=1)


@pytest.fixture(scope="module")
def at(issued: datetime) -> str:
    """The --at instant every check uses: an hour after issuance."""
    return (issued + timedelta(hours=1)).isoformat()


def _bundle(fed: DevFederation, issued: datetime, *, key: PrivateKey | None = None) -> ReportBundle:
    """A report by zj-330000, logged (with other entries) in zj-330000's log."""
    return report_bundle(fed, issued, key=key)


@pytest.fixture(scope="module")
def good_file(
    fed: DevFederation, issued: datetime, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("bundles") / "report.json"
    path.write_text(_bundle(fed, issued).to_json(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tampered_file(
    fed: DevFederation, issued: datetime, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    bundle = _bundle(fed, issued)
    env = bundle.envelope
    payload = bytearray(env.payload)
    payload[-3] ^= 0x01
    forged = ReportBundle(
        envelope=Envelope(
            payload=bytes(payload), payload_type=env.payload_type, signatures=env.signatures
        ),
        log_node_id=bundle.log_node_id,
        leaf_index=bundle.leaf_index,
        tree_size=bundle.tree_size,
        inclusion_proof=bundle.inclusion_proof,
        checkpoint=bundle.checkpoint,
    )
    path = tmp_path_factory.mktemp("bundles") / "tampered.json"
    path.write_text(forged.to_json(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def creds_dir(fed: DevFederation) -> Path:
    """A verifier's credentials: gd-440000's operator, in another region than the issuer."""
    return fed.node("gd-440000").operator_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="creditlink")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    report_cli.register(sub)
    try:
        args = parser.parse_args(["report", *argv])
        code = int(args.run(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _rule_line(output: str, rule: str) -> str:
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] == rule:
            return line
    raise AssertionError(f"no line for rule {rule!r} in:\n{output}")


# --------------------------------------------------------------------------------------------
# Recognized: exit 0
# --------------------------------------------------------------------------------------------


def test_recognized_with_credentials(
    capsys: pytest.CaptureFixture[str], good_file: Path, creds_dir: Path, at: str
) -> None:
    code, out, err = run(
        capsys, "verify", str(good_file), "--credentials", str(creds_dir), "--at", at
    )
    assert code == 0, out + err
    assert out.startswith("RECOGNIZED  CR-330000-")
    assert "杭州某某科技有限公司 91330100MA27XL0A6Q" in out
    assert "zj-330000, leaf 3 of 5" in out
    assert _rule_line(out, "signature").split()[0] == "ok"
    assert _rule_line(out, "log-inclusion").split()[0] == "ok"
    # Offline, the status is not known: said so, and it does not prevent recognition.
    assert _rule_line(out, "status").split()[0] == "--"
    assert "not known (offline)" in out


def test_recognized_with_trust_bundle_and_pinned_roots(
    capsys: pytest.CaptureFixture[str], good_file: Path, creds_dir: Path, at: str
) -> None:
    code, out, err = run(
        capsys,
        "verify",
        str(good_file),
        "--trust-bundle",
        str(creds_dir / "trust" / "bundle.json"),
        "--roots",
        str(creds_dir / "trust" / "roots.pem"),
        "--threshold",
        "2",
        "--purpose",
        "bidding",
        "--subject",
        "91330100-MA27XL0A6Q",
        "--status",
        "valid",
        "--at",
        at,
    )
    assert code == 0, out + err
    assert all(line.split()[0] == "ok" for line in out.splitlines()[-14:]), out


def test_json_output(
    capsys: pytest.CaptureFixture[str], good_file: Path, creds_dir: Path, at: str
) -> None:
    code, out, _ = run(
        capsys, "verify", str(good_file), "--credentials", str(creds_dir), "--at", at, "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert result["recognized"] is True
    assert result["issuerNodeId"] == ZJ
    assert result["status"] is None
    assert [f["rule"] for f in result["findings"]][:3] == [
        "trust-bundle",
        "payload-type",
        "signature",
    ]
    assert {f["outcome"] for f in result["findings"]} <= {"passed", "not-checked"}


# --------------------------------------------------------------------------------------------
# Not recognized: exit 1, every reason printed
# --------------------------------------------------------------------------------------------


def test_tampered_report_is_not_recognized(
    capsys: pytest.CaptureFixture[str], tampered_file: Path, creds_dir: Path, at: str
) -> None:
    code, out, _ = run(
        capsys, "verify", str(tampered_file), "--credentials", str(creds_dir), "--at", at
    )
    assert code == 1
    assert out.startswith("NOT RECOGNIZED  (no verified report)")
    assert "SIGNATURE_INVALID" in _rule_line(out, "signature")
    assert "NOT_LOGGED" in _rule_line(out, "log-inclusion")
    assert _rule_line(out, "validity").split()[0] == "--"


def test_each_failed_rule_prints_its_reason(
    capsys: pytest.CaptureFixture[str], good_file: Path, creds_dir: Path, issued: datetime
) -> None:
    late = (issued + timedelta(days=31)).isoformat()
    code, out, _ = run(
        capsys,
        "verify",
        str(good_file),
        "--credentials",
        str(creds_dir),
        "--purpose",
        "financing",
        "--subject",
        "91440300MA5G9B3K2R",
        "--status",
        "revoked",
        "--at",
        late,
    )
    assert code == 1
    expected = {
        "status": "REVOKED",
        "validity": "EXPIRED",
        "purpose": "PURPOSE_MISMATCH",
        "freshness": "STALE_FOR_PURPOSE",
        "subject": "SUBJECT_MISMATCH",
    }
    for rule, reason in expected.items():
        line = _rule_line(out, rule)
        assert line.split()[0] == "FAIL", line
        assert reason in line, line
    assert _rule_line(out, "signature").split()[0] == "ok"


def test_signed_outside_the_federation(
    capsys: pytest.CaptureFixture[str],
    fed: DevFederation,
    issued: datetime,
    creds_dir: Path,
    at: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "foreign.json"
    path.write_text(_bundle(fed, issued, key=PrivateKey.generate()).to_json(), encoding="utf-8")
    code, out, _ = run(capsys, "verify", str(path), "--credentials", str(creds_dir), "--at", at)
    assert code == 1
    assert "UNKNOWN_ISSUER" in _rule_line(out, "issuer")


def test_expired_trust_bundle(
    capsys: pytest.CaptureFixture[str], fed: DevFederation, good_file: Path, creds_dir: Path
) -> None:
    later = (fed.trust_bundle.expires_at + timedelta(days=1)).isoformat()
    for trust_args in (
        ["--credentials", str(creds_dir)],
        [
            "--trust-bundle",
            str(creds_dir / "trust" / "bundle.json"),
            "--roots",
            str(creds_dir / "trust" / "roots.pem"),
        ],
    ):
        code, out, err = run(capsys, "verify", str(good_file), *trust_args, "--at", later)
        assert code == 1, out + err
        assert "TRUST_BUNDLE_EXPIRED" in _rule_line(out, "trust-bundle")


@pytest.mark.parametrize(
    "content",
    [
        b"{}",
        b"not json",
        b'{"mediaType": "application/vnd.creditlink.report-bundle.v1+json", "extra": 1}',
    ],
)
def test_file_that_is_not_a_bundle(
    capsys: pytest.CaptureFixture[str], creds_dir: Path, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code, out, _ = run(capsys, "verify", str(path), "--credentials", str(creds_dir))
    assert code == 1
    assert "MALFORMED" in _rule_line(out, "format")
    code, out, _ = run(capsys, "verify", str(path), "--credentials", str(creds_dir), "--json")
    assert code == 1
    result = json.loads(out)
    assert result["recognized"] is False
    assert [f["reason"] for f in result["findings"] if f["reason"]] == ["MALFORMED"]


def test_unknown_member_is_named(
    capsys: pytest.CaptureFixture[str], good_file: Path, creds_dir: Path, tmp_path: Path
) -> None:
    obj = json.loads(good_file.read_text(encoding="utf-8"))
    obj["log"]["timestamp"] = 0
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    code, out, _ = run(capsys, "verify", str(path), "--credentials", str(creds_dir))
    assert code == 1
    assert "timestamp" in out


# --------------------------------------------------------------------------------------------
# Usage errors: exit 2
# --------------------------------------------------------------------------------------------


def test_usage_errors(
    capsys: pytest.CaptureFixture[str], good_file: Path, creds_dir: Path, tmp_path: Path
) -> None:
    bundle_json = str(creds_dir / "trust" / "bundle.json")
    roots_pem = str(creds_dir / "trust" / "roots.pem")
    other_root = tmp_path / "other-root.pem"
    other_root.write_bytes(PrivateKey.generate().public_key.to_pem())
    verify = ["verify", str(good_file)]
    creds = [*verify, "--credentials", str(creds_dir)]
    pinned = [*verify, "--trust-bundle", bundle_json, "--roots"]
    cases = {
        "no subcommand": [],
        "no trust material": verify,
        "both trust sources": [*creds, "--trust-bundle", bundle_json],
        "missing file": ["verify", str(tmp_path / "none.json"), "--credentials", str(creds_dir)],
        "trust bundle without roots": [*verify, "--trust-bundle", bundle_json],
        "roots with credentials": [*creds, "--roots", roots_pem],
        "threshold above the roots": [*pinned, roots_pem, "--threshold", "3"],
        "bundle not signed by the pinned root": [*pinned, str(other_root)],
        "not a credentials directory": [*verify, "--credentials", str(tmp_path)],
        "unknown purpose": [*creds, "--purpose", "shopping"],
        "invalid subject": [*creds, "--subject", "91330100MA27XL0A6X"],
        "unknown status": [*creds, "--status", "lost"],
        "instant without zone": [*creds, "--at", "2026-03-01T10:00:00"],
    }
    for name, argv in cases.items():
        code, out, err = run(capsys, *argv)
        assert code == 2, (name, out, err)
        assert out == "", name
        assert err, name


def test_at_sets_the_instant_checked(
    capsys: pytest.CaptureFixture[str], good_file: Path, creds_dir: Path
) -> None:
    # --at accepts Z and offsets; the check runs at that instant.
    code, out, _ = run(
        capsys,
        "verify",
        str(good_file),
        "--credentials",
        str(creds_dir),
        "--at",
        datetime(2000, 1, 1, tzinfo=UTC).isoformat().replace("+00:00", "Z"),
    )
    assert code == 1
    assert "NOT_YET_VALID" in _rule_line(out, "validity")
