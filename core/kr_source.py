"""The data source a key result is measured from: `[objective.key_result.source]` in okrs.toml.

Each kind is a small validated model (docs/measure.md has an example of each). A source that
can answer for a past time (its query uses `{at}`, or it holds history: CSV, Prometheus) can
backfill weekly points. `digest()` names the query (never its credentials), so values measured
by an edited query are a new series rather than a silent mix of two.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

AT = "{at}"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = Field(default=30.0, gt=0)

    @property
    def can_backfill(self) -> bool:
        return False

    def identity(self) -> dict[str, Any]:
        """What the digest covers: the query, never the credentials."""
        return self.model_dump(exclude={"timeout"})

    def digest(self) -> str:
        raw = json.dumps(self.identity(), sort_keys=True, default=str).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


class JiraCount(_Source):
    """A JQL query's count, through a configured Jira source's credentials."""

    kind: Literal["jira_count"]
    source: str = Field(min_length=1, description="the [sources.NAME] table to ask")
    jql: str = Field(min_length=1)

    @property
    def can_backfill(self) -> bool:
        return AT in self.jql


class GitHubCount(_Source):
    """A GitHub issue search's `total_count`, through a configured GitHub source."""

    kind: Literal["github_count"]
    source: str = Field(min_length=1)
    query: str = Field(min_length=1)

    @property
    def can_backfill(self) -> bool:
        return AT in self.query


class Sql(_Source):
    """A query returning one number, on any SQLAlchemy URL (its driver installed)."""

    kind: Literal["sql"]
    url: str = ""
    url_env: str = Field(default="", pattern=rf"{ENV_NAME}|^$")
    query: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_url(self) -> Sql:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("set exactly one of `url` or `url_env` (an environment variable "
                             "holding the URL, so its password stays out of okrs.toml)")
        return self

    @property
    def can_backfill(self) -> bool:
        return AT in self.query

    def identity(self) -> dict[str, Any]:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        where: str = f"env:{self.url_env}"
        if self.url:
            try:
                where = make_url(self.url).render_as_string(hide_password=True)
            except ArgumentError:
                where = "?"
        return {"kind": self.kind, "where": where, "query": self.query}


class Prometheus(_Source):
    """A PromQL instant query (a range query for backfill)."""

    kind: Literal["prometheus"]
    url: str = Field(pattern=r"^https?://")
    query: str = Field(min_length=1)
    token_env: str = Field(default="", pattern=rf"{ENV_NAME}|^$")

    @property
    def can_backfill(self) -> bool:
        return True


class HttpJson(_Source):
    """A JSON document's number at a dotted path (`data.activation`, `items.0.value`)."""

    kind: Literal["http_json"]
    url: str = Field(pattern=r"^https?://")
    selector: str = Field(min_length=1)
    token_env: str = Field(default="", pattern=rf"{ENV_NAME}|^$")


class Csv(_Source):
    """A CSV file or URL (e.g. a published spreadsheet) with a date and a value column."""

    kind: Literal["csv"]
    path: str = ""
    url: str = Field(default="", pattern=r"^(https?://.*)?$")
    date_column: str = "date"
    value_column: str = "value"

    @model_validator(mode="after")
    def _one_place(self) -> Csv:
        if bool(self.path) == bool(self.url):
            raise ValueError("set exactly one of `path` or `url`")
        return self

    @field_validator("date_column", "value_column")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a column")
        return value

    @property
    def can_backfill(self) -> bool:
        return True


KrSource = Annotated[JiraCount | GitHubCount | Sql | Prometheus | HttpJson | Csv,
                     Field(discriminator="kind")]
KINDS = ("jira_count", "github_count", "sql", "prometheus", "http_json", "csv")
_ADAPTER: TypeAdapter[KrSource] = TypeAdapter(KrSource)


def parse_source(raw: Any) -> KrSource:
    """Validate one `source` table; raises pydantic's ValidationError."""
    return _ADAPTER.validate_python(raw)
