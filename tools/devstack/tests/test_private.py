"""The local stack's state is its user's only: folders 0700, files 0600, whatever the umask,
and the processes it starts create private files too."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack._private import open_private, private_dir, private_file, write_private
from devstack._processes import ServiceProcess
from devstack._stack import callback_keys_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The worst case: a umask that lets everyone read what is created."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_folders_and_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    state = private_dir(tmp_path / "state" / "logs")
    assert _mode(state) == 0o700
    with open_private(state / "x.log") as log:
        log.write(b"line\n")
    write_private(tmp_path / "state" / "devstack.pid", "42")
    assert _mode(state / "x.log") == 0o600
    assert _mode(tmp_path / "state" / "devstack.pid") == 0o600
    assert (state / "x.log").read_bytes() == b"line\n"


def test_what_an_older_version_left_readable_is_made_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    keys = state / "callback-keys"
    keys.write_text("local:" + "k" * 40)
    keys.chmod(0o644)
    database = state / "temporal.db"
    database.write_bytes(b"")
    database.chmod(0o644)

    assert callback_keys_file(state) == keys
    private_file(database)
    assert (_mode(state), _mode(keys), _mode(database)) == (0o700, 0o600, 0o600)
    assert keys.read_text() == "local:" + "k" * 40  # the key itself is kept


@pytest.mark.usefixtures("permissive_umask")
def test_a_new_state_folder_gets_a_private_key(tmp_path: Path) -> None:
    keys = callback_keys_file(tmp_path / "fresh")
    assert _mode(tmp_path / "fresh") == 0o700
    assert _mode(keys) == 0o600
    assert keys.read_text().startswith("local:")


@pytest.mark.usefixtures("permissive_umask")
async def test_a_started_process_creates_private_files(tmp_path: Path) -> None:
    created = tmp_path / "made-by-the-child"
    process = ServiceProcess(
        name="child",
        argv=[sys.executable, "-c", f"open({str(created)!r}, 'w').write('x')"],
        env={},
        log_file=tmp_path / "logs" / "child.log",
    )
    await process.start()
    for _ in range(200):
        if not process.running:
            break
        await asyncio.sleep(0.05)
    assert await process.stop() == 0
    assert _mode(created) == 0o600
    assert _mode(tmp_path / "logs" / "child.log") == 0o600
    assert _mode(tmp_path / "logs") == 0o700
