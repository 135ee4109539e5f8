"""The whole system as local processes: a Temporal dev server and the four services.

``make up``, ``make demo`` and the integration tests all start the stack through
``LocalStack``, so what the tests prove is what a newcomer runs.
"""

from devstack._processes import ServiceProcess, StartupError
from devstack._stack import SERVICES, LocalStack, StackConfig
from devstack._temporal import TemporalDevServer, free_port

__all__ = [
    "SERVICES",
    "LocalStack",
    "ServiceProcess",
    "StackConfig",
    "StartupError",
    "TemporalDevServer",
    "free_port",
]
