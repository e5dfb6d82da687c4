"""The Jira connector on Data Center (REST v2, bearer token) keeps the connector contract.

Atlassian publishes no Data Center description; its v2 paths are checked against the Cloud
v3 operations of the same shape, as the api review did.
"""

from __future__ import annotations

from tests.contract.contract import ConnectorContract


class TestJiraDataCenterContract(ConnectorContract):
    kind = "jira"
    description = "jira-cloud-platform-v3.json"
    tracker_options = {"flavour": "datacenter"}
    path_aliases = (("/rest/api/2/", "/rest/api/3/"),)
