"""Serving the dashboard: bind first (so port 0 gets a real port to print), then run uvicorn on
that socket, in the foreground (`okrsync serve`) or in a thread (`okrsync daemon`)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncer.config import Config


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


class Dashboard:
    """The dashboard on a bound socket. `serve()` blocks until `stop()` (or SIGINT/SIGTERM
    when run in the main thread)."""

    def __init__(self, config: Config, host: str = "127.0.0.1", port: int = 0, *,
                 sock: socket.socket | None = None) -> None:
        import uvicorn

        from syncer.web.app import create_app

        self.sock = sock or bind(host, port)
        self.url = url_of(self.sock)
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(config), log_level="warning", access_log=False, lifespan="off",
            server_header=False,
        ))

    def serve(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start_thread(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        def run() -> None:
            try:
                self.serve()
            except BaseException as exc:  # reported, the daemon keeps syncing
                if on_error:
                    on_error(exc)

        threading.Thread(target=run, name="okrsync-dashboard", daemon=True).start()

    def stop(self) -> None:
        self.server.should_exit = True
