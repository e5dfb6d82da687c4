"""Request plumbing of the sandbox GitHub: auth (token and GitHub App JWT), primary quota,
weak ETags and conditional requests, rate-limit headers and accounting around every handler.
Handlers (in `github.py`) only see a `Call` and return a `Reply`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import jwt
from starlette.datastructures import URL, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.clock import SYSTEM
from sandbox.accounting import Accounting, endpoint_name
from sandbox.github_render import render_user, user_ref
from sandbox.github_state import GitHubError, GitHubState, iso, parse_time

DOCS = "https://docs.github.com/rest"
GHES_PREFIX = "/api/v3"
"""Every endpoint is also served under this prefix, as GitHub Enterprise Server does."""
_TOKEN_TTL = 3600
APP_SLUG = "okrsync-sandbox"



@dataclass
class Call:
    """What a handler sees: the parsed request and who made it."""

    state: GitHubState
    base: str
    params: dict[str, Any]
    query: QueryParams
    url: str
    body: Any
    identity: str

    @property
    def full_name(self) -> str:
        return f"{self.params['owner']}/{self.params['repo']}"


@dataclass
class Reply:
    payload: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    last_modified: str | None = None


Handler = Callable[[Call], Reply]


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def paginate(call: Call, items: list[Any], render: Callable[[Any], Any]) -> Reply:
    """One page of `items` with GitHub's `Link` header (next/last, prev/first)."""
    per_page = min(100, max(1, _int(call.query.get("per_page"), 30)))
    page = max(1, _int(call.query.get("page"), 1))
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    links = []
    url = _URL(call.url)
    if page < last:
        links += [f'<{url.page(page + 1)}>; rel="next"', f'<{url.page(last)}>; rel="last"']
    if page > 1:
        links += [f'<{url.page(min(page - 1, last))}>; rel="prev"', f'<{url.page(1)}>; rel="first"']
    headers = {"Link": ", ".join(links)} if links else {}
    return Reply([render(item) for item in chunk], headers=headers)


class _URL:
    def __init__(self, url: str) -> None:
        self._url = URL(url)

    def page(self, number: int) -> str:
        return str(self._url.include_query_params(page=number))


def validation(resource: str, field_name: str, code: str = "invalid") -> GitHubError:
    return GitHubError(422, "Validation Failed",
                       [{"resource": resource, "code": code, "field": field_name}])



# -- the app ----------------------------------------------------------------------------------


