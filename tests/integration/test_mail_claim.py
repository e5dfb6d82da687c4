"""The weekly email is claimed before it is sent: two `report --email` at once (a daemon and
a timer, two replicas) send one message; a failed send gives the claim back."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from syncer.config import load_config
from syncer.mail import RetryPolicy, SendResult, send_weekly_report
from syncer.store import Store
from tests.helpers.store_backends import clear_env_but_store
from tests.integration.test_mail import Sink, free_port, project

FAST = RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.02)
NOW = dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.UTC)
AUDIENCE = "cto@example.com,lead@example.com"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, store_target: Path | str) -> None:
    """No OKRSYNC_* variable of the shell; the store under test on each backend (four
    concurrent claimants race in PostgreSQL's transactions too)."""
    clear_env_but_store(monkeypatch, store_target)


def test_two_senders_at_once_send_one_message(tmp_path: Path) -> None:
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        config = load_config(project(tmp_path, controller.port))
        start = threading.Barrier(4)
        results: list[SendResult] = []

        def send() -> None:
            start.wait()
            results.append(send_weekly_report(config, now=NOW, retry=FAST))

        threads = [threading.Thread(target=send) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        controller.stop()
    assert len(handler.received) == 1
    statuses = sorted(d.status for r in results for d in r.deliveries)
    assert statuses == ["sent", "skipped", "skipped", "skipped"]
    assert all(r.exit_code == 0 for r in results)
    with Store.open(config.store_target) as store:
        row = store.sent_report("2026-W14", "weekly-all", AUDIENCE)
    assert row is not None and row.times == 1


def test_a_claim_is_won_once_given_back_on_failure_and_taken_over_when_stale(
    store_target: Path | str,
) -> None:
    db = store_target
    with Store.open(db) as first, Store.open(db) as second:
        assert first.claim_report("2026-W14", "weekly-all", AUDIENCE, now=NOW, message_id="a")
        assert not second.claim_report("2026-W14", "weekly-all", AUDIENCE, now=NOW,
                                       message_id="b")
        first.release_report_claim("2026-W14", "weekly-all", AUDIENCE)
        assert second.claim_report("2026-W14", "weekly-all", AUDIENCE, now=NOW, message_id="b")
        later = NOW + dt.timedelta(hours=2)  # the claimant died before confirming
        assert first.claim_report("2026-W14", "weekly-all", AUDIENCE, now=later,
                                  message_id="c")
        first.record_sent_report("2026-W14", "weekly-all", AUDIENCE, now=later, message_id="c")
        much_later = NOW + dt.timedelta(days=2)
        assert not second.claim_report("2026-W14", "weekly-all", AUDIENCE, now=much_later,
                                       message_id="d"), "a confirmed send is never taken over"
        first.release_report_claim("2026-W14", "weekly-all", AUDIENCE)
        row = first.sent_report("2026-W14", "weekly-all", AUDIENCE)
        assert row is not None and row.times == 1 and row.message_id == "c"
