from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from egress_policy._errors import EgressDenied
from egress_policy._limits import DEFAULT_MAX_RESPONSE_BYTES
from egress_policy._rules import (
    BUILTIN_REFUSALS,
    BUILTIN_REFUSED_NAMES,
    HostRule,
    IPAddress,
    NetworkRule,
    Rule,
    normalize_address,
    normalize_host,
    parse_address,
    parse_rules,
)
from egress_policy._transport import HTTP_SCHEMES, pinned_client

# Options of httpx.AsyncClient that would route requests around the policy.
_BYPASSING_OPTIONS = frozenset({"transport", "mounts", "proxy", "proxies", "app", "uds"})


@dataclass(frozen=True)
class EgressPolicy:
    """Where untrusted input (a workflow document, an agent's tool call) may make us connect.

    A destination is refused when, in this order:

    1. a ``deny`` rule matches its host name or any address it resolves to (deny always wins);
    2. it is one of the built-in refusals (loopback, link-local with the cloud metadata
       address, ``fd00:ec2::254``, unspecified, multicast; the names ``localhost``,
       ``metadata.google.internal``, ``metadata``) and no allow rule *names* it: a host rule
       matching the name, or a network rule that lies inside the refused range and holds
       the address (``127.0.0.1/32`` opens that address; ``0.0.0.0/0`` opens no built-in);
    3. the ``allow`` list is not empty and no allow rule matches its name or the address.

    So the default (no rules) allows every public and private (RFC 1918) address; an allow
    list turns the policy into an allow-list. A name is refused when ANY address it
    resolves to is refused.
    """

    allow: tuple[Rule, ...] = ()
    """Rules a destination must match when not empty; they also lift built-in refusals
    they name."""
    deny: tuple[Rule, ...] = ()
    """Rules that refuse a destination whatever the allow list says."""
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    """Largest response body ``read_limited`` accepts by default (decoded bytes)."""

    def __post_init__(self) -> None:
        if self.max_response_bytes <= 0:
            raise ValueError(f"max_response_bytes must be positive, not {self.max_response_bytes}")

    @classmethod
    def parse(
        cls,
        *,
        allow: str = "",
        deny: str = "",
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> EgressPolicy:
        """A policy from comma-separated rule lists: CIDR networks (``10.0.0.0/8``,
        ``::1/128``), single IPs, host names (``api.example.com``) and host wildcards
        (``*.example.com``).

        Raises:
            ValueError: naming the list and the bad entry.
        """
        try:
            allowed = parse_rules(allow)
        except ValueError as err:
            raise ValueError(f"allow: {err}") from None
        try:
            denied = parse_rules(deny)
        except ValueError as err:
            raise ValueError(f"deny: {err}") from None
        return cls(allow=allowed, deny=denied, max_response_bytes=max_response_bytes)

    def describe(self) -> str:
        """One line for a start-up log: the rules and the response limit."""
        allow = ", ".join(map(str, self.allow)) or "everything but the built-in refusals"
        deny = ", ".join(map(str, self.deny)) or "nothing"
        return f"allow {allow}; deny {deny}; responses up to {self.max_response_bytes} bytes"

    async def check(self, url: str) -> list[str]:
        """Vet an HTTP(S) URL: its scheme, then its host as ``check_host`` does.

        Returns:
            The host's addresses, all allowed (the ones a client must connect to).

        Raises:
            EgressDenied: a scheme other than http or https, or a refused destination.
            ValueError: not a URL with a host.
            OSError: the host name does not resolve (``socket.gaierror``).
        """
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as err:
            raise ValueError(f"not a valid URL: {err}") from None
        host = parsed.raw_host.decode("ascii")
        if parsed.scheme not in HTTP_SCHEMES:
            raise EgressDenied(
                host=normalize_host(host) if host else "(no host)",
                address=None,
                rule=f"scheme {parsed.scheme!r} is not http or https",
            )
        if not host:
            raise ValueError("the URL has no host")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return await self.check_host(host, port)

    async def check_host(self, host: str, port: int) -> list[str]:
        """Vet ``host:port`` (a gRPC target, say): refuse by name first (nothing is
        resolved for a refused name), then resolve with the event loop's ``getaddrinfo``
        and refuse if any address is refused.

        Returns:
            The host's addresses (IP literals as text), all allowed.

        Raises:
            EgressDenied: naming the host, the refused address and the rule.
            ValueError: an empty host or a port outside 1-65535.
            OSError: the host name does not resolve (``socket.gaierror``).
        """
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is not in 1-65535")
        name = normalize_host(host)
        literal = parse_address(name)
        if literal is None:
            refusal = self._name_refusal(name)
            if refusal is not None:
                raise EgressDenied(host=name, address=None, rule=refusal)
            addresses = await _resolve(name, port)
        else:
            addresses = [literal]
        for address in addresses:
            refusal = self._address_refusal(name, address)
            if refusal is not None:
                raise EgressDenied(host=name, address=str(address), rule=refusal)
        return [str(address) for address in addresses]

    def async_client(
        self,
        *,
        timeout: httpx.Timeout,
        follow_redirects: bool = False,
        verify: ssl.SSLContext | bool = True,
        **kwargs: Any,
    ) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` that vets every connection it opens (each redirect hop
        to a new host included) and connects to the vetted address itself: the name is
        resolved once, so DNS cannot answer differently between the check and the connect.
        The Host header, TLS SNI and certificate verification keep the URL's host name.
        A refused destination raises ``EgressDenied`` from the request; a name that does
        not resolve is an ``httpx.ConnectError``. Environment proxies are never used.

        ``verify`` is httpx's: pass one ``ssl.SSLContext`` to many clients (building the
        default one costs tens of milliseconds). ``cert``, ``limits``, ``http1``, ``http2``
        and ``trust_env`` reach the transport; other keyword arguments go to
        ``httpx.AsyncClient``, except those that would route around the policy
        (``transport``, ``mounts``, ``proxy``, ``uds``, ``app``), refused with TypeError.
        """
        bypassing = sorted(_BYPASSING_OPTIONS & kwargs.keys())
        if bypassing:
            raise TypeError(
                f"async_client() does not take {', '.join(bypassing)}: "
                "they would route requests around the egress policy"
            )
        return pinned_client(
            vet=self.check_host,
            max_response_bytes=self.max_response_bytes,
            timeout=timeout,
            follow_redirects=follow_redirects,
            verify=verify,
            **kwargs,
        )

    def _allowed_by_name(self, host: str) -> bool:
        return any(isinstance(rule, HostRule) and rule.matches_host(host) for rule in self.allow)

    def _name_refusal(self, host: str) -> str | None:
        for rule in self.deny:
            if isinstance(rule, HostRule) and rule.matches_host(host):
                return f"deny rule {rule}"
        if host in BUILTIN_REFUSED_NAMES and not self._allowed_by_name(host):
            return (
                f"the name {host} is refused by default; an allow rule naming it "
                f"({host}) lifts that"
            )
        if (
            self.allow
            and not self._allowed_by_name(host)
            and not any(isinstance(rule, NetworkRule) for rule in self.allow)
        ):
            # Only host rules: refuse before resolving, so no DNS query leaves for it.
            return "no allow rule matches it"
        return None

    def _address_refusal(self, host: str, address: IPAddress) -> str | None:
        address = normalize_address(address)
        for rule in self.deny:
            if isinstance(rule, NetworkRule) and rule.matches(address):
                return f"deny rule {rule}"
        for refused in BUILTIN_REFUSALS:
            if address.version != refused.network.version or address not in refused.network:
                continue
            if not any(
                isinstance(rule, NetworkRule) and rule.names(refused.network, address)
                for rule in self.allow
            ):
                single = "32" if address.version == 4 else "128"
                return (
                    f"{address} is in {refused.network} ({refused.label}), refused by default; "
                    f"an allow rule naming it ({address}/{single}) lifts that"
                )
        if not self.allow or self._allowed_by_name(host):
            return None
        if any(isinstance(rule, NetworkRule) and rule.matches(address) for rule in self.allow):
            return None
        return "no allow rule matches it"


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address of ``host``, in resolver order, without duplicates (never blocking:
    the loop's ``getaddrinfo`` runs in its executor)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonical, sockaddr in infos:
        address = parse_address(str(sockaddr[0]))
        if address is not None and address not in addresses:
            addresses.append(address)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} resolved to no address")
    return addresses
