"""Live events for GraphQL subscriptions: alerts raised and relationships changed.

Scoring raises alerts and owns relationships, the playbook raises alerts of its own; the
gateway reads their three feeds (scoring's `ListAlertFeed` and `ListRelationshipFeed`, the
playbook's `ListAlertFeed`, from the moment the gateway started) and publishes each event on
its tenant's channel;
subscriptions listen to their own tenant's channel only. On the embedded default the
channels are in process. In production, with Redis, every gateway replica listens on Redis
pub/sub and one replica at a time (holding a short Redis lease) reads the feeds and
publishes, so each event is published once.

The feeds are read only while some socket listens, so an idle gateway costs them nothing;
with the entity cache on, the relationship feed is read always, one call a second, to tell
the caches which customers changed (`gateway.entity_cache`).
A feed is read again a few seconds back each time (`LOOKBACK`), because a transaction that
committed late can carry an earlier timestamp than one already read; what was published
already is recognised by its key and not published twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol

from redis.asyncio import Redis

from gateway.backends import AlertMessage
from gateway.entity_cache import Change, Forgetting
from relint.cache import database_channel
from relint.contracts.playbook.v1 import playbook_pb2
from relint.contracts.scoring.v1 import scoring_pb2
from relint.worker import BackgroundWorker

log = logging.getLogger(__name__)

# A slow subscriber loses its oldest events rather than holding the others up.
QUEUE_SIZE: Final = 100
LOOKBACK: Final = timedelta(seconds=5)
_CHANNEL: Final = "gateway:events"
_LEASE_KEY: Final = "gateway:feed-reader"
_LEASE_SECONDS: Final = 10


class Topic(StrEnum):
    ALERTS = "alerts"
    RELATIONSHIPS = "relationships"


class Broker(Protocol):
    async def publish(self, topic: Topic, tenant_id: str, payload: bytes) -> None: ...

    async def has_listeners(self) -> bool: ...

    def listen(self, topic: Topic, tenant_id: str) -> AsyncIterator[bytes]: ...


class InProcessBroker:
    """Channels within one process: the embedded default's single gateway."""

    def __init__(self) -> None:
        self._queues: dict[tuple[Topic, str], set[asyncio.Queue[bytes]]] = {}

    async def has_listeners(self) -> bool:
        return any(self._queues.values())

    async def publish(self, topic: Topic, tenant_id: str, payload: bytes) -> None:
        for queue in self._queues.get((topic, tenant_id), set()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(payload)

    async def listen(self, topic: Topic, tenant_id: str) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        listeners = self._queues.setdefault((topic, tenant_id), set())
        listeners.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            listeners.discard(queue)


class RedisBroker:
    """Redis pub/sub: every replica hears every event of the tenants its clients follow."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        # Channels named after the database (`gateway:events:<db>:<topic>:<tenant>`):
        # PUBSUB is server-wide, and another deployment on the same server must neither
        # hear these events nor count as listening.
        self._prefix = database_channel(redis, _CHANNEL) + ":"

    async def has_listeners(self) -> bool:
        """Whether any replica's socket follows any tenant."""
        return bool(await self._redis.pubsub_channels(self._prefix + "*"))

    async def publish(self, topic: Topic, tenant_id: str, payload: bytes) -> None:
        await self._redis.publish(f"{self._prefix}{topic}:{tenant_id}", payload)

    async def listen(self, topic: Topic, tenant_id: str) -> AsyncIterator[bytes]:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(f"{self._prefix}{topic}:{tenant_id}")
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield bytes(message["data"])
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]


class FeedSource(Protocol):
    async def alert_feed(
        self, since: datetime, after_id: str, limit: int
    ) -> list[scoring_pb2.Alert]: ...

    async def playbook_alert_feed(
        self, since: datetime, after_id: str, limit: int
    ) -> list[playbook_pb2.Alert]: ...

    async def relationship_feed(
        self, since: datetime, after: tuple[str, str], limit: int
    ) -> list[scoring_pb2.Relationship]: ...


