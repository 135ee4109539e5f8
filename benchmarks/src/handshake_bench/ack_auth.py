"""Issue 13: what caller authentication costs the StartAgent ACK, and where the ACK's time goes.

- JWT against none: the same stigma-api serves anonymous callers (the "none" side) and
  callers with a bearer JWT from the benchmark's identity provider; rounds alternate
  (ABBA), one caller at a time and 100 at once, so a slow spell weighs on both sides.
- Everything on: 100 concurrent callers, each with a JWT, a signed callback token bound to
  its request (the verifier's checks) and its tenant's quotas evaluated (never reached).
- Where the time goes: the server's own handling time (its StartAgent histogram) against
  the round trip, a bare StartWorkflowExecution from this process at the same concurrency
  (the floor under any ACK that starts a run), stigma-api's CPU per ACK, and the
  in-process cost of each check (JWT, API key, callback token, spec validation).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from temporalio.client import Client

from agent_contract import MODEL_PROVIDERS, caller_request_id
from callback_token import CallbackSigner, CallbackVerifier, KeyRing
from devstack import LocalStack
from handshake_bench import probes
from handshake_bench.stats import summary
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma_api.auth import ApiKeys, FileJwks, JwksCache, JwtRules, JwtVerifier
from stigma_api.validation import Limits, validate_start
from stigma_wire import CallerCredentials
from zigflow.stigma_channel import StigmaTls, stigma_channel

ISSUER = "https://bench.agent-handshake.test/"
AUDIENCE = "stigma-api"
BENCH_TENANT = "bench"
CONCURRENT = 100
SPEC = agent_pb2.AgentSpec(name="ack", input="ack", model="scripted:echo")
BARE_WORKFLOW = "BenchBareStart"
BARE_QUEUE = "bench-bare-start"  # nobody polls it: the start RPC alone is measured


@dataclass(frozen=True)
class AuthSizes:
    sequential_rounds: int
    """Rounds per side, one caller at a time."""
    sequential_calls: int
    """Calls per round and side, one at a time."""
    concurrent_rounds: int
    """Rounds per side of CONCURRENT calls at once."""
    all_on_rounds: int
    """Rounds of CONCURRENT calls with everything on."""
    micro_iterations: int

    @classmethod
    def for_mode(cls, *, quick: bool) -> AuthSizes:
        if quick:
            return cls(4, 15, 2, 2, 300)
        return cls(10, 30, 6, 10, 2000)


@dataclass
class IdentityProvider:
    """The benchmark's JWT issuer: a signing key, its JWKS file, a caller's token file."""

    folder: Path
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def jwks(self) -> Path:
        return self.folder / "bench-jwks.json"

    @property
    def token_file(self) -> Path:
        return self.folder / "bench-caller.jwt"

    def token(self) -> str:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "bench",
            "tenant": BENCH_TENANT,
            "iat": now,
            "exp": now + timedelta(hours=2),
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "bench-1"})

    def write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk = public | {"kid": "bench-1", "alg": "RS256", "use": "sig"}
        self.jwks.write_text(json.dumps({"keys": [jwk]}))
        self.token_file.write_text(self.token())
        self.token_file.chmod(0o600)


def stigma_api_env(idp: IdentityProvider) -> dict[str, str]:
    """The bench stack's stigma-api: anonymous callers allowed (the "none" side), JWTs of
    the benchmark's issuer, and per-tenant quotas on but far from reached."""
    return {
        "STIGMA_API_ALLOW_ANONYMOUS": "true",
        "STIGMA_API_JWT_ISSUER": ISSUER,
        "STIGMA_API_JWT_AUDIENCE": AUDIENCE,
        "STIGMA_API_JWT_JWKS": str(idp.jwks),
        "STIGMA_API_TENANT_MAX_RUNNING": "1000000",
        "STIGMA_API_TENANT_START_RATE": "1000000",
    }


Stub = agent_pb2_grpc.AgentServiceStub


async def _timed(call: Callable[[], Awaitable[Any]], samples: list[float]) -> None:
    started = time.perf_counter()
    await call()
    samples.append((time.perf_counter() - started) * 1000)


def _fire_and_forget(stub: Stub) -> Callable[[], Awaitable[Any]]:
    request = agent_pb2.StartAgentRequest(request_id=f"ack-{uuid.uuid4().hex}", spec=SPEC)
    return lambda: stub.StartAgent(request)


async def _batch(stub: Stub, calls: int, concurrency: int, samples: list[float]) -> None:
    if concurrency == 1:
        for _ in range(calls):
            await _timed(_fire_and_forget(stub), samples)
        return
    await asyncio.gather(*(_timed(_fire_and_forget(stub), samples) for _ in range(calls)))


def _side(none: list[float], with_jwt: list[float]) -> dict[str, Any]:
    plain, jwt_side = summary(none), summary(with_jwt)
    return {
        "none_ms": plain,
        "jwt_ms": jwt_side,
        "p50_ratio": round(jwt_side["p50"] / plain["p50"], 3),
        "p99_ratio": round(jwt_side["p99"] / plain["p99"], 3),
    }


