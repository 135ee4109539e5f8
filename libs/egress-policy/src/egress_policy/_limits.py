from __future__ import annotations

import httpx

from egress_policy._errors import ResponseTooLarge

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
# Set by EgressPolicy.async_client's transport on every response: the policy's limit.
LIMIT_EXTENSION = "egress_policy.max_response_bytes"
_IDENTITY = ("", "identity")


def response_limit(response: httpx.Response) -> int:
    """The limit of the policy whose client made ``response``, else the default."""
    limit = response.extensions.get(LIMIT_EXTENSION, DEFAULT_MAX_RESPONSE_BYTES)
    return int(limit)


async def read_limited(response: httpx.Response, limit: int | None = None) -> bytes:
    """Read a streamed response's body (decoded, as ``response.content`` would be), up to
    ``limit`` bytes: by default the limit of the policy whose ``async_client`` made the
    response (``DEFAULT_MAX_RESPONSE_BYTES`` for another client's).

    Memory stays bounded: a Content-Length above the limit is refused before reading
    anything (for an uncompressed body), and reading stops at the first chunk that passes
    the limit; the response is closed then. A compressed chunk may decode to more than the
    network chunk (gzip: up to about a thousand times), so the peak is the limit plus one
    decoded chunk.

    Raises:
        ResponseTooLarge: naming the limit and how much was read (or announced).
        ValueError: a limit that is not positive.
    """
    if limit is None:
        limit = response_limit(response)
    if limit <= 0:
        raise ValueError(f"limit must be positive, not {limit}")
    announced = _content_length(response)
    if announced is not None and announced > limit:
        await response.aclose()
        raise ResponseTooLarge(limit=limit, read=0, announced=announced)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        if len(body) + len(chunk) > limit:
            read = len(body) + len(chunk)
            await response.aclose()
            raise ResponseTooLarge(limit=limit, read=read)
        body += chunk
    return bytes(body)


def _content_length(response: httpx.Response) -> int | None:
    """The announced length of an uncompressed body (a compressed one decodes to more)."""
    if response.headers.get("content-encoding", "").strip().lower() not in _IDENTITY:
        return None
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None
