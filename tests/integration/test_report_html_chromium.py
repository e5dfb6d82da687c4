"""The email's HTML as a browser draws it: headless Chromium renders the known scenario to a
PNG under /tmp. Skipped where Chromium is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from syncer.config import Team
from syncer.reports import Format, ReportSettings, build_weekly_report, parse_week, render
from tests.helpers.reports_helpers import NOW, WEEK, scenario

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and Path(p).exists()),
                None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    sc = scenario()
    report = build_weekly_report(
        tickets=sc.tickets, links=sc.links, broken=sc.broken, bets=sc.bets,
        overrides=sc.overrides, untraceable_since=sc.untraceable_since, checkins=sc.checkins,
        catalog=sc.catalog,
        teams={"web": Team(name="web", owner="Ana Web", email="a@example.com", projects=["WEB"])},
        week=parse_week(WEEK), now=NOW,
        trend=[{"week": "2026-W12", "untraceable": 1, "total": 8},
               {"week": "2026-W13", "untraceable": 2, "total": 9}],
        settings=ReportSettings(timezone="Europe/Berlin", trend_weeks=4),
    )
    page = tmp_path / "report.html"
    page.write_text(render(report, Format.HTML), encoding="utf-8")
    shot = Path("/tmp/okrsync-report-html.png")
    shot.unlink(missing_ok=True)
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=900,2200", page.as_uri()],
        check=True, capture_output=True, timeout=60,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
