"""Fixtures for the client tests: a development node served by a real gateway on loopback.

The node's credentials (``ensure_dev_node``, listening on a port chosen once per module) are
shared by the tests of a module; each test gets a fresh gateway (its own store) on that port,
and clients built the way a user builds them: ``Client.from_credentials(operator_dir)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sdk_client_support import BlackHole, RunningGateway, free_port

from creditlink.gateway.bootstrap import DevNode, ensure_dev_node
from creditlink.sdk import Client


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevNode:
    """A development node and its operator, listening on a free loopback port."""
    return ensure_dev_node(
        tmp_path_factory.mktemp("client") / ".creditlink", listen=f"127.0.0.1:{free_port()}"
    )


@pytest.fixture
def gateway(dev: DevNode, tmp_path: Path) -> Iterator[RunningGateway]:
    """The development node serving, over a fresh store."""
    running = RunningGateway(credentials=dev.node, data_dir=tmp_path / "node", listen=dev.listen)
    running.start()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def client(dev: DevNode, gateway: RunningGateway) -> Iterator[Client]:
    """A blocking client connected as the operator, from its credentials directory."""
    with Client.from_credentials(dev.operator_dir) as connected:
        yield connected


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    try:
        yield hole
    finally:
        hole.close()
