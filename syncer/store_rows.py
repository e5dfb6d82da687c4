"""The store's row values and how domain values become columns and back.

Kept apart from `syncer.store` so the SQL there reads as SQL. Every datetime is stored as
UTC ISO-8601 text with microseconds and an offset (`2026-01-05T10:00:00.000000+00:00`): fixed
width, so text order is time order and SQL can compare it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from core.model import (
    ApplyResult,
    ApplyStatus,
    Bet,
    BetStatus,
    CheckIn,
    Ticket,
    TicketState,
    WriteBack,
)


class Confirmed(NamedTuple):
    """A write-back its tracker confirmed, waiting to be recorded: the outbox item, what
    the connector reported and when."""

    item_id: int
    result: ApplyResult
    at: datetime


TicketId = tuple[str, str]
KeyRange = tuple[TicketId | None, TicketId | None]
"""Tickets by (source, key): after the first (exclusive, None = from the start) up to the
second (inclusive, None = to the end). The planner works through the store in such ranges."""


def in_range(within: KeyRange | None, source: str = "source",
             key: str = "ticket_key") -> tuple[str, list[str]]:
    """A SQL condition (and its parameters) for rows whose (`source`, `key`) is in `within`."""
    if within is None:
        return "true", []
    after, upto = within
    parts: list[str] = []
    params: list[str] = []
    if after is not None:
        parts.append(f"({source}, {key}) > (?, ?)")
        params += after
    if upto is not None:
        parts.append(f"({source}, {key}) <= (?, ?)")
        params += upto
    return " and ".join(parts) or "true", params


def ts(value: datetime) -> str:
    """A UTC-aware datetime as sortable text; naive datetimes are a bug and rejected."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store takes UTC-aware datetimes only")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def ts_opt(value: datetime | None) -> str | None:
    return None if value is None else ts(value)


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def dt_opt(text: str | None) -> datetime | None:
    return None if text is None else dt(text)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


@dataclass(frozen=True)
class OutboxItem:
    """One write-back waiting in (or done from) the outbox."""

    id: int
    writeback: WriteBack
    attempts: int = 0
    last_error: str | None = None
    run_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    next_attempt_at: datetime | None = None
    parked_at: datetime | None = None
    outcome_unknown: bool = False


@dataclass(frozen=True)
class RunRow:
    """One recorded run (`sync`, `report`, `revert` ...). `status` is `running` until finished."""

    id: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    dry_run: bool
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class JournalRow:
    """A confirmed write-back, with what was there before: what `revert` inverts."""

    id: int
    run_id: int | None
    writeback: WriteBack
    result: ApplyResult
    before: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class SkippedRow:
    """A payload a connector could not read, as last recorded."""

    source: str
    key: str
    reason: str
    run_id: int | None
    at: datetime


@dataclass(frozen=True)
class SentReport:
    """A report mailed for one ISO week to one recipient; `times` > 1 after forced resends."""

    week: str
    kind: str
    recipient: str
    sent_at: datetime
    message_id: str = ""
    times: int = 1


@dataclass(frozen=True)
class ReportSnapshot:
    """The data of one week's report, kept for trends."""

    week: str
    kind: str
    data: dict[str, Any]
    created_at: datetime


TICKET_COLUMNS = (
    "source", "key", "remote_id", "url", "title", "project", "issue_type", "labels", "state",
    "updated", "created", "components", "assignee", "hypothesis", "size", "description",
    "resolved",
)


def ticket_params(t: Ticket) -> tuple[Any, ...]:
    """The TICKET_COLUMNS values of a ticket, in order."""
    return (
        t.source, t.key, t.remote_id, t.url, t.title, t.project, t.issue_type,
        json.dumps(list(t.labels), ensure_ascii=False), t.state.value, ts(t.updated),
        ts_opt(t.created), json.dumps(list(t.components), ensure_ascii=False), t.assignee,
        t.hypothesis, t.size, t.description, ts_opt(t.resolved),
    )


