"""The report opens with a banner when a source's data is older than its sync schedule, in
every format people read; fresh data gives no banner."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from syncer.config import load_config
from syncer.reports.digest import render_digest
from syncer.reports.load import build_report
from syncer.reports.render import render
from syncer.store import Store
from tests.helpers.reports_helpers import CATALOG, NOW
from tests.unit.test_reports import project

__all__ = ["project"]  # the fixture: a config and a store holding the report scenario


def _sync(store: Store, minutes_ago: int, reason: str = "") -> None:
    at = NOW - timedelta(minutes=minutes_ago)
    run = store.start_run("sync", dry_run=False, now=at)
    source = {"name": "jira", "healthy": not reason, "reason": reason}
    store.finish_run(run, status="failures" if reason else "ok",
                     summary={"sources": [source], "failed": []}, now=at)


def test_a_source_failing_for_hours_puts_a_stale_banner_on_top(project: Path) -> None:
    config = load_config(project)
    with Store.open(config.store_target) as store:
        _sync(store, 300)
        for minutes_ago in (200, 100, 5):
            _sync(store, minutes_ago, reason="pull failed: jira: 401 Unauthorized")
        report = build_report(store, CATALOG, config, now=NOW, save_snapshot=False)
    (line,) = report.stale_sources
    assert line == ("jira: data is 5 h old, older than its sync schedule "
                    "(last failure: pull failed: jira: 401 Unauthorized)")
    assert report.to_json()["stale_sources"] == [line]
    text, html = render_digest(report)
    outputs = {fmt: render(report, fmt) for fmt in ("markdown", "text", "html", "terminal")}
    outputs |= {"digest text": text, "digest html": html}
    for fmt, out in outputs.items():
        body = out[max(out.find("<body"), 0):]
        head = body[: body.index("ntraceable")]
        assert "tale data" in head.lower(), fmt
        assert "5 h old" in head, fmt


def test_fresh_data_has_no_banner(project: Path) -> None:
    config = load_config(project)
    with Store.open(config.store_target) as store:
        _sync(store, 300, reason="pull failed: jira: 500")
        _sync(store, 5)
        report = build_report(store, CATALOG, config, now=NOW, save_snapshot=False)
    assert report.stale_sources == ()
    assert "tale data" not in render(report, "markdown").lower()
