"""Container health probe: ``python -m service_kit.healthcheck`` (the images' HEALTHCHECK).

What it checks comes from ``HEALTHCHECK_TARGET``:

- ``grpc:<host:port>``: grpc.health.v1 ``Check("")`` answers SERVING (stigma-api; it goes
  NOT_SERVING as soon as a graceful shutdown starts).
- ``pollers:<host:port>``: the service's /metrics endpoint answers and the Temporal SDK
  reports at least one live poller (``temporal_num_pollers`` > 0), i.e. the worker is
  connected to Temporal and polling its task queue, not merely alive.

Exit code 0 healthy, 1 unhealthy (the reason on stderr), as Docker expects. Standard library
only (plus grpc for the gRPC probe), so a probe costs one short interpreter start.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

POLLERS_METRIC = "temporal_num_pollers"


class Unhealthy(Exception):
    """The probe's answer was not healthy; the message says why."""


def check_grpc(address: str, *, timeout: float = 3.0) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError as err:
            raise Unhealthy(f"grpc health on {address}: {err.code()}") from None
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        raise Unhealthy(f"grpc health on {address}: status {reply.status}")


def live_pollers(exposition: str) -> float:
    """Sum of ``temporal_num_pollers`` samples in a Prometheus text exposition."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith(POLLERS_METRIC) and not line.startswith(f"{POLLERS_METRIC}_"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def check_pollers(address: str, *, timeout: float = 3.0) -> None:
    url = f"http://{address}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            body = reply.read().decode()
    except (urllib.error.URLError, OSError) as err:
        raise Unhealthy(f"{url}: {err}") from None
    if live_pollers(body) <= 0:
        raise Unhealthy(f"{url}: no live Temporal poller ({POLLERS_METRIC} is 0 or absent)")


def main() -> int:
    target = os.environ.get("HEALTHCHECK_TARGET", "")
    kind, _, address = target.partition(":")
    checks = {"grpc": check_grpc, "pollers": check_pollers}
    if kind not in checks or not address:
        print(f"HEALTHCHECK_TARGET must be grpc:<host:port> or pollers:<host:port>, got {target!r}",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        checks[kind](address)
    except Unhealthy as err:
        print(f"unhealthy: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
