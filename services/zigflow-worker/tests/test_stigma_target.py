"""ZIGFLOW_STIGMA_ADDRESS as a gRPC target: one address, a target URI, or a list of
replicas the channel balances over."""

from __future__ import annotations

import pytest

from service_kit import SettingsLoadError
from zigflow.stigma_channel import channel_target


@pytest.mark.parametrize(
    ("address", "target"),
    [
        ("localhost:50051", "localhost:50051"),
        ("dns:///stigma-api-pods:50051", "dns:///stigma-api-pods:50051"),
        ("ipv4:10.0.0.1:50051,10.0.0.2:50051", "ipv4:10.0.0.1:50051,10.0.0.2:50051"),
        ("127.0.0.1:50051, 127.0.0.1:50052", "ipv4:127.0.0.1:50051,127.0.0.1:50052"),
        ("[::1]:50051,[::1]:50052", "ipv6:[::1]:50051,[::1]:50052"),
    ],
)
def test_accepted_addresses(address: str, target: str) -> None:
    assert channel_target(address) == target


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("stigma-a:50051,stigma-b:50051", "'stigma-a:50051' in a list must be an IP address"),
        ("10.0.0.1:50051,10.0.0.2", "'10.0.0.2' in a list must be an IP address"),
        ("10.0.0.1:50051,10.0.0.2:grpc", "'10.0.0.2:grpc' has no port"),
        ("10.0.0.1:50051,[::1]:50051", "mixes IPv4 and IPv6"),
    ],
)
def test_refused_lists_name_the_entry(address: str, says: str) -> None:
    with pytest.raises(SettingsLoadError, match="ZIGFLOW_STIGMA_ADDRESS") as refused:
        channel_target(address)
    assert says in str(refused.value)
