"""GitHubConnector over real HTTP against the loopback sandbox GitHub.

Shows what the issue asks: full pull across pages of several repos; an unchanged second pull
is one 304 per repo and spends no quota; only changed epics come back; pull requests never
appear; one goal-link comment, created once and edited in place; labels created on demand;
faults survived with the same end state; GitHub App auth through the installation-token
endpoint.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import PullOptions
from connectors.github import GitHubConnector, GitHubSourceConfig
from connectors.github_comment import has_marker
from core.model import ApplyStatus, GoalRef, Page, Ticket, WriteBack, WriteBackKind
from sandbox import Sandbox, sandbox
from sandbox.data import generate

EPICS = 200  # ~80 GitHub epics over 4 repos
PAGE = 10


async def _no_sleep(_: float) -> None:
    return None


def _scenario() -> dict[str, Any]:
    """Generated data plus pull requests that carry the epic label (the listing returns them)."""
    data = generate(EPICS, seed=7)
    for repo in ("acme/app", "acme/web"):
        issues = data["github"]["repos"][repo]["issues"]
        template = copy.deepcopy(issues[0])
        number = max(i["number"] for i in issues) + 1
        template.update({
            "number": number, "id": 9_000_000 + number, "node_id": f"PR_{repo}_{number}",
            "title": "PR with the epic label", "labels": [{"name": "epic"}], "type": None,
            "html_url": f"https://github.com/{repo}/pull/{number}",
            "pull_request": {"url": f"https://api.github.com/repos/{repo}/pulls/{number}"},
        })
        issues.append(template)
    return data


@pytest.fixture()
def sb() -> Iterator[Sandbox]:
    with sandbox(data=_scenario(), seed=7) as box:
        yield box


def _config(sb: Sandbox, **over: Any) -> GitHubSourceConfig:
    cfg: dict[str, Any] = {"name": "github", "api_url": sb.github_url, "token": sb.token,
                           "org": sb.org, "page_size": PAGE}
    cfg.update(over)
    return GitHubSourceConfig(**cfg)


def _connector(sb: Sandbox, **over: Any) -> GitHubConnector:
    return GitHubConnector(_config(sb, **over), sleep=_no_sleep)


async def _pull(conn: GitHubConnector, cursor: str | None) -> list[Page]:
    return [p async for p in conn.pull(cursor, PullOptions())]


def _tickets(pages: list[Page]) -> dict[str, Ticket]:
    return {t.key: t for p in pages for t in p.tickets}


def _epics_in_sandbox(sb: Sandbox) -> set[str]:
    """What a correct pull must return, read from the sandbox's own state."""
    keys: set[str] = set()
    for repo in ("acme/app", "acme/web", "acme/api", "acme/infra"):
        for number, record in sb.github.repo(repo).issues.items():
            if "epic" in record.labels and "pull_request" not in record.data:
                keys.add(f"{repo}#{number}")
    return keys


def _gh(sb: Sandbox) -> dict[str, Any]:
    return sb.accounting()["github"]


def test_full_then_unchanged_then_two_changed(sb: Sandbox) -> None:
    asyncio.run(_full_then_unchanged_then_two_changed(sb))


async def _full_then_unchanged_then_two_changed(sb: Sandbox) -> None:
    conn = _connector(sb)
    pages = await _pull(conn, None)
    tickets = _tickets(pages)
    expected = _epics_in_sandbox(sb)
    assert set(tickets) == expected
    assert len({t.project for t in tickets.values()}) == 4
    assert all(t.title != "PR with the epic label" for t in tickets.values())
    issue_requests = _gh(sb)["by_endpoint"]
    listing = sum(v for k, v in issue_requests.items() if k.endswith("/issues"))
    assert listing > 4  # several pages per repo at page size 10
    cursor = pages[-1].cursor

    sb.reset_accounting()
    assert await _pull(conn, cursor) == []
    acc = _gh(sb)
    # one request for the org's repo list and one per repo, all 304, no quota
    assert acc["requests"] == 5
    assert acc["not_modified"] == 5
    assert acc["quota_spent"] == 0

    changed = sorted(expected)[:2]
    for key in changed:
        repo, number = key.split("#")
        sb.github.edit_issue(repo, int(number), title=f"Changed {key}")
    sb.reset_accounting()
    again = _tickets(await _pull(conn, cursor))
    assert sorted(again) == changed
    assert all(again[k].title == f"Changed {k}" for k in changed)
    # unchanged repos stay 304; a changed repo costs one page
    assert _gh(sb)["requests"] <= 5 + len(changed)
    await conn.aclose()


