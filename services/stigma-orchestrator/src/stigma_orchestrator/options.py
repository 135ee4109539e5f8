"""The orchestrator's settings as the workflow sees them: read once per run, kept in history."""

from __future__ import annotations

from temporalio import activity

from agent_contract import RUN_OPTIONS_ACTIVITY, RunOptions
from stigma_orchestrator.settings import OrchestratorSettings


def _ms(value: float) -> int:
    return max(1, int(value * 1000))


class RunOptionsActivity:
    """A local activity: workflows cannot read the environment, but they can record this."""

    def __init__(self, settings: OrchestratorSettings) -> None:
        self._options = RunOptions(
            step_heartbeat_ms=_ms(settings.step_heartbeat.total_seconds()),
            step_start_to_close_ms=_ms(settings.step_timeout.total_seconds()),
            keeper_heartbeat_ms=_ms(settings.keeper_heartbeat.total_seconds()),
            max_output_bytes=settings.max_output_bytes,
        )

    @activity.defn(name=RUN_OPTIONS_ACTIVITY)
    async def run_options(self) -> RunOptions:
        return self._options
