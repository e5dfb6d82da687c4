"""What each dashboard page shows, from the report model and the run records. Pure: the app
loads the values, these functions filter, sort and shape them, and the same data is both the
HTML page and its JSON twin (`?format=json`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from syncer.reports.model import KrItem, UntraceableItem, WeeklyReport
from syncer.web.charts import PALETTE, Frame, Series, legend, line_chart, meter

SORTS = ("size", "age")
STATES = ("todo", "in_progress", "done")
AGES = (0, 30, 90, 180)
"""Age filter choices: at least this many days since the epic was created."""
NO_TEAM = "(no team)"


@dataclass(frozen=True)
class Filters:
    """The Untraceable page's query: each value is one the page offers, or empty for all."""

    team: str = ""
    source: str = ""
    state: str = ""
    min_age: int = 0
    sort: str = "size"

    def to_json(self) -> dict[str, Any]:
        return {"team": self.team, "source": self.source, "state": self.state,
                "min_age": self.min_age, "sort": self.sort}


def parse_filters(query: Mapping[str, str]) -> Filters:
    """Unknown or malformed values fall back to "all" rather than an error page."""
    sort = query.get("sort", "size")
    try:
        min_age = int(query.get("min_age", "0") or 0)
    except ValueError:
        min_age = 0
    state = query.get("state", "")
    return Filters(
        team=query.get("team", "")[:200],
        source=query.get("source", "")[:200],
        state=state if state in STATES else "",
        min_age=min_age if min_age in AGES else 0,
        sort=sort if sort in SORTS else "size",
    )


def _matches(item: UntraceableItem, f: Filters) -> bool:
    team = item.team or NO_TEAM
    return ((not f.team or team == f.team) and (not f.source or item.source == f.source)
            and (not f.state or item.state == f.state)
            and (item.age_days or 0) >= f.min_age)


def untraceable_rows(report: WeeklyReport, f: Filters) -> list[UntraceableItem]:
    """The epics the filters keep, in-flight first, then by size or age (larger / older first)."""
    if report.untraceable is None:
        return []
    rows = [i for i in report.untraceable.items if _matches(i, f)]
    if f.sort == "age":
        rows.sort(key=lambda i: (not i.in_flight, -(i.age_days or 0), -(i.size or 0.0), i.key))
    else:
        rows.sort(key=lambda i: (not i.in_flight, -(i.size or 0.0), -(i.age_days or 0), i.key))
    return rows


def untraceable_page(report: WeeklyReport, f: Filters) -> dict[str, Any]:
    items = report.untraceable.items if report.untraceable else ()
    rows = untraceable_rows(report, f)
    return {
        "week": report.week,
        "filters": f.to_json(),
        "options": {
            "team": sorted({i.team or NO_TEAM for i in items}),
            "source": sorted({i.source for i in items}),
            "state": list(STATES),
            "min_age": list(AGES),
            "sort": list(SORTS),
        },
        "total": len(items),
        "count": len(rows),
        "rows": [_row(i) for i in rows],
    }


def _row(i: UntraceableItem) -> dict[str, Any]:
    first = i.suggestions[0] if i.suggestions else None
    return {
        "source": i.source, "key": i.key, "title": i.title, "url": i.url, "state": i.state,
        "team": i.team, "size": i.size, "age_days": i.age_days, "new": i.new,
        "created": i.created.isoformat() if i.created else None,
        "suggested_kr": first.kr_id if first else None,
        "label_to_add": first.label if first else None,
        "why": first.why if first else None,
        "past_krs": list(i.past_krs),
    }


def kr_charts(kr: KrItem) -> tuple[Markup, Markup]:
    """The KR's value over the weeks against baseline and target, and its confidence trend."""
    weeks = [p.week[5:] for p in kr.history] or ["now"]
    values = tuple(p.value for p in kr.history) or (kr.current,)
    unit = f" {kr.unit}" if kr.unit else ""
    value = line_chart(
        weeks, [Series(kr.id, values, PALETTE[0])],
        title=f"{kr.id} value by week, baseline {kr.baseline:g}, target {kr.target:g}{unit}",
        guides=(("target", kr.target, "#1f883d"), ("baseline", kr.baseline, "#8c959f")),
        css_class="chart kr-chart",
    )
    confidence = line_chart(
        weeks, [Series("confidence", tuple(p.confidence for p in kr.history)
                       or (kr.confidence,), PALETTE[1])],
        title=f"{kr.id} confidence by week", lo=0.0, hi=1.0, percent=True,
        frame=Frame(height=80), css_class="chart confidence-chart",
    )
    return value, confidence


