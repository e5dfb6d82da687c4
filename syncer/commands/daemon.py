"""`okrsync daemon`: sync on an interval, send the weekly report on its schedule."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path

import typer

from core.errors import ConfigError
from syncer.cli import app, exit_with


class LogFormat(StrEnum):
    json = "json"
    text = "text"


@app.command()
def daemon(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
    ),
    interval: float | None = typer.Option(
        None, help="Seconds between syncs (default: [daemon].interval_seconds, 900)."
    ),
    health_port: int | None = typer.Option(
        None, help="Serve /healthz and /metrics on this port (0: any free port)."
    ),
    health_host: str = typer.Option(
        "127.0.0.1", help="Address for the health listener; loopback unless in a container."
    ),
    log_format: LogFormat = typer.Option(LogFormat.text, help="One line per event: json or text."),
    no_report: bool = typer.Option(False, "--no-report", help="Sync only; never send the report."),
    source: list[str] | None = typer.Option(
        None, "--source", "-s",
        help="Sync only this source (repeatable): one daemon per source against a shared "
             "PostgreSQL store.",
    ),
) -> None:
    """Run forever: sync every interval (with jitter, backing off after failures) and send the
    weekly report on `[report].send_cron` in `[report].timezone` (default Monday 08:00).
    With `[people.*]` configured, also run `okrsync remind` after each sync and send each
    review on its `[review]` cron, once per period per audience.

    Never runs two syncs at once. SIGTERM/SIGINT: the write-back in flight is finished or safely
    abandoned (it stays pending in the outbox) and the daemon exits 0 within a few seconds.
    Invalid configuration: says why and exits 2 before doing anything.
    """
    from syncer.config import load_config
    from syncer.daemon import Daemon, DaemonSettings
    from syncer.inputs import resolve_inputs
    from syncer.schedule import validate_cron

    cfg = load_config(config)
    resolve_inputs(cfg)
    cron = cfg.report.send_cron
    if not validate_cron(cron):
        raise ConfigError(f"invalid cron expression {cron!r}", file=str(cfg.path),
                          key="report.send_cron")
    every = interval if interval is not None else float(cfg.daemon.interval_seconds)
    if every <= 0:
        raise ConfigError("the sync interval must be positive", file=str(cfg.path),
                          key="daemon.interval_seconds")
    unknown = sorted(set(source or ()) - set(cfg.sources))
    if unknown:
        raise ConfigError(f"no source named {', '.join(map(repr, unknown))} in the config "
                          f"(configured: {', '.join(cfg.sources) or 'none'})",
                          file=str(cfg.path), key="--source")
    port = health_port if health_port is not None else cfg.daemon.health_port
    settings = DaemonSettings(
        config_path=Path(cfg.path),
        store_path=cfg.store_target,
        interval=every,
        jitter=float(cfg.daemon.jitter_seconds),
        report_cron=cron,
        report_timezone=cfg.report.timezone,
        health_port=port,
        health_host=health_host,
        log_format=log_format.value,
        report_enabled=not no_report,
        report_lookback=timedelta(hours=1),
        unhealthy_after=cfg.daemon.unhealthy_after,
        measure_every=float(cfg.daemon.measure_every),
        sources=tuple(source or ()),
        rhythm_enabled=bool(cfg.rhythm.people) and not no_report,
        remind_email=any(p.email for p in cfg.rhythm.people.values()),
        review_crons={"weekly": cfg.rhythm.review.weekly_cron,
                      "monthly": cfg.rhythm.review.monthly_cron,
                      "quarterly": cfg.rhythm.review.quarterly_cron},
    )
    runner = Daemon(settings)
    runner.install_signal_handlers()
    if cfg.web.port is not None:
        from syncer.web.server import Dashboard

        if cfg.web.auth == "token" and not cfg.web.token.get_secret_value():
            raise ConfigError("web.auth is \"token\" but no token is set", file=str(cfg.path),
                              key="web.token", hint="set OKRSYNC_WEB__TOKEN")
        dashboard = Dashboard(cfg, cfg.web.host, cfg.web.port)
        dashboard.start_thread(lambda exc: runner._emit("dashboard_failed", error=repr(exc)))
        runner._emit("dashboard_listening", url=dashboard.url)
    exit_with(runner.run())
