"""Running a bench script's `--smoke` mode as a user would, for the tests that keep it working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_smoke(script: str, out: Path) -> tuple[str, Any]:
    """Run `bench/<script> --smoke --json out` in a child process; return what it printed and
    the JSON it wrote. A failing run fails the test with the end of its stderr."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--smoke", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())
