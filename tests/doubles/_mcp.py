"""A small, deterministic MCP server for agent tests, and ways to run it as a child process.

Built on the `mcp` SDK's `MCPServer` (what `FastMCP` became in mcp 2). Tools:

- `lookup(key)`: a value from `LOOKUP_TABLE`; an unknown key is a tool error naming the known ones.
- `add(a, b)`: integer sum.
- `slow_echo(text, seconds)`: `text` after `seconds` (at most `MAX_ECHO_SECONDS`), to test
  timeouts and cancellation of a tool call in flight.
- `fail(message)`: always a tool error with `message`, for a model to see and react to.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tests.doubles._process import ROOT, announced_process

__all__ = [
    "LOOKUP_TABLE",
    "MAX_ECHO_SECONDS",
    "McpHttpServer",
    "StdioCommand",
    "build_mcp_server",
    "mcp_http_server",
    "mcp_stdio_command",
]

MODULE = "tests.doubles.mcp_servers"
MAX_ECHO_SECONDS = 60.0
LOOKUP_TABLE = MappingProxyType(
    {
        "capital-of-france": "Paris",
        "answer": "42",
        "colour-of-the-sky": "blue",
        "handshake": "Zigflow waits on Stigma through Temporal",
    }
)


def build_mcp_server() -> MCPServer:
    """A fresh server with the four tools, for the double's own process.

    `MCPServer` calls `logging.basicConfig()` (a no-op where the root logger has handlers, as
    under pytest), so build it in the process that serves it.
    """
    server = MCPServer(
        name="test-doubles",
        instructions="Deterministic tools for tests: lookup, add, slow_echo, fail.",
        log_level="WARNING",
    )

    @server.tool()
    def lookup(key: str) -> str:
        """Look up `key` in a fixed table of facts."""
        try:
            return LOOKUP_TABLE[key]
        except KeyError:
            known = ", ".join(sorted(LOOKUP_TABLE))
            raise ToolError(f"unknown key {key!r}; known keys: {known}") from None

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    async def slow_echo(text: str, seconds: float) -> str:
        """Return `text` after waiting `seconds`."""
        if not 0 <= seconds <= MAX_ECHO_SECONDS:
            raise ToolError(f"seconds: must be between 0 and {MAX_ECHO_SECONDS}, got {seconds}")
        await anyio.sleep(seconds)
        return text

    @server.tool()
    def fail(message: str) -> str:
        """Always fail with `message`."""
        raise ToolError(message)

    return server


@dataclass(frozen=True)
class StdioCommand:
    """How to start the stdio flavour; give these to a stdio client (fastmcp's StdioTransport)."""

    command: str
    args: list[str]
    cwd: Path


def mcp_stdio_command() -> StdioCommand:
    """`python -m tests.doubles.mcp_servers --transport stdio`, from the repository root."""
    return StdioCommand(
        command=sys.executable, args=["-m", MODULE, "--transport", "stdio"], cwd=ROOT
    )


@dataclass(frozen=True)
class McpHttpServer:
    """The streamable-HTTP flavour running as a child process."""

    process: asyncio.subprocess.Process
    url: str
    """`http://127.0.0.1:PORT/mcp`, the streamable-HTTP endpoint."""


@contextlib.asynccontextmanager
async def mcp_http_server(
    *, port: int = 0, startup_timeout: timedelta = timedelta(seconds=20)
) -> AsyncIterator[McpHttpServer]:
    """Run the HTTP flavour as a subprocess on 127.0.0.1 until the block exits.

    Yields once the child's uvicorn has started and accepts connections (it says so on its
    stdout); on exit the child gets SIGTERM, and SIGKILL if it has not stopped 5 s later.
    """
    args = ["-m", MODULE, "--transport", "http", "--port", str(port)]
    async with announced_process(args, startup_timeout=startup_timeout) as (process, url):
        yield McpHttpServer(process=process, url=url)
