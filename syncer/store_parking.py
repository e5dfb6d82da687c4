"""Outbox items okrsync gave up on or holds back: dropped ones (journalled), parked ones and
the ones waiting out a backoff, counted and resumed (the policy is `syncer.parking`); and what
re-planning the pending items reads (`syncer.replan`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connectors.fields import UNKNOWN_FIELD
from core.model import ApplyResult, ApplyStatus, Override
from syncer.store_base import guarded
from syncer.store_health import OUTBOX_STATES
from syncer.store_outbox import OutboxStore
from syncer.store_rows import (
    OUTBOX_COLUMNS,
    KeyRange,
    OutboxItem,
    TicketId,
    in_range,
    outbox_of,
    ts,
)

OUTBOX_STATES.update(
    parked="parked_at is not null",
    waiting="parked_at is null and next_attempt_at is not null and next_attempt_at > {now_utc}",
)
"""`outbox_counts()` counts `parked` (not retried until `okrsync resume`) and `waiting`
(refused, backing off until its next attempt) among the pending rows."""


class ParkingStore(OutboxStore):
    """Dropping, parking and resuming outbox items."""

    @guarded
    def mark_dropped(self, item_id: int, reason: str, run_id: int | None, *,
                     now: datetime) -> None:
        """Give up a pending write-back for good (its ticket is gone, or the fresh plan no
        longer wants it): the row becomes `dropped` and the journal says why. Nothing remote
        changed, so the ledger and the stored ticket stay as they are and revert skips it."""
        stamp = ts(now)
        with self.db.atomic():
            wb = self._pending_writeback(item_id)
            self.db.execute(
                "update outbox set status = 'dropped', last_error = ?, done_at = ?, "
                "done_run_id = ?, updated_at = ? where id = ?",
                [reason[:2000], stamp, run_id, stamp, item_id],
            )
            self._journal(run_id, item_id, wb, ApplyResult(ApplyStatus.DROPPED, None, reason),
                          {}, stamp)

    @guarded
    def record_overrides(self, overrides: Sequence[Override]) -> None:
        """A person's removals found outside planning (`syncer.replan.removed_after_lost`)."""
        with self.db.atomic():
            for o in overrides:
                self.db.execute(
                    "insert or ignore into overrides (source, ticket_key, label, kr_id, at) "
                    "values (?, ?, ?, ?, ?)", [o.source, o.ticket_key, o.label, o.kr_id, ts(o.at)])

    @guarded
    def resume(self, *, source: str | None = None, ids: Sequence[int] = (),
               now: datetime) -> int:
        """Make parked or waiting items due again (all, one source's, or the given ids);
        returns how many. Their attempts are kept: one more refusal parks them again."""
        conds = ["status = 'pending'", "(parked_at is not null or next_attempt_at is not null)"]
        params: list[object] = []
        if source is not None:
            conds.append("source = ?")
            params.append(source)
        if ids:
            conds.append(f"id in ({', '.join('?' for _ in ids)})")
            params.extend(int(i) for i in ids)
        cursor = self.db.execute(
            "update outbox set parked_at = null, next_attempt_at = null, updated_at = ? "
            f"where {' and '.join(conds)}",
            [ts(now), *params],
        )
        return int(cursor.rowcount)

    @guarded
    def pending_within(self, within: KeyRange | None) -> list[OutboxItem]:
        """Every pending item of the tickets in `within` (parked and waiting ones too)."""
        cond, params = in_range(within)
        rows = self._rows(f"select {OUTBOX_COLUMNS} from outbox where status = 'pending' "
                          f"and {cond} order by id", params)
        return [outbox_of(r) for r in rows]

    @guarded
    def held_tickets(self, within: KeyRange | None = None) -> frozenset[TicketId]:
        """Stored tickets whose last payload lacked a field okrsync plans from: nothing is
        written to them until a pull sees the field again (which clears the skipped row)."""
        cond, params = in_range(within, key="key")
        return frozenset((s, k) for s, k in self._rows(
            f"select source, key from skipped where reason like ? and {cond}",
            [UNKNOWN_FIELD + "%", *params]))
