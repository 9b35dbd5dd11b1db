"""The embedded default backend: one SQLite file in WAL mode, stdlib ``sqlite3``.

Threads. ``sqlite3`` is blocking, so the store owns two single-thread executors, each with its
own connection: the *writer* runs every statement of every write transaction (sequential calls
on one thread, in submission order), the *reader* runs the reads. WAL lets the reader see the
last committed state while a write transaction is open. Within one process an ``asyncio.Lock``
lets one transaction at a time use the writer; across processes ``BEGIN IMMEDIATE`` takes
SQLite's write lock at the start of the transaction (waiting up to ``busy_timeout``), so a
transaction never fails half-way because another writer got there first.

Durability. The gateway acknowledges a message only after its transaction commits, and
"acknowledged means durable". ``synchronous=NORMAL`` in WAL mode would survive a killed process
but not a power cut or kernel crash: it syncs the WAL only at checkpoints, so the last commits
can vanish. ``synchronous=FULL`` syncs the WAL at every commit. That is one fsync per
transaction, and since bulk writes are one transaction per batch of 1,000–10,000 rows, the cost
is spread over the batch.

Times are stored as integer microseconds since the Unix epoch (UTC) and come back as aware UTC
``datetime`` objects.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import orjson

from creditlink.gateway.store._common import (
    check_aware,
    check_feed_advance,
    check_range,
    check_tiles,
    due_prefix,
    load_migrations,
    pending_migrations,
    split_hashes,
    utc_now,
)
from creditlink.gateway.store._domain_sql import (
    event_params,
    event_row,
    insert_events_sql,
    object_params,
    object_row,
    query_sql,
    select_events_sql,
    select_keys_sql,
    select_object_sql,
    upsert_objects_sql,
)
from creditlink.gateway.store.base import (
    BatchRow,
    DomainChanges,
    DomainEvent,
    DomainObject,
    DomainQuery,
    EntryRow,
    FeedCursor,
    FeedEntry,
    LogHead,
    MessageRow,
    ObjectKey,
    OutboxItem,
    OutboxRow,
    OutboxState,
    OutboxStats,
    StoreConflict,
    StoreError,
    StoreUnavailable,
    TileId,
    Transaction,
)

__all__ = ["MIN_SQLITE_VERSION", "SQLiteStore"]

#: STRICT tables need 3.37; JSON functions (``json_each``) are built in by default since 3.38.
MIN_SQLITE_VERSION = (3, 38, 0)

_T = TypeVar("_T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Every statement, spelled out (no SQL is built at run time).
_SELECT_ENTRIES_FROM = (
    "SELECT leaf_index, message_id, batch_id, index_in_batch, kind, sender_node_id, "
    "payload_type, payload, envelope, leaf_hash, subject_key, integrated_at FROM "
    "log_entries WHERE leaf_index >= ? ORDER BY leaf_index LIMIT ?"
)
_SELECT_ENTRIES_OF_KINDS = (
    "SELECT leaf_index, message_id, batch_id, index_in_batch, kind, sender_node_id, "
    "payload_type, payload, envelope, leaf_hash, subject_key, integrated_at FROM "
    "log_entries WHERE leaf_index >= ? AND kind IN (SELECT value FROM json_each(?)) ORDER "
    "BY leaf_index LIMIT ?"
)
_SELECT_MESSAGES_IN = (
    "SELECT message_id, request_digest, receipt, first_leaf_index, leaf_count, "
    "sender_node_id, accepted_at FROM messages WHERE message_id IN (SELECT value FROM "
    "json_each(?))"
)
_INSERT_ENTRY = (
    "INSERT INTO log_entries (leaf_index, message_id, batch_id, index_in_batch, kind, "
    "sender_node_id, payload_type, payload, envelope, leaf_hash, subject_key, "
    "integrated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (message_id, request_digest, receipt, first_leaf_index, "
    "leaf_count, sender_node_id, accepted_at) VALUES (?,?,?,?,?,?,?)"
)
_INSERT_BATCH = (
    "INSERT INTO batches (batch_id, sender_node_id, head_envelope, first_leaf_index, "
    "count) VALUES (?,?,?,?,?)"
)
_SELECT_ENTRY = (
    "SELECT leaf_index, message_id, batch_id, index_in_batch, kind, sender_node_id, "
    "payload_type, payload, envelope, leaf_hash, subject_key, integrated_at FROM "
    "log_entries WHERE leaf_index = ?"
)
_SELECT_ENTRIES_IN = (
    "SELECT leaf_index, message_id, batch_id, index_in_batch, kind, sender_node_id, "
    "payload_type, payload, envelope, leaf_hash, subject_key, integrated_at FROM "
    "log_entries WHERE leaf_index IN ({})"
)
#: Leaves asked for per statement (SQLite allows 32,766 parameters; fewer keep each cheap).
_IN_CHUNK: Final = 500
_SELECT_SUBJECT = (
    "SELECT leaf_index, message_id, batch_id, index_in_batch, kind, sender_node_id, "
    "payload_type, payload, envelope, leaf_hash, subject_key, integrated_at FROM "
    "log_entries WHERE subject_key = ? AND leaf_index > ? ORDER BY leaf_index LIMIT ?"
)
_SELECT_MESSAGE = (
    "SELECT message_id, request_digest, receipt, first_leaf_index, leaf_count, "
    "sender_node_id, accepted_at FROM messages WHERE message_id = ?"
)
_SELECT_BATCH = (
    "SELECT batch_id, sender_node_id, head_envelope, first_leaf_index, count FROM batches "
    "WHERE batch_id = ?"
)
_HEAD_QUERY = "SELECT size, frontier, checkpoint, updated_at FROM log_head WHERE id = 1"
_INSERT_OUTBOX = (
    "INSERT INTO outbox (destination, message_id, request_id, sealed, enqueued_at, "
    "next_attempt_at) VALUES (?,?,?,?,?,?)"
)
# The queries that read the queue repeat the partial index's term ``state <> 'delivered'``:
# SQLite uses a partial index only when the query's WHERE clause contains that very term.
_SELECT_OUTBOX_HEAD = (
    "SELECT id, destination, message_id, request_id, sealed, enqueued_at, attempts, "
    "next_attempt_at, last_error, state, receipt, delivered_at FROM outbox WHERE "
    "destination = ? AND state = 'pending' AND state <> 'delivered' ORDER BY id LIMIT ?"
)
_SELECT_OUTBOX_NEXT_ATTEMPT = (
    "SELECT next_attempt_at FROM outbox WHERE destination = ? AND state = 'pending' AND "
    "state <> 'delivered' ORDER BY id LIMIT 1"
)
_SELECT_OUTBOX_DESTINATIONS = (
    "SELECT DISTINCT destination FROM outbox WHERE state = 'pending' AND "
    "state <> 'delivered' ORDER BY destination"
)
_SELECT_OUTBOX_STATS = (
    "SELECT destination, count(*) FILTER (WHERE state = 'pending'), "
    "min(enqueued_at) FILTER (WHERE state = 'pending'), "
    "count(*) FILTER (WHERE state = 'failed') FROM outbox WHERE state <> 'delivered' "
    "GROUP BY destination ORDER BY destination"
)
_SELECT_OUTBOX_STATUS = (
    "SELECT id, destination, message_id, request_id, sealed, enqueued_at, attempts, "
    "next_attempt_at, last_error, state, receipt, delivered_at FROM outbox WHERE "
    "message_id = ? ORDER BY id"
)
_MARK_DELIVERED = (
    "UPDATE outbox SET state = 'delivered', receipt = ?, delivered_at = ?, "
    "attempts = attempts + 1 WHERE id = ? AND state = 'pending'"
)
_MARK_RETRY = (
    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
    "WHERE id = ? AND state = 'pending'"
)
_MARK_FAILED = (
    "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ? "
    "WHERE id = ? AND state = 'pending'"
)

# Extended result codes that mean "the database cannot be used right now" rather than "this
# statement is wrong": busy or locked past the timeout, cannot open, I/O error, disk full,
# read-only file system.
_UNAVAILABLE_CODES = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_PERM",
)
_CONFLICT_CODES = frozenset({"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"})


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def _from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _translate(exc: sqlite3.Error, where: str) -> StoreError:
    """Map a ``sqlite3`` error to the store's hierarchy (no backend type escapes)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if isinstance(exc, sqlite3.IntegrityError) and name in _CONFLICT_CODES:
        return StoreConflict(f"{where}: {exc}")
    if name.startswith(_UNAVAILABLE_CODES):
        return StoreUnavailable(f"{where}: {exc}")
    return StoreError(f"{where}: {exc}")


