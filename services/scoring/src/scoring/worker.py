"""Scoring's worker: evaluates the stages of customers with new interactions as they come,
places each tenant's customers on the value map after it received interactions, and once a
day looks at everyone again so that silence moves stages too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from scoring.service import ScoringService

log = logging.getLogger(__name__)


class ScoringWorker:
    def __init__(
        self,
        service: ScoringService,
        *,
        idle_seconds: float = 1.0,
        classify_seconds: float = 30.0,
        clock_seconds: float = 86_400.0,
        batch: int = 200,
    ) -> None:
        self.service = service
        self.idle_seconds = idle_seconds
        self.classify_seconds = classify_seconds
        self.clock_seconds = clock_seconds
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scoring-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> int:
        """Evaluates every dirty customer and classifies the tenants that changed; returns
        how many customers were evaluated. Tests and the backtest call it directly."""
        evaluated = 0
        while (done := await self.service.evaluate_stages(self.batch)) > 0:
            evaluated += done
        await self._classify()
        return evaluated

    async def _classify(self) -> None:
        for tenant_id in sorted(self.service.unclassified):
            self.service.unclassified.discard(tenant_id)
            await self.service.classify_tenant(tenant_id)

    async def _run(self) -> None:
        last_classified = last_clock = time.monotonic()
        while True:
            try:
                done = await self.service.evaluate_stages(self.batch)
                now = time.monotonic()
                if now - last_classified >= self.classify_seconds and not done:
                    await self._classify()
                    last_classified = now
                if now - last_clock >= self.clock_seconds:
                    await self.service.mark_all_dirty()
                    last_clock = now
                if done:
                    continue
            except Exception:  # a store away: log, wait, go on; nothing is lost (dirty marks)
                log.exception("scoring worker pass failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
