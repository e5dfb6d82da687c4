"""The rule engine: which key results an epic serves, and why. Pure code, no I/O."""

from __future__ import annotations
