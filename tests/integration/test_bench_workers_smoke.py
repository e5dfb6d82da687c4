"""bench/workers.py --smoke keeps the workers-per-source bench working: four workers against
one real PostgreSQL store reach the same end state as the four in turn, with no lock error,
and a migrated store's next sync writes nothing. Times are printed, not checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.bench_smoke import run_smoke
from tests.helpers.postgres import _bin_dir


@pytest.mark.slow
def test_workers_bench_smoke(tmp_path: Path) -> None:
    if _bin_dir() is None and shutil.which("pg_ctl") is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    _, report = run_smoke("workers.py", tmp_path / "workers.json")
    assert report["same_end_state"] is True, report["differing_tables"]
    assert report["tables_compared"] >= 15
    for run in ("in_turn", "together"):
        assert set(report[run]["exit_codes"].values()) == {0}, report[run]["stderr_tail"]
    assert report["together"]["lock_errors"] == 0
    moved = report["migrate"]
    assert moved["verified"] is True and moved["rows"] > 0
    assert moved["next_sync_exit"] == 0
    assert moved["next_sync_planned"] == 0 and moved["next_sync_applied"] == 0
