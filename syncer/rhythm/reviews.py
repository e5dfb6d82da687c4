"""The reviews' shell: gather what a review needs from the store, and send it once per period
per audience (claimed before sending, like the weekly report), by mail and chat."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any

import httpx

from core.model import Catalog
from syncer.chat.message import ChatMessage
from syncer.chat.webhook import Sleeper, channels, post
from syncer.rhythm.assess import day_in
from syncer.rhythm.render import ReviewFormat, render_review, title_of
from syncer.rhythm.review import Review, ReviewKind, build_review
from syncer.rhythm.run import SCORECARD_SNAPSHOT, assess_store
from syncer.store_rhythm import ChatDelivery

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.mail import RetryPolicy
    from syncer.store import Store


def _verdicts(store: Store, catalog: Catalog, cycle: str, now: datetime) -> dict[str, Any]:
    from syncer.reports.verdicts import build_verdicts

    section = build_verdicts(catalog=catalog, bets=store.bets(),
                             tickets={t.uid: t for t in store.iter_tickets()},
                             checkins=store.checkins(), now=now)
    items = [i for i in section.items if i.cycle == cycle] or list(section.items)
    judged = [i for i in items if i.outcome in ("MOVED", "MOVED_WRONG_WAY", "NO_EFFECT")]
    moved = sum(i.outcome == "MOVED" for i in judged)
    return {"judged": len(judged), "moved": moved,
            "hit_rate": moved / len(judged) if judged else None,
            "killed": sum(i.outcome == "KILLED" for i in items),
            "items": [{"key": i.key, "title": i.title, "kr_id": i.kr_id, "outcome": i.outcome}
                      for i in items]}


def load_review(store: Store, catalog: Catalog, config: Config, kind: ReviewKind, *,
                now: datetime, team: str | None = None) -> Review:
    found = assess_store(store, catalog, config, now)
    snaps = [s for s in store.report_snapshots(SCORECARD_SNAPSHOT, 27)
             if s.week <= found.week][-14:]
    trace = [(s.week, {c["team"]: c["traceable"] for c in s.data.get("teams", [])
                       if team is None or c["team"] == team}) for s in snaps]
    verdicts = _verdicts(store, catalog, found.window.label, now) if (
        kind is ReviewKind.QUARTERLY) else None
    as_of = [e if e.closed_at is None or e.closed_at <= now else replace(e, closed_at=None)
             for e in store.escalations() if e.opened_at <= now]
    return build_review(kind, found, catalog, store.checkins(), as_of,
                        day_in(config.report.timezone), team=team, traceable_weeks=trace,
                        verdicts=verdicts)


@dataclass(frozen=True)
class Audience:
    """One copy of a review: its ledger kind, the team part (None: everything), mail to."""

    kind: str
    team: str | None
    recipients: tuple[str, ...]


def audiences(config: Config, kind: ReviewKind, team: str | None = None) -> list[Audience]:
    """Weekly: each team's lead gets the team's part (and the leadership list the whole).
    Monthly and quarterly: `[review] recipients`. Chat gets one summary per review."""
    base = f"review-{kind.value}"
    out: list[Audience] = []
    if kind is ReviewKind.WEEKLY:
        for name, t in config.teams.items():
            if team is not None and name != team:
                continue
            lead = config.rhythm.person(t.lead or t.owner).email or t.email
            if lead:
                out.append(Audience(f"{base}:team:{name}", name, (lead,)))
    if config.rhythm.review.recipients and team is None:
        out.append(Audience(base, None, tuple(config.rhythm.review.recipients)))
    return out


@dataclass
class ReviewSend:
    period: str = ""
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(o["status"] == "failed" for o in self.outcomes)


def _summary(review: Review) -> ChatMessage:
    lines = [f"{len(review.krs)} key results; lagging: {', '.join(review.lagging) or 'none'}"]
    lines += [f"{k.kr_id} {k.title}: confidence {k.confidence_status}, pace {k.pace}"
              + (" — check-in missing" if k.missing else "") for k in review.krs[:20]]
    lines += [f"Escalation {e['rule']} {e['subject']} → {e['notify'] or '–'}: {e['detail']}"
              for e in review.escalations if e["open"]][:20]
    return ChatMessage(f"review-{review.kind.value}", review.period, title_of(review),
                       tuple(lines))


def send_review(
    store: Store, catalog: Catalog, config: Config, kind: ReviewKind, *, now: datetime,
    team: str | None = None, force: bool = False, environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None, sleep: Sleeper = time.sleep,
    retry: RetryPolicy | None = None,
) -> ReviewSend:
    """Mail every audience and post the chat summary, each at most once per period (unless
    `force`); a failed send gives its claim back so the next run tries again."""
    from syncer.mail import MailError, recipient_key, send_message

    env = os.environ if environ is None else environ
    whole = load_review(store, catalog, config, kind, now=now)
    result = ReviewSend(whole.period)
    for aud in audiences(config, kind, team):
        review = whole if aud.team is None else load_review(store, catalog, config, kind,
                                                            now=now, team=aud.team)
        who = recipient_key(aud.recipients)
        msg = _compose(review, config, aud.recipients, now)
        if not force and not store.claim_report(review.period, aud.kind, who, now=now,
                                                message_id=str(msg["Message-ID"])):
            result.outcomes.append({"kind": aud.kind, "to": who, "status": "skipped"})
            continue
        try:
            send_message(config.smtp, msg, retry=retry)
        except MailError as exc:
            if not force:
                store.release_report_claim(review.period, aud.kind, who)
            result.outcomes.append({"kind": aud.kind, "to": who, "status": "failed",
                                    "detail": str(exc)})
            continue
        store.record_sent_report(review.period, aud.kind, who, now=now,
                                 message_id=str(msg["Message-ID"]))
        result.outcomes.append({"kind": aud.kind, "to": who, "status": "sent"})
    summary = _summary(whole if team is None else load_review(
        store, catalog, config, kind, now=now, team=team))
    ledger = f"review-{kind.value}" + (f":team:{team}" if team else "")
    for channel in channels(config.rhythm.chat, env):
        who = f"chat:{channel.name}"
        if not force and not store.claim_report(whole.period, ledger, who, now=now,
                                                message_id=""):
            result.outcomes.append({"kind": ledger, "to": who, "status": "skipped"})
            continue
        d: ChatDelivery = post(channel, summary, config.rhythm.chat, now=now,
                               transport=transport, sleep=sleep)
        store.record_chat_delivery(d)
        if d.status == "sent":
            store.record_sent_report(whole.period, ledger, who, now=now)
        elif not force:
            store.release_report_claim(whole.period, ledger, who)
        result.outcomes.append({"kind": ledger, "to": who, "status": d.status,
                                "detail": d.detail})
    return result


def _compose(review: Review, config: Config, to: tuple[str, ...], now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = re.sub(r"[\r\n]+", " ", title_of(review))
    msg["From"] = config.smtp.sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(now)
    domain = config.smtp.sender.rpartition("@")[2] or "okrsync.invalid"
    msg["Message-ID"] = make_msgid(idstring=f"okrsync.review.{review.period}", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(render_review(review, ReviewFormat.TEXT))
    msg.add_alternative(render_review(review, ReviewFormat.HTML), subtype="html")
    return msg
