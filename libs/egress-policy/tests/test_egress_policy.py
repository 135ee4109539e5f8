"""EgressPolicy: check / check_host (defaults, allow and deny rules, resolution, messages),
the pinned client (real servers on 127.0.0.1, a stand-in resolver) and read_limited."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from egress_policy import EgressDenied, EgressPolicy, ResponseTooLarge, read_limited

DEFAULT = EgressPolicy()


@dataclass
class Seen:
    """One request as the server read it."""

    request_line: str
    headers: dict[str, str]
    sni: str | None


Respond = Callable[[Seen, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    port: int
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0


def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Respond:
    """A response with Content-Length (unless ``headers`` names a Transfer-Encoding)."""

    async def respond(seen: Seen, writer: asyncio.StreamWriter) -> None:
        fields = {"Content-Length": str(len(body)), **(headers or {})}
        head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()

    return respond


def chunked(chunk: bytes, *, count: int | None) -> Respond:
    """A chunked body of ``count`` chunks, or an endless one (None) until the client goes."""

    async def respond(seen: Seen, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0
        while count is None or sent < count:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            sent += 1
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    return respond


@asynccontextmanager
async def http_server(
    respond: Respond, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    """An HTTP/1.1 server on 127.0.0.1 only (a free port): one request per connection."""
    server_info = Server(port=0)
    handlers: set[asyncio.Task[Any]] = set()
    sni_names: dict[int, str | None] = {}
    if ssl_context is not None:

        def remember(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
            sni_names[id(sock)] = name

        ssl_context.sni_callback = remember

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        server_info.connections += 1
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in head[1:] if line)
            ssl_object = writer.get_extra_info("ssl_object")
            seen = Seen(head[0], headers, sni_names.get(id(ssl_object)))
            server_info.seen.append(seen)
            await respond(seen, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away (as it must when it stops reading)
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    server_info.port = server.sockets[0].getsockname()[1]
    try:
        yield server_info
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


@dataclass
class FakeResolver:
    """Answers for made-up names; the answer list is consumed one call at a time (the
    last answer repeats). IP literals go to the real resolver."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def add(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)

    def lookup(self, name: str) -> list[str]:
        self.calls.append(name)
        queue = self.answers.get(name)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: unknown to the test resolver")
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
async def resolver(monkeypatch: pytest.MonkeyPatch) -> FakeResolver:
    """Replaces the running loop's ``getaddrinfo`` (what the policy and anyio both use)."""
    fake = FakeResolver()
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    def entry(address: str, port: int) -> tuple[Any, ...]:
        if ":" in address:
            return (
                socket.AF_INET6,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, port, 0, 0),
            )
        return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
        except OSError:
            return [entry(address, int(port or 0)) for address in fake.lookup(name)]
        return await real(host, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return fake


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "2606:2800:220:1::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd12::1"],
)
async def test_the_default_allows_public_and_private_addresses(address: str) -> None:
    assert await DEFAULT.check_host(address, 443) == [address]


@pytest.mark.parametrize(
    ("address", "refused_range"),
    [
        ("127.0.0.1", "127.0.0.0/8"),
        ("127.3.2.1", "127.0.0.0/8"),
        ("::1", "::1/128"),
        ("::ffff:127.0.0.1", "127.0.0.0/8"),  # IPv4-mapped: the address it maps
        ("169.254.169.254", "169.254.0.0/16"),
        ("fe80::1", "fe80::/10"),
        ("fd00:ec2::254", "fd00:ec2::254/128"),
        ("0.0.0.0", "0.0.0.0/8"),
        ("::", "::/128"),
        ("224.0.0.1", "224.0.0.0/4"),
        ("ff02::1", "ff00::/8"),
    ],
)
async def test_the_default_refuses_local_metadata_and_multicast(
    address: str, refused_range: str
) -> None:
    with pytest.raises(EgressDenied) as caught:
        await DEFAULT.check_host(address, 80)
    assert f"is in {refused_range}" in caught.value.rule
    assert "refused by default" in str(caught.value)


@pytest.mark.parametrize(
    "name", ["localhost", "LOCALHOST.", "metadata.google.internal", "metadata"]
)
async def test_the_default_refuses_local_names_without_resolving_them(
    name: str, resolver: FakeResolver
) -> None:
    with pytest.raises(EgressDenied) as caught:
        await DEFAULT.check(f"http://{name}/computeMetadata/v1/")
    assert caught.value.address is None
    assert str(caught.value).startswith(f"egress to {name.lower().rstrip('.')} (not resolved)")
    assert resolver.calls == []


