from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from devstack._private import CHILD_UMASK, open_private

logger = logging.getLogger(__name__)


_PR_SET_PDEATHSIG = 1

# Runs first in the child and execs the real program: asks for SIGTERM when the supervisor
# dies (so nothing is orphaned), and gives up if it already has. Doing this in a launcher
# instead of a ``preexec_fn`` lets Python spawn with vfork: a fork() of a supervisor whose
# gRPC threads are busy (the test suite's clients, its OTLP receiver) can abort the child
# in gRPC's fork handlers before it ever execs.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "if sys.platform == 'linux':\n"
    f"    ctypes.CDLL(None, use_errno=True).prctl({_PR_SET_PDEATHSIG}, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def _launched(argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *argv]


async def http_ready(url: str) -> bool:
    """Whether ``url`` answers a GET with a success status (a readiness probe)."""

    def get() -> None:
        with urllib.request.urlopen(url, timeout=10):
            pass

    try:
        await asyncio.to_thread(get)
    except OSError:
        return False
    return True


class StartupError(RuntimeError):
    """A process of the stack did not come up; the message ends with its last log lines."""


class ServiceProcess:
    """One child process with its log file, stopped the way a container would be."""

    def __init__(
        self, *, name: str, argv: Sequence[str], env: Mapping[str, str], log_file: Path
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_file = log_file
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        self._log = open_private(self.log_file)
        self._process = await asyncio.create_subprocess_exec(
            *_launched(self.argv),
            env={**os.environ, **self.env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches only the supervisor
            umask=CHILD_UMASK,  # what the process creates is its user's only
        )
        logger.info("started %s (pid %d), log: %s", self.name, self._process.pid, self.log_file)

    def raise_if_exited(self) -> None:
        if self._process is not None and self._process.returncode is not None:
            raise StartupError(
                f"{self.name} exited with code {self._process.returncode}\n{self.tail()}"
            )

    async def wait_until(
        self, ready: Callable[[], Awaitable[bool]], *, what: str, within: float
    ) -> None:
        """Poll ``ready`` until it says yes. Fails at once when the process exits, or after
        ``within`` seconds; either message ends with the process's last log lines."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            self.raise_if_exited()
            if await ready():
                return
            if loop.time() > deadline:
                raise StartupError(f"{what} not ready after {within:.0f}s\n{self.tail()}")
            await asyncio.sleep(0.2)

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self, *, grace: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds. Returns the exit code."""
        process = self._process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                logger.warning("%s ignored SIGTERM for %.0fs: killing it", self.name, grace)
                await self.kill()
        self._close_log()
        return process.returncode

    async def kill(self) -> None:
        """SIGKILL with no chance to clean up: what a crash looks like."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
