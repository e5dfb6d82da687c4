"""Hostile and malformed input: broken config, catalog and rules files fail validation with
exit 2 naming the file and key (no traceback); hostile API payloads are stored safely or
skipped with a recorded reason, the run goes on, and nothing renders unescaped."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.text import MAX_DESCRIPTION
from sandbox import sandbox
from sandbox.data import generate
from syncer.commands.demo import write_demo_files
from syncer.engine import run_sync
from syncer.store import Store
from tests.helpers.cli_runner import run_okrsync, without_okrsync_env
from tests.helpers.e2e import MARKER, ROOT, config, okrsync, project
from tests.helpers.github_render_rules import pings_and_refs, render
from tests.helpers.store_backends import BACKENDS, module_store

SCRIPT = "<script>alert(1)</script>"
# A tag opener not escaped for Markdown (`\<script\>` is escaped text, `<script>` is not).
RAW_TAG = re.compile(r"(?<!\\)</?(?:script|img)\b", re.IGNORECASE)

# -- files: config, catalog, rules ---------------------------------------------------------


@pytest.fixture(scope="module")
def valid_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("valid")
    write_demo_files(directory, jira_url="http://127.0.0.1:9", github_url="http://127.0.0.1:9",
                     jira_user="sandbox@example.com", org="acme", jql="project in (WEB)",
                     seed=0, epics=0)
    return directory


def validate(config_path: Path) -> subprocess.CompletedProcess[str]:
    return run_okrsync("validate", "--config", str(config_path),
                       env=without_okrsync_env(os.environ), cwd=ROOT)


def huge_rules(text: str, size: int = 5_000_000) -> str:
    """About 5 MB of valid rules, then one whose priority has the wrong type."""
    parts, total, i = [text], len(text), 0
    while total < size:
        block = (f'\n[[rule]]\nid = "bulk-{i}"\nkr = "KR-CHK-1"\npriority = 1\n'
                 f'labels_any = ["bulk-{i}", "x{i}"]\n')
        parts.append(block)
        total += len(block)
        i += 1
    parts.append('\n[[rule]]\nid = "last"\nkr = "KR-CHK-1"\npriority = "top"\n')
    return "".join(parts)


Mutation = Callable[[str], str]
FILE_CASES: list[tuple[str, str, Mutation, str]] = [
    # (case id, file, mutation, what the message must name besides the file)
    ("config-truncated", "okrsync.toml",
     lambda t: t[: t.index("[sources.jira]") + 10], "malformed TOML"),
    ("config-wrong-type", "okrsync.toml",
     lambda t: t.replace("[report]", '[report]\nstale_weeks = "six"'), "report.stale_weeks"),
    ("config-unknown-key", "okrsync.toml",
     lambda t: t.replace("[store]", '[store]\npaht = "x"'), "store.paht"),
    ("config-source-wrong-type", "okrsync.toml",
     lambda t: t.replace('kind = "jira"', 'kind = "jira"\nmax_retries = "many"'),
     "sources.jira.max_retries"),
    ("config-source-unknown-key", "okrsync.toml",
     lambda t: t.replace('kind = "github"', 'kind = "github"\ntokn = "x"'), "sources.github.tokn"),
    ("config-list-wrong-type", "okrsync.toml",
     lambda t: t.replace('ktlo = ["ktlo", "maintenance"]', "ktlo = 7"), "labels.ktlo"),
    ("config-huge", "okrsync.toml",
     lambda t: t + "# " + "x" * 5_000_000 + "\n[daemon]\ninterval_seconds = -5\n",
     "daemon.interval_seconds"),
    ("catalog-truncated", "okrs.toml",
     lambda t: t[: len(t) // 2].rsplit("=", 1)[0] + '= "', "malformed TOML"),
    ("catalog-wrong-type", "okrs.toml",
     lambda t: t.replace("target = 70.0", 'target = "seventy"'),
     "objective[0].key_result[0].target"),
    ("catalog-unknown-key", "okrs.toml",
     lambda t: t.replace('metric = "checkout_conversion"',
                         'metric = "checkout_conversion"\nmetrik = 1'),
     "objective[0].key_result[0].metrik"),
    ("catalog-missing-key", "okrs.toml",
     lambda t: t.replace('owner = "Omar Haddad"\n', "", 1), "objective[0].key_result[1].owner"),
    ("rules-truncated", "rules.toml", lambda t: t[: len(t) // 2] + "\n[[rule]\n", "malformed TOML"),
    ("rules-wrong-type", "rules.toml",
     lambda t: t.replace("priority = 20", 'priority = "high"'), "rule[0].priority"),
    ("rules-unknown-key", "rules.toml",
     lambda t: t.replace('labels_any = ["payments"]', 'labels_any = ["payments"]\nlabel_any = 1'),
     "rule[0].label_any"),
    ("rules-unknown-kr", "rules.toml",
     lambda t: t.replace('kr = "KR-CHK-2"', 'kr = "KR-NOPE-9"'), "rule[0].kr"),
    ("rules-bad-regex", "rules.toml",
     lambda t: t.replace('title_regex = "\\\\bcheckout\\\\b"', 'title_regex = "(unclosed"'),
     "title_regex"),
    ("rules-huge", "rules.toml", huge_rules, ".priority"),
    ("rules-binary", "rules.toml", lambda t: "\x00\x01\x02 garbage \x7f", "malformed TOML"),
]


@pytest.mark.parametrize(("name", "filename", "mutate", "key"), FILE_CASES,
                         ids=[c[0] for c in FILE_CASES])
def test_broken_file_is_a_clear_exit_2_naming_file_and_key(
    name: str, filename: str, mutate: Mutation, key: str, valid_project: Path, tmp_path: Path
) -> None:
    directory = tmp_path / name
    shutil.copytree(valid_project, directory)
    target = directory / filename
    original = target.read_text()
    target.write_text(mutate(original))
    assert target.read_text() != original, "the mutation must change the file"
    proc = validate(directory / "okrsync.toml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-2000:]
    assert str(target) in out
    assert key in out
    assert "Traceback" not in out
    assert len(out) < 5000, "a huge file must not be echoed back"


def test_the_unbroken_project_validates(valid_project: Path) -> None:
    proc = validate(valid_project / "okrsync.toml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- API payloads --------------------------------------------------------------------------

MEGABYTE = 1_000_000
CONTROL = "\x00\x07\x1b[31m\x08\x7f"
INJECTION = f"{SCRIPT} [click](javascript:alert(1)) <img src=x onerror=alert(2)> @everyone **b**"


def adf(text: str) -> dict[str, Any]:
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


def deep_adf(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": "bottom"}
    for _ in range(depth):
        node = {"type": "paragraph", "content": [node]}
    return {"type": "doc", "version": 1, "content": [node]}


def hostile_scenario() -> dict[str, Any]:
    data = copy.deepcopy(generate(40, 41))
    issues = data["jira"]["issues"]
    issues += [
        {"key": "HOST-1", "fields": {
            "summary": INJECTION, "labels": ["checkout"],
            "description": adf("Hypothesis: " + SCRIPT + " lifts conversion\n" + "a" * MEGABYTE),
        }},
        {"key": "HOST-2", "fields": {
            "summary": f"Zero\u200bwidth \u202eRTL{CONTROL} 🚀 ñ {SCRIPT}",
            "description": "h1. Title\n" + ("*bold* " + CONTROL) * (MEGABYTE // 14),
        }},
        {"key": "HOST-3", "fields": {
            "summary": None, "description": 42, "labels": [1, 2.5, True],
            "customfield_10016": "eight", "components": [{"nope": 1}, "plain"],
        }},
        {"key": "HOST-4", "fields": {"summary": "deep", "description": deep_adf(400),
                                     "assignee": "not-an-object", "priority": None}},
    ]
    repo = data["github"]["repos"]["acme/app"]["issues"]
    repo += [
        {"number": 901, "title": INJECTION, "labels": ["epic", "checkout"],
         "body": ("x" * MEGABYTE) + CONTROL + "\nWe believe " + SCRIPT + " will win because yes"},
        {"number": 902, "title": None, "labels": ["epic"], "body": "title is null"},
        {"number": 903, "title": "body is an object", "labels": ["epic"], "body": {"a": 1}},
        {"number": 904, "title": f"ctl{CONTROL}", "labels": ["epic"], "body": None,
         "assignee": "not-an-object", "assignees": "nope"},
    ]
    return data


@pytest.fixture(scope="module", params=BACKENDS)
def hostile_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One hostile organisation synced per store backend (NUL bytes and control characters
    meet PostgreSQL's text type too)."""
    tmp = tmp_path_factory.mktemp("hostile")
    with sandbox(data=hostile_scenario()) as sb, module_store(request, tmp):
        cfg_path = project(tmp, sb)
        summary = run_sync(config(cfg_path, sb))
        reports = {fmt: okrsync("report", "--format", fmt, "--config", str(cfg_path), sb=sb)
                   for fmt in ("html", "markdown", "terminal", "text")}
        comments = [c["body"] for c in sb.github.comments("acme/app", 901)]
        second = run_sync(config(cfg_path, sb))
        yield {"summary": summary, "second": second, "db": config(cfg_path, sb).store_target,
               "reports": reports, "comments": comments}


