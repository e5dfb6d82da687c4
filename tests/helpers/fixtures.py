"""Where the recorded API payloads live: inside the repository, so a clone alone runs every
test (tests/fixtures/SOURCES.md says where each file came from)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GITHUB = FIXTURES / "github"
JIRA = FIXTURES / "jira"
