"""`okrsync sandbox`: serve the loopback Jira and GitHub until Ctrl-C, to try okrsync (or any
client) without real trackers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console
from rich.markup import escape

from syncer.cli import app
from syncer.errors import UserError


@app.command()
def sandbox(
    epics: int = typer.Option(200, "--epics", min=0, max=1_000_000,
                              help="How many seeded epics (~60% Jira, ~40% GitHub)."),
    seed: int = typer.Option(1, "--seed", help="Seed of the data and of the faults."),
    faults: str | None = typer.Option(
        None, "--faults", help="Fault spec, e.g. '429:0.2,500:0.1,slow:0.05,drop:0.02,503@7'."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="Scenario JSON (docs/sandbox.md) instead of generated data."
    ),
    jira_port: int = typer.Option(0, "--jira-port", help="Jira port (0: any free port)."),
    github_port: int = typer.Option(0, "--github-port", help="GitHub port (0: any free port)."),
    token: str = typer.Option("sandbox-token", "--token", help="Token both servers accept."),
    jira_flavour: str = typer.Option("cloud", "--jira-flavour",
                                     help="cloud (v3, search/jql) or datacenter (v2, /search)."),
    as_json: bool = typer.Option(False, "--json", help="Print the endpoints as one JSON line."),
    github_quota: int = typer.Option(
        5000, "--github-quota", min=1,
        help="GitHub's primary rate limit per hour (5000 like a personal token; raise it to "
        "measure throughput rather than the quota).",
    ),
    serve_for: float | None = typer.Option(None, "--for", hidden=True,
                                           help="Stop after this many seconds (for tests)."),
) -> None:
    """Serve a sandbox Jira and GitHub on 127.0.0.1 with seeded epics until Ctrl-C.

    Prints the URLs and credentials: the Jira user is `sandbox@example.com` with the token
    (Basic auth, or Bearer), GitHub takes the token as `Authorization: token ...`.
    Request counts are at `<url>/_sandbox/accounting`.
    """
    from connectors.sandbox import sandbox as start_sandbox
    from connectors.sandbox.faults import FaultSpec
    from connectors.sandbox.server import ServerError

    if jira_flavour not in ("cloud", "datacenter"):
        raise UserError(f"unknown Jira flavour {jira_flavour!r}; use cloud or datacenter",
                        key="--jira-flavour")
    flavour: Literal["cloud", "datacenter"] = "cloud" if jira_flavour == "cloud" else "datacenter"
    try:
        FaultSpec.parse(faults)
    except ValueError as exc:
        raise UserError(str(exc), key="--faults") from exc
    if data is not None and not data.is_file():
        raise UserError("scenario file not found", file=str(data), key="--data")
    console = Console(highlight=False, soft_wrap=True)
    try:
        with start_sandbox(epics=epics, seed=seed, faults=faults, data=data, token=token,
                           jira_flavour=flavour, jira_port=jira_port,
                           github_port=github_port) as sb:
            sb.github.set_quota(limit=github_quota)
            info = {
                "jira_url": sb.jira_url, "jira_flavour": flavour, "jira_user": sb.jira_user,
                "github_url": sb.github_url, "org": sb.org, "token": sb.token,
                "jira_issues": len(sb.jira), "github_app_id": sb.app_id,
                "github_installation_id": sb.installation_id, "faults": faults or "",
            }
            if as_json:
                typer.echo(json.dumps(info), nl=True)
            else:
                console.print(f"[bold]Sandbox Jira[/] ({flavour}): {escape(sb.jira_url)}")
                console.print(f"  user: {sb.jira_user}   token: {escape(sb.token)}")
                console.print(f"  {len(sb.jira)} issues; counts at "
                              f"{escape(sb.jira_url)}/_sandbox/accounting")
                console.print(f"[bold]Sandbox GitHub[/]: {escape(sb.github_url)}  org: {sb.org}")
                console.print(f"  token: {escape(sb.token)}   App id {sb.app_id}, installation "
                              f"{sb.installation_id}")
                if faults:
                    console.print(f"  faults: {escape(faults)}")
                console.print("Serving until Ctrl-C.")
            deadline = None if serve_for is None else time.monotonic() + serve_for
            try:
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(0.2)
            except KeyboardInterrupt:
                if not as_json:
                    console.print("stopped")
    except ServerError as exc:
        raise UserError(str(exc), hint="choose another port or 0 for any free port") from exc
