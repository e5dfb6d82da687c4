"""Render sandbox GitHub records as the JSON GitHub REST v3 returns, URLs on a given base.

Clients follow the URLs inside payloads (PyGithub PATCHes `comment.url`, pages via `Link`), so
every URL is built from the base URL the request came in on; nothing is stored with a host.
Key order and nesting follow the recorded payloads in `shared/fixtures/github/`.
"""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from sandbox.github_state import GitHubState, IssueRecord, RepoRecord

BOT_LOGIN = "okrsync-sandbox[bot]"
USER_LOGIN = "okrsync-sandbox"
_REACTIONS = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")


def user_ref(raw: Any) -> dict[str, Any]:
    """The stored part of a user: login, id, type, site_admin (URLs are rendered later)."""
    if isinstance(raw, str):
        raw = {"login": raw}
    if not isinstance(raw, dict) or not raw.get("login"):
        raw = {"login": USER_LOGIN}
    login = str(raw["login"])
    user_id = raw.get("id")
    if not isinstance(user_id, int):
        digest = hashlib.blake2b(login.encode(), digest_size=4).digest()
        user_id = 100_000 + int.from_bytes(digest, "big") % 90_000_000
    kind = str(raw.get("type") or ("Bot" if login.endswith("[bot]") else "User"))
    return {"login": login, "id": user_id, "type": kind,
            "site_admin": bool(raw.get("site_admin", False))}


def render_user(ref: dict[str, Any], base: str) -> dict[str, Any]:
    """A full user object; shared between payloads (memoised), so callers must not mutate it."""
    return _user(ref["login"], ref["id"], ref["type"], ref["site_admin"], base)


@functools.lru_cache(maxsize=4096)
def _user(login: str, user_id: int, kind: str, site_admin: bool, base: str) -> dict[str, Any]:
    api = f"{base}/users/{quote(login, safe='')}"
    return {
        "login": login,
        "id": user_id,
        "node_id": f"MDQ6VXNlcj{user_id}",
        "avatar_url": f"{base}/avatars/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{base}/{quote(login, safe='')}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": site_admin,
    }


def render_authenticated_user(ref: dict[str, Any], base: str) -> dict[str, Any]:
    """`GET /user`: the private view of the token's own account, every field GitHub
    documents as required for it (`private-user`)."""
    return {
        **render_user(ref, base),
        "user_view_type": "private",
        "name": "okrsync sandbox", "company": None, "blog": "", "location": None,
        "email": None, "hireable": None, "bio": None, "twitter_username": None,
        "public_repos": 0, "public_gists": 0, "followers": 0, "following": 0,
        "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z",
        "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
        "disk_usage": 0, "collaborators": 0, "two_factor_authentication": True,
    }


def _maybe_user(ref: Any, base: str) -> dict[str, Any] | None:
    return render_user(ref, base) if isinstance(ref, dict) else None


def render_label(label: dict[str, Any], full_name: str, base: str) -> dict[str, Any]:
    return {
        "id": label["id"],
        "node_id": label["node_id"],
        "url": f"{base}/repos/{full_name}/labels/{quote(label['name'], safe='')}",
        "name": label["name"],
        "color": label["color"],
        "default": label["default"],
        "description": label["description"],
    }


def _reactions(url: str) -> dict[str, Any]:
    return {"url": f"{url}/reactions", "total_count": 0, **dict.fromkeys(_REACTIONS, 0)}


def render_issue(state: GitHubState, repo: RepoRecord, issue: IssueRecord, base: str
                 ) -> dict[str, Any]:
    """`GET /repos/{o}/{r}/issues/{n}` for one stored issue or pull request."""
    data = issue.data
    full = repo.full_name
    url = f"{base}/repos/{full}/issues/{issue.number}"
    html = f"{base}/{full}/{'pull' if 'pull_request' in data else 'issues'}/{issue.number}"
    labels = [render_label(repo.labels[name.lower()], full, base) for name in issue.labels
              if name.lower() in repo.labels]
    payload: dict[str, Any] = {
        "url": url,
        "repository_url": f"{base}/repos/{full}",
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": html,
        "id": data["id"],
        "node_id": data.get("node_id") or f"I_kwDOSANDBOX{data['id']}",
        "number": issue.number,
        "title": data["title"],
        "user": render_user(data["user"], base),
        "labels": labels,
        "state": data["state"],
        "locked": bool(data.get("locked", False)),
        "assignee": _maybe_user(data.get("assignee"), base),
        "assignees": [render_user(u, base) for u in data.get("assignees") or []],
        "milestone": data.get("milestone"),
        "comments": len(issue.comment_ids),
        "created_at": data["created_at"],
        "updated_at": data["updated_at"],
        "closed_at": data.get("closed_at"),
        "author_association": data.get("author_association") or "MEMBER",
        "type": data.get("type"),
        "active_lock_reason": data.get("active_lock_reason"),
        "sub_issues_summary": data["sub_issues_summary"],
        "issue_dependencies_summary": data.get("issue_dependencies_summary") or {
            "blocked_by": 0, "total_blocked_by": 0, "blocking": 0, "total_blocking": 0},
        "body": data.get("body"),
        "closed_by": _maybe_user(data.get("closed_by"), base),
        "reactions": _reactions(url),
        "timeline_url": f"{url}/timeline",
        "performed_via_github_app": None,
        "state_reason": data.get("state_reason"),
        "parent_issue_url": data.get("parent_issue_url"),
    }
    if "pull_request" in data:
        pr = f"{base}/repos/{full}/pulls/{issue.number}"
        payload["draft"] = bool(data.get("draft", False))
        payload["pull_request"] = {
            "url": pr, "html_url": html, "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch", "merged_at": data["pull_request"].get("merged_at"),
        }
    for key, value in data.items():
        if key not in payload and key not in ("pull_request", "draft"):
            payload[key] = value
    return payload


