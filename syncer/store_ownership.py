"""Store methods for ownership: identities, look-alikes, adoption of what okrsync wrote
before the ledger knew it, and forgetting a source that left the config.

Why here: an empty ledger facing tickets that already carry okrsync's labels, links or
comments (a lost store, a renamed source) must not fight people or duplicate its own
artifacts, and stored data of a source no longer configured must be visible and removable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from connectors.ownership import Identity, LookAlike
from core.model import Override
from syncer.store_base import StoreBase, guarded
from syncer.store_outbox import _LEDGER_UPSERT
from syncer.store_rows import dt, ts

FORGET_TABLES = ("tickets", "skipped", "cursors", "complete_pulls", "links", "broken_links",
                 "bets", "ledger", "overrides", "untraceable", "outbox", "identities",
                 "lookalikes", "held_links")
"""What `forget` removes for a source; the journal and run history stay (they are history)."""


@dataclass(frozen=True)
class LookAlikeRow:
    source: str
    item: LookAlike
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class AdoptedTicket:
    """What adoption rebuilds for one ticket: the managed labels okrsync put there and still
    there, the goal links its artifacts show, and the labels people removed since."""

    ticket_key: str
    labels: tuple[str, ...] = ()
    goal_kr_ids: tuple[str, ...] = ()
    remote_ref: str | None = None
    overrides: tuple[Override, ...] = ()


class OwnershipStore(StoreBase):
    """Identity, look-alike, adoption and forget methods of `Store`."""

    @guarded
    def save_identity(self, source: str, identity: Identity, *, now: datetime) -> None:
        self.db.execute(
            "insert into identities (source, kind, login, display, seen_at) "
            "values (?, ?, ?, ?, ?) on conflict (source) do update set kind = excluded.kind, "
            "login = excluded.login, display = excluded.display, seen_at = excluded.seen_at",
            [source, identity.kind, identity.login, identity.display, ts(now)],
        )

    @guarded
    def identities(self) -> dict[str, Identity]:
        return {s: Identity(k, lg, d) for s, k, lg, d in self._rows(
            "select source, kind, login, display from identities order by source")}

    @guarded
    def note_inspections(
        self, source: str, seen: Mapping[str, Iterable[LookAlike]], *, now: datetime
    ) -> None:
        """Replace the look-alikes of each inspected ticket with what its last read showed
        (gone ones leave the report), keeping when each was first seen."""
        stamp = ts(now)
        with self.db.atomic():
            for key, items in seen.items():
                found = list(items)
                refs = [(i.kind, i.ref) for i in found]
                for kind, ref in self._rows(
                        "select kind, ref from lookalikes where source = ? and ticket_key = ?",
                        [source, key]):
                    if (kind, ref) not in refs:
                        self.db.execute(
                            "delete from lookalikes where source = ? and ticket_key = ? and "
                            "kind = ? and ref = ?", [source, key, kind, ref])
                for i in found:
                    self.db.execute(
                        "insert into lookalikes (source, ticket_key, kind, ref, author, reason, "
                        "first_seen, last_seen) values (?, ?, ?, ?, ?, ?, ?, ?) "
                        "on conflict (source, ticket_key, kind, ref) do update set "
                        "author = excluded.author, reason = excluded.reason, "
                        "last_seen = excluded.last_seen",
                        [source, key, i.kind, i.ref, i.author, i.reason, stamp, stamp])

    @guarded
    def lookalikes(self, source: str | None = None) -> list[LookAlikeRow]:
        where, params = ("where source = ?", [source]) if source else ("", [])
        return [
            LookAlikeRow(s, LookAlike(k, kind, ref, author, reason), dt(first), dt(last))
            for s, k, kind, ref, author, reason, first, last in self._rows(
                "select source, ticket_key, kind, ref, author, reason, first_seen, last_seen "
                f"from lookalikes {where} order by source, ticket_key, kind, ref", params)
        ]

    # -- adoption ---------------------------------------------------------------------------

    @guarded
    def ledger_is_empty(self, source: str) -> bool:
        """No ledger row at all for the source: a new or lost store, or a renamed source."""
        return self._one("select 1 from ledger where source = ? limit 1", [source]) is None

    @guarded
    def has_managed_labels(self, source: str, prefix: str) -> bool:
        """Some stored epic of the source carries a managed label (case-insensitive prefix),
        asked of SQLite so that a source okrsync never wrote to costs no ticket reads."""
        if not prefix:
            return False
        row = self._one(
            f"select 1 from tickets, {self.dialect.elements('tickets.labels')} "
            "where tickets.source = ? and "
            "lower(substr(json_each.value, 1, ?)) = lower(?) limit 1",
            [source, len(prefix), prefix])
        return row is not None

    @guarded
    def adopt(self, source: str, adopted: Iterable[AdoptedTicket], run_id: int | None, *,
              now: datetime) -> int:
        """Write the rebuilt ledger rows and overrides in one transaction; returns how many
        tickets had something of okrsync's. The goal-link digest is left empty, so the next
        plan compares the text with what is on the ticket (a read, and a write only if the
        text differs)."""
        stamp = ts(now)
        count = 0
        with self.db.atomic():
            for item in adopted:
                if not (item.labels or item.goal_kr_ids or item.overrides or item.remote_ref):
                    continue
                count += 1
                for label in item.labels:
                    self.db.execute(_LEDGER_UPSERT, [source, item.ticket_key, "label", label,
                                                     "[]", None, "adopted", stamp, run_id])
                if item.goal_kr_ids or item.remote_ref:
                    self.db.execute(_LEDGER_UPSERT, [
                        source, item.ticket_key, "goal_links", "",
                        json.dumps(list(item.goal_kr_ids)), item.remote_ref, "", stamp, run_id])
                for o in item.overrides:
                    self.db.execute(
                        "insert or ignore into overrides (source, ticket_key, label, kr_id, at) "
                        "values (?, ?, ?, ?, ?)",
                        [source, o.ticket_key, o.label, o.kr_id, ts(o.at)])
        return count

    # -- sources that left the config ---------------------------------------------------------

    @guarded
    def orphaned_sources(self, configured: Iterable[str]) -> dict[str, int]:
        """Sources the store holds epics of that the config no longer names: epic counts."""
        known = set(configured)
        return {s: int(n) for s, n in self._rows(
            "select source, count(*) from tickets group by source order by source")
            if s not in known}

    @guarded
    def forget(self, source: str) -> dict[str, int]:
        """Remove everything the store holds for `source` (not the journal or run history),
        in one transaction; returns the rows removed per table. Touches nothing remote."""
        removed: dict[str, int] = {}
        with self.db.atomic():
            for table in FORGET_TABLES:
                cur = self.db.execute(f"delete from {table} where source = ?", [source])
                removed[table] = max(0, cur.rowcount)
        return removed
