"""`okrsync demo` shows real verdicts: 16 weeks of KR history from a loopback source, bets
shipped weeks ago, and every verdict class a reader must recognise, each with its reason."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from tests.helpers.cli_runner import run_as_new_process

ROOT = Path(__file__).resolve().parents[2]


def test_demo_measures_history_and_judges_shipped_bets(tmp_path: Path) -> None:
    proc = run_as_new_process("demo", "--dir", str(tmp_path), "--epics", "120", "--json",
                              env=dict(os.environ), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout)
    verdicts = outcome["verdicts"]
    for wanted in ("MOVED", "NO_EFFECT", "INCONCLUSIVE", "INSUFFICIENT_DATA"):
        assert verdicts.get(wanted, 0) >= 1, verdicts
    assert "Bet verdicts" in proc.stderr
    why = outcome["verdict_examples"]
    assert "consistent with the bet" in why["MOVED"] and "95 % CI" in why["MOVED"]
    assert "inside ±" in why["NO_EFFECT"]
    assert "weekly points" in why["INSUFFICIENT_DATA"] or "window" in why["INSUFFICIENT_DATA"]
    assert why["INCONCLUSIVE"]
    with sqlite3.connect(tmp_path / "okrsync.db") as db:
        weeks = db.execute("select kr_id, count(*) from checkins where origin = 'csv' "
                           "group by kr_id").fetchall()
        resolved = db.execute("select count(*) from tickets where resolved is not null "
                              "and resolved < datetime('now', '-42 days')").fetchone()[0]
    assert len(weeks) == 4 and all(n >= 16 for _, n in weeks), weeks  # the planted bets' KRs
    assert resolved >= 3  # ship dates come from the trackers, weeks before the demo's sync
