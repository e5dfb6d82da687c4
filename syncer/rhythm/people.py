"""Who a stall reaches: the KR owner's team and its lead, the objective's sponsor.

Plain values built once from config and catalog, so the rules stay pure lookups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core.model import Catalog


@dataclass(frozen=True)
class Org:
    """`team_of` person → team name; `lead_of` team → lead; `sponsor_of` objective → sponsor."""

    team_of: Mapping[str, str] = field(default_factory=dict)
    lead_of: Mapping[str, str] = field(default_factory=dict)
    sponsor_of: Mapping[str, str] = field(default_factory=dict)

    def team(self, person: str) -> str:
        return _get(self.team_of, person) or ""

    def lead(self, team: str) -> str:
        return _get(self.lead_of, team) or ""

    def sponsor(self, objective_id: str) -> str:
        return _get(self.sponsor_of, objective_id) or ""


def _get(table: Mapping[str, str], key: str) -> str | None:
    if key in table:
        return table[key]
    folded = key.casefold()
    return next((v for k, v in table.items() if k.casefold() == folded), None)


def build_org(catalog: Catalog, person_teams: Mapping[str, str],
              team_leads: Mapping[str, str]) -> Org:
    """`person_teams` from `[people.<name>] team`; `team_leads` from `[teams.<name>]`'s lead
    (or owner). An objective without a sponsor escalates to its owner."""
    sponsors = {o.id: o.sponsor or o.owner for o in catalog.objectives}
    return Org(dict(person_teams), dict(team_leads), sponsors)
