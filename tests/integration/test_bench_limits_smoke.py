"""The real-limits bench's smoke mode keeps bench/limits.py working. Its figures are printed;
only what does not depend on the machine's speed is checked: no secondary-limit answer while
paced, some without pacing, nothing written twice, a free App no-op."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.bench_smoke import run_smoke


@pytest.mark.slow
def test_real_limits_bench_smoke(tmp_path: Path) -> None:
    _, result = run_smoke("limits.py", tmp_path / "limits.json")
    paced, unpaced = result["paced"], result["unpaced"]
    assert paced["secondary_limited"] == 0 and paced["content_writes"] > 0
    assert unpaced["secondary_limited"] > 0
    assert paced["duplicates"] == 0 and unpaced["duplicates"] == 0
    assert paced["content_writes"] == unpaced["content_writes"]
    assert result["app_noop"]["quota"] == 0 and result["app_noop"]["planned"] == 0
    assert result["app_noop"]["requests"] <= result["app_noop"]["repos"] + 2
    assert result["jira_burst"]["stored"] == result["jira_burst"]["links"]
    assert "jira-per-issue-on-write" not in result["jira_burst"]["rate_limited"]