async def test_an_allow_rule_naming_a_built_in_lifts_it_and_nothing_more(
    resolver: FakeResolver,
) -> None:
    policy = EgressPolicy.parse(allow="127.0.0.1/32,localhost,0.0.0.0/0")
    assert await policy.check_host("127.0.0.1", 80) == ["127.0.0.1"]
    resolver.add("localhost", ["127.0.0.1"])
    assert await policy.check("http://localhost:8080/") == ["127.0.0.1"]
    assert await policy.check_host("8.8.8.8", 53) == ["8.8.8.8"]
    for refused in ("127.0.0.2", "169.254.169.254", "0.0.0.0"):
        with pytest.raises(EgressDenied, match="refused by default"):
            await policy.check_host(refused, 80)  # 0.0.0.0/0 names no built-in range


async def test_a_name_rule_does_not_open_the_loopback_address_it_resolves_to(
    resolver: FakeResolver,
) -> None:
    resolver.add("localhost", ["127.0.0.1"])
    with pytest.raises(EgressDenied) as caught:
        await EgressPolicy.parse(allow="localhost").check("http://localhost/")
    assert (caught.value.address, "127.0.0.1/32) lifts that" in caught.value.rule) == (
        "127.0.0.1",
        True,
    )


async def test_a_name_resolving_to_loopback_is_refused(resolver: FakeResolver) -> None:
    resolver.add("rebind.example", ["127.0.0.1"])
    with pytest.raises(EgressDenied) as caught:
        await DEFAULT.check("https://rebind.example/")
    assert (caught.value.host, caught.value.address) == ("rebind.example", "127.0.0.1")
    assert str(caught.value) == (
        "egress to rebind.example (127.0.0.1) refused: 127.0.0.1 is in 127.0.0.0/8 "
        "(loopback), refused by default; an allow rule naming it (127.0.0.1/32) lifts that"
    )


async def test_any_refused_address_refuses_the_name(resolver: FakeResolver) -> None:
    resolver.add("both.example", ["203.0.113.5", "::1"])
    with pytest.raises(EgressDenied) as caught:
        await DEFAULT.check("http://both.example/")
    assert caught.value.address == "::1"


async def test_check_returns_every_vetted_address_once(resolver: FakeResolver) -> None:
    resolver.add("api.example", ["203.0.113.5", "2001:db8::5", "203.0.113.5"])
    assert await DEFAULT.check("https://api.example/v1") == ["203.0.113.5", "2001:db8::5"]


async def test_an_allow_list_admits_only_what_it_matches(resolver: FakeResolver) -> None:
    policy = EgressPolicy.parse(allow="api.example.com,*.svc.example,10.0.0.0/8")
    resolver.add("api.example.com", ["203.0.113.5"])
    resolver.add("db.svc.example", ["203.0.113.6"])
    resolver.add("internal.example.com", ["10.4.5.6"])
    resolver.add("other.example.com", ["203.0.113.9"])
    assert await policy.check("https://api.example.com/") == ["203.0.113.5"]
    assert await policy.check("https://db.svc.example/") == ["203.0.113.6"]
    assert await policy.check("https://internal.example.com/") == ["10.4.5.6"]
    with pytest.raises(EgressDenied) as caught:
        await policy.check("https://other.example.com/")
    assert str(caught.value) == (
        "egress to other.example.com (203.0.113.9) refused: no allow rule matches it"
    )


async def test_a_wildcard_matches_names_below_it_only(resolver: FakeResolver) -> None:
    policy = EgressPolicy.parse(allow="*.example.com")
    resolver.add("a.b.example.com", ["203.0.113.5"])
    assert await policy.check("http://a.b.example.com/") == ["203.0.113.5"]
    for host in ("example.com", "badexample.com", "example.com.evil.test"):
        with pytest.raises(EgressDenied, match="no allow rule matches it"):
            await policy.check(f"http://{host}/")
    # Only host rules: a name they refuse is never even resolved (no DNS query leaks it).
    assert resolver.calls == ["a.b.example.com"]


async def test_deny_wins_over_allow(resolver: FakeResolver) -> None:
    policy = EgressPolicy.parse(
        allow="10.0.0.0/8,*.example.com", deny="10.1.0.0/16,secret.example.com"
    )
    assert await policy.check_host("10.2.0.1", 80) == ["10.2.0.1"]
    with pytest.raises(EgressDenied) as caught:
        await policy.check_host("10.1.2.3", 80)
    assert caught.value.rule == "deny rule 10.1.0.0/16"
    with pytest.raises(EgressDenied) as by_name:
        await policy.check("https://secret.example.com/")
    assert (by_name.value.rule, by_name.value.address) == ("deny rule secret.example.com", None)
    assert resolver.calls == []


