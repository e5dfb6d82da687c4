"""What a sync costs at scale, against the minimum and against the official clients.

    python bench/run.py [--epics 1000,10000,50000] [--smoke] [--json FILE]

For each size, in one run of this script: the sandboxes serve a seeded organisation from a
separate process (so their memory does not count as ours), and each measured job runs in its
own child process (so its peak RSS is its own):

- full sync: wall time, epics/s, requests vs the minimum (pages + write-backs), quota, peak RSS;
- no-op incremental sync: requests, quota (GitHub 304s must cost zero), wall time;
- incremental sync after 1% of epics changed: requests and time;
- write-back throughput of the full sync;
- baseline: the same pull as a straightforward loop over the official clients
  (`jira.JIRA.search_issues`, PyGithub `get_issues`), as ratios okrsync/baseline;
- floor: just downloading the same pages with httpx, as a ratio okrsync/floor.

Figures are printed, never asserted; `--smoke` runs a few hundred epics for the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-not-a-secret"
PAGE = 100
# GitHub gives a personal token 5,000 requests an hour; a full sync of a large organisation
# spends more than that on write-backs and would (correctly) wait for the reset. The sandbox gets
# a large quota so the benchmark measures throughput; the quota spent is reported per job.
QUOTA = 10_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SandboxProcess:
    """`okrsync sandbox` in its own process, with its admin accounting endpoint."""

    def __init__(self, epics: int, seed: int) -> None:
        self.jira_port, self.github_port = _free_port(), _free_port()
        self.jira_url = f"http://127.0.0.1:{self.jira_port}"
        self.github_url = f"http://127.0.0.1:{self.github_port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncer.cli", "sandbox", "--epics", str(epics), "--seed",
             str(seed), "--token", TOKEN, "--jira-port", str(self.jira_port),
             "--github-port", str(self.github_port), "--github-quota", str(QUOTA),
             "--no-limits"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.github_url}/_sandbox/accounting", timeout=1)
                httpx.get(f"{self.jira_url}/_sandbox/accounting", timeout=1)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(err) from None
                time.sleep(0.2)
        raise RuntimeError("sandbox did not start")

    def accounting(self) -> dict[str, Any]:
        return {
            "jira": httpx.get(f"{self.jira_url}/_sandbox/accounting").json(),
            "github": httpx.get(f"{self.github_url}/_sandbox/accounting").json(),
        }

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _child(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float, int]:
    """Run one measured job in a child; return its JSON output, wall seconds and peak RSS KiB."""
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=ROOT)
    out, err = b"", b""
    assert proc.stdout and proc.stderr
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    try:
        data = json.loads(out.decode() or "{}")
    except json.JSONDecodeError:
        data = {}
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{args[2:5]} exited {proc.returncode}: {err.decode()[-2000:]}")
    return data, wall, int(usage.ru_maxrss)


def _sync(
    config: Path, env: dict[str, str], *, full: bool = False
) -> tuple[dict[str, Any], float, int]:
    cmd = [sys.executable, "-m", "syncer.cli", "sync", "--json", "--config", str(config)]
    return _child(cmd + (["--full"] if full else []), env)


def _concurrency(config: Path) -> dict[str, int]:
    """Each source's concurrent-request limit, which write-backs run under."""
    import tomllib

    from connectors.base import SourceConfig

    default = int(SourceConfig.model_fields["max_concurrency"].default)
    sources = tomllib.loads(config.read_text()).get("sources", {})
    return {name: int(src.get("max_concurrency", default)) for name, src in sources.items()}


def _delta(after: dict[str, Any], before: dict[str, Any], key: str) -> int:
    return int(after.get(key, 0)) - int(before.get(key, 0))


