"""`okrsync doctor`: check every configured source is reachable, authenticated and allowed to
do what a sync needs — without changing anything remote. Works for any connector kind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.errors import ConfigError, ExitCode, OkrsyncError
from core.model import DoctorCheck
from syncer.cli import app, exit_with

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
)
DOCTOR_MAX_RETRIES = 1


async def check_source(source: Any) -> list[DoctorCheck]:
    """Run one source's read-only checks; a connector that cannot even start is one failed
    check, so one broken source never hides the others."""
    from connectors.base import create

    try:
        # Fail fast on an unreachable host: a diagnosis should not sit in long retries.
        quick = source.model_copy(
            update={"max_retries": min(source.max_retries, DOCTOR_MAX_RETRIES)}
        )
        conn = create(quick)
    except KeyError:
        return [DoctorCheck("connector", False, f"unknown source kind {source.kind!r}")]
    except (OkrsyncError, ValueError, TypeError) as exc:
        return [DoctorCheck("connector", False, str(exc))]
    try:
        return list(await conn.doctor())
    except OkrsyncError as exc:
        return [DoctorCheck("connector", False, str(exc))]
    finally:
        await conn.aclose()


async def check_all(sources: dict[str, Any]) -> dict[str, list[DoctorCheck]]:
    """Check the sources concurrently; results keep the config's order."""
    names = list(sources)
    results = await asyncio.gather(*(check_source(sources[n]) for n in names))
    return dict(zip(names, results, strict=True))


def render(console: Console, results: dict[str, list[DoctorCheck]]) -> None:
    table = Table(title="okrsync doctor")
    table.add_column("source")
    table.add_column("check")
    table.add_column("ok")
    table.add_column("detail", overflow="fold")
    for name, checks in results.items():
        for check in checks:
            mark = "[green]ok[/]" if check.ok else "[red]FAILED[/]"
            table.add_row(escape(name), escape(check.name), mark, escape(check.detail))
    console.print(table)


def to_json(results: dict[str, list[DoctorCheck]]) -> dict[str, Any]:
    return {
        "ok": all(c.ok for checks in results.values() for c in checks),
        "sources": {
            name: [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]
            for name, checks in results.items()
        },
    }


@app.command()
def doctor(
    config: Path | None = CONFIG_OPTION,
    source: list[str] | None = typer.Option(
        None, "--source", "-s", help="Only this source (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check each source: reachable, authenticated as whom, can browse its scope, can edit
    labels and links, and what server it is. Read-only: nothing is written.

    Exit codes: 0 every check passed, 1 a check failed, 2 invalid config.
    """
    from syncer.config import load_config

    cfg = load_config(config)
    selected: dict[str, Any] = {}
    for name in source or [n for n, s in cfg.sources.items() if s.enabled]:
        if name not in cfg.sources:
            known = ", ".join(sorted(cfg.sources)) or "none"
            raise ConfigError(
                f"no source named {name!r} (configured: {known})",
                file=str(cfg.path), key=f"sources.{name}",
            )
        selected[name] = cfg.sources[name]
    if not selected:
        raise ConfigError("no sources configured", file=str(cfg.path), key="sources")
    results = asyncio.run(check_all(selected))
    report = to_json(results)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        render(Console(highlight=False), results)
    if not report["ok"]:
        exit_with(ExitCode.FAILURES)
