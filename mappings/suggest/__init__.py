"""Suggested key results for untraceable epics, learned from the organisation's own links.

Pure code over plain values: `features` turns epics and key results into text, `model` fits
and ranks, `evaluate` measures it by leave-one-out, `rules_from` turns agreeing suggestions
into `[[rule]]` tables. The store and the command line live in `syncer/`.
"""
