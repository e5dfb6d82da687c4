"""End-to-end test helpers: a project directory pointed at the sandboxes, and a snapshot of
everything okrsync could have written remotely, to compare runs with."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connectors.ownership import kr_of_global_id
from sandbox import Sandbox
from syncer.commands.demo import write_demo_files
from syncer.config import Config, load_config
from tests.helpers.cli_runner import fresh_process_state, run_okrsync

MARKER = "<!-- okrsync:goal-links -->"
ROOT = Path(__file__).resolve().parents[2]


def project(tmp: Path, sb: Sandbox) -> Path:
    """okrsync.toml, okrs.toml and rules.toml for the sandbox organisation; returns the config."""
    projects = sorted({k.split("-", 1)[0] for k in sb.jira.keys()})  # noqa: SIM118
    return write_demo_files(
        tmp, jira_url=sb.jira_url, github_url=sb.github_url, jira_user=sb.jira_user,
        org=sb.org, jql=f"project in ({', '.join(projects)})", seed=0, epics=0,
    )


@contextmanager
def tokens(sb: Sandbox, *sources: str) -> Iterator[None]:
    """The sources' tokens in the environment, as a deployment would pass them (by default
    for the demo's `jira` and `github`)."""
    names = [f"OKRSYNC_SOURCES__{s.upper()}__TOKEN" for s in sources or ("jira", "github")]
    old = {n: os.environ.get(n) for n in names}
    for n in names:
        os.environ[n] = sb.token
    try:
        yield
    finally:
        for n, v in old.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


def config(path: Path, sb: Sandbox) -> Config:
    with tokens(sb):
        return load_config(path)


def env_for(sb: Sandbox) -> dict[str, str]:
    return dict(os.environ, OKRSYNC_SOURCES__JIRA__TOKEN=sb.token,
                OKRSYNC_SOURCES__GITHUB__TOKEN=sb.token, PYTHONPATH=str(ROOT))


def okrsync_process(*args: str, sb: Sandbox, timeout: float = 120,
                    extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process: for signals, SIGKILL, resource limits and runs
    that overlap another process."""
    return subprocess.run([sys.executable, "-m", "syncer.cli", *args],
                          env=env_for(sb) | (extra_env or {}),
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def okrsync(*args: str, sb: Sandbox,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """One `okrsync ARGS` run as a new process would run it, inside this one
    (`tests/helpers/cli_runner.py`): the process-wide state is dropped first, so a run
    starts from the budget and tokens a new process has, and no interpreter start is paid."""
    fresh_process_state()
    return okrsync_here(*args, sb=sb, extra_env=extra_env)


def okrsync_here(*args: str, sb: Sandbox,
                 extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`okrsync ARGS` inside this process, keeping the process-wide state of earlier runs
    (a daemon's view)."""
    env = {"OKRSYNC_SOURCES__JIRA__TOKEN": sb.token, "OKRSYNC_SOURCES__GITHUB__TOKEN": sb.token}
    return run_okrsync(*args, env=env | (extra_env or {}), cwd=ROOT)


def remote_state(sb: Sandbox) -> dict[str, Any]:
    """Every label, remote link and goal-link comment on every epic of both sandboxes."""
    state: dict[str, Any] = {}
    for key in sb.jira.keys():  # noqa: SIM118
        links = sorted(str(link.get("globalId", "")) for link in sb.jira.remote_links(key))
        state[f"jira:{key}"] = {"labels": sorted(sb.jira.labels(key)), "links": links}
    for full_name, repo in sb.github.repos.items():
        for number in repo.issues:
            comments = [c["body"] for c in sb.github.comments(full_name, number)
                        if MARKER in str(c.get("body", ""))]
            state[f"github:{full_name}#{number}"] = {
                "labels": sorted(sb.github.labels_of(full_name, number)),
                "goal_comments": comments,
            }
    return state


def managed_only(state: dict[str, Any]) -> dict[str, Any]:
    """The part of the remote state okrsync owns: goal: labels, okrsync links (by issue and
    KR: the site part of a globalId differs between two sandboxes), comments."""
    out = {}
    for key, value in state.items():
        item = {"labels": [lb for lb in value["labels"] if lb.startswith("goal:")]}
        if "links" in value:
            issue = key.split(":", 1)[1]
            item["links"] = [f"okrsync:{issue}:{kr_of_global_id(g, issue)}"
                             for g in value["links"] if g.startswith("okrsync:")]
        else:
            item["goal_comments"] = value["goal_comments"]
        out[key] = item
    return out
