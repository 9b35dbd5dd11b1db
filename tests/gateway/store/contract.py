"""The store contract: one suite every backend must pass (STYLE 18, like trillian's
``storage/testonly``).

``StoreContract`` holds the tests; ``test_store.py`` subclasses it once per backend and supplies
a ``backend`` fixture: a fresh, empty database (a SQLite file in ``tmp_path``, a new PostgreSQL
schema) plus raw SQL access outside the store for set-up and for checks the interface cannot
express. No in-memory stand-in: every test runs against the real database.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import pytest

from creditlink.gateway.store import (
    BatchRow,
    EntryRow,
    LogHead,
    MessageRow,
    OutboxItem,
    OutboxRow,
    OutboxState,
    OutboxStats,
    SchemaTooNew,
    Store,
    StoreConflict,
    StoreError,
    open_store,
)
from creditlink.gateway.store._common import load_migrations

CRASH_WRITER = Path(__file__).with_name("crash_writer.py")
T0 = datetime(2025, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)


class Backend(Protocol):
    """A fresh database for one test, and raw access to it that bypasses the store."""

    name: str
    url: str

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement in its own committed transaction; return its rows."""
        ...


def all_versions(backend: Backend) -> list[tuple[int]]:
    """Every schema version the code knows, as ``schema_migrations`` rows."""
    dialect = "sqlite" if backend.name == "sqlite" else "postgres"
    return [(m.version,) for m in load_migrations(dialect)]


# --- rows -------------------------------------------------------------------------------------


def leaf(i: int) -> bytes:
    """A stand-in leaf hash (the store never computes one; any 32 bytes will do)."""
    return hashlib.sha256(b"leaf" + i.to_bytes(8, "big")).digest()


def entry(
    i: int,
    *,
    kind: str = "record",
    subject: str | None = None,
    batch: str | None = None,
    message_id: str | None = None,
    at: datetime = T0,
) -> EntryRow:
    return EntryRow(
        leaf_index=i,
        message_id=message_id or f"msg-{i}",
        batch_id=batch,
        index_in_batch=None if batch is None else i,
        kind=kind,
        sender_node_id="node-a",
        payload_type=f"application/vnd.creditlink.{kind}.v1+protobuf",
        payload=b"payload-%d" % i,
        envelope=None if batch is not None else b"envelope-%d" % i,
        leaf_hash=leaf(i),
        subject_key=subject,
        integrated_at=at,
    )


def entries(start: int, count: int, **kwargs: Any) -> list[EntryRow]:
    return [entry(i, **kwargs) for i in range(start, start + count)]


def message(message_id: str, first: int = 0, count: int = 1) -> MessageRow:
    return MessageRow(
        message_id=message_id,
        request_digest=hashlib.sha256(message_id.encode()).digest(),
        receipt=b"receipt:" + message_id.encode(),
        first_leaf_index=first,
        leaf_count=count,
        sender_node_id="node-a",
        accepted_at=T0,
    )


def head_of(size: int, checkpoint: str = "") -> LogHead:
    return LogHead(
        size=size,
        frontier=b"".join(leaf(10**6 + k) for k in range(size.bit_count())),
        checkpoint=checkpoint or f"gw.example/log\n{size}\n",
        updated_at=T0 + timedelta(seconds=size),
    )


def item(destination: str, n: int, *, at: datetime = T0, message_id: str = "") -> OutboxItem:
    """Message ``n`` to forward to ``destination`` (the store never opens ``sealed``)."""
    return OutboxItem(
        destination=destination,
        message_id=message_id or f"m-{n}",
        request_id=f"req-{n}",
        sealed=b"sealed-%d" % n,
        enqueued_at=at,
    )


async def enqueue(store: Store, *items: OutboxItem) -> None:
    async with store.transaction() as tx:
        await tx.enqueue(items)


async def append(store: Store, rows: Sequence[EntryRow], *msgs: MessageRow) -> LogHead:
    """Commit ``rows`` (and ``msgs``) after the current head, the way the ledger would."""
    async with store.transaction() as tx:
        head = await tx.lock_head()
        assert rows[0].leaf_index == head.size
        await tx.insert_entries(rows)
        if msgs:
            await tx.insert_messages(msgs)
        new = head_of(head.size + len(rows))
        await tx.set_head(new)
    return new


