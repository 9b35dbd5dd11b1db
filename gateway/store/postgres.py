"""The scale-out backend: PostgreSQL through psycopg 3 and an ``AsyncConnectionPool``.

Several stateless gateway replicas may share one database. Writers serialize on the single
``log_head`` row (``SELECT ... FOR UPDATE`` in :meth:`Transaction.lock_head`); transactions run
at READ COMMITTED, so once a writer holds that lock every later statement of its transaction
sees everything the previous holder committed (a replayed message id is found by
``find_messages`` instead of failing the insert).

``insert_entries`` uses ``COPY ... FROM STDIN (FORMAT BINARY)``: measured on 1,000-row batches
of log entries it is about twice as fast as ``executemany`` in pipeline mode (see
``bench/baseline/bench_inserts.py``). ``apply_domain`` does the same from 64 rows of a kind on
(a streamed batch projects an object and an event per record): events are copied in, objects
copied to a session-local staging table and upserted from it in one statement; streamed ingest
rose from about 10,300 to 12,400 records/s (batches of 5,000, docs/performance.md).

Tables live in the first schema of the connection's ``search_path``, so one database can hold
several logs (``?options=-csearch_path%3Dmylog`` in the URL). Sessions use the UTC time zone,
so timestamps come back as aware UTC ``datetime`` objects.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from creditlink.gateway.store._common import (
    check_aware,
    check_feed_advance,
    check_range,
    check_tiles,
    due_prefix,
    load_migrations,
    pending_migrations,
    split_hashes,
)
from creditlink.gateway.store._domain_sql import (
    EVENT_COPY_TYPES,
    OBJECT_COPY_TYPES,
    copy_events_sql,
    copy_objects_sql,
    create_object_stage_sql,
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
    upsert_staged_objects_sql,
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

__all__ = ["PostgresStore"]

_T = TypeVar("_T")
_Conn = psycopg.AsyncConnection[tuple[Any, ...]]

# Every statement, spelled out (no SQL is built at run time).
_SELECT_ENTRIES_FROM = (
    "SELECT leaf_index, message_id, batch_id, index_in_batch, kind, sender_node_id, "
    "payload_type, payload, envelope, leaf_hash, subject_key, integrated_at FROM "
    "log_entries WHERE leaf_index >= %s ORDER BY leaf_index LIMIT %s"
)
_SELECT_ENTRIES_OF_KINDS = (
    "SELECT leaf_index, message_id, batch_id, index_in_batch, kind, sender_node_id, "
    "payload_type, payload, envelope, leaf_hash, subject_key, integrated_at FROM "
    "log_entries WHERE leaf_index >= %s AND kind = ANY(%s) ORDER BY leaf_index LIMIT %s"
)
_SELECT_MESSAGES_IN = (
    "SELECT message_id, request_digest, receipt, first_leaf_index, leaf_count, "
    "sender_node_id, accepted_at FROM messages WHERE message_id = ANY(%s)"
)
_COPY_ENTRIES = (
    "COPY log_entries (leaf_index, message_id, batch_id, index_in_batch, kind, "
    "sender_node_id, payload_type, payload, envelope, leaf_hash, subject_key, "
    "integrated_at) FROM STDIN (FORMAT BINARY)"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (message_id, request_digest, receipt, first_leaf_index, "
    "leaf_count, sender_node_id, accepted_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_BATCH = (
    "INSERT INTO batches (batch_id, sender_node_id, head_envelope, first_leaf_index, "
    "count) VALUES (%s, %s, %s, %s, %s)"
)
_SELECT_ENTRY = (
    "SELECT leaf_index, message_id, batch_id, index_in_batch, kind, sender_node_id, "
    "payload_type, payload, envelope, leaf_hash, subject_key, integrated_at FROM "
    "log_entries WHERE leaf_index = %s"
)
_SELECT_ENTRIES_ANY = (
    "SELECT leaf_index, message_id, batch_id, index_in_batch, kind, sender_node_id, "
    "payload_type, payload, envelope, leaf_hash, subject_key, integrated_at FROM "
    "log_entries WHERE leaf_index = ANY(%s)"
)
_SELECT_SUBJECT = (
    "SELECT leaf_index, message_id, batch_id, index_in_batch, kind, sender_node_id, "
    "payload_type, payload, envelope, leaf_hash, subject_key, integrated_at FROM "
    "log_entries WHERE subject_key = %s AND leaf_index > %s ORDER BY leaf_index LIMIT %s"
)
_SELECT_MESSAGE = (
    "SELECT message_id, request_digest, receipt, first_leaf_index, leaf_count, "
    "sender_node_id, accepted_at FROM messages WHERE message_id = %s"
)
_SELECT_BATCH = (
    "SELECT batch_id, sender_node_id, head_envelope, first_leaf_index, count FROM batches "
    "WHERE batch_id = %s"
)
# Binary COPY sends values in the column's wire format, so the types must match the table.
_ENTRY_TYPES = (
    "int8",
    "text",
    "text",
    "int4",
    "text",
    "text",
    "text",
    "bytea",
    "bytea",
    "bytea",
    "text",
    "timestamptz",
)
_HEAD_QUERY = "SELECT size, frontier, checkpoint, updated_at FROM log_head WHERE id = 1"
_INSERT_OUTBOX = (
    "INSERT INTO outbox (destination, message_id, request_id, sealed, enqueued_at, "
    "next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s)"
)
# ``state <> 'delivered'`` is the partial index's predicate, written out as in the SQLite
# backend (PostgreSQL would also infer it from ``state = 'pending'``).
_SELECT_OUTBOX_HEAD = (
    "SELECT id, destination, message_id, request_id, sealed, enqueued_at, attempts, "
    "next_attempt_at, last_error, state, receipt, delivered_at FROM outbox WHERE "
    "destination = %s AND state = 'pending' AND state <> 'delivered' ORDER BY id LIMIT %s"
)
_SELECT_OUTBOX_NEXT_ATTEMPT = (
    "SELECT next_attempt_at FROM outbox WHERE destination = %s AND state = 'pending' AND "
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
    "message_id = %s ORDER BY id"
)
_MARK_DELIVERED = (
    "UPDATE outbox SET state = 'delivered', receipt = %s, delivered_at = %s, "
    "attempts = attempts + 1 WHERE id = %s AND state = 'pending'"
)
_MARK_RETRY = (
    "UPDATE outbox SET attempts = attempts + 1, last_error = %s, next_attempt_at = %s "
    "WHERE id = %s AND state = 'pending'"
)
_MARK_FAILED = (
    "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = %s "
    "WHERE id = %s AND state = 'pending'"
)
# Migrations of one schema serialize on this advisory lock (replicas starting together).
_MIGRATION_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('creditlink.gateway.store:' || "
    "coalesce(current_schema(), ''), 0))"
)


def _translate(exc: psycopg.Error, where: str) -> StoreError:
    """Map a psycopg error to the store's hierarchy (no backend type escapes)."""
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return StoreConflict(f"{where}: {exc.diag.message_primary or exc}")
    # OperationalError covers connection failures, pool timeouts (PoolTimeout), an admin
    # shutdown and lock timeouts: the database cannot be used right now.
    if isinstance(exc, psycopg.OperationalError):
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
        integrated_at=row[11],
    )


