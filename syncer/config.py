"""`okrsync.toml` overlaid by `OKRSYNC_*` environment variables, validated once, up front.

Every later step trusts `Config`: a problem here is a `ConfigError` naming the file, the dotted
key (`sources.jira.max_retries`) and the line, so a bad deploy fails before touching anything.
Secrets (`smtp.password`, source tokens) stay `SecretStr`; `Config.masked()` is the only dump.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connectors.base import SourceConfig, load_all
from connectors.text import valid_hypothesis_pattern
from core.config_env import ENV_PREFIX, env_list, is_list_field, unknown_variables
from core.config_problems import (
    Problem,
    config_error,
    problem,
    problems_of,
    secret_fields,
)
from core.errors import ConfigError
from core.redact import clean_secret
from core.teams import team_of
from core.tomlfile import read_toml
from syncer.rhythm.settings import (
    ChatSection,
    EscalationSection,
    Person,
    ReviewSection,
    RhythmConfig,
    RhythmSection,
    ScorecardSection,
    team_references,
)
from syncer.store import BUSY_TIMEOUT

CONFIG_ENV = "OKRSYNC_CONFIG"
DEFAULT_NAME = "okrsync.toml"
_SECRET_NAMES = re.compile(r"(token|password|secret|private_key|api_key)", re.IGNORECASE)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _from_text(cls, value: Any, info: ValidationInfo) -> Any:
        """A list may come from env as `a,b` or JSON; a secret is stripped and checked."""
        name = info.field_name or ""
        field = cls.model_fields.get(name)
        if field is not None and is_list_field(field.annotation):
            return env_list(value)
        if name in secret_fields(cls):
            return clean_secret(value)
        return value


class StoreSection(_Section):
    path: Path = Path("okrsync.db")
    url: str | None = None
    """A PostgreSQL store several workers share (`postgresql://user@host:5432/db`) instead
    of the SQLite file at `path`; the password comes from `OKRSYNC_STORE__PASSWORD`."""
    password: SecretStr = SecretStr("")
    """Only from the environment (`OKRSYNC_STORE__PASSWORD`); read by the store itself."""

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (leave it out for the SQLite file)")
        if urlsplit(value).password is not None:
            raise ValueError("must not hold the password: set OKRSYNC_STORE__PASSWORD instead")
        return value
    keep_days: int = Field(default=180, ge=0)
    """Finished write-backs, their journal and run records older than this are deleted after
    each sync (runs that old can no longer be reverted); 0 keeps everything."""
    busy_timeout: float = Field(default=BUSY_TIMEOUT, gt=0)
    """Seconds a write waits for another connection holding the store before giving up."""


class OkrsSection(_Section):
    catalog: Path = Path("okrs.toml")
    rules: Path = Path("rules.toml")


class LabelsSection(_Section):
    """Label conventions: people's explicit labels, the service's own, and run/maintenance."""

    explicit_prefix: str = Field(default="okr:", min_length=1)
    managed_prefix: str = Field(default="goal:", min_length=1)
    ktlo: list[str] = Field(default_factory=lambda: ["ktlo"])

    @model_validator(mode="after")
    def _prefixes_distinct(self) -> LabelsSection:
        a, b = self.explicit_prefix.casefold(), self.managed_prefix.casefold()
        if a.startswith(b) or b.startswith(a):
            raise ValueError(
                "explicit_prefix and managed_prefix must differ (neither may start with the "
                "other): people's labels are inputs, the service's are outputs"
            )
        return self


class SyncSection(_Section):
    hypothesis_pattern: str = ""
    full_pull_every_hours: float = Field(default=24.0, ge=0)
    """A source's pull is complete (every epic, ignoring the cursor) when its last complete
    pull is older than this: the only way to notice epics deleted or moved out of the scope.
    0: only on the first run and `sync --full`."""
    park_after: int = Field(default=5, ge=1)
    """Refusals (a 403 on one repo or project, a redirect, another 4xx) after which a
    write-back is parked: kept and shown, not retried until `okrsync resume`."""
    retry_backoff_seconds: float = Field(default=900.0, ge=0)
    """Wait after a write-back's first refusal, doubled after each further one (at most a
    day); 0 retries it on every run."""

    _valid_pattern = field_validator("hypothesis_pattern")(valid_hypothesis_pattern)


def _one_line_addresses(value: Any) -> Any:
    """Mail addresses become headers: a CR or LF in one would end the header (and start
    another), so any control character is refused here rather than halfway through a send."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and any(ord(c) < 32 or ord(c) == 127 for c in item):
            raise ValueError("an e-mail address must be one line, without control characters")
    return value