async def compare_jwt(stack: LocalStack, idp: IdentityProvider, sizes: AuthSizes) -> dict[str, Any]:
    """ACK with a JWT against without any credential, alternating rounds (ABBA)."""
    jwt_credentials = CallerCredentials(jwt_file=str(idp.token_file))
    figures: dict[str, Any] = {}
    async with (
        stigma_channel(stack.stigma_address, StigmaTls()) as anonymous,
        stigma_channel(stack.stigma_address, StigmaTls(), credentials=jwt_credentials) as bearer,
    ):
        sides = {"none": Stub(anonymous), "jwt": Stub(bearer)}  # type: ignore[no-untyped-call]
        await _batch(sides["none"], 20, 10, [])  # warm both channels and the server up
        await _batch(sides["jwt"], 20, 10, [])
        plan = [
            ("1", 1, sizes.sequential_rounds, sizes.sequential_calls),
            (str(CONCURRENT), CONCURRENT, sizes.concurrent_rounds, CONCURRENT),
        ]
        for label, concurrency, rounds, calls in plan:
            samples: dict[str, list[float]] = {"none": [], "jwt": []}
            for round_ in range(rounds):
                order = ("none", "jwt") if round_ % 2 == 0 else ("jwt", "none")
                for side in order:
                    await _batch(sides[side], calls, concurrency, samples[side])
            figures[label] = _side(samples["none"], samples["jwt"])
    return figures


async def _server_seconds(stack: LocalStack) -> tuple[float, float]:
    """stigma-api's StartAgent handling time so far (sum, count) for calls with a token."""
    url = f"http://{stack.metrics_targets()['stigma-api']}/metrics"
    samples = await probes.scrape(url)
    total = probes.total(samples, "stigma_start_agent_duration_seconds_sum", 'mode="callback"')
    count = probes.total(samples, "stigma_start_agent_duration_seconds_count", 'mode="callback"')
    return total, count


def _bound_request(signer: CallbackSigner) -> agent_pb2.StartAgentRequest:
    workflow_id = f"ack-caller-{uuid.uuid4().hex}"
    request_id = caller_request_id(workflow_id=workflow_id, run_id="run", activity_id="1")
    token = signer.sign(
        namespace="default",
        workflow_id=workflow_id,
        run_id="run",
        activity_id="1",
        attempt=1,
        task_token=b"bench: no caller waits on this token",
        request_id=request_id,
        spec=SPEC,
        valid_for=timedelta(hours=1),
    )
    return agent_pb2.StartAgentRequest(request_id=request_id, spec=SPEC, callback_token=token)


async def all_on(stack: LocalStack, idp: IdentityProvider, sizes: AuthSizes) -> dict[str, Any]:
    """100 concurrent callers, each with a JWT and a bound callback token, quotas on."""
    signer = CallbackSigner(KeyRing.parse(stack.callback_keys))
    credentials = CallerCredentials(jwt_file=str(idp.token_file))
    samples: list[float] = []
    pid = {"stigma-api": stack.services["stigma-api"].pid}
    async with stigma_channel(
        stack.stigma_address, StigmaTls(), credentials=credentials
    ) as channel:
        stub = Stub(channel)  # type: ignore[no-untyped-call]
        server_before = await _server_seconds(stack)
        cpu_before = probes.cpu_seconds(pid)["stigma-api"]
        for _ in range(sizes.all_on_rounds):
            requests = [_bound_request(signer) for _ in range(CONCURRENT)]
            await asyncio.gather(
                *(_timed(lambda r=r: stub.StartAgent(r), samples) for r in requests)  # type: ignore[misc]
            )
        cpu_after = probes.cpu_seconds(pid)["stigma-api"]
        server_after = await _server_seconds(stack)
    calls = len(samples)
    handled = server_after[1] - server_before[1]
    return {
        "concurrency": CONCURRENT,
        "ack_ms": summary(samples),
        "mean_round_trip_ms": round(sum(samples) / calls, 2),
        "mean_server_ms": round((server_after[0] - server_before[0]) * 1000 / max(handled, 1), 2),
        "stigma_api_cpu_ms_per_ack": round((cpu_after - cpu_before) * 1000 / calls, 2),
    }


