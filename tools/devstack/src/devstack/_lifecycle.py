from __future__ import annotations

from types import TracebackType
from typing import Self


class Startable:
    """``start()``/``stop()`` as an async context manager, for every part of a stack.

    A start that fails half-way stops what it had started, so a test or a demo that
    never reaches its body leaves no process or container behind.
    """

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
