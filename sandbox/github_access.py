"""Per-repo write access, archived repos, deleted issues and renamed repos in the sandbox
GitHub: answered before the handler runs, with the bodies github.com sends.

- An archived repo (`"archived": true` in the scenario's repo) answers every write with 403
  "Repository was archived so is read-only."
- A repo the token may only read (`"permissions": {"push": false}`) answers writes with 403:
  "Resource not accessible by integration" for an App installation (the App is not installed
  on it), "Must have admin rights to Repository." for a user token.
- A deleted issue (`"deleted": true` on the issue, or `GitHubState.delete_issue`) answers 410
  "This issue was deleted" on every endpoint under it, and leaves every listing.
- A renamed repo (`"renamed": {"acme/old": "acme/new"}` under `github`) answers requests to
  its old name with 301 for reads and 307 for writes, `Location` pointing at the new name.
"""

from __future__ import annotations

from typing import Any

from sandbox.github_server import Call, Handler, Reply
from sandbox.github_state import GitHubState

ARCHIVED = "Repository was archived so is read-only."
NOT_INSTALLED = "Resource not accessible by integration"
READ_ONLY = "Must have admin rights to Repository."
DELETED = "This issue was deleted"
REDIRECTS = "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects"
DOCS = "https://docs.github.com/rest"


def _error(status: int, message: str) -> Reply:
    return Reply({"message": message, "documentation_url": DOCS, "status": str(status)},
                 status=status)


def refusal(state: GitHubState, method: str, call: Call) -> Reply | None:
    """What GitHub answers instead of the handler for this request, or None to run it."""
    if "owner" not in call.params or "repo" not in call.params:
        return None
    full_name = call.full_name
    moved = state.renamed.get(full_name.lower())
    if moved is not None:
        return _redirect(method, call, full_name, moved)
    repo = state.repos.get(full_name.lower())
    if repo is None:
        return None
    number = call.params.get("number")
    if number is not None and int(number) in repo.deleted:
        return _error(410, DELETED)
    if method in ("GET", "HEAD"):
        return None
    if repo.data.get("archived"):
        return _error(403, ARCHIVED)
    permissions: dict[str, Any] = repo.data.get("permissions") or {}
    if permissions.get("push") is False:
        return _error(403, NOT_INSTALLED if call.identity == "installation" else READ_ONLY)
    return None


def guarded(method: str, handler: Handler) -> Handler:
    """`handler`, answered by `refusal` first when GitHub would refuse or redirect."""

    def run(call: Call) -> Reply:
        return refusal(call.state, method, call) or handler(call)

    return run


def _redirect(method: str, call: Call, old: str, new: str) -> Reply:
    location = call.url.replace(f"/repos/{old}", f"/repos/{new}", 1)
    if method in ("GET", "HEAD"):
        status, message = 301, "Moved Permanently"
    else:
        status, message = 307, "Temporary Redirect"
    return Reply({"message": message, "url": location, "documentation_url": REDIRECTS},
                 status=status, headers={"Location": location})
