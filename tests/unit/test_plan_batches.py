"""Planning the store in ranges of (source, key) decides exactly what planning it in one go
does, and what tickets no longer stored had (links, flags) goes either way."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.model import ApplyResult, ApplyStatus, Link, Origin, Page, WriteBack, WriteBackKind
from syncer.batch_plan import PlanTotals
from syncer.config import load_config
from syncer.engine import load_inputs, plan_settings
from syncer.planning import make_planner, plan_batches
from syncer.store import Store
from tests.helpers.config_helpers import write_project
from tests.helpers.store_backends import lose_store
from tests.helpers.store_helpers import ticket

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
POOL = ["checkout", "payments-x", "okr:KR-2", "okr:KR-404", "ktlo", "goal:KR-1", "misc"]


def _seed_store(path: Path | str) -> None:
    rng = random.Random(7)
    with Store.open(path) as store:
        for source, prefix in (("github", "acme/app#"), ("jira", "WEB-")):
            tickets = [
                ticket(f"{prefix}{n}", source=source, project="PAY" if n % 5 == 0 else "WEB",
                       title="card decline" if n % 4 == 0 else f"Epic {n}",
                       labels=tuple(rng.sample(POOL, rng.randint(0, 3))))
                for n in range(1, 30)
            ]
            store.store_page(source, Page(tuple(tickets)), 1, now=NOW)
        run = store.start_run("sync", dry_run=False, now=NOW)
        # the service once added goal:KR-1 to some tickets; people removed it from a few
        applied = [WriteBack(s, k, WriteBackKind.ADD_LABEL, label="goal:KR-1")
                   for s, k in (("jira", "WEB-3"), ("jira", "WEB-17"), ("github", "acme/app#9"))]
        store.enqueue(run, applied, now=NOW)
        for item in store.pending():
            store.mark_done(item.id, ApplyResult(ApplyStatus.APPLIED), run, now=NOW)
        for wb in applied[:2]:
            before = store.ticket(wb.source, wb.ticket_key)
            assert before is not None
            removed = [lb for lb in before.labels if lb != "goal:KR-1"]
            store.store_page(wb.source, Page((ticket(wb.ticket_key, source=wb.source,
                                                     labels=tuple(removed)),)), 2, now=NOW)
        # links and flags of tickets that are no longer stored: before, between, after
        ghosts = [Link("github", "acme/app#0", "KR-1", Origin.RULE),
                  Link("jira", "WEB-1a", "KR-1", Origin.RULE),
                  Link("jira", "ZZZ-1", "KR-2", Origin.LABEL)]
        store.save_plan_outcome(ghosts, [], [], ["jira:WEB-1a", "jira:ZZZ-1"], [],
                                sources=["jira", "github"], now=NOW)


def _plan(folder: Path, batch: int) -> dict[str, Any]:
    cfg = load_config(folder / "okrsync.toml")
    catalog, rules = load_inputs(cfg)
    writebacks: list[WriteBack] = []
    with Store.open(cfg.store_target) as store:
        planner = make_planner(store, catalog, rules, plan_settings(cfg),
                               healthy=frozenset({"jira", "github"}), now=NOW, replan=False)
        totals = PlanTotals()
        for part in plan_batches(store, planner, size=batch):
            totals.add(part)
            writebacks.extend(part.plan.writebacks)
            store.save_plan_outcome(part.plan.links, part.plan.broken, part.plan.bets,
                                    part.plan.untraceable, part.plan.overrides,
                                    sources=["jira", "github"], now=NOW, within=part.within)
        return {
            "totals": totals,
            "writebacks": writebacks,
            "links": store.links(),
            "broken": store.broken_links(),
            "untraceable": store.untraceable(),
            "bets": store.bets(),
            "overrides": store.overrides(),
            "labels": store.applied_state().labels,
        }


@pytest.mark.usefixtures("store_backend_env")
def test_batched_planning_equals_planning_in_one_go(tmp_path: Path) -> None:
    """On both backends: the (source, key) ranges are the database's order."""
    results = {}
    for batch in (1, 4, 10_000):
        folder = tmp_path / f"b{batch}"
        write_project(folder, '[store]\npath = "okrsync.db"\n')
        target = load_config(folder / "okrsync.toml").store_target
        lose_store(target)  # one store per batch size (a PostgreSQL schema is reused)
        _seed_store(target)
        results[batch] = _plan(folder, batch)
    whole = results[10_000]
    assert whole["links"] and whole["broken"] and whole["untraceable"] and whole["overrides"]
    assert whole["writebacks"] and whole["bets"]
    uids = {f"{lk.source}:{lk.ticket_key}" for lk in whole["links"]} | set(whole["untraceable"])
    assert not uids & {"github:acme/app#0", "jira:WEB-1a", "jira:ZZZ-1"}, "ghosts are gone"
    for batch in (1, 4):
        assert results[batch] == whole, f"batch size {batch} planned differently"
    shutil.rmtree(tmp_path / "b1")
