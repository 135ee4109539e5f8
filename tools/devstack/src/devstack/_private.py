"""The local stack's state is private to the user who runs it.

The state folder holds the callback signing key, API keys, the logs and Temporal's SQLite
database (which holds every pending task token): folders are 0700, files 0600, whatever
the umask, and files an older version left readable are made private again at start-up.
The processes the stack starts get umask 077, so what they create (the database and its
WAL) is private too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
CHILD_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    path.chmod(PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Make an existing ``path`` 0600 (no-op when it does not exist)."""
    if path.exists():
        path.chmod(PRIVATE_FILE)
    return path


def open_private(path: Path, *, append: bool = True) -> IO[bytes]:
    """Open ``path`` for writing (appending by default), created 0600 or made 0600, in a
    private folder."""
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    descriptor = os.open(path, flags, PRIVATE_FILE)
    os.fchmod(descriptor, PRIVATE_FILE)
    return os.fdopen(descriptor, "ab" if append else "wb")


def write_private(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text``, the file 0600."""
    with open_private(path, append=False) as file:
        file.write(text.encode())
