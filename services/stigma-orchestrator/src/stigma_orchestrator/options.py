"""The orchestrator's settings as the workflow sees them: read once per run, kept in history."""

from __future__ import annotations

from dataclasses import replace

from temporalio import activity

from agent_contract import RUN_OPTIONS_ACTIVITY, RunOptions
from stigma_orchestrator.prices import PriceTable
from stigma_orchestrator.settings import OrchestratorSettings


def _ms(value: float) -> int:
    return max(1, int(value * 1000))


class RunOptionsActivity:
    """A local activity: workflows cannot read the environment, but they can record this."""

    def __init__(self, settings: OrchestratorSettings, prices: PriceTable | None = None) -> None:
        self._prices = prices or PriceTable()
        self._options = RunOptions(
            step_heartbeat_ms=_ms(settings.step_heartbeat.total_seconds()),
            step_start_to_close_ms=_ms(settings.step_timeout.total_seconds()),
            keeper_heartbeat_ms=_ms(settings.keeper_heartbeat.total_seconds()),
            max_output_bytes=settings.max_output_bytes,
            max_step_text_bytes=settings.max_step_text_bytes,
            max_tool_result_bytes=settings.max_tool_result_bytes,
            max_conversation_bytes=settings.max_conversation_bytes,
            continue_as_new_after_events=settings.continue_as_new_after_events,
        )

    @activity.defn(name=RUN_OPTIONS_ACTIVITY)
    async def run_options(self, model: str = "") -> RunOptions:
        """``model``: the run's ``provider:model``, whose price the run records (revision 2)."""
        price = self._prices.price(model) if model else None
        if price is None:
            return self._options
        return replace(
            self._options,
            input_usd_per_mtok=str(price.input_usd_per_mtok),
            output_usd_per_mtok=str(price.output_usd_per_mtok),
        )
