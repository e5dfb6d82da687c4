"""Asking a key result's data source for its value at given times (the imperative edge).

`fetch_values(source, times, ctx)` returns one finite number per requested time or raises
`SourceFailed` with a message fit for the user: it names what failed, never a credential
(URLs are shown with the password hidden, and every secret the source uses is scrubbed from
the message in its raw, URL-encoded and escaped forms). HTTP goes through the shared
`HttpClient`, so 5xx and dropped connections are retried within limits like any connector.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

from connectors.http import HttpClient, Sleep
from core.errors import OkrsyncError, RemoteError
from core.kr_source import (
    AT,
    Csv,
    GitHubCount,
    HttpJson,
    JiraCount,
    KrSource,
    Prometheus,
    Sql,
)


class SourceFailed(Exception):
    """A source could not give a number; the message is safe to print and store."""


class Counter(Protocol):
    async def count(self, query: str) -> int: ...

    async def aclose(self) -> None: ...


@dataclass
class FetchContext:
    """What fetching needs from outside: the catalog's folder (relative CSV paths), the
    environment (tokens, URLs), the configured tracker sources, and the retry sleeper."""

    base_dir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    trackers: Mapping[str, Any] = field(default_factory=dict)
    sleep: Sleep = asyncio.sleep
    max_retries: int = 3


def secrets_of(source: KrSource, environ: Mapping[str, str]) -> list[str]:
    """Every secret a source uses, in each form it could appear in a message."""
    raw: list[str] = []
    if isinstance(source, Sql):
        url = environ.get(source.url_env, "") if source.url_env else source.url
        try:
            from sqlalchemy.engine import make_url

            password = make_url(url).password
        except Exception:  # an unparsable URL has no password to find
            password = None
        if password:
            raw.append(str(password))
        if source.url_env and url:
            raw.append(url)
    token_env = getattr(source, "token_env", "")
    if token_env and environ.get(token_env):
        raw.append(environ[token_env])
    forms: list[str] = []
    for secret in raw:
        forms += [secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
                  repr(secret)[1:-1]]
    return sorted({f for f in forms if len(f) >= 3}, key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or value is None:
        raise SourceFailed(f"{what} is not a number ({json.dumps(value)})")
    try:
        number = float(value)
    except (TypeError, ValueError):
        shown = str(value)[:40]
        raise SourceFailed(f"{what} is not a number ({shown!r})") from None
    if not math.isfinite(number):
        raise SourceFailed(f"{what} is not a finite number ({value})")
    return number


async def fetch_values(source: KrSource, times: Sequence[datetime],
                       ctx: FetchContext) -> dict[datetime, float]:
    """The source's value at each of `times` (each a moment the source can answer for)."""
    secrets = secrets_of(source, ctx.environ)
    try:
        return await _fetch(source, times, ctx)
    except SourceFailed as exc:
        raise SourceFailed(scrub(str(exc), secrets)) from None
    except OkrsyncError as exc:
        raise SourceFailed(scrub(exc.message, secrets)) from None
    except Exception as exc:  # a source's driver may raise anything
        raise SourceFailed(scrub(f"{type(exc).__name__}: {exc}", secrets)) from None


async def _fetch(source: KrSource, times: Sequence[datetime],
                 ctx: FetchContext) -> dict[datetime, float]:
    if isinstance(source, Sql):
        return await asyncio.to_thread(_sql, source, times, ctx)
    if isinstance(source, JiraCount | GitHubCount):
        return await _count(source, times, ctx)
    if isinstance(source, Prometheus):
        return await _prometheus(source, times, ctx)
    if isinstance(source, HttpJson):
        return await _http_json(source, times, ctx)
    return await _csv(source, times, ctx)


def _sql(source: Sql, times: Sequence[datetime], ctx: FetchContext) -> dict[datetime, float]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    url = ctx.environ.get(source.url_env, "") if source.url_env else source.url
    if not url:
        raise SourceFailed(f"environment variable {source.url_env} is not set")
    query = text(source.query.replace(AT, ":at"))
    try:
        engine = create_engine(url, pool_pre_ping=False,
                               connect_args=_connect_timeout(url, source.timeout))
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise SourceFailed(f"cannot use the database URL: {type(exc).__name__}: {exc}") from None
    out: dict[datetime, float] = {}
    try:
        with engine.connect() as conn:
            for at in times:
                params = {"at": at.replace(tzinfo=None)} if AT in source.query else {}
                rows = conn.execute(query, params).fetchall()
                if not rows or not rows[0]:
                    raise SourceFailed(f"the query returned no rows for {at:%Y-%m-%d %H:%M}")
                out[at] = _number(rows[0][0], "the query's first column")
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SourceFailed(f"database error: {detail}") from None
    finally:
        engine.dispose()
    return out


def _connect_timeout(url: str, timeout: float) -> dict[str, Any]:
    if url.startswith(("postgresql", "postgres")):
        return {"connect_timeout": max(1, int(timeout))}
    if url.startswith("sqlite"):
        return {"timeout": timeout}
    return {}


def _tracker_time(source: JiraCount | GitHubCount, at: datetime) -> str:
    if isinstance(source, JiraCount):
        return f'"{at:%Y-%m-%d %H:%M}"'
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _count(source: JiraCount | GitHubCount, times: Sequence[datetime],
                 ctx: FetchContext) -> dict[datetime, float]:
    from connectors.base import create

    config = ctx.trackers.get(source.source)
    if config is None:
        known = ", ".join(sorted(ctx.trackers)) or "none"
        raise SourceFailed(f"no [sources.{source.source}] in okrsync.toml (configured: {known})")
    wanted = "jira" if isinstance(source, JiraCount) else "github"
    if getattr(config, "kind", "") != wanted:
        raise SourceFailed(f"[sources.{source.source}] is a {config.kind} source, not {wanted}")
    query = source.jql if isinstance(source, JiraCount) else source.query
    connector: Counter = create(config)  # type: ignore[assignment]
    try:
        out: dict[datetime, float] = {}
        for at in times:
            try:
                out[at] = float(await connector.count(query.replace(AT, _tracker_time(source,
                                                                                       at))))
            except RemoteError as exc:
                raise SourceFailed(exc.message) from None
        return out
    finally:
        await connector.aclose()


