"""The sandbox GitHub as a `FakeTracker` (see `sandbox.trackers`): the generated
org's four repos, a personal access token or GitHub App credentials, every exchange
recorded."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from sandbox import APP_ID, INSTALLATION_ID, _app_key
from sandbox.data import ORG, generate
from sandbox.faults import FaultInjector
from sandbox.github import GitHubState, build_app
from sandbox.goal_text import kr_ids_in
from sandbox.trackers import Exchange, ServedTracker, serve_recorded

MARKER = "<!-- okrsync:goal-links -->"
ENDED = "Goal links ended"

def _split(key: str) -> tuple[str, int]:
    repo, _, number = key.rpartition("#")
    return repo, int(number)

@dataclass
class GitHubTracker(ServedTracker):
    state: GitHubState = field(default_factory=lambda: GitHubState(ORG))
    kind: str = "github"
    app_private_key: str = ""

    def source_settings(self) -> dict[str, Any]:
        auth: dict[str, Any] = {"token": self.token}
        if self.app_private_key:
            auth = {"app_id": APP_ID, "installation_id": INSTALLATION_ID,
                    "private_key": self.app_private_key}
        return {"api_url": self.url, "org": self.state.org, "page_size": 10, **auth}

    def wrong_credentials(self) -> dict[str, Any]:
        if not self.app_private_key:
            return super().wrong_credentials()
        return {"private_key": _other_private_key()}

    def epic_keys(self) -> set[str]:
        return {f"{repo.full_name}#{number}"
                for repo in self.state.repos.values()
                for number, issue in repo.issues.items()
                if "epic" in issue.labels and "pull_request" not in issue.data}

    def labels(self, key: str) -> list[str]:
        return list(self.state.record(*_split(key))[1].labels)

    def goal_kr_ids(self, key: str) -> set[str]:
        repo, issue = self.state.record(*_split(key))
        ids: set[str] = set()
        for comment_id in issue.comment_ids:
            body = str(self.state.comments_by_id[comment_id]["body"])
            if body.lstrip().startswith(MARKER) and ENDED not in body:
                ids |= kr_ids_in(body)
        return ids

    def touch(self, key: str) -> None:
        repo, number = _split(key)
        title = str(self.state.record(repo, number)[1].data["title"])
        self.state.edit_issue(repo, number, title=f"{title} (edited)")

    def break_ticket(self, key: str) -> None:
        with self.state.lock:
            repo, issue = self.state.record(*_split(key))
            issue.data["title"] = None
            self.state.touch(repo, issue)

    def missing_key(self) -> str:
        return f"{self.state.org}/app#99999"

@functools.cache
def _other_private_key() -> str:
    """A well-formed App key GitHub does not know (generating one costs ~0.1 s)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@contextmanager
def start(*, epics: int = 60, seed: int = 1, token: str = "sandbox-token",
          auth: Literal["token", "app"] = "token") -> Iterator[GitHubTracker]:
    """`auth="app"` binds sources with the sandbox App's id, key and installation, so
    installation tokens are minted through `POST /app/installations/{id}/access_tokens`."""
    scenario = generate(epics, seed).get("github", {})
    state = GitHubState.from_scenario(scenario, str(scenario.get("org") or ORG))
    injector = FaultInjector(None, seed + 1)
    exchanges: list[Exchange] = []
    private_pem, public_pem = _app_key()
    app = build_app(state, token=token, injector=injector, app_id=APP_ID,
                    app_public_key_pem=public_pem, installation_id=INSTALLATION_ID)
    with serve_recorded(app, exchanges) as server:
        state.base_url = server.url
        yield GitHubTracker(server.url, token, injector, exchanges, state,
                            app_private_key=private_pem if auth == "app" else "")
