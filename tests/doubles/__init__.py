"""Honest test doubles of the model providers' HTTP APIs and of MCP servers.

They behave like the real services, including the ways those fail: slow first bytes, long
streams, cut and malformed streams, garbage bodies, rate limits, auth errors, huge answers. See
`tests.doubles.model_server` and `tests.doubles.mcp_servers`; `tests/test_doubles.py` states
what each real client does with each failure.

Re-exported from private modules, so that `python -m tests.doubles.model_server` and
`python -m tests.doubles.mcp_servers` run their module once, not twice. The MCP names load on
first use: importing the mcp SDK takes about a second, which every model-server child process
would otherwise pay at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.doubles._model_process import ModelServerProcess, model_server_process
from tests.doubles._recording import Api, Outcome, RecordedRequest
from tests.doubles._script import (
    CutStream,
    Fault,
    GarbageBody,
    HttpError,
    MalformedStream,
    Reply,
    Script,
    StreamError,
    ToolCall,
    Usage,
    count_tokens,
    filler_text,
)
from tests.doubles._server import ModelServer

if TYPE_CHECKING:
    from tests.doubles._mcp import (
        LOOKUP_TABLE,
        MAX_ECHO_SECONDS,
        McpHttpServer,
        StdioCommand,
        build_mcp_server,
        mcp_http_server,
        mcp_stdio_command,
    )

_MCP_NAMES = frozenset(
    {
        "LOOKUP_TABLE",
        "MAX_ECHO_SECONDS",
        "McpHttpServer",
        "StdioCommand",
        "build_mcp_server",
        "mcp_http_server",
        "mcp_stdio_command",
    }
)


def __getattr__(name: str) -> object:
    if name in _MCP_NAMES:
        from tests.doubles import _mcp

        return getattr(_mcp, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LOOKUP_TABLE",
    "MAX_ECHO_SECONDS",
    "Api",
    "CutStream",
    "Fault",
    "GarbageBody",
    "HttpError",
    "MalformedStream",
    "McpHttpServer",
    "ModelServer",
    "ModelServerProcess",
    "Outcome",
    "RecordedRequest",
    "Reply",
    "Script",
    "StdioCommand",
    "StreamError",
    "ToolCall",
    "Usage",
    "build_mcp_server",
    "count_tokens",
    "filler_text",
    "mcp_http_server",
    "mcp_stdio_command",
    "model_server_process",
]
