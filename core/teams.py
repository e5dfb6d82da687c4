"""Which team owns a project: the one rule the config, the suggester and the reports share."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar


class OwnsProjects(Protocol):
    @property
    def projects(self) -> Sequence[str]: ...


T = TypeVar("T", bound=OwnsProjects)


def team_of(project: str, teams: Mapping[str, T]) -> T | None:
    """The team owning a Jira project key or GitHub owner/repo: an exact (case-insensitive)
    entry beats a glob; otherwise the first team in file order whose glob matches."""
    wanted = project.casefold()
    for team in teams.values():
        if any(p.casefold() == wanted for p in team.projects):
            return team
    for team in teams.values():
        if any(fnmatch.fnmatchcase(wanted, p.casefold()) for p in team.projects):
            return team
    return None
