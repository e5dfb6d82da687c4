"""The daemon's rhythm schedule under an injected clock (no child processes, no sleeping):
`okrsync remind` after every sync, each review on its cron and once per fire, and the
reviews-sent counter on /metrics."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncer.daemon import Daemon, DaemonSettings, due_reviews

CRONS = {"weekly": "0 9 * * 1", "monthly": "0 9 1 * *", "quarterly": "0 9 1 1,4,7,10 *"}


def test_due_reviews_fire_once_per_window() -> None:
    after = datetime(2024, 3, 31, 12, tzinfo=UTC)  # a Sunday
    until = datetime(2024, 4, 1, 10, tzinfo=UTC)  # Monday 1 April: all three fire
    assert [k for k, _ in due_reviews(CRONS, "UTC", after, until)] == [
        "weekly", "monthly", "quarterly"]
    assert due_reviews(CRONS, "UTC", until, until + timedelta(hours=1)) == []
    week = due_reviews(CRONS, "UTC", after, after + timedelta(days=15))
    assert [k for k, _ in week] == ["monthly", "quarterly", "weekly"]  # two Mondays: one send


class Recording(Daemon):
    def __init__(self, settings: DaemonSettings, times: list[float]) -> None:
        self.times = times
        self.argv: list[list[str]] = []
        super().__init__(settings, clock=lambda: self.times[0], wait=self._advance,
                         log_stream=io.StringIO())

    def _advance(self, seconds: float) -> None:
        self.times.pop(0)
        if not self.times[1:]:
            self.request_stop()

    def _run_child(self, argv: list[str], stdout: object = None) -> int:
        self.argv.append(argv[3:-2])
        if stdout is not None:
            stdout.write(b"{}")  # type: ignore[attr-defined]
        return 0


def test_daemon_reminds_after_each_sync_and_sends_reviews_on_schedule(tmp_path: Path) -> None:
    start = datetime(2024, 3, 31, 8, 30, tzinfo=UTC).timestamp()
    hours = [start + 3600 * h for h in (0, 1, 2, 26, 27)]  # Sun 8:30 ... Mon 10:30
    settings = DaemonSettings(
        config_path=tmp_path / "okrsync.toml", store_path=tmp_path / "okrsync.db",
        interval=3600, jitter=0, report_cron="0 8 * * 1", report_timezone="UTC",
        report_enabled=False, rhythm_enabled=True, review_crons=CRONS,
        report_lookback=timedelta(0))
    daemon = Recording(settings, hours)
    daemon.run()
    assert daemon.argv.count(["remind"]) == daemon.argv.count(["sync", "--json"]) == 4
    reviews = [a for a in daemon.argv if a[0] == "review"]
    assert reviews == [["review", "weekly", "--email"], ["review", "monthly", "--email"],
                       ["review", "quarterly", "--email"]]
    assert "okrsync_reviews_sent_total 3.0" in daemon.metrics()


@pytest.mark.usefixtures("store_backend_env")
def test_metrics_show_open_escalations_by_rule(tmp_path: Path) -> None:
    """On both backends: the escalations are read through a read-only store."""
    from syncer.config import load_config
    from tests.helpers.rhythm_helpers import simulate_weeks

    store_path = load_config(simulate_weeks(tmp_path, 6)).store_target
    start = datetime(2024, 2, 9, 8, tzinfo=UTC).timestamp()
    settings = DaemonSettings(
        config_path=tmp_path / "okrsync.toml", store_path=store_path, interval=3600,
        jitter=0, report_cron="0 8 * * 1", report_timezone="UTC", report_enabled=False,
        rhythm_enabled=True, review_crons={}, report_lookback=timedelta(0))
    daemon = Recording(settings, [start, start + 3600])
    daemon.run()
    text = daemon.metrics()
    assert 'okrsync_open_escalations{rule="overdue-lead"} 1.0' in text
    assert 'okrsync_open_escalations{rule="team-lagging"} 2.0' in text
