"""`okrsync report`: the weekly report in any format, to stdout, a file, or by email."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from core.errors import UserError
from syncer.cli import app, exit_with
from syncer.config import Config, load_config
from syncer.reports import Format, ReportKind, WeeklyReport, build_report, parse_week, render

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
)


def _need_store(config: Config) -> None:
    from syncer.store import store_exists

    if not store_exists(config.store_target):
        raise UserError(
            f"no store at {config.store_path}",
            file=str(config.path),
            key="store.path",
            hint="run `okrsync sync` first; the report is built from what sync stored",
        )


def _build(config: Config, kind: ReportKind, week: str | None) -> WeeklyReport:
    from syncer.catalog import load_catalog
    from syncer.store import Store

    catalog = load_catalog(config.catalog_path)
    with Store.open(config.store_target, busy_timeout=config.store_busy_timeout) as store:
        return build_report(store, catalog, config, week, kind=kind)


def _print_terminal(report: WeeklyReport, top: int | None) -> None:
    from syncer.reports.terminal import renderables

    console = Console(highlight=False)
    for item in renderables(report, top=top):
        console.print(item)


def _team_part(report: WeeklyReport, config: Config, team: str | None) -> WeeklyReport:
    """`--team T`: the team's part, as its owner's mail has it; an unknown name says which
    teams exist."""
    if team is None:
        return report
    if team not in config.teams:
        import difflib

        close = difflib.get_close_matches(team, list(config.teams), n=1)
        known = ", ".join(sorted(config.teams)) or "none configured"
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserError(f"unknown team {team!r}", key="--team",
                        hint=f"{hint}teams in {config.path.name}: {known}")
    return report.for_team(team)


@app.command("report")
def report_command(
    kind: ReportKind = typer.Option(ReportKind.ALL, "--kind", help="which sections"),
    fmt: Format = typer.Option(Format.TERMINAL, "--format", "-f", help="output format"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write here, not stdout"),
    week: str | None = typer.Option(
        None, "--week", help="ISO week YYYY-Www (default: this week in report.timezone)"
    ),
    email: bool = typer.Option(
        False, "--email", help="mail the report (once per ISO week per recipient set)"
    ),
    force: bool = typer.Option(False, "--force", help="with --email: send again this week"),
    team: str | None = typer.Option(
        None, "--team", help="Only this team's part (a [teams.<name>] of the config)."
    ),
    top: int | None = typer.Option(
        None, "--top", min=0, help="Terminal: list at most N epics per section (default: all)."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="JSON: the send result with --email, else the report (--format json)"
    ),
    config_path: Path | None = CONFIG_OPTION,
) -> None:
    """Untraceable work and the bet portfolio for an ISO week.

    Prints the report (terminal tables, Markdown, HTML, text, JSON or CSV), or with `--email`
    mails it as text + HTML to `report.recipients` (and to each team owner with
    `report.per_team`). A week already mailed is not mailed again unless `--force`. Mail that
    still fails after retries is kept next to the store, and the command exits 1.
    """
    if week is not None:
        week = str(parse_week(week))
    config = load_config(config_path, credentials=False)
    _need_store(config)
    if email and team is not None:
        raise UserError("--team does not apply to --email", key="--team",
                        hint="set report.per_team = true to mail each team its part")
    if email:
        from syncer.mail import send_weekly_report

        result = send_weekly_report(config, week=week, force=force, kind=kind)
        if json_out:
            print(json.dumps(result.to_json(), indent=2))
        else:
            err = Console(stderr=True, highlight=False)
            for d in result.deliveries:
                who = ", ".join(d.recipients)
                line = f"{d.status}: {d.kind} to {who}"
                if d.detail:
                    line += f" ({d.detail})"
                if d.saved:
                    line += f"; kept in {', '.join(d.saved)}"
                err.print(escape(line), style="red" if d.status == "failed" else None)
        if result.exit_code:
            exit_with(result.exit_code)
        return
    if json_out:
        fmt = Format.JSON
    report = _team_part(_build(config, kind, week), config, team)
    if output is None and fmt is Format.TERMINAL:
        _print_terminal(report, top)
        return
    text = render(report, fmt)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    Console(stderr=True, highlight=False).print(escape(f"wrote {fmt.value} report to {output}"))
