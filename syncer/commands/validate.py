"""`okrsync validate`: check config, catalog and rules together, as a deploy gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from core.errors import UserError
from syncer.cli import app, exit_with

CONFIG_HELP = "okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _error_json(exc: UserError) -> dict[str, Any]:
    return {
        "ok": False,
        "error": {
            "message": exc.message,
            "file": exc.file,
            "key": exc.key,
            "line": exc.line,
            "problems": exc.problems,
            "hint": exc.hint,
        },
    }


@app.command()
def validate(
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Also print the effective config (secrets as ***)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check `okrsync.toml` (with `OKRSYNC_*` env applied), each source's settings, the OKR
    catalog and the rules against it — everything a sync needs, without touching the network.

    Exit 0 when valid; exit 2 with the file, key and line of the first problem otherwise.
    `--verbose` prints the effective configuration with every secret shown as `***`.
    """
    from syncer.config import load_config
    from syncer.inputs import resolve_inputs

    try:
        cfg = load_config(config)
        inputs = resolve_inputs(cfg)
        catalog, rules = inputs.catalog, inputs.rules
    except UserError as exc:
        if not as_json:
            raise
        typer.echo(json.dumps(_error_json(exc), indent=2))
        exit_with(exc.exit_code)

    from datetime import UTC, datetime

    from core.cycles import cycle_notes

    warnings = list(cfg.warnings) + cycle_notes(catalog.cycles, datetime.now(UTC).date())
    ruled = {r.kr_id for r in rules.rules}
    unruled = [kr.id for kr in catalog.key_results
               if kr.id not in ruled and catalog.is_current(kr.id)]
    cycles = ([c.id for c in sorted(catalog.cycles, key=lambda c: c.start)] if catalog.cycles
              else sorted({o.cycle for o in catalog.objectives}))
    result: dict[str, Any] = {
        "ok": True,
        "config": str(cfg.path),
        "sources": {name: src.kind for name, src in cfg.sources.items()},
        "teams": sorted(cfg.teams),
        "catalog": {
            "path": str(cfg.catalog_path),
            "cycles": cycles,
            "current_cycle": catalog.current_cycle,
            "objectives": len(catalog.objectives),
            "key_results": len(catalog.key_results),
        },
        "rules": {
            "path": str(cfg.rules_path),
            "count": len(rules.rules),
            "krs_without_rule": unruled,
        },
        "warnings": warnings,
    }
    if verbose:
        result["effective_config"] = cfg.masked()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    sources = ", ".join(f"{n} [{k}]" for n, k in result["sources"].items()) or "none"
    typer.echo(f"ok  config   {cfg.path}  (sources: {sources}; teams: {len(cfg.teams)})")
    typer.echo(
        f"ok  catalog  {cfg.catalog_path}  ({_n(len(catalog.objectives), 'objective')}, "
        f"{_n(len(catalog.key_results), 'key result')}; cycles: {', '.join(cycles)}"
        + (f", current {catalog.current_cycle})" if catalog.current_cycle else ")")
    )
    typer.echo(f"ok  rules    {cfg.rules_path}  ({_n(len(rules.rules), 'rule')})")
    if unruled:
        typer.echo(f"note: key results only linked by explicit labels: {', '.join(unruled)}")
    for warning in warnings:
        typer.echo(f"warning: {warning}")
    if verbose:
        typer.echo("effective config (secrets masked):")
        typer.echo(json.dumps(result["effective_config"], indent=2))
