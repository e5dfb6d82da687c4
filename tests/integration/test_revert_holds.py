"""A reverted run stays reverted: the tickets it touched are held, so the next syncs plan
nothing for them until a rule or the ticket changes what they map to, or `okrsync revert
--release RUN_ID`. Against the sandboxes over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import sandbox
from syncer.commands.status import collect_status
from syncer.engine import run_sync
from syncer.revert import revert_run
from syncer.store import Store
from tests.helpers.e2e import config, managed_only, okrsync, project, remote_state, tokens

pytestmark = pytest.mark.usefixtures("store_backend_env")
"""Each test on the SQLite file and on a real PostgreSQL server."""


def test_a_revert_holds_until_released_and_release_reapplies(tmp_path: Path) -> None:
    with sandbox(epics=60, seed=31) as sb:
        cfg_path = project(tmp_path, sb)
        untouched = remote_state(sb)
        first = run_sync(config(cfg_path, sb))
        assert first.exit_code == 0 and first.applied > 0
        synced = remote_state(sb)
        touched = {(wb.source, wb.ticket_key) for wb in first.planned}

        done = okrsync("revert", "1", "--config", str(cfg_path), sb=sb)
        assert done.returncode == 0, done.stderr
        assert f"held {len(touched)} tickets" in done.stdout
        assert "okrsync revert --release 1" in done.stdout
        assert remote_state(sb) == untouched

        for _ in range(2):  # a daemon's next runs
            again = run_sync(config(cfg_path, sb))
            assert again.exit_code == 0
            assert [wb for wb in again.planned if (wb.source, wb.ticket_key) in touched] == []
        assert remote_state(sb) == untouched, "the revert stays reverted"

        db = config(cfg_path, sb).store_target
        status = collect_status(db, ["jira", "github"])
        assert {(h["source"], h["ticket"]) for h in status["held"]} == touched
        assert {h["reverted_run"] for h in status["held"]} == {1}
        shown = okrsync("status", "--config", str(cfg_path), sb=sb)
        assert f"held by a revert: {len(touched)} tickets" in shown.stdout

        released = okrsync("revert", "1", "--release", "--json", "--config", str(cfg_path),
                           sb=sb)
        assert released.returncode == 0, released.stderr
        assert json.loads(released.stdout) == {"run_id": 1, "released": len(touched)}
        back = run_sync(config(cfg_path, sb))
        assert back.exit_code == 0 and back.applied > 0
        assert managed_only(remote_state(sb)) == managed_only(synced)
        with Store.open(db) as store:
            assert store.held_links() == []


def test_a_ticket_whose_mapping_changed_is_released_and_synced(tmp_path: Path) -> None:
    with sandbox(epics=60, seed=32) as sb:
        cfg_path = project(tmp_path, sb)
        first = run_sync(config(cfg_path, sb))
        jira_touched = sorted({wb.ticket_key for wb in first.planned if wb.source == "jira"})
        assert len(jira_touched) >= 2
        with tokens(sb):
            outcome = revert_run(config(cfg_path, sb), 1)
        assert outcome.exit_code == 0 and outcome.held > 0
        changed, kept = jira_touched[0], jira_touched[1]
        sb.jira.edit_issue(changed, labels=[*sb.jira.labels(changed), "okr:KR-DATA-1"])

        later = run_sync(config(cfg_path, sb))
        assert later.exit_code == 0
        planned = {wb.ticket_key for wb in later.planned if wb.source == "jira"}
        assert changed in planned, "a person's change to the ticket ends its hold"
        assert kept not in planned
        assert "goal:KR-DATA-1" in sb.jira.labels(changed)
        assert not [lb for lb in sb.jira.labels(kept) if lb.startswith("goal:")]
        with Store.open(config(cfg_path, sb).store_target) as store:
            held = {(h.source, h.ticket_key) for h in store.held_links()}
        assert ("jira", changed) not in held and ("jira", kept) in held