def test_goal_comment_once_then_edited_in_place_and_labels_on_demand(sb: Sandbox) -> None:
    conn = _connector(sb)
    key = sorted(_epics_in_sandbox(sb))[0]
    repo, number = key.split("#")
    kr = GoalRef("KR-1", "Checkout fast", "O-1", "Shop", "Dana Lee", "40 → 60 %")
    wb = WriteBack("github", key, WriteBackKind.SET_GOAL_LINKS, goals=(kr,),
                   ticket_title="An <b>epic</b>")

    async def go() -> list[Any]:
        out = [await conn.apply(wb), await conn.apply(wb)]
        edited = WriteBack("github", key, WriteBackKind.SET_GOAL_LINKS, goals=(kr,),
                           ticket_title="An <b>epic</b>", hypothesis_found=True,
                           remote_ref=out[0].remote_ref)
        out.append(await conn.apply(edited))
        out.append(await conn.apply(WriteBack("github", key, WriteBackKind.ADD_LABEL,
                                              label="goal:KR-1")))
        out.append(await conn.apply(WriteBack("github", key, WriteBackKind.REMOVE_LABEL,
                                              label="goal:KR-1")))
        out.append(await conn.apply(WriteBack("github", key, WriteBackKind.REMOVE_LABEL,
                                              label="goal:KR-1")))
        await conn.aclose()
        return out

    created, same, edited, added, removed, gone = asyncio.run(go())
    assert created.status is ApplyStatus.APPLIED
    assert same.status is ApplyStatus.UNCHANGED and same.remote_ref == created.remote_ref
    assert edited.status is ApplyStatus.APPLIED and edited.remote_ref == created.remote_ref
    ours = [c for c in sb.github.comments(repo, int(number)) if has_marker(c["body"])]
    assert len(ours) == 1
    assert "found in the description" in ours[0]["body"]
    assert "(`An <b>epic</b>`)" in ours[0]["body"]  # quoted in a code span: inert text
    events = sb.github.comment_events
    assert sum(e.get("created", 0) for e in events.values()) == 1
    assert sum(e.get("edited", 0) for e in events.values()) == 1
    label = {lb["name"]: lb for lb in sb.github.repo_labels(repo)}["goal:KR-1"]
    assert label["color"] == "0e8a16"
    assert label["description"] == "okrsync: serves key result KR-1"
    assert added.status is ApplyStatus.APPLIED
    assert removed.status is ApplyStatus.APPLIED and gone.status is ApplyStatus.UNCHANGED
    assert "goal:KR-1" not in sb.github.labels_of(repo, int(number))
    assert "epic" in sb.github.labels_of(repo, int(number))


def _end_state(sb: Sandbox, faults: str | None) -> tuple[set[str], list[str], int]:
    if faults:
        sb.set_faults(faults)
    conn = _connector(sb, max_retries=10)
    kr = GoalRef("KR-2", "Fewer refunds", "O-1", "Shop", "Sam", "8 → 4 %")

    async def go() -> list[Page]:
        pages = await _pull(conn, None)
        key = sorted(_tickets(pages))[0]
        await conn.apply(WriteBack("github", key, WriteBackKind.ADD_LABEL, label="goal:KR-2"))
        await conn.apply(WriteBack("github", key, WriteBackKind.SET_GOAL_LINKS, goals=(kr,)))
        await conn.aclose()
        return pages

    pages = asyncio.run(go())
    sb.set_faults(None)
    repo, number = sorted(_tickets(pages))[0].split("#")
    ours = [c for c in sb.github.comments(repo, int(number)) if has_marker(c["body"])]
    return set(_tickets(pages)), sorted(sb.github.labels_of(repo, int(number))), len(ours)


def test_faults_are_survived_with_the_same_end_state() -> None:
    with sandbox(data=_scenario(), seed=7) as clean:
        expected = _end_state(clean, None)
    with sandbox(data=_scenario(), seed=7) as flaky:
        got = _end_state(flaky, "429:0.15,secondary:0.1,502:0.15")
        acc = _gh(flaky)
    assert got == expected
    assert got[2] == 1
    statuses = {int(k) for k in acc["by_status"]}
    assert statuses & {429, 403, 502}


def test_github_app_auth_against_the_sandbox(sb: Sandbox) -> None:
    conn = GitHubConnector(
        GitHubSourceConfig(name="github", api_url=sb.github_url, app_id=sb.app_id,
                           private_key=sb.app_private_key, installation_id=sb.installation_id,
                           repos=["acme/app"], page_size=100),
        sleep=_no_sleep,
    )

    async def go() -> tuple[list[Page], Any]:
        pages = await _pull(conn, None)
        checks = await conn.doctor()
        await conn.aclose()
        return pages, checks

    pages, checks = asyncio.run(go())
    assert _tickets(pages)
    assert conn.app is not None and conn.app.mints == 1
    assert checks[0].ok and "GitHub App" in checks[0].detail


def test_doctor_read_only_against_the_sandbox(sb: Sandbox) -> None:
    conn = _connector(sb)

    async def go() -> Any:
        checks = await conn.doctor()
        await conn.aclose()
        return checks

    by = {c.name: c for c in asyncio.run(go())}
    assert by["auth"].ok
    assert by["rate limit"].ok
    assert by["repo acme/app"].ok
    acc = _gh(sb)
    assert all(k.startswith("GET") for k in acc["by_endpoint"])
