"""The run's ownership steps around the planner: learn each source's identity, adopt what
okrsync wrote before its ledger knew (`syncer.adopt`), keep the look-alikes connectors saw,
and say what needs attention (adoptions, look-alikes, sources that left the config)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.base import Connector
from connectors.ownership import Owning
from core.errors import RemoteError
from syncer.adopt import adopt_sources, needs_adoption
from syncer.store import Store


@dataclass
class Prepared:
    """Sources that must not be written this run (`failed`: why) and what to tell the user."""

    failed: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


async def prepare(
    store: Store, connectors: Mapping[str, Connector], healthy: frozenset[str], *,
    managed_prefix: str, concurrency: Mapping[str, int], run_id: int, now: datetime,
) -> Prepared:
    """Before planning: a healthy source the store knows no identity for learns who it writes
    as (others learn it only when a write needs it, so an unchanged run costs no request),
    and a source whose ledger is empty adopts okrsync's artifacts. A source whose identity or
    adoption cannot be read is not written this run: without them it could take a person's
    comment for its own or re-add a label a person removed."""
    out = Prepared()
    known = store.identities()
    for name in sorted(healthy):
        conn = connectors.get(name)
        if not isinstance(conn, Owning) or name in known:
            continue
        try:
            store.save_identity(name, await conn.identity(), now=now)
        except RemoteError as exc:
            out.failed[name] = f"cannot tell who okrsync writes as: {exc}"
    adoption = await adopt_sources(
        store, connectors, healthy - frozenset(out.failed), managed_prefix=managed_prefix,
        concurrency=concurrency, run_id=run_id, now=now,
    )
    out.failed.update(adoption.failed)
    for name, count in sorted(adoption.adopted.items()):
        out.notices.append(
            f"{name}: the store had no record of okrsync's write-backs (a new or lost store, "
            f"or a renamed source); adopted okrsync's labels, links and comments on {count} "
            "epics from the tickets instead of writing them again"
        )
    return out


def adoption_pending(store: Store, connectors: Mapping[str, Connector],
                     healthy: frozenset[str], managed_prefix: str) -> list[str]:
    """A dry run adopts nothing (it writes no store state a real run relies on), so it says
    which sources a real run would adopt first: their listed write-backs may include labels
    that adoption turns into overrides."""
    return [
        f"{name}: the store has no record of okrsync's write-backs; a real run first adopts "
        "okrsync's labels, links and comments from the tickets, so some write-backs listed "
        "here (labels a person removed) will not be made"
        for name in sorted(healthy)
        if isinstance(connectors.get(name), Owning)
        and needs_adoption(store, name, managed_prefix)
    ]


def record_inspections(store: Store, connectors: Mapping[str, Connector], *,
                       now: datetime) -> None:
    """Keep the identity each connector used and the look-alikes it saw this run (dropping
    the ones gone)."""
    for name, conn in connectors.items():
        if isinstance(conn, Owning):
            identity = conn.learned_identity()
            if identity is not None:
                store.save_identity(name, identity, now=now)
            seen = conn.inspections().drain()
            if seen:
                store.note_inspections(name, seen, now=now)


def attention(store: Store, configured: Iterable[str]) -> list[str]:
    """What a person should look at: look-alikes left alone, and stored sources that are no
    longer configured."""
    notes: list[str] = []
    lookalikes = store.lookalikes()
    if lookalikes:
        notes.append(
            f"{len(lookalikes)} comments or remote links look like okrsync's but are not "
            "(left untouched; okrsync keeps its own beside them): see `okrsync status`"
        )
    for source, count in store.orphaned_sources(configured).items():
        notes.append(
            f"source {source!r} is no longer configured but the store holds {count} of its "
            f"epics: run `okrsync forget {source}` to remove them from the store"
        )
    return notes


def ownership_status(store: Store, configured: Iterable[str]) -> dict[str, Any]:
    """`status`'s ownership part: identities, look-alikes left alone, orphaned sources."""
    return {
        "identities": {s: {"kind": i.kind, "login": i.login, "display": i.display}
                       for s, i in store.identities().items()},
        "lookalikes": [
            {"source": row.source, "ticket": row.item.ticket_key, "kind": row.item.kind,
             "ref": row.item.ref, "author": row.item.author, "reason": row.item.reason,
             "first_seen": row.first_seen.isoformat()}
            for row in store.lookalikes()
        ],
        "orphaned_sources": store.orphaned_sources(configured),
    }
