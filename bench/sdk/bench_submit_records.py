"""Client.submit_records of N small records against the gateway's streamed ingest, same run.

    python bench/sdk/bench_submit_records.py                        # 1,000,000 records
    python bench/sdk/bench_submit_records.py --records 50000 --batch 1000,5000,10000
    python bench/sdk/bench_submit_records.py --profile /tmp/submit  # cProfile, both sides

Records: complete administrative penalty records (``tests/gateway/statements.penalty_record``,
statements of about 580 bytes) over 5,000 subjects, as in ``bench/gateway/bench_ingest.py``.
Every line starts a fresh real :class:`~creditlink.gateway.node.GatewayNode` in its own process
over a fresh SQLite store (``bench_ingest.gateway``: mutual TLS on loopback, intake workers,
per-node rate limit out of the way); the client is this process, on the same 2 cores.

For each batch size B of ``--batch`` (default 1,000 and 10,000), one line right after the other:

(a) **the gateway's streamed ingest** (the ceiling), measured exactly as ``bench_ingest.py``
    measures it, with its own code (``build_batches``, ``submit_stream``): sealed batches of B
    records **built before timing**, written on one ``SubmitStream`` as the credits allow;
    seconds from the first write to the last receipt;
(b) **``Client.submit_records(records, batch_size=B)``**: as many records of the same kind,
    as bare ``CreditRecord`` bodies built before timing; in the timing is everything the SDK does:
    complete each statement (header, ids, time), serialize it, sign each batch, seal it, follow
    the credits, and verify every receipt (signature, checkpoint, batch root).

Then (c) ``Client.submit_records(records)`` with the default ``batch_size="auto"`` (500, doubling
with each receipt up to the gateway's grant, 10,000 items). The ratio is (b) over (a) of the same
B, and (c) over (a) of the last B (the default's 10,000 is the size "auto" reaches). Also
reported: the client's CPU time per record (this process, grpc threads included), which is what
the SDK adds on the machine the gateway shares here.

Target (SDK issue): ``submit_records`` reaches the gateway's streamed ingest rate (ratio ~ 1).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import dev_node, machine, table
from bench_ingest import build_batches, gateway, subjects, submit_stream


@dataclass
class Line:
    seconds: float
    client_cpu: float  # seconds of this process's CPU time during the timing

    def rate(self, records: int) -> float:
        return records / self.seconds


def _store(tmp: Path, tag: str) -> tuple[str, Path]:
    from creditlink.gateway.store import sqlite_url

    path = tmp / f"store-{tag}.sqlite3"
    return sqlite_url(path), path


def _drop(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def gateway_stream(
    dev: Any, tmp: Path, records: int, batch: int, pool: Sequence[str], profile: str | None
) -> Line:
    """(a): ``bench_ingest``'s pre-built sealed batches on one ``SubmitStream``."""
    import asyncio

    built = build_batches(dev, records, batch, pool)
    url, path = _store(tmp, f"raw-{batch}")
    node = gateway(tmp, url, tmp / f"data-raw-{batch}", profile, f"gateway-stream-{batch}")
    try:
        cpu = time.process_time()
        seconds = asyncio.run(
            submit_stream(node.endpoint, dev.operator.channel_credentials(), built.requests)
        )
        cpu = time.process_time() - cpu
    finally:
        node.stop()
        _drop(path)
    del built
    gc.collect()
    return Line(seconds, cpu)


def sdk_submit(
    dev: Any,
    tmp: Path,
    records: Sequence[Any],
    batch: int | Literal["auto"],
    profile: str | None,
) -> Line:
    """(b), (c): ``Client.submit_records`` of ``records``; every receipt verified."""
    from creditlink.sdk import Client

    url, path = _store(tmp, f"sdk-{batch}")
    node = gateway(tmp, url, tmp / f"data-sdk-{batch}", profile, f"gateway-sdk-{batch}")
    profiler = cProfile.Profile() if profile else None
    try:
        with Client.from_credentials(
            dev.operator_dir, target=node.endpoint, gateway=dev.node_id
        ) as client:
            client.get_checkpoint()  # TLS handshake outside the timing
            logged = 0
            if profiler is not None:
                profiler.enable()
            cpu = time.process_time()
            started = time.perf_counter()
            for receipt in client.submit_records(records, batch_size=batch):
                logged += receipt.leaf_count
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(f"{profile}-client-{batch}.prof")
        assert logged == len(records), f"{logged} of {len(records)} records receipted"
    finally:
        node.stop()
        _drop(path)
    return Line(seconds, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--batch", default="1000,10000", help="batch sizes for (a) and (b); the last for (c)"
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="cProfile prefix: every gateway process, and this process during (b) and (c) "
        "(which slows the SDK lines)",
    )
    args = parser.parse_args()
    count: int = args.records
    batches = [int(b) for b in args.batch.split(",")]

    from tests.gateway.statements import penalty_record

    with tempfile.TemporaryDirectory(prefix="bench-submit-records-") as tmpname:
        tmp = Path(tmpname)
        dev = dev_node(tmp)
        pool = subjects(5_000)
        print(machine())
        print(f"gateway in its own process (SQLite); client {dev.operator.node_id}, this process")

        started = time.perf_counter()
        records = [penalty_record(uscc=pool[i % len(pool)]) for i in range(count)]
        build = time.perf_counter() - started
        # Interleaved, so that each ratio compares lines run minutes apart, not far apart.
        reference: dict[int, Line] = {}
        sdk: dict[int | str, Line] = {}
        for b in batches:
            reference[b] = gateway_stream(dev, tmp, count, b, pool, args.profile)
            rate = reference[b].rate(count)
            print(f"  gateway stream, batches of {b}: {rate:,.0f}/s", file=sys.stderr)
            sdk[b] = sdk_submit(dev, tmp, records, b, args.profile)
            rate = sdk[b].rate(count)
            print(f"  submit_records, batch_size={b}: {rate:,.0f}/s", file=sys.stderr)
        sdk["auto"] = sdk_submit(dev, tmp, records, "auto", args.profile)
        rate = sdk["auto"].rate(count)
        print(f"  submit_records, batch_size=auto: {rate:,.0f}/s", file=sys.stderr)
        del records

    rows = []
    for b in batches:
        ceiling = reference[b].rate(count)
        for what, line, ratio in (
            (f"gateway `SubmitStream`, pre-built batches of {b:,} (ceiling)", reference[b], 1.0),
            (
                f"`Client.submit_records`, `batch_size={b:,}`",
                sdk[b],
                sdk[b].rate(count) / ceiling,
            ),
        ):
            rows.append(
                [
                    what,
                    f"{line.seconds:.1f}",
                    f"{line.rate(count):,.0f}",
                    f"**{ratio:.2f}**",
                    f"{line.client_cpu / count * 1e6:.0f}",
                ]
            )
    auto, largest = sdk["auto"], reference[batches[-1]]
    rows.append(
        [
            "`Client.submit_records`, `batch_size='auto'` (default)",
            f"{auto.seconds:.1f}",
            f"{auto.rate(count):,.0f}",
            f"**{auto.rate(count) / largest.rate(count):.2f}**",
            f"{auto.client_cpu / count * 1e6:.0f}",
        ]
    )
    print(
        f"\n{count:,} penalty records per line, each line a fresh gateway over a fresh SQLite "
        f"store; records built before timing ({count / build:,.0f} records/s)\n"
    )
    print(
        table(
            ["path", "seconds", "records/s", "vs gateway stream", "client CPU µs/record"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
