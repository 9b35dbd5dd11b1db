"""Following the federation's trust bundle through the gateway: version by version, verified."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sdk_client_support import RunningGateway, free_port, penalty_record

from creditlink.gateway.bootstrap import DevNode, ensure_dev_node
from creditlink.sdk import Client, PrivateKey
from creditlink.sdk.credentials import Credentials, update_trust_bundle
from creditlink.sdk.errors import InvalidTrustBundle
from creditlink.sdk.keys import load_private_key
from creditlink.sdk.trust import TrustBundleBuilder


@pytest.fixture
def own_dev(tmp_path: Path) -> DevNode:
    """A development node of this test's own (its bundle is changed)."""
    return ensure_dev_node(tmp_path / ".creditlink", listen=f"127.0.0.1:{free_port()}")


@pytest.fixture
def own_gateway(own_dev: DevNode, tmp_path: Path) -> Iterator[RunningGateway]:
    running = RunningGateway(
        credentials=own_dev.node, data_dir=tmp_path / "node", listen=own_dev.listen
    )
    try:
        yield running
    finally:
        running.close()


def publish_next_version(dev: DevNode) -> Credentials:
    """Sign the next version of the node's bundle with the root key; install it at the node."""
    root = load_private_key(dev.federation_dir / "root.pem")
    assert isinstance(root, PrivateKey)
    current = Credentials.load(dev.node_dir).trust_bundle
    now = datetime.now(UTC).replace(microsecond=0)
    builder = TrustBundleBuilder.from_bundle(
        current, issued_at=now, expires_at=now + timedelta(days=30)
    )
    update_trust_bundle(dev.node_dir, builder.sign([root]))
    return Credentials.load(dev.node_dir)


def test_the_client_follows_the_gateways_newer_bundle_and_can_persist_it(
    own_dev: DevNode, own_gateway: RunningGateway, tmp_path: Path
) -> None:
    stale = tmp_path / "operator-v1"
    shutil.copytree(own_dev.operator_dir, stale)
    own_gateway.credentials = publish_next_version(own_dev)
    own_gateway.start()

    with Client.from_credentials(own_dev.operator_dir) as client:
        assert client.trust_bundle.version == 1
        bundle = client.get_trust_bundle(persist=True)
        assert bundle.version == 2 == client.trust_bundle.version
        assert bundle.digest == own_gateway.credentials.trust_bundle.digest
        assert client.submit(penalty_record()).first_leaf_index == 0
    assert Credentials.load(own_dev.operator_dir).trust_bundle.version == 2

    # Two versions ahead, and the gateway kept only its current one: the client cannot
    # verify version 3 without version 2, and says so rather than trusting it.
    own_gateway.stop()
    own_gateway.credentials = publish_next_version(own_dev)
    own_gateway.start()
    with Client.from_credentials(stale) as behind:
        with pytest.raises(InvalidTrustBundle) as info:
            behind.get_trust_bundle()
        assert info.value.reason == "TRUST_BUNDLE_HISTORY_INCOMPLETE"
        assert behind.trust_bundle.version == 1
    with Client.from_credentials(own_dev.operator_dir) as current:
        assert current.get_trust_bundle().version == 3
