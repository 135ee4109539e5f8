"""The gRPC channel to stigma-api: plaintext, TLS, or mTLS with a client certificate; and
the caller's credential (an API key or a JWT) on every call (docs/adr/0014).

Several stigma-api replicas are reached by client-side load balancing: calls go round robin
over every address the target names, and only to those whose gRPC health check says
SERVING, so a replica draining on SIGTERM (NOT_SERVING first) stops getting new calls
before it stops (docs/scaling.md).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from service_kit import SettingsLoadError
from stigma_wire import CallerCredentials, CredentialsError, credential_interceptors

# gRPC's reconnect backoff grows to 120 s by default: after a long stigma-api outage
# CallAgent retries would keep failing fast for minutes after it is back. Cap it.
RECONNECT: list[tuple[str, str | int]] = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
# Round robin over the healthy addresses (the health check is gRPC's own Health/Watch on
# the server's overall status, which stigma-api serves without credentials).
BALANCING: list[tuple[str, str | int]] = [
    (
        "grpc.service_config",
        json.dumps(
            {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}
        ),
    ),
]


def channel_target(address: str) -> str:
    """ZIGFLOW_STIGMA_ADDRESS as a gRPC target.

    Accepted: one ``host:port``; a gRPC target URI such as ``dns:///stigma-api:50051``
    (every address the name resolves to: a headless Kubernetes Service, a compose service
    with replicas) or ``ipv4:10.0.0.1:50051,10.0.0.2:50051``; or a comma-separated list of
    ``ip:port``, turned into such a URI. A list of host names is refused: name one host
    that resolves to them all instead (gRPC resolves one name per target).
    """
    address = address.strip()
    if "," not in address or ":/" in address or address.startswith(("ipv4:", "ipv6:")):
        return address
    entries = [entry.strip() for entry in address.split(",")]
    families: set[str] = set()
    for entry in entries:
        host, _, port = entry.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        try:
            families.add("ipv6" if ipaddress.ip_address(host).version == 6 else "ipv4")
        except ValueError:
            raise SettingsLoadError(
                f"ZIGFLOW_STIGMA_ADDRESS: {entry!r} in a list must be an IP address and port "
                "(a list of names is not resolved: use dns:///<one name>:<port>)"
            ) from None
        if not port.isdigit():
            raise SettingsLoadError(f"ZIGFLOW_STIGMA_ADDRESS: {entry!r} has no port")
    if len(families) > 1:
        raise SettingsLoadError("ZIGFLOW_STIGMA_ADDRESS: a list mixes IPv4 and IPv6 addresses")
    return f"{families.pop()}:{','.join(entries)}"


@dataclass(frozen=True)
class StigmaTls:
    """How the channel to stigma-api is secured (ZIGFLOW_STIGMA_TLS_* settings)."""

    enabled: bool = False
    """TLS with the system's root certificates (implied by any path below)."""
    ca_path: str = ""
    """PEM CA bundle that signed stigma-api's certificate."""
    cert_path: str = ""
    """PEM client certificate, for servers that require mTLS."""
    key_path: str = ""
    """PEM private key of the client certificate."""
    server_name: str = ""
    """Expected name in the server certificate when it differs from the address's host."""

    @property
    def on(self) -> bool:
        return self.enabled or bool(self.ca_path or self.cert_path or self.key_path)


def _read(variable: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise SettingsLoadError(f"{variable}: cannot read {path!r}: {err.strerror}") from None


def stigma_channel(
    address: str,
    tls: StigmaTls,
    *,
    credentials: CallerCredentials | None = None,
    interceptors: Sequence[Any] = (),
) -> grpc.aio.Channel:
    """Open the channel (use it as an async context manager); ``credentials`` go with
    every call; ``interceptors`` are more grpc.aio client interceptors (tracing)."""
    try:
        with_credentials = credential_interceptors(credentials or CallerCredentials())
    except CredentialsError as err:
        raise SettingsLoadError(str(err)) from None
    interceptors = [*interceptors, *with_credentials]
    if not tls.on:
        return grpc.aio.insecure_channel(
            channel_target(address),
            options=[*RECONNECT, *BALANCING],
            interceptors=interceptors or None,
        )
    if bool(tls.cert_path) != bool(tls.key_path):
        raise SettingsLoadError(
            "ZIGFLOW_STIGMA_TLS_CERT_PATH and ZIGFLOW_STIGMA_TLS_KEY_PATH must be set together"
        )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read("ZIGFLOW_STIGMA_TLS_CA_PATH", tls.ca_path) if tls.ca_path else None,
        private_key=_read("ZIGFLOW_STIGMA_TLS_KEY_PATH", tls.key_path) if tls.key_path else None,
        certificate_chain=(
            _read("ZIGFLOW_STIGMA_TLS_CERT_PATH", tls.cert_path) if tls.cert_path else None
        ),
    )
    options: list[tuple[str, str | int]] = (
        [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
    )
    return grpc.aio.secure_channel(
        channel_target(address),
        credentials,
        options=[*RECONNECT, *BALANCING, *options],
        interceptors=interceptors or None,
    )
