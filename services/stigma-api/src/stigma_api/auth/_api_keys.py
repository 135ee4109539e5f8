"""Static API keys for small setups: ``name:tenant:roles:key`` entries.

A key may be given as ``sha256:<64 hex digits>`` (the digest of the key), so the server's
file need not hold the secret itself. Presented keys are hashed and compared with every
configured digest in constant time, whatever matches; no key is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from stigma_api.auth._principal import Entry, EntryError, Mechanism, Principal, parse_entries

MIN_KEY_CHARS = 16
MAX_KEY_CHARS = 512
_DIGEST = re.compile(r"^sha256:([0-9a-fA-F]{64})$")


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def digest_entry(name: str, tenant: str, roles: str, key: str) -> str:
    """An entry that holds the digest of ``key`` rather than the key (what devstack writes)."""
    return f"{name}:{tenant}:{roles}:sha256:{key_digest(key).hex()}"


class ApiKeys:
    """Maps a presented API key to its principal."""

    def __init__(self, entries: list[tuple[bytes, Principal]]) -> None:
        seen: set[bytes] = set()
        for digest, principal in entries:
            if digest in seen:
                raise EntryError(f"the API key of {principal.name!r} is configured twice")
            seen.add(digest)
        self._entries = entries

    @classmethod
    def parse(cls, text: str, *, source: str, from_file: bool = False) -> ApiKeys:
        entries = parse_entries(
            text, source=source, mechanism=Mechanism.API_KEY, from_file=from_file
        )
        return cls([_digest_of(entry) for entry in entries])

    def merged(self, other: ApiKeys) -> ApiKeys:
        return ApiKeys([*self._entries, *other._entries])

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> Principal | None:
        """The principal of ``key``, or None. Every digest is compared (no early exit)."""
        if not key or len(key) > MAX_KEY_CHARS:
            return None
        presented = key_digest(key)
        found: Principal | None = None
        for digest, principal in self._entries:
            if hmac.compare_digest(digest, presented):
                found = principal
        return found


def _digest_of(entry: Entry) -> tuple[bytes, Principal]:
    match = _DIGEST.match(entry.secret)
    if match:
        return bytes.fromhex(match.group(1)), entry.principal
    if not MIN_KEY_CHARS <= len(entry.secret) <= MAX_KEY_CHARS or any(
        ch.isspace() for ch in entry.secret
    ):
        raise EntryError(
            f"{entry.where}: the key of {entry.principal.name!r} must be {MIN_KEY_CHARS} to "
            f"{MAX_KEY_CHARS} characters without spaces (or sha256:<64 hex digits>)"
        )
    return key_digest(entry.secret), entry.principal
