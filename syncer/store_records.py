"""Runs, key-result values and report records: what happened when, for status and reports."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from core.model import CheckIn
from syncer.store_base import StoreBase, guarded, in_list
from syncer.store_rows import (
    CHECKIN_SELECT,
    ReportSnapshot,
    RunRow,
    SentReport,
    checkin_of,
    dt,
    dumps,
    run_of,
    ts,
)

CLAIM_STALE_AFTER = timedelta(hours=1)
"""A report claim this old was left by a sender that died before it could confirm the send."""


def _locked_sources(summary: str) -> set[str] | None:
    """The sources a running run locked (None: the whole store)."""
    try:
        data = json.loads(summary)
    except ValueError:
        return None
    locked = data.get("locked_sources") if isinstance(data, dict) else None
    return {str(s) for s in locked} if isinstance(locked, list) else None


class RecordsStore(StoreBase):
    """Run, check-in, KR snapshot, sent-report and report-snapshot methods of `Store`."""

    # -- runs ---------------------------------------------------------------------------

    @guarded
    def start_run(self, kind: str, *, dry_run: bool, now: datetime,
                  sources: Iterable[str] | None = None) -> int:
        """Record a run as `running`. `sources` are the ones whose locks it holds (a worker
        per source on PostgreSQL); None is the whole store. The finished summary replaces
        them."""
        scope = {} if sources is None else {"locked_sources": sorted(set(sources))}
        cur = self.db.execute(
            "insert into runs (kind, started_at, status, dry_run, summary) "
            "values (?, ?, 'running', ?, ?)",
            [kind, ts(now), int(dry_run), dumps(scope)],
        )
        return int(cur.lastrowid or 0)

    @guarded
    def finish_run(
        self, run_id: int, *, status: str, summary: Mapping[str, Any], now: datetime
    ) -> None:
        self.db.execute(
            "update runs set finished_at = ?, status = ?, summary = ? where id = ?",
            [ts(now), status, dumps(dict(summary)), run_id],
        )

    @guarded
    def close_interrupted_runs(self, kinds: Iterable[str], *, now: datetime,
                               sources: Iterable[str] | None = None) -> int:
        """Mark runs of `kinds` still `running` as `interrupted`. Called under the run lock,
        so none of them is alive: a run killed, or one whose last write failed (a full disk),
        does not stay `running` forever. With `sources` (the locks held: one worker per
        source), only runs that held one of them are closed; the others may be alive."""
        names = list(kinds)
        if sources is None:
            cur = self.db.execute(
                f"update runs set status = 'interrupted', finished_at = ? "
                f"where status = 'running' and kind in ({in_list(names)})", [ts(now), *names])
            return int(cur.rowcount)
        held = set(sources)
        running = self._rows(
            f"select id, summary from runs where status = 'running' and "
            f"kind in ({in_list(names)})", names)
        dead = [int(run_id) for run_id, summary in running
                if (locked := _locked_sources(summary)) is None or held & locked]
        self.db.conn.executemany(
            "update runs set status = 'interrupted', finished_at = ? where id = ?",
            [(ts(now), run_id) for run_id in dead])
        return len(dead)

    _RUN = "select id, kind, started_at, finished_at, status, dry_run, summary from runs"

    @guarded
    def runs(self, limit: int = 20) -> list[RunRow]:
        """The latest runs, newest first."""
        return [run_of(r) for r in self._rows(f"{self._RUN} order by id desc limit ?", [limit])]

    @guarded
    def run(self, run_id: int) -> RunRow | None:
        row = self._one(f"{self._RUN} where id = ?", [run_id])
        return None if row is None else run_of(row)

    @guarded
    def last_runs(self) -> dict[str, RunRow]:
        """The latest run of each kind (`sync`, `report` ...), for `okrsync status`."""
        rows = self._rows(f"{self._RUN} where id in (select max(id) from runs group by kind)")
        return {r.kind: r for r in map(run_of, rows)}

    # -- key-result values -----------------------------------------------------------------

    @guarded
    def add_checkin(self, checkin: CheckIn) -> int:
        cur = self.db.execute(
            "insert into checkins (kr_id, value, at, confidence, note) values (?, ?, ?, ?, ?)",
            [checkin.kr_id, checkin.value, ts(checkin.at), checkin.confidence, checkin.note],
        )
        return int(cur.lastrowid or 0)

    @guarded
    def checkins(self, kr_id: str | None = None) -> list[CheckIn]:
        """Check-ins (of one KR), oldest first."""
        where, params = ("where kr_id = ?", [kr_id]) if kr_id is not None else ("", [])
        rows = self._rows(f"{CHECKIN_SELECT} {where} order by at, id", params)
        return [checkin_of(row) for row in rows]

    @guarded
    def snapshot_kr_values(self, values: Mapping[str, float], *, now: datetime) -> None:
        """Remember KR values seen at `now`; a value equal to the KR's latest snapshot adds no
        row, so a daemon syncing every few minutes does not grow the table."""
        latest = self._latest("kr_snapshots", "at desc", ts(now))
        rows = [(kr, ts(now), float(v)) for kr, v in values.items() if latest.get(kr) != v]
        with self.db.atomic():
            self.db.conn.executemany(
                "insert or replace into kr_snapshots (kr_id, at, value) values (?, ?, ?)", rows
            )

    @guarded
    def kr_values(self, at: datetime) -> dict[str, float]:
        """Each KR's value at `at`: its latest check-in or measured value at or before `at` (a
        person's check-in wins a tie), else its latest snapshot at or before `at`. KRs with
        neither are absent."""
        stamp = ts(at)
        values = self._latest("kr_snapshots", "at desc", stamp)
        values.update(self._latest("checkins", "at desc, origin = 'checkin' desc, id desc",
                                   stamp))
        return values

    def _latest(self, table: str, newest_first: str, stamp: str) -> dict[str, float]:
        """Per KR, the value of the newest row of `table` at or before `stamp`."""
        rows = self._rows(
            f"select kr_id, value from (select kr_id, value, row_number() over (partition by "
            f"kr_id order by {newest_first}) as n from {table} where at <= ?) as latest "
            "where n = 1",
            [stamp],
        )
        return {str(kr): float(v) for kr, v in rows}

    # -- reports ---------------------------------------------------------------------------

    @guarded
    def sent_report(self, week: str, kind: str, recipient: str) -> SentReport | None:
        """The record of a report already mailed for this ISO week, if any."""
        row = self._one(
            "select week, kind, recipient, sent_at, message_id, times from sent_reports "
            "where week = ? and kind = ? and recipient = ?",
            [week, kind, recipient],
        )
        if row is None:
            return None
        return SentReport(row[0], row[1], row[2], dt(row[3]), row[4], int(row[5]))

    @guarded
    def record_sent_report(
        self, week: str, kind: str, recipient: str, *, now: datetime, message_id: str = ""
    ) -> None:
        self.db.execute(
            "insert into sent_reports (week, kind, recipient, sent_at, message_id) "
            "values (?, ?, ?, ?, ?) on conflict (week, kind, recipient) do update set "
            "sent_at = excluded.sent_at, message_id = excluded.message_id, "
            "times = sent_reports.times + 1",
            [week, kind, recipient, ts(now), message_id],
        )

    @guarded
    def claim_report(
        self, week: str, kind: str, recipient: str, *, now: datetime, message_id: str,
        stale_after: timedelta = CLAIM_STALE_AFTER,
    ) -> bool:
        """Claim the right to mail this (week, audience) before sending: one INSERT, so of two
        senders at once exactly one wins. A claim is a row with `times = 0` until
        `record_sent_report` confirms it; one older than `stale_after` (its sender died) is
        taken over."""
        with self.db.atomic():
            cur = self.db.execute(
                "insert into sent_reports (week, kind, recipient, sent_at, message_id, times) "
                "values (?, ?, ?, ?, ?, 0) on conflict (week, kind, recipient) do nothing",
                [week, kind, recipient, ts(now), message_id],
            )
            if cur.rowcount == 1:
                return True
            cur = self.db.execute(
                "update sent_reports set sent_at = ?, message_id = ? where week = ? and "
                "kind = ? and recipient = ? and times = 0 and sent_at < ?",
                [ts(now), message_id, week, kind, recipient, ts(now - stale_after)],
            )
            return cur.rowcount == 1

    @guarded
    def release_report_claim(self, week: str, kind: str, recipient: str) -> None:
        """Give up an unconfirmed claim (the send failed), so the next run sends."""
        self.db.execute(
            "delete from sent_reports where week = ? and kind = ? and recipient = ? "
            "and times = 0", [week, kind, recipient])

    @guarded
    def save_report_snapshot(
        self, week: str, kind: str, data: Mapping[str, Any], *, now: datetime
    ) -> None:
        """Keep (replace) one week's report data for trend lines."""
        self.db.execute(
            "insert or replace into report_snapshots (week, kind, data, created_at) "
            "values (?, ?, ?, ?)",
            [week, kind, dumps(dict(data)), ts(now)],
        )

    @guarded
    def report_snapshots(self, kind: str, weeks: int | Iterable[str]) -> list[ReportSnapshot]:
        """Snapshots of one kind, oldest week first: the latest `weeks` of them (an int), or
        those of the given ISO weeks."""
        sql = "select week, kind, data, created_at from report_snapshots where kind = ?"
        if isinstance(weeks, int):
            rows = self._rows(f"{sql} order by week desc limit ?", [kind, max(weeks, 0)])
        else:
            wanted = sorted(set(weeks))
            rows = self._rows(f"{sql} and week in ({in_list(wanted)})", [kind, *wanted])
        snaps = [ReportSnapshot(w, k, json.loads(d), dt(c)) for w, k, d, c in rows]
        return sorted(snaps, key=lambda s: s.week)