def _entry(row: tuple[Any, ...]) -> EntryRow:
    return EntryRow(
        leaf_index=row[0],
        message_id=row[1],
        batch_id=row[2],
        index_in_batch=row[3],
        kind=row[4],
        sender_node_id=row[5],
        payload_type=row[6],
        payload=row[7],
        envelope=row[8],
        leaf_hash=row[9],
        subject_key=row[10],
        integrated_at=_from_micros(row[11]),
    )


def _message(row: tuple[Any, ...]) -> MessageRow:
    return MessageRow(
        message_id=row[0],
        request_digest=row[1],
        receipt=row[2],
        first_leaf_index=row[3],
        leaf_count=row[4],
        sender_node_id=row[5],
        accepted_at=_from_micros(row[6]),
    )


def _outbox(row: tuple[Any, ...]) -> OutboxRow:
    return OutboxRow(
        id=row[0],
        destination=row[1],
        message_id=row[2],
        request_id=row[3],
        sealed=row[4],
        enqueued_at=_from_micros(row[5]),
        attempts=row[6],
        next_attempt_at=_from_micros(row[7]),
        last_error=row[8],
        state=OutboxState(row[9]),
        receipt=row[10],
        delivered_at=None if row[11] is None else _from_micros(row[11]),
    )


def _head(row: tuple[Any, ...]) -> LogHead:
    return LogHead(size=row[0], frontier=row[1], checkpoint=row[2], updated_at=_from_micros(row[3]))


