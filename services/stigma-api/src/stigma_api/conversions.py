"""Between the workflow's status dataclasses and the wire messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from agent_contract import CallbackState, ExecutionStatus, Phase, StepKind
from stigma.agent.v1 import agent_pb2
from stigma_wire import spec_to_proto

_PHASES = {
    Phase.PENDING: agent_pb2.EXECUTION_PHASE_PENDING,
    Phase.RUNNING: agent_pb2.EXECUTION_PHASE_RUNNING,
    Phase.COMPLETED: agent_pb2.EXECUTION_PHASE_COMPLETED,
    Phase.FAILED: agent_pb2.EXECUTION_PHASE_FAILED,
    Phase.CANCELLED: agent_pb2.EXECUTION_PHASE_CANCELLED,
}
_KINDS = {
    StepKind.MODEL.value: agent_pb2.STEP_KIND_MODEL,
    StepKind.TOOL.value: agent_pb2.STEP_KIND_TOOL,
}


def _ts(value: str) -> Timestamp | None:
    if not value:
        return None
    ts = Timestamp()
    ts.FromDatetime(datetime.fromisoformat(value))
    return ts


def execution_to_proto(status: ExecutionStatus, *, partial_output: str = "") -> agent_pb2.Execution:
    """The read view of an execution. It has no field that could carry a token."""
    latest = status.callbacks[-1].state if status.callbacks else ""
    usage = status.usage
    return agent_pb2.Execution(
        execution_id=status.execution_id,
        request_id=status.request_id,
        phase=_PHASES[status.phase],
        spec=spec_to_proto(status.spec),
        steps=[
            agent_pb2.AgentStep(
                index=step.index,
                message=step.message,
                started_at=_ts(step.started_at),
                finished_at=_ts(step.finished_at),
                kind=_KINDS.get(step.kind, agent_pb2.STEP_KIND_UNSPECIFIED),
                tool=step.tool,
                tool_call_id=step.tool_call_id,
                arguments=step.arguments,
                outcome=step.outcome,
                input_tokens=step.input_tokens,
                output_tokens=step.output_tokens,
            )
            for step in status.steps
        ],
        output=status.output,
        error=status.error,
        usage=agent_pb2.Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            steps=usage.steps,
            tool_calls=usage.tool_calls,
            cost_usd=usage.cost_usd,
        ),
        created_at=_ts(status.created_at),
        updated_at=_ts(status.updated_at),
        finished_at=_ts(status.finished_at),
        callback_attached=bool(status.callbacks),
        callback_delivered=any(cb.state == CallbackState.DELIVERED for cb in status.callbacks),
        callback_state=latest,
        partial_output=partial_output if not status.phase.terminal else "",
        pending_approvals=[
            agent_pb2.PendingApproval(
                tool_call_id=pending.tool_call_id,
                tool=pending.tool,
                arguments=pending.arguments,
                requested_at=_ts(pending.requested_at),
            )
            for pending in status.pending_approvals
        ],
        error_type=status.error_type,
        steps_dropped=status.steps_dropped,
    )
