from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class OrchestratorSettings(ServiceSettings):
    """Environment of the orchestrator (prefix ``STIGMA_ORCHESTRATOR_``)."""

    model_config = SettingsConfigDict(
        env_prefix="STIGMA_ORCHESTRATOR_", extra="ignore", frozen=True
    )

    build_id: str = ""
    """Worker Versioning: this build's id (a release or image tag). Set, the worker joins
    version ``deployment_name``/``build_id`` and agent runs are pinned to the build they
    started on (docs/adr/0019, docs/scaling.md); empty, versioning is off."""
    deployment_name: str = "stigma-orchestrator"
    """The worker deployment the build belongs to (one per service)."""
    max_concurrent_activities: int = 5000
    """Activities at once on the main queue: redeliveries to late caller attempts and (runs
    opened before revision 4 only) one keep-alive per pending call. A run's own deliveries
    are local activities; pending calls of revision-4 runs hold no slot, and the keepers
    have a queue and slots of their own (docs/adr/0020)."""
    max_concurrent_workflow_tasks: int = 100
    max_cached_workflows: int = Field(default=250, ge=0)
    """Agent runs kept in memory between their workflow tasks (about 240 KB each). A run
    past it is replayed from its history at its next task (a step's end): a pending call
    whose agent thinks for minutes costs no memory while it waits (docs/performance.md)."""
    """Workflow tasks processed at once."""
    graceful_shutdown: timedelta = timedelta(seconds=10)
    """How long activities may take to finish after SIGTERM."""
    sticky_queue_timeout: timedelta = timedelta(seconds=10)
    """How long a run's workflow task waits for the process that cached it before any
    process may take it: after a crash, runs resume after this."""
    step_heartbeat: timedelta = timedelta(seconds=10)
    """Heartbeat timeout of an agent step: a killed ai-worker's step is retried after it."""
    step_timeout: timedelta = timedelta(minutes=10)
    """Start-to-close timeout of one agent step."""
    keeper_heartbeat: timedelta = timedelta(seconds=20)
    """Heartbeat timeout of a shard's keeper activity (and of the keep-alives of runs opened
    before revision 4): a killed orchestrator's keeping is resumed elsewhere after it. A
    caller then goes at most one beat (a third of its heartbeat timeout) plus this plus one
    sweep without a beat: keep the sum under the callers' heartbeat timeout (60 s by
    default: 20 + 20 + 5 s). The keeper beats itself every third of it, whatever the
    number of callers."""
    keeper_shards: int = Field(default=1, ge=1, le=1024)
    """Keeper workflows, each beating the callers of its share of the 1,024 buckets. One
    keeper beats about 10,000 callers (500 heartbeats a second); raise it past that, and
    give it orchestrator processes to run on (docs/scaling.md)."""
    keeper_sweep: timedelta = timedelta(seconds=2)
    """How often a keeper lists the callers its shard's runs published since its last sweep
    (and the runs closed without delivering): a caller gets its first keeper beat within
    one sweep of being published (a third of its heartbeat timeout after it attached), a
    terminated run's callers are failed within about one sweep. Keep it under a third of
    the shortest caller heartbeat timeout. The whole shard is listed every 30 s."""
    keeper_beats_in_flight_min: int = Field(default=64, ge=1, le=100_000)
    """Caller heartbeats a keeper may always have in flight at once. Above it, the keeper
    lets out what its callers need at the latency it sees (their beats a second times a
    beat's duration, doubled: docs/adr/0020), up to the max."""
    keeper_beats_in_flight_max: int = Field(default=1024, ge=1, le=100_000)
    """Most caller heartbeats a keeper may have in flight at once: 10,000 callers of a 60 s
    heartbeat timeout at 1 s a beat. A keeper held at it falls behind, and
    CallerKeeperFallingBehind says so."""
    caller_progress_every: int = Field(default=6, ge=1)
    """Every how many beats a caller's heartbeat re-reads the partial output of its agent's
    streaming model call (one DescribeWorkflowExecution each): 6 keeps a pending call under
    4 RPCs a minute with a 60 s caller heartbeat timeout (3.2 beats and 0.54 reads); 1
    shows the caller every beat's partial output, at 6.5."""
    max_output_bytes: int = Field(default=512 * 1024, ge=1024, le=1536 * 1024)
    """Largest agent output (plus, for runs opened before revision 2, step messages) of one
    run. Temporal refuses payloads over 2 MB; a run that would exceed this fails with
    AgentOutputTooLarge instead."""
    max_step_text_bytes: int = Field(default=2048, ge=64, le=64 * 1024)
    """How much of a step's text, tool arguments and tool result the run's status keeps."""
    max_tool_result_bytes: int = Field(default=16 * 1024, ge=256, le=512 * 1024)
    """Largest tool result handed to the model; the rest is cut with a note saying so."""
    max_conversation_bytes: int = Field(default=768 * 1024, ge=16 * 1024, le=1536 * 1024)
    """Largest conversation sent to the model in one request (it rides in the model
    activity's input): older tool results and answers are elided past it."""
    continue_as_new_after_events: int = Field(default=4000, ge=200)
    """History length after which a long agent run continues as new between two steps,
    with its conversation carried (Temporal's limit is 50,000 events or 50 MB)."""
    tool_timeout: timedelta = timedelta(minutes=5)
    """Start-to-close timeout of one tool call."""
    model_attempts: int = Field(default=6, ge=1)
    """Attempts of one model call (rate limits, 5xx, cut streams, a lost ai-worker)."""
    price_table: Path | None = None
    """JSON file of ``"provider:model": {"input_usd_per_mtok", "output_usd_per_mtok"}``,
    for ``budget.max_cost_usd``; models not in it are priced by the genai-prices package."""
    mcp_config: Path | None = Field(default=None, validation_alias="STIGMA_MCP_CONFIG")
    """The operator's MCP servers (``mcpServers`` JSON), the same file the ai-worker reads."""

    @model_validator(mode="after")
    def _beats_in_flight_in_order(self) -> OrchestratorSettings:
        if self.keeper_beats_in_flight_max < self.keeper_beats_in_flight_min:
            raise ValueError(
                "STIGMA_ORCHESTRATOR_KEEPER_BEATS_IN_FLIGHT_MAX "
                f"({self.keeper_beats_in_flight_max}) is below its _MIN "
                f"({self.keeper_beats_in_flight_min})"
            )
        return self
