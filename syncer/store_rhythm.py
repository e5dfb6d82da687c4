"""The review rhythm's records: reminders sent, escalations (open and closed), and chat
deliveries with their outcome. Schema v10 (docs/store.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from syncer.store_base import StoreBase, guarded
from syncer.store_rows import dt, ts


@dataclass(frozen=True)
class EscalationRow:
    rule: str
    subject: str
    week: str
    notify: str
    detail: str
    opened_at: datetime
    closed_at: datetime | None

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class ChatDelivery:
    channel: str
    kind: str
    subject: str
    status: str
    attempts: int
    detail: str
    at: datetime


_ESC = "select rule, subject, week, notify, detail, opened_at, closed_at from escalations"


def _esc(row: tuple[str, ...]) -> EscalationRow:
    return EscalationRow(row[0], row[1], row[2], row[3], row[4], dt(row[5]),
                         dt(row[6]) if row[6] else None)


class RhythmStore(StoreBase):
    """Reminder, escalation and chat-delivery methods of `Store`."""

    @guarded
    def record_reminder(self, kr_id: str, due: str, owner: str, *, now: datetime) -> bool:
        """Note a reminder as sent; False when this (KR, due date) already had one."""
        cur = self.db.execute(
            "insert or ignore into reminders (kr_id, due, owner, sent_at) values (?, ?, ?, ?)",
            [kr_id, due, owner, ts(now)])
        return cur.rowcount == 1

    @guarded
    def set_reminder_channels(self, kr_id: str, due: str, channels: Iterable[str]) -> None:
        self.db.execute("update reminders set channels = ? where kr_id = ? and due = ?",
                        [",".join(channels), kr_id, due])

    @guarded
    def reminders(self) -> list[tuple[str, str, str, datetime, str]]:
        """(kr_id, due, owner, sent_at, channels), oldest first."""
        rows = self._rows("select kr_id, due, owner, sent_at, channels from reminders "
                          "order by sent_at, kr_id")
        return [(r[0], r[1], r[2], dt(r[3]), r[4]) for r in rows]

    @guarded
    def update_escalations(
        self, found: Iterable[tuple[str, str, str, str]], *, week: str, now: datetime
    ) -> tuple[list[EscalationRow], list[EscalationRow]]:
        """Reconcile today's findings (rule, subject, notify, detail) with the records: a
        finding without an open record opens one for `week`; an open record no finding
        repeats is closed. Returns (opened, closed)."""
        wanted = {(r, s): (n, d) for r, s, n, d in found}
        opened: list[EscalationRow] = []
        closed: list[EscalationRow] = []
        with self.db.atomic():
            current = {(e.rule, e.subject): e for e in
                       map(_esc, self._rows(f"{_ESC} where closed_at is null"))}
            for key, esc in current.items():
                if key not in wanted:
                    self.db.execute("update escalations set closed_at = ? where rule = ? and "
                                    "subject = ? and week = ?", [ts(now), *key, esc.week])
                    closed.append(EscalationRow(esc.rule, esc.subject, esc.week, esc.notify,
                                                esc.detail, esc.opened_at, now))
            for (rule, subject), (notify, detail) in wanted.items():
                if (rule, subject) in current:
                    continue
                before = self._one(f"{_ESC} where rule = ? and subject = ? and week = ?",
                                   [rule, subject, week])
                if before is None:
                    self.db.execute(
                        "insert into escalations (rule, subject, week, notify, detail, "
                        "opened_at) values (?, ?, ?, ?, ?, ?)",
                        [rule, subject, week, notify, detail, ts(now)])
                    opened.append(EscalationRow(rule, subject, week, notify, detail, now, None))
                else:  # it cleared and came back within the same week: the same record
                    self.db.execute("update escalations set closed_at = null, detail = ? "
                                    "where rule = ? and subject = ? and week = ?",
                                    [detail, rule, subject, week])
        return opened, closed

    @guarded
    def escalations(self, *, open_only: bool = False) -> list[EscalationRow]:
        where = " where closed_at is null" if open_only else ""
        return [_esc(r) for r in self._rows(f"{_ESC}{where} order by opened_at, rule, subject")]

    @guarded
    def record_chat_delivery(self, d: ChatDelivery) -> None:
        self.db.execute(
            "insert into chat_deliveries (channel, kind, subject, status, attempts, detail, at) "
            "values (?, ?, ?, ?, ?, ?, ?)",
            [d.channel, d.kind, d.subject, d.status, d.attempts, d.detail, ts(d.at)])

    @guarded
    def chat_deliveries(self) -> list[ChatDelivery]:
        rows = self._rows("select channel, kind, subject, status, attempts, detail, at from "
                          "chat_deliveries order by id")
        return [ChatDelivery(r[0], r[1], r[2], r[3], int(r[4]), r[5], dt(r[6])) for r in rows]