def _touch(sb: SandboxProcess, fraction: float) -> int:
    """Edit a share of the epics as a person would, through the trackers' own APIs."""
    auth = ("sandbox@example.com", TOKEN)
    keys: list[str] = []
    token: str | None = None
    with httpx.Client(timeout=30) as c:
        while True:
            params: dict[str, Any] = {"jql": "issuetype = Epic ORDER BY key ASC",
                                      "maxResults": 1000, "fields": "summary"}
            if token:
                params["nextPageToken"] = token
            page = c.get(f"{sb.jira_url}/rest/api/3/search/jql", params=params, auth=auth).json()
            keys += [i["key"] for i in page["issues"]]
            token = page.get("nextPageToken")
            if not token:
                break
        step = max(1, round(1 / fraction))
        changed = 0
        for key in keys[::step]:
            c.put(f"{sb.jira_url}/rest/api/3/issue/{key}", auth=auth,
                  json={"fields": {"summary": f"{key} edited for the benchmark"}})
            changed += 1
        headers = {"Authorization": f"Bearer {TOKEN}"}
        repos = c.get(f"{sb.github_url}/orgs/acme/repos", headers=headers,
                      params={"per_page": 100}).json()
        for repo in repos:
            name = repo["full_name"]
            n = 1
            while True:
                items = c.get(f"{sb.github_url}/repos/{name}/issues", headers=headers,
                              params={"state": "all", "labels": "epic", "per_page": 100,
                                      "page": n}).json()
                for issue in items[::step]:
                    c.patch(f"{sb.github_url}/repos/{name}/issues/{issue['number']}",
                            headers=headers, json={"title": issue["title"] + " (edited)"})
                    changed += 1
                if len(items) < 100:
                    break
                n += 1
    return changed


