"""Suite-wide test settings."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("okrsync", deadline=None)
settings.load_profile("okrsync")
"""Property tests judge results, not speed: a shared 2-core machine under load can take longer
than hypothesis' default 200 ms per example, and speed is measured in bench/, not asserted."""
