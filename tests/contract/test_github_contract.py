"""The GitHub connector keeps the connector contract against the sandbox GitHub."""

from __future__ import annotations

from tests.contract.contract import ConnectorContract


class TestGitHubContract(ConnectorContract):
    kind = "github"
    description = "github-api.github.com.json"
