"""Reports: the weekly untraceable-work and bet-portfolio report, built from the store as
plain data (`WeeklyReport`) and rendered to terminal, Markdown, HTML, text, JSON and CSV.

    build_weekly_report(...)            pure: plain values in, WeeklyReport out
    build_report(store, catalog, config, week)   the shell: reads the store, keeps snapshots
    render(report, fmt) / subject(report)
"""

from __future__ import annotations

from syncer.reports.build import ReportSettings, build_weekly_report
from syncer.reports.load import build_report, resolve_week, save_snapshot_of, settings_of
from syncer.reports.model import ReportKind, WeeklyReport
from syncer.reports.render import Format, render, subject
from syncer.reports.weeks import IsoWeek, parse_week, week_of

__all__ = [
    "Format",
    "IsoWeek",
    "ReportKind",
    "ReportSettings",
    "WeeklyReport",
    "build_report",
    "build_weekly_report",
    "parse_week",
    "render",
    "resolve_week",
    "save_snapshot_of",
    "settings_of",
    "subject",
    "week_of",
]
