"""The weekly report from plain values: untraceable work, verdicts, trends, team parts, and
every renderer's escaping of untrusted ticket text."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from core.errors import ExitCode, UserError
from core.model import Bet, BetStatus, CheckIn, Ticket, TicketState
from syncer.bets import advance_bet
from syncer.config import Team, load_config
from syncer.reports import (
    Format,
    ReportKind,
    ReportSettings,
    WeeklyReport,
    build_report,
    build_weekly_report,
    parse_week,
    render,
    resolve_week,
    subject,
)
from syncer.reports.bets import readings
from syncer.reports.load import trend_history
from syncer.store import Store
from tests.helpers.reports_helpers import (
    CATALOG,
    EVIL,
    NOW,
    WEEK,
    Scenario,
    load_into,
    run_cli,
    scenario,
    ticket,
    write_config,
)
from tests.helpers.store_backends import clear_env_but_store

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report.schema.json").read_text())
TEAMS = {
    "web": Team(name="web", owner="Ana Web", email="ana@example.com", projects=["WEB"]),
    "payments": Team(name="payments", owner="Dana Lee", email="dana@example.com",
                     projects=["PAY"]),
}
SETTINGS = ReportSettings(timezone="Europe/Berlin", stale_weeks=6, trend_weeks=4)


def build(sc: Scenario | None = None, **overrides: Any) -> WeeklyReport:
    sc = sc or scenario()
    def suggest(t: Ticket) -> list[tuple[str, str]]:
        return [("KR-2", "rule r-fail matched 1 of 2")] if t.project == "PAY" else []

    args: dict[str, Any] = {
        "catalog": sc.catalog, "teams": TEAMS, "week": parse_week(WEEK), "now": NOW,
        "trend": [], "settings": SETTINGS, "suggest": suggest, **overrides,
    }
    return build_weekly_report(
        tickets=sc.tickets, links=sc.links, broken=sc.broken, bets=sc.bets,
        overrides=sc.overrides, untraceable_since=sc.untraceable_since, checkins=sc.checkins,
        **args,
    )


# -- untraceable work ----------------------------------------------------------------------


def test_untraceable_items_ages_new_and_suggestions() -> None:
    u = build().untraceable
    assert u is not None
    # in flight first, then by size (unsized last), then by age
    assert [i.key for i in u.items] == ["WEB-10", "PAY-10", "acme/app#5"]
    by_key = {i.key: i for i in u.items}
    assert {k: i.age_days for k, i in by_key.items()} == {"acme/app#5": 14, "PAY-10": 21,
                                                         "WEB-10": 1}
    assert [k for k, i in by_key.items() if i.new] == ["WEB-10"] and u.new == 1
    assert by_key["PAY-10"].team == "payments" and by_key["PAY-10"].owner == "Dana Lee"
    assert by_key["PAY-10"].assignee == "Sam Ortiz"
    assert by_key["acme/app#5"].team is None
    assert [s.label for s in by_key["PAY-10"].suggestions] == ["okr:KR-2"]


def test_ktlo_is_apart_and_wont_do_is_out_of_scope() -> None:
    u = build().untraceable
    assert u is not None
    assert [k.key for k in u.ktlo] == ["WEB-20"]
    assert "WEB-20" not in {i.key for i in u.items}
    # 11 tickets, two won't-do: 9 in scope; sizes of sized in-scope epics: 34, untraceable 8.
    assert (u.share.untraceable, u.share.total) == (3, 9)
    assert u.share.by_count == round(3 / 9, 4)
    assert (u.share.untraceable_size, u.share.total_size) == (8.0, 34.0)
    assert u.share.by_size == round(8 / 34, 4)
    assert [(b.key, b.kr_id) for b in u.broken] == [("WEB-4", "KR-99")]
    assert [(o.key, o.label) for o in u.overrides] == [("WEB-1", "goal:KR-1")]


def test_new_this_week_uses_the_report_time_zone() -> None:
    sc = scenario()
    # Monday 2026-03-30 01:30 in Berlin is Sunday 23:30 UTC: inside W14 in Berlin.
    sc.untraceable_since["jira:PAY-10"] = datetime(2026, 3, 29, 23, 30, tzinfo=UTC)
    # Sunday 23:00 in Berlin: still W13 there.
    sc.untraceable_since["github:acme/app#5"] = datetime(2026, 3, 29, 21, 0, tzinfo=UTC)
    # okrsync watched W13 already, so an epic untraceable since this week was rescoped: new.
    watched = [{"week": "2026-W13", "untraceable": 2, "total": 9}]
    u = build(sc, trend=watched).untraceable
    assert u is not None
    assert {i.key: i.new for i in u.items} == {"acme/app#5": False, "PAY-10": True,
                                               "WEB-10": True}
    first_week = build(sc).untraceable
    assert first_week is not None
    assert {i.key for i in first_week.items if i.new} == {"WEB-10"}  # created this week
    utc = build(sc, trend=watched, settings=replace(SETTINGS, timezone="UTC")).untraceable
    assert utc is not None and {i.key: i.new for i in utc.items}["PAY-10"] is False


def test_trend_comes_from_snapshots_within_the_window() -> None:
    history = [
        {"week": "2026-W10", "untraceable": 9, "total": 9},  # outside trend_weeks = 4
        {"week": "2026-W12", "untraceable": 1, "total": 10,
         "teams": {"web": {"untraceable": 1, "total": 4}}},
        {"week": "2026-W13", "untraceable": 2, "total": 10},
        {"week": "2026-W15", "untraceable": 7, "total": 7},  # after the report's week
    ]
    u = build(trend=history).untraceable
    assert u is not None
    assert [(p.week, p.untraceable, p.total) for p in u.trend] == [
        ("2026-W12", 1, 10), ("2026-W13", 2, 10), ("2026-W14", 3, 9)]
    web = next(t for t in u.teams if t.name == "web")
    assert [(p.week, p.untraceable) for p in web.trend] == [("2026-W12", 1), ("2026-W14", 1)]


def test_team_part_holds_only_that_teams_work() -> None:
    part = build().for_team("payments")
    assert part.team == "payments" and part.untraceable is not None and part.bets is not None
    assert [i.key for i in part.untraceable.items] == ["PAY-10"]
    assert part.untraceable.ktlo == () and part.untraceable.broken == ()
    assert part.untraceable.share.total == 3
    bet_keys = {b.key for o in part.bets.objectives for kr in o.krs for b in kr.bets}
    assert bet_keys == {"PAY-1", "PAY-2"}
    assert "team payments" in subject(part)


# -- bets and verdicts ---------------------------------------------------------------------


def test_bet_scenario_produces_the_documented_verdicts() -> None:
    bets = build().bets
    assert bets is not None
    verdicts = {b.key: b.verdict for o in bets.objectives for kr in o.krs for b in kr.bets}
    assert verdicts == {"WEB-1": "moved", "WEB-2": "killed", "WEB-3": "unknown",
                        "PAY-1": "unknown", "PAY-2": "flat"}
    assert bets.verdicts == {"moved": 1, "flat": 1, "unknown": 1, "killed": 1}
    assert [(s.key, s.days_active) for s in bets.stale] == [("PAY-1", 70)]
    assert bets.krs_without_active_bet == ("KR-1", "KR-3")
    kr1 = bets.objectives[0].krs[0]
    assert (kr1.baseline, kr1.current, kr1.target) == (40, 45, 60)  # future check-in ignored
    assert kr1.confidence == 0.7 and kr1.progress == 0.25
    web1 = next(b for b in kr1.bets if b.key == "WEB-1")
    assert web1.movement == 5 and web1.days_active == 56 and web1.hypothesis_present
    assert next(b for b in kr1.bets if b.key == "WEB-2").hypothesis_present is False


def test_verdicts_from_checkins_around_a_shipped_epic() -> None:
    """Check-ins before and after the epic ships drive the bet's start/end values."""
    checkins = [CheckIn("KR-1", 40, NOW - timedelta(weeks=9)),
                CheckIn("KR-1", 44, NOW - timedelta(weeks=2))]
    start, end = NOW - timedelta(weeks=8), NOW - timedelta(weeks=1)
    t_active = ticket("WEB-7", "Express checkout", state=TicketState.IN_PROGRESS)
    t_done = replace(t_active, state=TicketState.DONE)

    def value(at: datetime) -> float | None:
        return readings(checkins, at)["KR-1"].value

    bet = advance_bet(None, t_active, "KR-1", now=start, kr_value=value(start))
    bet = advance_bet(bet, t_done, "KR-1", now=end, kr_value=value(end))
    assert (bet.kr_start, bet.kr_end) == (40, 44)
    flat_bet = replace(bet, ticket_key="WEB-8", kr_end=40.1)  # 0.1 <= 1 % of |60 - 40|
    sc = replace(scenario(), bets=[bet, flat_bet], checkins=checkins,
                 tickets=[t_done, replace(t_done, key="WEB-8", title="Tiny tweak")])
    report = build(sc)
    assert report.bets is not None
    verdicts = {b.key: b.verdict for kr in report.bets.objectives[0].krs for b in kr.bets}
    assert verdicts == {"WEB-7": "moved", "WEB-8": "flat"}


