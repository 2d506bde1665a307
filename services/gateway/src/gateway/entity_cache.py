"""The backing services' answers about single customers, kept for a few seconds and shared by
every request this gateway process serves (entity caching, as a federation router does it).

Front ends ask for the same customers again and again (a customer's page polled, a team's
worklist opened by every member), and every answer costs a batch RPC to each of ingest,
scoring and playbook. An entry is a customer (by id or external id, with its newest
interactions), its relationship (now, never `asOf`), or its playbook view.

How fresh an answer is:
- an entry lives `ttl` seconds from the moment its RPC was sent, so an answer is at most
  that much older than the services' own (which already trail ingest by the delivery lag);
- a change made through this gateway (recording an interaction, publishing a playbook,
  configuring relationship types) forgets what it touches at once, on every replica when
  they share Redis, so a front end reads its own writes;
- a customer that is not found is never kept: it may be created the next moment.

Entries are the services' protobuf messages, shared by requests: nothing may change them.
The cache holds at most `max_entries`, the oldest going first; `ttl` 0 turns it off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from prometheus_client import Counter
from redis.asyncio import Redis

log = logging.getLogger(__name__)

LOOKUPS = Counter(
    "relint_gateway_entity_cache_lookups_total",
    "Entity cache lookups by kind and result (hit, miss).",
    ["kind", "result"],
)
_CHANNEL: Final = "gateway:forget"
_SEPARATOR: Final = "\x1f"


class Kind(StrEnum):
    CUSTOMER = "customer"  # key (customer id, newest interactions asked)
    EXTERNAL = "external"  # key (external id, newest interactions asked)
    RELATIONSHIP = "relationship"  # key customer id
    PLAYBOOK = "playbook"  # key customer id


_HITS: Final = {kind: LOOKUPS.labels(kind.value, "hit") for kind in Kind}
_MISSES: Final = {kind: LOOKUPS.labels(kind.value, "miss") for kind in Kind}


@dataclass(frozen=True, slots=True)
class _Entry:
    value: object
    customer_id: str
    asked_at: float


class EntityCache:
    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: dict[tuple[str, Kind, Hashable], _Entry] = {}
        # When a customer's or a tenant's entries were last forgotten: an entry asked for
        # before that moment is stale, though it may have been stored after it.
        self._customers_forgotten: dict[tuple[str, str], float] = {}
        self._tenants_forgotten: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def now(self) -> float:
        """The moment to pass to `put` for an answer asked for now."""
        return self._clock()

    def get(self, tenant_id: str, kind: Kind, key: Hashable) -> object | None:
        if not self.enabled:
            return None
        entry = self._entries.get((tenant_id, kind, key))
        if entry is not None and (
            self._clock() - entry.asked_at >= self.ttl
            or entry.asked_at <= self._tenants_forgotten.get(tenant_id, -1.0)
            or entry.asked_at <= self._customers_forgotten.get((tenant_id, entry.customer_id), -1.0)
        ):
            del self._entries[(tenant_id, kind, key)]
            entry = None
        if entry is None:
            _MISSES[kind].inc()
            return None
        _HITS[kind].inc()
        return entry.value

    def put(
        self,
        tenant_id: str,
        kind: Kind,
        key: Hashable,
        value: object,
        customer_id: str,
        asked_at: float,
    ) -> None:
        if not self.enabled:
            return
        entries = self._entries
        entries.pop((tenant_id, kind, key), None)
        if len(entries) >= self._max:
            del entries[next(iter(entries))]
        entries[(tenant_id, kind, key)] = _Entry(value, customer_id, asked_at)

    def forget_customer(self, tenant_id: str, customer_id: str) -> None:
        self._customers_forgotten[(tenant_id, customer_id)] = self._clock()
        if len(self._customers_forgotten) > self._max:
            self._drop_old_forgettings()

    def forget_tenant(self, tenant_id: str) -> None:
        self._tenants_forgotten[tenant_id] = self._clock()

    def forget_everything(self) -> None:
        self._entries.clear()

    def _drop_old_forgettings(self) -> None:
        # An entry asked for more than ttl ago is gone anyway: its forgetting can go too.
        horizon = self._clock() - self.ttl
        self._customers_forgotten = {
            k: at for k, at in self._customers_forgotten.items() if at > horizon
        }


class Forgetting:
    """Forgets in this process's cache and, with Redis, in every replica's."""

    def __init__(self, cache: EntityCache, redis: Redis | None = None) -> None:
        self.cache = cache
        self._redis = redis
        self._task: asyncio.Task[None] | None = None

    async def customer(self, tenant_id: str, customer_id: str) -> None:
        self.cache.forget_customer(tenant_id, customer_id)
        await self._publish(f"{tenant_id}{_SEPARATOR}{customer_id}")

    async def tenant(self, tenant_id: str) -> None:
        self.cache.forget_tenant(tenant_id)
        await self._publish(tenant_id)

    async def _publish(self, message: str) -> None:
        if self._redis is None or not self.cache.enabled:
            return
        try:
            await self._redis.publish(_CHANNEL, message)
        except Exception:  # the change itself is made; other replicas expire the entry
            log.warning("could not tell the other gateways to forget %r", message, exc_info=True)

    def start(self) -> None:
        if self._redis is not None and self.cache.enabled:
            self._task = asyncio.create_task(self._listen(self._redis), name="cache-forgetting")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _listen(self, redis: Redis) -> None:
        while True:
            try:
                pubsub = redis.pubsub()
                await pubsub.subscribe(_CHANNEL)
                try:
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._apply(bytes(message["data"]).decode())
                finally:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            except asyncio.CancelledError:
                raise
            except Exception:
                # Lost Redis: what this replica missed meanwhile could be anything.
                log.warning("lost the gateways' forgetting channel; retrying", exc_info=True)
                self.cache.forget_everything()
                await asyncio.sleep(1.0)

    def _apply(self, message: str) -> None:
        tenant_id, _, customer_id = message.partition(_SEPARATOR)
        if customer_id:
            self.cache.forget_customer(tenant_id, customer_id)
        else:
            self.cache.forget_tenant(tenant_id)
