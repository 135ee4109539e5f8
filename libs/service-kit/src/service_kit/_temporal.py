from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, Interceptor, Plugin
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"


class TemporalConnectionError(ConnectionError):
    """Temporal is unreachable or refused the connection settings."""


def _connect_config() -> dict[str, Any]:
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", DEFAULT_ADDRESS)
    config.setdefault("namespace", DEFAULT_NAMESPACE)
    return config


def temporal_namespace() -> str:
    """The namespace the TEMPORAL_* settings name (default ``default``)."""
    return str(_connect_config()["namespace"])


async def connect_temporal(
    *,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
    plugins: Sequence[Plugin] = (),
) -> Client:
    """Connect with the standard TEMPORAL_* settings (address, namespace, TLS, API key).

    ``plugins``: Temporal client plugins (the agent's workers pass Pydantic AI's, which
    brings its payload converter and sandbox settings).
    """
    config = _connect_config()
    try:
        return await Client.connect(
            **config, interceptors=interceptors, runtime=runtime, plugins=plugins, lazy=False
        )
    except RuntimeError as err:
        raise TemporalConnectionError(
            f"cannot connect to Temporal at {config['target_host']} "
            f"(namespace {config['namespace']!r}; set TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE): {err}"
        ) from err
