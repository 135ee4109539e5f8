"""The JSON Web Key Set bearer tokens are checked against, from a file or a URL.

Keys are cached. A set older than ``refresh`` is re-read in the background (callers keep
using the old keys meanwhile), and a token naming a key id the set lacks triggers one
re-read at once, at most every ``min_interval``: a rotated signing key is picked up
within a request, and a flood of made-up key ids costs one fetch per interval. Fetching
never blocks the event loop (httpx's async client; a file is read in a thread). A failed
re-read keeps the keys already loaded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

logger = logging.getLogger(__name__)

MAX_JWKS_BYTES = 1024 * 1024
FETCH_TIMEOUT_S = 5.0


class JwksError(RuntimeError):
    """The key set cannot be read or holds no usable signing key."""


class JwksSource(Protocol):
    description: str

    async def fetch(self) -> str: ...

    async def aclose(self) -> None: ...


class FileJwks:
    def __init__(self, path: Path) -> None:
        self._path = path
        self.description = str(path)

    async def fetch(self) -> str:
        try:
            return await asyncio.to_thread(self._path.read_text)
        except (OSError, UnicodeDecodeError) as err:
            raise JwksError(f"cannot read {self.description!r}: {err}") from None

    async def aclose(self) -> None:
        return None


class UrlJwks:
    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None) -> None:
        self.description = url
        self._url = url
        self._client = client or httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=False)

    async def fetch(self) -> str:
        try:
            response = await self._client.get(self._url, headers={"accept": "application/json"})
        except httpx.HTTPError as err:
            raise JwksError(f"cannot fetch {self._url}: {err!r}") from None
        if response.status_code != 200:
            raise JwksError(f"{self._url} answered HTTP {response.status_code}")
        if len(response.content) > MAX_JWKS_BYTES:
            raise JwksError(f"{self._url} answered more than {MAX_JWKS_BYTES} bytes")
        return response.text

    async def aclose(self) -> None:
        await self._client.aclose()


def jwks_source(location: str) -> JwksSource:
    """A URL (``https://...``, or ``http://`` for a local identity provider) or a file path."""
    if location.startswith(("https://", "http://")):
        return UrlJwks(location)
    return FileJwks(Path(location))


@dataclass(frozen=True)
class SigningKey:
    key: Any
    """The public key (a ``cryptography`` object), as PyJWT verifies with it."""
    algorithm: str | None
    """The key's ``alg`` when the set declares one: a token must then use exactly it."""


def parse_jwks(text: str) -> dict[str | None, SigningKey]:
    """Signing keys by key id (None for a key without one); keys of other uses or of
    unsupported types are skipped."""
    try:
        document: Any = json.loads(text)
    except ValueError as err:
        raise JwksError(f"not JSON: {err}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError('not a JWK set (an object with a "keys" list)')
    keys: dict[str | None, SigningKey] = {}
    for data in document["keys"]:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(data)
        except jwt.PyJWTError as err:
            logger.info("JWKS key %s skipped: %s", data.get("kid"), err)
            continue
        declared = data.get("alg")
        keys[key.key_id] = SigningKey(key.key, declared if isinstance(declared, str) else None)
    if not keys:
        raise JwksError("holds no usable signing key")
    return keys


class JwksCache:
    def __init__(
        self,
        source: JwksSource,
        *,
        refresh: timedelta,
        min_interval: timedelta = timedelta(seconds=10),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._refresh = refresh.total_seconds()
        self._min_interval = min_interval.total_seconds()
        self._clock = clock
        self._keys: dict[str | None, SigningKey] = {}
        self._loaded_at = float("-inf")
        self._tried_at = float("-inf")
        self._inflight: asyncio.Task[None] | None = None

    @property
    def description(self) -> str:
        return self._source.description

    async def load(self) -> None:
        """The first read: raises JwksError (start-up fails naming the setting)."""
        self._tried_at = self._clock()
        self._keys = parse_jwks(await self._source.fetch())
        self._loaded_at = self._clock()

    async def key(self, kid: str | None) -> SigningKey | None:
        """The signing key ``kid`` names (a token without a kid: the set's only key)."""
        now = self._clock()
        if now - self._loaded_at >= self._refresh and now - self._tried_at >= self._min_interval:
            self._start_refresh()  # in the background: the current keys serve meanwhile
        found = self._find(kid)
        if found is None and self._clock() - self._tried_at >= self._min_interval:
            await asyncio.shield(self._start_refresh())
            found = self._find(kid)
        return found

    def _find(self, kid: str | None) -> SigningKey | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _start_refresh(self) -> asyncio.Task[None]:
        if self._inflight is None or self._inflight.done():
            self._tried_at = self._clock()
            self._inflight = asyncio.create_task(self._reload())
        return self._inflight

    async def _reload(self) -> None:
        try:
            keys = parse_jwks(await self._source.fetch())
        except JwksError as err:
            logger.warning(
                "JWKS %s not refreshed (the keys loaded before stay): %s",
                self._source.description,
                err,
            )
            return
        if set(keys) != set(self._keys):
            logger.info(
                "JWKS %s now has key ids %s",
                self._source.description,
                ", ".join(sorted(str(kid) for kid in keys)),
            )
        self._keys = keys
        self._loaded_at = self._clock()

    async def aclose(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
        await self._source.aclose()
