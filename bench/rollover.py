"""A quarter rollover on a big organisation: what it costs, previewed and applied.

    python bench/rollover.py [--epics 10000] [--content-limit 100/2 --content-limit 625/20]
                             [--smoke] [--json FILE]

The demo organisation (`--epics`, ~40 % on GitHub) is synced to convergence in its cycle
under the sandboxes' enforced limits (GitHub's secondary limits scaled down in time as in
bench/limits.py, Jira's real ones). Then next quarter arrives, measured two ways in the same
run:

- baseline: okrs.toml and rules.toml replaced by next quarter's (new KR ids, same rules),
  `sync --dry-run`: the write storm the issue describes;
- rollover: the old cycle kept as history and a new `[[cycle]]`, `cycle rollover --dry-run`
  with GitHub's published limits (80/min, 500/h, 1 s apart): the write budget and the time;
  then `cycle rollover` for real under the scaled limits, and syncs until nothing is left:
  runs, content writes, time against the physical minimum, limit answers, duplicates.

Figures are printed and written to the JSON file; nothing is asserted on time. `--smoke` (a
small organisation, tighter limits) runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from limits import _config, _content_writes, _duplicates, _env, _org  # noqa: E402
from run import _child  # noqa: E402

from connectors.pacing import Limit, minimum_seconds  # noqa: E402
from sandbox.cycles import new_id, two_cycle_catalog, two_cycle_rules  # noqa: E402
from sandbox.data import demo_catalog_toml, demo_rules_toml  # noqa: E402

OLD, NEW = "2026-Q4", "2027-Q1"
DROPPED = ("KR-SRCH-1",)
"""Next quarter carries every rule on except this KR's: its open epics need a new KR."""
_ID = re.compile(r'^(id|kr) = "([^"]+)"$', re.MULTILINE)


def _okrsync(config: Path, env: dict[str, str], *args: str) -> tuple[dict[str, Any], float]:
    cmd = [sys.executable, "-m", "syncer.cli", *args, "--json", "--config", str(config)]
    data, wall, _ = _child(cmd, env)
    return data, wall


def _converge(config: Path, env: dict[str, str], first: list[str], max_runs: int = 10
              ) -> dict[str, Any]:
    """Run `first`, then syncs, until nothing is planned, pending or deferred."""
    runs: list[dict[str, Any]] = []
    wall = 0.0
    args = first
    for _ in range(max_runs):
        data, seconds = _okrsync(config, env, *args)
        summary = data.get("run", data)
        busy = bool(summary.get("planned_count") or summary.get("applied")
                    or summary.get("failed"))
        if busy:
            wall += seconds
        runs.append({"command": args[0] if args[0] == "sync" else " ".join(args[:2]),
                     "wall_s": round(seconds, 2), "planned": summary.get("planned_count", 0),
                     "applied": summary.get("applied", 0),
                     "failed": len(summary.get("failed", [])),
                     "deferred": sum(d["count"] for d in summary.get("deferred", [])),
                     "exit_code": summary.get("exit_code")})
        if not (summary.get("planned_count") or summary.get("pending")
                or summary.get("deferred")):
            break
        args = ["sync"]
    return {"runs": runs, "wall_s": round(wall, 1)}


def _next_quarter(work: Path, *, baseline: bool) -> None:
    """Write next quarter's catalog and rules: the naive replacement, or with cycles."""
    if baseline:
        renamed = _ID.sub(lambda m: f'{m.group(1)} = "{new_id(m.group(2))}"'
                          if m.group(2).startswith(("O-", "KR-")) else m.group(0),
                          demo_catalog_toml())
        rules = _ID.sub(lambda m: f'kr = "{new_id(m.group(2))}"' if m.group(1) == "kr"
                        else m.group(0), demo_rules_toml())
        (work / "okrs.toml").write_text(renamed.replace(f'cycle = "{OLD}"', f'cycle = "{NEW}"'))
        (work / "rules.toml").write_text(rules)
        return
    today = date.today()
    (work / "okrs.toml").write_text(two_cycle_catalog(
        demo_catalog_toml(), old=OLD, new=NEW,
        old_days=(today - timedelta(days=365), today + timedelta(days=30)),
        new_days=(today + timedelta(days=31), today + timedelta(days=120)),
        mark_new_current=True))
    (work / "rules.toml").write_text(two_cycle_rules(demo_rules_toml(), old=OLD,
                                                     drop_krs=DROPPED))