def test_down_kr_moves_when_it_falls_and_not_stale_when_it_moved() -> None:
    sc = scenario()
    sc.bets[3] = replace(sc.bets[3], kr_start=12)  # PAY-1 active 10 weeks on KR-2 (down)
    sc.checkins.append(CheckIn("KR-2", 10, NOW - timedelta(hours=1)))
    bets = build(sc).bets
    assert bets is not None and bets.stale == ()
    planned = Bet("jira", "PAY-10", "KR-2", BetStatus.PLANNED, None, NOW)
    sc2 = replace(scenario(), bets=[planned])
    b2 = build(sc2).bets
    assert b2 is not None and "KR-2" in b2.krs_without_active_bet


# -- weeks ---------------------------------------------------------------------------------


def test_week_parsing_and_resolution() -> None:
    assert str(parse_week("2026-W01")) == "2026-W01"
    for bad in ("2026-14", "2026-W54", "W14", "2026-W1"):
        with pytest.raises(UserError) as exc:
            parse_week(bad)
        assert exc.value.exit_code == ExitCode.INVALID
    assert str(resolve_week(None, NOW, "Europe/Berlin")) == WEEK
    # Sunday 23:30 UTC is already Monday (next week) in Berlin, not in UTC.
    sunday = datetime(2026, 4, 5, 22, 30, tzinfo=UTC)
    assert str(resolve_week(None, sunday, "Europe/Berlin")) == "2026-W15"
    assert str(resolve_week(None, sunday, "UTC")) == "2026-W14"
    with pytest.raises(UserError):
        resolve_week("2026-W20", NOW, "UTC")


