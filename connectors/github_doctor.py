"""`okrsync doctor` for a GitHub source: identity, token kind and scopes, quota, repo access.

Only read requests: `GET /user` (token auth), `GET /rate_limit` (free of primary quota) and
`GET /repos/{o}/{r}` per repo, whose `permissions` object says whether the token may label
issues (triage or push) — nothing is written to find out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.errors import RemoteError
from core.model import DoctorCheck

if TYPE_CHECKING:
    from connectors.github import GitHubConnector

MAX_REPOS_CHECKED = 25
_WRITE_SCOPES = {"repo", "public_repo"}


def _kind_text(kind: str) -> str:
    return {
        "classic": "classic personal access token",
        "fine-grained": "fine-grained personal access token",
        "oauth": "OAuth token",
        "app-user": "GitHub App user token",
        "app-installation": "GitHub App installation token",
        "app": "GitHub App (installation tokens minted from the app key)",
    }.get(kind, "token of unknown kind (GHES or legacy format)")


async def _identity(conn: GitHubConnector) -> list[DoctorCheck]:
    kind = conn.token_kind()
    if conn.app is not None:
        app = conn.app
        try:
            await app.headers()
        except RemoteError as exc:
            return [DoctorCheck("auth", False, str(exc))]
        perms = ", ".join(f"{k}:{v}" for k, v in sorted(app.permissions.items())) or "not listed"
        return [
            DoctorCheck("auth", True, f"{_kind_text(kind)}: app {app.app_id}, installation "
                                      f"{app.installation_id}"),
            DoctorCheck("permissions", app.permissions.get("issues") == "write"
                        or not app.permissions,
                        f"installation permissions: {perms}"),
        ]
    try:
        resp = await conn.get("/user", endpoint="GET /user")
    except RemoteError as exc:
        return [DoctorCheck("auth", False, f"{_kind_text(kind)}: {exc}")]
    data = resp.json()
    login = data.get("login", "?") if isinstance(data, dict) else "?"
    checks = [DoctorCheck("auth", True, f"{_kind_text(kind)} for {login}")]
    scopes_raw = resp.headers.get("x-oauth-scopes")
    if scopes_raw is not None:
        scopes = {s.strip() for s in scopes_raw.split(",") if s.strip()}
        ok = bool(scopes & _WRITE_SCOPES)
        detail = f"scopes: {', '.join(sorted(scopes)) or 'none'}"
        if not ok:
            detail += " (labels and comments need `repo`, or `public_repo` for public repos)"
        checks.append(DoctorCheck("scopes", ok, detail))
    else:
        checks.append(DoctorCheck(
            "scopes", True,
            "no OAuth scopes header (fine-grained token): per-repo permissions are checked below",
        ))
    return checks


async def _quota(conn: GitHubConnector) -> DoctorCheck:
    try:
        resp = await conn.get("/rate_limit", endpoint="GET /rate_limit", expect=(404,))
    except RemoteError as exc:
        return DoctorCheck("rate limit", False, str(exc))
    if resp.status_code == 404:
        return DoctorCheck("rate limit", True, "rate limiting is disabled on this server")
    data = resp.json()
    core: Any = data.get("resources", {}).get("core", {}) if isinstance(data, dict) else {}
    remaining, limit = core.get("remaining"), core.get("limit")
    if not isinstance(remaining, int) or not isinstance(limit, int):
        return DoctorCheck("rate limit", True, "quota not reported")
    ok = remaining >= max(50, limit // 20)
    return DoctorCheck("rate limit", ok, f"{remaining} of {limit} requests left this hour")


async def _repo(conn: GitHubConnector, repo: str) -> DoctorCheck:
    name = f"repo {repo}"
    try:
        resp = await conn.get(f"/repos/{repo}", endpoint="GET /repos/{o}/{r}")
    except RemoteError as exc:
        return DoctorCheck(name, False, f"not visible: {exc}")
    data = resp.json()
    if not isinstance(data, dict):
        return DoctorCheck(name, False, "unexpected response")
    if data.get("archived"):
        return DoctorCheck(name, False, "archived: issues cannot be labelled")
    if data.get("has_issues") is False:
        return DoctorCheck(name, False, "issues are disabled in this repo")
    perms = data.get("permissions")
    if not isinstance(perms, dict):
        if conn.app is not None:
            return DoctorCheck(name, True, "visible (write access per installation permissions)")
        return DoctorCheck(name, True, "visible; the server did not report permissions")
    writable = bool(perms.get("push") or perms.get("triage") or perms.get("maintain")
                    or perms.get("admin"))
    if writable:
        return DoctorCheck(name, True, "visible; issues and labels writable")
    return DoctorCheck(name, False, "visible but read-only: labels and comments need triage "
                                    "or write access")


async def run_doctor(conn: GitHubConnector) -> list[DoctorCheck]:
    """All checks; a failing check never stops the others."""
    checks = await _identity(conn)
    if not checks[0].ok:
        return checks
    checks.append(await _quota(conn))
    try:
        repos = await conn.list_repos()
    except RemoteError as exc:
        checks.append(DoctorCheck("repos", False, f"cannot list repos: {exc}"))
        return checks
    checks.append(DoctorCheck("repos", bool(repos), f"{len(repos)} repos in scope"))
    for repo in repos[:MAX_REPOS_CHECKED]:
        checks.append(await _repo(conn, repo))
    if len(repos) > MAX_REPOS_CHECKED:
        checks.append(DoctorCheck("repos", True,
                                  f"checked the first {MAX_REPOS_CHECKED} of {len(repos)}"))
    return checks
