"""The images' health probe against real endpoints: a /metrics server with and without live
Temporal pollers, and a gRPC server whose health goes from SERVING to NOT_SERVING."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from service_kit import healthcheck

POLLING = (
    "# TYPE temporal_num_pollers gauge\n"
    'temporal_num_pollers{poller_type="activity_task",task_queue="stigma-ai"} 5.0\n'
    "temporal_num_pollers_extra 7.0\n"
)
NOT_POLLING = 'temporal_num_pollers{poller_type="activity_task",task_queue="stigma-ai"} 0.0\n'


@pytest.fixture
def metrics_server() -> Iterator[tuple[str, list[str]]]:
    body = [POLLING]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            data = body[0].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}", body
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_live_pollers_sums_only_the_poller_gauge() -> None:
    assert healthcheck.live_pollers(POLLING) == 5.0
    assert healthcheck.live_pollers(NOT_POLLING) == 0.0
    assert healthcheck.live_pollers("") == 0.0


def test_pollers_probe_needs_a_live_poller(metrics_server: tuple[str, list[str]]) -> None:
    address, body = metrics_server
    healthcheck.check_pollers(address)
    body[0] = NOT_POLLING
    with pytest.raises(healthcheck.Unhealthy, match="no live Temporal poller"):
        healthcheck.check_pollers(address)


def test_pollers_probe_fails_when_nothing_listens() -> None:
    with socket.socket() as sock:  # a loopback port bound, then released: nothing listens
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(healthcheck.Unhealthy):
        healthcheck.check_pollers(address)


def test_grpc_probe_follows_the_health_service() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        healthcheck.check_grpc(f"127.0.0.1:{port}")
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        with pytest.raises(healthcheck.Unhealthy, match="status"):
            healthcheck.check_grpc(f"127.0.0.1:{port}")
    finally:
        server.stop(None).wait()


def test_main_exit_codes(
    metrics_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, body = metrics_server
    monkeypatch.setenv("HEALTHCHECK_TARGET", f"pollers:{address}")
    assert healthcheck.main() == 0
    body[0] = NOT_POLLING
    assert healthcheck.main() == 1
    monkeypatch.setenv("HEALTHCHECK_TARGET", "http://nowhere")
    assert healthcheck.main() == 1
