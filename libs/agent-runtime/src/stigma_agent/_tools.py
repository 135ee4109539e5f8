"""The built-in tools (agent_contract.BUILTIN_TOOLS), one toolset with a stable id.

The toolset id and the tool names are part of every activity name and of recorded
histories: never rename them. Each tool refuses what its grant does not allow, and answers
errors as results (``{"error": ...}``), so the model can react instead of the run failing.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic_ai import RunContext
from pydantic_ai.toolsets import FunctionToolset
from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError, FailureError

from agent_contract import ZIGFLOW_TASK_QUEUE
from egress_policy import EgressDenied, ResponseTooLarge, read_limited
from stigma_agent._bounds import as_text, bound_text
from stigma_agent._deps import RunDeps
from stigma_agent._runtime import current_tool_runtime

BUILTIN_TOOLSET_ID = "stigma"

builtin_tools: FunctionToolset[RunDeps] = FunctionToolset(id=BUILTIN_TOOLSET_ID)


@builtin_tools.tool
async def think(ctx: RunContext[RunDeps], thought: str) -> str:
    """Write down a thought before acting: plan the next step or check an answer.

    It changes nothing and fetches nothing; it only gives you room to think.
    """
    return "noted"


@builtin_tools.tool
async def current_time(ctx: RunContext[RunDeps], timezone: str = "UTC") -> dict[str, str]:
    """The current date and time.

    Args:
        timezone: an IANA time zone name such as "Europe/Paris" (default UTC).
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return {"error": f"unknown time zone {timezone[:60]!r}"}
    now = dt.datetime.now(zone)
    return {"iso": now.isoformat(timespec="seconds"), "weekday": now.strftime("%A")}


def _host_allowed(host: str, allow: list[str]) -> bool:
    return not allow or any(fnmatch.fnmatch(host, pattern.lower()) for pattern in allow)


@builtin_tools.tool
async def http_fetch(ctx: RunContext[RunDeps], url: str) -> dict[str, Any]:
    """Fetch a web page or API response with HTTP GET and return its text.

    Args:
        url: an absolute http(s) URL.
    """
    runtime = current_tool_runtime()
    grant = ctx.deps.grant("http_fetch")
    host = (urlsplit(url).hostname or "").lower()
    if grant is None or not _host_allowed(host, grant.allow):
        return {"error": f"http_fetch may not reach {host or url[:80]!r} in this run"}
    limit = ctx.deps.max_tool_result_bytes
    timeout = httpx.Timeout(runtime.fetch_timeout)
    try:
        async with (
            runtime.egress.async_client(timeout=timeout, follow_redirects=True) as http,
            http.stream("GET", url) as response,
        ):
            try:
                body = await read_limited(response, limit)
                cut = ""
            except ResponseTooLarge:
                body = b""
                cut = f" (larger than {limit} bytes: not read)"
            text = body.decode(response.encoding or "utf-8", errors="replace")
            return {
                "status": response.status_code,
                "content_type": response.headers.get("content-type", ""),
                "text": bound_text(text, limit) + cut,
            }
    except EgressDenied as err:
        return {"error": f"refused by the egress policy: {err}"}
    except httpx.HTTPError as err:
        return {"error": f"{type(err).__name__}: {str(err)[:300]}"}


@builtin_tools.tool(metadata={"temporal": False})
async def run_workflow(
    ctx: RunContext[RunDeps], workflow_type: str, input: dict[str, Any] | None = None
) -> Any:
    """Run a Zigflow workflow and wait for its output.

    Args:
        workflow_type: the workflow's name (its document.name), one this run may start.
        input: the workflow's input object.
    """
    grant = ctx.deps.grant("run_workflow")
    allowed = {entry.split("@", 1)[0]: entry for entry in (grant.allow if grant else [])}
    if workflow_type not in allowed:
        return {
            "error": f"workflow {workflow_type[:80]!r} may not be started here "
            f"(allowed: {', '.join(sorted(allowed)) or 'none'})"
        }
    _, _, queue = allowed[workflow_type].partition("@")
    # Runs in the agent's workflow itself (not an activity): a child workflow holds no
    # slot while it runs, and its id is derived from the tool call, so a replay finds it.
    try:
        output = await workflow.execute_child_workflow(
            workflow_type,
            input or {},
            id=f"{workflow.info().workflow_id}/tool/{ctx.tool_call_id}",
            task_queue=queue or ZIGFLOW_TASK_QUEUE,
        )
    except (ChildWorkflowError, FailureError) as err:
        cause = err.cause if isinstance(err, ChildWorkflowError) and err.cause else err
        return {"error": f"workflow {workflow_type} failed: {cause}"}
    text = as_text(output)
    if len(text.encode()) > ctx.deps.max_tool_result_bytes:
        return {"output_truncated": bound_text(text, ctx.deps.max_tool_result_bytes)}
    return output
