"""`okrsync demo`: the quickest honest tour — real sandboxes, a real sync, the real store."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.clock import SYSTEM
from core.errors import UserError
from syncer.cli import app, exit_with

DEMO_CONFIG = """\
# okrsync demo configuration, written by `okrsync demo` (seed {seed}, {epics} epics).
# The sandboxes it points at ran only while the demo ran, so `report`, `status`, `explain`
# and `serve` work on this folder but `sync` does not; run `okrsync demo --dir` again to
# start over. Tokens come from the environment (OKRSYNC_SOURCES__JIRA__TOKEN,
# OKRSYNC_SOURCES__GITHUB__TOKEN), never from this file.

[store]
path = "okrsync.db"

[okrs]
catalog = "okrs.toml"
rules = "rules.toml"

[labels]
explicit_prefix = "okr:"
managed_prefix = "goal:"
ktlo = ["ktlo", "maintenance"]

[sources.jira]
kind = "jira"
base_url = "{jira_url}"
email = "{jira_user}"
token = ""
jql = "{jql}"
link_url_template = "https://okr.example.com/kr/{{kr_id}}"
# The sandbox enforces no rate limits unless started with them; real trackers do, so
# leave `pacing` on (the default) for a real site.
pacing = false

[sources.github]
kind = "github"
api_url = "{github_url}"
token = ""
org = "{org}"
epic_label = "epic"
pacing = false
link_url_template = "https://okr.example.com/kr/{{kr_id}}"

[teams.product]
owner = "Omar Haddad"
email = "product-leads@example.com"
projects = ["WEB", "APP", "acme/web", "acme/app", "acme/mobile*"]

[teams.platform]
owner = "Aiko Tanaka"
email = "platform-leads@example.com"
projects = ["OPS", "DATA", "acme/api", "acme/infra*", "acme/data*"]

[report]
timezone = "UTC"
recipients = ["leadership@example.com"]
trend_weeks = 12
dashboard_url = "{dashboard_url}"

[web]
host = "127.0.0.1"          # `okrsync serve` listens here (port 8080 unless --port)
"""

DEMO_FILES = ("okrsync.toml", "okrs.toml", "rules.toml", "okrsync.db", "okrsync.db-wal",
              "okrsync.db-shm", "okrsync.db.lock", "okrsync.db.suggest-model.npz")
"""What a demo writes into its folder: all it removes when run again there."""


def write_demo_files(
    directory: Path, *, jira_url: str, github_url: str, jira_user: str, org: str, jql: str,
    seed: int, epics: int, dashboard_url: str = "http://127.0.0.1:8080/",
) -> Path:
    """Write okrsync.toml, okrs.toml and rules.toml for the demo organisation."""
    from sandbox.data import demo_catalog_toml, demo_rules_toml

    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "okrsync.toml"
    config.write_text(DEMO_CONFIG.format(
        jira_url=jira_url, github_url=github_url, jira_user=jira_user, org=org, jql=jql,
        seed=seed, epics=epics, dashboard_url=dashboard_url.rstrip("/"),
    ))
    (directory / "okrs.toml").write_text(demo_catalog_toml())
    (directory / "rules.toml").write_text(demo_rules_toml())
    return config


def _jira_projects(sb: Any) -> list[str]:
    keys: list[str] = sorted({str(k).split("-", 1)[0] for k in sb.jira.keys()})  # noqa: SIM118
    return keys


def _show(console: Console, config_path: Path, summary: Any) -> dict[str, Any]:
    """The result a new user needs: links and why, untraceable work, bets per KR."""
    from syncer.catalog import load_catalog
    from syncer.config import load_config
    from syncer.store import Store

    cfg = load_config(config_path)
    catalog = load_catalog(cfg.catalog_path)
    store = Store.open(cfg.store_target, busy_timeout=cfg.store_busy_timeout)
    try:
        links = store.links()
        untraceable = store.untraceable()
        bets = store.bets()
        tickets = {t.uid: t for t in store.tickets()}
    finally:
        store.close()

    origins = Counter(lk.origin_text.split(":")[0] for lk in links)
    table = Table(title=f"Links made and why ({len(links)} links; "
                  + ", ".join(f"{n} by {o}" for o, n in sorted(origins.items())) + ")")
    for col in ("epic", "title", "key result", "decided by"):
        table.add_column(col, overflow="fold")
    shown = sorted(links, key=lambda lk: (lk.origin.value, lk.source, lk.ticket_key))
    listed = shown[:8] + [x for x in shown if x.origin.value == "rule"][:8]
    for lk in listed:
        t = tickets.get(f"{lk.source}:{lk.ticket_key}")
        table.add_row(escape(lk.ticket_key), escape((t.title if t else "")[:50]),
                      escape(lk.kr_id), escape(lk.reason or lk.origin_text))
    console.print(table)
    _more(console, len(listed), len(links), "okrsync explain KEY tells any epic's story")

    utable = Table(title=f"Untraceable work: {len(untraceable)} epics serve no key result")
    for col in ("epic", "title", "project", "state"):
        utable.add_column(col, overflow="fold")
    flying = sorted((tickets[u] for u in untraceable if u in tickets),
                    key=lambda t: (t.state.value not in ("todo", "in_progress"), -(t.size or 0),
                                   t.key))
    for t in flying[:10]:
        utable.add_row(escape(t.key), escape(t.title[:60]), escape(t.project), t.state.value)
    console.print(utable)
    _more(console, min(10, len(flying)), len(untraceable), "the report and dashboard list all")

    btable = Table(title="Bets per key result")
    for col in ("KR", "title", "planned", "active", "shipped", "killed", "with hypothesis"):
        btable.add_column(col)
    per_kr: dict[str, Counter[str]] = {}
    for bet in bets:
        c = per_kr.setdefault(bet.kr_id, Counter())
        c[bet.status.value] += 1
        c["hyp"] += 1 if bet.hypothesis else 0
    for kr in catalog.key_results:
        c = per_kr.get(kr.id, Counter())
        btable.add_row(escape(kr.id), escape(kr.title[:40]), str(c["planned"]), str(c["active"]),
                       str(c["shipped"]), str(c["killed"]), str(c["hyp"]))
    console.print(btable)
    return {
        "links": len(links), "links_by_origin": dict(origins),
        "untraceable": len(untraceable), "bets": len(bets),
        "writes_applied": summary.applied, "pending": summary.pending,
        "krs_without_bets": sorted(kr.id for kr in catalog.key_results if kr.id not in per_kr),
    }


def prepare_dir(directory: Path) -> None:
    """Start clean in `directory`: remove what an earlier demo wrote there; refuse a folder
    holding anything else (it may be someone's real config)."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise UserError(f"{directory} is not a folder", key="--dir",
                        hint="pass a new or empty folder, or one an earlier demo wrote")
    others = sorted(p.name for p in directory.iterdir()
                    if p.name not in DEMO_FILES and not p.name.startswith("okrsync-unsent-"))
    if others:
        shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
        raise UserError(f"{directory} holds files the demo did not write ({shown})",
                        key="--dir", hint="pass a new or empty folder; the demo starts clean "
                        "there and never touches other files")
    for p in directory.iterdir():
        p.unlink()


