"""The sandbox Jira: a Starlette app speaking the REST shapes of Jira Cloud (v3, with v2 still
served) and Jira Data Center (v2) for everything okrsync touches, so the connector, the
official `jira` client, the demo and the benchmark can run against real HTTP on loopback.

Flavours differ where the real products differ: Cloud pages `search/jql` with
`nextPageToken` and answers the retired `/search` with 410 Gone; Data Center pages `/search`
with `startAt`/`total` and has no v3. See docs/sandbox.md.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.accounting import (
    ADMIN_PREFIX,
    DROPPED,
    Accounting,
    accounting_routes,
    resolve_endpoint,
)
from sandbox.faults import FaultInjector, fault_middleware, fault_routes
from sandbox.jira_render import Renderer, fields_selector
from sandbox.jira_state import (
    JIRA_USER,
    EditRejected,
    IssueRecord,
    JiraState,
    format_time,
    now_ms,
)
from sandbox.jql import JqlError, parse

__all__ = ["JIRA_USER", "JiraState", "build_app"]

Flavour = Literal["cloud", "datacenter"]
Handler = Callable[[Request], Awaitable[Response]]

GONE_MESSAGE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)
NOTIFY_MESSAGE = (
    "To discard the user notification either admin or project admin permissions are required."
)
_PERMISSIONS = {
    "BROWSE_PROJECTS": ("10", "Browse Projects", "PROJECT"),
    "CREATE_ISSUES": ("11", "Create Issues", "PROJECT"),
    "EDIT_ISSUES": ("12", "Edit Issues", "PROJECT"),
    "ADD_COMMENTS": ("15", "Add Comments", "PROJECT"),
    "LINK_ISSUES": ("21", "Link Issues", "PROJECT"),
    "TRANSITION_ISSUES": ("46", "Transition Issues", "PROJECT"),
    "ADMINISTER_PROJECTS": ("23", "Administer Projects", "PROJECT"),
    "ADMINISTER": ("0", "Administer Jira", "GLOBAL"),
}
_ADMIN_PERMISSIONS = {"ADMINISTER", "ADMINISTER_PROJECTS"}


def error(status: int, *messages: str, errors: dict[str, str] | None = None) -> JSONResponse:
    """Jira's error body: `{"errorMessages": [...], "errors": {...}}`."""
    return JSONResponse({"errorMessages": list(messages), "errors": errors or {}}, status)


