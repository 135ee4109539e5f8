"""How a client proves who it is to stigma-api: an API key or a bearer JWT in the call's
metadata (a TLS client certificate is the channel's business, not this module's).

The header names are part of the wire contract: stigma-api reads exactly these.
Secrets come from files (a mounted secret, a projected service-account token) and are
re-read now and then, so a rotated key or a refreshed token is picked up without a
restart. Nothing here logs or repeats a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

API_KEY_HEADER = "x-api-key"
"""Metadata key of a static API key."""
AUTHORIZATION_HEADER = "authorization"
"""Metadata key of a bearer token: ``Bearer <JWT>``."""
BEARER_PREFIX = "Bearer "
REREAD_AFTER_S = 30.0
"""How long a secret read from a file is used before the file is read again."""


class CredentialsError(ValueError):
    """Client credentials that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class CallerCredentials:
    """What a client of stigma-api presents (besides a TLS client certificate).

    At most one of the three may be set. ``names`` is the prefix of the settings they came
    from (``ZIGFLOW_STIGMA_``), so that an error names the variable to fix.
    """

    api_key: str = field(default="", repr=False)
    """A static API key, given inline (prefer a file: an environment is easy to leak)."""
    api_key_file: str = ""
    """A file holding the API key (a mounted secret); re-read every 30 s."""
    jwt_file: str = ""
    """A file holding a JWT (a projected service-account token); re-read every 30 s."""
    names: str = ""
    """Prefix of the settings these came from, for error messages."""

    @property
    def on(self) -> bool:
        return bool(self.api_key or self.api_key_file or self.jwt_file)

    def check(self) -> None:
        """Fail fast: at most one credential, and a file that can be read and is not empty."""
        given = [
            name
            for name, value in (
                ("API_KEY", self.api_key),
                ("API_KEY_FILE", self.api_key_file),
                ("JWT_FILE", self.jwt_file),
            )
            if value
        ]
        if len(given) > 1:
            raise CredentialsError(
                f"{' and '.join(self.names + n for n in given)}: set only one credential"
            )
        for name, path in (("API_KEY_FILE", self.api_key_file), ("JWT_FILE", self.jwt_file)):
            if path:
                _read_secret(f"{self.names}{name}", Path(path))


def _read_secret(variable: str, path: Path) -> str:
    try:
        value = path.read_text().strip()
    except OSError as err:
        raise CredentialsError(f"{variable}: cannot read {str(path)!r}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise CredentialsError(f"{variable}: {str(path)!r} is not text") from None
    if not value or any(ch.isspace() for ch in value):
        raise CredentialsError(f"{variable}: {str(path)!r} must hold one value on one line")
    return value


class _Secret:
    """The header value to send, re-read from its file after REREAD_AFTER_S."""

    def __init__(self, credentials: CallerCredentials) -> None:
        credentials.check()
        self._variable = ""
        self._path: Path | None = None
        self._prefix = ""
        if credentials.jwt_file:
            self.header, self._prefix = AUTHORIZATION_HEADER, BEARER_PREFIX
            self._variable, self._path = credentials.names + "JWT_FILE", Path(credentials.jwt_file)
        else:
            self.header = API_KEY_HEADER
            if credentials.api_key_file:
                self._variable = credentials.names + "API_KEY_FILE"
                self._path = Path(credentials.api_key_file)
        self._value = (
            _read_secret(self._variable, self._path)
            if self._path is not None
            else credentials.api_key
        )
        self._read_at = time.monotonic()
        self._lock = asyncio.Lock()

    def now(self) -> str:
        return self._prefix + self._value

    async def current(self) -> str:
        if self._path is None or time.monotonic() - self._read_at < REREAD_AFTER_S:
            return self.now()
        async with self._lock:
            if time.monotonic() - self._read_at >= REREAD_AFTER_S:
                # On a failed read the last good value stays; the server says if it is stale.
                with contextlib.suppress(CredentialsError):
                    self._value = await asyncio.to_thread(_read_secret, self._variable, self._path)
                self._read_at = time.monotonic()
        return self.now()


def _with_header(details: grpc.aio.ClientCallDetails, header: str, value: str) -> Any:
    metadata = [(key, val) for key, val in (details.metadata or ()) if key.lower() != header]
    metadata.append((header, value))
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=grpc.aio.Metadata(*metadata),
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class _Adds:
    def __init__(self, secret: _Secret) -> None:
        self._secret = secret

    async def _details(self, details: grpc.aio.ClientCallDetails) -> Any:
        return _with_header(details, self._secret.header, await self._secret.current())


class _UnaryUnary(_Adds, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(
        self, continuation: Callable[..., Awaitable[Any]], details: Any, request: Any
    ) -> Any:
        return await continuation(await self._details(details), request)


class _UnaryStream(_Adds, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(
        self, continuation: Callable[..., Awaitable[Any]], details: Any, request: Any
    ) -> Any:
        return await continuation(await self._details(details), request)


class _StreamUnary(_Adds, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_unary(
        self, continuation: Callable[..., Awaitable[Any]], details: Any, requests: Any
    ) -> Any:
        return await continuation(await self._details(details), requests)


class _StreamStream(_Adds, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(
        self,
        continuation: Callable[..., Awaitable[Any]],
        details: Any,
        requests: AsyncIterator[Any],
    ) -> Any:
        return await continuation(await self._details(details), requests)


def credential_interceptors(credentials: CallerCredentials) -> list[Any]:
    """grpc.aio client interceptors that add the credential to every call (none when
    ``credentials`` is empty). Raises CredentialsError naming the setting to fix."""
    if not credentials.on:
        return []
    secret = _Secret(credentials)
    return [_UnaryUnary(secret), _UnaryStream(secret), _StreamUnary(secret), _StreamStream(secret)]


def credential_metadata(credentials: CallerCredentials) -> tuple[tuple[str, str], ...]:
    """The credential as call metadata, read now: for a synchronous channel or one call."""
    if not credentials.on:
        return ()
    secret = _Secret(credentials)
    return ((secret.header, secret.now()),)
