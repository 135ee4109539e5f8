"""The orchestrator's own Prometheus metrics (the Temporal SDK's are served beside them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service_kit import LATENCY_BUCKETS

DELIVERY_OUTCOMES = ("completed", "failed", "cancelled", "stale", "refused", "error")
HEARTBEAT_RESULTS = ("ok", "cancel_requested", "gone", "error")
KEEPER_RPCS = ("heartbeat", "check", "progress", "list", "describe", "signal", "fail")


class OrchestratorMetrics:
    """Callback deliveries and caller heartbeats, as the operator's dashboards show them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "stigma_callback_deliveries",
            "Callback delivery attempts by outcome: completed, failed and cancelled reached "
            "the caller; stale means the caller was gone; refused means the signed target "
            "is not a CallAgent activity (nothing done); error will be retried",
            ["outcome"],
            registry=registry,
        )
        self.delivery_latency = Histogram(
            "stigma_callback_delivery_latency_seconds",
            "From the agent's end to the caller's activity being completed/failed/cancelled",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.heartbeats = Counter(
            "stigma_caller_heartbeats",
            "Heartbeats sent to callers' pending activities, by result",
            ["result"],
            registry=registry,
        )
        self.kept_callers = Gauge(
            "stigma_kept_callers",
            "Pending callers a keeper activity of this process beats, by shard (revision-4 "
            "runs; docs/adr/0020)",
            ["shard"],
            registry=registry,
        )
        self.keeper_rpcs = Counter(
            "stigma_keeper_rpcs",
            "Temporal RPCs the caller keepers of this process made, by kind: heartbeat (a "
            "caller's beat), check and progress (DescribeWorkflowExecution of a new caller, "
            "of a run's streaming step), list (a page of a listing), describe (a run whose "
            "caller is gone), signal (a report to a run), fail (an orphaned caller)",
            ["rpc"],
            registry=registry,
        )
        for rpc in KEEPER_RPCS:
            self.keeper_rpcs.labels(rpc)
        for outcome in DELIVERY_OUTCOMES:
            self.deliveries.labels(outcome)
        for result in HEARTBEAT_RESULTS:
            self.heartbeats.labels(result)
