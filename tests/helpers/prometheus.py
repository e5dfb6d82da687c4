"""A real Prometheus for tests (the Debian package), fed by a loopback exporter and given
history the way an operator would backfill it: `promtool tsdb create-blocks-from openmetrics`.

`running_prometheus(tmp, metric, history, current)` serves `metric` with the value `current`
from a loopback exporter that Prometheus scrapes every second, and preloads `history`
(`(unix seconds, value)` pairs, labelled like the scraped series so both are one series).
It yields the base URL once the scraped value is queryable. Tests skip with the reason when
Prometheus is not installed (`.ci/run` installs it).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

READY_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _exporter(metric: str, value: float) -> Iterator[int]:
    body = f"# TYPE {metric} gauge\n{metric} {value}\n".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def running_prometheus(tmp: Path, metric: str, history: Sequence[tuple[int, float]],
                       current: float) -> Iterator[str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        pytest.skip("Prometheus is not installed (apt-get install prometheus)")
    with _exporter(metric, current) as exporter_port:
        target = f"127.0.0.1:{exporter_port}"
        labels = f'{{instance="{target}",job="kr"}}'
        lines = [f"# TYPE {metric} gauge"]
        lines += [f"{metric}{labels} {v} {t}" for t, v in sorted(history)]
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "history.om").write_text("\n".join([*lines, "# EOF"]) + "\n")
        data = tmp / "tsdb"
        subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                        "--max-block-duration=4000h", str(tmp / "history.om"), str(data)],
                       check=True, capture_output=True, timeout=120)
        (tmp / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: kr\n"
            f"    static_configs:\n      - targets: ['{target}']\n")
        port = _free_port()
        log = (tmp / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            [prometheus, f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=5y",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:  # readiness of a real server, not a timed assertion
                with contextlib.suppress(httpx.HTTPError):
                    got = httpx.get(f"{url}/api/v1/query", params={"query": metric},
                                    timeout=2).json()
                    if got["data"]["result"]:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Prometheus did not start: "
                                       + (tmp / "prometheus.log").read_text()[-2000:])
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
