"""The benchmark's smoke mode keeps bench/run.py working; its figures are printed, and only
the counts that do not depend on the machine's speed are checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_smoke_runs_and_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--smoke-epics", "150",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    (result,) = report["results"]
    assert result["pulled"] == 150
    assert result["floor"]["epics"] == 150 and result["baseline"]["epics"] == 150
    assert result["full"]["writebacks"] > 0
    assert result["noop"]["writebacks"] == 0
    assert result["noop"]["github_quota"] == 0
    assert result["noop"]["github_304"] == result["noop"]["github_requests"]
    assert result["incremental_1pct"]["pulled"] == result["incremental_1pct"]["changed"]
    assert result["writeback_concurrency"] == {"jira": 8, "github": 8}
    for key in ("wall_s", "epics_per_s", "peak_rss_mib"):
        assert result["full"][key] is not None
    assert report["versions"]["httpx"] != "?"
