"""Tracker connectors (one module per tracker) and the shared HTTP layer."""

from __future__ import annotations
