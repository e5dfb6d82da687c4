"""Secrets stay secret: sentinel tokens and an SMTP password go through sync (also failing and
refused runs), every report format, the weekly email over real SMTP with AUTH, status, runs,
doctor and validate --verbose, and `okrsync demo --dir`; then every captured stdout/stderr line,
every store row, every file under the project folder and every received message is searched
for the sentinels. None may appear; config dumps show them masked."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from sandbox import sandbox
from syncer import store_pg
from tests.helpers.cli_runner import run_as_new_process
from tests.helpers.e2e import ROOT, project
from tests.helpers.store_backends import store_dump, store_env

TOKEN = "sentinel-tok-5f1c9e7a2b"
WRONG_TOKEN = "sentinel-wrong-0d3b8e66"
PASSWORD = "sentinel-pw-93ad17c4e0"
SENTINELS = (TOKEN, WRONG_TOKEN, PASSWORD)


class Sink:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink = Sink()

    def accept(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        sink.logins.append((bytes(data.login), bytes(data.password)))
        return AuthResult(success=True)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(sink, hostname="127.0.0.1", port=port, authenticator=accept,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], outputs: list[str]) -> int:
    proc = run_as_new_process(*args, env=env, cwd=ROOT)
    outputs.append(f"$ okrsync {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode


def files_under(directory: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def store_secret(target: Path | str) -> tuple[str, ...]:
    """The PostgreSQL store's password, when the store under test is PostgreSQL."""
    return (os.environ[store_pg.PASSWORD_ENV],) if store_pg.is_url(target) else ()


def assert_no_sentinel(what: str, blob: str | bytes,
                       sentinels: tuple[str, ...] = SENTINELS) -> None:
    for secret in sentinels:
        if isinstance(blob, bytes):
            assert secret.encode() not in blob, f"{secret} leaked into {what}"
        else:
            assert secret not in blob, f"{secret} leaked into {what}"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_no_secret_in_output_store_files_or_mail(tmp_path: Path, smtp: tuple[Sink, int],
                                                 store_target: Path | str) -> None:
    """On both store backends; on PostgreSQL the store's own password is a sentinel too."""
    store = store_target if store_pg.is_url(store_target) else tmp_path / "okrsync.db"
    sentinels = (*SENTINELS, *store_secret(store_target))
    sink, port = smtp
    outputs: list[str] = []
    with sandbox(epics=40, seed=51, token=TOKEN) as sb:
        cfg = project(tmp_path, sb)
        text = cfg.read_text()
        for kind in ("jira", "github"):  # few retries, so the failing run fails quickly
            text = text.replace(f'kind = "{kind}"\n', f'kind = "{kind}"\nmax_retries = 1\n')
        cfg.write_text(text + f"""
[smtp]
host = "127.0.0.1"
port = {port}
username = "okrsync"
security = "none"
sender = "okrsync@example.com"
timeout = 5
""")
        env = clean_env(OKRSYNC_SOURCES__JIRA__TOKEN=TOKEN, OKRSYNC_SOURCES__GITHUB__TOKEN=TOKEN,
                        OKRSYNC_SMTP__PASSWORD=PASSWORD, **store_env(store_target))
        c = ["--config", str(cfg)]
        # A run whose write-backs fail: error texts go to the outbox, the runs table and stderr.
        sb.set_faults("500:0.6")
        assert run(["sync", *c], env, outputs) == 1
        sb.set_faults(None)
        assert run(["sync", "--json", *c], env, outputs) == 0
        # A refused token: the auth error must not echo it.
        refused = dict(env, OKRSYNC_SOURCES__GITHUB__TOKEN=WRONG_TOKEN)
        assert run(["sync", *c], refused, outputs) == 1
        assert run(["doctor", *c], refused, outputs) != 0
        for fmt in ("terminal", "markdown", "html", "text", "json", "csv"):
            assert run(["report", "--format", fmt, *c], env, outputs) == 0
        assert run(["report", "--format", "html", "--output", str(tmp_path / "r.html"), *c],
                   env, outputs) == 0
        assert run(["report", "--email", *c], env, outputs) == 0
        for extra in (["status"], ["status", "--json"], ["runs", "--json"]):
            assert run([*extra, *c], env, outputs) == 0
        assert run(["validate", "--verbose", *c], env, outputs) == 0
        assert run(["validate", "--verbose", "--json", *c], env, outputs) == 0

    assert sink.received, "the weekly email must have arrived"
    assert sink.logins and sink.logins[0][1] == PASSWORD.encode(), "the password was used"
    everything = "\n".join(outputs)
    assert "***" in everything, "validate --verbose shows secrets masked"
    assert "okrsync:" in everything or "goal:" in everything  # the outputs are real
    for line in everything.splitlines():
        assert_no_sentinel("command output", line, sentinels)
    dump = store_dump(store)
    assert "sync" in dump
    assert_no_sentinel("the store", dump, sentinels)
    for name, content in files_under(tmp_path).items():
        assert_no_sentinel(name, content, sentinels)
    for raw in sink.received:
        assert_no_sentinel("a sent message", raw, sentinels)


