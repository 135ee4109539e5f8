"""AgentExecutionWorkflow: one durable agent run, and the promise to tell its caller.

Whatever ends the run (the last step, a failure, a timeout, a cancellation from
either side), every attached callback is delivered before the workflow closes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from agent_contract import (
        AGENT_BUDGET_EXCEEDED_ERROR,
        AGENT_FAILED_ERROR,
        AGENT_OUTPUT_TOO_LARGE_ERROR,
        AGENT_STEP_ACTIVITY,
        AGENT_WORKFLOW,
        AI_TASK_QUEUE,
        ATTACH_CALLBACK_SIGNAL,
        CALLER_REPORT_SIGNAL,
        DECIDE_TOOL_CALL_UPDATE,
        DELIVER_CALLBACK_ACTIVITY,
        KEEP_CALLER_ALIVE_ACTIVITY,
        ORCHESTRATOR_TASK_QUEUE,
        REDELIVER_WORKFLOW,
        RUN_OPTIONS_ACTIVITY,
        STATUS_QUERY,
        AgentRunInput,
        CallbackRef,
        CallbackState,
        CallbackStatus,
        CallerProgress,
        CallerReport,
        CallerVerdict,
        CarriedCallback,
        DeliveryOutcome,
        DeliveryRequest,
        ExecutionStatus,
        KeepAliveRequest,
        KeptCaller,
        Phase,
        ResumeState,
        RunOptions,
        StepRecord,
        StepRequest,
        StepResult,
        ToolDecision,
    )
    from stigma_agent import StigmaAgent, dump_conversation
    from stigma_orchestrator.agent_loop import AgentLoop, BudgetExceeded, ContinueAsNew
    from stigma_orchestrator.visibility import (
        KeeperPublisher,
        pending_publisher,
        published_at_start,
        record_end,
    )

DEFAULT_MAX_STEPS = 32
STEP_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))
OPTIONS_TIMEOUT = timedelta(seconds=10)
KEEPER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5)
)
DELIVERY_ATTEMPT_TIMEOUT = timedelta(seconds=30)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# A delivery keeps trying (Temporal unavailable, say) until the token would have
# expired anyway; the caller is gone after that.
MIN_DELIVERY_WINDOW = timedelta(minutes=1)
# Revision 4: a delivery retried after a longer backoff than this waits on a workflow timer,
# not inside an open workflow task. While Temporal refused completions, the SDK's default
# (a minute) kept each run's task open between retries, and its status query (GetExecution,
# stigmactl pending) timed out for as long as the refusals lasted.
DELIVERY_LOCAL_RETRY_THRESHOLD = timedelta(seconds=2)


@dataclass
class _Attached:
    ref: CallbackRef
    state: CallbackState = CallbackState.PENDING
    keeper: asyncio.Task[None] | None = field(default=None, repr=False)
    attached_at: datetime | None = None
    # Counted in the pending search attributes once it has waited past its first caller
    # beat: a call answered sooner never costs a visibility write.
    visible: bool = False

    def same_caller(self, other: CallbackRef) -> bool:
        mine = self.ref
        return (mine.namespace, mine.workflow_id, mine.run_id, mine.activity_id) == (
            other.namespace,
            other.workflow_id,
            other.run_id,
            other.activity_id,
        )


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _describe(err: BaseException) -> str:
    """The most specific message of a failure chain (the agent's own words)."""
    cause: BaseException | None = err
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return f"{cause.type}: {cause.message}"
    if isinstance(cause, FailureError):
        return cause.message
    if isinstance(cause, BudgetExceeded):
        return str(cause)
    if isinstance(cause, Exception):
        # A model error Pydantic AI rebuilt in the workflow (ModelHTTPError, ...): its class
        # names the category and its message carries the provider's own words.
        return f"{type(cause).__name__}: {cause}"
    return str(cause)


def _error_type(err: BaseException) -> str:
    """The type the caller's failure carries: AgentBudgetExceeded for a budget (a DSL
    ``catch`` can tell it apart), AgentFailed for everything else (the message names why:
    ``AgentOutputTooLarge: ...``, ``ModelProtocolError: ...``)."""
    cause: BaseException | None = err
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, BudgetExceeded):
        return AGENT_BUDGET_EXCEEDED_ERROR
    return AGENT_FAILED_ERROR


