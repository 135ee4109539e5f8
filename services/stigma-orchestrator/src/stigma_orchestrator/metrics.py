"""The orchestrator's own Prometheus metrics (the Temporal SDK's are served beside them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service_kit import LATENCY_BUCKETS

DELIVERY_OUTCOMES = ("completed", "failed", "cancelled", "stale", "refused", "error")
HEARTBEAT_RESULTS = ("ok", "cancel_requested", "gone", "error")
KEEPER_RPCS = ("heartbeat", "check", "progress", "list", "describe", "signal", "fail")
# Beats start within milliseconds of their due time on a keeper that keeps up; seconds
# late means the callers are a stall away from their heartbeat timeout.
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0)


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
        self.keeper_beat_limit = Gauge(
            "stigma_keeper_beat_limit",
            "Caller heartbeats a keeper may have in flight at once, by shard: its callers' "
            "beats per second times the latency of a beat, doubled, within 64 to 1024",
            ["shard"],
            registry=registry,
        )
        self.keeper_beat_lateness = Histogram(
            "stigma_keeper_beat_lateness_seconds",
            "How long after it came due a caller's beat started. A third of the caller's "
            "heartbeat timeout late, a beat is one of two left before the caller times out",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        for rpc in KEEPER_RPCS:
            self.keeper_rpcs.labels(rpc)
        for outcome in DELIVERY_OUTCOMES:
            self.deliveries.labels(outcome)
        for result in HEARTBEAT_RESULTS:
            self.heartbeats.labels(result)
