"""Process bootstrap shared by the four services.

Every service starts the same way: read its settings, configure JSON logging,
start telemetry, connect to Temporal from the standard ``TEMPORAL_*`` variables,
and stop cleanly on SIGTERM. This package holds that sequence once.
"""

from service_kit._entry import run_service
from service_kit._exit import EXIT_INTERNAL, EXIT_INTERRUPTED, exit_process, run_cli
from service_kit._lifecycle import wait_for_shutdown
from service_kit._logs import configure_logging, log_context
from service_kit._metrics import LATENCY_BUCKETS, Metrics
from service_kit._settings import ServiceSettings, SettingsLoadError, load_settings
from service_kit._telemetry import Telemetry
from service_kit._temporal import TemporalConnectionError, connect_temporal, temporal_namespace
from service_kit._versioning import (
    DeploymentVersion,
    become_current_if_first,
    current_build_id,
    make_current,
)
from service_kit._visibility import (
    PendingGaugeNames,
    PendingGauges,
    PendingPublisher,
    PendingReader,
    PendingReading,
    SearchAttributesMissing,
    ensure_search_attributes,
)

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "LATENCY_BUCKETS",
    "DeploymentVersion",
    "Metrics",
    "PendingGaugeNames",
    "PendingGauges",
    "PendingPublisher",
    "PendingReader",
    "PendingReading",
    "SearchAttributesMissing",
    "ServiceSettings",
    "SettingsLoadError",
    "Telemetry",
    "TemporalConnectionError",
    "become_current_if_first",
    "configure_logging",
    "connect_temporal",
    "current_build_id",
    "ensure_search_attributes",
    "exit_process",
    "load_settings",
    "log_context",
    "make_current",
    "run_cli",
    "run_service",
    "temporal_namespace",
    "wait_for_shutdown",
]
