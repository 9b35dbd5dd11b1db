# ruff: noqa: S608 - statements are assembled only from this module's constant fragments and
# the dialect's placeholder; every value is a bound parameter.
"""Domain objects in SQL: the statements and row conversions both backends share.

The two backends differ only in placeholders (``?`` / ``%s``), how a list parameter is passed
(SQLite: one JSON array through ``json_each``; PostgreSQL: an array with ``= ANY``), JSON
columns (TEXT / jsonb) and timestamps (INTEGER microseconds / timestamptz). Everything else —
the columns, the page order, the filters — is written once here, so both answer a
:class:`~creditlink.gateway.store.base.DomainQuery` identically (the contract suite checks it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal

import orjson

from creditlink.gateway.store.base import DomainEvent, DomainObject, DomainQuery

__all__ = [
    "EVENT_COPY_TYPES",
    "OBJECT_COPY_TYPES",
    "Dialect",
    "copy_events_sql",
    "copy_objects_sql",
    "create_object_stage_sql",
    "event_params",
    "event_row",
    "insert_events_sql",
    "object_params",
    "object_row",
    "query_sql",
    "select_events_sql",
    "select_keys_sql",
    "select_object_sql",
    "upsert_objects_sql",
    "upsert_staged_objects_sql",
]

Dialect = Literal["sqlite", "postgres"]

_OBJECT_COLUMNS: Final = (
    "kind, object_id, subject_key, state, body, attrs, flags, due_date, origin_node_id, "
    "log_origin, created_leaf, leaf_index, updated_at"
)
_EVENT_COLUMNS: Final = (
    "kind, object_id, log_origin, leaf_index, seq, action, actor_node_id, reason, message_id, at"
)


def _ph(dialect: Dialect) -> str:
    return "?" if dialect == "sqlite" else "%s"


def _encode_attrs(attrs: Mapping[str, object]) -> str:
    """The attrs column: compact JSON with sorted keys (the same attrs give the same text on
    every node), UTF-8 as is."""
    return orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS).decode()


def _flags_text(flags: frozenset[str]) -> str:
    # Padded with spaces so that LIKE '% tag %' finds a whole tag.
    return " " + " ".join(sorted(flags)) + " " if flags else " "


def object_params(row: DomainObject, when: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """The column values of ``row``; ``when`` converts the timestamp for the backend."""
    return (
        row.kind,
        row.object_id,
        row.subject_key,
        row.state,
        row.body,
        _encode_attrs(row.attrs if type(row.attrs) is dict else dict(row.attrs)),
        _flags_text(row.flags),
        row.due_date,
        row.origin_node_id,
        row.log_origin,
        row.created_leaf,
        row.leaf_index,
        when(row.updated_at),
    )


def object_row(values: Sequence[Any], when: Callable[[Any], datetime]) -> DomainObject:
    """A :class:`DomainObject` from the columns of ``_OBJECT_COLUMNS``."""
    attrs = values[5]
    return DomainObject(
        kind=values[0],
        object_id=values[1],
        subject_key=values[2],
        state=values[3],
        body=bytes(values[4]),
        attrs=orjson.loads(attrs) if isinstance(attrs, str) else dict(attrs),
        flags=frozenset(values[6].split()),
        due_date=values[7],
        origin_node_id=values[8],
        log_origin=values[9],
        created_leaf=values[10],
        leaf_index=values[11],
        updated_at=when(values[12]),
    )


def event_params(row: DomainEvent, when: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """The column values of ``row``."""
    return (
        row.kind,
        row.object_id,
        row.log_origin,
        row.leaf_index,
        row.seq,
        row.action,
        row.actor_node_id,
        row.reason,
        row.message_id,
        when(row.at),
    )


def event_row(values: Sequence[Any], when: Callable[[Any], datetime]) -> DomainEvent:
    """A :class:`DomainEvent` from the columns of ``_EVENT_COLUMNS``."""
    return DomainEvent(
        kind=values[0],
        object_id=values[1],
        log_origin=values[2],
        leaf_index=values[3],
        seq=values[4],
        action=values[5],
        actor_node_id=values[6],
        reason=values[7],
        message_id=values[8],
        at=when(values[9]),
    )


def _replace_on_conflict() -> str:
    updates = ", ".join(
        f"{c} = excluded.{c}"
        for c in (c.strip() for c in _OBJECT_COLUMNS.split(","))
        if c not in ("kind", "object_id")
    )
    return f"ON CONFLICT (kind, object_id) DO UPDATE SET {updates}"


def upsert_objects_sql(dialect: Dialect) -> str:
    """Insert objects, replacing a stored object with the same key."""
    ph = ", ".join([_ph(dialect)] * 13)
    return f"INSERT INTO domain_objects ({_OBJECT_COLUMNS}) VALUES ({ph}) {_replace_on_conflict()}"


#: PostgreSQL: the column types of :func:`object_params` and :func:`event_params` rows in
#: binary COPY (which sends each value in its column's wire format), ``attrs`` as JSON text.
OBJECT_COPY_TYPES: Final = (
    *("text",) * 4,
    "bytea",
    *("text",) * 5,
    "int8",
    "int8",
    "timestamptz",
)
EVENT_COPY_TYPES: Final = (*("text",) * 3, "int8", "int4", *("text",) * 4, "timestamptz")


def create_object_stage_sql(stage: str) -> str:
    """PostgreSQL: a session-local table ``stage`` shaped like ``domain_objects`` (``attrs``
    as text), emptied at every commit."""
    selected = _OBJECT_COLUMNS.replace("attrs", "attrs::text AS attrs")
    return (
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
        f"SELECT {selected} FROM domain_objects WITH NO DATA"
    )


def copy_objects_sql(table: str) -> str:
    """PostgreSQL: binary COPY of :func:`object_params` rows into ``table``."""
    return f"COPY {table} ({_OBJECT_COLUMNS}) FROM STDIN (FORMAT BINARY)"


def copy_events_sql() -> str:
    """PostgreSQL: binary COPY of :func:`event_params` rows into ``domain_events``."""
    return f"COPY domain_events ({_EVENT_COLUMNS}) FROM STDIN (FORMAT BINARY)"


def upsert_staged_objects_sql(stage: str) -> str:
    """PostgreSQL: insert the objects of table ``stage`` (:func:`create_object_stage_sql`),
    replacing stored objects with the same key."""
    selected = _OBJECT_COLUMNS.replace("attrs", "attrs::jsonb")
    return (
        f"INSERT INTO domain_objects ({_OBJECT_COLUMNS}) SELECT {selected} FROM {stage} "
        f"{_replace_on_conflict()}"
    )


def insert_events_sql(dialect: Dialect) -> str:
    """Insert events (a duplicate key conflicts)."""
    ph = ", ".join([_ph(dialect)] * 10)
    return f"INSERT INTO domain_events ({_EVENT_COLUMNS}) VALUES ({ph})"


def select_object_sql(dialect: Dialect) -> str:
    """One object by kind and id."""
    p = _ph(dialect)
    return f"SELECT {_OBJECT_COLUMNS} FROM domain_objects WHERE kind = {p} AND object_id = {p}"


def select_keys_sql(dialect: Dialect) -> str:
    """Objects by a list of keys: one parameter, a JSON array of ``[kind, id]`` pairs (SQLite)
    or two arrays, kinds and ids (PostgreSQL)."""
    if dialect == "sqlite":
        return (
            f"SELECT {_OBJECT_COLUMNS} FROM domain_objects WHERE (kind, object_id) IN "
            "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') "
            "FROM json_each(?))"
        )
    return (
        f"SELECT {_OBJECT_COLUMNS} FROM domain_objects WHERE (kind, object_id) IN "
        "(SELECT * FROM unnest(%s::text[], %s::text[]))"
    )


def select_events_sql(dialect: Dialect) -> str:
    """Every event of one object, oldest first."""
    p = _ph(dialect)
    return (
        f"SELECT {_EVENT_COLUMNS} FROM domain_events WHERE kind = {p} AND object_id = {p} "
        "ORDER BY at, log_origin, leaf_index, seq"
    )


def query_sql(dialect: Dialect, query: DomainQuery) -> tuple[str, list[Any]]:
    """The SELECT for one page of ``query`` and its parameters."""
    p = _ph(dialect)
    where: list[str] = []
    params: list[Any] = []
    kinds = sorted(set(query.kinds))
    if dialect == "sqlite":
        where.append("kind IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(kinds))
    else:
        where.append("kind = ANY(%s)")
        params.append(kinds)
    if query.subject_key is not None:
        where.append(f"subject_key = {p}")
        params.append(query.subject_key)
    if query.states is not None:
        states = sorted(set(query.states))
        if dialect == "sqlite":
            where.append("state IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(states))
        else:
            where.append("state = ANY(%s)")
            params.append(states)
    if query.flag is not None:
        where.append(f"flags LIKE {p}")
        params.append(f"% {query.flag} %")
    if query.due_before is not None:
        where.append(f"due_date IS NOT NULL AND due_date < {p}")
        params.append(query.due_before)
    if query.before is not None:
        where.append(f"(leaf_index, kind, object_id) < ({p}, {p}, {p})")
        params.extend(query.before)
    sql = (
        f"SELECT {_OBJECT_COLUMNS} FROM domain_objects WHERE {' AND '.join(where)} "
        f"ORDER BY leaf_index DESC, kind DESC, object_id DESC LIMIT {p}"
    )
    params.append(query.limit)
    return sql, params
