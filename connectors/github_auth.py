"""GitHub credentials: what kind of token a source has, and GitHub App installation tokens.

Installation tokens are minted through PyGithub (it signs the app JWT and calls
`POST /app/installations/{id}/access_tokens`) and live one hour; they are cached for the
whole process (every connector and run in it shares one), handed by the daemon from one
cycle's child process to the next (`core.handoff`), and minted again five minutes
before they expire. They are never written anywhere. PyGithub is blocking, so minting runs
in a thread.
Neither the private key nor a token ever appears in a message; PyGithub's exceptions are
not chained (`from None`) because they carry request details.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from core.clock import SYSTEM, Clock
from core.errors import AuthError, RateLimited, RemoteError, Unavailable
from core.handoff import hand_back, inherited_grants

REFRESH_BEFORE = 300.0
_GRANTS: dict[str, tuple[SecretStr, float, dict[str, str]]] = {}
"""Valid installation tokens of this process, by `_handoff_key`."""
_INHERITED: dict[str, tuple[str, float]] | None = None

_PREFIXES = (
    ("github_pat_", "fine-grained"),
    ("ghp_", "classic"),
    ("gho_", "oauth"),
    ("ghu_", "app-user"),
    ("ghs_", "app-installation"),
)


def forget_grants() -> None:
    """Drop the installation tokens this process holds or inherited (a fresh process's view)."""
    global _INHERITED
    _GRANTS.clear()
    _INHERITED = None


def token_kind(token: str) -> str:
    """The kind of a GitHub token from its documented prefix; `unknown` for others (GHES, old)."""
    for prefix, kind in _PREFIXES:
        if token.startswith(prefix):
            return kind
    return "unknown"


class InstallationTokens:
    """A cached GitHub App installation token, re-minted shortly before it expires."""

    def __init__(
        self,
        *,
        api_url: str,
        app_id: int,
        installation_id: int,
        private_key: SecretStr | None,
        private_key_path: str,
        verify_tls: bool,
        timeout: float,
        source: str,
        clock: Clock = SYSTEM,
    ) -> None:
        self._clock = clock
        self._api_url = api_url.rstrip("/")
        self.app_id = app_id
        self.installation_id = installation_id
        self._private_key = private_key
        self._private_key_path = private_key_path
        self._verify = verify_tls
        self._timeout = int(max(1, timeout))
        self._source = source
        self._token: SecretStr | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.permissions: dict[str, str] = {}
        self.mints = 0
        shared = _GRANTS.get(self._handoff_key) or self._inherited()
        if shared is not None:
            self._token, self._expires_at, self.permissions = shared

    def _inherited(self) -> tuple[SecretStr, float, dict[str, str]] | None:
        """A token the daemon kept from an earlier cycle (`core.handoff`)."""
        global _INHERITED
        if _INHERITED is None:
            _INHERITED = inherited_grants()
        grant = _INHERITED.get(self._handoff_key)
        if grant is None:
            return None
        return SecretStr(grant[0]), grant[1], {}

    @property
    def _handoff_key(self) -> str:
        """The credentials a token was minted with: URL, app, installation and a digest of
        the key (or its path), so other credentials never pick up this token."""
        key = (self._private_key.get_secret_value() if self._private_key is not None
               else self._private_key_path)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return f"{self._api_url}|{self.app_id}|{self.installation_id}|{digest}"


    @property
    def expires_at(self) -> float:
        return self._expires_at

    async def headers(self) -> dict[str, str]:
        """The Authorization header, minting a token first when none is valid for 5 more min."""
        if self._token is None or self._expires_at - self._clock.time() < REFRESH_BEFORE:
            async with self._lock:
                if self._token is None or self._expires_at - self._clock.time() < REFRESH_BEFORE:
                    token, expires, permissions = await asyncio.to_thread(self._mint)
                    self._token, self._expires_at = SecretStr(token), expires
                    self.permissions = permissions
                    self.mints += 1
                    _GRANTS[self._handoff_key] = (self._token, expires, permissions)
                    hand_back(self._handoff_key, token, expires)
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    def _key(self) -> str:
        if self._private_key is not None:
            return self._private_key.get_secret_value()
        try:
            return Path(self._private_key_path).expanduser().read_text()
        except OSError as exc:
            raise AuthError(
                f"GitHub App {self.app_id}: cannot read private_key_path "
                f"{self._private_key_path!r}: {exc.strerror}",
                source=self._source,
            ) from None

    def _mint(self) -> tuple[str, float, dict[str, str]]:
        """Blocking: sign the app JWT and exchange it for an installation token (PyGithub)."""
        from github import Auth, GithubException, GithubIntegration
        from jwt.exceptions import PyJWTError

        try:
            integration = GithubIntegration(
                auth=Auth.AppAuth(self.app_id, self._key()),
                base_url=self._api_url,
                verify=self._verify,
                timeout=self._timeout,
            )
            try:
                grant = integration.get_access_token(self.installation_id)
            finally:
                integration.close()
        except GithubException as exc:
            raise _minting_error(exc.status, type(exc).__name__)(
                f"GitHub App {self.app_id}: minting an installation token for installation "
                f"{self.installation_id} failed with HTTP {exc.status}",
                source=self._source,
                status=exc.status,
            ) from None
        except (PyJWTError, ValueError, TypeError) as exc:
            # a malformed private key: say so without echoing it
            raise AuthError(
                f"GitHub App {self.app_id}: the private key cannot sign a JWT "
                f"({type(exc).__name__})",
                source=self._source,
            ) from None
        except OSError as exc:
            raise Unavailable(
                f"GitHub App {self.app_id}: cannot reach {self._api_url} to mint a token "
                f"({type(exc).__name__})",
                source=self._source,
            ) from None
        expires = grant.expires_at
        expires_at = (expires.timestamp() if isinstance(expires, datetime)
                      else self._clock.time() + 3600)
        try:
            permissions = grant.permissions if isinstance(grant.permissions, dict) else {}
        except (AttributeError, AssertionError):
            permissions = {}
        return grant.token, expires_at, {str(k): str(v) for k, v in permissions.items()}

    def app_slug(self) -> str:
        """Blocking: the App's slug from `GET /app` (JWT auth); its comments are by
        `<slug>[bot]`."""
        from github import Auth, GithubException, GithubIntegration
        from jwt.exceptions import PyJWTError

        try:
            integration = GithubIntegration(
                auth=Auth.AppAuth(self.app_id, self._key()), base_url=self._api_url,
                verify=self._verify, timeout=self._timeout,
            )
            try:
                return str(integration.get_app().slug)
            finally:
                integration.close()
        except GithubException as exc:
            raise AuthError(f"GitHub App {self.app_id}: GET /app failed with HTTP {exc.status}",
                            source=self._source, status=exc.status) from None
        except (PyJWTError, ValueError, TypeError) as exc:
            raise AuthError(f"GitHub App {self.app_id}: the private key cannot sign a JWT "
                            f"({type(exc).__name__})", source=self._source) from None
        except OSError as exc:
            raise Unavailable(f"GitHub App {self.app_id}: cannot reach {self._api_url} for "
                              f"GET /app ({type(exc).__name__})", source=self._source) from None


def _minting_error(status: int, exception: str) -> type[RemoteError]:
    """A refused key or installation is an auth error; a rate limit or a server failure while
    minting is not the credentials' fault and is retried like any other request."""
    if status == 429 or exception == "RateLimitExceededException":
        return RateLimited
    if status >= 500:
        return Unavailable
    return AuthError
