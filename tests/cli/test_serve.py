"""``creditlink serve`` and ``creditlink status`` as a new user runs them: real processes.

* Zero config: ``python -m creditlink.cli serve --data-dir DIR`` creates a development node,
  prints where everything is, serves health over mutual TLS with the printed operator
  credentials, answers ``creditlink status``, stops on SIGTERM with exit 0, and a second start
  reuses the node (same id, same trust bundle).
* ``kill -9`` during a streamed ingest (``SubmitStream`` batches and unary ``Submit`` calls
  side by side): after a restart every acknowledged message is in the log, with its original
  receipt and an inclusion proof that verifies under a checkpoint signed with the node's key.
* SIGHUP, then SIGTERM, to the gateway's whole process group (a terminal's hangup, systemd's
  default stop) in the middle of a stream: the drain receipts and logs every batch sent before
  it (the intake's fork server and workers ignore both), and nothing but the JSON log reaches
  stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health_pb2, health_pb2_grpc

from creditlink.gateway.bootstrap import ensure_dev_node
from creditlink.gateway.config import GatewayConfig, write_config
from creditlink.sdk import envelope
from creditlink.sdk._internal.pae import pae
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.tlog import NoteVerifier, leaf_hash, verify_checkpoint, verify_inclusion
from creditlink.v1 import (
    envelope_pb2,
    exchange_service_pb2,
    exchange_service_pb2_grpc,
    log_pb2,
    statement_pb2,
)
from tests.gateway.statements import penalty_record, sealed_batch, sealed_single, statement

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    # A new user's environment: none of our variables set (the test runner's must not leak in).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITLINK_")}
    env.update(extra)
    return env


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "creditlink.cli", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class Served:
    """A running ``creditlink serve`` and what it printed."""

    process: subprocess.Popen[str]
    stderr_path: Path
    title: str = ""
    info: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.info["grpc endpoint"].split()[0]

    @property
    def metrics(self) -> str:
        return self.info["metrics endpoint"].split()[0].removesuffix("/metrics")

    def stop(self, sig: signal.Signals = signal.SIGTERM, *, group: bool = False) -> int:
        """Send ``sig`` to the gateway, or with ``group`` to its whole process group (what
        Ctrl+C in a terminal and systemd's default stop do: the intake workers get it too)."""
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def log_lines(self) -> list[str]:
        return self.stderr_path.read_text(encoding="utf-8").splitlines()


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _serve(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    stderr_path = cwd / f"serve-{uuid.uuid4().hex[:8]}.log"
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "creditlink.cli", "serve", *args],
            cwd=cwd,
            env=env or _env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,  # its own process group, as a terminal would give it
        )
    served = Served(process=process, stderr_path=stderr_path)
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            process.kill()
            pytest.fail(f"serve printed nothing for {STARTUP_TIMEOUT} s:\n{served.log_lines()}")
        if line is None:
            process.wait(timeout=STOP_TIMEOUT)
            pytest.fail(f"serve exited with {process.returncode}:\n{served.log_lines()}")
        if line.startswith("Serving;"):
            return served
        if not served.title:
            served.title = line
        elif ":" in line:
            key, _, value = line.partition(":")
            served.info[key.strip()] = value.strip()


@pytest.fixture
def cleanup() -> list[Served]:
    started: list[Served] = []
    yield started  # type: ignore[misc]
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(timeout=STOP_TIMEOUT)


def _health(endpoint: str, creds: Credentials) -> int:
    with grpc.secure_channel(endpoint, creds.channel_credentials()) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status)


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


# --------------------------------------------------------------------------------------------
# Zero config, status, stop, reuse
# --------------------------------------------------------------------------------------------


