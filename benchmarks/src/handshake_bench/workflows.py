"""Baseline workflows the benchmark runs in its own worker (sandbox-importable module).

- ``BareCompletion``: the limit. One activity that hands its task token to the benchmark
  process and goes pending; the benchmark completes it with the client. No Stigma at all.
- ``BlockingAgentCall``: the rejected design (b). One activity starts the agent and holds its
  slot until the agent ends.
- ``PollingAgentCall``: the rejected design (c). One activity starts the agent, then polls
  GetExecution; between polls it gives its slot back (Temporal's retry-as-poll pattern).
- ``BareSteps``: the floor of an agent loop on this server: N no-op activities in a row, each
  on another task queue than the workflow's (as the agent's run on ``stigma-ai``, so no eager
  dispatch), what each step of an agent costs without any agent.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

BARE_ACTIVITY = "bench_bare_pending"
START_ACTIVITY = "bench_start_agent"
BLOCKING_ACTIVITY = "bench_wait_blocking"
POLL_ACTIVITY = "bench_poll_once"
NOOP_ACTIVITY = "bench_noop"
NOOP_QUEUE = "bench-steps-activities"
POLL_INTERVAL = timedelta(milliseconds=500)


@workflow.defn(name="BareCompletion")
class BareCompletion:
    @workflow.run
    async def run(self, payload: str) -> str:
        result: str = await workflow.execute_activity(
            BARE_ACTIVITY, payload, start_to_close_timeout=timedelta(minutes=10)
        )
        return result


@workflow.defn(name="BlockingAgentCall")
class BlockingAgentCall:
    @workflow.run
    async def run(self, delay_ms: int) -> str:
        execution_id: str = await workflow.execute_activity(
            START_ACTIVITY, delay_ms, start_to_close_timeout=timedelta(seconds=30)
        )
        output: str = await workflow.execute_activity(
            BLOCKING_ACTIVITY,
            execution_id,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(seconds=30),
        )
        return output


@workflow.defn(name="PollingAgentCall")
class PollingAgentCall:
    @workflow.run
    async def run(self, delay_ms: int) -> str:
        execution_id: str = await workflow.execute_activity(
            START_ACTIVITY, delay_ms, start_to_close_timeout=timedelta(seconds=30)
        )
        output: str = await workflow.execute_activity(
            POLL_ACTIVITY,
            execution_id,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=POLL_INTERVAL, backoff_coefficient=1.0, maximum_attempts=0
            ),
        )
        return output


@workflow.defn(name="BareSteps")
class BareSteps:
    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_activity(
                NOOP_ACTIVITY,
                step,
                task_queue=NOOP_QUEUE,
                start_to_close_timeout=timedelta(seconds=30),
            )
        return steps
