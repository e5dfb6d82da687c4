"""Seeded sandbox data: a realistic organisation's epics in the trackers' own REST shapes.

`generate(epics, seed)` returns a scenario (docs/sandbox.md): ~60% Jira epics across WEB, APP,
DATA and OPS, ~40% GitHub epics across `acme/*` repos (plus a few plain issues and pull
requests mixed in, as GitHub lists them). The mix is what okrsync must handle: ~15% explicit
`okr:<KR>` labels (a few naming unknown KRs), ~55% matched by the demo rules, ~20%
untraceable, ~10% `ktlo`; every state; hypotheses in some descriptions; hostile and unicode
titles. `demo_catalog_toml()` / `demo_rules_toml()` describe the goals the labels point at.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.clock import SYSTEM
from sandbox.jira_state import STORY_POINTS_FIELD

ORG = "acme"
JIRA_PROJECTS = {"WEB": "Web Storefront", "APP": "Mobile App", "DATA": "Data Platform",
                 "OPS": "Operations"}
REPOS = ("acme/app", "acme/web", "acme/api", "acme/infra")
PEOPLE = ("Dana Lee", "Ravi Patel", "Mia Krystof", "Jonas Berg", "Aiko Tanaka",
          "Lucía Fernández", "Omar Haddad", "Grace Okafor")

# theme -> (labels, Jira projects, GitHub repos, things to build)
THEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "checkout": (("checkout", "cart", "payments"), ("WEB", "APP"), ("acme/web", "acme/app"),
                 ("one-page checkout", "saved cards", "Apple Pay in checkout",
                  "cart recovery emails", "payment retries", "address autocomplete")),
    "onboarding": (("onboarding", "signup", "activation"), ("APP", "WEB"),
                   ("acme/app", "acme/web"),
                   ("guided first project", "social sign-up", "welcome checklist",
                    "empty-state templates", "invite teammates step")),
    "search": (("search", "relevance", "indexing"), ("WEB", "DATA"), ("acme/api", "acme/web"),
               ("typo-tolerant search", "search ranking v2", "faceted filters",
                "incremental indexing", "zero-result suggestions")),
    "reliability": (("reliability", "latency", "incident-followup"), ("OPS",),
                    ("acme/infra", "acme/api"),
                    ("multi-region failover", "p95 latency budget", "connection pooling",
                     "SLO alerting", "chaos drills")),
    "data": (("data-quality", "pipeline", "analytics"), ("DATA",), ("acme/api",),
             ("hourly pipeline", "schema contracts", "late-data backfill",
              "freshness dashboard", "dbt test coverage")),
}
UNTRACEABLE = (("marketing-site", "internal-tools", "design-system", "docs", "experiment"),
               ("landing page refresh", "admin console cleanup", "button component audit",
                "handbook migration", "dark mode exploration", "holiday banner"))
KTLO = (("maintenance", "dependencies", "upgrade", "reliability"),
        ("Python 3.13 upgrade", "rotate TLS certificates", "dependency bumps",
         "retire old queue", "log retention policy"))
THEME_KRS = {"checkout": ("KR-CHK-1", "KR-CHK-2"), "onboarding": ("KR-ONB-1", "KR-ONB-2"),
             "search": ("KR-SRCH-1",), "reliability": ("KR-REL-1", "KR-REL-2"),
             "data": ("KR-DATA-1",)}
"""With `story=True`, an explicit label names a KR of the epic's own theme."""
KR_IDS = ("KR-CHK-1", "KR-CHK-2", "KR-ONB-1", "KR-ONB-2", "KR-SRCH-1", "KR-REL-1", "KR-REL-2",
          "KR-DATA-1")
UNKNOWN_KRS = ("KR-OLD-7", "KR-LEGACY-2")
HOSTILE_TITLES = (
    '<script>alert(1)</script> & "x"',
    "Payments 🚀 faster refunds 💳",
    "تحسين البحث — search relevance for Arabic",
    "'; DROP TABLE tickets; --",
    "{{ 7*7 }} and {% raw %} template probe",
    "[click me](javascript:alert(1)) | pipe | table |",
    "Ünïcödé naïve café — 漢字 テスト",
    "Zero\u200bwidth\u200djoiner and trailing spaces   ",
    "`back-ticks` *stars* _under_ # not-a-heading",
)
_VERBS = ("Ship", "Build", "Launch", "Rework", "Pilot", "Improve", "Roll out")
_STATES = (("todo", 0.35), ("in_progress", 0.3), ("done", 0.25), ("wont_do", 0.10))
_JIRA_STATUS = {"todo": ("To Do", "new"), "in_progress": ("In Progress", "indeterminate"),
                "done": ("Done", "done"), "wont_do": ("Won't Do", "done")}
