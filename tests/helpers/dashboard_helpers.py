"""A demo store to browse, one hostile epic added to it, and `okrsync serve` on it as a real
process on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from core.model import Page, Ticket, TicketState
from syncer.store import Store
from tests.helpers.cli_runner import run_as_new_process
from tests.helpers.e2e import ROOT

__all__ = ["ROOT", "add_hostile_epic", "clean_env", "demo_store", "serving"]
EVIL = '<script>alert(1)</script> & "x" <img src=x onerror=alert(2)>'
HOSTILE_KEY = "WEB-9999"


def demo_store(folder: Path, epics: int = 150) -> Path:
    """`okrsync demo --dir folder`: a real sync of the sandboxes plus simulated history."""
    proc = run_as_new_process("demo", "--dir", str(folder), "--epics", str(epics),
                              env=clean_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    return folder / "okrsync.toml"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def add_hostile_epic(store_path: Path) -> None:
    """An in-flight untraceable Jira epic whose title tries to run script in every page."""
    now = datetime.now(UTC)
    epic = Ticket(source="jira", key=HOSTILE_KEY, remote_id="9999",
                  url="https://jira.example.com/browse/WEB-9999", title=EVIL, project="WEB",
                  issue_type="Epic", labels=(), state=TicketState.IN_PROGRESS, updated=now,
                  created=now, size=1)
    with Store.open(store_path) as store:
        store.store_page("jira", Page(tickets=(epic,)), None, now=now)
        store.save_plan_outcome(
            store.links(), store.broken_links(), [], [*store.untraceable(), epic.uid], [],
            sources=("jira",), now=now,
        )


@contextmanager
def serving(config: Path, *args: str) -> Iterator[str]:
    """`okrsync serve --port 0`; yields the URL it printed; ends that process afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer.cli", "serve", "--config", str(config), "--port", "0",
         *args],
        cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("okrsync dashboard: http://127.0.0.1:"), (
            line + (proc.stderr.read() if proc.stderr else ""))
        yield line.split(": ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
