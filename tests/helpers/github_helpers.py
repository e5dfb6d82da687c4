"""A small in-memory GitHub behind `httpx.MockTransport`, for the connector's unit tests.

It implements just what the connector calls, with the real semantics that matter: label
filter, newest-first ordering, `Link: rel=next` paging, body-hash ETags with 304 on
`If-None-Match`, pull requests in the issues list, 422 on duplicate labels, and comments.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeGitHub:
    base: str = "https://gh.test"
    issues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    repo_labels: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    org_repos: list[dict[str, Any]] = field(default_factory=list)
    clock: datetime = T0
    next_comment_id: int = 1000
    fail_next: list[int] = field(default_factory=list)
    scopes: str | None = "repo, read:org"

    # -- data helpers -------------------------------------------------------------------
    def tick(self) -> str:
        self.clock += timedelta(seconds=1)
        return iso(self.clock)

    def add_issue(self, repo: str, number: int, *, labels: tuple[str, ...] = ("epic",),
                  pr: bool = False, **over: Any) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "id": number * 10, "node_id": f"I_{repo}_{number}", "number": number,
            "title": f"Epic {number}", "html_url": f"https://github.test/{repo}/issues/{number}",
            "state": "open", "state_reason": None, "assignee": None, "assignees": [],
            "labels": [{"name": n} for n in labels], "created_at": iso(T0),
            "updated_at": self.tick(), "body": "",
        }
        if pr:
            issue["pull_request"] = {"url": "x"}
        issue.update(over)
        self.issues.setdefault(repo, []).append(issue)
        return issue

    def touch(self, repo: str, number: int, **over: Any) -> None:
        issue = self.issue(repo, number)
        issue.update(over)
        issue["updated_at"] = self.tick()

    def issue(self, repo: str, number: int) -> dict[str, Any]:
        return next(i for i in self.issues[repo] if i["number"] == number)

    def count(self, method: str, prefix: str = "") -> int:
        return sum(1 for m, p, _ in self.calls if m == method and p.startswith(prefix))

    # -- transport ----------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path)
        if self.fail_next:
            status = self.fail_next.pop(0)
            self.calls.append((request.method, path, status))
            headers = {"retry-after": "0"} if status in (429, 403) else {}
            body = {"message": "You have exceeded a secondary rate limit"} if status == 403 else {}
            return httpx.Response(status, json=body, headers=headers)
        response = self._route(request, path)
        self.calls.append((request.method, path, response.status_code))
        return response

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None
              ) -> httpx.Response:
        h = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4000",
             "x-ratelimit-reset": "9999999999"}
        h.update(headers or {})
        return httpx.Response(status, json=data, headers=h)

    def _paged(self, request: httpx.Request, items: list[Any]) -> httpx.Response:
        per = int(request.url.params.get("per_page", "30"))
        page = int(request.url.params.get("page", "1"))
        chunk = items[(page - 1) * per: page * per]
        raw = json.dumps(chunk, sort_keys=True).encode()
        etag = 'W/"' + hashlib.sha256(raw).hexdigest()[:20] + '"'
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"etag": etag})
        headers = {"etag": etag}
        if page * per < len(items):
            nxt = request.url.copy_merge_params({"page": str(page + 1)})
            headers["link"] = f'<{nxt}>; rel="next"'
        return self._json(200, chunk, headers)

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        m, body = request.method, (json.loads(request.content) if request.content else None)
        if path == "/user":
            h = {"x-oauth-scopes": self.scopes} if self.scopes is not None else {}
            return self._json(200, {"login": "okrbot"}, h)
        if path == "/rate_limit":
            return self._json(200, {"resources": {"core": {"limit": 5000, "remaining": 4000}}})
        if match := re.fullmatch(r"/orgs/([^/]+)/repos", path):
            return self._paged(request, self.org_repos)
        if match := re.fullmatch(r"/repos/([^/]+/[^/]+)", path):
            repo = match.group(1)
            if repo not in self.issues:
                return self._json(404, {"message": "Not Found"})
            return self._json(200, {"full_name": repo, "archived": False, "has_issues": True,
                                    "permissions": {"pull": True, "triage": True, "push": False}})
        if match := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues", path):
            repo = match.group(1)
            if repo not in self.issues:
                return self._json(404, {"message": "Not Found"})
            want = request.url.params.get("labels")
            items = [i for i in self.issues[repo]
                     if not want or want in {lb["name"] for lb in i["labels"]}]
            desc = request.url.params.get("direction") == "desc"
            items.sort(key=lambda i: (i["updated_at"], i["number"]), reverse=desc)
            return self._paged(request, items)
        if match := re.fullmatch(r"/repos/([^/]+/[^/]+)/labels/(.+)", path):
            label = self.repo_labels.get(match.group(1), {}).get(match.group(2))
            return self._json(200, label) if label else self._json(404, {"message": "Not Found"})
        if match := re.fullmatch(r"/repos/([^/]+/[^/]+)/labels", path):
            labels = self.repo_labels.setdefault(match.group(1), {})
            if body["name"] in labels:
                return self._json(422, {"message": "Validation Failed",
                                        "errors": [{"code": "already_exists"}]})
            labels[body["name"]] = body
            return self._json(201, body)
        if match := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/labels(?:/(.+))?", path):
            issue = self.issue(match.group(1), int(match.group(2)))
            names = [lb["name"] for lb in issue["labels"]]
            if m == "POST":
                for name in body["labels"]:
                    if name not in names:
                        names.append(name)
                        self.repo_labels.setdefault(match.group(1), {}).setdefault(
                            name, {"name": name, "color": "ededed"})
            elif m == "DELETE":
                if match.group(3) not in names:
                    return self._json(404, {"message": "Label does not exist"})
                names.remove(match.group(3))
            issue["labels"] = [{"name": n} for n in names]
            issue["updated_at"] = self.tick()
            return self._json(200, issue["labels"])
        if match := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path):
            key = (match.group(1), int(match.group(2)))
            comments = self.comments.setdefault(key, [])
            if m == "POST":
                self.next_comment_id += 1
                c = {"id": self.next_comment_id, "body": body["body"], "user": {"login": "okrbot"},
                     "issue_url": f"{self.base}/repos/{key[0]}/issues/{key[1]}"}
                comments.append(c)
                return self._json(201, c)
            return self._paged(request, comments)
        if match := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", path):
            cid = int(match.group(2))
            for (_repo, _n), comments in self.comments.items():
                for c in comments:
                    if c["id"] == cid:
                        if m == "PATCH":
                            c["body"] = body["body"]
                        if m == "DELETE":
                            comments.remove(c)
                            return httpx.Response(204)
                        return self._json(200, c)
            return self._json(404, {"message": "Not Found"})
        return self._json(404, {"message": f"no route {m} {path}"})
