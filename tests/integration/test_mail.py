"""The weekly email through a real SMTP server (aiosmtpd on loopback), with a real store:
what arrives, that a week is mailed once, retries, TLS + AUTH, and that nothing leaks."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from syncer.config import load_config
from syncer.mail import MailError, RetryPolicy, send_weekly_report
from syncer.store import Store
from tests.helpers.reports_helpers import (
    EVIL,
    NOW,
    SECRET_PASSWORD,
    SECRET_TOKEN,
    WEEK,
    load_into,
    run_cli,
    scenario,
    write_config,
)
from tests.helpers.store_backends import clear_env_but_store

FAST = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02)


class Sink:
    """An SMTP handler that keeps what it accepts; refuses the first `fail` DATA commands."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.attempts = 0
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.fail:
            self.fail -= 1
            return "451 try again"
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        out = []
        for _, raw in self.received:
            msg = message_from_bytes(raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, store_target: Path | str) -> None:
    """No OKRSYNC_* variable of the shell; the store under test on each backend."""
    clear_env_but_store(monkeypatch, store_target)


def serve(handler: Sink, **kwargs: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    controller = serve(handler)
    yield handler, controller.port
    controller.stop()


def project(tmp_path: Path, port: int, **kwargs: Any) -> Path:
    cfg = write_config(tmp_path, smtp_port=port, **kwargs)
    with Store.open(load_config(cfg).store_target) as store:
        load_into(store, scenario())
    return cfg


def parts(msg: EmailMessage) -> tuple[str, str]:
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def section(html: str, heading: str) -> str:
    start = html.index(heading)
    end = html.find("<h2", start)
    return html[start:end if end > 0 else None]


def test_weekly_email_content_and_safety(tmp_path: Path, sink: tuple[Sink, int]) -> None:
    handler, port = sink
    config = load_config(project(tmp_path, port))
    result = send_weekly_report(config, now=NOW, retry=FAST)
    assert result.week == WEEK and len(result.sent) == 1 and result.exit_code == 0
    assert len(handler.received) == 1
    rcpts, raw = handler.received[0]
    assert sorted(rcpts) == ["cto@example.com", "lead@example.com"]
    msg = handler.messages()[0]
    assert WEEK in str(msg["Subject"])
    assert msg.is_multipart() and msg.get_content_type() == "multipart/alternative"
    text, html = parts(msg)
    # The known scenario's untraceable epics in flight, exactly, in both parts of the digest.
    assert sorted(re.findall(r"^ *\* (\S+)  ", text, re.M)) == ["PAY-10", "WEB-10", "acme/app#5"]
    in_flight = section(html, "Untraceable work in flight</h2>")
    assert sorted(re.findall(r'font-weight:600;">([^<]+)</a>', in_flight)) == [
        "PAY-10", "WEB-10", "acme/app#5"]
    assert "okr:KR-2" in in_flight  # suggested by rule r-fail
    assert html.index('id="key-results"') < html.index('id="untraceable"')  # summary first
    # Hostile ticket text is escaped in HTML; the text part carries it as plain text.
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;x&#34;" in html
    assert EVIL in text
    # No secret anywhere: raw bytes, decoded parts, headers.
    blob = raw.decode("utf-8", "replace") + text + html + str(msg.items())
    for secret in (SECRET_PASSWORD, SECRET_TOKEN):
        assert secret not in blob


def test_second_send_same_week_is_refused_unless_forced(
    tmp_path: Path, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    config = load_config(project(tmp_path, port))
    assert len(send_weekly_report(config, now=NOW, retry=FAST).sent) == 1
    later = NOW + dt.timedelta(days=2)  # still 2026-W14
    again = send_weekly_report(config, now=later, retry=FAST)
    assert [d.status for d in again.deliveries] == ["skipped"] and again.exit_code == 0
    assert len(handler.received) == 1
    forced = send_weekly_report(config, now=later, force=True, retry=FAST)
    assert len(forced.sent) == 1 and len(handler.received) == 2
    with Store.open(config.store_target) as store:
        row = store.sent_report(WEEK, "weekly-all", "cto@example.com,lead@example.com")
        assert row is not None and row.times == 2
        assert [r.kind for r in store.runs(5)].count("report") == 3
    next_week = send_weekly_report(config, now=NOW + dt.timedelta(days=7), retry=FAST)
    assert next_week.week == "2026-W15" and len(next_week.sent) == 1


def test_transient_refusal_is_retried_and_delivers_once(tmp_path: Path) -> None:
    handler = Sink(fail=1)
    controller = serve(handler)
    try:
        config = load_config(project(tmp_path, controller.port))
        result = send_weekly_report(config, now=NOW, retry=FAST)
    finally:
        controller.stop()
    assert handler.attempts == 2
    assert len(handler.received) == 1
    assert len(result.sent) == 1 and not result.failed


def test_failure_after_retries_keeps_the_report(tmp_path: Path) -> None:
    handler = Sink(fail=99)
    controller = serve(handler)
    try:
        config = load_config(project(tmp_path, controller.port))
        result = send_weekly_report(config, now=NOW, retry=FAST)
        assert handler.attempts == FAST.attempts and not handler.received
        assert result.exit_code == 1 and len(result.failed) == 1
        failed = result.failed[0]
        assert "451" in failed.detail and SECRET_PASSWORD not in failed.detail
        kept = Path(failed.saved[0])
        assert kept.parent == tmp_path and kept.suffix == ".eml"
        assert (kept.stat().st_mode & 0o777) == 0o600
        kept_msg = message_from_bytes(kept.read_bytes(), policy=policy.default)
        assert WEEK in str(kept_msg["Subject"])
        with Store.open(config.store_target) as store:
            snaps = store.report_snapshots("unsent-weekly-all", [WEEK])
            assert len(snaps) == 1 and "PAY-10" in snaps[0].data["html"]
            assert store.sent_report(WEEK, "weekly-all", "cto@example.com,lead@example.com") is None
            assert store.runs(1)[0].status == "failed"
        handler.fail = 0  # the server recovers: the next run sends (nothing was recorded as sent)
        assert len(send_weekly_report(config, now=NOW, retry=FAST).sent) == 1
    finally:
        controller.stop()


def test_per_team_messages_hold_each_teams_part(tmp_path: Path, sink: tuple[Sink, int]) -> None:
    handler, port = sink
    config = load_config(project(tmp_path, port, per_team=True))
    result = send_weekly_report(config, now=NOW, retry=FAST)
    assert sorted(d.kind for d in result.sent) == [
        "weekly-all", "weekly-all:team:payments", "weekly-all:team:web"]
    by_rcpt = {tuple(r): m for (r, _), m in zip(handler.received, handler.messages(), strict=True)}
    web_text, _ = parts(by_rcpt[("ana@example.com",)])
    pay_text, _ = parts(by_rcpt[("dana@example.com",)])
    assert re.findall(r"^ *\* (\S+)  ", web_text, re.M) == ["WEB-10"]
    assert re.findall(r"^ *\* (\S+)  ", pay_text, re.M) == ["PAY-10"]
    assert "team web" in str(by_rcpt[("ana@example.com",)]["Subject"])


def test_cli_email_once_then_skipped_and_exit_1_on_failure(
    tmp_path: Path, sink: tuple[Sink, int], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, port = sink
    cfg = project(tmp_path, port)
    # the CLI uses the real clock: mail this week's report twice
    assert run_cli(["report", "--email", "--json", "-c", str(cfg)]) == 0
    assert run_cli(["report", "--email", "--json", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.count('"status": "sent"') == 1 and out.count('"status": "skipped"') == 1
    assert len(handler.received) == 1
    handler.fail = 99
    monkeypatch.setattr("syncer.mail.DEFAULT_RETRY", FAST)
    assert run_cli(["report", "--email", "--force", "-c", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "failed: weekly-all" in err and "451" in err and SECRET_PASSWORD not in err


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Auth:
    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and data.password == SECRET_PASSWORD.encode():
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_with_auth(tmp_path: Path, security: str) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    handler, auth = Sink(), Auth()
    # aiosmtpd only counts STARTTLS as TLS for AUTH, so implicit TLS lifts that check.
    tls = ({"tls_context": server_ctx, "require_starttls": True} if security == "starttls"
           else {"ssl_context": server_ctx, "auth_require_tls": False})
    controller = serve(handler, authenticator=auth, auth_required=True, **tls)
    try:
        config = load_config(write_config(tmp_path, smtp_port=controller.port, security=security,
                                          username="mailer"))
        with Store.open(config.store_target) as store:
            load_into(store, scenario())
        result = send_weekly_report(config, now=NOW, retry=FAST, ssl_context=client_ctx)
        assert len(result.sent) == 1 and auth.logins == ["mailer"]
        assert len(handler.received) == 1
        # Without trusting the self-signed certificate the send fails, safely and unretried.
        untrusted = send_weekly_report(config, now=NOW, force=True, retry=FAST)
        assert untrusted.exit_code == 1
        detail = untrusted.failed[0].detail
        assert "certificate" in detail and SECRET_PASSWORD not in detail
        assert len(handler.received) == 1
    finally:
        controller.stop()


def test_wrong_password_fails_without_leaking(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    handler = Sink()
    controller = serve(handler, authenticator=lambda *a: AuthResult(success=False, handled=False),
                       auth_required=True, tls_context=server_ctx, require_starttls=True)
    try:
        config = load_config(write_config(tmp_path, smtp_port=controller.port,
                                          security="starttls", username="mailer"))
        with Store.open(config.store_target) as store:
            load_into(store, scenario())
        client_ctx = ssl.create_default_context(cafile=str(cert))
        result = send_weekly_report(config, now=NOW, retry=FAST, ssl_context=client_ctx)
        assert result.exit_code == 1
        assert "authentication failed (535)" in result.failed[0].detail
        assert SECRET_PASSWORD not in repr(result.to_json())
        assert not handler.received
    finally:
        controller.stop()


def test_password_never_sent_in_clear_to_a_remote_host(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, smtp_port=2525, security="none",
                                      username="mailer"))
    from syncer.mail import _deliver

    remote = config.smtp.model_copy(update={"host": "smtp.example.com"})
    with pytest.raises(MailError) as exc:
        _deliver(remote, EmailMessage(), None)
    assert "without TLS" in str(exc.value) and not exc.value.retryable
    assert SECRET_PASSWORD not in str(exc.value)
