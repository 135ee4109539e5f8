from __future__ import annotations

import asyncio
import logging
import signal

logger = logging.getLogger(__name__)


async def wait_for_shutdown() -> None:
    """Return once SIGTERM or SIGINT arrives (what a container runtime and Ctrl-C send)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        logger.info("shutdown requested")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