def _message(row: tuple[Any, ...]) -> MessageRow:
    return MessageRow(
        message_id=row[0],
        request_digest=row[1],
        receipt=row[2],
        first_leaf_index=row[3],
        leaf_count=row[4],
        sender_node_id=row[5],
        accepted_at=row[6],
    )


def _outbox(row: tuple[Any, ...]) -> OutboxRow:
    return OutboxRow(
        id=row[0],
        destination=row[1],
        message_id=row[2],
        request_id=row[3],
        sealed=row[4],
        enqueued_at=row[5],
        attempts=row[6],
        next_attempt_at=row[7],
        last_error=row[8],
        state=OutboxState(row[9]),
        receipt=row[10],
        delivered_at=row[11],
    )


def _head(row: tuple[Any, ...] | None) -> LogHead:
    if row is None:
        raise StoreError("log_head row is missing; the schema is damaged")
    return LogHead(size=row[0], frontier=row[1], checkpoint=row[2], updated_at=row[3])


def _configure(lock_timeout: float) -> Callable[[_Conn], Awaitable[None]]:
    async def configure(conn: _Conn) -> None:
        # Timestamps come back in the session time zone; UTC makes them uniform everywhere.
        await conn.execute("SET TIME ZONE 'UTC'")
        # A writer waits at most this long for the head lock (a replica stuck holding it, a
        # long migration) and then gets StoreUnavailable, as SQLite's busy_timeout does.
        await conn.execute(
            "SELECT set_config('lock_timeout', %s, false)", (f"{round(lock_timeout * 1000)}ms",)
        )

    return configure