class _Api:
    """Request handlers bound to one state and flavour."""

    def __init__(self, state: JiraState, *, token: str, flavour: Flavour, user: str) -> None:
        self.state = state
        self.token = token
        self.flavour = flavour
        self.user = user
        self._pinned: OrderedDict[str, list[IssueRecord]] = OrderedDict()

    # --- plumbing ------------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(value.strip().encode(), self.token.encode())
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            name, _, secret = decoded.partition(":")
            return name.lower() == self.user.lower() and hmac.compare_digest(
                secret.encode(), self.token.encode()
            )
        return False

    def api_version(self, request: Request) -> str | None:
        """"2" or "3" for a version this flavour serves; None (→ 404) otherwise."""
        api = raw = str(request.path_params.get("api", ""))
        if raw == "latest":
            api = "3" if self.flavour == "cloud" else "2"
        if api == "2" or (api == "3" and self.flavour == "cloud"):
            return api
        return None

    def renderer(self, request: Request, api: str) -> Renderer:
        return Renderer(str(request.base_url), api, self.flavour, self.state.access)

    def route(self, handler: Callable[[Request, str], Awaitable[Response]], *,
              anonymous: bool = False) -> Handler:
        async def wrapped(request: Request) -> Response:
            api = self.api_version(request)
            if api is None:
                return error(404, "null for uri: " + request.url.path)
            if not anonymous and not self.authorized(request):
                return error(
                    401, "You are not authenticated. Authentication required to perform "
                         "this operation."
                )
            return await handler(request, api)

        return wrapped

    async def body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("body is not an object")
        return data

    async def link_body(self, request: Request) -> dict[str, Any] | Response:
        """A remote-link body Jira would accept, or the 400 it answers instead."""
        try:
            body = await self.body(request)
        except ValueError:
            return error(400, "Unexpected character in the request body.")
        problems = _link_problems(body)
        return error(400, errors=problems) if problems else body

    def issue_or_404(self, request: Request) -> IssueRecord | Response:
        rec = self.state.find(request.path_params["key"])
        if rec is None:
            return error(404, "Issue does not exist or you do not have permission to see it.")
        return rec

    # --- server metadata -----------------------------------------------------------------

    async def server_info(self, request: Request, api: str) -> Response:
        cloud = self.flavour == "cloud"
        base = str(request.base_url).rstrip("/")
        version = [1001, 0, 0] if cloud else [9, 12, 8]
        return JSONResponse({
            "baseUrl": base,
            "displayUrl": base,
            "displayUrlConfluence": base + "/wiki",
            "displayUrlServicedeskHelpCenter": base + "/servicedesk",
            "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.8",
            "versionNumbers": version,
            "deploymentType": "Cloud" if cloud else "Server",
            "buildNumber": 100282 if cloud else 9120008,
            "buildDate": "2026-01-05T00:00:00.000+0000",
            "serverTime": format_time(now_ms()),
            "scmInfo": "0f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c",
            "serverTitle": "Sandbox Jira",
            "serverTimeZone": "UTC",
            "defaultLocale": {"locale": "en_US"},
        })

    async def myself(self, request: Request, api: str) -> Response:
        return JSONResponse(self.renderer(request, api).myself(self.user, self.state.admin))

    async def projects(self, request: Request, api: str) -> Response:
        r = self.renderer(request, api)
        return JSONResponse([r.project(k, n) for k, n in self.state.projects().items()])

    async def issue_types(self, request: Request, api: str) -> Response:
        from sandbox.jira_state import ISSUE_TYPES

        r = self.renderer(request, api)
        return JSONResponse([r.issuetype(name) for name in ISSUE_TYPES])

    async def fields(self, request: Request, api: str) -> Response:
        return JSONResponse(self.renderer(request, api).field_list())

    async def my_permissions(self, request: Request, api: str) -> Response:
        raw = request.query_params.get("permissions")
        if raw is None and self.flavour == "cloud":
            return error(400, "The permissions query parameter was not provided.")
        keys = [k.strip() for k in raw.split(",") if k.strip()] if raw else list(_PERMISSIONS)
        out: dict[str, Any] = {}
        for key in keys:
            if key not in _PERMISSIONS:
                return error(404, f"No project permissions with key {key} found.")
            pid, name, kind = _PERMISSIONS[key]
            have = key not in self.state.denied_permissions and (
                key not in _ADMIN_PERMISSIONS or self.state.admin
            )
            out[key] = {"id": pid, "key": key, "name": name, "type": kind,
                        "description": f"Ability to {name.lower()}.", "havePermission": have}
        return JSONResponse({"permissions": out})

    async def application_links(self, request: Request) -> Response:
        if not self.authorized(request):
            return error(401, "You are not authenticated.")
        return JSONResponse({"list": []})

    # --- search --------------------------------------------------------------------------

    async def search_params(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            return await self.body(request)
        q = request.query_params
        params: dict[str, Any] = {k: q[k] for k in q if k != "fields"}
        if "fields" in q:
            params["fields"] = q.getlist("fields")
        return params

    def run_query(self, jql: str) -> tuple[list[IssueRecord], str]:
        query = parse(jql)
        return self.state.search(query, jql), jql

    async def search_jql(self, request: Request, api: str) -> Response:
        """Cloud's enhanced search: ids only unless `fields`, `nextPageToken` paging."""
        if self.flavour != "cloud":
            return error(404, "null for uri: " + request.url.path)
        try:
            params = await self.search_params(request)
            jql = str(params.get("jql") or "")
            query = parse(jql)
            if not query.bounded:
                return error(400, "Unbounded JQL queries are not allowed here. Please add a "
                                  "search restriction to your query.")
            raw_fields = params.get("fields")
            if isinstance(raw_fields, str):
                raw_fields = [raw_fields]
            wanted: set[str] = (fields_selector(raw_fields) or set()) if raw_fields else {"id"}
            ids_only = wanted <= {"id", "key"}
            cap = 5000 if ids_only else 100
            limit = max(1, min(int(params.get("maxResults") or 50), cap))
            token = params.get("nextPageToken")
            pinned, offset = self.unpin(str(token), jql) if token else (None, 0)
        except JqlError as exc:
            return error(400, str(exc))
        except (ValueError, TypeError) as exc:
            return error(400, f"Invalid request: {exc}")
        matched = pinned if pinned is not None else self.state.search(query, jql)
        page = matched[offset:offset + limit]
        r = self.renderer(request, api)
        if ids_only:
            issues = [{"id": rec.id, **({"key": rec.key} if "key" in wanted else {})}
                      for rec in page]
        else:
            with self.state.lock:
                issues = [r.issue(rec, wanted) for rec in page]
        body: dict[str, Any] = {"issues": issues}
        if offset + limit < len(matched):
            body["nextPageToken"] = self.pin(matched, jql, offset + limit)
            body["isLast"] = False
        else:
            body["isLast"] = True
        return JSONResponse(body)

    def pin(self, matched: list[IssueRecord], jql: str, offset: int) -> str:
        """Keep the result list so later pages are stable; the token names it."""
        sid = uuid.uuid4().hex[:16]
        self._pinned[sid] = matched
        while len(self._pinned) > 64:
            self._pinned.popitem(last=False)
        raw = json.dumps({"s": sid, "o": offset, "q": _digest(jql)})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def unpin(self, token: str, jql: str) -> tuple[list[IssueRecord] | None, int]:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded))
            sid, offset, digest = str(data["s"]), int(data["o"]), str(data["q"])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise ValueError("The provided next page token is invalid or expired.") from exc
        if digest != _digest(jql):
            raise ValueError("The provided next page token is invalid or expired.")
        return self._pinned.get(sid), offset

    async def approximate_count(self, request: Request, api: str) -> Response:
        """Cloud's `POST /search/approximate-count`: `{"count": N}` for a bounded JQL."""
        if self.flavour != "cloud":
            return error(404, "null for uri: " + request.url.path)
        try:
            jql = str((await self.body(request)).get("jql") or "")
            query = parse(jql)
            if not query.bounded:
                return error(400, "Unbounded JQL queries are not allowed here. Please add a "
                                  "search restriction to your query.")
        except JqlError as exc:
            return error(400, str(exc))
        except (ValueError, TypeError) as exc:
            return error(400, f"Invalid request: {exc}")
        return JSONResponse({"count": len(self.state.search(query, jql))})

    async def search_classic(self, request: Request, api: str) -> Response:
        """`/search` with `startAt`/`total`: Data Center only; Cloud answers 410 Gone."""
        if self.flavour == "cloud":
            return error(410, GONE_MESSAGE)
        try:
            params = await self.search_params(request)
            jql = str(params.get("jql") or "")
            matched, _ = self.run_query(jql)
            raw_fields = params.get("fields")
            if isinstance(raw_fields, str):
                raw_fields = [raw_fields]
            wanted = fields_selector(raw_fields) if raw_fields else None
            start = max(0, int(params.get("startAt") or 0))
            raw_max = params.get("maxResults")
            limit = max(0, min(int(raw_max if raw_max is not None else 50), 1000))
        except JqlError as exc:
            return error(400, str(exc))
        except (ValueError, TypeError) as exc:
            return error(400, f"Invalid request: {exc}")
        r = self.renderer(request, api)
        with self.state.lock:
            issues = [r.issue(rec, wanted) for rec in matched[start:start + limit]]
        return JSONResponse({"expand": "schema,names", "startAt": start, "maxResults": limit,
                             "total": len(matched), "issues": issues})

    # --- issues --------------------------------------------------------------------------

    async def get_issue(self, request: Request, api: str) -> Response:
        rec = self.issue_or_404(request)
        if isinstance(rec, Response):
            return rec
        q = request.query_params
        wanted = fields_selector(q.getlist("fields")) if "fields" in q else None
        with self.state.lock:
            return JSONResponse(self.renderer(request, api).issue(rec, wanted))

    async def edit_issue(self, request: Request, api: str) -> Response:
        rec = self.issue_or_404(request)
        if isinstance(rec, Response):
            return rec
        if request.query_params.get("notifyUsers", "true").lower() == "false" and not (
            self.state.admin
        ):
            return error(403, NOTIFY_MESSAGE)
        try:
            body = await self.body(request)
        except ValueError:
            return error(400, "Unexpected character in the request body.")
        refused = self.state.access.edit_refusal(rec.project, body)
        if refused is not None:
            return error(refused.status, *refused.messages, errors=refused.errors or None)
        try:
            self.state.apply_edit(rec.key, body)
        except EditRejected as exc:
            return error(400, *exc.messages, errors=exc.errors)
        except ValueError:
            return error(400, "Unexpected character in the request body.")
        if request.query_params.get("returnIssue", "").lower() == "true":
            with self.state.lock:
                return JSONResponse(self.renderer(request, api).issue(rec, None))
        return Response(status_code=204)

    async def remote_links(self, request: Request, api: str) -> Response:
        rec = self.issue_or_404(request)
        if isinstance(rec, Response):
            return rec
        r = self.renderer(request, api)
        refused = (self.state.access.link_refusal(rec.project)
                   if request.method in ("POST", "DELETE") else None)
        if refused is not None:
            return error(refused.status, *refused.messages)
        if request.method == "DELETE":
            global_id = request.query_params.get("globalId")
            if not global_id:
                return error(400, "The global ID must be provided.")
            if not self.state.delete_remote_link(rec.key, global_id=global_id):
                return error(404, f"No remote link with global ID '{global_id}' was found.")
            return Response(status_code=204)
        if request.method == "POST":
            body = await self.link_body(request)
            if isinstance(body, Response):
                return body
            link, created = self.state.upsert_remote_link(rec.key, body)
            rendered = r.remote_link(rec, link)
            return JSONResponse({"id": rendered["id"], "self": rendered["self"]},
                                201 if created else 200)
        global_id = request.query_params.get("globalId")
        with self.state.lock:
            links = [r.remote_link(rec, link) for link in rec.remotelinks]
        if global_id is not None:
            found = [link for link in links if link.get("globalId") == global_id]
            if not found:
                return error(404, f"No remote link with global ID '{global_id}' was found.")
            return JSONResponse(found[0])
        return JSONResponse(links)

    async def remote_link_by_id(self, request: Request, api: str) -> Response:
        rec = self.issue_or_404(request)
        if isinstance(rec, Response):
            return rec
        link_id = int(request.path_params["link_id"])
        refused = self.state.access.link_refusal(rec.project)
        if request.method in ("PUT", "DELETE") and refused is not None:
            return error(refused.status, *refused.messages)
        if request.method == "PUT":  # update by id: the whole link, globalId included
            body = await self.link_body(request)
            if isinstance(body, Response):
                return body
            if not self.state.update_remote_link(rec.key, link_id, body):
                return error(404, f"No remote link with ID '{link_id}' was found.")
            return Response(status_code=204)
        if request.method == "DELETE":
            if not self.state.delete_remote_link(rec.key, link_id=link_id):
                return error(404, f"No remote link with ID '{link_id}' was found.")
            return Response(status_code=204)
        with self.state.lock:
            for link in rec.remotelinks:
                if link.get("id") == link_id:
                    return JSONResponse(self.renderer(request, api).remote_link(rec, link))
        return error(404, f"No remote link with ID '{link_id}' was found.")

    async def comments(self, request: Request, api: str) -> Response:
        rec = self.issue_or_404(request)
        if isinstance(rec, Response):
            return rec
        r = self.renderer(request, api)
        if request.method == "POST":
            try:
                payload = (await self.body(request)).get("body")
            except ValueError:
                return error(400, "Unexpected character in the request body.")
            if not payload:
                return error(400, errors={"comment": "Comment body can not be empty!"})
            if api == "3" and not isinstance(payload, dict):
                return error(400, errors={"comment": "Operation value must be an Atlassian "
                                                     "Document (see the Atlassian Document "
                                                     "Format)"})
            if api == "2" and not isinstance(payload, str):
                return error(400, errors={"comment": "Operation value must be a string"})
            comment = self.state.add_comment(rec.key, payload, "Sandbox Bot")
            return JSONResponse(r.comment(rec.id, comment), 201)
        q = request.query_params
        start = max(0, int(q.get("startAt") or 0))
        limit = max(1, min(int(q.get("maxResults") or 5000), 5000))
        with self.state.lock:
            return JSONResponse(r.comments_page(rec, start, limit))


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_app(
    state: JiraState,
    *,
    token: str,
    flavour: Flavour = "cloud",
    user: str = JIRA_USER,
    accounting: Accounting | None = None,
    injector: FaultInjector | None = None,
) -> ASGIApp:
    """The sandbox Jira as an ASGI app: faults first (when an injector is given), then
    request accounting, then the handlers. `/_sandbox/accounting` (GET; POST `/reset`) and
    `/_sandbox/faults` (GET; PUT a spec) are admin routes, neither counted nor faulted."""
    api = _Api(state, token=token, flavour=flavour, user=user)
    p = "/rest/api/{api}"
    routes = [
        Route(p + "/serverInfo", api.route(api.server_info, anonymous=True)),
        Route(p + "/myself", api.route(api.myself)),
        Route(p + "/project", api.route(api.projects)),
        Route(p + "/issuetype", api.route(api.issue_types)),
        Route(p + "/field", api.route(api.fields)),
        Route(p + "/mypermissions", api.route(api.my_permissions)),
        Route(p + "/search/jql", api.route(api.search_jql), methods=["GET", "POST"]),
        Route(p + "/search/approximate-count", api.route(api.approximate_count),
              methods=["POST"]),
        Route(p + "/search", api.route(api.search_classic), methods=["GET", "POST"]),
        Route(p + "/issue/{key}", api.route(api.get_issue), methods=["GET"]),
        Route(p + "/issue/{key}", api.route(api.edit_issue), methods=["PUT"]),
        Route(p + "/issue/{key}/remotelink", api.route(api.remote_links),
              methods=["GET", "POST", "DELETE"]),
        Route(p + "/issue/{key}/remotelink/{link_id:int}", api.route(api.remote_link_by_id),
              methods=["GET", "PUT", "DELETE"]),
        Route(p + "/issue/{key}/comment", api.route(api.comments), methods=["GET", "POST"]),
        Route("/rest/applinks/latest/listApplicationlinks", api.application_links),
    ]
    if accounting is not None:
        routes += accounting_routes(accounting)
    if injector is not None:
        routes += fault_routes(injector)
    app: ASGIApp = _Counted(Starlette(routes=routes), accounting)
    if injector is not None:
        app = fault_middleware(app, injector, flavour="jira", accounting=accounting)
    return app


class _Counted:
    """Counts each request that reaches the handlers (endpoint template, status, bytes)."""

    def __init__(self, app: Starlette, accounting: Accounting | None) -> None:
        self.app = app
        self.accounting = accounting

    @property
    def routes(self) -> list[BaseRoute]:
        """Lets the fault middleware name endpoints the same way."""
        return self.app.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or self.accounting is None or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        accounting = self.accounting
        status = DROPPED
        size = 0
        recorded = False

        def record() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                accounting.record(resolve_endpoint(self.app, scope), status, bytes_out=size)

        async def counting_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if not message.get("more_body", False):
                    record()  # before the last byte leaves: a client never outruns its count
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            record()


def _link_problems(body: dict[str, Any]) -> dict[str, str]:
    """What Jira refuses in a remote-link body: no title or url, a globalId over 255."""
    obj = body.get("object") if isinstance(body.get("object"), dict) else {}
    problems = {k: f"{k.title()} is required." for k in ("title", "url")
                if not (obj or {}).get(k)}
    if len(str(body.get("globalId") or "")) > 255:
        problems["globalId"] = "The global ID must not exceed 255 characters."
    return problems
