"""The Jira connector (Cloud REST v3 and Data Center REST v2).

Pull: epics in the source's JQL scope, incrementally by `updated` sent as epoch milliseconds
(JQL date strings would be read in the account's time zone), with a lookback overlap and
de-duplication of what the previous pull already saw at its boundary. Write-back: managed
labels through `update` add/remove ops (never `set`, which races with people's edits) and one
remote link per linked key result under a stable `globalId` naming the site (never the
source's config name; see `connectors.ownership`), always sent whole (a globalId
upsert nulls omitted fields). A link whose key result changed (a cycle rollover) is edited in
place by its id, globalId included, rather than a second link created and the old one deleted.
Writes on one issue are serialised (Jira limits writes per issue).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr, field_validator

from connectors.base import PullOptions, SourceConfig, register
from connectors.fields import missing_field
from connectors.http import HttpClient, Sleep
from connectors.jira_parse import WONT_DO_RESOLUTIONS, Cursor, parse_issue, to_ms
from connectors.limits import (
    JIRA_BURST_LIMITS,
    JIRA_ISSUE_WRITE_LIMITS,
    check_limits,
    jira_credential,
    jira_pace,
)
from connectors.ownership import (
    APPLICATION,
    Identity,
    Inspections,
    Owned,
    global_id,
    kr_of_global_id,
    split_links,
)
from connectors.pacing import Limit, Pacer, pacer_for
from connectors.paging import PageTokens
from connectors.scope import describe_change
from connectors.text import clean, valid_hypothesis_pattern
from core.errors import RemoteError, RemoteRejected, Unavailable
from core.model import (
    ApplyResult,
    ApplyStatus,
    DoctorCheck,
    GoalRef,
    Page,
    RequestStats,
    Skipped,
    Ticket,
    WriteBack,
    WriteBackKind,
)

log = logging.getLogger("okrsync.jira")

BASE_FIELDS = ("summary", "status", "resolution", "labels", "components", "assignee",
               "issuetype", "project", "created", "updated", "description", "subtasks",
               "resolutiondate")
RELATIONSHIP = "serves goal"


class JiraSourceConfig(SourceConfig):
    """One Jira site and the JQL scope whose epics okrsync maps to goals."""

    kind: Literal["jira"] = "jira"
    base_url: str
    flavour: Literal["cloud", "datacenter"] = "cloud"
    email: str = ""
    token: SecretStr
    cloud_id: str = ""
    gateway_url: str = "https://api.atlassian.com"
    jql: str = ""
    epic_jql: str = "issuetype = Epic"
    page_size: int = Field(default=100, ge=1, le=1000)
    lookback_seconds: int = Field(default=120, ge=0)
    story_points_field: str = ""
    hypothesis_pattern: str = ""
    notify_users: bool = False
    issue_write_limits: list[str] = list(JIRA_ISSUE_WRITE_LIMITS)
    burst_limits: dict[str, str] = dict(JIRA_BURST_LIMITS)

    @field_validator("issue_write_limits")
    @classmethod
    def _limits(cls, value: list[str]) -> list[str]:
        return check_limits(value)

    @field_validator("burst_limits")
    @classmethod
    def _bursts(cls, value: dict[str, str]) -> dict[str, str]:
        for method, limit in value.items():
            if method.upper() not in ("GET", "POST", "PUT", "DELETE"):
                raise ValueError(f"burst_limits: {method!r} is not GET, POST, PUT or DELETE")
            Limit.parse(limit)
        return value
    wont_do_resolutions: list[str] = Field(default_factory=lambda: list(WONT_DO_RESOLUTIONS))
    """Resolution names that make a done epic a killed bet rather than a shipped one
    (compared case-insensitively, apostrophes ignored)."""

    @classmethod
    def credential_placeholders(cls, table: Mapping[str, Any]) -> dict[str, Any]:
        return {} if "token" in table else {"token": ""}

    @field_validator("base_url")
    @classmethod
    def _site_root(cls, value: str) -> str:
        if "/rest/api" in value:
            raise ValueError("must be the site root, e.g. https://acme.atlassian.net, without "
                             "the API path (okrsync adds /rest/api/N itself)")
        return value

    _valid_pattern = field_validator("hypothesis_pattern")(valid_hypothesis_pattern)

    @field_validator("base_url", "gateway_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://acme.atlassian.net")
        return value.rstrip("/")

    @property
    def site_url(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def api_base(self) -> str:
        """Where requests go: the site, or the api.atlassian.com gateway for scoped tokens."""
        if self.cloud_id:
            return f"{self.gateway_url.rstrip('/')}/ex/jira/{self.cloud_id}"
        return self.site_url

    @property
    def api(self) -> str:
        return "/rest/api/3" if self.flavour == "cloud" else "/rest/api/2"


def build_jql(config: JiraSourceConfig, since_ms: int | None) -> str:
    """`(<scope>) AND (<epic_jql>) AND updated >= <ms> ORDER BY updated ASC, key ASC`."""
    clauses = [f"({q.strip()})" for q in (config.jql, config.epic_jql) if q.strip()]
    if since_ms is not None:
        clauses.append(f"updated >= {max(0, since_ms - config.lookback_seconds * 1000)}")
    where = " AND ".join(clauses) or "updated >= 0"
    return f"{where} ORDER BY updated ASC, key ASC"


# -- the connector --------------------------------------------------------------------------


@dataclass
class _LabelOp:
    """One queued label change and where its caller waits for the outcome."""

    op: Literal["add", "remove"]
    label: str
    result: asyncio.Future[ApplyResult]
    fresh: bool = False


@dataclass
class _IssueLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class JiraConnector:
    """The connector protocol for one Jira source (see `connectors.base.Connector`)."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        if not isinstance(config, JiraSourceConfig):
            raise TypeError(f"JiraConnector needs a JiraSourceConfig, got {type(config).__name__}")
        self.config = config
        self.name = config.name or "jira"
        token = config.token.get_secret_value()
        if config.email:
            basic = base64.b64encode(f"{config.email}:{token}".encode()).decode()
            auth = f"Basic {basic}"
        else:
            auth = f"Bearer {token}"
        self.pacer = pacer or (pacer_for(
            jira_credential(config.api_base, auth),
            lambda: Pacer(name=self.name, enabled=config.pacing),
        ) if sleep is None else Pacer(name=self.name, enabled=config.pacing, sleep=sleep))
        self._http = HttpClient(
            base_url=config.api_base,
            source=self.name,
            headers={"Authorization": auth, "Accept": "application/json"},
            max_concurrency=config.max_concurrency,
            timeout=config.timeout,
            verify_tls=config.verify_tls,
            max_retries=config.max_retries,
            max_rate_limit_wait=config.max_rate_limit_wait,
            transport=transport,
            sleep=sleep or asyncio.sleep,
            pacer=self.pacer,
            pace_of=jira_pace(config.issue_write_limits, config.burst_limits),
        )
        self._api = config.api
        self._issue_locks: dict[str, _IssueLock] = {}
        self._label_queue: dict[str, list[_LabelOp]] = {}
        self._notify_refused = False
        self._identity: Identity | None = None
        self._identity_lock = asyncio.Lock()
        self._inspections = Inspections()

    # -- pull ---------------------------------------------------------------------------

    async def pull(self, cursor: str | None, options: PullOptions) -> AsyncIterator[Page]:
        """Stream pages of epics updated since the cursor; each page carries the next cursor."""
        start = Cursor() if options.full else Cursor.load(cursor)
        running = Cursor(start.since_ms, dict(start.boundary), self.pull_scope())
        pattern = self.config.hypothesis_pattern or options.hypothesis_pattern or None
        lookback_ms = self.config.lookback_seconds * 1000
        jql = build_jql(self.config, start.since_ms)
        yielded = False
        async for issues in self._search(jql):
            tickets: list[Ticket] = []
            skipped: list[Skipped] = []
            for raw in issues:
                unknown = missing_field(raw.get("fields") if isinstance(raw, dict) else None,
                                        "labels")
                if unknown is not None:
                    skipped.append(Skipped(self.name, str(raw.get("key") or "?"), str(unknown)))
                    continue
                try:
                    ticket = parse_issue(
                        raw,
                        source=self.name,
                        site_url=self.config.site_url,
                        story_points_field=self.config.story_points_field,
                        hypothesis_pattern=pattern,
                        wont_do_resolutions=self.config.wont_do_resolutions,
                    )
                except (ValueError, TypeError, KeyError) as exc:
                    key = raw.get("key") if isinstance(raw, dict) else None
                    skipped.append(Skipped(self.name, str(key or "?"), f"unreadable: {exc}"))
                    continue
                updated_ms = to_ms(ticket.updated)
                if running.seen(ticket.key, updated_ms):
                    continue
                running.advance(ticket.key, updated_ms)
                tickets.append(ticket)
            yielded = True
            running.prune(lookback_ms)
            yield Page(tuple(tickets), tuple(skipped), running.dump(), self.config.jql)
        if not yielded:
            yield Page((), (), running.dump(), self.config.jql)

    def pull_scope(self) -> dict[str, str]:
        """What this source pulls; recorded in every cursor it writes."""
        cfg = self.config
        return {"jql": cfg.jql.strip(), "epic_jql": cfg.epic_jql.strip(),
                "flavour": cfg.flavour}

    def scope_change(self, cursor: str) -> str:
        """Why `cursor` (of an earlier pull) does not fit the configured JQL or flavour."""
        return describe_change(Cursor.load(cursor).scope, self.pull_scope())

    async def _search(self, jql: str) -> AsyncIterator[list[Any]]:
        fields = list(BASE_FIELDS)
        if self.config.story_points_field:
            fields.append(self.config.story_points_field)
        params: dict[str, Any] = {"jql": jql, "maxResults": self.config.page_size,
                                  "fields": ",".join(fields)}
        if self.config.flavour == "cloud":
            endpoint = f"GET {self._api}/search/jql"
            seen = PageTokens(endpoint, source=self.name)
            token: str | None = None
            while True:
                page_params = dict(params, nextPageToken=token) if token else params
                data = await self._get_json(f"{self._api}/search/jql", page_params, endpoint)
                issues = _issues_of(data)
                seen.page(_keys_of(issues))
                yield issues
                next_token = data.get("nextPageToken")
                if not next_token or not issues or data.get("isLast"):
                    return
                token = seen.next(str(next_token))
        else:
            endpoint = f"GET {self._api}/search"
            seen = PageTokens(endpoint, source=self.name)
            start_at = 0
            while True:
                data = await self._get_json(
                    f"{self._api}/search", dict(params, startAt=start_at), endpoint
                )
                issues = _issues_of(data)
                seen.page(_keys_of(issues))
                yield issues
                start_at += len(issues)
                total = data.get("total")
                if not issues or not isinstance(total, int) or start_at >= total:
                    return

    async def _get_json(self, path: str, params: dict[str, Any], endpoint: str) -> Any:
        response = await self._http.request("GET", path, params=params, endpoint=endpoint)
        try:
            data = response.json()
        except ValueError as exc:
            raise Unavailable(f"GET {path}: response is not JSON", source=self.name,
                              status=response.status_code) from exc
        if not isinstance(data, dict):
            raise Unavailable(f"GET {path}: unexpected response shape", source=self.name)
        return data

    # -- apply --------------------------------------------------------------------------

    async def apply(self, writeback: WriteBack, *, fresh: bool = False) -> ApplyResult:
        """Apply one write-back idempotently. Writes on one issue go one at a time, and label
        changes queued for the same issue while another write runs go out as one edit.
        Fresh label changes skip the read: Jira's add/remove edit ops are no-ops when the
        label is already as wanted, and the planner chose them from the labels just pulled."""
        key, kind = writeback.ticket_key, writeback.kind
        if kind in (WriteBackKind.ADD_LABEL, WriteBackKind.REMOVE_LABEL):
            op = _LabelOp("add" if kind is WriteBackKind.ADD_LABEL else "remove",
                          writeback.label, asyncio.get_running_loop().create_future(), fresh)
            self._label_queue.setdefault(key, []).append(op)
            async with self._issue_lock(key):
                batch = self._label_queue.pop(key, [])
                if batch:
                    await self._flush_labels(key, batch)
            return await op.result
        async with self._issue_lock(key):
            if kind is WriteBackKind.SET_GOAL_LINKS:
                return await self._sync_links(key, writeback.goals, writeback.previous)
            if kind is WriteBackKind.REMOVE_GOAL_LINKS:
                return await self._sync_links(key, (), writeback.previous)
        raise ValueError(f"unknown write-back kind {kind}")

    @contextlib.asynccontextmanager
    async def _issue_lock(self, key: str) -> AsyncIterator[None]:
        """One write at a time per issue. The lock exists only while a write holds or waits
        for it, so a sync over 50k issues does not keep 50k locks."""
        held = self._issue_locks.get(key)
        if held is None:
            held = self._issue_locks[key] = _IssueLock()
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if not held.users:
                del self._issue_locks[key]

    def _issue_path(self, key: str) -> str:
        return f"{self._api}/issue/{quote(key, safe='')}"

    async def _flush_labels(self, key: str, batch: list[_LabelOp]) -> None:
        """Read the labels once (unless every op is fresh), then send every needed add/remove
        op in one edit."""
        try:
            path = self._issue_path(key)
            trusted = all(op.fresh for op in batch)
            labels: set[str] = set()
            if not trusted:
                current = await self._get_json(path, {"fields": "labels"},
                                               f"GET {self._api}/issue/{{key}}")
                unknown = missing_field(current.get("fields") or {}, "labels")
                if unknown is not None:  # hidden: refused here until the field is back
                    raise RemoteRejected(f"GET {self._api}/issue/{key}: {unknown}",
                                         source=self.name)
                labels = set((current.get("fields") or {}).get("labels") or [])
            ops: list[dict[str, str]] = []
            results: list[ApplyResult] = []
            for op in batch:
                if not trusted and (op.label in labels) == (op.op == "add"):
                    results.append(ApplyResult(ApplyStatus.UNCHANGED,
                                               detail="label already as wanted"))
                    continue
                ops.append({op.op: op.label})
                labels.symmetric_difference_update({op.label})
                results.append(ApplyResult(ApplyStatus.APPLIED, detail=f"{op.op} label {op.label}"))
            if ops:
                await self._edit(path, {"update": {"labels": ops}})
        except asyncio.CancelledError:
            for op in batch:
                op.result.cancel()
            raise
        except Exception as exc:  # handed to every waiting caller
            for op in batch:
                if not op.result.done():
                    op.result.set_exception(exc)
            return
        for op, result in zip(batch, results, strict=True):
            if not op.result.done():
                op.result.set_result(result)

    async def _edit(self, path: str, body: dict[str, Any]) -> None:
        """PUT an issue edit quietly when allowed; if Jira refuses `notifyUsers=false`
        (only admins may), remember it and edit with notifications instead."""
        endpoint = f"PUT {self._api}/issue/{{key}}"
        if not self.config.notify_users and not self._notify_refused:
            response = await self._http.request(
                "PUT", path, params={"notifyUsers": "false"}, json=body, endpoint=endpoint,
                expect=(403, 400),
            )
            if response.status_code < 400:
                return
            if "notif" not in response.text.lower():
                raise self._http.error_for("PUT", path, response)
            log.info("%s: Jira refused notifyUsers=false; editing with notifications", self.name)
            self._notify_refused = True
        await self._http.request("PUT", path, json=body, endpoint=endpoint)

    def link_payload(self, key: str, goal: GoalRef, gid: str = "") -> dict[str, Any]:
        """The whole remote-link object for one goal (omitted fields would be nulled)."""
        title = (f"{goal.objective_id} {goal.objective_title} → {goal.kr_id} {goal.kr_title}"
                 f" (owner {goal.owner}, target {goal.target})")
        summary = (f"This epic serves key result {goal.kr_id} “{goal.kr_title}” of objective "
                   f"{goal.objective_id} “{goal.objective_title}”. Owner: {goal.owner}. "
                   f"Target: {goal.target}.")
        return {
            "globalId": gid or global_id(self.config.site_url, key, goal.kr_id),
            "application": dict(APPLICATION),
            "relationship": RELATIONSHIP,
            "object": {
                "url": goal.url or self._fallback_url(goal.kr_id),
                "title": clean(title, 255),
                "summary": clean(summary, 1000),
            },
        }

    def _fallback_url(self, kr_id: str) -> str:
        """Where a goal link points when its source has no `link_url_template` (the planner
        fills `GoalRef.url` from the template otherwise): the epics carrying the KR's label."""
        jql = 'labels = "' + self.config.managed_label_prefix + kr_id + '"'
        return f"{self.config.site_url}/issues/?jql={quote(jql, safe='')}"

    async def _remote_links(self, key: str) -> list[dict[str, Any]]:
        path = f"{self._issue_path(key)}/remotelink"
        response = await self._http.request(
            "GET", path, endpoint=f"GET {self._api}/issue/{{key}}/remotelink"
        )
        try:
            links = response.json()
        except ValueError as exc:
            raise Unavailable(f"GET {path}: response is not JSON", source=self.name) from exc
        return [link for link in (links if isinstance(links, list) else [])
                if isinstance(link, dict) and link.get("globalId")]

    async def _sync_links(
        self, key: str, goals: tuple[GoalRef, ...], previous: tuple[str, ...]
    ) -> ApplyResult:
        """Upsert one link per goal and delete okrsync's links that ended. Only okrsync's own
        links (`connectors.ownership.split_links`) are updated or deleted, under whatever
        okrsync globalId they already have (older ids named the source): another
        application's link is a look-alike, left alone, and never overwritten. Every own
        link not wanted is stale, so `previous` (what the ledger listed) is not needed."""
        path = f"{self._issue_path(key)}/remotelink"
        links = await self._remote_links(key)
        ours, others = split_links(key, links)
        self._inspections.note(key, others)
        taken = {o.ref for o in others}
        changed: list[str] = []
        wanted = {goal.kr_id for goal in goals}
        spare = [(kr, link) for kr, link in sorted(ours.items())
                 if kr not in wanted and isinstance(link.get("id"), int | str)]
        reused: set[str] = set()
        for goal in goals:
            have = ours.get(goal.kr_id)
            gid = str(have["globalId"]) if have else global_id(
                self.config.site_url, key, goal.kr_id, taken)
            payload = self.link_payload(key, goal, gid)
            if _same_link(have, payload):
                continue
            if have is None and spare:  # a KR moved (a cycle rollover): edit the ended link
                old_kr, old = spare.pop(0)
                if await self._edit_link(key, old, payload):
                    reused.add(old_kr)
                    changed.append(f"edit {old_kr} -> {goal.kr_id}")
                    continue
            await self._http.request("POST", path, json=payload,
                                     endpoint=f"POST {self._api}/issue/{{key}}/remotelink",
                                     idempotent=True)  # an upsert by globalId
            changed.append(f"upsert {goal.kr_id}")
        for kr, link in sorted(ours.items()):
            if kr in wanted or kr in reused:
                continue
            await self._http.request(
                "DELETE", path, params={"globalId": str(link["globalId"])}, expect=(404,),
                endpoint=f"DELETE {self._api}/issue/{{key}}/remotelink",
            )
            changed.append(f"delete {kr}")
        if not changed:
            return ApplyResult(ApplyStatus.UNCHANGED, detail="goal links already as wanted")
        return ApplyResult(ApplyStatus.APPLIED, detail=", ".join(changed))

    async def _edit_link(self, key: str, old: Mapping[str, Any], payload: dict[str, Any]
                         ) -> bool:
        """Replace one of okrsync's ended links in place (`PUT remotelink/{id}`, globalId
        included), so a moved KR is one edit of the same link, never a second link; False
        when the link is gone meanwhile."""
        response = await self._http.request(
            "PUT", f"{self._issue_path(key)}/remotelink/{quote(str(old['id']), safe='')}",
            json=payload, expect=(404,), idempotent=True,  # the whole link, sent whole
            endpoint=f"PUT {self._api}/issue/{{key}}/remotelink/{{id}}",
        )
        return response.status_code != 404

    # -- ownership (connectors.ownership.Owning) -------------------------------------------

    async def identity(self) -> Identity:
        """Who this source writes as (`GET /myself`: Cloud accountId, DC user name), once per
        connector. Jira shows no author on remote links, so this is for the store and
        `status`; ownership of a link is its globalId and application."""
        async with self._identity_lock:
            if self._identity is None:
                me = await self._get_json(f"{self._api}/myself", {},
                                          f"GET {self._api}/myself")
                login = me.get("accountId") or me.get("name") or me.get("key")
                if not isinstance(login, str) or not login:
                    raise Unavailable(f"GET {self._api}/myself: the answer names no account",
                                      source=self.name)
                self._identity = Identity("jira", login, str(me.get("displayName") or ""))
            return self._identity

    async def owned(self, ticket_key: str) -> Owned:
        """okrsync's remote links on one issue and the KRs they name (for adoption)."""
        ours, others = split_links(ticket_key, await self._remote_links(ticket_key))
        self._inspections.note(ticket_key, others)
        krs = tuple(sorted(kr for kr in ours if kr_of_global_id(
            str(ours[kr]["globalId"]), ticket_key)))
        return Owned(krs, None, tuple(others), found=bool(ours))

    def learned_identity(self) -> Identity | None:
        return self._identity

    def inspections(self) -> Inspections:
        return self._inspections

    # -- doctor, stats ------------------------------------------------------------------

    async def doctor(self) -> list[DoctorCheck]:
        """Read-only checks: server, identity, scope visibility, edit/link permissions."""
        checks: list[DoctorCheck] = []
        unreachable = ""

        async def check(name: str, probe: Any) -> None:
            nonlocal unreachable
            if unreachable:
                checks.append(DoctorCheck(name, False, f"not checked: {unreachable}"))
                return
            try:
                ok, detail = await probe()
            except Unavailable as exc:
                ok, detail = False, str(exc)
                unreachable = f"{self.config.api_base} is unreachable"
            except RemoteError as exc:
                ok, detail = False, str(exc)
            checks.append(DoctorCheck(name, ok, detail))

        await check("server", self._doctor_server)
        await check("authenticated", self._doctor_myself)
        await check("browse scope", self._doctor_scope)
        await check("permissions", self._doctor_permissions)
        return checks

    async def _doctor_server(self) -> tuple[bool, str]:
        info = await self._get_json(f"{self._api}/serverInfo", {}, f"GET {self._api}/serverInfo")
        deployment = str(info.get("deploymentType") or "")
        detail = f"{deployment or self.config.flavour} {info.get('version', '?')} at " \
                 f"{self.config.api_base}"
        is_cloud = deployment.lower() == "cloud"
        if deployment and is_cloud != (self.config.flavour == "cloud"):
            return False, f"{detail}; config says flavour = {self.config.flavour!r}"
        return True, detail

    async def _doctor_myself(self) -> tuple[bool, str]:
        me = await self._get_json(f"{self._api}/myself", {}, f"GET {self._api}/myself")
        who = me.get("displayName") or me.get("name") or me.get("accountId") or "?"
        mail = me.get("emailAddress")
        return True, f"as {who}" + (f" <{mail}>" if mail else "")

    async def _doctor_scope(self) -> tuple[bool, str]:
        jql = build_jql(self.config, None)
        data = await self._search_one(jql)
        issues = _issues_of(data)
        total = data.get("total")
        if isinstance(total, int):
            return True, f"{total} epics match {jql!r}"
        if issues:
            return True, f"epics visible for {jql!r}"
        return True, f"no epics match {jql!r} (check the scope)"

    async def _search_one(self, jql: str) -> Any:
        search = "search/jql" if self.config.flavour == "cloud" else "search"
        return await self._get_json(f"{self._api}/{search}",
                                    {"jql": jql, "maxResults": 1, "fields": "key"},
                                    f"GET {self._api}/{search}")

    async def _doctor_permissions(self) -> tuple[bool, str]:
        wanted = ("BROWSE_PROJECTS", "EDIT_ISSUES", "LINK_ISSUES")
        data = await self._get_json(f"{self._api}/mypermissions",
                                    {"permissions": ",".join(wanted)},
                                    f"GET {self._api}/mypermissions")
        perms = data.get("permissions") or {}
        missing = [p for p in wanted
                   if p in perms and not (perms.get(p) or {}).get("havePermission")]
        unknown = [p for p in wanted if p not in perms]
        if missing:
            return False, f"missing {', '.join(missing)}: labels or goal links cannot be written"
        detail = "can browse, edit labels and add links"
        if unknown:
            detail += f" (not reported: {', '.join(unknown)})"
        return True, detail

    async def count(self, jql: str) -> int:
        """How many issues `jql` matches, for key results measured by a JQL count: Cloud's
        approximate-count endpoint (its own rate bucket), Data Center's search `total`."""
        if self.config.flavour == "cloud":
            path = f"{self._api}/search/approximate-count"
            response = await self._http.request("POST", path, json={"jql": jql},
                                                endpoint=f"POST {path}")
            key = "count"
        else:
            path = f"{self._api}/search"
            response = await self._http.request("GET", path, params={"jql": jql,
                                                "maxResults": 0, "fields": "id"},
                                                endpoint=f"GET {path}")
            key = "total"
        try:
            value = response.json()[key]
        except (ValueError, KeyError, TypeError):
            raise Unavailable(f"{path} answered without a `{key}`", source=self.name) from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise Unavailable(f"{path} answered a non-integer `{key}`", source=self.name)
        return value

    def stats(self) -> RequestStats:
        return self._http.stats()

    async def aclose(self) -> None:
        await self._http.aclose()


def _issues_of(data: Any) -> list[Any]:
    issues = data.get("issues") if isinstance(data, dict) else None
    if not isinstance(issues, list):
        raise Unavailable("search response has no issues list")
    return issues


def _keys_of(issues: list[Any]) -> list[str]:
    return [str(i.get("id") or i.get("key")) for i in issues if isinstance(i, dict)]


def _same_link(existing: Any, payload: dict[str, Any]) -> bool:
    if not isinstance(existing, dict):
        return False
    have, want = existing.get("object") or {}, payload["object"]
    return (
        all(have.get(k) == want[k] for k in ("url", "title", "summary"))
        and existing.get("relationship") == payload["relationship"]
        and (existing.get("application") or {}).get("name") == APPLICATION["name"]
    )


register("jira", JiraSourceConfig, JiraConnector,
         sandbox="sandbox.jira_tracker")

__all__ = ["JiraConnector", "JiraSourceConfig", "build_jql", "parse_issue"]
