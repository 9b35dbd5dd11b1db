"""What the commands that talk to one gateway share: a verified session, failures, exit codes.

A command opens a :class:`Session` from ``--credentials`` (and ``--target``): an SDK client,
whose methods sign, seal and verify. It makes its calls through :meth:`Session.call` — a
gateway's refusal, or an answer that does not verify, becomes :class:`Failed` with exit code 1
and the reason — and runs under :func:`guarded`, which prints a failure on stderr as
``creditlink <command>: error: <message> [<REASON>]`` and returns its exit code (2 for what the
user can fix: bad credentials, bad arguments).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Self, TypeVar

import grpc

from creditlink.sdk.client import Client, default_target
from creditlink.sdk.credentials import Credentials, InvalidCredentials
from creditlink.sdk.errors import CreditlinkError, from_grpc_error

__all__ = ["Failed", "Session", "guarded"]

T = TypeVar("T")


class Failed(Exception):
    """A command failed; ``code`` is the exit code, the message what to print."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Session:
    """A verified connection to one gateway: an SDK :class:`~creditlink.sdk.Client`."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Open a session from ``args.credentials``, ``args.target`` and ``args.timeout``."""
        try:
            credentials = Credentials.load(args.credentials)
            target = args.target or default_target(credentials)
            self.client = Client(target, credentials)
        except (InvalidCredentials, ValueError) as exc:
            raise Failed(str(exc), 2) from exc
        self.timeout: float = args.timeout

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def call(self, invoke: Callable[[float], T]) -> T:
        """One call with the session's timeout; a refusal becomes exit code 1 with the
        gateway's reason."""
        try:
            return invoke(self.timeout)
        except grpc.RpcError as exc:
            error = from_grpc_error(exc)
            raise Failed(f"{error.message} [{error.reason}]", 1) from exc
        except CreditlinkError as exc:
            raise Failed(f"{exc.message} [{exc.reason}]", 1) from exc

    def identify(self) -> str:
        """The gateway's node id (from the trust bundle, else its verified checkpoint)."""
        return self.call(lambda _: self.client.gateway)

    @staticmethod
    def now() -> datetime:
        """The time statements are dated at."""
        return datetime.now(UTC)


def guarded(name: str, args: argparse.Namespace, body: Callable[[argparse.Namespace], int]) -> int:
    """Run ``body(args)``; print a failure and return its exit code."""
    try:
        return body(args)
    except Failed as exc:
        print(f"creditlink {name}: error: {exc}", file=sys.stderr, flush=True)
        return exc.code
    except CreditlinkError as exc:  # an answer that did not verify
        print(f"creditlink {name}: error: {exc.message} [{exc.reason}]", file=sys.stderr)
        return 1
