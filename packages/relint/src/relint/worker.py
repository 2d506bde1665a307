"""The shape of every service's background worker: one task, started with the service and
cancelled with it, that sleeps until woken or until its own timeout."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod


class BackgroundWorker(ABC):
    name = "worker"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """There is work: the next sleep ends now."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sleep(self, seconds: float) -> None:
        """Waits `seconds`, or less if woken; a wake before the sleep counts once."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    @abstractmethod
    async def _run(self) -> None: ...
