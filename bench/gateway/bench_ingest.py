"""End-to-end gateway ingest against ceilings measured in the same run.

    python bench/gateway/bench_ingest.py                     # SQLite and PostgreSQL, ~6 min
    python bench/gateway/bench_ingest.py --backends sqlite --records 50000 --grow 1000000
    python bench/gateway/bench_ingest.py --profile /tmp/gw   # cProfile of each server process

A real :class:`~creditlink.gateway.node.GatewayNode` (metrics, error and rate-limit
interceptors, mutual TLS, health, forwarder: what ``creditlink serve`` runs) in **its own
process** (``bench/_common.py gateway``), with the per-node rate limit raised out of the way;
the client is this process, on the same 2 cores. Clients are the development operator.

For each backend (SQLite file, then a fresh PostgreSQL schema, dropped afterwards):

(a) **unary** ``Submit``: each call one freshly signed and sealed record statement (pre-built),
    N callers in a closed loop; calls/s, p50, p99 — against the raw grpc.aio unary echo of a
    request of the same size with the same N (``bench/baseline/bench_grpc.py``), measured
    just before on the same machine.
(b) **streamed** ``SubmitStream``: ``--records`` records in sealed batches of ``--batch``
    (signed batch, sealed to the node; the server opens, verifies, validates, logs, applies
    and receipts each), the client respecting the credit window; against the raw batched
    insert of the same number of rows of the same payload size, same batch size, into the
    same table and indexes of the same backend (``bench/baseline/bench_inserts.py``:
    ``sqlite3 executemany`` / ``COPY BINARY``), run right after. A second ceiling is the raw
    insert of every per-record row that ingest wrote: its log entries, and the domain
    projection's objects and history events, read back from the gateway's store and inserted
    batch for batch into a fresh database with the store's whole schema (every index and
    check), the same way. **The sealed batches are built before timing**; client-side building
    (statements) and signing + sealing rates are reported separately.
(c) **log growth**: the streamed ingest rate into a log already holding ``--small`` entries
    vs ``--grow`` entries. The log is pre-filled through the node's own
    :class:`~creditlink.gateway.ledger.Ledger` (same keys, real tiles, checkpoints and
    receipts) with cheap entries (random 600-byte payloads, batches of 10,000, no signatures
    or seals), then the gateway is started on that store and measured as in (b).

For (a) and (b) it also reports the CPU the servers used, per record (per call for unary): the
gateway process itself and, apart, its helper processes (the intake's workers, fork server and
resource tracker), and the echo server's for the unary ceiling, read from ``/proc`` around each
measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc
from _common import ROOT, Server, closed_loop, dev_node, machine, table
from bench_grpc import echo_stream, echo_unary, sample_payloads
from bench_inserts import (
    _EPOCH,
    as_tuple,
    chunks,
    make_rows,
    pg_fresh_schema,
    pg_raw,
    pg_raw_written,
    pg_reachable,
    sqlite_raw,
    sqlite_raw_written,
    written_postgres,
    written_sqlite,
)

from creditlink.v1 import envelope_pb2, exchange_service_pb2
from creditlink.v1.exchange_service_pb2_grpc import ExchangeServiceStub

pb = exchange_service_pb2


# --------------------------------------------------------------------------------------------
# Building requests (outside the timing)
# --------------------------------------------------------------------------------------------


def subjects(n: int) -> list[str]:
    """``n`` distinct valid USCCs (legal persons of region 330100)."""
    from creditlink.sdk.ids.uscc import calc_check_digit, calc_org_check_digit, is_valid

    out = []
    for k in range(n):
        org8 = f"MA{k:06d}"
        first17 = f"91330100{org8}{calc_org_check_digit(org8)}"
        code = first17 + calc_check_digit(first17)
        assert is_valid(code), code
        out.append(code)
    return out


@dataclass
class Built:
    requests: list[Any]
    build_seconds: float  # statements (protobuf objects)
    seal_seconds: float  # serialize + sign + seal
    payload_bytes: int  # mean serialized statement size


def build_batches(dev: Any, records: int, batch: int, pool: Sequence[str]) -> Built:
    from tests.gateway.statements import penalty_record, sealed_batch, statement

    op, node_id = dev.operator, dev.node_id
    t0 = time.perf_counter()
    groups = []
    for start in range(0, records, batch):
        groups.append(
            [
                statement(op.node_id, [node_id], penalty_record(uscc=pool[i % len(pool)]))
                for i in range(start, min(records, start + batch))
            ]
        )
    t1 = time.perf_counter()
    sealed = [sealed_batch(op, node_id, bodies) for bodies in groups]
    t2 = time.perf_counter()
    size = sum(len(b.SerializeToString()) for b in groups[0]) // len(groups[0])
    requests = [
        pb.SubmitStreamRequest(
            sequence=n + 1,
            request_id=str(uuid.uuid4()),
            sealed_batch=envelope_pb2.SealedEnvelope.FromString(s),
        )
        for n, s in enumerate(sealed)
    ]
    return Built(requests, t1 - t0, t2 - t1, size)


def build_singles(dev: Any, n: int, pool: Sequence[str]) -> list[Any]:
    from tests.gateway.statements import penalty_record, sealed_single, statement

    op, node_id = dev.operator, dev.node_id
    return [
        pb.SubmitRequest(
            request_id=str(uuid.uuid4()),
            sealed=envelope_pb2.SealedEnvelope.FromString(
                sealed_single(
                    op,
                    node_id,
                    statement(op.node_id, [node_id], penalty_record(uscc=pool[i % len(pool)])),
                )
            ),
        )
        for i in range(n)
    ]


# --------------------------------------------------------------------------------------------
# Driving the gateway
# --------------------------------------------------------------------------------------------


async def submit_unary(
    endpoint: str, creds: grpc.ChannelCredentials, requests: list[Any], concurrency: int
) -> Any:
    async with grpc.aio.secure_channel(endpoint, creds) as ch:
        stub = ExchangeServiceStub(ch)
        await stub.GetCheckpoint(pb.GetCheckpointRequest())  # handshake outside the timing
        failures = 0

        async def call(i: int) -> None:
            nonlocal failures
            response = await stub.Submit(requests[i])
            if not response.HasField("receipt"):
                failures += 1

        result = await closed_loop(call, len(requests), concurrency)
        assert failures == 0, f"{failures} Submit calls without a receipt"
        return result


async def submit_stream(
    endpoint: str, creds: grpc.ChannelCredentials, requests: list[Any]
) -> float:
    """Seconds from the first write to the last receipt; every batch must be receipted."""
    opts = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.secure_channel(endpoint, creds, options=opts) as ch:
        stub = ExchangeServiceStub(ch)
        await stub.GetCheckpoint(pb.GetCheckpointRequest())
        call = stub.SubmitStream()
        first = await call.read()
        assert first.HasField("flow_control")
        credits = first.flow_control.credits
        t0 = time.perf_counter()
        sent = received = 0
        while received < len(requests):
            while credits and sent < len(requests):
                await call.write(requests[sent])
                sent, credits = sent + 1, credits - 1
                if sent == len(requests):
                    await call.done_writing()
            message = await call.read()
            assert message is not grpc.aio.EOF, "stream ended early"
            if message.HasField("flow_control"):
                credits += message.flow_control.credits
            else:
                outcome = message.result.WhichOneof("outcome")
                assert outcome == "receipt", message.result
                received += 1
        elapsed = time.perf_counter() - t0
        while (await call.read()) is not grpc.aio.EOF:
            pass
        return elapsed


async def prefill(dev: Any, store_url: str, entries: int, chunk: int = 10_000) -> float:
    """Grow the log to ``entries`` through the node's ledger with cheap, unsigned entries."""
    from creditlink.gateway.ledger import BatchInfo, Ledger, LedgerEntry, Submission
    from creditlink.gateway.store import open_store
    from tests.gateway.statements import RECORD_TYPE

    creds = dev.node
    payloads = [os.urandom(600) for _ in range(256)]
    t0 = time.perf_counter()
    async with open_store(store_url) as store:
        ledger = Ledger(
            store=store,
            node_id=dev.node_id,
            origin=creds.node.log_origin,
            signing_key=creds.signing_key,
            checkpoint_signer=creds.checkpoint_key,
        )
        await ledger.ensure_checkpoint()
        for start in range(0, entries, chunk):
            batch_id = f"prefill-{start}"
            n = min(chunk, entries - start)
            items = [
                LedgerEntry(
                    message_id=f"{batch_id}/{k}",
                    kind="record",
                    sender_node_id=dev.operator.node_id,
                    payload_type=RECORD_TYPE,
                    payload=payloads[k % 256],
                    envelope=None,
                    subject_key=f"91330100MA{(start + k) % 50_000:06d}00",
                    leaf_hash=hashlib.sha256(f"{batch_id}/{k}".encode()).digest(),
                )
                for k in range(n)
            ]
            digest = hashlib.sha256(batch_id.encode()).digest()
            await ledger.append(
                [
                    Submission(
                        message_id=batch_id,
                        request_digest=digest,
                        sender_node_id=dev.operator.node_id,
                        payload_type=RECORD_TYPE,
                        payload_digest=digest,
                        entries=items,
                        batch=BatchInfo(batch_id=batch_id, head_envelope=b"prefill"),
                    )
                ]
            )
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# One backend
# --------------------------------------------------------------------------------------------


