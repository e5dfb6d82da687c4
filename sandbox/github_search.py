"""The sandbox GitHub's `GET /search/issues`: enough of GitHub's search syntax to count issues
(`total_count`) for key results, and one page of matches.

Qualifiers: `repo:`, `org:` / `user:`, `is:issue|pr|open|closed`, `state:`, `label:`
(repeatable, all must match), `created:` and `closed:` with `>`, `>=`, `<`, `<=` or a bare
date; other words must appear in the title (case-insensitive). Unknown qualifiers are a 422,
as on GitHub.
"""

from __future__ import annotations

import operator
import shlex
from collections.abc import Callable
from typing import Any

from sandbox.github_render import render_issue
from sandbox.github_server import Call, Reply, validation
from sandbox.github_state import IssueRecord, RepoRecord

Match = Callable[[RepoRecord, IssueRecord], bool]

_OPS: dict[str, Callable[[str, str], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}


def _date_match(field: str, raw: str) -> Match:
    for symbol in (">=", "<=", ">", "<"):
        if raw.startswith(symbol):
            bound, compare = raw[len(symbol):], _OPS[symbol]
            break
    else:
        bound, compare = raw, operator.eq

    def match(repo: RepoRecord, issue: IssueRecord) -> bool:
        value = issue.data.get(field)
        if not value:
            return False
        day = str(value)[:len(bound)] if compare is operator.eq else str(value)
        return bool(compare(day, bound))

    return match


def _qualifier(name: str, value: str) -> Match:
    low = value.lower()
    if name == "repo":
        return lambda repo, issue: repo.full_name.lower() == low
    if name in ("org", "user"):
        return lambda repo, issue: repo.owner.lower() == low
    if name in ("is", "state") and low in ("open", "closed"):
        return lambda repo, issue: issue.data.get("state") == low
    if name in ("is", "type") and low in ("issue", "pr"):
        return lambda repo, issue: ("pull_request" in issue.data) == (low == "pr")
    if name == "label":
        return lambda repo, issue: low in (n.lower() for n in issue.labels)
    if name in ("created", "closed"):
        return _date_match(f"{name}_at", value)
    raise validation("Search", "q")


def parse_query(q: str) -> list[Match]:
    matches: list[Match] = []
    for word in shlex.split(q):
        name, sep, value = word.partition(":")
        if sep and value:
            matches.append(_qualifier(name.lower(), value))
        else:
            matches.append(_in_title(word.lower()))
    return matches


def _in_title(word: str) -> Match:
    return lambda repo, issue: word in str(issue.data.get("title", "")).lower()


def search_issues(call: Call) -> Reply:
    q = call.query.get("q", "")
    if not q.strip():
        raise validation("Search", "q", "missing")
    try:
        matches = parse_query(q)
    except ValueError:
        raise validation("Search", "q") from None
    found: list[tuple[RepoRecord, IssueRecord]] = [
        (repo, issue)
        for repo in call.state.repos.values()
        for issue in repo.issues.values()
        if all(m(repo, issue) for m in matches)
    ]
    per_page = max(1, min(int(call.query.get("per_page", "30") or 30), 100))
    items: list[Any] = [render_issue(call.state, repo, issue, call.base)
                        for repo, issue in found[:per_page]]
    return Reply({"total_count": len(found), "incomplete_results": False, "items": items})
