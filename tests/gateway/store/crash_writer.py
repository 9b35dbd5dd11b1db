"""Run by the crash test: commit one transaction, then write another until SIGKILLed.

    python crash_writer.py STORE_URL

Prints ``committed`` once the first transaction (500 entries, message ``committed``, head
size 500) is committed, and ``writing`` once the second one (more entries, message
``uncommitted``, a new head) has written a good part of its rows; then keeps inserting rows in
that same open transaction until the parent kills the process.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from datetime import UTC, datetime

from creditlink.gateway.store import EntryRow, LogHead, MessageRow, open_store

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def rows(start: int, count: int) -> list[EntryRow]:
    return [
        EntryRow(
            leaf_index=i,
            message_id=f"crash-{i}",
            batch_id="crash",
            index_in_batch=i,
            kind="record",
            sender_node_id="node-a",
            payload_type="application/vnd.creditlink.record.v1+protobuf",
            payload=b"p" * 300,
            envelope=None,
            leaf_hash=hashlib.sha256(i.to_bytes(8, "big")).digest(),
            subject_key="91350100M000100Y43",
            integrated_at=NOW,
        )
        for i in range(start, start + count)
    ]


def message(message_id: str, first: int, count: int) -> MessageRow:
    return MessageRow(
        message_id=message_id,
        request_digest=hashlib.sha256(message_id.encode()).digest(),
        receipt=b"r",
        first_leaf_index=first,
        leaf_count=count,
        sender_node_id="node-a",
        accepted_at=NOW,
    )


async def main(url: str) -> None:
    async with open_store(url) as store:
        async with store.transaction() as tx:
            await tx.lock_head()
            await tx.insert_entries(rows(0, 500))
            await tx.insert_messages([message("committed", 0, 500)])
            await tx.set_head(
                LogHead(size=500, frontier=b"", checkpoint="committed", updated_at=NOW)
            )
        print("committed", flush=True)
        async with store.transaction() as tx:
            await tx.lock_head()
            await tx.insert_messages([message("uncommitted", 500, 1)])
            await tx.set_head(LogHead(size=501, frontier=b"", checkpoint="no", updated_at=NOW))
            start = 500
            while True:
                await tx.insert_entries(rows(start, 2_000))
                start += 2_000
                if start == 20_500:
                    print("writing", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
