"""Scoring's worker: evaluates the stages of customers with new interactions, places each
tenant's customers on the value map after it received interactions, and once a day looks at
everyone's last days again so that silence moves stages too.

It gives way to the stream: while interactions are being applied it runs at most one pass
every `busy_seconds`, so applying keeps its speed and the stage lags by seconds at most; such
a pass leaves a tenant whose history is still arriving until its load settles or pauses
(`ScoringService.evaluate_stages`)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from relint.db import utcnow
from relint.worker import BackgroundWorker
from scoring.service import ScoringService

log = logging.getLogger(__name__)


class ScoringWorker(BackgroundWorker):
    name = "scoring-worker"

    def __init__(
        self,
        service: ScoringService,
        *,
        idle_seconds: float = 1.0,
        classify_seconds: float = 30.0,
        clock_seconds: float = 86_400.0,
        batch: int = 200,
        quiet_seconds: float = 0.2,
        busy_seconds: float = 2.0,
    ) -> None:
        super().__init__()
        self.service = service
        self.idle_seconds = idle_seconds
        self.classify_seconds = classify_seconds
        self.clock_seconds = clock_seconds
        self.batch = batch
        self.quiet_seconds = quiet_seconds
        self.busy_seconds = busy_seconds
        self._last_applied = 0.0

    def wake(self) -> None:
        """Interactions were applied: there is work, once the stream pauses."""
        self._last_applied = time.monotonic()
        super().wake()

    async def run_once(self) -> int:
        """Evaluates every dirty customer and classifies the tenants that changed; returns
        how many customers were evaluated. Tests and the backtest call it directly."""
        evaluated = 0
        while (done := await self.service.evaluate_stages(self.batch)) > 0:
            evaluated += done
        await self._classify(settled=True)
        # A fresh retention model marks everyone for a new outlook: evaluate them now.
        while (done := await self.service.evaluate_stages(self.batch)) > 0:
            evaluated += done
        return evaluated

    async def _classify(self, settled: bool = False) -> None:
        """Places each tenant with new interactions. Taken off the list before its placement
        (what arrives meanwhile puts it back); one that fails goes back on it for the next
        pass, logged, and the tenants after it are placed all the same. Then the past types
        of customers that received interactions from before the month began, for tenants
        whose stream paused (all of them when `settled`: nothing more is coming)."""
        busy = sorted(self.service.unclassified)
        for tenant_id in busy:
            self.service.unclassified.discard(tenant_id)
            try:
                await self.service.classify_tenant(tenant_id)
            except Exception:
                log.exception("placing tenant %s failed; retrying on the next pass", tenant_id)
                self.service.unclassified.add(tenant_id)
        for tenant_id in await self.service.retyping_due(() if settled else busy):
            try:
                await self.service.retype(tenant_id)
            except Exception:
                log.exception("placing tenant %s's past types failed; retrying", tenant_id)

    async def _run(self) -> None:
        last_classified = last_clock = last_pass = time.monotonic()
        while True:
            quiet = time.monotonic() - self._last_applied
            streaming = quiet < self.quiet_seconds
            if streaming and time.monotonic() - last_pass < self.busy_seconds:
                await asyncio.sleep(self.quiet_seconds - quiet)
                continue
            try:
                done = await self.service.evaluate_stages(self.batch, streaming=streaming)
                now = last_pass = time.monotonic()
                # Due is due: waiting for a pass with no stage work starved placement for
                # minutes after a load, while the playbook's violations kept marking customers.
                if now - last_classified >= self.classify_seconds:
                    await self._classify()
                    last_classified = now
                if now - last_clock >= self.clock_seconds:
                    since = utcnow() - timedelta(seconds=self.clock_seconds) - timedelta(days=7)
                    await self.service.mark_all_dirty(since)
                    last_clock = now
                if done:
                    continue
            except Exception:  # a store away: log, wait, go on; nothing is lost (dirty marks)
                log.exception("scoring worker pass failed; retrying")
            await self.sleep(self.idle_seconds)
