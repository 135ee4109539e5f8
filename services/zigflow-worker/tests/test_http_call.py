"""The CallHttp activity against a local server: the egress policy, the response limit,
the timeout that follows the task's, and the endpoint's query string kept."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from egress_policy import EgressPolicy
from zigflow.dsl.errors import COMMUNICATION, TIMEOUT, VALIDATION
from zigflow.http_call import HttpCallActivities, HttpRequest, exchange_budget

# The test server listens on loopback, which the default policy refuses.
LOOPBACK = EgressPolicy.parse(allow="127.0.0.1/32")


@dataclass
class Server:
    """A one-request-per-connection HTTP server on 127.0.0.1 that answers ``body`` (or
    never answers, with ``hang``) and records each request line."""

    body: bytes = b'{"ok": true}'
    status: int = 200
    hang: bool = False
    port: int = 0
    request_lines: list[str] = field(default_factory=list)


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[Server]:
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            server.request_lines.append(head.split(b"\r\n")[0].decode())
            if server.hang:
                await asyncio.Event().wait()  # cancelled at teardown
            writer.write(
                b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (server.status, len(server.body), server.body)
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await listener.wait_closed()


def environment(start_to_close: timedelta = timedelta(seconds=5)) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=start_to_close)
    return env


async def call(policy: EgressPolicy, request: HttpRequest, **env: timedelta) -> object:
    return await environment(**env).run(HttpCallActivities(policy=policy).call_http, request)


async def failure_of(
    policy: EgressPolicy, request: HttpRequest, **env: timedelta
) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await call(policy, request, **env)
    return caught.value


async def test_the_endpoints_query_string_is_merged_with_query() -> None:
    async with serving(Server()) as server:
        request = HttpRequest(
            method="get",
            url=f"http://127.0.0.1:{server.port}/items?a=1&b=2",
            query={"b": "3", "c": "x y"},
        )
        assert await call(LOOPBACK, request) == {"ok": True}
    assert server.request_lines == ["GET /items?a=1&b=3&c=x+y HTTP/1.1"]


async def test_loopback_is_refused_without_an_allow_rule() -> None:
    async with serving(Server()) as server:
        url = f"http://user:pw@127.0.0.1:{server.port}/admin?token=s3cret"
        failure = await failure_of(EgressPolicy(), HttpRequest("get", url, instance="/do/0/get"))
    error = failure.details[0]
    assert (failure.type, failure.non_retryable) == (COMMUNICATION, True)
    assert (error["status"], error["instance"]) == (403, "/do/0/get")
    assert error["detail"].startswith(
        f"GET http://127.0.0.1:{server.port}/admin: egress to 127.0.0.1 (127.0.0.1) refused: "
        "127.0.0.1 is in 127.0.0.0/8 (loopback)"
    )
    assert "ZIGFLOW_EGRESS_ALLOW" in error["detail"]
    assert "s3cret" not in error["detail"]
    assert "pw@" not in error["detail"]
    assert server.request_lines == []


async def test_a_response_over_the_limit_is_a_non_retryable_502() -> None:
    tiny = EgressPolicy.parse(allow="127.0.0.1/32", max_response_bytes=8)
    async with serving(Server(body=b'{"much": "more than eight bytes"}')) as server:
        failure = await failure_of(tiny, HttpRequest("get", f"http://127.0.0.1:{server.port}/"))
    error = failure.details[0]
    assert (failure.type, failure.non_retryable) == (COMMUNICATION, True)
    assert (error["status"], error["title"]) == (502, "Response too large")
    assert "over the limit of 8 bytes: Content-Length announces 33 bytes" in error["detail"]


async def test_the_timeout_follows_the_tasks() -> None:
    loop = asyncio.get_running_loop()
    async with serving(Server(hang=True)) as server:
        started = loop.time()
        failure = await failure_of(
            LOOPBACK,
            HttpRequest("get", f"http://127.0.0.1:{server.port}/slow?k=v"),
            start_to_close=timedelta(seconds=2),
        )
        elapsed = loop.time() - started
    error = failure.details[0]
    assert (failure.type, failure.non_retryable) == (TIMEOUT, False)
    assert error["status"] == 408
    assert error["detail"] == (
        f"GET http://127.0.0.1:{server.port}/slow: no complete response within 1s "
        "(the task's timeout less 1s)"
    )
    assert 1.0 <= elapsed < 2.0


def test_the_budget_without_a_task_timeout_is_the_default_less_a_second() -> None:
    assert exchange_budget(None) == 59.0
    assert exchange_budget(timedelta(seconds=30)) == 29.0
    assert exchange_budget(timedelta(milliseconds=500)) == 1.0


async def test_a_status_error_names_the_url_without_its_query() -> None:
    async with serving(Server(status=404, body=b"no such item")) as server:
        url = f"http://127.0.0.1:{server.port}/items/9?key=s3cret"
        failure = await failure_of(LOOPBACK, HttpRequest("get", url))
    assert failure.details[0]["detail"] == (
        f"GET http://127.0.0.1:{server.port}/items/9 answered 404: no such item"
    )


async def test_an_endpoint_that_is_no_url_is_a_validation_error() -> None:
    failure = await failure_of(
        LOOPBACK, HttpRequest("get", "http://api:notaport/", instance="/do/1/x")
    )
    assert (failure.type, failure.non_retryable) == (VALIDATION, True)
    assert failure.details[0]["instance"] == "/do/1/x/with/endpoint"
    assert "Invalid port: 'notaport'" in failure.details[0]["detail"]