def test_serve_status_stop_and_reuse(tmp_path: Path, cleanup: list[Served]) -> None:
    data_dir = tmp_path / "node-data"
    port, metrics_port = _free_port(), _free_port()
    flags = (
        "--data-dir",
        str(data_dir),
        "--listen",
        f"127.0.0.1:{port}",
        "--metrics",
        f"127.0.0.1:{metrics_port}",
    )
    first = _serve(tmp_path, *flags)
    cleanup.append(first)

    assert "(created)" in first.title
    assert first.endpoint == f"127.0.0.1:{port}"
    assert first.metrics == f"http://127.0.0.1:{metrics_port}"
    assert first.info["node id"] == "dev-node"
    assert first.info["node credentials"] == str(data_dir / "node")
    assert first.info["operator credentials"] == str(data_dir / "operator")
    assert first.info["store"] == f"sqlite://{data_dir / 'store.sqlite3'}"

    # The printed operator credentials are all a client needs.
    operator = Credentials.load(first.info["operator credentials"])
    assert _health(first.endpoint, operator) == health_pb2.HealthCheckResponse.SERVING
    assert _get(f"{first.metrics}/healthz") == (200, '{"status": "SERVING"}\n')
    status, text = _get(f"{first.metrics}/metrics")
    assert status == 200
    assert "creditlink_log_size 0.0" in text

    result = _cli("status", "--credentials", str(data_dir / "operator"), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["node_id"] == "dev-node"
    assert report["health"] == "SERVING"
    assert report["log_size"] == 0
    assert report["checkpoint"]["verified"] is True
    assert report["checkpoint"]["origin"] == operator.trust_bundle.node("dev-node").log_origin
    assert report["outbox"] is None
    text_report = _cli("status", "--credentials", str(data_dir / "operator"), cwd=tmp_path)
    assert text_report.returncode == 0, text_report.stderr
    assert "health      : SERVING" in text_report.stdout
    assert "outbox      : n/a" in text_report.stdout

    # A client without a certificate is refused at the handshake, and grpc's own report of
    # that must not break the JSON log (checked below).
    no_cert = grpc.ssl_channel_credentials(root_certificates=operator.ca_pem)
    with grpc.secure_channel(first.endpoint, no_cert) as channel, pytest.raises(grpc.RpcError):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)

    assert first.stop(signal.SIGTERM) == 0
    logs = first.log_lines()
    events = [json.loads(line) for line in logs]  # every line is one JSON object
    messages = [event["msg"] for event in events]
    assert {"gateway serving", "shutdown requested", "gateway stopped"} <= set(messages)
    assert not any("PRIVATE KEY" in line for line in logs)

    # Stopped: status says so and fails.
    down = _cli("status", "--credentials", str(data_dir / "operator"), "--json", cwd=tmp_path)
    assert down.returncode == 1
    assert json.loads(down.stdout)["health"] == "UNREACHABLE"

    # Second start: the same node, the same trust bundle; Ctrl+C stops it as well. A terminal
    # sends SIGINT to the whole process group, intake workers included: the gateway drains
    # and stops them, and nothing but the JSON log reaches stderr (no worker tracebacks).
    second = _serve(tmp_path, *flags)
    cleanup.append(second)
    assert "(reused)" in second.title
    assert second.info["node id"] == first.info["node id"]
    assert second.info["trust bundle"] == first.info["trust bundle"]
    assert _health(second.endpoint, operator) == health_pb2.HealthCheckResponse.SERVING
    assert second.stop(signal.SIGINT, group=True) == 0
    events = [json.loads(line) for line in second.log_lines()]
    assert {"shutdown requested", "gateway stopped"} <= {event["msg"] for event in events}


def test_serve_refuses_a_mismatched_listen_address(tmp_path: Path, cleanup: list[Served]) -> None:
    port = _free_port()
    first = _serve(
        tmp_path,
        "--data-dir",
        str(tmp_path / "d"),
        "--listen",
        f"127.0.0.1:{port}",
        "--metrics",
        f"127.0.0.1:{_free_port()}",
    )
    cleanup.append(first)
    assert first.stop() == 0
    other = _cli(
        "serve", "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:1", cwd=tmp_path
    )
    assert other.returncode == 2
    assert "listen address" in other.stderr


def test_serve_with_a_config_file_env_and_flags(tmp_path: Path, cleanup: list[Served]) -> None:
    dev = ensure_dev_node(tmp_path / "dev")
    file_port, flag_port, env_metrics = _free_port(), _free_port(), _free_port()
    config = GatewayConfig(
        node_id=dev.node_id,
        data_dir=tmp_path / "state",
        credentials_dir=dev.node_dir,
        listen=f"127.0.0.1:{file_port}",
        metrics_listen=f"127.0.0.1:{_free_port()}",
    )
    write_config(tmp_path / "creditlink.toml", config)
    served = _serve(
        tmp_path,
        "--config",
        str(tmp_path / "creditlink.toml"),
        "--listen",
        f"127.0.0.1:{flag_port}",
        env=_env(CREDITLINK_METRICS_LISTEN=f"127.0.0.1:{env_metrics}"),
    )
    cleanup.append(served)
    # File < environment < flags.
    assert served.endpoint == f"127.0.0.1:{flag_port}"
    assert served.metrics == f"http://127.0.0.1:{env_metrics}"
    assert served.info["node credentials"] == str(dev.node_dir)
    assert served.info["store"] == f"sqlite://{tmp_path / 'state' / 'store.sqlite3'}"
    assert "operator credentials" not in served.info  # not a development node
    assert _health(served.endpoint, dev.operator) == health_pb2.HealthCheckResponse.SERVING
    assert served.stop() == 0