def render_comment(comment: dict[str, Any], base: str) -> dict[str, Any]:
    full, number = comment["repo"], comment["number"]
    url = f"{base}/repos/{full}/issues/comments/{comment['id']}"
    return {
        "url": url,
        "html_url": f"{base}/{full}/issues/{number}#issuecomment-{comment['id']}",
        "issue_url": f"{base}/repos/{full}/issues/{number}",
        "id": comment["id"],
        "node_id": f"IC_kwDOSANDBOX{comment['id']}",
        "user": render_user(comment["user"], base),
        "created_at": comment["created_at"],
        "updated_at": comment["updated_at"],
        "body": comment["body"],
        "author_association": comment["author_association"],
        "reactions": _reactions(url),
        "performed_via_github_app": comment.get("app"),
    }


def render_repo(repo: RepoRecord, base: str, *, open_issues: int) -> dict[str, Any]:
    data = repo.data
    full = repo.full_name
    owner, name = full.split("/", 1)
    api = f"{base}/repos/{full}"
    owner_ref = user_ref({"login": owner, "type": "Organization"})
    payload: dict[str, Any] = {
        "id": data["id"],
        "node_id": f"R_kgDOSANDBOX{data['id']}",
        "name": name,
        "full_name": full,
        "private": data["private"],
        "owner": render_user(owner_ref, base),
        "html_url": f"{base}/{full}",
        "description": data["description"],
        "fork": False,
        "url": api,
        "issues_url": f"{api}/issues{{/number}}",
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments{{/number}}",
        "created_at": data["created_at"],
        "updated_at": data.get("updated_at") or data["created_at"],
        "pushed_at": data.get("pushed_at") or data["created_at"],
        "has_issues": True,
        "archived": bool(data.get("archived", False)),
        "disabled": False,
        "open_issues_count": open_issues,
        "open_issues": open_issues,
        "visibility": "private" if data["private"] else "public",
        "default_branch": data["default_branch"],
        "permissions": {"admin": False, "maintain": False, "triage": True, "pull": True,
                        "push": (data.get("permissions") or {}).get("push", True) is not False
                        and not data.get("archived")},
        **_repo_links(api, f"{base}/{full}", full),
    }
    return payload


_REPO_URL_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}", "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}", "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors", "deployments_url": "/deployments",
    "downloads_url": "/downloads", "events_url": "/events", "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}", "keys_url": "/keys{/key_id}",
    "languages_url": "/languages", "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}", "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags",
    "teams_url": "/teams", "trees_url": "/git/trees{/sha}",
}


def _repo_links(api: str, html: str, full: str) -> dict[str, Any]:
    """The URL templates, clone URLs and counters GitHub documents as required on a
    repository (`full-repository`); the sandbox serves none of them."""
    host = _host(html)
    return {
        **{key: api + suffix for key, suffix in _REPO_URL_TEMPLATES.items()},
        "git_url": f"git://{host}/{full}.git", "ssh_url": f"git@{host}:{full}.git",
        "clone_url": f"{html}.git", "svn_url": html, "mirror_url": None, "homepage": None,
        "language": None, "license": None, "size": 0, "forks": 0, "forks_count": 0,
        "stargazers_count": 0, "watchers": 0, "watchers_count": 0, "network_count": 0,
        "subscribers_count": 0, "has_projects": False, "has_wiki": False, "has_pages": False,
        "has_downloads": False, "has_discussions": False,
    }


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]
