"""``creditlink status``: a node's health, log size, checkpoint and outbox at a glance.

::

    creditlink status --credentials .creditlink/operator [--target HOST:PORT] [--json]
                      [--data-dir DIR | --store URL]

Connects with mutual TLS using the credentials directory (a client's or the node's own), calls
gRPC health checking and ``ExchangeService.GetCheckpoint``, and verifies the checkpoint with the
node's checkpoint key from the trust bundle in the credentials directory: the origin must be the
node's log origin and the note must carry its signature. The printed log size is the verified
checkpoint's.

The outbox (messages waiting to be forwarded, docs/outbox.md) is not exposed over gRPC: it is
read from the node's store, on the node's host, when ``--data-dir`` (the SQLite store
``DIR/store.sqlite3``) or ``--store URL`` names it, and reported per destination: depth, age of
the oldest waiting message, failed messages. Without either it is ``n/a``. The same store gives
the feed follower's position per upstream followed (docs/feed.md): the next leaf of the
upstream's log to read, and the size of the last upstream checkpoint proven consistent.

The node is the one the trust bundle lists at ``--target`` (default: the first endpoint in the
credentials' manifest); when no node lists that address, the checkpoint's origin selects it,
and the checkpoint must still verify under that node's key from the bundle.

Exit status: 0 when the node is ``SERVING`` and its checkpoint verifies, 1 otherwise (unreachable,
not serving, or a checkpoint that does not verify), 2 for unusable credentials or arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from grpc_health.v1 import health_pb2

from creditlink.gateway.config import is_loopback
from creditlink.gateway.node import DEV_PEER_HEADER
from creditlink.gateway.store import open_store, sqlite_url
from creditlink.sdk.credentials import Credentials, InvalidCredentials
from creditlink.sdk.errors import CreditlinkError
from creditlink.sdk.tlog import NoteVerifier, verify_checkpoint
from creditlink.sdk.trust import NodeInfo, TrustBundle
from creditlink.v1 import exchange_service_pb2, exchange_service_pb2_grpc

__all__ = [
    "CheckpointStatus",
    "FeedPosition",
    "NodeStatus",
    "OutboxQueue",
    "feed_status",
    "node_status",
    "outbox_status",
    "register",
]


def register(sub: Any) -> None:
    """Add the ``status`` subcommand to ``sub`` (an argparse subparsers action)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "status",
        help="show a node's health, log size, checkpoint and outbox",
        description=(
            "Connect to a node with mutual TLS and show its health, log size, verified "
            "checkpoint and outbox."
        ),
    )
    parser.add_argument(
        "--credentials",
        type=Path,
        required=True,
        metavar="DIR",
        help="credentials directory to connect with (e.g. .creditlink/operator)",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="HOST:PORT",
        help="node address (default: the first endpoint in the credentials' manifest)",
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for each call (default 5)"
    )
    parser.add_argument(
        "--insecure-dev",
        action="store_true",
        help="plaintext, for a node started with --insecure-dev on loopback (development only)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the node's data directory: read its outbox from DIR/store.sqlite3",
    )
    source.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="the node's store URL (sqlite:///... or postgresql://...): read its outbox",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=_run)


@dataclass
class CheckpointStatus:
    """The node's latest checkpoint and whether it verified under the trust bundle."""

    origin: str
    size: int
    root_hash: str
    verified: bool
    key_name: str = ""
    problem: str = ""


@dataclass
class OutboxQueue:
    """One destination's queue in the node's outbox."""

    depth: int
    #: Seconds since the oldest waiting message was queued; ``None`` when none waits.
    oldest_age_seconds: float | None
    failed: int


@dataclass
class FeedPosition:
    """Where the node's mirror of one upstream's log stands (``Store.feed_cursors``)."""

    #: The next leaf of the upstream's log to read: every leaf before it was mirrored or skipped.
    cursor: int
    #: Size of the last upstream checkpoint proven consistent.
    checkpoint_size: int
    #: Seconds since the cursor last moved.
    age_seconds: float


@dataclass
class NodeStatus:
    """What ``creditlink status`` reports."""

    target: str
    node_id: str | None
    health: str
    checkpoint: CheckpointStatus | None = None
    #: Per destination with waiting or failed messages; ``None`` (printed ``n/a``) when the
    #: store was not given.
    outbox: dict[str, OutboxQueue] | None = None
    problems: list[str] = field(default_factory=list)
    #: Per upstream followed; ``None`` (not printed) when the store was not given.
    feed: dict[str, FeedPosition] | None = None

    @property
    def ok(self) -> bool:
        """Serving, with a checkpoint that verified."""
        return self.health == "SERVING" and self.checkpoint is not None and self.checkpoint.verified

    @property
    def log_size(self) -> int | None:
        """Leaves in the log per the verified checkpoint."""
        if self.checkpoint is None or not self.checkpoint.verified:
            return None
        return self.checkpoint.size


