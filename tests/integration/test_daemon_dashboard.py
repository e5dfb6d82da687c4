"""`okrsync daemon` with `[web] port`: the dashboard beside the sync loop, on loopback."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from sandbox import sandbox
from tests.helpers.e2e import env_for, project


def test_daemon_serves_the_dashboard_when_web_port_is_set(tmp_path: Path) -> None:
    with sandbox(epics=40, seed=5) as sb:
        cfg_path = project(tmp_path, sb)
        text = cfg_path.read_text()
        cfg_path.write_text(text.replace('[web]\n', '[web]\nport = 0\n'))
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncer.cli", "daemon", "--config", str(cfg_path),
             "--interval", "600", "--health-port", "0", "--log-format", "json", "--no-report"],
            env=env_for(sb), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert proc.stderr is not None
            url = ""
            for line in proc.stderr:
                event = json.loads(line)
                if event["event"] == "dashboard_listening":
                    url = event["url"]
                if event["event"] == "sync":
                    break
            assert re.match(r"^http://127\.0\.0\.1:\d+/$", url), url
            page = httpx.get(url + "untraceable?format=json", timeout=10)  # the sync has run
            assert page.status_code == 200 and page.json()["total"] > 0
            assert httpx.post(url + "untraceable", timeout=5).status_code == 405
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            assert proc.returncode == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