@dataclass
class Feed:
    """One feed read page by page from a moment, each event published once by its key."""

    name: str  # whose feed, for the log: "scoring's alerts"
    topic: Topic
    # Reads a page: (since, the last page's final event or None, limit) -> events.
    read: Callable[[datetime, object | None, int], Awaitable[Sequence[object]]]
    moment: Callable[[object], datetime]
    key: Callable[[object], str]
    tenant: Callable[[object], str]
    since: datetime
    published: dict[str, datetime]

    async def pass_once(
        self, deliver: Callable[[Topic, object], Awaitable[None]], page: int
    ) -> int:
        """Delivers what is new since `since` - LOOKBACK; returns how many it delivered."""
        start = self.since - LOOKBACK
        last: object | None = None
        count = 0
        while True:
            found = await self.read(start, last, page)
            for event in found:
                key, moment = self.key(event), self.moment(event)
                if key in self.published:
                    continue
                self.published[key] = moment
                self.since = max(self.since, moment)
                await deliver(self.topic, event)
                count += 1
            if len(found) < page:
                break
            last = found[-1]
            start = self.moment(last)
        horizon = self.since - LOOKBACK
        for key in [k for k, at in self.published.items() if at < horizon]:
            del self.published[key]
        return count


class FeedsUnavailable(Exception):
    """Some feeds could not be read this pass (the others were)."""

    def __init__(self, failed: dict[str, Exception]) -> None:
        super().__init__(
            "could not read " + "; ".join(f"{name} ({error!r})" for name, error in failed.items())
        )
        self.failed = failed


# On the alerts channel, a byte names the service that raised the alert, then its message.
_FROM_PLAYBOOK: Final = b"p"
_FROM_SCORING: Final = b"s"


def encode_alert(alert: AlertMessage) -> bytes:
    tag = _FROM_PLAYBOOK if isinstance(alert, playbook_pb2.Alert) else _FROM_SCORING
    return tag + alert.SerializeToString()


def decode_alert(payload: bytes) -> AlertMessage:
    if payload[:1] == _FROM_PLAYBOOK:
        return playbook_pb2.Alert.FromString(payload[1:])
    return scoring_pb2.Alert.FromString(payload[1:])


def _serialize(event: object) -> bytes:
    if isinstance(event, scoring_pb2.Alert | playbook_pb2.Alert):
        return encode_alert(event)
    assert isinstance(event, scoring_pb2.Relationship)
    return event.SerializeToString()


def _alert_feed(
    name: str,
    read_page: Callable[[datetime, str, int], Awaitable[Sequence[AlertMessage]]],
    since: datetime,
) -> Feed:
    """Scoring's or the playbook's alerts, in (raised_at, id) order."""

    def read(start: datetime, last: object | None, limit: int) -> Awaitable[Sequence[object]]:
        after = last.id if isinstance(last, scoring_pb2.Alert | playbook_pb2.Alert) else ""
        return read_page(start, after, limit)

    def moment(event: object) -> datetime:
        assert isinstance(event, scoring_pb2.Alert | playbook_pb2.Alert)
        return event.raised_at.ToDatetime(tzinfo=UTC)

    def key(event: object) -> str:
        assert isinstance(event, scoring_pb2.Alert | playbook_pb2.Alert)
        return event.id

    return Feed(name, Topic.ALERTS, read, moment, key, _tenant, since, {})


def _relationship_feed(source: FeedSource, since: datetime) -> Feed:
    def read(start: datetime, last: object | None, limit: int) -> Awaitable[Sequence[object]]:
        after = (
            (last.tenant_id, last.customer_id)
            if isinstance(last, scoring_pb2.Relationship)
            else ("", "")
        )
        return source.relationship_feed(start, after, limit)

    def moment(event: object) -> datetime:
        assert isinstance(event, scoring_pb2.Relationship)
        return event.updated_at.ToDatetime(tzinfo=UTC)

    def key(event: object) -> str:
        assert isinstance(event, scoring_pb2.Relationship)
        return f"{event.tenant_id}/{event.customer_id}@{event.updated_at.ToJsonString()}"

    return Feed(
        "scoring's relationships", Topic.RELATIONSHIPS, read, moment, key, _tenant, since, {}
    )