def _statements(sql: str) -> list[str]:
    """Split a migration into statements; each one ends with ``;`` at the end of a line.

    ``executescript`` would be simpler but commits any open transaction first, and migrations
    must run inside the transaction that also checks and records the schema version.
    """
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    rest = [ln for ln in buffer.splitlines() if ln.strip() and not ln.lstrip().startswith("--")]
    if rest:
        raise RuntimeError(f"migration ends with an incomplete statement: {rest[0]!r}")
    return statements


# --- code that runs on the writer or reader thread --------------------------------------------


def _connect(path: Path, busy_timeout: float, *, create: bool) -> sqlite3.Connection:
    if create:
        # Create the file ourselves so that it is 0600 from the first byte (no window in which
        # another user could open it); SQLite gives the -wal and -shm files the same mode.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
    # isolation_level=None: the module issues no implicit BEGIN/COMMIT; the store does.
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        version = tuple(int(p) for p in sqlite3.sqlite_version.split("."))
        if version < MIN_SQLITE_VERSION:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old; creditlink needs "
                + ".".join(map(str, MIN_SQLITE_VERSION))
            )
        return conn
    except BaseException:
        conn.close()
        raise


def _open_writer(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = _connect(path, busy_timeout, create=True)
    try:
        (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode != "wal":
            raise StoreError(f"{path}: cannot switch to WAL mode (journal_mode={mode})")
        # FULL: fsync the WAL at every commit; see the module docstring for why not NORMAL.
        conn.execute("PRAGMA synchronous=FULL")
        _migrate(conn, path)
        return conn
    except BaseException:
        conn.close()
        raise


def _open_reader(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = _connect(path, busy_timeout, create=False)
    conn.execute("PRAGMA query_only=ON")
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    migrations = load_migrations("sqlite")
    # One IMMEDIATE transaction: a second process opening the same file waits instead of
    # applying the same migration twice, and a failed migration leaves nothing behind.
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT"
        )
        (current,) = conn.execute(
            "SELECT coalesce(max(version), 0) FROM schema_migrations"
        ).fetchone()
        for migration in pending_migrations(migrations, current, where=str(path)):
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (migration.version, _micros(utc_now())),
            )
        conn.execute("COMMIT")
    except BaseException:
        # Some errors (disk full, I/O) already ended the transaction; do not mask them.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _begin(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        # Only possible if an earlier rollback never ran (its caller was cancelled before the
        # executor started it); never build on a leftover transaction.
        conn.execute("ROLLBACK")
    conn.execute("BEGIN IMMEDIATE")


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _read_head(conn: sqlite3.Connection) -> LogHead:
    return _head(conn.execute(_HEAD_QUERY).fetchone())


def _find_messages(conn: sqlite3.Connection, ids: list[str]) -> dict[str, MessageRow]:
    # json_each turns one JSON array parameter into a table: one statement for any number of
    # ids, without SQLite's bound-parameter limit.
    cursor = conn.execute(
        _SELECT_MESSAGES_IN,
        (json.dumps(ids),),
    )
    return {row[0]: _message(row) for row in cursor}


def _insert_entries(conn: sqlite3.Connection, rows: Sequence[EntryRow]) -> None:
    # The per-row cost is building the tuple. Converting the timestamp is most of it, and the
    # rows of one append usually share one datetime object, so convert once per new object.
    params: list[tuple[Any, ...]] = []
    append = params.append
    last: datetime | None = None
    last_us = 0
    for r in rows:
        at = r.integrated_at
        if at is not last:
            last, last_us = at, _micros(at)
        append(
            (
                r.leaf_index,
                r.message_id,
                r.batch_id,
                r.index_in_batch,
                r.kind,
                r.sender_node_id,
                r.payload_type,
                r.payload,
                r.envelope,
                r.leaf_hash,
                r.subject_key,
                last_us,
            )
        )
    conn.executemany(_INSERT_ENTRY, params)


def _insert_messages(conn: sqlite3.Connection, rows: Sequence[MessageRow]) -> None:
    conn.executemany(
        _INSERT_MESSAGE,
        [
            (
                r.message_id,
                r.request_digest,
                r.receipt,
                r.first_leaf_index,
                r.leaf_count,
                r.sender_node_id,
                _micros(r.accepted_at),
            )
            for r in rows
        ],
    )


def _insert_batch(conn: sqlite3.Connection, row: BatchRow) -> None:
    conn.execute(
        _INSERT_BATCH,
        (row.batch_id, row.sender_node_id, row.head_envelope, row.first_leaf_index, row.count),
    )


def _upsert_tiles(conn: sqlite3.Connection, tiles: list[tuple[int, int, bytes]]) -> None:
    conn.executemany(
        "INSERT INTO tiles (level, idx, hashes) VALUES (?,?,?) "
        "ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes",
        tiles,
    )


def _set_head(conn: sqlite3.Connection, head: LogHead) -> None:
    cursor = conn.execute(
        "UPDATE log_head SET size = ?, frontier = ?, checkpoint = ?, updated_at = ? WHERE id = 1",
        (head.size, head.frontier, head.checkpoint, _micros(head.updated_at)),
    )
    if cursor.rowcount != 1:
        raise StoreError("log_head row is missing; the schema is damaged")


def _enqueue(conn: sqlite3.Connection, rows: Sequence[OutboxItem]) -> None:
    conn.executemany(
        _INSERT_OUTBOX,
        [
            (
                r.destination,
                r.message_id,
                r.request_id,
                r.sealed,
                _micros(r.enqueued_at),
                _micros(r.enqueued_at),  # due at once
            )
            for r in rows
        ],
    )


def _update_one(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> bool:
    """Run one UPDATE in its own IMMEDIATE transaction; whether it changed a row."""
    _begin(conn)
    try:
        changed = conn.execute(sql, params).rowcount == 1
    except BaseException:
        _rollback(conn)
        raise
    _commit(conn)
    return changed


# --- the store --------------------------------------------------------------------------------


class _SQLiteTransaction:
    """A write transaction on the writer thread (see :class:`Transaction`)."""

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn
        self._locked = False
        self.failed = False
        self.done = False

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self.done:
            raise StoreError("the transaction has ended")
        if self.failed:
            raise StoreError("an earlier operation failed; the transaction will be rolled back")
        try:
            return await self._store._on_writer(fn, self._conn, *args)
        except BaseException:
            # Whatever failed (a conflict, cancellation) may have left part of a statement
            # batch applied: the only safe outcome is a rollback.
            self.failed = True
            raise

    async def lock_head(self) -> LogHead:
        # BEGIN IMMEDIATE already holds the database's write lock; reading is all that is left.
        head = await self._run(_read_head)
        self._locked = True
        return head

    async def find_messages(self, message_ids: Collection[str]) -> dict[str, MessageRow]:
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return {}
        return await self._run(_find_messages, ids)

    async def insert_entries(self, rows: Sequence[EntryRow]) -> None:
        if rows:
            await self._run(_insert_entries, rows)

    async def insert_batch(self, row: BatchRow) -> None:
        await self._run(_insert_batch, row)

    async def insert_messages(self, rows: Sequence[MessageRow]) -> None:
        if rows:
            await self._run(_insert_messages, rows)

    async def upsert_tiles(self, tiles: Mapping[TileId, bytes]) -> None:
        check_tiles(tiles)
        if tiles:
            await self._run(_upsert_tiles, [(lv, ix, h) for (lv, ix), h in tiles.items()])

    async def set_head(self, head: LogHead) -> None:
        if not self._locked:
            raise StoreError("set_head needs lock_head first in the same transaction")
        await self._run(_set_head, head)

    async def enqueue(self, rows: Sequence[OutboxItem]) -> None:
        if rows:
            await self._run(_enqueue, rows)

    async def get_objects(self, keys: Collection[ObjectKey]) -> dict[ObjectKey, DomainObject]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        return await self._run(_get_objects, wanted)

    async def apply_domain(self, changes: DomainChanges) -> None:
        if changes:
            await self._run(_apply_domain, changes)


class SQLiteStore:
    """The SQLite backend (see the module docstring); build it with ``open_store``.

    ``busy_timeout`` (seconds) bounds how long a transaction waits for another process's write
    lock before :class:`StoreUnavailable`.
    """

    def __init__(self, *, path: str | os.PathLike[str], busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStore(path={str(self.path)!r})"

    # -- lifecycle

    async def open(self) -> None:
        """Create or open the file (mode 0600 when created), switch to WAL, migrate."""
        if self._writer is not None:
            raise StoreError(f"{self!r} is already open")
        # Made here, not in __init__: a lock belongs to the event loop that first waits on it.
        self._write_lock = asyncio.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="creditlink-sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="creditlink-sqlite-reader")
        try:
            self._wconn = await self._submit(
                self._writer, _open_writer, self.path, self._busy_timeout
            )
            self._rconn = await self._submit(
                self._reader, _open_reader, self.path, self._busy_timeout
            )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close both connections (after any queued work) and stop the threads."""
        writer, reader = self._writer, self._reader
        wconn, rconn = self._wconn, self._rconn
        self._writer = self._reader = None
        self._wconn = self._rconn = None
        loop = asyncio.get_running_loop()
        for executor, conn in ((writer, wconn), (reader, rconn)):
            if executor is None:
                continue
            if conn is not None:
                # Closed on its own thread: queued work (a pending rollback) runs first.
                await loop.run_in_executor(executor, conn.close)
            await loop.run_in_executor(None, executor.shutdown)

    async def __aenter__(self) -> Self:
        """Open the store."""
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        await self.close()

    # -- plumbing

    async def _submit(self, executor: ThreadPoolExecutor, fn: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, fn, *args)
        except sqlite3.Error as exc:
            raise _translate(exc, str(self.path)) from exc
        except OSError as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from exc

    async def _on_writer(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._writer is None:
            raise StoreError(f"{self!r} is not open")
        return await self._submit(self._writer, fn, *args)

    async def _update(self, sql: str, params: tuple[Any, ...]) -> bool:
        # The writer connection is shared with transactions: take the same lock, so this
        # statement never lands inside another caller's open transaction.
        async with self._write_lock:
            conn = self._wconn
            if conn is None:
                raise StoreError(f"{self!r} is not open")
            return await asyncio.shield(self._on_writer(_update_one, conn, sql, params))

    async def _read(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._reader is None or self._rconn is None:
            raise StoreError(f"{self!r} is not open")
        return await self._submit(self._reader, fn, self._rconn, *args)

    # -- writes

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One write transaction (``BEGIN IMMEDIATE``): commit on exit, rollback on error."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        async with self._write_lock:
            conn = self._wconn
            if conn is None:
                raise StoreError(f"{self!r} is not open")
            await self._on_writer(_begin, conn)
            tx = _SQLiteTransaction(self, conn)
            try:
                yield tx
            except BaseException:
                tx.done = True
                # Shielded: a cancelled caller must not leave the rollback unqueued.
                await asyncio.shield(self._on_writer(_rollback, conn))
                raise
            tx.done = True
            if tx.failed:
                await asyncio.shield(self._on_writer(_rollback, conn))
                raise StoreError("the transaction was rolled back after a failed operation")
            await asyncio.shield(self._on_writer(_commit, conn))

    # -- reads

    async def head(self) -> LogHead:
        """The latest committed log head."""
        return await self._read(_read_head)

    async def read_entries(
        self, start: int, *, limit: int, kinds: Collection[str] | None = None
    ) -> list[EntryRow]:
        """Up to ``limit`` entries from leaf ``start`` on, in leaf order, of ``kinds`` if given."""
        check_range(start, limit)

        def run(conn: sqlite3.Connection) -> list[EntryRow]:
            if kinds is None:
                cursor = conn.execute(
                    _SELECT_ENTRIES_FROM,
                    (start, limit),
                )
            else:
                cursor = conn.execute(
                    _SELECT_ENTRIES_OF_KINDS,
                    (start, json.dumps(list(kinds)), limit),
                )
            return [_entry(row) for row in cursor]

        return await self._read(run)

    async def get_entry(self, leaf_index: int) -> EntryRow | None:
        """The entry at ``leaf_index``, or ``None``."""

        def run(conn: sqlite3.Connection) -> EntryRow | None:
            row = conn.execute(_SELECT_ENTRY, (leaf_index,)).fetchone()
            return None if row is None else _entry(row)

        return await self._read(run)

    async def get_entries(self, leaf_indexes: Collection[int]) -> dict[int, EntryRow]:
        """The entries at ``leaf_indexes``, by leaf (one read; SQLite's parameter limit is
        respected by chunks)."""
        wanted = sorted(set(leaf_indexes))

        def run(conn: sqlite3.Connection) -> dict[int, EntryRow]:
            out: dict[int, EntryRow] = {}
            for i in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[i : i + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(_SELECT_ENTRIES_IN.format(marks), chunk):
                    entry = _entry(row)
                    out[entry.leaf_index] = entry
            return out

        return await self._read(run) if wanted else {}

    async def get_message(self, message_id: str) -> MessageRow | None:
        """The accepted message with this id, or ``None``."""

        def run(conn: sqlite3.Connection) -> MessageRow | None:
            row = conn.execute(_SELECT_MESSAGE, (message_id,)).fetchone()
            return None if row is None else _message(row)

        return await self._read(run)

    async def get_batch(self, batch_id: str) -> BatchRow | None:
        """The batch with this id, or ``None``."""

        def run(conn: sqlite3.Connection) -> BatchRow | None:
            row = conn.execute(_SELECT_BATCH, (batch_id,)).fetchone()
            if row is None:
                return None
            return BatchRow(
                batch_id=row[0],
                sender_node_id=row[1],
                head_envelope=row[2],
                first_leaf_index=row[3],
                count=row[4],
            )

        return await self._read(run)

    async def read_tiles(self, ids: Sequence[TileId]) -> dict[TileId, bytes]:
        """The stored tiles among ``ids``; a tile never written is absent from the result."""
        if not ids:
            return {}
        keys = json.dumps([[level, index] for level, index in ids])

        def run(conn: sqlite3.Connection) -> dict[TileId, bytes]:
            cursor = conn.execute(
                "SELECT t.level, t.idx, t.hashes FROM json_each(?) AS k JOIN tiles AS t "
                "ON t.level = json_extract(k.value, '$[0]') "
                "AND t.idx = json_extract(k.value, '$[1]')",
                (keys,),
            )
            return {(level, index): hashes for level, index, hashes in cursor}

        return await self._read(run)

    async def entries_by_subject(
        self, subject_key: str, *, limit: int, after: int | None = None
    ) -> list[EntryRow]:
        """Up to ``limit`` entries about ``subject_key`` in leaf order, after leaf ``after``."""
        check_range(0, limit)

        def run(conn: sqlite3.Connection) -> list[EntryRow]:
            cursor = conn.execute(
                _SELECT_SUBJECT,
                (subject_key, -1 if after is None else after, limit),
            )
            return [_entry(row) for row in cursor]

        return await self._read(run)

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of the entries ``start <= leaf_index < end``, in leaf order."""
        if start < 0 or end < start:
            raise ValueError(f"need 0 <= start <= end, got {start}, {end}")

        def run(conn: sqlite3.Connection) -> list[bytes]:
            cursor = conn.execute(
                "SELECT leaf_hash FROM log_entries WHERE leaf_index >= ? AND leaf_index < ? "
                "ORDER BY leaf_index",
                (start, end),
            )
            return [h for (h,) in cursor]

        return await self._read(run)

    # -- the outbox

    async def next_outbox(self, destination: str, *, now: datetime, limit: int) -> list[OutboxRow]:
        """The due head of ``destination``'s queue, in id order (see ``Store.next_outbox``)."""
        check_aware("now", now)
        check_range(0, limit)

        def run(conn: sqlite3.Connection) -> list[OutboxRow]:
            cursor = conn.execute(_SELECT_OUTBOX_HEAD, (destination, limit))
            return [_outbox(row) for row in cursor]

        return due_prefix(await self._read(run), now)

    async def outbox_next_attempt(self, destination: str) -> datetime | None:
        """When the first pending row of ``destination`` is due; ``None`` if none is pending."""

        def run(conn: sqlite3.Connection) -> datetime | None:
            row = conn.execute(_SELECT_OUTBOX_NEXT_ATTEMPT, (destination,)).fetchone()
            return None if row is None else _from_micros(row[0])

        return await self._read(run)

    async def mark_delivered(self, id: int, *, receipt: bytes, at: datetime) -> bool:
        """Record a delivery and its receipt; ``False`` unless the row was pending."""
        if not receipt:
            raise ValueError("receipt must not be empty")
        check_aware("at", at)
        return await self._update(_MARK_DELIVERED, (receipt, _micros(at), id))

    async def mark_retry(self, id: int, *, error: str, next_attempt_at: datetime) -> bool:
        """Record a transient failure and the next attempt; ``False`` unless pending."""
        check_aware("next_attempt_at", next_attempt_at)
        return await self._update(_MARK_RETRY, (error, _micros(next_attempt_at), id))

    async def mark_failed(self, id: int, *, error: str) -> bool:
        """Record a permanent failure; ``False`` unless the row was pending."""
        return await self._update(_MARK_FAILED, (error, id))

    async def outbox_destinations(self) -> list[str]:
        """The destinations with pending rows, sorted."""

        def run(conn: sqlite3.Connection) -> list[str]:
            return [d for (d,) in conn.execute(_SELECT_OUTBOX_DESTINATIONS)]

        return await self._read(run)

    async def outbox_stats(self) -> dict[str, OutboxStats]:
        """Per destination with pending or failed rows: depth, oldest pending, failed."""

        def run(conn: sqlite3.Connection) -> dict[str, OutboxStats]:
            return {
                destination: OutboxStats(
                    depth=depth,
                    oldest_enqueued_at=None if oldest is None else _from_micros(oldest),
                    failed=failed,
                )
                for destination, depth, oldest, failed in conn.execute(_SELECT_OUTBOX_STATS)
            }

        return await self._read(run)

    async def outbox_status(self, message_id: str) -> list[OutboxRow]:
        """Every outbox row of ``message_id``, in id order."""

        def run(conn: sqlite3.Connection) -> list[OutboxRow]:
            return [_outbox(row) for row in conn.execute(_SELECT_OUTBOX_STATUS, (message_id,))]

        return await self._read(run)

    # -- the feed (entries mirrored from other nodes' logs; gateway/feed)

    async def feed_cursor(self, origin_node_id: str) -> FeedCursor | None:
        """Where the mirror of ``origin_node_id``'s log stands, or ``None``."""

        def run(conn: sqlite3.Connection) -> FeedCursor | None:
            row = conn.execute(_SELECT_FEED_CURSOR, (origin_node_id,)).fetchone()
            return None if row is None else _feed_cursor(row)

        return await self._read(run)

    async def feed_cursors(self) -> list[FeedCursor]:
        """The cursor of every origin mirrored, sorted by origin."""

        def run(conn: sqlite3.Connection) -> list[FeedCursor]:
            return [_feed_cursor(row) for row in conn.execute(_SELECT_FEED_CURSORS)]

        return await self._read(run)

    async def advance_feed(
        self, cursor: FeedCursor, entries: Sequence[FeedEntry], *, expected_next: int | None
    ) -> None:
        """Store ``entries`` and move the cursor in one transaction (``Store.advance_feed``)."""
        check_feed_advance(cursor, entries, expected_next)
        # The writer connection is shared with log transactions: take the same lock, and
        # shield the work so a cancelled caller cannot leave the transaction half-run.
        async with self._write_lock:
            conn = self._wconn
            if conn is None:
                raise StoreError(f"{self!r} is not open")
            await asyncio.shield(
                self._on_writer(_advance_feed, conn, cursor, entries, expected_next)
            )

    async def read_feed(
        self, origin_node_id: str, *, start: int, limit: int, kinds: Collection[str] | None = None
    ) -> list[FeedEntry]:
        """Up to ``limit`` mirrored entries of the origin from leaf ``start`` on, in leaf order."""
        check_range(start, limit)

        def run(conn: sqlite3.Connection) -> list[FeedEntry]:
            if kinds is None:
                cursor = conn.execute(_SELECT_FEED_FROM, (origin_node_id, start, limit))
            else:
                cursor = conn.execute(
                    _SELECT_FEED_OF_KINDS,
                    (origin_node_id, start, json.dumps(list(kinds)), limit),
                )
            return [_feed_entry(row) for row in cursor]

        return await self._read(run)

    async def feed_entries_by_subject(self, subject_key: str, *, limit: int) -> list[FeedEntry]:
        """Up to ``limit`` mirrored entries about ``subject_key``, by origin then leaf."""
        check_range(0, limit)

        def run(conn: sqlite3.Connection) -> list[FeedEntry]:
            cursor = conn.execute(_SELECT_FEED_SUBJECT, (subject_key, limit))
            return [_feed_entry(row) for row in cursor]

        return await self._read(run)

    async def feed_entries_by_object(self, object_id: str, *, limit: int) -> list[FeedEntry]:
        """Up to ``limit`` mirrored statements about ``object_id``, by origin then leaf."""
        check_range(0, limit)

        def run(conn: sqlite3.Connection) -> list[FeedEntry]:
            cursor = conn.execute(_SELECT_FEED_OBJECT, (object_id, limit))
            return [_feed_entry(row) for row in cursor]

        return await self._read(run)

    async def feed_entries_without_object_id(
        self, *, after: tuple[str, int] | None, limit: int
    ) -> list[FeedEntry]:
        """Up to ``limit`` mirrored entries with no object id, by origin then leaf, after
        ``after``."""
        check_range(0, limit)

        def run(conn: sqlite3.Connection) -> list[FeedEntry]:
            origin, leaf = after if after is not None else ("", -1)
            cursor = conn.execute(_SELECT_FEED_NO_OBJECT, (origin, origin, leaf, limit))
            return [_feed_entry(row) for row in cursor]

        return await self._read(run)

    async def set_feed_object_id(
        self, origin_node_id: str, leaf_index: int, object_id: str
    ) -> bool:
        """Set a mirrored entry's object id where it has none."""
        if not object_id:
            raise ValueError("object_id must not be empty")
        return await self._update(_SET_FEED_OBJECT, (object_id, origin_node_id, leaf_index))

    # -- domain objects

    async def get_object(self, kind: str, object_id: str) -> DomainObject | None:
        """One domain object by key, or ``None``."""

        def run(conn: sqlite3.Connection) -> DomainObject | None:
            row = conn.execute(select_object_sql("sqlite"), (kind, object_id)).fetchone()
            return None if row is None else object_row(row, _from_micros)

        return await self._read(run)

    async def get_objects(self, keys: Collection[ObjectKey]) -> dict[ObjectKey, DomainObject]:
        """The stored objects among ``keys``."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        return await self._read(_get_objects, wanted)

    async def query_objects(self, query: DomainQuery) -> list[DomainObject]:
        """One page of objects matching ``query``."""
        sql, params = query_sql("sqlite", query)

        def run(conn: sqlite3.Connection) -> list[DomainObject]:
            return [object_row(r, _from_micros) for r in conn.execute(sql, params)]

        return await self._read(run)

    async def object_events(self, kind: str, object_id: str) -> list[DomainEvent]:
        """Every event of one object, oldest first."""

        def run(conn: sqlite3.Connection) -> list[DomainEvent]:
            cursor = conn.execute(select_events_sql("sqlite"), (kind, object_id))
            return [event_row(r, _from_micros) for r in cursor]

        return await self._read(run)


# --- the feed: statements and the code that runs on the writer or reader thread ---------------

_INSERT_FEED_ENTRY = (
    "INSERT INTO feed_entries (origin_node_id, leaf_index, kind, sender_node_id, message_id, "
    "subject_key, envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, "
    "proof_tree_size, proof_checkpoint, object_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_SELECT_FEED_FROM = (
    "SELECT origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, "
    "envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, proof_tree_size, "
    "proof_checkpoint, object_id FROM feed_entries WHERE origin_node_id = ? AND leaf_index >= ? "
    "ORDER BY leaf_index LIMIT ?"
)
_SELECT_FEED_OF_KINDS = (
    "SELECT origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, "
    "envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, proof_tree_size, "
    "proof_checkpoint, object_id FROM feed_entries WHERE origin_node_id = ? AND leaf_index >= ? "
    "AND kind IN (SELECT value FROM json_each(?)) ORDER BY leaf_index LIMIT ?"
)
_SELECT_FEED_SUBJECT = (
    "SELECT origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, "
    "envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, proof_tree_size, "
    "proof_checkpoint, object_id FROM feed_entries WHERE subject_key = ? "
    "ORDER BY origin_node_id, leaf_index LIMIT ?"
)
_SELECT_FEED_NO_OBJECT = (
    "SELECT origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, "
    "envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, proof_tree_size, "
    "proof_checkpoint, object_id FROM feed_entries WHERE object_id IS NULL "
    "AND (origin_node_id > ? OR (origin_node_id = ? AND leaf_index > ?)) "
    "ORDER BY origin_node_id, leaf_index LIMIT ?"
)
_SET_FEED_OBJECT = (
    "UPDATE feed_entries SET object_id = ? "
    "WHERE origin_node_id = ? AND leaf_index = ? AND object_id IS NULL"
)
_SELECT_FEED_OBJECT = (
    "SELECT origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, "
    "envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, proof_tree_size, "
    "proof_checkpoint, object_id FROM feed_entries WHERE object_id = ? "
    "ORDER BY origin_node_id, leaf_index LIMIT ?"
)
_SELECT_FEED_CURSOR = (
    "SELECT origin_node_id, next_leaf_index, checkpoint, checkpoint_size, root_hash, "
    "updated_at FROM feed_cursors WHERE origin_node_id = ?"
)
_SELECT_FEED_CURSORS = (
    "SELECT origin_node_id, next_leaf_index, checkpoint, checkpoint_size, root_hash, "
    "updated_at FROM feed_cursors ORDER BY origin_node_id"
)
_UPSERT_FEED_CURSOR = (
    "INSERT INTO feed_cursors (origin_node_id, next_leaf_index, checkpoint, checkpoint_size, "
    "root_hash, updated_at) VALUES (?,?,?,?,?,?) ON CONFLICT (origin_node_id) DO UPDATE SET "
    "next_leaf_index = excluded.next_leaf_index, checkpoint = excluded.checkpoint, "
    "checkpoint_size = excluded.checkpoint_size, root_hash = excluded.root_hash, "
    "updated_at = excluded.updated_at"
)


def _get_objects(conn: sqlite3.Connection, keys: list[ObjectKey]) -> dict[ObjectKey, DomainObject]:
    cursor = conn.execute(select_keys_sql("sqlite"), (orjson.dumps(keys).decode(),))
    found = (object_row(r, _from_micros) for r in cursor)
    return {o.key: o for o in found}


def _apply_domain(conn: sqlite3.Connection, changes: DomainChanges) -> None:
    if changes.objects:
        conn.executemany(
            upsert_objects_sql("sqlite"), [object_params(o, _micros) for o in changes.objects]
        )
    if changes.events:
        conn.executemany(
            insert_events_sql("sqlite"), [event_params(e, _micros) for e in changes.events]
        )


def _feed_entry(row: tuple[Any, ...]) -> FeedEntry:
    return FeedEntry(
        origin_node_id=row[0],
        leaf_index=row[1],
        kind=row[2],
        sender_node_id=row[3],
        message_id=row[4],
        subject_key=row[5],
        envelope=row[6],
        batched=bool(row[7]),
        leaf_hash=row[8],
        integrated_at=_from_micros(row[9]),
        received_at=_from_micros(row[10]),
        proof_hashes=None if row[11] is None else split_hashes(row[11]),
        proof_tree_size=row[12],
        proof_checkpoint=row[13],
        object_id=row[14],
    )


def _feed_cursor(row: tuple[Any, ...]) -> FeedCursor:
    return FeedCursor(
        origin_node_id=row[0],
        next_leaf_index=row[1],
        checkpoint=row[2],
        checkpoint_size=row[3],
        root_hash=row[4],
        updated_at=_from_micros(row[5]),
    )


def _advance_feed(
    conn: sqlite3.Connection,
    cursor: FeedCursor,
    entries: Sequence[FeedEntry],
    expected_next: int | None,
) -> None:
    _begin(conn)
    try:
        # BEGIN IMMEDIATE holds the write lock: nobody can move the cursor between this read
        # and the commit, so the comparison below is a compare-and-set.
        row = conn.execute(
            "SELECT next_leaf_index FROM feed_cursors WHERE origin_node_id = ?",
            (cursor.origin_node_id,),
        ).fetchone()
        stored = None if row is None else row[0]
        if stored != expected_next:
            raise StoreConflict(
                f"the feed cursor of {cursor.origin_node_id!r} is {stored}, not the expected "
                f"{expected_next}: another follower moved it"
            )
        conn.executemany(
            _INSERT_FEED_ENTRY,
            [
                (
                    e.origin_node_id,
                    e.leaf_index,
                    e.kind,
                    e.sender_node_id,
                    e.message_id,
                    e.subject_key,
                    e.envelope,
                    int(e.batched),
                    e.leaf_hash,
                    _micros(e.integrated_at),
                    _micros(e.received_at),
                    None if e.proof_hashes is None else b"".join(e.proof_hashes),
                    e.proof_tree_size,
                    e.proof_checkpoint,
                    e.object_id,
                )
                for e in entries
            ],
        )
        conn.execute(
            _UPSERT_FEED_CURSOR,
            (
                cursor.origin_node_id,
                cursor.next_leaf_index,
                cursor.checkpoint,
                cursor.checkpoint_size,
                cursor.root_hash,
                _micros(cursor.updated_at),
            ),
        )
    except BaseException:
        _rollback(conn)
        raise
    _commit(conn)