def _more(console: Console, shown: int, total: int, where: str) -> None:
    if total > shown:
        console.print(f"  … and {total - shown} more ({where})")


def _seed_history(config_path: Path, *, measured: frozenset[str] = frozenset()) -> None:
    """Twelve simulated weeks behind the real sync, so trends, confidence and verdicts show.
    KRs in `measured` take their values from their data source instead (measured after the
    sync), so they get no simulated check-ins."""
    from dataclasses import replace

    from syncer.catalog import load_catalog
    from syncer.config import load_config
    from syncer.demo_history import plan_history, write_history
    from syncer.reports.load import build_report
    from syncer.store import Store

    cfg = load_config(config_path)
    catalog = load_catalog(cfg.catalog_path)
    now = SYSTEM.now()
    with Store.open(cfg.store_target, busy_timeout=cfg.store_busy_timeout) as store:
        tickets = store.tickets()
        teams = {t.uid: (team.name if (team := cfg.team_of(t.project)) else None)
                 for t in tickets}
        history = plan_history(catalog=catalog, bets=store.bets(), tickets=tickets,
                               untraceable=store.untraceable(), team_of=teams,
                               linked={f"{lk.source}:{lk.ticket_key}" for lk in store.links()},
                               now=now,
                               timezone=cfg.report.timezone)
        history = replace(history, checkins=tuple(
            c for c in history.checkins if c.kr_id not in measured))
        write_history(store, history, now=now)
        build_report(store, catalog, cfg, now=now)  # keeps this week's snapshot


