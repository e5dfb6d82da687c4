"""`okrsync plan --json` prints the run's plan value: the same write-backs a real sync then
applies, nothing written remotely or queued, the same JSON for the same state. And a run's
shell closes its run row whatever ends it (revert included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.base import Connector, SourceConfig
from sandbox import sandbox
from syncer.engine import run_sync
from syncer.revert import revert_run
from syncer.run_context import RunDeps
from syncer.store import Store
from tests.helpers.e2e import config, okrsync, project, remote_state, tokens

pytestmark = pytest.mark.usefixtures("store_backend_env")

KEYS = ["bets", "broken", "dropped", "ktlo", "links", "overrides", "released_holds",
        "sources", "untraceable", "writebacks"]


def test_plan_json_is_the_plan_a_sync_then_applies(tmp_path: Path) -> None:
    with sandbox(epics=40, seed=5) as sb:
        cfg_path = project(tmp_path, sb)
        untouched = remote_state(sb)
        first = okrsync("plan", "--json", "--config", str(cfg_path), sb=sb)
        assert first.returncode == 0, first.stderr
        data = json.loads(first.stdout)
        assert sorted(data) == KEYS
        assert set(data["sources"]) == {"jira", "github"}
        assert all(v["healthy"] for v in data["sources"].values())
        assert data["writebacks"] and data["links"]
        assert remote_state(sb) == untouched, "plan writes nothing remotely"
        with Store.open(config(cfg_path, sb).store_target) as store:
            assert store.pending_count() == 0, "plan queues nothing"
        again = json.loads(okrsync("plan", "--json", "--config", str(cfg_path),
                                   sb=sb).stdout)
        del again["sources"], data["sources"]  # the first pull was complete, this one not
        for plan in (again, data):  # a new bet becomes active when it is planned
            plan["bets"] = [{k: v for k, v in b.items() if not k.endswith("_at")}
                            for b in plan["bets"]]
        assert data["bets"] and again == data, "the same state plans the same JSON"
        summary = run_sync(config(cfg_path, sb))
        assert summary.exit_code == 0, summary.failed
        def ids(wbs: list[dict[str, str]]) -> list[tuple[str, str, str, str]]:
            return [(w["source"], w["ticket_key"], w["kind"], w["label"]) for w in wbs]

        assert ids([wb.to_json() for wb in summary.planned]) == ids(data["writebacks"])


def test_a_revert_that_fails_part_way_closes_its_run_row_as_an_error(tmp_path: Path) -> None:
    def refuse(src: SourceConfig) -> Connector:
        raise RuntimeError(f"no connector for {src.name}")

    with sandbox(epics=20, seed=2) as sb:
        cfg_path = project(tmp_path, sb)
        assert run_sync(config(cfg_path, sb)).exit_code == 0
        with tokens(sb), pytest.raises(RuntimeError):
            revert_run(config(cfg_path, sb), 1, deps=RunDeps(connect=refuse))
        with Store.open(config(cfg_path, sb).store_target) as store:
            runs = store.last_runs()
        assert runs["revert"].status == "error"
        assert runs["revert"].summary == {"error": "RuntimeError"}
