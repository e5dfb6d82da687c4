"""One chat message in plain values, and its Slack and Teams payloads.

Ticket and check-in text is untrusted. Slack: the three characters its mrkdwn treats as
control characters (`&`, `<`, `>`) become HTML entities, as Slack's formatting reference asks,
so no `<!channel>`, `<@U…>` or link can be smuggled in; an `@` is followed by a word joiner
so no `@channel` or `@here` pings. Teams: untrusted text goes into `TextRun`s of a
`RichTextBlock`, which Adaptive Cards render without Markdown, and the card carries no
`msteams.entities`, so nobody is mentioned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WORD_JOINER = "\u2060"
SLACK_SECTION_MAX = 3000
SLACK_HEADER_MAX = 150
ADAPTIVE_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True)
class ChatMessage:
    """`kind` (reminder, escalation, review-weekly...) and `subject` (a KR, team or period)
    identify it in the delivery records; `title` and `lines` are plain, untrusted text."""

    kind: str
    subject: str
    title: str
    lines: tuple[str, ...]


def no_pings(text: str) -> str:
    return text.replace("@", "@" + WORD_JOINER)


def slack_escape(text: str) -> str:
    """Slack's documented escaping (only these three), then no pings."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return no_pings(escaped)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(msg: ChatMessage) -> dict[str, Any]:
    """An incoming-webhook body: `text` (the notification fallback) and Block Kit blocks,
    a plain_text header and mrkdwn sections of at most 3000 characters each."""
    title = _cut(no_pings(msg.title), SLACK_HEADER_MAX)
    body = [slack_escape(line) for line in msg.lines]
    sections: list[str] = []
    current = ""
    for line in body:
        line = _cut(line, SLACK_SECTION_MAX)
        if current and len(current) + 1 + len(line) > SLACK_SECTION_MAX:
            sections.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        sections.append(current)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": s}}
               for s in sections[:48]]
    return {"text": slack_escape(msg.title), "blocks": blocks}


def teams_payload(msg: ChatMessage) -> dict[str, Any]:
    """A Teams incoming-webhook body: a `message` with one Adaptive Card attachment."""
    body: list[dict[str, Any]] = [{
        "type": "RichTextBlock",
        "inlines": [{"type": "TextRun", "text": no_pings(msg.title), "weight": "Bolder",
                     "size": "Medium"}],
    }]
    body += [{"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": no_pings(line)}]}
             for line in msg.lines]
    card = {"$schema": ADAPTIVE_SCHEMA, "type": "AdaptiveCard", "version": "1.4",
            "body": body}
    return {"type": "message", "attachments": [
        {"contentType": ADAPTIVE_CONTENT_TYPE, "contentUrl": None, "content": card}]}
