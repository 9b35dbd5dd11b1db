"""``creditlink dev up`` as a new user runs it: three gateways on loopback, then a clean stop.

Starts the command in a subprocess on free ports, waits for its summary, checks each node
answers health over mutual TLS with the operator credentials the summary printed, and stops it
with SIGINT to its process group, as Ctrl+C does. A second start reuses the federation.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from creditlink.sdk.credentials import Credentials

pytestmark = pytest.mark.slow


def _free_base_port() -> int:
    # Three consecutive free ports and their metrics ports (+1000).
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + 1003 > 65535:
            continue
        ok = True
        for port in (base, base + 1, base + 2, base + 1000, base + 1001, base + 1002):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def _start(directory: Path, base: int) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "creditlink.cli",
            "dev",
            "up",
            "--dir",
            str(directory),
            "--base-port",
            str(base),
            "--grace",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal would give it
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Serving;"):
            return proc, "".join(lines)
    proc.kill()
    raise AssertionError("dev up did not come up:\n" + "".join(lines))


def _health(endpoint: str, operator_dir: Path) -> int:
    creds = Credentials.load(operator_dir)
    channel = grpc.secure_channel(endpoint, creds.channel_credentials())
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status)
    finally:
        channel.close()


def test_dev_up_runs_three_nodes_and_stops_cleanly(tmp_path: Path) -> None:
    base = _free_base_port()
    proc, summary = _start(tmp_path / "fed", base)
    try:
        endpoints = re.findall(r"grpc endpoint\s+: (\S+)", summary)
        operators = re.findall(r"operator credentials : (\S+)", summary)
        assert {"cn-hub", "zj-330000", "gd-440000"} <= set(re.findall(r"^  (\S+)$", summary, re.M))
        assert len(endpoints) == len(operators) == 3
        for endpoint, operator in zip(endpoints, operators, strict=True):
            assert _health(endpoint, Path(operator)) == health_pb2.HealthCheckResponse.SERVING
    finally:
        # Ctrl+C: a terminal signals the whole process group, the nodes' intake workers too.
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    assert proc.stdout is not None
    assert "Traceback" not in proc.stdout.read()  # the workers leave the stop to the nodes
    proc, summary = _start(tmp_path / "fed", base)
    try:
        assert "(reused)" in summary
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
