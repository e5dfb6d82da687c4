"""A KR owner's `okrsync checkin` while a sync plans must fail neither: the sync plans under
the write lock and the check-in waits for it (SQLite's busy timeout; on PostgreSQL the two
transactions do not conflict at all). Before, the sync failed with exit 2, "locked by another
program". Real processes and store (on both backends), the sandboxes over HTTP."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.model import CheckIn
from sandbox import sandbox
from syncer.store import Store
from tests.helpers.e2e import ROOT, config, env_for, project


@pytest.mark.usefixtures("store_backend_env")
def test_checkins_while_a_sync_runs_all_land_and_the_sync_succeeds(tmp_path: Path) -> None:
    folder = tmp_path
    with sandbox(epics=600, seed=51) as sb:
        cfg_path = project(folder, sb)
        db = config(cfg_path, sb).store_target
        Store.open(db).close()
        sync = subprocess.Popen(
            [sys.executable, "-m", "syncer.cli", "sync", "--full", "--config", str(cfg_path)],
            env=env_for(sb), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=ROOT,
        )
        written = 0
        while sync.poll() is None:
            with Store.open(db) as store:  # each check-in a short writer of its own
                store.add_checkin(CheckIn(kr_id="KR-CHK-1", value=40.0 + written,
                                          at=datetime.now(UTC)))
            written += 1
        out, err = sync.communicate(timeout=300)
        assert sync.returncode == 0, (out + err)[-3000:]
        assert "locked" not in err
    with Store.open(db) as store:
        assert len(store.checkins("KR-CHK-1")) == written
        assert store.runs(1)[0].status == "ok"
    assert written > 1, "check-ins ran beside the sync"
