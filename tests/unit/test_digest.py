"""The weekly digest email: summary first, within Gmail's clipping size at any org size, key
results always in, hostile text escaped, every link a stable dashboard URL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from syncer.reports.digest import MAX_HTML_BYTES, build_digest, render_digest, tiles_of
from syncer.reports.figures import figures_of
from syncer.reports.model import WeekFigures, WeeklyReport
from tests.helpers.digest_helpers import EVIL, LONG_WORD, big_report

DASHBOARD = "https://okr.example.com/okrsync"


@pytest.fixture(scope="module", params=[500, 50_000], ids=["500-epics", "50000-epics"])
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> WeeklyReport:
    return big_report(int(request.param), tmp_path_factory.mktemp("digest"))


def test_digest_fits_before_gmail_clips_and_leads_with_the_summary(report: WeeklyReport) -> None:
    text, html = render_digest(report, top=5, dashboard_url=DASHBOARD)
    size = len(html.encode())
    assert size <= MAX_HTML_BYTES, size
    assert report.bets is not None and report.untraceable is not None
    head = html.encode()[:MAX_HTML_BYTES].decode("utf-8", "ignore")
    for obj in report.bets.objectives:
        for kr in obj.krs:
            assert f"<strong>{kr.id}</strong>" in head
            assert kr.id in text
    # summary tiles, then key results, then untraceable work
    assert head.index("untraceable</div>") < head.index('id="key-results"') \
        < head.index('id="untraceable"')
    assert "<style" not in html and "<svg" not in html and "<script" not in html


def test_digest_lists_only_the_top_in_flight_epics_per_team(report: WeeklyReport) -> None:
    d = build_digest(report, top=3, dashboard_url=DASHBOARD)
    assert report.untraceable is not None
    in_flight = report.untraceable.in_flight
    assert d.teams and all(len(t.items) <= 3 for t in d.teams)
    for t in d.teams:
        assert all(i.in_flight for i in t.items)
        mine = [i for i in in_flight if (i.team or "no team") == t.name]
        assert list(t.items) == mine[:3]  # the report's ranking: biggest, then oldest
        assert t.more == len(mine) - len(t.items)
    payments = next(t for t in d.teams if t.name == "payments")
    assert payments.url == f"{DASHBOARD}/untraceable?week={report.week}&team=payments"


def test_hostile_and_unbreakable_titles_stay_harmless(tmp_path: Path) -> None:
    report = big_report(60, tmp_path)
    text, html = render_digest(report, top=50, dashboard_url=DASHBOARD)
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert LONG_WORD not in html and LONG_WORD not in text  # shortened, so no wide line
    assert EVIL in text  # the text part shows it as written: it is not interpreted
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert hrefs and all(h.startswith(("https://jira.example.com/", DASHBOARD)) for h in hrefs)


def test_digest_shrinks_epics_then_teams_but_keeps_key_results(tmp_path: Path) -> None:
    report = big_report(2_000, tmp_path)
    _, full = render_digest(report, top=10)
    limit = len(full.encode()) * 3 // 4
    _, small = render_digest(report, top=10, limit=limit)
    assert len(small.encode()) <= limit
    assert small.count("border-left:3px") < full.count("border-left:3px")
    assert report.bets is not None
    for obj in report.bets.objectives:
        for kr in obj.krs:
            assert f"<strong>{kr.id}</strong>" in small


def test_tiles_say_what_changed_since_last_week(tmp_path: Path) -> None:
    report = big_report(300, tmp_path)
    now = figures_of(report)
    assert report.previous is not None and report.previous.week == "2026-W48"
    share, linked, moved, at_risk = tiles_of(now, report.previous)
    assert now.by_count is not None and report.previous.by_count is not None
    delta = (now.by_count - report.previous.by_count) * 100
    assert share.change == f"{delta:+.1f} pts vs last week" and share.tone == "good"
    assert linked.change == "+5 vs last week" and linked.tone == "good"
    assert moved.value == str(now.verdicts["moved"]) if now.verdicts else False
    assert at_risk.tone == ("good" if (now.krs_at_risk or 0) < 3 else "bad")
    first_week = tiles_of(now, None)
    assert {t.change for t in first_week} == {"no earlier week yet"}
    same = tiles_of(now, WeekFigures(week="x", untraceable=now.untraceable, total=now.total,
                                     by_count=now.by_count, linked=now.linked,
                                     verdicts=now.verdicts, krs_at_risk=now.krs_at_risk))
    assert {t.tone for t in same} == {"same"}


def test_without_a_dashboard_the_digest_links_only_tickets(tmp_path: Path) -> None:
    report = big_report(100, tmp_path)
    text, html = render_digest(report)
    assert "okrsync report" in html and "okrsync report" in text
    assert all(h.startswith("https://jira.example.com/")
               for h in re.findall(r'href="([^"]+)"', html))


def test_a_teams_mail_compares_with_the_teams_own_last_week() -> None:
    from tests.unit.test_reports import build

    last_week = {"week": "2026-W13", "untraceable": 5, "total": 9, "linked": 2,
                 "teams": {"web": {"untraceable": 3, "total": 6, "new": 0, "linked": 1}}}
    web = build(trend=[last_week]).for_team("web")
    assert web.previous is not None and (web.previous.untraceable, web.previous.linked) == (3, 1)
    share, linked = tiles_of(figures_of(web), web.previous)[:2]
    assert web.untraceable is not None
    assert linked.change == f"{web.untraceable.linked - 1:+d} vs last week"
    assert share.change != "no earlier week yet"
    assert build().for_team("web").previous is None


def test_needs_attention_reaches_the_mail(tmp_path: Path) -> None:
    from dataclasses import replace

    report = replace(big_report(50, tmp_path), attention=(f"source 'old' {EVIL}",))
    text, html = render_digest(report)
    assert "Needs attention" in html and "&lt;script&gt;" in html and EVIL not in html
    assert "NEEDS ATTENTION" in text and EVIL in text
    assert html.index("Needs attention") < html.index('id="key-results"')
