"""The sandbox GitHub's payloads against real recorded GitHub payloads: every key a real
payload has (at the levels okrsync reads) exists in the sandbox's payload with the same JSON
type; the headers okrsync relies on are there too."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox import Sandbox, sandbox
from tests.helpers.sandbox_github_helpers import (
    REPO,
    TOKEN,
    fixture,
    scenario,
    shape_diff,
)

AUTH = {"Authorization": f"token {TOKEN}"}
RICH = 500  # the scenario's closed issue with milestone, assignee, parent and a comment


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with sandbox(data={"github": scenario()}, token=TOKEN) as box, httpx.Client(
        base_url=box.github_url, headers=AUTH, timeout=10
    ) as client:
        yield client


@pytest.fixture(scope="module")
def box_http() -> Iterator[tuple[Sandbox, httpx.Client]]:
    with sandbox(data={"github": scenario()}, token=TOKEN) as box, httpx.Client(
        base_url=box.github_url, headers=AUTH, timeout=10
    ) as client:
        yield box, client


def test_shape_diff_catches_missing_keys_and_type_changes() -> None:
    real = {"a": 1, "b": {"c": "x"}, "labels": [{"name": "n"}], "closed_at": None}
    assert shape_diff(real, {"a": 2, "b": {"c": "y"}, "labels": [{"name": "m"}],
                             "closed_at": "2026-01-01T00:00:00Z"}) == []
    assert shape_diff(real, {"a": "1", "b": {}, "labels": [{}], "closed_at": None}) == [
        "$.a: real number, sandbox string", "$.b.c: missing in sandbox",
        "$.labels[].name: missing in sandbox"]


def test_single_issue_matches_recorded_issue(http: httpx.Client) -> None:
    answer = http.get(f"/repos/{REPO}/issues/{RICH}")
    assert answer.status_code == 200
    assert shape_diff(fixture("issue.json")["body"], answer.json()) == []


def test_issue_headers_match_recorded_headers(http: httpx.Client) -> None:
    answer = http.get(f"/repos/{REPO}/issues/{RICH}")
    for name in fixture("issue.json")["headers"]:
        assert name.lower() in answer.headers, name
    assert answer.headers["etag"].startswith('W/"')


def test_issue_list_items_match_recorded_page(http: httpx.Client) -> None:
    page = http.get(f"/repos/{REPO}/issues", params={"state": "closed", "type": "*"})
    rows = page.json()
    rich = next(row for row in rows if row["number"] == RICH)
    for real in fixture("issues-page.json")["body"]:
        assert shape_diff(real, rich) == [], real["number"]
    for name in fixture("issues-page.json")["headers"]:
        assert name.lower() in page.headers, name


def test_pull_request_items_carry_pull_request_object(http: httpx.Client) -> None:
    row = http.get(f"/repos/{REPO}/issues/7").json()
    assert set(row["pull_request"]) >= {"url", "html_url", "diff_url", "patch_url", "merged_at"}


def test_comments_match_recorded_comments(http: httpx.Client) -> None:
    rows = http.get(f"/repos/{REPO}/issues/{RICH}/comments").json()
    assert rows and shape_diff(fixture("comments.json")["body"][0], rows[0]) == []


def test_comment_create_and_edit_match_recorded(box_http: tuple[Sandbox, httpx.Client]) -> None:
    _, client = box_http
    created = client.post(f"/repos/{REPO}/issues/2/comments", json={"body": "hello"})
    assert created.status_code == 201
    assert shape_diff(fixture("comment-created.json")["body"], created.json()) == []
    edited = client.patch(created.json()["url"], json={"body": "edited"})
    assert edited.status_code == 200
    assert shape_diff(fixture("comment-edit.json")["body"], edited.json()) == []


def test_label_payloads_match_recorded(box_http: tuple[Sandbox, httpx.Client]) -> None:
    _, client = box_http
    created = client.post(f"/repos/{REPO}/labels",
                          json={"name": "goal:KR-9", "color": "00ff00", "description": "d"})
    assert created.status_code == 201
    assert shape_diff(fixture("label-create.json")["body"], created.json()) == []
    added = client.post(f"/repos/{REPO}/issues/3/labels", json={"labels": ["goal:KR-9"]})
    assert added.status_code == 200
    assert shape_diff(fixture("labels-add.json")["body"], added.json()) == []
    removed = client.delete(f"/repos/{REPO}/issues/3/labels/goal:KR-9")
    assert removed.status_code == 200
    assert shape_diff(fixture("labels-remove.json")["body"], removed.json()) == []


def test_rate_limit_matches_recorded(http: httpx.Client) -> None:
    answer = http.get("/rate_limit")
    real = fixture("rate-limit.json")["body"]
    ours = answer.json()
    assert shape_diff(real["rate"], ours["rate"]) == []
    assert shape_diff(real["resources"]["core"], ours["resources"]["core"]) == []
    assert set(ours["resources"]) >= {"core", "search", "graphql"}


def test_not_modified_carries_the_recorded_headers(http: httpx.Client) -> None:
    first = http.get(f"/repos/{REPO}")
    again = http.get(f"/repos/{REPO}", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    for name in fixture("not-modified.json")["headers"]:
        if name != "status":
            assert name in again.headers, name
