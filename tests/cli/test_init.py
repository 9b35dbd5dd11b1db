"""``creditlink init`` and ``creditlink federation`` as their users run them.

* Flags: every bad flag is exit status 2 with a message naming it, and nothing is written.
* End to end, in process: federation create → init → enroll → init --complete, then the node
  starts as a :class:`GatewayNode` on loopback and answers the federation operator's client
  credentials over mutual TLS (health and ``FederationService.GetTrustBundle``).
* ``creditlink serve --config DIR/creditlink.toml`` in a real process, with an environment
  variable overriding the file.
* The walkthrough block of docs/enrollment.md, run by bash exactly as written.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from creditlink.cli import main
from creditlink.gateway.config import load_config
from creditlink.gateway.node import GatewayNode
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.trust import TrustBundle
from creditlink.v1 import federation_service_pb2, federation_service_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent.parent
STARTUP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    # Nothing a command prints may hold key material.
    assert "PRIVATE KEY" not in out + err
    return code, out, err


def _field(output: str, name: str) -> str:
    match = re.search(rf"^\s*{re.escape(name)}\s*: (\S+)", output, re.M)
    assert match, f"{name!r} not in:\n{output}"
    return match.group(1)


def _init_flags(directory: Path, port: int, *extra: str) -> list[str]:
    return [
        "init",
        "--node-id",
        "zj-330000",
        "--region",
        "330000",
        "--kind",
        "regional",
        "--listen",
        f"127.0.0.1:{port}",
        "--metrics-listen",
        "127.0.0.1:0",
        "--dir",
        str(directory),
        *extra,
    ]


def _federation(capsys: pytest.CaptureFixture[str], directory: Path) -> str:
    """Create a 2-of-2 federation in ``directory``; its roots fingerprint."""
    code, out, _ = _cli(
        capsys,
        "federation",
        "create",
        "--dir",
        str(directory),
        "--federation-id",
        "cn-credit",
        "--roots",
        "2",
        "--threshold",
        "2",
    )
    assert code == 0
    return _field(out, "roots sha256")


def _enrolled_node(
    capsys: pytest.CaptureFixture[str], fed: Path, node: Path, port: int, tmp: Path
) -> None:
    """init, enroll (fingerprint checked) and init --complete, each asserted to succeed."""
    code, out, err = _cli(capsys, *_init_flags(node, port))
    assert code == 0, err
    request_sha256 = _field(out, "request sha256")
    response = tmp / f"{node.name}-response.json"
    code, out, err = _cli(
        capsys,
        "federation",
        "enroll",
        str(node / "enrollment-request.json"),
        "--federation",
        str(fed),
        "--request-sha256",
        request_sha256,
        "--out",
        str(response),
    )
    assert code == 0, err
    assert "checked against --request-sha256" in out
    roots = _field(out, "roots sha256")
    code, out, err = _cli(
        capsys, "init", "--complete", str(response), "--roots-sha256", roots, "--dir", str(node)
    )
    assert code == 0, err
    assert f"creditlink serve --config {node / 'creditlink.toml'}" in out


# --------------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--node-id": "ZJ-330000"}, "node id"),
        ({"--node-id": "zj"}, "node id"),
        ({"--region": "190000"}, "region code"),
        ({"--region": "3300"}, "region code"),
        ({"--listen": "127.0.0.1"}, "listen address"),
        ({"--listen": "127.0.0.1:70000"}, "listen address"),
        ({"--listen": "0.0.0.0:7443"}, "--advertise"),
        ({"--advertise": "0.0.0.0:7443"}, "wildcard"),
        ({"--upstream": "cn-hub"}, "NODE_ID=HOST:PORT"),
        ({"--upstream": "CN=hub.example.cn:7443"}, "upstream node_id"),
        ({"--upstream": "cn-hub=hub.example.cn"}, "upstream endpoint"),
        ({"--store": "mysql://db/x"}, "store_url"),
        ({"--metrics-listen": "localhost"}, "metrics_listen"),
        ({"--kind": "sectoral"}, "needs a sector"),
        ({"--sector": "Tax Bureau"}, "sector"),
        ({"--log-origin": "a b"}, "log origin"),
        ({"--roots-sha256": "ab" * 32}, "goes with --complete"),
    ],
)
def test_bad_flags_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, str], message: str
) -> None:
    flags = _init_flags(tmp_path / "zj", 7443)
    for flag, value in change.items():
        if flag in flags:
            flags[flags.index(flag) + 1] = value
        else:
            flags += [flag, value]
    code, out, err = _cli(capsys, *flags)
    assert code == 2
    assert out == ""
    assert err.startswith("creditlink init: error: ")
    assert message in err
    assert not (tmp_path / "zj").exists()
    assert not list(tmp_path.iterdir())  # no staging directory left either


@pytest.mark.parametrize("missing", ["--node-id", "--region", "--kind", "--listen"])
def test_missing_flags_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    flags = _init_flags(tmp_path / "zj", 7443)
    index = flags.index(missing)
    del flags[index : index + 2]
    code, _, err = _cli(capsys, *flags)
    assert code == 2
    assert f"{missing} required" in err


def test_argparse_refuses_an_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["init", "--kind", "national"])
    assert info.value.code == 2
    assert "invalid choice: 'national'" in capsys.readouterr().err


def test_an_existing_directory_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = tmp_path / "zj"
    code, _, _ = _cli(capsys, *_init_flags(node, 7443))
    assert code == 0
    before = {p: p.read_bytes() for p in node.rglob("*") if p.is_file()}
    code, _, err = _cli(capsys, *_init_flags(node, 7444))
    assert code == 2
    assert "already exists and is not empty" in err
    assert {p: p.read_bytes() for p in node.rglob("*") if p.is_file()} == before


def test_init_output_and_modes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node = tmp_path / "zj"
    code, out, _ = _cli(
        capsys,
        *_init_flags(node, 7443),
        "--upstream",
        "cn-hub=hub.example.cn:7443",
        "--sealing",
        "mlkem768-x25519",
    )
    assert code == 0
    assert _field(out, "config") == str(node / "creditlink.toml")
    assert len(_field(out, "request sha256")) == 64
    assert "(MLKEM768_X25519_HPKE)" in out
    assert stat.S_IMODE(node.stat().st_mode) == 0o700
    for path in (node / "pending").rglob("*.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((node / "creditlink.toml").stat().st_mode) == 0o600


def test_complete_flag_misuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node = tmp_path / "zj"
    _cli(capsys, *_init_flags(node, 7443))
    response = tmp_path / "response.json"
    code, _, err = _cli(capsys, "init", "--complete", str(response), "--dir", str(node))
    assert code == 2
    assert "needs --roots-sha256" in err
    code, _, err = _cli(
        capsys, "init", "--complete", str(response), "--node-id", "zj-330000", "--dir", str(node)
    )
    assert code == 2
    assert "takes only --dir and --roots-sha256, not --node-id" in err
    code, _, err = _cli(
        capsys, "init", "--complete", str(response), "--roots-sha256", "0" * 64, "--dir", str(node)
    )
    assert code == 2
    assert "cannot read" in err


def test_enroll_refuses_a_wrong_fingerprint_and_a_second_enrollment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fed, node = tmp_path / "fed", tmp_path / "zj"
    _federation(capsys, fed)
    _cli(capsys, *_init_flags(node, 7443))
    request = str(node / "enrollment-request.json")
    code, _, err = _cli(
        capsys, "federation", "enroll", request, "--federation", str(fed),
        "--request-sha256", "0" * 64,
    )  # fmt: skip
    assert code == 2
    assert "not the file the node's operator made" in err
    out_file = str(tmp_path / "r.json")
    code, out, err = _cli(
        capsys, "federation", "enroll", request, "--federation", str(fed), "--out", out_file
    )
    assert code == 0, err
    assert "NOT CHECKED" in out
    code, _, err = _cli(
        capsys, "federation", "enroll", request, "--federation", str(fed), "--out", out_file
    )
    assert code == 2
    assert "exists; give another --out" in err
    code, _, err = _cli(
        capsys, "federation", "enroll", request, "--federation", str(fed), "--out", out_file + "2"
    )
    assert code == 2
    assert "already a member" in err


def test_complete_refuses_a_tampered_response(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fed, node = tmp_path / "fed", tmp_path / "zj"
    roots = _federation(capsys, fed)
    _cli(capsys, *_init_flags(node, 7443))
    response = tmp_path / "response.json"
    code, _, _ = _cli(
        capsys, "federation", "enroll", str(node / "enrollment-request.json"),
        "--federation", str(fed), "--out", str(response),
    )  # fmt: skip
    assert code == 0
    # One character of the certificate changed: the CA's signature over it fails.
    text = response.read_text()
    cert = re.search(r'"certificate_chain": "-----BEGIN CERTIFICATE-----\\n(.{40})', text)
    assert cert
    original = cert.group(1)
    tampered = original[:-1] + ("A" if original[-1] != "A" else "B")
    response.write_text(text.replace(original, tampered, 1))
    code, _, err = _cli(
        capsys, "init", "--complete", str(response), "--roots-sha256", roots, "--dir", str(node)
    )
    assert code == 2
    assert "certificate chain the CA certificates do not issue" in err
    assert not (node / "node").exists()


# --------------------------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------------------------


async def test_create_init_enroll_complete_then_the_node_serves_mutual_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fed, node = tmp_path / "fed", tmp_path / "zj"
    roots = _federation(capsys, fed)
    port = _free_port()
    _enrolled_node(capsys, fed, node, port, tmp_path)
    assert roots == hashlib.sha256((fed / "federation" / "roots.pem").read_bytes()).hexdigest()

    config = load_config(node / "creditlink.toml", env={})
    assert config.listen == f"127.0.0.1:{port}"
    creds = Credentials.load(config.credentials_dir)
    operator = Credentials.load(fed / "operator")
    async with (
        GatewayNode(config, creds) as gateway,
        grpc.aio.secure_channel(gateway.endpoint, operator.channel_credentials()) as channel,
    ):
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        reply = await federation_service_pb2_grpc.FederationServiceStub(channel).GetTrustBundle(
            federation_service_pb2.GetTrustBundleRequest(), timeout=10
        )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    # What the node serves verifies under the federation's pinned roots (2 of 2) and lists it.
    served = TrustBundle.from_envelope(
        Envelope.from_proto(reply.bundle),
        trusted_roots=operator.trusted_roots,
        threshold=2,
        now=datetime.now(UTC),
    )
    assert served.version == 2
    assert served.digest == operator.trust_bundle.digest
    assert served.node("zj-330000").endpoints == (f"127.0.0.1:{port}",)


def test_install_bundle_brings_a_member_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fed = tmp_path / "fed"
    _federation(capsys, fed)
    zj, gd = tmp_path / "zj", tmp_path / "gd"
    _enrolled_node(capsys, fed, zj, 17001, tmp_path)
    # A second node: its enrollment makes version 3, which zj does not have yet.
    code, out, err = _cli(
        capsys, "init", "--node-id", "gd-440000", "--region", "440000", "--kind", "regional",
        "--listen", "127.0.0.2:17002", "--dir", str(gd),
    )  # fmt: skip
    assert code == 0, err
    code, out, err = _cli(
        capsys, "federation", "enroll", str(gd / "enrollment-request.json"),
        "--federation", str(fed), "--out", str(tmp_path / "gd.json"),
    )  # fmt: skip
    assert code == 0, err
    new_bundle = _field(out, "new bundle")
    assert Credentials.load(zj / "node").trust_bundle.version == 2
    code, out, err = _cli(
        capsys, "federation", "install-bundle", new_bundle, "--credentials", str(zj / "node")
    )
    assert code == 0, err
    assert "now has trust bundle v3 of cn-credit (was v2)" in out
    assert "gd-440000" in Credentials.load(zj / "node").trust_bundle.node_ids
    # The same version again is a rollback: refused, nothing changed.
    code, _, err = _cli(
        capsys, "federation", "install-bundle", new_bundle, "--credentials", str(zj / "node")
    )
    assert code == 2
    assert "TRUST_BUNDLE_ROLLBACK" in err or "does not follow" in err
    # Renewal: version 4, installed in the operator's directory by the command itself.
    code, out, err = _cli(capsys, "federation", "renew", "--federation", str(fed))
    assert code == 0, err
    assert "trust bundle v4 of cn-credit" in out
    assert Credentials.load(fed / "operator").trust_bundle.version == 4


# --------------------------------------------------------------------------------------------
# Real processes
# --------------------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITLINK_")}
    env.update(extra)
    return env


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


@pytest.mark.slow
def test_serve_config_starts_the_enrolled_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fed, node = tmp_path / "fed", tmp_path / "zj"
    _federation(capsys, fed)
    port = _free_port()
    _enrolled_node(capsys, fed, node, port, tmp_path)
    # The file says metrics on 127.0.0.1:0; the environment overrides it, as documented.
    metrics = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "creditlink.cli",
            "serve",
            "--config",
            str(node / "creditlink.toml"),
        ],
        cwd=tmp_path,
        env=_env(CREDITLINK_METRICS_LISTEN=f"127.0.0.1:{metrics}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        summary = []
        while True:
            line = lines.get(timeout=STARTUP_TIMEOUT)
            assert line is not None, f"serve exited early:\n{summary}"
            summary.append(line)
            if line.startswith("Serving;"):
                break
        text = "\n".join(summary)
        assert "creditlink gateway: node zj-330000" in text
        assert f"127.0.0.1:{port} (mutual TLS" in text
        assert f"http://127.0.0.1:{metrics}/metrics" in text
        assert "cn-credit v2" in text
        operator = Credentials.load(fed / "operator")
        with grpc.secure_channel(f"127.0.0.1:{port}", operator.channel_credentials()) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _walkthrough() -> str:
    text = (ROOT / "docs" / "enrollment.md").read_text(encoding="utf-8")
    marker = text.index("test_docs_walkthrough_runs")
    match = re.compile(r"```sh\n(.*?)```", re.S).search(text, marker)
    assert match
    return match.group(1)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils' sha256sum")
def test_docs_walkthrough_runs(tmp_path: Path) -> None:
    # `creditlink` as an installed user has it, whatever this interpreter's scripts dir holds.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "creditlink"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m creditlink.cli "$@"\n')
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = _env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _walkthrough()],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # As the page says: init --complete warns about the upstream the bundle does not list yet.
    assert "upstream cn-hub is not in trust bundle version 2" in result.stderr
    creds = Credentials.load(work / "zj-330000" / "node")
    assert creds.trust_bundle.node("zj-330000").endpoints == ("zj.example.cn:7443",)
    assert creds.endpoints == ("0.0.0.0:7443",)
    assert len(creds.trusted_roots) == 3
