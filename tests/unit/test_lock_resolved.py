"""The run lock is keyed on the store's resolved path: a symlink to the store file must not
let a second run in beside the first. SQLite only: symlinks are a file's concern."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import LockHeld
from syncer.lock import RunLock, lock_holder


def test_a_symlinked_store_file_is_locked_by_the_same_lock(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "srv").mkdir()
    real = tmp_path / "data" / "okrsync.db"
    real.write_bytes(b"")
    link = tmp_path / "srv" / "okrsync.db"
    link.symlink_to(real)
    with RunLock(real, command="sync"):
        with pytest.raises(LockHeld):
            RunLock(Path(f"{link}.lock"), command="sync").__enter__()
        with pytest.raises(LockHeld):
            RunLock(link, command="sync").__enter__()
        holder = lock_holder(link)
        assert holder is not None and holder["command"] == "sync"
    assert not (tmp_path / "srv" / "okrsync.db.lock").exists()
    with RunLock(link, command="sync"):
        assert lock_holder(real) is not None
