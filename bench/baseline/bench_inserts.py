"""The raw batched-insert ceiling of log entries, and what the store keeps of it.

    python bench/baseline/bench_inserts.py                     # 200,000 rows, batches of 1,000
    python bench/baseline/bench_inserts.py --rows 50000 --batch 10000 --repeat 1
    CREDITLINK_BENCH_PG=postgresql://postgres@127.0.0.1:5432/test python bench/baseline/...

For each backend the same rows go into the same table with the same indexes (the DDL is the
store's own migration file), one transaction per batch, with the same durability settings:

* **raw** — the driver alone on pre-built tuples: ``sqlite3`` ``executemany`` (WAL,
  ``synchronous=FULL``), and for PostgreSQL both ``COPY ... FROM STDIN (FORMAT BINARY)`` and
  ``executemany`` in pipeline mode. The best raw line is the ceiling (ratio 1.00).
* **store insert_entries** — ``Store.transaction()`` + ``insert_entries`` on ``EntryRow``
  objects: the store's overhead (building tuples, the writer thread or the async driver).
* **store append tx** — the transaction the ledger runs per batch: ``lock_head``,
  ``find_messages`` and ``insert_messages`` for one batch message, ``insert_entries``,
  ``upsert_tiles`` for the batch's tiles, ``set_head``.

``bench_ingest.py`` also uses :func:`written_sqlite` / :func:`written_postgres` and the raw
inserts after them: every per-record row a real ingest wrote (log entries, domain objects,
history events), read back from the gateway's store and inserted again the same raw way into a
fresh database with the store's whole schema, as the ceiling of everything ingest must write.

Rows look like batch items: ~400-byte payloads (``--payload``), no envelope, a USCC-like subject
key (so the subject index is maintained), a 32-byte leaf hash. The gateway's end-to-end ingest
rate is compared with these ceilings (``docs/performance.md``). PostgreSQL is skipped with a
message if the server is unreachable; each run uses a fresh database file or schema.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from creditlink.gateway.store import EntryRow, LogHead, MessageRow, open_store
from creditlink.gateway.store._common import load_migrations

_INSERT_SQLITE = (
    "INSERT INTO log_entries (leaf_index, message_id, batch_id, index_in_batch, kind, "
    "sender_node_id, payload_type, payload, envelope, leaf_hash, subject_key, integrated_at) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_PG = (
    "INSERT INTO log_entries (leaf_index, message_id, batch_id, index_in_batch, kind, "
    "sender_node_id, payload_type, payload, envelope, leaf_hash, subject_key, integrated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_COPY_PG = (
    "COPY log_entries (leaf_index, message_id, batch_id, index_in_batch, kind, "
    "sender_node_id, payload_type, payload, envelope, leaf_hash, subject_key, integrated_at) "
    "FROM STDIN (FORMAT BINARY)"
)
_PG_TYPES = [
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
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Result:
    backend: str
    path: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def make_rows(n: int, batch: int, payload_size: int) -> list[EntryRow]:
    payloads = [os.urandom(payload_size) for _ in range(1024)]
    at = datetime.now(UTC)
    return [
        EntryRow(
            leaf_index=i,
            message_id=f"item-{i:012d}",
            batch_id=f"batch-{i // batch:08d}",
            index_in_batch=i % batch,
            kind="record",
            sender_node_id="node-350100",
            payload_type="application/vnd.creditlink.record.v1+protobuf",
            payload=payloads[i % 1024],
            envelope=None,
            leaf_hash=hashlib.sha256(i.to_bytes(8, "big")).digest(),
            subject_key=f"91350100M{i % 50_000:08d}X",
            integrated_at=at,
        )
        for i in range(n)
    ]


def as_tuple(r: EntryRow, at: Any) -> tuple[Any, ...]:
    return (
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
        at,
    )


def chunks(seq: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


# --- SQLite -----------------------------------------------------------------------------------


def sqlite_raw(path: Path, batches: list[Sequence[tuple[Any, ...]]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # as the store: fsync the WAL at every commit
    conn.executescript(load_migrations("sqlite")[0].sql)
    t0 = time.perf_counter()
    for batch in batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT_SQLITE, batch)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


# --- every row an ingest wrote -----------------------------------------------------------------

#: The tables a streamed ingest writes a row of for every record: the log entry, and the domain
#: projection's object and history event (batches, messages, tiles and the head are a handful of
#: rows per batch).
PER_RECORD_TABLES = ("log_entries", "domain_objects", "domain_events")


@dataclass
class Written:
    """The per-record rows a gateway wrote, read back from its store, grouped as it appended."""

    columns: dict[str, list[str]]
    #: One list of (table, rows) per batch, in append order.
    batches: list[list[tuple[str, list[tuple[Any, ...]]]]]
    records: int

    @property
    def rows(self) -> int:
        return sum(len(rows) for batch in self.batches for _, rows in batch)


def _group(
    tables: dict[str, list[tuple[Any, ...]]], leaf_at: dict[str, int], batch: int, records: int
) -> list[list[tuple[str, list[tuple[Any, ...]]]]]:
    groups: list[list[tuple[str, list[tuple[Any, ...]]]]] = []
    for first in range(0, records, batch):
        groups.append(
            [
                (t, [r for r in rows if first <= r[leaf_at[t]] < first + batch])
                for t, rows in tables.items()
            ]
        )
    return groups


def written_sqlite(path: Path, batch: int, records: int) -> Written:
    """The per-record rows of the gateway store at ``path`` (a log that began empty and took
    ``records`` records in appends of ``batch``), exactly as stored."""
    conn = sqlite3.connect(path)
    try:
        tables: dict[str, list[tuple[Any, ...]]] = {}
        columns: dict[str, list[str]] = {}
        for t in PER_RECORD_TABLES:
            cur = conn.execute(f"SELECT * FROM {t} ORDER BY leaf_index")
            columns[t] = [d[0] for d in cur.description]
            tables[t] = cur.fetchall()
    finally:
        conn.close()
    leaf_at = {t: columns[t].index("leaf_index") for t in PER_RECORD_TABLES}
    return Written(columns, _group(tables, leaf_at, batch, records), records)


def sqlite_raw_written(path: Path, written: Written) -> float:
    """Seconds to insert ``written`` into a fresh file with the store's whole schema, one
    transaction per batch, the store's durability settings."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    for migration in load_migrations("sqlite"):
        conn.executescript(migration.sql)
    sql = {
        t: f"INSERT INTO {t} ({', '.join(c)}) VALUES ({', '.join('?' * len(c))})"
        for t, c in written.columns.items()
    }
    t0 = time.perf_counter()
    for batch in written.batches:
        conn.execute("BEGIN IMMEDIATE")
        for table_name, rows in batch:
            conn.executemany(sql[table_name], rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def written_postgres(url: str, batch: int, records: int) -> tuple[Written, dict[str, list[str]]]:
    """As :func:`written_sqlite`, from a PostgreSQL store; also each column's type name."""
    import psycopg

    tables: dict[str, list[tuple[Any, ...]]] = {}
    columns: dict[str, list[str]] = {}
    types: dict[str, list[str]] = {}
    with psycopg.connect(url) as conn:
        for t in PER_RECORD_TABLES:
            cur = conn.execute(f"SELECT * FROM {t} ORDER BY leaf_index".encode())
            assert cur.description is not None
            columns[t] = [d.name for d in cur.description]
            tables[t] = cur.fetchall()
            types[t] = [
                conn.execute(b"SELECT format_type(%s, NULL)", (d.type_code,)).fetchone()[0]
                for d in cur.description
            ]
    leaf_at = {t: columns[t].index("leaf_index") for t in PER_RECORD_TABLES}
    return Written(columns, _group(tables, leaf_at, batch, records), records), types


def pg_raw_written(url: str, written: Written, types: dict[str, list[str]]) -> float:
    """Seconds to ``COPY ... FORMAT BINARY`` ``written`` into a fresh schema with the store's
    whole schema, one transaction per batch."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for migration in load_migrations("postgres"):
            conn.execute(migration.sql.encode())
        t0 = time.perf_counter()
        for batch in written.batches:
            with conn.transaction(), conn.cursor() as cur:
                for table_name, rows in batch:
                    cols = ", ".join(written.columns[table_name])
                    copy_sql = f"COPY {table_name} ({cols}) FROM STDIN (FORMAT BINARY)"
                    with cur.copy(copy_sql.encode()) as cp:
                        cp.set_types(types[table_name])
                        for row in rows:
                            cp.write_row(row)
        return time.perf_counter() - t0


# --- through the store ------------------------------------------------------------------------


async def store_inserts(url: str, batches: list[Sequence[EntryRow]]) -> float:
    async with open_store(url) as store:
        t0 = time.perf_counter()
        for batch in batches:
            async with store.transaction() as tx:
                await tx.insert_entries(batch)
        return time.perf_counter() - t0


async def store_appends(url: str, batches: list[Sequence[EntryRow]]) -> float:
    tile = b"\x00" * 32 * 256
    async with open_store(url) as store:
        t0 = time.perf_counter()
        for batch in batches:
            first = batch[0]
            async with store.transaction() as tx:
                head = await tx.lock_head()
                assert first.batch_id is not None
                found = await tx.find_messages([first.batch_id])
                assert not found
                await tx.insert_entries(batch)
                await tx.insert_messages(
                    [
                        MessageRow(
                            message_id=first.batch_id,
                            request_digest=first.leaf_hash,
                            receipt=b"r" * 300,
                            first_leaf_index=first.leaf_index,
                            leaf_count=len(batch),
                            sender_node_id=first.sender_node_id,
                            accepted_at=first.integrated_at,
                        )
                    ]
                )
                # About one level-0 tile per 256 leaves, plus the partial tiles above.
                base = first.leaf_index // 256
                tiles = {(0, base + k): tile for k in range(-(-len(batch) // 256))}
                tiles[(1, base // 256)] = tile[:32]
                await tx.upsert_tiles(tiles)
                await tx.set_head(
                    LogHead(
                        size=head.size + len(batch),
                        frontier=tile[: 32 * 17],
                        checkpoint="x" * 200,
                        updated_at=first.integrated_at,
                    )
                )
        return time.perf_counter() - t0


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_fresh_schema(base: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    schema = f"creditlink_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"'.encode())

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())

    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}", drop


def pg_raw(url: str, batches: list[Sequence[tuple[Any, ...]]], *, copy: bool) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(load_migrations("postgres")[0].sql.encode())
        t0 = time.perf_counter()
        for batch in batches:
            with conn.transaction(), conn.cursor() as cur:
                if copy:
                    with cur.copy(_COPY_PG) as cp:
                        cp.set_types(_PG_TYPES)
                        for row in batch:
                            cp.write_row(row)
                else:
                    cur.executemany(_INSERT_PG, batch)
        return time.perf_counter() - t0


def pg_reachable(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            settings = [
                conn.execute(f"SHOW {name}".encode()).fetchall()[0][0]
                for name in ("server_version", "synchronous_commit", "fsync")
            ]
        version, sync, fsync = settings
        return f"PostgreSQL {version}, synchronous_commit={sync}, fsync={fsync}"
    except Exception as exc:
        print(f"PostgreSQL skipped: {url} unreachable ({exc})", file=sys.stderr)
        return None


# --- main -------------------------------------------------------------------------------------


def interleaved(repeat: int, variants: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Best time of each variant over ``repeat`` rounds that run every variant once.

    Round-robin rather than one variant after the other, so that slow phases of the machine
    (fsync latency, other load) hit every variant alike.
    """
    times = {name: float("inf") for name in variants}
    for _ in range(repeat):
        for name, run in variants.items():
            times[name] = min(times[name], run())
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--payload", type=int, default=400, help="payload bytes per row")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per line")
    parser.add_argument("--dir", default=None, help="where SQLite files go (default: temp)")
    parser.add_argument(
        "--pg",
        default=os.environ.get("CREDITLINK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()

    rows = make_rows(args.rows, args.batch, args.payload)
    row_batches = chunks(rows, args.batch)
    micros = (rows[0].integrated_at - _EPOCH) // timedelta(microseconds=1)  # as the store
    sqlite_tuples = chunks([as_tuple(r, micros) for r in rows], args.batch)
    pg_tuples = chunks([as_tuple(r, r.integrated_at) for r in rows], args.batch)
    results: list[Result] = []

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-inserts-") as tmp:
        print(
            f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=FULL), files in {tmp}; "
            f"{args.rows:,} rows, batches of {args.batch:,}, payload {args.payload} B, "
            f"best of {args.repeat} interleaved rounds"
        )

        def on_sqlite(run: Callable[[Path], float]) -> Callable[[], float]:
            def once() -> float:
                path = Path(tmp) / "run.sqlite3"
                try:
                    return run(path)
                finally:
                    # Every run starts from an empty file, and no earlier run's pages are
                    # left for the kernel to write back during the next one.
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{path}{suffix}").unlink(missing_ok=True)

            return once

        times = interleaved(
            args.repeat,
            {
                "raw sqlite3 executemany": on_sqlite(lambda p: sqlite_raw(p, sqlite_tuples)),
                "store insert_entries": on_sqlite(
                    lambda p: asyncio.run(store_inserts(str(p), row_batches))
                ),
                "store append tx": on_sqlite(
                    lambda p: asyncio.run(store_appends(str(p), row_batches))
                ),
            },
        )
        results += [Result("sqlite", name, args.rows, t) for name, t in times.items()]

    server = None if args.no_pg else pg_reachable(args.pg)
    if server:
        print(server)

        def on_pg(run: Callable[[str], float]) -> Callable[[], float]:
            def once() -> float:
                url, drop = pg_fresh_schema(args.pg)
                try:
                    return run(url)
                finally:
                    drop()

            return once

        times = interleaved(
            args.repeat,
            {
                "raw COPY BINARY": on_pg(lambda url: pg_raw(url, pg_tuples, copy=True)),
                "raw executemany (pipeline)": on_pg(lambda url: pg_raw(url, pg_tuples, copy=False)),
                "store insert_entries": on_pg(
                    lambda url: asyncio.run(store_inserts(url, row_batches))
                ),
                "store append tx": on_pg(lambda url: asyncio.run(store_appends(url, row_batches))),
            },
        )
        results += [Result("postgres", name, args.rows, t) for name, t in times.items()]

    ceilings: dict[str, float] = {}
    for r in results:
        if r.path.startswith("raw"):
            ceilings[r.backend] = max(ceilings.get(r.backend, 0.0), r.rate)
    print()
    print(f"{'backend':<9} {'path':<28} {'rows':>9} {'seconds':>8} {'rows/s':>10} {'vs raw':>7}")
    for r in results:
        ratio = r.rate / ceilings[r.backend]
        print(
            f"{r.backend:<9} {r.path:<28} {r.rows:>9,} {r.seconds:>8.2f} "
            f"{r.rate:>10,.0f} {ratio:>7.2f}"
        )


if __name__ == "__main__":
    main()
