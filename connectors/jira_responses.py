"""How Jira answers over HTTP, for the shared client (`connectors.http.ResponsePolicy`).

Jira words errors as `errorMessages` and per-field `errors` (its gateway as `message`), asks
for waits with `Retry-After` or the older `Beta-Retry-After`, names the limit that stopped a
request in `RateLimit-Reason` (a per-issue write limit stops only that issue's lane), sends
its quota as `x-ratelimit-*` with an ISO-8601 reset, and lives under `/rest/api/N`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from connectors.http import LimitAnswer, Quota, ResponsePolicy, repeats_api_path, x_ratelimit_quota


class JiraResponses(ResponsePolicy):
    retry_after_headers = ("retry-after", "beta-retry-after")

    def messages(self, data: Any) -> list[str]:
        if not isinstance(data, dict):
            return []
        parts: list[str] = []
        msgs = data.get("errorMessages")
        if isinstance(msgs, list):
            parts.extend(str(m) for m in msgs)
        errors = data.get("errors")
        if isinstance(errors, dict):
            parts.extend(f"{k}: {v}" for k, v in errors.items())
        if isinstance(data.get("message"), str):
            parts.append(data["message"])
        return parts

    def quota(self, response: httpx.Response, now: float) -> Quota | None:
        return x_ratelimit_quota(response, now)

    def rate_limit(self, response: httpx.Response, now: float) -> LimitAnswer | None:
        answer = super().rate_limit(response, now)
        reason = response.headers.get("ratelimit-reason", "").strip()
        if answer is None or not reason:
            return answer
        return dataclasses.replace(answer, lane_reason=reason, limit=f"Jira {reason}")

    def hint(self, path: str) -> str:
        if repeats_api_path(path, r"/rest/api/\d+"):
            return ("the URL repeats an API path: give the site root as the source's base_url "
                    "(e.g. https://acme.atlassian.net, not …/rest/api/3)")
        return ""


JIRA_RESPONSES = JiraResponses()
