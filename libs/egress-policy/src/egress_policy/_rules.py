"""Allow and deny rules: networks (CIDR or one IP) and host names (exact or ``*.`` wildcard),
and the destinations every policy refuses unless an allow rule names them."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TypeAlias

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_MAX_NAME = 253


@dataclass(frozen=True)
class NetworkRule:
    """Addresses inside ``network`` (a single IP is a /32 or /128 network)."""

    network: IPNetwork

    def matches(self, address: IPAddress) -> bool:
        return address.version == self.network.version and address in self.network

    def names(self, refused: IPNetwork, address: IPAddress) -> bool:
        """True when this rule lifts the built-in refusal of ``refused`` for ``address``:
        it lies inside that range and holds the address (``127.0.0.1/32`` names loopback,
        ``0.0.0.0/0`` does not)."""
        return (
            self.network.version == refused.version
            and self.network.subnet_of(refused)  # type: ignore[arg-type]
            and self.matches(address)
        )

    def __str__(self) -> str:
        return str(self.network)


@dataclass(frozen=True)
class HostRule:
    """A host name (``api.example.com``), or with ``wildcard`` every name below it
    (``*.example.com``: ``a.example.com`` and ``a.b.example.com``, not ``example.com``)."""

    name: str
    """Lower case, IDNA-encoded, no trailing dot; without the ``*.`` of a wildcard."""
    wildcard: bool = False

    def matches_host(self, host: str) -> bool:
        if self.wildcard:
            return host.endswith("." + self.name)
        return host == self.name

    def __str__(self) -> str:
        return f"*.{self.name}" if self.wildcard else self.name


Rule: TypeAlias = NetworkRule | HostRule


@dataclass(frozen=True)
class BuiltinRefusal:
    """A range every policy refuses unless an allow rule names it."""

    label: str
    network: IPNetwork


BUILTIN_REFUSALS: tuple[BuiltinRefusal, ...] = tuple(
    BuiltinRefusal(label, ipaddress.ip_network(network))
    for label, network in (
        ("loopback", "127.0.0.0/8"),
        ("loopback", "::1/128"),
        ("link-local, where cloud metadata services listen", "169.254.0.0/16"),
        ("link-local", "fe80::/10"),
        ("the AWS metadata service", "fd00:ec2::254/128"),
        # 0.0.0.0 reaches the local host on Linux; 0.x.y.z is "this network".
        ("unspecified", "0.0.0.0/8"),
        ("unspecified", "::/128"),
        ("multicast", "224.0.0.0/4"),
        ("multicast", "ff00::/8"),
    )
)
BUILTIN_REFUSED_NAMES: frozenset[str] = frozenset(
    {"localhost", "metadata.google.internal", "metadata"}
)


def normalize_address(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is the IPv4 address it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalize_host(host: str) -> str:
    """Lower case, IDNA-encoded, without brackets or a trailing dot.

    Raises:
        ValueError: the host is empty or cannot be IDNA-encoded.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.rstrip(".").lower()
    if not text:
        raise ValueError("empty host")
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError as err:
            raise ValueError(f"host {host!r} is not a valid name: {err}") from None
    return text


def parse_address(host: str) -> IPAddress | None:
    """The IP address ``host`` spells (normalized), or None for a name."""
    try:
        return normalize_address(ipaddress.ip_address(host))
    except ValueError:
        return None


def _host_rule(entry: str) -> HostRule:
    wildcard = entry.startswith("*.")
    name = normalize_host(entry[2:] if wildcard else entry)
    labels = name.split(".")
    if len(name) > _MAX_NAME or not all(_LABEL.match(label) for label in labels):
        raise ValueError("not a CIDR network, an IP address or a host name")
    if labels[-1].isdigit():
        raise ValueError("not a valid IP address, and a host name cannot end in a number")
    return HostRule(name=name, wildcard=wildcard)


def parse_rule(entry: str) -> Rule:
    """One rule: ``10.0.0.0/8``, ``::1/128``, ``192.0.2.7``, ``api.example.com`` or
    ``*.example.com``.

    Raises:
        ValueError: naming the entry and what is wrong with it.
    """
    text = entry.strip()
    try:
        if "://" in text:
            raise ValueError("a rule names a host or a network, not a URL")
        if "/" in text:
            return NetworkRule(ipaddress.ip_network(text, strict=True))
        address = parse_address(text[1:-1] if text.startswith("[") else text)
        if address is not None:
            return NetworkRule(ipaddress.ip_network(address))
        if text.count(":") == 1:
            raise ValueError("a rule takes no port")
        return _host_rule(text)
    except ValueError as err:
        raise ValueError(f"bad egress rule {entry.strip()!r}: {err}") from None


def parse_rules(text: str) -> tuple[Rule, ...]:
    """A comma-separated list of rules; empty entries are skipped.

    Raises:
        ValueError: naming the first bad entry.
    """
    return tuple(parse_rule(entry) for entry in text.split(",") if entry.strip())