def ticket_of(row: Sequence[Any]) -> Ticket:
    """A ticket from a row selected as TICKET_COLUMNS."""
    return Ticket(
        source=row[0], key=row[1], remote_id=row[2], url=row[3], title=row[4], project=row[5],
        issue_type=row[6], labels=tuple(json.loads(row[7])), state=TicketState(row[8]),
        updated=dt(row[9]), created=dt_opt(row[10]), components=tuple(json.loads(row[11])),
        assignee=row[12], hypothesis=row[13], size=row[14], description=row[15],
        resolved=dt_opt(row[16]),
    )


BET_COLUMNS = (
    "source", "ticket_key", "kr_id", "status", "hypothesis", "opened_at", "active_at",
    "ended_at", "kr_start", "kr_end",
)


def bet_params(b: Bet) -> tuple[Any, ...]:
    return (
        b.source, b.ticket_key, b.kr_id, b.status.value, b.hypothesis, ts(b.opened_at),
        ts_opt(b.active_at), ts_opt(b.ended_at), b.kr_start, b.kr_end,
    )


def bet_of(row: Sequence[Any]) -> Bet:
    return Bet(
        source=row[0], ticket_key=row[1], kr_id=row[2], status=BetStatus(row[3]),
        hypothesis=row[4], opened_at=dt(row[5]), active_at=dt_opt(row[6]),
        ended_at=dt_opt(row[7]), kr_start=row[8], kr_end=row[9],
    )


def result_json(r: ApplyResult) -> dict[str, Any]:
    return {"status": r.status.value, "remote_ref": r.remote_ref, "detail": r.detail}


def result_of(data: dict[str, Any]) -> ApplyResult:
    return ApplyResult(ApplyStatus(data["status"]), data.get("remote_ref"), data.get("detail", ""))


def run_of(row: Sequence[Any]) -> RunRow:
    """A run from (id, kind, started_at, finished_at, status, dry_run, summary)."""
    return RunRow(
        id=int(row[0]), kind=row[1], started_at=dt(row[2]), finished_at=dt_opt(row[3]),
        status=row[4], dry_run=bool(row[5]), summary=json.loads(row[6]),
    )


OUTBOX_COLUMNS = ("id, writeback, attempts, last_error, run_id, created_at, updated_at, "
                  "next_attempt_at, parked_at, outcome_unknown")
"""What `outbox_of` reads, in its order."""


def tryable(alias: str = "") -> str:
    """The SQL condition of a pending row that may be tried at the time bound to its one `?`:
    not parked and past any backoff after a refusal (`alias` is the outbox's, e.g. "o.")."""
    return (f"{alias}parked_at is null and "
            f"({alias}next_attempt_at is null or {alias}next_attempt_at <= ?)")


def outbox_of(row: Sequence[Any]) -> OutboxItem:
    """An item from a row of `OUTBOX_COLUMNS`."""
    return OutboxItem(
        id=int(row[0]), writeback=WriteBack.from_json(json.loads(row[1])), attempts=int(row[2]),
        last_error=row[3], run_id=row[4], created_at=dt(row[5]), updated_at=dt(row[6]),
        next_attempt_at=dt_opt(row[7]), parked_at=dt_opt(row[8]), outcome_unknown=bool(row[9]),
    )


CHECKIN_SELECT = ("select kr_id, value, at, confidence, note, origin, query_digest, fetched_at, "
                  "id from checkins")


def checkin_of(row: Sequence[Any]) -> CheckIn:
    """A check-in or measured value from a row selected by CHECKIN_SELECT."""
    return CheckIn(
        kr_id=row[0], value=float(row[1]), at=dt(row[2]), confidence=row[3], note=row[4],
        origin=row[5], query_digest=row[6], fetched_at=dt_opt(row[7]), id=int(row[8]),
    )