def test_demo_dir_holds_no_sandbox_token(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    env = clean_env(OKRSYNC_SANDBOX_TOKEN=TOKEN)
    proc = run_as_new_process("demo", "--dir", str(demo_dir), "--epics", "40", env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (demo_dir / "okrsync.db").exists()
    for line in (proc.stdout + proc.stderr).splitlines():
        assert_no_sentinel("demo output", line)
    assert_no_sentinel("the demo store", store_dump(demo_dir / "okrsync.db"))
    files = files_under(demo_dir)
    assert len(files) >= 4
    for name, content in files.items():
        assert_no_sentinel(name, content)
    # The demo really used the sentinel: a sandbox served with another token refuses it.
    verbose = run_as_new_process(
        "validate", "--verbose", "--config", str(demo_dir / "okrsync.toml"),
        env=clean_env(OKRSYNC_SOURCES__JIRA__TOKEN=TOKEN, OKRSYNC_SOURCES__GITHUB__TOKEN=TOKEN),
        cwd=ROOT)
    assert verbose.returncode == 0, verbose.stderr
    assert "***" in verbose.stdout
    assert_no_sentinel("validate --verbose", verbose.stdout + verbose.stderr)


def every_form(secret: str) -> list[str]:
    from core.redact import secret_forms

    return secret_forms(secret) + secret_forms(secret + "\n")


def test_a_token_ending_in_a_newline_appears_in_no_form_anywhere(tmp_path: Path) -> None:
    """What a Secret made from a file gives (`kubectl create secret --from-file`): the token
    and a newline. It is stripped at load, so it works; no form of it is printed, logged or
    stored, by a clean run, a JSON run, doctor, a refused token, status or runs. (SQLite
    store only: the token is stripped at load, before any store; the store's backend is
    covered by the test above.)"""
    outputs: list[str] = []
    with sandbox(epics=20, seed=52, token=TOKEN) as sb:
        cfg = project(tmp_path, sb)
        env = clean_env(OKRSYNC_SOURCES__JIRA__TOKEN=TOKEN + "\n",
                        OKRSYNC_SOURCES__GITHUB__TOKEN=TOKEN + "\r\n")
        c = ["--config", str(cfg)]
        assert run(["sync", *c], env, outputs) == 0
        assert run(["sync", "--json", *c], env, outputs) == 0
        assert run(["doctor", *c], env, outputs) == 0
        refused = dict(env, OKRSYNC_SOURCES__GITHUB__TOKEN=WRONG_TOKEN + "\n")
        assert run(["sync", *c], refused, outputs) == 1
        assert run(["doctor", "--json", *c], refused, outputs) != 0
        for extra in (["status", "--json"], ["runs", "--json"]):
            assert run([*extra, *c], env, outputs) == 0
    everything = "\n".join(outputs)
    assert "github" in everything and "jira" in everything  # the outputs are real
    stored = store_dump(tmp_path / "okrsync.db")
    assert "sync" in stored
    files = b"\n".join(files_under(tmp_path).values())
    for secret in (TOKEN, WRONG_TOKEN):
        for form in every_form(secret):
            assert form not in everything, f"{form!r} in command output"
            assert form not in stored, f"{form!r} in the store"
            assert form.encode() not in files, f"{form!r} in a file"
