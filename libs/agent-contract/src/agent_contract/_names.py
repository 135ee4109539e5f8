"""The one place where task queues, workflow, activity, signal and error names live."""

from __future__ import annotations

ZIGFLOW_TASK_QUEUE = "zigflow"
ORCHESTRATOR_TASK_QUEUE = "stigma-orchestrator"
AI_TASK_QUEUE = "stigma-ai"

AGENT_WORKFLOW = "AgentExecutionWorkflow"
REDELIVER_WORKFLOW = "RedeliverCallback"
ATTACH_CALLBACK_SIGNAL = "attach_callback"
STATUS_QUERY = "status"

CALL_AGENT_ACTIVITY = "CallAgent"
AGENT_STEP_ACTIVITY = "agent_step"
DELIVER_CALLBACK_ACTIVITY = "deliver_callback"
KEEP_CALLER_ALIVE_ACTIVITY = "keep_caller_alive"

# ApplicationError types the caller's workflow sees (DSL try/catch matches on them).
AGENT_FAILED_ERROR = "AgentFailed"
AGENT_CANCELLED_ERROR = "AgentCancelled"
AGENT_REJECTED_ERROR = "AgentRejected"

_WORKFLOW_ID_PREFIX = "agent-"


def execution_id_for(request_id: str) -> str:
    """Execution ids are derived from request ids, so a replay finds the same run."""
    return _WORKFLOW_ID_PREFIX + request_id


def agent_workflow_id(execution_id: str) -> str:
    """The Temporal workflow id of an execution (today the execution id itself)."""
    return execution_id
