"""StartAgent input checks: each refusal names its field first, good input becomes a spec."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf.duration_pb2 import Duration

from agent_contract import AgentSpecData
from stigma.agent.v1.agent_pb2 import AgentBudget, AgentSpec, StartAgentRequest, ToolSpec
from stigma_api.validation import (
    MAX_KEY_BYTES,
    MAX_NAME_BYTES,
    MAX_REQUEST_ID_BYTES,
    InvalidRequest,
    Limits,
    validate_execution_id,
    validate_spec,
    validate_start,
)

LIMITS = Limits(
    providers=frozenset({"scripted", "openai"}),
    max_input_bytes=64,
    max_parameters=3,
    max_parameter_bytes=16,
    max_steps=10,
)


def good_request() -> StartAgentRequest:
    return StartAgentRequest(
        request_id="caller-wf/run-1/7",
        spec=AgentSpec(
            name="explainer",
            instructions="One sentence.",
            input="Why durable workflows?",
            model="scripted:echo",
            max_steps=3,
            parameters={"steps": "3", "output": "{result}"},
            labels={"team": "agents"},
        ),
        callback_token=b"not checked here",
    )


def test_good_request_becomes_agent_spec_data() -> None:
    spec = validate_start(good_request(), LIMITS)
    assert spec == AgentSpecData(
        input="Why durable workflows?",
        model="scripted:echo",
        name="explainer",
        instructions="One sentence.",
        max_steps=3,
        parameters={"steps": "3", "output": "{result}"},
        labels={"team": "agents"},
    )
    # Plain dicts, not protobuf maps: the spec must go through Temporal's JSON converter.
    assert type(spec.parameters) is dict
    assert type(spec.labels) is dict


def test_minimal_spec_is_enough() -> None:
    spec = validate_spec(AgentSpec(input="hi", model="openai:gpt-4o-mini"), LIMITS)
    assert spec == AgentSpecData(input="hi", model="openai:gpt-4o-mini")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda r: setattr(r.spec, "input", "x" * LIMITS.max_input_bytes), id="input"),
        pytest.param(
            lambda r: setattr(r.spec, "instructions", "x" * LIMITS.max_input_bytes),
            id="instructions",
        ),
        pytest.param(lambda r: setattr(r.spec, "name", "n" * MAX_NAME_BYTES), id="name"),
        pytest.param(lambda r: setattr(r.spec, "max_steps", 0), id="max_steps-0"),
        pytest.param(lambda r: setattr(r.spec, "max_steps", LIMITS.max_steps), id="max_steps-max"),
        pytest.param(lambda r: setattr(r, "request_id", "r" * MAX_REQUEST_ID_BYTES), id="rid"),
        pytest.param(lambda r: r.spec.parameters.update({"k": "v" * 16}), id="param-value"),
        pytest.param(lambda r: r.spec.labels.update({"k" * MAX_KEY_BYTES: "v"}), id="label-key"),
        pytest.param(lambda r: setattr(r.spec, "input", "line one\nline two"), id="input-lines"),
        pytest.param(lambda r: setattr(r.spec, "model", "openai:ft:gpt-4o:org"), id="model-colons"),
    ],
)
def test_values_at_the_limits_are_accepted(change: Callable[[StartAgentRequest], None]) -> None:
    request = good_request()
    change(request)
    assert isinstance(validate_start(request, LIMITS), AgentSpecData)


BAD_REQUESTS: list[tuple[str, str, Callable[[StartAgentRequest], object]]] = [
    ("request_id", "missing", lambda r: r.ClearField("request_id")),
    ("request_id", "blank", lambda r: setattr(r, "request_id", "   ")),
    ("request_id", "newline", lambda r: setattr(r, "request_id", "a\nb")),
    ("request_id", "carriage-return", lambda r: setattr(r, "request_id", "a\rb")),
    ("request_id", "nul", lambda r: setattr(r, "request_id", "a\x00b")),
    ("request_id", "too-long", lambda r: setattr(r, "request_id", "r" * 513)),
    ("request_id", "too-many-bytes", lambda r: setattr(r, "request_id", "é" * 257)),
    ("spec", "missing", lambda r: r.ClearField("spec")),
    ("spec.input", "missing", lambda r: r.spec.ClearField("input")),
    ("spec.input", "blank", lambda r: setattr(r.spec, "input", " \n\t ")),
    ("spec.input", "too-long", lambda r: setattr(r.spec, "input", "x" * 65)),
    ("spec.input", "too-many-bytes", lambda r: setattr(r.spec, "input", "é" * 33)),
    ("spec.instructions", "too-long", lambda r: setattr(r.spec, "instructions", "x" * 65)),
    ("spec.name", "too-long", lambda r: setattr(r.spec, "name", "n" * 257)),
    ("spec.name", "newline", lambda r: setattr(r.spec, "name", "two\nlines")),
    ("spec.model", "missing", lambda r: r.spec.ClearField("model")),
    ("spec.model", "no-provider", lambda r: setattr(r.spec, "model", "gpt-4o")),
    ("spec.model", "empty-provider", lambda r: setattr(r.spec, "model", ":echo")),
    ("spec.model", "empty-model", lambda r: setattr(r.spec, "model", "scripted:")),
    ("spec.model", "blank-model", lambda r: setattr(r.spec, "model", "scripted:  ")),
    ("spec.model", "unknown-provider", lambda r: setattr(r.spec, "model", "anthropic:claude")),
    ("spec.model", "provider-case", lambda r: setattr(r.spec, "model", "Scripted:echo")),
    ("spec.model", "newline", lambda r: setattr(r.spec, "model", "scripted:echo\n")),
    ("spec.model", "too-long", lambda r: setattr(r.spec, "model", "scripted:" + "m" * 250)),
    ("spec.max_steps", "negative", lambda r: setattr(r.spec, "max_steps", -1)),
    ("spec.max_steps", "too-many", lambda r: setattr(r.spec, "max_steps", 11)),
    (
        "spec.parameters",
        "too-many",
        lambda r: r.spec.parameters.update({"a": "1", "b": "2", "c": "3", "d": "4"}),
    ),
    ("spec.parameters key", "empty-key", lambda r: r.spec.parameters.update({"": "v"})),
    ("spec.parameters key", "blank-key", lambda r: r.spec.parameters.update({" ": "v"})),
    ("spec.parameters key", "key-newline", lambda r: r.spec.parameters.update({"a\nb": "v"})),
    ("spec.parameters key", "key-too-long", lambda r: r.spec.parameters.update({"k" * 129: "v"})),
    (
        "spec.parameters['big']",
        "value-too-long",
        lambda r: r.spec.parameters.update({"big": "v" * 17}),
    ),
    (
        "spec.labels",
        "too-many",
        lambda r: r.spec.labels.update({"a": "1", "b": "2", "c": "3", "d": "4"}),
    ),
    ("spec.labels key", "empty-key", lambda r: r.spec.labels.update({"": "v"})),
    ("spec.labels['big']", "value-too-long", lambda r: r.spec.labels.update({"big": "é" * 9})),
]


@pytest.mark.parametrize(
    ("field", "change"),
    [(field, change) for field, _, change in BAD_REQUESTS],
    ids=[f"{field.split()[0].split('[')[0]}-{case}" for field, case, _ in BAD_REQUESTS],
)
def test_bad_input_names_its_field(
    field: str, change: Callable[[StartAgentRequest], object]
) -> None:
    request = good_request()
    change(request)
    with pytest.raises(InvalidRequest) as caught:
        validate_start(request, LIMITS)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_invalid_request_is_a_value_error() -> None:
    assert issubclass(InvalidRequest, ValueError)


def test_unknown_provider_message_lists_the_known_ones() -> None:
    with pytest.raises(InvalidRequest, match=r"known: openai, scripted"):
        validate_spec(AgentSpec(input="hi", model="nope:model"), LIMITS)


def test_oversize_message_gives_size_and_limit() -> None:
    with pytest.raises(InvalidRequest, match=r"^spec\.input: is 100 bytes; the limit is 64$"):
        validate_spec(AgentSpec(input="x" * 100, model="scripted:echo"), LIMITS)


def test_echoed_values_are_cut_short() -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_spec(AgentSpec(input="hi", model="m" * 10_000), LIMITS)
    assert len(str(caught.value)) < 200


def test_request_id_is_checked_before_the_spec() -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_start(StartAgentRequest(), LIMITS)
    assert caught.value.field == "request_id"


@pytest.mark.parametrize("execution_id", ["agent-1", "agent-caller-wf/run/7", "agent-" + "x" * 512])
def test_good_execution_ids(execution_id: str) -> None:
    assert validate_execution_id(execution_id) == execution_id


@pytest.mark.parametrize(
    ("execution_id", "problem"),
    [
        ("", "is required"),
        ("   ", "is required"),
        ("caller-wf/run/7", "start with 'agent-'"),
        ("AGENT-1", "start with 'agent-'"),
        ("agent-1\n", "NUL or line breaks"),
        ("agent-\x001", "NUL or line breaks"),
        ("agent-" + "x" * 523, "the limit is 528"),
    ],
)
def test_bad_execution_ids(execution_id: str, problem: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_execution_id(execution_id)
    assert caught.value.field == "execution_id"
    assert str(caught.value).startswith("execution_id: ")
    assert problem in str(caught.value)


def spec_with(
    *,
    tools: list[ToolSpec] | None = None,
    budget: AgentBudget | None = None,
    parameters: dict[str, str] | None = None,
) -> AgentSpec:
    base = AgentSpec(input="hi", model="scripted:echo", parameters=parameters or {})
    base.tools.extend(tools or [])
    if budget is not None:
        base.budget.CopyFrom(budget)
    return base


def test_tools_and_budget_become_grants_and_a_budget() -> None:
    spec = validate_spec(
        spec_with(
            tools=[
                ToolSpec(name="think"),
                ToolSpec(name="run_workflow", requires_approval=True, allow=["summarize-document"]),
                ToolSpec(name="mcp:files/read_file"),
            ],
            budget=AgentBudget(max_tool_calls=5, max_cost_usd="0.25"),
        ),
        LIMITS,
    )
    assert [(g.name, g.requires_approval, g.allow) for g in spec.tools] == [
        ("think", False, []),
        ("run_workflow", True, ["summarize-document"]),
        ("mcp:files/read_file", False, []),
    ]
    assert (spec.budget.max_tool_calls, spec.budget.max_cost_usd) == (5, "0.25")


@pytest.mark.parametrize(
    ("spec", "field", "problem"),
    [
        (spec_with(tools=[ToolSpec(name="shell")]), "spec.tools[0].name", "unknown tool"),
        (
            spec_with(tools=[ToolSpec(name="think"), ToolSpec(name="think")]),
            "spec.tools[1].name",
            "listed twice",
        ),
        (spec_with(tools=[ToolSpec(name="mcp:Files")]), "spec.tools[0].name", "mcp:<server>"),
        (spec_with(tools=[ToolSpec(name="run_workflow")]), "spec.tools[0].allow", "workflow types"),
        (
            spec_with(tools=[ToolSpec(name="http_fetch", allow=["a\nb"])]),
            "spec.tools[0].allow[0]",
            "line breaks",
        ),
        (spec_with(parameters={"temperature": "hot"}), "spec.parameters.temperature", "a number"),
        (spec_with(parameters={"max_tokens": "0"}), "spec.parameters.max_tokens", "between"),
        (
            spec_with(budget=AgentBudget(max_cost_usd="a lot")),
            "spec.budget.max_cost_usd",
            "decimal",
        ),
        (spec_with(budget=AgentBudget(max_cost_usd="-1")), "spec.budget.max_cost_usd", "positive"),
        (
            spec_with(budget=AgentBudget(max_tool_calls=-1)),
            "spec.budget.max_tool_calls",
            "negative",
        ),
        (
            spec_with(budget=AgentBudget(max_duration=Duration(seconds=-5))),
            "spec.budget.max_duration",
            "between",
        ),
    ],
)
def test_bad_tools_budgets_and_settings_are_refused_naming_the_field(
    spec: AgentSpec, field: str, problem: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        validate_spec(spec, LIMITS)
    assert refused.value.field == field
    assert problem in str(refused.value)


def test_mcp_servers_are_checked_against_the_operators_configuration() -> None:
    limits = Limits(**{**LIMITS.__dict__, "mcp_servers": frozenset({"files"})})
    validate_spec(spec_with(tools=[ToolSpec(name="mcp:files")]), limits)
    with pytest.raises(InvalidRequest, match="configured: files"):
        validate_spec(spec_with(tools=[ToolSpec(name="mcp:search")]), limits)
