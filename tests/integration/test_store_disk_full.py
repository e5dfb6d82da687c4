"""A store whose disk fills up mid-sync is a clear failure: exit 1 naming the store and the
full disk (not "a bug", not "invalid configuration"), no traceback; the run row does not stay
`running`, and once there is room again the next sync converges. The full disk is real: the
sync child runs with a file-size limit (RLIMIT_FSIZE), so SQLite's writes fail as they would
on a full volume.

SQLite only: the fault is a file-size limit on the store file; a PostgreSQL server's full
disk is the server's, out of the sync process's reach."""

from __future__ import annotations

import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from sandbox import sandbox
from tests.helpers.e2e import ROOT, env_for, okrsync, project

LIMIT_BYTES = 256 * 1024


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))


def test_a_full_disk_is_exit_1_naming_the_store_and_the_run_row_is_closed(
    tmp_path: Path,
) -> None:
    with sandbox(epics=400, seed=41) as sb:
        cfg_path = project(tmp_path, sb)
        full = subprocess.run(
            [sys.executable, "-m", "syncer.cli", "sync", "--config", str(cfg_path)],
            env=env_for(sb), capture_output=True, text=True, timeout=300, cwd=ROOT,
            preexec_fn=_limited,  # noqa: PLW1509 - sets a limit only, no threads yet
        )
        out = full.stdout + full.stderr
        assert full.returncode == 1, out[-3000:]
        assert "okrsync.db" in full.stderr
        assert "disk" in full.stderr
        assert "bug" not in out and "Traceback" not in out

        again = okrsync("sync", "--config", str(cfg_path), sb=sb)
        assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
        db = tmp_path / "okrsync.db"
        with sqlite3.connect(db) as conn:
            statuses = [r[0] for r in conn.execute("select status from runs order by id")]
            assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert "running" not in statuses, statuses
        assert statuses[-1] == "ok"
        settled = okrsync("sync", "--json", "--config", str(cfg_path), sb=sb)
        assert '"planned_count": 0' in settled.stdout, "the second clean run writes nothing"
