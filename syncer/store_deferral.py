"""Deferred write-backs: pending outbox rows a tracker's limit holds back until a time.

A deferred row is still `status = 'pending'` (nothing failed, nothing is lost); its
`deferred_until` says when its source may be written to again and `deferred_reason` names
the limit ("GitHub content limit"). Runs before that time leave the source's rows alone
instead of sending into the block; the first run after it applies them in drain order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from syncer.store_base import StoreBase, guarded, in_list
from syncer.store_rows import OUTBOX_COLUMNS, OutboxItem, dt, outbox_of, tryable, ts

DRAIN_ORDER = (
    "case t.state when 'in_progress' then 0 when 'todo' then 1 when 'done' then 2 "
    "when 'wont_do' then 3 else 4 end, t.updated desc, o.source, o.ticket_key, o.id"
)
"""Active epics first, then planned, then done; within each, the most recently updated
epic first; one ticket's write-backs together and in the order they were queued."""


@dataclass(frozen=True)
class Deferral:
    """One source's deferred backlog."""

    source: str
    count: int
    until: datetime
    reason: str


class DeferralStore(StoreBase):
    """Deferral and drain-order methods of `Store`."""

    @guarded
    def defer_source(self, source: str, until: datetime, reason: str, *, now: datetime
                     ) -> int:
        """Defer every pending row of `source` until `until`; return how many are deferred."""
        with self.db.atomic():
            self.db.execute(
                "update outbox set deferred_until = ?, deferred_reason = ?, updated_at = ? "
                "where status = 'pending' and source = ?",
                [ts(until), reason, ts(now), source],
            )
            row = self._one("select count(*) from outbox where status = 'pending' and "
                            "source = ?", [source])
        return int(row[0])

    @guarded
    def due_count(self, now: datetime, sources: Iterable[str] | None = None) -> int:
        """Pending rows a run should have applied by `now`: not parked, not backing off
        after a refusal, not deferred by a rate limit. What a run leaves of these fails it;
        `sources` limits them to the run's own (another worker's rows are not its due)."""
        names = None if sources is None else sorted(set(sources))
        scope = "" if names is None else f" and source in ({in_list(names)})"
        row = self._one(
            f"select count(*) from outbox where status = 'pending' and {tryable()} and "
            f"(deferred_until is null or deferred_until <= ?){scope}",
            [ts(now), ts(now), *(names or ())])
        return int(row[0])

    @guarded
    def deferrals(self, now: datetime) -> dict[str, Deferral]:
        """Sources whose rows are deferred past `now`: how many, until when, and why."""
        rows = self._rows(
            "select source, count(*), max(deferred_until), max(deferred_reason) from outbox "
            "where status = 'pending' and deferred_until > ? group by source order by source",
            [ts(now)],
        )
        return {s: Deferral(s, int(n), dt(until), str(reason or ""))
                for s, n, until, reason in rows}

    @guarded
    def pending_drain_ids(self, sources: Sequence[str], *,
                          due: datetime | None = None) -> list[int]:
        """The ids of the pending rows of `sources` in drain order (see `DRAIN_ORDER`). With
        `due`, only the ones to try at that time: not parked, and past their backoff."""
        if not sources:
            return []
        marks = ", ".join("?" for _ in sources)
        cond, params = "", list(sources)
        if due is not None:
            cond = f" and {tryable('o.')}"
            params.append(ts(due))
        return [int(r[0]) for r in self._rows(
            "select o.id from outbox o left join tickets t on t.source = o.source and "
            f"t.key = o.ticket_key where o.status = 'pending' and o.source in ({marks}){cond} "
            f"order by {DRAIN_ORDER}", params)]

    @guarded
    def pending_items(self, ids: Sequence[int]) -> list[OutboxItem]:
        """The pending rows with these ids, in the order of `ids`."""
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        rows = {int(r[0]): r for r in self._rows(
            f"select {OUTBOX_COLUMNS} from outbox "
            f"where status = 'pending' and id in ({marks})", list(ids))}
        return [outbox_of(rows[i]) for i in ids if i in rows]