class Team(_Section):
    """A team: which projects/repos are theirs (globs), who owns them, where mail goes."""

    name: str = ""
    owner: str = Field(min_length=1)
    lead: str = ""
    """Who the team's stalled check-ins escalate to (a `[people.<name>]`); empty: `owner`."""
    email: str = ""
    projects: list[str] = Field(default_factory=list)

    _email_one_line = field_validator("email")(_one_line_addresses)


class SmtpSection(_Section):
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    security: Literal["starttls", "ssl", "none"] = "starttls"
    sender: str = "okrsync@example.com"
    timeout: float = Field(default=30.0, gt=0)

    _sender_one_line = field_validator("sender", "username")(_one_line_addresses)


class ReportSection(_Section):
    recipients: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    send_cron: str = "0 8 * * 1"
    per_team: bool = False
    stale_weeks: int = Field(default=6, ge=1)
    trend_weeks: int = Field(default=8, ge=1)
    digest_top: int = Field(default=5, ge=0, le=50)
    """Untraceable epics the email lists per team; the dashboard lists them all."""
    dashboard_url: str = ""
    """Where readers of the email reach `okrsync serve` (e.g. https://okr.example.com)."""

    _recipients_one_line = field_validator("recipients")(_one_line_addresses)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            raise ValueError(msg) from None
        return value

    @field_validator("send_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from syncer.schedule import validate_cron

        if not validate_cron(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value


class SuggestSection(_Section):
    """`[suggest]`: suggestions below `min_confidence` (a calibrated probability that the
    top key result is the one a person would pick) are not shown."""

    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)


class DaemonSection(_Section):
    interval_seconds: float = Field(default=900.0, gt=0)
    jitter_seconds: float = Field(default=60.0, ge=0)
    health_port: int = Field(default=9464, ge=0, le=65535)
    unhealthy_after: int = Field(default=3, ge=1)
    measure_every: float = Field(default=3600.0, ge=0)
    """Seconds between `okrsync measure` runs of the daemon; 0 turns measuring off."""


class WebSection(_Section):
    """`okrsync serve` and the daemon's dashboard: loopback unless configured; optional auth."""

    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=0, le=65535)
    """The daemon serves the dashboard on this port when set (0: any free port)."""
    auth: Literal["none", "token", "header"] = "none"
    token: SecretStr = SecretStr("")
    """With auth = "token": the bearer token readers send; set OKRSYNC_WEB__TOKEN, not the file."""
    auth_header: str = "X-Forwarded-User"
    """With auth = "header": the header a trusted reverse proxy sets after its own login."""


class _EnvFirst(BaseSettings):
    """Settings read from init kwargs (the file) overlaid by `OKRSYNC_*` env: env wins."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: the environment overrides the file (passed as init kwargs).
        return (env_settings, init_settings)


class _Layered(_EnvFirst):
    """The file's tables overlaid by `OKRSYNC_*` env (env wins). Sources stay raw here: their
    model depends on `kind`, which only the connector registry knows."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True,
        enable_decoding=False,  # lists from env are `a,b` or JSON: see _Section._from_text
    )

    store: StoreSection = StoreSection()
    okrs: OkrsSection = OkrsSection()
    labels: LabelsSection = LabelsSection()
    sync: SyncSection = SyncSection()
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = Field(default_factory=dict)
    smtp: SmtpSection = SmtpSection()
    report: ReportSection = ReportSection()
    daemon: DaemonSection = DaemonSection()
    web: WebSection = WebSection()
    suggest: SuggestSection = SuggestSection()
    people: dict[str, Person] = Field(default_factory=dict)
    rhythm: RhythmSection = RhythmSection()
    escalation: EscalationSection = EscalationSection()
    scorecard: ScorecardSection = ScorecardSection()
    review: ReviewSection = ReviewSection()
    chat: ChatSection = ChatSection()

    def rhythm_config(self) -> RhythmConfig:
        return RhythmConfig(people=dict(self.people), cadence=self.rhythm,
                            escalation=self.escalation, scorecard=self.scorecard,
                            review=self.review, chat=self.chat)


