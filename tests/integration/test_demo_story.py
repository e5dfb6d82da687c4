"""`okrsync demo`: a believable organisation with history, a clean start in a folder it wrote
before, a refusal for anyone else's folder, no leftover temporary folder, and `--serve`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from sandbox.data import HOSTILE_TITLES, generate
from syncer.store import Store
from tests.helpers.cli_runner import run_as_new_process
from tests.helpers.dashboard_helpers import ROOT, clean_env


def demo(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_as_new_process("demo", "--epics", "60", *args, env=clean_env(**env), cwd=ROOT)


def demo_process(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """In a child process: for what this process cannot renew (`TMPDIR` is read once)."""
    return subprocess.run(
        [sys.executable, "-m", "syncer.cli", "demo", "--epics", "60", *args],
        cwd=ROOT, env=clean_env(**env), capture_output=True, text=True, timeout=240,
    )


def test_the_story_has_history_verdicts_and_no_test_strings(tmp_path: Path) -> None:
    out = demo("--dir", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["dir"] == str(tmp_path)
    with Store.open(tmp_path / "okrsync.db") as store:
        titles = {t.title for t in store.tickets()}
        weeks = {c.at.isocalendar()[:2] for c in store.checkins()}
        bets = store.bets()
        snapshots = store.report_snapshots("weekly-all", 20)
    assert not titles & set(HOSTILE_TITLES)
    assert len(weeks) >= 12 and len(snapshots) >= 12
    ended = [b for b in bets if b.ended_at is not None]
    assert ended and all(b.kr_start is not None and b.kr_end is not None for b in ended)
    assert not any(t in (out.stdout + out.stderr) for t in HOSTILE_TITLES)


def test_explicit_labels_fit_their_epics() -> None:
    story = generate(300, 7, story=True)
    plain = generate(300, 7)
    themes = {"checkout": "KR-CHK", "onboarding": "KR-ONB", "search": "KR-SRCH",
              "reliability": "KR-REL", "data": "KR-DATA"}
    for issue in story["jira"]["issues"]:
        fields = issue["fields"]
        theme = fields["components"][0]["name"] if fields["components"] else ""
        explicit = [lab for lab in fields["labels"] if lab.startswith("okr:KR-")
                    and not lab.startswith(("okr:KR-OLD", "okr:KR-LEGACY"))]
        if theme in themes and explicit:
            assert all(lab.startswith(f"okr:{themes[theme]}") for lab in explicit), issue["key"]
    # the same organisation otherwise: same keys, same states
    def keys(data: dict[str, Any]) -> list[str]:
        return [i["key"] for i in data["jira"]["issues"]]

    assert keys(story) == keys(plain)


def test_a_folder_the_demo_wrote_starts_clean(tmp_path: Path) -> None:
    first = demo("--dir", str(tmp_path), "--json")
    assert first.returncode == 0
    again = demo("--dir", str(tmp_path), "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    with Store.open(tmp_path / "okrsync.db") as store:
        # this demo's two syncs and its KR measurement, only
        assert [r.kind for r in store.runs()] == ["measure", "sync", "sync"]
    # A fresh sandbox needs the same writes again; a reused store would have claimed none.
    assert json.loads(again.stdout)["writes_applied"] == json.loads(first.stdout)[
        "writes_applied"] > 0


def test_someone_elses_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    out = demo("--dir", str(tmp_path))
    assert out.returncode == 2
    assert "--dir" in out.stderr and "notes.txt" in out.stderr and "Traceback" not in out.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_no_temporary_folder_is_left_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = demo_process(TMPDIR=str(scratch))
    assert out.returncode == 0, out.stderr[-2000:]
    assert list(scratch.iterdir()) == []
    assert "--dir" in out.stdout  # says how to keep the files


def test_serve_ends_by_printing_the_dashboard_url_and_serving(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer.cli", "demo", "--epics", "40", "--dir", str(tmp_path),
         "--serve", "--port", "0"],
        cwd=ROOT, env=clean_env(COLUMNS="200"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if line.startswith("Dashboard: "):
                url = line.split()[1]
                break
        assert url.startswith("http://127.0.0.1:")
        page = httpx.get(url + "portfolio", timeout=30)
        assert page.status_code == 200 and "KR-CHK-1" in page.text
        config = (tmp_path / "okrsync.toml").read_text()
        assert f'dashboard_url = "{url.rstrip("/")}"' in config
    finally:
        proc.terminate()
        proc.wait(timeout=30)
