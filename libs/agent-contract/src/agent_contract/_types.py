"""Payloads that cross Temporal (workflow inputs, activity arguments, query results).

They go through Temporal's default JSON converter, so they use str, int, bool,
lists, dicts and nested dataclasses only (times as ISO-8601 strings, bytes as
base64 text).

No ``from __future__ import annotations`` here: Temporal resolves these field types
inside the workflow sandbox, where string annotations of a passed-through module
cannot be looked up, so the annotations must be real objects.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from agent_contract._names import CALLER_PROGRESS_MEMO, KEPT_CALLERS_MEMO, caller_bucket


class Phase(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in (Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED)


@dataclass
class ToolGrant:
    """One tool a spec lets its agent use (``AgentSpec.tools`` on the wire)."""

    name: str
    """A built-in tool (BUILTIN_TOOLS), ``mcp:<server>`` or ``mcp:<server>/<tool>``."""
    requires_approval: bool = False
    """Each call waits for an operator's approve or reject before it runs."""
    allow: list[str] = field(default_factory=list)
    """What the tool may reach: the workflow types ``run_workflow`` may start (``name`` or
    ``name@task-queue``), or the hosts ``http_fetch`` may fetch from (within the operator's
    egress policy, never beyond it)."""


@dataclass
class Budget:
    """Limits of one agent run beyond ``max_steps`` (0 or empty: no limit of that kind)."""

    max_input_tokens: int = 0
    max_output_tokens: int = 0
    max_tool_calls: int = 0
    max_duration_ms: int = 0
    """Wall-clock time from the run's acceptance to its end, approval waits included."""
    max_cost_usd: str = ""
    """Largest cost in US dollars, as a decimal string; needs a price for the model."""


@dataclass
class AgentSpecData:
    input: str
    model: str
    name: str = ""
    instructions: str = ""
    max_steps: int = 0
    parameters: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    tools: list[ToolGrant] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)


# The caller's heartbeat timeout when its token does not say (CallAgent's default).
DEFAULT_CALLER_HEARTBEAT = timedelta(seconds=60)


@dataclass
class CallbackRef:
    """A verified callback target as the orchestrator keeps it.

    The task token is a capability: it lives in Temporal's history (as it already
    does on the caller's side) and nowhere else; logs and status show ``fingerprint``.
    """

    namespace: str
    workflow_id: str
    run_id: str
    activity_id: str
    attempt: int
    task_token_b64: str
    fingerprint: str
    expires_at: str
    traceparent: str = ""
    heartbeat_timeout_ms: int = 0

    def beat_interval(self) -> timedelta:
        return caller_beat_interval(self.heartbeat_timeout_ms)


def caller_beat_interval(heartbeat_timeout_ms: int) -> timedelta:
    """How often a caller is heartbeaten: a third of its heartbeat timeout (0: the default),
    so two beats may be lost before it expires. Also how long a call waits before its
    keeper (and the pending gauge) take it on: one definition for every keeper."""
    timeout_ms = heartbeat_timeout_ms or DEFAULT_CALLER_HEARTBEAT / timedelta(milliseconds=1)
    return timedelta(milliseconds=timeout_ms / 3)


@dataclass(frozen=True)
class KeptCaller:
    """A caller as its run publishes it for the keeper (revision 4): the ids of the signed
    target, to be checked and acted on by id (docs/adr/0013). Never the task token: the
    memo it travels in is readable by anyone who may list workflows."""

    namespace: str
    workflow_id: str
    run_id: str
    activity_id: str
    attempt: int
    fingerprint: str
    expires_at: str
    heartbeat_timeout_ms: int = 0

    @classmethod
    def of(cls, ref: CallbackRef) -> "KeptCaller":
        return cls(
            namespace=ref.namespace,
            workflow_id=ref.workflow_id,
            run_id=ref.run_id,
            activity_id=ref.activity_id,
            attempt=ref.attempt,
            fingerprint=ref.fingerprint,
            expires_at=ref.expires_at,
            heartbeat_timeout_ms=ref.heartbeat_timeout_ms,
        )

    def beat_interval(self) -> timedelta:
        return caller_beat_interval(self.heartbeat_timeout_ms)


@dataclass
class CallerProgress:
    """What a run's callers are shown in their heartbeat details (revision 4: the run
    publishes it in its memo when it changes; the keeper reads it as it lists)."""

    execution_id: str
    phase: str
    steps: int = 0
    tool_calls: int = 0
    waiting_for_approval: int = 0