def _tenant(event: object) -> str:
    assert isinstance(event, scoring_pb2.Alert | playbook_pb2.Alert | scoring_pb2.Relationship)
    return event.tenant_id


class EventRelay(BackgroundWorker):
    """Reads scoring's and the playbook's feeds from the moment it started and publishes
    each event once; and, for the entity cache, tells it which customers' relationships
    changed."""

    name = "gateway-event-relay"

    def __init__(
        self,
        source: FeedSource,
        broker: Broker,
        *,
        redis: Redis | None = None,
        forgetting: Forgetting | None = None,
        poll_seconds: float = 1.0,
        page: int = 500,
    ) -> None:
        super().__init__()
        self.broker = broker
        self.redis = redis
        self.forgetting = forgetting
        self.poll_seconds = poll_seconds
        self.page = page
        now = datetime.now(UTC)
        self.feeds = (
            _alert_feed("scoring's alerts", source.alert_feed, now),
            _alert_feed("the playbook's alerts", source.playbook_alert_feed, now),
            _relationship_feed(source, now),
        )
        self._identity = str(uuid.uuid4())

    async def relay_once(self) -> int:
        """Publishes every event since the last pass; returns how many."""
        return await self._pass(listening=True, watching=False)

    async def _pass(self, *, listening: bool, watching: bool) -> int:
        """Reads the feeds someone needs: both for listening sockets, the relationships for
        the entity cache. A feed nobody needs is not read, and starts from now once it is."""
        changed: list[Change] = []

        async def deliver(topic: Topic, event: object) -> None:
            if listening:
                await self.broker.publish(topic, _tenant(event), _serialize(event))
            if watching and isinstance(event, scoring_pb2.Relationship):
                changed.append((event.tenant_id, event.customer_id, event.interaction_count))

        delivered = 0
        now = datetime.now(UTC)
        failed: dict[str, Exception] = {}
        for feed in self.feeds:
            if listening or (watching and feed.topic is Topic.RELATIONSHIPS):
                try:
                    delivered += await feed.pass_once(deliver, self.page)
                except Exception as error:  # one service away holds up only its own feed,
                    failed[feed.name] = error  # which the next pass reads from where it was
            else:
                feed.since, feed.published = now, {}
        if watching and self.forgetting is not None:
            # Until the pass after next is due, changes are known to reach the caches.
            await self.forgetting.changed(changed, watched_for=3 * self.poll_seconds)
        if failed:
            raise FeedsUnavailable(failed)
        return delivered

    async def _leads(self) -> bool:
        """Whether this replica reads the feeds now (always, without Redis)."""
        if self.redis is None:
            return True
        if await self.redis.set(_LEASE_KEY, self._identity, nx=True, ex=_LEASE_SECONDS):
            return True
        if (await self.redis.get(_LEASE_KEY)) == self._identity.encode():
            await self.redis.expire(_LEASE_KEY, _LEASE_SECONDS)
            return True
        return False

    async def step(self) -> int:
        """One pass of the reading replica (holding the lease)."""
        leads = await self._leads()
        listening = leads and await self.broker.has_listeners()
        watching = leads and self.forgetting is not None and self.forgetting.cache.enabled
        return await self._pass(listening=listening, watching=watching)

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.step()
            except Exception as error:  # scoring or Redis away: log once, wait, go on
                if not failing:
                    log.warning("event relay pass failed; retrying quietly", exc_info=True)
                else:
                    log.debug("event relay pass failed again: %s", error)
                failing = True
            else:
                if failing:
                    log.info("event relay passes again")
                failing = False
            await self.sleep(self.poll_seconds)