_HYPOTHESES = (
    "Hypothesis: {what} will lift {metric} by a few points.",
    "We believe {what} will improve {metric} because users told us it is the main blocker.",
    "Hypothesis: if we ship {what}, {metric} moves within two weeks.",
)
_METRIC_OF = {"checkout": "checkout conversion", "onboarding": "activation",
              "search": "search success", "reliability": "availability",
              "data": "pipeline freshness"}


@functools.lru_cache(maxsize=4096)
def _day(epoch_day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=epoch_day)).strftime("%Y-%m-%d")


def _clock(epoch_s: int) -> str:
    """`2026-05-20T14:30:00` without datetime objects: 100k of them must take milliseconds."""
    day, rest = divmod(epoch_s, 86_400)
    return f"{_day(day)}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def _jira_time(epoch_s: int) -> str:
    return _clock(epoch_s) + ".000+0000"


def _gh_time(epoch_s: int) -> str:
    return _clock(epoch_s) + "Z"


def _colour(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:6]


def _adf(paragraphs: list[str]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs
    ]}


def _pick_state(rng: random.Random) -> str:
    roll = rng.random()
    for state, share in _STATES:
        if roll < share:
            return state
        roll -= share
    return "todo"


class _Generator:
    def __init__(self, seed: int, now: datetime, *, story: bool = False) -> None:
        self.rng = random.Random(seed)
        self.story = story
        self.now = now
        self.now_s = int(now.timestamp())
        self.jira_counters = dict.fromkeys(JIRA_PROJECTS, 0)
        self.gh_counters = dict.fromkeys(REPOS, 0)
        self.jira_issues: list[dict[str, Any]] = []
        self.gh_issues: dict[str, list[dict[str, Any]]] = {r: [] for r in REPOS}
        self.gh_labels: dict[str, set[str]] = {r: {"epic"} for r in REPOS}
        self.projects = {k: {"id": str(10_000 + i), "key": k, "name": n}
                         for i, (k, n) in enumerate(JIRA_PROJECTS.items())}
        self.statuses = {s: {"name": name, "statusCategory": {"key": cat}}
                         for s, (name, cat) in _JIRA_STATUS.items()}
        self.epic_type = {"id": "10000", "name": "Epic", "hierarchyLevel": 1, "subtask": False}
        self.story_type = {"id": "10001", "name": "Story", "hierarchyLevel": 0, "subtask": False}

    # one epic's content, independent of the tracker
    def pick(self, seq: tuple[Any, ...] | list[Any]) -> Any:
        """`rng.choice`, three times cheaper (the generator makes ~10 picks per epic)."""
        return seq[int(self.rng.random() * len(seq))]

    def content(self) -> dict[str, Any]:
        rng = self.rng
        pick = self.pick
        roll = rng.random()
        theme = pick(tuple(THEMES))
        labels_pool, projects, repos, things = THEMES[theme]
        labels: list[str] = []
        if roll < 0.15:  # explicit okr: label (a few broken)
            kr = pick(UNKNOWN_KRS) if rng.random() < 0.1 else pick(
                THEME_KRS[theme] if self.story else KR_IDS)
            labels = [f"okr:{kr}"]
            if rng.random() < 0.5:
                labels.append(pick(labels_pool))
            thing = pick(things)
        elif roll < 0.25:  # run / maintenance work
            labels = ["ktlo", pick(KTLO[0])]
            thing = pick(KTLO[1])
            projects, repos = ("OPS", "APP", "DATA"), ("acme/infra", "acme/app")
            theme = ""
        elif roll < 0.45:  # nobody can trace this to a goal
            labels = [pick(UNTRACEABLE[0])] if rng.random() < 0.8 else []
            thing = pick(UNTRACEABLE[1])
            projects, repos = ("WEB", "APP", "OPS"), ("acme/app", "acme/web", "acme/api")
            theme = ""
        else:
            labels = rng.sample(labels_pool, pick((1, 1, 2)))
            thing = pick(things)
        title = f"{pick(_VERBS)} {thing}"
        if rng.random() < 0.03:
            hostile = pick(HOSTILE_TITLES)
            title = title if self.story else hostile
        paragraphs = [f"Context: {thing} for the {theme or 'team'} roadmap."]
        if rng.random() < 0.3:
            paragraphs.append(pick(_HYPOTHESES).format(
                what=thing, metric=_METRIC_OF.get(theme, "team velocity")))
        now = self.now_s
        created = now - 86_400 * 30 - int(rng.random() * 86_400 * 170)
        updated = now - int(rng.random() * 86_400 * 90)
        return {
            "title": title, "labels": labels, "projects": projects, "repos": repos,
            "state": _pick_state(rng), "paragraphs": paragraphs, "theme": theme,
            "created": min(created, updated), "updated": updated,
            "assignee": pick(PEOPLE) if rng.random() < 0.8 else None,
            "points": pick((1, 2, 3, 5, 8, 13, 21)) if rng.random() < 0.6 else None,
            "children": rng.randint(1, 6) if rng.random() < 0.3 else 0,
        }

    def jira_issue(self, c: dict[str, Any], issue_type: dict[str, Any]) -> dict[str, Any]:
        project = self.pick(c["projects"])
        self.jira_counters[project] += 1
        n = self.jira_counters[project]
        key = f"{project}-{n}"
        state = c["state"]
        fields: dict[str, Any] = {
            "summary": c["title"],
            "issuetype": issue_type,
            "project": self.projects[project],
            "status": self.statuses[state],
            "resolution": ({"name": "Won't Do" if state == "wont_do" else "Done"}
                           if state in ("done", "wont_do") else None),
            "labels": list(c["labels"]),
            "components": [{"name": c["theme"]}] if c["theme"] else [],
            "assignee": {"displayName": c["assignee"]} if c["assignee"] else None,
            "priority": {"name": self.pick(("High", "Medium", "Medium", "Low"))},
            "created": _jira_time(c["created"]),
            "updated": _jira_time(c["updated"]),
            "description": _adf(c["paragraphs"]),
            STORY_POINTS_FIELD: c["points"],
            "subtasks": [
                {"id": str(900_000 + len(self.jira_issues) * 8 + i),
                 "key": f"{project}-{100_000 + n * 8 + i}",
                 "fields": {"summary": f"Child {i + 1} of {key}",
                            "status": {"name": "Done" if i % 2 else "To Do"},
                            "issuetype": {"name": "Sub-task"}}}
                for i in range(c["children"])
            ],
        }
        issue = {"id": str(10_000 + len(self.jira_issues)), "key": key, "fields": fields}
        self.jira_issues.append(issue)
        return issue

    def gh_issue(self, c: dict[str, Any], *, epic: bool = True, pull: bool = False) -> None:
        repo = self.pick(c["repos"])
        self.gh_counters[repo] += 1
        number = self.gh_counters[repo]
        labels = (["epic"] if epic else []) + list(c["labels"])
        self.gh_labels[repo].update(labels)
        state = c["state"]
        closed = state in ("done", "wont_do")
        api = f"https://api.github.com/repos/{repo}"
        uid = 1_000_000 + sum(len(v) for v in self.gh_issues.values())
        user = {"login": "octo-" + (c["assignee"] or "bot").split()[0].lower(), "id": 583231,
                "type": "User"}
        item: dict[str, Any] = {
            "id": uid,
            "node_id": "I_kwDO" + hashlib.sha256(f"{repo}#{number}".encode()).hexdigest()[:14],
            "number": number,
            "title": c["title"],
            "body": "\n\n".join(c["paragraphs"]),
            "state": "closed" if closed else "open",
            "state_reason": ("not_planned" if state == "wont_do" else "completed")
            if closed else None,
            "labels": [{"name": name} for name in labels],
            "user": user,
            "assignee": user if c["assignee"] else None,
            "assignees": [user] if c["assignee"] else [],
            "comments": 0,
            "created_at": _gh_time(c["created"]),
            "updated_at": _gh_time(c["updated"]),
            "closed_at": _gh_time(c["updated"]) if closed else None,
            "url": f"{api}/issues/{number}",
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "type": {"id": 1 if epic else 2, "name": "Epic" if epic else "Task"},
            "sub_issues_summary": {"total": c["children"], "completed": c["children"] // 2,
                                   "percent_completed": 50 if c["children"] else 0},
        }
        if pull:
            item["type"] = None
            item["pull_request"] = {"url": f"{api}/pulls/{number}",
                                    "html_url": f"https://github.com/{repo}/pull/{number}",
                                    "merged_at": None}
        self.gh_issues[repo].append(item)


