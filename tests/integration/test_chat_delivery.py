"""Slack and Teams messages delivered to a loopback webhook receiver over real HTTP, each
validated against the payload shape its vendor documents (Slack: incoming webhooks take
`text` plus Block Kit `blocks`, at most 50; a header's plain_text at most 150 characters, a
section's text at most 3000, api.slack.com/reference/block-kit/blocks. Teams: an incoming webhook
takes a `message` whose attachment is an Adaptive Card, learn.microsoft.com "Send Adaptive
Cards using an Incoming Webhook"). Hostile text is escaped for each and pings nobody. A
receiver answering 500 or never answering: retried, then recorded; `okrsync remind` exits 1
and the webhook URL appears nowhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from core.model import CheckIn
from syncer.chat.message import ChatMessage, slack_payload, teams_payload
from syncer.chat.webhook import Channel, post
from syncer.cli import main
from syncer.config import load_config
from syncer.rhythm.settings import ChatSection
from syncer.store import Store
from tests.helpers.chat_receiver import receiver
from tests.helpers.rhythm_helpers import write_org
from tests.helpers.store_backends import store_dump

TEXT_OBJECT = {"type": "object", "required": ["type", "text"],
               "properties": {"type": {"enum": ["plain_text", "mrkdwn"]},
                              "text": {"type": "string", "minLength": 1}}}
SLACK_SCHEMA = {
    "type": "object", "required": ["text", "blocks"],
    "properties": {
        "text": {"type": "string"},
        "blocks": {"type": "array", "maxItems": 50, "items": {"oneOf": [
            {"type": "object", "required": ["type", "text"], "additionalProperties": False,
             "properties": {"type": {"const": "header"}, "text": {
                 "allOf": [TEXT_OBJECT, {"properties": {
                     "type": {"const": "plain_text"},
                     "text": {"maxLength": 150}}}]}}},
            {"type": "object", "required": ["type", "text"], "additionalProperties": False,
             "properties": {"type": {"const": "section"}, "text": {
                 "allOf": [TEXT_OBJECT, {"properties": {"text": {"maxLength": 3000}}}]}}},
        ]}},
    },
}
TEXT_RUN = {"type": "object", "required": ["type", "text"],
            "properties": {"type": {"const": "TextRun"}, "text": {"type": "string"}}}
TEAMS_SCHEMA = {
    "type": "object", "required": ["type", "attachments"],
    "not": {"required": ["entities"]},
    "properties": {
        "type": {"const": "message"},
        "attachments": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["contentType", "content"],
            "properties": {
                "contentType": {"const": "application/vnd.microsoft.card.adaptive"},
                "contentUrl": {"type": "null"},
                "content": {
                    "type": "object", "required": ["type", "version", "body", "$schema"],
                    "not": {"required": ["msteams"]},
                    "properties": {
                        "type": {"const": "AdaptiveCard"},
                        "$schema": {"const": "http://adaptivecards.io/schemas/adaptive-card.json"},
                        "version": {"pattern": r"^1\.[0-9]$"},
                        "body": {"type": "array", "items": {
                            "type": "object", "required": ["type", "inlines"],
                            "properties": {"type": {"const": "RichTextBlock"},
                                           "inlines": {"type": "array", "items": TEXT_RUN}}}},
                    }}}}},
    },
}
HOSTILE = "Fix <!channel> & <@U123|boss> <https://evil.test|click> @here *bold* [x](y)"
NOW = datetime(2024, 2, 7, 17, tzinfo=UTC)


def _msg() -> ChatMessage:
    return ChatMessage("escalation", "KR-B", f"Escalation: {HOSTILE}",
                       (f"detail {HOSTILE}", "x" * 5000))


def _fast(attempts: int = 3, timeout: float = 0.3) -> ChatSection:
    return ChatSection(attempts=attempts, timeout_seconds=timeout, retry_wait_seconds=0)


@pytest.mark.parametrize("channel", ["slack", "teams"])
def test_delivered_in_the_documented_shape_and_escaped(channel: str) -> None:
    with receiver() as rx:
        d = post(Channel(channel, rx.url), _msg(), _fast(), now=NOW)
    assert (d.status, d.attempts) == ("sent", 1)
    assert len(rx.bodies) == 1
    body = rx.bodies[0]
    jsonschema.validate(body, SLACK_SCHEMA if channel == "slack" else TEAMS_SCHEMA)
    if channel == "slack":
        mrkdwn = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
        joined = "\n".join(mrkdwn)
        assert "<" not in joined and ">" not in joined
        assert "&lt;!channel&gt; &amp; &lt;@\u2060U123|boss&gt;" in joined
        assert "@here" not in joined and "@\u2060here" in joined
        assert "@here" not in body["text"] and "<!channel>" not in body["text"]
    else:
        runs = [r["text"] for b in body["attachments"][0]["content"]["body"]
                for r in b["inlines"]]
        assert any("<!channel>" in r for r in runs)  # shown as text: TextRuns are no Markdown
        assert not any("@here" in r for r in runs)


def test_payload_builders_agree_with_what_was_sent() -> None:
    jsonschema.validate(slack_payload(_msg()), SLACK_SCHEMA)
    jsonschema.validate(teams_payload(_msg()), TEAMS_SCHEMA)


@pytest.mark.parametrize("mode", ["500", "hang"])
@pytest.mark.parametrize("channel", ["slack", "teams"])
def test_failing_receiver_is_retried_then_recorded(channel: str, mode: str) -> None:
    waits: list[float] = []
    with receiver(mode) as rx:
        d = post(Channel(channel, rx.url), _msg(), _fast(attempts=3, timeout=0.3), now=NOW,
                 sleep=waits.append)
        tries = len(rx.bodies)
    assert d.status == "failed" and d.attempts == 3 and tries == 3
    assert len(waits) == 2
    assert ("HTTP 500" if mode == "500" else "timed out") in d.detail
    assert "s3cr3tpath" not in d.detail and "127.0.0.1" not in d.detail


def test_a_client_error_is_not_retried() -> None:
    with receiver("400") as rx:
        d = post(Channel("slack", rx.url), _msg(), _fast(), now=NOW, sleep=lambda s: None)
        assert len(rx.bodies) == 1
    assert (d.status, d.attempts, d.detail) == ("failed", 1, "HTTP 400 after 1 attempt")


@pytest.mark.usefixtures("store_backend_env")
def test_remind_records_a_failed_delivery_and_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On both backends (the webhook's secret path is searched in every stored row)."""
    extra = ('[chat]\nslack_webhook_env = "OKR_SLACK_URL"\nteams_webhook_env = "OKR_TEAMS_URL"'
             "\nattempts = 2\nretry_wait_seconds = 0\ntimeout_seconds = 0.5\n")
    cfg = write_org(tmp_path, extra=extra)
    config = load_config(cfg)
    with Store.open(config.store_target) as store:
        store.add_checkin(CheckIn("KR-B", 5.0, datetime(2024, 1, 1, 10, tzinfo=UTC),
                                  confidence=0.8))
    with receiver("500") as bad, receiver() as good:
        monkeypatch.setenv("OKR_SLACK_URL", bad.url)
        monkeypatch.setenv("OKR_TEAMS_URL", good.url)
        try:
            main(["remind", "--at", "2024-01-10T17:00:00Z", "--config", str(cfg)])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        slack_tries, teams_bodies = len(bad.bodies), list(good.bodies)
    out, err = capsys.readouterr()
    assert code == 1
    assert "failed: slack reminder" in err and "HTTP 500 after 2 attempts" in err
    # every KR was due on 2024-01-08: three reminders, and two working days later three
    # escalations to the team leads; each message tried twice on Slack, once on Teams
    assert slack_tries == 2 * 6
    assert len(teams_bodies) == 6
    assert "escalated overdue-lead KR-A to lena" in out
    for body in teams_bodies:
        jsonschema.validate(body, TEAMS_SCHEMA)
    with Store.open(config.store_target) as store:
        rows = store.chat_deliveries()
        reminded = store.reminders()
    assert sorted({(d.channel, d.status) for d in rows}) == [("slack", "failed"),
                                                              ("teams", "sent")]
    assert [r[4] for r in reminded] == ["teams"] * 3
    assert "s3cr3tpath" not in out + err
    dump = store_dump(config.store_target)
    assert "slack" in dump
    assert "s3cr3tpath" not in dump
    try:
        main(["status", "--json", "--config", str(cfg)])
    except SystemExit as exc:
        assert not exc.code
    failures = json.loads(capsys.readouterr().out)["chat_failures"]
    assert len(failures) == 6 and {f["channel"] for f in failures} == {"slack"}
    assert all(f["detail"] == "HTTP 500 after 2 attempts" for f in failures)
    teams_text = json.dumps(teams_bodies)
    assert "okrsync checkin KR-B 5 --confidence" in teams_text
