"""Where a subscription keeps its cursor between runs of a program.

A subscription resumes from a cursor (the next log leaf to read). Within one run the client
keeps it in memory across reconnections; a :class:`CursorStore` keeps it across restarts of
the program. The protocol is two methods, so a platform can keep cursors in its own database
(in the same transaction as what it did with the entries, for exactly-once processing);
:class:`SQLiteCursorStore` is the ready-made one: one small SQLite file, many subscriptions.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["CursorStore", "SQLiteCursorStore"]


@runtime_checkable
class CursorStore(Protocol):
    """Keeps one cursor per subscription key.

    ``save`` is called with non-decreasing cursors for a key while a subscription runs (one
    started at an explicit earlier cursor saves from there); ``load`` returns the last saved
    one, or ``None`` for a key never saved. Both are called from the thread (or event loop)
    iterating the subscription, so they must be quick.
    """

    def load(self, key: str) -> int | None:
        """The cursor last saved for ``key``, or ``None``."""
        ...

    def save(self, key: str, cursor: int) -> None:
        """Record ``cursor`` for ``key`` durably before returning."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
    key TEXT PRIMARY KEY NOT NULL,
    cursor INTEGER NOT NULL CHECK (cursor >= 0)
)
"""


class SQLiteCursorStore:
    """Cursors in one SQLite file (created with mode 0600 if missing), safe across threads.

    WAL mode with ``synchronous=NORMAL``: a saved cursor survives the program crashing; a power
    loss may take back the last saves, which only means entries are delivered again (the
    subscription never skips, it may repeat after a crash). The last save for a key wins: run
    one subscription per key at a time.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open (or create) the store at ``path``."""
        self._path = Path(path)
        if not self._path.exists():
            # Create it private: cursors reveal what a platform reads and how far.
            fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        self._lock = threading.Lock()
        # One connection shared under a lock: sqlite3 connections may cross threads when the
        # caller serializes their use, which the lock does.
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    def load(self, key: str) -> int | None:
        """The cursor last saved for ``key``, or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT cursor FROM cursors WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        cursor = row[0]
        if not isinstance(cursor, int) or cursor < 0:
            raise ValueError(f"{self._path}: the cursor stored for {key!r} is not valid")
        return cursor

    def save(self, key: str, cursor: int) -> None:
        """Record ``cursor`` for ``key``, replacing what was stored."""
        if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
            raise ValueError("a cursor is a non-negative integer")
        with self._lock:
            self._db.execute(
                "INSERT INTO cursors (key, cursor) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET cursor = excluded.cursor",
                (key, cursor),
            )

    def close(self) -> None:
        """Close the file (the store cannot be used afterwards)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteCursorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteCursorStore({os.fspath(self._path)!r})"
