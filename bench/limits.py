"""Real limits: how close okrsync gets to what the trackers' rate limits allow, paced and not.

    python bench/limits.py [--epics 5000] [--content-limit 40/2 --content-limit 250/20]
                           [--smoke] [--json FILE]

The sandboxes enforce GitHub's secondary limits scaled down in time (`--content-limit`, points
per endpoint scaled by the same factor, 100 concurrent requests) and Jira's real per-issue and
burst limits; the okrsync config gets the same `content_limits`. Measured, each sync in its
own child process, repeated until nothing is left to write ("as many runs as it takes"):

- paced: secondary-limit answers, content writes, time to converge against the physical
  minimum (content writes under the limits), write throughput against what they allow,
  duplicates (goal-link comments, labels, remote links);
- the same organisation with `pacing = false`, side by side;
- a no-op sync with GitHub App auth against token-specific ETags: quota and requests per repo;
- Jira: 50 write-backs on one epic (many key results) against the per-issue write limit.

Figures are printed and written to the JSON file; nothing is asserted on time. `--smoke`
(a small organisation, tighter limits) runs in the test suite in a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import _child  # noqa: E402  (bench/run.py: one measured job per child process)

from connectors.github_comment import MARKER  # noqa: E402
from connectors.pacing import Limit, minimum_seconds, steady_rate  # noqa: E402

TOKEN = "bench-limits-token-not-a-secret"
REAL_CONTENT_WINDOW = 60.0


def _scale(content: list[Limit]) -> float:
    """How much faster than github.com's 80 a minute the shortest scaled window runs."""
    shortest = min(content, key=lambda lim: lim.seconds)
    return shortest.rate / (80 / REAL_CONTENT_WINDOW)


def _scaled_points(content: list[Limit]) -> Limit:
    """GitHub's 900 points a minute per endpoint, sped up like the content limit."""
    return Limit(900, round(REAL_CONTENT_WINDOW / _scale(content), 3))


@contextmanager
def _org(epics: int, seed: int, content: list[Limit], *, token_etags: bool = False
         ) -> Iterator[Any]:
    from sandbox import GitHubLimits, JiraLimits, sandbox

    github = GitHubLimits(tuple(content), _scaled_points(content), 100, True)
    with sandbox(epics=epics, seed=seed, token=TOKEN, github_limits=github,
                 jira_limits=JiraLimits.real(), token_etags=token_etags) as sb:
        sb.github.set_quota(limit=10_000_000)
        yield sb


def _config(sb: Any, work: Path, content: list[Limit], *, pacing: bool, app: bool = False
            ) -> Path:
    from syncer.commands.demo import write_demo_files

    projects = sorted({k.split("-", 1)[0] for k in sb.jira.keys()})  # noqa: SIM118
    config = write_demo_files(work, jira_url=sb.jira_url, github_url=sb.github_url,
                              jira_user=sb.jira_user, org=sb.org,
                              jql=f"project in ({', '.join(projects)})", seed=1, epics=0)
    text = config.read_text()
    limits = ", ".join(f'"{lim}"' for lim in content)
    spacing = 1.0 / _scale(content)  # GitHub's advice of 1 s between writes, sped up
    github = (f'pacing = {str(pacing).lower()}\ncontent_limits = [{limits}]\n'
              f'points_limit = "{_scaled_points(content)}"\nwrite_spacing = {spacing:.4f}\n')
    text = text.replace("pacing = false\n", f"pacing = {str(pacing).lower()}\n"
                        "lookback_seconds = 2\n", 1)  # Jira's comes first
    text = text.replace('epic_label = "epic"\npacing = false\n', f'epic_label = "epic"\n{github}')
    if app:
        key = work / "app.pem"
        key.write_text(sb.app_private_key)
        key.chmod(0o600)
        text = text.replace('token = ""\norg =', f'app_id = {sb.app_id}\ninstallation_id = '
                            f'{sb.installation_id}\nprivate_key_path = "{key}"\norg =')
    config.write_text(text)
    return config


