"""The CallHttp activity behind ``call: http``, under the worker's egress policy.

Every request goes through ``EgressPolicy.async_client`` (the destination is vetted and the
connection pinned to the vetted address) and its body is read with ``read_limited``. The
outcome is a DSL error (``DslError`` carried as a Temporal ``ApplicationError``) when:

- the status is outside the accepted range (2xx, or 2xx-3xx with ``redirect: true``):
  ``communication`` with that status, non-retryable (retrying is the workflow's business,
  ``try`` / ``catch.retry``);
- the policy refuses the destination: ``communication`` 403, non-retryable, nothing sent;
- the body passes ``ZIGFLOW_MAX_RESPONSE_BYTES``: ``communication`` 502, non-retryable;
- no complete response came within the exchange's budget: ``timeout`` 408, retried by
  Temporal first, as an activity timeout would be;
- no response at all (refused, reset, a name that does not resolve): ``communication``
  503, retried by Temporal first;
- the endpoint is not a URL: ``validation`` 400.

The budget is the activity's start-to-close timeout (the task's ``timeout.after``, or
``DEFAULT_HTTP_TIMEOUT``) less ``DEADLINE_MARGIN_S``: it is each of httpx's connect, read,
write and pool timeouts and bounds the whole exchange, so the activity reports a slow server
itself instead of being cut off by Temporal. Details and logs show the URL without its
userinfo and query string (they may hold secrets).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from temporalio import activity

from egress_policy import EgressDenied, EgressPolicy, ResponseTooLarge, read_limited
from zigflow.dsl.errors import (
    COMMUNICATION,
    DslError,
    egress_refused_error,
    response_too_large_error,
    timeout_error,
    validation_error,
)

logger = logging.getLogger(__name__)

CALL_HTTP_ACTIVITY = "CallHttp"
OUTPUT_FORMATS = frozenset({"content", "response", "raw"})
DEFAULT_HTTP_TIMEOUT = timedelta(minutes=1)
"""The start-to-close timeout of a ``call: http`` task without ``timeout.after``."""
# The exchange ends this much before the activity's start-to-close timeout (at least
# MIN_BUDGET_S after it started), so a slow server is reported by the activity.
DEADLINE_MARGIN_S = 1.0
MIN_BUDGET_S = 1.0


@dataclass
class HttpRequest:
    """A ``call: http`` task after its expressions were evaluated."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    """Added to the endpoint's own query string (a key in both takes these values)."""
    body: Any = None
    output: str = "content"
    redirect: bool = False
    instance: str = ""


def request_url(request: HttpRequest) -> httpx.URL:
    """The endpoint with ``query`` merged into its query string (httpx's ``params`` would
    replace the endpoint's query string instead).

    Raises:
        httpx.InvalidURL: the endpoint is not a URL.
    """
    url = httpx.URL(request.url)
    return url.copy_merge_params(request.query) if request.query else url


def shown_url(url: httpx.URL) -> str:
    """The URL for details and logs: no userinfo, query string or fragment."""
    return str(url.copy_with(userinfo=b"", query=None, fragment=None))


def exchange_budget(start_to_close: timedelta | None) -> float:
    """Seconds the whole exchange may take (see the module docstring)."""
    total = (start_to_close or DEFAULT_HTTP_TIMEOUT).total_seconds()
    return max(total - DEADLINE_MARGIN_S, MIN_BUDGET_S)


def _content(response: httpx.Response, body: bytes) -> Any:
    if not body:
        return None
    text = body.decode(response.encoding or "utf-8", errors="replace")
    if "json" in response.headers.get("content-type", ""):
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return text
    return text


def shape_output(request: HttpRequest, response: httpx.Response, body: bytes) -> Any:
    """The task output in the requested format (the spec's ``with.output``)."""
    if request.output == "raw":
        return base64.b64encode(body).decode("ascii")
    content = _content(response, body)
    if request.output == "response":
        return {
            "request": {
                "method": request.method.upper(),
                "uri": str(response.request.url),
                "headers": _shown_headers(request.headers),
            },
            "statusCode": response.status_code,
            "headers": dict(response.headers),
            "content": content,
        }
    return content


# Request headers that carry credentials: shown as sent, but not their values.
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
REDACTED = "<redacted>"


def _shown_headers(headers: dict[str, str]) -> dict[str, str]:
    """The task's request headers for a ``response`` output, credentials redacted: the
    output is the run's data (history, logs of later tasks), not a place for a secret."""
    return {
        name: REDACTED if name.lower() in _CREDENTIAL_HEADERS else value
        for name, value in headers.items()
    }


def _body_arguments(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if isinstance(body, str | bytes):
        return {"content": body}
    return {"json": body}


class HttpCallActivities:
    """The CallHttp activity under one egress policy (the worker's settings)."""

    def __init__(self, *, policy: EgressPolicy, ssl_context: ssl.SSLContext | None = None) -> None:
        self._policy = policy
        # One TLS context for every call: building httpx's default costs tens of ms.
        self._ssl_context = ssl_context or httpx.create_ssl_context()

    @activity.defn(name=CALL_HTTP_ACTIVITY)
    async def call_http(self, request: HttpRequest) -> Any:
        """Make the request, read at most the policy's limit, return the shaped output.
        Failures are DSL errors, as the module docstring lists."""
        method = request.method.upper()
        try:
            url = request_url(request)
        except httpx.InvalidURL as err:
            detail = f"with.endpoint is not a URL: {err}"
            raise validation_error(
                detail, f"{request.instance}/with/endpoint"
            ).to_failure() from None
        shown = f"{method} {shown_url(url)}"
        budget = exchange_budget(activity.info().start_to_close_timeout)
        try:
            async with (
                asyncio.timeout(budget),
                self._policy.async_client(
                    timeout=httpx.Timeout(budget), verify=self._ssl_context
                ) as http,
                http.stream(
                    method, url, headers=request.headers, **_body_arguments(request.body)
                ) as response,
            ):
                body = await read_limited(response)
        except EgressDenied as err:
            logger.warning("%s: %s", shown, err)
            raise egress_refused_error(f"{shown}: {err}", request.instance).to_failure() from None
        except ResponseTooLarge as err:
            logger.warning("%s: %s", shown, err)
            failure = response_too_large_error(f"{shown}: {err}", request.instance)
            raise failure.to_failure() from None
        except (TimeoutError, httpx.TimeoutException):
            logger.warning("%s: no complete response within %.1fs", shown, budget)
            detail = (
                f"{shown}: no complete response within {budget:g}s "
                f"(the task's timeout less {DEADLINE_MARGIN_S:g}s)"
            )
            raise timeout_error(detail, request.instance).to_failure(non_retryable=False) from None
        except httpx.HTTPError as err:
            logger.warning("%s failed: %s", shown, err)
            raise DslError(
                type=COMMUNICATION,
                status=503,
                title="Service unreachable",
                detail=f"{shown}: {type(err).__name__}: {err}",
                instance=request.instance,
            ).to_failure(non_retryable=False) from None
        highest = 399 if request.redirect else 299
        if not 200 <= response.status_code <= highest:
            text = body[:500].decode(response.encoding or "utf-8", errors="replace")
            raise DslError(
                type=COMMUNICATION,
                status=response.status_code,
                title=response.reason_phrase or f"HTTP {response.status_code}",
                detail=f"{shown} answered {response.status_code}: {text}",
                instance=request.instance,
            ).to_failure()
        return shape_output(request, response, body)
