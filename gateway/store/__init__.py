"""The gateway's storage: one async interface, SQLite (default) and PostgreSQL backends.

The store persists rows and runs transactions; it never hashes, signs or sequences: that is
``gateway/ledger``'s job (STYLE 15). Both backends pass one contract suite
(``tests/gateway/store/contract.py``) against real databases.

    from creditlink.gateway.store import open_store

    async with open_store("sqlite:///var/lib/creditlink/log.sqlite3") as store:
        async with store.transaction() as tx:
            head = await tx.lock_head()
            seen = await tx.find_messages(ids)
            await tx.insert_entries(rows)          # rows built by the ledger
            await tx.upsert_tiles(tiles)
            await tx.set_head(new_head)
        # committed here: only now may the gateway acknowledge

Schema changes are numbered SQL files per backend in ``migrations/{sqlite,postgres}/``,
applied in order by ``open()``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

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
    SchemaTooNew,
    Store,
    StoreConflict,
    StoreError,
    StoreUnavailable,
    TileId,
    Transaction,
)
from creditlink.gateway.store.sqlite import SQLiteStore

__all__ = [
    "BatchRow",
    "DomainChanges",
    "DomainEvent",
    "DomainObject",
    "DomainQuery",
    "EntryRow",
    "FeedCursor",
    "FeedEntry",
    "LogHead",
    "MessageRow",
    "ObjectKey",
    "OutboxItem",
    "OutboxRow",
    "OutboxState",
    "OutboxStats",
    "SQLiteStore",
    "SchemaTooNew",
    "Store",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "TileId",
    "Transaction",
    "open_store",
    "sqlite_url",
]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The ``sqlite:///abs/path`` URL :func:`open_store` reads as the SQLite file ``path``.

    The path is made absolute (three slashes then the absolute path, as in ``file:///`` URLs)
    and percent-encoded, so a ``#``, ``?`` or ``%`` in a directory name survives the round trip.
    """
    absolute = Path(path).expanduser().absolute()
    return "sqlite:" + absolute.as_uri().removeprefix("file:")


def open_store(url: str) -> Store:
    """The store ``url`` names, not yet opened: ``await store.open()`` or ``async with``.

    * ``sqlite:///abs/path/log.sqlite3`` — SQLite, absolute path (as in ``file:///`` URLs);
      ``sqlite:relative/log.sqlite3`` or a plain path without a scheme — SQLite, relative to
      the working directory. The file is created (mode 0600) if it does not exist.
    * ``postgresql://user@host:5432/db?options=-csearch_path%3Dlog`` (or ``postgres://``) —
      PostgreSQL; any libpq URL parameter is passed through.

    Raises ``ValueError`` for anything else (including an in-memory SQLite database, which
    would not be durable).
    """
    if url.startswith(("postgresql://", "postgres://")):
        # Imported here: psycopg is the optional ``postgres`` extra.
        from creditlink.gateway.store.postgres import PostgresStore

        return PostgresStore(conninfo=url)
    if url.startswith("sqlite:"):
        parts = urlsplit(url)
        if parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"unsupported SQLite URL {url!r}: use sqlite:///absolute/path")
        path = unquote(parts.path)
        if not path or path == ":memory:":
            raise ValueError(f"SQLite URL {url!r} names no file (in-memory is not durable)")
        return SQLiteStore(path=Path(path))
    if _URL.match(url):
        raise ValueError(f"unknown store URL scheme in {url!r}: use sqlite:// or postgresql://")
    if not url or url == ":memory:":
        raise ValueError("the store needs a file path (in-memory is not durable)")
    return SQLiteStore(path=Path(url))
