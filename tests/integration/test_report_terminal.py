"""`okrsync report` in an 80-column terminal on the demo store: the first screen is the
summary, no epic key is cut, `--top` and `--team` narrow it, and a past week says what its
trend point says."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli_runner import run_okrsync, without_okrsync_env
from tests.helpers.dashboard_helpers import ROOT, demo_store

SCREEN = 24


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store(tmp_path_factory.mktemp("demo"), epics=120)


def report(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = without_okrsync_env(os.environ) | {"COLUMNS": "80", "LINES": "24", "TERM": "dumb"}
    return run_okrsync("report", "--config", str(config), *args, env=env, cwd=ROOT)


def test_the_first_screen_is_the_summary_and_no_key_is_cut(demo: Path) -> None:
    out = report(demo)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    data = json.loads(report(demo, "--format", "json").stdout)
    kr_ids = [kr["id"] for o in data["bets"]["objectives"] for kr in o["krs"]]
    first = "\n".join(lines[:SCREEN])
    assert "vs last week" in first and "Key results" in first
    assert all(re.search(rf"^{re.escape(k)} ", first, re.M) for k in kr_ids)
    sections = next(n for n, line in enumerate(lines) if line.startswith("Untraceable, in"))
    assert sections <= SCREEN + 1  # the summary, then a blank line, then the first section
    keys = [i["key"] for i in data["untraceable"]["items"]]
    assert keys
    for key in keys:
        assert re.search(rf"^ {re.escape(key)} +\S", out.stdout, re.M), f"{key} is cut"


def test_top_and_team_narrow_the_lists(demo: Path) -> None:
    data = json.loads(report(demo, "--format", "json").stdout)
    in_flight = [i for i in data["untraceable"]["items"] if i["state"] in ("todo", "in_progress")]
    top = report(demo, "--top", "3").stdout
    assert f"Untraceable, in flight (top 3 of {len(in_flight)})" in top
    product = report(demo, "--team", "product").stdout
    assert "team product" in product.splitlines()[0]
    listed = set(re.findall(r"^ (\S+) +(?:todo|in progress|done)", product, re.M))
    mine = {i["key"] for i in data["untraceable"]["items"] if i["team"] == "product"}
    assert listed == mine
    unknown = report(demo, "--team", "produc")
    assert unknown.returncode == 2 and "did you mean 'product'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_a_past_week_agrees_with_its_trend_point(demo: Path) -> None:
    now = json.loads(report(demo, "--format", "json").stdout)
    trend = now["untraceable"]["trend"]
    assert len(trend) >= 12  # the demo's twelve weeks of history, and this one
    past = trend[-3]
    then = json.loads(report(demo, "--format", "json", "--week", past["week"]).stdout)
    share = then["untraceable"]["share"]
    assert (share["untraceable"], share["total"]) == (past["untraceable"], past["total"])
    assert then["untraceable"]["trend"][-1] == past
