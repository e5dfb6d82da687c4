"""Workers per source against one real PostgreSQL store: `okrsync sync --source S` processes
for different sources run at once, two for the same source exclude each other (exit 3), and a
worker SIGKILLed mid-apply leaves the others to finish and its source to converge on the next
run with no duplicate label, remote link or goal-link comment."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import Sandbox, sandbox
from syncer.engine import run_sync
from syncer.store import Store
from tests.helpers.e2e import (
    ROOT,
    config,
    env_for,
    managed_only,
    okrsync,
    okrsync_process,
    project,
    remote_state,
)
from tests.helpers.store_backends import postgresql_only, sqlite_store
from tests.integration.test_crash_points import no_duplicates

EPICS = 80


def _worker(cfg_path: Path, sb: Sandbox, source: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncer.cli", "sync", "--source", source, "--config",
         str(cfg_path)],
        env=env_for(sb), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _journalled(target: Path | str, source: str) -> int:
    with Store.open(target) as store:
        return int(store.db.execute("select count(*) from journal where source = ?",
                                    [source]).fetchone()[0])


def _queued(target: Path | str, source: str) -> int:
    """The source's outbox rows: its worker planned and is applying (confirmed write-backs
    reach the journal in batches, up to `syncer.outbox.DONE_WAIT` later)."""
    with Store.open(target) as store:
        return int(store.db.execute("select count(*) from outbox where source = ?",
                                    [source]).fetchone()[0])


def _expected(tmp_path: Path, seed: int) -> dict[str, object]:
    """The remote state one uninterrupted process reaches (on its own SQLite store)."""
    with sandbox(epics=EPICS, seed=seed) as reference, sqlite_store():
        assert run_sync(config(project(tmp_path / "ref", reference), reference)).exit_code == 0
        return managed_only(remote_state(reference))

pytestmark = postgresql_only


@pytest.fixture
def pg_target(store_backend_env: Path | str) -> str:
    assert isinstance(store_backend_env, str), "workers per source need the PostgreSQL store"
    return store_backend_env


def test_workers_for_different_sources_run_at_once_and_one_source_excludes_itself(
    tmp_path: Path, pg_target: str,
) -> None:
    expected = _expected(tmp_path, seed=41)
    with sandbox(epics=EPICS, seed=41) as sb:
        cfg_path = project(tmp_path / "org", sb)
        sb.set_faults("slow:0.1")  # a tenth of the answers 2 s late: both workers overlap
        jira, github = _worker(cfg_path, sb, "jira"), _worker(cfg_path, sb, "github")
        deadline = time.monotonic() + 120
        while jira.poll() is None and time.monotonic() < deadline:
            if _queued(pg_target, "jira") >= 1:
                break
            time.sleep(0.05)
        assert jira.poll() is None and github.poll() is None, "both workers are running"
        sb.set_faults("slow:1")  # every answer 2 s late: jira stays in its apply meanwhile
        second = okrsync_process("sync", "--source", "jira", "--config", str(cfg_path), sb=sb)
        assert second.returncode == 3, second.stderr
        assert "'jira'" in second.stderr and "pid" in second.stderr
        sb.set_faults(None)
        outs = [p.communicate(timeout=300) for p in (jira, github)]
        assert [jira.returncode, github.returncode] == [0, 0], [o[-3000:] for o, _ in outs]
        for _, err in outs:
            assert "lock" not in err.lower()
        assert managed_only(remote_state(sb)) == expected
        with Store.open(pg_target) as store:
            runs = [r for r in store.runs(10) if r.kind == "sync"]
            assert {r.status for r in runs} == {"ok"}, "no worker closed another's run"


@pytest.mark.slow
def test_a_worker_killed_mid_apply_leaves_the_others_to_finish_and_converges(
    tmp_path: Path, pg_target: str,
) -> None:
    expected = _expected(tmp_path, seed=42)
    with sandbox(epics=EPICS, seed=42) as sb:
        cfg_path = project(tmp_path / "org", sb)
        sb.set_faults("slow:0.25")
        jira, github = _worker(cfg_path, sb, "jira"), _worker(cfg_path, sb, "github")
        deadline = time.monotonic() + 120
        while _journalled(pg_target, "jira") < 3 and time.monotonic() < deadline:
            assert jira.poll() is None, "the jira worker finished before it could be killed"
            time.sleep(0.05)
        jira.send_signal(signal.SIGKILL)
        jira.communicate(timeout=30)
        assert github.poll() is None, "the github worker is still running when jira dies"
        sb.set_faults(None)
        _, err = github.communicate(timeout=300)
        assert github.returncode == 0, err[-2000:]
        with Store.open(pg_target) as store:
            left = {i.writeback.source for i in store.pending()}
            assert "jira" in left, "the killed worker's unfinished write-backs stay pending"
            assert "github" not in left, "the github worker finished all of its own"
        rerun = okrsync("sync", "--source", "jira", "--config", str(cfg_path), sb=sb)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        state = remote_state(sb)
        assert no_duplicates(state)
        assert managed_only(state) == expected
        with Store.open(pg_target) as store:
            assert not store.pending()
            statuses = {r.status for r in store.runs(10) if r.kind == "sync"}
            assert "interrupted" in statuses and "running" not in statuses
