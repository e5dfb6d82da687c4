"""What suggestions cost and how right they are, on two generated organisations.

For each organisation (the sandbox's demo organisation, and `paraphrase_org`'s rewording of
it) this builds a real store the way a sync does (parsed pages stored, the planner run over
every epic), then prints:

- planning: the time the sync's planner takes over the store (the baseline, same run);
- suggestions: the extra time a sync or report spends suggesting for every untraceable epic,
  with the model kept from the last run (`total_s`, links unchanged) and refitting it
  (`refit_s`, the first run after the links changed), and the kept one's ratio to planning;
- `okrsync suggest --evaluate` as a user runs it (child process): wall time and peak RSS;
- its figures: precision@1, precision@3 and coverage at `[suggest] min_confidence`, for the
  learned suggester and the previous method.

    python bench/suggest.py                # 50,000 epics, both organisations
    python bench/suggest.py --smoke        # 600 epics: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from paraphrase_org import paraphrased  # noqa: E402

from connectors import github_parse, jira_parse  # noqa: E402
from core.model import Page, Ticket  # noqa: E402
from sandbox.data import generate  # noqa: E402

ORGS = {"demo": generate, "paraphrased": paraphrased}


def _tickets(scenario: dict[str, Any]) -> dict[str, list[Ticket]]:
    """The epics a sync would store, parsed by the connectors' own parsers."""
    jira = [jira_parse.parse_issue(raw, source="jira", site_url="http://127.0.0.1:9")
            for raw in scenario["jira"]["issues"]
            if raw["fields"]["issuetype"]["name"] == "Epic"]
    github = [github_parse.parse_issue(raw, source="github", repo=repo)
              for repo, data in scenario["github"]["repos"].items() for raw in data["issues"]
              if (raw.get("type") or {}).get("name") == "Epic"]
    return {"jira": jira, "github": github}


def build(work: Path, org: str, epics: int, seed: int) -> tuple[Path, float]:
    """A project directory whose store holds the organisation as a sync leaves it; returns
    the config path and the planner's time."""
    from syncer.commands.demo import write_demo_files
    from syncer.config import load_config
    from syncer.engine import load_inputs, plan_settings
    from syncer.planning import apply_batch, make_planner, plan_batches
    from syncer.store import Store

    cfg_path = write_demo_files(
        work, jira_url="http://127.0.0.1:9", github_url="http://127.0.0.1:9",
        jira_user="sandbox@example.com", org="acme", jql="project in (WEB)", seed=seed,
        epics=epics)
    cfg = load_config(cfg_path)
    catalog, rules = load_inputs(cfg)
    now = datetime.now(UTC)
    with Store.open(cfg.store_target) as store:
        run_id = store.start_run("sync", dry_run=False, now=now)
        for source, tickets in _tickets(ORGS[org](epics, seed)).items():
            for at in range(0, len(tickets), 100):
                store.store_page(source, Page(tuple(tickets[at:at + 100])), run_id, now=now)
        healthy = frozenset(cfg.sources)
        started = time.perf_counter()
        planner = make_planner(store, catalog, rules, plan_settings(cfg), healthy=healthy,
                               now=now, replan=False)
        with store.transaction():
            for batch in plan_batches(store, planner):
                apply_batch(store, replace(batch, plan=replace(batch.plan, writebacks=())),
                            run_id=run_id, sources=healthy, now=now)
        planning = time.perf_counter() - started
    return cfg_path, planning


def suggestions_time(cfg_path: Path) -> dict[str, Any]:
    """What computing every untraceable epic's suggestion adds, in this process: first with
    no kept model (a refit, importing scikit-learn included: the first sync after the links
    changed), then again with the model the first run kept (a sync whose links did not)."""
    imported = time.perf_counter()
    from syncer import suggestions as sg

    import_s = time.perf_counter() - imported
    from syncer.config import load_config
    from syncer.inputs import resolve_inputs
    from syncer.store import Store
    from syncer.suggest_cache import model_path

    cfg = load_config(cfg_path)
    inputs = resolve_inputs(cfg)
    catalog, rules = inputs.catalog, inputs.rules
    model_path(cfg.store_path).unlink(missing_ok=True)
    with Store.open(cfg.store_target) as store:
        started = time.perf_counter()
        model, tickets, found = sg.suggest_untraceable(store, catalog, cfg, rules)
        refit = time.perf_counter() - started
        started = time.perf_counter()
        _, _, again = sg.suggest_untraceable(store, catalog, cfg, rules)
        kept = time.perf_counter() - started
    if [(s.ticket.uid, s.ranked) for s in again] != [(s.ticket.uid, s.ranked) for s in found]:
        raise SystemExit("the kept model suggests otherwise than the model it was fitted as")
    return {"import_s": round(import_s, 2), "refit_s": round(refit + import_s, 2),
            "total_s": round(kept + import_s, 2), "untraceable": len(tickets),
            "suggested": len(found), "examples": model.examples,
            "model_mib": round(model_path(cfg.store_path).stat().st_size / 2**20, 1)}


def evaluate_child(cfg_path: Path) -> dict[str, Any]:
    """`okrsync suggest --evaluate --json` as a user runs it: wall time and peak RSS."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out, err = cfg_path.parent / "evaluate.json", cfg_path.parent / "evaluate.err"
    started = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncer.cli", "suggest", "--evaluate", "--json", "--config",
             str(cfg_path)], stdout=stdout, stderr=stderr, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"suggest --evaluate failed: {err.read_text()[-2000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "figures": json.loads(out.read_text())}


def measure(org: str, epics: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="okrsync-bench-suggest-") as tmp:
        cfg_path, planning = build(Path(tmp), org, epics, seed)
        extra = suggestions_time(cfg_path)
        evaluated = evaluate_child(cfg_path)
    return {"org": org, "epics": epics, "seed": seed, "planning_s": round(planning, 2),
            "suggestions": extra,
            "suggestions_vs_planning": round(extra["total_s"] / planning, 2) if planning else None,
            "evaluate": evaluated}


def _print(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="okrsync suggestions")
    for col in ("org", "epics", "plan s", "suggest s", "refit s", "evaluate s", "RSS MiB",
                "p@1", "p@3", "cover", "old p@1", "old cover"):
        table.add_column(col, justify="right")
    for r in results:
        f = r["evaluate"]["figures"]["overall"]
        new, old = f["learned"], f["previous"]
        table.add_row(r["org"], f"{r['epics']:,}", str(r["planning_s"]),
                      str(r["suggestions"]["total_s"]), str(r["suggestions"]["refit_s"]),
                      str(r["evaluate"]["wall_s"]),
                      str(r["evaluate"]["peak_rss_mib"]), str(new["precision_at_1"]),
                      str(new["precision_at_3"]), str(new["coverage"]),
                      str(old["precision_at_1"]), str(old["coverage"]))
    Console(width=120).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epics", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--org", choices=sorted(ORGS), action="append")
    parser.add_argument("--smoke", action="store_true", help="600 epics, for CI")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    epics = 600 if args.smoke else args.epics
    results = [measure(org, epics, args.seed) for org in (args.org or sorted(ORGS))]
    _print(results)
    if args.json:
        args.json.write_text(json.dumps({"results": results}, indent=2))


if __name__ == "__main__":
    main()