def _node_at(bundle: TrustBundle, creds: Credentials, target: str) -> NodeInfo | None:
    if target in creds.endpoints and creds.node.log_origin:
        return creds.node  # the node's own credentials, pointed at itself
    listed = [n for n in bundle.nodes() if target in n.endpoints and n.log_origin]
    return listed[0] if len(listed) == 1 else None


def _verifiers(bundle: TrustBundle, node_id: str, now: datetime) -> list[NoteVerifier]:
    verifiers = []
    for record in bundle.checkpoint_keys(node_id, at=now):
        key = serialization.load_der_public_key(record.public_key.public_bytes)
        if isinstance(key, ed25519.Ed25519PublicKey) and record.note_name:
            verifiers.append(NoteVerifier(name=record.note_name, public_key=key))
    return verifiers


def _check_checkpoint(
    response: exchange_service_pb2.GetCheckpointResponse,
    bundle: TrustBundle,
    node: NodeInfo | None,
    now: datetime,
) -> tuple[CheckpointStatus, NodeInfo | None]:
    signed = response.checkpoint
    status = CheckpointStatus(
        origin=signed.origin, size=signed.size, root_hash=signed.root_hash.hex(), verified=False
    )
    if node is None:
        # The claimed origin only selects which bundle key to try; the signature decides.
        matches = [n for n in bundle.nodes() if n.log_origin and n.log_origin == signed.origin]
        node = matches[0] if len(matches) == 1 else None
    if node is None:
        status.problem = f"no node in the trust bundle keeps a log with origin {signed.origin!r}"
        return status, None
    problems = []
    for verifier in _verifiers(bundle, node.node_id, now):
        try:
            checkpoint = verify_checkpoint(signed.note, verifier=verifier, origin=node.log_origin)
        except CreditlinkError as exc:
            problems.append(exc.message)
            continue
        # Report what was verified, not the unsigned fields beside the note.
        status.origin, status.size = checkpoint.origin, checkpoint.size
        status.root_hash, status.verified = checkpoint.root_hash.hex(), True
        status.key_name = verifier.name
        return status, node
    status.problem = (
        "; ".join(problems) or f"the trust bundle lists no checkpoint key for {node.node_id}"
    )
    return status, node


def node_status(
    creds: Credentials,
    target: str,
    *,
    timeout: float = 5.0,
    insecure_dev: bool = False,
    now: datetime | None = None,
) -> NodeStatus:
    """Ask the node at ``target`` for its health and checkpoint (see the module docstring)."""
    now = now or datetime.now(UTC)
    bundle = creds.trust_bundle
    node = _node_at(bundle, creds, target)
    result = NodeStatus(target=target, node_id=node.node_id if node else None, health="UNKNOWN")
    if insecure_dev:
        channel = grpc.insecure_channel(target)
        metadata: tuple[tuple[str, str], ...] = ((DEV_PEER_HEADER, creds.node_id),)
    else:
        channel = grpc.secure_channel(target, creds.channel_credentials())
        metadata = ()
    with channel:
        try:
            health = _health_check(channel)(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout, metadata=metadata
            )
            result.health = health_pb2.HealthCheckResponse.ServingStatus.Name(health.status)
        except grpc.RpcError as exc:
            result.health = "UNREACHABLE"
            result.problems.append(f"health: {_describe(exc)}")
            return result
        try:
            response = exchange_service_pb2_grpc.ExchangeServiceStub(channel).GetCheckpoint(
                exchange_service_pb2.GetCheckpointRequest(), timeout=timeout, metadata=metadata
            )
        except grpc.RpcError as exc:
            result.problems.append(f"checkpoint: {_describe(exc)}")
            return result
    result.checkpoint, verified_node = _check_checkpoint(response, bundle, node, now)
    if verified_node is not None:
        result.node_id = verified_node.node_id
    if result.checkpoint.problem:
        result.problems.append(f"checkpoint: {result.checkpoint.problem}")
    return result


async def outbox_status(store_url: str, *, now: datetime | None = None) -> dict[str, OutboxQueue]:
    """The outbox of the store at ``store_url``, per destination (``Store.outbox_stats``)."""
    now = now or datetime.now(UTC)
    async with open_store(store_url) as store:
        stats = await store.outbox_stats()
    return {
        destination: OutboxQueue(
            depth=queue.depth,
            oldest_age_seconds=(
                None
                if queue.oldest_enqueued_at is None
                else max(0.0, (now - queue.oldest_enqueued_at).total_seconds())
            ),
            failed=queue.failed,
        )
        for destination, queue in sorted(stats.items())
    }