async def _migrate(conn: _Conn, where: str) -> None:
    migrations = load_migrations("postgres")
    async with conn.transaction():
        await conn.execute(_MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        row = await cursor.fetchone()
        current = 0 if row is None else int(row[0])
        for migration in pending_migrations(migrations, current, where=where):
            # No parameters: psycopg sends the file as one simple query, all its statements.
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,)
            )


class _PostgresTransaction:
    """A write transaction on one pooled connection (see :class:`Transaction`)."""

    def __init__(self, conn: _Conn, where: str) -> None:
        self._conn = conn
        self._where = where
        self._locked = False
        self.failed = False
        self.done = False

    async def _run(self, op: Callable[[_Conn], Awaitable[_T]]) -> _T:
        if self.done:
            raise StoreError("the transaction has ended")
        if self.failed:
            raise StoreError("an earlier operation failed; the transaction will be rolled back")
        try:
            return await op(self._conn)
        except psycopg.Error as exc:
            self.failed = True
            raise _translate(exc, self._where) from exc
        except BaseException:
            self.failed = True
            raise

    async def lock_head(self) -> LogHead:
        async def op(conn: _Conn) -> LogHead:
            cursor = await conn.execute(_HEAD_QUERY + " FOR UPDATE")
            return _head(await cursor.fetchone())

        head = await self._run(op)
        self._locked = True
        return head

    async def find_messages(self, message_ids: Collection[str]) -> dict[str, MessageRow]:
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return {}

        async def op(conn: _Conn) -> dict[str, MessageRow]:
            cursor = await conn.execute(_SELECT_MESSAGES_IN, (ids,))
            return {row[0]: _message(row) for row in await cursor.fetchall()}

        return await self._run(op)

    async def insert_entries(self, rows: Sequence[EntryRow]) -> None:
        if not rows:
            return

        async def op(conn: _Conn) -> None:
            async with conn.cursor() as cursor:
                await _copy_rows(
                    cursor,
                    _COPY_ENTRIES,
                    _ENTRY_TYPES,
                    (
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
                            r.integrated_at,
                        )
                        for r in rows
                    ),
                )

        await self._run(op)

    async def insert_batch(self, row: BatchRow) -> None:
        async def op(conn: _Conn) -> None:
            await conn.execute(
                _INSERT_BATCH,
                (
                    row.batch_id,
                    row.sender_node_id,
                    row.head_envelope,
                    row.first_leaf_index,
                    row.count,
                ),
            )

        await self._run(op)

    async def insert_messages(self, rows: Sequence[MessageRow]) -> None:
        if not rows:
            return

        async def op(conn: _Conn) -> None:
            async with conn.cursor() as cursor:
                # executemany runs in pipeline mode: one round trip for all rows.
                await cursor.executemany(
                    _INSERT_MESSAGE,
                    [
                        (
                            r.message_id,
                            r.request_digest,
                            r.receipt,
                            r.first_leaf_index,
                            r.leaf_count,
                            r.sender_node_id,
                            r.accepted_at,
                        )
                        for r in rows
                    ],
                )

        await self._run(op)

    async def upsert_tiles(self, tiles: Mapping[TileId, bytes]) -> None:
        check_tiles(tiles)
        if not tiles:
            return

        async def op(conn: _Conn) -> None:
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO tiles (level, idx, hashes) VALUES (%s, %s, %s) "
                    "ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes",
                    [(level, index, hashes) for (level, index), hashes in tiles.items()],
                )

        await self._run(op)

    async def set_head(self, head: LogHead) -> None:
        if not self._locked:
            raise StoreError("set_head needs lock_head first in the same transaction")

        async def op(conn: _Conn) -> None:
            cursor = await conn.execute(
                "UPDATE log_head SET size = %s, frontier = %s, checkpoint = %s, "
                "updated_at = %s WHERE id = 1",
                (head.size, head.frontier, head.checkpoint, head.updated_at),
            )
            if cursor.rowcount != 1:
                raise StoreError("log_head row is missing; the schema is damaged")

        await self._run(op)

    async def enqueue(self, rows: Sequence[OutboxItem]) -> None:
        if not rows:
            return

        async def op(conn: _Conn) -> None:
            async with conn.cursor() as cursor:
                # executemany runs in pipeline mode: one round trip, ids in ``rows`` order.
                await cursor.executemany(
                    _INSERT_OUTBOX,
                    [
                        (
                            r.destination,
                            r.message_id,
                            r.request_id,
                            r.sealed,
                            r.enqueued_at,
                            r.enqueued_at,  # due at once
                        )
                        for r in rows
                    ],
                )

        await self._run(op)

    async def get_objects(self, keys: Collection[ObjectKey]) -> dict[ObjectKey, DomainObject]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}

        async def op(conn: _Conn) -> dict[ObjectKey, DomainObject]:
            return await _get_objects(conn, wanted)

        return await self._run(op)

    async def apply_domain(self, changes: DomainChanges) -> None:
        if not changes:
            return

        async def op(conn: _Conn) -> None:
            objects = [object_params(o, _same) for o in changes.objects]
            events = [event_params(e, _same) for e in changes.events]
            async with conn.cursor() as cursor:
                if len(objects) < _COPY_FROM_ROWS:
                    if objects:
                        await cursor.executemany(_UPSERT_OBJECTS, objects)
                else:
                    # COPY cannot upsert: the rows go to a session-local staging table, then
                    # into domain_objects with one INSERT ... ON CONFLICT (their keys are
                    # distinct: a DomainChanges holds each object once).
                    await cursor.execute(_CREATE_OBJECT_STAGE)
                    await cursor.execute(_CLEAR_OBJECT_STAGE)  # whatever an earlier call left
                    await _copy_rows(cursor, _COPY_OBJECT_STAGE, OBJECT_COPY_TYPES, objects)
                    await cursor.execute(_UPSERT_STAGED_OBJECTS)
                if len(events) < _COPY_FROM_ROWS:
                    if events:
                        await cursor.executemany(_INSERT_EVENTS, events)
                else:
                    await _copy_rows(cursor, _COPY_EVENTS, EVENT_COPY_TYPES, events)

        await self._run(op)


