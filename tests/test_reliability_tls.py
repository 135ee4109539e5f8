"""Transport security: stigma-api serves mTLS when configured, and its clients follow.

Certificates are generated at test time. The whole stack runs with mTLS here: the
zigflow-worker's channel presents its client certificate, which is also its identity
(STIGMA_API_TLS_CLIENT_PRINCIPALS maps its name to the worker's principal; it sends no
API key), and the handshake works end to end; clients without a trusted certificate are
refused, and a trusted certificate that names no principal is UNAUTHENTICATED.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from devstack import LocalStack
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from tests.reliability_support import Certificates, make_certificates, own_stack
from tests.support import start_dsl, unique
from zigflow.stigma_channel import StigmaTls, stigma_channel

SPEC = agent_pb2.AgentSpec(name="tls", input="over mTLS", model="scripted:upper")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="module")
async def tls_stack(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> AsyncIterator[LocalStack]:
    async with own_stack(
        tmp_path_factory.mktemp("tls-stack"),
        service_env={
            "stigma-api": {
                "STIGMA_API_TLS_CERT_PATH": str(certificates.server_cert),
                "STIGMA_API_TLS_KEY_PATH": str(certificates.server_key),
                "STIGMA_API_TLS_CLIENT_CA_PATH": str(certificates.ca),
                # The client certificate's common name is the worker's identity.
                "STIGMA_API_TLS_CLIENT_PRINCIPALS": "zigflow-worker:default::zigflow-worker",
            },
            "zigflow-worker": {
                "ZIGFLOW_STIGMA_TLS_CA_PATH": str(certificates.ca),
                "ZIGFLOW_STIGMA_TLS_CERT_PATH": str(certificates.client_cert),
                "ZIGFLOW_STIGMA_TLS_KEY_PATH": str(certificates.client_key),
                "ZIGFLOW_STIGMA_API_KEY_FILE": "",  # the certificate is the credential
            },
        },
    ) as stack:
        yield stack


async def _start(address: str, tls: StigmaTls | None) -> agent_pb2.StartAgentResponse:
    channel = grpc.aio.insecure_channel(address) if tls is None else stigma_channel(address, tls)
    async with channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
        response: agent_pb2.StartAgentResponse = await stub.StartAgent(
            agent_pb2.StartAgentRequest(request_id=unique("tls"), spec=SPEC), timeout=5
        )
        return response


async def test_the_handshake_runs_over_mtls(tls_stack: LocalStack) -> None:
    caller = await start_dsl(
        tls_stack.client, "agent-call", {"input": "sealed", "model": "scripted:upper"}
    )
    result: dict[str, Any] = await caller.result()
    assert result["output"] == "SEALED"


async def test_a_trusted_certificate_mapped_to_no_principal_is_unauthenticated(
    tls_stack: LocalStack, certificates: Certificates
) -> None:
    tls = StigmaTls(
        ca_path=str(certificates.ca),
        cert_path=str(certificates.unmapped_cert),
        key_path=str(certificates.unmapped_key),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _start(tls_stack.stigma_address, tls)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == (
        "the client certificate (somebody-else) is not mapped to a principal in "
        "STIGMA_API_TLS_CLIENT_PRINCIPALS"
    )


async def test_a_client_with_the_certificate_is_served(
    tls_stack: LocalStack, certificates: Certificates
) -> None:
    tls = StigmaTls(
        ca_path=str(certificates.ca),
        cert_path=str(certificates.client_cert),
        key_path=str(certificates.client_key),
    )
    response = await _start(tls_stack.stigma_address, tls)
    assert response.accepted


@pytest.mark.parametrize(
    "client", ["plaintext", "tls without a certificate", "untrusted certificate"]
)
async def test_a_client_without_a_trusted_certificate_is_refused(
    client: str, tls_stack: LocalStack, certificates: Certificates
) -> None:
    tls = {
        "plaintext": None,
        "tls without a certificate": StigmaTls(ca_path=str(certificates.ca)),
        "untrusted certificate": StigmaTls(
            ca_path=str(certificates.ca),
            cert_path=str(certificates.stranger_cert),
            key_path=str(certificates.stranger_key),
        ),
    }[client]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _start(tls_stack.stigma_address, tls)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
