"""`okrsync measure`: fetch key-result values from the data sources declared in okrs.toml."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from core.errors import UserError
from syncer.cli import app, exit_with


@app.command()
def measure(
    kr: str | None = typer.Option(None, "--kr", metavar="ID", help="Measure only this KR."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Fetch and show; store nothing."),
    backfill: int | None = typer.Option(
        None, "--backfill", metavar="WEEKS",
        help="Also fetch a weekly point (Monday 00:00 UTC) for each of the last WEEKS weeks, "
             "where the source can answer for the past. Default: 12 on a KR's first run."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print what was measured as JSON."),
) -> None:
    """Measure key results from their data sources (`[objective.key_result.source]` in
    okrs.toml: jira_count, github_count, sql, prometheus, http_json, csv; see docs/measure.md).

    Each value is stored with its provenance and never replaces a person's check-in. Exit
    codes: 0 every source answered; 1 some source failed (named, nothing stored for its KR);
    2 bad config or input.
    """
    from syncer.config import load_config
    from syncer.measure.run import run_measure

    if backfill is not None and not 0 <= backfill <= 520:
        raise UserError(f"--backfill must be between 0 and 520 weeks, not {backfill}",
                        key="--backfill")
    from syncer.catalog import load_catalog
    from syncer.measure.run import uses_trackers

    cfg = load_config(config, credentials=False)
    if uses_trackers(load_catalog(cfg.catalog_path), kr):
        cfg = load_config(config)  # jira_count / github_count connect with a source's token
    results = run_measure(cfg, kr_id=kr, dry_run=dry_run, backfill_weeks=backfill)
    failed = [r for r in results if r.error]
    if as_json:
        typer.echo(json.dumps({"dry_run": dry_run, "krs": [r.to_json() for r in results]},
                              indent=2))
    elif not results:
        typer.echo("no key result has a data source; see docs/measure.md")
    else:
        verb = "would add" if dry_run else "added"
        for r in results:
            if r.error:
                typer.echo(f"{r.kr_id:<12} {r.kind:<13} FAILED: {r.error}", err=True)
            else:
                latest = f", latest {r.values[-1].value:g}" if r.values else ""
                typer.echo(f"{r.kr_id:<12} {r.kind:<13} {verb} {r.added} of {r.asked} "
                           f"asked{latest}")
    if failed:
        exit_with(1)
