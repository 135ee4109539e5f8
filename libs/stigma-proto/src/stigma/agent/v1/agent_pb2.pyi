import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecutionPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_PHASE_UNSPECIFIED: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_PENDING: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_RUNNING: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_COMPLETED: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_FAILED: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_CANCELLED: _ClassVar[ExecutionPhase]

class StepKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_KIND_UNSPECIFIED: _ClassVar[StepKind]
    STEP_KIND_MODEL: _ClassVar[StepKind]
    STEP_KIND_TOOL: _ClassVar[StepKind]
EXECUTION_PHASE_UNSPECIFIED: ExecutionPhase
EXECUTION_PHASE_PENDING: ExecutionPhase
EXECUTION_PHASE_RUNNING: ExecutionPhase
EXECUTION_PHASE_COMPLETED: ExecutionPhase
EXECUTION_PHASE_FAILED: ExecutionPhase
EXECUTION_PHASE_CANCELLED: ExecutionPhase
STEP_KIND_UNSPECIFIED: StepKind
STEP_KIND_MODEL: StepKind
STEP_KIND_TOOL: StepKind

class AgentSpec(_message.Message):
    __slots__ = ("name", "instructions", "input", "model", "max_steps", "parameters", "labels", "tools", "budget")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    name: str
    instructions: str
    input: str
    model: str
    max_steps: int
    parameters: _containers.ScalarMap[str, str]
    labels: _containers.ScalarMap[str, str]
    tools: _containers.RepeatedCompositeFieldContainer[ToolSpec]
    budget: AgentBudget
    def __init__(self, name: _Optional[str] = ..., instructions: _Optional[str] = ..., input: _Optional[str] = ..., model: _Optional[str] = ..., max_steps: _Optional[int] = ..., parameters: _Optional[_Mapping[str, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., tools: _Optional[_Iterable[_Union[ToolSpec, _Mapping]]] = ..., budget: _Optional[_Union[AgentBudget, _Mapping]] = ...) -> None: ...

class ToolSpec(_message.Message):
    __slots__ = ("name", "requires_approval", "allow")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    name: str
    requires_approval: bool
    allow: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., requires_approval: _Optional[bool] = ..., allow: _Optional[_Iterable[str]] = ...) -> None: ...

class AgentBudget(_message.Message):
    __slots__ = ("max_input_tokens", "max_output_tokens", "max_tool_calls", "max_duration", "max_cost_usd")
    MAX_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    max_input_tokens: int
    max_output_tokens: int
    max_tool_calls: int
    max_duration: _duration_pb2.Duration
    max_cost_usd: str
    def __init__(self, max_input_tokens: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., max_tool_calls: _Optional[int] = ..., max_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_cost_usd: _Optional[str] = ...) -> None: ...

class StartAgentRequest(_message.Message):
    __slots__ = ("request_id", "spec", "callback_token")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_TOKEN_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    spec: AgentSpec
    callback_token: bytes
    def __init__(self, request_id: _Optional[str] = ..., spec: _Optional[_Union[AgentSpec, _Mapping]] = ..., callback_token: _Optional[bytes] = ...) -> None: ...

class StartAgentResponse(_message.Message):
    __slots__ = ("execution_id", "accepted", "already_running")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RUNNING_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    accepted: bool
    already_running: bool
    def __init__(self, execution_id: _Optional[str] = ..., accepted: _Optional[bool] = ..., already_running: _Optional[bool] = ...) -> None: ...

class AgentStep(_message.Message):
    __slots__ = ("index", "message", "started_at", "finished_at", "kind", "tool", "tool_call_id", "arguments", "outcome", "input_tokens", "output_tokens")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    index: int
    message: str
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    kind: StepKind
    tool: str
    tool_call_id: str
    arguments: str
    outcome: str
    input_tokens: int
    output_tokens: int
    def __init__(self, index: _Optional[int] = ..., message: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[_Union[StepKind, str]] = ..., tool: _Optional[str] = ..., tool_call_id: _Optional[str] = ..., arguments: _Optional[str] = ..., outcome: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "steps", "tool_calls", "cost_usd")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    steps: int
    tool_calls: int
    cost_usd: str
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., steps: _Optional[int] = ..., tool_calls: _Optional[int] = ..., cost_usd: _Optional[str] = ...) -> None: ...