def test_the_run_goes_on_and_bad_tickets_are_skipped_with_a_reason(hostile_run: Any) -> None:
    summary = hostile_run["summary"]
    assert summary.exit_code == 0, (summary.failed, [s.reason for s in summary.sources])
    assert summary.applied > 0
    with Store.open(hostile_run["db"]) as store:
        skipped = {row.key: row.reason for row in store.skipped()}
        assert "title" in skipped["acme/app#902"]
        assert "body" in skipped["acme/app#903"]
        stored = {t.key for t in store.tickets()}
        assert {"HOST-1", "HOST-2", "HOST-3", "HOST-4", "acme/app#901", "acme/app#904"} <= stored
        assert "acme/app#902" not in stored and "acme/app#903" not in stored
        assert store.integrity_check() == "ok"
    assert hostile_run["second"].planned == [], "hostile tickets must not cause write churn"


def test_hostile_tickets_are_stored_bounded_and_without_control_characters(
    hostile_run: Any,
) -> None:
    control = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
    with Store.open(hostile_run["db"]) as store:
        tickets = {t.key: t for t in store.tickets()}
    for key in ("HOST-1", "HOST-2", "HOST-3", "HOST-4", "acme/app#901", "acme/app#904"):
        t = tickets[key]
        for text in (t.title, t.description, t.hypothesis or ""):
            assert not control.search(text), key
        assert len(t.description) <= MAX_DESCRIPTION
        assert len(t.title) <= 1000
    assert tickets["HOST-1"].title == INJECTION  # stored as data, escaped only when rendered
    assert tickets["HOST-1"].hypothesis and SCRIPT in tickets["HOST-1"].hypothesis
    assert tickets["HOST-3"].labels == ("1", "2.5", "True")
    assert tickets["HOST-4"].description == "" or len(tickets["HOST-4"].description) < 100


def test_nothing_renders_unescaped(hostile_run: Any) -> None:
    for fmt, proc in hostile_run["reports"].items():
        assert proc.returncode in (0, 1), (fmt, proc.stderr[-2000:])
        assert proc.stdout.strip(), fmt
        if fmt in ("html", "markdown"):
            assert not RAW_TAG.search(proc.stdout), fmt
        if fmt == "markdown":  # in HTML, Markdown link syntax is inert text
            assert "](javascript:" not in proc.stdout
        assert "\x1b[31m" not in proc.stdout, fmt  # no terminal escape from ticket text
    html = hostile_run["reports"]["html"].stdout
    assert "&lt;script&gt;" in html, "the hostile title must be shown, escaped"
    goal = [c for c in hostile_run["comments"] if c.lstrip().startswith(MARKER)]
    assert len(goal) == 1
    body = goal[0]
    rendered = render(body)  # as GitHub renders it: the title is inert text in a code span
    assert not RAW_TAG.search(rendered.replace("<!-- okrsync:goal-links -->", ""))
    assert 'href="javascript' not in rendered
    assert pings_and_refs(body) == [], "the title must ping nobody"
    assert "alert" in body, "the title is quoted in the comment"
