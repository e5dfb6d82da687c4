"""`okrsync sync` and `okrsync plan`: one run of the engine, shown for people or machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.model import WriteBack, WriteBackKind
from syncer.cli import app, exit_with
from syncer.engine import Progress as ProgressFn
from syncer.engine import RunSummary

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
)


def describe(wb: WriteBack) -> str:
    """One line a person can check: what will be written where."""
    if wb.kind is WriteBackKind.ADD_LABEL:
        return f"add label {wb.label}"
    if wb.kind is WriteBackKind.REMOVE_LABEL:
        return f"remove label {wb.label}"
    if wb.kind is WriteBackKind.REMOVE_GOAL_LINKS:
        return "remove goal links " + ", ".join(wb.previous)
    if not wb.goals:
        return "end goal links (was " + ", ".join(wb.previous) + ")"
    return "set goal links " + "; ".join(
        f"{g.kr_id} {g.kr_title} (objective {g.objective_id}, owner {g.owner}, target {g.target})"
        for g in wb.goals
    )


@contextmanager
def _progress(console: Console, enabled: bool) -> Iterator[ProgressFn | None]:
    """Rich progress bars per source on a terminal; plain log lines otherwise."""
    if not enabled:
        yield None
        return
    if not console.is_terminal:
        def log(source: str, phase: str, count: int) -> None:
            if phase in {"done", "failed"}:
                print(f"{source}: pull {phase}, {count} epics", file=sys.stderr)

        yield log
        return
    bars = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
        TextColumn("{task.completed} epics"), TimeElapsedColumn(),
        console=console, transient=True,
    )
    tasks: dict[str, int] = {}

    def update(source: str, phase: str, count: int) -> None:
        if phase == "apply":
            key = f"{source} write-backs"
            if key not in tasks:
                tasks[key] = int(bars.add_task(f"{escape(source)}: writing", total=None))
            bars.advance(tasks[key])  # type: ignore[arg-type]
            return
        if source not in tasks:
            tasks[source] = int(bars.add_task(f"{escape(source)}: pulling", total=None))
        bars.update(tasks[source], completed=count)  # type: ignore[arg-type]

    with bars:
        yield update


FULL_OPTION: bool = typer.Option(
    False, "--full",
    help="Ignore stored cursors and pull every epic; epics no longer returned are forgotten "
    "(this also happens every [sync] full_pull_every_hours).",
)


def print_summary(console: Console, summary: RunSummary) -> None:
    table = Table(title=f"run {summary.run_id}" + (" (dry run)" if summary.dry_run else ""))
    for col in ("source", "pulled", "skipped", "requests", "304s", "status"):
        table.add_column(col, justify="right" if col not in {"source", "status"} else "left")
    for s in summary.sources:
        status = "ok" if s.healthy else f"[red]{escape(s.reason)}[/]"
        if s.healthy and s.retired:
            status = f"ok, {s.retired} no longer in scope: forgotten"
        if s.healthy and s.warning:
            status = f"[yellow]{escape(s.warning)}[/]"
        table.add_row(escape(s.name), str(s.pulled), str(s.skipped), str(s.requests),
                      str(s.not_modified), status)
    console.print(table)
    for s in summary.sources:
        if s.notice:
            console.print(f"{escape(s.name)}: {escape(s.notice)}")
    console.print(
        f"{summary.tickets} epics in the store: {summary.linked} linked, "
        f"{summary.untraceable} untraceable, {summary.ktlo} run/maintenance, "
        f"{summary.broken} broken links, {summary.new_overrides} new overrides"
    )
    if summary.dry_run:
        console.print(f"[bold]{len(summary.planned)} write-backs would be made[/] "
                      "(nothing was written remotely or queued):")
        for wb in summary.planned:
            console.print(f"  {escape(wb.source)} {escape(wb.ticket_key)}: {escape(describe(wb))}")
        if summary.write_budget:
            console.print("[bold]write budget[/] (what the trackers' limits allow):")
            for budget in summary.write_budget:
                console.print(f"  {escape(budget['message'])}")
    else:
        console.print(
            f"write-backs: {summary.applied} applied, {summary.unchanged} already in place, "
            f"{len(summary.failed)} failed, {len(summary.dropped)} dropped, "
            f"{summary.pending} pending"
            + (f" ({summary.parked} parked, {summary.waiting} waiting to retry)"
               if summary.parked or summary.waiting else "")
        )
        for key, error in summary.failed[:20]:
            console.print(f"  [red]failed[/] {escape(key)}: {escape(error)}")
        for key, reason in summary.dropped[:20]:
            console.print(f"  dropped {escape(key)}: {escape(reason)}")
        for deferral in summary.deferred:
            console.print(f"  [yellow]{escape(deferral['message'])}[/]")
            if deferral["eta"]:
                console.print(f"    {escape(deferral['eta'])}")
    for notice in summary.notices:
        console.print(f"[yellow]note:[/] {escape(notice)}")
    console.print(f"took {summary.duration:.1f}s")


def _run(config: Path | None, dry_run: bool, full: bool, source: list[str] | None,
         as_json: bool, *, plan_json: bool = False) -> None:
    from syncer.config import load_config
    from syncer.engine import run_sync

    cfg = load_config(config)
    console = Console(stderr=as_json, highlight=False)
    with _progress(Console(stderr=True), enabled=not as_json) as progress:
        summary = run_sync(cfg, dry_run=dry_run, full=full, only_sources=source,
                           progress=progress)
    if as_json and plan_json and summary.plan is not None:
        print(json.dumps(summary.plan.to_json(), indent=2, sort_keys=True))
    elif as_json:
        print(json.dumps(summary.to_json(), indent=2, default=str))
    else:
        print_summary(console, summary)
    exit_with(summary.exit_code)


@app.command()
def sync(
    config: Path | None = CONFIG_OPTION,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the exact write-backs a real run would make; write nothing."
    ),
    full: bool = FULL_OPTION,
    source: list[str] | None = typer.Option(
        None, "--source", "-s", help="Only this source (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Pull epics, map them to key results, and write goal links back onto the tickets.

    Pending write-backs from earlier runs are re-planned against the fresh pull, then applied.
    A source that fails, or returns far fewer epics than the store holds, has nothing removed
    or flagged in this run. Write-backs of deleted tickets are dropped (journalled).

    A tracker's rate limit that blocks longer than max_rate_limit_wait defers the source's
    remaining write-backs to a later run; that is not a failure. --dry-run also prints the
    write budget: write-backs by kind, how many create content, the time the limits impose.

    Exit codes: 0 ok (deferred write-backs included), 1 finished with failures (a write-back
    failed in this run, a failed source, due write-backs left pending; parked, backing-off
    and deferred ones do not count), 2 invalid config, 3 another run holds the lock.
    """
    _run(config, dry_run, full, source, as_json)


@app.command("plan")
def plan_command(
    config: Path | None = CONFIG_OPTION,
    full: bool = FULL_OPTION,
    source: list[str] | None = typer.Option(None, "--source", "-s", help="Only this source."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the whole plan as JSON (see docs/cli.md)."),
) -> None:
    """Show what a sync would write, change nothing remote (`sync --dry-run`).

    With --json, prints the run's plan value itself: each source's pull verdict, and every
    write-back, link, broken link, flag, override and bet the planner decided. The pull still
    runs and stores what it read.

    Exit codes: 0 ok, 1 a source failed, 2 invalid config, 3 another run holds the lock.
    """
    _run(config, True, full, source, as_json, plan_json=True)
