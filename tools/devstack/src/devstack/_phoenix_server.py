"""``phoenix serve`` with its OTLP/gRPC port on loopback too.

Phoenix binds its HTTP port (UI, GraphQL, REST, OTLP/HTTP) on ``PHOENIX_HOST``, but its
OTLP/gRPC port on every interface, whatever ``PHOENIX_HOST`` says: it calls
``add_insecure_port("[::]:<port>")`` (phoenix/server/grpc_server.py, 19.x). On a
developer's machine that would let anyone on the network write spans into the local
stack's trace store. Run as ``python -m devstack._phoenix_server serve``, this module
rewrites that one wildcard bind to 127.0.0.1 and then runs Phoenix's own entry point; any
other address fails the start, so a Phoenix upgrade that binds differently is noticed
(tests/test_trace_viewer.py also checks every listening socket of the process).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import grpc.aio

LOOPBACK = "127.0.0.1"
_WILDCARDS = ("[::]", "0.0.0.0", "")


def on_loopback(address: str) -> str:
    """``[::]:4317`` -> ``127.0.0.1:4317``; a loopback address is kept as it is.

    Raises:
        ValueError: for any other host, which this process must never bind.
    """
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"unexpected gRPC bind address {address!r}")
    if host in _WILDCARDS:
        return f"{LOOPBACK}:{port}"
    if host in (LOOPBACK, "localhost", "[::1]"):
        return address
    raise ValueError(f"refusing to bind Phoenix's gRPC port on {address!r}: loopback only")


def _loopback_server(create: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``grpc.aio.server`` so that the servers it makes bind on loopback only."""

    def server(*args: Any, **kwargs: Any) -> Any:
        created = create(*args, **kwargs)
        add_insecure, add_secure = created.add_insecure_port, created.add_secure_port

        def add_insecure_port(address: str) -> int:
            return int(add_insecure(on_loopback(address)))

        def add_secure_port(address: str, credentials: Any) -> int:
            return int(add_secure(on_loopback(address), credentials))

        created.add_insecure_port = add_insecure_port
        created.add_secure_port = add_secure_port
        return created

    return server


def main() -> None:
    grpc.aio.server = _loopback_server(grpc.aio.server)
    # Imported only now, and by name: Phoenix's import graph is large (mypy need not walk it).
    importlib.import_module("phoenix.server.main").main()


if __name__ == "__main__":
    main()
