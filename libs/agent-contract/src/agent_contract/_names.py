"""The one place where task queues, workflow, activity, signal and error names live."""

from __future__ import annotations

import zlib

ZIGFLOW_TASK_QUEUE = "zigflow"
ORCHESTRATOR_TASK_QUEUE = "stigma-orchestrator"
AI_TASK_QUEUE = "stigma-ai"
# The caller keepers' own queue (docs/adr/0020), served by every orchestrator beside its
# main one: unversioned (a keeper never ends, so it must not be pinned to a build), and
# with slots of its own, which pending calls and deliveries never take.
KEEPER_TASK_QUEUE = "stigma-caller-keepers"

AGENT_WORKFLOW = "AgentExecutionWorkflow"
REDELIVER_WORKFLOW = "RedeliverCallback"
ATTACH_CALLBACK_SIGNAL = "attach_callback"
STATUS_QUERY = "status"
# An operator's answer to a tool call that waits for approval (a workflow Update).
DECIDE_TOOL_CALL_UPDATE = "decide_tool_call"

CALL_AGENT_ACTIVITY = "CallAgent"
AGENT_STEP_ACTIVITY = "agent_step"
DELIVER_CALLBACK_ACTIVITY = "deliver_callback"
KEEP_CALLER_ALIVE_ACTIVITY = "keep_caller_alive"  # revisions 0-3: one per pending call
# Revision 4 (docs/adr/0020): one keeper workflow per shard, whose one long activity beats
# every pending caller of its shard; it tells a run what the callers answered by signal.
CALLER_KEEPER_WORKFLOW = "CallerKeeper"
KEEP_CALLERS_ACTIVITY = "keep_callers"
CALLER_REPORT_SIGNAL = "caller_report"
RUN_OPTIONS_ACTIVITY = "run_options"

# ApplicationError types the caller's workflow sees (DSL try/catch matches on them).
AGENT_FAILED_ERROR = "AgentFailed"
AGENT_CANCELLED_ERROR = "AgentCancelled"
AGENT_REJECTED_ERROR = "AgentRejected"
# Why an agent failed when its output would not fit in Temporal (the caller sees AgentFailed).
AGENT_OUTPUT_TOO_LARGE_ERROR = "AgentOutputTooLarge"
# An agent that passed one of its spec's budgets (steps, tokens, tool calls, duration, cost):
# the caller's activity fails with this type, so a DSL ``catch`` can tell it from AgentFailed.
AGENT_BUDGET_EXCEEDED_ERROR = "AgentBudgetExceeded"
# StartAgent did not get through: Stigma at its admission limit (RESOURCE_EXHAUSTED), or
# unreachable (UNAVAILABLE, DEADLINE_EXCEEDED, ...). Both are retried with backoff.
STIGMA_BUSY_ERROR = "StigmaBusy"
STIGMA_UNAVAILABLE_ERROR = "StigmaUnavailable"

# The model providers a spec may name (``provider:model``). stigma-api accepts exactly these
# (or an operator's subset) and the ai-worker's model registry serves exactly these.
MODEL_PROVIDERS = ("anthropic", "ollama", "openai", "scripted")
# The tools every agent may be granted by name. MCP tools are named ``mcp:<server>`` (all of
# a server's tools) or ``mcp:<server>/<tool>``; the servers are the operator's configuration.
BUILTIN_TOOLS = ("current_time", "http_fetch", "run_workflow", "think")
MCP_TOOL_PREFIX = "mcp:"
# Pydantic AI names the agent's activities ``agent__<agent name>__...`` (the agent is named
# "stigma"); a model call runs as one of these, and its heartbeats carry the partial output.
MODEL_REQUEST_ACTIVITIES = ("agent__stigma__model_request", "agent__stigma__model_request_stream")

