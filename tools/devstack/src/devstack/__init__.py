"""The whole system as local processes: a Temporal dev server and the four services.

``make up``, ``make demo`` and the integration tests all start the stack through
``LocalStack``, so what the tests prove is what a newcomer runs. ``make up`` and ``make demo``
add ``LocalPhoenix``, the trace viewer the services export their spans to.
"""

from devstack._alerting import (
    DEFAULT_RUNBOOK_BASE_URL,
    RULE_FILES,
    duration_seconds,
    render_rules,
    write_rules,
)
from devstack._credentials import OPERATOR, ZIGFLOW_WORKER, ApiPrincipal, StackKeys
from devstack._lifecycle import Startable
from devstack._phoenix import LocalPhoenix, PhoenixSpan, PhoenixTrace
from devstack._processes import ServiceProcess, StartupError
from devstack._prometheus import LocalPrometheus, prometheus_config
from devstack._stack import REPO_ROOT, SERVICES, LocalStack, StackConfig, fixed_metrics_ports
from devstack._temporal import TemporalDevServer, free_port

__all__ = [
    "DEFAULT_RUNBOOK_BASE_URL",
    "OPERATOR",
    "REPO_ROOT",
    "RULE_FILES",
    "SERVICES",
    "ZIGFLOW_WORKER",
    "ApiPrincipal",
    "LocalPhoenix",
    "LocalPrometheus",
    "LocalStack",
    "PhoenixSpan",
    "PhoenixTrace",
    "ServiceProcess",
    "StackConfig",
    "StackKeys",
    "Startable",
    "StartupError",
    "TemporalDevServer",
    "duration_seconds",
    "fixed_metrics_ports",
    "free_port",
    "prometheus_config",
    "render_rules",
    "write_rules",
]
