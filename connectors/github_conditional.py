"""Conditional listings that stay free when the token changes.

github.com's ETags are specific to the token (`Vary: Authorization`), so a GitHub App, whose
installation token is new every hour (and every CLI run), never gets a 304 for the ETag it
kept. `Last-Modified` is not tied to the token: with App auth the listing is sent with
`If-Modified-Since` instead of `If-None-Match`. A token that stays (a PAT) keeps using the
ETag, which is exact. An HTTP date has one-second resolution, so a `Last-Modified` within a
second of the answer's `Date` is weak (RFC 9110 §8.8.2.2): something may still change in
that second, and it is not kept — the next run reads that listing whole.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import httpx

STRONG_AFTER = 1.0
"""Seconds a `Last-Modified` must precede the answer's `Date` to be trusted."""


def conditional_headers(etag: str | None, modified: str | None, *, app: bool
                        ) -> dict[str, str] | None:
    """The validator to send: `If-Modified-Since` for an App, `If-None-Match` otherwise."""
    if app:
        return {"If-Modified-Since": modified} if modified else None
    return {"If-None-Match": etag} if etag else None


def validators(response: httpx.Response) -> tuple[str | None, str | None]:
    """(ETag, Last-Modified) of an answer, the latter only when it is strong."""
    etag = response.headers.get("etag")
    modified = response.headers.get("last-modified")
    date = response.headers.get("date")
    if not modified or not date:
        return etag, None
    try:
        age = (parsedate_to_datetime(date) - parsedate_to_datetime(modified)).total_seconds()
    except (TypeError, ValueError):
        return etag, None
    return etag, modified if age >= STRONG_AFTER else None
