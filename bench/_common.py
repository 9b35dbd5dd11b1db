"""Shared pieces of the transport and gateway benchmarks.

* a development node (``ensure_dev_node``) whose credentials both sides use: the node's server
  credentials, and its operator as the mutual-TLS client;
* servers run in a **separate process** (``python bench/_common.py echo|gateway ...``), so
  client and server do not share one event loop or one GIL; on a 2-core machine each gets
  roughly one core;
* closed-loop load generators (N concurrent callers, each awaiting its reply before the next
  call) and a credit-respecting stream driver;
* percentiles and Markdown tables.

Server protocol: the child prints ``READY <port>`` once listening and stops cleanly on SIGTERM
(writing its cProfile statistics first when started with ``--profile FILE``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "bench" / "baseline"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

ECHO_UNARY = "/bench.Echo/Unary"
ECHO_STREAM = "/bench.Echo/Stream"


# --------------------------------------------------------------------------------------------
# Machine and statistics
# --------------------------------------------------------------------------------------------


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import grpc

    return (
        f"{os.cpu_count()} CPUs ({model or platform.processor()}), {platform.system()}, "
        f"CPython {platform.python_version()}, grpcio {grpc.__version__}"
    )


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right_from: int = 1) -> str:
    out = ["| " + " | ".join(headers) + " |"]
    out.append(
        "|" + "|".join("---" if i < right_from else "---:" for i in range(len(headers))) + "|"
    )
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Development credentials
# --------------------------------------------------------------------------------------------


def dev_node(directory: Path) -> Any:
    from creditlink.gateway.bootstrap import ensure_dev_node

    return ensure_dev_node(directory / ".creditlink")


# --------------------------------------------------------------------------------------------
# Server processes
# --------------------------------------------------------------------------------------------


class Server:
    """A server child process; ``port`` once ready; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if not os.environ.get("BENCH_DEBUG") else None,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.endpoint = f"127.0.0.1:{self.port}"

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU seconds used so far by the server process and by its descendants (the intake's
        workers, fork server and resource tracker), user and system, read from ``/proc``."""
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _proc_stat(pid: int) -> list[str]:
    # Fields after the command name, which may itself hold spaces and parentheses.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of process ``pid`` and, apart, of its living descendants.

    Linux only (``/proc``). A descendant that has ended is not counted: read this while the
    processes being measured run.
    """
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_proc_stat(int(entry.name))[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue  # ended while we looked

    def used(p: int) -> float:
        try:
            fields = _proc_stat(p)
        except (FileNotFoundError, ProcessLookupError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick  # utime, stime

    family, frontier = [], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        family += frontier
    return used(pid), sum(used(p) for p in family)


async def _until_sigterm() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_echo(dev_dir: Path) -> None:
    """Raw grpc.aio over mutual TLS: bytes in, the same bytes out; no protobuf, no work."""
    import grpc

    dev = dev_node(dev_dir)

    async def unary(request: bytes, context: Any) -> bytes:
        return request

    async def stream(requests: Any, context: Any) -> Any:
        async for request in requests:
            yield request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.stream_stream_rpc_method_handler(stream),
        },
    )
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ]
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port("127.0.0.1:0", dev.node.server_credentials())
    await server.start()
    print(f"READY {port}", flush=True)
    await _until_sigterm()
    await server.stop(None)


async def serve_gateway(
    dev_dir: Path, store_url: str, data_dir: Path, intake_workers: int | None = None
) -> None:
    """A real :class:`GatewayNode` (as ``creditlink serve`` builds it) on ``store_url``."""
    from creditlink.gateway import heap
    from creditlink.gateway.config import GatewayConfig
    from creditlink.gateway.node import GatewayNode

    dev = dev_node(dev_dir)
    config = GatewayConfig(
        node_id=dev.node_id,
        data_dir=data_dir,
        credentials_dir=dev.node_dir,
        store_url=store_url,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        # The per-node rate limit (default 5,000 calls/s) would otherwise be what is measured.
        rate_limit_per_node=1e9,
        rate_limit_burst=10**9,
        max_message_bytes=64 * 1024 * 1024,
        log_level="WARNING",
        intake_workers=intake_workers,
    )
    node = GatewayNode(config, dev.node)
    await node.start()
    heap.settle()  # as `creditlink serve` does
    print(f"READY {node.port}", flush=True)
    await _until_sigterm()
    await node.stop(grace=1)


def _child_main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["echo", "gateway"])
    parser.add_argument("--dev", required=True, type=Path)
    parser.add_argument("--store", default="")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--profile", default=None, help="write cProfile stats here")
    parser.add_argument("--intake-workers", type=int, default=None, help="default: one per CPU")
    args = parser.parse_args(argv)
    if args.what == "echo":
        main: Awaitable[None] = serve_echo(args.dev)
    else:
        main = serve_gateway(args.dev, args.store, args.data, args.intake_workers)
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            asyncio.run(main)
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
    else:
        asyncio.run(main)


# --------------------------------------------------------------------------------------------
# Load generators
# --------------------------------------------------------------------------------------------


@dataclass
class UnaryResult:
    calls: int
    seconds: float
    latencies: list[float]  # sorted, seconds

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 0.50) * 1e3

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1e3


async def closed_loop(
    call: Callable[[int], Awaitable[object]], total: int, concurrency: int
) -> UnaryResult:
    """``total`` calls (``call(i)`` for i in range), ``concurrency`` callers in a closed loop."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def caller() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return UnaryResult(total, elapsed, latencies)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
