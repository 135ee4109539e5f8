"""The CallHttp activity behind ``call: http``.

A response outside the accepted range (2xx, or 2xx-3xx with ``redirect: true``)
fails the activity with the DSL ``communication`` error carrying the status code,
non-retryable: retrying is the workflow's business (``try`` / ``catch.retry``).
A request that never got a response is a retryable ``communication`` error with
status 503.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio import activity

from zigflow.dsl.errors import COMMUNICATION, DslError

logger = logging.getLogger(__name__)

CALL_HTTP_ACTIVITY = "CallHttp"
OUTPUT_FORMATS = frozenset({"content", "response", "raw"})


@dataclass
class HttpRequest:
    """A ``call: http`` task after its expressions were evaluated."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    output: str = "content"
    redirect: bool = False
    instance: str = ""


def _content(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except json.JSONDecodeError:
            return response.text
    return response.text


def shape_output(request: HttpRequest, response: httpx.Response) -> Any:
    """The task output in the requested format (the spec's ``with.output``)."""
    if request.output == "raw":
        return base64.b64encode(response.content).decode("ascii")
    content = _content(response)
    if request.output == "response":
        return {
            "request": {"method": request.method.upper(), "uri": str(response.request.url)},
            "statusCode": response.status_code,
            "headers": dict(response.headers),
            "content": content,
        }
    return content


def _body_arguments(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if isinstance(body, str | bytes):
        return {"content": body}
    return {"json": body}


@activity.defn(name=CALL_HTTP_ACTIVITY)
async def call_http(request: HttpRequest) -> Any:
    highest = 399 if request.redirect else 299
    try:
        async with httpx.AsyncClient(follow_redirects=False, timeout=30.0) as http:
            response = await http.request(
                request.method.upper(),
                request.url,
                headers=request.headers,
                params=request.query,
                **_body_arguments(request.body),
            )
    except httpx.HTTPError as err:
        logger.warning("%s %s failed: %s", request.method.upper(), request.url, err)
        raise DslError(
            type=COMMUNICATION,
            status=503,
            title="Service unreachable",
            detail=f"{request.method.upper()} {request.url}: {type(err).__name__}: {err}",
            instance=request.instance,
        ).to_failure(non_retryable=False) from None
    if not 200 <= response.status_code <= highest:
        raise DslError(
            type=COMMUNICATION,
            status=response.status_code,
            title=response.reason_phrase or f"HTTP {response.status_code}",
            detail=f"{request.method.upper()} {request.url} answered {response.status_code}: "
            f"{response.text[:500]}",
            instance=request.instance,
        ).to_failure()
    return shape_output(request, response)
