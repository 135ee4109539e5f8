"""Stigma's durable agent, shared by the workflow side and the activity side.

The agent loop is Pydantic AI's (docs/adr/0012): it runs inside the orchestrator's
AgentExecutionWorkflow, and every model call and tool call is an activity on the
``stigma-ai`` queue, served by the ai-worker.
"""

from stigma_agent._agent import AGENT_NAME, ActivityOptions, StigmaAgent, build_agent
from stigma_agent._bounds import as_text, bound_text
from stigma_agent._deps import RunDeps
from stigma_agent._mcp import McpConfigError, McpServer, load_mcp_servers, mcp_toolsets
from stigma_agent._models import ModelRegistry
from stigma_agent._policy import (
    bound_conversation,
    build_conversation_schema,
    conversation_size,
    dump_conversation,
    load_conversation,
)
from stigma_agent._progress import StepProgress, current_progress, track_progress, untrack_progress
from stigma_agent._runtime import (
    ToolRuntime,
    current_tool_runtime,
    reset_tool_runtime,
    use_tool_runtime,
)
from stigma_agent._streaming import MODEL_PROTOCOL_ERROR, MODEL_STREAM_TRUNCATED, StreamingModel
from stigma_agent._tools import BUILTIN_TOOLSET_ID
from stigma_agent.providers import Endpoint

__all__ = [
    "AGENT_NAME",
    "BUILTIN_TOOLSET_ID",
    "MODEL_PROTOCOL_ERROR",
    "MODEL_STREAM_TRUNCATED",
    "ActivityOptions",
    "Endpoint",
    "McpConfigError",
    "McpServer",
    "ModelRegistry",
    "RunDeps",
    "StepProgress",
    "StigmaAgent",
    "StreamingModel",
    "ToolRuntime",
    "as_text",
    "bound_conversation",
    "bound_text",
    "build_agent",
    "build_conversation_schema",
    "conversation_size",
    "current_progress",
    "current_tool_runtime",
    "dump_conversation",
    "load_conversation",
    "load_mcp_servers",
    "mcp_toolsets",
    "reset_tool_runtime",
    "track_progress",
    "untrack_progress",
    "use_tool_runtime",
]
