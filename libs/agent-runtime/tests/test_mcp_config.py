"""The operator's MCP file: servers, approval, env expansion only where the secret is used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stigma_agent import (
    McpConfigError,
    ModelRegistry,
    build_agent,
    load_mcp_servers,
    mcp_toolsets,
)


def write(tmp_path: Path, servers: object) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def test_stdio_and_http_servers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "files": {"command": "uvx", "args": ["mcp-files"], "requireApproval": True},
            "search": {"url": "http://search/mcp", "timeoutSeconds": 5},
        },
    )
    files, search = load_mcp_servers(path, expand_env=False)

    assert (files.name, files.command, files.args, files.requires_approval) == (
        "files",
        "uvx",
        ("mcp-files",),
        True,
    )
    assert (search.url, search.timeout_seconds, search.toolset_id) == (
        "http://search/mcp",
        5.0,
        "mcp-search",
    )
    assert len(mcp_toolsets([files, search])) == 2


def test_env_references_are_expanded_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEARCH_TOKEN", "s3cret")
    path = write(
        tmp_path,
        {"search": {"url": "http://s/mcp", "headers": {"Authorization": "Bearer ${SEARCH_TOKEN}"}}},
    )
    (kept,) = load_mcp_servers(path, expand_env=False)
    (expanded,) = load_mcp_servers(path, expand_env=True)

    assert kept.headers["Authorization"] == "Bearer ${SEARCH_TOKEN}"
    assert expanded.headers["Authorization"] == "Bearer s3cret"
    assert "s3cret" not in repr(expanded)


@pytest.mark.parametrize(
    ("servers", "problem"),
    [
        ({"Bad_Name": {"command": "x"}}, "server names are lowercase"),
        ({"both": {"command": "x", "url": "http://y"}}, "either 'command'"),
        ({"neither": {}}, "either 'command'"),
        ({"s": {"url": "http://x/${NOT_SET_ANYWHERE}"}}, "NOT_SET_ANYWHERE is not set"),
        ({"s": {"url": "http://x", "timeoutSeconds": "soon"}}, "mcpServers.s"),
    ],
)
def test_bad_files_name_the_server_and_the_problem(
    tmp_path: Path, servers: object, problem: str
) -> None:
    with pytest.raises(McpConfigError, match=problem) as refused:
        load_mcp_servers(write(tmp_path, servers), expand_env=True)
    assert str(tmp_path) in str(refused.value)


def test_a_file_that_is_not_an_mcp_config(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text("[]")
    with pytest.raises(McpConfigError, match="mcpServers"):
        load_mcp_servers(path, expand_env=False)


def test_both_sides_build_the_agent_with_mcp_servers(tmp_path: Path) -> None:
    path = write(tmp_path, {"files": {"command": "x"}, "search": {"url": "http://s/mcp"}})
    for expand in (False, True):
        agent = build_agent(
            models=ModelRegistry(), mcp_servers=load_mcp_servers(path, expand_env=expand)
        )
        assert agent.name == "stigma"
