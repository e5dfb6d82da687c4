"""`okrsync daemon` as a real process against both sandboxes: it syncs on its interval,
serves /healthz and /metrics, and stops cleanly on SIGTERM without losing a write-back."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sandbox import sandbox
from syncer.store import Store
from tests.helpers.e2e import config, env_for, project


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, predicate: object, timeout: float = 90) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2).json()
            if predicate(last):  # type: ignore[operator]
                return last
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting on {url}; last answer {last}")


@pytest.mark.usefixtures("store_backend_env")
def test_daemon_syncs_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    with sandbox(epics=60, seed=11) as sb:
        cfg_path = project(tmp_path, sb)
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncer.cli", "daemon", "--config", str(cfg_path),
             "--interval", "1", "--health-port", str(port), "--log-format", "json",
             "--no-report"],
            env=env_for(sb), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            health = _wait_for(f"http://127.0.0.1:{port}/healthz",
                               lambda h: h.get("last_exit_code") == 0)
            assert health["status"] == "ok"
            assert health["pending_writebacks"] == 0
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            assert 'okrsync_sync_runs_total{result="ok"}' in metrics
            assert "okrsync_pending_writebacks 0" in metrics

            # Stop it while a sync is slow, so SIGTERM lands mid-run.
            sb.set_faults("slow:1.0")
            time.sleep(1.5)
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err[-2000:]
            assert time.monotonic() - started < 15
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        kinds = [e["event"] for e in events]
        assert "sync" in kinds and "stopping" in kinds
        assert kinds[-1] == "stopped"
        assert all(sb.token not in line for line in err.splitlines())

        sb.set_faults(None)
        with Store.open(config(cfg_path, sb).store_target) as store:
            assert store.integrity_check() == "ok"
            runs = store.runs(50)
        assert len(runs) >= 1
        # Whatever SIGTERM interrupted is still in the outbox; a clean run finishes it.
        from syncer.engine import run_sync

        after = run_sync(config(cfg_path, sb))
        assert after.exit_code == 0 and after.pending == 0


def test_daemon_refuses_an_invalid_config_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "okrsync.toml"
    bad.write_text("[daemon]\ninterval_seconds = 'often'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "syncer.cli", "daemon", "--config", str(bad)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "okrsync.toml" in proc.stderr and "interval_seconds" in proc.stderr
