from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


class KeyRingError(ValueError):
    """The key-ring configuration is unusable (bad syntax, duplicate or short key)."""


MIN_SECRET_BYTES = 16


@dataclass(frozen=True)
class KeyRing(Mapping[str, bytes]):
    """Signing keys by id. The first key signs; every key verifies.

    Rotation without downtime: add the new key at the end everywhere, then move it
    to the front on the signers, then drop the old one once no token signed with it
    can still be alive.
    """

    _keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Parse ``"id1:secret1,id2:secret2"`` (the CALLBACK_KEYS format)."""
        pairs: list[tuple[str, bytes]] = []
        for index, item in enumerate(part.strip() for part in spec.split(",")):
            if not item:
                continue
            key_id, sep, secret = item.partition(":")
            if not sep or not key_id or not secret:
                raise KeyRingError(f"key #{index + 1} must look like 'key_id:secret'")
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise KeyRingError(
                    f"key {key_id!r}: secret must be at least {MIN_SECRET_BYTES} bytes"
                )
            if any(existing == key_id for existing, _ in pairs):
                raise KeyRingError(f"key id {key_id!r} appears twice")
            pairs.append((key_id, secret.encode()))
        if not pairs:
            raise KeyRingError("at least one 'key_id:secret' pair is required")
        return cls(tuple(pairs))

    @property
    def signing_key_id(self) -> str:
        return self._keys[0][0]

    def __getitem__(self, key_id: str) -> bytes:
        for existing, secret in self._keys:
            if existing == key_id:
                return secret
        raise KeyError(key_id)

    def __iter__(self) -> Iterator[str]:
        return (key_id for key_id, _ in self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        # Secrets never reach a log line through repr().
        return f"KeyRing(key_ids={list(self)})"
