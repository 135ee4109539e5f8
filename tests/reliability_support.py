"""Helpers of the reliability tests: their own stacks, agent-run ledgers, certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowHandle

from agent_contract import AGENT_WORKFLOW, MODEL_REQUEST_ACTIVITIES, STATUS_QUERY, ExecutionStatus
from devstack import LocalStack, StackConfig
from tests.support import eventually, stage_workflows

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


@asynccontextmanager
async def own_stack(
    state: Path,
    *,
    service_env: Mapping[str, Mapping[str, str]] = {},
    replicas: Mapping[str, int] = {},
) -> AsyncIterator[LocalStack]:
    """A stack of its own for tests that kill or restart things (the session one stays whole)."""
    workflows = stage_workflows(state)
    env: dict[str, dict[str, str]] = {
        "zigflow-worker": {"ZIGFLOW_MAX_CONCURRENT_ACTIVITIES": "1"},
    }
    for name, values in service_env.items():
        env.setdefault(name, {}).update(values)
    config = StackConfig(
        state_dir=state,
        workflows_dir=workflows,
        headless=True,
        service_env=env,
        replicas=replicas,
    )
    async with LocalStack(config) as running:
        yield running


async def agent_runs(client: Client, caller_id: str) -> list[str]:
    """Every agent workflow Temporal knows for the calls of one caller workflow."""
    query = f"WorkflowType = '{AGENT_WORKFLOW}' AND WorkflowId STARTS_WITH 'agent-{caller_id}/'"
    return [execution.id async for execution in client.list_workflows(query)]


async def agent_of(
    client: Client, caller_id: str, *, within: float = 30.0
) -> WorkflowHandle[Any, Any]:
    """The one agent run of a caller, once it exists."""
    found: list[str] = []

    async def started() -> bool:
        found[:] = await agent_runs(client, caller_id)
        return bool(found)

    await eventually(started, within=within)
    (workflow_id,) = found
    return client.get_workflow_handle(workflow_id)


async def status_of(handle: WorkflowHandle[Any, Any]) -> ExecutionStatus:
    status: ExecutionStatus = await handle.query(STATUS_QUERY, result_type=ExecutionStatus)
    return status


async def running_step(handle: WorkflowHandle[Any, Any]) -> PendingActivityInfo | None:
    """The agent's model call (its activity) while a worker runs it."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if (
            pending.activity_type.name in MODEL_REQUEST_ACTIVITIES
            and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        ):
            return pending
    return None


async def agent_stepping(client: Client, caller_id: str) -> WorkflowHandle[Any, Any]:
    """The one agent run of a caller, once its model call runs on a worker."""
    agent = await agent_of(client, caller_id)

    async def step_started() -> bool:
        return await running_step(agent) is not None

    await eventually(step_started)
    return agent


async def pending_call(handle: WorkflowHandle[Any, Any]) -> PendingActivityInfo | None:
    """The caller's pending CallAgent activity."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name == "CallAgent":
            return pending
    return None


@dataclass(frozen=True)
class Certificates:
    """PEM files for TLS tests, made at test time (nothing secret is committed)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    """A client certificate signed by a CA the server does not trust."""
    stranger_key: Path
    unmapped_cert: Path
    """A client certificate the trusted CA signed for a name no principal is mapped to."""
    unmapped_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert, key


def _leaf(
    common_name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    *,
    server: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer[1], hashes.SHA256()), key


def _write(
    folder: Path, stem: str, pair: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}-key.pem"
    cert_path.write_bytes(pair[0].public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        pair[1].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def make_certificates(folder: Path) -> Certificates:
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate it
    signed, and a client certificate from an unrelated CA."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca("agent-handshake test CA")
    stranger_ca = _ca("someone else's CA")
    ca_path, _ = _write(folder, "ca", ca)
    server_cert, server_key = _write(folder, "server", _leaf("stigma-api", ca, server=True))
    client_cert, client_key = _write(folder, "client", _leaf("zigflow-worker", ca, server=False))
    stranger_cert, stranger_key = _write(
        folder, "stranger", _leaf("zigflow-worker", stranger_ca, server=False)
    )
    unmapped_cert, unmapped_key = _write(
        folder, "unmapped", _leaf("somebody-else", ca, server=False)
    )
    return Certificates(
        ca=ca_path,
        server_cert=server_cert,
        server_key=server_key,
        client_cert=client_cert,
        client_key=client_key,
        stranger_cert=stranger_cert,
        stranger_key=stranger_key,
        unmapped_cert=unmapped_cert,
        unmapped_key=unmapped_key,
    )
