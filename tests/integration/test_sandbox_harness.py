"""The `sandbox()` harness and `okrsync sandbox`: both servers up on loopback, credentials,
faults switchable at run time, accounting per server, scenario files, and a 100k-epic start."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jira
import pytest

from sandbox import sandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "scenario.json"


def test_harness_serves_both_trackers_with_credentials() -> None:
    with sandbox(epics=50, seed=4) as sb:
        assert sb.jira_user == "sandbox@example.com" and sb.org == "acme"
        assert len(sb.jira) == 31  # 30 epics + 1 story
        me = httpx.get(f"{sb.jira_url}/rest/api/3/myself", auth=(sb.jira_user, sb.token))
        assert me.status_code == 200
        repos = httpx.get(f"{sb.github_url}/orgs/{sb.org}/repos",
                          headers={"Authorization": f"token {sb.token}"})
        assert repos.status_code == 200 and repos.json()
        assert sb.app_private_key.startswith("-----BEGIN PRIVATE KEY-----")
        counts = sb.accounting()
        assert counts["jira"]["requests"] == 1 and counts["github"]["requests"] == 1
        sb.reset_accounting()
        assert sb.accounting()["jira"]["requests"] == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{sb.jira_url}/rest/api/3/serverInfo", timeout=2)


def test_set_faults_switches_both_servers_at_run_time() -> None:
    with sandbox(epics=10, faults="503@1") as sb:
        url = f"{sb.jira_url}/rest/api/2/myself"
        auth = (sb.jira_user, sb.token)
        assert httpx.get(url, auth=auth).status_code == 503
        assert httpx.get(url, auth=auth).status_code == 200
        sb.set_faults("429:1.0")
        assert httpx.get(url, auth=auth).status_code == 429
        gh = httpx.get(f"{sb.github_url}/rate_limit",
                       headers={"Authorization": f"token {sb.token}"})
        assert gh.status_code in (403, 429)
        sb.set_faults(None)
        assert httpx.get(url, auth=auth).status_code == 200
        assert sb.accounting()["jira"]["by_status"]["429"] == 1


def test_faults_rate_seen_by_the_official_client() -> None:
    with sandbox(epics=10, faults="429:0.2", seed=11) as sb:
        client = jira.JIRA(sb.jira_url, basic_auth=(sb.jira_user, sb.token), max_retries=0,
                           get_server_info=False)
        statuses = []
        for _ in range(200):
            try:
                client.myself()
                statuses.append(200)
            except jira.JIRAError as exc:
                statuses.append(exc.status_code)
                assert exc.response.headers["Retry-After"]
        share = statuses.count(429) / len(statuses)
        assert 0.12 < share < 0.28
        assert set(statuses) == {200, 429}


def test_datacenter_flavour_and_scenario_file() -> None:
    with sandbox(data=EXAMPLE, jira_flavour="datacenter") as sb:
        assert sorted(sb.jira.keys()) == ["APP-7", "OPS-3", "WEB-1"]
        client = jira.JIRA(sb.jira_url, token_auth=sb.token)
        assert client.server_info()["deploymentType"] == "Server"
        found = client.search_issues("labels = checkout")
        assert [i.key for i in found] == ["WEB-1"]
        assert client.remote_links("WEB-1")[0].globalId == "okrsync:WEB-1:KR-CHK-1"
        assert [c.body for c in client.comments("WEB-1")] == ["Kick-off on Monday."]
        issue = client.issue("APP-7")
        assert issue.fields.summary == '<script>alert(1)</script> & "x"'
        assert issue.fields.status.statusCategory.key == "done"


def _okrsync(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", "from syncer.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def test_cli_prints_endpoints_and_serves() -> None:
    out = _okrsync("sandbox", "--epics", "20", "--json", "--for", "0.5", "--token", "cli-tok")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.strip().splitlines()[0])
    assert info["jira_url"].startswith("http://127.0.0.1:")
    assert info["jira_user"] == "sandbox@example.com" and info["token"] == "cli-tok"
    assert info["jira_issues"] == 12


def test_cli_bad_input_exits_2_without_traceback() -> None:
    bad = _okrsync("sandbox", "--faults", "429:7", "--for", "0")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "--faults" in bad.stderr
    missing = _okrsync("sandbox", "--data", "/nonexistent/scenario.json", "--for", "0")
    assert missing.returncode == 2 and "scenario" in missing.stderr


@pytest.mark.slow
def test_100k_epics_start_and_full_paginated_read() -> None:
    """A 100,000-epic organisation serves every Jira epic once through search paging. Its
    start and read times are printed, not asserted (they depend on the machine)."""
    started = time.perf_counter()
    with sandbox(epics=100_000, seed=1) as sb:
        ready = time.perf_counter()
        jql = "project in (WEB, APP, DATA, OPS) AND issuetype = Epic ORDER BY updated ASC, key ASC"
        fields = "summary,labels,status,issuetype,updated,created,resolution,project,description"
        keys: list[str] = []
        token: str | None = None
        pages = 0
        with httpx.Client(base_url=f"{sb.jira_url}/rest/api/3", auth=(sb.jira_user, sb.token),
                          timeout=30) as http:
            while True:
                params = {"jql": jql, "maxResults": 100, "fields": fields}
                if token:
                    params["nextPageToken"] = token
                page = http.get("/search/jql", params=params).json()
                pages += 1
                keys += [i["key"] for i in page["issues"]]
                token = page.get("nextPageToken")
                if not token:
                    break
        done = time.perf_counter()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"\n100k sandbox: start {ready - started:.1f} s; read {len(keys)} Jira epics in "
              f"{pages} pages, {done - ready:.1f} s "
              f"({len(keys) / (done - ready):.0f} epics/s); peak RSS {rss} MB")
    assert len(keys) == len(set(keys)) == 60_000
