"""The suggestions benchmark's smoke mode keeps bench/suggest.py working; its figures are
printed, and only what does not depend on the machine's speed is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.bench_smoke import run_smoke


@pytest.mark.slow
def test_suggest_bench_smoke_reports_every_figure(tmp_path: Path) -> None:
    _, report = run_smoke("suggest.py", tmp_path / "bench.json")
    results = {r["org"]: r for r in report["results"]}
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
