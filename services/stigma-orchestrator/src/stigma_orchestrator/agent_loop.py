"""The agent loop of revision-2 runs: Pydantic AI's, driven one node at a time.

Driving it node by node is what lets the run record each model call and tool call as a
step the moment it ends, enforce its budgets between steps, pause for approvals holding
no slot, and continue as new at a step boundary with its conversation carried. Every
model call and tool call is an activity on the ``stigma-ai`` queue (Pydantic AI's Temporal
integration schedules them); this module is workflow code and must stay deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic_ai import (
        Agent,
        DeferredToolRequests,
        DeferredToolResults,
        ToolApproved,
        ToolDenied,
    )
    from pydantic_ai.exceptions import UsageLimitExceeded
    from pydantic_ai.messages import (
        ModelMessage,
        ModelRequest,
        ModelResponse,
        RetryPromptPart,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
    )
    from pydantic_ai.usage import RunUsage, UsageLimits

    from agent_contract import (
        AGENT_BUDGET_EXCEEDED_ERROR,
        AgentSpecData,
        PendingApproval,
        RunOptions,
        StepKind,
        StepRecord,
        ToolDecision,
        ToolOutcome,
        Usage,
        model_settings,
    )
    from stigma_agent import RunDeps, StigmaAgent, as_text, bound_text, load_conversation
    from stigma_orchestrator.visibility import publish_approvals

DEFAULT_MAX_STEPS = 32
KEPT_STEPS = 200
"""Step records a run's status keeps (the newest); older ones are counted, not kept."""
_MTOK = Decimal(1_000_000)
# Pydantic AI's name of a usage limit -> the spec field that set it.
_LIMIT_FIELDS = {
    "request_limit": "max_steps",
    "tool_calls_limit": "budget.max_tool_calls",
    "per_request_input_tokens_limit": "budget.max_input_tokens",
    "input_tokens_limit": "budget.max_input_tokens",
    "output_tokens_limit": "budget.max_output_tokens",
}


class BudgetExceeded(Exception):
    """A budget of the spec ran out; the message names it and how far the run got."""

    error_type = AGENT_BUDGET_EXCEEDED_ERROR


class ContinueAsNew(Exception):
    """The run reached a step boundary past its history threshold: hand over and go on."""

    def __init__(self, conversation: list[ModelMessage]) -> None:
        super().__init__("continue as new")
        self.conversation = conversation


@dataclass
class _Ledger:
    """What the loop has recorded, so nothing is recorded twice (across continuations too)."""

    tool_calls: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (tool, args)
    recorded_results: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, conversation: list[ModelMessage]) -> _Ledger:
        ledger = cls()
        for message in conversation:
            if isinstance(message, ModelResponse):
                for part in message.parts:
                    if isinstance(part, ToolCallPart):
                        ledger.tool_calls[part.tool_call_id] = (
                            part.tool_name,
                            part.args_as_json_str(),
                        )
            else:
                for req_part in message.parts:
                    if isinstance(req_part, ToolReturnPart | RetryPromptPart):
                        ledger.recorded_results.add(req_part.tool_call_id)
        return ledger


def _price(value: str) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None


