"""A key result's two statuses: what its owner says (confidence) and what its numbers say
(progress against the time gone in the cycle). Where they disagree is a finding.

Confidence bands follow Atlassian Goals' 0–1 score (0–0.3 off track, 0.4–0.6 at risk, 0.7–1 on
track); pace follows Viva Goals' rule (at risk when more than 25 points behind the time-based
expectation), with on track allowing 10 points of slack."""

from __future__ import annotations

from enum import IntEnum

from core.model import KeyResult

ON_TRACK_FROM = 0.7
AT_RISK_FROM = 0.4
PACE_SLACK = 0.10
PACE_AT_RISK = 0.25


class Status(IntEnum):
    """Ordered so that a drop of two levels is on track → off track."""

    OFF_TRACK = 0
    AT_RISK = 1
    ON_TRACK = 2

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


def confidence_status(confidence: float | None) -> Status | None:
    """The owner's status from a 0–1 confidence; None when they stated none."""
    if confidence is None:
        return None
    if confidence >= ON_TRACK_FROM:
        return Status.ON_TRACK
    if confidence >= AT_RISK_FROM:
        return Status.AT_RISK
    return Status.OFF_TRACK


def progress(kr: KeyResult, value: float | None) -> float | None:
    """Share of the way from baseline to target (either direction), clipped to 0..1."""
    if value is None:
        return None
    share = (value - kr.baseline) / (kr.target - kr.baseline)
    return max(0.0, min(1.0, share))


def pace_status(done: float | None, elapsed: float) -> Status | None:
    """On track when progress keeps up with time (within the slack); None without a value."""
    if done is None:
        return None
    behind = elapsed - done
    if behind <= PACE_SLACK:
        return Status.ON_TRACK
    if behind <= PACE_AT_RISK:
        return Status.AT_RISK
    return Status.OFF_TRACK


def disagrees(confidence: Status | None, pace: Status | None) -> bool:
    """The finding: the owner says on track while the numbers say off track."""
    return confidence is Status.ON_TRACK and pace is Status.OFF_TRACK
