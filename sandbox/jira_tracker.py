"""The sandbox Jira as a `FakeTracker` (see `sandbox.trackers`): generated epics,
Cloud (Basic auth with the sandbox user, REST v3) or Data Center (a bearer personal access
token, REST v2), every exchange recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sandbox.data import generate
from sandbox.faults import FaultInjector
from sandbox.goal_text import kr_ids_in
from sandbox.jira import JIRA_USER, Flavour, JiraState, build_app
from sandbox.trackers import Exchange, ServedTracker, serve_recorded

OKRSYNC_APPLICATION = "okrsync"

@dataclass
class JiraTracker(ServedTracker):
    state: JiraState = field(default_factory=lambda: JiraState())
    kind: str = "jira"
    flavour: Flavour = "cloud"

    def source_settings(self) -> dict[str, Any]:
        return {"base_url": self.url, "flavour": self.flavour, "token": self.token,
                "email": JIRA_USER if self.flavour == "cloud" else "",
                "jql": "project in (WEB, APP, DATA, OPS)",
                "page_size": 7, "story_points_field": "customfield_10016"}

    def epic_keys(self) -> set[str]:
        return {k for k in self.state if self.state.require(k).issuetype == "Epic"}

    def labels(self, key: str) -> list[str]:
        return self.state.labels(key)

    def goal_kr_ids(self, key: str) -> set[str]:
        ids: set[str] = set()
        for link in self.state.remote_links(key):
            if (link.get("application") or {}).get("name") == OKRSYNC_APPLICATION:
                ids |= kr_ids_in(str((link.get("object") or {}).get("title") or ""))
        return ids

    def touch(self, key: str) -> None:
        self.state.edit_issue(key, summary=f"{self.state.require(key).summary} (edited)")

    def break_ticket(self, key: str) -> None:
        with self.state.lock:
            rec = self.state.require(key)
            rec.extra["updated"] = None
            self.state.touch(rec)

    def missing_key(self) -> str:
        return "WEB-99999"

@contextmanager
def start(*, epics: int = 60, seed: int = 1, token: str = "sandbox-token",
          flavour: Flavour = "cloud") -> Iterator[JiraTracker]:
    state = JiraState.from_scenario(generate(epics, seed).get("jira"))
    injector = FaultInjector(None, seed)
    exchanges: list[Exchange] = []
    app = build_app(state, token=token, flavour=flavour, injector=injector)
    with serve_recorded(app, exchanges) as server:
        state.base_url = server.url
        yield JiraTracker(server.url, token, injector, exchanges, state, flavour=flavour)
