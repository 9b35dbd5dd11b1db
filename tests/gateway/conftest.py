"""Shared gateway fixtures: a real store of each backend.

``store_url`` is parametrized over SQLite (a file in ``tmp_path``) and PostgreSQL (a fresh
schema on the server named by ``CREDITLINK_TEST_PG``). An unreachable PostgreSQL skips with the
reason locally and fails under CI (``CI`` set): CI never passes by skipping a backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

PG_URL = os.environ.get("CREDITLINK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    """The base URL of a reachable PostgreSQL server, or skip (fail under CI)."""
    try:
        with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = f"PostgreSQL at CREDITLINK_TEST_PG={PG_URL!r} is unreachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set: the PostgreSQL backend must be tested)")
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def pg_schema_url(pg_base_url: str) -> Iterator[str]:
    """A URL whose ``search_path`` is a new schema, dropped after the test."""
    schema = f"creditlink_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_base_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
    separator = "&" if "?" in pg_base_url else "?"
    try:
        yield f"{pg_base_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(pg_base_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL for each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite3")
    url: str = request.getfixturevalue("pg_schema_url")
    return url
