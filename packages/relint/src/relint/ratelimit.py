"""Rate limits per caller: a fixed window in Redis when configured (shared by replicas),
in process memory otherwise (the embedded default runs one process per service)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class RateLimiter:
    def __init__(self, limit: int, window_seconds: int = 60, redis: Redis | None = None) -> None:
        self.limit = limit
        self.window = window_seconds
        self._redis = redis
        self._counts: dict[tuple[str, int], int] = {}

    async def hit(self, caller: str, cost: int = 1) -> Decision:
        window = int(time.time()) // self.window
        retry_after = self.window - int(time.time()) % self.window
        if self._redis is not None:
            key = f"relint:ratelimit:{caller}:{window}"
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incrby(key, cost)
                pipe.expire(key, self.window + 1)
                count = int((await pipe.execute())[0])
        else:
            for stale in [k for k in self._counts if k[1] < window]:
                del self._counts[stale]
            count = self._counts.get((caller, window), 0) + cost
            self._counts[(caller, window)] = count
        return Decision(count <= self.limit, self.limit, max(self.limit - count, 0), retry_after)
