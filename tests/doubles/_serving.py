"""Run an ASGI app under uvicorn inside the running event loop, on 127.0.0.1 and an OS port.

uvicorn's `Server.serve()` is used as is, with two changes: it leaves the process's signal
handlers alone (a test process owns them; a double's own process installs its own), and it
reports readiness through an `asyncio.Event` instead of the `started` flag one would poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

__all__ = ["ScriptedAbort", "bind_local", "serving"]

HOST = "127.0.0.1"


class ScriptedAbort(Exception):
    """Raised out of an ASGI app so that uvicorn drops the connection mid-response.

    ASGI has no way to reset a connection; uvicorn closes the transport when the app raises after
    the response started. It also logs the exception with its traceback, which `serving()`
    filters out for this class only, so real errors in a double still show.
    """


class _HideScriptedAborts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ScriptedAbort))


def bind_local(port: int = 0) -> socket.socket:
    """A listening TCP socket on 127.0.0.1; port 0 lets the OS choose a free one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # A restarted double gets its old port back while the old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _EmbeddedServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@contextlib.asynccontextmanager
async def serving(
    app: ASGIApp,
    *,
    port: int = 0,
    lifespan: Literal["on", "off"] = "off",
    graceful_shutdown: timedelta = timedelta(seconds=2),
) -> AsyncIterator[int]:
    """Serve `app` until the block exits; yields the port, once uvicorn accepts connections.

    On exit uvicorn stops accepting, closes idle keep-alive connections, and gives responses in
    flight `graceful_shutdown` to finish before it cancels them.
    """
    sock = bind_local(port)
    bound_port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http="h11",
        ws="none",
        lifespan=lifespan,
        log_config=None,
        date_header=False,
        server_header=False,
        timeout_graceful_shutdown=max(1, round(graceful_shutdown.total_seconds())),
    )
    server = _EmbeddedServer(config)
    error_log = logging.getLogger("uvicorn.error")
    hide_aborts = _HideScriptedAborts()  # one per server: each removes its own
    error_log.addFilter(hide_aborts)
    serve = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn:{bound_port}")
    ready = asyncio.create_task(server.ready.wait())
    try:
        await asyncio.wait({serve, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            serve.result()
            raise RuntimeError(f"uvicorn on {HOST}:{bound_port} stopped during start-up")
        yield bound_port
    finally:
        ready.cancel()
        server.should_exit = True
        try:
            await serve
        finally:
            sock.close()
            error_log.removeFilter(hide_aborts)
