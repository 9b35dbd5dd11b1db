"""React to new credit records and name-list entries as the gateway logs them (asyncio).

A system that acts on credit information (a bank's credit department, a tax bureau's risk
desk, a procurement platform) follows the gateway's log instead of polling. This example
subscribes with ``AsyncClient.subscribe`` to the ``record`` and ``name-list-entry`` statements:
each entry arrives verified (signature under the sender's keys in the trust bundle, then a
strict parse), in log order, and the subscription waits for new ones. A
``SQLiteCursorStore`` remembers, under the subscription's name, where processing stopped: the
next run resumes after the last entry it acknowledged, so nothing is skipped or handled twice.

It runs until Ctrl+C, or stops after ``--max-entries`` entries or ``--timeout`` seconds. Run it
against a development gateway (``creditlink serve`` in another terminal) and push something
from a third one::

    python docs/examples/react_to_feed.py --credentials .creditlink/operator
    python docs/examples/push_records.py --credentials .creditlink/operator
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from creditlink.sdk import AsyncClient
from creditlink.sdk.client import Entry, SQLiteCursorStore
from creditlink.v1 import name_list_pb2, record_pb2

KINDS = ("record", "name-list-entry")


def react(entry: Entry) -> None:
    """What this system does with one new statement: here, say what it learned."""
    if entry.kind == "record":
        record = entry.statement.record
        what = (
            record.penalty.content
            if record.HasField("penalty")
            else record_pb2.RecordCategory.Name(record.category)
        )
        print(
            f"[{entry.leaf_index}] {record.subject.display_name} {record.subject.uscc}: "
            f"{record.document_number} by {record.authority.name}: {what}"
        )
    elif entry.kind == "name-list-entry":
        listed = entry.statement.name_list_entry
        end = listed.listing_end
        print(
            f"[{entry.leaf_index}] LISTED {listed.subject.display_name} {listed.subject.uscc} "
            f"on {name_list_pb2.NameListType.Name(listed.list_type)} "
            f"by {listed.determining_authority.name} until {end.year}-{end.month:02}-{end.day:02}"
        )


async def follow(args: argparse.Namespace) -> int:
    seen: Counter[str] = Counter()
    with SQLiteCursorStore(args.cursors) as cursors:
        async with AsyncClient.from_credentials(args.credentials, target=args.target) as client:
            subscription = client.subscribe(KINDS, cursor_store=cursors, name="react-to-feed")
            async with subscription as entries:
                try:
                    async with asyncio.timeout(args.timeout):
                        async for entry in entries:
                            react(entry)
                            entries.ack()  # processed: a restart resumes after it
                            seen[entry.kind] += 1
                            if seen.total() == args.max_entries:
                                break
                except TimeoutError:
                    print(f"nothing more within {args.timeout} s")
        resume = cursors.load(entries.key)
    counts = ", ".join(f"{kind}: {n}" for kind, n in sorted(seen.items())) or "nothing"
    print(f"reacted to {seen.total()} entries ({counts}); the next run starts at leaf {resume}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--credentials", required=True, help="a credentials directory")
    parser.add_argument("--target", help="host:port of the gateway (default: the manifest's)")
    parser.add_argument("--cursors", type=Path, default=Path("feed-cursors.sqlite3"))
    parser.add_argument("--max-entries", type=int, help="stop after this many entries")
    parser.add_argument("--timeout", type=float, help="stop after this many seconds")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(follow(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