def test_sighup_rereads_the_holiday_table(tmp_path: Path, cleanup: list[Served]) -> None:
    """The yearly holiday schedule is installed without a restart; a broken one is refused."""
    dev = ensure_dev_node(tmp_path / "dev")
    table = tmp_path / "holidays.toml"
    table.write_text('[2027]\nholidays = ["2027-01-01"]\n', encoding="utf-8")
    config = GatewayConfig(
        node_id=dev.node_id,
        data_dir=tmp_path / "state",
        credentials_dir=dev.node_dir,
        listen=f"127.0.0.1:{_free_port()}",
        metrics_listen=f"127.0.0.1:{_free_port()}",
        holiday_table=table,
    )
    write_config(tmp_path / "creditlink.toml", config)
    served = _serve(tmp_path, "--config", str(tmp_path / "creditlink.toml"))
    cleanup.append(served)

    def logged(message: str) -> list[dict[str, object]]:
        found = [json.loads(line) for line in served.log_lines() if message in line]
        return [entry for entry in found if entry.get("msg") == message]

    table.write_text('[2027]\nholidays = ["2027-01-01", "2027-01-04"]\n', encoding="utf-8")
    served.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + STOP_TIMEOUT
    while not logged("holiday table reloaded") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e.get("years") for e in logged("holiday table reloaded")] == [[2027]]

    table.write_text('[2027]\nholidays = ["not a date"]\n', encoding="utf-8")
    served.process.send_signal(signal.SIGHUP)
    while not logged("holiday table not reloaded") and time.monotonic() < deadline:
        time.sleep(0.05)
    (refused,) = logged("holiday table not reloaded")
    assert f"holiday table {table}" in str(refused.get("error"))
    assert _health(served.endpoint, dev.operator) == health_pb2.HealthCheckResponse.SERVING
    assert served.stop() == 0


# --------------------------------------------------------------------------------------------
# kill -9 during ingest
# --------------------------------------------------------------------------------------------

BATCH_SIZE = 50
KILL_AFTER_BATCHES = 6
KILL_AFTER_SINGLES = 10


@dataclass
class Acked:
    """What the gateway acknowledged before it died."""

    singles: dict[str, bytes] = field(default_factory=dict)  # message id -> receipt envelope
    # batch id -> (receipt envelope, message ids of the items in order)
    batches: dict[str, tuple[bytes, list[str]]] = field(default_factory=dict)


async def _stream_batches(
    stub: exchange_service_pb2_grpc.ExchangeServiceStub,
    operator: Credentials,
    node_id: str,
    acked: Acked,
) -> None:
    """SubmitStream: send batches within the credits granted, record each receipt."""
    call = stub.SubmitStream()
    sent: dict[int, tuple[str, list[str]]] = {}
    sequence = 0
    while True:
        response = await call.read()
        if response is grpc.aio.EOF:
            return
        if response.WhichOneof("event") == "flow_control":
            for _ in range(response.flow_control.credits):
                sequence += 1
                bodies = [
                    statement(operator.node_id, [node_id], penalty_record())
                    for _ in range(BATCH_SIZE)
                ]
                batch_id = str(uuid.uuid4())
                sealed = sealed_batch(operator, node_id, bodies, batch_id=batch_id)
                sent[sequence] = (batch_id, [b.header.message_id for b in bodies])
                await call.write(
                    exchange_service_pb2.SubmitStreamRequest(
                        sequence=sequence,
                        request_id=batch_id,
                        sealed_batch=envelope_pb2.SealedEnvelope.FromString(sealed),
                    )
                )
            continue
        result = response.result
        assert result.WhichOneof("outcome") == "receipt", result
        batch_id, ids = sent[result.sequence]
        acked.batches[batch_id] = (result.receipt.SerializeToString(), ids)


async def _submit_singles(
    stub: exchange_service_pb2_grpc.ExchangeServiceStub,
    operator: Credentials,
    node_id: str,
    acked: Acked,
) -> None:
    while True:
        body = statement(operator.node_id, [node_id], penalty_record())
        request = exchange_service_pb2.SubmitRequest(
            request_id=body.header.request_id,
            sealed=envelope_pb2.SealedEnvelope.FromString(sealed_single(operator, node_id, body)),
        )
        response = await stub.Submit(request)
        acked.singles[body.header.message_id] = response.receipt.SerializeToString()