def _published(config: Path) -> Path:
    """The same project with GitHub's published limits (the defaults) instead of scaled ones."""
    text = config.read_text()
    text = re.sub(r"^(content_limits|points_limit|write_spacing) = .*\n", "", text,
                  flags=re.MULTILINE)
    out = config.with_name("okrsync-published.toml")
    out.write_text(text)
    return out


def _budget(entries: list[dict[str, Any]], source: str) -> dict[str, Any]:
    return next((b for b in entries if b["source"] == source), {})


def measure(epics: int, seed: int, content: list[Limit]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="okrsync-rollover-"))
    with _org(epics, seed, content) as sb:
        config = _config(sb, work, content, pacing=True)
        env = _env(False)
        started = time.monotonic()
        initial = _converge(config, env, ["sync"])
        initial["setup_s"] = round(time.monotonic() - started, 1)
        print("initial:", json.dumps(initial), flush=True)
        kept = {name: (work / name).read_text() for name in ("okrs.toml", "rules.toml")}

        _next_quarter(work, baseline=True)
        naive, naive_wall = _okrsync(_published(config), env, "sync", "--dry-run")
        gh_naive = _budget(naive.get("write_budget", []), "github")
        baseline = {"writebacks": naive.get("planned_count"), "wall_s": round(naive_wall, 2),
                    "github_content": gh_naive.get("content"),
                    "github_seconds_published": gh_naive.get("seconds"),
                    "message": [b["message"] for b in naive.get("write_budget", [])]}
        print("baseline (replace the files):", json.dumps(baseline), flush=True)
        for name, text in kept.items():
            (work / name).write_text(text)

        _next_quarter(work, baseline=False)
        sb.reset_accounting()
        dry, dry_wall = _okrsync(_published(config), env, "cycle", "rollover", "--to", NEW,
                                 "--dry-run")
        gh = _budget(dry["budget"], "github")
        preview = {"writebacks": dry["writebacks"], "by_kind": dry["by_kind"],
                   "moves": len(dry["moves"]), "needs_kr": len(dry["needs_kr"]),
                   "frozen_epics": dry["frozen_epics"], "wall_s": round(dry_wall, 2),
                   "github_content": gh.get("content"),
                   "github_seconds_published": gh.get("published_seconds"),
                   "message": [b["message"] for b in dry["budget"]],
                   "remote_writes": sum(n for name, n in
                                        sb.accounting()["github"]["by_endpoint"].items()
                                        if not name.startswith("GET"))}
        print("rollover preview:", json.dumps(preview), flush=True)

        sb.reset_accounting()
        applied = _converge(config, env, ["cycle", "rollover", "--to", NEW])
        acc = sb.accounting()
        writes = _content_writes(acc["github"])
        physical = minimum_seconds(writes, content)
        applied.update({
            "content_writes": writes, "physical_min_s": round(physical, 1),
            "converge_ratio": round(applied["wall_s"] / physical, 3) if physical else None,
            "secondary_limited": acc["github"].get("secondary_limited", 0),
            "github_rate_limited": acc["github"].get("rate_limited", {}),
            "jira_rate_limited": acc["jira"].get("rate_limited", {}),
            "duplicates": _duplicates(sb),
        })
        print("rollover applied:", json.dumps(applied), flush=True)
        github_epics = sum(len(r.issues) for r in sb.github.repos.values())
    ratio = (round(preview["writebacks"] / baseline["writebacks"], 3)
             if baseline["writebacks"] else None)
    return {"github_epics": github_epics, "initial": initial, "baseline": baseline,
            "preview": preview, "applied": applied, "writebacks_vs_baseline": ratio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--epics", type=int, default=10_000)
    parser.add_argument("--content-limit", action="append", default=None,
                        help="GitHub content limit COUNT/SECONDS (scaled), repeatable")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    epics = 80 if args.smoke else args.epics
    texts = args.content_limit or (["20/1", "50/5"] if args.smoke else ["100/2", "625/20"])
    content = [Limit.parse(t) for t in texts]
    result: dict[str, Any] = {"epics": epics, "content_limits": [str(c) for c in content],
                              "machine": {"python": platform.python_version(),
                                          "cpus": os.cpu_count()}}
    result.update(measure(epics, args.seed, content))
    print(f"rollover: {result['preview']['writebacks']} write-backs vs "
          f"{result['baseline']['writebacks']} replacing the files "
          f"(ratio {result['writebacks_vs_baseline']}); at GitHub's published limits "
          f"{result['preview']['github_seconds_published']} s vs "
          f"{result['baseline']['github_seconds_published']} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
