"""What a refusal from a tracker means for okrsync: which requests may be resent, and whether a
403 refuses the token itself (stop the source) or only one repo, project or ticket.

Pure functions over method names and the server's error text, so the HTTP layer and its tests
share one reading of them.
"""

from __future__ import annotations

import re

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Requests that may be resent after a lost answer: sending them twice does what once does.
Other writes are resent only when their caller says so (e.g. Jira's remote-link POST, an
upsert by globalId)."""

READ_METHODS = frozenset({"GET", "HEAD"})
"""The only requests whose redirects are followed: a redirected write is an error."""

_TOKEN_WORDS = re.compile(
    r"\b(token|tokens|scopes?|oauth|credentials?|saml|sso|api key)\b", re.IGNORECASE
)


def is_idempotent(method: str, declared: bool | None = None) -> bool:
    """Whether a request may be resent when its answer is lost; `declared` overrides."""
    if declared is not None:
        return declared
    return method.upper() in IDEMPOTENT_METHODS


def refuses_token(message: str) -> bool:
    """A 403 whose text names the token or its scopes ("Resource not accessible by personal
    access token", SAML enforcement, a missing OAuth scope): every request of the source would
    fail the same way. Any other 403 (an archived repo, an App not installed on that repo, a
    project without "Link issues") refuses only what it was about."""
    return bool(_TOKEN_WORDS.search(message))


def redirect_target(location: str) -> str:
    """The redirect's target as an error may show it: no query string, no credentials."""
    head = location.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = head.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        host_part, slash, path = rest.partition("/")
        rest = host_part.rsplit("@", 1)[1] + slash + path
    return f"{scheme}{sep}{rest}" if sep else head