@dataclass(frozen=True)
class Config:
    """The validated configuration. Paths are absolute; `sources` are connector models."""

    path: Path
    store_path: Path
    catalog_path: Path
    rules_path: Path
    labels: LabelsSection
    sync: SyncSection
    sources: dict[str, SourceConfig]
    teams: dict[str, Team]
    smtp: SmtpSection
    report: ReportSection
    daemon: DaemonSection
    store_keep_days: int = 180
    store_busy_timeout: float = BUSY_TIMEOUT
    store_url: str | None = None
    suggest: SuggestSection = field(default_factory=SuggestSection)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    web: WebSection = field(default_factory=WebSection)
    rhythm: RhythmConfig = field(default_factory=RhythmConfig)

    def team_of(self, project: str) -> Team | None:
        """The team owning a project (`core.teams.team_of`)."""
        return team_of(project, self.teams)

    @property
    def store_target(self) -> Path | str:
        """What `Store.open` takes: the PostgreSQL URL when one is set, else the file."""
        return self.store_url or self.store_path

    def masked(self) -> dict[str, Any]:
        """The config as JSON-able data, every secret shown as `"***"` (empty ones as "")."""
        return {
            "path": str(self.path),
            "store": {"path": str(self.store_path), "url": self.store_url,
                      "keep_days": self.store_keep_days,
                      "busy_timeout": self.store_busy_timeout},
            "okrs": {"catalog": str(self.catalog_path), "rules": str(self.rules_path)},
            "labels": _mask(self.labels),
            "sync": _mask(self.sync),
            "sources": {name: _mask(src) for name, src in self.sources.items()},
            "teams": {name: _mask(team) for name, team in self.teams.items()},
            "smtp": _mask(self.smtp),
            "report": _mask(self.report),
            "daemon": _mask(self.daemon),
            "web": _mask(self.web),
            "suggest": _mask(self.suggest),
            "people": _mask(self.rhythm.people),
            **{k: _mask(getattr(self.rhythm, a)) for k, a in _RHYTHM_SECTIONS},
        }


_RHYTHM_SECTIONS = (("rhythm", "cadence"), ("escalation", "escalation"),
                    ("scorecard", "scorecard"), ("review", "review"), ("chat", "chat"))


def _mask(value: Any, name: str = "") -> Any:
    if isinstance(value, SecretStr):
        return "***" if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        return {k: _mask(getattr(value, k), k) for k in type(value).model_fields}
    if isinstance(value, Mapping):
        return {str(k): _mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(v, name) for v in value]
    if isinstance(value, str) and value and _SECRET_NAMES.search(name):
        return "***"  # a secret a connector forgot to declare as SecretStr
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def find_config(path: Path | None) -> Path:
    """`--config PATH`, else `$OKRSYNC_CONFIG`, else `./okrsync.toml`; it must exist."""
    if path is not None:
        candidate, origin = Path(path), "--config"
    elif os.environ.get(CONFIG_ENV):
        candidate, origin = Path(os.environ[CONFIG_ENV]), f"${CONFIG_ENV}"
    else:
        candidate, origin = Path.cwd() / DEFAULT_NAME, "the working directory"
    candidate = candidate.expanduser()
    if not candidate.is_file():
        raise ConfigError(
            f"no config file at {candidate} (from {origin}; lookup order: --config PATH, "
            f"${CONFIG_ENV}, ./{DEFAULT_NAME})",
            file=str(candidate),
            hint="create one with `okrsync init DIR` and pass --config DIR/okrsync.toml",
        )
    return candidate.resolve()


