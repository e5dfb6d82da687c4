"""The suggestions benchmark's smoke mode keeps bench/suggest.py working; its figures are
printed, and only what does not depend on the machine's speed is checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_suggest_bench_smoke_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "suggest.py"), "--smoke", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["org"]: r for r in json.loads(out.read_text())["results"]}
    assert set(results) == {"demo", "paraphrased"}
    for r in results.values():
        assert r["epics"] == 600
        s = r["suggestions"]
        assert 0 < s["suggested"] <= s["untraceable"] and s["examples"] > 0
        overall = r["evaluate"]["figures"]["overall"]
        assert overall["learned"]["epics"] == s["examples"]
        assert overall["previous"]["epics"] > 0
        for key in ("wall_s", "peak_rss_mib"):
            assert r["evaluate"][key] is not None
        assert r["planning_s"] > 0 and r["suggestions_vs_planning"] is not None
