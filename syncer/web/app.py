"""The dashboard's web app: GET-only pages over the store, each with a JSON twin.

Read-only by construction: every route is GET (Starlette answers 405 to anything else), the
store is read per request and nothing is saved (no report snapshot, no run record). Ticket text
is untrusted: Jinja2 autoescapes every page, only http(s) URLs become links, and the
Content-Security-Policy forbids scripts, inline styles, frames and foreign origins outright.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from core.clock import SYSTEM
from core.errors import UserError
from syncer.reports.render import day, num, pct, safe_url
from syncer.web import pages

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.reports.model import WeeklyReport
    from syncer.store import Store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
CACHED_REPORTS = 8
"""Reports kept per (week, store / catalog / rules stamps, day): filters reuse one build, and
any sync or edit makes a new one."""
BETS_SHOWN = 6
"""Bets listed under each KR on the page; the JSON twin has them all."""
PAGES = (("portfolio", "Portfolio"), ("untraceable", "Untraceable"), ("teams", "Teams"),
         ("rhythm", "Rhythm"), ("runs", "Runs"))


class SecurityHeaders:
    """Adds the CSP and friends to every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class Auth:
    """Optional access control: a bearer token (`web.auth = "token"`, the token from
    OKRSYNC_WEB__TOKEN) or a header a trusted reverse proxy sets after its own login
    (`web.auth = "header"`). The token is compared in constant time and never echoed."""

    def __init__(self, app: ASGIApp, *, mode: str, token: str, header: str) -> None:
        self.app = app
        self.mode = mode
        self.token = token.encode()
        self.header = header.lower().encode()

    def _allowed(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers", []))
        if self.mode == "token":
            sent = headers.get(b"authorization", b"")
            scheme, _, value = sent.partition(b" ")
            return bool(self.token) and scheme.lower() == b"bearer" and hmac.compare_digest(
                value.strip(), self.token)
        if self.mode == "header":
            return bool(headers.get(self.header, b"").strip())
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        extra = {"www-authenticate": "Bearer"} if self.mode == "token" else {}
        response = Response("authentication required\n", status_code=401,
                            media_type="text/plain", headers=extra)
        await response(scope, receive, send)


def _store_stamp(config: Config) -> tuple[int, int] | str:
    """What a sync changes in the store: the SQLite file's stamp, or the PostgreSQL server's
    snapshot (`store_pg.change_stamp`, one query)."""
    if config.store_url:
        from syncer import store_pg

        return store_pg.change_stamp(config.store_url)
    return _stamp(config.store_path)


def _stamp(path: Path) -> tuple[int, int]:
    """A file's change stamp (mtime, size), with its WAL's for a store: what a sync changes."""
    out = (0, 0)
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            st = p.stat()
        except OSError:
            continue
        out = (out[0] ^ st.st_mtime_ns, out[1] + st.st_size)
    return out


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("syncer.web", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, num=num, day=day, url=safe_url)
    return env


def create_app(config: Config, *, now: Callable[[], datetime] | None = None) -> ASGIApp:
    """The dashboard for `config`'s store. `now` is injectable so tests pin the week."""
    env = _environment()
    clock = now or (lambda: SYSTEM.now())
    cache: dict[tuple[Any, ...], WeeklyReport] = {}
    lock = threading.Lock()
    static = resources.files("syncer.web").joinpath("static")
    css = static.joinpath("app.css").read_text("utf-8")
    icon = static.joinpath("icon.svg").read_text("utf-8")

    def need_store() -> None:
        """Never create a store just to show it is empty (Store.open would)."""
        from syncer.store import store_exists

        if not store_exists(config.store_target):
            raise UserError(f"no store at {config.store_path}", key="store.path",
                            hint="run `okrsync sync` first")

    def read_store() -> Store:
        """The store through a read-only connection: no page can write it, on either backend."""
        from syncer.store import Store

        return Store.open_read_only(config.store_target, busy_timeout=config.store_busy_timeout)

    def report(request: Request) -> WeeklyReport:
        from syncer.catalog import load_catalog
        from syncer.reports.load import build_report

        need_store()
        week = request.query_params.get("week") or None
        now = clock()
        key = (week, _store_stamp(config), _stamp(config.catalog_path),
               _stamp(config.rules_path), now.date())
        with lock:
            if key in cache:
                return cache[key]
        catalog = load_catalog(config.catalog_path)
        with read_store() as store:
            built = build_report(store, catalog, config, week, now=now, save_snapshot=False)
        with lock:
            if len(cache) >= CACHED_REPORTS:
                cache.pop(next(iter(cache)))
            cache[key] = built
        return built

    def page(request: Request, name: str, data: dict[str, Any],
             **view: Any) -> Response:
        if request.query_params.get("format") == "json":
            return JSONResponse(data)
        week = data.get("week", "")
        html = env.get_template(f"{name}.html").render(
            page=name, pages=PAGES, week=week, week_query=f"?week={week}" if week else "",
            data=data, **view)
        return HTMLResponse(html)

    def guarded(fn: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await run_in_threadpool(fn, request)
            except UserError as exc:
                body = {"error": exc.message, "hint": exc.hint}
                if request.query_params.get("format") == "json":
                    return JSONResponse(body, status_code=400)
                html = env.get_template("error.html").render(
                    page="", pages=PAGES, week="", week_query="", error=body)
                return HTMLResponse(html, status_code=400)
        return endpoint

    def portfolio(request: Request) -> Response:
        r = report(request)
        weeks = [p.week for p in r.untraceable.trend] if r.untraceable else [r.week]
        return page(request, "portfolio", pages.portfolio_page(r), report=r,
                    objectives=pages.portfolio_view(r), weeks=weeks, bets_shown=BETS_SHOWN)

    def untraceable(request: Request) -> Response:
        r = report(request)
        filters = pages.parse_filters(dict(request.query_params))
        return page(request, "untraceable", pages.untraceable_page(r, filters), report=r)

    def teams(request: Request) -> Response:
        r = report(request)
        data = pages.teams_page(r)
        chart, chart_legend = pages.teams_chart(data)
        return page(request, "teams", data, chart=chart, legend=chart_legend)

    def runs(request: Request) -> Response:
        from syncer.web.runs import load_runs

        need_store()
        with read_store() as store:
            data = pages.runs_page(*load_runs(store))
        return page(request, "runs", data)

    def rhythm(request: Request) -> Response:
        from syncer.catalog import load_catalog
        from syncer.rhythm.review import ReviewKind
        from syncer.rhythm.reviews import load_review

        need_store()
        catalog = load_catalog(config.catalog_path)
        with read_store() as store:
            review = load_review(store, catalog, config, ReviewKind.WEEKLY, now=clock())
        data = review.to_json()
        data["week"] = ""
        return page(request, "rhythm", data)

    async def home(request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/portfolio{query}", status_code=307)

    async def stylesheet(request: Request) -> Response:
        return Response(css, media_type="text/css")

    async def favicon(request: Request) -> Response:
        return Response(icon, media_type="image/svg+xml")

    app = Starlette(routes=[
        Route("/", home),
        Route("/portfolio", guarded(portfolio)),
        Route("/untraceable", guarded(untraceable)),
        Route("/teams", guarded(teams)),
        Route("/rhythm", guarded(rhythm)),
        Route("/runs", guarded(runs)),
        Route("/static/app.css", stylesheet),
        Route("/static/icon.svg", favicon),
        Route("/favicon.ico", favicon),
    ])
    secured: ASGIApp = Auth(app, mode=config.web.auth, token=config.web.token.get_secret_value(),
                            header=config.web.auth_header)
    return SecurityHeaders(secured)
