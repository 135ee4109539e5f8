"""The local stack's trace viewer: Arize Phoenix (the ``arize-phoenix`` package) as one
more local process, so ``make up`` and ``make demo`` have their traces without Docker.

Everything it opens listens on 127.0.0.1 (devstack._phoenix_server puts the OTLP/gRPC port
there too); everything it writes (its SQLite database, its pid files) stays under its state
folder, never in $HOME; its analytics pixels, external fonts, code sandboxes (whose start
would download a WASM runtime), agent assistant and MCP endpoint are off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack._lifecycle import Startable
from devstack._private import private_dir, write_private
from devstack._processes import ServiceProcess, http_ready
from devstack._temporal import free_port

logger = logging.getLogger(__name__)

# Phoenix's own defaults, which `make up` and `make demo` keep: a trace link printed by one
# `make demo` opens again under a later `make up` (the traces stay in .state/phoenix).
DEFAULT_PORT = 6006
DEFAULT_GRPC_PORT = 4317

_TRACE_QUERY = """
query ($traceId: String!) {
  getTraceByOtelId(traceId: $traceId) {
    numSpans
    project { id name }
    spans(first: 1000) { edges { node { name spanId parentId } } }
  }
}
"""


@dataclass(frozen=True)
class PhoenixSpan:
    name: str
    span_id: str
    parent_id: str | None


@dataclass(frozen=True)
class PhoenixTrace:
    """One trace as Phoenix stores it (Phoenix keeps no resource attributes, so a span
    does not say which service sent it)."""

    trace_id: str
    project_id: str
    """Phoenix's GraphQL id of the project (``default`` for spans that name none)."""
    num_spans: int
    spans: tuple[PhoenixSpan, ...]
    """Its spans, the first 1000 of them (Phoenix pages them)."""


class LocalPhoenix(Startable):
    """``phoenix serve`` on 127.0.0.1 with its state under ``state_dir``."""

    def __init__(
        self, *, state_dir: Path, port: int | None = None, grpc_port: int | None = None
    ) -> None:
        self.state_dir = state_dir
        self.port = port or free_port()
        self.grpc_port = grpc_port or free_port()
        # Read by Phoenix only to skip its start-up download of a WASM runtime for code
        # sandboxes, which are off (PHOENIX_ALLOWED_SANDBOX_PROVIDERS=NONE).
        self._no_wasm = state_dir / "sandboxes-disabled"
        self.process = ServiceProcess(
            name="phoenix",
            argv=[sys.executable, "-m", "devstack._phoenix_server", "serve"],
            env={
                "PHOENIX_WORKING_DIR": str(state_dir),
                "PHOENIX_HOST": "127.0.0.1",
                "PHOENIX_PORT": str(self.port),
                "PHOENIX_GRPC_PORT": str(self.grpc_port),
                "PHOENIX_TELEMETRY_ENABLED": "false",
                "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
                "PHOENIX_ALLOWED_SANDBOX_PROVIDERS": "NONE",
                "PHOENIX_WASM_BINARY_PATH": str(self._no_wasm),
                "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
                "PHOENIX_ENABLE_MCP_SERVER": "false",
                "PHOENIX_LOG_MIGRATIONS": "false",
                "PHOENIX_LOGGING_LEVEL": "warning",
                # Its pid files (tempfile.gettempdir()/.arize-phoenix) stay in the state too.
                "TMPDIR": str(state_dir / "tmp"),
                # Phoenix imports thousands of modules: without cached bytecode every start
                # compiles them again (minutes on a busy two-core machine).
                "PYTHONDONTWRITEBYTECODE": "",
            },
            log_file=state_dir / "logs" / "phoenix.log",
        )

    @property
    def url(self) -> str:
        """The UI (and GraphQL, REST and OTLP/HTTP) base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def otlp_endpoint(self) -> str:
        """Its OTLP/gRPC endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT takes it."""
        return f"http://127.0.0.1:{self.grpc_port}"

    def exporter_env(self) -> dict[str, str]:
        """The environment that makes a service export its spans here."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        }

    def trace_url(self, trace: PhoenixTrace) -> str:
        """The UI page of one trace: its span tree, each span's attributes and events."""
        return f"{self.url}/projects/{trace.project_id}/traces/{trace.trace_id}"

    async def launch(self) -> None:
        """Start the process without waiting for it (its import alone takes seconds: the
        rest of the stack starts meanwhile); ``ready()`` waits."""
        private_dir(self.state_dir)
        private_dir(self.state_dir / "tmp")
        write_private(self._no_wasm, "code sandboxes are disabled in the local stack\n")
        await self.process.start()

    async def ready(self, *, within: float = 300.0) -> None:
        """Wait until the UI answers (Phoenix opens its OTLP/gRPC port before that)."""
        await self.process.wait_until(
            lambda: http_ready(f"{self.url}/healthz"), what=f"Phoenix on {self.url}", within=within
        )
        logger.info("Phoenix on %s (OTLP/gRPC %s)", self.url, self.otlp_endpoint)

    async def start(self) -> None:
        await self.launch()
        await self.ready()

    async def stop(self) -> None:
        await self.process.stop()

    async def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        """The ``data`` of one GraphQL query (raises on a GraphQL error)."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        answer = json.loads(await asyncio.to_thread(self._post, "/graphql", body))
        if answer.get("errors"):
            raise RuntimeError(f"Phoenix GraphQL: {answer['errors']}")
        data: dict[str, Any] = answer["data"]
        return data

    async def trace(self, trace_id: str) -> PhoenixTrace | None:
        """The trace with this (hex) id, or None while Phoenix has none of its spans."""
        found = (await self.graphql(_TRACE_QUERY, traceId=trace_id))["getTraceByOtelId"]
        if found is None:
            return None
        return PhoenixTrace(
            trace_id=trace_id,
            project_id=found["project"]["id"],
            num_spans=found["numSpans"],
            spans=tuple(
                PhoenixSpan(
                    name=edge["node"]["name"],
                    span_id=edge["node"]["spanId"],
                    parent_id=edge["node"]["parentId"],
                )
                for edge in found["spans"]["edges"]
            ),
        )

    async def stored_trace(self, trace_id: str, *, within: float = 30.0) -> PhoenixTrace:
        """The trace once Phoenix has stored what it was sent.

        Call it after the exporters have flushed (the services stopped): Phoenix inserts
        what it receives in batches, and a trace whose span count held still for a second
        is complete. Stopping Phoenix before that loses the spans still queued.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        previous: PhoenixTrace | None = None
        while True:
            current = await self.trace(trace_id)
            if (
                current is not None
                and previous is not None
                and current.num_spans == previous.num_spans
            ):
                return current
            if loop.time() > deadline:
                raise TimeoutError(f"trace {trace_id} not stored by Phoenix within {within:.0f}s")
            previous = current
            await asyncio.sleep(1.0)

    def _post(self, path: str, body: bytes) -> bytes:
        request = urllib.request.Request(
            f"{self.url}{path}", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            return bytes(reply.read())
