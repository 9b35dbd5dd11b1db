"""The feed tables (migrations 0003 and 0005): mirrored entries with their inclusion proofs and
object ids, and the per-origin cursor, on both backends.

Runs against real SQLite and PostgreSQL (``store_url`` in ``tests/gateway/conftest.py``): the
contract ``Store.advance_feed`` promises is atomicity (entries and cursor together or not at
all) and a compare-and-set on the cursor, which only a real database can show.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest

from creditlink.gateway.store import (
    FeedCursor,
    FeedEntry,
    Store,
    StoreConflict,
    open_store,
)
from creditlink.gateway.store._common import load_migrations
from creditlink.sdk.tlog import EMPTY_ROOT

HUB = "cn-hub"
#: A name-list entry's id: the object id of the entry's statements.
ENTRY_ID = "01JNX0000000000000000000AA"
T0 = datetime(2026, 3, 9, 8, 0, 0, 123456, tzinfo=UTC)


def feed_entry(
    leaf: int,
    *,
    origin: str = HUB,
    kind: str = "name-list-entry",
    subject: str | None = "91330100MA27XL0A6Q",
    batched: bool = False,
    object_id: str | None = None,
) -> FeedEntry:
    return FeedEntry(
        origin_node_id=origin,
        leaf_index=leaf,
        kind=kind,
        sender_node_id="cn-hub-operator",
        message_id=f"msg-{origin}-{leaf}",
        subject_key=subject,
        object_id=object_id,
        envelope=b"envelope-" + leaf.to_bytes(4, "big"),
        batched=batched,
        leaf_hash=hashlib.sha256(b"leaf" + leaf.to_bytes(8, "big")).digest(),
        integrated_at=T0 + timedelta(seconds=leaf),
        received_at=T0 + timedelta(minutes=1, seconds=leaf),
    )


def proven(entry: FeedEntry, *, size: int, path: int = 3) -> FeedEntry:
    """``entry`` with a stand-in inclusion proof (``path`` hashes) in a tree of ``size``."""
    return replace(
        entry,
        proof_hashes=tuple(
            hashlib.sha256(b"node" + bytes([entry.leaf_index, i])).digest() for i in range(path)
        ),
        proof_tree_size=size,
        proof_checkpoint=f"creditlink.dev/{entry.origin_node_id}\n{size}\nroot\n\n— sig\n",
    )


def cursor(next_leaf: int, *, origin: str = HUB, size: int | None = None) -> FeedCursor:
    size = next_leaf if size is None else size
    return FeedCursor(
        origin_node_id=origin,
        next_leaf_index=next_leaf,
        checkpoint=f"creditlink.dev/{origin}\n{size}\nroot\n\n— sig\n",
        checkpoint_size=size,
        root_hash=hashlib.sha256(b"root" + size.to_bytes(8, "big")).digest(),
        updated_at=T0 + timedelta(hours=next_leaf),
    )


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with open_store(store_url) as opened:
        yield opened


async def everything(store: Store, origin: str = HUB) -> list[FeedEntry]:
    return await store.read_feed(origin, start=0, limit=1000)


async def test_a_fresh_store_follows_nothing(store: Store) -> None:
    assert await store.feed_cursor(HUB) is None
    assert await store.feed_cursors() == []
    assert await everything(store) == []


async def test_entries_and_cursor_are_stored_together_and_read_back(store: Store) -> None:
    rows = [feed_entry(2), feed_entry(5, kind="measure-list", subject=None, batched=True)]
    await store.advance_feed(cursor(9), rows, expected_next=None)
    assert await everything(store) == rows
    assert await store.feed_cursor(HUB) == cursor(9)
    assert await store.feed_cursors() == [cursor(9)]

    more = [feed_entry(9), feed_entry(12)]
    await store.advance_feed(cursor(20, size=25), more, expected_next=9)
    assert await everything(store) == rows + more
    assert await store.feed_cursor(HUB) == cursor(20, size=25)


async def test_inclusion_proofs_are_stored_with_their_entries_and_read_back(store: Store) -> None:
    rows = [
        proven(feed_entry(0), size=1, path=0),  # the only leaf: an empty audit path
        feed_entry(1),  # no proof: stored as NULL, read back as None
        proven(feed_entry(2, kind="measure-list", subject="national-basic"), size=9),
        proven(feed_entry(3, batched=True), size=9, path=4),
    ]
    await store.advance_feed(cursor(9), rows, expected_next=None)
    back = await everything(store)
    assert back == rows
    assert back[0].proof_hashes == ()
    assert (back[1].proof_hashes, back[1].proof_tree_size, back[1].proof_checkpoint) == (
        None,
        None,
        None,
    )
    # Every read returns them: by kind and by subject too.
    by_kind = await store.read_feed(HUB, start=0, limit=10, kinds=["measure-list"])
    assert by_kind == [rows[2]]
    assert await store.feed_entries_by_subject("national-basic", limit=10) == [rows[2]]
    subject = await store.feed_entries_by_subject("91330100MA27XL0A6Q", limit=10)
    assert subject == [rows[0], rows[1], rows[3]]


async def test_statements_are_stored_with_their_object_id_and_found_by_it(store: Store) -> None:
    # The entry, a measure-list version and a transition of the entry, and a statement of a
    # kind with no object id; the same entry mirrored from a second origin too. The second
    # origin is written first: the lookup orders by origin then leaf, not by arrival.
    gd = [feed_entry(0, origin="gd-440000", object_id=ENTRY_ID)]
    await store.advance_feed(cursor(1, origin="gd-440000"), gd, expected_next=None)
    rows = [
        proven(feed_entry(1, object_id=ENTRY_ID), size=9),
        feed_entry(
            2, kind="measure-list", subject="national-basic", object_id="national-basic@2021.1"
        ),
        proven(
            feed_entry(4, kind="name-list-transition", subject=ENTRY_ID, object_id=ENTRY_ID),
            size=9,
        ),
        feed_entry(5, kind="record", object_id=None),
        feed_entry(7, kind="name-list-transition", subject=ENTRY_ID, object_id=ENTRY_ID),
    ]
    await store.advance_feed(cursor(9), rows, expected_next=None)
    # Every read returns it.
    back = await everything(store)
    assert back == rows
    assert [r.object_id for r in back] == [
        ENTRY_ID,
        "national-basic@2021.1",
        ENTRY_ID,
        None,
        ENTRY_ID,
    ]
    assert await store.read_feed(HUB, start=0, limit=10, kinds=["measure-list"]) == [rows[1]]
    assert await store.feed_entries_by_subject(ENTRY_ID, limit=10) == [rows[2], rows[4]]

    # By object id: every statement about the entry, by origin then leaf.
    about = await store.feed_entries_by_object(ENTRY_ID, limit=10)
    assert about == [rows[0], rows[2], rows[4], gd[0]]
    assert await store.feed_entries_by_object(ENTRY_ID, limit=2) == [rows[0], rows[2]]
    version = await store.feed_entries_by_object("national-basic@2021.1", limit=10)
    assert version == [rows[1]]
    assert await store.feed_entries_by_object("national-basic", limit=10) == []
    assert await store.feed_entries_by_object("nothing", limit=10) == []
    with pytest.raises(ValueError, match="limit"):
        await store.feed_entries_by_object(ENTRY_ID, limit=0)


async def test_the_schema_refuses_an_empty_object_id(store: Store, store_url: str) -> None:
    await store.advance_feed(cursor(5), [feed_entry(4, object_id=ENTRY_ID)], expected_next=None)
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        raw(store_url, "UPDATE feed_entries SET object_id = ''")
    assert await everything(store) == [feed_entry(4, object_id=ENTRY_ID)]


async def test_the_schema_refuses_a_partial_proof(store: Store, store_url: str) -> None:
    await store.advance_feed(cursor(5), [proven(feed_entry(4), size=5)], expected_next=None)
    refused = (sqlite3.IntegrityError, psycopg.IntegrityError)
    with pytest.raises(refused):
        raw(store_url, "UPDATE feed_entries SET proof_checkpoint = NULL")
    with pytest.raises(refused):
        raw(store_url, "UPDATE feed_entries SET proof_tree_size = NULL")
    with pytest.raises(refused):
        raw(store_url, "UPDATE feed_entries SET proof_tree_size = leaf_index")
    assert await everything(store) == [proven(feed_entry(4), size=5)]


async def test_rows_mirrored_before_version_5_come_back_without_a_proof(
    store_url: str,
) -> None:
    # A database at schema version 4 (no proof or object id columns) holding a mirrored entry,
    # written outside the store; opening the store adds the columns and the old row keeps NULL:
    # no proof, and not found by object id.
    old = feed_entry(2, kind="name-list-transition", subject=ENTRY_ID)
    version_4_database(store_url, old)
    async with open_store(store_url) as store:
        assert await everything(store) == [old]
        assert await store.feed_entries_by_subject(ENTRY_ID, limit=10) == [old]
        assert await store.feed_entries_by_object(ENTRY_ID, limit=10) == []
        # New entries of the same origin get their proof and object id beside the old one.
        new = proven(
            feed_entry(4, kind="name-list-transition", subject=ENTRY_ID, object_id=ENTRY_ID),
            size=5,
        )
        await store.advance_feed(cursor(5), [new], expected_next=None)
        assert await everything(store) == [old, new]
        assert await store.feed_entries_by_object(ENTRY_ID, limit=10) == [new]


async def test_timestamps_come_back_in_utc(store: Store) -> None:
    east = timezone(timedelta(hours=8))
    row = replace(feed_entry(0), received_at=T0.astimezone(east))
    await store.advance_feed(cursor(1), [row], expected_next=None)
    (back,) = await everything(store)
    assert back.received_at == T0
    assert back.received_at.utcoffset() == timedelta(0)


async def test_the_cursor_moves_without_entries(store: Store) -> None:
    # Progress over entries of kinds not followed: only the cursor and checkpoint move.
    await store.advance_feed(cursor(0, size=0), [], expected_next=None)
    await store.advance_feed(cursor(40, size=42), [], expected_next=0)
    assert await store.feed_cursor(HUB) == cursor(40, size=42)
    assert await everything(store) == []


async def test_a_stale_cursor_is_a_conflict_and_stores_nothing(store: Store) -> None:
    await store.advance_feed(cursor(3), [feed_entry(1)], expected_next=None)
    # Another follower (a replica sharing the database) already moved the cursor to 3.
    with pytest.raises(StoreConflict):
        await store.advance_feed(cursor(8), [feed_entry(4)], expected_next=1)
    with pytest.raises(StoreConflict):
        await store.advance_feed(cursor(8), [feed_entry(0)], expected_next=None)
    assert await everything(store) == [feed_entry(1)]
    assert await store.feed_cursor(HUB) == cursor(3)


def raw(store_url: str, sql: str) -> None:
    """One statement on the database behind ``store_url``, outside the store."""
    if store_url.startswith("postgresql://"):
        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute(sql.encode())
        return
    conn = sqlite3.connect(store_url, isolation_level=None)
    try:
        conn.execute(sql)
    finally:
        conn.close()


_V4_FEED_ENTRY_COLUMNS = (
    "origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, envelope, "
    "batched, leaf_hash, integrated_at, received_at"
)


def version_4_database(store_url: str, row: FeedEntry) -> None:
    """Create the database behind ``store_url`` at schema version 4, holding ``row``.

    Applies the first four migration files as the stores do, outside the store, and inserts
    ``row`` with the columns version 4 knows.
    """
    if store_url.startswith("postgresql://"):
        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE schema_migrations "
                "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for migration in load_migrations("postgres")[:4]:
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,)
                )
            conn.execute(
                f"INSERT INTO feed_entries ({_V4_FEED_ENTRY_COLUMNS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)".encode(),
                (
                    row.origin_node_id,
                    row.leaf_index,
                    row.kind,
                    row.sender_node_id,
                    row.message_id,
                    row.subject_key,
                    row.envelope,
                    row.batched,
                    row.leaf_hash,
                    row.integrated_at,
                    row.received_at,
                ),
            )
        return
    conn = sqlite3.connect(store_url, isolation_level=None)
    try:
        conn.execute(
            "CREATE TABLE schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT"
        )
        for migration in load_migrations("sqlite")[:4]:
            conn.executescript(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)",
                (migration.version,),
            )
        conn.execute(
            f"INSERT INTO feed_entries ({_V4_FEED_ENTRY_COLUMNS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.origin_node_id,
                row.leaf_index,
                row.kind,
                row.sender_node_id,
                row.message_id,
                row.subject_key,
                row.envelope,
                int(row.batched),
                row.leaf_hash,
                micros(row.integrated_at),
                micros(row.received_at),
            ),
        )
    finally:
        conn.close()


def micros(at: datetime) -> int:
    """``at`` as the SQLite schema stores it: microseconds since the epoch."""
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


async def test_an_entry_stored_twice_is_a_conflict_and_nothing_moves(
    store: Store, store_url: str
) -> None:
    await store.advance_feed(cursor(3), [feed_entry(2)], expected_next=None)
    # An operator dropped the cursor to re-read the origin; its entries are still there. The
    # key refuses the second copy and the cursor written in the same transaction rolls back.
    raw(store_url, "DELETE FROM feed_cursors")
    with pytest.raises(StoreConflict):
        await store.advance_feed(cursor(9), [feed_entry(2)], expected_next=None)
    assert await store.feed_cursor(HUB) is None
    assert await everything(store) == [feed_entry(2)]


@pytest.mark.parametrize(
    ("rows", "new", "expected"),
    [
        ([feed_entry(5), feed_entry(4)], 9, 0),  # out of order
        ([feed_entry(4), feed_entry(4)], 9, 0),  # twice in one call
        ([feed_entry(9)], 9, 0),  # not before the new cursor
        ([feed_entry(2)], 9, 3),  # before the old cursor
        ([feed_entry(4, origin="gd-440000")], 9, 0),  # another origin's entry
        ([], 2, 3),  # the cursor would move back
    ],
)
async def test_malformed_advances_are_refused_before_touching_the_database(
    store: Store, rows: Sequence[FeedEntry], new: int, expected: int
) -> None:
    await store.advance_feed(cursor(expected), [], expected_next=None)
    with pytest.raises(ValueError, match=r"order|cursor|origin"):
        await store.advance_feed(cursor(new), rows, expected_next=expected)
    assert await store.feed_cursor(HUB) == cursor(expected)
    assert await everything(store) == []


async def test_origins_are_independent(store: Store) -> None:
    await store.advance_feed(cursor(2), [feed_entry(1)], expected_next=None)
    gd = [feed_entry(1, origin="gd-440000")]
    await store.advance_feed(cursor(5, origin="gd-440000"), gd, expected_next=None)
    assert await everything(store) == [feed_entry(1)]
    assert await everything(store, "gd-440000") == gd
    assert [c.origin_node_id for c in await store.feed_cursors()] == [HUB, "gd-440000"]


async def test_reads_page_by_leaf_and_filter_by_kind_and_subject(store: Store) -> None:
    rows = [
        feed_entry(0, subject="91330100MA27XL0A6Q"),
        feed_entry(1, kind="name-list-transition", subject="01JNX0000000000000000000AA"),
        feed_entry(2, kind="measure-list", subject="national-basic"),
        feed_entry(3, subject="91330100MA27XL0A6Q"),
        feed_entry(4, subject=None),
    ]
    await store.advance_feed(cursor(5), rows, expected_next=None)
    assert await store.read_feed(HUB, start=1, limit=2) == rows[1:3]
    assert await store.read_feed(HUB, start=0, limit=10, kinds=["measure-list"]) == [rows[2]]
    entries = await store.read_feed(HUB, start=1, limit=10, kinds=["name-list-entry"])
    assert entries == [rows[3], rows[4]]
    assert await store.feed_entries_by_subject("91330100MA27XL0A6Q", limit=10) == [
        rows[0],
        rows[3],
    ]
    assert await store.feed_entries_by_subject("91330100MA27XL0A6Q", limit=1) == [rows[0]]
    assert await store.feed_entries_by_subject("nobody", limit=10) == []
    with pytest.raises(ValueError, match="limit"):
        await store.read_feed(HUB, start=0, limit=0)


async def test_two_followers_racing_one_database_store_exactly_once(store_url: str) -> None:
    # Two replicas sharing the database read the same cursor and both try to advance it:
    # the compare-and-set lets exactly one through; the other stores nothing.
    async with open_store(store_url) as first, open_store(store_url) as second:
        await first.advance_feed(cursor(1), [feed_entry(0)], expected_next=None)
        outcomes = await asyncio.gather(
            first.advance_feed(cursor(4), [feed_entry(1), feed_entry(3)], expected_next=1),
            second.advance_feed(cursor(6), [feed_entry(2), feed_entry(5)], expected_next=1),
            return_exceptions=True,
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "StoreConflict"]
        stored = [e.leaf_index for e in await everything(first)]
        winner = 4 if outcomes[0] is None else 6
        assert stored == ([0, 1, 3] if winner == 4 else [0, 2, 5])
        assert (await second.feed_cursor(HUB)) == cursor(winner)


async def test_the_store_survives_a_reopen(store_url: str) -> None:
    async with open_store(store_url) as store:
        await store.advance_feed(cursor(2), [feed_entry(1)], expected_next=None)
    async with open_store(store_url) as store:
        assert await store.feed_cursor(HUB) == cursor(2)
        assert await everything(store) == [feed_entry(1)]


def test_feed_rows_check_their_shape() -> None:
    with pytest.raises(ValueError, match="leaf_index"):
        replace(feed_entry(0), leaf_index=-1)
    with pytest.raises(ValueError, match="leaf_hash"):
        replace(feed_entry(0), leaf_hash=b"short")
    with pytest.raises(ValueError, match="envelope"):
        replace(feed_entry(0), envelope=b"")
    with pytest.raises(ValueError, match="message_id"):
        replace(feed_entry(0), message_id="")
    with pytest.raises(ValueError, match="object_id"):
        replace(feed_entry(0), object_id="")
    with pytest.raises(ValueError, match="received_at"):
        replace(feed_entry(0), received_at=datetime(2026, 3, 9))  # noqa: DTZ001 - naive on purpose
    # An inclusion proof: all three parts or none, hashes of 32 bytes, a leaf inside the tree.
    with pytest.raises(ValueError, match="together"):
        replace(proven(feed_entry(0), size=4), proof_checkpoint=None)
    with pytest.raises(ValueError, match="together"):
        replace(feed_entry(0), proof_hashes=())
    with pytest.raises(ValueError, match="together"):
        replace(proven(feed_entry(0), size=4), proof_checkpoint="")
    with pytest.raises(ValueError, match="32 bytes"):
        replace(proven(feed_entry(0), size=4), proof_hashes=(b"short",))
    with pytest.raises(ValueError, match="at most 64"):
        replace(proven(feed_entry(0), size=4), proof_hashes=(bytes(32),) * 65)
    with pytest.raises(ValueError, match="greater than leaf_index"):
        proven(feed_entry(4), size=4)
    with pytest.raises(ValueError, match="tuple"):
        replace(proven(feed_entry(0), size=4), proof_hashes=[bytes(32)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="root_hash"):
        replace(cursor(0), root_hash=b"")
    with pytest.raises(ValueError, match="next_leaf_index"):
        replace(cursor(0), next_leaf_index=-1)
    with pytest.raises(ValueError, match="origin_node_id"):
        replace(cursor(0), origin_node_id="")
    # The cursor of a follower that has proven nothing yet: the empty tree.
    FeedCursor(
        origin_node_id=HUB,
        next_leaf_index=0,
        checkpoint="",
        checkpoint_size=0,
        root_hash=EMPTY_ROOT,
        updated_at=T0,
    )


async def test_rows_without_an_object_id_are_found_and_given_one_once(store: Store) -> None:
    """Rows mirrored before version 5 get their object id afterwards, once: the ones without,
    by origin then leaf after a position; setting it never overwrites one."""
    gd = [feed_entry(0, origin="gd-440000")]
    await store.advance_feed(cursor(1, origin="gd-440000"), gd, expected_next=None)
    rows = [
        feed_entry(1, object_id=ENTRY_ID),
        feed_entry(2),
        feed_entry(5, kind="record"),
    ]
    await store.advance_feed(cursor(6), rows, expected_next=None)
    lacking = await store.feed_entries_without_object_id(after=None, limit=10)
    assert lacking == [rows[1], rows[2], gd[0]]
    assert await store.feed_entries_without_object_id(after=(HUB, 2), limit=1) == [rows[2]]
    assert await store.feed_entries_without_object_id(after=(HUB, 5), limit=10) == gd
    assert await store.set_feed_object_id(HUB, 2, "01JNX0000000000000000000BB")
    assert not await store.set_feed_object_id(HUB, 2, "01JNX0000000000000000000CC")
    assert not await store.set_feed_object_id(HUB, 1, "01JNX0000000000000000000CC")
    assert not await store.set_feed_object_id(HUB, 3, "01JNX0000000000000000000CC")
    found = await store.feed_entries_by_object("01JNX0000000000000000000BB", limit=10)
    assert found == [replace(rows[1], object_id="01JNX0000000000000000000BB")]
    assert await store.feed_entries_by_object(ENTRY_ID, limit=10) == [rows[0]]
    with pytest.raises(ValueError, match="object_id"):
        await store.set_feed_object_id(HUB, 5, "")


async def test_the_gateway_fills_in_the_object_ids_of_rows_mirrored_before_version_5(
    store: Store,
) -> None:
    """gateway.feed.backfill_object_ids (run when a following node starts): each stored
    statement's object id, as the feed gives a new one; other kinds keep none; once."""
    from creditlink.gateway.feed import backfill_object_ids
    from creditlink.sdk.envelope import payload_type_for
    from creditlink.v1 import envelope_pb2
    from tests.gateway.listings import entry_statement, transition_statement

    listing = entry_statement(HUB)
    entry_id = listing.name_list_entry.entry_id
    moved = transition_statement(HUB, entry_id, 1, 2)
    single = envelope_pb2.Envelope(
        payload=listing.SerializeToString(deterministic=True),
        payload_type=payload_type_for("name-list-entry"),
    )
    single.signatures.add(keyid="k", sig=b"s" * 64)
    batched = envelope_pb2.BatchedEnvelope(index=0)
    batched.item.payload = moved.SerializeToString(deterministic=True)
    batched.item.payload_type = payload_type_for("name-list-transition")
    batched.head.CopyFrom(single)
    rows = [
        replace(feed_entry(0), envelope=single.SerializeToString()),
        replace(
            feed_entry(1, kind="name-list-transition"),
            envelope=batched.SerializeToString(),
            batched=True,
        ),
        feed_entry(2, kind="record"),  # b"envelope-...": not a statement of a kind with an id
    ]
    await store.advance_feed(cursor(3), rows, expected_next=None)
    assert await backfill_object_ids(store, page=1) == 2
    about = await store.feed_entries_by_object(entry_id, limit=10)
    assert [(r.leaf_index, r.object_id) for r in about] == [(0, entry_id), (1, entry_id)]
    assert await store.feed_entries_without_object_id(after=None, limit=10) == [rows[2]]
    assert await backfill_object_ids(store) == 0
