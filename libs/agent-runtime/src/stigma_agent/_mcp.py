"""MCP servers the operator configures, as toolsets an agent may be granted.

The configuration is the ``mcpServers`` JSON that Claude Desktop, Cursor and Pydantic AI
read (``command``/``args``/``env``/``cwd`` for stdio, ``url``/``headers`` for streamable
HTTP), plus two keys of ours per server: ``requireApproval`` (every call of its tools waits
for an operator, whatever a spec says) and ``timeoutSeconds``.

Both workers read the same file: the orchestrator for the toolset ids (they name the
activities its workflow schedules), the ai-worker to really connect. Only the ai-worker
expands ``${VAR}`` references, so secrets stay in the process that uses them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fastmcp.client.transports import StdioTransport
from pydantic_ai import RunContext, ToolsetTool
from pydantic_ai.mcp import CallToolFunc, MCPToolset, ToolResult
from pydantic_ai.toolsets import AbstractToolset, PrefixedToolset, WrapperToolset

from agent_contract import MCP_TOOL_PREFIX, ToolGrant
from stigma_agent._bounds import as_text, bound_text
from stigma_agent._deps import RunDeps

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class McpConfigError(ValueError):
    """The MCP configuration file is unusable; the message names the file and the server."""


@dataclass(frozen=True)
class McpServer:
    name: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: str = ""
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    requires_approval: bool = False
    timeout_seconds: float = 60.0

    @property
    def toolset_id(self) -> str:
        """Names this server's activities: part of the durable contract, never change it."""
        return f"mcp-{self.name}"


def _expand(value: Any, where: str) -> Any:
    if isinstance(value, str):

        def replace_ref(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise McpConfigError(f"{where}: environment variable {name} is not set")

        return _ENV_REF.sub(replace_ref, value)
    if isinstance(value, list):
        return [_expand(v, where) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, where) for k, v in value.items()}
    return value


def load_mcp_servers(path: Path, *, expand_env: bool) -> list[McpServer]:
    """The servers of an ``mcpServers`` file; every problem names the file and server."""
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise McpConfigError(f"{path}: cannot read MCP configuration: {err}") from None
    entries = document.get("mcpServers") if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise McpConfigError(f"{path}: expected an object with an 'mcpServers' object")
    servers = []
    for name, entry in entries.items():
        where = f"{path}: mcpServers.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise McpConfigError(
                f"{where}: server names are lowercase letters, digits and '-' (up to 31), "
                "starting with a letter (they name tools and activities)"
            )
        if not isinstance(entry, dict) or ("command" in entry) == ("url" in entry):
            raise McpConfigError(f"{where}: give either 'command' (stdio) or 'url' (HTTP)")
        if expand_env:
            entry = _expand(entry, where)
        try:
            servers.append(
                McpServer(
                    name=name,
                    command=str(entry.get("command", "")),
                    args=tuple(str(a) for a in entry.get("args") or ()),
                    env={str(k): str(v) for k, v in (entry.get("env") or {}).items()},
                    cwd=str(entry.get("cwd") or ""),
                    url=str(entry.get("url", "")),
                    headers={str(k): str(v) for k, v in (entry.get("headers") or {}).items()},
                    requires_approval=bool(entry.get("requireApproval", False)),
                    timeout_seconds=float(entry.get("timeoutSeconds", 60.0)),
                )
            )
        except (TypeError, ValueError, AttributeError) as err:
            raise McpConfigError(f"{where}: {err}") from None
    return servers


def _grant_for(grants: Sequence[ToolGrant], server: str, tool: str) -> ToolGrant | None:
    """The grant that lets a run use ``tool`` of ``server`` (the tool's own grant first)."""
    whole = f"{MCP_TOOL_PREFIX}{server}"
    single = f"{whole}/{tool}"
    return next((g for g in grants if g.name == single), None) or next(
        (g for g in grants if g.name == whole), None
    )


@dataclass
class McpGate(WrapperToolset[RunDeps]):
    """Shows a run only the server's tools its spec granted, marks those that need
    approval, and asks the server for its tools only when the run may use any of them
    (no activity at all for the runs that may not).

    A dataclass like every Pydantic AI wrapper: the durable integration rebuilds the chain
    of wrappers around the toolset it makes durable."""

    server: McpServer

    async def get_tools(self, ctx: RunContext[RunDeps]) -> dict[str, ToolsetTool[RunDeps]]:
        prefix = f"{MCP_TOOL_PREFIX}{self.server.name}"
        if not any(g.name == prefix or g.name.startswith(prefix + "/") for g in ctx.deps.tools):
            return {}
        tools = await super().get_tools(ctx)
        granted: dict[str, ToolsetTool[RunDeps]] = {}
        for name, tool in tools.items():
            original = name.removeprefix(f"{self.server.name}_")
            grant = _grant_for(ctx.deps.tools, self.server.name, original)
            if grant is None:
                continue
            if grant.requires_approval or self.server.requires_approval:
                tool = replace(tool, tool_def=replace(tool.tool_def, kind="unapproved"))
            granted[name] = tool
        return granted


async def _bounded(
    ctx: RunContext[RunDeps], call_tool: CallToolFunc, name: str, args: dict[str, Any]
) -> ToolResult:
    """Runs in the tool's activity: a huge result is cut before it reaches Temporal."""
    result = await call_tool(name, args)
    limit = ctx.deps.max_tool_result_bytes
    text = as_text(result)
    if len(text.encode()) > limit:
        return bound_text(text, limit)
    return result


def mcp_toolsets(servers: Sequence[McpServer]) -> list[AbstractToolset[RunDeps]]:
    """One gated, prefixed toolset per server (tools are named ``<server>_<tool>``)."""
    toolsets: list[AbstractToolset[RunDeps]] = []
    for server in servers:
        client: Any
        options: dict[str, Any] = {}
        if server.command:
            client = StdioTransport(
                command=server.command,
                args=list(server.args),
                env=dict(server.env) or None,
                cwd=server.cwd or None,
            )
        else:
            client = server.url
            options["headers"] = dict(server.headers) or None
        toolset: MCPToolset[RunDeps] = MCPToolset(
            client,
            id=server.toolset_id,
            tool_error_behavior="failed",
            process_tool_call=_bounded,
            init_timeout=min(server.timeout_seconds, 30.0),
            read_timeout=server.timeout_seconds,
            **options,
        )
        toolsets.append(McpGate(PrefixedToolset(toolset, prefix=server.name), server))
    return toolsets
