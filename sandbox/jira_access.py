"""Per-project permissions and hidden fields of the sandbox Jira: what a real site with
restricted projects and field configurations answers, so the connector can be tested on them.

- A *read-only* project answers 403 to issue edits and to remote-link writes; a project
  *without "Link issues"* answers 403 to remote-link writes only (Jira's spec documents 403
  "if the user does not have permission to link issues").
- A *hidden* field (field configuration "hide", or a team-managed issue type without it) is
  absent from every issue payload of the project, and an edit that sets it answers 400.

Scenario keys under `jira`: `read_only_projects`, `no_link_projects` (lists of project keys)
and `hidden_fields` (`{"OPS": ["labels"]}`, `"*"` for every project).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EDIT_DENIED = "You do not have permission to edit issues in this project."
LINK_DENIED = "You do not have permission to link issues."
HIDDEN_FIELD = "Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."


@dataclass(frozen=True)
class Refusal:
    """An answer Jira gives instead of running the handler."""

    status: int
    messages: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class JiraAccess:
    """What the sandbox user may not do, per project, and which fields the API hides."""

    read_only_projects: set[str] = field(default_factory=set)
    no_link_projects: set[str] = field(default_factory=set)
    hidden_fields: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_scenario(cls, jira_part: dict[str, Any] | None) -> JiraAccess:
        part = jira_part or {}
        hidden = part.get("hidden_fields") or {}
        return cls(
            read_only_projects={str(p).upper() for p in part.get("read_only_projects") or []},
            no_link_projects={str(p).upper() for p in part.get("no_link_projects") or []},
            hidden_fields={str(p).upper() if p != "*" else "*": {str(f) for f in names}
                           for p, names in hidden.items()},
        )

    def hidden_in(self, project: str) -> set[str]:
        return self.hidden_fields.get(project.upper(), set()) | self.hidden_fields.get("*", set())

    def edit_refusal(self, project: str, body: dict[str, Any]) -> Refusal | None:
        if project.upper() in self.read_only_projects:
            return Refusal(403, (EDIT_DENIED,))
        touched = set((body.get("update") or {}) if isinstance(body.get("update"), dict)
                      else ()) | set((body.get("fields") or {})
                                     if isinstance(body.get("fields"), dict) else ())
        hidden = sorted(touched & self.hidden_in(project))
        if hidden:
            return Refusal(400, (), {name: HIDDEN_FIELD.format(name=name) for name in hidden})
        return None

    def link_refusal(self, project: str) -> Refusal | None:
        key = project.upper()
        if key in self.read_only_projects or key in self.no_link_projects:
            return Refusal(403, (LINK_DENIED,))
        return None

    def hide(self, project: str, fields: dict[str, Any]) -> dict[str, Any]:
        """The issue's `fields` without the ones the project hides."""
        hidden = self.hidden_in(project)
        return {k: v for k, v in fields.items() if k not in hidden} if hidden else fields