class AgentLoop:
    """One run's loop. ``on_change`` is told whenever the status it writes to changed."""

    def __init__(
        self,
        *,
        agent: StigmaAgent,
        execution_id: str,
        spec: AgentSpecData,
        options: RunOptions,
        usage: Usage,
        steps: list[StepRecord],
        on_change: Callable[[], None],
    ) -> None:
        self._agent = agent
        self._execution_id = execution_id
        self._spec = spec
        self._options = options
        self._usage = usage
        self._steps = steps
        self._on_change = on_change
        self.dropped_steps = 0
        self.pending: dict[str, PendingApproval] = {}
        self._decisions: dict[str, ToolDecision] = {}
        self._mark = workflow.now()
        self._price_in = _price(options.input_usd_per_mtok)
        self._price_out = _price(options.output_usd_per_mtok)
        self._cost = _price(usage.cost_usd) or Decimal(0)
        self._provider, _, self._model_name = spec.model.partition(":")

    # -- approvals -----------------------------------------------------------------

    def check_decision(self, decision: ToolDecision) -> None:
        """Refuse a decision nobody waits for (the Update's validator)."""
        if decision.tool_call_id not in self.pending:
            waiting = ", ".join(sorted(self.pending)) or "none"
            raise ValueError(
                f"tool_call_id: no tool call {decision.tool_call_id!r} waits for approval "
                f"(waiting: {waiting})"
            )

    def decide(self, decision: ToolDecision) -> None:
        self._decisions[decision.tool_call_id] = decision

    # -- the loop ------------------------------------------------------------------

    async def run(self, conversation_json: str) -> str:
        """Run until the agent's final answer; raises BudgetExceeded or ContinueAsNew."""
        spec = self._spec
        history = load_conversation(conversation_json)
        ledger = _Ledger.of(history)
        prompt: str | None = None if history else spec.input
        deferred: DeferredToolResults | None = None
        deps = RunDeps(
            execution_id=self._execution_id,
            tools=spec.tools,
            parameters=spec.parameters,
            agent_name=spec.name,
            max_tool_result_bytes=self._options.max_tool_result_bytes,
        )
        budget = spec.budget
        limits = UsageLimits(
            request_limit=spec.max_steps or DEFAULT_MAX_STEPS,
            tool_calls_limit=budget.max_tool_calls or None,
            input_tokens_limit=budget.max_input_tokens or None,
            output_tokens_limit=budget.max_output_tokens or None,
        )
        settings: Any = model_settings(spec.parameters) or None
        segment = 0
        while True:
            segment += 1
            usage = RunUsage(
                requests=self._usage.steps,
                tool_calls=self._usage.tool_calls,
                input_tokens=self._usage.input_tokens,
                output_tokens=self._usage.output_tokens,
            )
            try:
                async with self._agent.iter(
                    prompt,
                    deps=deps,
                    model=spec.model,
                    message_history=history,
                    deferred_tool_results=deferred,
                    instructions=spec.instructions or None,
                    model_settings=settings,
                    usage=usage,
                    usage_limits=limits,
                    # Deterministic, so Pydantic AI need not draw one through workflow.patched
                    # (a marker and a visibility write per run, and a replay hazard after the
                    # run_options local activity of the same workflow task).
                    run_id=f"{workflow.info().run_id}/{segment}",
                ) as run:
                    self._mark = workflow.now()
                    # A run resumed after an approval, or continued as new, starts from a
                    # history that ends in a response already recorded as a step.
                    replayed = history[-1] if history else None
                    async for node in run:
                        self._observe(node, ledger, run.usage, replayed)
                        if Agent.is_call_tools_node(node) and self._should_continue_as_new():
                            raise ContinueAsNew(run.all_messages())
                    assert run.result is not None
                    output = run.result.output
                    history = run.result.all_messages()
                    self._record_results(history[-1:], ledger)
                    self._take_usage(run.usage)
            except UsageLimitExceeded as err:
                raise BudgetExceeded(self._budget_message(str(err))) from None
            if not isinstance(output, DeferredToolRequests):
                return output
            deferred = await self._approvals(output, ledger)
            prompt = None

    async def _approvals(
        self, requests: DeferredToolRequests, ledger: _Ledger
    ) -> DeferredToolResults:
        """Wait, holding nothing but this workflow's state, for every decision."""
        now = workflow.now().isoformat()
        for call in requests.approvals:
            self.pending[call.tool_call_id] = PendingApproval(
                tool_call_id=call.tool_call_id,
                tool=call.tool_name,
                arguments=bound_text(call.args_as_json_str(), self._options.max_step_text_bytes),
                requested_at=now,
            )
        self._on_change()
        publish_approvals(len(self.pending))
        await workflow.wait_condition(lambda: all(i in self._decisions for i in self.pending))
        publish_approvals(0)
        approvals: dict[str, bool | ToolApproved | ToolDenied] = {}
        for tool_call_id in self.pending:
            decision = self._decisions[tool_call_id]
            if decision.approve:
                approvals[tool_call_id] = True
            else:
                ledger.denied.add(tool_call_id)
                reason = decision.reason or "no reason given"
                approvals[tool_call_id] = ToolDenied(f"An operator rejected this call: {reason}")
        self.pending.clear()
        self._on_change()
        return DeferredToolResults(approvals=approvals)

    # -- steps -----------------------------------------------------------------------

    def _observe(
        self, node: Any, ledger: _Ledger, usage: RunUsage, replayed: ModelMessage | None
    ) -> None:
        now = workflow.now()
        if Agent.is_call_tools_node(node):
            if node.model_response != replayed:
                self._record_model(node.model_response, ledger)
                self._take_usage(usage)
            self._mark = now
        elif Agent.is_model_request_node(node):
            self._record_results([node.request], ledger)
            self._mark = now
        elif Agent.is_user_prompt_node(node):
            self._mark = now

    def _record_model(self, response: ModelResponse, ledger: _Ledger) -> None:
        text = "".join(p.content for p in response.parts if isinstance(p, TextPart))
        calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
        for call in calls:
            ledger.tool_calls[call.tool_call_id] = (call.tool_name, call.args_as_json_str())
        if not text and calls:
            text = "→ " + ", ".join(call.tool_name for call in calls)
        usage = response.usage
        self._append(
            StepRecord(
                index=0,
                kind=StepKind.MODEL.value,
                message=bound_text(text, self._options.max_step_text_bytes),
                started_at=self._mark.isoformat(),
                finished_at=workflow.now().isoformat(),
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
            )
        )
        self._count_tokens(usage.input_tokens, usage.output_tokens)
        self._add_cost(usage.input_tokens, usage.output_tokens)

    def _record_results(self, messages: list[ModelMessage], ledger: _Ledger) -> None:
        limit = self._options.max_step_text_bytes
        for message in messages:
            if not isinstance(message, ModelRequest):
                continue
            for part in message.parts:
                if not isinstance(part, ToolReturnPart | RetryPromptPart):
                    continue
                if part.tool_call_id in ledger.recorded_results:
                    continue
                ledger.recorded_results.add(part.tool_call_id)
                tool, args = ledger.tool_calls.get(part.tool_call_id, (part.tool_name or "", ""))
                if isinstance(part, RetryPromptPart):
                    outcome, result = ToolOutcome.ERROR, part.model_response()
                else:
                    result = as_text(part.content)
                    failed = isinstance(part.content, dict) and "error" in part.content
                    outcome = ToolOutcome.ERROR if failed else ToolOutcome.OK
                if part.tool_call_id in ledger.denied:
                    outcome = ToolOutcome.REJECTED
                self._append(
                    StepRecord(
                        index=0,
                        kind=StepKind.TOOL.value,
                        tool=tool,
                        tool_call_id=part.tool_call_id,
                        arguments=bound_text(args, limit),
                        message=bound_text(result, limit),
                        outcome=outcome.value,
                        started_at=self._mark.isoformat(),
                        finished_at=workflow.now().isoformat(),
                    )
                )
                self._count_tool(tool, outcome)

    def _append(self, step: StepRecord) -> None:
        step.index = self.dropped_steps + len(self._steps)
        self._steps.append(step)
        if len(self._steps) > KEPT_STEPS:
            del self._steps[0]
            self.dropped_steps += 1
        self._on_change()

    # -- accounting and budgets ----------------------------------------------------------

    def _take_usage(self, usage: RunUsage) -> None:
        self._usage.steps = usage.requests
        self._usage.tool_calls = usage.tool_calls
        self._usage.input_tokens = usage.input_tokens
        self._usage.output_tokens = usage.output_tokens

    def _add_cost(self, input_tokens: int, output_tokens: int) -> None:
        if self._price_in is None or self._price_out is None:
            return
        self._cost += (input_tokens * self._price_in + output_tokens * self._price_out) / _MTOK
        self._usage.cost_usd = f"{self._cost:.6f}"
        limit = _price(self._spec.budget.max_cost_usd)
        if limit is not None and self._cost > limit:
            raise BudgetExceeded(
                f"budget.max_cost_usd: the run cost ${self._cost:.6f} after "
                f"{self._usage.steps} step(s); the budget is ${limit}"
            )

    def _budget_message(self, detail: str) -> str:
        """Name the spec's field for the limit Pydantic AI reports (its own figures kept)."""
        first = detail.splitlines()[0]
        for limit, spec_field in _LIMIT_FIELDS.items():
            if limit in first:
                return f"{spec_field}: {first}"
        return f"a usage budget ran out: {first}"

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() >= self._options.continue_as_new_after_events
            or info.is_continue_as_new_suggested()
        )

    # -- metrics (the workflow's replay-safe meter) -----------------------------------------

    def _count_tokens(self, input_tokens: int, output_tokens: int) -> None:
        counter = workflow.metric_meter().create_counter(
            "stigma_agent_tokens", "Model tokens used by agent runs, by provider, model and kind"
        )
        for kind, count in (("input", input_tokens), ("output", output_tokens)):
            if count:
                counter.add(
                    count, {"provider": self._provider, "model": self._model_name, "kind": kind}
                )

    def _count_tool(self, tool: str, outcome: ToolOutcome) -> None:
        workflow.metric_meter().create_counter(
            "stigma_agent_tool_calls", "Tool calls made by agent runs, by tool and outcome"
        ).add(1, {"tool": tool, "outcome": outcome.value})
