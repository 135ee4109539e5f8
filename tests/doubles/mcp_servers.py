"""A small MCP server with deterministic tools, over stdio or streamable HTTP.

    python -m tests.doubles.mcp_servers --transport stdio
    python -m tests.doubles.mcp_servers --transport http --port N

Over HTTP it binds 127.0.0.1 (port 0: one the OS picks), serves `/mcp`, prints
`READY http://127.0.0.1:PORT/mcp` on stdout once it accepts connections, and stops on SIGTERM
or SIGINT. `mcp_http_server()` runs it so from a test; `mcp_stdio_command()` says how a stdio
client starts the other flavour. The tools are described in `tests.doubles._mcp`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

from tests.doubles._mcp import (
    LOOKUP_TABLE,
    MAX_ECHO_SECONDS,
    McpHttpServer,
    StdioCommand,
    build_mcp_server,
    mcp_http_server,
    mcp_stdio_command,
)
from tests.doubles._process import announce
from tests.doubles._serving import HOST, serving

__all__ = [
    "LOOKUP_TABLE",
    "MAX_ECHO_SECONDS",
    "McpHttpServer",
    "StdioCommand",
    "build_mcp_server",
    "mcp_http_server",
    "mcp_stdio_command",
]


async def _serve_http(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # The app's lifespan runs the session manager; DNS-rebinding protection admits 127.0.0.1.
    app = build_mcp_server().streamable_http_app(host=HOST)
    async with serving(app, port=port, lifespan="on") as bound:
        announce(f"http://{HOST}:{bound}/mcp")
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.doubles.mcp_servers", description=__doc__
    )
    parser.add_argument("--transport", choices=("stdio", "http"), required=True)
    parser.add_argument(
        "--port", type=int, default=0, help="HTTP port on 127.0.0.1; 0 for a free one"
    )
    args = parser.parse_args(argv)
    if args.transport == "stdio":
        build_mcp_server().run("stdio")
    else:
        asyncio.run(_serve_http(args.port))


if __name__ == "__main__":
    main()
