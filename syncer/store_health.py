"""What `status`, `/healthz`, `/metrics` and the report count per source: the outbox by state
and the epics, links and untraceable flags each source holds."""

from __future__ import annotations

from syncer.store_base import StoreBase, guarded
from syncer.store_rows import RunRow, run_of

OUTBOX_STATES: dict[str, str] = {
    "deferred": "deferred_until > {now}",
}
"""Named subsets of the pending outbox rows, as SQL conditions over `outbox` (a parked or
deferred row stays `status = 'pending'`); `{now}` and `{now_utc}` stand for the dialect's
clock. A feature that adds such a state adds its condition here; a state without one counts 0,
so every consumer shows the same keys."""

OUTBOX_COUNT_KEYS = ("pending", "parked", "deferred")


class HealthStore(StoreBase):
    """Per-source counts of `Store`; reads only."""

    @guarded
    def outbox_counts(self, source: str | None = None) -> dict[str, int]:
        """Pending write-backs and, among them, the parked and deferred ones (of one source)."""
        where, params = ("and source = ?", [source]) if source is not None else ("", [])
        out = dict.fromkeys(OUTBOX_COUNT_KEYS, 0)
        out["pending"] = int(self._one(
            f"select count(*) from outbox where status = 'pending' {where}", params)[0])
        clock = {"now": self.dialect.now, "now_utc": self.dialect.now_utc}
        for state, condition in OUTBOX_STATES.items():
            out[state] = int(self._one(
                f"select count(*) from outbox where status = 'pending' and "
                f"({condition.format_map(clock)}) "
                f"{where}", params)[0])
        return out

    @guarded
    def source_figures(self) -> dict[str, dict[str, int]]:
        """Per source: stored epics, linked epics and untraceable epics."""
        out: dict[str, dict[str, int]] = {}
        queries = {
            "epics": "select source, count(*) from tickets group by source",
            "linked": "select source, count(distinct ticket_key) from links group by source",
            "untraceable": "select source, count(*) from untraceable group by source",
        }
        for figure, sql in queries.items():
            for source, n in self._rows(sql):
                out.setdefault(str(source), dict.fromkeys(queries, 0))[figure] = int(n)
        return out

    @guarded
    def sync_history(self, limit: int) -> list[RunRow]:
        """The latest finished sync runs, newest first, with only the parts of their summary
        that say how each source went (a summary can hold a thousand planned write-backs)."""
        rows = self._rows(
            "select id, kind, started_at, finished_at, status, dry_run, "
            f"{self.dialect.pick('summary', 'sources', 'failed')} "
            "from runs where kind = 'sync' and status != 'running' order by id desc limit ?",
            [limit],
        )
        return [run_of(r) for r in rows]
