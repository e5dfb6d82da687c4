"""The weekly email: compose a multipart (text + HTML) message per audience, send it through
SMTP (STARTTLS, implicit TLS or none; auth; timeouts; retries with backoff), and remember what
was sent so a week is mailed once per recipient set unless forced.

Nothing is lost: when a message still fails after the retries, the rendered message is kept in
the store (`report_snapshots`, kind `unsent-...`) and as an `.eml` file next to the store, and
the result says so (the command exits 1).

The SMTP password is read (`get_secret_value()`) only inside `_deliver`, right before LOGIN,
and no error message carries it or the server's reply to AUTH.
"""

from __future__ import annotations

import ipaddress
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from core.clock import SYSTEM
from core.errors import ConfigError, ExitCode, RemoteError
from core.redact import scrub
from syncer.reports.digest import render_digest
from syncer.reports.model import ReportKind, WeeklyReport
from syncer.reports.render import subject

if TYPE_CHECKING:
    from syncer.config import Config, SmtpSection


class MailError(RemoteError):
    """Sending mail failed. The message names the server and the SMTP code, never a secret."""

    hint = "check [smtp] (host, port, security, username) or OKRSYNC_SMTP__*; the report was kept"

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message, source="smtp", status=status)
        self.retryable = retryable


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry transient SMTP failures (4xx, dropped links)."""

    attempts: int = 4
    initial_wait: float = 2.0
    max_wait: float = 60.0


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class Delivery:
    """What happened to one message: sent, skipped (already sent this week) or failed."""

    kind: str
    recipients: tuple[str, ...]
    status: str
    message_id: str = ""
    detail: str = ""
    saved: tuple[str, ...] = ()


@dataclass
class SendResult:
    week: str
    deliveries: list[Delivery] = field(default_factory=list)

    def _of(self, status: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.status == status]

    @property
    def sent(self) -> list[Delivery]:
        return self._of("sent")

    @property
    def skipped(self) -> list[Delivery]:
        return self._of("skipped")

    @property
    def failed(self) -> list[Delivery]:
        return self._of("failed")

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILURES if self.failed else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "deliveries": [asdict(d) for d in self.deliveries],
            "exit_code": int(self.exit_code),
        }


def compose(
    report: WeeklyReport, *, sender: str, recipients: Sequence[str], now: datetime,
    top: int = 5, dashboard_url: str = "",
) -> EmailMessage:
    """The message: subject naming the week, the digest as plain text and as HTML (within
    Gmail's clipping size; the dashboard and `okrsync report` hold the full lists)."""
    msg = EmailMessage()
    msg["Subject"] = subject(report)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    domain = sender.rpartition("@")[2] or "okrsync.invalid"
    msg["Message-ID"] = make_msgid(idstring=f"okrsync.{report.week}", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Okrsync-Week"] = report.week
    text, html = render_digest(report, top=top, dashboard_url=dashboard_url)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def _parts(msg: EmailMessage) -> tuple[str, str]:
    """The message's text and HTML bodies, as composed."""
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    return (str(text.get_content()) if isinstance(text, EmailMessage) else "",
            str(html.get_content()) if isinstance(html, EmailMessage) else "")


def _is_loopback(host: str) -> bool:
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _safe(text: object, secret: str) -> str:
    """Server text fit for an error message: one line, short, the secret blanked out."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    line = re.sub(r"\s+", " ", str(text)).strip()
    if secret:
        line = scrub(line, [secret])
    return line[:200]


def _deliver(
    smtp: SmtpSection, msg: EmailMessage, context: ssl.SSLContext | None
) -> dict[str, Any]:
    """One attempt: connect, secure, log in, send. Returns the recipients the server refused."""
    where = f"SMTP {smtp.host}:{smtp.port}"
    secret = smtp.password.get_secret_value() if smtp.username else ""
    if smtp.username and smtp.security == "none" and not _is_loopback(smtp.host):
        raise MailError(f"{where}: refusing to send the SMTP password without TLS; set "
                        "smtp.security to starttls or ssl")
    ctx = context or ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if smtp.security in ("ssl", "tls"):
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=ctx)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            client.ehlo()
            if smtp.security == "starttls":
                client.starttls(context=ctx)
                client.ehlo()
            if smtp.username:
                try:
                    client.login(smtp.username, secret)
                except smtplib.SMTPAuthenticationError as exc:
                    raise MailError(f"{where}: authentication failed ({exc.smtp_code})",
                                    status=exc.smtp_code) from None
            return dict(client.send_message(msg))
    except MailError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise MailError(f"{where}: every recipient refused ({', '.join(map(str, codes))})",
                        retryable=all(400 <= c < 500 for c in codes)) from None
    except smtplib.SMTPNotSupportedError:
        raise MailError(f"{where}: the server does not offer STARTTLS (or AUTH); check "
                        "smtp.security") from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"{where}: {exc.smtp_code} {_safe(exc.smtp_error, secret)}",
                        retryable=400 <= exc.smtp_code < 500, status=exc.smtp_code) from None
    except ssl.SSLCertVerificationError as exc:
        why = _safe(exc.verify_message, secret)
        raise MailError(f"{where}: TLS certificate not trusted ({why})") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{where}: {type(exc).__name__}: {_safe(exc, secret)}",
                        retryable=True) from None


def send_message(
    smtp: SmtpSection,
    msg: EmailMessage,
    *,
    retry: RetryPolicy | None = None,
    context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """Send with retries on transient failures; raise MailError once they are used up.
    Returns the recipients the server refused while accepting the others."""
    policy = retry or DEFAULT_RETRY
    for attempt in Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait),
        retry=retry_if_exception(lambda e: isinstance(e, MailError) and e.retryable),
        reraise=True,
    ):
        with attempt:
            return _deliver(smtp, msg, context)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Audience:
    """One message to send: who gets it, which part of the report, and its ledger kind."""

    kind: str
    recipients: tuple[str, ...]
    report: WeeklyReport


def audiences(report: WeeklyReport, config: Config) -> list[Audience]:
    """The leadership digest to `report.recipients`, plus with `report.per_team` one message
    per team (with an email) holding that team's part."""
    base = f"weekly-{report.kind.value}"
    out: list[Audience] = []
    if config.report.recipients:
        out.append(Audience(base, tuple(config.report.recipients), report))
    if config.report.per_team:
        for name, team in config.teams.items():
            if team.email:
                out.append(Audience(f"{base}:team:{name}", (team.email,), report.for_team(name)))
    if not out:
        raise ConfigError(
            "nobody to mail the report to",
            file=str(config.path),
            key="report.recipients",
            hint="set report.recipients, or report.per_team = true with teams.<name>.email",
        )
    return out


def recipient_key(recipients: Sequence[str]) -> str:
    """The recipient set as one ledger value (order and case do not matter)."""
    return ",".join(sorted({r.strip().casefold() for r in recipients}))


def _keep_unsent(store_path: Path, week: str, kind: str, msg: EmailMessage) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{week}-{kind}")
    path = store_path.parent / f"okrsync-unsent-{slug}.eml"
    path.write_bytes(bytes(msg))
    path.chmod(0o600)
    return path


def send_weekly_report(
    config: Config,
    *,
    week: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    kind: ReportKind = ReportKind.ALL,
    retry: RetryPolicy | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> SendResult:
    """Build this week's report (or `week`'s), mail every audience not yet mailed this week
    (all of them with `force`), record what was sent, keep what could not be sent."""
    from syncer.catalog import load_catalog
    from syncer.reports.load import build_report
    from syncer.store import Store

    now = now or SYSTEM.now()
    catalog = load_catalog(config.catalog_path)
    with Store.open(config.store_target, busy_timeout=config.store_busy_timeout) as store:
        run_id = store.start_run("report", dry_run=False, now=now)
        result = SendResult(week="")
        try:
            report = build_report(store, catalog, config, week, kind=kind, now=now)
            result.week = report.week
            for aud in audiences(report, config):
                who = recipient_key(aud.recipients)
                msg = compose(aud.report, sender=config.smtp.sender,
                              recipients=aud.recipients, now=now,
                              top=config.report.digest_top,
                              dashboard_url=config.report.dashboard_url)
                msg_id = str(msg["Message-ID"])
                if not force and not store.claim_report(report.week, aud.kind, who, now=now,
                                                        message_id=msg_id):
                    result.deliveries.append(Delivery(
                        aud.kind, aud.recipients, "skipped",
                        detail=f"already sent (or being sent by another okrsync) for "
                               f"{report.week}; use --force to send again"))
                    continue
                try:
                    refused = send_message(config.smtp, msg, retry=retry, context=ssl_context)
                except MailError as exc:
                    if not force:
                        store.release_report_claim(report.week, aud.kind, who)
                    saved = _keep_unsent(config.store_path, report.week, aud.kind, msg)
                    text, html = _parts(msg)
                    store.save_report_snapshot(report.week, f"unsent-{aud.kind}", {
                        "subject": str(msg["Subject"]), "to": list(aud.recipients),
                        "error": str(exc), "text": text, "html": html,
                    }, now=now)
                    result.deliveries.append(Delivery(aud.kind, aud.recipients, "failed",
                                                      msg_id, str(exc), (str(saved),)))
                    continue
                store.record_sent_report(report.week, aud.kind, who, now=now, message_id=msg_id)
                if refused:
                    result.deliveries.append(Delivery(
                        aud.kind, aud.recipients, "failed", msg_id,
                        "refused by the server: " + ", ".join(sorted(refused))))
                else:
                    result.deliveries.append(Delivery(aud.kind, aud.recipients, "sent", msg_id))
        finally:
            status = "failed" if result.failed or not result.week else "ok"
            store.finish_run(run_id, status=status, summary=result.to_json(), now=now)
    return result
