"""`okrsync review weekly|monthly|quarterly` and `okrsync remind`: the review rhythm."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from core.clock import SYSTEM
from core.errors import ExitCode, UserError
from syncer.cli import app
from syncer.rhythm.render import ReviewFormat
from syncer.rhythm.review import ReviewKind

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
)
AT_OPTION = typer.Option(
    None, "--at", help="As of this ISO date/time (default now); for a past period.")


def _now(at: str | None) -> datetime:
    now = SYSTEM.now()
    if not at:
        return now
    try:
        when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--at {at!r} is not an ISO date/time (e.g. 2026-11-02)",
                        key="--at") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when > now:
        raise UserError(f"--at {at} is in the future", key="--at")
    return when


def _team(config_teams: dict[str, object], team: str | None, path: Path) -> None:
    if team is not None and team not in config_teams:
        known = ", ".join(sorted(config_teams)) or "none configured"
        raise UserError(f"unknown team {team!r}", key="--team",
                        hint=f"teams in {path.name}: {known}")


@app.command("review")
def review_command(
    kind: ReviewKind = typer.Argument(..., help="weekly (per team), monthly, quarterly"),
    team: str | None = typer.Option(None, "--team", help="Only this team (a teams.NAME)."),
    fmt: ReviewFormat = typer.Option(ReviewFormat.TEXT, "--format", "-f",
                                     help="text, json, html or markdown"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write here, not stdout"),
    email: bool = typer.Option(False, "--email", help="Mail it (and post the chat summary) "
                               "to its audiences, once per period."),
    force: bool = typer.Option(False, "--force", help="with --email: send again this period"),
    at: str | None = AT_OPTION,
    config_path: Path | None = CONFIG_OPTION,
) -> None:
    """A review of the rhythm: weekly per team (key results, confidence, pace, blockers from
    check-in notes, open escalations), monthly for leadership (confidence trend per
    objective, teams lagging, escalations, traceable trend), quarterly (bet verdicts and hit
    rate, KR outcomes, what changed). `--format json` carries `scorecard` and `escalations`.
    With `--email` each audience gets it once per period; a failed send exits 1."""
    from syncer.catalog import load_catalog
    from syncer.config import load_config
    from syncer.rhythm.render import render_review
    from syncer.rhythm.reviews import load_review, send_review
    from syncer.store import Store

    now = _now(at)
    config = load_config(config_path, credentials=False)
    _team(dict(config.teams), team, config.path)
    catalog = load_catalog(config.catalog_path)
    with Store.open(config.store_target, busy_timeout=config.store_busy_timeout) as store:
        if email:
            sent = send_review(store, catalog, config, kind, now=now, team=team, force=force)
            typer.echo(json.dumps({"period": sent.period, "outcomes": sent.outcomes}, indent=2))
            if sent.failed:
                sys.exit(int(ExitCode.FAILURES))
            return
        text = render_review(load_review(store, catalog, config, kind, now=now, team=team),
                             fmt)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    Console(stderr=True, highlight=False).print(escape(f"wrote {fmt.value} review to {output}"))


@app.command("remind")
def remind_command(
    email: bool = typer.Option(False, "--email", help="Also mail each person with an email."),
    as_json: bool = typer.Option(False, "--json", help="Print what was sent as JSON."),
    at: str | None = AT_OPTION,
    config_path: Path | None = CONFIG_OPTION,
) -> None:
    """Run the rhythm once: remind owners whose check-in is due and missing (once per due
    date), open and close escalations, store this week's scorecards, and post what is new to
    Slack / Teams. A delivery that fails after its retries is recorded and exits 1."""
    from syncer.catalog import load_catalog
    from syncer.config import load_config
    from syncer.rhythm.run import tick
    from syncer.store import Store

    now = _now(at)
    config = load_config(config_path, credentials=False)
    catalog = load_catalog(config.catalog_path)
    with Store.open(config.store_target, busy_timeout=config.store_busy_timeout) as store:
        result = tick(store, catalog, config, now=now, email=email)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        for r in result.reminded:
            typer.echo(f"reminded {r.owner} about {r.kr_id} (due {r.due})")
        for e in result.opened:
            typer.echo(f"escalated {e.rule} {e.subject} to {e.notify or 'nobody configured'}")
        for e in result.closed:
            typer.echo(f"closed {e.rule} {e.subject} (cause cleared)")
        for d in result.failed:
            typer.echo(f"failed: {d.channel} {d.kind} {d.subject}: {d.detail}", err=True)
        if not (result.reminded or result.opened or result.closed):
            typer.echo("nothing new: no check-in newly due, no escalation opened or closed")
    if result.failed:
        sys.exit(int(ExitCode.FAILURES))