def generate(
    epics: int, seed: int, *, now: datetime | None = None, story: bool = False
) -> dict[str, Any]:
    """A scenario with `epics` epics (~60% Jira, ~40% GitHub), deterministic per seed.

    `story=True` is the demo's organisation: the same epics, but no hostile titles (they
    belong in tests, not in a leader's first look) and explicit labels that fit each epic.

    Timestamps lie within ~90 days before `now` (default: today 00:00 UTC, so the same seed
    gives the same data all day; pass `now` for full reproducibility).
    """
    if epics < 0:
        raise ValueError("epics must be >= 0")
    anchor = now or SYSTEM.now().replace(hour=0, minute=0, second=0, microsecond=0)
    g = _Generator(seed, anchor, story=story)
    with bulk_load():
        return _fill(g, epics)


@contextmanager
def bulk_load() -> Iterator[None]:
    """Pause the cyclic GC while building millions of small long-lived objects: otherwise it
    rescans them over and over and loading 100,000 epics takes several times longer."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _fill(g: _Generator, epics: int) -> dict[str, Any]:
    jira_epics = round(epics * 0.6)
    for _ in range(jira_epics):
        g.jira_issue(g.content(), g.epic_type)
    for _ in range(jira_epics // 20):  # a few stories, which epic JQL must leave out
        g.jira_issue(g.content(), g.story_type)
    gh_epics = epics - jira_epics
    for _ in range(gh_epics):
        g.gh_issue(g.content())
    for _ in range(gh_epics // 20):  # plain issues and pull requests, as GitHub mixes them
        g.gh_issue(g.content(), epic=False)
        g.gh_issue(g.content(), epic=False, pull=True)
    repos = {
        repo: {"issues": g.gh_issues[repo],
               "labels": [{"name": n, "color": _colour(n), "description": ""}
                          for n in sorted(g.gh_labels[repo])]}
        for repo in REPOS
    }
    return {"jira": {"issues": g.jira_issues}, "github": {"org": ORG, "repos": repos}}


def load_scenario(source: dict[str, Any] | Path | str) -> dict[str, Any]:
    """A scenario from a dict or a JSON file, with missing parts and fields defaulted.

    Jira issue fields are defaulted when the state loads them; here every GitHub issue
    gets a unique `number`, `state`, `title` and label objects (plain strings allowed).
    """
    if isinstance(source, dict):
        data = json.loads(json.dumps(source))
    else:
        path = Path(source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            from core.errors import ConfigError

            raise ConfigError(f"cannot read scenario: {exc.strerror}", file=str(path)) from exc
        except json.JSONDecodeError as exc:
            from core.errors import ConfigError

            raise ConfigError(f"not valid JSON: {exc.msg}", file=str(path),
                              line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise ValueError("a scenario is a JSON object with `jira` and `github` parts")
    jira = data.setdefault("jira", {})
    jira.setdefault("issues", [])
    github = data.setdefault("github", {})
    github.setdefault("org", ORG)
    for repo in github.setdefault("repos", {}).values():
        issues = repo.setdefault("issues", [])
        used = {i["number"] for i in issues if isinstance(i.get("number"), int)}
        next_number = max(used, default=0) + 1
        names: set[str] = set()
        for issue in issues:
            if not isinstance(issue.get("number"), int):
                issue["number"] = next_number
                next_number += 1
            issue.setdefault("title", f"Issue {issue['number']}")
            issue.setdefault("state", "open")
            issue["labels"] = [{"name": lab} if isinstance(lab, str) else lab
                               for lab in issue.get("labels", [])]
            names.update(lab["name"] for lab in issue["labels"])
        declared = repo.setdefault("labels", [])
        known = {lab["name"] if isinstance(lab, dict) else lab for lab in declared}
        repo["labels"] = [{"name": lab, "color": _colour(lab), "description": ""}
                          if isinstance(lab, str) else lab for lab in declared]
        repo["labels"] += [{"name": n, "color": "ededed", "description": ""}
                           for n in sorted(names - known)]
    return data


def demo_catalog_toml(cycle: str = "2026-Q4") -> str:
    """Objectives and key results whose ids the generated `okr:` labels and rules name."""
    krs: dict[str, tuple[str, str, list[tuple[str, str, str, str, str, float, float, str]]]] = {
        "O-CHK": ("Make checkout effortless", "Dana Lee", [
            ("KR-CHK-1", "Raise checkout conversion", "Dana Lee", "checkout_conversion", "%",
             62, 70, "up"),
            ("KR-CHK-2", "Cut failed payments", "Omar Haddad", "payment_failure_rate", "%",
             3.1, 1.5, "down")]),
        "O-ONB": ("Get new users to value fast", "Ravi Patel", [
            ("KR-ONB-1", "Lift week-one activation", "Ravi Patel", "activation_rate", "%",
             35, 50, "up"),
            ("KR-ONB-2", "Shorten time to first project", "Aiko Tanaka",
             "time_to_first_project", "min", 14, 5, "down")]),
        "O-SRCH": ("Search that finds things", "Mia Krystof", [
            ("KR-SRCH-1", "Raise search success rate", "Mia Krystof", "search_success", "%",
             71, 85, "up")]),
        "O-REL": ("A platform customers can trust", "Jonas Berg", [
            ("KR-REL-1", "Availability at 99.9%", "Jonas Berg", "availability", "%", 99.5,
             99.9, "up"),
            ("KR-REL-2", "Halve p95 API latency", "Grace Okafor", "p95_latency", "ms", 850,
             400, "down")]),
        "O-DATA": ("Fresh, trustworthy data", "Lucía Fernández", [
            ("KR-DATA-1", "Pipeline data at most 4 h old", "Lucía Fernández",
             "pipeline_freshness", "h", 24, 4, "down")]),
    }
    out = [f"# Demo catalog generated by okrsync's sandbox (cycle {cycle}).\n"]
    for oid, (title, owner, results) in krs.items():
        out.append(f'[[objective]]\nid = "{oid}"\ntitle = "{title}"\nowner = "{owner}"\n'
                   f'cycle = "{cycle}"\n')
        for kid, ktitle, kowner, metric, unit, base, target, direction in results:
            out.append(
                f'[[objective.key_result]]\nid = "{kid}"\ntitle = "{ktitle}"\n'
                f'owner = "{kowner}"\nmetric = "{metric}"\nunit = "{unit}"\n'
                f"baseline = {float(base)}\ntarget = {float(target)}\n"
                f'direction = "{direction}"\n'
            )
    return "\n".join(out)


def demo_rules_toml() -> str:
    """Label rules over the generated vocabulary; together with the explicit labels they
    leave ~20% of epics untraceable and ~10% as ktlo."""
    return '''# Demo rules generated by okrsync's sandbox. Highest priority wins; ties by rule id.

[[rule]]
id = "payments"
kr = "KR-CHK-2"
priority = 20
labels_any = ["payments"]

[[rule]]
id = "checkout"
kr = "KR-CHK-1"
priority = 10
labels_any = ["checkout", "cart"]

[[rule]]
id = "checkout-title"
kr = "KR-CHK-1"
priority = 1
projects = ["WEB", "acme/web"]
title_regex = "\\\\bcheckout\\\\b"

[[rule]]
id = "onboarding"
kr = "KR-ONB-1"
priority = 10
labels_any = ["onboarding", "signup", "activation"]

[[rule]]
id = "search"
kr = "KR-SRCH-1"
priority = 10
labels_any = ["search", "relevance", "indexing"]

[[rule]]
id = "latency"
kr = "KR-REL-2"
priority = 20
labels_all = ["latency"]
labels_none = ["ktlo"]

[[rule]]
id = "reliability"
kr = "KR-REL-1"
priority = 10
labels_any = ["reliability", "incident-followup"]
labels_none = ["ktlo"]

[[rule]]
id = "infra-repo"
kr = "KR-REL-1"
priority = 1
sources = ["github*"]
projects = ["acme/infra"]
labels_none = ["ktlo"]

[[rule]]
id = "data-epics"
kr = "KR-DATA-1"
priority = 5
projects = ["DATA"]
issue_types = ["Epic"]
labels_none = ["ktlo"]
'''
