"""The Jira connector (Cloud, REST v3) keeps the connector contract against the sandbox Jira."""

from __future__ import annotations

from tests.contract.contract import ConnectorContract


class TestJiraContract(ConnectorContract):
    kind = "jira"
    description = "jira-cloud-platform-v3.json"
