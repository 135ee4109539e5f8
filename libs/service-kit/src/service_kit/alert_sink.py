"""The default Alertmanager receiver: ``python -m service_kit.alert_sink``.

A fresh stack needs a receiver that works before anyone wires Slack or PagerDuty: without
one, Alertmanager's notifications fail and nobody sees an alert. This sink accepts
Alertmanager's webhook (``POST /alerts``) and writes every alert it receives to stdout as
one JSON line (received time, status, labels, annotations, start and end), so
``docker compose logs alert-sink`` is the alert history and any log pipeline can pick it
up. It also serves the runbook the alerts' ``runbook_url`` points at (``GET /runbook``),
which makes the rules' default runbook base URL a working link.

Settings (environment):

- ``ALERT_SINK_LISTEN_ADDRESS``: ``host:port`` to bind (default ``127.0.0.1:9095``; the
  compose service binds ``0.0.0.0:9095`` inside its network).
- ``ALERT_SINK_RUNBOOK``: path of the runbook markdown served at ``/runbook`` (optional;
  404 without it).

Standard library only: an asyncio HTTP/1.1 server small enough to read in one sitting, kept
alive across requests as Alertmanager's client expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_LISTEN_ADDRESS = "127.0.0.1:9095"
MAX_BODY = 4 * 1024 * 1024
"""Alertmanager's largest notification is far below this; anything bigger is refused."""


@dataclass(frozen=True)
class ReceivedAlert:
    """One alert of one webhook notification, as written to the JSON line."""

    received_at: float
    """Unix time the notification arrived."""
    receiver: str
    status: str
    """``firing`` or ``resolved``."""
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str

    def as_json(self) -> str:
        return json.dumps(
            {
                "received_at": self.received_at,
                "receiver": self.receiver,
                "status": self.status,
                "alertname": self.labels.get("alertname", ""),
                "labels": self.labels,
                "annotations": self.annotations,
                "starts_at": self.starts_at,
                "ends_at": self.ends_at,
            },
            sort_keys=True,
        )


def parse_notification(body: bytes, *, received_at: float) -> list[ReceivedAlert]:
    """The alerts of one Alertmanager webhook payload (version 4)."""
    payload: dict[str, Any] = json.loads(body)
    return [
        ReceivedAlert(
            received_at=received_at,
            receiver=str(payload.get("receiver", "")),
            status=str(alert.get("status", "")),
            labels={str(k): str(v) for k, v in alert.get("labels", {}).items()},
            annotations={str(k): str(v) for k, v in alert.get("annotations", {}).items()},
            starts_at=str(alert.get("startsAt", "")),
            ends_at=str(alert.get("endsAt", "")),
        )
        for alert in payload.get("alerts", [])
    ]


def _write_line(alert: ReceivedAlert) -> None:
    sys.stdout.write(alert.as_json() + "\n")
    sys.stdout.flush()


class AlertSink:
    """The webhook server; ``on_alert`` sees every received alert (stdout by default)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        runbook: Path | None = None,
        on_alert: Callable[[ReceivedAlert], None] = _write_line,
    ) -> None:
        self.host = host
        self.port = port
        self._runbook = runbook
        self._on_alert = on_alert
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> AlertSink:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # a client gone mid-request, or one that does not speak HTTP/1.1
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection is to close."""
        request_line = await reader.readline()
        if not request_line:
            return False
        method, path, _version = request_line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if length > MAX_BODY:
            await _respond(writer, 413, b"too large\n")
            return False
        body = await reader.readexactly(length) if length else b""
        status, reply, content_type = self._handle(method, path.split("?", 1)[0], body)
        await _respond(writer, status, reply, content_type=content_type)
        return headers.get("connection", "").lower() != "close"

    def _handle(self, method: str, path: str, body: bytes) -> tuple[int, bytes, str]:
        plain = "text/plain; charset=utf-8"
        if method == "POST" and path == "/alerts":
            try:
                alerts = parse_notification(body, received_at=time.time())
            except (ValueError, AttributeError) as err:
                return 400, f"not an Alertmanager webhook payload: {err}\n".encode(), plain
            for alert in alerts:
                self._on_alert(alert)
            return 200, b"ok\n", plain
        if method == "GET" and path == "/-/healthy":
            return 200, b"ok\n", plain
        if method == "GET" and path == "/runbook" and self._runbook is not None:
            return 200, self._runbook.read_bytes(), plain
        return 404, b"not found\n", plain


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
) -> None:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()


def settings_from_env(environ: dict[str, str] | None = None) -> tuple[str, int, Path | None]:
    """(host, port, runbook) from ``ALERT_SINK_*``; a bad value names the variable."""
    env = dict(os.environ) if environ is None else environ
    address = env.get("ALERT_SINK_LISTEN_ADDRESS", DEFAULT_LISTEN_ADDRESS)
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"ALERT_SINK_LISTEN_ADDRESS: expected host:port, got {address!r}")
    runbook = env.get("ALERT_SINK_RUNBOOK")
    if runbook and not Path(runbook).is_file():
        raise SystemExit(f"ALERT_SINK_RUNBOOK: no such file {runbook!r}")
    return host, int(port), Path(runbook) if runbook else None


async def main() -> None:
    host, port, runbook = settings_from_env()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with AlertSink(host=host, port=port, runbook=runbook):
        sys.stderr.write(f"alert-sink listening on {host}:{port}\n")
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