class Backend:
    def __init__(self, name: str, tmp: Path, pg_base: str) -> None:
        self.name, self.tmp, self.pg_base = name, tmp, pg_base
        self._drops: list[Any] = []
        self._n = 0

    def fresh_url(self) -> str:
        self._n += 1
        if self.name == "sqlite":
            from creditlink.gateway.store import sqlite_url

            return sqlite_url(self._sqlite_path(self._n))
        url, drop = pg_fresh_schema(self.pg_base)
        self._drops.append(drop)
        return url

    def _sqlite_path(self, n: int) -> Path:
        return self.tmp / f"store-{n}.sqlite3"

    def _best_of_two(
        self, on_sqlite: Callable[[Path], float], on_postgres: Callable[[str], float]
    ) -> float:
        """Best seconds of two raw runs, each into a fresh SQLite file or PostgreSQL schema."""
        best = float("inf")
        for _ in range(2):
            if self.name == "sqlite":
                path = self.tmp / f"raw-{uuid.uuid4().hex}.sqlite3"
                try:
                    best = min(best, on_sqlite(path))
                finally:
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{path}{suffix}").unlink(missing_ok=True)
            else:
                url, drop = pg_fresh_schema(self.pg_base)
                try:
                    best = min(best, on_postgres(url))
                finally:
                    drop()
        return best

    def written_ceiling(self, url: str, batch: int, records: int) -> tuple[float, float]:
        """(records/s, rows per record) of the raw insert of the per-record rows the last
        store (``url``, its gateway stopped) holds, batch for batch: best of two runs."""
        if self.name == "sqlite":
            written = written_sqlite(self._sqlite_path(self._n), batch, records)
            types: dict[str, list[str]] = {}
        else:
            written, types = written_postgres(url, batch, records)
        best = self._best_of_two(
            lambda path: sqlite_raw_written(path, written),
            lambda fresh: pg_raw_written(fresh, written, types),
        )
        return records / best, written.rows / records

    def cleanup(self) -> None:
        for drop in self._drops:
            drop()
        self._drops.clear()

    def raw_ceiling(self, rows: int, batch: int, payload: int) -> float:
        """Rows/s of the raw batched insert (bench_inserts), best of two runs."""
        entries = make_rows(rows, batch, payload)
        micros = (entries[0].integrated_at - _EPOCH) // timedelta(microseconds=1)
        best = self._best_of_two(
            lambda path: sqlite_raw(path, chunks([as_tuple(r, micros) for r in entries], batch)),
            lambda url: pg_raw(
                url, chunks([as_tuple(r, r.integrated_at) for r in entries], batch), copy=True
            ),
        )
        return rows / best


