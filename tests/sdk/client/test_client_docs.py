"""``docs/sdk.md`` runs: its Python blocks, in order, against a development gateway.

The gateway is the node ``ensure_dev_node`` creates in ``./.creditlink`` (what ``creditlink
serve`` does), run in this test's working directory, so the guide's relative paths
(``.creditlink/operator``, ``cursors.sqlite3``) resolve as they would for a new user.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sdk_client_support import RunningGateway, free_port

from creditlink.gateway.bootstrap import ensure_dev_node

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "sdk.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_the_sdk_guide_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 9
    monkeypatch.chdir(tmp_path)
    dev = ensure_dev_node(Path(".creditlink"), listen=f"127.0.0.1:{free_port()}")
    gateway = RunningGateway(credentials=dev.node, data_dir=tmp_path / "data", listen=dev.listen)
    gateway.start()
    try:
        namespace: dict[str, object] = {"__name__": "sdk_guide"}
        for number, block in enumerate(blocks, 1):
            code = compile(block, f"{GUIDE.name} block {number}", "exec")
            exec(code, namespace)
        assert gateway.log_size() == 1 + 3 + 1 + 2_000 + 5 + 1 + 100 + 2
    finally:
        gateway.close()
