"""The seeded data generator, the scenario format and the sandbox JQL subset."""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.data import (
    HOSTILE_TITLES,
    KR_IDS,
    demo_catalog_toml,
    demo_rules_toml,
    generate,
    load_scenario,
)
from sandbox.jira_state import JiraState
from sandbox.jql import JqlError, parse

NOW = datetime(2026, 6, 1, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenario.json"


def _labels(scenario: dict) -> list[list[str]]:
    out = [i["fields"]["labels"] for i in scenario["jira"]["issues"]
           if i["fields"]["issuetype"]["name"] == "Epic"]
    for repo in scenario["github"]["repos"].values():
        out += [[lab["name"] for lab in i["labels"] if lab["name"] != "epic"]
                for i in repo["issues"] if "pull_request" not in i and i["type"]["name"] == "Epic"]
    return out


@given(seed=st.integers(0, 10_000), epics=st.integers(0, 60))
@settings(max_examples=25, deadline=None)
def test_same_seed_same_data_and_exact_sizes(seed: int, epics: int) -> None:
    a = generate(epics, seed, now=NOW)
    assert a == generate(epics, seed, now=NOW)
    assert len(_labels(a)) == epics
    jira_epics = sum(1 for i in a["jira"]["issues"] if i["fields"]["issuetype"]["name"] == "Epic")
    assert jira_epics == round(epics * 0.6)
    for repo in a["github"]["repos"].values():
        numbers = [i["number"] for i in repo["issues"]]
        assert len(numbers) == len(set(numbers))
    keys = [i["key"] for i in a["jira"]["issues"]]
    assert len(keys) == len(set(keys))


def test_different_seeds_differ() -> None:
    assert generate(50, 1, now=NOW) != generate(50, 2, now=NOW)


def test_realistic_mix() -> None:
    scenario = generate(4000, 3, now=NOW)
    labels = _labels(scenario)
    n = len(labels)
    explicit = sum(any(x.startswith("okr:") for x in ls) for ls in labels) / n
    ktlo = sum("ktlo" in ls for ls in labels) / n
    unknown = sum(any(x in ("okr:KR-OLD-7", "okr:KR-LEGACY-2") for x in ls) for ls in labels)
    assert 0.12 < explicit < 0.18
    assert 0.07 < ktlo < 0.13
    assert unknown > 0
    issues = scenario["jira"]["issues"]
    statuses = Counter(i["fields"]["status"]["name"] for i in issues)
    assert set(statuses) == {"To Do", "In Progress", "Done", "Won't Do"}
    gh = [i for r in scenario["github"]["repos"].values() for i in r["issues"]]
    assert {i.get("state_reason") for i in gh} >= {"completed", "not_planned", None}
    assert any("pull_request" in i for i in gh)
    titles = {i["fields"]["summary"] for i in issues} | {i["title"] for i in gh}
    assert titles & set(HOSTILE_TITLES)
    descriptions = json.dumps([i["fields"]["description"] for i in issues])
    assert "Hypothesis:" in descriptions and "We believe" in descriptions
    updated = [datetime.strptime(i["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.000+0000")
               .replace(tzinfo=UTC) for i in issues]
    assert min(updated) >= NOW - timedelta(days=91) and max(updated) <= NOW
    assert max(updated) - min(updated) > timedelta(days=80)


def test_catalog_and_rules_match_the_vocabulary() -> None:
    catalog = tomllib.loads(demo_catalog_toml())
    kr_ids = {kr["id"] for obj in catalog["objective"] for kr in obj["key_result"]}
    assert kr_ids == set(KR_IDS)
    for obj in catalog["objective"]:
        assert set(obj) >= {"id", "title", "owner", "cycle", "key_result"}
        for kr in obj["key_result"]:
            assert set(kr) == {"id", "title", "owner", "metric", "unit", "baseline", "target",
                               "direction"}
            assert (kr["target"] > kr["baseline"]) == (kr["direction"] == "up")
    rules = tomllib.loads(demo_rules_toml())["rule"]
    assert {r["kr"] for r in rules} <= kr_ids
    used = {x for ls in _labels(generate(500, 1, now=NOW)) for x in ls}
    rule_labels = {x for r in rules for k in ("labels_any", "labels_all") for x in r.get(k, [])}
    assert rule_labels <= used


def test_catalog_and_rules_load_with_the_real_loaders(tmp_path: Path) -> None:
    catalog_mod = pytest.importorskip("syncer.catalog")
    rules_mod = pytest.importorskip("mappings.rules")
    (tmp_path / "okrs.toml").write_text(demo_catalog_toml())
    (tmp_path / "rules.toml").write_text(demo_rules_toml())
    catalog = catalog_mod.load_catalog(tmp_path / "okrs.toml")
    ruleset = rules_mod.load_rules(tmp_path / "rules.toml", catalog)
    assert catalog.kr_ids == set(KR_IDS)
    assert len(ruleset.rules) == len(tomllib.loads(demo_rules_toml())["rule"])


def test_scenario_json_round_trip(tmp_path: Path) -> None:
    scenario = generate(30, 5, now=NOW)
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    loaded = load_scenario(path)
    assert loaded["jira"] == scenario["jira"]
    state = JiraState.from_scenario(loaded["jira"])
    first = scenario["jira"]["issues"][0]
    rendered = state.issue(first["key"])
    assert rendered["fields"]["summary"] == first["fields"]["summary"]
    assert rendered["fields"]["labels"] == first["fields"]["labels"]
    assert rendered["fields"]["updated"] == first["fields"]["updated"]
    assert rendered["fields"]["description"] == first["fields"]["description"]


def test_minimal_scenario_gets_defaults() -> None:
    loaded = load_scenario({"jira": {"issues": [{"key": "WEB-1", "fields": {"summary": "x"}}]},
                            "github": {"repos": {"acme/app": {"issues": [
                                {"title": "a", "labels": ["epic"]}, {"number": 1}]}}}})
    issues = loaded["github"]["repos"]["acme/app"]["issues"]
    assert sorted(i["number"] for i in issues) == [1, 2]
    assert issues[0]["labels"] == [{"name": "epic"}] and issues[1]["state"] == "open"
    assert {lab["name"] for lab in loaded["github"]["repos"]["acme/app"]["labels"]} == {"epic"}
    state = JiraState.from_scenario(loaded["jira"])
    fields = state.issue("WEB-1")["fields"]
    assert fields["issuetype"]["name"] == "Epic"
    assert fields["status"]["statusCategory"]["key"] == "new"
    assert fields["project"]["key"] == "WEB"


def test_example_scenario_file_loads() -> None:
    loaded = load_scenario(EXAMPLE)
    state = JiraState.from_scenario(loaded["jira"])
    assert len(state) >= 3
    assert loaded["github"]["repos"]


@pytest.mark.parametrize("jql", [
    "project in (WEB, APP) AND issuetype = Epic ORDER BY updated ASC, key ASC",
    "(project = WEB) AND (labels in (a, \"b c\")) AND updated >= 1732877091000",
    'updated >= "2026-01-02 10:30" AND key in (WEB-1, WEB-2) order by updated desc',
    "labels = x AND status != Done AND statusCategory in (new, indeterminate)",
])
def test_jql_subset_parses(jql: str) -> None:
    assert parse(jql).clauses


@pytest.mark.parametrize("jql", ["a = b OR c = d", "text ~ x", "project in (A", "project",
                                 "updated >= nonsense", "order by rank"])
def test_jql_outside_subset_is_rejected(jql: str) -> None:
    with pytest.raises(JqlError):
        parse(jql)


@given(threshold=st.integers(0, 2_000_000_000_000), stamps=st.lists(
    st.integers(0, 2_000_000_000_000), max_size=30))
def test_updated_filter_and_order_agree_with_python(threshold: int, stamps: list[int]) -> None:
    state = JiraState.from_scenario({"issues": [
        {"key": f"WEB-{n + 1}", "fields": {"updated": ms, "created": 0}}
        for n, ms in enumerate(stamps)]})
    query = parse(f"project = WEB AND updated >= {threshold} ORDER BY updated ASC, key ASC")
    got = [r.key for r in state.search(query, "q")]
    want = [f"WEB-{n + 1}" for n, ms in sorted(enumerate(stamps), key=lambda p: (p[1], p[0]))
            if ms >= threshold]
    assert got == want
