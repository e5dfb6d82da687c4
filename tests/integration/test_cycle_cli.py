"""Cycles at the command line: catalogs mixed by mistake are refused with exit 2 naming the
file and the key, never a traceback; `validate` explains gaps and names the current cycle."""

from __future__ import annotations

import json
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.helpers.cli_runner import run_okrsync

ROOT = Path(__file__).resolve().parents[2]
TODAY = date.today()

KR = """
  [[objective.key_result]]
  id = "{kr}"
  title = "Raise conversion"
  owner = "Dana Lee"
  metric = "conversion"
  baseline = 40
  target = 60
"""


def _catalog(*cycles: str, objectives: tuple[tuple[str, str, str], ...]) -> str:
    body = "".join(cycles)
    for obj, cycle, kr in objectives:
        body += (f'\n[[objective]]\nid = "{obj}"\ntitle = "Checkout"\nowner = "Dana Lee"\n'
                 f'cycle = "{cycle}"\n' + KR.format(kr=kr))
    return body


def _cycle(ident: str, start: date, end: date, *, current: bool = False) -> str:
    mark = "current = true\n" if current else ""
    return f'[[cycle]]\nid = "{ident}"\nstart = {start}\nend = {end}\n{mark}\n'


OLD = _cycle("2026-Q3", TODAY - timedelta(days=120), TODAY - timedelta(days=30))
NEW = _cycle("2026-Q4", TODAY - timedelta(days=20), TODAY + timedelta(days=60))
BOTH = ((("O-OLD", "2026-Q3", "KR-OLD")), ("O-NEW", "2026-Q4", "KR-NEW"))
RULES = '[[rule]]\nid = "r-new"\nkr = "KR-NEW"\nlabels_any = ["checkout"]\n'


def _okrsync(*args: str) -> subprocess.CompletedProcess[str]:
    return run_okrsync(*args, cwd=ROOT)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    assert _okrsync("init", str(tmp_path / "p")).returncode == 0
    return tmp_path / "p"


def _write(project: Path, catalog: str, rules: str = RULES) -> None:
    (project / "okrs.toml").write_text(catalog)
    (project / "rules.toml").write_text(rules)


def _refused(project: Path, *args: str) -> str:
    result = _okrsync(*args, "--config", str(project / "okrsync.toml"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_two_current_cycles_name_the_file_and_key(project: Path) -> None:
    _write(project, _catalog(_cycle("2026-Q3", TODAY - timedelta(days=120),
                                    TODAY - timedelta(days=30), current=True),
                             _cycle("2026-Q4", TODAY - timedelta(days=20),
                                    TODAY + timedelta(days=60), current=True),
                             objectives=BOTH))
    err = _refused(project, "validate")
    assert "okrs.toml" in err and "cycle[1].current" in err
    assert "more than one cycle is marked current" in err


def test_overlapping_cycles_are_explained(project: Path) -> None:
    overlapping = _cycle("2026-Q4", TODAY - timedelta(days=40), TODAY + timedelta(days=60))
    _write(project, _catalog(OLD, overlapping, objectives=BOTH))
    err = _refused(project, "validate")
    assert "cycle[1].start" in err and "overlap" in err


def test_a_rule_naming_an_unknown_cycle(project: Path) -> None:
    _write(project, _catalog(OLD, NEW, objectives=BOTH),
           RULES + '\n[[rule]]\nid = "r-old"\nkr = "KR-OLD"\ncycles = ["2025-Q9"]\n'
           'labels_any = ["cart"]\n')
    err = _refused(project, "validate")
    assert "rules.toml" in err and "rule[1].cycles" in err and "2025-Q9" in err


def test_an_objective_naming_an_unknown_cycle(project: Path) -> None:
    _write(project, _catalog(OLD, NEW, objectives=(("O-X", "2027-Q1", "KR-NEW"),)))
    err = _refused(project, "validate")
    assert "okrs.toml" in err and "objective[0].cycle" in err and "2027-Q1" in err


def test_an_old_rule_left_on_last_quarters_kr(project: Path) -> None:
    """Last quarter's rules pasted next to this quarter's catalog: the rule would link the
    current cycle to a past KR; the message says how to keep it as history."""
    _write(project, _catalog(OLD, NEW, objectives=BOTH),
           RULES + '\n[[rule]]\nid = "r-old"\nkr = "KR-OLD"\nlabels_any = ["cart"]\n')
    err = _refused(project, "validate")
    assert "rule[1].kr" in err and 'cycles = ["2026-Q3"]' in err


def test_rollover_to_an_unknown_or_future_cycle(project: Path) -> None:
    future = _cycle("2027-Q1", TODAY + timedelta(days=61), TODAY + timedelta(days=150))
    objectives = (*BOTH, ("O-NEXT", "2027-Q1", "KR-NEXT"))
    _write(project, _catalog(OLD, NEW, future, objectives=objectives))
    err = _refused(project, "cycle", "rollover", "--to", "2028-Q1")
    assert "--to" in err and "2028-Q1" in err
    err = _refused(project, "cycle", "rollover", "--to", "2027-Q1")
    assert "okrs.toml" in err and "cycle[2].current" in err


def test_validate_names_the_current_cycle_and_gaps(project: Path) -> None:
    _write(project, _catalog(OLD, NEW, objectives=BOTH))
    result = _okrsync("validate", "--json", "--config", str(project / "okrsync.toml"))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["catalog"]["cycles"] == ["2026-Q3", "2026-Q4"]
    assert data["catalog"]["current_cycle"] == "2026-Q4"
    assert data["rules"]["krs_without_rule"] == []  # KR-OLD is history, not unruled
    assert any("between 2026-Q3" in w and "2026-Q4" in w for w in data["warnings"])
