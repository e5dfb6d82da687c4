"""One error tree for okrsync, and one function that turns an error into what the user reads.

    OkrsyncError
    ├── UserError              bad config or input: message + file + key, exit 2, no traceback
    │   └── ConfigError        a config / catalog / rules file is invalid
    ├── LockHeld               another run holds the lock: exit 3
    ├── StoreError             the SQLite store is corrupt, locked or from a newer version
    └── RemoteError            a tracker or SMTP server failed (translated at the boundary)
        ├── AuthError          401, or a 403 naming the token or its scopes: stops the source
        ├── Forbidden          a 403 on one repo, project or ticket: fails only the writes there
        ├── NotFound           404 / 410: the ticket (or repo) is gone
        ├── RateLimited        429 / secondary limit, past the configured wait cap
        ├── Unavailable        5xx, timeouts, dropped connections after retries
        │   └── AnswerLost     a write was sent but its answer never came: it may have landed
        └── RemoteRejected     another 4xx (bad JQL, validation failed), a redirect on a write

Messages never contain secrets: connectors build them from method, URL path and status only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

TRACEBACK_ENV = "OKRSYNC_TRACEBACK"
"""Set (to anything) to print the traceback of an unexpected error."""


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    FAILURES = 1
    INVALID = 2
    LOCKED = 3


class OkrsyncError(Exception):
    """Base of every error okrsync raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURES
    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        if hint:
            self.hint = hint


class UserError(OkrsyncError):
    """Bad input from the user: names the file and key, exits 2, shows no traceback."""

    exit_code = ExitCode.INVALID

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        line: int | None = None,
        hint: str = "",
        problems: list[str] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.key = key
        self.line = line
        self.problems = problems or []

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f" [{self.key}]" if where else f"[{self.key}]"
        head = f"{where}: {self.message}" if where else self.message
        if self.problems:
            head += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        return head


class ConfigError(UserError):
    """A config, catalog or rules file is invalid."""


class LockHeld(OkrsyncError):
    """Another okrsync run holds the store lock."""

    exit_code = ExitCode.LOCKED


class StoreError(OkrsyncError):
    """The store cannot be used (corrupt, locked by another program, newer schema)."""

    exit_code = ExitCode.INVALID


class StoreUnavailable(StoreError):
    """The store is fine but cannot be written now (a full disk, a read-only volume, another
    program holding it past the busy timeout): a failed run, not a configuration error."""

    exit_code = ExitCode.FAILURES


class RemoteError(OkrsyncError):
    """A remote service failed. `source` names the configured source, never a credential."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        status: int | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.source = source
        self.status = status

    def __str__(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        return f"{prefix}{self.message}"


class AuthError(RemoteError):
    hint = "check the token (and e-mail for Jira Cloud) in the source's config or OKRSYNC_* env"


class Forbidden(RemoteError):
    """Refused for one repo, project or ticket (archived, App not installed, no "Link issues"):
    the token itself is fine, so only the write-backs there fail."""

    hint = "grant okrsync write access there, or run `okrsync resume` once it has it"


class NotFound(RemoteError):
    pass


class RateLimited(RemoteError):
    retryable = True
    hint = "the server asked to wait longer than max_rate_limit_wait; raise it or run later"


class Unavailable(RemoteError):
    retryable = True


class AnswerLost(Unavailable):
    """A non-idempotent write went out and its answer was lost (timeout, dropped connection,
    5xx): it may have landed, so it is never resent blindly; the caller reads first."""


class RemoteRejected(RemoteError):
    pass


@dataclass(frozen=True)
class Explained:
    """What the user reads for an error: one message, what to do next, and the exit code."""

    message: str
    hint: str
    exit_code: ExitCode


def explain_error(exc: BaseException) -> Explained:
    """Turn any exception into the user-facing message; unknown ones say it is a bug."""
    if isinstance(exc, OkrsyncError):
        return Explained(str(exc), exc.hint, exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return Explained("interrupted", "", ExitCode.FAILURES)
    return Explained(
        f"unexpected error: {type(exc).__name__}: {exc}",
        f"this is a bug in okrsync; rerun with {TRACEBACK_ENV}=1 and report the traceback",
        ExitCode.FAILURES,
    )
