"""The values behind ``$secrets``, read once when the worker starts.

A document declares the secrets it uses (``use.secrets: [github]``) and sees only those.
Each is looked up, in order:

1. ``ZIGFLOW_SECRETS_DIR/<name>``: a file (its text, without one trailing newline), or
   a folder whose files become a map (``$secrets.github.token``). This is how a
   Kubernetes Secret or a Docker secret is mounted; hidden entries (``..data``) are skipped.
2. The environment variable ``ZIGFLOW_SECRET_<NAME>`` (the name in upper case).

Values never reach a log or an error message of this module: only names do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECRET_ENV_PREFIX = "ZIGFLOW_SECRET_"


class MissingSecretError(LookupError):
    """A declared secret the worker cannot provide; the message names it, never a value."""


def secret_env_name(name: str) -> str:
    return SECRET_ENV_PREFIX + name.upper()


@dataclass(frozen=True)
class SecretSource:
    """Where the worker's secrets come from (``ZIGFLOW_SECRETS_DIR`` and the environment)."""

    directory: Path | None
    """The secrets folder, or None to use the environment only."""
    environ: Mapping[str, str] = field(repr=False)
    """The ``ZIGFLOW_SECRET_*`` variables, as the worker took them out of its environment
    at start-up (zigflow.environment; other entries are ignored)."""

    def read(self, name: str) -> Any:
        """The value of secret ``name``; :class:`MissingSecretError` when neither source has it."""
        if self.directory is not None:
            path = self.directory / name
            try:
                if path.is_dir():
                    return {
                        entry.name: _text(entry)
                        for entry in sorted(path.iterdir())
                        if not entry.name.startswith(".") and entry.is_file()
                    }
                if path.is_file():
                    return _text(path)
            except OSError as err:
                raise MissingSecretError(
                    f"secret {name!r}: {path} cannot be read ({err.strerror})"
                ) from None
        env_name = secret_env_name(name)
        if env_name in self.environ:
            return self.environ[env_name]
        where = f"no file {self.directory / name}, " if self.directory is not None else ""
        raise MissingSecretError(f"secret {name!r} is not provided ({where}no {env_name})")

    def resolve(self, names: Iterable[str]) -> dict[str, Any]:
        """The values of ``names``; the first missing one raises :class:`MissingSecretError`."""
        return {name: self.read(name) for name in names}


def _text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return text.removesuffix("\n").removesuffix("\r")
