"""The weekly digest email: what a leader reads on a phone before Gmail clips it.

Summary first (tiles with the change since last week), then each key result's progress and
confidence as small charts built from table cells (Gmail and Outlook draw neither SVG nor
`<style>`), then per team the few untraceable epics worth acting on, and a link to the
dashboard for everything else. `render_digest` keeps the HTML within `MAX_HTML_BYTES` whatever
the org's size: fewer epics per team first, then fewer teams, never the key results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from syncer.reports.figures import figures_of
from syncer.reports.model import KrItem, UntraceableItem, WeekFigures, WeeklyReport
from syncer.reports.render import Raw, _template, num, pct, safe_url, subject

MAX_HTML_BYTES = 100_000
"""Gmail clips a message whose HTML passes ~102 KB; everything must fit before that."""
TITLE_CHARS = 90
BAR_PX = 28


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    change: str
    tone: str
    """good, bad or same: the colour of the change, from the reader's point of view."""


@dataclass(frozen=True)
class Bar:
    week: str
    height: int
    confidence: float | None


@dataclass(frozen=True)
class KrView:
    kr: KrItem
    objective: str
    progress_px: int | None
    """Width of the filled part of a 100 px progress bar (None: no value yet)."""
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class TeamView:
    name: str
    owner: str
    in_flight: int
    done: int
    total: int
    share: float | None
    items: tuple[UntraceableItem, ...]
    more: int
    url: str


@dataclass(frozen=True)
class Digest:
    report: WeeklyReport
    subject: str
    tiles: tuple[Tile, ...]
    krs: tuple[KrView, ...]
    teams: tuple[TeamView, ...]
    teams_left_out: int
    dashboard: str
    portfolio_url: str
    untraceable_url: str


def dashboard_links(base: str, report: WeeklyReport) -> dict[str, str]:
    """The dashboard's stable URLs for this report's week (empty when no dashboard is set)."""
    base = safe_url(base.strip()).rstrip("/")
    if not base:
        return {"dashboard": "", "portfolio": "", "untraceable": "", "teams": "", "runs": ""}
    week = f"?week={quote(report.week)}"
    return {
        "dashboard": f"{base}/{week}",
        "portfolio": f"{base}/portfolio{week}",
        "untraceable": f"{base}/untraceable{week}",
        "teams": f"{base}/teams{week}",
        "runs": f"{base}/runs",
    }


def _change(now: float | int | None, before: float | int | None, *, up_is_good: bool,
            points: bool = False) -> tuple[str, str]:
    if now is None or before is None:
        return ("no earlier week yet", "same")
    delta = (now - before) * (100 if points else 1)
    if round(delta, 1) == 0:
        return ("same as last week", "same")
    unit = " pts" if points else ""
    text = f"{delta:+.1f}{unit} vs last week" if points else f"{delta:+g} vs last week"
    good = (delta > 0) == up_is_good
    return (text, "good" if good else "bad")


def tiles_of(now: WeekFigures, before: WeekFigures | None) -> tuple[Tile, ...]:
    """Untraceable share, linked epics, ended bets that moved their KR, KRs at risk."""
    b = before or WeekFigures(week="")
    tiles = []
    if now.total is not None:
        tiles.append(Tile("untraceable", pct(now.by_count),
                          *_change(now.by_count, b.by_count, up_is_good=False, points=True)))
        tiles.append(Tile(f"linked of {now.total} epics", str(now.linked),
                          *_change(now.linked, b.linked, up_is_good=True)))
    if now.verdicts is not None:
        ended = sum(now.verdicts.values())
        moved = now.verdicts.get("moved", 0)
        before_moved = b.verdicts.get("moved", 0) if b.verdicts is not None else None
        tiles.append(Tile(f"of {ended} ended bets moved their KR", str(moved),
                          *_change(moved, before_moved, up_is_good=True)))
        tiles.append(Tile("key results at risk", str(now.krs_at_risk),
                          *_change(now.krs_at_risk, b.krs_at_risk, up_is_good=False)))
    return tuple(tiles)