class PostgresStore:
    """The PostgreSQL backend (see the module docstring); build it with ``open_store``.

    ``conninfo`` is a libpq URL or key/value string. ``max_size`` bounds the pool (readers and
    writers share it); ``timeout`` (seconds) bounds connecting, waiting for a pooled connection
    and waiting for a row lock (``lock_timeout``) before :class:`StoreUnavailable`.
    """

    def __init__(
        self, *, conninfo: str, min_size: int = 1, max_size: int = 8, timeout: float = 10.0
    ) -> None:
        self._conninfo = conninfo
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._pool: AsyncConnectionPool[_Conn] | None = None
        # For messages only: the conninfo may carry a password.
        self._where = "postgresql " + _redacted(conninfo)

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r})"

    # -- lifecycle

    async def open(self) -> None:
        """Open the pool (failing after ``timeout`` if the server is unreachable), migrate."""
        if self._pool is not None:
            raise StoreError(f"{self!r} is already open")
        pool: AsyncConnectionPool[_Conn] = AsyncConnectionPool(
            self._conninfo,
            min_size=self._min_size,
            max_size=self._max_size,
            open=False,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(self._timeout))},
            configure=_configure(self._timeout),
            timeout=self._timeout,
            name="creditlink-store",
        )
        try:
            await pool.open(wait=True, timeout=self._timeout)
            async with pool.connection() as conn:
                await _migrate(conn, self._where)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, psycopg.Error):
                raise _translate(exc, self._where) from exc
            raise
        self._pool = pool

    async def close(self) -> None:
        """Close the pool; safe to call more than once."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

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

    def _require_pool(self) -> AsyncConnectionPool[_Conn]:
        if self._pool is None:
            raise StoreError(f"{self!r} is not open")
        return self._pool

    async def _read(self, op: Callable[[_Conn], Awaitable[_T]]) -> _T:
        pool = self._require_pool()
        try:
            async with pool.connection() as conn:
                return await op(conn)
        except psycopg.Error as exc:
            raise _translate(exc, self._where) from exc

    async def _update(self, query: str, params: Sequence[Any]) -> bool:
        # One statement on an autocommit connection: atomic on its own.
        async def op(conn: _Conn) -> bool:
            cursor = await conn.execute(query, params)
            return cursor.rowcount == 1

        return await self._read(op)

    async def _fetchall(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async def op(conn: _Conn) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

        return await self._read(op)

    # -- writes

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One write transaction on a pooled connection: commit on exit, rollback on error."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        pool = self._require_pool()
        tx: _PostgresTransaction | None = None
        try:
            async with pool.connection() as conn, conn.transaction():
                tx = _PostgresTransaction(conn, self._where)
                try:
                    yield tx
                finally:
                    tx.done = True
                if tx.failed:
                    # Raising inside conn.transaction() makes psycopg roll back.
                    raise _Doomed
        except _Doomed:
            raise StoreError("the transaction was rolled back after a failed operation") from None
        except psycopg.Error as exc:
            # Acquiring the connection, BEGIN or COMMIT failed (errors from the transaction's
            # own operations arrive here already translated).
            raise _translate(exc, self._where) from exc

    # -- reads

    async def head(self) -> LogHead:
        """The latest committed log head."""
        rows = await self._fetchall(_HEAD_QUERY, ())
        return _head(rows[0] if rows else None)

    async def read_entries(
        self, start: int, *, limit: int, kinds: Collection[str] | None = None
    ) -> list[EntryRow]:
        """Up to ``limit`` entries from leaf ``start`` on, in leaf order, of ``kinds`` if given."""
        check_range(start, limit)
        if kinds is None:
            rows = await self._fetchall(
                _SELECT_ENTRIES_FROM,
                (start, limit),
            )
        else:
            rows = await self._fetchall(
                _SELECT_ENTRIES_OF_KINDS,
                (start, list(kinds), limit),
            )
        return [_entry(row) for row in rows]

    async def get_entry(self, leaf_index: int) -> EntryRow | None:
        """The entry at ``leaf_index``, or ``None``."""
        rows = await self._fetchall(_SELECT_ENTRY, (leaf_index,))
        return _entry(rows[0]) if rows else None

    async def get_entries(self, leaf_indexes: Collection[int]) -> dict[int, EntryRow]:
        """The entries at ``leaf_indexes``, by leaf, in one query."""
        wanted = sorted(set(leaf_indexes))
        if not wanted:
            return {}
        rows = await self._fetchall(_SELECT_ENTRIES_ANY, (wanted,))
        return {entry.leaf_index: entry for entry in map(_entry, rows)}

    async def get_message(self, message_id: str) -> MessageRow | None:
        """The accepted message with this id, or ``None``."""
        rows = await self._fetchall(_SELECT_MESSAGE, (message_id,))
        return _message(rows[0]) if rows else None

    async def get_batch(self, batch_id: str) -> BatchRow | None:
        """The batch with this id, or ``None``."""
        rows = await self._fetchall(_SELECT_BATCH, (batch_id,))
        if not rows:
            return None
        row = rows[0]
        return BatchRow(
            batch_id=row[0],
            sender_node_id=row[1],
            head_envelope=row[2],
            first_leaf_index=row[3],
            count=row[4],
        )

    async def read_tiles(self, ids: Sequence[TileId]) -> dict[TileId, bytes]:
        """The stored tiles among ``ids``; a tile never written is absent from the result."""
        if not ids:
            return {}
        rows = await self._fetchall(
            "SELECT t.level, t.idx, t.hashes FROM tiles AS t "
            "JOIN unnest(%s::integer[], %s::bigint[]) AS k(level, idx) "
            "ON t.level = k.level AND t.idx = k.idx",
            ([level for level, _ in ids], [index for _, index in ids]),
        )
        return {(level, index): hashes for level, index, hashes in rows}

    async def entries_by_subject(
        self, subject_key: str, *, limit: int, after: int | None = None
    ) -> list[EntryRow]:
        """Up to ``limit`` entries about ``subject_key`` in leaf order, after leaf ``after``."""
        check_range(0, limit)
        rows = await self._fetchall(
            _SELECT_SUBJECT,
            (subject_key, -1 if after is None else after, limit),
        )
        return [_entry(row) for row in rows]

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of the entries ``start <= leaf_index < end``, in leaf order."""
        if start < 0 or end < start:
            raise ValueError(f"need 0 <= start <= end, got {start}, {end}")
        rows = await self._fetchall(
            "SELECT leaf_hash FROM log_entries WHERE leaf_index >= %s AND leaf_index < %s "
            "ORDER BY leaf_index",
            (start, end),
        )
        return [h for (h,) in rows]

    # -- the outbox

    async def next_outbox(self, destination: str, *, now: datetime, limit: int) -> list[OutboxRow]:
        """The due head of ``destination``'s queue, in id order (see ``Store.next_outbox``)."""
        check_aware("now", now)
        check_range(0, limit)
        rows = await self._fetchall(_SELECT_OUTBOX_HEAD, (destination, limit))
        return due_prefix([_outbox(row) for row in rows], now)

    async def outbox_next_attempt(self, destination: str) -> datetime | None:
        """When the first pending row of ``destination`` is due; ``None`` if none is pending."""
        rows = await self._fetchall(_SELECT_OUTBOX_NEXT_ATTEMPT, (destination,))
        if not rows:
            return None
        due: datetime = rows[0][0]
        return due

    async def mark_delivered(self, id: int, *, receipt: bytes, at: datetime) -> bool:
        """Record a delivery and its receipt; ``False`` unless the row was pending."""
        if not receipt:
            raise ValueError("receipt must not be empty")
        check_aware("at", at)
        return await self._update(_MARK_DELIVERED, (receipt, at, id))

    async def mark_retry(self, id: int, *, error: str, next_attempt_at: datetime) -> bool:
        """Record a transient failure and the next attempt; ``False`` unless pending."""
        check_aware("next_attempt_at", next_attempt_at)
        return await self._update(_MARK_RETRY, (error, next_attempt_at, id))

    async def mark_failed(self, id: int, *, error: str) -> bool:
        """Record a permanent failure; ``False`` unless the row was pending."""
        return await self._update(_MARK_FAILED, (error, id))

    async def outbox_destinations(self) -> list[str]:
        """The destinations with pending rows, sorted."""
        return [d for (d,) in await self._fetchall(_SELECT_OUTBOX_DESTINATIONS, ())]

    async def outbox_stats(self) -> dict[str, OutboxStats]:
        """Per destination with pending or failed rows: depth, oldest pending, failed."""
        return {
            destination: OutboxStats(depth=depth, oldest_enqueued_at=oldest, failed=failed)
            for destination, depth, oldest, failed in await self._fetchall(_SELECT_OUTBOX_STATS, ())
        }

    async def outbox_status(self, message_id: str) -> list[OutboxRow]:
        """Every outbox row of ``message_id``, in id order."""
        rows = await self._fetchall(_SELECT_OUTBOX_STATUS, (message_id,))
        return [_outbox(row) for row in rows]

    # -- the feed (entries mirrored from other nodes' logs; gateway/feed)

    async def feed_cursor(self, origin_node_id: str) -> FeedCursor | None:
        """Where the mirror of ``origin_node_id``'s log stands, or ``None``."""
        rows = await self._fetchall(_SELECT_FEED_CURSOR, (origin_node_id,))
        return _feed_cursor(rows[0]) if rows else None

    async def feed_cursors(self) -> list[FeedCursor]:
        """The cursor of every origin mirrored, sorted by origin."""
        return [_feed_cursor(row) for row in await self._fetchall(_SELECT_FEED_CURSORS, ())]

    async def advance_feed(
        self, cursor: FeedCursor, entries: Sequence[FeedEntry], *, expected_next: int | None
    ) -> None:
        """Store ``entries`` and move the cursor in one transaction (``Store.advance_feed``)."""
        check_feed_advance(cursor, entries, expected_next)
        pool = self._require_pool()
        try:
            async with pool.connection() as conn, conn.transaction():
                await _advance_feed(conn, cursor, entries, expected_next)
        except psycopg.Error as exc:
            raise _translate(exc, self._where) from exc

    async def read_feed(
        self, origin_node_id: str, *, start: int, limit: int, kinds: Collection[str] | None = None
    ) -> list[FeedEntry]:
        """Up to ``limit`` mirrored entries of the origin from leaf ``start`` on, in leaf order."""
        check_range(start, limit)
        if kinds is None:
            rows = await self._fetchall(_SELECT_FEED_FROM, (origin_node_id, start, limit))
        else:
            rows = await self._fetchall(
                _SELECT_FEED_OF_KINDS, (origin_node_id, start, list(kinds), limit)
            )
        return [_feed_entry(row) for row in rows]

    async def feed_entries_by_subject(self, subject_key: str, *, limit: int) -> list[FeedEntry]:
        """Up to ``limit`` mirrored entries about ``subject_key``, by origin then leaf."""
        check_range(0, limit)
        rows = await self._fetchall(_SELECT_FEED_SUBJECT, (subject_key, limit))
        return [_feed_entry(row) for row in rows]

    async def feed_entries_by_object(self, object_id: str, *, limit: int) -> list[FeedEntry]:
        """Up to ``limit`` mirrored statements about ``object_id``, by origin then leaf."""
        check_range(0, limit)
        rows = await self._fetchall(_SELECT_FEED_OBJECT, (object_id, limit))
        return [_feed_entry(row) for row in rows]

    async def feed_entries_without_object_id(
        self, *, after: tuple[str, int] | None, limit: int
    ) -> list[FeedEntry]:
        """Up to ``limit`` mirrored entries with no object id, by origin then leaf, after
        ``after``."""
        check_range(0, limit)
        origin, leaf = after if after is not None else ("", -1)
        rows = await self._fetchall(_SELECT_FEED_NO_OBJECT, (origin, origin, leaf, limit))
        return [_feed_entry(row) for row in rows]

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
        rows = await self._fetchall(_SELECT_OBJECT, (kind, object_id))
        return object_row(rows[0], _utc) if rows else None

    async def get_objects(self, keys: Collection[ObjectKey]) -> dict[ObjectKey, DomainObject]:
        """The stored objects among ``keys``."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}

        async def op(conn: _Conn) -> dict[ObjectKey, DomainObject]:
            return await _get_objects(conn, wanted)

        return await self._read(op)

    async def query_objects(self, query: DomainQuery) -> list[DomainObject]:
        """One page of objects matching ``query``."""
        sql, params = query_sql("postgres", query)
        return [object_row(r, _utc) for r in await self._fetchall(sql, params)]

    async def object_events(self, kind: str, object_id: str) -> list[DomainEvent]:
        """Every event of one object, oldest first."""
        rows = await self._fetchall(_SELECT_EVENTS, (kind, object_id))
        return [event_row(r, _utc) for r in rows]


class _Doomed(Exception):
    """Internal: makes ``conn.transaction()`` roll back a transaction whose operation failed."""


def _redacted(conninfo: str) -> str:
    """The conninfo without a password (for error messages and reprs)."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "<invalid conninfo>"
    params.pop("password", None)
    return make_conninfo(**{k: str(v) for k, v in params.items()})


