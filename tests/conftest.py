"""Suite-wide test settings."""

from __future__ import annotations

import pytest
from hypothesis import settings

from tests.helpers.chromium import browser  # noqa: F401  (the browser fixture, per module)
from tests.helpers.store_backends import (  # noqa: F401  (fixtures for every test)
    postgres_server,
    store_backend_env,
    store_target,
)

settings.register_profile("okrsync", deadline=None)
settings.load_profile("okrsync")
"""Property tests judge results, not speed: a shared 2-core machine under load can take longer
than hypothesis' default 200 ms per example, and speed is measured in bench/, not asserted."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-backend", choices=("both", "sqlite", "postgresql"), default="both",
        help="run the store-backed tests on SQLite, PostgreSQL or both (the default)",
    )
