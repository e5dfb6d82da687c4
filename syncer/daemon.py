"""`okrsync daemon`: a long-running supervisor for syncs and the weekly report.

Each sync and each report runs as a child process (`okrsync sync` / `okrsync report --email`),
so the daemon stays small, a crash or leak in one run cannot take it down, and on SIGTERM it can
stop within seconds: it lets the child finish for a short grace period, then ends it. That is
safe because every write-back sits in the outbox before it is applied; an abandoned one stays
pending and the next run finishes it without duplicates. The store lock means a daemon never
runs two syncs at once, even beside a cron job.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from prometheus_client import CONTENT_TYPE_LATEST

from core.clock import SYSTEM
from core.errors import ExitCode
from core.handoff import TokenHandoff
from syncer.daemon_view import (
    SourceView,
    health_body,
    metrics_text,
    read_open_escalations,
    read_sources,
)
from syncer.schedule import MAX_BACKOFF_FACTOR, cron_fires, next_sync_delay, window_start
from syncer.source_health import failed_sources

log = logging.getLogger("okrsync.daemon")

STOP_GRACE_SECONDS = 5.0


@dataclass
class DaemonSettings:
    config_path: Path
    store_path: Path | str
    """The SQLite file, or the PostgreSQL URL (`Config.store_target`)."""
    interval: float
    jitter: float
    report_cron: str
    report_timezone: str
    health_port: int | None = None
    health_host: str = "127.0.0.1"
    log_format: str = "text"
    report_enabled: bool = True
    report_lookback: timedelta = timedelta(hours=1)
    unhealthy_after: int = 3
    measure_every: float = 0.0
    sources: tuple[str, ...] = ()
    """Only these sources are synced (a worker per source); empty: all."""
    rhythm_enabled: bool = False
    """Run `okrsync remind` after each sync and send the reviews on their crons."""
    remind_email: bool = False
    """`okrsync remind --email`: some person has an email to be reminded at."""
    review_crons: dict[str, str] = field(default_factory=dict)
    """Review kind (weekly, monthly, quarterly) → cron, read in `report_timezone`."""


@dataclass
class DaemonState:
    """What /healthz and /metrics show; updated by the loop, read by the HTTP thread."""

    started_at: float = field(default_factory=SYSTEM.time)
    runs: dict[str, int] = field(default_factory=dict)
    last_success_at: float | None = None
    last_exit_code: int | None = None
    last_duration: float = 0.0
    consecutive_failures: int = 0
    reports_sent: int = 0
    reviews_sent: int = 0
    escalations: dict[str, int] = field(default_factory=dict)
    measures: dict[str, int] = field(default_factory=dict)
    pending_writebacks: int = 0
    syncing: bool = False
    sources: dict[str, SourceView] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def measure_due(last: float | None, now: float, every: float) -> bool:
    """Whether the daemon should measure now: on its first loop, then every `every` seconds
    (0 = never)."""
    return every > 0 and (last is None or now - last >= every)


class Daemon:
    def __init__(
        self,
        settings: DaemonSettings,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = SYSTEM.time,
        monotonic: Callable[[], float] = SYSTEM.monotonic,
        wait: Callable[[float], object] | None = None,
        log_stream: IO[str] | None = None,
    ) -> None:
        """`clock` (Unix seconds), `monotonic` (for durations) and `wait` (sleep up to N
        seconds, or until stopped) are injected by tests so that a day of schedule runs in no
        real time."""
        self.settings = settings
        self.clock = clock
        self.monotonic = monotonic
        self.state = DaemonState(started_at=clock())
        self.rng = rng or random.Random()
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._log = log_stream
        self._last_stderr = ""
        self._child: subprocess.Popen[bytes] | None = None
        self._child_lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._handoff = TokenHandoff()

    # --- lifecycle ---------------------------------------------------------------------------

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        self._emit("stopping", signal=signal.Signals(signum).name)
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: self.request_stop(signum))

    def run(self) -> int:
        """Loop until stopped: sync, then check the report schedule, then sleep."""
        if self.settings.health_port is not None:
            self._start_http()
        self._emit(
            "started", interval=self.settings.interval, report_cron=self.settings.report_cron
        )
        report_checked = window_start(self._now(), self.settings.report_lookback)
        review_checked = report_checked
        measured_at: float | None = None
        try:
            while not self._stop.is_set():
                self._sync_once()
                if self._stop.is_set():
                    break
                if measure_due(measured_at, self.clock(), self.settings.measure_every):
                    measured_at = self.clock()
                    self._measure_once()
                now = self._now()
                if self.settings.report_enabled:
                    fires = cron_fires(
                        self.settings.report_cron, self.settings.report_timezone,
                        report_checked, now,
                    )
                    report_checked = now
                    if fires:
                        self._report_once(fires[-1])
                if self.settings.rhythm_enabled:
                    self._remind_once()
                    for kind, fire in due_reviews(self.settings.review_crons,
                                                  self.settings.report_timezone,
                                                  review_checked, now):
                        self._review_once(kind, fire)
                    review_checked = now
                delay = next_sync_delay(
                    self.settings.interval, self.settings.jitter,
                    self.state.consecutive_failures, self.rng,
                )
                self._wait(delay)
        finally:
            if self._http is not None:
                self._http.shutdown()
                self._http.server_close()
            self._emit("stopped")
        return int(ExitCode.OK)

    # --- child runs --------------------------------------------------------------------------

    def _okrsync(self, *args: str) -> list[str]:
        config = str(self.settings.config_path)
        return [sys.executable, "-m", "syncer.cli", *args, "--config", config]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _run_child(self, argv: list[str], stdout: IO[bytes] | None = None) -> int:
        """Run one child to completion, or until a stop request plus the grace period.
        Its output goes to `stdout` (a file, never a pipe nobody reads while it runs)."""
        with self._child_lock:
            if self._stop.is_set():
                return -1
            env, handoff, write = self._handoff.open(os.environ)
            try:
                child = subprocess.Popen(  # argv built from our own executable
                    argv, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL if stdout is None else stdout,
                    stderr=subprocess.PIPE, start_new_session=True, env=env, pass_fds=(write,),
                )
            except BaseException:
                os.close(handoff)
                raise
            finally:
                os.close(write)
            self._child = child
        try:
            while True:
                try:
                    return child.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    if self._stop.is_set():
                        return self._end_child(child)
        finally:
            with self._child_lock:
                self._child = None
            self._handoff.collect(handoff)
            if child.stderr is not None:
                tail = child.stderr.read()[-2000:].decode(errors="replace").strip()
                child.stderr.close()
                self._last_stderr = tail.splitlines()[-1][:500] if tail else ""
                if tail and child.returncode not in (0, None):
                    self._emit("child_stderr", text=self._last_stderr)

    def _end_child(self, child: subprocess.Popen[bytes]) -> int:
        """Give the run a few seconds to finish its write-back, then end it. Whatever it had not
        applied stays pending in the outbox for the next run."""
        try:
            return child.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.terminate()
            try:
                return child.wait(timeout=2)
            except subprocess.TimeoutExpired:
                child.kill()
                return child.wait()

    def _sync_once(self) -> None:
        started = self.monotonic()
        with self.state.lock:
            self.state.syncing = True
        self._last_stderr = ""
        with tempfile.TemporaryFile() as out:
            only = [arg for name in self.settings.sources for arg in ("--source", name)]
            code = self._run_child(self._okrsync("sync", "--json", *only), stdout=out)
            out.seek(0)
            failed = _failures_of(out.read(), code, self._last_stderr)
        duration = self.monotonic() - started
        sources = read_sources(self.settings.store_path)
        pending = sum(v.outbox.get("pending", 0) for v in sources.values())
        result = {0: "ok", 1: "failures", 3: "locked"}.get(code, "error")
        if code == -1 or (self._stop.is_set() and code < 0):
            result = "abandoned"
        with self.state.lock:
            self.state.syncing = False
            self.state.runs[result] = self.state.runs.get(result, 0) + 1
            self.state.last_exit_code = code
            self.state.last_duration = duration
            self.state.pending_writebacks = pending
            self.state.sources = sources
            if code == 0:
                self.state.last_success_at = self.clock()
                self.state.consecutive_failures = 0
            elif code != int(ExitCode.LOCKED) and result != "abandoned":
                self.state.consecutive_failures += 1
        fields: dict[str, Any] = {
            "result": result, "exit_code": code, "duration": round(duration, 3),
            "pending_writebacks": pending,
        }
        if failed:
            fields["failed_sources"] = ",".join(name for name, _ in failed)
            fields["reasons"] = "; ".join(f"{name}: {why}" for name, why in failed)
        self._emit("sync", **fields)

    def _measure_once(self) -> None:
        """Measure the KRs that have data sources; a failing source is the child's exit 1,
        logged and counted, and never stops the syncs."""
        code = self._run_child(self._okrsync("measure"))
        result = {0: "ok", 1: "failures"}.get(code, "error")
        with self.state.lock:
            self.state.measures[result] = self.state.measures.get(result, 0) + 1
        self._emit("measure", result=result, exit_code=code)

    def _report_once(self, fire: datetime) -> None:
        code = self._run_child(self._okrsync("report", "--email"))
        if code == 0:
            with self.state.lock:
                self.state.reports_sent += 1
        self._emit("report", scheduled_for=fire.isoformat(), exit_code=code)

    def _remind_once(self) -> None:
        """Reminders and escalations after each sync; a failed delivery (exit 1) is recorded
        by the child and logged here, and never stops the syncs."""
        args = ("remind", "--email") if self.settings.remind_email else ("remind",)
        code = self._run_child(self._okrsync(*args))
        escalations = read_open_escalations(self.settings.store_path)
        with self.state.lock:
            self.state.escalations = escalations
        if code != 0:
            self._emit("remind", result="failures" if code == 1 else "error", exit_code=code)

    def _review_once(self, kind: str, fire: datetime) -> None:
        """One review to its audiences; the store's claim keeps it to once per period even
        when a restarted daemon sees the same fire time again."""
        code = self._run_child(self._okrsync("review", kind, "--email"))
        if code == 0:
            with self.state.lock:
                self.state.reviews_sent += 1
        self._emit("review", kind=kind, scheduled_for=fire.isoformat(), exit_code=code)

    # --- output ------------------------------------------------------------------------------

    def _emit(self, event: str, **fields: Any) -> None:
        """One structured line per event, JSON or `key=value` text, on stderr."""
        record = {"ts": self._now().isoformat(timespec="seconds"), "event": event, **fields}
        if self.settings.log_format == "json":
            line = json.dumps(record, sort_keys=False)
        else:
            line = " ".join(f"{k}={_logfmt(v)}" for k, v in record.items())
        print(line, file=self._log or sys.stderr, flush=True)

    # --- health ------------------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        """200 while syncs succeed; 503 once `unhealthy_after` runs in a row failed, or no
        run has succeeded for far longer than the schedule allows (a hung daemon)."""
        now = self.clock()
        with self.state.lock:
            age = None if self.state.last_success_at is None else (
                now - self.state.last_success_at
            )
            stale_after = max(3 * self.settings.interval * MAX_BACKOFF_FACTOR, 60.0)
            uptime = now - self.state.started_at
            return health_body(
                age=age, uptime=uptime, stale_after=stale_after,
                consecutive_failures=self.state.consecutive_failures,
                unhealthy_after=self.settings.unhealthy_after,
                last_exit_code=self.state.last_exit_code,
                pending_writebacks=self.state.pending_writebacks,
                syncing=self.state.syncing, sources=self.state.sources,
            )

    def metrics(self) -> str:
        with self.state.lock:
            return metrics_text(
                runs=dict(self.state.runs), last_success_at=self.state.last_success_at,
                pending_writebacks=self.state.pending_writebacks,
                last_duration=self.state.last_duration,
                consecutive_failures=self.state.consecutive_failures,
                reports_sent=self.state.reports_sent, sources=self.state.sources,
                reviews_sent=self.state.reviews_sent,
                escalations=dict(self.state.escalations),
            )

    def _start_http(self) -> None:
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                if self.path == "/healthz":
                    status, body = daemon.health()
                    payload = json.dumps(body).encode()
                    ctype = "application/json"
                elif self.path == "/metrics":
                    status, payload = 200, daemon.metrics().encode()
                    ctype = CONTENT_TYPE_LATEST
                else:
                    status, payload, ctype = 404, b"not found\n", "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        port = self.settings.health_port or 0
        self._http = ThreadingHTTPServer((self.settings.health_host, port), Handler)
        self._http.daemon_threads = True
        bound = self._http.server_address[1]
        threading.Thread(
            target=self._http.serve_forever, name="okrsync-health", daemon=True
        ).start()
        self._emit("health_listening", url=f"http://{self.settings.health_host}:{bound}/healthz")



def due_reviews(crons: dict[str, str], timezone: str, after: datetime,
                until: datetime) -> list[tuple[str, datetime]]:
    """The reviews whose cron fired in (after, until], each once (its latest fire), in
    time order: a daemon that slept past two fires sends the review once."""
    due = []
    for kind, expression in crons.items():
        fires = cron_fires(expression, timezone, after, until)
        if fires:
            due.append((kind, fires[-1]))
    return sorted(due, key=lambda d: d[1])


def _failures_of(output: bytes, code: int, stderr_tail: str) -> list[tuple[str, str]]:
    """Which sources a sync child says failed, and why; a child that printed no summary
    (bad config, a crash) failed as a whole, for the reason its last stderr line gives."""
    try:
        summary = json.loads(output)
    except ValueError:
        summary = None
    if isinstance(summary, dict):
        return failed_sources(summary)
    if code in (0, int(ExitCode.LOCKED)) or code < 0:
        return []
    return [("*", stderr_tail or f"exit code {code}")]


def _logfmt(value: object) -> str:
    """A logfmt value: quoted when it holds spaces, quotes or `=`."""
    text = str(value)
    if not text or any(c in text for c in ' "=\t\n'):
        return json.dumps(text)
    return text