async def test_private_networks_can_be_denied(resolver: FakeResolver) -> None:
    policy = EgressPolicy.parse(deny="10.0.0.0/8,172.16.0.0/12,192.168.0.0/16")
    resolver.add("db.internal", ["192.168.7.7"])
    with pytest.raises(EgressDenied, match=r"\(192.168.7.7\) refused: deny rule 192.168.0.0/16"):
        await policy.check("http://db.internal:5432/")
    assert await policy.check_host("203.0.113.1", 80) == ["203.0.113.1"]


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://h/"])
async def test_only_http_and_https(url: str) -> None:
    with pytest.raises(EgressDenied, match=r"refused: scheme '\w+' is not http or https"):
        await DEFAULT.check(url)


async def test_a_url_without_a_host_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="the URL has no host"):
        await DEFAULT.check("http:///path")


async def test_the_message_never_holds_the_query_or_userinfo(resolver: FakeResolver) -> None:
    resolver.add("rebind.example", ["127.0.0.1"])
    with pytest.raises(EgressDenied) as caught:
        await DEFAULT.check("http://admin:hunter2@rebind.example/x?token=s3cret#frag")
    message = str(caught.value)
    assert "rebind.example" in message
    assert not any(secret in message for secret in ("hunter2", "admin", "s3cret", "token"))


async def test_a_name_that_does_not_resolve_is_an_os_error(resolver: FakeResolver) -> None:
    with pytest.raises(socket.gaierror, match="unknown to the test resolver"):
        await DEFAULT.check("http://nowhere.example/")


async def test_check_host_takes_brackets_and_refuses_bad_ports() -> None:
    assert await DEFAULT.check_host("[2001:db8::1]", 50051) == ["2001:db8::1"]
    with pytest.raises(ValueError, match="port 0 is not in 1-65535"):
        await DEFAULT.check_host("203.0.113.1", 0)


def test_describe_names_the_rules() -> None:
    policy = EgressPolicy.parse(allow="127.0.0.1/32,localhost", max_response_bytes=1024)
    assert policy.describe() == (
        "allow 127.0.0.1/32, localhost; deny nothing; responses up to 1024 bytes"
    )


# --- the pinned client -------------------------------------------------------------------

LOOPBACK = EgressPolicy.parse(allow="127.0.0.1/32")
TIMEOUT = httpx.Timeout(10.0)


async def test_the_client_refuses_loopback_by_default_before_connecting() -> None:
    async with (
        http_server(reply(200, b"secret")) as server,
        DEFAULT.async_client(timeout=TIMEOUT) as http,
    ):
        with pytest.raises(EgressDenied, match=r"egress to 127.0.0.1 \(127.0.0.1\) refused"):
            await http.get(f"http://127.0.0.1:{server.port}/")
    assert server.connections == 0


async def test_the_client_refuses_a_name_resolving_to_loopback(resolver: FakeResolver) -> None:
    resolver.add("innocent.example", ["127.0.0.1"])
    async with (
        http_server(reply(200, b"secret")) as server,
        DEFAULT.async_client(timeout=TIMEOUT) as http,
    ):
        with pytest.raises(EgressDenied, match=r"innocent\.example"):
            await http.get(f"http://innocent.example:{server.port}/?key=s3cret")
    assert server.connections == 0


async def test_an_allowed_destination_is_served_with_its_host_header(
    resolver: FakeResolver,
) -> None:
    resolver.add("service.example", ["127.0.0.1"])
    async with (
        http_server(reply(200, b"hello")) as server,
        LOOPBACK.async_client(timeout=TIMEOUT) as http,
    ):
        response = await http.get(f"http://service.example:{server.port}/a?b=c")
    assert (response.status_code, response.content) == (200, b"hello")
    (seen,) = server.seen
    assert seen.request_line == "GET /a?b=c HTTP/1.1"
    assert seen.headers["Host"] == f"service.example:{server.port}"


async def test_the_connection_goes_to_the_vetted_address(resolver: FakeResolver) -> None:
    # DNS rebinding: the first answer passes the check, the next one would not. The
    # client resolves once and connects to the address it vetted.
    resolver.add("rebind.example", ["127.0.0.1"], ["169.254.169.254"])
    async with (
        http_server(reply(200, b"pinned")) as server,
        LOOPBACK.async_client(timeout=TIMEOUT) as http,
    ):
        response = await http.get(f"http://rebind.example:{server.port}/")
        assert response.content == b"pinned"
        assert resolver.calls == ["rebind.example"]
        assert server.seen[0].headers["Host"] == f"rebind.example:{server.port}"
        with pytest.raises(EgressDenied, match=r"\(169.254.169.254\)"):
            await LOOPBACK.check(f"http://rebind.example:{server.port}/")  # the second answer


async def test_a_redirect_to_a_refused_host_is_refused(resolver: FakeResolver) -> None:
    resolver.add("intranet.example", ["10.0.0.1"])
    targets = ["http://169.254.169.254/latest/meta-data/", "http://intranet.example/"]
    policy = EgressPolicy.parse(allow="127.0.0.1/32", deny="10.0.0.0/8")
    for target in targets:
        async with (
            http_server(reply(302, headers={"Location": target})) as server,
            policy.async_client(timeout=TIMEOUT, follow_redirects=True) as http,
        ):
            with pytest.raises(EgressDenied) as caught:
                await http.get(f"http://127.0.0.1:{server.port}/start")
        assert caught.value.host in target
        assert len(server.seen) == 1


