"""GitHub connector (github.com and GitHub Enterprise Server): pull epics, write goal links back.

Pull. An epic is an issue with the configured label (or issue type). Each repo is read
through one fixed listing URL, newest update first (`sort=updated&direction=desc`), sent with
`If-None-Match: <etag of its first page last time>`. Because the URL never changes between
runs, an unchanged repo answers 304, which GitHub does not charge against the rate limit. When
it changed, pages are read only until issues get older than the stored watermark (the `since`
of the cursor) — a few changed epics cost one request. A `since` query parameter would change
the URL on every run and lose the ETag, so the watermark is applied on our side instead.
With App auth the ETag does not survive a new installation token; listings then send
`If-Modified-Since` instead (`github_conditional.py`).
Pull requests, which the issues listing returns too, are dropped.

Write back. Managed labels are added and removed one by one (never the replace-all forms,
which would wipe people's labels), created in the repo first with a colour and description.
Goal links live in one comment per issue, found by a hidden marker and okrsync's identity
(`connectors.ownership`: a person's comment carrying the marker is never edited or deleted),
edited only when its text changes. Finding it costs a read of the issue's comments, except
for a fresh write-back on an issue this run's pull saw with no comments at all: there is
nothing to find, so it is created directly. With `goal_link_carrier = "label"` there is no
comment: the managed labels carry the goal links, and each epic costs one content-creating
request instead of two. Writes are paced per credential to GitHub's secondary limits
(`connectors/limits.py`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from connectors import http
from connectors.base import PullOptions, SourceConfig, register
from connectors.github_auth import InstallationTokens, token_kind
from connectors.github_comment import has_marker, render_goal_comment
from connectors.github_conditional import conditional_headers, validators
from connectors.github_parse import (
    RepoCursor,
    SourceCursor,
    format_time,
    is_pull_request,
    label_names,
    parse_or_skip,
    parse_time,
    type_name,
)
from connectors.github_responses import GITHUB_RESPONSES
from connectors.http import HttpClient
from connectors.limits import (
    GITHUB_CONTENT_LIMITS,
    GITHUB_POINTS_LIMIT,
    check_limits,
    github_credential,
    github_pace,
)
from connectors.ownership import Identity, Inspections, Owned, comment_kr_ids, split_comments
from connectors.pacing import Limit, Pacer, pacer_for
from connectors.paging import checked_next_link
from connectors.scope import describe_change
from connectors.text import valid_hypothesis_pattern
from core.clock import Clock
from core.errors import AnswerLost, NotFound, RemoteRejected, Unavailable
from core.model import (
    ApplyResult,
    ApplyStatus,
    DoctorCheck,
    Page,
    RequestStats,
    Skipped,
    Ticket,
    WriteBack,
    WriteBackKind,
)

log = logging.getLogger("okrsync.github")

API_VERSION = "2022-11-28"
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_KEY = re.compile(r"^(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<number>\d+)$")
_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")


class GitHubSourceConfig(SourceConfig):
    """One GitHub (or GHES) source: where, how to authenticate, which repos, what an epic is."""

    kind: Literal["github"] = "github"
    api_url: str = "https://api.github.com"
    token: SecretStr | None = None
    app_id: int | None = None
    private_key: SecretStr | None = None
    private_key_path: str = ""
    installation_id: int | None = None
    repos: list[str] = []
    org: str = ""
    epic_label: str = "epic"
    epic_type: str = ""
    page_size: int = 100
    hypothesis_pattern: str = ""
    label_color: str = "0e8a16"
    content_limits: list[str] = list(GITHUB_CONTENT_LIMITS)
    points_limit: str = GITHUB_POINTS_LIMIT
    write_spacing: float = Field(default=1.0, ge=0)
    goal_link_carrier: Literal["label", "label+comment"] = "label+comment"

    @field_validator("content_limits")
    @classmethod
    def _limits(cls, value: list[str]) -> list[str]:
        return check_limits(value)

    @field_validator("points_limit")
    @classmethod
    def _points(cls, value: str) -> str:
        Limit.parse(value)
        return value

    @field_validator("repos")
    @classmethod
    def _repos_are_owner_name(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not _REPO.match(r)]
        if bad:
            raise ValueError(f"repos must be owner/name, got {bad!r}")
        return value

    @field_validator("page_size")
    @classmethod
    def _page_size_range(cls, value: int) -> int:
        if not 1 <= value <= 100:
            raise ValueError("page_size must be between 1 and 100 (GitHub's maximum)")
        return value

    @field_validator("label_color")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        value = value.lstrip("#")
        if not _COLOR.match(value):
            raise ValueError("label_color must be six hex digits, e.g. 0e8a16")
        return value.lower()

    _valid_pattern = field_validator("hypothesis_pattern")(valid_hypothesis_pattern)

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("api_url must be an http(s) URL, e.g. https://HOST/api/v3")
        return value.rstrip("/")

    @classmethod
    def credential_placeholders(cls, table: Mapping[str, Any]) -> dict[str, Any]:
        if "app_id" in table or "installation_id" in table:
            has_key = "private_key" in table or "private_key_path" in table
            return {} if has_key else {"private_key": ""}
        return {} if "token" in table else {"token": ""}

    @model_validator(mode="after")
    def _auth_and_scope(self) -> GitHubSourceConfig:
        app = self.app_id is not None or self.installation_id is not None
        has_key = self.private_key is not None or bool(self.private_key_path)
        if self.token is None and not app:
            raise ValueError(
                "set `token`, or the GitHub App fields `app_id`, `private_key` (or "
                "`private_key_path`) and `installation_id`"
            )
        if self.token is not None and (app or has_key):
            raise ValueError("set either `token` or the GitHub App fields, not both")
        if self.token is None and not (
            self.app_id is not None and self.installation_id is not None and has_key
        ):
            raise ValueError(
                "GitHub App auth needs all of `app_id`, `installation_id` and `private_key` "
                "(or `private_key_path`)"
            )
        if not self.repos and not self.org:
            raise ValueError("set `repos` (owner/name) or `org`")
        if not self.epic_label and not self.epic_type:
            raise ValueError("set `epic_label` or `epic_type` to say what an epic is")
        return self


@dataclass(frozen=True)
class _Chunk:
    """What one repo's pull hands to the page stream: a page, and its final state when last."""

    repo: str
    tickets: tuple[Ticket, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    final: RepoCursor | None = None
    done: bool = False
    error: BaseException | None = None


def split_key(key: str) -> tuple[str, int]:
    """`acme/app#45` → (`acme/app`, 45)."""
    m = _KEY.match(key)
    if not m:
        raise RemoteRejected(f"not a GitHub issue key: {key!r}")
    return m.group("repo"), int(m.group("number"))


class GitHubConnector:
    """One configured GitHub source; see the module docstring for the request strategy."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        pacer: Pacer | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(config, GitHubSourceConfig):
            raise TypeError("GitHubConnector needs a GitHubSourceConfig")
        self.config = config
        self.name = config.name or "github"
        private = sleep is not None or clock is not None
        clock = clock or http.DEFAULT_CLOCK
        sleep = sleep or http.DEFAULT_SLEEP or clock.sleep
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "okrsync",
        }
        if config.token is not None:
            headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
        self._app: InstallationTokens | None = None
        if config.token is None and config.app_id is not None and config.installation_id:
            self._app = InstallationTokens(
                api_url=config.api_url,
                app_id=config.app_id,
                installation_id=config.installation_id,
                private_key=config.private_key,
                private_key_path=config.private_key_path,
                verify_tls=config.verify_tls,
                timeout=config.timeout,
                source=self.name,
                clock=clock,
            )
        secret = config.token.get_secret_value() if config.token is not None else ""

        def make_pacer() -> Pacer:
            return Pacer(name=self.name, spacing=config.write_spacing, enabled=config.pacing,
                         clock=clock.time, sleep=sleep)

        self.pacer = pacer or (make_pacer() if private else pacer_for(
            github_credential(config.api_url, secret, config.app_id, config.installation_id),
            make_pacer))
        self._http = HttpClient(
            base_url=config.api_url,
            source=self.name,
            headers=headers,
            max_concurrency=config.max_concurrency,
            timeout=config.timeout,
            verify_tls=config.verify_tls,
            max_retries=config.max_retries,
            max_rate_limit_wait=config.max_rate_limit_wait,
            transport=transport,
            pacer=self.pacer,
            pace_of=github_pace(config.content_limits, config.points_limit),
            responses=GITHUB_RESPONSES,
            sleep=sleep,
            clock=clock.time,
            monotonic=clock.monotonic,
        )
        self._origin = httpx.URL(config.api_url + "/")
        self._labels_ready: set[tuple[str, str]] = set()
        self._uncommented: dict[str, set[int]] = {}
        self._label_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._identity: Identity | None = None
        self._identity_lock = asyncio.Lock()
        self._inspections = Inspections()

    # -- HTTP -------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (),
        idempotent: bool | None = None,
    ) -> httpx.Response:
        merged = dict(headers or {})
        if self._app is not None:
            merged.update(await self._app.headers())
        return await self._http.request(
            method, url, params=params, json=json, headers=merged or None,
            endpoint=endpoint, expect=expect, idempotent=idempotent,
        )

    def _next_link(self, response: httpx.Response) -> str | None:
        """The `Link: rel=next` URL, only when it points at our own API (never leak the token)."""
        nxt = response.links.get("next", {}).get("url")
        if not nxt:
            return None
        url = httpx.URL(nxt)
        if (url.scheme, url.host, url.port) != (
            self._origin.scheme, self._origin.host, self._origin.port
        ):
            raise RemoteRejected(f"refusing to follow a next link to another host ({url.host})",
                                 source=self.name)
        return checked_next_link(response.request.url, nxt, source=self.name)

    @staticmethod
    def _json_list(response: httpx.Response, what: str) -> list[Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise RemoteRejected(f"{what}: the response is not JSON") from exc
        if not isinstance(data, list):
            raise RemoteRejected(f"{what}: expected a JSON list")
        return data

    # -- pull -------------------------------------------------------------------------------

    @property
    def _scope(self) -> str:
        cfg = self.config
        return f"type={cfg.epic_type}" if cfg.epic_type else f"labels={cfg.epic_label}"

    def _listing_params(self) -> dict[str, Any]:
        cfg = self.config
        params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "desc",
                                  "per_page": cfg.page_size}
        if cfg.epic_type:
            params["type"] = cfg.epic_type
        else:
            params["labels"] = cfg.epic_label
        return params

    def _is_epic(self, issue: dict[str, Any]) -> bool:
        cfg = self.config
        if cfg.epic_type:
            return (type_name(issue) or "").casefold() == cfg.epic_type.casefold()
        try:
            names = label_names(issue)
        except ValueError:
            return True  # let the parser record it as malformed
        return cfg.epic_label.casefold() in (n.casefold() for n in names)

    async def _org_repos(self, state: SourceCursor) -> list[str]:
        """Every non-archived repo of the org with issues on; the list is ETag-cached too."""
        org = quote(self.config.org, safe="")
        headers = conditional_headers(state.org_etag, state.org_modified,
                                      app=self._app is not None) if state.org_repos else None
        url: str | None = f"/orgs/{org}/repos"
        params: dict[str, Any] | None = {"type": "all", "per_page": 100}
        names: list[str] = []
        first = True
        while url:
            resp = await self._request(
                "GET", url, params=params, headers=headers if first else None,
                endpoint="GET /orgs/{org}/repos", expect=(304,),
            )
            if first and resp.status_code == 304:
                return list(state.org_repos)
            if first:
                state.org_etag, state.org_modified = validators(resp)
            for repo in self._json_list(resp, "GET /orgs/{org}/repos"):
                if not isinstance(repo, dict) or not isinstance(repo.get("full_name"), str):
                    continue
                if repo.get("archived") or repo.get("disabled") or repo.get("has_issues") is False:
                    continue
                names.append(repo["full_name"])
            url, params, first = self._next_link(resp), None, False
        state.org_repos = sorted(set(names))
        return list(state.org_repos)

    async def _repos(self, state: SourceCursor) -> list[str]:
        repos = list(self.config.repos)
        if self.config.org:
            repos.extend(await self._org_repos(state))
        else:
            state.org_etag, state.org_repos = None, []
        return sorted(set(repos))

    def pull(self, cursor: str | None, options: PullOptions) -> AsyncIterator[Page]:
        """Stream pages of epics changed since `cursor`, repos read concurrently."""
        return self._pull(cursor, options)

    def pull_scope(self) -> dict[str, Any]:
        """What this source pulls; recorded in every cursor it writes."""
        cfg = self.config
        return {"org": cfg.org, "repos": sorted(cfg.repos), "epics": self._scope}

    def scope_change(self, cursor: str) -> str:
        """Why `cursor` (of an earlier pull) does not fit the configured org, repos or epic
        selector."""
        return describe_change(SourceCursor.loads(cursor).scope, self.pull_scope())

    async def _pull(self, cursor: str | None, options: PullOptions) -> AsyncIterator[Page]:
        state = SourceCursor() if options.full else SourceCursor.loads(cursor)
        state.scope = self.pull_scope()
        repos = await self._repos(state)
        state.repos = {r: c for r, c in state.repos.items() if r in repos}
        pattern = self.config.hypothesis_pattern or options.hypothesis_pattern or None
        queue: asyncio.Queue[_Chunk] = asyncio.Queue(maxsize=2 * self.config.max_concurrency)
        gate = asyncio.Semaphore(self.config.max_concurrency)
        from_org = set(repos) - set(self.config.repos)
        tasks = [
            asyncio.create_task(
                self._pull_repo(repo, state.repos.get(repo), pattern, queue, gate, repo in from_org)
            )
            for repo in repos
        ]
        last = cursor
        running = len(tasks)
        try:
            while running:
                chunk = await queue.get()
                if chunk.error is not None:
                    raise chunk.error
                if chunk.done:
                    running -= 1
                    continue
                if chunk.final is not None:
                    state.repos[chunk.repo] = chunk.final
                dumped = state.dumps()
                if chunk.tickets or chunk.skipped or dumped != last:
                    last = dumped
                    yield Page(chunk.tickets, chunk.skipped, cursor=dumped, scope=chunk.repo)
            dumped = state.dumps()
            if dumped != last:
                yield Page((), (), cursor=dumped, scope="")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _pull_repo(
        self,
        repo: str,
        prior: RepoCursor | None,
        pattern: str | None,
        queue: asyncio.Queue[_Chunk],
        gate: asyncio.Semaphore,
        from_org: bool,
    ) -> None:
        try:
            async with gate:
                await self._read_repo(repo, prior, pattern, queue)
        except NotFound as exc:
            if not from_org:
                await queue.put(_Chunk(repo, error=exc))
                return
            log.info("%s: %s vanished from the org listing; skipping it", self.name, repo)
        except Exception as exc:  # forwarded: the stream must end with the error, never hang
            await queue.put(_Chunk(repo, error=exc))
            return
        await queue.put(_Chunk(repo, done=True))

    async def _read_repo(
        self, repo: str, prior: RepoCursor | None, pattern: str | None,
        queue: asyncio.Queue[_Chunk],
    ) -> None:
        rc = prior if prior is not None and prior.scope == self._scope else RepoCursor(
            scope=self._scope
        )
        endpoint = "GET /repos/{o}/{r}/issues"
        url: str | None = f"/repos/{repo}/issues"
        params: dict[str, Any] | None = self._listing_params()
        headers = conditional_headers(rc.etag, rc.modified, app=self._app is not None)
        etag: str | None = None
        modified: str | None = None
        newest: list[tuple[int, Any]] = []  # the issues at the newest `updated_at` listed
        first = True
        while url:
            resp = await self._request("GET", url, params=params,
                                       headers=headers if first else None,
                                       endpoint=endpoint, expect=(304,) if first else ())
            if first and resp.status_code == 304:
                return
            if first:
                etag, modified = validators(resp)
            tickets: list[Ticket] = []
            skipped: list[Skipped] = []
            older = False
            for issue in self._json_list(resp, endpoint):
                if not isinstance(issue, dict) or not isinstance(issue.get("number"), int):
                    skipped.append(Skipped(self.name, f"{repo}#?", "malformed issue: no number"))
                    continue
                number: int = issue["number"]
                try:
                    updated = parse_time(issue.get("updated_at"))
                except ValueError as exc:
                    skipped.append(
                        Skipped(self.name, f"{repo}#{number}", f"malformed issue: {exc}")
                    )
                    continue
                if rc.is_older(updated):
                    older = True
                    break
                if not rc.is_new(number, updated):
                    continue
                # The watermark covers everything the listing showed, pull requests and
                # non-epics included, so the next pull can stop at the first older item.
                if not newest or updated > newest[0][1]:
                    newest = [(number, updated)]
                elif updated == newest[0][1]:
                    newest.append((number, updated))
                if is_pull_request(issue) or not self._is_epic(issue):
                    continue
                parsed = parse_or_skip(issue, source=self.name, repo=repo,
                                       hypothesis_pattern=pattern)
                if isinstance(parsed, Ticket):
                    tickets.append(parsed)
                    self._note_comments(repo, number, issue.get("comments"))
                    self._note_labels(repo, parsed.labels)
                else:
                    skipped.append(parsed)
            nxt = None if older else self._next_link(resp)
            final = rc.advanced(newest, etag, modified) if nxt is None else None
            await queue.put(_Chunk(repo, tuple(tickets), tuple(skipped), final))
            url, params, first = nxt, None, False

    # -- apply ------------------------------------------------------------------------------

    def _note_labels(self, repo: str, labels: tuple[str, ...]) -> None:
        """A managed label on a pulled epic exists in its repo: no need to look it up or
        create it (labels belong to the repo), so later runs do not ask again."""
        prefix = self.config.managed_label_prefix.casefold()
        for label in labels:
            if prefix and label.casefold().startswith(prefix):
                self._labels_ready.add((repo.casefold(), label.casefold()))

    def _note_comments(self, repo: str, number: int, count: Any) -> None:
        """Remember the epics this run's pull saw without any comment (ints: small at scale)."""
        uncommented = self._uncommented.setdefault(repo, set())
        if count == 0 and not isinstance(count, bool):
            uncommented.add(number)
        else:
            uncommented.discard(number)

    async def apply(self, writeback: WriteBack, *, fresh: bool = False) -> ApplyResult:
        """Apply one write-back idempotently; see the module docstring."""
        repo, number = split_key(writeback.ticket_key)
        kind = writeback.kind
        if kind is WriteBackKind.ADD_LABEL:
            if not fresh and await self._has_label(repo, number, writeback.label):
                return ApplyResult(ApplyStatus.UNCHANGED, detail="label already on the issue")
            await self._ensure_label(repo, writeback.label)
            await self._request(
                "POST", f"/repos/{repo}/issues/{number}/labels",
                json={"labels": [writeback.label]},
                endpoint="POST /repos/{o}/{r}/issues/{n}/labels",
                idempotent=True,  # adding a label the issue has is a no-op
            )
            return ApplyResult(ApplyStatus.APPLIED)
        if kind is WriteBackKind.REMOVE_LABEL:
            resp = await self._request(
                "DELETE", f"/repos/{repo}/issues/{number}/labels/{quote(writeback.label, safe='')}",
                endpoint="DELETE /repos/{o}/{r}/issues/{n}/labels/{name}", expect=(404,),
            )
            status = ApplyStatus.UNCHANGED if resp.status_code == 404 else ApplyStatus.APPLIED
            return ApplyResult(status)
        label_only = self.config.goal_link_carrier == "label"
        if kind is WriteBackKind.SET_GOAL_LINKS and label_only:
            return ApplyResult(ApplyStatus.UNCHANGED, writeback.remote_ref,
                               "goal links carried by the managed labels (goal_link_carrier)")
        if kind is WriteBackKind.SET_GOAL_LINKS:
            return await self._set_goal_links(repo, number, writeback, fresh=fresh)
        if kind is WriteBackKind.REMOVE_GOAL_LINKS and label_only and not writeback.remote_ref:
            return ApplyResult(ApplyStatus.UNCHANGED, None, "no goal-link comment was written")
        if kind is WriteBackKind.REMOVE_GOAL_LINKS:
            return await self._remove_goal_links(repo, number, writeback)
        raise RemoteRejected(f"unsupported write-back {kind}", source=self.name)

    async def _has_label(self, repo: str, number: int, label: str) -> bool:
        """Read before writing (a retry or carried-over item): GitHub answers 200 to adding a
        label the issue already has, so only a read tells that nothing needs writing."""
        url: str | None = f"/repos/{repo}/issues/{number}/labels"
        params: dict[str, Any] | None = {"per_page": 100}
        wanted = label.casefold()
        while url:
            resp = await self._request("GET", url, params=params,
                                       endpoint="GET /repos/{o}/{r}/issues/{n}/labels")
            names = self._json_list(resp, "labels")
            if any(isinstance(x, dict) and str(x.get("name", "")).casefold() == wanted
                   for x in names):
                return True
            url, params = self._next_link(resp), None
        return False

    def _label_description(self, label: str) -> str:
        prefix = self.config.managed_label_prefix
        kr = label[len(prefix):] if prefix and label.startswith(prefix) else label
        return f"okrsync: serves key result {kr}"[:100]

    async def _ensure_label(self, repo: str, label: str) -> None:
        """Create the managed label in the repo once (GitHub would auto-create it grey)."""
        key = (repo.casefold(), label.casefold())
        if key in self._labels_ready:
            return
        lock = self._label_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._labels_ready:
                return
            resp = await self._request(
                "GET", f"/repos/{repo}/labels/{quote(label, safe='')}",
                endpoint="GET /repos/{o}/{r}/labels/{name}", expect=(404,),
            )
            if resp.status_code == 404:
                body = {"name": label, "color": self.config.label_color,
                        "description": self._label_description(label)}
                created = await self._request(
                    "POST", f"/repos/{repo}/labels", json=body,
                    endpoint="POST /repos/{o}/{r}/labels", expect=(422,),
                    idempotent=True,  # a second create answers 422 already_exists
                )
                if created.status_code == 422 and "already_exists" not in created.text:
                    raise RemoteRejected(
                        f"POST /repos/{repo}/labels -> 422: GitHub rejected the label {label!r}",
                        source=self.name, status=422,
                    )
            self._labels_ready.add(key)

    async def _find_comment(
        self, repo: str, number: int, remote_ref: str | None
    ) -> tuple[int, str] | None:
        """Our goal-link comment: by the id the ledger kept, else the oldest marker comment
        our identity wrote (`connectors.ownership`). Others' marker comments are look-alikes:
        noted for the report, never touched. An App's later marker comments are retried
        creates (a bot writes no notes of its own) and are deleted; a token's are left, as
        they may be its person's."""
        if remote_ref and remote_ref.isdigit():
            resp = await self._request(
                "GET", f"/repos/{repo}/issues/comments/{remote_ref}",
                endpoint="GET /repos/{o}/{r}/issues/comments/{id}", expect=(404,),
            )
            if resp.status_code != 404:
                data = resp.json()
                body = data.get("body") if isinstance(data, dict) else None
                issue_url = str(data.get("issue_url", "")) if isinstance(data, dict) else ""
                if isinstance(body, str) and has_marker(body) and (
                    not issue_url or issue_url.endswith(f"/issues/{number}")
                ):
                    return int(remote_ref), body
        me = await self.identity()
        key = f"{repo}#{number}"
        ours, others = split_comments(key, await self._marker_comments(repo, number), me,
                                      remote_ref)
        self._inspections.note(key, others)
        if not ours:
            return None
        keep = ours[0]
        if me.kind == "app":
            for extra in ours[1:]:
                await self._delete_comment(repo, int(extra["id"]))
        return int(keep["id"]), str(keep["body"])

    async def _marker_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """Every comment on the issue that opens with okrsync's marker, oldest first."""
        found: list[dict[str, Any]] = []
        url: str | None = f"/repos/{repo}/issues/{number}/comments"
        params: dict[str, Any] | None = {"per_page": 100}
        while url:
            resp = await self._request("GET", url, params=params,
                                       endpoint="GET /repos/{o}/{r}/issues/{n}/comments")
            for c in self._json_list(resp, "GET /repos/{o}/{r}/issues/{n}/comments"):
                if (isinstance(c, dict) and isinstance(c.get("body"), str)
                        and isinstance(c.get("id"), int) and has_marker(c["body"])):
                    found.append(c)
            url, params = self._next_link(resp), None
        return found

    # -- ownership (connectors.ownership.Owning) -------------------------------------------

    async def identity(self) -> Identity:
        """Who this source writes as, learned once per connector (one per run): the token's
        user (`GET /user`), or the App's bot `<slug>[bot]` (`GET /app` with the App's JWT;
        `GET /user` answers 403 to an installation token)."""
        async with self._identity_lock:
            if self._identity is None:
                self._identity = await self._learn_identity()
            return self._identity

    async def _learn_identity(self) -> Identity:
        if self._app is not None:
            slug = await asyncio.to_thread(self._app.app_slug)
            return Identity("app", f"{slug}[bot]", slug)
        resp = await self._request("GET", "/user", endpoint="GET /user")
        data = resp.json() if resp.content else None
        if not isinstance(data, dict) or not isinstance(data.get("login"), str):
            raise RemoteRejected("GET /user: the answer names no login", source=self.name)
        return Identity("user", data["login"], str(data.get("name") or ""))

    async def owned(self, ticket_key: str) -> Owned:
        """okrsync's goal-link comment on one issue and the KRs it names (for adoption)."""
        repo, number = split_key(ticket_key)
        if number in self._uncommented.get(repo, set()):
            return Owned()
        me = await self.identity()
        ours, others = split_comments(ticket_key, await self._marker_comments(repo, number),
                                      me, None)
        self._inspections.note(ticket_key, others)
        if not ours:
            return Owned(lookalikes=tuple(others))
        body = str(ours[0]["body"])
        return Owned(comment_kr_ids(body), str(ours[0]["id"]), tuple(others), found=True)

    def learned_identity(self) -> Identity | None:
        return self._identity

    def inspections(self) -> Inspections:
        return self._inspections

    async def _delete_comment(self, repo: str, comment_id: int) -> bool:
        resp = await self._request(
            "DELETE", f"/repos/{repo}/issues/comments/{comment_id}",
            endpoint="DELETE /repos/{o}/{r}/issues/comments/{id}", expect=(404,),
        )
        return resp.status_code != 404

    async def _set_goal_links(
        self, repo: str, number: int, wb: WriteBack, *, fresh: bool
    ) -> ApplyResult:
        body = render_goal_comment(
            wb.goals,
            ticket_title=wb.ticket_title,
            hypothesis_found=wb.hypothesis_found,
            previous=wb.previous,
            managed_prefix=self.config.managed_label_prefix,
        )
        uncommented = self._uncommented.get(repo, set())
        nothing_to_find = fresh and not wb.remote_ref and number in uncommented
        uncommented.discard(number)
        existing = None if nothing_to_find else await self._find_comment(
            repo, number, wb.remote_ref)
        if existing is None:
            if not wb.goals:
                return ApplyResult(ApplyStatus.UNCHANGED, None, "no goal-link comment to end")
            return await self._create_comment(repo, number, body)
        comment_id, current = existing
        if _normalise(current) == _normalise(body):
            return ApplyResult(ApplyStatus.UNCHANGED, str(comment_id))
        await self._request(
            "PATCH", f"/repos/{repo}/issues/comments/{comment_id}", json={"body": body},
            endpoint="PATCH /repos/{o}/{r}/issues/comments/{id}",
            idempotent=True,  # the whole body: sending it twice leaves the same comment
        )
        return ApplyResult(ApplyStatus.APPLIED, str(comment_id), "comment edited")

    async def _create_comment(self, repo: str, number: int, body: str) -> ApplyResult:
        """POST the goal-link comment. When the answer is lost the comment may exist: every
        resend (up to `max_retries`) comes after a read of the issue's comments that did not
        find our marker."""
        lost: AnswerLost | None = None
        for _ in range(self.config.max_retries + 1):
            try:
                resp = await self._post_comment(repo, number, body)
            except AnswerLost as exc:
                lost = exc
                found = await self._find_comment(repo, number, None)
                if found is not None:
                    return ApplyResult(ApplyStatus.APPLIED, str(found[0]),
                                       "comment created (answer lost; found by its marker)")
                continue
            data = resp.json()
            if not isinstance(data, dict) or not isinstance(data.get("id"), int):
                raise RemoteRejected("POST comment: the response has no comment id",
                                     source=self.name)
            return ApplyResult(ApplyStatus.APPLIED, str(data["id"]), "comment created")
        assert lost is not None
        raise lost

    async def _post_comment(self, repo: str, number: int, body: str) -> httpx.Response:
        return await self._request(
            "POST", f"/repos/{repo}/issues/{number}/comments", json={"body": body},
            endpoint="POST /repos/{o}/{r}/issues/{n}/comments",
        )

    async def _remove_goal_links(self, repo: str, number: int, wb: WriteBack) -> ApplyResult:
        existing = await self._find_comment(repo, number, wb.remote_ref)
        if existing is None or not await self._delete_comment(repo, existing[0]):
            return ApplyResult(ApplyStatus.UNCHANGED)
        return ApplyResult(ApplyStatus.APPLIED, str(existing[0]), "comment deleted")

    # -- doctor / housekeeping ------------------------------------------------------------------

    async def doctor(self) -> list[DoctorCheck]:
        """Identity, token kind and scopes, quota, and per-repo read/write access. Read-only."""
        from connectors.github_doctor import run_doctor

        return await run_doctor(self)

    async def count(self, query: str) -> int:
        """How many issues a search query matches (`total_count`; one search-quota request),
        for key results measured by a GitHub issue count."""
        response = await self._request("GET", "/search/issues", endpoint="GET /search/issues",
                                       params={"q": query, "per_page": 1})
        try:
            value = response.json()["total_count"]
        except (ValueError, KeyError, TypeError):
            raise Unavailable("/search/issues answered without a `total_count`",
                              source=self.name) from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise Unavailable("/search/issues answered a non-integer `total_count`",
                              source=self.name)
        return value

    def stats(self) -> RequestStats:
        return self._http.stats()

    async def aclose(self) -> None:
        await self._http.aclose()

    # Used by the doctor module.
    async def get(self, path: str, *, endpoint: str, params: dict[str, Any] | None = None,
                  expect: tuple[int, ...] = ()) -> httpx.Response:
        return await self._request("GET", path, params=params, endpoint=endpoint, expect=expect)

    @property
    def app(self) -> InstallationTokens | None:
        return self._app

    def token_kind(self) -> str:
        if self._app is not None:
            return "app"
        token = self.config.token.get_secret_value() if self.config.token else ""
        return token_kind(token)

    async def list_repos(self) -> list[str]:
        return await self._repos(SourceCursor())


def _normalise(body: str) -> str:
    return body.replace("\r\n", "\n").strip()


__all__ = ["GitHubConnector", "GitHubSourceConfig", "format_time", "split_key"]

register("github", GitHubSourceConfig, GitHubConnector,
         sandbox="sandbox.github_tracker")
