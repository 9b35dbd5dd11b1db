"""Initial sync of N name-list entries from a real local gateway into a fresh NameListMirror.

    python bench/sdk/bench_mirror_sync.py                          # 1,000,000 entries
    python bench/sdk/bench_mirror_sync.py --entries 50000 --profile /tmp/mirror
    python bench/sdk/bench_mirror_sync.py --cache /tmp/mirror-store   # keep the built store

**Setup** (timed, reported apart, not what is measured): a development node
(``bench/_common.py``) serves a real :class:`~creditlink.gateway.node.GatewayNode` in its own
process (mutual TLS on loopback, SQLite store in a temp dir, the per-node rate limit out of the
way). The development operator, a determining authority in the development trust bundle,
submits the 2021 measure list (``Client.submit``), then signs ``--entries`` ``name-list-entry``
statements (``tests/gateway/listings.entry_statement``, one distinct subject each) and submits
them with ``Client.submit_records``: the gateway's real ingest path (open, verify, check, log,
project, signed receipt). Every entry is a real signed statement in the gateway's log. The
store is built once per run; with ``--cache DIR`` it is kept in DIR and reused by a later run
asking for the same number of entries.

**Measured**: the gateway is restarted over that store (a fresh process), then three readers
pull every entry from leaf 0 to the log's head, each in a fresh child process (so the peak RSS
is the reader's own; the client runs on the same 2 cores as the gateway):

(a) raw ``Subscribe`` of the mirror's kinds (a grpc stub: no verification, entries only
    counted): the ceiling,
    what the gateway and the transport deliver;
(b) ``Client.subscribe(mirror.KINDS, follow=False)`` iterated: each entry verified (batch
    head signature under the sender's keys for the kind, the item's audit path, the strict
    parse) and each progress checkpoint verified, nothing kept;
(c) ``NameListMirror(client, fresh file).sync()``: (b) plus the checkpoint it records, the
    fold and the SQLite file — a platform's first start. Then a second ``sync()`` with nothing
    new: the consistency proof from the recorded checkpoint to the gateway's latest.

With ``--profile PREFIX``, (c) runs once more, not timed, under cProfile in both the mirror's
process (``PREFIX-mirror.prof``) and a fresh gateway process (``PREFIX-gateway.prof``); the
top functions of each are printed.

Target (issue 6): the initial sync of 1,000,000 entries in <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Server, dev_node, machine, table
from bench_ingest import subjects

#: Marker of a complete cached store: the number of entries it holds.
_BUILT = "entries.txt"


# --------------------------------------------------------------------------------------------
# Setup: the gateway's store, through its real ingest path
# --------------------------------------------------------------------------------------------


def _entries(sender: str, count: int) -> Iterator[Any]:
    from tests.gateway.listings import entry_statement

    pool = subjects(min(count, 1_000_000))  # distinct valid USCCs (repeats beyond 10^6)
    for i in range(count):
        yield entry_statement(sender, uscc=pool[i % len(pool)])


def build_store(home: Path, dev: Any, store_url: str, data: Path, count: int) -> float:
    """The 2021 measure list (``Client.submit``), then ``count`` name-list entries
    (``Client.submit_records``); seconds taken."""
    from creditlink.sdk import Client
    from tests.gateway.listings import measure_list_statement

    node = Server(["gateway", "--dev", str(home), "--store", store_url, "--data", str(data)])
    try:
        started = time.perf_counter()
        with Client.from_credentials(
            dev.operator_dir, target=node.endpoint, gateway=dev.node_id
        ) as client:
            client.submit(measure_list_statement(dev.operator.node_id))
            done = 0
            for receipt in client.submit_records(_entries(dev.operator.node_id, count)):
                done += receipt.leaf_count
                if done // 100_000 != (done - receipt.leaf_count) // 100_000:
                    rate = done / (time.perf_counter() - started)
                    print(f"  setup: {done:,} entries logged ({rate:,.0f}/s)", file=sys.stderr)
            assert done == count, f"{done} entries logged, {count} submitted"
        return time.perf_counter() - started
    finally:
        node.stop()


# --------------------------------------------------------------------------------------------
# Readers (child processes)
# --------------------------------------------------------------------------------------------


def _read_raw(target: str, operator_dir: str) -> dict[str, Any]:
    import grpc

    from creditlink.sdk.client import DEFAULT_CHANNEL_OPTIONS
    from creditlink.sdk.client._core import _SUBSCRIBE_PAGE as SUBSCRIBE_PAGE
    from creditlink.sdk.credentials import Credentials
    from creditlink.sdk.mirror import KINDS
    from creditlink.v1 import exchange_service_pb2
    from creditlink.v1.exchange_service_pb2_grpc import ExchangeServiceStub

    creds = Credentials.load(operator_dir)
    options = list(DEFAULT_CHANNEL_OPTIONS.items())
    with grpc.secure_channel(target, creds.channel_credentials(), options=options) as channel:
        stub = ExchangeServiceStub(channel)
        stub.GetCheckpoint(exchange_service_pb2.GetCheckpointRequest())  # TLS handshake
        # Pages of entries, as many per response as the SDK asks for: the same stream the
        # verified readers get, read without verifying anything.
        request = exchange_service_pb2.SubscribeRequest(
            cursor=0, kinds=KINDS, stop_at_head=True, max_entries_per_response=SUBSCRIBE_PAGE
        )
        started = time.perf_counter()
        count = 0
        for response in stub.Subscribe(request):
            if response.HasField("entry"):
                count += 1
            elif response.HasField("entries"):
                count += len(response.entries.entries)
        seconds = time.perf_counter() - started
    return {"entries": count, "seconds": seconds}


def _read_verified(target: str, operator_dir: str, gateway: str) -> dict[str, Any]:
    from creditlink.sdk import Client
    from creditlink.sdk.mirror import KINDS

    with Client.from_credentials(operator_dir, target=target, gateway=gateway) as client:
        client.get_checkpoint()  # TLS handshake
        started = time.perf_counter()
        count = 0
        with client.subscribe(KINDS, cursor=0, follow=False) as subscription:
            for _entry in subscription:
                count += 1
        seconds = time.perf_counter() - started
    return {"entries": count, "seconds": seconds}


def _sync_mirror(target: str, operator_dir: str, gateway: str, path: str) -> dict[str, Any]:
    from creditlink.sdk import Client, NameListMirror

    with Client.from_credentials(operator_dir, target=target, gateway=gateway) as client:
        client.get_checkpoint()  # TLS handshake
        started = time.perf_counter()
        with NameListMirror(client, path) as mirror:
            result = mirror.sync()
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            again = mirror.sync()  # consistency proof from the recorded checkpoint
            resync = time.perf_counter() - started
            assert again.entries_added == 0
            assert again.checkpoint is not None
            assert mirror.measure_list_versions("national-basic") == ("2021.1",)
            entries = len(mirror)
    return {
        "entries": entries,
        "added": result.entries_added,
        "skipped": result.skipped,
        "seconds": seconds,
        "resync_seconds": resync,
    }


def _peak_rss_mb() -> float:
    """This process's peak resident set (``VmHWM``). Not ``getrusage``'s ``ru_maxrss``: after
    ``subprocess`` (vfork + exec) it also counts the parent's memory, here the setup's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _child(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["raw", "verified", "mirror"])
    parser.add_argument("--target", required=True)
    parser.add_argument("--operator", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--file", default="")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if args.what == "raw":
        out = _read_raw(args.target, args.operator)
    elif args.what == "verified":
        out = _read_verified(args.target, args.operator, args.gateway)
    else:
        out = _sync_mirror(args.target, args.operator, args.gateway, args.file)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    out["max_rss_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(out), flush=True)


def run_child(what: str, node: Server, dev: Any, file: Path | None, profile: str | None) -> Any:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        what,
        "--target",
        node.endpoint,
        "--operator",
        str(dev.operator_dir),
        "--gateway",
        dev.node_id,
    ]
    if file is not None:
        cmd += ["--file", str(file)]
    if profile:
        cmd += ["--profile", profile]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1].removeprefix("RESULT "))


