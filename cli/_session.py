"""What the commands that talk to one gateway share: a verified session, failures, exit codes.

A command opens a :class:`Session` from ``--credentials`` (and ``--target``), makes its calls
through :meth:`Session.call` — a gateway's refusal becomes :class:`Failed` with exit code 1
and the gateway's reason — and runs under :func:`guarded`, which prints a failure on stderr as
``creditlink <command>: error: <message> [<REASON>]`` and returns its exit code (2 for what the
user can fix: bad credentials, bad arguments).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Self, TypeVar

import grpc

from creditlink.sdk.client import ClientCore, default_target
from creditlink.sdk.credentials import Credentials, InvalidCredentials
from creditlink.sdk.errors import CreditlinkError, from_grpc_error
from creditlink.v1 import exchange_service_pb2, exchange_service_pb2_grpc

__all__ = ["Failed", "Session", "guarded"]

T = TypeVar("T")


class Failed(Exception):
    """A command failed; ``code`` is the exit code, the message what to print."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Session:
    """A verified connection to one gateway: its channel and the client core."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Open a session from ``args.credentials``, ``args.target`` and ``args.timeout``."""
        try:
            credentials = Credentials.load(args.credentials)
            target = args.target or default_target(credentials)
        except (InvalidCredentials, ValueError) as exc:
            raise Failed(str(exc), 2) from exc
        self.timeout: float = args.timeout
        self.core = ClientCore(credentials=credentials, target=target)
        self.channel = grpc.secure_channel(target, credentials.channel_credentials())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.channel.close()

    def call(self, invoke: Callable[[float], T]) -> T:
        """One unary call; a refusal becomes exit code 1 with the gateway's reason."""
        try:
            return invoke(self.timeout)
        except grpc.RpcError as exc:
            error = from_grpc_error(exc)
            raise Failed(f"{error.message} [{error.reason}]", 1) from exc

    def identify(self) -> str:
        """The gateway's node id, from its checkpoint verified under the trust bundle."""
        if not self.core.gateway_known:
            stub = exchange_service_pb2_grpc.ExchangeServiceStub(self.channel)
            response = self.call(
                lambda t: stub.GetCheckpoint(exchange_service_pb2.GetCheckpointRequest(), timeout=t)
            )
            self.core.identify_gateway(response.checkpoint)
        return self.core.gateway


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