def _env(app: bool) -> dict[str, str]:
    env = dict(os.environ, OKRSYNC_SOURCES__JIRA__TOKEN=TOKEN, PYTHONPATH=str(ROOT))
    if not app:
        env["OKRSYNC_SOURCES__GITHUB__TOKEN"] = TOKEN
    else:
        env.pop("OKRSYNC_SOURCES__GITHUB__TOKEN", None)
    return env


def _sync(config: Path, env: dict[str, str]) -> tuple[dict[str, Any], float]:
    cmd = [sys.executable, "-m", "syncer.cli", "sync", "--json", "--config", str(config)]
    data, wall, _ = _child(cmd, env)
    return data, wall


def _content_writes(acc: dict[str, Any]) -> int:
    """Content-creating requests the sandbox GitHub accepted (2xx POST / PATCH / PUT)."""
    # by_status is not per endpoint; count accepted writes as writes sent minus refusals
    sent = sum(n for name, n in acc["by_endpoint"].items()
               if name.split(" ", 1)[0] in ("POST", "PATCH", "PUT") and "access_tokens" not in name)
    return sent - int(acc.get("secondary_limited", 0))


def _duplicates(sb: Any) -> int:
    dups = 0
    for full_name, repo in sb.github.repos.items():
        for number in repo.issues:
            ours = [c for c in sb.github.comments(full_name, number)
                    if MARKER in str(c.get("body", ""))]
            labels = [lb.casefold() for lb in sb.github.labels_of(full_name, number)]
            dups += max(0, len(ours) - 1) + len(labels) - len(set(labels))
    for key in sb.jira.keys():  # noqa: SIM118
        ids = [str(link.get("globalId")) for link in sb.jira.remote_links(key)]
        dups += len(ids) - len(set(ids))
    return dups


def converge(epics: int, seed: int, content: list[Limit], *, pacing: bool,
             max_runs: int = 8) -> dict[str, Any]:
    """Sync until nothing is left to write; the figures of all those runs together."""
    work = Path(tempfile.mkdtemp(prefix="okrsync-limits-"))
    with _org(epics, seed, content) as sb:
        config = _config(sb, work, content, pacing=pacing)
        env = _env(False)
        sb.reset_accounting()
        runs: list[dict[str, Any]] = []
        wall = apply = 0.0
        for _ in range(max_runs):
            summary, seconds = _sync(config, env)
            if summary.get("planned_count") or summary.get("applied") or summary.get("failed"):
                wall += seconds  # the last run, which finds nothing left, only confirms
                apply += float(summary.get("apply_seconds") or 0.0)
            runs.append({"wall_s": round(seconds, 2), "applied": summary.get("applied", 0),
                         "apply_s": summary.get("apply_seconds"),
                         "planned": summary.get("planned_count", 0),
                         "failed": len(summary.get("failed", [])),
                         "deferred": sum(d["count"] for d in summary.get("deferred", [])),
                         "exit_code": summary.get("exit_code")})
            if not summary.get("planned_count") and not summary.get("pending") and not (
                    summary.get("deferred")):
                break
        acc = sb.accounting()
        writes = _content_writes(acc["github"])
        physical = minimum_seconds(writes, content)
        github_epics = sum(len(r.issues) for r in sb.github.repos.values())
        return {
            "pacing": pacing, "github_epics": github_epics, "jira_epics": len(sb.jira),
            "runs": runs, "wall_s": round(wall, 1), "apply_s": round(apply, 1),
            "content_writes": writes, "physical_min_s": round(physical, 1),
            "writes_over_rate_s": round(writes / steady_rate(content), 1),
            "converge_ratio": round(wall / physical, 3) if physical else None,
            "apply_ratio": round(apply / physical, 3) if physical else None,
            "throughput_per_s": round(writes / wall, 2) if wall else None,
            "allowed_per_s": round(writes / physical, 2) if physical else None,
            "throughput_share": round(physical / wall, 3) if wall and physical else None,
            "steady_rate_per_s": round(steady_rate(content), 2),
            "secondary_limited": acc["github"].get("secondary_limited", 0),
            "github_rate_limited": acc["github"].get("rate_limited", {}),
            "jira_rate_limited": acc["jira"].get("rate_limited", {}),
            "duplicates": _duplicates(sb),
        }