#: ``--intake-workers`` for the gateway processes (None: the node's default, one per CPU).
INTAKE_WORKERS: int | None = None


def cpu_row(
    backend: str, path: str, before: tuple[float, float], after: tuple[float, float], n: int
) -> list[str]:
    """A row of the CPU table: microseconds per record of the gateway and of its helpers."""
    own, helpers = ((a - b) / n * 1e6 for a, b in zip(after, before, strict=True))
    return [backend, path, f"{own:,.0f}", f"{helpers:,.0f}", f"{own + helpers:,.0f}"]


def gateway(dev_dir: Path, url: str, data: Path, profile: str | None, tag: str) -> Server:
    args = ["gateway", "--dev", str(dev_dir), "--store", url, "--data", str(data)]
    if INTAKE_WORKERS is not None:
        args += ["--intake-workers", str(INTAKE_WORKERS)]
    if profile:
        args += ["--profile", f"{profile}-{tag}.prof"]
    return Server(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", default="1000,5000", help="batch sizes for (b)")
    parser.add_argument("--unary", type=int, default=4_000, help="Submit calls for (a)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--grow", type=int, default=1_000_000, help="entries for (c); 0 skips (c)")
    parser.add_argument("--grow-records", type=int, default=50_000)
    parser.add_argument("--profile", default=None, help="cProfile server stats prefix")
    parser.add_argument(
        "--intake-workers", type=int, default=None, help="gateway intake processes (0: inline)"
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get("CREDITLINK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    global INTAKE_WORKERS
    INTAKE_WORKERS = args.intake_workers
    batches = [int(b) for b in args.batch.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmpname:
        tmp = Path(tmpname)
        dev = dev_node(tmp)
        creds = dev.operator.channel_credentials()
        pool = subjects(5_000)
        print(f"{machine()}")
        print(f"gateway and echo servers in their own process; client {dev.operator.node_id}")

        # Client-side cost, and the requests, once for all backends.
        built = {b: build_batches(dev, args.records, b, pool) for b in batches}
        t0 = time.perf_counter()
        singles_template = build_singles(dev, 200, pool)
        single_seconds = (time.perf_counter() - t0) / 200
        client_rows = []
        for b, x in built.items():
            client_rows.append(
                [
                    f"batches of {b:,}",
                    f"{args.records / x.build_seconds:,.0f}",
                    f"{args.records / x.seal_seconds:,.0f}",
                ]
            )
        client_rows.append(
            ["single statement (sign + seal each)", "", f"{1 / single_seconds:,.0f}"]
        )
        del singles_template
        print("\nClient side (not in the server timings), records/s:\n")
        print(table(["client", "build statements", "serialize + sign + seal"], client_rows))
        payload = next(iter(built.values())).payload_bytes
        unary_payload, _ = sample_payloads(dev, 10)

        results: list[list[str]] = []
        growth: list[list[str]] = []
        cpu_rows: list[list[str]] = []
        for name in args.backends.split(","):
            if name == "postgres":
                server_info = pg_reachable(args.pg)
                if not server_info:
                    continue
                print(server_info)
            backend = Backend(name, tmp, args.pg)
            try:
                # (a) unary: echo ceiling, then Submit with the same concurrency.
                echo = Server(["echo", "--dev", str(tmp)])
                try:
                    before = echo.cpu_seconds()
                    ceiling = asyncio.run(
                        echo_unary(
                            echo.endpoint, creds, unary_payload, args.unary, args.concurrency
                        )
                    )
                    cpu_rows.append(
                        cpu_row(
                            name,
                            f"raw unary echo (per call), {args.concurrency} callers",
                            before,
                            echo.cpu_seconds(),
                            args.unary,
                        )
                    )
                    stream_seconds = asyncio.run(
                        echo_stream(
                            echo.endpoint,
                            creds,
                            built[batches[0]].requests[0].SerializeToString(),
                            len(built[batches[0]].requests),
                        )
                    )
                finally:
                    echo.stop()
                singles = build_singles(dev, args.unary, pool)
                node = gateway(
                    tmp, backend.fresh_url(), tmp / f"data-{name}-u", args.profile, f"{name}-unary"
                )
                try:
                    before = node.cpu_seconds()
                    r = asyncio.run(submit_unary(node.endpoint, creds, singles, args.concurrency))
                    cpu_rows.append(
                        cpu_row(
                            name,
                            f"unary `Submit` (per call), {args.concurrency} callers",
                            before,
                            node.cpu_seconds(),
                            args.unary,
                        )
                    )
                finally:
                    node.stop()
                c = args.concurrency
                results.append(
                    [
                        name,
                        f"raw unary echo, {c} callers (ceiling)",
                        f"{ceiling.rate:,.0f}",
                        "1.00",
                        f"{ceiling.p50_ms:.1f} / {ceiling.p99_ms:.1f}",
                    ]
                )
                results.append(
                    [
                        name,
                        f"unary `Submit`, {c} callers",
                        f"{r.rate:,.0f}",
                        f"**{r.rate / ceiling.rate:.2f}**",
                        f"{r.p50_ms:.1f} / {r.p99_ms:.1f}",
                    ]
                )
                echo_items = args.records / stream_seconds
                results.append(
                    [
                        name,
                        f"raw streamed echo, batches of {batches[0]:,} (transport)",
                        f"{echo_items:,.0f}",
                        "",
                        "",
                    ]
                )

                # (b) streamed, per batch size: gateway, then the raw insert ceiling.
                for b in batches:
                    url = backend.fresh_url()
                    node = gateway(
                        tmp,
                        url,
                        tmp / f"data-{name}-{b}",
                        args.profile,
                        f"{name}-stream-{b}",
                    )
                    try:
                        before = node.cpu_seconds()
                        seconds = asyncio.run(
                            submit_stream(node.endpoint, creds, built[b].requests)
                        )
                        cpu_rows.append(
                            cpu_row(
                                name,
                                f"`SubmitStream`, batches of {b:,}",
                                before,
                                node.cpu_seconds(),
                                args.records,
                            )
                        )
                    finally:
                        node.stop()
                    raw = backend.raw_ceiling(args.records, b, payload)
                    everything, per_record = backend.written_ceiling(url, b, args.records)
                    rate = args.records / seconds
                    ceiling_path = "sqlite3 executemany" if name == "sqlite" else "COPY BINARY"
                    ceilings = [
                        (f"raw {ceiling_path}, batches of {b:,} (ceiling)", raw),
                        (
                            f"raw {ceiling_path} of every per-record row the ingest wrote "
                            f"({per_record:.0f} rows per record), batches of {b:,} (ceiling)",
                            everything,
                        ),
                    ]
                    for label, ceiling_rate in ceilings:
                        results.append([name, label, f"{ceiling_rate:,.0f}", "1.00", ""])
                        results.append(
                            [
                                name,
                                f"`SubmitStream` end to end, batches of {b:,}",
                                f"{rate:,.0f}",
                                f"**{rate / ceiling_rate:.2f}**",
                                "",
                            ]
                        )
                    print(
                        f"  {name} batch {b}: {rate:,.0f} records/s vs raw {raw:,.0f} "
                        f"(log rows) and {everything:,.0f} (every row written)",
                        file=sys.stderr,
                    )

                # (c) growth: pre-filled logs, then the same streamed ingest.
                if args.grow > 0:
                    b = batches[0]
                    grow_requests = built[b].requests[: max(1, args.grow_records // b)]
                    n_grow = len(grow_requests) * b
                    rates = {}
                    for size in (args.small, args.grow):
                        url = backend.fresh_url()
                        fill = asyncio.run(prefill(dev, url, size))
                        # Fresh request ids and batch ids are not needed: a fresh store.
                        node = gateway(
                            tmp,
                            url,
                            tmp / f"data-{name}-g{size}",
                            args.profile,
                            f"{name}-grow-{size}",
                        )
                        try:
                            seconds = asyncio.run(
                                submit_stream(node.endpoint, creds, grow_requests)
                            )
                        finally:
                            node.stop()
                        rates[size] = n_grow / seconds
                        growth.append(
                            [
                                name,
                                f"{size:,}",
                                f"{size / fill:,.0f}",
                                f"{rates[size]:,.0f}",
                                f"{rates[size] / rates[args.small]:.2f}",
                            ]
                        )
                        print(
                            f"  {name} grown to {size}: {rates[size]:,.0f} records/s",
                            file=sys.stderr,
                        )
            finally:
                backend.cleanup()

        print(
            f"\n{args.records:,} records streamed per line, statement payload ≈ {payload} B; "
            f"unary: {args.unary:,} calls\n"
        )
        print(
            table(
                ["backend", "path", "records/s", "vs ceiling", "p50 / p99 ms"],
                results,
                right_from=2,
            )
        )
        print(
            "\nCPU of the gateway's processes during each measurement, µs per record (per call "
            "for unary); the client's own CPU is not included\n"
        )
        print(
            table(
                ["backend", "path", "gateway process", "its helper processes", "together"],
                cpu_rows,
                right_from=2,
            )
        )
        if growth:
            print(
                f"\nLog growth: {args.grow_records:,} records streamed in batches of "
                f"{batches[0]:,} into a log pre-filled through the ledger\n"
            )
            print(
                table(
                    [
                        "backend",
                        "entries before",
                        "pre-fill entries/s",
                        "ingest records/s",
                        "vs smallest",
                    ],
                    growth,
                )
            )
    _ = (ROOT, Sequence, datetime, UTC)


if __name__ == "__main__":
    main()
