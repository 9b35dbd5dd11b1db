"""``creditlink serve``: run a gateway node until SIGINT or SIGTERM.

Zero configuration (no ``--config``)::

    creditlink serve [--data-dir DIR] [--listen ADDR] [--metrics ADDR] [--store URL]

creates a development node in ``DIR`` (default ``./.creditlink``) on first use — keys, a
development CA and certificates for localhost, an operator's credentials, a one-node trust bundle
(:func:`~creditlink.gateway.bootstrap.ensure_dev_node`) — and reuses it on every later start.
The SQLite store goes to ``DIR/store.sqlite3``.

With a configuration file::

    creditlink serve --config /etc/creditlink/creditlink.toml

the node is the one in the file's ``credentials_dir``. In both cases ``CREDITLINK_*`` environment
variables override the file and flags override both
(:func:`~creditlink.gateway.config.load_config`).

Standard output gets a short human-readable summary (endpoints, node id, credential paths, store)
once the node listens; standard error gets JSON log lines. On SIGINT or SIGTERM the node stops
taking calls, lets those in flight finish (``--grace`` seconds), closes the store and exits 0.
On SIGHUP it rereads the operator's holiday table (``holiday_table``) and counts deadlines with
it from then on; a table that does not read is logged and the one in use kept.
Exit codes: 0 after a clean stop, 1 if the node could not start, 2 for a configuration or
credentials problem.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from creditlink.gateway import heap
from creditlink.gateway.bootstrap import BootstrapError, DevNode, ensure_dev_node
from creditlink.gateway.config import DEFAULT_DATA_DIR, ENV_PREFIX, GatewayConfig, load_config
from creditlink.gateway.logs import configure_logging
from creditlink.gateway.node import GatewayNode
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.errors import CreditlinkError

__all__ = ["register"]

_log = logging.getLogger("creditlink.cli.serve")

#: Default drain period: long enough for a streamed batch in flight to be acknowledged.
DEFAULT_GRACE = 10.0


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand to ``sub`` (an argparse subparsers action)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="run a gateway node (zero config: a development node in ./.creditlink)",
        description=(
            "Run a gateway node until SIGINT/SIGTERM. Without --config, a development node is "
            "created in the data directory on first use and reused afterwards. CREDITLINK_* "
            "environment variables override the config file; flags override both."
        ),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="node state directory (default ./.creditlink; with --config: the file's data_dir)",
    )
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE", help="TOML configuration file"
    )
    parser.add_argument(
        "--listen", default=None, metavar="ADDR", help="gRPC listen address (host:port)"
    )
    parser.add_argument(
        "--metrics",
        default=None,
        metavar="ADDR",
        help="metrics and /healthz listen address (host:port)",
    )
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="store URL: sqlite:///abs/path or postgresql://...",
    )
    parser.add_argument(
        "--insecure-dev",
        action="store_true",
        default=None,
        help="plaintext gRPC on a loopback address, callers named by a header (development only)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help=f"seconds to let in-flight calls finish on shutdown (default {DEFAULT_GRACE:g})",
    )
    parser.set_defaults(run=_run)


# --------------------------------------------------------------------------------------------
# Resolving what to serve
# --------------------------------------------------------------------------------------------


def _env(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name) or None


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "listen": args.listen,
        "metrics_listen": args.metrics,
        "store_url": args.store,
        "insecure_dev": args.insecure_dev,
    }


def _dev_setup(args: argparse.Namespace) -> tuple[GatewayConfig, Credentials, DevNode]:
    """Zero config: create or reuse the development node, then layer env and flags on it."""
    data_dir = args.data_dir or (Path(p) if (p := _env("DATA_DIR")) else DEFAULT_DATA_DIR)
    # A listen address asked for (flag or environment) is recorded in a new node and must match
    # an existing one; otherwise the node keeps listening where it was created to.
    requested = args.listen or _env("LISTEN")
    dev = ensure_dev_node(data_dir, listen=requested)
    overrides = _overrides(args)
    overrides.update(
        node_id=dev.node_id,
        data_dir=str(dev.data_dir),
        credentials_dir=str(dev.node_dir),
        listen=requested or dev.listen,
    )
    config = load_config(None, overrides=overrides)
    return config, dev.node, dev


def _config_setup(args: argparse.Namespace) -> tuple[GatewayConfig, Credentials]:
    overrides = _overrides(args)
    overrides["data_dir"] = str(args.data_dir) if args.data_dir else None
    config = load_config(args.config, overrides=overrides)
    return config, Credentials.load(config.credentials_dir)


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _summary(node: GatewayNode, config: GatewayConfig, dev: DevNode | None, out: TextIO) -> None:
    bundle = node.credentials.trust_bundle
    if dev is not None:
        state = "created" if dev.created else "reused"
        title = f"creditlink gateway: development node ({state}) in {dev.data_dir}"
    else:
        title = f"creditlink gateway: node {node.node_id}"
    tls = "plaintext, DEVELOPMENT ONLY" if config.insecure_dev else "mutual TLS"
    metrics = node.metrics_endpoint
    lines = [
        title,
        f"  node id              : {node.node_id}",
        f"  grpc endpoint        : {node.endpoint} ({tls}; health and reflection included)",
        f"  metrics endpoint     : http://{metrics}/metrics (health: http://{metrics}/healthz)",
        f"  store                : {config.redacted_store_url}",
        f"  node credentials     : {node.credentials.directory}",
    ]
    if dev is not None:
        lines.append(f"  operator credentials : {dev.operator_dir}")
    lines.append(
        f"  trust bundle         : {bundle.federation_id} v{bundle.version}, "
        f"sha256:{bundle.digest.hex()}"
    )
    if dev is not None:
        lines.append(f"  try                  : creditlink status --credentials {dev.operator_dir}")
    lines.append("Serving; press Ctrl+C (SIGINT) or send SIGTERM to stop.")
    print("\n".join(lines), file=out, flush=True)


async def _serve(
    config: GatewayConfig, creds: Credentials, dev: DevNode | None, grace: float
) -> int:
    node = GatewayNode(config, creds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    received: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig.name)
        stop.set()

    def on_hangup() -> None:
        # The yearly holiday schedule arrives while the gateway runs: reread it in place.
        try:
            years = node.reload_holiday_table()
        except CreditlinkError as exc:
            _log.error("holiday table not reloaded", extra={"error": str(exc)})
            return
        _log.info("holiday table reloaded", extra={"years": list(years)})

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    try:
        try:
            await node.start()
        except (CreditlinkError, OSError) as exc:
            _log.error("gateway did not start", extra={"error": str(exc)})
            print(f"creditlink serve: {exc}", file=sys.stderr, flush=True)
            return 1
        heap.settle()
        _summary(node, config, dev, sys.stdout)
        await stop.wait()
        _log.info("shutdown requested", extra={"signal": received[0], "grace_s": grace})
        await node.stop(grace)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.config is not None:
            config, creds = _config_setup(args)
            dev = None
        else:
            config, creds, dev = _dev_setup(args)
    except (CreditlinkError, BootstrapError, ValueError) as exc:
        print(f"creditlink serve: {exc}", file=sys.stderr, flush=True)
        return 2
    configure_logging(config.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_serve(config, creds, dev, args.grace))
    # Ctrl+C before the signal handlers were installed: nothing was listening yet.
    return 130
