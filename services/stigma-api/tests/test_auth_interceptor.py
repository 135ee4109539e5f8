"""The interceptor on a real grpc.aio server: health stays open, every AgentService call
needs a credential, and mTLS identities map to principals. Clients send their credential
through stigma_wire's interceptors, as the zigflow-worker and stigmactl do."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma_api.auth import (
    ApiKeys,
    Authenticator,
    AuthInterceptor,
    CertificatePrincipals,
    Mechanism,
    Principal,
    Refusal,
    current_principal,
)
from stigma_wire import CallerCredentials, credential_interceptors

KEY = "alice-key-0123456789"
KEYS = ApiKeys.parse(f"alice:acme::{KEY},ops:acme:operator:ops-key-0123456789", source="T")


class WhoAmI(agent_pb2_grpc.AgentServiceServicer):
    """Answers with the principal the interceptor authenticated."""

    async def GetExecution(self, request: Any, context: Any) -> agent_pb2.GetExecutionResponse:
        who = current_principal()
        return agent_pb2.GetExecutionResponse(
            execution=agent_pb2.Execution(execution_id=who.describe())
        )

    async def WatchExecution(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for _ in range(2):
            yield agent_pb2.WatchExecutionResponse(
                execution=agent_pb2.Execution(execution_id=current_principal().name)
            )


@dataclass
class Pki:
    ca: bytes
    server: tuple[bytes, bytes]
    """(key, certificate) PEM."""
    mapped: tuple[bytes, bytes]
    """A client certificate with a SPIFFE id mapped to a principal."""
    unmapped: tuple[bytes, bytes]
    """A client certificate the CA signed, whose identity nobody mapped."""


def _pem(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[bytes, bytes]:
    return (
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert.public_bytes(serialization.Encoding.PEM),
    )


def _certificate(
    name: str,
    issuer: tuple[ec.EllipticCurvePrivateKey, x509.Name] | None,
    alt_names: list[x509.GeneralName],
    *,
    ca: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer, issuer_name = issuer if issuer is not None else (key, subject)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return key, builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_key, ca_cert = _certificate("test CA", None, [], ca=True)
    issuer = (ca_key, ca_cert.subject)
    server = _certificate("stigma-api", issuer, [x509.DNSName("localhost")])
    mapped = _certificate(
        "worker", issuer, [x509.UniformResourceIdentifier("spiffe://example.test/zigflow")]
    )
    unmapped = _certificate("stranger", issuer, [x509.DNSName("stranger.example.test")])
    return Pki(
        ca=ca_cert.public_bytes(serialization.Encoding.PEM),
        server=_pem(*server),
        mapped=_pem(*mapped),
        unmapped=_pem(*unmapped),
    )


async def _server(
    authenticator: Authenticator, credentials: grpc.ServerCredentials | None = None
) -> tuple[grpc.aio.Server, int, list[Refusal]]:
    refusals: list[Refusal] = []
    server = grpc.aio.server(
        interceptors=[AuthInterceptor(authenticator, on_refused=refusals.append)]
    )
    agent_pb2_grpc.add_AgentServiceServicer_to_server(WhoAmI(), server)  # type: ignore[no-untyped-call]
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    return server, port, refusals


async def _who(channel: grpc.aio.Channel, **call: Any) -> str:
    stub = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
    reply = await stub.GetExecution(agent_pb2.GetExecutionRequest(execution_id="agent-x"), **call)
    return str(reply.execution.execution_id)


async def _refusal(channel: grpc.aio.Channel, **call: Any) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _who(channel, **call)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    return caught.value.details() or ""


async def test_health_is_open_and_everything_else_needs_a_credential() -> None:
    server, port, refusals = await _server(Authenticator(api_keys=KEYS))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            assert await _refusal(channel) == "no credentials: send an API key in 'x-api-key'"
            stub = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.aio.AioRpcError) as streamed:
                async for _ in stub.WatchExecution(agent_pb2.WatchExecutionRequest()):
                    pass
            assert streamed.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert refusals == [Refusal.MISSING, Refusal.MISSING]
    finally:
        await server.stop(0)


async def test_the_client_interceptors_send_the_key_on_unary_and_streaming_calls(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    server, port, _ = await _server(Authenticator(api_keys=KEYS))
    try:
        interceptors = credential_interceptors(CallerCredentials(api_key_file=str(key_file)))
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", interceptors=interceptors
        ) as channel:
            assert await _who(channel) == "alice@acme via api_key"
            stub = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
            names = [
                update.execution.execution_id
                async for update in stub.WatchExecution(agent_pb2.WatchExecutionRequest())
            ]
            assert names == ["alice", "alice"]
    finally:
        await server.stop(0)


@pytest.mark.parametrize(
    ("metadata", "reason", "message"),
    [
        ((("x-api-key", "wrong-key-0123456789"),), Refusal.API_KEY, "'x-api-key': unknown API key"),
        (
            (("x-api-key", KEY), ("authorization", "Bearer a.b.c")),
            Refusal.AMBIGUOUS,
            "send one credential: either 'x-api-key' or 'authorization', once",
        ),
        (
            (("authorization", "Bearer a.b.c"),),
            Refusal.NOT_ACCEPTED,
            "bearer tokens are not accepted here (STIGMA_API_JWT_* is not configured)",
        ),
        ((("authorization", "Basic YTpi"),), Refusal.JWT, "'authorization' must be 'Bearer <JWT>'"),
    ],
)
async def test_a_wrong_credential_is_refused_saying_what_without_echoing_it(
    metadata: tuple[tuple[str, str], ...], reason: Refusal, message: str
) -> None:
    server, port, refusals = await _server(
        Authenticator(api_keys=KEYS, anonymous=Principal("anonymous", "public"))
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            details = await _refusal(channel, metadata=metadata)
        assert details == message
        assert refusals == [reason]  # a wrong credential never falls back to anonymous
        for _, value in metadata:
            assert value.removeprefix("Bearer ") not in details
    finally:
        await server.stop(0)


async def test_anonymous_callers_are_served_only_when_allowed() -> None:
    anonymous = Principal("anonymous", "public", mechanism=Mechanism.ANONYMOUS)
    server, port, _ = await _server(Authenticator(api_keys=KEYS, anonymous=anonymous))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await _who(channel) == "anonymous@public via anonymous"
            assert await _who(channel, metadata=(("x-api-key", KEY),)) == "alice@acme via api_key"
    finally:
        await server.stop(0)


async def test_a_client_certificate_maps_to_its_principal_only_when_mapped(pki: Pki) -> None:
    certificates = CertificatePrincipals.parse(
        "zigflow-worker:acme::spiffe://example.test/zigflow", source="T"
    )
    credentials = grpc.ssl_server_credentials(
        [pki.server], root_certificates=pki.ca, require_client_auth=True
    )
    server, port, refusals = await _server(
        Authenticator(api_keys=KEYS, certificates=certificates), credentials
    )
    options = [("grpc.ssl_target_name_override", "localhost")]

    def channel(client: tuple[bytes, bytes]) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(
            f"127.0.0.1:{port}",
            grpc.ssl_channel_credentials(
                pki.ca, private_key=client[0], certificate_chain=client[1]
            ),
            options=options,
        )

    try:
        async with channel(pki.mapped) as mapped:
            assert await _who(mapped) == "zigflow-worker@acme via mtls"
            # An explicit credential decides over the certificate.
            assert await _who(mapped, metadata=(("x-api-key", KEY),)) == "alice@acme via api_key"
        async with channel(pki.unmapped) as unmapped:
            details = await _refusal(unmapped)
        assert details == (
            "the client certificate (stranger.example.test, stranger) is not mapped to a "
            "principal in STIGMA_API_TLS_CLIENT_PRINCIPALS"
        )
        assert refusals == [Refusal.CERTIFICATE]
    finally:
        await server.stop(0)