async def bare_start(client: Client, *, concurrency: int, calls: int) -> dict[str, float]:
    """StartWorkflowExecution alone, from this process: the floor under any ACK that
    starts a run (nobody polls the task queue; the runs just wait)."""
    samples: list[float] = []

    def start() -> Awaitable[Any]:
        return client.start_workflow(
            BARE_WORKFLOW, "x", id=f"bare-start-{uuid.uuid4().hex}", task_queue=BARE_QUEUE
        )

    for _ in range(max(1, calls // concurrency)):
        await asyncio.gather(*(_timed(start, samples) for _ in range(concurrency)))
    return summary(samples)


async def visibility_count_ms(client: Client, rounds: int = 10) -> float:
    """One per-tenant running count (paid once per refresh per tenant, not per call)."""
    samples: list[float] = []
    query = f"WorkflowType = 'AgentExecutionWorkflow' AND StigmaTenant = '{BENCH_TENANT}'"
    for _ in range(rounds):
        await _timed(lambda: client.count_workflows(query), samples)
    return summary(samples)["p50"]


def _mean_us(check: Callable[[], Any], iterations: int) -> float:
    started = time.perf_counter()
    for _ in range(iterations):
        check()
    return round((time.perf_counter() - started) * 1e6 / iterations, 1)


async def check_costs(
    stack: LocalStack, idp: IdentityProvider, iterations: int
) -> dict[str, float]:
    """Microseconds of CPU per call of each check stigma-api runs on the ACK path (in this
    process, on the same machine)."""
    cache = JwksCache(FileJwks(idp.jwks), refresh=timedelta(hours=1))
    await cache.load()
    rules = JwtRules(issuer=ISSUER, audience=(AUDIENCE,), algorithms=frozenset({"RS256"}))
    verifier = JwtVerifier(rules, cache)
    token = idp.token()
    started = time.perf_counter()
    for _ in range(iterations):
        await verifier.verify(token)
    jwt_us = round((time.perf_counter() - started) * 1e6 / iterations, 1)
    keys = ApiKeys.parse(stack.api_keys.server_file.read_text(), source="bench", from_file=True)
    operator_key = stack.api_keys.key("operator")
    request = _bound_request(CallbackSigner(KeyRing.parse(stack.callback_keys)))
    callbacks = CallbackVerifier(KeyRing.parse(stack.callback_keys), namespaces={"default"})
    limits = Limits(
        providers=frozenset(MODEL_PROVIDERS),
        max_input_bytes=256 * 1024,
        max_parameters=64,
        max_parameter_bytes=16 * 1024,
        max_steps=1000,
    )
    return {
        "jwt_verify_us": jwt_us,
        "api_key_lookup_us": _mean_us(lambda: keys.lookup(operator_key), iterations),
        "callback_token_verify_us": _mean_us(
            lambda: callbacks.verify(
                request.callback_token, request_id=request.request_id, spec=request.spec
            ),
            iterations,
        ),
        "spec_validation_us": _mean_us(lambda: validate_start(request, limits), iterations),
    }


async def measure(stack: LocalStack, idp: IdentityProvider, *, quick: bool) -> dict[str, Any]:
    sizes = AuthSizes.for_mode(quick=quick)
    comparison = await compare_jwt(stack, idp, sizes)
    everything = await all_on(stack, idp, sizes)
    bare = await bare_start(
        stack.client, concurrency=CONCURRENT, calls=CONCURRENT * sizes.all_on_rounds
    )
    return {
        "jwt_vs_none": comparison,
        "all_on": everything,
        "bare_start_workflow_ms": bare,
        "visibility_count_ms": await visibility_count_ms(stack.client),
        "check_costs_us": await check_costs(stack, idp, sizes.micro_iterations),
    }


def report_lines(figures: dict[str, Any]) -> list[str]:
    lines = ["StartAgent ACK, JWT vs no credential (same server, alternating rounds), ms"]
    for label, side in figures["jwt_vs_none"].items():
        none, with_jwt = side["none_ms"], side["jwt_ms"]
        lines.append(
            f"  {label:>4} at once  none p50 {none['p50']:>6} p99 {none['p99']:>6}   "
            f"jwt p50 {with_jwt['p50']:>6} p99 {with_jwt['p99']:>6}   "
            f"ratio p50 {side['p50_ratio']}  p99 {side['p99_ratio']}  (n={with_jwt['n']} a side)"
        )
    on, bare = figures["all_on"], figures["bare_start_workflow_ms"]
    costs = figures["check_costs_us"]
    lines += [
        f"StartAgent ACK, everything on (JWT, bound token, quotas), {on['concurrency']} at once:"
        f" p50 {on['ack_ms']['p50']} ms  p99 {on['ack_ms']['p99']} ms  (n={on['ack_ms']['n']})",
        f"  where it goes (mean per ACK): round trip {on['mean_round_trip_ms']} ms, of which "
        f"stigma-api handling {on['mean_server_ms']} ms; stigma-api CPU "
        f"{on['stigma_api_cpu_ms_per_ack']} ms per ACK",
        f"  bare StartWorkflowExecution from this process, {on['concurrency']} at once: "
        f"p50 {bare['p50']} ms  p99 {bare['p99']} ms",
        f"  checks, CPU per call: JWT {costs['jwt_verify_us']} us, API key "
        f"{costs['api_key_lookup_us']} us, callback token {costs['callback_token_verify_us']} us,"
        f" spec validation {costs['spec_validation_us']} us; a tenant's running count "
        f"{figures['visibility_count_ms']} ms once per refresh (1 s), not per call",
    ]
    return lines