def measure(epics: int, seed: int, lookback: int = 5) -> dict[str, Any]:
    from syncer.commands.demo import write_demo_files

    sb = SandboxProcess(epics, seed)
    work = Path(tempfile.mkdtemp(prefix="okrsync-bench-"))
    env = dict(os.environ, OKRSYNC_SOURCES__JIRA__TOKEN=TOKEN,
               OKRSYNC_SOURCES__GITHUB__TOKEN=TOKEN, PYTHONPATH=str(ROOT))
    try:
        projects = sorted({k["key"].split("-")[0] for k in httpx.get(
            f"{sb.jira_url}/rest/api/3/project", auth=("sandbox@example.com", TOKEN)).json()})
        config = write_demo_files(
            work, jira_url=sb.jira_url, github_url=sb.github_url,
            jira_user="sandbox@example.com", org="acme",
            jql=f"project in ({', '.join(projects)})", seed=seed, epics=epics,
        )
        # Jira's search is eventually consistent, so incremental pulls re-read the last
        # `lookback_seconds` (default 120) and drop what they saw. Jobs here run seconds apart,
        # right after the full sync touched most tickets; a short lookback (5 s, 1 s in the
        # smoke) keeps the no-op and 1% figures about the steady state a 5-minute cron
        # interval would see.
        config.write_text(config.read_text().replace(
            'kind = "jira"\n', f'kind = "jira"\nlookback_seconds = {lookback}\n', 1))
        worker = [sys.executable, str(Path(__file__).resolve()), "--worker"]
        wargs = ["--jira-url", sb.jira_url, "--github-url", sb.github_url]

        before = sb.accounting()
        floor, floor_wall, floor_rss = _child(worker + ["floor"] + wargs, env)
        mid = sb.accounting()
        base, base_wall, base_rss = _child(worker + ["baseline"] + wargs, env)
        a0 = sb.accounting()
        full, full_wall, full_rss = _sync(config, env, full=True)
        a1s = sb.accounting()
        # The full sync's own writes changed the tickets; one sync re-reads them, after which
        # the organisation is unchanged and the no-op sync below measures the steady state.
        settle, settle_wall, _ = _sync(config, env)
        time.sleep(lookback + 1)  # past the Jira lookback, as the next cron run would be
        a1 = sb.accounting()
        noop, noop_wall, noop_rss = _sync(config, env)
        a2 = sb.accounting()
        time.sleep(lookback + 1)  # past the Jira lookback, as the next cron run would be
        changed = _touch(sb, 0.01)
        a3 = sb.accounting()
        inc, inc_wall, _ = _sync(config, env)
        a4 = sb.accounting()

        pulled = sum(s["pulled"] for s in full.get("sources", []))
        pages_min = floor.get("pages", 0)
        full_requests = _delta(a1s["jira"], a0["jira"], "requests") + _delta(
            a1s["github"], a0["github"], "requests")
        return {
            "epics": epics,
            "pulled": pulled,
            "full": {
                "wall_s": round(full_wall, 3),
                "pull_s": full.get("pull_seconds"),
                "apply_s": full.get("apply_seconds"),
                "epics_per_s": round(pulled / full_wall, 1) if full_wall else None,
                "requests": full_requests,
                "minimum_requests": pages_min + full.get("applied", 0),
                "writebacks": full.get("applied", 0),
                "github_quota": _delta(a1s["github"], a0["github"], "quota_spent"),
                "peak_rss_mib": round(full_rss / 1024, 1),
            },
            "settle": {
                "wall_s": round(settle_wall, 3),
                "pulled": sum(s["pulled"] for s in settle.get("sources", [])),
                "requests": _delta(a1["jira"], a1s["jira"], "requests")
                + _delta(a1["github"], a1s["github"], "requests"),
                "writebacks": settle.get("applied", 0),
            },
            "writeback_throughput_per_s": round(
                full.get("applied", 0) / full["apply_seconds"], 1
            ) if full.get("apply_seconds") else None,
            "writeback_concurrency": _concurrency(config),
            "noop": {
                "wall_s": round(noop_wall, 3),
                "requests": _delta(a2["jira"], a1["jira"], "requests")
                + _delta(a2["github"], a1["github"], "requests"),
                "github_requests": _delta(a2["github"], a1["github"], "requests"),
                "github_304": _delta(a2["github"], a1["github"], "not_modified"),
                "github_quota": _delta(a2["github"], a1["github"], "quota_spent"),
                "writebacks": noop.get("applied", 0),
                "peak_rss_mib": round(noop_rss / 1024, 1),
            },
            "incremental_1pct": {
                "changed": changed,
                "wall_s": round(inc_wall, 3),
                "pulled": sum(s["pulled"] for s in inc.get("sources", [])),
                "requests": _delta(a4["jira"], a3["jira"], "requests")
                + _delta(a4["github"], a3["github"], "requests"),
                "github_quota": _delta(a4["github"], a3["github"], "quota_spent"),
            },
            "baseline": {
                "wall_s": round(base_wall, 3), "epics": base.get("epics"),
                "requests": _delta(a0["jira"], mid["jira"], "requests")
                + _delta(a0["github"], mid["github"], "requests"),
                "peak_rss_mib": round(base_rss / 1024, 1),
            },
            "floor": {
                "wall_s": round(floor_wall, 3), "fetch_s": floor.get("seconds"),
                "pages": pages_min, "epics": floor.get("epics"),
                "requests": _delta(mid["jira"], before["jira"], "requests")
                + _delta(mid["github"], before["github"], "requests"),
                "peak_rss_mib": round(floor_rss / 1024, 1),
            },
            "ratios": {
                "pull_vs_baseline_time": _ratio(full.get("pull_seconds"), base.get("seconds")),
                "pull_vs_floor_time": _ratio(full.get("pull_seconds"), floor.get("seconds")),
                "full_wall_vs_baseline_wall": _ratio(full_wall, base_wall),
                "requests_vs_minimum": _ratio(full_requests, pages_min + full.get("applied", 0)),
            },
        }
    finally:
        sb.close()


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


# --- workers: each runs in its own process -------------------------------------------------

def worker_floor(jira_url: str, github_url: str) -> dict[str, Any]:
    """Download the same pages okrsync needs with plain httpx, parse nothing, keep nothing."""
    started = time.monotonic()
    pages = epics = 0
    auth = ("sandbox@example.com", TOKEN)
    fields = ("summary,labels,status,issuetype,updated,created,resolution,components,"
              "assignee,project,description")
    with httpx.Client(timeout=60) as c:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"jql": "issuetype = Epic ORDER BY updated ASC",
                                      "maxResults": PAGE, "fields": fields}
            if token:
                params["nextPageToken"] = token
            r = c.get(f"{jira_url}/rest/api/3/search/jql", params=params, auth=auth)
            pages += 1
            body = r.json()
            epics += len(body["issues"])
            token = body.get("nextPageToken")
            if not token:
                break
        headers = {"Authorization": f"Bearer {TOKEN}"}
        repos = c.get(f"{github_url}/orgs/acme/repos", headers=headers, params={"per_page": 100})
        pages += 1
        for repo in repos.json():
            url: str | None = f"{github_url}/repos/{repo['full_name']}/issues"
            params2: dict[str, Any] | None = {"state": "all", "labels": "epic", "per_page": PAGE,
                                              "sort": "updated", "direction": "asc"}
            while url:
                r = c.get(url, headers=headers, params=params2)
                pages += 1
                epics += sum(1 for i in r.json() if "pull_request" not in i)
                url = r.links.get("next", {}).get("url")
                params2 = None
    return {"seconds": round(time.monotonic() - started, 3), "pages": pages, "epics": epics}


