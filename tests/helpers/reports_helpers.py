"""A known report scenario (catalog, tickets, links, bets, check-ins) as plain values, a way to
load it into a real Store, and config files that point at it."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.model import (
    Bet,
    BetStatus,
    BrokenLink,
    Catalog,
    CheckIn,
    Direction,
    KeyResult,
    Link,
    Objective,
    Origin,
    Override,
    Page,
    Ticket,
    TicketState,
)
from syncer.store import Store
from tests.helpers.config_helpers import register_testkind

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)  # a Wednesday in 2026-W14
WEEK = "2026-W14"
EVIL = '<script>alert(1)</script> & "x"'
SECRET_PASSWORD = "smtp-sentinel-PASSWORD-7f3a"
SECRET_TOKEN = "source-sentinel-TOKEN-91bc"

CATALOG = Catalog(
    objectives=(
        Objective("O1", "Make checkout effortless", "Dana Lee", "2026-Q2"),
        Objective("O2", "Ship faster", "Lee Park", "2026-Q2"),
    ),
    key_results=(
        KeyResult("KR-1", "O1", "Raise checkout conversion", "Dana Lee", "conversion", "%",
                  40, 60),
        KeyResult("KR-2", "O1", "Cut payment failures", "Sam Ortiz", "failures per 1000", "",
                  12, 5, Direction.DOWN),
        KeyResult("KR-3", "O2", "Reduce lead time", "Lee Park", "lead time", "d", 10, 4,
                  Direction.DOWN),
    ),
)

CATALOG_TOML = """\
[[objective]]
id = "O1"
title = "Make checkout effortless"
owner = "Dana Lee"
cycle = "2026-Q2"

  [[objective.key_result]]
  id = "KR-1"
  title = "Raise checkout conversion"
  owner = "Dana Lee"
  metric = "conversion"
  unit = "%"
  baseline = 40
  target = 60
  direction = "up"

  [[objective.key_result]]
  id = "KR-2"
  title = "Cut payment failures"
  owner = "Sam Ortiz"
  metric = "failures per 1000"
  baseline = 12
  target = 5
  direction = "down"

[[objective]]
id = "O2"
title = "Ship faster"
owner = "Lee Park"
cycle = "2026-Q2"

  [[objective.key_result]]
  id = "KR-3"
  title = "Reduce lead time"
  owner = "Lee Park"
  metric = "lead time"
  unit = "d"
  baseline = 10
  target = 4
  direction = "down"
"""

RULES_TOML = """\
[[rule]]
id = "r-fail"
kr = "KR-2"
priority = 40
projects = ["PAY"]
title_regex = "fail|chargeback"
"""


def ticket(key: str, title: str, *, source: str = "jira", state: TicketState = TicketState.TODO,
           labels: tuple[str, ...] = (), size: float | None = None,
           assignee: str | None = None, created: datetime | None = None) -> Ticket:
    project = key.split("#")[0] if "#" in key else key.split("-")[0]
    url = (f"https://github.example.com/{project}/issues/{key.split('#')[1]}" if "#" in key
           else f"https://jira.example.com/browse/{key}")
    return Ticket(source=source, key=key, remote_id=key, url=url, title=title, project=project,
                  issue_type="Epic", labels=labels, state=state, updated=NOW - timedelta(days=1),
                  assignee=assignee, size=size, created=created)


@dataclass
class Scenario:
    tickets: list[Ticket]
    links: list[Link]
    broken: list[BrokenLink]
    bets: list[Bet]
    overrides: list[Override]
    untraceable_since: dict[str, datetime]
    checkins: list[CheckIn]
    catalog: Catalog = CATALOG
    expected_untraceable: tuple[str, ...] = field(default=())


def scenario() -> Scenario:
    """Three untraceable epics (one new this week, with a hostile title), one ktlo epic, one
    won't-do epic (out of scope), and bets: moved, killed, stale, flat, unknown; KR-3 has none."""
    weeks = lambda n: NOW - timedelta(weeks=n)  # noqa: E731
    tickets = [
        ticket("WEB-1", "Checkout redesign", state=TicketState.DONE, size=8, labels=("okr:KR-1",)),
        ticket("WEB-2", "One-click pay", state=TicketState.WONT_DO, size=5),
        ticket("WEB-3", "Saved carts", state=TicketState.DONE, size=3),
        ticket("WEB-4", "Promo banner", labels=("okr:KR-99",), size=2),
        ticket("WEB-10", EVIL, size=5, assignee="Eve Hacker", created=NOW - timedelta(days=1)),
        ticket("WEB-20", "Upgrade postgres", labels=("ktlo",), size=3),
        ticket("WEB-30", "Abandoned idea", state=TicketState.WONT_DO, size=13),
        ticket("PAY-1", "Retry failed payments", state=TicketState.IN_PROGRESS, size=8),
        ticket("PAY-2", "Chargeback alerts", state=TicketState.DONE, size=2),
        ticket("PAY-10", "Payment failures dashboard", size=3, assignee="Sam Ortiz"),
        ticket("acme/app#5", "Refactor build", source="github", size=None),
    ]
    links = [
        Link("jira", "WEB-1", "KR-1", Origin.LABEL),
        Link("jira", "WEB-3", "KR-1", Origin.RULE, rule_id="r-checkout"),
        Link("jira", "PAY-1", "KR-2", Origin.RULE, rule_id="r-fail"),
        Link("jira", "PAY-2", "KR-2", Origin.RULE, rule_id="r-fail"),
    ]
    bets = [
        Bet("jira", "WEB-1", "KR-1", BetStatus.SHIPPED, "If checkout is one page, conversion +5",
            weeks(12), active_at=weeks(10), ended_at=weeks(2), kr_start=40, kr_end=45),
        Bet("jira", "WEB-2", "KR-1", BetStatus.KILLED, None, weeks(9), active_at=weeks(8),
            ended_at=weeks(3), kr_start=41, kr_end=42),
        Bet("jira", "WEB-3", "KR-1", BetStatus.SHIPPED, "Saved carts bring people back",
            weeks(6), ended_at=weeks(1), kr_start=None, kr_end=45),
        Bet("jira", "PAY-1", "KR-2", BetStatus.ACTIVE, None, weeks(11), active_at=weeks(10),
            kr_start=12),
        Bet("jira", "PAY-2", "KR-2", BetStatus.SHIPPED, "Alerts cut failures", weeks(8),
            active_at=weeks(7), ended_at=weeks(1), kr_start=12, kr_end=11.95),
    ]
    checkins = [
        CheckIn("KR-1", 40, weeks(10), 0.5),
        CheckIn("KR-1", 45, weeks(1), 0.7),
        CheckIn("KR-2", 12, weeks(10), 0.6),
        CheckIn("KR-2", 11.95, NOW - timedelta(days=2)),
        CheckIn("KR-1", 50, NOW + timedelta(days=30), 0.9),  # in the future: ignored
    ]
    since = {
        "jira:PAY-10": weeks(3),
        "github:acme/app#5": weeks(2),
        "jira:WEB-10": NOW - timedelta(days=1),
    }
    return Scenario(
        tickets=tickets,
        links=links,
        broken=[BrokenLink("jira", "WEB-4", "okr:KR-99", "KR-99")],
        bets=bets,
        overrides=[Override("jira", "WEB-1", "goal:KR-1", "KR-1", weeks(1))],
        untraceable_since=since,
        checkins=checkins,
        expected_untraceable=("acme/app#5", "PAY-10", "WEB-10"),
    )