def load_config(path: Path | None = None, *, credentials: bool = True) -> Config:
    """Find, read, overlay with env and validate the config; raise one ConfigError listing
    every problem.

    `credentials=False` is for commands that never connect (`status`, `report`, `checkin`,
    `explain`, `runs`, `forget`, `serve`): a source's missing token is then no problem; its other
    settings still are. A Config loaded so must not be used to build connectors.
    """
    file = find_config(path)
    data, text = read_toml(file, what="config file")
    environ = dict(os.environ)
    problems: list[Problem] = []
    warnings: list[str] = []
    env_errors, env_warnings = unknown_variables(environ, _Layered.model_fields)
    problems += [Problem(name, message) for name, message in env_errors]
    warnings += env_warnings
    try:
        layered: _Layered | None = _Layered(**data)
    except ValidationError as exc:
        layered = None
        problems += problems_of(exc, _Layered, text, environ=environ)
    store_table = data.get("store")
    if isinstance(store_table, dict) and "password" in store_table:
        problems.append(Problem("store.password", "a password does not belong in the file: "
                                "set OKRSYNC_STORE__PASSWORD in the environment instead"))
    raw = _RawTables(**{k: v for k, v in data.items() if k in ("sources", "teams")})
    managed = layered.labels.managed_prefix if layered else LabelsSection().managed_prefix
    sources = _build_sources(_merge_env_sources(raw.sources), text, managed, environ,
                             problems, credentials=credentials)
    teams = _build_teams(raw.teams, text, environ, problems)
    if layered is not None:
        problems += [problem(loc, msg, text, environ)
                     for loc, msg in team_references(layered.people, set(teams))]
    if problems:
        raise config_error(problems, file)
    assert layered is not None
    base = file.parent
    if not sources:
        warnings.append("no [sources.*] configured: sync will have nothing to pull")
    return Config(
        path=file,
        store_path=_resolve(base, layered.store.path),
        store_keep_days=layered.store.keep_days,
        store_busy_timeout=layered.store.busy_timeout,
        store_url=layered.store.url,
        catalog_path=_resolve(base, layered.okrs.catalog),
        rules_path=_resolve(base, layered.okrs.rules),
        labels=layered.labels,
        sync=layered.sync,
        sources=sources,
        teams=teams,
        smtp=layered.smtp,
        report=layered.report,
        daemon=layered.daemon,
        suggest=layered.suggest,
        warnings=tuple(warnings),
        web=layered.web,
        rhythm=layered.rhythm_config(),
    )


class _RawTables(_EnvFirst):
    """Just the per-name tables, file overlaid by env: read on their own so their problems are
    reported even when another section is invalid."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore", enable_decoding=False
    )

    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _resolve(base: Path, value: Path) -> Path:
    value = value.expanduser()
    return value if value.is_absolute() else (base / value).resolve()


def _merge_env_sources(raw: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Env variable names are case-insensitive, so `OKRSYNC_SOURCES__JIRAPROD__TOKEN` arrives
    as source `jiraprod`; fold such a kind-less fragment into the file's `JiraProd` table."""
    merged = {name: dict(table) for name, table in raw.items()}
    for name, table in raw.items():
        if "kind" in table:
            continue
        twins = [n for n in merged if n != name and n.casefold() == name.casefold()]
        if len(twins) == 1:
            merged[twins[0]].update(table)
            del merged[name]
    return merged


def _build_sources(
    raw: dict[str, dict[str, Any]],
    text: str,
    managed_prefix: str,
    environ: dict[str, str],
    problems: list[Problem],
    *,
    credentials: bool = True,
) -> dict[str, SourceConfig]:
    registry = load_all()
    known = ", ".join(sorted(registry)) or "none installed"
    out: dict[str, SourceConfig] = {}
    for name, table in raw.items():
        if not isinstance(table, dict):
            problems.append(problem(("sources", name), "must be a table", text, environ))
            continue
        kind = table.get("kind")
        if not isinstance(kind, str) or not kind:
            problems.append(problem(("sources", name, "kind"),
                                    f"source {name!r} has no kind; known kinds: {known}",
                                    text, environ))
            continue
        spec = registry.get(kind)
        if spec is None:
            problems.append(problem(("sources", name, "kind"),
                                    f"unknown source kind {kind!r}; known kinds: {known}",
                                    text, environ))
            continue
        values = {**table, "name": name}
        if not credentials:
            values.update(spec.config_model.credential_placeholders(table))
        if "managed_label_prefix" in spec.config_model.model_fields:
            values.setdefault("managed_label_prefix", managed_prefix)
        try:
            out[name] = spec.config_model.model_validate(values)
        except ValidationError as exc:
            problems += problems_of(exc, spec.config_model, text, ("sources", name), environ)
    return out


def _build_teams(
    raw: dict[str, dict[str, Any]], text: str, environ: dict[str, str], problems: list[Problem]
) -> dict[str, Team]:
    out: dict[str, Team] = {}
    for name, table in raw.items():
        try:
            out[name] = Team.model_validate({**table, "name": name})
        except ValidationError as exc:
            problems += problems_of(exc, Team, text, ("teams", name), environ)
    return out