async def test_an_allowed_redirect_is_followed() -> None:
    async with http_server(reply(200, b"landed")) as landing:
        location = f"http://127.0.0.1:{landing.port}/here"
        async with (
            http_server(reply(301, headers={"Location": location})) as start,
            LOOPBACK.async_client(timeout=TIMEOUT, follow_redirects=True) as http,
        ):
            response = await http.get(f"http://127.0.0.1:{start.port}/")
    assert response.content == b"landed"
    assert [seen.request_line for seen in landing.seen] == ["GET /here HTTP/1.1"]


async def test_a_name_that_does_not_resolve_is_a_connect_error(resolver: FakeResolver) -> None:
    async with DEFAULT.async_client(timeout=TIMEOUT) as http:
        with pytest.raises(httpx.ConnectError, match=r"cannot resolve nowhere\.example"):
            await http.get("http://nowhere.example/")


async def test_the_client_refuses_other_schemes() -> None:
    async with DEFAULT.async_client(timeout=TIMEOUT) as http:
        with pytest.raises(EgressDenied, match="scheme 'ftp' is not http or https"):
            await http.get("ftp://example.com/file")


def test_options_that_route_around_the_policy_are_refused() -> None:
    with pytest.raises(TypeError, match="does not take mounts, transport"):
        DEFAULT.async_client(timeout=TIMEOUT, transport=httpx.AsyncHTTPTransport(), mounts={})


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize(
    ("served_name", "ok"), [("pinned.example", True), ("other.example", False)]
)
async def test_tls_keeps_the_host_name_for_sni_and_verification(
    resolver: FakeResolver, tmp_path: Path, served_name: str, ok: bool
) -> None:
    cert, key = _certificate(tmp_path, served_name)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    resolver.add("pinned.example", ["127.0.0.1"])
    async with (
        http_server(reply(200, b"over tls"), ssl_context=server_context) as server,
        LOOPBACK.async_client(timeout=TIMEOUT, verify=client_context) as http,
    ):
        url = f"https://pinned.example:{server.port}/"
        if ok:
            assert (await http.get(url)).content == b"over tls"
            assert server.seen[0].sni == "pinned.example"
            assert server.seen[0].headers["Host"] == f"pinned.example:{server.port}"
        else:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(url)


# --- read_limited ------------------------------------------------------------------------


async def _read(respond: Respond, *, limit: int | None = None, policy: EgressPolicy) -> bytes:
    async with (
        http_server(respond) as server,
        policy.async_client(timeout=TIMEOUT) as http,
        http.stream("GET", f"http://127.0.0.1:{server.port}/") as response,
    ):
        return await read_limited(response, limit)


async def test_a_body_up_to_the_limit_is_read_whole() -> None:
    assert await _read(reply(200, b"x" * 100), limit=100, policy=LOOPBACK) == b"x" * 100
    chunks = chunked(b"y" * 10, count=10)
    assert await _read(chunks, limit=100, policy=LOOPBACK) == b"y" * 100


async def test_an_announced_length_over_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(ResponseTooLarge) as caught:
        await _read(reply(200, b"x" * 101), limit=100, policy=LOOPBACK)
    assert (caught.value.read, caught.value.announced) == (0, 101)
    assert str(caught.value) == (
        "response body over the limit of 100 bytes: Content-Length announces 101 bytes"
    )


async def test_a_body_without_length_stops_at_the_limit() -> None:
    # An endless body: only reading that stops at the limit can return.
    with pytest.raises(ResponseTooLarge) as caught:
        await _read(chunked(b"z" * 1000, count=None), limit=4500, policy=LOOPBACK)
    assert 4500 < caught.value.read <= 5500
    assert str(caught.value).startswith("response body over the limit of 4500 bytes: stopped")


async def test_the_default_limit_is_the_policys() -> None:
    small = EgressPolicy.parse(allow="127.0.0.1/32", max_response_bytes=10)
    with pytest.raises(ResponseTooLarge, match="limit of 10 bytes"):
        await _read(chunked(b"a" * 4, count=5), policy=small)
    assert await _read(chunked(b"a" * 5, count=2), policy=small) == b"a" * 10


async def test_the_limit_counts_the_decoded_body() -> None:
    bomb = gzip.compress(b"0" * 100_000)
    respond = reply(200, bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(ResponseTooLarge, match="limit of 50000 bytes"):
        await _read(respond, limit=50_000, policy=LOOPBACK)
    assert await _read(respond, limit=100_000, policy=LOOPBACK) == b"0" * 100_000
