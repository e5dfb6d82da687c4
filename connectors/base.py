"""The connector protocol and the registry of trackers.

A connector is one module in `connectors/` that defines a config model (a `SourceConfig`
subclass with a `kind` literal) and a class implementing `Connector`, then calls `register`.
`load_all()` imports every module of the package, so adding a tracker means adding one module
(and its sandbox) and touching nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from core.config_env import env_list, is_list_field
from core.config_problems import secret_fields
from core.model import ApplyResult, DoctorCheck, Page, RequestStats, WriteBack
from core.redact import clean_secret

_NOT_CONNECTORS = {"base", "http", "text", "sandbox"}


class SourceConfig(BaseModel):
    """Settings every source has. Connector modules subclass this with their own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    kind: str
    enabled: bool = True
    max_concurrency: int = Field(default=8, ge=1, le=64)
    max_rate_limit_wait: float = Field(default=300.0, ge=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    timeout: float = Field(default=30.0, gt=0)
    verify_tls: bool = True
    min_epics_ratio: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="safety stop: a pull returning fewer than this share of the epics the store "
        "holds for the source removes nothing and flags nothing untraceable",
    )
    managed_label_prefix: str = "goal:"
    pacing: bool = Field(
        default=True,
        description="stay under the tracker's published limits (false: send as fast as "
        "max_concurrency allows and only react to the server's rate-limit answers)",
    )
    link_url_template: str = ""

    @field_validator("*", mode="before")
    @classmethod
    def _from_text(cls, value: Any, info: ValidationInfo) -> Any:
        """A list may come from env as `a,b` or JSON; a secret is stripped and checked (a
        token read from a file ends in a newline no HTTP header may carry)."""
        name = info.field_name or ""
        field = cls.model_fields.get(name)
        if field is not None and is_list_field(field.annotation):
            return env_list(value)
        if name in secret_fields(cls):
            return clean_secret(value, multiline=name == "private_key")
        return value

    @classmethod
    def credential_placeholders(cls, table: Mapping[str, Any]) -> dict[str, Any]:
        """Stand-ins for the credentials `table` lacks, for commands that never connect
        (`status`, `report`, `checkin`...): they read the source's other settings only."""
        return {}


@dataclass(frozen=True)
class PullOptions:
    """How to pull: `full` ignores the cursor; the hypothesis pattern comes from config."""

    full: bool = False
    hypothesis_pattern: str | None = None


class Connector(Protocol):
    """One configured source. Pull epics changed since a cursor; apply one write-back."""

    name: str

    def pull(self, cursor: str | None, options: PullOptions) -> AsyncIterator[Page]:
        """Stream pages of epics changed since `cursor` (all epics when None or full)."""
        ...

    async def apply(self, writeback: WriteBack, *, fresh: bool = False) -> ApplyResult:
        """Apply one write-back idempotently; raise a RemoteError subclass on failure.

        `fresh` means the write-back was planned in this run, after this run's pull, and was
        never tried before, so no earlier attempt can have half-applied it: the connector may
        trust what its pull saw instead of reading the ticket again before writing. When it
        is False, read before writing.
        """
        ...

    async def doctor(self) -> list[DoctorCheck]:
        """Check reachability, identity and permissions without changing anything."""
        ...

    def stats(self) -> RequestStats:
        """Request accounting since the connector was created."""
        ...

    async def aclose(self) -> None: ...


ConnectorFactory = Callable[[SourceConfig], Connector]


@dataclass(frozen=True)
class ConnectorSpec:
    """A registered tracker kind. `sandbox` names the module whose `start` runs its fake
    tracker (see `sandbox.trackers`); a string, so connectors never import it."""

    kind: str
    config_model: type[SourceConfig]
    factory: ConnectorFactory
    sandbox: str = ""


_REGISTRY: dict[str, ConnectorSpec] = {}


def register(kind: str, config_model: type[SourceConfig], factory: ConnectorFactory, *,
             sandbox: str = "") -> None:
    _REGISTRY[kind] = ConnectorSpec(kind, config_model, factory, sandbox)


def load_all() -> dict[str, ConnectorSpec]:
    """Import every connector module once and return the registry, keyed by kind."""
    import connectors

    for info in pkgutil.iter_modules(connectors.__path__):
        if info.name not in _NOT_CONNECTORS and not info.name.startswith("_"):
            importlib.import_module(f"connectors.{info.name}")
    return dict(_REGISTRY)


def create(config: SourceConfig) -> Connector:
    spec = load_all().get(config.kind)
    if spec is None:
        raise KeyError(config.kind)
    return spec.factory(config)
