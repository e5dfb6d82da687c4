"""Loopback sandboxes of Jira and GitHub, started together for tests, the demo and the bench.

    with sandbox(epics=200, seed=1) as sb:
        sb.jira_url, sb.github_url, sb.token, sb.jira_user   # what a config needs
        sb.jira.edit_issue("WEB-1", labels=["x"])             # act as a person would
        sb.set_faults("429:0.2")                              # make both servers flaky
        sb.accounting()["github"]["quota_spent"]              # what the clients cost

The servers speak the real REST shapes over real HTTP (see docs/sandbox.md), so the official
`jira` client and PyGithub work against them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.clock import SYSTEM
from sandbox.accounting import Accounting
from sandbox.data import ORG, bulk_load, generate, load_scenario
from sandbox.faults import FaultInjector, FaultSpec
from sandbox.jira import JIRA_USER, JiraState
from sandbox.jira import build_app as build_jira_app
from sandbox.limits import Clock, GitHubLimiter, GitHubLimits, JiraLimiter, JiraLimits
from sandbox.server import serve

__all__ = ["JIRA_USER", "GitHubLimits", "JiraLimits", "Sandbox", "sandbox"]

APP_ID = 424242
INSTALLATION_ID = 4242


@functools.cache
def _app_key() -> tuple[str, str]:
    """One RSA key pair per process (PEM private, PEM public): generating one costs ~0.1 s."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


@dataclass
class Sandbox:
    """Both running servers: URLs, credentials, in-memory states and counters."""

    jira_url: str
    github_url: str
    token: str
    jira: JiraState
    github: Any
    jira_flavour: str = "cloud"
    jira_user: str = JIRA_USER
    org: str = ORG
    app_id: int = APP_ID
    app_private_key: str = ""
    installation_id: int = INSTALLATION_ID
    _accounting: dict[str, Accounting] = field(default_factory=dict, repr=False)
    _injectors: dict[str, FaultInjector] = field(default_factory=dict, repr=False)
    _limiters: list[GitHubLimiter | JiraLimiter] = field(default_factory=list, repr=False)

    def reset_limits(self) -> None:
        """Empty the enforced rate-limit windows (e.g. after a benchmark's setup)."""
        for limiter in self._limiters:
            limiter.windows.reset()

    def accounting(self) -> dict[str, dict[str, Any]]:
        """`{"jira": snapshot, "github": snapshot}` (see `Accounting.snapshot`)."""
        return {name: acc.snapshot() for name, acc in self._accounting.items()}

    def reset_accounting(self) -> None:
        for acc in self._accounting.values():
            acc.reset()

    def set_faults(self, spec: str | None, *, server: Literal["jira", "github"] | None = None
                   ) -> None:
        """Replace the fault spec of both servers (or one); None turns faults off."""
        parsed = FaultSpec.parse(spec)
        for name, injector in self._injectors.items():
            if server is None or server == name:
                injector.set_spec(parsed)


@contextmanager
def sandbox(
    epics: int = 200,
    seed: int = 1,
    faults: str | None = None,
    data: dict[str, Any] | Path | str | None = None,
    token: str = "sandbox-token",
    jira_flavour: Literal["cloud", "datacenter"] = "cloud",
    jira_port: int = 0,
    github_port: int = 0,
    github_limits: GitHubLimits | None = None,
    jira_limits: JiraLimits | None = None,
    token_etags: bool = False,
    clock: Clock = SYSTEM.time,
) -> Iterator[Sandbox]:
    """Start the sandbox Jira and GitHub on loopback; stop both when the block ends.

    `data` (a scenario dict or JSON file) replaces the generated `epics`/`seed` data.
    `github_limits` / `jira_limits` enforce rate limits (none by default; `.real()` gives the
    published ones), timed by `clock`; `token_etags` makes GitHub's ETags token-specific.
    """
    from sandbox.github import GitHubState
    from sandbox.github import build_app as build_github_app

    with bulk_load():
        scenario = load_scenario(data) if data is not None else generate(epics, seed)
        org = str(scenario.get("github", {}).get("org") or ORG)
        jira_state = JiraState.from_scenario(scenario.get("jira"))
        github_state = GitHubState.from_scenario(scenario.get("github", {}), org)
        del scenario
    private_pem, public_pem = _app_key()
    accounting = {"jira": Accounting(), "github": Accounting()}
    injectors = {"jira": FaultInjector(faults, seed), "github": FaultInjector(faults, seed + 1)}
    jira_app = build_jira_app(jira_state, token=token, flavour=jira_flavour,
                              accounting=accounting["jira"], injector=injectors["jira"])
    github_app = build_github_app(
        github_state, token=token, accounting=accounting["github"],
        injector=injectors["github"], app_id=APP_ID, app_public_key_pem=public_pem,
        installation_id=INSTALLATION_ID, token_etags=token_etags,
    )
    limiters: list[GitHubLimiter | JiraLimiter] = []
    served: dict[str, Any] = {"jira": jira_app, "github": github_app}
    if github_limits is not None:
        limiters.append(GitHubLimiter(github_app, github_limits,
                                      accounting=accounting["github"], clock=clock))
        served["github"] = limiters[-1]
    if jira_limits is not None:
        limiters.append(JiraLimiter(jira_app, jira_limits, accounting=accounting["jira"],
                                    clock=clock))
        served["jira"] = limiters[-1]
    with ExitStack() as stack:
        jira_server = stack.enter_context(serve(served["jira"], port=jira_port))
        github_server = stack.enter_context(serve(served["github"], port=github_port))
        jira_state.base_url = jira_server.url
        yield Sandbox(
            jira_url=jira_server.url,
            github_url=github_server.url,
            token=token,
            jira=jira_state,
            github=github_state,
            jira_flavour=jira_flavour,
            org=org,
            app_private_key=private_pem,
            _accounting=accounting,
            _injectors=injectors,
            _limiters=limiters,
        )
