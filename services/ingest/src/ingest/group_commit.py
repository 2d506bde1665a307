"""Group commit: concurrent single-interaction writes of one tenant share a transaction.

A POST of one interaction costs a transaction (a handful of statements and a commit) if it
goes alone. Under load, requests that arrive while a write is in flight wait for the next
one and go together, so throughput grows with concurrency while an idle service adds no
delay: the first request is written at once. Each request still gets its own answer
(accepted, duplicate or rejected), and a failed write fails exactly the requests in it —
nothing of them was stored, and they may retry.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from ingest.schemas import InteractionIn, ItemResult
from relint.telemetry import current_traceparent

Flush = Callable[
    [str, Sequence[tuple[int, InteractionIn]], Mapping[int, str]], Awaitable[list[ItemResult]]
]


@dataclass
class _Waiting:
    item: InteractionIn
    traceparent: str
    answer: asyncio.Future[ItemResult]


class GroupCommit:
    def __init__(self, flush: Flush, *, max_items: int = 250, max_writers: int = 4) -> None:
        self._flush = flush
        self._max_items = max_items
        self._max_writers = max_writers
        self._queues: dict[str, list[_Waiting]] = defaultdict(list)
        self._writers: dict[str, int] = defaultdict(int)
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, tenant_id: str, item: InteractionIn) -> ItemResult:
        """Writes one interaction, possibly together with others; its own answer."""
        waiting = _Waiting(item, current_traceparent(), asyncio.get_running_loop().create_future())
        self._queues[tenant_id].append(waiting)
        if self._writers[tenant_id] < self._max_writers:
            self._writers[tenant_id] += 1
            task = asyncio.create_task(self._write(tenant_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        result = await waiting.answer
        return result.model_copy(update={"index": 0})

    async def _write(self, tenant_id: str) -> None:
        queue = self._queues[tenant_id]
        try:
            while queue:
                group = queue[: self._max_items]
                del queue[: self._max_items]
                items = [(n, w.item) for n, w in enumerate(group)]
                traceparents = {n: w.traceparent for n, w in enumerate(group)}
                try:
                    results = await self._flush(tenant_id, items, traceparents)
                except Exception as error:  # each request of the group answers with it
                    for waiting in group:
                        if not waiting.answer.done():
                            waiting.answer.set_exception(error)
                    continue
                for result in results:
                    if not group[result.index].answer.done():
                        group[result.index].answer.set_result(result)
        finally:
            self._writers[tenant_id] -= 1
            if not self._writers[tenant_id] and not queue:
                del self._writers[tenant_id], self._queues[tenant_id]
