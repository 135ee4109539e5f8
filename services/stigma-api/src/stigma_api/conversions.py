"""Between the workflow's status dataclasses and the wire messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from agent_contract import AgentSpecData, ExecutionStatus, Phase
from stigma.agent.v1 import agent_pb2

_PHASES = {
    Phase.PENDING: agent_pb2.EXECUTION_PHASE_PENDING,
    Phase.RUNNING: agent_pb2.EXECUTION_PHASE_RUNNING,
    Phase.COMPLETED: agent_pb2.EXECUTION_PHASE_COMPLETED,
    Phase.FAILED: agent_pb2.EXECUTION_PHASE_FAILED,
    Phase.CANCELLED: agent_pb2.EXECUTION_PHASE_CANCELLED,
}


def _ts(value: str) -> Timestamp | None:
    if not value:
        return None
    ts = Timestamp()
    ts.FromDatetime(datetime.fromisoformat(value))
    return ts


def spec_to_proto(spec: AgentSpecData) -> agent_pb2.AgentSpec:
    return agent_pb2.AgentSpec(
        name=spec.name,
        instructions=spec.instructions,
        input=spec.input,
        model=spec.model,
        max_steps=spec.max_steps,
        parameters=spec.parameters,
        labels=spec.labels,
    )


def execution_to_proto(status: ExecutionStatus) -> agent_pb2.Execution:
    """The read view of an execution. It has no field that could carry a token."""
    latest = status.callbacks[-1].state if status.callbacks else ""
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
            )
            for step in status.steps
        ],
        output=status.output,
        error=status.error,
        usage=agent_pb2.Usage(
            input_tokens=status.usage.input_tokens,
            output_tokens=status.usage.output_tokens,
            steps=status.usage.steps,
        ),
        created_at=_ts(status.created_at),
        updated_at=_ts(status.updated_at),
        finished_at=_ts(status.finished_at),
        callback_attached=bool(status.callbacks),
        callback_delivered=any(cb.state == "delivered" for cb in status.callbacks),
        callback_state=latest,
    )