@dataclass
class Snapshot:
    """Everything a store holds, read raw; compared before and after a failed transaction."""

    tables: dict[str, list[tuple[Any, ...]]]


def snapshot(backend: Backend) -> Snapshot:
    tables = {
        name: backend.query(f"SELECT * FROM {name} ORDER BY 1")
        for name in ("log_entries", "batches", "tiles", "messages", "log_head", "outbox")
    }
    return Snapshot(tables)


# --- the suite --------------------------------------------------------------------------------


class StoreContract:
    """The behaviour every ``Store`` backend must have. Subclasses provide ``backend``."""

    @pytest.fixture
    async def store(self, backend: Backend) -> AsyncIterator[Store]:
        store = open_store(backend.url)
        await store.open()
        try:
            yield store
        finally:
            await store.close()

    # -- migrations

    async def test_fresh_store_has_an_empty_head(self, store: Store) -> None:
        head = await store.head()
        assert (head.size, head.frontier, head.checkpoint) == (0, b"", "")
        assert head.updated_at.tzinfo is not None

    async def test_migrations_are_recorded_and_applied_once(
        self, backend: Backend, store: Store
    ) -> None:
        versions = "SELECT version FROM schema_migrations ORDER BY version"
        assert backend.query(versions) == all_versions(backend)
        await append(store, entries(0, 3))
        await store.close()
        async with open_store(backend.url) as again:  # re-open: nothing re-applied
            assert (await again.head()).size == 3
        assert backend.query(versions) == all_versions(backend)

    async def test_a_version_1_database_is_upgraded_in_place(
        self, backend: Backend, store: Store
    ) -> None:
        # A log written by the version-1 schema (no outbox) keeps its data and gains the outbox.
        await append(store, entries(0, 3), message("m-old"))
        await store.close()
        backend.query("DROP TABLE outbox")
        backend.query("DROP TABLE feed_entries")  # version 3
        backend.query("DROP TABLE feed_cursors")
        backend.query("DROP TABLE domain_events")  # version 4
        backend.query("DROP TABLE domain_objects")
        backend.query("DELETE FROM schema_migrations WHERE version >= 2")
        async with open_store(backend.url) as again:
            assert (await again.head()).size == 3
            assert await again.get_message("m-old") == message("m-old")
            await enqueue(again, item("cn-hub", 1))
            assert [r.message_id for r in await again.next_outbox("cn-hub", now=T0, limit=5)] == [
                "m-1"
            ]
        versions = "SELECT version FROM schema_migrations ORDER BY version"
        assert backend.query(versions) == all_versions(backend)

    async def test_a_newer_schema_is_refused(self, backend: Backend, store: Store) -> None:
        await store.close()
        backend.query(
            "INSERT INTO schema_migrations (version, applied_at) SELECT 9999, applied_at "
            "FROM schema_migrations WHERE version = 1"
        )
        before = snapshot(backend)
        newer = open_store(backend.url)
        with pytest.raises(SchemaTooNew, match="9999"):
            await newer.open()
        await newer.close()
        assert snapshot(backend) == before
        assert backend.query("SELECT max(version) FROM schema_migrations") == [(9999,)]

    # -- transactions

    async def test_commit_makes_every_write_visible(self, store: Store) -> None:
        rows = entries(0, 4, batch="batch-1")
        async with store.transaction() as tx:
            head = await tx.lock_head()
            await tx.insert_entries(rows)
            await tx.insert_batch(
                BatchRow(
                    batch_id="batch-1",
                    sender_node_id="node-a",
                    head_envelope=b"head",
                    first_leaf_index=0,
                    count=4,
                )
            )
            await tx.insert_messages([message("batch-msg", 0, 4)])
            await tx.upsert_tiles({(0, 0): b"".join(leaf(i) for i in range(4))})
            await tx.set_head(head_of(head.size + 4))
        assert await store.head() == head_of(4)
        assert await store.read_entries(0, limit=10) == rows
        assert await store.get_batch("batch-1") == BatchRow(
            batch_id="batch-1",
            sender_node_id="node-a",
            head_envelope=b"head",
            first_leaf_index=0,
            count=4,
        )
        assert await store.get_message("batch-msg") == message("batch-msg", 0, 4)
        assert await store.read_tiles([(0, 0)]) == {(0, 0): b"".join(leaf(i) for i in range(4))}

    async def test_an_exception_inside_rolls_everything_back(
        self, backend: Backend, store: Store
    ) -> None:
        await append(store, entries(0, 2), message("m0"))
        before = snapshot(backend)

        class Boom(Exception):
            pass

        async def doomed() -> None:
            async with store.transaction() as tx:
                await tx.lock_head()
                await tx.insert_entries(entries(2, 5))
                await tx.insert_messages([message("m1", 2, 5)])
                await tx.insert_batch(
                    BatchRow(
                        batch_id="b",
                        sender_node_id="n",
                        head_envelope=b"h",
                        first_leaf_index=2,
                        count=5,
                    )
                )
                await tx.upsert_tiles({(0, 0): leaf(0) * 7})
                await tx.set_head(head_of(7))
                raise Boom

        with pytest.raises(Boom):
            await doomed()
        assert snapshot(backend) == before
        assert (await store.head()).size == 2

    async def test_uncommitted_writes_are_invisible_to_reads(self, store: Store) -> None:
        async with store.transaction() as tx:
            await tx.lock_head()
            await tx.insert_entries(entries(0, 3))
            await tx.set_head(head_of(3))
            assert await store.get_entry(0) is None
            assert (await store.head()).size == 0
        assert await store.get_entry(0) == entry(0)

    async def test_lock_head_serializes_concurrent_writers(self, backend: Backend) -> None:
        # Two stores on one database, as two gateway replicas (or processes) would have; each
        # task does read-modify-write of the head and yields in between. Without the lock,
        # increments would be lost.
        rounds = 8
        async with open_store(backend.url) as one, open_store(backend.url) as two:

            async def bump(store: Store) -> None:
                for _ in range(rounds):
                    async with store.transaction() as tx:
                        head = await tx.lock_head()
                        await asyncio.sleep(0.005)
                        await tx.set_head(head_of(head.size + 1))

            await asyncio.gather(bump(one), bump(two), bump(one), bump(two))
            assert (await one.head()).size == 4 * rounds

    async def test_set_head_needs_lock_head(self, store: Store) -> None:
        with pytest.raises(StoreError, match="lock_head"):
            async with store.transaction() as tx:
                await tx.set_head(head_of(1))
        assert (await store.head()).size == 0

    async def test_an_empty_transaction_commits(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.find_messages([]) == {}
            await tx.insert_entries([])
            await tx.insert_messages([])
            await tx.upsert_tiles({})
        assert (await store.head()).size == 0

    # -- conflicts

    async def test_duplicate_message_id_conflicts_and_stores_nothing(
        self, backend: Backend, store: Store
    ) -> None:
        await append(store, entries(0, 2), message("m-1"))
        before = snapshot(backend)

        async def replay() -> None:
            async with store.transaction() as tx:
                await tx.lock_head()
                await tx.insert_entries(entries(2, 3))
                await tx.insert_batch(
                    BatchRow(
                        batch_id="b",
                        sender_node_id="n",
                        head_envelope=b"h",
                        first_leaf_index=2,
                        count=3,
                    )
                )
                # A new id first, then the replayed one: the new one must not survive either.
                await tx.insert_messages([message("m-2", 2, 3), message("m-1", 2, 3)])
                await tx.set_head(head_of(5))

        with pytest.raises(StoreConflict):
            await replay()
        assert snapshot(backend) == before

    async def test_duplicate_ids_within_one_call_conflict(
        self, backend: Backend, store: Store
    ) -> None:
        before = snapshot(backend)
        with pytest.raises(StoreConflict):
            async with store.transaction() as tx:
                await tx.insert_messages([message("same"), message("other"), message("same")])
        assert snapshot(backend) == before

    async def test_duplicate_leaf_index_conflicts(self, backend: Backend, store: Store) -> None:
        await append(store, entries(0, 3))
        before = snapshot(backend)

        async def rewrite() -> None:
            async with store.transaction() as tx:
                await tx.lock_head()
                await tx.insert_entries([*entries(3, 2), entry(1)])

        with pytest.raises(StoreConflict):
            await rewrite()
        assert snapshot(backend) == before

    async def test_duplicate_batch_id_conflicts(self, store: Store) -> None:
        batch = BatchRow(
            batch_id="b", sender_node_id="n", head_envelope=b"h", first_leaf_index=0, count=1
        )
        async with store.transaction() as tx:
            await tx.insert_batch(batch)
        with pytest.raises(StoreConflict):
            async with store.transaction() as tx:
                await tx.insert_batch(batch)

    async def test_a_swallowed_failure_still_rolls_back(
        self, backend: Backend, store: Store
    ) -> None:
        await append(store, entries(0, 1), message("m-1"))
        before = snapshot(backend)

        async def swallow() -> None:
            async with store.transaction() as tx:
                await tx.lock_head()
                await tx.insert_entries(entries(1, 2))
                with pytest.raises(StoreConflict):
                    await tx.insert_messages([message("m-1")])
                # The transaction is doomed: later operations fail too ...
                with pytest.raises(StoreError, match="earlier operation failed"):
                    await tx.set_head(head_of(3))
                # ... and leaving the block normally does not commit anything.

        with pytest.raises(StoreError, match="rolled back"):
            await swallow()
        assert snapshot(backend) == before

    async def test_store_is_usable_after_a_conflict(self, store: Store) -> None:
        await append(store, entries(0, 1), message("m-1"))
        with pytest.raises(StoreConflict):
            await append(store, entries(1, 1), message("m-1"))
        await append(store, entries(1, 1), message("m-2"))
        assert (await store.head()).size == 2

    # -- entries

    async def test_read_entries_in_leaf_order_with_limit_and_kinds(self, store: Store) -> None:
        kinds = ["record", "report", "list_entry"]
        rows = [entry(i, kind=kinds[i % 3]) for i in range(30)]
        await append(store, rows[:10])
        await append(store, rows[10:])
        assert await store.read_entries(0, limit=100) == rows
        assert await store.read_entries(7, limit=5) == rows[7:12]
        assert await store.read_entries(28, limit=5) == rows[28:]
        assert await store.read_entries(30, limit=5) == []
        assert (
            await store.read_entries(0, limit=4, kinds=["report"])
            == [r for r in rows if r.kind == "report"][:4]
        )
        assert await store.read_entries(5, limit=100, kinds={"record", "list_entry"}) == [
            r for r in rows[5:] if r.kind != "report"
        ]
        assert await store.read_entries(0, limit=10, kinds=["unknown"]) == []
        assert await store.read_entries(0, limit=10, kinds=[]) == []
        with pytest.raises(ValueError, match="limit"):
            await store.read_entries(0, limit=0)
        with pytest.raises(ValueError, match="start"):
            await store.read_entries(-1, limit=1)

    async def test_entry_fields_round_trip_exactly(self, store: Store) -> None:
        plus8 = timezone(timedelta(hours=8))
        rows = [
            entry(0, subject="91350100M000100Y43", at=datetime(2025, 1, 2, 3, 4, 5, 6, plus8)),
            entry(1, batch="b-1", at=datetime(1999, 12, 31, 23, 59, 59, 999999, UTC)),
            EntryRow(
                leaf_index=2,
                message_id="报告-ü",
                batch_id=None,
                index_in_batch=None,
                kind="report",
                sender_node_id="node-b",
                payload_type="application/vnd.creditlink.report.v1+protobuf",
                payload=bytes(range(256)) * 4 + b"\x00",
                envelope=b"\x00" * 3,
                leaf_hash=b"\xff" * 32,
                subject_key=None,
                integrated_at=T0,
            ),
        ]
        await append(store, rows)
        for row in rows:
            got = await store.get_entry(row.leaf_index)
            assert got == row
            assert got is not None
            assert got.integrated_at.utcoffset() == timedelta(0)  # read back as UTC
        assert await store.get_entry(3) is None

    async def test_entries_by_subject(self, store: Store) -> None:
        uscc_a, uscc_b = "91350100M000100Y43", "91110000600037341L"
        rows = [entry(i, subject=[uscc_a, uscc_b, None][i % 3]) for i in range(40)]
        await append(store, rows)
        about_a = [r for r in rows if r.subject_key == uscc_a]
        assert await store.entries_by_subject(uscc_a, limit=100) == about_a
        assert await store.entries_by_subject(uscc_a, limit=3) == about_a[:3]
        page2 = await store.entries_by_subject(uscc_a, limit=3, after=about_a[2].leaf_index)
        assert page2 == about_a[3:6]
        assert await store.entries_by_subject(uscc_a, limit=5, after=39) == []
        assert await store.entries_by_subject("nobody", limit=5) == []

    async def test_leaf_hashes_range(self, store: Store) -> None:
        await append(store, entries(0, 50))
        assert await store.leaf_hashes(0, 50) == [leaf(i) for i in range(50)]
        assert await store.leaf_hashes(10, 13) == [leaf(10), leaf(11), leaf(12)]
        assert await store.leaf_hashes(7, 7) == []
        assert await store.leaf_hashes(45, 100) == [leaf(i) for i in range(45, 50)]
        with pytest.raises(ValueError, match="start <= end"):
            await store.leaf_hashes(5, 4)

    async def test_entries_by_leaf_in_one_read(self, store: Store) -> None:
        """get_entries: the ones logged, by leaf, missing leaves left out, duplicates once;
        more leaves than one SQL statement takes are read in chunks."""
        rows = entries(0, 1_200)
        await append(store, rows)
        got = await store.get_entries([5, 3, 5, 1_199, 7_000])
        assert got == {3: rows[3], 5: rows[5], 1_199: rows[1_199]}
        assert await store.get_entries([]) == {}
        everything = await store.get_entries(range(1_300))
        assert everything == dict(enumerate(rows))

    async def test_large_batch_in_one_transaction(self, store: Store) -> None:
        rows = entries(0, 10_000, batch="big", subject="91350100M000100Y43")
        msgs = [message(f"item-{i}", i) for i in range(10_000)]
        await append(store, rows, *msgs)
        assert (await store.head()).size == 10_000
        assert await store.get_entry(9_999) == rows[-1]
        assert len(await store.leaf_hashes(0, 10_000)) == 10_000
        assert await store.read_entries(5_000, limit=3) == rows[5_000:5_003]

    # -- messages

    async def test_find_messages_for_many_ids_in_one_call(self, store: Store) -> None:
        known = [message(f"m-{i}", i) for i in range(3_000)]
        await append(store, entries(0, 3_000), *known)
        asked = [f"m-{i}" for i in range(0, 6_000, 2)] + ["m-1", "m-1"]  # unknown ones too
        async with store.transaction() as tx:
            found = await tx.find_messages(asked)
        expected = {m.message_id: m for m in known if m.message_id in set(asked)}
        assert found == expected
        assert len(found) == 1_501
        assert await store.get_message("m-2") == known[2]
        assert await store.get_message("m-9999") is None

    async def test_find_messages_sees_what_the_previous_writer_committed(
        self, backend: Backend, store: Store
    ) -> None:
        # The ledger's replay check: a writer that waited for the head lock must see the
        # message the previous lock holder committed meanwhile.
        async with open_store(backend.url) as other:
            async with store.transaction() as tx:
                await tx.lock_head()

                async def later() -> dict[str, MessageRow]:
                    async with other.transaction() as tx2:
                        await tx2.lock_head()
                        return await tx2.find_messages(["m-x"])

                waiting = asyncio.create_task(later())
                await asyncio.sleep(0.1)
                await tx.insert_messages([message("m-x")])
            assert await waiting == {"m-x": message("m-x")}

    # -- tiles and head

    async def test_tiles_upsert_partial_then_full(self, store: Store) -> None:
        full = b"".join(leaf(i) for i in range(256))
        async with store.transaction() as tx:
            await tx.upsert_tiles({(0, 0): full[: 3 * 32], (1, 0): leaf(99)})
        assert await store.read_tiles([(0, 0), (1, 0), (0, 1)]) == {
            (0, 0): full[: 3 * 32],
            (1, 0): leaf(99),
        }
        async with store.transaction() as tx:
            await tx.upsert_tiles({(0, 0): full, (0, 1): leaf(1) * 2})
        assert await store.read_tiles([(0, 0), (0, 1), (1, 0)]) == {
            (0, 0): full,
            (0, 1): leaf(1) * 2,
            (1, 0): leaf(99),
        }
        assert await store.read_tiles([]) == {}
        assert await store.read_tiles([(5, 5)]) == {}

    async def test_tile_shape_is_checked(self, store: Store) -> None:
        for bad in (b"", b"\x00" * 33, b"\x00" * 32 * 257):
            with pytest.raises(ValueError, match="tile"):
                async with store.transaction() as tx:
                    await tx.upsert_tiles({(0, 0): bad})

    async def test_head_round_trip(self, store: Store) -> None:
        head = LogHead(
            size=12345,
            frontier=b"".join(leaf(i) for i in range(6)),
            checkpoint="gw.example/log\n12345\nAAAA\n\n— gw.example/log sig\n",
            updated_at=datetime(2025, 6, 1, 12, 0, 0, 1, UTC),
        )
        async with store.transaction() as tx:
            await tx.lock_head()
            await tx.set_head(head)
        assert await store.head() == head

    # -- lifecycle and durability

    async def test_data_persists_across_close_and_open(self, backend: Backend) -> None:
        async with open_store(backend.url) as store:
            await append(store, entries(0, 5, subject="s"), message("m"))
            async with store.transaction() as tx:
                await tx.upsert_tiles({(0, 0): leaf(0) * 5})
        async with open_store(backend.url) as store:
            assert await store.head() == head_of(5)
            assert await store.read_entries(0, limit=10) == entries(0, 5, subject="s")
            assert await store.get_message("m") == message("m")
            assert await store.read_tiles([(0, 0)]) == {(0, 0): leaf(0) * 5}

    async def test_a_closed_store_refuses_work(self, backend: Backend) -> None:
        store = open_store(backend.url)
        with pytest.raises(StoreError, match="not open"):
            await store.head()
        await store.open()
        await store.close()
        await store.close()  # twice is fine
        with pytest.raises(StoreError, match="not open"):
            await store.get_entry(0)
        with pytest.raises(StoreError, match="not open"):
            async with store.transaction():
                pass

    @pytest.mark.slow
    async def test_a_killed_writer_loses_only_the_uncommitted_transaction(
        self, backend: Backend
    ) -> None:
        # A separate process commits one transaction, then is SIGKILLed while a second one is
        # writing. After reopening, the first is fully there and the second not at all.
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(CRASH_WRITER),
            backend.url,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line == b"committed\n"
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line == b"writing\n"
            await asyncio.sleep(0.3)  # let it write more of the doomed transaction
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert proc.returncode == -signal.SIGKILL

        async with open_store(backend.url) as store:
            head = await store.head()
            assert head.size == 500
            assert head.checkpoint == "committed"
            assert len(await store.leaf_hashes(0, 10**9)) == 500
            assert await store.get_entry(500) is None
            assert await store.get_message("committed") is not None
            assert await store.get_message("uncommitted") is None
            # and the store takes new writes where the committed log ended
            await append(store, entries(500, 1))

    # -- the outbox

    async def test_outbox_is_first_in_first_out_per_destination(self, store: Store) -> None:
        # Two destinations interleaved over two transactions: each sees only its own rows, in
        # the order they were enqueued.
        await enqueue(store, item("cn-hub", 1), item("gd-440000", 2), item("cn-hub", 3))
        await enqueue(store, item("gd-440000", 4), item("cn-hub", 5))
        hub = await store.next_outbox("cn-hub", now=T0, limit=10)
        assert [r.message_id for r in hub] == ["m-1", "m-3", "m-5"]
        assert [r.id for r in hub] == sorted(r.id for r in hub)
        gd = await store.next_outbox("gd-440000", now=T0, limit=10)
        assert [r.message_id for r in gd] == ["m-2", "m-4"]
        assert [r.message_id for r in await store.next_outbox("cn-hub", now=T0, limit=2)] == [
            "m-1",
            "m-3",
        ]
        assert await store.next_outbox("nobody", now=T0, limit=10) == []
        first = hub[0]
        assert first == OutboxRow(
            id=first.id,
            destination="cn-hub",
            message_id="m-1",
            request_id="req-1",
            sealed=b"sealed-1",
            enqueued_at=T0,
            attempts=0,
            next_attempt_at=T0,  # due at once
            last_error=None,
            state=OutboxState.PENDING,
            receipt=None,
            delivered_at=None,
        )
        assert first.enqueued_at.utcoffset() == timedelta(0)
        # Not yet due when enqueued in the future (the caller's clock decides, never the store).
        assert await store.next_outbox("cn-hub", now=T0 - timedelta(microseconds=1), limit=5) == []
        with pytest.raises(ValueError, match="limit"):
            await store.next_outbox("cn-hub", now=T0, limit=0)

    async def test_enqueue_commits_and_rolls_back_with_the_log_append(
        self, backend: Backend, store: Store
    ) -> None:
        # Accepted and queued together: the append and the enqueue share one transaction.
        async with store.transaction() as tx:
            head = await tx.lock_head()
            await tx.insert_entries(entries(0, 1))
            await tx.insert_messages([message("m-0")])
            await tx.enqueue([item("cn-hub", 0, message_id="m-0")])
            await tx.set_head(head_of(head.size + 1))
        assert [r.message_id for r in await store.outbox_status("m-0")] == ["m-0"]
        before = snapshot(backend)

        class Boom(Exception):
            pass

        async def doomed() -> None:
            async with store.transaction() as tx:
                head = await tx.lock_head()
                await tx.insert_entries(entries(1, 1))
                await tx.insert_messages([message("m-1", 1)])
                await tx.enqueue([item("cn-hub", 1), item("gd-440000", 1)])
                await tx.set_head(head_of(head.size + 1))
                raise Boom

        with pytest.raises(Boom):
            await doomed()
        assert snapshot(backend) == before
        assert await store.outbox_status("m-1") == []
        assert [r.message_id for r in await store.next_outbox("cn-hub", now=T0, limit=5)] == ["m-0"]

    async def test_one_message_per_destination(self, backend: Backend, store: Store) -> None:
        await enqueue(store, item("cn-hub", 1))
        await enqueue(store, item("gd-440000", 1))  # the same message to another node is fine
        before = snapshot(backend)
        with pytest.raises(StoreConflict):
            await enqueue(store, item("cn-hub", 2), item("cn-hub", 1, at=T0 + timedelta(hours=1)))
        assert snapshot(backend) == before
        with pytest.raises(StoreConflict):
            await enqueue(store, item("zj-330000", 3), item("zj-330000", 3))
        assert snapshot(backend) == before
        status = await store.outbox_status("m-1")
        assert [(r.destination, r.state) for r in status] == [
            ("cn-hub", OutboxState.PENDING),
            ("gd-440000", OutboxState.PENDING),
        ]
        assert await store.outbox_status("m-unknown") == []

    async def test_a_retry_waits_and_keeps_the_rest_of_the_queue_waiting(
        self, store: Store
    ) -> None:
        await enqueue(store, item("cn-hub", 1), item("cn-hub", 2), item("gd-440000", 3))
        head, _ = await store.next_outbox("cn-hub", now=T0, limit=5)
        later = T0 + timedelta(seconds=10, microseconds=7)
        assert await store.mark_retry(head.id, error="UNAVAILABLE: down", next_attempt_at=later)
        # Head of line: m-2 is due, but it must not overtake m-1 ...
        assert await store.next_outbox("cn-hub", now=T0 + timedelta(seconds=5), limit=5) == []
        assert await store.outbox_next_attempt("cn-hub") == later
        # ... while other destinations are not held up.
        assert [r.message_id for r in await store.next_outbox("gd-440000", now=T0, limit=5)] == [
            "m-3"
        ]
        due = await store.next_outbox("cn-hub", now=later, limit=5)
        assert [r.message_id for r in due] == ["m-1", "m-2"]
        assert (due[0].attempts, due[0].last_error) == (1, "UNAVAILABLE: down")
        assert due[0].next_attempt_at == later
        assert due[0].state is OutboxState.PENDING
        assert await store.mark_retry(due[0].id, error="again", next_attempt_at=later)
        assert (await store.outbox_status("m-1"))[0].attempts == 2
        assert await store.outbox_next_attempt("nobody") is None

    async def test_delivered_and_failed_rows_leave_the_queue(self, store: Store) -> None:
        await enqueue(store, *(item("cn-hub", n) for n in range(1, 5)))
        one, two, three, _ = await store.next_outbox("cn-hub", now=T0, limit=5)
        at = T0 + timedelta(seconds=3, microseconds=1)
        assert await store.mark_retry(one.id, error="UNAVAILABLE", next_attempt_at=T0)
        assert await store.mark_delivered(one.id, receipt=b"receipt-1", at=at)
        assert await store.mark_failed(two.id, error="INVALID_ARGUMENT/SEAL_OPEN_FAILED")
        assert [r.message_id for r in await store.next_outbox("cn-hub", now=T0, limit=5)] == [
            "m-3",
            "m-4",
        ]
        (delivered,) = await store.outbox_status("m-1")
        assert delivered.state is OutboxState.DELIVERED
        assert (delivered.receipt, delivered.delivered_at, delivered.attempts) == (
            b"receipt-1",
            at,
            2,
        )
        assert delivered.last_error == "UNAVAILABLE"  # history of the earlier attempt
        (failed,) = await store.outbox_status("m-2")
        assert failed.state is OutboxState.FAILED
        assert (failed.last_error, failed.attempts, failed.receipt) == (
            "INVALID_ARGUMENT/SEAL_OPEN_FAILED",
            1,
            None,
        )
        # A settled row is settled for good; an unknown id changes nothing.
        assert not await store.mark_delivered(two.id, receipt=b"late", at=at)
        assert not await store.mark_retry(one.id, error="x", next_attempt_at=at)
        assert not await store.mark_failed(one.id, error="x")
        assert not await store.mark_failed(10**9, error="x")
        assert (await store.outbox_status("m-1"))[0] == delivered
        assert (await store.outbox_status("m-2"))[0] == failed
        assert await store.mark_delivered(three.id, receipt=b"receipt-3", at=at)

    async def test_outbox_stats_and_destinations(self, store: Store) -> None:
        assert await store.outbox_stats() == {}
        assert await store.outbox_destinations() == []
        t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))
        await enqueue(
            store,
            item("cn-hub", 1, at=t1),
            item("cn-hub", 2, at=t2),
            item("cn-hub", 3, at=t3),
            item("gd-440000", 4, at=t2),
            item("zj-330000", 5, at=t1),
        )
        hub = await store.next_outbox("cn-hub", now=t3, limit=5)
        await store.mark_delivered(hub[0].id, receipt=b"r", at=t3)
        await store.mark_failed(hub[1].id, error="PERMISSION_DENIED")
        (gd,) = await store.next_outbox("gd-440000", now=t3, limit=5)
        await store.mark_failed(gd.id, error="INVALID_ARGUMENT")
        (zj,) = await store.next_outbox("zj-330000", now=t3, limit=5)
        await store.mark_delivered(zj.id, receipt=b"r", at=t3)
        # Only what is pending or failed shows: zj-330000 has nothing left to look at.
        assert await store.outbox_stats() == {
            "cn-hub": OutboxStats(depth=1, oldest_enqueued_at=t3, failed=1),
            "gd-440000": OutboxStats(depth=0, oldest_enqueued_at=None, failed=1),
        }
        assert await store.outbox_destinations() == ["cn-hub"]

    async def test_outbox_persists_across_close_and_open(self, backend: Backend) -> None:
        async with open_store(backend.url) as store:
            await enqueue(store, item("cn-hub", 1), item("cn-hub", 2))
            (head, _) = await store.next_outbox("cn-hub", now=T0, limit=5)
            await store.mark_retry(head.id, error="UNAVAILABLE", next_attempt_at=T0)
            before = await store.next_outbox("cn-hub", now=T0, limit=5)
        async with open_store(backend.url) as store:
            assert await store.next_outbox("cn-hub", now=T0, limit=5) == before
            assert await store.outbox_destinations() == ["cn-hub"]

    async def test_outbox_times_must_be_aware(self, store: Store) -> None:
        await enqueue(store, item("cn-hub", 1))
        (row,) = await store.next_outbox("cn-hub", now=T0, limit=1)
        naive = datetime(2025, 1, 1)  # noqa: DTZ001 - naive on purpose
        with pytest.raises(ValueError, match="aware"):
            await store.next_outbox("cn-hub", now=naive, limit=1)
        with pytest.raises(ValueError, match="aware"):
            await store.mark_retry(row.id, error="x", next_attempt_at=naive)
        with pytest.raises(ValueError, match="aware"):
            await store.mark_delivered(row.id, receipt=b"r", at=naive)
        with pytest.raises(ValueError, match="receipt"):
            await store.mark_delivered(row.id, receipt=b"", at=T0)
        assert (await store.outbox_status("m-1"))[0] == row