class Server:
    """Auth, quota, conditional requests, headers and accounting around every handler."""

    def __init__(self, state: GitHubState, token: str, accounting: Accounting | None,
                 app_id: int | str, public_key: str, installation_id: int) -> None:
        self.state = state
        self.token = token
        self.accounting = accounting
        self.app_id = str(app_id)
        self.public_key = public_key
        self.installation_id = int(installation_id)
        self.minted: dict[str, float] = {}
        self.token_etags = False
        """ETags specific to the token, as on github.com (`Vary: Authorization`): a new
        installation token never gets a 304 for an `If-None-Match` from the previous one."""

    # auth ----------------------------------------------------------------------------------

    def identify(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if not header:
            raise GitHubError(401, "Requires authentication")
        if scheme.lower() not in ("token", "bearer") or not credential.strip():
            raise GitHubError(401, "Bad credentials")
        credential = credential.strip()
        if hmac.compare_digest(credential.encode(), self.token.encode()):
            return "user"
        expiry = self.minted.get(credential)
        if expiry is not None and expiry > SYSTEM.time():
            return "installation"
        raise GitHubError(401, "Bad credentials")

    def verify_jwt(self, request: Request) -> None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential:
            raise GitHubError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(credential.strip(), self.public_key, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "iss"]}, leeway=60)
        except jwt.ExpiredSignatureError:
            raise GitHubError(401, "'Expiration time' claim ('exp') must be a numeric value "
                                   "representing the future time at which the assertion "
                                   "expires") from None
        except jwt.PyJWTError:
            raise GitHubError(401, "A JSON web token could not be decoded") from None
        if str(claims.get("iss")) != self.app_id:
            raise GitHubError(401, "'Issuer' claim ('iss') must be an Integer")
        if int(claims["exp"]) - int(claims["iat"]) > 660:
            raise GitHubError(401, "'Expiration time' claim ('exp') is too far in the future")

    # app endpoints -----------------------------------------------------------------------

    def installation(self, base: str) -> dict[str, Any]:
        org = self.state.org
        account = render_user(user_ref({"login": org, "type": "Organization"}), base)
        inst = f"{base}/app/installations/{self.installation_id}"
        return {"id": self.installation_id, "account": account, "app_id": int(self.app_id),
                "app_slug": APP_SLUG, "target_id": account["id"],
                "target_type": "Organization", "repository_selection": "all",
                "access_tokens_url": f"{inst}/access_tokens",
                "repositories_url": f"{base}/installation/repositories",
                "html_url": f"{base}/organizations/{org}/settings/installations/"
                            f"{self.installation_id}",
                "permissions": {"issues": "write", "metadata": "read"}, "events": [],
                "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
                "single_file_name": None, "suspended_at": None, "suspended_by": None}

    def app_summary(self, base: str) -> dict[str, Any]:
        """The App as GitHub documents it (`integration`): what `GET /app` answers and what
        `performed_via_github_app` names on what its installation wrote."""
        return {"id": int(self.app_id), "slug": APP_SLUG, "node_id": f"A_{self.app_id}",
                "name": "okrsync sandbox", "description": "okrsync's sandbox App",
                "owner": render_user(user_ref({"login": self.state.org,
                                               "type": "Organization"}), base),
                "external_url": f"https://github.com/apps/{APP_SLUG}",
                "html_url": f"https://github.com/apps/{APP_SLUG}",
                "permissions": {"issues": "write", "metadata": "read"}, "events": [],
                "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}

    def app_info(self, call: Call) -> Reply:
        return Reply(self.app_summary(call.base))

    def list_installations(self, call: Call) -> Reply:
        return Reply([self.installation(call.base)])

    def get_installation(self, call: Call) -> Reply:
        if "installation_id" in call.params and (
                int(call.params["installation_id"]) != self.installation_id):
            raise GitHubError(404, "Not Found")
        if "owner" in call.params:
            call.state.repo(call.full_name)
        return Reply(self.installation(call.base))

    def access_token(self, call: Call) -> Reply:
        if int(call.params["installation_id"]) != self.installation_id:
            raise GitHubError(404, "Not Found")
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        expires = SYSTEM.now() + timedelta(seconds=_TOKEN_TTL)
        self.minted[token] = expires.timestamp()
        return Reply({"token": token, "expires_at": iso(expires),
                      "permissions": {"issues": "write", "metadata": "read"},
                      "repository_selection": "all"}, status=201)

    # dispatch ----------------------------------------------------------------------------

    def route(self, method: str, path: str, handler: Handler, *, auth: str = "token",
              quota: bool = True) -> Route:
        name = endpoint_name(method, path)

        async def endpoint(request: Request) -> Response:
            raw = await request.body() if method in ("POST", "PATCH", "PUT") else b""
            return self.serve(request, name, handler, raw, auth=auth, quota=quota)

        return Route(path, endpoint, methods=[method], name=name)

    def serve(self, request: Request, name: str, handler: Handler, raw: bytes, *, auth: str,
              quota: bool) -> Response:
        base = str(request.base_url).rstrip("/")
        if str(request.scope.get("root_path", "")).endswith(GHES_PREFIX):
            base += GHES_PREFIX
        reading = request.method in ("GET", "HEAD")
        cost = 0
        try:
            identity = "app"
            if auth == "jwt":
                self.verify_jwt(request)
            else:
                identity = self.identify(request)
            cost = 1 if quota and auth == "token" else 0
            if cost and not reading and not self.state.spend_quota(cost):
                raise self.exhausted()
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                raise GitHubError(400, "Problems parsing JSON") from None
            call = Call(self.state, base, dict(request.path_params), request.query_params,
                        str(request.url), body, identity)
            with self.state.lock:
                reply = handler(call)
        except GitHubError as exc:
            reply = Reply({"message": exc.message, "documentation_url": DOCS,
                           "status": str(exc.status)}, status=exc.status)
            if exc.errors:
                reply.payload["errors"] = exc.errors
            if exc.status == 401:
                cost = 0
        content = b"" if reply.status == 204 else json.dumps(
            reply.payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = dict(reply.headers)
        status = reply.status
        if status == 200:
            salt = request.headers.get("authorization", "").encode() if self.token_etags else b""
            headers["ETag"] = 'W/"' + hashlib.sha256(content + salt).hexdigest() + '"'
            if reply.last_modified:
                headers["Last-Modified"] = format_datetime(parse_time(reply.last_modified),
                                                           usegmt=True)
            if reading and _not_modified(request, headers):
                status, content, cost = 304, b"", 0
                headers.pop("Link", None)
        if reading and cost and status != 304 and not self.state.spend_quota(cost):
            return self.respond(name, self.exhausted_reply(), 0)
        return self.respond(name, Reply(status=status, headers=headers), cost, content)

    def exhausted(self) -> GitHubError:
        return GitHubError(403, "API rate limit exceeded for user ID 1. If you reach out to "
                                "GitHub Support for help, please include the request ID "
                                "0000:SANDBOX.")

    def exhausted_reply(self) -> Reply:
        exc = self.exhausted()
        return Reply({"message": exc.message, "documentation_url": DOCS + "/overview/"
                      "rate-limits-for-the-rest-api#about-primary-rate-limits"}, status=403)

    def respond(self, name: str, reply: Reply, cost: int, content: bytes | None = None
                ) -> Response:
        if content is None:
            content = json.dumps(reply.payload, separators=(",", ":")).encode()
        rate = self.state.rate()
        headers = {
            "x-ratelimit-limit": str(rate["limit"]),
            "x-ratelimit-remaining": str(rate["remaining"]),
            "x-ratelimit-used": str(rate["used"]),
            "x-ratelimit-reset": str(rate["reset"]),
            "x-ratelimit-resource": "core",
            "x-github-api-version-selected": "2022-11-28",
            "x-github-media-type": "github.v3; format=json",
            **reply.headers,
        }
        if self.accounting is not None:
            self.accounting.record(name, reply.status, bytes_out=len(content), quota=cost)
        media = "application/json; charset=utf-8" if content else None
        return Response(content, reply.status, headers, media_type=media)


def _not_modified(request: Request, headers: dict[str, str]) -> bool:
    """True when the client's `If-None-Match` / `If-Modified-Since` still holds."""
    match = request.headers.get("if-none-match")
    if match is not None:
        ours = headers["ETag"].removeprefix("W/")
        theirs = {tag.strip().removeprefix("W/") for tag in match.split(",")}
        return "*" in theirs or ours in theirs
    since = request.headers.get("if-modified-since")
    modified = headers.get("Last-Modified")
    if since and modified:
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False
