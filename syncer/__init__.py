"""okrsync: keep goals (OKR key results) and work (Jira/GitHub epics) connected."""

from __future__ import annotations

__version__ = "0.1.0"