def test_past_week_is_read_at_its_end() -> None:
    report = build(week=parse_week("2026-W13"))
    assert report.as_of == parse_week("2026-W13").end("Europe/Berlin")
    assert report.untraceable is not None
    # WEB-10 became untraceable in W14: its age at the end of W13 is clamped to 0.
    assert {i.key: i.new for i in report.untraceable.items}["WEB-10"] is False


def test_kind_limits_sections() -> None:
    assert build(kind=ReportKind.BETS).untraceable is None
    assert build(kind=ReportKind.UNTRACEABLE).bets is None


# -- renderers -----------------------------------------------------------------------------


def hostile() -> Scenario:
    sc = scenario()
    title = '[bold red]rich[/] =HYPERLINK("x")\n* FAKE-1  forged'
    sc.tickets.append(replace(ticket("WEB-11", title), url="javascript:alert(1)"))
    sc.untraceable_since["jira:WEB-11"] = NOW - timedelta(days=2)
    return sc


def test_json_validates_against_the_documented_schema() -> None:
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for kind in ReportKind:
        data = json.loads(render(build(hostile(), kind=kind), Format.JSON))
        assert list(validator.iter_errors(data)) == []
        assert data["kind"] == kind.value
    team = json.loads(render(build().for_team("web"), Format.JSON))
    assert list(validator.iter_errors(team)) == [] and team["team"] == "web"
    broken = json.loads(render(build(), Format.JSON))
    broken["untraceable"]["items"][0]["surprise"] = 1
    assert list(validator.iter_errors(broken)) != []


def test_html_escapes_ticket_text_and_drops_unsafe_links() -> None:
    html = render(build(hostile()), Format.HTML)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;x&#34;" in html
    assert "javascript:" not in html
    assert 'href="https://jira.example.com/browse/WEB-10"' in html
    assert "okr:KR-2" in html and "no active bet" in html and "stale" in html
    assert "<style" not in html  # inline CSS only, for mail clients