async def feed_status(store_url: str, *, now: datetime | None = None) -> dict[str, FeedPosition]:
    """The feed follower's position per upstream in the store at ``store_url``."""
    now = now or datetime.now(UTC)
    async with open_store(store_url) as store:
        cursors = await store.feed_cursors()
    return {
        c.origin_node_id: FeedPosition(
            cursor=c.next_leaf_index,
            checkpoint_size=c.checkpoint_size,
            age_seconds=max(0.0, (now - c.updated_at).total_seconds()),
        )
        for c in cursors
    }


def _health_check(
    channel: grpc.Channel,
) -> grpc.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]:
    # Built by hand: the type stubs of the generated HealthStub declare no methods.
    return channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )


def _describe(exc: grpc.RpcError) -> str:
    # Errors raised by calls are also grpc.Call objects, with a code and details.
    return f"{exc.code().name}: {exc.details()}"


def _print_text(status: NodeStatus) -> None:
    cp = status.checkpoint
    lines = [
        f"node        : {status.node_id or 'unknown'} at {status.target}",
        f"health      : {status.health}",
        f"log size    : {status.log_size if status.log_size is not None else 'n/a'}",
    ]
    if cp is None:
        lines.append("checkpoint  : n/a")
    else:
        mark = f"verified with key {cp.key_name}" if cp.verified else "NOT VERIFIED"
        lines += [
            f"checkpoint  : origin {cp.origin}, size {cp.size}",
            f"              root {cp.root_hash}",
            f"              {mark}",
        ]
    if status.outbox is None:
        lines.append("outbox      : n/a (give --data-dir or --store to read it)")
    elif not status.outbox:
        lines.append("outbox      : empty")
    else:
        for number, (destination, queue) in enumerate(status.outbox.items()):
            age = "-" if queue.oldest_age_seconds is None else f"{queue.oldest_age_seconds:.1f} s"
            label = "outbox      :" if number == 0 else "             "
            lines.append(
                f"{label} {destination}: depth {queue.depth}, oldest {age}, failed {queue.failed}"
            )
    if status.feed is not None:
        if not status.feed:
            lines.append("feed        : none (no upstream followed yet)")
        for number, (origin, position) in enumerate(status.feed.items()):
            label = "feed        :" if number == 0 else "             "
            lines.append(
                f"{label} {origin}: cursor {position.cursor}, proven checkpoint size "
                f"{position.checkpoint_size}, moved {position.age_seconds:.1f} s ago"
            )
    lines += [f"problem     : {problem}" for problem in status.problems]
    print("\n".join(lines))


def _run(args: argparse.Namespace) -> int:
    try:
        creds = Credentials.load(args.credentials)
    except InvalidCredentials as exc:
        print(f"creditlink status: {exc}", file=sys.stderr)
        return 2
    target = args.target or (creds.endpoints[0] if creds.endpoints else None)
    if target is None:
        print(
            f"creditlink status: {args.credentials} names no endpoint; give --target",
            file=sys.stderr,
        )
        return 2
    if args.insecure_dev:
        try:
            loopback = is_loopback(target)
        except ValueError as exc:
            print(f"creditlink status: --target: {exc}", file=sys.stderr)
            return 2
        if not loopback:
            print("creditlink status: --insecure-dev only talks to loopback", file=sys.stderr)
            return 2
    status = node_status(creds, target, timeout=args.timeout, insecure_dev=args.insecure_dev)
    store_url = args.store
    if args.data_dir is not None:
        path = args.data_dir / "store.sqlite3"
        if not path.is_file():
            print(f"creditlink status: --data-dir: no store at {path}", file=sys.stderr)
            return 2
        store_url = sqlite_url(path)
    if store_url is not None:
        try:
            status.outbox = asyncio.run(outbox_status(store_url))
        except (CreditlinkError, OSError, ValueError) as exc:
            status.problems.append(f"outbox: {exc}")
        try:
            status.feed = asyncio.run(feed_status(store_url))
        except (CreditlinkError, OSError, ValueError) as exc:
            status.problems.append(f"feed: {exc}")
    if args.json:
        out = asdict(status)
        out["log_size"] = status.log_size
        out["ok"] = status.ok
        print(json.dumps(out, ensure_ascii=False))
    else:
        _print_text(status)
    return 0 if status.ok else 1
