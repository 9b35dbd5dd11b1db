"""Pagers: the list calls' results, which fetch the next page when iteration needs it.

The googleapis pattern: iterating a pager yields items across pages; ``pages`` yields whole
pages (a :class:`Page` with its items and the token of the next); ``max_items`` stops early.
A page is fetched only when iteration reaches it, so ``next(iter(pager))`` costs one call, and
each fetch is a separate unary call with its own deadline and retries (a page token is a
position, so repeating a page's call is safe).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["AsyncPager", "Page", "Pager"]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list call: its items, and the token of the next page (``""``: the last)."""

    items: tuple[T, ...]
    next_page_token: str


class Pager(Generic[T]):
    """Items of a list call, fetched a page at a time (blocking).

    ``fetch(token)`` makes one call for the page at ``token`` (``""``: the first).
    """

    def __init__(self, fetch: Callable[[str], Page[T]], *, max_items: int | None = None) -> None:
        if max_items is not None and max_items < 0:
            raise ValueError("max_items must not be negative")
        self._fetch = fetch
        self._max_items = max_items

    @property
    def pages(self) -> Iterator[Page[T]]:
        """The pages, in order, each fetched when reached."""
        token = ""
        seen = {token}
        while True:
            page = self._fetch(token)
            yield page
            if not page.next_page_token:
                return
            token = _next_token(page, seen)

    def __iter__(self) -> Iterator[T]:
        left = self._max_items
        if left == 0:
            return
        for page in self.pages:
            for item in page.items:
                yield item
                if left is not None:
                    left -= 1
                    if left == 0:
                        return

    def all(self) -> list[T]:
        """Every item (up to ``max_items``), fetching every page."""
        return list(self)


class AsyncPager(Generic[T]):
    """Items of a list call, fetched a page at a time (asyncio): ``async for item in pager``."""

    def __init__(
        self, fetch: Callable[[str], Awaitable[Page[T]]], *, max_items: int | None = None
    ) -> None:
        if max_items is not None and max_items < 0:
            raise ValueError("max_items must not be negative")
        self._fetch = fetch
        self._max_items = max_items

    @property
    async def pages(self) -> AsyncIterator[Page[T]]:
        """The pages, in order, each fetched when reached."""
        token = ""
        seen = {token}
        while True:
            page = await self._fetch(token)
            yield page
            if not page.next_page_token:
                return
            token = _next_token(page, seen)

    async def __aiter__(self) -> AsyncIterator[T]:
        left = self._max_items
        if left == 0:
            return
        async for page in self.pages:
            for item in page.items:
                yield item
                if left is not None:
                    left -= 1
                    if left == 0:
                        return

    async def all(self) -> list[T]:
        """Every item (up to ``max_items``), fetching every page."""
        return [item async for item in self]


def _next_token(page: Page[T], seen: set[str]) -> str:
    """``page``'s next token, which must be new: a token seen before (not only the previous
    one) would send the pager round the same pages forever."""
    token = page.next_page_token
    if token in seen:
        raise RuntimeError("the gateway returned the same page token twice")
    seen.add(token)
    return token


def page_of(items: Sequence[T], token: str) -> Page[T]:
    """A :class:`Page` of ``items`` whose next page is at ``token``."""
    return Page(items=tuple(items), next_page_token=token)
