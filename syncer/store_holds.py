"""Held links: what a revert undid stays undone. The next syncs plan nothing for a held
ticket while its mapping (rules and ticket) still gives the KRs it gave at the revert;
`okrsync revert --release RUN_ID` lifts the holds of one reverted run."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from syncer.store_base import StoreBase, guarded
from syncer.store_rows import KeyRange, dt, in_range, ts


@dataclass(frozen=True)
class HeldLink:
    """One held ticket: the KRs its mapping gave, the run reverted, and since when."""

    source: str
    ticket_key: str
    kr_ids: tuple[str, ...]
    run_id: int
    held_at: datetime


class HoldsStore(StoreBase):
    """Held-link methods of `Store`."""

    @guarded
    def hold_links(
        self, run_id: int, revert_run_id: int | None,
        holds: Iterable[tuple[str, str, frozenset[str]]], *, now: datetime,
    ) -> int:
        """Hold each (source, ticket_key, mapped KR ids) for the reverted run `run_id`."""
        rows = [(s, k, json.dumps(sorted(krs)), run_id, revert_run_id, ts(now))
                for s, k, krs in holds]
        with self.db.atomic():
            self.db.conn.executemany(
                "insert or replace into held_links (source, ticket_key, kr_ids, run_id, "
                "revert_run_id, held_at) values (?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    @guarded
    def held(self, within: KeyRange | None = None) -> dict[tuple[str, str], frozenset[str]]:
        """The held tickets (of one planning batch) and the KR ids each was held with."""
        cond, params = in_range(within)
        return {
            (s, k): frozenset(json.loads(krs))
            for s, k, krs in self._rows(
                f"select source, ticket_key, kr_ids from held_links where {cond}", params)
        }

    @guarded
    def held_links(self) -> list[HeldLink]:
        rows = self._rows("select source, ticket_key, kr_ids, run_id, held_at from held_links "
                          "order by source, ticket_key")
        return [HeldLink(s, k, tuple(json.loads(krs)), int(run), dt(at))
                for s, k, krs, run, at in rows]

    @guarded
    def release_holds(self, tickets: Iterable[tuple[str, str]]) -> int:
        """Lift the holds of tickets whose mapping changed since."""
        with self.db.atomic():
            cur = self.db.conn.executemany(
                "delete from held_links where source = ? and ticket_key = ?", list(tickets))
        return int(cur.rowcount)

    @guarded
    def release_run(self, run_id: int) -> int:
        """Lift every hold a revert of run `run_id` placed; how many were lifted."""
        return int(self.db.execute("delete from held_links where run_id = ?", [run_id]).rowcount)
