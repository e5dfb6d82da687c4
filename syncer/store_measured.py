"""Measured key-result values and people's corrections to check-ins.

Measured values share the `checkins` table with people's check-ins so every reader (the
planner's KR values, the report, `okrsync checkins`) sees one series per KR; `origin` tells
them apart. A measured value never replaces a check-in: it is not stored when a person already
checked in that KR for the same time, and only people's check-ins can be edited or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.model import CHECKIN_ORIGIN, CheckIn
from syncer.store_base import StoreBase, guarded
from syncer.store_rows import CHECKIN_SELECT, checkin_of, dt, ts, ts_opt


class MeasuredStore(StoreBase):
    """Measured-value and check-in correction methods of `Store`."""

    @guarded
    def add_measured(self, values: Sequence[CheckIn]) -> int:
        """Store measured values (one transaction); return how many were new. A value whose
        (KR, time, origin, query digest) is already stored, or for whose KR and time a person
        checked in, is skipped."""
        added = 0
        with self.db.atomic():
            for v in values:
                if not v.measured:
                    raise ValueError("add_measured takes measured values only")
                cur = self.db.execute(
                    "insert or ignore into checkins (kr_id, value, at, confidence, note, origin, "
                    "query_digest, fetched_at) select ?, ?, ?, null, '', ?, ?, ? where not "
                    "exists (select 1 from checkins where kr_id = ? and at = ? and origin = ?)",
                    [v.kr_id, v.value, ts(v.at), v.origin, v.query_digest, ts_opt(v.fetched_at),
                     v.kr_id, ts(v.at), CHECKIN_ORIGIN],
                )
                added += cur.rowcount
        return added

    @guarded
    def measured_times(self, kr_id: str, origin: str, query_digest: str) -> set[datetime]:
        """The times a source query already has values for, so a backfill asks only for the
        rest."""
        rows = self._rows(
            "select at from checkins where kr_id = ? and origin = ? and query_digest = ?",
            [kr_id, origin, query_digest],
        )
        return {dt(r[0]) for r in rows}

    @guarded
    def checkin(self, checkin_id: int) -> CheckIn | None:
        row = self._one(f"{CHECKIN_SELECT} where id = ?", [checkin_id])
        return None if row is None else checkin_of(row)

    @guarded
    def edit_checkin(self, entry: CheckIn) -> None:
        """Replace a person's check-in (by `entry.id`) with `entry`'s value, time and words."""
        self.db.execute(
            "update checkins set value = ?, at = ?, confidence = ?, note = ? "
            "where id = ? and origin = ?",
            [entry.value, ts(entry.at), entry.confidence, entry.note, entry.id, CHECKIN_ORIGIN],
        )

    @guarded
    def delete_checkin(self, checkin_id: int) -> bool:
        cur = self.db.execute("delete from checkins where id = ? and origin = ?",
                              [checkin_id, CHECKIN_ORIGIN])
        return cur.rowcount > 0
