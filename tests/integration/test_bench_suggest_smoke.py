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


def test_the_seed_ceiling_is_the_best_any_theme_reader_can_do() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from suggest_seeds import ceiling

    # Theme a: always KR-1; theme b: KR-2 six times in ten. 60 % of 20 epics = all of a and
    # two of b (right 0.6 of the time): (10 + 1.2) / 12.
    pairs = [("a", "KR-1")] * 10 + [("b", "KR-2")] * 6 + [("b", "KR-3")] * 4
    assert ceiling(pairs) == round(11.2 / 12, 3)
    assert ceiling(pairs, coverage=0.5) == 1.0
    assert ceiling([]) is None


@pytest.mark.slow
def test_suggest_seeds_smoke_reports_every_org_with_its_ceiling(tmp_path: Path) -> None:
    _, report = run_smoke("suggest_seeds.py", tmp_path / "seeds.json")
    results = {r["org"]: r for r in report["results"]}
    assert set(results) == {"demo", "paraphrased", "story", "story-paraphrased"}
    for r in results.values():
        assert r["generated"] == 120 and r["epics"] > 0
        assert 0 < r["ceiling"] <= 1 and isinstance(r["meets"], bool)
        assert 0 <= r["previous"]["precision_at_1"] <= 1  # the previous method beside
