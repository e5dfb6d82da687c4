"""CLI commands: one module per command (or small group); each registers on `syncer.cli.app`."""

from __future__ import annotations