def app_noop(epics: int, seed: int, content: list[Limit]) -> dict[str, Any]:
    """Full sync, one settle sync, then a no-op sync in a new process (a new installation
    token), against token-specific ETags."""
    work = Path(tempfile.mkdtemp(prefix="okrsync-limits-app-"))
    with _org(epics, seed, content, token_etags=True) as sb:
        config = _config(sb, work, content, pacing=True, app=True)
        env = _env(True)
        for _ in range(6):
            summary, _ = _sync(config, env)
            if not summary.get("planned_count") and not summary.get("pending"):
                break
        time.sleep(2.5)  # a Last-Modified within a second of the answer is not trusted
        _sync(config, env)
        time.sleep(2.5)
        before = sb.accounting()["github"]
        summary, wall = _sync(config, env)
        after = sb.accounting()["github"]
        repos = len(sb.github.repos)
        requests = after["requests"] - before["requests"]
        mints = sum(n for name, n in after["by_endpoint"].items() if "access_tokens" in name) - sum(
            n for name, n in before["by_endpoint"].items() if "access_tokens" in name)
        return {"repos": repos, "requests": requests, "token_mints": mints,
                "requests_per_repo": round((requests - mints) / repos, 2) if repos else None,
                "quota": after["quota_spent"] - before["quota_spent"],
                "not_modified": after["not_modified"] - before["not_modified"],
                "planned": summary.get("planned_count"), "wall_s": round(wall, 2)}


def jira_burst(links: int = 50) -> dict[str, Any]:
    """One epic linked to `links` key results at once: every remote link is a write to the
    same issue, against Jira's 20 per 2 s and 100 per 30 s."""
    import asyncio

    from connectors.jira import JiraConnector, JiraSourceConfig
    from core.model import GoalRef, WriteBack, WriteBackKind
    from sandbox import JiraLimits, sandbox

    with sandbox(epics=10, seed=3, token=TOKEN, jira_limits=JiraLimits.real()) as sb:
        key = sb.jira.keys()[0]
        config = JiraSourceConfig(name="jira", base_url=sb.jira_url, email=sb.jira_user,
                                  token=TOKEN)  # type: ignore[arg-type]
        goals = tuple(GoalRef(f"KR-{i}", f"key result {i}", "O-1", "objective", "Dana",
                              "40 → 60 %", "") for i in range(links))
        wb = WriteBack(source="jira", ticket_key=key, kind=WriteBackKind.SET_GOAL_LINKS,
                       goals=goals)

        async def go() -> float:
            conn = JiraConnector(config)
            started = time.monotonic()
            try:
                await conn.apply(wb)
            finally:
                await conn.aclose()
            return time.monotonic() - started

        seconds = asyncio.run(go())
        acc = sb.accounting()["jira"]
        return {"links": links, "stored": len(sb.jira.remote_links(key)),
                "seconds": round(seconds, 2),
                "physical_min_s": minimum_seconds(links, (Limit(20, 2), Limit(100, 30))),
                "rate_limited": acc.get("rate_limited", {})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--epics", type=int, default=5000,
                        help="epics in the sandboxes (~40 %% on GitHub)")
    parser.add_argument("--content-limit", action="append", default=None,
                        help="GitHub content limit COUNT/SECONDS, repeatable")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--skip-unpaced", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    epics = 60 if args.smoke else args.epics
    texts = args.content_limit or (["20/1", "50/5"] if args.smoke else ["40/2", "250/20"])
    content = [Limit.parse(t) for t in texts]
    result: dict[str, Any] = {"epics": epics, "content_limits": [str(c) for c in content],
                              "machine": {"python": platform.python_version(),
                                          "cpus": os.cpu_count()}}
    result["jira_burst"] = jira_burst(30 if args.smoke else 50)
    print("jira burst:", json.dumps(result["jira_burst"]), flush=True)
    result["app_noop"] = app_noop(min(epics, 300), args.seed, content)
    print("app no-op:", json.dumps(result["app_noop"]), flush=True)
    result["paced"] = converge(epics, args.seed, content, pacing=True)
    print("paced:", json.dumps(result["paced"]), flush=True)
    if not args.skip_unpaced:
        result["unpaced"] = converge(epics, args.seed, content, pacing=False)
        print("unpaced:", json.dumps(result["unpaced"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
