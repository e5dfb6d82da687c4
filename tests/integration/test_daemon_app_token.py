"""The daemon keeps a GitHub App's installation token from one cycle's sync process to the
next instead of minting one per cycle; and the handoff itself keeps only valid tokens."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.handoff import TokenHandoff, dump_grants, parse_grants
from sandbox import sandbox
from tests.helpers.app_auth import app_project

MINT = "POST /app/installations/{installation_id}/access_tokens"


def test_grants_round_trip_and_expired_ones_are_dropped() -> None:
    now = time.time()
    raw = dump_grants({"a|1|2": ("ghs_x", now + 60), "b|1|2": ("ghs_y", now - 1)})
    assert parse_grants(raw + "\nnot json\n[1]\n", now) == {"a|1|2": ("ghs_x", now + 60)}
    handoff = TokenHandoff()
    env, read, write = handoff.open({})
    os.write(write, (dump_grants({"k": ("ghs_z", now + 60)}) + "\n").encode())
    os.close(write)
    handoff.collect(read)
    assert handoff.grants == {"k": ("ghs_z", now + 60)}
    assert "_OKRSYNC_APP_TOKENS" not in env
    again, read, write = handoff.open({})
    os.close(write)
    handoff.collect(read)
    assert json.loads(again["_OKRSYNC_APP_TOKENS"]) == {"k": ["ghs_z", now + 60]}


def test_daemon_cycles_share_one_installation_token(tmp_path: Path) -> None:
    with sandbox(epics=30, seed=12, token_etags=True) as sb:
        config, env = app_project(tmp_path, sb)
        config.write_text(config.read_text() + "\n[daemon]\njitter_seconds = 0\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncer.cli", "daemon", "--config", str(config),
             "--interval", "0.5", "--log-format", "json", "--no-report"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            deadline = time.monotonic() + 120
            syncs = 0
            assert proc.stderr is not None
            while syncs < 3 and time.monotonic() < deadline:
                line = proc.stderr.readline()
                if line.startswith("{") and json.loads(line).get("event") == "sync":
                    syncs += 1
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert syncs == 3
        by_endpoint = sb.accounting()["github"]["by_endpoint"]
        assert by_endpoint.get(MINT) == 1
        assert "ghs_" not in err
