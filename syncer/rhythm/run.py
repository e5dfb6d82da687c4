"""The rhythm's imperative shell: read the store, assess, record reminders and escalations
once, and deliver what is new by chat (and mail, when asked), recording every outcome."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import httpx

from core.model import Catalog
from syncer.chat.message import ChatMessage
from syncer.chat.webhook import Sleeper, deliver
from syncer.rhythm.assess import Assessment, assess
from syncer.rhythm.escalation import Finding
from syncer.rhythm.people import Org, build_org
from syncer.rhythm.reminders import Reminder, reminder_text
from syncer.rhythm.scorecard import Epic
from syncer.store_rhythm import ChatDelivery, EscalationRow

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.store import Store

SCORECARD_SNAPSHOT = "rhythm-scorecard"


def org_of(config: Config, catalog: Catalog) -> Org:
    people = {name: p.team for name, p in config.rhythm.people.items() if p.team}
    leads = {name: t.lead or t.owner for name, t in config.teams.items()}
    return build_org(catalog, people, leads)


def epics_of(store: Store, config: Config) -> list[Epic]:
    """Stored epics with a team, minus run-the-business work (`[labels] ktlo`)."""
    linked = {(link.source, link.ticket_key) for link in store.links()}
    ktlo = {k.casefold() for k in config.labels.ktlo}
    out = []
    for t in store.iter_tickets():
        team = config.team_of(t.project)
        if team is None or any(label.casefold() in ktlo for label in t.labels):
            continue
        is_linked = (t.source, t.key) in linked
        out.append(Epic(team.name, is_linked, is_linked and bool(t.hypothesis)))
    return out


def lagging_history(store: Store, week: str, weeks: int) -> list[frozenset[str]]:
    """Teams lagging in the stored scorecards of the weeks before `week`, newest first."""
    snaps = [s for s in store.report_snapshots(SCORECARD_SNAPSHOT, weeks + 1) if s.week < week]
    return [frozenset(s.data.get("lagging", [])) for s in reversed(snaps)][:weeks]


def assess_store(store: Store, catalog: Catalog, config: Config, now: datetime) -> Assessment:
    from syncer.reports.weeks import week_of

    week = str(week_of(now, config.report.timezone))
    need = config.rhythm.escalation.lagging_weeks
    return assess(catalog, store.checkins(), epics_of(store, config), list(config.teams),
                  org_of(config, catalog), config.rhythm, config.report.timezone, now,
                  lagging_history(store, week, need))


@dataclass
class TickResult:
    assessment: Assessment
    reminded: list[Reminder] = field(default_factory=list)
    opened: list[EscalationRow] = field(default_factory=list)
    closed: list[EscalationRow] = field(default_factory=list)
    deliveries: list[ChatDelivery] = field(default_factory=list)

    @property
    def failed(self) -> list[ChatDelivery]:
        return [d for d in self.deliveries if d.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "week": self.assessment.week,
            "reminders": [r.__dict__ for r in self.reminded],
            "opened": [_row_json(e) for e in self.opened],
            "closed": [_row_json(e) for e in self.closed],
            "deliveries": [{**d.__dict__, "at": d.at.isoformat()} for d in self.deliveries],
        }


def _row_json(e: EscalationRow) -> dict[str, Any]:
    return {"rule": e.rule, "subject": e.subject, "week": e.week, "notify": e.notify,
            "detail": e.detail, "opened_at": e.opened_at.isoformat(),
            "closed_at": e.closed_at.isoformat() if e.closed_at else None}


def reminder_message(r: Reminder) -> ChatMessage:
    return ChatMessage("reminder", r.kr_id, f"Check-in due: {r.kr_id} (owner {r.owner})",
                       (reminder_text(r),))


def escalation_message(e: EscalationRow | Finding) -> ChatMessage:
    to = e.notify or "nobody configured"
    return ChatMessage("escalation", f"{e.rule}:{e.subject}",
                       f"Escalation to {to}: {e.rule} {e.subject}", (e.detail,))


def tick(
    store: Store, catalog: Catalog, config: Config, *, now: datetime,
    environ: Mapping[str, str] | None = None, transport: httpx.BaseTransport | None = None,
    sleep: Sleeper = time.sleep, email: bool = False,
) -> TickResult:
    """Assess, record (reminders once per KR and due date; escalations once per rule,
    subject and week; this week's scorecards), then deliver only what is new."""
    env = os.environ if environ is None else environ
    found = assess_store(store, catalog, config, now)
    result = TickResult(found)
    store.save_report_snapshot(found.week, SCORECARD_SNAPSHOT, {
        "teams": [c.to_json() for c in found.cards], "lagging": sorted(found.lagging)},
        now=now)
    for r in found.reminders:
        if store.record_reminder(r.kr_id, r.due, r.owner, now=now):
            result.reminded.append(r)
    result.opened, result.closed = store.update_escalations(
        [(f.rule, f.subject, f.notify, f.detail) for f in found.findings],
        week=found.week, now=now)
    messages: list[tuple[ChatMessage, str, Reminder | None]] = [
        (reminder_message(r), config.rhythm.person(r.owner).email, r)
                for r in result.reminded]
    messages += [(escalation_message(e), config.rhythm.person(e.notify).email, None)
                 for e in result.opened]
    for msg, address, reminder in messages:
        sent = list(deliver(msg, config.rhythm.chat, env, now=now, transport=transport,
                            sleep=sleep))
        if email and address:
            sent.append(_mail(config, msg, address, now))
        for d in sent:
            store.record_chat_delivery(d)
        if reminder is not None:
            store.set_reminder_channels(reminder.kr_id, reminder.due,
                                        [d.channel for d in sent if d.status == "sent"])
        result.deliveries += sent
    return result


def _mail(config: Config, msg: ChatMessage, address: str, now: datetime) -> ChatDelivery:
    """A reminder or escalation by mail to one person; a failure is a recorded delivery."""
    from email.utils import format_datetime

    from syncer.mail import MailError, send_message

    mail = EmailMessage()
    mail["Subject"] = msg.title.replace("\n", " ")
    mail["From"] = config.smtp.sender
    mail["To"] = address
    mail["Date"] = format_datetime(now)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content("\n".join(msg.lines) + "\n")
    try:
        send_message(config.smtp, mail)
    except MailError as exc:
        return ChatDelivery("email", msg.kind, msg.subject, "failed", 1, str(exc), now)
    return ChatDelivery("email", msg.kind, msg.subject, "sent", 1, "", now)

