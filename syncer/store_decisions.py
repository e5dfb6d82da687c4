"""People's answers to suggestions (`okrsync accept`): kept apart from links, which the
planner rewrites every sync, because a decision is an input like an explicit label."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from syncer.store_base import StoreBase, guarded
from syncer.store_rows import dt, ts


class Decision(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class SuggestionDecision:
    source: str
    ticket_key: str
    kr_id: str
    decision: Decision
    by: str
    at: datetime


class DecisionsStore(StoreBase):
    """`Store` methods for suggestion decisions."""

    @guarded
    def record_decision(self, decision: SuggestionDecision) -> None:
        """The latest answer for (epic, KR) wins: accepting after rejecting, or the reverse."""
        with self.db.atomic():
            self.db.execute(
                "insert or replace into suggestion_decisions (source, ticket_key, kr_id, "
                "decision, decided_by, decided_at) values (?, ?, ?, ?, ?, ?)",
                [decision.source, decision.ticket_key, decision.kr_id, decision.decision.value,
                 decision.by, ts(decision.at)],
            )

    @guarded
    def decisions(self, source: str | None = None,
                  ticket_key: str | None = None) -> list[SuggestionDecision]:
        sql = ("select source, ticket_key, kr_id, decision, decided_by, decided_at "
               "from suggestion_decisions")
        args: list[str] = []
        if source is not None and ticket_key is not None:
            sql += " where source = ? and ticket_key = ?"
            args = [source, ticket_key]
        rows = self.db.execute(sql + " order by source, ticket_key, kr_id", args).fetchall()
        return [SuggestionDecision(s, k, kr, Decision(d), by, dt(at))
                for s, k, kr, d, by, at in rows]