def _ppids() -> dict[int, int]:
    """Every running process's parent, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended while we looked
            parents[int(entry.name)] = int(fields[1])
    return parents


def _descendants(pid: int) -> list[int]:
    parents = _ppids()
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has ended; only its parent has not collected it


async def _ingest_until_killed(served: Served, operator: Credentials, node_id: str) -> Acked:
    acked = Acked()
    async with grpc.aio.secure_channel(served.endpoint, operator.channel_credentials()) as ch:
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(ch)
        workers = [
            asyncio.create_task(_stream_batches(stub, operator, node_id, acked)),
            asyncio.create_task(_submit_singles(stub, operator, node_id, acked)),
        ]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(acked.batches) < KILL_AFTER_BATCHES or len(acked.singles) < KILL_AFTER_SINGLES:
            for worker in workers:
                if worker.done():
                    worker.result()  # a worker that ended before the kill is a failure
            assert loop.time() < deadline, "ingest too slow"
            await asyncio.sleep(0.01)
        # Mid-stream: both workers have calls in flight.
        served.process.kill()
        served.process.wait(timeout=STOP_TIMEOUT)
        results = await asyncio.gather(*workers, return_exceptions=True)
    # The only way the workers may end is the connection dying under them.
    for result in results:
        assert isinstance(result, grpc.aio.AioRpcError), result
    return acked


def _checkpoint_verifier(creds: Credentials, node_id: str) -> NoteVerifier:
    (record,) = creds.trust_bundle.checkpoint_keys(node_id, at=datetime.now(UTC))
    key = serialization.load_der_public_key(record.public_key.public_bytes)
    return NoteVerifier(name=record.note_name, public_key=key)  # type: ignore[arg-type]


def _verify_leaf(
    proof: exchange_service_pb2.GetInclusionProofResponse, verifier: NoteVerifier, origin: str
) -> bytes:
    """Check the proof under a checkpoint signed by the node; return the entry's payload."""
    checkpoint = verify_checkpoint(proof.checkpoint.note, verifier=verifier, origin=origin)
    entry = proof.entry
    if entry.WhichOneof("signed") == "batched":
        payload_type, payload = entry.batched.item.payload_type, entry.batched.item.payload
    else:
        payload_type, payload = entry.envelope.payload_type, entry.envelope.payload
    verify_inclusion(
        leaf_hash=leaf_hash(pae(payload_type, payload)),
        index=proof.proof.leaf_index,
        tree_size=checkpoint.size,
        proof=list(proof.proof.hashes),
        root=checkpoint.root_hash,
    )
    return payload


def _message_id(payload: bytes) -> str:
    return statement_pb2.Statement.FromString(payload).header.message_id


def _node_flags(data_dir: Path) -> tuple[str, ...]:
    """``serve`` flags for a node in ``data_dir`` on free ports; the same flags restart it."""
    return (
        "--data-dir",
        str(data_dir),
        "--listen",
        f"127.0.0.1:{_free_port()}",
        "--metrics",
        f"127.0.0.1:{_free_port()}",
    )