@dataclass(frozen=True)
class StartPublication:
    """What stigma-api writes of a new run's caller into the start request itself
    (revision 4, docs/adr/0020): the memo its keeper lists, the run's keeper bucket, and
    ``StigmaKeptSince``.

    So the caller's first beat waits for no workflow task of the run: after a crash, a
    run's tasks waited 25-35 s behind a sticky timeout and a backlog, past the caller's
    heartbeat timeout. The run leaves it as it is until the caller outlives its grace.
    """

    memo: dict[str, Any]
    bucket: float
    since: datetime

    @classmethod
    def of(cls, callback: CallbackRef, *, execution_id: str, since: datetime) -> "StartPublication":
        # RUNNING, as the run's first workflow task makes it: no upsert just for that.
        progress = CallerProgress(execution_id=execution_id, phase=Phase.RUNNING.value)
        return cls(
            memo={
                KEPT_CALLERS_MEMO: [asdict(KeptCaller.of(callback))],
                CALLER_PROGRESS_MEMO: asdict(progress),
            },
            bucket=float(caller_bucket(execution_id)),
            since=since,
        )


@dataclass(frozen=True)
class KeeperShard:
    """The input of a keeper workflow: which buckets it serves, and its activity's
    heartbeat timeout (a killed orchestrator's keeping resumes elsewhere after it)."""

    index: int
    count: int
    heartbeat_ms: int = 20_000

    def buckets(self, total: int) -> tuple[int, int]:
        """The half-open bucket range ``[lo, hi)`` of this shard."""
        return self.index * total // self.count, (self.index + 1) * total // self.count


class StepKind(StrEnum):
    MODEL = "model"
    TOOL = "tool"


class ToolOutcome(StrEnum):
    OK = "ok"
    ERROR = "error"
    """The tool failed or refused; the model was told why and went on."""
    REJECTED = "rejected"
    """An operator rejected the call; the model was told so."""


@dataclass
class StepRecord:
    """One durable step of a run: a model call or a tool call (bounded, for people)."""

    index: int
    message: str
    """The model's text, or the tool's result (truncated to the run's step-text limit)."""
    started_at: str
    finished_at: str
    kind: str = StepKind.MODEL.value
    tool: str = ""
    tool_call_id: str = ""
    arguments: str = ""
    """The tool call's arguments as JSON (truncated like ``message``)."""
    outcome: str = ""
    """A tool step's ToolOutcome."""
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    steps: int = 0
    """Model calls (one per turn of the agent loop)."""
    tool_calls: int = 0
    cost_usd: str = ""
    """What the run cost by the run's price table ("" when the model has no price)."""


@dataclass
class PendingApproval:
    """A tool call that waits for an operator's decision (DecideToolCall / stigmactl)."""

    tool_call_id: str
    tool: str
    arguments: str
    requested_at: str


@dataclass
class ToolDecision:
    tool_call_id: str
    approve: bool
    reason: str = ""
    decided_by: str = ""


@dataclass
class StepRequest:
    execution_id: str
    spec: AgentSpecData
    index: int
    previous: list[str] = field(default_factory=list)
    max_output_bytes: int = 0
    """Largest step message the orchestrator accepts (0: no limit): a provider refuses a
    larger one with AgentOutputTooLarge instead of returning a payload Temporal rejects."""


@dataclass
class RunOptions:
    """The orchestrator's tunables for one run, read once at its start and kept in history.

    They come from the orchestrator's settings (STIGMA_ORCHESTRATOR_*), so tests and
    operators can shorten timeouts without touching the workflow code.
    """

    step_heartbeat_ms: int = 10_000
    """Heartbeat timeout of one agent step: a dead ai-worker is noticed this fast."""
    step_start_to_close_ms: int = 600_000
    """Longest one agent step may take."""
    keeper_heartbeat_ms: int = 10_000
    """Heartbeat timeout of keep_caller_alive: a dead orchestrator is noticed this fast."""
    max_output_bytes: int = 512 * 1024
    """Largest output plus step messages a run may produce (UTF-8 bytes)."""
    max_step_text_bytes: int = 2048
    """How much of a step's text, arguments and tool result the status keeps."""
    max_tool_result_bytes: int = 16 * 1024
    """Largest tool result the model sees; the rest is cut with a note saying so."""
    max_conversation_bytes: int = 768 * 1024
    """Largest conversation sent to the model: older tool results are elided past it."""
    continue_as_new_after_events: int = 4000
    """History length after which a run continues as new between two steps."""
    input_usd_per_mtok: str = ""
    output_usd_per_mtok: str = ""
    """The model's price per million tokens ("" when unknown), read once per run."""


@dataclass
class StepResult:
    message: str
    done: bool
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class AgentResult:
    """What the caller's activity completes with: the agent's outcome, not the request."""

    execution_id: str
    output: str
    steps: list[StepRecord]
    usage: Usage
    started_at: str
    finished_at: str
    name: str = ""
    model: str = ""


