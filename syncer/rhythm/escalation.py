"""Escalation rules: which stalls need a person above the owner, decided from plain values.

Each finding names its rule, its subject (a KR id or a team name) and who it goes to. The
shell records a finding once per (rule, subject, week) and closes the record when the rule no
longer finds it: the cause cleared."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from syncer.rhythm.krstatus import KrStatus
from syncer.rhythm.pace import confidence_status
from syncer.rhythm.people import Org
from syncer.rhythm.scorecard import Scorecard
from syncer.rhythm.settings import EscalationSection

OVERDUE_LEAD = "overdue-lead"
OVERDUE_SPONSOR = "overdue-sponsor"
CONFIDENCE_DROP = "confidence-drop"
DISAGREEMENT = "disagreement"
TEAM_LAGGING = "team-lagging"
RULES = (OVERDUE_LEAD, OVERDUE_SPONSOR, CONFIDENCE_DROP, DISAGREEMENT, TEAM_LAGGING)


@dataclass(frozen=True)
class Finding:
    rule: str
    subject: str
    notify: str
    """The person it goes to (a `[people.<name>]`); empty when nobody is configured."""
    detail: str


def findings(
    krs: Sequence[KrStatus],
    weeks_before: Sequence[Sequence[KrStatus]],
    cards: Sequence[Scorecard],
    lagging_before: Sequence[frozenset[str]],
    org: Org,
    settings: EscalationSection,
) -> list[Finding]:
    """Today's findings. `weeks_before[i]` are the KR statuses i + 1 weeks ago and
    `lagging_before[i]` the teams lagging then (from stored scorecards)."""
    out: list[Finding] = []
    for k in krs:
        kr = k.kr
        late = k.due.overdue_working_days if k.due.missing else 0
        if late >= settings.overdue_lead_days:
            out.append(Finding(OVERDUE_LEAD, kr.id, org.lead(k.team) or kr.owner,
                               f"{kr.id} check-in {late} working days overdue "
                               f"(due {k.due.due}, owner {kr.owner})"))
        if late >= settings.overdue_sponsor_days:
            out.append(Finding(OVERDUE_SPONSOR, kr.id, org.sponsor(kr.objective_id),
                               f"{kr.id} check-in {late} working days overdue "
                               f"(due {k.due.due}, owner {kr.owner})"))
        now, before = confidence_status(k.confidence), confidence_status(k.previous_confidence)
        if now is not None and before is not None and (
                before - now >= settings.confidence_drop_levels):
            out.append(Finding(CONFIDENCE_DROP, kr.id, org.sponsor(kr.objective_id),
                               f"{kr.id} confidence fell from {before.label} to {now.label}"))
        if k.disagreement and _held(kr.id, weeks_before, settings.disagreement_weeks - 1):
            out.append(Finding(DISAGREEMENT, kr.id, org.sponsor(kr.objective_id),
                               f"{kr.id} owner says on track, pace is off track for "
                               f"{settings.disagreement_weeks} weeks"))
    need = settings.lagging_weeks - 1
    for card in cards:
        if card.lagging and len(lagging_before) >= need and all(
                card.team in week for week in lagging_before[:need]):
            out.append(Finding(TEAM_LAGGING, card.team, org.lead(card.team),
                               f"team {card.team} lagging for {settings.lagging_weeks} weeks: "
                               + "; ".join(card.reasons)))
    return out


def _held(kr_id: str, weeks_before: Sequence[Sequence[KrStatus]], weeks: int) -> bool:
    if len(weeks_before) < weeks:
        return False
    for week in weeks_before[:weeks]:
        match = next((k for k in week if k.kr.id == kr_id), None)
        if match is None or not match.disagreement:
            return False
    return True
