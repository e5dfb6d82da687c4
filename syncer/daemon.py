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
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from syncer.errors import ExitCode
from syncer.schedule import MAX_BACKOFF_FACTOR, cron_fires, next_sync_delay, window_start

log = logging.getLogger("okrsync.daemon")

STOP_GRACE_SECONDS = 5.0


@dataclass
class DaemonSettings:
    config_path: Path
    store_path: Path
    interval: float
    jitter: float
    report_cron: str
    report_timezone: str
    health_port: int | None = None
    health_host: str = "127.0.0.1"
    log_format: str = "text"
    report_enabled: bool = True
    report_lookback: timedelta = timedelta(hours=1)
    measure_every: float = 0.0


@dataclass
class DaemonState:
    """What /healthz and /metrics show; updated by the loop, read by the HTTP thread."""

    started_at: float = field(default_factory=time.time)
    runs: dict[str, int] = field(default_factory=dict)
    last_success_at: float | None = None
    last_exit_code: int | None = None
    last_duration: float = 0.0
    consecutive_failures: int = 0
    reports_sent: int = 0
    measures: dict[str, int] = field(default_factory=dict)
    pending_writebacks: int = 0
    syncing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def pending_writebacks(store_path: Path) -> int:
    """Pending outbox rows, read through a read-only connection (the daemon never writes)."""
    import sqlite3

    if not store_path.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=2)
        try:
            row = con.execute("select count(*) from outbox where status = 'pending'").fetchone()
            return int(row[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def measure_due(last: float | None, now: float, every: float) -> bool:
    """Whether the daemon should measure now: on its first loop, then every `every` seconds
    (0 = never)."""
    return every > 0 and (last is None or now - last >= every)


class Daemon:
    def __init__(self, settings: DaemonSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.state = DaemonState()
        self.rng = rng or random.Random()
        self._stop = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._child_lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None

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
        report_checked = window_start(datetime.now(UTC), self.settings.report_lookback)
        measured_at: float | None = None
        try:
            while not self._stop.is_set():
                self._sync_once()
                if self._stop.is_set():
                    break
                if measure_due(measured_at, time.monotonic(), self.settings.measure_every):
                    measured_at = time.monotonic()
                    self._measure_once()
                now = datetime.now(UTC)
                if self.settings.report_enabled:
                    fires = cron_fires(
                        self.settings.report_cron, self.settings.report_timezone,
                        report_checked, now,
                    )
                    report_checked = now
                    if fires:
                        self._report_once(fires[-1])
                delay = next_sync_delay(
                    self.settings.interval, self.settings.jitter,
                    self.state.consecutive_failures, self.rng,
                )
                self._stop.wait(delay)
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

    def _run_child(self, argv: list[str]) -> int:
        """Run one child to completion, or until a stop request plus the grace period."""
        with self._child_lock:
            if self._stop.is_set():
                return -1
            child = subprocess.Popen(  # noqa: S603 - argv built from our own executable
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True,
            )
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
            if child.stderr is not None:
                tail = child.stderr.read()[-2000:].decode(errors="replace").strip()
                child.stderr.close()
                if tail and child.returncode not in (0, None):
                    self._emit("child_stderr", text=tail.splitlines()[-1][:500])

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
        started = time.monotonic()
        with self.state.lock:
            self.state.syncing = True
        code = self._run_child(self._okrsync("sync", "--json"))
        duration = time.monotonic() - started
        pending = pending_writebacks(self.settings.store_path)
        result = {0: "ok", 1: "failures", 3: "locked"}.get(code, "error")
        if code == -1 or (self._stop.is_set() and code < 0):
            result = "abandoned"
        with self.state.lock:
            self.state.syncing = False
            self.state.runs[result] = self.state.runs.get(result, 0) + 1
            self.state.last_exit_code = code
            self.state.last_duration = duration
            self.state.pending_writebacks = pending
            if code == 0:
                self.state.last_success_at = time.time()
                self.state.consecutive_failures = 0
            elif code != int(ExitCode.LOCKED) and result != "abandoned":
                self.state.consecutive_failures += 1
        self._emit("sync", result=result, exit_code=code, duration=round(duration, 3),
                   pending_writebacks=pending)

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

    # --- output ------------------------------------------------------------------------------

    def _emit(self, event: str, **fields: Any) -> None:
        """One structured line per event, JSON or `key=value` text, on stderr."""
        record = {"ts": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, **fields}
        if self.settings.log_format == "json":
            line = json.dumps(record, sort_keys=False)
        else:
            line = " ".join(f"{k}={v}" for k, v in record.items())
        print(line, file=sys.stderr, flush=True)

    # --- health ------------------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        with self.state.lock:
            age = None if self.state.last_success_at is None else (
                time.time() - self.state.last_success_at
            )
            body = {
                "status": "ok",
                "last_success_age_seconds": None if age is None else round(age, 1),
                "last_exit_code": self.state.last_exit_code,
                "pending_writebacks": self.state.pending_writebacks,
                "consecutive_failures": self.state.consecutive_failures,
                "syncing": self.state.syncing,
            }
        stale_after = max(3 * self.settings.interval * MAX_BACKOFF_FACTOR, 60.0)
        uptime = time.time() - self.state.started_at
        healthy = (age is not None and age <= stale_after) or (age is None and uptime < stale_after)
        if not healthy:
            body["status"] = "stale"
        return (200 if healthy else 503), body

    def metrics(self) -> str:
        with self.state.lock:
            lines = [
                "# HELP okrsync_sync_runs_total Sync runs by result.",
                "# TYPE okrsync_sync_runs_total counter",
            ]
            for result, n in sorted(self.state.runs.items()):
                lines.append(f'okrsync_sync_runs_total{{result="{result}"}} {n}')
            lines += [
                "# HELP okrsync_last_success_timestamp_seconds Unix time of the last clean sync.",
                "# TYPE okrsync_last_success_timestamp_seconds gauge",
                f"okrsync_last_success_timestamp_seconds {self.state.last_success_at or 0:.3f}",
                "# HELP okrsync_pending_writebacks Write-backs waiting in the outbox.",
                "# TYPE okrsync_pending_writebacks gauge",
                f"okrsync_pending_writebacks {self.state.pending_writebacks}",
                "# HELP okrsync_last_sync_duration_seconds Duration of the last sync.",
                "# TYPE okrsync_last_sync_duration_seconds gauge",
                f"okrsync_last_sync_duration_seconds {self.state.last_duration:.3f}",
                "# HELP okrsync_consecutive_failures Failed syncs in a row (drives backoff).",
                "# TYPE okrsync_consecutive_failures gauge",
                f"okrsync_consecutive_failures {self.state.consecutive_failures}",
                "# HELP okrsync_measure_runs_total Measure runs of KR data sources by result.",
                "# TYPE okrsync_measure_runs_total counter",
                *(f'okrsync_measure_runs_total{{result="{r}"}} {n}'
                  for r, n in sorted(self.state.measures.items())),
                "# HELP okrsync_reports_sent_total Weekly reports sent by this daemon.",
                "# TYPE okrsync_reports_sent_total counter",
                f"okrsync_reports_sent_total {self.state.reports_sent}",
            ]
        return "\n".join(lines) + "\n"

    def _start_http(self) -> None:
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/healthz":
                    status, body = daemon.health()
                    payload = json.dumps(body).encode()
                    ctype = "application/json"
                elif self.path == "/metrics":
                    status, payload = 200, daemon.metrics().encode()
                    ctype = "text/plain; version=0.0.4; charset=utf-8"
                else:
                    status, payload, ctype = 404, b"not found\n", "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        port = self.settings.health_port or 0
        self._http = ThreadingHTTPServer((self.settings.health_host, port), Handler)
        self._http.daemon_threads = True
        bound = self._http.server_address[1]
        threading.Thread(
            target=self._http.serve_forever, name="okrsync-health", daemon=True
        ).start()
        self._emit("health_listening", url=f"http://{self.settings.health_host}:{bound}/healthz")

