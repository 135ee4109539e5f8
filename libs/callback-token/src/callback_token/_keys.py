from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


class KeyRingError(ValueError):
    """The key-ring configuration is unusable (bad syntax, duplicate or short key)."""


MIN_SECRET_BYTES = 16
# Permission bits a key file must not have: any access by its group or by others.
_SHARED_BITS = stat.S_IRWXG | stat.S_IRWXO


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

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """Read the key ring from a file only its owner may read (the CALLBACK_KEYS_FILE).

        The file holds the CALLBACK_KEYS format; pairs may also be on separate lines. A
        file that its group or others can read or write is refused, naming its path and
        mode: the key lets whoever reads it forge callback tokens. The mode is checked on
        the opened file, so a swap between the check and the read is not possible.
        """
        try:
            # Non-blocking: a FIFO in its place must fail the check, not hang the start-up.
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            raise KeyRingError(f"{path} cannot be read ({err.strerror})") from None
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                raise KeyRingError(f"{path} is not a regular file")
            if info.st_mode & _SHARED_BITS:
                mode = stat.S_IMODE(info.st_mode)
                raise KeyRingError(
                    f"{path} has mode {mode:04o}: it must be readable by its owner only "
                    f"(chmod 600 {path})"
                )
            with os.fdopen(os.dup(descriptor), "rb") as handle:
                raw = handle.read()
        finally:
            os.close(descriptor)
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise KeyRingError(f"{path} is not UTF-8 text") from None
        try:
            return cls.parse(",".join(text.splitlines()))
        except KeyRingError as err:
            raise KeyRingError(f"{path}: {err}") from None

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


def load_key_ring(*, keys: str, keys_file: Path | None) -> KeyRing:
    """The key ring a service is configured with: ``CALLBACK_KEYS`` (inline) or
    ``CALLBACK_KEYS_FILE`` (a file only its owner can read), exactly one of them.

    A file keeps the key out of the process environment, which child processes inherit
    and which other code in the process can read.
    """
    if keys and keys_file is not None:
        raise KeyRingError("set CALLBACK_KEYS or CALLBACK_KEYS_FILE, not both")
    if keys_file is not None:
        return KeyRing.from_file(keys_file)
    if not keys:
        raise KeyRingError(
            "required: set CALLBACK_KEYS_FILE (a file only its owner can read, holding "
            "'key_id:secret,...') or CALLBACK_KEYS ('key_id:secret,...')"
        )
    return KeyRing.parse(keys)
