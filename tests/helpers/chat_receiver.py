"""A loopback HTTP receiver standing in for a Slack or Teams incoming webhook: records each
request body, and answers as told (200, a status such as 500, or not at all until the test
ends, so the client times out)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    url: str
    mode: str = "ok"
    """ok | 500 | 400 | hang"""
    bodies: list[Any] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)


@contextmanager
def receiver(mode: str = "ok") -> Iterator[Receiver]:
    state = Receiver("", mode)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", "0"))
            state.bodies.append(json.loads(self.rfile.read(length)))
            state.paths.append(self.path)
            if state.mode == "hang":
                state.released.wait(10)
                return
            status = 200 if state.mode == "ok" else int(state.mode)
            body = b"ok" if status == 200 else b"server error"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/s3cr3tpath"
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
