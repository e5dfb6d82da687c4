"""The daemon makes a failing source visible: its log line names the source and the reason,
`/healthz` turns 503 after `unhealthy_after` failed runs in a row and lists each source's state,
and `/metrics` carries per-source gauges in the Prometheus text format. The syncs are real
child processes against the sandboxes; the daemon's clock and sleep are injected."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbox import Sandbox, sandbox
from syncer.daemon import Daemon, DaemonSettings
from tests.helpers.e2e import ROOT, config, project

pytestmark = pytest.mark.usefixtures("store_backend_env")


class FakeTime:
    """The daemon's clock and sleep: each wait moves time on and lets the test act."""

    def __init__(self, sb: Sandbox, daemon_runs: int, fail_from: int) -> None:
        self.now = 1_800_000_000.0
        self.waits = 0
        self.sb = sb
        self.daemon_runs = daemon_runs
        self.fail_from = fail_from
        self.daemon: Daemon | None = None
        self.health: list[tuple[int, dict[str, object]]] = []

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        assert self.daemon is not None
        self.health.append(self.daemon.health())
        self.waits += 1
        self.now += seconds
        if self.waits == self.fail_from:
            self.sb.set_faults("500:1.0", server="jira")
        if self.waits >= self.daemon_runs:
            self.daemon.request_stop()


def _daemon(tmp_path: Path, sb: Sandbox, fake: FakeTime, log: io.StringIO,
            *, port: int | None = None) -> Daemon:
    cfg = config(project(tmp_path, sb), sb)
    settings = DaemonSettings(
        config_path=Path(cfg.path), store_path=cfg.store_target, interval=900, jitter=0,
        report_cron="0 8 * * 1", report_timezone="UTC", report_enabled=False,
        log_format="json", health_port=port, unhealthy_after=cfg.daemon.unhealthy_after,
    )
    daemon = Daemon(settings, rng=random.Random(1), clock=fake.clock, wait=fake.wait,
                    log_stream=log)
    fake.daemon = daemon
    return daemon


@contextmanager
def _jira_fails_after_the_first_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, seed: int, runs: int,
    port: int | None = None,
) -> Iterator[tuple[Sandbox, FakeTime, Daemon, io.StringIO]]:
    """A daemon over a sandbox whose Jira answers 500 from the second run on; its sync
    children inherit the tokens and give up on the first 500."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("OKRSYNC_SOURCES__JIRA__MAX_RETRIES", "0")
    with sandbox(epics=20, seed=seed) as sb:
        monkeypatch.setenv("OKRSYNC_SOURCES__JIRA__TOKEN", sb.token)
        monkeypatch.setenv("OKRSYNC_SOURCES__GITHUB__TOKEN", sb.token)
        log = io.StringIO()
        fake = FakeTime(sb, daemon_runs=runs, fail_from=1)
        yield sb, fake, _daemon(tmp_path, sb, fake, log, port=port), log


def test_a_failing_source_is_named_in_the_log_and_turns_healthz_503_after_3_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _jira_fails_after_the_first_run(tmp_path, monkeypatch, seed=5, runs=4) as (
            sb, fake, daemon, log):
        assert daemon.run() == 0

    events = [json.loads(line) for line in log.getvalue().splitlines()]
    syncs = [e for e in events if e["event"] == "sync"]
    assert [e["result"] for e in syncs] == ["ok", "failures", "failures", "failures"]
    for failed in syncs[1:]:
        assert failed["failed_sources"] == "jira"
        assert failed["reasons"].startswith("jira: pull failed:")
        assert "500" in failed["reasons"]
    assert "failed_sources" not in syncs[0]

    codes = [code for code, _ in fake.health]
    assert codes == [200, 200, 200, 503]
    code, body = fake.health[-1]
    assert body["status"] == "failing" and body["consecutive_failures"] == 3
    sources = body["sources"]
    assert isinstance(sources, dict)
    assert sources["jira"]["state"] == "failing"
    assert sources["jira"]["consecutive_failures"] == 3
    assert "500" in sources["jira"]["last_reason"]
    assert sources["github"]["state"] == "ok"
    assert sources["jira"]["last_success_at"] is not None
    assert sb.token not in log.getvalue()


def test_metrics_has_per_source_gauges_in_prometheus_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _jira_fails_after_the_first_run(tmp_path, monkeypatch, seed=6, runs=2, port=0) as (
            sb, fake, daemon, _log):
        scraped: dict[str, str] = {}
        original_wait = fake.wait

        def wait_and_scrape(seconds: float) -> None:
            assert daemon._http is not None
            port = daemon._http.server_address[1]
            got = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            scraped[f"after run {fake.waits + 1}"] = got.text
            assert got.headers["content-type"].startswith("text/plain")
            original_wait(seconds)

        daemon._wait = wait_and_scrape
        assert daemon.run() == 0
        jira_epics = len(list(sb.jira.keys()))

    def gauges(text: str) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[(sample.name, sample.labels.get("source", ""))] = sample.value
        return out

    ok, failing = gauges(scraped["after run 1"]), gauges(scraped["after run 2"])
    for name in ("epics", "linked", "untraceable", "pending_writebacks",
                 "parked_writebacks", "deferred_writebacks", "last_success_timestamp_seconds",
                 "up", "consecutive_failures"):
        for source in ("jira", "github"):
            assert (f"okrsync_source_{name}", source) in ok, (name, source)
    assert ok[("okrsync_source_epics", "jira")] == jira_epics
    assert ok[("okrsync_source_linked", "jira")] > 0
    assert ok[("okrsync_source_up", "jira")] == 1
    assert ok[("okrsync_source_last_success_timestamp_seconds", "jira")] > 0
    assert ok[("okrsync_sync_runs_total", "")] == 1
    assert failing[("okrsync_source_up", "jira")] == 0
    assert failing[("okrsync_source_up", "github")] == 1
    assert failing[("okrsync_source_consecutive_failures", "jira")] == 1
    assert failing[("okrsync_source_last_success_timestamp_seconds", "jira")] == (
        ok[("okrsync_source_last_success_timestamp_seconds", "jira")])
