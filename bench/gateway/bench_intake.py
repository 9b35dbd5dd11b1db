"""Where a record's intake time goes, and how the intake scales over worker processes.

    python bench/gateway/bench_intake.py                  # 16 batches of 1,000 records
    python bench/gateway/bench_intake.py --batches 32 --workers 1,2,4

No network and no store: the gateway's :class:`~creditlink.gateway.intake.Intake` on sealed
signed batches of penalty records (built before timing), measured three ways in one run:

(a) **the steps of one record**, each timed alone over the same statements, against the raw
    Ed25519 verification of one signature (the unit every CXP check is compared with):
    strict parse, the contract's constraints (the compiled plan the gateway runs, and
    protovalidate, which it asks only when the plan does not pass a message), identifiers
    and scopes;
(b) **the whole intake in place** (``intake_workers = 0``): open the seal, verify the batch
    signature and root, then check every record — records/s;
(c) **the intake over N worker processes** (:class:`~creditlink.gateway.workers.IntakeWorkers`),
    all batches submitted at once — records/s and the ratio to (b). On a machine with N free
    cores the ratio approaches N; it measures whether the hand-off (pickling, pipes) eats the
    gain, which is what this design has to prove on any machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import machine, table
from bench_ingest import subjects


def _per_call(fn: Callable[[int], object], n: int) -> float:
    """Seconds per call of ``fn(i)`` for i in range(n), CPU time of this process."""
    fn(0)
    start = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - start) / n


def steps(statements: Sequence[Any]) -> list[list[str]]:
    import protovalidate

    from creditlink.gateway.constraint_plans import plan_for
    from creditlink.gateway.scopes import subject_and_scopes
    from creditlink.sdk._internal.strict import parse_strict
    from creditlink.sdk.keys import PrivateKey
    from creditlink.v1 import statement_pb2

    payloads = [s.SerializeToString(deterministic=True) for s in statements]
    n = len(payloads)
    key = PrivateKey.from_seed(b"k" * 32)
    sig = key.sign(payloads[0])
    public = key.public_key
    ed25519 = _per_call(lambda i: public.verify(sig, payloads[0]), n)
    parsed = [statement_pb2.Statement.FromString(p) for p in payloads]
    plan = plan_for(statement_pb2.Statement.DESCRIPTOR)
    assert all(plan(p) for p in parsed), "the benchmark's statements must pass their plan"
    rows = [
        ("raw Ed25519 verify (unit)", ed25519),
        (
            "strict parse",
            _per_call(lambda i: parse_strict(statement_pb2.Statement, payloads[i]), n),
        ),
        (
            "contract constraints: compiled plan (what the gateway runs)",
            _per_call(lambda i: plan(parsed[i]), n),
        ),
        (
            "contract constraints: protovalidate (asked when the plan does not pass)",
            _per_call(lambda i: protovalidate.collect_violations(parsed[i]), n),
        ),
        (
            "identifiers and scopes",
            _per_call(lambda i: subject_and_scopes(parsed[i].record, "record"), n),
        ),
    ]
    return [[name, f"{s * 1e6:.1f}", f"{s / ed25519:.2f}"] for name, s in rows]


async def _run(runner: Any, batches: Sequence[bytes], peer: str) -> float:
    await runner.start()
    try:
        start = time.perf_counter()
        await asyncio.gather(*(runner.batch(b, peer=peer, request_id=None) for b in batches))
        return time.perf_counter() - start
    finally:
        await runner.close()


async def scaling(
    dev: Any, batches: Sequence[bytes], records: int, workers: Sequence[int]
) -> list[list[str]]:
    from creditlink.gateway.intake import Intake
    from creditlink.gateway.workers import InlineIntake, IntakeWorkers, WorkerSettings
    from creditlink.sdk.credentials import SEALING_KEY

    node, peer = dev.node, dev.operator.node_id
    inline = InlineIntake(
        Intake(
            node_id=node.node_id, trust=lambda: node.trust_bundle, sealing_keys=[node.sealing_key]
        )
    )
    base = await _run(inline, batches, peer)
    rows = [["in place (intake_workers = 0)", f"{records / base:,.0f}", "1.00"]]
    for n in workers:
        pool = IntakeWorkers(
            WorkerSettings(node_id=node.node_id, sealing_key_path=node.directory / SEALING_KEY),
            processes=n,
            trust=lambda: node.trust_bundle,
            clock=lambda: datetime.now(UTC),
        )
        seconds = await _run(pool, batches, peer)
        rows.append(
            [f"{n} worker process(es)", f"{records / seconds:,.0f}", f"{base / seconds:.2f}"]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()

    from creditlink.gateway.bootstrap import ensure_dev_node
    from tests.gateway.statements import penalty_record, sealed_batch, statement

    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        dev = ensure_dev_node(Path(tmp) / ".creditlink")
        op, node_id = dev.operator, dev.node_id
        pool = subjects(1000)
        groups = [
            [
                statement(op.node_id, [node_id], penalty_record(uscc=pool[(k * 7 + i) % len(pool)]))
                for i in range(args.batch)
            ]
            for k in range(args.batches)
        ]
        batches = [sealed_batch(op, node_id, g) for g in groups]
        records = args.batches * args.batch
        print(machine())
        print(f"\n(a) per record, µs (CPU time), {args.batch:,} penalty records:\n")
        print(table(["step", "µs", "× Ed25519 verify"], steps(groups[0])))
        workers = [int(w) for w in args.workers.split(",")]
        rows = asyncio.run(scaling(dev, batches, records, workers))
        print(f"\n(b, c) whole intake, {records:,} records in batches of {args.batch:,}:\n")
        print(table(["intake", "records/s", "vs in place"], rows))


if __name__ == "__main__":
    main()
