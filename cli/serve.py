"""``creditlink serve``: run a gateway node.

Until the gateway lands (its own issue), this command resolves the zero-config development
defaults and prints what the node will serve, then exits without listening.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]

DEFAULT_LISTEN = "127.0.0.1:7443"
DEFAULT_METRICS = "127.0.0.1:9464"


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand to ``sub`` (an argparse subparsers action)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve", help="run a gateway node (zero config: a development node in ./.creditlink)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(".creditlink"), help="node state directory"
    )
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help="gRPC listen address")
    parser.add_argument("--metrics", default=DEFAULT_METRICS, help="Prometheus listen address")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    print("creditlink gateway (development node)")
    print(f"  data directory : {data_dir}")
    print(f"  gRPC endpoint  : {args.listen} (TLS, mutual TLS for every RPC but health)")
    print(f"  metrics        : http://{args.metrics}/metrics")
    print(f"  store          : sqlite:///{data_dir / 'store.sqlite3'}")
    print()
    print("The gateway server is not built yet: this release ships the CXP v1 contracts,")
    print("identifiers and packaging only. Nothing was started and nothing was written.")
    return 0
