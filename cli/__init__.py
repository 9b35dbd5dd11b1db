"""The ``creditlink`` command.

One entry point for operators, participants and vendors. Each subcommand lives in its own
module of this package and registers itself in :data:`_COMMANDS`; the gateway, report and
conformance commands arrive with their issues.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

# grpc's C core writes its own diagnostics (failed TLS handshakes, ...) to stderr in glog format,
# which would break the JSON-lines log of `creditlink serve`. It reads GRPC_VERBOSITY once, when
# grpc is first imported, so the default must be set before the subcommands import grpc; an
# operator who wants those lines sets GRPC_VERBOSITY=INFO (docs/operations.md).
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from creditlink import __version__
from creditlink.cli import (
    dev,
    federation,
    init,
    namelist,
    objection,
    records,
    report,
    serve,
    status,
)

__all__ = ["build_parser", "main"]

_COMMANDS = (serve, status, dev, init, federation, namelist, records, report, objection)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="creditlink",
        description=(
            "Gateway, SDK and conformance suite for the Credit Exchange Protocol (CXP) v1."
        ),
    )
    parser.add_argument("--version", action="version", version=f"creditlink {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