def _kr_views(report: WeeklyReport) -> tuple[KrView, ...]:
    if report.bets is None:
        return ()
    out = []
    for obj in report.bets.objectives:
        for kr in obj.krs:
            width = None
            if kr.progress is not None:
                width = round(100 * min(1.0, max(0.0, kr.progress)))
            bars = tuple(
                Bar(p.week, 0 if p.confidence is None else max(2, round(BAR_PX * p.confidence)),
                    p.confidence)
                for p in kr.history
            )
            out.append(KrView(kr, f"{obj.id} · {obj.title}", width, bars))
    return tuple(out)


def _team_views(report: WeeklyReport, top: int, links: dict[str, str]) -> list[TeamView]:
    u = report.untraceable
    if u is None:
        return []
    by_team: dict[str | None, list[UntraceableItem]] = {}
    for item in u.items:
        by_team.setdefault(item.team, []).append(item)
    views = []
    for t in u.teams:
        mine = by_team.get(t.name, [])
        views.append(_team_view(t.name, t.owner, mine, t.share.total, t.share.by_count, top,
                                links, t.name))
    if None in by_team and not report.team:
        mine = by_team[None]
        views.append(_team_view("no team", "", mine, 0, None, top, links, None))
    views.sort(key=lambda v: -v.in_flight)
    return views


def _team_view(name: str, owner: str, items: list[UntraceableItem], total: int,
               share: float | None, top: int, links: dict[str, str],
               team: str | None) -> TeamView:
    flying = [i for i in items if i.in_flight]
    shown = tuple(flying[:top])
    url = links["untraceable"]
    if url and team is not None:
        url += f"&team={quote(team)}"
    return TeamView(name, owner, len(flying), len(items) - len(flying), total, share, shown,
                    len(flying) - len(shown), url)


def build_digest(report: WeeklyReport, *, top: int = 5, dashboard_url: str = "",
                 max_teams: int | None = None) -> Digest:
    """The digest's content. Pure: the report's values cut to what fits a phone screen."""
    links = dashboard_links(dashboard_url, report)
    teams = _team_views(report, top, links)
    kept = teams if max_teams is None else teams[:max_teams]
    return Digest(
        report=report,
        subject=subject(report),
        tiles=tiles_of(figures_of(report), report.previous),
        krs=_kr_views(report),
        teams=tuple(kept),
        teams_left_out=len(teams) - len(kept),
        dashboard=links["dashboard"],
        portfolio_url=links["portfolio"],
        untraceable_url=links["untraceable"],
    )


def short(text: str, limit: int = TITLE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _context(d: Digest) -> dict[str, Any]:
    from syncer.reports.render import _context as report_context

    return {**report_context(d.report), "d": d, "short": short, "num": num,
            "raw": Raw}


def render_digest_html(d: Digest) -> str:
    return str(_template("html", "digest.html").render(_context(d)))


def render_digest_text(d: Digest) -> str:
    return str(_template("txt", "digest.txt").render(_context(d)))


def render_digest(report: WeeklyReport, *, top: int = 5, dashboard_url: str = "",
                  limit: int = MAX_HTML_BYTES) -> tuple[str, str]:
    """(text, html) of the digest, the HTML within `limit` bytes: epics per team shrink first,
    then the teams shown; the summary and the key results always stay."""
    html = ""
    text = ""
    for n in range(top, -1, -1):
        d = build_digest(report, top=n, dashboard_url=dashboard_url)
        html = render_digest_html(d)
        if len(html.encode()) <= limit:
            return render_digest_text(d), html
    teams = len(build_digest(report, top=0).teams)
    while teams > 0:
        teams //= 2
        d = build_digest(report, top=0, dashboard_url=dashboard_url, max_teams=teams)
        html = render_digest_html(d)
        text = render_digest_text(d)
        if len(html.encode()) <= limit:
            break
    return text, html
