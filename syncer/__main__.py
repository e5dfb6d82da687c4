"""`python -m syncer` is `okrsync`."""

from __future__ import annotations

from syncer.cli import main

main()
