"""The calibration benchmark's smoke mode keeps bench/calibration.py working; the figures
that depend on chance are printed, only the data gate's (which does not) is checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_calibration_smoke_prints_the_confusion_table(tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "calibration.py"), "--smoke",
                           "--json", str(out)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "true scenario" in proc.stdout and "insuff." in proc.stdout
    report = json.loads(out.read_text())
    assert set(report["families"]) == {"noise", "trend", "ar1"}
    for cells in report["families"].values():
        assert cells["too few points"] == {"INSUFFICIENT_DATA": report["series"]}
        assert sum(cells["no effect"].values()) == report["series"]
        assert "INSUFFICIENT_DATA" not in cells["effect 2δ"]
