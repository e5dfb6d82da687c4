"""A week's headline figures (the digest's tiles) and how they are kept in the weekly snapshot,
so next week's tiles can say what changed. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from syncer.reports.model import WeekFigures, WeeklyReport


def figures_of(report: WeeklyReport) -> WeekFigures:
    """This report's figures (the team's, for a team's part)."""
    u, b = report.untraceable, report.bets
    return WeekFigures(
        week=report.week,
        untraceable=u.share.untraceable if u else None,
        total=u.share.total if u else None,
        by_count=u.share.by_count if u else None,
        linked=u.linked if u else None,
        verdicts=dict(b.verdicts) if b else None,
        krs_at_risk=sum(1 for o in b.objectives for kr in o.krs if kr.at_risk) if b else None,
    )


def bets_summary(report: WeeklyReport) -> dict[str, Any]:
    """What the snapshot keeps of the portfolio for next week's tiles."""
    f = figures_of(report)
    return {"verdicts": f.verdicts, "krs_at_risk": f.krs_at_risk} if report.bets else {}


def previous_figures(
    history: Sequence[Mapping[str, Any]], week: str, team: str | None = None
) -> WeekFigures | None:
    """The figures kept for `week` (a snapshot summary), or None when there is no snapshot."""
    for summary in history:
        if str(summary.get("week", "")) != week:
            continue
        data = summary if team is None else summary.get("teams", {}).get(team)
        if not isinstance(data, Mapping):
            return None
        untr, total = _int(data.get("untraceable")), _int(data.get("total"))
        verdicts = summary.get("verdicts") if team is None else None
        return WeekFigures(
            week=week,
            untraceable=untr,
            total=total,
            by_count=round(untr / total, 4) if untr is not None and total else None,
            linked=_int(data.get("linked")),
            verdicts={str(k): int(v) for k, v in verdicts.items()}
            if isinstance(verdicts, Mapping) else None,
            krs_at_risk=_int(summary.get("krs_at_risk")) if team is None else None,
        )
    return None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None
