"""How GitHub answers over HTTP, for the shared client (`connectors.http.ResponsePolicy`).

GitHub words errors as `message`; signals its secondary rate limit as a 403 (or 429) whose
message says so, with or without `Retry-After` (its documented minimum wait is a minute);
signals an exhausted primary quota as a 403/429 with `x-ratelimit-remaining: 0` and an epoch
`x-ratelimit-reset`; and on Enterprise Server lives under `/api/v3`.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.http import (
    QUOTA_LIMIT,
    LimitAnswer,
    Quota,
    ResponsePolicy,
    repeats_api_path,
    wait_until,
    x_ratelimit_quota,
)

SECONDARY_LIMIT = "GitHub secondary rate limit"


class GitHubResponses(ResponsePolicy):
    def messages(self, data: Any) -> list[str]:
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return [data["message"]]
        return []

    def quota(self, response: httpx.Response, now: float) -> Quota | None:
        return x_ratelimit_quota(response, now)

    def rate_limit(self, response: httpx.Response, now: float) -> LimitAnswer | None:
        if response.status_code != 403:
            return super().rate_limit(response, now)
        body = response.text[:2000].lower() if response.content else ""
        wait = self.retry_after(response, now)
        quota = self.quota(response, now)
        if wait is not None:
            return LimitAnswer(wait, f"HTTP 403 Retry-After {wait:.0f} s", SECONDARY_LIMIT,
                               documented_wait=True)
        if quota is not None and quota.remaining == 0:
            seconds = 60.0 if quota.reset is None else wait_until(quota.reset, now)
            return LimitAnswer(seconds, "HTTP 403 quota exhausted until x-ratelimit-reset",
                               QUOTA_LIMIT, documented_wait=True)
        if "secondary rate limit" in body:
            return LimitAnswer(0.0, "HTTP 403 secondary rate limit", SECONDARY_LIMIT,
                               documented_wait=True)
        return None

    def hint(self, path: str) -> str:
        if repeats_api_path(path, r"/api/v3"):
            return ("the URL repeats an API path: give the site root as the source's api_url "
                    "(e.g. https://github.example.com/api/v3, not …/api/v3/api/v3)")
        return ""


GITHUB_RESPONSES = GitHubResponses()
