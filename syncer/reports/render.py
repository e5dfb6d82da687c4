"""Render a `WeeklyReport` as terminal tables, Markdown, HTML (the email body), plain text
(the email's alternative part), JSON or CSV.

Ticket text is untrusted everywhere: HTML templates autoescape and only http(s) URLs become
links; Markdown and plain-text templates pass every `{{ value }}` through an escaping
`finalize` (so a template cannot forget); terminal cells are `rich.text.Text` (never parsed as
markup); CSV cells that a spreadsheet would run as a formula get a leading `'`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from connectors.text import escape_markdown, printable
from syncer.reports.model import WeeklyReport
from syncer.reports.weeks import parse_week


class Format(StrEnum):
    TERMINAL = "terminal"
    MARKDOWN = "markdown"
    HTML = "html"
    TEXT = "text"
    JSON = "json"
    CSV = "csv"


class Raw(str):
    """Text a Markdown/plain-text template may emit unescaped (built by us, not by tickets)."""


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if abs(value) < 1e15 else f"{value:.6g}"


def signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+g}"


def day(value: datetime | None) -> str:
    return "–" if value is None else value.date().isoformat()


def days(value: int | None) -> str:
    if value is None:
        return "–"
    return "1 day" if value == 1 else f"{value} days"


def safe_url(value: str) -> str:
    """The URL if it is http(s), else "" (a tracker URL never needs another scheme)."""
    return value if value.lower().startswith(("https://", "http://")) else ""


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Raw):
        return str(value)
    return printable(str(value))


def _markdown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Raw | int | float):
        return str(value)
    return escape_markdown(str(value))


def _env(kind: str) -> Environment:
    finalize: Callable[[Any], Any] | None = None
    if kind == "md":
        finalize = _markdown
    elif kind == "txt":
        finalize = _plain
    env = Environment(
        loader=PackageLoader("syncer.reports", "templates"),
        autoescape=kind == "html",
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=finalize,
    )
    env.filters.update(
        pct=lambda v: Raw(pct(v)), num=lambda v: Raw(num(v)), signed=lambda v: Raw(signed(v)),
        day=lambda v: Raw(day(v)), days=lambda v: Raw(days(v)), url=safe_url, raw=Raw,
    )
    if kind == "html":
        env.filters["bar_height"] = _bar_height
    return env


_ENVS: dict[str, Environment] = {}


def _template(kind: str, name: str) -> Any:
    if kind not in _ENVS:
        _ENVS[kind] = _env(kind)
    return _ENVS[kind].get_template(name)


def _bar_height(value: float | None, peak: float | None) -> Markup:
    """Pixel height of one trend bar (0–60 px, at least 2 px for a non-zero week)."""
    if not value or not peak:
        return Markup("0")
    return Markup(str(max(2, round(60 * value / peak))))


def subject(report: WeeklyReport) -> str:
    """The email subject: names the week, the team part and the headline numbers."""
    parts = [f"okrsync weekly report {report.week}"]
    if report.team:
        parts[0] += f" — team {_plain(report.team)}"
    if report.untraceable is not None:
        u = report.untraceable
        parts.append(f"{u.share.untraceable} untraceable ({u.new} new)")
    if report.bets is not None:
        parts.append(f"{len(report.bets.stale)} stale bets")
    return ": ".join(parts[:1]) + (": " + ", ".join(parts[1:]) if parts[1:] else "")


def _context(report: WeeklyReport) -> dict[str, Any]:
    trend = report.untraceable.trend if report.untraceable else ()
    peak = max((p.by_count or 0.0 for p in trend), default=0.0)
    monday = parse_week(report.week).monday
    return {
        "r": report,
        "subject": subject(report),
        "trend_peak": peak,
        "first_day": Raw(monday.isoformat()),
        "last_day": Raw((monday + timedelta(days=6)).isoformat()),
    }


def render_html(report: WeeklyReport) -> str:
    return str(_template("html", "report.html").render(_context(report)))


def render_markdown(report: WeeklyReport) -> str:
    return str(_template("md", "report.md").render(_context(report)))


def render_text(report: WeeklyReport) -> str:
    return str(_template("txt", "report.txt").render(_context(report)))


def render_json(report: WeeklyReport) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


CSV_COLUMNS = (
    "section", "week", "team", "source", "key", "title", "url", "state", "kr_id", "since",
    "age_days", "new", "size", "suggested_kr", "label_to_add", "assignee", "owner", "label",
    "verdict", "movement", "days_active", "hypothesis_present", "stale", "baseline", "current",
    "target", "confidence", "active_bets",
)


def _csv_rows(report: WeeklyReport) -> Iterator[dict[str, Any]]:
    base = {"week": report.week}
    u = report.untraceable
    if u is not None:
        for i in u.items:
            first = i.suggestions[0] if i.suggestions else None
            yield {
                **base, "section": "untraceable", "team": i.team, "source": i.source,
                "key": i.key, "title": i.title, "url": i.url, "state": i.state,
                "since": i.since.isoformat() if i.since else None, "age_days": i.age_days,
                "new": i.new, "size": i.size, "assignee": i.assignee, "owner": i.owner,
                "suggested_kr": first.kr_id if first else None,
                "label_to_add": first.label if first else None,
            }
        for k in u.ktlo:
            yield {**base, "section": "ktlo", "team": k.team, "source": k.source, "key": k.key,
                   "title": k.title, "url": k.url, "state": k.state, "size": k.size,
                   "assignee": k.assignee}
        for b in u.broken:
            yield {**base, "section": "broken_link", "team": b.team, "source": b.source,
                   "key": b.key, "title": b.title, "url": b.url, "label": b.label,
                   "kr_id": b.kr_id}
        for o in u.overrides:
            yield {**base, "section": "override", "team": o.team, "source": o.source,
                   "key": o.key, "title": o.title, "url": o.url, "label": o.label,
                   "kr_id": o.kr_id, "since": o.at.isoformat()}
    if report.bets is not None:
        for obj in report.bets.objectives:
            for kr in obj.krs:
                yield {**base, "section": "key_result", "kr_id": kr.id, "title": kr.title,
                       "owner": kr.owner, "baseline": kr.baseline, "current": kr.current,
                       "target": kr.target, "confidence": kr.confidence,
                       "active_bets": kr.active_bets}
                for bet in kr.bets:
                    yield {**base, "section": "bet", "team": bet.team, "source": bet.source,
                           "key": bet.key, "title": bet.title, "url": bet.url,
                           "state": bet.status, "kr_id": bet.kr_id, "verdict": bet.verdict,
                           "movement": bet.movement, "days_active": bet.days_active,
                           "hypothesis_present": bet.hypothesis_present, "stale": bet.stale}


def _cell(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA):
        value = "'" + value
    return printable(value)


def render_csv(report: WeeklyReport) -> str:
    """One row per epic, bet or KR, tagged by `section`; formula-like text is neutralised."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in _csv_rows(report):
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def render_terminal(report: WeeklyReport, *, width: int = 120, color: bool = False) -> str:
    """The Rich tables as a string (the command prints them straight to the console)."""
    from rich.console import Console

    from syncer.reports.terminal import renderables

    console = Console(file=io.StringIO(), width=width, force_terminal=color, no_color=not color,
                      highlight=False)
    for item in renderables(report):
        console.print(item)
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


RENDERERS: dict[Format, Callable[[WeeklyReport], str]] = {
    Format.TERMINAL: render_terminal,
    Format.MARKDOWN: render_markdown,
    Format.HTML: render_html,
    Format.TEXT: render_text,
    Format.JSON: render_json,
    Format.CSV: render_csv,
}


def render(report: WeeklyReport, fmt: Format | str) -> str:
    return RENDERERS[Format(fmt)](report)
