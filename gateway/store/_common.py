"""Helpers both backends share: migration files, argument checks, UTC time.

Migrations are numbered SQL files per backend, ``migrations/<dialect>/NNNN_name.sql``, shipped
as package data. Versions start at 1 and have no gaps; the highest one is the schema version
this code knows, and a database reporting a higher one is refused (:class:`SchemaTooNew`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Literal

from creditlink.gateway.store.base import FeedCursor, FeedEntry, OutboxRow, SchemaTooNew, TileId
from creditlink.sdk.tlog import HASH_SIZE

__all__ = [
    "Migration",
    "check_aware",
    "check_feed_advance",
    "check_range",
    "check_tiles",
    "due_prefix",
    "load_migrations",
    "pending_migrations",
    "split_hashes",
    "utc_now",
]

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# A tile holds at most 256 node hashes (C2SP tlog-tiles); the schemas check the same bound.
_MAX_TILE_BYTES = 256 * HASH_SIZE


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its version (from the file name), name and SQL text."""

    version: int
    name: str
    sql: str


def load_migrations(dialect: Literal["sqlite", "postgres"]) -> tuple[Migration, ...]:
    """The dialect's migrations in version order; versions must run 1, 2, 3… without gaps."""
    folder = resources.files("creditlink.gateway.store").joinpath("migrations", dialect)
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            text = entry.read_text(encoding="utf-8")
            found.append(Migration(version=int(match[1]), name=entry.name, sql=text))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        # A packaging mistake, not a database state: fail loudly before touching the database.
        raise RuntimeError(f"{dialect} migrations must be numbered 1..n, found {versions}")
    return tuple(found)


def pending_migrations(
    migrations: tuple[Migration, ...], current: int, *, where: str
) -> tuple[Migration, ...]:
    """The migrations after schema version ``current``; refuse a database newer than the code."""
    known = migrations[-1].version if migrations else 0
    if current > known:
        raise SchemaTooNew(
            f"{where} has schema version {current}, newer than the {known} this creditlink "
            "knows; upgrade creditlink (a newer version migrated this database)"
        )
    return tuple(m for m in migrations if m.version > current)


def check_tiles(tiles: Mapping[TileId, bytes]) -> None:
    """Raise ``ValueError`` unless every tile is a non-empty run of at most 256 hashes."""
    for (level, index), hashes in tiles.items():
        if level < 0 or index < 0:
            raise ValueError(f"tile id must be non-negative, got {(level, index)}")
        if not hashes or len(hashes) % HASH_SIZE or len(hashes) > _MAX_TILE_BYTES:
            raise ValueError(f"tile {level}/{index} holds {len(hashes)} bytes")


def check_range(start: int, limit: int) -> None:
    """Raise ``ValueError`` for a negative start or a non-positive limit."""
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")


def check_aware(name: str, value: datetime) -> None:
    """Raise ``ValueError`` for a naive datetime (the store keeps every instant in UTC)."""
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")


def due_prefix(rows: Sequence[OutboxRow], now: datetime) -> list[OutboxRow]:
    """The leading ``rows`` (pending, in id order) that are due at ``now``.

    Cut at the first row not yet due rather than filtered: a message waiting for its retry
    keeps the ones behind it waiting too, so a destination receives its messages in order.
    """
    due: list[OutboxRow] = []
    for row in rows:
        if row.next_attempt_at > now:
            break
        due.append(row)
    return due


def split_hashes(data: bytes) -> tuple[bytes, ...]:
    """Concatenated hashes (an audit path as stored) as a tuple of 32-byte hashes."""
    if len(data) % HASH_SIZE:
        raise ValueError(f"{len(data)} bytes is not a run of {HASH_SIZE}-byte hashes")
    return tuple(bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE))


def utc_now() -> datetime:
    """The current time, UTC (the only clock the store reads: migration timestamps)."""
    return datetime.now(UTC)


def check_feed_advance(
    cursor: FeedCursor, entries: Sequence[FeedEntry], expected_next: int | None
) -> None:
    """Raise ``ValueError`` unless ``Store.advance_feed`` may write ``entries`` and ``cursor``.

    Every entry is of the cursor's origin, in strictly increasing leaf order, at or after
    ``expected_next`` (0 for none) and before the new cursor, which does not move back.
    """
    start = 0 if expected_next is None else expected_next
    if start < 0:
        raise ValueError(f"expected_next must be >= 0, got {expected_next}")
    if cursor.next_leaf_index < start:
        raise ValueError(f"the cursor would move back from {start} to {cursor.next_leaf_index}")
    previous = start - 1
    for entry in entries:
        if entry.origin_node_id != cursor.origin_node_id:
            raise ValueError(
                f"entry of {entry.origin_node_id!r} with the cursor of {cursor.origin_node_id!r}"
            )
        if not previous < entry.leaf_index < cursor.next_leaf_index:
            raise ValueError(
                f"entry at leaf {entry.leaf_index} is not in increasing order within "
                f"[{start}, {cursor.next_leaf_index})"
            )
        previous = entry.leaf_index
