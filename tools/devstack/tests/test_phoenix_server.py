"""Phoenix's OTLP/gRPC port goes on loopback: its wildcard bind is rewritten, a loopback one
is kept, and any other address fails the start instead of opening a port to the network."""

from __future__ import annotations

from typing import Any

import pytest

from devstack._phoenix_server import _loopback_server, on_loopback


@pytest.mark.parametrize(
    ("asked", "bound"),
    [
        ("[::]:4317", "127.0.0.1:4317"),
        ("0.0.0.0:4317", "127.0.0.1:4317"),
        (":4317", "127.0.0.1:4317"),
        ("127.0.0.1:4317", "127.0.0.1:4317"),
        ("localhost:4317", "localhost:4317"),
        ("[::1]:4317", "[::1]:4317"),
    ],
)
def test_wildcard_and_loopback_binds_end_on_loopback(asked: str, bound: str) -> None:
    assert on_loopback(asked) == bound


@pytest.mark.parametrize("asked", ["192.168.1.20:4317", "[2001:db8::1]:4317", "example:4317"])
def test_any_other_host_is_refused(asked: str) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        on_loopback(asked)


@pytest.mark.parametrize("asked", ["4317", "[::]:otlp"])
def test_an_address_without_a_port_is_refused(asked: str) -> None:
    with pytest.raises(ValueError, match="unexpected gRPC bind address"):
        on_loopback(asked)


class _Server:
    """Records the addresses it is asked to bind, as grpc.aio's server would bind them."""

    def __init__(self) -> None:
        self.bound: list[str] = []

    def add_insecure_port(self, address: str) -> int:
        self.bound.append(address)
        return 4317

    def add_secure_port(self, address: str, credentials: Any) -> int:
        self.bound.append(address)
        return 4318


def test_servers_made_through_the_wrapper_bind_on_loopback() -> None:
    made: list[_Server] = []

    def create(**_: Any) -> _Server:
        made.append(_Server())
        return made[-1]

    server = _loopback_server(create)(options=())
    assert server.add_insecure_port("[::]:4317") == 4317
    assert server.add_secure_port("[::]:4318", object()) == 4318
    assert made[0].bound == ["127.0.0.1:4317", "127.0.0.1:4318"]
