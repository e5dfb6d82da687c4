"""Bounded pagination: a tracker (or a proxy in front of it) whose next link or next-page
token never ends must fail the pull with a reason, not loop forever."""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from core.errors import RemoteRejected

MAX_PAGES = 100_000
"""Most pages one listing may take: 10 million items at 100 a page, far beyond any scope."""


def checked_next_link(current: httpx.URL, nxt: str, *, source: str) -> str:
    """`nxt` (a `Link: rel=next` URL) unless it repeats the page just read or pages past
    `MAX_PAGES`."""
    url = httpx.URL(nxt)
    if url == current:
        raise RemoteRejected(
            f"pagination loop: the next link of {current.path} points at the page just read",
            source=source)
    page = url.params.get("page", "")
    if page.isdigit() and int(page) > MAX_PAGES:
        raise RemoteRejected(
            f"pagination of {current.path} goes past {MAX_PAGES} pages", source=source)
    return nxt


class PageTokens:
    """The next-page tokens (and items) one listing has seen: a token that comes back, a page
    made only of items already listed, or more than `MAX_PAGES` pages is a loop."""

    def __init__(self, what: str, *, source: str) -> None:
        self.what = what
        self.source = source
        self.tokens: set[str] = set()
        self.items: set[str] = set()
        self.pages = 0

    def page(self, items: Iterable[str]) -> None:
        """Record a page's item ids; a non-empty page of nothing new is a loop."""
        self.pages += 1
        ids = set(items)
        if self.pages > MAX_PAGES:
            raise RemoteRejected(f"{self.what}: more than {MAX_PAGES} pages", source=self.source)
        if ids and ids <= self.items:
            raise RemoteRejected(
                f"pagination loop: {self.what} returned a page of items it had already listed",
                source=self.source)
        self.items |= ids

    def next(self, token: str) -> str:
        if token in self.tokens:
            raise RemoteRejected(f"pagination loop: {self.what} repeated a next-page token",
                                 source=self.source)
        self.tokens.add(token)
        return token
