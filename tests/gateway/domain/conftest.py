"""Fixtures the domain tests share: a real store of each backend (``store_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from creditlink.gateway.store import Store, open_store


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An open store on the backend under test (SQLite and PostgreSQL)."""
    async with open_store(store_url) as opened:
        yield opened
