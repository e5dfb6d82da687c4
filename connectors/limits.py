"""Which published limits each tracker request counts against (the lanes of `pacing.py`).

GitHub (docs.github.com, "secondary rate limits"): content-creating requests — here every
POST, PATCH and PUT, since GitHub does not publish the list — at most 80 a minute and 500
an hour per account; 900 points a minute per endpoint, a read costing 1 and a write 5. Its
advice is to send writes one at a time, at least a second apart: writes are `serial`.
Jira Cloud (developer.atlassian.com, "rate limiting"): writes to one issue at most 20 in 2 s
and 100 in 30 s; a burst limit per endpoint and method (GET/POST 100/s, PUT/DELETE 50/s).
Server admins set their own on GHES and Data Center, so every figure is a source setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import unquote

from connectors.pacing import Lane, Limit, Pace, credential_key, parse_limits

PaceOf = Callable[[str, str], Pace]

GITHUB_CONTENT_LIMITS = ("80/60", "500/3600")
GITHUB_POINTS_LIMIT = "900/60"
GITHUB_WRITE_COST = 5
GITHUB_CONTENT = "GitHub content limit"
JIRA_ISSUE_WRITE_LIMITS = ("20/2", "100/30")
JIRA_BURST_LIMITS = {"GET": "100/1", "POST": "100/1", "PUT": "50/1", "DELETE": "50/1"}
JIRA_PER_ISSUE = "jira-per-issue-on-write"
JIRA_BURST = "jira-burst-based"

_CONTENT_METHODS = frozenset({"POST", "PATCH", "PUT"})
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_REPO = re.compile(r"^(/api/v3)?/repos/[^/]+/[^/]+")
_NUMBER = re.compile(r"/\d+(?=/|$)")
_LABEL_NAME = re.compile(r"/labels/[^/]+$")
_JIRA_ISSUE = re.compile(r"/rest/api/[23]/issue/(?P<key>[^/]+)")


def check_limits(values: Sequence[str]) -> list[str]:
    """Validate COUNT/SECONDS strings for a config field (ValueError names the bad one)."""
    parse_limits(values)
    return list(values)


def github_endpoint(method: str, path: str) -> str:
    """`POST /repos/{o}/{r}/issues/{n}/comments`: the endpoint GitHub counts points by."""
    template = _REPO.sub("/repos/{o}/{r}", path)
    template = _LABEL_NAME.sub("/labels/{name}", _NUMBER.sub("/{n}", template))
    return f"{method} {template}"


def github_pace(content_limits: Sequence[str], points_limit: str) -> PaceOf:
    """The lanes of a GitHub request: points per endpoint for all, the content budget and
    the serial lane for writes."""
    content = Lane("content", parse_limits(content_limits), 1, GITHUB_CONTENT)
    points = (Limit.parse(points_limit),)

    def pace_of(method: str, path: str) -> Pace:
        endpoint = github_endpoint(method, path)
        cost = GITHUB_WRITE_COST if method in _WRITES else 1
        lanes = [Lane(f"points:{endpoint}", points, cost, "GitHub points limit")]
        if method in _CONTENT_METHODS:
            lanes.append(content)
        return Pace(tuple(lanes), serial=method in _WRITES)

    return pace_of


def jira_pace(issue_write_limits: Sequence[str], burst_limits: Mapping[str, str]) -> PaceOf:
    """The lanes of a Jira request: the burst budget of its endpoint and method, and for a
    write to an issue that issue's write budget. Each answers to its own `RateLimit-Reason`,
    so a per-issue 429 holds only that issue and a burst 429 only that endpoint."""
    per_issue = parse_limits(issue_write_limits)
    bursts = {m.upper(): (Limit.parse(v),) for m, v in burst_limits.items()}

    def pace_of(method: str, path: str) -> Pace:
        issue = _JIRA_ISSUE.search(path)
        template = _JIRA_ISSUE.sub("/rest/api/{v}/issue/{key}", path)
        lanes = [Lane(f"burst:{method} {template}", bursts.get(method, ()), 1,
                      "Jira burst limit", JIRA_BURST)]
        if issue is not None and method in _WRITES:
            key = unquote(issue.group("key")).upper()
            lanes.append(Lane(f"issue:{key}", per_issue, 1, "Jira per-issue write limit",
                              JIRA_PER_ISSUE))
        return Pace(tuple(lanes))

    return pace_of


def github_credential(api_url: str, token: str, app_id: int | None,
                      installation_id: int | None) -> str:
    if app_id is not None:
        return credential_key(api_url, "app", str(app_id), str(installation_id))
    return credential_key(api_url, "token", token)


def jira_credential(api_base: str, authorization: str) -> str:
    return credential_key(api_base, authorization)