def load_into(store: Store, sc: Scenario) -> None:
    """Write the scenario through the store's public API (untraceable `since` as planned)."""
    for source in ("jira", "github"):
        page = Page(tickets=tuple(t for t in sc.tickets if t.source == source))
        store.store_page(source, page, None, now=NOW - timedelta(weeks=4))
    flagged: list[str] = []
    for uid, since in sorted(sc.untraceable_since.items(), key=lambda kv: kv[1]):
        flagged.append(uid)
        store.save_plan_outcome(sc.links, sc.broken, sc.bets, flagged, sc.overrides,
                                sources=("jira", "github"), now=since)
    for checkin in sc.checkins:
        store.add_checkin(checkin)


def write_config(folder: Path, *, smtp_port: int = 25, security: str = "none",
                 username: str = "", per_team: bool = False,
                 recipients: tuple[str, ...] = ("lead@example.com", "cto@example.com")) -> Path:
    """okrsync.toml (+ okrs.toml, rules.toml) with two teams, SMTP on loopback, a source
    whose token is a sentinel; return the config path."""
    register_testkind()
    (folder / "okrs.toml").write_text(CATALOG_TOML, encoding="utf-8")
    (folder / "rules.toml").write_text(RULES_TOML, encoding="utf-8")
    rcpts = ", ".join(f'"{r}"' for r in recipients)
    body = f"""\
    [store]
    path = "okrsync.db"

    [sources.jira]
    kind = "testkind"
    token = "{SECRET_TOKEN}"

    [teams.web]
    owner = "Ana Web"
    email = "ana@example.com"
    projects = ["WEB"]

    [teams.payments]
    owner = "Dana Lee"
    email = "dana@example.com"
    projects = ["PAY"]

    [smtp]
    host = "127.0.0.1"
    port = {smtp_port}
    username = "{username}"
    password = "{SECRET_PASSWORD}"
    security = "{security}"
    sender = "okrsync@example.com"
    timeout = 5

    [report]
    recipients = [{rcpts}]
    timezone = "Europe/Berlin"
    per_team = {"true" if per_team else "false"}
    stale_weeks = 6
    trend_weeks = 4

    # Suggestions are learned from the store's links; a handful of epics is too few to be
    # sure of any, so the reports under test show every learned suggestion.
    [suggest]
    min_confidence = 0.0
    """
    path = folder / "okrsync.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def run_cli(argv: list[str]) -> int:
    """Run `okrsync argv` in-process; the exit code whether main returns or exits."""
    from syncer.cli import main

    try:
        main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
