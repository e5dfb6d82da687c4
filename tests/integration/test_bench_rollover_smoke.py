"""The rollover bench's smoke mode keeps bench/rollover.py working. Its figures are printed;
only what does not depend on the machine's speed is checked: the preview writes nothing and
costs less than replacing the files, the real rollover converges with no limit answer and
nothing written twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.bench_smoke import run_smoke


@pytest.mark.slow
def test_rollover_bench_smoke(tmp_path: Path) -> None:
    _, result = run_smoke("rollover.py", tmp_path / "rollover.json")
    preview, baseline, applied = result["preview"], result["baseline"], result["applied"]
    assert preview["remote_writes"] == 0 and preview["frozen_epics"] > 0
    assert 0 < preview["writebacks"] < baseline["writebacks"]
    assert 0 < preview["github_seconds_published"] < baseline["github_seconds_published"]
    assert applied["secondary_limited"] == 0 and applied["duplicates"] == 0
    assert applied["github_rate_limited"] == {} and applied["jira_rate_limited"] == {}
    assert applied["runs"][0]["planned"] == preview["writebacks"]
    assert applied["runs"][-1]["planned"] == 0
