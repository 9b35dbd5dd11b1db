"""The cyclic garbage collector, set for a long-running gateway process.

CPython runs a young collection every 700 net allocations of container objects, and a full one
(the whole heap) when enough of what survived has piled up. A gateway works in batches: an
append of 5,000 records holds its parsed statements, rows, domain objects and events alive
until its transaction commits, and reference counting frees them all when it returns. With the
default settings the collector traversed the live batch again and again without finding
anything to free: measured while streaming batches of 5,000 (docs/performance.md), 1,100 young
and 8 full collections per 60,000 records, the full ones about 80 ms each, together about a
sixth of the gateway process's CPU.

:func:`settle` is called once a gateway process has started (``creditlink serve``, ``creditlink
dev up``, each intake worker), not by :class:`~creditlink.gateway.node.GatewayNode` itself: the
collector is the whole process's, and a library object has no business changing it for an
application that embeds a node. It

* moves what start-up allocated (modules, classes, the contract's descriptors and plans, the
  trust bundle) into the permanent generation (:func:`gc.freeze`), where no collection walks
  it again (what of it becomes garbage later is still freed by reference counting; only a
  cycle among frozen objects would stay, for the life of the process), and
* runs a young collection every :data:`YOUNG_THRESHOLD` allocations rather than 700.

Cycles are still found and freed, only later. In the same stream as above the collector then
took 0.21 s of the gateway's 4.6 s of CPU, start-up included (0.84 s before): a young
collection walks at most about 50,000 objects and runs a few times per batch instead of
hundreds.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["OLDER_THRESHOLD", "YOUNG_THRESHOLD", "settle"]

#: Net container allocations between two young collections (CPython's default is 700).
YOUNG_THRESHOLD: Final = 50_000
#: Young collections between two of the middle generation, and middle ones between two full
#: collections (CPython's defaults: 10 and 10).
OLDER_THRESHOLD: Final = 20


def settle() -> None:
    """Freeze what the process allocated so far and collect the young generation less often.

    Call it once the process has built its long-lived state; calling it again freezes what was
    allocated since (the collector's settings stay as they are).
    """
    gc.collect()  # garbage from start-up is freed now, not frozen with the rest
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
