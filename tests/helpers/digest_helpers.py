"""A large organisation's weekly report built straight from plain values (no sandbox, no
sync), so the digest can be measured at 500 and 50,000 epics quickly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.model import Bet, BetStatus, Catalog, CheckIn, Link, Origin, Ticket, TicketState
from sandbox.data import demo_catalog_toml
from syncer.catalog import load_catalog
from syncer.config import Team
from syncer.reports import ReportSettings, WeeklyReport, build_weekly_report, parse_week

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday in 2026-W49
WEEK = "2026-W49"
EVIL = '<script>alert(1)</script> & "x"'
LONG_WORD = "x" * 300
TEAMS = {
    name: Team(name=name, owner=f"{name.title()} Lead", email=f"{name}@example.com",
               projects=[f"{name.upper()[:4]}*"])
    for name in ("payments", "growth", "search", "platform", "data", "mobile")
}


def catalog(tmp: Path) -> Catalog:
    path = tmp / "okrs.toml"
    path.write_text(demo_catalog_toml())
    return load_catalog(path)


def big_report(epics: int, tmp: Path, *, seed: int = 3) -> WeeklyReport:
    """`epics` epics across six teams (a few with no team), about a third untraceable, a
    hostile title and an unbreakable 300-character word among them, twelve weeks of check-ins
    and last week's snapshot."""
    rng = random.Random(seed)
    cat = catalog(tmp)
    prefixes = [t.projects[0][:-1] for t in TEAMS.values()] + ["MISC"]
    states = (TicketState.TODO, TicketState.IN_PROGRESS, TicketState.DONE, TicketState.WONT_DO)
    tickets, links, since, bets = [], [], {}, []
    for n in range(epics):
        project = prefixes[n % len(prefixes)]
        title = EVIL if n == 7 else (LONG_WORD if n == 11 else f"Epic number {n} for {project}")
        t = Ticket(source="jira", key=f"{project}-{n}", remote_id=str(n),
                   url=f"https://jira.example.com/browse/{project}-{n}", title=title,
                   project=project, issue_type="Epic", labels=(),
                   state=TicketState.IN_PROGRESS if n in (7, 11) else states[rng.randrange(4)],
                   updated=NOW - timedelta(days=1),
                   created=NOW - timedelta(days=rng.randint(0, 400)),
                   size=rng.choice((None, 1, 2, 3, 5, 8, 13)))
        tickets.append(t)
        if n % 3 == 0 or n in (7, 11):
            since[t.uid] = NOW - timedelta(days=rng.randint(0, 60))
        else:
            kr = cat.key_results[n % len(cat.key_results)]
            links.append(Link("jira", t.key, kr.id, Origin.RULE, rule_id="r"))
            if n % 5 == 0:
                bets.append(Bet("jira", t.key, kr.id, BetStatus.SHIPPED, None,
                                NOW - timedelta(weeks=10), active_at=NOW - timedelta(weeks=8),
                                ended_at=NOW - timedelta(weeks=2), kr_start=kr.baseline,
                                kr_end=kr.baseline + (kr.target - kr.baseline) / 3))
    checkins = [
        CheckIn(kr.id, kr.baseline + (kr.target - kr.baseline) * w / 24,
                NOW - timedelta(weeks=12 - w), 0.3 + 0.04 * w)
        for kr in cat.key_results for w in range(13)
    ]
    in_scope = {t.uid for t in tickets if t.state is not TicketState.WONT_DO}
    untraceable = len(in_scope & set(since))
    linked = len(in_scope & {f"jira:{lk.ticket_key}" for lk in links})
    trend = [{"week": "2026-W48", "untraceable": untraceable + 5, "total": len(in_scope),
              "linked": linked - 5, "verdicts": {"moved": 1, "flat": 0, "unknown": 0,
                                                     "killed": 0}, "krs_at_risk": 3}]
    return build_weekly_report(
        tickets=tickets, links=links, broken=[], bets=bets, overrides=[],
        untraceable_since=since, checkins=checkins, catalog=cat, teams=TEAMS,
        week=parse_week(WEEK), now=NOW, trend=trend,
        settings=ReportSettings(trend_weeks=12),
        suggest=lambda t: [("KR-CHK-1", "shares a word")] if t.project == "PAYM" else [],
    )
