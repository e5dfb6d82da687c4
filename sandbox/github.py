"""The sandbox GitHub: a Starlette app speaking GitHub REST v3 for everything okrsync touches,
so the connector, PyGithub, the demo and the benchmark run against real HTTP on loopback.

Behaviour copied from GitHub where clients notice it: token and GitHub App (RS256 JWT) auth,
`Link` pagination built from the request's own URL, weak ETags with `If-None-Match` → 304 that
spends no quota, `x-ratelimit-*` headers and a 403 with `remaining: 0` once the primary quota
is gone, labels auto-created in grey, `updated_at` moving on label and comment changes.
Handlers are thin: the data and its rules live in `github_state.py`, payloads in
`github_render.py`, auth, quota, ETags and accounting in `github_server.py`.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from sandbox.accounting import Accounting, accounting_routes
from sandbox.faults import FaultInjector, fault_middleware, fault_routes
from sandbox.github_access import guarded
from sandbox.github_render import (
    USER_LOGIN,
    render_authenticated_user,
    render_comment,
    render_issue,
    render_label,
    render_repo,
    render_user,
    user_ref,
)
from sandbox.github_search import search_issues
from sandbox.github_server import (
    GHES_PREFIX,
    Call,
    Handler,
    Reply,
    Server,
    paginate,
    validation,
)
from sandbox.github_state import GitHubError, GitHubState, RepoRecord, iso, parse_time

__all__ = ["GitHubError", "GitHubState", "build_app"]

_CACHE_SIZE = 32

# -- repos, users, orgs ---------------------------------------------------------------------


def _open_count(repo: RepoRecord) -> int:
    return sum(1 for issue in repo.issues.values() if issue.data["state"] == "open")


def get_repo(call: Call) -> Reply:
    repo = call.state.repo(call.full_name)
    payload = render_repo(repo, call.base, open_issues=_open_count(repo))
    return Reply(payload, last_modified=payload["updated_at"])


def _repos(call: Call, owner: str | None) -> list[RepoRecord]:
    repos = sorted(call.state.repos.values(), key=lambda r: r.full_name.lower())
    return [r for r in repos if owner is None or r.owner.lower() == owner.lower()]


def _newest(stamps: list[str]) -> str | None:
    return max(stamps, default=None)


def org_repos(call: Call) -> Reply:
    if str(call.params["org"]).lower() != call.state.org.lower():
        raise GitHubError(404, "Not Found")
    repos = _repos(call, call.state.org)
    reply = paginate(call, repos, lambda r: render_repo(r, call.base, open_issues=_open_count(r)))
    reply.last_modified = _newest([str(r.data.get("updated_at") or r.data["created_at"])
                                   for r in repos])
    return reply


def user_repos(call: Call) -> Reply:
    return paginate(call, _repos(call, None),
                    lambda r: render_repo(r, call.base, open_issues=_open_count(r)))


def installation_repos(call: Call) -> Reply:
    reply = user_repos(call)
    reply.payload = {"total_count": len(call.state.repos), "repository_selection": "all",
                     "repositories": reply.payload}
    return reply


def get_user(call: Call) -> Reply:
    if call.identity == "installation":
        raise GitHubError(403, "Resource not accessible by integration")
    return Reply(render_authenticated_user(user_ref({"login": USER_LOGIN}), call.base))


def get_org(call: Call) -> Reply:
    org = str(call.params["org"])
    if org.lower() != call.state.org.lower():
        raise GitHubError(404, "Not Found")
    ref = user_ref({"login": call.state.org, "type": "Organization"})
    user = render_user(ref, call.base)
    return Reply({"login": user["login"], "id": user["id"], "node_id": user["node_id"],
                  "url": f"{call.base}/orgs/{org}", "repos_url": f"{call.base}/orgs/{org}/repos",
                  "avatar_url": user["avatar_url"], "description": "okrsync sandbox org",
                  "html_url": user["html_url"], "type": "Organization",
                  "public_repos": len(_repos(call, org))})


def issue_types(call: Call) -> Reply:
    if str(call.params["org"]).lower() != call.state.org.lower():
        raise GitHubError(404, "Not Found")
    return Reply(list(call.state.issue_types.values()))


def rate_limit(call: Call) -> Reply:
    core = call.state.rate()
    reset = core["reset"]

    def bucket(limit: int) -> dict[str, int]:
        return {"limit": limit, "used": 0, "remaining": limit, "reset": reset}

    return Reply({"resources": {"core": core, "search": bucket(30), "graphql": bucket(5000),
                                "integration_manifest": bucket(5000),
                                "code_search": bucket(10)},
                  "rate": core})


# -- issues -----------------------------------------------------------------------------------


def _filtered(call: Call, repo: RepoRecord) -> list[int]:
    query = call.query
    state = query.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation("Issue", "state")
    wanted = tuple(sorted({n.strip().lower() for n in query.get("labels", "").split(",")
                           if n.strip()}))
    since = None
    if query.get("since"):
        try:
            since = iso(parse_time(query["since"]))
        except ValueError:
            raise validation("Issue", "since") from None
    sort = query.get("sort", "created")
    if sort not in ("created", "updated", "comments"):
        raise validation("Issue", "sort")
    direction = query.get("direction", "desc")
    if direction not in ("asc", "desc"):
        raise validation("Issue", "direction")
    kind = query.get("type")
    key = (state, wanted, since, sort, direction, kind)
    cached = repo.cache.get(key)
    if cached is not None:
        repo.cache.move_to_end(key)
        return cached
    chosen = []
    for issue in repo.issues.values():
        data = issue.data
        if state != "all" and data["state"] != state:
            continue
        if since is not None and data["updated_at"] < since:
            continue
        if wanted:
            have = {n.lower() for n in issue.labels}
            if not all(w in have for w in wanted):
                continue
        if kind is not None:
            type_name = (data.get("type") or {}).get("name")
            if kind == "none" and type_name is not None:
                continue
            if kind == "*" and type_name is None:
                continue
            if kind not in ("*", "none") and (type_name or "").lower() != kind.lower():
                continue
        chosen.append(issue)
    field_name = {"created": "created_at", "updated": "updated_at"}.get(sort)
    if field_name is None:
        chosen.sort(key=lambda i: (len(i.comment_ids), i.number), reverse=direction == "desc")
    else:
        chosen.sort(key=lambda i: (i.data[field_name], i.number), reverse=direction == "desc")
    numbers = [i.number for i in chosen]
    repo.cache[key] = numbers
    while len(repo.cache) > _CACHE_SIZE:
        repo.cache.popitem(last=False)
    return numbers


def list_issues(call: Call) -> Reply:
    repo = call.state.repo(call.full_name)
    numbers = _filtered(call, repo)
    reply = paginate(call, numbers,
                     lambda n: render_issue(call.state, repo, repo.issues[n], call.base))
    reply.last_modified = _newest([i.updated_at for i in repo.issues.values()])
    return reply


def get_issue(call: Call) -> Reply:
    repo, issue = call.state.record(call.full_name, int(call.params["number"]))
    return Reply(render_issue(call.state, repo, issue, call.base), last_modified=issue.updated_at)


def _issue_reply(call: Call, number: int, status: int = 200) -> Reply:
    repo, issue = call.state.record(call.full_name, number)
    return Reply(render_issue(call.state, repo, issue, call.base), status=status)


def _body_dict(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return call.body


def _names(value: Any) -> list[str]:
    """Label names from `["a"]`, `{"labels": ["a"]}` or `[{"name": "a"}]`."""
    if isinstance(value, dict):
        value = value.get("labels", [])
    if not isinstance(value, list):
        raise GitHubError(400, "Problems parsing JSON")
    names = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip():
            raise validation("Label", "name", "missing_field")
        names.append(name.strip())
    return names


def patch_issue(call: Call) -> Reply:
    body = _body_dict(call)
    number = int(call.params["number"])
    for key in ("title", "body", "state", "state_reason"):
        if key in body and body[key] is not None and not isinstance(body[key], str):
            raise validation("Issue", key)
    call.state.edit_issue(
        call.full_name, number,
        labels=_names(body["labels"]) if "labels" in body else None,
        title=body.get("title"), body=body.get("body"), state=body.get("state"),
        state_reason=body.get("state_reason"),
        type=(body.get("type") or "") if "type" in body else None,
    )
    return _issue_reply(call, number)


def create_issue(call: Call) -> Reply:
    body = _body_dict(call)
    title = body.get("title")
    if not isinstance(title, str) or not title:
        raise validation("Issue", "title", "missing_field")
    number = call.state.create_issue(call.full_name, title, body.get("body"),
                                     _names(body.get("labels", [])), body.get("type"))
    return _issue_reply(call, number, status=201)


# -- labels -----------------------------------------------------------------------------------


def _issue_labels(call: Call, names: list[str], status: int = 200) -> Reply:
    repo = call.state.repo(call.full_name)
    return Reply([render_label(repo.labels[n.lower()], repo.full_name, call.base) for n in names],
                 status=status)


def list_repo_labels(call: Call) -> Reply:
    repo = call.state.repo(call.full_name)
    return paginate(call, list(repo.labels.values()),
                    lambda label: render_label(label, repo.full_name, call.base))


def get_repo_label(call: Call) -> Reply:
    repo = call.state.repo(call.full_name)
    label = repo.labels.get(str(call.params["name"]).lower())
    if label is None:
        raise GitHubError(404, "Not Found")
    return Reply(render_label(label, repo.full_name, call.base))


def create_repo_label(call: Call) -> Reply:
    body = _body_dict(call)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise validation("Label", "name", "missing_field")
    color = body.get("color")
    if color is not None and (not isinstance(color, str) or len(color.lstrip("#")) != 6):
        raise validation("Label", "color")
    label = call.state.create_label(call.full_name, name.strip(), color, body.get("description"))
    return Reply(render_label(label, call.full_name, call.base), status=201)


def list_issue_labels(call: Call) -> Reply:
    repo, issue = call.state.record(call.full_name, int(call.params["number"]))
    return paginate(call, list(issue.labels),
                    lambda n: render_label(repo.labels[n.lower()], repo.full_name, call.base))


def add_issue_labels(call: Call) -> Reply:
    names = _names(call.body)
    number = int(call.params["number"])
    if not names:
        return _issue_labels(call, call.state.set_labels(call.full_name, number, []))
    return _issue_labels(call, call.state.add_labels(call.full_name, number, names))


def set_issue_labels(call: Call) -> Reply:
    number = int(call.params["number"])
    return _issue_labels(call, call.state.set_labels(call.full_name, number, _names(call.body)))


def clear_issue_labels(call: Call) -> Reply:
    call.state.set_labels(call.full_name, int(call.params["number"]), [])
    return Reply(status=204)


def remove_issue_label(call: Call) -> Reply:
    number = int(call.params["number"])
    names = call.state.remove_label(call.full_name, number, str(call.params["name"]))
    return _issue_labels(call, names)


# -- comments ---------------------------------------------------------------------------------


def list_comments(call: Call) -> Reply:
    _, issue = call.state.record(call.full_name, int(call.params["number"]))
    comments = [call.state.comments_by_id[cid] for cid in issue.comment_ids]
    if call.query.get("since"):
        try:
            since = iso(parse_time(call.query["since"]))
        except ValueError:
            raise validation("IssueComment", "since") from None
        comments = [c for c in comments if c["updated_at"] >= since]
    return paginate(call, comments, lambda c: render_comment(c, call.base))


def _comment_body(call: Call) -> str:
    body = _body_dict(call).get("body")
    if not isinstance(body, str) or not body:
        raise validation("IssueComment", "body", "missing_field")
    return body


def create_comment(call: Call, app: dict[str, Any]) -> Reply:
    """As on GitHub: a token's comment is its user's; an installation's is `<slug>[bot]`'s,
    with `performed_via_github_app` naming the App."""
    if call.identity == "installation":
        user = {"login": f"{app['slug']}[bot]", "type": "Bot"}
        via: dict[str, Any] | None = app
    else:
        user, via = {"login": USER_LOGIN, "type": "User"}, None
    comment = call.state.add_comment(call.full_name, int(call.params["number"]),
                                     _comment_body(call), user=user, app=via)
    return Reply(render_comment(comment, call.base), status=201)


def get_comment(call: Call) -> Reply:
    comment = call.state.comment_record(call.full_name, int(call.params["comment_id"]))
    return Reply(render_comment(comment, call.base), last_modified=comment["updated_at"])


def edit_comment(call: Call) -> Reply:
    comment = call.state.edit_comment(call.full_name, int(call.params["comment_id"]),
                                      _comment_body(call))
    return Reply(render_comment(comment, call.base))


def delete_comment(call: Call) -> Reply:
    call.state.delete_comment(call.full_name, int(call.params["comment_id"]))
    return Reply(status=204)


def not_found(call: Call) -> Reply:
    raise GitHubError(404, "Not Found")


def build_app(state: GitHubState, *, token: str, accounting: Accounting | None = None,
              injector: FaultInjector | None = None, app_id: int | str = 1,
              app_public_key_pem: str | bytes = "", installation_id: int = 1,
              token_etags: bool = False) -> Starlette:
    """The sandbox GitHub app. With an `injector`, faults are injected in front of the handlers
    (so callers must not wrap it in `fault_middleware` again); admin routes under `/_sandbox/`.
    `token_etags` makes ETags specific to the token, as github.com's are."""
    pem = app_public_key_pem.decode() if isinstance(app_public_key_pem, bytes) else (
        app_public_key_pem)
    server = Server(state, token, accounting, app_id, pem, installation_id)
    server.token_etags = token_etags

    def r(method: str, path: str, handler: Handler, **options: Any) -> Route:
        return server.route(method, path, guarded(method, handler), **options)

    repo = "/repos/{owner}/{repo}"
    issue = repo + "/issues/{number:int}"
    comment = repo + "/issues/comments/{comment_id:int}"
    routes: list[BaseRoute] = []
    if accounting is not None:
        routes += accounting_routes(accounting)
    if injector is not None:
        routes += fault_routes(injector)
    api = [
        r("GET", "/rate_limit", rate_limit, quota=False),
        r("GET", "/search/issues", search_issues),
        r("GET", "/user", get_user),
        r("GET", "/user/repos", user_repos),
        r("GET", "/installation/repositories", installation_repos),
        r("GET", "/orgs/{org}", get_org),
        r("GET", "/orgs/{org}/repos", org_repos),
        r("GET", "/orgs/{org}/issue-types", issue_types),
        r("GET", "/orgs/{org}/installation", server.get_installation, auth="jwt"),
        r("GET", "/app", server.app_info, auth="jwt"),
        r("GET", "/app/installations", server.list_installations, auth="jwt"),
        r("GET", "/app/installations/{installation_id:int}", server.get_installation,
          auth="jwt"),
        r("POST", "/app/installations/{installation_id:int}/access_tokens", server.access_token,
          auth="jwt"),
        r("GET", repo, get_repo),
        r("GET", repo + "/installation", server.get_installation, auth="jwt"),
        r("GET", repo + "/issues", list_issues),
        r("POST", repo + "/issues", create_issue),
        r("GET", comment, get_comment),
        r("PATCH", comment, edit_comment),
        r("DELETE", comment, delete_comment),
        r("GET", issue, get_issue),
        r("PATCH", issue, patch_issue),
        r("GET", issue + "/labels", list_issue_labels),
        r("POST", issue + "/labels", add_issue_labels),
        r("PUT", issue + "/labels", set_issue_labels),
        r("DELETE", issue + "/labels", clear_issue_labels),
        r("DELETE", issue + "/labels/{name:path}", remove_issue_label),
        r("GET", issue + "/comments", list_comments),
        r("POST", issue + "/comments",
          lambda call: create_comment(call, server.app_summary(call.base))),
        r("GET", repo + "/labels", list_repo_labels),
        r("POST", repo + "/labels", create_repo_label),
        r("GET", repo + "/labels/{name:path}", get_repo_label),
    ]
    for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
        api.append(r(method, "/{path:path}", not_found))
    routes += [Mount(GHES_PREFIX, routes=api), *api]
    middleware = []
    if injector is not None:
        middleware.append(Middleware(fault_middleware, injector=injector, flavour="github",
                                     accounting=accounting))
    return Starlette(routes=routes, middleware=middleware)
