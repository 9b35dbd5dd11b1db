"""``heap.settle`` sets the collector of a gateway process, and the process still frees cycles.

Each case runs in a fresh interpreter: the collector's settings and frozen objects belong to the
whole process, and the test process must keep CPython's defaults.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from creditlink.gateway import heap


def _run(code: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_settle_freezes_start_up_and_raises_the_young_threshold() -> None:
    result = _run(
        """
        import gc, json
        import creditlink.gateway.node  # start-up: what a gateway process imports and builds
        from creditlink.gateway import heap
        before = gc.get_threshold()
        heap.settle()
        print(json.dumps({
            "before": before,
            "after": gc.get_threshold(),
            "frozen": gc.get_freeze_count(),
            "tracked": len(gc.get_objects()),
        }))
        """
    )
    assert result["before"] == [700, 10, 10]
    assert result["after"] == [heap.YOUNG_THRESHOLD, heap.OLDER_THRESHOLD, heap.OLDER_THRESHOLD]
    # Everything start-up left is out of the collector's reach; what remains tracked is what
    # the json call itself allocated.
    assert result["frozen"] > 10_000
    assert result["tracked"] < 1_000


def test_cycles_made_after_settle_are_still_freed_without_an_explicit_collect() -> None:
    result = _run(
        """
        import gc, json, weakref
        from creditlink.gateway import heap
        heap.settle()

        class Node:
            pass

        refs = []
        for _ in range(10):
            a, b = Node(), Node()
            a.other, b.other = b, a  # a cycle: reference counting alone never frees it
            refs.append(weakref.ref(a))
            del a, b
        # Allocate past the young threshold, as a gateway does with every batch.
        keep = [[] for _ in range(3 * heap.YOUNG_THRESHOLD)]
        del keep
        print(json.dumps({"alive": sum(r() is not None for r in refs)}))
        """
    )
    assert result["alive"] == 0


def test_cycles_are_not_freed_before_the_threshold_is_reached() -> None:
    # The other side of the trade: a cycle waits for the next young collection. This is what
    # the threshold changes, so the test above is not passing by accident.
    result = _run(
        """
        import gc, json, weakref
        from creditlink.gateway import heap
        heap.settle()

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        keep = [[] for _ in range(1_000)]  # past CPython's default threshold, below ours
        alive_before = ref() is not None
        gc.collect(0)
        print(json.dumps({"before": alive_before, "after": ref() is not None}))
        """
    )
    assert result == {"before": True, "after": False}
