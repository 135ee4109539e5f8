"""The client of ``EgressPolicy.async_client``: an httpx transport whose connection pool
opens every TCP connection through a network backend that vets the host and connects to
the vetted address.

httpcore hands the backend the origin's host name; the backend resolves it once (through
the policy), then connects to the address it vetted. TLS is started afterwards by httpcore
on that stream with ``server_hostname`` = the origin's host name, so SNI and certificate
verification use the name, and httpx writes the Host header from the URL: the server sees
the same request as without pinning.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from egress_policy._errors import EgressDenied
from egress_policy._limits import LIMIT_EXTENSION

HTTP_SCHEMES = frozenset({"http", "https"})
Vet = Callable[[str, int], Awaitable[list[str]]]
# httpx's own default pool limits.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class PinningBackend(httpcore.AsyncNetworkBackend):
    """Vets ``host`` with the policy, then connects to one of the vetted addresses (in
    resolver order, the next one when a connection fails). Unix sockets are refused."""

    def __init__(self, vet: Vet, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._vet = vet
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._vet(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout}s") from None
        except socket.gaierror as err:
            raise httpcore.ConnectError(f"cannot resolve {host}: {err}") from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                failure = err
        assert failure is not None  # the policy never vets an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are outside the egress policy")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose pool connects through ``PinningBackend``, that
    refuses schemes other than http and https, and whose responses carry the policy's
    response limit (for ``read_limited``)."""

    def __init__(
        self,
        *,
        vet: Vet,
        max_response_bytes: int,
        ssl_context: ssl.SSLContext,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        # httpx offers no parameter for a network backend: the transport is built as usual
        # (cheaply: the SSL context is ready), then its pool is replaced by one with ours.
        super().__init__(verify=ssl_context, http1=http1, http2=http2, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=http1,
            http2=http2,
            network_backend=PinningBackend(vet),
        )
        self._max_response_bytes = max_response_bytes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in HTTP_SCHEMES:
            raise EgressDenied(
                host=request.url.host or "(no host)",
                address=None,
                rule=f"scheme {request.url.scheme!r} is not http or https",
            )
        response = await super().handle_async_request(request)
        response.extensions = {**response.extensions, LIMIT_EXTENSION: self._max_response_bytes}
        return response


def pinned_client(
    *,
    vet: Vet,
    max_response_bytes: int,
    timeout: httpx.Timeout,
    follow_redirects: bool,
    verify: ssl.SSLContext | bool,
    **kwargs: Any,
) -> httpx.AsyncClient:
    trust_env = bool(kwargs.pop("trust_env", True))
    cert = kwargs.pop("cert", None)
    ssl_context = (
        verify
        if isinstance(verify, ssl.SSLContext) and cert is None
        else httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
    )
    transport_options = {
        key: kwargs.pop(key) for key in ("http1", "http2", "limits") if key in kwargs
    }
    transport = PinnedTransport(
        vet=vet,
        max_response_bytes=max_response_bytes,
        ssl_context=ssl_context,
        **typing.cast(dict[str, Any], transport_options),
    )
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=follow_redirects,
        transport=transport,
        trust_env=trust_env,
        **kwargs,
    )
