"""Every write kind of both connectors under `lost` answers (the write lands, its answer
never arrives) at 10 % and 50 %: applied through the connector over real HTTP, then once more
without faults if it failed (as the next run would), the tracker shows the effect exactly
once — one label, one remote link per goal, at most one goal-link comment."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from connectors.github import GitHubConnector, GitHubSourceConfig
from connectors.github_comment import has_marker
from connectors.jira import JiraConnector, JiraSourceConfig
from core.errors import RemoteError
from core.model import GoalRef, WriteBack, WriteBackKind
from sandbox import Sandbox, sandbox

TICKETS = 6
REPO = "acme/app"


async def no_wait(_: float) -> None:
    """Retries are counted, never slept."""


def goal(kr: str) -> GoalRef:
    return GoalRef(kr, f"{kr} title", "O-1", "Grow", "Dana Lee", "40 → 60 %",
                   url=f"https://okr.example/{kr}")


def scenario() -> dict[str, Any]:
    epic = {"issuetype": {"name": "Epic"}}
    return {
        "jira": {"issues": [{"key": f"WEB-{n}", "fields": {**epic, "labels": ["theirs"]}}
                            for n in range(1, TICKETS + 1)]},
        "github": {"org": "acme", "repos": {REPO: {"issues": [
            {"title": f"Epic {n}", "labels": ["epic", "theirs"]}
            for n in range(1, TICKETS + 1)]}}},
    }


def connector(sb: Sandbox, source: str) -> Any:
    if source == "jira":
        return JiraConnector(JiraSourceConfig(name="jira", base_url=sb.jira_url,
                                              email=sb.jira_user, token=sb.token,
                                              max_retries=2), sleep=no_wait)
    return GitHubConnector(GitHubSourceConfig(name="github", api_url=sb.github_url,
                                              token=sb.token, repos=[REPO], max_retries=2),
                           sleep=no_wait)


def key(source: str, n: int) -> str:
    return f"WEB-{n}" if source == "jira" else f"{REPO}#{n}"


def seen(sb: Sandbox, source: str, n: int) -> tuple[list[str], list[str]]:
    """(labels, okrsync goal links) on ticket n: remote-link globalIds or comment ids."""
    if source == "jira":
        links = [str(link.get("globalId")) for link in sb.jira.remote_links(f"WEB-{n}")]
        return sb.jira.labels(f"WEB-{n}"), [g for g in links if g.startswith("okrsync:")]
    comments = [str(c["id"]) for c in sb.github.comments(REPO, n) if has_marker(c["body"])]
    return sb.github.labels_of(REPO, n), comments


Kind = tuple[Callable[[str, str], list[WriteBack]], Callable[[str, str], WriteBack]]
ONE, TWO = (goal("KR-1"),), (goal("KR-1"), goal("KR-2"))


def _set(source: str, k: str, goals: tuple[GoalRef, ...], previous: tuple[str, ...] = ()
         ) -> WriteBack:
    return WriteBack(source, k, WriteBackKind.SET_GOAL_LINKS, goals=goals, previous=previous,
                     ticket_title="Epic")


KINDS: dict[str, Kind] = {
    "add_label": (lambda s, k: [],
                  lambda s, k: WriteBack(s, k, WriteBackKind.ADD_LABEL, label="goal:KR-1")),
    "remove_label": (lambda s, k: [WriteBack(s, k, WriteBackKind.ADD_LABEL, label="goal:KR-1")],
                     lambda s, k: WriteBack(s, k, WriteBackKind.REMOVE_LABEL, label="goal:KR-1")),
    "goal_links_create": (lambda s, k: [], lambda s, k: _set(s, k, ONE)),
    "goal_links_edit": (lambda s, k: [_set(s, k, ONE)], lambda s, k: _set(s, k, TWO, ("KR-1",))),
    "goal_links_end": (lambda s, k: [_set(s, k, ONE)], lambda s, k: _set(s, k, (), ("KR-1",))),
    "remove_goal_links": (lambda s, k: [_set(s, k, ONE)],
                          lambda s, k: WriteBack(s, k, WriteBackKind.REMOVE_GOAL_LINKS,
                                                 previous=("KR-1",))),
}
EXPECTED: dict[str, tuple[bool, int]] = {  # (goal:KR-1 on the ticket, okrsync goal links)
    "add_label": (True, 0), "remove_label": (False, 0), "goal_links_create": (False, 1),
    "goal_links_edit": (False, 2), "goal_links_end": (False, 0), "remove_goal_links": (False, 0),
}


@pytest.mark.parametrize("rate", [0.1, 0.5])
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("source", ["jira", "github"])
def test_a_write_whose_answer_is_lost_lands_exactly_once(source: str, kind: str,
                                                         rate: float) -> None:
    before, write = KINDS[kind]
    with sandbox(data=scenario(), seed=3) as sb:
        sb.jira.admin = True

        async def go() -> int:
            conn = connector(sb, source)
            for n in range(1, TICKETS + 1):
                for wb in before(source, key(source, n)):
                    await conn.apply(wb)
            sb.set_faults(f"lost:{rate}", server=source)
            retried = 0
            for n in range(1, TICKETS + 1):
                wb = write(source, key(source, n))
                try:
                    await conn.apply(wb)
                except RemoteError:
                    retried += 1
                    sb.set_faults(None, server=source)
                    await conn.apply(wb)  # the next run: not fresh, reads first
                    sb.set_faults(f"lost:{rate}", server=source)
            sb.set_faults(None)
            await conn.aclose()
            return retried

        asyncio.run(go())
        lost = sb.accounting()[source]["faults"].get("lost", 0)
        states = [seen(sb, source, n) for n in range(1, TICKETS + 1)]
    labelled, links = EXPECTED[kind]
    for labels, ours in states:
        assert ("goal:KR-1" in labels) is labelled and "theirs" in labels
        assert len(labels) == len({lb.casefold() for lb in labels})
        if source == "jira":
            assert len(ours) == links and len(set(ours)) == len(ours)
        else:  # one comment holds every goal; the last one ending edits it, never deletes
            assert len(ours) == (1 if kind == "goal_links_end" else min(links, 1))
    assert lost > 0 or rate < 0.5
