"""The raw transport ceiling: grpc.aio over mutual TLS on loopback, echoing bytes.

    python bench/baseline/bench_grpc.py                       # defaults: ~1 minute
    python bench/baseline/bench_grpc.py --calls 5000 --concurrency 1,8,32

The server is a separate process (``bench/_common.py echo``) serving one generic handler that
returns its request bytes: no protobuf parsing, no application work, the node's own TLS server
credentials, and the development operator's client certificate on the client side. What it
echoes has the size of the gateway's real requests:

* **unary** — a serialized ``SubmitRequest`` carrying one signed and sealed record statement;
  N callers in a closed loop (each awaits its reply before calling again): calls/s, p50, p99;
* **streamed** — one bidirectional stream carrying serialized ``SubmitStreamRequest`` messages,
  each a sealed batch of ``--batch`` records, at most 8 unanswered (the gateway's credit
  window): items/s, i.e. records carried per second.

``bench/gateway/bench_ingest.py`` runs the same functions in its own run for its ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc
from _common import (
    ECHO_STREAM,
    ECHO_UNARY,
    Server,
    UnaryResult,
    closed_loop,
    dev_node,
    machine,
    table,
)

_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


def channel(endpoint: str, creds: grpc.ChannelCredentials) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(endpoint, creds, options=_OPTIONS)


def sample_payloads(dev: object, batch: int) -> tuple[bytes, bytes]:
    """(one SubmitRequest with a sealed single record, one SubmitStreamRequest of ``batch``)."""
    from creditlink.v1 import envelope_pb2, exchange_service_pb2
    from tests.gateway.statements import penalty_record, sealed_batch, sealed_single, statement

    op, node_id = dev.operator, dev.node_id  # type: ignore[attr-defined]
    single = sealed_single(op, node_id, statement(op.node_id, [node_id], penalty_record()))
    unary = exchange_service_pb2.SubmitRequest(
        request_id=str(uuid.uuid4()), sealed=envelope_pb2.SealedEnvelope.FromString(single)
    ).SerializeToString()
    bodies = [statement(op.node_id, [node_id], penalty_record()) for _ in range(batch)]
    sealed = sealed_batch(op, node_id, bodies)
    streamed = exchange_service_pb2.SubmitStreamRequest(
        sequence=1,
        request_id=str(uuid.uuid4()),
        sealed_batch=envelope_pb2.SealedEnvelope.FromString(sealed),
    ).SerializeToString()
    return unary, streamed


async def echo_unary(
    endpoint: str, creds: grpc.ChannelCredentials, payload: bytes, calls: int, concurrency: int
) -> UnaryResult:
    async with channel(endpoint, creds) as ch:
        method = ch.unary_unary(ECHO_UNARY)
        await method(payload)  # connect and handshake outside the timing
        return await closed_loop(lambda _: method(payload), calls, concurrency)


async def echo_stream(
    endpoint: str, creds: grpc.ChannelCredentials, payload: bytes, messages: int, window: int = 8
) -> float:
    """Seconds to echo ``messages`` copies of ``payload``, at most ``window`` unanswered.

    The window is also held to about 8 MiB in flight: the echoes come back while the writer
    is still writing, and with more unread bytes than the HTTP/2 windows hold the two sides
    would wait on each other (batches of 5,000 records are ~3 MB each).
    """
    window = max(1, min(window, (8 << 20) // max(1, len(payload))))
    async with channel(endpoint, creds) as ch:
        await ch.unary_unary(ECHO_UNARY)(b"x")
        call = ch.stream_stream(ECHO_STREAM)()
        t0 = time.perf_counter()
        sent = received = 0
        while received < messages:
            while sent < messages and sent - received < window:
                await call.write(payload)
                sent += 1
                if sent == messages:
                    await call.done_writing()
            reply = await call.read()
            assert reply is not grpc.aio.EOF
            received += 1
        elapsed = time.perf_counter() - t0
        await call.read()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000, help="unary calls per line")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--batch", type=int, default=1_000, help="records per streamed message")
    parser.add_argument("--records", type=int, default=100_000, help="records streamed")
    args = parser.parse_args()
    levels: Sequence[int] = [int(c) for c in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp:
        dev = dev_node(Path(tmp))
        creds = dev.operator.channel_credentials()
        unary_payload, stream_payload = sample_payloads(dev, args.batch)
        server = Server(["echo", "--dev", tmp])
        try:
            print(f"{machine()}; server in its own process, mutual TLS on loopback")
            print(
                f"unary payload {len(unary_payload):,} B; streamed message "
                f"{len(stream_payload):,} B ({args.batch:,} records)\n"
            )
            rows = []
            for n in levels:
                r = asyncio.run(echo_unary(server.endpoint, creds, unary_payload, args.calls, n))
                rows.append(
                    [
                        f"unary echo, {n} callers",
                        f"{r.rate:,.0f}",
                        f"{r.p50_ms:.2f}",
                        f"{r.p99_ms:.2f}",
                    ]
                )
            print(table(["transport ceiling", "calls/s", "p50 ms", "p99 ms"], rows))
            messages = max(1, args.records // args.batch)
            seconds = asyncio.run(echo_stream(server.endpoint, creds, stream_payload, messages))
            print()
            print(
                table(
                    ["streamed echo", "messages/s", "items/s", "MB/s"],
                    [
                        [
                            f"{messages} × {args.batch:,} records, window 8",
                            f"{messages / seconds:,.1f}",
                            f"{messages * args.batch / seconds:,.0f}",
                            f"{messages * len(stream_payload) / seconds / 1e6:,.0f}",
                        ]
                    ],
                )
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
