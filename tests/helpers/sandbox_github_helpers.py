"""Helpers for the sandbox GitHub tests: a small known scenario, a PyGithub factory, and the
JSON shape comparison used against the recorded payloads in tests/fixtures/github/."""

from __future__ import annotations

import json
from typing import Any

from github import Auth, Github

from tests.helpers.fixtures import GITHUB

FIXTURES = GITHUB
REPO = "acme/app"
TOKEN = "sandbox-token"

# Fields GitHub documents as nullable: null on either side is a legal value, not a shape change.
NULLABLE = {
    "assignee", "milestone", "closed_at", "closed_by", "type", "body", "active_lock_reason",
    "performed_via_github_app", "state_reason", "parent_issue_url", "description", "merged_at",
}
# Objects okrsync never reads inside: checked for presence and type only.
SHALLOW = {"milestone", "performed_via_github_app"}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_diff(real: Any, ours: Any, path: str = "$") -> list[str]:
    """Every key of `real` must exist in `ours` with the same JSON type, recursively."""
    key = path.rsplit(".", 1)[-1]
    real_type, our_type = json_type(real), json_type(ours)
    if real_type != our_type:
        if key in NULLABLE and "null" in (real_type, our_type):
            return []
        return [f"{path}: real {real_type}, sandbox {our_type}"]
    if key in SHALLOW:
        return []
    problems: list[str] = []
    if isinstance(real, dict):
        for name, value in real.items():
            if name not in ours:
                problems.append(f"{path}.{name}: missing in sandbox")
            else:
                problems += shape_diff(value, ours[name], f"{path}.{name}")
    elif isinstance(real, list) and real and ours:
        for item in real:
            problems += shape_diff(item, ours[0], f"{path}[]")
    return problems


def _issue(number: int, labels: list[str], **extra: Any) -> dict[str, Any]:
    return {"number": number, "title": f"Epic {number}", "body": f"Hypothesis: {number}",
            "labels": [{"name": n} for n in labels], "type": "Epic",
            "created_at": f"2026-01-{1 + number % 28:02d}T10:00:00Z",
            "updated_at": f"2026-02-{1 + number % 28:02d}T10:{number % 60:02d}:00Z", **extra}


def scenario(issues: int = 57) -> dict[str, Any]:
    """acme/app with `issues` numbered issues: every one `epic`, every third `team:web`,
    every seventh a pull request, every fifth closed; plus acme/web with one issue."""
    listed = []
    for n in range(1, issues + 1):
        labels = ["epic"] + (["team:web"] if n % 3 == 0 else []) + (["okr:KR-1"] if n % 4 == 0
                                                                       else [])
        extra: dict[str, Any] = {}
        if n % 7 == 0:
            extra["pull_request"] = {"merged_at": None}
        if n % 5 == 0:
            extra.update(state="closed", closed_at=f"2026-02-{1 + n % 28:02d}T10:00:00Z")
        listed.append(_issue(n, labels, **extra))
    listed.append(_issue(
        500, ["epic", "bug"], state="closed", state_reason="completed",
        milestone={"number": 8, "title": "Version 1.4"},
        assignee={"login": "octo-dana"}, assignees=[{"login": "octo-dana"}],
        parent_issue_url="https://api.github.com/repos/acme/app/issues/1",
        sub_issues_summary={"total": 4, "completed": 1},
        comments=[{"body": "first", "user": {"login": "octo-dana"}}],
    ))
    return {"org": "acme", "repos": {
        REPO: {"issues": listed, "labels": [{"name": "epic", "color": "aa00aa"},
                                            {"name": "bug", "color": "e10c02",
                                             "description": "Something is broken"}]},
        "acme/web": {"issues": [_issue(1, ["epic"])], "labels": []},
    }}


def client(url: str, auth: Any = None, *, per_page: int = 10, retry: Any = None) -> Github:
    """PyGithub against the sandbox without its client-side throttling (it would only slow
    the tests down) and, by default, without retries so faults are visible."""
    return Github(base_url=url, auth=auth or Auth.Token(TOKEN), per_page=per_page,
                  seconds_between_requests=0, seconds_between_writes=0, retry=retry)