def test_markdown_and_text_escape_ticket_text() -> None:
    md = render(build(hostile()), Format.MARKDOWN)
    assert EVIL not in md and r"\<script\>alert\(1\)\</script\> \& " in md
    assert "[bold red]" not in md
    text = render(build(hostile()), Format.TEXT)
    assert re.findall(r"^\* (\S+)  ", text, re.M) == ["WEB-10", "PAY-10", "acme/app#5", "WEB-11"]
    assert EVIL in text  # plain text is not interpreted: shown as written


def test_terminal_prints_markup_literally() -> None:
    out = render(build(hostile()), Format.TERMINAL)
    assert "[bold red]rich[/]" in out and "WEB-11" in out
    assert "\x1b[" not in out  # no colour when not a terminal


def test_csv_rows_and_formula_neutralised() -> None:
    rows = list(csv.DictReader(io.StringIO(render(build(hostile()), Format.CSV))))
    untr = [r for r in rows if r["section"] == "untraceable"]
    assert [r["key"] for r in untr] == ["WEB-10", "PAY-10", "acme/app#5", "WEB-11"]
    assert {r["section"] for r in rows} == {"untraceable", "ktlo", "broken_link", "override",
                                            "key_result", "bet"}
    web11 = next(r for r in untr if r["key"] == "WEB-11")
    assert web11["title"].startswith("[bold") and web11["url"].startswith("javascript")
    evil = hostile()
    evil.tickets[-1] = replace(evil.tickets[-1], title='=HYPERLINK("http://x")')
    rows = list(csv.DictReader(io.StringIO(render(build(evil), Format.CSV))))
    assert next(r for r in rows if r["key"] == "WEB-11")["title"] == "'=HYPERLINK(\"http://x\")"
    assert next(r for r in rows if r["key"] == "PAY-2" and r["section"] == "bet")["movement"] \
        == "-0.05"


# -- the shell: store, snapshots, CLI ------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_target: Path | str) -> Path:
    """The scenario's store on each backend, and a config pointed at it."""
    clear_env_but_store(monkeypatch, store_target)
    cfg = write_config(tmp_path)
    with Store.open(load_config(cfg).store_target) as store:
        load_into(store, scenario())
    return cfg


def test_build_report_from_store_keeps_snapshots_for_trends(project: Path) -> None:
    config = load_config(project)
    with Store.open(config.store_target) as store:
        w13 = NOW - timedelta(weeks=1)
        first = build_report(store, CATALOG, config, now=w13)
        assert first.week == "2026-W13"
        report = build_report(store, CATALOG, config, now=NOW)
        assert report.untraceable is not None
        assert [p.week for p in report.untraceable.trend] == ["2026-W13", WEEK]
        assert [r["week"] for r in trend_history(store, 4)] == ["2026-W13", WEEK]
        snap = store.report_snapshots("weekly-all", [WEEK])[0]
        assert snap.data["summary"]["untraceable"] == 3
        assert snap.data["report"]["week"] == WEEK
        # A past week is not re-snapshotted (its numbers were kept when it was current).
        build_report(store, CATALOG, config, "2026-W12", now=NOW)
        assert store.report_snapshots("weekly-all", ["2026-W12"]) == []
        got = {i.key: i.suggestions for i in report.untraceable.items}
        (pay,) = got["PAY-10"]
        assert pay.label == "okr:KR-2" and pay.confidence is not None
        assert pay.nearest and set(pay.nearest) <= {
            lk.ticket_key for lk in store.links() if lk.kr_id == "KR-2"}
        assert got["acme/app#5"] == ()  # shares nothing with any key result's work


def test_cli_writes_json_and_rejects_a_bad_week(project: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert run_cli(["report", "--format", "json", "--output", str(out), "-c", str(project)]) == 0
    data = json.loads(out.read_text())
    assert data["untraceable"]["share"]["untraceable"] == 3
    assert run_cli(["report", "--kind", "untraceable", "--format", "csv", "-c", str(project)]) == 0
    assert capsys.readouterr().out.startswith("section,week,")
    assert run_cli(["report", "--kind", "bets", "--json", "-c", str(project)]) == 0
    assert json.loads(capsys.readouterr().out)["untraceable"] is None
    assert run_cli(["report", "--week", "14", "-c", str(project)]) == 2
    assert "ISO week" in capsys.readouterr().err
