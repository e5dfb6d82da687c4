"""The report's verdicts section: ship date from the tracker, one fitted verdict with its
interval, hit rate per cycle, effort per verdict class, and the documented JSON shape."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema

from core.model import Bet, BetStatus, Catalog, CheckIn, KeyResult, Objective, Ticket, TicketState
from syncer.reports.model import ReportKind, WeeklyReport
from syncer.reports.terminal import verdict_renderables
from syncer.reports.verdicts import build_verdicts

NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)
SHIP = NOW - timedelta(weeks=6, days=2)
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report.schema.json").read_text())
CATALOG = Catalog(
    (Objective("O1", "Activation", "Ravi", "2026-Q4"),),
    (KeyResult("KR-1", "O1", "Activation", "Ravi", "activation", "%", 30, 50),),
)


def _ticket(key: str, resolved: datetime | None, size: float) -> Ticket:
    return Ticket("jira", key, key, f"https://x/{key}", f"Epic {key}", "WEB", "Epic", (),
                  TicketState.DONE, NOW, size=size, resolved=resolved)


def _bet(key: str, status: BetStatus = BetStatus.SHIPPED) -> Bet:
    return Bet("jira", key, "KR-1", status, None, NOW - timedelta(weeks=30),
               ended_at=NOW - timedelta(days=1))


def test_verdicts_section_from_the_trackers_ship_date() -> None:
    weeks = [SHIP - timedelta(weeks=12 - i) for i in range(19)]
    values = [CheckIn("KR-1", 30 + (0.1 * (i % 3)) + (6 if at >= SHIP else 0), at,
                      origin="sql", query_digest="d")
              for i, at in enumerate(weeks) if at <= NOW]
    tickets = {"jira:WEB-1": _ticket("WEB-1", SHIP, 5), "jira:WEB-2": _ticket("WEB-2", None, 3),
               "jira:WEB-3": _ticket("WEB-3", None, 8)}
    bets = [_bet("WEB-1"), _bet("WEB-2"), _bet("WEB-3", BetStatus.KILLED)]
    section = build_verdicts(catalog=CATALOG, bets=bets, tickets=tickets, checkins=values,
                             now=NOW)
    by_key = {i.key: i for i in section.items}
    moved = by_key["WEB-1"]
    assert moved.outcome == "MOVED" and moved.shipped_at == SHIP, moved.reason
    assert moved.low is not None and moved.low > 2  # δ = a tenth of the 20-point gap
    no_date = by_key["WEB-2"]  # the tracker gave no resolution: first sight, yesterday
    assert no_date.outcome == "INSUFFICIENT_DATA" and "first saw it done" in no_date.reason
    assert by_key["WEB-3"].outcome == "KILLED"
    (rate,) = section.hit_rate
    assert (rate.cycle, rate.judged, rate.moved, rate.rate) == ("2026-Q4", 1, 1, 1.0)
    assert {(e.outcome, e.bets, e.size) for e in section.effort} == {
        ("MOVED", 1, 5.0), ("INSUFFICIENT_DATA", 1, 3.0), ("KILLED", 1, 8.0)}

    report = WeeklyReport("2026-W49", ReportKind.BETS, "UTC", NOW, NOW, NOW, NOW, None, None,
                          verdicts=section)
    data = report.to_json()
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert data["verdicts"]["items"][0]["outcome"] in {"MOVED", "INSUFFICIENT_DATA", "KILLED"}
    assert len(list(verdict_renderables(replace(section)))) == 3
