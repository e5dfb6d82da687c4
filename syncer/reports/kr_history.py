"""Each key result week by week: the value and confidence a leader would have read at the end of
every report week, so charts show where a KR came from, not only where it is. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.model import CheckIn
from syncer.reports.model import KrPoint
from syncer.reports.weeks import IsoWeek


def week_ends(
    week: IsoWeek, weeks: int, timezone: str, as_of: datetime
) -> list[tuple[str, datetime]]:
    """The last `weeks` report weeks up to `week`, oldest first, each with the moment its
    values are read at (its end, or `as_of` for a week not over yet)."""
    out = []
    for back in range(weeks - 1, -1, -1):
        wk = week.shifted(-back)
        out.append((str(wk), min(wk.end(timezone), as_of)))
    return out


def kr_history(
    checkins: Sequence[CheckIn], ends: Sequence[tuple[str, datetime]]
) -> dict[str, tuple[KrPoint, ...]]:
    """Per KR, one point per week: the latest check-in value and latest stated confidence at or
    before that week's end (None before the first check-in)."""
    ordered = sorted(checkins, key=lambda c: c.at)
    out: dict[str, list[KrPoint]] = {}
    for kr_id in {c.kr_id for c in ordered}:
        mine = [c for c in ordered if c.kr_id == kr_id]
        points = []
        for label, end in ends:
            value: float | None = None
            confidence: float | None = None
            for c in mine:
                if c.at > end:
                    break
                value = c.value
                if c.confidence is not None:
                    confidence = c.confidence
            points.append(KrPoint(label, value, confidence))
        out[kr_id] = points
    return {k: tuple(v) for k, v in out.items()}
