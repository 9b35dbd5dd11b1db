"""``creditlink dev up``: a development federation on loopback.

Creates (or reuses) under ``--dir`` a hub and two regional gateways, Zhejiang (330000) and
Guangdong (440000), with one shared trust bundle and a credentials directory per node and per
operator (:func:`creditlink.gateway.bootstrap.create_dev_federation`), starts all three in this
process, prints their endpoints and serves until SIGINT/SIGTERM, then drains and stops them.
Tests, the tutorial and the conformance suite use it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from creditlink.gateway import heap
from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.gateway.config import GatewayConfig, load_config
from creditlink.gateway.node import ForwardingOptions, GatewayNode
from creditlink.sdk.errors import CreditlinkError

__all__ = ["register", "start_federation"]

#: The metrics port of node i is this much above its gRPC port.
METRICS_OFFSET = 1000


def register(sub: Any) -> None:
    """Add ``dev`` (with ``dev up``) to ``sub`` (an argparse subparsers action)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "dev", help="development federation on loopback (hub + Zhejiang + Guangdong)"
    )
    dev_sub = parser.add_subparsers(dest="dev_command", metavar="COMMAND", required=True)
    up = dev_sub.add_parser("up", help="create or reuse a federation in DIR and run it")
    up.add_argument("--dir", type=Path, required=True, help="federation directory")
    up.add_argument(
        "--base-port", type=int, default=None, help="gRPC port of the first node (default 7450)"
    )
    up.add_argument("--grace", type=float, default=10.0, help="seconds to drain on stop")
    up.set_defaults(run=_run)


def node_config(federation: DevFederation, node_id: str) -> GatewayConfig:
    """The configuration of one federation node: its endpoint, a store in its directory.

    A node the federation records an upstream for (the regional gateways: the hub) forwards
    through it what it cannot deliver directly.
    """
    member = federation.node(node_id)
    host, _, port = member.endpoint.rpartition(":")
    data_dir = federation.directory / f"{node_id}-data"
    upstream: dict[str, str | None] = {"upstream_endpoint": None, "upstream_node_id": None}
    if member.upstream is not None:
        upstream = {
            "upstream_endpoint": federation.node(member.upstream).endpoint,
            "upstream_node_id": member.upstream,
        }
    return load_config(
        None,
        env={},
        overrides={
            **upstream,
            "node_id": node_id,
            "data_dir": str(data_dir),
            "credentials_dir": str(member.credentials_dir),
            "listen": member.endpoint,
            "metrics_listen": f"{host}:{int(port) + METRICS_OFFSET}",
        },
    )


async def start_federation(
    federation: DevFederation, *, forwarding: ForwardingOptions | None = None
) -> list[GatewayNode]:
    """Start every node of ``federation``; stop the started ones if one fails."""
    nodes: list[GatewayNode] = []
    try:
        for member in federation.nodes:
            node = GatewayNode(
                node_config(federation, member.node_id),
                member.credentials,
                forwarding=forwarding,
            )
            await node.start()
            nodes.append(node)
    except BaseException:
        for node in reversed(nodes):
            await node.stop(0)
        raise
    return nodes


def _summary(federation: DevFederation, nodes: list[GatewayNode], out: TextIO) -> None:
    state = "created" if federation.created else "reused"
    bundle = federation.trust_bundle
    lines = [
        f"creditlink development federation ({state}) in {federation.directory}",
        f"  trust bundle: {bundle.federation_id} v{bundle.version}, sha256:{bundle.digest.hex()}",
    ]
    for node, member in zip(nodes, federation.nodes, strict=True):
        lines += [
            f"  {node.node_id}",
            f"    grpc endpoint        : {node.endpoint} (mutual TLS)",
            f"    metrics endpoint     : http://{node.metrics_endpoint}/metrics",
            f"    node credentials     : {member.credentials_dir}",
            f"    operator credentials : {member.operator_dir}",
        ]
    lines.append("Serving; press Ctrl+C (SIGINT) or send SIGTERM to stop.")
    print("\n".join(lines), file=out, flush=True)


async def _up(directory: Path, base_port: int | None, grace: float) -> int:
    federation = create_dev_federation(directory, base_port=base_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            nodes = await start_federation(federation)
        except (CreditlinkError, OSError) as exc:
            print(f"creditlink dev up: {exc}", file=sys.stderr, flush=True)
            return 1
        heap.settle()
        _summary(federation, nodes, sys.stdout)
        await stop.wait()
        await asyncio.gather(*(node.stop(grace) for node in nodes))
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_up(args.dir, args.base_port, args.grace))
    except CreditlinkError as exc:
        print(f"creditlink dev up: {exc}", file=sys.stderr)
        return 2
