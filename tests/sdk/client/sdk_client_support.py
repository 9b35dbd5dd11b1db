"""Real gateways for the client tests, and records to send them.

A :class:`RunningGateway` is a whole :class:`~creditlink.gateway.node.GatewayNode` (mutual TLS,
error interceptor, rate limiter, SQLite store) on its own event loop in a background thread,
so that blocking clients can call it from the test's thread and asyncio clients from the
test's loop. It can be stopped and started again on the same port and store, as a restarted
gateway process would be.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from creditlink.gateway.config import GatewayConfig
from creditlink.gateway.node import GatewayNode
from creditlink.sdk.credentials import Credentials
from tests.gateway.statements import penalty_record

__all__ = ["BlackHole", "RunningGateway", "free_port", "penalty_record"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunningGateway:
    """A gateway node served from a background thread's event loop."""

    def __init__(self, *, credentials: Credentials, data_dir: Path, listen: str) -> None:
        self.credentials = credentials
        self.listen = listen
        self.config = GatewayConfig(
            node_id=credentials.node_id,
            data_dir=data_dir,
            credentials_dir=credentials.directory,
            listen=listen,
            metrics_listen="127.0.0.1:0",
            # The tests send thousands of records in batches; keep the limiter out of the way.
            rate_limit_per_node=0.0,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.node: GatewayNode | None = None
        self.starts = 0

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def start(self) -> None:
        """Start serving (again): a fresh node over the same store and port."""
        assert self.node is None
        node = GatewayNode(self.config, self.credentials)
        self._run(node.start())
        self.node = node
        self.starts += 1

    def stop(self) -> None:
        """Stop at once: calls in flight are cancelled, as when the process dies."""
        node, self.node = self.node, None
        if node is not None:
            self._run(node.stop(grace=0))

    def log_size(self) -> int:
        assert self.node is not None
        size: int = self._run(self.node.store.head()).size
        return size

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class BlackHole:
    """A TCP listener that accepts connections and never answers (not even the TLS handshake):
    what a hung gateway or a silently dropping firewall looks like to a client."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self._sock.close()
