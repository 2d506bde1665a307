"""The backing services' answers about single customers, shared by every request this
gateway process serves (entity caching, as a federation router does it).

Front ends ask for the same customers again and again (a customer's page polled, a team's
worklist opened by every member), and every answer costs a batch RPC to each of ingest,
scoring and playbook. An entry is a customer (by id or external id, with its newest
interactions), its relationship (now, never `asOf`), or its playbook view.

How fresh an answer is:
- Every change to a customer's interactions, relationship or violations changes its
  relationship in scoring, and scoring's relationship feed says which customer changed
  when. While the gateway follows that feed (`gateway.events.EventRelay`, about once a
  second), a changed customer's entries go stale, and for `settle` seconds after a
  change its playbook view is fresh only `settling` seconds: the playbook judges the same
  interactions a moment after scoring may have (ingest wrote them before delivering them,
  so the customer and its newest interactions are final once scoring has applied them).
  A view that says it has judged as many interactions as the change counts (the playbook's
  `judged_interactions`, scoring's `interaction_count`) has judged the change, and is kept
  as any entry.
  A change that brought no new interaction (the relationship counts as many as the one kept
  here: a violation the playbook found, a stage moved by time) leaves the customer and its
  newest interactions, and does not settle: the playbook had judged it before scoring heard.
  An entry then lives at most `ttl` seconds.
- A stale entry is still answered for `stale` seconds, and `on_stale` is told each time
  (the gateway's `loaders.Refresher` fetches it again in the background): a request is not
  held up by a change, and the next one finds the fresh answer (stale-while-revalidate).
- While the feed is not followed (scoring unreachable, the relay stopped), an entry lives
  `unwatched_ttl` seconds: an answer is then at most that much older than the services'.
- A change made through this gateway (recording an interaction, publishing a playbook,
  configuring relationship types) forgets what it touches at once, and what it forgot is
  never answered stale: a front end reads its own writes.
- With Redis, all of this reaches every replica (one replica reads the feed).
- A customer that is not found is never kept: it may be created the next moment.
- Entries are timed from the moment their RPC was sent, not from when the answer came.

What the feed does not carry is a customer's own details changing without an interaction
(a Segment `identify` renaming it, say): that shows within `ttl`.

Entries are the services' protobuf messages, shared by requests: nothing may change them.
The cache holds at most `max_entries`, the oldest going first; `ttl` 0 turns it off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from prometheus_client import Counter
from redis.asyncio import Redis

from relint.cache import database_channel

log = logging.getLogger(__name__)

LOOKUPS = Counter(
    "relint_gateway_entity_cache_lookups_total",
    "Entity cache lookups by kind and result (hit, stale: served while fetched again, miss).",
    ["kind", "result"],
)
FORGOTTEN = Counter(
    "relint_gateway_entity_cache_forgotten_customers_total",
    "Customers whose entries were forgotten because they changed.",
)
# After a change, how long a customer's playbook view may still be judged again, and how
# long a view asked for in that time is kept: briefly, so that a customer asked for many
# times a second costs the playbook a call every so often rather than every time.
SETTLE_SECONDS: Final = 5.0
SETTLING_SECONDS: Final = 0.5
# How long an answer made stale by a change in the feed may still be served while it is
# fetched again in the background (stale-while-revalidate).
STALE_SECONDS: Final = 2.0
_CHANNEL: Final = "gateway:forget"


class Kind(StrEnum):
    CUSTOMER = "customer"  # key (customer id, newest interactions asked)
    EXTERNAL = "external"  # key (external id, newest interactions asked)
    RELATIONSHIP = "relationship"  # key customer id
    PLAYBOOK = "playbook"  # key customer id


_HITS: Final = {kind: LOOKUPS.labels(kind.value, "hit") for kind in Kind}
_STALE: Final = {kind: LOOKUPS.labels(kind.value, "stale") for kind in Kind}
_MISSES: Final = {kind: LOOKUPS.labels(kind.value, "miss") for kind in Kind}


@dataclass(frozen=True, slots=True)
class _Entry:
    value: object
    customer_id: str
    asked_at: float
    # A relationship's count of the customer's interactions, or the count a playbook view
    # has judged (None for other kinds, or not known).
    interactions: int | None = None


# A customer never forgotten: no change, no count.
_NEVER: Final[tuple[float, int | None]] = (-1.0, None)

# The kinds a change without new interactions makes stale: scoring's view and what the
# playbook proposes from it.
_VIEWS: Final = (Kind.RELATIONSHIP, Kind.PLAYBOOK)


class EntityCache:
    def __init__(
        self,
        ttl_seconds: float,
        unwatched_ttl_seconds: float | None = None,
        max_entries: int = 20_000,
        settle_seconds: float = SETTLE_SECONDS,
        settling_seconds: float = SETTLING_SECONDS,
        stale_seconds: float = STALE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl_seconds
        # Without a feed of changes to follow, entries live `ttl` (None) or less.
        self.unwatched_ttl = min(
            ttl_seconds if unwatched_ttl_seconds is None else unwatched_ttl_seconds, ttl_seconds
        )
        self.settle = settle_seconds
        self.settling = settling_seconds
        self.stale = stale_seconds
        # Told of each stale answer served (tenant, kind, key): fetches it again.
        self.on_stale: Callable[[str, Kind, Hashable], None] | None = None
        self._max = max_entries
        self._clock = clock
        self._entries: dict[tuple[str, Kind, Hashable], _Entry] = {}
        # Until when changes are known to reach this cache (see `watch`).
        self._watched_until = float("-inf")
        # Entries asked for before these moments are stale (though they may have been
        # stored after them); a customer's playbook view until `settle` after it.
        # With each: the count of interactions the change brought it to, if known.
        self._customers_forgotten: dict[tuple[str, str], tuple[float, int | None]] = {}
        # Changes not known from the feed (made through the graph, or of unknown extent):
        # entries asked for before them are never served, not even while fetched again.
        self._customers_dropped: dict[tuple[str, str], float] = {}
        # Changes without new interactions: only the relationship and playbook view asked
        # for before them are stale, and nothing settles (see `forget_customer`).
        self._views_forgotten: dict[tuple[str, str], float] = {}
        self._tenants_forgotten: dict[str, float] = {}
        self._next_drop = float("-inf")

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def now(self) -> float:
        """The moment to pass to `put` for an answer asked for now."""
        return self._clock()

    def watch(self, seconds: float) -> None:
        """Changes are known to reach this cache for the next `seconds`: entries may live
        `ttl`, not only `unwatched_ttl`."""
        self._watched_until = max(self._watched_until, self._clock() + seconds)

    @property
    def watched(self) -> bool:
        return self._clock() < self._watched_until

    def get(self, tenant_id: str, kind: Kind, key: Hashable) -> object | None:
        if not self.enabled:
            return None
        entry = self._entries.get((tenant_id, kind, key))
        if entry is not None:
            now = self._clock()
            ttl = self.ttl if now < self._watched_until else self.unwatched_ttl
            customer = (tenant_id, entry.customer_id)
            changed, changed_to = self._customers_forgotten.get(customer, _NEVER)
            # When the entry became stale, if it has: it is then served `stale` seconds more
            # while it is fetched again (`on_stale`), and then no more.
            stale_since: float | None = None
            if entry.asked_at <= changed:
                stale_since = changed
            elif (
                kind is Kind.PLAYBOOK
                and entry.asked_at <= changed + self.settle
                and (entry.interactions is None or entry.interactions != changed_to)
                and now - entry.asked_at >= self.settling
            ):
                # The playbook may judge a change after scoring has: a view asked for then,
                # unless it has judged as many interactions as the change counts, is fresh
                # `settling` seconds.
                stale_since = entry.asked_at + self.settling
            if kind in _VIEWS:
                quiet = self._views_forgotten.get(customer, -1.0)
                if entry.asked_at <= quiet:
                    stale_since = quiet if stale_since is None else max(stale_since, quiet)
            if (
                now - entry.asked_at >= ttl
                or entry.asked_at <= self._tenants_forgotten.get(tenant_id, -1.0)
                or entry.asked_at <= self._customers_dropped.get(customer, -1.0)
                or (stale_since is not None and now >= stale_since + self.stale)
            ):
                del self._entries[(tenant_id, kind, key)]
                entry = None
            elif stale_since is not None:
                _STALE[kind].inc()
                if self.on_stale is not None:
                    self.on_stale(tenant_id, kind, key)
                return entry.value
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
        interactions: int | None = None,
    ) -> None:
        """Keeps `value`; a relationship with its count of the customer's `interactions`, a
        playbook view with the count it has judged."""
        if not self.enabled:
            return
        entries = self._entries
        entries.pop((tenant_id, kind, key), None)
        if len(entries) >= self._max:
            del entries[next(iter(entries))]
        entries[(tenant_id, kind, key)] = _Entry(value, customer_id, asked_at, interactions)

    def forget_customer(
        self, tenant_id: str, customer_id: str, interactions: int | None = None
    ) -> None:
        """Its entries are stale, and so is its playbook view asked for while it settles.
        Told by scoring's feed (with a count of `interactions`), they are answered while
        fetched again (see `stale_seconds`); without a count (a change through the graph, of
        unknown extent), they are not answered at all.

        A change whose relationship counts as many `interactions` as the relationship kept
        here brought no new interaction (a violation the playbook had found, a stage moved
        by time): the customer and its newest interactions still stand, the playbook has
        judged everything already (it found the violation before scoring heard of it), and
        only the relationship and the playbook view built on it are stale. Without a kept
        relationship to compare with (one asked for since its last change), every entry is."""
        now = self._clock()
        customer = (tenant_id, customer_id)
        kept = self._entries.get((tenant_id, Kind.RELATIONSHIP, customer_id))
        if (
            interactions is not None
            and kept is not None
            and kept.interactions == interactions
            and kept.asked_at
            > max(
                self._customers_forgotten.get(customer, _NEVER)[0],
                self._views_forgotten.get(customer, -1.0),
                self._tenants_forgotten.get(tenant_id, -1.0),
            )
        ):
            self._views_forgotten[customer] = now
        else:
            self._customers_forgotten[customer] = (now, interactions)
            if interactions is None:
                self._customers_dropped[customer] = now
        FORGOTTEN.inc()
        if now >= self._next_drop:  # once a lifetime: a busy tenant changes thousands a second
            self._drop_old_forgettings(now)
            self._next_drop = now + self.ttl

    def forget_tenant(self, tenant_id: str) -> None:
        self._tenants_forgotten[tenant_id] = self._clock()

    def forget_everything(self) -> None:
        self._entries.clear()

    def _drop_old_forgettings(self, now: float) -> None:
        # An entry asked for more than ttl ago is gone anyway: its forgetting can go too,
        # once it has settled.
        horizon = now - self.ttl - self.settle
        self._customers_forgotten = {
            k: change for k, change in self._customers_forgotten.items() if change[0] > horizon
        }
        self._customers_dropped = {
            k: at for k, at in self._customers_dropped.items() if at > horizon
        }
        self._views_forgotten = {k: at for k, at in self._views_forgotten.items() if at > horizon}


# A customer that changed: tenant, customer, and its relationship's count of interactions
# (None: not known, every entry of the customer is stale).
Change = tuple[str, str, int | None]


class Forgetting:
    """Forgets in this process's cache and, with Redis, in every replica's."""

    def __init__(
        self, cache: EntityCache, redis: Redis | None = None, channel: str | None = None
    ) -> None:
        self.cache = cache
        self._redis = redis
        self._task: asyncio.Task[None] | None = None
        # The channel names the database: another deployment's heartbeats on the same
        # server would mark this one's caches as followed.
        self.channel = channel or database_channel(redis, _CHANNEL)
        # Its own messages come back on the channel; it has applied them already (again,
        # a change without new interactions would forget everything: the relationship it
        # compares with is stale by then).
        self._identity = uuid.uuid4().hex

    async def customer(self, tenant_id: str, customer_id: str) -> None:
        await self.changed([(tenant_id, customer_id, None)])

    async def tenant(self, tenant_id: str) -> None:
        self.cache.forget_tenant(tenant_id)
        await self._publish({"tenants": [tenant_id]})

    async def changed(self, customers: Sequence[Change], watched_for: float | None = None) -> None:
        """These customers changed (with their relationship's count of interactions, when the
        change came from scoring's feed); with `watched_for`, every change is known to reach
        the caches for that long (the feed's reader says so at each pass, even without any)."""
        for tenant_id, customer_id, interactions in customers:
            self.cache.forget_customer(tenant_id, customer_id, interactions)
        if watched_for is not None:
            self.cache.watch(watched_for)
        await self._publish({"customers": list(customers), "watched_for": watched_for})

    async def _publish(self, message: dict[str, object]) -> None:
        if self._redis is None or not self.cache.enabled:
            return
        try:
            await self._redis.publish(self.channel, json.dumps(message | {"from": self._identity}))
        except Exception:  # the change itself is made; other replicas' entries expire
            log.warning("could not tell the other gateways to forget", exc_info=True)

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
                await pubsub.subscribe(self.channel)
                try:
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._apply(bytes(message["data"]))
                finally:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            except asyncio.CancelledError:
                raise
            except Exception:
                # Lost Redis: what this replica missed meanwhile could be anything.
                log.warning("lost the gateways' forgetting channel; retrying", exc_info=True)
                self.cache.forget_everything()
                await asyncio.sleep(1.0)

    def _apply(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            if message.get("from") == self._identity:
                return
            for tenant_id in message.get("tenants", []):
                self.cache.forget_tenant(str(tenant_id))
            for tenant_id, customer_id, *count in message.get("customers", []):
                # Without a count (a replica of an earlier release): every entry is stale.
                interactions = count[0] if count else None
                self.cache.forget_customer(
                    str(tenant_id),
                    str(customer_id),
                    None if interactions is None else int(interactions),
                )
            if message.get("watched_for") is not None:
                self.cache.watch(float(message["watched_for"]))
        except (ValueError, TypeError, AttributeError):
            log.warning("ignored a malformed forgetting message: %r", data[:200])
