"""GitHubConnector against an in-memory GitHub (httpx.MockTransport): pull, cursor, apply,
doctor, config validation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.base import PullOptions, load_all
from connectors.github import GitHubConnector, GitHubSourceConfig, split_key
from connectors.github_auth import token_kind
from connectors.github_comment import MARKER, has_marker
from core.errors import NotFound, RemoteRejected
from core.model import ApplyStatus, GoalRef, Page, WriteBack, WriteBackKind
from tests.helpers.github_helpers import FakeGitHub

TOKEN = "ghp_secretsecretsecret"


async def _no_sleep(_: float) -> None:
    return None


def _connector(fake: FakeGitHub, **over: Any) -> GitHubConnector:
    cfg: dict[str, Any] = {"name": "gh", "api_url": fake.base, "token": TOKEN,
                           "repos": ["acme/app", "acme/web"], "page_size": 3}
    cfg.update(over)
    return GitHubConnector(GitHubSourceConfig(**cfg), transport=fake.transport(),
                           sleep=_no_sleep)


def _pull(conn: GitHubConnector, cursor: str | None, full: bool = False) -> list[Page]:
    async def go() -> list[Page]:
        return [p async for p in conn.pull(cursor, PullOptions(full=full))]

    return asyncio.run(go())


def _keys(pages: list[Page]) -> list[str]:
    return sorted(t.key for p in pages for t in p.tickets)


def _world() -> FakeGitHub:
    fake = FakeGitHub()
    for n in range(1, 8):
        fake.add_issue("acme/app", n)
    fake.add_issue("acme/app", 50, pr=True)
    fake.add_issue("acme/app", 51, labels=("bug",))
    for n in range(1, 3):
        fake.add_issue("acme/web", n)
    return fake


def test_full_pull_pages_every_repo_and_drops_pull_requests() -> None:
    fake = _world()
    pages = _pull(_connector(fake), None)
    assert _keys(pages) == sorted([f"acme/app#{n}" for n in range(1, 8)]
                                  + ["acme/web#1", "acme/web#2"])
    # 7 epics + 1 PR in app at 3 per page = 3 pages; web = 1 page
    assert fake.count("GET", "/repos/acme/app/issues") == 3
    assert fake.count("GET", "/repos/acme/web/issues") == 1
    cursor = json.loads(pages[-1].cursor or "")
    assert set(cursor["repos"]) == {"acme/app", "acme/web"}
    assert cursor["repos"]["acme/app"]["etag"]
    # intermediate cursors never claim a repo before its last page is stored
    app_pages = [p for p in pages if p.scope == "acme/app"]
    for page in app_pages[:-1]:
        assert "acme/app" not in json.loads(page.cursor or "{}").get("repos", {})


def test_unchanged_pull_costs_one_304_per_repo_and_yields_nothing() -> None:
    fake = _world()
    conn = _connector(fake)
    cursor = _pull(conn, None)[-1].cursor
    fake.calls.clear()
    pages = _pull(conn, cursor)
    assert pages == []
    assert [(m, s) for m, _, s in fake.calls] == [("GET", 304), ("GET", 304)]
    assert conn.stats().not_modified == 2


def test_only_changed_epics_come_back_in_one_request() -> None:
    fake = _world()
    conn = _connector(fake)
    cursor = _pull(conn, None)[-1].cursor
    fake.touch("acme/app", 2, title="Renamed")
    fake.touch("acme/web", 1, state="closed", state_reason="not_planned")
    fake.calls.clear()
    pages = _pull(conn, cursor)
    assert _keys(pages) == ["acme/app#2", "acme/web#1"]
    assert len(fake.calls) == 2
    cursor2 = pages[-1].cursor
    fake.calls.clear()
    assert _pull(conn, cursor2) == []
    assert all(s == 304 for _, _, s in fake.calls)


def test_more_changes_than_a_page_follow_next_until_older() -> None:
    fake = _world()
    conn = _connector(fake)
    cursor = _pull(conn, None)[-1].cursor
    for n in (1, 2, 3, 4):
        fake.touch("acme/app", n)
    fake.calls.clear()
    pages = _pull(conn, cursor)
    assert _keys(pages) == [f"acme/app#{n}" for n in (1, 2, 3, 4)]
    assert fake.count("GET", "/repos/acme/app/issues") == 2


def test_same_second_update_at_the_boundary_is_not_lost() -> None:
    fake = _world()
    conn = _connector(fake)
    cursor = _pull(conn, None)[-1].cursor
    newest = max(fake.issues["acme/app"], key=lambda i: i["updated_at"])["updated_at"]
    fake.add_issue("acme/app", 9, updated_at=newest)  # same second as the watermark
    pages = _pull(conn, cursor)
    assert _keys(pages) == ["acme/app#9"]


def test_full_option_ignores_cursor_and_etag() -> None:
    fake = _world()
    conn = _connector(fake)
    cursor = _pull(conn, None)[-1].cursor
    fake.calls.clear()
    pages = _pull(conn, cursor, full=True)
    assert len(_keys(pages)) == 9
    assert not any(s == 304 for _, _, s in fake.calls)


def test_changed_epic_label_starts_the_repo_over() -> None:
    fake = _world()
    cursor = _pull(_connector(fake), None)[-1].cursor
    pages = _pull(_connector(fake, epic_label="bug"), cursor)
    assert _keys(pages) == ["acme/app#51"]


def test_org_repos_listed_archived_skipped_and_list_cached() -> None:
    fake = _world()
    fake.org_repos = [{"full_name": "acme/app"}, {"full_name": "acme/web"},
                      {"full_name": "acme/old", "archived": True},
                      {"full_name": "acme/gone"}]
    conn = _connector(fake, repos=[], org="acme")
    pages = _pull(conn, None)  # acme/gone 404s: vanished from the org, skipped
    assert len(_keys(pages)) == 9
    assert fake.count("GET", "/repos/acme/old") == 0
    cursor = pages[-1].cursor
    assert json.loads(cursor or "")["org"]["repos"] == ["acme/app", "acme/gone", "acme/web"]
    fake.calls.clear()
    assert _pull(conn, cursor) == []
    assert all(s in (304, 404) for _, _, s in fake.calls)


def test_missing_configured_repo_fails_the_pull() -> None:
    fake = _world()
    with pytest.raises(NotFound):
        _pull(_connector(fake, repos=["acme/app", "acme/nope"]), None)


def test_malformed_issue_is_skipped_and_the_pull_goes_on() -> None:
    fake = _world()
    fake.add_issue("acme/web", 3, title=None)
    pages = _pull(_connector(fake), None)
    skipped = [s for p in pages for s in p.skipped]
    assert [s.key for s in skipped] == ["acme/web#3"]
    assert len(_keys(pages)) == 9


def test_faults_are_retried_with_same_result() -> None:
    fake = _world()
    fake.fail_next = [502, 429, 403]
    pages = _pull(_connector(fake), None)
    assert len(_keys(pages)) == 9


def test_token_never_in_cursor_or_errors() -> None:
    fake = _world()
    pages = _pull(_connector(fake), None)
    assert TOKEN not in "".join(p.cursor or "" for p in pages)
    with pytest.raises(NotFound) as info:
        _pull(_connector(fake, repos=["acme/nope"]), None)
    assert TOKEN not in str(info.value)


# -- apply --------------------------------------------------------------------------------

KR = GoalRef("KR-1", "Checkout fast", "O-1", "Shop", "Dana", "40 → 60 %")


def _apply(conn: GitHubConnector, wb: WriteBack) -> Any:
    return asyncio.run(conn.apply(wb))


def test_add_label_creates_it_once_per_repo_with_colour() -> None:
    fake = _world()
    conn = _connector(fake)

    async def go() -> None:
        await asyncio.gather(*(conn.apply(
            WriteBack("gh", f"acme/app#{n}", WriteBackKind.ADD_LABEL, label="goal:KR-1"))
            for n in (1, 2, 3)))

    asyncio.run(go())
    label = fake.repo_labels["acme/app"]["goal:KR-1"]
    assert label["color"] == "0e8a16"
    assert label["description"] == "okrsync: serves key result KR-1"
    assert fake.count("POST", "/repos/acme/app/labels") == 1
    assert fake.count("PUT") == 0
    for n in (1, 2, 3):
        assert "goal:KR-1" in [lb["name"] for lb in fake.issue("acme/app", n)["labels"]]
        assert "epic" in [lb["name"] for lb in fake.issue("acme/app", n)["labels"]]


def test_existing_label_is_not_recreated_and_422_race_is_fine() -> None:
    fake = _world()
    fake.repo_labels["acme/app"] = {"goal:KR-1": {"name": "goal:KR-1", "color": "123456"}}
    conn = _connector(fake)
    _apply(conn, WriteBack("gh", "acme/app#1", WriteBackKind.ADD_LABEL, label="goal:KR-1"))
    assert fake.count("POST", "/repos/acme/app/labels") == 0
    assert fake.repo_labels["acme/app"]["goal:KR-1"]["color"] == "123456"


def test_remove_label_url_encodes_and_404_is_unchanged() -> None:
    fake = _world()
    fake.issue("acme/app", 1)["labels"].append({"name": "goal:KR 1/x"})
    conn = _connector(fake)
    wb = WriteBack("gh", "acme/app#1", WriteBackKind.REMOVE_LABEL, label="goal:KR 1/x")
    assert _apply(conn, wb).status is ApplyStatus.APPLIED
    assert [lb["name"] for lb in fake.issue("acme/app", 1)["labels"]] == ["epic"]
    assert _apply(conn, wb).status is ApplyStatus.UNCHANGED


def test_goal_comment_created_once_unchanged_then_edited_then_ended() -> None:
    fake = _world()
    conn = _connector(fake)
    wb = WriteBack("gh", "acme/app#1", WriteBackKind.SET_GOAL_LINKS, goals=(KR,),
                   ticket_title="Epic 1")
    first = _apply(conn, wb)
    assert first.status is ApplyStatus.APPLIED and first.remote_ref
    # without the remote ref: found by marker
    again = _apply(conn, wb)
    assert again.status is ApplyStatus.UNCHANGED and again.remote_ref == first.remote_ref
    # with the remote ref: one GET, no list
    fake.calls.clear()
    same = _apply(conn, WriteBack(**{**wb.__dict__, "remote_ref": first.remote_ref}))
    assert same.status is ApplyStatus.UNCHANGED
    assert [(m, p) for m, p, _ in fake.calls] == [
        ("GET", f"/repos/acme/app/issues/comments/{first.remote_ref}")]
    comments = fake.comments[("acme/app", 1)]
    assert len(comments) == 1 and fake.count("PATCH") == 0
    changed = WriteBack(**{**wb.__dict__, "hypothesis_found": True,
                           "remote_ref": first.remote_ref})
    assert _apply(conn, changed).status is ApplyStatus.APPLIED
    assert fake.count("PATCH") == 1 and len(comments) == 1
    assert "found in the description" in comments[0]["body"]
    ended = WriteBack("gh", "acme/app#1", WriteBackKind.SET_GOAL_LINKS, previous=("KR-1",),
                      remote_ref=first.remote_ref)
    assert _apply(conn, ended).status is ApplyStatus.APPLIED
    assert has_marker(comments[0]["body"]) and "ended" in comments[0]["body"]


def test_ended_without_a_comment_writes_nothing() -> None:
    fake = _world()
    wb = WriteBack("gh", "acme/app#2", WriteBackKind.SET_GOAL_LINKS, previous=("KR-1",))
    assert _apply(_connector(fake), wb).status is ApplyStatus.UNCHANGED
    assert fake.count("POST") == 0


def test_people_quoting_the_marker_are_not_taken_for_us() -> None:
    """A token's later marker comments may be its person's own notes: the oldest is used,
    the others are left alone (an App's duplicates are deleted: see the sandbox tests)."""
    fake = _world()
    fake.comments[("acme/app", 3)] = [
        {"id": 1, "body": "> " + MARKER + " quoted", "user": {"login": "dana"}},
        {"id": 2, "body": MARKER + "\nold", "user": {"login": "okrbot"}},
        {"id": 3, "body": MARKER + "\ndup", "user": {"login": "okrbot"}},
    ]
    wb = WriteBack("gh", "acme/app#3", WriteBackKind.SET_GOAL_LINKS, goals=(KR,))
    result = _apply(_connector(fake), wb)
    assert result.remote_ref == "2"
    assert [c["id"] for c in fake.comments[("acme/app", 3)]] == [1, 2, 3]
    assert fake.comments[("acme/app", 3)][0]["body"].startswith("> ")
    assert fake.comments[("acme/app", 3)][2]["body"] == MARKER + "\ndup"


def test_remove_goal_links_deletes_the_comment() -> None:
    fake = _world()
    conn = _connector(fake)
    ref = _apply(conn, WriteBack("gh", "acme/app#1", WriteBackKind.SET_GOAL_LINKS,
                                 goals=(KR,))).remote_ref
    rm = WriteBack("gh", "acme/app#1", WriteBackKind.REMOVE_GOAL_LINKS, remote_ref=ref)
    assert _apply(conn, rm).status is ApplyStatus.APPLIED
    assert fake.comments[("acme/app", 1)] == []
    assert _apply(conn, rm).status is ApplyStatus.UNCHANGED


def test_bad_key_is_rejected() -> None:
    assert split_key("acme/app#12") == ("acme/app", 12)
    for bad in ("WEB-1", "acme#1", "acme/app#x"):
        with pytest.raises(RemoteRejected):
            split_key(bad)


# -- doctor, config, registry -----------------------------------------------------------------


def test_doctor_reports_kind_scopes_quota_and_repo_access() -> None:
    fake = _world()
    checks = asyncio.run(_connector(fake).doctor())
    by = {c.name: c for c in checks}
    assert "classic personal access token for okrbot" in by["auth"].detail
    assert by["scopes"].ok and "repo" in by["scopes"].detail
    assert by["rate limit"].ok and "4000 of 5000" in by["rate limit"].detail
    assert by["repo acme/app"].ok and "writable" in by["repo acme/app"].detail
    assert all(m == "GET" for m, _, _ in fake.calls)


def test_doctor_flags_missing_scope_and_invisible_repo() -> None:
    fake = _world()
    fake.scopes = "read:org"
    checks = asyncio.run(_connector(fake, repos=["acme/app", "acme/nope"]).doctor())
    by = {c.name: c for c in checks}
    assert not by["scopes"].ok
    assert not by["repo acme/nope"].ok


def test_token_kinds() -> None:
    assert token_kind("ghp_x") == "classic"
    assert token_kind("github_pat_x") == "fine-grained"
    assert token_kind("ghs_x") == "app-installation"
    assert token_kind("abc") == "unknown"


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        ({"repos": ["acme/app"]}, "token"),
        ({"token": "t", "repos": []}, "repos"),
        ({"token": "t", "repos": ["nope"]}, "owner/name"),
        ({"token": "t", "repos": ["a/b"], "app_id": 1}, "not both"),
        ({"app_id": 1, "installation_id": 2, "repos": ["a/b"]}, "private_key"),
        ({"token": "t", "repos": ["a/b"], "label_color": "green"}, "hex"),
        ({"token": "t", "repos": ["a/b"], "page_size": 500}, "100"),
    ],
)
def test_config_validation(cfg: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        GitHubSourceConfig(**cfg)
    assert needle in str(info.value)


def test_config_secrets_masked_and_registered() -> None:
    cfg = GitHubSourceConfig(token="ghp_topsecret", repos=["a/b"])
    assert "ghp_topsecret" not in repr(cfg)
    app = GitHubSourceConfig(app_id=1, installation_id=2, private_key_path="/k.pem", org="acme")
    assert app.token is None
    spec = load_all()["github"]
    assert spec.config_model is GitHubSourceConfig


def test_an_unexpected_error_in_one_repo_ends_the_stream_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _world()
    conn = _connector(fake)

    async def boom(*_: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(conn, "_read_repo", boom)
    with pytest.raises(RuntimeError, match="bug"):
        _pull(conn, None)


def test_source_hypothesis_pattern_wins_and_is_validated() -> None:
    fake = FakeGitHub()
    fake.add_issue("acme/app", 1, body="BET: ship it\nHypothesis: other")
    conn = _connector(fake, repos=["acme/app"], hypothesis_pattern=r"BET: (?P<h>.+)")

    async def go() -> list[Page]:
        opts = PullOptions(hypothesis_pattern=r"Hypothesis: (?P<h>.+)")
        return [p async for p in conn.pull(None, opts)]

    (ticket,) = [t for p in asyncio.run(go()) for t in p.tickets]
    assert ticket.hypothesis == "ship it"
    with pytest.raises(ValidationError, match="regex"):
        GitHubSourceConfig(token="t", repos=["a/b"], hypothesis_pattern="(")


def test_next_link_to_another_host_is_refused() -> None:
    fake = _world()
    original = fake._paged

    def evil(request: Any, items: list[Any]) -> Any:
        response = original(request, items)
        if "link" in response.headers:
            response.headers["link"] = '<https://evil.test/steal?page=2>; rel="next"'
        return response

    fake._paged = evil  # type: ignore[method-assign]
    with pytest.raises(RemoteRejected, match="another host"):
        _pull(_connector(fake), None)
    assert not any("evil" in p for _, p, _ in fake.calls)


def test_installation_token_is_reminted_before_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from connectors.github_auth import REFRESH_BEFORE, InstallationTokens

    tokens = InstallationTokens(api_url="https://gh.test", app_id=1, installation_id=2,
                                private_key=None, private_key_path="/nonexistent.pem",
                                verify_tls=True, timeout=5, source="gh")
    lifetimes = iter([REFRESH_BEFORE + 100, 3600])
    minted: list[str] = []

    def fake_mint() -> tuple[str, float, dict[str, str]]:
        minted.append(f"ghs_{len(minted)}")
        return minted[-1], time.time() + next(lifetimes), {"issues": "write"}

    monkeypatch.setattr(tokens, "_mint", fake_mint)

    async def go() -> list[dict[str, str]]:
        first = await tokens.headers()
        again = await tokens.headers()  # still valid for > 5 min: cached
        monkeypatch.setattr(time, "time", lambda: tokens.expires_at - REFRESH_BEFORE + 1)
        later = await tokens.headers()  # within 5 min of expiry: re-minted
        return [first, again, later]

    first, again, later = asyncio.run(go())
    assert first == again == {"Authorization": "Bearer ghs_0"}
    assert later == {"Authorization": "Bearer ghs_1"}
    assert tokens.mints == 2 and tokens.permissions == {"issues": "write"}


def test_unreadable_private_key_is_an_auth_error_without_the_path_contents() -> None:
    from connectors.github_auth import InstallationTokens
    from core.errors import AuthError

    tokens = InstallationTokens(api_url="https://gh.test", app_id=1, installation_id=2,
                                private_key=None, private_key_path="/nonexistent/key.pem",
                                verify_tls=True, timeout=5, source="gh")
    with pytest.raises(AuthError, match="private_key_path"):
        asyncio.run(tokens.headers())


def test_bad_private_key_is_an_auth_error_that_does_not_echo_it() -> None:
    from pydantic import SecretStr

    from connectors.github_auth import InstallationTokens
    from core.errors import AuthError

    key = "-----BEGIN PRIVATE KEY-----\nnot-a-key-SECRETBITS\n-----END PRIVATE KEY-----\n"
    tokens = InstallationTokens(api_url="http://127.0.0.1:9", app_id=1, installation_id=2,
                                private_key=SecretStr(key), private_key_path="",
                                verify_tls=True, timeout=1, source="gh")
    with pytest.raises(AuthError) as info:
        asyncio.run(tokens.headers())
    assert "SECRETBITS" not in str(info.value)


def _comment_reads(fake: FakeGitHub, number: int) -> int:
    return fake.count("GET", f"/repos/acme/app/issues/{number}/comments")


def test_fresh_goal_comment_skips_the_search_only_where_the_pull_saw_no_comments() -> None:
    fake = FakeGitHub()
    fake.add_issue("acme/app", 1, comments=0)
    fake.add_issue("acme/app", 2, comments=1)
    fake.add_issue("acme/app", 3, comments=0)
    # a comment an interrupted earlier attempt left on #2: the pull counted it
    fake.comments[("acme/app", 2)] = [{"id": 7, "body": MARKER + "\nold",
                                       "user": {"login": "okrbot"}}]
    conn = _connector(fake, repos=["acme/app"])
    _pull(conn, None)

    def wb(n: int) -> WriteBack:
        return WriteBack("gh", f"acme/app#{n}", WriteBackKind.SET_GOAL_LINKS, goals=(KR,))

    async def go(n: int, fresh: bool) -> Any:
        return await conn.apply(wb(n), fresh=fresh)

    created = asyncio.run(go(1, True))
    assert created.status is ApplyStatus.APPLIED and _comment_reads(fake, 1) == 0
    assert len(fake.comments[("acme/app", 1)]) == 1
    # the pull saw a comment on #2: searched, found and edited in place, never duplicated
    edited = asyncio.run(go(2, True))
    assert edited.remote_ref == "7" and _comment_reads(fake, 2) == 1
    assert [c["id"] for c in fake.comments[("acme/app", 2)]] == [7]
    # not fresh (an earlier run's item): always searched, even where the pull saw none
    asyncio.run(go(3, False))
    assert _comment_reads(fake, 3) == 1
    # what the pull saw is used once: a second fresh write on #1 searches and finds ours
    again = asyncio.run(go(1, True))
    assert again.status is ApplyStatus.UNCHANGED and _comment_reads(fake, 1) == 1
    assert len(fake.comments[("acme/app", 1)]) == 1
