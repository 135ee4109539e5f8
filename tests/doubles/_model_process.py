"""Run the model server as a child process, to kill it and bring it back as a crash would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from tests.doubles._process import announced_process
from tests.doubles._script import Script

__all__ = ["SCRIPT", "ModelServerProcess", "model_server_process"]

SCRIPT = TypeAdapter(Script)


@dataclass(frozen=True)
class ModelServerProcess:
    """A model server running as a child process (see `model_server_process`)."""

    process: asyncio.subprocess.Process
    url: str
    """`http://127.0.0.1:PORT`; the OpenAI SDK's base URL is this plus `/v1`."""
    record_path: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def recorded(self) -> list[dict[str, Any]]:
        """The requests whose responses ended, one dict per line of the record file.

        Complete once the process has exited (leave `model_server_process` first): while it runs,
        a client can hold a whole response before the server has written its line.
        """
        if not self.record_path.exists():
            return []
        lines = self.record_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]


@contextlib.asynccontextmanager
async def model_server_process(
    workdir: Path,
    *,
    script: Script | None = None,
    port: int = 0,
    startup_timeout: timedelta = timedelta(seconds=20),
) -> AsyncIterator[ModelServerProcess]:
    """Run `python -m tests.doubles.model_server` with `script`, until the block exits.

    The script and the record file go in `workdir` (a test's `tmp_path`); the record file is kept
    across restarts on the same `workdir`. Exiting terminates the process (SIGKILL after 5 s);
    `process.kill()` inside the block simulates a crash, and a new `model_server_process` with
    `port=old.port` brings it back where the client expects it.
    """
    script_path = workdir / "model-server-script.json"
    record_path = workdir / "model-server-requests.jsonl"
    script_path.write_bytes(SCRIPT.dump_json(script or Script()))
    args = ["-m", "tests.doubles.model_server", "--port", str(port), "--script", str(script_path)]
    args += ["--record", str(record_path)]
    async with announced_process(args, startup_timeout=startup_timeout) as (process, url):
        yield ModelServerProcess(process=process, url=url, record_path=record_path)