def _settle(agent: asyncio.Task[str]) -> None:
    """Take the outcome of an agent the run stopped. Cancelled mid-step, it ends with the
    step's ActivityError (not a CancelledError), which is not the run's outcome (the
    cancellation or the budget is); left unread, the event loop would log "Task exception
    was never retrieved" as an ERROR whenever the garbage collector met the task."""
    if not agent.cancelled():
        agent.exception()


def _fatal(err: BaseException) -> bool:
    """Errors that must fail the workflow task (and be fixed by a deploy), not the run."""
    return isinstance(err, workflow.NondeterminismError)


@workflow.defn(name=AGENT_WORKFLOW)
class AgentExecutionWorkflow:
    agent: ClassVar[StigmaAgent | None] = None
    """The process's agent (stigma_agent.build_agent), set once at start-up by ``configure``:
    Temporal creates workflow instances itself, so a dependency built from the process's
    settings reaches them through the class (the sandbox passes this module through)."""

    @classmethod
    def configure(cls, agent: StigmaAgent) -> None:
        cls.agent = agent

    @workflow.init
    def __init__(self, run: AgentRunInput) -> None:
        resume = run.resume
        self._status = ExecutionStatus(
            execution_id=run.execution_id,
            request_id=run.request_id,
            phase=Phase.PENDING,
            spec=run.spec,
            created_at=run.accepted_at,
            updated_at=run.accepted_at,
        )
        self._callbacks: list[_Attached] = []
        self._caller_cancelled = False
        self._stopping = False  # set once the run is being cancelled: no further step starts
        self._pending = pending_publisher()
        self._options: RunOptions | None = None
        self._output_bytes = 0
        self._loop: AgentLoop | None = None
        # Revision 0 runs (started before docs/adr/0011) publish the pending attributes at
        # attach; keeping that lets them replay. The revision rides in the input, so unlike
        # workflow.patched it costs no marker and no TemporalChangeVersion visibility write.
        self._pending_after_first_beat = run.revision >= 1
        # Revision 3: a cancelled keep-alive resolves only once Temporal has recorded its
        # end, and the run waits for that after delivering (see AGENT_WORKFLOW_REVISION).
        self._keepers_settle = run.revision >= 3
        # Revision 4: no keep-alive activity per call; the shard's keeper beats the callers
        # the run publishes, and signals back what they answer (docs/adr/0020).
        self._batch_kept = run.revision >= 4
        self._keeper_memo = KeeperPublisher(run.execution_id)
        if self._batch_kept:
            # The caller stigma-api listed in the start request: its keeper beats it from the
            # first sweep, whatever this run's workflow tasks wait behind (docs/adr/0020).
            self._keeper_memo.started_with(published_at_start())
        if resume is not None:
            self._options = resume.options
            self._status.usage = resume.usage
            self._status.steps = list(resume.steps)
            self._status.steps_dropped = resume.steps_dropped

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> ExecutionStatus:
        self._status.callbacks = [
            CallbackStatus(
                fingerprint=cb.ref.fingerprint,
                attempt=cb.ref.attempt,
                state=cb.state,
                caller_workflow_id=cb.ref.workflow_id,
                caller_activity_id=cb.ref.activity_id,
                attached_at=_iso(cb.attached_at) if cb.attached_at else "",
            )
            for cb in self._callbacks
        ]
        if self._loop is not None:
            self._status.pending_approvals = list(self._loop.pending.values())
            self._status.steps_dropped = self._loop.dropped_steps
        return self._status

    @workflow.update(name=DECIDE_TOOL_CALL_UPDATE)
    def decide_tool_call(self, decision: ToolDecision) -> ExecutionStatus:
        """An operator approves or rejects a tool call that waits (DecideToolCall)."""
        assert self._loop is not None  # the validator refused otherwise
        self._loop.decide(decision)
        workflow.logger.info(
            "tool call %s %s", decision.tool_call_id, "approved" if decision.approve else "rejected"
        )
        return self.status()

    @decide_tool_call.validator
    def _check_decision(self, decision: ToolDecision) -> None:
        if self._loop is None or self._status.phase.terminal:
            raise ValueError("execution_id: this execution has no tool call waiting for approval")
        self._loop.check_decision(decision)

    @workflow.signal(name=ATTACH_CALLBACK_SIGNAL)
    def attach_callback(self, callback: CallbackRef) -> None:
        """A retried caller attempt re-attaches its new token to this same run."""
        self._attach(callback)

    @workflow.signal(name=CALLER_REPORT_SIGNAL)
    def caller_report(self, report: CallerReport) -> None:
        """The keeper's word on one caller: it asked to cancel, or its attempt is gone."""
        for attached in self._callbacks:
            if attached.ref.fingerprint != report.fingerprint:
                continue
            if attached.state is not CallbackState.PENDING:
                return  # delivered or delivering already: the report comes too late
            if report.verdict is CallerVerdict.CANCEL_REQUESTED:
                self._caller_cancelled = True
            elif report.verdict is CallerVerdict.STALE:
                attached.state = CallbackState.STALE
                self._publish_pending()
            return

    @workflow.run
    async def run(self, run: AgentRunInput) -> ExecutionStatus:
        self._set_phase(Phase.RUNNING)
        if run.resume is not None:
            for carried in run.resume.callbacks:
                self._adopt(carried)
        if run.callback is not None:
            self._attach(run.callback)
        agent = asyncio.create_task(self._run_agent(run))
        cancelled_here = timed_out = False
        try:
            await workflow.wait_condition(
                lambda: agent.done() or self._caller_cancelled, timeout=self._time_left(run)
            )
        except asyncio.CancelledError:
            cancelled_here = True
        except TimeoutError:
            timed_out = True
        if agent.done() and isinstance(agent.exception(), ContinueAsNew):
            await self._continue_as_new(run, agent)
        if agent.done():
            self._record_agent_end(agent)
        else:
            self._stopping = True
            agent.cancel()
            await asyncio.wait([agent])
            _settle(agent)
            if timed_out:
                self._finish(
                    Phase.FAILED,
                    error=f"budget.max_duration_ms: the run was stopped after "
                    f"{run.spec.budget.max_duration_ms} ms",
                    error_type=AGENT_BUDGET_EXCEEDED_ERROR,
                )
            else:
                who = "the caller" if self._caller_cancelled and not cancelled_here else "Stigma"
                self._finish(Phase.CANCELLED, error=f"cancelled by {who}")
        for attached in self._callbacks:
            if attached.keeper is not None:
                attached.keeper.cancel()
        await self._deliver_all(caller_cancelled=self._caller_cancelled and not cancelled_here)
        if self._keepers_settle:
            # The delivery's marker is recorded now, in a workflow task that does not close
            # the run; the keep-alives' ends come in before the one that does.
            keepers = [cb.keeper for cb in self._callbacks if cb.keeper is not None]
            if keepers:
                await asyncio.wait(keepers)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    # -- the agent -------------------------------------------------------------

    async def _load_options(self, model: str | None = None) -> RunOptions:
        """The orchestrator's settings for this run, recorded in history (replay-safe)."""
        if self._options is not None:  # carried over by a continuation
            return self._options
        options: RunOptions = await workflow.execute_local_activity(
            RUN_OPTIONS_ACTIVITY,
            args=[] if model is None else [model],
            start_to_close_timeout=OPTIONS_TIMEOUT,
            result_type=RunOptions,
        )
        self._options = options
        return options

    def _time_left(self, run: AgentRunInput) -> timedelta | None:
        """What is left of the spec's wall-clock budget (None: no such budget)."""
        if not run.spec.budget.max_duration_ms:
            return None
        ends = datetime.fromisoformat(run.accepted_at) + timedelta(
            milliseconds=run.spec.budget.max_duration_ms
        )
        return max(ends - workflow.now(), timedelta(milliseconds=1))

    async def _run_agent(self, run: AgentRunInput) -> str:
        if run.revision >= 2:
            return await self._run_agent_loop(run)
        return await self._run_legacy_steps(run)

    async def _run_agent_loop(self, run: AgentRunInput) -> str:
        """Revision 2: Pydantic AI's agent loop, every model and tool call an activity."""
        agent = type(self).agent
        if agent is None:
            raise RuntimeError("AgentExecutionWorkflow.configure(agent) was not called")
        options = await self._load_options(run.spec.model)
        self._loop = AgentLoop(
            agent=agent,
            execution_id=run.execution_id,
            spec=run.spec,
            options=options,
            usage=self._status.usage,
            steps=self._status.steps,
            on_change=self._touch,
        )
        if run.resume is not None:
            self._loop.dropped_steps = run.resume.steps_dropped
        output = await self._loop.run(run.resume.conversation if run.resume else "")
        size = len(output.encode())
        if size > options.max_output_bytes:
            raise ApplicationError(
                f"agent output is {size} bytes; the limit is {options.max_output_bytes} "
                "(STIGMA_ORCHESTRATOR_MAX_OUTPUT_BYTES)",
                type=AGENT_OUTPUT_TOO_LARGE_ERROR,
                non_retryable=True,
            )
        return output

    async def _continue_as_new(self, run: AgentRunInput, agent: asyncio.Task[str]) -> None:
        """Hand the run over to a fresh history between two steps (a long agent)."""
        request = agent.exception()
        assert isinstance(request, ContinueAsNew)
        assert self._options is not None
        keepers = [cb.keeper for cb in self._callbacks if cb.keeper is not None]
        for keeper in keepers:
            keeper.cancel()
        if keepers and self._keepers_settle:
            # A hand-over delivers nothing, so it need not wait for the keep-alives' ends
            # (each comes with its activity's next heartbeat, seconds later): one turn of
            # the loop lets them send their cancel requests with the hand-over.
            await asyncio.sleep(0)
        elif keepers:
            await asyncio.wait(keepers)
        await workflow.wait_condition(workflow.all_handlers_finished)
        resume = ResumeState(
            conversation=dump_conversation(request.conversation),
            options=self._options,
            usage=self._status.usage,
            steps=self._status.steps,
            steps_dropped=self._loop.dropped_steps if self._loop else 0,
            callbacks=[
                CarriedCallback(
                    ref=cb.ref,
                    state=cb.state,
                    attached_at=_iso(cb.attached_at) if cb.attached_at else "",
                    visible=cb.visible,
                )
                for cb in self._callbacks
            ],
            continuations=(run.resume.continuations + 1) if run.resume else 1,
        )
        workflow.continue_as_new(
            AgentRunInput(
                execution_id=run.execution_id,
                request_id=run.request_id,
                spec=run.spec,
                accepted_at=run.accepted_at,
                revision=run.revision,
                resume=resume,
                tenant=run.tenant,
            )
        )

    async def _run_legacy_steps(self, run: AgentRunInput) -> str:
        """Revisions 0 and 1: one ``agent_step`` activity per step (runs opened before 2)."""
        options = await self._load_options()
        spec = run.spec
        max_steps = spec.max_steps or DEFAULT_MAX_STEPS
        previous: list[str] = []
        for index in range(max_steps):
            started = workflow.now()
            result: StepResult = await workflow.execute_activity(
                AGENT_STEP_ACTIVITY,
                StepRequest(
                    execution_id=run.execution_id,
                    spec=spec,
                    index=index,
                    previous=previous,
                    max_output_bytes=options.max_output_bytes,
                ),
                task_queue=AI_TASK_QUEUE,
                start_to_close_timeout=timedelta(milliseconds=options.step_start_to_close_ms),
                heartbeat_timeout=timedelta(milliseconds=options.step_heartbeat_ms),
                retry_policy=STEP_RETRY,
                # A cancelled run ends only once its running step has really stopped.
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                result_type=StepResult,
            )
            self._check_output_size(result, options.max_output_bytes)
            previous.append(result.message)
            self._status.steps.append(
                StepRecord(
                    index=index,
                    message=result.message,
                    started_at=_iso(started),
                    finished_at=_iso(workflow.now()),
                )
            )
            usage = self._status.usage
            usage.steps += 1
            usage.input_tokens += result.input_tokens
            usage.output_tokens += result.output_tokens
            self._touch()
            if result.done:
                return result.message
            if self._stopping:
                # The step finished just as the cancellation arrived, so the activity
                # swallowed it; stop here rather than start another step.
                raise asyncio.CancelledError()
        raise ApplicationError(
            f"agent did not finish within max_steps={max_steps}", type="MaxStepsExceeded"
        )

    def _check_output_size(self, result: StepResult, limit: int) -> None:
        """Fail clearly before the outcome grows past what Temporal can carry."""
        size = len(result.message.encode())
        # The final message is also the output: the caller's result carries it twice.
        grown = self._output_bytes + size * (2 if result.done else 1)
        if grown > limit:
            raise ApplicationError(
                f"agent output would be {grown} bytes; the limit is {limit} "
                "(STIGMA_ORCHESTRATOR_MAX_OUTPUT_BYTES)",
                type=AGENT_OUTPUT_TOO_LARGE_ERROR,
                non_retryable=True,
            )
        self._output_bytes += size

    def _record_agent_end(self, agent: asyncio.Task[str]) -> None:
        try:
            output = agent.result()
        except (FailureError, asyncio.CancelledError) as err:
            self._finish(Phase.FAILED, error=_describe(err), error_type=_error_type(err))
        except Exception as err:
            if _fatal(err):
                raise
            self._finish(Phase.FAILED, error=_describe(err), error_type=_error_type(err))
        else:
            self._status.output = output
            self._finish(Phase.COMPLETED)

    # -- callbacks -------------------------------------------------------------

    def _adopt(self, carried: CarriedCallback) -> None:
        """A callback the previous run of this execution handed over (continue-as-new)."""
        attached = _Attached(
            ref=carried.ref,
            state=carried.state,
            attached_at=datetime.fromisoformat(carried.attached_at)
            if carried.attached_at
            else workflow.now(),
            visible=carried.visible,
        )
        self._callbacks.append(attached)
        if attached.state is CallbackState.PENDING:
            attached.keeper = asyncio.create_task(self._keep_alive(attached))
        self._publish_pending()

    def _attach(self, callback: CallbackRef) -> None:
        if any(cb.ref.fingerprint == callback.fingerprint for cb in self._callbacks):
            return
        for older in self._callbacks:
            if older.state is CallbackState.PENDING and older.same_caller(callback):
                if older.ref.attempt >= callback.attempt:
                    return  # a late signal from an older attempt
                older.state = (
                    CallbackState.STALE
                )  # superseded by a newer attempt of the same caller
                if older.keeper is not None:
                    older.keeper.cancel()
        attached = _Attached(ref=callback, attached_at=workflow.now())
        self._callbacks.append(attached)
        if not self._status.phase.terminal:
            attached.keeper = asyncio.create_task(self._keep_alive(attached))
        self._publish_pending()  # a superseded attempt may have left the gauge

    async def _keep_alive(self, attached: _Attached) -> None:
        try:
            await workflow.wait_condition(lambda: self._options is not None)
        except asyncio.CancelledError:
            return
        assert self._options is not None
        # The caller needs its first beat only within its heartbeat timeout. A short agent
        # ends before this grace and so costs no keep-alive activity at all.
        grace = attached.ref.beat_interval()
        if self._batch_kept:
            # Half a beat: publishing takes a workflow task, then a keeper sweep, and under
            # load (a crashed orchestrator's sticky timeout, a backlog) that task alone
            # waited 28 s, which a full beat of grace left no room for (docs/adr/0020).
            grace = grace / 2
        if not attached.visible:  # a carried callback already waited past its grace
            try:
                await workflow.wait_condition(
                    lambda: (
                        self._status.phase.terminal or attached.state is not CallbackState.PENDING
                    ),
                    timeout=grace,
                )
                return
            except TimeoutError:
                pass
            except asyncio.CancelledError:
                return
        attached.visible = True
        window = self._window(attached.ref)
        if window <= timedelta(0):
            attached.state = CallbackState.STALE
            self._publish_pending()
            return
        self._publish_pending()
        if self._batch_kept:
            return  # published: the keeper of the run's shard takes it from here
        try:
            verdict: CallerVerdict = await workflow.execute_activity(
                KEEP_CALLER_ALIVE_ACTIVITY,
                KeepAliveRequest(callback=attached.ref, execution_id=self._status.execution_id),
                task_queue=ORCHESTRATOR_TASK_QUEUE,
                schedule_to_close_timeout=window,
                heartbeat_timeout=timedelta(milliseconds=self._options.keeper_heartbeat_ms),
                retry_policy=KEEPER_RETRY,
                result_type=CallerVerdict,
                cancellation_type=(
                    workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
                    if self._keepers_settle
                    else workflow.ActivityCancellationType.TRY_CANCEL
                ),
            )
        except (ActivityError, asyncio.CancelledError):
            return
        if verdict is CallerVerdict.CANCEL_REQUESTED and attached.state is CallbackState.PENDING:
            self._caller_cancelled = True
        elif verdict is CallerVerdict.STALE and attached.state is CallbackState.PENDING:
            attached.state = CallbackState.STALE
            self._publish_pending()

    def _window(self, callback: CallbackRef) -> timedelta:
        return datetime.fromisoformat(callback.expires_at) - workflow.now()

    async def _deliver_all(self, *, caller_cancelled: bool) -> None:
        # Signals may attach more callbacks while we deliver: loop until none is pending.
        while pending := [cb for cb in self._callbacks if cb.state is CallbackState.PENDING]:
            for attached in pending:
                attached.state = CallbackState.DELIVERING
            await asyncio.gather(*(self._deliver(cb, caller_cancelled) for cb in pending))

    async def _deliver(self, attached: _Attached, caller_cancelled: bool) -> None:
        status = self._status
        request = DeliveryRequest(
            callback=attached.ref,
            execution_id=status.execution_id,
            phase=status.phase,
            result=status.to_result() if status.phase is Phase.COMPLETED else None,
            error=status.error,
            caller_cancelled=caller_cancelled,
            ended_at=status.finished_at,
            error_type=status.error_type,
        )
        try:
            # A local activity: it runs in this worker right after the workflow task, without
            # the round trip through the task queue (the delivery's hot path).
            outcome: DeliveryOutcome = await workflow.execute_local_activity(
                DELIVER_CALLBACK_ACTIVITY,
                request,
                start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=max(self._window(attached.ref), MIN_DELIVERY_WINDOW),
                retry_policy=DELIVERY_RETRY,
                result_type=DeliveryOutcome,
                local_retry_threshold=(
                    DELIVERY_LOCAL_RETRY_THRESHOLD if self._batch_kept else None
                ),
            )
        except ActivityError:
            attached.state = CallbackState.ERROR
            workflow.logger.warning(
                "callback %s could not be delivered before it expired", attached.ref.fingerprint
            )
            self._publish_pending()
            return
        attached.state = CallbackState(outcome.value)
        self._publish_pending()

    def _publish_pending(self) -> None:
        """Mirror the callbacks still waiting into search attributes (the pending gauge).

        Only callbacks that have waited past their first caller beat count: the gauge and
        its alerts are about calls that stay pending, and the two visibility writes per
        call were a measurable share of a short call's cost (docs/performance.md).
        """
        self._pending.publish(
            [
                cb.attached_at
                for cb in self._callbacks
                if (cb.visible or not self._pending_after_first_beat)
                and cb.state.waiting
                and cb.attached_at is not None
            ]
        )
        self._publish_kept()

    def _publish_kept(self) -> None:
        """Revision 4: the callers the keeper beats, and what they are shown."""
        if not self._batch_kept:
            return
        usage = self._status.usage
        self._keeper_memo.publish(
            [KeptCaller.of(cb.ref) for cb in self._callbacks if cb.visible and cb.state.waiting],
            CallerProgress(
                execution_id=self._status.execution_id,
                phase=self._status.phase.value,
                steps=usage.steps,
                tool_calls=usage.tool_calls,
                waiting_for_approval=len(self._loop.pending) if self._loop else 0,
            ),
        )

    # -- status ----------------------------------------------------------------

    def _touch(self) -> None:
        self._status.updated_at = _iso(workflow.now())
        self._publish_kept()

    def _set_phase(self, phase: Phase) -> None:
        self._status.phase = phase
        self._touch()

    def _finish(self, phase: Phase, *, error: str = "", error_type: str = "") -> None:
        self._status.error = error
        if phase is Phase.FAILED:
            self._status.error_type = error_type or AGENT_FAILED_ERROR
        self._status.finished_at = _iso(workflow.now())
        self._set_phase(phase)
        record_end(outcome=phase.value.lower(), started_at=self._status.created_at)


@workflow.defn(name=REDELIVER_WORKFLOW)
class RedeliverCallbackWorkflow:
    """Hands a finished run's stored outcome to a caller attempt that arrived after the end.

    stigma-api starts it when a retried CallAgent attempt re-attaches to a run that
    has already closed: the delivery is then as durable and as retried as any other.
    """

    @workflow.run
    async def run(self, request: DeliveryRequest) -> DeliveryOutcome:
        outcome: DeliveryOutcome = await workflow.execute_activity(
            DELIVER_CALLBACK_ACTIVITY,
            request,
            start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=max(
                datetime.fromisoformat(request.callback.expires_at) - workflow.now(),
                MIN_DELIVERY_WINDOW,
            ),
            retry_policy=DELIVERY_RETRY,
            result_type=DeliveryOutcome,
        )
        return outcome
