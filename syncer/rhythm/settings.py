"""The rhythm's config sections: `[people.<name>]`, `[rhythm]`, `[escalation]`, `[scorecard]`,
`[review]` and `[chat]` of okrsync.toml (reference: docs/config.md, defaults: docs/rhythm.md).

Webhook URLs are secrets: the config names the environment variable holding each, never the
URL, so neither the file, `config show`, the store nor a log line can carry one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Table):
    """Where a named owner, lead or sponsor is reached; `team` is their `[teams.<name>]`."""

    email: str = ""
    slack: str = ""
    teams: str = ""
    team: str = ""

    @field_validator("email", "slack", "teams")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must be one line, without control characters")
        return value.strip()


class RhythmSection(_Table):
    """`[rhythm]`: which weekdays count as working days for overdue check-ins."""

    working_days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]))

    @field_validator("working_days", mode="before")
    @classmethod
    def _weekdays(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not value:
            raise ValueError("name at least one weekday, e.g. [\"mon\", \"tue\"]")
        out = []
        for day in value:
            name = str(day).strip().casefold()[:3]
            if name not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
            out.append(name)
        return out

    def weekday_numbers(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(d) for d in self.working_days)


class EscalationSection(_Table):
    """`[escalation]`: when a stall reaches a person. Defaults are the issue's rules."""

    overdue_lead_days: int = Field(default=2, ge=1, le=60)
    """A check-in overdue by this many working days goes to the KR owner's team lead."""
    overdue_sponsor_days: int = Field(default=7, ge=1, le=120)
    """... and by this many to the objective's sponsor."""
    confidence_drop_levels: int = Field(default=2, ge=1, le=2)
    """A drop of this many levels (on track → off track is two) goes to the sponsor."""
    disagreement_weeks: int = Field(default=2, ge=1, le=13)
    """Confidence on track while pace is off track for this many weeks → the sponsor."""
    lagging_weeks: int = Field(default=2, ge=1, le=13)
    """A team lagging on its scorecard for this many weeks → its lead."""


class ScorecardSection(_Table):
    """`[scorecard]`: a team under any `min_*` share (or over the lag) is lagging."""

    min_traceable: float = Field(default=0.7, ge=0, le=1)
    min_hypothesis: float = Field(default=0.5, ge=0, le=1)
    min_fresh_checkins: float = Field(default=0.75, ge=0, le=1)
    max_median_lag_days: float = Field(default=10.0, ge=0)
    min_confidence_stated: float = Field(default=0.75, ge=0, le=1)


def _cron(value: str) -> str:
    from syncer.schedule import validate_cron

    if not validate_cron(value):
        raise ValueError(f"not a valid cron expression: {value!r}")
    return value


class ReviewSection(_Table):
    """`[review]`: when the daemon sends each review (report time zone) and to whom."""

    weekly_cron: str = "0 9 * * 1"
    monthly_cron: str = "0 9 1 * *"
    quarterly_cron: str = "0 9 1 1,4,7,10 *"
    recipients: list[str] = Field(default_factory=list)
    """Leadership: the monthly and quarterly reviews; team leads get their team's weekly."""

    _crons = field_validator("weekly_cron", "monthly_cron", "quarterly_cron")(_cron)

    @field_validator("recipients")
    @classmethod
    def _one_line(cls, value: list[str]) -> list[str]:
        for item in value:
            if any(ord(c) < 32 or ord(c) == 127 for c in item):
                raise ValueError("an e-mail address must be one line")
        return value


class ChatSection(_Table):
    """`[chat]`: the environment variables holding the Slack / Teams incoming-webhook URLs."""

    slack_webhook_env: str = ""
    teams_webhook_env: str = ""
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    attempts: int = Field(default=3, ge=1, le=10)
    retry_wait_seconds: float = Field(default=1.0, ge=0, le=30)
    """Wait before the second attempt, doubled before each further one (a 429's
    Retry-After wins, up to 30 s)."""

    @field_validator("slack_webhook_env", "teams_webhook_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if value and not _ENV_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable (the URL is a "
                             "secret and never goes in the file)")
        if value.upper().startswith("OKRSYNC_"):
            raise ValueError("OKRSYNC_* variables are settings; name the webhook's variable "
                             "otherwise, e.g. SLACK_WEBHOOK_URL")
        return value


@dataclass(frozen=True)
class RhythmConfig:
    """Everything the rhythm reads from okrsync.toml, validated."""

    people: dict[str, Person] = field(default_factory=dict)
    cadence: RhythmSection = field(default_factory=RhythmSection)
    escalation: EscalationSection = field(default_factory=EscalationSection)
    scorecard: ScorecardSection = field(default_factory=ScorecardSection)
    review: ReviewSection = field(default_factory=ReviewSection)
    chat: ChatSection = field(default_factory=ChatSection)

    def person(self, name: str) -> Person:
        """A named person's contacts (case-insensitive); unknown names are reachable nowhere."""
        if name in self.people:
            return self.people[name]
        folded = name.casefold()
        for key, person in self.people.items():
            if key.casefold() == folded:
                return person
        return Person()


def team_references(
    people: dict[str, Person], team_names: set[str]
) -> list[tuple[tuple[str, ...], str]]:
    """People naming a team the config does not have: (dotted key, message) problems."""
    return [(("people", name, "team"),
             f"unknown team {p.team!r} (teams: {', '.join(sorted(team_names)) or 'none'})")
            for name, p in people.items() if p.team and p.team not in team_names]
