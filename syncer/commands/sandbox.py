"""`okrsync sandbox`: serve the loopback Jira and GitHub until Ctrl-C, to try okrsync (or any
client) without real trackers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console
from rich.markup import escape

from connectors.limits import GITHUB_CONTENT_LIMITS, GITHUB_POINTS_LIMIT, JIRA_ISSUE_WRITE_LIMITS
from core.clock import SYSTEM
from core.errors import UserError
from syncer.cli import app


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
    no_limits: bool = typer.Option(
        False, "--no-limits", help="Enforce no rate limits (the trackers' real ones are on by "
        "default)."),
    github_content_limit: list[str] = typer.Option(
        list(GITHUB_CONTENT_LIMITS), "--github-content-limit", metavar="COUNT/SECONDS",
        help="GitHub content-creating requests allowed per window; repeatable."),
    github_points_limit: str = typer.Option(
        GITHUB_POINTS_LIMIT, "--github-points-limit", metavar="POINTS/SECONDS",
        help="GitHub points per endpoint per window (a read costs 1, a write 5)."),
    github_concurrency: int = typer.Option(
        100, "--github-concurrency", min=0, help="GitHub concurrent requests (0: no limit)."),
    github_retry_after: bool = typer.Option(
        True, "--github-retry-after/--no-github-retry-after",
        help="Whether GitHub's secondary-limit answers carry Retry-After."),
    token_etags: bool = typer.Option(
        False, "--token-etags", help="Make GitHub's ETags specific to the token, as on "
        "github.com."),
    jira_issue_write_limit: list[str] = typer.Option(
        list(JIRA_ISSUE_WRITE_LIMITS), "--jira-issue-write-limit", metavar="COUNT/SECONDS",
        help="Jira writes allowed per issue per window; repeatable."),
    jira_quota: str = typer.Option(
        "", "--jira-quota", metavar="POINTS/SECONDS",
        help="Enforce a Jira points quota, e.g. 65000/3600 (off by default: API-token traffic "
        "has none)."),
    serve_for: float | None = typer.Option(None, "--for", hidden=True,
                                           help="Stop after this many seconds (for tests)."),
) -> None:
    """Serve a sandbox Jira and GitHub on 127.0.0.1 with seeded epics until Ctrl-C.

    Prints the URLs and credentials: the Jira user is `sandbox@example.com` with the token
    (Basic auth, or Bearer), GitHub takes the token as `Authorization: token ...`.
    Request counts are at `<url>/_sandbox/accounting`.
    """
    from sandbox import sandbox as start_sandbox
    from sandbox.faults import FaultSpec
    from sandbox.limits import describe_limits, limits_from_options
    from sandbox.server import ServerError

    if jira_flavour not in ("cloud", "datacenter"):
        raise UserError(f"unknown Jira flavour {jira_flavour!r}; use cloud or datacenter",
                        key="--jira-flavour")
    flavour: Literal["cloud", "datacenter"] = "cloud" if jira_flavour == "cloud" else "datacenter"
    try:
        FaultSpec.parse(faults)
    except ValueError as exc:
        raise UserError(str(exc), key="--faults") from exc
    try:
        github_limits, jira_limits = limits_from_options(
            off=no_limits, content=github_content_limit, points=github_points_limit,
            concurrency=github_concurrency, retry_after=github_retry_after,
            issue_writes=jira_issue_write_limit, quota=jira_quota)
    except ValueError as exc:
        raise UserError(str(exc), key="--github-content-limit / --jira-issue-write-limit"
                        ) from exc
    if data is not None and not data.is_file():
        raise UserError("scenario file not found", file=str(data), key="--data")
    console = Console(highlight=False, soft_wrap=True)
    try:
        with start_sandbox(epics=epics, seed=seed, faults=faults, data=data, token=token,
                           jira_flavour=flavour, jira_port=jira_port,
                           github_port=github_port, github_limits=github_limits,
                           jira_limits=jira_limits, token_etags=token_etags) as sb:
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
                console.print(f"  limits: {escape(describe_limits(github_limits, jira_limits))}")
                console.print("Serving until Ctrl-C.")
            deadline = None if serve_for is None else SYSTEM.monotonic() + serve_for
            try:
                while deadline is None or SYSTEM.monotonic() < deadline:
                    SYSTEM.block(0.2)
            except KeyboardInterrupt:
                if not as_json:
                    console.print("stopped")
    except ServerError as exc:
        raise UserError(str(exc), hint="choose another port or 0 for any free port") from exc
