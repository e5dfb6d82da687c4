"""A sandbox Jira for the Jira connector's integration tests.

Uses `sandbox.sandbox()` when the whole sandbox (with GitHub) is importable; until
then it serves the sandbox Jira app alone from the same building blocks, so the Jira tests
run against the same server code either way.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from connectors.jira import JiraConnector, JiraSourceConfig

Flavour = Literal["cloud", "datacenter"]


@dataclass
class JiraBox:
    url: str
    token: str
    user: str
    flavour: Flavour
    state: Any
    set_faults: Callable[[str | None], None]
    accounting: Callable[[], dict[str, Any]]


@contextmanager
def jira_sandbox(*, epics: int = 60, seed: int = 1, faults: str | None = None,
                 flavour: Flavour = "cloud", token: str = "sandbox-token",
                 data: dict[str, Any] | None = None) -> Iterator[JiraBox]:
    if importlib.util.find_spec("sandbox.github") is not None:
        from sandbox import sandbox

        with sandbox(epics=epics, seed=seed, faults=faults, token=token,
                     jira_flavour=flavour, data=data) as sb:
            yield JiraBox(sb.jira_url, sb.token, sb.jira_user, flavour, sb.jira,
                          lambda spec: sb.set_faults(spec, server="jira"),
                          lambda: sb.accounting()["jira"])
        return
    from sandbox.accounting import Accounting
    from sandbox.data import generate, load_scenario
    from sandbox.faults import FaultInjector
    from sandbox.jira import JIRA_USER, JiraState, build_app
    from sandbox.server import serve

    scenario = load_scenario(data) if data is not None else generate(epics, seed)
    state = JiraState.from_scenario(scenario.get("jira"))
    accounting = Accounting()
    injector = FaultInjector(faults, seed)
    app = build_app(state, token=token, flavour=flavour, accounting=accounting,
                    injector=injector)
    with serve(app) as server:
        state.base_url = server.url
        yield JiraBox(server.url, token, JIRA_USER, flavour, state, injector.set_spec,
                      accounting.snapshot)


async def fast_sleep(seconds: float) -> None:
    """Waits as asked by the server, but shortened so fault tests stay quick."""
    await asyncio.sleep(min(seconds, 0.005))


def connect(box: JiraBox, **overrides: Any) -> JiraConnector:
    """A connector for the sandbox: basic auth on Cloud, a bearer PAT on Data Center."""
    options: dict[str, Any] = {
        "name": "jira",
        "base_url": box.url,
        "flavour": box.flavour,
        "token": box.token,
        "email": box.user if box.flavour == "cloud" else "",
        "jql": "project in (WEB, APP, DATA, OPS)",
        "page_size": 7,
        "story_points_field": "customfield_10016",
        "max_retries": 8,
    }
    options.update(overrides)
    return JiraConnector(JiraSourceConfig(**options), sleep=fast_sleep)


def epic_keys(state: Any) -> set[str]:
    """What the sandbox holds as epics (the expected result of a full pull)."""
    keys: list[str] = state.keys()
    return {k for k in keys if state.issue(k)["fields"]["issuetype"]["name"] == "Epic"}
