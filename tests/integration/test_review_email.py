"""`okrsync review ... --email` over real SMTP (aiosmtpd) and a loopback chat webhook: each
audience gets the review once per period (the weekly per team to its lead, monthly to the
leadership list), a second run sends nothing, `--force` sends again, and a failed send
gives its claim back so the next run sends."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from syncer.catalog import load_catalog
from syncer.cli import main
from syncer.config import load_config
from syncer.mail import RetryPolicy
from syncer.rhythm.review import ReviewKind
from syncer.rhythm.reviews import send_review
from syncer.store import Store
from tests.helpers.chat_receiver import receiver
from tests.helpers.rhythm_helpers import simulate_weeks
from tests.helpers.store_backends import clear_env_but_store
from tests.integration.test_mail import Sink, free_port

AT = "2024-02-05T09:00:00Z"
FAST = RetryPolicy(attempts=2, initial_wait=0.0, max_wait=0.0)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, store_target: Path | str) -> None:
    """No OKRSYNC_* variable of the shell; the store under test on each backend."""
    clear_env_but_store(monkeypatch, store_target)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, _ = capsys.readouterr()
    return code, json.loads(out) if out.strip().startswith("{") else {}


def test_reviews_go_once_per_period_per_audience(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with receiver() as chat:
            extra = (f'[smtp]\nhost = "127.0.0.1"\nport = {controller.port}\n'
                     'security = "none"\n[review]\nrecipients = ["cto@example.com"]\n'
                     '[chat]\nslack_webhook_env = "OKR_SLACK"\nretry_wait_seconds = 0\n')
            cfg = simulate_weeks(tmp_path, 5)
            cfg.write_text(cfg.read_text() + extra)
            monkeypatch.setenv("OKR_SLACK", chat.url)
            code, first = run(["review", "weekly", "--email", "--at", AT, "-c", str(cfg)],
                              capsys)
            assert code == 0
            sent = sorted((o["kind"], o["to"]) for o in first["outcomes"]
                          if o["status"] == "sent")
            # pay's lead lena has an email; web's lead walt has none: he is reached by chat
            assert sent == [("review-weekly", "chat:slack"),
                            ("review-weekly", "cto@example.com"),
                            ("review-weekly:team:pay", "lena@example.com")]
            code, again = run(["review", "weekly", "--email", "--at", AT, "-c", str(cfg)],
                              capsys)
            assert code == 0 and {o["status"] for o in again["outcomes"]} == {"skipped"}
            code, _ = run(["review", "monthly", "--email", "--at", AT, "-c", str(cfg)], capsys)
            assert code == 0
            code, forced = run(["review", "weekly", "--email", "--force", "--at", AT,
                                "-c", str(cfg)], capsys)
            assert {o["status"] for o in forced["outcomes"]} == {"sent"}
            chat_posts = len(chat.bodies)
    finally:
        controller.stop()
    to = [rcpt for rcpt, _ in sink.received]
    assert to == [["lena@example.com"], ["cto@example.com"], ["cto@example.com"],
                  ["lena@example.com"], ["cto@example.com"]]
    first_mail = email.message_from_bytes(sink.received[0][1], policy=email.policy.default)
    assert first_mail["Subject"] == "Weekly review 2024-W06 — team pay"
    assert chat_posts == 3  # weekly, monthly, forced weekly


def test_a_failed_send_is_reported_and_gives_the_claim_back(tmp_path: Path) -> None:
    cfg = simulate_weeks(tmp_path, 2)
    dead = free_port()
    cfg.write_text(cfg.read_text() + f'[smtp]\nhost = "127.0.0.1"\nport = {dead}\n'
                   'security = "none"\ntimeout = 1\n[review]\nrecipients = ["cto@example.com"]\n')
    config = load_config(cfg)
    catalog = load_catalog(config.catalog_path)
    now = datetime(2024, 1, 10, 9, tzinfo=UTC)
    with Store.open(config.store_target) as store:
        failed = send_review(store, catalog, config, ReviewKind.MONTHLY, now=now, environ={},
                             retry=FAST)
        assert failed.failed and failed.outcomes[0]["status"] == "failed"
        sink = Sink()
        controller = Controller(sink, hostname="127.0.0.1", port=dead)
        controller.start()
        try:
            sent = send_review(store, catalog, config, ReviewKind.MONTHLY, now=now,
                               environ={}, retry=FAST)
        finally:
            controller.stop()
    assert not sent.failed and sent.outcomes[0]["status"] == "sent"
    assert len(sink.received) == 1