# Search attributes an agent run keeps while a caller waits on it: Temporal's durable
# visibility then answers "how many agent calls are pending, since when" (the pending
# gauge and the operator CLI), whatever process restarts. Registered on the server.
# The agent workflow's behaviour revision stigma-api starts new runs with:
#   1: the pending-call search attributes wait for the caller's first beat (docs/adr/0011).
#   2: the agent loop runs on Pydantic AI: model and tool calls as activities (docs/adr/0012).
#   3: after delivering, the run waits for its keep-alive activities to settle before it
#      closes: a keep-alive event arriving in the run's last workflow task made Temporal
#      reject that task, and the delivery (a local activity) ran a second time.
#   4: no keep-alive activity per call: the run publishes its waiting callers (memo) and
#      its keeper shard (search attribute), and the shard's keeper beats them in batches
#      and signals back what they answer (docs/adr/0020).
AGENT_WORKFLOW_REVISION = 4
PENDING_CALLBACKS_ATTRIBUTE = "StigmaPendingCallbacks"  # Int: callbacks not yet delivered
PENDING_SINCE_ATTRIBUTE = "StigmaPendingSince"  # Datetime: when the oldest of them attached
# Int: tool calls of the run that wait for an operator's approval (stigmactl approvals).
PENDING_APPROVALS_ATTRIBUTE = "StigmaPendingApprovals"
# Keyword: the tenant of the principal that started the run, set by stigma-api when it
# starts it (never changed): reads are allowed to that tenant only, and per-tenant quotas
# count running agents by it (docs/adr/0014).
TENANT_ATTRIBUTE = "StigmaTenant"
# Double holding an integer in [0, CALLER_BUCKETS): which keeper shard beats the run's
# callers (revision 4). A keeper of shard k of n serves the buckets [k*B/n, (k+1)*B/n),
# so the shard count can change without re-publishing any run.
CALLER_BUCKET_ATTRIBUTE = "StigmaCallerBucket"
CALLER_BUCKETS = 1024
# Datetime: when the run last published a caller its keeper did not have yet, so a keeper
# finds new callers with a small listing every sweep and lists its whole shard rarely.
KEPT_SINCE_ATTRIBUTE = "StigmaKeptSince"
# Memo keys of a revision-4 run: the callers its keeper beats (KeptCaller, never a token)
# and the progress they are shown (CallerProgress).
KEPT_CALLERS_MEMO = "stigma.kept_callers"
CALLER_PROGRESS_MEMO = "stigma.progress"
# The visibility queries every reader of these attributes uses (one definition each).
RUNNING_AGENTS_QUERY = f"WorkflowType = '{AGENT_WORKFLOW}' AND ExecutionStatus = 'Running'"
PENDING_CALLBACKS_QUERY = f"{RUNNING_AGENTS_QUERY} AND {PENDING_CALLBACKS_ATTRIBUTE} > 0"
PENDING_APPROVALS_QUERY = f"{RUNNING_AGENTS_QUERY} AND {PENDING_APPROVALS_ATTRIBUTE} > 0"
# The caller's side of the same truth (docs/adr/0018): a Zigflow run keeps how many of its
# CallAgent activities have waited past a short grace, and since when the oldest was first
# scheduled. Stigma's attributes miss the calls it does not hold (a StartAgent that never
# got through, a caller between attempts, a delivery that failed); these do not.
AGENT_CALLS_PENDING_ATTRIBUTE = "ZigflowAgentCallsPending"  # Int
AGENT_CALLS_PENDING_SINCE_ATTRIBUTE = "ZigflowAgentCallsPendingSince"  # Datetime
PENDING_AGENT_CALLS_QUERY = f"ExecutionStatus = 'Running' AND {AGENT_CALLS_PENDING_ATTRIBUTE} > 0"

# Agent runs whose callers a keeper beats (running), and those that closed without
# delivering to them (terminated, timed out, failed: no code of theirs runs any more).
_IN_BUCKETS = f"{CALLER_BUCKET_ATTRIBUTE} >= {{lo}} AND {CALLER_BUCKET_ATTRIBUTE} < {{hi}}"
# Not PENDING_CALLBACKS_QUERY: stigma-api lists a new run's caller at start (memo and
# bucket), before it counts as pending; the memo says which callers wait.
KEPT_CALLERS_QUERY = f"{RUNNING_AGENTS_QUERY} AND {_IN_BUCKETS}"
NEW_KEPT_CALLERS_QUERY = f"{KEPT_CALLERS_QUERY} AND {KEPT_SINCE_ATTRIBUTE} >= '{{since}}'"
ORPHANED_CALLERS_QUERY = (
    f"WorkflowType = '{AGENT_WORKFLOW}'"
    " AND ExecutionStatus IN ('Terminated', 'TimedOut', 'Failed')"
    f" AND {_IN_BUCKETS}"
    " AND CloseTime > '{since}'"
)

_WORKFLOW_ID_PREFIX = "agent-"


def caller_request_id(*, workflow_id: str, run_id: str, activity_id: str) -> str:
    """The request id of a CallAgent call (docs/adr/0002): the same for every attempt of
    one call, distinct across calls and runs. stigma-api holds a callback token to it: a
    token is only ever sent with the request id of the activity it names."""
    return f"{workflow_id}/{run_id}/{activity_id}"


def execution_id_for(request_id: str) -> str:
    """Execution ids are derived from request ids, so a replay finds the same run."""
    return _WORKFLOW_ID_PREFIX + request_id


def caller_bucket(execution_id: str) -> int:
    """The keeper bucket of a run: stable across processes and Python versions (crc32,
    not ``hash``, which is salted per process)."""
    return zlib.crc32(execution_id.encode()) % CALLER_BUCKETS


def keeper_workflow_id(shard: int, shards: int) -> str:
    """One keeper workflow per shard; a new shard count starts new keepers (docs/adr/0020)."""
    return f"stigma-caller-keeper-{shard}-of-{shards}"


def agent_workflow_id(execution_id: str) -> str:
    """The Temporal workflow id of an execution (today the execution id itself)."""
    return execution_id
