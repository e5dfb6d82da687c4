"""Fault specs, the injector's determinism and rates, fault answers per flavour, accounting."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.accounting import Accounting, endpoint_name
from sandbox.faults import (
    KINDS,
    SECONDARY_MESSAGE,
    FaultInjector,
    FaultRule,
    FaultSpec,
    fault_response,
)


def test_parse_the_documented_example() -> None:
    spec = FaultSpec.parse("429:0.2,500:0.1,secondary:0.1,slow:0.05,drop:0.02,503@7")
    kinds = [(r.kind, r.rate, r.at) for r in spec.rules]
    assert kinds == [("429", 0.2, frozenset()), ("500", 0.1, frozenset()),
                     ("secondary", 0.1, frozenset()), ("slow", 0.05, frozenset()),
                     ("drop", 0.02, frozenset()), ("503", 0.0, frozenset({7}))]
    assert spec.retry_after == 1
    assert spec.rules[3].param == 2.0  # slow: default two seconds


def test_parse_params_and_request_numbers() -> None:
    spec = FaultSpec.parse(" 429:0.2:3 , 503@7+9 , slow@2:0.5 ")
    assert spec.rules[0].retry_after == 3 and spec.retry_after == 3
    assert spec.rules[1].at == frozenset({7, 9})
    assert spec.rules[2].param == 0.5


@pytest.mark.parametrize("empty", [None, "", "  "])
def test_empty_spec_injects_nothing(empty: str | None) -> None:
    spec = FaultSpec.parse(empty)
    assert not spec and spec.rules == ()
    injector = FaultInjector(spec, seed=3)
    assert all(injector.next_fault() is None for _ in range(100))


@pytest.mark.parametrize(("bad", "says"), [
    ("teapot:0.1", "unknown kind 'teapot'"),
    ("429:1.5", "between 0 and 1"),
    ("429", "expected kind:rate"),
    ("429:abc", "expected kind:rate"),
    ("429:0.1.2", "not a number"),
    ("drop@0", "counted from 1"),
    ("500:0.1:3", "takes no :seconds"),
    ("429:0.6,500:0.6", "more than 1"),
    ("429:0.2,,500:0.1", "empty rule"),
])
def test_invalid_specs_say_what_is_wrong(bad: str, says: str) -> None:
    with pytest.raises(ValueError, match=None) as err:
        FaultSpec.parse(bad)
    assert says in str(err.value)


def _sequence(spec: str, seed: int, n: int) -> list[str | None]:
    injector = FaultInjector(spec, seed=seed)
    return [(f.kind if (f := injector.next_fault()) else None) for _ in range(n)]


def test_same_seed_same_faults_other_seed_other_faults() -> None:
    spec = "429:0.2,500:0.1,drop:0.05"
    assert _sequence(spec, 7, 500) == _sequence(spec, 7, 500)
    assert _sequence(spec, 7, 500) != _sequence(spec, 8, 500)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rates_are_about_right_over_2000_draws(seed: int) -> None:
    counts = Counter(_sequence("429:0.2,500:0.1,secondary:0.05", seed, 2000))
    # binomial standard deviations: ~18, ~13, ~10; allow about four of them
    assert abs(counts["429"] - 400) < 72
    assert abs(counts["500"] - 200) < 54
    assert abs(counts["secondary"] - 100) < 40
    assert counts[None] + counts["429"] + counts["500"] + counts["secondary"] == 2000


def test_at_rules_fire_exactly_and_win_over_rates() -> None:
    assert _sequence("503@3+5", 1, 8) == [None, None, "503", None, "503", None, None, None]
    assert _sequence("500:1,drop@2", 1, 3) == ["500", "drop", "500"]


def test_set_spec_restarts_request_numbering() -> None:
    injector = FaultInjector("503@1", seed=1)
    assert injector.next_fault() is not None and injector.next_fault() is None
    injector.set_spec("503@1")
    assert injector.requests == 0
    fault = injector.next_fault()
    assert fault is not None and fault.kind == "503"
    injector.set_spec(None)
    assert injector.next_fault() is None


def test_injector_is_thread_safe_and_counts_every_request() -> None:
    injector = FaultInjector("429:0.5", seed=4)
    hits: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = sum(1 for _ in range(500) if injector.next_fault() is not None)
        with lock:
            hits.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert injector.requests == 2000
    assert sum(hits) == Counter(_sequence("429:0.5", 4, 2000))["429"]  # same draws, any order


rule_text = st.builds(
    lambda kind, rate, at: f"{kind}:{rate}" if at is None else f"{kind}@{at}",
    st.sampled_from(KINDS),
    st.sampled_from(["0", "0.05", "0.1", "0.125", "0.2"]),
    st.one_of(st.none(), st.integers(min_value=1, max_value=50)),
)


@settings(max_examples=200, deadline=None)
@given(rules=st.lists(rule_text, min_size=1, max_size=5), seed=st.integers(0, 2**31),
       number=st.integers(min_value=1, max_value=10_000))
def test_draws_are_pure_and_only_fire_rules_of_the_spec(rules: list[str], seed: int,
                                                         number: int) -> None:
    spec = FaultSpec.parse(",".join(rules))
    injector = FaultInjector(spec, seed=seed)
    first = injector.fault_for(spec, number)
    assert injector.fault_for(spec, number) == first
    if first is not None:
        assert first in spec.rules
        assert first.rate > 0 or number in first.at


@given(st.text(max_size=20))
def test_parse_either_succeeds_or_raises_value_error(text: str) -> None:
    try:
        spec = FaultSpec.parse(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert all(isinstance(rule, FaultRule) and rule.kind in KINDS for rule in spec.rules)


def test_github_secondary_is_403_with_retry_after_and_the_real_message() -> None:
    response = fault_response(FaultRule("secondary", rate=1, param=2), "github")
    assert response.status_code == 403
    assert response.headers["retry-after"] == "2"
    body = json.loads(response.body)
    assert body["message"] == SECONDARY_MESSAGE
    assert body["message"].startswith("You have exceeded a secondary rate limit")


def test_jira_renders_secondary_and_429_as_429_with_retry_after() -> None:
    for kind in ("secondary", "429"):
        response = fault_response(FaultRule(kind, rate=1, param=1), "jira")
        assert response.status_code == 429 and response.headers["retry-after"] == "1"
        assert json.loads(response.body)["errorMessages"]


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_errors_keep_the_flavours_error_shape(kind: str) -> None:
    github = fault_response(FaultRule(kind, rate=1), "github")
    jira = fault_response(FaultRule(kind, rate=1), "jira")
    assert github.status_code == jira.status_code == int(kind)
    assert "message" in json.loads(github.body)
    assert "errorMessages" in json.loads(jira.body)


def test_accounting_counts_and_resets() -> None:
    acc = Accounting()
    acc.record("GET /repos/{owner}/{repo}/issues", 200, bytes_out=100, quota=1)
    acc.record("GET /repos/{owner}/{repo}/issues", 304)
    acc.record("POST /repos/{owner}/{repo}/issues/{number}/labels", 200, bytes_out=10, quota=1)
    acc.record_fault("429")
    snap = acc.snapshot()
    assert snap["requests"] == 3 and snap["quota_spent"] == 2 and snap["bytes"] == 110
    assert snap["not_modified"] == 1
    assert snap["by_status"] == {"200": 2, "304": 1}
    assert snap["by_endpoint"]["GET /repos/{owner}/{repo}/issues"] == 2
    assert snap["faults"] == {"429": 1}
    json.dumps(snap)
    acc.reset()
    assert acc.snapshot()["requests"] == 0 and acc.snapshot()["by_endpoint"] == {}


def test_accounting_is_thread_safe() -> None:
    acc = Accounting()

    def worker() -> None:
        for _ in range(1000):
            acc.record("GET /x", 200, bytes_out=1, quota=1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snap = acc.snapshot()
    assert snap["requests"] == snap["quota_spent"] == snap["bytes"] == 8000


def test_endpoint_names_drop_path_converters() -> None:
    assert endpoint_name("get", "/repos/{owner}/{repo}/issues/{number:int}/labels/{name:path}") \
        == "GET /repos/{owner}/{repo}/issues/{number}/labels/{name}"