def test_kill_9_during_ingest_loses_nothing_acknowledged(
    tmp_path: Path, cleanup: list[Served]
) -> None:
    flags = _node_flags(tmp_path / "node-data")
    served = _serve(tmp_path, *flags)
    cleanup.append(served)
    # The intake's fork server and worker processes, started before the gateway serves.
    helpers = _descendants(served.process.pid)
    assert len(helpers) >= 2, helpers
    operator = Credentials.load(served.info["operator credentials"])
    node_id = served.info["node id"]
    acked = asyncio.run(_ingest_until_killed(served, operator, node_id))
    assert served.process.returncode == -signal.SIGKILL
    # They end with the gateway, however it ended: none is left running.
    deadline = time.monotonic() + STOP_TIMEOUT
    while (left := [pid for pid in helpers if _running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes of the killed gateway still running: {left}"

    again = _serve(tmp_path, *flags)
    cleanup.append(again)
    verifier = _checkpoint_verifier(operator, node_id)
    origin = operator.trust_bundle.node(node_id).log_origin
    with grpc.secure_channel(again.endpoint, operator.channel_credentials()) as channel:
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
        size = stub.GetCheckpoint(exchange_service_pb2.GetCheckpointRequest()).checkpoint.size
        assert size >= len(acked.singles) + BATCH_SIZE * len(acked.batches)
        for message_id, receipt in acked.singles.items():
            found = stub.GetReceipt(exchange_service_pb2.GetReceiptRequest(message_id=message_id))
            assert found.receipt.SerializeToString() == receipt
            proof = stub.GetInclusionProof(
                exchange_service_pb2.GetInclusionProofRequest(message_id=message_id)
            )
            assert _message_id(_verify_leaf(proof, verifier, origin)) == message_id
        for batch_id, (receipt, item_ids) in acked.batches.items():
            found = stub.GetReceipt(exchange_service_pb2.GetReceiptRequest(message_id=batch_id))
            assert found.receipt.SerializeToString() == receipt
            signed = log_pb2.Receipt.FromString(envelope.Envelope.from_bytes(receipt).payload)
            assert signed.leaf_count == BATCH_SIZE
            # First and last item of every batch: in the log, in order, provably.
            for offset in (0, BATCH_SIZE - 1):
                proof = stub.GetInclusionProof(
                    exchange_service_pb2.GetInclusionProofRequest(
                        leaf_index=signed.first_leaf_index + offset
                    )
                )
                assert _message_id(_verify_leaf(proof, verifier, origin)) == item_ids[offset]
    assert again.stop() == 0


# --------------------------------------------------------------------------------------------
# A stop signal to the whole process group during a stream
# --------------------------------------------------------------------------------------------


async def _stream_then_stop(served: Served, operator: Credentials, node_id: str) -> list[str]:
    """Hang up the process group, write every batch the first credit grant allows, stop the
    group (as systemd's default stop does), finish writing and read every outcome; return the
    receipted batch ids."""
    async with grpc.aio.secure_channel(served.endpoint, operator.channel_credentials()) as ch:
        call = exchange_service_pb2_grpc.ExchangeServiceStub(ch).SubmitStream()
        first = await call.read()
        assert first.WhichOneof("event") == "flow_control"
        sent: dict[int, str] = {}
        requests = []
        for sequence in range(1, min(first.flow_control.credits, 8) + 1):
            bodies = [
                statement(operator.node_id, [node_id], penalty_record()) for _ in range(BATCH_SIZE)
            ]
            batch_id = str(uuid.uuid4())
            sealed = sealed_batch(operator, node_id, bodies, batch_id=batch_id)
            sent[sequence] = batch_id
            requests.append(
                exchange_service_pb2.SubmitStreamRequest(
                    sequence=sequence,
                    request_id=batch_id,
                    sealed_batch=envelope_pb2.SealedEnvelope.FromString(sealed),
                )
            )
        # A hangup first (the gateway rereads its holiday table and goes on), then the stop.
        os.killpg(served.process.pid, signal.SIGHUP)
        deadline = asyncio.get_running_loop().time() + STOP_TIMEOUT
        while not any("holiday table reloaded" in line for line in served.log_lines()):
            assert asyncio.get_running_loop().time() < deadline, "SIGHUP not handled"
            await asyncio.sleep(0.05)
        for request in requests:
            await call.write(request)
        os.killpg(served.process.pid, signal.SIGTERM)
        await call.done_writing()
        receipted: list[str] = []
        while (response := await call.read()) is not grpc.aio.EOF:
            if response.WhichOneof("event") != "result":
                continue
            result = response.result
            assert result.WhichOneof("outcome") == "receipt", result
            receipted.append(sent[result.sequence])
    assert sorted(receipted) == sorted(sent.values())
    return receipted


def test_a_stop_signal_to_the_process_group_lets_a_stream_finish(
    tmp_path: Path, cleanup: list[Served]
) -> None:
    """The batches a stream sent before SIGTERM reached the whole group are all checked,
    logged and receipted during the drain: the intake workers do not die with the signal, nor
    with the SIGHUP before it."""
    flags = _node_flags(tmp_path / "node-data")
    served = _serve(tmp_path, *flags)
    cleanup.append(served)
    operator = Credentials.load(served.info["operator credentials"])
    node_id = served.info["node id"]
    receipted = asyncio.run(_stream_then_stop(served, operator, node_id))
    assert served.process.wait(timeout=STOP_TIMEOUT) == 0
    events = [json.loads(line) for line in served.log_lines()]  # nothing but the JSON log
    assert [e for e in events if e["level"] in ("ERROR", "CRITICAL")] == []

    again = _serve(tmp_path, *flags)
    cleanup.append(again)
    with grpc.secure_channel(again.endpoint, operator.channel_credentials()) as channel:
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
        size = stub.GetCheckpoint(exchange_service_pb2.GetCheckpointRequest()).checkpoint.size
    assert size == BATCH_SIZE * len(receipted)
    assert again.stop() == 0
