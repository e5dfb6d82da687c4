"""The calibration benchmark's smoke mode keeps bench/calibration.py working; the figures
that depend on chance are printed, only the data gate's (which does not) is checked."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.bench_smoke import run_smoke


def test_calibration_smoke_prints_the_confusion_table(tmp_path: Path) -> None:
    stdout, report = run_smoke("calibration.py", tmp_path / "calibration.json")
    assert "true scenario" in stdout and "insuff." in stdout
    assert set(report["families"]) == {"noise", "trend", "ar1"}
    for cells in report["families"].values():
        assert cells["too few points"] == {"INSUFFICIENT_DATA": report["series"]}
        assert sum(cells["no effect"].values()) == report["series"]
        assert "INSUFFICIENT_DATA" not in cells["effect 2δ"]