# --- the feed: statements and the code of one transaction -----------------------------------

_INSERT_FEED_ENTRY = (
    "INSERT INTO feed_entries (origin_node_id, leaf_index, kind, sender_node_id, message_id, "
    "subject_key, envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, "
    "proof_tree_size, proof_checkpoint, object_id) VALUES "
    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_SELECT_FEED_FROM = (
    "SELECT origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, "
    "envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, proof_tree_size, "
    "proof_checkpoint, object_id FROM feed_entries WHERE origin_node_id = %s AND leaf_index >= %s "
    "ORDER BY leaf_index LIMIT %s"
)
_SELECT_FEED_OF_KINDS = (
    "SELECT origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, "
    "envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, proof_tree_size, "
    "proof_checkpoint, object_id FROM feed_entries WHERE origin_node_id = %s AND leaf_index >= %s "
    "AND kind = ANY(%s) ORDER BY leaf_index LIMIT %s"
)
_SELECT_FEED_SUBJECT = (
    "SELECT origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, "
    "envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, proof_tree_size, "
    "proof_checkpoint, object_id FROM feed_entries WHERE subject_key = %s "
    "ORDER BY origin_node_id, leaf_index LIMIT %s"
)
_SELECT_FEED_NO_OBJECT = (
    "SELECT origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, "
    "envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, proof_tree_size, "
    "proof_checkpoint, object_id FROM feed_entries WHERE object_id IS NULL "
    "AND (origin_node_id > %s OR (origin_node_id = %s AND leaf_index > %s)) "
    "ORDER BY origin_node_id, leaf_index LIMIT %s"
)
_SET_FEED_OBJECT = (
    "UPDATE feed_entries SET object_id = %s "
    "WHERE origin_node_id = %s AND leaf_index = %s AND object_id IS NULL"
)
_SELECT_FEED_OBJECT = (
    "SELECT origin_node_id, leaf_index, kind, sender_node_id, message_id, subject_key, "
    "envelope, batched, leaf_hash, integrated_at, received_at, proof_hashes, proof_tree_size, "
    "proof_checkpoint, object_id FROM feed_entries WHERE object_id = %s "
    "ORDER BY origin_node_id, leaf_index LIMIT %s"
)
_SELECT_FEED_CURSOR = (
    "SELECT origin_node_id, next_leaf_index, checkpoint, checkpoint_size, root_hash, "
    "updated_at FROM feed_cursors WHERE origin_node_id = %s"
)
_SELECT_FEED_CURSORS = (
    "SELECT origin_node_id, next_leaf_index, checkpoint, checkpoint_size, root_hash, "
    "updated_at FROM feed_cursors ORDER BY origin_node_id"
)
_INSERT_FEED_CURSOR = (
    "INSERT INTO feed_cursors (origin_node_id, next_leaf_index, checkpoint, checkpoint_size, "
    "root_hash, updated_at) VALUES (%s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (origin_node_id) DO NOTHING"
)
_UPDATE_FEED_CURSOR = (
    "UPDATE feed_cursors SET next_leaf_index = %s, checkpoint = %s, checkpoint_size = %s, "
    "root_hash = %s, updated_at = %s WHERE origin_node_id = %s AND next_leaf_index = %s"
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
        batched=row[7],
        leaf_hash=row[8],
        integrated_at=row[9],
        received_at=row[10],
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
        updated_at=row[5],
    )


async def _advance_feed(
    conn: _Conn, cursor: FeedCursor, entries: Sequence[FeedEntry], expected_next: int | None
) -> None:
    """The statements of ``advance_feed``, inside the caller's transaction."""
    values = (
        cursor.next_leaf_index,
        cursor.checkpoint,
        cursor.checkpoint_size,
        cursor.root_hash,
        cursor.updated_at,
    )
    # The cursor first, as a compare-and-set: the UPDATE locks the row, so a second follower
    # sharing the database waits for this transaction and then matches no row (READ
    # COMMITTED re-checks the condition); the INSERT of a first cursor conflicts likewise.
    if expected_next is None:
        moved = await conn.execute(
            _INSERT_FEED_CURSOR, (cursor.origin_node_id, cursor.next_leaf_index, *values[1:])
        )
    else:
        moved = await conn.execute(
            _UPDATE_FEED_CURSOR, (*values, cursor.origin_node_id, expected_next)
        )
    if moved.rowcount != 1:
        raise StoreConflict(
            f"the feed cursor of {cursor.origin_node_id!r} is not at the expected "
            f"{expected_next}: another follower moved it"
        )
    if entries:
        async with conn.cursor() as cur:
            # executemany runs in pipeline mode: one round trip for all rows.
            await cur.executemany(
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
                        e.batched,
                        e.leaf_hash,
                        e.integrated_at,
                        e.received_at,
                        None if e.proof_hashes is None else b"".join(e.proof_hashes),
                        e.proof_tree_size,
                        e.proof_checkpoint,
                        e.object_id,
                    )
                    for e in entries
                ],
            )


