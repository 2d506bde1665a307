"""Playbook's worker: judges customers as their interactions arrive and when a deadline
passes (the clock wakes at the earliest one), hands violations to scoring, follows scoring's
feed of new types and stages (they change what is owed) and now and then asks scoring where
every customer stands, picks the customers of programs whose period has come, reads
scoring's alert feed and sends every alert to the webhooks subscribed to it."""

from __future__ import annotations

import contextlib
import logging
import time

import httpx

from playbook.scoring_client import ScoringUnavailable
from playbook.service import PlaybookService
from relint.db import utcnow
from relint.worker import BackgroundWorker

log = logging.getLogger(__name__)

# How often the worker looks whether a program's period has come (`pick_programs`): a
# period lasts days, and a first pick waits for scoring to have placed the customers.
PROGRAMS_SECONDS = 60.0


class PlaybookWorker(BackgroundWorker):
    name = "playbook-worker"

    def __init__(
        self,
        service: PlaybookService,
        *,
        webhook_client: httpx.AsyncClient | None = None,
        idle_seconds: float = 5.0,
        standings_seconds: float = 600.0,
        batch: int = 1000,
    ) -> None:
        super().__init__()
        self.service = service
        self.webhook_client = webhook_client
        self.idle_seconds = idle_seconds
        self.standings_seconds = standings_seconds
        self.batch = batch

    async def run_once(self) -> int:
        """Judges everyone due and signals every violation; returns how many customers were
        judged. Tests and benchmarks call it directly."""
        judged = 0
        while (done := (await self.service.judge_due(self.batch)).judged) > 0:
            judged += done
        with contextlib.suppress(ScoringUnavailable):
            while await self.service.signal_violations(self.batch):
                pass
            await self.service.pull_scoring_alerts()
        if self.webhook_client is not None:
            while await self.service.send_webhooks(self.webhook_client) == 100:
                pass
        return judged

    async def _run(self) -> None:
        last_standings = time.monotonic()
        followed = last_standings - self.idle_seconds
        picked = last_standings - PROGRAMS_SECONDS
        while True:
            try:
                # Every pass when idle; at most once an idle period when deadlines keep it busy.
                if time.monotonic() - followed >= self.idle_seconds:
                    followed = time.monotonic()
                    with contextlib.suppress(ScoringUnavailable):
                        await self.service.follow_standings()
                if time.monotonic() - picked >= PROGRAMS_SECONDS:
                    picked = time.monotonic()
                    await self.service.pick_programs()
                await self.run_once()
                if time.monotonic() - last_standings >= self.standings_seconds:
                    await self.service.refresh_standings()
                    last_standings = time.monotonic()
                wait = self.idle_seconds
                next_due = await self.service.next_due_at()
                if next_due is not None:
                    wait = min(wait, max((next_due - utcnow()).total_seconds(), 0.0) + 0.001)
            except Exception:  # a store or scoring away: log, wait, go on; dirty marks stay
                log.exception("playbook worker pass failed; retrying")
                wait = self.idle_seconds
            await self.sleep(wait)
