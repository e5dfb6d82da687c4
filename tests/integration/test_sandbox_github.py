"""The sandbox GitHub driven over real HTTP by the official PyGithub client (and httpx where a
test needs raw headers): pagination, labels, comments, GitHub App auth, ETags and quota."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from github import Auth, BadCredentialsException, GithubException

from sandbox import Sandbox, sandbox
from tests.helpers.sandbox_github_helpers import REPO, TOKEN, client, scenario

AUTH = {"Authorization": f"token {TOKEN}"}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with sandbox(data={"github": scenario()}, token=TOKEN) as box:
        yield box


def _gh(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.github_url, headers=AUTH, timeout=10)


def _endpoint(sb: Sandbox, name: str) -> int:
    return int(sb.accounting()["github"]["by_endpoint"].get(name, 0))


def test_get_issues_by_labels_across_pages_includes_pull_requests(sb: Sandbox) -> None:
    before = _endpoint(sb, "GET /repos/{owner}/{repo}/issues")
    repo = client(sb.github_url).get_repo(REPO)
    issues = list(repo.get_issues(labels=["epic", "team:web"], state="all"))
    numbers = sorted(i.number for i in issues)
    assert numbers == [n for n in range(1, 58) if n % 3 == 0]  # AND of both labels
    assert any(i.pull_request is not None for i in issues)  # mixed in, as GitHub does
    assert any(i.state == "closed" for i in issues)
    assert all(i.type is not None and i.type.name == "Epic" for i in issues)
    pages = _endpoint(sb, "GET /repos/{owner}/{repo}/issues") - before
    assert pages == 2  # 19 issues at per_page=10
    assert repo.get_issues(labels=["epic"], state="all").totalCount == 58


def test_state_filter_defaults_to_open(sb: Sandbox) -> None:
    repo = client(sb.github_url, per_page=100).get_repo(REPO)
    open_numbers = {i.number for i in repo.get_issues()}
    closed_numbers = {i.number for i in repo.get_issues(state="closed")}
    assert open_numbers.isdisjoint(closed_numbers)
    assert 5 in closed_numbers and 1 in open_numbers


def test_add_and_remove_labels_read_back(sb: Sandbox) -> None:
    gh = client(sb.github_url)
    issue = gh.get_repo(REPO).get_issue(2)
    updated_before = issue.updated_at
    issue.add_to_labels("goal:KR-7")
    assert "goal:KR-7" in [label.name for label in gh.get_repo(REPO).get_issue(2).labels]
    auto = gh.get_repo(REPO).get_label("goal:KR-7")
    assert auto.color == "ededed"  # auto-created in grey, like GitHub
    assert gh.get_repo(REPO).get_issue(2).updated_at > updated_before
    issue.remove_from_labels("goal:KR-7")
    assert sb.github.labels_of(REPO, 2) == ["epic"]
    with pytest.raises(GithubException) as err:
        issue.remove_from_labels("goal:KR-7")
    assert err.value.status == 404


def test_label_names_with_slashes_and_spaces_round_trip(sb: Sandbox) -> None:
    issue = client(sb.github_url).get_repo(REPO).get_issue(4)
    issue.add_to_labels("goal:OBJ/KR 2")
    assert "goal:OBJ/KR 2" in sb.github.labels_of(REPO, 4)
    issue.remove_from_labels("goal:OBJ/KR 2")
    assert "goal:OBJ/KR 2" not in sb.github.labels_of(REPO, 4)


def test_creating_an_existing_label_is_422_already_exists(sb: Sandbox) -> None:
    repo = client(sb.github_url).get_repo(REPO)
    with pytest.raises(GithubException) as err:
        repo.create_label("Epic", "000000")
    assert err.value.status == 422
    assert err.value.data["errors"][0]["code"] == "already_exists"
    created = repo.create_label("goal:KR-NEW", "00ff00", "made by a test")
    assert (created.name, created.color) == ("goal:KR-NEW", "00ff00")


def test_create_then_edit_a_comment(sb: Sandbox) -> None:
    issue = client(sb.github_url).get_repo(REPO).get_issue(8)
    comment = issue.create_comment("Goal: <b>KR-1</b>")
    comment.edit("Goal: KR-2")
    bodies = [c.body for c in issue.get_comments()]
    assert bodies == ["Goal: KR-2"]
    assert sb.github.comment_events[f"{REPO}#8"] == {"created": 1, "edited": 1}
    again = client(sb.github_url).get_repo(REPO).get_issue(8)
    assert again.comments == 1
    assert sb.github.comments(REPO, 8)[0]["id"] == comment.id


def test_comments_paginate_and_delete(sb: Sandbox) -> None:
    issue = client(sb.github_url, per_page=2).get_repo(REPO).get_issue(10)
    made = [issue.create_comment(f"c{n}") for n in range(5)]
    assert [c.body for c in issue.get_comments()] == [f"c{n}" for n in range(5)]
    made[0].delete()
    assert len(sb.github.comments(REPO, 10)) == 4


def test_github_app_installation_token(sb: Sandbox) -> None:
    app_auth = Auth.AppAuth(sb.app_id, sb.app_private_key)
    gh = client(sb.github_url, app_auth.get_installation_auth(sb.installation_id))
    assert gh.get_repo(REPO).full_name == REPO
    assert _endpoint(sb, "POST /app/installations/{installation_id}/access_tokens") >= 1
    with _gh(sb) as http:
        assert http.get("/app/installations", headers={"Authorization": "token nope"}
                        ).status_code == 401


def test_app_jwt_signed_with_another_key_is_rejected(sb: Sandbox) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    gh = client(sb.github_url, Auth.AppAuth(sb.app_id, other).get_installation_auth(
        sb.installation_id))
    with pytest.raises(GithubException) as err:
        gh.get_repo(REPO)
    assert err.value.status == 401


def test_wrong_token_is_bad_credentials(sb: Sandbox) -> None:
    with pytest.raises(BadCredentialsException):
        client(sb.github_url, Auth.Token("wrong")).get_repo(REPO)
    with httpx.Client(base_url=sb.github_url) as http:
        answer = http.get(f"/repos/{REPO}", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401 and answer.json()["message"] == "Bad credentials"


def test_conditional_request_on_unchanged_page_is_304_and_free(sb: Sandbox) -> None:
    url = f"/repos/{REPO}/issues?state=all&sort=updated&direction=desc&per_page=100"
    with _gh(sb) as http:
        first = http.get(url)
        etag = first.headers["etag"]
        assert etag.startswith('W/"') and first.headers["x-ratelimit-resource"] == "core"
        before = sb.accounting()["github"]
        again = http.get(url, headers={"If-None-Match": etag})
        after = sb.accounting()["github"]
        assert again.status_code == 304 and again.content == b""
        assert after["quota_spent"] == before["quota_spent"]
        assert after["not_modified"] == before["not_modified"] + 1
        assert again.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]
        sb.github.edit_issue(REPO, 1, title="Edited by a person")
        changed = http.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        newest = sb.github.issue(REPO, 1)["updated_at"]
        assert changed.json()[0]["updated_at"] == newest  # most recently updated first


def test_if_modified_since_on_a_single_issue(sb: Sandbox) -> None:
    with _gh(sb) as http:
        first = http.get(f"/repos/{REPO}/issues/3")
        stamp = first.headers["last-modified"]
        assert http.get(f"/repos/{REPO}/issues/3",
                        headers={"If-Modified-Since": stamp}).status_code == 304


def test_link_header_follows_the_host_the_client_used(sb: Sandbox) -> None:
    port = sb.github_url.rsplit(":", 1)[1]
    with httpx.Client(base_url=f"http://localhost:{port}", headers=AUTH) as http:
        answer = http.get(f"/repos/{REPO}/issues", params={"state": "all", "per_page": 5})
        link = answer.headers["link"]
        assert f'<http://localhost:{port}/repos/{REPO}/issues?' in link
        assert 'rel="next"' in link and 'rel="last"' in link and "page=12" in link
        last = http.get(answer.links["last"]["url"])
        assert len(last.json()) == 3 and 'rel="prev"' in last.headers["link"]


def test_since_sort_and_direction(sb: Sandbox) -> None:
    with _gh(sb) as http:
        rows = http.get(f"/repos/{REPO}/issues", params={
            "state": "all", "since": "2026-02-20T00:00:00Z", "sort": "updated",
            "direction": "asc", "per_page": 100}).json()
        stamps = [row["updated_at"] for row in rows]
        assert stamps and stamps == sorted(stamps)
        assert all(stamp >= "2026-02-20T00:00:00Z" for stamp in stamps)
        assert http.get(f"/repos/{REPO}/issues", params={"state": "bogus"}).status_code == 422
        assert http.get(f"/repos/{REPO}/issues", params={"since": "yesterday"}
                        ).status_code == 422


def test_quota_exhaustion_answers_403_with_remaining_zero(sb: Sandbox) -> None:
    state = sb.github
    old_limit = state.quota_limit
    state.set_quota(limit=state.quota_used + 1)
    try:
        with _gh(sb) as http:
            assert http.get(f"/repos/{REPO}").status_code == 200
            refused = http.get(f"/repos/{REPO}")
            assert refused.status_code == 403
            assert refused.headers["x-ratelimit-remaining"] == "0"
            assert "rate limit" in refused.json()["message"]
            write = http.post(f"/repos/{REPO}/issues/1/labels", json={"labels": ["never"]})
            assert write.status_code == 403 and "never" not in state.labels_of(REPO, 1)
            free = http.get("/rate_limit")
            assert free.status_code == 200
            assert free.json()["resources"]["core"]["remaining"] == 0
    finally:
        state.set_quota(limit=old_limit)


def test_repo_listings_issue_types_and_user(sb: Sandbox) -> None:
    gh = client(sb.github_url)
    assert sorted(r.full_name for r in gh.get_organization("acme").get_repos()) == [
        "acme/app", "acme/web"]
    assert gh.get_user().login == "okrsync-sandbox"
    with _gh(sb) as http:
        types = http.get("/orgs/acme/issue-types").json()
        assert "Epic" in {t["name"] for t in types}
        assert http.get("/orgs/other/repos").status_code == 404
        assert http.get("/no/such/endpoint").status_code == 404


def test_issue_edit_through_patch_closes_with_reason(sb: Sandbox) -> None:
    issue = client(sb.github_url).get_repo("acme/web").get_issue(1)
    issue.edit(state="closed", state_reason="not_planned")
    data: dict[str, Any] = sb.github.issue("acme/web", 1)
    assert (data["state"], data["state_reason"]) == ("closed", "not_planned")
    assert data["closed_at"] is not None


def test_concurrent_requests_are_all_served(sb: Sandbox) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def fetch(n: int) -> None:
        with _gh(sb) as http:
            code = http.get(f"/repos/{REPO}/issues/{n}").status_code
        with lock:
            results.append(code)

    threads = [threading.Thread(target=fetch, args=(n,)) for n in range(1, 21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [200] * 20


def test_enterprise_server_prefix_serves_the_same_api(sb: Sandbox) -> None:
    gh = client(sb.github_url + "/api/v3")
    issues = list(gh.get_repo(REPO).get_issues(labels=["epic", "team:web"], state="all"))
    assert len(issues) == 19  # two pages: the Link header keeps the /api/v3 prefix
    assert issues[0].url.startswith(sb.github_url + "/api/v3/repos/")
    assert _endpoint(sb, "GET /repos/{owner}/{repo}/issues") > 0