def worker_baseline(jira_url: str, github_url: str) -> dict[str, Any]:
    """The straightforward loop over the official clients a team would write first."""
    from github import Auth, Github
    from jira import JIRA

    started = time.monotonic()
    epics = 0
    client = JIRA(server=jira_url, basic_auth=("sandbox@example.com", TOKEN))
    token: str | None = None
    while True:
        result = client.enhanced_search_issues(
            "issuetype = Epic ORDER BY updated ASC", nextPageToken=token, maxResults=PAGE,
            fields="summary,labels,status,issuetype,updated,created,resolution,components,"
                   "assignee,project,description",
        )
        epics += len(result)
        token = getattr(result, "nextPageToken", None)
        if not token:
            break
    # PyGithub waits 0.25 s between requests by default; switched off so the baseline measures
    # the client's transport and parsing, not its politeness.
    gh = Github(base_url=github_url, auth=Auth.Token(TOKEN), per_page=PAGE,
                seconds_between_requests=0, seconds_between_writes=0)
    for repo in gh.get_organization("acme").get_repos():
        for issue in repo.get_issues(labels=["epic"], state="all"):
            if issue.pull_request is None:
                epics += 1
    return {"seconds": round(time.monotonic() - started, 3), "epics": epics}


def _print_table(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="okrsync benchmark (sandboxes on loopback)")
    cols = ["epics", "full s", "epics/s", "req", "min req", "quota", "RSS MiB",
            "no-op req", "no-op quota", "1% req", "1% s", "baseline s", "floor s",
            "pull/base", "pull/floor"]
    for c in cols:
        t.add_column(c, justify="right")
    for r in results:
        f, n, i, b, fl, ra = (r["full"], r["noop"], r["incremental_1pct"], r["baseline"],
                              r["floor"], r["ratios"])
        t.add_row(*(str(x) for x in (
            r["epics"], f["wall_s"], f["epics_per_s"], f["requests"], f["minimum_requests"],
            f["github_quota"], f["peak_rss_mib"], n["requests"], n["github_quota"],
            i["requests"], i["wall_s"], b["wall_s"], fl["fetch_s"],
            ra["pull_vs_baseline_time"], ra["pull_vs_floor_time"])))
    Console(width=200).print(t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epics", default="1000,10000,50000")
    parser.add_argument("--smoke", action="store_true", help="a few hundred epics, for CI")
    parser.add_argument("--smoke-epics", type=int, default=300)
    parser.add_argument("--json", dest="json_file", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", choices=["floor", "baseline"])
    parser.add_argument("--jira-url")
    parser.add_argument("--github-url")
    args = parser.parse_args()
    if args.worker:
        fn = worker_floor if args.worker == "floor" else worker_baseline
        print(json.dumps(fn(args.jira_url, args.github_url)))
        return
    sizes = [args.smoke_epics] if args.smoke else [int(x) for x in args.epics.split(",")]
    results = [measure(n, args.seed, lookback=1 if args.smoke else 5) for n in sizes]
    _print_table(results)
    report = {
        "results": results,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count(), "page_size": PAGE,
                    "max_rss_note": "peak RSS of each job's own process (ru_maxrss)"},
        "versions": _versions(),
    }
    if args.json_file:
        args.json_file.write_text(json.dumps(report, indent=2))
    else:
        print(json.dumps(report, indent=2))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("okrsync", "httpx", "jira", "PyGithub", "sqlite-utils", "uvicorn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "?"
    return out


if __name__ == "__main__":
    main()