# --- domain objects -------------------------------------------------------------------------

_UPSERT_OBJECTS = upsert_objects_sql("postgres")
_INSERT_EVENTS = insert_events_sql("postgres")

# Domain rows of a large append (a streamed batch projects one object and one event per
# record) go by binary COPY, several times faster than executemany's pipelined statements; a
# few rows go by executemany, which costs one round trip instead of three.
_COPY_FROM_ROWS = 64
# The objects' staging table (attrs staged as the JSON text object_params renders, cast once
# in the upsert).
_OBJECT_STAGE = "domain_objects_stage"
_CREATE_OBJECT_STAGE = create_object_stage_sql(_OBJECT_STAGE)
_CLEAR_OBJECT_STAGE = f"TRUNCATE {_OBJECT_STAGE}"
_COPY_OBJECT_STAGE = copy_objects_sql(_OBJECT_STAGE)
_UPSERT_STAGED_OBJECTS = upsert_staged_objects_sql(_OBJECT_STAGE)
_COPY_EVENTS = copy_events_sql()
_SELECT_OBJECT = select_object_sql("postgres")
_SELECT_OBJECTS_BY_KEY = select_keys_sql("postgres")
_SELECT_EVENTS = select_events_sql("postgres")


async def _copy_rows(
    cursor: psycopg.AsyncCursor[tuple[Any, ...]],
    sql: str,
    types: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """``COPY ... FROM STDIN (FORMAT BINARY)`` of ``rows``, each value sent in the wire format
    of its column's type in ``types``."""
    async with cursor.copy(sql) as copy:
        copy.set_types(list(types))
        for row in rows:
            await copy.write_row(row)


def _same(value: datetime) -> datetime:
    return value


def _utc(value: Any) -> datetime:
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


async def _get_objects(conn: _Conn, keys: list[ObjectKey]) -> dict[ObjectKey, DomainObject]:
    cursor = await conn.execute(
        _SELECT_OBJECTS_BY_KEY, ([k for k, _ in keys], [i for _, i in keys])
    )
    found = (object_row(r, _utc) for r in await cursor.fetchall())
    return {o.key: o for o in found}
