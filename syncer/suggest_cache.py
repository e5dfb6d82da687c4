"""The fitted suggester kept between runs, in a file beside the store, keyed by a digest of
everything it learned from; a run whose digest matches ranks with it and neither reads the
linked epics again, fits TF-IDF, nor imports scikit-learn.

The file is ours and only a cache: deleting it costs one refit, and a file that cannot be
read (another format, truncated, not ours) is ignored and replaced. It holds named numpy
arrays of numbers and unicode strings (`numpy.savez`), loaded with `allow_pickle=False`, so
reading it never runs code whatever it contains.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.model import Catalog
from mappings.labels import is_ktlo
from mappings.suggest.features import DESCRIPTION_CHARS, Prefixes, kr_text
from mappings.suggest.ranker import FORMAT, Ranker
from syncer.store_suggest import TrainingRow

log = logging.getLogger(__name__)
SUFFIX = ".suggest-model.npz"


def model_path(store_path: Path) -> Path:
    """`okrsync.db` -> `okrsync.db.suggest-model.npz`."""
    return store_path.with_name(store_path.name + SUFFIX)


def training_digest(rows: Sequence[TrainingRow], catalog: Catalog, prefixes: Prefixes,
                    ktlo: Sequence[str], team_of: dict[str, str | None]) -> str:
    """A digest of what a fit would learn from: every linked epic's text and KRs, every
    declared run/maintenance epic, the key results' own words, the label prefixes and the
    teams of their projects. An edit to an untraceable epic leaves it unchanged."""
    h = hashlib.sha256()
    h.update(json.dumps([FORMAT, DESCRIPTION_CHARS, prefixes.explicit, prefixes.managed,
                         list(ktlo)]).encode())
    if catalog.current_cycle is not None:  # a rollover changes which links are examples
        h.update(f"cycle:{catalog.current_cycle}".encode())
    for kr in sorted(catalog.key_results, key=lambda k: k.id):
        h.update(json.dumps([kr.id, kr_text(kr, catalog)]).encode())
    @functools.lru_cache(maxsize=4096)
    def run_work(labels_json: str) -> bool:
        return is_ktlo(json.loads(labels_json), ktlo)

    for row in rows:
        if row[7] is None and not run_work(row[4]):
            continue
        h.update("\x1f".join((*row[:7], row[7] or "", team_of.get(row[5]) or "")).encode())
        h.update(b"\x1e")
    return h.hexdigest()


def load_model(path: Path, digest: str) -> Ranker | None:
    """The kept model if it was fitted on the training set `digest` names, else None."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if str(arrays["digest"]) != digest:
                return None
            return Ranker.from_arrays(arrays)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring the kept suggestion model %s (%s); refitting",
                    path.name, type(exc).__name__)
        return None


def save_model(path: Path, digest: str, ranker: Ranker) -> None:
    """Write atomically (a reader sees the old file or the new one), readable by its owner
    only; a failure to write is logged, never fatal: the next run refits."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # titles: like the store
        with os.fdopen(fd, "wb") as f:
            arrays: dict[str, Any] = {"digest": np.asarray(digest), **ranker.to_arrays()}
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not keep the suggestion model in %s: %s", path.name,
                    exc.strerror or type(exc).__name__)
        tmp.unlink(missing_ok=True)