class PendingApproval(_message.Message):
    __slots__ = ("tool_call_id", "tool", "arguments", "requested_at")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    tool: str
    arguments: str
    requested_at: _timestamp_pb2.Timestamp
    def __init__(self, tool_call_id: _Optional[str] = ..., tool: _Optional[str] = ..., arguments: _Optional[str] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Execution(_message.Message):
    __slots__ = ("execution_id", "request_id", "phase", "spec", "steps", "output", "error", "usage", "created_at", "updated_at", "finished_at", "callback_attached", "callback_delivered", "callback_state", "partial_output", "pending_approvals", "error_type", "steps_dropped")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_ATTACHED_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_STATE_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    PENDING_APPROVALS_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    STEPS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    request_id: str
    phase: ExecutionPhase
    spec: AgentSpec
    steps: _containers.RepeatedCompositeFieldContainer[AgentStep]
    output: str
    error: str
    usage: Usage
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    callback_attached: bool
    callback_delivered: bool
    callback_state: str
    partial_output: str
    pending_approvals: _containers.RepeatedCompositeFieldContainer[PendingApproval]
    error_type: str
    steps_dropped: int
    def __init__(self, execution_id: _Optional[str] = ..., request_id: _Optional[str] = ..., phase: _Optional[_Union[ExecutionPhase, str]] = ..., spec: _Optional[_Union[AgentSpec, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[AgentStep, _Mapping]]] = ..., output: _Optional[str] = ..., error: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., callback_attached: _Optional[bool] = ..., callback_delivered: _Optional[bool] = ..., callback_state: _Optional[str] = ..., partial_output: _Optional[str] = ..., pending_approvals: _Optional[_Iterable[_Union[PendingApproval, _Mapping]]] = ..., error_type: _Optional[str] = ..., steps_dropped: _Optional[int] = ...) -> None: ...

class GetExecutionRequest(_message.Message):
    __slots__ = ("execution_id",)
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    def __init__(self, execution_id: _Optional[str] = ...) -> None: ...

class GetExecutionResponse(_message.Message):
    __slots__ = ("execution",)
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    execution: Execution
    def __init__(self, execution: _Optional[_Union[Execution, _Mapping]] = ...) -> None: ...

class WatchExecutionRequest(_message.Message):
    __slots__ = ("execution_id",)
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    def __init__(self, execution_id: _Optional[str] = ...) -> None: ...

class WatchExecutionResponse(_message.Message):
    __slots__ = ("execution",)
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    execution: Execution
    def __init__(self, execution: _Optional[_Union[Execution, _Mapping]] = ...) -> None: ...

class CancelExecutionRequest(_message.Message):
    __slots__ = ("execution_id", "reason")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    reason: str
    def __init__(self, execution_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelExecutionResponse(_message.Message):
    __slots__ = ("execution",)
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    execution: Execution
    def __init__(self, execution: _Optional[_Union[Execution, _Mapping]] = ...) -> None: ...

class DecideToolCallRequest(_message.Message):
    __slots__ = ("execution_id", "tool_call_id", "approve", "reason")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    tool_call_id: str
    approve: bool
    reason: str
    def __init__(self, execution_id: _Optional[str] = ..., tool_call_id: _Optional[str] = ..., approve: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class DecideToolCallResponse(_message.Message):
    __slots__ = ("execution",)
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    execution: Execution
    def __init__(self, execution: _Optional[_Union[Execution, _Mapping]] = ...) -> None: ...
