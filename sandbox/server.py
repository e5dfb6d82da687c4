"""Serve an ASGI app on loopback from a background thread, for tests and `okrsync sandbox`.

uvicorn runs its own event loop in the thread, so concurrent requests are served
concurrently while the caller's thread goes on driving clients. Port 0 binds a free port
before the server starts, so the URL is known up front and no port race exists.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

LOOPBACK = "127.0.0.1"
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


class ServerError(RuntimeError):
    """The sandbox server could not start (port taken, app crashed during startup)."""


class RunningServer:
    """One app served on loopback. `url` has no trailing slash."""

    def __init__(self, app: Any, *, port: int = 0, host: str = LOOPBACK) -> None:
        # IPPROTO_TCP explicitly: with protocol 0 asyncio never sets TCP_NODELAY on accepted
        # connections, and Nagle plus delayed ACKs cost ~40 ms per request on loopback.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise ServerError(f"cannot bind {host}:{port}: {exc.strerror}") from exc
        self._sock.listen(1024)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, name=f"sandbox-server-{self.port}", daemon=True
        )
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported to the starting thread
            self._error = exc

    def start(self) -> RunningServer:
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive():
                raise ServerError(f"sandbox server on port {self.port} exited during startup")
            self._thread.join(0.01)
            waited += 0.01
            if waited > _START_TIMEOUT:
                self.stop()
                raise ServerError(f"sandbox server on port {self.port} did not start")
        return self

    def stop(self) -> None:
        """Ask uvicorn to finish in-flight requests and exit; close the socket."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(_STOP_TIMEOUT)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT)
        self._sock.close()


def start(app: Any, *, port: int = 0, host: str = LOOPBACK) -> RunningServer:
    """Start serving `app`; the caller must `stop()` it (or use `serve`)."""
    return RunningServer(app, port=port, host=host).start()


@contextmanager
def serve(app: Any, *, port: int = 0, host: str = LOOPBACK) -> Iterator[RunningServer]:
    """Serve `app` for the duration of the block."""
    server = start(app, port=port, host=host)
    try:
        yield server
    finally:
        server.stop()
