"""Run a double as a child process that announces its URL on stdout once it accepts connections.

Waiting on that line, rather than probing the port, is the readiness condition: the child
prints it after its server started listening, and the parent simply reads its stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

__all__ = ["READY", "ROOT", "announce", "announced_process", "stop_process"]

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: the working directory that makes `python -m tests.doubles.…` work."""
READY = "READY "


def announce(url: str) -> None:
    """Tell the parent the child is ready (the only line a double writes to stdout)."""
    sys.stdout.write(f"{READY}{url}\n")
    sys.stdout.flush()


async def stop_process(process: asyncio.subprocess.Process, *, grace: timedelta) -> None:
    """SIGTERM, then SIGKILL after `grace`; reaps the child and closes its pipes either way."""
    if process.returncode is None:
        process.terminate()
    try:
        await asyncio.wait_for(process.communicate(), grace.total_seconds())
    except TimeoutError:
        process.kill()
        await process.communicate()


@contextlib.asynccontextmanager
async def announced_process(
    args: Sequence[str],
    *,
    startup_timeout: timedelta = timedelta(seconds=20),
    stop_grace: timedelta = timedelta(seconds=5),
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Start `python ARGS` in the repository root; yield it and the URL it announced.

    Its stderr is inherited, so pytest captures the child's logs with the test's output.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        try:
            async with asyncio.timeout(startup_timeout.total_seconds()):
                line = (await process.stdout.readline()).decode()
        except TimeoutError:
            raise TimeoutError(
                f"`python {' '.join(args)}` not ready within {startup_timeout}"
            ) from None
        if not line.startswith(READY):
            raise RuntimeError(
                f"`python {' '.join(args)}` did not announce itself (exit code "
                f"{process.returncode}, stdout {line!r}); its stderr is in the test output"
            )
        yield process, line[len(READY) :].strip()
    finally:
        await stop_process(process, grace=stop_grace)