class CallbackState(StrEnum):
    """Where a callback attached to a run is: ``PENDING`` while the agent runs, then
    ``DELIVERING`` while its outcome is handed over, then one of the ends."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    STALE = "stale"
    """The caller's attempt is gone (timed out, retried, superseded, its workflow closed)."""
    REFUSED = "refused"
    """The signed target is not a pending CallAgent activity: nothing was done to it."""
    ERROR = "error"
    """The delivery kept failing until the callback expired."""

    @property
    def waiting(self) -> bool:
        """The caller still waits for this callback (it counts as a pending call)."""
        return self in (CallbackState.PENDING, CallbackState.DELIVERING)


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    STALE = "stale"
    REFUSED = "refused"
    """The signed target is not a pending CallAgent activity: nothing was done to it."""


class CallerVerdict(StrEnum):
    """How a keep-alive loop on the caller's activity ended."""

    CANCEL_REQUESTED = "cancel_requested"
    STALE = "stale"
    HANDED_OVER = "handed_over"
    """The run continued as new: its successor keeps the caller alive from now on. No
    longer returned (such a loop now waits for its cancellation, as at any end of its
    run); kept so that results recorded in existing histories still decode."""
    REFUSED = "refused"
    """The signed target is not a CallAgent activity: it is never heartbeaten (the
    workflow leaves the callback pending; its delivery at the end refuses it too)."""


@dataclass(frozen=True)
class CallerReport:
    """What a keeper heard from a caller, signalled to the run: the caller asked to cancel,
    or its attempt is gone (or is not a CallAgent: refused)."""

    fingerprint: str
    verdict: CallerVerdict


@dataclass
class CallbackStatus:
    fingerprint: str
    attempt: int
    state: CallbackState
    caller_workflow_id: str = ""
    """The caller's workflow and activity (for operators: ``stigmactl pending``)."""
    caller_activity_id: str = ""
    attached_at: str = ""
    """When this callback was attached to the run (ISO 8601)."""


@dataclass
class DeliveryRequest:
    callback: CallbackRef
    execution_id: str
    phase: Phase
    result: AgentResult | None = None
    error: str = ""
    caller_cancelled: bool = False
    """True when the cancellation came from the caller (report it as a cancellation)."""
    ended_at: str = ""
    """When the agent ended (ISO 8601): the start of the delivery-latency measurement."""
    error_type: str = ""
    """The ApplicationError type a failure is delivered with ("": AgentFailed)."""


@dataclass
class KeepAliveRequest:
    callback: CallbackRef
    execution_id: str


@dataclass
class ExecutionStatus:
    execution_id: str
    request_id: str
    phase: Phase
    spec: AgentSpecData
    created_at: str
    updated_at: str
    steps: list[StepRecord] = field(default_factory=list)
    output: str = ""
    error: str = ""
    usage: Usage = field(default_factory=Usage)
    finished_at: str = ""
    callbacks: list[CallbackStatus] = field(default_factory=list)
    pending_approvals: list[PendingApproval] = field(default_factory=list)
    error_type: str = ""
    """A failure's type as its caller gets it: AgentBudgetExceeded or AgentFailed (whose
    message names the cause: ``AgentOutputTooLarge: ...``, ``ModelProtocolError: ...``)."""
    steps_dropped: int = 0
    """Older step records no longer kept (a long run keeps its latest ones)."""

    def to_result(self) -> AgentResult:
        """The outcome as the caller receives it."""
        return AgentResult(
            execution_id=self.execution_id,
            output=self.output,
            steps=list(self.steps),
            usage=self.usage,
            started_at=self.created_at,
            finished_at=self.finished_at,
            name=self.spec.name,
            model=self.spec.model,
        )


@dataclass
class CarriedCallback:
    """An attached callback as a continued run takes it over."""

    ref: CallbackRef
    state: CallbackState
    attached_at: str = ""
    visible: bool = False


@dataclass
class ResumeState:
    """What a run hands to its continuation (continue-as-new): the conversation so far,
    the accounting, the step records and the callbacks still to deliver."""

    conversation: str
    """The Pydantic AI message history, as JSON."""
    options: RunOptions
    usage: Usage = field(default_factory=Usage)
    steps: list[StepRecord] = field(default_factory=list)
    steps_dropped: int = 0
    callbacks: list[CarriedCallback] = field(default_factory=list)
    continuations: int = 0


@dataclass
class AgentRunInput:
    execution_id: str
    request_id: str
    spec: AgentSpecData
    accepted_at: str
    callback: CallbackRef | None = None
    # Which behaviour of the agent workflow this run gets (AGENT_WORKFLOW_REVISION): a change
    # to its commands applies only to runs started with the new revision, so runs already
    # open keep replaying. Missing (0) in runs started before revisions existed.
    revision: int = 0
    resume: ResumeState | None = None
    """Set when a long run continued as new: where the previous run left off."""
    tenant: str = ""
    """The tenant of the principal that started the run (also its StigmaTenant search
    attribute); empty in runs started before tenants existed."""