def top_functions(path: str, entries: int, count: int = 15) -> list[list[str]]:
    """The ``count`` functions with the most own time (an event loop's idle wait excluded)."""
    import pstats

    stats: dict[Any, Any] = pstats.Stats(path).stats  # type: ignore[attr-defined]
    rows = []
    ranked = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)
    for (file, line, name), (_cc, calls, own, cumulative, _callers) in ranked:
        if name == "<method 'poll' of 'select.epoll' objects>":
            continue  # the gateway's event loop waiting for work
        where = f"{Path(file).name}:{line}" if line else "built-in"
        rows.append(
            [
                f"`{name}` ({where})",
                f"{calls:,}",
                f"{own:.2f}",
                f"{own / entries * 1e6:.1f}",
                f"{cumulative:.2f}",
            ]
        )
        if len(rows) == count:
            break
    return rows


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--profile", default=None, help="cProfile prefix for (c) and its gateway")
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep the built store here and reuse it"
    )
    args = parser.parse_args()
    count: int = args.entries

    with tempfile.TemporaryDirectory(prefix="bench-mirror-sync-") as tmpname:
        tmp = Path(tmpname)
        home: Path = args.cache or tmp
        home.mkdir(parents=True, exist_ok=True)
        marker = home / _BUILT
        from creditlink.gateway.store import sqlite_url

        store_url = sqlite_url(home / "store.sqlite3")
        dev = dev_node(home)
        print(machine())
        print(f"gateway in its own process; readers in child processes; client {dev.operator_dir}")

        if marker.exists() and marker.read_text().strip() == str(count):
            setup = None
            print(f"reusing the store in {home} ({count:,} entries)", file=sys.stderr)
        else:
            if marker.exists():
                raise SystemExit(f"{home} holds a store of another size: use another --cache")
            setup = build_store(home, dev, store_url, tmp / "data-setup", count)
            marker.write_text(f"{count}\n")

        gateway_args = ["gateway", "--dev", str(home), "--store", store_url, "--data"]
        node = Server([*gateway_args, str(tmp / "data")])
        try:
            raw = run_child("raw", node, dev, None, None)
            verified = run_child("verified", node, dev, None, None)
            mirror = run_child("mirror", node, dev, tmp / "mirror.db", None)
        finally:
            node.stop()
        profile = args.profile
        if profile:
            # Not timed: a second pass of (c), under cProfile on both sides.
            node = Server(
                [*gateway_args, str(tmp / "data-p"), "--profile", f"{profile}-gateway.prof"]
            )
            try:
                run_child("mirror", node, dev, tmp / "mirror-p.db", f"{profile}-mirror.prof")
            finally:
                node.stop()
        for name, result in (("raw", raw), ("verified", verified)):
            assert result["entries"] == count + 1, f"{name}: {result['entries']} entries"
        assert mirror["entries"] == count, mirror
        assert mirror["added"] == count, mirror
        assert mirror["skipped"] == 0, mirror

    ceiling = count / raw["seconds"]

    def row(what: str, result: dict[str, Any]) -> list[str]:
        rate = count / result["seconds"]
        return [
            what,
            f"{result['seconds']:.1f}",
            f"{rate:,.0f}",
            f"**{rate / ceiling:.2f}**",
            f"{result['max_rss_mb']:,.0f}",
        ]

    print(f"\nInitial sync of {count:,} name-list entries from a local gateway (SQLite)\n")
    print(
        table(
            ["reader (own process)", "seconds", "entries/s", "vs raw Subscribe", "peak RSS MB"],
            [
                row("raw `Subscribe`, no verification (ceiling)", raw),
                row("`Client.subscribe`, every entry verified", verified),
                row("`NameListMirror.sync()` into a fresh file", mirror),
            ],
        )
    )
    met = "met" if mirror["seconds"] <= 60 * count / 1_000_000 else "**missed**"
    print()
    print(
        table(
            ["measure", "value", "target (issue 6)"],
            [
                [
                    "setup: submit and log the entries (`submit_records`)",
                    "reused (--cache)" if setup is None else f"{setup:.1f} s",
                    "",
                ],
                [
                    f"initial sync of {count:,} entries",
                    f"{mirror['seconds']:.1f} s",
                    f"<= {60 * count / 1_000_000:.1f} s (60 s per 10^6) — {met}",
                ],
                [
                    "second sync, nothing new (consistency proof)",
                    f"{mirror['resync_seconds']:.3f} s",
                    "",
                ],
            ],
        )
    )
    if profile:
        for side in ("mirror", "gateway"):
            print(f"\ncProfile of (c), {side} process, top functions by own time\n")
            print(
                table(
                    ["function", "calls", "own s", "µs per entry", "cumulative s"],
                    top_functions(f"{profile}-{side}.prof", count),
                )
            )


if __name__ == "__main__":
    main()
