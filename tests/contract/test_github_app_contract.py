"""The GitHub connector with GitHub App auth keeps the connector contract; the installation
token is minted through the sandbox, so that exchange is checked against GitHub's
description too."""

from __future__ import annotations

from tests.contract.contract import ConnectorContract


class TestGitHubAppContract(ConnectorContract):
    kind = "github"
    description = "github-api.github.com.json"
    tracker_options = {"auth": "app"}