def portfolio_page(report: WeeklyReport) -> dict[str, Any]:
    data = report.to_json()
    return {"week": report.week, "bets": data["bets"], "previous": data["previous"]}


def portfolio_view(report: WeeklyReport) -> list[dict[str, Any]]:
    """Objectives → KRs (with their charts) → bets, for the template."""
    if report.bets is None:
        return []
    out = []
    for obj in report.bets.objectives:
        krs = []
        for kr in obj.krs:
            value, confidence = kr_charts(kr)
            krs.append({"kr": kr, "chart": value, "confidence_chart": confidence,
                        "meter": meter(kr.progress, label=f"{kr.id} progress")})
        out.append({"objective": obj, "krs": krs})
    return out


def teams_page(report: WeeklyReport) -> dict[str, Any]:
    u = report.untraceable
    teams = u.teams if u else ()
    flying: dict[str | None, int] = {}
    for i in u.items if u else ():
        if i.in_flight:
            flying[i.team] = flying.get(i.team, 0) + 1
    return {
        "week": report.week,
        "teams": [
            {"name": t.name, "owner": t.owner, "untraceable": t.untraceable,
             "in_flight": flying.get(t.name, 0), "linked": t.linked, "total": t.share.total,
             "share": t.share.by_count, "share_by_size": t.share.by_size,
             "trend": [{"week": p.week, "untraceable": p.untraceable, "total": p.total,
                        "share": p.by_count} for p in t.trend]}
            for t in teams
        ],
        "org_trend": [{"week": p.week, "untraceable": p.untraceable, "total": p.total,
                       "share": p.by_count} for p in (u.trend if u else ())],
    }


def teams_chart(page: Mapping[str, Any]) -> tuple[Markup, Markup]:
    """Each team's untraceable share over the weeks, with the whole organisation's."""
    weeks = [str(p["week"]) for p in page["org_trend"]]
    series = [Series("organisation", tuple(p["share"] for p in page["org_trend"]), PALETTE[-1])]
    for n, team in enumerate(page["teams"]):
        by_week = {p["week"]: p["share"] for p in team["trend"]}
        series.append(Series(team["name"], tuple(by_week.get(w) for w in weeks),
                             PALETTE[n % (len(PALETTE) - 1)]))
    chart = line_chart([w[5:] for w in weeks] or ["now"], series,
                       title="Untraceable share by team and week", lo=0.0, percent=True,
                       frame=Frame(width=480, height=200), css_class="chart teams-chart")
    return chart, legend(series)


def runs_page(runs: Sequence[Mapping[str, Any]], tickets: Mapping[str, int],
              pending: Mapping[str, int]) -> dict[str, Any]:
    """Source health from the last sync, the write-back backlog and the latest errors."""
    last_sync = next((r for r in runs if r["kind"] == "sync" and not r["dry_run"]), None)
    sources = []
    if last_sync is not None:
        for s in last_sync["summary"].get("sources", []) or []:
            if isinstance(s, Mapping):
                name = str(s.get("name", ""))
                sources.append({
                    "name": name, "healthy": bool(s.get("healthy", True)),
                    "pulled": s.get("pulled", 0), "requests": s.get("requests", 0),
                    "reason": str(s.get("reason", "") or ""),
                    "warning": str(s.get("warning", "") or ""),
                    "tickets": tickets.get(name, 0),
                })
    errors = []
    for r in runs:
        summary = r["summary"]
        if summary.get("error"):
            errors.append({"run": r["id"], "at": r["started_at"], "error": str(summary["error"])})
        for s in summary.get("sources", []) or []:
            if isinstance(s, Mapping) and s.get("reason"):
                errors.append({"run": r["id"], "at": r["started_at"],
                               "error": f"{s.get('name')}: {s.get('reason')}"})
        for f in summary.get("failed", []) or []:
            if isinstance(f, Mapping):
                errors.append({"run": r["id"], "at": r["started_at"],
                               "error": f"{f.get('writeback')}: {f.get('error')}"})
    return {
        "sources": sources,
        "backlog": dict(pending),
        "runs": [{k: r[k] for k in ("id", "kind", "started_at", "finished_at", "status",
                                    "dry_run", "duration")} for r in runs],
        "errors": errors[:20],
    }
