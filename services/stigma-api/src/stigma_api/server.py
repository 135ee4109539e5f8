from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from callback_token import CallbackVerifier
from service_kit import Telemetry, connect_temporal, temporal_namespace, wait_for_shutdown
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma_api.admission import Admission
from stigma_api.auth import Authenticator, AuthInterceptor
from stigma_api.auth.setup import authenticator
from stigma_api.decoding import RequestDecodingInterceptor
from stigma_api.executions import Executions
from stigma_api.metrics import ApiMetrics, StartAgentMetricsInterceptor, pending_calls_reader
from stigma_api.quotas import TenantQuotas, tenant_quotas
from stigma_api.servicer import AgentService
from stigma_api.settings import ApiSettings
from stigma_api.start_attributes import ensure_start_attributes
from stigma_api.tls import server_credentials
from stigma_api.validation import Limits, mcp_server_names

logger = logging.getLogger(__name__)

SERVICE_NAME = agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name


def _loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


async def serve(settings: ApiSettings) -> None:
    """Serve AgentService until SIGTERM, then drain: NOT_SERVING first, then stop with grace."""
    credentials = server_credentials(settings)  # fail fast on bad TLS settings
    async with authenticator(settings) as callers:  # fail fast on bad auth settings
        await _serve(settings, credentials, callers)


async def _serve(
    settings: ApiSettings, credentials: grpc.ServerCredentials | None, callers: Authenticator
) -> None:
    async with Telemetry(
        service="stigma-api",
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host,
    ) as telemetry:
        client = await connect_temporal(
            interceptors=telemetry.temporal_interceptors(), runtime=telemetry.runtime
        )
        await ensure_start_attributes(client)
        metrics = ApiMetrics(telemetry.registry)
        pending = pending_calls_reader(client, metrics, interval=settings.pending_poll_interval)
        namespaces = settings.namespaces(default=temporal_namespace())
        default_quota, quota_overrides = tenant_quotas(settings)
        service = AgentService(
            executions=Executions(
                client,
                admission=Admission(
                    client,
                    limit=settings.max_running_executions,
                    refresh=settings.admission_refresh,
                ),
                quotas=TenantQuotas(
                    client,
                    default=default_quota,
                    overrides=quota_overrides,
                    refresh=settings.admission_refresh,
                ),
            ),
            verifier=CallbackVerifier(
                settings.keyring,
                namespaces=namespaces,
                accept_unbound=settings.accept_unbound_tokens,
            ),
            limits=Limits(
                providers=settings.provider_names,
                max_input_bytes=settings.max_input_bytes,
                max_parameters=settings.max_parameters,
                max_parameter_bytes=settings.max_parameter_bytes,
                max_steps=settings.max_steps_limit,
                max_spec_bytes=settings.max_spec_bytes,
                mcp_servers=mcp_server_names(settings.mcp_config),
            ),
            watch_interval=settings.watch_poll_interval,
            on_token_rejected=metrics.rejected,
            on_unbound_token=metrics.unbound_accepted.inc,
        )
        server = grpc.aio.server(
            interceptors=[
                # First: a request that does not decode is refused before anything else runs.
                RequestDecodingInterceptor(),
                *telemetry.grpc_server_interceptors(),
                StartAgentMetricsInterceptor(metrics),
                AuthInterceptor(callers, on_refused=metrics.auth_refused),
            ]
        )
        agent_pb2_grpc.add_AgentServiceServicer_to_server(service, server)  # type: ignore[no-untyped-call]
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        if settings.reflection:
            reflection.enable_server_reflection(
                (
                    SERVICE_NAME,
                    health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                    reflection.SERVICE_NAME,
                ),
                server,
            )
        if credentials is None:
            port = server.add_insecure_port(settings.listen_address)
        else:
            port = server.add_secure_port(settings.listen_address, credentials)
        if port == 0:
            raise OSError(f"STIGMA_API_LISTEN_ADDRESS {settings.listen_address!r} cannot be bound")
        await server.start()
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        logger.info(
            "stigma-api serving on %s (%s; callback namespaces: %s, key ids: %s)",
            settings.listen_address,
            "plaintext"
            if credentials is None
            else ("mTLS" if settings.tls_client_ca_path else "TLS"),
            ", ".join(sorted(namespaces)),
            ", ".join(settings.keyring),
        )
        logger.info(
            "callers authenticate with %s%s; reflection %s",
            " or ".join(callers.mechanisms) or "nothing",
            f"; anonymous callers are tenant {callers.anonymous.tenant}"
            if callers.anonymous is not None
            else "",
            "on" if settings.reflection else "off",
        )
        if credentials is None and not _loopback(settings.listen_address):
            logger.warning(
                "stigma-api serves %s in plaintext: callers' API keys and JWTs cross the "
                "network readable; serve TLS (STIGMA_API_TLS_CERT_PATH, _KEY_PATH)",
                settings.listen_address,
            )
        reader = asyncio.create_task(pending.run())
        try:
            await wait_for_shutdown()
        finally:
            reader.cancel()
            await health_servicer.enter_graceful_shutdown()
            await server.stop(settings.graceful_shutdown.total_seconds())