def _client(url: str, token_env: str, ctx: FetchContext, timeout: float) -> HttpClient:
    headers = {"Accept": "application/json, text/csv;q=0.9, */*;q=0.5"}
    if token_env:
        token = ctx.environ.get(token_env, "")
        if not token:
            raise SourceFailed(f"environment variable {token_env} is not set")
        headers["Authorization"] = f"Bearer {token}"
    return HttpClient(base_url=url, source="measure", headers=headers, max_concurrency=2,
                      timeout=timeout, max_retries=ctx.max_retries, max_rate_limit_wait=60,
                      sleep=ctx.sleep)


def _json_of(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise SourceFailed(f"{what} did not answer JSON") from None


async def _http_json(source: HttpJson, times: Sequence[datetime],
                     ctx: FetchContext) -> dict[datetime, float]:
    async with _client(source.url, source.token_env, ctx, source.timeout) as http:
        response = await http.request("GET", source.url, endpoint="GET http_json")
    data = _json_of(response.text, source.url)
    value = select(data, source.selector)
    return dict.fromkeys(times, _number(value, f"`{source.selector}`"))


def select(data: Any, selector: str) -> Any:
    """The value at a dotted path; list items by index (`items.0.value`)."""
    here = data
    for part in selector.split("."):
        if isinstance(here, dict) and part in here:
            here = here[part]
        elif isinstance(here, list) and part.lstrip("-").isdigit() and -len(here) <= int(
                part) < len(here):
            here = here[int(part)]
        else:
            raise SourceFailed(f"the answer has no `{selector}` (stopped at `{part}`)")
    return here


async def _prometheus(source: Prometheus, times: Sequence[datetime],
                      ctx: FetchContext) -> dict[datetime, float]:
    """Weekly backfill points (Monday 00:00 UTC) in one range query with a one-week step;
    any other moment (the current hour) as an instant query at that time."""
    base = source.url.rstrip("/")
    weekly = sorted(t for t in times if (t.weekday(), t.hour, t.minute, t.second) == (0, 0, 0, 0))
    out: dict[datetime, float] = {}
    async with _client(base, source.token_env, ctx, source.timeout) as http:
        if len(weekly) > 1:
            response = await http.request(
                "GET", f"{base}/api/v1/query_range", endpoint="GET /api/v1/query_range",
                params={"query": source.query, "start": weekly[0].timestamp(),
                        "end": weekly[-1].timestamp(), "step": f"{7 * 86400}s"})
            result = _prom_result(response.text)
            values = result[0].get("values", []) if isinstance(result, list) and result else []
            points = {round(float(t)): v for t, v in values}
            for at in weekly:
                if round(at.timestamp()) in points:
                    out[at] = _number(points[round(at.timestamp())], "the query's value")
        for at in times:
            if len(weekly) > 1 and at in weekly:
                continue
            response = await http.request(
                "GET", f"{base}/api/v1/query", endpoint="GET /api/v1/query",
                params={"query": source.query, "time": at.timestamp()})
            result = _prom_result(response.text)
            if not isinstance(result, list) or not result:
                raise SourceFailed(f"the query returned no series at {at:%Y-%m-%d %H:%M}")
            out[at] = _number(result[0]["value"][1], "the query's value")
    return out


def _prom_result(text: str) -> Any:
    data = _json_of(text, "Prometheus")
    if not isinstance(data, dict) or data.get("status") != "success":
        error = data.get("error") if isinstance(data, dict) else None
        raise SourceFailed(f"Prometheus refused the query: {error or 'no status'}")
    return (data.get("data") or {}).get("result")


async def _csv(source: Csv, times: Sequence[datetime],
               ctx: FetchContext) -> dict[datetime, float]:
    if source.url:
        async with _client(source.url, "", ctx, source.timeout) as http:
            text = (await http.request("GET", source.url, endpoint="GET csv")).text
        where = source.url
    else:
        path = Path(source.path)
        path = path if path.is_absolute() else ctx.base_dir / path
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise SourceFailed(f"cannot read {path}: {exc.strerror}") from None
        where = str(path)
    history = csv_history(text, source, where)
    out: dict[datetime, float] = {}
    for at in times:
        known = [v for d, v in history if d <= at]
        if known:
            out[at] = known[-1]
    return out


def csv_history(text: str, source: Csv, where: str) -> list[tuple[datetime, float]]:
    """(date, value) rows of a CSV, oldest first; a bad row names its line."""
    reader = csv.DictReader(io.StringIO(text))
    for column in (source.date_column, source.value_column):
        if column not in (reader.fieldnames or []):
            raise SourceFailed(f"{where} has no column {column!r}")
    rows: list[tuple[datetime, float]] = []
    for line, row in enumerate(reader, start=2):
        raw_date = (row.get(source.date_column) or "").strip()
        try:
            day = datetime.fromisoformat(raw_date)
        except ValueError:
            raise SourceFailed(f"{where}:{line}: {raw_date!r} is not an ISO date") from None
        day = day.replace(tzinfo=UTC) if day.tzinfo is None else day.astimezone(UTC)
        rows.append((day, _number(row.get(source.value_column), f"{where}:{line}: value")))
    return sorted(rows)
