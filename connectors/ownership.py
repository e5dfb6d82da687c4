"""What on a ticket is okrsync's own: pure decisions over the comments and remote links read.

okrsync edits or deletes a comment or remote link only when it is provably its own. Looking
like okrsync's is not enough: people copy the goal-link table into their notes, other tools
reuse a `globalId` scheme. So:

- a GitHub comment is ours when it opens with the marker **and** either its id is the one the
  ledger recorded, or its author is the identity okrsync writes as (`GET /user` for a token,
  `<slug>[bot]` for an App);
- a Jira remote link is ours when its `globalId` has okrsync's form for this issue **and** its
  `application.name` is okrsync's (Jira records no author on a remote link; the application
  okrsync sends is its signature).

Everything else carrying the marker or an okrsync-like `globalId` is a *look-alike*: never
edited, never deleted, reported, and okrsync writes its own beside it.

The `globalId` names the site (its host), not the source's config name, so renaming a source
changes nothing remotely; ids written by older versions (`okrsync:<source>:<key>:<kr>`) are
still recognised and reused in place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

GLOBAL_ID_PREFIX = "okrsync:"
APPLICATION = {"type": "okrsync", "name": "okrsync"}
_KR_CELL = re.compile(r"^\| [^|\n]*\| \[?\*\*(?P<kr>(?:\\.|[^*\\])+)\*\*", re.MULTILINE)
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Identity:
    """Who a connector writes as: `kind` is `user` or `app` (GitHub) or `jira`; `login` the
    GitHub login (`<slug>[bot]` for an App) or the Jira accountId (DC: user name)."""

    kind: str
    login: str
    display: str = ""


@dataclass(frozen=True)
class LookAlike:
    """Something on a ticket that looks like okrsync's but is not: left alone, reported."""

    ticket_key: str
    kind: str  # "comment" or "remote_link"
    ref: str  # the comment id or the globalId
    author: str  # the comment's author login, or the link's application name
    reason: str


@dataclass(frozen=True)
class Owned:
    """okrsync's own artifacts found on one ticket, for adoption, and the look-alikes seen."""

    kr_ids: tuple[str, ...] = ()
    remote_ref: str | None = None
    lookalikes: tuple[LookAlike, ...] = ()
    found: bool = False


@dataclass
class Inspections:
    """Per ticket, the look-alikes the last read of its comments or links found (possibly
    none). Connectors fill it while applying; the engine drains it into the store."""

    seen: dict[str, tuple[LookAlike, ...]] = field(default_factory=dict)

    def note(self, ticket_key: str, found: Iterable[LookAlike]) -> None:
        self.seen[ticket_key] = tuple(found)

    def drain(self) -> dict[str, tuple[LookAlike, ...]]:
        out, self.seen = self.seen, {}
        return out


@runtime_checkable
class Owning(Protocol):
    """What a connector offers beyond `Connector` to tell its own artifacts from others'."""

    async def identity(self) -> Identity:
        """Who this connector writes as; learned once per run (raises a RemoteError)."""
        ...

    async def owned(self, ticket_key: str) -> Owned:
        """okrsync's artifacts on one ticket, read from the tracker (for adoption)."""
        ...

    def learned_identity(self) -> Identity | None:
        """The identity if this connector has learned it already (no request)."""
        ...

    def inspections(self) -> Inspections: ...


# -- GitHub comments ------------------------------------------------------------------------


def author_of(comment: Mapping[str, Any]) -> str:
    user = comment.get("user")
    return str(user.get("login") or "") if isinstance(user, Mapping) else ""


def is_own_comment(comment: Mapping[str, Any], me: Identity, known_ref: str | None) -> bool:
    """A marker comment is ours when the ledger recorded its id or our identity wrote it."""
    if known_ref and str(comment.get("id")) == known_ref:
        return True
    return bool(me.login) and author_of(comment).casefold() == me.login.casefold()


def split_comments(
    ticket_key: str, comments: Iterable[Mapping[str, Any]], me: Identity,
    known_ref: str | None,
) -> tuple[list[Mapping[str, Any]], list[LookAlike]]:
    """Marker comments (oldest first) split into ours and look-alikes."""
    ours: list[Mapping[str, Any]] = []
    others: list[LookAlike] = []
    for comment in comments:
        if is_own_comment(comment, me, known_ref):
            ours.append(comment)
        else:
            others.append(LookAlike(
                ticket_key, "comment", str(comment.get("id")), author_of(comment),
                f"carries okrsync's marker but was written by {author_of(comment) or '?'}, "
                f"not {me.login}",
            ))
    return ours, others


def comment_kr_ids(body: str) -> tuple[str, ...]:
    """The KR ids an okrsync goal-link comment names: the bold id in each table row."""
    return tuple(_UNESCAPE.sub(r"\1", m.group("kr")) for m in _KR_CELL.finditer(body))


# -- Jira remote links ----------------------------------------------------------------------


def site_tag(url: str) -> str:
    """The site part of a globalId: the host (and port) of the site, lower case."""
    return (urlsplit(url).netloc or url).lower()


def global_id(site: str, key: str, kr_id: str, taken: Iterable[str] = ()) -> str:
    """okrsync's globalId for one goal link; `taken` are ids another application already uses
    on the issue (an upsert would overwrite theirs), so a `~n` suffix steps aside."""
    base = f"{GLOBAL_ID_PREFIX}{site_tag(site)}:{key}:{kr_id}"[:250]
    used = set(taken)
    gid, n = base, 1
    while gid in used:
        n += 1
        gid = f"{base}~{n}"
    return gid


def kr_of_global_id(gid: str, key: str) -> str | None:
    """The KR of an okrsync-form globalId on issue `key` (any site or source segment)."""
    if not gid.startswith(GLOBAL_ID_PREFIX):
        return None
    at = gid.find(f":{key}:", len(GLOBAL_ID_PREFIX) - 1)
    if at < len(GLOBAL_ID_PREFIX):
        return None
    kr = gid[at + len(key) + 2:].split("~", 1)[0]
    return kr or None


def application_name(link: Mapping[str, Any]) -> str:
    app = link.get("application")
    return str(app.get("name") or "") if isinstance(app, Mapping) else ""


def split_links(
    key: str, links: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, Mapping[str, Any]], list[LookAlike]]:
    """Remote links by KR (ours) and the look-alikes: an okrsync-form globalId under another
    application. Of two own links for one KR, the first listed wins."""
    ours: dict[str, Mapping[str, Any]] = {}
    others: list[LookAlike] = []
    for link in links:
        gid = str(link.get("globalId") or "")
        kr = kr_of_global_id(gid, key)
        if kr is None and not gid.startswith(GLOBAL_ID_PREFIX):
            continue
        app = application_name(link)
        if kr is not None and app == APPLICATION["name"]:
            ours.setdefault(kr, link)
        else:
            others.append(LookAlike(
                key, "remote_link", gid, app,
                f"globalId looks like okrsync's but the link belongs to {app or 'no application'}",
            ))
    return ours, others