@app.command()
def demo(
    directory: Path | None = typer.Option(
        None, "--dir", help="Keep config, catalog, rules and store here (default: a temporary "
        "folder, removed at the end). A folder an earlier demo wrote is started clean."
    ),
    epics: int = typer.Option(300, min=10, max=100_000, help="Epics in the seeded organisation."),
    seed: int = typer.Option(7, help="Seed of the generated organisation."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    serve: bool = typer.Option(
        False, "--serve", help="Then serve the dashboard on the demo store until Ctrl-C."
    ),
    port: int = typer.Option(8080, min=0, max=65535, help="With --serve: the port (0: any)."),
) -> None:
    """Start loopback Jira and GitHub sandboxes with a seeded organisation, write a config,
    catalog and rules, run a real sync with write-back, add twelve simulated weeks of
    history (check-ins, bets, weekly snapshots), and show what it did.

    The sandbox token is random, or `$OKRSYNC_SANDBOX_TOKEN` when set; it is passed through the
    environment and never written to the directory.
    """
    if directory is not None:
        prepare_dir(directory)
        _tour(directory, epics=epics, seed=seed, as_json=as_json, serve=serve, port=port,
              keep=True)
        return
    with tempfile.TemporaryDirectory(prefix="okrsync-demo-") as tmp:
        _tour(Path(tmp), epics=epics, seed=seed, as_json=as_json, serve=serve, port=port,
              keep=False)


def _tour(workdir: Path, *, epics: int, seed: int, as_json: bool, serve: bool, port: int,
          keep: bool) -> None:
    from sandbox import sandbox
    from sandbox.data import generate
    from syncer import demo_verdicts as dv
    from syncer.catalog import load_catalog
    from syncer.commands.sync import print_summary
    from syncer.config import load_config
    from syncer.engine import run_sync
    from syncer.measure.run import run_measure
    from syncer.web.server import bind, url_of

    console = Console(stderr=as_json, highlight=False)
    token = os.environ.get("OKRSYNC_SANDBOX_TOKEN") or f"sandbox-{secrets.token_hex(12)}"
    listener = bind("127.0.0.1", port) if serve else None
    dashboard_url = url_of(listener) if listener else "http://127.0.0.1:8080/"
    now = SYSTEM.now()
    with sandbox(data=generate(epics, seed, story=True), seed=seed, token=token) as sb, \
            contextlib.ExitStack() as stack:
        projects = _jira_projects(sb)
        planted = dv.plant_shipped_bets(sb, now)
        config_path = write_demo_files(
            workdir, jira_url=sb.jira_url, github_url=sb.github_url, jira_user=sb.jira_user,
            org=sb.org, jql=f"project in ({', '.join(projects)})", seed=seed, epics=epics,
            dashboard_url=dashboard_url,
        )
        catalog_file = workdir / "okrs.toml"
        history = dv.kr_history(load_catalog(catalog_file), planted, now, seed)
        history_url = stack.enter_context(dv.serve_history(history))
        catalog_file.write_text(dv.with_csv_sources(catalog_file.read_text(), history_url,
                                                    {b.kr_id for b in planted}))
        os.environ["OKRSYNC_SOURCES__JIRA__TOKEN"] = token
        os.environ["OKRSYNC_SOURCES__GITHUB__TOKEN"] = token
        try:
            cfg = load_config(config_path)
            console.print(f"[bold]okrsync demo[/]: {epics} epics in Jira ({escape(sb.jira_url)}) "
                          f"and GitHub ({escape(sb.github_url)}), files in {escape(str(workdir))}")
            summary = run_sync(cfg)
            print_summary(console, summary)
            _seed_history(config_path, measured=frozenset(b.kr_id for b in planted))
            outcome = _show(console, config_path, summary)
            second = run_sync(cfg)
            outcome["second_run_writes"] = second.applied
            measured = run_measure(cfg, backfill_weeks=dv.HISTORY_WEEKS)
            outcome["measured_values"] = sum(m.added for m in measured)
            shown = dv.show_verdicts(console, cfg, now=SYSTEM.now())
            outcome["verdicts"], outcome["verdict_examples"] = shown["counts"], shown["examples"]
        finally:
            os.environ.pop("OKRSYNC_SOURCES__JIRA__TOKEN", None)
            os.environ.pop("OKRSYNC_SOURCES__GITHUB__TOKEN", None)
    outcome["dir"] = str(workdir) if keep else None
    outcome["dashboard"] = dashboard_url if listener else None
    if as_json:
        print(json.dumps(outcome, indent=2), flush=True)
    else:
        where = escape(str(config_path))
        console.print(
            f"A second sync right after made {outcome['second_run_writes']} writes.\n\n"
            "Twelve weeks of history were simulated (check-ins, bets, weekly snapshots) so the "
            "trends show.\n"
        )
        if keep:
            console.print(
                "[bold]Where to look next[/]\n"
                f"  okrsync report --config {where}       the weekly report, summary first\n"
                f"  okrsync serve --config {where}        the dashboard\n"
                f"  okrsync explain KEY --config {where}  why an epic maps where it maps\n"
                f"  okrsync status --config {where}       runs, pending write-backs\n"
                "  okrsync init ./okr   your own config, catalog and rules",
                soft_wrap=True,
            )
        elif not listener:
            console.print("The demo folder was temporary and is gone; pass --dir DIR to keep "
                          "it, or --serve to browse the dashboard.")
    if listener is not None:
        from syncer.web.server import Dashboard

        dashboard = Dashboard(load_config(config_path), sock=listener)
        console.print(f"[bold]Dashboard[/]: {escape(dashboard.url)} (Ctrl-C to stop)")
        sys.stdout.flush()
        dashboard.serve()
    exit_with(summary.exit_code)
